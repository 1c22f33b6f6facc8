#include "bedrock/cloudwatch_client.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;
using internal::ArrayField;
using internal::NumberField;
using internal::ObjectField;
using internal::StringField;
using internal::ToEpochSeconds;

constexpr internal::AwsJsonProtocol kProtocol{.service = aws::Service::kCloudWatch,
                                              .target_prefix = "GraniteServiceVersion20100801.",
                                              .content_type = "application/x-amz-json-1.0",
                                              .query_mode = true};

// The service's per-call limits.
constexpr size_t kMaxDataPerPut = 1000;
constexpr size_t kMaxAlarmNamesPerCall = 100;

constexpr std::string_view kStateNames[] = {"OK", "ALARM", "INSUFFICIENT_DATA"};

// --- request bodies ---

json::array StringsJson(const std::vector<std::string>& strings) {
  json::array out;
  out.reserve(strings.size());
  for (const std::string& s : strings) out.emplace_back(s);
  return out;
}

json::array NumbersJson(const std::vector<double>& numbers) {
  json::array out;
  out.reserve(numbers.size());
  for (double n : numbers) out.emplace_back(n);
  return out;
}

json::array DimensionsJson(const std::vector<Dimension>& dimensions) {
  json::array out;
  out.reserve(dimensions.size());
  for (const Dimension& d : dimensions) {
    out.push_back(json::object{{"Name", d.name}, {"Value", d.value}});
  }
  return out;
}

json::object MetricJson(const Metric& metric) {
  json::object out{{"Namespace", metric.ns}, {"MetricName", metric.name}};
  if (!metric.dimensions.empty()) out["Dimensions"] = DimensionsJson(metric.dimensions);
  return out;
}

json::object QueryJson(const MetricDataQuery& query) {
  json::object out{{"Id", query.id}};
  if (query.metric_stat) {
    const MetricStat& ms = *query.metric_stat;
    json::object stat{
        {"Metric", MetricJson(ms.metric)}, {"Period", ms.period_seconds}, {"Stat", ms.stat}};
    if (ms.unit) stat["Unit"] = *ms.unit;
    out["MetricStat"] = std::move(stat);
  } else {
    out["Expression"] = query.expression;
  }
  if (!query.label.empty()) out["Label"] = query.label;
  if (query.period_seconds) out["Period"] = *query.period_seconds;
  out["ReturnData"] = query.return_data;
  return out;
}

json::array QueriesJson(const std::vector<MetricDataQuery>& queries) {
  json::array out;
  out.reserve(queries.size());
  for (const MetricDataQuery& q : queries) out.emplace_back(QueryJson(q));
  return out;
}

json::object DatumJson(const MetricDatum& datum) {
  json::object out{{"MetricName", datum.name}};
  if (!datum.dimensions.empty()) out["Dimensions"] = DimensionsJson(datum.dimensions);
  if (datum.timestamp) out["Timestamp"] = ToEpochSeconds(*datum.timestamp);
  if (datum.value) out["Value"] = *datum.value;
  if (!datum.values.empty()) out["Values"] = NumbersJson(datum.values);
  if (!datum.counts.empty()) out["Counts"] = NumbersJson(datum.counts);
  if (datum.statistic_values) {
    const StatisticSet& s = *datum.statistic_values;
    out["StatisticValues"] = json::object{{"SampleCount", s.sample_count},
                                          {"Sum", s.sum},
                                          {"Minimum", s.minimum},
                                          {"Maximum", s.maximum}};
  }
  if (!datum.unit.empty()) out["Unit"] = datum.unit;
  if (datum.storage_resolution) out["StorageResolution"] = *datum.storage_resolution;
  return out;
}

json::object AlarmJson(const AlarmConfig& c) {
  json::object out{{"AlarmName", c.name}};
  if (!c.description.empty()) out["AlarmDescription"] = c.description;
  out["ActionsEnabled"] = c.actions_enabled;
  if (!c.ok_actions.empty()) out["OKActions"] = StringsJson(c.ok_actions);
  if (!c.alarm_actions.empty()) out["AlarmActions"] = StringsJson(c.alarm_actions);
  if (!c.insufficient_data_actions.empty()) {
    out["InsufficientDataActions"] = StringsJson(c.insufficient_data_actions);
  }
  if (c.metric) {
    out["MetricName"] = c.metric->name;
    out["Namespace"] = c.metric->ns;
    if (!c.metric->dimensions.empty()) out["Dimensions"] = DimensionsJson(c.metric->dimensions);
    if (!c.statistic.empty()) out["Statistic"] = c.statistic;
    if (!c.extended_statistic.empty()) out["ExtendedStatistic"] = c.extended_statistic;
    out["Period"] = c.period_seconds;
    if (c.unit) out["Unit"] = *c.unit;
  }
  if (!c.metrics.empty()) out["Metrics"] = QueriesJson(c.metrics);
  out["EvaluationPeriods"] = c.evaluation_periods;
  if (c.datapoints_to_alarm) out["DatapointsToAlarm"] = *c.datapoints_to_alarm;
  out["Threshold"] = c.threshold;
  out["ComparisonOperator"] = c.comparison_operator;
  if (!c.treat_missing_data.empty()) out["TreatMissingData"] = c.treat_missing_data;
  return out;
}

