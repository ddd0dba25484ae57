#include "fs/keys.h"

#include <sodium.h>

namespace qstor::fs {

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

Result<SecretKey> SecretKey::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) {
    return Status::InvalidArgument("fs key: need exactly 32 bytes, got " +
                                   std::to_string(raw.size()));
  }
  std::array<uint8_t, kSize> b;
  for (size_t i = 0; i < kSize; ++i) b[i] = static_cast<uint8_t>(raw[i]);
  SecretKey k(b);
  sodium_memzero(b.data(), b.size());
  return k;
}

Result<SecretKey> SecretKey::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::InvalidArgument("fs key: need 64 hex characters, got " +
                                   std::to_string(hex.size()));
  }
  std::array<uint8_t, kSize> b;
  size_t bin_len = 0;
  if (sodium_hex2bin(b.data(), b.size(), hex.data(), hex.size(), nullptr, &bin_len, nullptr) != 0 ||
      bin_len != kSize) {
    return Status::InvalidArgument("fs key: not a hex string");
  }
  SecretKey k(b);
  sodium_memzero(b.data(), b.size());
  return k;
}

SecretKey SecretKey::Random() {
  if (sodium_init() < 0) std::abort();
  std::array<uint8_t, kSize> b;
  randombytes_buf(b.data(), b.size());
  SecretKey k(b);
  sodium_memzero(b.data(), b.size());
  return k;
}

bool SecretKey::operator==(const SecretKey& o) const {
  return sodium_memcmp(bytes_.data(), o.bytes_.data(), kSize) == 0;
}

}  // namespace qstor::fs
