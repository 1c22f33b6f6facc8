// A load generator for the emulator's performance targets (docs/emulator-performance.md). wrk
// cannot sign requests, so this one does: every request gets its own X-Amz-Date and SigV4
// signature from aws::Signer, as an SDK would send it (or a bearer key, to compare with wrk).
//
//   emulator_load --url http://127.0.0.1:8970 [--auth sigv4|bearer] [--connections 64]
//                 [--duration 10] [--warmup 2] [--model ID] [--max-tokens 100] [--pid PID]
//                 [--access-key-id ID --secret-access-key KEY | --bearer-key KEY]
//   emulator_load --url http://127.0.0.1:8970 --idle 10000 [--duration 20] [--connections 8]
//                 [--pid PID]
//
// Credentials default to the emulator's documented ones (emulator/options.h).
//
// Load: `connections` keep-alive connections, each with exactly one non-streaming Converse request
// in flight (closed loop: a response sends the next request), for `warmup` seconds unmeasured,
// then `duration` seconds measured. Latency runs from handing the (signed) request to the kernel to
// reading its response's last byte. Every response that is not a 200 is counted (warm-up and the
// final drain included), and the first one is printed.
//
// --idle N: opens N connections that send nothing, then runs the load above on `connections`
// other connections for `duration` seconds while the N stay idle. It reports whether every idle
// connection stayed open (the server closed none), whether each then answers a request with a 200
// (the server still serves it), and the server's RSS before and after (--pid).
//
// Lean on purpose: one thread, raw non-blocking sockets and one level-triggered epoll set, no
// Asio (which stays in src/server), a minimal HTTP/1.1 response parser (Content-Length bodies
// only: the emulator frames every non-streaming response so). Pin it to a core of its own
// (`taskset -c 1`); the "load CPU" column shows how close it came to saturating that core, and
// "emu CPU" (with --pid) whether the emulator had its own core to itself.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "aws/sigv4.h"
#include "aws/uri.h"
#include "emulator/options.h"
#include "quotaflow/clock.h"

namespace quotaflow::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Flags {
  std::string url;
  std::string auth = "sigv4";  // or "bearer"
  int connections = 64;        // --idle: the active connections beside the idle ones
  double duration_s = 10;
  double warmup_s = 2;
  std::string model = "anthropic.claude-3-haiku-20240307-v1:0";
  std::string region = "us-east-1";
  int max_tokens = 100;
  std::string access_key_id = emulator::kDefaultAccessKeyId;
  std::string secret_access_key = emulator::kDefaultSecretAccessKey;
  std::string bearer_key = emulator::kDefaultBearerKey;
  int idle = 0;  // > 0: the idle-connection check with this many idle connections
  int pid = 0;   // the emulator's process id, for its RSS and CPU time; 0 = not reported
};

// ---- the measured process (from /proc) ----

