#include "cli/quotas_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/output.h"

namespace quotaflow::cli {
namespace {

namespace json = boost::json;
using bedrock::MatchedQuota;
using bedrock::RequestedChange;
using bedrock::ServiceQuota;

constexpr std::string_view kList = "quotas list";
constexpr std::string_view kRequestIncrease = "quotas request-increase";
constexpr std::string_view kRequests = "quotas requests";

json::value Optional(const std::optional<double>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

Table QuotaTable(const std::vector<ServiceQuota>& quotas) {
  Table table{{"name", "code", "value", "default", "adjustable", "unit"}, {}};
  for (const ServiceQuota& q : quotas) {
    table.rows.push_back({json::value(q.name), json::value(q.code), json::value(q.value),
                          Optional(q.default_value), json::value(q.adjustable),
                          json::value(q.unit)});
  }
  return table;
}

std::string UnitOf(const std::vector<ServiceQuota>& quotas, const std::string& code) {
  for (const ServiceQuota& q : quotas) {
    if (q.code == code) return q.unit;
  }
  return {};
}

// The governing quotas: value is what applies to the id (the daily figure doubled for profiles).
Table ModelQuotaTable(const bedrock::ModelQuotas& matched,
                      const std::vector<ServiceQuota>& quotas) {
  Table table{{"quota", "name", "code", "value", "default", "adjustable", "unit", "doubled"}, {}};
  auto add = [&](std::string_view quota, const std::optional<MatchedQuota>& q) {
    if (!q) return;
    table.rows.push_back({json::value(quota), json::value(q->name), json::value(q->code),
                          json::value(q->EffectiveValue()), Optional(q->default_value),
                          json::value(q->adjustable), json::value(UnitOf(quotas, q->code)),
                          json::value(q->doubled)});
  };
  add("rpm", matched.rpm);
  add("tpm", matched.tpm);
  add("tpd", matched.tpd);
  return table;
}

Table ChangeTable(const std::vector<RequestedChange>& changes) {
  Table table{{"id", "code", "name", "desired", "status", "created", "updated", "case_id"}, {}};
  for (const RequestedChange& c : changes) {
    table.rows.push_back(
        {json::value(c.id), json::value(c.code), json::value(c.name), json::value(c.desired),
         json::value(c.status_text.empty() ? bedrock::RequestStatusName(c.status) : c.status_text),
         json::value(FormatUtc(c.created)), json::value(FormatUtc(c.last_updated)),
         c.case_id.empty() ? json::value(nullptr) : json::value(c.case_id)});
  }
  return table;
}

}  // namespace

Result<bedrock::ResolvedModel> ResolveModelFlag(std::string_view model_id) {
  Result<bedrock::ResolvedModel> model = bedrock::ModelCatalog::Default().Resolve(model_id);
  if (!model) return tl::unexpected(Error::InvalidArgument("--model: " + model.error().message));
  return model;
}

Result<std::vector<ServiceQuota>> ListBedrockQuotas(bedrock::ServiceQuotasClient& client) {
  Result<std::vector<ServiceQuota>> applied = client.ListServiceQuotas();
  if (!applied) return tl::unexpected(std::move(applied).error());
  Result<std::vector<ServiceQuota>> defaults = client.ListAWSDefaultServiceQuotas();
  if (!defaults) return tl::unexpected(std::move(defaults).error());
  return bedrock::MergeQuotas(*applied, *defaults);
}

Result<bedrock::ModelQuotas> DiscoverModelQuotas(AwsSession& session,
                                                 const bedrock::ResolvedModel& model) {
  Result<std::unique_ptr<bedrock::ServiceQuotasClient>> client = session.ServiceQuotas();
  if (!client) return tl::unexpected(std::move(client).error());
  Result<std::vector<ServiceQuota>> quotas = ListBedrockQuotas(**client);
  if (!quotas) return tl::unexpected(std::move(quotas).error());
  return bedrock::MatchModelQuotas(model, *quotas);
}

int RunQuotasList(const QuotasListFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kList, format.error());
  std::optional<bedrock::ResolvedModel> model;
  if (!flags.model.empty()) {
    Result<bedrock::ResolvedModel> resolved = ResolveModelFlag(flags.model);
    if (!resolved) return Fail(kList, resolved.error());
    model = *resolved;
  }
  Result<std::unique_ptr<AwsSession>> session = AwsSession::Open(flags.aws);
  if (!session) return Fail(kList, session.error());
  Result<std::unique_ptr<bedrock::ServiceQuotasClient>> client = (*session)->ServiceQuotas();
  if (!client) return Fail(kList, client.error());
  Result<std::vector<ServiceQuota>> quotas = ListBedrockQuotas(**client);
  if (!quotas) return Fail(kList, quotas.error());
  if (!model) {
    std::cout << RenderTable(QuotaTable(*quotas), *format) << std::flush;
    return kExitOk;
  }
  Result<bedrock::ModelQuotas> matched = bedrock::MatchModelQuotas(*model, *quotas);
  if (!matched) return Fail(kList, matched.error());
  if (!matched->reason.empty())
    std::cerr << "quotaflow quotas list: note: " << matched->reason << '\n';
  std::cout << RenderTable(ModelQuotaTable(*matched, *quotas), *format) << std::flush;
  return kExitOk;
}

int RunQuotasRequestIncrease(const QuotasRequestIncreaseFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kRequestIncrease, format.error());
  const bool by_model = !flags.model.empty() || flags.tpm.has_value();
  const bool by_code = !flags.quota_code.empty() || flags.value.has_value();
  if (by_model == by_code || (by_model && (flags.model.empty() || !flags.tpm)) ||
      (by_code && (flags.quota_code.empty() || !flags.value))) {
    return Fail(kRequestIncrease,
                Error::InvalidArgument("give either --model ID --tpm N or --quota-code L-... "
                                       "--value N"));
  }
  const double desired = by_model ? *flags.tpm : *flags.value;
  if (!(desired > 0)) {
    return Fail(kRequestIncrease, Error::InvalidArgument(fmt::format(
                                      "{}: must be positive", by_model ? "--tpm" : "--value")));
  }
  std::optional<bedrock::ResolvedModel> model;
  if (by_model) {
    Result<bedrock::ResolvedModel> resolved = ResolveModelFlag(flags.model);
    if (!resolved) return Fail(kRequestIncrease, resolved.error());
    model = *resolved;
  }
  Result<std::unique_ptr<AwsSession>> session = AwsSession::Open(flags.aws);
  if (!session) return Fail(kRequestIncrease, session.error());
  Result<std::unique_ptr<bedrock::ServiceQuotasClient>> client = (*session)->ServiceQuotas();
  if (!client) return Fail(kRequestIncrease, client.error());
  Result<std::vector<ServiceQuota>> quotas = ListBedrockQuotas(**client);
  if (!quotas) return Fail(kRequestIncrease, quotas.error());

