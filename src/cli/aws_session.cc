#include "cli/aws_session.h"

#include <utility>

#include "aws/endpoints.h"

namespace quotaflow::cli {

Result<std::unique_ptr<AwsSession>> AwsSession::Open(const AwsFlags& flags) {
  aws::Environment env = aws::Environment::FromProcess();
  aws::ConfigOverrides overrides;
  overrides.profile = flags.profile;
  overrides.region = flags.region;
  Result<aws::AwsConfig> config = aws::LoadAwsConfig(env, overrides);
  if (!config) return tl::unexpected(std::move(config).error());
  Result<std::optional<int>> max_attempts = aws::MaxAttempts(*config, env);
  if (!max_attempts) return tl::unexpected(std::move(max_attempts).error());
  return std::unique_ptr<AwsSession>(
      new AwsSession(flags, std::move(env), std::move(*config), *max_attempts));
}

AwsSession::AwsSession(AwsFlags flags, aws::Environment env, aws::AwsConfig config,
                       std::optional<int> max_attempts)
    : flags_(std::move(flags)),
      env_(std::move(env)),
      config_(std::move(config)),
      max_attempts_(max_attempts),
      loop_(SystemClock()) {
  loop_.Start();
  http_ = std::make_unique<aws::HttpClient>(loop_);
  credentials_ = aws::MakeDefaultCredentialChain(config_, env_, *http_, SystemClock());
}

AwsSession::~AwsSession() {
  credentials_.reset();
  http_.reset();
  loop_.Stop();
}

Result<aws::Endpoint> AwsSession::EndpointFor(aws::Service service) const {
  return aws::ResolveEndpoint(service, config_, env_, flags_.endpoint_url);
}

Result<bedrock::ControlPlaneOptions> AwsSession::OptionsFor(aws::Service service,
                                                            const std::string& region) {
  aws::AwsConfig config = config_;
  if (!region.empty()) config.region = region;
  Result<aws::Endpoint> endpoint = aws::ResolveEndpoint(service, config, env_, flags_.endpoint_url);
  if (!endpoint) return tl::unexpected(std::move(endpoint).error());
  bedrock::ControlPlaneOptions options;
  options.endpoint = endpoint->url;
  options.region = endpoint->signing_region;
  options.credentials = credentials_.get();
  if (max_attempts_) options.retry.max_attempts = *max_attempts_;
  return options;
}

Result<std::unique_ptr<bedrock::ServiceQuotasClient>> AwsSession::ServiceQuotas(
    const std::string& region) {
  Result<bedrock::ControlPlaneOptions> options = OptionsFor(aws::Service::kServiceQuotas, region);
  if (!options) return tl::unexpected(std::move(options).error());
  return bedrock::ServiceQuotasClient::Create(*http_, std::move(*options));
}

Result<std::unique_ptr<bedrock::CloudWatchClient>> AwsSession::CloudWatch() {
  Result<bedrock::ControlPlaneOptions> options = OptionsFor(aws::Service::kCloudWatch, "");
  if (!options) return tl::unexpected(std::move(options).error());
  return bedrock::CloudWatchClient::Create(*http_, std::move(*options));
}

Result<std::unique_ptr<bedrock::InferenceProfilesClient>> AwsSession::InferenceProfiles(
    const std::string& region) {
  Result<bedrock::ControlPlaneOptions> options = OptionsFor(aws::Service::kBedrock, region);
  if (!options) return tl::unexpected(std::move(options).error());
  return bedrock::InferenceProfilesClient::Create(*http_, std::move(*options));
}

}  // namespace quotaflow::cli
