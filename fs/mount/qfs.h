// Internal: the filesystem core behind RunMount (fs/mount/mount.h). Exposed
// as a header only so that mount.cc (FUSE glue) and qfs.cc (logic) stay
// separate; nothing outside fs/mount uses it.
//
// Lock order (outermost first); never take an earlier lock while holding a
// later one:
//   ns_mu_ (namespace ops) / Inode::data_mu (data ops)
//   -> table_mu_ -> db_->mu() -> Inode::mu -> leaf mutexes (dirty_mu_,
//      up_mu_, err_mu_, Shared::mu)
// In particular GetInode/Ref/MaybeDrop (table_mu_, then db mu) must never be
// reached with db mu held, and code holding db mu must release it before it
// looks inodes up in table_ (see the end of UploadOnce). A ThreadSanitizer
// build of the mount reports a violation on any path the tests exercise as a
// lock-order inversion, even when the deadlock itself does not happen.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "fs/mount/mount.h"
#include "fs/mount/segment_sink.h"
#include "fs/mount/sqlite_db.h"
#include "fs/mount/writer_lease.h"

namespace qstor::fs::mount {

struct Attr {
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  int64_t atime = 0;  // ns since the epoch
  int64_t mtime = 0;
  int64_t ctime = 0;
  uint64_t alloc = 0;  // bytes held in blocks (for st_blocks and statfs)
};

// One block of a file (see mount.h for the states).
struct Blk {
  // Set each time the block is queued for upload, from one counter for the
  // whole file system (Qfs::gen_seq_): never the same twice for a block,
  // also when it was cut by a truncate and written again (an upload still
  // reading the old bytes must not match the new block).
  uint64_t gen = 0;
  uint32_t len = 0;      // valid bytes; the rest of the block reads as zeros
  bool cached = false;   // bytes are in the cache file
  bool dirty = false;    // written since the last metadata flush
  std::string seg;       // segment holding generation `gen`, "" if none
  uint32_t seg_off = 0;
  uint32_t seg_len = 0;
  // XXH3-64 of the block's `len` bytes (holes as zeros) as they are in its
  // segment, set when the block is uploaded or filled from the segment and
  // dropped when it is rewritten or cut (a dirty block has none: the cache
  // is its only copy). A cached block with one is checked against it before
  // its cache bytes are first read or merged into a write (`verified` then
  // holds until it is evicted or rewritten); a mismatch drops the cached
  // copy and reads the segment again (fs stats: cache.corrupt_blocks).
  bool has_csum = false;
  bool verified = false;
  uint64_t csum = 0;
};

// An inode's row as the database holds it: what LoadInodeLocked needs to
// build an Inode without asking the database again (the readdir path reads
// it in its own join). Every path that builds an Inode from the database
// reads this one struct with ReadInodeRow (qfs.cc), so none can forget a
// column: the slab slot above all, whose loss reads a file's cached bytes
// from the wrong place.
struct InodeRow {
  Attr attr;
  std::string target;  // symlink target
  int64_t slot = -1;   // slab slot, -1 if the row names none
  // Qfs::drop_epoch_ as read before the row was: if an inode left the table
  // since (its row may have changed after this one was read, then the inode
  // was dropped), the row is stale and LoadInodeLocked reads it again.
  uint64_t drop_epoch = 0;
};

struct Inode {
  explicit Inode(uint64_t i) : ino(i) {}
  const uint64_t ino;
  std::shared_mutex data_mu;  // write/truncate/evict/upload-snapshot: unique; read: shared

  std::mutex mu;  // guards everything below
  Attr attr;
  std::string target;  // symlink target
  uint64_t nlookup = 0;  // guarded by table_mu_, not mu
  int open_count = 0;
  bool deleted = false;
  bool blocks_loaded = false;
  // Known to have no extended attributes (created by this mount and never
  // given one): GETXATTR answers ENODATA without asking the database. The
  // kernel asks for security.capability before every write.
  bool no_xattrs = false;
  std::map<uint64_t, Blk> blocks;
  std::set<uint64_t> dirty;  // blocks with dirty == true
  bool attr_dirty = false;   // size/times/alloc changed by writes, not yet in the DB
  int fd = -1;               // cache file (or the shared slab), opened lazily
  bool fd_new = false;       // cache file (maybe) created, its directory not yet fsynced
  // Small files keep their one block in a slot of the shared slab file
  // instead of a cache file of their own (see "Data" in docs/mount.md):
  // slot >= 0 means fd is the slab and the file's byte i is at
  // slot * slot_size + i. db_slot is what the inodes row says; free_slot is
  // a slot left by a spill to a cache file, freed once the row no longer
  // names it.
  int64_t slot = -1;
  int64_t db_slot = -1;
  int64_t free_slot = -1;
  int64_t first_dirty_ns = 0;
  int64_t last_write_ns = 0;
  uint64_t read_end = 0;  // where the last read ended (sequential detection)
};

class Qfs {
 public:
  Qfs(MountOptions options, std::shared_ptr<SegmentSink> sink);
  ~Qfs();

