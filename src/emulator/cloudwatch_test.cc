#include "emulator/cloudwatch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using Outcome = InvocationRecord::Outcome;

constexpr std::string_view kRegion = "us-east-1";
constexpr std::string_view kModel = "anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr std::string_view kProfile = "us.anthropic.claude-sonnet-4-20250514-v1:0";

double Num(const json::value& v) { return v.to_number<double>(); }
std::string Str(const json::value& v) { return std::string(v.as_string()); }

struct Reply {
  int status = 0;
  json::value body;
  std::string content_type;
  std::string request_id;
  std::string query_error;  // x-amzn-query-error

  std::string type() const { return Str(body.at("__type")); }
  std::string message() const { return Str(body.at("message")); }
};

json::array ModelDimension(std::string_view model) {
  return json::array{json::object{{"Name", "ModelId"}, {"Value", model}}};
}

// A GetMetricStatistics request for an AWS/Bedrock metric of `model` ("" = no dimension).
// Statistics starting with 'p' go to ExtendedStatistics.
json::object StatsRequest(std::string_view metric, int64_t start, int64_t end, int64_t period,
                          std::initializer_list<std::string_view> stats,
                          std::string_view model = kModel) {
  json::object o{{"Namespace", "AWS/Bedrock"},
                 {"MetricName", metric},
                 {"StartTime", start},
                 {"EndTime", end},
                 {"Period", period}};
  if (!model.empty()) o["Dimensions"] = ModelDimension(model);
  json::array basic;
  json::array extended;
  for (std::string_view s : stats) (s[0] == 'p' ? extended : basic).emplace_back(s);
  if (!basic.empty()) o["Statistics"] = std::move(basic);
  if (!extended.empty()) o["ExtendedStatistics"] = std::move(extended);
  return o;
}

// A MetricStat query on an AWS/Bedrock metric of kModel.
json::object StatQuery(std::string_view id, std::string_view metric, int64_t period,
                       std::string_view stat, bool return_data = true) {
  return json::object{
      {"Id", id},
      {"MetricStat", json::object{{"Metric", json::object{{"Namespace", "AWS/Bedrock"},
                                                          {"MetricName", metric},
                                                          {"Dimensions", ModelDimension(kModel)}}},
                                  {"Period", period},
                                  {"Stat", stat}}},
      {"ReturnData", return_data}};
}

json::object ExpressionQuery(std::string_view id, std::string_view expression) {
  return json::object{{"Id", id}, {"Expression", expression}};
}

// The fake clock starts at 2025-01-01T00:00:00Z, a minute boundary: T(s) is s seconds later.
constexpr int64_t kStart = 1735689600;
constexpr int64_t T(int64_t s) { return kStart + s; }

class CloudWatchTest : public ::testing::Test {
 protected:
  WallTime At(double seconds) const {
    return start_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }
  void AdvanceTo(double seconds) { clock_.AdvanceTo(steady_start_ + (At(seconds) - start_)); }

  InvocationRecord Make(double at, Outcome outcome, std::string_view model = kModel,
                        std::string_view region = kRegion) const {
    InvocationRecord r;
    r.region = region;
    r.model_id = model;
    r.at = At(at);
    r.outcome = outcome;
    return r;
  }
  void Success(double at, int64_t input = 100, int64_t output = 10, double latency_ms = 250,
               std::string_view model = kModel, std::string_view region = kRegion) {
    InvocationRecord r = Make(at, Outcome::kSuccess, model, region);
    r.input_tokens = input;
    r.output_tokens = output;
    r.latency_ms = latency_ms;
    r.quota_tokens = input + 5 * output;
    cw_.Record(r);
  }
  void Throttle(double at, std::string_view model = kModel) {
    cw_.Record(Make(at, Outcome::kThrottled, model));
  }

  Reply Call(std::string_view operation, const json::object& body,
             std::string_view region = kRegion) {
    server::ServerResponse r = cw_.Handle(region, operation, json::serialize(body), "request-1");
    Reply out;
    out.status = r.status;
    boost::system::error_code ec;
    out.body = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    out.content_type = std::string(FindHeader(r.headers, "Content-Type").value_or(""));
    out.request_id = std::string(FindHeader(r.headers, "x-amzn-RequestId").value_or(""));
    out.query_error = std::string(FindHeader(r.headers, "x-amzn-query-error").value_or(""));
    return out;
  }

  // The datapoints of a successful GetMetricStatistics, in time order.
  std::vector<json::object> Datapoints(const json::object& request,
                                       std::string_view region = kRegion) {
    Reply reply = Call("GetMetricStatistics", request, region);
    EXPECT_EQ(reply.status, 200) << json::serialize(reply.body);
    std::vector<json::object> out;
    if (reply.status != 200) return out;
    for (const json::value& v : reply.body.at("Datapoints").as_array()) {
      out.push_back(v.as_object());
    }
    std::sort(out.begin(), out.end(), [](const json::object& a, const json::object& b) {
      return Num(a.at("Timestamp")) < Num(b.at("Timestamp"));
    });
    return out;
  }

  // Sum of `metric` for kModel over [T(0), T(end)) in one period, or -1 without data.
  double Total(std::string_view metric, int64_t end = 60, std::string_view model = kModel) {
    std::vector<json::object> dps =
        Datapoints(StatsRequest(metric, T(0), T(end), end, {"Sum"}, model));
    return dps.empty() ? -1 : Num(dps[0].at("Sum"));
  }

  Reply PutAlarm(const json::object& alarm) { return Call("PutMetricAlarm", alarm); }

  // A throttle alarm on kModel: Sum of InvocationThrottles over 60 s periods >= 5.
  json::object ThrottleAlarm(std::string_view name, int64_t evaluation_periods,
                             int64_t datapoints_to_alarm) {
    return json::object{{"AlarmName", name},
                        {"Namespace", "AWS/Bedrock"},
                        {"MetricName", "InvocationThrottles"},
                        {"Dimensions", ModelDimension(kModel)},
                        {"Statistic", "Sum"},
                        {"Period", 60},
                        {"EvaluationPeriods", evaluation_periods},
                        {"DatapointsToAlarm", datapoints_to_alarm},
                        {"Threshold", 5},
                        {"ComparisonOperator", "GreaterThanOrEqualToThreshold"}};
  }

  json::object DescribeOne(std::string_view name) {
    Reply reply = Call("DescribeAlarms", json::object{{"AlarmNames", json::array{name}}});
    EXPECT_EQ(reply.status, 200);
    const json::array& alarms = reply.body.at("MetricAlarms").as_array();
    EXPECT_EQ(alarms.size(), 1u);
    return alarms.empty() ? json::object() : alarms[0].as_object();
  }
  std::string StateOf(std::string_view name) {
    json::object alarm = DescribeOne(name);
    return alarm.contains("StateValue") ? Str(alarm.at("StateValue")) : "";
  }

