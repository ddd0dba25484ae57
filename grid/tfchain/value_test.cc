// Dynamic values, storage values and events against the real registry, and
// hostile input against small registries built here.
#include "grid/tfchain/value.h"

#include <gtest/gtest.h>

#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/test_util.h"

namespace qstor::tfchain {
namespace {

TypeId ValueType(const Metadata& m, const char* pallet, const char* entry) {
  return m.FindStorage(pallet, entry).value().entry->value;
}

std::string AccountBytes(uint8_t fill) { return std::string(32, char(fill)); }

Value NodeContractValue(uint64_t id) {
  Value node = Value::Composite({{"node_id", Value::U(11)},
                                 {"deployment_hash", Value::Bytes("0123456789abcdef0123456789abcdef")},
                                 {"deployment_data", Value::Bytes("{\"v\":3}")},
                                 {"public_ips", Value::U(1)},
                                 {"public_ips_list", Value::Sequence({Value::Composite({
                                                         {"ip", Value::Bytes("185.1.2.3/24")},
                                                         {"gateway", Value::Bytes("185.1.2.1")},
                                                         {"contract_id", Value::U(id)}})})}});
  return Value::Composite({{"version", Value::U(4)},
                           {"state", Value::Enum("Created")},
                           {"contract_id", Value::U(id)},
                           {"twin_id", Value::U(9)},
                           {"contract_type", Value::Enum("NodeContract", {{"", node}})},
                           {"solution_provider_id", Value::Some(Value::U(3))}});
}

TEST(Value, AccountInfoIs80BytesAndDecodesByName) {
  REQUIRE_REAL_METADATA(m);
  Value acc = Value::Composite(
      {{"nonce", Value::U(5)}, {"consumers", Value::U(1)}, {"providers", Value::U(2)}, {"sufficients", Value::U(0)},
       {"data", Value::Composite({{"free", Value::U(u128(123) * 10'000'000)}, {"reserved", Value::U(7)},
                                  {"frozen", Value::U(0)}, {"flags", Value::U(u128(1) << 127)}})}});
  auto bytes = EncodeValueBytes(m->registry, ValueType(*m, "System", "Account"), acc);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->size(), 80u);
  EXPECT_EQ(ToHex(bytes->substr(0, 16)), "05000000010000000200000000000000");
  auto info = DecodeAccountInfo(*m, *bytes);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->nonce, 5u);
  EXPECT_EQ(info->providers, 2u);
  EXPECT_EQ(U128ToString(info->free), "1230000000");
  EXPECT_EQ(U128ToString(info->reserved), "7");
  EXPECT_EQ(info->flags, u128(1) << 127);
  // Absent account: the Default entry's default (all zero).
  auto none = DecodeAccountInfo(*m, std::nullopt);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->nonce, 0u);
  EXPECT_EQ(none->free, 0u);
  // Truncated.
  EXPECT_FALSE(DecodeAccountInfo(*m, bytes->substr(0, 79)).ok());
}

