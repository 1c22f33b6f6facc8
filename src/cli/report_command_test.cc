// `quotaflow report --state`: the numbers and series computed from ledger records (hand-computed
// cases), and the built binary run over ledgers made with the Ledger API: its summary, its JSON,
// its charts and its exit codes.

#include "cli/report_command.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aws/test_process.h"
#include "batch/ledger.h"
#include "report/sample_dir_test_util.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;
using batch::DocState;
using batch::DocumentRecord;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_util::Child;
using testing_util::TempDir;

DocumentRecord Record(std::string id, int priority, DocState state) {
  DocumentRecord d;
  d.id = std::move(id);
  d.priority = priority;
  d.state = state;
  return d;
}

// Five documents of a run that started at 1 s and whose last document finished at 13 s:
//   a high, done:    queued 1 s, started 3 s, finished 7 s, settled 600, 1 throttle
//   b high, done:    queued 1 s, started 5 s, finished 13 s, settled 400
//   c low, failed:   finished 8 s, 2 throttles
//   d normal, pending
//   e normal, running: queued and started at 9 s (MarkRunning's provisional times)
std::vector<DocumentRecord> FiveDocuments() {
  DocumentRecord a = Record("a", 2, DocState::kDone);
  a.queued_at_ms = 1000;
  a.started_at_ms = 3000;
  a.finished_at_ms = 7000;
  a.wait_ms = 2000;
  a.settled_tokens = 600;
  a.usage = {100, 50, 10, 20};
  a.throttles = 1;
  DocumentRecord b = Record("b", 2, DocState::kDone);
  b.queued_at_ms = 1000;
  b.started_at_ms = 5000;
  b.finished_at_ms = 13000;
  b.wait_ms = 4000;
  b.settled_tokens = 400;
  b.usage = {200, 40, 0, 0};
  DocumentRecord c = Record("c", 0, DocState::kFailed);
  c.finished_at_ms = 8000;
  c.throttles = 2;
  DocumentRecord d = Record("d", 1, DocState::kPending);
  DocumentRecord e = Record("e", 1, DocState::kRunning);
  e.queued_at_ms = 9000;
  e.started_at_ms = 9000;
  return {a, b, c, d, e};
}

batch::RunInfo SmallRun() {
  batch::RunInfo run;
  run.model = "amazon.nova-lite-v1:0";
  run.tokens_per_minute = 6000;
  run.started_at_ms = 1000;
  run.limits_source = "config";
  return run;
}

TEST(ComputeRunStats, CountsTokensSpanAchievedRateAndWaitsByPriority) {
  const std::vector<DocumentRecord> docs = FiveDocuments();
  const RunStats stats = ComputeRunStats(docs, SmallRun());
  EXPECT_EQ(stats.counts.done, 2);
  EXPECT_EQ(stats.counts.failed, 1);
  EXPECT_EQ(stats.counts.pending, 1);
  EXPECT_EQ(stats.counts.running, 1);
  EXPECT_EQ(stats.usage.input, 300);
  EXPECT_EQ(stats.usage.output, 90);
  EXPECT_EQ(stats.usage.cache_read, 10);
  EXPECT_EQ(stats.usage.cache_write, 20);
  EXPECT_EQ(stats.settled_tokens, 1000);
  EXPECT_EQ(stats.throttles, 3);
  EXPECT_EQ(stats.start_ms, 1000);
  EXPECT_EQ(stats.end_ms, 13000);
  EXPECT_EQ(stats.period_ms, 60000);
  // 1,000 settled tokens in 12 s: 5,000 per minute.
  ASSERT_TRUE(stats.achieved_per_period.has_value());
  EXPECT_DOUBLE_EQ(*stats.achieved_per_period, 5000);

  ASSERT_EQ(stats.priorities.size(), 3U);
  const PriorityStats& high = stats.priorities[0];
  EXPECT_EQ(high.priority, 2);
  EXPECT_EQ(high.documents, 2);
  EXPECT_EQ(high.done, 2);
  EXPECT_EQ(high.throttles, 1);
  EXPECT_DOUBLE_EQ(high.wait_p50_seconds, 2);
  EXPECT_DOUBLE_EQ(high.wait_p99_seconds, 4);
  EXPECT_DOUBLE_EQ(high.wait_max_seconds, 4);
  const PriorityStats& normal = stats.priorities[1];
  EXPECT_EQ(normal.documents, 2);
  EXPECT_EQ(normal.pending, 2);  // the running one is not finished either
  EXPECT_TRUE(std::isnan(normal.wait_p50_seconds));
  const PriorityStats& low = stats.priorities[2];
  EXPECT_EQ(low.priority, 0);
  EXPECT_EQ(low.failed, 1);
  EXPECT_EQ(low.throttles, 2);
}