  FakeClock clock_;
  const WallTime start_ = clock_.WallNow();
  const SteadyTime steady_start_ = clock_.Now();
  CloudWatch cw_{clock_};
};

// ---------------------------------------------------------------------------------------------
// Runtime metrics.

TEST_F(CloudWatchTest, RecordsAggregateIntoOneSecondPeriods) {
  Success(0.2, 100);
  Success(0.7, 300);
  Success(1.5, 50);
  AdvanceTo(2);
  std::vector<json::object> dps = Datapoints(StatsRequest(
      "InputTokenCount", T(0), T(10), 1, {"Sum", "SampleCount", "Average", "Minimum", "Maximum"}));
  ASSERT_EQ(dps.size(), 2u);
  EXPECT_EQ(Num(dps[0].at("Timestamp")), T(0));
  EXPECT_EQ(Num(dps[0].at("Sum")), 400);
  EXPECT_EQ(Num(dps[0].at("SampleCount")), 2);
  EXPECT_EQ(Num(dps[0].at("Average")), 200);
  EXPECT_EQ(Num(dps[0].at("Minimum")), 100);
  EXPECT_EQ(Num(dps[0].at("Maximum")), 300);
  EXPECT_EQ(Str(dps[0].at("Unit")), "Count");
  EXPECT_EQ(Num(dps[1].at("Timestamp")), T(1));
  EXPECT_EQ(Num(dps[1].at("Sum")), 50);
}

TEST_F(CloudWatchTest, RecordsAggregateIntoSixtySecondPeriods) {
  for (int s = 0; s < 60; s += 10) Success(s, 10);  // 6 in the first minute
  Success(61, 10);
  Success(119.9, 10);
  Success(125, 10);
  AdvanceTo(130);
  std::vector<json::object> dps =
      Datapoints(StatsRequest("Invocations", T(0), T(180), 60, {"Sum"}));
  ASSERT_EQ(dps.size(), 3u);
  EXPECT_EQ(Num(dps[0].at("Timestamp")), T(0));
  EXPECT_EQ(Num(dps[0].at("Sum")), 6);
  EXPECT_EQ(Num(dps[1].at("Timestamp")), T(60));
  EXPECT_EQ(Num(dps[1].at("Sum")), 2);
  EXPECT_EQ(Num(dps[2].at("Timestamp")), T(120));
  EXPECT_EQ(Num(dps[2].at("Sum")), 1);
  // A start inside a minute is rounded down to the minute for minute periods, as CloudWatch does.
  dps = Datapoints(StatsRequest("Invocations", T(65), T(120), 60, {"Sum"}));
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(Num(dps[0].at("Timestamp")), T(60));
  EXPECT_EQ(Num(dps[0].at("Sum")), 2);
}

TEST_F(CloudWatchTest, EndTimeIsExclusive) {
  Success(59);
  Success(60);
  AdvanceTo(61);
  EXPECT_EQ(Total("Invocations", 60), 1);
}

TEST_F(CloudWatchTest, PercentilesAreNearestRankOverRecordedValues) {
  for (int v = 1; v <= 100; ++v) Success(v % 50, 100, 10, v);
  AdvanceTo(60);
  std::vector<json::object> dps = Datapoints(
      StatsRequest("InvocationLatency", T(0), T(60), 60, {"p0", "p50", "p99", "p99.5", "p100"}));
  ASSERT_EQ(dps.size(), 1u);
  const json::object& ext = dps[0].at("ExtendedStatistics").as_object();
  EXPECT_EQ(Num(ext.at("p0")), 1);
  EXPECT_EQ(Num(ext.at("p50")), 50);
  EXPECT_EQ(Num(ext.at("p99")), 99);
  EXPECT_EQ(Num(ext.at("p99.5")), 100);
  EXPECT_EQ(Num(ext.at("p100")), 100);
  EXPECT_EQ(Str(dps[0].at("Unit")), "Milliseconds");
  EXPECT_FALSE(dps[0].contains("Sum"));
}

TEST_F(CloudWatchTest, PercentilesOfManyDistinctValuesStayWithinOnePercent) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> latency(100, 5000);
  std::vector<double> all;
  for (int i = 0; i < 20'000; ++i) {
    const double v = latency(rng);
    all.push_back(v);
    Success(i % 60 + 0.5, 100, 10, v);
  }
  AdvanceTo(60);
  std::sort(all.begin(), all.end());
  std::vector<json::object> dps =
      Datapoints(StatsRequest("InvocationLatency", T(0), T(60), 60, {"p50", "p90", "p99"}));
  ASSERT_EQ(dps.size(), 1u);
  const json::object& ext = dps[0].at("ExtendedStatistics").as_object();
  for (auto [name, p] : {std::pair{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}}) {
    const double exact = all[static_cast<size_t>(std::ceil(p * all.size())) - 1];
    EXPECT_NEAR(Num(ext.at(name)), exact, exact * 0.01) << name;
  }
}

TEST_F(CloudWatchTest, MetricsAreRegional) {
  Success(1, 100, 10, 250, kModel, "us-east-1");
  Success(2, 100, 10, 250, kModel, "us-west-2");
  Success(3, 100, 10, 250, kModel, "us-west-2");
  AdvanceTo(60);
  auto sum = [&](std::string_view region) {
    std::vector<json::object> dps =
        Datapoints(StatsRequest("Invocations", T(0), T(60), 60, {"Sum"}), region);
    return dps.empty() ? 0.0 : Num(dps[0].at("Sum"));
  };
  EXPECT_EQ(sum("us-east-1"), 1);
  EXPECT_EQ(sum("us-west-2"), 2);
  EXPECT_EQ(sum("eu-west-1"), 0);
}

TEST_F(CloudWatchTest, ThrottlesAreNotCountedAsInvocations) {
  Success(1);
  Throttle(2);
  Throttle(3);
  AdvanceTo(60);
  EXPECT_EQ(Total("Invocations"), 1);
  EXPECT_EQ(Total("InvocationThrottles"), 2);
  EXPECT_EQ(Total("InvocationClientErrors"), -1);  // counters are never recorded as 0
  EXPECT_EQ(Total("InputTokenCount"), 100);        // the throttled requests carry no tokens
}

TEST_F(CloudWatchTest, ErrorsAreInvocationsAndErrors) {
  cw_.Record(Make(1, Outcome::kClientError));
  cw_.Record(Make(2, Outcome::kServerError));
  cw_.Record(Make(3, Outcome::kServerError));
  AdvanceTo(60);
  EXPECT_EQ(Total("Invocations"), 3);
  EXPECT_EQ(Total("InvocationClientErrors"), 1);
  EXPECT_EQ(Total("InvocationServerErrors"), 2);
  EXPECT_EQ(Total("InvocationLatency"), -1);  // successes only
  EXPECT_EQ(Total("EstimatedTPMQuotaUsage"), -1);
}

