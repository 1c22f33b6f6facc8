#pragma once
// The one error value of quotaflow: on the hot path errors are values, never exceptions.

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace quotaflow {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,   // bad input from the caller (config, flags, a request the server rejects)
  kImpossible,        // a cost the quota could never admit (more tokens than a period's TPM)
  kDeadlineExceeded,  // the deadline passed or cannot be met
  kCancelled,         // cancelled by the caller
  kThrottled,         // the server throttled (see ThrottleKind)
  kUnavailable,       // transient: 5xx, connection reset, timeout
  kAuth,              // credentials missing, invalid or expired
  kNotFound,          // unknown model, profile, file
  kProtocol,          // malformed bytes on the wire (bad CRC, truncated frame, bad JSON)
  kIo,                // local I/O: files, SQLite
  kInternal,          // a server-side fault that is not transient
};

// Why a server said 429. Each kind needs a different reaction from the engine: a rate throttle cuts
// the rate; a tokens-per-day throttle pauses the model until the day frees; ModelNotReady is
// retried with backoff and must not cut the rate.
enum class ThrottleKind {
  kNone,
  kTokensPerMinute,
  kRequestsPerMinute,
  kTokensPerDay,
  kModelNotReady,
};

std::string_view ErrorCodeName(ErrorCode code);
std::string_view ThrottleKindName(ThrottleKind kind);

struct Error {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  // Set for errors that came from an AWS service.
  int http_status = 0;
  std::string aws_code;    // e.g. "ThrottlingException", "ValidationException"
  std::string request_id;  // x-amzn-RequestId
  bool retryable = false;  // a transient fault: retrying the same request may succeed
  ThrottleKind throttle = ThrottleKind::kNone;

  static Error InvalidArgument(std::string message);
  static Error Impossible(std::string message);
  static Error DeadlineExceeded(std::string message);
  static Error Cancelled(std::string message);
  static Error Unavailable(std::string message);  // retryable
  static Error NotFound(std::string message);
  static Error Auth(std::string message);
  static Error Protocol(std::string message);
  static Error Io(std::string message);
  static Error Internal(std::string message);

  bool ok() const { return code == ErrorCode::kOk; }
  // "ThrottlingException (HTTP 429): Too many tokens, ..." — for logs and CLI messages.
  std::string ToString() const;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

}  // namespace quotaflow
