// The emulator end to end: real HTTP from the project's own runtime client (SigV4 or bearer) and
// raw requests, against an Emulator on port 0 with the latency model off and fixed output lengths.
#include "emulator/emulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "aws/credentials.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/operations.h"
#include "bedrock/runtime_client.h"
#include "emulator/text_generator.h"
#include "emulator/tokenizer.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using bedrock::CallResult;
using bedrock::ModelResponse;
using bedrock::StopReason;
using ::testing::HasSubstr;

constexpr char kHaiku[] = "anthropic.claude-3-haiku-20240307-v1:0";
constexpr char kSonnet4[] = "anthropic.claude-sonnet-4-20250514-v1:0";
constexpr char kSonnet4Profile[] = "us.anthropic.claude-sonnet-4-20250514-v1:0";
constexpr int64_t kOutputTokens = 40;

EmulatorOptions FastOptions() {
  EmulatorOptions options = ImmediateEmulator(kOutputTokens);
  // A fixed hour-long window: nothing refills while a test runs, so quota answers are exact.
  options.quotas.books.mode = CountingMode::kFixedWindow;
  options.quotas.books.period = std::chrono::hours(1);
  return options;
}

std::string ConverseBody(std::string_view text, std::optional<int64_t> max_tokens = 100) {
  json::object body;
  body["messages"] = json::array{
      json::object{{"role", "user"}, {"content", json::array{json::object{{"text", text}}}}}};
  if (max_tokens) body["inferenceConfig"] = json::object{{"maxTokens", *max_tokens}};
  return json::serialize(body);
}

class EmulatorTest : public ::testing::Test {
 protected:
  void StartEmulator(EmulatorOptions options, const Clock& clock = SystemClock()) {
    emulator_ = std::make_unique<Emulator>(std::move(options), clock);
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
    if (http_ == nullptr) {
      loop_.Start();
      http_ = std::make_unique<aws::HttpClient>(loop_);
    }
  }

  void TearDown() override {
    clients_.clear();
    // The emulator stops first, while the client's loop still runs to see its connections close.
    emulator_.reset();
    http_.reset();
    loop_.Stop();
  }

  bedrock::RuntimeClient& Client(std::string region = "us-east-1",
                                 aws::CredentialsProvider* credentials = nullptr,
                                 std::string bearer = {}) {
    bedrock::RuntimeClientOptions options;
    options.endpoint = emulator_->endpoint();
    options.region = std::move(region);
    if (bearer.empty()) {
      options.credentials = credentials != nullptr ? credentials : &default_credentials_;
    } else {
      options.bearer_token = std::move(bearer);
    }
    options.http.version = aws::HttpVersionPolicy::kHttp1_1;
    options.retry.max_attempts = 1;  // the tests look at each answer, not at retries
    options.jitter_seed = 1;
    Result<std::unique_ptr<bedrock::RuntimeClient>> client =
        bedrock::RuntimeClient::Create(loop_, *http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    clients_.push_back(std::move(*client));
    return *clients_.back();
  }

  // A raw bearer-authorized request, for the headers and bytes the typed client does not show.
  aws::HttpResponse Raw(Result<aws::HttpRequest> built) {
    EXPECT_TRUE(built);
    built->headers.emplace_back("Authorization", std::string("Bearer ") + kDefaultBearerKey);
    Result<aws::HttpResponse> response = http_->SendSync(std::move(*built));
    EXPECT_TRUE(response) << response.error().message;
    return response ? std::move(*response) : aws::HttpResponse{};
  }

  json::value State() {
    aws::HttpRequest request;
    request.url = emulator_->endpoint() + "/_quotaflow/state";
    Result<aws::HttpResponse> response = http_->SendSync(std::move(request));
    EXPECT_TRUE(response && response->status == 200);
    return json::parse(response->body);
  }

  json::object Key(std::string_view key) {
    const json::value state = State();
    for (const json::value& k : state.at("keys").as_array()) {
      if (k.at("key").as_string() == key) return k.as_object();
    }
    ADD_FAILURE() << "no key " << key;
    return {};
  }

  aws::EventLoop loop_{SystemClock()};
  aws::StaticCredentialsProvider default_credentials_{
      aws::Credentials{kDefaultAccessKeyId, kDefaultSecretAccessKey, ""}};
  std::unique_ptr<aws::HttpClient> http_;
  std::unique_ptr<Emulator> emulator_;
  std::vector<std::unique_ptr<bedrock::RuntimeClient>> clients_;
};

TEST_F(EmulatorTest, ConverseCountsInputWithItsOwnTokenizerAndReturnsUsageAndMetrics) {
  StartEmulator(FastOptions());
  const std::string prompt = "Summarise the indemnification clause of this agreement.";
  CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody(prompt)});
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->usage.input_tokens, CountTokens(prompt) + 3);  // + the turn's role markers
  EXPECT_EQ(r->usage.output_tokens, kOutputTokens);
  EXPECT_EQ(CountTokens(r->text), kOutputTokens);
  EXPECT_EQ(r->stop, StopReason::kEndTurn);
  EXPECT_TRUE(r->latency_ms.has_value());
  EXPECT_EQ(r->request_id.size(), 36u);
}

