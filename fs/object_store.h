// fs::ObjectStore: encrypted, erasure-coded segments on 0-db backends.
//
// A segment is a byte string (<= kMaxSegmentSize) named by a caller-chosen
// segment id (<= kMaxSegmentIdSize bytes, e.g. "ino/42/chunk/7"). Put encodes
// it with fs::Codec into k+m shards and stores each shard on a different data
// backend; its SegmentRef (where the shards are, sizes, checksums, nonce,
// k/m) is stored as an encrypted metadata record on the metadata backends.
// Everything can be found again from the two keys and the backend lists:
// List() enumerates the metadata records, Get() reads them back.
//
// Contract:
//  - Thread-safe: every method may be called from many threads at once. Two
//    concurrent Puts of the SAME segment id race (last writer wins by
//    version); callers serialise writes per segment id.
//  - Put writes all k+m shards in parallel with per-request timeouts and
//    retries; a shard whose backend keeps failing is placed on a spare
//    backend if one is healthy. Put succeeds (the segment is durable) once
//    at least options.min_durable shards (default k+1, capped at k+m) are
//    stored and the metadata record reached a majority of the metadata
//    backends; the shards still missing are queued for repair
//    (PendingRepairs()). Otherwise it fails (kUnavailable) and what it wrote
//    is deleted best effort.
//  - Every Put of an existing id writes a new version (version + 1) with new
//    shard keys; the old version's shards are deleted after the new metadata
//    is committed. A failed delete is reported by Garbage().
//  - Get fetches k shards from the fastest healthy backends first, hedges to
//    the others after options.hedge_delay or on any error, discards shards
//    that fail their checksum, and decodes. Corrupt shards it saw are queued
//    for repair. A wrong key is kCorruption, never wrong bytes.
//  - Metadata records (segment refs and the caller's own blobs) are
//    encrypted with the metadata key (XChaCha20-Poly1305, the record key as
//    associated data) and replicated to every metadata backend: a write needs
//    a majority (n/2 + 1), a read needs n - majority + 1 answers and takes
//    the highest version. Record keys on the backends are keyed BLAKE2b
//    hashes, so backends learn neither names nor sizes of files. Records
//    never contain keys or passwords; deletes write tombstones.
//  - Errors name the backend ("zdb 127.0.0.1:9901/ns1: ...") or segment.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fs/codec.h"
#include "fs/health.h"
#include "fs/keys.h"

namespace qstor::fs {

// One 0-db namespace the reconciler deployed.
struct Backend {
  std::string name;      // stable id used in metadata; default "host:port/namespace"
  std::string host;
  uint16_t port = 0;
  std::string ns;        // namespace
  std::string password;  // namespace password; never stored or logged
  // Spread groups, e.g. {"farm": "12", "country": "BE"}.
  std::map<std::string, std::string> labels;

  std::string Name() const { return name.empty() ? host + ":" + std::to_string(port) + "/" + ns : name; }
};

struct ObjectStoreOptions {
  int k = 4;
  int m = 2;
  // Shards that must be stored for a Put to succeed; 0 = k + 1 (capped at k+m).
  int min_durable = 0;
  // Labels whose values should differ between the shards of one segment, in
  // order of importance (placement first spreads by farm, then country...).
  std::vector<std::string> spread_labels = {"farm", "country"};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  int retries = 2;                              // extra attempts per shard write
  std::chrono::milliseconds hedge_delay{300};   // Get: ask more backends after this
  // A backend that failed is skipped for new placements for this long.
  std::chrono::milliseconds down_cooldown{10000};
  size_t threads = 16;        // I/O worker threads
  bool compress = true;       // zstd before encryption
  // Key namespace on the backends; lets several filesystems share namespaces.
  std::string prefix = "qstor";
};

struct ShardLocation {
  int index = 0;
  std::string backend;  // Backend::Name(); empty = not stored (needs repair)
};

// What Put returns and the metadata record of a segment holds.
struct SegmentRef {
  std::string id;
  uint64_t version = 0;
  SegmentInfo info;
  std::vector<ShardLocation> shards;  // k + m entries, by shard index
  uint64_t mtime_unix = 0;

