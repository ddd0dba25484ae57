#include "devnet/tfchain_runtime.h"

#include <algorithm>
#include <optional>

#include "grid/tfchain/scale.h"

namespace qstor::devnet {
namespace {

using tfchain::Constant;
using tfchain::Field;
using tfchain::Metadata;
using tfchain::Pallet;
using tfchain::PalletStorage;
using tfchain::Primitive;
using tfchain::Registry;
using tfchain::SignedExtension;
using tfchain::StorageEntry;
using tfchain::Type;
using tfchain::TypeDef;
using tfchain::TypeId;
using tfchain::Variant;
using H = tfchain::StorageHasher;
using M = tfchain::StorageModifier;

// ---------------------------------------------------------------------------
// A small DSL for scale-info types
// ---------------------------------------------------------------------------

// A named field: F("node_id", u32, "u32"); the last argument is the Rust
// type as written (shown by wallets for call arguments; optional).
Field F(std::string name, TypeId type, std::string type_name = "") {
  Field f;
  f.name = std::move(name);
  f.type = type;
  if (!type_name.empty()) f.type_name = std::move(type_name);
  return f;
}
// An unnamed field (tuple structs and tuple variants).
Field U(TypeId type, std::string type_name = "") {
  Field f;
  f.type = type;
  if (!type_name.empty()) f.type_name = std::move(type_name);
  return f;
}

struct V {
  std::string name;
  uint8_t index = 0;
  std::vector<Field> fields;
};

// A generic parameter: {"T", id} or {"T"} for one scale-info leaves out.
struct P {
  P(const char* n) : name(n) {}  // NOLINT(implicit)
  P(const char* n, TypeId t) : name(n), type(t) {}
  std::string name;
  std::optional<TypeId> type;
};

// Variants numbered 0, 1, 2... in list order, without fields (error enums).
std::vector<V> Variants(const std::vector<std::string_view>& names) {
  std::vector<V> vs;
  for (size_t i = 0; i < names.size(); i++) vs.push_back({std::string(names[i]), uint8_t(i), {}});
  return vs;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    size_t p = path.find("::");
    out.emplace_back(path.substr(0, p));
    if (p == std::string_view::npos) break;
    path.remove_prefix(p + 2);
  }
  return out;
}

// Adds types to a Registry; identical types are stored once.
class Types {
 public:
  explicit Types(Registry& r) : r_(r) {}

  TypeId Prim(Primitive p) { return Intern("", {}, tfchain::TypeDefPrimitive{p}); }
  TypeId Seq(TypeId element) { return Intern("", {}, tfchain::TypeDefSequence{element}); }
  TypeId Array(uint32_t len, TypeId element) { return Intern("", {}, tfchain::TypeDefArray{len, element}); }
  TypeId Tuple(std::vector<TypeId> fields) { return Intern("", {}, tfchain::TypeDefTuple{std::move(fields)}); }
  TypeId Compact(TypeId t) { return Intern("", {}, tfchain::TypeDefCompact{t}); }
  TypeId Struct(std::string_view path, std::vector<Field> fields, std::vector<P> params = {}) {
    return Intern(path, std::move(params), tfchain::TypeDefComposite{std::move(fields)});
  }
  TypeId Enum(std::string_view path, std::vector<V> variants, std::vector<P> params = {}) {
    return Intern(path, std::move(params), EnumDef(std::move(variants)));
  }
  TypeId Option(TypeId t) { return Enum("Option", {{"None", 0, {}}, {"Some", 1, {U(t)}}}, {{"T", t}}); }
  // bounded_collections' BoundedVec<T, S> (a Vec<T> with a length bound the
  // metadata does not show).
  TypeId BoundedVec(TypeId t) {
    return Struct("bounded_collections::bounded_vec::BoundedVec", {U(Seq(t), "Vec<T>")}, {{"T", t}, {"S"}});
  }
  // A pallet's error enum (generic over T): names numbered 0, 1, 2...
  TypeId Errors(std::string_view path, const std::vector<std::string_view>& names) {
    return Enum(path, Variants(names), {{"T"}});
  }

  // An id for a type defined later by DefineEnum() (recursive types:
  // RuntimeCall holds Utility's calls, which hold Vec<RuntimeCall>).
  TypeId Reserve() {
    TypeId id = r_.Add(Type{});
    reserved_.push_back(id);
    return id;
  }
  void DefineEnum(TypeId id, std::string_view path, std::vector<V> variants) {
    for (auto& pt : r_.types)
      if (pt.id == id) pt.type = MakeType(path, {}, EnumDef(std::move(variants)));
    reserved_.erase(std::remove(reserved_.begin(), reserved_.end(), id), reserved_.end());
  }

 private:
  static tfchain::TypeDefVariant EnumDef(std::vector<V> variants) {
    tfchain::TypeDefVariant d;
    for (auto& v : variants) {
      Variant out;
      out.name = std::move(v.name);
      out.index = v.index;
      out.fields = std::move(v.fields);
      d.variants.push_back(std::move(out));
    }
    return d;
  }
  static Type MakeType(std::string_view path, std::vector<P> params, TypeDef def) {
    Type t;
    t.path = SplitPath(path);
    for (auto& p : params) t.params.push_back({std::move(p.name), p.type});
    t.def = std::move(def);
    return t;
  }
  TypeId Intern(std::string_view path, std::vector<P> params, TypeDef def) {
    Type t = MakeType(path, std::move(params), std::move(def));
    for (const auto& pt : r_.types) {
      if (std::find(reserved_.begin(), reserved_.end(), pt.id) != reserved_.end()) continue;
      if (pt.type == t) return pt.id;
    }
    return r_.Add(std::move(t));
  }

  Registry& r_;
  std::vector<TypeId> reserved_;
};

// ---------------------------------------------------------------------------
// Values (storage defaults, constants)
// ---------------------------------------------------------------------------
std::string Zeros(size_t n) { return std::string(n, '\0'); }
const std::string kNone = Zeros(1);      // Option::None, and the "default" of an Optional entry
const std::string kEmptyVec = Zeros(1);  // compact(0)
std::string Le16(uint16_t v) { tfchain::Encoder e; e.U16(v); return e.Take(); }
std::string Le32(uint32_t v) { tfchain::Encoder e; e.U32(v); return e.Take(); }
std::string Le64(uint64_t v) { tfchain::Encoder e; e.U64(v); return e.Take(); }
std::string Le128(tfchain::u128 v) { tfchain::Encoder e; e.U128(v); return e.Take(); }

StorageEntry Plain(std::string name, M modifier, TypeId value, std::string default_value) {
  StorageEntry s;
  s.name = std::move(name);
  s.modifier = modifier;
  s.value = value;
  s.default_value = std::move(default_value);
  return s;
}
StorageEntry Map(std::string name, M modifier, std::vector<H> hashers, TypeId key, TypeId value,
                 std::string default_value) {
  StorageEntry s = Plain(std::move(name), modifier, value, std::move(default_value));
  s.is_map = true;
  s.hashers = std::move(hashers);
  s.key = key;
  return s;
}
Constant Const(std::string name, TypeId type, std::string value) {
  Constant c;
  c.name = std::move(name);
  c.type = type;
  c.value = std::move(value);
  return c;
}

// ---------------------------------------------------------------------------
// The runtime
// ---------------------------------------------------------------------------

// The runtime APIs of TFChain spec 152, in the order its System.Version
// lists them. Each id is blake2b-64 of the trait name.
struct ApiEntry {
  const char* name;
  std::array<uint8_t, 8> id;
  uint32_t version;
};
constexpr ApiEntry kApis[] = {
    {"Core", {0xdf, 0x6a, 0xcb, 0x68, 0x99, 0x07, 0x60, 0x9b}, 4},
    {"Metadata", {0x37, 0xe3, 0x97, 0xfc, 0x7c, 0x91, 0xf5, 0xe4}, 2},
    {"BlockBuilder", {0x40, 0xfe, 0x3a, 0xd4, 0x01, 0xf8, 0x95, 0x9a}, 6},
    {"TaggedTransactionQueue", {0xd2, 0xbc, 0x98, 0x97, 0xee, 0xd0, 0x8f, 0x15}, 3},
    {"OffchainWorkerApi", {0xf7, 0x8b, 0x27, 0x8b, 0xe5, 0x3f, 0x45, 0x4c}, 2},
    {"AuraApi", {0xdd, 0x71, 0x8d, 0x5c, 0xc5, 0x32, 0x62, 0xd4}, 1},
    {"SessionKeys", {0xab, 0x3c, 0x05, 0x72, 0x29, 0x1f, 0xeb, 0x8b}, 1},
    {"GrandpaApi", {0xed, 0x99, 0xc5, 0xac, 0xb2, 0x5e, 0xed, 0xf5}, 3},
    {"AccountNonceApi", {0xbc, 0x9d, 0x89, 0x90, 0x4f, 0x5b, 0x92, 0x3f}, 1},
    {"TransactionPaymentApi", {0x37, 0xc8, 0xbb, 0x13, 0x50, 0xa9, 0xa2, 0xa8}, 4},
};

class RuntimeBuilder {
 public:
  RuntimeBuilder() : t_(m_.registry) {}

