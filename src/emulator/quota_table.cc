#include "emulator/quota_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <utility>

#include "core/check.h"

namespace quotaflow::emulator {
namespace {

constexpr QuotaPath kPaths[] = {QuotaPath::kOnDemand, QuotaPath::kCrossRegion, QuotaPath::kGlobal};

// The codes of bedrock-wire.md section 5 (from a third-party ListServiceQuotas dump).
struct KnownCode {
  std::string_view model_id;
  QuotaPath path;
  QuotaDimension dimension;
  std::string_view code;
};
constexpr QuotaDimension kRpm = QuotaDimension::kRequestsPerMinute;
constexpr QuotaDimension kTpm = QuotaDimension::kTokensPerMinute;
constexpr QuotaDimension kTpd = QuotaDimension::kTokensPerDay;
constexpr KnownCode kKnownCodes[] = {
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kOnDemand, kRpm, "L-254CACF4"},
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kOnDemand, kTpm, "L-A50569E5"},
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kCrossRegion, kRpm, "L-F457545D"},
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kCrossRegion, kTpm, "L-479B647F"},
    {"anthropic.claude-3-5-sonnet-20241022-v2:0", QuotaPath::kCrossRegion, kRpm, "L-1D3E59A3"},
    {"anthropic.claude-3-5-sonnet-20241022-v2:0", QuotaPath::kCrossRegion, kTpm, "L-FF8B4E28"},
    {"anthropic.claude-3-7-sonnet-20250219-v1:0", QuotaPath::kCrossRegion, kRpm, "L-3D8CC480"},
    {"anthropic.claude-3-7-sonnet-20250219-v1:0", QuotaPath::kCrossRegion, kTpm, "L-6E888CC2"},
    {"anthropic.claude-sonnet-4-20250514-v1:0", QuotaPath::kCrossRegion, kRpm, "L-559DCC33"},
    {"anthropic.claude-sonnet-4-20250514-v1:0", QuotaPath::kCrossRegion, kTpm, "L-59759B4A"},
    {"anthropic.claude-sonnet-4-20250514-v1:0", QuotaPath::kCrossRegion, kTpd, "L-22F701C5"},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", QuotaPath::kCrossRegion, kRpm, "L-4A6BFAB1"},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", QuotaPath::kCrossRegion, kTpm, "L-F4DDD3EB"},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", QuotaPath::kGlobal, kRpm, "L-DB84CE56"},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", QuotaPath::kGlobal, kTpm, "L-27C57EE8"},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kCrossRegion, kRpm, "L-CCA5DF70"},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kCrossRegion, kTpm, "L-58BE175A"},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kGlobal, kRpm, "L-E5084BBA"},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kGlobal, kTpm, "L-9A11C666"},
    {"anthropic.claude-3-haiku-20240307-v1:0", QuotaPath::kOnDemand, kRpm, "L-2DC80978"},
    {"anthropic.claude-3-haiku-20240307-v1:0", QuotaPath::kOnDemand, kTpm, "L-8CE99163"},
    {"amazon.nova-micro-v1:0", QuotaPath::kOnDemand, kTpm, "L-CFA4FA0D"},
};

// The real code of a known entry. The tokens-per-day entry is one per model, so its known code
// matches whatever primary path the model has.
std::optional<std::string_view> KnownCodeOf(std::string_view model_id, QuotaPath path,
                                            QuotaDimension dimension) {
  for (const KnownCode& known : kKnownCodes) {
    if (known.model_id == model_id && known.dimension == dimension &&
        (dimension == kTpd || known.path == path)) {
      return known.code;
    }
  }
  return std::nullopt;
}