// VmRSS of `pid` in KiB, or -1.
int64_t ReadRssKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// User + system CPU seconds of `pid`, or -1.
double ReadCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; the fields counted from its closing parenthesis.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  const char* p = text.c_str() + paren + 2;
  double ticks = 0;
  for (int field = 3; field <= 15 && *p; ++field) {
    char* end = nullptr;
    const long long value = std::strtoll(p, &end, 10);
    if (field == 14 || field == 15) ticks += static_cast<double>(value);  // utime, stime
    p = *end ? end + 1 : end;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Pages the kernel's TCP stack holds for socket buffers, system-wide (both ends of a loopback
// connection count), from /proc/net/sockstat; -1 if unreadable.
int64_t ReadTcpMemPages() {
  std::ifstream sockstat("/proc/net/sockstat");
  std::string line;
  while (std::getline(sockstat, line)) {
    if (!line.starts_with("TCP:")) continue;
    const size_t at = line.find(" mem ");
    if (at != std::string::npos) return std::strtoll(line.c_str() + at + 5, nullptr, 10);
  }
  return -1;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Raises this process's soft RLIMIT_NOFILE to at least `needed`, within the hard limit.
bool RaiseFileLimit(rlim_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// ---- requests ----

// Builds the bytes of each request: fixed for bearer, signed afresh for SigV4.
class RequestFactory {
 public:
  RequestFactory(const Flags& flags, std::string host) : flags_(flags), host_(std::move(host)) {
    path_ = "/model/" + aws::UriEncode(flags.model) + "/converse";
    body_ = R"({"messages":[{"role":"user","content":[{"text":"Write one sentence about load )"
            R"(testing a local Bedrock emulator."}]}],"inferenceConfig":{"maxTokens":)" +
            std::to_string(flags.max_tokens) + "}}";
    credentials_.access_key_id = flags.access_key_id;
    credentials_.secret_access_key = flags.secret_access_key;
    if (flags.auth == "bearer") {
      bearer_request_ = Head() + "Authorization: Bearer " + flags.bearer_key + "\r\n" + Tail();
    }
  }

  const std::string& path() const { return path_; }

  // The next request's bytes; false (with `error`) if signing failed.
  bool Next(std::string& out, std::string& error) {
    if (!bearer_request_.empty()) {
      out = bearer_request_;
      return true;
    }
    const HeaderField headers[] = {{"Host", host_}, {"Content-Type", "application/json"}};
    aws::SignableRequest request;
    request.method = "POST";
    request.path = path_;
    request.headers = headers;
    request.body = body_;
    aws::SigningParams params;
    params.region = flags_.region;
    params.service = "bedrock";
    params.time = SystemClock().WallNow();
    Result<aws::SigningResult> signed_request = signer_.Sign(request, credentials_, params);
    if (!signed_request) {
      error = signed_request.error().ToString();
      return false;
    }
    out = Head();
    for (const auto& [name, value] : signed_request->headers) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
    out += Tail();
    return true;
  }

 private:
  std::string Head() const {
    return "POST " + path_ + " HTTP/1.1\r\nHost: " + host_ +
           "\r\nContent-Type: application/json\r\n";
  }
  std::string Tail() const {
    return "Content-Length: " + std::to_string(body_.size()) + "\r\n\r\n" + body_;
  }

  const Flags& flags_;
  const std::string host_;
  std::string path_;
  std::string body_;
  aws::Credentials credentials_;
  aws::Signer signer_;
  std::string bearer_request_;  // bearer: the same bytes every time
};

// ---- connections ----

// strerror, thread-safe.
std::string ErrnoText(int e) { return std::error_code(e, std::system_category()).message(); }

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// A parsed response head: what the loop needs to frame the body.
struct ResponseHead {
  int status = 0;
  size_t header_bytes = 0;  // through the blank line
  size_t content_length = 0;
  bool close = false;
};

// Parses the head in `in`: nullopt while it is incomplete, status 0 if it is malformed or has no
// Content-Length.
std::optional<ResponseHead> ParseHead(std::string_view in) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  ResponseHead head;
  head.header_bytes = end + 4;
  std::string_view lines = in.substr(0, end + 2);
  if (!lines.starts_with("HTTP/1.1 ") || lines.size() < 12) return head;
  std::from_chars(lines.data() + 9, lines.data() + 12, head.status);
  bool has_length = false;
  size_t at = lines.find("\r\n") + 2;
  while (at < lines.size()) {
    const size_t eol = lines.find("\r\n", at);
    const std::string_view line = lines.substr(at, eol - at);
    at = eol + 2;
    if (StartsWithIgnoreCase(line, "content-length:")) {
      std::string_view value = line.substr(15);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      has_length =
          std::from_chars(value.data(), value.data() + value.size(), head.content_length).ec ==
          std::errc();
    } else if (StartsWithIgnoreCase(line, "connection:") &&
               line.find("close") != std::string_view::npos) {
      head.close = true;
    }
  }
  if (!has_length) head.status = 0;
  return head;
}

struct Connection {
  int fd = -1;
  bool idle = false;       // one of --idle's connections (sends nothing until the final check)
  bool busy = false;       // a request is in flight
  bool closed = false;     // the server closed it, or it failed
  bool watch_out = false;  // EPOLLOUT armed: the socket's send buffer was full
  std::string out;         // request bytes not yet sent
  size_t out_offset = 0;
  std::string in;  // response bytes received so far
  SteadyClock::time_point sent_at{};
};

// Counters of one measured window (or of the idle check's final round).
struct Stats {
  int64_t ok = 0;
  int64_t non_200 = 0;
  int64_t errors = 0;  // connections reset or closed, unparseable responses
  std::vector<int64_t> latencies_ns;
  std::string first_failure;
};

