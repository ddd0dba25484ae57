#include "fs/mount/qfs.h"

#include <xxhash.h>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/json_fields.h"

namespace qstor::fs::mount {
namespace {

constexpr size_t kNameMax = 255;
constexpr size_t kXattrMax = 64 * 1024;
constexpr const char* kStatsXattr = "trusted.qstor.stats";
constexpr const char* kSyncXattr = "trusted.qstor.sync";
constexpr const char* kResizeXattr = "trusted.qstor.resize";
constexpr const char* kCheckXattr = "trusted.qstor.check-cache";
constexpr const char* kCheckDecodeXattr = "trusted.qstor.check-cache-decode";
constexpr const char* kMetaBlob = "fsmeta.sqlite";
constexpr double kAttrTimeout = 1.0;

int64_t NowNs() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct timespec ToTs(int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000L;
    ts.tv_sec -= 1;
  }
  return ts;
}

int64_t FromTs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string RandomId() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string s = "seg-";
  for (unsigned char c : b) {
    s.push_back(hex[c >> 4]);
    s.push_back(hex[c & 15]);
  }
  return s;
}

Status PreadFull(int fd, char* buf, size_t n, uint64_t off, size_t* got) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("cache read: ") + std::strerror(errno));
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  *got = done;
  return Status::OK();
}

