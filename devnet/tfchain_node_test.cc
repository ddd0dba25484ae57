// The devnet's TFChain node (devnet/tfchain_node.h) through a real
// WebSocket client (grid/jsonrpc_ws.h), with extrinsics signed by qstor's
// TFChain encoder (grid/tfchain/extrinsic.h): the happy path, dispatch
// errors with TFChain's names, and bad input refused with Substrate's
// errors while the devnet stays up.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devnet/devnet.h"
#include "devnet/tfchain_node.h"
#include "grid/crypto.h"
#include "grid/http_client.h"
#include "grid/jsonrpc_ws.h"
#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

namespace qstor::devnet {
namespace {

namespace fs = std::filesystem;
namespace tf = qstor::tfchain;
using nlohmann::json;
using tf::NamedValue;
using tf::Value;

constexpr const char* kHash = "0123456789abcdef0123456789abcdef";

class TfchainNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("qstor-chain-test-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
             std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Start();
    std::array<uint8_t, 32> seed{};
    seed.fill(7);
    key_ = grid::Ed25519Key::FromSeed(seed);
    std::copy(key_.public_key().begin(), key_.public_key().end(), pk_.begin());
  }
  void TearDown() override {
    client_.reset();
    if (devnet_) devnet_->Stop();
    devnet_.reset();
    fs::remove_all(dir_);
  }
  void Start() {
    DevnetOptions o;
    o.data_dir = dir_;
    o.block_ms = block_ms_;
    const char* bin = std::getenv("QSTOR_BIN");
    ASSERT_NE(bin, nullptr) << "QSTOR_BIN must point at the qstor executable";
    o.qstor_bin = bin;
    auto d = Devnet::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    devnet_ = std::move(d).value();
    grid::JsonRpcWsOptions co;
    co.url = devnet_->chain_url();
    auto c = grid::JsonRpcWsClient::Create(co);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = *c;
    auto m = Call("state_getMetadata");
    auto md = tf::DecodeMetadataHex(m.get<std::string>());
    ASSERT_TRUE(md.ok()) << md.status().ToString();
    meta_ = *md;
    auto g = tf::FromHex(Call("chain_getBlockHash", json::array({0})).get<std::string>());
    ASSERT_TRUE(g.ok());
    std::copy(g->begin(), g->end(), genesis_.begin());
  }
  void Restart() {
    client_.reset();
    devnet_->Stop();
    devnet_.reset();
    Start();
  }
  json Call(const std::string& method, json params = json::array()) {
    auto r = client_->Call(method, params);
    EXPECT_TRUE(r.ok()) << method << ": " << r.status().ToString();
    return r.ok() ? *r : json();
  }
  void Fund(const grid::Ed25519Key& k, uint64_t units) {
    grid::HttpClient h(std::chrono::seconds(10));
    auto r = h.Send("POST", devnet_->base_url() + "/admin/fund",
                    json{{"address", k.PublicKeyHex()}, {"units", units}}.dump());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
  }
  uint32_t NextNonce(const grid::Ed25519Key& k) {
    return Call("system_accountNextIndex", json::array({"0x" + k.PublicKeyHex()})).get<uint32_t>();
  }
  std::string CallBytes(const std::string& pallet, const std::string& call, std::vector<NamedValue> args) {
    auto c = tf::EncodeCall(meta_, pallet, call, std::move(args));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::string();
  }
  std::string Sign(const std::string& call, uint32_t nonce, const grid::Ed25519Key* k = nullptr,
                   std::optional<tf::Hash256> genesis = std::nullopt) {
    if (k == nullptr) k = &key_;
    tf::ChainInfo ci;
    ci.spec_version = 152;
    ci.tx_version = 2;
    ci.genesis = genesis.value_or(genesis_);
    ci.era_block_hash = ci.genesis;
    tf::ExtrinsicExtra x;
    x.nonce = nonce;
    std::array<uint8_t, 32> pk{};
    std::copy(k->public_key().begin(), k->public_key().end(), pk.begin());
    auto e = tf::BuildSignedExtrinsic(meta_, pk, [k](std::string_view m) { return k->Sign(m); }, call, x, ci);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::string();
  }
  // author_submitExtrinsic; the error text when refused ("" when accepted).
  std::string SubmitError(const std::string& xt) {
    auto r = client_->Call("author_submitExtrinsic", json::array({"0x" + tf::ToHex(xt)}));
    return r.ok() ? std::string() : r.status().message();
  }
  // Submits and waits until the extrinsic is in a block; the block's events.
  std::vector<tf::EventRecord> SubmitAndWait(const std::string& xt, uint32_t* index) {
    std::mutex mu;
    std::condition_variable cv;
    std::string in_block;
    std::vector<std::string> statuses;
    auto sub = client_->Subscribe(
        "author_submitAndWatchExtrinsic", json::array({"0x" + tf::ToHex(xt)}), "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        [&](const grid::SubscriptionEvent& ev) {
          std::lock_guard<std::mutex> lock(mu);
          if (ev.result.is_string()) statuses.push_back(ev.result.get<std::string>());
          if (ev.result.is_object() && ev.result.contains("inBlock")) {
            statuses.push_back("inBlock");
            in_block = ev.result["inBlock"].get<std::string>();
          }
          cv.notify_all();
        });
    EXPECT_TRUE(sub.ok()) << sub.status().ToString();
    if (!sub.ok()) return {};
    {
      std::unique_lock<std::mutex> lock(mu);
      EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !in_block.empty(); }));
      EXPECT_FALSE(statuses.empty());
      if (!statuses.empty()) {
        EXPECT_EQ(statuses.front(), "ready");
      }
    }
    (void)client_->Unsubscribe(*sub);
    json block = Call("chain_getBlock", json::array({in_block}));
    auto xt_hex = "0x" + tf::ToHex(xt);
    *index = 0;
    bool found = false;
    for (size_t i = 0; i < block["block"]["extrinsics"].size(); ++i) {
      if (block["block"]["extrinsics"][i] == xt_hex) {
        *index = uint32_t(i);
        found = true;
      }
    }
    EXPECT_TRUE(found) << "extrinsic not in block " << in_block;
    auto key = tf::StorageKey(meta_, "System", "Events");
    EXPECT_TRUE(key.ok());
    json ev = Call("state_getStorage", json::array({"0x" + tf::ToHex(*key), in_block}));
    auto bytes = tf::FromHex(ev.get<std::string>());
    EXPECT_TRUE(bytes.ok());
    auto events = tf::DecodeEvents(meta_, *bytes);
    EXPECT_TRUE(events.ok()) << events.status().ToString();
    return events.ok() ? *events : std::vector<tf::EventRecord>{};
  }
  tf::ExtrinsicOutcome Outcome(const std::string& xt, std::vector<uint64_t>* created = nullptr) {
    uint32_t index = 0;
    auto events = SubmitAndWait(xt, &index);
    auto o = tf::OutcomeOf(meta_, events, index);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    if (created) {
      auto ids = tf::CreatedContractIds(events, index);
      EXPECT_TRUE(ids.ok());
      if (ids.ok()) *created = *ids;
    }
    return o.ok() ? *o : tf::ExtrinsicOutcome{};
  }
  std::optional<std::string> Storage(const std::string& pallet, const std::string& entry,
                                     const std::vector<Value>& keys = {}) {
    auto k = tf::StorageKey(meta_, pallet, entry, keys);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    json v = Call("state_getStorage", json::array({"0x" + tf::ToHex(*k)}));
    if (v.is_null()) return std::nullopt;
    auto b = tf::FromHex(v.get<std::string>());
    return b.ok() ? std::optional<std::string>(*b) : std::nullopt;
  }
  std::string AcceptTc() {
    return CallBytes("TfgridModule", "user_accept_tc",
                     {{"document_link", Value::Bytes("https://library.threefold.me/info/legal/#/")},
                      {"document_hash", Value::Bytes("abc")}});
  }
  std::string CreateTwin() {
    return CallBytes("TfgridModule", "create_twin",
                     {{"relay", Value::Some(Value::Bytes("relay.grid.tf"))}, {"pk", Value::None()}});
  }
  std::string CreateContract(uint32_t node, const std::string& hash, const std::string& data = "{}") {
    return CallBytes("SmartContractModule", "create_node_contract",
                     {{"node_id", Value::U(node)},
                      {"deployment_hash", Value::Bytes(hash)},
                      {"deployment_data", Value::Bytes(data)},
                      {"public_ips", Value::U(0)},
                      {"solution_provider_id", Value::None()}});
  }
  // A funded account with T&C accepted and a twin.
  void Onboard() {
    Fund(key_, 100 * 10'000'000ull);
    ASSERT_TRUE(Outcome(Sign(AcceptTc(), NextNonce(key_))).success);
    ASSERT_TRUE(Outcome(Sign(CreateTwin(), NextNonce(key_))).success);
  }

  uint32_t block_ms_ = 50;
  std::string dir_;
  std::unique_ptr<Devnet> devnet_;
  std::shared_ptr<grid::JsonRpcWsClient> client_;
  tf::Metadata meta_;
  tf::Hash256 genesis_{};
  grid::Ed25519Key key_ = grid::Ed25519Key::Generate();
  std::array<uint8_t, 32> pk_{};
};

