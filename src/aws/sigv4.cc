#include "aws/sigv4.h"

#include <algorithm>
#include <cstdio>

#include "aws/uri.h"
#include "core/check.h"

namespace quotaflow::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kScopeTerminator = "aws4_request";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::chrono::seconds kMaxPresignExpiry = std::chrono::hours(24 * 7);

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Headers a proxy or the HTTP stack may add, rewrite or drop between the signer and the service:
// signing one would make the signature fail for reasons the caller cannot see. The same list as
// botocore's SIGNED_HEADERS_BLACKLIST.
bool IsUnsignable(std::string_view lower_name) {
  static constexpr std::string_view kNames[] = {
      "connection",          "expect",     "keep-alive",      "proxy-authenticate",
      "proxy-authorization", "te",         "trailer",         "upgrade",
      "transfer-encoding",   "user-agent", "x-amzn-trace-id",
  };
  return std::find(std::begin(kNames), std::end(kNames), lower_name) != std::end(kNames);
}

// Names of the query parameters that presigning writes; stale ones from an earlier signing are
// dropped rather than signed twice.
bool IsPresignParam(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "X-Amz-Algorithm", "X-Amz-Credential",     "X-Amz-Date",          "X-Amz-Expires",
      "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-SignedHeaders",
  };
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// SigV4 "Trimall": drop leading and trailing whitespace and turn every inner run of whitespace
// (including the line breaks of an obsolete folded header) into one space.
void AppendTrimAll(std::string& out, std::string_view value) {
  value = TrimSpaces(value);
  bool in_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
}

// A header headed for the canonical request: lower-cased name, raw value.
struct NamedValue {
  std::string name;
  std::string_view value;
};

// Sorts by name, keeping the wire order of repeated headers (their values are joined with ','
// in that order), and writes the canonical header block and the signed header list.
void BuildCanonicalHeaders(std::vector<NamedValue>& headers, std::string& canonical,
                           std::string& signed_headers) {
  std::stable_sort(headers.begin(), headers.end(),
                   [](const NamedValue& a, const NamedValue& b) { return a.name < b.name; });
  for (size_t i = 0; i < headers.size(); ++i) {
    const bool first_of_name = i == 0 || headers[i].name != headers[i - 1].name;
    if (first_of_name) {
      if (i > 0) canonical.push_back('\n');
      canonical.append(headers[i].name);
      canonical.push_back(':');
      if (!signed_headers.empty()) signed_headers.push_back(';');
      signed_headers.append(headers[i].name);
    } else {
      canonical.push_back(',');
    }
    AppendTrimAll(canonical, headers[i].value);
  }
  if (!headers.empty()) canonical.push_back('\n');
}

using QueryParam = std::pair<std::string, std::string>;  // both encoded

// Splits a wire query into parameters, each decoded and re-encoded by the AWS rules, so that
// "%e1%88%b4", "%E1%88%B4" and raw UTF-8 all sign alike.
void AppendQueryParams(std::string_view query, bool drop_presign_params,
                       std::vector<QueryParam>& out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    const std::string name = UriDecode(piece.substr(0, eq));
    if (drop_presign_params && IsPresignParam(name)) continue;
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    out.emplace_back(UriEncode(name), UriEncode(UriDecode(value)));
  }
}

std::string JoinSortedParams(std::vector<QueryParam>& params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(name);
    out.push_back('=');
    out.append(value);
  }
  return out;
}

std::string BuildCanonicalRequest(std::string_view method, std::string_view canonical_uri,
                                  std::string_view canonical_query,
                                  std::string_view canonical_headers,
                                  std::string_view signed_headers, std::string_view payload_hash) {
  std::string out;
  out.reserve(method.size() + canonical_uri.size() + canonical_query.size() +
              canonical_headers.size() + signed_headers.size() + payload_hash.size() + 8);
  for (char c : method) out.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  out.push_back('\n');
  out.append(canonical_uri);
  out.push_back('\n');
  out.append(canonical_query);
  out.push_back('\n');
  out.append(canonical_headers);
  out.push_back('\n');
  out.append(signed_headers);
  out.push_back('\n');
  out.append(payload_hash);
  return out;
}

