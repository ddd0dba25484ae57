#include "devnet/tfchain_node.h"

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devnet/jsonrpc_ws_server.h"
#include "devnet/tfchain_runtime.h"
#include "grid/crypto.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/scale.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

namespace qstor::devnet {

namespace tf = qstor::tfchain;
using nlohmann::json;
using tf::NamedValue;
using tf::Value;

namespace {

constexpr const char* kChainName = "ThreeFold Devnet (qstor)";
constexpr const char* kNodeName = "qstor-devnet-tfchain";
constexpr const char* kNodeVersion = "2.9.0-qstor-devnet";
constexpr const char* kHeadMetaKey = "chain_head";
// Bounds of TFChain's BoundedVec arguments (a longer one fails to decode).
constexpr size_t kMaxDeploymentData = 512;
constexpr size_t kMaxRelay = 1024;
constexpr size_t kMaxPk = 128;
constexpr size_t kMaxDocumentLink = 2048;
constexpr size_t kMaxDocumentHash = 50;
constexpr size_t kMaxPool = 8192;
// A deferred note that sends a storage subscription's first change set.
constexpr const char* kInitialStorage = "(initial state_storage)";

std::string Blake2b256(std::string_view data) {
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), 32,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return out;
}

std::string Hex0x(std::string_view bytes) { return "0x" + tf::ToHex(bytes); }

std::string NumberHex(uint64_t n) { return fmt::format("0x{:x}", n); }

std::string AccountBytes(const AccountKey& k) { return std::string(k.begin(), k.end()); }

AccountKey ToAccountKey(std::string_view b) {
  AccountKey k{};
  std::copy_n(b.begin(), std::min<size_t>(32, b.size()), k.begin());
  return k;
}

JsonRpcError RpcError(int code, std::string message, json data = nullptr) {
  JsonRpcError e;
  e.code = code;
  e.message = std::move(message);
  e.data = std::move(data);
  return e;
}

// Substrate's author errors (client/rpc-api/src/author/error.rs) and
// InvalidTransaction texts (sp_runtime::transaction_validity).
JsonRpcError InvalidTx(const char* text) { return RpcError(1010, "Invalid Transaction", text); }
constexpr const char* kBadProof = "Transaction has a bad signature";
constexpr const char* kStale = "Transaction is outdated";
constexpr const char* kFuture = "Transaction will be valid in the future";
constexpr const char* kPayment = "Inability to pay some fees (e.g. account balance too low)";
constexpr const char* kAncient = "Transaction has an ancient birth block";
constexpr const char* kCallNotExpected = "Transaction call is not expected";

// What a runtime that cannot decode the extrinsic answers: the runtime API
// traps while decoding its input and the pool reports a verification error.
JsonRpcError CouldNotDecode(const std::string& detail) {
  std::string inner = "Execution failed: Bad input data provided to validate_transaction: Could not decode `" +
                      detail + "`";
  return RpcError(1002, "Verification Error: Runtime error: " + inner, "RuntimeApi(\"" + inner + "\")");
}

// A value of `type` with every field at its zero/first-variant default.
Value DefaultValue(const tf::Registry& r, tf::TypeId type, int depth = 0) {
  const tf::Type* t = r.Find(type);
  if (t == nullptr || depth > 32) return Value::Unit();
  return std::visit(
      [&](const auto& def) -> Value {
        using D = std::decay_t<decltype(def)>;
        if constexpr (std::is_same_v<D, tf::TypeDefComposite>) {
          std::vector<NamedValue> f;
          for (const auto& field : def.fields)
            f.push_back({field.name.value_or(""), DefaultValue(r, field.type, depth + 1)});
          return Value::Composite(std::move(f));
        } else if constexpr (std::is_same_v<D, tf::TypeDefVariant>) {
          if (def.variants.empty()) return Value::Unit();
          const tf::Variant* first = &def.variants[0];
          for (const auto& v : def.variants)
            if (v.index < first->index) first = &v;
          std::vector<NamedValue> f;
          for (const auto& field : first->fields)
            f.push_back({field.name.value_or(""), DefaultValue(r, field.type, depth + 1)});
          return Value::Enum(first->name, std::move(f));
        } else if constexpr (std::is_same_v<D, tf::TypeDefSequence>) {
          const tf::Type* e = r.Find(def.element);
          if (e && std::holds_alternative<tf::TypeDefPrimitive>(e->def) &&
              std::get<tf::TypeDefPrimitive>(e->def).primitive == tf::Primitive::kU8)
            return Value::Bytes("");
          return Value::Sequence({});
        } else if constexpr (std::is_same_v<D, tf::TypeDefArray>) {
          const tf::Type* e = r.Find(def.element);
          if (e && std::holds_alternative<tf::TypeDefPrimitive>(e->def) &&
              std::get<tf::TypeDefPrimitive>(e->def).primitive == tf::Primitive::kU8)
            return Value::Bytes(std::string(def.len, '\0'));
          std::vector<Value> items;
          for (uint32_t i = 0; i < def.len && i < 4096; ++i) items.push_back(DefaultValue(r, def.element, depth + 1));
          return Value::Sequence(std::move(items));
        } else if constexpr (std::is_same_v<D, tf::TypeDefTuple>) {
          std::vector<Value> items;
          for (auto id : def.fields) items.push_back(DefaultValue(r, id, depth + 1));
          return Value::Tuple(std::move(items));
        } else if constexpr (std::is_same_v<D, tf::TypeDefPrimitive>) {
          switch (def.primitive) {
            case tf::Primitive::kBool: return Value::Bool(false);
            case tf::Primitive::kStr: return Value::Str("");
            case tf::Primitive::kI8:
            case tf::Primitive::kI16:
            case tf::Primitive::kI32:
            case tf::Primitive::kI64:
            case tf::Primitive::kI128: return Value::I(0);
            default: return Value::U(0);
          }
        } else if constexpr (std::is_same_v<D, tf::TypeDefCompact>) {
          return Value::U(0);
        } else {
          return Value::Unit();
        }
      },
      t->def);
}

// Sets the field `name` of a composite/variant value; false when absent.
bool SetField(Value& v, std::string_view name, Value x) {
  for (auto& f : v.fields) {
    if (f.name == name) {
      f.value = std::move(x);
      return true;
    }
  }
  return false;
}

Value* MutField(Value& v, std::string_view name) {
  for (auto& f : v.fields)
    if (f.name == name) return &f.value;
  return nullptr;
}

Value OptBytes(const std::optional<std::string>& b) {
  return b ? Value::Some(Value::Bytes(*b)) : Value::None();
}

struct Block {
  uint32_t number = 0;
  std::string hash;    // 32 bytes
  std::string parent;  // 32 bytes
  std::string state_root, extrinsics_root;
  std::string header;  // SCALE
  std::vector<std::string> extrinsics;  // length-prefixed
  std::string events;  // SCALE Vec<EventRecord>
};

std::string EncodeHeader(const Block& b) {
  tf::Encoder e;
  e.Raw(b.parent);
  e.Compact(b.number);
  e.Raw(b.state_root);
  e.Raw(b.extrinsics_root);
  e.Compact(0);  // digest: no logs
  return e.Take();
}

Status DecodeHeader(std::string_view bytes, Block* b) {
  tf::Decoder d(bytes);
  QSTOR_RETURN_IF_ERROR(d.Fixed(32, &b->parent, "parentHash"));
  QSTOR_RETURN_IF_ERROR(d.CompactU32(&b->number, "number"));
  QSTOR_RETURN_IF_ERROR(d.Fixed(32, &b->state_root, "stateRoot"));
  QSTOR_RETURN_IF_ERROR(d.Fixed(32, &b->extrinsics_root, "extrinsicsRoot"));
  uint64_t logs;
  QSTOR_RETURN_IF_ERROR(d.ReadLength(&logs, 1, "digest"));
  if (logs != 0) return d.Error("digest logs are not expected in a devnet header");
  QSTOR_RETURN_IF_ERROR(d.ExpectEnd("header"));
  b->header = std::string(bytes);
  b->hash = Blake2b256(bytes);
  return Status::OK();
}

json HeaderJson(const Block& b) {
  return json{{"parentHash", Hex0x(b.parent)},
              {"number", NumberHex(b.number)},
              {"stateRoot", Hex0x(b.state_root)},
              {"extrinsicsRoot", Hex0x(b.extrinsics_root)},
              {"digest", {{"logs", json::array()}}}};
}

struct PoolTx {
  std::string bytes;  // length-prefixed
  std::string hash;   // 32 bytes
  AccountKey signer{};
  uint32_t nonce = 0;
  tf::u128 tip = 0;
  Value call;
  std::weak_ptr<JsonRpcConnection> watcher;
  std::string sub_id;
};

struct Subscription {
  std::weak_ptr<JsonRpcConnection> conn;
  std::string method;  // notification method
  // state_subscribeStorage: the keys and the values last sent.
  std::vector<std::string> keys;
  std::map<std::string, std::optional<std::string>> sent;
};

}  // namespace