TEST(ComputeRunStats, WithoutRunInformationTheSpanComesFromTheDocuments) {
  const std::vector<DocumentRecord> docs = FiveDocuments();
  const RunStats stats = ComputeRunStats(docs, std::nullopt);
  EXPECT_EQ(stats.start_ms, 1000);  // a's and b's queue time
  EXPECT_EQ(stats.end_ms, 13000);
  EXPECT_EQ(stats.period_ms, 60000);

  // A short quota period scales the achieved rate to it: 1,000 tokens in 12 s is 500 per 6 s.
  batch::RunInfo run = SmallRun();
  run.period_ms = 6000;
  EXPECT_DOUBLE_EQ(ComputeRunStats(docs, run).achieved_per_period.value(), 500);

  const RunStats empty = ComputeRunStats({}, std::nullopt);
  EXPECT_EQ(empty.start_ms, 0);
  EXPECT_EQ(empty.counts.total(), 0);
  EXPECT_FALSE(empty.achieved_per_period.has_value());
}

TEST(BuildRunSeries, ThroughputQueueAndWaitsFromTheRecords) {
  const std::vector<DocumentRecord> docs = FiveDocuments();
  const std::optional<batch::RunInfo> run = SmallRun();
  const RunStats stats = ComputeRunStats(docs, run);
  const report::RunSeries series = BuildRunSeries(docs, run, stats, 5000, "t").value();
  EXPECT_EQ(series.title, "t");
  const report::ThroughputSeries& t = series.throughput;
  // 12 s in buckets of 5 s: three, from 1 s. a finished at 7 s (bucket 1), b at 13 s (bucket 2).
  EXPECT_THAT(t.bucket_starts, ElementsAre(1, 6, 11));
  EXPECT_DOUBLE_EQ(t.bucket_seconds, 5);
  EXPECT_THAT(t.tokens, ElementsAre(0, 600, 400));
  EXPECT_DOUBLE_EQ(t.period_seconds, 60);
  EXPECT_EQ(t.quota, 6000);
  EXPECT_DOUBLE_EQ(t.quota_share, 1);
  EXPECT_EQ(t.achieved, 5000);

  ASSERT_EQ(series.queues.size(), 3U);
  EXPECT_EQ(series.queues[0].name, "high");
  // a and b queued at 1 s; a started at 3 s, b at 5 s.
  std::vector<std::pair<double, double>> steps;
  for (const report::Point& p : series.queues[0].steps) steps.emplace_back(p.x, p.y);
  EXPECT_THAT(steps, ElementsAre(std::pair(1.0, 2.0), std::pair(3.0, 1.0), std::pair(5.0, 0.0)));
  EXPECT_TRUE(series.queues[1].steps.empty());  // e was never seen waiting
  EXPECT_TRUE(series.queues[2].steps.empty());

  ASSERT_EQ(series.waits.size(), 3U);
  EXPECT_THAT(series.waits[0].seconds, ElementsAre(2, 4));
  EXPECT_TRUE(series.waits[1].seconds.empty());
  EXPECT_EQ(series.waits[2].name, "low");
}

TEST(BuildRunSeries, AFinishAtTheSpansEndCountsInTheLastBucket) {
  const std::vector<DocumentRecord> docs = FiveDocuments();
  const RunStats stats = ComputeRunStats(docs, SmallRun());
  // 12 s in buckets of 6 s: two. a at 7 s and b at 13 s (the very end) both land in bucket 1.
  const report::RunSeries series = BuildRunSeries(docs, SmallRun(), stats, 6000, "").value();
  EXPECT_THAT(series.throughput.bucket_starts, ElementsAre(1, 7));
  EXPECT_THAT(series.throughput.tokens, ElementsAre(0, 1000));
}

