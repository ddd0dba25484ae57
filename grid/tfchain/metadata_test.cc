#include "grid/tfchain/metadata.h"

#include <gtest/gtest.h>

#include "grid/tfchain/scale.h"
#include "grid/tfchain/test_util.h"

namespace qstor::tfchain {
namespace {

// A canonical text of a type's layout: "u32", "[u8;32]", "Vec<u8>" (bounded
// vectors unwrapped), "Option<u64>", "Compact<u128>", else the path's last name.
std::string Shape(const Registry& r, TypeId id, int depth = 0) {
  const Type* t = r.Find(id);
  if (t == nullptr || depth > 8) return "?";
  std::string last = t->path.empty() ? "" : t->path.back();
  if (const auto* c = std::get_if<TypeDefComposite>(&t->def)) {
    if (c->fields.size() == 1 && (last == "BoundedVec" || last == "WeakBoundedVec"))
      return Shape(r, c->fields[0].type, depth + 1);
    return last;
  }
  if (const auto* v = std::get_if<TypeDefVariant>(&t->def)) {
    if (last == "Option" && v->variants.size() == 2 && v->variants[1].fields.size() == 1)
      return "Option<" + Shape(r, v->variants[1].fields[0].type, depth + 1) + ">";
    return last;
  }
  if (const auto* s = std::get_if<TypeDefSequence>(&t->def)) return "Vec<" + Shape(r, s->element, depth + 1) + ">";
  if (const auto* a = std::get_if<TypeDefArray>(&t->def))
    return "[" + Shape(r, a->element, depth + 1) + ";" + std::to_string(a->len) + "]";
  if (const auto* p = std::get_if<TypeDefPrimitive>(&t->def)) return PrimitiveName(p->primitive);
  if (const auto* c = std::get_if<TypeDefCompact>(&t->def)) return "Compact<" + Shape(r, c->type, depth + 1) + ">";
  if (const auto* tu = std::get_if<TypeDefTuple>(&t->def)) {
    std::string s = "(";
    for (size_t k = 0; k < tu->fields.size(); ++k) s += (k ? "," : "") + Shape(r, tu->fields[k], depth + 1);
    return s + ")";
  }
  return "bits";
}

std::string CallSignature(const Metadata& m, std::string_view pallet, std::string_view call) {
  auto ci = m.FindCall(pallet, call);
  if (!ci.ok()) return ci.status().ToString();
  std::string s = "[" + std::to_string(ci->pallet_index) + "," + std::to_string(ci->call_index) + "]";
  for (const auto& f : ci->call->fields) s += " " + f.name.value_or("_") + ":" + Shape(m.registry, f.type);
  return s;
}

TEST(RealMetadata, RoundTripsByteForByte) {
  const std::string& bytes = testing::RealMetadataBytes();
  if (bytes.empty()) GTEST_SKIP() << "SKIPPED: recorded TFChain metadata not found at " << testing::MetadataPath();
  auto m = DecodeMetadata(bytes);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version, 14);
  EXPECT_EQ(m->registry.types.size(), 305u);
  EXPECT_EQ(m->extrinsic.version, 4);
  std::string again = EncodeMetadata(*m);
  EXPECT_EQ(again.size(), bytes.size());
  EXPECT_TRUE(again == bytes) << "re-encoded metadata differs from the recorded bytes";
  auto m2 = DecodeMetadata(again);
  ASSERT_TRUE(m2.ok());
  EXPECT_TRUE(*m2 == *m);
}

TEST(RealMetadata, SpecVersionConstant) {
  REQUIRE_REAL_METADATA(m);
  auto v = m->FindConstant("System", "Version");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  // RuntimeVersion {spec_name String, impl_name String, authoring_version u32, spec_version u32, ...}
  Decoder d((*v)->value);
  std::string spec_name, impl_name;
  uint32_t authoring, spec;
  ASSERT_TRUE(d.Str(&spec_name, "spec_name").ok());
  ASSERT_TRUE(d.Str(&impl_name, "impl_name").ok());
  ASSERT_TRUE(d.U32(&authoring, "authoring_version").ok());
  ASSERT_TRUE(d.U32(&spec, "spec_version").ok());
  EXPECT_EQ(spec_name, "substrate-threefold");
  EXPECT_EQ(spec, 152u);
}

TEST(RealMetadata, PalletIndices) {
  REQUIRE_REAL_METADATA(m);
  const std::pair<const char*, int> pallets[] = {
      {"System", 0}, {"Timestamp", 1}, {"Utility", 3}, {"Balances", 20}, {"TransactionPayment", 21},
      {"TfgridModule", 25}, {"SmartContractModule", 26}};
  for (const auto& [name, index] : pallets) {
    const Pallet* p = m->FindPallet(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->index, index) << name;
    EXPECT_EQ(m->FindPalletByIndex(uint8_t(index)), p);
  }
  EXPECT_EQ(m->FindPallet("NoSuchPallet"), nullptr);
}

TEST(RealMetadata, CallsTheClientUsesWithIndicesAndFieldLayouts) {
  REQUIRE_REAL_METADATA(m);
  EXPECT_EQ(CallSignature(*m, "TfgridModule", "user_accept_tc"),
            "[25,25] document_link:Vec<u8> document_hash:Vec<u8>");
  EXPECT_EQ(CallSignature(*m, "TfgridModule", "create_twin"), "[25,17] relay:Option<Vec<u8>> pk:Option<Vec<u8>>");
  EXPECT_EQ(CallSignature(*m, "TfgridModule", "update_twin"), "[25,18] relay:Option<Vec<u8>> pk:Option<Vec<u8>>");
  EXPECT_EQ(CallSignature(*m, "SmartContractModule", "create_node_contract"),
            "[26,0] node_id:u32 deployment_hash:[u8;32] deployment_data:Vec<u8> public_ips:u32 "
            "solution_provider_id:Option<u64>");
  EXPECT_EQ(CallSignature(*m, "SmartContractModule", "update_node_contract"),
            "[26,1] contract_id:u64 deployment_hash:[u8;32] deployment_data:Vec<u8>");
  EXPECT_EQ(CallSignature(*m, "SmartContractModule", "cancel_contract"), "[26,2] contract_id:u64");
  EXPECT_EQ(CallSignature(*m, "SmartContractModule", "create_rent_contract"),
            "[26,7] node_id:u32 solution_provider_id:Option<u64>");
  EXPECT_EQ(CallSignature(*m, "Utility", "batch"), "[3,0] calls:Vec<RuntimeCall>");
  EXPECT_EQ(CallSignature(*m, "Utility", "batch_all"), "[3,2] calls:Vec<RuntimeCall>");
  EXPECT_EQ(CallSignature(*m, "Utility", "force_batch"), "[3,4] calls:Vec<RuntimeCall>");
  EXPECT_EQ(CallSignature(*m, "Balances", "transfer_allow_death"), "[20,0] dest:MultiAddress value:Compact<u128>");
  EXPECT_EQ(CallSignature(*m, "Balances", "transfer_keep_alive"), "[20,3] dest:MultiAddress value:Compact<u128>");
  EXPECT_EQ(CallSignature(*m, "Balances", "transfer"), "[20,7] dest:MultiAddress value:Compact<u128>");
  auto by_index = m->FindCallByIndex(26, 0);
  ASSERT_TRUE(by_index.ok());
  EXPECT_EQ(by_index->call->name, "create_node_contract");
  EXPECT_FALSE(m->FindCall("SmartContractModule", "no_such_call").ok());
  EXPECT_FALSE(m->FindCallByIndex(26, 250).ok());
}

TEST(RealMetadata, EventsTheClientReads) {
  REQUIRE_REAL_METADATA(m);
  const std::tuple<const char*, const char*, int, int> events[] = {
      {"System", "ExtrinsicSuccess", 0, 0}, {"System", "ExtrinsicFailed", 0, 1},
      {"Utility", "BatchInterrupted", 3, 0}, {"Utility", "BatchCompleted", 3, 1},
      {"Utility", "BatchCompletedWithErrors", 3, 2}, {"Utility", "ItemCompleted", 3, 3},
      {"Utility", "ItemFailed", 3, 4}, {"Balances", "Transfer", 20, 2},
      {"TfgridModule", "TwinStored", 25, 11}, {"SmartContractModule", "ContractCreated", 26, 0},
      {"SmartContractModule", "ContractUpdated", 26, 1}, {"SmartContractModule", "NodeContractCanceled", 26, 2}};
  for (const auto& [pallet, name, pi, ei] : events) {
    auto e = m->FindEvent(pallet, name);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->pallet_index, pi) << name;
    EXPECT_EQ(e->event_index, ei) << name;
    auto back = m->FindEventByIndex(uint8_t(pi), uint8_t(ei));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->event->name, name);
  }
  auto failed = m->FindEvent("System", "ExtrinsicFailed");
  ASSERT_EQ(failed->event->fields.size(), 2u);
  EXPECT_EQ(failed->event->fields[0].name, "dispatch_error");
  EXPECT_EQ(Shape(m->registry, failed->event->fields[0].type), "DispatchError");
  auto created = m->FindEvent("SmartContractModule", "ContractCreated");
  ASSERT_EQ(created->event->fields.size(), 1u);
  EXPECT_EQ(Shape(m->registry, created->event->fields[0].type), "Contract");
  auto canceled = m->FindEvent("SmartContractModule", "NodeContractCanceled");
  std::string f;
  for (const auto& x : canceled->event->fields) f += *x.name + ":" + Shape(m->registry, x.type) + " ";
  EXPECT_EQ(f, "contract_id:u64 node_id:u32 twin_id:u32 ");
  EXPECT_TRUE(m->RuntimeEventType().ok());
  EXPECT_TRUE(m->RuntimeCallType().ok());
}

