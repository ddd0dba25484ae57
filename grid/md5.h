// MD5 (RFC 1321), implemented here because libsodium has none and the zos
// deployment challenge hash is defined as MD5. Used only for that challenge:
// MD5 is not a security primitive in qstor (the ed25519 signature over the
// 16 digest bytes is what the node checks, as zos does).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace qstor::grid {

class Md5 {
 public:
  Md5();
  void Update(std::string_view data);
  // Finishes and returns the 16-byte digest. The object must not be updated
  // afterwards.
  std::array<uint8_t, 16> Final();

  static std::array<uint8_t, 16> Digest(std::string_view data);
  static std::string HexDigest(std::string_view data);  // 32 lowercase hex chars

 private:
  void Block(const uint8_t* p);
  uint32_t s_[4];
  uint64_t length_ = 0;  // bytes
  uint8_t buf_[64];
  size_t buf_len_ = 0;
};

}  // namespace qstor::grid
