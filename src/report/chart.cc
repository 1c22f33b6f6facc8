#include "report/chart.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <numbers>
#include <system_error>
#include <utility>

namespace quotaflow::report {
namespace {

constexpr double kPad = 16;
constexpr double kTitleSize = 20;
constexpr double kLegendSize = 13;
constexpr double kTickSize = 12;
constexpr double kAxisTitleSize = 13;
constexpr double kLabelSize = 12;
constexpr double kLegendRow = 20;
constexpr double kLegendSwatch = 22;
constexpr double kTickLength = 5;
// Below this many points a line also gets a dot per point: a sparse series (a few CloudWatch
// periods) otherwise reads as a straight segment whose data points cannot be told apart.
constexpr size_t kMaxDottedPoints = 60;

// Okabe-Ito: distinguishable with the common colour-vision deficiencies, and on paper.
constexpr std::array<Rgb, 7> kPalette = {0x0072B2, 0xE69F00, 0x009E73, 0xD55E00,
                                         0x56B4E9, 0xCC79A7, 0x000000};
constexpr Rgb kReferenceColor = 0xB00020;
constexpr Rgb kMarkerColor = 0x555555;
constexpr Rgb kTextColor = 0x222222;
constexpr Rgb kAxisColor = 0x444444;
constexpr Rgb kGridColor = 0xE4E4E4;

constexpr double kSecondsPerDay = 86400;

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, ContextDeleter>;

void SetColor(cairo_t* cr, Rgb rgb, double alpha = 1.0) {
  cairo_set_source_rgba(cr, ((rgb >> 16) & 0xFF) / 255.0, ((rgb >> 8) & 0xFF) / 255.0,
                        (rgb & 0xFF) / 255.0, alpha);
}

// Metrics are taken unhinted on every surface, so that the layout measured on a scratch image
// surface is the layout drawn on an SVG one.
void SetFont(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

void UnhintMetrics(cairo_t* cr) {
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
}

double TextWidth(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

// Measures text for the layout without a destination surface.
class TextMeter {
 public:
  TextMeter()
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1)),
        cr_(cairo_create(surface_.get())) {
    UnhintMetrics(cr_.get());
  }
  double Width(const std::string& text, double size, bool bold = false) {
    SetFont(cr_.get(), size, bold);
    return TextWidth(cr_.get(), text);
  }

 private:
  SurfacePtr surface_;
  ContextPtr cr_;
};

enum class HAlign : uint8_t { kLeft, kCenter, kRight };
enum class VAlign : uint8_t { kBaseline, kMiddle, kTop };

// Draws `text` anchored at (x, y) with the current font and source; returns its width.
double DrawText(cairo_t* cr, const std::string& text, double x, double y, HAlign h,
                VAlign v = VAlign::kBaseline) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  cairo_font_extents_t font;
  cairo_font_extents(cr, &font);
  if (h == HAlign::kCenter) x -= extents.x_advance / 2;
  if (h == HAlign::kRight) x -= extents.x_advance;
  if (v == VAlign::kMiddle) y += (font.ascent - font.descent) / 2;
  if (v == VAlign::kTop) y += font.ascent;
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, text.c_str());
  return extents.x_advance;
}

std::string AxisTitle(const Axis& axis) {
  std::string unit = axis.unit;
  if (axis.time) {
    const int offset = axis.utc_offset_minutes;
    unit = offset == 0 ? "UTC"
                       : fmt::format("UTC{}{:02}:{:02}", offset < 0 ? '-' : '+',
                                     std::abs(offset) / 60, std::abs(offset) % 60);
  }
  if (unit.empty()) return axis.label;
  if (axis.label.empty()) return unit;
  return axis.label + " (" + unit + ")";
}

// Decimals a label needs to tell ticks `step` apart.
int DecimalsFor(double step) {
  if (!(step > 0)) return 0;
  const double d = std::ceil(-std::log10(step) - 1e-9);
  return static_cast<int>(std::clamp(d, 0.0, 6.0));
}