struct TfchainNode::Impl {
  ChainLedger* ledger = nullptr;
  TfchainNodeOptions opt;
  tf::Metadata meta;
  std::string meta_hex;
  json version_json;
  RuntimeVersion version;
  std::string genesis;  // hash

  std::mutex mu;  // chain data below (taken after the ledger mutex when both)
  std::deque<Block> blocks;  // the last kBlockHashCount, oldest first
  Block genesis_block;
  std::vector<PoolTx> pool;
  std::map<std::string, Subscription> subs;
  struct ReadyNote {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<JsonRpcConnection> conn;
    std::string method, sub;
    json result;
  };
  std::vector<ReadyNote> deferred;

  JsonRpcDispatcher dispatcher;
  std::unique_ptr<JsonRpcWsServer> server;
  std::thread producer;
  std::condition_variable cv;
  bool stopping = false;

  // --- set-up ---
  Status Init();
  const Block& Best() const { return blocks.empty() ? genesis_block : blocks.back(); }
  const Block* FindBlock(std::string_view hash) const;
  const Block* BlockAt(uint64_t number) const;

  // --- RPC ---
  void Register(const std::string& method, JsonRpcHandler h);
  void RegisterAll();
  std::string NewSubId();
  void Subscribe(const JsonRpcConnectionPtr& conn, const std::string& id, const std::string& method);
  void Defer(const JsonRpcConnectionPtr& conn, const std::string& method, const std::string& sub,
             json result, int delay_ms);
  void FlushDeferred(bool all);
  void Broadcast(const std::string& method, const json& result);
  // Pushes state_storage to every storage subscription whose values changed
  // (all of them when `first`); the ledger mutex is held by the caller.
  void PushStorage(const std::string* only_id);
  JsonRpcResult Submit(const json& params, const JsonRpcConnectionPtr& conn, bool watch);

  // --- storage ---
  Result<std::map<std::string, std::string>> EntryMap(const std::string& pallet, const std::string& entry);
  Result<std::optional<std::string>> ReadKey(const std::string& key, const Block* at);
  Result<std::vector<std::string>> AllKeys(const std::string& prefix);

  // --- blocks ---
  Status Produce();
  void Loop();
  Result<Value> MakeEvent(const std::string& pallet, const std::string& event, std::vector<NamedValue> fields);
  Result<Value> ModuleError(const std::string& pallet_dot_error);
  Status Apply(const PoolTx& tx, uint32_t index, std::vector<Value>* records, std::vector<uint64_t>* cancelled,
               bool* success);
  Status DispatchCall(const AccountKey& signer, const Value& call, std::vector<Value>* events,
                      std::vector<uint64_t>* cancelled, std::string* module_error, int depth);
  Result<Value> ContractValue(uint64_t id);
  Result<Value> ContractValueOf(const LedgerContract& c);
  std::mutex produce_mu;  // one block at a time (timer and ProduceBlock)
  std::vector<std::pair<std::weak_ptr<JsonRpcConnection>, std::string>> pending_finalized;
  std::string pending_finalized_hash;
  Result<Value> TwinValue(uint32_t id);
};

// ---------------------------------------------------------------------------
// set-up

const Block* TfchainNode::Impl::FindBlock(std::string_view hash) const {
  if (hash == genesis) return &genesis_block;
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it)
    if (it->hash == hash) return &*it;
  return nullptr;
}

const Block* TfchainNode::Impl::BlockAt(uint64_t number) const {
  if (number == 0) return &genesis_block;
  if (blocks.empty() || number < blocks.front().number || number > blocks.back().number) return nullptr;
  return &blocks[number - blocks.front().number];
}

