#pragma once
// Asynchronous HTTP/1.1 and HTTP/2 client driven by an EventLoop's libcurl multi handle: thousands
// of requests in flight on the one loop thread, no thread per request, connections pooled per host
// (keep-alive and HTTP/2 multiplexing). Transport failures are quotaflow::Error values; an HTTP
// error status is a response, not an error (aws/ maps those).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aws/event_loop.h"
#include "aws/http.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

enum class HttpVersionPolicy {
  // HTTP/1.1 only.
  kHttp1_1,
  // HTTP/2 when TLS ALPN agrees (https://), HTTP/1.1 otherwise, including every http:// URL.
  // curl's CURL_HTTP_VERSION_2TLS.
  kHttp2Tls,
  // HTTP/2 from the first byte, no negotiation: h2c on http:// (servers that speak only HTTP/2).
  // With libcurl older than 8.0 (Debian 12 has 7.88) each request gets a connection of its own:
  // those versions break requests that reuse a prior-knowledge connection.
  kHttp2PriorKnowledge,
};

struct RequestOptions {
  // TCP connect plus TLS handshake. 0 = curl's default (300 s). Too short fails on a congested
  // network; too long holds a slot for a dead endpoint.
  Duration connect_timeout = std::chrono::seconds(10);
  // Longest silence allowed once the connection is ready: from sending the request to the first
  // response byte, and between any two received chunks (an idle timeout, not a speed limit). 0 =
  // none. Must cover the model's time to first byte, which for a long non-streaming generation
  // can be minutes; the AWS SDKs' default is 60 s. Measured on the loop's Clock.
  Duration read_timeout = std::chrono::seconds(60);
  // The whole request, queueing for a pooled connection included. 0 = none.
  Duration total_timeout = Duration::zero();
  HttpVersionPolicy version = HttpVersionPolicy::kHttp2Tls;
  // PEM file of CA certificates to trust instead of the system's (say, a test server's self-signed
  // certificate). Empty = the system store.
  std::string ca_file;
  // Checks the server's certificate and host name. Turning it off is for local test peers only.
  bool verify_peer = true;
  // A buffered response body larger than this fails with kProtocol instead of eating memory.
  // Streamed bodies (on_data) are the consumer's to bound.
  size_t max_response_bytes = size_t{64} << 20;

  // Called on the loop thread once the final (non-1xx) status and headers have arrived, before any
  // body byte reaches on_data and before on_complete. Optional.
  std::function<void(int status, const HttpHeaders& headers)> on_headers;
  // When set, the body is streamed here in arrival order, on the loop thread, as the bytes come
  // (for event streams), and the response's body stays empty. Chunk boundaries are arbitrary.
  std::function<void(std::string_view chunk)> on_data;
};

class HttpTransfer;  // one request in flight; defined in http_client.cc

// Cancels one request. Copyable; a default-constructed handle refers to no request.
// Thread safety: Cancel is safe from any thread, concurrently with the request's callbacks.
class RequestHandle {
 public:
  RequestHandle() = default;

  // Ends the request if it has not completed: on_complete then runs once, on the loop thread, with
  // kCancelled. Once Cancel returns on the loop thread no on_headers/on_data call follows; from
  // another thread a callback already running may still finish. A no-op after completion.
  // REQUIRES: the HttpClient that sent the request is not being destroyed concurrently.
  void Cancel() const;

 private:
  friend class HttpClient;
  explicit RequestHandle(std::weak_ptr<HttpTransfer> transfer) : transfer_(std::move(transfer)) {}

  std::weak_ptr<HttpTransfer> transfer_;
};

// Thread safety: Send and SendSync are safe from any thread (SendSync never from the loop thread);
// the callbacks run on the loop thread. The client's state is touched only on the loop thread.
class HttpClient {
 public:
  using CompletionCallback = std::function<void(Result<HttpResponse>)>;

  // REQUIRES: `loop` outlives the client.
  explicit HttpClient(EventLoop& loop) : loop_(loop) {}
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // Completes every request still in flight with kCancelled and waits until that is done.
  // REQUIRES: the loop is running or has stopped (not stopping concurrently); no Send or Cancel
  // races with the destructor; not called from a callback of this client.
  ~HttpClient();

  // Starts `request` and returns at once. `on_complete` runs exactly once, on the loop thread, with
  // the response (any HTTP status) or a transport error: kUnavailable (retryable) for a refused,
  // reset or timed-out connection, a read or total timeout — made by aws::TransportError, so the
  // message begins "connection failed", "connection reset" or "timed out"; kCancelled;
  // kInvalidArgument for a malformed request or a rejected TLS peer; kProtocol for garbage or an
  // oversized body. Messages carry curl's explanation and the method and URL without its query;
  // never a header value. Exception: if the loop has stopped, on_complete runs on the calling
  // thread, before Send returns, with kCancelled.
  RequestHandle Send(HttpRequest request, RequestOptions options, CompletionCallback on_complete);

  // Send and wait: for the CLI and other code that has no loop of its own.
  // REQUIRES: not on the loop thread, and the loop has started.
  Result<HttpResponse> SendSync(HttpRequest request, RequestOptions options = {});

 private:
  friend class HttpTransfer;
  friend class RequestHandle;

  // Easy handles kept for reuse. Enough for a steady flow, where each completion is followed by
  // a new request; a larger burst allocates the rest.
  static constexpr size_t kMaxIdleHandles = 256;

  // Loop thread: validates, configures and attaches the transfer.
  void Start(std::shared_ptr<HttpTransfer> transfer);
  void OnTransferDone(HttpTransfer& transfer, CURLcode result);
  void OnReadTimer(HttpTransfer& transfer);
  // Loop thread: a reset easy handle from the pool, or a new one (nullptr if out of memory).
  CURL* TakeHandle();
  void RecycleHandle(CURL* easy);
  // Loop thread: the single exit of every transfer. Detaches and frees its curl state, then calls
  // on_complete. A no-op for a transfer that already finished.
  void Finish(HttpTransfer& transfer, Result<HttpResponse> result);

  EventLoop& loop_;
  // Attached transfers, owned here until Finish; loop thread only.
  std::unordered_map<HttpTransfer*, std::shared_ptr<HttpTransfer>> active_;
  std::vector<CURL*> idle_handles_;  // reset, detached easy handles; loop thread only
};

}  // namespace quotaflow::aws
