// InferenceProfilesClient over real HTTP: against an in-process Emulator with application
// profiles (by ARN and id, system-defined ones, an unknown one) and against a scripted server (the
// wire format, throttle retries, a malformed answer); ModelIdForProfile on profiles as AWS
// describes them.
#include "bedrock/inference_profiles_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bedrock/control_test_util.h"
#include "bedrock/model_catalog.h"

namespace quotaflow::bedrock {
namespace {

using control_test::JsonAnswer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kArn[] =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
constexpr char kNovaLiteUs[] = "us.amazon.nova-lite-v1:0";
constexpr char kSonnet4Us[] = "us.anthropic.claude-sonnet-4-20250514-v1:0";
constexpr char kSonnet45[] = "anthropic.claude-sonnet-4-5-20250929-v1:0";

emulator::ApplicationProfileOptions Copy(std::string id, std::string copy_from) {
  emulator::ApplicationProfileOptions profile;
  profile.id = std::move(id);
  profile.copy_from = std::move(copy_from);
  return profile;
}

class InferenceProfilesClientTest : public control_test::ControlPlaneTest {
 protected:
  // An emulator with two application profiles in us-east-1: abc123 copies the us. Nova Lite
  // profile, basic the Nova Micro model.
  void StartWithProfiles() {
    emulator::EmulatorOptions options = FastOptions();
    emulator::ApplicationProfileOptions contracts = Copy("abc123", kNovaLiteUs);
    contracts.name = "contracts-team";
    options.application_profiles = {contracts, Copy("basic", "amazon.nova-micro-v1:0")};
    StartEmulator(std::move(options));
  }

