#include "aws/endpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>

#include "aws/testdata.h"

namespace quotaflow::aws {
namespace {

ConfigOverrides Overrides(std::string profile, std::string region) {
  ConfigOverrides overrides;
  overrides.profile = std::move(profile);
  overrides.region = std::move(region);
  return overrides;
}

using ::testing::HasSubstr;

AwsConfig Config(const std::string& config_text, const Environment& env,
                 const ConfigOverrides& overrides = Overrides("", "us-east-1")) {
  auto files = ParseSharedConfig(config_text, "", "/cfg", "/creds");
  EXPECT_TRUE(files.has_value()) << (files ? "" : files.error().message);
  auto config = ResolveAwsConfig(files.value_or(SharedConfig()), env, overrides);
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  return config.value_or(AwsConfig());
}

TEST(ServiceInfo, MatchesTheBotocoreModels) {
  const ServiceInfo& runtime = GetServiceInfo(Service::kBedrockRuntime);
  EXPECT_EQ(runtime.endpoint_prefix, "bedrock-runtime");
  EXPECT_EQ(runtime.signing_name, "bedrock");
  EXPECT_EQ(runtime.env_suffix, "BEDROCK_RUNTIME");
  EXPECT_EQ(runtime.config_key, "bedrock_runtime");
  EXPECT_TRUE(runtime.supports_bearer);
  EXPECT_TRUE(GetServiceInfo(Service::kBedrock).supports_bearer);
  EXPECT_EQ(GetServiceInfo(Service::kServiceQuotas).endpoint_prefix, "servicequotas");
  EXPECT_EQ(GetServiceInfo(Service::kServiceQuotas).env_suffix, "SERVICE_QUOTAS");
  EXPECT_EQ(GetServiceInfo(Service::kCloudWatch).endpoint_prefix, "monitoring");
  EXPECT_EQ(GetServiceInfo(Service::kCloudWatch).env_suffix, "CLOUDWATCH");
  EXPECT_EQ(GetServiceInfo(Service::kCloudWatch).signing_name, "monitoring");
  EXPECT_FALSE(GetServiceInfo(Service::kSts).supports_bearer);
}

TEST(PartitionOf, FollowsThePartitionRegexes) {
  EXPECT_EQ(PartitionOf("us-east-1").id, "aws");
  EXPECT_EQ(PartitionOf("eu-central-2").dns_suffix, "amazonaws.com");
  EXPECT_EQ(PartitionOf("cn-northwest-1").dns_suffix, "amazonaws.com.cn");
  EXPECT_EQ(PartitionOf("us-gov-west-1").id, "aws-us-gov");
  EXPECT_EQ(PartitionOf("us-iso-east-1").dns_suffix, "c2s.ic.gov");
  EXPECT_EQ(PartitionOf("us-isob-east-1").dns_suffix, "sc2s.sgov.gov");
  EXPECT_EQ(PartitionOf("eusc-de-east-1").dns_suffix, "amazonaws.eu");
  EXPECT_EQ(PartitionOf("aws-cn-global").id, "aws-cn");
  // Unknown regions fall back to the aws partition, as botocore does.
  EXPECT_EQ(PartitionOf("moon-base-1").id, "aws");
  EXPECT_EQ(PartitionOf("local").id, "aws");
}

TEST(ValidateRegion, AcceptsHostLabelsOnly) {
  EXPECT_TRUE(ValidateRegion("us-east-1").has_value());
  EXPECT_TRUE(ValidateRegion("US-EAST-1").has_value());  // botocore accepts it too
  EXPECT_FALSE(ValidateRegion("").has_value());
  EXPECT_FALSE(ValidateRegion("us_east_1").has_value());
  EXPECT_FALSE(ValidateRegion("us-east-1 ").has_value());
  EXPECT_FALSE(ValidateRegion("-us").has_value());
  EXPECT_FALSE(ValidateRegion("evil.com/x").has_value());
  auto bad = ValidateRegion("us east");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("doesn't match a supported format"));
}

TEST(DefaultEndpointUrl, IsPrefixRegionAndPartitionSuffix) {
  EXPECT_EQ(DefaultEndpointUrl(Service::kBedrockRuntime, "us-east-1"),
            "https://bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kBedrock, "eu-west-1"),
            "https://bedrock.eu-west-1.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kServiceQuotas, "us-west-2"),
            "https://servicequotas.us-west-2.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kCloudWatch, "ap-south-1"),
            "https://monitoring.ap-south-1.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kSts, "us-east-1"), "https://sts.us-east-1.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kCloudWatch, "cn-north-1"),
            "https://monitoring.cn-north-1.amazonaws.com.cn");
}

TEST(DefaultEndpointUrl, NeedsARegionExceptForSts) {
  auto missing = DefaultEndpointUrl(Service::kBedrockRuntime, "");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(missing.error().message, HasSubstr("You must specify a region"));
  EXPECT_EQ(DefaultEndpointUrl(Service::kSts, ""), "https://sts.amazonaws.com");
  EXPECT_EQ(DefaultEndpointUrl(Service::kSts, "aws-global"), "https://sts.amazonaws.com");
}

// The rule set's own tests. quotaflow resolves only the standard (non-FIPS, non-dual-stack)
// endpoints; FIPS and dual-stack cases are skipped, and so is a custom endpoint without a
// region, which botocore's client also refuses (NoRegionError: it cannot sign).
TEST(DefaultEndpointUrl, MatchesTheBedrockRuntimeRuleSetTests) {
  QF_TESTDATA_DIR_OR_SKIP(dir, "bedrock-fixtures/botocore-model");
  std::ifstream in(dir / "endpoint-tests-1.json");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  const boost::json::value tests = boost::json::parse(text.str(), ec);
  ASSERT_FALSE(ec) << ec.message();
  int checked = 0;
  int skipped = 0;
  const boost::json::array& cases = tests.at("testCases").as_array();
  for (const boost::json::value& test : cases) {
    const std::string doc(test.at("documentation").as_string());
    SCOPED_TRACE(doc);
    const boost::json::object empty;
    const boost::json::object& params =
        test.as_object().contains("params") ? test.at("params").as_object() : empty;
    auto flag = [&](const char* name) {
      return params.contains(name) && params.at(name).as_bool();
    };
    const std::string region =
        params.contains("Region") ? std::string(params.at("Region").as_string()) : "";
    const std::string endpoint =
        params.contains("Endpoint") ? std::string(params.at("Endpoint").as_string()) : "";
    std::string skip;
    if (flag("UseFIPS") || flag("UseDualStack")) {
      skip = "FIPS / dual-stack endpoints are not supported";
    } else if (!endpoint.empty() && region.empty()) {
      skip = "a custom endpoint without a region cannot be signed (botocore: NoRegionError)";
    }
    if (!skip.empty()) {
      std::cout << "[ SKIPPED  ] " << doc << ": " << skip << "\n";
      ++skipped;
      continue;
    }
    const boost::json::object& expect = test.at("expect").as_object();
    Environment env;
    AwsConfig config = Config("", env, Overrides("", region));
    auto resolved = ResolveEndpoint(Service::kBedrockRuntime, config, env, endpoint);
    if (expect.contains("error")) {
      EXPECT_FALSE(resolved.has_value());
    } else {
      ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
      EXPECT_EQ(resolved->url, std::string(expect.at("endpoint").at("url").as_string()));
    }
    ++checked;
  }
  std::cout << "checked " << checked << " rule-set tests, skipped " << skipped << "\n";
  EXPECT_EQ(checked + skipped, static_cast<int>(cases.size()));
  // us-east-1, cn-north-1, us-gov-east-1, us-iso-east-1, us-isob-east-1, a custom endpoint, and
  // the missing region.
  EXPECT_GE(checked, 7);
}

// --- ResolveEndpoint precedence ---

constexpr const char* kConfigWithEndpoints =
    "[default]\nregion = us-east-1\nservices = local\nendpoint_url = http://profile:1\n"
    "[services local]\nbedrock_runtime =\n  endpoint_url = http://services-runtime:2\n"
    "sts =\n  endpoint_url = http://services-sts:3\n";

struct PrecedenceCase {
  const char* name;
  const char* explicit_url;
  bool service_env;
  bool global_env;
  bool config_services;
  bool ignore_configured;
  const char* expected_url;
  const char* expected_source;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const PrecedenceCase& c, std::ostream* os) { *os << c.name; }

class EndpointPrecedence : public ::testing::TestWithParam<PrecedenceCase> {};

TEST_P(EndpointPrecedence, FollowsBotocoreOrder) {
  const PrecedenceCase& c = GetParam();
  Environment env;
  if (c.service_env) env.Set("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://env-service:4");
  if (c.global_env) env.Set("AWS_ENDPOINT_URL", "http://env-global:5");
  if (c.ignore_configured) env.Set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
  const std::string config_text =
      c.config_services ? kConfigWithEndpoints
                        : "[default]\nregion = us-east-1\nendpoint_url = http://profile:1\n";
  AwsConfig config = Config(config_text, env, {});
  auto endpoint = ResolveEndpoint(Service::kBedrockRuntime, config, env, c.explicit_url);
  ASSERT_TRUE(endpoint.has_value()) << endpoint.error().message;
  EXPECT_EQ(endpoint->url, c.expected_url);
  EXPECT_EQ(endpoint->source, c.expected_source);
  EXPECT_EQ(endpoint->signing_region, "us-east-1");
}

INSTANTIATE_TEST_SUITE_P(
    All, EndpointPrecedence,
    ::testing::Values(PrecedenceCase{"ExplicitBeatsAll", "http://explicit:6", true, true, true,
                                     false, "http://explicit:6", "--endpoint-url"},
                      PrecedenceCase{"ServiceVariableBeatsGlobal", "", true, true, true, false,
                                     "http://env-service:4", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"},
                      PrecedenceCase{"GlobalVariableBeatsConfig", "", false, true, true, false,
                                     "http://env-global:5", "AWS_ENDPOINT_URL"},
                      PrecedenceCase{"ServicesSectionBeatsProfileUrl", "", false, false, true,
                                     false, "http://services-runtime:2",
                                     "[services local] in /cfg"},
                      PrecedenceCase{"ProfileUrl", "", false, false, false, false,
                                     "http://profile:1", "endpoint_url of profile default"},
                      PrecedenceCase{"IgnoreConfiguredSkipsEnvironmentAndConfig", "", true, true,
                                     true, true, "https://bedrock-runtime.us-east-1.amazonaws.com",
                                     "default"},
                      PrecedenceCase{"IgnoreConfiguredKeepsExplicit", "http://explicit:6", true,
                                     true, true, true, "http://explicit:6", "--endpoint-url"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ResolveEndpoint, EachServiceHasItsOwnVariableAndServicesKey) {
  Environment env;
  env.Set("AWS_ENDPOINT_URL_SERVICE_QUOTAS", "http://sq:1")
      .Set("AWS_ENDPOINT_URL_CLOUDWATCH", "http://cw:2")
      .Set("AWS_ENDPOINT_URL_BEDROCK", "http://cp:3");
  AwsConfig config = Config(kConfigWithEndpoints, env, {});
  EXPECT_EQ(ResolveEndpoint(Service::kServiceQuotas, config, env)->url, "http://sq:1");
  EXPECT_EQ(ResolveEndpoint(Service::kCloudWatch, config, env)->url, "http://cw:2");
  EXPECT_EQ(ResolveEndpoint(Service::kBedrock, config, env)->url, "http://cp:3");
  EXPECT_EQ(ResolveEndpoint(Service::kSts, config, env)->url, "http://services-sts:3");
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env)->url,
            "http://services-runtime:2");
}

TEST(ResolveEndpoint, IgnoreConfiguredCanComeFromTheProfile) {
  Environment env;
  env.Set("AWS_ENDPOINT_URL", "http://env-global:5");
  AwsConfig config =
      Config("[default]\nregion = eu-west-1\nignore_configured_endpoint_urls = TRUE\n", env, {});
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env)->url,
            "https://bedrock-runtime.eu-west-1.amazonaws.com");
}