uint32_t Fnv1a32(std::string_view text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

std::string HashCode(std::string_view key) {
  char code[11];
  std::snprintf(code, sizeof(code), "L-%08X", static_cast<unsigned>(Fnv1a32(key)));
  return code;
}

// Service Quotas names a model with its provider: "Anthropic Claude 3 Haiku".
std::string DisplayName(const bedrock::ModelInfo& model) {
  const std::string_view provider_id = std::string_view{model.id}.substr(0, model.id.find('.'));
  std::string provider;
  if (provider_id == "anthropic") {
    provider = "Anthropic";
  } else if (provider_id == "amazon") {
    provider = "Amazon";
  } else if (provider_id == "meta") {
    provider = "Meta";
  } else if (provider_id == "mistral") {
    provider = "Mistral AI";
  } else if (provider_id == "cohere") {
    provider = "Cohere";
  } else if (provider_id == "ai21") {
    provider = "AI21 Labs";
  } else if (!provider_id.empty()) {
    provider = std::string(provider_id);
    if (provider[0] >= 'a' && provider[0] <= 'z') provider[0] = static_cast<char>(provider[0] - 32);
  }
  if (provider.empty() || model.name.starts_with(provider)) return model.name;
  return provider + " " + model.name;
}

// The naming generation rule documented in quota_table.h.
bool UsesCurrentNames(const bedrock::ModelInfo& model) { return !model.on_demand; }

std::string QuotaName(const bedrock::ModelInfo& model, QuotaPath path, QuotaDimension dimension) {
  const std::string display = DisplayName(model);
  const bool current = UsesCurrentNames(model);
  if (dimension == kTpd) {
    return "Model invocation max tokens per day for " + display +
           (current ? "" : " (doubled for cross-region calls)");
  }
  const std::string what = dimension == kRpm ? "requests per minute" : "tokens per minute";
  std::string prefix;
  switch (path) {
    case QuotaPath::kOnDemand:
      prefix = current ? "On-demand InvokeModel " : "On-demand model inference ";
      break;
    case QuotaPath::kCrossRegion:
      prefix = current ? "Cross-Region InvokeModel " : "Cross-region model inference ";
      break;
    case QuotaPath::kGlobal:
      prefix =
          current ? "Global Cross-Region InvokeModel " : "Global cross-region model inference ";
      break;
  }
  return prefix + what + " for " + display;
}

std::string QuotaDescription(const bedrock::ModelInfo& model, QuotaPath path,
                             QuotaDimension dimension) {
  const std::string display = DisplayName(model);
  if (dimension == kTpd) {
    return "The maximum number of tokens that you can submit for model inference in one day for " +
           display +
           ". Calls through cross-Region and global inference profiles get twice this "
           "value.";
  }
  std::string where;
  switch (path) {
    case QuotaPath::kOnDemand:
      where = " on demand in this Region";
      break;
    case QuotaPath::kCrossRegion:
      where = " through cross-Region inference profiles";
      break;
    case QuotaPath::kGlobal:
      where = " through the global cross-Region inference profile";
      break;
  }
  const std::string what =
      dimension == kRpm ? "requests" : "tokens (input and output, output times its burndown)";
  return "The maximum number of " + what +
         " that you can submit for model inference in one minute" + " for " + display + where +
         ". InvokeModel, InvokeModelWithResponseStream, Converse and ConverseStream share it." +
         (dimension == kRpm ? " 0 = not enforced." : "");
}

// Path of a profile prefix: "global" is global, every geo is cross-region.
QuotaPath PathOfPrefix(std::string_view prefix) {
  return prefix == "global" ? QuotaPath::kGlobal : QuotaPath::kCrossRegion;
}

int64_t DailyFactor(QuotaPath path) { return path == QuotaPath::kOnDemand ? 1 : 2; }

// A quota value as the books take it: whole, within [lo, kMaxTokens].
int64_t ToLimit(double value, int64_t lo) {
  if (!(value >= static_cast<double>(lo))) return lo;  // also NaN
  if (value >= static_cast<double>(kMaxTokens)) return kMaxTokens;
  return static_cast<int64_t>(std::floor(value));
}

}  // namespace

QuotaPath PathOf(const bedrock::ResolvedModel& model) {
  if (model.profile.empty()) return QuotaPath::kOnDemand;
  return PathOfPrefix(model.profile);
}

std::string_view QuotaPathName(QuotaPath path) {
  switch (path) {
    case QuotaPath::kOnDemand:
      return "on_demand";
    case QuotaPath::kCrossRegion:
      return "cross_region";
    case QuotaPath::kGlobal:
      return "global";
  }
  return "";
}

std::string_view QuotaDimensionName(QuotaDimension dimension) {
  switch (dimension) {
    case QuotaDimension::kRequestsPerMinute:
      return "requests_per_minute";
    case QuotaDimension::kTokensPerMinute:
      return "tokens_per_minute";
    case QuotaDimension::kTokensPerDay:
      return "tokens_per_day";
  }
  return "";
}

