#include "server/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aws/event_loop.h"
#include "aws/http.h"
#include "aws/http_client.h"

namespace quotaflow::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Generous: the suite also runs under ThreadSanitizer on two shared cores.
constexpr auto kWait = seconds(60);

// Waits for `condition`, polling; false if it did not hold within `timeout`.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// A blocking TCP client for what libcurl will not send: pipelined and malformed requests.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { Close(); }

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() const { shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Everything until the server closes (or `timeout`); `eof` says whether it closed.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout = kWait, bool* eof = nullptr) {
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd fd{fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[16384];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (eof != nullptr) *eof = true;
        return received;
      }
      received.append(buffer, static_cast<size_t>(n));
    }
    if (eof != nullptr) *eof = false;
    return received;
  }

  // Reads until `received` contains `needle` (or the server closes, or `timeout`).
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffered_.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd fd{fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[16384];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      buffered_.append(buffer, static_cast<size_t>(n));
    }
    return buffered_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffered_;
};

size_t CountOf(const std::string& haystack, std::string_view needle) {
  size_t count = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

ServerResponse Text(int status, std::string body) {
  ServerResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/plain");
  response.body = std::move(body);
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_.Start(); }

  // Starts a server with `handler`; the test fails if it cannot.
  HttpServer& StartServer(HttpServer::Handler handler,
                          HttpServer::Options options = HttpServer::Options()) {
    server_ = std::make_unique<HttpServer>(std::move(options), std::move(handler));
    const Status started = server_->Start();
    EXPECT_TRUE(started) << started.error().ToString();
    EXPECT_NE(server_->port(), 0);
    return *server_;
  }

  std::string Url(std::string_view target) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + std::string(target);
  }

  aws::HttpRequest Get(std::string_view target) const {
    aws::HttpRequest request;
    request.url = Url(target);
    return request;
  }

  static aws::RequestOptions Http11() {
    aws::RequestOptions options;
    options.version = aws::HttpVersionPolicy::kHttp1_1;
    return options;
  }

  // Declared first: destroyed last, after the client and its loop.
  std::unique_ptr<HttpServer> server_;
  aws::EventLoop loop_{SystemClock()};
  aws::HttpClient client_{loop_};  // declared after loop_: destroyed before it
};

TEST_F(HttpServerTest, RoundTripKeepsRawTargetHeadersAndBody) {
  std::mutex mu;
  std::optional<ServerRequest> seen;  // guarded by mu
  StartServer([&](const ServerRequest& request, const Responder& responder) {
    {
      std::lock_guard lock(mu);
      seen = request;
    }
    ServerResponse response = Text(201, "echo:" + request.body);
    response.headers.emplace_back("X-Amzn-RequestId", "abc-123");
    response.headers.emplace_back("X-Multi", "one");
    response.headers.emplace_back("X-Multi", "two");
    EXPECT_TRUE(responder.Respond(std::move(response)));
  });

  aws::HttpRequest request;
  request.method = aws::HttpMethod::kPost;
  request.url = Url("/model/anthropic.claude-3%3A0/invoke?a=b%2Fc&z=%20");
  request.headers = {{"Content-Type", "application/json"},
                     {"X-Amz-Date", "20250101T000000Z"},
                     {"x-lower", "Mixed Case Value"}};
  request.body = std::string("{\"prompt\":\"hi\"}\0tail", 20);
  Result<aws::HttpResponse> response = client_.SendSync(request, Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "echo:" + request.body);
  EXPECT_EQ(aws::FindHeader(response->headers, "x-amzn-requestid"), "abc-123");
  EXPECT_EQ(aws::FindHeader(response->headers, "Content-Length"),
            std::to_string(5 + request.body.size()));
  int multi = 0;
  for (const auto& [name, value] : response->headers) multi += name == "X-Multi" ? 1 : 0;
  EXPECT_EQ(multi, 2);

  std::lock_guard lock(mu);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->method, "POST");
  EXPECT_EQ(seen->target, "/model/anthropic.claude-3%3A0/invoke?a=b%2Fc&z=%20");
  EXPECT_EQ(seen->version, 11);
  EXPECT_EQ(seen->body, request.body);
  EXPECT_THAT(seen->remote_address, StartsWith("127.0.0.1:"));
  EXPECT_EQ(FindHeader(seen->headers, "content-type"), "application/json");
  EXPECT_EQ(FindHeader(seen->headers, "X-LOWER"), "Mixed Case Value");
  // Wire order and name case are kept.
  std::vector<std::string> names;
  for (const auto& [name, value] : seen->headers) names.push_back(name);
  const auto content_type = std::find(names.begin(), names.end(), "Content-Type");
  const auto amz_date = std::find(names.begin(), names.end(), "X-Amz-Date");
  const auto lower = std::find(names.begin(), names.end(), "x-lower");
  ASSERT_NE(lower, names.end());
  EXPECT_LT(content_type, amz_date);
  EXPECT_LT(amz_date, lower);
}

