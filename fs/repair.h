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

struct CheckOptions {
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
  int healthy = 0, degraded = 0, lost = 0;
};

Result<CheckReport> Check(ObjectStore& store, const CheckOptions& options = {});

struct RepairOptions {
  // Bytes per second of shard traffic (reads + writes); 0 = unbounded.
  uint64_t max_bytes_per_second = 0;
  // Stop after this many segments (0 = all); the rest wait for the next run.
  size_t max_segments = 0;
  // Set to true from another thread to stop after the current segment.
  const std::atomic<bool>* cancel = nullptr;
};

struct RepairReport {
  int repaired = 0;        // segments made whole again
  int failed = 0;          // degraded segments that could not be repaired
  int lost = 0;            // segments with fewer than k good shards
  int remaining = 0;       // degraded segments not attempted (limit/cancel)
  uint64_t bytes_read = 0, bytes_written = 0;
  std::vector<std::string> errors;
};

// Repairs the degraded segments found by `report` (from Check).
Result<RepairReport> Repair(ObjectStore& store, const CheckReport& report,
                            const RepairOptions& options = {});

// Deletes the orphan shards listed in report.garbage; returns how many.
Result<size_t> CollectGarbage(ObjectStore& store, const CheckReport& report);

// Probes every data and metadata backend with NSINFO; returns the health of
// each (data backends first), also recorded in store.health().
std::vector<BackendHealth> ProbeBackends(ObjectStore& store);

}  // namespace qstor::fs
