#pragma once
// The AWS side of the commands that call AWS (quotas, analyze, monitor, alarms), with the AWS
// CLI's conventions: --profile, --region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's
// region), --endpoint-url (else AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's
// services section), credentials from botocore's default chain for the profile, and the attempts
// of every call from AWS_MAX_ATTEMPTS or the profile's max_attempts.

#include <memory>
#include <optional>
#include <string>

#include "aws/config.h"
#include "aws/credentials.h"
#include "aws/endpoints.h"
#include "aws/event_loop.h"
#include "aws/http_client.h"
#include "bedrock/cloudwatch_client.h"
#include "bedrock/inference_profiles_client.h"
#include "bedrock/service_quotas_client.h"
#include "quotaflow/error.h"

namespace quotaflow::cli {

// The AWS flags every such command takes. Empty = not given.
struct AwsFlags {
  std::string profile;       // --profile
  std::string region;        // --region
  std::string endpoint_url;  // --endpoint-url: every service of the command is sent there
};

// One command's connection to AWS: the resolved configuration, an event loop thread with its HTTP
// client, and the credential chain. Clients made here must be destroyed before the session.
// Thread safety: one command's thread only.
class AwsSession {
 public:
  // Loads the shared config files for the flags' profile and starts the loop thread. Fails
  // (kNotFound) for a profile that exists nowhere, (kInvalidArgument) for malformed config files
  // or max attempts.
  // Credentials are looked up at the first call, so a missing key fails there (kAuth).
  static Result<std::unique_ptr<AwsSession>> Open(const AwsFlags& flags);

  AwsSession(const AwsSession&) = delete;
  AwsSession& operator=(const AwsSession&) = delete;
  ~AwsSession();

  // kInvalidArgument without a region ("You must specify a region ...") or with a malformed
  // region or endpoint URL.
  // `region` empty = the session's region; another one serves a route's target there, with the
  // same profile and endpoint rules.
  Result<std::unique_ptr<bedrock::ServiceQuotasClient>> ServiceQuotas(
      const std::string& region = "");
  Result<std::unique_ptr<bedrock::CloudWatchClient>> CloudWatch();
  // The Bedrock control plane's GetInferenceProfile (application inference profiles).
  Result<std::unique_ptr<bedrock::InferenceProfilesClient>> InferenceProfiles(
      const std::string& region = "");

  // Where `service` is reached (honouring --endpoint-url and the environment) and its signing
  // region; kInvalidArgument as above.
  Result<aws::Endpoint> EndpointFor(aws::Service service) const;
  // The credential chain for the profile. Owned by the session.
  aws::CredentialsProvider* credentials() const { return credentials_.get(); }
  const aws::AwsConfig& config() const { return config_; }
  // AWS_MAX_ATTEMPTS, else the profile's max_attempts; nullopt when neither is set. The session's
  // own clients already use it.
  std::optional<int> max_attempts() const { return max_attempts_; }

 private:
  AwsSession(AwsFlags flags, aws::Environment env, aws::AwsConfig config,
             std::optional<int> max_attempts);

  Result<bedrock::ControlPlaneOptions> OptionsFor(aws::Service service, const std::string& region);

  const AwsFlags flags_;
  const aws::Environment env_;
  const aws::AwsConfig config_;
  const std::optional<int> max_attempts_;
  aws::EventLoop loop_;
  std::unique_ptr<aws::HttpClient> http_;
  std::unique_ptr<aws::CredentialChain> credentials_;
};

}  // namespace quotaflow::cli
