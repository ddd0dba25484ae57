#include "grid/tfchain/scale.h"

#include <algorithm>
#include <string>

namespace qstor::tfchain {

std::string U128ToString(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v != 0) {
    s.push_back(char('0' + int(v % 10)));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

std::string I128ToString(i128 v) {
  if (v >= 0) return U128ToString(u128(v));
  return "-" + U128ToString(u128(0) - u128(v));
}

void Encoder::U16(uint16_t v) {
  for (int i = 0; i < 2; ++i) U8(uint8_t(v >> (8 * i)));
}
void Encoder::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) U8(uint8_t(v >> (8 * i)));
}
void Encoder::U64(uint64_t v) {
  for (int i = 0; i < 8; ++i) U8(uint8_t(v >> (8 * i)));
}
void Encoder::U128(u128 v) {
  for (int i = 0; i < 16; ++i) U8(uint8_t(v >> (8 * i)));
}

void Encoder::Compact(u128 v) {
  if (v < (u128(1) << 6)) {
    U8(uint8_t(v << 2));
  } else if (v < (u128(1) << 14)) {
    U16(uint16_t((v << 2) | 1));
  } else if (v < (u128(1) << 30)) {
    U32(uint32_t((v << 2) | 2));
  } else {
    int n = 0;
    for (u128 t = v; t != 0; t >>= 8) ++n;  // 4..16 bytes
    U8(uint8_t(((n - 4) << 2) | 3));
    for (int i = 0; i < n; ++i) U8(uint8_t(v >> (8 * i)));
  }
}

void Encoder::Bytes(std::string_view b) {
  Compact(b.size());
  Raw(b);
}

std::string CompactBytes(u128 v) {
  Encoder e;
  e.Compact(v);
  return e.Take();
}

Status Decoder::Error(std::string_view message) const {
  return Status::Corruption("scale: offset " + std::to_string(offset()) + ": " +
                            std::string(message));
}

Status Decoder::Need(size_t n, std::string_view what) const {
  if (remaining() >= n) return Status::OK();
  return Error("expected " + std::string(what) + " (" + std::to_string(n) + " bytes), " +
               std::to_string(remaining()) + " bytes left");
}

Status Decoder::ExpectEnd(std::string_view what) const {
  if (done()) return Status::OK();
  return Error(std::to_string(remaining()) + " unexpected trailing bytes after " +
               std::string(what));
}

namespace {
template <typename T>
T ReadLe(std::string_view d, size_t pos) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= T(uint8_t(d[pos + i])) << (8 * i);
  return v;
}
}  // namespace

Status Decoder::U8(uint8_t* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(1, what));
  *v = uint8_t(data_[pos_++]);
  return Status::OK();
}
Status Decoder::U16(uint16_t* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(2, what));
  *v = ReadLe<uint16_t>(data_, pos_);
  pos_ += 2;
  return Status::OK();
}
Status Decoder::U32(uint32_t* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(4, what));
  *v = ReadLe<uint32_t>(data_, pos_);
  pos_ += 4;
  return Status::OK();
}
Status Decoder::U64(uint64_t* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(8, what));
  *v = ReadLe<uint64_t>(data_, pos_);
  pos_ += 8;
  return Status::OK();
}
Status Decoder::U128(u128* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(16, what));
  *v = ReadLe<u128>(data_, pos_);
  pos_ += 16;
  return Status::OK();
}
Status Decoder::Bool(bool* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(1, what));
  uint8_t b = uint8_t(data_[pos_]);
  if (b > 1) return Error("expected bool " + std::string(what) + ", got byte " + std::to_string(b));
  ++pos_;
  *v = b == 1;
  return Status::OK();
}