std::string BuildStringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 64 + 3);
  out.append(kAlgorithm);
  out.push_back('\n');
  out.append(amz_date);
  out.push_back('\n');
  out.append(scope);
  out.push_back('\n');
  out.append(Sha256Hex(canonical_request));
  return out;
}

// The first header field of a name, and how many fields have it (repeats matter for auth).
struct Found {
  const HeaderField* header = nullptr;
  int count = 0;
};

Found FindField(std::span<const HeaderField> headers, std::string_view lower_name) {
  Found found;
  for (const HeaderField& h : headers) {
    if (h.first.size() != lower_name.size()) continue;
    if (!std::equal(h.first.begin(), h.first.end(), lower_name.begin(),
                    [](char a, char b) { return ToLowerAscii(a) == b; })) {
      continue;
    }
    if (found.header == nullptr) found.header = &h;
    ++found.count;
  }
  return found;
}

// Shared by Sign and Presign; `expires` set means presign.
Result<SigningResult> SignImpl(const SigningKeyCache& keys, const SignableRequest& request,
                               const Credentials& credentials, const SigningParams& params,
                               std::optional<std::chrono::seconds> expires) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return tl::unexpected(Error::Auth("SigV4: credentials have no access key id or secret"));
  }
  const bool presign = expires.has_value();
  const bool has_token = !credentials.session_token.empty();
  const bool content_sha256_header = params.add_content_sha256_header && !presign;

  const std::string amz_date = FormatAmzDate(params.time);
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = CredentialScope(date, params.region, params.service);

  std::vector<NamedValue> headers;
  headers.reserve(request.headers.size() + 3);
  bool has_host = false;
  std::string_view content_sha256_value;
  for (const HeaderField& h : request.headers) {
    std::string name = ToLowerAscii(h.first);
    if (IsUnsignable(name) || name == "authorization" || name == "x-amz-date" ||
        name == "x-amz-security-token") {
      continue;
    }
    if (name == "x-amz-content-sha256") {
      if (content_sha256_header) continue;
      // botocore signs with a payload hash the caller put in this header (e.g. UNSIGNED-PAYLOAD).
      content_sha256_value = h.second;
    }
    if (name == "host") has_host = true;
    headers.push_back({std::move(name), h.second});
  }
  if (!has_host) return tl::unexpected(Error::InvalidArgument("SigV4: request has no Host header"));

  std::string payload_hash;
  if (!request.payload_sha256.empty()) {
    payload_hash = request.payload_sha256;
  } else if (!content_sha256_value.empty()) {
    payload_hash = TrimSpaces(content_sha256_value);
  } else {
    payload_hash = Sha256Hex(request.body);
  }

  if (!presign) {
    headers.push_back({"x-amz-date", amz_date});
    if (has_token && params.sign_session_token) {
      headers.push_back({"x-amz-security-token", credentials.session_token});
    }
    if (content_sha256_header) headers.push_back({"x-amz-content-sha256", payload_hash});
  }

  SigningResult result;
  std::string canonical_headers;
  BuildCanonicalHeaders(headers, canonical_headers, result.signed_headers);

  std::string canonical_query;
  if (presign) {
    if (*expires < std::chrono::seconds(1) || *expires > kMaxPresignExpiry) {
      return tl::unexpected(
          Error::InvalidArgument("SigV4: presign expiry must be within 1 s and 7 days"));
    }
    std::vector<QueryParam> query_params;
    AppendQueryParams(request.query, /*drop_presign_params=*/true, query_params);
    query_params.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
    query_params.emplace_back("X-Amz-Credential",
                              UriEncode(credentials.access_key_id + "/" + scope));
    query_params.emplace_back("X-Amz-Date", amz_date);
    query_params.emplace_back("X-Amz-Expires", std::to_string(expires->count()));
    query_params.emplace_back("X-Amz-SignedHeaders", UriEncode(result.signed_headers));
    if (has_token && params.sign_session_token) {
      query_params.emplace_back("X-Amz-Security-Token", UriEncode(credentials.session_token));
    }
    canonical_query = JoinSortedParams(query_params);
  } else {
    canonical_query = CanonicalQueryString(request.query);
  }

  result.canonical_request = BuildCanonicalRequest(
      request.method, CanonicalUri(request.path, params.normalize_path), canonical_query,
      canonical_headers, result.signed_headers, payload_hash);
  result.string_to_sign = BuildStringToSign(amz_date, scope, result.canonical_request);
  const Sha256Digest key =
      keys.Get(credentials.secret_access_key, date, params.region, params.service);
  result.signature = HexEncode(HmacSha256(key, result.string_to_sign));

  if (presign) {
    result.query = std::move(canonical_query);
    if (has_token && !params.sign_session_token) {
      result.query.append("&X-Amz-Security-Token=");
      AppendUriEncoded(result.query, credentials.session_token);
    }
    result.query.append("&X-Amz-Signature=");
    result.query.append(result.signature);
    return result;
  }

  std::string authorization;
  authorization.reserve(kAlgorithm.size() + credentials.access_key_id.size() + scope.size() +
                        result.signed_headers.size() + result.signature.size() + 48);
  authorization.append(kAlgorithm);
  authorization.append(" Credential=");
  authorization.append(credentials.access_key_id);
  authorization.push_back('/');
  authorization.append(scope);
  authorization.append(", SignedHeaders=");
  authorization.append(result.signed_headers);
  authorization.append(", Signature=");
  authorization.append(result.signature);

  result.headers.emplace_back("X-Amz-Date", amz_date);
  if (has_token) result.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  if (content_sha256_header) result.headers.emplace_back("X-Amz-Content-SHA256", payload_hash);
  result.headers.emplace_back("Authorization", std::move(authorization));
  return result;
}

