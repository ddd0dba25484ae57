// The keystore: the user's BIP39 mnemonic on disk, encrypted with a
// passphrase. It is the only place a secret is ever stored.
//
// Location: $QSTOR_HOME/keystore.json, or ~/.config/qstor/keystore.json
// when QSTOR_HOME is unset. The directory is created with mode 0700, the file
// is written atomically (temp file, fsync, rename, fsync dir) with mode 0600.
//
// Format (JSON, docs/identity.md): the twin's public key and SS58 address in
// clear (so `qstor wallet address` needs no passphrase), Argon2id parameters
// and salt, and the mnemonic sealed with XChaCha20-Poly1305-IETF under the
// Argon2id key; the public fields and parameters are the AEAD's additional
// data, so tampering with them makes decryption fail. After decryption the
// mnemonic must give the recorded public key.
//
// The public part also names the SS58 address of the sr25519 account of the
// same words ("sr25519_address": the TF dashboard's default account, which is
// NOT qstor's; docs/identity.md), so that `qstor wallet address` can show both
// without the passphrase. Computing it needs the secret, so a keystore written
// before the field existed gets it the first time it is unlocked (any command
// that asks for the passphrase): the file is rewritten atomically, 0600. The
// field is outside the AEAD's additional data so that older qstor versions,
// which ignore it, still open the file; it is checked against the words on
// every unlock instead (a mismatch is kCorruption).
//
// Nothing here logs; error messages never contain the mnemonic or the
// passphrase.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "grid/identity.h"

namespace qstor::reconciler {

// $QSTOR_HOME, else $XDG_CONFIG_HOME/qstor, else $HOME/.config/qstor
// (common/dirs.h: where the other kinds of files go). Fails when none is set.
Result<std::string> DefaultQstorHome();
// <home>/keystore.json
std::string KeystorePath(const std::string& home);

// Argon2id cost. Defaults: libsodium's INTERACTIVE limits (2 passes,
// 64 MiB), which take well under a second here; stored in the file so they
// can be raised later without breaking old keystores.
struct KeystoreKdf {
  uint64_t opslimit = 2;
  uint64_t memlimit = 64ull << 20;
};

struct KeystorePublic {
  std::string public_key_hex;  // the twin's ed25519 public key
  std::string address;         // its SS58 address (prefix 42)
  // The SS58 address of the sr25519 account of the same words (the TF
  // dashboard's; a different account). Empty when unknown: a keystore
  // written before the field, not unlocked since.
  std::string sr25519_address;
};

// Validates and normalizes `mnemonic`, derives the twin's public key, and
// writes the encrypted keystore at `path`. Refuses (kAlreadyExists) when the
// file exists and !overwrite. The passphrase must be at least 8 bytes.
Result<KeystorePublic> WriteKeystore(const std::string& path, std::string_view mnemonic,
                                     std::string_view passphrase, bool overwrite,
                                     const KeystoreKdf& kdf = {});

// The public part, without the passphrase (not authenticated until a
// ReadMnemonic succeeds). kNotFound when there is no keystore.
Result<KeystorePublic> ReadKeystorePublic(const std::string& path);

// Decrypts the mnemonic. kUnauthenticated for a wrong passphrase (or a
// tampered file), kCorruption for a malformed one. Records sr25519_address
// when the file lacks it (best effort: a read-only file, or one another
// process changed meanwhile, is left for the next unlock).
Result<std::string> ReadMnemonic(const std::string& path, std::string_view passphrase);

// The public part after unlocking: authenticated, and with sr25519_address
// always set (computed from the words, and recorded in the file when it was
// missing, as ReadMnemonic does).
Result<KeystorePublic> ReadKeystorePublicUnlocked(const std::string& path,
                                                  std::string_view passphrase);

// ReadMnemonic, then grid::Identity::FromMnemonic; the words are wiped.
// This is how apply/mount/recover get the twin key and the derived keys.
Result<grid::Identity> OpenIdentity(const std::string& path, std::string_view passphrase);

// --- ThreeFold Connect (docs/identity.md "ThreeFold Connect login") -----------
//
// The Connect profile (the JSON that `qstor login` records: name, email,
// verified flag, derivedSeed, networks) is secret and lives only in encrypted
// form: in the keystore's second sealed part "connect" (same Argon2id key,
// its own nonce; the additional data is the keystore's plus "|connect"), or,
// when the login happens before `qstor init`, in <home>/connect-login.json, a
// sealed file of its own. Both are 0600 and written atomically.

// <home>/connect-login.json
std::string ConnectLoginPath(const std::string& home);
// Adds or replaces the keystore's "connect" part. The passphrase must open
// the keystore (kUnauthenticated otherwise).
Status WriteKeystoreConnect(const std::string& path, std::string_view passphrase,
                            std::string_view profile);
// The "connect" part, or nullopt when the keystore has none.
Result<std::optional<std::string>> ReadKeystoreConnect(const std::string& path,
                                                      std::string_view passphrase);
// A sealed file: {"format":"qstor-sealed","version":1,"label",kdf,cipher}
// with Argon2id + XChaCha20-Poly1305; `label` is in the additional data, so a
// file sealed for one purpose does not open as another. Passphrase >= 8.
Status WriteSealedFile(const std::string& path, std::string_view label, std::string_view plaintext,
                       std::string_view passphrase, const KeystoreKdf& kdf = {});
// kNotFound when absent, kUnauthenticated for a wrong passphrase.
Result<std::string> ReadSealedFile(const std::string& path, std::string_view label,
                                   std::string_view passphrase);

// Where ObtainPassphrase reads the passphrase before QSTOR_PASSPHRASE and
// the prompt (restic's model): a file descriptor (one line; closed after), a
// file (its first line; at most 4 KiB), or a command run by /bin/sh -c whose
// stdout's first line is the passphrase (it must exit 0; its stderr is
// ours, so a pinentry or `pass` can talk to the user). `origin` names the
// source in messages ("--passphrase-file", "QSTOR_PASSPHRASE_COMMAND").
struct PassphraseSource {
  enum class Kind { kNone, kFd, kFile, kCommand } kind = Kind::kNone;
  int fd = -1;
  std::string path;
  std::string command;
  std::string origin;
};
void SetPassphraseSource(PassphraseSource source);
// One line (without "\n" or "\r\n") of at most 4096 bytes from `fd`; an
// empty line is "", a stream that ends before any byte is an error. `what`
// names the source in messages ("--passphrase-fd 3"). Does not close `fd`.
Result<std::string> ReadPassphraseLine(int fd, const std::string& what);
bool PassphraseSourceSet();
// Forgets the passphrase ObtainPassphrase remembered (wiped).
void ForgetPassphrase();

// The passphrase for the keystore, asked once per process: the first call
// reads the PassphraseSource if one is set, else QSTOR_PASSPHRASE when set
// (for pipelines), else prompts on the controlling terminal with echo off
// (`confirm` asks twice and fails when the two differ); later calls return
// what the first one got. Fails with kFailedPrecondition when there is no
// source, no variable and no terminal; a source that cannot be read (no such
// file, a command that fails, nothing on the line) fails naming it.
Result<std::string> ObtainPassphrase(const std::string& prompt, bool confirm);

// The words of a mnemonic file (`--mnemonic-file`; "-" reads stdin), as
// written: NormalizeMnemonic checks them. The file's bytes are not left in
// any other buffer.
Result<std::string> ReadMnemonicFile(const std::string& path);

}  // namespace qstor::reconciler
