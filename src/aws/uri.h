#pragma once
// Percent-encoding by the AWS rules (SigV4 "UriEncode"): the unreserved characters A-Z a-z 0-9
// '-' '_' '.' '~' stay, every other byte becomes %XX with uppercase hex. This is stricter than
// RFC 3986 and than most URL libraries (which keep '!', '*', '(' ... or turn ' ' into '+'), and
// SigV4 signatures only match when both sides encode exactly alike.
//
// Thread safety: pure functions.

#include <string>
#include <string_view>

namespace quotaflow::aws {

// Encodes `s`. With encode_slash = false, '/' is kept: the form for paths.
std::string UriEncode(std::string_view s, bool encode_slash = true);

// Appends the encoding of `s` to `out` (no temporary string on the signing hot path).
void AppendUriEncoded(std::string& out, std::string_view s, bool encode_slash = true);

// Decodes %XX escapes (either hex case). A '%' not followed by two hex digits is kept as is, and
// '+' stays '+': AWS query strings are not application/x-www-form-urlencoded.
std::string UriDecode(std::string_view s);

// RFC 3986 section 5.2.4 "remove dot segments", plus the AWS rule that runs of '/' collapse to
// one: "//a/./b/../c/" -> "/a/c/". An empty path becomes "/". Matches botocore's
// normalize_url_path. S3 is the one service that must not be normalised.
std::string NormalizePath(std::string_view path);

}  // namespace quotaflow::aws
