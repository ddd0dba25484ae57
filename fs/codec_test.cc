#include "fs/codec.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <random>

namespace qstor::fs {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Compressible(size_t n) {
  std::string s;
  while (s.size() < n) s += "the quick brown fox jumps over the lazy dog " + std::to_string(s.size() % 97);
  s.resize(n);
  return s;
}

std::vector<std::string_view> Views(const EncodedSegment& e) {
  return std::vector<std::string_view>(e.shards.begin(), e.shards.end());
}

struct KM {
  int k, m;
};

class CodecRoundTrip : public ::testing::TestWithParam<KM> {};

TEST_P(CodecRoundTrip, AllShardsAndSizes) {
  auto [k, m] = GetParam();
  Codec codec;
  SecretKey key = SecretKey::Random();
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{1000}, size_t{65537},
                   size_t{1} << 20}) {
    for (bool compressible : {false, true}) {
      std::string plain = compressible ? Compressible(n) : RandomBytes(n, static_cast<uint32_t>(n));
      EncodedSegment enc;
      ASSERT_TRUE(codec.Encode(key, "seg-1", 7, k, m, plain, &enc).ok());
      ASSERT_EQ(enc.shards.size(), static_cast<size_t>(k + m));
      for (auto& s : enc.shards) ASSERT_EQ(s.size(), enc.info.shard_size());
      if (compressible && n >= 1000) {
        EXPECT_TRUE(enc.info.flags & SegmentInfo::kFlagZstd) << n;
        EXPECT_LT(enc.info.payload_size, n / 2);
      }
      if (!compressible) {
        EXPECT_FALSE(enc.info.flags & SegmentInfo::kFlagZstd) << n;
      }
      auto views = Views(enc);
      auto dec = codec.Decode(key, "seg-1", 7, enc.info, views);
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      EXPECT_EQ(*dec, plain);
    }
  }
}

// Every combination of up to m lost shards (small codes only).
class CodecLossPatterns : public ::testing::TestWithParam<KM> {};

TEST_P(CodecLossPatterns, EveryLossPattern) {
  auto [k, m] = GetParam();
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(5000, 42);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "s", 1, k, m, plain, &enc).ok());
  const int n = k + m;
  int tried = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    int lost = __builtin_popcount(mask);
    auto views = Views(enc);
    for (int i = 0; i < n; ++i) {
      if (mask & (1u << i)) views[i] = {};
    }
    auto dec = codec.Decode(key, "s", 1, enc.info, views);
    if (lost <= m) {
      ASSERT_TRUE(dec.ok()) << "mask " << mask << ": " << dec.status().ToString();
      ASSERT_EQ(*dec, plain);
      ++tried;
    } else {
      ASSERT_FALSE(dec.ok()) << "mask " << mask;
      EXPECT_EQ(dec.status().code(), Status::Code::kCorruption);
    }
  }
  EXPECT_GT(tried, 0);
}

// Large codes: m random losses, m corrupt shards.
TEST_P(CodecRoundTrip, RandomLossAndCorruption) {
  auto [k, m] = GetParam();
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(300000, 9);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "big", 3, k, m, plain, &enc).ok());
  std::mt19937 rng(k * 100 + m);
  for (int round = 0; round < 20; ++round) {
    std::vector<int> idx(k + m);
    for (int i = 0; i < k + m; ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    auto shards = enc.shards;  // copy, we corrupt some
    std::vector<std::string_view> views(shards.begin(), shards.end());
    int nlost = m / 2, ncorrupt = m - nlost;
    for (int j = 0; j < nlost; ++j) views[idx[j]] = {};
    std::vector<int> corrupted;
    for (int j = nlost; j < nlost + ncorrupt; ++j) {
      shards[idx[j]][rng() % shards[idx[j]].size()] ^= 0x5a;
      corrupted.push_back(idx[j]);
    }
    std::vector<int> bad;
    auto dec = codec.Decode(key, "big", 3, enc.info, views, &bad);
    ASSERT_TRUE(dec.ok()) << dec.status().ToString();
    ASSERT_EQ(*dec, plain);
    // Every shard reported bad really was corrupted.
    for (int b : bad) {
      EXPECT_NE(std::find(corrupted.begin(), corrupted.end(), b), corrupted.end()) << b;
    }
    // Corrupted shards are detected individually.
    for (int c : corrupted) {
      EXPECT_FALSE(codec.VerifyShard(key, "big", 3, enc.info, c, shards[c])) << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codes, CodecRoundTrip,
                         ::testing::Values(KM{1, 0}, KM{2, 1}, KM{4, 2}, KM{10, 4}, KM{16, 4},
                                           KM{3, 3}),
                         [](const auto& p) {
                           return std::to_string(p.param.k) + "_" + std::to_string(p.param.m);
                         });

// Exhaustive (2^(k+m) patterns) only for the small codes.
INSTANTIATE_TEST_SUITE_P(SmallCodes, CodecLossPatterns,
                         ::testing::Values(KM{1, 0}, KM{2, 1}, KM{4, 2}, KM{3, 3}),
                         [](const auto& p) {
                           return std::to_string(p.param.k) + "_" + std::to_string(p.param.m);
                         });

// The incompressibility probe samples windows spread over the segment, so
// a segment that is compressible except for its head (say a 64 KiB random
// header followed by text) is still compressed; random data never is.
TEST(Codec, ProbeSeesPastTheHead) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(64 * 1024, 9) + Compressible(1 << 20);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "p", 1, 4, 2, plain, &enc).ok());
  EXPECT_TRUE(enc.info.flags & SegmentInfo::kFlagZstd);
  EXPECT_LT(enc.info.payload_size, plain.size() / 4);
  auto dec = codec.Decode(key, "p", 1, enc.info, Views(enc));
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, plain);

  std::string random = RandomBytes(3 << 20, 10);
  ASSERT_TRUE(codec.Encode(key, "p", 2, 4, 2, random, &enc).ok());
  EXPECT_FALSE(enc.info.flags & SegmentInfo::kFlagZstd);
  EXPECT_EQ(enc.info.payload_size, random.size());
}

