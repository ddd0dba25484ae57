#include "grid/tfchain/storage.h"

#include <sodium.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>

namespace qstor::tfchain {

std::string Twox64(std::string_view data, uint64_t seed) {
  uint64_t h = XXH64(data.data(), data.size(), seed);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(uint8_t(h >> (8 * i)));
  return out;
}

std::string Twox128(std::string_view data) { return Twox64(data, 0) + Twox64(data, 1); }

std::string Twox256(std::string_view data) {
  return Twox64(data, 0) + Twox64(data, 1) + Twox64(data, 2) + Twox64(data, 3);
}

namespace {
std::string Blake2(std::string_view data, size_t n) {
  if (sodium_init() < 0) std::abort();  // no entropy source: nothing below is safe
  std::string out(n, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), n,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return out;
}
}  // namespace

std::string Blake2_128(std::string_view data) { return Blake2(data, 16); }
std::string Blake2_256(std::string_view data) { return Blake2(data, 32); }

std::string HashKey(StorageHasher h, std::string_view k) {
  switch (h) {
    case StorageHasher::kBlake2_128: return Blake2_128(k);
    case StorageHasher::kBlake2_256: return Blake2_256(k);
    case StorageHasher::kBlake2_128Concat: return Blake2_128(k) + std::string(k);
    case StorageHasher::kTwox128: return Twox128(k);
    case StorageHasher::kTwox256: return Twox256(k);
    case StorageHasher::kTwox64Concat: return Twox64(k, 0) + std::string(k);
    case StorageHasher::kIdentity: return std::string(k);
  }
  return std::string(k);
}

std::string StoragePrefix(std::string_view pallet_prefix, std::string_view entry) {
  return Twox128(pallet_prefix) + Twox128(entry);
}

Result<std::string> StorageKeyEncoded(const Metadata& m, std::string_view pallet,
                                      std::string_view entry,
                                      const std::vector<std::string>& encoded_keys) {
  auto st = m.FindStorage(pallet, entry);
  if (!st.ok()) return st.status();
  const StorageEntry& e = *st->entry;
  size_t want = e.is_map ? e.hashers.size() : 0;
  if (encoded_keys.size() != want)
    return Status::InvalidArgument("storage " + std::string(pallet) + "." + std::string(entry) + ": needs " +
                                   std::to_string(want) + " key parts, got " +
                                   std::to_string(encoded_keys.size()));
  std::string key = StoragePrefix(st->prefix, e.name);
  for (size_t k = 0; k < want; ++k) key += HashKey(e.hashers[k], encoded_keys[k]);
  return key;
}

Result<std::string> StorageKey(const Metadata& m, std::string_view pallet, std::string_view entry,
                               const std::vector<Value>& keys) {
  auto st = m.FindStorage(pallet, entry);
  if (!st.ok()) return st.status();
  const StorageEntry& e = *st->entry;
  const std::string what = "storage " + std::string(pallet) + "." + std::string(entry);
  std::vector<std::string> parts;
  if (e.is_map) {
    std::vector<TypeId> key_types;
    if (e.hashers.size() == 1) {
      key_types.push_back(e.key);
    } else {
      const Type* t = m.registry.Find(e.key);
      const auto* tu = t ? std::get_if<TypeDefTuple>(&t->def) : nullptr;
      if (tu == nullptr || tu->fields.size() != e.hashers.size())
        return Status::Corruption(what + ": " + std::to_string(e.hashers.size()) +
                                  " hashers but the key type is not a tuple of that size");
      key_types = tu->fields;
    }
    if (keys.size() != key_types.size())
      return Status::InvalidArgument(what + ": needs " + std::to_string(key_types.size()) +
                                     " key parts, got " + std::to_string(keys.size()));
    for (size_t k = 0; k < keys.size(); ++k) {
      auto enc = EncodeValueBytes(m.registry, key_types[k], keys[k]);
      if (!enc.ok()) return enc.status().WithContext(what + " key " + std::to_string(k));
      parts.push_back(std::move(*enc));
    }
  }
  return StorageKeyEncoded(m, pallet, entry, parts);
}

Result<std::optional<Value>> DecodeStorageValue(const Metadata& m, std::string_view pallet,
                                                std::string_view entry,
                                                const std::optional<std::string>& bytes) {
  auto st = m.FindStorage(pallet, entry);
  if (!st.ok()) return st.status();
  const StorageEntry& e = *st->entry;
  const std::string what = "storage " + std::string(pallet) + "." + std::string(entry);
  const std::string* src = nullptr;
  if (bytes) {
    src = &*bytes;
  } else if (e.modifier == StorageModifier::kDefault) {
    src = &e.default_value;
  } else {
    return std::optional<Value>();
  }
  auto v = DecodeValueBytes(m.registry, e.value, *src);
  if (!v.ok()) return v.status().WithContext(what);
  return std::optional<Value>(std::move(*v));
}

// ---------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------
namespace {

#define ASSIGN(lhs, expr)                          \
  do {                                             \
    auto _r = (expr);                              \
    if (!_r.ok()) return _r.status();              \
    lhs = std::move(*_r);                          \
  } while (0)

Result<u128> UField(const Value& v, std::string_view field, const std::string& what) {
  auto f = FieldOf(v, field, what);
  if (!f.ok()) return f.status();
  return AsUnsigned(**f, what + "." + std::string(field));
}

template <typename T>
Status Narrow(u128 x, T* out, const std::string& what) {
  if (x > u128(T(~T(0)))) return Status::Corruption(what + ": " + U128ToString(x) + " out of range");
  *out = T(x);
  return Status::OK();
}

#define UFIELD(obj, val, name, what)                            \
  do {                                                          \
    auto _r = UField(val, name, what);                          \
    if (!_r.ok()) return _r.status();                           \
    QSTOR_RETURN_IF_ERROR(Narrow(*_r, &(obj), what + "." name)); \
  } while (0)

// Unwraps one-field structs (BoundedVec, newtypes) down to the inner value.
const Value& Unwrap(const Value& v) {
  const Value* x = &v;
  while (x->kind == Value::Kind::kComposite && x->fields.size() == 1) x = &x->fields[0].value;
  return *x;
}

// A variant's body: the struct inside a tuple variant `V(Struct)`, or the variant itself.
const Value& VariantBody(const Value& v) {
  if (v.fields.size() == 1 && v.fields[0].name.empty() &&
      v.fields[0].value.kind == Value::Kind::kComposite)
    return v.fields[0].value;
  return v;
}

Result<std::optional<std::string>> OptBytes(const Value& v, const std::string& what) {
  auto o = AsOption(v, what);
  if (!o.ok()) return o.status();
  if (!o->has_value()) return std::optional<std::string>();
  auto b = AsBytes(**o, what);
  if (!b.ok()) return b.status();
  return std::optional<std::string>(*b);
}

Result<const Value*> Seq(const Value& v, std::string_view field, const std::string& what) {
  auto f = FieldOf(v, field, what);
  if (!f.ok()) return f.status();
  const Value& s = Unwrap(**f);
  if (s.kind != Value::Kind::kSequence && !(s.kind == Value::Kind::kBytes && s.str.empty()))
    return Status::Corruption(what + "." + std::string(field) + ": expected a sequence");
  return &s;
}

Result<Value> Load(const Metadata& m, std::string_view pallet, std::string_view entry,
                   const std::optional<std::string>& bytes, bool* present) {
  auto v = DecodeStorageValue(m, pallet, entry, bytes);
  if (!v.ok()) return v.status();
  *present = v->has_value();
  return v->has_value() ? std::move(**v) : Value();
}

}  // namespace

Result<AccountInfo> DecodeAccountInfo(const Metadata& m, const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "System", "Account", bytes, &present));
  const std::string w = "System.Account";
  AccountInfo a;
  UFIELD(a.nonce, v, "nonce", w);
  UFIELD(a.consumers, v, "consumers", w);
  UFIELD(a.providers, v, "providers", w);
  UFIELD(a.sufficients, v, "sufficients", w);
  const Value* data;
  ASSIGN(data, FieldOf(v, "data", w));
  const std::string wd = w + ".data";
  ASSIGN(a.free, UField(*data, "free", wd));
  ASSIGN(a.reserved, UField(*data, "reserved", wd));
  // Older runtimes: misc_frozen / fee_frozen instead of frozen / flags.
  if (data->Get("frozen") != nullptr) {
    ASSIGN(a.frozen, UField(*data, "frozen", wd));
    ASSIGN(a.flags, UField(*data, "flags", wd));
  } else {
    ASSIGN(a.frozen, UField(*data, "misc_frozen", wd));
    ASSIGN(a.flags, UField(*data, "fee_frozen", wd));
  }
  return a;
}