Status PwriteFull(int fd, const char* buf, size_t n, uint64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC || errno == EDQUOT) {
        return Status::ResourceExhausted(std::string("cache write: ") + std::strerror(errno));
      }
      return Status::IOError(std::string("cache write: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

// The largest size ftruncate accepts for a file in `dir`: a sparse probe
// file, binary search over the bit length (ext4 with 4 KiB blocks: 16 TiB -
// 4 KiB; xfs, btrfs: 8 EiB - 1), so no space is used.
uint64_t ProbeMaxFileSize(const std::string& dir) {
  std::string path = dir + "/.maxsize-probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UINT64_MAX;
  ::unlink(path.c_str());
  uint64_t lo = 1ull << 20, hi = static_cast<uint64_t>(INT64_MAX);  // lo works, hi may not
  if (::ftruncate(fd, static_cast<off_t>(hi)) == 0) {
    ::close(fd);
    return hi;
  }
  if (::ftruncate(fd, static_cast<off_t>(lo)) != 0) {
    ::close(fd);
    return UINT64_MAX;  // cannot tell: leave it to the writes
  }
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (::ftruncate(fd, static_cast<off_t>(mid)) == 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  ::close(fd);
  return lo;
}

int ErrnoOf(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return 0;
    case Status::Code::kNotFound: return ENOENT;
    case Status::Code::kResourceExhausted: return ENOSPC;
    default: return EIO;
  }
}

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY AUTOINCREMENT, mode INTEGER NOT NULL, uid INTEGER NOT NULL,
  gid INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL, rdev INTEGER NOT NULL,
  atime INTEGER NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
  alloc INTEGER NOT NULL DEFAULT 0, target BLOB, slot INTEGER);
CREATE TABLE IF NOT EXISTS dentries(
  id INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER NOT NULL, name BLOB NOT NULL,
  ino INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS dentries_name ON dentries(parent, name);
CREATE INDEX IF NOT EXISTS dentries_ino ON dentries(ino);
CREATE TABLE IF NOT EXISTS xattrs(ino INTEGER NOT NULL, name BLOB NOT NULL, value BLOB,
  PRIMARY KEY(ino, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks(
  ino INTEGER NOT NULL, blk INTEGER NOT NULL, gen INTEGER NOT NULL, len INTEGER NOT NULL,
  cached INTEGER NOT NULL, cached_ns INTEGER NOT NULL, seg TEXT, seg_off INTEGER NOT NULL,
  seg_len INTEGER NOT NULL, csum INTEGER, PRIMARY KEY(ino, blk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_seg ON blocks(seg) WHERE seg IS NOT NULL;
CREATE INDEX IF NOT EXISTS blocks_evict ON blocks(cached_ns) WHERE cached=1 AND seg IS NOT NULL;
CREATE TABLE IF NOT EXISTS upload_queue(ino INTEGER NOT NULL, blk INTEGER NOT NULL,
  gen INTEGER NOT NULL, queued_ns INTEGER NOT NULL, PRIMARY KEY(ino, blk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS upload_queue_age ON upload_queue(queued_ns);
CREATE TABLE IF NOT EXISTS segments(id TEXT PRIMARY KEY, len INTEGER NOT NULL,
  live INTEGER NOT NULL, state INTEGER NOT NULL, created_ns INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// The columns of an inodes row that ReadInodeRow reads, in its order.
#define QSTOR_INODE_COLS(t) \
  t "mode, " t "uid, " t "gid, " t "nlink, " t "size, " t "rdev, " t "atime, " t "mtime, " t \
    "ctime, " t "alloc, " t "target, " t "slot"

// Reads the QSTOR_INODE_COLS columns starting at column `c`.
InodeRow ReadInodeRow(const Query& q, int c) {
  InodeRow r;
  Attr& a = r.attr;
  a.mode = static_cast<uint32_t>(q.Int(c + 0));
  a.uid = static_cast<uint32_t>(q.Int(c + 1));
  a.gid = static_cast<uint32_t>(q.Int(c + 2));
  a.nlink = static_cast<uint64_t>(q.Int(c + 3));
  a.size = static_cast<uint64_t>(q.Int(c + 4));
  a.rdev = static_cast<uint64_t>(q.Int(c + 5));
  a.atime = q.Int(c + 6);
  a.mtime = q.Int(c + 7);
  a.ctime = q.Int(c + 8);
  a.alloc = static_cast<uint64_t>(q.Int(c + 9));
  r.target = q.Blob(c + 10);
  if (!q.IsNull(c + 11)) r.slot = q.Int(c + 11);
  return r;
}

// A block's checksum (Blk::csum): XXH3-64 of its `len` bytes, where bytes
// past `data` (holes, a short segment copy) count as zeros.
uint64_t BlockSum(std::string_view data, uint32_t len) {
  if (data.size() >= len) return XXH3_64bits(data.data(), len);
  XXH3_state_t* s = XXH3_createState();
  XXH3_64bits_reset(s);
  XXH3_64bits_update(s, data.data(), data.size());
  static const std::string kZeros(64 * 1024, '\0');
  for (size_t left = len - data.size(); left > 0;) {
    size_t n = std::min(left, kZeros.size());
    XXH3_64bits_update(s, kZeros.data(), n);
    left -= n;
  }
  uint64_t h = XXH3_64bits_digest(s);
  XXH3_freeState(s);
  return h;
}

// Segment states.
constexpr int kSegUploading = 0;
constexpr int kSegStored = 1;
constexpr int kSegDead = 2;
// Files of at most this size (and at most a block) live in a slot of the
// shared slab file instead of a cache file of their own.
constexpr uint32_t kMaxSlotSize = 64 * 1024;
// Sequential reads fetch this many segments ahead of the one being read.
constexpr size_t kPrefetchSegments = 4;

}  // namespace

struct Qfs::Shared {
  using SegResult = Result<std::shared_ptr<const std::string>>;
  std::shared_ptr<SegmentSink> sink;
  std::mutex mu;
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> lru;  // newest first
  std::map<std::string, std::shared_future<SegResult>> inflight;
  size_t lru_max = 8;
  std::atomic<uint64_t> fetched_bytes{0};  // by the fetch threads, prefetches included
};

Qfs::Qfs(MountOptions options, std::shared_ptr<SegmentSink> sink)
    : opt_(std::move(options)), shared_(std::make_shared<Shared>()) {
  shared_->sink = std::move(sink);
  capacity_ = opt_.capacity;
  cache_limit_ = opt_.cache_size;
  started_ = std::chrono::steady_clock::now();
  last_ship_ = started_;
}

Qfs::~Qfs() {
  StopCommitter();
  for (auto& [ino, in] : table_) {
    if (in->fd >= 0 && in->fd != slab_fd_) ::close(in->fd);
  }
  db_.reset();
  if (slab_fd_ >= 0) ::close(slab_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Qfs::CachePath(uint64_t ino) const {
  char sub[8];
  std::snprintf(sub, sizeof sub, "%02x", static_cast<unsigned>(ino & 0xff));
  return opt_.cache_dir + "/data/" + sub + "/" + std::to_string(ino);
}

void Qfs::NoteError(const std::string& what) {
  spdlog::warn("mount: {}", what);
  std::lock_guard l(err_mu_);
  last_error_ = what;
}

namespace {
std::string UploadFailureCause(const Status& st) {
  const std::string& m = st.message();
  auto has = [&](const char* t) { return m.find(t) != std::string::npos; };
  // A Put that could not store enough shards is kUnavailable whatever each
  // shard's reason; the reasons are in its message.
  if (st.code() == Status::Code::kResourceExhausted || has("No space left") ||
      has("resource exhausted")) {
    return "namespace full";
  }
  if (st.code() == Status::Code::kPermissionDenied || has("permission denied") ||
      has("Too many clients") || has("writer lease") || has("EROFS")) {
    return "refused";
  }
  if (st.code() == Status::Code::kUnavailable || st.code() == Status::Code::kTimeout) {
    return "unreachable";
  }
  return "error";
}
}  // namespace

void Qfs::NoteUploadFailure(const std::string& what, const Status& st) {
  {
    std::lock_guard l(up_mu_);
    upload_failures_++;
  }
  const std::string text = what + ": " + st.ToString();
  NoteError(text);
  std::lock_guard l(err_mu_);
  upload_cause_ = UploadFailureCause(st);
  upload_cause_error_ = text;
  if (upload_failing_since_ns_ == 0) upload_failing_since_ns_ = NowNs();
}

void Qfs::NoteUploadOk() {
  {
    std::lock_guard l(up_mu_);
    upload_failures_ = 0;
  }
  std::lock_guard l(err_mu_);
  upload_cause_.clear();
  upload_cause_error_.clear();
  upload_failing_since_ns_ = 0;
}

// ---------------------------------------------------------------------------
// Open / recovery
// ---------------------------------------------------------------------------

Status Qfs::Open() {
  const std::string& dir = opt_.cache_dir;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("cache dir " + dir + ": " + std::strerror(errno));
  }
  std::string lock = dir + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return Status::IOError("open " + lock + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::FailedPrecondition("cache dir " + dir +
                                      " is in use by another qstor mount (lock held)");
  }
  std::string data = dir + "/data";
  ::mkdir(data.c_str(), 0700);
  for (int i = 0; i < 256; i++) {
    char sub[8];
    std::snprintf(sub, sizeof sub, "%02x", i);
    ::mkdir((data + "/" + sub).c_str(), 0700);
  }
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::string dbpath = dir + "/meta.db";
  bool restored = false;
  if (::access(dbpath.c_str(), F_OK) != 0) {
    // A fresh cache directory: if the sink holds a metadata snapshot, this is
    // a recovery (new machine, wiped disk); starting empty would later
    // overwrite the snapshot, so an unreachable sink is an error here.
    auto sink = shared_->sink;
    auto prom = std::make_shared<std::promise<Result<std::string>>>();
    auto fut = prom->get_future();
    std::thread([sink, prom]() { prom->set_value(sink->GetMeta(kMetaBlob)); }).detach();
    if (fut.wait_for(opt_.read_timeout) != std::future_status::ready) {
      return Status::Timeout("cache dir " + dir + " is new and backend " +
                             shared_->sink->Describe() +
                             " did not answer for the metadata snapshot; refusing to start empty");
    }
    auto snap = fut.get();
    if (snap.ok()) {
      std::string tmp = dbpath + ".restore";
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return Status::IOError("open " + tmp + ": " + std::strerror(errno));
      Status st = PwriteFull(fd, snap->data(), snap->size(), 0);
      if (st.ok() && ::fsync(fd) != 0) st = Status::IOError("fsync " + tmp);
      ::close(fd);
      QSTOR_RETURN_IF_ERROR(st);
      if (::rename(tmp.c_str(), dbpath.c_str()) != 0) {
        return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
      }
      restored = true;
      spdlog::info("mount: restored metadata ({} bytes) from {}", snap->size(),
                   shared_->sink->Describe());
    } else if (snap.status().code() != Status::Code::kNotFound) {
      return snap.status().WithContext("reading the metadata snapshot of a new cache dir");
    }
  }

  auto db = SqliteDb::Open(dbpath);
  if (!db.ok()) return db.status();
  db_ = std::move(db.value());
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Exec(kSchema));

  // Block size is fixed at creation.
  {
    auto q = db_->Prepare("SELECT v FROM meta WHERE k='block_size'");
    if (q.Step()) {
      bs_ = static_cast<uint32_t>(q.Int(0));
    } else {
      QSTOR_RETURN_IF_ERROR(q.status());
      bs_ = opt_.block_size;
      auto ins = db_->Prepare("INSERT INTO meta(k, v) VALUES('block_size', ?)");
      QSTOR_RETURN_IF_ERROR(ins.Bind(1, bs_).Run());
    }
  }
  if (bs_ != opt_.block_size) {
    spdlog::info("mount: block size is {} (fixed when the filesystem was created)", bs_);
  }
  QSTOR_RETURN_IF_ERROR(OpenSlab());
  max_file_size_ = ProbeMaxFileSize(opt_.cache_dir + "/data");
  {
    auto q = db_->Prepare("SELECT 1 FROM inodes WHERE ino=1");
    if (!q.Step()) {
      QSTOR_RETURN_IF_ERROR(q.status());
      int64_t now = NowNs();
      auto ins = db_->Prepare(
          "INSERT INTO inodes(ino, mode, uid, gid, nlink, size, rdev, atime, mtime, ctime, alloc)"
          " VALUES(1, ?, ?, ?, 2, 4096, 0, ?, ?, ?, 0)");
      QSTOR_RETURN_IF_ERROR(ins.Bind(1, S_IFDIR | 0755)
                                .Bind(2, static_cast<int64_t>(getuid()))
                                .Bind(3, static_cast<int64_t>(getgid()))
                                .Bind(4, now).Bind(5, now).Bind(6, now)
                                .Run());
    }
  }
  QSTOR_RETURN_IF_ERROR(db_->Begin(true));
  if (restored) {
    // The snapshot is of another cache: nothing is cached here, blocks that
    // never reached a segment were not durable and are gone.
    QSTOR_RETURN_IF_ERROR(db_->Exec(
        "UPDATE blocks SET cached=0;"
        "DELETE FROM blocks WHERE seg IS NULL;"
        "DELETE FROM upload_queue;"
        "UPDATE segments SET state=2 WHERE state=0;"
        // Slots name places in the other cache's slab; this slab is empty.
        "UPDATE inodes SET slot=NULL;"
        "UPDATE inodes SET alloc=(SELECT COALESCE(SUM(len),0) FROM blocks b WHERE b.ino=inodes.ino);"
        // The grid has everything this cache holds (writer_lease.h).
        "DELETE FROM meta WHERE k='unshipped';"));
  }
  restored_ = restored;
  {
    auto q = db_->Prepare("SELECT v FROM meta WHERE k='unshipped'");
    unshipped_ = restored ? false : (q.Step() ? q.Int(0) != 0 : true);
  }
  // Crash recovery: half-uploaded segments are garbage; unlinked inodes whose
  // last user died with the process are reaped.
  QSTOR_RETURN_IF_ERROR(db_->Exec("UPDATE segments SET state=2 WHERE state=0"));
  {
    std::vector<uint64_t> orphans;
    auto q = db_->Prepare("SELECT ino FROM inodes WHERE nlink=0 AND ino<>1");
    while (q.Step()) orphans.push_back(static_cast<uint64_t>(q.Int(0)));
    QSTOR_RETURN_IF_ERROR(q.status());
    for (uint64_t ino : orphans) {
      Inode tmp(ino);
      ReapLocked(tmp);
    }
  }
  QSTOR_RETURN_IF_ERROR(db_->Commit());
  {
    // Slots the database names are taken; every other slot is free and
    // punched (a crash can leave bytes in a slot whose inode never reached
    // the database).
    std::lock_guard sl(slab_mu_);
    free_slots_.clear();
    int64_t next = 0;
    auto punch = [&](int64_t from, int64_t to) {
      if (from >= to) return;
      (void)::fallocate(slab_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(from) * slot_size_,
                        static_cast<off_t>(to - from) * slot_size_);
      for (int64_t i = from; i < to; i++) free_slots_.insert(i);
    };
    auto q = db_->Prepare("SELECT DISTINCT slot FROM inodes WHERE slot IS NOT NULL ORDER BY slot");
    while (q.Step()) {
      int64_t used = q.Int(0);
      punch(next, used);
      next = used + 1;
    }
    QSTOR_RETURN_IF_ERROR(q.status());
    next_slot_ = next;
    if (::ftruncate(slab_fd_, static_cast<off_t>(next) * slot_size_) != 0) {
      return Status::IOError(std::string("truncate slab file: ") + std::strerror(errno));
    }
  }
  {
    auto q = db_->Prepare("SELECT COALESCE(SUM(len),0) FROM blocks WHERE cached=1");
    if (q.Step()) cache_bytes_ = static_cast<uint64_t>(q.Int(0));
  }
  {
    auto q = db_->Prepare(
        "SELECT MAX(COALESCE((SELECT MAX(gen) FROM blocks), 0),"
        " COALESCE((SELECT MAX(gen) FROM upload_queue), 0))");
    if (!q.Step()) return q.status().WithContext("metadata db: block generations");
    gen_seq_ = static_cast<uint64_t>(q.Int(0));
  }
  {
    auto q = db_->Prepare("SELECT COALESCE(SUM(alloc),0), COUNT(*) FROM inodes");
    if (q.Step()) {
      used_bytes_ = static_cast<uint64_t>(q.Int(0));
      inode_count_ = static_cast<uint64_t>(q.Int(1));
    }
  }
  // Group commit (durability local only: with grid, close and fsync keep
  // committing each operation at once).
  if (opt_.durability == Durability::kLocal && opt_.commit_window.count() > 0) {
    db_->SetGroupWindow(opt_.commit_window);
    db_->SetOnGroupOpen([this] {
      {
        std::lock_guard l(commit_mu_);
        group_opened_ = true;
      }
      commit_cv_.notify_one();
    });
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Inode table
// ---------------------------------------------------------------------------

std::shared_ptr<Inode> Qfs::LoadInodeLocked(uint64_t ino, const InodeRow* row) {
  auto it = table_.find(ino);
  if (it != table_.end()) return it->second;
  auto in = std::make_shared<Inode>(ino);
  InodeRow r;
  if (row != nullptr && row->drop_epoch != drop_epoch_.load()) row = nullptr;  // maybe stale
  if (row == nullptr) {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare("SELECT " QSTOR_INODE_COLS("") " FROM inodes WHERE ino=?");
    q.Bind(1, ino);
    if (!q.Step()) return nullptr;
    r = ReadInodeRow(q, 0);
    row = &r;
  }
  in->attr = row->attr;
  in->target = row->target;
  in->slot = in->db_slot = row->slot;
  table_[ino] = in;
  return in;
}

std::shared_ptr<Inode> Qfs::GetInode(uint64_t ino) {
  std::lock_guard l(table_mu_);
  auto in = LoadInodeLocked(ino, nullptr);
  if (in && in->deleted) return nullptr;
  return in;
}

std::shared_ptr<Inode> Qfs::Ref(uint64_t ino, const InodeRow* row) {
  std::lock_guard l(table_mu_);
  auto in = LoadInodeLocked(ino, row);
  if (!in || in->deleted) return nullptr;
  in->nlookup++;
  return in;
}

void Qfs::MaybeDrop(uint64_t ino) {
  std::lock_guard l(table_mu_);
  auto it = table_.find(ino);
  if (it == table_.end()) return;
  Inode& in = *it->second;
  if (in.nlookup > 0 || ino == FUSE_ROOT_ID) return;
  std::lock_guard dl(db_->mu());
  bool erase = false;
  {
    std::unique_lock il(in.mu);
    if (in.open_count > 0) return;
    if (in.attr.nlink == 0 && !in.deleted) {
      il.unlock();
      Status st = db_->Begin();
      if (st.ok()) {
        ReapLocked(in);
        st = db_->Commit();
      }
      if (!st.ok()) {
        db_->Rollback();
        NoteError("reaping inode " + std::to_string(ino) + ": " + st.ToString());
        return;
      }
      il.lock();
    }
    erase = in.deleted || (!in.attr_dirty && in.dirty.empty());
  }
  // Only drop the table entry when nobody else (the uploader) holds it.
  if (erase && it->second.use_count() == 1) {
    std::shared_ptr<Inode> keep = std::move(it->second);  // destroyed after the lock below
    table_.erase(it);
    drop_epoch_++;
    std::lock_guard il(keep->mu);
    CloseFdLocked(*keep);
    // A slot the database does not name holds nothing anyone can find again
    // (an inode given one but never flushed): give it back.
    if (!keep->deleted && keep->slot >= 0 && keep->slot != keep->db_slot) {
      FreeSlot(keep->slot);
      keep->slot = -1;
    }
  }
}

// Removes an inode and everything it owns. Caller holds db mu inside a
// transaction; takes in.mu.
void Qfs::ReapLocked(Inode& in) {
  uint64_t ino = in.ino;
  uint64_t cached = 0;
  {
    auto q = db_->Prepare("SELECT COALESCE(SUM(len),0) FROM blocks WHERE ino=? AND cached=1");
    q.Bind(1, ino);
    if (q.Step()) cached = static_cast<uint64_t>(q.Int(0));
  }
  (void)db_->Prepare(
          "UPDATE segments SET live = live - (SELECT COUNT(*) FROM blocks b WHERE b.ino=?1 AND"
          " b.seg=segments.id) WHERE id IN (SELECT seg FROM blocks WHERE ino=?1 AND seg IS NOT NULL)")
      .Bind(1, ino)
      .Run();
  uint64_t alloc = 0;
  std::set<int64_t> slots;  // every slot the inode may hold, to free after the commit
  {
    auto q = db_->Prepare("SELECT alloc, slot FROM inodes WHERE ino=?");
    q.Bind(1, ino);
    if (q.Step()) {
      alloc = static_cast<uint64_t>(q.Int(0));
      if (!q.IsNull(1)) slots.insert(q.Int(1));
    }
  }
  (void)db_->Prepare("DELETE FROM blocks WHERE ino=?").Bind(1, ino).Run();
  (void)db_->Prepare("DELETE FROM upload_queue WHERE ino=?").Bind(1, ino).Run();
  (void)db_->Prepare("DELETE FROM xattrs WHERE ino=?").Bind(1, ino).Run();
  (void)db_->Prepare("DELETE FROM inodes WHERE ino=?").Bind(1, ino).Run();
  std::lock_guard il(in.mu);
  if (in.blocks_loaded) {
    cached = 0;
    for (auto& [b, blk] : in.blocks) {
      if (blk.cached) cached += blk.len;
    }
    alloc = in.attr.alloc;
  }
  in.deleted = true;
  in.blocks.clear();
  in.dirty.clear();
  in.attr_dirty = false;
  CloseFdLocked(in);
  for (int64_t s : {in.slot, in.db_slot, in.free_slot}) {
    if (s >= 0) slots.insert(s);
  }
  in.slot = in.db_slot = in.free_slot = -1;
  // Only once the deletion is committed: if the group it belongs to is lost
  // in a crash, the inode comes back and its cached blocks must still be
  // there. (A slab inode can have a cache file too: left by a spill or by a
  // lost inode of the same number.)
  db_->AfterCommit([this, path = CachePath(ino), slots = std::move(slots)] {
    ::unlink(path.c_str());
    for (int64_t s : slots) FreeSlot(s);
  });
  cache_bytes_ -= std::min<uint64_t>(cached, cache_bytes_);
  used_bytes_ -= std::min<uint64_t>(alloc, used_bytes_);
  if (inode_count_ > 0) inode_count_--;
  {
    std::lock_guard l(dirty_mu_);
    dirty_inodes_.erase(ino);
  }
}

void Qfs::FillStat(const Inode& in, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  const Attr& a = in.attr;
  st->st_ino = in.ino;
  st->st_mode = a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_rdev = a.rdev;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = 4096;
  st->st_blocks = S_ISDIR(a.mode) ? 8 : static_cast<blkcnt_t>((a.alloc + 511) / 512);
  st->st_atim = ToTs(a.atime);
  st->st_mtim = ToTs(a.mtime);
  st->st_ctim = ToTs(a.ctime);
}

void Qfs::FillEntry(Inode& in, struct fuse_entry_param* e) {
  std::memset(e, 0, sizeof *e);
  e->ino = in.ino;
  e->generation = 1;
  e->attr_timeout = kAttrTimeout;
  e->entry_timeout = kAttrTimeout;
  std::lock_guard l(in.mu);
  FillStat(in, &e->attr);
}

Status Qfs::PersistAttr(Inode& in) {
  const Attr& a = in.attr;
  auto q = db_->Prepare(
      "UPDATE inodes SET mode=?, uid=?, gid=?, nlink=?, size=?, rdev=?, atime=?, mtime=?,"
      " ctime=?, alloc=?, slot=? WHERE ino=?");
  q.Bind(1, a.mode).Bind(2, a.uid).Bind(3, a.gid).Bind(4, a.nlink).Bind(5, a.size)
      .Bind(6, a.rdev).Bind(7, a.atime).Bind(8, a.mtime).Bind(9, a.ctime).Bind(10, a.alloc)
      .Bind(12, in.ino);
  if (in.slot >= 0) {
    q.Bind(11, in.slot);
  } else {
    q.BindNull(11);
  }
  Status st = q.Run();
  if (!st.ok()) return st;
  in.db_slot = in.slot;
  if (in.free_slot >= 0) {
    // The row no longer names the slot the inode spilled from: free it once
    // that is committed (a crash before brings the old row back, and the
    // slot's bytes with it).
    db_->AfterCommit([this, s = in.free_slot] { FreeSlot(s); });
    in.free_slot = -1;
  }
  return st;
}

int Qfs::LookupDentry(uint64_t parent, const std::string& name, uint64_t* ino) {
  auto q = db_->Prepare("SELECT ino FROM dentries WHERE parent=? AND name=?");
  q.Bind(1, parent).BindBlob(2, name);
  if (q.Step()) {
    *ino = static_cast<uint64_t>(q.Int(0));
    return 0;
  }
  return q.status().ok() ? ENOENT : EIO;
}

void Qfs::TouchDirLocked(Inode& dir, int nlink_delta) {
  std::lock_guard l(dir.mu);
  int64_t now = NowNs();
  dir.attr.mtime = dir.attr.ctime = now;
  dir.attr.nlink = static_cast<uint64_t>(static_cast<int64_t>(dir.attr.nlink) + nlink_delta);
  (void)PersistAttr(dir);
}

void Qfs::MarkDirtyInode(uint64_t ino) {
  std::lock_guard l(dirty_mu_);
  dirty_inodes_.insert(ino);
}

// ---------------------------------------------------------------------------
// Block map and cache file
// ---------------------------------------------------------------------------

Status Qfs::EnsureBlocks(Inode& in) {
  {
    std::lock_guard l(in.mu);
    if (in.blocks_loaded) return Status::OK();
  }
  std::map<uint64_t, Blk> blocks;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare(
        "SELECT blk, gen, len, cached, seg, seg_off, seg_len, csum FROM blocks WHERE ino=?");
    q.Bind(1, in.ino);
    while (q.Step()) {
      Blk b;
      b.gen = static_cast<uint64_t>(q.Int(1));
      b.len = static_cast<uint32_t>(q.Int(2));
      b.cached = q.Int(3) != 0;
      if (!q.IsNull(4)) b.seg = q.Blob(4);
      b.seg_off = static_cast<uint32_t>(q.Int(5));
      b.seg_len = static_cast<uint32_t>(q.Int(6));
      if (!q.IsNull(7) && !b.seg.empty()) {
        b.has_csum = true;
        b.csum = static_cast<uint64_t>(q.Int(7));
      }
      blocks.emplace(static_cast<uint64_t>(q.Int(0)), std::move(b));
    }
    QSTOR_RETURN_IF_ERROR(q.status());
  }
  std::lock_guard l(in.mu);
  if (!in.blocks_loaded) {
    in.blocks = std::move(blocks);
    in.blocks_loaded = true;
  }
  return Status::OK();
}

Status Qfs::OpenSlab() {
  {
    auto q = db_->Prepare("SELECT v FROM meta WHERE k='slot_size'");
    if (q.Step()) {
      slot_size_ = static_cast<uint32_t>(q.Int(0));
    } else {
      QSTOR_RETURN_IF_ERROR(q.status());
      slot_size_ = std::min(bs_, kMaxSlotSize);
      QSTOR_RETURN_IF_ERROR(
          db_->Prepare("INSERT INTO meta(k, v) VALUES('slot_size', ?)").Bind(1, slot_size_).Run());
    }
  }
  if (slot_size_ == 0 || slot_size_ > bs_ || slot_size_ % 4096 != 0) {
    return Status::Corruption("metadata db: slot size " + std::to_string(slot_size_) +
                              " with block size " + std::to_string(bs_));
  }
  // Databases from before the slab have no slot column: every inode there
  // has a cache file of its own.
  bool has_slot = false;
  {
    auto q = db_->Prepare("SELECT 1 FROM pragma_table_info('inodes') WHERE name='slot'");
    has_slot = q.Step();
    QSTOR_RETURN_IF_ERROR(q.status());
  }
  if (!has_slot) QSTOR_RETURN_IF_ERROR(db_->Exec("ALTER TABLE inodes ADD COLUMN slot INTEGER"));
  // Nor, from before block checksums, a csum column: their blocks get one
  // when they are next uploaded or filled from their segment.
  bool has_csum = false;
  {
    auto q = db_->Prepare("SELECT 1 FROM pragma_table_info('blocks') WHERE name='csum'");
    has_csum = q.Step();
    QSTOR_RETURN_IF_ERROR(q.status());
  }
  if (!has_csum) {
    QSTOR_RETURN_IF_ERROR(db_->Exec("ALTER TABLE blocks ADD COLUMN csum INTEGER"));
    // Such a cache may hold the damage of the readdir slot bug (docs/mount.md
    // "Slab"): a small file's clean block "cached" in a slot that holds a
    // hole. Its segment has the right bytes: read clean slab blocks from there.
    QSTOR_RETURN_IF_ERROR(db_->Exec(
        "UPDATE blocks SET cached=0 WHERE seg IS NOT NULL AND cached=1 AND"
        " ino IN (SELECT ino FROM inodes WHERE slot IS NOT NULL)"));
  }
  std::string data = opt_.cache_dir + "/data";
  std::string path = data + "/slab";
  slab_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (slab_fd_ < 0) return Status::IOError("slab file " + path + ": " + std::strerror(errno));
  // Its directory entry must be durable before an fsync relies on the file.
  int dfd = ::open(data.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    int e = errno;
    if (dfd >= 0) ::close(dfd);
    return Status::IOError("fsync " + data + ": " + std::strerror(e));
  }
  ::close(dfd);
  return Status::OK();
}

int64_t Qfs::AllocSlot() {
  std::lock_guard l(slab_mu_);
  if (!free_slots_.empty()) {
    int64_t s = *free_slots_.begin();
    free_slots_.erase(free_slots_.begin());
    return s;
  }
  return next_slot_++;
}

void Qfs::FreeSlot(int64_t slot) {
  if (::fallocate(slab_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(slot) * slot_size_, slot_size_) != 0) {
    // Not reusable: bytes of the old file could show through in a new one.
    NoteError("punch slab slot " + std::to_string(slot) + ": " + std::strerror(errno));
    return;
  }
  std::lock_guard l(slab_mu_);
  free_slots_.insert(slot);
}

void Qfs::CloseFdLocked(Inode& in) {
  if (in.fd >= 0 && in.fd != slab_fd_) ::close(in.fd);
  in.fd = -1;
}

Status Qfs::CutCache(Inode& in, uint64_t at) {
  if (in.slot >= 0) {
    if (at >= slot_size_) return Status::OK();
    if (::fallocate(slab_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(CacheBase(in) + at), static_cast<off_t>(slot_size_ - at)) !=
        0) {
      return Status::IOError(std::string("cut slab slot: ") + std::strerror(errno));
    }
    return Status::OK();
  }
  if (::ftruncate(in.fd, static_cast<off_t>(at)) != 0) {
    return Status::IOError(std::string("truncate cache file: ") + std::strerror(errno));
  }
  return Status::OK();
}

Status Qfs::Spill(Inode& in) {
  std::lock_guard l(in.mu);
  if (in.slot < 0) return Status::OK();
  std::string path = CachePath(in.ino);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cache file " + path + ": " + std::strerror(errno));
  uint64_t n = std::min<uint64_t>(in.attr.size, slot_size_);
  std::string buf(n, '\0');
  size_t got = 0;
  Status st = PreadFull(slab_fd_, buf.data(), n, CacheBase(in), &got);
  // Holes stay holes: only what the slot holds is copied.
  if (st.ok() && got > 0) st = PwriteFull(fd, buf.data(), got, 0);
  // The slot may hold clean (uploaded) blocks, which the database says are
  // cached: their new home must be on disk before the slot can be reused.
  if (st.ok() && ::fdatasync(fd) != 0) {
    st = Status::IOError(std::string("fdatasync new cache file: ") + std::strerror(errno));
  }
  if (!st.ok()) {
    ::close(fd);
    return st.WithContext("moving inode " + std::to_string(in.ino) + " out of the slab");
  }
  // The row still names the slot until the next PersistAttr commits: it is
  // freed only then (a crash before brings the slot's bytes back).
  if (in.slot == in.db_slot) {
    in.free_slot = in.slot;
  } else {
    FreeSlot(in.slot);
  }
  in.slot = -1;
  in.fd = fd;
  in.fd_new = true;
  in.attr_dirty = true;
  MarkDirtyInode(in.ino);
  return Status::OK();
}

Status Qfs::EnsureFd(Inode& in, uint64_t want_end) {
  std::lock_guard l(in.mu);
  if (in.fd >= 0) return Status::OK();
  if (in.slot >= 0) {
    in.fd = slab_fd_;
    return Status::OK();
  }
  if (in.blocks.empty() && in.free_slot < 0 && S_ISREG(in.attr.mode) &&
      in.attr.size <= slot_size_ && want_end <= slot_size_) {
    // A free slot is all holes (punched when freed, or at mount).
    in.slot = AllocSlot();
    in.fd = slab_fd_;
    return Status::OK();
  }
  std::string path = CachePath(in.ino);
  if (in.blocks.empty()) {
    // No block is cached, so nothing in an existing cache file is valid: it
    // can only be left over from an inode of the same number whose creation
    // was lost in a crash (its group never committed, so the number was
    // handed out again). One open creates or empties it.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Status::IOError("cache file " + path + ": " + std::strerror(errno));
    in.fd = fd;
    in.fd_new = true;
    return Status::OK();
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      in.fd_new = true;
      // A missing cache file with blocks marked cached means the cache was
      // lost: fall back to the segments; blocks only in the cache are gone.
      for (auto& [blk, b] : in.blocks) {
        if (b.cached) {
          b.cached = false;
          if (b.seg.empty()) {
            NoteError("inode " + std::to_string(in.ino) + " block " + std::to_string(blk) +
                      ": cache file lost before upload");
          }
        }
      }
    }
  }
  if (fd < 0) return Status::IOError("cache file " + path + ": " + std::strerror(errno));
  in.fd = fd;
  return Status::OK();
}

std::shared_future<Qfs::Shared::SegResult> Qfs::StartFetch(const std::string& id,
                                                         std::shared_ptr<const std::string>* hit) {
  std::lock_guard l(shared_->mu);
  for (auto it = shared_->lru.begin(); it != shared_->lru.end(); ++it) {
    if (it->first == id) {
      *hit = it->second;
      shared_->lru.splice(shared_->lru.begin(), shared_->lru, it);
      return {};
    }
  }
  auto f = shared_->inflight.find(id);
  if (f != shared_->inflight.end()) return f->second;
  auto p = std::make_shared<std::promise<Shared::SegResult>>();
  std::shared_future<Shared::SegResult> fut = p->get_future().share();
  shared_->inflight[id] = fut;
  std::thread([sh = shared_, id, p]() {
    auto r = sh->sink->Get(id);
    Shared::SegResult out = r.ok() ? Shared::SegResult(std::make_shared<const std::string>(
                                         std::move(r.value())))
                                   : Shared::SegResult(r.status());
    {
      std::lock_guard l2(sh->mu);
      if (out.ok()) {
        sh->fetched_bytes += out.value()->size();
        sh->lru.emplace_front(id, out.value());
        while (sh->lru.size() > sh->lru_max) sh->lru.pop_back();
      }
      sh->inflight.erase(id);
    }
    p->set_value(std::move(out));
  }).detach();
  return fut;
}

void Qfs::Prefetch(Inode& in, uint64_t from_blk) {
  // Up to kPrefetchSegments ahead: with the one being read, that many + 1
  // fetches overlap, each fanning out to k backends. The LRU keeps 8
  // segments, so a prefetched one is not evicted before it is read.
  const uint64_t ahead = std::max<uint64_t>(1, kPrefetchSegments * opt_.segment_size / bs_);
  std::vector<std::string> ids;
  {
    std::lock_guard l(in.mu);
    for (auto it = in.blocks.lower_bound(from_blk);
         it != in.blocks.end() && it->first < from_blk + ahead && ids.size() < kPrefetchSegments;
         ++it) {
      const Blk& b = it->second;
      if (b.cached || b.seg.empty()) continue;
      if (std::find(ids.begin(), ids.end(), b.seg) == ids.end()) ids.push_back(b.seg);
    }
  }
  for (const auto& id : ids) {
    std::shared_ptr<const std::string> hit;
    (void)StartFetch(id, &hit);
  }
}

Result<std::shared_ptr<const std::string>> Qfs::GetSegment(const std::string& id) {
  std::shared_ptr<const std::string> hit;
  std::shared_future<Shared::SegResult> fut = StartFetch(id, &hit);
  if (hit) return hit;
  if (fut.wait_for(opt_.read_timeout) != std::future_status::ready) {
    fetch_errors_++;
    return Status::Timeout("segment " + id + ": no answer from " + shared_->sink->Describe() +
                           " within " + std::to_string(opt_.read_timeout.count()) + " ms");
  }
  const auto& r = fut.get();
  if (!r.ok()) {
    fetch_errors_++;
    return r.status();
  }
  return r.value();
}

Result<std::string> Qfs::FetchBlock(const Blk& b, uint64_t ino, uint64_t blk) {
  auto seg = GetSegment(b.seg);
  if (!seg.ok()) {
    return seg.status().WithContext("inode " + std::to_string(ino) + " block " + std::to_string(blk));
  }
  const std::string& s = *seg.value();
  if (static_cast<uint64_t>(b.seg_off) + b.seg_len > s.size()) {
    return Status::Corruption("segment " + b.seg + " is " + std::to_string(s.size()) +
                              " bytes, block " + std::to_string(blk) + " of inode " +
                              std::to_string(ino) + " needs " +
                              std::to_string(b.seg_off + b.seg_len));
  }
  return s.substr(b.seg_off, std::min(b.len, b.seg_len));
}

// Brings an evicted block back into the cache file.
Status Qfs::FillBlock(Inode& in, uint64_t blk) {
  Blk b;
  int fd;
  uint64_t base;
  {
    std::lock_guard l(in.mu);
    auto it = in.blocks.find(blk);
    if (it == in.blocks.end() || it->second.cached || it->second.len == 0) return Status::OK();
    b = it->second;
    fd = in.fd;
    base = CacheBase(in);
    if (in.slot >= 0 && (blk != 0 || b.len > slot_size_)) {
      return Status::Corruption("inode " + std::to_string(in.ino) + " block " +
                                std::to_string(blk) + " does not fit its slab slot");
    }
  }
  if (b.seg.empty()) {
    return Status::Corruption("inode " + std::to_string(in.ino) + " block " + std::to_string(blk) +
                              " is neither cached nor in a segment");
  }
  auto data = FetchBlock(b, in.ino, blk);
  if (!data.ok()) return data.status();
  const uint64_t sum = BlockSum(*data, b.len);
  if (b.has_csum && sum != b.csum) {
    // The segment does not hold what was uploaded (a sink without its own
    // integrity check, or a bug): never pass it off as the file's bytes.
    fetch_errors_++;
    return Status::Corruption("inode " + std::to_string(in.ino) + " block " + std::to_string(blk) +
                              ": segment " + b.seg + " does not match the block's checksum");
  }
  QSTOR_RETURN_IF_ERROR(PwriteFull(fd, data->data(), data->size(), base + blk * bs_));
  std::lock_guard dl(db_->mu());
  std::lock_guard l(in.mu);
  auto it = in.blocks.find(blk);
  if (it != in.blocks.end() && !it->second.cached && it->second.gen == b.gen) {
    it->second.cached = true;
    // Reads of evicted data can refill the cache faster than the uploader's
    // 200 ms timer evicts: a segment's worth over the limit wakes it.
    if (cache_bytes_.fetch_add(it->second.len) + it->second.len >
        cache_limit_.load() + opt_.segment_size) {
      up_cv_.notify_all();
    }
    if (!it->second.dirty) {
      it->second.has_csum = true;
      it->second.csum = sum;
      it->second.verified = true;  // just written from the segment
      (void)db_->Prepare(
              "UPDATE blocks SET cached=1, cached_ns=?, csum=? WHERE ino=? AND blk=? AND gen=?")
          .Bind(1, NowNs()).Bind(2, static_cast<int64_t>(sum)).Bind(3, in.ino).Bind(4, blk)
          .Bind(5, b.gen)
          .Run();
    }
  }
  return Status::OK();
}

Status Qfs::VerifyBlock(Inode& in, uint64_t blk) {
  Blk b;
  int fd;
  uint64_t base;
  {
    std::lock_guard l(in.mu);
    auto it = in.blocks.find(blk);
    if (it == in.blocks.end()) return Status::OK();
    const Blk& cur = it->second;
    if (!cur.cached || cur.dirty || !cur.has_csum || cur.verified || cur.len == 0) {
      return Status::OK();
    }
    b = cur;
    fd = in.fd;
    base = CacheBase(in);
  }
  if (fd < 0) return Status::OK();
  std::string buf(b.len, '\0');
  size_t got = 0;
  Status st = PreadFull(fd, buf.data(), b.len, base + blk * bs_, &got);
  // An unreadable cache block is as good as a damaged one: the segment has it.
  const bool intact = st.ok() && BlockSum(std::string_view(buf.data(), got), b.len) == b.csum;
  std::lock_guard dl(db_->mu());
  std::lock_guard l(in.mu);
  auto it = in.blocks.find(blk);
  if (it == in.blocks.end()) return Status::OK();
  Blk& cur = it->second;
  if (!cur.cached || cur.dirty || cur.gen != b.gen || !cur.has_csum || cur.verified) {
    return Status::OK();  // changed meanwhile: whoever changed it decided
  }
  if (intact) {
    cur.verified = true;
    verified_blocks_++;
    return Status::OK();
  }
  corrupt_blocks_++;
  NoteError("inode " + std::to_string(in.ino) + " block " + std::to_string(blk) +
            ": cached copy " + (st.ok() ? "fails its checksum" : "unreadable (" + st.ToString() + ")") +
            "; reading it again from segment " + cur.seg);
  return DropCachedCopyLocked(in, blk, cur);
}

Status Qfs::DropCachedCopyLocked(Inode& in, uint64_t blk, Blk& cur) {
  cur.cached = cur.verified = false;
  cache_bytes_ -= std::min<uint64_t>(cur.len, cache_bytes_);
  return db_->Prepare("UPDATE blocks SET cached=0 WHERE ino=? AND blk=? AND gen=?")
      .Bind(1, in.ino).Bind(2, blk).Bind(3, cur.gen)
      .Run();
}

void Qfs::DecSegLocked(uint64_t ino, uint64_t blk) {
  (void)db_->Prepare(
          "UPDATE segments SET live=live-1 WHERE id=(SELECT seg FROM blocks WHERE ino=? AND blk=?)")
      .Bind(1, ino).Bind(2, blk)
      .Run();
}

// Writes the inode's in-memory size/times and dirty block list to the
// database (the open group transaction, see SqliteDb) and queues the dirty
// blocks for upload. durable: the cache file is fdatasync'ed first; the
// caller then makes the metadata durable with CommitDurable().
Status Qfs::FlushInode(Inode& in, bool durable) {
  {
    std::lock_guard l(in.mu);
    if (in.deleted || (!durable && !in.attr_dirty && in.dirty.empty())) return Status::OK();
  }
  std::unique_lock dlk(in.data_mu);
  {
    std::lock_guard l(in.mu);
    if (in.deleted) return Status::OK();
    // A slab inode's bytes are in the slab whether or not it holds it open.
    int sync_fd = in.slot >= 0 ? slab_fd_ : in.fd;
    // A cache file whose descriptor was closed (after a close without fsync
    // flushed its blocks into the metadata group) may still hold writes that
    // are not on disk: open it again to sync it. No cache file: nothing to
    // sync.
    int reopened = -1;
    if (durable && sync_fd < 0) {
      reopened = ::open(CachePath(in.ino).c_str(), O_RDONLY | O_CLOEXEC);
      sync_fd = reopened;
    }
    if (durable && sync_fd >= 0) {
      int rc = ::fdatasync(sync_fd);
      int err = errno;
      if (reopened >= 0) ::close(reopened);
      if (rc != 0) {
        return Status::IOError("fdatasync cache file of inode " + std::to_string(in.ino) + ": " +
                               std::strerror(err));
      }
      if (in.fd_new) {
        std::string dir = CachePath(in.ino);
        dir.resize(dir.rfind('/'));
        int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
          ::fsync(dfd);
          ::close(dfd);
        }
        in.fd_new = false;
      }
    }
    if (!in.attr_dirty && in.dirty.empty()) return Status::OK();
  }
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Begin());
  Status st;
  std::vector<uint64_t> flushed;
  uint64_t flushed_bytes = 0;
  {
    std::lock_guard l(in.mu);
    if (in.attr_dirty || !in.dirty.empty()) {
      st = PersistAttr(in);
      int64_t now = NowNs();
      for (uint64_t blk : in.dirty) {
        if (!st.ok()) break;
        auto it = in.blocks.find(blk);
        if (it == in.blocks.end()) continue;
        Blk& b = it->second;
        DecSegLocked(in.ino, blk);
        b.gen = ++gen_seq_;
        b.seg.clear();
        b.seg_off = b.seg_len = 0;
        b.has_csum = b.verified = false;
        st = db_->Prepare("INSERT OR REPLACE INTO blocks(ino, blk, gen, len, cached, cached_ns, seg,"
                          " seg_off, seg_len) VALUES(?, ?, ?, ?, 1, ?, NULL, 0, 0)")
                 .Bind(1, in.ino).Bind(2, blk).Bind(3, b.gen).Bind(4, b.len).Bind(5, now)
                 .Run();
        if (!st.ok()) break;
        st = db_->Prepare("INSERT OR REPLACE INTO upload_queue(ino, blk, gen, queued_ns)"
                          " VALUES(?, ?, ?, ?)")
                 .Bind(1, in.ino).Bind(2, blk).Bind(3, b.gen).Bind(4, now)
                 .Run();
        flushed.push_back(blk);
        flushed_bytes += b.len;
      }
    }
    if (st.ok()) st = db_->Commit();
    if (!st.ok()) {
      db_->Rollback();
      return st.WithContext("flushing inode " + std::to_string(in.ino));
    }
    for (uint64_t blk : flushed) {
      auto it = in.blocks.find(blk);
      if (it != in.blocks.end()) it->second.dirty = false;
      in.dirty.erase(blk);
    }
    in.attr_dirty = false;
    in.first_dirty_ns = 0;
    if (in.dirty.empty()) {
      std::lock_guard l2(dirty_mu_);
      dirty_inodes_.erase(in.ino);
    }
  }
  if (!flushed.empty() &&
      queued_since_wake_.fetch_add(flushed_bytes) + flushed_bytes >= opt_.segment_size) {
    up_cv_.notify_all();
  }
  return Status::OK();
}

Status Qfs::FlushAll(bool durable) {
  std::vector<uint64_t> inos;
  {
    std::lock_guard l(dirty_mu_);
    inos.assign(dirty_inodes_.begin(), dirty_inodes_.end());
  }
  Status first;
  for (uint64_t ino : inos) {
    auto in = GetInode(ino);
    if (!in) continue;
    Status st = FlushInode(*in, durable);
    if (!st.ok() && first.ok()) first = st;
  }
  if (durable) {
    Status st = CommitDurable();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

// One small transaction committed with synchronous=FULL after the open group
// is committed: the WAL fsync makes it and every earlier commit durable.
Status Qfs::CommitDurable() {
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Begin(true));
  Status st = db_->Exec("INSERT OR REPLACE INTO meta(k, v) VALUES('syncs',"
                        " COALESCE((SELECT v FROM meta WHERE k='syncs'), 0) + 1)");
  if (st.ok()) st = db_->Commit();
  if (!st.ok()) {
    db_->Rollback();
    return st.WithContext("durable metadata commit");
  }
  return Status::OK();
}

Status Qfs::WaitUploaded(uint64_t ino, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    bool pending;
    {
      std::lock_guard dl(db_->mu());
      auto q = ino == 0 ? db_->Prepare("SELECT 1 FROM upload_queue LIMIT 1")
                        : db_->Prepare("SELECT 1 FROM upload_queue WHERE ino=? LIMIT 1");
      if (ino != 0) q.Bind(1, ino);
      pending = q.Step();
      QSTOR_RETURN_IF_ERROR(q.status());
    }
    if (!pending) break;
    std::unique_lock l(up_mu_);
    up_cv_.notify_all();
    if (done_cv_.wait_until(l, deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout("upload to " + shared_->sink->Describe() + " not finished in time");
    }
  }
  std::unique_lock l(up_mu_);
  uint64_t target = ++meta_wanted_;
  up_cv_.notify_all();
  if (!done_cv_.wait_until(l, deadline, [&] { return meta_shipped_ >= target; })) {
    return Status::Timeout("metadata snapshot to " + shared_->sink->Describe() +
                           " not stored in time");
  }
  return Status::OK();
}

Status Qfs::SyncAll(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (writer_ && !writer_->read_only() && !writer_->MayWrite()) {
    return Status::Unavailable("sync: " + writer_->WhyNot());
  }
  QSTOR_RETURN_IF_ERROR(FlushAll(true));
  return WaitUploaded(0, deadline);
}

Status Qfs::Truncate(Inode& in, uint64_t size) {
  QSTOR_RETURN_IF_ERROR(EnsureBlocks(in));
  if (size > slot_size_) QSTOR_RETURN_IF_ERROR(Spill(in));
  QSTOR_RETURN_IF_ERROR(EnsureFd(in, size));
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Begin());
  std::lock_guard l(in.mu);
  Status st;
  uint64_t old = in.attr.size;
  // Nothing beyond the old size is valid in the cache file; cut it first so
  // that growing the file exposes zeros even if a crash left bytes there.
  if (size > old) st = CutCache(in, old);
  if (st.ok() && size < old) {
    uint64_t first_gone = (size + bs_ - 1) / bs_;
    st = RemoveBlocksLocked(in, first_gone, UINT64_MAX);
    uint32_t rem = static_cast<uint32_t>(size % bs_);
    if (st.ok() && rem != 0) {
      auto it = in.blocks.find(size / bs_);
      if (it != in.blocks.end() && it->second.len > rem) {
        uint32_t delta = it->second.len - rem;
        if (it->second.cached) cache_bytes_ -= std::min<uint64_t>(delta, cache_bytes_);
        in.attr.alloc -= std::min<uint64_t>(delta, in.attr.alloc);
        used_bytes_ -= std::min<uint64_t>(delta, used_bytes_);
        it->second.len = rem;
        it->second.has_csum = it->second.verified = false;  // it was over the old length
        if (!it->second.dirty) {
          // The block's segment copy stays valid: its first `rem` bytes.
          st = db_->Prepare("UPDATE blocks SET len=?, csum=NULL WHERE ino=? AND blk=?")
                   .Bind(1, rem).Bind(2, in.ino).Bind(3, size / bs_).Run();
        }
      }
    }
  }
  if (st.ok() && (size < old || in.slot < 0)) st = CutCache(in, size);
  if (st.ok()) {
    in.attr.size = size;
    in.attr.mtime = in.attr.ctime = NowNs();
    st = PersistAttr(in);
  }
  if (st.ok()) st = db_->Commit();
  if (!st.ok()) {
    db_->Rollback();
  } else if (size < old) {
    // The cache file lost the cut bytes already: the database must say so
    // now, not when the group would have committed.
    st = db_->CommitGroup();
  }
  return st;
}

// ---------------------------------------------------------------------------
// FUSE operations
// ---------------------------------------------------------------------------

void Qfs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::string n(name);
  if (n.size() > kNameMax) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  uint64_t ino = 0;
  int rc;
  {
    std::lock_guard dl(db_->mu());
    rc = LookupDentry(parent, n, &ino);
  }
  if (rc != 0) {
    fuse_reply_err(req, rc);
    return;
  }
  auto in = Ref(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  FillEntry(*in, &e);
  fuse_reply_entry(req, &e);
}

void Qfs::Forget(fuse_ino_t ino, uint64_t n) {
  {
    std::lock_guard l(table_mu_);
    auto it = table_.find(ino);
    if (it == table_.end()) return;
    it->second->nlookup -= std::min(n, it->second->nlookup);
  }
  MaybeDrop(ino);
}

void Qfs::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st;
  {
    std::lock_guard l(in->mu);
    FillStat(*in, &st);
  }
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void Qfs::SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    uint32_t mode;
    {
      std::lock_guard l(in->mu);
      mode = in->attr.mode;
    }
    if (S_ISDIR(mode)) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    if (!S_ISREG(mode)) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if (attr->st_size < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if (static_cast<uint64_t>(attr->st_size) > max_file_size_) {
      fuse_reply_err(req, EFBIG);
      return;
    }
    std::unique_lock dlk(in->data_mu);
    Status st = Truncate(*in, static_cast<uint64_t>(attr->st_size));
    if (!st.ok()) {
      NoteError(st.ToString());
      fuse_reply_err(req, ErrnoOf(st));
      return;
    }
  }
  struct stat out;
  {
    std::lock_guard dl(db_->mu());
    std::lock_guard l(in->mu);
    Attr& a = in->attr;
    int64_t now = NowNs();
    if (to_set & FUSE_SET_ATTR_MODE) a.mode = (a.mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID) a.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) a.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
      a.atime = now;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
      a.atime = FromTs(attr->st_atim);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      a.mtime = now;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      a.mtime = FromTs(attr->st_mtim);
    }
    if (to_set & FUSE_SET_ATTR_CTIME) {
      a.ctime = FromTs(attr->st_ctim);
    } else {
      a.ctime = now;
    }
    Status st = PersistAttr(*in);
    if (!st.ok()) {
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
    FillStat(*in, &out);
  }
  fuse_reply_attr(req, &out, kAttrTimeout);
}

void Qfs::ReadLink(fuse_req_t req, fuse_ino_t ino) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  std::string t;
  {
    std::lock_guard l(in->mu);
    if (!S_ISLNK(in->attr.mode)) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    t = in->target;
  }
  fuse_reply_readlink(req, t.c_str());
}

void Qfs::MakeNode(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
                   const char* link_target, struct fuse_file_info* create_fi) {
  const bool tmp = name == nullptr;  // O_TMPFILE: no name, nlink 0 (MakeTmpFile)
  std::string n(tmp ? "" : name);
  if (!tmp && n.size() > kNameMax) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  if (!tmp && (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const struct fuse_ctx* ctx = fuse_req_ctx(req);
  std::lock_guard ns(ns_mu_);
  auto p = GetInode(parent);
  if (!p) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  Attr a;
  {
    std::lock_guard l(p->mu);
    if (!S_ISDIR(p->attr.mode)) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    if (p->attr.nlink == 0) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    a.gid = ctx->gid;
    if (p->attr.mode & S_ISGID) {
      a.gid = p->attr.gid;
      if (S_ISDIR(mode)) mode |= S_ISGID;
    }
  }
  std::string target = link_target ? std::string(link_target) : std::string();
  a.mode = mode;
  a.uid = ctx->uid;
  a.nlink = tmp ? 0 : (S_ISDIR(mode) ? 2 : 1);
  a.size = S_ISDIR(mode) ? 4096 : (S_ISLNK(mode) ? target.size() : 0);
  a.rdev = rdev;
  a.atime = a.mtime = a.ctime = NowNs();
  uint64_t ino = 0;
  const uint64_t epoch = drop_epoch_.load();
  {
    std::lock_guard dl(db_->mu());
    uint64_t existing;
    int rc = tmp ? ENOENT : LookupDentry(parent, n, &existing);
    if (rc != ENOENT) {
      fuse_reply_err(req, rc == 0 ? EEXIST : rc);
      return;
    }
    Status st = db_->Begin();
    if (st.ok()) {
      auto q = db_->Prepare(
          "INSERT INTO inodes(mode, uid, gid, nlink, size, rdev, atime, mtime, ctime, alloc, target)"
          " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)");
      q.Bind(1, a.mode).Bind(2, a.uid).Bind(3, a.gid).Bind(4, a.nlink).Bind(5, a.size)
          .Bind(6, a.rdev).Bind(7, a.atime).Bind(8, a.mtime).Bind(9, a.ctime);
      if (link_target) {
        q.BindBlob(10, target);
      } else {
        q.BindNull(10);
      }
      st = q.Run();
    }
    if (st.ok()) {
      ino = static_cast<uint64_t>(db_->LastInsertRowid());
      if (!tmp) {
        st = db_->Prepare("INSERT INTO dentries(parent, name, ino) VALUES(?, ?, ?)")
                 .Bind(1, parent).BindBlob(2, n).Bind(3, ino)
                 .Run();
      }
    }
    if (st.ok()) {
      if (!tmp) TouchDirLocked(*p, S_ISDIR(mode) ? 1 : 0);
      st = db_->Commit();
    }
    if (!st.ok()) {
      db_->Rollback();
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  inode_count_++;
  InodeRow row{a, target, -1, epoch};  // a new inode names no slab slot yet
  auto in = Ref(ino, &row);
  if (!in) {
    fuse_reply_err(req, EIO);
    return;
  }
  {
    // A new inode has no blocks and no xattrs yet: no need to ask the
    // database on its first write or getxattr.
    std::lock_guard l(in->mu);
    if (!in->blocks_loaded && in->blocks.empty()) in->blocks_loaded = true;
    in->no_xattrs = true;
  }
  struct fuse_entry_param e;
  FillEntry(*in, &e);
  if (create_fi) {
    {
      std::lock_guard l(in->mu);
      in->open_count++;
    }
    create_fi->keep_cache = 1;
    if (fuse_reply_create(req, &e, create_fi) != 0) {
      // The kernel did not take the reference (interrupted): undo.
      {
        std::lock_guard l(in->mu);
        in->open_count--;
      }
      Forget(ino, 1);
    }
  } else {
    if (fuse_reply_entry(req, &e) != 0) Forget(ino, 1);
  }
}

void Qfs::MakeTmpFile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info* fi) {
  // Reaped like any unlinked inode once the last descriptor closes (or, after
  // a crash, by the orphan sweep of the next Open).
  MakeNode(req, parent, nullptr, S_IFREG | (mode & 07777), 0, nullptr, fi);
}

void Qfs::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir) {
  std::string n(name);
  if (n.size() > kNameMax) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  uint64_t ino = 0;
  {
    std::lock_guard ns(ns_mu_);
    int rc;
    {
      std::lock_guard dl(db_->mu());
      rc = LookupDentry(parent, n, &ino);
    }
    if (rc != 0) {
      fuse_reply_err(req, rc);
      return;
    }
    auto in = GetInode(ino);
    auto p = GetInode(parent);
    if (!in || !p) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    bool is_dir;
    {
      std::lock_guard l(in->mu);
      is_dir = S_ISDIR(in->attr.mode);
    }
    if (dir && !is_dir) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    if (!dir && is_dir) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    std::lock_guard dl(db_->mu());
    if (dir) {
      auto q = db_->Prepare("SELECT 1 FROM dentries WHERE parent=? LIMIT 1");
      q.Bind(1, ino);
      if (q.Step()) {
        fuse_reply_err(req, ENOTEMPTY);
        return;
      }
    }
    Status st = db_->Begin();
    if (st.ok()) {
      st = db_->Prepare("DELETE FROM dentries WHERE parent=? AND name=?")
               .Bind(1, parent).BindBlob(2, n).Run();
    }
    if (st.ok()) {
      std::lock_guard l(in->mu);
      in->attr.nlink = dir ? 0 : (in->attr.nlink > 0 ? in->attr.nlink - 1 : 0);
      in->attr.ctime = NowNs();
      st = PersistAttr(*in);
    }
    if (st.ok()) {
      TouchDirLocked(*p, dir ? -1 : 0);
      st = db_->Commit();
    }
    if (!st.ok()) {
      db_->Rollback();
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  MaybeDrop(ino);
  fuse_reply_err(req, 0);
}

void Qfs::Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                 const char* newname, unsigned int flags) {
  std::string n(name), nn(newname);
  if (n.size() > kNameMax || nn.size() > kNameMax) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  bool noreplace = flags & RENAME_NOREPLACE;
  bool exchange = flags & RENAME_EXCHANGE;
  uint64_t replaced = 0;
  {
    std::lock_guard ns(ns_mu_);
    uint64_t src = 0, dst = 0;
    int rc, rc2;
    {
      std::lock_guard dl(db_->mu());
      rc = LookupDentry(parent, n, &src);
      rc2 = LookupDentry(newparent, nn, &dst);
    }
    if (rc != 0) {
      fuse_reply_err(req, rc);
      return;
    }
    if (rc2 != 0 && rc2 != ENOENT) {
      fuse_reply_err(req, rc2);
      return;
    }
    bool dst_exists = rc2 == 0;
    if (noreplace && dst_exists) {
      fuse_reply_err(req, EEXIST);
      return;
    }
    if (exchange && !dst_exists) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if (dst_exists && src == dst) {
      fuse_reply_err(req, 0);
      return;
    }
    auto sin = GetInode(src);
    auto din = dst_exists ? GetInode(dst) : nullptr;
    auto p = GetInode(parent);
    auto np = GetInode(newparent);
    if (!sin || !p || !np || (dst_exists && !din)) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    bool sdir, ddir = false;
    {
      std::lock_guard l(sin->mu);
      sdir = S_ISDIR(sin->attr.mode);
    }
    if (din) {
      std::lock_guard l(din->mu);
      ddir = S_ISDIR(din->attr.mode);
    }
    std::lock_guard dl(db_->mu());
    if (dst_exists && !exchange) {
      if (sdir && !ddir) {
        fuse_reply_err(req, ENOTDIR);
        return;
      }
      if (!sdir && ddir) {
        fuse_reply_err(req, EISDIR);
        return;
      }
      if (ddir) {
        auto q = db_->Prepare("SELECT 1 FROM dentries WHERE parent=? LIMIT 1");
        q.Bind(1, dst);
        if (q.Step()) {
          fuse_reply_err(req, ENOTEMPTY);
          return;
        }
      }
    }
    Status st = db_->Begin();
    int pdelta = 0, npdelta = 0;
    if (st.ok() && exchange) {
      st = db_->Prepare("UPDATE dentries SET ino=? WHERE parent=? AND name=?")
               .Bind(1, dst).Bind(2, parent).BindBlob(3, n).Run();
      if (st.ok()) {
        st = db_->Prepare("UPDATE dentries SET ino=? WHERE parent=? AND name=?")
                 .Bind(1, src).Bind(2, newparent).BindBlob(3, nn).Run();
      }
      if (parent != newparent) {
        pdelta = (ddir ? 1 : 0) - (sdir ? 1 : 0);
        npdelta = (sdir ? 1 : 0) - (ddir ? 1 : 0);
      }
      if (st.ok()) {
        std::lock_guard l(din->mu);
        din->attr.ctime = NowNs();
        st = PersistAttr(*din);
      }
    } else if (st.ok()) {
      if (dst_exists) {
        st = db_->Prepare("DELETE FROM dentries WHERE parent=? AND name=?")
                 .Bind(1, newparent).BindBlob(2, nn).Run();
        if (st.ok()) {
          std::lock_guard l(din->mu);
          din->attr.nlink = ddir ? 0 : (din->attr.nlink > 0 ? din->attr.nlink - 1 : 0);
          din->attr.ctime = NowNs();
          st = PersistAttr(*din);
        }
        if (ddir) npdelta -= 1;
        replaced = dst;
      }
      if (st.ok()) {
        st = db_->Prepare("UPDATE dentries SET parent=?, name=? WHERE parent=? AND name=?")
                 .Bind(1, newparent).BindBlob(2, nn).Bind(3, parent).BindBlob(4, n).Run();
      }
      if (sdir && parent != newparent) {
        pdelta -= 1;
        npdelta += 1;
      }
    }
    if (st.ok()) {
      std::lock_guard l(sin->mu);
      sin->attr.ctime = NowNs();
      st = PersistAttr(*sin);
    }
    if (st.ok()) {
      if (parent == newparent) {
        TouchDirLocked(*p, pdelta + npdelta);
      } else {
        TouchDirLocked(*p, pdelta);
        TouchDirLocked(*np, npdelta);
      }
      st = db_->Commit();
    }
    if (!st.ok()) {
      db_->Rollback();
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  if (replaced != 0) MaybeDrop(replaced);
  fuse_reply_err(req, 0);
}

void Qfs::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  std::string nn(newname);
  if (nn.size() > kNameMax) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  {
    std::lock_guard ns(ns_mu_);
    auto in = GetInode(ino);
    auto np = GetInode(newparent);
    if (!in || !np) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    {
      std::lock_guard l(in->mu);
      if (S_ISDIR(in->attr.mode)) {
        fuse_reply_err(req, EPERM);
        return;
      }
    }
    std::lock_guard dl(db_->mu());
    uint64_t existing;
    int rc = LookupDentry(newparent, nn, &existing);
    if (rc != ENOENT) {
      fuse_reply_err(req, rc == 0 ? EEXIST : rc);
      return;
    }
    Status st = db_->Begin();
    if (st.ok()) {
      st = db_->Prepare("INSERT INTO dentries(parent, name, ino) VALUES(?, ?, ?)")
               .Bind(1, newparent).BindBlob(2, nn).Bind(3, ino).Run();
    }
    if (st.ok()) {
      std::lock_guard l(in->mu);
      in->attr.nlink++;
      in->attr.ctime = NowNs();
      st = PersistAttr(*in);
    }
    if (st.ok()) {
      TouchDirLocked(*np, 0);
      st = db_->Commit();
    }
    if (!st.ok()) {
      db_->Rollback();
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  auto in = Ref(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  FillEntry(*in, &e);
  if (fuse_reply_entry(req, &e) != 0) Forget(ino, 1);
}

void Qfs::Open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  {
    std::lock_guard l(in->mu);
    if (S_ISDIR(in->attr.mode)) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    in->open_count++;
  }
  if (fi->flags & O_TRUNC) {
    std::unique_lock dlk(in->data_mu);
    Status st = Truncate(*in, 0);
    if (!st.ok()) {
      {
        std::lock_guard l(in->mu);
        in->open_count--;
      }
      NoteError(st.ToString());
      fuse_reply_err(req, ErrnoOf(st));
      return;
    }
  }
  fi->keep_cache = 1;
  if (fuse_reply_open(req, fi) != 0) {
    std::lock_guard l(in->mu);
    in->open_count--;
  }
}

void Qfs::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  std::shared_lock dlk(in->data_mu);
  Status st = EnsureBlocks(*in);
  bool no_blocks;
  {
    std::lock_guard l(in->mu);
    no_blocks = in->blocks.empty() && in->fd < 0;
  }
  // Nothing to read from a file without blocks (all holes): no cache file
  // or slot just for that.
  if (st.ok() && !no_blocks) st = EnsureFd(*in);
  if (!st.ok()) {
    NoteError(st.ToString());
    fuse_reply_err(req, EIO);
    return;
  }
  uint64_t fsize;
  int fd;
  uint64_t base;
  uint64_t limit;  // bytes of the file the fd can hold
  {
    std::lock_guard l(in->mu);
    fsize = in->attr.size;
    fd = in->fd;
    base = CacheBase(*in);
    limit = no_blocks ? 0 : (in->slot >= 0 ? slot_size_ : UINT64_MAX);
  }
  uint64_t uoff = static_cast<uint64_t>(off);
  if (off < 0 || uoff >= fsize) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  size_t n = static_cast<size_t>(std::min<uint64_t>(size, fsize - uoff));
  // First bring every evicted block of the range back into the cache file,
  // then read the range once. The other order (read, then patch the blocks
  // seen as not cached) returned zeros when a concurrent reader of the same
  // block finished its fill between our read and our check: the block then
  // looked cached, but what we had read was still the hole. Holding data_mu
  // shared keeps writers and eviction out until the read is done; a block
  // another reader is filling counts as cached only once its bytes are in
  // the file (FillBlock), and two readers filling the same block write the
  // same bytes.
  bool sequential;
  {
    std::lock_guard l(in->mu);
    // The kernel's readahead runs reads of one stream out of order on
    // several threads: "near where the last read ended" counts.
    sequential = uoff + 2 * opt_.segment_size >= in->read_end &&
                 uoff <= in->read_end + 2 * opt_.segment_size;
    in->read_end = std::max(in->read_end, uoff + n);
  }
  if (sequential) Prefetch(*in, (uoff + n + bs_ - 1) / bs_);
  for (uint64_t blk = uoff / bs_; blk * bs_ < uoff + n; blk++) {
    st = VerifyBlock(*in, blk);
    if (st.ok()) st = FillBlock(*in, blk);
    if (!st.ok()) {
      NoteError(st.ToString());
      fuse_reply_err(req, EIO);
      return;
    }
  }
  std::string buf(n, '\0');
  size_t got = 0;
  // A slab slot is never read past its end: that is the next file's slot.
  size_t want = uoff >= limit ? 0 : static_cast<size_t>(std::min<uint64_t>(n, limit - uoff));
  if (want > 0) st = PreadFull(fd, buf.data(), want, base + uoff, &got);
  if (!st.ok()) {
    NoteError(st.ToString());
    fuse_reply_err(req, EIO);
    return;
  }
  std::memset(buf.data() + got, 0, n - got);
  fuse_reply_buf(req, buf.data(), n);
}

void Qfs::Write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off) {
  auto in = GetInode(ino);
  if (!in || off < 0) {
    fuse_reply_err(req, in ? EINVAL : ENOENT);
    return;
  }
  uint64_t uoff = static_cast<uint64_t>(off);
  if (size == 0) {
    fuse_reply_write(req, 0);
    return;
  }
  // Past what the cache's file system can hold: EFBIG, or a short write up
  // to the limit, as write(2) does at RLIMIT_FSIZE.
  if (uoff >= max_file_size_) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  size = static_cast<size_t>(std::min<uint64_t>(size, max_file_size_ - uoff));
  std::unique_lock dlk(in->data_mu);
  Status st = WriteData(*in, data, size, uoff);
  if (!st.ok()) {
    NoteError(st.ToString());
    fuse_reply_err(req, ErrnoOf(st));
    return;
  }
  MarkDirtyInode(ino);
  fuse_reply_write(req, size);
}

Status Qfs::WriteData(Inode& in, const char* data, size_t size, uint64_t uoff) {
  Status st = EnsureBlocks(in);
  uint64_t end = uoff + size;
  if (st.ok() && end > slot_size_) st = Spill(in);
  if (st.ok()) st = EnsureFd(in, end);
  // Partially overwritten blocks that are only in a segment come back first
  // (and cached ones are checked: a damaged copy would spread to the grid).
  for (uint64_t blk = uoff / bs_; st.ok() && blk * bs_ < end; blk++) {
    uint64_t bstart = blk * bs_;
    bool need = false;
    st = VerifyBlock(in, blk);
    if (!st.ok()) break;
    {
      std::lock_guard l(in.mu);
      auto it = in.blocks.find(blk);
      if (it != in.blocks.end() && !it->second.cached && it->second.len > 0) {
        need = !(uoff <= bstart && end >= bstart + it->second.len);
      }
    }
    if (need) st = FillBlock(in, blk);
  }
  if (st.ok()) {
    int fd;
    uint64_t base;
    {
      std::lock_guard l(in.mu);
      fd = in.fd;
      base = CacheBase(in);
    }
    st = PwriteFull(fd, data, size, base + uoff);
  }
  if (!st.ok()) return st;
  std::lock_guard l(in.mu);
  for (uint64_t blk = uoff / bs_; blk * bs_ < end; blk++) {
    uint64_t bstart = blk * bs_;
    uint32_t upto = static_cast<uint32_t>(std::min<uint64_t>(end - bstart, bs_));
    Blk& b = in.blocks[blk];
    uint32_t newlen = std::max(b.len, upto);
    if (!b.cached) {
      cache_bytes_ += newlen;
      b.cached = true;
    } else {
      cache_bytes_ += newlen - b.len;
    }
    in.attr.alloc += newlen - b.len;
    used_bytes_ += newlen - b.len;
    b.len = newlen;
    b.dirty = true;
    in.dirty.insert(blk);
  }
  int64_t now = NowNs();
  in.attr.size = std::max(in.attr.size, end);
  in.attr.mtime = in.attr.ctime = now;
  in.attr_dirty = true;
  in.last_write_ns = now;
  if (in.first_dirty_ns == 0) in.first_dirty_ns = now;
  return Status::OK();
}

void Qfs::Flush(fuse_req_t req, fuse_ino_t ino) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, 0);
    return;
  }
  if (opt_.durability != Durability::kGrid) {
    // durability local promises nothing at close that release does not do
    // (flush the inode into the metadata group). ENOSYS makes the kernel stop
    // sending FLUSH on this connection: one round trip less per close.
    fuse_reply_err(req, ENOSYS);
    return;
  }
  Status st = FlushInode(*in, true);
  if (st.ok()) st = CommitDurable();
  if (st.ok()) st = WaitUploaded(ino, std::chrono::steady_clock::now() + opt_.grid_timeout);
  if (!st.ok()) NoteError(st.ToString());
  fuse_reply_err(req, st.ok() ? 0 : EIO);
}

void Qfs::Release(fuse_req_t req, fuse_ino_t ino) {
  auto in = GetInode(ino);
  if (in) {
    Status st = FlushInode(*in, false);
    if (!st.ok()) NoteError(st.ToString());
    {
      std::unique_lock dlk(in->data_mu);
      std::lock_guard l(in->mu);
      if (in->open_count > 0) in->open_count--;
      if (in->open_count == 0 && in->dirty.empty()) CloseFdLocked(*in);
    }
    MaybeDrop(ino);
  }
  fuse_reply_err(req, 0);
}

void Qfs::Fsync(fuse_req_t req, fuse_ino_t ino) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  Status st = FlushInode(*in, true);
  if (st.ok()) st = CommitDurable();
  if (st.ok() && opt_.durability == Durability::kGrid) {
    st = WaitUploaded(ino, std::chrono::steady_clock::now() + opt_.grid_timeout);
  }
  if (!st.ok()) NoteError(st.ToString());
  fuse_reply_err(req, st.ok() ? 0 : EIO);
}

void Qfs::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  auto dir = GetInode(ino);
  if (!dir) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  {
    std::lock_guard l(dir->mu);
    if (!S_ISDIR(dir->attr.mode)) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
  }
  std::string buf(size, '\0');
  size_t used = 0;
  auto add_dot = [&](const char* name, uint64_t dino, off_t next) -> bool {
    struct stat st {};
    st.st_ino = dino;
    st.st_mode = S_IFDIR;
    size_t need;
    if (plus) {
      struct fuse_entry_param e {};
      e.attr = st;
      need = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, next);
    } else {
      need = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
    }
    if (need > size - used) return false;
    used += need;
    return true;
  };
  if (off == 0) {
    if (!add_dot(".", ino, 1)) {
      fuse_reply_buf(req, buf.data(), used);
      return;
    }
    off = 1;
  }
  if (off == 1) {
    uint64_t pino = FUSE_ROOT_ID;
    {
      std::lock_guard dl(db_->mu());
      auto q = db_->Prepare("SELECT parent FROM dentries WHERE ino=? LIMIT 1");
      q.Bind(1, ino);
      if (q.Step()) pino = static_cast<uint64_t>(q.Int(0));
    }
    if (!add_dot("..", pino, 2)) {
      fuse_reply_buf(req, buf.data(), used);
      return;
    }
    off = 2;
  }
  struct Row {
    int64_t id;
    std::string name;
    uint64_t ino;
    InodeRow r;
  };
  int64_t after = off - 2;
  bool full = false;
  while (!full) {
    std::vector<Row> rows;
    const uint64_t epoch = drop_epoch_.load();
    {
      std::lock_guard dl(db_->mu());
      auto q = db_->Prepare("SELECT d.id, d.name, d.ino, " QSTOR_INODE_COLS("i.")
                            " FROM dentries d JOIN inodes i ON i.ino=d.ino"
                            " WHERE d.parent=? AND d.id>? ORDER BY d.id LIMIT 128");
      q.Bind(1, ino).Bind(2, after);
      while (q.Step()) {
        Row r;
        r.id = q.Int(0);
        r.name = q.Blob(1);
        r.ino = static_cast<uint64_t>(q.Int(2));
        r.r = ReadInodeRow(q, 3);
        r.r.drop_epoch = epoch;
        rows.push_back(std::move(r));
      }
      if (!q.status().ok()) {
        NoteError(q.status().ToString());
        fuse_reply_err(req, EIO);
        return;
      }
    }
    if (rows.empty()) break;
    for (auto& r : rows) {
      off_t next = static_cast<off_t>(r.id + 2);
      if (plus) {
        struct fuse_entry_param e {};
        e.attr.st_mode = r.r.attr.mode;
        size_t need = fuse_add_direntry_plus(req, nullptr, 0, r.name.c_str(), &e, next);
        if (need > size - used) {
          full = true;
          break;
        }
        auto in = Ref(r.ino, &r.r);
        if (!in) continue;
        FillEntry(*in, &e);
        used += fuse_add_direntry_plus(req, buf.data() + used, size - used, r.name.c_str(), &e,
                                       next);
      } else {
        struct stat st {};
        st.st_ino = r.ino;
        st.st_mode = r.r.attr.mode;
        size_t need = fuse_add_direntry(req, buf.data() + used, size - used, r.name.c_str(), &st,
                                        next);
        if (need > size - used) {
          full = true;
          break;
        }
        used += need;
      }
      after = r.id;
    }
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Qfs::StatFs(fuse_req_t req) {
  struct statvfs s {};
  const uint64_t frsize = 4096;
  uint64_t used = used_bytes_.load();
  uint64_t cap = std::max<uint64_t>(capacity_.load(), frsize);
  s.f_bsize = frsize;
  s.f_frsize = frsize;
  s.f_blocks = cap / frsize;
  uint64_t ublocks = std::min<uint64_t>((used + frsize - 1) / frsize, s.f_blocks);
  s.f_bfree = s.f_blocks - ublocks;
  s.f_bavail = s.f_bfree;
  s.f_files = 1ull << 32;
  s.f_ffree = s.f_files - std::min<uint64_t>(inode_count_.load(), s.f_files);
  s.f_favail = s.f_ffree;
  s.f_namemax = kNameMax;
  fuse_reply_statfs(req, &s);
}

void Qfs::SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                   size_t size, int flags) {
  std::string n(name);
  if (ino == FUSE_ROOT_ID && n == kSyncXattr) {
    if (fuse_req_ctx(req)->uid != 0) {
      fuse_reply_err(req, EPERM);
      return;
    }
    long secs = 60;
    std::string v(value, size);
    if (!v.empty()) {
      char* endp = nullptr;
      secs = std::strtol(v.c_str(), &endp, 10);
      if (secs <= 0) secs = 60;
    }
    Status st = SyncAll(std::chrono::seconds(secs));
    if (!st.ok()) NoteError("sync: " + st.ToString());
    fuse_reply_err(req, st.ok() ? 0 : EIO);
    return;
  }
  if (ino == FUSE_ROOT_ID && n == kResizeXattr) {
    // {"capacity_bytes": N, "cache_limit_bytes": N}, either or both.
    if (fuse_req_ctx(req)->uid != 0) {
      fuse_reply_err(req, EPERM);
      return;
    }
    auto j = nlohmann::json::parse(std::string(value, size), nullptr, false);
    auto field = [&](const char* key, uint64_t min, std::optional<uint64_t>* out) {
      if (!j.contains(key)) return true;
      uint64_t v = 0;
      if (!JsonInteger(j[key], &v) || v < min) return false;
      *out = v;
      return true;
    };
    std::optional<uint64_t> cap, cache;
    if (!j.is_object() || !field("capacity_bytes", 4096, &cap) ||
        !field("cache_limit_bytes", 1u << 20, &cache) || (!cap && !cache)) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if (cap) capacity_ = *cap;
    if (cache) {
      cache_limit_ = *cache;
      up_cv_.notify_all();  // a smaller cache is evicted down at once
    }
    spdlog::info("mount: resized to capacity {} bytes, cache limit {} bytes", capacity_.load(),
                 cache_limit_.load());
    fuse_reply_err(req, 0);
    return;
  }
  if (n.empty() || n.size() > 255) {
    fuse_reply_err(req, n.empty() ? EINVAL : ERANGE);
    return;
  }
  if (size > kXattrMax) {
    fuse_reply_err(req, E2BIG);
    return;
  }
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  {
    std::lock_guard l(in->mu);
    in->no_xattrs = false;  // before the row exists: GetXattr then asks the database
  }
  std::lock_guard dl(db_->mu());
  auto q = db_->Prepare("SELECT 1 FROM xattrs WHERE ino=? AND name=?");
  q.Bind(1, ino).BindBlob(2, n);
  bool exists = q.Step();
  if ((flags & XATTR_CREATE) && exists) {
    fuse_reply_err(req, EEXIST);
    return;
  }
  if ((flags & XATTR_REPLACE) && !exists) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  Status st = db_->Begin();
  if (st.ok()) {
    st = db_->Prepare("INSERT OR REPLACE INTO xattrs(ino, name, value) VALUES(?, ?, ?)")
             .Bind(1, ino).BindBlob(2, n).BindBlob(3, std::string_view(value, size)).Run();
  }
  if (st.ok()) {
    std::lock_guard l(in->mu);
    in->attr.ctime = NowNs();
    st = PersistAttr(*in);
  }
  if (st.ok()) st = db_->Commit();
  if (!st.ok()) {
    db_->Rollback();
    NoteError(st.ToString());
  }
  fuse_reply_err(req, st.ok() ? 0 : EIO);
}

void Qfs::GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  std::string n(name);
  std::string value;
  if (ino == FUSE_ROOT_ID && n == kStatsXattr) {
    value = StatsJson();
  } else if (ino == FUSE_ROOT_ID && (n == kCheckXattr || n == kCheckDecodeXattr)) {
    if (fuse_req_ctx(req)->uid != 0) {
      fuse_reply_err(req, EPERM);
      return;
    }
    if (size == 0) {
      fuse_reply_xattr(req, 64 * 1024);  // the report's bound; the check runs on the real call
      return;
    }
    value = CheckCacheJson(n == kCheckDecodeXattr);
  } else {
    {
      std::shared_ptr<Inode> in;
      {
        std::lock_guard l(table_mu_);
        auto it = table_.find(ino);
        if (it != table_.end()) in = it->second;
      }
      if (in) {
        std::lock_guard l(in->mu);
        if (in->no_xattrs) {
          fuse_reply_err(req, ENODATA);
          return;
        }
      }
    }
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare("SELECT value FROM xattrs WHERE ino=? AND name=?");
    q.Bind(1, ino).BindBlob(2, n);
    if (!q.Step()) {
      fuse_reply_err(req, q.status().ok() ? ENODATA : EIO);
      return;
    }
    value = q.Blob(0);
  }
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (size < value.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

void Qfs::ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  std::string list;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare("SELECT name FROM xattrs WHERE ino=? ORDER BY name");
    q.Bind(1, ino);
    while (q.Step()) {
      list += q.Blob(0);
      list.push_back('\0');
    }
    if (!q.status().ok()) {
      fuse_reply_err(req, EIO);
      return;
    }
  }
  if (size == 0) {
    fuse_reply_xattr(req, list.size());
  } else if (size < list.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, list.data(), list.size());
  }
}

