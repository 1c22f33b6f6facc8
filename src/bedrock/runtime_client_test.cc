// RuntimeClient end to end: real HTTP to tests/replay_server.py, which checks each request's
// SigV4 signature (or bearer token) and answers with recordings of real Bedrock traffic.

#include "bedrock/runtime_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aws/test_process.h"
#include "aws/testdata.h"
#include "aws/uri.h"

namespace quotaflow::bedrock {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr std::string_view kAccessKey = "AKIDREPLAY";
constexpr std::string_view kSecret = "replay-secret";
constexpr std::string_view kBearer = "ABSKreplaytoken";
constexpr std::string_view kModel = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
constexpr auto kWait = std::chrono::seconds(60);  // generous: TSan on two shared cores

// tests/replay_server.py as a child process (see testing_util::Child): it prints its port and
// exits when its stdin closes. The destructor ends and reaps it.
class ReplayServer {
 public:
  static std::unique_ptr<ReplayServer> Start(const std::filesystem::path& testdata,
                                             std::string* error) {
    const std::optional<std::string> python = testing_util::FindProgram("python3");
    if (!python) {
      *error = "python3 not found on PATH";
      return nullptr;
    }
    std::unique_ptr<testing_util::Child> child = testing_util::Child::Spawn(
        {*python, std::string(QUOTAFLOW_SOURCE_DIR) + "/tests/replay_server.py", "--testdata",
         testdata.string(), "--access-key", std::string(kAccessKey), "--secret",
         std::string(kSecret), "--bearer", std::string(kBearer)},
        /*merge_stderr=*/false, error);
    if (child == nullptr) return nullptr;
    const std::optional<std::string> line = child->ReadLine(std::chrono::seconds(30));
    if (!line || !line->starts_with("PORT ")) {
      *error = "replay server did not start (" + line.value_or("no output") + ")";
      return nullptr;
    }
    return std::unique_ptr<ReplayServer>(
        new ReplayServer(std::move(child), std::stoi(line->substr(5))));
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  ReplayServer(std::unique_ptr<testing_util::Child> child, int port)
      : child_(std::move(child)), port_(port) {}

  std::unique_ptr<testing_util::Child> child_;
  int port_;
};

class RuntimeClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::optional<std::filesystem::path> testdata = testdata::FindDir("");
    if (!testdata || !testdata::FindDir("eventstream/bedrock-recorded") ||
        !testdata::FindDir("bedrock-fixtures")) {
      return;  // SetUp skips (or fails in CI)
    }
    std::string error;
    server_ = ReplayServer::Start(*testdata, &error).release();
    if (server_ == nullptr) start_error_ = new std::string(error);
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    QF_TESTDATA_DIR_OR_SKIP(recorded, "eventstream/bedrock-recorded");
    ASSERT_NE(server_, nullptr) << (start_error_ != nullptr ? *start_error_ : "no server");
    loop_.Start();
    http_ = std::make_unique<aws::HttpClient>(loop_);
    client_ = MakeClient(DefaultOptions());
  }

  void TearDown() override {
    client_.reset();
    http_.reset();
    loop_.Stop();
  }

  RuntimeClientOptions DefaultOptions() {
    RuntimeClientOptions options;
    options.endpoint = server_->endpoint();
    options.region = "us-east-1";
    options.credentials = &credentials_;
    options.http.version = aws::HttpVersionPolicy::kHttp1_1;
    // Short backoffs keep the retry tests fast; they still run on the loop's timers.
    options.retry.base_backoff = milliseconds(5);
    options.retry.max_backoff = milliseconds(20);
    options.jitter_seed = 42;
    return options;
  }