Status TfchainNode::Impl::Init() {
  meta = BuildDevnetRuntimeMetadata();
  meta_hex = Hex0x(tf::EncodeMetadata(meta));
  version = DevnetRuntimeVersion();
  version_json = RuntimeVersionJson(version);
  std::lock_guard<std::recursive_mutex> lock(ledger->Mutex());
  // Genesis: a deterministic function of the ledger's seed.
  genesis_block.number = 0;
  genesis_block.parent = std::string(32, '\0');
  genesis_block.state_root = Blake2b256("qstor-devnet-genesis-state:" + std::to_string(ledger->Seed()));
  genesis_block.extrinsics_root = Blake2b256("");
  genesis_block.header = EncodeHeader(genesis_block);
  genesis_block.hash = Blake2b256(genesis_block.header);
  genesis = genesis_block.hash;
  auto head = ledger->GetMeta(kHeadMetaKey);
  if (!head.ok()) return head.status();
  if (head->has_value()) {
    auto bytes = tf::FromHex(**head);
    Block b;
    Status s = bytes.ok() ? DecodeHeader(*bytes, &b) : bytes.status();
    if (!s.ok()) return s.WithContext("devnet chain: stored head in the ledger's meta table");
    if (b.number > 0) blocks.push_back(std::move(b));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// events

Result<Value> TfchainNode::Impl::MakeEvent(const std::string& pallet, const std::string& event,
                                           std::vector<NamedValue> fields) {
  auto ev = meta.FindEvent(pallet, event);
  if (!ev.ok()) return ev.status();
  std::vector<NamedValue> out;
  size_t pos = 0;
  for (const auto& f : ev->event->fields) {
    std::string name = f.name.value_or("");
    const NamedValue* given = nullptr;
    for (const auto& nv : fields)
      if (!name.empty() && nv.name == name) given = &nv;
    if (given == nullptr && name.empty() && pos < fields.size()) given = &fields[pos];
    ++pos;
    out.push_back({name, given ? given->value : DefaultValue(meta.registry, f.type)});
  }
  return Value::Enum(pallet, {NamedValue{"", Value::Enum(event, std::move(out))}});
}

Result<Value> TfchainNode::Impl::ModuleError(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos) return Value::Enum("Other");
  std::string pallet = name.substr(0, dot), error = name.substr(dot + 1);
  const tf::Pallet* p = meta.FindPallet(pallet);
  auto v = meta.FindError(pallet, error);
  if (p == nullptr || !v.ok()) {
    return Status::Internal("devnet chain: error " + name + " is not in the served metadata");
  }
  std::string err(4, '\0');
  err[0] = char((*v)->index);
  return Value::Enum("Module", {NamedValue{"", Value::Composite({{"index", Value::U(p->index)},
                                                                   {"error", Value::Bytes(err)}})}});
}

Result<Value> TfchainNode::Impl::ContractValue(uint64_t id) {
  auto all = ledger->Contracts();
  if (!all.ok()) return all.status();
  for (const auto& c : *all) {
    if (c.id == id) return ContractValueOf(c);
  }
  return Status::NotFound(fmt::format("contract {}: not in the ledger", id));
}

Result<Value> TfchainNode::Impl::ContractValueOf(const LedgerContract& c) {
  {
    auto info = meta.FindStorage("SmartContractModule", "Contracts");
    if (!info.ok()) return info.status();
    Value v = DefaultValue(meta.registry, info->entry->value);
    SetField(v, "version", Value::U(4));
    if (c.state == "GracePeriod") {
      SetField(v, "state", Value::Enum("GracePeriod", {NamedValue{"", Value::U(Best().number)}}));
    } else if (c.state == "Deleted") {
      SetField(v, "state", Value::Enum("Deleted", {NamedValue{"", Value::Enum("CanceledByUser")}}));
    } else {
      SetField(v, "state", Value::Enum("Created"));
    }
    SetField(v, "contract_id", Value::U(c.id));
    SetField(v, "twin_id", Value::U(c.twin_id));
    Value nc = Value::Composite({{"node_id", Value::U(c.node_id)},
                                 {"deployment_hash", Value::Bytes(c.hash)},
                                 {"deployment_data", Value::Bytes(c.data)},
                                 {"public_ips", Value::U(c.public_ips)},
                                 {"public_ips_list", Value::Sequence({})}});
    SetField(v, "contract_type", Value::Enum("NodeContract", {NamedValue{"", std::move(nc)}}));
    SetField(v, "solution_provider_id", Value::None());
    return v;
  }
}

static Value TwinValueOf(const LedgerTwin& t) {
  return Value::Composite({{"id", Value::U(t.id)},
                           {"account_id", Value::Bytes(AccountBytes(t.account))},
                           {"relay", OptBytes(t.relay)},
                           {"entities", Value::Sequence({})},
                           {"pk", OptBytes(t.pk)}});
}

Result<Value> TfchainNode::Impl::TwinValue(uint32_t id) {
  auto all = ledger->Twins();
  if (!all.ok()) return all.status();
  for (const auto& t : *all) {
    if (t.id == id) return TwinValueOf(t);
  }
  return Status::NotFound(fmt::format("twin {}: not in the ledger", id));
}

// Arguments of a decoded call: bytes of a (bounded) Vec<u8> or array.
static Result<std::string> ArgBytes(const Value& call, const char* name) {
  const Value* v = call.Get(name);
  if (v == nullptr) return Status::InvalidArgument(std::string("argument ") + name + " missing");
  return tf::AsBytes(*v, name);
}
static Result<uint64_t> ArgU64(const Value& call, const char* name) {
  const Value* v = call.Get(name);
  if (v == nullptr) return Status::InvalidArgument(std::string("argument ") + name + " missing");
  auto u = tf::AsUnsigned(*v, name);
  if (!u.ok()) return u.status();
  if (*u > tf::u128(UINT64_MAX)) return Status::InvalidArgument(std::string(name) + ": too large");
  return uint64_t(*u);
}
static Result<std::optional<std::string>> ArgOptBytes(const Value& call, const char* name) {
  const Value* v = call.Get(name);
  if (v == nullptr) return Status::InvalidArgument(std::string("argument ") + name + " missing");
  auto o = tf::AsOption(*v, name);
  if (!o.ok()) return o.status();
  if (!o->has_value()) return std::optional<std::string>();
  auto b = tf::AsBytes(**o, name);
  if (!b.ok()) return b.status();
  return std::optional<std::string>(*b);
}

// The checks TFChain's BoundedVec decoding makes (a longer input does not
// decode), over a decoded RuntimeCall value. Batches are checked item by item.
static Status CheckBounds(const Value& call, int depth = 0) {
  if (call.kind != Value::Kind::kVariant || call.fields.size() != 1) return Status::OK();
  const Value& inner = call.fields[0].value;
  const std::string& pallet = call.name;
  const std::string& name = inner.name;
  auto limit = [&](const char* arg, size_t max, bool optional) -> Status {
    if (optional) {
      auto b = ArgOptBytes(inner, arg);
      if (!b.ok()) return b.status();
      if (b->has_value() && (*b)->size() > max)
        return Status::InvalidArgument(fmt::format("{}.{}: {} bytes, the bound is {}", name, arg, (*b)->size(), max));
      return Status::OK();
    }
    auto b = ArgBytes(inner, arg);
    if (!b.ok()) return b.status();
    if (b->size() > max)
      return Status::InvalidArgument(fmt::format("{}.{}: {} bytes, the bound is {}", name, arg, b->size(), max));
    return Status::OK();
  };
  if (pallet == "SmartContractModule" && (name == "create_node_contract" || name == "update_node_contract"))
    return limit("deployment_data", kMaxDeploymentData, false);
  if (pallet == "TfgridModule" && (name == "create_twin" || name == "update_twin")) {
    QSTOR_RETURN_IF_ERROR(limit("relay", kMaxRelay, true));
    return limit("pk", kMaxPk, true);
  }
  if (pallet == "TfgridModule" && name == "user_accept_tc") {
    QSTOR_RETURN_IF_ERROR(limit("document_link", kMaxDocumentLink, false));
    return limit("document_hash", kMaxDocumentHash, false);
  }
  if (pallet == "Utility") {
    const Value* calls = inner.Get("calls");
    if (calls == nullptr) return Status::OK();
    if (depth > 4) return Status::InvalidArgument("batches nested too deep");
    for (const auto& c : calls->items) QSTOR_RETURN_IF_ERROR(CheckBounds(c, depth + 1));
  }
  return Status::OK();
}

Status TfchainNode::Impl::DispatchCall(const AccountKey& signer, const Value& call, std::vector<Value>* events,
                                       std::vector<uint64_t>* cancelled, std::string* module_error, int depth) {
  if (call.kind != Value::Kind::kVariant || call.fields.size() != 1) {
    return Status::InvalidArgument("call: not a RuntimeCall value");
  }
  const Value& inner = call.fields[0].value;
  const std::string& pallet = call.name;
  const std::string& name = inner.name;
  if (pallet == "Utility") {
    const Value* calls = inner.Get("calls");
    if (calls == nullptr || depth > 4) return Status::InvalidArgument("Utility: bad calls");
    bool any_failed = false;
    for (size_t i = 0; i < calls->items.size(); ++i) {
      std::string sp = fmt::format("item_{}_{}", depth, i);
      QSTOR_RETURN_IF_ERROR(ledger->Sql("SAVEPOINT " + sp));
      std::vector<Value> item_events;
      std::string err;
      Status st = DispatchCall(signer, calls->items[i], &item_events, cancelled, &err, depth + 1);
      if (st.ok()) {
        QSTOR_RETURN_IF_ERROR(ledger->Sql("RELEASE " + sp));
        for (auto& e : item_events) events->push_back(std::move(e));
        auto ic = MakeEvent("Utility", "ItemCompleted", {});
        if (!ic.ok()) return ic.status();
        events->push_back(*ic);
        continue;
      }
      QSTOR_RETURN_IF_ERROR(ledger->Sql("ROLLBACK TO " + sp));
      QSTOR_RETURN_IF_ERROR(ledger->Sql("RELEASE " + sp));
      if (name == "batch_all") {
        *module_error = err;
        return st.WithContext(fmt::format("batch_all item {}", i));
      }
      auto de = ModuleError(err);
      if (!de.ok()) return de.status();
      if (name == "batch") {
        auto bi = MakeEvent("Utility", "BatchInterrupted", {{"index", Value::U(i)}, {"error", *de}});
        if (!bi.ok()) return bi.status();
        events->push_back(*bi);
        return Status::OK();
      }
      any_failed = true;  // force_batch
      auto fi = MakeEvent("Utility", "ItemFailed", {{"error", *de}});
      if (!fi.ok()) return fi.status();
      events->push_back(*fi);
    }
    auto done = MakeEvent("Utility", any_failed ? "BatchCompletedWithErrors" : "BatchCompleted", {});
    if (!done.ok()) return done.status();
    events->push_back(*done);
    return Status::OK();
  }

  LedgerCall lc;
  lc.name = name;
  lc.args = json::object();
  auto put_bytes = [&](const char* arg) -> Status {
    auto b = ArgBytes(inner, arg);
    if (!b.ok()) return b.status();
    lc.args[arg] = *b;
    return Status::OK();
  };
  auto put_opt = [&](const char* arg) -> Status {
    auto b = ArgOptBytes(inner, arg);
    if (!b.ok()) return b.status();
    lc.args[arg] = b->has_value() ? json(**b) : json(nullptr);
    return Status::OK();
  };
  auto put_u64 = [&](const char* arg) -> Status {
    auto u = ArgU64(inner, arg);
    if (!u.ok()) return u.status();
    lc.args[arg] = *u;
    return Status::OK();
  };
  if (pallet == "TfgridModule" && name == "user_accept_tc") {
    QSTOR_RETURN_IF_ERROR(put_bytes("document_link"));
    QSTOR_RETURN_IF_ERROR(put_bytes("document_hash"));
  } else if (pallet == "TfgridModule" && (name == "create_twin" || name == "update_twin")) {
    QSTOR_RETURN_IF_ERROR(put_opt("relay"));
    QSTOR_RETURN_IF_ERROR(put_opt("pk"));
  } else if (pallet == "SmartContractModule" && name == "create_node_contract") {
    QSTOR_RETURN_IF_ERROR(put_u64("node_id"));
    QSTOR_RETURN_IF_ERROR(put_bytes("deployment_hash"));
    QSTOR_RETURN_IF_ERROR(put_bytes("deployment_data"));
    QSTOR_RETURN_IF_ERROR(put_u64("public_ips"));
    auto sp = tf::AsOption(*inner.Get("solution_provider_id"), "solution_provider_id");
    if (sp.ok() && sp->has_value()) {
      *module_error = "SmartContractModule.NoSuchSolutionProvider";
      return Status::NotFound("create_node_contract: the devnet has no solution providers");
    }
  } else if (pallet == "SmartContractModule" && name == "update_node_contract") {
    QSTOR_RETURN_IF_ERROR(put_u64("contract_id"));
    QSTOR_RETURN_IF_ERROR(put_bytes("deployment_hash"));
    QSTOR_RETURN_IF_ERROR(put_bytes("deployment_data"));
  } else if (pallet == "SmartContractModule" && name == "cancel_contract") {
    QSTOR_RETURN_IF_ERROR(put_u64("contract_id"));
  } else if (pallet == "Balances" &&
             (name == "transfer_keep_alive" || name == "transfer_allow_death" || name == "transfer")) {
    lc.name = "transfer";
    const Value* dest = inner.Get("dest");
    if (dest == nullptr || dest->kind != Value::Kind::kVariant || dest->name != "Id" || dest->fields.size() != 1) {
      *module_error = "";
      return Status::InvalidArgument(name + ".dest: only MultiAddress::Id is supported (CannotLookup)");
    }
    auto to = tf::AsBytes(dest->fields[0].value, "dest");
    if (!to.ok() || to->size() != 32) return Status::InvalidArgument(name + ".dest: not 32 bytes");
    auto amount = ArgU64(inner, "value");
    if (!amount.ok()) {
      *module_error = "Balances.InsufficientBalance";
      return amount.status();
    }
    lc.args["dest"] = *to;
    lc.args["amount"] = *amount;
  } else {
    return Status::NotImplemented(fmt::format("{}.{}: not implemented by the devnet", pallet, name));
  }
  DispatchEffects fx;
  Status st = ledger->Dispatch(signer, lc, &fx, module_error);
  if (!st.ok()) return st;
  auto push = [&](Result<Value> ev) -> Status {
    if (!ev.ok()) return ev.status();
    events->push_back(std::move(ev).value());
    return Status::OK();
  };
  if (fx.twin_created) {
    auto tv = TwinValue(*fx.twin_created);
    if (!tv.ok()) return tv.status();
    QSTOR_RETURN_IF_ERROR(push(MakeEvent("TfgridModule", "TwinStored", {{"", *tv}})));
  }
  if (fx.twin_updated) {
    auto tv = TwinValue(*fx.twin_updated);
    if (!tv.ok()) return tv.status();
    QSTOR_RETURN_IF_ERROR(push(MakeEvent("TfgridModule", "TwinUpdated", {{"", *tv}})));
  }
  for (uint64_t id : fx.contracts_created) {
    auto cval = ContractValue(id);
    if (!cval.ok()) return cval.status();
    QSTOR_RETURN_IF_ERROR(push(MakeEvent("SmartContractModule", "ContractCreated", {{"", *cval}})));
  }
  for (uint64_t id : fx.contracts_updated) {
    auto cval = ContractValue(id);
    if (!cval.ok()) return cval.status();
    QSTOR_RETURN_IF_ERROR(push(MakeEvent("SmartContractModule", "ContractUpdated", {{"", *cval}})));
  }
  if (!fx.contracts_cancelled.empty()) {
    auto all = ledger->Contracts();
    if (!all.ok()) return all.status();
    for (uint64_t id : fx.contracts_cancelled) {
      for (const auto& c : *all) {
        if (c.id != id) continue;
        QSTOR_RETURN_IF_ERROR(push(MakeEvent("SmartContractModule", "NodeContractCanceled",
                                             {{"contract_id", Value::U(c.id)},
                                              {"node_id", Value::U(c.node_id)},
                                              {"twin_id", Value::U(c.twin_id)}})));
      }
      cancelled->push_back(id);
    }
  }
  for (const auto& t : fx.transfers) {
    QSTOR_RETURN_IF_ERROR(push(MakeEvent("Balances", "Transfer",
                                         {{"from", Value::Bytes(AccountBytes(t.from))},
                                          {"to", Value::Bytes(AccountBytes(t.to))},
                                          {"amount", Value::U(t.amount)}})));
  }
  return Status::OK();
}

Status TfchainNode::Impl::Apply(const PoolTx& tx, uint32_t index, std::vector<Value>* records,
                                std::vector<uint64_t>* cancelled, bool* success) {
  auto record = [&](Value ev) {
    records->push_back(Value::Composite({{"phase", Value::Enum("ApplyExtrinsic", {NamedValue{"", Value::U(index)}})},
                                         {"event", std::move(ev)},
                                         {"topics", Value::Sequence({})}}));
  };
  const uint64_t fee = kExtrinsicFeeUnits + uint64_t(tx.tip);
  QSTOR_RETURN_IF_ERROR(ledger->Withdraw(tx.signer, fee));
  QSTOR_RETURN_IF_ERROR(ledger->IncrementNonce(tx.signer));
  auto w = MakeEvent("Balances", "Withdraw", {{"who", Value::Bytes(AccountBytes(tx.signer))}, {"amount", Value::U(fee)}});
  if (!w.ok()) return w.status();
  record(*w);
  QSTOR_RETURN_IF_ERROR(ledger->Sql("SAVEPOINT dispatch"));
  std::vector<Value> events;
  std::vector<uint64_t> call_cancelled;
  std::string module_error;
  Status st = DispatchCall(tx.signer, tx.call, &events, &call_cancelled, &module_error, 0);
  if (st.ok()) {
    QSTOR_RETURN_IF_ERROR(ledger->Sql("RELEASE dispatch"));
    for (auto& e : events) record(std::move(e));
    cancelled->insert(cancelled->end(), call_cancelled.begin(), call_cancelled.end());
  } else {
    QSTOR_RETURN_IF_ERROR(ledger->Sql("ROLLBACK TO dispatch"));
    QSTOR_RETURN_IF_ERROR(ledger->Sql("RELEASE dispatch"));
    spdlog::info("devnet chain: extrinsic 0x{} failed: {} ({})", tf::ToHex(tx.hash),
                 module_error.empty() ? "Other" : module_error, st.message());
  }
  auto paid = MakeEvent("TransactionPayment", "TransactionFeePaid",
                        {{"who", Value::Bytes(AccountBytes(tx.signer))},
                         {"actual_fee", Value::U(fee)},
                         {"tip", Value::U(tx.tip)}});
  if (!paid.ok()) return paid.status();
  record(*paid);
  if (st.ok()) {
    auto ok = MakeEvent("System", "ExtrinsicSuccess", {});
    if (!ok.ok()) return ok.status();
    record(*ok);
  } else {
    auto de = ModuleError(module_error);
    if (!de.ok()) return de.status();
    auto failed = MakeEvent("System", "ExtrinsicFailed", {{"dispatch_error", *de}});
    if (!failed.ok()) return failed.status();
    record(*failed);
  }
  *success = st.ok();
  return Status::OK();
}

Status TfchainNode::Impl::Produce() {
  std::lock_guard<std::mutex> one(produce_mu);
  std::vector<std::pair<PoolTx, std::string>> outcome;  // tx, "inBlock" or "invalid"
  Block b;
  std::vector<uint64_t> cancelled;
  {
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    std::vector<PoolTx> txs;
    {
      std::lock_guard<std::mutex> lock(mu);
      txs.swap(pool);
      const Block& best = Best();
      b.number = best.number + 1;
      b.parent = best.hash;
    }
    std::vector<Value> records;
    uint32_t index = 0;
    for (auto& tx : txs) {
      // Re-validate against the state the block has reached.
      auto acct = ledger->Account(tx.signer);
      if (!acct.ok() || acct->nonce != tx.nonce || acct->free < kExtrinsicFeeUnits + uint64_t(tx.tip)) {
        outcome.emplace_back(std::move(tx), "invalid");
        continue;
      }
      QSTOR_RETURN_IF_ERROR(ledger->Sql("BEGIN IMMEDIATE"));
      bool success = false;
      std::vector<Value> tx_records;
      Status st = Apply(tx, index, &tx_records, &cancelled, &success);
      if (!st.ok()) {
        (void)ledger->Sql("ROLLBACK");
        spdlog::warn("devnet chain: extrinsic 0x{} dropped: {}", tf::ToHex(tx.hash), st.ToString());
        outcome.emplace_back(std::move(tx), "invalid");
        continue;
      }
      QSTOR_RETURN_IF_ERROR(ledger->Sql("COMMIT"));
      for (auto& r : tx_records) records.push_back(std::move(r));
      b.extrinsics.push_back(tx.bytes);
      ++index;
      outcome.emplace_back(std::move(tx), "inBlock");
    }
    auto events_info = meta.FindStorage("System", "Events");
    if (!events_info.ok()) return events_info.status();
    auto ev = tf::EncodeValueBytes(meta.registry, events_info->entry->value, Value::Sequence(std::move(records)));
    if (!ev.ok()) return ev.status().WithContext("devnet chain: System.Events");
    b.events = std::move(ev).value();
    std::string all;
    for (const auto& x : b.extrinsics) all += Blake2b256(x);
    b.extrinsics_root = Blake2b256(all);
    {
      std::lock_guard<std::mutex> lock(mu);
      b.state_root = Blake2b256(Best().state_root + b.extrinsics_root + b.events);
    }
    b.header = EncodeHeader(b);
    b.hash = Blake2b256(b.header);
    QSTOR_RETURN_IF_ERROR(ledger->SetMeta(kHeadMetaKey, tf::ToHex(b.header)));
    if (!cancelled.empty()) ledger->AfterBlock(cancelled);
  }
  json header = HeaderJson(b);
  std::string hash_hex = Hex0x(b.hash);
  {
    std::lock_guard<std::mutex> lock(mu);
    blocks.push_back(std::move(b));
    while (blocks.size() > kBlockHashCount) blocks.pop_front();
  }
  // "ready" (deferred past the subscribe reply) goes out before inBlock.
  FlushDeferred(true);
  // The previous block's watched extrinsics are reported finalized now: a
  // block is final when produced, but clients (polkadot.js) drop an inBlock
  // whose events they are still fetching when finalized follows at once.
  std::vector<std::pair<std::weak_ptr<JsonRpcConnection>, std::string>> to_finalize;
  std::string finalized_hex;
  {
    std::lock_guard<std::mutex> lock(mu);
    to_finalize.swap(pending_finalized);
    finalized_hex = pending_finalized_hash;
  }
  for (auto& [w, sub] : to_finalize)
    if (auto c = w.lock()) c->Notify("author_extrinsicUpdate", sub, json{{"finalized", finalized_hex}});
  std::vector<std::pair<std::weak_ptr<JsonRpcConnection>, std::string>> next_finalize;
  for (auto& [tx, what] : outcome) {
    auto conn = tx.watcher.lock();
    if (!conn) continue;
    if (what == "inBlock") {
      conn->Notify("author_extrinsicUpdate", tx.sub_id, json{{"inBlock", hash_hex}});
      next_finalize.emplace_back(conn, tx.sub_id);
    } else {
      conn->Notify("author_extrinsicUpdate", tx.sub_id, "invalid");
    }
  }
  {
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    PushStorage(nullptr);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    pending_finalized = std::move(next_finalize);
    pending_finalized_hash = hash_hex;
  }
  Broadcast("chain_newHead", header);
  Broadcast("chain_allHead", header);
  Broadcast("chain_finalizedHead", header);
  return Status::OK();
}

void TfchainNode::Impl::Loop() {
  auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt.block_ms);
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    auto wake = next;
    if (!deferred.empty()) wake = std::min(wake, deferred.front().at);
    cv.wait_until(lock, wake);
    if (stopping) break;
    lock.unlock();
    FlushDeferred(false);
    if (std::chrono::steady_clock::now() >= next) {
      Status st = Produce();
      if (!st.ok()) spdlog::warn("devnet chain: block production: {}", st.ToString());
      next += std::chrono::milliseconds(opt.block_ms);
      auto now = std::chrono::steady_clock::now();
      if (next < now) next = now + std::chrono::milliseconds(opt.block_ms);
    }
    lock.lock();
  }
}

