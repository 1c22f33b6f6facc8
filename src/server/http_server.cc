#include "server/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/check.h"

namespace quotaflow::server {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using SteadyPoint = std::chrono::steady_clock::time_point;

namespace {

// A read buffer that grew beyond this for a large request is given back once the request is
// parsed, so that an idle connection holds only the 512 bytes Beast reads with.
constexpr size_t kIdleBufferBytes = 4096;
// After the last response on a connection that we close (413, 400, 408, Connection: close) we
// shut down our sending side and read and discard what the client still sends for this long:
// closing a socket with unread input makes the kernel send RST, which can destroy the error
// response before the client has read it (a client still uploading a too-large body).
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = size_t{64} << 20;
// Wait before accepting again after accept failed for lack of file descriptors; retrying at once
// would spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    start = end + 1;
  }
  return false;
}

// RFC 9110 token characters, for header names.
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Header values must not smuggle a line break (response splitting) or a NUL.
bool IsFieldValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsServerOwnedField(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection");
}

bool StatusAllowsBody(int status) { return status >= 200 && status != 204 && status != 304; }

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

bool IsHttpParseError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// Routine ways for a client to go away; not worth a log line.
bool IsPeerHangup(const error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == http::error::end_of_stream;
}

ServerResponse ErrorResponse(int status, std::string_view message) {
  ServerResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  response.body = "{\"message\":\"" + std::string(message) + "\"}";
  return response;
}

}  // namespace

namespace internal {

class Session;

// One request's place in its connection's response order.
struct Exchange {
  // Set when the request is parsed, then read-only.
  int version = 11;
  bool head_request = false;

  // Any thread.
  std::atomic<bool> replied{false};          // Respond, StartStream, Reset or Stall was chosen
  std::atomic<bool> streaming{false};        // StartStream was chosen
  std::atomic<bool> stream_finished{false};  // Finish was called, or the stream was abandoned
  std::atomic<size_t> queued_bytes{0};       // stream payload handed to Send, not yet written

  // The session's strand only.
  std::vector<std::string> out;  // serialized bytes waiting for the socket
  size_t out_payload = 0;        // stream payload bytes inside `out`
  bool complete = false;         // `out` holds the response's last bytes
  bool close_after = false;      // close the connection once this response is written
  bool stalled = false;
  bool chunked = false;
};

// The server's shared state. Owned by HttpServer and by every Session (a session may outlive the
// HttpServer while a handler still holds its Responder); io_ is the first member so that it is
// destroyed last, after every socket and timer.
class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(HttpServer::Options options, HttpServer::Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  const HttpServer::Options& options() const { return options_; }

  Status Start();
  void Stop();
  uint16_t port() const { return port_.load(std::memory_order_acquire); }
  size_t open_connections() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

  // Posts `fn` to `executor` unless Stop has passed its grace period. Once Stop has closed this
  // gate nothing new enters the io_context, so the I/O threads run out of work and exit, and no
  // handler is left queued holding a session (which holds this core: a leak).
  template <typename Executor, typename Fn>
  bool PostGated(const Executor& executor, Fn&& fn) {
    posting_.fetch_add(1, std::memory_order_seq_cst);
    const bool open = !stopped_.load(std::memory_order_seq_cst);
    if (open) net::post(executor, std::forward<Fn>(fn));
    posting_.fetch_sub(1, std::memory_order_seq_cst);
    return open;
  }
  bool Post(std::function<void()> fn) { return PostGated(io_.get_executor(), std::move(fn)); }
  bool RunAfter(Duration delay, std::function<void()> fn);

  // Session strand: hands a parsed request to the handler.
  void Dispatch(ServerRequest request, std::shared_ptr<Reply> reply);
  // Session strand: the session's socket is closed; it leaves the registry.
  void OnSessionClosed(Session* session);
  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }
  bool draining() const {
    std::lock_guard lock(mu_);
    return draining_;
  }

 private:
  void DoAccept();
  void OnAccept(error_code ec, tcp::socket socket);

