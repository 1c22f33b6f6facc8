#include "emulator/service_quotas.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "bedrock/base64.h"
#include "emulator/wire.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {
namespace {

namespace json = boost::json;

constexpr std::string_view kContentType = "application/x-amz-json-1.1";
constexpr std::string_view kServiceCode = "bedrock";
constexpr std::string_view kServiceName = "Amazon Bedrock";
constexpr int64_t kMaxPageSize = 100;
constexpr int64_t kDefaultPageSize = 100;
// The QuotaValue shape's maximum.
constexpr double kMaxQuotaValue = 10'000'000'000.0;
constexpr std::string_view kStatuses[] = {"PENDING",     "CASE_OPENED",  "APPROVED",       "DENIED",
                                          "CASE_CLOSED", "NOT_APPROVED", "INVALID_REQUEST"};

// Handlers fail with an Error whose aws_code is the `__type` the client sees.
Error ApiError(std::string_view aws_code, std::string message) {
  Error error = Error::InvalidArgument(std::move(message));
  error.aws_code = std::string(aws_code);
  error.http_status = 400;
  return error;
}
tl::unexpected<Error> Fail(std::string_view aws_code, std::string message) {
  return tl::make_unexpected(ApiError(aws_code, std::move(message)));
}

// JSON numbers as AWS writes doubles: 400000.0, 1735689600.25 (never 4e+05).
std::string FormatNumber(double value) {
  char buffer[400];  // fits any double in fixed notation
  const std::chars_format format =
      std::fabs(value) < 1e21 ? std::chars_format::fixed : std::chars_format::general;
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  if (ec != std::errc()) return "0.0";
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

// Epoch seconds, to the millisecond.
double EpochSeconds(WallTime time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return static_cast<double>(ms) / 1000.0;
}

// Builds one JSON object; keys are ASCII literals, values are quoted as needed.
class ObjectWriter {
 public:
  ObjectWriter& String(std::string_view key, std::string_view value) {
    return Raw(key, JsonQuote(value));
  }
  ObjectWriter& Number(std::string_view key, double value) { return Raw(key, FormatNumber(value)); }
  ObjectWriter& Int(std::string_view key, int64_t value) { return Raw(key, std::to_string(value)); }
  ObjectWriter& Bool(std::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  ObjectWriter& Raw(std::string_view key, std::string_view json_value) {
    text_ += text_.size() == 1 ? "\"" : ",\"";
    text_ += key;
    text_ += "\":";
    text_ += json_value;
    return *this;
  }
  std::string Done() { return std::move(text_) + "}"; }

 private:
  std::string text_ = "{";
};

std::string JoinArray(const std::vector<std::string>& items) {
  std::string text = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) text += ',';
    text += items[i];
  }
  return text + "]";
}

// Lenient-typed readers: absent or null is "not given"; a value of the wrong type is the
// SerializationException AWS's JSON front end sends.
Result<std::optional<std::string_view>> OptionalString(const json::object& body,
                                                       std::string_view key) {
  const json::value* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<std::string_view>();
  if (!v->is_string()) {
    return Fail("SerializationException", std::string(key) + " must be a string");
  }
  return std::optional<std::string_view>(std::string_view{v->get_string()});
}

Result<std::string_view> RequiredString(const json::object& body, std::string_view key) {
  auto value = OptionalString(body, key);
  if (!value) return tl::make_unexpected(value.error());
  if (!*value || (*value)->empty()) {
    return Fail("IllegalArgumentException", std::string(key) + " is required");
  }
  return **value;
}

Result<std::optional<double>> OptionalNumber(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<double>();
  if (v->is_int64()) return std::optional<double>(static_cast<double>(v->get_int64()));
  if (v->is_uint64()) return std::optional<double>(static_cast<double>(v->get_uint64()));
  if (v->is_double()) return std::optional<double>(v->get_double());
  return Fail("SerializationException", std::string(key) + " must be a number");
}

Result<int64_t> PageSize(const json::object& body) {
  auto value = OptionalNumber(body, "MaxResults");
  if (!value) return tl::make_unexpected(value.error());
  if (!*value) return kDefaultPageSize;
  const double n = **value;
  if (n != std::floor(n) || n < 1 || n > static_cast<double>(kMaxPageSize)) {
    return Fail("IllegalArgumentException", "MaxResults must be an integer from 1 to 100");
  }
  return static_cast<int64_t>(n);
}

// NextToken: base64("<operation>:<position>"), so that a token only works where it came from.
std::string MakeToken(std::string_view operation, size_t position) {
  return bedrock::Base64Encode(std::string(operation) + ":" + std::to_string(position));
}

// The position a token names, which must be in [1, limit]. Absent = 0.
Result<size_t> TokenPosition(const json::object& body, std::string_view operation, size_t limit) {
  auto token = OptionalString(body, "NextToken");
  if (!token) return tl::make_unexpected(token.error());
  if (!*token) return size_t{0};
  auto invalid = [] {
    return Fail("InvalidPaginationTokenException", "Invalid pagination token (NextToken).");
  };
  const std::optional<std::string> decoded = bedrock::Base64Decode(**token);
  if (!decoded || !decoded->starts_with(operation) || decoded->size() <= operation.size() + 1 ||
      (*decoded)[operation.size()] != ':') {
    return invalid();
  }
  const char* first = decoded->data() + operation.size() + 1;
  const char* last = decoded->data() + decoded->size();
  size_t position = 0;
  auto [end, ec] = std::from_chars(first, last, position);
  if (ec != std::errc() || end != last || position < 1 || position > limit) return invalid();
  return position;
}

// QuotaAppliedAtLevel / QuotaRequestedAtLevel: whether account-level items are listed.
Result<bool> ListsAccountLevel(const json::object& body, std::string_view key) {
  auto level = OptionalString(body, key);
  if (!level) return tl::make_unexpected(level.error());
  if (!*level || **level == "ACCOUNT" || **level == "ALL") return true;
  if (**level == "RESOURCE") return false;
  return Fail("IllegalArgumentException",
              std::string(key) + " must be one of ACCOUNT, RESOURCE, ALL");
}

Status CheckServiceCode(std::string_view code) {
  if (code != kServiceCode) {
    return Fail("NoSuchResourceException",
                "The request failed because the specified service does not exist: " +
                    std::string(code) + " (the emulator serves only bedrock).");
  }
  return {};
}

tl::unexpected<Error> NoSuchQuota(std::string_view code) {
  return Fail("NoSuchResourceException", "The request failed because the quota " +
                                             std::string(code) +
                                             " does not exist for service bedrock.");
}

}  // namespace

