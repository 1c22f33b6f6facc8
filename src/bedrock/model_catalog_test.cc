#include "bedrock/model_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "quotaflow/accounting.h"

namespace quotaflow::bedrock {
namespace {

using ::testing::HasSubstr;

const ModelCatalog& Catalog() { return ModelCatalog::Default(); }

TEST(ModelCatalog, EmbeddedCopyIsTheRepositoryFile) {
  const std::filesystem::path path =
      std::filesystem::path(QUOTAFLOW_SOURCE_DIR) / "data" / "models.json";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(EmbeddedModelCatalogJson(), file)
      << "data/models.json changed after the last CMake run";

  Result<ModelCatalog> loaded = ModelCatalog::Load(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->models().size(), Catalog().models().size());
}

TEST(ModelCatalog, CoversEveryBodyFamily) {
  std::set<ModelFamily> families;
  for (const ModelInfo& model : Catalog().models()) families.insert(model.family);
  for (ModelFamily family :
       {ModelFamily::kAnthropic, ModelFamily::kAmazonNova, ModelFamily::kAmazonTitan,
        ModelFamily::kMetaLlama, ModelFamily::kMistral, ModelFamily::kCohere, ModelFamily::kAi21}) {
    EXPECT_TRUE(families.contains(family)) << ModelFamilyName(family);
  }
  EXPECT_GE(Catalog().models().size(), 12u);
}

TEST(ModelCatalog, EveryEntryAgreesWithTheTokenEstimatorsFamily) {
  for (const ModelInfo& model : Catalog().models()) {
    EXPECT_EQ(model.family, FamilyOf(model.id)) << model.id;
    EXPECT_EQ(model.default_output_tokens, model.max_output_tokens)
        << model.id << ": Bedrock reserves the model maximum when max_tokens is absent";
  }
}

TEST(ModelCatalog, BurndownIsFiveExactlyOnTheRecentClaudeModels) {
  const std::set<std::string> five = {
      "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0",
      "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-opus-4-20250514-v1:0",
      "anthropic.claude-opus-4-1-20250805-v1:0",   "anthropic.claude-haiku-4-5-20251001-v1:0"};
  for (const std::string& id : five) ASSERT_NE(Catalog().Find(id), nullptr) << id;
  for (const ModelInfo& model : Catalog().models()) {
    EXPECT_EQ(model.output_burndown, five.contains(model.id) ? 5 : 1) << model.id;
  }
}

TEST(ModelCatalog, ResolvesBaseIdsProfilesAndArns) {
  Result<ResolvedModel> base = Catalog().Resolve("anthropic.claude-3-haiku-20240307-v1:0");
  ASSERT_TRUE(base) << base.error().message;
  EXPECT_EQ(base->model->name, "Claude 3 Haiku");
  EXPECT_EQ(base->profile, "");
  EXPECT_TRUE(base->OnDemandAllowed());
  EXPECT_EQ(base->QuotaId(), "anthropic.claude-3-haiku-20240307-v1:0");

  Result<ResolvedModel> us = Catalog().Resolve("us.anthropic.claude-3-7-sonnet-20250219-v1:0");
  ASSERT_TRUE(us) << us.error().message;
  EXPECT_EQ(us->model->id, "anthropic.claude-3-7-sonnet-20250219-v1:0");
  EXPECT_EQ(us->profile, "us");
  EXPECT_TRUE(us->OnDemandAllowed());
  EXPECT_EQ(us->QuotaId(), "us.anthropic.claude-3-7-sonnet-20250219-v1:0");

  Result<ResolvedModel> global =
      Catalog().Resolve("global.anthropic.claude-haiku-4-5-20251001-v1:0");
  ASSERT_TRUE(global) << global.error().message;
  EXPECT_EQ(global->profile, "global");
  EXPECT_EQ(global->model->output_burndown, 5);

  Result<ResolvedModel> profile_arn = Catalog().Resolve(
      "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
      "eu.amazon.nova-lite-v1:0");
  ASSERT_TRUE(profile_arn) << profile_arn.error().message;
  EXPECT_EQ(profile_arn->model->id, "amazon.nova-lite-v1:0");
  EXPECT_EQ(profile_arn->profile, "eu");

  Result<ResolvedModel> model_arn =
      Catalog().Resolve("arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-8b-instruct-v1:0");
  ASSERT_TRUE(model_arn) << model_arn.error().message;
  EXPECT_EQ(model_arn->model->family, ModelFamily::kMetaLlama);
  EXPECT_EQ(model_arn->profile, "");
}

TEST(ModelCatalog, BareIdsOfNewerClaudeModelsNeedAProfile) {
  Result<ResolvedModel> bare = Catalog().Resolve("anthropic.claude-sonnet-4-5-20250929-v1:0");
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->OnDemandAllowed());
  EXPECT_EQ(bare->model->default_output_tokens, 64000);
  EXPECT_EQ(ReservedOutputTokens(*bare->model, std::nullopt), 64000);
  EXPECT_EQ(ReservedOutputTokens(*bare->model, 1024), 1024);
  EXPECT_EQ(ReservationCost(1000, std::nullopt, bare->model->default_output_tokens).tokens, 65000);
}

TEST(ModelCatalog, UnknownIdsAndProfilesAreNotFound) {
  auto expect_not_found = [](std::string_view id, std::string_view why) {
    Result<ResolvedModel> r = Catalog().Resolve(id);
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << id;
    EXPECT_THAT(r.error().message, HasSubstr(why)) << id;
    EXPECT_EQ(Catalog().Find(id), nullptr);
  };
  expect_not_found("anthropic.claude-v9", "not in the model catalog");
  expect_not_found("us.does-not-exist-model-v1:0", "not in the model catalog");
  // Claude 3 Opus is not in the catalog; Titan has no profiles at all.
  expect_not_found("eu.amazon.titan-text-express-v1", "no 'eu' inference profile");
  expect_not_found("global.anthropic.claude-3-haiku-20240307-v1:0", "no 'global'");
  expect_not_found("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
                   "cannot resolve a application-inference-profile ARN");
  expect_not_found("arn:aws:s3:::bucket/key", "not a Bedrock ARN");
  expect_not_found("arn:aws:bedrock:us-east-1::foundation-model", "malformed ARN");
  expect_not_found("arn:aws:bedrock:us-east-1:1:inference-profile/amazon.nova-lite-v1:0",
                   "inference-profile ARN names a base model id");
}

TEST(ModelCatalog, ParseReportsTheEntryAtFault) {
  const std::string good_entry =
      R"({"id":"a.b","name":"B","family":"mistral","context_window":10,"max_output_tokens":5,)"
      R"("default_output_tokens":5,"output_burndown":1,"on_demand":true,"profiles":["us"],)"
      R"("price_per_1k_input":0.1,"price_per_1k_output":0})";
  Result<ModelCatalog> ok = ModelCatalog::Parse(R"({"models":[)" + good_entry + "]}");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->Find("us.a.b")->price_per_1k_output, 0.0);
  EXPECT_FALSE(ok->Find("a.b")->count_tokens);  // absent: the model does not count

