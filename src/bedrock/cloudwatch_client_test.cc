// CloudWatchClient over real HTTP against two independent servers: the in-process Emulator
// (metrics of real runtime traffic sent with RuntimeClient, metric math, alarms, errors) and
// moto_server (metrics put with boto3 read back here, and the other way round). Plus a scripted
// server for the exact wire format.
#include "bedrock/cloudwatch_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <numeric>
#include <string>
#include <vector>

#include "aws/moto_test_util.h"
#include "aws/test_process.h"
#include "aws/testdata.h"
#include "bedrock/control_test_util.h"
#include "bedrock/operations.h"
#include "bedrock/runtime_client.h"

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;
using control_test::JsonAnswer;
using ::quotaflow::testing_util::MotoServer;
using ::quotaflow::testing_util::RunBoto3;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHaiku[] = "anthropic.claude-3-haiku-20240307-v1:0";
constexpr char kSonnet4Profile[] = "us.anthropic.claude-sonnet-4-20250514-v1:0";

constexpr int64_t kMinute = 60;  // seconds

WallTime AtSecond(int64_t epoch_seconds) { return WallTime(seconds(epoch_seconds)); }

// The start of the current minute, in epoch seconds.
int64_t ThisMinute() {
  return std::chrono::floor<minutes>(SystemClock().WallNow()).time_since_epoch() / seconds(1);
}

Metric BedrockMetric(std::string name, std::string model_id) {
  return Metric{.ns = std::string(kBedrockNamespace),
                .name = std::move(name),
                .dimensions = {{std::string(kModelIdDimension), std::move(model_id)}}};
}

MetricDataQuery StatQuery(std::string id, Metric metric, std::string_view stat = "Sum",
                          bool return_data = true) {
  MetricDataQuery q;
  q.id = std::move(id);
  q.metric_stat = MetricStat{.metric = std::move(metric),
                             .period_seconds = 60,
                             .stat = std::string(stat),
                             .unit = std::nullopt};
  q.return_data = return_data;
  return q;
}

MetricDataQuery MathQuery(std::string id, std::string expression, std::string label = {}) {
  MetricDataQuery q;
  q.id = std::move(id);
  q.expression = std::move(expression);
  q.label = std::move(label);
  return q;
}

double SumOf(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}

double SumOfSums(const MetricStatistics& stats) {
  double total = 0;
  for (const Datapoint& d : stats.datapoints) total += d.sum.value_or(0);
  return total;
}