void Qfs::RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  std::lock_guard dl(db_->mu());
  Status st = db_->Prepare("DELETE FROM xattrs WHERE ino=? AND name=?")
                  .Bind(1, ino).BindBlob(2, std::string(name)).Run();
  if (!st.ok()) {
    fuse_reply_err(req, EIO);
    return;
  }
  if (db_->Changes() == 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  {
    std::lock_guard l(in->mu);
    in->attr.ctime = NowNs();
    (void)PersistAttr(*in);
  }
  fuse_reply_err(req, 0);
}

void Qfs::Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len) {
  // Supported: plain allocation (extends the size; blocks stay sparse until
  // written: the cache and the grid hold no preallocated space), KEEP_SIZE
  // (nothing to do), PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE[|KEEP_SIZE]. Not:
  // COLLAPSE_RANGE, INSERT_RANGE (they shift blocks between segments) and
  // UNSHARE_RANGE. See docs/mount.md "fallocate".
  const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if ((mode & ~known) != 0 ||
      ((mode & FALLOC_FL_PUNCH_HOLE) && (!(mode & FALLOC_FL_KEEP_SIZE) ||
                                         (mode & FALLOC_FL_ZERO_RANGE)))) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  auto in = GetInode(ino);
  if (!in) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (off < 0 || len <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  {
    std::lock_guard l(in->mu);
    if (!S_ISREG(in->attr.mode)) {
      fuse_reply_err(req, S_ISDIR(in->attr.mode) ? EISDIR : ENODEV);
      return;
    }
  }
  uint64_t uoff = static_cast<uint64_t>(off);
  uint64_t end = uoff + static_cast<uint64_t>(len);
  if (end < uoff || end > max_file_size_) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  const bool zero = (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) != 0;
  if (!zero && (mode & FALLOC_FL_KEEP_SIZE)) {
    fuse_reply_err(req, 0);
    return;
  }
  std::unique_lock dlk(in->data_mu);
  uint64_t size;
  {
    std::lock_guard l(in->mu);
    size = in->attr.size;
  }
  Status st;
  if (zero && uoff < size) st = ZeroRange(*in, uoff, std::min(end, size));
  if (st.ok() && !(mode & FALLOC_FL_KEEP_SIZE) && end > size) st = Truncate(*in, end);
  if (!st.ok()) {
    NoteError(st.ToString());
    fuse_reply_err(req, ErrnoOf(st));
    return;
  }
  if (zero) MarkDirtyInode(ino);
  fuse_reply_err(req, 0);
}

Status Qfs::RemoveBlocksLocked(Inode& in, uint64_t from, uint64_t to) {
  for (auto it = in.blocks.lower_bound(from); it != in.blocks.end() && it->first < to;) {
    if (it->second.cached) cache_bytes_ -= std::min<uint64_t>(it->second.len, cache_bytes_);
    in.attr.alloc -= std::min<uint64_t>(it->second.len, in.attr.alloc);
    used_bytes_ -= std::min<uint64_t>(it->second.len, used_bytes_);
    in.dirty.erase(it->first);
    it = in.blocks.erase(it);
  }
  // SQLite integers are signed: "to the end" is INT64_MAX there.
  const int64_t sto = to > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(to);
  Status st = db_->Prepare("UPDATE segments SET live = live - (SELECT COUNT(*) FROM blocks b WHERE"
                           " b.ino=?1 AND b.blk>=?2 AND b.blk<?3 AND b.seg=segments.id) WHERE id IN"
                           " (SELECT seg FROM blocks WHERE ino=?1 AND blk>=?2 AND blk<?3 AND seg IS"
                           " NOT NULL)")
                  .Bind(1, in.ino).Bind(2, from).Bind(3, sto)
                  .Run();
  if (st.ok()) {
    st = db_->Prepare("DELETE FROM blocks WHERE ino=? AND blk>=? AND blk<?")
             .Bind(1, in.ino).Bind(2, from).Bind(3, sto).Run();
  }
  if (st.ok()) {
    st = db_->Prepare("DELETE FROM upload_queue WHERE ino=? AND blk>=? AND blk<?")
             .Bind(1, in.ino).Bind(2, from).Bind(3, sto).Run();
  }
  return st;
}

Status Qfs::ZeroRange(Inode& in, uint64_t off, uint64_t end) {
  QSTOR_RETURN_IF_ERROR(EnsureBlocks(in));
  const uint64_t first_full = (off + bs_ - 1) / bs_;  // whole blocks [first_full, end_full)
  const uint64_t end_full = end / bs_;
  // The partial blocks at either end get zeros written over the range.
  auto zeros = [&](uint64_t from, uint64_t to) -> Status {
    static const std::string kZeros(256 * 1024, '\0');
    while (from < to) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(to - from, kZeros.size()));
      QSTOR_RETURN_IF_ERROR(WriteData(in, kZeros.data(), n, from));
      from += n;
    }
    return Status::OK();
  };
  if (first_full >= end_full) return zeros(off, end);  // within one or two partial blocks
  QSTOR_RETURN_IF_ERROR(zeros(off, first_full * bs_));
  QSTOR_RETURN_IF_ERROR(zeros(end_full * bs_, end));
  QSTOR_RETURN_IF_ERROR(EnsureFd(in));
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Begin());
  std::lock_guard l(in.mu);
  Status st = RemoveBlocksLocked(in, first_full, end_full);
  if (st.ok()) {
    in.attr.mtime = in.attr.ctime = NowNs();
    st = PersistAttr(in);
  }
  if (st.ok()) st = db_->Commit();
  if (!st.ok()) {
    db_->Rollback();
    return st;
  }
  QSTOR_RETURN_IF_ERROR(db_->CommitGroup());
  // The database no longer names the blocks: now their cache bytes go (a
  // crash before this leaves bytes nothing reads; a slab slot only ever
  // holds block 0, which then lies inside the range).
  uint64_t from = CacheBase(in) + first_full * bs_;
  uint64_t n = (end_full - first_full) * bs_;
  if (in.slot >= 0) n = std::min<uint64_t>(n, slot_size_);
  if (in.fd >= 0 && ::fallocate(in.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                static_cast<off_t>(from), static_cast<off_t>(n)) != 0) {
    return Status::IOError(std::string("punch hole in cache file: ") + std::strerror(errno));
  }
  return Status::OK();
}

