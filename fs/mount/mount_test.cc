// Tests of the qstor FUSE mount on a real FUSE mount: `qstor mount
// --local-backend ... --foreground` runs as a child process (QSTOR_BIN), so
// kill -9 is real, and every check uses real syscalls on the mount point.
// Teardown always detaches the mount (fusermount3 -u -z).
//
// A deadlocked mount blocks the test inside a syscall on the mount point,
// where nothing in the test can time out. A watchdog per test (HangWatchdog,
// budget QSTOR_MOUNT_TEST_TIMEOUT seconds) turns that into a failure: it
// prints what the test thread and every mount child are doing (kernel
// stacks; gdb backtraces of the children when gdb is installed), aborts their
// FUSE connections and kills them, so the blocked syscall fails (ENOTCONN)
// and gtest reports the line it was on.
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace sfs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr long kFuseSuperMagic = 0x65735546;

std::string QstorBin() {
  const char* b = std::getenv("QSTOR_BIN");
  return b ? b : "";
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (; i < n; i++) s[i] = static_cast<char>(rng());
  return s;
}

bool WriteFile(const std::string& path, const std::string& data, bool fsync_it, uint64_t seed) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  std::mt19937_64 rng(seed);
  size_t off = 0;
  while (off < data.size()) {
    size_t chunk = std::min<size_t>(data.size() - off, 1 + rng() % (1 << 20));
    ssize_t n = ::pwrite(fd, data.data() + off, chunk, static_cast<off_t>(off));
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  bool ok = true;
  if (fsync_it) ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

// Returns the content, or "<errno N>" on failure.
std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<errno " + std::to_string(errno) + ">";
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return "<errno " + std::to_string(e) + ">";
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

int RunCmd(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::string s;
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) s.append(buf, n);
  int rc = ::pclose(p);
  if (out) *out = s;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// ---------------------------------------------------------------------------
// Hang diagnostics and the watchdog
// ---------------------------------------------------------------------------

// stdout is a pipe under ctest: line-buffer it, so that everything gtest
// printed before a hang (or before ctest kills the binary) is in the log.
[[maybe_unused]] const bool kStdoutLineBuffered = [] {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return true;
}();

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return "<" + std::string(std::strerror(errno)) + ">";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// "renameat2" for the syscalls a test makes on a mount, else the number.
std::string SyscallName(long nr) {
  static const std::map<long, const char*> names = {
      {SYS_read, "read"}, {SYS_write, "write"}, {SYS_pread64, "pread64"},
      {SYS_pwrite64, "pwrite64"}, {SYS_openat, "openat"}, {SYS_close, "close"},
      {SYS_fsync, "fsync"}, {SYS_renameat2, "renameat2"}, {SYS_mkdirat, "mkdirat"},
      {SYS_unlinkat, "unlinkat"}, {SYS_linkat, "linkat"}, {SYS_symlinkat, "symlinkat"},
      {SYS_readlinkat, "readlinkat"}, {SYS_newfstatat, "newfstatat"}, {SYS_statx, "statx"},
      {SYS_fstat, "fstat"}, {SYS_statfs, "statfs"}, {SYS_getdents64, "getdents64"},
      {SYS_setxattr, "setxattr"}, {SYS_getxattr, "getxattr"}, {SYS_listxattr, "listxattr"},
      {SYS_removexattr, "removexattr"}, {SYS_mknodat, "mknodat"}, {SYS_faccessat, "faccessat"},
      {SYS_wait4, "wait4"}, {SYS_waitid, "waitid"}, {SYS_clock_nanosleep, "clock_nanosleep"},
      {SYS_futex, "futex"},
#ifdef SYS_rename
      {SYS_rename, "rename"}, {SYS_mkdir, "mkdir"}, {SYS_rmdir, "rmdir"}, {SYS_unlink, "unlink"},
      {SYS_link, "link"}, {SYS_symlink, "symlink"}, {SYS_stat, "stat"}, {SYS_lstat, "lstat"},
      {SYS_access, "access"}, {SYS_open, "open"}, {SYS_mknod, "mknod"},
#endif
  };
  auto it = names.find(nr);
  return it != names.end() ? it->second : "syscall " + std::to_string(nr);
}

// One line per thread of `pid` (or only thread `only_tid`): name, state, the
// syscall it is blocked in, and its kernel stack (root only) as
// "inner < outer" frames, e.g. "request_wait_answer < fuse_rename2 < ...".
std::string DescribeThreads(pid_t pid, pid_t only_tid = 0) {
  std::string out;
  std::error_code ec;
  std::string base = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : sfs::directory_iterator(base, ec)) {
    std::string tid = e.path().filename().string();
    if (only_tid != 0 && tid != std::to_string(only_tid)) continue;
    std::string dir = e.path().string();
    std::string stat = ReadSmallFile(dir + "/stat");
    std::string state = "?";
    size_t rp = stat.rfind(')');
    if (rp != std::string::npos && rp + 2 < stat.size()) state = stat.substr(rp + 2, 1);
    std::string sc = Trim(ReadSmallFile(dir + "/syscall"));
    std::string scname = sc;
    if (!sc.empty() && std::isdigit(static_cast<unsigned char>(sc[0]))) {
      scname = SyscallName(std::strtol(sc.c_str(), nullptr, 10));
    }
    std::string frames;
    std::istringstream ks(ReadSmallFile(dir + "/stack"));
    for (std::string line; std::getline(ks, line);) {
      size_t sp = line.find(' ');
      std::string fn = sp == std::string::npos ? line : line.substr(sp + 1);
      size_t plus = fn.find('+');
      if (plus != std::string::npos) fn.resize(plus);
      if (fn.empty()) continue;
      if (!frames.empty()) frames += " < ";
      frames += fn;
    }
    out += "  tid " + tid + " (" + Trim(ReadSmallFile(dir + "/comm")) + ") state " + state +
           ", in " + scname + ", wchan " + Trim(ReadSmallFile(dir + "/wchan")) +
           (frames.empty() ? "" : ", kernel stack: " + frames) + "\n";
  }
  return out;
}

// gdb's "thread apply all bt" of `pid`, bounded; "" without gdb. The
// executable is given as /proc/PID/exe: gdb cannot find it by itself when
// the binary was relinked while the process ran (a shared build directory).
std::string GdbBacktraces(pid_t pid) {
  if (RunCmd("command -v gdb >/dev/null 2>&1") != 0) return "";
  char tmpl[] = "/tmp/qstor-mount-test-gdb-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return "";
  ::close(fd);
  std::string p = std::to_string(pid);
  RunCmd("timeout -k 5 60 gdb -nx -batch /proc/" + p + "/exe -p " + p +
         " -ex 'set pagination off' -ex 'thread apply all bt' </dev/null >" + tmpl + " 2>&1");
  std::string out = ReadSmallFile(tmpl);
  ::unlink(tmpl);
  return out;
}

// Aborts the FUSE connection mounted at `mnt` through fusectl: every request
// waiting on it fails with ENOTCONN, even when the server cannot be killed.
// Finds the device in /proc/self/mountinfo, so it never touches the mount.
std::string AbortFuseConnection(const std::string& mnt) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string dev;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream ls(line);
    std::string id, parent, majmin, root, point;
    ls >> id >> parent >> majmin >> root >> point;
    size_t dash = line.find(" - ");
    if (point == mnt && dash != std::string::npos && line.compare(dash + 3, 4, "fuse") == 0) {
      dev = majmin;  // the last (topmost) mount wins
    }
  }
  if (dev.empty()) return "no FUSE mount at " + mnt;
  unsigned maj = 0, min = 0;
  if (std::sscanf(dev.c_str(), "%u:%u", &maj, &min) != 2) return "bad device " + dev;
  std::string ctl = "/sys/fs/fuse/connections/" + std::to_string((maj << 20) | min) + "/abort";
  std::FILE* f = std::fopen(ctl.c_str(), "w");
  if (f == nullptr) {
    int e = errno;
    return "cannot abort connection " + dev + " (" + ctl + ": " + std::strerror(e) +
           (e == ENOENT ? "; fusectl not mounted?" : "") + ")";
  }
  bool ok = std::fputs("1", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok ? "aborted FUSE connection " + dev : "writing " + ctl + " failed";
}

// Live `qstor mount` children, so that the watchdog can find and kill them
// (by pidfd: never a recycled pid). Also the last harness step.
struct LiveChild {
  int pidfd = -1;
  pid_t pid = -1;
  std::string mnt;
};
std::mutex g_live_mu;
std::map<const void*, LiveChild> g_live;
std::string g_step = "test body";

void SetStep(std::string step) {
  std::lock_guard l(g_live_mu);
  g_step = std::move(step);
}

// One per test: fires once the test has run longer than its budget.
class HangWatchdog {
 public:
  HangWatchdog(std::string test, std::chrono::seconds budget)
      : test_(std::move(test)), budget_(budget), test_tid_(static_cast<pid_t>(::gettid())) {
    thread_ = std::thread([this] { Run(); });
  }
  ~HangWatchdog() { Stop(); }
  // Stops it (waiting for a firing in progress) and returns what it found
  // and did; "" if it did not fire.
  std::string Stop() {
    {
      std::lock_guard l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return report_;
  }

  // QSTOR_MOUNT_TEST_TIMEOUT seconds; by default 240 (the slowest test takes
  // about 15 s on a loaded 2-core machine; ctest's own timeout is 600), or
  // 1800 with QSTOR_MOUNT_FULL=1 (the 1 GiB and 100k-entry cases).
  static std::chrono::seconds Budget() {
    const char* v = std::getenv("QSTOR_MOUNT_TEST_TIMEOUT");
    long s = v ? std::strtol(v, nullptr, 10) : 0;
    if (s > 0) return std::chrono::seconds(s);
    const char* full = std::getenv("QSTOR_MOUNT_FULL");
    return std::chrono::seconds(full != nullptr && std::string(full) == "1" ? 1800 : 240);
  }

 private:
  void Run() {
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, budget_, [&] { return done_; })) return;
    l.unlock();
    std::string report = Fire();
    l.lock();
    report_ = report;
    // The mounts are gone, so the test should now fail fast; if it does
    // not, it is stuck somewhere else: end the binary rather than wait for
    // ctest's timeout.
    if (cv_.wait_for(l, std::chrono::seconds(60), [&] { return done_; })) return;
    std::fprintf(stderr,
                 "[  FAILED  ] %s: still running 60 s after the watchdog killed its mounts; "
                 "exiting.\n%s",
                 test_.c_str(), DescribeThreads(::getpid()).c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(1);
  }

  std::string Fire() {
    std::string step;
    std::vector<LiveChild> kids;
    {
      std::lock_guard l(g_live_mu);
      step = g_step;
      for (const auto& entry : g_live) {
        const LiveChild& c = entry.second;
        LiveChild k = c;
        k.pidfd = c.pidfd >= 0 ? ::fcntl(c.pidfd, F_DUPFD_CLOEXEC, 0) : -1;
        kids.push_back(k);
      }
    }
    std::ostringstream sum;
    sum << "watchdog: " << test_ << " did not finish within " << budget_.count()
        << " s (QSTOR_MOUNT_TEST_TIMEOUT); harness step: " << step << "; test thread:\n"
        << DescribeThreads(::getpid(), test_tid_);
    std::fprintf(stderr, "\n==== %s", sum.str().c_str());
    std::ostringstream actions;
    for (const LiveChild& k : kids) {
      std::fprintf(stderr, "==== qstor mount pid %d on %s, threads:\n%s", k.pid, k.mnt.c_str(),
                   DescribeThreads(k.pid).c_str());
      std::string bt = GdbBacktraces(k.pid);
      if (!bt.empty()) {
        std::fprintf(stderr, "==== gdb backtraces of pid %d:\n%s", k.pid, bt.c_str());
      }
      std::string aborted = AbortFuseConnection(k.mnt);
      bool killed =
          k.pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, k.pidfd, SIGKILL, nullptr, 0) == 0;
      if (k.pidfd >= 0) ::close(k.pidfd);
      RunCmd("fusermount3 -u -z '" + k.mnt + "' >/dev/null 2>&1");
      actions << "  mount pid " << k.pid << " on " << k.mnt << ": " << aborted << ", "
              << (killed ? "killed" : "not killed (already gone?)") << ", detached\n";
    }
    if (kids.empty()) actions << "  no mount process was running\n";
    std::fprintf(stderr, "==== watchdog actions:\n%s", actions.str().c_str());
    std::fflush(stderr);
    return sum.str() + actions.str() + "  (stacks of the mount processes are in the log above)";
  }

  const std::string test_;
  const std::chrono::seconds budget_;
  const pid_t test_tid_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string report_;
  std::thread thread_;
};

// One `qstor mount --foreground` child process over a scratch directory.
class MountProc {
 public:
  MountProc(std::string root, std::vector<std::string> extra)
      : root_(std::move(root)), extra_(std::move(extra)) {
    mnt = root_ + "/mnt";
    cache = root_ + "/cache";
    backend = root_ + "/backend";
  }
  ~MountProc() { Kill9(); }