QuotaTable::QuotaTable(const QuotaOptions& options, const bedrock::ModelCatalog& catalog)
    : options_(options), catalog_(catalog) {
  for (const QuotaOverride& spec : options_.overrides) {
    ParsedOverride parsed;
    parsed.spec = &spec;
    if (spec.model == "*") {
      parsed.any_model = true;
    } else if (const size_t dot = spec.model.find('.');
               dot != std::string::npos && bedrock::IsProfilePrefix(spec.model.substr(0, dot))) {
      parsed.base_id = spec.model.substr(dot + 1);
      parsed.path = PathOfPrefix(std::string_view{spec.model}.substr(0, dot));
    } else {
      parsed.base_id = spec.model;
    }
    overrides_.push_back(std::move(parsed));
  }

  // Real codes first, so that a hashed code can never take one of them.
  std::set<std::string, std::less<>> taken;
  for (const KnownCode& known : kKnownCodes) taken.emplace(known.code);
  auto add = [&](const bedrock::ModelInfo& model, QuotaPath path, QuotaDimension dimension) {
    std::string code;
    if (auto known = KnownCodeOf(model.id, path, dimension)) {
      code = std::string(*known);
    } else {
      const std::string key = model.id + "|" + std::string(QuotaPathName(path)) + "|" +
                              std::string(QuotaDimensionName(dimension));
      code = HashCode(key);
      for (int salt = 1; taken.contains(code); ++salt) {
        code = HashCode(key + "#" + std::to_string(salt));
      }
      taken.insert(code);
    }
    by_code_.emplace(code, slots_.size());
    slots_.push_back(Slot{.code = std::move(code),
                          .name = QuotaName(model, path, dimension),
                          .description = QuotaDescription(model, path, dimension),
                          .model = &model,
                          .path = path,
                          .dimension = dimension});
    return slots_.size() - 1;
  };

  for (const bedrock::ModelInfo& model : catalog_.models()) {
    ModelSlots ms;
    bool has[3] = {model.on_demand, false, model.HasProfile("global")};
    for (const std::string& prefix : model.profiles) {
      if (prefix != "global") has[static_cast<int>(QuotaPath::kCrossRegion)] = true;
    }
    bool primary_set = false;
    for (QuotaPath path : kPaths) {
      const int p = static_cast<int>(path);
      if (!has[p]) continue;
      if (!primary_set) {
        ms.primary = path;
        primary_set = true;
      }
      ms.rpm[p] = add(model, path, kRpm);
      ms.tpm[p] = add(model, path, kTpm);
    }
    // A model with no path at all (a catalog entry that is neither on demand nor profiled) still
    // has its daily quota, so that every model is listed.
    ms.tpd = add(model, ms.primary, kTpd);
    model_slots_.push_back(ms);
  }
  // Known codes are unique in kKnownCodes and hashed ones avoid them and each other.
  QF_CHECK(by_code_.size() == slots_.size());
}

const QuotaTable::ModelSlots& QuotaTable::SlotsOf(const bedrock::ModelInfo& model) const {
  const std::vector<bedrock::ModelInfo>& models = catalog_.models();
  const std::less<const bedrock::ModelInfo*> before;
  // A model from another catalog would silently get a stranger's quotas.
  QF_CHECK(!models.empty() && !before(&model, models.data()) &&
           before(&model, models.data() + models.size()));
  return model_slots_[static_cast<size_t>(&model - models.data())];
}

PathQuota QuotaTable::Configured(const bedrock::ModelInfo& model, QuotaPath path,
                                 std::string_view region) const {
  PathQuota quota = path == QuotaPath::kOnDemand      ? options_.on_demand
                    : path == QuotaPath::kCrossRegion ? options_.cross_region
                                                      : options_.global;
  for (const ParsedOverride& o : overrides_) {
    if (o.spec->region != "*" && o.spec->region != region) continue;
    if (!o.any_model && (o.base_id != model.id || o.path != path)) continue;
    if (o.spec->tokens_per_minute) quota.tokens_per_minute = *o.spec->tokens_per_minute;
    if (o.spec->requests_per_minute) quota.requests_per_minute = *o.spec->requests_per_minute;
    if (o.spec->max_concurrency) quota.max_concurrency = *o.spec->max_concurrency;
    if (o.spec->tokens_per_day) quota.tokens_per_day = *o.spec->tokens_per_day;
  }
  return quota;
}

double QuotaTable::BaseValue(const Slot& slot,
                             const std::optional<std::string_view>& region) const {
  const PathQuota quota = region ? Configured(*slot.model, slot.path, *region)
                          : slot.path == QuotaPath::kOnDemand    ? options_.on_demand
                          : slot.path == QuotaPath::kCrossRegion ? options_.cross_region
                                                                 : options_.global;
  switch (slot.dimension) {
    case QuotaDimension::kRequestsPerMinute:
      return static_cast<double>(quota.requests_per_minute);
    case QuotaDimension::kTokensPerMinute:
      return static_cast<double>(quota.tokens_per_minute);
    case QuotaDimension::kTokensPerDay:
      // The listing shows the un-doubled figure of the primary path (see the header).
      if (quota.tokens_per_day) {
        return static_cast<double>(*quota.tokens_per_day) /
               static_cast<double>(DailyFactor(slot.path));
      }
      return static_cast<double>(quota.tokens_per_minute) * kPeriodsPerDay;
  }
  return 0;
}