// ---------------------------------------------------------------------------
// storage

Result<std::map<std::string, std::string>> TfchainNode::Impl::EntryMap(const std::string& pallet,
                                                                       const std::string& entry) {
  std::map<std::string, std::string> out;
  auto info = meta.FindStorage(pallet, entry);
  if (!info.ok()) return info.status();
  const tf::TypeId vt = info->entry->value;
  auto put = [&](std::vector<std::string> keys, const Value& v) -> Status {
    auto k = tf::StorageKeyEncoded(meta, pallet, entry, keys);
    if (!k.ok()) return k.status();
    auto b = tf::EncodeValueBytes(meta.registry, vt, v);
    if (!b.ok()) return b.status().WithContext(pallet + "." + entry);
    out[*k] = std::move(b).value();
    return Status::OK();
  };
  auto le32 = [](uint32_t x) { tf::Encoder e; e.U32(x); return e.Take(); };
  auto le64 = [](uint64_t x) { tf::Encoder e; e.U64(x); return e.Take(); };
  if (pallet == "System" && entry == "Account") {
    auto accts = ledger->Accounts();
    if (!accts.ok()) return accts.status();
    auto def = tf::DecodeValueBytes(meta.registry, vt, info->entry->default_value);
    if (!def.ok()) return def.status();
    for (const auto& a : *accts) {
      Value v = *def;
      SetField(v, "nonce", Value::U(a.nonce));
      SetField(v, "providers", Value::U(1));
      if (Value* d = MutField(v, "data")) SetField(*d, "free", Value::U(a.free));
      QSTOR_RETURN_IF_ERROR(put({AccountBytes(a.pk)}, v));
    }
  } else if (pallet == "System" && entry == "Number") {
    QSTOR_RETURN_IF_ERROR(put({}, Value::U(Best().number)));
  } else if (pallet == "System" && entry == "Events") {
    auto k = tf::StorageKeyEncoded(meta, pallet, entry, {});
    if (!k.ok()) return k.status();
    out[*k] = Best().events.empty() ? std::string(1, '\0') : Best().events;
  } else if (pallet == "System" && entry == "BlockHash") {
    QSTOR_RETURN_IF_ERROR(put({le32(0)}, Value::Bytes(genesis)));
    for (const auto& b : blocks) QSTOR_RETURN_IF_ERROR(put({le32(b.number)}, Value::Bytes(b.hash)));
  } else if (pallet == "TfgridModule" && (entry == "Twins" || entry == "TwinIdByAccountID" || entry == "TwinID")) {
    auto twins = ledger->Twins();
    if (!twins.ok()) return twins.status();
    uint32_t max_id = 0;
    for (const auto& t : *twins) {
      max_id = std::max(max_id, t.id);
      if (entry == "Twins") {
        QSTOR_RETURN_IF_ERROR(put({le32(t.id)}, TwinValueOf(t)));
      } else if (entry == "TwinIdByAccountID") {
        QSTOR_RETURN_IF_ERROR(put({AccountBytes(t.account)}, Value::U(t.id)));
      }
    }
    if (entry == "TwinID") QSTOR_RETURN_IF_ERROR(put({}, Value::U(max_id)));
  } else if (pallet == "TfgridModule" && entry == "UsersTermsAndConditions") {
    auto terms = ledger->Terms();
    if (!terms.ok()) return terms.status();
    std::map<AccountKey, std::vector<Value>> by;
    for (const auto& t : *terms) {
      by[t.account].push_back(Value::Composite({{"account_id", Value::Bytes(AccountBytes(t.account))},
                                                {"timestamp", Value::U(t.timestamp)},
                                                {"document_link", Value::Bytes(t.link)},
                                                {"document_hash", Value::Bytes(t.hash)}}));
    }
    for (auto& [k, v] : by) QSTOR_RETURN_IF_ERROR(put({AccountBytes(k)}, Value::Sequence(std::move(v))));
  } else if (pallet == "TfgridModule" && entry == "Nodes") {
    for (const auto& n : ledger->Nodes()) {
      Value v = DefaultValue(meta.registry, vt);
      SetField(v, "version", Value::U(4));
      SetField(v, "id", Value::U(n.id));
      SetField(v, "farm_id", Value::U(n.farm_id));
      SetField(v, "twin_id", Value::U(n.twin_id));
      SetField(v, "created", Value::U(n.created));
      if (Value* r = MutField(v, "resources")) {
        SetField(*r, "hru", Value::U(n.hru));
        SetField(*r, "sru", Value::U(n.sru));
        SetField(*r, "cru", Value::U(n.cru));
        SetField(*r, "mru", Value::U(n.mru));
      }
      QSTOR_RETURN_IF_ERROR(put({le32(n.id)}, v));
    }
  } else if (pallet == "TfgridModule" && entry == "PricingPolicies") {
    // Policy 1, the one TFChain bills every contract with: the devnet's su
    // price; it bills nothing else (cu, nu, ipu and names are 0).
    const grid::ChainPricing cp = ledger->Pricing();
    auto price = [](uint32_t value, const std::string& unit) {
      return Value::Composite({{"value", Value::U(value)}, {"unit", Value::Enum(unit)}});
    };
    Value v = DefaultValue(meta.registry, vt);
    SetField(v, "version", Value::U(1));
    SetField(v, "id", Value::U(1));
    SetField(v, "name", Value::Bytes("devnet"));
    SetField(v, "su", price(cp.su_value, cp.su_unit));
    for (const char* f : {"cu", "nu", "ipu", "unique_name", "domain_name"}) SetField(v, f, price(0, "Gigabytes"));
    QSTOR_RETURN_IF_ERROR(put({le32(1)}, v));
  } else if (pallet == "TFTPriceModule") {
    // The devnet's TFT price is fixed: current and average are that price,
    // and the bounds do not move it (MinTftPrice 1 mUSD, MaxTftPrice u32::MAX).
    const uint32_t musd = ledger->Pricing().tft_price_musd;
    const uint32_t value = entry == "MinTftPrice" ? 1u : entry == "MaxTftPrice" ? UINT32_MAX : musd;
    QSTOR_RETURN_IF_ERROR(put({}, Value::U(value)));
  } else if (pallet == "SmartContractModule") {
    auto contracts = ledger->Contracts();
    if (!contracts.ok()) return contracts.status();
    uint64_t max_id = 0;
    std::map<uint32_t, std::vector<Value>> active;
    for (const auto& c : *contracts) {
      max_id = std::max(max_id, c.id);
      if (c.state == "Deleted") continue;  // TFChain removes a contract once cancelled and billed
      if (entry == "Contracts") {
        auto cval = ContractValueOf(c);
        if (!cval.ok()) return cval.status();
        QSTOR_RETURN_IF_ERROR(put({le64(c.id)}, *cval));
      } else if (entry == "ContractIDByNodeIDAndHash") {
        QSTOR_RETURN_IF_ERROR(put({le32(c.node_id), c.hash}, Value::U(c.id)));
      } else if (entry == "ActiveNodeContracts") {
        active[c.node_id].push_back(Value::U(c.id));
      }
    }
    for (auto& [node, ids] : active) QSTOR_RETURN_IF_ERROR(put({le32(node)}, Value::Sequence(std::move(ids))));
    if (entry == "ContractID") QSTOR_RETURN_IF_ERROR(put({}, Value::U(max_id)));
  }
  return out;
}

