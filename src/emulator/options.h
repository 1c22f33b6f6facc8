#pragma once
// Everything `quotaflow emulate` can be told, with the defaults a user gets when starting it bare:
// the documented credentials, Bedrock's one-minute period, a realistic latency model, no faults.
// Loaded from TOML by config.h; docs/emulator.example.toml shows every field.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/quota_books.h"
#include "quotaflow/clock.h"

namespace quotaflow::emulator {

// The account the emulator serves. One account id keeps the ARNs it prints stable.
inline constexpr char kDefaultAccountId[] = "123456789012";
// The documented default credentials (the AWS documentation's example key pair), so that
// `AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalr... boto3` works at once.
inline constexpr char kDefaultAccessKeyId[] = "AKIAIOSFODNN7EXAMPLE";
inline constexpr char kDefaultSecretAccessKey[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
// The documented default Bedrock API key (AWS_BEARER_TOKEN_BEDROCK).
inline constexpr char kDefaultBearerKey[] = "ABSKQmVkcm9ja0VtdWxhdG9yS2V5";

struct Credential {
  std::string access_key_id;
  std::string secret_access_key;
};

struct AuthOptions {
  // SigV4 key pairs accepted; a request signed with another key id gets 403
  // UnrecognizedClientException. Default: the documented pair above.
  std::vector<Credential> credentials = {{kDefaultAccessKeyId, kDefaultSecretAccessKey}};
  // Bedrock API keys accepted as `Authorization: Bearer <key>` (bedrock and bedrock-runtime only,
  // as on AWS). Default: the documented key above.
  std::vector<std::string> bearer_keys = {kDefaultBearerKey};
  // How far X-Amz-Date may be from the emulator's clock: AWS's 5 minutes.
  Duration max_clock_skew = std::chrono::minutes(5);
  // The region assumed for a bearer request whose Host names none (127.0.0.1:port).
  std::string default_region = "us-east-1";
};

// The quotas of one path to a model. tokens_per_day absent = TPM × 1440 (× 2 for cross-region and
// global profiles, as the quota's name says).
struct PathQuota {
  int64_t tokens_per_minute = 0;
  int64_t requests_per_minute = 0;  // 0 = not enforced (Bedrock no longer enforces RPM)
  int64_t max_concurrency = 0;      // 0 = not enforced
  std::optional<int64_t> tokens_per_day = std::nullopt;
};

inline PathQuota MakePathQuota(int64_t tokens_per_minute) {
  PathQuota quota;
  quota.tokens_per_minute = tokens_per_minute;
  return quota;
}

// A quota for specific keys, over the defaults. `region` and `model` may be "*"; `model` is a base
// model id (its on-demand path) or a profile id ("us.anthropic...", "global.anthropic..."). Later
// overrides win. Unset fields keep the default.
struct QuotaOverride {
  std::string region = "*";
  std::string model = "*";
  std::optional<int64_t> tokens_per_minute = std::nullopt;
  std::optional<int64_t> requests_per_minute = std::nullopt;
  std::optional<int64_t> max_concurrency = std::nullopt;
  std::optional<int64_t> tokens_per_day = std::nullopt;
};

struct QuotaOptions {
  BooksOptions books;  // counting mode (default token bucket) and period (default one minute)
  // Defaults per path; the values are the ones Bedrock documents for new-ish accounts.
  PathQuota on_demand = MakePathQuota(400'000);
  PathQuota cross_region = MakePathQuota(800'000);
  PathQuota global = MakePathQuota(1'000'000);
  std::vector<QuotaOverride> overrides;
};

// What RequestServiceQuotaIncrease does with a request.
enum class IncreasePolicy : uint8_t { kApprove, kDeny, kPending };

struct ServiceQuotasOptions {
  IncreasePolicy policy = IncreasePolicy::kApprove;
  // Approved (or denied) this long after the request; until then PENDING. 0 = at once.
  Duration decide_after = std::chrono::seconds(0);
};

// Output length in tokens, drawn per request, then capped by the request's max_tokens (the model
// maximum when absent): a draw above the cap stops at the cap with stop reason max_tokens.
struct OutputLengthOptions {
  enum class Distribution : uint8_t { kFixed, kUniform, kNormal };
  Distribution distribution = Distribution::kNormal;
  int64_t mean = 300;    // kFixed: the length; kNormal: the mean
  int64_t stddev = 100;  // kNormal only
  int64_t min = 1;       // kUniform and kNormal: lower bound (kNormal clamps)
  int64_t max = 1'000;   // kUniform: upper bound; kNormal clamps at it
};

// Time to first token + per output token + uniform jitter in [0, jitter]. Streams pace their
// deltas by it; a non-streaming response is sent once the whole generation has "taken" its time.
// All zero for throughput runs.
struct LatencyOptions {
  Duration time_to_first_token = std::chrono::milliseconds(300);
  Duration per_output_token = std::chrono::milliseconds(10);
  Duration jitter = std::chrono::milliseconds(50);
};

// Probabilities in [0, 1] per runtime request, drawn from the seeded generator, checked in this
// order after auth and validation (a faulted request is not charged).
struct FaultOptions {
  double internal_error = 0;       // 500 InternalServerException
  double service_unavailable = 0;  // 503 ServiceUnavailableException
  double model_timeout = 0;        // 408 ModelTimeoutException
  double model_not_ready = 0;      // 429 ModelNotReadyException
  double connection_reset = 0;     // TCP reset instead of a response
  double stalled_response = 0;     // never responds
  // Streams only: a 200 stream that ends with a mid-stream throttlingException frame after its
  // first delta (charged its full reservation: the server had admitted it).
  double stream_throttle = 0;
  // Only requests for these regions are faulted; empty = every region. With `start_after`, a
  // region that "starts failing" mid-run, for failover tests.
  std::vector<std::string> regions;
  // Faults begin this long after Start.
  Duration start_after = Duration::zero();
};

// An application inference profile (bedrock-wire.md section 8), as CreateInferenceProfile with
// `modelSource.copyFrom` would make it: the id names it, and it serves the model its source
// serves, in the regions its source covers, drawing on its source's quotas (as on Bedrock, an
// application profile has no quota of its own). It exists in one region, like on AWS.
struct ApplicationProfileOptions {
  std::string id;           // the ARN's last part, "abc123": 1 to 64 letters and digits
  std::string name;         // inferenceProfileName; empty = the id
  std::string description;  // empty = none in the responses
  std::string copy_from;    // a base model id or system-defined profile id (or either's ARN)
  std::string region;       // empty = auth.default_region
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8970;  // 0 = any free port (printed at start)
  int threads = 1;
  Duration idle_timeout = std::chrono::seconds(60);
};

struct EmulatorOptions {
  ServerOptions server;
  uint64_t seed = 1;          // output text, output lengths, jitter and faults
  std::string model_catalog;  // a models.json path; empty = the embedded catalog
  AuthOptions auth;
  QuotaOptions quotas;
  ServiceQuotasOptions service_quotas;
  OutputLengthOptions output;
  LatencyOptions latency;
  FaultOptions faults;
  // The account's application inference profiles; ids are unique. Default: none.
  std::vector<ApplicationProfileOptions> application_profiles;
};

// An emulator on a free port that answers at once, `output_tokens` tokens each: for tests and
// benchmarks that time the client, not the latency model. Quotas stay the defaults.
inline EmulatorOptions ImmediateEmulator(int64_t output_tokens) {
  EmulatorOptions options;
  options.server.port = 0;
  options.latency = LatencyOptions{Duration::zero(), Duration::zero(), Duration::zero()};
  options.output.distribution = OutputLengthOptions::Distribution::kFixed;
  options.output.mean = output_tokens;
  return options;
}

}  // namespace quotaflow::emulator
