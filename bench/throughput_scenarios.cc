#include "throughput_scenarios.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "emulator/text_generator.h"
#include "emulator/tokenizer.h"
#include "quotaflow/scheduler.h"

namespace quotaflow::bench {
namespace {

namespace json = boost::json;
using emulator::OutputLengthOptions;

OutputLengthOptions NormalOutput(int64_t mean, int64_t stddev, int64_t min, int64_t max) {
  OutputLengthOptions o;
  o.distribution = OutputLengthOptions::Distribution::kNormal;
  o.mean = mean;
  o.stddev = stddev;
  o.min = min;
  o.max = max;
  return o;
}

// The legal-contracts mix every scenario but three builds on.
Scenario LegalMix(std::string name, std::string summary) {
  Scenario s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.model_id = "amazon.nova-pro-v1:0";
  s.burndown = 1;
  s.tpm = 400'000;
  s.docs = {.min_input = 500, .max_input = 20'000, .max_tokens = 1'000};
  s.output = NormalOutput(400, 200, 50, 1'000);
  return s;
}

std::vector<Scenario> MakeScenarios() {
  std::vector<Scenario> all;
  all.push_back(LegalMix("legal-bd1",
                         "contracts 500-20,000 in, max_tokens 1,000; Nova Pro (burndown 1), "
                         "TPM 400k"));
  {
    Scenario s = LegalMix("legal-bd5",
                          "the same contracts on Claude Sonnet 4 (burndown 5: output counts 5x), "
                          "TPM 400k");
    s.model_id = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    s.burndown = 5;
    all.push_back(std::move(s));
  }
  {
    Scenario s;
    s.name = "tpm-long";
    s.summary = "long documents 20,000-60,000 in, max_tokens 4,000; TPM 1M";
    s.model_id = "amazon.nova-pro-v1:0";
    s.burndown = 1;
    s.tpm = 1'000'000;
    s.docs = {.min_input = 20'000, .max_input = 60'000, .max_tokens = 4'000};
    s.output = NormalOutput(1'500, 500, 200, 4'000);
    all.push_back(std::move(s));
  }
  {
    Scenario s;
    s.name = "rpm-short";
    s.summary = "short requests 100-1,000 in, max_tokens 300; RPM 400 binds (TPM 2M)";
    s.model_id = "amazon.nova-lite-v1:0";
    s.burndown = 1;
    s.tpm = 2'000'000;
    s.rpm = 400;
    s.docs = {.min_input = 100, .max_input = 1'000, .max_tokens = 300};
    s.output = NormalOutput(120, 50, 10, 300);
    all.push_back(std::move(s));
  }
  {
    Scenario s;
    s.name = "priority";
    s.summary =
        "backlog of normal + low (2,000-8,000 in) with urgent requests (1,000-3,000 in) arriving "
        "at 8% of TPM 400k";
    s.model_id = "amazon.nova-pro-v1:0";
    s.burndown = 1;
    s.tpm = 400'000;
    s.docs = {.min_input = 2'000, .max_input = 8'000, .max_tokens = 800};
    s.output = NormalOutput(300, 100, 50, 800);
    s.arrivals = Arrivals::kPriorityMix;
    s.urgent_docs = {.min_input = 1'000, .max_input = 3'000, .max_tokens = 500};
    s.urgent_share = 0.08;
    s.urgent_periods = 10;
    all.push_back(std::move(s));
  }
  {
    Scenario s =
        LegalMix("burst", "the contracts in 4 bursts of 2.5 periods' work, 4 periods apart");
    s.arrivals = Arrivals::kBursts;
    s.periods_of_work = 10;
    s.bursts = 4;
    s.burst_every_periods = 4;
    all.push_back(std::move(s));
  }
  {
    Scenario s = LegalMix("faults-5xx", "the contracts with 1% 500 and 1% 503 answers");
    s.internal_error = 0.01;
    s.service_unavailable = 0.01;
    all.push_back(std::move(s));
  }
  {
    Scenario s =
        LegalMix("competing", "the contracts while another application takes 30% of the quota");
    s.competitor_share = 0.30;
    all.push_back(std::move(s));
  }
  return all;
}

// Log-uniform in [lo, hi].
int64_t DrawSize(emulator::SplitMix64& rng, int64_t lo, int64_t hi) {
  const double x = std::exp(
      std::log(static_cast<double>(lo)) +
      rng.NextDouble() * (std::log(static_cast<double>(hi)) - std::log(static_cast<double>(lo))));
  return std::clamp(static_cast<int64_t>(std::llround(x)), lo, hi);
}

Document MakeDocument(uint64_t seed, uint64_t id, int64_t text_tokens, int64_t max_tokens) {
  std::string text = "Summarize the obligations, deadlines and risks in this contract.\n\n" +
                     emulator::GenerateText(emulator::MixSeed(seed, id), text_tokens);
  Document d;
  d.id = id;
  d.input_tokens = emulator::CountTokens(text);
  d.max_tokens = max_tokens;
  d.text_chars = static_cast<int64_t>(text.size());
  json::object body{
      {"messages",
       json::array{json::object{
           {"role", "user"}, {"content", json::array{json::object{{"text", std::move(text)}}}}}}},
      {"inferenceConfig", json::object{{"maxTokens", max_tokens}}}};
  d.body = json::serialize(body);
  return d;
}

}  // namespace

double Scenario::ExpectedSettled(int64_t input, int64_t max_tokens) const {
  const double out = static_cast<double>(std::min(output.mean, max_tokens));
  return static_cast<double>(input) + out * static_cast<double>(burndown);
}

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> all = MakeScenarios();
  return all;
}

const Scenario* FindScenario(std::string_view name) {
  for (const Scenario& s : AllScenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Workload MakeWorkload(const Scenario& scenario, uint64_t seed, double size) {
  emulator::SplitMix64 rng(emulator::MixSeed(seed, emulator::HashBytes(scenario.name)));
  Workload w;
  const double work = scenario.periods_of_work * size;
  // The main mix: until its expected settled tokens (or requests) fill `work` periods.
  double tokens = 0;
  int64_t requests = 0;
  std::vector<Document> docs;
  while (tokens < work * static_cast<double>(scenario.tpm) &&
         (scenario.rpm == 0 || static_cast<double>(requests) < work * scenario.rpm)) {
    const int64_t size_tokens = DrawSize(rng, scenario.docs.min_input, scenario.docs.max_input);
    Document d = MakeDocument(seed, docs.size(), size_tokens, scenario.docs.max_tokens);
    tokens += scenario.ExpectedSettled(d.input_tokens, d.max_tokens);
    ++requests;
    docs.push_back(std::move(d));
  }
  double settled_sum = 0;
  for (const Document& d : docs) {
    settled_sum += scenario.ExpectedSettled(d.input_tokens, d.max_tokens);
  }
  w.mean_settled = docs.empty() ? 0 : settled_sum / static_cast<double>(docs.size());

  const double period_s = 60;  // arrivals are in Bedrock seconds
  switch (scenario.arrivals) {
    case Arrivals::kBacklog:
      break;
    case Arrivals::kBursts: {
      const size_t per_burst =
          (docs.size() + static_cast<size_t>(scenario.bursts) - 1) / scenario.bursts;
      for (size_t i = 0; i < docs.size(); ++i) {
        const size_t burst = i / per_burst;
        docs[i].arrival = static_cast<double>(burst) * scenario.burst_every_periods * period_s;
      }
      break;
    }
    case Arrivals::kPriorityMix: {
      for (size_t i = 0; i < docs.size(); ++i) {
        docs[i].priority = i % 2 == 0 ? kPriorityNormal : kPriorityLow;
      }
      // Urgent documents: exponential gaps whose mean spends urgent_share of the TPM quota.
      const DocumentMix& u = scenario.urgent_docs;
      const double mean_tokens = scenario.ExpectedSettled(
          static_cast<int64_t>(
              static_cast<double>(u.max_input - u.min_input) /
              std::log(static_cast<double>(u.max_input) / static_cast<double>(u.min_input))),
          u.max_tokens);
      const double per_second =
          scenario.urgent_share * static_cast<double>(scenario.tpm) / period_s / mean_tokens;
      const double horizon = scenario.urgent_periods * size * period_s;
      double t = 0;
      while (true) {
        t += -std::log(1.0 - rng.NextDouble()) / per_second;
        if (t >= horizon) break;
        Document d =
            MakeDocument(seed, docs.size(), DrawSize(rng, u.min_input, u.max_input), u.max_tokens);
        d.arrival = t;
        d.priority = kPriorityHigh;
        docs.push_back(std::move(d));
      }
      break;
    }
  }
  std::stable_sort(docs.begin(), docs.end(),
                   [](const Document& a, const Document& b) { return a.arrival < b.arrival; });
  w.docs = std::move(docs);
  return w;
}

Workload UrgentOnly(const Workload& workload) {
  Workload w;
  w.mean_settled = workload.mean_settled;
  for (const Document& d : workload.docs) {
    if (d.priority != kPriorityHigh) continue;
    w.docs.push_back(d);
    w.docs.back().id = w.docs.size() - 1;
  }
  return w;
}

emulator::EmulatorOptions EmulatorFor(const Scenario& scenario, emulator::CountingMode mode,
                                      const TimeScale& scale, uint64_t seed) {
  emulator::EmulatorOptions o;
  o.server.port = 0;
  o.seed = seed;
  o.quotas.books.mode = mode;
  o.quotas.books.period = scale.period();
  emulator::QuotaOverride q;
  q.model = scenario.model_id;
  q.tokens_per_minute = scenario.tpm;
  if (scenario.rpm > 0) q.requests_per_minute = scenario.rpm;
  o.quotas.overrides.push_back(q);
  o.output = scenario.output;
  o.latency = emulator::LatencyOptions{
      scale.Real(scenario.ttft_s), scale.Real(scenario.per_token_s), scale.Real(scenario.jitter_s)};
  o.faults.internal_error = scenario.internal_error;
  o.faults.service_unavailable = scenario.service_unavailable;
  return o;
}

}  // namespace quotaflow::bench
