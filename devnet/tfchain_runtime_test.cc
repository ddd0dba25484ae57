#include "devnet/tfchain_runtime.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grid/crypto.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/scale.h"
#include "grid/tfchain/value.h"

namespace qstor::devnet {
namespace {

using tfchain::Metadata;
using tfchain::Registry;
using tfchain::Type;
using tfchain::TypeId;

std::string Join(const std::vector<std::string>& path) {
  std::string s;
  for (const auto& p : path) s += (s.empty() ? "" : "::") + p;
  return s;
}

// ---------------------------------------------------------------------------
// Structural comparison of the devnet's metadata (`dev`) with a reference
// (`ref`, the real chain's). Types are equivalent when they have the same
// path, the same generic parameters (names, and equivalent types), the same
// TypeDef kind and the same shape: field names in order, primitive kinds,
// array lengths, variant names with their indices. Docs, type_name and type
// ids are ignored. Variant types listed in `subset_ok` (the outer
// RuntimeCall/RuntimeEvent and the pallet call and event enums) may have
// fewer variants than the reference; every other variant type must have
// exactly the reference's variants. Each difference is reported with the
// path of the item it was found under, e.g.
// "SmartContractModule.create_node_contract.deployment_data: ...".
// ---------------------------------------------------------------------------
class MetadataComparison {
 public:
  MetadataComparison(const Metadata& dev, const Metadata& ref) : dev_(dev), ref_(ref) {
    for (const auto& p : dev.pallets) {
      if (p.calls) subset_ok_.insert(*p.calls);
      if (p.events) subset_ok_.insert(*p.events);
    }
    if (auto c = dev.RuntimeCallType(); c.ok()) subset_ok_.insert(*c);
    if (auto e = dev.RuntimeEventType(); e.ok()) subset_ok_.insert(*e);
  }

  // Every pallet, call, event, error, storage entry and constant of `dev`,
  // its extrinsic and signed extensions, against `ref`.
  std::vector<std::string> Run() {
    // The outer enums and each pallet's call, event and error enums are
    // compared first, each under its own name, with all of them assumed
    // equal while in progress: so a difference in SmartContractModule's
    // calls is reported as "SmartContractModule.<call>...", not under the
    // first batch call that happens to reach it through RuntimeCall.
    struct Root {
      TypeId d, r;
      std::string where;
    };
    std::vector<Root> roots;
    auto dc = dev_.RuntimeCallType(), rc = ref_.RuntimeCallType();
    auto dv = dev_.RuntimeEventType(), rv = ref_.RuntimeEventType();
    if (dc.ok() && rc.ok()) roots.push_back({*dc, *rc, "RuntimeCall"});
    if (dv.ok() && rv.ok()) roots.push_back({*dv, *rv, "RuntimeEvent"});
    for (const auto& p : dev_.pallets) {
      const tfchain::Pallet* rp = ref_.FindPallet(p.name);
      if (rp == nullptr) continue;  // reported by Pallet()
      if (p.calls && rp->calls) roots.push_back({*p.calls, *rp->calls, p.name});
      if (p.events && rp->events) roots.push_back({*p.events, *rp->events, p.name});
      if (p.errors && rp->errors) roots.push_back({*p.errors, *rp->errors, p.name});
    }
    for (const Root& x : roots) state_[{x.d, x.r}] = kInProgress;
    for (const Root& x : roots) {
      size_t before = diffs_.size();
      Compare(x.d, x.r, x.where);
      state_[{x.d, x.r}] = diffs_.size() == before ? kSame : kDiffers;
    }
    for (const auto& p : dev_.pallets) Pallet(p);
    const auto& de = dev_.extrinsic;
    const auto& re = ref_.extrinsic;
    if (de.version != re.version)
      Diff("extrinsic", "version " + std::to_string(de.version) + ", real " + std::to_string(re.version));
    Same(de.type, re.type, "extrinsic");
    std::string dev_ids, ref_ids;
    for (const auto& x : de.signed_extensions) dev_ids += x.identifier + " ";
    for (const auto& x : re.signed_extensions) ref_ids += x.identifier + " ";
    if (dev_ids != ref_ids) Diff("signed extensions", "[" + dev_ids + "], real [" + ref_ids + "]");
    for (size_t i = 0; i < de.signed_extensions.size() && i < re.signed_extensions.size(); i++) {
      const auto& d = de.signed_extensions[i];
      const auto& r = re.signed_extensions[i];
      Same(d.type, r.type, "signed extension " + d.identifier);
      Same(d.additional_signed, r.additional_signed, "signed extension " + d.identifier + " (additional signed)");
    }
    Same(dev_.runtime_type, ref_.runtime_type, "runtime type");
    return diffs_;
  }

