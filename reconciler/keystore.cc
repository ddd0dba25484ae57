#include "reconciler/keystore.h"

#include "common/dirs.h"
#include "common/file_util.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grid/bip39.h"
#include "grid/crypto.h"
#include "grid/identity.h"

namespace qstor::reconciler {
namespace {

constexpr char kFormat[] = "qstor-keystore";
constexpr int kVersion = 1;
constexpr size_t kMaxKeystoreBytes = 1u << 20;  // a keystore is a few KiB
constexpr char kKdfAlg[] = "argon2id13";
constexpr char kCipherAlg[] = "xchacha20poly1305-ietf";

std::string AdditionalData(const KeystorePublic& pub, uint64_t ops, uint64_t mem) {
  return std::string(kFormat) + "/v1|" + pub.public_key_hex + "|" + pub.address + "|" + kKdfAlg +
         "|" + std::to_string(ops) + "|" + std::to_string(mem) + "|" + kCipherAlg;
}

Status CheckKdf(uint64_t ops, uint64_t mem) {
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > 64 || mem < crypto_pwhash_MEMLIMIT_MIN ||
      mem > (4ull << 30)) {
    return Status::InvalidArgument("keystore: Argon2id limits out of range (opslimit " +
                                   std::to_string(ops) + ", memlimit " + std::to_string(mem) +
                                   ")");
  }
  return Status::OK();
}

Status DeriveKey(std::string_view passphrase, const uint8_t* salt, uint64_t ops, uint64_t mem,
                 uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES]) {
  if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, passphrase.data(),
                    passphrase.size(), salt, ops, static_cast<size_t>(mem),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::ResourceExhausted("keystore: Argon2id ran out of memory (" +
                                     std::to_string(mem >> 20) + " MiB)");
  }
  return Status::OK();
}

Status MkdirPrivate(const std::string& dir) {
  if (dir.empty()) return Status::OK();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::IOError("keystore: " + dir + " is not a directory");
    return Status::OK();
  }
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    QSTOR_RETURN_IF_ERROR(MkdirPrivate(dir.substr(0, slash)));
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("keystore: mkdir " + dir + ": " + std::strerror(errno));
  }
  return Status::OK();
}

std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Atomic private write into a private directory.
Status WritePrivateAtomic(const std::string& path, const std::string& bytes) {
  QSTOR_RETURN_IF_ERROR(MkdirPrivate(DirOf(path)));
  return WriteFileAtomic(path, bytes, 0600).WithContext("keystore");
}

Result<nlohmann::json> LoadJson(const std::string& path) {
  auto text = ReadFileBounded(path, kMaxKeystoreBytes, "keystore");
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no keystore at " + path + " (run `qstor init` first)");
    }
    return text.status();
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kFormat) {
    return Status::Corruption("keystore: " + path + " is not a qstor keystore");
  }
  if (j.value("version", 0) != kVersion) {
    return Status::Corruption("keystore: " + path + " has version " +
                              std::to_string(j.value("version", 0)) + "; this qstor reads " +
                              std::to_string(kVersion));
  }
  return j;
}

Result<std::string> HexField(const nlohmann::json& j, const char* obj, const char* key,
                             size_t want) {
  if (!j.contains(obj) || !j[obj].is_object() || !j[obj].contains(key) ||
      !j[obj][key].is_string()) {
    return Status::Corruption(std::string("keystore: missing ") + obj + "." + key);
  }
  auto raw = grid::HexDecode(j[obj][key].get<std::string>());
  if (!raw.ok() || (want != 0 && raw->size() != want)) {
    return Status::Corruption(std::string("keystore: bad ") + obj + "." + key);
  }
  return raw;
}

constexpr char kSr25519Field[] = "sr25519_address";

Result<KeystorePublic> PublicFromJson(const nlohmann::json& j, const std::string& path) {
  auto str = [&j](const char* k) { return j.contains(k) && j[k].is_string(); };
  if (!str("public_key") || !str("address")) {
    return Status::Corruption("keystore: " + path + " lacks public_key/address");
  }
  KeystorePublic pub{j["public_key"].get<std::string>(), j["address"].get<std::string>(), ""};
  if (j.contains(kSr25519Field)) {
    if (!str(kSr25519Field) || !grid::Ss58Decode(j[kSr25519Field].get<std::string>()).ok()) {
      return Status::Corruption("keystore: " + path + " has a malformed " + kSr25519Field);
    }
    pub.sr25519_address = j[kSr25519Field].get<std::string>();
  }
  return pub;
}

