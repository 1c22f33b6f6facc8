#include "aws/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aws/test_process.h"
#include "aws/testdata.h"

namespace quotaflow::aws {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::Child;
using testing_util::ClosedPort;
using testing_util::FindProgram;
using testing_util::ListeningPort;
using testing_util::TempDir;

// Generous: the suite also runs under ThreadSanitizer on two shared cores.
constexpr auto kWait = seconds(60);

// Collects the result of one request and how often on_complete ran.
class Completion {
 public:
  HttpClient::CompletionCallback Callback() {
    return [this](Result<HttpResponse> result) {
      on_loop_thread_ = loop_thread_check_ ? loop_thread_check_() : true;
      if (calls_.fetch_add(1) == 0) promise_.set_value(std::move(result));
    };
  }
  void CheckLoopThread(EventLoop& loop) {
    loop_thread_check_ = [&loop] { return loop.IsLoopThread(); };
  }
  Result<HttpResponse> Get() {
    if (future_.wait_for(kWait) != std::future_status::ready) {
      return tl::unexpected(Error::Internal("test: no completion within the wait"));
    }
    return future_.get();
  }
  int calls() const { return calls_.load(); }
  bool on_loop_thread() const { return on_loop_thread_; }

 private:
  std::promise<Result<HttpResponse>> promise_;
  std::future<Result<HttpResponse>> future_ = promise_.get_future();
  std::atomic<int> calls_{0};
  std::function<bool()> loop_thread_check_;
  bool on_loop_thread_ = false;
};

// Runs a no-op through the loop and waits for it: whatever the loop had queued before has run.
void Drain(EventLoop& loop) {
  std::promise<void> done;
  ASSERT_TRUE(loop.Post([&done] { done.set_value(); }));
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
}

HttpRequest Get(std::string url) {
  HttpRequest request;
  request.url = std::move(url);
  return request;
}

// A missing tool skips a developer's run but fails CI, where scripts/setup installs it.
#define QF_SKIP_OR_FAIL(message)                                                         \
  do {                                                                                   \
    if (::quotaflow::testdata::RunningInCi()) GTEST_FAIL() << (message) << " (CI=true)"; \
    GTEST_SKIP() << (message);                                                           \
  } while (false)

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 against tests/http_test_server.py.

class HttpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_error_ = new std::string();
    const std::optional<std::string> python = FindProgram("python3");
    if (!python) {
      *server_error_ = "python3 not found in PATH; the HTTP/1.1 tests need it for their server";
      return;
    }
    const std::string script = QUOTAFLOW_SOURCE_DIR "/tests/http_test_server.py";
    server_ = Child::Spawn({*python, script}, /*merge_stderr=*/false, server_error_).release();
    if (server_ == nullptr) return;
    const std::optional<std::string> line = server_->ReadLine(seconds(30));
    if (!line || !line->starts_with("PORT ")) {
      *server_error_ = "tests/http_test_server.py did not report its port";
      delete server_;
      server_ = nullptr;
      return;
    }
    port_ = std::stoi(line->substr(5));
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete server_error_;
    server_error_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) QF_SKIP_OR_FAIL(*server_error_);
    loop_.Start();
  }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // TCP connections the server has accepted so far, counting the one this call opens to ask.
  static int ServerConnections() {
    EventLoop loop(SystemClock());
    loop.Start();
    HttpClient client(loop);
    Result<HttpResponse> response = client.SendSync(Get(Url("/connections")));
    return response ? std::stoi(response->body) : -1000;
  }

  static inline Child* server_ = nullptr;
  static inline std::string* server_error_ = nullptr;
  static inline int port_ = 0;

  EventLoop loop_{SystemClock()};
  HttpClient client_{loop_};  // declared after loop_: destroyed before it
};

TEST_F(HttpClientTest, GetReturnsStatusHeadersAndBody) {
  Result<HttpResponse> response = client_.SendSync(Get(Url("/hello")));
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(FindHeader(response->headers, "content-type"), "text/plain");
  EXPECT_EQ(response->version, HttpVersion::kHttp1_1);
  EXPECT_EQ(response->connections_opened, 1);
}