  std::unique_ptr<RuntimeClient> MakeClient(RuntimeClientOptions options) {
    Result<std::unique_ptr<RuntimeClient>> client =
        RuntimeClient::Create(loop_, *http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }

  // How many requests the server received for `model_id` and `op`.
  int Requests(std::string_view model_id, Operation op) {
    aws::HttpRequest request;
    request.url = server_->endpoint() +
                  "/__count?path=" + aws::UriEncode(ModelPath(model_id, op), /*encode_slash=*/true);
    Result<aws::HttpResponse> response = http_->SendSync(std::move(request));
    if (!response || response->status != 200) return -1;
    return static_cast<int>(boost::json::parse(response->body).at("count").to_number<int64_t>());
  }

  static ConverseRequest Converse(std::string model) {
    return {std::move(model),
            R"({"messages":[{"role":"user","content":[{"text":"Hello, how are you?"}]}],)"
            R"("inferenceConfig":{"maxTokens":100}})"};
  }

  static InvokeModelRequest Invoke(std::string model) {
    InvokeModelRequest request;
    request.model_id = std::move(model);
    request.body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":100,)"
                   R"("messages":[{"role":"user","content":"Hello, how are you?"}]})";
    return request;
  }

  static inline ReplayServer* server_ = nullptr;
  static inline std::string* start_error_ = nullptr;

  aws::EventLoop loop_{SystemClock()};
  aws::StaticCredentialsProvider credentials_{
      aws::Credentials{std::string(kAccessKey), std::string(kSecret), "session-token"}};
  std::unique_ptr<aws::HttpClient> http_;
  std::unique_ptr<RuntimeClient> client_;
};

TEST_F(RuntimeClientTest, ConverseReturnsTheRecordedUsage) {
  CallResult<ModelResponse> r = client_->ConverseSync(Converse(std::string(kModel)));
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->usage_source, UsageSource::kBody);
  EXPECT_EQ(r->usage.input_tokens, 13);
  EXPECT_EQ(r->usage.output_tokens, 35);
  EXPECT_EQ(r->stop, StopReason::kEndTurn);
  EXPECT_THAT(r->text, ::testing::StartsWith("Hello! As an AI language model"));
  EXPECT_EQ(r->latency_ms, 1071);
  EXPECT_EQ(r->request_id, "a0d610ed-fef1-41e8-b6c0-99c0cd96af0f");  // replayed header
  EXPECT_EQ(Requests(kModel, Operation::kConverse), 1);
}

TEST_F(RuntimeClientTest, ConverseStreamDeliversEventsOnTheLoopThreadThenUsage) {
  std::vector<StreamEventType> types;
  std::atomic<bool> off_loop{false};
  CallResult<ModelResponse> r = client_->ConverseStreamSync(
      Converse("stream." + std::string(kModel)), [&](const StreamEvent& event) {
        if (!loop_.IsLoopThread()) off_loop = true;
        types.push_back(event.type);
      });
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_FALSE(off_loop);
  ASSERT_EQ(types.size(), 16u);  // the recording's 16 frames
  EXPECT_EQ(types.front(), StreamEventType::kMessageStart);
  EXPECT_EQ(types.back(), StreamEventType::kMetadata);
  EXPECT_EQ(r->usage_source, UsageSource::kStream);
  EXPECT_EQ(r->usage.input_tokens, 13);
  EXPECT_EQ(r->usage.output_tokens, 35);
  EXPECT_EQ(r->text.size(), 130u);
  EXPECT_EQ(r->stop, StopReason::kEndTurn);
}

TEST_F(RuntimeClientTest, InvokeModelReadsTheTokenCountHeaders) {
  CallResult<ModelResponse> r = client_->InvokeModelSync(Invoke(std::string(kModel)));
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->usage_source, UsageSource::kHeaders);
  EXPECT_EQ(r->usage.input_tokens, 13);
  EXPECT_EQ(r->usage.output_tokens, 35);
  EXPECT_EQ(r->latency_ms, 1308);
  EXPECT_EQ(r->body_family, ModelFamily::kAnthropic);
  EXPECT_EQ(r->stop_reason, "end_turn");
}

TEST_F(RuntimeClientTest, InvokeModelWithResponseStreamSettlesOnInvocationMetrics) {
  int text_deltas = 0;
  CallResult<ModelResponse> r = client_->InvokeModelWithResponseStreamSync(
      Invoke(std::string(kModel)),
      [&](const StreamEvent& event) { text_deltas += event.type == StreamEventType::kTextDelta; });
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(text_deltas, 21);
  EXPECT_EQ(r->usage.input_tokens, 12);
  EXPECT_EQ(r->usage.output_tokens, 100);
  EXPECT_EQ(r->latency_ms, 3592);
  EXPECT_EQ(r->stop, StopReason::kMaxTokens);
}

TEST_F(RuntimeClientTest, CountTokens) {
  CountTokensRequest request;
  request.model_id = "anthropic.claude-sonnet-4-20250514-v1:0";
  request.body = Converse("").body;
  CallResult<CountTokensResponse> r = client_->CountTokensSync(request);
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->input_tokens, 11);
}

