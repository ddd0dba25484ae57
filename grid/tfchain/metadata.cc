#include "grid/tfchain/metadata.h"

#include "grid/tfchain/scale.h"

namespace qstor::tfchain {

const char* PrimitiveName(Primitive p) {
  switch (p) {
    case Primitive::kBool: return "bool";
    case Primitive::kChar: return "char";
    case Primitive::kStr: return "str";
    case Primitive::kU8: return "u8";
    case Primitive::kU16: return "u16";
    case Primitive::kU32: return "u32";
    case Primitive::kU64: return "u64";
    case Primitive::kU128: return "u128";
    case Primitive::kU256: return "u256";
    case Primitive::kI8: return "i8";
    case Primitive::kI16: return "i16";
    case Primitive::kI32: return "i32";
    case Primitive::kI64: return "i64";
    case Primitive::kI128: return "i128";
    case Primitive::kI256: return "i256";
  }
  return "?";
}

const char* StorageHasherName(StorageHasher h) {
  switch (h) {
    case StorageHasher::kBlake2_128: return "Blake2_128";
    case StorageHasher::kBlake2_256: return "Blake2_256";
    case StorageHasher::kBlake2_128Concat: return "Blake2_128Concat";
    case StorageHasher::kTwox128: return "Twox128";
    case StorageHasher::kTwox256: return "Twox256";
    case StorageHasher::kTwox64Concat: return "Twox64Concat";
    case StorageHasher::kIdentity: return "Identity";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------
const Type* Registry::Find(TypeId id) const {
  if (id < types.size() && types[id].id == id) return &types[id].type;
  for (const auto& t : types)
    if (t.id == id) return &t.type;
  return nullptr;
}

TypeId Registry::Add(Type t) {
  TypeId id = 0;
  for (const auto& pt : types) id = std::max<TypeId>(id, pt.id + 1);
  types.push_back(PortableType{id, std::move(t)});
  return id;
}

std::optional<TypeId> Registry::FindByPath(std::string_view joined) const {
  for (const auto& pt : types) {
    std::string p;
    for (const auto& s : pt.type.path) p += (p.empty() ? "" : "::") + s;
    if (!p.empty() && p == joined) return pt.id;
  }
  return std::nullopt;
}

std::string Registry::Describe(TypeId id) const {
  const Type* t = Find(id);
  if (t == nullptr) return "#" + std::to_string(id) + " (unknown type id)";
  std::string p;
  for (const auto& s : t->path) p += (p.empty() ? "" : "::") + s;
  if (!p.empty()) return p;
  struct V {
    const Registry* r;
    std::string operator()(const TypeDefComposite&) const { return "struct"; }
    std::string operator()(const TypeDefVariant&) const { return "enum"; }
    std::string operator()(const TypeDefSequence& s) const { return "Vec<#" + std::to_string(s.element) + ">"; }
    std::string operator()(const TypeDefArray& a) const {
      return "[#" + std::to_string(a.element) + "; " + std::to_string(a.len) + "]";
    }
    std::string operator()(const TypeDefTuple& t) const { return "(" + std::to_string(t.fields.size()) + "-tuple)"; }
    std::string operator()(const TypeDefPrimitive& p) const { return PrimitiveName(p.primitive); }
    std::string operator()(const TypeDefCompact& c) const { return "Compact<#" + std::to_string(c.type) + ">"; }
    std::string operator()(const TypeDefBitSequence&) const { return "BitVec"; }
  };
  return std::visit(V{this}, t->def);
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------
namespace {

#define R(expr) QSTOR_RETURN_IF_ERROR(expr)

Status ReadStrings(Decoder& d, std::vector<std::string>* out, const std::string& what) {
  uint64_t n;
  R(d.ReadLength(&n, 1, what));
  for (uint64_t i = 0; i < n; ++i) {
    std::string s;
    R(d.Str(&s, what));
    out->push_back(std::move(s));
  }
  return Status::OK();
}

Status ReadTypeId(Decoder& d, TypeId* id, const std::string& what) {
  return d.CompactU32(id, "type id of " + what);
}

Status ReadOptStr(Decoder& d, std::optional<std::string>* out, const std::string& what) {
  bool some;
  R(d.OptionTag(&some, what));
  if (some) {
    std::string s;
    R(d.Str(&s, what));
    *out = std::move(s);
  }
  return Status::OK();
}

Status ReadOptTypeId(Decoder& d, std::optional<TypeId>* out, const std::string& what) {
  bool some;
  R(d.OptionTag(&some, what));
  if (some) {
    TypeId id;
    R(ReadTypeId(d, &id, what));
    *out = id;
  }
  return Status::OK();
}

Status ReadFields(Decoder& d, std::vector<Field>* out, const std::string& what) {
  uint64_t n;
  R(d.ReadLength(&n, 3, "fields of " + what));
  for (uint64_t i = 0; i < n; ++i) {
    Field f;
    R(ReadOptStr(d, &f.name, "field name in " + what));
    R(ReadTypeId(d, &f.type, "field in " + what));
    R(ReadOptStr(d, &f.type_name, "field type name in " + what));
    R(ReadStrings(d, &f.docs, "field docs in " + what));
    out->push_back(std::move(f));
  }
  return Status::OK();
}

Status ReadType(Decoder& d, PortableType* pt) {
  R(d.CompactU32(&pt->id, "type id"));
  const std::string what = "type #" + std::to_string(pt->id);
  Type& t = pt->type;
  R(ReadStrings(d, &t.path, "path of " + what));
  uint64_t np;
  R(d.ReadLength(&np, 2, "params of " + what));
  for (uint64_t i = 0; i < np; ++i) {
    TypeParam p;
    R(d.Str(&p.name, "param name of " + what));
    R(ReadOptTypeId(d, &p.type, "param of " + what));
    t.params.push_back(std::move(p));
  }
  uint8_t kind;
  R(d.U8(&kind, "TypeDef kind of " + what));
  switch (kind) {
    case 0: {
      TypeDefComposite c;
      R(ReadFields(d, &c.fields, what));
      t.def = std::move(c);
      break;
    }
    case 1: {
      TypeDefVariant v;
      uint64_t n;
      R(d.ReadLength(&n, 4, "variants of " + what));
      for (uint64_t i = 0; i < n; ++i) {
        Variant var;
        R(d.Str(&var.name, "variant name in " + what));
        R(ReadFields(d, &var.fields, what + " variant " + var.name));
        R(d.U8(&var.index, "variant index in " + what));
        R(ReadStrings(d, &var.docs, "variant docs in " + what));
        v.variants.push_back(std::move(var));
      }
      t.def = std::move(v);
      break;
    }
    case 2: {
      TypeDefSequence s;
      R(ReadTypeId(d, &s.element, "sequence " + what));
      t.def = s;
      break;
    }
    case 3: {
      TypeDefArray a;
      R(d.U32(&a.len, "array length of " + what));
      R(ReadTypeId(d, &a.element, "array " + what));
      t.def = a;
      break;
    }
    case 4: {
      TypeDefTuple tu;
      uint64_t n;
      R(d.ReadLength(&n, 1, "tuple " + what));
      for (uint64_t i = 0; i < n; ++i) {
        TypeId id;
        R(ReadTypeId(d, &id, "tuple " + what));
        tu.fields.push_back(id);
      }
      t.def = std::move(tu);
      break;
    }
    case 5: {
      uint8_t p;
      R(d.U8(&p, "primitive of " + what));
      if (p > uint8_t(Primitive::kI256))
        return d.Error("unknown primitive " + std::to_string(p) + " in " + what);
      t.def = TypeDefPrimitive{Primitive(p)};
      break;
    }
    case 6: {
      TypeDefCompact c;
      R(ReadTypeId(d, &c.type, "compact " + what));
      t.def = c;
      break;
    }
    case 7: {
      TypeDefBitSequence b;
      R(ReadTypeId(d, &b.bit_store, "bit store of " + what));
      R(ReadTypeId(d, &b.bit_order, "bit order of " + what));
      t.def = b;
      break;
    }
    default:
      return d.Error("unknown TypeDef kind " + std::to_string(kind) + " in " + what +
                     " (expected 0..7)");
  }
  R(ReadStrings(d, &t.docs, "docs of " + what));
  return Status::OK();
}

Status ReadPallet(Decoder& d, Pallet* p, uint8_t version) {
  R(d.Str(&p->name, "pallet name"));
  const std::string what = "pallet " + p->name;
  bool some;
  R(d.OptionTag(&some, "storage of " + what));
  if (some) {
    PalletStorage st;
    R(d.Str(&st.prefix, "storage prefix of " + what));
    uint64_t n;
    R(d.ReadLength(&n, 5, "storage entries of " + what));
    for (uint64_t i = 0; i < n; ++i) {
      StorageEntry e;
      R(d.Str(&e.name, "storage entry name in " + what));
      const std::string ew = what + " storage " + e.name;
      uint8_t m;
      R(d.U8(&m, "modifier of " + ew));
      if (m > 1) return d.Error("unknown storage modifier " + std::to_string(m) + " of " + ew);
      e.modifier = StorageModifier(m);
      uint8_t kind;
      R(d.U8(&kind, "storage entry type of " + ew));
      if (kind == 0) {
        R(ReadTypeId(d, &e.value, ew));
      } else if (kind == 1) {
        e.is_map = true;
        uint64_t nh;
        R(d.ReadLength(&nh, 1, "hashers of " + ew));
        for (uint64_t k = 0; k < nh; ++k) {
          uint8_t h;
          R(d.U8(&h, "hasher of " + ew));
          if (h > uint8_t(StorageHasher::kIdentity))
            return d.Error("unknown storage hasher " + std::to_string(h) + " of " + ew);
          e.hashers.push_back(StorageHasher(h));
        }
        R(ReadTypeId(d, &e.key, "key of " + ew));
        R(ReadTypeId(d, &e.value, "value of " + ew));
      } else {
        return d.Error("unknown storage entry type " + std::to_string(kind) + " of " + ew +
                       " (expected 0 plain or 1 map)");
      }
      R(d.Bytes(&e.default_value, "default of " + ew));
      R(ReadStrings(d, &e.docs, "docs of " + ew));
      st.entries.push_back(std::move(e));
    }
    p->storage = std::move(st);
  }
  R(ReadOptTypeId(d, &p->calls, "calls of " + what));
  R(ReadOptTypeId(d, &p->events, "events of " + what));
  uint64_t nc;
  R(d.ReadLength(&nc, 4, "constants of " + what));
  for (uint64_t i = 0; i < nc; ++i) {
    Constant c;
    R(d.Str(&c.name, "constant name in " + what));
    R(ReadTypeId(d, &c.type, what + " constant " + c.name));
    R(d.Bytes(&c.value, what + " constant " + c.name));
    R(ReadStrings(d, &c.docs, "docs of " + what + " constant " + c.name));
    p->constants.push_back(std::move(c));
  }
  R(ReadOptTypeId(d, &p->errors, "errors of " + what));
  R(d.U8(&p->index, "index of " + what));
  if (version >= 15) R(ReadStrings(d, &p->docs, "docs of " + what));
  return Status::OK();
}

Status ReadSignedExtensions(Decoder& d, std::vector<SignedExtension>* out) {
  uint64_t n;
  R(d.ReadLength(&n, 3, "signed extensions"));
  for (uint64_t i = 0; i < n; ++i) {
    SignedExtension s;
    R(d.Str(&s.identifier, "signed extension identifier"));
    R(ReadTypeId(d, &s.type, "signed extension " + s.identifier));
    R(ReadTypeId(d, &s.additional_signed, "additional signed of " + s.identifier));
    out->push_back(std::move(s));
  }
  return Status::OK();
}

}  // namespace

Result<Metadata> DecodeMetadata(std::string_view bytes) {
  Decoder d(bytes);
  std::string magic;
  if (Status s = d.Fixed(4, &magic, "metadata magic \"meta\""); !s.ok()) return s;
  if (magic != "meta")
    return Status::Corruption("metadata: magic is 0x" + ToHex(magic) +
                              ", expected 0x6d657461 (\"meta\")");
  Metadata m;
  R(d.U8(&m.version, "metadata version"));
  if (m.version != 14 && m.version != 15)
    return Status::NotImplemented("metadata: version " + std::to_string(m.version) +
                                  " is not supported (only v14 and v15)");
  uint64_t nt;
  R(d.ReadLength(&nt, 5, "types"));
  for (uint64_t i = 0; i < nt; ++i) {
    PortableType pt;
    R(ReadType(d, &pt));
    m.registry.types.push_back(std::move(pt));
  }
  uint64_t np;
  R(d.ReadLength(&np, 6, "pallets"));
  for (uint64_t i = 0; i < np; ++i) {
    Pallet p;
    R(ReadPallet(d, &p, m.version));
    m.pallets.push_back(std::move(p));
  }
  if (m.version == 14) {
    R(ReadTypeId(d, &m.extrinsic.type, "extrinsic"));
    R(d.U8(&m.extrinsic.version, "extrinsic version"));
    R(ReadSignedExtensions(d, &m.extrinsic.signed_extensions));
    R(ReadTypeId(d, &m.runtime_type, "runtime"));
  } else {
    R(d.U8(&m.extrinsic.version, "extrinsic version"));
    R(ReadTypeId(d, &m.extrinsic.address_type, "extrinsic address"));
    R(ReadTypeId(d, &m.extrinsic.call_type, "extrinsic call"));
    R(ReadTypeId(d, &m.extrinsic.signature_type, "extrinsic signature"));
    R(ReadTypeId(d, &m.extrinsic.extra_type, "extrinsic extra"));
    R(ReadSignedExtensions(d, &m.extrinsic.signed_extensions));
    R(ReadTypeId(d, &m.runtime_type, "runtime"));
    uint64_t na;
    R(d.ReadLength(&na, 3, "runtime apis"));
    for (uint64_t i = 0; i < na; ++i) {
      RuntimeApi api;
      R(d.Str(&api.name, "runtime api name"));
      uint64_t nm;
      R(d.ReadLength(&nm, 4, "methods of runtime api " + api.name));
      for (uint64_t k = 0; k < nm; ++k) {
        RuntimeApiMethod me;
        R(d.Str(&me.name, "method name of runtime api " + api.name));
        uint64_t ni;
        R(d.ReadLength(&ni, 2, "inputs of " + api.name + "." + me.name));
        for (uint64_t j = 0; j < ni; ++j) {
          RuntimeApiMethodInput in;
          R(d.Str(&in.name, "input name of " + api.name + "." + me.name));
          R(ReadTypeId(d, &in.type, "input of " + api.name + "." + me.name));
          me.inputs.push_back(std::move(in));
        }
        R(ReadTypeId(d, &me.output, "output of " + api.name + "." + me.name));
        R(ReadStrings(d, &me.docs, "docs of " + api.name + "." + me.name));
        api.methods.push_back(std::move(me));
      }
      R(ReadStrings(d, &api.docs, "docs of runtime api " + api.name));
      m.v15.apis.push_back(std::move(api));
    }
    R(ReadTypeId(d, &m.v15.call_enum, "outer call enum"));
    R(ReadTypeId(d, &m.v15.event_enum, "outer event enum"));
    R(ReadTypeId(d, &m.v15.error_enum, "outer error enum"));
    uint64_t nc;
    R(d.ReadLength(&nc, 3, "custom metadata"));
    for (uint64_t i = 0; i < nc; ++i) {
      CustomValue c;
      R(d.Str(&c.name, "custom metadata name"));
      R(ReadTypeId(d, &c.type, "custom metadata " + c.name));
      R(d.Bytes(&c.value, "custom metadata " + c.name));
      m.v15.custom.push_back(std::move(c));
    }
  }
  R(d.ExpectEnd("the metadata"));
  R(m.Validate());
  return m;
}

Result<Metadata> DecodeMetadataHex(std::string_view hex) {
  auto bytes = FromHex(hex);
  if (!bytes.ok()) return bytes.status().WithContext("metadata");
  return DecodeMetadata(*bytes);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------
namespace {

void WriteStrings(Encoder& e, const std::vector<std::string>& v) {
  e.Compact(v.size());
  for (const auto& s : v) e.Bytes(s);
}
void WriteOptStr(Encoder& e, const std::optional<std::string>& s) {
  e.OptionTag(s.has_value());
  if (s) e.Bytes(*s);
}
void WriteOptId(Encoder& e, const std::optional<TypeId>& id) {
  e.OptionTag(id.has_value());
  if (id) e.Compact(*id);
}
void WriteFields(Encoder& e, const std::vector<Field>& fields) {
  e.Compact(fields.size());
  for (const auto& f : fields) {
    WriteOptStr(e, f.name);
    e.Compact(f.type);
    WriteOptStr(e, f.type_name);
    WriteStrings(e, f.docs);
  }
}

void WriteType(Encoder& e, const PortableType& pt) {
  e.Compact(pt.id);
  const Type& t = pt.type;
  WriteStrings(e, t.path);
  e.Compact(t.params.size());
  for (const auto& p : t.params) {
    e.Bytes(p.name);
    WriteOptId(e, p.type);
  }
  e.U8(uint8_t(t.def.index()));
  struct V {
    Encoder& e;
    void operator()(const TypeDefComposite& c) const { WriteFields(e, c.fields); }
    void operator()(const TypeDefVariant& v) const {
      e.Compact(v.variants.size());
      for (const auto& var : v.variants) {
        e.Bytes(var.name);
        WriteFields(e, var.fields);
        e.U8(var.index);
        WriteStrings(e, var.docs);
      }
    }
    void operator()(const TypeDefSequence& s) const { e.Compact(s.element); }
    void operator()(const TypeDefArray& a) const {
      e.U32(a.len);
      e.Compact(a.element);
    }
    void operator()(const TypeDefTuple& t) const {
      e.Compact(t.fields.size());
      for (TypeId id : t.fields) e.Compact(id);
    }
    void operator()(const TypeDefPrimitive& p) const { e.U8(uint8_t(p.primitive)); }
    void operator()(const TypeDefCompact& c) const { e.Compact(c.type); }
    void operator()(const TypeDefBitSequence& b) const {
      e.Compact(b.bit_store);
      e.Compact(b.bit_order);
    }
  };
  std::visit(V{e}, t.def);
  WriteStrings(e, t.docs);
}

void WriteSignedExtensions(Encoder& e, const std::vector<SignedExtension>& v) {
  e.Compact(v.size());
  for (const auto& s : v) {
    e.Bytes(s.identifier);
    e.Compact(s.type);
    e.Compact(s.additional_signed);
  }
}

}  // namespace

std::string EncodeMetadata(const Metadata& m) {
  Encoder e;
  e.Raw("meta");
  e.U8(m.version);
  e.Compact(m.registry.types.size());
  for (const auto& t : m.registry.types) WriteType(e, t);
  e.Compact(m.pallets.size());
  for (const auto& p : m.pallets) {
    e.Bytes(p.name);
    e.OptionTag(p.storage.has_value());
    if (p.storage) {
      e.Bytes(p.storage->prefix);
      e.Compact(p.storage->entries.size());
      for (const auto& s : p.storage->entries) {
        e.Bytes(s.name);
        e.U8(uint8_t(s.modifier));
        if (!s.is_map) {
          e.U8(0);
          e.Compact(s.value);
        } else {
          e.U8(1);
          e.Compact(s.hashers.size());
          for (auto h : s.hashers) e.U8(uint8_t(h));
          e.Compact(s.key);
          e.Compact(s.value);
        }
        e.Bytes(s.default_value);
        WriteStrings(e, s.docs);
      }
    }
    WriteOptId(e, p.calls);
    WriteOptId(e, p.events);
    e.Compact(p.constants.size());
    for (const auto& c : p.constants) {
      e.Bytes(c.name);
      e.Compact(c.type);
      e.Bytes(c.value);
      WriteStrings(e, c.docs);
    }
    WriteOptId(e, p.errors);
    e.U8(p.index);
    if (m.version >= 15) WriteStrings(e, p.docs);
  }
  if (m.version >= 15) {
    e.U8(m.extrinsic.version);
    e.Compact(m.extrinsic.address_type);
    e.Compact(m.extrinsic.call_type);
    e.Compact(m.extrinsic.signature_type);
    e.Compact(m.extrinsic.extra_type);
    WriteSignedExtensions(e, m.extrinsic.signed_extensions);
    e.Compact(m.runtime_type);
    e.Compact(m.v15.apis.size());
    for (const auto& api : m.v15.apis) {
      e.Bytes(api.name);
      e.Compact(api.methods.size());
      for (const auto& me : api.methods) {
        e.Bytes(me.name);
        e.Compact(me.inputs.size());
        for (const auto& in : me.inputs) {
          e.Bytes(in.name);
          e.Compact(in.type);
        }
        e.Compact(me.output);
        WriteStrings(e, me.docs);
      }
      WriteStrings(e, api.docs);
    }
    e.Compact(m.v15.call_enum);
    e.Compact(m.v15.event_enum);
    e.Compact(m.v15.error_enum);
    e.Compact(m.v15.custom.size());
    for (const auto& c : m.v15.custom) {
      e.Bytes(c.name);
      e.Compact(c.type);
      e.Bytes(c.value);
    }
  } else {
    e.Compact(m.extrinsic.type);
    e.U8(m.extrinsic.version);
    WriteSignedExtensions(e, m.extrinsic.signed_extensions);
    e.Compact(m.runtime_type);
  }
  return e.Take();
}

// ---------------------------------------------------------------------------
// Look-ups
// ---------------------------------------------------------------------------
namespace {

const Variant* FindVariantByName(const Registry& r, TypeId id, std::string_view name) {
  const Type* t = r.Find(id);
  if (t == nullptr) return nullptr;
  const auto* v = std::get_if<TypeDefVariant>(&t->def);
  if (v == nullptr) return nullptr;
  for (const auto& var : v->variants)
    if (var.name == name) return &var;
  return nullptr;
}

const Variant* FindVariantByIndex(const Registry& r, TypeId id, uint8_t index) {
  const Type* t = r.Find(id);
  if (t == nullptr) return nullptr;
  const auto* v = std::get_if<TypeDefVariant>(&t->def);
  if (v == nullptr) return nullptr;
  for (const auto& var : v->variants)
    if (var.index == index) return &var;
  return nullptr;
}

}  // namespace

const Pallet* Metadata::FindPallet(std::string_view name) const {
  for (const auto& p : pallets)
    if (p.name == name) return &p;
  return nullptr;
}

const Pallet* Metadata::FindPalletByIndex(uint8_t index) const {
  for (const auto& p : pallets)
    if (p.index == index) return &p;
  return nullptr;
}

Result<CallInfo> Metadata::FindCall(std::string_view pallet, std::string_view call) const {
  const Pallet* p = FindPallet(pallet);
  if (p == nullptr) return Status::NotFound("metadata: no pallet " + std::string(pallet));
  if (!p->calls) return Status::NotFound("metadata: pallet " + p->name + " has no calls");
  const Variant* v = FindVariantByName(registry, *p->calls, call);
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no call " + std::string(call));
  return CallInfo{p, v, p->index, v->index};
}

Result<CallInfo> Metadata::FindCallByIndex(uint8_t pallet_index, uint8_t call_index) const {
  const Pallet* p = FindPalletByIndex(pallet_index);
  if (p == nullptr) return Status::NotFound("metadata: no pallet with index " + std::to_string(pallet_index));
  if (!p->calls) return Status::NotFound("metadata: pallet " + p->name + " has no calls");
  const Variant* v = FindVariantByIndex(registry, *p->calls, call_index);
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no call with index " +
                            std::to_string(call_index));
  return CallInfo{p, v, p->index, v->index};
}

Result<EventInfo> Metadata::FindEvent(std::string_view pallet, std::string_view event) const {
  const Pallet* p = FindPallet(pallet);
  if (p == nullptr) return Status::NotFound("metadata: no pallet " + std::string(pallet));
  if (!p->events) return Status::NotFound("metadata: pallet " + p->name + " has no events");
  const Variant* v = FindVariantByName(registry, *p->events, event);
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no event " + std::string(event));
  return EventInfo{p, v, p->index, v->index};
}

Result<EventInfo> Metadata::FindEventByIndex(uint8_t pallet_index, uint8_t event_index) const {
  const Pallet* p = FindPalletByIndex(pallet_index);
  if (p == nullptr) return Status::NotFound("metadata: no pallet with index " + std::to_string(pallet_index));
  if (!p->events) return Status::NotFound("metadata: pallet " + p->name + " has no events");
  const Variant* v = FindVariantByIndex(registry, *p->events, event_index);
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no event with index " +
                            std::to_string(event_index));
  return EventInfo{p, v, p->index, v->index};
}

Result<std::string> Metadata::ErrorName(uint8_t pallet_index, uint8_t error_index) const {
  const Pallet* p = FindPalletByIndex(pallet_index);
  if (p == nullptr)
    return Status::NotFound("metadata: module error " + std::to_string(error_index) +
                            " of unknown pallet index " + std::to_string(pallet_index));
  const Variant* v = p->errors ? FindVariantByIndex(registry, *p->errors, error_index) : nullptr;
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no error with index " +
                            std::to_string(error_index));
  return p->name + "." + v->name;
}

Result<const Variant*> Metadata::FindError(std::string_view pallet, std::string_view error) const {
  const Pallet* p = FindPallet(pallet);
  if (p == nullptr) return Status::NotFound("metadata: no pallet " + std::string(pallet));
  const Variant* v = p->errors ? FindVariantByName(registry, *p->errors, error) : nullptr;
  if (v == nullptr)
    return Status::NotFound("metadata: pallet " + p->name + " has no error " + std::string(error));
  return v;
}

Result<StorageInfo> Metadata::FindStorage(std::string_view pallet, std::string_view entry) const {
  const Pallet* p = FindPallet(pallet);
  if (p == nullptr) return Status::NotFound("metadata: no pallet " + std::string(pallet));
  if (!p->storage) return Status::NotFound("metadata: pallet " + p->name + " has no storage");
  for (const auto& e : p->storage->entries)
    if (e.name == entry) return StorageInfo{p, &e, p->storage->prefix};
  return Status::NotFound("metadata: pallet " + p->name + " has no storage entry " + std::string(entry));
}

Result<const Constant*> Metadata::FindConstant(std::string_view pallet, std::string_view name) const {
  const Pallet* p = FindPallet(pallet);
  if (p == nullptr) return Status::NotFound("metadata: no pallet " + std::string(pallet));
  for (const auto& c : p->constants)
    if (c.name == name) return &c;
  return Status::NotFound("metadata: pallet " + p->name + " has no constant " + std::string(name));
}

namespace {
std::optional<TypeId> FindBySuffix(const Registry& r, std::string_view last) {
  for (const auto& pt : r.types)
    if (!pt.type.path.empty() && pt.type.path.back() == last &&
        std::holds_alternative<TypeDefVariant>(pt.type.def))
      return pt.id;
  return std::nullopt;
}
}  // namespace

Result<TypeId> Metadata::RuntimeCallType() const {
  if (version >= 15) return v15.call_enum;
  if (const Type* t = registry.Find(extrinsic.type)) {
    for (const auto& p : t->params)
      if (p.name == "Call" && p.type) return *p.type;
  }
  if (auto id = FindBySuffix(registry, "RuntimeCall")) return *id;
  if (auto id = FindBySuffix(registry, "Call"); id && registry.Find(*id)->path.size() == 2) return *id;
  return Status::NotFound("metadata: no RuntimeCall type (no \"Call\" parameter on the extrinsic type)");
}

Result<TypeId> Metadata::RuntimeEventType() const {
  if (version >= 15) return v15.event_enum;
  if (auto id = FindBySuffix(registry, "RuntimeEvent")) return *id;
  // Older runtimes name it "<runtime>::Event"; System.Events tells us too.
  if (auto st = FindStorage("System", "Events"); st.ok()) {
    // Vec<EventRecord<RuntimeEvent, Hash>>: the record's "E" parameter.
    const Type* vec = registry.Find(st->entry->value);
    if (vec != nullptr)
      if (const auto* s = std::get_if<TypeDefSequence>(&vec->def))
        if (const Type* rec = registry.Find(s->element))
          for (const auto& p : rec->params)
            if (p.name == "E" && p.type) return *p.type;
  }
  return Status::NotFound("metadata: no RuntimeEvent type");
}

Status Metadata::Validate() const {
  auto need = [&](TypeId id, const std::string& what) -> Status {
    if (registry.Find(id) == nullptr)
      return Status::Corruption("metadata: " + what + " refers to unknown type id " + std::to_string(id));
    return Status::OK();
  };
  for (const auto& pt : registry.types) {
    const std::string w = "type #" + std::to_string(pt.id);
    for (const auto& p : pt.type.params)
      if (p.type) R(need(*p.type, w + " param " + p.name));
    const TypeDef& d = pt.type.def;
    if (const auto* c = std::get_if<TypeDefComposite>(&d)) {
      for (const auto& f : c->fields) R(need(f.type, w + " field"));
    } else if (const auto* v = std::get_if<TypeDefVariant>(&d)) {
      for (const auto& var : v->variants)
        for (const auto& f : var.fields) R(need(f.type, w + " variant " + var.name));
    } else if (const auto* s = std::get_if<TypeDefSequence>(&d)) {
      R(need(s->element, w));
    } else if (const auto* a = std::get_if<TypeDefArray>(&d)) {
      R(need(a->element, w));
    } else if (const auto* t = std::get_if<TypeDefTuple>(&d)) {
      for (TypeId id : t->fields) R(need(id, w));
    } else if (const auto* cp = std::get_if<TypeDefCompact>(&d)) {
      R(need(cp->type, w));
    } else if (const auto* b = std::get_if<TypeDefBitSequence>(&d)) {
      R(need(b->bit_store, w));
      R(need(b->bit_order, w));
    }
  }
  for (const auto& p : pallets) {
    const std::string w = "pallet " + p.name;
    if (p.calls) R(need(*p.calls, w + " calls"));
    if (p.events) R(need(*p.events, w + " events"));
    if (p.errors) R(need(*p.errors, w + " errors"));
    for (const auto& c : p.constants) R(need(c.type, w + " constant " + c.name));
    if (p.storage)
      for (const auto& e : p.storage->entries) {
        if (e.is_map) R(need(e.key, w + " storage " + e.name + " key"));
        R(need(e.value, w + " storage " + e.name));
      }
  }
  for (const auto& s : extrinsic.signed_extensions) {
    R(need(s.type, "signed extension " + s.identifier));
    R(need(s.additional_signed, "signed extension " + s.identifier));
  }
  R(need(runtime_type, "runtime type"));
  if (version >= 15) {
    R(need(v15.call_enum, "outer call enum"));
    R(need(v15.event_enum, "outer event enum"));
    R(need(v15.error_enum, "outer error enum"));
  } else {
    R(need(extrinsic.type, "extrinsic"));
  }
  return Status::OK();
}

#undef R

}  // namespace qstor::tfchain
