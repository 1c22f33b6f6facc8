#pragma once
// `quotaflow alarms create | list | delete`: CloudWatch alarms on a model's throttles and on its
// token usage as a percentage of the TPM quota (metric math), named predictably so that they can
// be found again: "quotaflow-<model id>-throttles" and "quotaflow-<model id>-tpm-usage".

#include <optional>
#include <string>
#include <vector>

#include "cli/aws_session.h"

namespace quotaflow::cli {

// "quotaflow-" + model id + "-throttles" / "-tpm-usage".
std::string ThrottleAlarmName(std::string_view model_id);
std::string TpmUsageAlarmName(std::string_view model_id);

struct AlarmsCreateFlags {
  AwsFlags aws;
  std::string model;                    // --model, required
  std::string tpm_threshold = "80%";    // percent of the TPM quota, "80%" or "80"
  double throttle_threshold = 0;        // alarm when a minute has more throttles than this
  std::optional<int64_t> tpm;           // the TPM quota; default: from Service Quotas
  std::vector<std::string> sns_topics;  // --sns-topic ARN: alarm (and OK) actions
  std::string output = "table";
};

struct AlarmsListFlags {
  AwsFlags aws;
  std::string model;  // empty = every quotaflow alarm
  std::string output = "table";
};

struct AlarmsDeleteFlags {
  AwsFlags aws;
  std::string model;               // both alarms of this model...
  std::vector<std::string> names;  // ...or these alarms
  std::string output = "table";
};

// Exit codes (command.h): 2 for bad flags; 1 when AWS fails, when the TPM quota cannot be found
// (create), or when none of the alarms to delete exists.
int RunAlarmsCreate(const AlarmsCreateFlags& flags);
int RunAlarmsList(const AlarmsListFlags& flags);
int RunAlarmsDelete(const AlarmsDeleteFlags& flags);

}  // namespace quotaflow::cli