struct ServiceQuotas::State {
  enum class Decision : uint8_t { kApprove, kDeny, kNone };
  struct Request {
    std::string id;
    std::string case_id;
    std::string region;
    std::string code;
    std::string name;
    std::string unit;
    double desired = 0;
    std::string_view status;  // one of kStatuses
    WallTime created{};
    WallTime last_updated{};
    Decision decision = Decision::kNone;
    SteadyTime due{};
    bool decided = false;
  };

  State(QuotaTable& t, const ServiceQuotasOptions& o, const Clock& c, RunAfter r, std::string a)
      : table(t), options(o), clock(c), run_after(std::move(r)), account_id(std::move(a)) {}

  std::string QuotaArn(std::string_view region, std::string_view code, bool with_account) const {
    return "arn:aws:servicequotas:" + std::string(region) + ":" +
           (with_account ? account_id : std::string()) + ":bedrock/" + std::string(code);
  }

  std::string QuotaJson(std::string_view region, const QuotaEntry& entry, bool defaults) const {
    const bool daily = entry.period_minutes == static_cast<int>(kPeriodsPerDay);
    const std::string period =
        ObjectWriter().Int("PeriodValue", 1).String("PeriodUnit", daily ? "DAY" : "MINUTE").Done();
    return ObjectWriter()
        .String("ServiceCode", kServiceCode)
        .String("ServiceName", kServiceName)
        .String("QuotaArn", QuotaArn(region, entry.code, !defaults))
        .String("QuotaCode", entry.code)
        .String("QuotaName", entry.name)
        .Number("Value", defaults ? entry.default_value : entry.value)
        .String("Unit", entry.unit)
        .Bool("Adjustable", entry.adjustable)
        .Bool("GlobalQuota", false)
        .Raw("Period", period)
        .String("QuotaAppliedAtLevel", "ACCOUNT")
        .String("Description", entry.description)
        .Done();
  }

  std::string RequestJson(const Request& r) const {
    const std::string requester = ObjectWriter()
                                      .String("accountId", account_id)
                                      .String("callerArn", "arn:aws:iam::" + account_id + ":root")
                                      .Done();
    return ObjectWriter()
        .String("Id", r.id)
        .String("CaseId", r.case_id)
        .String("ServiceCode", kServiceCode)
        .String("ServiceName", kServiceName)
        .String("QuotaCode", r.code)
        .String("QuotaName", r.name)
        .Number("DesiredValue", r.desired)
        .String("Status", r.status)
        .Number("Created", EpochSeconds(r.created))
        .Number("LastUpdated", EpochSeconds(r.last_updated))
        .String("Requester", requester)
        .String("QuotaArn", QuotaArn(r.region, r.code, true))
        .Bool("GlobalQuota", false)
        .String("Unit", r.unit)
        .String("QuotaRequestedAtLevel", "ACCOUNT")
        .Done();
  }