TEST(RealMetadata, ErrorsByNameAndIndex) {
  REQUIRE_REAL_METADATA(m);
  const std::pair<const char*, const char*> errors[] = {
      {"SmartContractModule", "ContractIsNotUnique"}, {"SmartContractModule", "TwinNotExists"},
      {"SmartContractModule", "NodeNotExists"}, {"SmartContractModule", "NodeNotAvailableToDeploy"},
      {"TfgridModule", "UserDidNotSignTermsAndConditions"}, {"Balances", "InsufficientBalance"}};
  for (const auto& [pallet, name] : errors) {
    auto v = m->FindError(pallet, name);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    auto back = m->ErrorName(m->FindPallet(pallet)->index, (*v)->index);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, std::string(pallet) + "." + name);
  }
  EXPECT_FALSE(m->ErrorName(26, 250).ok());
  EXPECT_FALSE(m->ErrorName(99, 0).ok());
}

TEST(RealMetadata, StorageEntriesTheClientReads) {
  REQUIRE_REAL_METADATA(m);
  struct Want { const char* pallet; const char* entry; const char* prefix; StorageModifier mod;
                std::vector<StorageHasher> hashers; const char* key; const char* value; };
  using H = StorageHasher;
  const Want wants[] = {
      {"System", "Account", "System", StorageModifier::kDefault, {H::kBlake2_128Concat}, "AccountId32", "AccountInfo"},
      {"System", "Events", "System", StorageModifier::kDefault, {}, "", "Vec<EventRecord>"},
      {"System", "BlockHash", "System", StorageModifier::kDefault, {H::kTwox64Concat}, "u32", "H256"},
      {"TfgridModule", "TwinIdByAccountID", "TfgridModule", StorageModifier::kOptional, {H::kBlake2_128Concat},
       "AccountId32", "u32"},
      {"TfgridModule", "Twins", "TfgridModule", StorageModifier::kOptional, {H::kBlake2_128Concat}, "u32", "Twin"},
      {"TfgridModule", "UsersTermsAndConditions", "TfgridModule", StorageModifier::kOptional,
       {H::kBlake2_128Concat}, "AccountId32", "Vec<TermsAndConditions>"},
      {"SmartContractModule", "Contracts", "SmartContractModule", StorageModifier::kOptional,
       {H::kBlake2_128Concat}, "u64", "Contract"},
      {"SmartContractModule", "ContractIDByNodeIDAndHash", "SmartContractModule", StorageModifier::kDefault,
       {H::kBlake2_128Concat, H::kBlake2_128Concat}, "(u32,[u8;32])", "u64"},
      {"SmartContractModule", "ActiveNodeContracts", "SmartContractModule", StorageModifier::kDefault,
       {H::kBlake2_128Concat}, "u32", "Vec<u64>"},
  };
  for (const auto& w : wants) {
    auto st = m->FindStorage(w.pallet, w.entry);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->prefix, w.prefix);
    EXPECT_EQ(st->entry->modifier, w.mod) << w.entry;
    EXPECT_EQ(st->entry->hashers, w.hashers) << w.entry;
    EXPECT_EQ(st->entry->is_map, !w.hashers.empty()) << w.entry;
    if (st->entry->is_map) {
      EXPECT_EQ(Shape(m->registry, st->entry->key), w.key) << w.entry;
    }
    EXPECT_EQ(Shape(m->registry, st->entry->value), w.value) << w.entry;
  }
  EXPECT_FALSE(m->FindStorage("System", "NoSuchEntry").ok());
}

