#pragma once
// The throughput benchmark's scenarios and their seeded workloads (docs/throughput-benchmark.md).
//
// Time is compressed: the emulator's quota period is `period` (2 s by default) instead of Bedrock's
// minute, and every other duration of the simulated world — the emulator's latency model, each
// strategy's backoff, the SDK's rate clocks, the 1.5 s burst of the tutorial bucket — is scaled by
// the same factor (TimeScale), so a run behaves like the same workload against Bedrock, only
// `60 s / period` times faster. Quotas stay as Bedrock states them, per period. Figures are
// reported back in Bedrock time (seconds and minutes at a 60 s period).
//
// Seeded: the same seed gives the same documents, sizes, priorities and arrival times, and the
// emulator draws each output length from the request's content, so a document's settled tokens are
// the same whichever strategy sends it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/options.h"
#include "quotaflow/clock.h"

namespace quotaflow::bench {

// Real time per unit of Bedrock time: period / 60 s.
class TimeScale {
 public:
  explicit TimeScale(Duration period) : period_(period) {}

  Duration period() const { return period_; }
  double factor() const { return ToSeconds(period_) / 60.0; }
  // `seconds` of Bedrock time as real time.
  Duration Real(double seconds) const {
    return Duration(static_cast<Duration::rep>(seconds * factor() * 1e9));
  }
  // A real duration in Bedrock seconds.
  double BedrockSeconds(Duration real) const { return ToSeconds(real) / factor(); }

 private:
  Duration period_;
};

enum class Arrivals : uint8_t {
  kBacklog,      // every document queued at time 0
  kBursts,       // `bursts` equal bursts, one every `burst_every_periods`
  kPriorityMix,  // a backlog of normal and low, plus urgent documents arriving all along
};

// Sizes are drawn log-uniformly in [min_input, max_input] tokens (most documents short, a long
// tail), as a contract or report collection is.
struct DocumentMix {
  int64_t min_input = 0;
  int64_t max_input = 0;
  int64_t max_tokens = 0;
};

struct Scenario {
  std::string name;
  std::string summary;  // one line for the table's legend
  std::string model_id;
  int64_t burndown = 1;  // the model's output burndown (data/models.json)
  // Quotas per period (Bedrock's per minute). rpm 0: not enforced.
  int64_t tpm = 0;
  int64_t rpm = 0;
  DocumentMix docs;
  emulator::OutputLengthOptions output;
  // In Bedrock seconds: time to first token, per output token, jitter.
  double ttft_s = 0.6;
  double per_token_s = 0.015;
  double jitter_s = 0.3;
  // The work to queue, in periods of quota at the full size (--short uses less): settled tokens
  // expected / tpm, or requests / rpm for an RPM-bound mix, whichever is larger.
  double periods_of_work = 12;
  Arrivals arrivals = Arrivals::kBacklog;
  int bursts = 4;
  double burst_every_periods = 4;
  // kPriorityMix: urgent documents (their own mix) arrive at this share of the TPM quota, evenly
  // spread with random gaps over the first `urgent_periods` periods.
  DocumentMix urgent_docs;
  double urgent_share = 0;
  double urgent_periods = 0;
  // Probability of each 500 and each 503 per request (a faulted request is not charged).
  double internal_error = 0;
  double service_unavailable = 0;
  // Another application on the same account quota, unseen by the strategies: it sends steadily
  // at this share of the TPM quota (settled tokens) for the whole run.
  double competitor_share = 0;

  bool has_faults() const { return internal_error + service_unavailable > 0; }
  // Expected settled tokens of a document with `input` tokens (output at the drawn mean, capped by
  // max_tokens).
  double ExpectedSettled(int64_t input, int64_t max_tokens) const;
};

// Every scenario, in table order.
const std::vector<Scenario>& AllScenarios();
const Scenario* FindScenario(std::string_view name);

struct Document {
  uint64_t id = 0;     // index in the workload
  double arrival = 0;  // Bedrock seconds after the run starts
  int priority = 1;    // kPriorityLow / kPriorityNormal / kPriorityHigh
  // The prompt text's tokens under the emulator's tokenizer, for sizing the workload; the server
  // counts a few more for the message around it. The strategies do not see this.
  int64_t input_tokens = 0;
  int64_t max_tokens = 0;
  int64_t text_chars = 0;  // the prompt's length in characters
  std::string body;        // the Converse body, without modelId
};

struct Workload {
  std::vector<Document> docs;  // ordered by arrival, then id
  // The tokens per document a token-blind client would plan with: mean input + expected output ×
  // burndown (what strategy 2 divides its TPM quota by).
  double mean_settled = 0;
};

// `size` scales periods_of_work (1 = full, 0.4 = --short).
Workload MakeWorkload(const Scenario& scenario, uint64_t seed, double size);
// Only the urgent documents of a priority mix (the unloaded reference run).
Workload UrgentOnly(const Workload& workload);

// The emulator for one run: the scenario's quotas on its model (a cross-region profile's id is
// its own key), output lengths, latency (scaled), faults; port 0.
emulator::EmulatorOptions EmulatorFor(const Scenario& scenario, emulator::CountingMode mode,
                                      const TimeScale& scale, uint64_t seed);

}  // namespace quotaflow::bench