std::string SkewWindowText(Duration skew) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(skew).count();
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + " min.";
  return std::to_string(seconds) + " s.";
}

}  // namespace

// --- SigningKeyCache ---

SigningKeyCache::SigningKeyCache(size_t capacity) : capacity_(capacity) {
  QF_CHECK(capacity > 0);
  entries_.reserve(capacity);
}

Sha256Digest SigningKeyCache::Get(std::string_view secret, std::string_view date,
                                  std::string_view region, std::string_view service) const {
  const auto matches = [&](const Entry& e) {
    return e.date == date && e.region == region && e.service == service && e.secret == secret;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Entry& e : entries_) {
      if (matches(e)) return e.key;
    }
  }
  // Derived outside the lock: two threads missing together both derive, which is harmless.
  const Sha256Digest key = DeriveSigningKey(secret, date, region, service);
  std::lock_guard<std::mutex> lock(mu_);
  if (std::any_of(entries_.begin(), entries_.end(), matches)) return key;
  Entry entry{std::string(secret), std::string(date), std::string(region), std::string(service),
              key};
  if (entries_.size() < capacity_) {
    entries_.push_back(std::move(entry));
  } else {
    entries_[next_victim_] = std::move(entry);
    next_victim_ = (next_victim_ + 1) % capacity_;
  }
  return key;
}

// --- Signer ---

Result<SigningResult> Signer::Sign(const SignableRequest& request, const Credentials& credentials,
                                   const SigningParams& params) const {
  return SignImpl(keys_, request, credentials, params, std::nullopt);
}

Result<SigningResult> Signer::Presign(const SignableRequest& request,
                                      const Credentials& credentials, const SigningParams& params,
                                      std::chrono::seconds expires) const {
  return SignImpl(keys_, request, credentials, params, expires);
}

// --- building blocks ---

