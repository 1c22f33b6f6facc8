#include "cli/alarms_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>
#include <utility>

#include "bedrock/cloudwatch_client.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/quotas_command.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;

constexpr std::string_view kCreate = "alarms create";
constexpr std::string_view kList = "alarms list";
constexpr std::string_view kDelete = "alarms delete";
constexpr std::string_view kPrefix = "quotaflow-";

// "80%" or "80" -> 80; kInvalidArgument outside (0, 1000].
Result<double> ParsePercent(std::string_view text) {
  std::string_view number = text;
  if (number.ends_with('%')) number.remove_suffix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || !(value > 0) ||
      value > 1000) {
    return tl::unexpected(Error::InvalidArgument(fmt::format(
        "--tpm-threshold: expected a percentage of the TPM quota such as 80%, not '{}'", text)));
  }
  return value;
}

Table AlarmTable(const std::vector<bedrock::Alarm>& alarms) {
  Table table{{"name", "state", "reason", "threshold"}, {}};
  for (const bedrock::Alarm& alarm : alarms) {
    table.rows.push_back(
        {json::value(alarm.config.name),
         json::value(alarm.state_text.empty() ? bedrock::AlarmStateName(alarm.state)
                                              : alarm.state_text),
         json::value(alarm.state_reason), json::value(alarm.config.threshold)});
  }
  return table;
}

bedrock::Metric BedrockMetric(std::string_view name, const std::string& model_id) {
  return {.ns = std::string(bedrock::kBedrockNamespace),
          .name = std::string(name),
          .dimensions = {{std::string(bedrock::kModelIdDimension), model_id}}};
}

Result<std::unique_ptr<bedrock::CloudWatchClient>> OpenCloudWatch(
    const AwsFlags& aws, std::unique_ptr<AwsSession>& session) {
  Result<std::unique_ptr<AwsSession>> opened = AwsSession::Open(aws);
  if (!opened) return tl::unexpected(std::move(opened).error());
  session = std::move(*opened);
  return session->CloudWatch();
}

}  // namespace

std::string ThrottleAlarmName(std::string_view model_id) {
  return fmt::format("{}{}-throttles", kPrefix, model_id);
}

std::string TpmUsageAlarmName(std::string_view model_id) {
  return fmt::format("{}{}-tpm-usage", kPrefix, model_id);
}

int RunAlarmsCreate(const AlarmsCreateFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kCreate, format.error());
  Result<double> percent = ParsePercent(flags.tpm_threshold);
  if (!percent) return Fail(kCreate, percent.error());
  if (!(flags.throttle_threshold >= 0)) {
    return Fail(kCreate, Error::InvalidArgument("--throttle-threshold: must be >= 0"));
  }
  Result<bedrock::ResolvedModel> model = ResolveModelFlag(flags.model);
  if (!model) return Fail(kCreate, model.error());

  std::unique_ptr<AwsSession> session;
  Result<std::unique_ptr<bedrock::CloudWatchClient>> client = OpenCloudWatch(flags.aws, session);
  if (!client) return Fail(kCreate, client.error());
  double tpm = 0;
  if (flags.tpm) {
    tpm = static_cast<double>(*flags.tpm);
  } else {
    Result<bedrock::ModelQuotas> matched = DiscoverModelQuotas(*session, *model);
    if (!matched) return Fail(kCreate, matched.error());
    if (!matched->tpm) {
      return Fail(kCreate, Error::NotFound(fmt::format(
                               "no tokens-per-minute quota found for {} ({}); pass --tpm",
                               flags.model, matched->reason)));
    }
    tpm = matched->tpm->EffectiveValue();
  }
  if (!(tpm > 0)) return Fail(kCreate, Error::InvalidArgument("--tpm: must be positive"));

  bedrock::AlarmConfig throttles;
  throttles.name = ThrottleAlarmName(flags.model);
  throttles.description = fmt::format("quotaflow: {} throttled more than {} times in a minute",
                                      flags.model, FormatNumber(flags.throttle_threshold));
  throttles.metric = BedrockMetric("InvocationThrottles", flags.model);
  throttles.statistic = "Sum";
  throttles.period_seconds = 60;
  throttles.threshold = flags.throttle_threshold;
  throttles.comparison_operator = "GreaterThanThreshold";
  throttles.treat_missing_data = "notBreaching";  // no datapoint = no throttle (CloudWatch)
  throttles.alarm_actions = flags.sns_topics;
  throttles.ok_actions = flags.sns_topics;

  bedrock::AlarmConfig usage;
  usage.name = TpmUsageAlarmName(flags.model);
  usage.description = fmt::format(
      "quotaflow: {} used at least {}% of its TPM quota ({}) in a "
      "minute",
      flags.model, FormatNumber(*percent), FormatNumber(tpm));
  bedrock::MetricDataQuery tokens;
  tokens.id = "tokens";
  tokens.metric_stat =
      bedrock::MetricStat{.metric = BedrockMetric("EstimatedTPMQuotaUsage", flags.model),
                          .period_seconds = 60,
                          .stat = "Sum",
                          .unit = std::nullopt};
  tokens.return_data = false;
  bedrock::MetricDataQuery percent_used;
  percent_used.id = "usage";
  percent_used.expression =
      fmt::format("100 * tokens / {}", static_cast<int64_t>(std::llround(tpm)));
  percent_used.label = "TPM quota used (%)";
  usage.metrics = {std::move(tokens), std::move(percent_used)};
  usage.threshold = *percent;
  usage.comparison_operator = "GreaterThanOrEqualToThreshold";
  usage.treat_missing_data = "notBreaching";
  usage.alarm_actions = flags.sns_topics;
  usage.ok_actions = flags.sns_topics;

  for (const bedrock::AlarmConfig* config : {&throttles, &usage}) {
    Status put = (*client)->PutMetricAlarm(*config);
    if (!put) return Fail(kCreate, put.error());
  }
  bedrock::DescribeAlarmsRequest request;
  request.names = {throttles.name, usage.name};
  Result<std::vector<bedrock::Alarm>> alarms = (*client)->DescribeAlarms(request);
  if (!alarms) return Fail(kCreate, alarms.error());
  std::cout << RenderTable(AlarmTable(*alarms), *format) << std::flush;
  return kExitOk;
}