  bool Start() {
    SetStep("starting the mount on " + mnt);
    sfs::create_directories(mnt);
    std::vector<std::string> args = {QstorBin(), "--log-level", "warn", "mount", "--cache-dir",
                                     cache, "--mountpoint", mnt, "--foreground"};
    if (!backend.empty()) {
      args.push_back("--local-backend");
      args.push_back(backend);
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    {
      std::lock_guard l(g_live_mu);
      g_live[this] = {static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)), pid_, mnt};
    }
    auto deadline = Clock::now() + std::chrono::seconds(20);
    bool up = false;
    while (Clock::now() < deadline) {
      struct statfs sf {};
      if (::statfs(mnt.c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic) {
        up = true;
        break;
      }
      if (Exited(std::chrono::milliseconds(0), nullptr)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    SetStep(up ? "test body (mount on " + mnt + " up)" : "test body (mount on " + mnt + " failed)");
    return up;
  }

  // Clean unmount: the process flushes and exits by itself.
  bool Unmount() {
    if (pid_ <= 0) return true;
    SetStep("unmounting " + mnt);
    RunCmd("fusermount3 -u '" + mnt + "' 2>&1");
    int status = 0;
    if (Exited(std::chrono::seconds(60), &status)) {
      SetStep("test body (" + mnt + " unmounted)");
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::fprintf(stderr, "mount on %s did not exit within 60 s of fusermount3 -u; kill -9\n",
                 mnt.c_str());
    Kill9();
    return false;
  }

  // Bounded: a process that SIGKILL cannot end (stuck in the kernel on a
  // FUSE request) gets its connection aborted; if even that does not help it
  // is left behind with a message instead of hanging the test.
  void Kill9() {
    if (pid_ > 0) {
      SetStep("kill -9 of the mount on " + mnt);
      ::kill(pid_, SIGKILL);
      if (!Exited(std::chrono::seconds(20), nullptr)) {
        std::string aborted = AbortFuseConnection(mnt);
        if (!Exited(std::chrono::seconds(20), nullptr)) {
          std::fprintf(stderr, "mount pid %d on %s survives kill -9 (%s):\n%s", pid_, mnt.c_str(),
                       aborted.c_str(), DescribeThreads(pid_).c_str());
          Forget();
        }
      }
    }
    RunCmd("fusermount3 -u -z '" + mnt + "' >/dev/null 2>&1");
  }

  nlohmann::json Stats() {
    std::string buf(65536, '\0');
    ssize_t n = ::getxattr(mnt.c_str(), "trusted.qstor.stats", buf.data(), buf.size());
    if (n < 0) return nlohmann::json();
    buf.resize(static_cast<size_t>(n));
    return nlohmann::json::parse(buf, nullptr, false);
  }

  // Asks the mount to upload everything; true when it finished in time.
  bool Sync(int seconds) {
    std::string v = std::to_string(seconds);
    return ::setxattr(mnt.c_str(), "trusted.qstor.sync", v.data(), v.size(), 0) == 0;
  }

  std::string P(const std::string& rel) const { return mnt + "/" + rel; }

  std::string mnt, cache, backend;

 private:
  // Reaps the child if it exits within `wait`; then it is forgotten.
  bool Exited(Clock::duration wait, int* status) {
    auto deadline = Clock::now() + wait;
    for (;;) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        if (status) *status = st;
        Forget();
        return true;
      }
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void Forget() {
    pid_ = -1;
    std::lock_guard l(g_live_mu);
    auto it = g_live.find(this);
    if (it == g_live.end()) return;
    if (it->second.pidfd >= 0) ::close(it->second.pidfd);
    g_live.erase(it);
  }

  std::string root_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(QstorBin().empty()) << "QSTOR_BIN must point at the qstor binary";
    ASSERT_EQ(::access("/dev/fuse", R_OK | W_OK), 0) << "/dev/fuse is not usable here";
    char tmpl[] = "/tmp/qstor-mount-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    SetStep("test body");
    watchdog_ = std::make_unique<HangWatchdog>(
        std::string(info->test_suite_name()) + "." + info->name(), HangWatchdog::Budget());
  }
  void TearDown() override {
    SetStep("teardown");
    mounts_.clear();  // kill + detach
    if (watchdog_) {
      std::string report = watchdog_->Stop();
      if (!report.empty()) ADD_FAILURE() << report;
      watchdog_.reset();
    }
    std::error_code ec;
    sfs::remove_all(root_, ec);
  }
  MountProc& NewMount(std::vector<std::string> extra = {}, const std::string& sub = "") {
    std::string r = sub.empty() ? root_ : root_ + "/" + sub;
    sfs::create_directories(r);
    mounts_.push_back(std::make_unique<MountProc>(r, std::move(extra)));
    return *mounts_.back();
  }
  // Mounts m's backend with a fresh cache directory (metadata from the
  // backend's snapshot, data from the segments) and checks that every file
  // of `files` reads back byte for byte.
  void ExpectFreshCacheRestores(const MountProc& m,
                                const std::map<std::string, std::string>& files) {
    MountProc fresh(root_ + "/fresh", {});
    sfs::create_directories(root_ + "/fresh");
    fresh.backend = m.backend;
    fresh.cache = root_ + "/fresh/cache";
    fresh.mnt = root_ + "/fresh/mnt";
    ASSERT_TRUE(fresh.Start());
    for (auto& [name, data] : files) {
      std::string got = ReadFile(fresh.P(name));
      ASSERT_EQ(got.size(), data.size()) << name << " not in the backend";
      ASSERT_TRUE(got == data) << name << " differs after restore from the backend";
    }
    ASSERT_TRUE(fresh.Unmount());
  }
  std::string root_;
  std::vector<std::unique_ptr<MountProc>> mounts_;
  std::unique_ptr<HangWatchdog> watchdog_;
};

TEST_F(MountTest, RandomSizesRoundTripThroughCacheRemountAndBackend) {
  // A tiny cache forces eviction, so the last reads come from the backend.
  auto& m = NewMount({"--cache-size", "2MiB", "--block-size", "64KiB", "--segment-size", "1MiB"});
  ASSERT_TRUE(m.Start());
  std::mt19937_64 rng(7);
  std::vector<size_t> sizes = {0, 1, 4095, 4096, 4097, 65535, 65536, 65537, 1000000, 3 << 20};
  for (int i = 0; i < 8; i++) sizes.push_back(rng() % (3 << 20));
  std::map<std::string, std::string> files;
  for (size_t i = 0; i < sizes.size(); i++) {
    std::string name = "f" + std::to_string(i);
    files[name] = RandomBytes(sizes[i], 100 + i);
    ASSERT_TRUE(WriteFile(m.P(name), files[name], i % 2 == 0, i)) << name;
  }
  for (auto& [name, data] : files) {
    std::string got = ReadFile(m.P(name));
    ASSERT_EQ(got.size(), data.size()) << name;
    ASSERT_TRUE(got == data) << name << " differs right after writing";
  }
  ASSERT_TRUE(m.Sync(60)) << m.Stats().dump();
  auto st = m.Stats();
  EXPECT_EQ(st["pending_upload"]["blocks"].get<int64_t>(), 0);
  EXPECT_GT(st["segments"]["count"].get<int64_t>(), 0);
  // Small files share segments: far fewer segments than files with data.
  EXPECT_LT(st["segments"]["count"].get<int64_t>(), 200);
  ASSERT_TRUE(m.Unmount());

  ASSERT_TRUE(m.Start());
  // Drop the kernel's page cache of the mount so reads reach the filesystem.
  RunCmd("sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null");
  for (auto& [name, data] : files) {
    std::string got = ReadFile(m.P(name));
    ASSERT_EQ(got.size(), data.size()) << name;
    ASSERT_TRUE(got == data) << name << " differs after remount";
  }
  st = m.Stats();
  EXPECT_GT(st["fetched"]["bytes"].get<uint64_t>(), 0u) << "expected reads from the backend: "
                                                         << st.dump();
  EXPECT_LE(st["cache"]["bytes"].get<uint64_t>(), 16u << 20) << st.dump();
  ASSERT_TRUE(m.Unmount());

  ExpectFreshCacheRestores(m, files);
}

TEST_F(MountTest, CreateExclTruncAppend) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  std::string p = m.P("a");
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "hello", 5), 5);
  ASSERT_EQ(::close(fd), 0);
  errno = 0;
  EXPECT_LT(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640), 0);
  EXPECT_EQ(errno, EEXIST);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 5);

  fd = ::open(p.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, " world", 6), 6);
  ASSERT_EQ(::pwrite(fd, "!", 1, 0), 1);  // O_APPEND: pwrite appends on Linux
  ::close(fd);
  EXPECT_EQ(ReadFile(p), "hello world!");

  fd = ::open(p.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ASSERT_EQ(::write(fd, "xy", 2), 2);
  ::close(fd);
  EXPECT_EQ(ReadFile(p), "xy");
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, SetattrChmodChownUtimensTruncate) {
  auto& m = NewMount({"--block-size", "16KiB"});
  ASSERT_TRUE(m.Start());
  std::string p = m.P("t");
  std::string data = RandomBytes(100000, 3);
  ASSERT_TRUE(WriteFile(p, data, false, 1));
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  ASSERT_EQ(::chown(p.c_str(), 1234, 5678), 0);
  struct timespec ts[2] = {{1000000000, 123}, {1200000000, 456}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, 0), 0);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 456);

  // Shrink into the middle of a block, then extend: the tail reads as zeros.
  ASSERT_EQ(::truncate(p.c_str(), 20000), 0);
  ASSERT_EQ(::truncate(p.c_str(), 70000), 0);
  std::string want = data.substr(0, 20000) + std::string(50000, '\0');
  EXPECT_TRUE(ReadFile(p) == want);
  int fd = ::open(p.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 5), 0);
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 5);
  ::close(fd);
  EXPECT_EQ(ReadFile(p), data.substr(0, 5));
  // The same after the blocks went through the backend and a remount.
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  EXPECT_EQ(ReadFile(p), data.substr(0, 5));
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, SparseFiles) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  std::string p = m.P("sparse");
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  const off_t far = 3LL << 30;  // 3 GiB
  ASSERT_EQ(::pwrite(fd, "end", 3, far), 3);
  ASSERT_EQ(::pwrite(fd, "mid", 3, 1 << 20), 3);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, far + 3);
  EXPECT_LT(st.st_blocks * 512, 4 << 20) << "holes must not take space";
  char buf[16];
  ASSERT_EQ(::pread(fd, buf, 8, 1 << 30), 8);
  EXPECT_EQ(std::string(buf, 8), std::string(8, '\0'));
  ASSERT_EQ(::pread(fd, buf, 3, far), 3);
  EXPECT_EQ(std::string(buf, 3), "end");
  ASSERT_EQ(::pread(fd, buf, 3, 1 << 20), 3);
  EXPECT_EQ(std::string(buf, 3), "mid");
  ::close(fd);
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, DirectoriesLinksSymlinksAndUnlinkWhileOpen) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(::mkdir(m.P("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(m.P("d/e").c_str(), 0700), 0);
  struct stat st {};
  ASSERT_EQ(::stat(m.P("d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_nlink, 3u);
  errno = 0;
  EXPECT_NE(::mkdir(m.P("d").c_str(), 0755), 0);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_TRUE(WriteFile(m.P("d/e/f"), "data", false, 0));
  errno = 0;
  EXPECT_NE(::rmdir(m.P("d/e").c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);

  // Hard link: same inode, nlink 2, survives unlink of the first name.
  ASSERT_EQ(::link(m.P("d/e/f").c_str(), m.P("g").c_str()), 0);
  struct stat a {}, b {};
  ASSERT_EQ(::stat(m.P("d/e/f").c_str(), &a), 0);
  ASSERT_EQ(::stat(m.P("g").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(b.st_nlink, 2u);
  ASSERT_EQ(::unlink(m.P("d/e/f").c_str()), 0);
  ASSERT_EQ(::stat(m.P("g").c_str(), &b), 0);
  EXPECT_EQ(b.st_nlink, 1u);
  EXPECT_EQ(ReadFile(m.P("g")), "data");
  ASSERT_EQ(::rmdir(m.P("d/e").c_str()), 0);
  ASSERT_EQ(::stat(m.P("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);

  // Symlinks.
  ASSERT_EQ(::symlink("g", m.P("s").c_str()), 0);
  char buf[256];
  ssize_t n = ::readlink(m.P("s").c_str(), buf, sizeof buf);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(std::string(buf, 1), "g");
  ASSERT_EQ(::lstat(m.P("s").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadFile(m.P("s")), "data");

  // Unlink of an open file: data stays readable and writable until close.
  std::string big = RandomBytes(3 << 20, 9);
  ASSERT_TRUE(WriteFile(m.P("open"), big, false, 2));
  int fd = ::open(m.P("open").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::unlink(m.P("open").c_str()), 0);
  EXPECT_NE(::access(m.P("open").c_str(), F_OK), 0);
  std::string got(big.size(), '\0');
  ASSERT_EQ(::pread(fd, got.data(), got.size(), 0), static_cast<ssize_t>(got.size()));
  EXPECT_TRUE(got == big);
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  ASSERT_EQ(::pwrite(fd, "zz", 2, 0), 2);
  ASSERT_EQ(::pread(fd, buf, 2, 0), 2);
  EXPECT_EQ(std::string(buf, 2), "zz");
  uint64_t used_before = m.Stats()["used_bytes"].get<uint64_t>();
  EXPECT_GE(used_before, big.size());
  ::close(fd);
  // After the last close (and the kernel's forget) the space is released.
  for (int i = 0; i < 100 && m.Stats()["used_bytes"].get<uint64_t>() >= used_before; i++) {
    RunCmd("echo 2 > /proc/sys/vm/drop_caches 2>/dev/null");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(m.Stats()["used_bytes"].get<uint64_t>(), used_before);

  // Names: 255 bytes are fine, 256 are not.
  std::string n255(255, 'x'), n256(256, 'y');
  ASSERT_TRUE(WriteFile(m.P(n255), "long", false, 0));
  EXPECT_EQ(ReadFile(m.P(n255)), "long");
  errno = 0;
  EXPECT_LT(::open(m.P(n256).c_str(), O_WRONLY | O_CREAT, 0644), 0);
  EXPECT_EQ(errno, ENAMETOOLONG);

  // mknod of a FIFO.
  ASSERT_EQ(::mkfifo(m.P("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::stat(m.P("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));

  // Everything is still there after a remount.
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  EXPECT_EQ(ReadFile(m.P("s")), "data");
  EXPECT_EQ(ReadFile(m.P(n255)), "long");
  ASSERT_EQ(::stat(m.P("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_NE(::access(m.P("open").c_str(), F_OK), 0);
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, RenameReplaceNoreplaceExchange) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  ASSERT_TRUE(WriteFile(m.P("a"), "A", false, 0));
  ASSERT_TRUE(WriteFile(m.P("b"), "B", false, 0));
  ASSERT_EQ(::mkdir(m.P("d1").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(m.P("d2").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(m.P("d2/x"), "X", false, 0));

  errno = 0;
  EXPECT_NE(::renameat2(AT_FDCWD, m.P("a").c_str(), AT_FDCWD, m.P("b").c_str(), RENAME_NOREPLACE),
            0);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(::renameat2(AT_FDCWD, m.P("a").c_str(), AT_FDCWD, m.P("b").c_str(), RENAME_EXCHANGE),
            0);
  EXPECT_EQ(ReadFile(m.P("a")), "B");
  EXPECT_EQ(ReadFile(m.P("b")), "A");
  errno = 0;
  EXPECT_NE(::renameat2(AT_FDCWD, m.P("a").c_str(), AT_FDCWD, m.P("nope").c_str(),
                        RENAME_EXCHANGE),
            0);
  EXPECT_EQ(errno, ENOENT);
  // Plain rename replaces.
  ASSERT_EQ(::rename(m.P("a").c_str(), m.P("b").c_str()), 0);
  EXPECT_EQ(ReadFile(m.P("b")), "B");
  EXPECT_NE(::access(m.P("a").c_str(), F_OK), 0);
  // Directory over a non-empty directory fails; over an empty one works.
  errno = 0;
  EXPECT_NE(::rename(m.P("d1").c_str(), m.P("d2").c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);
  errno = 0;
  EXPECT_NE(::rename(m.P("b").c_str(), m.P("d1").c_str()), 0);
  EXPECT_EQ(errno, EISDIR);
  ASSERT_EQ(::rename(m.P("d2").c_str(), m.P("d1").c_str()), 0);
  EXPECT_EQ(ReadFile(m.P("d1/x")), "X");
  // Across directories, with nlink bookkeeping.
  ASSERT_EQ(::mkdir(m.P("d3").c_str(), 0755), 0);
  ASSERT_EQ(::rename(m.P("d3").c_str(), m.P("d1/d3").c_str()), 0);
  struct stat st {};
  ASSERT_EQ(::stat(m.P("d1").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);
  ASSERT_EQ(::rename(m.P("b").c_str(), m.P("d1/d3/b").c_str()), 0);
  EXPECT_EQ(ReadFile(m.P("d1/d3/b")), "B");
  // Exchange a file and a directory across parents.
  ASSERT_TRUE(WriteFile(m.P("f"), "F", false, 0));
  ASSERT_EQ(::renameat2(AT_FDCWD, m.P("f").c_str(), AT_FDCWD, m.P("d1/d3").c_str(),
                        RENAME_EXCHANGE),
            0);
  EXPECT_EQ(ReadFile(m.P("d1/d3")), "F");
  EXPECT_EQ(ReadFile(m.P("f/b")), "B");
  ASSERT_EQ(::stat(m.P("d1").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  EXPECT_EQ(ReadFile(m.P("f/b")), "B");
  EXPECT_EQ(ReadFile(m.P("d1/x")), "X");
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, ExtendedAttributesAndStatfs) {
  auto& m = NewMount({"--capacity", "10GiB"});
  ASSERT_TRUE(m.Start());
  std::string p = m.P("x");
  ASSERT_TRUE(WriteFile(p, "x", false, 0));
  ASSERT_EQ(::setxattr(p.c_str(), "user.one", "1", 1, 0), 0);
  std::string big = RandomBytes(4000, 1);
  ASSERT_EQ(::setxattr(p.c_str(), "user.two", big.data(), big.size(), XATTR_CREATE), 0);
  errno = 0;
  EXPECT_NE(::setxattr(p.c_str(), "user.two", "z", 1, XATTR_CREATE), 0);
  EXPECT_EQ(errno, EEXIST);
  errno = 0;
  EXPECT_NE(::setxattr(p.c_str(), "user.three", "z", 1, XATTR_REPLACE), 0);
  EXPECT_EQ(errno, ENODATA);
  char buf[8192];
  ssize_t n = ::getxattr(p.c_str(), "user.two", buf, sizeof buf);
  ASSERT_EQ(n, 4000);
  EXPECT_TRUE(std::string(buf, 4000) == big);
  EXPECT_EQ(::getxattr(p.c_str(), "user.two", nullptr, 0), 4000);
  errno = 0;
  EXPECT_LT(::getxattr(p.c_str(), "user.two", buf, 10), 0);
  EXPECT_EQ(errno, ERANGE);
  n = ::listxattr(p.c_str(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), std::string("user.one\0user.two\0", 18));
  ASSERT_EQ(::removexattr(p.c_str(), "user.one"), 0);
  errno = 0;
  EXPECT_LT(::getxattr(p.c_str(), "user.one", buf, sizeof buf), 0);
  EXPECT_EQ(errno, ENODATA);
  errno = 0;
  EXPECT_NE(::removexattr(p.c_str(), "user.one"), 0);
  EXPECT_EQ(errno, ENODATA);
  // The control attributes are not listed.
  n = ::listxattr(m.mnt.c_str(), buf, sizeof buf);
  EXPECT_EQ(n, 0);

  struct statvfs sv {};
  ASSERT_EQ(::statvfs(m.mnt.c_str(), &sv), 0);
  EXPECT_EQ(sv.f_blocks * sv.f_frsize, 10ull << 30);
  EXPECT_EQ(sv.f_namemax, 255u);
  uint64_t free_before = sv.f_bfree * sv.f_frsize;
  ASSERT_TRUE(WriteFile(m.P("eight"), RandomBytes(8 << 20, 2), false, 0));
  ASSERT_EQ(::statvfs(m.mnt.c_str(), &sv), 0);
  EXPECT_EQ(free_before - sv.f_bfree * sv.f_frsize, 8u << 20);
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  n = ::getxattr(p.c_str(), "user.two", buf, sizeof buf);
  ASSERT_EQ(n, 4000);
  EXPECT_TRUE(std::string(buf, 4000) == big);
  ASSERT_TRUE(m.Unmount());
}

bool FullRun() {
  const char* v = std::getenv("QSTOR_MOUNT_FULL");
  return v != nullptr && std::string(v) == "1";
}

// 100,000 entries with QSTOR_MOUNT_FULL=1 (about 2 minutes on a busy
// 2-core machine: every entry is two FUSE round trips); 10,000 by default.
TEST_F(MountTest, LargeDirectory) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(::mkdir(m.P("big").c_str(), 0755), 0);
  const int kN = FullRun() ? 100000 : 10000;
  for (int i = 0; i < kN; i++) {
    std::string p = m.P("big/entry-" + std::to_string(i));
    ASSERT_EQ(::mknod(p.c_str(), S_IFREG | 0644, 0), 0) << p << ": " << std::strerror(errno);
  }
  std::set<std::string> seen;
  DIR* d = ::opendir(m.P("big").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
  }
  ::closedir(d);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kN));
  struct stat st {};
  EXPECT_EQ(::stat(m.P("big/entry-" + std::to_string(kN - 1)).c_str(), &st), 0);
  EXPECT_EQ(::unlink(m.P("big/entry-5").c_str()), 0);
  EXPECT_NE(::stat(m.P("big/entry-5").c_str(), &st), 0);
  ASSERT_TRUE(m.Unmount());
}

// A 1 GiB file written in 1 MiB pieces, then read back after a remount
// with a cache of a quarter of it, so most reads fill evicted blocks from
// the backend while the kernel's readahead reads the same blocks in
// parallel. (It ran only with QSTOR_MOUNT_FULL=1 until it found concurrent
// readers returning zeros; it takes about 20 s with ASan.)
TEST_F(MountTest, OneGibFileRoundTrip) {
  auto& m = NewMount({"--cache-size", "256MiB"});
  ASSERT_TRUE(m.Start());
  const size_t kChunk = 1 << 20, kCount = 1024;
  int fd = ::open(m.P("huge").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  for (size_t i = 0; i < kCount; i++) {
    std::string c = RandomBytes(kChunk, 9000 + i);
    ASSERT_EQ(::pwrite(fd, c.data(), kChunk, static_cast<off_t>(i * kChunk)),
              static_cast<ssize_t>(kChunk));
  }
  ASSERT_EQ(::fsync(fd), 0);
  ASSERT_EQ(::close(fd), 0);
  ASSERT_TRUE(m.Sync(600));
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  fd = ::open(m.P("huge").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string buf(kChunk, '\0');
  for (size_t i = 0; i < kCount; i++) {
    ASSERT_EQ(::pread(fd, buf.data(), kChunk, static_cast<off_t>(i * kChunk)),
              static_cast<ssize_t>(kChunk));
    ASSERT_TRUE(buf == RandomBytes(kChunk, 9000 + i)) << "chunk " << i;
  }
  ::close(fd);
  EXPECT_GT(m.Stats()["fetched"]["bytes"].get<uint64_t>(), 512u << 20);
  ASSERT_TRUE(m.Unmount());
}

// Many readers of the same evicted blocks at once: every one gets the
// file's bytes (a reader must never see the hole a concurrent fill of the
// same block is about to overwrite).
TEST_F(MountTest, ConcurrentReadersOfEvictedBlocks) {
  auto& m = NewMount({"--cache-size", "2MiB", "--block-size", "64KiB", "--segment-size", "1MiB"});
  ASSERT_TRUE(m.Start());
  const size_t kSize = 24 << 20;
  std::string data = RandomBytes(kSize, 4242);
  ASSERT_TRUE(WriteFile(m.P("shared"), data, true, 0));
  ASSERT_TRUE(m.Sync(120)) << m.Stats().dump();
  for (int round = 0; round < 3; round++) {
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    std::atomic<int> bad{0}, errors{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 6; t++) {
      readers.emplace_back([&, t] {
        int fd = ::open(m.P("shared").c_str(), O_RDONLY);
        if (fd < 0) {
          errors++;
          return;
        }
        // Each reader walks the file in 96 KiB pieces (not block aligned),
        // half of them backwards, so several fill the same block at once.
        const size_t piece = 96 << 10;
        std::string buf(piece, '\0');
        size_t pieces = (kSize + piece - 1) / piece;
        for (size_t k = 0; k < pieces; k++) {
          size_t idx = t % 2 == 0 ? k : pieces - 1 - k;
          size_t off = idx * piece;
          size_t want = std::min(piece, kSize - off);
          ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
          if (got != static_cast<ssize_t>(want)) {
            errors++;
            break;
          }
          if (std::memcmp(buf.data(), data.data() + off, want) != 0) bad++;
        }
        ::close(fd);
      });
    }
    for (auto& r : readers) r.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    EXPECT_EQ(bad.load(), 0) << "round " << round << ": pieces that differ from what was written";
  }
  ASSERT_TRUE(m.Unmount());
}

// A sequential reader of evicted data does not wait for one segment after
// the other: reading the first block starts fetching the next segments in
// the background. A read far from where the last one ended (random access)
// fetches only its own segment.
TEST_F(MountTest, SequentialReadsPrefetchSegmentsAhead) {
  auto& m = NewMount({"--cache-size", "2MiB", "--block-size", "64KiB", "--segment-size", "1MiB"});
  ASSERT_TRUE(m.Start());
  const size_t kSize = 16 << 20;
  std::string data = RandomBytes(kSize, 777);
  ASSERT_TRUE(WriteFile(m.P("seq"), data, true, 0));
  ASSERT_TRUE(m.Sync(120)) << m.Stats().dump();
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  auto fetched = [&] { return m.Stats()["fetched"]["bytes"].get<uint64_t>(); };
  uint64_t before = fetched();
  int fd = ::open(m.P("seq").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);  // no kernel readahead: only our prefetch
  std::string buf(64 << 10, '\0');
  ASSERT_EQ(::pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
  EXPECT_EQ(buf, data.substr(0, buf.size()));
  // The segment read plus 4 prefetched ones (segments hold ~1 MiB of blocks).
  uint64_t want = before + (4u << 20);
  for (int i = 0; i < 200 && fetched() < want; i++) std::this_thread::sleep_for(50ms);
  EXPECT_GE(fetched(), want) << "no prefetch after a read at offset 0: " << m.Stats().dump();
  // Random access: a read 10 MiB past the last one fetches one segment.
  uint64_t settled = fetched();
  std::this_thread::sleep_for(300ms);
  settled = std::max(settled, fetched());
  size_t far = 12 << 20;
  ASSERT_EQ(::pread(fd, buf.data(), buf.size(), static_cast<off_t>(far)), static_cast<ssize_t>(buf.size()));
  EXPECT_EQ(buf, data.substr(far, buf.size()));
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(fetched() - settled, 2u << 20) << "a random read prefetched: " << m.Stats().dump();
  // Everything reads back (prefetched segments serve their blocks).
  std::string all(kSize, '\0');
  size_t got = 0;
  while (got < kSize) {
    ssize_t n = ::pread(fd, all.data() + got, kSize - got, static_cast<off_t>(got));
    ASSERT_GT(n, 0);
    got += static_cast<size_t>(n);
  }
  EXPECT_TRUE(all == data) << "data read back differs";
  ::close(fd);
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, Kill9DuringWritesLosesNothingFsynced) {
  // The backend is down while writing, so everything acknowledged sits in
  // the local cache and the upload queue when the process dies.
  auto& m = NewMount({"--block-size", "64KiB"});
  sfs::create_directories(m.backend);
  ASSERT_TRUE(m.Start());
  { std::FILE* f = std::fopen((m.backend + "/down").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  std::map<std::string, std::string> acked;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int> count{0};
  std::thread writer([&] {
    for (int i = 0; !stop; i++) {
      std::string name = "w" + std::to_string(i);
      std::string data = RandomBytes(1000 + (i * 7919) % (700 << 10), 500 + i);
      if (!WriteFile(m.P(name), data, true, i)) break;
      std::lock_guard l(mu);
      acked[name] = data;
      count++;
    }
  });
  while (count < 30) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  m.Kill9();  // mid-write: the writer is inside some write/fsync
  stop = true;
  writer.join();
  ASSERT_GE(acked.size(), 30u);
  sfs::remove(m.backend + "/down");

  ASSERT_TRUE(m.Start());
  for (auto& [name, data] : acked) {
    std::string got = ReadFile(m.P(name));
    ASSERT_EQ(got.size(), data.size()) << name;
    ASSERT_TRUE(got == data) << name << " lost or corrupt after kill -9";
  }
  // The upload queue resumes by itself (no sync asked): wait for it.
  auto deadline = Clock::now() + std::chrono::seconds(60);
  int64_t pending = -1;
  while (Clock::now() < deadline) {
    auto st = m.Stats();
    pending = st["pending_upload"]["blocks"].get<int64_t>();
    if (pending == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(pending, 0);
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  // Everything is in the backend: a fresh cache restores it.
  ExpectFreshCacheRestores(m, acked);
}

// Group commit (durability local): operations not followed by fsync share one
// SQLite transaction, committed within the commit window. kill -9 with such a
// group open must lose nothing fsync acknowledged, and what it loses must be
// whole operations: a file that survives has all of its data or, if only its
// creation was committed, none (size 0); a file unlinked in the lost group
// comes back complete. Inode numbers of creations lost in the group are handed
// out again: their leftover cache files must never show through.
TEST_F(MountTest, Kill9WithCommitGroupOpenKeepsFsyncedAndConsistent) {
  // A long window, so the operations after the last fsync are still in an
  // open group when the process dies (the uploader also commits the group
  // before each upload; with the backend down it backs off, up to 5 s).
  auto& m = NewMount({"--block-size", "64KiB", "--commit-window", "1s"});
  sfs::create_directories(m.backend);
  ASSERT_TRUE(m.Start());
  { std::FILE* f = std::fopen((m.backend + "/down").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  ASSERT_EQ(::mkdir(m.P("d").c_str(), 0755), 0);
  std::map<std::string, std::string> synced, unsynced, unlinked;
  for (int i = 0; i < 40; i++) {
    std::string name = "d/s" + std::to_string(i);
    std::string data = RandomBytes(1 + (i * 7919) % (150 << 10), 900 + i);
    // Every 4th file fsynced. (Its fsync commits the group, but the files
    // closed just before may not be in it yet: the kernel sends RELEASE
    // asynchronously after close returns. So they only count as unsynced.)
    bool do_sync = i % 4 == 3;
    ASSERT_TRUE(WriteFile(m.P(name), data, do_sync, i)) << name;
    (do_sync ? synced : unsynced)[name] = data;
  }
  // After the last fsync: creations with data, unlinks of fsynced files and a
  // rename, none of it fsynced; then kill -9 at once.
  for (int i = 0; i < 20; i++) {
    std::string name = "d/n" + std::to_string(i);
    unsynced[name] = RandomBytes(3000 + i * 1000, 5000 + i);
    ASSERT_TRUE(WriteFile(m.P(name), unsynced[name], false, i)) << name;
  }
  for (int i = 7; i < 40; i += 8) {  // fsynced files
    std::string name = "d/s" + std::to_string(i);
    unlinked[name] = synced[name];
    synced.erase(name);
    ASSERT_EQ(::unlink(m.P(name).c_str()), 0) << name;
  }
  ASSERT_EQ(::rename(m.P("d/s3").c_str(), m.P("d/renamed").c_str()), 0);
  std::string s3 = synced["d/s3"];
  synced.erase("d/s3");
  m.Kill9();
  sfs::remove(m.backend + "/down");

  ASSERT_TRUE(m.Start());
  for (auto& [name, data] : synced) {
    std::string got = ReadFile(m.P(name));
    ASSERT_EQ(got.size(), data.size()) << name << " (fsynced) after kill -9";
    ASSERT_TRUE(got == data) << name << " (fsynced) corrupt after kill -9";
  }
  // The rename happened or not; the file is there under exactly one name.
  std::string old_name = ReadFile(m.P("d/s3")), new_name = ReadFile(m.P("d/renamed"));
  EXPECT_TRUE((old_name == s3) != (new_name == s3)) << "renamed file lost or duplicated";
  int lost = 0, empty = 0, whole = 0;
  for (auto& [name, data] : unsynced) {
    std::string got = ReadFile(m.P(name));
    if (got == "<errno " + std::to_string(ENOENT) + ">") {
      lost++;
    } else if (got.empty()) {
      empty++;
    } else {
      ASSERT_TRUE(got == data) << name << ": survived the crash with other content ("
                               << got.size() << " bytes, wrote " << data.size() << ")";
      whole++;
    }
  }
  for (auto& [name, data] : unlinked) {
    std::string got = ReadFile(m.P(name));
    if (got == "<errno " + std::to_string(ENOENT) + ">") continue;
    ASSERT_TRUE(got == data) << name << ": unlink lost in the crash, but the file came back"
                             << " with other content (" << got.size() << " bytes)";
  }
  std::fprintf(stderr, "unsynced files after kill -9: %d lost, %d empty, %d whole\n", lost, empty,
               whole);
  // Small files live in slots of the shared slab; the crash gave back the
  // slots of the lost ones, and new files take them first. Written past a
  // gap (no truncate, which clears the slot anyway), the gap reads as zeros.
  for (int i = 0; i < 30; i++) {
    std::string name = m.P("d/gap" + std::to_string(i));
    int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << name;
    ASSERT_EQ(::pwrite(fd, "mid", 3, 20000), 3);
    ASSERT_EQ(::close(fd), 0);
    std::string want(20003, '\0');
    want.replace(20000, 3, "mid");
    ASSERT_TRUE(ReadFile(name) == want) << name << " shows bytes it was never given";
  }
  // New files take the inode numbers the crash gave back: grown without
  // writing they read as zeros, written in the middle they read as written.
  for (int i = 0; i < 30; i++) {
    std::string name = m.P("d/new" + std::to_string(i));
    int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << name;
    ASSERT_EQ(::ftruncate(fd, 40000), 0);
    ASSERT_EQ(::pwrite(fd, "mid", 3, 20000), 3);
    ASSERT_EQ(::close(fd), 0);
    std::string want(40000, '\0');
    want.replace(20000, 3, "mid");
    ASSERT_TRUE(ReadFile(name) == want) << name << " shows bytes it was never given";
  }
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  // Everything fsynced is in the backend as well: a fresh cache restores it.
  ExpectFreshCacheRestores(m, synced);
}

TEST_F(MountTest, DownBackendNeverHangsDfLsOrUnmountAndReadsFailEio) {
  auto& m = NewMount({"--cache-size", "1MiB", "--read-timeout", "2s", "--block-size", "64KiB"});
  ASSERT_TRUE(m.Start());
  std::string data = RandomBytes(4 << 20, 11);
  ASSERT_TRUE(WriteFile(m.P("f"), data, true, 0));
  ASSERT_TRUE(m.Sync(60));
  // Eviction runs in the background; wait until most of f left the cache.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && m.Stats()["cache"]["bytes"].get<uint64_t>() > (2u << 20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(m.Unmount());
  { std::FILE* f = std::fopen((m.backend + "/down").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  ASSERT_TRUE(m.Start());
  auto t0 = Clock::now();
  struct statvfs sv {};
  EXPECT_EQ(::statvfs(m.mnt.c_str(), &sv), 0);
  DIR* d = ::opendir(m.mnt.c_str());
  ASSERT_NE(d, nullptr);
  int entries = 0;
  while (::readdir(d)) entries++;
  ::closedir(d);
  EXPECT_EQ(entries, 3);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "df/ls must not wait for backends";
  // Reading evicted data: EIO after the read timeout, not a hang.
  t0 = Clock::now();
  std::string got = ReadFile(m.P("f"));
  EXPECT_EQ(got, "<errno " + std::to_string(EIO) + ">");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(30));
  // New writes still work locally.
  ASSERT_TRUE(WriteFile(m.P("g"), "still writable", true, 0));
  EXPECT_EQ(ReadFile(m.P("g")), "still writable");
  t0 = Clock::now();
  m.Unmount();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(50)) << "unmount must not hang";
  sfs::remove(m.backend + "/down");
  ASSERT_TRUE(m.Start());
  EXPECT_TRUE(ReadFile(m.P("f")) == data);
  EXPECT_EQ(ReadFile(m.P("g")), "still writable");
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, GridDurabilityFsyncWaitsForBackend) {
  auto& m = NewMount({"--durability", "grid", "--grid-timeout", "3s"});
  ASSERT_TRUE(m.Start());
  std::string data = RandomBytes(300000, 5);
  int fd = ::open(m.P("g").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::fsync(fd), 0);
  // fsync returned: nothing of the file is pending and metadata is stored.
  auto st = m.Stats();
  EXPECT_EQ(st["pending_upload"]["blocks"].get<int64_t>(), 0) << st.dump();
  EXPECT_GE(st["metadata_snapshots"].get<uint64_t>(), 1u);
  EXPECT_TRUE(sfs::exists(m.backend + "/meta/fsmeta.sqlite"));
  ASSERT_EQ(::close(fd), 0);
  // With the backend down, fsync fails with EIO after the grid timeout.
  { std::FILE* f = std::fopen((m.backend + "/down").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  fd = ::open(m.P("h").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  auto t0 = Clock::now();
  errno = 0;
  EXPECT_NE(::fsync(fd), 0);
  EXPECT_EQ(errno, EIO);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(20));
  ::close(fd);
  sfs::remove(m.backend + "/down");
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
}

TEST_F(MountTest, CliSyncStatsUmount) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  ASSERT_TRUE(WriteFile(m.P("c"), RandomBytes(123456, 1), false, 0));
  std::string out;
  ASSERT_EQ(RunCmd(QstorBin() + " sync " + m.mnt + " 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("synced"), std::string::npos) << out;
  ASSERT_EQ(RunCmd(QstorBin() + " --json fs stats " + m.mnt, &out), 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["format"], "qstor.fs.stats/v1");
  EXPECT_EQ(j["pending_upload"]["blocks"].get<int64_t>(), 0);
  EXPECT_EQ(j["used_bytes"].get<uint64_t>(), 123456u);
  ASSERT_EQ(RunCmd(QstorBin() + " umount " + m.mnt + " 2>&1", &out), 0) << out;
  struct statfs sf {};
  ASSERT_EQ(::statfs(m.mnt.c_str(), &sf), 0);
  EXPECT_NE(sf.f_type, kFuseSuperMagic);
  EXPECT_NE(RunCmd(QstorBin() + " fs stats " + m.mnt + " 2>&1", &out), 0);
  // recover with no identity at all (an empty QSTOR_HOME, no QSTOR_MNEMONIC):
  // a clear error, exit 1 (recover itself is tested in cli/mount_grid_test.cc).
  std::string empty_home = m.cache + "-empty-home";
  sfs::create_directories(empty_home);
  EXPECT_EQ(RunCmd("env -u QSTOR_MNEMONIC QSTOR_HOME=" + empty_home + " " + QstorBin() +
                       " recover --mount /nowhere </dev/null 2>&1",
                   &out),
            1)
      << out;
  EXPECT_NE(out.find("keystore"), std::string::npos) << out;
}

// Flips bytes of a file outside the mount (the cache, while unmounted).
void DamageFile(const std::string& path, off_t off, size_t n) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  std::string buf(n, '\0');
  ssize_t got = ::pread(fd, buf.data(), n, off);
  ASSERT_GT(got, 0) << path << " has no bytes at " << off;
  for (auto& c : buf) c = static_cast<char>(~c);
  ASSERT_EQ(::pwrite(fd, buf.data(), static_cast<size_t>(got), off), got);
  ::fsync(fd);
  ::close(fd);
}

std::string CacheFileOf(const std::string& cache, uint64_t ino) {
  char sub[8];
  std::snprintf(sub, sizeof sub, "%02x", static_cast<unsigned>(ino & 0xff));
  return cache + "/data/" + sub + "/" + std::to_string(ino);
}

TEST_F(MountTest, CachedBlocksDamagedOnDiskAreReadAgainFromTheBackend) {
  auto& m = NewMount({"--block-size", "64KiB"});
  ASSERT_TRUE(m.Start());
  std::map<std::string, std::string> files = {{"big", RandomBytes(1 << 20, 11)},
                                              {"small", RandomBytes(10000, 12)}};
  for (auto& [name, data] : files) ASSERT_TRUE(WriteFile(m.P(name), data, true, 1));
  ASSERT_TRUE(m.Sync(60)) << m.Stats().dump();
  struct stat st {};
  ASSERT_EQ(::stat(m.P("big").c_str(), &st), 0);
  const uint64_t big_ino = st.st_ino;
  ASSERT_TRUE(m.Unmount());

  // Damage block 1 (to be read) and block 3 (to be partly overwritten) of
  // the big file's cache file, and the small file's bytes in the slab.
  const std::string big_cache = CacheFileOf(m.cache, big_ino);
  DamageFile(big_cache, 65536 + 1000, 100);
  DamageFile(big_cache, 3 * 65536 + 5000, 100);
  DamageFile(m.cache + "/data/slab", 0, 10000);

  ASSERT_TRUE(m.Start());
  RunCmd("sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null");
  EXPECT_TRUE(ReadFile(m.P("small")) == files["small"]) << "a damaged slab slot was returned";
  // A partial write into damaged block 3 must merge with the grid's bytes,
  // not with the damaged ones (which would then be uploaded as the truth).
  int fd = ::open(m.P("big").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "0123456789", 10, 3 * 65536 + 100), 10);
  ASSERT_EQ(::close(fd), 0);
  files["big"].replace(3 * 65536 + 100, 10, "0123456789");
  std::string got = ReadFile(m.P("big"));
  ASSERT_EQ(got.size(), files["big"].size());
  EXPECT_TRUE(got == files["big"]) << "damaged cache bytes were returned";
  auto j = m.Stats();
  EXPECT_EQ(j["cache"]["corrupt_blocks"].get<uint64_t>(), 3u) << j.dump();
  EXPECT_GE(j["cache"]["verified_blocks"].get<uint64_t>(), 10u) << j.dump();
  EXPECT_GT(j["fetched"]["bytes"].get<uint64_t>(), 0u) << j.dump();
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  ExpectFreshCacheRestores(m, files);
}

TEST_F(MountTest, PunchHoleZeroRangeAndUnsupportedModes) {
  auto& m = NewMount({"--block-size", "64KiB"});
  ASSERT_TRUE(m.Start());
  std::string model = RandomBytes(1 << 20, 21);
  ASSERT_TRUE(WriteFile(m.P("f"), model, false, 2));
  ASSERT_TRUE(m.Sync(60));  // the punched blocks are in segments too
  int fd = ::open(m.P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct stat before {}, after {};
  ASSERT_EQ(::fstat(fd, &before), 0);
  // Partial blocks at both ends, four whole blocks between.
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100000, 300000), 0)
      << std::strerror(errno);
  std::fill(model.begin() + 100000, model.begin() + 400000, '\0');
  ASSERT_EQ(::fstat(fd, &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_LE(after.st_blocks * 512, before.st_blocks * 512 - 4 * 65536) << "whole blocks stay";
  // ZERO_RANGE without KEEP_SIZE past the end grows the file.
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_ZERO_RANGE, 900000, 400000), 0) << std::strerror(errno);
  std::fill(model.begin() + 900000, model.end(), '\0');
  model.resize(1300000, '\0');
  // A punch inside one block, and one past the end (nothing to do).
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 500010, 20), 0);
  std::fill(model.begin() + 500010, model.begin() + 500030, '\0');
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5000000, 10), 0);
  errno = 0;
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 65536), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  errno = 0;
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 65536), -1) << "punch needs KEEP_SIZE";
  EXPECT_EQ(errno, EOPNOTSUPP);
  ::close(fd);
  std::string got = ReadFile(m.P("f"));
  ASSERT_EQ(got.size(), model.size());
  EXPECT_TRUE(got == model);
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  ExpectFreshCacheRestores(m, {{"f", model}});
}

TEST_F(MountTest, TmpfileLinkedOrDropped) {
  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(::mkdir(m.P("d").c_str(), 0755), 0);
  const std::string data = RandomBytes(200000, 31);
  int fd = ::open(m.P("d").c_str(), O_TMPFILE | O_RDWR, 0640);
  ASSERT_GE(fd, 0) << "O_TMPFILE: " << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ASSERT_EQ(::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, m.P("d/named").c_str(), AT_SYMLINK_FOLLOW),
            0)
      << std::strerror(errno);
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
  ASSERT_EQ(::close(fd), 0);
  // One never linked: gone with its last descriptor, space back.
  const uint64_t used = m.Stats()["used_bytes"].get<uint64_t>();
  fd = ::open(m.P("d").c_str(), O_TMPFILE | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_EQ(m.Stats()["used_bytes"].get<uint64_t>(), used + data.size());
  ASSERT_EQ(::close(fd), 0);
  std::vector<std::string> names;
  DIR* dir = ::opendir(m.P("d").c_str());
  ASSERT_NE(dir, nullptr);
  while (auto* e = ::readdir(dir)) names.push_back(e->d_name);
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "named"}));
  bool freed = false;
  for (int i = 0; i < 100 && !freed; i++) {
    freed = m.Stats()["used_bytes"].get<uint64_t>() == used;
    if (!freed) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(freed) << m.Stats().dump();
  EXPECT_TRUE(ReadFile(m.P("d/named")) == data);
  ASSERT_TRUE(m.Sync(60));
  ASSERT_TRUE(m.Unmount());
  ExpectFreshCacheRestores(m, {{"d/named", data}});
}

TEST_F(MountTest, SizesPastTheCacheFileSystemLimitAreEfbig) {
  // The limit of the cache's file system, found as the mount finds it.
  std::string probe = root_ + "/probe";
  int pfd = ::open(probe.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(pfd, 0);
  uint64_t lo = 1ull << 20, hi = static_cast<uint64_t>(INT64_MAX);
  if (::ftruncate(pfd, static_cast<off_t>(hi)) == 0) {
    ::close(pfd);
    GTEST_SKIP() << "the cache file system here holds files of 8 EiB: no limit to test";
  }
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    (::ftruncate(pfd, static_cast<off_t>(mid)) == 0 ? lo : hi) = mid;
  }
  ::close(pfd);
  ::unlink(probe.c_str());
  const off_t limit = static_cast<off_t>(lo);

  auto& m = NewMount();
  ASSERT_TRUE(m.Start());
  int fd = ::open(m.P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, "x", 1, limit), -1);
  EXPECT_EQ(errno, EFBIG);
  errno = 0;
  EXPECT_EQ(::ftruncate(fd, limit + 1), -1);
  EXPECT_EQ(errno, EFBIG);
  errno = 0;
  EXPECT_EQ(::fallocate(fd, 0, limit - 10, 20), -1);
  EXPECT_EQ(errno, EFBIG);
  // Up to the limit works, and a write across it is short.
  EXPECT_EQ(::pwrite(fd, "0123456789abcdefghij", 20, limit - 10), 10) << std::strerror(errno);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, limit);
  char buf[10];
  ASSERT_EQ(::pread(fd, buf, 10, limit - 10), 10);
  EXPECT_EQ(std::string(buf, 10), "0123456789");
  EXPECT_EQ(::ftruncate(fd, 5), 0);
  ::close(fd);
  ASSERT_TRUE(m.Unmount());
}

// A `qstor zdb serve --port 0` child process.
class ZdbProc {
 public:
  explicit ZdbProc(std::string dir) : dir_(std::move(dir)) {}
  ~ZdbProc() { Stop(); }
  bool Start() {
    sfs::create_directories(dir_);
    int fds[2];
    if (::pipe(fds) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      std::string bin = QstorBin();
      std::string port = std::to_string(port_);
      const char* argv[] = {bin.c_str(), "zdb", "serve", "--data", dir_.c_str(), "--port",
                            port.c_str(), nullptr};
      ::execv(argv[0], const_cast<char**>(argv));
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(fds[0]);
    size_t colon = line.rfind(':');
    if (line.rfind("listening on", 0) != 0 || colon == std::string::npos) return false;
    port_ = std::atoi(line.c_str() + colon + 1);
    std::string out;
    return RunCmd("redis-cli -p " + std::to_string(port_) + " NSNEW fs 2>&1", &out) == 0;
  }
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  std::string Spec() const { return "127.0.0.1:" + std::to_string(port_) + "/fs"; }
  // SIGSTOP / SIGCONT: a node that stops answering for a while.
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Three 0-db servers under `root` and a key file: `args` mounts 2+1 over
// them (--k, --m, --key-file and a --zdb for each); tests add their flags.
struct ZdbCluster {
  std::vector<std::unique_ptr<ZdbProc>> zdbs;
  std::vector<std::string> args;
};

void StartZdbCluster(const std::string& root, ZdbCluster* c) {
  for (int i = 0; i < 3; i++) {
    c->zdbs.push_back(std::make_unique<ZdbProc>(root + "/zdb" + std::to_string(i)));
    ASSERT_TRUE(c->zdbs.back()->Start()) << "zdb " << i;
  }
  std::string keyfile = root + "/keys";
  {
    std::FILE* f = std::fopen(keyfile.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
               "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n", f);
    std::fclose(f);
  }
  c->args = {"--k", "2", "--m", "1", "--key-file", keyfile};
  for (auto& z : c->zdbs) {
    c->args.push_back("--zdb");
    c->args.push_back(z->Spec());
  }
}

// The mount over the storage engine: 3 real 0-db servers, k=2, m=1.
TEST_F(MountTest, ZdbBackendsThroughStorageEngine) {
  ZdbCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartZdbCluster(root_, &cluster));
  auto& zdbs = cluster.zdbs;
  auto args = [&](const std::string& cache_size) {
    std::vector<std::string> a = cluster.args;
    a.insert(a.end(), {"--cache-size", cache_size, "--read-timeout", "10s"});
    return a;
  };
  // MountProc passes --local-backend; --zdb replaces it, so use a wrapper
  // directory layout with the zdb flags and no local backend.
  auto& m = NewMount(args("1GiB"), "a");
  m.backend = "";
  ASSERT_TRUE(m.Start());
  std::map<std::string, std::string> files;
  for (int i = 0; i < 8; i++) {
    std::string name = "z" + std::to_string(i);
    files[name] = RandomBytes(static_cast<size_t>(i) * 300000 + 17, 70 + i);
    ASSERT_TRUE(WriteFile(m.P(name), files[name], true, i));
  }
  ASSERT_TRUE(m.Sync(120)) << m.Stats().dump();
  EXPECT_NE(m.Stats()["backend"].get<std::string>().find("grid:2+1"), std::string::npos);
  ASSERT_TRUE(m.Unmount());
  // One backend down (m = 1), fresh cache: metadata and data from the grid.
  zdbs[1]->Stop();
  auto& f = NewMount(args("1MiB"), "b");
  f.backend = "";
  ASSERT_TRUE(f.Start());
  for (auto& [name, data] : files) {
    std::string got = ReadFile(f.P(name));
    ASSERT_EQ(got.size(), data.size()) << name;
    ASSERT_TRUE(got == data) << name << " differs when read back from the grid";
  }
  EXPECT_GT(f.Stats()["fetched"]["bytes"].get<uint64_t>(), 0u);
  ASSERT_TRUE(f.Unmount());
}

// ---------------------------------------------------------------------------
// Restores through a fresh cache, with listings, remounts and eviction
// (issue 13 item 1), and a randomized fsx-like run against a model.
// ---------------------------------------------------------------------------

// "" when `got` equals `want`; otherwise what differs: the sizes, the first
// differing offset, whether what was read is all zeros (or a run of zeros
// starts there) and how many of the common bytes differ.
std::string DescribeDiff(const std::string& got, const std::string& want) {
  if (got == want) return "";
  std::ostringstream o;
  if (got.rfind("<errno ", 0) == 0 && !got.empty() && got.back() == '>' && got.size() < 16) {
    o << "read failed " << got << " (want " << want.size() << " bytes)";
    return o.str();
  }
  size_t n = std::min(got.size(), want.size());
  size_t i = 0;
  while (i < n && got[i] == want[i]) i++;
  o << "read " << got.size() << " bytes (want " << want.size() << "), first difference at offset "
    << i;
  if (!got.empty() && got.find_first_not_of('\0') == std::string::npos) {
    o << ", the data read is ALL ZEROS";
  } else if (i < got.size() && got[i] == '\0') {
    size_t nz = got.find_first_not_of('\0', i);
    o << ", zeros from there for " << ((nz == std::string::npos ? got.size() : nz) - i)
      << " bytes";
  }
  size_t ndiff = 0;
  for (size_t k = i; k < n; k++) ndiff += got[k] != want[k];
  o << ", " << ndiff << " of " << n << " common bytes differ";
  // Where: the first few runs of differing bytes (a run ends after 64 equal bytes).
  int runs = 0;
  for (size_t k = i; k < n && runs < 6;) {
    if (got[k] == want[k]) {
      k++;
      continue;
    }
    size_t start = k, last = k;
    while (k < n && k - last <= 64) {
      if (got[k] != want[k]) last = k;
      k++;
    }
    o << (runs == 0 ? "; differing runs:" : ",") << " [" << start << ", " << last + 1 << ")";
    runs++;
  }
  return o.str();
}

// Reads every file of `files` under m and compares it byte for byte; one
// failure per call listing every wrong file. Returns the number wrong.
int CheckFiles(const MountProc& m, const std::map<std::string, std::string>& files,
               const std::string& step) {
  std::string report;
  int bad = 0, bad_small = 0, small = 0;
  for (const auto& [name, data] : files) {
    if (data.size() <= (64u << 10)) small++;
    std::string diff = DescribeDiff(ReadFile(m.P(name)), data);
    if (diff.empty()) continue;
    bad++;
    if (data.size() <= (64u << 10)) bad_small++;
    report += "    " + name + " (" + std::to_string(data.size()) + " bytes): " + diff + "\n";
  }
  if (bad > 0) {
    ADD_FAILURE() << step << ": " << bad << " of " << files.size() << " files read wrong ("
                  << bad_small << " of the " << small << " of at most 64 KiB, " << bad - bad_small
                  << " of the " << files.size() - small << " larger):\n"
                  << report;
  }
  return bad;
}

// What `ls -l DIR` does: opendir + readdir (READDIRPLUS), then lstat of each
// entry. Checks the names and sizes against `files` (those under `dir`).
void ListLong(const MountProc& m, const std::string& dir,
              const std::map<std::string, std::string>& files, const std::string& step) {
  std::map<std::string, int64_t> want, got;
  for (const auto& [name, data] : files) {
    if (name.rfind(dir + "/", 0) == 0 && name.find('/', dir.size() + 1) == std::string::npos) {
      want[name.substr(dir.size() + 1)] = static_cast<int64_t>(data.size());
    }
  }
  DIR* d = ::opendir(m.P(dir).c_str());
  ASSERT_NE(d, nullptr) << step << ": opendir " << dir << ": " << std::strerror(errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    struct stat st {};
    if (::lstat(m.P(dir + "/" + n).c_str(), &st) != 0) {
      ADD_FAILURE() << step << ": lstat " << dir << "/" << n << ": " << std::strerror(errno);
      continue;
    }
    got[n] = st.st_size;
  }
  EXPECT_EQ(got, want) << step << ": listing of " << dir << " (name -> size)";
}

// stat of every file, size checked; no readdir.
void StatAll(const MountProc& m, const std::map<std::string, std::string>& files,
             const std::string& step) {
  for (const auto& [name, data] : files) {
    struct stat st {};
    ASSERT_EQ(::stat(m.P(name).c_str(), &st), 0) << step << ": " << name;
    EXPECT_EQ(st.st_size, static_cast<off_t>(data.size())) << step << ": " << name;
  }
}

// open + close of every file (a LOOKUP and an OPEN), no stat, no read.
void OpenAll(const MountProc& m, const std::map<std::string, std::string>& files,
             const std::string& step) {
  for (const auto& [name, data] : files) {
    int fd = ::open(m.P(name).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << step << ": " << name << ": " << std::strerror(errno);
    ::close(fd);
  }
}

bool AppendTo(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

// Issue 13 item 1. 30 files of 4 KiB..2 MiB (both sides of the 64 KiB slab
// slot: the small ones live in the slab) written and synced with cache c1,
// then read back through other caches of the same backend in every way a
// restored inode can first be loaded: by a listing (READDIRPLUS hands the
// kernel the inode with its attributes: `ls -l`), by stat, by open; across
// remounts of that cache (the inode then loaded by LOOKUP from the restored
// row), with a cache too small for the data (eviction), with c1 reused; and
// finally what the issue found: the slab files of a fresh cache listed and
// read, read again after a remount, appended to and synced, and read by a
// third fresh cache. Every read is compared byte for byte.
TEST_F(MountTest, ThirtyFilesFreshCacheListRemount) {
  auto& w = NewMount();  // default block size (256 KiB): slab slot 64 KiB
  ASSERT_TRUE(w.Start());
  ASSERT_EQ(::mkdir(w.P("d").c_str(), 0755), 0);
  std::vector<size_t> sizes = {4096,   4097,       8191,           32768,    65535,
                               65536,  65537,      131072,         262143,   262144,
                               262145, 1 << 20,    (2 << 20) - 1,  2 << 20};
  std::mt19937_64 rng(13);
  for (int i = 0; sizes.size() < 30; i++) {
    sizes.push_back(i % 2 == 0 ? 4096 + rng() % (65536 - 4096 + 1)
                               : 65537 + rng() % ((2 << 20) - 65537 + 1));
  }
  std::map<std::string, std::string> files;
  for (size_t i = 0; i < sizes.size(); i++) {
    std::string name = (i < 10 ? "d/f0" : "d/f") + std::to_string(i);
    files[name] = RandomBytes(sizes[i], 1300 + i);
    ASSERT_TRUE(WriteFile(w.P(name), files[name], false, i)) << name;
  }
  ASSERT_EQ(CheckFiles(w, files, "c1, right after writing"), 0);
  ASSERT_TRUE(w.Sync(120)) << w.Stats().dump();
  ASSERT_EQ(w.Stats()["pending_upload"]["blocks"].get<int64_t>(), 0);
  ASSERT_TRUE(w.Unmount());

  // A mount of w's backend over cache directory root_/<cache>.
  auto mount_of = [&](const std::string& sub, const std::string& cache,
                      std::vector<std::string> extra = {}) -> MountProc& {
    MountProc& m = NewMount(std::move(extra), sub);
    m.backend = w.backend;
    m.cache = root_ + "/" + cache;
    return m;
  };

  // Fresh cache, first touched by stat; remount; then listed; remount.
  {
    auto& m = mount_of("s", "c-stat");
    ASSERT_TRUE(m.Start());
    StatAll(m, files, "fresh cache, stat");
    CheckFiles(m, files, "fresh cache, read after stat");
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    CheckFiles(m, files, "stat cache remounted, read by path");
    ASSERT_NO_FATAL_FAILURE(ListLong(m, "d", files, "stat cache remounted twice, ls -l"));
    CheckFiles(m, files, "stat cache remounted, read after ls -l");
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    CheckFiles(m, files, "stat cache remounted twice, read by path");
    ASSERT_TRUE(m.Unmount());
  }
  // Fresh cache, first touched by open (LOOKUP + OPEN); remount.
  {
    auto& m = mount_of("o", "c-open");
    ASSERT_TRUE(m.Start());
    ASSERT_NO_FATAL_FAILURE(OpenAll(m, files, "fresh cache, open"));
    CheckFiles(m, files, "fresh cache, read after open");
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    CheckFiles(m, files, "open cache remounted, read by path");
    ASSERT_TRUE(m.Unmount());
  }
  // Fresh cache of 1 MiB (the files are about 20 MiB): eviction between and
  // during the reads.
  {
    auto& m = mount_of("t", "c-tiny", {"--cache-size", "1MiB"});
    ASSERT_TRUE(m.Start());
    ASSERT_NO_FATAL_FAILURE(ListLong(m, "d", files, "fresh tiny cache, ls -l"));
    CheckFiles(m, files, "fresh tiny cache, read after ls -l");
    CheckFiles(m, files, "fresh tiny cache, read again");
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    CheckFiles(m, files, "tiny cache remounted, read by path");
    ASSERT_NO_FATAL_FAILURE(ListLong(m, "d", files, "tiny cache remounted, ls -l"));
    CheckFiles(m, files, "tiny cache remounted, read after ls -l");
    ASSERT_TRUE(m.Unmount());
  }
  // The writer's cache c1 reused: listed, read, remounted, read.
  {
    ASSERT_TRUE(w.Start());
    ASSERT_NO_FATAL_FAILURE(ListLong(w, "d", files, "c1 reused, ls -l"));
    CheckFiles(w, files, "c1 reused, read after ls -l");
    ASSERT_TRUE(w.Unmount());
    ASSERT_TRUE(w.Start());
    CheckFiles(w, files, "c1 reused and remounted, read by path");
    ASSERT_TRUE(w.Unmount());
  }
  // The issue's sequence, last (it writes to the backend): fresh c2, ls -l,
  // read; remount c2, read; append a byte to each and sync; fresh c3 reads.
  {
    auto& m = mount_of("a", "c2");
    ASSERT_TRUE(m.Start());
    ASSERT_NO_FATAL_FAILURE(ListLong(m, "d", files, "fresh c2, ls -l"));
    CheckFiles(m, files, "fresh c2, read after ls -l");
    ASSERT_TRUE(m.Unmount());
    ASSERT_TRUE(m.Start());
    CheckFiles(m, files, "c2 remounted, read by path");
    std::map<std::string, std::string> appended;
    for (const auto& [name, data] : files) {
      ASSERT_TRUE(AppendTo(m.P(name), "+")) << name;
      appended[name] = data + "+";
    }
    ASSERT_TRUE(m.Sync(120)) << m.Stats().dump();
    CheckFiles(m, appended, "c2 remounted, after appending a byte and syncing");
    ASSERT_TRUE(m.Unmount());
    auto& c3 = mount_of("a3", "c3");
    ASSERT_TRUE(c3.Start());
    CheckFiles(c3, appended, "fresh c3 after c2's append + sync, read by path");
    ASSERT_TRUE(c3.Unmount());
  }
}

// The same first load by READDIRPLUS on a reused cache whose small files
// were never uploaded (backend down): the slab holds their only copy.
TEST_F(MountTest, UnsyncedSlabFilesSurviveRemountAndList) {
  auto& m = NewMount({"--block-size", "64KiB"});
  sfs::create_directories(m.backend);
  ASSERT_TRUE(m.Start());
  { std::FILE* f = std::fopen((m.backend + "/down").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  ASSERT_EQ(::mkdir(m.P("d").c_str(), 0755), 0);
  std::map<std::string, std::string> files;
  const size_t sizes[] = {1, 4096, 20000, 65535, 65536, 65537, 200000};
  for (size_t i = 0; i < std::size(sizes); i++) {
    std::string name = "d/u" + std::to_string(i);
    files[name] = RandomBytes(sizes[i], 2400 + i);
    ASSERT_TRUE(WriteFile(m.P(name), files[name], true, i)) << name;
  }
  m.Unmount();  // gives up on the uploads: the backend is down
  ASSERT_TRUE(m.Start());
  ASSERT_NO_FATAL_FAILURE(ListLong(m, "d", files, "remounted, backend down, ls -l"));
  CheckFiles(m, files, "remounted, backend down, read after ls -l");
  m.Unmount();
  ASSERT_TRUE(m.Start());
  CheckFiles(m, files, "remounted twice, backend down, read by path");
  m.Unmount();
  sfs::remove(m.backend + "/down");
  ASSERT_TRUE(m.Start());
  ASSERT_TRUE(m.Sync(60)) << m.Stats().dump();
  CheckFiles(m, files, "backend up, synced");
  ASSERT_TRUE(m.Unmount());
  ExpectFreshCacheRestores(m, files);
}

// One writer per storage (docs/mount.md "One writer").

// Runs `qstor mount --foreground` over m's cache, mount point and backend,
// expecting it to refuse; bounded (a mount that does start is ended by
// `timeout`, cleanly: SIGTERM unmounts). Returns its output, *rc its status.
std::string RefusedMount(const MountProc& m, const std::string& extra, int* rc) {
  std::string out;
  *rc = RunCmd("timeout -k 5 30 " + QstorBin() + " --log-level warn mount --foreground" +
                   " --cache-dir " + m.cache + " --mountpoint " + m.mnt + " --local-backend " +
                   m.backend + " " + extra + " 2>&1",
               &out);
  RunCmd("fusermount3 -u -z '" + m.mnt + "' >/dev/null 2>&1");
  return out;
}

std::string TrimmedFile(const std::string& path) {
  std::string s = ReadFile(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

nlohmann::json LeaseRecordOf(const MountProc& m) {
  return nlohmann::json::parse(ReadFile(m.backend + "/meta/fsmeta.lease"), nullptr, false);
}

std::string ThisHost() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// Cache A writes and syncs; a fresh cache B writes and syncs; A's cache is
// then older than the grid and refused, with the way out in the message.
// Dropping A's cache loses nothing (B's files come back from the grid);
// --take-over makes the old cache's state the storage's (what was stored
// after it is dropped), and the cache it overrode is refused in turn.
TEST_F(MountTest, StaleCacheIsRefusedAndTheWayOutLosesNothing) {
  auto& a = NewMount({}, "a");
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(WriteFile(a.P("from_a"), "written by cache A", true, 0));
  ASSERT_TRUE(a.Sync(60));
  ASSERT_TRUE(a.Unmount());

  auto& b = NewMount({}, "b");
  b.backend = a.backend;
  ASSERT_TRUE(b.Start());
  EXPECT_EQ(ReadFile(b.P("from_a")), "written by cache A");
  ASSERT_TRUE(WriteFile(b.P("from_b"), "written by cache B", true, 0));
  ASSERT_TRUE(b.Sync(60));
  ASSERT_TRUE(b.Unmount());

  // A's cache again: refused, nothing mounted.
  const std::string old_a = root_ + "/a-cache-copy";
  ASSERT_EQ(RunCmd("cp -a '" + a.cache + "' '" + old_a + "'"), 0);
  int rc = 0;
  std::string out = RefusedMount(a, "", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("this cache is older than the storage on the grid (grid generation "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("written by host " + ThisHost() + " at "), std::string::npos) << out;
  EXPECT_NE(out.find("; cache has "), std::string::npos) << out;
  EXPECT_NE(out.find("drop the cache (rm -r " + a.cache + ") or mount with --take-over"),
            std::string::npos)
      << out;

  // Way out 1: drop the cache. B's file is not lost.
  sfs::remove_all(a.cache);
  ASSERT_TRUE(a.Start());
  EXPECT_EQ(ReadFile(a.P("from_a")), "written by cache A");
  EXPECT_EQ(ReadFile(a.P("from_b")), "written by cache B");
  ASSERT_TRUE(WriteFile(a.P("from_a2"), "A again", true, 0));
  ASSERT_TRUE(a.Sync(60));
  ASSERT_TRUE(a.Unmount());
  // B's cache is now the older one.
  out = RefusedMount(b, "", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("this cache is older than the storage on the grid"), std::string::npos)
      << out;

  // Way out 2: --take-over with A's old cache: its state becomes the
  // storage's; what was stored after it (from_b, from_a2) is dropped.
  auto& t = NewMount({"--take-over"}, "t");
  t.backend = a.backend;
  t.cache = old_a;
  ASSERT_TRUE(t.Start());
  EXPECT_EQ(ReadFile(t.P("from_a")), "written by cache A");
  EXPECT_EQ(ReadFile(t.P("from_b")), "<errno " + std::to_string(ENOENT) + ">");
  ASSERT_TRUE(t.Sync(60));
  ASSERT_TRUE(t.Unmount());
  auto& f = NewMount({}, "f");
  f.backend = a.backend;
  ASSERT_TRUE(f.Start());
  EXPECT_EQ(ReadFile(f.P("from_a")), "written by cache A");
  EXPECT_EQ(ReadFile(f.P("from_a2")), "<errno " + std::to_string(ENOENT) + ">");
  ASSERT_TRUE(f.Unmount());
  // The fresh cache a (at the generation t overrode) is refused now.
  out = RefusedMount(a, "", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("this cache is older than the storage on the grid"), std::string::npos)
      << out;
}

// While a writer holds the lease a second writable mount is refused, naming
// the holder and when its lease ends; a --read-only mount works next to it
// and writes nothing; after a clean unmount the second writer mounts at once.
TEST_F(MountTest, SecondWriterIsRefusedWhileTheLeaseIsHeldReadOnlyWorks) {
  const std::vector<std::string> lease = {"--lease", "2s", "--lease-renew", "500ms"};
  auto& a = NewMount(lease, "a");
  ASSERT_TRUE(a.Start());
  std::string data = RandomBytes(100000, 77);
  ASSERT_TRUE(WriteFile(a.P("f"), data, true, 0));
  ASSERT_TRUE(a.Sync(60));

  auto& b = NewMount(lease, "b");
  b.backend = a.backend;
  int rc = 0;
  auto t0 = Clock::now();
  std::string out = RefusedMount(b, "--lease 2s --lease-renew 500ms", &rc);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("the storage is mounted for writing by host " + ThisHost() + " (pid "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("mount point " + a.mnt), std::string::npos) << out;
  EXPECT_NE(out.find("ends 2 s after its last renewal, at about "), std::string::npos) << out;
  EXPECT_NE(out.find("--read-only"), std::string::npos) << out;
  // A refused mount leaves no restored cache behind to go stale.
  EXPECT_FALSE(sfs::exists(b.cache + "/meta.db"));

  // A read-only mount next to the writer: reads, refuses writes, writes no
  // record.
  std::string lease_before = ReadFile(a.backend + "/meta/fsmeta.lease");
  std::string head_before = ReadFile(a.backend + "/meta/fsmeta.head");
  auto& r = NewMount({"--read-only"}, "r");
  r.backend = a.backend;
  ASSERT_TRUE(r.Start());
  EXPECT_TRUE(ReadFile(r.P("f")) == data);
  errno = 0;
  EXPECT_LT(::open(r.P("new").c_str(), O_WRONLY | O_CREAT, 0644), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(::mkdir(r.P("dir").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_FALSE(r.Sync(5)) << "sync of a read-only mount stores nothing";
  ASSERT_TRUE(r.Unmount());
  EXPECT_EQ(ReadFile(a.backend + "/meta/fsmeta.head"), head_before);
  auto lr = LeaseRecordOf(a);
  ASSERT_FALSE(lr.is_discarded()) << lease_before;
  EXPECT_EQ(lr["cache_id"].get<std::string>(), TrimmedFile(a.cache + "/cache-id"));
  EXPECT_FALSE(lr["released"].get<bool>());

  // The writer was not disturbed; its clean unmount releases the lease.
  ASSERT_TRUE(WriteFile(a.P("g"), "after the read-only mount", true, 0));
  ASSERT_TRUE(a.Unmount());
  lr = LeaseRecordOf(a);
  EXPECT_TRUE(lr["released"].get<bool>()) << lr.dump();
  t0 = Clock::now();
  ASSERT_TRUE(b.Start());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "a released lease needs no wait";
  EXPECT_TRUE(ReadFile(b.P("f")) == data);
  EXPECT_EQ(ReadFile(b.P("g")), "after the read-only mount");
  ASSERT_TRUE(b.Unmount());
  // And the same cache remounts at once too (its own released lease).
  t0 = Clock::now();
  ASSERT_TRUE(b.Start());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  ASSERT_TRUE(b.Unmount());
}

// kill -9 of the writer leaves its lease unreleased: a new mount watches it,
// sees it is not renewed for lease + renew interval, and proceeds.
TEST_F(MountTest, KilledWritersLeaseExpires) {
  const std::vector<std::string> lease = {"--lease", "2s", "--lease-renew", "500ms"};
  auto& a = NewMount(lease, "a");
  ASSERT_TRUE(a.Start());
  std::string data = RandomBytes(70000, 78);
  ASSERT_TRUE(WriteFile(a.P("f"), data, true, 0));
  ASSERT_TRUE(a.Sync(60));
  a.Kill9();
  auto lr = LeaseRecordOf(a);
  ASSERT_FALSE(lr.is_discarded());
  EXPECT_FALSE(lr["released"].get<bool>());

  auto& b = NewMount(lease, "b");
  b.backend = a.backend;
  auto t0 = Clock::now();
  ASSERT_TRUE(b.Start());
  auto waited = Clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(2000)) << "the dead lease must be watched first";
  EXPECT_LT(waited, std::chrono::seconds(15));
  EXPECT_TRUE(ReadFile(b.P("f")) == data);
  lr = LeaseRecordOf(b);
  EXPECT_EQ(lr["cache_id"].get<std::string>(), TrimmedFile(b.cache + "/cache-id"));
  ASSERT_TRUE(b.Unmount());
}

// --take-over of a live writer: the new mount proceeds at once; the old one
// notices at its next renewal, stops writing to the grid and answers EROFS;
// what the new writer stores is what a fresh cache then sees.
TEST_F(MountTest, TakeOverFencesTheRunningWriter) {
  const std::vector<std::string> lease = {"--lease", "2s", "--lease-renew", "500ms"};
  auto& a = NewMount(lease, "a");
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(WriteFile(a.P("from_a"), "A", true, 0));
  ASSERT_TRUE(a.Sync(60));
  std::vector<std::string> take = lease;
  take.push_back("--take-over");
  auto& b = NewMount(take, "b");
  b.backend = a.backend;
  auto t0 = Clock::now();
  ASSERT_TRUE(b.Start());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "--take-over does not wait";
  ASSERT_TRUE(WriteFile(b.P("from_b"), "B", true, 0));
  ASSERT_TRUE(b.Sync(60));
  // a's next renewal (every 500 ms) finds the lease names b's cache.
  std::string got;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    int fd = ::open(a.P("late").c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd < 0 && errno == EROFS) break;
    if (fd >= 0) {
      ::close(fd);
      ::unlink(a.P("late").c_str());
    }
    ASSERT_LT(Clock::now(), deadline) << "the old writer was not fenced";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ReadFile(a.P("from_a")), "A");  // still readable
  EXPECT_FALSE(a.Sync(5)) << "a fenced mount stores nothing";
  std::string head = ReadFile(a.backend + "/meta/fsmeta.head");
  ASSERT_TRUE(a.Unmount());
  EXPECT_EQ(ReadFile(a.backend + "/meta/fsmeta.head"), head) << "the fenced unmount wrote a head";
  auto lr = LeaseRecordOf(b);
  EXPECT_EQ(lr["cache_id"].get<std::string>(), TrimmedFile(b.cache + "/cache-id"));
  EXPECT_FALSE(lr["released"].get<bool>()) << "the fenced mount released b's lease";
  ASSERT_TRUE(b.Unmount());
  auto& f = NewMount({}, "f");
  f.backend = a.backend;
  ASSERT_TRUE(f.Start());
  EXPECT_EQ(ReadFile(f.P("from_a")), "A");
  EXPECT_EQ(ReadFile(f.P("from_b")), "B");
  ASSERT_TRUE(f.Unmount());
}

long EnvLong(const char* name, long def) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  return std::strtol(v, nullptr, 10);
}

// A block cut by a truncate and written again while the uploader is still
// sending its old bytes (found by RandomOpsAgainstModel, seed 20261130): the
// rewritten block was queued with the generation the old one had (each
// block counted its own from 1), so the upload's commit matched it, recorded
// the OLD bytes' segment for it and took it off the queue: the new bytes
// never reached the grid and a fresh cache read the old ones. The nodes are
// stopped while the upload is in flight, so the order is certain.
TEST_F(MountTest, BlockRewrittenWhileItsOldBytesUploadIsNeverRecordedWithThem) {
  ZdbCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartZdbCluster(root_, &cluster));
  auto& zdbs = cluster.zdbs;
  std::vector<std::string> args = cluster.args;
  args.insert(args.end(), {"--block-size", "64KiB", "--read-timeout", "30s"});
  auto& m = NewMount(args, "a");
  m.backend = "";
  ASSERT_TRUE(m.Start());
  // Three blocks, each written once (generation 1 under the old counting).
  std::string old_bytes = RandomBytes(3 * 65536 - 100, 1);
  ASSERT_TRUE(WriteFile(m.P("f"), old_bytes, false, 1));
  for (auto& z : zdbs) z->Pause();
  bool in_flight = false;
  for (int i = 0; i < 300 && !in_flight; i++) {
    auto call = m.Stats()["backend_call"];
    in_flight = call.is_object() && call["what"] == "segment";
    if (!in_flight) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!in_flight) {
    for (auto& z : zdbs) z->Resume();
    FAIL() << "the upload of f never started: " << m.Stats().dump();
  }
  // Cut to nothing and write blocks 0 and 1 again (close flushes them into
  // the metadata with new generations), while the old bytes are in flight.
  std::string new_bytes = RandomBytes(65536 + 5168, 2);
  ASSERT_TRUE(WriteFile(m.P("f"), new_bytes, false, 2));
  for (auto& z : zdbs) z->Resume();
  ASSERT_TRUE(m.Sync(60)) << m.Stats().dump();
  EXPECT_EQ(DescribeDiff(ReadFile(m.P("f")), new_bytes), "") << "the same cache";
  ASSERT_TRUE(m.Unmount());
  // A fresh cache reads only what the grid has.
  auto& f = NewMount(args, "b");
  f.backend = "";
  ASSERT_TRUE(f.Start());
  EXPECT_EQ(DescribeDiff(ReadFile(f.P("f")), new_bytes), "") << "a fresh cache, from the grid";
  ASSERT_TRUE(f.Unmount());
}

// fsx-like: random operations on a small tree (the root, d0, d1; names from
// a pool of 24), each checked against an in-memory model, with syncs,
// remounts over the same cache, remounts over a fresh cache (after a sync:
// only what was synced is on the backend) and dropped kernel caches. Block
// size 64 KiB (= the slab slot) and a 1 MiB cache, so writes cross blocks,
// files spill out of and shrink below the slab, and blocks get evicted.
// Bounded by QSTOR_FSX_OPS (1500) and QSTOR_FSX_SECONDS (90); seed
// QSTOR_FSX_SEED. On a mismatch: the seed, the op and the ops before it.
TEST_F(MountTest, RandomOpsAgainstModel) {
  const uint64_t seed = static_cast<uint64_t>(EnvLong("QSTOR_FSX_SEED", 20261130));
  const long max_ops = EnvLong("QSTOR_FSX_OPS", 1500);
  const long max_seconds = EnvLong("QSTOR_FSX_SECONDS", 90);
  if (std::chrono::seconds(max_seconds + 150) > HangWatchdog::Budget()) {
    watchdog_->Stop();
    watchdog_ = std::make_unique<HangWatchdog>("MountTest.RandomOpsAgainstModel",
                                               std::chrono::seconds(max_seconds + 150));
  }
  const std::vector<std::string> mount_args = {"--block-size", "64KiB", "--cache-size", "1MiB",
                                               "--segment-size", "1MiB"};
  auto& m = NewMount(mount_args);
  ASSERT_TRUE(m.Start());
  const std::vector<std::string> dirs = {"", "d0", "d1"};
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    ASSERT_EQ(::mkdir(m.P(d).c_str(), 0755), 0);
  }
  std::vector<std::string> pool;
  for (const auto& d : dirs) {
    for (int i = 0; i < 8; i++) pool.push_back((d.empty() ? "" : d + "/") + "f" + std::to_string(i));
  }
  const size_t kMaxSize = (3 << 20) / 2;  // 1.5 MiB
  const uint64_t kBlk = 64 << 10;

  // The model: names -> inode number (of the model), inode -> content.
  std::map<std::string, int> names;
  std::map<int, std::string> data;
  int next_id = 1;
  auto nlink_of = [&](int id) {
    int n = 0;
    for (const auto& [nm, i] : names) n += i == id;
    return n;
  };

  enum Op {
    kCreate, kWrite, kTruncate, kAppend, kReadAll, kReadRange, kRename, kUnlink, kLink,
    kFsync, kReaddir, kStat, kSync, kRemount, kRemountFresh, kDropCaches, kNumOps
  };
  const char* op_names[kNumOps] = {"create", "write", "truncate", "append", "read_all",
                                   "read_range", "rename", "unlink", "link", "fsync",
                                   "readdir", "stat", "sync", "remount", "remount_fresh",
                                   "drop_caches"};
  // Weights in tenths: about one remount and one fresh-cache remount per
  // 100-150 ops.
  std::discrete_distribution<int> pick_op(
      {90, 200, 60, 60, 120, 120, 50, 30, 30, 40, 50, 60, 20, 8, 6, 20});
  std::mt19937_64 rng(seed);
  std::map<int, long> counts;
  std::vector<std::string> history;  // every op's description
  int fresh_caches = 0;
  std::string failure;

  auto rand_name = [&](bool existing) -> std::string {
    if (existing) {
      if (names.empty()) return "";
      auto it = names.begin();
      std::advance(it, static_cast<long>(rng() % names.size()));
      return it->first;
    }
    return pool[rng() % pool.size()];
  };
  // Write length and offset: small in the slot, across a block boundary,
  // anywhere, or past the end (a hole).
  auto rand_range = [&](size_t size, uint64_t* off, uint64_t* len) {
    switch (rng() % 4) {
      case 0:
        *off = rng() % kBlk;
        *len = 1 + rng() % 4096;
        break;
      case 1:
        *off = (1 + rng() % 8) * kBlk - (1 + rng() % 4096);
        *len = 2 + rng() % 8192;
        break;
      case 2:
        *off = rng() % kMaxSize;
        *len = 1 + rng() % (200 << 10);
        break;
      default:
        *off = size + rng() % 100000;
        *len = 1 + rng() % 70000;
        break;
    }
    if (*off >= kMaxSize) *off = rng() % kMaxSize;
    *len = std::min<uint64_t>(*len, kMaxSize - *off);
    if (*len == 0) *len = 1;
  };
  auto pwrite_all = [](int fd, const std::string& buf, uint64_t off) {
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(off + done));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  };
  auto errno_str = [](const std::string& what) {
    return what + ": " + std::strerror(errno);
  };
  // The whole tree against the model: listings (with lstat of each entry:
  // type, size, nlink), then every file's content. `list_first`: the
  // listing loads the inodes (READDIRPLUS) before the reads.
  auto verify_all = [&](bool list_first, const std::string& what) -> std::string {
    auto check_lists = [&]() -> std::string {
      for (const auto& d : dirs) {
        std::map<std::string, std::string> want, got;  // name -> "size/nlink" or "dir"
        for (const auto& [nm, id] : names) {
          size_t slash = nm.rfind('/');
          std::string parent = slash == std::string::npos ? "" : nm.substr(0, slash);
          if (parent != d) continue;
          want[nm.substr(slash == std::string::npos ? 0 : slash + 1)] =
              std::to_string(data[id].size()) + "/" + std::to_string(nlink_of(id));
        }
        if (d.empty()) {
          for (const auto& sub : dirs) {
            if (!sub.empty()) want[sub] = "dir";
          }
        }
        DIR* dp = ::opendir(m.P(d).c_str());
        if (dp == nullptr) return errno_str("opendir /" + d);
        std::vector<std::string> entries;
        while (struct dirent* e = ::readdir(dp)) {
          std::string n = e->d_name;
          if (n != "." && n != "..") entries.push_back(n);
        }
        ::closedir(dp);
        for (const auto& n : entries) {
          struct stat st {};
          std::string rel = d.empty() ? n : d + "/" + n;
          if (::lstat(m.P(rel).c_str(), &st) != 0) return errno_str(what + ": lstat " + rel);
          got[n] = S_ISDIR(st.st_mode) ? "dir"
                                       : std::to_string(st.st_size) + "/" +
                                             std::to_string(st.st_nlink);
        }
        if (got != want) {
          std::string s = what + ": listing of /" + d + " (name=size/nlink) is";
          for (const auto& [k, v] : got) s += " " + k + "=" + v;
          s += "; the model has";
          for (const auto& [k, v] : want) s += " " + k + "=" + v;
          return s;
        }
      }
      return "";
    };
    if (list_first) {
      std::string e = check_lists();
      if (!e.empty()) return e;
    }
    for (const auto& [nm, id] : names) {
      std::string diff = DescribeDiff(ReadFile(m.P(nm)), data[id]);
      if (!diff.empty()) return what + ": " + nm + ": " + diff;
    }
    if (!list_first) return check_lists();
    return "";
  };

  const auto t0 = Clock::now();
  long op_index = 0;
  for (; op_index < max_ops && Clock::now() - t0 < std::chrono::seconds(max_seconds);
       op_index++) {
    int op = pick_op(rng);
    std::ostringstream desc;
    desc << "#" << op_index << " " << op_names[op];
    std::string err;
    switch (op) {
      case kCreate: {
        std::string nm = rand_name(false);
        size_t size = 0;
        switch (rng() % 3) {
          case 0: size = 0; break;
          case 1: size = 1 + rng() % kBlk; break;
          default: size = rng() % (400 << 10); break;
        }
        std::string content = RandomBytes(size, rng());
        desc << " " << nm << " size=" << size << (names.count(nm) ? " (O_TRUNC of existing)" : "");
        if (!WriteFile(m.P(nm), content, false, rng())) {
          err = errno_str("create " + nm);
          break;
        }
        if (!names.count(nm)) names[nm] = next_id++;
        data[names[nm]] = content;
        break;
      }
      case kWrite:
      case kAppend: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        std::string& d = data[names[nm]];
        uint64_t off = 0, len = 0;
        rand_range(d.size(), &off, &len);
        if (op == kAppend) {
          off = d.size();
          if (off >= kMaxSize) break;
          len = std::min<uint64_t>(len, kMaxSize - off);
        }
        std::string buf = RandomBytes(len, rng());
        desc << " " << nm << " off=" << off << " len=" << len << " (size " << d.size();
        int fd = ::open(m.P(nm).c_str(), op == kAppend ? O_WRONLY | O_APPEND : O_WRONLY);
        if (fd < 0) {
          err = errno_str("open " + nm);
          break;
        }
        bool ok = op == kAppend ? ::write(fd, buf.data(), len) == static_cast<ssize_t>(len)
                                : pwrite_all(fd, buf, off);
        int e = errno;
        ::close(fd);
        if (!ok) {
          errno = e;
          err = errno_str("write " + nm);
          break;
        }
        if (d.size() < off + len) d.resize(off + len, '\0');
        d.replace(off, len, buf);
        desc << " -> " << d.size() << ")";
        break;
      }
      case kTruncate: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        std::string& d = data[names[nm]];
        static const uint64_t marks[] = {0, 1, kBlk - 1, kBlk, kBlk + 1, 2 * kBlk, 5 * kBlk + 7};
        uint64_t to = 0;
        switch (rng() % 3) {
          case 0: to = rng() % (d.size() + 1); break;
          case 1: to = std::min<uint64_t>(kMaxSize, d.size() + rng() % 300000); break;
          default: to = marks[rng() % std::size(marks)]; break;
        }
        bool by_fd = rng() % 2 == 0;
        desc << " " << nm << " " << d.size() << " -> " << to << (by_fd ? " (ftruncate)" : "");
        int rc;
        if (by_fd) {
          int fd = ::open(m.P(nm).c_str(), O_RDWR);
          rc = fd < 0 ? -1 : ::ftruncate(fd, static_cast<off_t>(to));
          if (fd >= 0) ::close(fd);
        } else {
          rc = ::truncate(m.P(nm).c_str(), static_cast<off_t>(to));
        }
        if (rc != 0) {
          err = errno_str("truncate " + nm);
          break;
        }
        d.resize(to, '\0');
        break;
      }
      case kReadAll: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        desc << " " << nm;
        std::string diff = DescribeDiff(ReadFile(m.P(nm)), data[names[nm]]);
        if (!diff.empty()) err = nm + ": " + diff;
        break;
      }
      case kReadRange: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        const std::string& d = data[names[nm]];
        uint64_t off = 0, len = 0;
        rand_range(d.size(), &off, &len);
        desc << " " << nm << " off=" << off << " len=" << len << " (size " << d.size() << ")";
        int fd = ::open(m.P(nm).c_str(), O_RDONLY);
        if (fd < 0) {
          err = errno_str("open " + nm);
          break;
        }
        std::string got(len, '\0');
        size_t done = 0;
        while (done < len) {
          ssize_t n = ::pread(fd, got.data() + done, len - done, static_cast<off_t>(off + done));
          if (n < 0) {
            err = errno_str("pread " + nm);
            break;
          }
          if (n == 0) break;
          done += static_cast<size_t>(n);
        }
        ::close(fd);
        if (!err.empty()) break;
        got.resize(done);
        std::string want = off < d.size() ? d.substr(off, len) : "";
        std::string diff = DescribeDiff(got, want);
        if (!diff.empty()) err = nm + " range at " + std::to_string(off) + ": " + diff;
        break;
      }
      case kRename: {
        std::string from = rand_name(true);
        if (from.empty()) break;
        std::string to = rand_name(false);
        desc << " " << from << " -> " << to << (names.count(to) ? " (replacing)" : "");
        if (::rename(m.P(from).c_str(), m.P(to).c_str()) != 0) {
          err = errno_str("rename " + from + " " + to);
          break;
        }
        // POSIX: renaming onto another link of the same inode does nothing.
        if (from != to && !(names.count(to) && names[to] == names[from])) {
          if (names.count(to)) {
            int old = names[to];
            names.erase(to);
            if (nlink_of(old) == 0) data.erase(old);
          }
          names[to] = names[from];
          names.erase(from);
        }
        break;
      }
      case kUnlink: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        desc << " " << nm;
        if (::unlink(m.P(nm).c_str()) != 0) {
          err = errno_str("unlink " + nm);
          break;
        }
        int id = names[nm];
        names.erase(nm);
        if (nlink_of(id) == 0) data.erase(id);
        break;
      }
      case kLink: {
        std::string from = rand_name(true);
        std::string to = rand_name(false);
        if (from.empty() || names.count(to)) {
          desc << " (skipped: no file, or " << to << " exists)";
          break;
        }
        desc << " " << from << " -> " << to;
        if (::link(m.P(from).c_str(), m.P(to).c_str()) != 0) {
          err = errno_str("link " + from + " " + to);
          break;
        }
        names[to] = names[from];
        break;
      }
      case kFsync: {
        std::string nm = rand_name(true);
        if (nm.empty()) break;
        desc << " " << nm;
        int fd = ::open(m.P(nm).c_str(), O_RDWR);
        if (fd < 0 || ::fsync(fd) != 0) err = errno_str("fsync " + nm);
        if (fd >= 0) ::close(fd);
        break;
      }
      case kReaddir: {
        // Listings only (lstat of every entry); no reads.
        std::string d = dirs[rng() % dirs.size()];
        desc << " /" << d;
        std::map<std::string, std::string> want, got;
        for (const auto& [nm, id] : names) {
          size_t slash = nm.rfind('/');
          std::string parent = slash == std::string::npos ? "" : nm.substr(0, slash);
          if (parent == d) {
            want[nm.substr(slash == std::string::npos ? 0 : slash + 1)] =
                std::to_string(data[id].size());
          }
        }
        if (d.empty()) {
          for (const auto& sub : dirs) {
            if (!sub.empty()) want[sub] = "dir";
          }
        }
        DIR* dp = ::opendir(m.P(d).c_str());
        if (dp == nullptr) {
          err = errno_str("opendir /" + d);
          break;
        }
        while (struct dirent* e = ::readdir(dp)) {
          std::string n = e->d_name;
          if (n == "." || n == "..") continue;
          struct stat st {};
          std::string rel = d.empty() ? n : d + "/" + n;
          if (::lstat(m.P(rel).c_str(), &st) != 0) {
            got[n] = "<lstat failed>";
          } else {
            got[n] = S_ISDIR(st.st_mode) ? "dir" : std::to_string(st.st_size);
          }
        }
        ::closedir(dp);
        if (got != want) {
          err = "listing of /" + d + " (name=size) is";
          for (const auto& [k, v] : got) err += " " + k + "=" + v;
          err += "; the model has";
          for (const auto& [k, v] : want) err += " " + k + "=" + v;
        }
        break;
      }
      case kStat: {
        std::string nm = rand_name(false);
        desc << " " << nm;
        struct stat st {};
        int rc = ::stat(m.P(nm).c_str(), &st);
        if (!names.count(nm)) {
          if (rc == 0 || errno != ENOENT) err = nm + ": stat of a removed name did not fail ENOENT";
          break;
        }
        int id = names[nm];
        if (rc != 0) {
          err = errno_str("stat " + nm);
        } else if (st.st_size != static_cast<off_t>(data[id].size()) ||
                   st.st_nlink != static_cast<nlink_t>(nlink_of(id))) {
          err = nm + ": stat says size " + std::to_string(st.st_size) + " nlink " +
                std::to_string(st.st_nlink) + ", the model " + std::to_string(data[id].size()) +
                " and " + std::to_string(nlink_of(id));
        }
        break;
      }
      case kSync:
        if (!m.Sync(120)) err = "sync failed: " + m.Stats().dump();
        break;
      case kRemount:
        if (!m.Unmount()) {
          err = "unmount failed";
        } else if (!m.Start()) {
          err = "mount failed";
        }
        break;
      case kRemountFresh: {
        bool list_first = rng() % 2 == 0;
        desc << " (cache-" << fresh_caches + 1 << (list_first ? ", listed first" : ", read by path")
             << ")";
        if (!m.Sync(120)) {
          err = "sync failed: " + m.Stats().dump();
        } else if (!m.Unmount()) {
          err = "unmount failed";
        } else {
          m.cache = root_ + "/cache-" + std::to_string(++fresh_caches);
          if (!m.Start()) {
            err = "mount over a fresh cache failed";
          } else {
            err = verify_all(list_first, "after the fresh-cache remount");
          }
        }
        break;
      }
      case kDropCaches:
        RunCmd("echo 3 > /proc/sys/vm/drop_caches 2>/dev/null");
        break;
    }
    counts[op]++;
    history.push_back(desc.str());
    if (!err.empty()) {
      failure = err;
      break;
    }
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count();
  std::ostringstream summary;
  summary << "fsx seed " << seed << ": " << op_index + (failure.empty() ? 0 : 1) << " ops in "
          << elapsed << " s, " << names.size() << " names, " << fresh_caches
          << " fresh caches; per kind:";
  for (const auto& [op, n] : counts) summary << " " << op_names[op] << "=" << n;
  std::printf("%s\n", summary.str().c_str());
  if (!failure.empty()) {
    std::string last;
    const size_t shown = std::getenv("QSTOR_FSX_HISTORY") != nullptr ? history.size() : 30;
    for (size_t i = history.size() > shown ? history.size() - shown : 0; i < history.size(); i++) {
      last += "    " + history[i] + "\n";
    }
    FAIL() << "seed " << seed << " (QSTOR_FSX_SEED), op " << history.back() << ": " << failure
           << "\n  " << summary.str() << "\n  the last " << std::min<size_t>(shown, history.size())
           << " ops:\n" << last;
  }
  // At the end, always: sync, a fresh cache listed before it is read, and a
  // remount of that cache read by path.
  ASSERT_TRUE(m.Sync(120)) << m.Stats().dump();
  ASSERT_TRUE(m.Unmount());
  m.cache = root_ + "/cache-final";
  ASSERT_TRUE(m.Start());
  std::string e = verify_all(true, "final fresh cache, listed first");
  ASSERT_EQ(e, "") << "seed " << seed;
  ASSERT_TRUE(m.Unmount());
  ASSERT_TRUE(m.Start());
  e = verify_all(false, "final fresh cache remounted, read by path");
  ASSERT_EQ(e, "") << "seed " << seed;
  ASSERT_TRUE(m.Unmount());
}

}  // namespace