  auto expect_invalid = [&](const std::string& text, std::string_view why) {
    Result<ModelCatalog> r = ModelCatalog::Parse(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr(why));
  };
  auto with = [&](std::string_view from, std::string_view to) {
    std::string entry = good_entry;
    entry.replace(entry.find(from), from.size(), to);
    return R"({"models":[)" + entry + "]}";
  };
  expect_invalid("not json", "bad JSON");
  expect_invalid(R"({"model":[]})", "no \"models\" array");
  expect_invalid(R"({"models":[)" + good_entry + "," + good_entry + "]}", "duplicate id a.b");
  expect_invalid(with(R"("family":"mistral")", R"("family":"openai")"),
                 "models[0] (a.b): unknown family 'openai'");
  expect_invalid(with(R"("profiles":["us"])", R"("profiles":["mars"])"), "unknown profile prefix");
  expect_invalid(with(R"("default_output_tokens":5)", R"("default_output_tokens":6)"),
                 "default_output_tokens exceeds max_output_tokens");
  expect_invalid(with(R"("output_burndown":1)", R"("output_burndown":0)"), "burndown below 1");
  expect_invalid(with(R"("context_window":10)", R"("context_window":"10")"),
                 "context_window must be an integer");
  expect_invalid(with(R"("name":"B",)", ""), "name is missing");
  expect_invalid(with(R"("on_demand":true,)", R"("on_demand":true,"count_tokens":1,)"),
                 "count_tokens must be true or false");
  expect_invalid(
      with(R"("on_demand":true,"profiles":["us"])", R"("on_demand":false,"profiles":[])"),
      "never invocable");
}

TEST(ModelCatalog, OnlyTheModelsAwsListsCountTokens) {
  const ModelCatalog& catalog = ModelCatalog::Default();
  std::vector<std::string> counting;
  for (const ModelInfo& m : catalog.models()) {
    if (m.count_tokens) counting.push_back(m.id);
  }
  EXPECT_THAT(counting, ::testing::UnorderedElementsAre("anthropic.claude-3-5-sonnet-20240620-v1:0",
                                                        "anthropic.claude-3-5-sonnet-20241022-v2:0",
                                                        "anthropic.claude-3-5-haiku-20241022-v1:0",
                                                        "anthropic.claude-3-7-sonnet-20250219-v1:0",
                                                        "anthropic.claude-sonnet-4-20250514-v1:0",
                                                        "anthropic.claude-opus-4-20250514-v1:0"));
}

TEST(ModelCatalog, LoadReportsUnreadableFiles) {
  Result<ModelCatalog> missing = ModelCatalog::Load("/nonexistent/models.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
}

TEST(ModelFamilyName, RoundTrips) {
  for (ModelFamily family :
       {ModelFamily::kAnthropic, ModelFamily::kAmazonNova, ModelFamily::kAmazonTitan,
        ModelFamily::kMetaLlama, ModelFamily::kMistral, ModelFamily::kCohere, ModelFamily::kAi21,
        ModelFamily::kOther}) {
    EXPECT_EQ(ParseModelFamily(ModelFamilyName(family)), family);
  }
  EXPECT_FALSE(ParseModelFamily("Anthropic"));
}

}  // namespace
}  // namespace quotaflow::bedrock
