#include "emulator/quota_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace quotaflow::emulator {
namespace {

constexpr std::string_view kHaiku3 = "anthropic.claude-3-haiku-20240307-v1:0";
constexpr std::string_view kSonnet4 = "anthropic.claude-sonnet-4-20250514-v1:0";
constexpr std::string_view kSonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";
constexpr std::string_view kTitanExpress = "amazon.titan-text-express-v1";
constexpr int64_t kDay = kPeriodsPerDay;

// An override for `region` and `model` (GCC warns on designated initializers that skip fields).
struct OverrideBuilder {
  QuotaOverride o;
  OverrideBuilder(std::string region, std::string model) {
    o.region = std::move(region);
    o.model = std::move(model);
  }
  OverrideBuilder& Tpm(int64_t v) {
    o.tokens_per_minute = v;
    return *this;
  }
  OverrideBuilder& Rpm(int64_t v) {
    o.requests_per_minute = v;
    return *this;
  }
  OverrideBuilder& Concurrency(int64_t v) {
    o.max_concurrency = v;
    return *this;
  }
  OverrideBuilder& Tpd(int64_t v) {
    o.tokens_per_day = v;
    return *this;
  }
  operator QuotaOverride() const { return o; }  // NOLINT(google-explicit-constructor): a builder
};

const bedrock::ModelCatalog& Catalog() { return bedrock::ModelCatalog::Default(); }

bedrock::ResolvedModel Resolve(std::string_view id) {
  auto resolved = Catalog().Resolve(id);
  EXPECT_TRUE(resolved.has_value()) << id;
  return *resolved;
}

std::string Profile(std::string_view prefix, std::string_view id) {
  return std::string(prefix) + "." + std::string(id);
}

const QuotaEntry* FindEntry(const std::vector<QuotaEntry>& entries, std::string_view model_id,
                            QuotaPath path, QuotaDimension dimension) {
  for (const QuotaEntry& e : entries) {
    if (e.model->id == model_id && e.dimension == dimension &&
        (dimension == QuotaDimension::kTokensPerDay || e.path == path)) {
      return &e;
    }
  }
  return nullptr;
}

std::string CodeOf(const QuotaTable& table, std::string_view model_id, QuotaPath path,
                   QuotaDimension dimension) {
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  const QuotaEntry* e = FindEntry(entries, model_id, path, dimension);
  EXPECT_NE(e, nullptr) << model_id;
  return e == nullptr ? "" : e->code;
}

TEST(QuotaTableTest, ModelsWithAnOnDemandPathCarryClassicNames) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  EXPECT_EQ(
      FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute)->name,
      "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
  EXPECT_EQ(FindEntry(entries, kHaiku3, QuotaPath::kCrossRegion, QuotaDimension::kRequestsPerMinute)
                ->name,
            "Cross-region model inference requests per minute for Anthropic Claude 3 Haiku");
  EXPECT_EQ(FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerDay)->name,
            "Model invocation max tokens per day for Anthropic Claude 3 Haiku (doubled for "
            "cross-region calls)");
  EXPECT_EQ(FindEntry(entries, "amazon.nova-micro-v1:0", QuotaPath::kOnDemand,
                      QuotaDimension::kTokensPerMinute)
                ->name,
            "On-demand model inference tokens per minute for Amazon Nova Micro");
  EXPECT_EQ(FindEntry(entries, "mistral.mistral-7b-instruct-v0:2", QuotaPath::kOnDemand,
                      QuotaDimension::kTokensPerMinute)
                ->name,
            "On-demand model inference tokens per minute for Mistral AI Mistral 7B Instruct");
}

TEST(QuotaTableTest, ProfileOnlyModelsCarryCurrentNames) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  EXPECT_EQ(FindEntry(entries, kSonnet45, QuotaPath::kCrossRegion, QuotaDimension::kTokensPerMinute)
                ->name,
            "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5");
  EXPECT_EQ(
      FindEntry(entries, kSonnet45, QuotaPath::kGlobal, QuotaDimension::kRequestsPerMinute)->name,
      "Global Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4.5");
  EXPECT_EQ(FindEntry(entries, kSonnet45, QuotaPath::kGlobal, QuotaDimension::kTokensPerDay)->name,
            "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5");
  EXPECT_EQ(FindEntry(entries, "amazon.nova-premier-v1:0", QuotaPath::kCrossRegion,
                      QuotaDimension::kTokensPerMinute)
                ->name,
            "Cross-Region InvokeModel tokens per minute for Amazon Nova Premier");
}