  Metadata Build() {
    m_.version = 14;
    Primitives();
    runtime_call_ = t_.Reserve();
    CommonTypes();
    m_.pallets = {System(), Timestamp(), Utility(), Balances(), TransactionPayment(), TfgridModule(),
                  SmartContractModule(), TftPriceModule()};
    OuterEnums();
    Extrinsic();
    return std::move(m_);
  }

 private:
  void Primitives() {
    u8_ = t_.Prim(Primitive::kU8);
    u16_ = t_.Prim(Primitive::kU16);
    u32_ = t_.Prim(Primitive::kU32);
    u64_ = t_.Prim(Primitive::kU64);
    u128_ = t_.Prim(Primitive::kU128);
    bool_ = t_.Prim(Primitive::kBool);
    str_ = t_.Prim(Primitive::kStr);
    unit_ = t_.Tuple({});
    bytes_ = t_.Seq(u8_);
    a32_ = t_.Array(32, u8_);
    cu32_ = t_.Compact(u32_);
    cu64_ = t_.Compact(u64_);
    cu128_ = t_.Compact(u128_);
    opt_u32_ = t_.Option(u32_);
    opt_u64_ = t_.Option(u64_);
    bounded_bytes_ = t_.BoundedVec(u8_);
    opt_bounded_bytes_ = t_.Option(bounded_bytes_);
  }

  void CommonTypes() {
    account_ = t_.Struct("sp_core::crypto::AccountId32", {U(a32_, "[u8; 32]")});
    h256_ = t_.Struct("primitive_types::H256", {U(a32_, "[u8; 32]")});
    weight_ = t_.Struct("sp_weights::weight_v2::Weight", {F("ref_time", cu64_, "u64"), F("proof_size", cu64_, "u64")});
    TypeId module_error =
        t_.Struct("sp_runtime::ModuleError", {F("index", u8_, "u8"), F("error", t_.Array(4, u8_),
                                                                       "[u8; MAX_MODULE_ERROR_ENCODED_SIZE]")});
    TypeId token_error = t_.Enum("sp_runtime::TokenError",
                                 Variants({"FundsUnavailable", "OnlyProvider", "BelowMinimum", "CannotCreate",
                                           "UnknownAsset", "Frozen", "Unsupported", "CannotCreateHold",
                                           "NotExpendable", "Blocked"}));
    TypeId arithmetic_error =
        t_.Enum("sp_arithmetic::ArithmeticError", Variants({"Underflow", "Overflow", "DivisionByZero"}));
    TypeId transactional_error = t_.Enum("sp_runtime::TransactionalError", Variants({"LimitReached", "NoLayer"}));
    dispatch_error_ = t_.Enum("sp_runtime::DispatchError",
                              {{"Other", 0, {}},
                               {"CannotLookup", 1, {}},
                               {"BadOrigin", 2, {}},
                               {"Module", 3, {U(module_error, "ModuleError")}},
                               {"ConsumerRemaining", 4, {}},
                               {"NoProviders", 5, {}},
                               {"TooManyConsumers", 6, {}},
                               {"Token", 7, {U(token_error, "TokenError")}},
                               {"Arithmetic", 8, {U(arithmetic_error, "ArithmeticError")}},
                               {"Transactional", 9, {U(transactional_error, "TransactionalError")}},
                               {"Exhausted", 10, {}},
                               {"Corruption", 11, {}},
                               {"Unavailable", 12, {}},
                               {"RootNotAllowed", 13, {}}});
    dispatch_result_ = t_.Enum("Result", {{"Ok", 0, {U(unit_)}}, {"Err", 1, {U(dispatch_error_)}}},
                               {{"T", unit_}, {"E", dispatch_error_}});
    TypeId dispatch_class = t_.Enum("frame_support::dispatch::DispatchClass",
                                    {{"Normal", 0, {}}, {"Operational", 1, {}}, {"Mandatory", 2, {}}});
    TypeId pays = t_.Enum("frame_support::dispatch::Pays", {{"Yes", 0, {}}, {"No", 1, {}}});
    dispatch_info_ = t_.Struct("frame_support::dispatch::DispatchInfo",
                               {F("weight", weight_, "Weight"), F("class", dispatch_class, "DispatchClass"),
                                F("pays_fee", pays, "Pays")});
    multi_address_ = t_.Enum("sp_runtime::multiaddress::MultiAddress",
                             {{"Id", 0, {U(account_, "AccountId")}},
                              {"Index", 1, {U(t_.Compact(unit_), "AccountIndex")}},
                              {"Raw", 2, {U(bytes_, "Vec<u8>")}},
                              {"Address32", 3, {U(a32_, "[u8; 32]")}},
                              {"Address20", 4, {U(t_.Array(20, u8_), "[u8; 20]")}}},
                             {{"AccountId", account_}, {"AccountIndex", unit_}});
  }

  static Pallet MakePallet(std::string name, uint8_t index) {
    Pallet p;
    p.name = std::move(name);
    p.index = index;
    return p;
  }
  static PalletStorage Storage(const std::string& prefix, std::vector<StorageEntry> entries) {
    return PalletStorage{prefix, std::move(entries)};
  }

