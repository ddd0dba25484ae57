// Dynamic SCALE values, decoded and encoded by type id against a metadata
// Registry: what System.Events, storage values and calls are made of.
//
// Contract:
//  - DecodeValue() reads exactly one value of the given type; any mismatch
//    gives a Status naming the offset, the type and the field path
//    ("Contract.contract_type.NodeContract.deployment_data: ...").
//    Recursion is bounded (kMaxDepth) and so is the total work (a node
//    budget proportional to the input), so hostile bytes or a cyclic
//    registry cannot overflow the stack or hang.
//  - Vec<u8> and [u8; N] decode to Kind::kBytes (not a sequence of u8).
//  - Compact<T> decodes to the number (or the one-field struct holding it).
//  - EncodeValue() is the inverse and checks the Value against the type:
//    kinds, integer ranges, array lengths, field names (a composite with
//    named fields takes its Value fields by name; unnamed Value fields are
//    taken in order), variant names. A kRaw value is emitted verbatim (a
//    pre-encoded call inside a batch).
//  - EncodeCall() builds `pallet_index ‖ call_index ‖ args` with both
//    indices and every argument type taken from the metadata by name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/scale.h"

namespace qstor::tfchain {

struct NamedValue;

struct Value {
  enum class Kind : uint8_t {
    kBool,
    kChar,        // u: the code point
    kStr,         // str
    kUnsigned,    // u: u8..u128
    kSigned,      // i: i8..i128
    kBig,         // str: 32 little-endian bytes of a u256 / i256
    kBytes,       // str: Vec<u8> or [u8; N]
    kComposite,   // fields (names empty for tuple structs)
    kVariant,     // name, index, fields
    kSequence,    // items: Vec<T> or [T; N] with T != u8
    kTuple,       // items
    kBitSequence, // u: bit count, str: the store bytes
    kRaw,         // str: pre-encoded bytes (encode only)
  };
  Kind kind = Kind::kTuple;  // the unit value () by default
  bool b = false;
  u128 u = 0;
  i128 i = 0;
  std::string str;
  std::string name;       // variant name
  uint8_t index = 0;      // variant index
  std::vector<NamedValue> fields;
  std::vector<Value> items;

  static Value Bool(bool v);
  static Value U(u128 v);
  static Value I(i128 v);
  static Value Str(std::string s);
  static Value Bytes(std::string b);
  static Value Raw(std::string encoded);
  static Value Composite(std::vector<NamedValue> fields);
  static Value Enum(std::string name, std::vector<NamedValue> fields = {});
  static Value Sequence(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  static Value Unit() { return Value(); }
  // Option<T> as its enum: None / Some(v).
  static Value None();
  static Value Some(Value v);

  // A field of a composite or variant by name, or nullptr.
  const Value* Get(std::string_view field_name) const;
  // Text for messages and tests: {a: 1, b: Some(0x00ff)}.
  std::string ToString() const;
  bool operator==(const Value&) const;
};

struct NamedValue {
  std::string name;  // empty for unnamed fields
  Value value;
  bool operator==(const NamedValue&) const = default;
};

constexpr int kMaxDepth = 64;

// Decodes one value of `type` from `d`.
Status DecodeValue(const Registry& r, TypeId type, Decoder& d, Value* out);
// Decodes `bytes` as exactly one value of `type` (trailing bytes refused).
Result<Value> DecodeValueBytes(const Registry& r, TypeId type, std::string_view bytes);
// Appends the encoding of `v` as `type`.
Status EncodeValue(const Registry& r, TypeId type, const Value& v, Encoder& e);
Result<std::string> EncodeValueBytes(const Registry& r, TypeId type, const Value& v);

// The call as a RuntimeCall value: Variant(pallet, [Variant(call, args)]),
// checked against the metadata (for nesting in Utility.batch_all).
Result<Value> CallValue(const Metadata& m, std::string_view pallet, std::string_view call,
                        std::vector<NamedValue> args);
// pallet_index ‖ call_index ‖ SCALE(args), by name through the metadata.
// Arguments are matched by name; a missing or unknown argument is an error.
Result<std::string> EncodeCall(const Metadata& m, std::string_view pallet, std::string_view call,
                               std::vector<NamedValue> args);

// Helpers to read decoded values (with a clear error when the shape differs).
Result<u128> AsUnsigned(const Value& v, std::string_view what);
Result<std::string> AsBytes(const Value& v, std::string_view what);  // kBytes or kStr
// Option<T>: nullopt for None, the inner value for Some.
Result<std::optional<Value>> AsOption(const Value& v, std::string_view what);
Result<const Value*> FieldOf(const Value& v, std::string_view field, std::string_view what);

}  // namespace qstor::tfchain