Status Decoder::Compact(u128* v, std::string_view what) {
  const std::string label = "compact " + std::string(what);
  QSTOR_RETURN_IF_ERROR(Need(1, label));
  uint8_t first = uint8_t(data_[pos_]);
  switch (first & 3) {
    case 0:
      *v = first >> 2;
      pos_ += 1;
      return Status::OK();
    case 1: {
      QSTOR_RETURN_IF_ERROR(Need(2, label));
      u128 x = ReadLe<uint16_t>(data_, pos_) >> 2;
      if (x < (1u << 6)) return Error("non-canonical " + label + " (two-byte mode for " + U128ToString(x) + ")");
      *v = x;
      pos_ += 2;
      return Status::OK();
    }
    case 2: {
      QSTOR_RETURN_IF_ERROR(Need(4, label));
      u128 x = ReadLe<uint32_t>(data_, pos_) >> 2;
      if (x < (1u << 14)) return Error("non-canonical " + label + " (four-byte mode for " + U128ToString(x) + ")");
      *v = x;
      pos_ += 4;
      return Status::OK();
    }
    default: {
      size_t n = size_t(first >> 2) + 4;
      if (n > 16) return Error(label + " wider than 128 bits (" + std::to_string(n) + " bytes)");
      QSTOR_RETURN_IF_ERROR(Need(1 + n, label));
      u128 x = 0;
      for (size_t i = 0; i < n; ++i) x |= u128(uint8_t(data_[pos_ + 1 + i])) << (8 * i);
      if (uint8_t(data_[pos_ + n]) == 0 || x < (u128(1) << 30))
        return Error("non-canonical " + label + " (big-integer mode with " + std::to_string(n) + " bytes)");
      *v = x;
      pos_ += 1 + n;
      return Status::OK();
    }
  }
}

Status Decoder::CompactU32(uint32_t* v, std::string_view what) {
  size_t at = pos_;
  u128 x;
  QSTOR_RETURN_IF_ERROR(Compact(&x, what));
  if (x > 0xffffffffu) {
    pos_ = at;
    return Error("compact " + std::string(what) + " " + U128ToString(x) + " does not fit u32");
  }
  *v = uint32_t(x);
  return Status::OK();
}

Status Decoder::CompactU64(uint64_t* v, std::string_view what) {
  size_t at = pos_;
  u128 x;
  QSTOR_RETURN_IF_ERROR(Compact(&x, what));
  if (x > ~uint64_t(0)) {
    pos_ = at;
    return Error("compact " + std::string(what) + " " + U128ToString(x) + " does not fit u64");
  }
  *v = uint64_t(x);
  return Status::OK();
}

Status Decoder::ReadLength(uint64_t* n, size_t min_element_size, std::string_view what) {
  size_t at = pos_;
  u128 x;
  QSTOR_RETURN_IF_ERROR(Compact(&x, std::string("length of ") + std::string(what)));
  u128 need = x * u128(std::max<size_t>(min_element_size, 1));
  if (x > ~uint64_t(0) || need > remaining()) {
    std::string msg = "length " + U128ToString(x) + " of " + std::string(what) + " exceeds the " +
                      std::to_string(remaining()) + " bytes left";
    pos_ = at;
    return Error(msg);
  }
  *n = uint64_t(x);
  return Status::OK();
}

Status Decoder::Bytes(std::string* v, std::string_view what) {
  uint64_t n;
  QSTOR_RETURN_IF_ERROR(ReadLength(&n, 1, what));
  v->assign(data_.substr(pos_, n));
  pos_ += n;
  return Status::OK();
}

Status Decoder::Str(std::string* v, std::string_view what) {
  size_t at = pos_;
  QSTOR_RETURN_IF_ERROR(Bytes(v, what));
  if (!IsValidUtf8(*v)) {
    pos_ = at;
    return Error("string " + std::string(what) + " is not valid UTF-8");
  }
  return Status::OK();
}

Status Decoder::Fixed(size_t n, std::string* v, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(n, what));
  v->assign(data_.substr(pos_, n));
  pos_ += n;
  return Status::OK();
}

Status Decoder::OptionTag(bool* some, std::string_view what) {
  QSTOR_RETURN_IF_ERROR(Need(1, "option tag of " + std::string(what)));
  uint8_t b = uint8_t(data_[pos_]);
  if (b > 1)
    return Error("option tag of " + std::string(what) + " must be 0 or 1, got " + std::to_string(b));
  ++pos_;
  *some = b == 1;
  return Status::OK();
}

std::string ToHex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  if (hex.size() % 2 != 0) return Status::InvalidArgument("hex: odd length " + std::to_string(hex.size()));
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int h = nib(hex[2 * i]), l = nib(hex[2 * i + 1]);
    if (h < 0 || l < 0)
      return Status::InvalidArgument("hex: bad character at " + std::to_string(2 * i + (h < 0 ? 0 : 1)));
    out[i] = char(h << 4 | l);
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = uint8_t(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;  // the sequence is cut short
    for (size_t k = 1; k <= n; ++k) {
      uint8_t cc = uint8_t(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace qstor::tfchain
