#include "report/chart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "aws/test_process.h"
#include "report/sample_dir_test_util.h"

namespace quotaflow::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// 2025-06-12T10:00:00Z.
constexpr double kTen = 1749722400;

std::vector<std::string> Labels(const Scale& scale) {
  std::vector<std::string> labels;
  labels.reserve(scale.ticks.size());
  for (const Tick& tick : scale.ticks) labels.push_back(tick.label);
  return labels;
}

std::vector<double> Values(const Scale& scale) {
  std::vector<double> values;
  values.reserve(scale.ticks.size());
  for (const Tick& tick : scale.ticks) values.push_back(tick.value);
  return values;
}

bool IsNice(double step) {
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  return std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
         std::abs(mantissa - 5) < 1e-9;
}

TEST(NiceStep, RoundsUpToOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(NiceStep(0.7), 1);
  EXPECT_DOUBLE_EQ(NiceStep(1), 1);
  EXPECT_DOUBLE_EQ(NiceStep(1.1), 2);
  EXPECT_DOUBLE_EQ(NiceStep(2), 2);
  EXPECT_DOUBLE_EQ(NiceStep(3), 5);
  EXPECT_DOUBLE_EQ(NiceStep(7), 10);
  EXPECT_DOUBLE_EQ(NiceStep(0.013), 0.02);
  EXPECT_DOUBLE_EQ(NiceStep(82400), 100000);
  EXPECT_DOUBLE_EQ(NiceStep(0.1 + 0.1), 0.2);  // not 0.5 for a rounding artefact
}

TEST(NiceScale, WidensToWholeStepsWithReadableLabels) {
  const Scale tokens = NiceScale(0, 412000, 6);
  EXPECT_DOUBLE_EQ(tokens.step, 100000);
  EXPECT_DOUBLE_EQ(tokens.min, 0);
  EXPECT_DOUBLE_EQ(tokens.max, 500000);
  EXPECT_THAT(Labels(tokens), ElementsAre("0", "100k", "200k", "300k", "400k", "500k"));

  // A quarter per tick rounds up to a half, which would leave three ticks; a fifth costs one more.
  const Scale fraction = NiceScale(0, 1, 5);
  EXPECT_DOUBLE_EQ(fraction.step, 0.2);
  EXPECT_THAT(Labels(fraction), ElementsAre("0", "0.2", "0.4", "0.6", "0.8", "1"));

  const Scale millions = NiceScale(0, 2.3e6, 6);
  EXPECT_DOUBLE_EQ(millions.step, 5e5);
  EXPECT_THAT(Labels(millions), ElementsAre("0", "500k", "1M", "1.5M", "2M", "2.5M"));

  const Scale signed_range = NiceScale(-3, 7, 6);
  EXPECT_DOUBLE_EQ(signed_range.step, 2);
  EXPECT_THAT(Values(signed_range), ElementsAre(-4, -2, 0, 2, 4, 6, 8));
  EXPECT_THAT(Labels(signed_range), ElementsAre("-4", "-2", "0", "2", "4", "6", "8"));
}

TEST(NiceScale, ALoneValueGetsARangeAroundIt) {
  const Scale positive = NiceScale(5, 5, 6);
  EXPECT_LE(positive.min, 5);
  EXPECT_GT(positive.max, 5);
  const Scale zero = NiceScale(0, 0, 6);
  EXPECT_DOUBLE_EQ(zero.min, 0);
  EXPECT_DOUBLE_EQ(zero.max, 1);
  const Scale negative = NiceScale(-50, -50, 6);
  EXPECT_LT(negative.min, -50);
  EXPECT_GT(negative.max, -50);
}

TEST(NiceScale, EveryRangeGetsNiceStepsAndHoldsItsData) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(-3, 9);
  for (int i = 0; i < 2000; ++i) {
    const double a = std::pow(10.0, exponent(rng)) * (i % 3 == 0 ? -1 : 1);
    const double b = std::pow(10.0, exponent(rng));
    const double lo = std::min(a, b);
    const double hi = std::max(a, b);
    const Scale scale = NiceScale(lo, hi, 6);
    ASSERT_TRUE(IsNice(scale.step)) << lo << " " << hi << " step " << scale.step;
    EXPECT_LE(scale.min, lo) << lo << " " << hi;
    EXPECT_GE(scale.max, hi) << lo << " " << hi;
    EXPECT_GE(scale.ticks.size(), 2u);
    EXPECT_LE(scale.ticks.size(), 9u) << lo << " " << hi;
  }
}

