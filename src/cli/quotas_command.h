#pragma once
// `quotaflow quotas list | request-increase | requests`: Bedrock's quotas from Service Quotas,
// the ones governing one model id, and increase requests. Also the quota discovery that
// `analyze`, `monitor` and `alarms` share.

#include <optional>
#include <string>

#include "bedrock/model_catalog.h"
#include "bedrock/quota_match.h"
#include "bedrock/service_quotas_client.h"
#include "cli/aws_session.h"
#include "quotaflow/error.h"

namespace quotaflow::cli {

struct QuotasListFlags {
  AwsFlags aws;
  std::string model;  // --model: only the quotas governing this id; empty = every quota
  std::string output = "table";
};

struct QuotasRequestIncreaseFlags {
  AwsFlags aws;
  // Either --model with --tpm (the model's tokens-per-minute quota)...
  std::string model;
  std::optional<double> tpm;
  // ...or --quota-code with --value.
  std::string quota_code;
  std::optional<double> value;
  std::string output = "table";
};

struct QuotasRequestsFlags {
  AwsFlags aws;
  std::string status;  // --status: a RequestStatus name; empty = any
  std::string output = "table";
};

// Exit codes (command.h): 2 for bad flags or an unknown model id, 1 when AWS fails.
int RunQuotasList(const QuotasListFlags& flags);
// Also 1 when the value asked for is not above the quota's current value: the account's state
// refuses it, not the command line (the message names the current value).
int RunQuotasRequestIncrease(const QuotasRequestIncreaseFlags& flags);
int RunQuotasRequests(const QuotasRequestsFlags& flags);

// --- shared by analyze, monitor and alarms ---

// The catalog's reading of `model_id`; kInvalidArgument ("--model: ...") for an id it does not
// know, so that a typo is a usage error.
Result<bedrock::ResolvedModel> ResolveModelFlag(std::string_view model_id);
// Every Bedrock quota: applied values merged over AWS's defaults (both listings, all pages).
Result<std::vector<bedrock::ServiceQuota>> ListBedrockQuotas(bedrock::ServiceQuotasClient& client);
// The quotas governing `model` (quota_match.h), from Service Quotas.
Result<bedrock::ModelQuotas> DiscoverModelQuotas(AwsSession& session,
                                                 const bedrock::ResolvedModel& model);

}  // namespace quotaflow::cli