TEST_F(HttpClientTest, PostSendsHeadersInOrderAndBodyAsGiven) {
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url("/echo?q=1");
  request.headers = {{"X-First", "1"},
                     {"Content-Type", "application/json"},
                     {"X-Empty", ""},
                     {"X-Last", "last value"}};
  request.body = R"({"prompt":"hi"})";
  Result<HttpResponse> response = client_.SendSync(request);
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  const std::string& echo = response->body;
  EXPECT_THAT(echo, ::testing::StartsWith("POST /echo?q=1\n"));
  const size_t first = echo.find("X-First: 1\n");
  const size_t type = echo.find("Content-Type: application/json\n");
  const size_t empty = echo.find("X-Empty: \n");
  const size_t last = echo.find("X-Last: last value\n");
  ASSERT_NE(first, std::string::npos) << echo;
  ASSERT_NE(type, std::string::npos) << echo;
  ASSERT_NE(empty, std::string::npos) << echo;
  ASSERT_NE(last, std::string::npos) << echo;
  EXPECT_LT(first, type);
  EXPECT_LT(type, empty);
  EXPECT_LT(empty, last);
  EXPECT_THAT(echo, HasSubstr("Content-Length: 15\n"));
  // Nothing the caller did not ask for (SigV4 signed exactly these headers).
  EXPECT_THAT(echo, Not(HasSubstr("Accept:")));
  EXPECT_THAT(echo, Not(HasSubstr("Expect:")));
  EXPECT_THAT(echo, Not(HasSubstr("urlencoded")));
  EXPECT_THAT(echo, ::testing::EndsWith("\n\n{\"prompt\":\"hi\"}"));
  // Response headers: case-insensitive lookup, duplicates kept in order.
  EXPECT_EQ(FindHeader(response->headers, "x-echo-method"), "POST");
  std::vector<std::string> multi;
  for (const auto& [name, value] : response->headers) {
    if (name == "X-Multi") multi.push_back(value);
  }
  EXPECT_EQ(multi, (std::vector<std::string>{"a", "b"}));
}

TEST_F(HttpClientTest, PutPatchDeleteAndHeadUseTheirMethods) {
  for (HttpMethod method : {HttpMethod::kPut, HttpMethod::kPatch, HttpMethod::kDelete}) {
    HttpRequest request;
    request.method = method;
    request.url = Url("/echo");
    request.body = method == HttpMethod::kDelete ? "" : "payload";
    Result<HttpResponse> response = client_.SendSync(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_THAT(response->body, ::testing::StartsWith(std::string(HttpMethodName(method)) + " "));
    EXPECT_THAT(response->body, ::testing::EndsWith("\n\n" + request.body));
  }
  HttpRequest head = Get(Url("/hello"));
  head.method = HttpMethod::kHead;
  Result<HttpResponse> response = client_.SendSync(head);
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(FindHeader(response->headers, "Content-Length"), "5");
  EXPECT_EQ(response->body, "");
}

TEST_F(HttpClientTest, ErrorStatusIsAResponseNotATransportError) {
  Result<HttpResponse> response = client_.SendSync(Get(Url("/status/503")));
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "status 503");
}

TEST_F(HttpClientTest, SequentialRequestsReuseOneKeepAliveConnection) {
  const int before = ServerConnections();
  int opened = 0;
  for (int i = 0; i < 5; ++i) {
    Result<HttpResponse> response = client_.SendSync(Get(Url("/hello")));
    ASSERT_TRUE(response) << response.error().ToString();
    opened += response->connections_opened;
  }
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(ServerConnections() - before - 1, 1);  // less the probe's own connection
}