Result<std::optional<uint32_t>> DecodeTwinIdByAccountId(const Metadata& m,
                                                        const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "TfgridModule", "TwinIdByAccountID", bytes, &present));
  if (!present) return std::optional<uint32_t>();
  u128 x;
  ASSIGN(x, AsUnsigned(v, "TfgridModule.TwinIdByAccountID"));
  uint32_t id;
  QSTOR_RETURN_IF_ERROR(Narrow(x, &id, "TfgridModule.TwinIdByAccountID"));
  return std::optional<uint32_t>(id);
}

Result<Twin> TwinFromValue(const Value& v) {
  const std::string w = "Twin";
  Twin t;
  UFIELD(t.id, v, "id", w);
  const Value* acc;
  ASSIGN(acc, FieldOf(v, "account_id", w));
  std::string ab;
  ASSIGN(ab, AsBytes(*acc, w + ".account_id"));
  if (ab.size() != 32) return Status::Corruption(w + ".account_id: expected 32 bytes");
  std::memcpy(t.account_id.data(), ab.data(), 32);
  const Value* f;
  ASSIGN(f, FieldOf(v, "relay", w));
  ASSIGN(t.relay, OptBytes(*f, w + ".relay"));
  ASSIGN(f, FieldOf(v, "pk", w));
  ASSIGN(t.pk, OptBytes(*f, w + ".pk"));
  const Value* ents;
  ASSIGN(ents, Seq(v, "entities", w));
  for (const auto& e : ents->items) {
    TwinEntity te;
    UFIELD(te.entity_id, e, "entity_id", w + ".entities");
    ASSIGN(f, FieldOf(e, "signature", w + ".entities"));
    ASSIGN(te.signature, AsBytes(*f, w + ".entities.signature"));
    t.entities.push_back(std::move(te));
  }
  return t;
}

