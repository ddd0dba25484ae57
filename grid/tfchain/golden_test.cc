// GRID-V3 §7.1 golden vectors (computed with @polkadot/types 15.10.2 and the
// spec-152 metadata; signature re-checked in Python), reproduced byte for
// byte. Calls are encoded through the metadata by name, never assembled by
// hand; tests that need the metadata skip loudly when it is absent.
#include <gtest/gtest.h>

#include "grid/crypto.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/test_util.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {
namespace {

const char kPkHex[] = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const char kHash[] = "0123456789abcdef0123456789abcdef";  // ascii MD5 hex of a deployment
const char kHashHex[] = "3031323334353637383961626364656630313233343536373839616263646566";
const char kCnc[] =
    "1a000b000000" "3031323334353637383961626364656630313233343536373839616263646566" "087b7d" "00000000" "00";

grid::Ed25519Key Key07() {
  std::array<uint8_t, 32> seed;
  seed.fill(0x07);
  return grid::Ed25519Key::FromSeed(seed);
}

std::string Hex(const Result<std::string>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? ToHex(*r) : "<error>";
}

std::vector<NamedValue> CncArgs() {
  return {{"node_id", Value::U(11)},
          {"deployment_hash", Value::Bytes(kHash)},
          {"deployment_data", Value::Bytes("{}")},
          {"public_ips", Value::U(0)},
          {"solution_provider_id", Value::None()}};
}

TEST(Golden, KeyAndAddress) {
  auto key = Key07();
  EXPECT_EQ(key.PublicKeyHex(), kPkHex);
  // SS58 comes from grid/crypto.h (one implementation in the project).
  EXPECT_EQ(grid::Ss58Address(key.public_key()), "5HMuAqymF33H73ZiBpmZ3TigFzHCopV9doyb9UfQdyDgZMUp");
}

TEST(Golden, CallsThroughMetadataByName) {
  REQUIRE_REAL_METADATA(m);
  EXPECT_EQ(Hex(EncodeCall(*m, "TfgridModule", "create_twin",
                           {{"relay", Value::Some(Value::Bytes("relay.grid.tf"))}, {"pk", Value::None()}})),
            "1911013472656c61792e677269642e746600");
  EXPECT_EQ(Hex(EncodeCall(*m, "TfgridModule", "user_accept_tc",
                           {{"document_link", Value::Bytes("https://library.threefold.me/info/legal/#/")},
                            {"document_hash", Value::Bytes("abc")}})),
            "1919a868747470733a2f2f6c6962726172792e7468726565666f6c642e6d652f696e666f2f6c6567616c2f232f0c616263");
  EXPECT_EQ(Hex(EncodeCall(*m, "SmartContractModule", "create_node_contract", CncArgs())), kCnc);
  EXPECT_EQ(Hex(EncodeCall(*m, "SmartContractModule", "update_node_contract",
                           {{"contract_id", Value::U(42)},
                            {"deployment_hash", Value::Bytes(kHash)},
                            {"deployment_data", Value::Bytes("{}")}})),
            std::string("1a012a00000000000000") + kHashHex + "087b7d");
  EXPECT_EQ(Hex(EncodeCall(*m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(42)}})),
            "1a022a00000000000000");
  auto cnc = CallValue(*m, "SmartContractModule", "create_node_contract", CncArgs());
  auto cancel5 = CallValue(*m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(5)}});
  ASSERT_TRUE(cnc.ok()) << cnc.status().ToString();
  ASSERT_TRUE(cancel5.ok()) << cancel5.status().ToString();
  EXPECT_EQ(Hex(EncodeCall(*m, "Utility", "batch_all", {{"calls", Value::Sequence({*cnc, *cancel5})}})),
            std::string("030208") + kCnc + "1a020500000000000000");
  auto pk = *FromHex(kPkHex);
  EXPECT_EQ(Hex(EncodeCall(*m, "Balances", "transfer_keep_alive",
                           {{"dest", Value::Enum("Id", {{"", Value::Bytes(pk)}})},
                            {"value", Value::U(10'000'000)}})),
            std::string("140300") + kPkHex + "025a6202");
}

TEST(Golden, MortalEra) {
  Era e = Era::Mortal(1000, 64);
  EXPECT_EQ(e.period, 64u);
  EXPECT_EQ(e.phase, 40u);
  EXPECT_EQ(ToHex(e.Encode()), "8502");
  const std::string enc = e.Encode();
  Decoder d(enc);
  Era back;
  ASSERT_TRUE(Era::Decode(d, &back).ok());
  EXPECT_EQ(back, e);
  EXPECT_EQ(e.Birth(1000), 1000u);
  EXPECT_EQ(e.Birth(1030), 1000u);
  EXPECT_EQ(ToHex(Era::Immortal().Encode()), "00");
}