TEST_F(HttpClientTest, StreamingCallbackGetsChunksInOrderAfterTheHeaders) {
  std::vector<std::string> chunks;  // loop thread only until the completion
  int status_seen = 0;
  bool data_before_headers = false;
  bool off_loop_thread = false;
  RequestOptions options;
  options.on_headers = [&](int status, const HttpHeaders& headers) {
    status_seen = status;
    off_loop_thread |= !loop_.IsLoopThread();
    EXPECT_EQ(FindHeader(headers, "Transfer-Encoding"), "chunked");
  };
  options.on_data = [&](std::string_view chunk) {
    data_before_headers |= status_seen == 0;
    off_loop_thread |= !loop_.IsLoopThread();
    chunks.emplace_back(chunk);
  };
  Result<HttpResponse> response =
      client_.SendSync(Get(Url("/chunked?count=5&delay_ms=20")), options);
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(status_seen, 200);
  EXPECT_FALSE(data_before_headers);
  EXPECT_FALSE(off_loop_thread);
  EXPECT_GE(chunks.size(), 2u);  // the server pauses between chunks: they arrive apart
  std::string joined;
  for (const std::string& chunk : chunks) joined += chunk;
  EXPECT_EQ(joined, "chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;");
  EXPECT_EQ(response->body, "");  // streamed, not buffered
}

TEST_F(HttpClientTest, ReadTimeoutEndsAStalledResponseAsRetryableUnavailable) {
  RequestOptions options;
  options.read_timeout = milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = client_.SendSync(Get(Url("/stall?ms=30000")), options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_TRUE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("read timeout"));
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, seconds(20));
}

