#include "fs/codec.h"

#include <isa-l/erasure_code.h>
#include <sodium.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fs/aead.h"
#include "fs/poly1305.h"

namespace qstor::fs {
namespace {

constexpr char kAdMagic[] = "qstor.seg.v1";  // 12 bytes + NUL, NUL included
constexpr size_t kAdMagicSize = sizeof(kAdMagic);
constexpr size_t kAdIndexOffset = kAdMagicSize + 8 + 2;  // after version, k, m
// The incompressibility probe compresses kProbeWindows windows of
// kProbeWindow bytes spread evenly over the segment (16 KiB in all): a
// quarter of the former 64 KiB head sample's cost, which was ~5% of encoding
// a 1 MiB incompressible segment, and more representative of the whole.
constexpr size_t kProbeWindows = 4;
constexpr size_t kProbeWindow = 4 * 1024;
constexpr size_t kProbeSize = kProbeWindows * kProbeWindow;
// A sample whose byte histogram has at least this entropy (bits per byte)
// is taken as incompressible without running zstd on it: random 16 KiB
// measures ~7.99, text ~4-5. The histogram costs about half of zstd level 1
// on the sample (7 vs 15 us best case here; in the encode profile the probe
// went from 3.5% to 1.5% at 1 MiB). What this gives up: data of near-uniform bytes
// that repeats itself (e.g. one random block copied several times within a
// segment) is stored uncompressed.
constexpr double kIncompressibleEntropy = 7.9;

// Order-0 entropy of p[0, n) in bits per byte (n > 0).
double ByteEntropy(const uint8_t* p, size_t n) {
  uint32_t hist[4][256] = {};  // four tables: independent increments pipeline
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++hist[0][p[i]];
    ++hist[1][p[i + 1]];
    ++hist[2][p[i + 2]];
    ++hist[3][p[i + 3]];
  }
  for (; i < n; ++i) ++hist[0][p[i]];
  double bits = 0;
  const double total = static_cast<double>(n);
  for (int b = 0; b < 256; ++b) {
    uint32_t c = hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b];
    if (c != 0) bits -= c * std::log2(c / total);
  }
  return bits / total;
}
constexpr uint64_t kMaxChunk = kMaxSegmentSize + 64;