TEST(FormatTickLabel, UsesSuffixesAndOnlyTheDecimalsTheStepNeeds) {
  EXPECT_EQ(FormatTickLabel(0, 100000), "0");
  EXPECT_EQ(FormatTickLabel(400000, 100000), "400k");
  EXPECT_EQ(FormatTickLabel(1.5e6, 5e5), "1.5M");
  EXPECT_EQ(FormatTickLabel(2e9, 5e8), "2G");
  EXPECT_EQ(FormatTickLabel(2500, 500), "2.5k");
  EXPECT_EQ(FormatTickLabel(500, 500), "500");
  EXPECT_EQ(FormatTickLabel(-20, 10), "-20");
  EXPECT_EQ(FormatTickLabel(0.25, 0.05), "0.25");
  EXPECT_EQ(FormatTickLabel(1e-12, 0.05), "0");
}

TEST(FormatThousands, GroupsDigitsByThree) {
  EXPECT_EQ(FormatThousands(0), "0");
  EXPECT_EQ(FormatThousands(999), "999");
  EXPECT_EQ(FormatThousands(1000), "1,000");
  EXPECT_EQ(FormatThousands(400000), "400,000");
  EXPECT_EQ(FormatThousands(-1234567), "-1,234,567");
  EXPECT_EQ(FormatThousands(std::numeric_limits<int64_t>::min()), "-9,223,372,036,854,775,808");
}

TEST(TimeScale, HoursAreLabelledHhMmOnTheHour) {
  const Scale scale = TimeScale(kTen + 180, kTen + 4 * 3600, 0, 8);
  EXPECT_DOUBLE_EQ(scale.min, kTen + 180);  // a time axis is exactly the data
  EXPECT_DOUBLE_EQ(scale.max, kTen + 4 * 3600);
  EXPECT_DOUBLE_EQ(scale.step, 3600);
  EXPECT_THAT(Labels(scale), ElementsAre("11:00", "12:00", "13:00", "14:00"));
}