Result<std::optional<Twin>> DecodeTwin(const Metadata& m, const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "TfgridModule", "Twins", bytes, &present));
  if (!present) return std::optional<Twin>();
  Twin t;
  ASSIGN(t, TwinFromValue(v));
  return std::optional<Twin>(std::move(t));
}

Result<Contract> ContractFromValue(const Value& v) {
  const std::string w = "Contract";
  Contract c;
  UFIELD(c.version, v, "version", w);
  UFIELD(c.contract_id, v, "contract_id", w);
  UFIELD(c.twin_id, v, "twin_id", w);
  const Value* st;
  ASSIGN(st, FieldOf(v, "state", w));
  if (st->kind != Value::Kind::kVariant) return Status::Corruption(w + ".state: expected an enum");
  c.state = st->name;
  if (c.state == "Deleted" && st->fields.size() == 1) {
    const Value& cause = Unwrap(st->fields[0].value);
    if (cause.kind != Value::Kind::kVariant) return Status::Corruption(w + ".state.Deleted: expected a cause");
    c.deleted_cause = cause.name;
  } else if (c.state == "GracePeriod" && st->fields.size() == 1) {
    u128 b;
    ASSIGN(b, AsUnsigned(st->fields[0].value, w + ".state.GracePeriod"));
    QSTOR_RETURN_IF_ERROR(Narrow(b, &c.grace_period_block, w + ".state.GracePeriod"));
  }
  const Value* ct;
  ASSIGN(ct, FieldOf(v, "contract_type", w));
  if (ct->kind != Value::Kind::kVariant) return Status::Corruption(w + ".contract_type: expected an enum");
  c.type = ct->name;
  const Value& body = VariantBody(*ct);
  const std::string wb = w + ".contract_type." + c.type;
  const Value* f;
  if (c.type == "NodeContract") {
    UFIELD(c.node_id, body, "node_id", wb);
    ASSIGN(f, FieldOf(body, "deployment_hash", wb));
    ASSIGN(c.deployment_hash, AsBytes(*f, wb + ".deployment_hash"));
    ASSIGN(f, FieldOf(body, "deployment_data", wb));
    ASSIGN(c.deployment_data, AsBytes(*f, wb + ".deployment_data"));
    UFIELD(c.public_ips, body, "public_ips", wb);
    const Value* ips;
    ASSIGN(ips, Seq(body, "public_ips_list", wb));
    for (const auto& ip : ips->items) {
      PublicIpInfo p;
      ASSIGN(f, FieldOf(ip, "ip", wb + ".public_ips_list"));
      ASSIGN(p.ip, AsBytes(*f, wb + ".public_ips_list.ip"));
      ASSIGN(f, FieldOf(ip, "gateway", wb + ".public_ips_list"));
      ASSIGN(p.gateway, AsBytes(*f, wb + ".public_ips_list.gateway"));
      UFIELD(p.contract_id, ip, "contract_id", wb + ".public_ips_list");
      c.public_ips_list.push_back(std::move(p));
    }
  } else if (c.type == "NameContract") {
    ASSIGN(f, FieldOf(body, "name", wb));
    ASSIGN(c.name, AsBytes(*f, wb + ".name"));
  } else if (c.type == "RentContract") {
    UFIELD(c.node_id, body, "node_id", wb);
  }
  ASSIGN(f, FieldOf(v, "solution_provider_id", w));
  std::optional<Value> sp;
  ASSIGN(sp, AsOption(*f, w + ".solution_provider_id"));
  if (sp) {
    u128 x;
    ASSIGN(x, AsUnsigned(*sp, w + ".solution_provider_id"));
    uint64_t id;
    QSTOR_RETURN_IF_ERROR(Narrow(x, &id, w + ".solution_provider_id"));
    c.solution_provider_id = id;
  }
  return c;
}

