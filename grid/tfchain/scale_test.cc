#include "grid/tfchain/scale.h"

#include <gtest/gtest.h>

namespace qstor::tfchain {
namespace {

std::string H(std::string_view hex) { return *FromHex(hex); }

TEST(Scale, FixedIntegersLittleEndian) {
  Encoder e;
  e.U8(0x01);
  e.U16(0x0203);
  e.U32(0x04050607);
  e.U64(0x08090a0b0c0d0e0fULL);
  e.U128((u128(0x1011121314151617ULL) << 64) | 0x18191a1b1c1d1e1fULL);
  e.Bool(true);
  EXPECT_EQ(ToHex(e.bytes()),
            "01" "0302" "07060504" "0f0e0d0c0b0a0908" "1f1e1d1c1b1a19181716151413121110" "01");
  Decoder d(e.bytes());
  uint8_t a; uint16_t b; uint32_t c; uint64_t x; u128 y; bool z;
  ASSERT_TRUE(d.U8(&a, "a").ok());
  ASSERT_TRUE(d.U16(&b, "b").ok());
  ASSERT_TRUE(d.U32(&c, "c").ok());
  ASSERT_TRUE(d.U64(&x, "x").ok());
  ASSERT_TRUE(d.U128(&y, "y").ok());
  ASSERT_TRUE(d.Bool(&z, "z").ok());
  EXPECT_EQ(b, 0x0203);
  EXPECT_EQ(c, 0x04050607u);
  EXPECT_EQ(x, 0x08090a0b0c0d0e0fULL);
  EXPECT_EQ(U128ToString(y), U128ToString((u128(0x1011121314151617ULL) << 64) | 0x18191a1b1c1d1e1fULL));
  EXPECT_TRUE(z);
  EXPECT_TRUE(d.done());
}

// Vectors from parity-scale-codec's compact tests.
TEST(Scale, CompactAllModes) {
  struct Case { u128 v; const char* hex; };
  const Case cases[] = {
      {0, "00"}, {1, "04"}, {42, "a8"}, {63, "fc"}, {64, "0101"}, {69, "1501"},
      {16383, "fdff"}, {16384, "02000100"}, {1073741823, "feffffff"},
      {1073741824, "0300000040"}, {(u128(1) << 32) - 1, "03ffffffff"},
      {u128(1) << 32, "070000000001"}, {u128(1) << 48, "0f00000000000001"},
      {(u128(1) << 56) - 1, "0fffffffffffffff"}, {~uint64_t(0), "13ffffffffffffffff"},
      {10'000'000, "025a6202"},
      {~u128(0), "33ffffffffffffffffffffffffffffffff"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ToHex(CompactBytes(c.v)), c.hex) << U128ToString(c.v);
    const std::string d_in = H(c.hex);
  Decoder d(d_in);
    u128 got;
    ASSERT_TRUE(d.Compact(&got, "x").ok()) << c.hex;
    EXPECT_EQ(U128ToString(got), U128ToString(c.v));
    EXPECT_TRUE(d.done());
  }
}

TEST(Scale, CompactRefusesNonCanonicalAndOversized) {
  for (const char* hex : {"0100", "02000000", "0300000000", "03ffffff3f", "07000000ff00",
                          "37" "00000000000000000000000000000000" "01"}) {
    const std::string d_in = H(hex);
  Decoder d(d_in);
    u128 v;
    Status s = d.Compact(&v, "n");
    EXPECT_FALSE(s.ok()) << hex;
    EXPECT_NE(s.message().find("offset 0"), std::string::npos) << s.message();
  }
  uint32_t small;
  const std::string d_in = H("070000000001");
  Decoder d(d_in);
  Status s = d.CompactU32(&small, "nonce");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not fit u32"), std::string::npos) << s.message();
}

TEST(Scale, TruncatedReadsNameOffsetAndWhat) {
  const std::string d_in = H("0102");
  Decoder d(d_in);
  uint8_t a;
  ASSERT_TRUE(d.U8(&a, "first").ok());
  uint32_t b;
  Status s = d.U32(&b, "node_id");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("offset 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("node_id"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("1 bytes left"), std::string::npos) << s.message();
}

TEST(Scale, HostileLengthsAreRefusedBeforeAllocating) {
  // 2^30 - 1 elements announced (four-byte mode), 4 bytes of input.
  const std::string d_in = H("feffffff") + "abcd";
  Decoder d(d_in);
  uint64_t n;
  Status s = d.ReadLength(&n, 1, "calls");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("length 1073741823 of calls exceeds the 4 bytes left"), std::string::npos)
      << s.message();
  // 2^30 (big-integer mode) with 4 bytes.
  const std::string d2_in = H("0300000040") + "abcd";
  Decoder d2(d2_in);
  EXPECT_FALSE(d2.ReadLength(&n, 1, "x").ok());
  std::string bytes;
  const std::string d3_in = H("0300000040") + "abcd";
  Decoder d3(d3_in);
  EXPECT_FALSE(d3.Bytes(&bytes, "deployment_data").ok());
  // An element size makes the bound tighter: 2 elements of 4 bytes in 4 bytes.
  const std::string d4_in = H("08") + "abcd";
  Decoder d4(d4_in);
  EXPECT_FALSE(d4.ReadLength(&n, 4, "u32s").ok());
  const std::string d5_in = H("04") + "abcd";
  Decoder d5(d5_in);
  ASSERT_TRUE(d5.ReadLength(&n, 4, "u32s").ok());
  EXPECT_EQ(n, 1u);
}

TEST(Scale, BytesStringsOptionsAndBool) {
  Encoder e;
  e.Bytes("relay.grid.tf");
  e.OptionTag(false);
  e.OptionTag(true);
  e.U8(7);
  EXPECT_EQ(ToHex(e.bytes()), "3472656c61792e677269642e7466" "00" "01" "07");
  Decoder d(e.bytes());
  std::string s;
  bool some;
  ASSERT_TRUE(d.Str(&s, "relay").ok());
  EXPECT_EQ(s, "relay.grid.tf");
  ASSERT_TRUE(d.OptionTag(&some, "pk").ok());
  EXPECT_FALSE(some);
  ASSERT_TRUE(d.OptionTag(&some, "x").ok());
  EXPECT_TRUE(some);

  const std::string bad_opt_in = H("02");
  Decoder bad_opt(bad_opt_in);
  EXPECT_FALSE(bad_opt.OptionTag(&some, "pk").ok());
  const std::string bad_bool_in = H("02");
  Decoder bad_bool(bad_bool_in);
  bool b;
  EXPECT_FALSE(bad_bool.Bool(&b, "flag").ok());
  const std::string bad_utf8_in = H("08c328ffff");
  Decoder bad_utf8(bad_utf8_in);
  EXPECT_FALSE(bad_utf8.Str(&s, "name").ok());
}

TEST(Scale, Hex) {
  EXPECT_EQ(ToHex(*FromHex("0xDEADbeef")), "deadbeef");
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
  EXPECT_EQ(U128ToString(~u128(0)), "340282366920938463463374607431768211455");
  EXPECT_EQ(I128ToString(-i128(5)), "-5");
}

TEST(Scale, Utf8) {
  EXPECT_TRUE(IsValidUtf8("héllo ✓ 𝄞"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x9c"));          // cut short
}

}  // namespace
}  // namespace qstor::tfchain