  // Applies the decision of every request due at `now`, and of request `force` (its timer fired:
  // the timer's clock and `clock` may disagree by a tick). Takes mu.
  void ApplyDue(SteadyTime now, std::optional<size_t> force = std::nullopt) {
    std::lock_guard lock(mu);
    if (undecided == 0) return;  // the common case: every call passes here
    for (size_t i = 0; i < requests.size(); ++i) {
      Request& r = requests[i];
      if (r.decided || r.decision == Decision::kNone) continue;
      if (r.due <= now || force == i) {
        DecideLocked(r);
        --undecided;
      }
    }
  }

  // REQUIRES: mu held. Stamped at the due time, so that a lazily applied decision reads the same
  // as one applied by its timer.
  void DecideLocked(Request& r) {
    r.decided = true;
    r.last_updated = r.created + options.decide_after;
    if (r.decision == Decision::kDeny) {
      r.status = "DENIED";
      return;
    }
    r.status = table.SetValue(r.region, r.code, r.desired) ? "APPROVED" : "INVALID_REQUEST";
  }

  Result<std::string> ListQuotas(std::string_view region, const json::object& body,
                                 std::string_view operation, bool defaults) const {
    auto service = RequiredString(body, "ServiceCode");
    if (!service) return tl::make_unexpected(service.error());
    if (auto ok = CheckServiceCode(*service); !ok) return tl::make_unexpected(ok.error());
    auto page_size = PageSize(body);
    if (!page_size) return tl::make_unexpected(page_size.error());
    std::optional<std::string_view> code_filter;
    bool account_level = true;
    if (!defaults) {
      auto code = OptionalString(body, "QuotaCode");
      if (!code) return tl::make_unexpected(code.error());
      code_filter = *code;
      auto level = ListsAccountLevel(body, "QuotaAppliedAtLevel");
      if (!level) return tl::make_unexpected(level.error());
      account_level = *level;
    }

    std::vector<QuotaEntry> entries;
    if (account_level) entries = table.Entries(region);
    if (code_filter) {
      std::erase_if(entries, [&](const QuotaEntry& e) { return e.code != *code_filter; });
    }
    // A token always points inside the list: the last page issues none.
    auto start = TokenPosition(body, operation, entries.empty() ? 0 : entries.size() - 1);
    if (!start) return tl::make_unexpected(start.error());
    const size_t end = std::min(entries.size(), *start + static_cast<size_t>(*page_size));

    std::vector<std::string> quotas;
    for (size_t i = *start; i < end; ++i) quotas.push_back(QuotaJson(region, entries[i], defaults));
    ObjectWriter out;
    out.Raw("Quotas", JoinArray(quotas));
    if (end < entries.size()) out.String("NextToken", MakeToken(operation, end));
    return out.Done();
  }

  Result<std::string> GetQuota(std::string_view region, const json::object& body,
                               bool defaults) const {
    auto service = RequiredString(body, "ServiceCode");
    if (!service) return tl::make_unexpected(service.error());
    if (auto ok = CheckServiceCode(*service); !ok) return tl::make_unexpected(ok.error());
    auto code = RequiredString(body, "QuotaCode");
    if (!code) return tl::make_unexpected(code.error());
    std::optional<QuotaEntry> entry = table.Find(region, *code);
    if (!entry) return NoSuchQuota(*code);
    return ObjectWriter().Raw("Quota", QuotaJson(region, *entry, defaults)).Done();
  }

