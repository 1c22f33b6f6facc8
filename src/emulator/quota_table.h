#pragma once
// The account's Bedrock quotas as Service Quotas knows them, per region: one entry per model and
// path (on-demand, cross-region, global) and dimension (requests per minute, tokens per minute,
// tokens per day), with Bedrock's real names (both naming generations) and `L-` codes. It is the
// one source of the values the runtime's QuotaBooks enforce, so an approved increase changes the
// live quota.
//
// Thread safety: every method is safe from many threads (one mutex; listeners run outside it).

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "emulator/options.h"
#include "emulator/quota_books.h"

namespace quotaflow::emulator {

enum class QuotaPath : uint8_t { kOnDemand, kCrossRegion, kGlobal };
enum class QuotaDimension : uint8_t { kRequestsPerMinute, kTokensPerMinute, kTokensPerDay };

// The path a resolved model id takes: no profile = on-demand, "global" = global, else cross-region.
QuotaPath PathOf(const bedrock::ResolvedModel& model);

// One Service Quotas entry (bedrock-wire.md section 6).
struct QuotaEntry {
  std::string code;  // "L-2DC80978"
  std::string name;  // "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku"
  const bedrock::ModelInfo* model = nullptr;
  QuotaPath path = QuotaPath::kOnDemand;
  QuotaDimension dimension = QuotaDimension::kTokensPerMinute;
  double default_value = 0;
  double value = 0;  // applied in the region asked for
  bool adjustable = true;
  std::string unit = "None";
  int period_minutes = 1;  // 1 or 1440 (Period{PeriodValue, PeriodUnit})
};

class QuotaTable {
 public:
  // REQUIRES: `catalog` outlives the table.
  QuotaTable(const QuotaOptions& options, const bedrock::ModelCatalog& catalog);

  // The quotas a request for `model` in `region` is charged against (defaults for its path,
  // overrides, approved increases). The key in the books is "<region>/<model.QuotaId()>".
  KeyQuota QuotaFor(std::string_view region, const bedrock::ResolvedModel& model) const;

  // Every entry with its value in `region`, in a stable order (catalog order, then path, then
  // dimension), for ListServiceQuotas / ListAWSDefaultServiceQuotas.
  std::vector<QuotaEntry> Entries(std::string_view region) const;
  std::optional<QuotaEntry> Find(std::string_view region, std::string_view code) const;

  // Applies an approved increase: `code`'s value in `region` becomes `value`, and every listener
  // is told the region changed. NotFound for an unknown code.
  Status SetValue(std::string_view region, std::string_view code, double value);
  // Called (outside the table's lock) after each SetValue with the region it changed.
  void OnChange(std::function<void(std::string_view region)> listener);

 private:
  // (implementation-defined)
};

}  // namespace quotaflow::emulator
