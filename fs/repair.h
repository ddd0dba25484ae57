// Check and repair for the fs object store (fs/object_store.h).
//
// Check reads every shard of every live segment (from the metadata records),
// verifies each one against its checksum (AEAD tag for data shards,
// Poly1305 MAC for parity shards; see fs/codec.h), optionally decodes the
// whole segment, and reports per segment (healthy / degraded with how many
// shards are left / lost) and per backend. With scan_garbage it also lists
// shard keys on the data backends that no live segment references.
//
// Repair rebuilds missing and corrupt shards of degraded segments from any k
// good ones, keeping each segment's own k/m, and writes them to healthy
// backends (the shard's old backend if it is up, else the least-filled
// usable backend that keeps the segment's spread), then commits the new
// locations. Segments closest to loss go first. Bandwidth is bounded by a
// token bucket on bytes read + written. Repair is resumable: it is
// idempotent and a repaired segment is healthy on the next check, so an
// interrupted run (cancel, max_segments, crash) is finished by the next
// Check + Repair without redoing work.
//
// ProbeBackends asks every backend for NSINFO, timing it, and feeds the
// results (latency, used and available space, failures) into the store's
// HealthTracker, which assigns the states up / slow / down / full.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/health.h"
#include "fs/object_store.h"

namespace qstor::fs {

enum class ShardState { kOk, kMissing, kCorrupt, kUnreachable, kUnplaced };
const char* ShardStateName(ShardState s);

enum class SegmentHealth { kHealthy, kDegraded, kLost };
const char* SegmentHealthName(SegmentHealth h);

struct ShardCheck {
  int index = 0;
  std::string backend;  // empty when the shard has no location
  ShardState state = ShardState::kOk;
  std::string detail;   // error text for unreachable
};

struct SegmentCheck {
  std::string id;
  uint64_t version = 0;
  int k = 0, m = 0;
  int good = 0;  // shards that verified
  SegmentHealth health = SegmentHealth::kHealthy;
  bool decoded = false;  // full decode ran and succeeded
  std::string error;     // full decode error, if any
  std::vector<ShardCheck> shards;
  SegmentRef ref;        // the metadata record that was checked
};

struct BackendCheck {
  std::string backend;
  int ok = 0, missing = 0, corrupt = 0, unreachable = 0;
  BackendHealth health;
};

// ---- Metadata replicas ------------------------------------------------------
//
// Every metadata record (segment refs, blobs, tombstones) should be on every
// metadata backend at its newest revision. CheckMetadata reads every record
// entry from every metadata backend and reports, per backend, how many
// objects it holds at the newest revision (ok), lacks (missing), holds at an
// older revision (stale) or holds in a form that does not authenticate
// (corrupt). Repair (below) copies the newest sealed record onto each backend
// that needs it; it never replaces a copy with an older revision: each target
// is re-read right before it is written, and after writing every replica is
// read again so that a revision written meanwhile (by a running mount) is
// carried forward onto the targets too.

struct MetadataReplicaCheck {
  std::string backend;
  bool reachable = false;  // its records could be listed
  std::string error;       // why not
  int ok = 0, missing = 0, stale = 0, corrupt = 0;
  uint64_t bytes = 0;      // bytes of record entries it holds
  bool healthy() const { return reachable && missing == 0 && stale == 0 && corrupt == 0; }
};

struct MetadataObject {
  std::string key;   // record key on the backends
  std::string kind;  // "seg" or "blob"
  std::string name;
  uint64_t version = 0;  // newest revision seen
  bool deleted = false;  // that revision is a tombstone
  std::string value;     // the sealed newest copy (restored as is)
  // Metadata backend indices (metadata_backends() order) that answered and
  // lack the object or hold a stale or corrupt copy.
  std::vector<size_t> needs;
};

struct MetadataCheckReport {
  std::vector<MetadataReplicaCheck> backends;  // metadata_backends() order
  size_t objects = 0;                  // distinct records with a good copy somewhere
  std::vector<MetadataObject> damaged;  // those some answering backend needs
  // Record keys none of whose copies authenticates: lost (or not this
  // store's); never overwritten, never collected.
  std::vector<std::string> unreadable;
  int answered() const;
  int unreachable() const;
  bool healthy() const;  // every backend reachable and complete, nothing unreadable
  bool lost() const { return !unreadable.empty(); }
};

Result<MetadataCheckReport> CheckMetadata(ObjectStore& store);

struct CheckOptions {
  // Also check the metadata replicas (report.metadata).
  bool check_metadata = true;
  bool full_decode = false;
  bool scan_garbage = false;
  // Shard keys younger than this are never called garbage (a Put may be
  // between writing shards and committing metadata).
  std::chrono::seconds garbage_grace{600};
  size_t threads = 8;
};

struct CheckReport {
  std::vector<SegmentCheck> segments;
  std::vector<BackendCheck> backends;
  std::vector<GarbageEntry> garbage;  // orphan shard keys (scan_garbage)
  int healthy = 0, degraded = 0, lost = 0;  // segments
  bool metadata_checked = false;  // options.check_metadata
  MetadataCheckReport metadata;
};

Result<CheckReport> Check(ObjectStore& store, const CheckOptions& options = {});

// ---- Availability (cheap: no shard bytes) ------------------------------------
//
// How many more data backends may be lost before some segment cannot be
// read, from the segment records (which backend holds each shard, by
// Backend::Name(), "data2@node7") and one key listing (zdb SCAN: keys, sizes
// and times, no values) of every data backend of the store. A shard counts as
// available when its location names a data backend of this store, that
// backend answered the listing, and the listing holds the shard's key. So a
// slot replaced by a new namespace (a new backend name) or a node that is
// down counts as lost for every shard it held, until `fs repair` rebuilt
// them. Shards damaged in place are found by Check (which reads them), not
// here. With check_metadata the metadata replicas are checked too
// (CheckMetadata: record entries are small).
//
// A segment's margin is how many of the backends holding its available
// shards may fail while k shards remain (backends holding two shards of it
// count twice); the storage's margin is the smallest over its segments, or,
// with no segment, the data backends answering minus k.
struct AvailabilityOptions {
  bool check_metadata = true;
};

struct AvailabilityReport {
  int segments = 0, healthy = 0, degraded = 0, lost = 0;
  int can_lose = 0;  // negative: some segment cannot be read now
  int data_backends = 0, data_backends_answering = 0;
  std::vector<std::string> unreachable;  // "data1@node5: <error>"
  bool metadata_checked = false;
  MetadataCheckReport metadata;
  // Every segment has all its shards and (when checked) every metadata
  // replica is complete.
  bool whole() const;
};

Result<AvailabilityReport> CheckAvailability(ObjectStore& store,
                                             const AvailabilityOptions& options = {});

// Progress of a Repair, reported after the metadata phase and after every
// segment attempted.
struct RepairProgress {
  size_t segments_done = 0, segments_total = 0;  // degraded segments attempted / to attempt
  int repaired = 0, failed = 0;
  int metadata_restored = 0, metadata_objects = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
};

struct RepairOptions {
  // Bytes per second of shard traffic (reads + writes); 0 = unbounded.
  uint64_t max_bytes_per_second = 0;
  // Stop after this many segments (0 = all); the rest wait for the next run.
  size_t max_segments = 0;
  // Set to true from another thread to stop after the current segment.
  const std::atomic<bool>* cancel = nullptr;
  // Called from the repairing thread (see RepairProgress); may be empty.
  std::function<void(const RepairProgress&)> progress;
};

struct RepairReport {
  int repaired = 0;        // segments made whole again
  int failed = 0;          // degraded segments that could not be repaired
  int lost = 0;            // segments with fewer than k good shards
  int remaining = 0;       // degraded segments not attempted (limit/cancel)
  uint64_t bytes_read = 0, bytes_written = 0;
  // Metadata replicas (when the report checked them), done before segments.
  int metadata_objects = 0;    // records some backend needed
  int metadata_restored = 0;   // copies written
  int metadata_newer = 0;      // targets found holding a newer copy: left alone
  int metadata_failed = 0;     // copies that could not be written
  int metadata_remaining = 0;  // records not attempted (cancel)
  std::map<std::string, int> metadata_restored_per_backend;
  std::vector<std::string> errors;
};

// Restores the metadata replicas reported damaged (report.metadata), then
// repairs the degraded segments found by `report` (from Check).
Result<RepairReport> Repair(ObjectStore& store, const CheckReport& report,
                            const RepairOptions& options = {});

// Deletes the orphan shards listed in report.garbage; returns how many.
Result<size_t> CollectGarbage(ObjectStore& store, const CheckReport& report);

// ---- Space reclaim -------------------------------------------------------------
//
// CollectGarbage(store, GcOptions) finds what no live segment references:
//  - shard keys on the data backends that are not a shard of the newest
//    revision of a live segment record at the location that record names
//    (left by crashes between shard writes and the metadata commit, by
//    deletes and overwrites whose shard deletions failed while a backend was
//    down, by repairs that moved shards off a backend);
//  - tombstones (records of deleted segments and blobs) that every metadata
//    backend holds or lacks, none at an older live revision.
// It deletes them unless dry_run. The rule that keeps live data safe:
//  1. only keys written at least `grace` ago (by the backend's own clock)
//     are candidates, and the data backends are scanned BEFORE the metadata
//     is read, so a Put whose shards are older than the grace period had
//     committed its record (Puts are bounded far below the default grace of
//     an hour) before the metadata was read;
//  2. nothing is deleted unless every metadata backend answered and every
//     record entry authenticated (an unreadable record could reference any
//     shard), and the metadata is read again right before deleting, dropping
//     any candidate that became referenced;
//  3. data backends that cannot be scanned are reported, never guessed.
// Do not run it concurrently with `fs repair` (repair may re-point a segment
// at a copy gc saw as an orphan). A running mount is safe under rule 1.
struct GcOptions {
  std::chrono::seconds grace{3600};
  bool dry_run = false;
};

struct GcItem {
  std::string backend;
  std::string role;  // "data" (a shard) or "meta" (a tombstone)
  std::string key;
  uint64_t bytes = 0;
  uint64_t written_unix = 0;
  std::string reason;
  bool deleted = false;
  std::string error;  // why the delete failed
};

struct GcBackendReport {
  std::string backend;
  std::string role;  // "data" or "meta"
  bool scanned = false;
  std::string error;
  uint64_t keys = 0;                          // keys of this store's prefix seen
  uint64_t garbage = 0, garbage_bytes = 0;   // found
  uint64_t deleted = 0, deleted_bytes = 0;   // removed
  uint64_t young = 0, young_bytes = 0;       // unreferenced, within the grace period: kept
};

struct GcReport {
  std::vector<GcBackendReport> backends;  // data backends, then metadata backends
  std::vector<GcItem> items;
  size_t live_segments = 0;
  // Tombstones kept because some replica still holds an older live copy
  // (`fs repair` first) or a copy is younger than the grace period.
  size_t kept_tombstones = 0;
  // Set when nothing was (or would be) deleted for a reason; dry runs say
  // what they would have refused too.
  std::string refused;
  bool complete() const;  // every backend scanned, nothing refused, no delete failed
  uint64_t garbage() const, garbage_bytes() const, deleted() const, deleted_bytes() const;
};

Result<GcReport> CollectGarbage(ObjectStore& store, const GcOptions& options);

// Probes every data and metadata backend with NSINFO; returns the health of
// each (data backends first), also recorded in store.health().
std::vector<BackendHealth> ProbeBackends(ObjectStore& store);

}  // namespace qstor::fs