// --- response shapes ---

std::vector<std::string> StringsOf(const json::array* array) {
  std::vector<std::string> out;
  if (array == nullptr) return out;
  for (const json::value& v : *array) {
    if (v.is_string()) out.emplace_back(v.get_string());
  }
  return out;
}

std::vector<Dimension> DimensionsOf(const json::array* array) {
  std::vector<Dimension> out;
  if (array == nullptr) return out;
  for (const json::value& v : *array) {
    if (const json::object* d = v.if_object()) {
      out.push_back({StringField(*d, "Name"), StringField(*d, "Value")});
    }
  }
  return out;
}

Metric MetricOf(const json::object& metric) {
  return Metric{.ns = StringField(metric, "Namespace"),
                .name = StringField(metric, "MetricName"),
                .dimensions = DimensionsOf(ArrayField(metric, "Dimensions"))};
}

MetricDataQuery QueryOf(const json::object& q) {
  MetricDataQuery query;
  query.id = StringField(q, "Id");
  if (const json::object* ms = ObjectField(q, "MetricStat")) {
    MetricStat stat;
    if (const json::object* metric = ObjectField(*ms, "Metric")) stat.metric = MetricOf(*metric);
    stat.period_seconds = static_cast<int64_t>(NumberField(*ms, "Period").value_or(0));
    stat.stat = StringField(*ms, "Stat");
    if (std::string unit = StringField(*ms, "Unit"); !unit.empty()) stat.unit = std::move(unit);
    query.metric_stat = std::move(stat);
  }
  query.expression = StringField(q, "Expression");
  query.label = StringField(q, "Label");
  if (auto period = NumberField(q, "Period")) query.period_seconds = static_cast<int64_t>(*period);
  const json::value* return_data = q.if_contains("ReturnData");
  query.return_data = return_data == nullptr || !return_data->is_bool() || return_data->get_bool();
  return query;
}

}  // namespace

std::string_view AlarmStateName(AlarmState state) {
  const auto index = static_cast<size_t>(state);
  return index < std::size(kStateNames) ? kStateNames[index] : "UNKNOWN";
}

AlarmState ParseAlarmState(std::string_view name) {
  for (size_t i = 0; i < std::size(kStateNames); ++i) {
    if (kStateNames[i] == name) return static_cast<AlarmState>(i);
  }
  return AlarmState::kUnknown;
}

Datapoint ParseDatapoint(const json::object& datapoint) {
  Datapoint d;
  d.timestamp = internal::TimeField(datapoint, "Timestamp").value_or(WallTime{});
  d.sample_count = NumberField(datapoint, "SampleCount");
  d.average = NumberField(datapoint, "Average");
  d.sum = NumberField(datapoint, "Sum");
  d.minimum = NumberField(datapoint, "Minimum");
  d.maximum = NumberField(datapoint, "Maximum");
  d.unit = StringField(datapoint, "Unit");
  if (const json::object* extended = ObjectField(datapoint, "ExtendedStatistics")) {
    for (const auto& [key, value] : *extended) {
      if (auto v = NumberField(*extended, key)) d.extended.emplace(std::string(key), *v);
    }
  }
  return d;
}