TEST_F(HttpServerTest, KeepAliveServesSequentialRequestsOnOneConnection) {
  std::mutex mu;
  std::vector<std::string> remotes;  // guarded by mu
  StartServer([&](const ServerRequest& request, const Responder& responder) {
    {
      std::lock_guard lock(mu);
      remotes.push_back(request.remote_address);
    }
    responder.Respond(Text(200, request.target));
  });
  for (int i = 0; i < 5; ++i) {
    Result<aws::HttpResponse> response = client_.SendSync(Get("/n/" + std::to_string(i)), Http11());
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->body, "/n/" + std::to_string(i));
    if (i > 0) {
      EXPECT_EQ(response->connections_opened, 0);
    }
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(remotes.size(), 5u);
  for (const std::string& remote : remotes) EXPECT_EQ(remote, remotes.front());
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpServer* server = nullptr;
  server = &StartServer([&](const ServerRequest& request, const Responder& responder) {
    // The first request is answered last: order must still be kept on the wire.
    const auto delay = request.target == "/1" ? milliseconds(150) : milliseconds(0);
    server->RunAfter(delay, [responder, target = request.target] {
      responder.Respond(Text(200, "body" + target));
    });
  });
  RawConnection connection(server->port());
  ASSERT_TRUE(connection.connected());
  ASSERT_TRUE(connection.Send(
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"));
  bool eof = false;
  const std::string received = connection.ReadUntilClosed(kWait, &eof);
  EXPECT_TRUE(eof) << "Connection: close on the last request closes the connection";
  EXPECT_EQ(CountOf(received, "HTTP/1.1 200 OK"), 3u) << received;
  const size_t one = received.find("body/1");
  const size_t two = received.find("body/2");
  const size_t three = received.find("body/3");
  ASSERT_NE(three, std::string::npos) << received;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_THAT(received.substr(two), HasSubstr("Connection: close"));
}

TEST_F(HttpServerTest, ResponseFromAnotherThread) {
  std::mutex mu;
  std::vector<std::thread> workers;  // guarded by mu
  StartServer([&](const ServerRequest& request, const Responder& responder) {
    std::lock_guard lock(mu);
    workers.emplace_back([responder, body = request.body] {
      std::this_thread::sleep_for(milliseconds(20));
      EXPECT_TRUE(responder.Respond(Text(200, "worker:" + body)));
      EXPECT_FALSE(responder.Respond(Text(500, "second reply")));  // the first reply wins
    });
  });
  aws::HttpRequest request = Get("/work");
  request.method = aws::HttpMethod::kPost;
  request.body = "job";
  Result<aws::HttpResponse> response = client_.SendSync(request, Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "worker:job");
  std::lock_guard lock(mu);
  for (std::thread& worker : workers) worker.join();
}

TEST_F(HttpServerTest, DelayedResponseThroughTheServerTimer) {
  HttpServer* server = nullptr;
  server = &StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    EXPECT_TRUE(
        server->RunAfter(milliseconds(150), [responder] { responder.Respond(Text(200, "late")); }));
  });
  // One I/O thread and a delayed response: a second request is served meanwhile, so the delay
  // holds no thread.
  std::promise<Result<aws::HttpResponse>> first;
  const auto start = std::chrono::steady_clock::now();
  client_.Send(Get("/slow"), Http11(),
               [&](Result<aws::HttpResponse> response) { first.set_value(std::move(response)); });
  Result<aws::HttpResponse> second = client_.SendSync(Get("/slow2"), Http11());
  Result<aws::HttpResponse> response = first.get_future().get();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response) << response.error().ToString();
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(response->body, "late");
  EXPECT_GE(elapsed, milliseconds(150));
  EXPECT_LT(elapsed, milliseconds(150) * 2 + seconds(10));
}