std::optional<double> QuotaTable::AppliedLocked(std::string_view region, size_t index) const {
  auto by_region = applied_.find(region);
  if (by_region == applied_.end()) return std::nullopt;
  auto value = by_region->second.find(index);
  if (value == by_region->second.end()) return std::nullopt;
  return value->second;
}

KeyQuota QuotaTable::QuotaFor(std::string_view region, const bedrock::ResolvedModel& model) const {
  const ModelSlots& ms = SlotsOf(*model.model);
  const QuotaPath path = PathOf(model);
  const int p = static_cast<int>(path);
  const PathQuota configured = Configured(*model.model, path, region);

  std::optional<double> rpm, tpm, tpd;
  {
    std::lock_guard lock(mu_);
    if (ms.rpm[p] != ModelSlots::npos) rpm = AppliedLocked(region, ms.rpm[p]);
    if (ms.tpm[p] != ModelSlots::npos) tpm = AppliedLocked(region, ms.tpm[p]);
    tpd = AppliedLocked(region, ms.tpd);
  }
  const int64_t factor = DailyFactor(path);
  KeyQuota quota;
  quota.tokens_per_period =
      ToLimit(tpm.value_or(static_cast<double>(configured.tokens_per_minute)), 1);
  quota.requests_per_period =
      ToLimit(rpm.value_or(static_cast<double>(configured.requests_per_minute)), 0);
  quota.max_concurrency = ToLimit(static_cast<double>(configured.max_concurrency), 0);
  double daily;
  if (tpd) {
    daily = *tpd * static_cast<double>(factor);
  } else if (configured.tokens_per_day) {
    daily = static_cast<double>(*configured.tokens_per_day);
  } else {
    daily = static_cast<double>(configured.tokens_per_minute) * kPeriodsPerDay *
            static_cast<double>(factor);
  }
  quota.tokens_per_day = ToLimit(daily, 0);
  return quota;
}

QuotaEntry QuotaTable::MakeEntry(std::string_view region, size_t index) const {
  const Slot& slot = slots_[index];
  QuotaEntry entry;
  entry.code = slot.code;
  entry.name = slot.name;
  entry.description = slot.description;
  entry.model = slot.model;
  entry.path = slot.path;
  entry.dimension = slot.dimension;
  entry.default_value = BaseValue(slot, std::nullopt);
  entry.value = AppliedLocked(region, index).value_or(BaseValue(slot, region));
  entry.adjustable = slot.dimension != kTpd;
  entry.period_minutes = slot.dimension == kTpd ? static_cast<int>(kPeriodsPerDay) : 1;
  return entry;
}

std::vector<QuotaEntry> QuotaTable::Entries(std::string_view region) const {
  std::vector<QuotaEntry> entries;
  entries.reserve(slots_.size());
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) entries.push_back(MakeEntry(region, i));
  return entries;
}

std::optional<QuotaEntry> QuotaTable::Find(std::string_view region, std::string_view code) const {
  auto it = by_code_.find(code);
  if (it == by_code_.end()) return std::nullopt;
  std::lock_guard lock(mu_);
  return MakeEntry(region, it->second);
}

Status QuotaTable::SetValue(std::string_view region, std::string_view code, double value) {
  if (!std::isfinite(value) || value < 0) {
    return tl::make_unexpected(Error::InvalidArgument("quota value must be a finite number >= 0"));
  }
  auto it = by_code_.find(code);
  if (it == by_code_.end()) {
    return tl::make_unexpected(
        Error::NotFound("no Bedrock quota has the code " + std::string(code)));
  }
  std::vector<std::function<void(std::string_view)>> listeners;
  {
    std::lock_guard lock(mu_);
    applied_[std::string(region)][it->second] = value;
    listeners = listeners_;
  }
  const std::string changed(region);  // outlives the listeners' calls whatever the caller passed
  for (const auto& listener : listeners) listener(changed);
  return {};
}

void QuotaTable::OnChange(std::function<void(std::string_view region)> listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

}  // namespace quotaflow::emulator
