// Routing across regions, measured: quotaflow::Client over one logical model served by several
// regions of an in-process emulator (separate quotas per SigV4 region).
//
//   routing_bench [--requests 160] [--period 2s] [--mode token_bucket|fixed_window|
//                  sliding_window|all]
//
// For each of the emulator's ways of counting a period:
//  - scale: the same per-region workload (`--requests` per region: ~600 input tokens, max_tokens
//    500, 100 output tokens) over one, two and three regions of equal quota: requests per second,
//    the ratio to one region, settled tokens per period as % of the regions' summed quota, 429s,
//    failures;
//  - failover: two regions, one answering every request with 503 from 1 s into the run: the share
//    of starts that went to the healthy region from 5 s after the first 503, failures;
//  - residency: an eu-only request class over a route whose cheapest targets are a global profile
//    and a us region: requests the emulator served outside eu-* (from its books).
// A plain table, not a Google Benchmark: the figures are whole-run, and the README quotes them.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aws/credentials_provider.h"
#include "emulator/emulator.h"
#include "emulator/options.h"
#include "emulator/quota_books.h"
#include "quotaflow/client.h"
#include "quotaflow/duration_text.h"
#include "quotaflow/routes.h"

namespace {

using quotaflow::Client;
using quotaflow::ClientOptions;
using quotaflow::Duration;
using quotaflow::ModelResult;
using quotaflow::RequestResult;
using quotaflow::Route;
using quotaflow::RouteConfig;
using quotaflow::RouteTarget;
using quotaflow::SteadyTime;
using quotaflow::SystemClock;
using quotaflow::ToSeconds;
namespace emulator = quotaflow::emulator;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNova[] = "amazon.nova-lite-v1:0";
constexpr int64_t kTpm = 60'000;  // per region and period

// ~600 input tokens and max_tokens 500; the emulator answers 100 output tokens.
std::string Body(int i) {
  std::string text = "Summarize contract " + std::to_string(i) + ":";
  for (int w = 0; w < 300; ++w) text += " clause" + std::to_string(w % 89);
  return R"({"messages":[{"role":"user","content":[{"text":")" + text +
         R"("}]}],"inferenceConfig":{"maxTokens":500}})";
}

RouteTarget Target(std::string region, std::string model) {
  RouteTarget t;
  t.region = std::move(region);
  t.model_id = std::move(model);
  t.tokens_per_minute = kTpm;
  return t;
}

std::unique_ptr<emulator::Emulator> StartEmulator(emulator::CountingMode mode, Duration period,
                                                  const emulator::FaultOptions& faults = {}) {
  emulator::EmulatorOptions o = emulator::ImmediateEmulator(100);
  o.quotas.books.mode = mode;
  o.quotas.books.period = period;
  o.quotas.on_demand = emulator::MakePathQuota(kTpm);
  o.quotas.cross_region = emulator::MakePathQuota(kTpm);
  o.quotas.global = emulator::MakePathQuota(kTpm);
  o.faults = faults;
  auto e = std::make_unique<emulator::Emulator>(std::move(o));
  if (quotaflow::Status started = e->Start(); !started) {
    throw std::runtime_error("emulator: " + started.error().message);
  }
  return e;
}

quotaflow::aws::StaticCredentialsProvider& Credentials() {
  static quotaflow::aws::StaticCredentialsProvider credentials{quotaflow::aws::Credentials{
      emulator::kDefaultAccessKeyId, emulator::kDefaultSecretAccessKey, ""}};
  return credentials;
}

std::unique_ptr<Client> MakeClient(const emulator::Emulator& e, RouteConfig routes,
                                   Duration period) {
  ClientOptions o;
  o.endpoint = e.endpoint();
  o.credentials = &Credentials();
  o.routes = std::move(routes);
  o.period = period;
  o.jitter_seed = 3;
  o.transient_backoff = milliseconds(50);
  o.warn = [](const std::string&) {};
  auto client = Client::Create(std::move(o));
  if (!client) {
    throw std::runtime_error("client: " + client.error().message);
  }
  return std::move(*client);
}

struct RunResult {
  std::vector<ModelResult> done;
  int failed = 0;
  int64_t throttles = 0;
  double seconds = 0;  // first start to last finish
  int64_t settled = 0;
};

