// The AWS-facing commands (quotas, analyze, monitor, alarms) as a user runs them: the built
// binary in a child process with a clean environment (the emulator's default keys, no config
// files, HOME in a temp dir) against an in-process emulator on port 0, reading --output json.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aws/credentials_provider.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "aws/moto_test_util.h"
#include "aws/test_process.h"
#include "bedrock/cloudwatch_client.h"
#include "bedrock/control_test_util.h"
#include "bedrock/model_catalog.h"
#include "cli/cli_test_util.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "emulator/quota_table.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;
using std::chrono::seconds;
using testing_util::Child;
using testing_util::MotoServer;
using testing_util::RunBoto3;
using testing_util::TempDir;

constexpr char kNovaLite[] = "amazon.nova-lite-v1:0";

class CliAwsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(home_.ok());
    emulator::EmulatorOptions options;
    options.server.port = 0;
    options.latency = {Duration::zero(), Duration::zero(), Duration::zero()};
    emulator_ = std::make_unique<emulator::Emulator>(options);
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override { emulator_.reset(); }

  // The binary's exit code, stdout and stderr.
  struct Run {
    int code = -1;
    std::string out;
    std::string err;
  };
  // `endpoint` empty: the test's emulator. `env`: "NAME=value" added to the clean environment.
  Run Quotaflow(std::vector<std::string> args, std::string endpoint = {},
                const std::vector<std::string>& env = {}) {
    std::string error;
    std::unique_ptr<Child> child = Start(std::move(args), std::move(endpoint), &error, env);
    Run run;
    if (child == nullptr) {
      ADD_FAILURE() << error;
      return run;
    }
    std::tie(run.code, run.out) = child->Wait(seconds(30));
    std::ifstream in(err_file());
    run.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return run;
  }
  std::string err_file() const { return (home_.path() / "stderr").string(); }
  // The binary running with a clean environment, the emulator's keys and `args`; stderr goes to
  // err_file().
  std::unique_ptr<Child> Start(std::vector<std::string> args, std::string endpoint,
                               std::string* error, const std::vector<std::string>& env = {}) {
    if (endpoint.empty()) endpoint = emulator_->endpoint();
    args.insert(args.end(), {"--region", "us-east-1", "--endpoint-url", endpoint});
    return SpawnQuotaflow(home_.path(), err_file(), args, env, error);
  }
  // The command's --output json, parsed; a test failure unless it exits 0.
  json::value Json(std::vector<std::string> args, std::string endpoint = {}) {
    args.insert(args.end(), {"--output", "json"});
    Run run = Quotaflow(args, std::move(endpoint));
    EXPECT_EQ(run.code, 0) << run.err;
    boost::system::error_code ec;
    json::value value = json::parse(run.out, ec);
    EXPECT_FALSE(ec) << run.out;
    return value;
  }

  TempDir home_{"quotaflow-cli-aws"};
  std::unique_ptr<emulator::Emulator> emulator_;
};

double Field(const json::value& row, std::string_view key) {
  return row.at(key).to_number<double>();
}

const json::value* Row(const json::value& rows, std::string_view key, std::string_view value) {
  for (const json::value& row : rows.as_array()) {
    if (row.at(key).as_string() == value) return &row;
  }
  return nullptr;
}

TEST_F(CliAwsTest, QuotasListShowsEveryQuotaOfTheTable) {
  const emulator::QuotaTable table(emulator::QuotaOptions{}, bedrock::ModelCatalog::Default());
  const json::value rows = Json({"quotas", "list"});
  ASSERT_TRUE(rows.is_array());
  EXPECT_EQ(rows.as_array().size(), table.Entries("us-east-1").size());
  const json::value& first = rows.as_array().at(0);
  for (const char* column : {"name", "code", "value", "default", "adjustable", "unit"}) {
    EXPECT_TRUE(first.as_object().contains(column)) << column;
  }
}