namespace {
struct ServedEntry {
  const char* pallet;
  const char* entry;
};
constexpr ServedEntry kServed[] = {
    {"System", "Account"},
    {"System", "Events"},
    {"System", "Number"},
    {"System", "BlockHash"},
    {"TfgridModule", "TwinIdByAccountID"},
    {"TfgridModule", "Twins"},
    {"TfgridModule", "TwinID"},
    {"TfgridModule", "UsersTermsAndConditions"},
    {"TfgridModule", "Nodes"},
    {"TfgridModule", "PricingPolicies"},
    {"TFTPriceModule", "TftPrice"},
    {"TFTPriceModule", "AverageTftPrice"},
    {"TFTPriceModule", "MinTftPrice"},
    {"TFTPriceModule", "MaxTftPrice"},
    {"SmartContractModule", "Contracts"},
    {"SmartContractModule", "ContractIDByNodeIDAndHash"},
    {"SmartContractModule", "ActiveNodeContracts"},
    {"SmartContractModule", "ContractID"},
};
}  // namespace

Result<std::optional<std::string>> TfchainNode::Impl::ReadKey(const std::string& key, const Block* at) {
  if (key.size() < 32) return std::optional<std::string>();
  for (const auto& s : kServed) {
    auto info = meta.FindStorage(s.pallet, s.entry);
    if (!info.ok()) return info.status();
    if (key.compare(0, 32, tf::StoragePrefix(info->prefix, s.entry)) != 0) continue;
    if (at != nullptr && std::string_view(s.pallet) == "System" && std::string_view(s.entry) == "Events") {
      return std::optional<std::string>(at->events.empty() ? std::string(1, '\0') : at->events);
    }
    auto m = EntryMap(s.pallet, s.entry);
    if (!m.ok()) return m.status();
    auto it = m->find(key);
    if (it != m->end()) return std::optional<std::string>(it->second);
    if (info->entry->modifier == tf::StorageModifier::kDefault && !info->entry->is_map && key.size() == 32)
      return std::optional<std::string>(info->entry->default_value);
    return std::optional<std::string>();
  }
  return std::optional<std::string>();
}

