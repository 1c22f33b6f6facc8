#include "throughput_figures.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "emulator/quota_books.h"
#include "quotaflow/scheduler.h"
#include "report/chart.h"

namespace quotaflow::bench {
namespace {

using State = DocOutcome::State;

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

std::string Thousands(int64_t v) { return report::FormatThousands(v); }

std::string LatencyCell(const Figures& f, int priority) {
  const LatencyFigures* l = f.LatencyOf(priority);
  if (l == nullptr || l->count == 0) return "-";
  return fmt::format("{:.1f} / {:.1f}", l->p50_s, l->p99_s);
}

}  // namespace

const LatencyFigures* Figures::LatencyOf(int priority) const {
  for (const LatencyFigures& l : latency) {
    if (l.priority == priority) return &l;
  }
  return nullptr;
}

Figures ComputeFigures(const Scenario& scenario, const RunResult& run, const TimeScale& scale) {
  Figures f;
  f.strategy = std::string(StrategyName(run.strategy));
  f.scenario = run.scenario;
  f.mode = std::string(emulator::CountingModeName(run.mode));
  f.docs = static_cast<int64_t>(run.docs.size());
  f.timed_out = run.timed_out;
  f.error = run.error;
  f.token_books =
      run.strategy == StrategyKind::kTokenBucket || run.strategy == StrategyKind::kQuotaflow;

  struct Done {
    SteadyTime arrival;
    int64_t tokens;
  };
  std::vector<Done> done;
  SteadyTime first_arrival = SteadyTime::max();
  SteadyTime last_finish = SteadyTime::min();
  std::map<int, std::vector<double>, std::greater<>> latencies;
  for (const DocOutcome& o : run.docs) {
    f.throttles += o.throttles;
    f.server_errors += o.server_errors;
    switch (o.state) {
      case State::kPending:
        ++f.pending;
        continue;
      case State::kFailed:
        ++f.failed;
        continue;
      case State::kStranded:
        ++f.stranded;
        continue;
      case State::kSucceeded:
        break;
    }
    ++f.succeeded;
    f.settled_tokens += o.settled_tokens;
    if (f.token_books) f.unused_tokens += std::max<int64_t>(0, o.charged_tokens - o.settled_tokens);
    done.push_back({o.arrival, o.settled_tokens});
    first_arrival = std::min(first_arrival, o.arrival);
    last_finish = std::max(last_finish, o.finished);
    latencies[o.priority].push_back(scale.BedrockSeconds(o.finished - o.arrival));
  }
  for (auto& [priority, v] : latencies) {
    f.latency.push_back({.priority = priority,
                         .count = static_cast<int64_t>(v.size()),
                         .p50_s = Quantile(v, 0.50),
                         .p99_s = Quantile(v, 0.99)});
  }
  f.throttles_per_1k =
      f.succeeded > 0 ? 1000.0 * static_cast<double>(f.throttles) / static_cast<double>(f.succeeded)
                      : 0;
  if (done.empty()) return f;

  const double makespan = ToSeconds(last_finish - first_arrival);
  const double period = ToSeconds(scale.period());
  double tpm_rate = static_cast<double>(scenario.tpm) / period;
  if (scenario.competitor_share > 0 && makespan > 0) {
    const double competitor_rate = static_cast<double>(run.competitor.settled_tokens) / makespan;
    f.competitor_pct = 100 * competitor_rate / tpm_rate;
    tpm_rate = std::max(tpm_rate - competitor_rate, 1.0);
  }
  const double rpm_rate = static_cast<double>(scenario.rpm) / period;

  // Suffix sums over arrival order: the fluid queue's drain time from each arrival on.
  std::sort(done.begin(), done.end(),
            [](const Done& a, const Done& b) { return a.arrival < b.arrival; });
  double limit = 0;
  double tokens = 0;
  double requests = 0;
  for (size_t i = done.size(); i-- > 0;) {
    tokens += static_cast<double>(done[i].tokens);
    requests += 1;
    if (i > 0 && done[i - 1].arrival == done[i].arrival) continue;
    double drain = tokens / tpm_rate;
    if (rpm_rate > 0) drain = std::max(drain, requests / rpm_rate);
    limit = std::max(limit, ToSeconds(done[i].arrival - first_arrival) + drain);
  }
  f.limit_min = limit / period;
  f.makespan_min = makespan / period;
  f.goodput_pct = makespan > 0 ? 100 * limit / makespan : 0;
  return f;
}

namespace {

// Columns before `left_columns` are left-aligned (names), the rest right-aligned (figures).
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& cells, size_t left_columns,
                        bool markdown) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string s = markdown ? "|" : "";
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      s += markdown ? " " : (c == 0 ? "" : "  ");
      s += c < left_columns ? row[c] + pad : pad + row[c];
      if (markdown) s += " |";
    }
    return s + "\n";
  };
  std::string out = line(header);
  if (markdown) {
    std::string s = "|";
    for (size_t c = 0; c < header.size(); ++c) {
      if (c < left_columns) {
        s.append(width[c] + 2, '-');
      } else {
        s += ' ';
        s.append(width[c] - 1, '-');
        s += ": ";
      }
      s += '|';
    }
    out += s + "\n";
  }
  for (const auto& row : cells) out += line(row);
  return out;
}

