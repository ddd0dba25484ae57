// FUSE glue: the low-level operation table and the session lifecycle.
#include "fs/mount/mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "fs/mount/qfs.h"

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
  QSTOR_OP(req, FsOf(req)->SetAttr(req, ino, attr, to_set));
}
void OpReadlink(fuse_req_t req, fuse_ino_t ino) { QSTOR_OP(req, FsOf(req)->ReadLink(req, ino)); }
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, mode, rdev, nullptr, nullptr));
}
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFDIR | (mode & 07777), 0, nullptr,
                                    nullptr));
}
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFLNK | 0777, 0, link, nullptr));
}
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              struct fuse_file_info* fi) {
  // "/" is no name a create can carry: it is an O_TMPFILE open that IoRead
  // turned into a create (the kernel names a tmpfile's dentry "/").
  if (std::strcmp(name, "/") == 0) {
    QSTOR_OP(req, FsOf(req)->MakeTmpFile(req, parent, mode, fi));
    return;
  }
  QSTOR_OP(req, FsOf(req)->MakeNode(req, parent, name, S_IFREG | (mode & 07777), 0, nullptr, fi));
}
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  QSTOR_OP(req, FsOf(req)->Unlink(req, parent, name, false));
}
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  QSTOR_OP(req, FsOf(req)->Unlink(req, parent, name, true));
}
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  QSTOR_OP(req, FsOf(req)->Rename(req, parent, name, newparent, newname, flags));
}
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  QSTOR_OP(req, FsOf(req)->Link(req, ino, newparent, newname));
}
void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  QSTOR_OP(req, FsOf(req)->Open(req, ino, fi));
}
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  QSTOR_OP(req, FsOf(req)->Read(req, ino, size, off));
}
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             struct fuse_file_info*) {
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
  QSTOR_OP(req, FsOf(req)->SetXattr(req, ino, name, value, size, flags));
}
void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  QSTOR_OP(req, FsOf(req)->GetXattr(req, ino, name, size));
}
void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  QSTOR_OP(req, FsOf(req)->ListXattr(req, ino, size));
}
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  QSTOR_OP(req, FsOf(req)->RemoveXattr(req, ino, name));
}
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                 struct fuse_file_info*) {
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

  // Owned by this function; leaked on purpose if the uploader is stuck in a
  // backend call at exit (see Qfs::Shutdown).
  auto* fs = new Qfs(opt, sink);
  Status st = fs->Open();
  if (!st.ok()) {
    delete fs;
    return st;
  }

  std::string o = "default_permissions,fsname=qstor,subtype=qstor";
  if (opt.allow_other && getuid() == 0) o += ",allow_other";
  const char* argv[] = {"qstor", "-o", o.c_str()};
  struct fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  struct fuse_session* se = fuse_session_new(&args, Qfs::Ops(), sizeof(struct fuse_lowlevel_ops), fs);
  fuse_opt_free_args(&args);  // the session keeps its own copies
  if (se == nullptr) {
    delete fs;
    return Status::Internal("fuse_session_new failed (see the messages above)");
  }
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    delete fs;
    return Status::Internal("fuse_set_signal_handlers failed");
  }
  if (fuse_session_mount(se, opt.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
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
  if (rc < 0) {
    return Status::Internal("FUSE session loop ended with " + std::to_string(rc));
  }
  return Status::OK();
}

}  // namespace qstor::fs::mount
