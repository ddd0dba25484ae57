#include "grid/tfchain/extrinsic.h"

#include <sodium.h>

#include <cstring>

#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {

// ---------------------------------------------------------------------------
// Era
// ---------------------------------------------------------------------------
Era Era::Mortal(uint64_t current_block, uint64_t period) {
  uint64_t p = 4;
  while (p < period && p < (uint64_t(1) << 16)) p <<= 1;
  uint64_t phase = current_block % p;
  uint64_t q = std::max<uint64_t>(p >> 12, 1);
  return Era{false, p, phase / q * q};
}

std::string Era::Encode() const {
  if (immortal) return std::string(1, '\0');
  int tz = 0;
  while (tz < 63 && ((period >> tz) & 1) == 0) ++tz;
  uint64_t q = std::max<uint64_t>(period >> 12, 1);
  uint16_t low = uint16_t(std::min(15, std::max(1, tz - 1)));
  uint16_t enc = uint16_t(low | ((phase / q) << 4));
  return std::string{char(enc & 0xff), char(enc >> 8)};
}

Status Era::Decode(Decoder& d, Era* out) {
  uint8_t first;
  QSTOR_RETURN_IF_ERROR(d.U8(&first, "era"));
  if (first == 0) {
    *out = Era::Immortal();
    return Status::OK();
  }
  uint8_t second;
  QSTOR_RETURN_IF_ERROR(d.U8(&second, "second byte of a mortal era"));
  uint16_t enc = uint16_t(first | (second << 8));
  uint64_t period = uint64_t(2) << (enc % 16);
  uint64_t q = std::max<uint64_t>(period >> 12, 1);
  uint64_t phase = uint64_t(enc >> 4) * q;
  if (period < 4 || phase >= period)
    return d.Error("invalid mortal era 0x" + ToHex(std::string{char(first), char(second)}) +
                   " (period " + std::to_string(period) + ", phase " + std::to_string(phase) + ")");
  *out = Era{false, period, phase};
  return Status::OK();
}

uint64_t Era::Birth(uint64_t current) const {
  if (immortal) return 0;
  return (std::max(current, phase) - phase) / period * period + phase;
}

// ---------------------------------------------------------------------------
// Signed extensions
// ---------------------------------------------------------------------------
namespace {

void EnsureSodium() {
  if (sodium_init() < 0) std::abort();  // no entropy source: nothing below is safe
}

// True when every value of the type encodes to zero bytes.
bool ZeroSize(const Registry& r, TypeId id, int depth = 0) {
  if (depth > 16) return false;
  const Type* t = r.Find(id);
  if (t == nullptr) return false;
  if (const auto* c = std::get_if<TypeDefComposite>(&t->def)) {
    for (const auto& f : c->fields)
      if (!ZeroSize(r, f.type, depth + 1)) return false;
    return true;
  }
  if (const auto* tu = std::get_if<TypeDefTuple>(&t->def)) {
    for (TypeId f : tu->fields)
      if (!ZeroSize(r, f, depth + 1)) return false;
    return true;
  }
  if (const auto* a = std::get_if<TypeDefArray>(&t->def))
    return a->len == 0 || ZeroSize(r, a->element, depth + 1);
  return false;
}

bool IsEraExtension(const std::string& id) { return id == "CheckMortality" || id == "CheckEra"; }

Status Unknown(const Metadata& m, const SignedExtension& s) {
  return Status::NotImplemented("signed extension " + s.identifier +
                                " is unknown and not zero-size (extra " + m.registry.Describe(s.type) +
                                ", additional " + m.registry.Describe(s.additional_signed) +
                                "); refusing to build or check extrinsics for this runtime");
}

Status Enc(const Metadata& m, TypeId type, const Value& v, std::string* out, const std::string& what) {
  auto b = EncodeValueBytes(m.registry, type, v);
  if (!b.ok()) return b.status().WithContext("signed extension " + what);
  *out += *b;
  return Status::OK();
}

Value HashValue(const Hash256& h) { return Value::Bytes(std::string(reinterpret_cast<const char*>(h.data()), 32)); }

}  // namespace

