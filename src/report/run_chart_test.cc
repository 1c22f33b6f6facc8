// A batch run's charts: the rates, quota lines, queue steps, common wait bins and percentiles they
// compute, checked on hand-computed series; and a sample run drawn to PNG and SVG (kept under
// $QUOTAFLOW_CHART_SAMPLES to be looked at).

#include "report/run_chart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "aws/test_process.h"
#include "report/sample_dir_test_util.h"

namespace quotaflow::report {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;
using ::testing::StartsWith;

// 2025-06-12T10:00:00Z.
constexpr double kTen = 1749722400;

std::vector<double> Xs(const std::vector<Point>& points) {
  std::vector<double> xs;
  xs.reserve(points.size());
  for (const Point& p : points) xs.push_back(p.x);
  return xs;
}

std::vector<double> Ys(const std::vector<Point>& points) {
  std::vector<double> ys;
  ys.reserve(points.size());
  for (const Point& p : points) ys.push_back(p.y);
  return ys;
}

RunSeries ThreeBuckets() {
  RunSeries run;
  run.title = "run.db: amazon.nova-lite-v1:0";
  run.throughput.bucket_starts = {kTen, kTen + 10, kTen + 20};
  run.throughput.tokens = {1000, 5000, 0};
  run.throughput.bucket_seconds = 10;
  run.throughput.quota = 40000;
  return run;
}

TEST(ThroughputChart, BarsAreTokensPerQuotaPeriodAgainstTheQuotaLine) {
  const Chart chart = ThroughputChart(ThreeBuckets());
  EXPECT_EQ(chart.title, "run.db: amazon.nova-lite-v1:0");
  EXPECT_TRUE(chart.x.time);
  EXPECT_EQ(chart.y.label, "settled tokens per minute");
  EXPECT_EQ(chart.y.unit, "tokens/min");
  EXPECT_THAT(chart.bars.starts, ElementsAre(kTen, kTen + 10, kTen + 20));
  EXPECT_DOUBLE_EQ(chart.bars.width, 10);
  ASSERT_EQ(chart.bars.stack.size(), 1U);
  // 1,000 tokens in 10 s is 6,000 per minute.
  EXPECT_THAT(chart.bars.stack[0].values, ElementsAre(6000, 30000, 0));
  ASSERT_EQ(chart.references.size(), 1U);
  EXPECT_EQ(chart.references[0].label, "TPM quota 40,000");
  EXPECT_DOUBLE_EQ(chart.references[0].y, 40000);

  const ChartLayout layout = LayoutChart(chart, 1000, 460).value();
  EXPECT_DOUBLE_EQ(layout.y.min, 0);
  EXPECT_GE(layout.y.max, 40000);  // the quota line is inside the plot
  EXPECT_LE(layout.y.max, 60000);
  EXPECT_DOUBLE_EQ(layout.x.min, kTen);
  EXPECT_DOUBLE_EQ(layout.x.max, kTen + 30);
  EXPECT_THAT(layout.bar_totals, ElementsAre(6000, 30000, 0));
}

TEST(ThroughputChart, ShortPeriodsAreNamedAndRatesScaledToThem) {
  RunSeries run = ThreeBuckets();
  run.throughput.period_seconds = 6;
  run.throughput.quota = 1000;
  const Chart chart = ThroughputChart(run);
  EXPECT_EQ(chart.y.label, "settled tokens per 6 s");
  EXPECT_EQ(chart.y.unit, "tokens/6 s");
  // 1,000 tokens in 10 s is 600 per 6 s.
  EXPECT_THAT(chart.bars.stack[0].values, ElementsAre(600, 3000, 0));
  EXPECT_EQ(chart.references[0].label, "quota per 6 s 1,000");
}

TEST(ThroughputChart, TheRunsShareAndTheAchievedRateAreLinesOfTheirOwn) {
  RunSeries run = ThreeBuckets();
  run.throughput.quota_share = 0.5;
  run.throughput.achieved = 12000;
  const Chart chart = ThroughputChart(run);
  ASSERT_EQ(chart.references.size(), 3U);
  EXPECT_EQ(chart.references[1].label, "this run's share (50%) 20,000");
  EXPECT_DOUBLE_EQ(chart.references[1].y, 20000);
  EXPECT_EQ(chart.references[2].label, "achieved over the run 12,000");
  EXPECT_DOUBLE_EQ(chart.references[2].y, 12000);

  // Without a known quota only the achieved rate is drawn.
  run.throughput.quota.reset();
  EXPECT_EQ(ThroughputChart(run).references.size(), 1U);
}

TEST(QueueChart, StepsSpanTheThroughputBucketsSoThePanelsShareTheTimeAxis) {
  RunSeries run = ThreeBuckets();
  run.queues.push_back({"high", 0xD55E00, {{kTen + 2, 1}, {kTen + 5, 2}, {kTen + 8, 0}}});
  run.queues.push_back({"low", std::nullopt, {}});
  const Chart chart = QueueChart(run);
  ASSERT_EQ(chart.lines.size(), 2U);
  const LineSeries& high = chart.lines[0];
  EXPECT_EQ(high.name, "high");
  EXPECT_EQ(high.color, 0xD55E00U);
  EXPECT_THAT(Xs(high.points), ElementsAre(kTen, kTen + 2, kTen + 2, kTen + 5, kTen + 5, kTen + 8,
                                           kTen + 8, kTen + 30));
  EXPECT_THAT(Ys(high.points), ElementsAre(0, 0, 1, 1, 2, 2, 0, 0));
  // An empty queue is a line at 0 across the run.
  EXPECT_THAT(Xs(chart.lines[1].points), ElementsAre(kTen, kTen + 30));
  EXPECT_THAT(Ys(chart.lines[1].points), ElementsAre(0, 0));

  const ChartLayout queue = LayoutChart(chart, 1000, 460).value();
  const ChartLayout throughput = LayoutChart(ThroughputChart(run), 1000, 460).value();
  EXPECT_DOUBLE_EQ(queue.x.min, throughput.x.min);
  EXPECT_DOUBLE_EQ(queue.x.max, throughput.x.max);
  EXPECT_DOUBLE_EQ(queue.y.min, 0);
  EXPECT_GE(queue.y.max, 2);
}

TEST(QueueChart, StepsBeforeTheFirstBucketKeepTheirOwnStart) {
  RunSeries run = ThreeBuckets();
  run.queues.push_back({"normal", std::nullopt, {{kTen, 3}, {kTen + 40, 0}}});
  const Chart chart = QueueChart(run);
  EXPECT_THAT(Xs(chart.lines[0].points), ElementsAre(kTen, kTen + 40, kTen + 40));
  EXPECT_THAT(Ys(chart.lines[0].points), ElementsAre(3, 3, 0));
}

TEST(WaitChart, PrioritiesStackOverCommonBinsWithTheirP99Marked) {
  RunSeries run;
  run.waits.push_back({"high", std::nullopt, {0.1, 0.2, 0.3}});
  run.waits.push_back({"low", std::nullopt, {1.0, 1.9, 3.9}});
  const Chart chart = WaitChart(run, 4);
  EXPECT_EQ(chart.x.label, "wait");
  EXPECT_EQ(chart.x.unit, "s");
  EXPECT_FALSE(chart.x.time);
  // All six from 0 to 3.9 in about four bins: a nice width of 1.
  EXPECT_THAT(chart.bars.starts, ElementsAre(0, 1, 2, 3));
  EXPECT_DOUBLE_EQ(chart.bars.width, 1);
  ASSERT_EQ(chart.bars.stack.size(), 2U);
  EXPECT_EQ(chart.bars.stack[0].name, "high (3 documents)");
  EXPECT_THAT(chart.bars.stack[0].values, ElementsAre(3, 0, 0, 0));
  EXPECT_THAT(chart.bars.stack[1].values, ElementsAre(0, 2, 0, 1));
  ASSERT_EQ(chart.markers.size(), 2U);
  EXPECT_EQ(chart.markers[0].label, "p99 high 0.3 s");
  EXPECT_DOUBLE_EQ(chart.markers[0].x, 0.3);
  EXPECT_EQ(chart.markers[1].label, "p99 low 3.9 s");

  // The layers add up to the histogram of every sample together.
  std::vector<double> all = {0.1, 0.2, 0.3, 1.0, 1.9, 3.9};
  const Bars together = Histogram(all, "", 4);
  const ChartLayout layout = LayoutChart(chart, 1000, 460).value();
  EXPECT_THAT(layout.bar_totals, Pointwise(DoubleEq(), together.stack[0].values));
  EXPECT_DOUBLE_EQ(layout.x.min, 0);
  EXPECT_DOUBLE_EQ(layout.x.max, 4);
}

TEST(WaitChart, ClassesWithoutWaitsGetNoMarker) {
  RunSeries run;
  run.waits.push_back({"high", std::nullopt, {}});
  run.waits.push_back({"normal", std::nullopt, {0, 0}});
  const Chart chart = WaitChart(run);
  ASSERT_EQ(chart.markers.size(), 1U);
  EXPECT_EQ(chart.markers[0].label, "p99 normal 0 s");
  EXPECT_TRUE(LayoutChart(chart, 1000, 460).has_value());
}

TEST(Percentile, IsTheNearestRank) {
  const std::vector<double> five = {5, 1, 3, 2, 4};
  EXPECT_DOUBLE_EQ(Percentile(five, 0.5), 3);
  EXPECT_DOUBLE_EQ(Percentile(five, 0.99), 5);
  EXPECT_DOUBLE_EQ(Percentile(five, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(five, 1), 5);
  EXPECT_DOUBLE_EQ(Percentile(five, 0.2), 1);  // one in five at or below 1
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(hundred, 0.99), 99);
  EXPECT_DOUBLE_EQ(Percentile(hundred, 0.5), 50);
  const std::vector<double> with_nan = {std::numeric_limits<double>::quiet_NaN(), 7};
  EXPECT_DOUBLE_EQ(Percentile(with_nan, 0.5), 7);
  EXPECT_TRUE(std::isnan(Percentile({}, 0.5)));
}

// A plausible run: 600 documents queued at once against 400,000 TPM, served highest priority
// first at about 380,000 settled tokens per minute, finishing in about ten minutes.
RunSeries SampleRun() {
  std::mt19937 rng(7);
  std::normal_distribution<double> settled(6000, 1500);
  RunSeries run;
  run.title = "run.db: us.anthropic.claude-3-5-haiku-20241022-v1:0";
  ThroughputSeries& t = run.throughput;
  t.bucket_seconds = 30;
  t.quota = 400000;
  const int docs = 600;
  std::vector<int> count_by_priority = {150, 300, 150};  // low, normal, high
  std::vector<std::vector<double>> waits(3);
  std::vector<double> finishes;
  std::vector<double> tokens;
  double now = kTen + 3;
  // Served in priority order; each document takes its share of the rate.
  for (int priority = 2; priority >= 0; --priority) {
    for (int i = 0; i < count_by_priority[static_cast<size_t>(priority)]; ++i) {
      const double cost = std::max(500.0, settled(rng));
      now += cost / (380000.0 / 60);
      // Started about 8 s (its latency) before it finished.
      waits[static_cast<size_t>(priority)].push_back(std::max(0.0, now - 8 - kTen));
      finishes.push_back(now);
      tokens.push_back(cost);
    }
  }
  const double end = finishes.back();
  for (double start = kTen; start < end; start += t.bucket_seconds) {
    t.bucket_starts.push_back(start);
    t.tokens.push_back(0);
  }
  double total = 0;
  for (size_t i = 0; i < finishes.size(); ++i) {
    const auto bucket = static_cast<size_t>((finishes[i] - kTen) / t.bucket_seconds);
    t.tokens[bucket] += tokens[i];
    total += tokens[i];
  }
  t.achieved = total * 60 / (end - kTen);
  const std::vector<std::string> names = {"low", "normal", "high"};
  const std::vector<Rgb> colors = {0x009E73, 0x0072B2, 0xD55E00};
  for (int priority = 2; priority >= 0; --priority) {
    const auto p = static_cast<size_t>(priority);
    QueueSeries queue{names[p], colors[p], {{kTen, static_cast<double>(count_by_priority[p])}}};
    double left = count_by_priority[p];
    for (double wait : waits[p]) queue.steps.push_back({kTen + wait, --left});
    run.queues.push_back(std::move(queue));
    run.waits.push_back({names[p], colors[p], waits[p]});
  }
  EXPECT_EQ(static_cast<int>(finishes.size()), docs);
  return run;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(RenderRun, WritesThreePanelsAsPngAndSvg) {
  testing_util::TempDir temp("quotaflow-run-chart");
  ASSERT_TRUE(temp.ok());
  const std::filesystem::path dir = SampleDir(temp.path());
  const RunSeries run = SampleRun();
  ASSERT_TRUE(RenderRun(run, dir / "run.png"));
  ASSERT_TRUE(RenderRun(run, dir / "run.svg"));
  const std::string png = ReadFile(dir / "run.png");
  ASSERT_THAT(png, StartsWith(std::string("\x89PNG\r\n\x1a\n", 8)));
  // IHDR height, big-endian at bytes 20..23: three panels of 460.
  ASSERT_GE(png.size(), 24U);
  const uint32_t height = (static_cast<uint32_t>(static_cast<unsigned char>(png[20])) << 24) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(png[21])) << 16) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(png[22])) << 8) |
                          static_cast<uint32_t>(static_cast<unsigned char>(png[23]));
  EXPECT_EQ(height, 3U * 460U);
  EXPECT_THAT(ReadFile(dir / "run.svg"), HasSubstr("<svg"));

  const Status bad = RenderRun(run, dir / "run.jpg");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(RenderRun, AnEmptyRunStillDraws) {
  testing_util::TempDir temp("quotaflow-run-chart");
  ASSERT_TRUE(temp.ok());
  RunSeries run;
  run.queues.push_back({"high", std::nullopt, {}});
  run.waits.push_back({"high", std::nullopt, {}});
  EXPECT_TRUE(RenderRun(run, SampleDir(temp.path()) / "empty-run.png"));
}

}  // namespace
}  // namespace quotaflow::report