Result<std::optional<Contract>> DecodeContract(const Metadata& m, const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "SmartContractModule", "Contracts", bytes, &present));
  if (!present) return std::optional<Contract>();
  Contract c;
  ASSIGN(c, ContractFromValue(v));
  return std::optional<Contract>(std::move(c));
}

Result<uint64_t> DecodeContractIdByNodeIdAndHash(const Metadata& m, const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "SmartContractModule", "ContractIDByNodeIDAndHash", bytes, &present));
  if (!present) return uint64_t(0);  // an Optional entry in another runtime: absent = none
  u128 x;
  ASSIGN(x, AsUnsigned(v, "SmartContractModule.ContractIDByNodeIDAndHash"));
  uint64_t id;
  QSTOR_RETURN_IF_ERROR(Narrow(x, &id, "SmartContractModule.ContractIDByNodeIDAndHash"));
  return id;
}

Result<std::vector<uint64_t>> DecodeActiveNodeContracts(const Metadata& m,
                                                        const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "SmartContractModule", "ActiveNodeContracts", bytes, &present));
  std::vector<uint64_t> out;
  if (!present) return out;
  const Value& s = Unwrap(v);
  if (s.kind != Value::Kind::kSequence) return Status::Corruption("SmartContractModule.ActiveNodeContracts: expected a sequence");
  for (const auto& it : s.items) {
    u128 x;
    ASSIGN(x, AsUnsigned(it, "SmartContractModule.ActiveNodeContracts"));
    uint64_t id;
    QSTOR_RETURN_IF_ERROR(Narrow(x, &id, "SmartContractModule.ActiveNodeContracts"));
    out.push_back(id);
  }
  return out;
}