TEST_F(CloudWatchTest, SuccessRecordsTokensQuotaUsageAndStreamTimings) {
  InvocationRecord stream = Make(1, Outcome::kSuccess);
  stream.input_tokens = 1000;
  stream.output_tokens = 200;
  stream.cache_read_input_tokens = 300;
  stream.cache_write_input_tokens = 50;
  stream.latency_ms = 2000;
  stream.time_to_first_token_ms = 400;
  stream.quota_tokens = 1000 + 50 + 200 * 5;
  cw_.Record(stream);
  Success(2, 10, 20);  // not a stream, no cache
  AdvanceTo(60);
  EXPECT_EQ(Total("InputTokenCount"), 1010);
  EXPECT_EQ(Total("OutputTokenCount"), 220);
  EXPECT_EQ(Total("CacheReadInputTokenCount"), 300);
  EXPECT_EQ(Total("CacheWriteInputTokenCount"), 50);
  EXPECT_EQ(Total("EstimatedTPMQuotaUsage"), 2050 + 110);
  std::vector<json::object> ttft =
      Datapoints(StatsRequest("TimeToFirstToken", T(0), T(60), 60, {"SampleCount", "Maximum"}));
  ASSERT_EQ(ttft.size(), 1u);
  EXPECT_EQ(Num(ttft[0].at("SampleCount")), 1);  // the stream only
  EXPECT_EQ(Num(ttft[0].at("Maximum")), 400);
}

TEST_F(CloudWatchTest, QueryWithoutModelIdAggregatesEveryModelOfTheRegion) {
  Success(1, 100, 10, 250, kModel);
  Success(2, 200, 10, 250, kProfile);
  Success(3, 400, 10, 250, kProfile, "eu-west-1");
  AdvanceTo(60);
  std::vector<json::object> dps =
      Datapoints(StatsRequest("InputTokenCount", T(0), T(60), 60, {"Sum", "SampleCount"}, ""));
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(Num(dps[0].at("Sum")), 300);
  EXPECT_EQ(Num(dps[0].at("SampleCount")), 2);
  EXPECT_EQ(Total("InputTokenCount", 60, kProfile), 200);
}

TEST_F(CloudWatchTest, UnitFilterMatchesOnlyTheUnitDataWasRecordedWith) {
  Success(1);
  AdvanceTo(60);
  json::object request = StatsRequest("InvocationLatency", T(0), T(60), 60, {"Sum"});
  request["Unit"] = "Milliseconds";
  EXPECT_EQ(Datapoints(request).size(), 1u);
  request["Unit"] = "Seconds";  // CloudWatch converts no units
  EXPECT_EQ(Datapoints(request).size(), 0u);
}

TEST_F(CloudWatchTest, DataOlderThanTheRetentionIsGone) {
  CloudWatch short_lived(clock_, CloudWatchOptions{.retention = std::chrono::minutes(10),
                                                   .account_id = "123456789012"});
  short_lived.Record(Make(1, Outcome::kThrottled));
  short_lived.Record(Make(590, Outcome::kThrottled));
  const std::string request =
      json::serialize(StatsRequest("InvocationThrottles", T(0), T(3600), 3600, {"Sum"}));
  auto sum = [&] {
    json::value v =
        json::parse(short_lived.Handle(kRegion, "GetMetricStatistics", request, "r").body);
    const json::array& dps = v.at("Datapoints").as_array();
    return dps.empty() ? 0.0 : Num(dps[0].at("Sum"));
  };
  AdvanceTo(600);
  EXPECT_EQ(sum(), 2);
  AdvanceTo(602);  // the record at 1 s is now more than 10 minutes old
  EXPECT_EQ(sum(), 1);
  short_lived.Record(Make(2, Outcome::kThrottled));  // recorded too late: dropped
  EXPECT_EQ(sum(), 1);
}

TEST_F(CloudWatchTest, GetMetricStatisticsValidatesItsParameters) {
  json::object missing = StatsRequest("Invocations", T(0), T(60), 60, {"Sum"});
  missing.erase("Namespace");
  Reply reply = Call("GetMetricStatistics", missing);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(reply.query_error, "MissingParameter;Sender");
  EXPECT_EQ(reply.type(), "com.amazonaws.cloudwatch#MissingRequiredParameterException");
  EXPECT_EQ(reply.message(), "The parameter Namespace is required.");
  EXPECT_EQ(reply.content_type, "application/x-amz-json-1.0");
  EXPECT_EQ(reply.request_id, "request-1");

  json::object no_period = StatsRequest("Invocations", T(0), T(60), 60, {"Sum"});
  no_period.erase("Period");
  EXPECT_EQ(Call("GetMetricStatistics", no_period).query_error, "MissingParameter;Sender");
  EXPECT_EQ(
      Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(60), 60, {})).query_error,
      "MissingParameter;Sender");
  EXPECT_EQ(
      Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(60), 60, {"Sum", "p99"}))
          .query_error,
      "InvalidParameterCombination;Sender");
  EXPECT_EQ(Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(60), 60, {"Median"}))
                .query_error,
            "InvalidParameterValue;Sender");
  EXPECT_EQ(Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(60), 60, {"p101"}))
                .query_error,
            "InvalidParameterValue;Sender");
  EXPECT_EQ(Call("GetMetricStatistics", StatsRequest("Invocations", T(60), T(60), 60, {"Sum"}))
                .query_error,
            "InvalidParameterValue;Sender");
  EXPECT_EQ(
      Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(60), 0, {"Sum"})).query_error,
      "InvalidParameterValue;Sender");
  Reply too_many =
      Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(1441), 1, {"Sum"}));
  EXPECT_EQ(too_many.query_error, "InvalidParameterCombination;Sender");
  EXPECT_NE(too_many.message().find("1441"), std::string::npos);
  EXPECT_EQ(
      Call("GetMetricStatistics", StatsRequest("Invocations", T(0), T(1440), 1, {"Sum"})).status,
      200);
}

// ---------------------------------------------------------------------------------------------
// GetMetricData.

