#include "cli/report_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <utility>

#include "cli/command.h"
#include "cli/output.h"
#include "quotaflow/duration_text.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;

constexpr std::string_view kReport = "report";

// More buckets than this make bars thinner than a pixel; the default bucket widens past it.
constexpr int64_t kDefaultMaxBuckets = 500;
constexpr int64_t kMaxBuckets = 10000;

// Priorities as the charts and tables show them, highest first.
struct PriorityClass {
  int priority;
  std::string_view name;
  report::Rgb color;
};
constexpr std::array<PriorityClass, 3> kPriorities = {{
    {2, "high", 0xD55E00},
    {1, "normal", 0x0072B2},
    {0, "low", 0x009E73},
}};

size_t PriorityIndex(int priority) {
  for (size_t i = 0; i < kPriorities.size(); ++i) {
    if (kPriorities[i].priority == priority) return i;
  }
  return 1;  // the ledger only holds 0..2; anything else reads as normal
}

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

json::value Rounded(double value, int decimals) {
  if (!std::isfinite(value)) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return json::value(std::round(value * scale) / scale);
}

json::value OptionalRounded(const std::optional<double>& value, int decimals) {
  return value ? Rounded(*value, decimals) : json::value(nullptr);
}

std::string Utc(int64_t ms) { return FormatUtc(WallTime(std::chrono::milliseconds(ms))); }

std::optional<double> Utilization(const RunStats& stats, const std::optional<batch::RunInfo>& run) {
  if (!stats.achieved_per_period || !run || run->tokens_per_minute <= 0) return std::nullopt;
  return 100.0 * *stats.achieved_per_period / static_cast<double>(run->tokens_per_minute);
}

Table PriorityTable(const RunStats& stats) {
  Table table{{"priority", "documents", "done", "failed", "pending", "throttles", "wait_p50_s",
               "wait_p99_s", "wait_max_s"},
              {}};
  for (const PriorityStats& p : stats.priorities) {
    table.rows.push_back({json::value(kPriorities[PriorityIndex(p.priority)].name),
                          json::value(p.documents), json::value(p.done), json::value(p.failed),
                          json::value(p.pending), json::value(p.throttles),
                          Rounded(p.wait_p50_seconds, 3), Rounded(p.wait_p99_seconds, 3),
                          Rounded(p.wait_max_seconds, 3)});
  }
  return table;
}

std::string RenderJson(const ReportFlags& flags, const RunStats& stats,
                       const std::optional<batch::RunInfo>& run) {
  json::object out;
  out["state"] = flags.state;
  out["model"] = run ? json::value(run->model) : json::value(nullptr);
  out["tpm_quota"] =
      run && run->tokens_per_minute > 0 ? json::value(run->tokens_per_minute) : nullptr;
  out["limits_source"] = run ? json::value(run->limits_source) : json::value(nullptr);
  out["quota_share"] = run ? json::value(run->quota_share) : json::value(nullptr);
  out["period_seconds"] = Rounded(Seconds(stats.period_ms), 3);
  out["documents"] = json::object{{"total", stats.counts.total()},
                                  {"done", stats.counts.done},
                                  {"failed", stats.counts.failed},
                                  {"pending", stats.counts.pending},
                                  {"running", stats.counts.running}};
  out["tokens"] = json::object{{"input", stats.usage.input},
                               {"output", stats.usage.output},
                               {"cache_read", stats.usage.cache_read},
                               {"cache_write", stats.usage.cache_write},
                               {"settled", stats.settled_tokens}};
  out["throttles"] = stats.throttles;
  out["start"] = stats.start_ms > 0 ? json::value(Utc(stats.start_ms)) : json::value(nullptr);
  out["end"] = stats.end_ms > 0 ? json::value(Utc(stats.end_ms)) : json::value(nullptr);
  out["span_seconds"] = Rounded(Seconds(stats.end_ms - stats.start_ms), 3);
  // Per quota period: a minute, unless the run used a shorter period (the emulator's, tests').
  out["achieved_tpm"] = OptionalRounded(stats.achieved_per_period, 1);
  out["tpm_utilization_pct"] = OptionalRounded(Utilization(stats, run), 2);
  out["priorities"] = TableToJson(PriorityTable(stats));
  return PrettyJson(out);
}

