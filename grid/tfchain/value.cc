#include "grid/tfchain/value.h"

#include <algorithm>
#include <unordered_map>

namespace qstor::tfchain {

// ---------------------------------------------------------------------------
// Value
// ---------------------------------------------------------------------------
Value Value::Bool(bool v) {
  Value x;
  x.kind = Kind::kBool;
  x.b = v;
  return x;
}
Value Value::U(u128 v) {
  Value x;
  x.kind = Kind::kUnsigned;
  x.u = v;
  return x;
}
Value Value::I(i128 v) {
  Value x;
  x.kind = Kind::kSigned;
  x.i = v;
  return x;
}
Value Value::Str(std::string s) {
  Value x;
  x.kind = Kind::kStr;
  x.str = std::move(s);
  return x;
}
Value Value::Bytes(std::string b) {
  Value x;
  x.kind = Kind::kBytes;
  x.str = std::move(b);
  return x;
}
Value Value::Raw(std::string encoded) {
  Value x;
  x.kind = Kind::kRaw;
  x.str = std::move(encoded);
  return x;
}
Value Value::Composite(std::vector<NamedValue> fields) {
  Value x;
  x.kind = Kind::kComposite;
  x.fields = std::move(fields);
  return x;
}
Value Value::Enum(std::string name, std::vector<NamedValue> fields) {
  Value x;
  x.kind = Kind::kVariant;
  x.name = std::move(name);
  x.fields = std::move(fields);
  return x;
}
Value Value::Sequence(std::vector<Value> items) {
  Value x;
  x.kind = Kind::kSequence;
  x.items = std::move(items);
  return x;
}
Value Value::Tuple(std::vector<Value> items) {
  Value x;
  x.kind = Kind::kTuple;
  x.items = std::move(items);
  return x;
}
Value Value::None() { return Enum("None"); }
Value Value::Some(Value v) { return Enum("Some", {NamedValue{"", std::move(v)}}); }

const Value* Value::Get(std::string_view field_name) const {
  for (const auto& f : fields)
    if (f.name == field_name) return &f.value;
  return nullptr;
}

bool Value::operator==(const Value& o) const {
  // The variant index is not compared: values built by name have none.
  return kind == o.kind && b == o.b && u == o.u && i == o.i && str == o.str && name == o.name &&
         fields == o.fields && items == o.items;
}

std::string Value::ToString() const {
  auto fields_text = [&]() {
    std::string s;
    bool named = !fields.empty() && !fields[0].name.empty();
    s += named ? "{" : "(";
    for (size_t k = 0; k < fields.size(); ++k) {
      if (k) s += ", ";
      if (!fields[k].name.empty()) s += fields[k].name + ": ";
      s += fields[k].value.ToString();
    }
    s += named ? "}" : ")";
    return s;
  };
  auto items_text = [&](const char* open, const char* close) {
    std::string s = open;
    for (size_t k = 0; k < items.size(); ++k) s += (k ? ", " : "") + items[k].ToString();
    return s + close;
  };
  switch (kind) {
    case Kind::kBool: return b ? "true" : "false";
    case Kind::kChar: return "char(" + U128ToString(u) + ")";
    case Kind::kStr: return "\"" + str + "\"";
    case Kind::kUnsigned: return U128ToString(u);
    case Kind::kSigned: return I128ToString(i);
    case Kind::kBig: return "0x" + ToHex(str);
    case Kind::kBytes: return "0x" + ToHex(str);
    case Kind::kRaw: return "raw(0x" + ToHex(str) + ")";
    case Kind::kBitSequence: return "bits(" + U128ToString(u) + ", 0x" + ToHex(str) + ")";
    case Kind::kComposite: return fields_text();
    case Kind::kVariant: return fields.empty() ? name : name + fields_text();
    case Kind::kSequence: return items_text("[", "]");
    case Kind::kTuple: return items_text("(", ")");
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Shared type helpers
// ---------------------------------------------------------------------------
namespace {

bool IsU8(const Registry& r, TypeId id) {
  const Type* t = r.Find(id);
  if (t == nullptr) return false;
  const auto* p = std::get_if<TypeDefPrimitive>(&t->def);
  return p != nullptr && p->primitive == Primitive::kU8;
}

// Minimal encoded size of a value of `id`, a lower bound used to bound
// element counts. Memoised per type; a type met again while its own size is
// being computed (a recursive type) counts as 0, which keeps the bound low.
class MinSizer {
 public:
  explicit MinSizer(const Registry& r) : r_(r) {}
  size_t Of(TypeId id) {
    auto it = memo_.find(id);
    if (it != memo_.end()) return it->second;
    memo_[id] = 0;  // in progress
    size_t s = Compute(id);
    memo_[id] = s;
    return s;
  }

 private:
  static size_t Add(size_t a, size_t b) { return a > SIZE_MAX / 4 - b ? SIZE_MAX / 4 : a + b; }
  size_t Compute(TypeId id) {
    const Type* t = r_.Find(id);
    if (t == nullptr) return 0;
    if (const auto* c = std::get_if<TypeDefComposite>(&t->def)) {
      size_t s = 0;
      for (const auto& f : c->fields) s = Add(s, Of(f.type));
      return s;
    }
    if (const auto* v = std::get_if<TypeDefVariant>(&t->def)) {
      if (v->variants.empty()) return 1;
      size_t best = SIZE_MAX / 4;
      for (const auto& var : v->variants) {
        size_t s = 0;
        for (const auto& f : var.fields) s = Add(s, Of(f.type));
        best = std::min(best, s);
      }
      return Add(1, best);
    }
    if (const auto* a = std::get_if<TypeDefArray>(&t->def)) {
      size_t e = Of(a->element);
      if (e == 0 || a->len == 0) return 0;
      return e > (SIZE_MAX / 4) / a->len ? SIZE_MAX / 4 : size_t(a->len) * e;
    }
    if (const auto* tu = std::get_if<TypeDefTuple>(&t->def)) {
      size_t s = 0;
      for (TypeId f : tu->fields) s = Add(s, Of(f));
      return s;
    }
    if (const auto* p = std::get_if<TypeDefPrimitive>(&t->def)) {
      switch (p->primitive) {
        case Primitive::kBool: case Primitive::kU8: case Primitive::kI8: case Primitive::kStr: return 1;
        case Primitive::kU16: case Primitive::kI16: return 2;
        case Primitive::kChar: case Primitive::kU32: case Primitive::kI32: return 4;
        case Primitive::kU64: case Primitive::kI64: return 8;
        case Primitive::kU128: case Primitive::kI128: return 16;
        case Primitive::kU256: case Primitive::kI256: return 32;
      }
      return 0;
    }
    return 1;  // sequence, compact, bit sequence: at least the compact prefix
  }
  const Registry& r_;
  std::unordered_map<TypeId, size_t> memo_;
};

// Width in bytes and signedness of an integer primitive (0 for others).
int IntWidth(Primitive p, bool* is_signed) {
  *is_signed = false;
  switch (p) {
    case Primitive::kU8: return 1;
    case Primitive::kU16: return 2;
    case Primitive::kU32: return 4;
    case Primitive::kU64: return 8;
    case Primitive::kU128: return 16;
    case Primitive::kI8: *is_signed = true; return 1;
    case Primitive::kI16: *is_signed = true; return 2;
    case Primitive::kI32: *is_signed = true; return 4;
    case Primitive::kI64: *is_signed = true; return 8;
    case Primitive::kI128: *is_signed = true; return 16;
    default: return 0;
  }
}

int BitStoreBytes(const Registry& r, TypeId id) {
  const Type* t = r.Find(id);
  if (t == nullptr) return 0;
  const auto* p = std::get_if<TypeDefPrimitive>(&t->def);
  if (p == nullptr) return 0;
  bool s;
  int w = IntWidth(p->primitive, &s);
  return (s || w > 8) ? 0 : w;
}

std::string Join(const std::string& path, const std::string& part) {
  if (path.empty()) return part;
  if (part.empty()) return path;
  return path + "." + part;
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------
struct DecodeCtx {
  const Registry& r;
  int64_t budget;  // value nodes left
  MinSizer min_size;
};

Status Decode(DecodeCtx& c, TypeId id, Decoder& d, Value* out, int depth, const std::string& path);

Status DecodeFields(DecodeCtx& c, const std::vector<Field>& fs, Decoder& d,
                    std::vector<NamedValue>* out, int depth, const std::string& path) {
  for (size_t k = 0; k < fs.size(); ++k) {
    NamedValue nv;
    nv.name = fs[k].name.value_or("");
    QSTOR_RETURN_IF_ERROR(Decode(c, fs[k].type, d, &nv.value, depth + 1,
                                 Join(path, nv.name.empty() ? std::to_string(k) : nv.name)));
    out->push_back(std::move(nv));
  }
  return Status::OK();
}

// Compact<T>: T is an unsigned primitive, or a struct/tuple wrapping one.
Status DecodeCompact(DecodeCtx& c, TypeId inner, Decoder& d, Value* out, int depth,
                     const std::string& path) {
  if (depth > kMaxDepth) return d.Error(path + ": nesting deeper than " + std::to_string(kMaxDepth));
  const Type* t = c.r.Find(inner);
  if (t == nullptr) return d.Error(path + ": unknown type id " + std::to_string(inner) + " in Compact");
  if (const auto* p = std::get_if<TypeDefPrimitive>(&t->def)) {
    bool s;
    int w = IntWidth(p->primitive, &s);
    if (w == 0 || s)
      return d.Error(path + ": Compact<" + PrimitiveName(p->primitive) + "> is not supported");
    u128 v;
    QSTOR_RETURN_IF_ERROR(d.Compact(&v, path));
    if (w < 16 && v >> (8 * w) != 0)
      return d.Error(path + ": compact " + U128ToString(v) + " does not fit " + PrimitiveName(p->primitive));
    *out = Value::U(v);
    return Status::OK();
  }
  if (const auto* comp = std::get_if<TypeDefComposite>(&t->def); comp && comp->fields.size() == 1) {
    Value inner_v;
    QSTOR_RETURN_IF_ERROR(DecodeCompact(c, comp->fields[0].type, d, &inner_v, depth + 1, path));
    *out = Value::Composite({NamedValue{comp->fields[0].name.value_or(""), std::move(inner_v)}});
    return Status::OK();
  }
  if (const auto* tu = std::get_if<TypeDefTuple>(&t->def); tu && tu->fields.size() == 1) {
    Value inner_v;
    QSTOR_RETURN_IF_ERROR(DecodeCompact(c, tu->fields[0], d, &inner_v, depth + 1, path));
    *out = Value::Tuple({std::move(inner_v)});
    return Status::OK();
  }
  return d.Error(path + ": Compact of " + c.r.Describe(inner) + " is not supported");
}

Status Decode(DecodeCtx& c, TypeId id, Decoder& d, Value* out, int depth, const std::string& path) {
  if (depth > kMaxDepth)
    return d.Error((path.empty() ? "value" : path) + ": nesting deeper than " + std::to_string(kMaxDepth));
  if (--c.budget < 0) return d.Error("value: too many nodes for the input size (hostile input?)");
  const Type* t = c.r.Find(id);
  if (t == nullptr) return d.Error((path.empty() ? "value" : path) + ": unknown type id " + std::to_string(id));
  const std::string where = path.empty() ? c.r.Describe(id) : path + " (" + c.r.Describe(id) + ")";
  switch (t->def.index()) {
    case 0: {
      const auto& comp = std::get<TypeDefComposite>(t->def);
      out->kind = Value::Kind::kComposite;
      return DecodeFields(c, comp.fields, d, &out->fields, depth, path);
    }
    case 1: {
      const auto& var = std::get<TypeDefVariant>(t->def);
      uint8_t idx;
      QSTOR_RETURN_IF_ERROR(d.U8(&idx, "variant index of " + where));
      for (const auto& v : var.variants) {
        if (v.index != idx) continue;
        out->kind = Value::Kind::kVariant;
        out->name = v.name;
        out->index = idx;
        return DecodeFields(c, v.fields, d, &out->fields, depth, Join(path, v.name));
      }
      std::string names;
      for (const auto& v : var.variants)
        names += (names.empty() ? "" : ", ") + std::to_string(v.index) + "=" + v.name;
      return Status::Corruption("scale: offset " + std::to_string(d.offset() - 1) + ": " + where +
                                ": unknown variant index " + std::to_string(idx) + " (known: " +
                                names + ")");
    }
    case 2: {
      TypeId el = std::get<TypeDefSequence>(t->def).element;
      if (IsU8(c.r, el)) {
        out->kind = Value::Kind::kBytes;
        return d.Bytes(&out->str, where);
      }
      uint64_t n;
      QSTOR_RETURN_IF_ERROR(d.ReadLength(&n, c.min_size.Of(el), where));
      out->kind = Value::Kind::kSequence;
      for (uint64_t k = 0; k < n; ++k) {
        Value v;
        QSTOR_RETURN_IF_ERROR(Decode(c, el, d, &v, depth + 1, path + "[" + std::to_string(k) + "]"));
        out->items.push_back(std::move(v));
      }
      return Status::OK();
    }
    case 3: {
      const auto& a = std::get<TypeDefArray>(t->def);
      if (IsU8(c.r, a.element)) {
        out->kind = Value::Kind::kBytes;
        return d.Fixed(a.len, &out->str, where);
      }
      if (u128(a.len) * c.min_size.Of(a.element) > d.remaining())
        return d.Error(where + ": array of " + std::to_string(a.len) + " elements exceeds the " +
                       std::to_string(d.remaining()) + " bytes left");
      if (int64_t(a.len) > c.budget) return d.Error(where + ": array too long for the node budget");
      out->kind = Value::Kind::kSequence;
      for (uint32_t k = 0; k < a.len; ++k) {
        Value v;
        QSTOR_RETURN_IF_ERROR(Decode(c, a.element, d, &v, depth + 1, path + "[" + std::to_string(k) + "]"));
        out->items.push_back(std::move(v));
      }
      return Status::OK();
    }
    case 4: {
      const auto& tu = std::get<TypeDefTuple>(t->def);
      out->kind = Value::Kind::kTuple;
      for (size_t k = 0; k < tu.fields.size(); ++k) {
        Value v;
        QSTOR_RETURN_IF_ERROR(Decode(c, tu.fields[k], d, &v, depth + 1, Join(path, std::to_string(k))));
        out->items.push_back(std::move(v));
      }
      return Status::OK();
    }
    case 5: {
      Primitive p = std::get<TypeDefPrimitive>(t->def).primitive;
      switch (p) {
        case Primitive::kBool:
          out->kind = Value::Kind::kBool;
          return d.Bool(&out->b, where);
        case Primitive::kChar: {
          uint32_t cp;
          QSTOR_RETURN_IF_ERROR(d.U32(&cp, where));
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return d.Error(where + ": " + std::to_string(cp) + " is not a Unicode scalar value");
          out->kind = Value::Kind::kChar;
          out->u = cp;
          return Status::OK();
        }
        case Primitive::kStr:
          out->kind = Value::Kind::kStr;
          return d.Str(&out->str, where);
        case Primitive::kU256:
        case Primitive::kI256:
          out->kind = Value::Kind::kBig;
          return d.Fixed(32, &out->str, where);
        default: {
          bool s;
          int w = IntWidth(p, &s);
          std::string raw;
          QSTOR_RETURN_IF_ERROR(d.Fixed(size_t(w), &raw, where));
          u128 v = 0;
          for (int k = 0; k < w; ++k) v |= u128(uint8_t(raw[size_t(k)])) << (8 * k);
          if (!s) {
            out->kind = Value::Kind::kUnsigned;
            out->u = v;
          } else {
            out->kind = Value::Kind::kSigned;
            if (w < 16 && (v >> (8 * w - 1)) & 1) v |= ~u128(0) << (8 * w);  // sign-extend
            out->i = i128(v);
          }
          return Status::OK();
        }
      }
    }
    case 6:
      return DecodeCompact(c, std::get<TypeDefCompact>(t->def).type, d, out, depth + 1, where);
    case 7: {
      const auto& b = std::get<TypeDefBitSequence>(t->def);
      int sb = BitStoreBytes(c.r, b.bit_store);
      if (sb == 0) return d.Error(where + ": bit store type " + c.r.Describe(b.bit_store) + " is not u8..u64");
      u128 bits;
      QSTOR_RETURN_IF_ERROR(d.Compact(&bits, "bit count of " + where));
      u128 words = (bits + u128(8 * sb - 1)) / u128(8 * sb);
      if (words * u128(sb) > d.remaining())
        return d.Error(where + ": " + U128ToString(bits) + " bits exceed the " +
                       std::to_string(d.remaining()) + " bytes left");
      out->kind = Value::Kind::kBitSequence;
      out->u = bits;
      return d.Fixed(size_t(words) * size_t(sb), &out->str, where);
    }
  }
  return d.Error(where + ": unknown type kind");
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------
struct EncodeCtx {
  const Registry& r;
};

Status Enc(EncodeCtx& c, TypeId id, const Value& v, Encoder& e, int depth, const std::string& path);

Status Mismatch(const std::string& where, const char* expected, const Value& v) {
  std::string text = v.ToString();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return Status::InvalidArgument("encode " + where + ": expected " + expected + ", got " + text);
}

Status EncFields(EncodeCtx& c, const std::vector<Field>& fs, const std::vector<NamedValue>& vals,
                 Encoder& e, int depth, const std::string& path) {
  bool by_name = !fs.empty() && fs[0].name.has_value() && !vals.empty() && !vals[0].name.empty();
  if (by_name) {
    for (const auto& f : fs) {
      const NamedValue* found = nullptr;
      for (const auto& nv : vals)
        if (nv.name == *f.name) found = &nv;
      if (found == nullptr) return Status::InvalidArgument("encode " + path + ": missing field " + *f.name);
      QSTOR_RETURN_IF_ERROR(Enc(c, f.type, found->value, e, depth + 1, Join(path, *f.name)));
    }
    for (const auto& nv : vals) {
      bool known = std::any_of(fs.begin(), fs.end(), [&](const Field& f) { return f.name == nv.name; });
      if (!known) return Status::InvalidArgument("encode " + path + ": unknown field " + nv.name);
    }
    return Status::OK();
  }
  if (fs.size() != vals.size())
    return Status::InvalidArgument("encode " + path + ": expected " + std::to_string(fs.size()) +
                                   " fields, got " + std::to_string(vals.size()));
  for (size_t k = 0; k < fs.size(); ++k)
    QSTOR_RETURN_IF_ERROR(Enc(c, fs[k].type, vals[k].value, e, depth + 1,
                              Join(path, fs[k].name.value_or(std::to_string(k)))));
  return Status::OK();
}

Status EncCompact(EncodeCtx& c, TypeId inner, const Value& v, Encoder& e, int depth, const std::string& path) {
  if (depth > kMaxDepth) return Status::InvalidArgument("encode " + path + ": nesting too deep");
  const Type* t = c.r.Find(inner);
  if (t == nullptr) return Status::InvalidArgument("encode " + path + ": unknown type id " + std::to_string(inner));
  if (const auto* p = std::get_if<TypeDefPrimitive>(&t->def)) {
    bool s;
    int w = IntWidth(p->primitive, &s);
    if (w == 0 || s) return Status::InvalidArgument("encode " + path + ": Compact of " + PrimitiveName(p->primitive));
    if (v.kind != Value::Kind::kUnsigned) return Mismatch(path, "an unsigned integer", v);
    if (w < 16 && v.u >> (8 * w) != 0)
      return Status::InvalidArgument("encode " + path + ": " + U128ToString(v.u) + " does not fit " +
                                     PrimitiveName(p->primitive));
    e.Compact(v.u);
    return Status::OK();
  }
  const Value* inner_v = &v;
  if ((v.kind == Value::Kind::kComposite && v.fields.size() == 1)) inner_v = &v.fields[0].value;
  if (v.kind == Value::Kind::kTuple && v.items.size() == 1) inner_v = &v.items[0];
  if (const auto* comp = std::get_if<TypeDefComposite>(&t->def); comp && comp->fields.size() == 1)
    return EncCompact(c, comp->fields[0].type, *inner_v, e, depth + 1, path);
  if (const auto* tu = std::get_if<TypeDefTuple>(&t->def); tu && tu->fields.size() == 1)
    return EncCompact(c, tu->fields[0], *inner_v, e, depth + 1, path);
  return Status::InvalidArgument("encode " + path + ": Compact of " + c.r.Describe(inner) + " is not supported");
}

Status Enc(EncodeCtx& c, TypeId id, const Value& v, Encoder& e, int depth, const std::string& path) {
  if (depth > kMaxDepth) return Status::InvalidArgument("encode " + path + ": nesting deeper than " +
                                                        std::to_string(kMaxDepth));
  const Type* t = c.r.Find(id);
  if (t == nullptr) return Status::InvalidArgument("encode " + path + ": unknown type id " + std::to_string(id));
  if (v.kind == Value::Kind::kRaw) {
    e.Raw(v.str);
    return Status::OK();
  }
  const std::string where = path.empty() ? c.r.Describe(id) : path;
  switch (t->def.index()) {
    case 0: {
      const auto& comp = std::get<TypeDefComposite>(t->def);
      if (v.kind == Value::Kind::kComposite) return EncFields(c, comp.fields, v.fields, e, depth, where);
      // A newtype (one field) takes its inner value directly: AccountId32 from bytes.
      if (comp.fields.size() == 1) return Enc(c, comp.fields[0].type, v, e, depth + 1, where);
      if (v.kind == Value::Kind::kTuple && v.items.size() == comp.fields.size()) {
        for (size_t k = 0; k < v.items.size(); ++k)
          QSTOR_RETURN_IF_ERROR(Enc(c, comp.fields[k].type, v.items[k], e, depth + 1, Join(where, std::to_string(k))));
        return Status::OK();
      }
      return Mismatch(where, "a struct", v);
    }
    case 1: {
      const auto& var = std::get<TypeDefVariant>(t->def);
      if (v.kind != Value::Kind::kVariant) return Mismatch(where, "an enum variant", v);
      for (const auto& vv : var.variants) {
        if (vv.name != v.name) continue;
        e.U8(vv.index);
        return EncFields(c, vv.fields, v.fields, e, depth, Join(where, vv.name));
      }
      return Status::InvalidArgument("encode " + where + ": no variant named " + v.name);
    }
    case 2: {
      TypeId el = std::get<TypeDefSequence>(t->def).element;
      if (IsU8(c.r, el) && (v.kind == Value::Kind::kBytes || v.kind == Value::Kind::kStr)) {
        e.Bytes(v.str);
        return Status::OK();
      }
      if (v.kind != Value::Kind::kSequence) return Mismatch(where, "a sequence", v);
      e.Compact(v.items.size());
      for (size_t k = 0; k < v.items.size(); ++k)
        QSTOR_RETURN_IF_ERROR(Enc(c, el, v.items[k], e, depth + 1, where + "[" + std::to_string(k) + "]"));
      return Status::OK();
    }
    case 3: {
      const auto& a = std::get<TypeDefArray>(t->def);
      if (IsU8(c.r, a.element) && (v.kind == Value::Kind::kBytes || v.kind == Value::Kind::kStr)) {
        if (v.str.size() != a.len)
          return Status::InvalidArgument("encode " + where + ": expected " + std::to_string(a.len) +
                                         " bytes, got " + std::to_string(v.str.size()));
        e.Raw(v.str);
        return Status::OK();
      }
      if (v.kind != Value::Kind::kSequence) return Mismatch(where, "an array", v);
      if (v.items.size() != a.len)
        return Status::InvalidArgument("encode " + where + ": expected " + std::to_string(a.len) +
                                       " elements, got " + std::to_string(v.items.size()));
      for (size_t k = 0; k < v.items.size(); ++k)
        QSTOR_RETURN_IF_ERROR(Enc(c, a.element, v.items[k], e, depth + 1, where + "[" + std::to_string(k) + "]"));
      return Status::OK();
    }
    case 4: {
      const auto& tu = std::get<TypeDefTuple>(t->def);
      std::vector<const Value*> items;
      if (v.kind == Value::Kind::kTuple || v.kind == Value::Kind::kSequence) {
        for (const auto& it : v.items) items.push_back(&it);
      } else if (v.kind == Value::Kind::kComposite) {
        for (const auto& f : v.fields) items.push_back(&f.value);
      } else if (tu.fields.size() == 1) {
        items.push_back(&v);
      } else {
        return Mismatch(where, "a tuple", v);
      }
      if (items.size() != tu.fields.size())
        return Status::InvalidArgument("encode " + where + ": expected a " + std::to_string(tu.fields.size()) +
                                       "-tuple, got " + std::to_string(items.size()) + " items");
      for (size_t k = 0; k < items.size(); ++k)
        QSTOR_RETURN_IF_ERROR(Enc(c, tu.fields[k], *items[k], e, depth + 1, Join(where, std::to_string(k))));
      return Status::OK();
    }
    case 5: {
      Primitive p = std::get<TypeDefPrimitive>(t->def).primitive;
      switch (p) {
        case Primitive::kBool:
          if (v.kind != Value::Kind::kBool) return Mismatch(where, "a bool", v);
          e.Bool(v.b);
          return Status::OK();
        case Primitive::kChar:
          if (v.kind != Value::Kind::kChar || v.u > 0x10ffff || (v.u >= 0xd800 && v.u <= 0xdfff))
            return Mismatch(where, "a char", v);
          e.U32(uint32_t(v.u));
          return Status::OK();
        case Primitive::kStr:
          if (v.kind != Value::Kind::kStr || !IsValidUtf8(v.str)) return Mismatch(where, "a UTF-8 string", v);
          e.Bytes(v.str);
          return Status::OK();
        case Primitive::kU256:
        case Primitive::kI256:
          if (v.kind != Value::Kind::kBig || v.str.size() != 32) return Mismatch(where, "32 bytes (256-bit)", v);
          e.Raw(v.str);
          return Status::OK();
        default: {
          bool s;
          int w = IntWidth(p, &s);
          u128 bits;
          if (!s) {
            if (v.kind != Value::Kind::kUnsigned) return Mismatch(where, PrimitiveName(p), v);
            if (w < 16 && v.u >> (8 * w) != 0)
              return Status::InvalidArgument("encode " + where + ": " + U128ToString(v.u) + " does not fit " +
                                             PrimitiveName(p));
            bits = v.u;
          } else {
            i128 x;
            if (v.kind == Value::Kind::kSigned) x = v.i;
            else if (v.kind == Value::Kind::kUnsigned && v.u <= (~u128(0) >> 1)) x = i128(v.u);
            else return Mismatch(where, PrimitiveName(p), v);
            if (w < 16) {
              i128 lim = i128(1) << (8 * w - 1);
              if (x < -lim || x >= lim)
                return Status::InvalidArgument("encode " + where + ": " + I128ToString(x) + " does not fit " +
                                               PrimitiveName(p));
            }
            bits = u128(x);
          }
          for (int k = 0; k < w; ++k) e.U8(uint8_t(bits >> (8 * k)));
          return Status::OK();
        }
      }
    }
    case 6:
      return EncCompact(c, std::get<TypeDefCompact>(t->def).type, v, e, depth + 1, where);
    case 7: {
      const auto& b = std::get<TypeDefBitSequence>(t->def);
      int sb = BitStoreBytes(c.r, b.bit_store);
      if (sb == 0) return Status::InvalidArgument("encode " + where + ": bit store is not u8..u64");
      if (v.kind != Value::Kind::kBitSequence) return Mismatch(where, "a bit sequence", v);
      u128 words = (v.u + u128(8 * sb - 1)) / u128(8 * sb);
      if (words * u128(sb) != v.str.size())
        return Status::InvalidArgument("encode " + where + ": " + U128ToString(v.u) + " bits need " +
                                       U128ToString(words * u128(sb)) + " bytes, got " + std::to_string(v.str.size()));
      e.Compact(v.u);
      e.Raw(v.str);
      return Status::OK();
    }
  }
  return Status::InvalidArgument("encode " + where + ": unknown type kind");
}

}  // namespace

Status DecodeValue(const Registry& r, TypeId type, Decoder& d, Value* out) {
  DecodeCtx c{r, int64_t(d.remaining()) * 8 + 4096, MinSizer(r)};
  *out = Value();
  return Decode(c, type, d, out, 0, "");
}

Result<Value> DecodeValueBytes(const Registry& r, TypeId type, std::string_view bytes) {
  Decoder d(bytes);
  Value v;
  QSTOR_RETURN_IF_ERROR(DecodeValue(r, type, d, &v));
  QSTOR_RETURN_IF_ERROR(d.ExpectEnd("a value of " + r.Describe(type)));
  return v;
}

Status EncodeValue(const Registry& r, TypeId type, const Value& v, Encoder& e) {
  EncodeCtx c{r};
  Encoder scratch;  // nothing is appended to `e` when encoding fails half-way
  QSTOR_RETURN_IF_ERROR(Enc(c, type, v, scratch, 0, ""));
  e.Raw(scratch.bytes());
  return Status::OK();
}

Result<std::string> EncodeValueBytes(const Registry& r, TypeId type, const Value& v) {
  Encoder e;
  QSTOR_RETURN_IF_ERROR(EncodeValue(r, type, v, e));
  return e.Take();
}

namespace {
// Orders `args` as the call's fields; refuses missing and unknown names.
Result<std::vector<NamedValue>> OrderArgs(const CallInfo& ci, std::vector<NamedValue> args) {
  const std::string what = ci.pallet->name + "." + ci.call->name;
  std::vector<NamedValue> ordered;
  for (const auto& f : ci.call->fields) {
    std::string fname = f.name.value_or("");
    auto it = std::find_if(args.begin(), args.end(), [&](const NamedValue& a) { return a.name == fname; });
    if (it == args.end()) return Status::InvalidArgument("call " + what + ": missing argument " + fname);
    ordered.push_back(std::move(*it));
    args.erase(it);
  }
  if (!args.empty()) return Status::InvalidArgument("call " + what + ": unknown argument " + args[0].name);
  return ordered;
}
}  // namespace

Result<Value> CallValue(const Metadata& m, std::string_view pallet, std::string_view call,
                        std::vector<NamedValue> args) {
  auto ci = m.FindCall(pallet, call);
  if (!ci.ok()) return ci.status();
  auto ordered = OrderArgs(*ci, std::move(args));
  if (!ordered.ok()) return ordered.status();
  Value v = Value::Enum(std::string(pallet), {NamedValue{"", Value::Enum(std::string(call), std::move(*ordered))}});
  // Check it against the RuntimeCall type now, so errors name this call.
  auto rc = m.RuntimeCallType();
  if (!rc.ok()) return rc.status();
  Encoder scratch;
  QSTOR_RETURN_IF_ERROR(EncodeValue(m.registry, *rc, v, scratch));
  return v;
}

Result<std::string> EncodeCall(const Metadata& m, std::string_view pallet, std::string_view call,
                               std::vector<NamedValue> args) {
  auto ci = m.FindCall(pallet, call);
  if (!ci.ok()) return ci.status();
  auto ordered = OrderArgs(*ci, std::move(args));
  if (!ordered.ok()) return ordered.status();
  Encoder e;
  e.U8(ci->pallet_index);
  e.U8(ci->call_index);
  for (size_t k = 0; k < ci->call->fields.size(); ++k) {
    const Field& f = ci->call->fields[k];
    Status s = EncodeValue(m.registry, f.type, (*ordered)[k].value, e);
    if (!s.ok()) return s.WithContext("call " + ci->pallet->name + "." + ci->call->name + " argument " +
                                      f.name.value_or(std::to_string(k)));
  }
  return e.Take();
}

Result<u128> AsUnsigned(const Value& v, std::string_view what) {
  const Value* x = &v;
  // Newtypes and Compact wrappers: one-field structs.
  while (x->kind == Value::Kind::kComposite && x->fields.size() == 1) x = &x->fields[0].value;
  if (x->kind != Value::Kind::kUnsigned)
    return Status::Corruption(std::string(what) + ": expected an unsigned integer, got " + v.ToString());
  return x->u;
}

Result<std::string> AsBytes(const Value& v, std::string_view what) {
  const Value* x = &v;
  while (x->kind == Value::Kind::kComposite && x->fields.size() == 1) x = &x->fields[0].value;
  if (x->kind != Value::Kind::kBytes && x->kind != Value::Kind::kStr)
    return Status::Corruption(std::string(what) + ": expected bytes, got " + v.ToString());
  return x->str;
}

Result<std::optional<Value>> AsOption(const Value& v, std::string_view what) {
  if (v.kind == Value::Kind::kVariant && v.name == "None" && v.fields.empty())
    return std::optional<Value>();
  if (v.kind == Value::Kind::kVariant && v.name == "Some" && v.fields.size() == 1)
    return std::optional<Value>(v.fields[0].value);
  return Status::Corruption(std::string(what) + ": expected an Option, got " + v.ToString());
}

Result<const Value*> FieldOf(const Value& v, std::string_view field, std::string_view what) {
  if (v.kind != Value::Kind::kComposite && v.kind != Value::Kind::kVariant)
    return Status::Corruption(std::string(what) + ": expected a struct with field " + std::string(field) +
                              ", got " + v.ToString().substr(0, 80));
  const Value* f = v.Get(field);
  if (f == nullptr) return Status::Corruption(std::string(what) + ": no field " + std::string(field));
  return f;
}

}  // namespace qstor::tfchain
