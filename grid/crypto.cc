#include "grid/crypto.h"

#include <sodium.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "grid/tfchain/scale.h"

namespace qstor::grid {
namespace {

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      // libsodium cannot initialise only when no entropy source exists; every
      // later call would be unsafe, so stop here loudly.
      std::abort();
    }
  });
}

constexpr char kB58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

std::string Base58Encode(const std::vector<uint8_t>& in) {
  size_t zeros = 0;
  while (zeros < in.size() && in[zeros] == 0) ++zeros;
  std::vector<uint8_t> b58((in.size() - zeros) * 138 / 100 + 1, 0);
  size_t length = 0;
  for (size_t i = zeros; i < in.size(); ++i) {
    int carry = in[i];
    size_t j = 0;
    for (auto it = b58.rbegin(); (carry != 0 || j < length) && it != b58.rend(); ++it, ++j) {
      carry += 256 * (*it);
      *it = uint8_t(carry % 58);
      carry /= 58;
    }
    length = j;
  }
  auto it = b58.begin() + (b58.size() - length);
  while (it != b58.end() && *it == 0) ++it;
  std::string out(zeros, '1');
  for (; it != b58.end(); ++it) out += kB58[*it];
  return out;
}

Result<std::vector<uint8_t>> Base58Decode(std::string_view s) {
  size_t zeros = 0;
  while (zeros < s.size() && s[zeros] == '1') ++zeros;
  std::vector<uint8_t> b256(s.size() * 733 / 1000 + 1, 0);
  size_t length = 0;
  for (size_t i = zeros; i < s.size(); ++i) {
    const char* p = std::strchr(kB58, s[i]);
    if (p == nullptr || s[i] == '\0') return Status::InvalidArgument("ss58: bad base58 character");
    int carry = int(p - kB58);
    size_t j = 0;
    for (auto it = b256.rbegin(); (carry != 0 || j < length) && it != b256.rend(); ++it, ++j) {
      carry += 58 * (*it);
      *it = uint8_t(carry % 256);
      carry /= 256;
    }
    length = j;
  }
  auto it = b256.begin() + (b256.size() - length);
  std::vector<uint8_t> out(zeros, 0);
  out.insert(out.end(), it, b256.end());
  return out;
}

}  // namespace

// One hex implementation for the project: grid/tfchain's (qstor_grid links
// qstor_tfchain; the reverse would be a cycle).
std::string HexEncode(std::string_view bytes) { return tfchain::ToHex(bytes); }

Result<std::string> HexDecode(std::string_view hex) { return tfchain::FromHex(hex); }

Ed25519Key::~Ed25519Key() { sodium_memzero(sk_.data(), sk_.size()); }

Ed25519Key Ed25519Key::FromSeed(const std::array<uint8_t, 32>& seed) {
  EnsureSodium();
  Ed25519Key k;
  crypto_sign_seed_keypair(k.pk_.data(), k.sk_.data(), seed.data());
  return k;
}

Ed25519Key Ed25519Key::Generate() {
  EnsureSodium();
  std::array<uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  Ed25519Key k = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return k;
}

Result<Ed25519Key> Ed25519Key::FromSeedHex(std::string_view hex) {
  auto raw = HexDecode(hex);
  if (!raw.ok() || raw->size() != 32) {
    return Status::InvalidArgument("ed25519 seed: expected 64 hex characters");
  }
  std::array<uint8_t, 32> seed;
  std::memcpy(seed.data(), raw->data(), 32);
  Ed25519Key k = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(raw->data(), raw->size());
  return k;
}

std::string Ed25519Key::PublicKeyHex() const {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(pk_.data()), pk_.size()));
}

std::string Ed25519Key::SeedHex() const {
  // libsodium's secret key is seed || public key.
  return HexEncode(std::string_view(reinterpret_cast<const char*>(sk_.data()), 32));
}

std::string Ed25519Key::Sign(std::string_view message) const {
  EnsureSodium();
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       sk_.data());
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  EnsureSodium();
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(public_key.data())) ==
         0;
}

bool Ed25519VerifyHex(std::string_view public_key_hex, std::string_view message,
                      std::string_view signature_hex) {
  auto pk = HexDecode(public_key_hex);
  auto sig = HexDecode(signature_hex);
  if (!pk.ok() || !sig.ok()) return false;
  return Ed25519Verify(*pk, message, *sig);
}

Result<PublicKey> ParsePublicKeyHex(std::string_view hex) {
  auto raw = HexDecode(hex);
  if (!raw.ok() || raw->size() != 32) {
    return Status::InvalidArgument("public key: expected 64 hex characters");
  }
  PublicKey pk;
  std::memcpy(pk.data(), raw->data(), 32);
  return pk;
}

static std::array<uint8_t, 64> Ss58Checksum(const uint8_t* data, size_t n) {
  EnsureSodium();
  std::array<uint8_t, 64> h;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 64);
  static const char kPre[] = "SS58PRE";
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kPre), 7);
  crypto_generichash_update(&st, data, n);
  crypto_generichash_final(&st, h.data(), 64);
  return h;
}

std::string Ss58Address(const PublicKey& pk, uint8_t prefix) {
  std::vector<uint8_t> v;
  v.push_back(prefix);  // simple (one-byte) prefix: valid for prefixes < 64
  v.insert(v.end(), pk.begin(), pk.end());
  auto h = Ss58Checksum(v.data(), v.size());
  v.push_back(h[0]);
  v.push_back(h[1]);
  return Base58Encode(v);
}

Result<PublicKey> Ss58Decode(std::string_view address) {
  auto raw = Base58Decode(address);
  if (!raw.ok()) return raw.status();
  if (raw->size() != 35) return Status::InvalidArgument("ss58: expected 35 decoded bytes");
  auto h = Ss58Checksum(raw->data(), 33);
  if (h[0] != (*raw)[33] || h[1] != (*raw)[34]) {
    return Status::InvalidArgument("ss58: checksum mismatch");
  }
  PublicKey pk;
  std::memcpy(pk.data(), raw->data() + 1, 32);
  return pk;
}

PublicKey Sr25519PublicFromMini(const std::array<uint8_t, 32>& mini) {
  std::array<uint8_t, 64> h{};
  crypto_hash_sha512(h.data(), mini.data(), mini.size());
  std::array<uint8_t, 32> key{};
  std::memcpy(key.data(), h.data(), 32);
  key[0] &= 248;
  key[31] &= 63;
  key[31] |= 64;
  // schnorrkel divide_scalar_bytes_by_cofactor: the little-endian 256-bit
  // number shifted right by 3 bits.
  uint8_t low = 0;
  for (size_t i = key.size(); i-- > 0;) {
    const uint8_t r = key[i] & 0x07;
    key[i] = uint8_t((key[i] >> 3) + low);
    low = uint8_t(r << 5);
  }
  PublicKey pk{};
  // The scalar is below 2^252 and non-zero (bit 246 is set), so the product
  // is never the identity and the call cannot fail.
  if (crypto_scalarmult_ristretto255_base(pk.data(), key.data()) != 0) pk.fill(0);
  sodium_memzero(h.data(), h.size());
  sodium_memzero(key.data(), key.size());
  return pk;
}

}  // namespace qstor::grid
