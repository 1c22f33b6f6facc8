#pragma once
// The account's Bedrock quotas as Service Quotas knows them, per region: one entry per model and
// path (on-demand, cross-region, global) and dimension (requests per minute, tokens per minute),
// plus one tokens-per-day entry per model, with Bedrock's real names (both naming generations)
// and `L-` codes. It is the one source of the values the runtime's QuotaBooks enforce, so an
// approved increase changes the live quota.
//
// Which entries exist. A model has the on-demand path if `on_demand`, the cross-region path if it
// has any geo profile other than "global" (every geo shares the model's one cross-region quota,
// as on Bedrock), the global path if it has "global". Each path has an RPM and a TPM entry, listed
// even when RPM is 0: 0 means the emulator does not enforce it (Bedrock no longer enforces RPM),
// and an approved increase above 0 turns it on. The tokens-per-day entry is not adjustable.
//
// Names (bedrock-wire.md section 5). Models Bedrock serves only through inference profiles
// (`on_demand: false` in models.json: Claude 3.7 Sonnet and later, Nova Premier, Llama 3.3/4,
// Pixtral Large, i.e. the models launched from late 2024 on) carry the current generation:
//   "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4",
//   "Global Cross-Region InvokeModel requests per minute for ...",
//   "Model invocation max tokens per day for ...";
// the others keep the classic one:
//   "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku",
//   "Cross-region model inference requests per minute for ...",
//   "Global cross-region model inference tokens per minute for ...",
//   "Model invocation max tokens per day for ... (doubled for cross-region calls)".
// So every listing of the embedded catalog shows both. The model part is the catalog name with
// its provider in front ("Anthropic Claude 3 Haiku", "Mistral AI Mistral 7B Instruct") unless the
// name already starts with it ("Amazon Nova Micro").
//
// Codes. The real codes of bedrock-wire.md section 5 where known; otherwise "L-" + 8 uppercase hex
// digits of a 32-bit FNV-1a hash of "<model id>|<path>|<dimension>" (ids, unlike names, do not
// change with the naming rule or a catalog edit), re-hashed with a salt on the rare collision.
//
// Values, per region, in layers: the QuotaOptions default of the path; then every QuotaOverride
// that matches, in order (region "*" or equal; model "*", the base id for the on-demand path, or
// any profile id of the model for its cross-region or global path); then an approved increase
// (SetValue). QuotaEntry::default_value is the first layer only (what ListAWSDefaultServiceQuotas
// shows); QuotaEntry::value all three (ListServiceQuotas: overrides are how an account's applied
// values differ from AWS's defaults).
//
// Tokens per day. Bedrock keeps one figure per model and doubles it for cross-region calls.
// Until an increase is approved each path enforces its configured daily quota: the path's
// tokens_per_day (after overrides) or TPM × 1440, doubled on cross-region and global paths; the
// listed value is the model's primary path's figure (on-demand if it has one, else cross-region,
// else global) in its un-doubled form. Once an increase to V is approved, every path of the model
// enforces V on-demand and 2·V through a profile. TPM increases do not move the daily quota.
//
// Thread safety: every method is safe from many threads (one mutex; listeners run outside it).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "emulator/options.h"
#include "emulator/quota_books.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {

enum class QuotaPath : uint8_t { kOnDemand, kCrossRegion, kGlobal };
enum class QuotaDimension : uint8_t { kRequestsPerMinute, kTokensPerMinute, kTokensPerDay };

// The path a resolved model id takes: no profile = on-demand, "global" = global, else cross-region.
QuotaPath PathOf(const bedrock::ResolvedModel& model);

// "on_demand", "cross_region", "global" / "requests_per_minute", "tokens_per_minute",
// "tokens_per_day".
std::string_view QuotaPathName(QuotaPath path);
std::string_view QuotaDimensionName(QuotaDimension dimension);

// One Service Quotas entry (bedrock-wire.md section 6).
struct QuotaEntry {
  std::string code;  // "L-2DC80978"
  std::string name;  // "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku"
  std::string description;  // Service Quotas' Description (at most 350 characters)
  const bedrock::ModelInfo* model = nullptr;
  // The path of an RPM or TPM entry; a tokens-per-day entry covers every path of its model and
  // carries its primary path.
  QuotaPath path = QuotaPath::kOnDemand;
  QuotaDimension dimension = QuotaDimension::kTokensPerMinute;
  double default_value = 0;  // QuotaOptions' default for the path (no overrides, no increase)
  double value = 0;          // applied in the region asked for
  bool adjustable = true;
  std::string unit = "None";
  int period_minutes = 1;  // 1 or 1440 (Period{PeriodValue, PeriodUnit})
};

