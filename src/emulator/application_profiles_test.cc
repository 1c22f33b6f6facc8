// Application inference profiles: resolved from the config against the catalog
// (ApplicationProfiles::Create), served by the control plane in AWS's shape
// (HandleInferenceProfiles), and invocable on the runtime API by ARN or id, charged to the quota of
// the model or system profile they copy (an Emulator on port 0, driven over HTTP).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "aws/credentials.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "aws/uri.h"
#include "bedrock/model_catalog.h"
#include "bedrock/runtime_client.h"
#include "emulator/emulator.h"
#include "emulator/inference_profiles.h"
#include "emulator/options.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNovaLite[] = "amazon.nova-lite-v1:0";
constexpr char kNovaLiteUs[] = "us.amazon.nova-lite-v1:0";
constexpr char kNovaMicro[] = "amazon.nova-micro-v1:0";
constexpr char kSonnet4[] = "anthropic.claude-sonnet-4-20250514-v1:0";
constexpr char kArn[] =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";

ApplicationProfileOptions Copy(std::string id, std::string copy_from, std::string region = {}) {
  ApplicationProfileOptions profile;
  profile.id = std::move(id);
  profile.copy_from = std::move(copy_from);
  profile.region = std::move(region);
  return profile;
}

// abc123 copies the us. Nova Lite profile (named, described); basic copies the Nova Micro model;
// eu1 exists in eu-west-1 only.
std::vector<ApplicationProfileOptions> SampleProfiles() {
  ApplicationProfileOptions contracts = Copy("abc123", kNovaLiteUs);
  contracts.name = "contracts-team";
  contracts.description = "Contract review";
  return {contracts, Copy("basic", kNovaMicro),
          Copy("eu1", std::string("eu.") + kNovaLite, "eu-west-1")};
}

ApplicationProfiles Sample() {
  Result<ApplicationProfiles> profiles =
      ApplicationProfiles::Create(SampleProfiles(), "us-east-1", bedrock::ModelCatalog::Default());
  EXPECT_TRUE(profiles) << profiles.error().message;
  return profiles ? std::move(*profiles) : ApplicationProfiles();
}

std::string CreateError(const std::vector<ApplicationProfileOptions>& options) {
  Result<ApplicationProfiles> profiles =
      ApplicationProfiles::Create(options, "us-east-1", bedrock::ModelCatalog::Default());
  if (profiles) return "created";
  EXPECT_EQ(profiles.error().code, ErrorCode::kInvalidArgument);
  return profiles.error().message;
}

std::vector<std::string> ModelArns(const json::value& profile) {
  std::vector<std::string> arns;
  for (const json::value& m : profile.at("models").as_array()) {
    arns.emplace_back(m.at("modelArn").as_string());
  }
  return arns;
}

// GET `target` from the control plane in `region`: the status and the parsed body.
std::pair<int, json::value> Get(const ApplicationProfiles& applications, std::string_view target,
                                std::string_view region = "us-east-1") {
  server::ServerResponse r = HandleInferenceProfiles(
      target, region, bedrock::ModelCatalog::Default(), applications, "req-1");
  return {r.status, json::parse(r.body)};
}

