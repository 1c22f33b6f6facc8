#include "bedrock/operations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "bedrock/base64.h"
#include "bedrock/model_body.h"

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;

constexpr std::string_view kEndpoint = "https://bedrock-runtime.us-east-1.amazonaws.com";

json::value Json(std::string_view text) { return json::parse(text); }

std::string Describe(const std::optional<Usage>& usage) {
  if (!usage) return "no usage";
  return "in " + std::to_string(usage->input_tokens) + ", out " +
         std::to_string(usage->output_tokens) + ", cache read " +
         std::to_string(usage->cache_read_tokens) + ", cache write " +
         std::to_string(usage->cache_write_tokens);
}

// --- paths and builders ---

TEST(ModelPath, EncodesTheModelIdLikeBotocore) {
  EXPECT_EQ(ModelPath("anthropic.claude-3-5-sonnet-20240620-v1:0", Operation::kInvokeModel),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke");
  EXPECT_EQ(ModelPath("us.amazon.nova-micro-v1:0", Operation::kConverseStream),
            "/model/us.amazon.nova-micro-v1%3A0/converse-stream");
  EXPECT_EQ(ModelPath("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"
                      "g7t2m1x~_",
                      Operation::kConverse),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-"
            "profile%2Fg7t2m1x~_/converse");
  EXPECT_EQ(ModelPath("m", Operation::kInvokeModelWithResponseStream),
            "/model/m/invoke-with-response-stream");
  EXPECT_EQ(ModelPath("m", Operation::kCountTokens), "/model/m/count-tokens");
}

TEST(BuildConverse, SendsOnlyContentType) {
  Result<aws::HttpRequest> r =
      BuildConverse(std::string(kEndpoint) + "/", {"us.amazon.nova-micro-v1:0", R"({"a":1})"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->method, aws::HttpMethod::kPost);
  EXPECT_EQ(r->url, std::string(kEndpoint) + "/model/us.amazon.nova-micro-v1%3A0/converse");
  EXPECT_EQ(r->headers, (aws::HttpHeaders{{"Content-Type", "application/json"}}));
  EXPECT_EQ(r->body, R"({"a":1})");

  Result<aws::HttpRequest> stream = BuildConverseStream("http://127.0.0.1:9/prefix", {"m", "{}"});
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->url, "http://127.0.0.1:9/prefix/model/m/converse-stream");
  EXPECT_EQ(stream->headers, (aws::HttpHeaders{{"Content-Type", "application/json"}}));
}

TEST(BuildInvokeModel, SendsContentTypeAndAcceptInBotocoreOrder) {
  InvokeModelRequest request;
  request.model_id = "meta.llama3-8b-instruct-v1:0";
  request.body = R"({"prompt":"hi"})";
  Result<aws::HttpRequest> r = BuildInvokeModel(kEndpoint, request);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->url, std::string(kEndpoint) + "/model/meta.llama3-8b-instruct-v1%3A0/invoke");
  EXPECT_EQ(r->headers, (aws::HttpHeaders{{"Content-Type", "application/json"},
                                          {"Accept", "application/json"}}));

  request.trace = "ENABLED";
  request.guardrail_identifier = "gr1";
  request.guardrail_version = "2";
  request.performance_latency = "optimized";
  request.service_tier = "flex";
  Result<aws::HttpRequest> stream = BuildInvokeModelWithResponseStream(kEndpoint, request);
  ASSERT_TRUE(stream);
  EXPECT_THAT(stream->url, ::testing::EndsWith("/invoke-with-response-stream"));
  EXPECT_EQ(stream->headers,
            (aws::HttpHeaders{{"Content-Type", "application/json"},
                              {"X-Amzn-Bedrock-Accept", "application/json"},
                              {"X-Amzn-Bedrock-Trace", "ENABLED"},
                              {"X-Amzn-Bedrock-GuardrailIdentifier", "gr1"},
                              {"X-Amzn-Bedrock-GuardrailVersion", "2"},
                              {"X-Amzn-Bedrock-PerformanceConfig-Latency", "optimized"},
                              {"X-Amzn-Bedrock-Service-Tier", "flex"}}));
}