TEST_F(EmulatorTest, SameRequestSameOutputBecauseOutputIsSeeded) {
  StartEmulator(FastOptions());
  CallResult<ModelResponse> a = Client().ConverseSync({kHaiku, ConverseBody("hello")});
  CallResult<ModelResponse> b = Client().ConverseSync({kHaiku, ConverseBody("hello")});
  CallResult<ModelResponse> c = Client().ConverseSync({kHaiku, ConverseBody("hello there")});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->text, b->text);
  EXPECT_NE(a->text, c->text);
}

TEST_F(EmulatorTest, OutputLongerThanMaxTokensStopsAtMaxTokens) {
  StartEmulator(FastOptions());
  CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody("hi", 10)});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage.output_tokens, 10);
  EXPECT_EQ(r->stop, StopReason::kMaxTokens);
  EXPECT_EQ(r->stop_reason, "max_tokens");
}

TEST_F(EmulatorTest, InvokeModelSendsTokenCountAndLatencyHeaders) {
  StartEmulator(FastOptions());
  bedrock::InvokeModelRequest request;
  request.model_id = kHaiku;
  request.body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":100,)"
                 R"("messages":[{"role":"user","content":"Hello there"}]})";
  aws::HttpResponse raw = Raw(bedrock::BuildInvokeModel(emulator_->endpoint(), request));
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(FindHeader(raw.headers, "x-amzn-bedrock-input-token-count"),
            std::to_string(CountTokens("Hello there") + 3));
  EXPECT_EQ(FindHeader(raw.headers, "x-amzn-bedrock-output-token-count"),
            std::to_string(kOutputTokens));
  EXPECT_TRUE(FindHeader(raw.headers, "x-amzn-bedrock-invocation-latency").has_value());
  Result<ModelResponse> parsed = bedrock::ParseInvokeModelResponse(raw.headers, raw.body);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->body_family, ModelFamily::kAnthropic);
  EXPECT_EQ(parsed->usage_source, bedrock::UsageSource::kHeaders);
  EXPECT_EQ(json::parse(raw.body).at("type"), "message");
}

struct FamilyCase {
  const char* model;
  const char* body;
  ModelFamily family;
};

TEST_F(EmulatorTest, EveryFamilyAnswersInItsNativeShapeWhichTheClientParses) {
  StartEmulator(FastOptions());
  const FamilyCase cases[] = {
      {"amazon.nova-micro-v1:0",
       R"({"messages":[{"role":"user","content":[{"text":"hi"}]}],)"
       R"("inferenceConfig":{"max_new_tokens":100}})",
       ModelFamily::kAmazonNova},
      {"amazon.titan-text-express-v1",
       R"({"inputText":"hi","textGenerationConfig":{"maxTokenCount":100}})",
       ModelFamily::kAmazonTitan},
      {"meta.llama3-8b-instruct-v1:0", R"({"prompt":"hi","max_gen_len":100})",
       ModelFamily::kMetaLlama},
      {"mistral.mistral-7b-instruct-v0:2", R"({"prompt":"<s>[INST] hi [/INST]","max_tokens":100})",
       ModelFamily::kMistral},
      {"cohere.command-r-v1:0", R"({"message":"hi","max_tokens":100})", ModelFamily::kCohere},
      {"ai21.jamba-1-5-mini-v1:0",
       R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":100})", ModelFamily::kAi21},
  };
  for (const FamilyCase& c : cases) {
    bedrock::InvokeModelRequest request;
    request.model_id = c.model;
    request.body = c.body;
    aws::HttpResponse raw = Raw(bedrock::BuildInvokeModel(emulator_->endpoint(), request));
    ASSERT_EQ(raw.status, 200) << c.model << ": " << raw.body;
    Result<ModelResponse> parsed = bedrock::ParseInvokeModelResponse(raw.headers, raw.body);
    ASSERT_TRUE(parsed) << c.model;
    EXPECT_EQ(parsed->body_family, c.family) << c.model << ": " << raw.body;
    EXPECT_EQ(parsed->usage.output_tokens, kOutputTokens) << c.model;
    EXPECT_EQ(CountTokens(parsed->text), kOutputTokens) << c.model;
    EXPECT_EQ(parsed->stop, StopReason::kEndTurn) << c.model << ": " << parsed->stop_reason;
  }
}

