#include "grid/identity.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "grid/bip39.h"

namespace qstor::grid {
namespace {

constexpr char kMasterContext[] = "qstor/identity/master/v1";
constexpr char kCtxData[crypto_kdf_CONTEXTBYTES + 1] = "qstordat";
constexpr char kCtxMeta[crypto_kdf_CONTEXTBYTES + 1] = "qstormet";
constexpr char kCtxNamespace[crypto_kdf_CONTEXTBYTES + 1] = "qstornsp";
constexpr uint64_t kSubkeyId = 1;

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), p, n);
  s.pop_back();
  return s;
}

void AppendLenPrefixed(std::vector<uint8_t>& buf, std::string_view s) {
  uint64_t n = s.size();
  for (int i = 0; i < 8; ++i) buf.push_back(static_cast<uint8_t>(n >> (8 * i)));
  buf.insert(buf.end(), s.begin(), s.end());
}

}  // namespace

Result<std::array<uint8_t, 32>> SubstrateMiniSecret(std::span<const uint8_t> entropy,
                                                    std::string_view password) {
  size_t n = entropy.size();
  if (n < 16 || n > 32 || n % 4 != 0) {
    return Status::InvalidArgument("identity: entropy must be 16..32 bytes in steps of 4, got " +
                                   std::to_string(n));
  }
  std::string salt = "mnemonic";
  salt.append(password);
  // The password of PBKDF2 here is the entropy (raw bytes), not the words.
  std::string_view key(reinterpret_cast<const char*>(entropy.data()), n);
  std::array<uint8_t, 64> seed{};
  Status st = bip39::Pbkdf2HmacSha512(
      key, std::span(reinterpret_cast<const uint8_t*>(salt.data()), salt.size()), 2048, seed);
  sodium_memzero(salt.data(), salt.size());
  if (!st.ok()) return st;
  std::array<uint8_t, 32> mini{};
  std::copy(seed.begin(), seed.begin() + 32, mini.begin());
  sodium_memzero(seed.data(), seed.size());
  return mini;
}

Result<Identity> Identity::FromMnemonic(std::string_view mnemonic, std::string_view password) {
  if (sodium_init() < 0) return Status::Internal("identity: libsodium failed to initialise");
  auto entropy = bip39::MnemonicToEntropy(mnemonic);
  if (!entropy.ok()) return entropy.status();
  auto mini = SubstrateMiniSecret(*entropy, password);
  sodium_memzero(entropy->data(), entropy->size());
  if (!mini.ok()) return mini.status();

  Identity id;
  id.mini_ = *mini;
  std::array<uint8_t, 64> sk{};
  crypto_sign_seed_keypair(id.public_key_.data(), sk.data(), mini->data());
  sodium_memzero(sk.data(), sk.size());
  crypto_generichash(id.master_.data(), id.master_.size(),
                     reinterpret_cast<const unsigned char*>(kMasterContext),
                     sizeof kMasterContext - 1, mini->data(), mini->size());
  sodium_memzero(mini->data(), mini->size());
  return id;
}

Identity::Identity(Identity&& other) noexcept
    : mini_(other.mini_), public_key_(other.public_key_), master_(other.master_) {
  other.Wipe();
}

Identity& Identity::operator=(Identity&& other) noexcept {
  if (this != &other) {
    mini_ = other.mini_;
    public_key_ = other.public_key_;
    master_ = other.master_;
    other.Wipe();
  }
  return *this;
}

Identity::~Identity() { Wipe(); }

void Identity::Wipe() {
  sodium_memzero(mini_.data(), mini_.size());
  sodium_memzero(master_.data(), master_.size());
}

std::string Identity::PublicKeyHex() const { return Hex(public_key_.data(), public_key_.size()); }

std::string Identity::Address() const { return Ss58Address(public_key_, 42); }

std::string Identity::Sr25519Address() const {
  return Ss58Address(Sr25519PublicFromMini(mini_), 42);
}

Ed25519Key Identity::TwinKey() const { return Ed25519Key::FromSeed(mini_); }

SymmetricKey Identity::DataKey() const {
  SymmetricKey k{};
  crypto_kdf_derive_from_key(k.data(), k.size(), kSubkeyId, kCtxData, master_.data());
  return k;
}

SymmetricKey Identity::MetadataKey() const {
  SymmetricKey k{};
  crypto_kdf_derive_from_key(k.data(), k.size(), kSubkeyId, kCtxMeta, master_.data());
  return k;
}

Result<std::string> Identity::NamespacePassword(std::string_view manifest_name,
                                                std::string_view network,
                                                std::string_view role, uint32_t index) const {
  if (manifest_name.empty() || network.empty() || role.empty()) {
    return Status::InvalidArgument(
        "identity: namespace password needs a manifest name, a network and a role");
  }
  SymmetricKey root{};
  crypto_kdf_derive_from_key(root.data(), root.size(), kSubkeyId, kCtxNamespace, master_.data());
  std::vector<uint8_t> msg;
  AppendLenPrefixed(msg, manifest_name);
  AppendLenPrefixed(msg, network);
  AppendLenPrefixed(msg, role);
  for (int i = 0; i < 4; ++i) msg.push_back(static_cast<uint8_t>(index >> (8 * i)));
  uint8_t out[16];
  crypto_generichash(out, sizeof out, msg.data(), msg.size(), root.data(), root.size());
  sodium_memzero(root.data(), root.size());
  std::string pw = Hex(out, sizeof out);
  sodium_memzero(out, sizeof out);
  return pw;
}

}  // namespace qstor::grid