Result<ExtensionBytes> BuildExtensions(const Metadata& m, const ExtrinsicExtra& x, const ChainInfo& c) {
  ExtensionBytes out;
  for (const auto& s : m.extrinsic.signed_extensions) {
    const std::string& id = s.identifier;
    if (IsEraExtension(id)) {
      out.extra += x.era.Encode();
      QSTOR_RETURN_IF_ERROR(Enc(m, s.additional_signed, HashValue(x.era.immortal ? c.genesis : c.era_block_hash),
                                &out.additional, id));
    } else if (id == "CheckNonce") {
      QSTOR_RETURN_IF_ERROR(Enc(m, s.type, Value::U(x.nonce), &out.extra, id));
      if (!ZeroSize(m.registry, s.additional_signed)) return Unknown(m, s);
    } else if (id == "ChargeTransactionPayment") {
      QSTOR_RETURN_IF_ERROR(Enc(m, s.type, Value::U(x.tip), &out.extra, id));
      if (!ZeroSize(m.registry, s.additional_signed)) return Unknown(m, s);
    } else if (id == "CheckSpecVersion") {
      if (!ZeroSize(m.registry, s.type)) return Unknown(m, s);
      QSTOR_RETURN_IF_ERROR(Enc(m, s.additional_signed, Value::U(c.spec_version), &out.additional, id));
    } else if (id == "CheckTxVersion") {
      if (!ZeroSize(m.registry, s.type)) return Unknown(m, s);
      QSTOR_RETURN_IF_ERROR(Enc(m, s.additional_signed, Value::U(c.tx_version), &out.additional, id));
    } else if (id == "CheckGenesis") {
      if (!ZeroSize(m.registry, s.type)) return Unknown(m, s);
      QSTOR_RETURN_IF_ERROR(Enc(m, s.additional_signed, HashValue(c.genesis), &out.additional, id));
    } else if (!ZeroSize(m.registry, s.type) || !ZeroSize(m.registry, s.additional_signed)) {
      // CheckNonZeroSender, CheckWeight, ContractIdProvides... are zero-size.
      return Unknown(m, s);
    }
  }
  return out;
}

Result<std::string> SigningPayload(const Metadata& m, std::string_view call, const ExtrinsicExtra& x,
                                   const ChainInfo& c) {
  auto ext = BuildExtensions(m, x, c);
  if (!ext.ok()) return ext.status();
  return std::string(call) + ext->extra + ext->additional;
}

std::string PayloadToSign(std::string_view payload) {
  if (payload.size() > 256) return Blake2_256(payload);
  return std::string(payload);
}

namespace {

// Reads one signed-extension field of `type` and returns it as a number.
Status ReadUnsigned(const Metadata& m, TypeId type, Decoder& d, const std::string& what, u128* out) {
  Value v;
  Status st = DecodeValue(m.registry, type, d, &v);
  if (!st.ok()) return st.WithContext("signing payload: " + what);
  auto n = AsUnsigned(v, "signing payload: " + what);
  if (!n.ok()) return n.status();
  *out = *n;
  return Status::OK();
}

// Reads one signed-extension field of `type` that must be a 32-byte hash.
Status ReadHash(const Metadata& m, TypeId type, Decoder& d, const std::string& what, Hash256* out) {
  const size_t at = d.offset();
  Value v;
  Status st = DecodeValue(m.registry, type, d, &v);
  if (!st.ok()) return st.WithContext("signing payload: " + what);
  auto b = AsBytes(v, "signing payload: " + what);
  if (!b.ok()) return b.status();
  if (b->size() != 32)
    return Status::Corruption("signing payload: " + what + " at offset " + std::to_string(at) + " is " +
                              std::to_string(b->size()) + " bytes, expected a 32-byte hash");
  std::memcpy(out->data(), b->data(), 32);
  return Status::OK();
}

}  // namespace