std::string RenderText(const ReportFlags& flags, const RunStats& stats,
                       const std::optional<batch::RunInfo>& run) {
  std::string text;
  if (run) {
    text += fmt::format(
        "{}: {}; TPM quota {} ({}), this run's share {}%{}\n", flags.state, run->model,
        run->tokens_per_minute > 0 ? FormatNumber(static_cast<double>(run->tokens_per_minute))
                                   : std::string("unknown"),
        run->limits_source.empty() ? "source unknown" : run->limits_source,
        FormatNumber(run->quota_share * 100),
        stats.period_ms == 60000
            ? std::string()
            : fmt::format("; quota period {} s", FormatNumber(Seconds(stats.period_ms))));
  } else {
    text += fmt::format("{}: no run information (quota unknown)\n", flags.state);
  }
  const batch::Counts& c = stats.counts;
  text += fmt::format(
      "documents: {} total; {} done, {} failed, {} pending{}\n",
      FormatNumber(static_cast<double>(c.total())), FormatNumber(static_cast<double>(c.done)),
      FormatNumber(static_cast<double>(c.failed)), FormatNumber(static_cast<double>(c.pending)),
      c.running > 0 ? fmt::format(", {} running", c.running) : std::string());
  text += fmt::format(
      "tokens: {} input, {} output, {} cache read, {} cache write; {} settled against the quota\n",
      FormatNumber(static_cast<double>(stats.usage.input)),
      FormatNumber(static_cast<double>(stats.usage.output)),
      FormatNumber(static_cast<double>(stats.usage.cache_read)),
      FormatNumber(static_cast<double>(stats.usage.cache_write)),
      FormatNumber(static_cast<double>(stats.settled_tokens)));
  if (stats.start_ms > 0) {
    text += fmt::format("span: {} to {} ({} s)\n", Utc(stats.start_ms), Utc(stats.end_ms),
                        FormatNumber(Seconds(stats.end_ms - stats.start_ms)));
  }
  const std::string per = stats.period_ms == 60000
                              ? std::string("minute")
                              : fmt::format("{} s", FormatNumber(Seconds(stats.period_ms)));
  if (stats.achieved_per_period) {
    const std::optional<double> utilization = Utilization(stats, run);
    text +=
        fmt::format("achieved: {} settled tokens per {} over the span{}; {} throttles\n",
                    FormatNumber(std::round(*stats.achieved_per_period)), per,
                    utilization ? fmt::format(" ({}% of the TPM quota)", FormatNumber(*utilization))
                                : std::string(),
                    FormatNumber(static_cast<double>(stats.throttles)));
  }
  text += RenderTextTable(PriorityTable(stats));
  return text;
}

Result<int64_t> BucketMs(const ReportFlags& flags, const RunStats& stats) {
  if (!flags.bucket.empty()) {
    Result<Duration> bucket = ParseDuration(flags.bucket);
    if (!bucket) {
      return tl::unexpected(Error::InvalidArgument("--bucket: " + bucket.error().message));
    }
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(*bucket).count();
    if (ms <= 0) return tl::unexpected(Error::InvalidArgument("--bucket: must be at least 1ms"));
    return ms;
  }
  const int64_t period = std::max<int64_t>(1, stats.period_ms);
  const int64_t span = stats.end_ms - stats.start_ms;
  const int64_t periods = (span + period * kDefaultMaxBuckets - 1) / (period * kDefaultMaxBuckets);
  return period * std::max<int64_t>(1, periods);
}

}  // namespace