int RunAlarmsList(const AlarmsListFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kList, format.error());
  std::unique_ptr<AwsSession> session;
  Result<std::unique_ptr<bedrock::CloudWatchClient>> client = OpenCloudWatch(flags.aws, session);
  if (!client) return Fail(kList, client.error());
  bedrock::DescribeAlarmsRequest request;
  if (flags.model.empty()) {
    request.prefix = kPrefix;
  } else {
    request.names = {ThrottleAlarmName(flags.model), TpmUsageAlarmName(flags.model)};
  }
  Result<std::vector<bedrock::Alarm>> alarms = (*client)->DescribeAlarms(request);
  if (!alarms) return Fail(kList, alarms.error());
  std::cout << RenderTable(AlarmTable(*alarms), *format) << std::flush;
  return kExitOk;
}

int RunAlarmsDelete(const AlarmsDeleteFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kDelete, format.error());
  if (flags.model.empty() == flags.names.empty()) {
    return Fail(kDelete, Error::InvalidArgument("give either --model ID or --name NAME"));
  }
  std::unique_ptr<AwsSession> session;
  Result<std::unique_ptr<bedrock::CloudWatchClient>> client = OpenCloudWatch(flags.aws, session);
  if (!client) return Fail(kDelete, client.error());
  bedrock::DescribeAlarmsRequest request;
  request.names = flags.names;
  if (!flags.model.empty()) {
    request.names = {ThrottleAlarmName(flags.model), TpmUsageAlarmName(flags.model)};
  }
  Result<std::vector<bedrock::Alarm>> existing = (*client)->DescribeAlarms(request);
  if (!existing) return Fail(kDelete, existing.error());
  if (existing->empty()) {
    return Fail(kDelete,
                Error::NotFound(fmt::format("no such alarm: {}", fmt::join(request.names, ", "))));
  }
  std::vector<std::string> names;
  Table table{{"name", "deleted"}, {}};
  for (const bedrock::Alarm& alarm : *existing) {
    names.push_back(alarm.config.name);
    table.rows.push_back({json::value(alarm.config.name), json::value(true)});
  }
  Status deleted = (*client)->DeleteAlarms(names);
  if (!deleted) return Fail(kDelete, deleted.error());
  std::cout << RenderTable(table, *format) << std::flush;
  return kExitOk;
}

}  // namespace quotaflow::cli
