#pragma once
// AWS Signature Version 4: signing (Authorization header, or a presigned query string) and the
// server-side check the emulator uses to verify what a client sent.
//
// Rules are the non-S3 ones, as botocore 1.43 applies them (../shared/reference/bedrock-wire.md
// section 4):
// - The canonical URI is the wire path, already percent-encoded, encoded once more ("%3A" ->
//   "%253A"), after removing dot segments and merging slashes (SigningParams::normalize_path).
// - Query parameters are decoded and re-encoded by the AWS rules (aws/uri.h), then sorted by name
//   and value.
// - Every request header is signed, with `host` required, except those a proxy or the HTTP stack
//   may change: user-agent, x-amzn-trace-id, expect and the hop-by-hop headers (connection,
//   keep-alive, proxy-authenticate, proxy-authorization, te, trailer, transfer-encoding,
//   upgrade). Headers added after signing (Content-Length, amz-sdk-*) must not be in the request
//   given to the signer.
// - The payload's SHA-256 is always in the canonical request, but no X-Amz-Content-SHA256 header
//   is sent unless asked for (only S3 wants it).
//
// The signer never reads the clock: the caller passes the time (a Clock's WallNow()).

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/crypto.h"
#include "aws/http.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// The parts of an HTTP request that SigV4 covers. A view: everything it points to must outlive
// the Sign / Verify call, and nothing is copied except what ends up in the canonical request.
struct SignableRequest {
  std::string_view method;  // "POST"; upper-cased for signing
  // As sent on the wire: percent-encoded, without the query, e.g.
  // "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse".
  std::string_view path;
  std::string_view query;  // as sent on the wire, without the '?'; may be empty
  // In wire order. Must include Host. Authorization, X-Amz-Date and X-Amz-Security-Token are the
  // signer's own: any such header here is ignored (the caller must not send it as well).
  std::span<const HeaderField> headers;
  std::string_view body;
  // Lowercase hex SHA-256 of the body, when the caller has it already (a body streamed from disk,
  // or hashed once and signed again on every retry). Empty: the signer hashes `body`.
  std::string_view payload_sha256;
};

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term (AKIA...) credentials
};

struct SigningParams {
  std::string_view region;   // "us-east-1"
  std::string_view service;  // the signing name: "bedrock" (also for bedrock-runtime),
                             // "servicequotas", "monitoring", ...
  WallTime time;             // the request time; X-Amz-Date is this, truncated to the second

  // Remove dot segments and merge slashes before encoding the path. Default true; false only for
  // S3, which treats "a//b" and "a/b" as different keys.
  bool normalize_path = true;
  // Sign X-Amz-Security-Token. Default true (what every current SDK does); false adds the token
  // after signing, which a few old services required.
  bool sign_session_token = true;
  // Send and sign X-Amz-Content-SHA256. Default false: Bedrock, Service Quotas and CloudWatch do
  // not want it (S3 does). Ignored by Presign.
  bool add_content_sha256_header = false;
};

struct SigningResult {
  // Header signing: the headers to add to the request, in this order: X-Amz-Date,
  // X-Amz-Security-Token (when the credentials have one), X-Amz-Content-SHA256 (when asked for),
  // Authorization. Empty for presigning, which carries everything in `query`.
  std::vector<HeaderField> headers;
  // Presigning only: the query string to send instead of the request's (its parameters and the
  // X-Amz-* ones, encoded and sorted, X-Amz-Signature last). Empty for header signing.
  std::string query;
  // The intermediate values, for tests and for debugging a server's "signature does not match".
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "content-type;host;x-amz-date"
  std::string signature;       // lowercase hex
};

// Caches the derived signing keys, which depend only on (secret, date, region, service): four
// HMACs saved per request, as the key changes once a day.
// Thread safety: safe from any thread; the entries are guarded by mu_.
class SigningKeyCache {
 public:
  // `capacity`: how many (secret, date, region, service) keys are kept. Default 8 covers a few
  // regions and services over a day boundary; more only costs a longer linear scan.
  explicit SigningKeyCache(size_t capacity = 8);

  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;

  Sha256Digest Get(std::string_view secret, std::string_view date, std::string_view region,
                   std::string_view service) const;

 private:
  struct Entry {
    std::string secret;
    std::string date;
    std::string region;
    std::string service;
    Sha256Digest key;
  };

  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::vector<Entry> entries_;  // guarded by mu_
  mutable size_t next_victim_ = 0;      // guarded by mu_; round-robin eviction
};

