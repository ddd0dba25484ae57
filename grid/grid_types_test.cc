#include <gtest/gtest.h>

#include "grid/challenge.h"
#include "grid/crypto.h"
#include "grid/chain_call.h"
#include "grid/md5.h"
#include "grid/network.h"
#include "grid/types.h"

namespace qstor::grid {
namespace {

TEST(Md5, Rfc1321TestSuite) {
  EXPECT_EQ(Md5::HexDigest(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5::HexDigest("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Md5::HexDigest("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5::HexDigest("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(Md5::HexDigest("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(Md5::HexDigest("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(Md5::HexDigest("1234567890123456789012345678901234567890123456789012345678901234567"
                           "8901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Md5, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += char('a' + i % 26);
  for (size_t split : {0ul, 1ul, 55ul, 56ul, 63ul, 64ul, 65ul, 999ul}) {
    Md5 m;
    m.Update(std::string_view(data).substr(0, split));
    m.Update(std::string_view(data).substr(split));
    EXPECT_EQ(m.Final(), Md5::Digest(data)) << split;
  }
}

TEST(Hex, RoundTripAndErrors) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("0x00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(Ed25519, SignVerifyAndForgery) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 7;
  auto k = Ed25519Key::FromSeed(seed);
  auto k2 = Ed25519Key::FromSeed(seed);
  EXPECT_EQ(k.PublicKeyHex(), k2.PublicKeyHex());
  std::string sig = k.SignHex("hello");
  EXPECT_TRUE(Ed25519VerifyHex(k.PublicKeyHex(), "hello", sig));
  EXPECT_FALSE(Ed25519VerifyHex(k.PublicKeyHex(), "hellp", sig));
  auto other = Ed25519Key::Generate();
  EXPECT_FALSE(Ed25519VerifyHex(other.PublicKeyHex(), "hello", sig));
  EXPECT_FALSE(Ed25519VerifyHex("zz", "hello", sig));
  EXPECT_FALSE(Ed25519VerifyHex(k.PublicKeyHex(), "hello", "00"));
  auto k3 = Ed25519Key::FromSeedHex(k.SeedHex());
  ASSERT_TRUE(k3.ok());
  EXPECT_EQ(k3->PublicKeyHex(), k.PublicKeyHex());
  // RFC 8032 test 1: secret key 9d61..., public key d75a...
  auto rfc = Ed25519Key::FromSeedHex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_TRUE(rfc.ok());
  EXPECT_EQ(rfc->PublicKeyHex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(rfc->SignHex(""),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(Ss58, KnownAddressAndRoundTrip) {
  // Substrate's well-known Alice: public key -> SS58 (prefix 42).
  auto pk = ParsePublicKeyHex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(Ss58Address(*pk), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
  auto back = Ss58Decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *pk);
  EXPECT_FALSE(Ss58Decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").ok());
  EXPECT_FALSE(Ss58Decode("0OIl").ok());
}

Deployment SampleDeployment() {
  Deployment d;
  d.version = 0;
  d.twin_id = 42;
  d.contract_id = 0;
  d.metadata = R"({"type":"zdb","name":"m1","projectName":"qstor"})";
  d.description = "qstor data";
  d.expiration = 0;
  d.signature_requirement.requests.push_back({42, true, 1});
  d.signature_requirement.weight_required = 1;
  Workload w;
  w.name = "data0";
  w.type = "zdb";
  w.data = {10ull << 30, "seq", "secretpw", false};
  d.workloads.push_back(w);
  return d;
}

TEST(Challenge, TextFollowsZosOrder) {
  Deployment d = SampleDeployment();
  std::string expect = std::string("0") + "42" + d.metadata + "qstor data" + "0" + "0" + "data0" +
                       "zdb" + "" + "" + std::to_string(10ull << 30) + "seq" + "secretpw" +
                       "false" + "42" + "true" + "1" + "1" + "";
  EXPECT_EQ(ChallengeText(d), expect);
  EXPECT_EQ(ChallengeHex(d), Md5::HexDigest(expect));
  // contract_id and results are not part of the challenge.
  Deployment d2 = d;
  d2.contract_id = 99;
  d2.workloads[0].result.state = "ok";
  EXPECT_EQ(ChallengeHex(d2), ChallengeHex(d));
  d2.workloads[0].data.size += 1;
  EXPECT_NE(ChallengeHex(d2), ChallengeHex(d));
}

TEST(Challenge, SignAndVerify) {
  Deployment d = SampleDeployment();
  auto key = Ed25519Key::Generate();
  auto other = Ed25519Key::Generate();
  auto lookup = [&](uint32_t twin) -> Result<std::string> {
    if (twin == 42) return key.PublicKeyHex();
    return Status::NotFound("no twin");
  };
  EXPECT_FALSE(VerifyDeploymentSignatures(d, lookup).ok());  // unsigned
  SignDeployment(d, 42, key);
  EXPECT_TRUE(VerifyDeploymentSignatures(d, lookup).ok());
  SignDeployment(d, 42, key);  // replaces, does not duplicate
  EXPECT_EQ(d.signature_requirement.signatures.size(), 1u);
  Deployment tampered = d;
  tampered.workloads[0].data.password = "other";
  EXPECT_EQ(VerifyDeploymentSignatures(tampered, lookup).code(), Status::Code::kPermissionDenied);
  Deployment forged = d;
  SignDeployment(forged, 42, other);
  EXPECT_FALSE(VerifyDeploymentSignatures(forged, lookup).ok());
  Deployment stranger = d;
  stranger.signature_requirement.signatures.push_back({7, d.signature_requirement.signatures[0].signature, "ed25519"});
  EXPECT_FALSE(VerifyDeploymentSignatures(stranger, lookup).ok());
}

TEST(DeploymentJson, RoundTripAndErrors) {
  Deployment d = SampleDeployment();
  d.workloads[0].result.state = "ok";
  d.workloads[0].result.zdb = ZdbResult{"42-7-data0", {"127.0.0.1"}, 9900};
  auto key = Ed25519Key::Generate();
  SignDeployment(d, 42, key);
  auto j = ToJson(d);
  EXPECT_EQ(j["workloads"][0]["data"]["public"], false);
  EXPECT_EQ(j["workloads"][0]["result"]["data"]["Namespace"], "42-7-data0");
  auto back = DeploymentFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToJson(*back), j);
  EXPECT_EQ(ChallengeHex(*back), ChallengeHex(d));

  auto bad = j;
  bad["workloads"][0]["data"]["size"] = "ten";
  auto r = DeploymentFromJson(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("deployment.workloads[0].data.size"), std::string::npos);
  bad = j;
  bad["version"] = -1;
  EXPECT_FALSE(DeploymentFromJson(bad).ok());
  EXPECT_FALSE(DeploymentFromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(DeploymentFromJson(nlohmann::json{{"version", 0}}).ok());

  EXPECT_TRUE(ValidateDeployment(d).ok());
  Deployment badname = d;
  badname.workloads[0].name = "bad-name";
  EXPECT_FALSE(ValidateDeployment(badname).ok());
  Deployment badmode = d;
  badmode.workloads[0].data.mode = "fast";
  EXPECT_FALSE(ValidateDeployment(badmode).ok());
}

TEST(NodeJson, GridProxyFieldNames) {
  Node n;
  n.node_id = 5;
  n.farm_id = 2;
  n.location = {"Belgium", "Ghent", "Europe", 51.05, 3.72};
  n.status = "up";
  n.healthy = true;
  n.total.hru = 4ull << 40;
  n.used.hru = 1ull << 40;
  auto j = ToJson(n);
  EXPECT_EQ(j["nodeId"], 5);
  EXPECT_EQ(j["farmId"], 2);
  EXPECT_EQ(j["location"]["city"], "Ghent");
  EXPECT_EQ(j["total_resources"]["hru"], 4ull << 40);
  auto back = NodeFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->FreeHru(), 3ull << 40);
  EXPECT_EQ(back->location.country, "Belgium");
  EXPECT_DOUBLE_EQ(back->location.latitude, 51.05);
}

TEST(ContractJson, RoundTrip) {
  Contract c{7, 42, "Created", 1700000000, "node", 3, "{}", "abcd", 0, "farm", 1};
  auto back = ContractFromJson(ToJson(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->deployment_hash, "abcd");
  EXPECT_EQ(back->node_id, 3u);
  EXPECT_EQ(ToJson(*back), ToJson(c));
  Bill b{7, 12345, 0, 1700000000};
  EXPECT_EQ(ToJson(*BillFromJson(ToJson(b))), ToJson(b));
}

TEST(ChainCall, JsonRoundTripAndErrors) {
  Call c = CreateNodeContractCall(1, std::string(32, 'a'), "{}", 2);
  auto back = Call::FromJson(nlohmann::json::parse(c.ToJson().dump()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "create_node_contract");
  EXPECT_EQ(back->args, c.args);
  EXPECT_FALSE(Call::FromJson(nlohmann::json{{"name", 1}}).ok());
  EXPECT_FALSE(Call::FromJson(nlohmann::json{{"name", "x"}, {"args", 3}}).ok());
  ExtrinsicResult r{"0xab", "0xcd", 4, {7, 8}, 12};
  auto rb = ExtrinsicResult::FromJson(r.ToJson());
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->block_hash, "0xcd");
  EXPECT_EQ(rb->created_contracts, r.created_contracts);
  EXPECT_EQ(rb->twin_id, 12u);
}

TEST(Pricing, CostUnits) {
  Pricing p{0.01, 0.02, ""};
  // 1200 GiB of HRU = 1 su; 1 hour at 0.01 USD = 0.5 TFT.
  EXPECT_EQ(CostUnits(p, 1200ull << 30, 0, 3600), kUnitsPerTft / 2);
  EXPECT_EQ(CostUnits(p, 0, 0, 3600), 0u);
  EXPECT_EQ(FormatTft(kUnitsPerTft / 2), "0.5000000 TFT");
  EXPECT_NEAR(StorageUnits(1200ull << 30, 200ull << 30), 2.0, 1e-9);
}

TEST(Network, Resolve) {
  auto m = ResolveNetwork("main");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->discovery_only);
  EXPECT_FALSE(ResolveNetwork("nope").ok());
  EXPECT_EQ(ResolveNetwork("devnet", "/nonexistent-dir").status().code(),
            Status::Code::kUnavailable);
}

}  // namespace
}  // namespace qstor::grid