  // System 0 ----------------------------------------------------------------
  Pallet System() {
    Pallet p = MakePallet("System", 0);
    p.calls = t_.Enum("frame_system::pallet::Call",
                      {{"remark", 0, {F("remark", bytes_, "Vec<u8>")}},
                       {"remark_with_event", 7, {F("remark", bytes_, "Vec<u8>")}}},
                      {{"T"}});
    system_event_ = t_.Enum("frame_system::pallet::Event",
                            {{"ExtrinsicSuccess", 0, {F("dispatch_info", dispatch_info_, "DispatchInfo")}},
                             {"ExtrinsicFailed", 1,
                              {F("dispatch_error", dispatch_error_, "DispatchError"),
                               F("dispatch_info", dispatch_info_, "DispatchInfo")}},
                             {"CodeUpdated", 2, {}},
                             {"NewAccount", 3, {F("account", account_, "T::AccountId")}},
                             {"KilledAccount", 4, {F("account", account_, "T::AccountId")}},
                             {"Remarked", 5, {F("sender", account_, "T::AccountId"), F("hash", h256_, "T::Hash")}}},
                            {{"T"}});
    p.events = system_event_;
    p.errors = t_.Errors("frame_system::pallet::Error",
                         {"InvalidSpecName", "SpecVersionNeedsToIncrease", "FailedToExtractRuntimeVersion",
                          "NonDefaultComposite", "NonZeroRefCount", "CallFiltered"});

    TypeId extra_flags = t_.Struct("pallet_balances::types::ExtraFlags", {U(u128_, "u128")});
    TypeId account_data = t_.Struct("pallet_balances::types::AccountData",
                                    {F("free", u128_, "Balance"), F("reserved", u128_, "Balance"),
                                     F("frozen", u128_, "Balance"), F("flags", extra_flags, "ExtraFlags")},
                                    {{"Balance", u128_}});
    TypeId account_info =
        t_.Struct("frame_system::AccountInfo",
                  {F("nonce", u32_, "Nonce"), F("consumers", u32_, "RefCount"), F("providers", u32_, "RefCount"),
                   F("sufficients", u32_, "RefCount"), F("data", account_data, "AccountData")},
                  {{"Nonce", u32_}, {"AccountData", account_data}});
    // AccountInfo::default(): zeros, and ExtraFlags' "new logic" bit (1 << 127).
    std::string account_default = Zeros(16 + 48) + Le128(tfchain::u128(1) << 127);

    TypeId engine_id = t_.Array(4, u8_);
    TypeId digest_item = t_.Enum("sp_runtime::generic::digest::DigestItem",
                                 {{"PreRuntime", 6, {U(engine_id, "ConsensusEngineId"), U(bytes_, "Vec<u8>")}},
                                  {"Consensus", 4, {U(engine_id, "ConsensusEngineId"), U(bytes_, "Vec<u8>")}},
                                  {"Seal", 5, {U(engine_id, "ConsensusEngineId"), U(bytes_, "Vec<u8>")}},
                                  {"Other", 0, {U(bytes_, "Vec<u8>")}},
                                  {"RuntimeEnvironmentUpdated", 8, {}}});
    TypeId digest = t_.Struct("sp_runtime::generic::digest::Digest", {F("logs", t_.Seq(digest_item), "Vec<DigestItem>")});
    phase_ = t_.Enum("frame_system::Phase",
                     {{"ApplyExtrinsic", 0, {U(u32_, "u32")}}, {"Finalization", 1, {}}, {"Initialization", 2, {}}});
    // EventRecord<RuntimeEvent, H256>: its event type is filled in by
    // OuterEnums() once every pallet's events exist.
    runtime_event_ = t_.Reserve();
    TypeId event_record = t_.Struct("frame_system::EventRecord",
                                    {F("phase", phase_, "Phase"), F("event", runtime_event_, "E"),
                                     F("topics", t_.Seq(h256_), "Vec<T>")},
                                    {{"E", runtime_event_}, {"T", h256_}});
    TypeId upgrade_info = t_.Struct("frame_system::LastRuntimeUpgradeInfo",
                                    {F("spec_version", cu32_, "codec::Compact<u32>"),
                                     F("spec_name", str_, "sp_runtime::RuntimeString")});
    p.storage = Storage("System", {
        Map("Account", M::kDefault, {H::kBlake2_128Concat}, account_, account_info, account_default),
        Plain("ExtrinsicCount", M::kOptional, u32_, kNone),
        Map("BlockHash", M::kDefault, {H::kTwox64Concat}, u32_, h256_, Zeros(32)),
        Plain("Number", M::kDefault, u32_, Zeros(4)),
        Plain("ParentHash", M::kDefault, h256_, Zeros(32)),
        Plain("Digest", M::kDefault, digest, kEmptyVec),
        Plain("Events", M::kDefault, t_.Seq(event_record), kEmptyVec),
        Plain("EventCount", M::kDefault, u32_, Zeros(4)),
        Plain("LastRuntimeUpgrade", M::kOptional, upgrade_info, kNone),
    });

    TypeId api = t_.Tuple({t_.Array(8, u8_), u32_});
    TypeId apis = t_.Seq(api);
    TypeId cow = t_.Struct("Cow", {U(apis)}, {{"T", apis}});
    TypeId runtime_version =
        t_.Struct("sp_version::RuntimeVersion",
                  {F("spec_name", str_, "RuntimeString"), F("impl_name", str_, "RuntimeString"),
                   F("authoring_version", u32_, "u32"), F("spec_version", u32_, "u32"),
                   F("impl_version", u32_, "u32"), F("apis", cow, "ApisVec"),
                   F("transaction_version", u32_, "u32"), F("state_version", u8_, "u8")});
    p.constants = {
        Const("BlockHashCount", u32_, Le32(2400)),
        Const("Version", runtime_version, EncodeRuntimeVersion(DevnetRuntimeVersion())),
        Const("SS58Prefix", u16_, Le16(42)),
    };
    return p;
  }

  // Timestamp 1 -------------------------------------------------------------
  Pallet Timestamp() {
    Pallet p = MakePallet("Timestamp", 1);
    p.calls = t_.Enum("pallet_timestamp::pallet::Call", {{"set", 0, {F("now", cu64_, "T::Moment")}}}, {{"T"}});
    p.storage = Storage("Timestamp", {
        Plain("Now", M::kDefault, u64_, Zeros(8)),
        Plain("DidUpdate", M::kDefault, bool_, Zeros(1)),
    });
    // TFChain's: 3 s, half its 6 s block time.
    p.constants = {Const("MinimumPeriod", u64_, Le64(3000))};
    return p;
  }

  // Utility 3 ---------------------------------------------------------------
  Pallet Utility() {
    Pallet p = MakePallet("Utility", 3);
    TypeId calls = t_.Seq(runtime_call_);
    const char* kCalls = "Vec<<T as Config>::RuntimeCall>";
    p.calls = t_.Enum("pallet_utility::pallet::Call",
                      {{"batch", 0, {F("calls", calls, kCalls)}},
                       {"batch_all", 2, {F("calls", calls, kCalls)}},
                       {"force_batch", 4, {F("calls", calls, kCalls)}}},
                      {{"T"}});
    utility_event_ = t_.Enum("pallet_utility::pallet::Event",
                             {{"BatchInterrupted", 0, {F("index", u32_, "u32"), F("error", dispatch_error_, "DispatchError")}},
                              {"BatchCompleted", 1, {}},
                              {"BatchCompletedWithErrors", 2, {}},
                              {"ItemCompleted", 3, {}},
                              {"ItemFailed", 4, {F("error", dispatch_error_, "DispatchError")}},
                              {"DispatchedAs", 5, {F("result", dispatch_result_, "DispatchResult")}}});
    p.events = utility_event_;
    p.errors = t_.Errors("pallet_utility::pallet::Error", {"TooManyCalls"});
    p.constants = {Const("batched_calls_limit", u32_, Le32(10922))};
    return p;
  }

