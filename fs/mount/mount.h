// The qstor FUSE mount: a POSIX filesystem whose file data lives in a local
// write-back cache and, packed into segments, in a SegmentSink.
//
// Layout of `cache_dir` (owned by one mount at a time, guarded by a lock
// file):
//   meta.db       SQLite (WAL): inodes, dentries, xattrs, block maps, the
//                 upload queue and the segment table. The source of truth.
//   data/XX/<ino> one sparse cache file per inode holding its cached blocks
//                 at their natural offsets (holes where not cached).
//   lock          flock()ed while mounted.
//
// Data model: a file is a sequence of fixed-size blocks (block_size). A block
// is dirty (only in the cache, queued for upload), clean (in a segment and in
// the cache) or evicted (only in a segment). A background uploader packs
// queued blocks — of any number of files — into segments of about
// segment_size bytes, stores them through the sink, and then records where
// each block went. When the cache holds more than cache_size bytes, clean
// blocks are evicted (hole punched) oldest first; reads of evicted blocks
// fetch the segment back, bounded by read_timeout (EIO after it).
//
// Durability:
//   kLocal: fsync/fdatasync return once the data and the metadata naming it
//           are on local disk (cache file fdatasync'ed, SQLite commit with
//           synchronous=FULL). Data written and closed without fsync reaches
//           the metadata database within ~1 s; metadata operations are
//           group-committed (commit_window), so kill -9 loses at most about
//           1.5 windows of operations not followed by fsync. The
//           uploader starts on queued data at once; with a reachable sink,
//           everything is uploaded within upload_within.
//   kGrid:  fsync and close (flush) additionally wait until every queued
//           block of the file is stored in the sink and a metadata snapshot
//           naming it has been stored too; they fail with EIO after
//           grid_timeout.
// kill -9 of the mount loses nothing fsync acknowledged: the next mount
// reads meta.db, discards half-uploaded segments and resumes the queue.
//
// Control: the mount answers two reserved extended attributes on its root
// directory (root only, hidden from listxattr):
//   getxattr("trusted.qstor.stats")  -> JSON statistics (see docs/mount.md)
//   setxattr("trusted.qstor.sync", "<seconds>") -> flush everything, upload
//           the queue and ship metadata; fails (EIO) after <seconds>.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "fs/mount/segment_sink.h"

namespace qstor::fs::mount {

enum class Durability { kLocal, kGrid };

struct MountOptions {
  std::string mountpoint;          // absolute path, must exist (created by the CLI)
  std::string cache_dir;           // created if missing
  uint64_t capacity = 1ull << 40;  // statfs size
  uint64_t cache_size = 1ull << 30;
  uint32_t block_size = 256 * 1024;      // power of two, 4 KiB .. 4 MiB
  uint32_t segment_size = 4 * 1024 * 1024;
  Durability durability = Durability::kLocal;
  std::chrono::milliseconds upload_within{30000};
  // kLocal only: metadata operations (create, close, rename, ...) not
  // followed by fsync share one SQLite transaction, committed at most this
  // long after it began (0: every operation commits at once). kGrid always
  // commits each operation.
  std::chrono::milliseconds commit_window{50};
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds grid_timeout{60000};
  bool allow_other = true;         // only effective when running as root
  bool foreground = true;          // false: daemonize once mounted
  int threads = 8;                 // FUSE worker threads
  // One writer per storage (writer_lease.h, docs/mount.md "One writer").
  // read_only: mounted ro, takes no lease, never writes to the grid.
  bool read_only = false;
  // take_over: mount even a cache older than the grid (its state becomes
  // the storage's next generation) and take the lease even from a live
  // holder (which stops writing to the grid).
  bool take_over = false;
  std::chrono::milliseconds lease{60000};        // writer lease duration
  std::chrono::milliseconds lease_renew{20000};  // renewed this often
};

// When `path` is a FUSE mount whose server died (IsDeadFuseMount: statfs or
// stat answers ENOTCONN or ECONNABORTED), or `force` (the caller knows its
// server is gone), detaches it (umount2 MNT_DETACH, else `fusermount3 -u
// -z`) so a new mount can take its place; otherwise does nothing.
void DetachDeadMount(const std::string& path, bool force = false);

// Mounts, serves until unmounted (fusermount3 -u, umount, SIGINT/SIGTERM),
// then flushes dirty metadata, tries to upload the queue for a bounded time
// (what is left stays queued for the next mount) and returns. Blocks.
Status RunMount(const MountOptions& options, std::shared_ptr<SegmentSink> sink);

// Parses "local" / "grid".
Result<Durability> ParseDurability(const std::string& text);

}  // namespace qstor::fs::mount