RunResult RunAll(Client& client, const std::string& route, int n,
                 const quotaflow::SubmitOptions& options = {}) {
  RunResult run;
  std::mutex mu;
  for (int i = 0; i < n; ++i) {
    quotaflow::ModelRequest r;
    r.model_id = route;
    r.body = Body(i);
    client.Submit(std::move(r), options, [&run, &mu](RequestResult result) {
      std::lock_guard lock(mu);
      if (result) {
        run.done.push_back(std::move(*result));
      } else {
        run.failed += 1;
      }
    });
  }
  if (!client.WaitIdle(std::chrono::minutes(5))) {
    throw std::runtime_error("the run did not finish in 5 minutes");
  }
  std::lock_guard lock(mu);
  SteadyTime first = SteadyTime::max();
  SteadyTime last = SteadyTime::min();
  for (const ModelResult& r : run.done) {
    first = std::min(first, r.started);
    last = std::max(last, r.finished);
    run.settled += r.settled_tokens;
  }
  run.seconds = run.done.empty() ? 0 : ToSeconds(last - first);
  for (const quotaflow::ModelStats& m : client.Stats().models) run.throttles += m.throttles;
  return run;
}

void PrintRow(std::string_view scenario, emulator::CountingMode mode, int requests,
              const RunResult& run, std::string_view ratio, std::string_view quota_share,
              std::string_view note) {
  std::printf("%-14s %-14s %8d %8.1f %8s %8s %6lld %6d  %s\n", std::string(scenario).c_str(),
              std::string(emulator::CountingModeName(mode)).c_str(), requests,
              run.seconds > 0 ? static_cast<double>(run.done.size()) / run.seconds : 0.0,
              std::string(ratio).c_str(), std::string(quota_share).c_str(),
              static_cast<long long>(run.throttles), run.failed, std::string(note).c_str());
}

void Scale(emulator::CountingMode mode, Duration period, int per_region) {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2", "eu-west-1"};
  double one_region = 0;
  for (size_t n = 1; n <= regions.size(); ++n) {
    Route route;
    route.name = "contracts";
    for (size_t i = 0; i < n; ++i) route.targets.push_back(Target(regions[i], kNova));
    RouteConfig config;
    config.routes.emplace(route.name, route);
    auto e = StartEmulator(mode, period);
    auto client = MakeClient(*e, config, period);
    const int requests = per_region * static_cast<int>(n);
    RunResult run = RunAll(*client, "contracts", requests);
    const double rate = static_cast<double>(run.done.size()) / run.seconds;
    if (n == 1) one_region = rate;
    // Settled tokens per period of the run against the regions' summed quota per period.
    const double share = static_cast<double>(run.settled) / (run.seconds / ToSeconds(period)) /
                         static_cast<double>(kTpm * static_cast<int64_t>(n));
    int64_t input = 0;
    for (const ModelResult& r : run.done) input += r.usage.input_tokens;
    const double per_request = static_cast<double>(std::max<size_t>(1, run.done.size()));
    PrintRow(fmt::format("{} region{}", n, n > 1 ? "s" : ""), mode, requests, run,
             fmt::format("{:.2f}x", rate / one_region), fmt::format("{:.1f}%", 100 * share),
             fmt::format("{:.0f} input, {:.0f} settled tokens per request",
                         static_cast<double>(input) / per_request,
                         static_cast<double>(run.settled) / per_request));
  }
}

void Failover(emulator::CountingMode mode, Duration period, int per_region) {
  emulator::FaultOptions faults;
  faults.service_unavailable = 1.0;
  faults.regions = {"us-west-2"};
  faults.start_after = seconds(1);
  auto e = StartEmulator(mode, period, faults);
  Route route;
  route.name = "contracts";
  route.targets = {Target("us-east-1", kNova), Target("us-west-2", kNova)};
  RouteConfig config;
  config.routes.emplace(route.name, route);
  auto client = MakeClient(*e, config, period);

  struct Sample {
    SteadyTime at;
    int64_t healthy = 0, failing = 0, errors = 0;
  };
  std::vector<Sample> samples;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done.load()) {
      Sample s{.at = SystemClock().Now()};
      for (const quotaflow::ModelStats& m : client->Stats().models) {
        if (m.region == "us-east-1") s.healthy = m.requests_sent;
        if (m.region == "us-west-2") {
          s.failing = m.requests_sent;
          s.errors = m.errors;
        }
      }
      samples.push_back(s);
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  const int requests = per_region * 3;
  RunResult run = RunAll(*client, "contracts", requests);
  done.store(true);
  sampler.join();
  std::string note = "the failing region never failed";
  auto first_error =
      std::find_if(samples.begin(), samples.end(), [](const Sample& s) { return s.errors > 0; });
  if (first_error != samples.end()) {
    auto from = std::find_if(first_error, samples.end(),
                             [&](const Sample& s) { return s.at >= first_error->at + seconds(5); });
    if (from == samples.end()) {
      note = "the run ended within 5 s of the first 503";
    } else {
      const int64_t healthy = samples.back().healthy - from->healthy;
      const int64_t failing = samples.back().failing - from->failing;
      note = fmt::format("{:.1f}% of {} starts in the healthy region from 5 s after the first 503",
                         100.0 * static_cast<double>(healthy) /
                             static_cast<double>(std::max<int64_t>(1, healthy + failing)),
                         healthy + failing);
    }
  }
  PrintRow("failover", mode, requests, run, "", "", note);
}

