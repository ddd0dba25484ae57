#include "grid/tfchain/extrinsic.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "grid/crypto.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/test_util.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {
namespace {

grid::Ed25519Key Key(uint8_t fill) {
  std::array<uint8_t, 32> seed;
  seed.fill(fill);
  return grid::Ed25519Key::FromSeed(seed);
}

ChainInfo Chain() {
  ChainInfo c;
  c.spec_version = 152;
  c.tx_version = 2;
  c.genesis.fill(0x11);
  c.era_block_hash.fill(0x22);
  return c;
}

std::string Cancel(const Metadata& m, uint64_t id) {
  return EncodeCall(m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(id)}}).value();
}

TEST(Era, EncodeDecodeAcrossPeriods) {
  for (uint64_t period : {4, 8, 64, 256, 4096, 8192, 65536}) {
    for (uint64_t current : {0, 1, 1000, 123456, 9999999}) {
      Era e = Era::Mortal(current, period);
      const std::string enc = e.Encode();
      Decoder d(enc);
      Era back;
      ASSERT_TRUE(Era::Decode(d, &back).ok());
      EXPECT_EQ(back, e) << period << " " << current;
      EXPECT_LE(e.Birth(current), current);
      EXPECT_GT(e.Birth(current) + e.period, current);
    }
  }
  EXPECT_EQ(Era::Mortal(5, 1).period, 4u);          // clamped up
  EXPECT_EQ(Era::Mortal(5, 100).period, 128u);      // next power of two
  EXPECT_EQ(Era::Mortal(5, 1u << 20).period, 65536u);
  // 0x0100: period 4, phase 16 > period: invalid.
  const std::string bad_bytes("\x01\x01", 2), cut_bytes("\x85", 1);
  Decoder bad(bad_bytes);
  Era e;
  EXPECT_FALSE(Era::Decode(bad, &e).ok());
  Decoder cut(cut_bytes);
  EXPECT_FALSE(Era::Decode(cut, &e).ok());
}

TEST(Extrinsic, MortalEraNonceTipSignAndVerify) {
  REQUIRE_REAL_METADATA(m);
  auto key = Key(0x09);
  ChainInfo c = Chain();
  ExtrinsicExtra x;
  x.era = Era::Mortal(1000, 64);
  x.nonce = 300;
  x.tip = u128(1) << 70;
  auto xt = BuildSignedExtrinsic(*m, key.public_key(), [&](std::string_view s) { return key.Sign(s); },
                                 Cancel(*m, 7), x, c);
  ASSERT_TRUE(xt.ok()) << xt.status().ToString();
  auto d = DecodeExtrinsic(*m, *xt);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->extra.era, x.era);
  EXPECT_EQ(d->extra.nonce, 300u);
  EXPECT_EQ(d->extra.tip, x.tip);
  EXPECT_EQ(d->call, Cancel(*m, 7));
  EXPECT_TRUE(VerifyExtrinsic(*m, *d, c).ok());

  // The era's block hash is signed: another hash fails.
  ChainInfo other_block = c;
  other_block.era_block_hash.fill(0x33);
  EXPECT_EQ(VerifyExtrinsic(*m, *d, other_block).code(), Status::Code::kUnauthenticated);
  // Wrong genesis, spec or tx version fail.
  ChainInfo g = c;
  g.genesis.fill(0x12);
  Status gs = VerifyExtrinsic(*m, *d, g);
  EXPECT_EQ(gs.code(), Status::Code::kUnauthenticated);
  EXPECT_NE(gs.message().find("bad signature"), std::string::npos);
  ChainInfo s = c;
  s.spec_version = 153;
  EXPECT_FALSE(VerifyExtrinsic(*m, *d, s).ok());
  // A flipped signature bit fails; a flipped call byte fails.
  auto tampered = *d;
  tampered.signature[5] ^= 1;
  EXPECT_FALSE(VerifyExtrinsic(*m, tampered, c).ok());
  auto other_call = *d;
  other_call.call = Cancel(*m, 8);
  EXPECT_FALSE(VerifyExtrinsic(*m, other_call, c).ok());
  // Hash: blake2b-256 of the length-prefixed bytes.
  Hash256 h = ExtrinsicHash(*xt);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.data()), 32), Blake2_256(*xt));
}

