// Chooses the limiter's default burst capacity by measurement. Bedrock does not publish how it
// counts a minute, so the client limiter (at each candidate capacity) runs against three simulated
// servers that count differently — a token bucket holding one period, fixed calendar periods, and a
// sliding window — on a steady backlog and on bursty on/off arrivals. The servers here are written
// independently of the limiter: a bug shared by client and server would hide every throttle.
//
//   build/release/bench/capacity_sweep [--periods N] [--seed S]
//
// Prints, per capacity and server: throttles per 1,000 requests and goodput (settled tokens as a
// share of the quota over the whole run; on/off arrivals leave 2/3 of the time idle, so there the
// best is what the burst lets through at each restart on top of the busy third).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "quotaflow/accounting.h"
#include "quotaflow/limiter.h"

namespace quotaflow {
namespace {

enum class ServerMode { kTokenBucket, kFixedWindow, kSlidingWindow };
const char* ModeName(ServerMode m) {
  switch (m) {
    case ServerMode::kTokenBucket:
      return "bucket";
    case ServerMode::kFixedWindow:
      return "fixed";
    case ServerMode::kSlidingWindow:
      return "sliding";
  }
  return "?";
}

// A Bedrock-like server: reserves at start, settles the same record at the end, throttles a start
// that does not fit. Times in ms, tokens as doubles (the server needs no exactness to be a judge).
class Server {
 public:
  Server(ServerMode mode, double quota, int64_t period_ms)
      : mode_(mode), quota_(quota), period_ms_(period_ms), level_(quota) {}

  // Returns a record id, or -1 when throttled.
  int64_t Start(int64_t t, double reserve) {
    if (mode_ == ServerMode::kTokenBucket) {
      Refill(t);
      if (level_ < reserve) return -1;
      level_ -= reserve;
      return 0;
    }
    Expire(t);
    double used = 0;
    for (const Record& r : records_) {
      if (InWindow(r.start, t)) used += r.tokens;
    }
    if (used + reserve > quota_) return -1;
    records_.push_back({t, reserve, next_id_});
    return next_id_++;
  }

  void Settle(int64_t t, int64_t id, double reserved, double actual) {
    if (mode_ == ServerMode::kTokenBucket) {
      Refill(t);
      level_ = std::min(quota_, level_ + reserved - actual);
      return;
    }
    for (Record& r : records_) {
      if (r.id == id) r.tokens = actual;
    }
  }

 private:
  struct Record {
    int64_t start;
    double tokens;
    int64_t id;
  };
  void Refill(int64_t t) {
    level_ = std::min(quota_, level_ + quota_ * static_cast<double>(t - last_) / period_ms_);
    last_ = t;
  }
  bool InWindow(int64_t start, int64_t t) const {
    if (mode_ == ServerMode::kFixedWindow) return start / period_ms_ == t / period_ms_;
    return start > t - period_ms_;
  }
  void Expire(int64_t t) {
    while (!records_.empty() && records_.front().start <= t - 2 * period_ms_) records_.pop_front();
  }

  ServerMode mode_;
  double quota_;
  int64_t period_ms_;
  double level_;
  int64_t last_ = 0;
  std::deque<Record> records_;
  int64_t next_id_ = 1;
};

struct RunResult {
  int64_t requests = 0;
  int64_t throttles = 0;
  double settled = 0;
  double busy_ms = 0;
};

struct InFlight {
  int64_t end_ms;
  size_t index;
  bool operator>(const InFlight& o) const { return end_ms > o.end_ms; }
};

// One run: TPM 400,000 with a 60 s period, requests of 500..20,000 input + 1,000 max_tokens taking
// 2..10 s, output 100..1,000 tokens. `on_off`: 20 s of arrivals, 40 s idle, repeated.
RunResult Run(ServerMode mode, double burst, bool guard, bool on_off, int periods, uint64_t seed) {
  constexpr int64_t kPeriodMs = 60'000;
  constexpr double kQuota = 400'000;
  FakeClock clock;
  const SteadyTime t0 = clock.Now();
  auto now_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now() - t0).count();
  };
  LimiterConfig config;
  config.tokens_per_period = static_cast<int64_t>(kQuota);
  config.burst_periods = burst;
  config.window_guard = guard;
  Limiter limiter(config, clock);
  Server server(mode, kQuota, kPeriodMs);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> input(500, 20'000), output(100, 1'000),
      duration(2'000, 10'000);