Alarm ParseAlarm(const json::object& alarm) {
  Alarm a;
  AlarmConfig& c = a.config;
  c.name = StringField(alarm, "AlarmName");
  c.description = StringField(alarm, "AlarmDescription");
  if (std::string name = StringField(alarm, "MetricName"); !name.empty()) {
    c.metric = Metric{.ns = StringField(alarm, "Namespace"),
                      .name = std::move(name),
                      .dimensions = DimensionsOf(ArrayField(alarm, "Dimensions"))};
  }
  c.statistic = StringField(alarm, "Statistic");
  c.extended_statistic = StringField(alarm, "ExtendedStatistic");
  c.period_seconds = static_cast<int64_t>(NumberField(alarm, "Period").value_or(0));
  if (std::string unit = StringField(alarm, "Unit"); !unit.empty()) c.unit = std::move(unit);
  if (const json::array* metrics = ArrayField(alarm, "Metrics")) {
    for (const json::value& v : *metrics) {
      if (const json::object* q = v.if_object()) c.metrics.push_back(QueryOf(*q));
    }
  }
  c.evaluation_periods = static_cast<int64_t>(NumberField(alarm, "EvaluationPeriods").value_or(0));
  if (auto n = NumberField(alarm, "DatapointsToAlarm")) {
    c.datapoints_to_alarm = static_cast<int64_t>(*n);
  }
  c.threshold = NumberField(alarm, "Threshold").value_or(0);
  c.comparison_operator = StringField(alarm, "ComparisonOperator");
  c.treat_missing_data = StringField(alarm, "TreatMissingData");
  const json::value* enabled = alarm.if_contains("ActionsEnabled");
  c.actions_enabled = enabled == nullptr || !enabled->is_bool() || enabled->get_bool();
  c.alarm_actions = StringsOf(ArrayField(alarm, "AlarmActions"));
  c.ok_actions = StringsOf(ArrayField(alarm, "OKActions"));
  c.insufficient_data_actions = StringsOf(ArrayField(alarm, "InsufficientDataActions"));

  a.arn = StringField(alarm, "AlarmArn");
  a.state_text = StringField(alarm, "StateValue");
  a.state = ParseAlarmState(a.state_text);
  a.state_reason = StringField(alarm, "StateReason");
  a.state_reason_data = StringField(alarm, "StateReasonData");
  a.state_updated = internal::TimeField(alarm, "StateUpdatedTimestamp").value_or(WallTime{});
  return a;
}

Result<std::unique_ptr<CloudWatchClient>> CloudWatchClient::Create(aws::HttpClient& http,
                                                                   CloudWatchClientOptions options,
                                                                   const Clock& clock) {
  Result<std::unique_ptr<internal::AwsJsonClient>> client =
      internal::AwsJsonClient::Create(http, clock, kProtocol, std::move(options));
  if (!client) return tl::unexpected(std::move(client.error()));
  return std::unique_ptr<CloudWatchClient>(new CloudWatchClient(std::move(*client)));
}

CloudWatchClient::CloudWatchClient(std::unique_ptr<internal::AwsJsonClient> client)
    : client_(std::move(client)) {}

CloudWatchClient::~CloudWatchClient() = default;

const CloudWatchClientOptions& CloudWatchClient::options() const { return client_->options(); }

Result<MetricStatistics> CloudWatchClient::GetMetricStatistics(
    const GetMetricStatisticsRequest& request) {
  json::object body = MetricJson(request.metric);
  body["StartTime"] = ToEpochSeconds(request.start);
  body["EndTime"] = ToEpochSeconds(request.end);
  body["Period"] = request.period_seconds;
  if (!request.statistics.empty()) body["Statistics"] = StringsJson(request.statistics);
  if (!request.extended_statistics.empty()) {
    body["ExtendedStatistics"] = StringsJson(request.extended_statistics);
  }
  if (request.unit) body["Unit"] = *request.unit;
  Result<json::object> response = client_->Call("GetMetricStatistics", body);
  if (!response) return tl::unexpected(std::move(response.error()));

  MetricStatistics out;
  out.label = StringField(*response, "Label");
  if (const json::array* datapoints = ArrayField(*response, "Datapoints")) {
    for (const json::value& v : *datapoints) {
      if (const json::object* d = v.if_object()) out.datapoints.push_back(ParseDatapoint(*d));
    }
  }
  std::stable_sort(
      out.datapoints.begin(), out.datapoints.end(),
      [](const Datapoint& a, const Datapoint& b) { return a.timestamp < b.timestamp; });
  return out;
}

