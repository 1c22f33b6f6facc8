#include "aws/http_client.h"

#include <atomic>
#include <future>
#include <optional>
#include <utility>

#include "aws/errors.h"
#include "core/check.h"

namespace quotaflow::aws {

// One request from Send to on_complete. Everything but `cancelled` is loop-thread only (the
// constructor runs on the sending thread, before the transfer is shared).
class HttpTransfer final : public CurlTransfer {
 public:
  enum class State { kQueued, kActive, kDone };

  HttpTransfer(HttpClient& owner, HttpRequest req, RequestOptions opts,
               HttpClient::CompletionCallback done)
      : client(owner),
        request(std::move(req)),
        options(std::move(opts)),
        on_complete(std::move(done)) {}
  // Finish released the curl state (on the loop thread: the easy handle refers to the loop's
  // share handle, which has no locks); a transfer that never started has none.
  ~HttpTransfer() { QF_CHECK(easy == nullptr && header_list == nullptr); }

  void OnTransferDone(CURLcode result) override { client.OnTransferDone(*this, result); }

  void Touch() {
    if (options.read_timeout > Duration::zero()) last_activity = client.loop_.clock().Now();
  }

  // The connection is ready and the request about to go out: the read timeout starts now, so that
  // queueing for a pooled connection or connecting never counts as silence. Runs inside
  // curl_multi_perform, hence a timer and never a direct curl call.
  void OnConnectionReady() {
    Touch();
    if (options.read_timeout > Duration::zero() && read_timer == 0) {
      read_timer = client.loop_.RunAt(last_activity + options.read_timeout,
                                      [this] { client.OnReadTimer(*this); });
    }
  }

  HttpClient& client;
  const HttpRequest request;  // curl points into url and body until Finish
  RequestOptions options;
  HttpClient::CompletionCallback on_complete;
  std::atomic<bool> cancelled{false};  // set by RequestHandle::Cancel on any thread

