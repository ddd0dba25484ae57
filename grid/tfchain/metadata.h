// Substrate runtime metadata (frame-metadata v14 and v15): the description a
// chain serves with `state_getMetadata` of its types, pallets, calls, events,
// errors, storage and signed extensions.
//
// Contract:
//  - DecodeMetadata() takes the raw bytes (magic "meta" = 6d657461, a version
//    byte, then RuntimeMetadataV14 or V15); any other magic or version is
//    refused by name. Bad input gives a Status naming the offset and the part
//    being read, never a crash; lengths are bounded by the input.
//  - EncodeMetadata() is the exact inverse: DecodeMetadata(EncodeMetadata(m))
//    == m, and for a chain's reply EncodeMetadata(DecodeMetadata(b)) == b
//    (checked on the recorded spec-152 metadata).
//  - The structs are plain data so a runtime description (the devnet's) can
//    be built in C++ and served: fill a Registry with Registry::Add(), fill
//    pallets and extrinsic, then EncodeMetadata(). Validate() checks that
//    every type id referenced exists.
//  - Indices (pallet, call, event, error) and storage layouts are looked up
//    BY NAME here; nothing in grid/tfchain hard-codes them.
//  - Pointers returned by look-ups point into the Metadata and stay valid
//    while it is alive and unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace qstor::tfchain {

using TypeId = uint32_t;

// ---------------------------------------------------------------------------
// PortableRegistry (scale-info)
// ---------------------------------------------------------------------------
struct Field {
  std::optional<std::string> name;       // None for tuple-like structs
  TypeId type = 0;
  std::optional<std::string> type_name;  // the Rust type as written ("T::AccountId")
  std::vector<std::string> docs;
  bool operator==(const Field&) const = default;
};

struct Variant {
  std::string name;
  std::vector<Field> fields;
  uint8_t index = 0;                     // the SCALE discriminant
  std::vector<std::string> docs;
  bool operator==(const Variant&) const = default;
};

enum class Primitive : uint8_t {
  kBool = 0, kChar = 1, kStr = 2, kU8 = 3, kU16 = 4, kU32 = 5, kU64 = 6, kU128 = 7, kU256 = 8,
  kI8 = 9, kI16 = 10, kI32 = 11, kI64 = 12, kI128 = 13, kI256 = 14,
};
const char* PrimitiveName(Primitive p);  // "u32", "bool", "str", ...

struct TypeDefComposite { std::vector<Field> fields; bool operator==(const TypeDefComposite&) const = default; };
struct TypeDefVariant { std::vector<Variant> variants; bool operator==(const TypeDefVariant&) const = default; };
struct TypeDefSequence { TypeId element = 0; bool operator==(const TypeDefSequence&) const = default; };
struct TypeDefArray { uint32_t len = 0; TypeId element = 0; bool operator==(const TypeDefArray&) const = default; };
struct TypeDefTuple { std::vector<TypeId> fields; bool operator==(const TypeDefTuple&) const = default; };
struct TypeDefPrimitive { Primitive primitive = Primitive::kU8; bool operator==(const TypeDefPrimitive&) const = default; };
struct TypeDefCompact { TypeId type = 0; bool operator==(const TypeDefCompact&) const = default; };
struct TypeDefBitSequence {
  TypeId bit_store = 0;  // u8/u16/u32/u64
  TypeId bit_order = 0;  // bitvec::order::Lsb0 / Msb0
  bool operator==(const TypeDefBitSequence&) const = default;
};
// The index in this variant is the SCALE discriminant of TypeDef (0..7).
using TypeDef = std::variant<TypeDefComposite, TypeDefVariant, TypeDefSequence, TypeDefArray,
                             TypeDefTuple, TypeDefPrimitive, TypeDefCompact, TypeDefBitSequence>;

struct TypeParam {
  std::string name;
  std::optional<TypeId> type;
  bool operator==(const TypeParam&) const = default;
};