  // Balances 20 -------------------------------------------------------------
  Pallet Balances() {
    Pallet p = MakePallet("Balances", 20);
    const char* kDest = "AccountIdLookupOf<T>";
    const char* kBalance = "T::Balance";
    p.calls = t_.Enum("pallet_balances::pallet::Call",
                      {{"transfer_allow_death", 0, {F("dest", multi_address_, kDest), F("value", cu128_, kBalance)}},
                       {"transfer_keep_alive", 3, {F("dest", multi_address_, kDest), F("value", cu128_, kBalance)}},
                       {"transfer_all", 4, {F("dest", multi_address_, kDest), F("keep_alive", bool_, "bool")}},
                       {"transfer", 7, {F("dest", multi_address_, kDest), F("value", cu128_, kBalance)}}},
                      {{"T"}, {"I"}});
    TypeId status = t_.Enum("frame_support::traits::tokens::misc::BalanceStatus", {{"Free", 0, {}}, {"Reserved", 1, {}}});
    auto who_amount = [&](const char* name, uint8_t index) {
      return V{name, index, {F("who", account_), F("amount", u128_)}};
    };
    balances_event_ = t_.Enum(
        "pallet_balances::pallet::Event",
        {{"Endowed", 0, {F("account", account_), F("free_balance", u128_)}},
         {"DustLost", 1, {F("account", account_), F("amount", u128_)}},
         {"Transfer", 2, {F("from", account_), F("to", account_), F("amount", u128_)}},
         {"BalanceSet", 3, {F("who", account_), F("free", u128_)}},
         who_amount("Reserved", 4),
         who_amount("Unreserved", 5),
         {"ReserveRepatriated", 6,
          {F("from", account_), F("to", account_), F("amount", u128_), F("destination_status", status)}},
         who_amount("Deposit", 7),
         who_amount("Withdraw", 8),
         who_amount("Slashed", 9),
         who_amount("Minted", 10),
         who_amount("Burned", 11),
         who_amount("Suspended", 12),
         who_amount("Restored", 13),
         {"Upgraded", 14, {F("who", account_)}},
         {"Issued", 15, {F("amount", u128_)}},
         {"Rescinded", 16, {F("amount", u128_)}},
         who_amount("Locked", 17),
         who_amount("Unlocked", 18),
         who_amount("Frozen", 19),
         who_amount("Thawed", 20)},
        {{"T"}, {"I"}});
    p.events = balances_event_;
    p.errors = t_.Enum("pallet_balances::pallet::Error",
                       Variants({"VestingBalance", "LiquidityRestrictions", "InsufficientBalance", "ExistentialDeposit",
                                 "Expendability", "ExistingVestingSchedule", "DeadAccount", "TooManyReserves",
                                 "TooManyHolds", "TooManyFreezes"}),
                       {{"T"}, {"I"}});

    TypeId id8 = t_.Array(8, u8_);
    TypeId reasons = t_.Enum("pallet_balances::types::Reasons", {{"Fee", 0, {}}, {"Misc", 1, {}}, {"All", 2, {}}});
    TypeId lock = t_.Struct("pallet_balances::types::BalanceLock",
                            {F("id", id8, "LockIdentifier"), F("amount", u128_, "Balance"), F("reasons", reasons, "Reasons")},
                            {{"Balance", u128_}});
    TypeId locks = t_.Struct("bounded_collections::weak_bounded_vec::WeakBoundedVec", {U(t_.Seq(lock), "Vec<T>")},
                             {{"T", lock}, {"S"}});
    TypeId reserve = t_.Struct("pallet_balances::types::ReserveData",
                               {F("id", id8, "ReserveIdentifier"), F("amount", u128_, "Balance")},
                               {{"ReserveIdentifier", id8}, {"Balance", u128_}});
    TypeId id_amount = t_.Struct("pallet_balances::types::IdAmount", {F("id", unit_, "Id"), F("amount", u128_, "Balance")},
                                 {{"Id", unit_}, {"Balance", u128_}});
    p.storage = Storage("Balances", {
        Plain("TotalIssuance", M::kDefault, u128_, Zeros(16)),
        Plain("InactiveIssuance", M::kDefault, u128_, Zeros(16)),
        Map("Locks", M::kDefault, {H::kBlake2_128Concat}, account_, locks, kEmptyVec),
        Map("Reserves", M::kDefault, {H::kBlake2_128Concat}, account_, t_.BoundedVec(reserve), kEmptyVec),
        Map("Holds", M::kDefault, {H::kBlake2_128Concat}, account_, t_.BoundedVec(id_amount), kEmptyVec),
        Map("Freezes", M::kDefault, {H::kBlake2_128Concat}, account_, t_.BoundedVec(id_amount), kEmptyVec),
    });
    p.constants = {
        Const("ExistentialDeposit", u128_, Le128(500)),  // 0.00005 TFT
        Const("MaxLocks", u32_, Le32(50)),
        Const("MaxReserves", u32_, Le32(50)),
        Const("MaxHolds", u32_, Le32(0)),
        Const("MaxFreezes", u32_, Le32(0)),
    };
    return p;
  }

  // TransactionPayment 21 ---------------------------------------------------
  Pallet TransactionPayment() {
    Pallet p = MakePallet("TransactionPayment", 21);
    payment_event_ = t_.Enum("pallet_transaction_payment::pallet::Event",
                             {{"TransactionFeePaid", 0,
                               {F("who", account_, "T::AccountId"), F("actual_fee", u128_, "BalanceOf<T>"),
                                F("tip", u128_, "BalanceOf<T>")}}},
                             {{"T"}});
    p.events = payment_event_;
    TypeId fixed = t_.Struct("sp_arithmetic::fixed_point::FixedU128", {U(u128_, "u128")});
    TypeId releases = t_.Enum("pallet_transaction_payment::Releases", {{"V1Ancient", 0, {}}, {"V2", 1, {}}});
    p.storage = Storage("TransactionPayment", {
        // FixedU128 one = 10^18.
        Plain("NextFeeMultiplier", M::kDefault, fixed, Le128(1'000'000'000'000'000'000ULL)),
        Plain("StorageVersion", M::kDefault, releases, Zeros(1)),
    });
    p.constants = {Const("OperationalFeeMultiplier", u8_, std::string(1, char(5)))};
    return p;
  }

