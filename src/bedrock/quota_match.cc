#include "bedrock/quota_match.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <utility>

namespace quotaflow::bedrock {
namespace {

// Lowercase ASCII, '-' as a space, runs of white space as one space, none at either end: what
// two spellings of one quota name have in common.
std::string Normalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// Case-insensitive find of an ASCII lowercase `needle`.
size_t FindFolded(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return std::string_view::npos;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool equal = true;
    for (size_t j = 0; j < needle.size() && equal; ++j) {
      char c = haystack[i + j];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      equal = c == needle[j];
    }
    if (equal) return i;
  }
  return std::string_view::npos;
}

struct PathPrefix {
  std::string_view text;  // normalized, with its trailing space
  InferencePath path;
  QuotaNaming naming;
};
// Global first: "cross region ..." is a suffix of "global cross region ...", and the prefixes
// are matched at the start.
constexpr PathPrefix kPathPrefixes[] = {
    {"global cross region model inference ", InferencePath::kGlobal, QuotaNaming::kClassic},
    {"global cross region invokemodel ", InferencePath::kGlobal, QuotaNaming::kCurrent},
    {"cross region model inference ", InferencePath::kCrossRegion, QuotaNaming::kClassic},
    {"cross region invokemodel ", InferencePath::kCrossRegion, QuotaNaming::kCurrent},
    {"on demand model inference ", InferencePath::kOnDemand, QuotaNaming::kClassic},
    {"on demand invokemodel ", InferencePath::kOnDemand, QuotaNaming::kCurrent},
};

struct DimensionText {
  std::string_view text;
  QuotaDimension dimension;
};
constexpr DimensionText kDimensions[] = {
    {"requests per minute", QuotaDimension::kRequestsPerMinute},
    {"tokens per minute", QuotaDimension::kTokensPerMinute},
    {"tokens per day", QuotaDimension::kTokensPerDay},
};

constexpr std::string_view kDailyHead = "model invocation max tokens per day";
constexpr std::string_view kDoubledSuffix = "(doubled for cross region calls)";

// How quota names spell a model's provider, by the model id's first label. Our own list (the
// emulator keeps another): a quota may carry any of these in front of the catalog name.
std::vector<std::string> ProviderAliases(std::string_view model_id) {
  const std::string_view provider = model_id.substr(0, model_id.find('.'));
  std::vector<std::string> aliases;
  if (provider == "amazon") {
    aliases = {"amazon", "aws"};
  } else if (provider == "mistral") {
    aliases = {"mistral ai", "mistral"};
  } else if (provider == "ai21") {
    aliases = {"ai21 labs", "ai21"};
  }
  const std::string own = Normalize(provider);
  if (!own.empty() && std::find(aliases.begin(), aliases.end(), own) == aliases.end()) {
    aliases.push_back(own);
  }
  return aliases;
}

std::string ExampleNames(InferencePath path, QuotaDimension dimension, std::string_view model) {
  const std::string what(QuotaDimensionName(dimension));
  const std::string m(model);
  if (dimension == QuotaDimension::kTokensPerDay) {
    return "\"Model invocation max tokens per day for " + m + "\"";
  }
  switch (path) {
    case InferencePath::kOnDemand:
      return "\"On-demand model inference " + what + " for " + m +
             "\" or \"On-demand InvokeModel " + what + " for " + m + "\"";
    case InferencePath::kCrossRegion:
      return "\"Cross-region model inference " + what + " for " + m +
             "\" or \"Cross-Region InvokeModel " + what + " for " + m + "\"";
    case InferencePath::kGlobal:
      return "\"Global cross-region model inference " + what + " for " + m +
             "\" or \"Global Cross-Region InvokeModel " + what + " for " + m + "\"";
  }
  return {};
}

MatchedQuota MakeMatch(const ServiceQuota& quota, QuotaNaming naming, bool doubled) {
  MatchedQuota m;
  m.code = quota.code;
  m.name = quota.name;
  m.value = quota.value;
  m.default_value = quota.default_value;
  m.applied = quota.source == QuotaValueSource::kApplied;
  m.adjustable = quota.adjustable;
  m.naming = naming;
  m.doubled = doubled;
  return m;
}

}  // namespace

std::string_view InferencePathName(InferencePath path) {
  switch (path) {
    case InferencePath::kOnDemand:
      return "on-demand";
    case InferencePath::kCrossRegion:
      return "cross-region";
    case InferencePath::kGlobal:
      return "global";
  }
  return "";
}

InferencePath InferencePathOf(const ResolvedModel& model) {
  if (model.profile.empty()) return InferencePath::kOnDemand;
  return model.profile == "global" ? InferencePath::kGlobal : InferencePath::kCrossRegion;
}

std::string_view QuotaDimensionName(QuotaDimension dimension) {
  switch (dimension) {
    case QuotaDimension::kRequestsPerMinute:
      return "requests per minute";
    case QuotaDimension::kTokensPerMinute:
      return "tokens per minute";
    case QuotaDimension::kTokensPerDay:
      return "tokens per day";
  }
  return "";
}