class LoadLoop {
 public:
  LoadLoop(sockaddr_storage address, socklen_t address_len, RequestFactory& requests)
      : address_(address), address_len_(address_len), requests_(requests) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~LoadLoop() {
    for (auto& c : connections_) {
      if (c->fd >= 0) close(c->fd);
    }
    if (epoll_ >= 0) close(epoll_);
  }

  // Opens `n` connections (blocking connects, then non-blocking). False on the first failure.
  bool Open(int n, bool idle) {
    for (int i = 0; i < n; ++i) {
      const int fd = socket(address_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return Fail("socket", errno);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&address_), address_len_) != 0) {
        const int e = errno;
        close(fd);
        return Fail("connect", e);
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int fl = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, fl | O_NONBLOCK);
      auto connection = std::make_unique<Connection>();
      connection->fd = fd;
      connection->idle = idle;
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.ptr = connection.get();
      epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
      connections_.push_back(std::move(connection));
    }
    return true;
  }

  const std::string& error() const { return error_; }

  // Runs the active (non-idle) connections' closed loop for `seconds`. When `measure`, the
  // window's completions are counted into `stats` (latencies included); non-200s and errors always
  // are.
  void Run(double seconds, bool measure, Stats& stats) {
    measuring_ = measure;
    stats_ = &stats;
    sending_ = true;
    for (auto& c : connections_) {
      if (!c->idle && !c->busy && !c->closed) Send(*c);
    }
    Poll(SteadyClock::now() + ToDuration(seconds), /*until_idle=*/false);
  }

  // Sends nothing for `seconds`, watching every connection (an idle one the server closes is
  // seen here).
  void Wait(double seconds) {
    stats_ = &unmeasured_;
    measuring_ = false;
    sending_ = false;
    Poll(SteadyClock::now() + ToDuration(seconds), /*until_idle=*/false);
  }

  // Stops issuing requests and waits up to `seconds` for those in flight.
  void Drain(double seconds, Stats& stats) {
    stats_ = &stats;
    measuring_ = false;
    sending_ = false;
    Poll(SteadyClock::now() + ToDuration(seconds), /*until_idle=*/true);
  }

  // Idle connections the server has not closed (no event was seen on any of them).
  int64_t OpenIdle() const {
    return std::count_if(connections_.begin(), connections_.end(),
                         [](const auto& c) { return c->idle && !c->closed; });
  }

  // Sends one request on every idle connection still open and waits up to `seconds` for the
  // answers, counted into `stats`.
  void CheckIdle(double seconds, Stats& stats) {
    stats_ = &stats;
    measuring_ = true;
    sending_ = false;
    for (auto& c : connections_) {
      if (c->idle && !c->closed) Send(*c);
    }
    Poll(SteadyClock::now() + ToDuration(seconds), /*until_idle=*/true);
  }

 private:
  static SteadyClock::duration ToDuration(double seconds) {
    return std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(seconds));
  }

  bool Fail(const char* what, int e) {
    error_ = std::string(what) + ": " + ErrnoText(e);
    return false;
  }

  void Poll(SteadyClock::time_point until, bool until_idle) {
    epoll_event events[512];
    while (true) {
      const auto now = SteadyClock::now();
      if (now >= until || (until_idle && busy_ == 0)) return;
      const int timeout_ms =
          static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
      const int n = epoll_wait(epoll_, events, 512, timeout_ms);
      for (int i = 0; i < n; ++i) {
        auto& c = *static_cast<Connection*>(events[i].data.ptr);
        if (c.closed) continue;
        if (events[i].events & EPOLLOUT) Flush(c);
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) OnReadable(c);
      }
    }
  }

  void Send(Connection& c) {
    std::string error;
    if (!requests_.Next(c.out, error)) {
      if (stats_->first_failure.empty()) stats_->first_failure = "signing failed: " + error;
      ++stats_->errors;
      return;
    }
    c.out_offset = 0;
    c.busy = true;
    ++busy_;
    c.sent_at = SteadyClock::now();
    Flush(c);
  }

  void Flush(Connection& c) {
    while (c.out_offset < c.out.size()) {
      const ssize_t n =
          send(c.fd, c.out.data() + c.out_offset, c.out.size() - c.out_offset, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) {
        Watch(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
        return;
      }
      if (n < 0) {
        Broken(c, "send: " + ErrnoText(errno));
        return;
      }
      c.out_offset += static_cast<size_t>(n);
    }
    Watch(c, EPOLLIN | EPOLLRDHUP);
  }

  void Watch(Connection& c, uint32_t events) const {
    const bool want_out = events & EPOLLOUT;
    if (want_out == c.watch_out) return;
    c.watch_out = want_out;
    epoll_event event{};
    event.events = events;
    event.data.ptr = &c;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &event);
  }

  void OnReadable(Connection& c) {
    char buffer[16384];
    const ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      Broken(c, n == 0 ? "the server closed the connection" : ErrnoText(errno));
      return;
    }
    if (!c.busy) {  // bytes nobody asked for
      Broken(c, "unsolicited bytes from the server");
      return;
    }
    c.in.append(buffer, static_cast<size_t>(n));
    const std::optional<ResponseHead> head = ParseHead(c.in);
    if (!head) return;
    if (head->status == 0) {
      Broken(c, "unparseable response: " + c.in.substr(0, 200));
      return;
    }
    if (c.in.size() < head->header_bytes + head->content_length) return;
    const auto done = SteadyClock::now();
    c.busy = false;
    --busy_;
    if (head->status == 200) {
      if (measuring_) {
        ++stats_->ok;
        stats_->latencies_ns.push_back((done - c.sent_at).count());
      }
    } else {
      if (stats_->non_200++ == 0) {
        stats_->first_failure =
            "HTTP " + std::to_string(head->status) + ": " + c.in.substr(head->header_bytes, 300);
      }
    }
    c.in.erase(0, head->header_bytes + head->content_length);
    if (head->close) {
      Broken(c, "the server sent Connection: close");
      return;
    }
    if (sending_ && !c.idle) Send(c);
  }

  void Broken(Connection& c, const std::string& why) {
    const bool was_busy = c.busy;
    if (c.busy) --busy_;
    c.busy = false;
    c.closed = true;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    // An idle connection closed while idle is what the idle check looks for: OpenIdle reports
    // it.
    if (c.idle && !was_busy) return;
    ++stats_->errors;
    if (stats_->first_failure.empty()) stats_->first_failure = why;
  }

  const sockaddr_storage address_;
  const socklen_t address_len_;
  RequestFactory& requests_;
  int epoll_ = -1;
  std::vector<std::unique_ptr<Connection>> connections_;
  int64_t busy_ = 0;
  bool measuring_ = false;
  bool sending_ = false;
  Stats unmeasured_;             // Wait's: nothing is sent then, so it stays empty
  Stats* stats_ = &unmeasured_;  // where completions and failures are counted now
  std::string error_;
};

