#pragma once
// The throughput benchmark's figures for one run, and the table and chart made of them.
//
// Goodput is the share of the theoretical limit, the shortest time in which any client could have
// finished the documents this run finished, given the quotas and the tokens they really cost:
//
//   limit = max over arrival times a_k of  (a_k - a_first) + max(W_k / tpm_rate, N_k / rpm_rate)
//   goodput = limit / makespan
//
// where W_k is the settled tokens (input + output × burndown, as the emulator reported them) of
// the finished documents that arrived at a_k or later, N_k their number, tpm_rate = TPM per
// period less what an unseen competitor settled over the run, rpm_rate = RPM per period (no term
// when RPM is not enforced), and makespan = last completion - first arrival. With every document
// queued at once this is settled tokens / (TPM × makespan), the "achieved % of the TPM quota" of
// `quotaflow batch`; with arrivals spread out it is the drain time of a fluid queue served at the
// quota rate. It counts the quota's sustained rate only: a server also holds one period of quota
// ready when a run starts (a full bucket, an empty window), and a client that spends it at once
// can finish faster than the limit, so goodput can exceed 100%. A finished document's own latency
// after its start is not deducted: the limit is a throughput bound, and the tail is part of what
// is measured.
//
// Thread safety: pure functions.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "quotaflow/error.h"
#include "throughput_scenarios.h"
#include "throughput_strategies.h"

namespace quotaflow::bench {

struct LatencyFigures {
  int priority = 1;
  int64_t count = 0;
  double p50_s = 0;  // completion latency (finish - arrival), Bedrock seconds
  double p99_s = 0;
};

struct Figures {
  std::string strategy;
  std::string scenario;
  std::string mode;  // "token_bucket", "fixed_window", "sliding_window"
  int64_t docs = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t stranded = 0;
  int64_t pending = 0;  // unfinished when the run timed out
  int64_t settled_tokens = 0;
  double limit_min = 0;     // the theoretical limit, Bedrock minutes
  double makespan_min = 0;  // Bedrock minutes
  double goodput_pct = 0;
  int64_t throttles = 0;        // 429s the strategy received
  double throttles_per_1k = 0;  // per 1,000 finished documents
  int64_t server_errors = 0;
  std::vector<LatencyFigures> latency;  // highest priority first
  bool token_books = false;             // the strategy keeps its own token books
  int64_t unused_tokens = 0;  // charged to its books and never given back, beyond what was settled
  double competitor_pct = 0;  // the competitor's settled tokens, % of the quota over the makespan
  bool timed_out = false;
  std::string error;

  const LatencyFigures* LatencyOf(int priority) const;
};

Figures ComputeFigures(const Scenario& scenario, const RunResult& run, const TimeScale& scale);

// The table, one row per figures, as fixed-width text (markdown = false) or a markdown table.
std::string FormatTable(const std::vector<Figures>& rows, bool markdown);
// One row per scenario × strategy, the three server modes side by side (the README's table).
std::string FormatSummary(const std::vector<Figures>& rows, bool markdown);

// Goodput per scenario and strategy, one panel per server mode; PNG or SVG by the extension.
Status DrawChart(const std::vector<Figures>& rows, const std::filesystem::path& path,
                 const std::string& subtitle);

}  // namespace quotaflow::bench
