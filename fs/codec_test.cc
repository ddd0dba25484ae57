#include "fs/codec.h"

#include <gtest/gtest.h>
#include <sodium.h>

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