// ---- reporting ----

struct Row {
  std::string label;
  int connections = 0;
  double seconds = 0;
  Stats stats;
  double client_cpu = 0;  // fraction of one core
  double server_cpu = -1;
};

void PrintHeader() {
  std::printf("%-8s %6s %8s %10s %11s %9s %9s %9s %8s %7s %8s %8s\n", "auth", "conns", "seconds",
              "requests", "requests/s", "p50 (us)", "p99 (us)", "max (us)", "non-200", "errors",
              "load CPU", "emu CPU");
}

void PrintRow(Row& row) {
  std::vector<int64_t>& l = row.stats.latencies_ns;
  std::sort(l.begin(), l.end());
  auto at = [&l](size_t permille) -> double {
    if (l.empty()) return 0;
    return static_cast<double>(l[std::min(l.size() - 1, l.size() * permille / 1000)]) / 1e3;
  };
  char server_cpu[16] = "-";
  if (row.server_cpu >= 0)
    std::snprintf(server_cpu, sizeof server_cpu, "%.0f%%", 100 * row.server_cpu);
  std::printf("%-8s %6d %8.1f %10lld %11.0f %9.0f %9.0f %9.0f %8lld %7lld %7.0f%% %8s\n",
              row.label.c_str(), row.connections, row.seconds, static_cast<long long>(row.stats.ok),
              static_cast<double>(row.stats.ok) / row.seconds, at(500), at(990),
              l.empty() ? 0.0 : static_cast<double>(l.back()) / 1e3,
              static_cast<long long>(row.stats.non_200), static_cast<long long>(row.stats.errors),
              100 * row.client_cpu, server_cpu);
  if (!row.stats.first_failure.empty()) {
    std::printf("  first failure: %s\n", row.stats.first_failure.c_str());
  }
}

