#pragma once
// `quotaflow report --state run.db`: a batch run's own client-side picture, from its ledger. A
// summary (documents done and failed, tokens, the settled rate achieved against the TPM quota,
// waits by priority) as a table or JSON, and with --chart three panels (report/run_chart.h):
// throughput over time against the quota, the queue by priority, the wait-time distribution.
//
// The ledger is opened read-only, so a report may be drawn while the run goes on; it is turned
// into plain series here, so that report/ does not depend on batch/.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "batch/ledger.h"
#include "quotaflow/error.h"
#include "report/run_chart.h"

namespace quotaflow::cli {

struct ReportFlags {
  std::string state;  // --state FILE, required: the ledger of a `quotaflow batch` run
  std::string chart;  // --chart FILE.png|.svg; empty = none
  // --bucket DURATION: the throughput chart's bucket. Empty = the run's quota period (a minute),
  // widened to whole periods when the run would need more than 500 buckets.
  std::string bucket;
  std::string output = "table";  // table or json
};

// Exit codes (command.h): 2 for bad flags or no ledger at --state; 1 when the ledger cannot be
// read (not a ledger, a newer schema) or the chart cannot be written.
int RunReport(const ReportFlags& flags);

// ---- The ledger's records as numbers (tested without a command line) ----

// One priority class. Waits are those of done documents (the ledger records no wait for others).
struct PriorityStats {
  int priority = 1;  // 2 high, 1 normal, 0 low
  int64_t documents = 0;
  int64_t done = 0;
  int64_t failed = 0;
  int64_t pending = 0;  // pending or running: not finished
  int64_t throttles = 0;
  double wait_p50_seconds = 0;  // NaN without a done document
  double wait_p99_seconds = 0;
  double wait_max_seconds = 0;
};

struct RunStats {
  batch::Counts counts;
  batch::TokenUsage usage;  // of done documents
  int64_t settled_tokens = 0;
  int64_t throttles = 0;
  // The span of the run: the earliest time the ledger holds (the run's start, a document's queue,
  // start or finish) to the last finish. 0 when the ledger holds no time.
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t period_ms = 60000;  // the quota period (RunInfo's, else a minute)
  // Settled tokens per quota period over the span; none for an empty span.
  std::optional<double> achieved_per_period;
  std::vector<PriorityStats> priorities;  // high, normal, low
};

RunStats ComputeRunStats(std::span<const batch::DocumentRecord> docs,
                         const std::optional<batch::RunInfo>& run);

// The series the charts draw, over RunStats' span:
// - throughput: settled tokens of done documents by the bucket of their finish time, buckets of
//   `bucket_ms` from the span's start (a finish at the span's very end counts in the last one);
//   the quota line is RunInfo's tokens_per_minute, per its period, with its quota_share;
// - queue by priority: at each instant, the documents whose [queued_at, started_at) covers it;
// - waits by priority: wait_ms of done documents, in seconds.
// kInvalidArgument for bucket_ms <= 0 or more than 10,000 buckets.
Result<report::RunSeries> BuildRunSeries(std::span<const batch::DocumentRecord> docs,
                                         const std::optional<batch::RunInfo>& run,
                                         const RunStats& stats, int64_t bucket_ms,
                                         std::string title);

}  // namespace quotaflow::cli