  struct Request {
    int64_t input, output;
    Reservation reservation;
    int64_t record;
  };
  std::vector<Request> requests;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> in_flight;
  RunResult out;
  const int64_t end_ms = periods * kPeriodMs;
  int64_t pending_input = input(rng);
  auto arrivals_open = [&](int64_t t) { return !on_off || (t % 60'000) < 20'000; };

  while (now_ms() < end_ms) {
    const int64_t t = now_ms();
    int64_t wake = end_ms;
    if (arrivals_open(t)) {
      Cost cost = ReservationCost(pending_input, 1'000, 4'096);
      ReserveResult r = limiter.Reserve(cost);
      if (r.decision.granted()) {
        int64_t record = server.Start(t, static_cast<double>(cost.tokens));
        ++out.requests;
        if (record < 0) {
          ++out.throttles;
          SteadyTime granted_at = r.reservation.granted_at();
          r.reservation.Refund();
          limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, granted_at, Duration::zero());
          continue;
        }
        requests.push_back({pending_input, output(rng), std::move(r.reservation), record});
        in_flight.push({t + duration(rng), requests.size() - 1});
        pending_input = input(rng);
        continue;
      }
      if (r.decision.earliest != SteadyTime::max()) {
        wake = std::min<int64_t>(
            wake, std::chrono::duration_cast<std::chrono::milliseconds>(r.decision.earliest - t0)
                          .count() +
                      1);
      }
    } else {
      wake = std::min<int64_t>(wake, (t / 60'000 + 1) * 60'000);
    }
    if (!in_flight.empty() && in_flight.top().end_ms <= wake) {
      InFlight f = in_flight.top();
      in_flight.pop();
      clock.AdvanceTo(t0 + std::chrono::milliseconds(std::max(f.end_ms, t)));
      Request& q = requests[f.index];
      int64_t actual = SettledTokens(Usage{.input_tokens = q.input, .output_tokens = q.output}, 1);
      server.Settle(now_ms(), q.record, static_cast<double>(q.reservation.cost().tokens),
                    static_cast<double>(actual));
      q.reservation.Settle(actual);
      out.settled += static_cast<double>(actual);
      continue;
    }
    clock.AdvanceTo(t0 + std::chrono::milliseconds(std::max(wake, t + 1)));
  }
  out.busy_ms = static_cast<double>(end_ms);
  return out;
}

}  // namespace
}  // namespace quotaflow

int main(int argc, char** argv) {
  using namespace quotaflow;  // NOLINT(google-build-using-namespace): a short harness
  int periods = 60;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--periods") == 0)
      periods = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seed") == 0)
      seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("capacity sweep: TPM 400,000, 60 s period, %d periods, seed %llu\n", periods,
              static_cast<unsigned long long>(seed));
  std::printf("%-6s %-6s %-8s | %-24s | %-24s\n", "guard", "burst", "server",
              "backlog: 429/1k  goodput", "on/off: 429/1k  goodput");
  const double bursts[] = {0.02, 0.05, 0.1, 0.25, 0.5, 1.0};
  const ServerMode modes[] = {ServerMode::kTokenBucket, ServerMode::kFixedWindow,
                              ServerMode::kSlidingWindow};
  for (bool guard : {false, true}) {
    for (double burst : bursts) {
      for (ServerMode mode : modes) {
        RunResult steady = Run(mode, burst, guard, false, periods, seed);
        RunResult bursty = Run(mode, burst, guard, true, periods, seed);
        auto per_k = [](const RunResult& o) {
          return o.requests ? 1000.0 * static_cast<double>(o.throttles) / o.requests : 0.0;
        };
        auto goodput = [&](const RunResult& o) {
          return 100.0 * o.settled / (400'000.0 * o.busy_ms / 60'000.0);
        };
        std::printf("%-6s %-6.2f %-8s | %8.2f  %12.1f%% | %8.2f  %12.1f%%\n", guard ? "on" : "off",
                    burst, ModeName(mode), per_k(steady), goodput(steady), per_k(bursty),
                    goodput(bursty));
      }
    }
  }
  return 0;
}
