// SCALE codec (Parity's Simple Concatenated Aggregate Little-Endian), the
// wire format of every TFChain call, extrinsic, storage value and metadata.
//
// Contract:
//  - Encoder appends to a byte string; it never fails.
//  - Decoder reads from a borrowed byte view. Every read returns a Status;
//    a failed read names the absolute offset and what was expected
//    ("scale: offset 12: expected u32 (node_id), 2 bytes left"), consumes
//    nothing, and leaves the decoder usable for error reporting only.
//  - Lengths read from the input are never trusted for allocation:
//    ReadLength() refuses a count whose elements (each at least
//    `min_element_size` bytes, taken as 1 when 0) cannot fit in the bytes
//    that remain.
//  - Compact integers: the four modes (single byte, two bytes, four bytes,
//    big integer up to 16 bytes = u128). Non-canonical encodings (a value
//    written in a wider mode than needed) are refused, as Substrate does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor::tfchain {

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

// Decimal text of a u128 / i128 (for messages and JSON).
std::string U128ToString(u128 v);
std::string I128ToString(i128 v);

class Encoder {
 public:
  void U8(uint8_t v) { out_.push_back(char(v)); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void U128(u128 v);
  void Bool(bool v) { U8(v ? 1 : 0); }
  void Compact(u128 v);
  // Compact length prefix then the bytes (Vec<u8>, String).
  void Bytes(std::string_view b);
  // Bytes written as they are (fixed arrays, pre-encoded values).
  void Raw(std::string_view b) { out_.append(b); }
  // Option tag: 0 = None, 1 = Some (the Some value follows).
  void OptionTag(bool some) { U8(some ? 1 : 0); }

  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  std::string out_;
};

// Compact encoding of one value, as a string.
std::string CompactBytes(u128 v);

class Decoder {
 public:
  // `base_offset` is added to offsets in messages (for decoders over a slice).
  explicit Decoder(std::string_view data, size_t base_offset = 0)
      : data_(data), base_(base_offset) {}
  // The decoder borrows its input: a temporary string would dangle.
  explicit Decoder(std::string&&, size_t = 0) = delete;

  Status U8(uint8_t* v, std::string_view what);
  Status U16(uint16_t* v, std::string_view what);
  Status U32(uint32_t* v, std::string_view what);
  Status U64(uint64_t* v, std::string_view what);
  Status U128(u128* v, std::string_view what);
  Status Bool(bool* v, std::string_view what);
  Status Compact(u128* v, std::string_view what);
  // Compact that must fit the narrower type.
  Status CompactU32(uint32_t* v, std::string_view what);
  Status CompactU64(uint64_t* v, std::string_view what);
  // A compact element count, checked against the remaining input.
  Status ReadLength(uint64_t* n, size_t min_element_size, std::string_view what);
  // Compact length then that many bytes (Vec<u8>, String).
  Status Bytes(std::string* v, std::string_view what);
  // A String: like Bytes, and must be valid UTF-8.
  Status Str(std::string* v, std::string_view what);
  // Exactly n bytes.
  Status Fixed(size_t n, std::string* v, std::string_view what);
  // Option tag: refuses anything but 0 or 1.
  Status OptionTag(bool* some, std::string_view what);

  size_t offset() const { return base_ + pos_; }     // absolute, for messages
  size_t position() const { return pos_; }           // within this view
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }
  std::string_view rest() const { return data_.substr(pos_); }
  // Bytes consumed since position `from` (to capture the encoding of a value).
  std::string_view Since(size_t from) const { return data_.substr(from, pos_ - from); }
  // Error for "the input should have ended here".
  Status ExpectEnd(std::string_view what) const;
  // A Corruption status "scale: offset N: <message>".
  Status Error(std::string_view message) const;

 private:
  Status Need(size_t n, std::string_view what) const;
  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
};

// Lowercase hex of bytes, and back ("0x" prefix optional, either case; odd
// length or a non-hex character is refused). The project's one hex codec:
// grid/crypto.h's HexEncode/HexDecode call these.
std::string ToHex(std::string_view bytes);
Result<std::string> FromHex(std::string_view hex);

// True when `s` is valid UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view s);

}  // namespace qstor::tfchain
