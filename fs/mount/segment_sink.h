// SegmentSink: the narrow seam between the FUSE mount and where file data
// lives once it leaves the local cache.
//
// The mount packs file blocks into segments (a few MiB of concatenated block
// bytes; small files share a segment) and hands each segment to a sink under
// a fresh, never reused id. It keeps its own map of which block lives at
// which offset of which segment, so a sink only stores opaque byte strings.
// Metadata blobs (snapshots of the mount's metadata database) go through the
// same sink under a name.
//
// Implementations:
//   - NewLocalDirSink(dir): segments as files in a local directory, written
//     atomically and fsynced. The development backend (`qstor mount
//     --local-backend DIR`) and the test double.
//   - an adapter over fs/object_store.h (erasure coded over 0-db backends),
//     once the storage engine provides it.
//
// Thread safety: every method may be called from several threads at once.
// Methods may block (network); the mount calls them off the FUSE request
// threads or with a bounded wait, so a slow sink never hangs `ls` or `df`.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace qstor::fs::mount {

class SegmentSink {
 public:
  virtual ~SegmentSink() = default;

  // Stores `data` under `id`. OK means durable (as durable as the sink can
  // make it: fsynced for the local sink, on enough backends for the grid).
  // Storing the same id twice replaces the content.
  virtual Status Put(const std::string& id, std::string_view data) = 0;

  // Returns the bytes stored under `id`; kNotFound if there are none.
  virtual Result<std::string> Get(const std::string& id) = 0;

  // Removes `id`. Removing a missing id is OK (idempotent).
  virtual Status Delete(const std::string& id) = 0;

  // Metadata blobs: same contract as Put/Get, separate name space.
  virtual Status PutMeta(const std::string& name, std::string_view data) = 0;
  virtual Result<std::string> GetMeta(const std::string& name) = 0;

  // "local:/var/lib/qstor/backend" — for logs and `qstor fs stats`.
  virtual std::string Describe() const = 0;
};

// A sink storing each segment as one file <dir>/seg/<id> and each metadata
// blob as <dir>/meta/<name>, written to a temporary file, fsynced, renamed.
// Creates the directories if missing.
//
// Fault injection for tests and drills: while a file named "down" exists in
// `dir`, every operation waits (as an unreachable backend would) until the
// file goes away or 10 minutes pass, then fails with kUnavailable.
Result<std::unique_ptr<SegmentSink>> NewLocalDirSink(const std::string& dir);

}  // namespace qstor::fs::mount