  // TfgridModule 25 ---------------------------------------------------------
  void GridTypes() {
    TypeId farm_name = t_.Struct("pallet_tfgrid::farm::FarmName", {U(bounded_bytes_)}, {{"T"}});
    farm_certification_ = t_.Enum("tfchain_support::types::FarmCertification", {{"NotCertified", 0, {}}, {"Gold", 1, {}}});
    public_ip_ = t_.Struct("tfchain_support::types::PublicIP",
                           {F("ip", bounded_bytes_), F("gateway", bounded_bytes_), F("contract_id", u64_)});
    public_ips_ = t_.BoundedVec(public_ip_);
    TypeId farming_policy_limit =
        t_.Struct("tfchain_support::types::FarmingPolicyLimit",
                  {F("farming_policy_id", u32_), F("cu", opt_u64_), F("su", opt_u64_), F("end", opt_u64_),
                   F("node_count", opt_u32_), F("node_certification", bool_)});
    farm_ = t_.Struct("tfchain_support::types::Farm",
                      {F("version", u32_), F("id", u32_), F("name", farm_name), F("twin_id", u32_),
                       F("pricing_policy_id", u32_), F("certification", farm_certification_),
                       F("public_ips", public_ips_), F("dedicated_farm", bool_),
                       F("farming_policy_limits", t_.Option(farming_policy_limit))},
                      {{"Name", farm_name}});

    resources_ = t_.Struct("tfchain_support::resources::Resources",
                           {F("hru", u64_), F("sru", u64_), F("cru", u64_), F("mru", u64_)});
    TypeId city = t_.Struct("pallet_tfgrid::node::CityName", {U(bounded_bytes_)}, {{"T"}});
    TypeId country = t_.Struct("pallet_tfgrid::node::CountryName", {U(bounded_bytes_)}, {{"T"}});
    TypeId location = t_.Struct("pallet_tfgrid::node::Location",
                                {F("city", city), F("country", country), F("latitude", bounded_bytes_),
                                 F("longitude", bounded_bytes_)},
                                {{"T"}});
    TypeId ip4 = t_.Struct("tfchain_support::types::IP4", {F("ip", bounded_bytes_), F("gw", bounded_bytes_)});
    TypeId ip6 = t_.Struct("tfchain_support::types::IP6", {F("ip", bounded_bytes_), F("gw", bounded_bytes_)});
    public_config_ = t_.Struct("tfchain_support::types::PublicConfig",
                               {F("ip4", ip4), F("ip6", t_.Option(ip6)), F("domain", opt_bounded_bytes_)});
    TypeId if_name = t_.Struct("pallet_tfgrid::interface::InterfaceName", {U(bounded_bytes_)}, {{"T"}});
    TypeId if_mac = t_.Struct("pallet_tfgrid::interface::InterfaceMac", {U(bounded_bytes_)}, {{"T"}});
    TypeId if_ip = t_.Struct("pallet_tfgrid::interface::InterfaceIp", {U(bounded_bytes_)}, {{"T"}});
    TypeId if_ips = t_.BoundedVec(if_ip);
    TypeId interface = t_.Struct("tfchain_support::types::Interface",
                                 {F("name", if_name), F("mac", if_mac), F("ips", if_ips)},
                                 {{"Name", if_name}, {"Mac", if_mac}, {"Ips", if_ips}});
    TypeId node_certification =
        t_.Enum("tfchain_support::types::NodeCertification", {{"Diy", 0, {}}, {"Certified", 1, {}}});
    TypeId serial = t_.Struct("pallet_tfgrid::node::SerialNumber", {U(bounded_bytes_)}, {{"T"}});
    node_ = t_.Struct("tfchain_support::types::Node",
                      {F("version", u32_), F("id", u32_), F("farm_id", u32_), F("twin_id", u32_),
                       F("resources", resources_), F("location", location),
                       F("public_config", t_.Option(public_config_)), F("created", u64_),
                       F("farming_policy_id", u32_), F("interfaces", t_.Seq(interface)),
                       F("certification", node_certification), F("secure_boot", bool_),
                       F("virtualized", bool_), F("serial_number", t_.Option(serial)),
                       F("connection_price", u32_)},
                      {{"Location", location}, {"If", interface}, {"SerialNumber", serial}});

    TypeId entity_proof = t_.Struct("pallet_tfgrid::types::EntityProof", {F("entity_id", u32_), F("signature", bytes_)});
    twin_ = t_.Struct("pallet_tfgrid::types::Twin",
                      {F("id", u32_), F("account_id", account_), F("relay", opt_bounded_bytes_),
                       F("entities", t_.Seq(entity_proof)), F("pk", opt_bounded_bytes_)},
                      {{"AccountId", account_}});
  }

  Pallet TfgridModule() {
    GridTypes();
    Pallet p = MakePallet("TfgridModule", 25);
    p.calls = t_.Enum("pallet_tfgrid::pallet::Call",
                      {{"create_twin", 17, {F("relay", opt_bounded_bytes_, "RelayInput"), F("pk", opt_bounded_bytes_, "PkInput")}},
                       {"update_twin", 18, {F("relay", opt_bounded_bytes_, "RelayInput"), F("pk", opt_bounded_bytes_, "PkInput")}},
                       {"user_accept_tc", 25,
                        {F("document_link", bounded_bytes_, "DocumentLinkInput"),
                         F("document_hash", bounded_bytes_, "DocumentHashInput")}}},
                      {{"T"}});
    tfgrid_event_ = t_.Enum("pallet_tfgrid::pallet::Event",
                            {{"FarmStored", 0, {U(farm_)}},
                             {"FarmUpdated", 1, {U(farm_)}},
                             {"FarmDeleted", 2, {U(u32_)}},
                             {"NodeStored", 3, {U(node_)}},
                             {"NodeUpdated", 4, {U(node_)}},
                             {"NodeDeleted", 5, {U(u32_)}},
                             {"NodeUptimeReported", 6, {U(u32_), U(u64_), U(u64_)}},
                             {"NodePublicConfigStored", 7, {U(u32_), U(t_.Option(public_config_))}},
                             {"TwinStored", 11, {U(twin_)}},
                             {"TwinUpdated", 12, {U(twin_)}},
                             {"TwinEntityStored", 13, {U(u32_), U(u32_), U(bytes_)}},
                             {"TwinEntityRemoved", 14, {U(u32_), U(u32_)}},
                             {"TwinDeleted", 15, {U(u32_)}},
                             {"TwinAccountBounded", 16, {U(u32_), U(account_)}}},
                            {{"T"}});
    p.events = tfgrid_event_;
    p.errors = t_.Errors(
        "pallet_tfgrid::pallet::Error",
        {"NoneValue", "StorageOverflow", "CannotCreateNode", "NodeNotExists", "NodeWithTwinIdExists",
         "CannotDeleteNode", "NodeDeleteNotAuthorized", "NodeUpdateNotAuthorized", "FarmExists", "FarmNotExists",
         "CannotCreateFarmWrongTwin", "CannotUpdateFarmWrongTwin", "CannotDeleteFarm", "CannotDeleteFarmWithPublicIPs",
         "CannotDeleteFarmWithNodesAssigned", "CannotDeleteFarmWrongTwin", "IpExists", "IpNotExists",
         "EntityWithNameExists", "EntityWithPubkeyExists", "EntityNotExists", "EntitySignatureDoesNotMatch",
         "EntityWithSignatureAlreadyExists", "CannotUpdateEntity", "CannotDeleteEntity", "SignatureLengthIsIncorrect",
         "TwinExists", "TwinNotExists", "TwinWithPubkeyExists", "CannotCreateTwin", "UnauthorizedToUpdateTwin",
         "TwinCannotBoundToItself", "PricingPolicyExists", "PricingPolicyNotExists",
         "PricingPolicyWithDifferentIdExists", "CertificationCodeExists", "FarmingPolicyAlreadyExists",
         "FarmPayoutAdressAlreadyRegistered", "FarmerDoesNotHaveEnoughFunds", "UserDidNotSignTermsAndConditions",
         "FarmerDidNotSignTermsAndConditions", "FarmerNotAuthorized", "InvalidFarmName", "AlreadyCertifier",
         "NotCertifier", "NotAllowedToCertifyNode", "FarmingPolicyNotExists", "RelayTooShort", "RelayTooLong",
         "InvalidRelay", "FarmNameTooShort", "FarmNameTooLong", "InvalidPublicIP", "PublicIPTooShort",
         "PublicIPTooLong", "GatewayIPTooShort", "GatewayIPTooLong", "IP4TooShort", "IP4TooLong", "InvalidIP4",
         "GW4TooShort", "GW4TooLong", "InvalidGW4", "IP6TooShort", "IP6TooLong", "InvalidIP6", "GW6TooShort",
         "GW6TooLong", "InvalidGW6", "DomainTooShort", "DomainTooLong", "InvalidDomain", "MethodIsDeprecated",
         "InterfaceNameTooShort", "InterfaceNameTooLong", "InvalidInterfaceName", "InterfaceMacTooShort",
         "InterfaceMacTooLong", "InvalidMacAddress", "InterfaceIpTooShort", "InterfaceIpTooLong",
         "InvalidInterfaceIP", "InvalidZosVersion", "FarmingPolicyExpired", "InvalidHRUInput", "InvalidSRUInput",
         "InvalidCRUInput", "InvalidMRUInput", "LatitudeInputTooShort", "LatitudeInputTooLong",
         "InvalidLatitudeInput", "LongitudeInputTooShort", "LongitudeInputTooLong", "InvalidLongitudeInput",
         "CountryNameTooShort", "CountryNameTooLong", "InvalidCountryName", "CityNameTooShort", "CityNameTooLong",
         "InvalidCityName", "InvalidCountryCityPair", "SerialNumberTooShort", "SerialNumberTooLong",
         "InvalidSerialNumber", "DocumentLinkInputTooShort", "DocumentLinkInputTooLong", "InvalidDocumentLinkInput",
         "DocumentHashInputTooShort", "DocumentHashInputTooLong", "InvalidDocumentHashInput", "InvalidPublicConfig",
         "UnauthorizedToChangePowerTarget", "NodeHasActiveContracts", "InvalidRelayAddress", "InvalidTimestampHint",
         "InvalidStorageInput"});

    // Prices in units of 1e-7 USD per unit (per hour for su, cu); `unit`
    // is the base-1024 size the resource is counted in.
    TypeId unit = t_.Enum("pallet_tfgrid::types::Unit",
                          Variants({"Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terrabytes"}));
    TypeId policy = t_.Struct("pallet_tfgrid::types::Policy", {F("value", u32_), F("unit", unit)});
    TypeId pricing_policy =
        t_.Struct("pallet_tfgrid::types::PricingPolicy",
                  {F("version", u32_), F("id", u32_), F("name", bytes_), F("su", policy), F("cu", policy),
                   F("nu", policy), F("ipu", policy), F("unique_name", policy), F("domain_name", policy),
                   F("foundation_account", account_), F("certified_sales_account", account_),
                   F("discount_for_dedication_nodes", u8_)},
                  {{"AccountId", account_}});
    TypeId terms = t_.Struct("pallet_tfgrid::terms_cond::TermsAndConditions",
                             {F("account_id", account_), F("timestamp", u64_), F("document_link", bounded_bytes_),
                              F("document_hash", bounded_bytes_)},
                             {{"T"}});
    const auto b2 = std::vector<H>{H::kBlake2_128Concat};
    p.storage = Storage("TfgridModule", {
        Map("Farms", M::kOptional, b2, u32_, farm_, kNone),
        Map("NodesByFarmID", M::kDefault, b2, u32_, t_.Seq(u32_), kEmptyVec),
        Map("Nodes", M::kOptional, b2, u32_, node_, kNone),
        Map("NodeIdByTwinID", M::kDefault, b2, u32_, u32_, Zeros(4)),
        Map("Twins", M::kOptional, b2, u32_, twin_, kNone),
        Map("TwinIdByAccountID", M::kOptional, b2, account_, u32_, kNone),
        Map("UsersTermsAndConditions", M::kOptional, b2, account_, t_.Seq(terms), kNone),
        Map("PricingPolicies", M::kOptional, b2, u32_, pricing_policy, kNone),
        Plain("FarmID", M::kDefault, u32_, Zeros(4)),
        Plain("NodeID", M::kDefault, u32_, Zeros(4)),
        Plain("TwinID", M::kDefault, u32_, Zeros(4)),
    });
    p.constants = {
        Const("MaxFarmNameLength", u32_, Le32(40)),
        Const("MaxFarmPublicIps", u32_, Le32(512)),
        Const("MaxInterfacesLength", u32_, Le32(10)),
        Const("MaxInterfaceIpsLength", u32_, Le32(10)),
        Const("TimestampHintDrift", u64_, Le64(60)),
    };
    return p;
  }