TEST_F(HttpClientTest, ReadTimeoutIsMeasuredOnTheLoopClock) {
  FakeClock clock;
  EventLoop loop(clock);
  loop.Start();
  HttpClient client(loop);
  // Wait for all 10 bytes the server sends before it stalls, so that no byte lands after the
  // clock moved (that would restart the silence).
  std::promise<void> stalled;
  size_t received = 0;  // loop thread only
  RequestOptions options;
  options.read_timeout = seconds(30);
  options.on_data = [&](std::string_view chunk) {
    received += chunk.size();
    if (received == 10) stalled.set_value();
  };
  Completion completion;
  client.Send(Get(Url("/stall?ms=30000")), options, completion.Callback());
  ASSERT_EQ(stalled.get_future().wait_for(kWait), std::future_status::ready);

  // 29 s of silence: a timer armed now at the same instant fires after any due read timer.
  clock.Advance(seconds(29));
  std::promise<void> sentinel;
  loop.RunAt(clock.Now(), [&sentinel] { sentinel.set_value(); });
  ASSERT_EQ(sentinel.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(completion.calls(), 0);

  clock.Advance(seconds(1));
  loop.Wakeup();
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_THAT(response.error().message, HasSubstr("read timeout"));
}

TEST_F(HttpClientTest, TotalTimeoutIsRetryableUnavailable) {
  RequestOptions options;
  options.total_timeout = milliseconds(200);
  Result<HttpResponse> response = client_.SendSync(Get(Url("/delay?ms=30000")), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_TRUE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("timed out"));
}

TEST_F(HttpClientTest, ConnectionRefusedIsRetryableUnavailableWithoutSecrets) {
  ClosedPort closed;
  HttpRequest request = Get("http://127.0.0.1:" + std::to_string(closed.port()) + "/x?sig=abc");
  request.headers = {{"Authorization", "AWS4-HMAC-SHA256 Credential=top-secret-key"}};
  Result<HttpResponse> response = client_.SendSync(request);
  ASSERT_FALSE(response);
  const Error& error = response.error();
  EXPECT_EQ(error.code, ErrorCode::kUnavailable) << error.ToString();
  EXPECT_TRUE(error.retryable);
  EXPECT_THAT(error.message, HasSubstr("connect"));
  EXPECT_THAT(error.message, HasSubstr("GET http://127.0.0.1:"));
  EXPECT_THAT(error.message, Not(HasSubstr("top-secret")));
  EXPECT_THAT(error.message, Not(HasSubstr("sig=abc")));
}

TEST_F(HttpClientTest, HeaderValueWithLineBreakIsRejectedWithoutEchoingIt) {
  HttpRequest request = Get(Url("/hello"));
  request.headers = {{"Authorization", "secret-token\r\nX-Injected: 1"}};
  Result<HttpResponse> response = client_.SendSync(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(response.error().message, HasSubstr("Authorization"));
  EXPECT_THAT(response.error().message, Not(HasSubstr("secret-token")));
}

TEST_F(HttpClientTest, UnsupportedSchemeIsInvalidArgument) {
  Result<HttpResponse> response = client_.SendSync(Get("file:///etc/passwd"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument) << response.error().ToString();
}

TEST_F(HttpClientTest, BodyOverTheLimitIsAProtocolError) {
  RequestOptions options;
  options.max_response_bytes = 3;
  Result<HttpResponse> response = client_.SendSync(Get(Url("/hello")), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kProtocol) << response.error().ToString();
}

TEST_F(HttpClientTest, CancelEndsAnInFlightRequestOnceWithCancelled) {
  std::promise<void> headers;
  RequestOptions options;
  options.on_headers = [&headers](int, const HttpHeaders&) { headers.set_value(); };
  Completion completion;
  completion.CheckLoopThread(loop_);
  RequestHandle handle = client_.Send(Get(Url("/stall?ms=30000")), options, completion.Callback());
  ASSERT_EQ(headers.get_future().wait_for(kWait), std::future_status::ready);
  handle.Cancel();
  handle.Cancel();  // twice: still one completion
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kCancelled) << response.error().ToString();
  Drain(loop_);
  EXPECT_EQ(completion.calls(), 1);
  EXPECT_TRUE(completion.on_loop_thread());
}

TEST_F(HttpClientTest, CancelRightAfterSendCompletesWithCancelled) {
  Completion completion;
  client_.Send(Get(Url("/delay?ms=30000")), {}, completion.Callback()).Cancel();
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kCancelled);
}

TEST_F(HttpClientTest, CancelAfterCompletionDoesNothing) {
  Completion completion;
  RequestHandle handle = client_.Send(Get(Url("/hello")), {}, completion.Callback());
  ASSERT_TRUE(completion.Get());
  handle.Cancel();
  RequestHandle().Cancel();  // an empty handle too
  Drain(loop_);
  EXPECT_EQ(completion.calls(), 1);
}

TEST_F(HttpClientTest, CancelFromOnDataStopsFurtherData) {
  int chunks = 0;  // loop thread only
  RequestHandle handle;
  std::promise<void> sent;
  std::shared_future<void> handle_ready = sent.get_future().share();
  RequestOptions options;
  options.on_data = [&](std::string_view) {
    handle_ready.wait();
    ++chunks;
    handle.Cancel();
  };
  Completion completion;
  handle = client_.Send(Get(Url("/chunked?count=10&delay_ms=20")), options, completion.Callback());
  sent.set_value();
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(chunks, 1);
}

TEST_F(HttpClientTest, SendFromCallbacksChainsRequests) {
  // on_data runs inside curl; on_complete outside it. Both may start new requests.
  Completion last;
  std::vector<std::string> bodies;  // loop thread only
  RequestOptions streaming;
  streaming.on_data = [&](std::string_view chunk) {
    if (bodies.empty()) {
      client_.Send(Get(Url("/hello")), {}, [&](const Result<HttpResponse>& second) {
        bodies.push_back(second ? second->body : second.error().ToString());
        client_.Send(Get(Url("/status/204")), {}, last.Callback());
      });
    }
    bodies.emplace_back(chunk);
  };
  client_.Send(Get(Url("/chunked?count=1")), streaming, [](const Result<HttpResponse>&) {});
  Result<HttpResponse> response = last.Get();
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 204);
  EXPECT_EQ(bodies, (std::vector<std::string>{"chunk-0;", "hello"}));
}