TEST_F(EmulatorTest, ConverseStreamSendsEventsInBedrocksOrderWithUsageLast) {
  StartEmulator(FastOptions());
  std::vector<std::string> types;
  CallResult<ModelResponse> r = Client().ConverseStreamSync(
      {kSonnet4Profile, ConverseBody("Stream please", 1000)},
      [&](const bedrock::StreamEvent& e) { types.push_back(e.event_type); });
  ASSERT_TRUE(r) << r.error().error.ToString();
  ASSERT_GE(types.size(), 5u);
  EXPECT_EQ(types.front(), "messageStart");
  EXPECT_EQ(types[1], "contentBlockDelta");
  EXPECT_EQ(types[types.size() - 3], "contentBlockStop");
  EXPECT_EQ(types[types.size() - 2], "messageStop");
  EXPECT_EQ(types.back(), "metadata");
  EXPECT_EQ(r->usage_source, bedrock::UsageSource::kStream);
  EXPECT_EQ(r->usage.output_tokens, kOutputTokens);
  EXPECT_EQ(CountTokens(r->text), kOutputTokens);
}

TEST_F(EmulatorTest, InvokeStreamCarriesAnthropicEventsAndInvocationMetrics) {
  StartEmulator(FastOptions());
  bedrock::InvokeModelRequest request;
  request.model_id = kSonnet4Profile;
  request.body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":500,)"
                 R"("messages":[{"role":"user","content":"Stream please"}]})";
  std::vector<std::string> types;
  CallResult<ModelResponse> r = Client().InvokeModelWithResponseStreamSync(
      request, [&](const bedrock::StreamEvent& e) { types.push_back(e.event_type); });
  ASSERT_TRUE(r) << r.error().error.ToString();
  ASSERT_GE(types.size(), 6u);
  EXPECT_EQ(types.front(), "message_start");
  EXPECT_EQ(types[1], "content_block_start");
  // The client reports message_stop's invocation metrics as the closing metadata event.
  EXPECT_EQ(types[types.size() - 2], "message_delta");
  EXPECT_EQ(types.back(), "amazon-bedrock-invocationMetrics");
  EXPECT_EQ(r->usage.input_tokens, CountTokens("Stream please") + 3);
  EXPECT_EQ(r->usage.output_tokens, kOutputTokens);
  EXPECT_TRUE(r->latency_ms.has_value());
}

TEST_F(EmulatorTest, NovaInvokeStreamEndsWithMetadataAndMetrics) {
  StartEmulator(FastOptions());
  bedrock::InvokeModelRequest request;
  request.model_id = "us.amazon.nova-lite-v1:0";
  request.body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}],)"
                 R"("inferenceConfig":{"max_new_tokens":100}})";
  CallResult<ModelResponse> r = Client().InvokeModelWithResponseStreamSync(request);
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->usage.output_tokens, kOutputTokens);
  EXPECT_EQ(r->stop, StopReason::kEndTurn);
}

TEST_F(EmulatorTest, CountTokensMatchesWhatConverseCharges) {
  StartEmulator(FastOptions());
  const std::string body = ConverseBody("Count the tokens of this sentence, please.");
  bedrock::CountTokensRequest count;
  count.model_id = kSonnet4;  // counted by the bare id, invoked through a profile
  count.body = body;
  CallResult<bedrock::CountTokensResponse> counted = Client().CountTokensSync(count);
  ASSERT_TRUE(counted) << counted.error().error.ToString();
  CallResult<ModelResponse> r = Client().ConverseSync({kSonnet4Profile, body});
  ASSERT_TRUE(r);
  EXPECT_EQ(counted->input_tokens, r->usage.input_tokens);
}

