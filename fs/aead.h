// XChaCha20-Poly1305-IETF (libsodium's crypto_aead_xchacha20poly1305_ietf),
// the AEAD fs::Codec seals data shards with.
//
// The bytes are exactly libsodium's: HChaCha20 (libsodium) derives the
// subkey from the key and the first 16 nonce bytes, and the RFC 8439
// ChaCha20-Poly1305 AEAD runs under that subkey with the nonce
// 0x00000000 || nonce[16..24). That AEAD is OpenSSL's libcrypto when it
// provides ChaCha20-Poly1305 (AVX2/AVX-512 code; about 1.6x libsodium
// 1.0.18's on this project's machines, docs/benchmarks.md), otherwise
// libsodium's own. Either one opens what the other sealed, so nothing records
// which one ran and segments open on any machine.
//
// One object per thread (it keeps a cipher context); the nonce must never
// repeat under one key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qstor::fs {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 24;
inline constexpr size_t kAeadTagSize = 16;

class XChaCha20Poly1305 {
 public:
  enum class Engine { kAuto, kLibsodium };
  explicit XChaCha20Poly1305(Engine engine = Engine::kAuto);
  ~XChaCha20Poly1305();
  XChaCha20Poly1305(const XChaCha20Poly1305&) = delete;
  XChaCha20Poly1305& operator=(const XChaCha20Poly1305&) = delete;

  // dst[0, size) = encryption of src[0, size), tag = its tag over ad and the
  // ciphertext. dst may equal src (in place); otherwise they must not overlap.
  // size must be below 2 GiB.
  void Seal(uint8_t* dst, uint8_t tag[kAeadTagSize], const uint8_t* src, size_t size,
            const uint8_t* ad, size_t ad_size, const uint8_t nonce[kAeadNonceSize],
            const uint8_t key[kAeadKeySize]);

  // Verifies tag over ad and src[0, size) and decrypts into dst (which may
  // equal src). False if the tag does not verify; dst is then all zeros
  // (never unauthenticated plaintext).
  bool Open(uint8_t* dst, const uint8_t* src, size_t size, const uint8_t tag[kAeadTagSize],
            const uint8_t* ad, size_t ad_size, const uint8_t nonce[kAeadNonceSize],
            const uint8_t key[kAeadKeySize]);

  // "openssl" or "libsodium": the engine this object uses.
  std::string_view Implementation() const;

 private:
  void* ctx_ = nullptr;  // EVP_CIPHER_CTX*, nullptr when libsodium does the work
};

}  // namespace qstor::fs
