// One writer per storage: the generation record, the cache's identity and
// the writer lease on the metadata backends (docs/mount.md "One writer").
//
// Records (small JSON metadata blobs stored through the SegmentSink, next
// to the metadata snapshot):
//   fsmeta.head  {gen, cache_id, host, pid, written_unix}
//       Written after every metadata snapshot a writer stores: `gen` counts
//       the snapshots (each one is the previous gen + 1), `cache_id` names
//       the cache that made it. No head: generation 0 (a new storage, or one
//       written before heads existed).
//   fsmeta.lease {cache_id, host, pid, mountpoint, seq, released,
//                 renewed_unix, duration_ms, renew_ms}
//       The writer lease. Its holder rewrites it every renew_ms with seq + 1;
//       a clean unmount writes released = true.
//
// The cache: `<cache>/cache-id` (0600) holds a random id made when the cache
// is first used; meta.db's meta row 'gen' the last generation this cache
// stored or restored, 'unshipped' = 1 while it has changes no stored
// snapshot holds.
//
// Staleness (CheckCacheNotStale): an existing cache whose gen is below the
// head's gen, the head written by another cache, is older than the grid:
// another cache stored changes this one never saw, and mounting it would
// overwrite them. Refused (FailedPrecondition) unless taking over. A fresh
// cache (no meta.db) restores from the grid; a cache at the head's gen (it
// stored it, or restored it and stored nothing since) is current, whoever
// wrote the head.
//
// Lease liveness is judged on our own monotonic clock only, never by the
// remote wall clock in the record: a foreign, unreleased lease is live if
// its seq changes while we watch, and expired once it has not changed for
// duration + renew. A lease naming our own cache id is ours (the cache is
// flock()ed, so the process that wrote it is gone) and taken at once, as is
// a released one or none. Taking over takes even a live lease: its holder
// sees the record name another cache at its next renewal or snapshot and
// stops writing to the grid (fencing).
//
// Thread safety: WriterLease and GridWriter methods may be called from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "fs/mount/segment_sink.h"

namespace qstor::fs::mount {

inline constexpr const char* kHeadRecord = "fsmeta.head";
inline constexpr const char* kLeaseRecord = "fsmeta.lease";

struct HeadRecord {
  uint64_t gen = 0;
  std::string cache_id;
  std::string host;
  int64_t pid = 0;
  int64_t written_unix = 0;  // the writer's wall clock: for messages only
};

struct LeaseRecord {
  std::string cache_id;
  std::string host;
  int64_t pid = 0;
  std::string mountpoint;
  uint64_t seq = 0;
  bool released = false;
  int64_t renewed_unix = 0;  // the holder's wall clock: for messages only
  int64_t duration_ms = 0;
  int64_t renew_ms = 0;
};

std::string EncodeHead(const HeadRecord& h);
Result<HeadRecord> DecodeHead(std::string_view text);
std::string EncodeLease(const LeaseRecord& l);
Result<LeaseRecord> DecodeLease(std::string_view text);

// nullopt when the sink has no such record.
Result<std::optional<HeadRecord>> ReadHead(SegmentSink& sink);
Status WriteHead(SegmentSink& sink, const HeadRecord& h);
Result<std::optional<LeaseRecord>> ReadLease(SegmentSink& sink);
Status WriteLease(SegmentSink& sink, const LeaseRecord& l);

// Reads <cache_dir>/cache-id, creating it (random, 0600) if missing.
Result<std::string> LoadOrCreateCacheId(const std::string& cache_dir);

// What the cache directory says before the mount opens it.
struct CacheGen {
  bool fresh = true;  // no meta.db: the mount restores from the grid
  uint64_t gen = 0;   // meta 'gen' (0 if none)
};
Result<CacheGen> ReadCacheGen(const std::string& cache_dir);

// True if the cache is older than the grid (see the rule above).
bool CacheIsStale(const CacheGen& cache, const std::string& cache_id,
                  const std::optional<HeadRecord>& head);
// OK, or FailedPrecondition with the message naming the way out.
Status CheckCacheNotStale(const CacheGen& cache, const std::string& cache_id,
                          const std::optional<HeadRecord>& head, const std::string& cache_dir);

// "2026-12-02 12:00:00 UTC" (for messages).
std::string FormatUnixTime(int64_t unix_seconds);

struct LeaseOptions {
  std::chrono::milliseconds duration{60000};
  std::chrono::milliseconds renew{20000};
  std::string cache_id;
  std::string host;
  int64_t pid = 0;
  std::string mountpoint;
  bool take_over = false;
  // How often a foreign lease is re-read while watching it (0: renew / 4,
  // at most 250 ms).
  std::chrono::milliseconds poll{0};
};

class WriterLease {
 public:
  // Takes the lease (see the rules above): at once if there is none, it is
  // released, ours, or take_over; else watches a foreign lease for up to
  // duration + renew: FailedPrecondition naming its holder (host, pid,
  // mountpoint) and when its lease ends if it is renewed meanwhile, taken if
  // it is not.
  static Result<std::unique_ptr<WriterLease>> Acquire(std::shared_ptr<SegmentSink> sink,
                                                      const LeaseOptions& opt);
  // Stops renewing (without waiting for a renewal stuck in a backend call);
  // does not release.
  ~WriterLease();