void PutLe(std::string* s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Human-safe rendering of a segment id for error messages.
std::string Printable(std::string_view id) {
  bool printable = std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (printable) return std::string(id);
  std::string hex(id.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(id.data()),
                 id.size());
  hex.pop_back();
  return "0x" + hex;
}

uint32_t ChunkFor(uint64_t payload, int k) {
  uint64_t c = (payload + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
  c = (c + 15) / 16 * 16;
  if (c < 16) c = 16;
  return static_cast<uint32_t>(c);
}

struct Matrix {
  std::vector<uint8_t> a;       // (k+m) x k encode matrix, first k rows identity
  std::vector<uint8_t> parity;  // ec_init_tables for the m parity rows
};

}  // namespace

struct Codec::Impl {
  CodecOptions options;
  ZSTD_CCtx* cctx = nullptr;
  ZSTD_DCtx* dctx = nullptr;
  std::vector<uint8_t> zbuf;     // compressed payload on encode
  std::vector<uint8_t> probe;    // the probe's windows, copied together
  std::vector<uint8_t> pbuf;     // decrypted payload on decode (zstd / rebuild)
  std::vector<std::string> rec;  // reconstructed data shards
  std::vector<uint8_t> dec_tables;
  std::string ad;
  std::map<int, Matrix> matrices;
  XChaCha20Poly1305 aead;  // data shards

  ~Impl() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }

  const Matrix& MatrixFor(int k, int m) {
    int key = (k << 8) | m;
    auto it = matrices.find(key);
    if (it != matrices.end()) return it->second;
    Matrix mx;
    mx.a.resize(static_cast<size_t>(k + m) * k);
    gf_gen_cauchy1_matrix(mx.a.data(), k + m, k);
    if (m > 0) {
      mx.parity.resize(static_cast<size_t>(32) * k * m);
      ec_init_tables(k, m, mx.a.data() + static_cast<size_t>(k) * k, mx.parity.data());
    }
    return matrices.emplace(key, std::move(mx)).first->second;
  }

  // Associated data for shard 0; SetAdIndex patches the index byte.
  void BuildAd(std::string_view id, uint64_t version, const SegmentInfo& info) {
    ad.clear();
    ad.append(kAdMagic, kAdMagicSize);
    PutLe(&ad, version, 8);
    PutLe(&ad, info.k, 1);
    PutLe(&ad, info.m, 1);
    PutLe(&ad, 0, 1);  // index
    PutLe(&ad, info.flags, 1);
    PutLe(&ad, info.plain_size, 8);
    PutLe(&ad, info.payload_size, 8);
    PutLe(&ad, info.chunk_size, 4);
    PutLe(&ad, id.size(), 2);
    ad.append(id);
  }
  void SetAdIndex(int index) { ad[kAdIndexOffset] = static_cast<char>(index); }
  const unsigned char* AdData() const { return reinterpret_cast<const unsigned char*>(ad.data()); }

  static std::array<uint8_t, kNonceSize> NonceFor(const SegmentInfo& info, int index) {
    std::array<uint8_t, kNonceSize> n = info.nonce;
    n[kNonceSize - 1] = static_cast<uint8_t>(index);
    return n;
  }

  // One-time Poly1305 key for parity shard `index` (AD index must be set).
  void ParityKey(const SecretKey& key, const SegmentInfo& info, int index,
                 unsigned char otk[kPoly1305KeySize]) {
    auto nonce = NonceFor(info, index);
    crypto_generichash_state st;
    crypto_generichash_init(&st, key.data(), SecretKey::kSize, kPoly1305KeySize);
    static const unsigned char kDomain[] = "qstor.parity-mac.v1";
    crypto_generichash_update(&st, kDomain, sizeof(kDomain));
    crypto_generichash_update(&st, AdData(), ad.size());
    crypto_generichash_update(&st, nonce.data(), nonce.size());
    crypto_generichash_final(&st, otk, kPoly1305KeySize);
  }

  bool VerifyParity(const SecretKey& key, const SegmentInfo& info, int index,
                    std::string_view shard) {
    if (shard.size() != info.shard_size()) return false;
    SetAdIndex(index);
    unsigned char otk[kPoly1305KeySize];
    ParityKey(key, info, index, otk);
    bool ok = Poly1305Verify(otk, reinterpret_cast<const uint8_t*>(shard.data()), shard.size(),
                             info.checks[index].data());
    sodium_memzero(otk, sizeof(otk));
    return ok;
  }

  // Decrypts data shard `index` (chunk || tag) into dst (chunk bytes).
  bool OpenData(const SecretKey& key, const SegmentInfo& info, int index, std::string_view shard,
                uint8_t* dst) {
    if (shard.size() != info.shard_size()) return false;
    SetAdIndex(index);
    auto nonce = NonceFor(info, index);
    const auto* c = reinterpret_cast<const uint8_t*>(shard.data());
    return aead.Open(dst, c, info.chunk_size, c + info.chunk_size, AdData(), ad.size(),
                     nonce.data(), key.data());
  }

  Status ValidateInfo(std::string_view id, const SegmentInfo& info, size_t nshards) const {
    std::string where = "codec: segment " + Printable(id);
    if (id.empty() || id.size() > kMaxSegmentIdSize) {
      return Status::InvalidArgument(where + ": segment id must be 1.." +
                                     std::to_string(kMaxSegmentIdSize) + " bytes");
    }
    if (info.k < 1 || info.total() > static_cast<int>(kMaxShards)) {
      return Status::InvalidArgument(where + ": bad k/m " + std::to_string(info.k) + "+" +
                                     std::to_string(info.m));
    }
    if (info.checks.size() != static_cast<size_t>(info.total()) ||
        nshards != static_cast<size_t>(info.total())) {
      return Status::InvalidArgument(where + ": expected " + std::to_string(info.total()) +
                                     " shard slots and checks");
    }
    if (info.chunk_size < 16 || info.chunk_size % 16 != 0 || info.chunk_size > kMaxChunk ||
        info.payload_size > static_cast<uint64_t>(info.k) * info.chunk_size ||
        info.plain_size > kMaxSegmentSize ||
        (!(info.flags & SegmentInfo::kFlagZstd) && info.payload_size != info.plain_size) ||
        (info.flags & ~SegmentInfo::kFlagZstd) != 0) {
      return Status::Corruption(where + ": inconsistent segment info (sizes/flags)");
    }
    return Status::OK();
  }

  // Verifies shards and recovers all k data chunks as plaintext into
  // `plain` (k * chunk bytes). If `cipher` is given, it receives the k data
  // shards (ciphertext || tag) as well.
  Status Recover(const SecretKey& key, std::string_view id, uint64_t version,
                 const SegmentInfo& info, std::span<const std::string_view> shards, uint8_t* plain,
                 std::vector<std::string>* cipher, std::vector<int>* bad) {
    QSTOR_RETURN_IF_ERROR(ValidateInfo(id, info, shards.size()));
    BuildAd(id, version, info);
    const int k = info.k, m = info.m;
    const size_t chunk = info.chunk_size, len = info.shard_size();
    std::vector<int> missing;
    std::vector<int> good;
    good.reserve(k);
    int n_missing_present = 0;
    for (int i = 0; i < k; ++i) {
      if (!shards[i].empty() && OpenData(key, info, i, shards[i], plain + i * chunk)) {
        good.push_back(i);
      } else {
        if (!shards[i].empty()) {
          if (bad) bad->push_back(i);
          ++n_missing_present;
        }
        missing.push_back(i);
      }
    }
    if (cipher) {
      cipher->resize(k);
      for (int i : good) (*cipher)[i].assign(shards[i]);
    }
    if (missing.empty()) return Status::OK();

    for (int i = k; i < k + m && good.size() < static_cast<size_t>(k); ++i) {
      if (shards[i].empty()) continue;
      if (VerifyParity(key, info, i, shards[i])) {
        good.push_back(i);
      } else if (bad) {
        bad->push_back(i);
      }
    }
    if (good.size() < static_cast<size_t>(k)) {
      return Status::Corruption("codec: segment " + Printable(id) + " v" +
                                std::to_string(version) + ": only " +
                                std::to_string(good.size()) + " of the " + std::to_string(k) +
                                " needed shards verify (wrong key, wrong segment id/version, "
                                "tampered metadata, or too many lost/corrupt shards)");
    }
    const Matrix& mx = MatrixFor(k, m);
    std::vector<uint8_t> b(static_cast<size_t>(k) * k), inv(static_cast<size_t>(k) * k);
    for (int r = 0; r < k; ++r) {
      std::memcpy(&b[static_cast<size_t>(r) * k], &mx.a[static_cast<size_t>(good[r]) * k], k);
    }
    if (gf_invert_matrix(b.data(), inv.data(), k) != 0) {
      return Status::Internal("codec: singular decode matrix (k=" + std::to_string(k) + ")");
    }
    const size_t nmiss = missing.size();
    std::vector<uint8_t> coef(nmiss * k);
    for (size_t j = 0; j < nmiss; ++j) {
      std::memcpy(&coef[j * k], &inv[static_cast<size_t>(missing[j]) * k], k);
    }
    dec_tables.resize(32 * static_cast<size_t>(k) * nmiss);
    ec_init_tables(k, static_cast<int>(nmiss), coef.data(), dec_tables.data());
    std::vector<unsigned char*> src(k), out(nmiss);
    for (int r = 0; r < k; ++r) {
      src[r] = reinterpret_cast<unsigned char*>(const_cast<char*>(shards[good[r]].data()));
    }
    if (rec.size() < nmiss) rec.resize(nmiss);
    for (size_t j = 0; j < nmiss; ++j) {
      rec[j].resize(len);
      out[j] = reinterpret_cast<unsigned char*>(rec[j].data());
    }
    ec_encode_data(static_cast<int>(len), k, static_cast<int>(nmiss), dec_tables.data(), src.data(),
                   out.data());
    for (size_t j = 0; j < nmiss; ++j) {
      int i = missing[j];
      if (!OpenData(key, info, i, rec[j], plain + i * chunk)) {
        return Status::Corruption("codec: segment " + Printable(id) + " v" +
                                  std::to_string(version) + ": rebuilt data shard " +
                                  std::to_string(i) + " fails authentication");
      }
      if (cipher) (*cipher)[i] = rec[j];
    }
    return Status::OK();
  }
};

