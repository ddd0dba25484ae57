// TfchainClient against a fake chain node: the devnet's JSON-RPC WebSocket
// server serving the devnet runtime's metadata (TFChain spec 152 layouts),
// storage from a map, and scripted answers to author_submitAndWatchExtrinsic
// (status sequences and System.Events built with grid/tfchain's encoder).
// This double checks the client's logic; the proof against a chain that
// checks extrinsics is the devnet chain node's integration test.
#include "grid/tfchain_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "devnet/jsonrpc_ws_server.h"
#include "devnet/tfchain_runtime.h"
#include "grid/crypto.h"
#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"
#include "grid/types.h"

namespace qstor::grid {
namespace {

namespace tf = qstor::tfchain;
using nlohmann::json;
using tf::NamedValue;
using tf::Value;

std::string Unhex(std::string_view h) { return HexDecode(h).value(); }
std::string Hex0x(std::string_view b) { return "0x" + HexEncode(b); }

// GRID-V3 §7.1's shared key: seed 0x07 x 32.
Ed25519Key VectorKey() {
  std::array<uint8_t, 32> seed;
  seed.fill(0x07);
  return Ed25519Key::FromSeed(seed);
}

// GRID-V3 §7.1 vectors.
constexpr char kCnc[] =
    "1a000b0000003031323334353637383961626364656630313233343536373839616263646566087b7d0000000000";
constexpr char kHashAscii[] = "0123456789abcdef0123456789abcdef";

// What the fake node does with one submitted extrinsic.
struct Script {
  std::vector<json> statuses;      // author_extrinsicUpdate results, in order
  std::optional<Value> events;     // System.Events of the block (our extrinsic is index 1)
  bool refuse_1010 = false;        // answer the submit with RPC error 1010
  int delay_ms = 10;               // between statuses
};

class FakeNode {
 public:
  explicit FakeNode(tf::Metadata metadata = devnet::BuildDevnetRuntimeMetadata())
      : metadata_(std::move(metadata)) {
    runtime_version_ = devnet::RuntimeVersionJson(devnet::DevnetRuntimeVersion());
    metadata_hex_ = Hex0x(tf::EncodeMetadata(metadata_));
    auto s = devnet::JsonRpcWsServer::Start({});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    auto reg = [this](const std::string& name, std::function<devnet::JsonRpcResult(const json&, const devnet::JsonRpcConnectionPtr&)> fn) {
      server_->Register(name, std::move(fn));
    };
    reg("chain_getBlockHash", [this](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      if (p.size() == 1 && p[0] == 0) return json(Hex0x(std::string(32, '\x11')));
      if (p.size() == 1 && p[0].is_number()) return json(Hex0x(std::string(32, char(0x40 + (p[0].get<int>() & 7)))));
      return devnet::JsonRpcError::InvalidParams("bad params");
    });
    reg("state_getRuntimeVersion", [this](const json&, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      return runtime_version_;
    });
    reg("state_getMetadata", [this](const json&, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      ++metadata_reads;
      return json(metadata_hex_);
    });
    reg("system_accountNextIndex", [this](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      if (p.size() != 1 || !p[0].is_string()) return devnet::JsonRpcError::InvalidParams("ss58");
      last_nonce_account = p[0].get<std::string>();
      return json(next_index);
    });
    reg("chain_getFinalizedHead", [](const json&, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      return json(Hex0x(std::string(32, '\x22')));
    });
    reg("chain_getHeader", [](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      if (p.size() != 1 || p[0] != Hex0x(std::string(32, '\x22'))) return devnet::JsonRpcError::InvalidParams("hash");
      return json{{"number", "0x3e8"}, {"parentHash", Hex0x(std::string(32, '\x21'))}};
    });
    reg("state_getStorage", [this](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      if (p.empty() || !p[0].is_string()) return devnet::JsonRpcError::InvalidParams("key");
      std::string key = p[0].get<std::string>();
      const auto* map = &storage;
      if (p.size() > 1 && p[1].is_string()) {
        auto it = storage_at.find(p[1].get<std::string>());
        if (it == storage_at.end()) return json(nullptr);
        map = &it->second;
      }
      auto it = map->find(key);
      if (it == map->end()) return json(nullptr);
      return json(Hex0x(it->second));
    });
    reg("state_queryStorageAt", [this](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      ++query_storage_at_calls;
      json changes = json::array();
      for (const auto& k : p[0]) {
        auto it = storage.find(k.get<std::string>());
        changes.push_back(json::array({k, it == storage.end() ? json(nullptr) : json(Hex0x(it->second))}));
      }
      return json::array({json{{"block", Hex0x(std::string(32, '\x33'))}, {"changes", changes}}});
    });
    reg("chain_getBlock", [this](const json& p, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      std::lock_guard<std::mutex> l(mu_);
      auto it = blocks_.find(p[0].get<std::string>());
      if (it == blocks_.end()) return json(nullptr);
      return it->second;
    });
    reg("author_unwatchExtrinsic", [](const json&, const devnet::JsonRpcConnectionPtr&) -> devnet::JsonRpcResult {
      return json(true);
    });
    reg("author_submitAndWatchExtrinsic",
        [this](const json& p, const devnet::JsonRpcConnectionPtr& conn) -> devnet::JsonRpcResult {
          std::unique_lock<std::mutex> l(mu_);
          std::string xt = HexDecode(p[0].get<std::string>()).value();
          submitted.push_back(xt);
          Script script = on_submit ? on_submit(xt) : Script{};
          if (script.refuse_1010)
            return devnet::JsonRpcError{1010, "Invalid Transaction", json("Transaction is outdated")};
          const std::string sub = "sub-" + std::to_string(submitted.size());
          const std::string block = Hex0x(std::string(31, '\x55') + char(submitted.size()));
          // The block: someone else's extrinsic first, ours second.
          std::string other = std::string("\x10\x04\x01\x02\x03", 5);
          blocks_[block] = json{{"block", {{"header", {{"number", "0x3e9"}}},
                                           {"extrinsics", json::array({Hex0x(other), Hex0x(xt)})}}},
                                {"justifications", nullptr}};
          if (script.events) {
            auto key = tf::StorageKey(metadata_, "System", "Events").value();
            auto type = metadata_.FindStorage("System", "Events").value().entry->value;
            storage_at[block][Hex0x(key)] = tf::EncodeValueBytes(metadata_.registry, type, *script.events).value();
          }
          threads_.emplace_back([conn, sub, block, script] {
            for (json st : script.statuses) {
              std::this_thread::sleep_for(std::chrono::milliseconds(script.delay_ms));
              // "$block" stands for the block this fake put the extrinsic in.
              if (st.is_object())
                for (auto it = st.begin(); it != st.end(); ++it)
                  if (*it == "$block") *it = block;
              conn->Notify("author_extrinsicUpdate", sub, st);
            }
          });
          submit_seen_ = true;
          cv_.notify_all();
          return json(sub);
        });
  }