TEST_F(CloudWatchTest, GetMetricDataComputesQuotaUsagePercentWithAnExpression) {
  Success(10, 1000, 100);  // quota tokens 1500
  Success(70, 2000, 200);  // 3000
  Success(75, 2000, 0);    // 2000
  AdvanceTo(180);
  Reply reply =
      Call("GetMetricData",
           json::object{{"MetricDataQueries",
                         json::array{StatQuery("q1", "EstimatedTPMQuotaUsage", 60, "Sum", false),
                                     ExpressionQuery("pct", "100*q1/400000")}},
                        {"StartTime", T(0)},
                        {"EndTime", T(180)}});
  ASSERT_EQ(reply.status, 200) << json::serialize(reply.body);
  const json::array& results = reply.body.at("MetricDataResults").as_array();
  ASSERT_EQ(results.size(), 1u);  // q1 has ReturnData false
  const json::object& pct = results[0].as_object();
  EXPECT_EQ(Str(pct.at("Id")), "pct");
  EXPECT_EQ(Str(pct.at("Label")), "pct");
  EXPECT_EQ(Str(pct.at("StatusCode")), "Complete");
  // TimestampDescending by default: newest first.
  const json::array& ts = pct.at("Timestamps").as_array();
  const json::array& values = pct.at("Values").as_array();
  ASSERT_EQ(ts.size(), 2u);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(Num(ts[0]), T(60));
  EXPECT_DOUBLE_EQ(Num(values[0]), 100.0 * 5000 / 400000);
  EXPECT_EQ(Num(ts[1]), T(0));
  EXPECT_DOUBLE_EQ(Num(values[1]), 100.0 * 1500 / 400000);
  EXPECT_FALSE(reply.body.as_object().contains("NextToken"));
}

TEST_F(CloudWatchTest, GetMetricDataReturnsMetricStatsWithLabelsInAscendingOrderWhenAsked) {
  Success(1, 100);
  Success(2, 100);
  Success(3, 300);
  json::object q1 = StatQuery("q1", "InputTokenCount", 1, "p50");
  q1["Label"] = "median input";
  Reply reply = Call(
      "GetMetricData",
      json::object{
          {"MetricDataQueries", json::array{q1, StatQuery("q2", "InputTokenCount", 60, "Average")}},
          {"StartTime", T(0)},
          {"EndTime", T(60)},
          {"ScanBy", "TimestampAscending"}});
  ASSERT_EQ(reply.status, 200) << json::serialize(reply.body);
  const json::array& results = reply.body.at("MetricDataResults").as_array();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(Str(results[0].at("Label")), "median input");
  const json::array& ts = results[0].at("Timestamps").as_array();
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_EQ(Num(ts[0]), T(1));
  EXPECT_EQ(Num(ts[2]), T(3));
  EXPECT_EQ(Num(results[0].at("Values").as_array()[2]), 300);
  EXPECT_EQ(Str(results[1].at("Label")), "InputTokenCount");
  EXPECT_NEAR(Num(results[1].at("Values").as_array()[0]), 500.0 / 3, 1e-9);
}

TEST_F(CloudWatchTest, ExpressionsCombineSeriesOnCommonTimestamps) {
  Success(1, 100);
  Success(2, 100);
  Throttle(2);
  Throttle(2);
  Throttle(3);
  auto run = [&](std::string_view expression) {
    Reply reply =
        Call("GetMetricData",
             json::object{{"MetricDataQueries",
                           json::array{StatQuery("inv", "Invocations", 1, "Sum", false),
                                       StatQuery("thr", "InvocationThrottles", 1, "Sum", false),
                                       ExpressionQuery("e", expression)}},
                          {"StartTime", T(0)},
                          {"EndTime", T(5)},
                          {"ScanBy", "TimestampAscending"}});
    EXPECT_EQ(reply.status, 200) << expression << ": " << json::serialize(reply.body);
    std::vector<std::pair<int64_t, double>> points;
    if (reply.status != 200) return points;
    const json::object& r = reply.body.at("MetricDataResults").as_array()[0].as_object();
    for (size_t i = 0; i < r.at("Timestamps").as_array().size(); ++i) {
      points.emplace_back(static_cast<int64_t>(Num(r.at("Timestamps").as_array()[i])) - kStart,
                          Num(r.at("Values").as_array()[i]));
    }
    return points;
  };
  using Points = std::vector<std::pair<int64_t, double>>;
  // Only second 2 has both series.
  EXPECT_EQ(run("thr / (inv + thr)"), (Points{{2, 2.0 / 3}}));
  EXPECT_EQ(run("FILL(thr, 0) / FILL(inv, 1)"), (Points{{0, 0}, {1, 0}, {2, 2}, {3, 1}, {4, 0}}));
  EXPECT_EQ(run("SUM([inv, thr])"), (Points{{1, 1}, {2, 3}, {3, 1}}));
  EXPECT_EQ(run("-inv * 2 ^ 2 + 1"), (Points{{1, -3}, {2, -3}}));
  EXPECT_EQ(run("ABS(-thr) - SUM(thr)"), (Points{{2, -1}, {3, -2}}));
  // A constant is drawn over the grid of the shortest period.
  EXPECT_EQ(run("7"), (Points{{0, 7}, {1, 7}, {2, 7}, {3, 7}, {4, 7}}));
  // x/0 leaves the timestamp out.
  EXPECT_EQ(run("inv / (inv - 1)"), Points{});
}

TEST_F(CloudWatchTest, GetMetricDataRejectsBadQueries) {
  auto error = [&](json::array queries) {
    Reply reply = Call("GetMetricData", json::object{{"MetricDataQueries", std::move(queries)},
                                                     {"StartTime", T(0)},
                                                     {"EndTime", T(60)}});
    EXPECT_EQ(reply.status, 400) << json::serialize(reply.body);
    return reply.query_error;
  };
  const json::object q1 = StatQuery("q1", "Invocations", 60, "Sum");
  EXPECT_EQ(error({q1, ExpressionQuery("e", "q1 +")}), "InvalidParameterValue;Sender");
  EXPECT_EQ(error({q1, ExpressionQuery("e", "q2 * 2")}), "InvalidParameterValue;Sender");
  EXPECT_EQ(error({ExpressionQuery("a", "b"), ExpressionQuery("b", "a")}),
            "InvalidParameterValue;Sender");
  EXPECT_EQ(error({q1, ExpressionQuery("e", "STDDEV(q1)")}), "InvalidParameterValue;Sender");
  EXPECT_EQ(
      error({q1, ExpressionQuery("e", std::string(1000, '(') + "q1" + std::string(1000, ')'))}),
      "InvalidParameterValue;Sender");
  EXPECT_EQ(error({StatQuery("Q1", "Invocations", 60, "Sum")}), "InvalidParameterValue;Sender");
  EXPECT_EQ(error({q1, q1}), "InvalidParameterValue;Sender");
  EXPECT_EQ(error({StatQuery("q1", "Invocations", 60, "Median")}), "InvalidParameterValue;Sender");
  json::object both = q1;
  both["Expression"] = "1";
  EXPECT_EQ(error({both}), "InvalidParameterCombination;Sender");
  json::object no_stat = q1;
  no_stat["MetricStat"].as_object().erase("Stat");
  EXPECT_EQ(error({no_stat}), "MissingParameter;Sender");

  Reply no_queries = Call("GetMetricData", json::object{{"StartTime", T(0)}, {"EndTime", T(60)}});
  EXPECT_EQ(no_queries.query_error, "MissingParameter;Sender");
}