std::string TrimZeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string FormatClock(double seconds, double step, double span, int utc_offset_minutes,
                        bool first) {
  using std::chrono::days;
  using std::chrono::sys_seconds;
  const auto t = sys_seconds(std::chrono::seconds(static_cast<int64_t>(std::llround(seconds)) +
                                                  int64_t{utc_offset_minutes} * 60));
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(t - day);
  std::string date = fmt::format("{:02}-{:02}", static_cast<unsigned>(ymd.month()),
                                 static_cast<unsigned>(ymd.day()));
  std::string clock = step < 60
                          ? fmt::format("{:02}:{:02}:{:02}", hms.hours().count(),
                                        hms.minutes().count(), hms.seconds().count())
                          : fmt::format("{:02}:{:02}", hms.hours().count(), hms.minutes().count());
  if (step >= kSecondsPerDay) return date;
  if (span > kSecondsPerDay) {
    // Over several days a date on every tick would crowd the axis: midnight shows the date, the
    // first tick both, the others the time.
    const bool midnight = t == day;
    if (midnight) return date;
    if (first) return date + " " + clock;
  }
  return clock;
}

struct LegendEntry {
  enum class Kind : uint8_t { kLine, kBar, kReference };
  Kind kind = Kind::kLine;
  std::string name;
  Rgb color = 0;
  double x = 0;
  double y = 0;  // row top
};

// Everything the drawing needs, in panel pixels.
struct PanelLayout {
  ChartLayout chart;
  double title_baseline = 0;
  std::vector<LegendEntry> legend;
  std::vector<Rgb> line_colors;
  std::vector<Rgb> bar_colors;
  std::vector<Rgb> reference_colors;
  std::string x_title;
  std::string y_title;
};

Status Validate(const Chart& chart) {
  for (const LineSeries& line : chart.lines) {
    for (size_t i = 0; i < line.points.size(); ++i) {
      if (!std::isfinite(line.points[i].x)) {
        return tl::unexpected(Error::InvalidArgument(
            fmt::format("line \"{}\": point {} has a non-finite x", line.name, i)));
      }
      if (std::isinf(line.points[i].y)) {
        return tl::unexpected(Error::InvalidArgument(
            fmt::format("line \"{}\": point {} has an infinite y", line.name, i)));
      }
    }
  }
  const Bars& bars = chart.bars;
  if (!bars.starts.empty() && !(bars.width > 0 && std::isfinite(bars.width))) {
    return tl::unexpected(Error::InvalidArgument("bars: width must be positive"));
  }
  for (size_t i = 0; i < bars.starts.size(); ++i) {
    if (!std::isfinite(bars.starts[i])) {
      return tl::unexpected(Error::InvalidArgument(fmt::format("bars: start {} is not finite", i)));
    }
  }
  for (const BarSeries& series : bars.stack) {
    if (series.values.size() != bars.starts.size()) {
      return tl::unexpected(Error::InvalidArgument(
          fmt::format("bars: series \"{}\" has {} values for {} bars", series.name,
                      series.values.size(), bars.starts.size())));
    }
    for (size_t i = 0; i < series.values.size(); ++i) {
      if (!std::isfinite(series.values[i]) || series.values[i] < 0) {
        return tl::unexpected(Error::InvalidArgument(
            fmt::format("bars: series \"{}\" value {} is negative or not finite", series.name, i)));
      }
    }
  }
  for (const ReferenceLine& ref : chart.references) {
    if (!std::isfinite(ref.y)) {
      return tl::unexpected(
          Error::InvalidArgument(fmt::format("reference line \"{}\": y is not finite", ref.label)));
    }
  }
  for (const Marker& marker : chart.markers) {
    if (!std::isfinite(marker.x)) {
      return tl::unexpected(
          Error::InvalidArgument(fmt::format("marker \"{}\": x is not finite", marker.label)));
    }
  }
  return {};
}