TEST_F(TfchainNodeTest, ServesRuntimeAndProducesBlocks) {
  json v = Call("state_getRuntimeVersion");
  EXPECT_EQ(v["specVersion"], 152);
  EXPECT_EQ(v["transactionVersion"], 2);
  EXPECT_EQ(Call("system_properties")["tokenSymbol"], "TFT");
  json h1 = Call("chain_getHeader");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  json h2 = Call("chain_getHeader");
  uint64_t n1 = std::stoull(h1["number"].get<std::string>(), nullptr, 16);
  uint64_t n2 = std::stoull(h2["number"].get<std::string>(), nullptr, 16);
  EXPECT_GT(n2, n1);
  // The header hash is blake2b-256 of its SCALE encoding, and the parent links.
  std::string hash2 = Call("chain_getBlockHash", json::array({n2})).get<std::string>();
  std::string parent = Call("chain_getBlockHash", json::array({n2 - 1})).get<std::string>();
  EXPECT_EQ(h2["parentHash"], parent);
  EXPECT_EQ(Call("chain_getHeader", json::array({hash2}))["number"], h2["number"]);
  EXPECT_EQ(Call("chain_getFinalizedHead").get<std::string>().size(), 66u);
  // System.Number agrees with the headers.
  auto num = Storage("System", "Number");
  ASSERT_TRUE(num.has_value());
  EXPECT_EQ(num->size(), 4u);
  // Genesis is stable across restarts; the block number is persisted.
  std::string genesis = "0x" + tf::ToHex(std::string(genesis_.begin(), genesis_.end()));
  Restart();
  EXPECT_EQ(Call("chain_getBlockHash", json::array({0})).get<std::string>(), genesis);
  json h3 = Call("chain_getHeader");
  EXPECT_GE(std::stoull(h3["number"].get<std::string>(), nullptr, 16), n2);
  // Unknown blocks: null, as a pruned node answers.
  EXPECT_TRUE(Call("chain_getBlockHash", json::array({1u << 30})).is_null());
}