TEST_F(HttpClientTest, ThousandConcurrentRequestsCompleteOnTheOneLoopThread) {
  EventLoop::Options pool;
  pool.max_host_connections = 16;  // the python server runs a thread per connection
  EventLoop loop(SystemClock(), pool);
  loop.Start();
  HttpClient client(loop);
  const int before = ServerConnections();

  constexpr int kRequests = 1000;
  std::atomic<int> ok{0};
  std::atomic<int> off_loop_thread{0};
  std::atomic<int> done{0};
  std::promise<void> all_done;
  for (int i = 0; i < kRequests; ++i) {
    client.Send(Get(Url("/hello")), {}, [&](Result<HttpResponse> response) {
      if (!loop.IsLoopThread()) off_loop_thread.fetch_add(1);
      if (response && response->status == 200 && response->body == "hello") ok.fetch_add(1);
      if (done.fetch_add(1) + 1 == kRequests) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_EQ(off_loop_thread.load(), 0);
  EXPECT_LE(ServerConnections() - before - 1, 16);
}

TEST_F(HttpClientTest, SendAfterTheLoopStoppedCompletesWithCancelledOnTheCaller) {
  EventLoop loop(SystemClock());
  loop.Start();
  loop.Stop();
  HttpClient client(loop);
  Completion completion;
  client.Send(Get(Url("/hello")), {}, completion.Callback());
  EXPECT_EQ(completion.calls(), 1);  // before Send returned
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kCancelled);
}

TEST_F(HttpClientTest, DestroyingTheClientCancelsRequestsInFlight) {
  Completion completion;
  {
    HttpClient client(loop_);
    std::promise<void> headers;
    RequestOptions options;
    options.on_headers = [&headers](int, const HttpHeaders&) { headers.set_value(); };
    client.Send(Get(Url("/stall?ms=30000")), options, completion.Callback());
    ASSERT_EQ(headers.get_future().wait_for(kWait), std::future_status::ready);
  }
  EXPECT_EQ(completion.calls(), 1);  // before the destructor returned
  Result<HttpResponse> response = completion.Get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kCancelled);
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 against nghttpd (Debian's nghttp2-server), h2c with prior knowledge and h2 over TLS.

class Http2ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = new SuiteState();
    const std::optional<std::string> nghttpd = FindProgram("nghttpd");
    if (!nghttpd) {
      state_->error = "nghttpd not found in PATH (Debian package nghttp2-server)";
      return;
    }
    if (!state_->dir.ok()) {
      state_->error = "mkdtemp failed";
      return;
    }
    const std::string dir = state_->dir.path();
    state_->dir.Write("hello", "hello over h2");

    state_->h2c = StartNghttpd({*nghttpd, "--no-tls", "-a", "127.0.0.1", "-d", dir, "0"},
                               &state_->h2c_port, &state_->error);
    if (state_->h2c == nullptr) return;

    const std::optional<std::string> openssl = FindProgram("openssl");
    if (!openssl) {
      state_->tls_error = "openssl not found in PATH; it makes the TLS test's certificate";
      return;
    }
    const std::string key = state_->dir.path() / "key.pem";
    state_->cert = state_->dir.path() / "cert.pem";
    std::unique_ptr<Child> req = Child::Spawn(
        {*openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", state_->cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"},
        /*merge_stderr=*/true, &state_->tls_error);
    if (req == nullptr) return;
    if (auto [status, output] = req->Wait(); status != 0) {
      state_->tls_error = "openssl req failed: " + output;
      return;
    }
    state_->tls = StartNghttpd({*nghttpd, "-a", "127.0.0.1", "-d", dir, "0", key, state_->cert},
                               &state_->tls_port, &state_->tls_error);
  }

  static void TearDownTestSuite() {
    delete state_;
    state_ = nullptr;
  }

  static std::unique_ptr<Child> StartNghttpd(const std::vector<std::string>& argv, int* port,
                                             std::string* error) {
    std::unique_ptr<Child> child = Child::Spawn(argv, /*merge_stderr=*/false, error);
    if (child == nullptr) return nullptr;
    std::optional<int> listening = ListeningPort(*child, seconds(30));
    if (!listening) {
      *error = "nghttpd did not start listening";
      return nullptr;
    }
    *port = *listening;
    return child;
  }

  void SetUp() override {
    if (state_->h2c == nullptr) QF_SKIP_OR_FAIL(state_->error);
    loop_.Start();
  }

  static std::string H2cUrl(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(state_->h2c_port) + path;
  }
  static std::string TlsUrl(const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(state_->tls_port) + path;
  }

  struct SuiteState {
    std::string error;
    std::string tls_error;
    TempDir dir{"quotaflow-h2"};  // declared before the servers: removed after they stop
    std::filesystem::path cert;
    std::unique_ptr<Child> h2c;
    std::unique_ptr<Child> tls;
    int h2c_port = 0;
    int tls_port = 0;
  };
  static inline SuiteState* state_ = nullptr;

  EventLoop loop_{SystemClock()};
  HttpClient client_{loop_};
};

TEST_F(Http2ClientTest, PriorKnowledgeH2cResponseComesOverHttp2) {
  RequestOptions options;
  options.version = HttpVersionPolicy::kHttp2PriorKnowledge;
  Result<HttpResponse> response = client_.SendSync(Get(H2cUrl("/hello")), options);
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->version, HttpVersion::kHttp2);
  EXPECT_EQ(response->body, "hello over h2");
  EXPECT_EQ(FindHeader(response->headers, "Content-Length"), "13");
}