  ~FakeNode() {
    for (auto& t : threads_) t.join();
    if (server_) server_->Stop();
  }

  std::string url() const { return server_->url(); }
  void Stop() { server_->Stop(); }
  void WaitSubmit() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(10), [&] { return submit_seen_; });
  }
  void SetSpec(uint32_t spec) {
    std::lock_guard<std::mutex> l(mu_);
    runtime_version_["specVersion"] = spec;
  }
  void Put(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> l(mu_);
    storage[Hex0x(key)] = value;
  }
  int MetadataReads() {
    std::lock_guard<std::mutex> l(mu_);
    return metadata_reads;
  }
  const tf::Metadata& metadata() const { return metadata_; }
  tf::TypeId ValueType(const char* pallet, const char* entry) const {
    return metadata_.FindStorage(pallet, entry).value().entry->value;
  }

  std::function<Script(const std::string& xt)> on_submit;  // runs under the node's lock
  std::vector<std::string> submitted;
  std::map<std::string, std::string> storage;  // hex key -> bytes
  std::map<std::string, std::map<std::string, std::string>> storage_at;
  uint32_t next_index = 0;
  int metadata_reads = 0;
  int query_storage_at_calls = 0;
  std::string last_nonce_account;

 private:
  tf::Metadata metadata_;
  json runtime_version_;
  std::string metadata_hex_;
  std::unique_ptr<devnet::JsonRpcWsServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool submit_seen_ = false;
  std::map<std::string, json> blocks_;
  std::vector<std::thread> threads_;
};

Value DispatchInfo() {
  return Value::Composite({{"weight", Value::Composite({{"ref_time", Value::U(1000)}, {"proof_size", Value::U(0)}})},
                           {"class", Value::Enum("Normal")},
                           {"pays_fee", Value::Enum("Yes")}});
}
Value Record(uint32_t xt, const char* pallet, const char* name, std::vector<NamedValue> fields) {
  return Value::Composite({{"phase", Value::Enum("ApplyExtrinsic", {{"", Value::U(xt)}})},
                           {"event", Value::Enum(pallet, {{"", Value::Enum(name, std::move(fields))}})},
                           {"topics", Value::Sequence({})}});
}
Value ContractValue(uint64_t id, uint32_t node, const std::string& state = "Created") {
  Value node_contract = Value::Composite({{"node_id", Value::U(node)},
                                          {"deployment_hash", Value::Bytes(kHashAscii)},
                                          {"deployment_data", Value::Bytes("{}")},
                                          {"public_ips", Value::U(0)},
                                          {"public_ips_list", Value::Sequence({})}});
  Value st = state == "GracePeriod" ? Value::Enum("GracePeriod", {{"", Value::U(777)}})
             : state == "Deleted"   ? Value::Enum("Deleted", {{"", Value::Enum("CanceledByUser")}})
                                    : Value::Enum(state);
  return Value::Composite({{"version", Value::U(4)},
                           {"state", st},
                           {"contract_id", Value::U(id)},
                           {"twin_id", Value::U(9)},
                           {"contract_type", Value::Enum("NodeContract", {{"", node_contract}})},
                           {"solution_provider_id", Value::None()}});
}
Value TwinValue(uint32_t id, const PublicKey& pk, std::optional<std::string> relay) {
  return Value::Composite({{"id", Value::U(id)},
                           {"account_id", Value::Bytes(std::string(reinterpret_cast<const char*>(pk.data()), 32))},
                           {"relay", relay ? Value::Some(Value::Bytes(*relay)) : Value::None()},
                           {"entities", Value::Sequence({})},
                           {"pk", Value::None()}});
}

class TfchainClientTest : public ::testing::Test {
 protected:
  void SetUp() override { TfchainClient::ClearMetadataCacheForTesting(); }

  std::unique_ptr<TfchainClient> Client(FakeNode& node, bool immortal = true,
                                        std::chrono::milliseconds submit_timeout = std::chrono::milliseconds(5000)) {
    TfchainClientOptions o;
    o.url = node.url();
    o.immortal = immortal;
    o.submit_timeout = submit_timeout;
    o.call_timeout = std::chrono::milliseconds(5000);
    auto c = TfchainClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(*c);
  }
};

// ---- calls and the signing payload: GRID-V3 §7.1 byte for byte ----