void Qfs::StartBackground() {
  uploader_ = std::thread([this] { UploaderLoop(); });
  if (db_->group_window().count() > 0) committer_ = std::thread([this] { CommitterLoop(); });
}

// Commits the open group once it is commit_window old. Operations that end
// later than that commit it themselves (SqliteDb::Commit); this covers the
// last operations before an idle period. So an operation is committed at
// most about 1.5 windows after it was acknowledged (the check runs every
// half window while a group is open).
void Qfs::CommitterLoop() {
  const auto window = db_->group_window();
  std::unique_lock l(commit_mu_);
  for (;;) {
    commit_cv_.wait(l, [&] { return commit_stop_ || group_opened_; });
    if (commit_stop_) break;
    group_opened_ = false;
    for (;;) {
      commit_cv_.wait_for(l, window / 2, [&] { return commit_stop_; });
      if (commit_stop_) break;
      l.unlock();
      bool open;
      {
        std::lock_guard dl(db_->mu());
        int64_t age = db_->GroupAgeNs();
        if (age >= window.count()) {
          Status st = db_->CommitGroup();
          if (!st.ok()) NoteError("metadata group commit: " + st.ToString());
        }
        open = db_->GroupAgeNs() > 0;
      }
      l.lock();
      if (!open) break;
    }
  }
}

