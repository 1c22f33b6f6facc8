// Conformance against botocore: tests/botocore_sign.py signs the requests below with botocore's
// SigV4Auth (fixed credentials and time), and each test signs the same request here and compares
// the canonical request, the string to sign and the Authorization header byte for byte.
//
// Needs python3 with botocore (scripts/setup installs it). Without them the tests skip, except
// when CI=true, where they fail: CI must not pass by skipping.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "aws/sigv4.h"
#include "aws/testdata.h"

namespace quotaflow::aws {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kToken =
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQC+token/with+base64==";

struct BotocoreCase {
  std::string name = {};
  std::string method = {};
  std::string endpoint = {};  // scheme://authority; the Host header is the authority
  std::string path = {};      // as on the wire
  std::string query = {};     // as on the wire
  std::vector<HeaderField> headers = {};
  std::string body = {};
  std::string region = {};
  std::string service = {};
  std::string token = {};  // empty: long-term credentials
  std::string time = {};
};

// gtest prints this instead of the parameter's bytes (in failure messages and ctest names).
void PrintTo(const BotocoreCase& c, std::ostream* os) { *os << c.name; }

std::vector<BotocoreCase> Cases() {
  const std::string converse_body =
      R"({"messages":[{"role":"user","content":[{"text":"Summarise the attached report."}]}],)"
      R"("inferenceConfig":{"maxTokens":512,"temperature":0.2}})";
  const std::string invoke_body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":256,)"
                                  R"("messages":[{"role":"user","content":"Hello"}]})";
  return {
      {.name = "bedrock_converse_model_id_with_colon",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com",
       .path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
       .headers = {{"Content-Type", "application/json"},
                   {"User-Agent", "quotaflow/0.1 md/sigv4-test"}},
       .body = converse_body,
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250101T000000Z"},
      {.name = "bedrock_converse_inference_profile_with_session_token",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-west-2.amazonaws.com",
       .path = "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse",
       .headers = {{"Content-Type", "application/json"}},
       .body = converse_body,
       .region = "us-west-2",
       .service = "bedrock",
       .token = std::string(kToken),
       .time = "20250615T101530Z"},
      {.name = "bedrock_invoke_model_inference_profile_arn",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com",
       .path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
               "us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke",
       .headers = {{"Content-Type", "application/json"},
                   {"Accept", "application/json"},
                   {"X-Amzn-Bedrock-GuardrailIdentifier", "gr-abc123"},
                   {"X-Amzn-Bedrock-GuardrailVersion", "1"},
                   {"X-Amzn-Bedrock-Trace", "ENABLED"}},
       .body = invoke_body,
       .region = "us-east-1",
       .service = "bedrock",
       .token = std::string(kToken),
       .time = "20251231T235959Z"},
      {.name = "bedrock_converse_stream_global_profile",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.eu-west-1.amazonaws.com",
       .path = "/model/global.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream",
       .headers = {{"Content-Type", "application/json"},
                   {"X-Amzn-Trace-Id", "Root=1-65a1b2c3-0123456789abcdef01234567"}},
       .body = R"({"messages":[{"role":"user","content":[{"text":"Grüße, naïve café ✓"}]}]})",
       .region = "eu-west-1",
       .service = "bedrock",
       .time = "20260301T081500Z"},
      {.name = "bedrock_invoke_with_response_stream",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com",
       .path = "/model/amazon.nova-lite-v1%3A0/invoke-with-response-stream",
       .headers = {{"Content-Type", "application/json"},
                   {"X-Amzn-Bedrock-Accept", "application/json"}},
       .body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})",
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250704T000001Z"},
      {.name = "bedrock_list_inference_profiles_query",
       .method = "GET",
       .endpoint = "https://bedrock.us-east-1.amazonaws.com",
       .path = "/inference-profiles",
       .query = "typeEquals=SYSTEM_DEFINED&maxResults=10&nextToken=eyJhIjoxfQ%3D%3D%2Fx%2By",
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250101T000000Z"},
      {.name = "servicequotas_list_service_quotas",
       .method = "POST",
       .endpoint = "https://servicequotas.us-east-1.amazonaws.com",
       .path = "/",
       .headers = {{"X-Amz-Target", "ServiceQuotasV20190624.ListServiceQuotas"},
                   {"Content-Type", "application/x-amz-json-1.1"}},
       .body = R"({"ServiceCode": "bedrock", "MaxResults": 100})",
       .region = "us-east-1",
       .service = "servicequotas",
       .time = "20250210T134501Z"},
      {.name = "cloudwatch_get_metric_data",
       .method = "POST",
       .endpoint = "https://monitoring.us-east-1.amazonaws.com",
       .path = "/",
       .headers = {{"X-Amz-Target", "GraniteServiceVersion20100801.GetMetricData"},
                   {"Content-Type", "application/x-amz-json-1.0"},
                   {"x-amzn-query-mode", "true"}},
       .body = R"({"MetricDataQueries": [{"Id": "q1", "MetricStat": {"Metric": {"Namespace": )"
               R"("AWS/Bedrock", "MetricName": "InputTokenCount", "Dimensions": [{"Name": )"
               R"("ModelId", "Value": "us.anthropic.claude-3-7-sonnet-20250219-v1:0"}]}, )"
               R"("Period": 60, "Stat": "Sum"}}], "StartTime": 1735689600, "EndTime": )"
               R"(1735693200})",
       .region = "us-east-1",
       .service = "monitoring",
       .token = std::string(kToken),
       .time = "20250101T010000Z"},
      {.name = "emulator_endpoint_with_port_over_http",
       .method = "POST",
       .endpoint = "http://127.0.0.1:8443",
       .path = "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse",
       .headers = {{"Content-Type", "application/json"}},
       .body = converse_body,
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250101T000000Z"},
      {.name = "repeated_and_untidy_headers",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com",
       .path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
       .headers = {{"Content-Type", "application/json"},
                   {"X-Custom-Meta", "  first   value  "},
                   {"x-custom-meta", "second\tvalue"},
                   {"X-Amzn-Bedrock-Trace", "  ENABLED"}},
       .body = converse_body,
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250101T000000Z"},
      {.name = "empty_body",
       .method = "POST",
       .endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com",
       .path = "/model/amazon.titan-embed-text-v2%3A0/invoke",
       .headers = {{"Content-Type", "application/json"}},
       .region = "us-east-1",
       .service = "bedrock",
       .time = "20250101T000000Z"},
  };
}

std::string Authority(std::string_view endpoint) {
  return std::string(endpoint.substr(endpoint.find("://") + 3));
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What one run of the script gave: results by case name, or why there are none.
struct BotocoreRun {
  enum class Outcome { kOk, kUnavailable, kError } outcome = Outcome::kError;
  std::string message;  // for kUnavailable / kError
  std::string botocore_version;
  std::map<std::string, json::object> results;
};

BotocoreRun RunScript() {
  BotocoreRun run;
  const std::string script = QUOTAFLOW_SOURCE_DIR "/tests/botocore_sign.py";
  if (!fs::exists(script)) {
    run.message = "helper script " + script + " is missing";
    return run;
  }

  json::array requests;
  for (const BotocoreCase& c : Cases()) {
    json::array headers;
    for (const auto& [name, value] : c.headers) headers.push_back(json::array{name, value});
    requests.push_back(json::object{
        {"name", c.name},
        {"method", c.method},
        {"endpoint", c.endpoint},
        {"path", c.path},
        {"query", c.query},
        {"headers", std::move(headers)},
        {"body", c.body},
        {"region", c.region},
        {"service", c.service},
        {"access_key", kAccessKey},
        {"secret_key", kSecret},
        {"token", c.token},
        {"time", c.time},
    });
  }
  const fs::path dir = fs::path(::testing::TempDir());
  const std::string stem = "sigv4_botocore_" + std::to_string(::getpid());
  const fs::path input = dir / (stem + ".json");
  const fs::path errors = dir / (stem + ".stderr");
  {
    std::ofstream out(input, std::ios::binary);
    out << json::serialize(json::object{{"requests", std::move(requests)}});
  }

  const std::string command = "python3 " + ShellQuote(script) + " " + ShellQuote(input.string()) +
                              " 2>" + ShellQuote(errors.string());
  std::string output;
  int status = -1;
  if (FILE* pipe = ::popen(command.c_str(), "r"); pipe != nullptr) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
    status = ::pclose(pipe);
  }
  std::string stderr_text = ReadFile(errors);
  while (!stderr_text.empty() && std::isspace(static_cast<unsigned char>(stderr_text.back()))) {
    stderr_text.pop_back();
  }
  std::error_code ec;
  fs::remove(input, ec);
  fs::remove(errors, ec);

  const int exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  if (exit_code == 127) {
    run.outcome = BotocoreRun::Outcome::kUnavailable;
    run.message = "python3 is not on PATH (" + stderr_text + ")";
    return run;
  }
  if (exit_code == 77) {
    run.outcome = BotocoreRun::Outcome::kUnavailable;
    run.message = stderr_text + " (pip install botocore)";
    return run;
  }
  if (exit_code != 0) {
    run.message =
        "`" + command + "` exited with status " + std::to_string(exit_code) + ": " + stderr_text;
    return run;
  }
  json::error_code json_ec;
  const json::value parsed = json::parse(output, json_ec);
  if (json_ec || !parsed.is_object()) {
    run.message = "the script printed no JSON object: " + output.substr(0, 500);
    return run;
  }
  run.botocore_version = json::value_to<std::string>(parsed.at("botocore_version"));
  for (const json::value& result : parsed.at("results").as_array()) {
    run.results[json::value_to<std::string>(result.at("name"))] = result.as_object();
  }
  run.outcome = BotocoreRun::Outcome::kOk;
  return run;
}

// The script runs once per process, for every case.
const BotocoreRun& Botocore() {
  static const BotocoreRun run = RunScript();
  return run;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Sigv4BotocoreTest : public ::testing::TestWithParam<BotocoreCase> {};

TEST_P(Sigv4BotocoreTest, SignsLikeBotocore) {
  const BotocoreRun& run = Botocore();
  if (run.outcome == BotocoreRun::Outcome::kUnavailable) {
    if (testdata::RunningInCi())
      FAIL() << "botocore conformance cannot run: " << run.message << " (CI=true)";
    GTEST_SKIP() << "botocore conformance cannot run: " << run.message;
  }
  ASSERT_EQ(run.outcome, BotocoreRun::Outcome::kOk) << run.message;
  const BotocoreCase& c = GetParam();
  const auto found = run.results.find(c.name);
  ASSERT_NE(found, run.results.end())
      << "botocore " << run.botocore_version << " returned no " << c.name;
  const json::object& expected = found->second;

  // botocore takes Host from the URL; we send it as a header, as the transport will.
  std::vector<HeaderField> headers = c.headers;
  headers.insert(headers.begin(), {"Host", Authority(c.endpoint)});
  const SignableRequest request{.method = c.method,
                                .path = c.path,
                                .query = c.query,
                                .headers = headers,
                                .body = c.body,
                                .payload_sha256 = {}};
  const Credentials credentials{.access_key_id = std::string(kAccessKey),
                                .secret_access_key = std::string(kSecret),
                                .session_token = c.token};
  const std::optional<WallTime> time = ParseAmzDate(c.time);
  ASSERT_TRUE(time.has_value());
  const SigningParams params{.region = c.region, .service = c.service, .time = *time};
  const Result<SigningResult> signed_request = Signer().Sign(request, credentials, params);
  ASSERT_TRUE(signed_request.has_value()) << signed_request.error().message;

  SCOPED_TRACE("botocore " + run.botocore_version);
  EXPECT_EQ(signed_request->canonical_request,
            json::value_to<std::string>(expected.at("canonical_request")));
  EXPECT_EQ(signed_request->string_to_sign,
            json::value_to<std::string>(expected.at("string_to_sign")));
  ASSERT_FALSE(signed_request->headers.empty());
  EXPECT_EQ(signed_request->headers.back().first, "Authorization");
  EXPECT_EQ(signed_request->headers.back().second,
            json::value_to<std::string>(expected.at("authorization")));

  // The headers botocore added are exactly the ones we add (X-Amz-Date, X-Amz-Security-Token,
  // Authorization; no X-Amz-Content-SHA256).
  std::vector<std::pair<std::string, std::string>> botocore_added;
  std::vector<HeaderField> remaining = c.headers;
  for (const json::value& h : expected.at("headers").as_array()) {
    HeaderField field(json::value_to<std::string>(h.as_array().at(0)),
                      json::value_to<std::string>(h.as_array().at(1)));
    const auto it = std::find(remaining.begin(), remaining.end(), field);
    if (it != remaining.end()) {
      remaining.erase(it);
    } else {
      botocore_added.emplace_back(Lower(field.first), field.second);
    }
  }
  std::vector<std::pair<std::string, std::string>> ours_added;
  for (const auto& [name, value] : signed_request->headers) {
    ours_added.emplace_back(Lower(name), value);
  }
  std::sort(botocore_added.begin(), botocore_added.end());
  std::sort(ours_added.begin(), ours_added.end());
  EXPECT_EQ(ours_added, botocore_added);
}

INSTANTIATE_TEST_SUITE_P(Requests, Sigv4BotocoreTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<BotocoreCase>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace quotaflow::aws