  // Type equivalence, reporting under `where`.
  bool Same(TypeId d, TypeId r, const std::string& where) {
    auto key = std::make_pair(d, r);
    if (auto it = state_.find(key); it != state_.end()) {
      if (it->second == kDiffers) Diff(where, "differs (the same pair of types was reported above)");
      return it->second != kDiffers;  // in progress: assumed equal (recursive types)
    }
    state_[key] = kInProgress;
    size_t before = diffs_.size();
    Compare(d, r, where);
    bool same = diffs_.size() == before;
    state_[key] = same ? kSame : kDiffers;
    return same;
  }

  // How many pairs of types were compared.
  size_t compared() const { return state_.size(); }

 private:
  enum State { kInProgress, kSame, kDiffers };

  void Diff(const std::string& where, const std::string& what) { diffs_.push_back(where + ": " + what); }

  void Pallet(const tfchain::Pallet& dp) {
    const tfchain::Pallet* rp = ref_.FindPallet(dp.name);
    if (rp == nullptr) return Diff(dp.name, "no such pallet on the real chain");
    if (dp.index != rp->index)
      Diff(dp.name, "pallet index " + std::to_string(dp.index) + ", real " + std::to_string(rp->index));
    auto enum_of = [&](const std::optional<TypeId>& d, const std::optional<TypeId>& r, const char* what) {
      if (!d) return;
      if (!r) return Diff(dp.name, std::string("the real pallet has no ") + what);
      // The enums themselves were compared by Run().
    };
    enum_of(dp.calls, rp->calls, "calls");
    enum_of(dp.events, rp->events, "events");
    enum_of(dp.errors, rp->errors, "errors");
    if (dp.storage) {
      if (!rp->storage) {
        Diff(dp.name, "the real pallet has no storage");
      } else {
        if (dp.storage->prefix != rp->storage->prefix)
          Diff(dp.name, "storage prefix " + dp.storage->prefix + ", real " + rp->storage->prefix);
        for (const auto& e : dp.storage->entries) Storage(dp.name, e, *rp->storage);
      }
    }
    for (const auto& c : dp.constants) {
      const std::string where = dp.name + "." + c.name;
      const tfchain::Constant* rc = nullptr;
      for (const auto& x : rp->constants)
        if (x.name == c.name) rc = &x;
      if (rc == nullptr) {
        Diff(where, "no such constant on the real chain");
        continue;
      }
      Same(c.type, rc->type, where);
      if (c.value != rc->value)
        Diff(where, "value 0x" + tfchain::ToHex(c.value) + ", real 0x" + tfchain::ToHex(rc->value));
    }
  }

  void Storage(const std::string& pallet, const tfchain::StorageEntry& e, const tfchain::PalletStorage& rs) {
    const std::string where = pallet + "." + e.name;
    const tfchain::StorageEntry* r = nullptr;
    for (const auto& x : rs.entries)
      if (x.name == e.name) r = &x;
    if (r == nullptr) return Diff(where, "no such storage entry on the real chain");
    if (e.modifier != r->modifier) Diff(where, "modifier differs");
    if (e.is_map != r->is_map) return Diff(where, e.is_map ? "a map, real plain" : "plain, real a map");
    if (e.is_map) {
      auto names = [](const std::vector<tfchain::StorageHasher>& hs) {
        std::string s;
        for (auto h : hs) s += std::string(s.empty() ? "" : ",") + tfchain::StorageHasherName(h);
        return s;
      };
      if (e.hashers != r->hashers) Diff(where, "hashers " + names(e.hashers) + ", real " + names(r->hashers));
      Same(e.key, r->key, where + " (key)");
    }
    Same(e.value, r->value, where);
    if (e.default_value != r->default_value)
      Diff(where, "default 0x" + tfchain::ToHex(e.default_value) + ", real 0x" + tfchain::ToHex(r->default_value));
  }

  void Fields(const std::vector<tfchain::Field>& d, const std::vector<tfchain::Field>& r, const std::string& where) {
    if (d.size() != r.size()) {
      Diff(where, std::to_string(d.size()) + " fields, real " + std::to_string(r.size()));
      return;
    }
    for (size_t i = 0; i < d.size(); i++) {
      std::string name = d[i].name.value_or(std::to_string(i));
      if (d[i].name != r[i].name) {
        Diff(where, "field " + std::to_string(i) + " is named " + d[i].name.value_or("(none)") + ", real " +
                        r[i].name.value_or("(none)"));
        continue;
      }
      Same(d[i].type, r[i].type, where + "." + name);
    }
  }