TEST(RealMetadata, SignedExtensionsInOrder) {
  REQUIRE_REAL_METADATA(m);
  std::vector<std::string> ids;
  for (const auto& s : m->extrinsic.signed_extensions) ids.push_back(s.identifier);
  EXPECT_EQ(ids, (std::vector<std::string>{"CheckNonZeroSender", "CheckSpecVersion", "CheckTxVersion",
                                           "CheckGenesis", "CheckMortality", "CheckNonce", "CheckWeight",
                                           "ChargeTransactionPayment", "ContractIdProvides"}));
}

TEST(RealMetadata, EveryTruncationIsAnErrorNotACrash) {
  const std::string& bytes = testing::RealMetadataBytes();
  if (bytes.empty()) GTEST_SKIP() << "SKIPPED: recorded TFChain metadata not found at " << testing::MetadataPath();
  // A spread of cut points, including inside the header.
  for (size_t cut : {size_t(0), size_t(3), size_t(5), size_t(6), size_t(100), size_t(4097), bytes.size() / 2,
                     bytes.size() - 1}) {
    auto m = DecodeMetadata(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(m.ok()) << cut;
    EXPECT_NE(m.status().message().find("offset"), std::string::npos) << m.status().message();
  }
  // Trailing garbage is refused.
  auto m = DecodeMetadata(bytes + "x");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("trailing"), std::string::npos) << m.status().message();
}

