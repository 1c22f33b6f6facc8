#pragma once
// The emulator's Service Quotas API (awsJson1.1, `ServiceQuotasV20190624.<Operation>`,
// bedrock-wire.md section 6) over a QuotaTable: the Bedrock quotas listed with their default and
// applied values, and increase requests that are approved, denied or left pending as
// ServiceQuotasOptions says. An approved increase goes through QuotaTable::SetValue, so the
// runtime enforces it as soon as the table's listeners have moved the books.
//
// Operations: ListServices, ListServiceQuotas, ListAWSDefaultServiceQuotas, GetServiceQuota,
// GetAWSDefaultServiceQuota, RequestServiceQuotaIncrease, ListRequestedServiceQuotaChangeHistory,
// ListRequestedServiceQuotaChangeHistoryByQuota, GetRequestedServiceQuotaChange. Anything else is
// 400 UnknownOperationException, as AWS answers an unknown X-Amz-Target.
//
// Behaviour a client can observe:
// - Only ServiceCode "bedrock" exists: another code is NoSuchResourceException, except as the
//   optional filter of ListRequestedServiceQuotaChangeHistory, where it matches nothing.
// - Quotas and requests are per region (the region the request was sent to).
// - Pagination: MaxResults 1..100, default 100; NextToken is an opaque base64 string valid for
//   the operation that issued it; anything else is InvalidPaginationTokenException.
// - Every quota is account-level: QuotaAppliedAtLevel RESOURCE lists nothing.
// - ARNs: arn:aws:servicequotas:<region>:<account>:bedrock/<code>, with the account left empty in
//   the AWS-default operations (as AWS prints them).
// - RequestServiceQuotaIncrease refuses (IllegalArgumentException) a quota that is not adjustable
//   and a DesiredValue not above the current value; ResourceAlreadyExistsException while another
//   request for the same quota is PENDING. A request is decided decide_after after it was made:
//   kApprove sets the value (APPROVED), kDeny leaves it (DENIED), kPending never decides.
//   With decide_after 0 the decision is in the response itself.
// - Errors are HTTP 400 {"__type": code, "message": ...}; a body that is not a JSON object, or a
//   field of the wrong type, is SerializationException.
//
// Decisions are applied at the first of: the run_after callback, or the start of any Handle call
// at or after the due time (so a test with a FakeClock and a no-op run_after is deterministic).
//
// Thread safety: Handle is safe from many threads and never blocks (it takes one short-held
// mutex). Table listeners run on the thread that applies a decision, while that mutex is held:
// they must not call into this object.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "emulator/options.h"
#include "emulator/quota_table.h"
#include "quotaflow/clock.h"
#include "server/http_server.h"

namespace quotaflow::emulator {

// The X-Amz-Target prefix of every Service Quotas operation.
inline constexpr std::string_view kServiceQuotasTargetPrefix = "ServiceQuotasV20190624.";

class ServiceQuotas {
 public:
  // Runs `fn` once, about `delay` from now, on some thread (an I/O thread's timer). May be empty or
  // a no-op: decisions are then applied by the next Handle call at or after their due time. It is
  // called outside every lock of this object, so it may also run `fn` at once.
  using RunAfter = std::function<void(Duration delay, std::function<void()> fn)>;

  // REQUIRES: `table` and `clock` outlive this object. Callbacks handed to `run_after` may outlive
  // it: they do nothing once it is destroyed. `clock`'s steady time decides when a request is due,
  // its wall time stamps Created / LastUpdated.
  ServiceQuotas(QuotaTable& table, const ServiceQuotasOptions& options, const Clock& clock,
                RunAfter run_after, std::string account_id = kDefaultAccountId);
  ServiceQuotas(const ServiceQuotas&) = delete;
  ServiceQuotas& operator=(const ServiceQuotas&) = delete;
  ~ServiceQuotas();

  // One call: `operation` is X-Amz-Target after kServiceQuotasTargetPrefix ("ListServiceQuotas"),
  // `body` the request's JSON, `request_id` the x-amzn-RequestId to answer with. Never throws.
  server::ServerResponse Handle(std::string_view region, std::string_view operation,
                                std::string_view body, std::string_view request_id);

 private:
  struct State;  // service_quotas.cc; shared with the run_after callbacks
  std::shared_ptr<State> state_;
};

}  // namespace quotaflow::emulator
