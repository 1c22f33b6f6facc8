#pragma once
// A blocking client for the bedrock control plane's GetInferenceProfile (bedrock-wire.md section
// 8): restJson `GET /inference-profiles/{inferenceProfileIdentifier}`, the id or ARN
// percent-encoded as botocore encodes a path label (':' and '/' too), SigV4 service `bedrock` on
// bedrock.<region>.amazonaws.com. The engine calls it once per application inference profile it is
// handed, to learn which model (and so which quotas and catalog entry) the profile points to;
// nothing on the hot path does.
//
// Failures are quotaflow::Error values carrying the service's code in aws_code; an unknown profile
// is kNotFound (404 ResourceNotFoundException). Throttles and transient faults are retried with
// backoff first (see ControlPlaneOptions::retry).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aws/http_client.h"
#include "bedrock/aws_json_client.h"
#include "bedrock/model_catalog.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

// One inference profile (the API's GetInferenceProfile response, the fields quotaflow uses).
struct InferenceProfile {
  std::string id;      // inferenceProfileId: "us.amazon.nova-lite-v1:0", or "abc123"
  std::string arn;     // inferenceProfileArn
  std::string name;    // inferenceProfileName
  std::string type;    // "SYSTEM_DEFINED" or "APPLICATION"
  std::string status;  // "ACTIVE"
  // models[].modelArn, in the service's order: "arn:aws:bedrock:<region>::foundation-model/<id>",
  // one per region the profile routes to.
  std::vector<std::string> model_arns;
};

// Thread safety: GetInferenceProfile is safe from any thread except the HttpClient's loop thread;
// it blocks until the service answered (retries and their backoff included).
class InferenceProfilesClient {
 public:
  // kInvalidArgument for options without credentials, with a bad region or endpoint (see
  // ControlPlaneOptions; page_size is unused). REQUIRES: `http`, its running loop and `clock`
  // outlive the client; the clock's wall time dates the signatures.
  static Result<std::unique_ptr<InferenceProfilesClient>> Create(
      aws::HttpClient& http, ControlPlaneOptions options, const Clock& clock = SystemClock());

  InferenceProfilesClient(const InferenceProfilesClient&) = delete;
  InferenceProfilesClient& operator=(const InferenceProfilesClient&) = delete;
  ~InferenceProfilesClient();

  // The profile `id_or_arn` names: a system-defined profile id, an application profile id, or
  // either's ARN, in the client's region. kNotFound (aws_code ResourceNotFoundException, HTTP
  // 404) when the region has no such profile; kInvalidArgument for an empty id; kProtocol for a
  // 2xx answer without inferenceProfileId or inferenceProfileArn.
  Result<InferenceProfile> GetInferenceProfile(std::string_view id_or_arn);

  // The options with the endpoint resolved.
  const ControlPlaneOptions& options() const;

 private:
  explicit InferenceProfilesClient(std::unique_ptr<internal::AwsJsonClient> client);

  std::unique_ptr<internal::AwsJsonClient> client_;
};

// The regions a profile sends requests to: the region of each of its model ARNs, in order, without
// repeats (for residency checks).
std::vector<std::string> DestinationRegions(const InferenceProfile& profile);

// The catalog id a profile serves and draws its quotas from, for ModelCatalog::Resolve:
//   - a SYSTEM_DEFINED profile: its own id;
//   - an APPLICATION profile: the base model id of its model ARN in the profile's own region (the
//     ARN's region; else the first model ARN) — a copy of a base model, one region, on demand — or,
//     when it copies a system-defined profile (several regions), that profile's id
//     "<geo>.<base id>": the most specific geo of the model ("jp", "au", "us-gov", "us", "eu",
//     "apac", then "global") whose regions include every region the profile lists.
// kNotFound naming the profile when the model is not in `catalog`, no geo of the model fits the
// regions, or a model ARN is not a foundation-model ARN; kProtocol when it lists no models.
Result<std::string> ModelIdForProfile(const InferenceProfile& profile, const ModelCatalog& catalog);

// Parser of the response shape, exposed for tests.
InferenceProfile ParseInferenceProfile(const boost::json::object& profile);

}  // namespace quotaflow::bedrock