const MetricDataResult* ResultWithId(const MetricData& data, std::string_view id) {
  for (const MetricDataResult& r : data.results) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

class CloudWatchClientTest : public control_test::ControlPlaneTest {
 protected:
  void TearDown() override {
    runtime_.reset();
    ControlPlaneTest::TearDown();
  }

  std::unique_ptr<CloudWatchClient> Client(CloudWatchClientOptions options) {
    Result<std::unique_ptr<CloudWatchClient>> client =
        CloudWatchClient::Create(*http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }
  std::unique_ptr<CloudWatchClient> Client() { return Client(ClientOptions()); }

  // One Converse call to the emulator; returns its usage.
  Usage Converse(const std::string& model_id, std::string_view prompt) {
    if (runtime_ == nullptr) {
      RuntimeClientOptions options;
      options.endpoint = emulator_->endpoint();
      options.credentials = &default_credentials_;
      options.http.version = aws::HttpVersionPolicy::kHttp1_1;
      options.retry.max_attempts = 1;
      options.jitter_seed = 1;
      Result<std::unique_ptr<RuntimeClient>> client =
          RuntimeClient::Create(loop_, *http_, std::move(options));
      EXPECT_TRUE(client) << client.error().message;
      if (!client) return {};
      runtime_ = std::move(*client);
    }
    json::object body;
    body["messages"] = json::array{
        json::object{{"role", "user"}, {"content", json::array{json::object{{"text", prompt}}}}}};
    body["inferenceConfig"] = json::object{{"maxTokens", 100}};
    CallResult<ModelResponse> r = runtime_->ConverseSync({model_id, json::serialize(body)});
    EXPECT_TRUE(r) << r.error().error.ToString();
    return r ? r->usage : Usage{};
  }

  std::unique_ptr<RuntimeClient> runtime_;
};

TEST_F(CloudWatchClientTest, RuntimeTrafficReadsBackThroughGetMetricStatistics) {
  StartEmulator();
  const WallTime start = AtSecond(ThisMinute()) - minutes(10);
  int64_t haiku_input = 0;
  int64_t haiku_output = 0;
  for (std::string_view prompt : {"Name three rivers.", "What is a token bucket?",
                                  "Summarise the indemnification clause of this contract."}) {
    const Usage u = Converse(kHaiku, prompt);
    haiku_input += u.input_tokens;
    haiku_output += u.output_tokens;
  }
  const Usage sonnet = Converse(kSonnet4Profile, "Hello there, model.");
  ASSERT_GT(haiku_input, 0);
  const WallTime end = AtSecond(ThisMinute()) + minutes(2);

  auto client = Client();
  auto stats = [&](std::string metric, std::string model_id) {
    GetMetricStatisticsRequest request;
    request.metric = BedrockMetric(std::move(metric), std::move(model_id));
    request.start = start;
    request.end = end;
    request.period_seconds = 60;
    request.statistics = {"Sum", "SampleCount", "Maximum"};
    Result<MetricStatistics> result = client->GetMetricStatistics(request);
    EXPECT_TRUE(result) << result.error().ToString();
    return result ? *result : MetricStatistics{};
  };

  const MetricStatistics invocations = stats("Invocations", kHaiku);
  EXPECT_EQ(invocations.label, "Invocations");
  EXPECT_EQ(SumOfSums(invocations), 3);
  const MetricStatistics input = stats("InputTokenCount", kHaiku);
  EXPECT_EQ(SumOfSums(input), static_cast<double>(haiku_input));
  double samples = 0;
  for (const Datapoint& d : input.datapoints) {
    samples += d.sample_count.value_or(0);
    EXPECT_TRUE(d.maximum.has_value());
    EXPECT_EQ(d.unit, "Count");
    EXPECT_GE(d.timestamp, start);
    EXPECT_LT(d.timestamp, end);
    EXPECT_EQ(d.timestamp, std::chrono::floor<minutes>(d.timestamp));  // period starts
  }
  EXPECT_EQ(samples, 3);
  for (size_t i = 1; i < input.datapoints.size(); ++i) {
    EXPECT_LT(input.datapoints[i - 1].timestamp, input.datapoints[i].timestamp);
  }
  EXPECT_EQ(SumOfSums(stats("OutputTokenCount", kHaiku)), static_cast<double>(haiku_output));
  // The profile's traffic is its own series.
  EXPECT_EQ(SumOfSums(stats("InputTokenCount", kSonnet4Profile)),
            static_cast<double>(sonnet.input_tokens));
  EXPECT_TRUE(stats("InvocationThrottles", kHaiku).datapoints.empty());
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(CloudWatchClientTest, GetMetricDataReadsStatsAndMetricMath) {
  StartEmulator();
  const WallTime start = AtSecond(ThisMinute()) - minutes(10);
  int64_t total_input = 0;
  int64_t total_output = 0;
  for (std::string_view prompt : {"One.", "Two, please.", "Three tokens or so"}) {
    const Usage u = Converse(kHaiku, prompt);
    total_input += u.input_tokens;
    total_output += u.output_tokens;
  }
  GetMetricDataRequest request;
  request.start = start;
  request.end = AtSecond(ThisMinute()) + minutes(2);
  request.queries = {StatQuery("tin", BedrockMetric("InputTokenCount", kHaiku)),
                     StatQuery("tout", BedrockMetric("OutputTokenCount", kHaiku)),
                     StatQuery("calls", BedrockMetric("Invocations", kHaiku), "Sum",
                               /*return_data=*/false),
                     MathQuery("total", "tin + tout", "Tokens"),
                     MathQuery("pct", "100 * (tin + tout) / 400000")};
  Result<MetricData> data = Client()->GetMetricData(request);
  ASSERT_TRUE(data) << data.error().ToString();
  ASSERT_EQ(data->results.size(), 4u);  // `calls` is not returned
  const MetricDataResult* tin = ResultWithId(*data, "tin");
  const MetricDataResult* total = ResultWithId(*data, "total");
  const MetricDataResult* pct = ResultWithId(*data, "pct");
  ASSERT_TRUE(tin && total && pct);
  EXPECT_EQ(ResultWithId(*data, "calls"), nullptr);
  EXPECT_EQ(SumOf(tin->values), static_cast<double>(total_input));
  EXPECT_EQ(tin->timestamps.size(), tin->values.size());
  EXPECT_EQ(tin->status_code, "Complete");
  EXPECT_EQ(total->label, "Tokens");
  EXPECT_EQ(SumOf(total->values), static_cast<double>(total_input + total_output));
  EXPECT_NEAR(SumOf(pct->values), 100.0 * static_cast<double>(total_input + total_output) / 4e5,
              1e-9);
}

TEST_F(CloudWatchClientTest, GetMetricDataWalksEveryPageInTheOrderAskedFor) {
  StartEmulator();
  auto client = Client();
  const int64_t base = ThisMinute() - 10 * kMinute;
  std::vector<MetricDatum> data;
  for (int64_t i = 0; i < 5; ++i) {
    MetricDatum d;
    d.name = "Requests";
    d.dimensions = {{"Tenant", "a"}};
    d.timestamp = AtSecond(base + i * kMinute + 5);
    d.value = 10.0 * static_cast<double>(i + 1);
    d.unit = "Count";
    data.push_back(std::move(d));
  }
  ASSERT_TRUE(client->PutMetricData("QF/Paging", data));

  const Metric metric{.ns = "QF/Paging", .name = "Requests", .dimensions = {{"Tenant", "a"}}};
  GetMetricDataRequest request;
  request.start = AtSecond(base - 60);
  request.end = AtSecond(base + 10 * kMinute);
  request.queries = {StatQuery("s", metric), StatQuery("n", metric, "SampleCount")};
  request.max_datapoints = 2;  // 10 datapoints: 5 pages
  request.scan_by = ScanBy::kTimestampAscending;
  Result<MetricData> ascending = client->GetMetricData(request);
  ASSERT_TRUE(ascending) << ascending.error().ToString();
  ASSERT_EQ(ascending->results.size(), 2u);
  const MetricDataResult& sums = ascending->results[0];
  EXPECT_EQ(sums.id, "s");
  EXPECT_THAT(sums.values, ElementsAre(10, 20, 30, 40, 50));
  ASSERT_EQ(sums.timestamps.size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(sums.timestamps[static_cast<size_t>(i)], AtSecond(base + i * kMinute));
  }
  EXPECT_EQ(sums.status_code, "Complete");
  EXPECT_THAT(ascending->results[1].values, ElementsAre(1, 1, 1, 1, 1));

  request.scan_by = ScanBy::kTimestampDescending;
  Result<MetricData> descending = client->GetMetricData(request);
  ASSERT_TRUE(descending);
  EXPECT_THAT(descending->results[0].values, ElementsAre(50, 40, 30, 20, 10));
}

TEST_F(CloudWatchClientTest, PutMetricDataFormsReadBackAsStatistics) {
  StartEmulator();
  auto client = Client();
  const int64_t base = ThisMinute() - 10 * kMinute;
  const std::vector<Dimension> dims = {{"ModelId", "m1"}, {"Region", "us-east-1"}};
  MetricDatum single;
  single.name = "Latency";
  single.dimensions = dims;
  single.timestamp = AtSecond(base);
  single.value = 3;
  single.unit = "Milliseconds";
  MetricDatum many = single;
  many.value.reset();
  many.timestamp = AtSecond(base + 60);
  many.values = {1, 2};
  many.counts = {1, 3};
  MetricDatum set = single;
  set.value.reset();
  set.timestamp = AtSecond(base + 120);
  set.statistic_values = StatisticSet{.sample_count = 4, .sum = 10, .minimum = 1, .maximum = 4};
  ASSERT_TRUE(client->PutMetricData("QF/Forms", {single, many, set}));

  GetMetricStatisticsRequest request;
  request.metric = Metric{.ns = "QF/Forms", .name = "Latency", .dimensions = dims};
  request.start = AtSecond(base - 60);
  request.end = AtSecond(base + 300);
  request.statistics = {"SampleCount", "Sum", "Minimum", "Maximum", "Average"};
  Result<MetricStatistics> stats = client->GetMetricStatistics(request);
  ASSERT_TRUE(stats) << stats.error().ToString();
  ASSERT_EQ(stats->datapoints.size(), 3u);
  const Datapoint& a = stats->datapoints[0];
  EXPECT_EQ(a.timestamp, AtSecond(base));
  EXPECT_EQ(a.sum, 3);
  EXPECT_EQ(a.sample_count, 1);
  EXPECT_EQ(a.unit, "Milliseconds");
  const Datapoint& b = stats->datapoints[1];
  EXPECT_EQ(b.sum, 7);  // 1x1 + 2x3
  EXPECT_EQ(b.sample_count, 4);
  EXPECT_EQ(b.minimum, 1);
  EXPECT_EQ(b.maximum, 2);
  EXPECT_EQ(b.average, 7.0 / 4);
  const Datapoint& c = stats->datapoints[2];
  EXPECT_EQ(c.sum, 10);
  EXPECT_EQ(c.sample_count, 4);
  EXPECT_EQ(c.maximum, 4);

  MetricDatum hundred = single;
  hundred.value.reset();
  hundred.timestamp = AtSecond(base + 180);
  for (int i = 1; i <= 100; ++i) hundred.values.push_back(i);
  ASSERT_TRUE(client->PutMetricData("QF/Forms", {hundred}));
  request.start = AtSecond(base + 180);
  request.end = AtSecond(base + 240);
  request.statistics.clear();
  request.extended_statistics = {"p50", "p99"};
  Result<MetricStatistics> percentiles = client->GetMetricStatistics(request);
  ASSERT_TRUE(percentiles) << percentiles.error().ToString();
  ASSERT_EQ(percentiles->datapoints.size(), 1u);
  EXPECT_EQ(percentiles->datapoints[0].extended.at("p50"), 50);
  EXPECT_EQ(percentiles->datapoints[0].extended.at("p99"), 99);
}

AlarmConfig ThrottleAlarm(std::string name) {
  AlarmConfig a;
  a.name = std::move(name);
  a.description = "Bedrock throttled Claude 3 Haiku";
  a.metric = BedrockMetric("InvocationThrottles", kHaiku);
  a.statistic = "Sum";
  a.period_seconds = 60;
  a.evaluation_periods = 1;
  a.threshold = 0;
  a.comparison_operator = "GreaterThanThreshold";
  a.treat_missing_data = "notBreaching";
  a.alarm_actions = {"arn:aws:sns:us-east-1:123456789012:quotaflow"};
  return a;
}

AlarmConfig TpmAlarm(std::string name) {
  AlarmConfig a;
  a.name = std::move(name);
  a.metrics = {StatQuery("tin", BedrockMetric("InputTokenCount", kHaiku), "Sum", false),
               StatQuery("tout", BedrockMetric("OutputTokenCount", kHaiku), "Sum", false),
               MathQuery("pct", "100 * (tin + tout) / 400000", "TPM used (%)")};
  a.evaluation_periods = 3;
  a.datapoints_to_alarm = 2;
  a.threshold = 80;
  a.comparison_operator = "GreaterThanOrEqualToThreshold";
  a.treat_missing_data = "notBreaching";
  return a;
}

TEST_F(CloudWatchClientTest, AlarmsArePutDescribedAndDeleted) {
  StartEmulator();
  CloudWatchClientOptions one_per_page = ClientOptions();
  one_per_page.page_size = 1;
  auto client = Client(one_per_page);
  ASSERT_TRUE(client->PutMetricAlarm(ThrottleAlarm("quotaflow-haiku-throttles")));
  ASSERT_TRUE(client->PutMetricAlarm(TpmAlarm("quotaflow-haiku-tpm")));
  ASSERT_TRUE(client->PutMetricAlarm(ThrottleAlarm("someone-else")));

  DescribeAlarmsRequest ours;
  ours.prefix = "quotaflow-";
  Result<std::vector<Alarm>> alarms = client->DescribeAlarms(ours);
  ASSERT_TRUE(alarms) << alarms.error().ToString();
  ASSERT_EQ(alarms->size(), 2u);  // two pages of one
  const Alarm& throttles = (*alarms)[0];
  const Alarm& tpm = (*alarms)[1];
  EXPECT_EQ(throttles.config.name, "quotaflow-haiku-throttles");
  EXPECT_EQ(throttles.arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:quotaflow-haiku-throttles");
  EXPECT_EQ(throttles.config.description, "Bedrock throttled Claude 3 Haiku");
  ASSERT_TRUE(throttles.config.metric.has_value());
  EXPECT_EQ(throttles.config.metric->ns, "AWS/Bedrock");
  EXPECT_EQ(throttles.config.metric->name, "InvocationThrottles");
  EXPECT_THAT(throttles.config.metric->dimensions, ElementsAre(Dimension{"ModelId", kHaiku}));
  EXPECT_EQ(throttles.config.statistic, "Sum");
  EXPECT_EQ(throttles.config.period_seconds, 60);
  EXPECT_EQ(throttles.config.comparison_operator, "GreaterThanThreshold");
  EXPECT_EQ(throttles.config.treat_missing_data, "notBreaching");
  EXPECT_THAT(throttles.config.alarm_actions,
              ElementsAre("arn:aws:sns:us-east-1:123456789012:quotaflow"));
  EXPECT_TRUE(throttles.config.metrics.empty());
  EXPECT_EQ(throttles.state, AlarmState::kOk);  // no throttles, missing data not breaching
  EXPECT_FALSE(throttles.state_reason.empty());

  EXPECT_EQ(tpm.config.name, "quotaflow-haiku-tpm");
  EXPECT_FALSE(tpm.config.metric.has_value());
  ASSERT_EQ(tpm.config.metrics.size(), 3u);
  EXPECT_EQ(tpm.config.metrics[2].expression, "100 * (tin + tout) / 400000");
  EXPECT_TRUE(tpm.config.metrics[2].return_data);
  EXPECT_FALSE(tpm.config.metrics[0].return_data);
  ASSERT_TRUE(tpm.config.metrics[0].metric_stat.has_value());
  EXPECT_EQ(tpm.config.metrics[0].metric_stat->metric.name, "InputTokenCount");
  EXPECT_EQ(tpm.config.threshold, 80);
  EXPECT_EQ(tpm.config.evaluation_periods, 3);
  EXPECT_EQ(tpm.config.datapoints_to_alarm, 2);
  EXPECT_NE(tpm.state, AlarmState::kUnknown);

  DescribeAlarmsRequest by_name;
  by_name.names = {"quotaflow-haiku-tpm", "no-such-alarm"};
  Result<std::vector<Alarm>> named = client->DescribeAlarms(by_name);
  ASSERT_TRUE(named);
  ASSERT_EQ(named->size(), 1u);
  EXPECT_EQ((*named)[0].config.name, "quotaflow-haiku-tpm");

  Result<std::vector<Alarm>> everything = client->DescribeAlarms();
  ASSERT_TRUE(everything);
  EXPECT_EQ(everything->size(), 3u);

  ASSERT_TRUE(client->DeleteAlarms({"quotaflow-haiku-throttles", "quotaflow-haiku-tpm", "nope"}));
  Result<std::vector<Alarm>> after = client->DescribeAlarms(ours);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
  Result<std::vector<Alarm>> left = client->DescribeAlarms();
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].config.name, "someone-else");
}

TEST_F(CloudWatchClientTest, BreachingDataPutsAnAlarmInAlarmState) {
  StartEmulator();
  auto client = Client();
  AlarmConfig a;
  a.name = "quotaflow-errors";
  a.metric = Metric{.ns = "QF/Alarm", .name = "Errors", .dimensions = {}};
  a.statistic = "Sum";
  a.period_seconds = 60;
  // Two periods, one breach enough: the datum stays in the window if the minute turns mid-test.
  a.evaluation_periods = 2;
  a.datapoints_to_alarm = 1;
  a.threshold = 1;
  a.comparison_operator = "GreaterThanOrEqualToThreshold";
  a.treat_missing_data = "notBreaching";
  ASSERT_TRUE(client->PutMetricAlarm(a));
  MetricDatum breach;
  breach.name = "Errors";
  breach.timestamp = SystemClock().WallNow() - seconds(60);
  breach.value = 5;
  ASSERT_TRUE(client->PutMetricData("QF/Alarm", {breach}));

  DescribeAlarmsRequest alarming;
  alarming.state = AlarmState::kAlarm;
  Result<std::vector<Alarm>> alarms = client->DescribeAlarms(alarming);
  ASSERT_TRUE(alarms) << alarms.error().ToString();
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_EQ((*alarms)[0].state, AlarmState::kAlarm);
  EXPECT_EQ((*alarms)[0].state_text, "ALARM");
  EXPECT_THAT((*alarms)[0].state_reason, HasSubstr("Threshold Crossed"));
  EXPECT_FALSE((*alarms)[0].state_reason_data.empty());
  EXPECT_GT((*alarms)[0].state_updated, SystemClock().WallNow() - minutes(5));
}

TEST_F(CloudWatchClientTest, ServiceErrorsCarryTheQueryCompatibleCode) {
  StartEmulator();
  auto client = Client();
  GetMetricStatisticsRequest no_statistics;
  no_statistics.metric = BedrockMetric("Invocations", kHaiku);
  no_statistics.start = AtSecond(ThisMinute() - 600);
  no_statistics.end = AtSecond(ThisMinute());
  Result<MetricStatistics> stats = client->GetMetricStatistics(no_statistics);
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().aws_code, "MissingParameter");
  EXPECT_EQ(stats.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(stats.error().message,
            "Must specify either the parameter Statistics or ExtendedStatistics.");
  EXPECT_FALSE(stats.error().request_id.empty());

  DescribeAlarmsRequest both;
  both.names = {"a"};
  both.prefix = "b";
  Result<std::vector<Alarm>> alarms = client->DescribeAlarms(both);
  ASSERT_FALSE(alarms);
  EXPECT_EQ(alarms.error().aws_code, "InvalidParameterCombination");

  GetMetricDataRequest bad_math;
  bad_math.start = AtSecond(ThisMinute() - 600);
  bad_math.end = AtSecond(ThisMinute());
  bad_math.queries = {MathQuery("e1", "nosuch + 1")};
  Result<MetricData> data = client->GetMetricData(bad_math);
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(data.error().aws_code.empty());
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(CloudWatchClientTest, SendsAwsJson10InQueryModeSignedForMonitoring) {
  StartScripted(
      {JsonAnswer(200,
                  R"({"Label":"Invocations","Datapoints":[)"
                  R"({"Timestamp":1.7356897E9,"Sum":2.0,"Unit":"Count"},)"
                  R"({"Timestamp":1735689600,"Sum":1.0,"SampleCount":1,"Unit":"Count"}]})",
                  "application/x-amz-json-1.0")});
  CloudWatchClientOptions options = ClientOptions(scripted_->endpoint());
  options.region = "eu-west-3";
  GetMetricStatisticsRequest request;
  request.metric = BedrockMetric("Invocations", kSonnet4Profile);
  request.start = AtSecond(1'735'689'600) + std::chrono::milliseconds(900);
  request.end = AtSecond(1'735'693'200);
  request.statistics = {"Sum"};
  Result<MetricStatistics> stats = Client(options)->GetMetricStatistics(request);
  ASSERT_TRUE(stats) << stats.error().ToString();
  ASSERT_EQ(stats->datapoints.size(), 2u);
  EXPECT_EQ(stats->datapoints[0].timestamp, AtSecond(1'735'689'600));  // sorted
  EXPECT_EQ(stats->datapoints[0].sample_count, 1);
  EXPECT_EQ(stats->datapoints[1].timestamp, AtSecond(1'735'689'700));
  EXPECT_FALSE(stats->datapoints[1].sample_count.has_value());

  const std::vector<server::ServerRequest> requests = scripted_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const server::ServerRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Target"),
            "GraniteServiceVersion20100801.GetMetricStatistics");
  EXPECT_EQ(FindHeader(r.headers, "Content-Type"), "application/x-amz-json-1.0");
  EXPECT_EQ(FindHeader(r.headers, "x-amzn-query-mode"), "true");
  EXPECT_THAT(std::string(FindHeader(r.headers, "Authorization").value_or("")),
              HasSubstr("/eu-west-3/monitoring/aws4_request"));
  const json::value body = json::parse(r.body);
  // Whole epoch seconds, as botocore sends them.
  EXPECT_TRUE(body.at("StartTime").is_int64());
  EXPECT_EQ(body.at("StartTime").as_int64(), 1'735'689'600);
  EXPECT_EQ(body.at("EndTime").as_int64(), 1'735'693'200);
  EXPECT_EQ(body.at("Namespace"), "AWS/Bedrock");
  EXPECT_EQ(body.at("Dimensions"),
            (json::array{json::object{{"Name", "ModelId"}, {"Value", kSonnet4Profile}}}));
  EXPECT_EQ(body.at("Statistics"), (json::array{"Sum"}));
}

TEST_F(CloudWatchClientTest, ThrottledCallsAreRetried) {
  StartScripted({JsonAnswer(400, R"({"__type":"Throttling","message":"Rate exceeded"})",
                            "application/x-amz-json-1.0"),
                 JsonAnswer(200, R"({"MetricAlarms":[],"CompositeAlarms":[]})",
                            "application/x-amz-json-1.0")});
  Result<std::vector<Alarm>> alarms =
      Client(ClientOptions(scripted_->endpoint()))->DescribeAlarms();
  ASSERT_TRUE(alarms) << alarms.error().ToString();
  EXPECT_EQ(scripted_->requests().size(), 2u);
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST(CloudWatchParsing, AlarmStatesRoundTrip) {
  for (AlarmState s : {AlarmState::kOk, AlarmState::kAlarm, AlarmState::kInsufficientData}) {
    EXPECT_EQ(ParseAlarmState(AlarmStateName(s)), s);
  }
  EXPECT_EQ(ParseAlarmState("NEW_STATE"), AlarmState::kUnknown);
  // moto lists an empty Metrics array on single-metric alarms.
  const Alarm a =
      ParseAlarm(json::parse(R"({"AlarmName":"x","MetricName":"M","Namespace":"N","Metrics":[],)"
                             R"("StateValue":"INSUFFICIENT_DATA","Threshold":1.5})")
                     .as_object());
  ASSERT_TRUE(a.config.metric.has_value());
  EXPECT_TRUE(a.config.metrics.empty());
  EXPECT_EQ(a.state, AlarmState::kInsufficientData);
  EXPECT_EQ(a.config.threshold, 1.5);
}

// --- moto_server: a second, independent implementation of the wire protocol ---

// moto keeps what every earlier test (or --gtest_repeat round) put: each test writes under a name
// of its own.
std::string UniqueTag() {
  static std::atomic<int> counter{0};
  return std::to_string(getpid()) + "-" + std::to_string(++counter);
}

constexpr const char* kBoto3Put = R"(
import os, sys, datetime, boto3
url, base, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):  # a stray profile would break the client
    os.environ.pop(name, None)
cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="AKIDMOTO", aws_secret_access_key="secret")
def at(s): return datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
dims = [{"Name": "ModelId", "Value": "us.anthropic.claude-sonnet-4-20250514-v1:0"},
        {"Name": "Run", "Value": tag}]
cw.put_metric_data(Namespace="QF/Moto/" + tag, MetricData=[
    {"MetricName": "InputTokenCount", "Dimensions": dims, "Timestamp": at(base), "Value": 120.0,
     "Unit": "Count"},
    {"MetricName": "InputTokenCount", "Dimensions": dims, "Timestamp": at(base + 60),
     "Value": 300.0, "Unit": "Count"},
    {"MetricName": "InputTokenCount", "Dimensions": dims, "Timestamp": at(base + 70),
     "Value": 100.0, "Unit": "Count"},
    {"MetricName": "InputTokenCount", "Dimensions": dims, "Timestamp": at(base + 180),
     "Value": 42.0, "Unit": "Count"},
    {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at(base + 60), "Value": 2.0,
     "Unit": "Count"},
])
print("put")
)";

TEST_F(CloudWatchClientTest, MetricsPutWithBoto3IntoMotoReadBackTheSame) {
  QF_REQUIRE_MOTO(moto);
  const int64_t base = ThisMinute() - 20 * kMinute;
  const std::string tag = UniqueTag();
  EXPECT_THAT(RunBoto3(moto, kBoto3Put, base, tag), HasSubstr("put"));
  auto client = Client(ClientOptions(moto.url));
  const std::string ns = "QF/Moto/" + tag;
  const Metric metric{
      .ns = ns,
      .name = "InputTokenCount",
      // moto's GetMetricData ignores the namespace of a query with dimensions:
      // the tag in a dimension keeps earlier rounds' data out.
      .dimensions = {{"ModelId", "us.anthropic.claude-sonnet-4-20250514-v1:0"}, {"Run", tag}}};

  GetMetricStatisticsRequest request;
  request.metric = metric;
  request.start = AtSecond(base - 60);
  request.end = AtSecond(base + 300);
  request.statistics = {"Sum", "SampleCount", "Maximum", "Minimum", "Average"};
  Result<MetricStatistics> stats = client->GetMetricStatistics(request);
  ASSERT_TRUE(stats) << stats.error().ToString();
  ASSERT_EQ(stats->datapoints.size(), 3u);
  EXPECT_EQ(stats->datapoints[0].timestamp, AtSecond(base));
  EXPECT_EQ(stats->datapoints[0].sum, 120);
  EXPECT_EQ(stats->datapoints[1].timestamp, AtSecond(base + 60));
  EXPECT_EQ(stats->datapoints[1].sum, 400);
  EXPECT_EQ(stats->datapoints[1].sample_count, 2);
  EXPECT_EQ(stats->datapoints[1].maximum, 300);
  EXPECT_EQ(stats->datapoints[1].minimum, 100);
  EXPECT_EQ(stats->datapoints[1].average, 200);
  EXPECT_EQ(stats->datapoints[2].timestamp, AtSecond(base + 180));
  EXPECT_EQ(stats->datapoints[2].sum, 42);
  EXPECT_EQ(stats->datapoints[2].unit, "Count");

  GetMetricDataRequest data_request;
  data_request.start = AtSecond(base - 60);
  data_request.end = AtSecond(base + 300);
  data_request.scan_by = ScanBy::kTimestampAscending;
  data_request.queries = {
      StatQuery("tin", metric),
      StatQuery("calls", Metric{.ns = ns, .name = "Invocations", .dimensions = metric.dimensions})};
  Result<MetricData> data = client->GetMetricData(data_request);
  ASSERT_TRUE(data) << data.error().ToString();
  const MetricDataResult* tin = ResultWithId(*data, "tin");
  const MetricDataResult* calls = ResultWithId(*data, "calls");
  ASSERT_TRUE(tin && calls);
  EXPECT_EQ(SumOf(tin->values), 562);
  ASSERT_EQ(tin->timestamps.size(), tin->values.size());
  std::vector<std::pair<WallTime, double>> points;
  for (size_t i = 0; i < tin->values.size(); ++i) {
    points.emplace_back(tin->timestamps[i], tin->values[i]);
  }
  std::sort(points.begin(), points.end());
  EXPECT_THAT(points,
              ElementsAre(std::pair{AtSecond(base), 120.0}, std::pair{AtSecond(base + 60), 400.0},
                          std::pair{AtSecond(base + 180), 42.0}));
  EXPECT_THAT(calls->values, ElementsAre(2));
}

constexpr const char* kBoto3Read = R"(
import os, sys, json, boto3
url, base, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):  # a stray profile would break the client
    os.environ.pop(name, None)
cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="AKIDMOTO", aws_secret_access_key="secret")
r = cw.get_metric_statistics(Namespace="QF/FromClient/" + tag, MetricName="OutputTokenCount",
    Dimensions=[{"Name": "ModelId", "Value": "amazon.nova-lite-v1:0"}],
    StartTime=base - 60, EndTime=base + 300, Period=60, Statistics=["Sum", "SampleCount"])
points = sorted((int(d["Timestamp"].timestamp()) - base, d["Sum"], d["SampleCount"])
                for d in r["Datapoints"])
alarms = cw.describe_alarms(AlarmNamePrefix="qf-from-client-" + tag)["MetricAlarms"]
print(json.dumps({"points": points,
                  "alarms": [[a["AlarmName"], a.get("MetricName"), a.get("Threshold"),
                              a.get("ComparisonOperator"), a.get("Period"),
                              a.get("EvaluationPeriods"),
                              [d["Value"] for d in a.get("Dimensions", [])]] for a in alarms]}))
)";

TEST_F(CloudWatchClientTest, MetricsAndAlarmsPutHereReadBackWithBoto3FromMoto) {
  QF_REQUIRE_MOTO(moto);
  const int64_t base = ThisMinute() - 30 * kMinute;
  const std::string tag = UniqueTag();
  const std::string ns = "QF/FromClient/" + tag;
  const std::string alarm_name = "qf-from-client-" + tag + "-tpm";
  auto client = Client(ClientOptions(moto.url));
  const std::vector<Dimension> dims = {{"ModelId", "amazon.nova-lite-v1:0"}};
  std::vector<MetricDatum> data;
  for (auto [offset, value] : {std::pair{0, 10.0}, {60, 5.0}, {65, 7.0}, {240, 1.0}}) {
    MetricDatum d;
    d.name = "OutputTokenCount";
    d.dimensions = dims;
    d.timestamp = AtSecond(base + offset);
    d.value = value;
    d.unit = "Count";
    data.push_back(std::move(d));
  }
  ASSERT_TRUE(client->PutMetricData(ns, data));
  AlarmConfig alarm;
  alarm.name = alarm_name;
  alarm.metric = Metric{.ns = ns, .name = "OutputTokenCount", .dimensions = dims};
  alarm.statistic = "Sum";
  alarm.period_seconds = 300;
  alarm.evaluation_periods = 2;
  alarm.threshold = 1000.5;
  alarm.comparison_operator = "GreaterThanOrEqualToThreshold";
  ASSERT_TRUE(client->PutMetricAlarm(alarm));

  const json::value read = json::parse(RunBoto3(moto, kBoto3Read, base, tag));
  EXPECT_EQ(read.at("points"), json::parse("[[0, 10.0, 1.0], [60, 12.0, 2.0], [240, 1.0, 1.0]]"));
  const json::value expected_alarm = json::array{json::value(alarm_name),
                                                 "OutputTokenCount",
                                                 1000.5,
                                                 "GreaterThanOrEqualToThreshold",
                                                 300,
                                                 2,
                                                 json::array{"amazon.nova-lite-v1:0"}};
  EXPECT_EQ(read.at("alarms"), json::array{expected_alarm});

  // And this client reads the alarm back too.
  DescribeAlarmsRequest ours;
  ours.names = {alarm_name};
  Result<std::vector<Alarm>> alarms = client->DescribeAlarms(ours);
  ASSERT_TRUE(alarms) << alarms.error().ToString();
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_EQ((*alarms)[0].config.threshold, 1000.5);
  EXPECT_EQ((*alarms)[0].config.period_seconds, 300);
  ASSERT_TRUE(client->DeleteAlarms({alarm_name}));
  Result<std::vector<Alarm>> gone = client->DescribeAlarms(ours);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());
}

}  // namespace
}  // namespace quotaflow::bedrock
