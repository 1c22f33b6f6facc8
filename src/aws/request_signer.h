#pragma once
// Authorizes an aws::HttpRequest in place, just before it goes to aws::HttpClient: SigV4 with AWS
// credentials, or a bearer token (Bedrock API keys). The signer (sigv4.h) works on a view of the
// request's parts; this is the glue that knows what the transport will put on the wire.
//
// Thread safety: free functions over caller-owned values; safe from any thread.

#include <string>
#include <string_view>

#include "aws/http.h"
#include "aws/sigv4.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// The Host header for `url`, as botocore computes it (`_host_from_url`) and libcurl then sends
// it: the host name lowercased, an IPv6 literal in brackets, and ":port" only when the port is
// not the scheme's default (80 for http, 443 for https). User-info is dropped.
// kInvalidArgument for a URL that is not absolute http(s) or has a bad port.
Result<std::string> HostHeaderForUrl(std::string_view url);

// SigV4-signs `request` for `service` (the signing name: "bedrock" for bedrock-runtime) in
// `region` at `time` (a Clock's WallNow()). Adds, in this order: Host (unless the request has one
// already, which is then signed as is), X-Amz-Date, X-Amz-Security-Token (session credentials
// only) and Authorization. Authorization, X-Amz-Date and X-Amz-Security-Token headers already in
// the request are removed first, so a retry can re-sign the same request with a fresh date.
// REQUIRES: `request.headers` holds everything that will be sent except what the transport adds
// after signing (Content-Length); the URL is already percent-encoded.
// Errors: kInvalidArgument (bad URL), kAuth (credentials without key id or secret).
Status SignHttpRequest(const Signer& signer, HttpRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service, WallTime time);

// As above with a signer of its own. A long-lived caller should keep one Signer instead: its
// cache saves the four HMACs that derive the day's signing key.
Status SignHttpRequest(HttpRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service, WallTime time);

// Bearer authorization (Bedrock API keys, botocore's httpBearerAuth): replaces any Authorization
// header with `Authorization: Bearer <token>` and adds nothing else (no Host, no X-Amz-Date).
// kAuth when the token is empty.
Status AuthorizeBearer(HttpRequest& request, std::string_view token);

}  // namespace quotaflow::aws
