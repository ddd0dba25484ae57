// FUSE glue: the low-level operation table and the session lifecycle.
#include "fs/mount/mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <future>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "fs/mount/qfs.h"
#include "fs/mount/writer_lease.h"

namespace qstor::fs::mount {
namespace {

Qfs* FsOf(fuse_req_t req) { return static_cast<Qfs*>(fuse_req_userdata(req)); }

// Every operation replies exactly once, even if the handler throws
// (std::bad_alloc and the like): the request then fails with EIO.
#define QSTOR_OP(req, call)                                  \
  do {                                                       \
    try {                                                    \
      call;                                                  \
    } catch (const std::exception& e) {                      \
      spdlog::error("mount: operation failed: {}", e.what()); \
      fuse_reply_err(req, EIO);                              \
    }                                                        \
  } while (0)

// Mutating operations answer EROFS on a read-only or fenced mount (one
// writer per storage, writer_lease.h).
#define QSTOR_MUTATION(req)                \
  do {                                     \
    if (!FsOf(req)->BeginMutation()) {     \
      fuse_reply_err(req, EROFS);          \
      return;                              \
    }                                      \
  } while (0)

bool IsControlXattr(fuse_ino_t ino, const char* name) {
  return ino == FUSE_ROOT_ID && std::strncmp(name, "trusted.qstor.", 14) == 0;
}

void OpInit(void*, struct fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  conn->max_write = 1024 * 1024;
  conn->max_readahead = 1024 * 1024;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  QSTOR_OP(req, FsOf(req)->Lookup(req, parent, name));
}
void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  try {
    FsOf(req)->Forget(ino, n);
  } catch (const std::exception& e) {
    spdlog::error("mount: forget failed: {}", e.what());
  }
  fuse_reply_none(req);
}
void OpForgetMulti(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  try {
    for (size_t i = 0; i < count; i++) FsOf(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  } catch (const std::exception& e) {
    spdlog::error("mount: forget failed: {}", e.what());
  }
  fuse_reply_none(req);
}
void OpGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->GetAttr(req, ino));
}
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               struct fuse_file_info*) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->SetAttr(req, ino, attr, to_set));
}
void OpReadlink(fuse_req_t req, fuse_ino_t ino) { QSTOR_OP(req, FsOf(req)->ReadLink(req, ino)); }
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, mode, rdev, nullptr, nullptr));
}
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFDIR | (mode & 07777), 0, nullptr,
                                    nullptr));
}
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFLNK | 0777, 0, link, nullptr));
}
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              struct fuse_file_info* fi) {
  QSTOR_MUTATION(req);
  // "/" is no name a create can carry: it is an O_TMPFILE open that IoRead
  // turned into a create (the kernel names a tmpfile's dentry "/").
  if (std::strcmp(name, "/") == 0) {
    QSTOR_OP(req, FsOf(req)->MakeTmpFile(req, parent, mode, fi));
    return;
  }
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFREG | (mode & 07777), 0, nullptr, fi));
}
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Unlink(req, parent, name, false));
}
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Unlink(req, parent, name, true));
}
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Rename(req, parent, name, newparent, newname, flags));
}
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Link(req, ino, newparent, newname));
}
void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if ((fi->flags & O_TRUNC) != 0) {
    QSTOR_MUTATION(req);
  } else if ((fi->flags & O_ACCMODE) != O_RDONLY && !FsOf(req)->Writable()) {
    fuse_reply_err(req, EROFS);
    return;
  }
  QSTOR_OP(req, FsOf(req)->Open(req, ino, fi));
}
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Read(req, ino, size, off));
}
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             struct fuse_file_info*) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Write(req, ino, buf, size, off));
}
void OpFlush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Flush(req, ino));
}
void OpRelease(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Release(req, ino));
}
void OpFsync(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Fsync(req, ino));
}
void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Fsync(req, ino));
}
void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->ReadDir(req, ino, size, off, false));
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->ReadDir(req, ino, size, off, true));
}
void OpStatfs(fuse_req_t req, fuse_ino_t) { QSTOR_OP(req, FsOf(req)->StatFs(req)); }
void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  if (!IsControlXattr(ino, name)) QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->SetXattr(req, ino, name, value, size, flags));
}
void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  QSTOR_OP(req, FsOf(req)->GetXattr(req, ino, name, size));
}
void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  QSTOR_OP(req, FsOf(req)->ListXattr(req, ino, size));
}
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->RemoveXattr(req, ino, name));
}
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                 struct fuse_file_info*) {
  QSTOR_MUTATION(req);
  QSTOR_OP(req, FsOf(req)->Fallocate(req, ino, mode, off, len));
}