Result<std::vector<std::string>> TfchainNode::Impl::AllKeys(const std::string& prefix) {
  std::vector<std::string> keys;
  for (const auto& s : kServed) {
    auto info = meta.FindStorage(s.pallet, s.entry);
    if (!info.ok()) return info.status();
    std::string p = tf::StoragePrefix(info->prefix, s.entry);
    // The entry is relevant when one prefix contains the other.
    size_t n = std::min(p.size(), prefix.size());
    if (p.compare(0, n, prefix, 0, n) != 0) continue;
    auto m = EntryMap(s.pallet, s.entry);
    if (!m.ok()) return m.status();
    for (const auto& [k, v] : *m)
      if (k.compare(0, prefix.size(), prefix) == 0) keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

// ---------------------------------------------------------------------------
// RPC

void TfchainNode::Impl::Register(const std::string& method, JsonRpcHandler h) {
  dispatcher.Register(method, h);
  if (server) server->Register(method, std::move(h));
}

std::string TfchainNode::Impl::NewSubId() {
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id;
  for (int i = 0; i < 16; ++i) id += kAlnum[randombytes_uniform(sizeof(kAlnum) - 1)];
  return id;
}

void TfchainNode::Impl::Subscribe(const JsonRpcConnectionPtr& conn, const std::string& id, const std::string& method) {
  {
    std::lock_guard<std::mutex> lock(mu);
    subs[id] = Subscription{conn, method};
  }
  conn->OnClose([this, id] {
    std::lock_guard<std::mutex> lock(mu);
    subs.erase(id);
  });
}

void TfchainNode::Impl::Defer(const JsonRpcConnectionPtr& conn, const std::string& method, const std::string& sub,
                              json result, int delay_ms) {
  {
    std::lock_guard<std::mutex> lock(mu);
    deferred.push_back(ReadyNote{std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms), conn,
                                 method, sub, std::move(result)});
  }
  cv.notify_all();
}

void TfchainNode::Impl::FlushDeferred(bool all) {
  std::vector<ReadyNote> due;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto now = std::chrono::steady_clock::now();
    auto it = deferred.begin();
    while (it != deferred.end()) {
      if (all || it->at <= now) {
        due.push_back(std::move(*it));
        it = deferred.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : due) {
    if (d.method == kInitialStorage) {
      std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
      PushStorage(&d.sub);
      continue;
    }
    if (auto c = d.conn.lock()) c->Notify(d.method, d.sub, d.result);
  }
}

void TfchainNode::Impl::Broadcast(const std::string& method, const json& result) {
  std::vector<std::pair<JsonRpcConnectionPtr, std::string>> targets;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = subs.begin(); it != subs.end();) {
      auto c = it->second.conn.lock();
      if (!c) {
        it = subs.erase(it);
        continue;
      }
      if (it->second.method == method) targets.emplace_back(c, it->first);
      ++it;
    }
  }
  for (auto& [c, id] : targets) c->Notify(method, id, result);
}

void TfchainNode::Impl::PushStorage(const std::string* only_id) {
  std::vector<std::tuple<JsonRpcConnectionPtr, std::string, json>> out;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [id, sub] : subs) {
      if (sub.method != "state_storage" || (only_id && id != *only_id)) continue;
      auto c = sub.conn.lock();
      if (!c) continue;
      json changes = json::array();
      for (const auto& k : sub.keys) {
        auto v = ReadKey(k, nullptr);
        if (!v.ok()) continue;
        auto it = sub.sent.find(k);
        if (only_id == nullptr && it != sub.sent.end() && it->second == *v) continue;
        sub.sent[k] = *v;
        changes.push_back(json::array({Hex0x(k), v->has_value() ? json(Hex0x(**v)) : json(nullptr)}));
      }
      if (changes.empty()) continue;
      out.emplace_back(c, id, json{{"block", Hex0x(Best().hash)}, {"changes", changes}});
    }
  }
  for (auto& [c, id, r] : out) c->Notify("state_storage", id, r);
}

static Result<AccountKey> ParseAccount(const std::string& s) {
  if (s.rfind("0x", 0) == 0) {
    auto b = tf::FromHex(s);
    if (!b.ok() || b->size() != 32) return Status::InvalidArgument("account: expected 32 bytes of hex");
    return ToAccountKey(*b);
  }
  auto ss = grid::Ss58Decode(s);
  if (!ss.ok()) return ss.status();
  AccountKey k{};
  std::copy(ss->begin(), ss->end(), k.begin());
  return k;
}

Result<DecodedIntake> DecodeIntake(const tf::Metadata& meta, std::string_view bytes) {
  // The RPC layer decodes an opaque extrinsic: compact length, then bytes.
  {
    tf::Decoder d(bytes);
    uint64_t len = 0;
    Status s = d.ReadLength(&len, 1, "extrinsic length");
    if (!s.ok()) return Status::Protocol(s.message());
  }
  auto x = tf::DecodeExtrinsic(meta, bytes, true);
  if (!x.ok()) return x.status();
  auto rc = meta.RuntimeCallType();
  if (!rc.ok()) return rc.status();
  auto call = tf::DecodeValueBytes(meta.registry, *rc, x->call);
  if (!call.ok()) return call.status();
  QSTOR_RETURN_IF_ERROR(CheckBounds(*call));
  return DecodedIntake{std::move(x).value(), std::move(call).value()};
}