TEST(TimeScale, PicksTheSmallestStepWithinTheTickBudget) {
  const Scale scale = TimeScale(kTen, kTen + 3600, 0, 8);
  EXPECT_DOUBLE_EQ(scale.step, 600);
  EXPECT_THAT(Labels(scale),
              ElementsAre("10:00", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00"));
}

TEST(TimeScale, LabelsInTheGivenOffsetAndAlignsToItsHours) {
  // UTC+05:30: 10:03Z is 15:33 local; hourly ticks fall on the local hour.
  const Scale scale = TimeScale(kTen + 180, kTen + 3 * 3600, 330, 8);
  EXPECT_DOUBLE_EQ(scale.step, 1800);
  EXPECT_THAT(Labels(scale), ElementsAre("16:00", "16:30", "17:00", "17:30", "18:00", "18:30"));
  EXPECT_DOUBLE_EQ(scale.ticks.front().value, kTen + 1800);  // 10:30Z
}

TEST(TimeScale, ShortSpansShowSecondsAndLongOnesDates) {
  EXPECT_THAT(Labels(TimeScale(kTen, kTen + 100, 0, 8)),
              ElementsAre("10:00:00", "10:00:15", "10:00:30", "10:00:45", "10:01:00", "10:01:15",
                          "10:01:30"));
  // Three days at 12 h: the first tick carries its date, midnights the date alone.
  EXPECT_THAT(Labels(TimeScale(kTen - 4 * 3600, kTen + 3 * 86400 - 4 * 3600, 0, 8)),
              ElementsAre("06-12 12:00", "06-13", "12:00", "06-14", "12:00", "06-15"));
  const Scale month = TimeScale(kTen, kTen + 30 * 86400, 0, 8);
  EXPECT_DOUBLE_EQ(month.step, 7 * 86400);
  EXPECT_THAT(Labels(month), ElementsAre("06-13", "06-20", "06-27", "07-04", "07-11"));
}

Chart TokensChart() {
  Chart chart;
  chart.title = "Tokens per minute";
  chart.x = Axis{"time", "", true, 0};
  chart.y = Axis{"tokens per minute", "tokens", false, 0};
  LineSeries used{"settled tokens", {}, std::nullopt};
  for (int i = 0; i <= 60; ++i) {
    used.points.push_back(Point{kTen + 60.0 * i, 300000 + 80000 * std::sin(i / 6.0)});
  }
  chart.lines.push_back(used);
  chart.references.push_back(ReferenceLine{"TPM quota 400,000", 400000, std::nullopt});
  return chart;
}

TEST(LayoutChart, YRangeHoldsTheDataAndTheQuotaLineWithHeadroom) {
  Result<ChartLayout> layout = LayoutChart(TokensChart(), 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_DOUBLE_EQ(layout->y.min, 0);
  EXPECT_GT(layout->y.max, 400000) << "the quota line must not run along the frame";
  EXPECT_TRUE(IsNice(layout->y.step));
  EXPECT_DOUBLE_EQ(layout->y.max, layout->y.ticks.back().value);
  EXPECT_GE(layout->y.ticks.size(), 4u);

  // Where the quota line falls, and the ends of the axis at the plot's edges.
  const Rect& plot = layout->plot;
  EXPECT_DOUBLE_EQ(layout->PixelY(layout->y.min), plot.y + plot.height);
  EXPECT_DOUBLE_EQ(layout->PixelY(layout->y.max), plot.y);
  EXPECT_NEAR(
      layout->PixelY(400000),
      plot.y + plot.height * (1 - (400000 - layout->y.min) / (layout->y.max - layout->y.min)),
      1e-9);
  EXPECT_GT(layout->PixelY(400000), plot.y);
  EXPECT_LT(layout->PixelY(400000), layout->PixelY(380000));

  // The plot stays inside the image with room for labels around it.
  EXPECT_GT(plot.x, 40);
  EXPECT_GT(plot.y, 40);
  EXPECT_LT(plot.x + plot.width, 1000);
  EXPECT_LT(plot.y + plot.height, 600 - 30);
}

TEST(LayoutChart, AQuotaAboveEveryPointStillFits) {
  Chart chart = TokensChart();
  chart.references[0].y = 2000000;
  Result<ChartLayout> layout = LayoutChart(chart, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_GT(layout->y.max, 2000000);
}

TEST(LayoutChart, StacksBarsAndScalesToTheTallestStack) {
  Chart chart;
  chart.x.time = true;
  chart.bars.starts = {kTen, kTen + 300, kTen + 600};
  chart.bars.width = 300;
  chart.bars.stack = {BarSeries{"successful", {10, 20, 30}, std::nullopt},
                      BarSeries{"throttled", {0, 5, 15}, std::nullopt}};
  Result<ChartLayout> layout = LayoutChart(chart, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_THAT(layout->bar_totals, ElementsAre(10, 25, 45));
  EXPECT_DOUBLE_EQ(layout->y.min, 0);
  EXPECT_GE(layout->y.max, 45);
  // The x range ends where the last period does, not where it starts.
  EXPECT_DOUBLE_EQ(layout->x.min, kTen);
  EXPECT_DOUBLE_EQ(layout->x.max, kTen + 900);
}

TEST(LayoutChart, NumericXRangeHoldsPointsAndMarkers) {
  Chart chart;
  chart.lines.push_back(LineSeries{"a", {{120, 1}, {870, -3}}, std::nullopt});
  chart.markers.push_back(Marker{"now", 1010});
  Result<ChartLayout> layout = LayoutChart(chart, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_LE(layout->x.min, 120);
  EXPECT_GE(layout->x.max, 1010);
  EXPECT_TRUE(IsNice(layout->x.step));
  EXPECT_LE(layout->y.min, -3);  // negative data keeps its sign
  EXPECT_GE(layout->y.max, 1);
}

TEST(LayoutChart, GapsDoNotStretchTheRange) {
  Chart chart;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  chart.lines.push_back(LineSeries{"a", {{0, 5}, {1, nan}, {2, 7}}, std::nullopt});
  Result<ChartLayout> layout = LayoutChart(chart, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_DOUBLE_EQ(layout->y.min, 0);
  EXPECT_LE(layout->y.max, 10);
}

TEST(LayoutChart, AnEmptyChartStillHasAxes) {
  Result<ChartLayout> layout = LayoutChart(Chart{}, 1000, 600);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_GE(layout->x.ticks.size(), 2u);
  EXPECT_GE(layout->y.ticks.size(), 2u);
}

TEST(LayoutChart, RejectsInconsistentSeries) {
  Chart mismatched;
  mismatched.bars.starts = {0, 1};
  mismatched.bars.width = 1;
  mismatched.bars.stack = {BarSeries{"throttled", {1}, std::nullopt}};
  Result<ChartLayout> layout = LayoutChart(mismatched, 1000, 600);
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(layout.error().message, HasSubstr("\"throttled\" has 1 values for 2 bars"));

  Chart negative;
  negative.bars.starts = {0};
  negative.bars.width = 1;
  negative.bars.stack = {BarSeries{"ok", {-1}, std::nullopt}};
  EXPECT_FALSE(LayoutChart(negative, 1000, 600));

  Chart no_width;
  no_width.bars.starts = {0};
  no_width.bars.stack = {BarSeries{"ok", {1}, std::nullopt}};
  EXPECT_FALSE(LayoutChart(no_width, 1000, 600));

  Chart bad_x;
  bad_x.lines.push_back(
      LineSeries{"tokens", {{std::numeric_limits<double>::infinity(), 1}}, std::nullopt});
  Result<ChartLayout> bad = LayoutChart(bad_x, 1000, 600);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("line \"tokens\": point 0"));

  Chart bad_quota;
  bad_quota.references.push_back(
      ReferenceLine{"quota", std::numeric_limits<double>::quiet_NaN(), std::nullopt});
  EXPECT_FALSE(LayoutChart(bad_quota, 1000, 600));
}

TEST(Histogram, CountsSamplesIntoNiceBinsWithTheMaximumInTheLast) {
  const std::vector<double> samples = {0.1, 0.5, 1.2,
                                       3.9, 4.0, std::numeric_limits<double>::quiet_NaN()};
  const Bars bars = Histogram(samples, "requests", 4);
  EXPECT_DOUBLE_EQ(bars.width, 1);
  EXPECT_THAT(bars.starts, ElementsAre(0, 1, 2, 3));
  ASSERT_EQ(bars.stack.size(), 1u);
  EXPECT_EQ(bars.stack[0].name, "requests");
  EXPECT_THAT(bars.stack[0].values, ElementsAre(2, 1, 0, 2));
  EXPECT_TRUE(Histogram({}, "none").starts.empty());
}

// ---- Drawing ----

Chart RequestsChart() {
  Chart chart;
  chart.title = "Requests per 5 minutes: anthropic.claude-sonnet-4 in us-east-1";
  chart.x = Axis{"time", "", true, 0};
  chart.y = Axis{"requests", "per 5 min", false, 0};
  Bars& bars = chart.bars;
  bars.width = 300;
  BarSeries ok{"successful", {}, 0x0072B2};
  BarSeries throttled{"throttled (429)", {}, 0xD55E00};
  for (int i = 0; i < 72; ++i) {
    bars.starts.push_back(kTen + 300.0 * i);
    const double load = 150 + 110 * std::sin(i / 9.0) + (i % 7) * 6;
    ok.values.push_back(std::min(load, 240.0));
    throttled.values.push_back(load > 240 ? load - 240 + (i % 3) * 4 : 0);
  }
  bars.stack = {ok, throttled};
  chart.references.push_back(ReferenceLine{"RPM quota 50 (250 per 5 min)", 250, std::nullopt});
  return chart;
}

Chart MonitorTokensChart() {
  Chart chart;
  chart.title = "Tokens per minute against the TPM quota";
  chart.x = Axis{"time", "", true, 0};
  chart.y = Axis{"tokens per minute", "tokens", false, 0};
  LineSeries input{"input tokens", {}, std::nullopt};
  LineSeries output{"output tokens × 5 (burndown)", {}, std::nullopt};
  LineSeries estimated{"EstimatedTPMQuotaUsage", {}, std::nullopt};
  for (int i = 0; i < 360; ++i) {
    const double t = kTen + 60.0 * i;
    const double wave = std::sin(i / 45.0);
    const double noise = 9000 * std::sin(i * 1.7) * std::cos(i * 0.37);
    // Minutes 200-214 have no datapoints: the lines break there.
    const double gap = i >= 200 && i < 215 ? std::numeric_limits<double>::quiet_NaN() : 0;
    input.points.push_back(Point{t, 120000 + 50000 * wave + gap});
    output.points.push_back(Point{t, 150000 + 70000 * wave + noise + gap});
    estimated.points.push_back(Point{t, 290000 + 130000 * wave + 1.5 * noise + gap});
  }
  chart.lines = {input, output, estimated};
  chart.references.push_back(ReferenceLine{"TPM quota 400,000", 400000, std::nullopt});
  return chart;
}

Chart QueueChart() {
  Chart chart;
  chart.title = "Queue by priority";
  chart.x = Axis{"time", "", true, 120};
  chart.y = Axis{"requests waiting", "", false, 0};
  const char* names[] = {"priority 0 (interactive)", "priority 1", "priority 2 (bulk)"};
  for (int p = 0; p < 3; ++p) {
    LineSeries line{names[p], {}, std::nullopt};
    for (int i = 0; i <= 90; ++i) {
      const double base = p == 2 ? 400 - 4.0 * i : (p == 1 ? 60 + 30 * std::sin(i / 8.0) : 3);
      line.points.push_back(Point{kTen + 20.0 * i, std::max(0.0, base + (i * (p + 3)) % 5)});
    }
    chart.lines.push_back(line);
  }
  chart.markers.push_back(Marker{"TPM raised to 800k", kTen + 900});
  return chart;
}

Chart WaitChart() {
  Chart chart;
  chart.title = "Wait before start";
  chart.x = Axis{"wait", "seconds", false, 0};
  chart.y = Axis{"requests", "", false, 0};
  std::mt19937_64 rng(7);
  std::gamma_distribution<double> wait(2.0, 1.5);
  std::vector<double> samples;
  samples.reserve(5000);
  for (int i = 0; i < 5000; ++i) samples.push_back(wait(rng));
  chart.bars = Histogram(samples, "requests", 30);
  chart.markers.push_back(Marker{"p99", 14.1});
  return chart;
}

class RenderTest : public ::testing::Test {
 protected:
  std::filesystem::path Dir() { return SampleDir(temp_.path()); }
  testing_util::TempDir temp_{"quotaflow-chart"};
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(RenderTest, WritesPngAndSvgFromTheSameChart) {
  ASSERT_TRUE(temp_.ok());
  const std::filesystem::path dir = Dir();
  const Chart chart = MonitorTokensChart();
  ASSERT_TRUE(Render(chart, dir / "tokens.png"));
  ASSERT_TRUE(Render(chart, dir / "tokens.SVG"));

  const std::string png = ReadFile(dir / "tokens.png");
  EXPECT_THAT(png, StartsWith(std::string("\x89PNG\r\n\x1a\n", 8)));
  // IHDR: width and height, big-endian, at bytes 16..23.
  ASSERT_GE(png.size(), 24u);
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 1000u);
  EXPECT_EQ(be32(20), 600u);

  const std::string svg = ReadFile(dir / "tokens.SVG");
  EXPECT_THAT(svg, StartsWith("<?xml"));
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("width=\"1000px\""));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
}

TEST_F(RenderTest, DrawsEveryKindOfChart) {
  ASSERT_TRUE(temp_.ok());
  const std::filesystem::path dir = Dir();
  EXPECT_TRUE(Render(RequestsChart(), dir / "monitor-requests.png"));
  EXPECT_TRUE(Render(MonitorTokensChart(), dir / "monitor-tokens.png"));
  EXPECT_TRUE(Render(QueueChart(), dir / "report-queue.png"));
  EXPECT_TRUE(Render(WaitChart(), dir / "report-wait.png"));
  const std::vector<Chart> monitor = {RequestsChart(), MonitorTokensChart()};
  ASSERT_TRUE(RenderPanels(monitor, dir / "monitor.png"));
  ASSERT_TRUE(RenderPanels(monitor, dir / "monitor.svg"));
  EXPECT_TRUE(Render(Chart{}, dir / "empty.png"));

  Result<std::string> panels = RenderToBytes(monitor, ImageFormat::kPng);
  ASSERT_TRUE(panels);
  EXPECT_EQ(
      static_cast<unsigned char>((*panels)[22]) * 256 + static_cast<unsigned char>((*panels)[23]),
      1200)
      << "two panels of 600 pixels";
}

TEST_F(RenderTest, ErrorsAreValues) {
  ASSERT_TRUE(temp_.ok());
  Status jpg = Render(TokensChart(), temp_.path() / "chart.jpg");
  ASSERT_FALSE(jpg);
  EXPECT_EQ(jpg.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(jpg.error().message, HasSubstr(".png or .svg"));

  Status no_extension = Render(TokensChart(), temp_.path() / "chart");
  ASSERT_FALSE(no_extension);
  EXPECT_EQ(no_extension.error().code, ErrorCode::kInvalidArgument);

  Status missing_dir = Render(TokensChart(), temp_.path() / "no-such-dir" / "chart.png");
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().code, ErrorCode::kIo);
  EXPECT_THAT(missing_dir.error().message, HasSubstr("no-such-dir/chart.png"));

  std::filesystem::create_directory(temp_.path() / "dir.svg");
  Status directory = Render(TokensChart(), temp_.path() / "dir.svg");
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kIo);

  Chart bad;
  bad.bars.starts = {0};
  bad.bars.width = 1;
  Status inconsistent = Render(bad, temp_.path() / "ok.png");
  EXPECT_TRUE(inconsistent) << "bars without layers are just nothing to draw";
  bad.bars.stack = {BarSeries{"x", {1, 2}, std::nullopt}};
  inconsistent = Render(bad, temp_.path() / "bad.png");
  ASSERT_FALSE(inconsistent);
  EXPECT_EQ(inconsistent.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(temp_.path() / "bad.png"));

  Status tiny = Render(TokensChart(), temp_.path() / "tiny.png", RenderOptions{10, 10});
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace quotaflow::report