  // Shards with a backend assigned.
  int stored() const;
};

struct RepairTask {
  std::string segment_id;
  std::vector<int> shards;  // indices missing or seen corrupt
  std::string reason;
};

struct GarbageEntry {
  std::string backend;
  std::string key;     // zdb key of an orphan shard
  std::string reason;  // "delete failed: ..."
};

// A key on a backend as a SCAN lists it.
struct StoredKey {
  std::string key;
  uint64_t size = 0;          // payload bytes
  uint64_t written_unix = 0;  // write time, on the backend's clock
};

// One metadata record as stored on one metadata backend (fs/repair.h checks,
// restores and collects metadata replicas with these).
struct MetadataEntry {
  std::string key;            // <prefix>/m/<keyed hash>
  std::string value;          // the sealed record, exactly as stored
  uint64_t written_unix = 0;  // write time, on the backend's clock
};

// What a sealed metadata record says once it authenticated.
struct MetadataRecordInfo {
  std::string kind;  // "seg" or "blob"
  std::string name;  // segment id or blob name
  uint64_t version = 0;  // record revision
  bool deleted = false;  // a tombstone
  // For a live "seg" record: the segment it describes (where its shards are).
  std::optional<SegmentRef> ref;
};

class ObjectStore {
 public:
  // Needs >= k data backends with distinct names and >= 1 metadata backend.
  // k+m of them is the full layout; with k..k+m-1 (a data namespace lost and
  // not yet replaced) the store is degraded: Get decodes from any k shards,
  // Put stores the shards it can place and succeeds while at least
  // min_durable are stored (the rest are queued for repair).
  // Connections are made lazily; Open does not fail because a backend is down.
  static Result<std::unique_ptr<ObjectStore>> Open(FsKeys keys, std::vector<Backend> data,
                                                   std::vector<Backend> metadata,
                                                   ObjectStoreOptions options = {});
  ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // Stores `bytes` as the new version of `segment_id`.
  Result<SegmentRef> Put(std::string_view segment_id, std::string_view bytes);
  // Reads the newest version (kNotFound if none or deleted).
  Result<std::string> Get(std::string_view segment_id);
  // Reads exactly the version described by `ref` (no metadata read).
  Result<std::string> Get(const SegmentRef& ref);
  // The current metadata record of a segment.
  Result<SegmentRef> Stat(std::string_view segment_id);
  // Tombstones the record, then deletes the shards (failures -> Garbage()).
  // kNotFound if the segment does not exist.
  Status Delete(std::string_view segment_id);
  // Every live segment (from the metadata backends; read quorum needed).
  Result<std::vector<SegmentRef>> List();

  // Small opaque blobs for the caller (e.g. the mount's inode table), kept
  // like segment refs: encrypted, versioned, replicated on the metadata
  // backends. name <= kMaxSegmentIdSize bytes, bytes <= 4 MiB.
  Status PutBlob(std::string_view name, std::string_view bytes);
  Result<std::string> GetBlob(std::string_view name);  // kNotFound if absent
  Status DeleteBlob(std::string_view name);
  Result<std::vector<std::string>> ListBlobs(std::string_view name_prefix = "");

  // Repairs queued by Put/Get (missing or corrupt shards seen). fs/repair.h
  // consumes them; a full check finds everything else.
  std::vector<RepairTask> PendingRepairs() const;
  // Orphan shards whose deletion failed.
  std::vector<GarbageEntry> Garbage() const;

  const ObjectStoreOptions& options() const;
  const std::vector<Backend>& data_backends() const;
  const std::vector<Backend>& metadata_backends() const;

  // Low-level access used by fs/repair.h and tests.
  // The zdb key of a shard.
  std::string ShardKey(std::string_view segment_id, uint64_t version, int index) const;
  Result<std::optional<std::string>> ReadShard(const std::string& backend, const std::string& key);
  Status WriteShard(const std::string& backend, const std::string& key, const std::string& value);
  Status DeleteShard(const std::string& backend, const std::string& key);
  // Every shard key (of this store's prefix) on a data backend, with its
  // size and the unix time it was written (a retried scan starts over).
  Result<std::vector<StoredKey>> ListShardEntries(const std::string& backend);
  // The same as (key, written_unix) pairs.
  Result<std::vector<std::pair<std::string, uint64_t>>> ListShardKeys(const std::string& backend);
  // The backend's clock (zdb TIME), unix seconds: key ages are judged on the
  // clock that stamped them, not on this machine's.
  Result<uint64_t> DataBackendTime(const std::string& backend);
  Result<uint64_t> MetadataBackendTime(size_t meta_index);

  // Metadata replicas, per metadata backend (`meta_index` in
  // metadata_backends() order). No quorum logic: fs/repair.h builds it.
  // Every record entry of this store's prefix on that backend, values included.
  Result<std::vector<MetadataEntry>> ListMetadataEntries(size_t meta_index);
  Result<std::optional<std::string>> ReadMetadataEntry(size_t meta_index, const std::string& key);
  // Stores a sealed record as is (a copy from another replica).
  Status WriteMetadataEntry(size_t meta_index, const std::string& key, const std::string& value);
  Status DeleteMetadataEntry(size_t meta_index, const std::string& key);
  // Authenticates and decodes a sealed record stored under `key`;
  // kCorruption if it does not authenticate under this store's metadata key
  // or is malformed.
  Result<MetadataRecordInfo> OpenMetadataRecord(const std::string& key,
                                                const std::string& value) const;
  // Writes a new metadata record for `ref` (version unchanged) after repair
  // moved shards; refuses if a newer version exists (kFailedPrecondition).
  Status UpdateRef(const SegmentRef& ref);
  const SecretKey& data_key() const;
  // Drops a segment from the pending-repair queue (after repair fixed it).
  void ClearRepair(std::string_view segment_id);
  HealthTracker& health();

  struct Impl;

 private:
  explicit ObjectStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qstor::fs