// The extent of some values; empty until the first one.
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// `min_left` lines up the plots of stacked panels: their time axes then match.
Result<PanelLayout> Layout(const Chart& chart, int width, int height, TextMeter& meter,
                           double min_left = 0) {
  if (Status valid = Validate(chart); !valid) return tl::unexpected(valid.error());
  PanelLayout out;
  ChartLayout& layout = out.chart;

  // Colours: explicit ones stay; the others take the palette in drawing order, bars first.
  size_t next_color = 0;
  auto pick = [&](const std::optional<Rgb>& color) {
    return color.has_value() ? *color : kPalette[next_color++ % kPalette.size()];
  };
  for (const BarSeries& series : chart.bars.stack) out.bar_colors.push_back(pick(series.color));
  for (const LineSeries& line : chart.lines) out.line_colors.push_back(pick(line.color));
  for (const ReferenceLine& ref : chart.references) {
    out.reference_colors.push_back(ref.color.value_or(kReferenceColor));
  }

  // Data extents.
  Extent xs;
  Extent ys;
  for (const LineSeries& line : chart.lines) {
    for (const Point& p : line.points) {
      xs.Add(p.x);
      if (!std::isnan(p.y)) ys.Add(p.y);
    }
  }
  layout.bar_totals.assign(chart.bars.starts.size(), 0.0);
  for (const BarSeries& series : chart.bars.stack) {
    for (size_t i = 0; i < series.values.size(); ++i) layout.bar_totals[i] += series.values[i];
  }
  for (size_t i = 0; i < chart.bars.starts.size(); ++i) {
    xs.Add(chart.bars.starts[i]);
    xs.Add(chart.bars.starts[i] + chart.bars.width);
    ys.Add(layout.bar_totals[i]);
    ys.Add(0);  // a bar grows from zero
  }
  for (const ReferenceLine& ref : chart.references) ys.Add(ref.y);
  for (const Marker& marker : chart.markers) xs.Add(marker.x);
  if (ys.empty()) ys.Add(0);
  if (ys.lo > 0) ys.lo = 0;
  if (ys.hi < 0) ys.hi = 0;
  // Headroom: a quota line or a peak exactly on a tick would otherwise run along the frame.
  if (ys.hi > ys.lo) ys.hi += 0.04 * (ys.hi - ys.lo);

  // Title, then the legend in centred rows, then the plot.
  double top = kPad;
  if (!chart.title.empty()) {
    out.title_baseline = top + kTitleSize;
    top += kTitleSize + 14;
  }
  struct Pending {
    LegendEntry entry;
    double width;
  };
  std::vector<Pending> pending;
  auto add_entry = [&](LegendEntry::Kind kind, const std::string& name, Rgb color) {
    if (name.empty()) return;
    const double w = kLegendSwatch + 6 + meter.Width(name, kLegendSize);
    pending.push_back({LegendEntry{kind, name, color, 0, 0}, w});
  };
  for (size_t i = 0; i < chart.bars.stack.size(); ++i) {
    add_entry(LegendEntry::Kind::kBar, chart.bars.stack[i].name, out.bar_colors[i]);
  }
  for (size_t i = 0; i < chart.lines.size(); ++i) {
    add_entry(LegendEntry::Kind::kLine, chart.lines[i].name, out.line_colors[i]);
  }
  for (size_t i = 0; i < chart.references.size(); ++i) {
    add_entry(LegendEntry::Kind::kReference, chart.references[i].label, out.reference_colors[i]);
  }
  constexpr double kEntryGap = 24;
  const double legend_width = width - 2 * kPad;
  size_t row_begin = 0;
  while (row_begin < pending.size()) {
    double row_width = pending[row_begin].width;
    size_t row_end = row_begin + 1;
    while (row_end < pending.size() &&
           row_width + kEntryGap + pending[row_end].width <= legend_width) {
      row_width += kEntryGap + pending[row_end].width;
      ++row_end;
    }
    double x = (width - row_width) / 2;
    for (size_t i = row_begin; i < row_end; ++i) {
      LegendEntry entry = pending[i].entry;
      entry.x = x;
      entry.y = top;
      out.legend.push_back(std::move(entry));
      x += pending[i].width + kEntryGap;
    }
    top += kLegendRow;
    row_begin = row_end;
  }
  top += 12;

  out.x_title = AxisTitle(chart.x);
  out.y_title = AxisTitle(chart.y);
  const double bottom_margin =
      kTickLength + 6 + kTickSize + 6 + (out.x_title.empty() ? 0 : kAxisTitleSize + 8) + kPad - 4;
  const double plot_top = top;
  const double plot_height = std::max(40.0, height - bottom_margin - plot_top);

  const int y_ticks = std::clamp(static_cast<int>(plot_height / 60), 3, 10);
  layout.y = NiceScale(ys.lo, ys.hi, y_ticks);
  double widest_tick = 0;
  for (const Tick& tick : layout.y.ticks) {
    widest_tick = std::max(widest_tick, meter.Width(tick.label, kTickSize));
  }
  const double left = std::max(min_left, kPad + (out.y_title.empty() ? 0 : kAxisTitleSize + 10) +
                                             widest_tick + 6 + kTickLength);
  const double right = kPad + 14;  // the last x label is centred on the plot's right edge
  const double plot_width = std::max(40.0, width - left - right);
  layout.plot = Rect{left, plot_top, plot_width, plot_height};

  const int x_ticks = std::clamp(static_cast<int>(plot_width / 110), 3, 10);
  if (chart.x.time) {
    if (xs.empty()) xs.Add(0);
    layout.x = TimeScale(xs.lo, xs.hi, chart.x.utc_offset_minutes, x_ticks);
  } else {
    if (xs.empty()) {
      xs.Add(0);
      xs.Add(1);
    }
    layout.x = NiceScale(xs.lo, xs.hi, x_ticks);
  }
  return out;
}