  Result<std::string> RequestIncrease(std::string_view region, const json::object& body) {
    auto service = RequiredString(body, "ServiceCode");
    if (!service) return tl::make_unexpected(service.error());
    if (auto ok = CheckServiceCode(*service); !ok) return tl::make_unexpected(ok.error());
    auto code = RequiredString(body, "QuotaCode");
    if (!code) return tl::make_unexpected(code.error());
    auto desired = OptionalNumber(body, "DesiredValue");
    if (!desired) return tl::make_unexpected(desired.error());
    if (!*desired) return Fail("IllegalArgumentException", "DesiredValue is required");
    const double value = **desired;
    if (!std::isfinite(value) || value < 0 || value > kMaxQuotaValue) {
      return Fail("IllegalArgumentException", "DesiredValue must be between 0 and 10000000000");
    }

    std::optional<size_t> scheduled;
    std::string response;
    {
      // Held from the checks to the insertion, so that two concurrent requests for one quota
      // cannot both pass the "already pending" check.
      std::lock_guard lock(mu);
      std::optional<QuotaEntry> entry = table.Find(region, *code);
      if (!entry) return NoSuchQuota(*code);
      if (!entry->adjustable) {
        return Fail("IllegalArgumentException",
                    "Quota " + entry->code + " (" + entry->name + ") is not adjustable.");
      }
      for (const Request& r : requests) {
        if (r.region == region && r.code == entry->code && r.status == "PENDING") {
          return Fail("ResourceAlreadyExistsException", "A quota increase request for " +
                                                            entry->code + " is already pending (" +
                                                            r.id + ").");
        }
      }
      if (value <= entry->value) {
        return Fail("IllegalArgumentException", "DesiredValue " + FormatNumber(value) +
                                                    " must be greater than the current value " +
                                                    FormatNumber(entry->value) + " of quota " +
                                                    entry->code + ".");
      }

      Request r;
      r.id = NewRequestId();
      std::erase(r.id, '-');
      r.case_id = "case-" + account_id + "-" + std::to_string(++case_sequence);
      r.region = std::string(region);
      r.code = entry->code;
      r.name = entry->name;
      r.unit = entry->unit;
      r.desired = value;
      r.status = "PENDING";
      r.created = r.last_updated = clock.WallNow();
      switch (options.policy) {
        case IncreasePolicy::kApprove:
          r.decision = Decision::kApprove;
          break;
        case IncreasePolicy::kDeny:
          r.decision = Decision::kDeny;
          break;
        case IncreasePolicy::kPending:
          r.decision = Decision::kNone;
          break;
      }
      r.due = clock.Now() + options.decide_after;
      if (r.decision != Decision::kNone) {
        if (options.decide_after <= Duration::zero()) {
          DecideLocked(r);
        } else {
          scheduled = requests.size();
          ++undecided;
        }
      }
      response = ObjectWriter().Raw("RequestedQuota", RequestJson(r)).Done();
      requests.push_back(std::move(r));
    }
    // Outside the lock: run_after may run the callback at once, and the callback takes the lock.
    if (scheduled && run_after) {
      run_after(options.decide_after, [weak = weak_self, index = *scheduled]() {
        if (auto self = weak.lock()) self->ApplyDue(self->clock.Now(), index);
      });
    }
    return response;
  }

  Result<std::string> History(std::string_view region, const json::object& body,
                              std::string_view operation, bool by_quota) {
    auto service = by_quota ? RequiredString(body, "ServiceCode")
                            : OptionalString(body, "ServiceCode").map([](auto s) {
                                return s.value_or(kServiceCode);
                              });
    if (!service) return tl::make_unexpected(service.error());
    bool matches_service = *service == kServiceCode;
    std::optional<std::string_view> code;
    if (by_quota) {
      if (auto ok = CheckServiceCode(*service); !ok) return tl::make_unexpected(ok.error());
      auto required = RequiredString(body, "QuotaCode");
      if (!required) return tl::make_unexpected(required.error());
      if (!table.Find(region, *required)) return NoSuchQuota(*required);
      code = *required;
    }
    auto status = OptionalString(body, "Status");
    if (!status) return tl::make_unexpected(status.error());
    if (*status &&
        std::find(std::begin(kStatuses), std::end(kStatuses), **status) == std::end(kStatuses)) {
      return Fail("IllegalArgumentException",
                  "Status must be one of PENDING, CASE_OPENED, "
                  "APPROVED, DENIED, CASE_CLOSED, NOT_APPROVED, "
                  "INVALID_REQUEST");
    }
    auto account_level = ListsAccountLevel(body, "QuotaRequestedAtLevel");
    if (!account_level) return tl::make_unexpected(account_level.error());
    auto page_size = PageSize(body);
    if (!page_size) return tl::make_unexpected(page_size.error());

    std::lock_guard lock(mu);
    // Positions index every request ever made (in every region), a list that only grows, so a
    // token stays valid while requests are added or change status.
    auto start = TokenPosition(body, operation, requests.size());
    if (!start) return tl::make_unexpected(start.error());
    auto matches = [&](const Request& r) {
      return matches_service && *account_level && r.region == region &&
             (!code || r.code == *code) && (!*status || r.status == **status);
    };
    std::vector<std::string> items;
    size_t i = *start;
    for (; i < requests.size(); ++i) {
      if (!matches(requests[i])) continue;
      if (items.size() == static_cast<size_t>(*page_size)) break;
      items.push_back(RequestJson(requests[i]));
    }
    ObjectWriter out;
    out.Raw("RequestedQuotas", JoinArray(items));
    if (i < requests.size()) out.String("NextToken", MakeToken(operation, i));
    return out.Done();
  }

