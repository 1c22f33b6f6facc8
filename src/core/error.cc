#include "quotaflow/error.h"

#include <utility>

namespace quotaflow {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kImpossible:
      return "impossible";
    case ErrorCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kThrottled:
      return "throttled";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kAuth:
      return "auth";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kProtocol:
      return "protocol";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string_view ThrottleKindName(ThrottleKind kind) {
  switch (kind) {
    case ThrottleKind::kNone:
      return "none";
    case ThrottleKind::kTokensPerMinute:
      return "tokens_per_minute";
    case ThrottleKind::kRequestsPerMinute:
      return "requests_per_minute";
    case ThrottleKind::kTokensPerDay:
      return "tokens_per_day";
    case ThrottleKind::kModelNotReady:
      return "model_not_ready";
  }
  return "unknown";
}

namespace {
Error Make(ErrorCode code, std::string message, bool retryable = false) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.retryable = retryable;
  return e;
}
}  // namespace

Error Error::InvalidArgument(std::string m) {
  return Make(ErrorCode::kInvalidArgument, std::move(m));
}
Error Error::Impossible(std::string m) { return Make(ErrorCode::kImpossible, std::move(m)); }
Error Error::DeadlineExceeded(std::string m) {
  return Make(ErrorCode::kDeadlineExceeded, std::move(m));
}
Error Error::Cancelled(std::string m) { return Make(ErrorCode::kCancelled, std::move(m)); }
Error Error::Unavailable(std::string m) {
  return Make(ErrorCode::kUnavailable, std::move(m), true);
}
Error Error::NotFound(std::string m) { return Make(ErrorCode::kNotFound, std::move(m)); }
Error Error::Auth(std::string m) { return Make(ErrorCode::kAuth, std::move(m)); }
Error Error::Protocol(std::string m) { return Make(ErrorCode::kProtocol, std::move(m)); }
Error Error::Io(std::string m) { return Make(ErrorCode::kIo, std::move(m)); }
Error Error::Internal(std::string m) { return Make(ErrorCode::kInternal, std::move(m)); }

std::string Error::ToString() const {
  std::string out = aws_code.empty() ? std::string(ErrorCodeName(code)) : aws_code;
  if (http_status != 0) out += " (HTTP " + std::to_string(http_status) + ")";
  if (!message.empty()) out += ": " + message;
  if (!request_id.empty()) out += " [request " + request_id + "]";
  return out;
}

}  // namespace quotaflow