  // SmartContractModule 26 --------------------------------------------------
  Pallet SmartContractModule() {
    Pallet p = MakePallet("SmartContractModule", 26);
    p.calls = t_.Enum("pallet_smart_contract::pallet::Call",
                      {{"create_node_contract", 0,
                        {F("node_id", u32_, "u32"), F("deployment_hash", a32_, "HexHash"),
                         F("deployment_data", bounded_bytes_, "DeploymentDataInput<T>"), F("public_ips", u32_, "u32"),
                         F("solution_provider_id", opt_u64_, "Option<u64>")}},
                       {"update_node_contract", 1,
                        {F("contract_id", u64_, "u64"), F("deployment_hash", a32_, "HexHash"),
                         F("deployment_data", bounded_bytes_, "DeploymentDataInput<T>")}},
                       {"cancel_contract", 2, {F("contract_id", u64_, "u64")}}},
                      {{"T"}});

    TypeId cause = t_.Enum("pallet_smart_contract::types::Cause",
                           {{"CanceledByUser", 0, {}}, {"OutOfFunds", 1, {}}, {"CanceledByCollective", 2, {}}});
    TypeId state = t_.Enum("pallet_smart_contract::types::ContractState",
                           {{"Created", 0, {}}, {"Deleted", 1, {U(cause, "Cause")}}, {"GracePeriod", 2, {U(u64_, "BlockNumber")}}});
    TypeId node_contract = t_.Struct("pallet_smart_contract::types::NodeContract",
                                     {F("node_id", u32_), F("deployment_hash", a32_), F("deployment_data", bounded_bytes_),
                                      F("public_ips", u32_), F("public_ips_list", public_ips_)},
                                     {{"T"}});
    TypeId name_contract_name =
        t_.Struct("pallet_smart_contract::grid_contract::NameContractName", {U(bounded_bytes_)}, {{"T"}});
    TypeId name_contract =
        t_.Struct("pallet_smart_contract::types::NameContract", {F("name", name_contract_name)}, {{"T"}});
    TypeId rent_contract = t_.Struct("pallet_smart_contract::types::RentContract", {F("node_id", u32_)});
    TypeId contract_data = t_.Enum("pallet_smart_contract::types::ContractData",
                                   {{"NodeContract", 0, {U(node_contract)}},
                                    {"NameContract", 1, {U(name_contract)}},
                                    {"RentContract", 2, {U(rent_contract)}}},
                                   {{"T"}});
    TypeId contract = t_.Struct("pallet_smart_contract::types::Contract",
                                {F("version", u32_), F("state", state), F("contract_id", u64_), F("twin_id", u32_),
                                 F("contract_type", contract_data), F("solution_provider_id", opt_u64_)},
                                {{"T"}});
    TypeId discount = t_.Enum("pallet_smart_contract::types::DiscountLevel",
                              {{"None", 0, {}}, {"Default", 1, {}}, {"Bronze", 2, {}}, {"Silver", 3, {}}, {"Gold", 4, {}}});
    TypeId bill = t_.Struct("pallet_smart_contract::types::ContractBill",
                            {F("contract_id", u64_), F("timestamp", u64_), F("discount_level", discount),
                             F("amount_billed", u128_)});
    TypeId contract_resources =
        t_.Struct("pallet_smart_contract::types::ContractResources", {F("contract_id", u64_), F("used", resources_)});
    auto node_twin = [&](const char* name, uint8_t index) {
      return V{name, index, {F("contract_id", u64_), F("node_id", u32_), F("twin_id", u32_)}};
    };
    smart_contract_event_ = t_.Enum(
        "pallet_smart_contract::pallet::Event",
        {{"ContractCreated", 0, {U(contract)}},
         {"ContractUpdated", 1, {U(contract)}},
         node_twin("NodeContractCanceled", 2),
         {"NameContractCanceled", 3, {F("contract_id", u64_)}},
         {"IPsReserved", 4, {F("contract_id", u64_), F("public_ips", public_ips_)}},
         {"IPsFreed", 5, {F("contract_id", u64_), F("public_ips", public_ips_)}},
         {"ContractDeployed", 6, {U(u64_), U(account_)}},
         {"ContractBilled", 8, {U(bill)}},
         {"TokensBurned", 9, {F("contract_id", u64_), F("amount", u128_)}},
         {"UpdatedUsedResources", 10, {U(contract_resources)}},
         {"RentContractCanceled", 12, {F("contract_id", u64_)}},
         {"ContractGracePeriodStarted", 13,
          {F("contract_id", u64_), F("node_id", u32_), F("twin_id", u32_), F("block_number", u64_)}},
         node_twin("ContractGracePeriodEnded", 14),
         {"ContractGracePeriodElapsed", 26, {F("contract_id", u64_), F("grace_period", u64_)}},
         {"ContractPaymentOverdrawn", 27,
          {F("contract_id", u64_), F("timestamp", u64_), F("partially_billed_amount", u128_), F("overdraft", u128_)}},
         {"RewardDistributed", 28,
          {F("contract_id", u64_), F("standard_rewards", u128_), F("additional_rewards", u128_)}}},
        {{"T"}});
    p.events = smart_contract_event_;
    p.errors = t_.Errors(
        "pallet_smart_contract::pallet::Error",
        {"TwinNotExists", "NodeNotExists", "FarmNotExists", "FarmHasNotEnoughPublicIPs",
         "FarmHasNotEnoughPublicIPsFree", "FailedToReserveIP", "FailedToFreeIPs", "ContractNotExists",
         "TwinNotAuthorizedToUpdateContract", "TwinNotAuthorizedToCancelContract",
         "NodeNotAuthorizedToDeployContract", "NodeNotAuthorizedToComputeReport", "PricingPolicyNotExists",
         "ContractIsNotUnique", "ContractWrongBillingLoopIndex", "NameExists", "NameNotValid", "InvalidContractType",
         "TFTPriceValueError", "NotEnoughResourcesOnNode", "NodeNotAuthorizedToReportResources", "MethodIsDeprecated",
         "NodeHasActiveContracts", "NodeHasRentContract", "FarmIsNotDedicated", "NodeNotAvailableToDeploy",
         "CannotUpdateContractInGraceState", "NumOverflow", "OffchainSignedTxCannotSign",
         "OffchainSignedTxAlreadySent", "OffchainSignedTxNoLocalAccountAvailable", "NameContractNameTooShort",
         "NameContractNameTooLong", "InvalidProviderConfiguration", "NoSuchSolutionProvider",
         "SolutionProviderNotApproved", "TwinNotAuthorized", "ServiceContractNotExists",
         "ServiceContractCreationNotAllowed", "ServiceContractModificationNotAllowed",
         "ServiceContractApprovalNotAllowed", "ServiceContractRejectionNotAllowed",
         "ServiceContractBillingNotApprovedByBoth", "ServiceContractBillingVariableAmountTooHigh",
         "ServiceContractBillMetadataTooLong", "ServiceContractMetadataTooLong",
         "ServiceContractNotEnoughFundsToPayBill", "CanOnlyIncreaseFrequency", "IsNotAnAuthority", "WrongAuthority",
         "UnauthorizedToChangeSolutionProviderId", "UnauthorizedToSetExtraFee", "RewardDistributionError",
         "ContractPaymentStateNotExists"});

    TypeId billing_info = t_.Struct("pallet_smart_contract::types::ContractBillingInformation",
                                    {F("previous_nu_reported", u64_), F("last_updated", u64_), F("amount_unbilled", u64_)});
    TypeId lock = t_.Struct("pallet_smart_contract::types::ContractLock",
                            {F("amount_locked", u128_), F("extra_amount_locked", u128_), F("lock_updated", u64_),
                             F("cycles", u16_)},
                            {{"BalanceOf", u128_}});
    TypeId payment_state = t_.Struct("pallet_smart_contract::types::ContractPaymentState",
                                     {F("standard_reserve", u128_), F("additional_reserve", u128_),
                                      F("standard_overdraft", u128_), F("additional_overdraft", u128_),
                                      F("last_updated_seconds", u64_), F("cycles", u16_)},
                                     {{"BalanceOf", u128_}});
    const auto b2 = std::vector<H>{H::kBlake2_128Concat};
    TypeId ids = t_.Seq(u64_);
    p.storage = Storage("SmartContractModule", {
        Map("Contracts", M::kOptional, b2, u64_, contract, kNone),
        Map("ContractBillingInformationByID", M::kDefault, b2, u64_, billing_info, Zeros(24)),
        Map("NodeContractResources", M::kDefault, b2, u64_, contract_resources, Zeros(8 + 32)),
        Map("ContractIDByNodeIDAndHash", M::kDefault, {H::kBlake2_128Concat, H::kBlake2_128Concat},
            t_.Tuple({u32_, a32_}), u64_, Zeros(8)),
        Map("ActiveNodeContracts", M::kDefault, b2, u32_, ids, kEmptyVec),
        Map("ContractsToBillAt", M::kDefault, b2, u64_, ids, kEmptyVec),
        Map("ContractLock", M::kDefault, b2, u64_, lock, Zeros(16 + 16 + 8 + 2)),
        Map("ActiveRentContractForNode", M::kOptional, b2, u32_, u64_, kNone),
        Plain("ContractID", M::kDefault, u64_, Zeros(8)),
        // One billing cycle every 600 blocks (an hour of 6 s blocks).
        Plain("BillingFrequency", M::kDefault, u64_, Le64(600)),
        Map("ContractPaymentState", M::kOptional, b2, u64_, payment_state, kNone),
    });
    p.constants = {
        Const("MaxNameContractNameLength", u32_, Le32(64)),
        Const("MaxDeploymentDataLength", u32_, Le32(512)),
        Const("MaxNodeContractPublicIps", u32_, Le32(512)),
    };
    return p;
  }