TEST_F(EmulatorTest, CountTokensRefusesModelsThatDoNotCountAndInferenceProfileIds) {
  StartEmulator(FastOptions());
  auto count = [this](const std::string& model) {
    bedrock::CountTokensRequest request;
    request.model_id = model;
    request.body = ConverseBody("Count me.");
    return Client().CountTokensSync(request);
  };
  for (const auto& [model, message] : std::vector<std::pair<std::string, std::string>>{
           {kHaiku, "The provided model doesn't support counting tokens."},
           {"amazon.nova-lite-v1:0", "The provided model doesn't support counting tokens."},
           {kSonnet4Profile, "The provided model identifier is invalid."}}) {
    CallResult<bedrock::CountTokensResponse> r = count(model);
    ASSERT_FALSE(r) << model;
    EXPECT_EQ(r.error().error.http_status, 400) << model;
    EXPECT_EQ(r.error().error.aws_code, "ValidationException") << model;
    EXPECT_EQ(r.error().error.message, message) << model;
  }
  EXPECT_TRUE(count("arn:aws:bedrock:us-east-1::foundation-model/" + std::string(kSonnet4)));
  // Nor does it count documents, even for a model that counts text.
  bedrock::CountTokensRequest document;
  document.model_id = kSonnet4;
  document.body =
      R"({"messages":[{"role":"user","content":[{"document":{"format":"txt","name":"d",)"
      R"("source":{"bytes":"VGhlIHBhcnRpZXMgYWdyZWUu"}}}]}]})";
  CallResult<bedrock::CountTokensResponse> r = Client().CountTokensSync(document);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.message, "Document input not supported for token counting");
}

TEST_F(EmulatorTest, PromptCacheWritesThenReadsTheSharedPrefix) {
  StartEmulator(FastOptions());
  std::string instructions;
  for (int i = 0; i < 400; ++i) instructions += "Read the contract and list the parties. ";
  auto body = [&](std::string_view document) {
    json::object b;
    b["system"] = json::array{json::object{{"text", instructions}},
                              json::object{{"cachePoint", json::object{{"type", "default"}}}}};
    b["messages"] = json::array{
        json::object{{"role", "user"}, {"content", json::array{json::object{{"text", document}}}}}};
    b["inferenceConfig"] = json::object{{"maxTokens", 100}};
    return json::serialize(b);
  };
  CallResult<ModelResponse> first = Client().ConverseSync({kSonnet4Profile, body("one")});
  CallResult<ModelResponse> second = Client().ConverseSync({kSonnet4Profile, body("two")});
  ASSERT_TRUE(first && second);
  const int64_t prefix = CountTokens(instructions);
  EXPECT_EQ(first->usage.cache_write_tokens, prefix);
  EXPECT_EQ(first->usage.cache_read_tokens, 0);
  EXPECT_EQ(second->usage.cache_read_tokens, prefix);
  EXPECT_EQ(second->usage.cache_write_tokens, 0);
  EXPECT_EQ(second->usage.input_tokens, CountTokens("two") + 3);
}

struct ValidationCase {
  const char* name;
  const char* model;
  std::string body;
  const char* message;
};

TEST_F(EmulatorTest, InvalidRequestsGetBedrocksValidationErrors) {
  StartEmulator(FastOptions());
  std::string long_text;
  for (int i = 0; i < 5000; ++i) long_text += " word";
  const ValidationCase cases[] = {
      {"unknown model", "anthropic.claude-nonexistent-v1:0", ConverseBody("hi"),
       "The provided model identifier is invalid."},
      {"bare id of a profile-only model", "anthropic.claude-sonnet-4-20250514-v1:0",
       ConverseBody("hi"), "with on-demand throughput isn\u2019t supported"},
      {"profile from another geography", "eu.anthropic.claude-3-haiku-20240307-v1:0",
       ConverseBody("hi"), "The provided model identifier is invalid."},
      {"max tokens above the model maximum", kHaiku, ConverseBody("hi", 5000),
       "The maximum tokens you requested exceeds the model limit of 4096."},
      {"input beyond the context window", "amazon.titan-text-lite-v1", ConverseBody(long_text),
       "Input is too long for requested model."},
      {"empty conversation", kHaiku, R"({"messages":[]})",
       "A conversation must start with a user message."},
      {"empty content", kHaiku, R"({"messages":[{"role":"user","content":[]}]})",
       "The content field in the Message object at messages.0 is empty."},
  };
  for (const ValidationCase& c : cases) {
    CallResult<ModelResponse> r = Client().ConverseSync({c.model, c.body});
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().error.http_status, 400) << c.name;
    EXPECT_EQ(r.error().error.aws_code, "ValidationException") << c.name;
    EXPECT_THAT(r.error().error.message, HasSubstr(c.message)) << c.name;
  }
}