TEST(QuotaTableTest, EveryListingShowsBothNamingGenerations) {
  QuotaTable table(QuotaOptions{}, Catalog());
  int classic = 0, current = 0;
  for (const QuotaEntry& e : table.Entries("eu-west-1")) {
    if (e.name.find("model inference") != std::string::npos) ++classic;
    if (e.name.find("InvokeModel") != std::string::npos) ++current;
  }
  EXPECT_GT(classic, 0);
  EXPECT_GT(current, 0);
}

TEST(QuotaTableTest, ModelsGetOneEntryPerPathAndMinuteDimensionPlusOneDaily) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  auto count = [&](std::string_view id) {
    return std::count_if(entries.begin(), entries.end(),
                         [&](const QuotaEntry& e) { return e.model->id == id; });
  };
  EXPECT_EQ(count(kTitanExpress), 3);  // on-demand only
  EXPECT_EQ(count(kHaiku3), 5);        // on-demand and cross-region
  EXPECT_EQ(count(kSonnet45), 5);      // cross-region and global, no on-demand
  EXPECT_EQ(FindEntry(entries, kSonnet45, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute),
            nullptr);
  EXPECT_EQ(
      FindEntry(entries, kTitanExpress, QuotaPath::kCrossRegion, QuotaDimension::kTokensPerMinute),
      nullptr);
  size_t expected = 0;
  for (const bedrock::ModelInfo& model : Catalog().models()) expected += count(model.id);
  EXPECT_EQ(entries.size(), expected);
  EXPECT_EQ(table.size(), entries.size());
}

TEST(QuotaTableTest, ModelsInTheWireReferenceHaveTheirRealCodes) {
  QuotaTable table(QuotaOptions{}, Catalog());
  struct Known {
    std::string_view model;
    QuotaPath path;
    QuotaDimension dimension;
    std::string_view code;
  };
  constexpr auto kRpm = QuotaDimension::kRequestsPerMinute;
  constexpr auto kTpm = QuotaDimension::kTokensPerMinute;
  const Known known[] = {
      {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kOnDemand, kRpm, "L-254CACF4"},
      {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kOnDemand, kTpm, "L-A50569E5"},
      {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kCrossRegion, kRpm, "L-F457545D"},
      {"anthropic.claude-3-5-sonnet-20240620-v1:0", QuotaPath::kCrossRegion, kTpm, "L-479B647F"},
      {"anthropic.claude-3-5-sonnet-20241022-v2:0", QuotaPath::kCrossRegion, kRpm, "L-1D3E59A3"},
      {"anthropic.claude-3-5-sonnet-20241022-v2:0", QuotaPath::kCrossRegion, kTpm, "L-FF8B4E28"},
      {"anthropic.claude-3-7-sonnet-20250219-v1:0", QuotaPath::kCrossRegion, kRpm, "L-3D8CC480"},
      {"anthropic.claude-3-7-sonnet-20250219-v1:0", QuotaPath::kCrossRegion, kTpm, "L-6E888CC2"},
      {kSonnet4, QuotaPath::kCrossRegion, kRpm, "L-559DCC33"},
      {kSonnet4, QuotaPath::kCrossRegion, kTpm, "L-59759B4A"},
      {kSonnet4, QuotaPath::kCrossRegion, QuotaDimension::kTokensPerDay, "L-22F701C5"},
      {kSonnet45, QuotaPath::kCrossRegion, kRpm, "L-4A6BFAB1"},
      {kSonnet45, QuotaPath::kCrossRegion, kTpm, "L-F4DDD3EB"},
      {kSonnet45, QuotaPath::kGlobal, kRpm, "L-DB84CE56"},
      {kSonnet45, QuotaPath::kGlobal, kTpm, "L-27C57EE8"},
      {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kCrossRegion, kRpm, "L-CCA5DF70"},
      {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kCrossRegion, kTpm, "L-58BE175A"},
      {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kGlobal, kRpm, "L-E5084BBA"},
      {"anthropic.claude-haiku-4-5-20251001-v1:0", QuotaPath::kGlobal, kTpm, "L-9A11C666"},
      {kHaiku3, QuotaPath::kOnDemand, kRpm, "L-2DC80978"},
      {kHaiku3, QuotaPath::kOnDemand, kTpm, "L-8CE99163"},
      {"amazon.nova-micro-v1:0", QuotaPath::kOnDemand, kTpm, "L-CFA4FA0D"},
  };
  for (const Known& k : known) {
    EXPECT_EQ(CodeOf(table, k.model, k.path, k.dimension), k.code) << k.model;
    std::optional<QuotaEntry> found = table.Find("us-east-1", k.code);
    ASSERT_TRUE(found.has_value()) << k.code;
    EXPECT_EQ(found->model->id, k.model);
  }
  EXPECT_EQ(table.Find("us-east-1", "L-8CE99163")->name,
            "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku");
}