struct Type {
  std::vector<std::string> path;  // e.g. {"pallet_smart_contract","types","Contract"}
  std::vector<TypeParam> params;
  TypeDef def;
  std::vector<std::string> docs;
  bool operator==(const Type&) const = default;
};

struct PortableType {
  TypeId id = 0;
  Type type;
  bool operator==(const PortableType&) const = default;
};

struct Registry {
  std::vector<PortableType> types;  // in wire order; ids are normally 0..n-1

  // The type with this id, or nullptr.
  const Type* Find(TypeId id) const;
  // Appends a type with the next free id (types.size() when ids are dense).
  TypeId Add(Type t);
  // "path::Joined" or the kind ("u32", "Vec<...>", "(...)") for messages.
  std::string Describe(TypeId id) const;
  // The first type whose path equals `path` joined with "::", or nullopt.
  std::optional<TypeId> FindByPath(std::string_view joined_path) const;
  bool operator==(const Registry&) const = default;
};

// ---------------------------------------------------------------------------
// Pallets
// ---------------------------------------------------------------------------
enum class StorageHasher : uint8_t {
  kBlake2_128 = 0, kBlake2_256 = 1, kBlake2_128Concat = 2, kTwox128 = 3, kTwox256 = 4,
  kTwox64Concat = 5, kIdentity = 6,
};
const char* StorageHasherName(StorageHasher h);

enum class StorageModifier : uint8_t { kOptional = 0, kDefault = 1 };

struct StorageEntry {
  std::string name;
  StorageModifier modifier = StorageModifier::kOptional;
  bool is_map = false;                 // false: Plain(value)
  std::vector<StorageHasher> hashers;  // maps only: one per key part
  TypeId key = 0;                      // maps only: the key type (a tuple when >1 hasher)
  TypeId value = 0;
  std::string default_value;           // SCALE bytes of the default
  std::vector<std::string> docs;
  bool operator==(const StorageEntry&) const = default;
};

struct PalletStorage {
  std::string prefix;  // the pallet's storage prefix (its construct_runtime name)
  std::vector<StorageEntry> entries;
  bool operator==(const PalletStorage&) const = default;
};

struct Constant {
  std::string name;
  TypeId type = 0;
  std::string value;  // SCALE bytes
  std::vector<std::string> docs;
  bool operator==(const Constant&) const = default;
};

struct Pallet {
  std::string name;
  std::optional<PalletStorage> storage;
  std::optional<TypeId> calls;   // a variant type: one variant per call
  std::optional<TypeId> events;  // a variant type: one variant per event
  std::vector<Constant> constants;
  std::optional<TypeId> errors;  // a variant type: one variant per error
  uint8_t index = 0;
  std::vector<std::string> docs;  // v15 only (empty and not encoded in v14)
  bool operator==(const Pallet&) const = default;
};

// ---------------------------------------------------------------------------
// Extrinsic
// ---------------------------------------------------------------------------
struct SignedExtension {
  std::string identifier;        // "CheckNonce", "ContractIdProvides", ...
  TypeId type = 0;               // what it adds to the extrinsic ("extra")
  TypeId additional_signed = 0;  // what it adds to the signing payload only
  bool operator==(const SignedExtension&) const = default;
};

struct ExtrinsicInfo {
  TypeId type = 0;  // v14: the UncheckedExtrinsic type
  uint8_t version = 4;
  std::vector<SignedExtension> signed_extensions;
  // v15 only (v14 leaves them 0 and does not encode them):
  TypeId address_type = 0, call_type = 0, signature_type = 0, extra_type = 0;
  bool operator==(const ExtrinsicInfo&) const = default;
};