TEST(ResolveEndpoint, MissingServicesSectionFailsOnlyWhenConsulted) {
  Environment env;
  AwsConfig config = Config("[default]\nregion = us-east-1\nservices = nope\n", env, {});
  auto endpoint = ResolveEndpoint(Service::kBedrockRuntime, config, env);
  ASSERT_FALSE(endpoint.has_value());
  EXPECT_THAT(endpoint.error().message,
              HasSubstr("\"nope\" services configuration does not exist"));
  env.Set("AWS_ENDPOINT_URL", "http://env-global:5");
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env)->url, "http://env-global:5");
}

TEST(ResolveEndpoint, TrimsTrailingSlashesButKeepsAPathPrefix) {
  Environment env;
  AwsConfig config = Config("", env);
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env, "http://localhost:1234/")->url,
            "http://localhost:1234");
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env, "http://h/prefix/")->url,
            "http://h/prefix");
  EXPECT_EQ(ResolveEndpoint(Service::kBedrockRuntime, config, env, "http://[::1]:8080")->url,
            "http://[::1]:8080");
}

TEST(ResolveEndpoint, RejectsWhatBotocoreRejects) {
  Environment env;
  AwsConfig config = Config("", env);
  for (const char* url : {"localhost:1234", "ftp://host", "http://", "http://bad_host",
                          "http://host:port", "http://user@host"}) {
    auto endpoint = ResolveEndpoint(Service::kBedrockRuntime, config, env, url);
    ASSERT_FALSE(endpoint.has_value()) << url;
    EXPECT_THAT(endpoint.error().message, HasSubstr("Invalid endpoint: "));
  }
  AwsConfig no_region = Config("", env, {});
  auto endpoint = ResolveEndpoint(Service::kBedrockRuntime, no_region, env, "http://localhost:1");
  ASSERT_FALSE(endpoint.has_value());
  EXPECT_THAT(endpoint.error().message, HasSubstr("You must specify a region"));
  AwsConfig bad_region = Config("", env, Overrides("", "us east"));
  EXPECT_FALSE(ResolveEndpoint(Service::kBedrockRuntime, bad_region, env).has_value());
}

TEST(ResolveEndpoint, StsWithoutRegionUsesTheGlobalEndpoint) {
  Environment env;
  AwsConfig config = Config("", env, {});
  auto endpoint = ResolveEndpoint(Service::kSts, config, env);
  ASSERT_TRUE(endpoint.has_value());
  EXPECT_EQ(endpoint->url, "https://sts.amazonaws.com");
  EXPECT_EQ(endpoint->signing_region, "us-east-1");
}

}  // namespace
}  // namespace quotaflow::aws
