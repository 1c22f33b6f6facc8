// The quota-name matcher: table tests over hand-written names in both generations, and a sweep of
// every model and path of the emulator's real listing (fetched over HTTP with
// ServiceQuotasClient), checked against the emulator's own structured table as an independent
// oracle.
#include "bedrock/quota_match.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "bedrock/control_test_util.h"
#include "bedrock/model_catalog.h"
#include "bedrock/service_quotas_client.h"
#include "emulator/quota_table.h"

namespace quotaflow::bedrock {
namespace {

using ::testing::HasSubstr;

ServiceQuota Quota(std::string code, std::string name, double value,
                   QuotaValueSource source = QuotaValueSource::kApplied) {
  ServiceQuota q;
  q.code = std::move(code);
  q.name = std::move(name);
  q.value = value;
  q.source = source;
  q.adjustable = true;
  if (source == QuotaValueSource::kDefault) q.default_value = value;
  return q;
}

const ModelInfo& Model(std::string_view id) {
  const ModelInfo* model = ModelCatalog::Default().Find(id);
  EXPECT_NE(model, nullptr) << id;
  return *model;
}

// --- ParseQuotaName ---

struct NameCase {
  std::string name;
  QuotaDimension dimension;
  std::optional<InferencePath> path;
  QuotaNaming naming;
  std::string model;
};

class ParseQuotaNameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(ParseQuotaNameTest, ReadsDimensionPathGenerationAndModel) {
  const NameCase& c = GetParam();
  std::optional<QuotaNameParts> parts = ParseQuotaName(c.name);
  ASSERT_TRUE(parts.has_value()) << c.name;
  EXPECT_EQ(parts->dimension, c.dimension) << c.name;
  EXPECT_EQ(parts->path, c.path) << c.name;
  EXPECT_EQ(parts->naming, c.naming) << c.name;
  EXPECT_EQ(parts->model, c.model) << c.name;
}

constexpr auto kRpm = QuotaDimension::kRequestsPerMinute;
constexpr auto kTpm = QuotaDimension::kTokensPerMinute;
constexpr auto kTpd = QuotaDimension::kTokensPerDay;
constexpr auto kOnDemand = InferencePath::kOnDemand;
constexpr auto kCross = InferencePath::kCrossRegion;
constexpr auto kGlobal = InferencePath::kGlobal;
constexpr auto kClassic = QuotaNaming::kClassic;
constexpr auto kCurrent = QuotaNaming::kCurrent;

INSTANTIATE_TEST_SUITE_P(
    BothGenerations, ParseQuotaNameTest,
    ::testing::Values(
        NameCase{"On-demand model inference requests per minute for Anthropic Claude 3 Haiku", kRpm,
                 kOnDemand, kClassic, "Anthropic Claude 3 Haiku"},
        NameCase{"On-demand model inference tokens per minute for Amazon Nova Micro", kTpm,
                 kOnDemand, kClassic, "Amazon Nova Micro"},
        NameCase{
            "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
            kTpm, kCross, kClassic, "Anthropic Claude 3.7 Sonnet V1"},
        NameCase{"Global cross-region model inference requests per minute for Anthropic Claude "
                 "Sonnet 4.5",
                 kRpm, kGlobal, kClassic, "Anthropic Claude Sonnet 4.5"},
        NameCase{"Global cross-region model inference tokens per day for Anthropic Claude Sonnet 4",
                 kTpd, kGlobal, kClassic, "Anthropic Claude Sonnet 4"},
        NameCase{"Model invocation max tokens per day for Anthropic Claude 3 Haiku (doubled for "
                 "cross-region calls)",
                 kTpd, std::nullopt, kClassic, "Anthropic Claude 3 Haiku"},
        NameCase{"On-demand InvokeModel tokens per minute for Meta Llama 3.3 70B Instruct", kTpm,
                 kOnDemand, kCurrent, "Meta Llama 3.3 70B Instruct"},
        NameCase{"Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4", kRpm,
                 kCross, kCurrent, "Anthropic Claude Sonnet 4"},
        NameCase{"Global Cross-Region InvokeModel tokens per minute for Anthropic Claude Haiku 4.5",
                 kTpm, kGlobal, kCurrent, "Anthropic Claude Haiku 4.5"},
        NameCase{"Model invocation max tokens per day for Anthropic Claude Opus 4", kTpd,
                 std::nullopt, kCurrent, "Anthropic Claude Opus 4"},
        // Casing, spacing and hyphenation vary between Regions and doc revisions.
        NameCase{"CROSS-REGION invokemodel TOKENS per minute for anthropic claude sonnet 4", kTpm,
                 kCross, kCurrent, "anthropic claude sonnet 4"},
        NameCase{"Cross region model inference tokens  per minute FOR Claude 3 Haiku ", kTpm,
                 kCross, kClassic, "Claude 3 Haiku"},
        NameCase{"On-Demand Invoke Model requests per minute for Cohere Command R", kRpm, kOnDemand,
                 kCurrent, "Cohere Command R"},
        NameCase{"Model Invocation Max Tokens Per Day for Amazon Nova Pro (Doubled For "
                 "Cross-Region Calls)",
                 kTpd, std::nullopt, kClassic, "Amazon Nova Pro"}));

TEST(ParseQuotaName, OtherQuotasAreNotModelQuotas) {
  for (std::string_view name : {
           "Cross-Model Max Tokens Per Day",
           "Batch inference job size (in GB)",
           "On-demand model inference concurrent requests for Anthropic Claude 3 Haiku",
           "Cross-region model inference tokens per hour for Anthropic Claude 3 Haiku",
           "On-demand model inference tokens per minute for ",
           "Model units per provisioned model for Anthropic Claude 3 Haiku",
           "",
       }) {
    EXPECT_FALSE(ParseQuotaName(name).has_value()) << name;
  }
}

// --- ModelNameMatches ---

TEST(ModelNameMatches, ToleratesCaseProviderAndAnExplicitV1) {
  const ModelInfo& haiku = Model("anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_TRUE(ModelNameMatches(haiku, "Anthropic Claude 3 Haiku"));
  EXPECT_TRUE(ModelNameMatches(haiku, "Claude 3 Haiku"));
  EXPECT_TRUE(ModelNameMatches(haiku, "anthropic  claude 3 HAIKU"));
  EXPECT_TRUE(ModelNameMatches(haiku, "Anthropic Claude 3 Haiku V1"));
  EXPECT_FALSE(ModelNameMatches(haiku, "Anthropic Claude 3.5 Haiku"));
  EXPECT_FALSE(ModelNameMatches(haiku, "Meta Claude 3 Haiku"));
  EXPECT_FALSE(ModelNameMatches(haiku, "Anthropic Claude 3 Haiku V2"));

  // The catalog name already carries the provider: the quota may or may not.
  const ModelInfo& micro = Model("amazon.nova-micro-v1:0");
  EXPECT_TRUE(ModelNameMatches(micro, "Amazon Nova Micro"));
  EXPECT_TRUE(ModelNameMatches(micro, "Nova Micro"));
  EXPECT_FALSE(ModelNameMatches(micro, "Amazon Amazon Nova Micro V2"));

  const ModelInfo& mistral = Model("mistral.mistral-7b-instruct-v0:2");
  EXPECT_TRUE(ModelNameMatches(mistral, "Mistral AI Mistral 7B Instruct"));
  EXPECT_TRUE(ModelNameMatches(mistral, "Mistral Mistral 7B Instruct"));
  EXPECT_TRUE(ModelNameMatches(mistral, "Mistral 7B Instruct"));

  EXPECT_TRUE(ModelNameMatches(Model("ai21.jamba-1-5-mini-v1:0"), "AI21 Labs Jamba 1.5 Mini"));
  EXPECT_TRUE(
      ModelNameMatches(Model("amazon.titan-text-express-v1"), "Amazon Titan Text G1 - Express"));
}

TEST(ModelNameMatches, AVersionedSiblingIsAnotherModel) {
  const ModelInfo& v1 = Model("anthropic.claude-3-5-sonnet-20240620-v1:0");
  const ModelInfo& v2 = Model("anthropic.claude-3-5-sonnet-20241022-v2:0");
  EXPECT_TRUE(ModelNameMatches(v1, "Anthropic Claude 3.5 Sonnet"));
  EXPECT_TRUE(ModelNameMatches(v1, "Anthropic Claude 3.5 Sonnet V1"));
  EXPECT_FALSE(ModelNameMatches(v1, "Anthropic Claude 3.5 Sonnet V2"));
  EXPECT_TRUE(ModelNameMatches(v2, "Anthropic Claude 3.5 Sonnet V2"));
  EXPECT_FALSE(ModelNameMatches(v2, "Anthropic Claude 3.5 Sonnet"));
  // Neither a prefix nor a suffix is enough.
  EXPECT_FALSE(ModelNameMatches(Model("cohere.command-r-v1:0"), "Cohere Command R+"));
  EXPECT_FALSE(ModelNameMatches(Model("cohere.command-r-plus-v1:0"), "Cohere Command R"));
}

// --- MergeQuotas ---

TEST(MergeQuotas, AppliedValuesOverDefaultsInTheDefaultsOrder) {
  const std::vector<ServiceQuota> defaults = {
      Quota("L-A", "a", 10, QuotaValueSource::kDefault),
      Quota("L-B", "b", 20, QuotaValueSource::kDefault),
      Quota("L-C", "c", 30, QuotaValueSource::kDefault),
  };
  const std::vector<ServiceQuota> applied = {Quota("L-Z", "z", 5), Quota("L-B", "b", 25)};
  const std::vector<ServiceQuota> merged = MergeQuotas(applied, defaults);
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[0].code, "L-A");
  EXPECT_EQ(merged[0].source, QuotaValueSource::kDefault);
  EXPECT_EQ(merged[0].value, 10);
  EXPECT_EQ(merged[0].default_value, 10);
  EXPECT_EQ(merged[1].code, "L-B");
  EXPECT_EQ(merged[1].source, QuotaValueSource::kApplied);
  EXPECT_EQ(merged[1].value, 25);
  EXPECT_EQ(merged[1].default_value, 20);
  EXPECT_EQ(merged[2].code, "L-C");
  EXPECT_EQ(merged[3].code, "L-Z");  // applied without a default: kept, default unknown
  EXPECT_FALSE(merged[3].default_value.has_value());

  EXPECT_EQ(MergeQuotas({}, defaults).size(), 3u);
  EXPECT_EQ(MergeQuotas(applied, {}).size(), 2u);
}

// --- MatchModelQuotas over hand-written listings ---

std::vector<ServiceQuota> HaikuListing() {
  return {
      Quota("L-1", "On-demand model inference requests per minute for Anthropic Claude 3 Haiku",
            1000),
      Quota("L-2", "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku",
            400'000),
      Quota("L-3", "Cross-region model inference requests per minute for Anthropic Claude 3 Haiku",
            2000),
      Quota("L-4", "Cross-region model inference tokens per minute for Anthropic Claude 3 Haiku",
            800'000),
      Quota("L-5",
            "Model invocation max tokens per day for Anthropic Claude 3 Haiku (doubled for "
            "cross-region calls)",
            576'000'000, QuotaValueSource::kDefault),
      // Neighbours that must not be taken.
      Quota("L-6", "On-demand model inference tokens per minute for Anthropic Claude 3.5 Haiku", 1),
      Quota("L-7", "Cross-Model Max Tokens Per Day", 2),
  };
}

TEST(MatchModelQuotas, BareIdTakesTheOnDemandQuotas) {
  Result<ModelQuotas> q = MatchModelQuotas(
      ModelCatalog::Default(), "anthropic.claude-3-haiku-20240307-v1:0", HaikuListing());
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->path, InferencePath::kOnDemand);
  ASSERT_TRUE(q->rpm && q->tpm && q->tpd);
  EXPECT_EQ(q->rpm->code, "L-1");
  EXPECT_EQ(q->tpm->code, "L-2");
  EXPECT_EQ(q->tpm->value, 400'000);
  EXPECT_TRUE(q->tpm->applied);
  EXPECT_EQ(q->tpd->code, "L-5");
  EXPECT_FALSE(q->tpd->applied);
  EXPECT_FALSE(q->tpd->doubled);
  EXPECT_EQ(q->tpd->EffectiveValue(), 576'000'000);
  EXPECT_TRUE(q->reason.empty()) << q->reason;
}

TEST(MatchModelQuotas, ProfileIdTakesTheCrossRegionQuotasAndTheDoubledDailyOne) {
  for (std::string_view id :
       {"us.anthropic.claude-3-haiku-20240307-v1:0", "eu.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
        "apac.anthropic.claude-3-haiku-20240307-v1:0"}) {
    Result<ModelQuotas> q = MatchModelQuotas(ModelCatalog::Default(), id, HaikuListing());
    ASSERT_TRUE(q) << id << ": " << q.error().message;
    EXPECT_EQ(q->path, InferencePath::kCrossRegion) << id;
    ASSERT_TRUE(q->rpm && q->tpm && q->tpd) << id;
    EXPECT_EQ(q->rpm->code, "L-3");
    EXPECT_EQ(q->tpm->code, "L-4");
    EXPECT_EQ(q->tpd->code, "L-5");
    EXPECT_TRUE(q->tpd->doubled);
    EXPECT_EQ(q->tpd->EffectiveValue(), 1'152'000'000);
  }
}

TEST(MatchModelQuotas, GlobalProfileTakesTheGlobalQuotasInTheCurrentNaming) {
  const std::vector<ServiceQuota> listing = {
      Quota("L-10", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5",
            1),
      Quota("L-11",
            "Global Cross-Region InvokeModel tokens per minute for Anthropic Claude "
            "Sonnet 4.5",
            2'000'000),
      Quota("L-12",
            "Global Cross-Region InvokeModel requests per minute for Anthropic Claude "
            "Sonnet 4.5",
            4000),
      Quota("L-13", "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5", 1e9),
  };
  Result<ModelQuotas> q = MatchModelQuotas(
      ModelCatalog::Default(), "global.anthropic.claude-sonnet-4-5-20250929-v1:0", listing);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->path, InferencePath::kGlobal);
  ASSERT_TRUE(q->rpm && q->tpm && q->tpd);
  EXPECT_EQ(q->tpm->code, "L-11");
  EXPECT_EQ(q->tpm->naming, QuotaNaming::kCurrent);
  EXPECT_EQ(q->rpm->code, "L-12");
  EXPECT_EQ(q->tpd->code, "L-13");
  EXPECT_TRUE(q->tpd->doubled);
}

TEST(MatchModelQuotas, PathSpecificDailyQuotaBeatsThePerModelOne) {
  const std::vector<ServiceQuota> listing = {
      Quota("L-20", "Model invocation max tokens per day for Anthropic Claude Sonnet 4", 5e8),
      Quota("L-21",
            "Global cross-region model inference tokens per day for Anthropic Claude "
            "Sonnet 4",
            7e8),
  };
  Result<ModelQuotas> global = MatchModelQuotas(
      ModelCatalog::Default(), "global.anthropic.claude-sonnet-4-20250514-v1:0", listing);
  ASSERT_TRUE(global);
  ASSERT_TRUE(global->tpd);
  EXPECT_EQ(global->tpd->code, "L-21");
  EXPECT_FALSE(global->tpd->doubled);
  Result<ModelQuotas> geo = MatchModelQuotas(ModelCatalog::Default(),
                                             "us.anthropic.claude-sonnet-4-20250514-v1:0", listing);
  ASSERT_TRUE(geo);
  ASSERT_TRUE(geo->tpd);
  EXPECT_EQ(geo->tpd->code, "L-20");
  EXPECT_TRUE(geo->tpd->doubled);
}

TEST(MatchModelQuotas, CurrentNamingWinsWhenBothGenerationsAreListed) {
  const std::vector<ServiceQuota> listing = {
      Quota("L-30", "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4",
            1),
      Quota("L-31", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4", 2),
      Quota("L-32", "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4",
            3),
  };
  Result<ModelQuotas> q = MatchModelQuotas(ModelCatalog::Default(),
                                           "us.anthropic.claude-sonnet-4-20250514-v1:0", listing);
  ASSERT_TRUE(q);
  ASSERT_TRUE(q->tpm);
  EXPECT_EQ(q->tpm->code, "L-31");
}

TEST(MatchModelQuotas, MissingQuotasAreExplained) {
  // Only TPM listed: a result, with the rest explained.
  const std::vector<ServiceQuota> tpm_only = {
      Quota("L-40", "On-demand model inference tokens per minute for Amazon Nova Lite", 1e6)};
  Result<ModelQuotas> partial =
      MatchModelQuotas(ModelCatalog::Default(), "amazon.nova-lite-v1:0", tpm_only);
  ASSERT_TRUE(partial);
  EXPECT_TRUE(partial->tpm.has_value());
  EXPECT_FALSE(partial->rpm.has_value());
  EXPECT_THAT(partial->reason, HasSubstr("no requests per minute quota"));
  EXPECT_THAT(partial->reason, HasSubstr("no tokens per day quota"));

  // Nothing for the path asked for: an error that says what was looked for.
  Result<ModelQuotas> none =
      MatchModelQuotas(ModelCatalog::Default(), "us.amazon.nova-lite-v1:0", tpm_only);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(none.error().message, HasSubstr("Nova Lite"));
  EXPECT_THAT(none.error().message, HasSubstr("cross-region"));
  EXPECT_THAT(none.error().message,
              HasSubstr("\"Cross-Region InvokeModel tokens per minute for Amazon Nova Lite\""));
  EXPECT_THAT(none.error().message, HasSubstr("among 1 quotas"));
}

TEST(MatchModelQuotas, UnknownIdsAreNotFound) {
  for (std::string_view id : {"anthropic.claude-9", "us.meta.llama3-8b-instruct-v1:0",
                              "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc"}) {
    Result<ModelQuotas> q = MatchModelQuotas(ModelCatalog::Default(), id, HaikuListing());
    ASSERT_FALSE(q) << id;
    EXPECT_EQ(q.error().code, ErrorCode::kNotFound) << id;
  }
}

// --- every model and path of the emulator's listing ---

class QuotaMatchEmulatorTest : public control_test::ControlPlaneTest {};

TEST_F(QuotaMatchEmulatorTest, EveryModelAndPathOfTheListingResolves) {
  StartEmulator();
  ControlPlaneOptions options = ClientOptions();
  Result<std::unique_ptr<ServiceQuotasClient>> client =
      ServiceQuotasClient::Create(*http_, options);
  ASSERT_TRUE(client);
  Result<std::vector<ServiceQuota>> applied = (*client)->ListServiceQuotas();
  Result<std::vector<ServiceQuota>> defaults = (*client)->ListAWSDefaultServiceQuotas();
  ASSERT_TRUE(applied && defaults);
  const std::vector<ServiceQuota> quotas = MergeQuotas(*applied, *defaults);

  // The oracle: the emulator's table knows each code's model, path and dimension as data.
  const ModelCatalog& catalog = ModelCatalog::Default();
  const emulator::QuotaTable table(emulator::QuotaOptions{}, catalog);
  std::map<std::string, emulator::QuotaEntry> truth;
  for (emulator::QuotaEntry& e : table.Entries("us-east-1")) truth.emplace(e.code, std::move(e));
  ASSERT_EQ(truth.size(), quotas.size());

  // Every listed name parses and names exactly one catalog model: no two models can share one.
  for (const ServiceQuota& q : quotas) {
    std::optional<QuotaNameParts> parts = ParseQuotaName(q.name);
    ASSERT_TRUE(parts.has_value()) << q.name;
    int models = 0;
    for (const ModelInfo& model : catalog.models()) {
      if (ModelNameMatches(model, parts->model)) {
        ++models;
        EXPECT_EQ(&model, truth.at(q.code).model) << q.name;
      }
    }
    EXPECT_EQ(models, 1) << q.name;
  }

  std::set<std::string> matched_codes;
  std::map<QuotaNaming, int> namings;
  int ids = 0;
  for (const ModelInfo& model : catalog.models()) {
    std::vector<std::string> model_ids;
    if (model.on_demand) model_ids.push_back(model.id);
    for (const std::string& prefix : model.profiles) model_ids.push_back(model.ProfileId(prefix));
    for (const std::string& id : model_ids) {
      ++ids;
      Result<ModelQuotas> q = MatchModelQuotas(catalog, id, quotas);
      ASSERT_TRUE(q) << id << ": " << q.error().message;
      EXPECT_TRUE(q->reason.empty()) << id << ": " << q->reason;
      ASSERT_TRUE(q->rpm && q->tpm && q->tpd) << id;
      const emulator::QuotaPath path = emulator::PathOf(q->model);
      auto check = [&](const MatchedQuota& m, emulator::QuotaDimension dimension) {
        auto it = truth.find(m.code);
        ASSERT_NE(it, truth.end()) << id << " " << m.code;
        EXPECT_EQ(it->second.model, &model) << id << " took " << m.name;
        EXPECT_EQ(it->second.dimension, dimension) << id << " took " << m.name;
        if (dimension != emulator::QuotaDimension::kTokensPerDay) {
          EXPECT_EQ(it->second.path, path) << id << " took " << m.name;
        }
        EXPECT_EQ(m.value, it->second.value) << id;
        EXPECT_EQ(m.default_value, it->second.default_value) << id;
        EXPECT_TRUE(m.applied) << id;  // the emulator lists every quota as applied
        matched_codes.insert(m.code);
        ++namings[m.naming];
      };
      check(*q->rpm, emulator::QuotaDimension::kRequestsPerMinute);
      check(*q->tpm, emulator::QuotaDimension::kTokensPerMinute);
      check(*q->tpd, emulator::QuotaDimension::kTokensPerDay);
      EXPECT_EQ(q->tpd->doubled, !q->model.profile.empty()) << id;
    }
  }
  // Every listed quota governs some id: no model or path of the listing went unmatched.
  EXPECT_EQ(matched_codes.size(), quotas.size());
  EXPECT_GT(ids, 60);
  // Both naming generations were exercised.
  EXPECT_GT(namings[QuotaNaming::kClassic], 0);
  EXPECT_GT(namings[QuotaNaming::kCurrent], 0);
}

TEST_F(QuotaMatchEmulatorTest, AnApprovedIncreaseShowsAsAppliedOverItsDefault) {
  StartEmulator();
  Result<std::unique_ptr<ServiceQuotasClient>> client =
      ServiceQuotasClient::Create(*http_, ClientOptions());
  ASSERT_TRUE(client);
  const std::string profile = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  auto match = [&]() -> Result<ModelQuotas> {
    Result<std::vector<ServiceQuota>> applied = (*client)->ListServiceQuotas();
    Result<std::vector<ServiceQuota>> defaults = (*client)->ListAWSDefaultServiceQuotas();
    if (!applied || !defaults) return tl::unexpected(Error::Internal("listing failed"));
    return MatchModelQuotas(ModelCatalog::Default(), profile, MergeQuotas(*applied, *defaults));
  };
  Result<ModelQuotas> before = match();
  ASSERT_TRUE(before && before->tpm);
  const double old_value = before->tpm->value;
  ASSERT_TRUE((*client)->RequestServiceQuotaIncrease(before->tpm->code, old_value * 2));
  Result<ModelQuotas> after = match();
  ASSERT_TRUE(after && after->tpm);
  EXPECT_EQ(after->tpm->code, before->tpm->code);
  EXPECT_EQ(after->tpm->value, old_value * 2);
  EXPECT_EQ(after->tpm->default_value, old_value);
  EXPECT_EQ(after->tpm->name,
            "Cross-Region InvokeModel tokens per minute for Anthropic Claude "
            "Sonnet 4");
}

}  // namespace
}  // namespace quotaflow::bedrock