TEST(BuildRunSeries, ADocumentLeavingAsAnotherArrivesMakesNoStep) {
  std::vector<DocumentRecord> docs = {Record("a", 1, DocState::kDone),
                                      Record("b", 1, DocState::kDone)};
  docs[0].queued_at_ms = 1000;
  docs[0].started_at_ms = 2000;
  docs[1].queued_at_ms = 2000;
  docs[1].started_at_ms = 4000;
  const RunStats stats = ComputeRunStats(docs, std::nullopt);
  const report::RunSeries series = BuildRunSeries(docs, std::nullopt, stats, 1000, "").value();
  std::vector<std::pair<double, double>> steps;
  for (const report::Point& p : series.queues[1].steps) steps.emplace_back(p.x, p.y);
  EXPECT_THAT(steps, ElementsAre(std::pair(1.0, 1.0), std::pair(4.0, 0.0)));
  EXPECT_FALSE(series.throughput.quota.has_value());
}

TEST(BuildRunSeries, TooManyBucketsAreRefused) {
  const std::vector<DocumentRecord> docs = FiveDocuments();
  const RunStats stats = ComputeRunStats(docs, SmallRun());
  // 12 s in 1 ms buckets: 12,000.
  Result<report::RunSeries> series = BuildRunSeries(docs, SmallRun(), stats, 1, "");
  ASSERT_FALSE(series);
  EXPECT_EQ(series.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(series.error().message, HasSubstr("12000 buckets"));
  EXPECT_FALSE(BuildRunSeries(docs, SmallRun(), stats, 0, ""));
}

// ---- The binary ----

std::pair<int, std::string> RunQuotaflow(std::vector<std::string> args, bool merge_stderr = true) {
  args.insert(args.begin(), QUOTAFLOW_BINARY);
  std::string error;
  std::unique_ptr<Child> child = Child::Spawn(args, merge_stderr, &error);
  if (child == nullptr) {
    ADD_FAILURE() << error;
    return {-1, ""};
  }
  return child->Wait(seconds(30));
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The five documents above, made through the Ledger API as a run would (times in unix ms).
void WriteFiveDocumentLedger(const std::filesystem::path& path) {
  std::unique_ptr<batch::Ledger> ledger = batch::Ledger::Open(path).value();
  ASSERT_TRUE(ledger->SetRunInfo(SmallRun()));
  std::vector<batch::NewDocument> docs(5);
  const int priorities[] = {2, 2, 0, 1, 1};
  for (size_t i = 0; i < docs.size(); ++i) {
    docs[i].id = std::string(1, static_cast<char>('a' + i));
    docs[i].priority = priorities[i];
  }
  ASSERT_EQ(ledger->AddDocuments(docs).value(), 5);
  ASSERT_TRUE(ledger->MarkRunning("a", 1000));
  ASSERT_TRUE(ledger->MarkRunning("b", 1000));
  ASSERT_TRUE(ledger->AddThrottles("a", 1));
  batch::Completion a;
  a.result = "A";
  a.usage = {100, 50, 10, 20};
  a.settled_tokens = 600;
  a.started_at_ms = 3000;
  a.finished_at_ms = 7000;
  ASSERT_TRUE(ledger->MarkDone("a", a));
  batch::Completion b;
  b.result = "B";
  b.usage = {200, 40, 0, 0};
  b.settled_tokens = 400;
  b.started_at_ms = 5000;
  b.finished_at_ms = 13000;
  ASSERT_TRUE(ledger->MarkDone("b", b));
  ASSERT_TRUE(ledger->MarkRunning("c", 2000));
  ASSERT_TRUE(ledger->MarkFailed("c", "ValidationException", 2, 8000));
  ASSERT_TRUE(ledger->MarkRunning("e", 9000));
}

class ReportBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    state_ = (dir_.path() / "run.db").string();
    WriteFiveDocumentLedger(state_);
  }
  TempDir dir_{"quotaflow-report"};
  std::string state_;
};