// High-entropy bytes skip zstd without running it, but bytes from a small
// alphabet (6 bits of entropy per byte: zstd's Huffman stage saves ~25%) are
// still compressed.
TEST(Codec, SmallAlphabetIsCompressed) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(1 << 20, 13);
  for (auto& c : plain) c = static_cast<char>('0' + (static_cast<uint8_t>(c) & 63));
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "a", 1, 4, 2, plain, &enc).ok());
  EXPECT_TRUE(enc.info.flags & SegmentInfo::kFlagZstd);
  EXPECT_LT(enc.info.payload_size, plain.size() * 85 / 100);
  auto dec = codec.Decode(key, "a", 1, enc.info, Views(enc));
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, plain);
}

// Encode into an EncodedSegment that held a bigger segment with another k+m
// (as the object store's pooled outputs do): no stale bytes or sizes leak
// into the result.
TEST(Codec, ReusedOutputIsFullyRewritten) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "big", 1, 10, 4, RandomBytes(1 << 20, 11), &enc).ok());
  for (auto& shard : enc.shards) std::fill(shard.begin(), shard.end(), '\xff');
  std::string small = RandomBytes(5000, 12);
  ASSERT_TRUE(codec.Encode(key, "small", 1, 4, 2, small, &enc).ok());
  ASSERT_EQ(enc.shards.size(), 6u);
  ASSERT_EQ(enc.info.checks.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(enc.shards[i].size(), enc.info.shard_size());
    EXPECT_TRUE(codec.VerifyShard(key, "small", 1, enc.info, i, enc.shards[i])) << i;
  }
  auto views = Views(enc);
  views[0] = {};
  views[1] = {};
  auto dec = codec.Decode(key, "small", 1, enc.info, views);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, small);
}

TEST(Codec, TooManyCorruptIsErrorNotGarbage) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(10000, 1);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "x", 1, 4, 2, plain, &enc).ok());
  auto shards = enc.shards;
  for (int i : {0, 2, 5}) shards[i][10] ^= 1;
  std::vector<std::string_view> views(shards.begin(), shards.end());
  std::vector<int> bad;
  auto dec = codec.Decode(key, "x", 1, enc.info, views, &bad);
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.status().code(), Status::Code::kCorruption);
  EXPECT_NE(dec.status().message().find("only 3 of the 4"), std::string::npos)
      << dec.status().message();
}

TEST(Codec, WrongKeyFails) {
  Codec codec;
  SecretKey key = SecretKey::Random(), other = SecretKey::Random();
  std::string plain = Compressible(50000);
  for (auto [k, m] : {KM{1, 0}, KM{4, 2}}) {
    EncodedSegment enc;
    ASSERT_TRUE(codec.Encode(key, "x", 1, k, m, plain, &enc).ok());
    auto dec = codec.Decode(other, "x", 1, enc.info, Views(enc));
    ASSERT_FALSE(dec.ok());
    EXPECT_EQ(dec.status().code(), Status::Code::kCorruption);
    for (int i = 0; i < k + m; ++i) {
      EXPECT_FALSE(codec.VerifyShard(other, "x", 1, enc.info, i, enc.shards[i]));
      EXPECT_TRUE(codec.VerifyShard(key, "x", 1, enc.info, i, enc.shards[i]));
    }
  }
}