TEST(Value, ContractWithNodeContractDetails) {
  REQUIRE_REAL_METADATA(m);
  TypeId t = ValueType(*m, "SmartContractModule", "Contracts");
  auto bytes = EncodeValueBytes(m->registry, t, NodeContractValue(42));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeValueBytes(m->registry, t, *bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeValueBytes(m->registry, t, *back).value(), *bytes);
  auto c = DecodeContract(*m, *bytes);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->has_value());
  const Contract& k = **c;
  EXPECT_EQ(k.version, 4u);
  EXPECT_EQ(k.state, "Created");
  EXPECT_EQ(k.contract_id, 42u);
  EXPECT_EQ(k.twin_id, 9u);
  EXPECT_EQ(k.type, "NodeContract");
  EXPECT_EQ(k.node_id, 11u);
  EXPECT_EQ(k.deployment_hash, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(k.deployment_data, "{\"v\":3}");
  EXPECT_EQ(k.public_ips, 1u);
  ASSERT_EQ(k.public_ips_list.size(), 1u);
  EXPECT_EQ(k.public_ips_list[0].ip, "185.1.2.3/24");
  EXPECT_EQ(k.public_ips_list[0].contract_id, 42u);
  EXPECT_EQ(k.solution_provider_id, std::optional<uint64_t>(3));
  // Deleted(CanceledByUser) and GracePeriod(block).
  Value del = NodeContractValue(43);
  del.fields[1].value = Value::Enum("Deleted", {{"", Value::Enum("CanceledByUser")}});
  auto del_c = DecodeContract(*m, EncodeValueBytes(m->registry, t, del).value());
  ASSERT_TRUE(del_c.ok()) << del_c.status().ToString();
  EXPECT_EQ((*del_c)->state, "Deleted");
  EXPECT_EQ((*del_c)->deleted_cause, "CanceledByUser");
  Value grace = NodeContractValue(44);
  grace.fields[1].value = Value::Enum("GracePeriod", {{"", Value::U(777)}});
  auto grace_c = DecodeContract(*m, EncodeValueBytes(m->registry, t, grace).value());
  ASSERT_TRUE(grace_c.ok());
  EXPECT_EQ((*grace_c)->grace_period_block, 777u);
  // Absent Optional entry.
  auto absent = DecodeContract(*m, std::nullopt);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(Value, TwinsTwinIdAndContractIndexes) {
  REQUIRE_REAL_METADATA(m);
  Value twin = Value::Composite({{"id", Value::U(7)},
                                 {"account_id", Value::Bytes(AccountBytes(0xea))},
                                 {"relay", Value::Some(Value::Bytes("relay.grid.tf"))},
                                 {"entities", Value::Sequence({})},
                                 {"pk", Value::None()}});
  auto tb = EncodeValueBytes(m->registry, ValueType(*m, "TfgridModule", "Twins"), twin);
  ASSERT_TRUE(tb.ok()) << tb.status().ToString();
  auto t = DecodeTwin(*m, *tb);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->id, 7u);
  EXPECT_EQ((*t)->account_id[0], 0xea);
  EXPECT_EQ((*t)->relay, std::optional<std::string>("relay.grid.tf"));
  EXPECT_FALSE((*t)->pk.has_value());

  auto id = DecodeTwinIdByAccountId(*m, std::string("\x07\0\0\0", 4));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, std::optional<uint32_t>(7));
  auto no_id = DecodeTwinIdByAccountId(*m, std::nullopt);
  ASSERT_TRUE(no_id.ok());
  EXPECT_FALSE(no_id->has_value());

  auto cid = DecodeContractIdByNodeIdAndHash(*m, std::string("\x2a\0\0\0\0\0\0\0", 8));
  ASSERT_TRUE(cid.ok());
  EXPECT_EQ(*cid, 42u);
  EXPECT_EQ(DecodeContractIdByNodeIdAndHash(*m, std::nullopt).value(), 0u);  // Default entry

  auto active = DecodeActiveNodeContracts(*m, std::string("\x08\x2a\0\0\0\0\0\0\0\x2b\0\0\0\0\0\0\0", 17));
  ASSERT_TRUE(active.ok()) << active.status().ToString();
  EXPECT_EQ(*active, (std::vector<uint64_t>{42, 43}));
  EXPECT_TRUE(DecodeActiveNodeContracts(*m, std::nullopt).value().empty());
}