  net::io_context io_;
  const HttpServer::Options options_;
  const HttpServer::Handler handler_;
  tcp::acceptor acceptor_{net::make_strand(io_)};  // acceptor strand only, once started
  net::steady_timer accept_retry_{acceptor_.get_executor()};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;  // stop_mu_
  std::vector<std::thread> threads_;                                              // stop_mu_
  std::atomic<uint16_t> port_{0};

  std::mutex stop_mu_;  // serializes Start and Stop
  bool started_ = false;
  bool stop_done_ = false;  // guarded by stop_mu_

  std::atomic<bool> stopped_{false};  // the PostGated gate is closed
  std::atomic<int> posting_{0};       // PostGated calls between their check and their post

  mutable std::mutex mu_;
  std::condition_variable sessions_closed_;                        // sessions_ became empty
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // open sessions; mu_
  bool draining_ = false;                                          // Stop has begun; mu_

  std::mutex timers_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<net::steady_timer>> timers_;  // timers_mu_
  uint64_t next_timer_id_ = 1;                                               // timers_mu_
};

// One connection. Everything but the atomics runs on the strand of the socket's executor; other
// threads reach the session only through Post. Kept alive by its pending operations and by the
// Replies of its outstanding requests.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ServerCore> core, tcp::socket socket)
      : core_(std::move(core)),
        socket_(std::move(socket)),
        strand_(socket_.get_executor()),
        timer_(strand_) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (!closed_) core_->OnSessionClosed(this);
  }

  void Run() {
    net::dispatch(strand_, [self = shared_from_this()] { self->OnStart(); });
  }

  // Any thread.
  template <typename Fn>
  bool Post(Fn&& fn) {
    return core_->PostGated(strand_, std::forward<Fn>(fn));
  }
  // Any thread; bypasses the gate (Stop's own work).
  template <typename Fn>
  void PostInternal(Fn&& fn) {
    net::post(strand_, std::forward<Fn>(fn));
  }
  bool closing() const { return closing_.load(std::memory_order_acquire); }
  size_t max_stream_buffer_bytes() const { return core_->options().max_stream_buffer_bytes; }

  // Strand only: the reply operations, posted by Responder and ResponseStream.
  void OnRespond(const std::shared_ptr<Exchange>& exchange, ServerResponse response);
  void OnStartStream(const std::shared_ptr<Exchange>& exchange, int status, const Headers& headers);
  void OnStreamChunk(const std::shared_ptr<Exchange>& exchange, const std::string& chunk);
  void OnFinishStream(const std::shared_ptr<Exchange>& exchange, bool abandoned);
  void OnStall(const std::shared_ptr<Exchange>& exchange);
  // Strand only: closes abortively (RST).
  void Abort();
  // Strand only: Stop has begun. Idle connections close now, busy ones after their responses.
  void Drain();

 private:
  void OnStart();
  void DoRead();
  void OnRead(error_code ec, size_t bytes);
  void DoWrite();
  void OnWrite(error_code ec, size_t bytes);
  void DoLinger();
  void OnLinger(error_code ec, size_t bytes);
  void UpdateTimer();
  void OnTimer(error_code ec);

  // Queues a response the server itself makes (413, 400, 408) and closes after it.
  void EnqueueError(int status, std::string_view message);
  // Serializes the status line and header fields into exchange.out. Returns false, writing
  // nothing, if a header would corrupt the framing (the caller then sends a 500).
  bool SerializeHead(Exchange& exchange, int status, const Headers& headers,
                     std::optional<size_t> content_length);
  // Ends the connection after the last response: shut down sending, then drain input briefly.
  void CloseGracefully();
  void Close();
  void Fail(error_code ec, const char* what);

  // First member, destroyed last: the io_context must outlive the socket and timer.
  const std::shared_ptr<ServerCore> core_;
  tcp::socket socket_;
  const net::any_io_executor strand_;
  net::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // Requests in order, oldest (the one being answered) first. A vector, not a deque: an empty
  // deque allocates ~600 bytes, and most connections hold zero or one request.
  std::vector<std::shared_ptr<Exchange>> pending_;
  std::vector<std::string> write_batch_;  // the bytes async_write is sending
  std::vector<net::const_buffer> write_buffers_;
  size_t write_batch_payload_ = 0;
  std::string remote_;
  SteadyPoint idle_since_{};
  SteadyPoint write_started_{};
  SteadyPoint linger_until_{};
  std::optional<SteadyPoint> timer_deadline_;  // what timer_ waits for, if armed
  size_t lingered_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool stop_reading_ = false;  // no further request is read (close pending, EOF, Stop)
  bool timed_out_ = false;     // a read timeout's 408 is on its way
  bool peer_eof_ = false;      // the client closed its sending side
  bool draining_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  std::atomic<bool> closing_{false};  // any thread: the connection takes no more output
};

