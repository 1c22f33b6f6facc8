#pragma once
// Which Service Quotas entries govern a model id: its requests per minute, tokens per minute and
// tokens per day on the path the id takes (a bare id on demand; us./eu./apac./jp./au./us-gov.
// cross-region; global. global), found by quota NAME, as the codes are opaque and differ between
// accounts and Regions (bedrock-wire.md section 5).
//
// Names come in two generations, matched case-insensitively (also "Cross-region" vs
// "Cross-Region", and a hyphen vs a space):
//   classic: "On-demand model inference {requests|tokens} per minute for <Model>",
//            "Cross-region model inference {requests|tokens} per minute for <Model>",
//            "Global cross-region model inference {requests|tokens} per {minute|day} for <Model>",
//            "Model invocation max tokens per day for <Model> (doubled for cross-region calls)";
//   current: "On-demand InvokeModel {requests|tokens} per minute for <Model>",
//            "Cross-Region InvokeModel ...", "Global Cross-Region InvokeModel ...",
//            "Model invocation max tokens per day for <Model>".
// <Model> must be the catalog model's display name, with or without its provider in front
// ("Anthropic Claude 3 Haiku" and "Claude 3 Haiku" both match the catalog's "Claude 3 Haiku";
// "Nova Micro" matches "Amazon Nova Micro"), and an explicit trailing " V1" is tolerated when the
// catalog name has no version. Equality, not a prefix: "Claude 3.5 Sonnet" never takes the quotas
// of "Claude 3.5 Sonnet v2".
//
// The daily quota: a path-specific "... tokens per day" entry wins; otherwise the model's one
// "Model invocation max tokens per day" figure applies to every path, doubled for cross-region
// and global calls (MatchedQuota::doubled). When two entries match one slot (an account listing
// both generations), the current generation wins, then the first listed.
//
// Deliberately independent of the emulator's quota table (a bug shared by both would be
// invisible): this works from the name patterns alone.
//
// Thread safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "bedrock/service_quotas_client.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

enum class InferencePath : uint8_t { kOnDemand, kCrossRegion, kGlobal };

// "on-demand", "cross-region", "global".
std::string_view InferencePathName(InferencePath path);
// No profile = on-demand, "global" = global, any other geo prefix = cross-region.
InferencePath InferencePathOf(const ResolvedModel& model);

enum class QuotaDimension : uint8_t { kRequestsPerMinute, kTokensPerMinute, kTokensPerDay };
// "requests per minute", "tokens per minute", "tokens per day".
std::string_view QuotaDimensionName(QuotaDimension dimension);

enum class QuotaNaming : uint8_t { kClassic, kCurrent };

// What a Bedrock model quota's name says.
struct QuotaNameParts {
  QuotaDimension dimension = QuotaDimension::kTokensPerMinute;
  // The path the quota is for; nullopt for the per-model "Model invocation max tokens per day".
  std::optional<InferencePath> path;
  QuotaNaming naming = QuotaNaming::kClassic;
  std::string model;  // the <Model> part as written: "Anthropic Claude 3 Haiku"
};

// nullopt for a name that is not one of the patterns above (account-wide quotas, other services).
std::optional<QuotaNameParts> ParseQuotaName(std::string_view name);

// Whether a quota name's <Model> part names `model` (the rules at the top of this file).
bool ModelNameMatches(const ModelInfo& model, std::string_view model_part);

// One governing quota.
struct MatchedQuota {
  std::string code;
  std::string name;
  double value = 0;                     // the applied value, or the default when none is applied
  std::optional<double> default_value;  // AWS's default, when known
  bool applied = false;                 // `value` came from ListServiceQuotas / GetServiceQuota
  bool adjustable = false;
  QuotaNaming naming = QuotaNaming::kClassic;
  // Tokens per day only: the per-model figure, which Bedrock doubles for cross-region and
  // global calls; EffectiveValue() is then twice `value`.
  bool doubled = false;

  double EffectiveValue() const { return doubled ? 2 * value : value; }
};

struct ModelQuotas {
  ResolvedModel model;
  InferencePath path = InferencePath::kOnDemand;
  std::optional<MatchedQuota> rpm;
  std::optional<MatchedQuota> tpm;
  std::optional<MatchedQuota> tpd;
  // Empty when all three matched; otherwise which are missing and the names looked for. (Bedrock
  // no longer lists or enforces RPM for some accounts, so a missing rpm alone is not an error.)
  std::string reason;
};

// Applied values over AWS's defaults: every quota of `defaults`, in its order, with its applied
// value where `applied` has one (source kApplied, default_value set), then the applied quotas that
// `defaults` does not list (default_value unset). A default without an applied value keeps source
// kDefault. AWS lists only some quotas under ListServiceQuotas, so both lists are needed.
std::vector<ServiceQuota> MergeQuotas(const std::vector<ServiceQuota>& applied,
                                      const std::vector<ServiceQuota>& defaults);

// The quotas governing `model_id` (a base id, a profile id or an ARN of either, resolved with
// `catalog`) among `quotas` (MergeQuotas' result, or any list of ServiceQuota). kNotFound when the
// id does not resolve, or when not one of the three quotas matched (the message then says which
// names were looked for among how many quotas).
Result<ModelQuotas> MatchModelQuotas(const ModelCatalog& catalog, std::string_view model_id,
                                     const std::vector<ServiceQuota>& quotas);
// As above for an already resolved model. REQUIRES: model.model != nullptr.
Result<ModelQuotas> MatchModelQuotas(const ResolvedModel& model,
                                     const std::vector<ServiceQuota>& quotas);

}  // namespace quotaflow::bedrock