// Signs requests. Thread safety: safe from any thread (one Signer can serve every connection).
class Signer {
 public:
  Signer() = default;
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // Header signing. Fails (kInvalidArgument) when the request has no Host header or the time is
  // outside years 0..9999, and (kAuth) when the credentials lack a key id or secret.
  Result<SigningResult> Sign(const SignableRequest& request, const Credentials& credentials,
                             const SigningParams& params) const;

  // Query-string signing (a presigned URL) valid for `expires`, 1 s to 7 days. The payload hash
  // is the body's, as for header signing.
  Result<SigningResult> Presign(const SignableRequest& request, const Credentials& credentials,
                                const SigningParams& params, std::chrono::seconds expires) const;

 private:
  SigningKeyCache keys_;
};

// --- building blocks (also what the verifier uses) ---

// "20150830T123600Z". REQUIRES: the time's year is within 0..9999.
std::string FormatAmzDate(WallTime time);
// Parses exactly the FormatAmzDate form; nullopt for anything else.
std::optional<WallTime> ParseAmzDate(std::string_view text);

// The canonical URI: the wire path (optionally normalised) percent-encoded again, '/' kept.
std::string CanonicalUri(std::string_view wire_path, bool normalize_path);
// The canonical query string of a wire query (without '?').
std::string CanonicalQueryString(std::string_view wire_query);
// The "<date>/<region>/<service>/aws4_request" scope.
std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
Sha256Digest DeriveSigningKey(std::string_view secret, std::string_view date,
                              std::string_view region, std::string_view service);

// --- verification (server side) ---

// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/
// aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>`.
struct ParsedAuthorization {
  std::string access_key_id;
  std::string date;  // the scope's YYYYMMDD
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // as listed, lower-cased
  std::string signature;                    // lowercase hex
};

// Accepts the components in any order, with or without a space after each comma. Fails
// (kInvalidArgument, with the reason) on another algorithm, a missing or repeated component, a
// scope that is not five parts ending in aws4_request, or a signature that is not 64 hex digits.
Result<ParsedAuthorization> ParseAuthorization(std::string_view value);

// Which check a request failed, in the order they are made.
enum class VerifyStatus {
  kOk,
  kMissingAuthorization,    // no Authorization header
  kMalformedAuthorization,  // unparseable Authorization or X-Amz-Date; host or x-amz-date unsigned
  kScopeMismatch,           // scope date differs from X-Amz-Date, or region/service unexpected
  kClockSkew,               // X-Amz-Date further from the server's time than max_clock_skew
  kUnknownAccessKey,        // the secret lookup does not know the key id
  kSignatureMismatch,       // recomputed signature differs (wrong secret, tampered request)
};
std::string_view VerifyStatusName(VerifyStatus status);

struct VerifyResult {
  VerifyStatus status = VerifyStatus::kOk;
  // Why, worded like AWS's own messages where there is one ("Signature expired: ..."). Empty on
  // success.
  std::string message;
  // As far as parsing got: who signed, for which region and service.
  ParsedAuthorization authorization;
  // Set when the signature was recomputed: what the server expected, for logs.
  std::string canonical_request;
  std::string string_to_sign;

  bool ok() const { return status == VerifyStatus::kOk; }
};

// Returns the secret for an access key id, or nullopt if the key is unknown. Called once per
// verified request, from the verifying thread.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

struct VerifierOptions {
  // The scope's region and service must equal these; empty accepts any (an emulator serving
  // several regions). Default: any.
  std::string region;
  std::string service;
  // How far X-Amz-Date may be from the server's time, either way. Default 5 minutes, as AWS
  // services enforce; a larger window tolerates bad client clocks but widens replay.
  Duration max_clock_skew = std::chrono::minutes(5);
  // Must match how clients sign: true for every service but S3.
  bool normalize_path = true;
};

// Verifies header-signed requests (presigned query strings are not supported). The session
// token, if any, is not checked here: it is an ordinary signed header, and the caller decides
// what tokens it accepts.
// Thread safety: Verify is safe from any thread if the SecretLookup is.
class SignatureVerifier {
 public:
  explicit SignatureVerifier(SecretLookup lookup, VerifierOptions options = {});

  // `request` is what arrived: the raw path and query (not decoded) and every header.
  // `now` is the server's wall time.
  VerifyResult Verify(const SignableRequest& request, WallTime now) const;

 private:
  SecretLookup lookup_;
  VerifierOptions options_;
  SigningKeyCache keys_;
};

}  // namespace quotaflow::aws