  void Compare(TypeId d, TypeId r, const std::string& where) {
    const Type* dt = dev_.registry.Find(d);
    const Type* rt = ref_.registry.Find(r);
    if (dt == nullptr || rt == nullptr) return Diff(where, "unknown type id");
    // The path names the type: a different one is not dissected further.
    if (dt->path != rt->path)
      return Diff(where, "type path '" + Join(dt->path) + "', real '" + Join(rt->path) + "'");
    if (dt->params.size() != rt->params.size()) {
      Diff(where, "type parameters differ in number");
    } else {
      for (size_t i = 0; i < dt->params.size(); i++) {
        const auto& dp = dt->params[i];
        const auto& rp = rt->params[i];
        if (dp.name != rp.name || dp.type.has_value() != rp.type.has_value())
          Diff(where, "type parameter " + dp.name + " differs from the real " + rp.name);
        else if (dp.type)
          Same(*dp.type, *rp.type, where + "<" + dp.name + ">");
      }
    }
    if (dt->def.index() != rt->def.index()) return Diff(where, "type kind " + Kind(*dt) + ", real " + Kind(*rt));
    if (auto* c = std::get_if<tfchain::TypeDefComposite>(&dt->def)) {
      Fields(c->fields, std::get<tfchain::TypeDefComposite>(rt->def).fields, where);
    } else if (auto* v = std::get_if<tfchain::TypeDefVariant>(&dt->def)) {
      const auto& rv = std::get<tfchain::TypeDefVariant>(rt->def).variants;
      std::map<std::string, const tfchain::Variant*> by_name;
      for (const auto& x : rv) by_name[x.name] = &x;
      std::set<std::string> seen;
      for (const auto& x : v->variants) {
        seen.insert(x.name);
        auto it = by_name.find(x.name);
        if (it == by_name.end()) {
          Diff(where + "." + x.name, "no such variant on the real chain");
          continue;
        }
        if (x.index != it->second->index)
          Diff(where + "." + x.name,
               "index " + std::to_string(x.index) + ", real " + std::to_string(it->second->index));
        Fields(x.fields, it->second->fields, where + "." + x.name);
      }
      if (!subset_ok_.count(d))
        for (const auto& x : rv)
          if (!seen.count(x.name)) Diff(where, "lacks the real variant " + x.name);
    } else if (auto* s = std::get_if<tfchain::TypeDefSequence>(&dt->def)) {
      Same(s->element, std::get<tfchain::TypeDefSequence>(rt->def).element, where + "[]");
    } else if (auto* a = std::get_if<tfchain::TypeDefArray>(&dt->def)) {
      const auto& ra = std::get<tfchain::TypeDefArray>(rt->def);
      if (a->len != ra.len)
        Diff(where, "array of " + std::to_string(a->len) + ", real " + std::to_string(ra.len));
      Same(a->element, ra.element, where + "[]");
    } else if (auto* t = std::get_if<tfchain::TypeDefTuple>(&dt->def)) {
      const auto& rf = std::get<tfchain::TypeDefTuple>(rt->def).fields;
      if (t->fields.size() != rf.size()) return Diff(where, "tuple size differs");
      for (size_t i = 0; i < rf.size(); i++) Same(t->fields[i], rf[i], where + "." + std::to_string(i));
    } else if (auto* p = std::get_if<tfchain::TypeDefPrimitive>(&dt->def)) {
      auto rp = std::get<tfchain::TypeDefPrimitive>(rt->def).primitive;
      if (p->primitive != rp)
        Diff(where, std::string(tfchain::PrimitiveName(p->primitive)) + ", real " + tfchain::PrimitiveName(rp));
    } else if (auto* k = std::get_if<tfchain::TypeDefCompact>(&dt->def)) {
      Same(k->type, std::get<tfchain::TypeDefCompact>(rt->def).type, where + " (compact)");
    } else if (auto* b = std::get_if<tfchain::TypeDefBitSequence>(&dt->def)) {
      const auto& rb = std::get<tfchain::TypeDefBitSequence>(rt->def);
      Same(b->bit_store, rb.bit_store, where + " (bit store)");
      Same(b->bit_order, rb.bit_order, where + " (bit order)");
    }
  }

  static std::string Kind(const Type& t) {
    static const char* kNames[] = {"composite", "variant", "sequence", "array", "tuple", "primitive", "compact",
                                   "bitsequence"};
    return kNames[t.def.index()];
  }

