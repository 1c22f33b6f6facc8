#pragma once
// `quotaflow monitor`: a model's CloudWatch AWS/Bedrock metrics (dimension ModelId) per period
// over a window, with token usage as a percentage of its TPM quota; a chart of requests
// (successful vs throttled) and tokens against the quota line; --watch redraws every period.

#include <optional>
#include <string>

#include "cli/aws_session.h"
#include "quotaflow/clock.h"

namespace quotaflow::cli {

struct MonitorFlags {
  AwsFlags aws;
  std::string model;           // --model, required: the ModelId dimension, as requests name it
  std::string since = "24h";   // window length, a duration ("90m", "3h")
  std::string period = "5m";   // CloudWatch period: whole seconds, a multiple of 60 above 60 s
  std::optional<int64_t> tpm;  // the TPM quota; default: discovered from Service Quotas
  std::string chart;           // --chart FILE.png|.svg; empty = none
  bool watch = false;          // redraw every period until Ctrl-C
  std::string output = "table";
};

// Exit codes (command.h): 2 for bad flags or an unknown model, 1 when CloudWatch fails or the
// chart cannot be written. A TPM quota that cannot be discovered is a note, not an error: the
// metrics are still shown, without utilization.
// REQUIRES (with --watch): no other thread runs yet (signals.h).
int RunMonitor(const MonitorFlags& flags);

}  // namespace quotaflow::cli
