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

// ---- DecodeSigningPayload: what a signing app reads ----

std::string CreateCall(const Metadata& m, uint32_t node, size_t data_len) {
  return EncodeCall(m, "SmartContractModule", "create_node_contract",
                    {{"node_id", Value::U(node)}, {"deployment_hash", Value::Bytes(std::string(32, 'f'))},
                     {"deployment_data", Value::Bytes(std::string(data_len, 'x'))}, {"public_ips", Value::U(0)},
                     {"solution_provider_id", Value::None()}})
      .value();
}

TEST(SigningPayload, DecodesWhatSigningPayloadBuilt) {
  REQUIRE_REAL_METADATA(m);
  // A single call and a batch_all of several (over 256 bytes: hashed).
  auto batch = EncodeCall(*m, "Utility", "batch_all",
                          {{"calls", Value::Sequence({Value::Raw(CreateCall(*m, 11, 100)),
                                                      Value::Raw(CreateCall(*m, 12, 200)),
                                                      Value::Raw(Cancel(*m, 99))})}});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  struct Case {
    std::string call, pallet, name;
  };
  const std::vector<Case> calls{{Cancel(*m, 7), "SmartContractModule", "cancel_contract"},
                                {*batch, "Utility", "batch_all"}};
  const std::vector<Era> eras{Era::Immortal(), Era::Mortal(1000, 64), Era::Mortal(123456, 65536),
                              Era::Mortal(3, 4)};
  const std::vector<uint32_t> nonces{0, 63, 64, 16383, 16384, 1u << 30, 0xffffffffu};
  const std::vector<u128> tips{0, 1, u128(1) << 70, ~u128(0)};
  int checked = 0;
  for (const auto& call : calls) {
    for (const Era& era : eras) {
      for (uint32_t nonce : nonces) {
        for (u128 tip : tips) {
          ExtrinsicExtra x;
          x.era = era;
          x.nonce = nonce;
          x.tip = tip;
          ChainInfo c = Chain();
          if (era.immortal) c.era_block_hash = c.genesis;
          auto payload = SigningPayload(*m, call.call, x, c);
          ASSERT_TRUE(payload.ok()) << payload.status().ToString();
          auto d = DecodeSigningPayload(*m, *payload);
          ASSERT_TRUE(d.ok()) << d.status().ToString();
          EXPECT_EQ(d->pallet, call.pallet);
          EXPECT_EQ(d->call_name, call.name);
          EXPECT_EQ(d->call_bytes, call.call);
          EXPECT_EQ(d->extra.era, era);
          EXPECT_EQ(d->extra.nonce, nonce);
          EXPECT_TRUE(d->extra.tip == tip);
          EXPECT_EQ(d->chain.spec_version, 152u);
          EXPECT_EQ(d->chain.tx_version, 2u);
          EXPECT_EQ(d->chain.genesis, c.genesis);
          EXPECT_EQ(d->chain.era_block_hash, c.era_block_hash);
          // The inverse: the same bytes again.
          EXPECT_EQ(SigningPayload(*m, d->call_bytes, d->extra, d->chain).value(), *payload);
          checked++;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 4 * 7 * 4);
  // The decoded call is the value the metadata describes, arguments by name.
  auto d = DecodeSigningPayload(*m, SigningPayload(*m, Cancel(*m, 42), ExtrinsicExtra{}, Chain()).value());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->call.ToString().find("contract_id: 42") != std::string::npos, true) << d->call.ToString();
}

TEST(SigningPayload, RefusesWhatIsNotAPayloadAndSaysWhere) {
  REQUIRE_REAL_METADATA(m);
  ExtrinsicExtra x;
  x.era = Era::Mortal(1000, 64);
  x.nonce = 5;
  const std::string payload = SigningPayload(*m, Cancel(*m, 3), x, Chain()).value();
  ASSERT_EQ(payload.size(), 10u + 4 + 72);  // call, era 2 + nonce 1 + tip 1, additional
  // Every truncation is refused.
  for (size_t cut = 0; cut < payload.size(); ++cut)
    EXPECT_FALSE(DecodeSigningPayload(*m, payload.substr(0, cut)).ok()) << cut;
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    auto d = DecodeSigningPayload(*m, bytes);
    ASSERT_FALSE(d.ok()) << needle;
    EXPECT_EQ(d.status().code(), Status::Code::kCorruption) << d.status().ToString();
    EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status().message();
  };
  expect_error(payload + "z", "offset 86: signing payload: 1 trailing bytes");
  expect_error(payload.substr(0, payload.size() - 1), "CheckMortality (additional: the era's block hash)");
  expect_error(payload.substr(0, 14 + 8 + 31), "CheckGenesis (additional: the genesis hash)");
  std::string call = payload;
  call[1] = char(0x63);  // SmartContractModule call index 99
  expect_error(call, "signing payload: call");
  expect_error(call, "unknown variant index 99");
  std::string pallet = payload;
  pallet[0] = char(0xfe);
  expect_error(pallet, "signing payload: call");
  // A mortal era that cannot be (0x0010: period 2) is refused where it is.
  std::string bad_era = payload;
  bad_era[10] = 0x10;
  bad_era[11] = 0x00;
  expect_error(bad_era, "CheckMortality (extra, the era at offset 10)");
  // A nonce that does not fit u32 (compact big-integer mode, 5 bytes).
  ExtrinsicExtra imm;
  std::string cancel = Cancel(*m, 3);
  std::string tail = SigningPayload(*m, cancel, imm, Chain()).value().substr(cancel.size() + 3);
  std::string big_nonce = cancel + std::string("\x00", 1) + CompactBytes(u128(1) << 32) + std::string("\x00", 1) + tail;
  expect_error(big_nonce, "signing payload: CheckNonce (extra)");
  // An immortal era signs the genesis as its block hash; another hash is refused.
  std::string lie = cancel + std::string("\x00\x00\x00", 3);
  Encoder e;
  e.U32(152);
  e.U32(2);
  lie += e.bytes() + std::string(32, '\x11') + std::string(32, '\x22');
  expect_error(lie, "the era is immortal but its block hash 0x2222");
  // An unknown extension that adds bytes is refused by name (kNotImplemented).
  Metadata copy = *m;
  copy.extrinsic.signed_extensions.push_back({"CheckMetadataHash", 2, 2});
  auto unknown = DecodeSigningPayload(copy, payload);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Status::Code::kNotImplemented);
  EXPECT_NE(unknown.status().message().find("CheckMetadataHash"), std::string::npos);
}

}  // namespace
}  // namespace qstor::tfchain