TEST(Codec, TamperedAssociatedDataFails) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = RandomBytes(40000, 3);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "seg-a", 5, 4, 2, plain, &enc).ok());
  auto views = Views(enc);
  ASSERT_TRUE(codec.Decode(key, "seg-a", 5, enc.info, views).ok());
  // Another segment id or an old/new version (replay) is refused.
  EXPECT_FALSE(codec.Decode(key, "seg-b", 5, enc.info, views).ok());
  EXPECT_FALSE(codec.Decode(key, "seg-a", 4, enc.info, views).ok());
  EXPECT_FALSE(codec.Decode(key, "seg-a", 6, enc.info, views).ok());
  // Tampered metadata fields.
  {
    SegmentInfo t = enc.info;
    t.plain_size -= 1;
    t.payload_size -= 1;
    EXPECT_FALSE(codec.Decode(key, "seg-a", 5, t, views).ok());
  }
  {
    SegmentInfo t = enc.info;
    t.nonce[0] ^= 1;
    EXPECT_FALSE(codec.Decode(key, "seg-a", 5, t, views).ok());
  }
  {
    SegmentInfo t = enc.info;
    t.flags = SegmentInfo::kFlagZstd;
    EXPECT_FALSE(codec.Decode(key, "seg-a", 5, t, views).ok());
  }
  {  // claims k=5,m=1 with the same shards
    SegmentInfo t = enc.info;
    t.k = 5;
    t.m = 1;
    EXPECT_FALSE(codec.Decode(key, "seg-a", 5, t, views).ok());
  }
  // Swapping two shards: both detected, segment still decodes from the rest.
  {
    auto swapped = views;
    std::swap(swapped[0], swapped[1]);
    std::vector<int> bad;
    auto dec = codec.Decode(key, "seg-a", 5, enc.info, swapped, &bad);
    ASSERT_TRUE(dec.ok()) << dec.status().ToString();
    EXPECT_EQ(*dec, plain);
    EXPECT_EQ(bad, (std::vector<int>{0, 1}));
  }
  // A shard of another segment is not accepted in place of this one's.
  {
    EncodedSegment other;
    ASSERT_TRUE(codec.Encode(key, "seg-b", 5, 4, 2, plain, &other).ok());
    auto mixed = views;
    mixed[2] = other.shards[2];
    mixed[4] = other.shards[4];
    std::vector<int> bad;
    auto dec = codec.Decode(key, "seg-a", 5, enc.info, mixed, &bad);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(*dec, plain);
    EXPECT_EQ(bad, (std::vector<int>{2, 4}));
  }
}

TEST(Codec, NoncesAreUnique) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  EncodedSegment a, b;
  ASSERT_TRUE(codec.Encode(key, "s", 1, 2, 1, "same bytes", &a).ok());
  ASSERT_TRUE(codec.Encode(key, "s", 1, 2, 1, "same bytes", &b).ok());
  EXPECT_NE(a.info.nonce, b.info.nonce);
  EXPECT_NE(a.shards[0], b.shards[0]);
}

TEST(Codec, RebuildIsByteIdentical) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  std::string plain = Compressible(200000);
  EncodedSegment enc;
  ASSERT_TRUE(codec.Encode(key, "r", 2, 10, 4, plain, &enc).ok());
  auto views = Views(enc);
  std::vector<int> lost = {0, 3, 11, 13};
  for (int i : lost) views[i] = {};
  auto rebuilt = codec.Rebuild(key, "r", 2, enc.info, views, lost);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  for (size_t j = 0; j < lost.size(); ++j) EXPECT_EQ((*rebuilt)[j], enc.shards[lost[j]]);
}