// The shared state behind Responder and ResponseStream.
class Reply {
 public:
  Reply(std::shared_ptr<Session> session, std::shared_ptr<Exchange> exchange)
      : session_(std::move(session)), exchange_(std::move(exchange)) {}
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  // The last handle is gone: a request nobody answered gets a 500, an unfinished stream is cut.
  ~Reply() {
    if (!exchange_->replied.exchange(true)) {
      session_->Post([session = session_, exchange = exchange_] {
        session->OnRespond(exchange, ErrorResponse(500, "the handler returned without a response"));
      });
    } else if (exchange_->streaming.load() && !exchange_->stream_finished.exchange(true)) {
      session_->Post([session = session_, exchange = exchange_] {
        session->OnFinishStream(exchange, /*abandoned=*/true);
      });
    }
  }

  const std::shared_ptr<Session>& session() const { return session_; }
  const std::shared_ptr<Exchange>& exchange() const { return exchange_; }

 private:
  const std::shared_ptr<Session> session_;
  const std::shared_ptr<Exchange> exchange_;
};

// ---- Session ----

void Session::OnStart() {
  error_code ec;
  const tcp::endpoint remote = socket_.remote_endpoint(ec);
  if (ec) {  // the client is already gone
    Close();
    return;
  }
  remote_ = FormatEndpoint(remote);
  if (core_->draining()) {
    Close();
    return;
  }
  DoRead();
}

void Session::DoRead() {
  if (closed_ || lingering_ || reading_ || stop_reading_ ||
      pending_.size() >= core_->options().max_pipelined) {
    return;
  }
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(core_->options().max_header_bytes));
  parser_->body_limit(core_->options().max_body_bytes);
  reading_ = true;
  if (pending_.empty()) idle_since_ = std::chrono::steady_clock::now();
  http::async_read(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, size_t bytes) { self->OnRead(ec, bytes); });
  UpdateTimer();
}

void Session::OnRead(error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (ec == net::error::operation_aborted || closed_) return;
  if (lingering_) {  // the last response is out; whatever arrived is discarded
    if (ec) {
      Close();
    } else {
      DoLinger();
    }
    return;
  }
  if (timed_out_) return;  // the 408 is being written; its completion closes

  if (ec == http::error::end_of_stream) {  // the client closed between requests
    stop_reading_ = true;
    peer_eof_ = true;
    // Still answer what was asked (a client may half-close after its last request), unless the
    // head is stalled and would never be answered.
    if (pending_.empty() || pending_.front()->stalled) Close();
    return;
  }
  if (ec == http::error::body_limit) {
    EnqueueError(
        413, "request body exceeds " + std::to_string(core_->options().max_body_bytes) + " bytes");
    return;
  }
  if (ec == http::error::header_limit) {
    EnqueueError(431, "request header exceeds " +
                          std::to_string(core_->options().max_header_bytes) + " bytes");
    return;
  }
  if (ec == http::error::partial_message) {  // the client hung up mid-request
    Close();
    return;
  }
  if (IsHttpParseError(ec)) {
    EnqueueError(400, "malformed HTTP request: " + ec.message());
    return;
  }
  if (ec) {
    Fail(ec, "read");
    Close();
    return;
  }

  http::request<http::string_body> message = parser_->release();
  parser_.reset();
  if (buffer_.size() == 0 && buffer_.capacity() > kIdleBufferBytes) buffer_.shrink_to_fit();

  auto exchange = std::make_shared<Exchange>();
  exchange->version = static_cast<int>(message.version());
  exchange->head_request = message.method() == http::verb::head;
  if (!message.keep_alive() || draining_) {
    exchange->close_after = true;
    stop_reading_ = true;
  }
  pending_.push_back(exchange);

  ServerRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.version = exchange->version;
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote_address = remote_;

  DoRead();  // read ahead: pipelined requests are handled while this one is answered
  UpdateTimer();
  core_->Dispatch(std::move(request), std::make_shared<Reply>(shared_from_this(), exchange));
}