TEST(Extrinsic, PayloadOver256BytesIsSignedHashed) {
  REQUIRE_REAL_METADATA(m);
  auto key = Key(0x0a);
  ChainInfo c = Chain();
  ExtrinsicExtra x;
  auto call = EncodeCall(*m, "SmartContractModule", "create_node_contract",
                         {{"node_id", Value::U(1)}, {"deployment_hash", Value::Bytes(std::string(32, 'f'))},
                          {"deployment_data", Value::Bytes(std::string(300, 'x'))}, {"public_ips", Value::U(0)},
                          {"solution_provider_id", Value::None()}});
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  auto payload = SigningPayload(*m, *call, x, c);
  ASSERT_TRUE(payload.ok());
  ASSERT_GT(payload->size(), 256u);
  EXPECT_EQ(PayloadToSign(*payload), Blake2_256(*payload));
  std::string signed_message;
  auto xt = BuildSignedExtrinsic(*m, key.public_key(),
                                 [&](std::string_view s) {
                                   signed_message = std::string(s);
                                   return key.Sign(s);
                                 },
                                 *call, x, c);
  ASSERT_TRUE(xt.ok());
  EXPECT_EQ(signed_message.size(), 32u);
  auto d = DecodeExtrinsic(*m, *xt);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(VerifyExtrinsic(*m, *d, c).ok());
  // Exactly 256 bytes are signed as they are.
  EXPECT_EQ(PayloadToSign(std::string(256, 'a')), std::string(256, 'a'));
}

TEST(Extrinsic, UnknownNonEmptyExtensionIsRefusedByName) {
  REQUIRE_REAL_METADATA(m);
  Metadata copy = *m;
  TypeId u8 = 2;  // u8 in the spec-152 registry
  ASSERT_EQ(copy.registry.Describe(u8), "u8");
  copy.extrinsic.signed_extensions.push_back({"CheckMetadataHash", u8, u8});
  ExtrinsicExtra x;
  auto p = SigningPayload(copy, Cancel(*m, 1), x, Chain());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("signed extension CheckMetadataHash is unknown"), std::string::npos)
      << p.status().message();
  // A zero-size unknown one (like ContractIdProvides) adds nothing.
  Metadata zero = *m;
  TypeId unit = zero.extrinsic.signed_extensions.back().additional_signed;  // ()
  zero.extrinsic.signed_extensions.push_back({"SomethingNew", unit, unit});
  EXPECT_EQ(SigningPayload(zero, Cancel(*m, 1), x, Chain()).value(),
            SigningPayload(*m, Cancel(*m, 1), x, Chain()).value());
}

TEST(Extrinsic, DecoderRefusesBadInput) {
  REQUIRE_REAL_METADATA(m);
  auto key = Key(0x07);
  auto xt = BuildSignedExtrinsic(*m, key.public_key(), [&](std::string_view s) { return key.Sign(s); },
                                 Cancel(*m, 3), ExtrinsicExtra{}, Chain())
                .value();
  // Every truncation fails cleanly.
  for (size_t cut = 0; cut < xt.size(); ++cut) EXPECT_FALSE(DecodeExtrinsic(*m, xt.substr(0, cut)).ok()) << cut;
  auto expect_error = [&](std::string bytes, const char* needle) {
    auto d = DecodeExtrinsic(*m, bytes);
    ASSERT_FALSE(d.ok()) << needle;
    EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status().message();
  };
  std::string v5 = xt;
  v5[2] = char(0x85);
  expect_error(v5, "version 5");
  std::string addr = xt;
  addr[3] = 0x01;
  expect_error(addr, "address kind 1");
  std::string sigtype = xt;
  sigtype[36] = 0x07;
  expect_error(sigtype, "unknown signature type 7");
  std::string call = xt;
  call[call.size() - 9] = char(0x63);  // call index 99 of SmartContractModule
  expect_error(call, "unknown variant index 99");
  expect_error(xt + "z", "length prefix");
  // The unsigned form decodes with is_signed false.
  std::string body = std::string("\x04", 1) + Cancel(*m, 3);
  auto u = DecodeExtrinsic(*m, CompactBytes(body.size()) + body);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_FALSE(u->is_signed);
  EXPECT_EQ(VerifyExtrinsic(*m, *u, Chain()).code(), Status::Code::kUnauthenticated);
}

}  // namespace
}  // namespace qstor::tfchain
