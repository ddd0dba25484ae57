// Signed extrinsics, format v4, as TFChain takes them (ed25519 signer).
//
// Contract:
//  - Layout: compact(len) ‖ 0x84 ‖ MultiAddress::Id (00 ‖ pk32) ‖
//    MultiSignature (00 Ed25519 | 01 Sr25519 | 02 Ecdsa ‖ sig) ‖ extra ‖ call,
//    where `extra` and the signing payload's `additional` come from the
//    signed extensions THE METADATA LISTS, in its order:
//      CheckMortality/CheckEra  extra: Era        additional: birth block hash
//      CheckNonce               extra: Compact<u32> nonce
//      ChargeTransactionPayment extra: Compact<u128> tip
//      CheckSpecVersion / CheckTxVersion          additional: u32 each
//      CheckGenesis                               additional: genesis hash
//      CheckNonZeroSender, CheckWeight, ContractIdProvides, and any other
//      extension whose extra and additional types are both zero-size: nothing.
//    An unknown extension with a non-empty type is refused, naming it.
//  - Signing payload = call ‖ extra ‖ additional; when it is longer than 256
//    bytes the signature covers blake2b-256(payload) instead.
//  - The signer is a callback (grid::Ed25519Key::Sign fits), so this library
//    holds no key; verification uses libsodium.
//  - DecodeExtrinsic() parses a (length-prefixed) signed or unsigned v4
//    extrinsic and refuses anything else with a clear Status.
//  - DecodeSigningPayload() is SigningPayload()'s inverse: what a signing app
//    (ThreeFold Connect, the devnet's phone) reads from the bytes it is asked
//    to sign. Strict: every byte is accounted for, and
//    SigningPayload(m, d.call_bytes, d.extra, d.chain) == payload for every
//    payload it accepts.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/scale.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {

using Hash256 = std::array<uint8_t, 32>;

// Transaction mortality. Immortal = 0x00. Mortal: period a power of two in
// [4, 65536], phase < period; encoded in two bytes LE as
// min(15, max(1, tz(period) - 1)) | (phase / q) << 4, q = max(period >> 12, 1).
struct Era {
  bool immortal = true;
  uint64_t period = 0;
  uint64_t phase = 0;

  static Era Immortal() { return Era{}; }
  // Mortal era from the current block and a wanted period (rounded up to a
  // power of two, clamped to [4, 65536]), as Substrate's Era::mortal.
  static Era Mortal(uint64_t current_block, uint64_t period);
  std::string Encode() const;
  static Status Decode(Decoder& d, Era* out);
  // The first block of the era's validity window for a given current block.
  uint64_t Birth(uint64_t current_block) const;
  bool operator==(const Era&) const = default;
};

struct ChainInfo {
  uint32_t spec_version = 0;
  uint32_t tx_version = 0;
  Hash256 genesis{};
  // Hash of the era's birth block (mortal eras only; immortal ones use `genesis`).
  Hash256 era_block_hash{};
};

struct ExtrinsicExtra {
  Era era;
  uint32_t nonce = 0;
  u128 tip = 0;
};

// Bytes each extension adds, in metadata order.
struct ExtensionBytes {
  std::string extra;
  std::string additional;
};
Result<ExtensionBytes> BuildExtensions(const Metadata& m, const ExtrinsicExtra& x, const ChainInfo& c);

// call ‖ extra ‖ additional (not yet hashed).
Result<std::string> SigningPayload(const Metadata& m, std::string_view call, const ExtrinsicExtra& x,
                                   const ChainInfo& c);
// What is signed: the payload, or blake2b-256 of it when longer than 256 bytes.
std::string PayloadToSign(std::string_view payload);

// A signing payload taken apart.
struct DecodedSigningPayload {
  std::string pallet;     // "SmartContractModule" (the RuntimeCall variant)
  std::string call_name;  // "create_node_contract"
  Value call;             // the RuntimeCall value: Variant(pallet, [Variant(call, args)])
  std::string call_bytes; // its SCALE bytes, as in the payload
  ExtrinsicExtra extra;   // era, nonce, tip
  // spec and tx versions, genesis, and the era's block hash (for an immortal
  // era it is the genesis hash: anything else is refused).
  ChainInfo chain;
};

// Decodes call ‖ extra ‖ additional against the metadata's RuntimeCall type
// and its signed extensions, in their order. A call that does not decode, a
// truncated extension, an unknown extension with a non-empty type, an
// immortal era whose block hash is not the genesis, or any byte after the
// last additional field is refused (kCorruption, or kNotImplemented for an
// unknown extension); messages name the offset and the part being read
// ("signing payload: CheckGenesis (additional): scale: offset 117: ...").
Result<DecodedSigningPayload> DecodeSigningPayload(const Metadata& m, std::string_view payload);

using Signer = std::function<std::string(std::string_view message)>;  // 64-byte ed25519 signature

// The length-prefixed signed extrinsic (ready for author_submitExtrinsic).
Result<std::string> BuildSignedExtrinsic(const Metadata& m, const std::array<uint8_t, 32>& public_key,
                                         const Signer& sign, std::string_view call,
                                         const ExtrinsicExtra& x, const ChainInfo& c);

enum class SignatureType : uint8_t { kEd25519 = 0, kSr25519 = 1, kEcdsa = 2 };

struct DecodedExtrinsic {
  bool is_signed = false;
  // Signed only:
  std::array<uint8_t, 32> signer{};
  SignatureType signature_type = SignatureType::kEd25519;
  std::string signature;  // 64 bytes (65 for ecdsa)
  ExtrinsicExtra extra;
  std::string call;       // the call bytes (pallet index, call index, args)
  std::string encoded;    // the whole extrinsic without the length prefix
};

// Parses compact(len) ‖ extrinsic (`length_prefixed`), or the bare body.
Result<DecodedExtrinsic> DecodeExtrinsic(const Metadata& m, std::string_view bytes,
                                         bool length_prefixed = true);
// Checks the signature over the payload rebuilt from `x` and `c`. Only
// ed25519 can be verified here (kUnauthenticated otherwise, naming the type).
Status VerifyExtrinsic(const Metadata& m, const DecodedExtrinsic& x, const ChainInfo& c);

// blake2b-256 of the extrinsic bytes (length prefix included): its hash as
// the chain reports it.
Hash256 ExtrinsicHash(std::string_view length_prefixed);

}  // namespace qstor::tfchain