RunStats ComputeRunStats(std::span<const batch::DocumentRecord> docs,
                         const std::optional<batch::RunInfo>& run) {
  RunStats stats;
  if (run && run->period_ms > 0) stats.period_ms = run->period_ms;
  std::array<std::vector<double>, kPriorities.size()> waits;
  for (const PriorityClass& p : kPriorities) stats.priorities.push_back({.priority = p.priority});
  auto earliest = [&](int64_t ms) {
    if (ms > 0 && (stats.start_ms == 0 || ms < stats.start_ms)) stats.start_ms = ms;
  };
  if (run) earliest(run->started_at_ms);
  for (const batch::DocumentRecord& d : docs) {
    const size_t index = PriorityIndex(d.priority);
    PriorityStats& p = stats.priorities[index];
    ++p.documents;
    p.throttles += d.throttles;
    stats.throttles += d.throttles;
    earliest(d.queued_at_ms);
    earliest(d.started_at_ms);
    earliest(d.finished_at_ms);
    stats.end_ms = std::max(stats.end_ms, d.finished_at_ms);
    switch (d.state) {
      case batch::DocState::kPending:
        ++stats.counts.pending;
        ++p.pending;
        break;
      case batch::DocState::kRunning:
        ++stats.counts.running;
        ++p.pending;
        break;
      case batch::DocState::kFailed:
        ++stats.counts.failed;
        ++p.failed;
        break;
      case batch::DocState::kDone:
        ++stats.counts.done;
        ++p.done;
        stats.usage.input += d.usage.input;
        stats.usage.output += d.usage.output;
        stats.usage.cache_read += d.usage.cache_read;
        stats.usage.cache_write += d.usage.cache_write;
        stats.settled_tokens += d.settled_tokens;
        waits[index].push_back(Seconds(d.wait_ms));
        break;
    }
  }
  stats.end_ms = std::max(stats.end_ms, stats.start_ms);
  if (stats.end_ms > stats.start_ms) {
    stats.achieved_per_period = static_cast<double>(stats.settled_tokens) *
                                static_cast<double>(stats.period_ms) /
                                static_cast<double>(stats.end_ms - stats.start_ms);
  }
  for (size_t i = 0; i < kPriorities.size(); ++i) {
    PriorityStats& p = stats.priorities[i];
    p.wait_p50_seconds = report::Percentile(waits[i], 0.5);
    p.wait_p99_seconds = report::Percentile(waits[i], 0.99);
    p.wait_max_seconds = report::Percentile(waits[i], 1);
  }
  return stats;
}

Result<report::RunSeries> BuildRunSeries(std::span<const batch::DocumentRecord> docs,
                                         const std::optional<batch::RunInfo>& run,
                                         const RunStats& stats, int64_t bucket_ms,
                                         std::string title) {
  if (bucket_ms <= 0) {
    return tl::unexpected(Error::InvalidArgument("--bucket: must be positive"));
  }
  report::RunSeries series;
  series.title = std::move(title);
  report::ThroughputSeries& t = series.throughput;
  t.bucket_seconds = Seconds(bucket_ms);
  t.period_seconds = Seconds(stats.period_ms);
  if (run && run->tokens_per_minute > 0) {
    t.quota = static_cast<double>(run->tokens_per_minute);
    t.quota_share = run->quota_share;
  }
  t.achieved = stats.achieved_per_period;
  if (stats.start_ms > 0) {
    const int64_t span = stats.end_ms - stats.start_ms;
    const int64_t buckets = std::max<int64_t>(1, (span + bucket_ms - 1) / bucket_ms);
    if (buckets > kMaxBuckets) {
      return tl::unexpected(Error::InvalidArgument(fmt::format(
          "--bucket: {} s over a run of {} s makes {} buckets; at most {}",
          FormatNumber(t.bucket_seconds), FormatNumber(Seconds(span)), buckets, kMaxBuckets)));
    }
    for (int64_t i = 0; i < buckets; ++i) {
      t.bucket_starts.push_back(Seconds(stats.start_ms + i * bucket_ms));
    }
    t.tokens.assign(static_cast<size_t>(buckets), 0.0);
    for (const batch::DocumentRecord& d : docs) {
      if (d.state != batch::DocState::kDone || d.finished_at_ms <= 0) continue;
      const int64_t i =
          std::clamp<int64_t>((d.finished_at_ms - stats.start_ms) / bucket_ms, 0, buckets - 1);
      t.tokens[static_cast<size_t>(i)] += static_cast<double>(d.settled_tokens);
    }
  }

  // The queue: +1 at queued_at, -1 at started_at, summed per instant.
  std::array<std::map<int64_t, int64_t>, kPriorities.size()> changes;
  std::array<std::vector<double>, kPriorities.size()> waits;
  for (const batch::DocumentRecord& d : docs) {
    const size_t index = PriorityIndex(d.priority);
    if (d.queued_at_ms > 0 && d.started_at_ms > d.queued_at_ms) {
      changes[index][d.queued_at_ms] += 1;
      changes[index][d.started_at_ms] -= 1;
    }
    if (d.state == batch::DocState::kDone) waits[index].push_back(Seconds(d.wait_ms));
  }
  for (size_t i = 0; i < kPriorities.size(); ++i) {
    report::QueueSeries queue{std::string(kPriorities[i].name), kPriorities[i].color, {}};
    int64_t length = 0;
    for (const auto& [ms, delta] : changes[i]) {
      if (delta == 0) continue;  // one document left as another came: no step
      length += delta;
      queue.steps.push_back({Seconds(ms), static_cast<double>(length)});
    }
    series.queues.push_back(std::move(queue));
    series.waits.push_back(
        {std::string(kPriorities[i].name), kPriorities[i].color, std::move(waits[i])});
  }
  return series;
}