namespace {
Result<Policy> PolicyField(const Value& v, std::string_view field, const std::string& w) {
  const std::string wf = w + "." + std::string(field);
  const Value* f;
  ASSIGN(f, FieldOf(v, field, w));
  Policy p;
  UFIELD(p.value, *f, "value", wf);
  const Value* unit;
  ASSIGN(unit, FieldOf(*f, "unit", wf));
  if (unit->kind != Value::Kind::kVariant || !unit->fields.empty())
    return Status::Corruption(wf + ".unit: expected a fieldless enum");
  p.unit = unit->name;
  return p;
}

Status AccountField(const Value& v, std::string_view field, const std::string& w, AccountId* out) {
  const Value* f;
  ASSIGN(f, FieldOf(v, field, w));
  std::string b;
  ASSIGN(b, AsBytes(*f, w + "." + std::string(field)));
  if (b.size() != 32) return Status::Corruption(w + "." + std::string(field) + ": expected 32 bytes");
  std::memcpy(out->data(), b.data(), 32);
  return Status::OK();
}
}  // namespace

Result<std::optional<PricingPolicy>> DecodePricingPolicy(const Metadata& m,
                                                         const std::optional<std::string>& bytes) {
  bool present;
  Value v;
  ASSIGN(v, Load(m, "TfgridModule", "PricingPolicies", bytes, &present));
  if (!present) return std::optional<PricingPolicy>();
  const std::string w = "TfgridModule.PricingPolicies";
  PricingPolicy p;
  UFIELD(p.version, v, "version", w);
  UFIELD(p.id, v, "id", w);
  const Value* f;
  ASSIGN(f, FieldOf(v, "name", w));
  ASSIGN(p.name, AsBytes(*f, w + ".name"));
  ASSIGN(p.su, PolicyField(v, "su", w));
  ASSIGN(p.cu, PolicyField(v, "cu", w));
  ASSIGN(p.nu, PolicyField(v, "nu", w));
  ASSIGN(p.ipu, PolicyField(v, "ipu", w));
  ASSIGN(p.unique_name, PolicyField(v, "unique_name", w));
  ASSIGN(p.domain_name, PolicyField(v, "domain_name", w));
  QSTOR_RETURN_IF_ERROR(AccountField(v, "foundation_account", w, &p.foundation_account));
  QSTOR_RETURN_IF_ERROR(AccountField(v, "certified_sales_account", w, &p.certified_sales_account));
  UFIELD(p.discount_for_dedication_nodes, v, "discount_for_dedication_nodes", w);
  return std::optional<PricingPolicy>(std::move(p));
}

Result<uint32_t> DecodeTftPrice(const Metadata& m, std::string_view entry, const std::optional<std::string>& bytes) {
  const std::string w = "TFTPriceModule." + std::string(entry);
  bool present;
  Value v;
  ASSIGN(v, Load(m, "TFTPriceModule", entry, bytes, &present));
  if (!present) return uint32_t(0);  // an Optional entry in another runtime: absent = no price
  u128 x;
  ASSIGN(x, AsUnsigned(v, w));
  uint32_t price;
  QSTOR_RETURN_IF_ERROR(Narrow(x, &price, w));
  return price;
}

#undef ASSIGN
#undef UFIELD

}  // namespace qstor::tfchain