TEST_F(HttpServerTest, StreamedResponseDeliversPacedChunksInOrder) {
  constexpr int kChunks = 20;
  static constexpr auto kSpacing = milliseconds(10);
  std::atomic<int> received{0};             // on_data calls so far
  std::atomic<bool> first_was_seen{false};  // by the client, before the second chunk was sent
  HttpServer* server = nullptr;
  server = &StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ResponseStream stream = responder.StartStream(
        200, {{"Content-Type", "application/vnd.amazon.eventstream"}, {"X-Amzn-RequestId", "s1"}});
    // A chain of timers, one chunk every 10 ms, like the emulator's paced event stream.
    // The function holds itself weakly (a strong self-reference would leak the stream, and with
    // it the session); each pending timer holds it strongly.
    auto next = std::make_shared<std::function<void(int)>>();
    const auto patience = std::chrono::steady_clock::now() + kWait;
    *next = [server, stream, &received, &first_was_seen, patience,
             weak = std::weak_ptr(next)](int i) {
      if (i == kChunks) {
        stream.Finish();
        return;
      }
      if (i == 1) {
        // Streamed, not buffered until the end: the second chunk waits (on the server's timers,
        // however slow the machine) until the client has the first.
        if (received.load() == 0 && std::chrono::steady_clock::now() < patience) {
          server->RunAfter(milliseconds(2), [self = weak.lock(), i] { (*self)(i); });
          return;
        }
        first_was_seen = received.load() > 0;
      }
      EXPECT_TRUE(stream.Send("chunk-" + std::to_string(i) + ";"));
      server->RunAfter(kSpacing, [self = weak.lock(), i] { (*self)(i + 1); });
    };
    (*next)(0);
    EXPECT_FALSE(responder.Respond(Text(200, "too late")));  // a stream was already chosen
  });
  std::vector<std::string> chunks;  // loop thread only until the completion
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  aws::RequestOptions options = Http11();
  options.on_headers = [&](int status, const aws::HttpHeaders& headers) {
    EXPECT_EQ(status, 200);
    EXPECT_EQ(aws::FindHeader(headers, "Transfer-Encoding"), "chunked");
    EXPECT_EQ(aws::FindHeader(headers, "Content-Type"), "application/vnd.amazon.eventstream");
    EXPECT_EQ(aws::FindHeader(headers, "Content-Length"), std::nullopt);
  };
  options.on_data = [&](std::string_view chunk) {
    chunks.emplace_back(chunk);
    arrivals.push_back(std::chrono::steady_clock::now());
    ++received;
  };
  const auto request_start = std::chrono::steady_clock::now();
  Result<aws::HttpResponse> response = client_.SendSync(Get("/stream"), options);
  ASSERT_TRUE(response) << response.error().ToString();
  std::string joined;
  std::string expected;
  for (const std::string& chunk : chunks) joined += chunk;
  for (int i = 0; i < kChunks; ++i) expected += "chunk-" + std::to_string(i) + ";";
  EXPECT_EQ(joined, expected);
  ASSERT_GE(chunks.size(), 2u);  // paced: they arrive apart, not in one piece at the end
  EXPECT_TRUE(first_was_seen) << "the first chunk reached the client only after the second left";
  // The last chunk left (kChunks - 1) spacings after the first, itself sent after the request: a
  // bound no stall can break.
  EXPECT_GE(arrivals.back() - request_start, (kChunks - 1) * kSpacing);
  // The connection is reusable after a finished stream.
  Result<aws::HttpResponse> again = client_.SendSync(Get("/stream"), Http11());
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->connections_opened, 0);
  EXPECT_EQ(again->body, expected);
}