  std::unique_ptr<InferenceProfilesClient> Client(ControlPlaneOptions options) {
    Result<std::unique_ptr<InferenceProfilesClient>> client =
        InferenceProfilesClient::Create(*http_, std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }
  std::unique_ptr<InferenceProfilesClient> Client() { return Client(ClientOptions()); }
};

TEST_F(InferenceProfilesClientTest, ApplicationProfileByArnResolvesToTheSystemProfileItCopies) {
  StartWithProfiles();
  Result<InferenceProfile> profile = Client()->GetInferenceProfile(kArn);
  ASSERT_TRUE(profile) << profile.error().ToString();
  EXPECT_EQ(profile->id, "abc123");
  EXPECT_EQ(profile->arn, kArn);
  EXPECT_EQ(profile->name, "contracts-team");
  EXPECT_EQ(profile->type, "APPLICATION");
  EXPECT_EQ(profile->status, "ACTIVE");
  EXPECT_THAT(profile->model_arns,
              ElementsAre("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
                          "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-lite-v1:0",
                          "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0"));
  Result<std::string> model_id = ModelIdForProfile(*profile, ModelCatalog::Default());
  ASSERT_TRUE(model_id) << model_id.error().message;
  EXPECT_EQ(*model_id, kNovaLiteUs);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(InferenceProfilesClientTest, ApplicationProfileByIdCopyingABaseModelResolvesToIt) {
  StartWithProfiles();
  Result<InferenceProfile> profile = Client()->GetInferenceProfile("basic");
  ASSERT_TRUE(profile) << profile.error().ToString();
  EXPECT_EQ(profile->name, "basic");
  Result<std::string> model_id = ModelIdForProfile(*profile, ModelCatalog::Default());
  ASSERT_TRUE(model_id) << model_id.error().message;
  EXPECT_EQ(*model_id, "amazon.nova-micro-v1:0");
}

TEST_F(InferenceProfilesClientTest, SystemDefinedProfileIsItsOwnModelId) {
  StartWithProfiles();
  auto client = Client();
  for (const std::string& id :
       {std::string(kSonnet4Us),
        std::string("arn:aws:bedrock:us-east-1:123456789012:inference-profile/") + kSonnet4Us}) {
    Result<InferenceProfile> profile = client->GetInferenceProfile(id);
    ASSERT_TRUE(profile) << profile.error().ToString();
    EXPECT_EQ(profile->id, kSonnet4Us);
    EXPECT_EQ(profile->type, "SYSTEM_DEFINED");
    EXPECT_EQ(ModelIdForProfile(*profile, ModelCatalog::Default()), kSonnet4Us);
  }
}

// `arn` is not found, with the service's code and a message naming the profile and region.
void ExpectNotFound(InferenceProfilesClient& client, const std::string& arn) {
  const std::string& region = client.options().region;
  Result<InferenceProfile> profile = client.GetInferenceProfile(arn);
  ASSERT_FALSE(profile);
  EXPECT_EQ(profile.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(profile.error().aws_code, "ResourceNotFoundException");
  EXPECT_EQ(profile.error().http_status, 404);
  EXPECT_FALSE(profile.error().request_id.empty());
  EXPECT_EQ(profile.error().message, "no inference profile '" + arn + "' in " + region +
                                         ": Inference profile " + arn + " does not exist.");
}

TEST_F(InferenceProfilesClientTest, UnknownProfileIsNotFoundAndNotRetried) {
  StartWithProfiles();
  ExpectNotFound(*Client(),
                 "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/nope99");
  // A profile exists in one region only.
  ControlPlaneOptions west = ClientOptions();
  west.region = "us-west-2";
  ExpectNotFound(*Client(west),
                 "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(InferenceProfilesClientTest, EmptyIdIsRefusedWithoutACall) {
  StartWithProfiles();
  Result<InferenceProfile> profile = Client()->GetInferenceProfile("");
  ASSERT_FALSE(profile);
  EXPECT_EQ(profile.error().code, ErrorCode::kInvalidArgument);
}

constexpr char kProfileBody[] =
    R"({"inferenceProfileArn":"arn:aws:bedrock:eu-central-1:123456789012:application-inference-)"
    R"(profile/abc123","inferenceProfileId":"abc123","inferenceProfileName":"x","models":[],)"
    R"("status":"ACTIVE","type":"APPLICATION"})";

TEST_F(InferenceProfilesClientTest, SendsARestJsonGetWithTheArnEncodedAsBotocoreDoes) {
  StartScripted({JsonAnswer(200, kProfileBody, "application/json")});
  ControlPlaneOptions options = ClientOptions(scripted_->endpoint());
  options.region = "eu-central-1";
  Result<InferenceProfile> profile = Client(options)->GetInferenceProfile(
      "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/abc123");
  ASSERT_TRUE(profile) << profile.error().ToString();
  EXPECT_EQ(profile->id, "abc123");

  const std::vector<server::ServerRequest> requests = scripted_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const server::ServerRequest& r = requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target,
            "/inference-profiles/arn%3Aaws%3Abedrock%3Aeu-central-1%3A123456789012%3Aapplication-"
            "inference-profile%2Fabc123");
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(FindHeader(r.headers, "X-Amz-Target").has_value());
  EXPECT_TRUE(FindHeader(r.headers, "X-Amz-Date").has_value());
  EXPECT_THAT(std::string(FindHeader(r.headers, "Authorization").value_or("")),
              HasSubstr("/eu-central-1/bedrock/aws4_request"));
}

TEST_F(InferenceProfilesClientTest, ThrottleIsRetriedWithBackoff) {
  server::ServerResponse throttle =
      JsonAnswer(429, R"({"message":"Too many requests, please wait before trying again."})",
                 "application/json");
  throttle.headers.emplace_back("x-amzn-ErrorType", "ThrottlingException");
  StartScripted({throttle, JsonAnswer(200, kProfileBody, "application/json")});
  Result<InferenceProfile> profile =
      Client(ClientOptions(scripted_->endpoint()))->GetInferenceProfile("abc123");
  ASSERT_TRUE(profile) << profile.error().ToString();
  EXPECT_EQ(scripted_->requests().size(), 2u);
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(InferenceProfilesClientTest, AnswerWithoutAnIdIsAProtocolError) {
  StartScripted({JsonAnswer(200, R"({"status":"ACTIVE"})", "application/json")});
  Result<InferenceProfile> profile =
      Client(ClientOptions(scripted_->endpoint()))->GetInferenceProfile("abc123");
  ASSERT_FALSE(profile);
  EXPECT_EQ(profile.error().code, ErrorCode::kProtocol);
}

TEST_F(InferenceProfilesClientTest, DefaultEndpointIsTheRegionalBedrockHost) {
  ControlPlaneOptions options;
  options.region = "eu-west-3";
  options.credentials = &default_credentials_;
  EXPECT_EQ(Client(options)->options().endpoint, "https://bedrock.eu-west-3.amazonaws.com");
  options.credentials = nullptr;
  Result<std::unique_ptr<InferenceProfilesClient>> without =
      InferenceProfilesClient::Create(*http_, options);
  ASSERT_FALSE(without);
  EXPECT_EQ(without.error().code, ErrorCode::kInvalidArgument);
}

// An application profile as GetInferenceProfile describes it.
InferenceProfile Application(const std::string& region, const std::string& model,
                             const std::vector<std::string>& model_regions) {
  InferenceProfile p;
  p.id = "abc123";
  p.arn = "arn:aws:bedrock:" + region + ":123456789012:application-inference-profile/abc123";
  p.type = "APPLICATION";
  p.status = "ACTIVE";
  const std::string resource = "::foundation-model/" + model;
  for (const std::string& r : model_regions) {
    std::string arn = "arn:aws:bedrock:";
    arn += r;
    arn += resource;
    p.model_arns.push_back(std::move(arn));
  }
  return p;
}

std::string ModelIdOrError(const InferenceProfile& profile) {
  Result<std::string> id = ModelIdForProfile(profile, ModelCatalog::Default());
  return id ? *id : std::string(ErrorCodeName(id.error().code)) + ": " + id.error().message;
}

TEST(ModelIdForProfile, PicksTheMostSpecificGeoCoveringEveryRegion) {
  const std::string sonnet = kSonnet45;
  EXPECT_EQ(
      ModelIdOrError(Application("ap-northeast-1", sonnet, {"ap-northeast-1", "ap-northeast-3"})),
      "jp." + sonnet);
  EXPECT_EQ(
      ModelIdOrError(Application("ap-southeast-2", sonnet, {"ap-southeast-2", "ap-southeast-4"})),
      "au." + sonnet);
  EXPECT_EQ(ModelIdOrError(Application("eu-west-1", sonnet,
                                       {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"})),
            "eu." + sonnet);
  EXPECT_EQ(
      ModelIdOrError(Application("us-east-1", sonnet, {"us-east-1", "us-east-2", "us-west-2"})),
      "us." + sonnet);
  EXPECT_EQ(ModelIdOrError(Application("us-east-1", sonnet,
                                       {"us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"})),
            "global." + sonnet);
}

TEST(DestinationRegions, AreTheModelArnsRegionsInOrderOnce) {
  InferenceProfile p =
      Application("eu-west-1", "amazon.nova-pro-v1:0", {"eu-west-1", "eu-central-1", "eu-west-1"});
  p.model_arns.emplace_back("not an arn");
  EXPECT_EQ(DestinationRegions(p), (std::vector<std::string>{"eu-west-1", "eu-central-1"}));
}

TEST(ModelIdForProfile, OneRegionOfAnOnDemandModelIsACopyOfTheModel) {
  EXPECT_EQ(ModelIdOrError(Application("eu-west-1", "amazon.nova-pro-v1:0", {"eu-west-1"})),
            "amazon.nova-pro-v1:0");
  // The model ARN in the profile's own region decides, wherever it is listed.
  InferenceProfile p = Application("us-west-2", "amazon.nova-pro-v1:0", {"us-west-2"});
  p.model_arns.insert(p.model_arns.begin(), "arn:aws:bedrock:us-east-1::custom-model/x");
  EXPECT_EQ(ModelIdOrError(p), "amazon.nova-pro-v1:0");
}

TEST(ModelIdForProfile, WhatTheCatalogCannotPlaceIsNotFound) {
  EXPECT_EQ(ModelIdOrError(Application("us-east-1", "acme.unknown-v1:0", {"us-east-1"})),
            "not_found: inference profile arn:aws:bedrock:us-east-1:123456789012:application-"
            "inference-profile/abc123 serves acme.unknown-v1:0, which is not in the model catalog");
  // Claude 3.5 Haiku has only a us. profile: nothing of it covers the EU.
  EXPECT_THAT(ModelIdOrError(Application("eu-west-1", "anthropic.claude-3-5-haiku-20241022-v1:0",
                                         {"eu-west-1", "eu-central-1"})),
              HasSubstr("routes anthropic.claude-3-5-haiku-20241022-v1:0 to eu-west-1, "
                        "eu-central-1, which no inference profile of the model"));
  InferenceProfile custom = Application("us-east-1", "x", {});
  custom.model_arns = {"arn:aws:bedrock:us-east-1:123456789012:custom-model/abc"};
  EXPECT_THAT(ModelIdOrError(custom), HasSubstr("which is not a foundation-model ARN"));
  EXPECT_THAT(ModelIdOrError(Application("us-east-1", "x", {})),
              HasSubstr("protocol: inference profile"));
  InferenceProfile system;
  system.id = "us.acme.unknown-v1:0";
  system.type = "SYSTEM_DEFINED";
  EXPECT_THAT(ModelIdOrError(system), HasSubstr("not_found: inference profile us.acme"));
}

}  // namespace
}  // namespace quotaflow::bedrock