std::string GoodputCell(const Figures& f) {
  return f.succeeded > 0 ? fmt::format("{:.1f}%", f.goodput_pct) : "-";
}

std::string CompetitorCell(const Figures& f) {
  return f.competitor_pct > 0 ? fmt::format("{:.1f}%", f.competitor_pct) : "-";
}

}  // namespace

std::string FormatTable(const std::vector<Figures>& rows, bool markdown) {
  const std::vector<std::string> header = {
      "scenario",         "server",           "strategy",      "goodput",      "429s/1k",
      "urgent p50/p99 s", "normal p50/p99 s", "low p50/p99 s", "makespan min", "reserved unused",
      "stranded",         "failed",           "other app"};
  std::vector<std::vector<std::string>> cells;
  for (const Figures& f : rows) {
    std::string failed = Thousands(f.failed);
    if (f.pending > 0) failed += fmt::format(" (+{} unfinished)", f.pending);
    if (!f.error.empty()) failed = "error: " + f.error;
    cells.push_back({f.scenario, f.mode, f.strategy, GoodputCell(f),
                     fmt::format("{:.1f}", f.throttles_per_1k), LatencyCell(f, kPriorityHigh),
                     LatencyCell(f, kPriorityNormal), LatencyCell(f, kPriorityLow),
                     fmt::format("{:.2f}", f.makespan_min),
                     f.token_books ? Thousands(f.unused_tokens) : "-",
                     f.stranded > 0 ? fmt::format("{} of {}", f.stranded, f.docs) : "0", failed,
                     CompetitorCell(f)});
  }
  return RenderTable(header, cells, 3, markdown);
}