TEST_F(RuntimeClientTest, ThrottleIsReturnedAtOnceWithItsKind) {
  const std::string model = "throttled.converse";
  CallResult<ModelResponse> r = client_->ConverseSync(Converse(model));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kThrottled);
  EXPECT_EQ(r.error().error.throttle, ThrottleKind::kTokensPerMinute);
  EXPECT_EQ(r.error().error.http_status, 429);
  EXPECT_EQ(r.error().error.aws_code, "ThrottlingException");
  EXPECT_FALSE(r.error().response_started);  // nothing was charged: refund
  EXPECT_EQ(r.error().attempts, 1);
  EXPECT_EQ(Requests(model, Operation::kConverse), 1);

  CallResult<ModelResponse> stream = client_->ConverseStreamSync(Converse(model));
  ASSERT_FALSE(stream);
  EXPECT_EQ(stream.error().error.code, ErrorCode::kThrottled);
  EXPECT_FALSE(stream.error().response_started);
  EXPECT_EQ(Requests(model, Operation::kConverseStream), 1);
}

TEST_F(RuntimeClientTest, ServiceUnavailableIsRetriedToSuccess) {
  const std::string model = "flaky.converse";
  CallResult<ModelResponse> r = client_->ConverseSync(Converse(model));
  ASSERT_TRUE(r) << r.error().error.ToString();
  EXPECT_EQ(r->usage.output_tokens, 35);
  EXPECT_EQ(Requests(model, Operation::kConverse), 2);

  const std::string stream_model = "flaky.stream";
  CallResult<ModelResponse> stream = client_->ConverseStreamSync(Converse(stream_model));
  ASSERT_TRUE(stream) << stream.error().error.ToString();
  EXPECT_EQ(Requests(stream_model, Operation::kConverseStream), 2);
}

TEST_F(RuntimeClientTest, PersistentUnavailabilityGivesUpAfterMaxAttempts) {
  const std::string model = "unavailable.converse";
  CallResult<ModelResponse> r = client_->ConverseSync(Converse(model));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().attempts, 3);
  EXPECT_THAT(r.error().error.message, HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(Requests(model, Operation::kConverse), 3);
}

TEST_F(RuntimeClientTest, StreamCutAfterItsOkIsChargedAndNotRetried) {
  const std::string model = "cut.stream";
  int events = 0;
  CallResult<ModelResponse> r =
      client_->ConverseStreamSync(Converse(model), [&](const StreamEvent&) { ++events; });
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().response_started);
  EXPECT_THAT(r.error().error.message, HasSubstr("after HTTP 200"));
  EXPECT_GT(events, 0);
  EXPECT_LT(events, 16);
  EXPECT_EQ(Requests(model, Operation::kConverseStream), 1);
}

TEST_F(RuntimeClientTest, MidStreamThrottleIsChargedWithItsKind) {
  const std::string model = "midstream-throttle.stream";
  CallResult<ModelResponse> r = client_->ConverseStreamSync(Converse(model));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().response_started);
  EXPECT_EQ(r.error().error.code, ErrorCode::kThrottled);
  EXPECT_EQ(r.error().error.throttle, ThrottleKind::kRequestsPerMinute);
  EXPECT_EQ(Requests(model, Operation::kConverseStream), 1);

  CallResult<ModelResponse> invoke = client_->InvokeModelWithResponseStreamSync(Invoke(model));
  ASSERT_FALSE(invoke);
  EXPECT_TRUE(invoke.error().response_started);
  // Anthropic's message_start had already reported the input tokens.
  EXPECT_EQ(invoke.error().partial_usage.value_or(Usage{}).input_tokens, 12);
  EXPECT_TRUE(invoke.error().partial_usage.has_value());
}

TEST_F(RuntimeClientTest, ValidationErrorsAreNotRetried) {
  const std::string model = "invalid.model";
  CallResult<ModelResponse> r = client_->InvokeModelSync(Invoke(model));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().error.aws_code, "ValidationException");
  EXPECT_EQ(r.error().error.message, "The provided model identifier is invalid.");
  EXPECT_EQ(Requests(model, Operation::kInvokeModel), 1);
}