TEST_F(EmulatorTest, AnthropicInvokeWithoutMaxTokensIsMalformed) {
  StartEmulator(FastOptions());
  bedrock::InvokeModelRequest request;
  request.model_id = kHaiku;
  request.body = R"({"anthropic_version":"bedrock-2023-05-31","messages":[]})";
  CallResult<ModelResponse> r = Client().InvokeModelSync(request);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.message,
            "Malformed input request: #: required key [max_tokens] not found, please reformat "
            "your input and try again.");
}

TEST_F(EmulatorTest, WrongSecretIsRejectedAsAnInvalidSignature) {
  StartEmulator(FastOptions());
  aws::StaticCredentialsProvider wrong{aws::Credentials{kDefaultAccessKeyId, "not-the-secret", ""}};
  CallResult<ModelResponse> r =
      Client("us-east-1", &wrong).ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.http_status, 403);
  EXPECT_EQ(r.error().error.aws_code, "InvalidSignatureException");
  EXPECT_THAT(r.error().error.message,
              HasSubstr("The request signature we calculated does not match the signature you "
                        "provided."));
}

TEST_F(EmulatorTest, UnknownAccessKeyIsAnUnrecognizedClient) {
  StartEmulator(FastOptions());
  aws::StaticCredentialsProvider unknown{aws::Credentials{"AKIAUNKNOWN", "secret", ""}};
  CallResult<ModelResponse> r =
      Client("us-east-1", &unknown).ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.http_status, 403);
  EXPECT_EQ(r.error().error.aws_code, "UnrecognizedClientException");
  EXPECT_EQ(r.error().error.message, "The security token included in the request is invalid.");
}

TEST_F(EmulatorTest, SignatureOutsideTheSkewWindowHasExpired) {
  FakeClock emulator_clock;  // 2025-01-01: every signature made now is far in its future
  StartEmulator(FastOptions(), emulator_clock);
  CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.http_status, 403);
  EXPECT_EQ(r.error().error.aws_code, "InvalidSignatureException");
  EXPECT_THAT(r.error().error.message, HasSubstr("Signature"));
}

TEST_F(EmulatorTest, BearerKeyIsAcceptedAndAnUnknownOneRefused) {
  StartEmulator(FastOptions());
  CallResult<ModelResponse> ok =
      Client("us-east-1", nullptr, kDefaultBearerKey).ConverseSync({kHaiku, ConverseBody("hi")});
  EXPECT_TRUE(ok) << ok.error().error.ToString();
  CallResult<ModelResponse> refused =
      Client("us-east-1", nullptr, "ABSKnot-a-key").ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.http_status, 403);
}

TEST_F(EmulatorTest, BearerRequestIsServedInTheRegionItsHostNames) {
  StartEmulator(FastOptions());
  Result<aws::HttpRequest> request =
      bedrock::BuildConverse(emulator_->endpoint(), {kHaiku, ConverseBody("hi")});
  ASSERT_TRUE(request);
  request->headers.emplace_back("Host", "bedrock-runtime.eu-west-1.amazonaws.com");
  ASSERT_EQ(Raw(std::move(request)).status, 200);
  EXPECT_EQ(Key(std::string("eu-west-1/") + kHaiku).at("counters").at("admitted").as_int64(), 1);
}