void Session::EnqueueError(int status, std::string_view message) {
  stop_reading_ = true;
  auto exchange = std::make_shared<Exchange>();
  exchange->replied = true;
  exchange->close_after = true;
  pending_.push_back(exchange);
  const ServerResponse response = ErrorResponse(status, message);
  SerializeHead(*exchange, status, response.headers, response.body.size());
  exchange->out.push_back(response.body);
  exchange->complete = true;
  DoWrite();
}

bool Session::SerializeHead(Exchange& exchange, int status, const Headers& headers,
                            std::optional<size_t> content_length) {
  if (status < 200 || status > 999) return false;  // 1xx would need a final response after it
  bool close = exchange.close_after || draining_;
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || !IsFieldValue(value)) return false;
    if (EqualsIgnoreCase(name, "connection") && ContainsTokenIgnoreCase(value, "close")) {
      close = true;
    }
  }
  std::string head;
  head.reserve(256);
  const http::status known = http::int_to_status(static_cast<unsigned>(status));
  const auto reason = known == http::status::unknown ? boost::beast::string_view("Unknown")
                                                     : http::obsolete_reason(known);
  head.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  head.append(reason.data(), reason.size());
  head.append("\r\n");
  for (const auto& [name, value] : headers) {
    if (IsServerOwnedField(name)) continue;
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (content_length.has_value()) {
    if (StatusAllowsBody(status)) {
      head.append("Content-Length: ").append(std::to_string(*content_length)).append("\r\n");
    }
  } else if (exchange.chunked) {
    head.append("Transfer-Encoding: chunked\r\n");
  }
  if (close) {
    head.append("Connection: close\r\n");
  } else if (exchange.version == 10) {
    head.append("Connection: keep-alive\r\n");  // HTTP/1.0 closes unless told otherwise
  }
  head.append("\r\n");
  exchange.close_after = close;
  if (close) stop_reading_ = true;
  exchange.out.push_back(std::move(head));
  return true;
}

void Session::OnRespond(const std::shared_ptr<Exchange>& exchange, ServerResponse response) {
  if (closed_ || lingering_) return;
  const bool send_body = !exchange->head_request && StatusAllowsBody(response.status);
  if (SerializeHead(*exchange, response.status, response.headers, response.body.size())) {
    if (send_body && !response.body.empty()) exchange->out.push_back(std::move(response.body));
  } else {
    const ServerResponse error = ErrorResponse(500, "the handler produced an invalid response");
    SerializeHead(*exchange, error.status, error.headers, error.body.size());
    if (!exchange->head_request) exchange->out.push_back(error.body);
  }
  exchange->complete = true;
  DoWrite();
}

void Session::OnStartStream(const std::shared_ptr<Exchange>& exchange, int status,
                            const Headers& headers) {
  if (closed_ || lingering_) return;
  // HTTP/1.0 has no chunked encoding: the body ends where the connection does.
  exchange->chunked = exchange->version >= 11;
  if (!exchange->chunked) exchange->close_after = true;
  if (!SerializeHead(*exchange, status, headers, std::nullopt)) {
    exchange->stream_finished = true;
    exchange->chunked = false;
    const ServerResponse error = ErrorResponse(500, "the handler produced an invalid response");
    SerializeHead(*exchange, error.status, error.headers, error.body.size());
    exchange->out.push_back(error.body);
    exchange->complete = true;
  }
  DoWrite();
}