std::string FormatAmzDate(WallTime time) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(time);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::seconds> hms{secs - day};
  const int year = static_cast<int>(ymd.year());
  // WallTime's int64 nanoseconds span 1677..2262, so this holds for every WallTime.
  QF_CHECK(year >= 0 && year <= 9999);
  char text[32];
  const int n = std::snprintf(
      text, sizeof(text), "%04d%02u%02uT%02d%02d%02dZ", year, static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
      static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  QF_CHECK(n == 16);
  return std::string(text, 16);
}

std::optional<WallTime> ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  if (!IsDigits(text.substr(0, 8)) || !IsDigits(text.substr(9, 6))) return std::nullopt;
  const auto number = [&](size_t pos, size_t len) {
    int value = 0;
    for (size_t i = pos; i < pos + len; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const int year = number(0, 4);
  const int hour = number(9, 2);
  const int minute = number(11, 2);
  const int second = number(13, 2);
  // Outside 1678..2261 the time does not fit WallTime's int64 nanoseconds.
  if (year < 1678 || year > 2261 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(number(4, 2))},
                                        std::chrono::day{static_cast<unsigned>(number(6, 2))}};
  if (!ymd.ok()) return std::nullopt;
  const std::chrono::sys_seconds at = std::chrono::sys_days{ymd} + std::chrono::hours{hour} +
                                      std::chrono::minutes{minute} + std::chrono::seconds{second};
  return WallTime{std::chrono::duration_cast<Duration>(at.time_since_epoch())};
}

std::string CanonicalUri(std::string_view wire_path, bool normalize_path) {
  if (normalize_path) return UriEncode(NormalizePath(wire_path), /*encode_slash=*/false);
  if (wire_path.empty()) return "/";
  return UriEncode(wire_path, /*encode_slash=*/false);
}

std::string CanonicalQueryString(std::string_view wire_query) {
  std::vector<QueryParam> params;
  AppendQueryParams(wire_query, /*drop_presign_params=*/false, params);
  return JoinSortedParams(params);
}

std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service) {
  std::string scope;
  scope.reserve(date.size() + region.size() + service.size() + kScopeTerminator.size() + 3);
  scope.append(date);
  scope.push_back('/');
  scope.append(region);
  scope.push_back('/');
  scope.append(service);
  scope.push_back('/');
  scope.append(kScopeTerminator);
  return scope;
}

Sha256Digest DeriveSigningKey(std::string_view secret, std::string_view date,
                              std::string_view region, std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret.append(secret);
  const Sha256Digest k_date = HmacSha256(k_secret, date);
  const Sha256Digest k_region = HmacSha256(k_date, region);
  const Sha256Digest k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, kScopeTerminator);
}

// --- verification ---