  // Renews every opt.renew on a thread of its own until Release or the
  // destructor. A renewal that finds another cache in the record marks the
  // lease lost for good.
  void StartRenewing();
  // Re-reads the record: OK while it names our cache; FailedPrecondition
  // (and lost() from then on) if another cache took it.
  Status Check();
  bool lost() const;
  // Not lost and renewed (or acquired) within the last duration on our
  // clock: grid writes are safe now.
  bool Current() const;
  std::string LostReason() const;
  // Stops renewing and writes released = true (if still ours). Bounded by
  // `wait` (a backend that does not answer leaves the lease to expire).
  Status Release(std::chrono::milliseconds wait = std::chrono::seconds(5));

  LeaseRecord record() const;

 private:
  struct State;
  explicit WriterLease(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
};

// What the mount consults before it writes to the grid.
//   read-only:  never writes, needs no lease.
//   pending:    a writable mount whose backend did not answer at mount time
//               (an existing cache mounts offline); local writes work, grid
//               writes wait until the generation check and the lease
//               succeed (then held) or fail (then fenced).
//   held:       holds the lease; snapshots carry increasing generations.
//   fenced:     the lease was lost to another cache, or the late checks
//               failed: never writes to the grid again; operations EROFS.
class GridWriter {
 public:
  enum class State { kReadOnly, kPending, kHeld, kFenced };
  // `gen`: the generation the snapshot stored next follows (max of the
  // cache's and the head's).
  GridWriter(std::shared_ptr<SegmentSink> sink, State state, uint64_t gen, std::string cache_id,
             std::string host, int64_t pid);

  void SetHeld(std::unique_ptr<WriterLease> lease, uint64_t gen);
  void Fence(const std::string& reason);

  bool read_only() const;
  // No mutation may happen any more (read-only or fenced): EROFS.
  bool fenced() const;
  // Writes to the grid (segments, deletes, snapshots) are allowed now.
  bool MayWrite() const;
  std::string WhyNot() const;

  // Before storing a snapshot: checks the lease is still ours (fencing) and
  // returns the generation the snapshot gets: one past both ours and the
  // head's (a writer fenced by our take-over may have stored one more).
  Result<uint64_t> BeginSnapshot();
  // After the snapshot is stored: writes the head record for `gen`.
  Status FinishSnapshot(uint64_t gen);
  uint64_t gen() const { return gen_.load(); }

  // Clean unmount: releases the lease (no-op unless held).
  Status Release();

 private:
  std::shared_ptr<WriterLease> lease() const;
  std::shared_ptr<SegmentSink> sink_;
  mutable std::mutex mu_;
  State state_;
  std::string fence_reason_;
  std::shared_ptr<WriterLease> lease_;
  std::atomic<uint64_t> gen_;
  const std::string cache_id_, host_;
  const int64_t pid_;
};

}  // namespace qstor::fs::mount