// v15 extras, kept for an exact round trip.
struct RuntimeApiMethodInput {
  std::string name;
  TypeId type = 0;
  bool operator==(const RuntimeApiMethodInput&) const = default;
};
struct RuntimeApiMethod {
  std::string name;
  std::vector<RuntimeApiMethodInput> inputs;
  TypeId output = 0;
  std::vector<std::string> docs;
  bool operator==(const RuntimeApiMethod&) const = default;
};
struct RuntimeApi {
  std::string name;
  std::vector<RuntimeApiMethod> methods;
  std::vector<std::string> docs;
  bool operator==(const RuntimeApi&) const = default;
};
struct CustomValue {
  std::string name;
  TypeId type = 0;
  std::string value;
  bool operator==(const CustomValue&) const = default;
};
struct MetadataV15Extras {
  std::vector<RuntimeApi> apis;
  TypeId call_enum = 0, event_enum = 0, error_enum = 0;  // OuterEnums
  std::vector<CustomValue> custom;                       // BTreeMap, sorted by name
  bool operator==(const MetadataV15Extras&) const = default;
};

// ---------------------------------------------------------------------------
// Look-up results
// ---------------------------------------------------------------------------
struct CallInfo {
  const Pallet* pallet = nullptr;
  const Variant* call = nullptr;  // name, fields (names and type ids), index
  uint8_t pallet_index = 0;
  uint8_t call_index = 0;
};
struct EventInfo {
  const Pallet* pallet = nullptr;
  const Variant* event = nullptr;
  uint8_t pallet_index = 0;
  uint8_t event_index = 0;
};
struct StorageInfo {
  const Pallet* pallet = nullptr;
  const StorageEntry* entry = nullptr;
  std::string prefix;  // the pallet storage prefix
};

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------
struct Metadata {
  uint8_t version = 14;  // 14 or 15
  Registry registry;
  std::vector<Pallet> pallets;
  ExtrinsicInfo extrinsic;
  TypeId runtime_type = 0;  // the Runtime type
  MetadataV15Extras v15;     // version 15 only

  const Pallet* FindPallet(std::string_view name) const;
  const Pallet* FindPalletByIndex(uint8_t index) const;
  Result<CallInfo> FindCall(std::string_view pallet, std::string_view call) const;
  Result<CallInfo> FindCallByIndex(uint8_t pallet_index, uint8_t call_index) const;
  Result<EventInfo> FindEvent(std::string_view pallet, std::string_view event) const;
  Result<EventInfo> FindEventByIndex(uint8_t pallet_index, uint8_t event_index) const;
  // "Pallet.ErrorName" of a DispatchError::Module {index, error[0]}.
  Result<std::string> ErrorName(uint8_t pallet_index, uint8_t error_index) const;
  // The error variant (index, docs) by name.
  Result<const Variant*> FindError(std::string_view pallet, std::string_view error) const;
  Result<StorageInfo> FindStorage(std::string_view pallet, std::string_view entry) const;
  // The value (SCALE bytes) of a pallet constant.
  Result<const Constant*> FindConstant(std::string_view pallet, std::string_view name) const;
  // The RuntimeCall (outer call enum) type: v15 outer enums, else the
  // UncheckedExtrinsic's "Call" parameter, else the type at path
  // "*::RuntimeCall".
  Result<TypeId> RuntimeCallType() const;
  // The RuntimeEvent type (v15 outer enum, else the "*::RuntimeEvent" path).
  Result<TypeId> RuntimeEventType() const;
  // Every referenced type id exists (types, pallets, extrinsic, constants).
  Status Validate() const;

  bool operator==(const Metadata&) const = default;
};

// Decodes "meta" ‖ version ‖ RuntimeMetadataV14|V15. Trailing bytes are refused.
Result<Metadata> DecodeMetadata(std::string_view bytes);
// Same from hex text ("0x6d657461..."), as state_getMetadata returns it.
Result<Metadata> DecodeMetadataHex(std::string_view hex);
// "meta" ‖ version ‖ body.
std::string EncodeMetadata(const Metadata& m);

}  // namespace qstor::tfchain