Result<ParsedAuthorization> ParseAuthorization(std::string_view value) {
  const auto malformed = [](std::string message) {
    return tl::unexpected(Error::InvalidArgument(std::move(message)));
  };
  value = TrimSpaces(value);
  if (!value.starts_with(kAlgorithm) || value.size() == kAlgorithm.size() ||
      !IsSpace(value[kAlgorithm.size()])) {
    return malformed("Authorization header must start with 'AWS4-HMAC-SHA256 '");
  }
  std::string_view rest = value.substr(kAlgorithm.size());

  std::optional<std::string_view> credential, signed_headers, signature;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view part = TrimSpaces(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return malformed("Authorization component '" + std::string(part) + "' is not key=value");
    }
    const std::string_view key = part.substr(0, eq);
    std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                            : key == "SignedHeaders" ? &signed_headers
                                            : key == "Signature"     ? &signature
                                                                     : nullptr;
    if (slot == nullptr) {
      return malformed("Authorization has unknown component '" + std::string(key) + "'");
    }
    if (slot->has_value()) {
      return malformed("Authorization repeats component '" + std::string(key) + "'");
    }
    *slot = part.substr(eq + 1);
  }
  if (!credential) return malformed("Authorization header requires 'Credential' parameter.");
  if (!signed_headers) return malformed("Authorization header requires 'SignedHeaders' parameter.");
  if (!signature) return malformed("Authorization header requires 'Signature' parameter.");

  ParsedAuthorization parsed;
  std::vector<std::string_view> scope;
  for (std::string_view c = *credential;;) {
    const size_t slash = c.find('/');
    scope.push_back(c.substr(0, slash));
    if (slash == std::string_view::npos) break;
    c = c.substr(slash + 1);
  }
  if (scope.size() != 5 || scope[4] != kScopeTerminator ||
      std::any_of(scope.begin(), scope.end(), [](std::string_view s) { return s.empty(); })) {
    return malformed(
        "Credential should be <key id>/<YYYYMMDD>/<region>/<service>/aws4_request, got '" +
        std::string(*credential) + "'");
  }
  if (scope[1].size() != 8 || !IsDigits(scope[1])) {
    return malformed("Credential date '" + std::string(scope[1]) + "' is not YYYYMMDD");
  }
  parsed.access_key_id = scope[0];
  parsed.date = scope[1];
  parsed.region = scope[2];
  parsed.service = scope[3];

  for (std::string_view names = *signed_headers;;) {
    const size_t semi = names.find(';');
    const std::string_view name = names.substr(0, semi);
    if (name.empty() || std::any_of(name.begin(), name.end(), IsSpace)) {
      return malformed("SignedHeaders '" + std::string(*signed_headers) + "' is malformed");
    }
    parsed.signed_headers.push_back(ToLowerAscii(name));
    if (semi == std::string_view::npos) break;
    names = names.substr(semi + 1);
  }

  if (signature->size() != 64 || !std::all_of(signature->begin(), signature->end(), IsHexDigit)) {
    return malformed("Signature must be 64 hex digits");
  }
  parsed.signature = ToLowerAscii(*signature);
  return parsed;
}

std::string_view VerifyStatusName(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::kOk:
      return "ok";
    case VerifyStatus::kMissingAuthorization:
      return "missing_authorization";
    case VerifyStatus::kMalformedAuthorization:
      return "malformed_authorization";
    case VerifyStatus::kScopeMismatch:
      return "scope_mismatch";
    case VerifyStatus::kClockSkew:
      return "clock_skew";
    case VerifyStatus::kUnknownAccessKey:
      return "unknown_access_key";
    case VerifyStatus::kSignatureMismatch:
      return "signature_mismatch";
  }
  return "unknown";
}

SignatureVerifier::SignatureVerifier(SecretLookup lookup, VerifierOptions options)
    : lookup_(std::move(lookup)), options_(std::move(options)) {
  QF_CHECK(lookup_ != nullptr);
}