  const Metadata& dev_;
  const Metadata& ref_;
  std::set<TypeId> subset_ok_;
  std::map<std::pair<TypeId, TypeId>, State> state_;
  std::vector<std::string> diffs_;
};

std::string Lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "  " + x + "\n";
  return s;
}

// The recorded spec-152 metadata, or nullopt with the reason.
std::optional<Metadata> LoadRealMetadata(std::string* why) {
  std::string path;
#ifdef QSTOR_TFCHAIN_METADATA
  path = QSTOR_TFCHAIN_METADATA;
#endif
  if (const char* env = std::getenv("QSTOR_TFCHAIN_METADATA"); env != nullptr && *env) path = env;
  std::ifstream in(path);
  if (path.empty() || !in) {
    *why = "recorded TFChain metadata not found at '" + path +
           "' (set the CMake cache variable QSTOR_SHARED_DIR to the folder holding "
           "reference/tfchain/chainMeta-spec152.json, or the environment variable QSTOR_TFCHAIN_METADATA "
           "to the file); the comparison with the real chain was NOT run";
    return std::nullopt;
  }
  auto reply = nlohmann::json::parse(in, nullptr, false);
  if (reply.is_discarded() || !reply.contains("result") || !reply["result"].is_string()) {
    *why = path + ": not a JSON-RPC reply with a \"result\" string";
    return std::nullopt;
  }
  auto m = tfchain::DecodeMetadataHex(reply["result"].get<std::string>());
  if (!m.ok()) {
    *why = path + ": " + m.status().ToString();
    return std::nullopt;
  }
  return std::move(m).value();
}

// A mutable type of the registry (for the tests that break the metadata).
Type& MutableType(Metadata& m, TypeId id) {
  for (auto& pt : m.registry.types)
    if (pt.id == id) return pt.type;
  ADD_FAILURE() << "no type " << id;
  static Type none;
  return none;
}

tfchain::Variant& MutableVariant(Metadata& m, TypeId enum_type, const std::string& name) {
  for (auto& v : std::get<tfchain::TypeDefVariant>(MutableType(m, enum_type).def).variants)
    if (v.name == name) return v;
  ADD_FAILURE() << "no variant " << name;
  static tfchain::Variant none;
  return none;
}

bool Contains(const std::vector<std::string>& diffs, const std::string& prefix) {
  for (const auto& d : diffs)
    if (d.rfind(prefix, 0) == 0) return true;
  return false;
}

// ---------------------------------------------------------------------------

TEST(TfchainRuntime, ValidatesAndRoundTrips) {
  Metadata m = BuildDevnetRuntimeMetadata();
  ASSERT_TRUE(m.Validate().ok()) << m.Validate().ToString();
  EXPECT_EQ(m.version, 14);
  std::string bytes = tfchain::EncodeMetadata(m);
  ASSERT_GE(bytes.size(), 5u);
  EXPECT_EQ(bytes.substr(0, 5), std::string("meta\x0e", 5));
  auto back = tfchain::DecodeMetadata(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == m);
  EXPECT_EQ(tfchain::EncodeMetadata(*back), bytes);
  // Deterministic: a second build gives the same bytes.
  EXPECT_EQ(tfchain::EncodeMetadata(BuildDevnetRuntimeMetadata()), bytes);
}

TEST(TfchainRuntime, PalletsCallsAndErrorsByName) {
  Metadata m = BuildDevnetRuntimeMetadata();
  // The known spec-152 indices (GRID-V3 §1.1-1.3), found by name.
  struct Want {
    const char* pallet;
    const char* call;
    uint8_t p, c;
  };
  for (const Want& w : {Want{"TfgridModule", "user_accept_tc", 25, 25}, Want{"TfgridModule", "create_twin", 25, 17},
                        Want{"TfgridModule", "update_twin", 25, 18},
                        Want{"SmartContractModule", "create_node_contract", 26, 0},
                        Want{"SmartContractModule", "update_node_contract", 26, 1},
                        Want{"SmartContractModule", "cancel_contract", 26, 2}, Want{"Utility", "batch", 3, 0},
                        Want{"Utility", "batch_all", 3, 2}, Want{"Utility", "force_batch", 3, 4},
                        Want{"Balances", "transfer_allow_death", 20, 0},
                        Want{"Balances", "transfer_keep_alive", 20, 3}, Want{"Timestamp", "set", 1, 0},
                        Want{"System", "remark", 0, 0}}) {
    auto c = m.FindCall(w.pallet, w.call);
    ASSERT_TRUE(c.ok()) << w.pallet << "." << w.call << ": " << c.status().ToString();
    EXPECT_EQ(c->pallet_index, w.p) << w.call;
    EXPECT_EQ(c->call_index, w.c) << w.call;
  }
  for (const Want& w : {Want{"System", "ExtrinsicSuccess", 0, 0}, Want{"System", "ExtrinsicFailed", 0, 1},
                        Want{"Utility", "BatchInterrupted", 3, 0}, Want{"Utility", "ItemFailed", 3, 4},
                        Want{"Balances", "Transfer", 20, 2}, Want{"TransactionPayment", "TransactionFeePaid", 21, 0},
                        Want{"TfgridModule", "TwinStored", 25, 11},
                        Want{"SmartContractModule", "ContractCreated", 26, 0},
                        Want{"SmartContractModule", "NodeContractCanceled", 26, 2}}) {
    auto e = m.FindEvent(w.pallet, w.call);
    ASSERT_TRUE(e.ok()) << w.pallet << "." << w.call << ": " << e.status().ToString();
    EXPECT_EQ(e->pallet_index, w.p) << w.call;
    EXPECT_EQ(e->event_index, w.c) << w.call;
  }
  EXPECT_EQ(m.ErrorName(26, 13).value(), "SmartContractModule.ContractIsNotUnique");
  EXPECT_EQ(m.ErrorName(26, 0).value(), "SmartContractModule.TwinNotExists");
  EXPECT_EQ(m.ErrorName(26, 25).value(), "SmartContractModule.NodeNotAvailableToDeploy");
  EXPECT_EQ(m.ErrorName(25, 39).value(), "TfgridModule.UserDidNotSignTermsAndConditions");
  EXPECT_EQ(m.ErrorName(25, 27).value(), "TfgridModule.TwinNotExists");
  EXPECT_EQ(m.ErrorName(20, 2).value(), "Balances.InsufficientBalance");
  EXPECT_FALSE(m.ErrorName(26, 54).ok());  // one past the last
  for (const char* s : {"Contracts", "ContractIDByNodeIDAndHash", "ActiveNodeContracts", "ContractID"})
    EXPECT_TRUE(m.FindStorage("SmartContractModule", s).ok()) << s;
  for (const char* s : {"TwinIdByAccountID", "Twins", "UsersTermsAndConditions", "Nodes", "Farms", "TwinID"})
    EXPECT_TRUE(m.FindStorage("TfgridModule", s).ok()) << s;
  for (const char* s : {"Account", "Events", "Number", "BlockHash", "ParentHash"})
    EXPECT_TRUE(m.FindStorage("System", s).ok()) << s;
  EXPECT_TRUE(m.FindStorage("TfgridModule", "PricingPolicies").ok());
  for (const char* s : {"TftPrice", "AverageTftPrice", "MinTftPrice", "MaxTftPrice"}) {
    auto st = m.FindStorage("TFTPriceModule", s);
    ASSERT_TRUE(st.ok()) << s;
    EXPECT_EQ(st->pallet->index, 28) << s;
  }
  // Only the devnet's pallets in the outer enums.
  auto call = m.RuntimeCallType();
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  const auto& variants = std::get<tfchain::TypeDefVariant>(m.registry.Find(*call)->def).variants;
  std::string names;
  for (const auto& v : variants) names += v.name + "=" + std::to_string(v.index) + " ";
  EXPECT_EQ(names, "System=0 Timestamp=1 Utility=3 Balances=20 TfgridModule=25 SmartContractModule=26 ");
  EXPECT_FALSE(m.FindPallet("Council"));
  ASSERT_EQ(m.extrinsic.signed_extensions.size(), 9u);
  EXPECT_EQ(m.extrinsic.signed_extensions.back().identifier, "ContractIdProvides");
}

TEST(TfchainRuntime, RuntimeVersion) {
  RuntimeVersion v = DevnetRuntimeVersion();
  EXPECT_EQ(v.spec_name, "substrate-threefold");
  EXPECT_EQ(v.spec_version, 152u);
  EXPECT_EQ(v.transaction_version, 2u);
  ASSERT_EQ(v.apis.size(), 10u);
  EXPECT_EQ(RuntimeApiName(v.apis[0].id), "Core");
  EXPECT_EQ(RuntimeApiName(v.apis[3].id), "TaggedTransactionQueue");
  EXPECT_EQ(RuntimeApiName({}), "");

  std::string bytes = EncodeRuntimeVersion(v);
  auto back = DecodeRuntimeVersion(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, v);
  // The System.Version constant holds the same value.
  Metadata m = BuildDevnetRuntimeMetadata();
  auto c = m.FindConstant("System", "Version");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->value, bytes);