TEST(BuildCountTokens, WrapsAConverseBodyKeepingOnlyWhatCountTokensTakes) {
  CountTokensRequest request;
  request.model_id = "anthropic.claude-sonnet-4-20250514-v1:0";
  request.body =
      R"({"messages":[{"role":"user","content":[{"text":"Hello, world!"}]}],"system":[],)"
      R"("inferenceConfig":{"maxTokens":5},"toolConfig":{"tools":[]}})";
  Result<aws::HttpRequest> r = BuildCountTokens(kEndpoint, request);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_THAT(r->url,
              ::testing::EndsWith("/model/anthropic.claude-sonnet-4-20250514-v1%3A0/count-tokens"));
  EXPECT_EQ(r->headers, (aws::HttpHeaders{{"Content-Type", "application/json"}}));
  EXPECT_EQ(Json(r->body),
            Json(R"({"input":{"converse":{"messages":[{"role":"user","content":)"
                 R"([{"text":"Hello, world!"}]}],"system":[],"toolConfig":{"tools":[]}}}})"));

  request.input = CountTokensRequest::Input::kInvokeModel;
  request.body = R"({"max_tokens":5})";
  r = BuildCountTokens(kEndpoint, request);
  ASSERT_TRUE(r);
  EXPECT_EQ(Json(r->body),
            Json(R"({"input":{"invokeModel":{"body":"eyJtYXhfdG9rZW5zIjo1fQ=="}}})"));

  request.input = CountTokensRequest::Input::kConverse;
  request.body = "[]";
  r = BuildCountTokens(kEndpoint, request);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(Builders, RejectBadEndpointsAndModelIds) {
  EXPECT_FALSE(BuildConverse("bedrock-runtime.us-east-1.amazonaws.com", {"m", "{}"}));
  EXPECT_FALSE(BuildConverse(kEndpoint, {"", "{}"}));
  InvokeModelRequest request;
  request.model_id = std::string(2049, 'm');
  EXPECT_FALSE(BuildInvokeModel(kEndpoint, request));
  request.model_id.pop_back();
  EXPECT_TRUE(BuildInvokeModel("HTTPS://example.com", request));
}

// --- max_tokens in bodies ---

struct MaxTokensCase {
  ModelFamily family;
  const char* body;  // sets max_tokens to 300
  const char* path;  // where a rewrite puts it, for the message
};

class MaxTokensTest : public ::testing::TestWithParam<MaxTokensCase> {};

TEST_P(MaxTokensTest, ReadsAndWritesTheFamilysOwnField) {
  const MaxTokensCase& c = GetParam();
  Result<std::optional<int64_t>> read = ReadMaxTokens(c.family, c.body);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, 300) << c.path;

  Result<std::string> written = WriteMaxTokens(c.family, c.body, 1234);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*ReadMaxTokens(c.family, *written), 1234) << c.path;

  Result<std::string> created = WriteMaxTokens(c.family, R"({"x":1})", 77);
  ASSERT_TRUE(created);
  EXPECT_EQ(*ReadMaxTokens(c.family, *created), 77);
  EXPECT_EQ(*ReadMaxTokens(c.family, R"({"x":1})"), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    Families, MaxTokensTest,
    ::testing::Values(
        MaxTokensCase{ModelFamily::kAnthropic,
                      R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":300})",
                      "max_tokens"},
        MaxTokensCase{ModelFamily::kAmazonNova,
                      R"({"inferenceConfig":{"max_new_tokens":300,"temperature":0.5}})",
                      "inferenceConfig.max_new_tokens"},
        MaxTokensCase{ModelFamily::kAmazonNova, R"({"inferenceConfig":{"maxTokens":300}})",
                      "inferenceConfig.maxTokens"},
        MaxTokensCase{ModelFamily::kAmazonTitan,
                      R"({"inputText":"x","textGenerationConfig":{"maxTokenCount":300}})",
                      "textGenerationConfig.maxTokenCount"},
        MaxTokensCase{ModelFamily::kMetaLlama, R"({"prompt":"x","max_gen_len":300})",
                      "max_gen_len"},
        MaxTokensCase{ModelFamily::kMistral, R"({"prompt":"x","max_tokens":300})", "max_tokens"},
        MaxTokensCase{ModelFamily::kCohere, R"({"message":"x","max_tokens":300})", "max_tokens"},
        MaxTokensCase{ModelFamily::kAi21, R"({"messages":[],"max_tokens":300})", "max_tokens"},
        MaxTokensCase{ModelFamily::kAi21, R"({"prompt":"x","maxTokens":300})", "maxTokens"}));

