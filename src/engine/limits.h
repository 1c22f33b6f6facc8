#pragma once
// Where a model's limits come from when the caller did not configure them: Service Quotas. The
// account's applied values over AWS's defaults, matched to the model by quota name (both naming
// generations; on-demand, cross-region or global by the id's prefix: bedrock/quota_match.h).
//
// Thread safety: pure functions over values.

#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "bedrock/service_quotas_client.h"
#include "quotaflow/client.h"
#include "quotaflow/error.h"
#include "quotaflow/limiter.h"

namespace quotaflow::engine {

// The limits of `model` among `quotas` (bedrock::MergeQuotas' result). kNotFound when no tokens
// per minute quota matched: without it the client cannot pace the model, and the caller falls
// back to defaults with a warning. A missing RPM (Bedrock no longer lists it for some accounts)
// or daily quota only leaves that dimension unenforced.
Result<ModelLimits> LimitsFromQuotas(const bedrock::ResolvedModel& model,
                                     const std::vector<bedrock::ServiceQuota>& quotas);

// The limiter configuration that enforces `share` of `limits` (each enforced limit rounded down,
// at least 1) over `period`, with the rest of `base` (burst, window guard, adaptive cut).
LimiterConfig LimiterConfigFor(const ModelLimits& limits, double share, Duration period,
                               LimiterConfig base);

}  // namespace quotaflow::engine