JsonRpcResult TfchainNode::Impl::Submit(const json& params, const JsonRpcConnectionPtr& conn, bool watch) {
  if (!params.is_array() || params.empty() || !params[0].is_string())
    return JsonRpcError::InvalidParams("expected [extrinsic hex]");
  auto bytes = tf::FromHex(params[0].get<std::string>());
  if (!bytes.ok()) return JsonRpcError::InvalidParams("extrinsic: " + bytes.status().message());
  auto in = DecodeIntake(meta, *bytes);
  if (!in.ok()) {
    if (in.status().code() == Status::Code::kProtocol) {
      if (watch) return RpcError(1001, "Extrinsic has invalid format: Not enough data to fill buffer");
      return RpcError(1040, "Client error: Not enough data to fill buffer");
    }
    return CouldNotDecode(in.status().message());
  }
  auto& x = in->extrinsic;
  if (!x.is_signed) return InvalidTx(kCallNotExpected);
  PoolTx tx;
  tx.bytes = *bytes;
  auto h = tf::ExtrinsicHash(*bytes);
  tx.hash = std::string(h.begin(), h.end());
  tx.signer = x.signer;
  tx.nonce = x.extra.nonce;
  tx.tip = x.extra.tip;
  tx.call = std::move(in->call);
  std::string hash_hex = Hex0x(tx.hash);
  std::string sub_id;
  {
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    std::lock_guard<std::mutex> lock(mu);
    // CheckMortality: the birth block must be known (BlockHash storage).
    tf::ChainInfo ci;
    ci.spec_version = version.spec_version;
    ci.tx_version = version.transaction_version;
    std::copy(genesis.begin(), genesis.end(), ci.genesis.begin());
    if (x.extra.era.immortal) {
      ci.era_block_hash = ci.genesis;
    } else {
      uint64_t current = uint64_t(Best().number) + 1;
      uint64_t birth = x.extra.era.Birth(current);
      const Block* bb = birth > Best().number ? nullptr : BlockAt(birth);
      if (bb == nullptr) return InvalidTx(kAncient);
      std::copy(bb->hash.begin(), bb->hash.end(), ci.era_block_hash.begin());
    }
    Status vs = tf::VerifyExtrinsic(meta, x, ci);
    if (!vs.ok()) {
      if (x.signature_type != tf::SignatureType::kEd25519) {
        return RpcError(1010, "Invalid Transaction",
                        std::string(kBadProof) + " (the devnet verifies ed25519 signatures only)");
      }
      return InvalidTx(kBadProof);
    }
    auto acct = ledger->Account(tx.signer);
    if (!acct.ok()) return JsonRpcError::Internal(acct.status().message());
    if (tx.nonce < acct->nonce) return InvalidTx(kStale);
    uint64_t pending = 0;
    uint64_t pending_fees = 0;
    for (const auto& p : pool) {
      if (p.signer != tx.signer) continue;
      if (p.hash == tx.hash) return RpcError(1013, "Transaction Already Imported", hash_hex);
      ++pending;
      pending_fees += kExtrinsicFeeUnits + uint64_t(p.tip);
      if (p.nonce == tx.nonce) {
        return RpcError(1014, "Priority is too low: (0 vs 0)",
                        "The transaction has too low priority to replace another transaction already in the pool.");
      }
    }
    if (tx.nonce > uint64_t(acct->nonce) + pending) return InvalidTx(kFuture);
    if (tx.tip > tf::u128(UINT64_MAX / 2) ||
        acct->free < pending_fees + kExtrinsicFeeUnits + uint64_t(tx.tip))
      return InvalidTx(kPayment);
    if (pool.size() >= kMaxPool)
      return RpcError(1016, "Immediately Dropped", "The transaction couldn't enter the pool because of the limit");
    if (watch) {
      if (!conn || !conn->supports_push()) return RpcError(-32601, "Method not found", "subscriptions need a WebSocket");
      sub_id = NewSubId();
      tx.watcher = conn;
      tx.sub_id = sub_id;
    }
    pool.push_back(std::move(tx));
  }
  if (watch) {
    Defer(conn, "author_extrinsicUpdate", sub_id, "ready", 20);
    return json(sub_id);
  }
  return json(hash_hex);
}