TEST(Metadata, RefusesWrongMagicAndVersion) {
  auto a = DecodeMetadata("atem\x0e");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("magic is 0x6174656d"), std::string::npos) << a.status().message();
  auto b = DecodeMetadata(std::string("meta\x0d", 5));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Status::Code::kNotImplemented);
  EXPECT_NE(b.status().message().find("version 13 is not supported"), std::string::npos);
  auto c = DecodeMetadata("me");
  EXPECT_FALSE(c.ok());
  EXPECT_FALSE(DecodeMetadataHex("0x6d65746g").ok());
}

// A runtime description built in C++ (the devnet's way) encodes and decodes
// back identically, in v14 and v15.
Metadata SmallRuntime(uint8_t version) {
  Metadata m;
  m.version = version;
  Registry& r = m.registry;
  TypeId u8 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kU8}, {}});
  TypeId u32 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kU32}, {}});
  TypeId bytes = r.Add({{}, {}, TypeDefSequence{u8}, {}});
  TypeId unit = r.Add({{}, {}, TypeDefTuple{}, {}});
  TypeId calls = r.Add({{"pallet_demo", "pallet", "Call"}, {{"T", std::nullopt}},
                        TypeDefVariant{{{"poke", {{"who", u32, "u32", {}}, {"note", bytes, "Vec<u8>", {}}}, 0, {"Pokes."}}}},
                        {"Calls of the demo."}});
  TypeId errors = r.Add({{"pallet_demo", "pallet", "Error"}, {}, TypeDefVariant{{{"Nope", {}, 0, {}}, {"Worse", {}, 1, {}}}}, {}});
  TypeId arr = r.Add({{}, {}, TypeDefArray{4, u8}, {}});
  TypeId cmp = r.Add({{}, {}, TypeDefCompact{u32}, {}});
  TypeId bits = r.Add({{}, {}, TypeDefBitSequence{u8, unit}, {}});
  TypeId tup = r.Add({{}, {}, TypeDefTuple{{arr, cmp, bits}}, {}});
  Pallet p;
  p.name = "Demo";
  p.index = 7;
  p.calls = calls;
  p.errors = errors;
  p.storage = PalletStorage{"Demo", {StorageEntry{"Things", StorageModifier::kDefault, true,
                                                  {StorageHasher::kBlake2_128Concat, StorageHasher::kTwox64Concat},
                                                  tup, u32, std::string("\0\0\0\0", 4), {"Things."}},
                                     StorageEntry{"Count", StorageModifier::kOptional, false, {}, 0, u32, "", {}}}};
  p.constants.push_back(Constant{"Max", u32, std::string("\x10\0\0\0", 4), {}});
  if (version == 15) p.docs = {"The demo pallet."};
  m.pallets.push_back(p);
  if (version == 14) m.extrinsic.type = unit;  // v15 has no such field
  m.extrinsic.signed_extensions = {{"CheckNonZeroSender", unit, unit}};
  m.runtime_type = unit;
  if (version == 15) {
    m.extrinsic.address_type = u32;
    m.extrinsic.call_type = calls;
    m.extrinsic.signature_type = arr;
    m.extrinsic.extra_type = unit;
    m.v15.apis = {RuntimeApi{"Core", {RuntimeApiMethod{"version", {{"at", u32}}, bytes, {"v"}}}, {"core"}}};
    m.v15.call_enum = calls;
    m.v15.event_enum = unit;
    m.v15.error_enum = errors;
    m.v15.custom = {CustomValue{"x", u8, "\x01"}};
  }
  return m;
}