// A keystore written before "sr25519_address" existed gets it once unlocked.
// Best effort: the file is re-read and rewritten only when it still is what
// was decrypted (another qstor may have added its "connect" part meanwhile);
// a failure leaves the upgrade to the next unlock.
void RecordSr25519Address(const std::string& path, const nlohmann::json& opened,
                          const std::string& sr25519_address) {
  auto text = ReadFileBounded(path, kMaxKeystoreBytes, "keystore");
  if (!text.ok()) return;
  auto now = nlohmann::json::parse(*text, nullptr, false);
  if (now.is_discarded() || now != opened) return;
  now[kSr25519Field] = sr25519_address;
  (void)WritePrivateAtomic(path, now.dump(2) + "\n");
}

// Decrypts the words; *pub_out gets the public part with sr25519_address
// computed from them.
Result<std::string> OpenMnemonic(const std::string& path, std::string_view passphrase,
                                 KeystorePublic* pub_out);

}  // namespace

Result<std::string> DefaultQstorHome() { return DefaultHome(); }

std::string KeystorePath(const std::string& home) { return home + "/keystore.json"; }

Result<KeystorePublic> WriteKeystore(const std::string& path, std::string_view mnemonic,
                                     std::string_view passphrase, bool overwrite,
                                     const KeystoreKdf& kdf) {
  if (sodium_init() < 0) return Status::Internal("keystore: libsodium failed to initialise");
  QSTOR_RETURN_IF_ERROR(CheckKdf(kdf.opslimit, kdf.memlimit));
  if (passphrase.size() < 8) {
    return Status::InvalidArgument("keystore: the passphrase must be at least 8 characters");
  }
  if (!overwrite && ::access(path.c_str(), F_OK) == 0) {
    std::string who;
    auto pub = ReadKeystorePublic(path);
    if (pub.ok()) who = " (twin address " + pub->address + ")";
    return Status::AlreadyExists("a keystore already exists at " + path + who +
                                 "; pass --force to replace it (its words are lost unless "
                                 "written down)");
  }
  auto words = grid::bip39::NormalizeMnemonic(mnemonic);
  if (!words.ok()) return words.status();
  auto id = grid::Identity::FromMnemonic(*words);
  if (!id.ok()) {
    sodium_memzero(words->data(), words->size());
    return id.status();
  }
  KeystorePublic pub{id->PublicKeyHex(), id->Address(), id->Sr25519Address()};

  uint8_t salt[crypto_pwhash_SALTBYTES];
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  randombytes_buf(salt, sizeof salt);
  randombytes_buf(nonce, sizeof nonce);
  Status st = DeriveKey(passphrase, salt, kdf.opslimit, kdf.memlimit, key);
  if (!st.ok()) {
    sodium_memzero(words->data(), words->size());
    return st;
  }
  std::string ad = AdditionalData(pub, kdf.opslimit, kdf.memlimit);
  std::string cipher(words->size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(cipher.data()), &clen,
      reinterpret_cast<const unsigned char*>(words->data()), words->size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, key);
  sodium_memzero(key, sizeof key);
  sodium_memzero(words->data(), words->size());
  cipher.resize(clen);

  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["public_key"] = pub.public_key_hex;
  j["address"] = pub.address;
  j[kSr25519Field] = pub.sr25519_address;
  j["kdf"] = {{"alg", kKdfAlg},
              {"opslimit", kdf.opslimit},
              {"memlimit", kdf.memlimit},
              {"salt", grid::HexEncode(std::string_view(reinterpret_cast<char*>(salt), sizeof salt))}};
  j["cipher"] = {
      {"alg", kCipherAlg},
      {"nonce", grid::HexEncode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce))},
      {"ciphertext", grid::HexEncode(cipher)}};
  QSTOR_RETURN_IF_ERROR(WritePrivateAtomic(path, j.dump(2) + "\n"));
  return pub;
}

Result<KeystorePublic> ReadKeystorePublic(const std::string& path) {
  auto j = LoadJson(path);
  if (!j.ok()) return j.status();
  return PublicFromJson(*j, path);
}

