#pragma once
// The blocking transport under the control-plane clients (Service Quotas, CloudWatch, the bedrock
// control plane). An awsJson operation is `POST /` with a JSON body,
// `X-Amz-Target: <prefix><Operation>`, the protocol's Content-Type, SigV4 with the service's
// signing name; a 2xx body is a JSON object, anything else an error parsed as botocore parses
// awsJson errors (aws::ParseAwsJsonError: body `__type`, or CloudWatch's `x-amzn-query-error`
// header). A restJson read (the bedrock control plane's GetInferenceProfile) is a GET of a path,
// its errors parsed as botocore's RestJSONParser does (aws::ParseRestJsonError). Transient faults
// and throttles are retried with aws::RetryPolicy's full-jitter backoff; the wait blocks the
// calling thread, which is fine for the CLI and start-up code these clients serve (the hot path
// never calls them).
//
// Private to bedrock/: service_quotas_client.h, cloudwatch_client.h and
// inference_profiles_client.h are the interfaces.

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "aws/credentials_provider.h"
#include "aws/endpoints.h"
#include "aws/errors.h"
#include "aws/http_client.h"
#include "aws/retry.h"
#include "aws/sigv4.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

// Retries for control-plane calls: standard mode (3 attempts, 1 s base, 20 s cap) and, unlike the
// runtime client, throttles retried too (TooManyRequestsException, Throttling): no engine stands
// in front of these calls to pace them.
aws::RetryOptions ControlPlaneRetryOptions();

// Settings shared by ServiceQuotasClient, CloudWatchClient and InferenceProfilesClient.
struct ControlPlaneOptions {
  // Base URL without a trailing '/': an emulator's or moto's "http://127.0.0.1:<port>", or what
  // aws::ResolveEndpoint returned (which honours --endpoint-url, AWS_ENDPOINT_URL_SERVICE_QUOTAS /
  // _CLOUDWATCH / _BEDROCK and the profile's services section: the CLI should resolve with it).
  // Empty = the regional default, https://servicequotas.<region>.amazonaws.com,
  // https://monitoring.<region>.amazonaws.com or https://bedrock.<region>.amazonaws.com.
  std::string endpoint;
  // The SigV4 signing region; also picks the default endpoint. Required.
  std::string region = "us-east-1";
  // Not owned; must outlive the client. Required (these services take no bearer tokens).
  aws::CredentialsProvider* credentials = nullptr;
  // The transport settings of every attempt (on_headers and on_data are ignored). Default:
  // aws::RequestOptions' 10 s connect and 60 s read timeouts, which these small calls never need.
  aws::RequestOptions http;
  // Default: ControlPlaneRetryOptions(). Set max_attempts = 1 to see every answer as it is.
  aws::RetryOptions retry = ControlPlaneRetryOptions();
  // Seeds the backoff jitter, for reproducible tests. Default: std::random_device.
  std::optional<uint64_t> jitter_seed;
  // How the client waits out a backoff. Default (empty): sleeps the calling thread. Tests pass a
  // function that records the delay instead.
  std::function<void(Duration)> sleep;
  // Items per page of the list operations that take one (Service Quotas MaxResults, DescribeAlarms
  // MaxRecords): 1..100. Every page is fetched whatever the size; smaller pages mean more calls.
  int page_size = 100;
};

namespace internal {

// What tells one service from another. A restJson service (only Get is called) leaves
// target_prefix and content_type empty.
struct AwsJsonProtocol {
  aws::Service service;            // default endpoint and SigV4 signing name
  std::string_view target_prefix;  // "ServiceQuotasV20190624."
  std::string_view content_type;   // "application/x-amz-json-1.1"
  bool query_mode = false;         // sends `x-amzn-query-mode: true` (CloudWatch)
};

// Thread safety: Call is safe from any thread except the HttpClient's loop thread; it blocks.
class AwsJsonClient {
 public:
  // kInvalidArgument for options without credentials, with a bad region, an endpoint that is not
  // an http(s) URL, or a page size outside 1..100. REQUIRES: `http` (its loop running) and `clock`
  // outlive the client; the clock's wall time dates the signatures.
  static Result<std::unique_ptr<AwsJsonClient>> Create(aws::HttpClient& http, const Clock& clock,
                                                       AwsJsonProtocol protocol,
                                                       ControlPlaneOptions options);

  AwsJsonClient(const AwsJsonClient&) = delete;
  AwsJsonClient& operator=(const AwsJsonClient&) = delete;

  // One operation, retried as the options say. The 2xx body (`{}` when empty), or the service's
  // error (aws_code, message, request id, HTTP status) with " (gave up after N attempts: ...)"
  // appended when retries ran out, or a transport error, or kProtocol for a 2xx body that is not
  // a JSON object.
  Result<boost::json::object> Call(std::string_view operation, const boost::json::object& body);

  // A restJson GET of `path_and_query` ("/inference-profiles/<percent-encoded id>", already
  // encoded as the wire carries it), retried as Call is, with errors read as restJson ones.
  // `operation` only names the call in errors. Returns as Call does.
  Result<boost::json::object> Get(std::string_view operation, std::string_view path_and_query);

  const ControlPlaneOptions& options() const { return options_; }

 private:
  AwsJsonClient(aws::HttpClient& http, const Clock& clock, AwsJsonProtocol protocol,
                ControlPlaneOptions options);

  using ErrorParser = aws::AwsError (*)(int http_status, const aws::HttpHeaders& headers,
                                        std::string_view body);
  // Signs and sends `request` until it succeeds or the retry policy gives up.
  Result<boost::json::object> Send(std::string_view operation, const aws::HttpRequest& request,
                                   ErrorParser parse_error);

  aws::HttpClient& http_;
  const Clock& clock_;
  const AwsJsonProtocol protocol_;
  const ControlPlaneOptions options_;  // endpoint resolved
  const aws::Signer signer_;
  aws::RetryPolicy retry_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
};

// Lenient readers of response fields: absent, null or mistyped reads as "not there".
std::optional<double> NumberField(const boost::json::object& object, std::string_view key);
std::string StringField(const boost::json::object& object, std::string_view key);
bool BoolField(const boost::json::object& object, std::string_view key);
const boost::json::object* ObjectField(const boost::json::object& object, std::string_view key);
const boost::json::array* ArrayField(const boost::json::object& object, std::string_view key);

// Epoch seconds, as these protocols send timestamps (integers, or doubles such as 1.7356896E9 or
// 1735689600.475), to the millisecond.
WallTime FromEpochSeconds(double seconds);
std::optional<WallTime> TimeField(const boost::json::object& object, std::string_view key);
// Whole epoch seconds (rounded down), as botocore serialises a timestamp.
int64_t ToEpochSeconds(WallTime time);

// Walks a paginated operation: calls `operation` with `request` plus NextToken until a page has
// none, handing each page to `on_page`. kProtocol if the service repeats a token or the walk
// passes 100,000 pages (a server bug would otherwise loop forever).
Status WalkPages(AwsJsonClient& client, std::string_view operation, boost::json::object request,
                 const std::function<Status(const boost::json::object& page)>& on_page);

}  // namespace internal
}  // namespace quotaflow::bedrock