// Measures `seconds` of the loop, with the CPU both processes spent meanwhile.
Row Measure(LoadLoop& loop, const Flags& flags, double seconds) {
  Row row;
  row.label = flags.auth;
  row.connections = flags.connections;
  row.seconds = seconds;
  const double self0 = SelfCpuSeconds();
  const double server0 = ReadCpuSeconds(flags.pid);
  loop.Run(seconds, /*measure=*/true, row.stats);
  row.client_cpu = (SelfCpuSeconds() - self0) / seconds;
  if (server0 >= 0) row.server_cpu = (ReadCpuSeconds(flags.pid) - server0) / seconds;
  return row;
}

double MiB(int64_t kib) { return static_cast<double>(kib) / 1024.0; }

// ---- main ----

int Usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s --url http://HOST:PORT [--auth sigv4|bearer] [--connections N]\n"
               "          [--duration S] [--warmup S] [--model ID] [--region R] "
               "[--max-tokens N] [--pid PID]\n"
               "          [--access-key-id ID] [--secret-access-key KEY] [--bearer-key KEY]\n"
               "          [--idle N]   (hold N idle connections while the load runs)\n",
               program);
  return 2;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto number = [&](double& out) {
      const std::string text = value();
      char* end = nullptr;
      out = std::strtod(text.c_str(), &end);
      return !text.empty() && *end == '\0' && out >= 0;
    };
    double n = 0;
    if (arg == "--url") {
      flags.url = value();
    } else if (arg == "--auth") {
      flags.auth = value();
      if (flags.auth != "sigv4" && flags.auth != "bearer") return Usage(argv[0]);
    } else if (arg == "--model") {
      flags.model = value();
    } else if (arg == "--region") {
      flags.region = value();
    } else if (arg == "--access-key-id") {
      flags.access_key_id = value();
    } else if (arg == "--secret-access-key") {
      flags.secret_access_key = value();
    } else if (arg == "--bearer-key") {
      flags.bearer_key = value();
    } else if (arg == "--duration" || arg == "--warmup") {
      if (!number(n)) return Usage(argv[0]);
      (arg == "--duration" ? flags.duration_s : flags.warmup_s) = n;
    } else if (arg == "--connections" || arg == "--idle" || arg == "--pid" ||
               arg == "--max-tokens") {
      if (!number(n) || n != static_cast<int>(n)) return Usage(argv[0]);
      const int v = static_cast<int>(n);
      if (arg == "--connections") flags.connections = v;
      if (arg == "--idle") flags.idle = v;
      if (arg == "--pid") flags.pid = v;
      if (arg == "--max-tokens") flags.max_tokens = v;
    } else {
      return Usage(argv[0]);
    }
  }
  if (flags.connections < 1 || flags.duration_s <= 0) return Usage(argv[0]);
  constexpr std::string_view kScheme = "http://";
  if (!flags.url.starts_with(kScheme)) {
    std::fprintf(stderr, "--url must be http://HOST:PORT (the emulator's listening line)\n");
    return 2;
  }
  std::string host = flags.url.substr(kScheme.size());
  if (!host.empty() && host.back() == '/') host.pop_back();
  const size_t colon = host.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--url needs a port\n");
    return 2;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string name = host.substr(0, colon);
  if (name.size() > 1 && name.front() == '[') name = name.substr(1, name.size() - 2);
  if (getaddrinfo(name.c_str(), host.substr(colon + 1).c_str(), &hints, &found) != 0 || !found) {
    std::fprintf(stderr, "cannot resolve %s\n", host.c_str());
    return 2;
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  const socklen_t address_len = found->ai_addrlen;
  freeaddrinfo(found);

  std::signal(SIGPIPE, SIG_IGN);
  const rlim_t needed =
      static_cast<rlim_t>(flags.idle) + static_cast<rlim_t>(flags.connections) + 64;
  if (!RaiseFileLimit(needed)) {
    std::fprintf(stderr, "need %llu file descriptors: raise the limit first (ulimit -n %llu)\n",
                 static_cast<unsigned long long>(needed), static_cast<unsigned long long>(needed));
    return 1;
  }

  RequestFactory requests(flags, host);
  LoadLoop loop(address, address_len, requests);
  std::printf("emulator_load: POST %s%s (Converse, maxTokens %d), %s auth\n", flags.url.c_str(),
              requests.path().c_str(), flags.max_tokens, flags.auth.c_str());

  if (flags.idle == 0) {
    if (!loop.Open(flags.connections, /*idle=*/false)) {
      std::fprintf(stderr, "cannot open the connections: %s\n", loop.error().c_str());
      return 1;
    }
    Stats warmup;
    loop.Run(flags.warmup_s, /*measure=*/false, warmup);
    Row row = Measure(loop, flags, flags.duration_s);
    loop.Drain(5, row.stats);
    row.stats.non_200 += warmup.non_200;
    row.stats.errors += warmup.errors;
    if (row.stats.first_failure.empty()) row.stats.first_failure = warmup.first_failure;
    PrintHeader();
    PrintRow(row);
    return row.stats.non_200 == 0 && row.stats.errors == 0 ? 0 : 1;
  }

  // --idle: open the idle connections, let the server settle, then load beside them.
  const int64_t rss_before = ReadRssKib(flags.pid);
  const int64_t tcp_before = ReadTcpMemPages();
  const auto open_start = SteadyClock::now();
  if (!loop.Open(flags.idle, /*idle=*/true)) {
    std::fprintf(stderr, "cannot open idle connection: %s (ulimit -n of both processes?)\n",
                 loop.error().c_str());
    return 1;
  }
  const double open_seconds =
      std::chrono::duration<double>(SteadyClock::now() - open_start).count();
  loop.Wait(1.0);  // lets the server finish accepting and settle before its RSS is read
  const int64_t rss_idle = ReadRssKib(flags.pid);
  const int64_t tcp_idle = ReadTcpMemPages();
  if (!loop.Open(flags.connections, /*idle=*/false)) {
    std::fprintf(stderr, "cannot open the active connections: %s\n", loop.error().c_str());
    return 1;
  }
  Row row = Measure(loop, flags, flags.duration_s);
  loop.Drain(5, row.stats);
  const int64_t rss_after = ReadRssKib(flags.pid);
  const int64_t still_open = loop.OpenIdle();
  Stats check;
  loop.CheckIdle(30, check);
  const int64_t rss_answered = ReadRssKib(flags.pid);

  std::printf(
      "idle connections: %d opened in %.2f s, held %.0f s: %lld still open, "
      "%lld of them answered a request afterwards (non-200 %lld, errors %lld)\n",
      flags.idle, open_seconds, flags.duration_s + 1, static_cast<long long>(still_open),
      static_cast<long long>(check.ok), static_cast<long long>(check.non_200),
      static_cast<long long>(check.errors));
  if (!check.first_failure.empty())
    std::printf("  first failure: %s\n", check.first_failure.c_str());
  if (rss_before >= 0) {
    std::printf(
        "emulator RSS: %.1f MiB before, %.1f MiB with %d idle (+%.2f KiB each), "
        "%.1f MiB after the load, %.1f MiB after answering on every idle connection\n",
        MiB(rss_before), MiB(rss_idle), flags.idle,
        static_cast<double>(rss_idle - rss_before) / flags.idle, MiB(rss_after), MiB(rss_answered));
  }
  if (tcp_before >= 0 && tcp_idle >= 0) {
    std::printf(
        "kernel TCP buffers (system-wide, both ends): %lld pages before, %lld with the idle "
        "connections\n",
        static_cast<long long>(tcp_before), static_cast<long long>(tcp_idle));
  }
  std::printf("meanwhile, on %d active connections:\n", flags.connections);
  PrintHeader();
  PrintRow(row);
  const bool ok = still_open == flags.idle && check.ok == flags.idle && row.stats.non_200 == 0 &&
                  row.stats.errors == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace quotaflow::bench

int main(int argc, char** argv) { return quotaflow::bench::Main(argc, argv); }