TEST_F(TfchainNodeTest, HappyPathTwinContractCancel) {
  Fund(key_, 100 * 10'000'000ull);
  uint32_t n0 = NextNonce(key_);
  EXPECT_EQ(n0, 0u);
  // create_twin before T&C: TFChain's error, nonce and fee consumed.
  auto early = Outcome(Sign(CreateTwin(), 0));
  EXPECT_FALSE(early.success);
  EXPECT_EQ(early.error, "TfgridModule.UserDidNotSignTermsAndConditions");
  EXPECT_EQ(NextNonce(key_), 1u);
  ASSERT_TRUE(Outcome(Sign(AcceptTc(), 1)).success);
  ASSERT_TRUE(Outcome(Sign(CreateTwin(), 2)).success);
  auto twin_id = tf::DecodeTwinIdByAccountId(
      meta_, Storage("TfgridModule", "TwinIdByAccountID", {Value::Bytes(std::string(pk_.begin(), pk_.end()))}));
  ASSERT_TRUE(twin_id.ok());
  ASSERT_TRUE(twin_id->has_value());
  auto twin = tf::DecodeTwin(meta_, Storage("TfgridModule", "Twins", {Value::U(**twin_id)}));
  ASSERT_TRUE(twin.ok() && twin->has_value()) << twin.status().ToString();
  EXPECT_EQ((*twin)->relay.value_or(""), "relay.grid.tf");
  // A second twin for the same key: TwinWithPubkeyExists.
  EXPECT_EQ(Outcome(Sign(CreateTwin(), 3)).error, "TfgridModule.TwinWithPubkeyExists");

  std::vector<uint64_t> created;
  auto made = Outcome(Sign(CreateContract(1, kHash), 4), &created);
  ASSERT_TRUE(made.success) << made.error;
  ASSERT_EQ(created.size(), 1u);
  auto c = tf::DecodeContract(meta_, Storage("SmartContractModule", "Contracts", {Value::U(created[0])}));
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status().ToString();
  EXPECT_EQ((*c)->state, "Created");
  EXPECT_EQ((*c)->node_id, 1u);
  EXPECT_EQ((*c)->deployment_hash, kHash);
  EXPECT_EQ((*c)->deployment_data, "{}");
  auto by_hash = tf::DecodeContractIdByNodeIdAndHash(
      meta_, Storage("SmartContractModule", "ContractIDByNodeIDAndHash", {Value::U(1), Value::Bytes(kHash)}));
  ASSERT_TRUE(by_hash.ok());
  EXPECT_EQ(*by_hash, created[0]);
  auto active = tf::DecodeActiveNodeContracts(meta_, Storage("SmartContractModule", "ActiveNodeContracts", {Value::U(1)}));
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(*active, std::vector<uint64_t>{created[0]});
  // The same (node, hash) again: ContractIsNotUnique. An unknown node: NodeNotExists.
  EXPECT_EQ(Outcome(Sign(CreateContract(1, kHash), 5)).error, "SmartContractModule.ContractIsNotUnique");
  EXPECT_EQ(Outcome(Sign(CreateContract(9999, kHash), 6)).error, "SmartContractModule.NodeNotExists");
  // The old HTTP route sees the same contract.
  grid::HttpClient h(std::chrono::seconds(10));
  auto r = h.Send("GET", devnet_->base_url() + "/contracts/" + std::to_string(created[0]));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);

  auto cancel = CallBytes("SmartContractModule", "cancel_contract", {{"contract_id", Value::U(created[0])}});
  ASSERT_TRUE(Outcome(Sign(cancel, 7)).success);
  EXPECT_FALSE(Storage("SmartContractModule", "Contracts", {Value::U(created[0])}).has_value());
  EXPECT_EQ(Outcome(Sign(cancel, 8)).error, "SmartContractModule.ContractNotExists");
  // Fees: 9 extrinsics at the fixed fee.
  auto acct = tf::DecodeAccountInfo(meta_, Storage("System", "Account", {Value::Bytes(std::string(pk_.begin(), pk_.end()))}));
  ASSERT_TRUE(acct.ok());
  EXPECT_EQ(acct->nonce, 9u);
  EXPECT_EQ(uint64_t(acct->free), 100 * 10'000'000ull - 9 * kExtrinsicFeeUnits);
}