void DrawPanel(cairo_t* cr, const Chart& chart, const PanelLayout& out, int width, int height) {
  const ChartLayout& layout = out.chart;
  const Rect& plot = layout.plot;
  const double plot_right = plot.x + plot.width;
  const double plot_bottom = plot.y + plot.height;

  SetColor(cr, 0xFFFFFF);
  cairo_rectangle(cr, 0, 0, width, height);
  cairo_fill(cr);

  if (!chart.title.empty()) {
    SetFont(cr, kTitleSize, /*bold=*/true);
    SetColor(cr, kTextColor);
    DrawText(cr, chart.title, width / 2.0, out.title_baseline, HAlign::kCenter);
  }

  // Grid first, so that data is drawn over it.
  cairo_set_line_width(cr, 1);
  SetColor(cr, kGridColor);
  for (const Tick& tick : layout.y.ticks) {
    const double y = std::round(layout.PixelY(tick.value)) + 0.5;
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot_right, y);
  }
  for (const Tick& tick : layout.x.ticks) {
    const double x = std::round(layout.PixelX(tick.value)) + 0.5;
    cairo_move_to(cr, x, plot.y);
    cairo_line_to(cr, x, plot_bottom);
  }
  cairo_stroke(cr);

  cairo_save(cr);
  cairo_rectangle(cr, plot.x, plot.y, plot.width, plot.height);
  cairo_clip(cr);

  // Bars: a gap between neighbours (a tenth of the period, at least a pixel) keeps periods apart.
  const Bars& bars = chart.bars;
  for (size_t i = 0; i < bars.starts.size(); ++i) {
    const double x0 = layout.PixelX(bars.starts[i]);
    const double x1 = layout.PixelX(bars.starts[i] + bars.width);
    const double gap = std::max(1.0, (x1 - x0) * 0.1);
    double base = 0;
    for (size_t s = 0; s < bars.stack.size(); ++s) {
      const double v = bars.stack[s].values[i];
      if (v <= 0) continue;
      const double y_top = layout.PixelY(base + v);
      const double y_bottom = layout.PixelY(base);
      SetColor(cr, out.bar_colors[s]);
      cairo_rectangle(cr, x0 + gap / 2, y_top, std::max(1.0, x1 - x0 - gap), y_bottom - y_top);
      cairo_fill(cr);
      base += v;
    }
  }

  // Lines; NaN breaks a line.
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  for (size_t s = 0; s < chart.lines.size(); ++s) {
    const LineSeries& line = chart.lines[s];
    SetColor(cr, out.line_colors[s]);
    cairo_set_line_width(cr, 2.5);
    bool pen_down = false;
    for (const Point& p : line.points) {
      if (std::isnan(p.y)) {
        pen_down = false;
        continue;
      }
      if (pen_down) {
        cairo_line_to(cr, layout.PixelX(p.x), layout.PixelY(p.y));
      } else {
        cairo_move_to(cr, layout.PixelX(p.x), layout.PixelY(p.y));
        pen_down = true;
      }
    }
    cairo_stroke(cr);
    if (line.points.size() <= kMaxDottedPoints) {
      for (const Point& p : line.points) {
        if (std::isnan(p.y)) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, layout.PixelX(p.x), layout.PixelY(p.y), 3.5, 0, 2 * std::numbers::pi);
      }
      cairo_fill(cr);
    }
  }
  cairo_restore(cr);

  // Markers and reference lines first, their labels after them all, so that no line crosses a
  // label.
  const std::array<double, 2> marker_dash = {4, 4};
  const std::array<double, 2> reference_dash = {9, 5};
  cairo_set_line_width(cr, 1.5);
  SetColor(cr, kMarkerColor);
  cairo_set_dash(cr, marker_dash.data(), marker_dash.size(), 0);
  for (const Marker& marker : chart.markers) {
    const double x = std::round(layout.PixelX(marker.x)) + 0.5;
    cairo_move_to(cr, x, plot.y);
    cairo_line_to(cr, x, plot_bottom);
  }
  cairo_stroke(cr);
  cairo_set_line_width(cr, 2);
  cairo_set_dash(cr, reference_dash.data(), reference_dash.size(), 0);
  for (size_t i = 0; i < chart.references.size(); ++i) {
    const double y = layout.PixelY(chart.references[i].y);
    SetColor(cr, out.reference_colors[i]);
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot_right, y);
    cairo_stroke(cr);
  }
  cairo_set_dash(cr, nullptr, 0, 0);

  // Each label takes the first of its candidate places that stays in the plot and covers no
  // earlier label (the first place otherwise). A box is the text's, 2 px wider each side.
  std::vector<Rect> taken;
  auto place = [&](const std::vector<Rect>& candidates) {
    auto free = [&](const Rect& r) {
      if (r.x < plot.x || r.x + r.width > plot_right || r.y < plot.y ||
          r.y + r.height > plot_bottom) {
        return false;
      }
      // Labels closer than kGap side by side read as one.
      constexpr double kGap = 8;
      return std::none_of(taken.begin(), taken.end(), [&](const Rect& t) {
        return r.x < t.x + t.width + kGap && t.x < r.x + r.width + kGap && r.y < t.y + t.height &&
               t.y < r.y + r.height;
      });
    };
    const auto it = std::find_if(candidates.begin(), candidates.end(), free);
    taken.push_back(it == candidates.end() ? candidates.front() : *it);
    return taken.back();
  };
  auto draw_label = [&](const std::string& text, const Rect& box, Rgb color) {
    SetColor(cr, 0xFFFFFF, 0.85);
    cairo_rectangle(cr, box.x, box.y, box.width, box.height);
    cairo_fill(cr);
    SetColor(cr, color);
    DrawText(cr, text, box.x + 2, box.y + kLabelSize, HAlign::kLeft);
  };
  constexpr double kBoxHeight = kLabelSize + 5;
  // Marker labels at the top, right of the line or else left of it, in the first free row.
  SetFont(cr, kLabelSize);
  for (const Marker& marker : chart.markers) {
    if (marker.label.empty()) continue;
    const double x = std::round(layout.PixelX(marker.x)) + 0.5;
    const double w = TextWidth(cr, marker.label) + 4;
    std::vector<Rect> candidates;
    for (int row = 0; row < 4; ++row) {
      const double top = plot.y + 4 + (kBoxHeight + 2) * row;
      candidates.push_back(Rect{x + 3, top, w, kBoxHeight});
      candidates.push_back(Rect{x - 3 - w, top, w, kBoxHeight});
    }
    draw_label(marker.label, place(candidates), kMarkerColor);
  }
  // Reference labels above the line's right end, else below it, else at the left end.
  SetFont(cr, kLabelSize, /*bold=*/true);
  for (size_t i = 0; i < chart.references.size(); ++i) {
    const ReferenceLine& ref = chart.references[i];
    if (ref.label.empty()) continue;
    const double y = layout.PixelY(ref.y);
    const double w = TextWidth(cr, ref.label) + 4;
    const double right_x = plot_right - 4 - w;
    const double left_x = plot.x + 4;
    const double above = y - 3 - kBoxHeight;
    const double below = y + 3;
    draw_label(ref.label,
               place({Rect{right_x, above, w, kBoxHeight}, Rect{right_x, below, w, kBoxHeight},
                      Rect{left_x, above, w, kBoxHeight}, Rect{left_x, below, w, kBoxHeight}}),
               out.reference_colors[i]);
  }

  if (chart.lines.empty() && chart.bars.starts.empty()) {
    SetFont(cr, kAxisTitleSize);
    SetColor(cr, 0x888888);
    DrawText(cr, "no data", plot.x + plot.width / 2, plot.y + plot.height / 2, HAlign::kCenter,
             VAlign::kMiddle);
  }

  // Axes, ticks and their labels.
  SetColor(cr, kAxisColor);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, plot.x + 0.5, plot.y);
  cairo_line_to(cr, plot.x + 0.5, plot_bottom + 0.5);
  cairo_line_to(cr, plot_right, plot_bottom + 0.5);
  for (const Tick& tick : layout.y.ticks) {
    const double y = std::round(layout.PixelY(tick.value)) + 0.5;
    cairo_move_to(cr, plot.x - kTickLength, y);
    cairo_line_to(cr, plot.x, y);
  }
  for (const Tick& tick : layout.x.ticks) {
    const double x = std::round(layout.PixelX(tick.value)) + 0.5;
    cairo_move_to(cr, x, plot_bottom);
    cairo_line_to(cr, x, plot_bottom + kTickLength);
  }
  cairo_stroke(cr);
  SetFont(cr, kTickSize);
  SetColor(cr, kTextColor);
  for (const Tick& tick : layout.y.ticks) {
    DrawText(cr, tick.label, plot.x - kTickLength - 6, layout.PixelY(tick.value), HAlign::kRight,
             VAlign::kMiddle);
  }
  for (const Tick& tick : layout.x.ticks) {
    DrawText(cr, tick.label, layout.PixelX(tick.value), plot_bottom + kTickLength + 6,
             HAlign::kCenter, VAlign::kTop);
  }
  SetFont(cr, kAxisTitleSize, /*bold=*/true);
  if (!out.x_title.empty()) {
    DrawText(cr, out.x_title, plot.x + plot.width / 2, height - kPad + 4, HAlign::kCenter);
  }
  if (!out.y_title.empty()) {
    cairo_save(cr);
    cairo_translate(cr, kPad + kAxisTitleSize - 2, plot.y + plot.height / 2);
    cairo_rotate(cr, -std::numbers::pi / 2);
    DrawText(cr, out.y_title, 0, 0, HAlign::kCenter);
    cairo_restore(cr);
  }

  // Legend.
  SetFont(cr, kLegendSize);
  for (const LegendEntry& entry : out.legend) {
    const double mid = entry.y + kLegendRow / 2;
    SetColor(cr, entry.color);
    switch (entry.kind) {
      case LegendEntry::Kind::kBar:
        cairo_rectangle(cr, entry.x + 5, mid - 6, 12, 12);
        cairo_fill(cr);
        break;
      case LegendEntry::Kind::kLine:
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, entry.x, mid);
        cairo_line_to(cr, entry.x + kLegendSwatch, mid);
        cairo_stroke(cr);
        break;
      case LegendEntry::Kind::kReference:
        cairo_set_line_width(cr, 2);
        cairo_set_dash(cr, reference_dash.data(), reference_dash.size(), 0);
        cairo_move_to(cr, entry.x, mid);
        cairo_line_to(cr, entry.x + kLegendSwatch, mid);
        cairo_stroke(cr);
        cairo_set_dash(cr, nullptr, 0, 0);
        break;
    }
    SetColor(cr, kTextColor);
    DrawText(cr, entry.name, entry.x + kLegendSwatch + 6, mid, HAlign::kLeft, VAlign::kMiddle);
  }
}