  std::string code = flags.quota_code;
  std::string name;
  double current = 0;
  if (model) {
    Result<bedrock::ModelQuotas> matched = bedrock::MatchModelQuotas(*model, *quotas);
    if (!matched) return Fail(kRequestIncrease, matched.error());
    if (!matched->tpm) {
      return Fail(kRequestIncrease,
                  Error::NotFound(fmt::format("no tokens-per-minute quota found for {}: {}",
                                              flags.model, matched->reason)));
    }
    code = matched->tpm->code;
    name = matched->tpm->name;
    current = matched->tpm->value;
  } else {
    const ServiceQuota* found = nullptr;
    for (const ServiceQuota& q : *quotas) {
      if (q.code == code) found = &q;
    }
    if (found == nullptr) {
      return Fail(kRequestIncrease, Error::InvalidArgument(fmt::format(
                                        "--quota-code: no Bedrock quota has code {}", code)));
    }
    name = found->name;
    current = found->value;
  }
  if (desired <= current) {
    ReportError(kRequestIncrease,
                Error::InvalidArgument(fmt::format(
                    "{} ({}) is already {}; ask for more than that (nothing was requested)", code,
                    name, FormatNumber(current))));
    return kExitRuntime;
  }
  Result<RequestedChange> change = (*client)->RequestServiceQuotaIncrease(code, desired);
  if (!change) return Fail(kRequestIncrease, change.error());
  std::cout << RenderTable(ChangeTable({*change}), *format) << std::flush;
  return kExitOk;
}

int RunQuotasRequests(const QuotasRequestsFlags& flags) {
  Result<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format) return Fail(kRequests, format.error());
  bedrock::ChangeHistoryFilter filter;
  if (!flags.status.empty()) {
    const bedrock::RequestStatus status = bedrock::ParseRequestStatus(flags.status);
    if (status == bedrock::RequestStatus::kUnknown) {
      return Fail(kRequests, Error::InvalidArgument(fmt::format(
                                 "--status: unknown status '{}' (expected PENDING, CASE_OPENED, "
                                 "APPROVED, DENIED, CASE_CLOSED, NOT_APPROVED or INVALID_REQUEST)",
                                 flags.status)));
    }
    filter.status = status;
  }
  Result<std::unique_ptr<AwsSession>> session = AwsSession::Open(flags.aws);
  if (!session) return Fail(kRequests, session.error());
  Result<std::unique_ptr<bedrock::ServiceQuotasClient>> client = (*session)->ServiceQuotas();
  if (!client) return Fail(kRequests, client.error());
  Result<std::vector<RequestedChange>> changes =
      (*client)->ListRequestedServiceQuotaChangeHistory(filter);
  if (!changes) return Fail(kRequests, changes.error());
  std::cout << RenderTable(ChangeTable(*changes), *format) << std::flush;
  return kExitOk;
}

}  // namespace quotaflow::cli