TEST(ApplicationProfiles, CopyOfASystemProfileServesItsModelInItsDestinations) {
  const ApplicationProfiles profiles = Sample();
  const ApplicationProfile* p = profiles.Find("abc123", "us-east-1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->arn, kArn);
  EXPECT_EQ(p->name, "contracts-team");
  EXPECT_EQ(p->region, "us-east-1");  // the default region
  EXPECT_EQ(p->source.model->id, kNovaLite);
  EXPECT_EQ(p->source.QuotaId(), kNovaLiteUs);
  EXPECT_THAT(p->model_regions, ElementsAre("us-east-1", "us-east-2", "us-west-2"));
}

TEST(ApplicationProfiles, CopyOfABaseModelServesItInTheProfilesRegionOnDemand) {
  const ApplicationProfiles profiles = Sample();
  const ApplicationProfile* p = profiles.Find("basic", "us-east-1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "basic");  // no name: the id
  EXPECT_EQ(p->source.QuotaId(), kNovaMicro);
  EXPECT_THAT(p->model_regions, ElementsAre("us-east-1"));
}

TEST(ApplicationProfiles, FoundByIdOrArnInItsOwnRegionOnly) {
  const ApplicationProfiles profiles = Sample();
  EXPECT_EQ(profiles.Find(kArn, "us-east-1"), profiles.Find("abc123", "us-east-1"));
  EXPECT_EQ(profiles.Find("abc123", "us-west-2"), nullptr);
  EXPECT_EQ(profiles.Find("eu1", "us-east-1"), nullptr);
  ASSERT_NE(profiles.Find("eu1", "eu-west-1"), nullptr);
  EXPECT_EQ(profiles.Find("eu1", "eu-west-1")->arn,
            "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/eu1");
  // Another account's ARN, or another resource type, is not the profile.
  EXPECT_EQ(profiles.Find("arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/"
                          "abc123",
                          "us-east-1"),
            nullptr);
  EXPECT_EQ(
      profiles.Find("arn:aws:bedrock:us-east-1:123456789012:inference-profile/abc123", "us-east-1"),
      nullptr);
}

TEST(ApplicationProfiles, CopyFromMustBeSomethingTheRegionCanInvoke) {
  EXPECT_THAT(CreateError({Copy("a", "us.amazon.titan-text-express-v1")}),
              HasSubstr("application_profile a: copy_from 'us.amazon.titan-text-express-v1': not "
                        "a model or system-defined inference profile of the catalog"));
  EXPECT_THAT(CreateError({Copy("a", "nope-v1:0")}), HasSubstr("not a model"));
  EXPECT_EQ(CreateError({Copy("a", std::string("eu.") + kNovaLite)}),
            "application_profile a: copy_from 'eu.amazon.nova-lite-v1:0': that profile is not "
            "available in us-east-1, the profile's region");
  EXPECT_EQ(CreateError({Copy("a", kSonnet4)}),
            "application_profile a: copy_from 'anthropic.claude-sonnet-4-20250514-v1:0': Bedrock "
            "serves this model only through inference profiles; copy one: "
            "us.anthropic.claude-sonnet-4-20250514-v1:0, "
            "global.anthropic.claude-sonnet-4-20250514-v1:0");
  EXPECT_EQ(CreateError({Copy("a", kNovaLite), Copy("a", kNovaMicro, "us-west-2")}),
            "duplicate application profile id a");
  // Either kind of ARN works as a source.
  EXPECT_EQ(CreateError(
                {Copy("a", std::string("arn:aws:bedrock:us-east-1::foundation-model/") + kNovaLite),
                 Copy("b", std::string("arn:aws:bedrock:us-east-1:123456789012:"
                                       "inference-profile/") +
                               kNovaLiteUs)}),
            "created");
}

TEST(ApplicationProfiles, GetReturnsAwsShapeByIdOrEncodedArn) {
  const ApplicationProfiles profiles = Sample();
  const auto [status, profile] =
      Get(profiles, "/inference-profiles/" + aws::UriEncode(kArn, /*encode_slash=*/true));
  ASSERT_EQ(status, 200);
  EXPECT_EQ(profile.at("inferenceProfileId").as_string(), "abc123");
  EXPECT_EQ(profile.at("inferenceProfileArn").as_string(), kArn);
  EXPECT_EQ(profile.at("inferenceProfileName").as_string(), "contracts-team");
  EXPECT_EQ(profile.at("description").as_string(), "Contract review");
  EXPECT_EQ(profile.at("type").as_string(), "APPLICATION");
  EXPECT_EQ(profile.at("status").as_string(), "ACTIVE");
  EXPECT_TRUE(profile.as_object().contains("createdAt"));
  EXPECT_TRUE(profile.as_object().contains("updatedAt"));
  EXPECT_THAT(ModelArns(profile),
              ElementsAre("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
                          "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-lite-v1:0",
                          "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0"));

  const auto [by_id_status, by_id] = Get(profiles, "/inference-profiles/basic");
  ASSERT_EQ(by_id_status, 200);
  EXPECT_FALSE(by_id.as_object().contains("description"));  // none configured
  EXPECT_THAT(ModelArns(by_id),
              ElementsAre("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"));
}

TEST(ApplicationProfiles, GetInAnotherRegionOrOfAnUnknownIdIsNotFound) {
  const ApplicationProfiles profiles = Sample();
  for (const auto& [target, region] : std::vector<std::pair<std::string, std::string>>{
           {"/inference-profiles/abc123", "us-west-2"},
           {"/inference-profiles/" + aws::UriEncode(kArn), "us-west-2"},
           {"/inference-profiles/nope", "us-east-1"},
           // An application-profile ARN whose id looks like a system profile's is still not one.
           {"/inference-profiles/" +
                aws::UriEncode("arn:aws:bedrock:us-east-1:123456789012:application-inference-"
                               "profile/us.amazon.nova-lite-v1:0"),
            "us-east-1"}}) {
    const auto [status, body] = Get(profiles, target, region);
    EXPECT_EQ(status, 404) << target;
    EXPECT_THAT(std::string(body.at("message").as_string()), HasSubstr("does not exist"));
  }
}

std::vector<std::string> ListedIds(const json::value& page) {
  std::vector<std::string> ids;
  for (const json::value& p : page.at("inferenceProfileSummaries").as_array()) {
    ids.emplace_back(p.at("inferenceProfileId").as_string());
  }
  return ids;
}

TEST(ApplicationProfiles, ListFiltersByTypeAndRegion) {
  const ApplicationProfiles profiles = Sample();
  const auto [status, apps] = Get(profiles, "/inference-profiles?type=APPLICATION");
  ASSERT_EQ(status, 200);
  EXPECT_THAT(ListedIds(apps), ElementsAre("abc123", "basic"));
  EXPECT_EQ(apps.at("inferenceProfileSummaries").at(0).at("type").as_string(), "APPLICATION");
  EXPECT_THAT(ListedIds(Get(profiles, "/inference-profiles?type=APPLICATION", "eu-west-1").second),
              ElementsAre("eu1"));

  const std::vector<std::string> system =
      ListedIds(Get(profiles, "/inference-profiles?type=SYSTEM_DEFINED").second);
  EXPECT_THAT(system, ::testing::Not(::testing::Contains("abc123")));
  // No filter: the system-defined profiles, then the application ones.
  std::vector<std::string> all = system;
  all.emplace_back("abc123");
  all.emplace_back("basic");
  EXPECT_EQ(ListedIds(Get(profiles, "/inference-profiles").second), all);
}

TEST(ApplicationProfiles, PagesRunFromSystemIntoApplicationProfiles) {
  const ApplicationProfiles profiles = Sample();
  const size_t system =
      ListedIds(Get(profiles, "/inference-profiles?type=SYSTEM_DEFINED").second).size();
  // A page that ends one short of the system profiles' end, then one that crosses the boundary.
  const std::string first_target = "/inference-profiles?maxResults=" + std::to_string(system - 1);
  const auto [status, first] = Get(profiles, first_target);
  ASSERT_EQ(status, 200);
  const std::string token(first.at("nextToken").as_string());
  const json::value second =
      Get(profiles, "/inference-profiles?maxResults=2&nextToken=" + token).second;
  EXPECT_EQ(ListedIds(second).size(), 2u);
  EXPECT_EQ(ListedIds(second).back(), "abc123");
  const json::value last = Get(profiles, "/inference-profiles?maxResults=2&nextToken=" +
                                             std::string(second.at("nextToken").as_string()))
                               .second;
  EXPECT_THAT(ListedIds(last), ElementsAre("basic"));
  EXPECT_FALSE(last.as_object().contains("nextToken"));
}

// The runtime API end to end.
class ApplicationProfileRuntimeTest : public ::testing::Test {
 protected:
  static EmulatorOptions Options() {
    EmulatorOptions options = ImmediateEmulator(40);
    // A fixed hour-long window: nothing refills while a test runs, so quota answers are exact.
    options.quotas.books.mode = CountingMode::kFixedWindow;
    options.quotas.books.period = std::chrono::hours(1);
    options.application_profiles = SampleProfiles();
    return options;
  }

  void StartEmulator(EmulatorOptions options = Options()) {
    emulator_ = std::make_unique<Emulator>(std::move(options));
    Status started = emulator_->Start();
    ASSERT_TRUE(started) << started.error().message;
    loop_.Start();
    http_ = std::make_unique<aws::HttpClient>(loop_);
  }

  void TearDown() override {
    clients_.clear();
    // The emulator stops first, while the client's loop still runs to see its connections close.
    emulator_.reset();
    http_.reset();
    loop_.Stop();
  }

  bedrock::RuntimeClient& Client(std::string region = "us-east-1") {
    bedrock::RuntimeClientOptions options;
    options.endpoint = emulator_->endpoint();
    options.region = std::move(region);
    options.credentials = &credentials_;
    options.http.version = aws::HttpVersionPolicy::kHttp1_1;
    options.retry.max_attempts = 1;
    options.jitter_seed = 1;
    Result<std::unique_ptr<bedrock::RuntimeClient>> client =
        bedrock::RuntimeClient::Create(loop_, *http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    clients_.push_back(std::move(*client));
    return *clients_.back();
  }

  static std::string Body(int64_t max_tokens) {
    return R"({"messages":[{"role":"user","content":[{"text":"hello"}]}],)"
           R"("inferenceConfig":{"maxTokens":)" +
           std::to_string(max_tokens) + "}}";
  }

  // The books' entry for `key`, or null when the key has seen no request.
  json::value Key(std::string_view key) {
    aws::HttpRequest request;
    request.url = emulator_->endpoint() + "/_quotaflow/state";
    Result<aws::HttpResponse> response = http_->SendSync(std::move(request));
    EXPECT_TRUE(response && response->status == 200);
    if (!response) return nullptr;
    const json::value state = json::parse(response->body);
    for (const json::value& k : state.at("keys").as_array()) {
      if (k.at("key").as_string() == key) return k;
    }
    return nullptr;
  }

  aws::EventLoop loop_{SystemClock()};
  aws::StaticCredentialsProvider credentials_{
      aws::Credentials{kDefaultAccessKeyId, kDefaultSecretAccessKey, ""}};
  std::unique_ptr<aws::HttpClient> http_;
  std::unique_ptr<Emulator> emulator_;
  std::vector<std::unique_ptr<bedrock::RuntimeClient>> clients_;
};

TEST_F(ApplicationProfileRuntimeTest, InvocationByArnIsChargedToTheSourceProfilesQuota) {
  EmulatorOptions options = Options();
  options.quotas.cross_region.tokens_per_minute = 1000;
  StartEmulator(std::move(options));
  bedrock::CallResult<bedrock::ModelResponse> by_arn = Client().ConverseSync({kArn, Body(400)});
  ASSERT_TRUE(by_arn) << by_arn.error().error.ToString();
  EXPECT_EQ(by_arn->usage.output_tokens, 40);
  // The source itself draws on the same quota...
  ASSERT_TRUE(Client().ConverseSync({kNovaLiteUs, Body(400)}));
  // ...so what is left after both is too little for a third reservation through the profile.
  bedrock::CallResult<bedrock::ModelResponse> third = Client().ConverseSync({kArn, Body(950)});
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().error.http_status, 429);
  EXPECT_EQ(third.error().error.aws_code, "ThrottlingException");

  const json::value key = Key(std::string("us-east-1/") + kNovaLiteUs);
  ASSERT_FALSE(key.is_null());
  EXPECT_EQ(key.at("tokens").at("limit").as_int64(), 1000);
  EXPECT_EQ(key.at("counters").at("admitted").as_int64(), 2);
  EXPECT_EQ(key.at("counters").at("throttled_tokens_per_minute").as_int64(), 1);
  EXPECT_EQ(key.at("tokens").at("used").as_int64(),
            2 * (by_arn->usage.input_tokens + by_arn->usage.output_tokens));
  // The profile has no books of its own.
  EXPECT_TRUE(Key(std::string("us-east-1/") + kArn).is_null());
  EXPECT_TRUE(Key("us-east-1/abc123").is_null());
}

TEST_F(ApplicationProfileRuntimeTest, InvocationByIdOfABaseModelCopyUsesItsOnDemandQuota) {
  StartEmulator();
  ASSERT_TRUE(Client().ConverseSync({"basic", Body(100)}));
  const json::value key = Key(std::string("us-east-1/") + kNovaMicro);
  ASSERT_FALSE(key.is_null());
  EXPECT_EQ(key.at("tokens").at("limit").as_int64(), 400'000);  // the on-demand default
  EXPECT_EQ(key.at("counters").at("admitted").as_int64(), 1);
}

TEST_F(ApplicationProfileRuntimeTest, ProfileDoesNotExistInAnotherRegion) {
  StartEmulator();
  bedrock::CallResult<bedrock::ModelResponse> r =
      Client("us-west-2").ConverseSync({kArn, Body(10)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.http_status, 400);
  EXPECT_EQ(r.error().error.aws_code, "ValidationException");
  EXPECT_EQ(r.error().error.message, "The provided model identifier is invalid.");
  // The eu-west-1 one works there, on the eu. profile's quota.
  ASSERT_TRUE(Client("eu-west-1").ConverseSync({"eu1", Body(10)}));
  EXPECT_FALSE(Key(std::string("eu-west-1/eu.") + kNovaLite).is_null());
}

TEST(ApplicationProfileEmulator, StartRefusesACopyOfSomethingUnknown) {
  EmulatorOptions options;
  options.server.port = 0;
  options.application_profiles = {Copy("a", "us.amazon.titan-text-express-v1")};
  Emulator emulator(std::move(options));
  Status started = emulator.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(started.error().message, HasSubstr("application_profile a: copy_from"));
}

}  // namespace
}  // namespace quotaflow::emulator
