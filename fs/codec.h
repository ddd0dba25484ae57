// fs::Codec: turns one segment (a byte string) into k+m shards and back.
//
// Pipeline on Encode, per segment:
//   1. optional zstd (level 1); skipped when a 16 KiB sample (four 4 KiB
//      windows spread over the segment) has near-uniform bytes (entropy
//      >= 7.9 bits/byte) or does not shrink by 10% under zstd, or when the
//      result would not be at least 3% smaller;
//   2. the payload is cut into k equal chunks (the last one zero-padded);
//      each chunk is sealed with XChaCha20-Poly1305-IETF (libsodium) under
//      the data key, with its own nonce (24 random bytes per segment, the
//      last byte replaced by the shard index) and associated data that binds
//      segment id, version, k, m, shard index, flags and all sizes; a data
//      shard is chunk ciphertext || 16-byte tag, so the tag is that shard's
//      cryptographic checksum;
//   3. m parity shards are computed over the k data shards with Reed-Solomon
//      (ISA-L, Cauchy matrix over GF(2^8));
//   4. each parity shard gets a 16-byte Poly1305 MAC under a one-time key
//      derived with keyed BLAKE2b from (data key, associated data, nonce)
//      (computed by fs/poly1305.h: OpenSSL's vectorised Poly1305, same bytes
//      as libsodium's).
// All shards have the same size (chunk + 16). See docs/storage-engine.md for
// why per-shard checksums are AEAD tags / Poly1305 and not BLAKE2b hashes.
//
// Decode accepts any subset of shards; shards whose tag/MAC does not verify
// are discarded; from any k valid shards the segment is rebuilt. A wrong
// key, a wrong segment id or version, or tampered SegmentInfo are errors
// (kCorruption), never wrong bytes.
//
// Thread-safety: a Codec keeps scratch buffers and zstd contexts and is NOT
// thread-safe; use one Codec per thread (they are cheap). Encode reuses the
// buffers of the EncodedSegment it writes into, so a caller that reuses one
// EncodedSegment allocates nothing per segment in steady state.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "fs/keys.h"

namespace qstor::fs {

inline constexpr size_t kNonceSize = 24;
inline constexpr size_t kCheckSize = 16;
inline constexpr size_t kMaxSegmentIdSize = 200;
inline constexpr size_t kMaxShards = 255;  // k + m, GF(2^8) Cauchy limit
// Largest plaintext segment accepted (keeps every shard within zdb's 8 MiB
// payload limit even with k = 1).
inline constexpr size_t kMaxSegmentSize = 8u << 20;

// Everything needed (besides the data key and >= k shards) to decode a
// segment. Small; stored inside the (encrypted) segment metadata. Holds no
// secret: the nonce is public by design.
struct SegmentInfo {
  static constexpr uint8_t kFlagZstd = 1;

  uint8_t k = 0;
  uint8_t m = 0;
  uint8_t flags = 0;
  uint64_t plain_size = 0;    // bytes handed to Encode
  uint64_t payload_size = 0;  // bytes after compression (== plain if none)
  uint32_t chunk_size = 0;    // payload bytes per data shard (multiple of 16)
  std::array<uint8_t, kNonceSize> nonce{};
  std::vector<std::array<uint8_t, kCheckSize>> checks;  // one per shard, k+m

  uint32_t shard_size() const { return chunk_size + kCheckSize; }
  int total() const { return k + m; }
  bool operator==(const SegmentInfo&) const = default;
};

struct EncodedSegment {
  SegmentInfo info;
  std::vector<std::string> shards;  // k + m, each info.shard_size() bytes
};

struct CodecOptions {
  bool compress = true;
  int zstd_level = 1;
};

class Codec {
 public:
  explicit Codec(CodecOptions options = {});
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // Encodes `plain` into out->shards (resized to k+m; existing buffers are
  // reused) and out->info. Needs 1 <= k, k + m <= 255, plain.size() <=
  // kMaxSegmentSize, segment_id non-empty and <= kMaxSegmentIdSize bytes.
  Status Encode(const SecretKey& key, std::string_view segment_id, uint64_t version, int k, int m,
                std::string_view plain, EncodedSegment* out);

  // Decodes a segment. `shards` has k+m entries, indexed by shard index; an
  // empty string_view means "missing". Sets *bad (if given) to the indices
  // of present shards that failed verification.
  Result<std::string> Decode(const SecretKey& key, std::string_view segment_id, uint64_t version,
                             const SegmentInfo& info, std::span<const std::string_view> shards,
                             std::vector<int>* bad = nullptr);

  // True if shard `index` verifies (right size and tag/MAC) for this segment.
  bool VerifyShard(const SecretKey& key, std::string_view segment_id, uint64_t version,
                   const SegmentInfo& info, int index, std::string_view shard);

  // Rebuilds the shards listed in `wanted` from the available ones (same
  // convention as Decode), byte-identical to what Encode produced. Fails if
  // fewer than k shards verify. Does not decompress.
  Result<std::vector<std::string>> Rebuild(const SecretKey& key, std::string_view segment_id,
                                           uint64_t version, const SegmentInfo& info,
                                           std::span<const std::string_view> shards,
                                           std::span<const int> wanted);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qstor::fs