namespace {

Result<std::string> OpenMnemonic(const std::string& path, std::string_view passphrase,
                                 KeystorePublic* pub_out) {
  if (sodium_init() < 0) return Status::Internal("keystore: libsodium failed to initialise");
  auto j = LoadJson(path);
  if (!j.ok()) return j.status();
  const nlohmann::json opened = *j;
  auto pub = PublicFromJson(*j, path);
  if (!pub.ok()) return pub.status();
  const auto& kdf = (*j)["kdf"];
  const auto& cip = (*j)["cipher"];
  if (!kdf.is_object() || kdf.value("alg", "") != kKdfAlg || !kdf.contains("opslimit") ||
      !kdf["opslimit"].is_number_unsigned() || !kdf.contains("memlimit") ||
      !kdf["memlimit"].is_number_unsigned() || !cip.is_object() ||
      cip.value("alg", "") != kCipherAlg) {
    return Status::Corruption("keystore: " + path + " has unknown kdf/cipher parameters");
  }
  uint64_t ops = kdf["opslimit"].get<uint64_t>();
  uint64_t mem = kdf["memlimit"].get<uint64_t>();
  QSTOR_RETURN_IF_ERROR(CheckKdf(ops, mem));
  auto salt = HexField(*j, "kdf", "salt", crypto_pwhash_SALTBYTES);
  if (!salt.ok()) return salt.status();
  auto nonce = HexField(*j, "cipher", "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  if (!nonce.ok()) return nonce.status();
  auto cipher = HexField(*j, "cipher", "ciphertext", 0);
  if (!cipher.ok()) return cipher.status();
  if (cipher->size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return Status::Corruption("keystore: ciphertext too short");
  }
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  QSTOR_RETURN_IF_ERROR(
      DeriveKey(passphrase, reinterpret_cast<const uint8_t*>(salt->data()), ops, mem, key));
  std::string ad = AdditionalData(*pub, ops, mem);
  std::string plain(cipher->size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long plen = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr,
      reinterpret_cast<const unsigned char*>(cipher->data()), cipher->size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
      reinterpret_cast<const unsigned char*>(nonce->data()), key);
  sodium_memzero(key, sizeof key);
  if (rc != 0) {
    return Status::Unauthenticated("keystore: wrong passphrase for " + path +
                                    " (or the file was modified)");
  }
  plain.resize(plen);
  auto id = grid::Identity::FromMnemonic(plain);
  if (!id.ok() || id->PublicKeyHex() != pub->public_key_hex) {
    sodium_memzero(plain.data(), plain.size());
    return Status::Corruption("keystore: " + path +
                              " decrypts to words that do not give its recorded public key");
  }
  const std::string sr25519 = id->Sr25519Address();
  if (pub->sr25519_address.empty()) {
    RecordSr25519Address(path, opened, sr25519);
  } else if (pub->sr25519_address != sr25519) {
    sodium_memzero(plain.data(), plain.size());
    return Status::Corruption("keystore: " + path + ": its " + kSr25519Field +
                              " is not the sr25519 account of its words (the file was "
                              "modified); delete that field and the next unlock records it again");
  }
  if (pub_out != nullptr) {
    *pub_out = std::move(pub).value();
    pub_out->sr25519_address = sr25519;
  }
  return plain;
}

}  // namespace

Result<std::string> ReadMnemonic(const std::string& path, std::string_view passphrase) {
  return OpenMnemonic(path, passphrase, nullptr);
}

Result<KeystorePublic> ReadKeystorePublicUnlocked(const std::string& path,
                                                  std::string_view passphrase) {
  KeystorePublic pub;
  auto words = OpenMnemonic(path, passphrase, &pub);
  if (!words.ok()) return words.status();
  sodium_memzero(words->data(), words->size());
  return pub;
}

Result<grid::Identity> OpenIdentity(const std::string& path, std::string_view passphrase) {
  auto words = ReadMnemonic(path, passphrase);
  if (!words.ok()) return words.status();
  auto id = grid::Identity::FromMnemonic(*words);
  sodium_memzero(words->data(), words->size());
  return id;
}

namespace {

constexpr char kSealedFormat[] = "qstor-sealed";

// XChaCha20-Poly1305 under `key`: returns (nonce, ciphertext).
std::pair<std::string, std::string> Seal(const uint8_t* key, std::string_view ad,
                                         std::string_view plain) {
  std::string nonce(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  std::string cipher(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(cipher.data()), &clen,
      reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      reinterpret_cast<const unsigned char*>(nonce.data()), key);
  cipher.resize(clen);
  return {nonce, cipher};
}

Result<std::string> Unseal(const uint8_t* key, std::string_view ad, const std::string& nonce,
                           const std::string& cipher, const std::string& what) {
  if (nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      cipher.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return Status::Corruption(what + ": bad nonce or ciphertext");
  }
  std::string plain(cipher.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr,
          reinterpret_cast<const unsigned char*>(cipher.data()), cipher.size(),
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
          reinterpret_cast<const unsigned char*>(nonce.data()), key) != 0) {
    return Status::Unauthenticated(what + ": wrong passphrase (or the file was modified)");
  }
  plain.resize(plen);
  return plain;
}

// The Argon2id key and the additional data of an existing keystore.
struct KeystoreKey {
  nlohmann::json j;
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  std::string ad;
  ~KeystoreKey() { sodium_memzero(key, sizeof key); }
};

Result<std::unique_ptr<KeystoreKey>> OpenKeystoreKey(const std::string& path,
                                                     std::string_view passphrase) {
  // Authenticates the passphrase (and the file) first.
  auto words = ReadMnemonic(path, passphrase);
  if (!words.ok()) return words.status();
  sodium_memzero(words->data(), words->size());
  auto out = std::make_unique<KeystoreKey>();
  auto j = LoadJson(path);
  if (!j.ok()) return j.status();
  out->j = std::move(j).value();
  auto pub = ReadKeystorePublic(path);
  if (!pub.ok()) return pub.status();
  uint64_t ops = out->j["kdf"]["opslimit"].get<uint64_t>();
  uint64_t mem = out->j["kdf"]["memlimit"].get<uint64_t>();
  auto salt = HexField(out->j, "kdf", "salt", crypto_pwhash_SALTBYTES);
  if (!salt.ok()) return salt.status();
  QSTOR_RETURN_IF_ERROR(
      DeriveKey(passphrase, reinterpret_cast<const uint8_t*>(salt->data()), ops, mem, out->key));
  out->ad = AdditionalData(*pub, ops, mem) + "|connect";
  return out;
}

std::string SealedAd(std::string_view label, uint64_t ops, uint64_t mem) {
  return fmt::format("{}/v1|{}|{}|{}|{}|{}", kSealedFormat, label, kKdfAlg, ops, mem, kCipherAlg);
}

}  // namespace

std::string ConnectLoginPath(const std::string& home) { return home + "/connect-login.json"; }

Status WriteKeystoreConnect(const std::string& path, std::string_view passphrase,
                            std::string_view profile) {
  auto k = OpenKeystoreKey(path, passphrase);
  if (!k.ok()) return k.status();
  auto [nonce, cipher] = Seal((*k)->key, (*k)->ad, profile);
  nlohmann::json j = (*k)->j;
  j["connect"] = {{"alg", kCipherAlg},
                  {"nonce", grid::HexEncode(nonce)},
                  {"ciphertext", grid::HexEncode(cipher)}};
  return WritePrivateAtomic(path, j.dump(2) + "\n");
}

Result<std::optional<std::string>> ReadKeystoreConnect(const std::string& path,
                                                      std::string_view passphrase) {
  auto k = OpenKeystoreKey(path, passphrase);
  if (!k.ok()) return k.status();
  const auto& j = (*k)->j;
  if (!j.contains("connect")) return std::optional<std::string>();
  auto nonce = HexField(j, "connect", "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  if (!nonce.ok()) return nonce.status();
  auto cipher = HexField(j, "connect", "ciphertext", 0);
  if (!cipher.ok()) return cipher.status();
  auto plain = Unseal((*k)->key, (*k)->ad, *nonce, *cipher, "keystore " + path + " (connect)");
  if (!plain.ok()) return plain.status();
  return std::optional<std::string>(std::move(plain).value());
}

Status WriteSealedFile(const std::string& path, std::string_view label, std::string_view plaintext,
                       std::string_view passphrase, const KeystoreKdf& kdf) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  QSTOR_RETURN_IF_ERROR(CheckKdf(kdf.opslimit, kdf.memlimit));
  if (passphrase.size() < 8) {
    return Status::InvalidArgument("the passphrase must be at least 8 characters");
  }
  uint8_t salt[crypto_pwhash_SALTBYTES];
  randombytes_buf(salt, sizeof salt);
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  QSTOR_RETURN_IF_ERROR(DeriveKey(passphrase, salt, kdf.opslimit, kdf.memlimit, key));
  auto [nonce, cipher] = Seal(key, SealedAd(label, kdf.opslimit, kdf.memlimit), plaintext);
  sodium_memzero(key, sizeof key);
  nlohmann::json j{
      {"format", kSealedFormat},
      {"version", 1},
      {"label", std::string(label)},
      {"kdf",
       {{"alg", kKdfAlg},
        {"opslimit", kdf.opslimit},
        {"memlimit", kdf.memlimit},
        {"salt", grid::HexEncode(std::string_view(reinterpret_cast<char*>(salt), sizeof salt))}}},
      {"cipher",
       {{"alg", kCipherAlg}, {"nonce", grid::HexEncode(nonce)}, {"ciphertext", grid::HexEncode(cipher)}}}};
  return WritePrivateAtomic(path, j.dump(2) + "\n");
}

Result<std::string> ReadSealedFile(const std::string& path, std::string_view label,
                                   std::string_view passphrase) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  auto text = ReadFileBounded(path, kMaxKeystoreBytes, std::string(label));
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kSealedFormat ||
      j.value("version", 0) != 1 || j.value("label", "") != label || !j["kdf"].is_object() ||
      !j["kdf"]["opslimit"].is_number_unsigned() || !j["kdf"]["memlimit"].is_number_unsigned()) {
    return Status::Corruption(path + " is not a qstor sealed file of kind " + std::string(label));
  }
  uint64_t ops = j["kdf"]["opslimit"].get<uint64_t>(), mem = j["kdf"]["memlimit"].get<uint64_t>();
  QSTOR_RETURN_IF_ERROR(CheckKdf(ops, mem));
  auto salt = HexField(j, "kdf", "salt", crypto_pwhash_SALTBYTES);
  if (!salt.ok()) return salt.status();
  auto nonce = HexField(j, "cipher", "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  if (!nonce.ok()) return nonce.status();
  auto cipher = HexField(j, "cipher", "ciphertext", 0);
  if (!cipher.ok()) return cipher.status();
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  QSTOR_RETURN_IF_ERROR(
      DeriveKey(passphrase, reinterpret_cast<const uint8_t*>(salt->data()), ops, mem, key));
  auto plain = Unseal(key, SealedAd(label, ops, mem), *nonce, *cipher, path);
  sodium_memzero(key, sizeof key);
  return plain;
}

