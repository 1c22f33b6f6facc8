#pragma once
// Turns what AWS sends back on failure — an HTTP error response, a mid-stream exception frame or a
// failed connection — into quotaflow's one error value, plus the hints only the retry policy needs.
//
// The parsing follows botocore 1.43 (parsers.py) so that codes and messages match what users see
// from boto3 and the AWS CLI; see ../shared/reference/bedrock-wire.md section 2.
//
// How codes map (the table in errors.cc; the status decides for codes it does not list):
// - ThrottlingException and the other services' throttling codes -> kThrottled, not retryable (the
//   engine handles them); ModelNotReadyException -> kThrottled, kModelNotReady, retryable;
// - 500/502/503/504 whatever the code, ServiceUnavailable, InternalServer, ModelTimeout (408),
//   RequestTimeout, transport failures -> kUnavailable, retryable;
// - ValidationException and other 4xx -> kInvalidArgument; AccessDenied, UnrecognizedClient,
//   InvalidSignature, ExpiredToken, 401/403 -> kAuth; ResourceNotFound, 404 -> kNotFound;
//   ServiceQuotaExceededException -> kImpossible; ModelError/ModelStreamError (424), other 5xx ->
//   kInternal; 3xx -> kProtocol.
//
// Thread safety: every function here is pure and safe to call from any thread. Malformed input
// (empty, HTML, truncated JSON) never throws; it still yields a sensible error.

#include <optional>
#include <string>
#include <string_view>

#include "aws/http.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// An Error and what the retry policy needs beyond it. Kept out of quotaflow::Error because only
// the aws layer's retry loop reads these; the engine gets `error`.
struct AwsError {
  Error error;
  // `x-amz-retry-after` (integer milliseconds) when the response carried a valid one.
  std::optional<Duration> retry_after;
  // The attempt timed out (connect or read): a retry after a timeout costs more retry quota.
  bool timed_out = false;
};

// restJson1 (bedrock-runtime) error response, as botocore's RestJSONParser reads it:
// - message: body `message`, else `Message`; a body that is not a JSON object becomes the message
//   itself (at most 512 bytes of it);
// - code: body `__type`, else the status as a string; then replaced by header `x-amzn-ErrorType`
//   if present, else by body `code`/`Code`. Normalised: cut at the first ':' and keep what follows
//   the last '#' ("aws.protocols#ValidationException:http://..." -> "ValidationException");
// - a 5xx whose body is empty or starts with "<html>" is botocore's "generic" error: the code is
//   the status and the message its reason phrase, whatever the headers say;
// - a query-compatible `x-amzn-query-error: Code;Type` header replaces the `__type` code before
//   the header/body override above (botocore's base JSON parser does this for every protocol);
// - `x-amzn-RequestId` -> request_id, `x-amz-retry-after` -> retry_after.
// `http_status` is the response's status (>= 300 expected; anything else is still reported).
AwsError ParseRestJsonError(int http_status, const HttpHeaders& headers, std::string_view body);

// awsJson1.0/1.1 (Service Quotas, CloudWatch) error response: as above, except that
// `x-amzn-ErrorType` and body `code` are ignored (botocore does), and a query-compatible
// `x-amzn-query-error: Code;Sender|Receiver` header replaces the code.
AwsError ParseAwsJsonError(int http_status, const HttpHeaders& headers, std::string_view body);

// An event-stream message with `:message-type: exception`: `exception_type` is the
// `:exception-type` header (lowerCamel, "throttlingException") and `payload` its JSON body
// (`{"message":"..."}`). Mapped to the code and status the same error has as an HTTP response
// (ThrottlingException 429, ServiceUnavailableException 503, InternalServerException 500,
// ModelStreamErrorException 424, ValidationException 400, ModelTimeoutException 408), so the engine
// treats a mid-stream throttle like a 429. `request_id` is the stream's HTTP x-amzn-RequestId.
AwsError ParseExceptionFrame(std::string_view exception_type, std::string_view payload,
                             std::string_view request_id = {});

// An event-stream message with `:message-type: error` (`:error-code`, `:error-message` headers).
AwsError ParseErrorFrame(std::string_view error_code, std::string_view error_message,
                         std::string_view request_id = {});

// A failure below HTTP: no response was received, or it was cut short.
enum class TransportFailure {
  kConnectFailed,    // refused, unreachable, DNS failure
  kConnectionReset,  // reset or closed before the response was complete
  kTimeout,          // connect or read timeout
};

// Always kUnavailable and retryable; `detail` is the transport's own text (curl's, errno's).
AwsError TransportError(TransportFailure failure, std::string_view detail);

// Why an AWS code and message were throttled: "Too many tokens per day" -> kTokensPerDay,
// "Too many requests" -> kRequestsPerMinute, any other ThrottlingException -> kTokensPerMinute;
// ModelNotReadyException -> kModelNotReady; the other throttling codes AWS services use
// (TooManyRequestsException, Throttling, ...) -> kRequestsPerMinute; anything else -> kNone.
ThrottleKind ClassifyThrottle(std::string_view aws_code, std::string_view message);

}  // namespace quotaflow::aws