void Residency(emulator::CountingMode mode, Duration period, int per_region) {
  auto e = StartEmulator(mode, period);
  Route route;
  route.name = "contracts";
  route.targets = {Target("eu-west-1", "global.anthropic.claude-sonnet-4-20250514-v1:0"),
                   Target("us-east-1", kNova), Target("eu-central-1", "eu.amazon.nova-lite-v1:0"),
                   Target("eu-west-1", kNova)};
  route.targets[0].cost = 0.1;  // the cheapest would win every tie if the rule let it
  route.targets[1].cost = 0.2;
  RouteConfig config;
  config.routes.emplace(route.name, route);
  config.classes.emplace("eu-only", quotaflow::ResidencyRule{.regions = {"eu-*"}});
  auto client = MakeClient(*e, config, period);
  quotaflow::SubmitOptions eu;
  eu.request_class = "eu-only";
  RunResult run = RunAll(*client, "contracts", per_region, eu);
  // What the server saw: requests admitted on each region/model book.
  int64_t outside = 0;
  boost::json::value state = boost::json::parse(e->StateJson());
  for (const auto& key : state.at("keys").as_array()) {
    const std::string name(key.at("key").as_string());
    const bool in_eu = name.starts_with("eu-") && name.find("/global.") == std::string::npos;
    if (!in_eu) outside += key.at("counters").at("admitted").to_number<int64_t>();
  }
  PrintRow("residency", mode, per_region, run, "", "",
           fmt::format("{} of {} eu-only requests served outside eu-* (emulator's books)", outside,
                       run.done.size()));
}

}  // namespace

int main(int argc, char** argv) {
  int per_region = 160;
  Duration period = seconds(2);
  std::vector<emulator::CountingMode> modes = {emulator::CountingMode::kTokenBucket,
                                               emulator::CountingMode::kFixedWindow,
                                               emulator::CountingMode::kSlidingWindow};
  for (int i = 1; i < argc; i += 2) {
    const std::string_view arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--requests" && value != nullptr) {
      per_region = std::atoi(value);
    } else if (arg == "--period" && value != nullptr) {
      auto d = quotaflow::ParseDuration(value);
      if (!d) {
        std::fprintf(stderr, "routing_bench: --period: %s\n", d.error().message.c_str());
        return 2;
      }
      period = *d;
    } else if (arg == "--mode" && value != nullptr) {
      if (std::string_view(value) != "all") {
        auto m = emulator::ParseCountingMode(value);
        if (!m) {
          std::fprintf(stderr, "routing_bench: --mode: %s\n", m.error().message.c_str());
          return 2;
        }
        modes = {*m};
      }
    } else {
      std::fprintf(stderr,
                   "usage: routing_bench [--requests N] [--period 2s] "
                   "[--mode token_bucket|fixed_window|sliding_window|all]\n");
      return 2;
    }
  }
  if (per_region < 10) {
    std::fprintf(stderr, "routing_bench: --requests must be at least 10\n");
    return 2;
  }
  std::printf(
      "routing_bench: %d requests per region (~600 input tokens, max_tokens 500, 100 "
      "output tokens each), %lld tokens per %.0f s per region\n\n",
      per_region, static_cast<long long>(kTpm), ToSeconds(period));
  std::printf("%-14s %-14s %8s %8s %8s %8s %6s %6s  %s\n", "scenario", "server", "requests",
              "req/s", "x1 reg", "% quota", "429s", "failed", "note");
  try {
    for (emulator::CountingMode mode : modes) {
      Scale(mode, period, per_region);
      Failover(mode, period, per_region);
      Residency(mode, period, per_region);
    }
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "routing_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