struct fuse_lowlevel_ops MakeOps() {
  struct fuse_lowlevel_ops ops {};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.create = OpCreate;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.fsyncdir = OpFsyncdir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.fallocate = OpFallocate;
  return ops;
}

// O_TMPFILE. The kernel sends FUSE_TMPFILE (opcode 51, protocol 7.37) for
// open(dir, O_TMPFILE): a FUSE_CREATE request in all but the opcode (same
// fuse_create_in, the name "/", answered with fuse_entry_out +
// fuse_open_out). Debian 12's libfuse (3.14) predates it and answers ENOSYS,
// after which the kernel says EOPNOTSUPP for good. The session's reads go
// through IoRead, which relabels it as a FUSE_CREATE; OpCreate tells it by
// its name. Offsets and values are the kernel's ABI (linux/fuse.h).
constexpr size_t kInHeaderOpcodeOffset = 4;  // fuse_in_header: u32 len, u32 opcode, ...
constexpr size_t kInHeaderSize = 40;
constexpr uint32_t kFuseCreate = 35;
constexpr uint32_t kFuseTmpfile = 51;

ssize_t IoRead(int fd, void* buf, size_t len, void*) {
  ssize_t n = ::read(fd, buf, len);
  if (n >= static_cast<ssize_t>(kInHeaderSize)) {
    auto* p = static_cast<unsigned char*>(buf) + kInHeaderOpcodeOffset;
    uint32_t op;
    std::memcpy(&op, p, sizeof op);
    if (op == kFuseTmpfile) std::memcpy(p, &kFuseCreate, sizeof kFuseCreate);
  }
  return n;
}

ssize_t IoWritev(int fd, struct iovec* iov, int count, void*) { return ::writev(fd, iov, count); }

}  // namespace

// A FUSE mount whose server died answers ENOTCONN or ECONNABORTED; detach
// it so that a restarted mount (systemd, tests after kill -9) can take its
// place.
void DetachDeadMount(const std::string& path, bool force) {
  if (!force && !IsDeadFuseMount(path)) return;
  spdlog::warn("mount: {} is a dead FUSE mount; detaching it", path);
  if (::umount2(path.c_str(), MNT_DETACH) != 0) {
    std::string cmd = "fusermount3 -u -z '" + path + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      spdlog::warn("mount: could not detach {}", path);
    }
  }
}

const struct fuse_lowlevel_ops* Qfs::Ops() {
  static const struct fuse_lowlevel_ops ops = MakeOps();
  return &ops;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "unknown-host";
  return buf;
}

// The rest of a writable mount's checks once a backend that did not answer
// at mount time answers (offline mount of an existing cache): the
// generation, then the lease. Until then nothing goes to the grid; a stale
// cache or a lease held elsewhere fences the mount.
void FinishWriterChecks(std::shared_ptr<GridWriter> writer, std::shared_ptr<SegmentSink> sink,
                        CacheGen cache, std::string cache_id, std::string cache_dir,
                        LeaseOptions lo) {
  std::thread([=]() {
    for (int attempt = 0;; attempt++) {
      if (writer->fenced()) return;  // unmounted meanwhile
      auto head = ReadHead(*sink);
      if (!head.ok()) {
        std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt + 1, 10)));
        continue;
      }
      if (!lo.take_over) {
        Status st = CheckCacheNotStale(cache, cache_id, *head, cache_dir);
        if (!st.ok()) {
          writer->Fence(st.message());
          return;
        }
      }
      auto lease = WriterLease::Acquire(sink, lo);
      if (!lease.ok()) {
        if (lease.status().code() == Status::Code::kFailedPrecondition) {
          writer->Fence(lease.status().message());
          return;
        }
        std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt + 1, 10)));
        continue;
      }
      if (writer->fenced()) return;
      (*lease)->StartRenewing();
      uint64_t gen = std::max(cache.gen, *head ? (*head)->gen : 0);
      writer->SetHeld(std::move(lease).value(), gen);
      spdlog::info("mount: backend answered; writer lease taken, grid writes resume");
      return;
    }
  }).detach();
}