cairo_status_t AppendToString(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

Error CairoError(cairo_status_t status, std::string_view what) {
  return Error::Internal(fmt::format("cairo: {}: {}", what, cairo_status_to_string(status)));
}

// Floor and ceiling that take a quotient within rounding error of an integer for that integer:
// 0.3 / 0.1 is 2.9999999999999996, whose floor must be 3. The error of a division is relative,
// so is the tolerance (an absolute one would round 1e-11 steps of data to nothing).
double SnapFloor(double q) {
  const double r = std::round(q);
  return std::abs(q - r) <= std::abs(q) * 1e-12 ? r : std::floor(q);
}
double SnapCeil(double q) {
  const double r = std::round(q);
  return std::abs(q - r) <= std::abs(q) * 1e-12 ? r : std::ceil(q);
}

}  // namespace

double ChartLayout::PixelX(double x_value) const {
  return plot.x + (x_value - x.min) / (x.max - x.min) * plot.width;
}

double ChartLayout::PixelY(double y_value) const {
  return plot.y + plot.height - (y_value - y.min) / (y.max - y.min) * plot.height;
}

double NiceStep(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  // The small tolerance keeps 0.2000000001 (a rounding artefact) from becoming 0.5.
  if (f <= 1 + 1e-9) return magnitude;
  if (f <= 2 + 1e-9) return 2 * magnitude;
  if (f <= 5 + 1e-9) return 5 * magnitude;
  return 10 * magnitude;
}