TEST_F(CloudWatchTest, GetMetricDataPaginatesByMaxDatapoints) {
  for (int s = 0; s < 5; ++s) Success(s);
  json::object request{{"MetricDataQueries", json::array{StatQuery("a", "Invocations", 1, "Sum"),
                                                         StatQuery("b", "Invocations", 1, "Sum")}},
                       {"StartTime", T(0)},
                       {"EndTime", T(60)},
                       {"MaxDatapoints", 4}};
  std::vector<std::string> seen;  // "<id>@<second>" over all pages
  std::vector<std::string> statuses;
  for (int page = 0; page < 10; ++page) {
    Reply reply = Call("GetMetricData", request);
    ASSERT_EQ(reply.status, 200) << json::serialize(reply.body);
    for (const json::value& r : reply.body.at("MetricDataResults").as_array()) {
      for (const json::value& t : r.at("Timestamps").as_array()) {
        seen.push_back(Str(r.at("Id")) + "@" +
                       std::to_string(static_cast<int64_t>(Num(t)) - kStart));
      }
      statuses.push_back(Str(r.at("StatusCode")));
    }
    const json::object& body = reply.body.as_object();
    if (!body.contains("NextToken")) break;
    request["NextToken"] = body.at("NextToken");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a@4", "a@3", "a@2", "a@1", "a@0", "b@4", "b@3", "b@2",
                                            "b@1", "b@0"}));
  // Page 1: a partial, b partial (none yet); page 2: a complete, b partial; page 3: complete.
  EXPECT_EQ(statuses, (std::vector<std::string>{"PartialData", "PartialData", "Complete",
                                                "PartialData", "Complete", "Complete"}));
  request["NextToken"] = "not-a-token";
  EXPECT_EQ(Call("GetMetricData", request).query_error, "InvalidNextToken;Sender");
}

// ---------------------------------------------------------------------------------------------
// PutMetricData.

TEST_F(CloudWatchTest, PutMetricDataIsReadBackByGetMetricStatistics) {
  AdvanceTo(30);
  const json::array dims{json::object{{"Name", "Service"}, {"Value", "api"}},
                         json::object{{"Name", "Env"}, {"Value", "test"}}};
  Reply put = Call(
      "PutMetricData",
      json::object{{"Namespace", "Quotaflow/Test"},
                   {"MetricData",
                    json::array{json::object{{"MetricName", "Latency"},
                                             {"Dimensions", dims},
                                             {"Timestamp", T(5)},
                                             {"Value", 10},
                                             {"Unit", "Milliseconds"}},
                                json::object{{"MetricName", "Latency"},
                                             {"Dimensions", dims},
                                             {"Timestamp", T(6)},
                                             {"Values", json::array{20, 30}},
                                             {"Counts", json::array{1, 2}},
                                             {"Unit", "Milliseconds"}},
                                json::object{{"MetricName", "Latency"},
                                             {"Dimensions", dims},
                                             {"Timestamp", T(7)},
                                             {"StatisticValues", json::object{{"SampleCount", 4},
                                                                              {"Sum", 200},
                                                                              {"Minimum", 40},
                                                                              {"Maximum", 60}}},
                                             {"Unit", "Milliseconds"}},
                                // No timestamp: now (30 s).
                                json::object{{"MetricName", "Latency"},
                                             {"Dimensions", dims},
                                             {"Value", 5},
                                             {"Unit", "Milliseconds"}}}}});
  ASSERT_EQ(put.status, 200) << json::serialize(put.body);

  // Dimensions are matched as a set, whatever their order.
  json::object request{{"Namespace", "Quotaflow/Test"},
                       {"MetricName", "Latency"},
                       {"Dimensions", json::array{dims[1], dims[0]}},
                       {"StartTime", T(0)},
                       {"EndTime", T(60)},
                       {"Period", 60},
                       {"Statistics", json::array{"Sum", "SampleCount", "Minimum", "Maximum"}}};
  std::vector<json::object> dps = Datapoints(request);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(Str(Call("GetMetricStatistics", request).body.at("Label")), "Latency");
  EXPECT_EQ(Num(dps[0].at("Sum")), 10 + 20 + 60 + 200 + 5);
  EXPECT_EQ(Num(dps[0].at("SampleCount")), 1 + 3 + 4 + 1);
  EXPECT_EQ(Num(dps[0].at("Minimum")), 5);
  EXPECT_EQ(Num(dps[0].at("Maximum")), 60);
  EXPECT_EQ(Str(dps[0].at("Unit")), "Milliseconds");

  request["Period"] = 1;
  dps = Datapoints(request);
  ASSERT_EQ(dps.size(), 4u);
  EXPECT_EQ(Num(dps[3].at("Timestamp")), T(30));

  // A different dimension set is a different metric.
  request["Dimensions"] = json::array{dims[0]};
  EXPECT_EQ(Datapoints(request).size(), 0u);
}

TEST_F(CloudWatchTest, PercentilesOfStatisticSetsNeedEqualMinimumAndMaximum) {
  auto put = [&](int64_t at, json::object set) {
    Reply reply =
        Call("PutMetricData",
             json::object{
                 {"Namespace", "Custom"},
                 {"MetricData", json::array{json::object{{"MetricName", "m"},
                                                         {"Timestamp", T(at)},
                                                         {"StatisticValues", std::move(set)}}}}});
    ASSERT_EQ(reply.status, 200) << json::serialize(reply.body);
  };
  put(1, {{"SampleCount", 3}, {"Sum", 21}, {"Minimum", 7}, {"Maximum", 7}});
  put(2, {{"SampleCount", 2}, {"Sum", 10}, {"Minimum", 4}, {"Maximum", 6}});
  json::object request{{"Namespace", "Custom"}, {"MetricName", "m"},
                       {"StartTime", T(0)},     {"EndTime", T(60)},
                       {"Period", 1},           {"ExtendedStatistics", json::array{"p50"}}};
  std::vector<json::object> dps = Datapoints(request);
  ASSERT_EQ(dps.size(), 2u);
  EXPECT_EQ(Num(dps[0].at("ExtendedStatistics").at("p50")), 7);
  EXPECT_FALSE(dps[1].at("ExtendedStatistics").as_object().contains("p50"));
  EXPECT_EQ(Str(dps[1].at("Unit")), "None");
}