namespace {

PassphraseSource g_source;
std::string* g_remembered = nullptr;  // the passphrase of this process, once obtained

}  // namespace

Result<std::string> ReadPassphraseLine(int fd, const std::string& what) {
  std::string line;
  char c;
  bool any = false;
  for (;;) {
    ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      sodium_memzero(line.data(), line.size());
      return Status::IOError(what + ": " + std::strerror(e));
    }
    if (r == 0) break;
    any = true;
    if (c == '\n') break;
    line.push_back(c);
    if (line.size() > 4096) {
      sodium_memzero(line.data(), line.size());
      return Status::InvalidArgument(what + ": no end of line within 4096 bytes");
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!any) return Status::InvalidArgument(what + ": nothing to read (an empty passphrase?)");
  return line;
}

namespace {

Result<std::string> ReadFromSource(const PassphraseSource& s) {
  switch (s.kind) {
    case PassphraseSource::Kind::kNone:
      break;
    case PassphraseSource::Kind::kFd: {
      auto line = ReadPassphraseLine(s.fd, fmt::format("{} {}", s.origin, s.fd));
      ::close(s.fd);
      return line;
    }
    case PassphraseSource::Kind::kFile: {
      int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return Status::NotFound(fmt::format("{} {}: {}", s.origin, s.path, std::strerror(errno)));
      }
      auto line = ReadPassphraseLine(fd, s.origin + " " + s.path);
      ::close(fd);
      return line;
    }
    case PassphraseSource::Kind::kCommand: {
      int out[2];
      if (::pipe2(out, O_CLOEXEC) != 0) return Status::IOError("pipe: " + std::string(std::strerror(errno)));
      pid_t pid = ::fork();
      if (pid < 0) {
        ::close(out[0]);
        ::close(out[1]);
        return Status::IOError("fork: " + std::string(std::strerror(errno)));
      }
      if (pid == 0) {
        ::dup2(out[1], 1);
        ::execl("/bin/sh", "sh", "-c", s.command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      ::close(out[1]);
      auto line = ReadPassphraseLine(out[0], s.origin);
      // Drain the rest so the command does not block on a full pipe.
      char sink[4096];
      while (true) {
        ssize_t r = ::read(out[0], sink, sizeof sink);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
      }
      sodium_memzero(sink, sizeof sink);
      ::close(out[0]);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (line.ok()) sodium_memzero(line->data(), line->size());
        return Status::FailedPrecondition(fmt::format(
            "{} (`{}`) {}; no passphrase", s.origin, s.command,
            WIFEXITED(status) ? fmt::format("exited {}", WEXITSTATUS(status))
                              : fmt::format("was killed by signal {}", WTERMSIG(status))));
      }
      return line;
    }
  }
  return Status::Internal("no passphrase source");
}

Result<std::string> Remember(Result<std::string> got) {
  if (!got.ok()) return got;
  if (g_remembered == nullptr) g_remembered = new std::string();
  *g_remembered = *got;
  return got;
}

}  // namespace

