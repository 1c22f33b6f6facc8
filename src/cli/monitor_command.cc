#include "cli/monitor_command.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "bedrock/cloudwatch_client.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/quotas_command.h"
#include "cli/signals.h"
#include "quotaflow/duration_text.h"
#include "report/chart.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

constexpr std::string_view kMonitor = "monitor";

// The metrics asked for: query id, metric name, statistic.
struct Query {
  std::string_view id;
  std::string_view metric;
  std::string_view stat;
};
constexpr Query kQueries[] = {
    {"invocations", "Invocations", "Sum"},
    {"throttles", "InvocationThrottles", "Sum"},
    {"client_errors", "InvocationClientErrors", "Sum"},
    {"server_errors", "InvocationServerErrors", "Sum"},
    {"input_tokens", "InputTokenCount", "Sum"},
    {"output_tokens", "OutputTokenCount", "Sum"},
    {"latency_avg", "InvocationLatency", "Average"},
    {"latency_p99", "InvocationLatency", "p99"},
    {"quota_usage", "EstimatedTPMQuotaUsage", "Sum"},
};
constexpr size_t kQueryCount = std::size(kQueries);

// One period's values, by kQueries position; NaN where CloudWatch had no datapoint.
struct PeriodRow {
  std::array<double, kQueryCount> values;
  PeriodRow() { values.fill(std::numeric_limits<double>::quiet_NaN()); }
  double Get(size_t i) const { return values[i]; }
  double Count(size_t i) const { return std::isnan(values[i]) ? 0 : values[i]; }
};

struct Window {
  WallTime start;
  WallTime end;
  int64_t period_seconds = 300;
};

struct Report {
  Window window;
  std::optional<double> tpm;
  std::map<WallTime, PeriodRow> periods;  // only periods with data
};

size_t IndexOf(std::string_view id) {
  for (size_t i = 0; i < kQueryCount; ++i) {
    if (kQueries[i].id == id) return i;
  }
  return kQueryCount;
}

// Quota tokens per minute in a period: EstimatedTPMQuotaUsage when CloudWatch has it, else input
// plus output tokens (an older region without the metric).
double TokensPerMinute(const PeriodRow& row, int64_t period_seconds) {
  double tokens = row.Get(IndexOf("quota_usage"));
  if (std::isnan(tokens))
    tokens = row.Count(IndexOf("input_tokens")) + row.Count(IndexOf("output_tokens"));
  return tokens * 60.0 / static_cast<double>(period_seconds);
}

json::value Rounded(double value, int decimals) {
  if (std::isnan(value)) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return json::value(std::round(value * scale) / scale);
}

Table PeriodTable(const Report& report) {
  Table table{{"period_start", "invocations", "throttles", "client_errors", "server_errors",
               "input_tokens", "output_tokens", "latency_avg_ms", "latency_p99_ms",
               "tokens_per_minute", "tpm_utilization_pct"},
              {}};
  for (const auto& [start, row] : report.periods) {
    const double per_minute = TokensPerMinute(row, report.window.period_seconds);
    std::vector<json::value> cells{json::value(FormatUtc(start))};
    for (std::string_view id : {"invocations", "throttles", "client_errors", "server_errors",
                                "input_tokens", "output_tokens"}) {
      cells.emplace_back(row.Count(IndexOf(id)));
    }
    cells.push_back(Rounded(row.Get(IndexOf("latency_avg")), 1));
    cells.push_back(Rounded(row.Get(IndexOf("latency_p99")), 1));
    cells.push_back(Rounded(per_minute, 1));
    cells.push_back(report.tpm ? Rounded(100 * per_minute / *report.tpm, 2) : json::value(nullptr));
    table.rows.push_back(std::move(cells));
  }
  return table;
}

json::object Totals(const Report& report) {
  json::object totals;
  double peak = 0;
  for (std::string_view id : {"invocations", "throttles", "client_errors", "server_errors",
                              "input_tokens", "output_tokens"}) {
    double sum = 0;
    for (const auto& [start, row] : report.periods) sum += row.Count(IndexOf(id));
    totals[id] = sum;
  }
  for (const auto& [start, row] : report.periods) {
    peak = std::max(peak, TokensPerMinute(row, report.window.period_seconds));
  }
  totals["peak_tokens_per_minute"] = Rounded(peak, 1);
  totals["peak_tpm_utilization_pct"] =
      report.tpm ? Rounded(100 * peak / *report.tpm, 2) : json::value(nullptr);
  return totals;
}