TEST_F(TfchainClientTest, CallsEqualGridV3Vectors) {
  FakeNode node;
  auto c = Client(node);
  EXPECT_EQ(HexEncode(c->CreateTwin(std::string("relay.grid.tf"), std::nullopt).value().bytes),
            "1911013472656c61792e677269642e746600");
  EXPECT_EQ(HexEncode(c->UserAcceptTc(kTermsAndConditionsLink, "abc").value().bytes),
            "1919a868747470733a2f2f6c6962726172792e7468726565666f6c642e6d652f696e666f2f6c6567616c2f232f0c616263");
  auto cnc = c->CreateNodeContract(11, kHashAscii, "{}", 0);
  ASSERT_TRUE(cnc.ok()) << cnc.status().ToString();
  EXPECT_EQ(HexEncode(cnc->bytes), kCnc);
  EXPECT_EQ(HexEncode(c->UpdateNodeContract(42, kHashAscii, "{}").value().bytes),
            "1a012a00000000000000" + HexEncode(kHashAscii) + "087b7d");
  EXPECT_EQ(HexEncode(c->CancelContract(42).value().bytes), "1a022a00000000000000");
  auto batch = c->BatchAll({*cnc, c->CancelContract(5).value()});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(HexEncode(batch->bytes), std::string("030208") + kCnc + "1a020500000000000000");
  auto transfer = c->TransferKeepAlive(VectorKey().public_key(), 10'000'000);
  ASSERT_TRUE(transfer.ok()) << transfer.status().ToString();
  EXPECT_EQ(HexEncode(transfer->bytes),
            "140300ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c025a6202");
  // A deployment_hash that is not 32 bytes is refused by the metadata's type.
  EXPECT_FALSE(c->CreateNodeContract(11, "short", "{}", 0).ok());
}

TEST_F(TfchainClientTest, SigningPayloadAndSignedExtrinsicEqualGridV3) {
  FakeNode node;  // genesis 0x11 x 32, spec 152, tx 2, next index 0
  auto c = Client(node, /*immortal=*/true);
  Ed25519Key key = VectorKey();
  auto cnc = c->CreateNodeContract(11, kHashAscii, "{}", 0).value();
  auto p = c->Prepare(key.public_key(), {cnc});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::string genesis(64, '1');
  EXPECT_EQ(HexEncode(p->payload), std::string(kCnc) + "000000" + "98000000" + "02000000" + genesis + genesis);
  EXPECT_EQ(p->payload.size(), 121u);
  EXPECT_EQ(p->to_sign, p->payload);  // <= 256 bytes: not hashed
  EXPECT_EQ(node.last_nonce_account, "5HMuAqymF33H73ZiBpmZ3TigFzHCopV9doyb9UfQdyDgZMUp");
  // The phone signs the payload bytes; Assemble checks and builds.
  auto x = c->Assemble(*p, key.Sign(p->to_sign));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(HexEncode(*x),
            "5102" "84" "00" "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
            "00" "a97a6d84d0239efa4801f7fa7f5116102c834542597b3595f37557ea534ba39ab4685356e36f8faecc6fadaf9ddeb4065380dde661294738291cf3f804e2cd0c"
            "00" "00" "00" + std::string(kCnc));
  // A signature of other bytes, or by another key, is refused before submit.
  auto wrong = c->Assemble(*p, key.Sign("other bytes"));
  EXPECT_EQ(wrong.status().code(), Status::Code::kUnauthenticated) << wrong.status().ToString();
  EXPECT_EQ(c->Assemble(*p, "short").status().code(), Status::Code::kInvalidArgument);
  std::array<uint8_t, 32> seed8;
  seed8.fill(0x08);
  EXPECT_EQ(c->Assemble(*p, Ed25519Key::FromSeed(seed8).Sign(p->to_sign)).status().code(),
            Status::Code::kUnauthenticated);
}

TEST_F(TfchainClientTest, LongPayloadIsHashedAndMortalEraFromFinalizedHead) {
  FakeNode node;
  node.next_index = 5;
  auto c = Client(node, /*immortal=*/false);
  Ed25519Key key = VectorKey();
  std::vector<EncodedCall> calls;
  for (uint64_t i = 0; i < 6; ++i) calls.push_back(c->CreateNodeContract(11, kHashAscii, std::string(20, 'x'), 0).value());
  auto p = c->Prepare(key.public_key(), calls);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT(p->payload.size(), 256u);
  EXPECT_EQ(p->to_sign, tf::Blake2_256(p->payload));
  EXPECT_EQ(p->call.substr(0, 2), std::string("\x03\x02", 2));  // Utility.batch_all
  // Era mortal(1000, 64) = 0x8502, nonce 5 = compact 0x14, tip 0; the era's
  // block hash (the finalized head 0x22..) ends the payload.
  const std::string tail = p->payload.substr(p->call.size());
  EXPECT_EQ(HexEncode(tail.substr(0, 4)), "85021400");
  EXPECT_EQ(tail.substr(tail.size() - 32), std::string(32, '\x22'));
  auto x = c->Assemble(*p, key.Sign(p->to_sign));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  auto decoded = tf::DecodeExtrinsic(node.metadata(), *x);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->extra.nonce, 5u);
  EXPECT_FALSE(decoded->extra.era.immortal);
  EXPECT_TRUE(tf::VerifyExtrinsic(node.metadata(), *decoded, p->chain).ok());
}

// ---- reads ----