Codec::Codec(CodecOptions options) : impl_(std::make_unique<Impl>()) {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all
  impl_->options = options;
  impl_->cctx = ZSTD_createCCtx();
  impl_->dctx = ZSTD_createDCtx();
}

Codec::~Codec() = default;

Status Codec::Encode(const SecretKey& key, std::string_view segment_id, uint64_t version, int k,
                     int m, std::string_view plain, EncodedSegment* out) {
  Impl& s = *impl_;
  std::string where = "codec: encode segment " + Printable(segment_id);
  if (segment_id.empty() || segment_id.size() > kMaxSegmentIdSize) {
    return Status::InvalidArgument(where + ": segment id must be 1.." +
                                   std::to_string(kMaxSegmentIdSize) + " bytes");
  }
  if (k < 1 || m < 0 || k + m > static_cast<int>(kMaxShards)) {
    return Status::InvalidArgument(where + ": need 1 <= k and k+m <= 255, got " +
                                   std::to_string(k) + "+" + std::to_string(m));
  }
  if (plain.size() > kMaxSegmentSize) {
    return Status::InvalidArgument(where + ": " + std::to_string(plain.size()) +
                                   " bytes exceeds the segment limit of " +
                                   std::to_string(kMaxSegmentSize));
  }
  SegmentInfo& info = out->info;
  info.k = static_cast<uint8_t>(k);
  info.m = static_cast<uint8_t>(m);
  info.flags = 0;
  info.plain_size = plain.size();

  const uint8_t* payload = reinterpret_cast<const uint8_t*>(plain.data());
  size_t payload_size = plain.size();
  if (s.options.compress && plain.size() >= 256) {
    // Cheap probe on a sample first: incompressible data (already compressed
    // or encrypted) skips zstd entirely; near-uniform bytes skip even the
    // probe's zstd run.
    const uint8_t* sample = payload;
    size_t sample_size = plain.size();
    if (plain.size() > kProbeSize) {
      s.probe.resize(kProbeSize);
      const size_t stride = (plain.size() - kProbeWindow) / (kProbeWindows - 1);
      for (size_t w = 0; w < kProbeWindows; ++w) {
        std::memcpy(s.probe.data() + w * kProbeWindow, payload + w * stride, kProbeWindow);
      }
      sample = s.probe.data();
      sample_size = kProbeSize;
    }
    if (ByteEntropy(sample, sample_size) < kIncompressibleEntropy) {
      size_t bound = ZSTD_compressBound(plain.size());
      if (s.zbuf.size() < bound) s.zbuf.resize(bound);
      size_t r = ZSTD_compressCCtx(s.cctx, s.zbuf.data(), s.zbuf.size(), sample, sample_size,
                                   s.options.zstd_level);
      if (!ZSTD_isError(r) && r < sample_size - sample_size / 10) {
        if (sample_size < plain.size()) {
          r = ZSTD_compressCCtx(s.cctx, s.zbuf.data(), s.zbuf.size(), plain.data(), plain.size(),
                                s.options.zstd_level);
        }
        if (!ZSTD_isError(r) && r <= plain.size() - plain.size() / 32) {
          payload = s.zbuf.data();
          payload_size = r;
          info.flags |= SegmentInfo::kFlagZstd;
        }
      }
    }
  }
  info.payload_size = payload_size;
  info.chunk_size = ChunkFor(payload_size, k);
  randombytes_buf(info.nonce.data(), kNonceSize - 1);
  info.nonce[kNonceSize - 1] = 0;
  info.checks.resize(k + m);

  const size_t chunk = info.chunk_size, len = info.shard_size();
  out->shards.resize(k + m);
  for (auto& sh : out->shards) {
    if (sh.size() != len) sh.resize(len);
  }
  s.BuildAd(segment_id, version, info);
  for (int i = 0; i < k; ++i) {
    auto* dst = reinterpret_cast<unsigned char*>(out->shards[i].data());
    size_t start = static_cast<size_t>(i) * chunk;
    size_t have = payload_size > start ? std::min(chunk, payload_size - start) : 0;
    const unsigned char* src = payload + start;
    if (have < chunk) {  // last chunk: pad in place with zeros
      if (have) std::memmove(dst, src, have);
      std::memset(dst + have, 0, chunk - have);
      src = dst;
    }
    s.SetAdIndex(i);
    auto nonce = Impl::NonceFor(info, i);
    s.aead.Seal(dst, dst + chunk, src, chunk, s.AdData(), s.ad.size(), nonce.data(), key.data());
    std::memcpy(info.checks[i].data(), dst + chunk, kCheckSize);
  }
  if (m > 0) {
    const Matrix& mx = s.MatrixFor(k, m);
    unsigned char* dp[kMaxShards];
    unsigned char* pp[kMaxShards];
    for (int i = 0; i < k; ++i) dp[i] = reinterpret_cast<unsigned char*>(out->shards[i].data());
    for (int i = 0; i < m; ++i) pp[i] = reinterpret_cast<unsigned char*>(out->shards[k + i].data());
    ec_encode_data(static_cast<int>(len), k, m, const_cast<unsigned char*>(mx.parity.data()), dp,
                   pp);
    for (int i = k; i < k + m; ++i) {
      s.SetAdIndex(i);
      unsigned char otk[kPoly1305KeySize];
      s.ParityKey(key, info, i, otk);
      Poly1305(otk, reinterpret_cast<const uint8_t*>(out->shards[i].data()), len,
               info.checks[i].data());
      sodium_memzero(otk, sizeof(otk));
    }
  }
  return Status::OK();
}

