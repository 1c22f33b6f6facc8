#include "engine/limits.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bedrock/quota_match.h"

namespace quotaflow::engine {
namespace {

int64_t Share(int64_t value, double share) {
  if (value <= 0) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(value) * share)));
}

}  // namespace

Result<ModelLimits> LimitsFromQuotas(const bedrock::ResolvedModel& model,
                                     const std::vector<bedrock::ServiceQuota>& quotas) {
  Result<bedrock::ModelQuotas> matched = bedrock::MatchModelQuotas(model, quotas);
  if (!matched) return tl::unexpected(std::move(matched).error());
  if (!matched->tpm) {
    return tl::unexpected(
        Error::NotFound(fmt::format("no tokens-per-minute quota for {} ({}): {}", model.QuotaId(),
                                    bedrock::InferencePathName(matched->path), matched->reason)));
  }
  ModelLimits limits;
  limits.source = "service-quotas";
  limits.tokens_per_minute = static_cast<int64_t>(matched->tpm->EffectiveValue());
  std::string note = fmt::format("TPM {} \"{}\"", matched->tpm->code, matched->tpm->name);
  if (matched->rpm) {
    limits.requests_per_minute = static_cast<int64_t>(matched->rpm->EffectiveValue());
    note += fmt::format("; RPM {} \"{}\"", matched->rpm->code, matched->rpm->name);
  }
  if (matched->tpd) {
    limits.tokens_per_day = static_cast<int64_t>(matched->tpd->EffectiveValue());
    note += fmt::format("; TPD {} \"{}\"{}", matched->tpd->code, matched->tpd->name,
                        matched->tpd->doubled ? " (doubled for cross-region)" : "");
  }
  limits.note = std::move(note);
  return limits;
}

LimiterConfig LimiterConfigFor(const ModelLimits& limits, double share, Duration period,
                               LimiterConfig base) {
  base.requests_per_period = Share(limits.requests_per_minute, share);
  base.tokens_per_period = Share(limits.tokens_per_minute, share);
  base.tokens_per_day = Share(limits.tokens_per_day, share);
  base.max_concurrency = Share(limits.max_concurrency, share);
  base.period = period;
  return base;
}

}  // namespace quotaflow::engine