TEST_F(TfchainClientTest, ReadsDecodeGoldenKeysAndValues) {
  FakeNode node;
  const PublicKey pk = VectorKey().public_key();
  const std::string pk_raw(reinterpret_cast<const char*>(pk.data()), 32);
  // Keys as GRID-V3 §7.1 lists them (not computed by the code under test).
  const std::string sys = Unhex("26aa394eea5630e07c48ae0c9558cef7");
  const std::string tfgrid = Unhex("19a2526838feefd7695a3b5715b415b1");
  const std::string scm = Unhex("44cb2e51a1811cda53a74b4395e03d57");
  const std::string b2pk = Unhex("3fc6400554884a5a14367e32e3e46885");
  // System.Account: nonce 3, free 123.5 TFT, reserved 7, frozen 1 TFT.
  tf::Encoder acc;
  for (uint32_t v : {3u, 1u, 1u, 0u}) acc.U32(v);
  acc.U128(tf::u128(1'235'000'000));
  acc.U128(7);
  acc.U128(10'000'000);
  acc.U128(0);
  node.Put(sys + Unhex("b99d880ec681799c0cf30e8886371da9") + b2pk + pk_raw, acc.Take());
  node.Put(tfgrid + Unhex("aca6514962aa3f0d58aff3524045f9e0") + b2pk + pk_raw, std::string("\x07\0\0\0", 4));
  node.Put(tfgrid + Unhex("311378229266fc86f673a3f4cf398e69") + Unhex("99850724010e3222888eeb8478c9ffd307000000"),
           tf::EncodeValueBytes(node.metadata().registry, node.ValueType("TfgridModule", "Twins"),
                                TwinValue(7, pk, "relay.grid.tf"))
               .value());
  node.Put(scm + Unhex("4342193e496fab7ec59d615ed0dc5530") + Unhex("3c182333ed1800191f83a7d04a0ef58b2a00000000000000"),
           tf::EncodeValueBytes(node.metadata().registry, node.ValueType("SmartContractModule", "Contracts"),
                                ContractValue(42, 11, "GracePeriod"))
               .value());
  node.Put(scm + Unhex("909385366f0e1dfc293f0a45f60df2d7") + Unhex("3436db8bf2d563cb5d2999a82809eded0b000000") +
               Unhex("a55798dd7966ed4b45bd53202cf7a982") + kHashAscii,
           std::string("\x2a\0\0\0\0\0\0\0", 8));
  auto c = Client(node);

  auto a = c->Account(pk);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->nonce, 3u);
  EXPECT_TRUE(a->free == tf::u128(1'235'000'000));
  EXPECT_TRUE(a->reserved == 7);
  EXPECT_TRUE(a->frozen == tf::u128(kUnitsPerTft));
  std::array<uint8_t, 32> other_seed;
  other_seed.fill(0x01);
  auto empty = c->Account(Ed25519Key::FromSeed(other_seed).public_key());  // Default entry: zeros
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->free == 0);

  EXPECT_EQ(c->TwinIdByAccountId(pk).value(), 7u);
  EXPECT_EQ(c->TwinIdByAccountId(Ed25519Key::FromSeed(other_seed).public_key()).status().code(),
            Status::Code::kNotFound);
  auto twin = c->Twin(7);
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  EXPECT_EQ(twin->id, 7u);
  EXPECT_EQ(twin->account, pk);
  EXPECT_EQ(twin->relay, std::optional<std::string>("relay.grid.tf"));
  EXPECT_FALSE(twin->pk.has_value());
  EXPECT_EQ(c->Twin(8).status().code(), Status::Code::kNotFound);

  auto k = c->Contract(42);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->contract_id, 42u);
  EXPECT_EQ(k->state, "GracePeriod");
  EXPECT_EQ(k->grace_period_block, 777u);
  EXPECT_EQ(k->type, "NodeContract");
  EXPECT_EQ(k->node_id, 11u);
  EXPECT_EQ(k->deployment_hash, kHashAscii);
  EXPECT_EQ(k->deployment_data, "{}");
  EXPECT_EQ(c->Contract(43).status().code(), Status::Code::kNotFound);

  EXPECT_EQ(c->ContractIdByNodeIdAndHash(11, kHashAscii).value(), 42u);
  EXPECT_EQ(c->ContractIdByNodeIdAndHash(12, kHashAscii).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(c->ContractIdByNodeIdAndHash(11, "short").status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(c->AcceptedTermsAndConditions(pk).value());
}

TEST_F(TfchainClientTest, BatchReadsUseQueryStorageAtAndActiveContracts) {
  FakeNode node;
  const auto& m = node.metadata();
  for (uint64_t id : {5u, 6u})
    node.Put(tf::StorageKey(m, "SmartContractModule", "Contracts", {Value::U(id)}).value(),
             tf::EncodeValueBytes(m.registry, node.ValueType("SmartContractModule", "Contracts"),
                                  ContractValue(id, 11, id == 6 ? "Deleted" : "Created"))
                 .value());
  tf::Encoder active;
  active.Compact(2);
  active.U64(5);
  active.U64(6);
  node.Put(tf::StorageKey(m, "SmartContractModule", "ActiveNodeContracts", {Value::U(11)}).value(), active.Take());
  auto c = Client(node);
  EXPECT_EQ(c->ActiveNodeContracts(11).value(), (std::vector<uint64_t>{5, 6}));
  EXPECT_TRUE(c->ActiveNodeContracts(12).value().empty());
  auto all = c->Contracts({5, 99, 6});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  ASSERT_TRUE((*all)[0].has_value());
  EXPECT_EQ((*all)[0]->state, "Created");
  EXPECT_FALSE((*all)[1].has_value());
  ASSERT_TRUE((*all)[2].has_value());
  EXPECT_EQ((*all)[2]->state, "Deleted");
  EXPECT_EQ((*all)[2]->deleted_cause, "CanceledByUser");
  EXPECT_EQ(node.query_storage_at_calls, 1);
}

// ---- pricing ----

// A TfgridModule.PricingPolicies value written by hand in
// pallet_tfgrid::types::PricingPolicy's layout.
std::string PolicyBytes(uint32_t id, uint32_t su_value, uint8_t su_unit) {
  tf::Encoder e;
  e.U32(1);
  e.U32(id);
  e.Bytes("threefold_default_pricing_policy");
  e.U32(su_value);
  e.U8(su_unit);
  for (int i = 0; i < 5; ++i) {  // cu, nu, ipu, unique_name, domain_name
    e.U32(100000);
    e.U8(3);
  }
  e.Raw(std::string(64, '\x01'));  // foundation_account, certified_sales_account
  e.U8(50);
  return e.Take();
}
std::string Le32(uint32_t v) {
  tf::Encoder e;
  e.U32(v);
  return e.Take();
}

TEST_F(TfchainClientTest, PricingReadsThePolicyAndTheBillingTftPriceInOneQuery) {
  FakeNode node;
  // Keys computed outside qstor (xxhash64 / blake2b-128 of the names).
  const std::string policy1 = Unhex("19a2526838feefd7695a3b5715b415b1" "2ce48a8d64ed338e33faeae645d493d3"
                                    "d82c12285b5d4551f88e8f6e7eb52b81" "01000000");
  const std::string price = Unhex("d110469680c238196d735e80e7c80523");
  const std::string current = price + Unhex("7bc77304ed8c88d024844d62633f8e38");
  const std::string average = price + Unhex("de1f6b88d9a05ccc921f1dfb4989cfc9");
  const std::string min = price + Unhex("8ed7c5e48b329812ffb5014553ac2d9c");
  const std::string max = price + Unhex("616c5eaf5455112717fc4ea731172137");
  node.Put(policy1, PolicyBytes(1, 50000, 3));  // 0.005 USD per GB-su per hour
  node.Put(current, Le32(99));                  // the spot price: not what billing uses
  node.Put(average, Le32(25));
  node.Put(min, Le32(30));                      // raises the average
  node.Put(max, Le32(1000));
  auto c = Client(node);

  auto cp = c->ReadChainPricing();
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->su_value, 50000u);
  EXPECT_EQ(cp->su_unit, "Gigabytes");
  EXPECT_EQ(cp->tft_price_musd, 30u);
  EXPECT_EQ(node.query_storage_at_calls, 1);
  auto p = c->Pricing();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->su_usd_per_hour, 0.005);
  EXPECT_EQ(p->tft_usd, 0.03);
  EXPECT_TRUE(p->bridge_address.empty());
  EXPECT_EQ(node.query_storage_at_calls, 2);

  node.Put(min, Le32(10));  // the average within its bounds
  EXPECT_EQ(c->Pricing().value().tft_usd, 0.025);
  node.Put(max, Le32(20));  // lowered to the max
  EXPECT_EQ(c->Pricing().value().tft_usd, 0.02);
  node.Put(max, Le32(1000));
  node.Put(policy1, PolicyBytes(1, 51200000, 4));  // per TB-su: the same GiB price
  EXPECT_EQ(c->Pricing().value().su_usd_per_hour, 0.005);

  // Another policy id: absent.
  auto two = c->Pricing(2);
  EXPECT_EQ(two.status().code(), Status::Code::kNotFound) << two.status().ToString();
  EXPECT_NE(two.status().message().find("pricing policy 2"), std::string::npos) << two.status().ToString();

  // Bad bytes name the entry.
  node.Put(policy1, PolicyBytes(1, 50000, 3).substr(0, 20));
  auto trunc = c->Pricing();
  EXPECT_EQ(trunc.status().code(), Status::Code::kCorruption) << trunc.status().ToString();
  EXPECT_NE(trunc.status().message().find("TfgridModule.PricingPolicies(1)"), std::string::npos)
      << trunc.status().ToString();
  node.Put(policy1, PolicyBytes(1, 50000, 7));  // no Unit variant 7
  EXPECT_EQ(c->Pricing().status().code(), Status::Code::kCorruption);
  node.Put(policy1, PolicyBytes(1, 50000, 3));
  node.Put(average, "\x19\0");
  auto short_price = c->Pricing();
  EXPECT_EQ(short_price.status().code(), Status::Code::kCorruption) << short_price.status().ToString();
  EXPECT_NE(short_price.status().message().find("TFTPriceModule.AverageTftPrice"), std::string::npos)
      << short_price.status().ToString();

  // A chain without TFT prices (ValueQuery defaults 0): billing cannot run.
  for (const auto* k : {&average, &min, &max}) node.storage.erase(Hex0x(*k));
  auto none = c->ReadChainPricing();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->tft_price_musd, 0u);
  auto no_price = c->Pricing();
  EXPECT_EQ(no_price.status().code(), Status::Code::kFailedPrecondition) << no_price.status().ToString();
}