// TfgridModule.PricingPolicies and TFTPriceModule's prices: bytes written
// here by hand in the layout of pallet_tfgrid::types::PricingPolicy (not by
// the metadata under test), decoded through the real chain's metadata.
TEST(Value, PricingPolicyAndTftPrices) {
  REQUIRE_REAL_METADATA(m);
  Encoder e;
  e.U32(1);  // version
  e.U32(1);  // id
  e.Bytes("threefold_default_pricing_policy");
  const std::pair<uint32_t, uint8_t> policies[] = {
      {50000, 3}, {100000, 3}, {2000, 3}, {40000, 3}, {2500, 3}, {5000, 3}};  // value, Unit (3 = Gigabytes)
  for (auto [value, unit] : policies) {
    e.U32(value);
    e.U8(unit);
  }
  e.Raw(AccountBytes(0xaa));
  e.Raw(AccountBytes(0xbb));
  e.U8(50);  // discount_for_dedication_nodes
  const std::string bytes = e.Take();
  auto p = DecodePricingPolicy(*m, bytes);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->version, 1u);
  EXPECT_EQ((*p)->id, 1u);
  EXPECT_EQ((*p)->name, "threefold_default_pricing_policy");
  EXPECT_EQ((*p)->su.value, 50000u);
  EXPECT_EQ((*p)->su.unit, "Gigabytes");
  EXPECT_EQ((*p)->cu.value, 100000u);
  EXPECT_EQ((*p)->ipu.value, 40000u);
  EXPECT_EQ((*p)->domain_name.value, 5000u);
  EXPECT_EQ((*p)->foundation_account[0], 0xaa);
  EXPECT_EQ((*p)->certified_sales_account[31], 0xbb);
  EXPECT_EQ((*p)->discount_for_dedication_nodes, 50u);
  // Unit 4 is Terrabytes; 5 is no Unit.
  std::string tb = bytes;
  const size_t su_unit = 4 + 4 + 1 + 32 + 4;
  tb[su_unit] = 4;
  EXPECT_EQ(DecodePricingPolicy(*m, tb).value()->su.unit, "Terrabytes");
  tb[su_unit] = 5;
  auto bad = DecodePricingPolicy(*m, tb);
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad.status().message().find("TfgridModule.PricingPolicies"), std::string::npos) << bad.status().ToString();
  // Truncated, trailing bytes, absent.
  EXPECT_EQ(DecodePricingPolicy(*m, bytes.substr(0, bytes.size() - 1)).status().code(), Status::Code::kCorruption);
  EXPECT_FALSE(DecodePricingPolicy(*m, bytes + "x").ok());
  auto absent = DecodePricingPolicy(*m, std::nullopt);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  for (const char* entry : {"TftPrice", "AverageTftPrice", "MinTftPrice", "MaxTftPrice"}) {
    EXPECT_EQ(DecodeTftPrice(*m, entry, std::string("\x11\0\0\0", 4)).value(), 17u) << entry;
    EXPECT_EQ(DecodeTftPrice(*m, entry, std::nullopt).value(), 0u) << entry;  // ValueQuery default
    auto short_price = DecodeTftPrice(*m, entry, std::string("\x11", 1));
    EXPECT_EQ(short_price.status().code(), Status::Code::kCorruption) << entry;
    EXPECT_NE(short_price.status().message().find(std::string("TFTPriceModule.") + entry), std::string::npos)
        << short_price.status().ToString();
  }
  EXPECT_FALSE(DecodeTftPrice(*m, "NoSuchPrice", std::nullopt).ok());
}