std::optional<QuotaNameParts> ParseQuotaName(std::string_view name) {
  const size_t for_at = FindFolded(name, " for ");
  if (for_at == std::string_view::npos) return std::nullopt;
  std::string head = Normalize(name.substr(0, for_at));
  std::string_view model = Trim(name.substr(for_at + 5));
  // "Invoke Model" spelled as two words.
  if (size_t at = head.find("invoke model"); at != std::string::npos) head.erase(at + 6, 1);

  QuotaNameParts parts;
  if (head == kDailyHead) {
    parts.dimension = QuotaDimension::kTokensPerDay;
    parts.naming = QuotaNaming::kCurrent;
    if (Normalize(model).ends_with(kDoubledSuffix)) {
      model = Trim(model.substr(0, model.rfind('(')));
      parts.naming = QuotaNaming::kClassic;
    }
  } else {
    const PathPrefix* prefix = nullptr;
    for (const PathPrefix& p : kPathPrefixes) {
      if (head.starts_with(p.text)) {
        prefix = &p;
        break;
      }
    }
    if (prefix == nullptr) return std::nullopt;
    std::string_view rest = head;
    rest.remove_prefix(prefix->text.size());
    const DimensionText* dimension = nullptr;
    for (const DimensionText& d : kDimensions) {
      if (rest == d.text) dimension = &d;
    }
    if (dimension == nullptr) return std::nullopt;
    parts.dimension = dimension->dimension;
    parts.path = prefix->path;
    parts.naming = prefix->naming;
  }
  if (model.empty()) return std::nullopt;
  parts.model = std::string(model);
  return parts;
}

bool ModelNameMatches(const ModelInfo& model, std::string_view model_part) {
  const std::string catalog = Normalize(model.name);
  const std::string written = Normalize(model_part);
  if (catalog.empty() || written.empty()) return false;
  std::vector<std::string> candidates = {written};
  // "Claude 3.7 Sonnet V1" for a catalog name without a version.
  if (written.ends_with(" v1") && !catalog.ends_with(" v1")) {
    candidates.push_back(written.substr(0, written.size() - 3));
  }
  const std::vector<std::string> aliases = ProviderAliases(model.id);
  for (const std::string& c : candidates) {
    if (c == catalog) return true;
    for (const std::string& alias : aliases) {
      // The quota has the provider and the catalog name not, or the other way round.
      if (c.size() == alias.size() + 1 + catalog.size() && c.starts_with(alias) &&
          c[alias.size()] == ' ' && c.ends_with(catalog)) {
        return true;
      }
      if (catalog.size() == alias.size() + 1 + c.size() && catalog.starts_with(alias) &&
          catalog[alias.size()] == ' ' && catalog.ends_with(c)) {
        return true;
      }
    }
  }
  return false;
}

std::vector<ServiceQuota> MergeQuotas(const std::vector<ServiceQuota>& applied,
                                      const std::vector<ServiceQuota>& defaults) {
  std::unordered_map<std::string_view, size_t> applied_at;
  applied_at.reserve(applied.size());
  for (size_t i = 0; i < applied.size(); ++i) applied_at.try_emplace(applied[i].code, i);
  std::vector<bool> used(applied.size(), false);

  std::vector<ServiceQuota> merged;
  merged.reserve(defaults.size() + applied.size());
  for (const ServiceQuota& d : defaults) {
    auto it = applied_at.find(d.code);
    if (it == applied_at.end()) {
      ServiceQuota& q = merged.emplace_back(d);
      q.source = QuotaValueSource::kDefault;
      q.default_value = d.value;
      continue;
    }
    used[it->second] = true;
    ServiceQuota& q = merged.emplace_back(applied[it->second]);
    q.default_value = d.value;
  }
  for (size_t i = 0; i < applied.size(); ++i) {
    if (!used[i] && applied_at.at(applied[i].code) == i) merged.push_back(applied[i]);
  }
  return merged;
}

Result<ModelQuotas> MatchModelQuotas(const ModelCatalog& catalog, std::string_view model_id,
                                     const std::vector<ServiceQuota>& quotas) {
  Result<ResolvedModel> resolved = catalog.Resolve(model_id);
  if (!resolved) return tl::unexpected(std::move(resolved.error()));
  return MatchModelQuotas(*resolved, quotas);
}

Result<ModelQuotas> MatchModelQuotas(const ResolvedModel& model,
                                     const std::vector<ServiceQuota>& quotas) {
  ModelQuotas out;
  out.model = model;
  out.path = InferencePathOf(model);

  // Per slot (rpm, tpm, tpd), the rank of the match held: path-specific beats the per-model
  // daily quota, then the current naming beats the classic one; ties keep the first listed.
  std::array<int, 3> rank = {-1, -1, -1};
  std::array<std::optional<MatchedQuota>*, 3> slots = {&out.rpm, &out.tpm, &out.tpd};
  for (const ServiceQuota& quota : quotas) {
    std::optional<QuotaNameParts> parts = ParseQuotaName(quota.name);
    if (!parts || !ModelNameMatches(*model.model, parts->model)) continue;
    if (parts->path && *parts->path != out.path) continue;
    const auto slot = static_cast<size_t>(parts->dimension);
    const int r = (parts->path ? 2 : 0) + (parts->naming == QuotaNaming::kCurrent ? 1 : 0);
    if (r <= rank[slot]) continue;
    rank[slot] = r;
    const bool doubled = !parts->path && out.path != InferencePath::kOnDemand;
    *slots[slot] = MakeMatch(quota, parts->naming, doubled);
  }

  std::string missing;
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    if (slots[slot]->has_value()) continue;
    if (!missing.empty()) missing += "; ";
    const auto dimension = static_cast<QuotaDimension>(slot);
    missing += "no " + std::string(QuotaDimensionName(dimension)) + " quota (looked for " +
               ExampleNames(out.path, dimension, model.model->name) + ")";
  }
  if (!missing.empty()) {
    out.reason = "for " + model.model->name + " (" + model.QuotaId() + ", " +
                 std::string(InferencePathName(out.path)) + " path) among " +
                 std::to_string(quotas.size()) + " quotas: " + missing;
  }
  if (!out.rpm && !out.tpm && !out.tpd) {
    return tl::unexpected(Error::NotFound("no Service Quotas entry matched " + out.reason));
  }
  return out;
}

}  // namespace quotaflow::bedrock