std::string Render(const MonitorFlags& flags, const Report& report, OutputFormat format) {
  const Table table = PeriodTable(report);
  if (format == OutputFormat::kCsv) return RenderCsv(table);
  const json::object totals = Totals(report);
  if (format == OutputFormat::kJson) {
    json::object out;
    out["model"] = flags.model;
    out["start"] = FormatUtc(report.window.start);
    out["end"] = FormatUtc(report.window.end);
    out["period_seconds"] = report.window.period_seconds;
    out["tpm_quota"] = report.tpm ? json::value(*report.tpm) : json::value(nullptr);
    out["periods"] = TableToJson(table);
    out["totals"] = totals;
    return PrettyJson(out);
  }
  std::string text = fmt::format(
      "{}: {} to {}, per {} s; TPM quota {}\n", flags.model, FormatUtc(report.window.start),
      FormatUtc(report.window.end), report.window.period_seconds,
      report.tpm ? FormatNumber(*report.tpm) : std::string("unknown (pass --tpm)"));
  if (report.periods.empty()) return text + "no datapoints in the window\n";
  text += RenderTextTable(table);
  text += fmt::format(
      "total: {} invocations, {} throttled, {} client errors, {} server errors; {} input and {} "
      "output tokens; peak {} tokens/min{}\n",
      FormatNumber(totals.at("invocations").as_double()),
      FormatNumber(totals.at("throttles").as_double()),
      FormatNumber(totals.at("client_errors").as_double()),
      FormatNumber(totals.at("server_errors").as_double()),
      FormatNumber(totals.at("input_tokens").as_double()),
      FormatNumber(totals.at("output_tokens").as_double()),
      FormatNumber(totals.at("peak_tokens_per_minute").to_number<double>()),
      report.tpm
          ? fmt::format(" ({}% of the quota)",
                        FormatNumber(totals.at("peak_tpm_utilization_pct").to_number<double>()))
          : std::string());
  return text;
}

// The requests per period (successful below throttled) above the tokens per minute against the
// TPM quota line; every period of the window is drawn, periods without data as zero bars.
std::vector<report::Chart> Charts(const MonitorFlags& flags, const Report& report) {
  const auto period = seconds(report.window.period_seconds);
  report::Chart requests;
  requests.title = fmt::format("{}: requests per {} s", flags.model, report.window.period_seconds);
  requests.x = {.label = "time", .unit = "", .time = true};
  requests.y = {.label = "requests", .unit = "per period"};
  requests.bars.width = static_cast<double>(report.window.period_seconds);
  report::BarSeries ok{"successful", {}, 0x009E73};
  report::BarSeries throttled{"throttled", {}, 0xD55E00};
  report::Chart tokens;
  tokens.title = fmt::format("{}: tokens per minute against the TPM quota", flags.model);
  tokens.x = requests.x;
  tokens.y = {.label = "tokens per minute", .unit = "tokens/min"};
  // Bars on the same periods as the panel above, so the two line up and a lone period shows.
  tokens.bars.width = requests.bars.width;
  report::BarSeries usage{"quota tokens per minute", {}, 0x0072B2};
  for (WallTime t = report.window.start; t < report.window.end; t += period) {
    const double x =
        static_cast<double>(std::chrono::duration_cast<seconds>(t.time_since_epoch()).count());
    const auto it = report.periods.find(t);
    const PeriodRow row = it == report.periods.end() ? PeriodRow() : it->second;
    const double accepted = row.Count(IndexOf("invocations"));
    const double failed = row.Count(IndexOf("client_errors")) + row.Count(IndexOf("server_errors"));
    requests.bars.starts.push_back(x);
    ok.values.push_back(std::max(0.0, accepted - failed));
    throttled.values.push_back(row.Count(IndexOf("throttles")));
    tokens.bars.starts.push_back(x);
    usage.values.push_back(
        it == report.periods.end() ? 0.0 : TokensPerMinute(row, report.window.period_seconds));
  }
  requests.bars.stack = {std::move(ok), std::move(throttled)};
  tokens.bars.stack = {std::move(usage)};
  if (report.tpm) {
    tokens.references.push_back(
        {fmt::format("TPM quota {}", FormatNumber(*report.tpm)), *report.tpm, std::nullopt});
  }
  return {std::move(requests), std::move(tokens)};
}

Result<Duration> ParseFlagDuration(std::string_view flag, std::string_view text) {
  Result<Duration> duration = ParseDuration(text);
  if (!duration)
    return tl::unexpected(
        Error::InvalidArgument(fmt::format("{}: {}", flag, duration.error().message)));
  return duration;
}

// The window ending now, its start and end aligned down to whole periods (CloudWatch's periods
// start at multiples of the period since the epoch).
Window CurrentWindow(Duration since, int64_t period_seconds) {
  const int64_t now =
      std::chrono::duration_cast<seconds>(SystemClock().WallNow().time_since_epoch()).count();
  const int64_t end = (now / period_seconds + 1) * period_seconds;  // the running period too
  const int64_t span =
      std::max<int64_t>(period_seconds, std::chrono::duration_cast<seconds>(since).count());
  const int64_t start = (end - span) / period_seconds * period_seconds;
  return {WallTime(seconds(start)), WallTime(seconds(end)), period_seconds};
}