Scale NiceScale(double lo, double hi, int target_ticks) {
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    if (lo == 0) {
      hi = 1;
    } else {
      const double pad = std::abs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
  }
  Scale scale;
  const int intervals = std::max(1, target_ticks - 1);
  scale.step = NiceStep((hi - lo) / intervals);
  // The next smaller nice step when it costs at most one tick more than asked for: rounding up
  // alone can leave half the ticks (a raw step of 2.1 becomes 5).
  const double mantissa = scale.step / std::pow(10.0, std::floor(std::log10(scale.step) + 1e-9));
  const double smaller = scale.step * (mantissa < 3 ? 0.5 : 0.4);  // 1 -> 0.5, 2 -> 1, 5 -> 2
  if ((hi - lo) / smaller <= intervals + 1) scale.step = smaller;
  const double first = SnapFloor(lo / scale.step);
  const double last = SnapCeil(hi / scale.step);
  scale.min = first * scale.step;
  scale.max = last * scale.step;
  for (double k = first; k <= last + 0.5; k += 1) {
    double v = k * scale.step;
    if (std::abs(v) < scale.step * 1e-9) v = 0;  // no "-0"
    scale.ticks.push_back(Tick{v, FormatTickLabel(v, scale.step)});
  }
  return scale;
}

Scale TimeScale(double lo, double hi, int utc_offset_minutes, int max_ticks) {
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    lo -= 300;
    hi += 300;
  }
  constexpr std::array<double, 20> kSteps = {1,     2,     5,     10,    15,     30,    60,
                                             120,   300,   600,   900,   1800,   3600,  7200,
                                             10800, 21600, 43200, 86400, 172800, 604800};
  Scale scale;
  scale.min = lo;
  scale.max = hi;
  const double span = hi - lo;
  scale.step = kSteps.back();
  for (double step : kSteps) {
    if (span / step + 1 <= std::max(2, max_ticks)) {
      scale.step = step;
      break;
    }
  }
  // Align ticks to the shifted clock: whole hours fall on HH:00 in the labelled time zone. A week
  // step is aligned to days only (a Monday is not worth the code).
  const double offset = utc_offset_minutes * 60.0;
  const double align = std::min(scale.step, kSecondsPerDay);
  double t = std::ceil((lo + offset) / align) * align - offset;
  while (t < lo) t += scale.step;
  for (; t <= hi + 1e-6; t += scale.step) {
    scale.ticks.push_back(
        Tick{t, FormatClock(t, scale.step, span, utc_offset_minutes, scale.ticks.empty())});
  }
  return scale;
}