void Qfs::FlushIdle() {
  std::vector<uint64_t> inos;
  {
    std::lock_guard l(dirty_mu_);
    inos.assign(dirty_inodes_.begin(), dirty_inodes_.end());
  }
  int64_t now = NowNs();
  for (uint64_t ino : inos) {
    auto in = GetInode(ino);
    if (!in) continue;
    bool due;
    {
      std::lock_guard l(in->mu);
      due = (in->attr_dirty || !in->dirty.empty()) &&
            (now - in->last_write_ns > 1000000000LL || now - in->first_dirty_ns > 5000000000LL);
    }
    if (due) {
      Status st = FlushInode(*in, false);
      if (!st.ok()) NoteError(st.ToString());
    }
  }
}

// Packs queued blocks into one segment and stores it. Returns true if it
// stored something (more may be queued).
bool Qfs::UploadOnce(bool* more) {
  *more = false;
  struct Row {
    uint64_t ino, blk, gen;
  };
  std::vector<Row> rows;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare("SELECT ino, blk, gen FROM upload_queue ORDER BY queued_ns LIMIT 512");
    while (q.Step()) {
      rows.push_back({static_cast<uint64_t>(q.Int(0)), static_cast<uint64_t>(q.Int(1)),
                      static_cast<uint64_t>(q.Int(2))});
    }
  }
  if (rows.empty()) return false;
  struct Entry {
    uint64_t ino, blk, gen;
    uint32_t off, len;
    uint64_t csum;
  };
  std::vector<Entry> entries;
  std::string seg;
  seg.reserve(opt_.segment_size + bs_);
  std::vector<Row> stale;
  // The cache files the segment's bytes were read from, synced before the
  // blocks are recorded clean (below). Duplicates of the inodes'
  // descriptors, one per inode; the slab (open as long as the mount) by flag.
  struct SyncSet {
    std::map<uint64_t, int> fds;
    bool slab = false;
    ~SyncSet() {
      for (auto& [ino, fd] : fds) ::close(fd);
    }
  } to_sync;
  *more = rows.size() == 512;
  for (const Row& r : rows) {
    if (seg.size() >= opt_.segment_size) {
      *more = true;
      break;
    }
    auto in = GetInode(r.ino);
    if (!in) {
      stale.push_back(r);
      continue;
    }
    std::unique_lock dlk(in->data_mu);
    if (!EnsureBlocks(*in).ok() || !EnsureFd(*in).ok()) continue;
    uint32_t len = 0;
    int fd = -1;
    uint64_t base = 0;
    {
      std::lock_guard l(in->mu);
      auto it = in->blocks.find(r.blk);
      if (it == in->blocks.end()) {
        stale.push_back(r);
        continue;
      }
      const Blk& b = it->second;
      if (b.gen != r.gen || b.dirty || !b.cached) continue;
      len = b.len;
      // in->fd is guarded by in->mu, and MaybeDrop/ReapLocked close it holding
      // only in->mu (they run under table_mu_, which comes after data_mu in the
      // lock order, so they cannot wait for the data_mu we hold). Read from a
      // private duplicate taken under in->mu instead of in->fd itself: no lock
      // is held during the disk read, and a close meanwhile cannot make us read
      // a closed or reused descriptor. (A reaped inode's blocks then fail the
      // gen check of the commit below and are not counted live.)
      if (in->fd < 0) continue;  // closed since EnsureFd: the inode was reaped
      // The slab stays open as long as the mount: no duplicate needed. (If
      // the inode is reaped and its slot reused during the read, the block
      // fails the gen check below, so those bytes are never referenced.)
      base = CacheBase(*in);
      fd = in->fd == slab_fd_ ? slab_fd_ : ::fcntl(in->fd, F_DUPFD_CLOEXEC, 0);
    }
    if (fd < 0) {
      const int e = errno;
      NoteError("inode " + std::to_string(r.ino) + " block " + std::to_string(r.blk) +
                ": cannot duplicate the cache file descriptor for upload: " + std::strerror(e));
      continue;
    }
    size_t at = seg.size();
    seg.resize(at + len);
    size_t got = 0;
    Status st = PreadFull(fd, seg.data() + at, len, base + r.blk * bs_, &got);
    if (fd == slab_fd_) {
      to_sync.slab = true;
    } else if (!to_sync.fds.emplace(r.ino, fd).second) {
      ::close(fd);
    }
    if (!st.ok()) {
      seg.resize(at);
      NoteError(st.ToString());
      continue;
    }
    std::memset(seg.data() + at + got, 0, len - got);
    entries.push_back({r.ino, r.blk, r.gen, static_cast<uint32_t>(at), len,
                       XXH3_64bits(seg.data() + at, len)});
    {
      std::lock_guard l(in->mu);
      if (in->open_count == 0 && in->dirty.empty()) CloseFdLocked(*in);
    }
  }
  if (!stale.empty()) {
    std::lock_guard dl(db_->mu());
    for (const Row& r : stale) {
      (void)db_->Prepare("DELETE FROM upload_queue WHERE ino=? AND blk=? AND gen=?")
          .Bind(1, r.ino).Bind(2, r.blk).Bind(3, r.gen).Run();
    }
  }
  if (entries.empty()) return !stale.empty();
  std::string id = RandomId();
  {
    std::lock_guard dl(db_->mu());
    Status st = db_->Prepare("INSERT INTO segments(id, len, live, state, created_ns)"
                             " VALUES(?, ?, 0, ?, ?)")
                    .BindText(1, id).Bind(2, static_cast<uint64_t>(seg.size()))
                    .Bind(3, kSegUploading).Bind(4, NowNs())
                    .Run();
    // The segment must be on record before it exists on the backend, or a
    // crash would leave it there unknown to the next mount.
    if (st.ok()) st = db_->CommitGroup();
    if (!st.ok()) {
      NoteError(st.ToString());
      return false;
    }
  }
  in_sink_what_ = "segment";
  in_sink_since_ns_ = NowNs();
  Status put = shared_->sink->Put(id, seg);
  in_sink_since_ns_ = 0;
  // A clean block's bytes stay in the cache and are read from there; a power
  // cut must not leave the database naming cached bytes that never reached
  // the disk (writes without fsync sit in the page cache). So the files they
  // came from are synced before the blocks are recorded clean, without
  // holding the database (foreground operations go on meanwhile). If that
  // fails the blocks stay queued and the segment is dropped.
  Status synced;
  if (put.ok()) {
    auto sync = [&](int fd, const std::string& what) {
      if (synced.ok() && ::fdatasync(fd) != 0) {
        synced = Status::IOError("fdatasync " + what + " before recording its blocks uploaded: " +
                                 std::strerror(errno));
      }
    };
    if (to_sync.slab) sync(slab_fd_, "the slab");
    for (auto& [ino, fd] : to_sync.fds) sync(fd, "cache file of inode " + std::to_string(ino));
  }
  std::vector<const Entry*> done;
  {
    std::lock_guard dl(db_->mu());
    if (!put.ok()) {
      upload_errors_++;
      NoteUploadFailure("upload of segment " + id + " to " + shared_->sink->Describe(), put);
      (void)db_->Prepare("UPDATE segments SET state=2 WHERE id=?").BindText(1, id).Run();
      return false;
    }
    NoteUploadOk();
    if (!synced.ok()) {
      NoteError(synced.ToString());
      (void)db_->Prepare("UPDATE segments SET state=2 WHERE id=?").BindText(1, id).Run();
      return false;
    }
    Status st = db_->Begin();
    int64_t live = 0;
    for (const Entry& e : entries) {
      if (!st.ok()) break;
      st = db_->Prepare(
               // A truncate since the read cut the block (same generation: its
               // segment copy's prefix stays valid) and the checksum is of the
               // longer bytes: none then, until the block is next filled.
               "UPDATE blocks SET seg=?, seg_off=?, seg_len=?, csum=CASE WHEN len=? THEN ? END"
               " WHERE ino=? AND blk=? AND gen=?")
               .BindText(1, id).Bind(2, e.off).Bind(3, e.len).Bind(4, e.len)
               .Bind(5, static_cast<int64_t>(e.csum)).Bind(6, e.ino).Bind(7, e.blk).Bind(8, e.gen)
               .Run();
      if (st.ok() && db_->Changes() > 0) {
        live++;
        done.push_back(&e);
        st = db_->Prepare("DELETE FROM upload_queue WHERE ino=? AND blk=? AND gen=?")
                 .Bind(1, e.ino).Bind(2, e.blk).Bind(3, e.gen).Run();
      }
    }
    if (st.ok()) {
      st = db_->Prepare("UPDATE segments SET live=?, state=? WHERE id=?")
               .Bind(1, live).Bind(2, live > 0 ? kSegStored : kSegDead).BindText(3, id).Run();
    }
    if (st.ok()) st = db_->Commit();
    if (!st.ok()) {
      db_->Rollback();
      NoteError(st.ToString());
      (void)db_->Prepare("UPDATE segments SET state=2 WHERE id=?").BindText(1, id).Run();
      return false;
    }
  }  // db mu released: table_mu_ comes before it in the lock order
  uploaded_bytes_ += seg.size();
  uploaded_segments_++;
  // Memory follows the database. The table lookup must not happen under db
  // mu: table_mu_ -> db mu is the order (MaybeDrop, LoadInodeLocked), and
  // taking table_mu_ while holding db mu deadlocked against a Forget or
  // Rename-over-a-file of an unreferenced inode (MaybeDrop holding table_mu_,
  // waiting for db mu). An inode loaded after the commit above already reads
  // its segment from the database; the gen check skips blocks rewritten since.
  std::vector<std::pair<const Entry*, std::shared_ptr<Inode>>> upd;
  {
    std::lock_guard tl(table_mu_);
    for (const Entry* e : done) {
      auto it = table_.find(e->ino);
      if (it != table_.end()) upd.emplace_back(e, it->second);
    }
  }
  for (auto& [e, in] : upd) {
    std::lock_guard l(in->mu);
    auto it = in->blocks.find(e->blk);
    if (it != in->blocks.end() && it->second.gen == e->gen) {
      it->second.seg = id;
      it->second.seg_off = e->off;
      it->second.seg_len = e->len;
      // Written since it was read for the segment: the next flush gives it
      // a new generation, and the checksum would not be of its bytes.
      // (Or cut by a truncate: then the checksum is of more bytes than it
      // has, as in the UPDATE above.)
      if (!it->second.dirty && it->second.len == e->len) {
        it->second.has_csum = true;
        it->second.csum = e->csum;
        it->second.verified = true;  // the bytes were just read for the segment
      }
    }
  }
  return true;
}

