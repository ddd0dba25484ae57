// The user's identity: every key qstor uses, derived from one BIP39 mnemonic.
// docs/identity.md documents each derivation; changing one changes every
// user's keys, so they are versioned by their context strings.
//
//   entropy   = BIP39 entropy of the mnemonic (the words decoded, checksum checked)
//   mini      = PBKDF2-HMAC-SHA512(entropy, "mnemonic" + password, 2048)[0..32]
//               (substrate-bip39, the convention of TFChain tools)
//   twin key  = ed25519 keypair from seed `mini` (crypto_sign_seed_keypair)
//   address   = SS58(prefix 42, twin public key)
//   master    = BLAKE2b-256(key = mini, msg = "qstor/identity/master/v1")
//   data key  = crypto_kdf_derive_from_key(master, id 1, ctx "qstordat")
//   meta key  = crypto_kdf_derive_from_key(master, id 1, ctx "qstormet")
//   ns root   = crypto_kdf_derive_from_key(master, id 1, ctx "qstornsp")
//   ns pass   = hex(BLAKE2b-128(key = ns root, msg = len-prefixed name, network, role, index))
//
// An Identity holds secret material: it is move-only and wipes it when
// destroyed. Nothing in here logs.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "grid/crypto.h"

namespace qstor::grid {

using SymmetricKey = std::array<uint8_t, 32>;

// substrate-bip39's mini secret: PBKDF2-HMAC-SHA512 over the BIP39 entropy,
// salt "mnemonic" + password, 2048 rounds, first 32 bytes.
Result<std::array<uint8_t, 32>> SubstrateMiniSecret(std::span<const uint8_t> entropy,
                                                    std::string_view password);

class Identity {
 public:
  // Validates the mnemonic (count, words, checksum) and derives everything.
  // `password` is the optional BIP39/substrate password ("" by default);
  // a different password is a different identity.
  static Result<Identity> FromMnemonic(std::string_view mnemonic, std::string_view password = "");

  Identity(Identity&& other) noexcept;
  Identity& operator=(Identity&& other) noexcept;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;
  ~Identity();

  // The twin's ed25519 public key and its SS58 address (grid/crypto.h's
  // Ss58Address, prefix 42 = TFChain's).
  const PublicKey& public_key() const { return public_key_; }
  std::string PublicKeyHex() const;
  std::string Address() const;
  // The SS58 address of the sr25519 account of the same words (what the TF
  // dashboard and polkadot.js create by default). A different account: qstor
  // neither signs with it nor reads its balance; it is shown so that nobody
  // sends TFT there by mistake (grid/crypto.h Sr25519PublicFromMini).
  std::string Sr25519Address() const;

  // The twin's signing key (grid/crypto.h), for signing deployments and
  // extrinsics. The copy holds the secret: keep it no longer than needed.
  Ed25519Key TwinKey() const;

  // 32-byte symmetric keys for the filesystem (fs/ uses them for AEAD).
  SymmetricKey DataKey() const;
  SymmetricKey MetadataKey() const;

  // The 0-db namespace password for one namespace of a manifest: 32
  // lower-case hex characters, a pure function of (mnemonic, password,
  // manifest name, network, role, index). Fails on an empty name, network
  // or role.
  Result<std::string> NamespacePassword(std::string_view manifest_name,
                                        std::string_view network, std::string_view role,
                                        uint32_t index) const;

 private:
  Identity() = default;
  void Wipe();

  std::array<uint8_t, 32> mini_{};  // substrate-bip39 mini secret = ed25519 seed
  PublicKey public_key_{};
  SymmetricKey master_{};
};

}  // namespace qstor::grid