TEST(MaxTokens, NovaRewriteKeepsTheSpellingTheBodyUses) {
  Result<std::string> written =
      WriteMaxTokens(ModelFamily::kAmazonNova, R"({"inferenceConfig":{"maxTokens":300}})", 9);
  ASSERT_TRUE(written);
  EXPECT_EQ(Json(*written), Json(R"({"inferenceConfig":{"maxTokens":9}})"));
  written = WriteMaxTokens(ModelFamily::kAmazonNova, R"({"messages":[]})", 9);
  ASSERT_TRUE(written);
  EXPECT_EQ(Json(*written), Json(R"({"messages":[],"inferenceConfig":{"max_new_tokens":9}})"));
}

TEST(MaxTokens, ConverseUsesInferenceConfigMaxTokens) {
  EXPECT_EQ(*ReadConverseMaxTokens(R"({"messages":[],"inferenceConfig":{"maxTokens":100}})"), 100);
  EXPECT_EQ(*ReadConverseMaxTokens(R"({"messages":[],"inferenceConfig":{}})"), std::nullopt);
  EXPECT_EQ(*ReadConverseMaxTokens(R"({"messages":[]})"), std::nullopt);
  Result<std::string> written = WriteConverseMaxTokens(R"({"messages":[]})", 64);
  ASSERT_TRUE(written);
  EXPECT_EQ(Json(*written), Json(R"({"messages":[],"inferenceConfig":{"maxTokens":64}})"));
}

TEST(MaxTokens, RejectsWhatIsNotAPositiveInteger) {
  EXPECT_FALSE(ReadMaxTokens(ModelFamily::kAnthropic, "not json"));
  EXPECT_FALSE(ReadMaxTokens(ModelFamily::kAnthropic, "[1]"));
  EXPECT_FALSE(ReadMaxTokens(ModelFamily::kAnthropic, R"({"max_tokens":"100"})"));
  EXPECT_FALSE(ReadMaxTokens(ModelFamily::kAnthropic, R"({"max_tokens":0})"));
  EXPECT_FALSE(ReadMaxTokens(ModelFamily::kAmazonTitan, R"({"textGenerationConfig":7})"));
  EXPECT_FALSE(WriteMaxTokens(ModelFamily::kAnthropic, "{}", 0));
  EXPECT_FALSE(WriteMaxTokens(ModelFamily::kAmazonNova, R"({"inferenceConfig":[]})", 5));
  EXPECT_EQ(*ReadMaxTokens(ModelFamily::kAnthropic, R"({"max_tokens":null})"), std::nullopt);
}

// --- usage, stop reasons, response bodies ---