TEST_F(CloudWatchTest, PutMetricDataRejectsInvalidData) {
  auto error = [&](const json::object& body) {
    Reply reply = Call("PutMetricData", body);
    EXPECT_EQ(reply.status, 400) << json::serialize(reply.body);
    return reply.query_error;
  };
  auto datum = [](json::object d) {
    return json::object{{"Namespace", "Custom"}, {"MetricData", json::array{std::move(d)}}};
  };
  EXPECT_EQ(error({{"MetricData", json::array{json::object{{"MetricName", "m"}, {"Value", 1}}}}}),
            "MissingParameter;Sender");
  EXPECT_EQ(error(datum({{"Value", 1}})), "MissingParameter;Sender");
  EXPECT_EQ(error(datum({{"MetricName", "m"}})), "MissingParameter;Sender");
  EXPECT_EQ(error(datum({{"MetricName", "m"}, {"Value", 1}, {"Values", json::array{1}}})),
            "InvalidParameterCombination;Sender");
  EXPECT_EQ(error(datum(
                {{"MetricName", "m"}, {"Values", json::array{1, 2}}, {"Counts", json::array{1}}})),
            "InvalidParameterValue;Sender");
  EXPECT_EQ(error(datum({{"MetricName", "m"}, {"Value", 1}, {"Timestamp", T(int64_t{3} * 3600)}})),
            "InvalidParameterValue;Sender");
  EXPECT_EQ(error(datum({{"MetricName", "m"}, {"Value", 1}, {"Unit", "Furlongs"}})),
            "InvalidParameterValue;Sender");
  EXPECT_EQ(error(datum({{"MetricName", "m"}, {"Value", "1"}})), "InvalidParameterValue;Sender");
  Reply reply =
      Call("PutMetricData", datum({{"MetricName", "m"},
                                   {"Value", 1},
                                   {"Dimensions", json::array{json::object{{"Name", "a"}}}}}));
  EXPECT_EQ(reply.message(),
            "The parameter MetricData.member.1.Dimensions.member.1.Value is "
            "required.");
}

TEST_F(CloudWatchTest, ListMetricsListsRuntimeAndPutMetrics) {
  Success(1);
  Throttle(2, kProfile);
  ASSERT_EQ(
      Call("PutMetricData",
           json::object{
               {"Namespace", "Custom"},
               {"MetricData",
                json::array{json::object{
                    {"MetricName", "m"},
                    {"Value", 1},
                    {"Dimensions", json::array{json::object{{"Name", "Host"}, {"Value", "a"}}}}}}}})
          .status,
      200);
  auto list = [&](const json::object& filter) {
    Reply reply = Call("ListMetrics", filter);
    EXPECT_EQ(reply.status, 200);
    std::vector<std::string> out;
    for (const json::value& m : reply.body.at("Metrics").as_array()) {
      // Appended piece by piece: GCC 12 -O3 warns (-Wrestrict) on `":" + std::string` here.
      std::string s = Str(m.at("Namespace"));
      s.append(":").append(Str(m.at("MetricName")));
      for (const json::value& d : m.at("Dimensions").as_array()) {
        s.append(":").append(Str(d.at("Name"))).append("=").append(Str(d.at("Value")));
      }
      out.push_back(s);
    }
    return out;
  };
  EXPECT_EQ(list({{"Namespace", "AWS/Bedrock"}, {"MetricName", "InvocationThrottles"}}),
            (std::vector<std::string>{
                "AWS/Bedrock:InvocationThrottles",
                "AWS/Bedrock:InvocationThrottles:ModelId=" + std::string(kProfile)}));
  EXPECT_EQ(list({{"Namespace", "Custom"}}), (std::vector<std::string>{"Custom:m:Host=a"}));
  EXPECT_EQ(list({{"Dimensions", json::array{json::object{{"Name", "Host"}}}}}),
            (std::vector<std::string>{"Custom:m:Host=a"}));
  EXPECT_EQ(
      list({{"MetricName", "InputTokenCount"},
            {"Dimensions", json::array{json::object{{"Name", "ModelId"}, {"Value", kModel}}}}}),
      (std::vector<std::string>{"AWS/Bedrock:InputTokenCount:ModelId=" + std::string(kModel)}));
  EXPECT_TRUE(list({{"Namespace", "AWS/Bedrock"}}).size() > 10u);
}

// ---------------------------------------------------------------------------------------------
// Alarms.

TEST_F(CloudWatchTest, NewAlarmHasInsufficientDataWithoutData) {
  ASSERT_EQ(PutAlarm(ThrottleAlarm("throttles", 3, 2)).status, 200);
  json::object alarm = DescribeOne("throttles");
  EXPECT_EQ(Str(alarm.at("StateValue")), "INSUFFICIENT_DATA");
  EXPECT_EQ(Str(alarm.at("AlarmArn")), "arn:aws:cloudwatch:us-east-1:123456789012:alarm:throttles");
  EXPECT_EQ(Str(alarm.at("MetricName")), "InvocationThrottles");
  EXPECT_EQ(Str(alarm.at("Statistic")), "Sum");
  EXPECT_EQ(Num(alarm.at("Period")), 60);
  EXPECT_EQ(Num(alarm.at("EvaluationPeriods")), 3);
  EXPECT_EQ(Num(alarm.at("DatapointsToAlarm")), 2);
  EXPECT_EQ(Num(alarm.at("Threshold")), 5);
  EXPECT_EQ(Str(alarm.at("ComparisonOperator")), "GreaterThanOrEqualToThreshold");
  EXPECT_EQ(Num(alarm.at("StateUpdatedTimestamp")), kStart);
  EXPECT_EQ(alarm.at("Dimensions"), json::value(ModelDimension(kModel)));
  AdvanceTo(600);
  EXPECT_EQ(StateOf("throttles"), "INSUFFICIENT_DATA");
}

TEST_F(CloudWatchTest, AlarmGoesToAlarmWhenThrottlesBreachMOfNPeriods) {
  ASSERT_EQ(PutAlarm(ThrottleAlarm("throttles", 3, 2)).status, 200);
  // Minute 0: 6 throttles (breaching); minute 1: 1 (not); minute 2: 5 (breaching).
  for (int i = 0; i < 6; ++i) Throttle(10 + i);
  Throttle(70);
  for (int i = 0; i < 5; ++i) Throttle(130 + i);
  AdvanceTo(150);  // minute 2 is not complete yet: minutes -1, 0, 1 are evaluated
  EXPECT_EQ(StateOf("throttles"), "OK");
  AdvanceTo(180);  // minutes 0, 1, 2: two breach
  json::object alarm = DescribeOne("throttles");
  EXPECT_EQ(Str(alarm.at("StateValue")), "ALARM");
  EXPECT_EQ(Num(alarm.at("StateUpdatedTimestamp")), T(180));
  EXPECT_NE(Str(alarm.at("StateReason")).find("2 out of the last 3"), std::string::npos)
      << Str(alarm.at("StateReason"));
  AdvanceTo(240);  // minutes 1, 2, 3: one breach
  EXPECT_EQ(StateOf("throttles"), "OK");
}

TEST_F(CloudWatchTest, AlarmStaysOkWhenFewerThanMPeriodsBreach) {
  ASSERT_EQ(PutAlarm(ThrottleAlarm("throttles", 3, 3)).status, 200);
  for (int minute = 0; minute < 3; ++minute) {
    for (int i = 0; i < (minute == 1 ? 4 : 9); ++i) Throttle(minute * 60 + i);
  }
  AdvanceTo(180);
  EXPECT_EQ(StateOf("throttles"), "OK");
}