  // Bad input: a clear error, never a crash.
  auto truncated = DecodeRuntimeVersion(bytes.substr(0, bytes.size() - 3));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("RuntimeVersion"), std::string::npos) << truncated.status().ToString();
  EXPECT_FALSE(DecodeRuntimeVersion(bytes + "x").ok());
  EXPECT_FALSE(DecodeRuntimeVersion("").ok());
  std::string huge_count = bytes.substr(0, 1 + 19 + 1 + 19 + 12) + tfchain::CompactBytes(1u << 30);
  EXPECT_FALSE(DecodeRuntimeVersion(huge_count).ok());

  // state_getRuntimeVersion as a Substrate node answers it.
  nlohmann::json want = nlohmann::json::parse(R"({
    "specName": "substrate-threefold", "implName": "substrate-threefold",
    "authoringVersion": 1, "specVersion": 152, "implVersion": 1,
    "apis": [["0xdf6acb689907609b", 4], ["0x37e397fc7c91f5e4", 2], ["0x40fe3ad401f8959a", 6],
             ["0xd2bc9897eed08f15", 3], ["0xf78b278be53f454c", 2], ["0xdd718d5cc53262d4", 1],
             ["0xab3c0572291feb8b", 1], ["0xed99c5acb25eedf5", 3], ["0xbc9d89904f5b923f", 1],
             ["0x37c8bb1350a9a2a8", 4]],
    "transactionVersion": 2, "stateVersion": 0})");
  EXPECT_EQ(RuntimeVersionJson(v), want) << RuntimeVersionJson(v).dump();
}

