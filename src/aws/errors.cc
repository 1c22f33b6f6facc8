#include "aws/errors.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <system_error>

namespace quotaflow::aws {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// A body that is not JSON (an HTML page from a proxy) becomes the message; botocore keeps all of
// it, but a whole page would swamp every log line that prints the error.
constexpr size_t kMaxRawMessageBytes = 512;

// Beyond this, x-amz-retry-after cannot matter (the policy caps it a few seconds past the backoff)
// and converting it to nanoseconds could overflow.
constexpr milliseconds kMaxRetryAfter = std::chrono::hours(24);

// What one AWS error code means to quotaflow. `status` is the HTTP status the code has in the
// bedrock-runtime model, used for event-stream exceptions, which carry no status; 0 elsewhere.
struct CodeInfo {
  std::string_view code;
  ErrorCode error_code;
  bool retryable;
  int status;
};

constexpr std::array kKnownCodes = {
    // bedrock-runtime (service-2.json). Rate throttles are not `retryable`: the engine refunds,
    // cuts the rate and requeues them; ModelNotReady is modeled retryable and must not cut it.
    CodeInfo{"ThrottlingException", ErrorCode::kThrottled, false, 429},
    CodeInfo{"ModelNotReadyException", ErrorCode::kThrottled, true, 429},
    CodeInfo{"ServiceUnavailableException", ErrorCode::kUnavailable, true, 503},
    CodeInfo{"InternalServerException", ErrorCode::kUnavailable, true, 500},
    CodeInfo{"ModelTimeoutException", ErrorCode::kUnavailable, true, 408},
    CodeInfo{"ModelStreamErrorException", ErrorCode::kInternal, false, 424},
    CodeInfo{"ModelErrorException", ErrorCode::kInternal, false, 424},
    CodeInfo{"ValidationException", ErrorCode::kInvalidArgument, false, 400},
    CodeInfo{"ConflictException", ErrorCode::kInvalidArgument, false, 400},
    // "Your request exceeds the service quota": waiting cannot make such a request fit.
    CodeInfo{"ServiceQuotaExceededException", ErrorCode::kImpossible, false, 400},
    CodeInfo{"AccessDeniedException", ErrorCode::kAuth, false, 403},
    CodeInfo{"ResourceNotFoundException", ErrorCode::kNotFound, false, 404},
    // Credentials and signing, from any service's front end.
    CodeInfo{"UnrecognizedClientException", ErrorCode::kAuth, false, 0},
    CodeInfo{"InvalidSignatureException", ErrorCode::kAuth, false, 0},
    CodeInfo{"SignatureDoesNotMatch", ErrorCode::kAuth, false, 0},
    CodeInfo{"IncompleteSignature", ErrorCode::kAuth, false, 0},
    CodeInfo{"MissingAuthenticationToken", ErrorCode::kAuth, false, 0},
    CodeInfo{"InvalidClientTokenId", ErrorCode::kAuth, false, 0},
    CodeInfo{"ExpiredTokenException", ErrorCode::kAuth, false, 0},
    CodeInfo{"ExpiredToken", ErrorCode::kAuth, false, 0},
    CodeInfo{"AccessDenied", ErrorCode::kAuth, false, 0},
    // Service Quotas (awsJson1.1).
    CodeInfo{"NoSuchResourceException", ErrorCode::kNotFound, false, 0},
    CodeInfo{"IllegalArgumentException", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"InvalidPaginationTokenException", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"InvalidResourceStateException", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"ResourceAlreadyExistsException", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"QuotaExceededException", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"DependencyAccessDeniedException", ErrorCode::kAuth, false, 0},
    CodeInfo{"ServiceException", ErrorCode::kUnavailable, true, 0},
    // CloudWatch's query-compatible codes (x-amzn-query-error).
    CodeInfo{"InvalidParameterValue", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"InvalidParameterCombination", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"MissingParameter", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"InvalidNextToken", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"LimitExceeded", ErrorCode::kInvalidArgument, false, 0},
    CodeInfo{"ResourceNotFound", ErrorCode::kNotFound, false, 0},
    CodeInfo{"InternalServiceError", ErrorCode::kUnavailable, true, 0},
    CodeInfo{"InternalFailure", ErrorCode::kUnavailable, true, 0},
    CodeInfo{"ServiceUnavailable", ErrorCode::kUnavailable, true, 0},
    // Transient codes of botocore's standard retry mode.
    CodeInfo{"RequestTimeout", ErrorCode::kUnavailable, true, 0},
    CodeInfo{"RequestTimeoutException", ErrorCode::kUnavailable, true, 0},
    CodeInfo{"PriorRequestNotComplete", ErrorCode::kUnavailable, true, 0},
    // Throttling codes of other AWS services (botocore's standard mode list).
    CodeInfo{"Throttling", ErrorCode::kThrottled, false, 0},
    CodeInfo{"ThrottledException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"RequestThrottledException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"TooManyRequestsException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"ProvisionedThroughputExceededException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"TransactionInProgressException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"RequestLimitExceeded", ErrorCode::kThrottled, false, 0},
    CodeInfo{"BandwidthLimitExceeded", ErrorCode::kThrottled, false, 0},
    CodeInfo{"LimitExceededException", ErrorCode::kThrottled, false, 0},
    CodeInfo{"RequestThrottled", ErrorCode::kThrottled, false, 0},
    CodeInfo{"SlowDown", ErrorCode::kThrottled, false, 0},
    CodeInfo{"EC2ThrottledException", ErrorCode::kThrottled, false, 0},
};

const CodeInfo* FindCode(std::string_view code) {
  for (const CodeInfo& info : kKnownCodes) {
    if (info.code == code) return &info;
  }
  return nullptr;
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char x, char y) { return AsciiLower(x) == AsciiLower(y); }) !=
         haystack.end();
}