void Session::OnStreamChunk(const std::shared_ptr<Exchange>& exchange, const std::string& chunk) {
  if (closed_ || lingering_ || exchange->complete) return;
  if (exchange->head_request) return;
  if (exchange->chunked) {
    char size[24];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    std::string framed;
    framed.reserve(static_cast<size_t>(n) + chunk.size() + 2);
    framed.append(size, static_cast<size_t>(n)).append(chunk).append("\r\n");
    exchange->out.push_back(std::move(framed));
  } else {
    exchange->out.push_back(chunk);
  }
  exchange->out_payload += chunk.size();
  DoWrite();
}

void Session::OnFinishStream(const std::shared_ptr<Exchange>& exchange, bool abandoned) {
  if (closed_ || lingering_ || exchange->complete) return;
  if (abandoned) {
    exchange->close_after = true;  // no terminating chunk: the client sees a truncated body
  } else if (exchange->chunked && !exchange->head_request) {
    exchange->out.emplace_back("0\r\n\r\n");
  }
  exchange->complete = true;
  DoWrite();
}

void Session::OnStall(const std::shared_ptr<Exchange>& exchange) {
  exchange->stalled = true;
  if (peer_eof_ && !pending_.empty() && pending_.front() == exchange) Close();
}

void Session::DoWrite() {
  if (closed_ || writing_ || pending_.empty()) return;
  Exchange& exchange = *pending_.front();
  if (exchange.out.empty()) {
    if (!exchange.complete) return;  // waiting for the handler or the next chunk
    // Complete with nothing left to write (an abandoned stream): fall through to OnWrite's logic.
    writing_ = true;
    OnWrite({}, 0);
    return;
  }
  write_batch_.swap(exchange.out);
  exchange.out.clear();
  write_batch_payload_ = exchange.out_payload;
  exchange.out_payload = 0;
  write_buffers_.clear();
  for (const std::string& bytes : write_batch_) write_buffers_.push_back(net::buffer(bytes));
  writing_ = true;
  write_started_ = std::chrono::steady_clock::now();
  net::async_write(
      socket_, write_buffers_,
      [self = shared_from_this()](error_code ec, size_t bytes) { self->OnWrite(ec, bytes); });
  UpdateTimer();
}

void Session::OnWrite(error_code ec, size_t /*bytes*/) {
  writing_ = false;
  write_batch_.clear();
  write_buffers_.clear();
  if (ec == net::error::operation_aborted || closed_) return;
  if (ec) {
    Fail(ec, "write");
    Close();
    return;
  }
  std::shared_ptr<Exchange> exchange = pending_.front();
  exchange->queued_bytes.fetch_sub(write_batch_payload_);
  write_batch_payload_ = 0;
  if (exchange->out.empty() && exchange->complete) {
    pending_.erase(pending_.begin());
    if (exchange->close_after || (stop_reading_ && pending_.empty())) {
      CloseGracefully();
      return;
    }
    if (peer_eof_ && pending_.front()->stalled) {  // would never be answered
      Close();
      return;
    }
    if (pending_.empty()) idle_since_ = std::chrono::steady_clock::now();
    DoRead();  // reading may have paused at max_pipelined
  }
  DoWrite();
  UpdateTimer();
}

void Session::CloseGracefully() {
  if (closed_ || lingering_) return;
  // While the server stops, a client's idle pooled connection is watched by nobody, so lingering
  // would last its full time; with nothing unread, closing cannot reset anything.
  error_code unread;
  if (draining_ && socket_.available(unread) == 0 && !unread) {
    Close();
    return;
  }
  closing_.store(true, std::memory_order_release);
  lingering_ = true;
  stop_reading_ = true;
  pending_.clear();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
  UpdateTimer();
  DoLinger();  // if a read is pending, OnRead continues the lingering instead
}