// The comparison itself can fail, and says where.
TEST(TfchainRuntime, ComparisonFindsEachKindOfDifference) {
  const Metadata dev = BuildDevnetRuntimeMetadata();
  EXPECT_EQ(MetadataComparison(dev, dev).Run(), std::vector<std::string>{});

  TypeId u32 = 0;
  for (const auto& pt : dev.registry.types)
    if (auto* p = std::get_if<tfchain::TypeDefPrimitive>(&pt.type.def); p && p->primitive == tfchain::Primitive::kU32)
      u32 = pt.id;

  {  // a call argument of another layout
    Metadata bad = dev;
    auto& v = MutableVariant(bad, *bad.FindPallet("SmartContractModule")->calls, "create_node_contract");
    v.fields[2].type = u32;
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "SmartContractModule.create_node_contract.deployment_data: ")) << Lines(diffs);
  }
  {  // a renamed field
    Metadata bad = dev;
    auto& v = MutableVariant(bad, *bad.FindPallet("TfgridModule")->calls, "create_twin");
    v.fields[0].name = "relays";
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "TfgridModule.create_twin: field 0 is named relays")) << Lines(diffs);
  }
  {  // a wrong call index, and an error enum missing a variant
    Metadata bad = dev;
    MutableVariant(bad, *bad.FindPallet("Balances")->calls, "transfer_keep_alive").index = 2;
    auto& errors = std::get<tfchain::TypeDefVariant>(MutableType(bad, *bad.FindPallet("Utility")->errors).def);
    errors.variants.clear();
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "Balances.transfer_keep_alive: index 2, real 3")) << Lines(diffs);
    EXPECT_TRUE(Contains(diffs, "Utility: lacks the real variant TooManyCalls")) << Lines(diffs);
  }
  {  // storage: hashers, default, pallet index
    Metadata bad = dev;
    for (auto& p : bad.pallets) {
      if (p.name == "SmartContractModule") {
        p.index = 27;
        for (auto& e : p.storage->entries) {
          if (e.name == "ContractIDByNodeIDAndHash") e.hashers[1] = tfchain::StorageHasher::kTwox64Concat;
          if (e.name == "ContractID") e.default_value = std::string(8, '\1');
        }
      }
    }
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "SmartContractModule: pallet index 27, real 26")) << Lines(diffs);
    EXPECT_TRUE(Contains(diffs, "SmartContractModule.ContractIDByNodeIDAndHash: hashers "
                                "Blake2_128Concat,Twox64Concat, real Blake2_128Concat,Blake2_128Concat"))
        << Lines(diffs);
    EXPECT_TRUE(Contains(diffs, "SmartContractModule.ContractID: default 0x0101")) << Lines(diffs);
  }
  {  // signed extensions out of order; a nested type (DispatchError) changed
    Metadata bad = dev;
    std::swap(bad.extrinsic.signed_extensions[0], bad.extrinsic.signed_extensions[1]);
    auto& dispatch_error = MutableVariant(bad, *bad.FindPallet("System")->events, "ExtrinsicFailed");
    auto& de = std::get<tfchain::TypeDefVariant>(MutableType(bad, dispatch_error.fields[0].type).def);
    de.variants.pop_back();
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "signed extensions: [CheckSpecVersion CheckNonZeroSender")) << Lines(diffs);
    EXPECT_TRUE(Contains(diffs, "System.ExtrinsicFailed.dispatch_error: lacks the real variant RootNotAllowed"))
        << Lines(diffs);
  }
  {  // a devnet event the reference lacks (the subset rule is one-way)
    Metadata bad = dev;
    auto& v = MutableVariant(bad, *bad.FindPallet("SmartContractModule")->events, "ContractBilled");
    v.name = "ContractBilledTwice";
    auto diffs = MetadataComparison(bad, dev).Run();
    EXPECT_TRUE(Contains(diffs, "SmartContractModule.ContractBilledTwice: no such variant on the real chain"))
        << Lines(diffs);
  }
}