TEST_F(HttpServerTest, StreamSendFailsOnceTheClientHasGone) {
  std::promise<ResponseStream> started;
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    started.set_value(responder.StartStream(200, {{"Content-Type", "text/plain"}}));
  });
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.Send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n"));
  ResponseStream stream = started.get_future().get();
  EXPECT_THAT(connection.ReadUntil("\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  connection.Close();
  // The server learns of the hang-up from its read (EOF) or from a failed write.
  EXPECT_TRUE(WaitFor([&] { return !stream.Send("ping"); }));
  EXPECT_TRUE(stream.closed());
  EXPECT_FALSE(stream.Finish());
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, SlowConsumerOverflowingTheStreamBufferIsCut) {
  HttpServer::Options options;
  options.max_stream_buffer_bytes = size_t{64} << 10;
  std::promise<ResponseStream> started;
  StartServer(
      [&](const ServerRequest& /*request*/, const Responder& responder) {
        started.set_value(responder.StartStream(200, {}));
      },
      options);
  RawConnection connection(server_->port());  // connects, asks, and never reads
  ASSERT_TRUE(connection.Send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n"));
  ResponseStream stream = started.get_future().get();
  const std::string chunk(size_t{16} << 10, 'x');
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) refused = !stream.Send(chunk);
  EXPECT_TRUE(refused) << "the bounded queue must refuse a client that does not read";
  EXPECT_LE(stream.queued_bytes(), options.max_stream_buffer_bytes + chunk.size());
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, AbandonedStreamIsTruncatedNotCompleted) {
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ResponseStream stream = responder.StartStream(200, {});
    stream.Send("partial");
    // Every handle dropped without Finish.
  });
  Result<aws::HttpResponse> response = client_.SendSync(Get("/cut"), Http11());
  ASSERT_FALSE(response) << "a stream without its terminating chunk must not look complete";
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
}