// ---- submit ----

TEST_F(TfchainClientTest, SubmitSuccessReturnsContractIdsInCallOrder) {
  FakeNode node;
  node.on_submit = [](const std::string&) {
    Script s;
    s.statuses = {"ready", json{{"broadcast", json::array({"peer"})}}, json{{"inBlock", "$block"}}};
    s.events = Value::Sequence({
        Record(0, "SmartContractModule", "ContractCreated", {{"", ContractValue(99, 3)}}),  // someone else's
        Record(0, "System", "ExtrinsicSuccess", {{"dispatch_info", DispatchInfo()}}),
        Record(1, "SmartContractModule", "ContractCreated", {{"", ContractValue(5, 11)}}),
        Record(1, "SmartContractModule", "ContractCreated", {{"", ContractValue(6, 12)}}),
        Record(1, "Utility", "BatchCompleted", {}),
        Record(1, "System", "ExtrinsicSuccess", {{"dispatch_info", DispatchInfo()}}),
    });
    return s;
  };
  auto c = Client(node);
  Ed25519Key key = VectorKey();
  auto r = c->SignAndSubmit(key, {c->CreateNodeContract(11, kHashAscii, "{}", 0).value(),
                                  c->CreateNodeContract(12, kHashAscii, "{}", 0).value()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->contract_ids, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(r->extrinsic_index, 1u);
  EXPECT_FALSE(r->finalized);
  EXPECT_EQ(r->block_hash, Hex0x(std::string(31, '\x55') + '\x01'));
  EXPECT_EQ(r->events.size(), 4u);
  ASSERT_EQ(node.submitted.size(), 1u);
  EXPECT_EQ(r->extrinsic_hash, Hex0x(tf::Blake2_256(node.submitted[0])));
  // What reached the node is a signed batch_all that verifies.
  auto d = tf::DecodeExtrinsic(node.metadata(), node.submitted[0]);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->call.substr(0, 2), std::string("\x03\x02", 2));
}

TEST_F(TfchainClientTest, WaitFinalizedFollowsRetraction) {
  FakeNode node;
  node.on_submit = [](const std::string&) {
    Script s;
    s.statuses = {"ready", json{{"inBlock", "0x" + std::string(64, 'e')}},
                  json{{"retracted", "0x" + std::string(64, 'e')}}, json{{"inBlock", "$block"}},
                  json{{"finalized", "$block"}}};
    s.events = Value::Sequence({Record(1, "System", "ExtrinsicSuccess", {{"dispatch_info", DispatchInfo()}})});
    return s;
  };
  TfchainClientOptions o;
  o.url = node.url();
  o.immortal = true;
  o.wait_finalized = true;
  auto c = TfchainClient::Create(o).value();
  auto r = c->SignAndSubmit(VectorKey(), {c->CancelContract(5).value()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->finalized);
  EXPECT_EQ(r->block_hash, Hex0x(std::string(31, '\x55') + '\x01'));
  EXPECT_TRUE(r->contract_ids.empty());
}

TEST_F(TfchainClientTest, ExtrinsicFailedNamesThePalletError) {
  FakeNode node;
  const auto& m = node.metadata();
  const uint8_t scm = m.FindPallet("SmartContractModule")->index;
  const uint8_t not_unique = m.FindError("SmartContractModule", "ContractIsNotUnique").value()->index;
  node.on_submit = [&](const std::string&) {
    Script s;
    s.statuses = {"ready", json{{"inBlock", "$block"}}};
    Value err = Value::Enum("Module", {{"", Value::Composite({{"index", Value::U(scm)},
                                                              {"error", Value::Bytes(std::string{char(not_unique), 0, 0, 0})}})}});
    s.events = Value::Sequence({Record(1, "System", "ExtrinsicFailed",
                                       {{"dispatch_error", err}, {"dispatch_info", DispatchInfo()}})});
    return s;
  };
  auto c = Client(node);
  auto r = c->SignAndSubmit(VectorKey(), {c->CreateNodeContract(11, kHashAscii, "{}", 0).value()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(r.status().message().find("SmartContractModule.ContractIsNotUnique"), std::string::npos)
      << r.status().message();
}

TEST_F(TfchainClientTest, DispatchFailureCodes) {
  EXPECT_EQ(DispatchFailure("SmartContractModule.ContractNotExists", "x").code(), Status::Code::kNotFound);
  EXPECT_EQ(DispatchFailure("TfgridModule.TwinNotExists", "x").code(), Status::Code::kNotFound);
  EXPECT_EQ(DispatchFailure("SmartContractModule.ContractIsNotUnique", "x").code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(DispatchFailure("BadOrigin", "x").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(DispatchFailure("SmartContractModule.TwinNotAuthorizedToCancelContract", "x").code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(DispatchFailure("Token.FundsUnavailable", "x").code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(DispatchFailure("Token.FundsUnavailable", "ctx").message(), "ctx: Token.FundsUnavailable");
}

TEST_F(TfchainClientTest, InvalidDroppedUsurpedAnd1010) {
  struct Case {
    json status;
    Status::Code code;
    const char* words;
  };
  for (const Case& k : {Case{"invalid", Status::Code::kFailedPrecondition, "invalid"},
                        Case{"dropped", Status::Code::kUnavailable, "dropped"},
                        Case{json{{"usurped", "0x" + std::string(64, 'a')}}, Status::Code::kFailedPrecondition, "usurped"},
                        Case{json{{"finalityTimeout", "$block"}}, Status::Code::kTimeout, "outcome unknown"},
                        Case{json{{"weird", 1}}, Status::Code::kProtocol, "unknown author_extrinsicUpdate"}}) {
    TfchainClient::ClearMetadataCacheForTesting();
    FakeNode node;
    node.on_submit = [&](const std::string&) {
      Script s;
      s.statuses = {"ready", k.status};
      return s;
    };
    auto c = Client(node);
    auto r = c->SignAndSubmit(VectorKey(), {c->CancelContract(5).value()});
    ASSERT_FALSE(r.ok()) << k.status.dump();
    EXPECT_EQ(r.status().code(), k.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(k.words), std::string::npos) << r.status().ToString();
  }
  TfchainClient::ClearMetadataCacheForTesting();
  FakeNode node;
  node.on_submit = [](const std::string&) {
    Script s;
    s.refuse_1010 = true;
    return s;
  };
  auto c = Client(node);
  auto r = c->SignAndSubmit(VectorKey(), {c->CancelContract(5).value()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("1010"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("Invalid Transaction"), std::string::npos) << r.status().ToString();
}

TEST_F(TfchainClientTest, ConnectionLostMidWatchIsOutcomeUnknown) {
  FakeNode node;
  node.on_submit = [](const std::string&) {
    Script s;
    s.statuses = {"ready"};  // then nothing: the node goes away
    return s;
  };
  auto c = Client(node);
  auto call = c->CancelContract(5).value();
  Result<SubmitResult> r = Status::Internal("not run");
  std::thread t([&] { r = c->SignAndSubmit(VectorKey(), {call}); });
  node.WaitSubmit();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  node.Stop();
  t.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find(kOutcomeUnknown), std::string::npos) << r.status().ToString();
}

TEST_F(TfchainClientTest, NoInclusionWithinTimeoutIsOutcomeUnknown) {
  FakeNode node;
  node.on_submit = [](const std::string&) {
    Script s;
    s.statuses = {"ready"};
    return s;
  };
  auto c = Client(node, true, std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  auto r = c->SignAndSubmit(VectorKey(), {c->CancelContract(5).value()});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout) << r.status().ToString();
  EXPECT_NE(r.status().message().find(kOutcomeUnknown), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(3));
}

// ---- runtime facts ----

TEST_F(TfchainClientTest, UnknownSignedExtensionIsRefused) {
  tf::Metadata m = devnet::BuildDevnetRuntimeMetadata();
  // An extension with a u32 payload nobody knows how to fill.
  tf::TypeId u32 = 0;
  for (const auto& t : m.registry.types)
    if (auto* p = std::get_if<tf::TypeDefPrimitive>(&t.type.def); p && p->primitive == tf::Primitive::kU32) u32 = t.id;
  tf::TypeId unit = m.extrinsic.signed_extensions.front().additional_signed;  // () in CheckNonZeroSender
  m.extrinsic.signed_extensions.push_back({"CheckSomethingNew", u32, unit});
  FakeNode node(std::move(m));
  auto c = Client(node);
  auto st = c->Chain();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(st.status().message().find("CheckSomethingNew"), std::string::npos) << st.status().ToString();
  // Nothing can be built or signed against it.
  EXPECT_FALSE(c->CancelContract(1).ok());
}

TEST_F(TfchainClientTest, MetadataCachedPerUrlAndReReadOnSpecChange) {
  FakeNode node;
  auto c1 = Client(node);
  auto c2 = Client(node);
  ASSERT_TRUE(c1->Chain().ok());
  ASSERT_TRUE(c2->Chain().ok());
  ASSERT_TRUE(c1->CancelContract(1).ok());
  EXPECT_EQ(node.MetadataReads(), 1);  // once per process per URL
  auto st = c1->Chain().value();
  EXPECT_EQ(st.spec_version, 152u);
  EXPECT_EQ(st.tx_version, 2u);
  EXPECT_EQ(st.genesis_hex, Hex0x(std::string(32, '\x11')));
  // Same spec: a refresh re-reads the version only.
  ASSERT_TRUE(c1->Prepare(VectorKey().public_key(), {c1->CancelContract(1).value()}).ok());
  EXPECT_EQ(node.MetadataReads(), 1);
  // A runtime upgrade: the next extrinsic signs with the new spec and metadata.
  node.SetSpec(153);
  auto p = c1->Prepare(VectorKey().public_key(), {c1->CancelContract(1).value()});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(node.MetadataReads(), 2);
  EXPECT_EQ(p->spec_version, 153u);
  EXPECT_EQ(p->chain.spec_version, 153u);
  EXPECT_EQ(c2->Chain(true).value().spec_version, 153u);
  EXPECT_EQ(node.MetadataReads(), 2);  // the other client of the URL shares it
}

TEST_F(TfchainClientTest, EnsureTwinBatchesTermsAndCreateThenUpdates) {
  FakeNode node;
  Ed25519Key key = VectorKey();
  const PublicKey pk = key.public_key();
  const auto& m = node.metadata();
  const std::string twin_key = tf::StorageKey(m, "TfgridModule", "Twins", {Value::U(7)}).value();
  node.on_submit = [&](const std::string& xt) {
    Script s;
    s.statuses = {"ready", json{{"inBlock", "$block"}}};
    auto d = tf::DecodeExtrinsic(m, xt).value();
    const std::string call_hex = HexEncode(d.call);
    Value twin = TwinValue(7, pk, std::string(call_hex.find(HexEncode("relay.two")) != std::string::npos
                                                  ? "relay.two" : "relay.grid.tf"));
    // The chain's effects (storage) and events.
    node.storage[Hex0x(tf::StorageKeyEncoded(m, "TfgridModule", "TwinIdByAccountID",
                                             {std::string(reinterpret_cast<const char*>(pk.data()), 32)})
                           .value())] = std::string("\x07\0\0\0", 4);
    node.storage[Hex0x(twin_key)] =
        tf::EncodeValueBytes(m.registry, node.ValueType("TfgridModule", "Twins"), twin).value();
    s.events = Value::Sequence({Record(1, "TfgridModule", "TwinStored", {{"", twin}}),
                                Record(1, "System", "ExtrinsicSuccess", {{"dispatch_info", DispatchInfo()}})});
    return s;
  };
  auto c = Client(node);
  auto r = c->EnsureTwin(key, std::string("relay.grid.tf"), std::nullopt, kTermsAndConditionsLink, "abc");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->accepted_tc);
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->twin.id, 7u);
  EXPECT_EQ(r->twin.relay, std::optional<std::string>("relay.grid.tf"));
  ASSERT_EQ(node.submitted.size(), 1u);  // both in one batch_all
  auto d = tf::DecodeExtrinsic(m, node.submitted[0]).value();
  EXPECT_EQ(HexEncode(d.call),
            "030208" + HexEncode(c->UserAcceptTc(kTermsAndConditionsLink, "abc").value().bytes) +
                "1911013472656c61792e677269642e746600");
  // Same relay and pk: nothing to do.
  auto same = c->EnsureTwin(key, std::string("relay.grid.tf"), std::nullopt, kTermsAndConditionsLink, "abc");
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_FALSE(same->created || same->updated || same->accepted_tc);
  EXPECT_EQ(node.submitted.size(), 1u);
  // Another relay: update_twin.
  auto moved = c->EnsureTwin(key, std::string("relay.two"), std::nullopt, kTermsAndConditionsLink, "abc");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_TRUE(moved->updated);
  EXPECT_EQ(moved->twin.relay, std::optional<std::string>("relay.two"));
  ASSERT_EQ(node.submitted.size(), 2u);
  auto d2 = tf::DecodeExtrinsic(m, node.submitted[1]).value();
  EXPECT_EQ(HexEncode(d2.call), HexEncode(c->UpdateTwin(std::string("relay.two"), std::nullopt).value().bytes));
  EXPECT_EQ(d2.call.substr(0, 2), std::string("\x19\x12", 2));  // TfgridModule.update_twin [25,18]
}

// Against a running chain (the devnet's TFChain node, or a real network with
// a funded ed25519 account): set QSTOR_TFCHAIN_URL (ws://...), QSTOR_TFCHAIN_SEED
// (64 hex chars, an account holding some TFT) and, for the contract round
// trip, QSTOR_TFCHAIN_NODE (a node id the account may deploy on). Skipped
// loudly without them.
TEST(TfchainClientLive, TwinAndContractRoundTrip) {
  const char* url = std::getenv("QSTOR_TFCHAIN_URL");
  const char* seed = std::getenv("QSTOR_TFCHAIN_SEED");
  if (url == nullptr || seed == nullptr || !*url || !*seed)
    GTEST_SKIP() << "SKIPPED: set QSTOR_TFCHAIN_URL and QSTOR_TFCHAIN_SEED to run against a chain";
  auto key = Ed25519Key::FromSeedHex(seed);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  TfchainClientOptions o;
  o.url = url;
  auto c = TfchainClient::Create(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto chain = (*c)->Chain();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_GT(chain->spec_version, 0u);
  auto pricing = (*c)->Pricing();  // policy 1 and the billing TFT price
  ASSERT_TRUE(pricing.ok()) << pricing.status().ToString();
  EXPECT_GT(pricing->su_usd_per_hour, 0.0);
  EXPECT_GT(pricing->tft_usd, 0.0);
  auto acc = (*c)->Account(key->public_key());
  ASSERT_TRUE(acc.ok()) << acc.status().ToString();
  EXPECT_GT(acc->free, tf::u128(0)) << "fund " << Ss58Address(key->public_key()) << " first";
  auto twin = (*c)->EnsureTwin(*key, std::string("relay.example.org"), std::nullopt, kTermsAndConditionsLink,
                               "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  EXPECT_EQ((*c)->TwinIdByAccountId(key->public_key()).value(), twin->twin.id);
  EXPECT_TRUE((*c)->AcceptedTermsAndConditions(key->public_key()).value());
  const char* node_env = std::getenv("QSTOR_TFCHAIN_NODE");
  if (node_env == nullptr || !*node_env) return;
  const uint32_t node = uint32_t(std::stoul(node_env));
  std::string hash = HexEncode(tf::Blake2_128(std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())));
  auto created = (*c)->SignAndSubmit(*key, {(*c)->CreateNodeContract(node, hash, "{}", 0).value()});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ(created->contract_ids.size(), 1u);
  const uint64_t id = created->contract_ids[0];
  auto k = (*c)->Contract(id);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->state, "Created");
  EXPECT_EQ(k->node_id, node);
  EXPECT_EQ(k->twin_id, twin->twin.id);
  EXPECT_EQ((*c)->ContractIdByNodeIdAndHash(node, hash).value(), id);
  auto twice = (*c)->SignAndSubmit(*key, {(*c)->CreateNodeContract(node, hash, "{}", 0).value()});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("SmartContractModule.ContractIsNotUnique"), std::string::npos)
      << twice.status().ToString();
  auto cancelled = (*c)->SignAndSubmit(*key, {(*c)->CancelContract(id).value()});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  auto after = (*c)->Contract(id);
  EXPECT_TRUE(!after.ok() || after->state == "Deleted") << after.status().ToString();
}

TEST(ExtrinsicStatusParse, AllSubstrateStatuses) {
  using K = ExtrinsicStatus::Kind;
  EXPECT_EQ(ParseExtrinsicStatus("future").kind, K::kFuture);
  EXPECT_EQ(ParseExtrinsicStatus("ready").kind, K::kReady);
  EXPECT_EQ(ParseExtrinsicStatus("dropped").kind, K::kDropped);
  EXPECT_EQ(ParseExtrinsicStatus("invalid").kind, K::kInvalid);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"broadcast", json::array({"a"})}}).kind, K::kBroadcast);
  auto ib = ParseExtrinsicStatus(json{{"inBlock", "0xab"}});
  EXPECT_EQ(ib.kind, K::kInBlock);
  EXPECT_EQ(ib.block_hash, "0xab");
  EXPECT_EQ(ParseExtrinsicStatus(json{{"finalized", "0xab"}}).kind, K::kFinalized);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"retracted", "0xab"}}).kind, K::kRetracted);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"finalityTimeout", "0xab"}}).kind, K::kFinalityTimeout);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"usurped", "0xab"}}).kind, K::kUsurped);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"inBlock", 5}}).kind, K::kUnknown);
  EXPECT_EQ(ParseExtrinsicStatus(json{{"inBlock", "0x1"}, {"x", 1}}).kind, K::kUnknown);
  EXPECT_EQ(ParseExtrinsicStatus(json(nullptr)).kind, K::kUnknown);
  EXPECT_EQ(ParseExtrinsicStatus("nonsense").kind, K::kUnknown);
}

}  // namespace
}  // namespace qstor::grid
