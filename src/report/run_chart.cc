#include "report/run_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace quotaflow::report {
namespace {

constexpr Rgb kThroughputColor = 0x56B4E9;
constexpr Rgb kShareColor = 0xCC79A7;
constexpr Rgb kAchievedColor = 0x333333;

// "minute" for a real quota, "6 s" for a test's short period.
std::string PeriodName(double period_seconds) {
  if (period_seconds == 60) return "minute";
  return fmt::format("{} s", FormatTickLabel(period_seconds, period_seconds));
}

std::string FormatSeconds(double seconds) {
  if (seconds >= 100) return fmt::format("{} s", FormatThousands(std::llround(seconds)));
  return fmt::format("{:.3g} s", seconds);
}

}  // namespace

Chart ThroughputChart(const RunSeries& run) {
  const ThroughputSeries& t = run.throughput;
  const bool minute = t.period_seconds == 60;
  const std::string per = PeriodName(t.period_seconds);
  Chart chart;
  chart.title = run.title.empty() ? "throughput against the quota" : run.title;
  chart.x = {.label = "time", .unit = "", .time = true};
  chart.y = {.label = fmt::format("settled tokens per {}", per),
             .unit = minute ? "tokens/min" : fmt::format("tokens/{}", per)};
  chart.bars.starts = t.bucket_starts;
  chart.bars.width = t.bucket_seconds;
  BarSeries rate{
      fmt::format("settled tokens per {} (bucket of {})", per, FormatSeconds(t.bucket_seconds)),
      {},
      kThroughputColor};
  rate.values.reserve(t.tokens.size());
  const double scale = t.period_seconds / t.bucket_seconds;
  for (double tokens : t.tokens) rate.values.push_back(tokens * scale);
  chart.bars.stack.push_back(std::move(rate));
  const std::string quota_name = minute ? "TPM quota" : fmt::format("quota per {}", per);
  if (t.quota) {
    chart.references.push_back(
        {fmt::format("{} {}", quota_name, FormatThousands(std::llround(*t.quota))), *t.quota,
         std::nullopt});
    if (t.quota_share < 1) {
      const double share = *t.quota * t.quota_share;
      chart.references.push_back(
          {fmt::format("this run's share ({}%) {}", FormatTickLabel(t.quota_share * 100, 1),
                       FormatThousands(std::llround(share))),
           share, kShareColor});
    }
  }
  if (t.achieved) {
    chart.references.push_back(
        {fmt::format("achieved over the run {}", FormatThousands(std::llround(*t.achieved))),
         *t.achieved, kAchievedColor});
  }
  return chart;
}

Chart QueueChart(const RunSeries& run) {
  Chart chart;
  chart.title = "documents waiting in the scheduler's queue, by priority";
  chart.x = {.label = "time", .unit = "", .time = true};
  chart.y = {.label = "documents waiting", .unit = ""};
  const ThroughputSeries& t = run.throughput;
  std::optional<double> span_begin;
  std::optional<double> span_end;
  if (!t.bucket_starts.empty()) {
    span_begin = t.bucket_starts.front();
    span_end = t.bucket_starts.back() + t.bucket_seconds;
  }
  for (const QueueSeries& queue : run.queues) {
    LineSeries line{queue.name, {}, queue.color};
    line.points.reserve(queue.steps.size() * 2 + 2);
    if (span_begin && (queue.steps.empty() || *span_begin < queue.steps.front().x)) {
      line.points.push_back({*span_begin, 0});
    }
    for (const Point& step : queue.steps) {
      // The level so far runs up to this x, then the line rises or falls to the new one.
      if (!line.points.empty()) line.points.push_back({step.x, line.points.back().y});
      line.points.push_back(step);
    }
    if (span_end && !line.points.empty() && line.points.back().x < *span_end) {
      line.points.push_back({*span_end, line.points.back().y});
    }
    // Nothing to draw (no documents, no time span): no legend entry, and the panel says "no data".
    if (line.points.empty()) continue;
    chart.lines.push_back(std::move(line));
  }
  return chart;
}

Chart WaitChart(const RunSeries& run, int bins) {
  Chart chart;
  chart.title = "time waited in the queue before the start, by priority";
  chart.x = {.label = "wait", .unit = "s"};
  chart.y = {.label = "documents", .unit = ""};
  std::vector<double> all;
  for (const WaitSeries& series : run.waits) {
    all.insert(all.end(), series.seconds.begin(), series.seconds.end());
  }
  const Bars common = Histogram(all, "", bins);
  chart.bars.starts = common.starts;
  chart.bars.width = common.width;
  const size_t count = common.starts.size();
  for (const WaitSeries& series : run.waits) {
    // Counted as Histogram counts, into its bins.
    BarSeries layer{fmt::format("{} ({} documents)", series.name,
                                FormatThousands(static_cast<int64_t>(series.seconds.size()))),
                    std::vector<double>(count, 0.0), series.color};
    for (double v : series.seconds) {
      if (!std::isfinite(v) || count == 0) continue;
      const auto bin = static_cast<size_t>(
          std::max(0.0, std::floor((v - common.starts.front()) / common.width)));
      layer.values[std::min(bin, count - 1)] += 1;
    }
    chart.bars.stack.push_back(std::move(layer));
    const double p99 = Percentile(series.seconds, 0.99);
    if (!std::isnan(p99)) {
      chart.markers.push_back({fmt::format("p99 {} {}", series.name, FormatSeconds(p99)), p99});
    }
  }
  return chart;
}

std::vector<Chart> RunCharts(const RunSeries& run) {
  return {ThroughputChart(run), QueueChart(run), WaitChart(run)};
}

Status RenderRun(const RunSeries& run, const std::filesystem::path& path,
                 const RenderOptions& options) {
  return RenderPanels(RunCharts(run), path, options);
}

double Percentile(std::span<const double> samples, double q) {
  std::vector<double> sorted;
  sorted.reserve(samples.size());
  for (double v : samples) {
    if (std::isfinite(v)) sorted.push_back(v);
  }
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(sorted.begin(), sorted.end());
  // The tolerance keeps 0.99 × 100 = 99.000000000000001 (a rounding artefact) at rank 99.
  const double rank =
      std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size()) - 1e-9);
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace quotaflow::report