  Result<std::string> GetRequest(std::string_view region, const json::object& body) {
    auto id = RequiredString(body, "RequestId");
    if (!id) return tl::make_unexpected(id.error());
    std::lock_guard lock(mu);
    for (const Request& r : requests) {
      if (r.id == *id && r.region == region) {
        return ObjectWriter().Raw("RequestedQuota", RequestJson(r)).Done();
      }
    }
    return Fail("NoSuchResourceException",
                "The request failed because the quota increase request " + std::string(*id) +
                    " does not exist.");
  }

  Result<std::string> ListServices(const json::object& body) const {
    auto page_size = PageSize(body);
    if (!page_size) return tl::make_unexpected(page_size.error());
    // One service fits every page, so no token is ever issued and none is valid.
    auto start = TokenPosition(body, "ListServices", 0);
    if (!start) return tl::make_unexpected(start.error());
    const std::string service = ObjectWriter()
                                    .String("ServiceCode", kServiceCode)
                                    .String("ServiceName", kServiceName)
                                    .Done();
    return ObjectWriter().Raw("Services", "[" + service + "]").Done();
  }

  Result<std::string> Dispatch(std::string_view region, std::string_view operation,
                               const json::object& body) {
    if (operation == "ListServiceQuotas") return ListQuotas(region, body, operation, false);
    if (operation == "ListAWSDefaultServiceQuotas") {
      return ListQuotas(region, body, operation, true);
    }
    if (operation == "GetServiceQuota") return GetQuota(region, body, false);
    if (operation == "GetAWSDefaultServiceQuota") return GetQuota(region, body, true);
    if (operation == "RequestServiceQuotaIncrease") return RequestIncrease(region, body);
    if (operation == "ListRequestedServiceQuotaChangeHistory") {
      return History(region, body, operation, false);
    }
    if (operation == "ListRequestedServiceQuotaChangeHistoryByQuota") {
      return History(region, body, operation, true);
    }
    if (operation == "GetRequestedServiceQuotaChange") return GetRequest(region, body);
    if (operation == "ListServices") return ListServices(body);
    return Fail("UnknownOperationException",
                "Service Quotas has no operation " + std::string(operation) + ".");
  }

  QuotaTable& table;
  const ServiceQuotasOptions options;
  const Clock& clock;
  const RunAfter run_after;
  const std::string account_id;
  std::weak_ptr<State> weak_self;  // set once after construction; handed to run_after callbacks

  std::mutex mu;
  std::vector<Request> requests;  // GUARDED_BY(mu), in creation order, never removed
  uint64_t case_sequence = 0;     // GUARDED_BY(mu)
  size_t undecided = 0;           // GUARDED_BY(mu): requests with a decision still to apply
};

ServiceQuotas::ServiceQuotas(QuotaTable& table, const ServiceQuotasOptions& options,
                             const Clock& clock, RunAfter run_after, std::string account_id)
    : state_(std::make_shared<State>(table, options, clock, std::move(run_after),
                                     std::move(account_id))) {
  state_->weak_self = state_;
}

ServiceQuotas::~ServiceQuotas() = default;

server::ServerResponse ServiceQuotas::Handle(std::string_view region, std::string_view operation,
                                             std::string_view body, std::string_view request_id) {
  auto error_response = [&](const Error& error) {
    return AwsJsonError(error.http_status, kContentType, error.aws_code, error.message, request_id);
  };
  try {
    state_->ApplyDue(state_->clock.Now());
    boost::system::error_code ec;
    json::value parsed = body.empty()
                             ? json::value(json::object())
                             : json::parse(json::string_view(body.data(), body.size()), ec);
    if (ec || !parsed.is_object()) {
      return error_response(
          ApiError("SerializationException", "The request body is not a JSON object."));
    }
    Result<std::string> result = state_->Dispatch(region, operation, parsed.get_object());
    if (!result) return error_response(result.error());
    return JsonResponse(std::move(*result), request_id, kContentType);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; an I/O thread must not unwind.
    return AwsJsonError(500, kContentType, "ServiceException", e.what(), request_id);
  }
}

}  // namespace quotaflow::emulator