TEST(Golden, SignedCreateNodeContract) {
  REQUIRE_REAL_METADATA(m);
  auto key = Key07();
  auto call = EncodeCall(*m, "SmartContractModule", "create_node_contract", CncArgs());
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  ChainInfo c;
  c.spec_version = 152;
  c.tx_version = 2;
  c.genesis.fill(0x11);
  c.era_block_hash.fill(0x11);
  ExtrinsicExtra x;  // immortal, nonce 0, tip 0
  const std::string genesis_hex(64, '1');
  auto payload = SigningPayload(*m, *call, x, c);
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  EXPECT_EQ(ToHex(*payload), std::string(kCnc) + "000000" "98000000" "02000000" + genesis_hex + genesis_hex);
  EXPECT_EQ(payload->size(), 121u);
  EXPECT_EQ(PayloadToSign(*payload), *payload);  // not hashed: <= 256 bytes

  auto xt = BuildSignedExtrinsic(*m, key.public_key(), [&](std::string_view msg) { return key.Sign(msg); },
                                 *call, x, c);
  ASSERT_TRUE(xt.ok()) << xt.status().ToString();
  EXPECT_EQ(ToHex(*xt),
            std::string("5102" "84" "00") + kPkHex +
                "00" "a97a6d84d0239efa4801f7fa7f5116102c834542597b3595f37557ea534ba39ab4685356e36f8faecc6fadaf9ddeb4065380dde661294738291cf3f804e2cd0c"
                "00" "00" "00" + kCnc);

  // And back: the devnet's decoder and verifier accept it.
  auto dx = DecodeExtrinsic(*m, *xt);
  ASSERT_TRUE(dx.ok()) << dx.status().ToString();
  EXPECT_TRUE(dx->is_signed);
  EXPECT_EQ(ToHex(std::string_view(reinterpret_cast<const char*>(dx->signer.data()), 32)), kPkHex);
  EXPECT_EQ(ToHex(dx->call), kCnc);
  EXPECT_TRUE(dx->extra.era.immortal);
  EXPECT_EQ(dx->extra.nonce, 0u);
  EXPECT_TRUE(VerifyExtrinsic(*m, *dx, c).ok());
}

TEST(Golden, Twox128Prefixes) {
  const std::pair<const char*, const char*> cases[] = {
      {"System", "26aa394eea5630e07c48ae0c9558cef7"},
      {"Account", "b99d880ec681799c0cf30e8886371da9"},
      {"Events", "80d41e5e16056765bc8461851072c9d7"},
      {"TfgridModule", "19a2526838feefd7695a3b5715b415b1"},
      {"TwinIdByAccountID", "aca6514962aa3f0d58aff3524045f9e0"},
      {"Twins", "311378229266fc86f673a3f4cf398e69"},
      {"UsersTermsAndConditions", "e334c6916111ab31334321a2719c4da5"},
      {"SmartContractModule", "44cb2e51a1811cda53a74b4395e03d57"},
      {"Contracts", "4342193e496fab7ec59d615ed0dc5530"},
      {"ContractIDByNodeIDAndHash", "909385366f0e1dfc293f0a45f60df2d7"},
      {"ActiveNodeContracts", "cb18d6eb87c8dd12c5bccb70223c480a"},
  };
  for (const auto& [name, hex] : cases) EXPECT_EQ(ToHex(Twox128(name)), hex) << name;
  EXPECT_EQ(ToHex(Blake2_128(*FromHex(kPkHex))), "3fc6400554884a5a14367e32e3e46885");
}

TEST(Golden, FullStorageKeysFromMetadataHashers) {
  REQUIRE_REAL_METADATA(m);
  const std::string pk = *FromHex(kPkHex);
  const std::string sys = "26aa394eea5630e07c48ae0c9558cef7", tfg = "19a2526838feefd7695a3b5715b415b1",
                    scm = "44cb2e51a1811cda53a74b4395e03d57";
  EXPECT_EQ(Hex(StorageKey(*m, "System", "Account", {Value::Bytes(pk)})),
            sys + "b99d880ec681799c0cf30e8886371da9" "3fc6400554884a5a14367e32e3e46885" + kPkHex);
  EXPECT_EQ(Hex(StorageKey(*m, "TfgridModule", "TwinIdByAccountID", {Value::Bytes(pk)})),
            tfg + "aca6514962aa3f0d58aff3524045f9e0" "3fc6400554884a5a14367e32e3e46885" + kPkHex);
  EXPECT_EQ(Hex(StorageKey(*m, "TfgridModule", "Twins", {Value::U(7)})),
            tfg + "311378229266fc86f673a3f4cf398e69" "99850724010e3222888eeb8478c9ffd3" "07000000");
  EXPECT_EQ(Hex(StorageKey(*m, "SmartContractModule", "Contracts", {Value::U(42)})),
            scm + "4342193e496fab7ec59d615ed0dc5530" "3c182333ed1800191f83a7d04a0ef58b" "2a00000000000000");
  EXPECT_EQ(Hex(StorageKey(*m, "SmartContractModule", "ContractIDByNodeIDAndHash",
                           {Value::U(11), Value::Bytes(kHash)})),
            scm + "909385366f0e1dfc293f0a45f60df2d7" "3436db8bf2d563cb5d2999a82809eded" "0b000000"
                  "a55798dd7966ed4b45bd53202cf7a982" + kHashHex);
  EXPECT_EQ(Hex(StorageKey(*m, "System", "Events")), sys + "80d41e5e16056765bc8461851072c9d7");
  // Wrong key counts are refused.
  EXPECT_FALSE(StorageKey(*m, "SmartContractModule", "ContractIDByNodeIDAndHash", {Value::U(11)}).ok());
  EXPECT_FALSE(StorageKey(*m, "System", "Account").ok());
}

}  // namespace
}  // namespace qstor::tfchain
