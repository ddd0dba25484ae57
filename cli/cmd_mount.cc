// qstor mount / umount / sync / fs stats (fs check, fs repair and recover
// are in cmd_mount_grid.cc).
//
// The mount itself lives in fs/mount (RunMount). `qstor mount MANIFEST`
// mounts the deployment recorded in the manifest's state (cli/mount_grid.h);
// --local-backend and --zdb are development paths. Without --foreground the
// mount is served by a child process in its own session, and the command
// returns once the mount point is live. The running mount is controlled
// through two reserved extended attributes on its root directory (see
// fs/mount/mount.h), so `sync`, `umount` and `fs stats` only need the mount
// point.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/sd_notify.h"
#include "cli/mount_cache.h"
#include "cli/mount_control.h"
#include "cli/mount_grid.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/units.h"

#if defined(QSTOR_HAVE_FS_MOUNT)
#include "fs/mount/mount.h"
#include "fs/mount/segment_sink.h"
#endif
#if defined(QSTOR_MOUNT_HAVE_OBJECT_STORE)
#include <fstream>

#include "fs/mount/object_store_sink.h"
#include "fs/object_store.h"
#endif
#if defined(QSTOR_HAVE_RECONCILER)
#include "reconciler/manifest.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_FS_MOUNT)
namespace {

constexpr const char* kSyncXattr = "trusted.qstor.sync";
constexpr long kFuseSuperMagic = 0x65735546;

struct MountCli {
  std::string manifest;
  std::string name;        // which Storage document of the manifest
  int passphrase_fd = -1;  // read the keystore passphrase from this fd
  std::string local_backend;
  std::string mountpoint;
  std::string cache_dir;
  std::string cache_size = "1GiB";
  std::string capacity = "1TiB";
  std::string durability = "local";
  std::string upload_within = "30s";
  std::string commit_window = "50ms";
  std::string read_timeout = "30s";
  std::string grid_timeout = "60s";
  std::string block_size = "256KiB";
  std::string segment_size = "4MiB";
  bool read_only = false;
  bool take_over = false;
  std::string lease = "60s";
  std::string lease_renew = "20s";
  bool foreground = false;
  int threads = 8;
  std::vector<std::string> zdb;  // host:port/ns, development access to 0-db backends
  int k = 2;
  int m = 1;
  std::string key_file;
  // Flags a manifest decides (spec.mount, spec.capacity) that were given
  // anyway: refused with a manifest, never silently ignored.
  std::vector<std::string> manifest_decides;
};

#if defined(QSTOR_MOUNT_HAVE_OBJECT_STORE)
// Development path to the storage engine (tests, experiments): explicit 0-db
// addresses and a key file with two lines of 64 hex digits (data key,
// metadata key). A deployment's own backends come from its manifest instead.
Result<std::shared_ptr<qstor::fs::mount::SegmentSink>> ZdbSink(const MountCli& c) {
  std::vector<qstor::fs::Backend> backends;
  const char* pw = std::getenv("QSTOR_ZDB_PASSWORD");
  for (const std::string& spec : c.zdb) {
    size_t colon = spec.rfind(':'), slash = spec.find('/', colon == std::string::npos ? 0 : colon);
    if (colon == std::string::npos || slash == std::string::npos || slash + 1 >= spec.size()) {
      return Status::InvalidArgument("--zdb \"" + spec + "\": use HOST:PORT/NAMESPACE");
    }
    qstor::fs::Backend b;
    b.host = spec.substr(0, colon);
    int port = std::atoi(spec.substr(colon + 1, slash - colon - 1).c_str());
    if (port <= 0 || port > 65535) return Status::InvalidArgument("--zdb \"" + spec + "\": bad port");
    b.port = static_cast<uint16_t>(port);
    b.ns = spec.substr(slash + 1);
    if (pw) b.password = pw;
    backends.push_back(std::move(b));
  }
  if (c.key_file.empty()) return Status::InvalidArgument("--zdb needs --key-file");
  // Two lines of 64 hex digits: a few hundred bytes at most.
  auto key_text = ReadFileBounded(c.key_file, 4096, "key file");
  if (!key_text.ok()) return Status(key_text.status()).WithContext("--key-file");
  std::istringstream in(*key_text);
  std::string dk, mk;
  if (!std::getline(in, dk) || !std::getline(in, mk)) {
    return Status::InvalidArgument("--key-file " + c.key_file +
                                   ": need two lines of 64 hex digits (data key, metadata key)");
  }
  qstor::fs::FsKeys keys;
  auto d = qstor::fs::SecretKey::FromHex(dk);
  auto mm = qstor::fs::SecretKey::FromHex(mk);
  if (!d.ok() || !mm.ok()) return Status::InvalidArgument("--key-file " + c.key_file + ": bad hex key");
  keys.data_key = *d;
  keys.metadata_key = *mm;
  qstor::fs::ObjectStoreOptions o;
  o.k = c.k;
  o.m = c.m;
  auto store = qstor::fs::ObjectStore::Open(keys, backends, backends, o);
  if (!store.ok()) return store.status();
  std::shared_ptr<qstor::fs::ObjectStore> shared(std::move(store.value()));
  return std::shared_ptr<qstor::fs::mount::SegmentSink>(
      qstor::fs::mount::NewObjectStoreSink(std::move(shared)));
}
#endif

std::string DefaultCacheDir() {
  if (getuid() == 0) return "/var/lib/qstor/mount-cache";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/qstor/mount-cache";
}

Status MkdirP(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      cur = path.substr(0, i);
      if (::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST) {  // & ~umask
        return Status::IOError("mkdir " + cur + ": " + std::strerror(errno));
      }
    }
  }
  return Status::OK();
}