  State state = State::kQueued;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  size_t header_bytes = 0;
  bool headers_done = false;   // the final status line and its headers have arrived
  std::optional<Error> abort;  // why a callback aborted the transfer, if one did
  SteadyTime last_activity;    // for the read timeout
  TimerId read_timer = 0;      // armed once the connection is ready
  char error_buffer[CURL_ERROR_SIZE] = {};
};

namespace {

// For messages: scheme, host and path only. The query can hold a presigned signature, and the
// user-info a password.
std::string RedactedUrl(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t authority = url.find("://");
  if (authority == std::string_view::npos) return std::string(url);
  const size_t host = authority + 3;
  const size_t at = url.find('@', host);
  if (at != std::string_view::npos && at < url.find('/', host)) {
    return std::string(url.substr(0, host)).append(url.substr(at + 1));
  }
  return std::string(url);
}

std::string Describe(const HttpRequest& request) {
  return std::string(HttpMethodName(request.method)) + " " + RedactedUrl(request.url);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Rejects what would let a header smuggle another header or request onto the wire. Messages name
// the field, never its value (it may be an Authorization header).
Status ValidateHeaders(const HttpHeaders& headers) {
  constexpr std::string_view kNotInName(":; \t\r\n\0", 7);
  constexpr std::string_view kNotInValue("\r\n\0", 3);
  for (const auto& [name, value] : headers) {
    if (name.empty() || name.find_first_of(kNotInName) != std::string::npos) {
      return tl::unexpected(Error::InvalidArgument("invalid HTTP header name '" + name + "'"));
    }
    if (value.find_first_of(kNotInValue) != std::string::npos) {
      return tl::unexpected(Error::InvalidArgument("HTTP header '" + name +
                                                   "' has a line break or NUL in its value"));
    }
  }
  return {};
}

long CurlMs(Duration d) {
  return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

size_t OnHeaderLine(char* buffer, size_t size, size_t count, void* user) {
  auto& t = *static_cast<HttpTransfer*>(user);
  const size_t n = size * count;
  if (t.cancelled.load(std::memory_order_acquire)) return 0;
  t.Touch();
  // Trailers (after a chunked or HTTP/2 body) are dropped: nothing aws/ reads comes there.
  if (t.headers_done) return n;
  t.header_bytes += n;
  if (t.header_bytes > t.options.max_response_bytes) {
    t.abort =
        Error::Protocol("response headers exceed " + std::to_string(t.options.max_response_bytes) +
                        " bytes (" + Describe(t.request) + ")");
    return 0;
  }
  const std::string_view line = Trim(std::string_view(buffer, n));
  if (line.starts_with("HTTP/")) {
    // A new status line: an interim 1xx response may come before the final one.
    const size_t space = line.find(' ');
    int status = 0;
    for (size_t i = space + 1; space != std::string_view::npos && i < line.size() && i < space + 4;
         ++i) {
      if (line[i] < '0' || line[i] > '9') break;
      status = status * 10 + (line[i] - '0');
    }
    t.response.status = status;
    t.response.headers.clear();
    return n;
  }
  if (line.empty()) {
    if (t.response.status >= 200) {
      t.headers_done = true;
      if (t.options.on_headers) t.options.on_headers(t.response.status, t.response.headers);
    }
    return n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    t.response.headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                    std::string(Trim(line.substr(colon + 1))));
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<HttpTransfer*>(user);
  const size_t n = size * count;
  if (t.cancelled.load(std::memory_order_acquire)) return CURL_WRITEFUNC_ERROR;
  t.Touch();
  if (t.options.on_data) {
    t.options.on_data(std::string_view(data, n));
    return n;
  }
  if (t.response.body.size() + n > t.options.max_response_bytes) {
    t.abort =
        Error::Protocol("response body exceeds " + std::to_string(t.options.max_response_bytes) +
                        " bytes (" + Describe(t.request) + ")");
    return CURL_WRITEFUNC_ERROR;
  }
  t.response.body.append(data, n);
  return n;
}

// CURLOPT_PREREQFUNCTION: a connection (new or reused) is ready for this request.
int OnConnectionReady(void* user, char* /*remote_ip*/, char* /*local_ip*/, int /*remote_port*/,
                      int /*local_port*/) {
  static_cast<HttpTransfer*>(user)->OnConnectionReady();
  return CURL_PREREQFUNC_OK;
}

Error CurlError(const HttpTransfer& t, CURLcode code) {
  std::string detail = curl_easy_strerror(code);
  if (t.error_buffer[0] != '\0') detail.append(": ").append(t.error_buffer);
  detail.append(" (").append(Describe(t.request)).append(")");
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PROXY:
      return TransportError(TransportFailure::kConnectFailed, detail).error;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportError(TransportFailure::kConnectionReset, detail).error;
    case CURLE_OPERATION_TIMEDOUT:  // connect or total timeout; curl's text says which
      return TransportError(TransportFailure::kTimeout, detail).error;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:  // not transient: the peer is not who we trust
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
      return Error::InvalidArgument(std::move(detail));
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return Error::Protocol(std::move(detail));
    default:
      return Error::Internal(std::move(detail));
  }
}

HttpVersion FromCurlVersion(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return HttpVersion::kHttp1_0;
    case CURL_HTTP_VERSION_1_1:
      return HttpVersion::kHttp1_1;
    case CURL_HTTP_VERSION_2_0:
      return HttpVersion::kHttp2;
    case CURL_HTTP_VERSION_3:
      return HttpVersion::kHttp3;
    default:
      return HttpVersion::kUnknown;
  }
}

bool IsHttps(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if ((url[i] | 0x20) != kScheme[i]) return false;  // every char of kScheme has bit 0x20
  }
  return true;
}

bool CurlReusesPriorKnowledge() {
  static const bool fixed = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
  return fixed;
}

// Sets every option of `t.easy`, a fresh or reset handle. The handle points into `t.request`,
// which stays put until Finish.
Status Configure(HttpTransfer& t) {
  if (Status valid = ValidateHeaders(t.request.headers); !valid) return valid;
  CURL* e = t.easy;
  const RequestOptions& o = t.options;

  if (curl_easy_setopt(e, CURLOPT_URL, t.request.url.c_str()) != CURLE_OK) {
    return tl::unexpected(Error::InvalidArgument("malformed URL (" + Describe(t.request) + ")"));
  }
  // Only the web: a URL from a config file must not read file:// or talk to other protocols.
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  // Signals (for DNS timeouts) are process-wide and unsafe with threads.
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);  // finds a dead peer during a long wait
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);  // a proxy's CONNECT reply

  switch (o.version) {
    case HttpVersionPolicy::kHttp1_1:
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
      break;
    case HttpVersionPolicy::kHttp2Tls:
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
      break;
    case HttpVersionPolicy::kHttp2PriorKnowledge:
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                       static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
      break;
  }
  if (o.version == HttpVersionPolicy::kHttp2PriorKnowledge && !CurlReusesPriorKnowledge()) {
    // libcurl 7.x fails every request that reuses a prior-knowledge connection ("Error in the
    // HTTP2 framing layer", curl issue #10634, fixed in 8.0.0): one connection per request is
    // slower but correct.
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  } else if (o.version == HttpVersionPolicy::kHttp2PriorKnowledge ||
             (o.version == HttpVersionPolicy::kHttp2Tls && IsHttps(t.request.url))) {
    // Without it, a burst of requests to a new host opens one connection each before the first
    // handshake reveals that they could all have been streams of one. Not for what will surely be
    // HTTP/1.1: there the burst would wait a round trip for nothing.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }

  if (o.connect_timeout > Duration::zero()) {
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CurlMs(o.connect_timeout));
  }
  if (o.total_timeout > Duration::zero()) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CurlMs(o.total_timeout));
  }
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o.verify_peer ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o.verify_peer ? 2L : 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());

  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &OnConnectionReady);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, &t);

  const HttpMethod method = t.request.method;
  const bool sends_body = method == HttpMethod::kPost || method == HttpMethod::kPut ||
                          method == HttpMethod::kPatch || !t.request.body.empty();
  if (method == HttpMethod::kHead) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (sends_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(t.request.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t.request.body.data());
  }
  if (method != HttpMethod::kGet && method != HttpMethod::kHead && method != HttpMethod::kPost) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, HttpMethodName(method).data());
  } else if (method == HttpMethod::kGet && sends_body) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
  }

  // The request goes out as built (SigV4 signed it); "Name:" removes a header curl would add.
  auto append = [&t](const std::string& line) {
    curl_slist* list = curl_slist_append(t.header_list, line.c_str());
    if (list == nullptr) return false;
    t.header_list = list;
    return true;
  };
  bool ok = true;
  std::string line;
  for (const auto& [name, value] : t.request.headers) {
    // "Name;" is curl's way to send a header with an empty value.
    line.assign(name).append(value.empty() ? ";" : ": ").append(value);
    ok = ok && append(line);
  }
  if (!FindHeader(t.request.headers, "Accept")) ok = ok && append("Accept:");
  if (sends_body) {
    ok = ok && append("Expect:");  // no 100-continue round trip
    if (!FindHeader(t.request.headers, "Content-Type")) ok = ok && append("Content-Type:");
  }
  if (!ok) return tl::unexpected(Error::Internal("out of memory building HTTP headers"));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.header_list);
  return {};
}

}  // namespace