// System.Events built through the encoder: ExtrinsicSuccess, ContractCreated
// and ExtrinsicFailed(Module ContractIsNotUnique), decoded back with names.
TEST(Events, ContractCreatedAndModuleErrorByName) {
  REQUIRE_REAL_METADATA(m);
  const uint8_t scm = m->FindPallet("SmartContractModule")->index;
  const uint8_t not_unique = m->FindError("SmartContractModule", "ContractIsNotUnique").value()->index;
  Value info = Value::Composite({{"weight", Value::Composite({{"ref_time", Value::U(1000)}, {"proof_size", Value::U(0)}})},
                                 {"class", Value::Enum("Normal")},
                                 {"pays_fee", Value::Enum("Yes")}});
  auto record = [](uint32_t xt, Value event) {
    return Value::Composite({{"phase", Value::Enum("ApplyExtrinsic", {{"", Value::U(xt)}})},
                             {"event", std::move(event)},
                             {"topics", Value::Sequence({})}});
  };
  auto ev = [](const char* pallet, const char* name, std::vector<NamedValue> fields) {
    return Value::Enum(pallet, {{"", Value::Enum(name, std::move(fields))}});
  };
  Value module_error = Value::Enum(
      "Module", {{"", Value::Composite({{"index", Value::U(scm)},
                                        {"error", Value::Bytes(std::string{char(not_unique), 0, 0, 0})}})}});
  Value events = Value::Sequence({
      record(1, ev("SmartContractModule", "ContractCreated", {{"", NodeContractValue(42)}})),
      record(1, ev("System", "ExtrinsicSuccess", {{"dispatch_info", info}})),
      record(2, ev("System", "ExtrinsicFailed", {{"dispatch_error", module_error}, {"dispatch_info", info}})),
      Value::Composite({{"phase", Value::Enum("Finalization")},
                        {"event", ev("Balances", "Transfer", {{"from", Value::Bytes(AccountBytes(1))},
                                                              {"to", Value::Bytes(AccountBytes(2))},
                                                              {"amount", Value::U(5)}})},
                        {"topics", Value::Sequence({Value::Bytes(std::string(32, '\x11'))})}}),
  });
  auto bytes = EncodeValueBytes(m->registry, ValueType(*m, "System", "Events"), events);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto recs = DecodeEvents(*m, *bytes);
  ASSERT_TRUE(recs.ok()) << recs.status().ToString();
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ((*recs)[0].pallet, "SmartContractModule");
  EXPECT_EQ((*recs)[0].name, "ContractCreated");
  EXPECT_EQ((*recs)[0].pallet_index, scm);
  EXPECT_EQ((*recs)[0].extrinsic_index, std::optional<uint32_t>(1));
  EXPECT_EQ((*recs)[2].name, "ExtrinsicFailed");
  EXPECT_EQ((*recs)[3].phase, "Finalization");
  EXPECT_FALSE((*recs)[3].extrinsic_index.has_value());
  ASSERT_EQ((*recs)[3].topics.size(), 1u);

  auto ids = CreatedContractIds(*recs, 1);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, std::vector<uint64_t>{42});
  auto ok1 = OutcomeOf(*m, *recs, 1);
  ASSERT_TRUE(ok1.ok());
  EXPECT_TRUE(ok1->success);
  auto failed = OutcomeOf(*m, *recs, 2);
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_FALSE(failed->success);
  EXPECT_EQ(failed->error, "SmartContractModule.ContractIsNotUnique");
  EXPECT_EQ(OutcomeOf(*m, *recs, 9).status().code(), Status::Code::kNotFound);

  // Other dispatch errors are named by their variant path.
  EXPECT_EQ(DispatchErrorName(*m, Value::Enum("BadOrigin")).value(), "BadOrigin");
  EXPECT_EQ(DispatchErrorName(*m, Value::Enum("Token", {{"", Value::Enum("FundsUnavailable")}})).value(),
            "Token.FundsUnavailable");
  // Truncated events are an error.
  EXPECT_FALSE(DecodeEvents(*m, bytes->substr(0, bytes->size() - 3)).ok());
}

TEST(Events, BatchInterruptedIsAFailure) {
  REQUIRE_REAL_METADATA(m);
  const uint8_t tfg = m->FindPallet("TfgridModule")->index;
  const uint8_t no_tc = m->FindError("TfgridModule", "UserDidNotSignTermsAndConditions").value()->index;
  Value info = Value::Composite({{"weight", Value::Composite({{"ref_time", Value::U(1)}, {"proof_size", Value::U(0)}})},
                                 {"class", Value::Enum("Normal")},
                                 {"pays_fee", Value::Enum("Yes")}});
  Value err = Value::Enum("Module", {{"", Value::Composite({{"index", Value::U(tfg)},
                                                           {"error", Value::Bytes(std::string{char(no_tc), 0, 0, 0})}})}});
  auto rec = [](Value event) {
    return Value::Composite({{"phase", Value::Enum("ApplyExtrinsic", {{"", Value::U(0)}})},
                             {"event", std::move(event)}, {"topics", Value::Sequence({})}});
  };
  Value events = Value::Sequence({
      rec(Value::Enum("Utility", {{"", Value::Enum("BatchInterrupted", {{"index", Value::U(1)}, {"error", err}})}})),
      rec(Value::Enum("System", {{"", Value::Enum("ExtrinsicSuccess", {{"dispatch_info", info}})}})),
  });
  auto bytes = EncodeValueBytes(m->registry, ValueType(*m, "System", "Events"), events);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto recs = DecodeEvents(*m, *bytes);
  ASSERT_TRUE(recs.ok()) << recs.status().ToString();
  auto out = OutcomeOf(*m, *recs, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->success);
  EXPECT_EQ(out->error, "Utility.BatchInterrupted at item 1: TfgridModule.UserDidNotSignTermsAndConditions");
}

