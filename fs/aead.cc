#include "fs/aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace qstor::fs {
namespace {

static_assert(kAeadKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);

// OpenSSL's RFC 8439 AEAD, fetched once per process; nullptr if no provider
// has it (e.g. a FIPS-only configuration). EVP_CIPHER objects are immutable
// and shared by all threads.
EVP_CIPHER* OpenSslChaChaPoly() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return cipher;
}

// The XChaCha20 extension (draft-irtf-cfrg-xchacha section 2.3): the subkey
// and the 12-byte nonce of the inner ChaCha20-Poly1305.
struct Inner {
  uint8_t key[32];
  uint8_t nonce[12] = {0, 0, 0, 0};
  Inner(const uint8_t nonce24[kAeadNonceSize], const uint8_t key32[kAeadKeySize]) {
    crypto_core_hchacha20(key, nonce24, key32, nullptr);
    for (int i = 0; i < 8; ++i) nonce[4 + i] = nonce24[16 + i];
  }
  ~Inner() { sodium_memzero(key, sizeof(key)); }
};

bool Fits(size_t n) { return n < static_cast<size_t>(INT_MAX); }

// Feeds ad and data through an initialised context; false on any failure.
bool Run(EVP_CIPHER_CTX* c, bool enc, uint8_t* dst, const uint8_t* src, size_t size,
         const uint8_t* ad, size_t ad_size) {
  int n = 0;
  auto update = enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  if (ad_size > 0 && update(c, nullptr, &n, ad, static_cast<int>(ad_size)) != 1) return false;
  if (size > 0 && (update(c, dst, &n, src, static_cast<int>(size)) != 1 ||
                   static_cast<size_t>(n) != size)) {
    return false;
  }
  return true;
}

}  // namespace

XChaCha20Poly1305::XChaCha20Poly1305(Engine engine) {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all
  if (engine == Engine::kAuto && OpenSslChaChaPoly() != nullptr) ctx_ = EVP_CIPHER_CTX_new();
}

XChaCha20Poly1305::~XChaCha20Poly1305() {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(ctx_));  // wipes the key schedule
}

std::string_view XChaCha20Poly1305::Implementation() const {
  return ctx_ != nullptr ? "openssl" : "libsodium";
}

void XChaCha20Poly1305::Seal(uint8_t* dst, uint8_t tag[kAeadTagSize], const uint8_t* src,
                             size_t size, const uint8_t* ad, size_t ad_size,
                             const uint8_t nonce[kAeadNonceSize],
                             const uint8_t key[kAeadKeySize]) {
  if (auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_); c != nullptr && Fits(size) && Fits(ad_size)) {
    Inner in(nonce, key);
    if (EVP_EncryptInit_ex2(c, OpenSslChaChaPoly(), in.key, in.nonce, nullptr) == 1) {
      int n = 0;
      if (Run(c, true, dst, src, size, ad, ad_size) && EVP_EncryptFinal_ex(c, dst + size, &n) == 1 &&
          n == 0 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, tag) == 1) {
        return;
      }
      // OpenSSL does not fail once initialised on in-memory buffers. If it
      // ever did, libsodium redoes the work from src, which is intact unless
      // sealing in place; then there is no plaintext left to redo it from.
      if (dst == src) {
        std::fprintf(stderr, "qstor: OpenSSL ChaCha20-Poly1305 failed while sealing in place\n");
        std::abort();
      }
    }
  }
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(dst, tag, nullptr, src, size, ad, ad_size,
                                                      nullptr, nonce, key);
}

bool XChaCha20Poly1305::Open(uint8_t* dst, const uint8_t* src, size_t size,
                             const uint8_t tag[kAeadTagSize], const uint8_t* ad, size_t ad_size,
                             const uint8_t nonce[kAeadNonceSize],
                             const uint8_t key[kAeadKeySize]) {
  if (auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_); c != nullptr && Fits(size) && Fits(ad_size)) {
    Inner in(nonce, key);
    uint8_t t[kAeadTagSize];
    std::memcpy(t, tag, kAeadTagSize);  // OpenSSL's ctrl takes a non-const pointer
    if (EVP_DecryptInit_ex2(c, OpenSslChaChaPoly(), in.key, in.nonce, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, t) == 1) {
      // OpenSSL decrypts before it checks the tag: the plaintext is wiped
      // when the check fails.
      int n = 0;
      bool ok = Run(c, false, dst, src, size, ad, ad_size) &&
                EVP_DecryptFinal_ex(c, dst + size, &n) == 1 && n == 0;
      if (!ok && size > 0) sodium_memzero(dst, size);
      return ok;
    }
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(dst, nullptr, src, size, tag, ad,
                                                          ad_size, nonce, key) == 0) {
    return true;
  }
  if (size > 0) sodium_memzero(dst, size);
  return false;
}

}  // namespace qstor::fs
