// Throughput and latency of HttpClient on one EventLoop against a local HTTP server, at a fixed
// number of requests in flight. A plain harness rather than a Google Benchmark, because what
// matters here is a latency distribution at each concurrency, not a per-iteration time.
//
//   http_client_bench --url http://127.0.0.1:8080/hello [--h2c] [--ca-file cert.pem]
//                     [--requests 20000] [--inflight 1,64,1000] [--max-host-connections 0]
//   http_client_bench --timers
//
// Each completion immediately sends the next request, so exactly `inflight` are outstanding. The
// latency of a request is from Send to on_complete: against a trivial local server, an upper
// bound on what the transport and the loop add. --timers measures the EventLoop's timer heap
// instead: the cost of arming, cancelling and firing, and how late real-time timers fire. See
// docs/http-transport.md for the figures.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/event_loop.h"
#include "aws/http_client.h"

namespace quotaflow::aws {
namespace {

struct Flags {
  std::string url;
  bool h2c = false;
  std::string ca_file;
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
  double max_us = 0;
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
      row.max_us = latencies_us_.back();
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
    options.ca_file = flags_.ca_file;
    const auto sent_at = std::chrono::steady_clock::now();
    client_.Send(std::move(request), std::move(options), [this, sent_at](Result<HttpResponse> r) {
      latencies_us_.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent_at)
              .count());
      if (r && r->status == 200) {
        ++ok_;
        connections_ += r->connections_opened;
      } else {
        if (failed_++ == 0)
          first_error_ = r ? "HTTP " + std::to_string(r->status) : r.error().ToString();
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

double Percentile(std::vector<double>& values, int percent) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, values.size() * percent / 100)];
}

void BenchTimers() {
  using std::chrono::steady_clock;
  auto ns_per = [](steady_clock::duration d, int n) {
    return std::chrono::duration<double, std::nano>(d).count() / n;
  };
  {
    // Precision: real timers 1-20 ms ahead; how late each fires. Measured first: freeing the
    // cost run's 200,000 timers leaves glibc a multi-millisecond consolidation for a later thread.
    constexpr int kTimers = 500;
    EventLoop loop(SystemClock());
    loop.Start();
    std::vector<double> late_us;  // loop thread only until done
    std::promise<void> done;
    for (int i = 0; i < kTimers; ++i) {
      const SteadyTime due =
          SystemClock().Now() + std::chrono::microseconds(1000 + i * 37 % 19'000);
      loop.RunAt(due, [&, due] {
        late_us.push_back(
            std::chrono::duration<double, std::micro>(SystemClock().Now() - due).count());
        if (late_us.size() == kTimers) done.set_value();
      });
    }
    done.get_future().wait();
    std::printf(
        "real-time timers, %d armed 1-20 ms ahead, lateness: p50 %.0f us  p99 %.0f us  "
        "max %.0f us\n",
        kTimers, Percentile(late_us, 50), Percentile(late_us, 99), Percentile(late_us, 100));
  }
  {
    // Cost: a fake clock stands still while timers are armed and cancelled on the loop thread, as
    // the engine does, then one jump fires them all.
    constexpr int kTimers = 200'000;
    FakeClock clock;
    EventLoop loop(clock);
    loop.Start();
    int fired = 0;
    std::vector<TimerId> ids;
    ids.reserve(kTimers);
    std::promise<std::pair<double, double>> armed;
    loop.Post([&] {
      const auto t0 = steady_clock::now();
      for (int i = 0; i < kTimers; ++i) {
        // Scattered deadlines within 10 s: a heap, not a queue, does the ordering.
        const auto offset = std::chrono::microseconds(1 + (i * 7919L) % 10'000'000);
        ids.push_back(loop.RunAt(clock.Now() + offset, [&fired] { ++fired; }));
      }
      const auto t1 = steady_clock::now();
      for (int i = 0; i < kTimers; i += 2) loop.Cancel(ids[static_cast<size_t>(i)]);
      const auto t2 = steady_clock::now();
      armed.set_value({ns_per(t1 - t0, kTimers), ns_per(t2 - t1, kTimers / 2)});
    });
    const auto [arm_ns, cancel_ns] = armed.get_future().get();
    clock.Advance(std::chrono::seconds(11));
    std::promise<void> all_fired;
    const auto t3 = steady_clock::now();
    loop.RunAt(clock.Now(), [&all_fired] { all_fired.set_value(); });
    all_fired.get_future().wait();
    const double fire_ns = ns_per(steady_clock::now() - t3, kTimers / 2);
    std::printf("timer heap, %d timers armed, half cancelled, the rest fired:\n", kTimers);
    std::printf("  RunAt %.0f ns   Cancel %.0f ns   fire %.0f ns (per timer, %d fired)\n", arm_ns,
                cancel_ns, fire_ns, fired);
  }
}

// "1,64,1000" -> {1, 64, 1000}; nullopt unless every item is a positive integer.
std::optional<std::vector<int>> ParseList(std::string_view text) {
  std::vector<int> out;
  while (!text.empty()) {
    const std::string_view item = text.substr(0, text.find(','));
    int value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (error != std::errc() || end != item.data() + item.size() || value <= 0) return std::nullopt;
    out.push_back(value);
    text.remove_prefix(std::min(text.size(), item.size() + 1));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

int Usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s --url URL [--h2c] [--ca-file PEM] [--requests N] "
               "[--inflight 1,64,1000] [--max-host-connections N]\n       %s --timers\n",
               program, program);
  return 2;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    // The flag's value; empty if it is missing, which the parsing below rejects.
    auto value = [&]() -> std::string_view { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--timers") {
      BenchTimers();
      return 0;
    } else if (arg == "--url") {
      flags.url = value();
    } else if (arg == "--h2c") {
      flags.h2c = true;
    } else if (arg == "--ca-file") {
      flags.ca_file = value();
    } else if (arg == "--requests" || arg == "--max-host-connections") {
      const std::optional<std::vector<int>> number = ParseList(value());
      if (!number || number->size() != 1) return Usage(argv[0]);
      (arg == "--requests" ? flags.requests : flags.max_host_connections) = number->front();
    } else if (arg == "--inflight") {
      std::optional<std::vector<int>> list = ParseList(value());
      if (!list) return Usage(argv[0]);
      flags.inflight = std::move(*list);
    } else {
      return Usage(argv[0]);
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
  std::printf("%9s %9s %12s %10s %10s %10s %12s %7s\n", "in flight", "requests", "requests/s",
              "p50 (us)", "p99 (us)", "max (us)", "connections", "failed");
  for (int inflight : flags.inflight) {
    // Warm up: connections opened, caches filled; not measured.
    Run(loop, client, flags, inflight, std::max(inflight, flags.requests / 10)).Go();
    const Row row = Run(loop, client, flags, inflight, flags.requests).Go();
    std::printf("%9d %9d %12.0f %10.0f %10.0f %10.0f %12d %7d\n", row.inflight, flags.requests,
                row.ok / row.seconds, row.p50_us, row.p99_us, row.max_us, row.connections,
                row.failed);
    if (row.failed > 0) std::printf("  first failure: %s\n", row.first_error.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace quotaflow::aws

int main(int argc, char** argv) { return quotaflow::aws::Main(argc, argv); }
