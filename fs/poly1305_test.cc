#include "fs/poly1305.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>
#include <vector>

namespace qstor::fs {
namespace {

// fs::Poly1305 must give libsodium's crypto_onetimeauth bytes exactly: parity
// checks already stored were made with libsodium, and a machine where OpenSSL
// is missing Poly1305 falls back to it.
TEST(Poly1305, SameTagsAsLibsodium) {
  ASSERT_GE(sodium_init(), 0);
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 300; ++n) sizes.push_back(n);
  for (size_t n : {1000u, 4095u, 4096u, 4097u, 65536u + 17u, (1u << 20) + 16u}) sizes.push_back(n);
  std::vector<uint8_t> data((1u << 20) + 16u);
  randombytes_buf(data.data(), data.size());
  for (size_t n : sizes) {
    uint8_t key[kPoly1305KeySize], ours[kPoly1305TagSize], theirs[kPoly1305TagSize];
    randombytes_buf(key, sizeof(key));
    Poly1305(key, data.data(), n, ours);
    crypto_onetimeauth(theirs, data.data(), n, key);
    ASSERT_EQ(std::string(ours, ours + 16), std::string(theirs, theirs + 16)) << "size " << n;
    EXPECT_TRUE(Poly1305Verify(key, data.data(), n, theirs)) << n;
  }
}

// RFC 8439 section 2.5.2 test vector.
TEST(Poly1305, Rfc8439Vector) {
  const uint8_t key[32] = {0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52,
                           0xfe, 0x42, 0xd5, 0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d,
                           0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49, 0xf5, 0x1b};
  const std::string msg = "Cryptographic Forum Research Group";
  const uint8_t want[16] = {0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6,
                            0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01, 0x27, 0xa9};
  uint8_t tag[16];
  Poly1305(key, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), tag);
  EXPECT_EQ(std::string(tag, tag + 16), std::string(want, want + 16));
}

TEST(Poly1305, VerifyRejectsAnyChange) {
  ASSERT_GE(sodium_init(), 0);
  std::vector<uint8_t> data(5000);
  randombytes_buf(data.data(), data.size());
  uint8_t key[32], tag[16];
  randombytes_buf(key, sizeof(key));
  Poly1305(key, data.data(), data.size(), tag);
  ASSERT_TRUE(Poly1305Verify(key, data.data(), data.size(), tag));
  for (size_t i : {size_t{0}, size_t{2500}, data.size() - 1}) {
    data[i] ^= 0x01;
    EXPECT_FALSE(Poly1305Verify(key, data.data(), data.size(), tag)) << "byte " << i;
    data[i] ^= 0x01;
  }
  EXPECT_FALSE(Poly1305Verify(key, data.data(), data.size() - 1, tag));
  tag[15] ^= 0x80;
  EXPECT_FALSE(Poly1305Verify(key, data.data(), data.size(), tag));
  tag[15] ^= 0x80;
  key[0] ^= 1;
  EXPECT_FALSE(Poly1305Verify(key, data.data(), data.size(), tag));
}

TEST(Poly1305, ImplementationIsNamed) {
  auto impl = Poly1305Implementation();
  EXPECT_TRUE(impl == "openssl" || impl == "libsodium") << impl;
}

}  // namespace
}  // namespace qstor::fs