TEST_F(HttpServerTest, OversizedBodyGets413) {
  HttpServer::Options options;
  options.max_body_bytes = 1024;
  std::atomic<int> handled{0};
  StartServer(
      [&](const ServerRequest& /*request*/, const Responder& responder) {
        ++handled;
        responder.Respond(Text(200, "ok"));
      },
      options);

  // Announced by Content-Length: refused before the body is read.
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.Send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"));
  bool eof = false;
  const std::string received = connection.ReadUntilClosed(kWait, &eof);
  EXPECT_THAT(received, StartsWith("HTTP/1.1 413 Payload Too Large\r\n"));
  EXPECT_THAT(received, HasSubstr("Connection: close"));
  EXPECT_TRUE(eof);

  // Sent in full by libcurl, which is still uploading when the 413 arrives: the lingering close
  // lets it read the answer instead of a reset.
  aws::HttpRequest big = Get("/big");
  big.method = aws::HttpMethod::kPost;
  big.body = std::string(size_t{4} << 20, 'b');
  Result<aws::HttpResponse> response = client_.SendSync(big, Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 413);

  // At the limit: accepted.
  big.body = std::string(1024, 'b');
  response = client_.SendSync(big, Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(HttpServerTest, ChunkedRequestBodyIsDecodedAndLimited) {
  HttpServer::Options options;
  options.max_body_bytes = 16;
  StartServer(
      [&](const ServerRequest& request, const Responder& responder) {
        responder.Respond(Text(200, "[" + request.body + "]"));
      },
      options);
  RawConnection ok(server_->port());
  ASSERT_TRUE(ok.Send(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  EXPECT_THAT(ok.ReadUntilClosed(), HasSubstr("[hello world]"));
  RawConnection big(server_->port());
  ASSERT_TRUE(
      big.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n"));
  EXPECT_THAT(big.ReadUntilClosed(), StartsWith("HTTP/1.1 413"));
}

TEST_F(HttpServerTest, MalformedRequestGets400AndAClose) {
  std::atomic<int> handled{0};
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ++handled;
    responder.Respond(Text(200, "ok"));
  });
  for (const std::string garbage :
       {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n"}) {
    RawConnection connection(server_->port());
    ASSERT_TRUE(connection.Send(garbage));
    bool eof = false;
    const std::string received = connection.ReadUntilClosed(kWait, &eof);
    EXPECT_THAT(received, StartsWith("HTTP/1.1 400 Bad Request\r\n")) << garbage;
    EXPECT_TRUE(eof) << garbage;
  }
  // A good request before the garbage on the same connection is still answered, first.
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nNONSENSE\r\n\r\n"));
  const std::string received = connection.ReadUntilClosed();
  EXPECT_THAT(received, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(received, HasSubstr("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  HttpServer::Options options;
  options.max_header_bytes = 1024;
  StartServer([&](const ServerRequest& /*r*/,
                  const Responder& responder) { responder.Respond(Text(200, "")); },
              options);
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(2048, 'h') + "\r\n\r\n"));
  EXPECT_THAT(connection.ReadUntilClosed(), StartsWith("HTTP/1.1 431"));
}

TEST_F(HttpServerTest, IdleConnectionIsClosedAfterTheReadTimeout) {
  HttpServer::Options options;
  options.read_timeout = milliseconds(200);
  StartServer([&](const ServerRequest& /*r*/,
                  const Responder& responder) { responder.Respond(Text(200, "")); },
              options);
  const auto start = std::chrono::steady_clock::now();
  RawConnection idle(server_->port());
  bool eof = false;
  EXPECT_EQ(idle.ReadUntilClosed(kWait, &eof), "") << "an idle connection is closed silently";
  EXPECT_TRUE(eof);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));

  // Half a request: 408, then a close.
  RawConnection partial(server_->port());
  ASSERT_TRUE(partial.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
  EXPECT_THAT(partial.ReadUntilClosed(kWait, &eof), StartsWith("HTTP/1.1 408 Request Timeout"));
  EXPECT_TRUE(eof);
  partial.Close();  // ends the server's lingering read at once
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, SlowHandlerIsNotCutByTheReadTimeout) {
  HttpServer::Options options;
  // The handler answers three times the read timeout later; the timeout is a second so that a
  // slow machine's delay in delivering the request itself cannot trip it.
  options.read_timeout = seconds(1);
  HttpServer* server = nullptr;
  server = &StartServer(
      [&](const ServerRequest& /*r*/, const Responder& responder) {
        server->RunAfter(seconds(3), [responder] { responder.Respond(Text(200, "done")); });
      },
      options);
  Result<aws::HttpResponse> response = client_.SendSync(Get("/slow"), Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->body, "done");
}

TEST_F(HttpServerTest, ResetIsSeenByTheClientAsAConnectionError) {
  StartServer(
      [&](const ServerRequest& /*request*/, const Responder& responder) { responder.Reset(); });
  Result<aws::HttpResponse> response = client_.SendSync(Get("/reset"), Http11());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_TRUE(response.error().retryable);
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, ResetMidStream) {
  HttpServer* server = nullptr;
  server = &StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ResponseStream stream = responder.StartStream(200, {});
    stream.Send("first");
    server->RunAfter(milliseconds(50), [stream] { stream.Reset(); });
  });
  std::string received;
  aws::RequestOptions options = Http11();
  options.on_data = [&](std::string_view chunk) { received += chunk; };
  Result<aws::HttpResponse> response = client_.SendSync(Get("/reset"), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_EQ(received, "first");
}

TEST_F(HttpServerTest, StalledRequestEndsInTheClientReadTimeout) {
  std::atomic<int> stalls{0};
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ++stalls;
    responder.Stall();
  });
  aws::RequestOptions options = Http11();
  options.read_timeout = seconds(1);
  Result<aws::HttpResponse> response = client_.SendSync(Get("/stall"), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().ToString();
  EXPECT_THAT(response.error().message, HasSubstr("timed out"));
  // The server thread counts it; the client may have given up before that thread ran.
  EXPECT_TRUE(WaitFor([&] { return stalls.load() >= 1; }));
  EXPECT_EQ(stalls.load(), 1);
  // The client gave up and closed: the server notices and frees the connection.
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, DroppedResponderAnswers500) {
  StartServer([&](const ServerRequest& /*request*/, const Responder& /*responder*/) {});
  Result<aws::HttpResponse> response = client_.SendSync(Get("/forgot"), Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 500);
}

TEST_F(HttpServerTest, InvalidResponseHeaderBecomes500) {
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    ServerResponse response = Text(200, "x");
    response.headers.emplace_back("X-Injected", "a\r\nSet-Cookie: evil");
    responder.Respond(std::move(response));
  });
  Result<aws::HttpResponse> response = client_.SendSync(Get("/bad"), Http11());
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(aws::FindHeader(response->headers, "Set-Cookie"), std::nullopt);
}