VerifyResult SignatureVerifier::Verify(const SignableRequest& request, WallTime now) const {
  VerifyResult result;
  const auto fail = [&result](VerifyStatus status, std::string message) {
    result.status = status;
    result.message = std::move(message);
    return std::move(result);
  };

  const Found auth = FindField(request.headers, "authorization");
  if (auth.count == 0)
    return fail(VerifyStatus::kMissingAuthorization, "Missing Authentication Token");
  if (auth.count > 1) {
    return fail(VerifyStatus::kMalformedAuthorization, "More than one Authorization header");
  }
  Result<ParsedAuthorization> parsed = ParseAuthorization(auth.header->second);
  if (!parsed) return fail(VerifyStatus::kMalformedAuthorization, parsed.error().message);
  result.authorization = std::move(*parsed);
  const ParsedAuthorization& authorization = result.authorization;

  const auto is_signed = [&](std::string_view name) {
    return std::find(authorization.signed_headers.begin(), authorization.signed_headers.end(),
                     name) != authorization.signed_headers.end();
  };
  if (!is_signed("host")) {
    return fail(VerifyStatus::kMalformedAuthorization,
                "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (!is_signed("x-amz-date")) {
    return fail(VerifyStatus::kMalformedAuthorization,
                "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const Found date_header = FindField(request.headers, "x-amz-date");
  const std::string_view amz_date =
      date_header.count == 1 ? TrimSpaces(date_header.header->second) : std::string_view();
  const std::optional<WallTime> signed_at = ParseAmzDate(amz_date);
  if (!signed_at) {
    return fail(VerifyStatus::kMalformedAuthorization,
                "X-Amz-Date must be one header of the form YYYYMMDDTHHMMSSZ");
  }

  if (amz_date.substr(0, 8) != authorization.date) {
    return fail(VerifyStatus::kScopeMismatch,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                "from HTTP: '" +
                    authorization.date + "' != '" + std::string(amz_date.substr(0, 8)) + "'");
  }
  if (!options_.region.empty() && authorization.region != options_.region) {
    return fail(VerifyStatus::kScopeMismatch, "Credential should be scoped to a valid region. '" +
                                                  authorization.region + "' is not '" +
                                                  options_.region + "'");
  }
  if (!options_.service.empty() && authorization.service != options_.service) {
    return fail(VerifyStatus::kScopeMismatch,
                "Credential should be scoped to correct service: '" + options_.service + "'");
  }

  // Compared as time points, never subtracted: two arbitrary WallTimes can overflow int64.
  if (*signed_at < now - options_.max_clock_skew) {
    return fail(VerifyStatus::kClockSkew,
                "Signature expired: " + std::string(amz_date) + " is now earlier than " +
                    FormatAmzDate(now - options_.max_clock_skew) + " (" + FormatAmzDate(now) +
                    " - " + SkewWindowText(options_.max_clock_skew) + ")");
  }
  if (*signed_at > now + options_.max_clock_skew) {
    return fail(VerifyStatus::kClockSkew,
                "Signature not yet current: " + std::string(amz_date) + " is still later than " +
                    FormatAmzDate(now + options_.max_clock_skew) + " (" + FormatAmzDate(now) +
                    " + " + SkewWindowText(options_.max_clock_skew) + ")");
  }

  const std::optional<std::string> secret = lookup_(authorization.access_key_id);
  if (!secret) {
    return fail(VerifyStatus::kUnknownAccessKey,
                "The security token included in the request is invalid.");
  }

  std::vector<NamedValue> headers;
  for (const HeaderField& h : request.headers) {
    std::string name = ToLowerAscii(h.first);
    if (is_signed(name)) headers.push_back({std::move(name), h.second});
  }
  std::string canonical_headers;
  std::string signed_headers;
  BuildCanonicalHeaders(headers, canonical_headers, signed_headers);
  for (const std::string& name : authorization.signed_headers) {
    if (FindField(request.headers, name).count == 0) {
      return fail(VerifyStatus::kSignatureMismatch,
                  "Signed header '" + name + "' is not in the request");
    }
  }

  std::string payload_hash = request.payload_sha256.empty() ? Sha256Hex(request.body)
                                                            : std::string(request.payload_sha256);
  if (const Found declared = FindField(request.headers, "x-amz-content-sha256");
      declared.count > 0) {
    const std::string_view value = TrimSpaces(declared.header->second);
    if (value == kUnsignedPayload) {
      payload_hash = kUnsignedPayload;
    } else if (ToLowerAscii(value) != payload_hash) {
      return fail(VerifyStatus::kSignatureMismatch,
                  "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
  }

  result.canonical_request = BuildCanonicalRequest(
      request.method, CanonicalUri(request.path, options_.normalize_path),
      CanonicalQueryString(request.query), canonical_headers, signed_headers, payload_hash);
  result.string_to_sign = BuildStringToSign(
      amz_date, CredentialScope(authorization.date, authorization.region, authorization.service),
      result.canonical_request);
  const Sha256Digest key =
      keys_.Get(*secret, authorization.date, authorization.region, authorization.service);
  const std::string expected = HexEncode(HmacSha256(key, result.string_to_sign));
  if (!ConstantTimeEquals(expected, authorization.signature)) {
    return fail(VerifyStatus::kSignatureMismatch,
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.");
  }
  return result;
}

}  // namespace quotaflow::aws