void TfchainNode::Impl::RegisterAll() {
  auto param_str = [](const json& p, size_t i) -> std::optional<std::string> {
    if (p.is_array() && p.size() > i && p[i].is_string()) return p[i].get<std::string>();
    return std::nullopt;
  };
  // The block a request names by hash (params[i]); nullptr = best. Unknown
  // hashes give an error as a pruned Substrate node does.
  auto at_block = [this, param_str](const json& p, size_t i, const Block** out) -> std::optional<JsonRpcError> {
    *out = nullptr;
    auto h = param_str(p, i);
    if (!h) return std::nullopt;
    auto b = tf::FromHex(*h);
    if (!b.ok() || b->size() != 32) return JsonRpcError::InvalidParams("block hash: expected 32 bytes of hex");
    std::lock_guard<std::mutex> lock(mu);
    const Block* blk = FindBlock(*b);
    if (blk == nullptr) return RpcError(4003, "Client error: UnknownBlock: header not found: " + *h);
    *out = blk;
    return std::nullopt;
  };

  Register("rpc_methods", [this](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    (void)this;
    return json{{"version", 1},
                {"methods",
                 {"author_submitAndWatchExtrinsic", "author_submitExtrinsic", "author_unwatchExtrinsic",
                  "author_pendingExtrinsics", "chain_getBlock", "chain_getBlockHash", "chain_getFinalizedHead",
                  "chain_getHead", "chain_getHeader", "chain_subscribeAllHeads", "chain_subscribeFinalizedHeads",
                  "chain_subscribeNewHeads", "chain_unsubscribeAllHeads", "chain_unsubscribeFinalizedHeads",
                  "chain_unsubscribeNewHeads", "payment_queryInfo", "rpc_methods", "state_call",
                  "state_getKeysPaged", "state_getMetadata", "state_getRuntimeVersion", "state_getStorage",
                  "state_queryStorageAt", "state_subscribeRuntimeVersion", "state_subscribeStorage",
                  "state_unsubscribeRuntimeVersion", "state_unsubscribeStorage",
                  "system_accountNextIndex", "system_chain", "system_chainType", "system_health", "system_name",
                  "system_properties", "system_version"}}};
  });
  Register("system_chain", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return json(kChainName); });
  Register("system_name", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return json(kNodeName); });
  Register("system_version", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return json(kNodeVersion); });
  Register("system_chainType", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return json("Development"); });
  Register("system_properties", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    return json{{"ss58Format", 42}, {"tokenDecimals", 7}, {"tokenSymbol", "TFT"}};
  });
  Register("system_health", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    return json{{"peers", 0}, {"isSyncing", false}, {"shouldHavePeers", false}};
  });
  Register("system_accountNextIndex", [this, param_str](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    auto s = param_str(p, 0);
    if (!s) return JsonRpcError::InvalidParams("expected [account (SS58 or 0x hex)]");
    auto k = ParseAccount(*s);
    if (!k.ok()) return JsonRpcError::InvalidParams(k.status().message());
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    auto a = ledger->Account(*k);
    if (!a.ok()) return JsonRpcError::Internal(a.status().message());
    std::lock_guard<std::mutex> lock(mu);
    uint64_t next = a->nonce;
    for (const auto& tx : pool)
      if (tx.signer == *k && tx.nonce == next) ++next;
    return json(next);
  });
  Register("chain_getBlockHash", [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    std::lock_guard<std::mutex> lock(mu);
    auto one = [&](const json& n) -> JsonRpcResult {
      uint64_t number = 0;
      if (n.is_null()) return json(Hex0x(Best().hash));
      if (n.is_number_unsigned()) {
        number = n.get<uint64_t>();
      } else if (n.is_string()) {
        std::string s = n.get<std::string>();
        try {
          number = std::stoull(s, nullptr, s.rfind("0x", 0) == 0 ? 16 : 10);
        } catch (...) {
          return JsonRpcError::InvalidParams("block number: " + s);
        }
      } else {
        return JsonRpcError::InvalidParams("block number: expected a number");
      }
      const Block* b = BlockAt(number);
      return b ? json(Hex0x(b->hash)) : json(nullptr);
    };
    if (!p.is_array() || p.empty()) return json(Hex0x(Best().hash));
    if (p[0].is_array()) {
      json out = json::array();
      for (const auto& n : p[0]) {
        auto r = one(n);
        if (std::holds_alternative<JsonRpcError>(r)) return r;
        out.push_back(std::get<json>(r));
      }
      return out;
    }
    return one(p[0]);
  });
  auto get_header = [this, at_block](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    const Block* b = nullptr;
    if (p.is_array() && !p.empty() && p[0].is_string()) {
      auto bytes = tf::FromHex(p[0].get<std::string>());
      if (!bytes.ok() || bytes->size() != 32) return JsonRpcError::InvalidParams("block hash: expected 32 bytes");
      std::lock_guard<std::mutex> lock(mu);
      b = FindBlock(*bytes);
      if (b == nullptr) return json(nullptr);
      return HeaderJson(*b);
    }
    (void)at_block;
    std::lock_guard<std::mutex> lock(mu);
    return HeaderJson(Best());
  };
  Register("chain_getHeader", get_header);
  Register("chain_getBlock", [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    std::lock_guard<std::mutex> lock(mu);
    const Block* b = &Best();
    if (p.is_array() && !p.empty() && p[0].is_string()) {
      auto bytes = tf::FromHex(p[0].get<std::string>());
      if (!bytes.ok() || bytes->size() != 32) return JsonRpcError::InvalidParams("block hash: expected 32 bytes");
      b = FindBlock(*bytes);
      if (b == nullptr) return json(nullptr);
    }
    json xs = json::array();
    for (const auto& x : b->extrinsics) xs.push_back(Hex0x(x));
    return json{{"block", {{"header", HeaderJson(*b)}, {"extrinsics", xs}}}, {"justifications", nullptr}};
  });
  auto head = [this](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    std::lock_guard<std::mutex> lock(mu);
    return json(Hex0x(Best().hash));
  };
  Register("chain_getFinalizedHead", head);
  Register("chain_getHead", head);
  for (const auto& [sub, unsub, note] :
       std::vector<std::array<std::string, 3>>{{"chain_subscribeNewHeads", "chain_unsubscribeNewHeads", "chain_newHead"},
                                               // Substrate's aliases, which polkadot.js calls.
                                               {"chain_subscribeNewHead", "chain_unsubscribeNewHead", "chain_newHead"},
                                               {"chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads",
                                                "chain_finalizedHead"},
                                               {"chain_subscribeAllHeads", "chain_unsubscribeAllHeads", "chain_allHead"}}) {
    std::string method = note;
    Register(sub, [this, method](const json&, const JsonRpcConnectionPtr& conn) -> JsonRpcResult {
      if (!conn || !conn->supports_push()) return RpcError(-32601, "Method not found", "subscriptions need a WebSocket");
      std::string id = NewSubId();
      Subscribe(conn, id, method);
      json header;
      {
        std::lock_guard<std::mutex> lock(mu);
        header = HeaderJson(Best());
      }
      Defer(conn, method, id, header, 20);
      return json(id);
    });
    Register(unsub, [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
      if (!p.is_array() || p.empty() || !p[0].is_string()) return JsonRpcError::InvalidParams("expected [subscription]");
      std::lock_guard<std::mutex> lock(mu);
      return json(subs.erase(p[0].get<std::string>()) > 0);
    });
  }
  Register("state_getRuntimeVersion", [this](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    return version_json;
  });
  Register("state_subscribeRuntimeVersion", [this](const json&, const JsonRpcConnectionPtr& conn) -> JsonRpcResult {
    if (!conn || !conn->supports_push()) return RpcError(-32601, "Method not found", "subscriptions need a WebSocket");
    std::string id = NewSubId();
    Subscribe(conn, id, "state_runtimeVersion");
    Defer(conn, "state_runtimeVersion", id, version_json, 20);
    return json(id);
  });
  Register("state_unsubscribeRuntimeVersion", [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!p.is_array() || p.empty() || !p[0].is_string()) return JsonRpcError::InvalidParams("expected [subscription]");
    std::lock_guard<std::mutex> lock(mu);
    return json(subs.erase(p[0].get<std::string>()) > 0);
  });
  Register("state_subscribeStorage", [this](const json& p, const JsonRpcConnectionPtr& conn) -> JsonRpcResult {
    if (!conn || !conn->supports_push()) return RpcError(-32601, "Method not found", "subscriptions need a WebSocket");
    if (!p.is_array() || p.empty() || !p[0].is_array()) return JsonRpcError::InvalidParams("expected [[keys]]");
    std::vector<std::string> keys;
    for (const auto& k : p[0]) {
      if (!k.is_string()) return JsonRpcError::InvalidParams("keys: expected hex strings");
      auto b = tf::FromHex(k.get<std::string>());
      if (!b.ok()) return JsonRpcError::InvalidParams("key: " + b.status().message());
      keys.push_back(*b);
    }
    if (keys.size() > 1024) return JsonRpcError::InvalidParams("at most 1024 keys");
    std::string id = NewSubId();
    Subscribe(conn, id, "state_storage");
    {
      std::lock_guard<std::mutex> lock(mu);
      subs[id].keys = std::move(keys);
    }
    // The first change set (every key) goes out after the reply.
    Defer(conn, kInitialStorage, id, nullptr, 20);
    return json(id);
  });
  Register("state_unsubscribeStorage", [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!p.is_array() || p.empty() || !p[0].is_string()) return JsonRpcError::InvalidParams("expected [subscription]");
    std::lock_guard<std::mutex> lock(mu);
    return json(subs.erase(p[0].get<std::string>()) > 0);
  });
  Register("state_getMetadata", [this](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return json(meta_hex); });
  Register("state_call", [param_str](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    auto method = param_str(p, 0);
    if (!method) return JsonRpcError::InvalidParams("expected [method, data, at?]");
    // Metadata API v2: the versions served (v14 only).
    if (*method == "Metadata_metadata_versions") return json("0x040e000000");
    return RpcError(4002, "Client error: Execution failed: Other: Exported method " + *method + " is not found");
  });
  Register("state_getStorage", [this, param_str, at_block](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    auto key = param_str(p, 0);
    if (!key) return JsonRpcError::InvalidParams("expected [key, at?]");
    auto k = tf::FromHex(*key);
    if (!k.ok()) return JsonRpcError::InvalidParams("key: " + k.status().message());
    const Block* at = nullptr;
    if (auto e = at_block(p, 1, &at)) return *e;
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    std::lock_guard<std::mutex> lock(mu);
    auto v = ReadKey(*k, at);
    if (!v.ok()) return JsonRpcError::Internal(v.status().message());
    return v->has_value() ? json(Hex0x(**v)) : json(nullptr);
  });
  Register("state_queryStorageAt", [this, at_block](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!p.is_array() || p.empty() || !p[0].is_array()) return JsonRpcError::InvalidParams("expected [[keys], at?]");
    const Block* at = nullptr;
    if (auto e = at_block(p, 1, &at)) return *e;
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    std::lock_guard<std::mutex> lock(mu);
    json changes = json::array();
    for (const auto& key : p[0]) {
      if (!key.is_string()) return JsonRpcError::InvalidParams("keys: expected hex strings");
      auto k = tf::FromHex(key.get<std::string>());
      if (!k.ok()) return JsonRpcError::InvalidParams("key: " + k.status().message());
      auto v = ReadKey(*k, at);
      if (!v.ok()) return JsonRpcError::Internal(v.status().message());
      changes.push_back(json::array({key, v->has_value() ? json(Hex0x(**v)) : json(nullptr)}));
    }
    return json::array({json{{"block", Hex0x(at ? at->hash : Best().hash)}, {"changes", changes}}});
  });
  Register("state_getKeysPaged", [this, param_str](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    auto prefix = param_str(p, 0);
    if (!prefix || p.size() < 2 || !p[1].is_number_unsigned())
      return JsonRpcError::InvalidParams("expected [prefix, count, startKey?, at?]");
    auto pre = tf::FromHex(*prefix);
    if (!pre.ok()) return JsonRpcError::InvalidParams("prefix: " + pre.status().message());
    uint64_t count = std::min<uint64_t>(p[1].get<uint64_t>(), 1000);
    std::string start;
    if (auto s = param_str(p, 2)) {
      auto b = tf::FromHex(*s);
      if (!b.ok()) return JsonRpcError::InvalidParams("startKey: " + b.status().message());
      start = *b;
    }
    std::lock_guard<std::recursive_mutex> llock(ledger->Mutex());
    std::lock_guard<std::mutex> lock(mu);
    auto keys = AllKeys(*pre);
    if (!keys.ok()) return JsonRpcError::Internal(keys.status().message());
    json out = json::array();
    for (const auto& k : *keys) {
      if (!start.empty() && k <= start) continue;
      if (out.size() >= count) break;
      out.push_back(Hex0x(k));
    }
    return out;
  });
  Register("payment_queryInfo", [](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!p.is_array() || p.empty() || !p[0].is_string()) return JsonRpcError::InvalidParams("expected [extrinsic, at?]");
    return json{{"weight", {{"ref_time", 0}, {"proof_size", 0}}},
                {"class", "normal"},
                {"partialFee", std::to_string(kExtrinsicFeeUnits)}};
  });
  Register("author_submitExtrinsic", [this](const json& p, const JsonRpcConnectionPtr& c) -> JsonRpcResult {
    return Submit(p, c, false);
  });
  Register("author_submitAndWatchExtrinsic", [this](const json& p, const JsonRpcConnectionPtr& c) -> JsonRpcResult {
    return Submit(p, c, true);
  });
  Register("author_unwatchExtrinsic", [this](const json& p, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!p.is_array() || p.empty() || !p[0].is_string()) return JsonRpcError::InvalidParams("expected [subscription]");
    std::lock_guard<std::mutex> lock(mu);
    bool found = false;
    for (auto& tx : pool) {
      if (tx.sub_id == p[0].get<std::string>()) {
        tx.watcher.reset();
        found = true;
      }
    }
    return json(found);
  });
  Register("author_pendingExtrinsics", [this](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    std::lock_guard<std::mutex> lock(mu);
    json out = json::array();
    for (const auto& tx : pool) out.push_back(Hex0x(tx.bytes));
    return out;
  });
}

// ---------------------------------------------------------------------------

TfchainNode::TfchainNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TfchainNode::~TfchainNode() { Stop(); }

Result<std::unique_ptr<TfchainNode>> TfchainNode::Start(ChainLedger* ledger, TfchainNodeOptions options) {
  if (ledger == nullptr) return Status::InvalidArgument("devnet chain: no ledger");
  if (options.block_ms < 10 || options.block_ms > 600000)
    return Status::InvalidArgument("devnet chain: block_ms must be 10..600000");
  auto impl = std::make_unique<Impl>();
  impl->ledger = ledger;
  impl->opt = options;
  QSTOR_RETURN_IF_ERROR(impl->Init());
  JsonRpcWsServerOptions so;
  so.port = options.port;
  auto server = JsonRpcWsServer::Start(so);
  if (!server.ok()) return server.status().WithContext("devnet chain");
  impl->server = std::move(server).value();
  impl->RegisterAll();
  Impl* raw = impl.get();
  impl->producer = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<TfchainNode>(new TfchainNode(std::move(impl)));
}

uint16_t TfchainNode::port() const { return impl_->server ? impl_->server->port() : 0; }

std::string TfchainNode::url() const { return "ws://127.0.0.1:" + std::to_string(port()); }

void TfchainNode::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->producer.joinable()) impl_->producer.join();
  if (impl_->server) impl_->server->Stop();
}

std::string TfchainNode::Call(const std::string& request_text) {
  return impl_->dispatcher.Dispatch(request_text, nullptr);
}

Status TfchainNode::ProduceBlock() { return impl_->Produce(); }

}  // namespace qstor::devnet