Result<DecodedSigningPayload> DecodeSigningPayload(const Metadata& m, std::string_view payload) {
  DecodedSigningPayload out;
  Decoder d(payload);
  // The call.
  auto rc = m.RuntimeCallType();
  if (!rc.ok()) return rc.status();
  Status cs = DecodeValue(m.registry, *rc, d, &out.call);
  if (!cs.ok()) return cs.WithContext("signing payload: call");
  out.call_bytes = std::string(d.Since(0));
  if (out.call.kind != Value::Kind::kVariant || out.call.fields.size() != 1 ||
      out.call.fields[0].value.kind != Value::Kind::kVariant)
    return Status::Corruption("signing payload: the call is not Pallet(call): " + out.call.ToString().substr(0, 120));
  out.pallet = out.call.name;
  out.call_name = out.call.fields[0].value.name;

  // Extra, in the metadata's order.
  for (const auto& s : m.extrinsic.signed_extensions) {
    const std::string& id = s.identifier;
    if (IsEraExtension(id)) {
      const size_t at = d.offset();
      Status es = Era::Decode(d, &out.extra.era);
      if (!es.ok()) return es.WithContext("signing payload: " + id + " (extra, the era at offset " + std::to_string(at) + ")");
    } else if (id == "CheckNonce") {
      u128 n;
      QSTOR_RETURN_IF_ERROR(ReadUnsigned(m, s.type, d, id + " (extra)", &n));
      if (n > 0xffffffffu) return d.Error("signing payload: nonce " + U128ToString(n) + " does not fit u32");
      out.extra.nonce = uint32_t(n);
    } else if (id == "ChargeTransactionPayment") {
      QSTOR_RETURN_IF_ERROR(ReadUnsigned(m, s.type, d, id + " (extra)", &out.extra.tip));
    } else if (!ZeroSize(m.registry, s.type)) {
      return Unknown(m, s);
    }
  }

  // Additional, in the same order.
  bool have_genesis = false, have_era_hash = false;
  Hash256 era_hash{};
  for (const auto& s : m.extrinsic.signed_extensions) {
    const std::string& id = s.identifier;
    if (IsEraExtension(id)) {
      QSTOR_RETURN_IF_ERROR(ReadHash(m, s.additional_signed, d, id + " (additional: the era's block hash)", &era_hash));
      have_era_hash = true;
    } else if (id == "CheckSpecVersion" || id == "CheckTxVersion") {
      u128 v;
      QSTOR_RETURN_IF_ERROR(ReadUnsigned(m, s.additional_signed, d, id + " (additional)", &v));
      if (v > 0xffffffffu) return d.Error("signing payload: " + id + " " + U128ToString(v) + " does not fit u32");
      (id == "CheckSpecVersion" ? out.chain.spec_version : out.chain.tx_version) = uint32_t(v);
    } else if (id == "CheckGenesis") {
      QSTOR_RETURN_IF_ERROR(ReadHash(m, s.additional_signed, d, id + " (additional: the genesis hash)", &out.chain.genesis));
      have_genesis = true;
    } else if (!ZeroSize(m.registry, s.additional_signed)) {
      return Unknown(m, s);
    }
  }
  if (!d.done())
    return d.Error("signing payload: " + std::to_string(d.remaining()) +
                   " trailing bytes after the last signed extension's additional data");
  if (have_era_hash) {
    if (out.extra.era.immortal) {
      if (!have_genesis) {
        out.chain.genesis = era_hash;
      } else if (era_hash != out.chain.genesis) {
        return Status::Corruption("signing payload: the era is immortal but its block hash 0x" +
                                  ToHex(std::string_view(reinterpret_cast<const char*>(era_hash.data()), 32)) +
                                  " is not the genesis hash 0x" +
                                  ToHex(std::string_view(reinterpret_cast<const char*>(out.chain.genesis.data()), 32)));
      }
    }
    out.chain.era_block_hash = era_hash;
  }
  return out;
}

Result<std::string> BuildSignedExtrinsic(const Metadata& m, const std::array<uint8_t, 32>& pk,
                                         const Signer& sign, std::string_view call,
                                         const ExtrinsicExtra& x, const ChainInfo& c) {
  if (m.extrinsic.version != 4)
    return Status::NotImplemented("extrinsic: the runtime uses extrinsic version " +
                                  std::to_string(m.extrinsic.version) + ", only 4 is supported");
  auto ext = BuildExtensions(m, x, c);
  if (!ext.ok()) return ext.status();
  std::string payload = std::string(call) + ext->extra + ext->additional;
  std::string sig = sign(PayloadToSign(payload));
  if (sig.size() != 64)
    return Status::Internal("extrinsic: the signer returned " + std::to_string(sig.size()) +
                            " bytes, expected a 64-byte ed25519 signature");
  Encoder body;
  body.U8(0x84);
  body.U8(0x00);  // MultiAddress::Id
  body.Raw(std::string_view(reinterpret_cast<const char*>(pk.data()), 32));
  body.U8(uint8_t(SignatureType::kEd25519));
  body.Raw(sig);
  body.Raw(ext->extra);
  body.Raw(call);
  Encoder e;
  e.Bytes(body.bytes());
  return e.Take();
}