void SetPassphraseSource(PassphraseSource source) { g_source = std::move(source); }
bool PassphraseSourceSet() { return g_source.kind != PassphraseSource::Kind::kNone; }
void ForgetPassphrase() {
  if (g_remembered == nullptr) return;
  sodium_memzero(g_remembered->data(), g_remembered->size());
  delete g_remembered;
  g_remembered = nullptr;
}

Result<std::string> ObtainPassphrase(const std::string& prompt, bool confirm) {
  if (g_remembered != nullptr) return *g_remembered;
  if (PassphraseSourceSet()) return Remember(ReadFromSource(g_source));
  const char* env = std::getenv("QSTOR_PASSPHRASE");
  if (env != nullptr) return Remember(std::string(env));
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Status::FailedPrecondition(
        "no terminal to ask for the keystore passphrase; set QSTOR_PASSPHRASE");
  }
  auto ask = [fd](const std::string& p) -> Result<std::string> {
    if (::write(fd, p.data(), p.size()) < 0) return Status::IOError("tty write failed");
    termios old {};
    bool have = ::tcgetattr(fd, &old) == 0;
    if (have) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      quiet.c_lflag |= ECHONL;
      ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    std::string line;
    char c;
    while (true) {
      ssize_t r = ::read(fd, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || c == '\n') break;
      line.push_back(c);
    }
    if (have) ::tcsetattr(fd, TCSAFLUSH, &old);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  };
  auto first = ask(prompt);
  if (!first.ok() || !confirm) {
    ::close(fd);
    return Remember(std::move(first));
  }
  auto second = ask("Repeat the passphrase: ");
  ::close(fd);
  if (!second.ok()) return second;
  bool same = *first == *second;
  sodium_memzero(second->data(), second->size());
  if (!same) {
    sodium_memzero(first->data(), first->size());
    return Status::InvalidArgument("the two passphrases differ");
  }
  return Remember(std::move(first));
}

Result<std::string> ReadMnemonicFile(const std::string& path) {
  int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::IOError("cannot read mnemonic file " + path + ": " + std::strerror(errno));
  }
  std::string words;
  char buf[512];
  Status st;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::IOError("reading mnemonic file " + path + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    if (words.size() + static_cast<size_t>(n) > 64 * 1024) {
      st = Status::InvalidArgument("mnemonic file " + path + " is larger than 64 KiB: not a mnemonic");
      break;
    }
    // Reserve once so the string never reallocates (and leaves no copy behind).
    if (words.capacity() < 64 * 1024) words.reserve(64 * 1024);
    words.append(buf, static_cast<size_t>(n));
  }
  sodium_memzero(buf, sizeof buf);
  if (fd != 0) ::close(fd);
  if (!st.ok()) {
    sodium_memzero(words.data(), words.size());
    return st;
  }
  return words;
}

}  // namespace qstor::reconciler