int RunReport(const ReportFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kReport, format.error());
  if (*format == OutputFormat::kCsv) {
    return Fail(kReport, Error::InvalidArgument("--output: table or json"));
  }
  if (!flags.chart.empty()) {
    Result<report::ImageFormat> image = report::ImageFormatForPath(flags.chart);
    if (!image) return Fail(kReport, Error::InvalidArgument("--chart: " + image.error().message));
  }
  Result<std::unique_ptr<batch::Ledger>> ledger = batch::Ledger::OpenReadOnly(flags.state);
  if (!ledger) {
    if (ledger.error().code == ErrorCode::kNotFound) {
      return Fail(kReport, Error::InvalidArgument("--state: " + ledger.error().message));
    }
    return Fail(kReport, ledger.error());
  }
  Result<std::optional<batch::RunInfo>> run = (*ledger)->GetRunInfo();
  if (!run) return Fail(kReport, run.error());
  Result<std::vector<batch::DocumentRecord>> docs = (*ledger)->Documents();
  if (!docs) return Fail(kReport, docs.error());
  ledger->reset();  // everything is read: a running batch need not share the file any longer

  const RunStats stats = ComputeRunStats(*docs, *run);
  // The series before any output: a bad --bucket fails the command before it prints anything.
  std::optional<report::RunSeries> series;
  if (!flags.chart.empty()) {
    Result<int64_t> bucket_ms = BucketMs(flags, stats);
    if (!bucket_ms) return Fail(kReport, bucket_ms.error());
    const std::string name = std::filesystem::path(flags.state).filename().string();
    Result<report::RunSeries> built = BuildRunSeries(
        *docs, *run, stats, *bucket_ms,
        *run && !(*run)->model.empty() ? fmt::format("{}: {}", name, (*run)->model) : name);
    if (!built) return Fail(kReport, built.error());
    series = std::move(*built);
  }
  std::cout << (*format == OutputFormat::kJson ? RenderJson(flags, stats, *run)
                                               : RenderText(flags, stats, *run))
            << std::flush;
  if (!series) return kExitOk;
  if (Status drawn = report::RenderRun(*series, flags.chart); !drawn) {
    return Fail(kReport, drawn.error());
  }
  std::cerr << "quotaflow report: chart written to " << flags.chart << '\n';
  return kExitOk;
}

}  // namespace quotaflow::cli
