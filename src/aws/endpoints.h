#pragma once
// Where quotaflow sends each AWS service's requests, resolved as botocore 1.43 does:
//   1. an explicit endpoint URL (--endpoint-url, botocore's endpoint_url= in code);
//   2. AWS_ENDPOINT_URL_<SERVICE> (AWS_ENDPOINT_URL_BEDROCK_RUNTIME, ..._BEDROCK,
//      ..._SERVICE_QUOTAS, ..._CLOUDWATCH, ..._STS);
//   3. AWS_ENDPOINT_URL;
//   4. the profile's "services = NAME" section "[services NAME]", sub-section
//      "<service key> =\n  endpoint_url = ..." (bedrock_runtime, bedrock, service_quotas,
//      cloudwatch, sts);
//   5. the profile's endpoint_url;
//   6. the regional default https://<prefix>.<region>.<partition DNS suffix> (the endpoint rule
//      sets' non-FIPS, non-dual-stack case).
// Steps 2-5 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile's
// ignore_configured_endpoint_urls) is "true". FIPS and dual-stack endpoints are not supported.
//
// Thread safety: pure functions over their arguments.

#include <string>
#include <string_view>

#include "aws/config.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// The AWS services quotaflow talks to.
enum class Service { kBedrockRuntime, kBedrock, kServiceQuotas, kCloudWatch, kSts };

// What botocore's models and configuration say about a service.
struct ServiceInfo {
  Service service;
  std::string_view endpoint_prefix;  // host label: "bedrock-runtime", "servicequotas", "monitoring"
  std::string_view signing_name;     // SigV4 service: "bedrock" for bedrock-runtime too
  std::string_view env_suffix;       // AWS_ENDPOINT_URL_<env_suffix>: "BEDROCK_RUNTIME"
  std::string_view config_key;       // key in a [services] section: "bedrock_runtime"
  // The model's `auth` list has smithy.api#httpBearerAuth (Bedrock API keys): bedrock and
  // bedrock-runtime.
  bool supports_bearer;
};

const ServiceInfo& GetServiceInfo(Service service);

// Which partition a region belongs to, by botocore's partitions.json rules (the regions' regular
// expressions; anything unmatched is "aws"), and that partition's DNS suffix: "amazonaws.com",
// "amazonaws.com.cn", "c2s.ic.gov", ...
struct Partition {
  std::string_view id;          // "aws", "aws-cn", "aws-us-gov", ...
  std::string_view dns_suffix;  // "amazonaws.com"
};
Partition PartitionOf(std::string_view region);

// Fails (kInvalidArgument, botocore's wording) unless `region` is a valid host label: letters,
// digits and '-', 1 to 63 characters, not starting or ending with '-'.
Status ValidateRegion(std::string_view region);

// https://<prefix>.<region>.<dns suffix>. An empty region fails ("You must specify a region."),
// except for STS, whose global endpoint https://sts.amazonaws.com serves it (signed for
// us-east-1), as botocore does for a client without a region or with region "aws-global".
Result<std::string> DefaultEndpointUrl(Service service, std::string_view region);

struct Endpoint {
  // Scheme, host, optional port and path prefix, without a trailing '/': request paths are
  // appended to it ("https://bedrock-runtime.us-east-1.amazonaws.com" + "/model/.../converse").
  std::string url;
  // The SigV4 region: the configured region ("us-east-1" for STS without one).
  std::string signing_region;
  // Which rule chose it, for logs and error messages: "--endpoint-url",
  // "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL", "[services NAME] in <config file>",
  // "endpoint_url of profile NAME", or "default".
  std::string source;
};

// Resolves `service`'s endpoint for `config` (its region and profile) by the rules above.
// `endpoint_url` is the explicit override; empty = none. Fails (kInvalidArgument) on a missing or
// malformed region (a region is needed even with a custom endpoint, to sign), on an endpoint URL
// that is not http:// or https:// with a host ("Invalid endpoint: ..."), and when the profile
// names a services section that does not exist (botocore's InvalidConfigError).
Result<Endpoint> ResolveEndpoint(Service service, const AwsConfig& config, const Environment& env,
                                 std::string_view endpoint_url = {});

}  // namespace quotaflow::aws
