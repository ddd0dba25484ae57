#include "grid/bip39.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <mutex>

extern const unsigned char kQstorBip39English[];
extern const unsigned long kQstorBip39EnglishSize;

namespace qstor::grid::bip39 {
namespace {

std::string ToHex(const uint8_t* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

struct Loaded {
  Status status;
  std::vector<std::string> words;
};

const Loaded& Load() {
  static const Loaded loaded = [] {
    Loaded l;
    if (sodium_init() < 0) {
      l.status = Status::Internal("bip39: libsodium failed to initialise");
      return l;
    }
    std::string_view bytes = EnglishWordlistBytes();
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size());
    std::string hex = ToHex(digest, sizeof digest);
    if (hex != kEnglishWordlistSha256) {
      l.status = Status::Corruption("bip39: embedded English wordlist has SHA-256 " + hex +
                                    ", expected " + kEnglishWordlistSha256);
      return l;
    }
    size_t start = 0;
    while (start < bytes.size()) {
      size_t nl = bytes.find('\n', start);
      if (nl == std::string_view::npos) nl = bytes.size();
      l.words.emplace_back(bytes.substr(start, nl - start));
      start = nl + 1;
    }
    if (l.words.size() != 2048 || !std::is_sorted(l.words.begin(), l.words.end())) {
      l.status = Status::Corruption("bip39: embedded English wordlist does not hold 2048 sorted words");
      l.words.clear();
    }
    return l;
  }();
  return loaded;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Splits on whitespace and lower-cases ASCII letters.
std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

void Wipe(std::vector<std::string>& words) {
  for (auto& w : words) sodium_memzero(w.data(), w.size());
}

}  // namespace

std::string_view EnglishWordlistBytes() {
  return {reinterpret_cast<const char*>(kQstorBip39English),
          static_cast<size_t>(kQstorBip39EnglishSize)};
}

Result<const std::vector<std::string>*> EnglishWordlist() {
  const Loaded& l = Load();
  if (!l.status.ok()) return l.status;
  return &l.words;
}

Status Pbkdf2HmacSha512(std::string_view password, std::span<const uint8_t> salt,
                        uint32_t iterations, std::span<uint8_t> out) {
  if (iterations == 0) return Status::InvalidArgument("pbkdf2: iterations must be >= 1");
  if (out.empty()) return Status::InvalidArgument("pbkdf2: output length must be >= 1");
  if (sodium_init() < 0) return Status::Internal("pbkdf2: libsodium failed to initialise");
  constexpr size_t kH = crypto_auth_hmacsha512_BYTES;  // 64
  // The password is the HMAC key; keying once and copying the state saves
  // hashing the key on every round.
  crypto_auth_hmacsha512_state keyed;
  crypto_auth_hmacsha512_init(&keyed, reinterpret_cast<const unsigned char*>(password.data()),
                              password.size());
  uint8_t u[kH], t[kH];
  size_t blocks = (out.size() + kH - 1) / kH;
  for (size_t b = 1; b <= blocks; ++b) {
    uint8_t be[4] = {static_cast<uint8_t>(b >> 24), static_cast<uint8_t>(b >> 16),
                     static_cast<uint8_t>(b >> 8), static_cast<uint8_t>(b)};
    crypto_auth_hmacsha512_state st = keyed;
    crypto_auth_hmacsha512_update(&st, salt.data(), salt.size());
    crypto_auth_hmacsha512_update(&st, be, sizeof be);
    crypto_auth_hmacsha512_final(&st, u);
    std::copy(u, u + kH, t);
    for (uint32_t i = 1; i < iterations; ++i) {
      st = keyed;
      crypto_auth_hmacsha512_update(&st, u, kH);
      crypto_auth_hmacsha512_final(&st, u);
      for (size_t k = 0; k < kH; ++k) t[k] ^= u[k];
    }
    size_t off = (b - 1) * kH;
    size_t n = std::min(kH, out.size() - off);
    std::copy(t, t + n, out.data() + off);
    sodium_memzero(&st, sizeof st);
  }
  sodium_memzero(&keyed, sizeof keyed);
  sodium_memzero(u, sizeof u);
  sodium_memzero(t, sizeof t);
  return Status::OK();
}

Result<std::string> EntropyToMnemonic(std::span<const uint8_t> entropy) {
  size_t n = entropy.size();
  if (n < 16 || n > 32 || n % 4 != 0) {
    return Status::InvalidArgument("bip39: entropy must be 16, 20, 24, 28 or 32 bytes, got " +
                                   std::to_string(n));
  }
  auto list = EnglishWordlist();
  if (!list.ok()) return list.status();
  uint8_t hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, entropy.data(), n);
  size_t cs_bits = n * 8 / 32;
  size_t total_bits = n * 8 + cs_bits;
  auto bit = [&](size_t i) -> unsigned {
    if (i < n * 8) return (entropy[i / 8] >> (7 - i % 8)) & 1u;
    i -= n * 8;
    return (hash[i / 8] >> (7 - i % 8)) & 1u;
  };
  std::string out;
  for (size_t w = 0; w < total_bits / 11; ++w) {
    unsigned idx = 0;
    for (size_t k = 0; k < 11; ++k) idx = (idx << 1) | bit(w * 11 + k);
    if (!out.empty()) out.push_back(' ');
    out += (**list)[idx];
  }
  sodium_memzero(hash, sizeof hash);
  return out;
}

std::string SuggestWord(std::string_view word) {
  auto list = EnglishWordlist();
  if (!list.ok() || word.empty()) return {};
  const auto& words = **list;
  // BIP39 English words are unique in their first four letters.
  if (word.size() >= 4) {
    std::string_view prefix = word.substr(0, 4);
    for (const auto& w : words) {
      if (w.compare(0, 4, prefix) == 0) return w;
    }
  }
  // Smallest edit distance; ties go to the longest shared prefix (typos
  // are more often late in a word than at its start).
  size_t best = SIZE_MAX, best_prefix = 0;
  std::string best_word;
  for (const auto& w : words) {
    size_t d = EditDistance(word, w);
    size_t p = 0;
    while (p < w.size() && p < word.size() && w[p] == word[p]) ++p;
    if (d < best || (d == best && p > best_prefix)) {
      best = d;
      best_prefix = p;
      best_word = w;
    }
  }
  return best_word;
}

Result<std::vector<uint8_t>> MnemonicToEntropy(std::string_view mnemonic) {
  auto list = EnglishWordlist();
  if (!list.ok()) return list.status();
  const auto& words = **list;
  std::vector<std::string> in = SplitWords(mnemonic);
  size_t count = in.size();
  if (count != 12 && count != 15 && count != 18 && count != 21 && count != 24) {
    Wipe(in);
    return Status::InvalidArgument("mnemonic: expected 12, 15, 18, 21 or 24 words, got " +
                                   std::to_string(count));
  }
  std::vector<unsigned> idx(count);
  for (size_t i = 0; i < count; ++i) {
    auto it = std::lower_bound(words.begin(), words.end(), in[i]);
    if (it == words.end() || *it != in[i]) {
      std::string msg = "mnemonic: word " + std::to_string(i + 1) + " \"" + in[i] +
                        "\" is not in the BIP39 English wordlist";
      std::string hint = SuggestWord(in[i]);
      if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
      Wipe(in);
      return Status::InvalidArgument(msg);
    }
    idx[i] = static_cast<unsigned>(it - words.begin());
  }
  Wipe(in);
  size_t total_bits = count * 11;
  size_t cs_bits = total_bits / 33;
  size_t ent_bytes = (total_bits - cs_bits) / 8;
  std::vector<uint8_t> entropy(ent_bytes, 0);
  auto bit = [&](size_t i) -> unsigned { return (idx[i / 11] >> (10 - i % 11)) & 1u; };
  for (size_t i = 0; i < ent_bytes * 8; ++i) {
    entropy[i / 8] = static_cast<uint8_t>(entropy[i / 8] | (bit(i) << (7 - i % 8)));
  }
  uint8_t hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, entropy.data(), entropy.size());
  bool good = true;
  for (size_t k = 0; k < cs_bits; ++k) {
    unsigned want = (hash[k / 8] >> (7 - k % 8)) & 1u;
    if (bit(ent_bytes * 8 + k) != want) good = false;
  }
  sodium_memzero(hash, sizeof hash);
  sodium_memzero(idx.data(), idx.size() * sizeof(unsigned));
  if (!good) {
    sodium_memzero(entropy.data(), entropy.size());
    return Status::InvalidArgument(
        "mnemonic: checksum does not match (a word is wrong or the words are out of order)");
  }
  return entropy;
}

