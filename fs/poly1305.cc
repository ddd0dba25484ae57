#include "fs/poly1305.h"

#include <openssl/evp.h>
#include <sodium.h>

namespace qstor::fs {
namespace {

// OpenSSL's Poly1305, fetched once per process; nullptr if the library has
// no provider for it (e.g. a FIPS-only configuration). EVP_MAC objects are
// reference-counted and immutable, so one is shared by all threads.
EVP_MAC* OpenSslPoly1305() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  return mac;
}

// Computes the tag with OpenSSL; false if any step fails (the caller then
// uses libsodium, which gives the same bytes). A context per call: it holds
// the key, and EVP_MAC_CTX_free wipes it.
bool OpenSslTag(EVP_MAC* mac, const uint8_t* key, const uint8_t* data, size_t size,
                uint8_t* tag) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (ctx == nullptr) return false;
  size_t out_len = 0;
  bool ok = EVP_MAC_init(ctx, key, kPoly1305KeySize, nullptr) == 1 &&
            EVP_MAC_update(ctx, data, size) == 1 &&
            EVP_MAC_final(ctx, tag, &out_len, kPoly1305TagSize) == 1 &&
            out_len == kPoly1305TagSize;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

}  // namespace

void Poly1305(const uint8_t key[kPoly1305KeySize], const uint8_t* data, size_t size,
              uint8_t tag[kPoly1305TagSize]) {
  static_assert(kPoly1305KeySize == crypto_onetimeauth_KEYBYTES);
  static_assert(kPoly1305TagSize == crypto_onetimeauth_BYTES);
  if (EVP_MAC* mac = OpenSslPoly1305(); mac != nullptr && OpenSslTag(mac, key, data, size, tag)) {
    return;
  }
  crypto_onetimeauth(tag, data, size, key);
}

bool Poly1305Verify(const uint8_t key[kPoly1305KeySize], const uint8_t* data, size_t size,
                    const uint8_t tag[kPoly1305TagSize]) {
  uint8_t expected[kPoly1305TagSize];
  Poly1305(key, data, size, expected);
  bool ok = sodium_memcmp(expected, tag, kPoly1305TagSize) == 0;
  sodium_memzero(expected, sizeof(expected));
  return ok;
}

std::string_view Poly1305Implementation() {
  return OpenSslPoly1305() != nullptr ? "openssl" : "libsodium";
}

}  // namespace qstor::fs