  // TFTPriceModule 28 ------------------------------------------------------
  // Storage only: the TFT price billing converts USD with (mUSD). No calls,
  // events or errors (the devnet has no price oracle).
  Pallet TftPriceModule() {
    Pallet p = MakePallet("TFTPriceModule", 28);
    p.storage = Storage("TFTPriceModule", {
        Plain("TftPrice", M::kDefault, u32_, Zeros(4)),
        Plain("AverageTftPrice", M::kDefault, u32_, Zeros(4)),
        Plain("MinTftPrice", M::kDefault, u32_, Zeros(4)),
        Plain("MaxTftPrice", M::kDefault, u32_, Zeros(4)),
    });
    return p;
  }

  // RuntimeCall and RuntimeEvent: one variant per pallet, at its index.
  void OuterEnums() {
    std::vector<V> calls, events;
    for (const Pallet& p : m_.pallets) {
      if (p.calls) calls.push_back({p.name, p.index, {U(*p.calls)}});
      if (p.events) events.push_back({p.name, p.index, {U(*p.events)}});
    }
    t_.DefineEnum(runtime_call_, "tfchain_runtime::RuntimeCall", std::move(calls));
    t_.DefineEnum(runtime_event_, "tfchain_runtime::RuntimeEvent", std::move(events));
  }