TEST_F(HttpServerTest, HeadResponseHasNoBodyAndHttp10ClosesByDefault) {
  StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    responder.Respond(Text(200, "twelve bytes"));
  });
  RawConnection head(server_->port());
  ASSERT_TRUE(head.Send("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string received = head.ReadUntilClosed();
  EXPECT_THAT(received, HasSubstr("Content-Length: 12\r\n"));
  EXPECT_EQ(received.substr(received.find("\r\n\r\n") + 4), "");

  RawConnection old(server_->port());
  ASSERT_TRUE(old.Send("GET / HTTP/1.0\r\n\r\n"));
  bool eof = false;
  EXPECT_THAT(old.ReadUntilClosed(kWait, &eof), HasSubstr("twelve bytes"));
  EXPECT_TRUE(eof);
}

TEST_F(HttpServerTest, GracefulStopFinishesTheRequestInFlight) {
  std::promise<void> arrived;
  HttpServer* server = nullptr;
  server = &StartServer([&](const ServerRequest& /*request*/, const Responder& responder) {
    server->RunAfter(milliseconds(300), [responder] { responder.Respond(Text(200, "finished")); });
    arrived.set_value();
  });
  RawConnection idle(server->port());  // an idle keep-alive connection: closed at once
  std::promise<Result<aws::HttpResponse>> done;
  client_.Send(Get("/inflight"), Http11(),
               [&](Result<aws::HttpResponse> response) { done.set_value(std::move(response)); });
  arrived.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  Result<aws::HttpResponse> response = done.get_future().get();
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "finished");
  EXPECT_EQ(aws::FindHeader(response->headers, "Connection"), "close");
  EXPECT_LT(elapsed, seconds(8)) << "Stop returns once the last response is out, not at grace";
  bool eof = false;
  idle.ReadUntilClosed(seconds(5), &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(server->open_connections(), 0u);
  // No longer listening.
  Result<aws::HttpResponse> refused = client_.SendSync(Get("/after"), Http11());
  EXPECT_FALSE(refused);
  EXPECT_FALSE(server->Post([] {}));
  server->Stop();  // idempotent
}

TEST_F(HttpServerTest, StopClosesAStalledConnectionAfterTheGracePeriod) {
  HttpServer::Options options;
  options.stop_grace = milliseconds(200);
  std::promise<void> arrived;
  std::atomic<bool> timer_ran{false};
  HttpServer* server = nullptr;
  server = &StartServer(
      [&](const ServerRequest& /*request*/, const Responder& responder) {
        responder.Stall();
        server->RunAfter(seconds(3600), [&] { timer_ran = true; });
        arrived.set_value();
      },
      options);
  RawConnection connection(server->port());
  ASSERT_TRUE(connection.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  arrived.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  bool eof = false;
  connection.ReadUntilClosed(seconds(5), &eof);
  EXPECT_TRUE(eof);
  EXPECT_FALSE(timer_ran.load()) << "a pending RunAfter callback is dropped by Stop";
  EXPECT_FALSE(server->RunAfter(milliseconds(1), [] {}));
}

TEST_F(HttpServerTest, StartReportsABusyPortAsAnError) {
  StartServer([](const ServerRequest& /*r*/, const Responder& responder) {
    responder.Respond(Text(200, ""));
  });
  HttpServer::Options options;
  options.port = server_->port();
  HttpServer second(options, [](const ServerRequest& /*r*/, const Responder& /*responder*/) {});
  const Status started = second.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kIo);
  EXPECT_THAT(started.error().message, HasSubstr(std::to_string(server_->port())));

  HttpServer::Options bad;
  bad.address = "not an address";
  HttpServer third(bad, [](const ServerRequest& /*r*/, const Responder& /*responder*/) {});
  const Status bad_start = third.Start();
  ASSERT_FALSE(bad_start);
  EXPECT_EQ(bad_start.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  HttpServer::Options options;
  options.max_connections = 2;
  StartServer([](const ServerRequest& /*r*/,
                 const Responder& responder) { responder.Respond(Text(200, "")); },
              options);
  RawConnection a(server_->port());
  RawConnection b(server_->port());
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 2; }));
  RawConnection c(server_->port());
  bool eof = false;
  c.ReadUntilClosed(kWait, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(server_->open_connections(), 2u);
}