TEST(Codec, BadArgumentsAreErrors) {
  Codec codec;
  SecretKey key = SecretKey::Random();
  EncodedSegment enc;
  EXPECT_EQ(codec.Encode(key, "", 1, 2, 1, "x", &enc).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(codec.Encode(key, "s", 1, 0, 1, "x", &enc).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(codec.Encode(key, "s", 1, 200, 56, "x", &enc).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(codec.Encode(key, "s", 1, 2, 1, std::string(kMaxSegmentSize + 1, 'a'), &enc).code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(codec.Encode(key, "s", 1, 2, 1, "hello", &enc).ok());
  std::vector<std::string_view> two(enc.shards.begin(), enc.shards.begin() + 2);
  EXPECT_FALSE(codec.Decode(key, "s", 1, enc.info, two).ok());
  SegmentInfo t = enc.info;
  t.chunk_size = 7;
  EXPECT_FALSE(codec.Decode(key, "s", 1, t, Views(enc)).ok());
  // Truncated shard is treated as corrupt, not read out of bounds.
  auto views = Views(enc);
  views[0] = views[0].substr(0, 5);
  auto dec = codec.Decode(key, "s", 1, enc.info, views);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, "hello");
}

// Golden vectors: segments encoded by the codec as of 2026-11-30 (format
// "qstor.seg.v1", parity MACs = Poly1305 under the BLAKE2b-derived key),
// key 00 01 .. 1f, segment id "golden/seg", version 3, k+m = 3+2. Segments
// already on backends must keep decoding, verifying and rebuilding
// byte-identically whatever the codec's implementation becomes.
struct GoldenSegment {
  int k, m, flags;
  uint64_t plain_size, payload_size;
  uint32_t chunk_size;
  const char* nonce;
  std::vector<const char*> checks;
  std::vector<const char*> shards;
};

// 200 bytes ((i * 37 + 11) & 0xff), too small for zstd, chunks of 80 bytes.
const GoldenSegment kGoldenRaw = {
    3, 2, 0, 200, 200, 80,
    "5b6283f754a13551b533bbb9bad24f3eadc4b8aa0ca93600",
    {"ecad5926cc4a31c9655364d4fa0458f9",
     "eb8f21da0bd9fc902950bf96a96e0cfd",
     "5e73a14c73013d02df6d27b29f435e5d",
     "4ea884f728df1c74a789a7581e3c5d84",
     "db424f356b5da8254023e75d1aeca824"},
    {"a66cf0973cf510fe4cdb5813f03abdf63b927c50274d18c03f9a4af1ec9f956f092d806eb6469c35"
     "94d3897b8df307291782d6f74d9b8ab3e1dff091d66e909d9fe7a51fae84cc34b2b301c5f1ae92a5"
     "ecad5926cc4a31c9655364d4fa0458f9",
     "85d0f11b2298a5a9643749535d5abc059ef0e7f3d79da380e8c177ae1f648059d0e596c3c43a850e"
     "a9b4f78b7fcbae547a8bbfb5aaf7658d6d9e27f384bfb7694be08d14030ea53a4b4c253a0447ec7c"
     "eb8f21da0bd9fc902950bf96a96e0cfd",
     "b8c2cc3a118edeabeb4180668920aa8e5b273823474fd2bafda0e97e30609fe205bc1c5fe01fb9b9"
     "a845e3c602bb493428d2a4e4c5151d686044c89ff97bb49af040d57c8dae4fa3f1e1cefebe64c3e7"
     "5e73a14c73013d02df6d27b29f435e5d",
     "168e6a3f1491f9d0169de93b791b9f50f6da1ae4bfb405ba9c38918d1e27ac656a5bdc611bcb01ad"
     "f5a59a24c801e8f21867cc96ab622c3a87b505ec027b11a02e6d7e8893d5d759345da6a0185830ba"
     "0a2a08c8bc2ea70d667421b513839bfa",
     "eba689e08ccd002efcc799383a692e8fd91a20a56bb8f58955f4d1ea92b3af1ba31eff3e151911a0"
     "34bd522ada212a068b55ff59d9f1cd2bd49fe013c18ec246d1891b2be243754ae701c951e8a06170"
     "e27be505fb79fc5aaea5182cd22b0f79"}};

// 3000 bytes of GoldenText(), zstd'd to 102 bytes; the last chunk is zero-padded.
const GoldenSegment kGoldenZstd = {
    3, 2, 1, 3000, 102, 48,
    "3975952d38b6ecebe262e1fcaaba542faf1ce47560d96400",
    {"9922e4dd5dac612984046f9cc2a3ecd1",
     "6fb46ab4d00182f43c535dc761bfdcab",
     "d6ef06cb5f3d59780a3b01c16bd61b88",
     "0befe744f527b94078012f6cafa646ac",
     "88f7671072302b07250e1ca35e920a52"},
    {"262d15d9c62e2425fd62dbe7151425669c6000ed48dfc05290867e862fa4e615ed2956e4f6f9983e"
     "f297eaf431be69189922e4dd5dac612984046f9cc2a3ecd1",
     "9e32163740d51f44b91a84daea533c7ce88ed976c010066a89ca1d34a488c9cc8c57ff42082b7165"
     "0d877eb62bc638b06fb46ab4d00182f43c535dc761bfdcab",
     "efd8ba3c5b1da5ed85bd83e69bee54f97cea93e4ef8d22f65d1831a8391bb29631fa9ddb4e521222"
     "207bbf2e2b9f260ed6ef06cb5f3d59780a3b01c16bd61b88",
     "49da491539e33827f76588d61645a2e57c8d7184b73b6106e7f49b3b85c8f1082cb35ea6189e277f"
     "0d302dd254961d5e18ab6fdaf7d7ccee686b84586066da1c",
     "afc0d5d26c6617f9488d654193ccaf8c051d29ee8eefca5acb621135c18bbd478024e872ff69cf64"
     "195d1647352b0d725bf5d10dadfce0cf2e94e8e49bb22fca"}};

std::string FromHex(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                           hex.size(), nullptr, &len, nullptr),
            0);
  EXPECT_EQ(len, out.size());
  return out;
}

std::string GoldenRawPlain() {
  std::string s;
  for (int i = 0; i < 200; ++i) s.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  return s;
}

std::string GoldenText() {
  std::string s;
  while (s.size() < 3000) s += "qstor golden vector line " + std::to_string(s.size() % 13) + "\n";
  s.resize(3000);
  return s;
}

void CheckGolden(const GoldenSegment& g, const std::string& plain) {
  SCOPED_TRACE(g.flags ? "zstd vector" : "raw vector");
  auto key = SecretKey::FromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  ASSERT_TRUE(key.ok());
  SegmentInfo info;
  info.k = static_cast<uint8_t>(g.k);
  info.m = static_cast<uint8_t>(g.m);
  info.flags = static_cast<uint8_t>(g.flags);
  info.plain_size = g.plain_size;
  info.payload_size = g.payload_size;
  info.chunk_size = g.chunk_size;
  std::string nonce = FromHex(g.nonce);
  ASSERT_EQ(nonce.size(), kNonceSize);
  std::memcpy(info.nonce.data(), nonce.data(), kNonceSize);
  for (const char* c : g.checks) {
    std::string b = FromHex(c);
    ASSERT_EQ(b.size(), kCheckSize);
    auto& check = info.checks.emplace_back();
    std::memcpy(check.data(), b.data(), kCheckSize);
  }
  std::vector<std::string> shards;
  for (const char* s : g.shards) {
    shards.push_back(FromHex(s));
  }
  const std::string id = "golden/seg";
  Codec codec;
  std::vector<std::string_view> views(shards.begin(), shards.end());
  auto dec = codec.Decode(*key, id, 3, info, views);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, plain);
  for (int i = 0; i < g.k + g.m; ++i) {
    EXPECT_TRUE(codec.VerifyShard(*key, id, 3, info, i, shards[i])) << i;
    std::string t = shards[i];
    t[t.size() / 2] ^= 0x20;
    EXPECT_FALSE(codec.VerifyShard(*key, id, 3, info, i, t)) << i;
  }
  // Two data shards lost: decoded through both parity shards (MAC-verified).
  auto lossy = views;
  lossy[0] = {};
  lossy[2] = {};
  std::vector<int> bad;
  dec = codec.Decode(*key, id, 3, info, lossy, &bad);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, plain);
  EXPECT_TRUE(bad.empty());
  // A tampered parity shard is discarded, not used.
  std::string tampered = shards[3];
  tampered[0] ^= 1;
  lossy[3] = tampered;
  dec = codec.Decode(*key, id, 3, info, lossy, &bad);
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(bad, (std::vector<int>{3}));
  // Rebuild reproduces the stored shards byte for byte.
  std::vector<std::string_view> three = {{}, views[1], views[2], {}, views[4]};
  std::vector<int> wanted = {0, 3};
  auto rebuilt = codec.Rebuild(*key, id, 3, info, three, wanted);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ((*rebuilt)[0], shards[0]);
  EXPECT_EQ((*rebuilt)[1], shards[3]);
}

TEST(Codec, GoldenVectorsOfTheV1FormatDecode) {
  CheckGolden(kGoldenRaw, GoldenRawPlain());
  CheckGolden(kGoldenZstd, GoldenText());
}

TEST(Keys, HexAndBytes) {
  EXPECT_FALSE(SecretKey::FromHex("abcd").ok());
  EXPECT_FALSE(SecretKey::FromHex(std::string(64, 'z')).ok());
  auto k = SecretKey::FromHex(std::string(64, 'a'));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->data()[0], 0xaa);
  EXPECT_FALSE(SecretKey::FromBytes("short").ok());
  EXPECT_TRUE(SecretKey::FromBytes(std::string(32, 'x')).ok());
}

}  // namespace
}  // namespace qstor::fs
