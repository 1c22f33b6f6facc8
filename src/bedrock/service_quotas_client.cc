#include "bedrock/service_quotas_client.h"

#include <utility>

namespace quotaflow::bedrock {
namespace {

namespace json = boost::json;
using internal::ArrayField;
using internal::BoolField;
using internal::NumberField;
using internal::ObjectField;
using internal::StringField;

constexpr internal::AwsJsonProtocol kProtocol{.service = aws::Service::kServiceQuotas,
                                              .target_prefix = "ServiceQuotasV20190624.",
                                              .content_type = "application/x-amz-json-1.1",
                                              .query_mode = false};

constexpr std::string_view kStatusNames[] = {"PENDING",        "CASE_OPENED", "APPROVED",
                                             "DENIED",         "CASE_CLOSED", "NOT_APPROVED",
                                             "INVALID_REQUEST"};

tl::unexpected<Error> MissingMember(std::string_view operation, std::string_view member) {
  return tl::unexpected(
      Error::Protocol(std::string(operation) + " response has no " + std::string(member)));
}

}  // namespace

std::string_view RequestStatusName(RequestStatus status) {
  const auto index = static_cast<size_t>(status);
  return index < std::size(kStatusNames) ? kStatusNames[index] : "UNKNOWN";
}

RequestStatus ParseRequestStatus(std::string_view name) {
  for (size_t i = 0; i < std::size(kStatusNames); ++i) {
    if (kStatusNames[i] == name) return static_cast<RequestStatus>(i);
  }
  return RequestStatus::kUnknown;
}

ServiceQuota ParseServiceQuota(const json::object& quota, QuotaValueSource source) {
  ServiceQuota q;
  q.code = StringField(quota, "QuotaCode");
  q.name = StringField(quota, "QuotaName");
  q.value = NumberField(quota, "Value").value_or(0);
  q.source = source;
  if (source == QuotaValueSource::kDefault) q.default_value = q.value;
  q.adjustable = BoolField(quota, "Adjustable");
  q.unit = StringField(quota, "Unit");
  if (const json::object* period = ObjectField(quota, "Period")) {
    QuotaPeriod p;
    p.value = static_cast<int64_t>(NumberField(*period, "PeriodValue").value_or(0));
    p.unit = StringField(*period, "PeriodUnit");
    q.period = std::move(p);
  }
  q.arn = StringField(quota, "QuotaArn");
  q.global = BoolField(quota, "GlobalQuota");
  q.service_code = StringField(quota, "ServiceCode");
  q.description = StringField(quota, "Description");
  if (const json::object* reason = ObjectField(quota, "ErrorReason")) {
    q.error_reason = StringField(*reason, "ErrorCode");
    const std::string message = StringField(*reason, "ErrorMessage");
    if (!message.empty()) q.error_reason += ": " + message;
  }
  return q;
}

RequestedChange ParseRequestedChange(const json::object& change) {
  RequestedChange c;
  c.id = StringField(change, "Id");
  c.case_id = StringField(change, "CaseId");
  c.code = StringField(change, "QuotaCode");
  c.name = StringField(change, "QuotaName");
  c.desired = NumberField(change, "DesiredValue").value_or(0);
  c.status_text = StringField(change, "Status");
  c.status = ParseRequestStatus(c.status_text);
  c.created = internal::TimeField(change, "Created").value_or(WallTime{});
  c.last_updated = internal::TimeField(change, "LastUpdated").value_or(WallTime{});
  c.service_code = StringField(change, "ServiceCode");
  c.arn = StringField(change, "QuotaArn");
  c.unit = StringField(change, "Unit");
  return c;
}

Result<std::unique_ptr<ServiceQuotasClient>> ServiceQuotasClient::Create(
    aws::HttpClient& http, ServiceQuotasClientOptions options, const Clock& clock) {
  Result<std::unique_ptr<internal::AwsJsonClient>> client =
      internal::AwsJsonClient::Create(http, clock, kProtocol, std::move(options));
  if (!client) return tl::unexpected(std::move(client.error()));
  return std::unique_ptr<ServiceQuotasClient>(new ServiceQuotasClient(std::move(*client)));
}

ServiceQuotasClient::ServiceQuotasClient(std::unique_ptr<internal::AwsJsonClient> client)
    : client_(std::move(client)) {}

ServiceQuotasClient::~ServiceQuotasClient() = default;

const ServiceQuotasClientOptions& ServiceQuotasClient::options() const {
  return client_->options();
}

Result<std::vector<ServiceQuota>> ServiceQuotasClient::ListQuotas(std::string_view operation,
                                                                  std::string_view service_code,
                                                                  QuotaValueSource source) {
  json::object request{{"ServiceCode", service_code}, {"MaxResults", client_->options().page_size}};
  std::vector<ServiceQuota> quotas;
  Status walked = internal::WalkPages(*client_, operation, std::move(request),
                                      [&](const json::object& page) -> Status {
                                        const json::array* items = ArrayField(page, "Quotas");
                                        if (items == nullptr)
                                          return MissingMember(operation, "Quotas");
                                        for (const json::value& item : *items) {
                                          if (const json::object* quota = item.if_object()) {
                                            quotas.push_back(ParseServiceQuota(*quota, source));
                                          }
                                        }
                                        return {};
                                      });
  if (!walked) return tl::unexpected(std::move(walked.error()));
  return quotas;
}

Result<ServiceQuota> ServiceQuotasClient::GetQuota(std::string_view operation,
                                                   std::string_view quota_code,
                                                   std::string_view service_code,
                                                   QuotaValueSource source) {
  Result<json::object> response = client_->Call(
      operation, json::object{{"ServiceCode", service_code}, {"QuotaCode", quota_code}});
  if (!response) return tl::unexpected(std::move(response.error()));
  const json::object* quota = ObjectField(*response, "Quota");
  if (quota == nullptr) return MissingMember(operation, "Quota");
  return ParseServiceQuota(*quota, source);
}

Result<std::vector<ServiceQuota>> ServiceQuotasClient::ListServiceQuotas(
    std::string_view service_code) {
  return ListQuotas("ListServiceQuotas", service_code, QuotaValueSource::kApplied);
}

Result<std::vector<ServiceQuota>> ServiceQuotasClient::ListAWSDefaultServiceQuotas(
    std::string_view service_code) {
  return ListQuotas("ListAWSDefaultServiceQuotas", service_code, QuotaValueSource::kDefault);
}

Result<ServiceQuota> ServiceQuotasClient::GetServiceQuota(std::string_view quota_code,
                                                          std::string_view service_code) {
  return GetQuota("GetServiceQuota", quota_code, service_code, QuotaValueSource::kApplied);
}

Result<ServiceQuota> ServiceQuotasClient::GetAWSDefaultServiceQuota(std::string_view quota_code,
                                                                    std::string_view service_code) {
  return GetQuota("GetAWSDefaultServiceQuota", quota_code, service_code,
                  QuotaValueSource::kDefault);
}

Result<RequestedChange> ServiceQuotasClient::RequestServiceQuotaIncrease(
    std::string_view quota_code, double desired_value, std::string_view service_code) {
  constexpr std::string_view kOperation = "RequestServiceQuotaIncrease";
  Result<json::object> response =
      client_->Call(kOperation, json::object{{"ServiceCode", service_code},
                                             {"QuotaCode", quota_code},
                                             {"DesiredValue", desired_value}});
  if (!response) return tl::unexpected(std::move(response.error()));
  const json::object* change = ObjectField(*response, "RequestedQuota");
  if (change == nullptr) return MissingMember(kOperation, "RequestedQuota");
  return ParseRequestedChange(*change);
}

Result<std::vector<RequestedChange>> ServiceQuotasClient::ListChanges(std::string_view operation,
                                                                      json::object request) {
  request["MaxResults"] = client_->options().page_size;
  std::vector<RequestedChange> changes;
  Status walked = internal::WalkPages(
      *client_, operation, std::move(request), [&](const json::object& page) -> Status {
        const json::array* items = ArrayField(page, "RequestedQuotas");
        if (items == nullptr) return MissingMember(operation, "RequestedQuotas");
        for (const json::value& item : *items) {
          if (const json::object* change = item.if_object()) {
            changes.push_back(ParseRequestedChange(*change));
          }
        }
        return {};
      });
  if (!walked) return tl::unexpected(std::move(walked.error()));
  return changes;
}

Result<std::vector<RequestedChange>> ServiceQuotasClient::ListRequestedServiceQuotaChangeHistory(
    const ChangeHistoryFilter& filter) {
  json::object request;
  if (!filter.service_code.empty()) request["ServiceCode"] = filter.service_code;
  if (filter.status) request["Status"] = RequestStatusName(*filter.status);
  return ListChanges("ListRequestedServiceQuotaChangeHistory", std::move(request));
}

Result<std::vector<RequestedChange>>
ServiceQuotasClient::ListRequestedServiceQuotaChangeHistoryByQuota(
    std::string_view quota_code, std::optional<RequestStatus> status,
    std::string_view service_code) {
  json::object request{{"ServiceCode", service_code}, {"QuotaCode", quota_code}};
  if (status) request["Status"] = RequestStatusName(*status);
  return ListChanges("ListRequestedServiceQuotaChangeHistoryByQuota", std::move(request));
}

Result<RequestedChange> ServiceQuotasClient::GetRequestedServiceQuotaChange(
    std::string_view request_id) {
  constexpr std::string_view kOperation = "GetRequestedServiceQuotaChange";
  Result<json::object> response =
      client_->Call(kOperation, json::object{{"RequestId", request_id}});
  if (!response) return tl::unexpected(std::move(response.error()));
  const json::object* change = ObjectField(*response, "RequestedQuota");
  if (change == nullptr) return MissingMember(kOperation, "RequestedQuota");
  return ParseRequestedChange(*change);
}

}  // namespace quotaflow::bedrock