// Raises the soft file-descriptor limit to `wanted` if the hard limit allows; false otherwise.
bool EnsureFileDescriptors(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST_F(HttpServerTest, ThousandConcurrentConnectionsAreServed) {
  constexpr int kConnections = 1000;
  if (!EnsureFileDescriptors(rlim_t{3} * kConnections)) GTEST_SKIP() << "RLIMIT_NOFILE too low";
  HttpServer::Options options;
  options.threads = 2;
  std::mutex mu;
  std::vector<Responder> waiting;  // guarded by mu
  StartServer(
      [&](const ServerRequest& request, const Responder& responder) {
        std::vector<Responder> ready;
        {
          std::lock_guard lock(mu);
          waiting.push_back(responder);
          // Nobody is answered before all are in: proof that they are in flight together.
          if (waiting.size() == kConnections) ready.swap(waiting);
        }
        for (const Responder& r : ready) r.Respond(Text(200, "ok"));
        (void)request;
      },
      options);
  std::atomic<int> ok{0};
  std::atomic<int> finished{0};
  std::promise<void> all_done;
  for (int i = 0; i < kConnections; ++i) {
    client_.Send(Get("/c/" + std::to_string(i)), Http11(), [&](Result<aws::HttpResponse> r) {
      if (r && r->status == 200 && r->body == "ok") ++ok;
      if (++finished == kConnections) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(seconds(120)), std::future_status::ready);
  EXPECT_EQ(ok.load(), kConnections);
}

// Measures the heap an idle keep-alive connection costs on the server (the figure quoted in
// http_server.h). Meaningful only with glibc's allocator, so not under the sanitizers.
TEST_F(HttpServerTest, IdleConnectionsAreCheap) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers replace malloc";
#else
  constexpr int kConnections = 500;
  if (!EnsureFileDescriptors(rlim_t{3} * kConnections)) GTEST_SKIP() << "RLIMIT_NOFILE too low";
  StartServer([](const ServerRequest& /*r*/, const Responder& responder) {
    responder.Respond(Text(200, ""));
  });
  // Warm up the allocator's and Asio's caches with one connection first.
  { RawConnection warm(server_->port()); }
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  const size_t before = mallinfo2().uordblks;
  std::vector<std::unique_ptr<RawConnection>> connections;
  connections.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<RawConnection>(server_->port()));
  }
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == kConnections; }));
  std::this_thread::sleep_for(milliseconds(100));  // every session has armed its read
  const size_t after = mallinfo2().uordblks;
  const double per_connection = (static_cast<double>(after) - before) / kConnections;
  RecordProperty("heap_bytes_per_idle_connection", static_cast<int>(per_connection));
  std::printf("heap per idle connection: %.0f bytes\n", per_connection);
  EXPECT_LT(per_connection, 8 * 1024);
#endif
}

}  // namespace
}  // namespace quotaflow::server