// Python's bytes.strip(): the ASCII whitespace botocore trims before looking for "<html>".
std::string_view StripAsciiWhitespace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// "aws.protocols#ValidationException:http://internal..." -> "ValidationException".
std::string NormalizeCode(std::string_view raw) {
  raw = raw.substr(0, raw.find(':'));
  if (const size_t hash = raw.rfind('#'); hash != std::string_view::npos) {
    raw.remove_prefix(hash + 1);
  }
  return std::string(raw);
}

// botocore's _parse_body_as_json: an empty body is {}, a body that is not JSON becomes
// {"message": body}. A JSON value that is not an object (botocore would crash on it) is treated
// as not JSON.
json::object ParseBody(std::string_view body) {
  json::object out;
  if (body.empty()) return out;
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (!ec && value.is_object()) return std::move(value.as_object());
  out["message"] = body.substr(0, kMaxRawMessageBytes);
  return out;
}

// A member as text: strings as they are, other values as JSON; nullopt when absent or null.
std::optional<std::string> MemberText(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (const json::string* s = value->if_string()) return std::string(s->data(), s->size());
  return json::serialize(*value);
}

// `message`, else `Message`, else empty.
std::string MessageOf(const json::object& object) {
  if (auto message = MemberText(object, "message")) return *std::move(message);
  return MemberText(object, "Message").value_or("");
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "";
  }
}

// botocore's ResponseParser._is_generic_error_response: a 5xx from something in front of the
// service (a load balancer, a proxy) that has nothing to parse.
bool IsGenericErrorResponse(int status, std::string_view body) {
  if (status < 500) return false;
  const std::string_view stripped = StripAsciiWhitespace(body);
  return stripped.empty() || stripped.starts_with("<html>");
}

