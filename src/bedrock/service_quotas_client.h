#pragma once
// A blocking client for the Service Quotas API (`service-quotas/2019-06-24`, bedrock-wire.md
// section 6): awsJson1.1, `POST /` with `X-Amz-Target: ServiceQuotasV20190624.<Operation>`, SigV4
// service `servicequotas`. The CLI (`quotaflow quotas ...`) and the engine's start-up call it to
// learn the account's Bedrock quotas; nothing on the hot path does.
//
// List operations return every page (NextToken walked to the end). Failures are quotaflow::Error
// values carrying the service's code in aws_code ("NoSuchResourceException",
// "IllegalArgumentException", "ResourceAlreadyExistsException", ...) and its message verbatim;
// throttles (TooManyRequestsException) and transient faults are retried with backoff first (see
// ControlPlaneOptions::retry).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/http_client.h"
#include "bedrock/aws_json_client.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

// The ServiceCode of Amazon Bedrock's quotas.
inline constexpr std::string_view kBedrockServiceCode = "bedrock";

using ServiceQuotasClientOptions = ControlPlaneOptions;

// Which operation a ServiceQuota's value came from.
enum class QuotaValueSource : uint8_t {
  kApplied,  // ListServiceQuotas / GetServiceQuota: the value the account has
  kDefault,  // ListAWSDefaultServiceQuotas / GetAWSDefaultServiceQuota: AWS's default
};

struct QuotaPeriod {
  int64_t value = 0;
  std::string unit;  // "MINUTE", "DAY", ... (MICROSECOND to WEEK)
};

// One quota (the API's ServiceQuota shape, the fields quotaflow uses).
struct ServiceQuota {
  std::string code;  // QuotaCode, "L-2DC80978"
  std::string name;  // QuotaName, "On-demand model inference requests per minute for ..."
  double value = 0;  // Value: applied or default, as `source` says
  // AWS's default for the quota: set by MergeQuotas (quota_match.h), and for kDefault values.
  std::optional<double> default_value;
  QuotaValueSource source = QuotaValueSource::kApplied;
  bool adjustable = false;
  std::string unit;  // "None" for Bedrock's counts
  std::optional<QuotaPeriod> period;
  std::string arn;  // "arn:aws:servicequotas:<region>:<account>:bedrock/<code>"
  bool global = false;
  std::string service_code;
  std::string description;
  // ErrorReason ("<ErrorCode>: <ErrorMessage>") when AWS could not read the value; then `value`
  // is 0 and not to be trusted.
  std::string error_reason;
};

enum class RequestStatus : uint8_t {
  kPending,
  kCaseOpened,
  kApproved,
  kDenied,
  kCaseClosed,
  kNotApproved,
  kInvalidRequest,
  kUnknown,  // a status newer than this client
};

// "PENDING", "CASE_OPENED", "APPROVED", "DENIED", "CASE_CLOSED", "NOT_APPROVED", "INVALID_REQUEST";
// "UNKNOWN" for kUnknown.
std::string_view RequestStatusName(RequestStatus status);
// kUnknown for anything else.
RequestStatus ParseRequestStatus(std::string_view name);

// One quota increase request (RequestedServiceQuotaChange).
struct RequestedChange {
  std::string id;
  std::string case_id;  // the support case, when one was opened
  std::string code;     // QuotaCode
  std::string name;     // QuotaName
  double desired = 0;   // DesiredValue
  RequestStatus status = RequestStatus::kUnknown;
  std::string status_text;  // the status as the service spelled it
  WallTime created{};
  WallTime last_updated{};
  std::string service_code;
  std::string arn;  // QuotaArn
  std::string unit;
};

// Filters of ListRequestedServiceQuotaChangeHistory.
struct ChangeHistoryFilter {
  // Requests for this service only; empty = every service.
  std::string service_code = std::string(kBedrockServiceCode);
  std::optional<RequestStatus> status;  // nullopt = any status
};

// Thread safety: every method is safe from any thread except the HttpClient's loop thread; each
// blocks until the service answered (retries and their backoff included).
class ServiceQuotasClient {
 public:
  // kInvalidArgument for options without credentials, with a bad region or endpoint (see
  // ControlPlaneOptions). REQUIRES: `http`, its running loop and `clock` outlive the client; the
  // clock's wall time dates the signatures.
  static Result<std::unique_ptr<ServiceQuotasClient>> Create(aws::HttpClient& http,
                                                             ServiceQuotasClientOptions options,
                                                             const Clock& clock = SystemClock());

  ServiceQuotasClient(const ServiceQuotasClient&) = delete;
  ServiceQuotasClient& operator=(const ServiceQuotasClient&) = delete;
  ~ServiceQuotasClient();

  // The applied quotas of `service_code`, all pages, in the service's order.
  Result<std::vector<ServiceQuota>> ListServiceQuotas(
      std::string_view service_code = kBedrockServiceCode);
  // AWS's default quotas of `service_code`, all pages.
  Result<std::vector<ServiceQuota>> ListAWSDefaultServiceQuotas(
      std::string_view service_code = kBedrockServiceCode);
  Result<ServiceQuota> GetServiceQuota(std::string_view quota_code,
                                       std::string_view service_code = kBedrockServiceCode);
  Result<ServiceQuota> GetAWSDefaultServiceQuota(
      std::string_view quota_code, std::string_view service_code = kBedrockServiceCode);

  // Asks for `quota_code` to become `desired_value`. The service refuses (IllegalArgument) a
  // value not above the current one and a quota that is not adjustable, and
  // (ResourceAlreadyExists) a quota with a request still pending.
  Result<RequestedChange> RequestServiceQuotaIncrease(
      std::string_view quota_code, double desired_value,
      std::string_view service_code = kBedrockServiceCode);
  // The account's increase requests in the client's region, all pages, oldest first.
  Result<std::vector<RequestedChange>> ListRequestedServiceQuotaChangeHistory(
      const ChangeHistoryFilter& filter = {});
  // The requests for one quota, all pages.
  Result<std::vector<RequestedChange>> ListRequestedServiceQuotaChangeHistoryByQuota(
      std::string_view quota_code, std::optional<RequestStatus> status = std::nullopt,
      std::string_view service_code = kBedrockServiceCode);
  Result<RequestedChange> GetRequestedServiceQuotaChange(std::string_view request_id);

  // The options with the endpoint resolved.
  const ServiceQuotasClientOptions& options() const;

 private:
  explicit ServiceQuotasClient(std::unique_ptr<internal::AwsJsonClient> client);

  Result<std::vector<ServiceQuota>> ListQuotas(std::string_view operation,
                                               std::string_view service_code,
                                               QuotaValueSource source);
  Result<ServiceQuota> GetQuota(std::string_view operation, std::string_view quota_code,
                                std::string_view service_code, QuotaValueSource source);
  Result<std::vector<RequestedChange>> ListChanges(std::string_view operation,
                                                   boost::json::object request);

  std::unique_ptr<internal::AwsJsonClient> client_;
};

// Parsers of the response shapes, exposed for tests.
ServiceQuota ParseServiceQuota(const boost::json::object& quota, QuotaValueSource source);
RequestedChange ParseRequestedChange(const boost::json::object& change);

}  // namespace quotaflow::bedrock
