// Signing primitives shared by the grid client, the reconciler and the devnet:
// hex, ed25519 keys (libsodium), and SS58 account addresses.
//
// Contract:
//  - Keys are raw bytes. A Ed25519Key is built from a 32-byte seed (the
//    "mini secret" that grid/identity derives from the mnemonic); the same
//    seed always gives the same key.
//  - Sign() returns the 64-byte detached signature; Verify() never throws and
//    returns false for any malformed input.
//  - Nothing here logs; Ed25519Key's secret never leaves the object except
//    through Sign().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor::grid {

// Lowercase hex of bytes, and back (accepts upper and lower case, an optional
// "0x" prefix; refuses odd length or non-hex characters).
std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);

using PublicKey = std::array<uint8_t, 32>;

class Ed25519Key {
 public:
  // Deterministic key from a 32-byte seed (libsodium crypto_sign_seed_keypair).
  static Ed25519Key FromSeed(const std::array<uint8_t, 32>& seed);
  // Fresh random key (libsodium randombytes).
  static Ed25519Key Generate();
  // From a 32-byte seed given as hex (64 chars).
  static Result<Ed25519Key> FromSeedHex(std::string_view hex);

  ~Ed25519Key();
  Ed25519Key(const Ed25519Key&) = default;
  Ed25519Key& operator=(const Ed25519Key&) = default;

  const PublicKey& public_key() const { return pk_; }
  std::string PublicKeyHex() const;
  // 64-byte detached signature over `message`.
  std::string Sign(std::string_view message) const;
  std::string SignHex(std::string_view message) const { return HexEncode(Sign(message)); }
  // The seed, hex (for keystores that must persist it; handle as a secret).
  std::string SeedHex() const;

 private:
  Ed25519Key() = default;
  PublicKey pk_{};
  std::array<uint8_t, 64> sk_{};
};

// Verifies a detached ed25519 signature. `public_key` and `signature` are raw
// bytes (32 and 64); wrong sizes give false.
bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);
// Same with hex-encoded key and signature.
bool Ed25519VerifyHex(std::string_view public_key_hex, std::string_view message,
                      std::string_view signature_hex);

// The sr25519 public key that Substrate tools (polkadot.js, subkey, the TF
// dashboard, the ThreeFold Connect wallet) derive from the same 32-byte mini
// secret: schnorrkel's MiniSecretKey::expand_to_keypair(ExpansionMode::Ed25519)
// = SHA-512(mini), the first half clamped (&248, &63, |64) and divided by the
// cofactor 8, times the ristretto255 base point (libsodium). qstor never signs
// with sr25519 (no Debian package implements it); this key only names the
// *other* account of the same words, so that a user is never confused about
// where to send TFT (docs/identity.md).
PublicKey Sr25519PublicFromMini(const std::array<uint8_t, 32>& mini);

// Parses a 64-hex-char public key.
Result<PublicKey> ParsePublicKeyHex(std::string_view hex);

// SS58 address (Substrate, blake2b-512 "SS58PRE" checksum, base58) of a
// 32-byte public key, network prefix 42 by default (TFChain's).
std::string Ss58Address(const PublicKey& pk, uint8_t prefix = 42);
// Decodes an SS58 address back to its public key (checks the checksum).
Result<PublicKey> Ss58Decode(std::string_view address);

}  // namespace qstor::grid