void Session::DoLinger() {
  if (closed_ || reading_) return;
  parser_.reset();
  buffer_.clear();
  reading_ = true;
  socket_.async_read_some(
      buffer_.prepare(4096),
      [self = shared_from_this()](error_code ec, size_t bytes) { self->OnLinger(ec, bytes); });
}

void Session::OnLinger(error_code ec, size_t bytes) {
  reading_ = false;
  if (ec == net::error::operation_aborted || closed_) return;
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ > kMaxLingerBytes) {
    Close();
    return;
  }
  DoLinger();
}

void Session::UpdateTimer() {
  const auto& options = core_->options();
  auto after = [](SteadyPoint start, Duration timeout) -> std::optional<SteadyPoint> {
    if (timeout <= Duration::zero()) return std::nullopt;
    return start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  };
  std::optional<SteadyPoint> deadline;
  if (closed_) {
    deadline = std::nullopt;
  } else if (lingering_) {
    deadline = linger_until_;
  } else if (writing_) {
    deadline = after(write_started_, options.write_timeout);
  } else if (reading_ && pending_.empty()) {
    deadline = after(idle_since_, options.read_timeout);
  }
  if (deadline == timer_deadline_) return;
  timer_deadline_ = deadline;
  if (!deadline.has_value()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*deadline);
  timer_.async_wait([self = shared_from_this()](error_code ec) { self->OnTimer(ec); });
}

void Session::OnTimer(error_code ec) {
  if (ec == net::error::operation_aborted || closed_) return;
  // A wait that completed just as it was re-armed for a later deadline.
  if (!timer_deadline_.has_value() || std::chrono::steady_clock::now() < *timer_deadline_) return;
  timer_deadline_.reset();
  if (lingering_) {
    Close();
  } else if (writing_) {  // the client stopped reading
    Abort();
  } else if (reading_ && pending_.empty()) {
    if ((parser_.has_value() && parser_->got_some()) || buffer_.size() > 0) {
      timed_out_ = true;
      EnqueueError(408, "timed out waiting for the request");
    } else {
      Close();  // an idle keep-alive connection: just close
    }
  }
}

void Session::Abort() {
  if (closed_) return;
  error_code ignored;
  socket_.set_option(net::socket_base::linger(true, 0), ignored);  // close sends RST
  Close();
}

void Session::Drain() {
  if (closed_) return;
  draining_ = true;
  stop_reading_ = true;
  if (pending_.empty() && !writing_) Close();
  // Otherwise the last response (serialized with "Connection: close" from now on) closes.
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  closing_.store(true, std::memory_order_release);
  error_code ignored;
  timer_.cancel();
  socket_.close(ignored);
  pending_.clear();
  // A pending async_read still touches the parser when it completes, even when aborted; the
  // parser then goes with the session.
  if (!reading_) parser_.reset();
  core_->OnSessionClosed(this);
}

void Session::Fail(error_code ec, const char* what) {
  if (ec == net::error::operation_aborted || IsPeerHangup(ec)) return;
  core_->Log(std::string("http server: ") + what + " from " + remote_ + ": " + ec.message());
}

// ---- ServerCore ----

