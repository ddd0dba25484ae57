// zdb store: 0-db style namespaces on local disk.
//
// Layout (docs/zdb.md has the byte-level format):
//   DIR/<namespace>/meta          properties (text, replaced atomically)
//   DIR/<namespace>/d00000000...  append-only data files; every entry has a
//                                 header (crc32, flags, key length, data
//                                 length, previous offset, timestamp, data
//                                 crc32) followed by the key and the data
//   DIR/<namespace>/index         index snapshot (written on clean close and
//                                 after compaction); optional: a missing or
//                                 damaged one is rebuilt from the data files
//
// Crash safety: on open the tail of every data file is verified entry by
// entry (crc); a torn or corrupt tail of the newest file is truncated to the
// last good entry. Nothing acknowledged after Sync() returned is lost.
// Sync() is called by the owner (the server: every write or every N ms).
//
// Threading: a Store and its Namespaces are NOT thread-safe; the server uses
// them from one thread. Compaction is online and incremental: CompactStep()
// does a bounded amount of work, so callers interleave it with requests.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "zdb/mapped_file.h"

namespace qstor::zdb {

enum class KeyMode { kUser, kSeq };

struct StoreOptions {
  // A data file rotates once it would exceed this size (max 4 GiB - 1,
  // offsets are 32-bit; default 256 MiB like 0-db).
  uint64_t rotate_bytes = 256ull << 20;
};

struct NsProps {
  std::string password;  // empty = none
  bool is_public = true;
  uint64_t maxsize = 0;  // live payload bytes, 0 = unlimited
  bool worm = false;     // write once: no overwrite, no delete
  bool lock = false;     // read-only for everyone
  KeyMode mode = KeyMode::kUser;
};

// Where an entry lives; 16 bytes, the whole per-key index cost in seq mode.
struct Loc {
  static constexpr uint32_t kNone = 0xffffffffu;
  uint32_t file = kNone;
  uint32_t offset = 0;
  uint32_t size = 0;       // payload bytes
  uint32_t timestamp = 0;  // unix seconds
  bool valid() const { return file != kNone; }
};

// Transparent hash: index lookups by string_view allocate nothing.
// Deliberately not noexcept: libstdc++ stores each node's hash code only for
// hash functions that may throw or are not marked fast, and without the stored
// code every lookup rehashes the key of each node it passes in the bucket
// chain (and reads that key from the heap) just to see where the chain ends:
// 14% of a GET's server time in the redis-benchmark profile. Stored, a chain
// step compares 8 bytes already in the node. 8 bytes per key (docs/zdb.md).
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
};
#if defined(__GLIBCXX__)
static_assert(std::__cache_default<std::string, KeyHash>::value,
              "the user index must store hash codes (KeyHash must not be noexcept)");
#endif

struct ScanItem {
  std::string key;
  uint32_t size = 0;
  uint32_t timestamp = 0;
};

struct NsStats {
  uint64_t reads = 0, writes = 0, deletes = 0;
  uint64_t truncated_bytes = 0;    // torn/corrupt tail removed on open
  uint64_t corrupt_entries = 0;    // bad entries seen while replaying
  bool index_rebuilt = false;      // last open rebuilt the index from data
  uint64_t compacted_files = 0;
};

class Namespace {
 public:
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  const NsProps& props() const { return props_; }
  // Persists new properties. Changing `mode` requires an empty namespace.
  Status SetProps(const NsProps& props);

  // SET. In seq mode an empty key allocates the next id (8 bytes LE); a
  // non-empty key must be an existing id. *stored_key receives the key;
  // *unchanged is true (and nothing is written) when the stored value is
  // byte-identical. Errors: kInvalidArgument (key/payload size, bad seq key),
  // kResourceExhausted (maxsize), kFailedPrecondition (worm/lock), kIOError.
  Status Set(std::string_view key, std::string_view value, std::string* stored_key,
             bool* unchanged, std::optional<uint32_t> timestamp = std::nullopt);
  // Reads a value; kNotFound when absent; kCorruption if the entry fails its crc.
  Result<std::string> Get(std::string_view key);
  // Reads the value of `key`, found at `loc` (from Find), straight into
  // dst[0..loc.size): a copy from the file's mapping, or one preadv where
  // there is none; verifies key and crc (kCorruption).
  // The server's GET path: the value lands in the reply buffer, uncopied.
  Status ReadValue(const Loc& loc, std::string_view key, char* dst);
  // Appends a tombstone. kNotFound when absent.
  Status Del(std::string_view key);
  // Index lookup; an invalid Loc when absent.
  Loc Find(std::string_view key) const;
  // Re-reads the entry and verifies its crc: true = intact.
  Result<bool> Check(std::string_view key);
  // Opaque 8-byte cursor of a key (for SCAN/RSCAN); kNotFound when absent.
  Result<std::string> KeyCursor(std::string_view key) const;
  // Live entries after `cursor` (or from the first / last entry when unset),
  // in data-file order (reverse for RSCAN); at most `max_items`. *next is the
  // cursor of the last returned item. kNotFound = no more data;
  // kInvalidArgument = malformed cursor.
  Status Scan(const std::optional<std::string>& cursor, bool reverse, size_t max_items,
              std::vector<ScanItem>* items, std::string* next);

