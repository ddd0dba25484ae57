// Poly1305 one-time authenticator (RFC 8439), the function libsodium calls
// crypto_onetimeauth, used by fs::Codec for the parity shards' checks.
//
// Computed with OpenSSL's libcrypto when it provides Poly1305 (it has
// AVX2/AVX-512 code paths; libsodium 1.0.18 has only scalar/SSE2 code, 2-3x
// slower, see docs/benchmarks.md), otherwise with libsodium. Both give the
// same 16 bytes for the same key and message, so nothing records which one
// ran and segments verify on any machine.
//
// The key must be a one-time key: never use one key for two messages.
// Thread-safe (no shared mutable state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qstor::fs {

inline constexpr size_t kPoly1305KeySize = 32;
inline constexpr size_t kPoly1305TagSize = 16;

// tag = Poly1305(key, data[0, size)).
void Poly1305(const uint8_t key[kPoly1305KeySize], const uint8_t* data, size_t size,
              uint8_t tag[kPoly1305TagSize]);

// True if `tag` is Poly1305(key, data); compares in constant time.
bool Poly1305Verify(const uint8_t key[kPoly1305KeySize], const uint8_t* data, size_t size,
                    const uint8_t tag[kPoly1305TagSize]);

// Which implementation Poly1305 uses in this process: "openssl" or
// "libsodium" (benchmarks and logs).
std::string_view Poly1305Implementation();

}  // namespace qstor::fs