TEST_F(Http2ClientTest, PriorKnowledgeH2cRequestsOneAfterAnotherAllSucceed) {
  RequestOptions options;
  options.version = HttpVersionPolicy::kHttp2PriorKnowledge;
  int opened = 0;
  for (int i = 0; i < 5; ++i) {
    Result<HttpResponse> response = client_.SendSync(Get(H2cUrl("/hello")), options);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->version, HttpVersion::kHttp2);
    opened += response->connections_opened;
  }
  // libcurl 7.x cannot reuse a prior-knowledge connection (curl #10634): one each, but no failure.
  const bool curl_reuses = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
  EXPECT_EQ(opened, curl_reuses ? 1 : 5);
}

TEST_F(Http2ClientTest, ConcurrentRequestsMultiplexOverOneTlsConnection) {
  if (state_->tls == nullptr) QF_SKIP_OR_FAIL(state_->tls_error);
  constexpr int kRequests = 50;
  RequestOptions options;  // kHttp2Tls by default
  options.ca_file = state_->cert;
  std::vector<std::unique_ptr<Completion>> completions;
  for (int i = 0; i < kRequests; ++i) {
    completions.push_back(std::make_unique<Completion>());
    client_.Send(Get(TlsUrl("/hello")), options, completions.back()->Callback());
  }
  int opened = 0;
  for (auto& completion : completions) {
    Result<HttpResponse> response = completion->Get();
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->version, HttpVersion::kHttp2);
    EXPECT_EQ(response->body, "hello over h2");
    opened += response->connections_opened;
  }
  EXPECT_EQ(opened, 1);
}

TEST_F(Http2ClientTest, TlsAlpnNegotiatesHttp2) {
  if (state_->tls == nullptr) QF_SKIP_OR_FAIL(state_->tls_error);
  RequestOptions options;  // kHttp2Tls by default
  options.ca_file = state_->cert;
  Result<HttpResponse> response = client_.SendSync(Get(TlsUrl("/hello")), options);
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->version, HttpVersion::kHttp2);
  EXPECT_EQ(response->body, "hello over h2");
}

TEST_F(Http2ClientTest, UntrustedCertificateIsRejectedAndNotRetryable) {
  if (state_->tls == nullptr) QF_SKIP_OR_FAIL(state_->tls_error);
  Result<HttpResponse> response = client_.SendSync(Get(TlsUrl("/hello")), {});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument) << response.error().ToString();
  EXPECT_FALSE(response.error().retryable);
}

}  // namespace
}  // namespace quotaflow::aws
