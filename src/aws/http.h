#pragma once
// The project's own HTTP request and response values. The transport (http_client.h) takes and
// returns these, so that no caller above aws/ ever sees a libcurl type.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// One header field, name and value; names match case-insensitively and may repeat.
using HeaderField = std::pair<std::string, std::string>;
// Header fields in wire order, duplicates kept. Names keep the case they were sent or received
// with (HTTP/2 lowercases every name), so look them up with FindHeader. The transport, the error
// parser and the signer all take this one list.
using HttpHeaders = std::vector<HeaderField>;

// The value of the first field named `name` (ASCII case-insensitive), or nullopt.
inline std::optional<std::string_view> FindHeader(const HttpHeaders& headers,
                                                  std::string_view name) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& [field, value] : headers) {
    if (field.size() != name.size()) continue;
    bool equal = true;
    for (size_t i = 0; i < name.size() && equal; ++i) equal = lower(field[i]) == lower(name[i]);
    if (equal) return value;
  }
  return std::nullopt;
}

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
