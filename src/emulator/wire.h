#pragma once
// Response helpers every emulator API shares: request ids and the error envelopes of the three AWS
// protocols the emulator speaks (bedrock-wire.md section 2). botocore parses them differently:
// rest-json (bedrock-runtime, bedrock) takes the code from the x-amzn-ErrorType header, awsJson
// (Service Quotas, CloudWatch) only from the body's `__type`, so each envelope carries both.
//
// Thread safety: pure functions, except NewRequestId (thread-safe).

#include <string>
#include <string_view>

#include "server/http_server.h"

namespace quotaflow::emulator {

// A fresh x-amzn-RequestId: a random version-4 UUID, "1b4e28ba-2fa1-41d2-883f-0016d3cca427".
std::string NewRequestId();

// 200 with `Content-Type: application/json`, x-amzn-RequestId and `body`.
server::ServerResponse JsonResponse(std::string body, std::string_view request_id,
                                    std::string_view content_type = "application/json");

// A rest-json error as bedrock-runtime sends it: `status`, Content-Type application/json,
// `x-amzn-ErrorType: <code>:http://internal.amazon.com/coral/com.amazon.bedrock/`,
// x-amzn-RequestId, body {"message":"..."}.
server::ServerResponse RestJsonError(int status, std::string_view code, std::string_view message,
                                     std::string_view request_id);

// An awsJson error: `status`, the protocol's Content-Type (application/x-amz-json-1.0 or -1.1),
// x-amzn-RequestId, body {"__type":"<code>","message":"..."}; with `query_error` (CloudWatch's
// awsQueryCompatible, e.g. "InvalidParameterValue;Sender") also the x-amzn-query-error header.
server::ServerResponse AwsJsonError(int status, std::string_view content_type,
                                    std::string_view code, std::string_view message,
                                    std::string_view request_id, std::string_view query_error = {});

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

}  // namespace quotaflow::emulator