void Qfs::DeleteDeadSegments() {
  std::vector<std::string> ids;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare(
        "SELECT id FROM segments WHERE state=2 OR (state=1 AND live<=0) LIMIT 64");
    while (q.Step()) ids.push_back(q.Blob(0));
  }
  for (const std::string& id : ids) {
    in_sink_what_ = "delete";
    in_sink_since_ns_ = NowNs();
    Status st = shared_->sink->Delete(id);
    in_sink_since_ns_ = 0;
    if (!st.ok()) {
      NoteError("delete segment " + id + ": " + st.ToString());
      return;
    }
    std::lock_guard dl(db_->mu());
    (void)db_->Prepare("DELETE FROM segments WHERE id=? AND (state=2 OR live<=0)")
        .BindText(1, id).Run();
    deleted_segments_++;
  }
}

void Qfs::Evict() {
  const uint64_t limit = cache_limit_.load();
  if (cache_bytes_.load() <= limit) return;
  uint64_t target = limit - limit / 10;
  struct Row {
    uint64_t ino, blk, gen;
  };
  std::vector<Row> rows;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare(
        "SELECT ino, blk, gen FROM blocks WHERE cached=1 AND seg IS NOT NULL"
        " ORDER BY cached_ns LIMIT 256");
    while (q.Step()) {
      rows.push_back({static_cast<uint64_t>(q.Int(0)), static_cast<uint64_t>(q.Int(1)),
                      static_cast<uint64_t>(q.Int(2))});
    }
  }
  for (const Row& r : rows) {
    if (cache_bytes_.load() <= target) break;
    auto in = GetInode(r.ino);
    if (!in) continue;
    std::unique_lock dlk(in->data_mu);
    if (!EnsureBlocks(*in).ok() || !EnsureFd(*in).ok()) continue;
    std::lock_guard dl(db_->mu());
    std::lock_guard l(in->mu);
    auto it = in->blocks.find(r.blk);
    if (it == in->blocks.end()) continue;
    Blk& b = it->second;
    if (!b.cached || b.dirty || b.seg.empty() || b.gen != r.gen) continue;
    Status st = db_->Prepare("UPDATE blocks SET cached=0 WHERE ino=? AND blk=? AND gen=?")
                    .Bind(1, r.ino).Bind(2, r.blk).Bind(3, r.gen).Run();
    // Committed before the hole is punched: the database never says cached
    // for bytes that are gone.
    if (st.ok()) st = db_->CommitGroup();
    if (!st.ok()) continue;
    if (::fallocate(in->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(CacheBase(*in) + r.blk * bs_),
                    in->slot >= 0 ? slot_size_ : bs_) != 0) {
      NoteError(std::string("punch hole in cache file: ") + std::strerror(errno));
    }
    b.cached = false;
    b.verified = false;
    cache_bytes_ -= std::min<uint64_t>(b.len, cache_bytes_);
    evicted_bytes_ += b.len;
    if (in->open_count == 0 && in->dirty.empty()) CloseFdLocked(*in);
  }
}

