#pragma once
// A batch run's own picture, from plain series (`quotaflow report --state run.db`): three panels,
// one above the other, drawn with chart.h.
//   1. throughput: tokens settled per bucket of time, as a rate per quota period, against the TPM
//      quota line (and the run's share of it, and the rate achieved over the run);
//   2. queue: documents waiting in the scheduler's queue, per priority, over the same time axis;
//   3. waits: the distribution of the time documents waited before their start, per priority,
//      with each priority's p99 marked.
// The series are plain numbers: reading the ledger stays in batch/ and the CLI, so report/ does
// not depend on batch/. Everything a reader relies on (rates, the quota line's value, bins, axis
// ranges) is in the Chart values these functions return, which the tests check.
//
// Thread safety: every function is safe to call from any thread.

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "quotaflow/error.h"
#include "report/chart.h"

namespace quotaflow::report {

// Tokens settled per bucket of time, and the quota they ran against.
struct ThroughputSeries {
  std::vector<double> bucket_starts;  // seconds since the Unix epoch, ascending
  std::vector<double> tokens;         // tokens settled by the requests that finished in bucket i
  double bucket_seconds = 60;         // REQUIRES: > 0
  // The quota's period: bars are drawn as tokens per period (tokens × period / bucket), so a bar
  // reads against the quota whatever the bucket. 60 s for a real TPM quota; the emulator and the
  // tests may run a "minute" in a few seconds. REQUIRES: > 0.
  double period_seconds = 60;
  std::optional<double> quota;  // tokens per period (the TPM quota); none = unknown
  double quota_share = 1;       // the share of the quota the run was allowed; < 1 adds its line
  // Tokens per period achieved over the whole run (settled tokens / span), drawn as a line.
  std::optional<double> achieved;
};

// Documents in the queue over time: from each point's x (seconds since the epoch) on, the queue
// holds y documents, until the next point. Drawn as steps.
struct QueueSeries {
  std::string name;  // the legend entry: "high"
  std::optional<Rgb> color;
  std::vector<Point> steps;  // ascending x
};

// How long each document of one class waited before its start.
struct WaitSeries {
  std::string name;
  std::optional<Rgb> color;
  std::vector<double> seconds;
};

struct RunSeries {
  std::string title;  // what the run was, atop the first panel: "run.db: amazon.nova-lite-v1:0"
  ThroughputSeries throughput;
  std::vector<QueueSeries> queues;  // by priority, highest first
  std::vector<WaitSeries> waits;    // by priority, highest first
};

// Panel 1. Bars of tokens × period / bucket; reference lines for the quota ("TPM quota 400,000"),
// the run's share when below 1 and the achieved rate. The y axis says "tokens per minute" for a
// 60 s period, "tokens per N s" otherwise.
Chart ThroughputChart(const RunSeries& run);
// Panel 2. One step line per queue series. Each line is extended at length 0 to the span of the
// throughput buckets (the queue is empty before its first document and after its last), so that
// panels 1 and 2 share their time axis. A series with no steps and no buckets is left out.
Chart QueueChart(const RunSeries& run);
// Panel 3. A stacked histogram of the waits, one layer per series, over bins common to all
// (chart.h's Histogram of every sample together); a marker at each series' p99.
Chart WaitChart(const RunSeries& run, int bins = 20);
// The three panels, in order.
std::vector<Chart> RunCharts(const RunSeries& run);

// The panels drawn to `path` (.png or .svg), each options.panel_height tall.
Status RenderRun(const RunSeries& run, const std::filesystem::path& path,
                 const RenderOptions& options = {.width = 1100, .panel_height = 460});

// The nearest-rank q-quantile (q in [0, 1]) of the finite samples: the smallest sample with at
// least q of them at or below it. NaN without a finite sample.
double Percentile(std::span<const double> samples, double q);

}  // namespace quotaflow::report