  void Extrinsic() {
    TypeId sig64 = t_.Array(64, u8_);
    TypeId ed_sig = t_.Struct("sp_core::ed25519::Signature", {U(sig64, "[u8; 64]")});
    TypeId sr_sig = t_.Struct("sp_core::sr25519::Signature", {U(sig64, "[u8; 64]")});
    TypeId ecdsa_sig = t_.Struct("sp_core::ecdsa::Signature", {U(t_.Array(65, u8_), "[u8; 65]")});
    TypeId multi_signature = t_.Enum("sp_runtime::MultiSignature",
                                     {{"Ed25519", 0, {U(ed_sig, "ed25519::Signature")}},
                                      {"Sr25519", 1, {U(sr_sig, "sr25519::Signature")}},
                                      {"Ecdsa", 2, {U(ecdsa_sig, "ecdsa::Signature")}}});
    std::vector<V> eras = {{"Immortal", 0, {}}};
    for (int i = 1; i <= 255; i++) eras.push_back({"Mortal" + std::to_string(i), uint8_t(i), {}});
    for (auto& e : eras)
      if (e.index != 0) e.fields = {U(u8_)};
    TypeId era = t_.Enum("sp_runtime::generic::era::Era", std::move(eras));
    m_.runtime_type = t_.Struct("tfchain_runtime::Runtime", {});

    // identifier, the extension's own type (what it adds to the extrinsic),
    // and what it adds to the signing payload only.
    struct Ext {
      const char* identifier;
      TypeId type;
      TypeId additional;
    };
    const Ext exts[] = {
        {"CheckNonZeroSender",
         t_.Struct("frame_system::extensions::check_non_zero_sender::CheckNonZeroSender", {}, {{"T"}}), unit_},
        {"CheckSpecVersion", t_.Struct("frame_system::extensions::check_spec_version::CheckSpecVersion", {}, {{"T"}}),
         u32_},
        {"CheckTxVersion", t_.Struct("frame_system::extensions::check_tx_version::CheckTxVersion", {}, {{"T"}}), u32_},
        {"CheckGenesis", t_.Struct("frame_system::extensions::check_genesis::CheckGenesis", {}, {{"T"}}), h256_},
        {"CheckMortality",
         t_.Struct("frame_system::extensions::check_mortality::CheckMortality", {U(era, "Era")}, {{"T"}}), h256_},
        {"CheckNonce", t_.Struct("frame_system::extensions::check_nonce::CheckNonce", {U(cu32_, "T::Nonce")}, {{"T"}}),
         unit_},
        {"CheckWeight", t_.Struct("frame_system::extensions::check_weight::CheckWeight", {}, {{"T"}}), unit_},
        {"ChargeTransactionPayment",
         t_.Struct("pallet_transaction_payment::ChargeTransactionPayment", {U(cu128_, "BalanceOf<T>")}, {{"T"}}), unit_},
        // TFChain's own: zero bytes, only a `provides` tag for bill_contract_for_block.
        {"ContractIdProvides",
         t_.Struct("pallet_smart_contract::types::ContractIdProvides", {}, {{"T", m_.runtime_type}}), unit_},
    };
    std::vector<TypeId> extra;
    for (const Ext& e : exts) {
      m_.extrinsic.signed_extensions.push_back(SignedExtension{e.identifier, e.type, e.additional});
      extra.push_back(e.type);
    }
    m_.extrinsic.version = 4;
    m_.extrinsic.type = t_.Struct("sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic", {U(bytes_)},
                                  {{"Address", multi_address_},
                                   {"Call", runtime_call_},
                                   {"Signature", multi_signature},
                                   {"Extra", t_.Tuple(std::move(extra))}});
  }

  Metadata m_;
  Types t_;
  TypeId u8_ = 0, u16_ = 0, u32_ = 0, u64_ = 0, u128_ = 0, bool_ = 0, str_ = 0, unit_ = 0, bytes_ = 0, a32_ = 0;
  TypeId cu32_ = 0, cu64_ = 0, cu128_ = 0, opt_u32_ = 0, opt_u64_ = 0, bounded_bytes_ = 0, opt_bounded_bytes_ = 0;
  TypeId account_ = 0, h256_ = 0, weight_ = 0, dispatch_error_ = 0, dispatch_result_ = 0, dispatch_info_ = 0;
  TypeId multi_address_ = 0, phase_ = 0, runtime_call_ = 0, runtime_event_ = 0;
  TypeId system_event_ = 0, utility_event_ = 0, balances_event_ = 0, payment_event_ = 0, tfgrid_event_ = 0,
         smart_contract_event_ = 0;
  TypeId farm_certification_ = 0, public_ip_ = 0, public_ips_ = 0, farm_ = 0, resources_ = 0, public_config_ = 0,
         node_ = 0, twin_ = 0;
};

}  // namespace

Metadata BuildDevnetRuntimeMetadata() { return RuntimeBuilder().Build(); }

RuntimeVersion DevnetRuntimeVersion() {
  RuntimeVersion v;
  v.spec_name = "substrate-threefold";
  v.impl_name = "substrate-threefold";
  v.authoring_version = 1;
  v.spec_version = 152;
  v.impl_version = 1;
  for (const ApiEntry& a : kApis) v.apis.push_back({a.id, a.version});
  v.transaction_version = 2;
  v.state_version = 0;
  return v;
}

std::string_view RuntimeApiName(const std::array<uint8_t, 8>& id) {
  for (const ApiEntry& a : kApis)
    if (a.id == id) return a.name;
  return {};
}

std::string EncodeRuntimeVersion(const RuntimeVersion& v) {
  tfchain::Encoder e;
  e.Bytes(v.spec_name);
  e.Bytes(v.impl_name);
  e.U32(v.authoring_version);
  e.U32(v.spec_version);
  e.U32(v.impl_version);
  e.Compact(v.apis.size());
  for (const auto& a : v.apis) {
    e.Raw(std::string_view(reinterpret_cast<const char*>(a.id.data()), a.id.size()));
    e.U32(a.version);
  }
  e.U32(v.transaction_version);
  e.U8(v.state_version);
  return e.Take();
}

Result<RuntimeVersion> DecodeRuntimeVersion(std::string_view scale) {
  tfchain::Decoder d(scale);
  RuntimeVersion v;
  auto fail = [](const Status& s) { return s.WithContext("RuntimeVersion"); };
  Status s = d.Str(&v.spec_name, "spec_name");
  if (s.ok()) s = d.Str(&v.impl_name, "impl_name");
  if (s.ok()) s = d.U32(&v.authoring_version, "authoring_version");
  if (s.ok()) s = d.U32(&v.spec_version, "spec_version");
  if (s.ok()) s = d.U32(&v.impl_version, "impl_version");
  uint64_t n = 0;
  if (s.ok()) s = d.ReadLength(&n, 12, "apis");
  for (uint64_t i = 0; s.ok() && i < n; i++) {
    std::string id;
    RuntimeApiVersion a;
    s = d.Fixed(8, &id, "api id");
    if (s.ok()) s = d.U32(&a.version, "api version");
    if (s.ok()) {
      std::copy(id.begin(), id.end(), a.id.begin());
      v.apis.push_back(a);
    }
  }
  if (s.ok()) s = d.U32(&v.transaction_version, "transaction_version");
  if (s.ok()) s = d.U8(&v.state_version, "state_version");
  if (s.ok()) s = d.ExpectEnd("RuntimeVersion");
  if (!s.ok()) return fail(s);
  return v;
}

nlohmann::json RuntimeVersionJson(const RuntimeVersion& v) {
  nlohmann::json apis = nlohmann::json::array();
  for (const auto& a : v.apis) {
    std::string_view id(reinterpret_cast<const char*>(a.id.data()), a.id.size());
    apis.push_back(nlohmann::json::array({"0x" + tfchain::ToHex(id), a.version}));
  }
  return nlohmann::json{{"specName", v.spec_name},
                        {"implName", v.impl_name},
                        {"authoringVersion", v.authoring_version},
                        {"specVersion", v.spec_version},
                        {"implVersion", v.impl_version},
                        {"apis", std::move(apis)},
                        {"transactionVersion", v.transaction_version},
                        {"stateVersion", v.state_version}};
}

}  // namespace qstor::devnet