TEST(QuotaTableTest, CodesAreUniqueAndShapedLikeAwsCodes) {
  QuotaTable table(QuotaOptions{}, Catalog());
  // "L-" and 8 uppercase hex digits (no std::regex: GCC 12 -O2 warns inside it).
  auto shape_ok = [](const std::string& code) {
    if (code.size() != 10 || !code.starts_with("L-")) return false;
    return std::all_of(code.begin() + 2, code.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
  };
  std::set<std::string> codes;
  for (const QuotaEntry& e : table.Entries("us-east-1")) {
    EXPECT_TRUE(shape_ok(e.code)) << e.code;
    EXPECT_TRUE(codes.insert(e.code).second) << "duplicate " << e.code << " for " << e.name;
  }
}

TEST(QuotaTableTest, HashedCodesAreStableAcrossTablesAndOptions) {
  QuotaOptions other;
  other.on_demand.tokens_per_minute = 7;
  other.overrides.push_back(OverrideBuilder("*", "*").Tpm(9));
  QuotaTable a(QuotaOptions{}, Catalog());
  QuotaTable b(other, Catalog());
  const std::vector<QuotaEntry> ea = a.Entries("us-east-1");
  const std::vector<QuotaEntry> eb = b.Entries("ap-northeast-1");
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_EQ(ea[i].code, eb[i].code);
  // Pinned: a code clients have stored must not change with a refactoring.
  EXPECT_EQ(
      CodeOf(a, "amazon.nova-lite-v1:0", QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute),
      "L-EEA6F5DC");
}

TEST(QuotaTableTest, EntriesDescribeThemselvesWithinServiceQuotasLimits) {
  QuotaTable table(QuotaOptions{}, Catalog());
  for (const QuotaEntry& e : table.Entries("us-east-1")) {
    EXPECT_FALSE(e.description.empty()) << e.name;
    EXPECT_LE(e.description.size(), 350u) << e.name;
    EXPECT_EQ(e.unit, "None");
    const bool daily = e.dimension == QuotaDimension::kTokensPerDay;
    EXPECT_EQ(e.adjustable, !daily) << e.name;
    EXPECT_EQ(e.period_minutes, daily ? 1440 : 1) << e.name;
  }
}

TEST(QuotaTableTest, DefaultsComeFromThePathOfTheRequest) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const KeyQuota on_demand = table.QuotaFor("us-east-1", Resolve(kHaiku3));
  EXPECT_EQ(on_demand.tokens_per_period, 400'000);
  EXPECT_EQ(on_demand.requests_per_period, 0);
  EXPECT_EQ(on_demand.max_concurrency, 0);
  EXPECT_EQ(on_demand.tokens_per_day, 400'000 * kDay);

  const KeyQuota cross = table.QuotaFor("us-east-1", Resolve(Profile("us", kSonnet45)));
  EXPECT_EQ(cross.tokens_per_period, 800'000);
  EXPECT_EQ(cross.tokens_per_day, 800'000 * kDay * 2);

  const KeyQuota global = table.QuotaFor("us-east-1", Resolve(Profile("global", kSonnet45)));
  EXPECT_EQ(global.tokens_per_period, 1'000'000);
  EXPECT_EQ(global.tokens_per_day, 1'000'000 * kDay * 2);
}

TEST(QuotaTableTest, ListedValuesAreTheConfiguredOnes) {
  QuotaOptions options;
  options.cross_region.requests_per_minute = 250;
  QuotaTable table(options, Catalog());
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  EXPECT_EQ(
      FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute)->value,
      400'000);
  EXPECT_EQ(FindEntry(entries, kHaiku3, QuotaPath::kCrossRegion, QuotaDimension::kRequestsPerMinute)
                ->value,
            250);
  // RPM is listed even where it is not enforced, with the value 0.
  EXPECT_EQ(
      FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kRequestsPerMinute)->value,
      0);
  // The daily quota shows the primary path's un-doubled figure: on-demand for Claude 3 Haiku,
  // cross-region for the profile-only Claude Sonnet 4.5.
  EXPECT_EQ(FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerDay)->value,
            400'000.0 * kDay);
  EXPECT_EQ(
      FindEntry(entries, kSonnet45, QuotaPath::kOnDemand, QuotaDimension::kTokensPerDay)->value,
      800'000.0 * kDay);
}

TEST(QuotaTableTest, OverridesApplyInOrderAndLaterOnesWin) {
  QuotaOptions options;
  options.overrides = {
      OverrideBuilder("*", "*").Tpm(100),
      OverrideBuilder("us-east-1", std::string(kHaiku3)).Tpm(200),
      OverrideBuilder("us-east-1", Profile("us", kHaiku3)).Tpm(300).Concurrency(4),
      OverrideBuilder("*", std::string(kHaiku3)).Rpm(5),
      OverrideBuilder("eu-west-1", "*").Tpm(50),
  };
  QuotaTable table(options, Catalog());
  // Region- and model-specific beats the earlier "*".
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).tokens_per_period, 200);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).requests_per_period, 5);
  EXPECT_EQ(table.QuotaFor("us-west-2", Resolve(kHaiku3)).tokens_per_period, 100);
  // A later "*" beats an earlier specific one.
  EXPECT_EQ(table.QuotaFor("eu-west-1", Resolve(kHaiku3)).tokens_per_period, 50);
  // A profile id sets the model's one cross-region quota, whatever geo calls it.
  const KeyQuota us = table.QuotaFor("us-east-1", Resolve(Profile("us", kHaiku3)));
  const KeyQuota eu = table.QuotaFor("us-east-1", Resolve(Profile("eu", kHaiku3)));
  EXPECT_EQ(us.tokens_per_period, 300);
  EXPECT_EQ(us.max_concurrency, 4);
  EXPECT_EQ(eu.tokens_per_period, 300);
  // The base-id RPM override is the on-demand path's only.
  EXPECT_EQ(us.requests_per_period, 0);
  // ... and neither touches the global path of another model.
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(Profile("global", kSonnet45))).tokens_per_period,
            100);
}