struct MissingCase {
  const char* treat;
  const char* expected;  // with no data at all
};

class TreatMissingDataTest : public CloudWatchTest,
                             public ::testing::WithParamInterface<MissingCase> {};

TEST_P(TreatMissingDataTest, DecidesTheStateWhenEveryPeriodIsMissing) {
  json::object alarm = ThrottleAlarm("a", 3, 2);
  alarm["TreatMissingData"] = GetParam().treat;
  ASSERT_EQ(PutAlarm(alarm).status, 200);
  AdvanceTo(300);
  EXPECT_EQ(StateOf("a"), GetParam().expected);
}

TEST_P(TreatMissingDataTest, CountsMissingPeriodsTowardsMOfN) {
  // One breaching minute out of three, the other two missing: 2 of 3 needed.
  json::object alarm = ThrottleAlarm("a", 3, 2);
  alarm["TreatMissingData"] = GetParam().treat;
  ASSERT_EQ(PutAlarm(alarm).status, 200);
  for (int i = 0; i < 9; ++i) Throttle(70 + i);
  AdvanceTo(180);
  const std::string treat = GetParam().treat;
  EXPECT_EQ(StateOf("a"), treat == "breaching" ? "ALARM" : "OK");
}

INSTANTIATE_TEST_SUITE_P(Modes, TreatMissingDataTest,
                         ::testing::Values(MissingCase{"missing", "INSUFFICIENT_DATA"},
                                           MissingCase{"ignore", "INSUFFICIENT_DATA"},
                                           MissingCase{"notBreaching", "OK"},
                                           MissingCase{"breaching", "ALARM"}),
                         [](const ::testing::TestParamInfo<MissingCase>& p) {
                           return std::string(p.param.treat);
                         });

TEST_F(CloudWatchTest, IgnoreKeepsTheLastStateWhenDataStops) {
  json::object alarm = ThrottleAlarm("a", 1, 1);
  alarm["TreatMissingData"] = "ignore";
  ASSERT_EQ(PutAlarm(alarm).status, 200);
  for (int i = 0; i < 5; ++i) Throttle(10 + i);
  AdvanceTo(60);
  EXPECT_EQ(StateOf("a"), "ALARM");
  AdvanceTo(600);
  EXPECT_EQ(StateOf("a"), "ALARM");
}

TEST_F(CloudWatchTest, MetricMathAlarmWatchesTheReturnedExpression) {
  json::object alarm{
      {"AlarmName", "quota-usage"},
      {"Metrics", json::array{StatQuery("q1", "EstimatedTPMQuotaUsage", 60, "Sum", false),
                              json::object{{"Id", "pct"},
                                           {"Expression", "100*q1/400000"},
                                           {"Label", "TPM usage %"},
                                           {"ReturnData", true}}}},
      {"EvaluationPeriods", 1},
      {"Threshold", 80},
      {"ComparisonOperator", "GreaterThanThreshold"},
      {"TreatMissingData", "notBreaching"}};
  ASSERT_EQ(PutAlarm(alarm).status, 200);
  Success(10, 300'000, 4'000);  // 320,000 quota tokens: 80%, not above
  AdvanceTo(60);
  EXPECT_EQ(StateOf("quota-usage"), "OK");
  Success(70, 300'000, 4'001);  // 320,005: above 80%
  AdvanceTo(120);
  json::object described = DescribeOne("quota-usage");
  EXPECT_EQ(Str(described.at("StateValue")), "ALARM");
  EXPECT_EQ(described.at("Metrics"), alarm.at("Metrics"));
  EXPECT_FALSE(described.contains("MetricName"));
}

TEST_F(CloudWatchTest, UpdatingAnAlarmKeepsItsState) {
  ASSERT_EQ(PutAlarm(ThrottleAlarm("a", 1, 1)).status, 200);
  for (int i = 0; i < 5; ++i) Throttle(i);
  AdvanceTo(60);
  EXPECT_EQ(StateOf("a"), "ALARM");
  json::object updated = ThrottleAlarm("a", 1, 1);
  updated["AlarmDescription"] = "throttles on sonnet";
  ASSERT_EQ(PutAlarm(updated).status, 200);
  json::object alarm = DescribeOne("a");
  EXPECT_EQ(Str(alarm.at("StateValue")), "ALARM");
  EXPECT_EQ(Str(alarm.at("AlarmDescription")), "throttles on sonnet");
}

