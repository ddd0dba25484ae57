// Key material handed to the fs storage engine.
//
// The fs never derives keys: the reconciler derives them from the mnemonic
// (documented KDF there) and passes them in. Two independent 32-byte keys:
//  - data key: encrypts segment payloads (fs/codec.h);
//  - metadata key: encrypts segment metadata records (fs/object_store.h).
// A SecretKey wipes itself on destruction and never prints its bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace qstor::fs {

class SecretKey {
 public:
  static constexpr size_t kSize = 32;

  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}
  ~SecretKey();
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;

  // From exactly 32 raw bytes; kInvalidArgument otherwise (the message never
  // contains the bytes).
  static Result<SecretKey> FromBytes(std::string_view raw);
  // From 64 hex characters.
  static Result<SecretKey> FromHex(std::string_view hex);
  // A fresh random key (tests, benchmarks).
  static SecretKey Random();

  const uint8_t* data() const { return bytes_.data(); }
  bool operator==(const SecretKey& o) const;

 private:
  std::array<uint8_t, kSize> bytes_;
};

struct FsKeys {
  SecretKey data_key;
  SecretKey metadata_key;
};

}  // namespace qstor::fs