Result<Report> Fetch(bedrock::CloudWatchClient& client, const MonitorFlags& flags,
                     const Window& window, std::optional<double> tpm) {
  bedrock::GetMetricDataRequest request;
  request.start = window.start;
  request.end = window.end;
  request.scan_by = bedrock::ScanBy::kTimestampAscending;
  for (const Query& query : kQueries) {
    bedrock::MetricDataQuery q;
    q.id = query.id;
    q.metric_stat = bedrock::MetricStat{
        .metric = {.ns = std::string(bedrock::kBedrockNamespace),
                   .name = std::string(query.metric),
                   .dimensions = {{std::string(bedrock::kModelIdDimension), flags.model}}},
        .period_seconds = window.period_seconds,
        .stat = std::string(query.stat),
        .unit = std::nullopt};
    request.queries.push_back(std::move(q));
  }
  Result<bedrock::MetricData> data = client.GetMetricData(request);
  if (!data) return tl::unexpected(std::move(data).error());
  Report report{window, tpm, {}};
  for (const bedrock::MetricDataResult& result : data->results) {
    const size_t index = IndexOf(result.id);
    if (index == kQueryCount) continue;
    for (size_t i = 0; i < result.timestamps.size() && i < result.values.size(); ++i) {
      report.periods[result.timestamps[i]].values[index] = result.values[i];
    }
  }
  return report;
}

}  // namespace

int RunMonitor(const MonitorFlags& flags) {
  // Before any thread starts (the session's loop thread), so that Ctrl-C ends the watch loop.
  sigset_t shutdown_signals{};
  sigemptyset(&shutdown_signals);
  if (flags.watch) shutdown_signals = BlockShutdownSignals();

  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kMonitor, format.error());
  if (flags.watch && *format != OutputFormat::kTable) {
    return Fail(kMonitor, Error::InvalidArgument("--watch: only with --output table"));
  }
  Result<Duration> since = ParseFlagDuration("--since", flags.since);
  if (!since) return Fail(kMonitor, since.error());
  Result<Duration> period = ParseFlagDuration("--period", flags.period);
  if (!period) return Fail(kMonitor, period.error());
  const int64_t period_seconds = std::chrono::duration_cast<seconds>(*period).count();
  if (period_seconds < 1 || seconds(period_seconds) != *period ||
      (period_seconds > 60 && period_seconds % 60 != 0)) {
    return Fail(kMonitor, Error::InvalidArgument(
                              "--period: whole seconds, and a multiple of 60 s above one minute "
                              "(CloudWatch's rule)"));
  }
  if (*since <= Duration::zero()) {
    return Fail(kMonitor, Error::InvalidArgument("--since: must be positive"));
  }
  if (!flags.chart.empty()) {
    Result<report::ImageFormat> image = report::ImageFormatForPath(flags.chart);
    if (!image) return Fail(kMonitor, Error::InvalidArgument("--chart: " + image.error().message));
  }
  Result<bedrock::ResolvedModel> model = ResolveModelFlag(flags.model);
  if (!model) return Fail(kMonitor, model.error());

  Result<std::unique_ptr<AwsSession>> session = AwsSession::Open(flags.aws);
  if (!session) return Fail(kMonitor, session.error());
  std::optional<double> tpm;
  if (flags.tpm) {
    tpm = static_cast<double>(*flags.tpm);
  } else {
    Result<bedrock::ModelQuotas> matched = DiscoverModelQuotas(**session, *model);
    if (matched && matched->tpm) {
      tpm = matched->tpm->EffectiveValue();
    } else {
      std::cerr << "quotaflow monitor: note: TPM quota unknown ("
                << (matched ? matched->reason : matched.error().message)
                << "); pass --tpm for utilization\n";
    }
  }
  Result<std::unique_ptr<bedrock::CloudWatchClient>> client = (*session)->CloudWatch();
  if (!client) return Fail(kMonitor, client.error());

  while (true) {
    Result<Report> report = Fetch(**client, flags, CurrentWindow(*since, period_seconds), tpm);
    if (!report) return Fail(kMonitor, report.error());
    if (flags.watch) std::cout << "\x1b[H\x1b[2J";
    std::cout << Render(flags, *report, *format) << std::flush;
    if (!flags.chart.empty()) {
      Status drawn = report::RenderPanels(Charts(flags, *report), flags.chart);
      if (!drawn) return Fail(kMonitor, drawn.error());
      if (!flags.watch) std::cerr << "quotaflow monitor: chart written to " << flags.chart << '\n';
    }
    if (!flags.watch) return kExitOk;
    std::cout << "refreshing every " << period_seconds << " s; Ctrl-C to stop" << std::endl;
    const timespec timeout{static_cast<time_t>(period_seconds), 0};
    if (sigtimedwait(&shutdown_signals, nullptr, &timeout) >= 0) return kExitOk;
  }
}

}  // namespace quotaflow::cli