Status ServerCore::Start() {
  std::lock_guard stop_lock(stop_mu_);
  if (started_ || stop_done_) {
    return tl::unexpected(Error::InvalidArgument("HttpServer::Start called twice or after Stop"));
  }
  error_code ec;
  const net::ip::address address = net::ip::make_address(options_.address, ec);
  if (ec) {
    return tl::unexpected(
        Error::InvalidArgument("bad listen address '" + options_.address + "': " + ec.message()));
  }
  const tcp::endpoint endpoint(address, options_.port);
  const std::string where = FormatEndpoint(endpoint);
  auto fail = [&](const char* step) {
    error_code ignored;
    acceptor_.close(ignored);
    return tl::unexpected(
        Error::Io(std::string("cannot ") + step + " " + where + ": " + ec.message()));
  };
  if (acceptor_.open(endpoint.protocol(), ec)) return fail("open a socket for");
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec)) return fail("configure");
  if (acceptor_.bind(endpoint, ec)) return fail("bind");
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec)) return fail("listen on");
  port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);
  started_ = true;
  work_.emplace(io_.get_executor());
  net::post(acceptor_.get_executor(), [this] { DoAccept(); });
  const int threads = options_.threads > 0 ? options_.threads : 1;
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      while (true) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {  // a Post or RunAfter callback threw
          Log(std::string("http server: a callback threw: ") + e.what());
        }
      }
    });
  }
  return {};
}

void ServerCore::DoAccept() {
  acceptor_.async_accept(net::make_strand(io_), [this](error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void ServerCore::OnAccept(error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    Log("http server: accept: " + ec.message());
    if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
        ec == net::error::no_memory) {
      accept_retry_.expires_after(kAcceptRetryDelay);
      accept_retry_.async_wait([this](error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) DoAccept();
      });
      return;
    }
    DoAccept();
    return;
  }
  error_code ignored;
  // Event-stream frames are small and paced: Nagle would hold each one back for an ACK.
  socket.set_option(tcp::no_delay(true), ignored);
  std::unique_lock lock(mu_);
  if (draining_ || sessions_.size() >= options_.max_connections) {
    lock.unlock();
    socket.close(ignored);  // stopping, or over max_connections
    DoAccept();
    return;
  }
  auto session = std::make_shared<Session>(shared_from_this(), std::move(socket));
  sessions_.emplace(session.get(), session);
  lock.unlock();
  session->Run();
  DoAccept();
}

void ServerCore::Dispatch(ServerRequest request, std::shared_ptr<Reply> reply) {
  try {
    handler_(std::move(request), Responder(std::move(reply)));
  } catch (const std::exception& e) {
    // The Responder was destroyed unanswered, so the client gets a 500.
    Log(std::string("http server: the handler threw: ") + e.what());
  }
}

void ServerCore::OnSessionClosed(Session* session) {
  std::lock_guard lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) sessions_closed_.notify_all();
}

