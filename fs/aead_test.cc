#include "fs/aead.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>
#include <vector>

namespace qstor::fs {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), p, n);
  s.pop_back();
  return s;
}

std::vector<uint8_t> Random(size_t n) {
  std::vector<uint8_t> v(n);
  if (n) randombytes_buf(v.data(), n);
  return v;
}

// Both engines must give libsodium's crypto_aead_xchacha20poly1305_ietf
// bytes exactly and open what libsodium sealed: shards already stored were
// sealed by libsodium, and a machine whose OpenSSL lacks ChaCha20-Poly1305
// uses libsodium to open what another machine sealed with OpenSSL.
TEST(XChaCha20Poly1305, SameBytesAsLibsodiumBothWays) {
  ASSERT_GE(sodium_init(), 0);
  XChaCha20Poly1305 fast, sodium(XChaCha20Poly1305::Engine::kLibsodium);
  EXPECT_EQ(sodium.Implementation(), "libsodium");
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 130; ++n) sizes.push_back(n);
  for (size_t n : {255u, 256u, 257u, 4096u, 65535u, 65536u + 17u, (1u << 20) + 16u}) {
    sizes.push_back(n);
  }
  int round = 0;
  for (size_t n : sizes) {
    const auto msg = Random(n), key = Random(kAeadKeySize), nonce = Random(kAeadNonceSize);
    const auto ad = Random(static_cast<size_t>(round++ % 3 == 0 ? 0 : 1 + n % 97));
    std::vector<uint8_t> want(n + 1), want_tag(kAeadTagSize);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(want.data(), want_tag.data(), nullptr,
                                                        msg.data(), n, ad.data(), ad.size(),
                                                        nullptr, nonce.data(), key.data());
    for (XChaCha20Poly1305* e : {&fast, &sodium}) {
      SCOPED_TRACE(std::string(e->Implementation()) + " size " + std::to_string(n));
      std::vector<uint8_t> ct(n + 1), tag(kAeadTagSize);
      e->Seal(ct.data(), tag.data(), msg.data(), n, ad.data(), ad.size(), nonce.data(), key.data());
      ASSERT_EQ(Hex(ct.data(), n), Hex(want.data(), n));
      ASSERT_EQ(Hex(tag.data(), 16), Hex(want_tag.data(), 16));
      // In place, as the codec seals its last, padded chunk.
      std::vector<uint8_t> inplace = msg;
      inplace.push_back(0);
      e->Seal(inplace.data(), tag.data(), inplace.data(), n, ad.data(), ad.size(), nonce.data(),
              key.data());
      ASSERT_EQ(Hex(inplace.data(), n), Hex(want.data(), n));
      ASSERT_EQ(Hex(tag.data(), 16), Hex(want_tag.data(), 16));
      // Opens libsodium's output, out of place and in place.
      std::vector<uint8_t> pt(n + 1, 0xee);
      ASSERT_TRUE(e->Open(pt.data(), want.data(), n, want_tag.data(), ad.data(), ad.size(),
                          nonce.data(), key.data()));
      ASSERT_EQ(Hex(pt.data(), n), Hex(msg.data(), n));
      ASSERT_TRUE(e->Open(inplace.data(), inplace.data(), n, want_tag.data(), ad.data(),
                          ad.size(), nonce.data(), key.data()));
      ASSERT_EQ(Hex(inplace.data(), n), Hex(msg.data(), n));
    }
  }
}

// draft-irtf-cfrg-xchacha-03 appendix A.3.1 (the RFC 8439 2.8.2 plaintext).
TEST(XChaCha20Poly1305, DraftXChaChaVector) {
  const std::string pt =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  uint8_t key[32], nonce[24];
  const uint8_t ad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(0x80 + i);
  for (int i = 0; i < 24; ++i) nonce[i] = static_cast<uint8_t>(0x40 + i);
  const std::string want_ct =
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda"
      "7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383"
      "565d3fff921f9664c97637da9768812f615c68b13b52e";
  const std::string want_tag = "c0875924c1c7987947deafd8780acf49";
  for (auto engine : {XChaCha20Poly1305::Engine::kAuto, XChaCha20Poly1305::Engine::kLibsodium}) {
    XChaCha20Poly1305 e(engine);
    std::vector<uint8_t> ct(pt.size());
    uint8_t tag[16];
    e.Seal(ct.data(), tag, reinterpret_cast<const uint8_t*>(pt.data()), pt.size(), ad, sizeof(ad),
           nonce, key);
    EXPECT_EQ(Hex(ct.data(), ct.size()), want_ct) << e.Implementation();
    EXPECT_EQ(Hex(tag, 16), want_tag) << e.Implementation();
  }
}

// Any change to ciphertext, tag, associated data, nonce or key fails to open,
// and the output buffer then holds zeros, never unauthenticated plaintext.
TEST(XChaCha20Poly1305, OpenRejectsAnyChangeAndWipesOutput) {
  ASSERT_GE(sodium_init(), 0);
  const size_t n = 5000;
  const auto msg = Random(n), ad = Random(40), key = Random(32), nonce = Random(24);
  for (auto engine : {XChaCha20Poly1305::Engine::kAuto, XChaCha20Poly1305::Engine::kLibsodium}) {
    XChaCha20Poly1305 e(engine);
    SCOPED_TRACE(std::string(e.Implementation()));
    std::vector<uint8_t> ct(n), tag(16);
    e.Seal(ct.data(), tag.data(), msg.data(), n, ad.data(), ad.size(), nonce.data(), key.data());
    auto expect_rejected = [&](const std::vector<uint8_t>& c, const std::vector<uint8_t>& t,
                               const std::vector<uint8_t>& a, const std::vector<uint8_t>& no,
                               const std::vector<uint8_t>& k, const char* what) {
      std::vector<uint8_t> out(n, 0xaa);
      EXPECT_FALSE(e.Open(out.data(), c.data(), n, t.data(), a.data(), a.size(), no.data(),
                          k.data()))
          << what;
      EXPECT_EQ(out, std::vector<uint8_t>(n, 0)) << what;
    };
    std::vector<uint8_t> out(n);
    ASSERT_TRUE(e.Open(out.data(), ct.data(), n, tag.data(), ad.data(), ad.size(), nonce.data(),
                       key.data()));
    ASSERT_EQ(out, msg);
    for (size_t i : {size_t{0}, n / 2, n - 1}) {
      auto c = ct;
      c[i] ^= 1;
      expect_rejected(c, tag, ad, nonce, key, "ciphertext");
    }
    auto t = tag;
    t[15] ^= 0x80;
    expect_rejected(ct, t, ad, nonce, key, "tag");
    auto a = ad;
    a[39] ^= 1;
    expect_rejected(ct, tag, a, nonce, key, "ad");
    expect_rejected(ct, tag, std::vector<uint8_t>(ad.begin(), ad.end() - 1), nonce, key,
                    "ad shorter");
    for (size_t i : {size_t{0}, size_t{15}, size_t{16}, size_t{23}}) {
      auto no = nonce;
      no[i] ^= 1;
      expect_rejected(ct, tag, ad, no, key, "nonce");
    }
    auto k = key;
    k[31] ^= 1;
    expect_rejected(ct, tag, ad, nonce, k, "key");
  }
}

}  // namespace
}  // namespace qstor::fs