TEST_F(TfchainNodeTest, Batches) {
  Onboard();
  std::string ok_call = CreateContract(2, kHash);
  std::string bad_call = CreateContract(9999, "fedcba9876543210fedcba9876543210");
  auto calls = [&](std::vector<std::string> cs) {
    std::vector<Value> items;
    for (auto& c : cs) items.push_back(Value::Raw(c));
    return Value::Sequence(std::move(items));
  };
  // batch_all is atomic: the good contract is not kept.
  auto all = Outcome(Sign(CallBytes("Utility", "batch_all", {{"calls", calls({ok_call, bad_call})}}), NextNonce(key_)));
  EXPECT_FALSE(all.success);
  EXPECT_EQ(all.error, "SmartContractModule.NodeNotExists");
  EXPECT_FALSE(Storage("SmartContractModule", "ContractIDByNodeIDAndHash", {Value::U(2), Value::Bytes(kHash)}).has_value());
  // batch stops at the failure (BatchInterrupted) and keeps what ran.
  std::vector<uint64_t> created;
  uint32_t index = 0;
  auto events = SubmitAndWait(
      Sign(CallBytes("Utility", "batch", {{"calls", calls({ok_call, bad_call, CreateContract(3, kHash)})}}),
           NextNonce(key_)),
      &index);
  bool interrupted = false;
  for (const auto& e : events) interrupted = interrupted || (e.pallet == "Utility" && e.name == "BatchInterrupted");
  EXPECT_TRUE(interrupted);
  auto ids = tf::CreatedContractIds(events, index);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 1u);
  EXPECT_FALSE(Storage("SmartContractModule", "ContractIDByNodeIDAndHash", {Value::U(3), Value::Bytes(kHash)}).has_value());
}