TEST(QuotaTableTest, ListingShowsOverridesAsAppliedValuesAndKeepsAwsDefaults) {
  QuotaOptions options;
  options.overrides = {OverrideBuilder("us-east-1", std::string(kHaiku3)).Tpm(20'000)};
  QuotaTable table(options, Catalog());
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute);
  EXPECT_EQ(table.Find("us-east-1", code)->value, 20'000);
  EXPECT_EQ(table.Find("us-east-1", code)->default_value, 400'000);
  EXPECT_EQ(table.Find("us-west-2", code)->value, 400'000);
}

TEST(QuotaTableTest, ExplicitDailyQuotaIsEnforcedAsGivenAndListedUndoubled) {
  QuotaOptions options;
  options.cross_region.tokens_per_day = 1'000'000;
  options.overrides = {OverrideBuilder("*", std::string(kHaiku3)).Tpd(3'000)};
  QuotaTable table(options, Catalog());
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(Profile("us", kSonnet45))).tokens_per_day,
            1'000'000);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).tokens_per_day, 3'000);
  const std::vector<QuotaEntry> entries = table.Entries("us-east-1");
  EXPECT_EQ(
      FindEntry(entries, kSonnet45, QuotaPath::kOnDemand, QuotaDimension::kTokensPerDay)->value,
      500'000);
  EXPECT_EQ(FindEntry(entries, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerDay)->value,
            3'000);
}

TEST(QuotaTableTest, ApprovedDailyIncreaseIsDoubledForProfileCalls) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::string code =
      CodeOf(table, kSonnet4, QuotaPath::kCrossRegion, QuotaDimension::kTokensPerDay);
  ASSERT_TRUE(table.SetValue("us-east-1", code, 5'000'000));
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(Profile("us", kSonnet4))).tokens_per_day,
            10'000'000);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(Profile("global", kSonnet4))).tokens_per_day,
            10'000'000);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).tokens_per_day, 400'000 * kDay);
}

TEST(QuotaTableTest, SetValueChangesOnlyThatRegionsAppliedValue) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::string code =
      CodeOf(table, kSonnet45, QuotaPath::kGlobal, QuotaDimension::kTokensPerMinute);
  ASSERT_TRUE(table.SetValue("us-west-2", code, 3'000'000));
  EXPECT_EQ(table.Find("us-west-2", code)->value, 3'000'000);
  EXPECT_EQ(table.Find("us-west-2", code)->default_value, 1'000'000);
  EXPECT_EQ(table.Find("us-east-1", code)->value, 1'000'000);
  EXPECT_EQ(table.QuotaFor("us-west-2", Resolve(Profile("global", kSonnet45))).tokens_per_period,
            3'000'000);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(Profile("global", kSonnet45))).tokens_per_period,
            1'000'000);
  // The cross-region path of the same model is a different quota.
  EXPECT_EQ(table.QuotaFor("us-west-2", Resolve(Profile("us", kSonnet45))).tokens_per_period,
            800'000);
  // A TPM increase leaves the daily quota where it was.
  EXPECT_EQ(table.QuotaFor("us-west-2", Resolve(Profile("global", kSonnet45))).tokens_per_day,
            1'000'000 * kDay * 2);
}