TEST_F(CloudWatchTest, DescribeAlarmsFiltersAndPaginates) {
  for (std::string_view name : {"cw-a", "cw-b", "cw-c", "other"}) {
    ASSERT_EQ(PutAlarm(ThrottleAlarm(name, 1, 1)).status, 200);
  }
  json::object notify = ThrottleAlarm("cw-b", 1, 1);
  notify["AlarmActions"] = json::array{"arn:aws:sns:us-east-1:123456789012:ops"};
  notify["TreatMissingData"] = "notBreaching";
  ASSERT_EQ(PutAlarm(notify).status, 200);
  AdvanceTo(60);
  auto names = [&](json::object request) {
    std::vector<std::string> out;
    for (int page = 0; page < 10; ++page) {
      Reply reply = Call("DescribeAlarms", request);
      EXPECT_EQ(reply.status, 200) << json::serialize(reply.body);
      for (const json::value& a : reply.body.at("MetricAlarms").as_array()) {
        out.push_back(Str(a.at("AlarmName")));
      }
      if (!reply.body.as_object().contains("NextToken")) break;
      request["NextToken"] = reply.body.at("NextToken");
      out.emplace_back("|");
    }
    return out;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(names({}), (Names{"cw-a", "cw-b", "cw-c", "other"}));
  EXPECT_EQ(names({{"AlarmNamePrefix", "cw-"}}), (Names{"cw-a", "cw-b", "cw-c"}));
  EXPECT_EQ(names({{"AlarmNames", json::array{"other", "cw-c", "nope"}}}),
            (Names{"cw-c", "other"}));
  EXPECT_EQ(names({{"StateValue", "OK"}}), (Names{"cw-b"}));
  EXPECT_EQ(names({{"StateValue", "INSUFFICIENT_DATA"}, {"MaxRecords", 2}}),
            (Names{"cw-a", "cw-c", "|", "other"}));
  EXPECT_EQ(names({{"ActionPrefix", "arn:aws:sns:"}}), (Names{"cw-b"}));
  EXPECT_EQ(names({{"AlarmTypes", json::array{"CompositeAlarm"}}}), Names{});
  // Alarms are regional.
  Reply west = Call("DescribeAlarms", json::object{}, "us-west-2");
  EXPECT_TRUE(west.body.at("MetricAlarms").as_array().empty());
  EXPECT_EQ(Call("DescribeAlarms", json::object{{"StateValue", "RED"}}).query_error,
            "InvalidParameterValue;Sender");
  EXPECT_EQ(Call("DescribeAlarms",
                 json::object{{"AlarmNames", json::array{"a"}}, {"AlarmNamePrefix", "a"}})
                .query_error,
            "InvalidParameterCombination;Sender");
}

TEST_F(CloudWatchTest, DeleteAlarmsRemovesNamedAlarmsAndIgnoresUnknownOnes) {
  ASSERT_EQ(PutAlarm(ThrottleAlarm("a", 1, 1)).status, 200);
  ASSERT_EQ(PutAlarm(ThrottleAlarm("b", 1, 1)).status, 200);
  Reply reply = Call("DeleteAlarms", json::object{{"AlarmNames", json::array{"a", "missing"}}});
  EXPECT_EQ(reply.status, 200);
  Reply left = Call("DescribeAlarms", json::object{});
  ASSERT_EQ(left.body.at("MetricAlarms").as_array().size(), 1u);
  EXPECT_EQ(Str(left.body.at("MetricAlarms").as_array()[0].at("AlarmName")), "b");
  EXPECT_EQ(Call("DeleteAlarms", json::object{}).query_error, "MissingParameter;Sender");
}

TEST_F(CloudWatchTest, PutMetricAlarmRejectsInvalidAlarms) {
  auto error = [&](const json::object& alarm) {
    Reply reply = PutAlarm(alarm);
    EXPECT_EQ(reply.status, 400) << json::serialize(reply.body);
    return reply.query_error;
  };
  auto without = [&](std::string_view key) {
    json::object a = ThrottleAlarm("a", 1, 1);
    a.erase(key);
    return a;
  };
  auto with = [&](std::string_view key, json::value v) {
    json::object a = ThrottleAlarm("a", 1, 1);
    a[key] = std::move(v);
    return a;
  };
  EXPECT_EQ(error(without("AlarmName")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("Threshold")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("EvaluationPeriods")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("ComparisonOperator")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("Period")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("MetricName")), "MissingParameter;Sender");
  EXPECT_EQ(error(without("Statistic")), "InvalidParameterCombination;Sender");
  EXPECT_EQ(error(with("ExtendedStatistic", "p99")), "InvalidParameterCombination;Sender");
  EXPECT_EQ(error(with("Statistic", "Median")), "InvalidParameterValue;Sender");
  EXPECT_EQ(error(with("ComparisonOperator", "GreaterThanUpperThreshold")),
            "InvalidParameterValue;Sender");
  EXPECT_EQ(error(with("TreatMissingData", "sometimes")), "InvalidParameterValue;Sender");
  EXPECT_EQ(error(with("DatapointsToAlarm", 2)), "InvalidParameterValue;Sender");
  EXPECT_EQ(error(with("Metrics", json::array{StatQuery("q1", "Invocations", 60, "Sum")})),
            "InvalidParameterCombination;Sender");

  json::object math{{"AlarmName", "m"},
                    {"EvaluationPeriods", 1},
                    {"Threshold", 1},
                    {"ComparisonOperator", "GreaterThanThreshold"}};
  math["Metrics"] = json::array{StatQuery("q1", "Invocations", 60, "Sum"),
                                ExpressionQuery("e1", "q1 * 2")};  // both return data
  EXPECT_EQ(error(math), "InvalidParameterValue;Sender");
  math["Metrics"] =
      json::array{StatQuery("q1", "Invocations", 60, "Sum", false), ExpressionQuery("e1", "q1 *")};
  EXPECT_EQ(error(math), "InvalidParameterValue;Sender");
  EXPECT_EQ(Call("DescribeAlarms", json::object{}).body.at("MetricAlarms").as_array().size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Protocol.

TEST_F(CloudWatchTest, UnknownOperationsAndMalformedBodiesAreErrors) {
  server::ServerResponse unknown = cw_.Handle(kRegion, "DescribeAnomalyDetectors", "{}", "r");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(json::parse(unknown.body).at("__type").as_string(), "UnknownOperationException");
  server::ServerResponse malformed = cw_.Handle(kRegion, "ListMetrics", "{\"Namespace\":", "r");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(json::parse(malformed.body).at("__type").as_string(), "SerializationException");
  server::ServerResponse not_object = cw_.Handle(kRegion, "ListMetrics", "[]", "r");
  EXPECT_EQ(not_object.status, 400);
  // An empty body is an empty request.
  EXPECT_EQ(cw_.Handle(kRegion, "ListMetrics", "", "r").status, 200);
}

// Several threads record while another queries: every record is counted once, and TSan (this
// test runs under it in CI) sees the locking.
TEST_F(CloudWatchTest, ConcurrentRecordsAreAllCountedWhileQueried) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5'000;
  std::atomic<bool> done{false};
  std::atomic<int> queries{0};
  const std::string stats =
      json::serialize(StatsRequest("InvocationLatency", T(0), T(60), 60, {"p50"}, ""));
  const std::string data = json::serialize(json::object{
      {"MetricDataQueries", json::array{StatQuery("q1", "InputTokenCount", 1, "Sum", false),
                                        ExpressionQuery("e1", "q1 / 2")}},
      {"StartTime", T(0)},
      {"EndTime", T(60)}});
  ASSERT_EQ(PutAlarm(ThrottleAlarm("a", 1, 1)).status, 200);
  std::thread reader([&] {
    while (!done.load()) {
      EXPECT_EQ(cw_.Handle(kRegion, "GetMetricStatistics", stats, "r").status, 200);
      EXPECT_EQ(cw_.Handle(kRegion, "GetMetricData", data, "r").status, 200);
      EXPECT_EQ(cw_.Handle(kRegion, "ListMetrics", "{}", "r").status, 200);
      EXPECT_EQ(cw_.Handle(kRegion, "DescribeAlarms", "{}", "r").status, 200);
      queries.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      // Two models per thread pair, so threads share series and also create them concurrently.
      const std::string model = "model-" + std::to_string(t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        InvocationRecord r;
        r.region = kRegion;
        r.model_id = model;
        r.at = At((i * 7 + t) % 60 + 0.25);
        r.input_tokens = 2;
        r.latency_ms = i % 97;
        if (i % 10 == 0) r.outcome = Outcome::kThrottled;
        cw_.Record(r);
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done.store(true);
  reader.join();
  EXPECT_GT(queries.load(), 0);
  AdvanceTo(60);
  std::vector<json::object> dps =
      Datapoints(StatsRequest("Invocations", T(0), T(60), 60, {"Sum"}, ""));
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(Num(dps[0].at("Sum")), kThreads * kPerThread * 9 / 10);
  dps = Datapoints(StatsRequest("InvocationThrottles", T(0), T(60), 60, {"Sum"}, ""));
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(Num(dps[0].at("Sum")), kThreads * kPerThread / 10);
}

}  // namespace
}  // namespace quotaflow::emulator