int Fail(const Status& st, const char* what) {
  return ReportFailure(what, Status(st.code(), st.ToString()));
}


int RunMountCmd(const Context& ctx, const MountCli& c) {
  using qstor::fs::mount::MountOptions;
  MountOptions o;
  std::string durability = c.durability;
  std::string upload_within = c.upload_within;
  uint64_t cache_size = 0, capacity = 0;
  std::string mountpoint = c.mountpoint, cache_dir = c.cache_dir;
  SinkFactory make_sink;
  std::string what;
  {
    auto v = ParseSize(c.cache_size);
    if (!v.ok()) return Fail(v.status().WithContext("--cache-size"), "mount");
    cache_size = *v;
    auto cap = ParseSize(c.capacity);
    if (!cap.ok()) return Fail(cap.status().WithContext("--capacity"), "mount");
    capacity = *cap;
  }
  if (!c.manifest.empty()) {
    if (!c.manifest_decides.empty()) {
      std::cerr << "qstor mount: with a manifest, the manifest decides "
                << fmt::format("{}", fmt::join(c.manifest_decides, ", "))
                << ": change it there (`qstor apply` changes a running mount's size and cache "
                   "size live), or leave the flag out\n";
      return kExitUsage;
    }
#if defined(QSTOR_CLI_GRID_MOUNT)
    auto m = PickManifest(c.manifest, c.name);
    if (!m.ok()) return Fail(m.status(), "mount");
    if (!m->mount.enabled && mountpoint.empty()) {
      std::cerr << "qstor mount: " << c.manifest << " (\"" << m->name
                << "\") has no spec.mount section; give --mountpoint PATH\n";
      return kExitUsage;
    }
    if (mountpoint.empty()) mountpoint = m->mount.path;
    if (cache_dir.empty()) cache_dir = m->mount.cache_dir;
    cache_size = m->mount.cache_bytes;
    capacity = m->capacity_bytes;
    durability = m->mount.durability == reconciler::Manifest::Mount::Durability::kGrid ? "grid"
                                                                                       : "local";
    o.upload_within = m->mount.upload_within;
    upload_within.clear();
    if (c.local_backend.empty() && c.zdb.empty()) {
      // The deployment's own backends, from its state and the keystore.
      auto d = LoadDeployed(*m, c.passphrase_fd);
      if (!d.ok()) return Fail(d.status(), "mount");
      const bool user_given = !cache_dir.empty();
      if (cache_dir.empty()) cache_dir = DeployedCacheDir(*d);
      NoteDegraded(*d, std::cerr);
      Status cst = ClaimDeployedCache(*d, cache_dir, user_given);
      if (!cst.ok()) return Fail(cst, "mount");
      what = d->Label();
      make_sink = DeployedSinkFactory(std::make_shared<Deployed>(std::move(d).value()));
    }
#else
    std::cerr << "qstor mount: mounting from a manifest needs the reconciler, grid and storage "
                 "engine, which are not built in this binary\n";
    return kExitNotBuilt;
#endif
  }
  if (!make_sink) {
    if (c.local_backend.empty() == c.zdb.empty()) {
      std::cerr << "qstor mount: give a MANIFEST, or exactly one of --local-backend DIR or "
                   "--zdb ... (see --help)\n";
      return kExitUsage;
    }
    if (!c.zdb.empty()) {
#if defined(QSTOR_MOUNT_HAVE_OBJECT_STORE)
      what = "--zdb backends";
      make_sink = [c]() { return ZdbSink(c); };
#else
      std::cerr << "qstor mount: --zdb needs the storage engine (fs/object_store.h), not built\n";
      return kExitNotBuilt;
#endif
    } else {
      std::string backend = c.local_backend;
      char rbuf[PATH_MAX];
      if (::realpath(backend.c_str(), rbuf) != nullptr) backend = rbuf;
      what = "local backend " + backend;
      make_sink = [backend]() -> Result<std::shared_ptr<qstor::fs::mount::SegmentSink>> {
        auto sink = qstor::fs::mount::NewLocalDirSink(backend);
        if (!sink.ok()) return sink.status();
        return std::shared_ptr<qstor::fs::mount::SegmentSink>(std::move(sink).value());
      };
    }
  }
  if (mountpoint.empty()) {
    std::cerr << "qstor mount: --mountpoint PATH is required (or spec.mount.path)\n";
    return kExitUsage;
  }
  if (cache_dir.empty()) cache_dir = DefaultCacheDir();
  auto dur = qstor::fs::mount::ParseDurability(durability);
  if (!dur.ok()) return Fail(dur.status(), "mount");
  o.durability = *dur;
  if (!upload_within.empty()) {
    auto d = ParseDuration(upload_within);
    if (!d.ok()) return Fail(d.status().WithContext("--upload-within"), "mount");
    o.upload_within = *d;
  }
  auto cw = ParseDuration(c.commit_window);
  if (!cw.ok()) return Fail(cw.status().WithContext("--commit-window"), "mount");
  if (*cw > std::chrono::milliseconds(1000)) {
    return Fail(Status::InvalidArgument("--commit-window: at most 1s"), "mount");
  }
  o.commit_window = *cw;
  auto rt = ParseDuration(c.read_timeout);
  if (!rt.ok()) return Fail(rt.status().WithContext("--read-timeout"), "mount");
  auto gt = ParseDuration(c.grid_timeout);
  if (!gt.ok()) return Fail(gt.status().WithContext("--grid-timeout"), "mount");
  auto bs = ParseSize(c.block_size);
  if (!bs.ok()) return Fail(bs.status().WithContext("--block-size"), "mount");
  auto ss = ParseSize(c.segment_size);
  if (!ss.ok()) return Fail(ss.status().WithContext("--segment-size"), "mount");
  if (*ss > (256u << 20)) {
    return Fail(Status::InvalidArgument("--segment-size: at most 256 MiB"), "mount");
  }
  o.read_timeout = *rt;
  o.grid_timeout = *gt;
  auto lease = ParseDuration(c.lease);
  if (!lease.ok()) return Fail(lease.status().WithContext("--lease"), "mount");
  auto renew = ParseDuration(c.lease_renew);
  if (!renew.ok()) return Fail(renew.status().WithContext("--lease-renew"), "mount");
  if (renew->count() <= 0 || *renew >= *lease) {
    return Fail(Status::InvalidArgument("--lease-renew must be shorter than --lease"), "mount");
  }
  if (c.read_only && c.take_over) {
    return Fail(Status::InvalidArgument("--read-only and --take-over exclude each other"),
                "mount");
  }
  o.lease = *lease;
  o.lease_renew = *renew;
  o.read_only = c.read_only;
  o.take_over = c.take_over;
  o.block_size = static_cast<uint32_t>(std::min<uint64_t>(*bs, 1u << 30));
  o.segment_size = static_cast<uint32_t>(*ss);
  o.cache_size = cache_size;
  o.capacity = capacity;
  o.foreground = c.foreground;
  o.threads = c.threads;
  o.mountpoint = mountpoint;
  o.cache_dir = cache_dir;
  return StartMount(ctx, o, make_sink, what);
}