TEST(QuotaTableTest, IncreasedRequestsPerMinuteStartsBeingEnforced) {
  QuotaTable table(QuotaOptions{}, Catalog());
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kRequestsPerMinute);
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).requests_per_period, 0);
  ASSERT_TRUE(table.SetValue("us-east-1", code, 60));
  EXPECT_EQ(table.QuotaFor("us-east-1", Resolve(kHaiku3)).requests_per_period, 60);
}

TEST(QuotaTableTest, SetValueTellsListenersOutsideTheLock) {
  QuotaTable table(QuotaOptions{}, Catalog());
  std::vector<std::string> regions;
  int64_t seen_tpm = 0;
  table.OnChange([&](std::string_view region) {
    regions.emplace_back(region);
    // Calling back into the table from a listener must not deadlock.
    seen_tpm = table.QuotaFor(region, Resolve(kHaiku3)).tokens_per_period;
  });
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute);
  ASSERT_TRUE(table.SetValue("ca-central-1", code, 450'000));
  EXPECT_EQ(regions, std::vector<std::string>{"ca-central-1"});
  EXPECT_EQ(seen_tpm, 450'000);
}

TEST(QuotaTableTest, SetValueRefusesUnknownCodesAndBadValues) {
  QuotaTable table(QuotaOptions{}, Catalog());
  int calls = 0;
  table.OnChange([&](std::string_view) { ++calls; });
  auto unknown = table.SetValue("us-east-1", "L-00000000", 1);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute);
  auto negative = table.SetValue("us-east-1", code, -1);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(table.SetValue("us-east-1", code, std::nan("")));
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(table.Find("us-east-1", "L-00000000").has_value());
}

TEST(QuotaTableTest, QuotaForAlwaysSatisfiesTheBooks) {
  QuotaOptions options;
  options.overrides = {OverrideBuilder("*", "*").Tpm(0)};
  QuotaTable table(options, Catalog());
  for (const bedrock::ModelInfo& model : Catalog().models()) {
    std::vector<std::string> ids;
    if (model.on_demand) ids.push_back(model.id);
    for (const std::string& prefix : model.profiles) ids.push_back(model.ProfileId(prefix));
    for (const std::string& id : ids) {
      const KeyQuota quota = table.QuotaFor("us-east-1", Resolve(id));
      EXPECT_TRUE(Validate(quota)) << id;
      EXPECT_EQ(quota.tokens_per_period, 1) << id;  // a TPM of 0 is clamped, not rejected
      EXPECT_TRUE(quota.tokens_per_day.has_value());
    }
  }
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute);
  ASSERT_TRUE(table.SetValue("us-east-1", code, 1e10));
  EXPECT_TRUE(Validate(table.QuotaFor("us-east-1", Resolve(kHaiku3))));
}

TEST(QuotaTableTest, PathOfFollowsTheProfilePrefix) {
  EXPECT_EQ(PathOf(Resolve(kHaiku3)), QuotaPath::kOnDemand);
  EXPECT_EQ(PathOf(Resolve(Profile("apac", kHaiku3))), QuotaPath::kCrossRegion);
  EXPECT_EQ(PathOf(Resolve(Profile("global", kSonnet45))), QuotaPath::kGlobal);
}

TEST(QuotaTableTest, ConcurrentIncreasesAndLookupsAreSafe) {
  QuotaTable table(QuotaOptions{}, Catalog());
  std::atomic<int> notified{0};
  table.OnChange([&](std::string_view) { notified.fetch_add(1); });
  const std::string code =
      CodeOf(table, kHaiku3, QuotaPath::kOnDemand, QuotaDimension::kTokensPerMinute);
  const bedrock::ResolvedModel haiku = Resolve(kHaiku3);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (t % 2 == 0) {
          ASSERT_TRUE(table.SetValue("us-east-1", code, 500'000 + i));
        } else {
          const int64_t tpm = table.QuotaFor("us-east-1", haiku).tokens_per_period;
          ASSERT_TRUE(tpm == 400'000 || (tpm >= 500'000 && tpm < 500'200)) << tpm;
          ASSERT_EQ(table.Entries("us-east-1").size(), table.size());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(notified.load(), 400);
}

}  // namespace
}  // namespace quotaflow::emulator
