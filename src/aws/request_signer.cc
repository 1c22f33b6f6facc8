#include "aws/request_signer.h"

#include <algorithm>
#include <charconv>
#include <span>
#include <vector>

namespace quotaflow::aws {
namespace {

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ToLower(x) == ToLower(y);
         });
}

// The parts of an absolute URL that signing needs.
struct UrlParts {
  std::string_view scheme;     // lowercase: "http" or "https"
  std::string_view authority;  // without user-info
  std::string_view path;       // "/" when the URL has none
  std::string_view query;      // without '?'
};

Result<UrlParts> SplitUrl(std::string_view url) {
  UrlParts parts;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return tl::unexpected(Error::InvalidArgument("URL has no scheme: " + std::string(url)));
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (EqualsIgnoreCase(scheme, "https")) {
    parts.scheme = "https";
  } else if (EqualsIgnoreCase(scheme, "http")) {
    parts.scheme = "http";
  } else {
    return tl::unexpected(
        Error::InvalidArgument("URL scheme is not http or https: " + std::string(scheme)));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  const size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) {
    return tl::unexpected(Error::InvalidArgument("URL has no host: " + std::string(url)));
  }
  parts.authority = authority;
  const size_t query_start = rest.find('?');
  parts.path = rest.substr(0, query_start);
  if (parts.path.empty()) parts.path = "/";
  if (query_start != std::string_view::npos) parts.query = rest.substr(query_start + 1);
  return parts;
}

Result<std::string> HostFromAuthority(std::string_view scheme, std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {  // IPv6 literal
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return tl::unexpected(Error::InvalidArgument("unterminated IPv6 host in URL"));
    }
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return tl::unexpected(Error::InvalidArgument("junk after IPv6 host in URL"));
      }
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  std::string result;
  result.reserve(authority.size());
  for (char c : host) result.push_back(ToLower(c));
  if (!port.empty()) {
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number < 0 || number > 65535) {
      return tl::unexpected(Error::InvalidArgument("bad port in URL: " + std::string(port)));
    }
    const int default_port = scheme == "https" ? 443 : 80;
    // botocore drops only the scheme's default port; curl then sends the Host given here.
    if (number != default_port) result.append(":").append(std::to_string(number));
  }
  return result;
}

void RemoveHeaders(HttpHeaders& headers, std::span<const std::string_view> names) {
  std::erase_if(headers, [&](const auto& field) {
    return std::any_of(names.begin(), names.end(),
                       [&](std::string_view name) { return EqualsIgnoreCase(field.first, name); });
  });
}

}  // namespace

Result<std::string> HostHeaderForUrl(std::string_view url) {
  Result<UrlParts> parts = SplitUrl(url);
  if (!parts) return tl::unexpected(std::move(parts.error()));
  return HostFromAuthority(parts->scheme, parts->authority);
}

Status SignHttpRequest(const Signer& signer, HttpRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service, WallTime time) {
  Result<UrlParts> parts = SplitUrl(request.url);
  if (!parts) return tl::unexpected(std::move(parts.error()));
  static constexpr std::string_view kSignerOwned[] = {"Authorization", "X-Amz-Date",
                                                      "X-Amz-Security-Token"};
  RemoveHeaders(request.headers, kSignerOwned);
  if (!FindHeader(request.headers, "Host")) {
    Result<std::string> host = HostFromAuthority(parts->scheme, parts->authority);
    if (!host) return tl::unexpected(std::move(host.error()));
    request.headers.emplace_back("Host", std::move(*host));
  }
  const SignableRequest signable{
      .method = HttpMethodName(request.method),
      .path = parts->path,
      .query = parts->query,
      .headers = request.headers,
      .body = request.body,
      .payload_sha256 = {},
  };
  const SigningParams params{.region = region, .service = service, .time = time};
  Result<SigningResult> signed_result = signer.Sign(signable, credentials, params);
  if (!signed_result) return tl::unexpected(std::move(signed_result.error()));
  for (HeaderField& field : signed_result->headers) request.headers.push_back(std::move(field));
  return {};
}

Status SignHttpRequest(HttpRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service, WallTime time) {
  const Signer signer;
  return SignHttpRequest(signer, request, credentials, region, service, time);
}

Status AuthorizeBearer(HttpRequest& request, std::string_view token) {
  if (token.empty()) {
    return tl::unexpected(Error::Auth("empty bearer token"));
  }
  static constexpr std::string_view kAuthorization[] = {"Authorization"};
  RemoveHeaders(request.headers, kAuthorization);
  request.headers.emplace_back("Authorization", "Bearer " + std::string(token));
  return {};
}

}  // namespace quotaflow::aws