std::string FormatTickLabel(double value, double step) {
  const double a = std::abs(value);
  double divisor = 1;
  const char* suffix = "";
  if (a >= 1e9) {
    divisor = 1e9;
    suffix = "G";
  } else if (a >= 1e6) {
    divisor = 1e6;
    suffix = "M";
  } else if (a >= 1e3) {
    divisor = 1e3;
    suffix = "k";
  }
  if (a < step * 1e-9) value = 0;
  return TrimZeros(fmt::format("{:.{}f}", value / divisor, DecimalsFor(step / divisor))) + suffix;
}

std::string FormatThousands(int64_t value) {
  // Through the unsigned magnitude: -INT64_MIN does not fit in an int64_t.
  const uint64_t magnitude =
      value < 0 ? ~static_cast<uint64_t>(value) + 1 : static_cast<uint64_t>(value);
  const std::string digits = std::to_string(magnitude);
  std::string out = value < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Bars Histogram(std::span<const double> samples, std::string name, int bins) {
  Bars bars;
  Extent range;
  for (double v : samples) {
    if (std::isfinite(v)) range.Add(v);
  }
  if (range.empty()) return bars;
  const double lo = std::min(range.lo, 0.0);
  const double span = range.hi > lo ? range.hi - lo : 1;
  bars.width = NiceStep(span / std::max(1, bins));
  const double first = SnapFloor(lo / bars.width) * bars.width;
  // The maximum goes into the last bin, not into one of its own past the end.
  const auto count = static_cast<size_t>(std::max(1.0, SnapCeil((range.hi - first) / bars.width)));
  BarSeries series{std::move(name), std::vector<double>(count, 0.0), std::nullopt};
  for (size_t i = 0; i < count; ++i) {
    bars.starts.push_back(first + static_cast<double>(i) * bars.width);
  }
  for (double v : samples) {
    if (!std::isfinite(v)) continue;
    auto bin = static_cast<size_t>(std::max(0.0, std::floor((v - first) / bars.width)));
    series.values[std::min(bin, count - 1)] += 1;
  }
  bars.stack.push_back(std::move(series));
  return bars;
}

Result<ChartLayout> LayoutChart(const Chart& chart, int width, int height) {
  TextMeter meter;
  Result<PanelLayout> layout = Layout(chart, width, height, meter);
  if (!layout) return tl::unexpected(layout.error());
  return std::move(layout->chart);
}

Result<ImageFormat> ImageFormatForPath(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".png") return ImageFormat::kPng;
  if (ext == ".svg") return ImageFormat::kSvg;
  return tl::unexpected(
      Error::InvalidArgument(fmt::format("chart file {} must end in .png or .svg", path.string())));
}