bool Qfs::ShipMeta() {
  std::string snap;
  int64_t changes;
  if (!unshipped_.load()) {
    // Nothing the grid lacks: no snapshot, so no new generation.
    std::lock_guard dl(db_->mu());
    last_ship_changes_ = sqlite3_total_changes64(db_->raw());
    return true;
  }
  uint64_t gen = 0;
  if (writer_) {
    auto g = writer_->BeginSnapshot();  // fencing: the lease is still ours
    if (!g.ok()) {
      NoteUploadFailure("metadata snapshot not stored", g.status());
      return false;
    }
    gen = *g;
  }
  const uint64_t mutations = mutations_.load();
  {
    std::lock_guard dl(db_->mu());
    Status cst = db_->CommitGroup();  // the snapshot holds committed state only
    if (!cst.ok()) {
      NoteError("metadata snapshot: " + cst.ToString());
      return false;
    }
    sqlite3_int64 sz = 0;
    unsigned char* p = sqlite3_serialize(db_->raw(), "main", &sz, 0);
    if (p == nullptr) {
      NoteError("metadata snapshot: sqlite3_serialize failed");
      return false;
    }
    snap.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(sz));
    sqlite3_free(p);
    changes = sqlite3_total_changes64(db_->raw());
  }
  in_sink_what_ = "metadata";
  in_sink_since_ns_ = NowNs();
  Status st = shared_->sink->PutMeta(kMetaBlob, snap);
  in_sink_since_ns_ = 0;
  if (!st.ok()) {
    upload_errors_++;
    NoteUploadFailure("metadata snapshot to " + shared_->sink->Describe(), st);
    return false;
  }
  if (writer_) {
    Status hs = writer_->FinishSnapshot(gen);
    if (!hs.ok()) {
      upload_errors_++;
      NoteUploadFailure("metadata snapshot", hs);
      return false;
    }
    // The cache is at the generation it stored; unshipped only if nothing
    // changed since the snapshot was taken (see BeginMutation).
    bool clean = mutations_.load() == mutations;
    Status gs = SetCacheGen(gen, !clean);
    if (!gs.ok()) NoteError("recording the generation: " + gs.ToString());
    if (clean) {
      unshipped_ = false;
      if (mutations_.load() != mutations) unshipped_ = true;
    }
  }
  NoteUploadOk();
  meta_snapshots_++;
  last_ship_changes_ = changes;
  return true;
}