void RequestHandle::Cancel() const {
  std::shared_ptr<HttpTransfer> transfer = transfer_.lock();
  if (transfer == nullptr) return;
  // The flag stops callbacks at once; the posted task detaches the handle, which may not happen
  // inside a curl callback (this may be one).
  transfer->cancelled.store(true, std::memory_order_release);
  transfer->client.loop_.Post([weak = transfer_] {
    std::shared_ptr<HttpTransfer> t = weak.lock();
    // A queued transfer sees the flag when it starts.
    if (t != nullptr && t->state == HttpTransfer::State::kActive) {
      t->client.Finish(
          *t, tl::unexpected(Error::Cancelled("request cancelled (" + Describe(t->request) + ")")));
    }
  });
}

HttpClient::~HttpClient() {
  auto cancel_all = [this] {
    while (!active_.empty()) {
      HttpTransfer& t = *active_.begin()->first;
      Finish(t, tl::unexpected(
                    Error::Cancelled("HTTP client shut down (" + Describe(t.request) + ")")));
    }
    for (CURL* easy : idle_handles_) curl_easy_cleanup(easy);
    idle_handles_.clear();
  };
  if (loop_.IsLoopThread()) {
    cancel_all();
    return;
  }
  std::promise<void> done;
  if (loop_.Post([&] {
        cancel_all();
        done.set_value();
      })) {
    done.get_future().wait();
  } else {
    cancel_all();  // the loop has stopped and its thread is gone: nothing else touches curl
  }
}

RequestHandle HttpClient::Send(HttpRequest request, RequestOptions options,
                               CompletionCallback on_complete) {
  QF_CHECK(on_complete != nullptr);
  auto transfer = std::make_shared<HttpTransfer>(*this, std::move(request), std::move(options),
                                                 std::move(on_complete));
  RequestHandle handle(transfer);
  // Always through the queue, even on the loop thread: Send may be called from on_data, inside a
  // curl callback, where curl_multi_add_handle is refused.
  if (!loop_.Post([this, transfer] { Start(transfer); })) {
    auto callback = std::move(transfer->on_complete);
    transfer->state = HttpTransfer::State::kDone;
    callback(tl::unexpected(
        Error::Cancelled("event loop stopped (" + Describe(transfer->request) + ")")));
  }
  return handle;
}

