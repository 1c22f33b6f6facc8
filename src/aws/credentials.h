#pragma once
// Where quotaflow's AWS credentials come from: botocore 1.43's default credential chain
// (credentials.py create_credential_resolver), its refresh rules for temporary credentials, and
// its choice between SigV4 and a Bedrock API key (bearer token).
//
// The chain, in botocore's order (the first source that is configured wins; a source that is
// configured but fails stops the chain with its error instead of silently using another
// identity):
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SECURITY_TOKEN or
//      AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION. Skipped when the profile was given
//      explicitly (--profile), as botocore skips it for a profile given in code; AWS_PROFILE
//      alone does not skip it.
//   2. assume role: the profile's role_arn with source_profile or credential_source, through STS
//      AssumeRole (role_session_name, external_id, duration_seconds honoured; mfa_serial is not
//      supported: quotaflow cannot prompt).
//   3. web identity and SSO profiles: not supported; a profile configured for them fails here with
//      a clear message rather than falling through to another identity.
//   4. shared credentials file, the profile's section: aws_access_key_id, aws_secret_access_key,
//      aws_security_token or aws_session_token.
//   5. `aws login` profiles (login_session): not supported, reported like 3.
//   6. the profile's credential_process (run without a shell; JSON Version 1 on stdout; its
//      stderr, but never its stdout, is quoted when it fails).
//   7. shared config file, the profile's section: the same keys as 4.
//   8. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against 169.254.170.2) or
//      AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or the ECS/EKS hosts),
//      Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read on every fetch) or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN.
//   9. EC2 instance metadata (IMDSv2: PUT a session token, GET the role name, GET its
//      credentials). AWS_EC2_METADATA_DISABLED=true skips it; AWS_EC2_METADATA_SERVICE_ENDPOINT
//      (or ec2_metadata_service_endpoint, or the ipv6 endpoint mode) moves it;
//      AWS_METADATA_SERVICE_TIMEOUT / _NUM_ATTEMPTS (default 1 s, 1 attempt) bound it, so a
//      machine without IMDS fails within about a second. (Where botocore, after a failed token
//      PUT, still tries one IMDSv1 GET, quotaflow stops when the PUT could not connect at all.)
// (botocore's legacy boto2 and AWS_CREDENTIAL_FILE sources are not carried over.)
//
// Secrets (secret keys, session tokens, bearer tokens, container authorization tokens) never
// appear in an error message, a Describe() string or a log line; error messages never quote a
// credential endpoint's response body.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/config.h"
#include "aws/credentials_provider.h"
#include "aws/endpoints.h"
#include "aws/http_client.h"
#include "aws/sigv4.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// Credentials and when they stop working.
struct ExpiringCredentials {
  Credentials credentials;
  // nullopt for long-term credentials, which are never refreshed.
  std::optional<WallTime> expiration;
};

// One place credentials can come from: a link of the chain.
// Thread safety: CredentialChain never calls Load concurrently on one source.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // Where it looks, for the "unable to locate credentials" message: never a secret.
  virtual std::string Describe() const = 0;
  // Credentials; nullopt when this source is not configured (the chain looks further); or the
  // error of a source that is configured but failed (the chain stops there). Called again to
  // refresh the credentials it supplied. May block: network, a child process.
  virtual Result<std::optional<ExpiringCredentials>> Load() = 0;
};

// botocore's refresh windows for temporary credentials. Inside the advisory window one caller
// refreshes while the others keep using the current credentials, and a failed refresh is ignored;
// inside the mandatory window every caller waits for the refresh, and a failure is an error.
struct RefreshWindows {
  Duration advisory = std::chrono::minutes(15);
  Duration mandatory = std::chrono::minutes(10);
};

// A chain of sources with botocore's resolution and refresh rules. The first GetCredentials walks
// the chain; the source that answered supplies every later refresh. A walk that finds nothing is
// retried by the next call (which costs the IMDS timeout again when IMDS is in the chain).
// Thread safety: GetCredentials is safe from many threads. Only one thread resolves or refreshes
// at a time, outside the lock; it may block for as long as the source takes, so never call it on
// the event loop thread (the HTTP sources wait for that loop).
class CredentialChain final : public CredentialsProvider {
 public:
  // REQUIRES: `clock` outlives the chain; its wall time decides expiry.
  CredentialChain(std::vector<std::unique_ptr<CredentialSource>> sources, Clock& clock,
                  RefreshWindows windows = {});
  CredentialChain(const CredentialChain&) = delete;
  CredentialChain& operator=(const CredentialChain&) = delete;

  // kAuth listing every place it looked when no source has credentials; a failing source's own
  // error (kAuth, or kUnavailable for a transient network fault); kAuth when refreshed
  // credentials are already expired.
  Result<Credentials> GetCredentials() override;
  Result<ExpiringCredentials> GetExpiringCredentials();

  // Describe() of the source that supplied the current credentials; empty before the first
  // success.
  std::string CurrentSource() const;
  // Describe() of every source, in chain order.
  std::vector<std::string> DescribeSources() const;

 private:
  // Walks the chain: the first source's credentials and its index, or the error to return.
  Result<std::pair<ExpiringCredentials, size_t>> Resolve();
  // REQUIRES: `lock` holds mu_, !busy_ and !current_. Walks the chain outside the lock.
  Result<ExpiringCredentials> ResolveLocked(std::unique_lock<std::mutex>& lock);
  // REQUIRES: `lock` holds mu_, !busy_ and current_ set. Reloads from the current source outside
  // the lock; `mandatory` makes a failure an error instead of keeping the current credentials.
  Result<ExpiringCredentials> RefreshLocked(std::unique_lock<std::mutex>& lock, bool mandatory);
  // REQUIRES: mu_ held and current_ set.
  const ExpiringCredentials& CurrentLocked() const;