TEST_F(EmulatorTest, RequestBeyondTheTokenQuotaIsThrottledAndCostsNothing) {
  EmulatorOptions options = FastOptions();
  options.quotas.on_demand.tokens_per_minute = 1000;
  StartEmulator(std::move(options));
  const std::string body = ConverseBody("hello", 400);  // reserves 4 + 400
  CallResult<ModelResponse> first = Client().ConverseSync({kHaiku, body});
  ASSERT_TRUE(first) << first.error().error.ToString();
  // The first settled to input + output = 4 + 40; 956 left, and the second reserves 404.
  CallResult<ModelResponse> second = Client().ConverseSync({kHaiku, body});
  ASSERT_TRUE(second);
  const std::string big = ConverseBody("hello", 4000);  // reserves 4004 > what is left
  CallResult<ModelResponse> third = Client().ConverseSync({kHaiku, big});
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().error.http_status, 429);
  EXPECT_EQ(third.error().error.aws_code, "ThrottlingException");
  EXPECT_EQ(third.error().error.message, "Too many tokens, please wait before trying again.");
  const json::object key = Key(std::string("us-east-1/") + kHaiku);
  EXPECT_EQ(key.at("tokens").at("used").as_int64(), 2 * (4 + kOutputTokens));
  EXPECT_EQ(key.at("counters").at("admitted").as_int64(), 2);
  EXPECT_EQ(key.at("counters").at("throttled_tokens_per_minute").as_int64(), 1);
}

TEST_F(EmulatorTest, OutputBurnsDownFiveTimesOnRecentClaude) {
  StartEmulator(FastOptions());
  CallResult<ModelResponse> r = Client().ConverseSync({kSonnet4Profile, ConverseBody("hello")});
  ASSERT_TRUE(r);
  const json::object key = Key(std::string("us-east-1/") + kSonnet4Profile);
  EXPECT_EQ(key.at("tokens").at("used").as_int64(), 4 + 5 * kOutputTokens);
  EXPECT_EQ(key.at("counters").at("reserved_tokens").as_int64(), 4 + 100);
}

TEST_F(EmulatorTest, EachRegionFromTheCredentialScopeHasItsOwnQuota) {
  EmulatorOptions options = FastOptions();
  options.quotas.on_demand.tokens_per_minute = 500;
  StartEmulator(std::move(options));
  const std::string body = ConverseBody("hello", 480);  // reserves 484, settles to 44
  ASSERT_TRUE(Client("us-east-1").ConverseSync({kHaiku, body}));
  EXPECT_FALSE(Client("us-east-1").ConverseSync({kHaiku, body}));  // 44 + 484 > 500
  ASSERT_TRUE(Client("us-west-2").ConverseSync({kHaiku, body}));
  EXPECT_EQ(Key(std::string("us-west-2/") + kHaiku).at("counters").at("admitted").as_int64(), 1);
}

// Steady time that moves only when told, for the books and fault timing; wall time the real one,
// so that the clients' SigV4 dates stay within the emulator's skew window.
class SteppedClock final : public Clock {
 public:
  SteadyTime Now() const override { return steady_.Now(); }
  WallTime WallNow() const override { return SystemClock().WallNow(); }
  void Advance(Duration d) { steady_.Advance(d); }

 private:
  FakeClock steady_;
};

TEST_F(EmulatorTest, FaultsHitOnlyTheirRegionsAndOnlyAfterTheirStart) {
  SteppedClock clock;
  EmulatorOptions options = FastOptions();
  options.faults.service_unavailable = 1.0;
  options.faults.regions = {"us-west-2"};
  options.faults.start_after = std::chrono::milliseconds(500);
  StartEmulator(std::move(options), clock);
  const std::string body = ConverseBody("hello", 20);
  EXPECT_TRUE(Client("us-west-2").ConverseSync({kHaiku, body})) << "before start_after";
  clock.Advance(std::chrono::milliseconds(499));
  EXPECT_TRUE(Client("us-west-2").ConverseSync({kHaiku, body})) << "just before start_after";
  clock.Advance(std::chrono::milliseconds(1));
  auto failed = Client("us-west-2").ConverseSync({kHaiku, body});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().error.http_status, 503);
  EXPECT_TRUE(Client("us-east-1").ConverseSync({kHaiku, body})) << "another region is healthy";
}

struct FaultCase {
  double FaultOptions::*probability;
  int status;
  const char* code;
};