std::string FormatSummary(const std::vector<Figures>& rows, bool markdown) {
  std::vector<std::pair<std::string, std::string>> keys;  // (scenario, strategy), first seen order
  for (const Figures& f : rows) {
    const std::pair<std::string, std::string> k{f.scenario, f.strategy};
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  const std::vector<std::string> modes = {"token_bucket", "fixed_window", "sliding_window"};
  auto find = [&rows](const std::string& scenario, const std::string& strategy,
                      const std::string& mode) -> const Figures* {
    for (const Figures& f : rows) {
      if (f.scenario == scenario && f.strategy == strategy && f.mode == mode) return &f;
    }
    return nullptr;
  };
  // Three figures, one per server mode: "98.6 / 98.6 / 98.7".
  auto per_mode = [&](const std::string& scenario, const std::string& strategy, auto cell) {
    std::string s;
    for (size_t m = 0; m < modes.size(); ++m) {
      const Figures* f = find(scenario, strategy, modes[m]);
      if (m > 0) s += " / ";
      s += f != nullptr ? cell(*f) : std::string("-");
    }
    return s;
  };
  const std::vector<std::string> header = {"scenario",
                                           "strategy",
                                           "goodput % TB / FW / SW",
                                           "429s per 1k TB / FW / SW",
                                           "makespan min TB / FW / SW",
                                           "p50 / p99 s (TB)",
                                           "reserved unused (TB)",
                                           "stranded",
                                           "other app % TPM"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& [scenario, strategy] : keys) {
    const Figures* tb = find(scenario, strategy, modes[0]);
    if (tb == nullptr) continue;
    // The priority mix shows its urgent class: the latency the scenario is about.
    const LatencyFigures* lat = tb->LatencyOf(kPriorityHigh);
    if (lat == nullptr) lat = tb->LatencyOf(kPriorityNormal);
    cells.push_back(
        {scenario, strategy,
         per_mode(scenario, strategy,
                  [](const Figures& f) {
                    return f.succeeded > 0 ? fmt::format("{:.1f}", f.goodput_pct) : "-";
                  }),
         per_mode(scenario, strategy,
                  [](const Figures& f) { return fmt::format("{:.0f}", f.throttles_per_1k); }),
         per_mode(scenario, strategy,
                  [](const Figures& f) { return fmt::format("{:.1f}", f.makespan_min); }),
         lat != nullptr
             ? fmt::format("{}{:.0f} / {:.0f}", tb->LatencyOf(kPriorityHigh) ? "urgent " : "",
                           lat->p50_s, lat->p99_s)
             : "-",
         tb->token_books ? Thousands(tb->unused_tokens) : "-",
         tb->stranded > 0 ? fmt::format("{} of {}", tb->stranded, tb->docs) : "0",
         tb->competitor_pct > 0
             ? per_mode(scenario, strategy,
                        [](const Figures& f) { return fmt::format("{:.0f}", f.competitor_pct); })
             : "-"});
  }
  return RenderTable(header, cells, 2, markdown);
}

Status DrawChart(const std::vector<Figures>& rows, const std::filesystem::path& path,
                 const std::string& subtitle) {
  std::vector<std::string> scenarios;
  std::vector<std::string> strategies;
  std::vector<std::string> modes;
  auto add = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const Figures& f : rows) {
    add(scenarios, f.scenario);
    add(strategies, f.strategy);
    add(modes, f.mode);
  }
  if (rows.empty()) return tl::unexpected(Error::InvalidArgument("no results to chart"));
  const double group = 0.84;
  const double bar = group / static_cast<double>(strategies.size());
  std::vector<report::Chart> panels;
  for (const std::string& mode : modes) {
    report::Chart c;
    c.title = fmt::format("Goodput, % of the theoretical limit — {} server ({})", mode, subtitle);
    c.x.label = "scenario (named above each group)";
    c.y.label = "goodput";
    c.y.unit = "% of limit";
    c.bars.width = bar * 0.92;
    for (size_t i = 0; i < scenarios.size(); ++i) {
      for (size_t j = 0; j < strategies.size(); ++j) {
        c.bars.starts.push_back(static_cast<double>(i) - group / 2 + static_cast<double>(j) * bar);
      }
    }
    for (size_t j = 0; j < strategies.size(); ++j) {
      report::BarSeries s;
      s.name = strategies[j];
      s.values.assign(c.bars.starts.size(), 0.0);
      for (const Figures& f : rows) {
        if (f.mode != mode || f.strategy != strategies[j] || f.succeeded == 0) continue;
        const auto i = static_cast<size_t>(
            std::find(scenarios.begin(), scenarios.end(), f.scenario) - scenarios.begin());
        s.values[i * strategies.size() + j] = std::max(0.0, f.goodput_pct);
      }
      c.bars.stack.push_back(std::move(s));
    }
    for (size_t i = 0; i < scenarios.size(); ++i) {
      c.markers.push_back({.label = scenarios[i], .x = static_cast<double>(i) - 0.5});
    }
    c.references.push_back({.label = "limit", .y = 100, .color = std::nullopt});
    c.references.push_back({.label = "target 97%", .y = 97, .color = 0x888888});
    panels.push_back(std::move(c));
  }
  {
    // 429s per 1,000 documents, the mean of the three server modes, capped so that quotaflow's and
    // the limiters' figures stay readable beside retry-only clients' thousands.
    constexpr double kCap = 1'000;
    report::Chart c;
    c.title =
        fmt::format("429s per 1,000 documents, mean of the server modes, capped at {:.0f} ({})",
                    kCap, subtitle);
    c.x.label = "scenario (named above each group)";
    c.y.label = "429s per 1,000 documents";
    c.bars.width = bar * 0.92;
    c.bars.starts = panels.front().bars.starts;
    for (size_t j = 0; j < strategies.size(); ++j) {
      report::BarSeries series;
      series.name = strategies[j];
      series.values.assign(c.bars.starts.size(), 0.0);
      for (size_t i = 0; i < scenarios.size(); ++i) {
        double sum = 0;
        int n = 0;
        for (const Figures& f : rows) {
          if (f.scenario != scenarios[i] || f.strategy != strategies[j] || f.succeeded == 0) {
            continue;
          }
          sum += f.throttles_per_1k;
          ++n;
        }
        if (n > 0) series.values[i * strategies.size() + j] = std::min(kCap, sum / n);
      }
      c.bars.stack.push_back(std::move(series));
    }
    c.markers = panels.front().markers;
    panels.push_back(std::move(c));
  }
  report::RenderOptions options;
  options.width = 1400;
  options.panel_height = 420;
  return report::RenderPanels(panels, path, options);
}

}  // namespace quotaflow::bench