TEST(TfchainRuntime, MatchesRealSpec152) {
  std::string why;
  std::optional<Metadata> real = LoadRealMetadata(&why);
  if (!real) GTEST_SKIP() << why;
  const Metadata dev = BuildDevnetRuntimeMetadata();

  MetadataComparison comparison(dev, *real);
  std::vector<std::string> diffs = comparison.Run();
  EXPECT_GT(comparison.compared(), 150u);  // it walked the whole devnet registry
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences from the real spec-152 metadata:\n" << Lines(diffs);

  // Every DispatchError::Module of the devnet's pallets names the same error.
  for (const auto& p : dev.pallets) {
    if (!p.errors) continue;
    for (int i = 0; i < 256; i++) {
      auto d = dev.ErrorName(p.index, uint8_t(i));
      auto r = real->ErrorName(p.index, uint8_t(i));
      ASSERT_EQ(d.ok(), r.ok()) << p.name << " error " << i;
      if (d.ok()) {
        EXPECT_EQ(*d, *r);
      }
    }
  }

  // The pricing entries TfchainClient::Pricing reads are declared, so the
  // walk above proved their layouts equal to the real chain's; and a change
  // in them is caught against the real metadata, under their names.
  for (const auto& [pallet, entry] : std::vector<std::pair<std::string, std::string>>{
           {"TfgridModule", "PricingPolicies"}, {"TFTPriceModule", "TftPrice"},
           {"TFTPriceModule", "AverageTftPrice"}, {"TFTPriceModule", "MinTftPrice"},
           {"TFTPriceModule", "MaxTftPrice"}}) {
    auto d = dev.FindStorage(pallet, entry);
    auto r = real->FindStorage(pallet, entry);
    ASSERT_TRUE(d.ok()) << pallet << "." << entry << ": " << d.status().ToString();
    ASSERT_TRUE(r.ok()) << pallet << "." << entry << ": " << r.status().ToString();
    EXPECT_EQ(d->pallet->index, r->pallet->index) << pallet;
  }
  EXPECT_EQ(real->FindPallet("TFTPriceModule")->index, 28);
  {
    Metadata bad = dev;
    for (auto& pt : bad.registry.types) {
      if (pt.type.path != std::vector<std::string>{"pallet_tfgrid", "types", "Unit"}) continue;
      auto& units = std::get<tfchain::TypeDefVariant>(pt.type.def).variants;
      ASSERT_EQ(units.size(), 5u);
      std::swap(units[3].index, units[4].index);  // Gigabytes <-> Terrabytes
    }
    for (auto& p : bad.pallets) {
      if (p.name != "TFTPriceModule") continue;
      for (auto& e : p.storage->entries)
        if (e.name == "AverageTftPrice") e.default_value = std::string(4, '\1');
    }
    auto d = MetadataComparison(bad, *real).Run();
    EXPECT_TRUE(Contains(d, "TfgridModule.PricingPolicies.su")) << Lines(d);
    EXPECT_TRUE(Contains(d, "TFTPriceModule.AverageTftPrice: default 0x01010101, real 0x00000000")) << Lines(d);
  }

  // The real chain's System.Version is spec 152 / tx 2, as the devnet's.
  auto rc = real->FindConstant("System", "Version");
  ASSERT_TRUE(rc.ok()) << rc.status().ToString();
  auto rv = DecodeRuntimeVersion((*rc)->value);
  ASSERT_TRUE(rv.ok()) << rv.status().ToString();
  EXPECT_EQ(rv->spec_version, 152u);
  EXPECT_EQ(rv->transaction_version, 2u);
  EXPECT_EQ(*rv, DevnetRuntimeVersion());
}

// GRID-V3 §7.1: the call vectors encode the same through the devnet's
// metadata as through the real chain's, and a signed extrinsic built from
// the devnet's signed extensions is the recorded one, byte for byte.
const char kPkHex[] = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const char kHash[] = "0123456789abcdef0123456789abcdef";
const char kHashHex[] = "3031323334353637383961626364656630313233343536373839616263646566";
const char kCnc[] =
    "1a000b000000" "3031323334353637383961626364656630313233343536373839616263646566" "087b7d" "00000000" "00";

struct CallVector {
  const char* pallet;
  const char* call;
  std::vector<tfchain::NamedValue> args;
  std::string hex;
};

std::vector<CallVector> CallVectors(const Metadata& m) {
  using tfchain::Value;
  auto cnc_args = [] {
    return std::vector<tfchain::NamedValue>{{"node_id", Value::U(11)},
                                            {"deployment_hash", Value::Bytes(kHash)},
                                            {"deployment_data", Value::Bytes("{}")},
                                            {"public_ips", Value::U(0)},
                                            {"solution_provider_id", Value::None()}};
  };
  auto cnc = tfchain::CallValue(m, "SmartContractModule", "create_node_contract", cnc_args());
  auto cancel5 = tfchain::CallValue(m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(5)}});
  EXPECT_TRUE(cnc.ok()) << cnc.status().ToString();
  EXPECT_TRUE(cancel5.ok()) << cancel5.status().ToString();
  std::vector<Value> batch;
  if (cnc.ok() && cancel5.ok()) batch = {*cnc, *cancel5};
  return {
      {"TfgridModule", "create_twin", {{"relay", Value::Some(Value::Bytes("relay.grid.tf"))}, {"pk", Value::None()}},
       "1911013472656c61792e677269642e746600"},
      {"TfgridModule", "user_accept_tc",
       {{"document_link", Value::Bytes("https://library.threefold.me/info/legal/#/")},
        {"document_hash", Value::Bytes("abc")}},
       "1919a868747470733a2f2f6c6962726172792e7468726565666f6c642e6d652f696e666f2f6c6567616c2f232f0c616263"},
      {"SmartContractModule", "create_node_contract", cnc_args(), kCnc},
      {"SmartContractModule", "update_node_contract",
       {{"contract_id", Value::U(42)}, {"deployment_hash", Value::Bytes(kHash)}, {"deployment_data", Value::Bytes("{}")}},
       std::string("1a012a00000000000000") + kHashHex + "087b7d"},
      {"SmartContractModule", "cancel_contract", {{"contract_id", Value::U(42)}}, "1a022a00000000000000"},
      {"Utility", "batch_all", {{"calls", Value::Sequence(batch)}},
       std::string("030208") + kCnc + "1a020500000000000000"},
      {"Balances", "transfer_keep_alive",
       {{"dest", Value::Enum("Id", {{"", Value::Bytes(tfchain::FromHex(kPkHex).value())}})},
        {"value", Value::U(10'000'000)}},
       std::string("140300") + kPkHex + "025a6202"},
  };
}