TEST(Metadata, BuiltInCppRoundTripsV14AndV15) {
  for (uint8_t version : {uint8_t(14), uint8_t(15)}) {
    Metadata m = SmallRuntime(version);
    ASSERT_TRUE(m.Validate().ok()) << m.Validate().ToString();
    std::string bytes = EncodeMetadata(m);
    EXPECT_EQ(bytes.substr(0, 5), std::string("meta") + char(version));
    auto back = DecodeMetadata(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == m) << int(version);
    EXPECT_EQ(EncodeMetadata(*back), bytes);
    auto ci = back->FindCall("Demo", "poke");
    ASSERT_TRUE(ci.ok());
    EXPECT_EQ(ci->pallet_index, 7);
    EXPECT_EQ(*back->ErrorName(7, 1), "Demo.Worse");
  }
}

TEST(Metadata, ValidateFindsDanglingTypeIds) {
  Metadata m = SmallRuntime(14);
  m.pallets[0].calls = 999;
  Status s = m.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pallet Demo calls refers to unknown type id 999"), std::string::npos) << s.message();
  auto d = DecodeMetadata(EncodeMetadata(m));
  EXPECT_FALSE(d.ok());
}

TEST(Metadata, UnknownTypeDefKindIsRefused) {
  Metadata m = SmallRuntime(14);
  std::string bytes = EncodeMetadata(m);
  // types: compact(10) then type #0: id 00, path 00, params 00, kind 05 (primitive) ...
  ASSERT_EQ(bytes.substr(5, 5), std::string("\x28\x00\x00\x00\x05", 5));
  bytes[9] = 9;
  auto d = DecodeMetadata(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("unknown TypeDef kind 9"), std::string::npos) << d.status().message();
}

}  // namespace
}  // namespace qstor::tfchain