Result<Durability> ParseDurability(const std::string& text) {
  if (text == "local") return Durability::kLocal;
  if (text == "grid") return Durability::kGrid;
  return Status::InvalidArgument("durability \"" + text + "\": use local or grid");
}

Status RunMount(const MountOptions& in_opt, std::shared_ptr<SegmentSink> sink) {
  MountOptions opt = in_opt;
  if (!sink) return Status::InvalidArgument("mount: no segment sink");
  if (opt.mountpoint.empty() || opt.mountpoint[0] != '/') {
    return Status::InvalidArgument("mount point \"" + opt.mountpoint + "\" must be an absolute path");
  }
  if (opt.cache_dir.empty() || opt.cache_dir[0] != '/') {
    return Status::InvalidArgument("cache dir \"" + opt.cache_dir + "\" must be an absolute path");
  }
  if (opt.block_size < 4096 || opt.block_size > (4u << 20) ||
      (opt.block_size & (opt.block_size - 1)) != 0) {
    return Status::InvalidArgument("block size " + std::to_string(opt.block_size) +
                                   ": must be a power of two between 4 KiB and 4 MiB");
  }
  if (opt.segment_size < opt.block_size) opt.segment_size = opt.block_size;
  DetachDeadMount(opt.mountpoint);
  struct stat mst {};
  if (::stat(opt.mountpoint.c_str(), &mst) != 0 || !S_ISDIR(mst.st_mode)) {
    return Status::InvalidArgument("mount point " + opt.mountpoint + " is not a directory");
  }

  // One writer per storage (writer_lease.h): the cache's generation
  // against the grid's head, then the lease.
  if (::mkdir(opt.cache_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("cache dir " + opt.cache_dir + ": " + std::strerror(errno));
  }
  auto cache_id = LoadOrCreateCacheId(opt.cache_dir);
  if (!cache_id.ok()) return cache_id.status();
  auto cache_gen = ReadCacheGen(opt.cache_dir);
  if (!cache_gen.ok()) return cache_gen.status();
  const std::string host = HostName();
  const int64_t pid = ::getpid();
  std::optional<HeadRecord> head;
  bool head_known = false;
  {
    auto prom = std::make_shared<std::promise<Result<std::optional<HeadRecord>>>>();
    auto fut = prom->get_future();
    std::thread([sink, prom]() { prom->set_value(ReadHead(*sink)); }).detach();
    // An existing cache mounts offline when the backend does not answer
    // soon (the checks then finish in the background); a fresh one needs
    // the grid anyway.
    auto wait = cache_gen->fresh ? opt.read_timeout
                                 : std::min<std::chrono::milliseconds>(opt.read_timeout,
                                                                       std::chrono::seconds(5));
    if (fut.wait_for(wait) == std::future_status::ready) {
      auto h = fut.get();
      if (!h.ok()) {
        if (cache_gen->fresh || h.status().code() == Status::Code::kCorruption) return h.status();
        spdlog::warn("mount: reading {} from {}: {}", kHeadRecord, sink->Describe(),
                     h.status().ToString());
      } else {
        head = *h;
        head_known = true;
      }
    } else if (cache_gen->fresh) {
      return Status::Timeout("cache dir " + opt.cache_dir + " is new and backend " +
                             sink->Describe() +
                             " did not answer for the metadata head; refusing to start empty");
    }
  }
  const bool stale = head_known && CacheIsStale(*cache_gen, *cache_id, head);
  if (stale && (!opt.take_over || opt.read_only)) {
    return CheckCacheNotStale(*cache_gen, *cache_id, head, opt.cache_dir);
  }
  if (stale) {
    spdlog::warn("mount: --take-over: this cache (generation {}) replaces grid generation {} "
                 "written by host {} at {}; what was stored after generation {} is dropped from "
                 "the storage (it stays only in the cache that wrote it)",
                 cache_gen->gen, head->gen, head->host, FormatUnixTime(head->written_unix),
                 cache_gen->gen);
  }

  // Owned by this function; leaked on purpose if the uploader is stuck in a
  // backend call at exit (see Qfs::Shutdown).
  auto* fs = new Qfs(opt, sink);
  Status st = fs->Open();
  if (!st.ok()) {
    delete fs;
    return st;
  }
  const uint64_t head_gen = head ? head->gen : 0;
  if (fs->restored()) {
    st = fs->SetCacheGen(head_gen, false);
  } else if (stale) {
    st = fs->SetCacheGen(cache_gen->gen, true);  // store this cache's state as the next gen
  }
  if (!st.ok()) {
    delete fs;
    return st;
  }
  const uint64_t base_gen = std::max(fs->restored() ? head_gen : cache_gen->gen, head_gen);
  auto writer = std::make_shared<GridWriter>(
      sink, opt.read_only ? GridWriter::State::kReadOnly : GridWriter::State::kPending, base_gen,
      *cache_id, host, pid);
  if (!opt.read_only) {
    LeaseOptions lo;
    lo.duration = opt.lease;
    lo.renew = opt.lease_renew;
    lo.cache_id = *cache_id;
    lo.host = host;
    lo.pid = pid;
    lo.mountpoint = opt.mountpoint;
    lo.take_over = opt.take_over;
    if (head_known) {
      auto lease = WriterLease::Acquire(sink, lo);
      if (!lease.ok()) {
        bool drop = fs->restored();
        delete fs;
        if (drop) {
          // Restored just now and never used: leave no copy behind to go
          // stale (the next attempt restores again).
          for (const char* n : {"/meta.db", "/meta.db-wal", "/meta.db-shm"}) {
            ::unlink((opt.cache_dir + n).c_str());
          }
        }
        return lease.status();
      }
      (*lease)->StartRenewing();
      writer->SetHeld(std::move(lease).value(), base_gen);
    } else {
      spdlog::warn("mount: backend {} did not answer; mounting the cache offline: nothing goes "
                   "to the grid until the generation check and the writer lease succeed",
                   sink->Describe());
      CacheGen cg = *cache_gen;
      FinishWriterChecks(writer, sink, cg, *cache_id, opt.cache_dir, lo);
    }
  }
  fs->SetWriter(writer);

  std::string o = "default_permissions,fsname=qstor,subtype=qstor";
  if (opt.read_only) o += ",ro";
  if (opt.allow_other && getuid() == 0) o += ",allow_other";
  const char* argv[] = {"qstor", "-o", o.c_str()};
  struct fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  struct fuse_session* se = fuse_session_new(&args, Qfs::Ops(), sizeof(struct fuse_lowlevel_ops), fs);
  fuse_opt_free_args(&args);  // the session keeps its own copies
  if (se == nullptr) {
    (void)writer->Release();
    delete fs;
    return Status::Internal("fuse_session_new failed (see the messages above)");
  }
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    (void)writer->Release();
    delete fs;
    return Status::Internal("fuse_set_signal_handlers failed");
  }
  if (fuse_session_mount(se, opt.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    (void)writer->Release();
    delete fs;
    return Status::Unavailable("cannot mount FUSE at " + opt.mountpoint +
                               " (is /dev/fuse there, and are we root or is fusermount3 "
                               "installed?)");
  }
  {
    static const struct fuse_custom_io io = {IoWritev, IoRead, nullptr, nullptr};
    int io_rc = fuse_session_custom_io(se, &io, fuse_session_fd(se));
    if (io_rc != 0) {
      spdlog::warn("mount: no O_TMPFILE support (fuse_session_custom_io: {})", std::strerror(-io_rc));
    }
  }
  spdlog::info("mount: {} mounted (cache {}, backend {})", opt.mountpoint, opt.cache_dir,
               sink->Describe());
  if (!opt.foreground && fuse_daemonize(0) != 0) {
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    (void)writer->Release();
    delete fs;
    return Status::Internal("fuse_daemonize failed");
  }
  fs->StartBackground();

  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(std::max(2, opt.threads)));
  fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(std::max(1, opt.threads / 2)));
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  spdlog::info("mount: {} unmounted; flushing", opt.mountpoint);

  bool stopped = fs->Shutdown(std::chrono::milliseconds(
      std::min<int64_t>(opt.upload_within.count(), 30000)));
  if (stopped) delete fs;
  // Clean unmount: the next writer (this cache again, or another) need not
  // wait for the lease to expire.
  Status rs = writer->Release();
  if (!rs.ok()) spdlog::warn("mount: {}", rs.ToString());
  if (rc < 0) {
    return Status::Internal("FUSE session loop ended with " + std::to_string(rc));
  }
  return Status::OK();
}

}  // namespace qstor::fs::mount
