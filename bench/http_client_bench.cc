// Throughput and latency of HttpClient on one EventLoop against a local HTTP server, at a fixed
// number of requests in flight. A plain harness rather than a Google Benchmark, because what
// matters here is a latency distribution at each concurrency, not a per-iteration time.
//
//   http_client_bench --url http://127.0.0.1:8080/hello [--h2c] [--requests 20000]
//                     [--inflight 1,64,1000] [--max-host-connections 0]
//
// Each completion immediately sends the next request, so exactly `inflight` are outstanding. The
// latency of a request is from Send to on_complete: against a trivial local server, an upper
// bound on what the transport and the loop add. See docs/http-transport.md for the figures.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "aws/event_loop.h"
#include "aws/http_client.h"

namespace quotaflow::aws {
namespace {

struct Flags {
  std::string url;
  bool h2c = false;
  int requests = 20'000;
  std::vector<int> inflight = {1, 64, 1000};
  int max_host_connections = 0;
};

struct Row {
  int inflight = 0;
  int ok = 0;
  int failed = 0;
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
  int connections = 0;
  std::string first_error;
};

// Runs `total` requests with `inflight` outstanding. Everything but Go runs on the loop thread.
class Run {
 public:
  Run(EventLoop& loop, HttpClient& client, const Flags& flags, int inflight, int total)
      : loop_(loop), client_(client), flags_(flags), inflight_(inflight), total_(total) {
    latencies_us_.reserve(static_cast<size_t>(total));
  }

  Row Go() {
    const auto start = std::chrono::steady_clock::now();
    loop_.Post([this] {
      for (int i = 0; i < std::min(inflight_, total_); ++i) SendOne();
    });
    done_.get_future().wait();
    Row row;
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    row.inflight = inflight_;
    row.ok = ok_;
    row.failed = failed_;
    row.connections = connections_;
    row.first_error = first_error_;
    std::sort(latencies_us_.begin(), latencies_us_.end());
    if (!latencies_us_.empty()) {
      row.p50_us = latencies_us_[latencies_us_.size() / 2];
      row.p99_us = latencies_us_[latencies_us_.size() * 99 / 100];
    }
    return row;
  }

 private:
  void SendOne() {
    ++sent_;
    HttpRequest request;
    request.url = flags_.url;
    RequestOptions options;
    if (flags_.h2c) options.version = HttpVersionPolicy::kHttp2PriorKnowledge;
    const auto sent_at = std::chrono::steady_clock::now();
    client_.Send(std::move(request), std::move(options), [this, sent_at](Result<HttpResponse> r) {
      latencies_us_.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent_at)
              .count());
      if (r && r->status == 200) {
        ++ok_;
        connections_ += r->connections_opened;
      } else {
        if (failed_++ == 0) first_error_ = r ? "HTTP " + std::to_string(r->status) : r.error().ToString();
      }
      if (ok_ + failed_ == total_) {
        done_.set_value();
      } else if (sent_ < total_) {
        SendOne();
      }
    });
  }

  EventLoop& loop_;
  HttpClient& client_;
  const Flags& flags_;
  const int inflight_;
  const int total_;
  // Loop thread only; Go reads them once done_ is set.
  int sent_ = 0;
  std::vector<double> latencies_us_;
  int ok_ = 0;
  int failed_ = 0;
  int connections_ = 0;
  std::string first_error_;
  std::promise<void> done_;
};

std::vector<int> ParseList(std::string_view text) {
  std::vector<int> out;
  std::stringstream in{std::string(text)};
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--url") {
      flags.url = value();
    } else if (arg == "--h2c") {
      flags.h2c = true;
    } else if (arg == "--requests") {
      flags.requests = std::stoi(std::string(value()));
    } else if (arg == "--inflight") {
      flags.inflight = ParseList(value());
    } else if (arg == "--max-host-connections") {
      flags.max_host_connections = std::stoi(std::string(value()));
    } else {
      std::fprintf(stderr,
                   "usage: %s --url URL [--h2c] [--requests N] [--inflight 1,64,1000] "
                   "[--max-host-connections N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (flags.url.empty()) {
    std::fprintf(stderr, "--url is required (a local server; see docs/http-transport.md)\n");
    return 2;
  }

  EventLoop::Options pool;
  pool.max_host_connections = flags.max_host_connections;
  EventLoop loop(SystemClock(), pool);
  loop.Start();
  HttpClient client(loop);

  std::printf("%s  %s  max_host_connections=%d\n", flags.url.c_str(),
              flags.h2c ? "h2c" : "HTTP/1.1 or ALPN", flags.max_host_connections);
  std::printf("%9s %9s %12s %10s %10s %12s %7s\n", "in flight", "requests", "requests/s",
              "p50 (us)", "p99 (us)", "connections", "failed");
  for (int inflight : flags.inflight) {
    // Warm up: connections opened, caches filled; not measured.
    Run(loop, client, flags, inflight, std::max(inflight, flags.requests / 10)).Go();
    const Row row = Run(loop, client, flags, inflight, flags.requests).Go();
    std::printf("%9d %9d %12.0f %10.0f %10.0f %12d %7d\n", row.inflight, flags.requests,
                row.ok / row.seconds, row.p50_us, row.p99_us, row.connections, row.failed);
    if (row.failed > 0) std::printf("  first failure: %s\n", row.first_error.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace quotaflow::aws

int main(int argc, char** argv) { return quotaflow::aws::Main(argc, argv); }