bool ServerCore::RunAfter(Duration delay, std::function<void()> fn) {
  posting_.fetch_add(1, std::memory_order_seq_cst);
  if (stopped_.load(std::memory_order_seq_cst)) {
    posting_.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  // A strand of its own, so that Stop's cancel never races with the wait.
  auto timer = std::make_shared<net::steady_timer>(
      net::make_strand(io_),
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
  uint64_t id = 0;
  {
    std::lock_guard lock(timers_mu_);
    id = next_timer_id_++;
    timers_.emplace(id, timer);
  }
  timer->async_wait([this, id, timer, fn = std::move(fn)](error_code ec) {
    {
      std::lock_guard lock(timers_mu_);
      timers_.erase(id);
    }
    if (!ec) fn();
  });
  posting_.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

void ServerCore::Stop() {
  QF_CHECK(!io_.get_executor().running_in_this_thread());  // Stop joins the I/O threads
  std::lock_guard stop_lock(stop_mu_);
  if (stop_done_) return;
  stop_done_ = true;

  // 1. Stop accepting, close idle connections, let busy ones finish.
  std::vector<std::weak_ptr<Session>> sessions;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    for (const auto& [raw, weak] : sessions_) sessions.push_back(weak);
  }
  if (started_) {
    net::post(acceptor_.get_executor(), [this] {
      error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
    });
  }
  for (const auto& weak : sessions) {
    if (auto session = weak.lock()) session->PostInternal([session] { session->Drain(); });
  }
  if (started_) {
    std::unique_lock lock(mu_);
    sessions_closed_.wait_for(lock, options_.stop_grace, [this] { return sessions_.empty(); });
  }

  // 2. Close the gate: nothing new enters the io_context (see PostGated).
  stopped_.store(true, std::memory_order_seq_cst);
  while (posting_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();

  // 3. Close what is left and cancel the timers; the I/O threads then run out of work.
  sessions.clear();
  {
    std::lock_guard lock(mu_);
    for (const auto& [raw, weak] : sessions_) sessions.push_back(weak);
  }
  for (const auto& weak : sessions) {
    if (auto session = weak.lock()) session->PostInternal([session] { session->Abort(); });
  }
  {
    std::lock_guard lock(timers_mu_);
    for (const auto& [id, timer] : timers_) {
      net::post(timer->get_executor(), [timer] { timer->cancel(); });
    }
  }
  work_.reset();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace internal

// ---- handles ----

bool ResponseStream::Send(std::string chunk) const {
  if (!reply_) return false;
  const auto& session = reply_->session();
  const auto& exchange = reply_->exchange();
  if (exchange->stream_finished.load() || session->closing()) return false;
  if (chunk.empty()) return true;
  const size_t queued = exchange->queued_bytes.fetch_add(chunk.size()) + chunk.size();
  if (queued > session->max_stream_buffer_bytes()) {
    session->Post([session] { session->Abort(); });
    return false;
  }
  return session->Post(
      [session, exchange, chunk = std::move(chunk)] { session->OnStreamChunk(exchange, chunk); });
}

bool ResponseStream::Finish() const {
  if (!reply_) return false;
  const auto& session = reply_->session();
  const auto& exchange = reply_->exchange();
  if (exchange->stream_finished.exchange(true) || session->closing()) return false;
  return session->Post([session, exchange] { session->OnFinishStream(exchange, false); });
}

void ResponseStream::Reset() const {
  if (!reply_) return;
  const auto& session = reply_->session();
  reply_->exchange()->stream_finished = true;
  session->Post([session] { session->Abort(); });
}

size_t ResponseStream::queued_bytes() const {
  return reply_ ? reply_->exchange()->queued_bytes.load() : 0;
}

bool ResponseStream::closed() const { return !reply_ || reply_->session()->closing(); }

bool Responder::Respond(ServerResponse response) const {
  if (!reply_) return false;
  const auto& session = reply_->session();
  const auto& exchange = reply_->exchange();
  if (exchange->replied.exchange(true) || session->closing()) return false;
  return session->Post([session, exchange, response = std::move(response)]() mutable {
    session->OnRespond(exchange, std::move(response));
  });
}

ResponseStream Responder::StartStream(int status, Headers headers) const {
  if (!reply_) return ResponseStream();
  const auto& session = reply_->session();
  const auto& exchange = reply_->exchange();
  if (exchange->replied.exchange(true)) return ResponseStream();
  exchange->streaming = true;
  session->Post([session, exchange, status, headers = std::move(headers)] {
    session->OnStartStream(exchange, status, headers);
  });
  return ResponseStream(reply_);
}

void Responder::Reset() const {
  if (!reply_) return;
  const auto& session = reply_->session();
  reply_->exchange()->replied = true;
  session->Post([session] { session->Abort(); });
}

void Responder::Stall() const {
  if (!reply_) return;
  const auto& session = reply_->session();
  const auto& exchange = reply_->exchange();
  if (exchange->replied.exchange(true)) return;
  session->Post([session, exchange] { session->OnStall(exchange); });
}

bool Responder::closed() const { return !reply_ || reply_->session()->closing(); }

// ---- HttpServer ----

HttpServer::HttpServer(Options options, Handler handler)
    : core_(std::make_shared<internal::ServerCore>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() { return core_->Start(); }

void HttpServer::Stop() { core_->Stop(); }

uint16_t HttpServer::port() const { return core_->port(); }

bool HttpServer::Post(std::function<void()> fn) { return core_->Post(std::move(fn)); }

bool HttpServer::RunAfter(Duration delay, std::function<void()> fn) {
  return core_->RunAfter(delay, std::move(fn));
}

size_t HttpServer::open_connections() const { return core_->open_connections(); }

}  // namespace quotaflow::server