// botocore standard mode retries these statuses whatever the error code says.
bool IsTransientStatus(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

// x-amz-retry-after: integer milliseconds (botocore: int(value) / 1000; negative or malformed
// values are ignored).
std::optional<Duration> ParseRetryAfter(std::string_view value) {
  value = StripAsciiWhitespace(value);
  if (value.starts_with('+')) value.remove_prefix(1);
  if (value.empty()) return std::nullopt;
  int64_t ms = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (end != value.data() + value.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    if (value.starts_with('-')) return std::nullopt;
    return kMaxRetryAfter;
  }
  if (ec != std::errc() || ms < 0) return std::nullopt;
  return std::min(milliseconds(ms), kMaxRetryAfter);
}

// Sets code, retryable and throttle from aws_code, http_status and message.
void Classify(Error& e) {
  const int status = e.http_status;
  if (const CodeInfo* info = FindCode(e.aws_code)) {
    e.code = info->error_code;
    e.retryable = info->retryable;
  } else if (status == 429) {
    // A 429 without a code we know (a proxy's, or an empty body) is still a throttle; read it like
    // a ThrottlingException so its message can tell the kind.
    e.code = ErrorCode::kThrottled;
    e.throttle = ClassifyThrottle("ThrottlingException", e.message);
    return;
  } else if (status == 401 || status == 403) {
    e.code = ErrorCode::kAuth;
  } else if (status == 404) {
    e.code = ErrorCode::kNotFound;
  } else if (status == 408) {
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
  } else if (status >= 400 && status < 500) {
    e.code = ErrorCode::kInvalidArgument;
  } else if ((status >= 500 && status < 600) || status == 0) {
    // 501 Not Implemented and the like: retrying the same request cannot help. Status 0 is an
    // event-stream exception we do not know: a server-side fault too, not a wire problem.
    e.code = ErrorCode::kInternal;
  } else {
    e.code = ErrorCode::kProtocol;  // a redirect, or a status no server should send
  }
  if (e.code == ErrorCode::kThrottled) {
    e.throttle = ClassifyThrottle(e.aws_code, e.message);
  } else if (IsTransientStatus(status)) {
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
  }
}

enum class JsonProtocol { kRestJson, kAwsJson };

AwsError ParseHttpError(JsonProtocol protocol, int http_status, const HttpHeaders& headers,
                        std::string_view body) {
  AwsError out;
  Error& e = out.error;
  e.http_status = http_status;
  if (auto request_id = FindHeader(headers, "x-amzn-RequestId")) e.request_id = *request_id;
  if (auto retry_after = FindHeader(headers, "x-amz-retry-after")) {
    out.retry_after = ParseRetryAfter(*retry_after);
  }

  if (IsGenericErrorResponse(http_status, body)) {
    // botocore stops here: x-amzn-ErrorType is not consulted.
    e.aws_code = std::to_string(http_status);
    e.message = std::string(ReasonPhrase(http_status));
    Classify(e);
    return out;
  }

  const json::object object = ParseBody(body);
  e.message = MessageOf(object);
  if (auto type = MemberText(object, "__type")) {
    e.aws_code = NormalizeCode(*type);
  } else {
    e.aws_code = std::to_string(http_status);
  }
  if (auto query_error = FindHeader(headers, "x-amzn-query-error")) {
    // "Code;Sender": only a well-formed pair with a code replaces the code (botocore).
    const size_t semicolon = query_error->find(';');
    if (semicolon != std::string_view::npos && semicolon > 0 &&
        query_error->find(';', semicolon + 1) == std::string_view::npos) {
      e.aws_code = std::string(query_error->substr(0, semicolon));
    }
  }
  if (protocol == JsonProtocol::kRestJson) {
    if (auto error_type = FindHeader(headers, "x-amzn-ErrorType")) {
      e.aws_code = NormalizeCode(*error_type);
    } else if (auto code = MemberText(object, "code")) {
      e.aws_code = NormalizeCode(*code);
    } else if (auto capital_code = MemberText(object, "Code")) {
      e.aws_code = NormalizeCode(*capital_code);
    }
  }
  Classify(e);
  return out;
}

AwsError FrameError(std::string aws_code, std::string message, std::string_view request_id) {
  AwsError out;
  Error& e = out.error;
  e.aws_code = std::move(aws_code);
  e.message = std::move(message);
  e.request_id = std::string(request_id);
  const CodeInfo* info = FindCode(e.aws_code);
  e.http_status = info != nullptr ? info->status : 0;
  Classify(e);
  return out;
}

}  // namespace

AwsError ParseRestJsonError(int http_status, const HttpHeaders& headers, std::string_view body) {
  return ParseHttpError(JsonProtocol::kRestJson, http_status, headers, body);
}

AwsError ParseAwsJsonError(int http_status, const HttpHeaders& headers, std::string_view body) {
  return ParseHttpError(JsonProtocol::kAwsJson, http_status, headers, body);
}

AwsError ParseExceptionFrame(std::string_view exception_type, std::string_view payload,
                             std::string_view request_id) {
  // The event-stream member name is the shape name in lowerCamel: "throttlingException".
  std::string code(exception_type);
  if (!code.empty() && code[0] >= 'a' && code[0] <= 'z') {
    code[0] = static_cast<char>(code[0] - 'a' + 'A');
  }
  return FrameError(std::move(code), MessageOf(ParseBody(payload)), request_id);
}

AwsError ParseErrorFrame(std::string_view error_code, std::string_view error_message,
                         std::string_view request_id) {
  return FrameError(std::string(error_code), std::string(error_message), request_id);
}

AwsError TransportError(TransportFailure failure, std::string_view detail) {
  std::string message;
  switch (failure) {
    case TransportFailure::kConnectFailed:
      message = "connection failed";
      break;
    case TransportFailure::kConnectionReset:
      message = "connection reset";
      break;
    case TransportFailure::kTimeout:
      message = "timed out";
      break;
  }
  if (!detail.empty()) {
    message += ": ";
    message += detail;
  }
  AwsError out;
  out.error = Error::Unavailable(std::move(message));
  out.timed_out = failure == TransportFailure::kTimeout;
  return out;
}

ThrottleKind ClassifyThrottle(std::string_view aws_code, std::string_view message) {
  if (aws_code == "ModelNotReadyException") return ThrottleKind::kModelNotReady;
  if (aws_code == "ThrottlingException") {
    // Bedrock says which quota ran out only in the message (bedrock-wire.md section 2).
    if (ContainsIgnoreCase(message, "Too many tokens per day")) return ThrottleKind::kTokensPerDay;
    if (ContainsIgnoreCase(message, "Too many requests")) return ThrottleKind::kRequestsPerMinute;
    return ThrottleKind::kTokensPerMinute;
  }
  const CodeInfo* info = FindCode(aws_code);
  if (info != nullptr && info->error_code == ErrorCode::kThrottled) {
    return ThrottleKind::kRequestsPerMinute;  // API call rates of the control-plane services
  }
  return ThrottleKind::kNone;
}

}  // namespace quotaflow::aws