TEST_F(TfchainNodeTest, BadInputRefusedAsTfchainDoes) {
  Onboard();
  uint32_t nonce = NextNonce(key_);
  std::string good = Sign(CreateContract(1, kHash), nonce);
  // Malformed SCALE: a length prefix that promises more than follows, and a
  // body that is not an extrinsic.
  EXPECT_NE(SubmitError(std::string("\x12\x34", 2)).find("RPC error 1040"), std::string::npos);
  std::string garbage = tf::CompactBytes(5) + std::string("\x84\x01\x02\x03\x04", 5);
  EXPECT_NE(SubmitError(garbage).find("Could not decode"), std::string::npos);
  // Truncated: the signed extrinsic cut short.
  EXPECT_NE(SubmitError(good.substr(0, good.size() - 3)).find("RPC error 1040"), std::string::npos);
  // Trailing bytes inside the declared length.
  size_t prefix_len = 0;
  {
    tf::Decoder d(good);
    uint64_t len = 0;
    ASSERT_TRUE(d.ReadLength(&len, 1, "len").ok());
    prefix_len = d.position();
    std::string inner = std::string(d.rest()) + "xx";
    EXPECT_NE(SubmitError(tf::CompactBytes(inner.size()) + inner).find("Could not decode"), std::string::npos);
  }
  // Wrong genesis: the signature does not verify against this chain.
  tf::Hash256 other{};
  other.fill(0x11);
  EXPECT_NE(SubmitError(Sign(CreateContract(1, kHash), nonce, nullptr, other)).find("RPC error 1010: Invalid Transaction: Transaction has a bad signature"),
            std::string::npos);
  // Bad signature: one bit flipped (the signature starts after 1+1+32+1 bytes of body).
  {
    std::string bad = good;
    size_t at = prefix_len + 1 + 1 + 32 + 1 + 5;
    bad[at] = char(bad[at] ^ 0x01);
    EXPECT_NE(SubmitError(bad).find("Transaction has a bad signature"), std::string::npos);
  }
  // Unknown call index [26, 99].
  EXPECT_NE(SubmitError(Sign(std::string("\x1a\x63\x00", 3), nonce)).find("Could not decode"), std::string::npos);
  // deployment_data over TFChain's bound of 512 bytes does not decode.
  EXPECT_NE(SubmitError(Sign(CreateContract(1, kHash, std::string(513, 'x')), nonce)).find("Could not decode"),
            std::string::npos);
  // Nonce in the future.
  EXPECT_NE(SubmitError(Sign(CreateContract(1, kHash), nonce + 5)).find("Transaction will be valid in the future"),
            std::string::npos);
  // An account without funds cannot pay the fee.
  std::array<uint8_t, 32> seed{};
  seed.fill(9);
  auto poor = grid::Ed25519Key::FromSeed(seed);
  EXPECT_NE(SubmitError(Sign(AcceptTc(), 0, &poor)).find("Inability to pay some fees"), std::string::npos);
  // The good one goes in; replaying it is outdated.
  ASSERT_TRUE(Outcome(good).success);
  EXPECT_NE(SubmitError(good).find("RPC error 1010: Invalid Transaction: Transaction is outdated"), std::string::npos);
  // The devnet is still up and producing blocks.
  EXPECT_EQ(Call("system_health")["peers"], 0);
  EXPECT_EQ(NextNonce(key_), nonce + 1);
}