TEST(UsageFromHeaders, ReadsTheBedrockTokenCountHeaders) {
  const aws::HttpHeaders headers = {{"X-Amzn-Bedrock-Input-Token-Count", "454"},
                                    {"X-Amzn-Bedrock-Output-Token-Count", " 75"},
                                    {"X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "10"},
                                    {"x-amzn-bedrock-cache-write-input-token-count", "20"},
                                    {"X-Amzn-Bedrock-Invocation-Latency", "828"}};
  EXPECT_EQ(Describe(UsageFromHeaders(headers)), "in 454, out 75, cache read 10, cache write 20");
  EXPECT_EQ(LatencyFromHeaders(headers), 828);

  // An embedding model's response: the input count alone.
  EXPECT_EQ(Describe(UsageFromHeaders({{"X-Amzn-Bedrock-Input-Token-Count", "4"}})),
            "in 4, out 0, cache read 0, cache write 0");
  EXPECT_FALSE(UsageFromHeaders({{"X-Amzn-Bedrock-Output-Token-Count", "1"}}));
  EXPECT_FALSE(UsageFromHeaders(
      {{"X-Amzn-Bedrock-Input-Token-Count", "1"}, {"X-Amzn-Bedrock-Output-Token-Count", "x1"}}));
  EXPECT_FALSE(UsageFromHeaders(
      {{"X-Amzn-Bedrock-Input-Token-Count", "-1"}, {"X-Amzn-Bedrock-Output-Token-Count", "1"}}));
}

TEST(StopReason, NormalisesEveryFamilysSpelling) {
  EXPECT_EQ(NormalizeStopReason("end_turn"), StopReason::kEndTurn);
  EXPECT_EQ(NormalizeStopReason("FINISH"), StopReason::kEndTurn);
  EXPECT_EQ(NormalizeStopReason("COMPLETE"), StopReason::kEndTurn);
  EXPECT_EQ(NormalizeStopReason("stop"), StopReason::kEndTurn);
  EXPECT_EQ(NormalizeStopReason("LENGTH"), StopReason::kMaxTokens);
  EXPECT_EQ(NormalizeStopReason("length"), StopReason::kMaxTokens);
  EXPECT_EQ(NormalizeStopReason("MAX_TOKENS"), StopReason::kMaxTokens);
  EXPECT_EQ(NormalizeStopReason("STOP_CRITERIA_MET"), StopReason::kStopSequence);
  EXPECT_EQ(NormalizeStopReason("tool_calls"), StopReason::kToolUse);
  EXPECT_EQ(NormalizeStopReason("guardrail_intervened"), StopReason::kGuardrailIntervened);
  EXPECT_EQ(NormalizeStopReason("model_context_window_exceeded"),
            StopReason::kContextWindowExceeded);
  EXPECT_EQ(NormalizeStopReason("malformed_tool_use"), StopReason::kOther);
  EXPECT_EQ(NormalizeStopReason(""), StopReason::kUnknown);
  EXPECT_EQ(StopReasonName(StopReason::kMaxTokens), "max_tokens");
}

TEST(ParseConverseResponse, ReadsUsageIncludingCacheTokens) {
  Result<ModelResponse> r = ParseConverseResponse(
      {{"x-amzn-RequestId", "req-1"}},
      R"({"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":)"
      R"({"text":"hmm"}}},{"text":"Hel"},{"toolUse":{"input":{}}},{"text":"lo"}]}},)"
      R"("stopReason":"end_turn","metrics":{"latencyMs":268},"usage":{"inputTokens":7,)"
      R"("outputTokens":30,"totalTokens":1037,"cacheReadInputTokens":1000,)"
      R"("cacheWriteInputTokens":0},"p":"abc"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "Hello");
  EXPECT_EQ(r->stop, StopReason::kEndTurn);
  EXPECT_EQ(r->latency_ms, 268);
  EXPECT_EQ(r->request_id, "req-1");
  EXPECT_EQ(r->usage_source, UsageSource::kBody);
  EXPECT_EQ(r->usage.input_tokens, 7);
  EXPECT_EQ(r->usage.output_tokens, 30);
  EXPECT_EQ(r->usage.cache_read_tokens, 1000);
  EXPECT_EQ(SettledTokens(r->usage, 5), 7 + 0 + 30 * 5);
}

TEST(ParseConverseResponse, BodyWithoutUsageReportsNone) {
  Result<ModelResponse> r = ParseConverseResponse({}, R"({"output":{}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage_source, UsageSource::kNone);
  EXPECT_EQ(r->stop, StopReason::kUnknown);
  Result<ModelResponse> bad = ParseConverseResponse({}, "<html>");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kProtocol);
}

struct InvokeCase {
  const char* name;
  const char* body;
  ModelFamily family;
  const char* text;
  const char* stop_reason;
  int64_t input;  // -1: no usage in the body
  int64_t output;
};

class InvokeBodyTest : public ::testing::TestWithParam<InvokeCase> {};

// Bodies the recordings do not cover, written from the providers' documented formats.
TEST_P(InvokeBodyTest, ParsesEveryFamilysShape) {
  const InvokeCase& c = GetParam();
  Result<ModelResponse> r = ParseInvokeModelResponse({}, c.body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body_family, c.family);
  EXPECT_EQ(r->text, c.text);
  EXPECT_EQ(r->stop_reason, c.stop_reason);
  if (c.input < 0) {
    EXPECT_EQ(r->usage_source, UsageSource::kNone);
  } else {
    EXPECT_EQ(r->usage_source, UsageSource::kBody);
    EXPECT_EQ(r->usage.input_tokens, c.input);
    EXPECT_EQ(r->usage.output_tokens, c.output);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, InvokeBodyTest,
    ::testing::Values(
        InvokeCase{"MistralText", R"({"outputs":[{"text":" Paris.","stop_reason":"stop"}]})",
                   ModelFamily::kMistral, " Paris.", "stop", -1, 0},
        InvokeCase{"MistralChat",
                   R"({"id":"x","object":"chat.completion","model":"mistral-large-2407",)"
                   R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},)"
                   R"("stop_reason":"length"}],"usage":{"prompt_tokens":9,)"
                   R"("completion_tokens":3,"total_tokens":12}})",
                   ModelFamily::kMistral, "Hi", "length", 9, 3},
        InvokeCase{"CohereCommandR",
                   R"({"response_id":"r","text":"Hola","generation_id":"g",)"
                   R"("finish_reason":"COMPLETE","chat_history":[],)"
                   R"("meta":{"billed_units":{"input_tokens":5,"output_tokens":2}}})",
                   ModelFamily::kCohere, "Hola", "COMPLETE", 5, 2},
        InvokeCase{"Ai21Jurassic",
                   R"({"id":1,"completions":[{"data":{"text":"ok"},)"
                   R"("finishReason":{"reason":"endoftext"}}]})",
                   ModelFamily::kAi21, "ok", "endoftext", -1, 0},
        InvokeCase{"AnthropicWithCache",
                   R"({"type":"message","content":[{"type":"thinking","thinking":"t"},)"
                   R"({"type":"text","text":"A"}],"stop_reason":"stop_sequence",)"
                   R"("usage":{"input_tokens":4,"output_tokens":6,)"
                   R"("cache_creation_input_tokens":1000,"cache_read_input_tokens":50}})",
                   ModelFamily::kAnthropic, "A", "stop_sequence", 4, 6},
        InvokeCase{"Unknown", R"({"embedding":[0.1,0.2]})", ModelFamily::kOther, "", "", -1, 0}),
    [](const ::testing::TestParamInfo<InvokeCase>& param) { return param.param.name; });

TEST(ParseInvokeModelResponse, AnthropicCacheCountsComeFromTheBody) {
  Result<ModelResponse> r = ParseInvokeModelResponse(
      {}, R"({"type":"message","content":[],"usage":{"input_tokens":4,"output_tokens":6,)"
          R"("cache_creation_input_tokens":1000,"cache_read_input_tokens":50}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage.cache_write_tokens, 1000);
  EXPECT_EQ(r->usage.cache_read_tokens, 50);
}

TEST(ParseInvokeModelResponse, HeadersWinOverTheBody) {
  const aws::HttpHeaders headers = {{"X-Amzn-Bedrock-Input-Token-Count", "40"},
                                    {"X-Amzn-Bedrock-Output-Token-Count", "60"},
                                    {"X-Amzn-Bedrock-Invocation-Latency", "99"}};
  Result<ModelResponse> r = ParseInvokeModelResponse(
      headers, R"({"type":"message","content":[],"usage":{"input_tokens":4,"output_tokens":6,)"
               R"("cache_read_input_tokens":50}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage_source, UsageSource::kHeaders);
  EXPECT_EQ(r->usage.input_tokens, 40);
  EXPECT_EQ(r->usage.output_tokens, 60);
  EXPECT_EQ(r->usage.cache_read_tokens, 50);  // no cache headers: the body's count stands
  EXPECT_EQ(r->latency_ms, 99);
}

TEST(ParseCountTokensResponse, ReadsInputTokens) {
  EXPECT_EQ(*ParseCountTokensResponse(R"({"inputTokens":11})"), 11);
  EXPECT_FALSE(ParseCountTokensResponse(R"({"tokens":11})"));
  EXPECT_FALSE(ParseCountTokensResponse("11"));
}

TEST(Base64, RoundTripsAndRejectsJunk) {
  for (const std::string& s :
       {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
        std::string("\xff\x00\x10 binary", 10)}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_EQ(Base64Encode("{\"max_tokens\":5}"), "eyJtYXhfdG9rZW5zIjo1fQ==");
  EXPECT_FALSE(Base64Decode("abc"));
  EXPECT_FALSE(Base64Decode("ab=c"));
  EXPECT_FALSE(Base64Decode("a==="));
  EXPECT_FALSE(Base64Decode("ab c"));
  EXPECT_FALSE(Base64Decode("===="));
}

}  // namespace
}  // namespace quotaflow::bedrock