TEST(Value, EncodeChecksShapesAndNames) {
  REQUIRE_REAL_METADATA(m);
  // Missing, unknown and ill-typed arguments are refused with the call's name.
  auto missing = EncodeCall(*m, "SmartContractModule", "cancel_contract", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing argument contract_id"), std::string::npos);
  auto unknown = EncodeCall(*m, "SmartContractModule", "cancel_contract",
                            {{"contract_id", Value::U(1)}, {"extra", Value::U(2)}});
  EXPECT_FALSE(unknown.ok());
  auto big = EncodeCall(*m, "SmartContractModule", "create_node_contract",
                        {{"node_id", Value::U(u128(1) << 32)}, {"deployment_hash", Value::Bytes(std::string(32, 'a'))},
                         {"deployment_data", Value::Bytes("")}, {"public_ips", Value::U(0)},
                         {"solution_provider_id", Value::None()}});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("does not fit u32"), std::string::npos) << big.status().message();
  auto short_hash = EncodeCall(*m, "SmartContractModule", "update_node_contract",
                               {{"contract_id", Value::U(1)}, {"deployment_hash", Value::Bytes("abc")},
                                {"deployment_data", Value::Bytes("")}});
  ASSERT_FALSE(short_hash.ok());
  EXPECT_NE(short_hash.status().message().find("expected 32 bytes, got 3"), std::string::npos);
  auto bad_variant = EncodeCall(*m, "TfgridModule", "create_twin",
                                {{"relay", Value::Enum("Maybe")}, {"pk", Value::None()}});
  EXPECT_FALSE(bad_variant.ok());
}

TEST(Value, DecodedCallRoundTrips) {
  REQUIRE_REAL_METADATA(m);
  auto call = EncodeCall(*m, "Utility", "batch_all",
                         {{"calls", Value::Sequence({CallValue(*m, "SmartContractModule", "cancel_contract",
                                                               {{"contract_id", Value::U(5)}}).value()})}});
  ASSERT_TRUE(call.ok());
  TypeId rc = m->RuntimeCallType().value();
  auto v = DecodeValueBytes(m->registry, rc, *call);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->name, "Utility");
  EXPECT_EQ(v->fields[0].value.name, "batch_all");
  EXPECT_EQ(EncodeValueBytes(m->registry, rc, *v).value(), *call);
  // An unknown call index is refused naming the known ones.
  std::string bad = *call;
  bad[1] = char(99);
  auto b = DecodeValueBytes(m->registry, rc, bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("unknown variant index 99"), std::string::npos) << b.status().message();
}

// --- Hostile input against small registries ---------------------------------

TEST(Value, HostileVecLengthWithFourBytes) {
  Registry r;
  TypeId u32 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kU32}, {}});
  TypeId vec = r.Add({{}, {}, TypeDefSequence{u32}, {}});
  TypeId u8 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kU8}, {}});
  TypeId bytes = r.Add({{}, {}, TypeDefSequence{u8}, {}});
  TypeId unit = r.Add({{}, {}, TypeDefTuple{}, {}});
  TypeId units = r.Add({{}, {}, TypeDefSequence{unit}, {}});
  // 2^30 elements announced (big-integer compact), then 4 bytes.
  std::string hostile = std::string("\x03\x00\x00\x00\x40", 5) + "abcd";
  for (TypeId t : {vec, bytes, units}) {
    auto v = DecodeValueBytes(r, t, hostile);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.status().message().find("length 1073741824"), std::string::npos) << v.status().message();
  }
  // Four-byte mode maximum (2^30 - 1).
  EXPECT_FALSE(DecodeValueBytes(r, vec, std::string("\xfe\xff\xff\xff", 4)).ok());
  // A u32 vec whose count fits bytes but not u32s.
  auto v = DecodeValueBytes(r, vec, std::string("\x08\x01\x02\x03\x04", 5));
  ASSERT_FALSE(v.ok());
}