  // Takes the cache directory lock, opens meta.db (restoring it from the
  // sink's metadata blob if the cache directory is new and the sink has
  // one), creates the schema, and recovers from a crash: reaps unlinked
  // inodes, marks half-uploaded segments for deletion.
  Status Open();
  void StartBackground();
  // Flushes everything, gives the uploader up to `upload_wait` to empty the
  // queue and ship metadata, stops it. Returns false if the uploader could
  // not be stopped (stuck in a sink call): the caller must then not destroy
  // this object.
  bool Shutdown(std::chrono::milliseconds upload_wait);

  static const struct fuse_lowlevel_ops* Ops();

  // FUSE operations (req already decoded); each replies exactly once.
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Forget(fuse_ino_t ino, uint64_t n);
  void GetAttr(fuse_req_t req, fuse_ino_t ino);
  void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set);
  void ReadLink(fuse_req_t req, fuse_ino_t ino);
  void MakeNode(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
                const char* link_target, struct fuse_file_info* create_fi);
  // open(O_TMPFILE): a regular file with no name (nlink 0), open; linkat
  // may give it one, else it is reaped when closed (or at the next mount).
  void MakeTmpFile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info* fi);
  void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir);
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
  void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
  void Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
  void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off);
  void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off);
  void Flush(fuse_req_t req, fuse_ino_t ino);
  void Release(fuse_req_t req, fuse_ino_t ino);
  void Fsync(fuse_req_t req, fuse_ino_t ino);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
  void StatFs(fuse_req_t req);
  void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
  void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len);

  std::string StatsJson();
  // Checks every cached clean block against its checksum, and with `decode`
  // also against its segment's bytes (fetched from the sink); a damaged
  // cached copy is dropped, so the next read fetches the block again.
  // Returns the report as JSON (format qstor.fs.cache-check/v1, see
  // docs/mount.md "Control channel"). Runs on the calling thread.
  std::string CheckCacheJson(bool decode);
  // Flushes all dirty inodes durably, waits (bounded) for the upload queue
  // to empty and a metadata snapshot to be stored. Unavailable/Timeout if
  // it could not finish in time.
  Status SyncAll(std::chrono::milliseconds timeout);

  // One writer per storage (writer_lease.h). Set before StartBackground;
  // without one (tests of Qfs alone) every grid write is allowed.
  void SetWriter(std::shared_ptr<GridWriter> w) { writer_ = std::move(w); }
  // Before a mutating operation: false (answer EROFS) once the mount is
  // read-only or fenced; else notes, durably with the operation, that the
  // cache holds changes no stored snapshot has ('unshipped').
  bool BeginMutation();
  // Opening for writing is refused (EROFS) once read-only or fenced.
  bool Writable() const { return !writer_ || !writer_->fenced(); }
  // Open restored meta.db from the sink's snapshot.
  bool restored() const { return restored_; }
  // Records the generation this cache is at (meta 'gen'); `unshipped`: it
  // must store a snapshot even if nothing changes (--take-over).
  Status SetCacheGen(uint64_t gen, bool unshipped);

 private:
  struct Shared;  // state shared with detached fetch threads

  std::shared_ptr<Inode> GetInode(uint64_t ino);                  // nullptr if missing
  // `row`: the inode's row when the caller has just read it (readdir) or
  // made it (create); nullptr reads it from the database.
  std::shared_ptr<Inode> LoadInodeLocked(uint64_t ino, const InodeRow* row);
  std::shared_ptr<Inode> Ref(uint64_t ino, const InodeRow* row = nullptr);  // nlookup++
  void MaybeDrop(uint64_t ino);
  void ReapLocked(Inode& in);  // caller holds db mu and a txn
  void FillEntry(Inode& in, struct fuse_entry_param* e);
  void FillStat(const Inode& in, struct stat* st);  // caller holds in.mu
  Status PersistAttr(Inode& in);  // caller holds db mu, in.mu
  Status EnsureBlocks(Inode& in);  // caller holds data_mu
  // Caller holds data_mu. want_end: the end of the write or truncate the fd
  // is for (0: reading); an inode without blocks whose size stays within a
  // slab slot gets a slot instead of a cache file.
  Status EnsureFd(Inode& in, uint64_t want_end = 0);
  // Moves a slab inode's bytes into a cache file of its own (it grows past
  // a slot). Caller holds data_mu unique.
  Status Spill(Inode& in);
  // Offset of the inode's byte 0 in its fd (caller holds in.mu).
  uint64_t CacheBase(const Inode& in) const {
    return in.slot >= 0 ? static_cast<uint64_t>(in.slot) * slot_size_ : 0;
  }
  // Drops everything in the inode's cache at and after `at` (ftruncate, or
  // a hole to the end of its slot). Caller holds in.mu.
  Status CutCache(Inode& in, uint64_t at);
  void CloseFdLocked(Inode& in);  // caller holds in.mu; never closes the slab
  int64_t AllocSlot();
  void FreeSlot(int64_t slot);  // punches the slot and makes it reusable
  Status OpenSlab();            // db mu held, bs_ known
  std::string CachePath(uint64_t ino) const;
  // Writes the inode's dirty state into the (group) transaction; durable:
  // fdatasyncs the cache file first (the caller then calls CommitDurable).
  Status FlushInode(Inode& in, bool durable);
  Status FlushAll(bool durable);
  // Commits the open group and fsyncs the WAL: everything so far survives a
  // power cut.
  Status CommitDurable();
  Status WaitUploaded(uint64_t ino, std::chrono::steady_clock::time_point deadline);
  Result<std::string> FetchBlock(const Blk& b, uint64_t ino, uint64_t blk);
  Result<std::shared_ptr<const std::string>> GetSegment(const std::string& id);
  // Starts fetching a segment in the background unless it is cached or
  // already being fetched. Returns its future (invalid if cached).
  std::shared_future<Result<std::shared_ptr<const std::string>>> StartFetch(
      const std::string& id, std::shared_ptr<const std::string>* hit);
  // Sequential reads: starts fetching the segments of the evicted blocks
  // that follow [from_blk, ...) so their round trips overlap this read's.
  void Prefetch(Inode& in, uint64_t from_blk);
  Status FillBlock(Inode& in, uint64_t blk);  // data_mu held (unique or shared)
  // Checks a cached block's bytes against its checksum (see Blk::csum); on a
  // mismatch marks it not cached, so that FillBlock reads it again. data_mu
  // held (unique or shared), EnsureFd done.
  Status VerifyBlock(Inode& in, uint64_t blk);
  // Marks a clean cached block (cur = in.blocks[blk]) as not cached, in
  // memory and in the database, so that the next read fetches it from its
  // segment. db mu and in.mu held.
  Status DropCachedCopyLocked(Inode& in, uint64_t blk, Blk& cur);
  Status Truncate(Inode& in, uint64_t size);  // data_mu unique held
  // Forgets blocks [from, to) of `in` (memory, blocks table, upload queue,
  // segments' live counts), inside the caller's transaction; the cache
  // bytes are the caller's. db mu and in.mu held.
  Status RemoveBlocksLocked(Inode& in, uint64_t from, uint64_t to);
  // Writes `size` bytes at `off` into the cache and marks the blocks dirty
  // (the caller then calls MarkDirtyInode). data_mu unique held.
  Status WriteData(Inode& in, const char* data, size_t size, uint64_t off);
  // fallocate PUNCH_HOLE / ZERO_RANGE: [off, end) reads as zeros; whole
  // blocks in it are dropped (cache bytes punched, segment references
  // released), partial ones are written with zeros. end <= size; data_mu
  // unique held.
  Status ZeroRange(Inode& in, uint64_t off, uint64_t end);
  void DecSegLocked(uint64_t ino, uint64_t blk);  // db mu held
  void MarkDirtyInode(uint64_t ino);
  int LookupDentry(uint64_t parent, const std::string& name, uint64_t* ino);  // db mu held
  void TouchDirLocked(Inode& dir, int nlink_delta);  // db mu held

  void UploaderLoop();
  // durability local: commits the metadata group once it is commit_window
  // old when no operation does (SqliteDb group commit).
  void CommitterLoop();
  // Stops the committer and commits the open group (idempotent).
  void StopCommitter();
  // Packs queued blocks into one segment and stores it. Returns true if it
  // stored something; *more says the queue held more than one segment's
  // worth (call again now), else the rest waits for the next wake-up.
  bool UploadOnce(bool* more);
  void DeleteDeadSegments();
  void Evict();
  // True if the grid has everything (stored now, or nothing to store).
  bool ShipMeta();
  void FlushIdle();
  // Upload (segment or metadata snapshot) failed / worked: counts the
  // failure streak for the backoff and records its cause for fs stats.
  void NoteUploadFailure(const std::string& what, const Status& st);
  void NoteUploadOk();
  void NoteError(const std::string& what);

  MountOptions opt_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<SqliteDb> db_;
  int lock_fd_ = -1;
  uint32_t bs_ = 0;
  // The largest file the cache's file system holds (16 TiB on ext4 with 4
  // KiB blocks), found at Open: writes and truncates past it are EFBIG.
  uint64_t max_file_size_ = UINT64_MAX;

  // The slab: one sparse file <cache-dir>/data/slab of slot_size_ slots.
  int slab_fd_ = -1;
  uint32_t slot_size_ = 0;
  std::mutex slab_mu_;  // leaf: guards the two below
  std::set<int64_t> free_slots_;
  int64_t next_slot_ = 0;

  std::mutex ns_mu_;
  std::mutex table_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> table_;
  // Bumped (under table_mu_) each time MaybeDrop removes an inode from the
  // table; see InodeRow::drop_epoch.
  std::atomic<uint64_t> drop_epoch_{0};
  // Last block generation handed out (FlushInode): above every gen in the
  // database at Open, then one more per queued block.
  std::atomic<uint64_t> gen_seq_{0};

  std::mutex dirty_mu_;
  std::set<uint64_t> dirty_inodes_;

  std::thread committer_;
  std::mutex commit_mu_;  // leaf: guards the two flags below
  std::condition_variable commit_cv_;
  bool commit_stop_ = false;
  bool group_opened_ = false;  // a group was opened since the committer last looked

  std::thread uploader_;
  std::mutex up_mu_;
  std::condition_variable up_cv_;    // wakes the uploader
  // Bytes queued for upload since the uploader last woke. A flush wakes it
  // only once a segment's worth is waiting; otherwise its timer (200 ms)
  // picks the blocks up, so many small files share one segment (and one
  // backend write) instead of one segment each.
  std::atomic<uint64_t> queued_since_wake_{0};
  std::condition_variable done_cv_;  // uploader made progress
  bool stop_ = false;
  bool uploader_exited_ = false;
  uint64_t meta_wanted_ = 0;
  uint64_t meta_shipped_ = 0;
  int64_t last_ship_changes_ = -1;
  std::chrono::steady_clock::time_point last_ship_;
  int upload_failures_ = 0;                    // guarded by up_mu_
  std::atomic<int64_t> in_sink_since_ns_{0};  // uploader inside a sink call since
  std::atomic<const char*> in_sink_what_{""};  // that call: "segment", "delete", "metadata"

  std::atomic<uint64_t> cache_bytes_{0};
  std::atomic<uint64_t> used_bytes_{0};
  // statfs size and cache limit: start as opt_'s, changed live by the
  // trusted.qstor.resize control attribute (an apply that grew the storage).
  std::atomic<uint64_t> capacity_{0};
  std::atomic<uint64_t> cache_limit_{0};
  // Why uploads keep failing (set with upload_failures_, cleared with it):
  // "namespace full", "unreachable", "refused" or "error", and the error.
  std::string upload_cause_;     // guarded by err_mu_
  std::string upload_cause_error_;
  int64_t upload_failing_since_ns_ = 0;
  std::atomic<uint64_t> inode_count_{0};
  std::atomic<uint64_t> uploaded_bytes_{0};
  std::atomic<uint64_t> uploaded_segments_{0};
  std::atomic<uint64_t> upload_errors_{0};
  std::atomic<uint64_t> fetch_errors_{0};
  std::atomic<uint64_t> evicted_bytes_{0};
  std::atomic<uint64_t> corrupt_blocks_{0};   // cached blocks that failed their checksum
  std::atomic<uint64_t> verified_blocks_{0};  // cached blocks checked and found intact
  std::atomic<uint64_t> deleted_segments_{0};
  std::atomic<uint64_t> meta_snapshots_{0};
  std::chrono::steady_clock::time_point started_;
  std::mutex err_mu_;
  std::string last_error_;

  std::shared_ptr<GridWriter> writer_;
  bool restored_ = false;
  // The cache holds changes no stored snapshot has (meta 'unshipped'); a
  // mount that only restored and read never stores one, so it never makes
  // a new generation that would make the cache it restored from stale.
  std::atomic<bool> unshipped_{true};
  std::atomic<uint64_t> mutations_{0};
};

}  // namespace qstor::fs::mount
