#pragma once
// The few cryptographic primitives SigV4 needs (SHA-256, HMAC-SHA256, hex), over OpenSSL 3.
//
// Thread safety: every function is safe to call from any thread. The OpenSSL algorithm objects
// are fetched once per process; each call uses its own context.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace quotaflow::aws {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);

// Lowercase hex of SHA-256(data): the form SigV4 puts in canonical requests.
std::string Sha256Hex(std::string_view data);

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::string_view data);
inline Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  return HmacSha256(std::span(reinterpret_cast<const uint8_t*>(key.data()), key.size()), data);
}

// Lowercase hex, two characters per byte.
std::string HexEncode(std::span<const uint8_t> bytes);

// Compares in time that depends only on the lengths, so that a verifier does not leak how many
// leading characters of a signature an attacker guessed right. Lengths are not secret.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace quotaflow::aws