TEST(Value, DeepNestingAndCyclicTypesAreBounded) {
  Registry r;
  // Type 0 = struct { inner: Option<Type 0> } (a cyclic registry).
  r.types.push_back({0, {{"Deep"}, {}, TypeDefComposite{{Field{"inner", 1, {}, {}}}}, {}}});
  r.types.push_back({1, {{"Option"}, {}, TypeDefVariant{{{"None", {}, 0, {}}, {"Some", {Field{{}, 0, {}, {}}}, 1, {}}}}, {}}});
  std::string deep(100000, '\x01');  // Some(Some(Some(...)))
  auto v = DecodeValueBytes(r, 0, deep);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nesting deeper than"), std::string::npos) << v.status().message();
  // Depth within the bound decodes.
  std::string shallow(10, '\x01');
  shallow += '\x00';
  EXPECT_TRUE(DecodeValueBytes(r, 0, shallow).ok());
  // A composite that contains itself directly: no bytes consumed, still bounded.
  Registry self;
  self.types.push_back({0, {{"Loop"}, {}, TypeDefComposite{{Field{"me", 0, {}, {}}}}, {}}});
  EXPECT_FALSE(DecodeValueBytes(self, 0, "").ok());
}

TEST(Value, UnknownTypeIdsAndBadBytes) {
  Registry r;
  TypeId u8 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kU8}, {}});
  TypeId dangling = r.Add({{}, {}, TypeDefSequence{77}, {}});
  TypeId boolean = r.Add({{}, {}, TypeDefPrimitive{Primitive::kBool}, {}});
  TypeId ch = r.Add({{}, {}, TypeDefPrimitive{Primitive::kChar}, {}});
  TypeId str = r.Add({{}, {}, TypeDefPrimitive{Primitive::kStr}, {}});
  TypeId i16 = r.Add({{}, {}, TypeDefPrimitive{Primitive::kI16}, {}});
  TypeId cmp8 = r.Add({{}, {}, TypeDefCompact{u8}, {}});
  TypeId bits = r.Add({{}, {}, TypeDefBitSequence{u8, u8}, {}});
  auto unknown = DecodeValueBytes(r, 1234, "x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown type id 1234"), std::string::npos);
  auto dang = DecodeValueBytes(r, dangling, std::string("\x04\x00", 2));
  ASSERT_FALSE(dang.ok());
  EXPECT_NE(dang.status().message().find("unknown type id 77"), std::string::npos) << dang.status().message();
  EXPECT_FALSE(DecodeValueBytes(r, boolean, "\x02").ok());
  EXPECT_FALSE(DecodeValueBytes(r, ch, std::string("\x00\xd8\x00\x00", 4)).ok());  // surrogate
  EXPECT_FALSE(DecodeValueBytes(r, str, "\x04\xff").ok());
  EXPECT_FALSE(DecodeValueBytes(r, u8, "\x01\x02").ok());  // trailing byte
  EXPECT_EQ(DecodeValueBytes(r, i16, "\xfe\xff").value().i, -2);
  EXPECT_EQ(DecodeValueBytes(r, cmp8, "\xfc").value().u, 63u);
  EXPECT_FALSE(DecodeValueBytes(r, cmp8, std::string("\x02\x04\x00\x00", 4) /* 257 */).ok());
  auto b = DecodeValueBytes(r, bits, std::string("\x24\xff\x03", 3));  // 9 bits in 2 bytes
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->u, 9u);
  EXPECT_EQ(EncodeValueBytes(r, bits, *b).value(), std::string("\x24\xff\x03", 3));
  EXPECT_FALSE(DecodeValueBytes(r, bits, std::string("\x24\xff", 2)).ok());
  EXPECT_EQ(EncodeValueBytes(r, i16, Value::I(-2)).value(), "\xfe\xff");
  EXPECT_FALSE(EncodeValueBytes(r, i16, Value::I(40000)).ok());
}

}  // namespace
}  // namespace qstor::tfchain