// The child of a background mount: serves the mount in its own session and
// tells the parent (one byte on `ready_fd`) once the mount point is served by
// this process; from then on its output goes to `log_path`.
int ServeInBackground(qstor::fs::mount::MountOptions o, const SinkFactory& make_sink,
                      int ready_fd, dev_t unmounted_dev, const std::string& log_path) {
  ::setsid();
  if (::chdir("/") != 0) {
    // Paths are absolute; staying in the old directory only keeps it busy.
  }
  auto sink = make_sink();
  if (!sink.ok()) {
    ::close(ready_fd);
    return Fail(sink.status(), "mount");
  }
  o.foreground = true;  // this process is the background
  std::atomic<bool> done{false};
  std::atomic<bool> signalled{false};
  std::thread watcher([&]() {
    while (!done.load()) {
      struct statfs sf {};
      struct stat st {};
      // A FUSE file system on the mount point whose root this process
      // answers (stat goes through our own getattr).
      if (::statfs(o.mountpoint.c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic &&
          ::stat(o.mountpoint.c_str(), &st) == 0 && st.st_dev != unmounted_dev) {
        int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        std::fflush(stdout);
        std::fflush(stderr);
        if (null >= 0) ::dup2(null, 0);
        if (log >= 0) {
          ::dup2(log, 1);
          ::dup2(log, 2);
        } else if (null >= 0) {
          ::dup2(null, 1);
          ::dup2(null, 2);
        }
        if (log >= 0) ::close(log);
        if (null >= 0) ::close(null);
        DisableLogColors();  // mount.log is a file: no ANSI in it
        char r = 'R';
        (void)!::write(ready_fd, &r, 1);
        ::close(ready_fd);
        signalled = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  Status st = qstor::fs::mount::RunMount(o, *sink);
  done = true;
  watcher.join();
  if (!signalled) ::close(ready_fd);
  if (!st.ok()) return Fail(st, "mount");
  return kExitOk;
}

}  // namespace

int StartMount(const Context& ctx, qstor::fs::mount::MountOptions o, const SinkFactory& make_sink,
               const std::string& what) {
  // A dead FUSE mount (its process killed) answers ENOTCONN or ECONNABORTED
  // (statfs, then stat): detach it first, as the foreground mount does.
  qstor::fs::mount::DetachDeadMount(o.mountpoint);
  Status st = MkdirP(o.mountpoint);
  // The cache holds file contents in plaintext and the inode table: what the
  // mount process creates is private (directories 0700, files 0600; meta.db
  // is created by SQLite with 0644 & ~umask).
  ::umask(077);
  if (st.ok()) st = MkdirP(o.cache_dir);
  if (st.ok()) st = MakeCachePrivate(o.cache_dir);
  if (!st.ok()) return Fail(st, "mount");
  char buf[PATH_MAX];
  if (::realpath(o.mountpoint.c_str(), buf) != nullptr) o.mountpoint = buf;
  if (::realpath(o.cache_dir.c_str(), buf) != nullptr) o.cache_dir = buf;
  // Busy: a file system answers there, and it is not a qstor mount whose
  // process is gone. A qstor mount is busy only while its recorded pid is
  // alive; one whose control attribute cannot be read because the
  // connection is gone (the root's attributes may still come from the
  // kernel's attribute cache right after a kill -9) is detached.
  if (IsMountPoint(o.mountpoint)) {
    std::string who = "another file system is mounted there";
    bool busy = true;
    int err = 0;
    auto stats = ReadMountStats(o.mountpoint, &err);
    if (stats.ok()) {
      auto j = nlohmann::json::parse(*stats, nullptr, false);
      if (!j.is_discarded() && j.contains("pid")) {
        int64_t pid = j["pid"].get<int64_t>();
        who = fmt::format("a qstor mount (pid {}, backend {}) serves it", pid,
                          j.value("backend", std::string("?")));
        busy = pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
      }
    } else if (err == ENOTCONN || err == ECONNABORTED || IsDeadFuseMount(o.mountpoint)) {
      busy = false;
    }
    if (!busy) {
      qstor::fs::mount::DetachDeadMount(o.mountpoint, /*force=*/true);
      busy = IsMountPoint(o.mountpoint) && !IsDeadFuseMount(o.mountpoint);
      if (busy) who = "a dead mount there could not be detached";
    }
    if (busy) {
      std::cerr << "qstor mount: mount point " << o.mountpoint << " is busy: " << who
                << "; unmount it first (`qstor umount " << o.mountpoint << "`)\n";
      return kExitError;
    }
  }
  struct stat mst {};
  if (o.foreground) {
    auto sink = make_sink();
    if (!sink.ok()) return Fail(sink.status(), "mount");
    // Under systemd (Type=notify): READY=1 once this process serves the
    // mount point, STOPPING=1 when it ends (cli/sd_notify.h).
    std::atomic<bool> done{false};
    std::thread notifier;
    const bool notify = std::getenv("NOTIFY_SOCKET") != nullptr;
    if (notify && ::stat(o.mountpoint.c_str(), &mst) == 0) {
      const dev_t before = mst.st_dev;
      notifier = std::thread([&done, &o, before, what]() {
        while (!done.load()) {
          struct statfs sf {};
          struct stat now {};
          if (::statfs(o.mountpoint.c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic &&
              ::stat(o.mountpoint.c_str(), &now) == 0 && now.st_dev != before) {
            SdNotify(fmt::format("READY=1\nSTATUS=mounted {} at {}\nMAINPID={}", what,
                                 o.mountpoint, ::getpid()));
            return;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      });
    }
    st = qstor::fs::mount::RunMount(o, *sink);
    done = true;
    if (notifier.joinable()) notifier.join();
    if (notify) SdNotify("STOPPING=1");
    if (!st.ok()) return Fail(st, "mount");
    return kExitOk;
  }
  // Background: fork before anything starts threads (the storage engine's
  // I/O pool would not survive a fork), and return once the child serves.
  if (::stat(o.mountpoint.c_str(), &mst) != 0) {
    return Fail(Status::IOError("stat " + o.mountpoint + ": " + std::strerror(errno)), "mount");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Fail(Status::IOError(std::string("pipe: ") + std::strerror(errno)), "mount");
  }
  const std::string log_path = o.cache_dir + "/mount.log";
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Fail(Status::IOError(std::string("fork: ") + std::strerror(errno)), "mount");
  }
  if (pid == 0) {
    ::close(fds[0]);
    return ServeInBackground(o, make_sink, fds[1], mst.st_dev, log_path);
  }
  ::close(fds[1]);
  char r = 0;
  ssize_t n;
  do {
    n = ::read(fds[0], &r, 1);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  if (n == 1 && r == 'R') {
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"version", 1},
                                  {"mounted", true},
                                  {"mountpoint", o.mountpoint},
                                  {"pid", pid},
                                  {"backend", what},
                                  {"cache_dir", o.cache_dir},
                                  {"log", log_path}}
                       .dump()
                << "\n";
    } else {
      std::cout << fmt::format("mounted {} at {} (pid {}; cache {}; log {})\n", what,
                               o.mountpoint, pid, o.cache_dir, log_path);
    }
    return kExitOk;
  }
  // The child failed before the mount was live; it printed why.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
  std::cerr << "qstor mount: the mount process ended before the mount was live\n";
  return kExitError;
}

namespace {

// `path` must be the root of a live qstor mount: a FUSE file system
// mounted exactly there that answers the qstor control attribute. Anything
// else (a plain directory, a mount that died and left its directory behind,
// a subdirectory of a mount, another FUSE file system) is refused:
// setting the sync attribute there would do nothing and say "synced".
Status CheckQstorMountRoot(const std::string& in_path) {
  std::string path = in_path;
  auto dead = [](const std::string& p, int e) {
    return Status::Unavailable(p + " is a dead FUSE mount (its process is gone: " +
                               std::strerror(e) +
                               "); mount it again, the cache resumes what was not uploaded");
  };
  auto is_dead = [](int e) { return e == ENOTCONN || e == ECONNABORTED; };
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    int e = errno;
    if (is_dead(e)) return dead(in_path, e);
    return Status::NotFound(in_path + ": " + std::strerror(e));
  }
  path = buf;
  const std::string not_root = path + " is not the root of a qstor mount";
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) {
    int e = errno;
    if (is_dead(e)) return dead(path, e);
    return Status::IOError("statfs " + path + ": " + std::strerror(e));
  }
  if (sf.f_type != kFuseSuperMagic) {
    return Status::FailedPrecondition(not_root +
                                      " (not a FUSE file system: nothing is mounted there, or "
                                      "the mount ended; `qstor mount` it first)");
  }
  if (!IsMountPoint(path)) {
    return Status::FailedPrecondition(not_root +
                                      " (a directory inside a mount: give the mount point)");
  }
  int err = 0;
  auto stats = ReadMountStats(path, &err);
  if (!stats.ok()) {
    if (is_dead(err)) return dead(path, err);
    return Status::FailedPrecondition(
        not_root + " (a FUSE file system that does not answer qstor's control attribute)");
  }
  return Status::OK();
}

Status SyncMount(const std::string& path, std::chrono::milliseconds timeout) {
  std::string secs = std::to_string(std::max<int64_t>(1, timeout.count() / 1000));
  if (::setxattr(path.c_str(), kSyncXattr, secs.data(), secs.size(), 0) != 0) {
    int e = errno;
    if (e == EIO) {
      // Name why: the mount records the cause of the uploads that keep
      // failing (a full namespace is not a slow backend).
      std::string why = "backends slow or down; see `qstor fs stats " + path + "` last_error";
      if (auto stats = ReadMountStats(path); stats.ok()) {
        std::string line = UploadFailingLine(nlohmann::json::parse(*stats, nullptr, false));
        if (!line.empty()) why = line;
      }
      return Status::Unavailable("sync of " + path + " did not finish within " + secs + " s (" +
                                 why + ")");
    }
    return Status::IOError("sync " + path + ": " + std::strerror(e));
  }
  return Status::OK();
}

void PrintStats(const Context& ctx, const std::string& text) {
  if (ctx.global.json) {
    std::cout << text << "\n";
    return;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    std::cout << text << "\n";
    return;
  }
  auto u = [&](const nlohmann::json& v) { return FormatSize(v.get<uint64_t>()); };
  std::cout << fmt::format("mount        {} (pid {}, durability {})\n",
                           j["mountpoint"].get<std::string>(), j["pid"].get<int64_t>(),
                           j["durability"].get<std::string>());
  std::cout << fmt::format("backend      {}\n", j["backend"].get<std::string>());
  std::cout << fmt::format("used         {} of {}, {} inodes\n", u(j["used_bytes"]),
                           u(j["capacity_bytes"]), j["inodes"].get<uint64_t>());
  std::cout << fmt::format("cache        {} of {} ({} evicted so far)\n", u(j["cache"]["bytes"]),
                           u(j["cache"]["limit_bytes"]), u(j["cache"]["evicted_bytes"]));
  if (j.contains("pending_upload")) {
    std::cout << fmt::format("pending      {} in {} blocks, oldest {:.1f} s\n",
                             FormatSize(j["pending_upload"]["bytes"].get<uint64_t>()),
                             j["pending_upload"]["blocks"].get<int64_t>(),
                             j["pending_upload"]["oldest_age_seconds"].get<double>());
  }
  if (j.contains("segments")) {
    std::cout << fmt::format("segments     {} ({}), {} garbage\n",
                             j["segments"]["count"].get<int64_t>(),
                             FormatSize(j["segments"]["bytes"].get<uint64_t>()),
                             j["segments"]["garbage"].get<int64_t>());
  }
  std::cout << fmt::format("uploaded     {} in {} segments, {} errors, mean {:.1f} MB/s\n",
                           u(j["uploaded"]["bytes"]), j["uploaded"]["segments"].get<uint64_t>(),
                           j["uploaded"]["errors"].get<uint64_t>(),
                           j["uploaded"]["mean_bytes_per_second"].get<double>() / 1e6);
  std::cout << fmt::format("fetched      {}, {} errors\n", u(j["fetched"]["bytes"]),
                           j["fetched"]["errors"].get<uint64_t>());
  if (j["backend"].get<std::string>().rfind("local:", 0) == 0) {
    std::cout << "redundancy   none: the local development backend keeps one copy\n";
  } else {
    std::cout << "redundancy   per segment: see `qstor fs check MANIFEST`\n";
  }
  std::string err = StatsString(j, "last_error");
  if (!err.empty()) std::cout << "last error   " << err << "\n";
  if (std::string f = UploadFailingLine(j); !f.empty()) std::cout << "failing      " << f << "\n";
}

int RunUmount(const Context&, const std::string& in_path, const std::string& timeout_text,
              bool no_sync) {
  auto timeout = ParseDuration(timeout_text);
  if (!timeout.ok()) return Fail(timeout.status().WithContext("--timeout"), "umount");
  std::string path = in_path;
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) path = buf;
  int64_t pid = 0;
  auto stats = ReadMountStats(path);
  if (stats.ok()) {
    auto j = nlohmann::json::parse(*stats, nullptr, false);
    if (!j.is_discarded() && j.contains("pid")) pid = j["pid"].get<int64_t>();
    if (!no_sync) {
      Status st = SyncMount(path, *timeout);
      if (!st.ok()) {
        std::cerr << "qstor umount: warning: " << st.ToString()
                  << "; unmounting anyway, the next mount resumes the uploads\n";
      }
    }
  } else if (!IsMountPoint(path)) {
    std::cerr << "qstor umount: " << path << " is not mounted\n";
    return kExitError;
  }
  if (::umount2(path.c_str(), 0) != 0) {
    int e = errno;
    std::string cmd = "fusermount3 -u '" + path + "'";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "qstor umount: " << path << ": " << std::strerror(e)
                << " (files still open? `fusermount3 -u -z` detaches lazily)\n";
      return kExitError;
    }
  }
  // Wait for the mount process to finish its final flush (a zombie, whose
  // parent has not reaped it yet, has finished).
  auto alive = [](int64_t p) {
    if (::kill(static_cast<pid_t>(p), 0) != 0) return false;
    FILE* f = std::fopen(("/proc/" + std::to_string(p) + "/stat").c_str(), "r");
    if (!f) return false;
    char sbuf[512];
    size_t n = std::fread(sbuf, 1, sizeof sbuf - 1, f);
    std::fclose(f);
    sbuf[n] = 0;
    const char* rp = std::strrchr(sbuf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
  };
  auto deadline = std::chrono::steady_clock::now() + *timeout + std::chrono::seconds(10);
  while (pid > 0 && alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cout << "unmounted " << path << "\n";
  return kExitOk;
}

// `qstor umount PATH|MANIFEST`: a regular file is a manifest, and each of
// its Storage documents (or --name's) with a mount is unmounted at
// spec.mount.path; a document without one is an error that says so.
int RunUmountArg(const Context& ctx, const std::string& arg, const std::string& name,
                 const std::string& timeout_text, bool no_sync) {
  struct stat st {};
  if (::stat(arg.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    if (!name.empty()) {
      return Fail(Status::InvalidArgument("--name goes with a manifest, not a mount point"),
                  "umount");
    }
    return RunUmount(ctx, arg, timeout_text, no_sync);
  }
#if defined(QSTOR_HAVE_RECONCILER)
  auto r = reconciler::LoadManifestFiles({arg});
  for (const auto& d : r.diagnostics) std::cerr << d.ToString() << "\n";
  if (!r.ok()) {
    return Fail(Status::InvalidArgument(arg + " is a file but not a valid manifest"), "umount");
  }
  int rc = kExitOk, done = 0;
  for (const auto& m : r.manifests) {
    if (!name.empty() && m.name != name) continue;
    done++;
    if (!m.mount.enabled) {
      std::cerr << "qstor umount: \"" << m.name << "\" (" << m.file
                << ") has no spec.mount; nothing to unmount\n";
      rc = kExitError;
      continue;
    }
    int one = RunUmount(ctx, m.mount.path, timeout_text, no_sync);
    if (one != kExitOk) rc = one;
  }
  if (done == 0) {
    return Fail(Status::NotFound(name.empty() ? "no Storage document in " + arg
                                              : "no Storage document named \"" + name + "\""),
                "umount");
  }
  return rc;
#else
  return Fail(Status::NotImplemented("a manifest needs the reconciler, not built"), "umount");
#endif
}

}  // namespace

void RegisterMount(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<MountCli>();
  CLI::App* m = app.add_subcommand(
      "mount",
      "Mount the storage as a FUSE filesystem.\n"
      "With a MANIFEST: the deployment `qstor apply` recorded in its state\n"
      "(state/NETWORK/NAME.json under $QSTOR_HOME or ~/.local/state/qstor), keys and namespace passwords from the keystore\n"
      "(passphrase from --passphrase-fd/-file/-command, QSTOR_PASSPHRASE_FILE/_COMMAND,\n"
      "QSTOR_PASSPHRASE or a prompt), mounted at\n"
      "spec.mount.path with spec.mount's cache, durability and compression.\n"
      "Without --foreground it returns once the mount is live (served by a background\n"
      "process logging to CACHE_DIR/mount.log).\n"
      "Development: --local-backend DIR (segments as files) or explicit 0-db backends through\n"
      "the storage engine (--zdb HOST:PORT/NS ... with --key-file; password from env\n"
      "QSTOR_ZDB_PASSWORD).");
  m->add_option("manifest", c->manifest,
                "Manifest of the deployment; its spec.mount gives path, cache, durability");
  m->add_option("--name", c->name, "Which Storage document of the manifest (default: the first)");
  m->add_option("--passphrase-fd", c->passphrase_fd,
                "Read the keystore passphrase from this file descriptor (one line; it is closed)");
  m->add_option("--local-backend", c->local_backend,
                "Development backend: store segments and metadata snapshots in this directory");
  m->add_option("--zdb", c->zdb,
                "Development: a 0-db backend HOST:PORT/NAMESPACE (repeat; also used for metadata)");
  m->add_option("--k", c->k, "With --zdb: data shards per segment")->capture_default_str();
  m->add_option("--m", c->m, "With --zdb: parity shards per segment")->capture_default_str();
  m->add_option("--key-file", c->key_file,
                "With --zdb: file with two lines of 64 hex digits: data key, metadata key");
  m->add_option("--mountpoint", c->mountpoint, "Where to mount (created if missing)");
  m->add_option("--cache-dir", c->cache_dir,
                "Write-back cache and metadata directory (with a MANIFEST: spec.mount.cacheDir, "
                "else mount-cache/NETWORK/NAME under $QSTOR_HOME or $XDG_STATE_HOME/qstor)")
      ->default_str(DefaultCacheDir());
  CLI::Option* o_cache = m->add_option("--cache-size", c->cache_size,
                                        "Cache size limit (with a MANIFEST: spec.mount.cacheSize)")
                             ->capture_default_str();
  CLI::Option* o_cap = m->add_option("--capacity", c->capacity,
                                     "Size reported by statfs/df (with a MANIFEST: spec.capacity)")
                           ->capture_default_str();
  CLI::Option* o_dur = m->add_option("--durability", c->durability,
                                     "local or grid (see docs/mount.md; with a MANIFEST: "
                                     "spec.mount.durability)")
                           ->check(CLI::IsMember({"local", "grid"}))
                           ->capture_default_str();
  CLI::Option* o_up = m->add_option("--upload-within", c->upload_within,
                                    "Upload bound for durability local (with a MANIFEST: "
                                    "spec.mount.uploadWithin)")
                          ->capture_default_str();
  m->add_option("--commit-window", c->commit_window,
                "durability local: metadata operations not followed by fsync are committed "
                "together, at most this long after the first (0s: each at once)")
      ->capture_default_str();
  m->add_option("--read-timeout", c->read_timeout, "Reads needing the backend fail EIO after this")
      ->capture_default_str();
  m->add_option("--grid-timeout", c->grid_timeout,
                "durability grid: fsync/close fail EIO after this")
      ->capture_default_str();
  m->add_option("--block-size", c->block_size, "File block size (new filesystems only)")
      ->capture_default_str();
  m->add_option("--segment-size", c->segment_size, "Target size of uploaded segments")
      ->capture_default_str();
  m->add_option("--threads", c->threads, "FUSE worker threads")->capture_default_str();
  m->add_flag("--read-only", c->read_only,
              "Mount read-only: allowed next to a writer, takes no lease, never writes to the "
              "grid (see docs/mount.md \"One writer\")");
  m->add_flag("--take-over", c->take_over,
              "Mount even if this cache is older than the grid (its state becomes the storage's: "
              "what another cache stored since is dropped) or another mount holds the writer "
              "lease (it stops writing to the grid)");
  m->add_option("--lease", c->lease, "Writer lease duration on the metadata backends")
      ->capture_default_str();
  m->add_option("--lease-renew", c->lease_renew, "How often the writer renews its lease")
      ->capture_default_str();
  m->add_flag("--foreground,-f", c->foreground, "Stay in the foreground (systemd, tests)");
  m->callback([&ctx, c, o_cache, o_cap, o_dur, o_up]() {
    c->manifest_decides.clear();
    const std::pair<CLI::Option*, const char*> decided[] = {
        {o_cache, "--cache-size (spec.mount.cacheSize)"},
        {o_cap, "--capacity (spec.capacity)"},
        {o_dur, "--durability (spec.mount.durability)"},
        {o_up, "--upload-within (spec.mount.uploadWithin)"}};
    for (const auto& [opt, what] : decided) {
      if (opt->count() > 0) c->manifest_decides.push_back(what);
    }
    ctx.exit_code = RunMountCmd(ctx, *c);
  });

  auto upath = std::make_shared<std::string>();
  auto utimeout = std::make_shared<std::string>("60s");
  auto unosync = std::make_shared<bool>(false);
  CLI::App* u = app.add_subcommand("umount", "Flush to the backends (bounded), then unmount");
  auto uname = std::make_shared<std::string>();
  u->add_option("path", *upath, "Mount point, or a manifest (its spec.mount.path)")->required();
  u->add_option("--name", *uname, "With a manifest: only the Storage document with this name");
  u->add_option("--timeout", *utimeout, "How long to wait for the final upload")
      ->capture_default_str();
  u->add_flag("--no-sync", *unosync, "Unmount without waiting for uploads");
  u->callback([&ctx, upath, utimeout, unosync, uname]() {
    ctx.exit_code = RunUmountArg(ctx, *upath, *uname, *utimeout, *unosync);
  });

  auto spath = std::make_shared<std::string>();
  auto stimeout = std::make_shared<std::string>("5m");
  CLI::App* s = app.add_subcommand(
      "sync", "Flush everything of a mount to its backends (data and metadata) and report");
  s->add_option("path", *spath, "Mount point")->required();
  s->add_option("--timeout", *stimeout, "Give up after this long (exit 1)")->capture_default_str();
  s->callback([&ctx, spath, stimeout]() {
    auto t = ParseDuration(*stimeout);
    if (!t.ok()) {
      ctx.exit_code = Fail(t.status().WithContext("--timeout"), "sync");
      return;
    }
    auto start = std::chrono::steady_clock::now();
    Status st = CheckQstorMountRoot(*spath);
    if (st.ok()) st = SyncMount(*spath, *t);
    if (!st.ok()) {
      ctx.exit_code = Fail(st, "sync");
      return;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!ctx.global.json) std::cout << fmt::format("synced {} in {:.2f} s\n", *spath, secs);
    auto stats = ReadMountStats(*spath);
    if (stats.ok()) PrintStats(ctx, *stats);
  });

  CLI::App* fsg = app.add_subcommand("fs", "Filesystem tools: stats, check, repair, gc");
  fsg->require_subcommand(1);
  auto fpath = std::make_shared<std::string>();
  CLI::App* fst = fsg->add_subcommand(
      "stats", "Cache, pending uploads (bytes, age), segments, throughput of a mount");
  fst->add_option("path", *fpath, "Mount point")->required();
  fst->callback([&ctx, fpath]() {
    auto stats = ReadMountStats(*fpath);
    if (!stats.ok()) {
      ctx.exit_code = Fail(stats.status(), "fs stats");
      return;
    }
    PrintStats(ctx, *stats);
  });
#if defined(QSTOR_CLI_GRID_MOUNT)
  RegisterFsCheckRepair(*fsg, ctx);
  RegisterRecover(app, ctx);
#else
  AddNotBuilt(*fsg, ctx, "check", "Verify every shard of every segment",
              "needs the reconciler, grid and storage engine in this binary");
  AddNotBuilt(*fsg, ctx, "repair", "Rebuild missing or corrupt shards",
              "needs the reconciler, grid and storage engine in this binary");
  AddNotBuilt(*fsg, ctx, "gc", "Delete shards and tombstones no live segment references",
              "needs the reconciler, grid and storage engine in this binary");
  AddNotBuilt(app, ctx, "recover", "Find everything again from the mnemonic alone and mount it",
              "needs the reconciler, grid and storage engine in this binary");
#endif
}

#else  // !QSTOR_HAVE_FS_MOUNT

void RegisterMount(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "mount", "Mount the storage as a FUSE filesystem", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "umount", "Unmount the storage (flushes first)", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "sync", "Flush a mount to the grid", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "fs", "Filesystem tools: stats, check, repair, gc", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "recover", "Find everything again from the mnemonic alone and mount it",
              "issue 7, fs mount");
}

#endif

}  // namespace qstor::cli