Result<DecodedExtrinsic> DecodeExtrinsic(const Metadata& m, std::string_view bytes, bool length_prefixed) {
  DecodedExtrinsic out;
  std::string_view body = bytes;
  size_t base = 0;
  if (length_prefixed) {
    Decoder d(bytes);
    u128 len;
    QSTOR_RETURN_IF_ERROR(d.Compact(&len, "extrinsic length"));
    if (len != d.remaining())
      return d.Error("extrinsic length prefix says " + U128ToString(len) + " bytes, " +
                     std::to_string(d.remaining()) + " follow");
    base = d.position();
    body = d.rest();
  }
  out.encoded = std::string(body);
  Decoder d(body, base);
  uint8_t version;
  QSTOR_RETURN_IF_ERROR(d.U8(&version, "extrinsic version byte"));
  if ((version & 0x7f) != 4)
    return Status::Corruption("extrinsic: version " + std::to_string(version & 0x7f) +
                              " is not supported (only 4)");
  out.is_signed = (version & 0x80) != 0;
  if (out.is_signed) {
    uint8_t addr;
    QSTOR_RETURN_IF_ERROR(d.U8(&addr, "signer address kind"));
    if (addr != 0)
      return d.Error("signer address kind " + std::to_string(addr) + " is not supported (only MultiAddress::Id = 0)");
    std::string pk;
    QSTOR_RETURN_IF_ERROR(d.Fixed(32, &pk, "signer public key"));
    std::memcpy(out.signer.data(), pk.data(), 32);
    uint8_t st;
    QSTOR_RETURN_IF_ERROR(d.U8(&st, "signature type"));
    if (st > 2) return d.Error("unknown signature type " + std::to_string(st) + " (0 Ed25519, 1 Sr25519, 2 Ecdsa)");
    out.signature_type = SignatureType(st);
    QSTOR_RETURN_IF_ERROR(d.Fixed(st == 2 ? 65 : 64, &out.signature, "signature"));
    for (const auto& s : m.extrinsic.signed_extensions) {
      const std::string& id = s.identifier;
      if (IsEraExtension(id)) {
        QSTOR_RETURN_IF_ERROR(Era::Decode(d, &out.extra.era));
        continue;
      }
      if (id != "CheckNonce" && id != "ChargeTransactionPayment") {
        if (!ZeroSize(m.registry, s.type)) return Unknown(m, s);
        continue;
      }
      Value v;
      Status vs = DecodeValue(m.registry, s.type, d, &v);
      if (!vs.ok()) return vs.WithContext("extrinsic " + id);
      auto n = AsUnsigned(v, id);
      if (!n.ok()) return n.status();
      if (id == "CheckNonce") {
        if (*n > 0xffffffffu) return d.Error("nonce " + U128ToString(*n) + " does not fit u32");
        out.extra.nonce = uint32_t(*n);
      } else {
        out.extra.tip = *n;
      }
    }
  }
  size_t call_at = d.position();
  auto rc = m.RuntimeCallType();
  if (!rc.ok()) return rc.status();
  Value call;
  Status cs = DecodeValue(m.registry, *rc, d, &call);
  if (!cs.ok()) return cs.WithContext("extrinsic call");
  QSTOR_RETURN_IF_ERROR(d.ExpectEnd("the extrinsic's call"));
  out.call = std::string(d.Since(call_at));
  return out;
}

Status VerifyExtrinsic(const Metadata& m, const DecodedExtrinsic& x, const ChainInfo& c) {
  if (!x.is_signed) return Status::Unauthenticated("extrinsic: not signed");
  if (x.signature_type != SignatureType::kEd25519)
    return Status::Unauthenticated(std::string("extrinsic: ") +
                                   (x.signature_type == SignatureType::kSr25519 ? "sr25519" : "ecdsa") +
                                   " signatures cannot be checked here (ed25519 only)");
  auto payload = SigningPayload(m, x.call, x.extra, c);
  if (!payload.ok()) return payload.status();
  std::string msg = PayloadToSign(*payload);
  EnsureSodium();
  if (x.signature.size() != crypto_sign_BYTES ||
      crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(x.signature.data()),
                                  reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                                  x.signer.data()) != 0)
    return Status::Unauthenticated("extrinsic: bad signature (over spec " + std::to_string(c.spec_version) +
                                   ", tx " + std::to_string(c.tx_version) + ", genesis 0x" +
                                   ToHex(std::string_view(reinterpret_cast<const char*>(c.genesis.data()), 32)) + ")");
  return Status::OK();
}

Hash256 ExtrinsicHash(std::string_view length_prefixed) {
  std::string h = Blake2_256(length_prefixed);
  Hash256 out;
  std::memcpy(out.data(), h.data(), 32);
  return out;
}

}  // namespace qstor::tfchain
