#pragma once
// Charts drawn with cairo from plain series: lines, bars stacked per period, dashed reference lines
// (a quota) and vertical markers. PNG and SVG come from the same drawing code.
//
// The series are plain numbers so that report/ depends on nobody's data: the CLI turns CloudWatch
// datapoints, a batch ledger or an Analysis into a Chart, and Render draws it. Everything a reader
// relies on (axis ranges, tick steps and labels, stacked totals, where the quota line falls) is
// computed by LayoutChart, which the tests check; the pixels themselves are checked by looking.
//
// Thread safety: every function is safe to call from any thread (each draws on its own surface).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "quotaflow/error.h"

namespace quotaflow::report {

// 0xRRGGBB. Series without a color take the next one of a colour-blind-safe palette.
using Rgb = uint32_t;

struct Point {
  double x = 0;
  double y = 0;  // NaN is a gap: the line breaks there (a CloudWatch period without data)
};

struct LineSeries {
  std::string name;           // the legend entry
  std::vector<Point> points;  // drawn in the order given
  std::optional<Rgb> color;
};

// One layer of a bar stack: values[i] belongs to the period starting at Bars::starts[i].
struct BarSeries {
  std::string name;
  std::vector<double> values;  // >= 0
  std::optional<Rgb> color;
};

// Bars stacked per period, the first series at the bottom (e.g. successful, then throttled
// requests per 5 minutes). Bar i covers [starts[i], starts[i] + width) on the x axis.
struct Bars {
  std::vector<double> starts;
  double width = 0;              // REQUIRES: > 0 when there are bars
  std::vector<BarSeries> stack;  // each with starts.size() values
};

// A dashed horizontal line across the plot, labelled at its right end: a quota, a threshold.
struct ReferenceLine {
  std::string label;  // "TPM quota 400,000"
  double y = 0;
  std::optional<Rgb> color;  // default dark red
};

// A dashed vertical line labelled at its top: "max_tokens now", "quota raised".
struct Marker {
  std::string label;
  double x = 0;
};

struct Axis {
  std::string label;  // "tokens per minute"
  std::string unit;   // shown as "label (unit)"; for a time axis the time zone is shown instead
  // x values are seconds since the Unix epoch, labelled HH:MM (MM-DD HH:MM over more than a day)
  // at steps of whole seconds, minutes, hours or days. Only meaningful on the x axis.
  bool time = false;
  // Time labels are UTC shifted by this many minutes (the CLI may pass the local offset).
  int utc_offset_minutes = 0;
};

struct Chart {
  std::string title;
  Axis x;
  Axis y;
  std::vector<LineSeries> lines;  // drawn over the bars
  Bars bars;
  std::vector<ReferenceLine> references;
  std::vector<Marker> markers;
};

struct RenderOptions {
  int width = 1000;        // pixels (SVG: points)
  int panel_height = 600;  // per chart; RenderPanels stacks charts vertically
};

enum class ImageFormat : uint8_t { kPng, kSvg };

// ".png" or ".svg", in any case; kInvalidArgument for any other extension.
Result<ImageFormat> ImageFormatForPath(const std::filesystem::path& path);

// Draws `chart` to `path`, PNG or SVG by its extension. kInvalidArgument for an unknown extension
// or an inconsistent chart (see LayoutChart); kIo naming the path when it cannot be written.
Status Render(const Chart& chart, const std::filesystem::path& path,
              const RenderOptions& options = {});
// Several charts in one image, one above the other, each options.panel_height tall (monitor: the
// requests per period above the tokens against the TPM quota). REQUIRES: !charts.empty().
Status RenderPanels(std::span<const Chart> charts, const std::filesystem::path& path,
                    const RenderOptions& options = {});
// The encoded image, for callers that do not want a file (and for tests).
Result<std::string> RenderToBytes(std::span<const Chart> charts, ImageFormat format,
                                  const RenderOptions& options = {});

// ---- What the drawing relies on, computed without drawing (tested) ----

struct Tick {
  double value = 0;
  std::string label;
};

// An axis's range and its ticks: min <= every tick <= max.
struct Scale {
  double min = 0;
  double max = 1;
  double step = 1;  // between ticks, in axis units (seconds on a time axis)
  std::vector<Tick> ticks;
};

struct Rect {
  double x = 0;
  double y = 0;
  double width = 0;
  double height = 0;
};

struct ChartLayout {
  Rect plot;  // the data area, in pixels from the top left of the chart's panel
  Scale x;
  Scale y;
  std::vector<double> bar_totals;  // the height of each stack, per period

  double PixelX(double x_value) const;
  double PixelY(double y_value) const;  // larger values are higher up, i.e. smaller pixel y
};

// Scales and plot area of `chart` drawn width × height. The y range holds every line point, every
// stack total and every reference line, starts at 0 when no value is negative (rates and counts
// read against zero), and is widened to a whole tick step with a little headroom so that no line
// runs along the frame. The x range holds every point, bar and marker: widened to whole steps on
// a numeric axis, exactly the data on a time axis. kInvalidArgument, naming the series, for
// non-finite x values or bar values, negative bar values, a stack layer whose length differs from
// the number of bars, or bars without a positive width.
Result<ChartLayout> LayoutChart(const Chart& chart, int width, int height);

// The smallest step of 1, 2 or 5 × 10^k that is >= raw. REQUIRES: raw > 0 and finite.
double NiceStep(double raw);
// [lo, hi] widened to whole nice steps, about `target_ticks` of them (at least 2): the smallest
// nice step giving at most target_ticks - 1 intervals, or the next smaller one if that gives at
// most one interval more. lo == hi is widened around the value.
Scale NiceScale(double lo, double hi, int target_ticks = 6);
// Ticks for a time axis over exactly [lo, hi] (seconds since the epoch) at the smallest of
// 1/2/5/10/15/30 s, 1/2/5/10/15/30 min, 1/2/3/6/12 h, 1/2/7 days giving at most `max_ticks`,
// aligned to the shifted clock (an hourly tick falls at HH:00 local).
Scale TimeScale(double lo, double hi, int utc_offset_minutes = 0, int max_ticks = 8);
// A tick label: "400k", "1.5M", "0.25", "-20", with as many decimals as the step needs.
std::string FormatTickLabel(double value, double step);
// 400000 -> "400,000": counts in labels and tables.
std::string FormatThousands(int64_t value);

// A histogram as bars (a wait-time distribution): `bins` equal bins from 0 (or the minimum when
// it is negative) to the maximum, rounded to a nice bin width. Non-finite samples are skipped.
Bars Histogram(std::span<const double> samples, std::string name, int bins = 20);

}  // namespace quotaflow::report