TEST_F(ReportBinaryTest, PrintsTheRunsSummaryAndWaitsByPriority) {
  auto [code, output] = RunQuotaflow({"report", "--state", state_});
  EXPECT_EQ(code, 0) << output;
  EXPECT_THAT(output, HasSubstr(state_ + ": amazon.nova-lite-v1:0; TPM quota 6,000 (config), "
                                         "this run's share 100%\n"));
  EXPECT_THAT(output, HasSubstr("documents: 5 total; 2 done, 1 failed, 1 pending, 1 running\n"));
  EXPECT_THAT(output, HasSubstr("tokens: 300 input, 90 output, 10 cache read, 20 cache write; "
                                "1,000 settled against the quota\n"));
  EXPECT_THAT(output, HasSubstr("span: 1970-01-01T00:00:01Z to 1970-01-01T00:00:13Z (12 s)\n"));
  EXPECT_THAT(output, HasSubstr("achieved: 5,000 settled tokens per minute over the span "
                                "(83.33% of the TPM quota); 3 throttles\n"));
  EXPECT_THAT(output, HasSubstr("priority"));
  EXPECT_THAT(output, HasSubstr("wait_p99_s"));
  // Reading is all a report does: the running document is still running.
  std::unique_ptr<batch::Ledger> ledger = batch::Ledger::OpenReadOnly(state_).value();
  EXPECT_EQ(ledger->Find("e").value()->state, DocState::kRunning);
}

TEST_F(ReportBinaryTest, JsonHasTheSameNumbers) {
  auto [code, output] = RunQuotaflow({"report", "--state", state_, "--output", "json"},
                                     /*merge_stderr=*/false);
  ASSERT_EQ(code, 0) << output;
  boost::system::error_code ec;
  const json::value parsed = json::parse(output, ec);
  ASSERT_FALSE(ec) << output;
  const json::object& report = parsed.as_object();
  EXPECT_EQ(report.at("model"), "amazon.nova-lite-v1:0");
  EXPECT_EQ(report.at("tpm_quota"), 6000);
  EXPECT_EQ(report.at("documents").at("done"), 2);
  EXPECT_EQ(report.at("documents").at("running"), 1);
  EXPECT_EQ(report.at("tokens").at("settled"), 1000);
  EXPECT_EQ(report.at("throttles"), 3);
  EXPECT_EQ(report.at("start"), "1970-01-01T00:00:01Z");
  EXPECT_DOUBLE_EQ(report.at("achieved_tpm").to_number<double>(), 5000);
  EXPECT_DOUBLE_EQ(report.at("tpm_utilization_pct").to_number<double>(), 83.33);
  const json::array& priorities = report.at("priorities").as_array();
  ASSERT_EQ(priorities.size(), 3U);
  EXPECT_EQ(priorities[0].at("priority"), "high");
  // b was queued at 1 s (MarkRunning) and started at 5 s.
  EXPECT_DOUBLE_EQ(priorities[0].at("wait_p99_s").to_number<double>(), 4);
  EXPECT_TRUE(priorities[1].at("wait_p50_s").is_null());
}