Result<std::string> Codec::Decode(const SecretKey& key, std::string_view segment_id,
                                  uint64_t version, const SegmentInfo& info,
                                  std::span<const std::string_view> shards, std::vector<int>* bad) {
  Impl& s = *impl_;
  QSTOR_RETURN_IF_ERROR(s.ValidateInfo(segment_id, info, shards.size()));
  const size_t full = static_cast<size_t>(info.k) * info.chunk_size;
  if (!(info.flags & SegmentInfo::kFlagZstd)) {
    std::string out;
    out.resize(full);
    QSTOR_RETURN_IF_ERROR(s.Recover(key, segment_id, version, info, shards,
                                    reinterpret_cast<uint8_t*>(out.data()), nullptr, bad));
    out.resize(info.plain_size);
    return out;
  }
  if (s.pbuf.size() < full) s.pbuf.resize(full);
  QSTOR_RETURN_IF_ERROR(
      s.Recover(key, segment_id, version, info, shards, s.pbuf.data(), nullptr, bad));
  std::string out;
  out.resize(info.plain_size);
  size_t r = ZSTD_decompressDCtx(s.dctx, out.data(), out.size(), s.pbuf.data(), info.payload_size);
  if (ZSTD_isError(r) || r != info.plain_size) {
    return Status::Corruption("codec: segment " + Printable(segment_id) +
                              ": authenticated payload does not decompress to the recorded size");
  }
  return out;
}

