// Randomized property tests of the limiter over thousands of simulated periods: whatever the
// workload, the tokens it lets through in any window stay within what the quota allows, and with a
// steady backlog it leaves none of the binding quota unused.

#include <gtest/gtest.h>

#include <algorithm>
#include <queue>
#include <random>
#include <vector>

#include "quotaflow/limiter.h"

namespace quotaflow {
namespace {

using std::chrono::milliseconds;

struct Event {
  int64_t t_ns;
  int64_t tokens;    // net charge: + reservation or settle excess, − refund or settle shortfall
  int64_t requests;  // net requests charged
  bool grant;
  int64_t grant_tokens;  // the grant's cost, when grant
  int64_t debt_after;    // max(0, −remaining tokens) after the event, as the limiter reports it
};

struct Scenario {
  uint64_t seed;
  int64_t tpm;
  int64_t rpm;  // 0 = not enforced
  double burst;
  int periods;
  bool window_guard;
  int64_t max_cost_divisor;  // requests cost 1 .. tpm / divisor tokens
  bool settle_above;         // a fifth of the requests settle above their reservation (burndown 5)
};

// What became of one grant, for the window check.
struct GrantRecord {
  int64_t start_ns;
  int64_t reserved;
  int64_t end_ns = INT64_MAX;
  int64_t final_tokens = 0;  // settled, or 0 when refunded
};

struct InFlight {
  int64_t end_ns;
  int64_t id;
  bool operator>(const InFlight& o) const { return end_ns > o.end_ns; }
};

class LimiterProperty : public ::testing::TestWithParam<Scenario> {};

// Drives a limiter with a seeded random backlog: reservations of 1..max tokens (some above the
// burst), ends that settle below, at, or above the reservation (burndown 5) or refund.
TEST_P(LimiterProperty, ChargedTokensInAnyWindowStayWithinQuotaAndBacklogUsesItAll) {
  const Scenario sc = GetParam();
  std::mt19937_64 rng(sc.seed);
  FakeClock clock;
  LimiterConfig config;
  config.tokens_per_period = sc.tpm;
  config.requests_per_period = sc.rpm;
  config.burst_periods = sc.burst;
  config.window_guard = sc.window_guard;
  config.adaptive.enabled = false;
  Limiter limiter(config, clock);
  const int64_t period_ns = config.period.count();
  const int64_t burst = std::max<int64_t>(1, std::llround(sc.tpm * sc.burst));
  // Tokens given back may lift the level above the burst up to one period of quota (see
  // Limiter::Bucket): the most a window can start with.
  const int64_t capacity = sc.tpm;
  const int64_t req_capacity = sc.rpm;  // likewise: refunds may fill it to one period
  const int64_t start_ns = clock.Now().time_since_epoch().count();
  const int64_t end_ns = start_ns + sc.periods * period_ns;

  std::uniform_int_distribution<int64_t> cost_dist(1, sc.tpm / sc.max_cost_divisor);
  std::uniform_int_distribution<int64_t> duration_ms(50, sc.window_guard ? 10'000 : 20'000);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  std::vector<Event> events;
  std::vector<Reservation> reservations;
  std::vector<GrantRecord> grants;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> in_flight;
  auto record = [&](int64_t tokens, int64_t requests, bool grant, int64_t grant_tokens) {
    Decision d = limiter.Probe(Cost{.requests = 0, .tokens = 0, .slots = 0}, clock.Now());
    events.push_back({clock.Now().time_since_epoch().count(), tokens, requests, grant, grant_tokens,
                      std::max<int64_t>(0, -d.remaining[1])});
  };
  auto finish = [&](int64_t id) {
    Reservation& r = reservations[id];
    int64_t reserved = r.cost().tokens;
    double u = unit(rng);
    grants[id].end_ns = clock.Now().time_since_epoch().count();
    if (u < 0.05) {
      r.Refund();
      record(-reserved, -1, false, 0);
    } else {
      // Mostly below the reservation (output < max_tokens); sometimes above (burndown 5).
      bool above = sc.settle_above && u >= 0.8;
      int64_t actual = std::llround(reserved * (above ? 1 + unit(rng) : 0.2 + unit(rng) * 0.8));
      r.Settle(actual);
      grants[id].final_tokens = actual;
      record(actual - reserved, 0, false, 0);
    }
  };

  int64_t next_cost = cost_dist(rng);
  while (clock.Now().time_since_epoch().count() < end_ns) {
    ReserveResult r = limiter.Reserve(Cost{.tokens = next_cost});
    ASSERT_NE(r.decision.outcome, Outcome::kImpossible);
    if (r.decision.granted()) {
      int64_t id = static_cast<int64_t>(reservations.size());
      reservations.push_back(std::move(r.reservation));
      grants.push_back({clock.Now().time_since_epoch().count(), next_cost});
      record(next_cost, 1, true, next_cost);
      in_flight.push({clock.Now().time_since_epoch().count() + duration_ms(rng) * 1'000'000, id});
      next_cost = cost_dist(rng);
      continue;
    }
    // Not now: move time to whichever comes first, the grant or the next request's end.
    int64_t wake = r.decision.earliest.time_since_epoch().count();
    if (!in_flight.empty() && in_flight.top().end_ns <= wake) {
      InFlight f = in_flight.top();
      in_flight.pop();
      clock.AdvanceTo(SteadyTime(Duration(f.end_ns)));
      finish(f.id);
    } else {
      clock.AdvanceTo(SteadyTime(Duration(wake)));
    }
  }
  ASSERT_GT(events.size(), 1000u);

  // Prefix sums of net charges make every window an O(1) check.
  std::vector<int64_t> tok(events.size() + 1, 0), req(events.size() + 1, 0);
  for (size_t k = 0; k < events.size(); ++k) {
    tok[k + 1] = tok[k] + events[k].tokens;
    req[k + 1] = req[k] + events[k].requests;
  }
  const int64_t window_max_ns = 3 * period_ns;
  std::uniform_int_distribution<size_t> pick(0, events.size() - 1);
  int64_t windows = 0;
  for (size_t j = 0; j < events.size(); ++j) {
    const Event& ej = events[j];
    for (int s = 0; s < 8; ++s) {
      // Window [events[i], events[j]]: a random start within three periods before j.
      size_t i = j - std::min<size_t>(j, pick(rng) % 64);
      if (ej.t_ns - events[i].t_ns > window_max_ns) continue;
      double w = static_cast<double>(ej.t_ns - events[i].t_ns) / period_ns;
      int64_t net_tokens = tok[j + 1] - tok[i];
      // Any window: capacity + rate × W + the excess of settlements still unpaid.
      int64_t bound = capacity + static_cast<int64_t>(std::ceil(sc.tpm * w)) + ej.debt_after;
      ASSERT_LE(net_tokens, bound) << "window " << i << ".." << j << " W=" << w << " periods";
      if (ej.grant) {
        // Independent of the limiter's own report: a grant needs a level of min(n, capacity), so
        // a window ending on a grant can exceed capacity + rate × W only by what it borrowed.
        int64_t borrow = std::max<int64_t>(0, ej.grant_tokens - burst);
        int64_t grant_bound = capacity + static_cast<int64_t>(std::ceil(sc.tpm * w)) + borrow;
        // ... plus the settlement excess inside the window, which a grant had to repay first.
        ASSERT_LE(net_tokens, grant_bound + ej.debt_after);
      }
      if (sc.rpm) {
        int64_t net_requests = req[j + 1] - req[i];
        ASSERT_LE(net_requests, req_capacity + static_cast<int64_t>(std::ceil(sc.rpm * w)));
      }
      ++windows;
    }
  }
  EXPECT_GT(windows, 10'000);

  // Steady backlog: the binding dimension is used to ≥ 99%. Without the window guard that is the
  // bucket's rate. With it, it may be the window: requests in flight hold their whole reservation
  // there until they settle, as on the server, so less is settled in the end; what must hold is
  // that the window, as the server counts it, is kept full while work waits (checked below).
  double elapsed_periods = static_cast<double>(events.back().t_ns - start_ns) / period_ns;
  double token_use = static_cast<double>(tok.back()) / (sc.tpm * elapsed_periods);
  double request_use = sc.rpm ? static_cast<double>(req.back()) / (sc.rpm * elapsed_periods) : 0;
  if (!sc.window_guard) {
    EXPECT_GE(std::max(token_use, request_use), 0.99)
        << "tokens " << token_use << ", requests " << request_use;
  }
  EXPECT_LE(token_use, 1.0 + static_cast<double>(capacity) / (sc.tpm * elapsed_periods) + 0.01);

  if (sc.window_guard) {
    // What the server would count at each grant: every request started in the trailing period, at
    // its settled charge if it has ended, else its reservation. It stays within the quota but for
    // settlements above their reservation (burndown), which no client can foresee.
    double occupancy = 0;
    int64_t samples = 0;
    for (size_t i = 0; i < grants.size(); ++i) {
      const int64_t t = grants[i].start_ns;
      int64_t counted = 0, excess = 0, requests = 0;
      for (size_t j = i + 1; j-- > 0 && grants[j].start_ns > t - period_ns;) {
        const GrantRecord& g = grants[j];
        bool ended = g.end_ns <= t;
        counted += ended ? g.final_tokens : g.reserved;
        if (ended) excess += std::max<int64_t>(0, g.final_tokens - g.reserved);
        if (!ended || g.final_tokens > 0) ++requests;
      }
      ASSERT_LE(counted, sc.tpm + excess) << "grant " << i;
      if (sc.rpm) {
        ASSERT_LE(requests, sc.rpm) << "grant " << i;
      }
      if (t - start_ns > period_ns) {  // past the first period, the backlog keeps it full
        occupancy += std::max(static_cast<double>(counted) / sc.tpm,
                              sc.rpm ? static_cast<double>(requests) / sc.rpm : 0.0);
        ++samples;
      }
    }
    double mean = occupancy / static_cast<double>(samples);
    // Settlements above their reservation are charged after the fact on both books: the bucket
    // carries them as debt while the window holds them at their start, and a client that cannot
    // know how its server counts must wait for both. That costs a few percent
    // (measured 96.5-98.6%).
    EXPECT_GE(std::max({mean, token_use, request_use}), sc.settle_above ? 0.96 : 0.99)
        << "window " << mean << ", tokens " << token_use << ", requests " << request_use;
  }

  while (!in_flight.empty()) {
    finish(in_flight.top().id);
    in_flight.pop();
  }
}

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> out;
  std::mt19937_64 rng(20261123);
  const double bursts[] = {0.02, 0.1, 0.5, 1.0};
  for (int k = 0; k < 16; ++k) {
    Scenario s;
    s.seed = rng();
    s.tpm = std::uniform_int_distribution<int64_t>(30'000, 2'000'000)(rng);
    s.rpm = k % 3 == 0 ? std::uniform_int_distribution<int64_t>(5, 200)(rng) : 0;
    s.burst = bursts[k % 4];
    s.periods = 1'500;
    // Bucket alone: lumpy requests up to a third of the quota, many above the burst. With the
    // window guard: requests up to 1/30 of the quota, as the TPM-bound workloads it is built for.
    s.window_guard = k >= 8;
    s.max_cost_divisor = s.window_guard ? 30 : 3;
    s.settle_above = !s.window_guard || k % 2 == 0;
    if (s.window_guard) s.burst = bursts[1 + k % 3];  // the guard is meant for bursts >= 0.1
    out.push_back(s);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Limiter, LimiterProperty, ::testing::ValuesIn(Scenarios()),
                         [](const auto& p) {
                           return (p.param.window_guard ? "WindowGuard" : "BucketOnly") +
                                  std::to_string(p.index);
                         });

}  // namespace
}  // namespace quotaflow