TEST_F(ReportBinaryTest, DrawsPngAndSvgCharts) {
  const std::filesystem::path png = dir_.path() / "run.png";
  const std::filesystem::path svg = dir_.path() / "run.svg";
  auto [code, output] =
      RunQuotaflow({"report", "--state", state_, "--chart", png.string(), "--bucket", "2s"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_THAT(output, HasSubstr("quotaflow report: chart written to " + png.string()));
  EXPECT_THAT(ReadFile(png), StartsWith(std::string("\x89PNG\r\n\x1a\n", 8)));
  std::tie(code, output) = RunQuotaflow({"report", "--state", state_, "--chart", svg.string()});
  EXPECT_EQ(code, 0) << output;
  EXPECT_THAT(ReadFile(svg), HasSubstr("<svg"));
}

TEST_F(ReportBinaryTest, BadFlagsAndMissingLedgersExitTwo) {
  const std::string missing = (dir_.path() / "missing.db").string();
  EXPECT_EQ(RunQuotaflow({"report", "--state", missing}),
            std::make_pair(2, "quotaflow report: --state: no ledger at " + missing + "\n"));
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_EQ(RunQuotaflow({"report"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"report", "--state", state_, "--output", "csv"}).first, 2);
  EXPECT_EQ(RunQuotaflow({"report", "--state", state_, "--chart", "run.jpg"}),
            std::make_pair(2, std::string("quotaflow report: --chart: chart file run.jpg must end "
                                          "in .png or .svg\n")));
  const std::string chart = (dir_.path() / "c.png").string();
  auto [code, output] =
      RunQuotaflow({"report", "--state", state_, "--chart", chart, "--bucket", "soon"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, StartsWith("quotaflow report: --bucket: "));
  EXPECT_FALSE(std::filesystem::exists(chart));
}

TEST_F(ReportBinaryTest, AFileThatIsNotALedgerExitsOneNamingIt) {
  const std::string notes = (dir_.path() / "notes.txt").string();
  std::ofstream(notes) << std::string(4096, 'x');
  auto [code, output] = RunQuotaflow({"report", "--state", notes});
  EXPECT_EQ(code, 1);
  EXPECT_THAT(output, StartsWith("quotaflow report: ledger " + notes));
  EXPECT_THAT(output, HasSubstr("file is not a database"));
}

// A simulated run of 300 documents in a ledger, drawn by the binary: kept under
// $QUOTAFLOW_CHART_SAMPLES as report-run.png to be looked at.
TEST(ReportBinary, ChartOfASimulatedRun) {
  TempDir dir("quotaflow-report");
  ASSERT_TRUE(dir.ok());
  const std::filesystem::path samples = report::SampleDir(dir.path());
  const std::string state = (dir.path() / "simulated.db").string();
  {
    std::unique_ptr<batch::Ledger> ledger = batch::Ledger::Open(state).value();
    constexpr int64_t kStart = 1749722400000;  // 2025-06-12T10:00:00Z
    batch::RunInfo run;
    run.model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    run.tokens_per_minute = 200000;
    run.quota_share = 0.8;
    run.limits_source = "service-quotas";
    run.started_at_ms = kStart;
    ASSERT_TRUE(ledger->SetRunInfo(run));
    std::vector<batch::NewDocument> docs(300);
    for (size_t i = 0; i < docs.size(); ++i) {
      docs[i].id = fmt::format("doc-{:03}", i);
      docs[i].priority = i % 5 == 0 ? 2 : (i % 5 == 4 ? 0 : 1);
    }
    docs[7].failed_reason = "empty input";
    ASSERT_TRUE(ledger->AddDocuments(docs));
    // Documents enter the queue in waves of 60; the limiter admits about 150,000 settled tokens a
    // minute, highest priority first within what is waiting.
    std::mt19937 rng(11);
    std::uniform_int_distribution<int64_t> cost(1500, 4500);
    std::uniform_int_distribution<int64_t> latency(2000, 9000);
    int64_t clock = kStart;
    for (size_t wave = 0; wave < 5; ++wave) {
      const int64_t queued = kStart + static_cast<int64_t>(wave) * 60000;
      clock = std::max(clock, queued);
      std::vector<size_t> order;
      for (size_t i = wave * 60; i < wave * 60 + 60; ++i) {
        if (i != 7) order.push_back(i);
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t x, size_t y) { return docs[x].priority > docs[y].priority; });
      for (size_t i : order) {
        ASSERT_TRUE(ledger->MarkRunning(docs[i].id, queued));
        const int64_t tokens = cost(rng);
        clock += tokens * 60000 / 150000;
        batch::Completion c;
        c.result = "ok";
        c.usage = {tokens - 300, 300, 0, 0};
        c.settled_tokens = tokens;
        c.started_at_ms = clock;
        c.finished_at_ms = clock + latency(rng);
        if (i % 37 == 5) {
          ASSERT_TRUE(ledger->MarkFailed(docs[i].id, "ValidationException", 1, c.finished_at_ms));
        } else {
          ASSERT_TRUE(ledger->MarkDone(docs[i].id, c));
        }
      }
    }
  }
  const std::filesystem::path png = samples / "report-run.png";
  auto [code, output] = RunQuotaflow({"report", "--state", state, "--chart", png.string()});
  EXPECT_EQ(code, 0) << output;
  EXPECT_THAT(output, HasSubstr("documents: 300 total"));
  EXPECT_THAT(ReadFile(png), StartsWith(std::string("\x89PNG\r\n\x1a\n", 8)));
}

}  // namespace
}  // namespace quotaflow::cli
