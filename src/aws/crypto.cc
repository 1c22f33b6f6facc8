#include "aws/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

#include "core/check.h"

namespace quotaflow::aws {
namespace {

// OpenSSL 3 looks algorithms up by name on every implicit use (EVP_sha256(), HMAC()); an
// explicit fetch kept for the life of the process skips that lookup on the signing hot path.
// The objects are deliberately never freed: they are needed until exit.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    QF_CHECK(fetched != nullptr);
    return fetched;
  }();
  return md;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* fetched = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    QF_CHECK(fetched != nullptr);
    return fetched;
  }();
  return mac;
}

struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// One HMAC-SHA256 context per thread, re-keyed by every EVP_MAC_init: setting the digest by name
// costs a provider lookup, so it is done once per thread rather than once per MAC.
EVP_MAC_CTX* ThreadHmacCtx() {
  thread_local const std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> fresh(EVP_MAC_CTX_new(HmacMac()));
    QF_CHECK(fresh != nullptr);
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    QF_CHECK(EVP_MAC_CTX_set_params(fresh.get(), params) == 1);
    return fresh;
  }();
  return ctx.get();
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest;
  unsigned int size = 0;
  QF_CHECK(EVP_Digest(data.data(), data.size(), digest.data(), &size, Sha256Md(), nullptr) == 1);
  QF_CHECK(size == digest.size());
  return digest;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::string_view data) {
  EVP_MAC_CTX* ctx = ThreadHmacCtx();
  // Failures mean OpenSSL itself is broken (out of memory, no default provider).
  // A null key would make EVP_MAC_init reuse this thread's previous key; an empty key is a key.
  static constexpr uint8_t kEmptyKey = 0;
  const uint8_t* key_data = key.empty() ? &kEmptyKey : key.data();
  QF_CHECK(EVP_MAC_init(ctx, key_data, key.size(), nullptr) == 1);
  QF_CHECK(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) ==
           1);
  Sha256Digest mac;
  size_t size = 0;
  QF_CHECK(EVP_MAC_final(ctx, mac.data(), &size, mac.size()) == 1);
  QF_CHECK(size == mac.size());
  return mac;
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace quotaflow::aws