bool Qfs::BeginMutation() {
  if (writer_ && writer_->fenced()) return false;
  mutations_++;
  if (!unshipped_.exchange(true)) {
    std::lock_guard dl(db_->mu());
    Status st = db_->Begin();
    if (st.ok()) {
      st = db_->Prepare("INSERT OR REPLACE INTO meta(k, v) VALUES('unshipped', 1)").Run();
      if (st.ok()) {
        st = db_->Commit();
      } else {
        db_->Rollback();
      }
    }
    if (!st.ok()) NoteError("recording unshipped changes: " + st.ToString());
  }
  return true;
}

Status Qfs::SetCacheGen(uint64_t gen, bool unshipped) {
  std::lock_guard dl(db_->mu());
  QSTOR_RETURN_IF_ERROR(db_->Begin());
  Status st = db_->Prepare("INSERT OR REPLACE INTO meta(k, v) VALUES('gen', ?)")
                  .Bind(1, static_cast<int64_t>(gen))
                  .Run();
  if (st.ok()) {
    st = db_->Prepare("INSERT OR REPLACE INTO meta(k, v) VALUES('unshipped', ?)")
             .Bind(1, int64_t{unshipped ? 1 : 0})
             .Run();
  }
  if (!st.ok()) {
    db_->Rollback();
    return st;
  }
  if (unshipped) unshipped_ = true;
  return db_->Commit();
}

void Qfs::UploaderLoop() {
  for (;;) {
    uint64_t want;
    {
      std::unique_lock l(up_mu_);
      auto wait = std::chrono::milliseconds(200);
      if (upload_failures_ > 0) {
        wait = std::chrono::milliseconds(std::min(5000, 100 << std::min(upload_failures_, 6)));
      }
      up_cv_.wait_for(l, wait);
      if (stop_) break;
      want = meta_wanted_;
    }
    queued_since_wake_ = 0;
    FlushIdle();
    // Read-only, fenced, or the lease not (yet) held: nothing goes to the
    // grid (writer_lease.h); a read-only mount has nothing to store.
    const bool may_write = !writer_ || writer_->MayWrite();
    if (!may_write) {
      Evict();
      if (writer_->read_only()) {
        std::lock_guard l(up_mu_);
        meta_shipped_ = std::max(meta_shipped_, want);
      }
      done_cv_.notify_all();
      continue;
    }
    bool failed = false;
    // Only full segments go back to back; a partial one means the queue is
    // drained, and what arrives meanwhile waits for the next wake-up (a
    // segment's worth, a sync, or the 200 ms timer) so that small files
    // share segments.
    bool more = false;
    while (UploadOnce(&more)) {
      done_cv_.notify_all();
      std::lock_guard l(up_mu_);
      if (stop_ || !more) break;
    }
    {
      std::lock_guard l(up_mu_);
      failed = upload_failures_ > 0;
    }
    DeleteDeadSegments();
    Evict();
    auto now = std::chrono::steady_clock::now();
    int64_t changes;
    {
      std::lock_guard dl(db_->mu());
      changes = sqlite3_total_changes64(db_->raw());
    }
    bool due = changes != last_ship_changes_ && now - last_ship_ > opt_.upload_within / 3;
    bool pending = false;
    {
      std::lock_guard dl(db_->mu());
      auto q = db_->Prepare("SELECT 1 FROM upload_queue LIMIT 1");
      pending = q.Step();
    }
    if ((want > meta_shipped_ || (due && !failed)) && !pending) {
      bool shipped = ShipMeta();
      last_ship_ = now;
      if (shipped) {
        std::lock_guard l(up_mu_);
        meta_shipped_ = std::max(meta_shipped_, want);
      }
    }
    done_cv_.notify_all();
  }
  std::lock_guard l(up_mu_);
  uploader_exited_ = true;
  done_cv_.notify_all();
}

bool Qfs::Shutdown(std::chrono::milliseconds upload_wait) {
  Status st = FlushAll(true);
  if (!st.ok()) NoteError("final flush: " + st.ToString());
  if (uploader_.joinable()) {
    // Give the uploader a bounded time to empty the queue, but stop at once
    // when the backend is failing or a call to it hangs: what is left stays
    // queued on local disk for the next mount.
    auto deadline = std::chrono::steady_clock::now() + upload_wait;
    for (;;) {
      auto step = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      st = WaitUploaded(0, step);
      if (st.ok()) break;
      auto now = std::chrono::steady_clock::now();
      int64_t since = in_sink_since_ns_.load();
      bool hung = since != 0 && NowNs() - since > 3000000000LL;
      bool failing;
      {
        std::lock_guard l(up_mu_);
        failing = upload_failures_ > 0 || (writer_ && !writer_->MayWrite());
      }
      if (now >= deadline || hung || failing) {
        spdlog::warn("mount: unmounting with uploads pending ({}); the next mount resumes them",
                     hung ? "backend call hanging" : failing ? "backend failing" : st.ToString());
        break;
      }
    }
    std::unique_lock l(up_mu_);
    stop_ = true;
    up_cv_.notify_all();
    if (!done_cv_.wait_for(l, std::chrono::seconds(2), [&] { return uploader_exited_; })) {
      l.unlock();
      spdlog::warn("mount: the uploader is stuck in a backend call; exiting without it");
      uploader_.detach();
      StopCommitter();
      return false;
    }
    l.unlock();
    uploader_.join();
  }
  StopCommitter();
  return true;
}

void Qfs::StopCommitter() {
  if (committer_.joinable()) {
    {
      std::lock_guard l(commit_mu_);
      commit_stop_ = true;
    }
    commit_cv_.notify_all();
    committer_.join();
  }
  if (!db_) return;
  std::lock_guard dl(db_->mu());
  Status st = db_->CommitGroup();
  if (!st.ok()) NoteError("final metadata commit: " + st.ToString());
}

std::string Qfs::CheckCacheJson(bool decode) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<uint64_t> inos;
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare(
        "SELECT DISTINCT ino FROM blocks WHERE cached=1 AND seg IS NOT NULL ORDER BY ino");
    while (q.Step()) inos.push_back(static_cast<uint64_t>(q.Int(0)));
  }
  uint64_t checked = 0, damaged = 0, no_csum = 0, decoded = 0, differ = 0, fetch_failed = 0;
  uint64_t bytes = 0;
  std::vector<std::string> problems;
  auto note = [&](const std::string& what) {
    if (problems.size() < 20) problems.push_back(what);
  };
  for (uint64_t ino : inos) {
    auto in = GetInode(ino);
    if (!in) continue;
    {
      std::shared_lock dlk(in->data_mu);
      Status st = EnsureBlocks(*in);
      if (st.ok()) st = EnsureFd(*in);
      if (!st.ok()) {
        note("inode " + std::to_string(ino) + ": " + st.ToString());
        continue;
      }
      std::vector<uint64_t> blks;
      {
        std::lock_guard l(in->mu);
        for (auto& [blk, b] : in->blocks) {
          if (!b.cached || b.dirty || b.seg.empty() || b.len == 0) continue;
          blks.push_back(blk);
          b.verified = false;  // check again, whatever was checked before
        }
      }
      for (uint64_t blk : blks) {
        Blk b;
        int fd;
        uint64_t base;
        {
          std::lock_guard l(in->mu);
          auto it = in->blocks.find(blk);
          if (it == in->blocks.end() || !it->second.cached || it->second.dirty) continue;
          b = it->second;
          fd = in->fd;
          base = CacheBase(*in);
        }
        checked++;
        bytes += b.len;
        const std::string where = "inode " + std::to_string(ino) + " block " + std::to_string(blk);
        if (!b.has_csum) {
          no_csum++;
        } else {
          uint64_t before = corrupt_blocks_.load();
          st = VerifyBlock(*in, blk);
          if (!st.ok()) note(where + ": " + st.ToString());
          if (corrupt_blocks_.load() != before) {
            damaged++;
            note(where + ": cached copy fails its checksum (dropped; read again from the grid)");
            continue;
          }
        }
        if (!decode) continue;
        auto seg = FetchBlock(b, ino, blk);
        if (!seg.ok()) {
          fetch_failed++;
          note(where + ": " + seg.status().ToString());
          continue;
        }
        decoded++;
        std::string cached(b.len, '\0');
        size_t got = 0;
        st = PreadFull(fd, cached.data(), b.len, base + blk * bs_, &got);
        std::string want = seg.value();
        want.resize(b.len, '\0');
        if (st.ok() && cached == want) continue;
        differ++;
        note(where + ": cached copy differs from segment " + b.seg + " (dropped)");
        std::lock_guard dl(db_->mu());
        std::lock_guard l(in->mu);
        auto it = in->blocks.find(blk);
        if (it != in->blocks.end() && it->second.cached && !it->second.dirty &&
            it->second.gen == b.gen) {
          corrupt_blocks_++;
          Status dst = DropCachedCopyLocked(*in, blk, it->second);
          if (!dst.ok()) note(where + ": " + dst.ToString());
        }
      }
    }
    in.reset();
    MaybeDrop(ino);
  }
  nlohmann::json j;
  j["format"] = "qstor.fs.cache-check/v1";
  j["decode"] = decode;
  j["blocks_checked"] = checked;
  j["bytes_checked"] = bytes;
  j["damaged"] = damaged;          // failed their checksum
  j["no_checksum"] = no_csum;      // from before checksums; compared only with decode
  j["decoded"] = decoded;          // compared with their segment
  j["differ"] = differ;            // differed from their segment
  j["fetch_failed"] = fetch_failed;
  j["problems"] = problems;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string out = j.dump();
  if (out.size() > 60 * 1024) {
    j["problems"] = std::vector<std::string>{"(list too long; see last_error in fs stats)"};
    out = j.dump();
  }
  return out;
}

std::string Qfs::StatsJson() {
  nlohmann::json j;
  j["format"] = "qstor.fs.stats/v1";
  j["pid"] = static_cast<int64_t>(getpid());
  j["mountpoint"] = opt_.mountpoint;
  j["cache_dir"] = opt_.cache_dir;
  j["backend"] = shared_->sink->Describe();
  j["durability"] = opt_.durability == Durability::kGrid ? "grid" : "local";
  j["block_size"] = bs_;
  j["segment_size"] = opt_.segment_size;
  j["capacity_bytes"] = capacity_.load();
  j["used_bytes"] = used_bytes_.load();
  j["inodes"] = inode_count_.load();
  j["cache"] = {{"bytes", cache_bytes_.load()}, {"limit_bytes", cache_limit_.load()},
                {"evicted_bytes", evicted_bytes_.load()},
                {"verified_blocks", verified_blocks_.load()},
                {"corrupt_blocks", corrupt_blocks_.load()}};
  {
    std::lock_guard dl(db_->mu());
    auto q = db_->Prepare(
        "SELECT COUNT(*), COALESCE(SUM(b.len),0), COALESCE(MIN(q.queued_ns),0) FROM upload_queue q"
        " LEFT JOIN blocks b ON b.ino=q.ino AND b.blk=q.blk");
    if (q.Step()) {
      int64_t oldest = q.Int(2);
      j["pending_upload"] = {
          {"blocks", q.Int(0)},
          {"bytes", q.Int(1)},
          {"oldest_age_seconds", oldest == 0 ? 0.0 : (NowNs() - oldest) / 1e9}};
    }
    auto s = db_->Prepare(
        "SELECT COUNT(*), COALESCE(SUM(len),0), COALESCE(SUM(state=2 OR live<=0),0) FROM segments");
    if (s.Step()) {
      j["segments"] = {{"count", s.Int(0)}, {"bytes", s.Int(1)}, {"garbage", s.Int(2)}};
    }
  }
  {
    std::lock_guard dl(dirty_mu_);
    j["dirty_inodes"] = dirty_inodes_.size();
  }
  double up_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  j["uptime_seconds"] = up_s;
  j["uploaded"] = {{"bytes", uploaded_bytes_.load()},
                   {"segments", uploaded_segments_.load()},
                   {"errors", upload_errors_.load()},
                   {"mean_bytes_per_second", up_s > 0 ? uploaded_bytes_.load() / up_s : 0.0}};
  {
    // What the uploader is waiting for the backend to do, if anything: a
    // call that takes long (a stalled node) shows here.
    int64_t since = in_sink_since_ns_.load();
    j["backend_call"] = since == 0 ? nlohmann::json(nullptr)
                                   : nlohmann::json{{"what", in_sink_what_.load()},
                                                    {"seconds", (NowNs() - since) / 1e9}};
  }
  j["fetched"] = {{"bytes", shared_->fetched_bytes.load()}, {"errors", fetch_errors_.load()}};
  j["deleted_segments"] = deleted_segments_.load();
  j["metadata_snapshots"] = meta_snapshots_.load();
  int failures = 0;
  {
    std::lock_guard ul(up_mu_);
    failures = upload_failures_;
  }
  {
    std::lock_guard l(err_mu_);
    j["last_error"] = last_error_;
    // Uploads failing right now (null when the last one worked): the cause
    // ("namespace full", "unreachable", "refused", "error"), the error and
    // for how long. `qstor status` and `qstor sync` report it.
    j["upload_failing"] =
        upload_failing_since_ns_ == 0
            ? nlohmann::json(nullptr)
            : nlohmann::json{{"cause", upload_cause_},
                             {"error", upload_cause_error_},
                             {"failures", failures},
                             {"seconds", (NowNs() - upload_failing_since_ns_) / 1e9}};
  }
  return j.dump();
}

}  // namespace qstor::fs::mount