  // Deletes every entry (files removed); properties stay.
  Status Flush();
  // fdatasync of every file written since the last Sync.
  Status Sync();
  // The same, split so the fdatasync can run off the caller's thread: hands
  // over a dup of each file written since the last sync (appended to *fds)
  // and forgets them. The caller fdatasyncs and closes them
  // (Store::SyncAndClose). A file that cannot be dup'ed is synced here.
  Status TakeDirty(std::vector<int>* fds);
  bool dirty() const { return !dirty_files_.empty(); }

  // Online compaction, one bounded step (at most ~`budget_bytes` copied):
  // picks the sealed data file with the most garbage (if at least
  // `min_garbage_ratio` of it is dead), copies its live entries to the head
  // and removes it once done. Returns true if work remains.
  Result<bool> CompactStep(double min_garbage_ratio, uint64_t budget_bytes = 4u << 20);
  // Runs CompactStep until done (offline use and tests).
  Status CompactAll(double min_garbage_ratio = 0.0);

  // Writes the index snapshot (after Sync). Called by Store::Close.
  Status WriteSnapshot();

  uint64_t entries() const { return entries_; }
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t disk_bytes() const;
  uint64_t index_bytes() const;   // estimated memory of the in-memory index
  uint64_t next_id() const { return next_id_; }
  size_t file_count() const { return files_.size(); }
  const NsStats& stats() const { return stats_; }
  const std::string& dir() const { return dir_; }

 private:
  friend class Store;
  struct File {
    uint32_t id = 0;
    int fd = -1;
    uint64_t size = 0;      // bytes of valid entries (file header included)
    uint32_t last_off = 0;  // offset of the last entry, 0 = none
    uint64_t live = 0;      // bytes of live entries
    MappedFile map;         // read-only mapping for GETs, made on first read
    int map_failures = 0;   // mmap failures; kMaxMapFailures = use preadv only
  };
  static constexpr int kMaxMapFailures = 3;
  struct Header;

  Namespace(std::string dir, std::string name, StoreOptions options);
  static Result<std::unique_ptr<Namespace>> Open(const std::string& dir, const std::string& name,
                                                 StoreOptions options, bool create);
  Status Load();
  Status LoadMeta();
  Status SaveMeta();
  bool LoadSnapshot(std::vector<uint64_t>* replay_from);
  Status Replay(File& f, uint64_t from, bool is_last);
  Status NewFile();
  File* FileById(uint32_t id);
  Result<Loc> Append(uint8_t flags, std::string_view key, std::string_view value, uint32_t ts,
                     bool count_live);
  void IndexPut(std::string_view key, const Loc& loc, uint64_t entry_bytes);
  void IndexErase(std::string_view key);
  bool IndexApply(uint8_t flags, std::string_view key, const Loc& loc, uint64_t entry_bytes);
  Status ReadEntry(const Loc& loc, std::string* key, std::string* value, bool verify) const;
  Status Fail(Status::Code code, const std::string& what) const;
  bool SeqId(std::string_view key, uint64_t* id) const;

  std::string dir_, name_;
  StoreOptions options_;
  NsProps props_;
  std::vector<File> files_;  // ascending id; back() is the head
  std::vector<uint32_t> dirty_files_;
  std::unordered_map<std::string, Loc, KeyHash, std::equal_to<>> user_index_;  // user mode
  std::vector<Loc> seq_index_;                        // seq mode, slot per id
  uint64_t entries_ = 0, live_bytes_ = 0, next_id_ = 0;
  NsStats stats_;
  // compaction progress
  uint32_t compact_file_ = Loc::kNone;
  uint64_t compact_off_ = 0;
};

class Store {
 public:
  // Opens (creating if needed) DIR and every namespace in it; "default"
  // always exists.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, StoreOptions options = {});
  ~Store();

  Namespace* Get(const std::string& name);
  // kAlreadyExists / kInvalidArgument (name rules: 1..128 chars, no '/',
  // no control chars, not "." or "..").
  Result<Namespace*> Create(const std::string& name);
  // Removes the namespace and its files. "default" cannot be removed.
  Status Delete(const std::string& name);
  std::vector<std::string> List() const;  // sorted
  Status SyncAll();
  // TakeDirty of every namespace.
  Status TakeDirtyAll(std::vector<int>* fds);
  // fdatasync and close each fd (all of them, even after an error); the
  // first error. Thread-safe: touches nothing but the fds.
  static Status SyncAndClose(const std::vector<int>& fds);
  bool AnyDirty() const;
  // Syncs and writes index snapshots. Called by the destructor too.
  Status Close();
  const std::string& dir() const { return dir_; }

  static bool ValidName(const std::string& name);

 private:
  Store(std::string dir, StoreOptions options) : dir_(std::move(dir)), options_(options) {}
  std::string dir_;
  StoreOptions options_;
  std::vector<std::unique_ptr<Namespace>> ns_;
  bool closed_ = false;
};

}  // namespace qstor::zdb