TEST(TfchainRuntime, CallVectorsEncodeAsOnTheRealChain) {
  const Metadata dev = BuildDevnetRuntimeMetadata();
  auto dev_call_type = dev.RuntimeCallType();
  ASSERT_TRUE(dev_call_type.ok()) << dev_call_type.status().ToString();
  for (const CallVector& v : CallVectors(dev)) {
    auto bytes = tfchain::EncodeCall(dev, v.pallet, v.call, v.args);
    ASSERT_TRUE(bytes.ok()) << v.pallet << "." << v.call << ": " << bytes.status().ToString();
    EXPECT_EQ(tfchain::ToHex(*bytes), v.hex) << v.pallet << "." << v.call;
    // And back, as the devnet will decode what clients send.
    auto value = tfchain::DecodeValueBytes(dev.registry, *dev_call_type, *bytes);
    EXPECT_TRUE(value.ok()) << v.call << ": " << value.status().ToString();
  }

  std::string why;
  std::optional<Metadata> real = LoadRealMetadata(&why);
  if (!real) GTEST_SKIP() << "the devnet's encodings match GRID-V3 §7.1, but " << why;
  auto real_call_type = real->RuntimeCallType();
  ASSERT_TRUE(real_call_type.ok()) << real_call_type.status().ToString();
  for (const CallVector& v : CallVectors(*real)) {
    auto real_bytes = tfchain::EncodeCall(*real, v.pallet, v.call, v.args);
    ASSERT_TRUE(real_bytes.ok()) << v.call << ": " << real_bytes.status().ToString();
    auto dev_bytes = tfchain::EncodeCall(dev, v.pallet, v.call, v.args);
    ASSERT_TRUE(dev_bytes.ok()) << v.call << ": " << dev_bytes.status().ToString();
    EXPECT_EQ(tfchain::ToHex(*dev_bytes), tfchain::ToHex(*real_bytes)) << v.pallet << "." << v.call;
    // Each chain's RuntimeCall decodes the other's bytes to the same value.
    auto a = tfchain::DecodeValueBytes(real->registry, *real_call_type, *dev_bytes);
    auto b = tfchain::DecodeValueBytes(dev.registry, *dev_call_type, *real_bytes);
    ASSERT_TRUE(a.ok() && b.ok()) << v.call;
    EXPECT_EQ(a->ToString(), b->ToString()) << v.call;
  }
}

TEST(TfchainRuntime, SignedExtrinsicAsOnTheRealChain) {
  const Metadata dev = BuildDevnetRuntimeMetadata();
  std::array<uint8_t, 32> seed;
  seed.fill(0x07);
  grid::Ed25519Key key = grid::Ed25519Key::FromSeed(seed);
  ASSERT_EQ(key.PublicKeyHex(), kPkHex);
  auto call = tfchain::EncodeCall(dev, "SmartContractModule", "create_node_contract", CallVectors(dev)[2].args);
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  tfchain::ChainInfo chain;
  RuntimeVersion version = DevnetRuntimeVersion();
  chain.spec_version = version.spec_version;
  chain.tx_version = version.transaction_version;
  chain.genesis.fill(0x11);
  chain.era_block_hash.fill(0x11);
  tfchain::ExtrinsicExtra extra;  // immortal, nonce 0, tip 0
  auto xt = tfchain::BuildSignedExtrinsic(dev, key.public_key(),
                                          [&](std::string_view msg) { return key.Sign(msg); }, *call, extra, chain);
  ASSERT_TRUE(xt.ok()) << xt.status().ToString();
  EXPECT_EQ(tfchain::ToHex(*xt),
            std::string("5102" "84" "00") + kPkHex +
                "00" "a97a6d84d0239efa4801f7fa7f5116102c834542597b3595f37557ea534ba39ab4685356e36f8faecc6fadaf9ddeb4065380dde661294738291cf3f804e2cd0c"
                "00" "00" "00" + kCnc);
  auto decoded = tfchain::DecodeExtrinsic(dev, *xt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(tfchain::VerifyExtrinsic(dev, *decoded, chain).ok());
  chain.genesis.fill(0x12);  // another chain: the signature no longer checks
  EXPECT_FALSE(tfchain::VerifyExtrinsic(dev, *decoded, chain).ok());
}

}  // namespace
}  // namespace qstor::devnet