  const std::vector<std::unique_ptr<CredentialSource>> sources_;
  Clock& clock_;
  const RefreshWindows windows_;

  mutable std::mutex mu_;
  std::condition_variable idle_;                // signalled when busy_ turns false
  bool busy_ = false;                           // guarded by mu_: a resolve or refresh runs
  std::optional<ExpiringCredentials> current_;  // guarded by mu_
  size_t source_index_ = 0;                     // guarded by mu_; valid when current_ is set
};

// Settings of the default chain. Each default is botocore's unless said otherwise.
struct CredentialChainOptions {
  RefreshWindows refresh;

  // Container credentials: per-attempt timeout, attempts, pause between attempts.
  Duration container_timeout = std::chrono::seconds(2);
  int container_attempts = 3;
  Duration container_retry_delay = std::chrono::seconds(1);
  // Where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points: "http://169.254.170.2". Tests only.
  std::string container_base_url = "http://169.254.170.2";

  // IMDS per-request timeout and attempts; nullopt = AWS_METADATA_SERVICE_TIMEOUT /
  // metadata_service_timeout (seconds, default 1) and AWS_METADATA_SERVICE_NUM_ATTEMPTS /
  // metadata_service_num_attempts (default 1). Longer survives a slow IMDS; shorter fails faster
  // off EC2.
  std::optional<Duration> imds_timeout;
  std::optional<int> imds_attempts;

  // credential_process: how long it may run before it is killed (botocore waits forever, which
  // would hang a batch on a process that prompts), and how much output it may print.
  Duration process_timeout = std::chrono::minutes(1);
  size_t process_output_limit = size_t{1} << 20;

  // AssumeRole's RoleSessionName when the profile has no role_session_name. Empty =
  // "quotaflow-session-<unix seconds>" (botocore: "botocore-session-<unix seconds>").
  std::string role_session_name;
  // The STS endpoint for AssumeRole, like --endpoint-url for STS only. Empty = ResolveEndpoint
  // (so AWS_ENDPOINT_URL_STS and the profile's services section apply).
  std::string sts_endpoint_url;
  Duration sts_timeout = std::chrono::seconds(30);
};

// The sources of botocore's default chain for `config.profile_name`, in order (see the top of
// this file). `http` serves the container, IMDS and STS sources.
// REQUIRES: `http` and `clock` outlive the sources; `http`'s loop is running whenever Load runs.
std::vector<std::unique_ptr<CredentialSource>> DefaultCredentialSources(
    const AwsConfig& config, const Environment& env, HttpClient& http, Clock& clock,
    const CredentialChainOptions& options = {});

// A CredentialChain over DefaultCredentialSources.
std::unique_ptr<CredentialChain> MakeDefaultCredentialChain(
    const AwsConfig& config, const Environment& env, HttpClient& http, Clock& clock,
    const CredentialChainOptions& options = {});

// Parses an Expiration as credential endpoints and processes write it: ISO 8601
// "2025-01-01T00:00:00Z", with optional fractional seconds and a "Z" or +HH:MM / -HH:MM / +HHMM
// offset (none = UTC). nullopt for anything else.
std::optional<WallTime> ParseIso8601(std::string_view text);

// --- auth scheme: SigV4 or a Bedrock API key ---

enum class AuthScheme { kSigV4, kBearer };

// What a caller sets in code (flags), as botocore's Config(...). Only settings made here can stop
// a bearer token in the environment from being used; AWS_AUTH_SCHEME_PREFERENCE and the profile's
// auth_scheme_preference cannot (botocore's rule).
struct AuthSettings {
  // Comma-separated scheme names in order of preference: "sigv4", "httpBearerAuth" (others, such
  // as "sigv4a", are skipped). Empty = not set in code.
  std::string auth_scheme_preference;
  // Config(signature_version="v4"): SigV4 whatever else is set.
  bool force_sigv4 = false;
};

struct ServiceAuth {
  AuthScheme scheme = AuthScheme::kSigV4;
  // kBearer: the token, sent as "Authorization: Bearer <token>". A secret: never log it. May be
  // empty: botocore sends an empty token when the variable is set but empty.
  std::string bearer_token;
  // kBearer: the variable it came from, "AWS_BEARER_TOKEN_BEDROCK", for messages.
  std::string bearer_token_source;
  // kSigV4: the credentials to sign with (the provider passed in).
  std::shared_ptr<CredentialsProvider> credentials;
};

// "AWS_BEARER_TOKEN_" + the signing name upper-cased, '-' and ' ' as '_'.
std::string BearerTokenVariable(std::string_view signing_name);

// Decides how to authenticate requests to `service` as botocore does: a bearer token when the
// service's signing name is "bedrock" (so bedrock and bedrock-runtime), AWS_BEARER_TOKEN_BEDROCK is
// set (even to ""), and nothing in `in_code` says otherwise (force_sigv4, or a preference whose
// first scheme the service supports is sigv4); else SigV4 with `sigv4_credentials`. A preference
// (in code, or from AWS_AUTH_SCHEME_PREFERENCE / auth_scheme_preference) that selects
// httpBearerAuth without a token fails (kAuth, "Unable to locate authorization token").
// REQUIRES: sigv4_credentials is not null.
Result<ServiceAuth> ResolveServiceAuth(Service service, const AwsConfig& config,
                                       const Environment& env,
                                       std::shared_ptr<CredentialsProvider> sigv4_credentials,
                                       const AuthSettings& in_code = {});

}  // namespace quotaflow::aws
