#pragma once
// The project's own HTTP request and response values. The transport (http_client.h) takes and
// returns these, so that no caller above aws/ ever sees a libcurl type.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quotaflow/headers.h"

namespace quotaflow::aws {

enum class HttpMethod { kGet, kHead, kPost, kPut, kDelete, kPatch };

inline std::string_view HttpMethodName(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kHead:
      return "HEAD";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kDelete:
      return "DELETE";
    case HttpMethod::kPatch:
      return "PATCH";
  }
  return "GET";
}

// The project's header list (quotaflow/headers.h), under the names this layer uses.
using HeaderField = quotaflow::HeaderField;
using HttpHeaders = quotaflow::Headers;
using quotaflow::FindHeader;

// The protocol a response actually came over (what was negotiated, not what was asked for).
enum class HttpVersion { kUnknown, kHttp1_0, kHttp1_1, kHttp2, kHttp3 };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  // Absolute http:// or https:// URL, already percent-encoded (SigV4 signs the exact bytes).
  std::string url;
  // Sent exactly as given, in this order. The transport adds only Host and Content-Length (and
  // nothing else: no Accept, no default Content-Type, no Expect: 100-continue).
  HttpHeaders headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  // Empty when the request streamed its body to an on_data callback instead.
  std::string body;
  HttpVersion version = HttpVersion::kUnknown;
  // Connections this request had to open: 0 when it reused a pooled (keep-alive or HTTP/2)
  // connection. For tests and connection-reuse metrics.
  int connections_opened = 0;
};

}  // namespace quotaflow::aws