bool Codec::VerifyShard(const SecretKey& key, std::string_view segment_id, uint64_t version,
                        const SegmentInfo& info, int index, std::string_view shard) {
  Impl& s = *impl_;
  if (!s.ValidateInfo(segment_id, info, info.checks.size()).ok()) return false;
  if (index < 0 || index >= info.total()) return false;
  s.BuildAd(segment_id, version, info);
  if (index >= info.k) return s.VerifyParity(key, info, index, shard);
  if (s.pbuf.size() < info.chunk_size) s.pbuf.resize(info.chunk_size);
  return s.OpenData(key, info, index, shard, s.pbuf.data());
}

Result<std::vector<std::string>> Codec::Rebuild(const SecretKey& key, std::string_view segment_id,
                                                uint64_t version, const SegmentInfo& info,
                                                std::span<const std::string_view> shards,
                                                std::span<const int> wanted) {
  Impl& s = *impl_;
  QSTOR_RETURN_IF_ERROR(s.ValidateInfo(segment_id, info, shards.size()));
  for (int w : wanted) {
    if (w < 0 || w >= info.total()) {
      return Status::InvalidArgument("codec: rebuild: shard index " + std::to_string(w) +
                                     " out of range");
    }
  }
  const size_t full = static_cast<size_t>(info.k) * info.chunk_size;
  if (s.pbuf.size() < full) s.pbuf.resize(full);
  std::vector<std::string> data;
  QSTOR_RETURN_IF_ERROR(
      s.Recover(key, segment_id, version, info, shards, s.pbuf.data(), &data, nullptr));
  std::vector<std::string> parity;
  bool need_parity = std::any_of(wanted.begin(), wanted.end(), [&](int w) { return w >= info.k; });
  if (need_parity && info.m > 0) {
    const int k = info.k, m = info.m;
    const size_t len = info.shard_size();
    const Matrix& mx = s.MatrixFor(k, m);
    parity.assign(m, std::string(len, '\0'));
    unsigned char* dp[kMaxShards];
    unsigned char* pp[kMaxShards];
    for (int i = 0; i < k; ++i) dp[i] = reinterpret_cast<unsigned char*>(data[i].data());
    for (int i = 0; i < m; ++i) pp[i] = reinterpret_cast<unsigned char*>(parity[i].data());
    ec_encode_data(static_cast<int>(len), k, m, const_cast<unsigned char*>(mx.parity.data()), dp,
                   pp);
  }
  std::vector<std::string> result;
  result.reserve(wanted.size());
  for (int w : wanted) {
    result.push_back(w < info.k ? data[w] : parity[w - info.k]);
  }
  return result;
}

}  // namespace qstor::fs