Status ValidateMnemonic(std::string_view mnemonic) {
  auto e = MnemonicToEntropy(mnemonic);
  if (!e.ok()) return e.status();
  sodium_memzero(e->data(), e->size());
  return Status::OK();
}

Result<std::string> NormalizeMnemonic(std::string_view mnemonic) {
  auto e = MnemonicToEntropy(mnemonic);
  if (!e.ok()) return e.status();
  auto m = EntropyToMnemonic(*e);
  sodium_memzero(e->data(), e->size());
  return m;
}

Result<std::string> GenerateMnemonic24() {
  if (sodium_init() < 0) return Status::Internal("bip39: libsodium failed to initialise");
  uint8_t entropy[32];
  randombytes_buf(entropy, sizeof entropy);
  auto m = EntropyToMnemonic(entropy);
  sodium_memzero(entropy, sizeof entropy);
  return m;
}

Result<std::array<uint8_t, 64>> MnemonicToSeed(std::string_view mnemonic,
                                               std::string_view passphrase) {
  auto norm = NormalizeMnemonic(mnemonic);
  if (!norm.ok()) return norm.status();
  std::string salt = "mnemonic";
  salt.append(passphrase);
  std::array<uint8_t, 64> seed{};
  Status st = Pbkdf2HmacSha512(
      *norm, std::span(reinterpret_cast<const uint8_t*>(salt.data()), salt.size()), 2048, seed);
  sodium_memzero(norm->data(), norm->size());
  sodium_memzero(salt.data(), salt.size());
  if (!st.ok()) return st;
  return seed;
}

}  // namespace qstor::grid::bip39