TEST_F(CliAwsTest, AwsMaxAttemptsAndTheProfilesMaxAttemptsSetHowOftenACallIsTried) {
  const std::string config = (home_.path() / "config").string();
  { std::ofstream(config) << "[default]\nmax_attempts = 2\n"; }
  struct Case {
    std::vector<std::string> env;
    int calls;
  };
  for (const Case& c : {Case{{}, 3},  // standard mode's default
                        Case{{"AWS_CONFIG_FILE=" + config}, 2},
                        Case{{"AWS_CONFIG_FILE=" + config, "AWS_MAX_ATTEMPTS=1"}, 1}}) {
    // A server that fails every call with a retryable 500, and keeps what it got.
    bedrock::control_test::ScriptedServer failing(
        {bedrock::control_test::JsonAnswer(500, R"({"__type":"ServiceException","message":"x"})")});
    failing.Start();
    const Run run = Quotaflow({"quotas", "list"}, failing.endpoint(), c.env);
    EXPECT_EQ(run.code, 1) << run.err;
    EXPECT_EQ(failing.requests().size(), static_cast<size_t>(c.calls))
        << (c.env.empty() ? "defaults" : c.env.back());
  }
  const Run bad = Quotaflow({"quotas", "list"}, {}, {"AWS_MAX_ATTEMPTS=0"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_THAT(bad.err, ::testing::HasSubstr("AWS_MAX_ATTEMPTS = '0'"));
}

TEST_F(CliAwsTest, QuotasListForAModelFindsItsThreeQuotas) {
  const json::value on_demand = Json({"quotas", "list", "--model", kNovaLite});
  ASSERT_EQ(on_demand.as_array().size(), 3u);
  EXPECT_EQ(Field(*Row(on_demand, "quota", "tpm"), "value"), 400'000);
  EXPECT_EQ(Field(*Row(on_demand, "quota", "tpd"), "value"), 400'000.0 * 1440);
  EXPECT_TRUE(Row(on_demand, "quota", "rpm") != nullptr);

  const json::value profile =
      Json({"quotas", "list", "--model", "us.anthropic.claude-3-haiku-20240307-v1:0"});
  ASSERT_EQ(profile.as_array().size(), 3u);
  EXPECT_EQ(Field(*Row(profile, "quota", "tpm"), "value"), 800'000);
  const json::value& tpd = *Row(profile, "quota", "tpd");
  EXPECT_TRUE(tpd.at("doubled").as_bool());
  EXPECT_EQ(Field(tpd, "value"), 2 * Field(tpd, "default"));
}

TEST_F(CliAwsTest, RequestIncreaseRefusesALowerValueAndAppliesAHigherOne) {
  Run refused = Quotaflow({"quotas", "request-increase", "--model", kNovaLite, "--tpm", "1000"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("is already 400,000"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find('\n'), refused.err.size() - 1) << refused.err;

  const json::value request =
      Json({"quotas", "request-increase", "--model", kNovaLite, "--tpm", "600000"});
  EXPECT_EQ(request.at(0).at("status").as_string(), "APPROVED");
  EXPECT_EQ(Field(request.at(0), "desired"), 600'000);

  const json::value quotas = Json({"quotas", "list", "--model", kNovaLite});
  EXPECT_EQ(Field(*Row(quotas, "quota", "tpm"), "value"), 600'000);
  EXPECT_EQ(Field(*Row(quotas, "quota", "tpm"), "default"), 400'000);
  const json::value history = Json({"quotas", "requests", "--status", "APPROVED"});
  EXPECT_EQ(history.as_array().size(), 1u);

  EXPECT_EQ(Quotaflow({"quotas", "request-increase", "--model", kNovaLite}).code, 2);
  EXPECT_EQ(Quotaflow({"quotas", "requests", "--status", "MAYBE"}).code, 2);
}

TEST_F(CliAwsTest, AnalyzeComputesTheBoundsOfABurndownFiveModel) {
  // R = 1,000 + 2,000 = 3,000; S = 1,000 + 200 × 5 = 2,000. TPM 800,000 (us. profile):
  // reservation 266.67/min, settlement 400/min; no latency, so steady state = settlement.
  const json::value analysis =
      Json({"analyze", "--model", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "--avg-input",
            "1000", "--max-tokens", "2000", "--expected-output", "200"});
  EXPECT_EQ(Field(analysis.at("model"), "burndown"), 5);
  EXPECT_EQ(Field(analysis.at("quotas"), "tpm"), 800'000);
  EXPECT_EQ(Field(analysis.at("per_request"), "reservation_tokens"), 3'000);
  EXPECT_EQ(Field(analysis.at("per_request"), "settlement_tokens"), 2'000);
  EXPECT_EQ(analysis.at("binding").at("limit").as_string(), "tpm");
  EXPECT_DOUBLE_EQ(Field(analysis.at("binding"), "requests_per_minute"), 400);

  // Offline: --tpm skips Service Quotas.
  const json::value offline = Json({"analyze", "--model", kNovaLite, "--avg-input", "500",
                                    "--max-tokens", "500", "--tpm", "100000", "--latency", "60"});
  EXPECT_DOUBLE_EQ(Field(offline.at("binding"), "requests_per_minute"), 100);
}

TEST_F(CliAwsTest, AnalyzeDrawsTheChart) {
  const std::string chart = (home_.path() / "analysis.svg").string();
  Run run = Quotaflow({"analyze", "--model", kNovaLite, "--avg-input", "500", "--chart", chart});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_GT(std::filesystem::file_size(chart), 100u);
  EXPECT_EQ(Quotaflow({"analyze", "--model", kNovaLite}).code, 2);
  EXPECT_EQ(Quotaflow({"analyze", "--model", "acme.nothing", "--avg-input", "5"}).code, 2);
}

TEST_F(CliAwsTest, MonitorSumsTheMetricsOfTheWindowAndDrawsThem) {
  aws::EventLoop loop(SystemClock());
  loop.Start();
  {
    aws::HttpClient http(loop);
    aws::StaticCredentialsProvider credentials(
        aws::Credentials{emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""});
    bedrock::ControlPlaneOptions options;
    options.endpoint = emulator_->endpoint();
    options.credentials = &credentials;
    auto client = bedrock::CloudWatchClient::Create(http, options);
    ASSERT_TRUE(client) << client.error().message;
    // Two minutes ago, so the datapoints fall in a complete period of the last hour.
    const WallTime at = SystemClock().WallNow() - std::chrono::minutes(2);
    std::vector<bedrock::MetricDatum> data;
    auto datum = [&](std::string name, double value) {
      bedrock::MetricDatum d;
      d.name = std::move(name);
      d.dimensions = {{"ModelId", kNovaLite}};
      d.timestamp = at;
      d.value = value;
      data.push_back(std::move(d));
    };
    for (int i = 0; i < 3; ++i) {
      datum("Invocations", 1);
      datum("InputTokenCount", 100);
      datum("OutputTokenCount", 40);
      datum("EstimatedTPMQuotaUsage", 140);
    }
    datum("InvocationThrottles", 1);
    Status put = (*client)->PutMetricData("AWS/Bedrock", data);
    ASSERT_TRUE(put) << put.error().message;
  }
  loop.Stop();

  const std::string chart = (home_.path() / "monitor.png").string();
  const json::value report =
      Json({"monitor", "--model", kNovaLite, "--since", "1h", "--period", "1m", "--chart", chart});
  const json::value& totals = report.at("totals");
  EXPECT_EQ(Field(totals, "invocations"), 3);
  EXPECT_EQ(Field(totals, "throttles"), 1);
  EXPECT_EQ(Field(totals, "input_tokens"), 300);
  EXPECT_EQ(Field(totals, "output_tokens"), 120);
  EXPECT_EQ(Field(report, "tpm_quota"), 400'000);
  EXPECT_EQ(Field(totals, "peak_tokens_per_minute"), 420);
  EXPECT_DOUBLE_EQ(Field(totals, "peak_tpm_utilization_pct"), 0.11);
  EXPECT_GT(std::filesystem::file_size(chart), 1000u);
  EXPECT_EQ(Quotaflow({"monitor", "--model", kNovaLite, "--period", "90s"}).code, 2);
}

TEST_F(CliAwsTest, AlarmsCreateListDeleteRoundTrip) {
  const json::value created = Json({"alarms", "create", "--model", kNovaLite, "--tpm-threshold",
                                    "75%", "--throttle-threshold", "3"});
  ASSERT_EQ(created.as_array().size(), 2u);
  const json::value* usage = Row(created, "name", "quotaflow-amazon.nova-lite-v1:0-tpm-usage");
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ(Field(*usage, "threshold"), 75);
  EXPECT_EQ(Field(*Row(created, "name", "quotaflow-amazon.nova-lite-v1:0-throttles"), "threshold"),
            3);

  EXPECT_EQ(Json({"alarms", "list"}).as_array().size(), 2u);
  EXPECT_EQ(Json({"alarms", "list", "--model", kNovaLite}).as_array().size(), 2u);
  EXPECT_EQ(Json({"alarms", "delete", "--model", kNovaLite}).as_array().size(), 2u);
  EXPECT_EQ(Json({"alarms", "list"}).as_array().size(), 0u);
  EXPECT_EQ(Quotaflow({"alarms", "delete", "--model", kNovaLite}).code, 1);
  EXPECT_EQ(Quotaflow({"alarms", "create", "--model", kNovaLite, "--tpm-threshold", "lots"}).code,
            2);
}

// moto is a second CloudWatch nobody here wrote: what boto3 puts there, monitor reads back.
constexpr const char* kBoto3PutBedrockMetrics = R"(
import os, sys, datetime, boto3
url, base = sys.argv[1], int(sys.argv[2])
for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(name, None)
cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="AKIDMOTO", aws_secret_access_key="secret")
def at(s): return datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
dims = [{"Name": "ModelId", "Value": "amazon.nova-lite-v1:0"}]
def d(name, t, v): return {"MetricName": name, "Dimensions": dims, "Timestamp": at(t), "Value": v}
cw.put_metric_data(Namespace="AWS/Bedrock", MetricData=[
    d("Invocations", base, 5), d("Invocations", base + 60, 3),
    d("InvocationThrottles", base + 60, 2),
    d("InputTokenCount", base, 1000), d("InputTokenCount", base + 60, 600),
    d("OutputTokenCount", base, 200), d("OutputTokenCount", base + 60, 100),
    d("EstimatedTPMQuotaUsage", base, 1200), d("EstimatedTPMQuotaUsage", base + 60, 700),
])
print("put")
)";

TEST_F(CliAwsTest, MonitorWatchRedrawsEveryPeriodUntilCtrlC) {
  std::string error;
  std::unique_ptr<Child> child = Start({"monitor", "--model", kNovaLite, "--since", "1h",
                                        "--period", "1s", "--tpm", "1000", "--watch"},
                                       {}, &error);
  ASSERT_NE(child, nullptr) << error;
  // Each refresh clears the screen, draws the table and says when the next one comes.
  int redraws = 0;
  int clears = 0;
  while (redraws < 2) {
    std::optional<std::string> line = child->ReadLine(std::chrono::milliseconds(10'000));
    ASSERT_TRUE(line.has_value()) << "monitor --watch stopped redrawing after " << redraws;
    if (line->find("\x1b[H\x1b[2J") != std::string::npos) ++clears;
    if (line->starts_with("refreshing every 1 s; Ctrl-C to stop")) ++redraws;
  }
  EXPECT_EQ(clears, 2);
  ASSERT_EQ(kill(child->pid(), SIGINT), 0);
  auto [code, rest] = child->Wait(seconds(10));
  EXPECT_EQ(code, 0) << "Ctrl-C ends the watch as a success";
}

TEST_F(CliAwsTest, MonitorReadsBackWhatBoto3PutIntoMoto) {
  QF_REQUIRE_MOTO(moto);
  // Whole minutes a few minutes ago: complete periods inside the last hour.
  const int64_t now =
      std::chrono::duration_cast<seconds>(SystemClock().WallNow().time_since_epoch()).count();
  const int64_t base = (now / 60 - 5) * 60;
  EXPECT_THAT(RunBoto3(moto, kBoto3PutBedrockMetrics, base, ""), ::testing::HasSubstr("put"));
  const json::value report =
      Json({"monitor", "--model", kNovaLite, "--tpm", "400000", "--since", "1h", "--period", "1m"},
           moto.url);
  const json::value& totals = report.at("totals");
  EXPECT_EQ(Field(totals, "invocations"), 8);
  EXPECT_EQ(Field(totals, "throttles"), 2);
  EXPECT_EQ(Field(totals, "input_tokens"), 1600);
  EXPECT_EQ(Field(totals, "output_tokens"), 300);
  EXPECT_EQ(Field(totals, "peak_tokens_per_minute"), 1200);
}

}  // namespace
}  // namespace quotaflow::cli