Result<MetricData> CloudWatchClient::GetMetricData(const GetMetricDataRequest& request) {
  json::object body{{"MetricDataQueries", QueriesJson(request.queries)},
                    {"StartTime", ToEpochSeconds(request.start)},
                    {"EndTime", ToEpochSeconds(request.end)}};
  if (request.scan_by == ScanBy::kTimestampAscending) body["ScanBy"] = "TimestampAscending";
  if (request.max_datapoints) body["MaxDatapoints"] = *request.max_datapoints;

  MetricData out;
  std::unordered_map<std::string, size_t> by_id;
  Status walked = internal::WalkPages(
      *client_, "GetMetricData", std::move(body), [&](const json::object& page) -> Status {
        if (const json::array* messages = ArrayField(page, "Messages")) {
          for (const json::value& m : *messages) {
            if (const json::object* message = m.if_object()) {
              out.messages.push_back(StringField(*message, "Value"));
            }
          }
        }
        const json::array* results = ArrayField(page, "MetricDataResults");
        if (results == nullptr) {
          return tl::unexpected(Error::Protocol("GetMetricData response has no MetricDataResults"));
        }
        for (const json::value& v : *results) {
          const json::object* r = v.if_object();
          if (r == nullptr) continue;
          const std::string id = StringField(*r, "Id");
          auto [it, added] = by_id.try_emplace(id, out.results.size());
          if (added) {
            out.results.emplace_back();
            out.results.back().id = id;
          }
          MetricDataResult& result = out.results[it->second];
          if (std::string label = StringField(*r, "Label"); !label.empty()) {
            result.label = std::move(label);
          }
          result.status_code = StringField(*r, "StatusCode");
          const json::array* timestamps = ArrayField(*r, "Timestamps");
          const json::array* values = ArrayField(*r, "Values");
          const size_t n = timestamps == nullptr ? 0 : timestamps->size();
          if (n != (values == nullptr ? 0 : values->size())) {
            return tl::unexpected(Error::Protocol("GetMetricData result " + id +
                                                  " has unequal numbers of timestamps and values"));
          }
          for (size_t i = 0; i < n; ++i) {
            const json::value& t = (*timestamps)[i];
            const json::value& x = (*values)[i];
            if (!t.is_number() || !x.is_number()) {
              return tl::unexpected(
                  Error::Protocol("GetMetricData result " + id + " has a non-numeric datapoint"));
            }
            result.timestamps.push_back(internal::FromEpochSeconds(t.to_number<double>()));
            result.values.push_back(x.to_number<double>());
          }
          if (const json::array* messages = ArrayField(*r, "Messages")) {
            for (const json::value& m : *messages) {
              if (const json::object* message = m.if_object()) {
                result.messages.push_back(StringField(*message, "Value"));
              }
            }
          }
        }
        return {};
      });
  if (!walked) return tl::unexpected(std::move(walked.error()));
  return out;
}

Status CloudWatchClient::PutMetricData(std::string_view ns, const std::vector<MetricDatum>& data) {
  for (size_t first = 0; first < data.size(); first += kMaxDataPerPut) {
    const size_t last = std::min(data.size(), first + kMaxDataPerPut);
    json::array batch;
    batch.reserve(last - first);
    for (size_t i = first; i < last; ++i) batch.emplace_back(DatumJson(data[i]));
    Result<json::object> response = client_->Call(
        "PutMetricData", json::object{{"Namespace", ns}, {"MetricData", std::move(batch)}});
    if (!response) return tl::unexpected(std::move(response.error()));
  }
  return {};
}

Status CloudWatchClient::PutMetricAlarm(const AlarmConfig& config) {
  Result<json::object> response = client_->Call("PutMetricAlarm", AlarmJson(config));
  if (!response) return tl::unexpected(std::move(response.error()));
  return {};
}

Status CloudWatchClient::DescribeAlarmsPage(json::object request, std::vector<Alarm>& out) {
  request["MaxRecords"] = client_->options().page_size;
  return internal::WalkPages(*client_, "DescribeAlarms", std::move(request),
                             [&](const json::object& page) -> Status {
                               if (const json::array* alarms = ArrayField(page, "MetricAlarms")) {
                                 for (const json::value& v : *alarms) {
                                   if (const json::object* a = v.if_object())
                                     out.push_back(ParseAlarm(*a));
                                 }
                               }
                               return {};
                             });
}

Result<std::vector<Alarm>> CloudWatchClient::DescribeAlarms(const DescribeAlarmsRequest& request) {
  json::object base;
  if (!request.prefix.empty()) base["AlarmNamePrefix"] = request.prefix;
  if (request.state) base["StateValue"] = AlarmStateName(*request.state);
  std::vector<Alarm> alarms;
  if (request.names.empty()) {
    if (Status done = DescribeAlarmsPage(std::move(base), alarms); !done) {
      return tl::unexpected(std::move(done.error()));
    }
    return alarms;
  }
  for (size_t first = 0; first < request.names.size(); first += kMaxAlarmNamesPerCall) {
    const size_t last = std::min(request.names.size(), first + kMaxAlarmNamesPerCall);
    json::object page_request = base;
    page_request["AlarmNames"] =
        StringsJson(std::vector<std::string>(request.names.begin() + static_cast<ptrdiff_t>(first),
                                             request.names.begin() + static_cast<ptrdiff_t>(last)));
    if (Status done = DescribeAlarmsPage(std::move(page_request), alarms); !done) {
      return tl::unexpected(std::move(done.error()));
    }
  }
  return alarms;
}

Status CloudWatchClient::DeleteAlarms(const std::vector<std::string>& names) {
  for (size_t first = 0; first < names.size(); first += kMaxAlarmNamesPerCall) {
    const size_t last = std::min(names.size(), first + kMaxAlarmNamesPerCall);
    json::object body{{"AlarmNames", StringsJson(std::vector<std::string>(
                                         names.begin() + static_cast<ptrdiff_t>(first),
                                         names.begin() + static_cast<ptrdiff_t>(last)))}};
    Result<json::object> response = client_->Call("DeleteAlarms", body);
    if (!response) return tl::unexpected(std::move(response.error()));
  }
  return {};
}

}  // namespace quotaflow::bedrock