TEST_F(RuntimeClientTest, BearerTokenAuthorizes) {
  RuntimeClientOptions options = DefaultOptions();
  options.credentials = nullptr;
  options.bearer_token = std::string(kBearer);
  std::unique_ptr<RuntimeClient> bearer = MakeClient(options);
  CallResult<ModelResponse> r = bearer->ConverseSync(Converse("bearer.model"));
  ASSERT_TRUE(r) << r.error().error.ToString();

  options.bearer_token = "ABSKwrong";
  std::unique_ptr<RuntimeClient> wrong = MakeClient(options);
  CallResult<ModelResponse> denied = wrong->ConverseSync(Converse("bearer.model"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().error.code, ErrorCode::kAuth);
  EXPECT_EQ(denied.error().error.http_status, 403);
}

TEST_F(RuntimeClientTest, ABadSignatureIsRejectedByTheServer) {
  aws::StaticCredentialsProvider wrong_secret(
      aws::Credentials{std::string(kAccessKey), "not-the-secret", ""});
  RuntimeClientOptions options = DefaultOptions();
  options.credentials = &wrong_secret;
  std::unique_ptr<RuntimeClient> client = MakeClient(options);
  CallResult<ModelResponse> r = client->ConverseSync(Converse("badsig.model"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kAuth);
  EXPECT_EQ(r.error().error.aws_code, "InvalidSignatureException");
  EXPECT_EQ(r.error().attempts, 1);
}

TEST_F(RuntimeClientTest, CancelStopsAPendingRetry) {
  RuntimeClientOptions options = DefaultOptions();
  options.retry.base_backoff = std::chrono::seconds(30);  // the retry waits on a loop timer
  options.retry.max_backoff = std::chrono::seconds(30);
  options.jitter_seed = 7;
  std::unique_ptr<RuntimeClient> client = MakeClient(options);
  std::promise<CallResult<ModelResponse>> done;
  const std::string model = "unavailable.cancel";
  CallHandle handle = client->Converse(
      Converse(model), [&](CallResult<ModelResponse> r) { done.set_value(std::move(r)); });
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (Requests(model, Operation::kConverse) < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));  // polling the server, not timing the client
  }
  handle.Cancel();
  std::future<CallResult<ModelResponse>> future = done.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  CallResult<ModelResponse> r = future.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kCancelled);
  EXPECT_FALSE(r.error().response_started);
  EXPECT_EQ(Requests(model, Operation::kConverse), 1);
}

TEST_F(RuntimeClientTest, DestroyingTheClientCompletesPendingCalls) {
  RuntimeClientOptions options = DefaultOptions();
  options.retry.base_backoff = std::chrono::seconds(30);
  options.retry.max_backoff = std::chrono::seconds(30);
  options.jitter_seed = 7;
  std::unique_ptr<RuntimeClient> client = MakeClient(options);
  std::promise<CallResult<ModelResponse>> done;
  const std::string model = "unavailable.destroy";
  client->Converse(Converse(model),
                   [&](CallResult<ModelResponse> r) { done.set_value(std::move(r)); });
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (Requests(model, Operation::kConverse) < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  // The 503 may reach the client before the destructor or while it runs; either way the call
  // ends with kCancelled (CI once saw the second order end with the 503 itself).
  client.reset();
  std::future<CallResult<ModelResponse>> future = done.get_future();
  ASSERT_EQ(future.wait_for(milliseconds(0)), std::future_status::ready);
  EXPECT_EQ(future.get().error().error.code, ErrorCode::kCancelled);
}

TEST_F(RuntimeClientTest, BadRequestsFailOnTheLoopThread) {
  std::promise<std::pair<bool, CallResult<ModelResponse>>> done;
  client_->Converse(Converse(""), [&](CallResult<ModelResponse> r) {
    done.set_value({loop_.IsLoopThread(), std::move(r)});
  });
  auto [on_loop, r] = done.get_future().get();
  EXPECT_TRUE(on_loop);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, ErrorCode::kInvalidArgument);
}

TEST(RuntimeClientCreate, RejectsOptionsWithoutExactlyOneAuth) {
  aws::EventLoop loop(SystemClock());
  loop.Start();  // ~HttpClient needs a running (or stopped) loop
  aws::HttpClient http(loop);
  aws::StaticCredentialsProvider credentials(aws::Credentials{"AKID", "secret", ""});
  RuntimeClientOptions options;
  options.endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com";
  EXPECT_FALSE(RuntimeClient::Create(loop, http, options));
  options.credentials = &credentials;
  options.bearer_token = "ABSK";
  EXPECT_FALSE(RuntimeClient::Create(loop, http, options));
  options.bearer_token.clear();
  EXPECT_TRUE(RuntimeClient::Create(loop, http, options));
  options.endpoint = "bedrock-runtime.us-east-1.amazonaws.com";
  EXPECT_FALSE(RuntimeClient::Create(loop, http, options));
}

}  // namespace
}  // namespace quotaflow::bedrock