class QuotaTable {
 public:
  // REQUIRES: `catalog` outlives the table. The options are copied.
  QuotaTable(const QuotaOptions& options, const bedrock::ModelCatalog& catalog);
  QuotaTable(const QuotaTable&) = delete;
  QuotaTable& operator=(const QuotaTable&) = delete;

  // The quotas a request for `model` in `region` is charged against (defaults for its path,
  // overrides, approved increases), each clamped into what Validate(KeyQuota) accepts (TPM at
  // least 1). tokens_per_day is always set (0 = not enforced). The key in the books is
  // "<region>/<model.QuotaId()>". REQUIRES: `model` was resolved against this table's catalog.
  KeyQuota QuotaFor(std::string_view region, const bedrock::ResolvedModel& model) const;

  // Every entry with its value in `region`, in a stable order (catalog order, then path, then
  // dimension, the model's tokens-per-day entry last), for ListServiceQuotas /
  // ListAWSDefaultServiceQuotas.
  std::vector<QuotaEntry> Entries(std::string_view region) const;
  std::optional<QuotaEntry> Find(std::string_view region, std::string_view code) const;

  // Applies an approved increase: `code`'s value in `region` becomes `value`, and every listener
  // is told the region changed. NotFound for an unknown code; InvalidArgument unless `value` is
  // finite and >= 0.
  Status SetValue(std::string_view region, std::string_view code, double value);
  // Called (outside the table's lock, on the thread that called SetValue) after each SetValue with
  // the region it changed. A listener may call back into the table.
  void OnChange(std::function<void(std::string_view region)> listener);

  size_t size() const { return slots_.size(); }

 private:
  // An entry without its per-region values. Immutable after construction.
  struct Slot {
    std::string code;
    std::string name;
    std::string description;
    const bedrock::ModelInfo* model = nullptr;
    QuotaPath path = QuotaPath::kOnDemand;
    QuotaDimension dimension = QuotaDimension::kTokensPerMinute;
  };
  // Where a model's entries are in slots_; npos where the model lacks the path.
  struct ModelSlots {
    static constexpr size_t npos = static_cast<size_t>(-1);
    size_t rpm[3] = {npos, npos, npos};  // by QuotaPath
    size_t tpm[3] = {npos, npos, npos};
    size_t tpd = npos;
    QuotaPath primary = QuotaPath::kOnDemand;
  };
  // A QuotaOverride with its model id parsed once.
  struct ParsedOverride {
    const QuotaOverride* spec = nullptr;  // points into options_.overrides
    bool any_model = false;
    std::string base_id;  // the model the override names (empty when any_model)
    QuotaPath path = QuotaPath::kOnDemand;
  };

  const ModelSlots& SlotsOf(const bedrock::ModelInfo& model) const;
  // The path's default with the matching overrides folded in (no increases).
  PathQuota Configured(const bedrock::ModelInfo& model, QuotaPath path,
                       std::string_view region) const;
  // The slot's value without an increase: with overrides when `region` is set, else the default.
  double BaseValue(const Slot& slot, const std::optional<std::string_view>& region) const;
  // The approved increase of slot `index` in `region`, if any. REQUIRES: mu_ held.
  std::optional<double> AppliedLocked(std::string_view region, size_t index) const;
  QuotaEntry MakeEntry(std::string_view region, size_t index) const;  // REQUIRES: mu_ held

  const QuotaOptions options_;
  const bedrock::ModelCatalog& catalog_;
  std::vector<ParsedOverride> overrides_;
  std::vector<Slot> slots_;
  std::vector<ModelSlots> model_slots_;  // by position in catalog_.models()
  std::map<std::string, size_t, std::less<>> by_code_;

  mutable std::mutex mu_;
  // region -> slot index -> approved value.
  std::map<std::string, std::map<size_t, double>, std::less<>> applied_;  // GUARDED_BY(mu_)
  std::vector<std::function<void(std::string_view)>> listeners_;          // GUARDED_BY(mu_)
};

}  // namespace quotaflow::emulator