Result<HttpResponse> HttpClient::SendSync(HttpRequest request, RequestOptions options) {
  QF_CHECK(!loop_.IsLoopThread());
  std::promise<Result<HttpResponse>> result;
  std::future<Result<HttpResponse>> future = result.get_future();
  Send(std::move(request), std::move(options),
       [&result](Result<HttpResponse> r) { result.set_value(std::move(r)); });
  return future.get();
}

void HttpClient::Start(std::shared_ptr<HttpTransfer> transfer) {
  HttpTransfer& t = *transfer;
  if (t.cancelled.load(std::memory_order_acquire)) {
    Finish(t, tl::unexpected(Error::Cancelled("request cancelled (" + Describe(t.request) + ")")));
    return;
  }
  t.easy = TakeHandle();
  if (t.easy == nullptr) {
    Finish(t, tl::unexpected(Error::Internal("curl_easy_init failed")));
    return;
  }
  if (Status configured = Configure(t); !configured) {
    Finish(t, tl::unexpected(std::move(configured.error())));
    return;
  }
  if (CURLMcode code = loop_.AddTransfer(t.easy, &t); code != CURLM_OK) {
    Finish(t, tl::unexpected(Error::Internal(std::string("curl_multi_add_handle: ") +
                                             curl_multi_strerror(code))));
    return;
  }
  t.state = HttpTransfer::State::kActive;
  active_.emplace(&t, std::move(transfer));
}

CURL* HttpClient::TakeHandle() {
  if (idle_handles_.empty()) return curl_easy_init();
  CURL* easy = idle_handles_.back();
  idle_handles_.pop_back();
  return easy;
}

void HttpClient::RecycleHandle(CURL* easy) {
  if (easy == nullptr) return;
  if (idle_handles_.size() < kMaxIdleHandles) {
    // Reset keeps the handle's buffers: a new handle per request costs more than the rest of the
    // client's per-request work together.
    curl_easy_reset(easy);
    idle_handles_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

void HttpClient::OnTransferDone(HttpTransfer& t, CURLcode result) {
  if (t.abort) {
    Finish(t, tl::unexpected(std::move(*t.abort)));
  } else if (t.cancelled.load(std::memory_order_acquire)) {
    Finish(t, tl::unexpected(Error::Cancelled("request cancelled (" + Describe(t.request) + ")")));
  } else if (result != CURLE_OK) {
    Finish(t, tl::unexpected(CurlError(t, result)));
  } else {
    long version = 0;
    long connects = 0;
    curl_easy_getinfo(t.easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(t.easy, CURLINFO_NUM_CONNECTS, &connects);
    t.response.version = FromCurlVersion(version);
    t.response.connections_opened = static_cast<int>(connects);
    Finish(t, std::move(t.response));
  }
}

void HttpClient::OnReadTimer(HttpTransfer& t) {
  t.read_timer = 0;
  if (t.state != HttpTransfer::State::kActive) return;
  const SteadyTime deadline = t.last_activity + t.options.read_timeout;
  if (loop_.clock().Now() < deadline) {
    // Bytes came since the timer was armed: sleep until the silence could first be too long.
    t.read_timer = loop_.RunAt(deadline, [this, &t] { OnReadTimer(t); });
    return;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.options.read_timeout);
  Finish(t,
         tl::unexpected(TransportError(TransportFailure::kTimeout,
                                       "read timeout, no data for " + std::to_string(ms.count()) +
                                           " ms (" + Describe(t.request) + ")")
                            .error));
}

void HttpClient::Finish(HttpTransfer& t, Result<HttpResponse> result) {
  if (t.state == HttpTransfer::State::kDone) return;
  std::shared_ptr<HttpTransfer> keep;  // the transfer lives until on_complete returns
  if (t.state == HttpTransfer::State::kActive) {
    loop_.RemoveTransfer(t.easy);
    keep = std::move(active_.extract(&t).mapped());
  }
  t.state = HttpTransfer::State::kDone;
  if (t.read_timer != 0) loop_.Cancel(t.read_timer);
  t.read_timer = 0;
  RecycleHandle(t.easy);
  t.easy = nullptr;
  curl_slist_free_all(t.header_list);
  t.header_list = nullptr;
  // The caller's closures are released here, on the loop thread, not wherever the last handle
  // happens to drop the transfer.
  t.options.on_headers = nullptr;
  t.options.on_data = nullptr;
  CompletionCallback callback = std::move(t.on_complete);
  callback(std::move(result));
}

}  // namespace quotaflow::aws