TEST_F(EmulatorTest, ConfiguredFaultsAnswerWithTheirErrors) {
  const FaultCase cases[] = {
      {&FaultOptions::internal_error, 500, "InternalServerException"},
      {&FaultOptions::service_unavailable, 503, "ServiceUnavailableException"},
      {&FaultOptions::model_timeout, 408, "ModelTimeoutException"},
      {&FaultOptions::model_not_ready, 429, "ModelNotReadyException"},
  };
  for (const FaultCase& c : cases) {
    EmulatorOptions options = FastOptions();
    options.faults.*c.probability = 1.0;
    StartEmulator(std::move(options));
    CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody("hi")});
    ASSERT_FALSE(r) << c.code;
    EXPECT_EQ(r.error().error.http_status, c.status) << c.code;
    EXPECT_EQ(r.error().error.aws_code, c.code);
    EXPECT_EQ(State().at("faults").at("injected").as_int64(), 1) << c.code;
    clients_.clear();
    emulator_.reset();
  }
}

TEST_F(EmulatorTest, StalledResponseNeverAnswers) {
  EmulatorOptions options = FastOptions();
  options.faults.stalled_response = 1.0;
  StartEmulator(std::move(options));
  bedrock::RuntimeClientOptions client_options;
  client_options.endpoint = emulator_->endpoint();
  client_options.credentials = &default_credentials_;
  client_options.retry.max_attempts = 1;
  client_options.http.total_timeout = std::chrono::milliseconds(300);
  Result<std::unique_ptr<bedrock::RuntimeClient>> client =
      bedrock::RuntimeClient::Create(loop_, *http_, std::move(client_options));
  ASSERT_TRUE(client);
  CallResult<ModelResponse> r = (*client)->ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().error.message, HasSubstr("timed out"));
  client->reset();
}

TEST_F(EmulatorTest, ResetFaultClosesTheConnection) {
  EmulatorOptions options = FastOptions();
  options.faults.connection_reset = 1.0;
  StartEmulator(std::move(options));
  CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody("hi")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.http_status, 0);
}

TEST_F(EmulatorTest, MidStreamThrottleArrivesAfterTheResponseStartedAndKeepsTheReservation) {
  EmulatorOptions options = FastOptions();
  options.faults.stream_throttle = 1.0;
  StartEmulator(std::move(options));
  CallResult<ModelResponse> r =
      Client().ConverseStreamSync({kSonnet4Profile, ConverseBody("hello", 100)});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().response_started);
  EXPECT_THAT(r.error().error.message, HasSubstr("Too many tokens"));
  const json::object key = Key(std::string("us-east-1/") + kSonnet4Profile);
  EXPECT_EQ(key.at("tokens").at("used").as_int64(), 4 + 100);
}

TEST_F(EmulatorTest, LatencyModelDelaysTheResponse) {
  EmulatorOptions options = FastOptions();
  options.latency.time_to_first_token = std::chrono::milliseconds(100);
  options.latency.per_output_token = std::chrono::milliseconds(2);
  StartEmulator(std::move(options));
  const auto start = std::chrono::steady_clock::now();
  CallResult<ModelResponse> r = Client().ConverseSync({kHaiku, ConverseBody("hi")});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->latency_ms, 100 + 2 * kOutputTokens);
  EXPECT_GE(elapsed, std::chrono::milliseconds(100 + 2 * kOutputTokens));
}

TEST_F(EmulatorTest, ManyConcurrentCallsAreAllChargedExactlyOnce) {
  EmulatorOptions options = FastOptions();
  options.server.threads = 2;
  StartEmulator(std::move(options));
  bedrock::RuntimeClient& client = Client();
  constexpr int kCalls = 200;
  std::atomic<int> ok{0};
  std::vector<std::promise<void>> done(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    client.Converse({kHaiku, ConverseBody("call " + std::to_string(i % 7))},
                    [&ok, &done, i](const CallResult<ModelResponse>& r) {
                      if (r) ok.fetch_add(1);
                      done[static_cast<size_t>(i)].set_value();
                    });
  }
  for (auto& d : done) d.get_future().wait();
  EXPECT_EQ(ok.load(), kCalls);
  const json::object key = Key(std::string("us-east-1/") + kHaiku);
  EXPECT_EQ(key.at("counters").at("admitted").as_int64(), kCalls);
  EXPECT_EQ(key.at("counters").at("settled").as_int64(), kCalls);
  EXPECT_EQ(key.at("in_flight").as_int64(), 0);
}

}  // namespace
}  // namespace quotaflow::emulator