Result<std::string> RenderToBytes(std::span<const Chart> charts, ImageFormat format,
                                  const RenderOptions& options) {
  // Bounds keep a typo in a flag from asking cairo for gigabytes (or for nothing to draw on).
  if (options.width < 200 || options.width > 20000 || options.panel_height < 200 ||
      options.panel_height > 20000) {
    return tl::unexpected(Error::InvalidArgument(
        fmt::format("chart size {}x{} per panel is outside 200..20000 pixels", options.width,
                    options.panel_height)));
  }
  if (charts.empty() || charts.size() > 16) {
    return tl::unexpected(Error::InvalidArgument("an image holds 1 to 16 charts"));
  }
  const int width = options.width;
  const int panel_height = options.panel_height;
  const int height = panel_height * static_cast<int>(charts.size());

  TextMeter meter;
  std::vector<PanelLayout> layouts;
  double widest_left = 0;
  for (const Chart& chart : charts) {
    Result<PanelLayout> layout = Layout(chart, width, panel_height, meter);
    if (!layout) return tl::unexpected(layout.error());
    widest_left = std::max(widest_left, layout->chart.plot.x);
    layouts.push_back(std::move(*layout));
  }
  for (size_t i = 0; i < charts.size(); ++i) {
    if (layouts[i].chart.plot.x < widest_left) {
      Result<PanelLayout> aligned = Layout(charts[i], width, panel_height, meter, widest_left);
      if (!aligned) return tl::unexpected(aligned.error());
      layouts[i] = std::move(*aligned);
    }
  }

  std::string bytes;
  SurfacePtr surface(
      format == ImageFormat::kPng
          ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height)
          : cairo_svg_surface_create_for_stream(AppendToString, &bytes, width, height));
  if (cairo_status_t status = cairo_surface_status(surface.get()); status != CAIRO_STATUS_SUCCESS) {
    return tl::unexpected(CairoError(status, "cannot create a surface"));
  }
  if (format == ImageFormat::kSvg) {
    cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PX);
  }
  {
    ContextPtr cr(cairo_create(surface.get()));
    UnhintMetrics(cr.get());
    for (size_t i = 0; i < charts.size(); ++i) {
      cairo_save(cr.get());
      cairo_translate(cr.get(), 0, static_cast<double>(panel_height) * static_cast<double>(i));
      cairo_rectangle(cr.get(), 0, 0, width, panel_height);
      cairo_clip(cr.get());
      DrawPanel(cr.get(), charts[i], layouts[i], width, panel_height);
      cairo_restore(cr.get());
    }
    if (cairo_status_t status = cairo_status(cr.get()); status != CAIRO_STATUS_SUCCESS) {
      return tl::unexpected(CairoError(status, "drawing failed"));
    }
  }
  if (format == ImageFormat::kPng) {
    const cairo_status_t status =
        cairo_surface_write_to_png_stream(surface.get(), AppendToString, &bytes);
    if (status != CAIRO_STATUS_SUCCESS) return tl::unexpected(CairoError(status, "PNG encoding"));
  } else {
    // The SVG stream is complete only once the surface is finished.
    cairo_surface_finish(surface.get());
    if (cairo_status_t status = cairo_surface_status(surface.get());
        status != CAIRO_STATUS_SUCCESS) {
      return tl::unexpected(CairoError(status, "SVG encoding"));
    }
  }
  return bytes;
}

Status RenderPanels(std::span<const Chart> charts, const std::filesystem::path& path,
                    const RenderOptions& options) {
  Result<ImageFormat> format = ImageFormatForPath(path);
  if (!format) return tl::unexpected(format.error());
  Result<std::string> bytes = RenderToBytes(charts, *format, options);
  if (!bytes) return tl::unexpected(bytes.error());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return tl::unexpected(Error::Io(fmt::format("cannot write chart {}: {}", path.string(),
                                                std::generic_category().message(errno))));
  }
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out) return tl::unexpected(Error::Io(fmt::format("cannot write chart {}", path.string())));
  return {};
}

Status Render(const Chart& chart, const std::filesystem::path& path, const RenderOptions& options) {
  return RenderPanels(std::span<const Chart>(&chart, 1), path, options);
}

}  // namespace quotaflow::report

// LeakSanitizer (ASan builds only call it): fontconfig, which cairo's text drawing loads, keeps its
// caches for the life of the process and frees them only in FcFini, which a library must not call
// while others may still draw. Every program that draws a chart links this file.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  return "leak:libfontconfig.so\n";
}