TEST_F(TfchainNodeTest, KeysPagedAndFaucet) {
  Onboard();
  auto prefix = tf::StoragePrefix("TfgridModule", "Twins");
  json keys = Call("state_getKeysPaged", json::array({"0x" + tf::ToHex(prefix), 10}));
  ASSERT_TRUE(keys.is_array());
  ASSERT_EQ(keys.size(), 1u);
  json paged = Call("state_getKeysPaged", json::array({"0x" + tf::ToHex(prefix), 10, keys[0]}));
  EXPECT_TRUE(paged.empty());
  json q = Call("state_queryStorageAt", json::array({keys}));
  ASSERT_EQ(q.size(), 1u);
  EXPECT_FALSE(q[0]["changes"][0][1].is_null());
  // The faucet takes SS58 too.
  grid::HttpClient h(std::chrono::seconds(10));
  auto r = h.Send("POST", devnet_->base_url() + "/admin/fund",
                  json{{"address", grid::Ss58Address(key_.public_key())}, {"units", 5}}.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
}

// The judges: @polkadot/api and @threefold/tfchain_client (npm, written by
// others) against this devnet's chain (tests/tfchain-judge/polkadot_judge.cjs).
// Installed with `npm ci` into <build>/npm/tfchain-judge, again only when the lock
// file changes. Skips when node/npm are absent, unless CI=true.
TEST_F(TfchainNodeTest, PolkadotJsJudge) {
  const char* ci = std::getenv("CI");
  bool required = ci && std::string(ci) == "true";
  if (std::system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1") != 0) {
    if (required) FAIL() << "CI=true but node/npm are not installed";
    GTEST_SKIP() << "node or npm not found: the @polkadot/api judge is skipped";
  }
  fs::path src = fs::path(QSTOR_SOURCE_DIR) / "tests" / "tfchain-judge";
  fs::path dir = fs::path(QSTOR_BINARY_DIR) / "npm" / "tfchain-judge";
  fs::create_directories(dir);
  auto read = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  if (!fs::exists(dir / "node_modules" / "@polkadot" / "api" / "package.json") ||
      read(dir / "package-lock.json") != read(src / "package-lock.json")) {
    fs::copy_file(src / "package.json", dir / "package.json", fs::copy_options::overwrite_existing);
    fs::copy_file(src / "package-lock.json", dir / "package-lock.json", fs::copy_options::overwrite_existing);
    std::string cmd = "cd '" + dir.string() + "' && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::string log = read(dir / "npm.log");
      if (required) FAIL() << "npm ci failed:\n" << log;
      GTEST_SKIP() << "npm ci failed (offline?): " << log;
    }
  }
  // 200 ms blocks: polkadot.js signs mortal eras (64 blocks) against them.
  block_ms_ = 200;
  Restart();
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr);
  std::string out = (dir / ("judge-" + std::to_string(::getpid()) + ".txt")).string();
  std::string cmd = "cd '" + dir.string() + "' && NODE_PATH='" + (dir / "node_modules").string() +
                    "' timeout 300 node '" + (src / "polkadot_judge.cjs").string() + "' " + devnet_->chain_url() +
                    " '" + bin + "' '" + dir_ + "' >'" + out + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::string log = read(out);
  fs::remove(out);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("tfchain judge: ok"), std::string::npos) << log;
}

}  // namespace
}  // namespace qstor::devnet
