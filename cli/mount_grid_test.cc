// End to end: a deployment on a real devnet (in process; real `qstor zdb
// serve` nodes), recorded in a state as `qstor apply` records it, mounted by
// the real qstor binary (QSTOR_BIN) from its manifest on a real FUSE mount;
// then a node down, `qstor fs check`, a wiped node replaced and `qstor fs
// repair`, and `qstor recover` into a fresh QSTOR_HOME with only the mnemonic.
// Needs root and /dev/fuse, like fs/mount/mount_test.cc.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/devnet_storage_test_util.h"
#include "fs/object_store.h"
#include "reconciler/keystore.h"
#include "reconciler/observe.h"
#include "reconciler/state.h"

namespace qstor::cli {
namespace {

namespace sfs = std::filesystem;
using Clock = std::chrono::steady_clock;
using reconciler::Role;
using Env = std::map<std::string, std::string>;  // value "" = unset

constexpr long kFuseSuperMagic = 0x65735546;
constexpr const char* kPass = "correct horse battery";

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

bool IsFuse(const std::string& path) {
  struct statfs sf {};
  return ::statfs(path.c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "<cannot open " + path + ": " + std::strerror(errno) + ">";
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool WriteAndFsync(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, std::min<size_t>(data.size() - off, 1 << 20));
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

// Starts qstor with `args` and `env` on top of this process's environment;
// stdout+stderr go to `out_fd`; `fd3` (if not empty) is readable on fd 3.
pid_t Spawn(const std::vector<std::string>& args, const Env& env, int out_fd,
            const std::string& fd3) {
  int p3[2] = {-1, -1};
  if (!fd3.empty()) {
    if (::pipe(p3) != 0) return -1;
    if (::write(p3[1], fd3.data(), fd3.size()) != static_cast<ssize_t>(fd3.size())) return -1;
    ::close(p3[1]);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) {
      if (v.empty()) {
        ::unsetenv(k.c_str());
      } else {
        ::setenv(k.c_str(), v.c_str(), 1);
      }
    }
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    if (p3[0] >= 0) ::dup2(p3[0], 3);
    ::close_range(p3[0] >= 0 ? 4 : 3, ~0U, 0);  // nothing of the test (devnet sockets) leaks
    std::vector<std::string> a = {std::getenv("QSTOR_BIN")};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (p3[0] >= 0) ::close(p3[0]);
  return pid;
}

// A manifest "e2e" (k=2, m=1, 3 metadata backends) of `capacity` mounted at
// mnt_ with a default cache, for the tests that run the real `qstor apply`.
void WriteApplyManifest(const std::string& path, const std::string& mnt,
                        const std::string& capacity, const std::string& cache_size) {
  std::ofstream f(path);
  f << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: e2e\n"
       "spec:\n  network: devnet\n  capacity: " << capacity
    << "\n  redundancy: {dataShards: 2, parityShards: 1}\n  metadata: {backends: 3}\n"
       "  mount:\n    path: " << mnt << "\n    cacheSize: " << cache_size
    << "\n    durability: local\n    uploadWithin: 10s\n";
}

struct CmdResult {
  int code = -1;
  std::string out;  // stdout + stderr
};

// Runs qstor to completion (at most `timeout`, then SIGKILL).
CmdResult Qstor(const std::vector<std::string>& args, const Env& env, const std::string& fd3 = "",
                std::chrono::seconds timeout = std::chrono::seconds(300)) {
  int p[2];
  if (::pipe(p) != 0) return {};
  pid_t pid = Spawn(args, env, p[1], fd3);
  ::close(p[1]);
  CmdResult r;
  auto deadline = Clock::now() + timeout;
  int status = 0;
  bool exited = false;
  // Read until EOF (every holder of the pipe is gone: a background mount
  // drops its copy once live), or until 10 s after the process exited.
  auto drain_until = Clock::time_point::max();
  for (;;) {
    struct pollfd pfd {p[0], POLLIN, 0};
    if (::poll(&pfd, 1, 20) > 0) {
      char buf[4096];
      ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n <= 0) break;
      r.out.append(buf, static_cast<size_t>(n));
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      drain_until = Clock::now() + std::chrono::seconds(10);
    }
    if (!exited && Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      exited = true;
      r.out += "\n<killed after timeout>";
      drain_until = Clock::now();
    }
    if (Clock::now() > drain_until) break;
  }
  if (!exited) ::waitpid(pid, &status, 0);
  ::close(p[0]);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (std::getenv("QSTOR_TEST_VERBOSE") != nullptr) {  // to see what each step printed
    std::string line = "$ qstor";
    for (const auto& x : args) line += " " + x;
    std::fprintf(stderr, "%s\n%s[exit %d]\n", line.c_str(), r.out.c_str(), r.code);
  }
  return r;
}

nlohmann::json LastJsonLine(const std::string& out) {
  size_t end = out.find_last_not_of("\n");
  if (end == std::string::npos) return nlohmann::json();
  size_t start = out.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return nlohmann::json::parse(out.substr(start, end - start + 1), nullptr, false);
}

const nlohmann::json* FindBackend(const nlohmann::json& report, const std::string& name) {
  if (!report.contains("backends")) return nullptr;
  for (const auto& b : report["backends"]) {
    if (b.value("name", "") == name) return &b;
  }
  return nullptr;
}

class MountGridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/fuse (real FUSE mounts)";
    }
    root_ = qstor::testing::FreshTempDir("mount-grid");
    Status st = net_.Start(root_ + "/devnet");
    ASSERT_TRUE(st.ok()) << st.ToString();
    home_ = root_ + "/home";
    mnt_ = root_ + "/mnt";
    cache_ = root_ + "/cache";
    manifest_ = root_ + "/storage.yaml";
    sfs::create_directories(home_);
  }

  void TearDown() override {
    for (const std::string& m : {mnt_, root_ + "/mnt2"}) {
      if (!m.empty() && IsFuse(m)) {
        std::string cmd = "fusermount3 -u -z '" + m + "' >/dev/null 2>&1";
        (void)!std::system(cmd.c_str());
      }
    }
    for (pid_t p : pids_) {
      if (p > 0 && ::kill(p, 0) == 0) ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, WNOHANG);
    }
    net_.Stop();
    if (!root_.empty()) sfs::remove_all(root_);
  }

  // The state `qstor apply` would have written, rebuilt from the grid.
  void SaveStateFromGrid(const std::string& home) {
    auto s = reconciler::RebuildStateFromGrid(net_.grid(), net_.twin_id(), "e2e", "devnet");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Status st = reconciler::SaveState(reconciler::StatePath(home, "devnet", "e2e"), *s);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  Env Home(const std::string& home) const {
    return {{"QSTOR_HOME", home},          {"QSTOR_PASSPHRASE", ""},
            {"QSTOR_MNEMONIC", ""},        {"QSTOR_DEVNET_DIR", net_.dir()},
            {"QSTOR_ZDB_PASSWORD", ""}};
  }

  // `qstor --json fs check|repair MANIFEST` with the passphrase on fd 3.
  std::pair<int, nlohmann::json> Fs(const std::string& verb, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--json", "fs", verb, manifest_, "--passphrase-fd", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    CmdResult r = Qstor(args, Home(home_), std::string(kPass) + "\n");
    nlohmann::json j = LastJsonLine(r.out);
    EXPECT_TRUE(j.is_object()) << "fs " << verb << ": " << r.out;
    return {r.code, j};
  }

  // What `qstor apply` does for the manifest "e2e": k=2, m=1 on nodes 1, 3,
  // 5; metadata on 2, 4, 6; another storage "other" on node 8; the keystore,
  // the state and the manifest. Contract ids by slot index.
  void Deploy(std::map<uint32_t, uint64_t>* data_contract,
              std::map<uint32_t, uint64_t>* meta_contract) {
    const uint32_t data_nodes[] = {1, 3, 5};
    for (uint32_t i = 0; i < 3; ++i) {
      auto c = net_.DeployNamespace("e2e", Role::kData, i, 2, 1, kCap, data_nodes[i]);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      (*data_contract)[i] = *c;
    }
    for (uint32_t i = 0; i < 3; ++i) {
      auto c = net_.DeployNamespace("e2e", Role::kMeta, i, 2, 1, kCap, 2 + 2 * i);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      (*meta_contract)[i] = *c;
    }
    ASSERT_TRUE(net_.DeployNamespace("other", Role::kData, 0, 1, 0, kCap, 8).ok());
    reconciler::KeystoreKdf fast{1, 1 << 20};
    ASSERT_TRUE(reconciler::WriteKeystore(reconciler::KeystorePath(home_), net_.words(), kPass,
                                          false, fast)
                    .ok());
    ASSERT_NO_FATAL_FAILURE(SaveStateFromGrid(home_));
    std::ofstream f(manifest_);
    f << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: e2e\n"
         "spec:\n  network: devnet\n  capacity: 1GiB\n"
         "  redundancy: {dataShards: 2, parityShards: 1}\n  metadata: {backends: 3}\n"
         "  mount:\n    path: " << mnt_ << "\n    cacheDir: " << cache_
      << "\n    cacheSize: 64MiB\n    durability: local\n    uploadWithin: 10s\n";
  }

  // `qstor --json mount MANIFEST` in the background; returns once live.
  void MountBackground() {
    CmdResult r = Qstor({"--json", "mount", manifest_, "--passphrase-fd", "3"}, Home(home_),
                        std::string(kPass) + "\n");
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(IsFuse(mnt_)) << "qstor mount returned before the mount was live";
    nlohmann::json j = LastJsonLine(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    pids_.push_back(static_cast<pid_t>(j["pid"].get<int64_t>()));
  }

  // What a user does first: the keystore (net_'s words), a manifest "e2e"
  // of `capacity` with a mount (64 MiB cache) and `qstor apply`, which
  // deploys and mounts. *env: that user's environment (passphrase set).
  void ApplyMounted(const std::string& capacity, Env* env) {
    reconciler::KeystoreKdf fast{1, 1 << 20};
    ASSERT_TRUE(reconciler::WriteKeystore(reconciler::KeystorePath(home_), net_.words(), kPass,
                                          false, fast)
                    .ok());
    WriteApplyManifest(manifest_, mnt_, capacity, "64MiB");
    *env = Home(home_);
    (*env)["QSTOR_PASSPHRASE"] = kPass;
    CmdResult a = Qstor({"apply", manifest_, "--auto-approve"}, *env);
    ASSERT_EQ(a.code, 0) << a.out;
    ASSERT_TRUE(IsFuse(mnt_)) << a.out;
  }

  static constexpr uint64_t kCap = 1ull << 30;
  std::string root_, home_, mnt_, cache_, manifest_;
  qstor::testing::DevnetTwin net_;
  std::vector<pid_t> pids_;
};

TEST_F(MountGridTest, MountCheckRepairAndRecoverFromTheMnemonic) {
  // --- The deployment (what `qstor apply` does).
  std::map<uint32_t, uint64_t> data_contract, meta_contract;
  ASSERT_NO_FATAL_FAILURE(Deploy(&data_contract, &meta_contract));

  // --- Clear errors before anything is mounted.
  {
    sfs::create_directories(root_ + "/empty-home");
    CmdResult r = Qstor({"mount", manifest_}, Home(root_ + "/empty-home"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("run `qstor apply " + manifest_ + "` first"), std::string::npos) << r.out;
    Env wrong = Home(home_);
    wrong["QSTOR_PASSPHRASE"] = "not the passphrase";
    r = Qstor({"mount", manifest_, "--foreground"}, wrong);
    EXPECT_EQ(r.code, 7) << "7: wrong passphrase\n" << r.out;
    EXPECT_NE(r.out.find("wrong passphrase"), std::string::npos) << r.out;
    EXPECT_FALSE(IsFuse(mnt_));
    r = Qstor({"mount", manifest_, "--name", "nope"}, Home(home_));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("no Storage document named \"nope\""), std::string::npos) << r.out;
    // What the manifest decides is not taken from a flag, and not ignored either.
    r = Qstor({"mount", manifest_, "--cache-size", "2GiB", "--durability", "grid"}, Home(home_));
    EXPECT_EQ(r.code, 64) << r.out;
    EXPECT_NE(r.out.find("the manifest decides --cache-size (spec.mount.cacheSize), --durability "
                         "(spec.mount.durability)"),
              std::string::npos)
        << r.out;
    EXPECT_FALSE(IsFuse(mnt_));
  }

  // --- Foreground mount (systemd style); write, sync, check healthy.
  const std::string a = RandomBytes((3 << 20) + 123, 1);
  {
    int log = ::open((root_ + "/fg.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(log, 0);
    // As systemd runs a Type=notify unit: a datagram socket in NOTIFY_SOCKET.
    const std::string notify_path = root_ + "/notify.sock";
    int notify = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(notify, 0);
    sockaddr_un na{};
    na.sun_family = AF_UNIX;
    ASSERT_LT(notify_path.size(), sizeof na.sun_path);
    std::memcpy(na.sun_path, notify_path.c_str(), notify_path.size() + 1);
    ASSERT_EQ(::bind(notify, reinterpret_cast<sockaddr*>(&na), sizeof na), 0) << std::strerror(errno);
    auto next_notification = [notify](int timeout_ms) {
      pollfd p{notify, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) != 1) return std::string();
      char buf[4096];
      ssize_t n = ::recv(notify, buf, sizeof buf, 0);
      return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    };
    Env fg_env = Home(home_);
    fg_env["NOTIFY_SOCKET"] = notify_path;
    pid_t fg = Spawn({"mount", manifest_, "--foreground", "--passphrase-fd", "3"}, fg_env,
                     log, std::string(kPass) + "\n");
    ::close(log);
    pids_.push_back(fg);
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!IsFuse(mnt_) && Clock::now() < deadline) {
      ASSERT_NE(::waitpid(fg, nullptr, WNOHANG), fg) << ReadAll(root_ + "/fg.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(IsFuse(mnt_)) << ReadAll(root_ + "/fg.log");
    const std::string ready = next_notification(30000);
    EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << "systemd is told once the mount serves: " << ready;
    EXPECT_NE(ready.find("MAINPID=" + std::to_string(fg)), std::string::npos) << ready;
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/a.bin", a));
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/hello.txt", "hello, grid\n"));
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, Home(home_));
    ASSERT_EQ(s.code, 0) << s.out;
    EXPECT_NE(s.out.find("grid:2+1 over 3 0-db backends"), std::string::npos) << s.out;

    auto [code, j] = Fs("check");
    EXPECT_EQ(code, 0) << j.dump(1);
    EXPECT_EQ(j["summary"]["status"], "healthy");
    EXPECT_GT(j["summary"]["segments"].get<int>(), 0);
    EXPECT_EQ(j["summary"]["degraded"], 0);
    ASSERT_EQ(j["backends"].size(), 6u);
    for (const auto& b : j["backends"]) EXPECT_EQ(b["state"], "up") << b.dump();
    EXPECT_EQ(j.dump().find(kPass), std::string::npos);
    // The live mount checked its cache: a.bin's blocks are cached and clean.
    ASSERT_TRUE(j["cache"].is_object()) << j.dump(1);
    EXPECT_EQ(j["cache"]["checked"], true) << j["cache"].dump();
    EXPECT_GT(j["cache"]["blocks_checked"].get<uint64_t>(), 0u) << j["cache"].dump();
    EXPECT_EQ(j["cache"]["damaged"], 0) << j["cache"].dump();

    // A cached block damaged on the local disk: `fs check --decode` finds it
    // (a WARNING; the grid is healthy, exit 0), drops the copy, and a.bin
    // reads back right, from the grid.
    std::string big;
    uintmax_t big_size = 0;
    for (const auto& e : sfs::recursive_directory_iterator(cache_ + "/data")) {
      if (e.is_regular_file() && e.path().filename() != "slab" && e.file_size() > big_size) {
        big = e.path().string();
        big_size = e.file_size();
      }
    }
    ASSERT_GE(big_size, a.size()) << "a.bin's cache file";
    {
      int fd = ::open(big.c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      std::string junk(5000, '\x5a');
      ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 200000), static_cast<ssize_t>(junk.size()));
      ::close(fd);
    }
    std::ofstream("/proc/sys/vm/drop_caches") << "3\n";  // reads of a.bin reach the mount
    CmdResult h = Qstor({"fs", "check", manifest_, "--decode", "--passphrase-fd", "3"},
                        Home(home_), std::string(kPass) + "\n");
    EXPECT_EQ(h.code, 0) << h.out;
    EXPECT_NE(h.out.find("cache (mount " + mnt_ + "): "), std::string::npos) << h.out;
    EXPECT_NE(h.out.find(" 1 damaged"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find("WARNING: 1 cached cop(ies) were bad"), std::string::npos) << h.out;
    EXPECT_TRUE(ReadAll(mnt_ + "/a.bin") == a) << "a.bin after its damaged cached block";
    auto [code2, j2] = Fs("check");
    EXPECT_EQ(code2, 0) << j2.dump(1);
    EXPECT_EQ(j2["cache"]["damaged"], 0) << "the copy was read again: " << j2["cache"].dump();

    // By the manifest, as the systemd unit's ExecStop does.
    CmdResult u = Qstor({"umount", manifest_}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
    EXPECT_NE(u.out.find("unmounted " + mnt_), std::string::npos) << u.out;
    int status = 0;
    ASSERT_EQ(::waitpid(fg, &status, 0), fg);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadAll(root_ + "/fg.log");
    EXPECT_EQ(next_notification(5000), "STOPPING=1");
    ::close(notify);
  }

  // --- A data node down, a fresh cache: the background mount returns only
  // once the mount is live, and everything is read back from the grid.
  ASSERT_TRUE(net_.NodeAction(3, "down").ok());
  sfs::remove_all(cache_);
  {
    CmdResult r = Qstor({"--json", "mount", manifest_, "--passphrase-fd", "3"}, Home(home_),
                        std::string(kPass) + "\n");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(IsFuse(mnt_)) << "qstor mount returned before the mount was live";
    nlohmann::json j = LastJsonLine(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["mounted"], true);
    pids_.push_back(static_cast<pid_t>(j["pid"].get<int64_t>()));
    EXPECT_TRUE(ReadAll(mnt_ + "/a.bin") == a) << "a.bin differs when read from the grid";
    EXPECT_EQ(ReadAll(mnt_ + "/hello.txt"), "hello, grid\n");

    CmdResult busy = Qstor({"mount", manifest_, "--passphrase-fd", "3"}, Home(home_),
                           std::string(kPass) + "\n");
    EXPECT_EQ(busy.code, 1) << busy.out;
    EXPECT_NE(busy.out.find("is busy"), std::string::npos) << busy.out;

    // kill -9 of the mount process leaves a dead FUSE mount (ENOTCONN);
    // `qstor mount` detaches it and mounts again, and the data is there.
    pid_t dead = pids_.back();
    ASSERT_EQ(::kill(dead, SIGKILL), 0);
    for (int i = 0; i < 100 && ::kill(dead, 0) == 0; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    struct stat gone {};
    int rc = ::stat(mnt_.c_str(), &gone);
    int err = errno;
    EXPECT_NE(rc, 0);
    EXPECT_EQ(err, ENOTCONN) << "the killed mount should answer ENOTCONN";
    CmdResult again = Qstor({"--json", "mount", manifest_, "--passphrase-fd", "3"}, Home(home_),
                            std::string(kPass) + "\n");
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_TRUE(IsFuse(mnt_));
    nlohmann::json ja = LastJsonLine(again.out);
    ASSERT_TRUE(ja.is_object()) << again.out;
    pids_.push_back(static_cast<pid_t>(ja["pid"].get<int64_t>()));
    EXPECT_TRUE(ReadAll(mnt_ + "/a.bin") == a) << "a.bin differs after the remount";

    auto [code, c] = Fs("check");
    EXPECT_EQ(code, 4) << c.dump(1);
    EXPECT_EQ(c["summary"]["status"], "degraded");
    EXPECT_GT(c["summary"]["degraded"].get<int>(), 0);
    EXPECT_EQ(c["summary"]["lost"], 0);
    const nlohmann::json* down = FindBackend(c, "data1@node3");
    ASSERT_NE(down, nullptr) << c.dump(1);
    EXPECT_EQ((*down)["state"], "down");
    EXPECT_GT((*down)["shards"]["unreachable"].get<int>(), 0);

    // With m=1 and a node down, nothing new can be stored (a segment needs
    // k+1 shards), so the final sync gives up after --timeout.
    CmdResult u = Qstor({"umount", mnt_, "--timeout", "5s"}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
    EXPECT_FALSE(IsFuse(mnt_));
  }
  ASSERT_TRUE(net_.NodeAction(3, "up").ok());
  {
    auto [code, c] = Fs("check");
    EXPECT_EQ(code, 0) << c.dump(1);
  }

  // --- A data node wiped: degraded; repair needs somewhere to put the
  // shards, so the slot is redeployed on node 7 (what apply does for a lost
  // namespace) and `fs repair` rebuilds onto it.
  ASSERT_TRUE(net_.NodeAction(5, "wipe").ok());
  {
    auto [code, c] = Fs("check");
    EXPECT_EQ(code, 4) << c.dump(1);
    EXPECT_EQ(c["summary"]["lost"], 0);
    EXPECT_EQ(c["summary"]["degraded"], c["summary"]["segments"]);
    const nlohmann::json* wiped = FindBackend(c, "data2@node5");
    ASSERT_NE(wiped, nullptr) << c.dump(1);
    EXPECT_EQ((*wiped)["state"], "error") << wiped->dump();
    EXPECT_NE((*wiped)["last_error"].get<std::string>().find("Namespace not found"),
              std::string::npos) << wiped->dump();
    EXPECT_EQ((*wiped)["shards"]["ok"], 0);
    // Human output: the verdict and the exit code say what to do.
    CmdResult h = Qstor({"fs", "check", manifest_, "--passphrase-fd", "3"}, Home(home_),
                        std::string(kPass) + "\n");
    EXPECT_EQ(h.code, 4) << h.out;
    EXPECT_NE(h.out.find("DEGRADED"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find("qstor fs repair " + manifest_), std::string::npos) << h.out;
  }
  ASSERT_TRUE(net_.Cancel(data_contract[2]).ok());
  ASSERT_TRUE(net_.DeployNamespace("e2e", Role::kData, 2, 2, 1, kCap, 7).ok());
  ASSERT_NO_FATAL_FAILURE(SaveStateFromGrid(home_));
  {
    auto [code, r] = Fs("repair");
    EXPECT_EQ(code, 0) << r.dump(1);
    EXPECT_EQ(r["before"]["status"], "degraded");
    EXPECT_GT(r["repair"]["repaired"].get<int>(), 0);
    EXPECT_EQ(r["repair"]["failed"], 0);
    EXPECT_EQ(r["after"]["status"], "healthy");
    const nlohmann::json* fresh = FindBackend(r, "data2@node7");
    ASSERT_NE(fresh, nullptr) << r.dump(1);
    EXPECT_GT((*fresh)["shards"]["ok"].get<int>(), 0);
    auto [ccode, c] = Fs("check", {"--decode"});
    EXPECT_EQ(ccode, 0) << c.dump(1);
    EXPECT_EQ(c["summary"]["healthy"], c["summary"]["segments"]);
  }

  // --- A new machine: an empty QSTOR_HOME and the 24 words.
  const std::string home2 = root_ + "/home2", mnt2 = root_ + "/mnt2";
  Env fresh = Home(home2);
  fresh["QSTOR_MNEMONIC"] = net_.words();
  fresh["QSTOR_PASSPHRASE"] = "a new passphrase";
  {
    CmdResult r = Qstor({"recover", "--mount", mnt2}, fresh);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("e2e, other"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--name"), std::string::npos) << r.out;
    EXPECT_FALSE(IsFuse(mnt2));
    EXPECT_FALSE(sfs::exists(reconciler::KeystorePath(home2)));
  }
  {
    CmdResult r = Qstor({"recover", "--name", "e2e", "--mount", mnt2}, fresh);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(IsFuse(mnt2));
    EXPECT_NE(r.out.find("twin " + std::to_string(net_.twin_id())), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("data[2]  node 7"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(net_.words().substr(0, 20)), std::string::npos) << "words printed";
    EXPECT_TRUE(sfs::exists(reconciler::KeystorePath(home2)));
    auto st = reconciler::LoadState(reconciler::StatePath(home2, "devnet", "e2e"));
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->namespaces.size(), 6u);
    std::string got = ReadAll(mnt2 + "/a.bin");
    EXPECT_EQ(got.size(), a.size());
    EXPECT_TRUE(got == a) << "a.bin differs after recover";
    EXPECT_EQ(ReadAll(mnt2 + "/hello.txt"), "hello, grid\n");
    CmdResult u = Qstor({"umount", mnt2}, fresh);
    EXPECT_EQ(u.code, 0) << u.out;
  }
  // The recovered keystore and state work for the other commands.
  {
    Env later = Home(home2);
    later["QSTOR_PASSPHRASE"] = "a new passphrase";
    CmdResult r = Qstor({"fs", "check", manifest_}, later);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("HEALTHY"), std::string::npos) << r.out;
  }
}

// Garbage made on purpose, `qstor fs gc`; a metadata namespace wiped and
// redeployed in its slot, `qstor fs check` / `fs repair` of the metadata
// replicas; the files read back through the restored metadata backend.
TEST_F(MountGridTest, GcAndMetadataReplicaRepair) {
  std::map<uint32_t, uint64_t> data_contract, meta_contract;
  ASSERT_NO_FATAL_FAILURE(Deploy(&data_contract, &meta_contract));
  auto stats = [&]() {
    CmdResult r = Qstor({"--json", "fs", "stats", mnt_}, Home(home_));
    nlohmann::json j = LastJsonLine(r.out);
    EXPECT_TRUE(j.is_object()) << r.out;
    return j;
  };
  auto sync = [&]() {
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, Home(home_));
    ASSERT_EQ(s.code, 0) << s.out;
  };

  // --- Two files in two segments; one is deleted while a data node is down,
  // so its shard there cannot be deleted.
  const std::string a = RandomBytes((2 << 20) + 77, 2);
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/a.bin", a));
  ASSERT_NO_FATAL_FAILURE(sync());
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/gone.bin", RandomBytes(1 << 20, 3)));
  ASSERT_NO_FATAL_FAILURE(sync());
  const int64_t deleted_before = stats()["deleted_segments"].get<int64_t>();
  ASSERT_TRUE(net_.NodeAction(1, "down").ok());
  ASSERT_EQ(::unlink((mnt_ + "/gone.bin").c_str()), 0);
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (stats()["deleted_segments"].get<int64_t>() == deleted_before && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GT(stats()["deleted_segments"].get<int64_t>(), deleted_before) << stats().dump();
  {
    CmdResult u = Qstor({"umount", mnt_, "--timeout", "5s"}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
  }
  ASSERT_TRUE(net_.NodeAction(1, "up").ok());
  // The metadata snapshot could not be stored with the node down: store it now.
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  ASSERT_NO_FATAL_FAILURE(sync());
  {
    CmdResult u = Qstor({"umount", mnt_}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
  }

  // --- A shard no segment references (a crash between shard writes and the
  // metadata commit), written through the storage engine with the real keys.
  auto state = reconciler::LoadState(reconciler::StatePath(home_, "devnet", "e2e"));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  auto layout = reconciler::LayoutFromState(*state, net_.identity());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  auto to_backends = [](const std::vector<reconciler::BackendSpec>& specs) {
    std::vector<fs::Backend> out;
    for (const auto& sp : specs) {
      out.push_back(fs::Backend{sp.name, sp.host, sp.port, sp.ns, sp.password, sp.labels});
    }
    return out;
  };
  fs::FsKeys keys{fs::SecretKey(net_.identity().DataKey()),
                  fs::SecretKey(net_.identity().MetadataKey())};
  fs::ObjectStoreOptions so;
  so.k = 2;
  so.m = 1;
  auto store =
      fs::ObjectStore::Open(keys, to_backends(layout->data), to_backends(layout->meta), so);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string orphan = (*store)->ShardKey("crashed-upload", 1, 0);
  ASSERT_TRUE((*store)->WriteShard("data2@node5", orphan, std::string(4000, 'o')).ok());
  store->reset();

  auto data_row = [](const nlohmann::json& j, const std::string& name) {
    for (const auto& b : j["backends"]) {
      if (b["name"] == name && b["role"] == "data") return b;
    }
    return nlohmann::json();
  };
  {
    // Within the grace period nothing is garbage: an upload in flight looks the same.
    auto [code, j] = Fs("gc", {"--dry-run"});
    EXPECT_EQ(code, 0) << j.dump(1);
    EXPECT_EQ(j["garbage"]["keys"], 0) << j.dump(1);
    EXPECT_GE(data_row(j, "data2@node5")["young"].get<int>(), 1) << j.dump(1);
  }
  uint64_t found = 0;
  {
    auto [code, j] = Fs("gc", {"--dry-run", "--grace", "0s"});
    EXPECT_EQ(code, 0) << j.dump(1);
    EXPECT_EQ(j["dry_run"], true);
    EXPECT_EQ(j["deleted"]["keys"], 0);
    found = j["garbage"]["keys"].get<uint64_t>();
    EXPECT_GE(data_row(j, "data2@node5")["garbage"].get<int>(), 1) << j.dump(1);
    EXPECT_GE(data_row(j, "data2@node5")["garbage_bytes"].get<int>(), 4000) << j.dump(1);
    // The shard of gone.bin's segment left on the node that was down.
    EXPECT_GE(data_row(j, "data0@node1")["garbage"].get<int>(), 1) << j.dump(1);
    int tombstones = 0;
    for (const auto& it : j["items"]) tombstones += it["role"] == "meta" ? 1 : 0;
    EXPECT_GE(tombstones, 3) << j.dump(1);  // gone.bin's segment, on each replica
    // Human output names what it would do.
    CmdResult h = Qstor({"fs", "gc", manifest_, "--dry-run", "--grace", "0s", "--passphrase-fd",
                         "3"},
                        Home(home_), std::string(kPass) + "\n");
    EXPECT_EQ(h.code, 0) << h.out;
    EXPECT_NE(h.out.find("DRY RUN"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find(orphan), std::string::npos) << h.out;
  }
  {
    auto [code, j] = Fs("gc", {"--grace", "0s"});
    EXPECT_EQ(code, 0) << j.dump(1);
    EXPECT_EQ(j["complete"], true);
    EXPECT_EQ(j["deleted"]["keys"].get<uint64_t>(), found) << j.dump(1);
    EXPECT_EQ(j["deleted"]["bytes"], j["garbage"]["bytes"]);
    auto [code2, again] = Fs("gc", {"--dry-run", "--grace", "0s"});
    EXPECT_EQ(code2, 0);
    EXPECT_EQ(again["garbage"]["keys"], 0) << again.dump(1);
    auto [ccode, c] = Fs("check", {"--decode"});
    EXPECT_EQ(ccode, 0) << c.dump(1);
    EXPECT_EQ(c["summary"]["metadata"]["status"], "healthy") << c.dump(1);
  }

  // --- A metadata node wiped: its namespace is gone.
  ASSERT_TRUE(net_.NodeAction(4, "wipe").ok());
  {
    auto [code, c] = Fs("check");
    EXPECT_EQ(code, 4) << c.dump(1);
    EXPECT_EQ(c["summary"]["lost"], 0);
    EXPECT_EQ(c["summary"]["degraded"], 0);  // the data shards are all there
    EXPECT_EQ(c["summary"]["metadata"]["status"], "degraded");
    const nlohmann::json* m1 = FindBackend(c, "meta1@node4");
    ASSERT_NE(m1, nullptr) << c.dump(1);
    EXPECT_EQ((*m1)["metadata"]["status"], "unreachable") << m1->dump();
  }
  // The reconciler redeploys the slot on node 7: an empty namespace.
  ASSERT_TRUE(net_.Cancel(meta_contract[1]).ok());
  ASSERT_TRUE(net_.DeployNamespace("e2e", Role::kMeta, 1, 2, 1, kCap, 7).ok());
  ASSERT_NO_FATAL_FAILURE(SaveStateFromGrid(home_));
  int objects = 0;
  {
    auto [code, c] = Fs("check");
    EXPECT_EQ(code, 4) << c.dump(1);
    objects = c["summary"]["metadata"]["objects"].get<int>();
    EXPECT_GT(objects, 0);
    const nlohmann::json* m1 = FindBackend(c, "meta1@node7");
    ASSERT_NE(m1, nullptr) << c.dump(1);
    EXPECT_EQ((*m1)["metadata"]["missing"], objects) << m1->dump();
    EXPECT_EQ((*m1)["metadata"]["status"], fmt::format("missing {} objects", objects));
    CmdResult h = Qstor({"fs", "check", manifest_, "--passphrase-fd", "3"}, Home(home_),
                        std::string(kPass) + "\n");
    EXPECT_EQ(h.code, 4) << h.out;
    EXPECT_NE(h.out.find("metadata replicas are incomplete"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find(fmt::format("meta1@node7 missing {} objects", objects)),
              std::string::npos) << h.out;
  }
  {
    auto [code, r] = Fs("repair");
    EXPECT_EQ(code, 0) << r.dump(1);
    EXPECT_EQ(r["before"]["status"], "degraded");
    EXPECT_EQ(r["repair"]["metadata"]["restored"], objects) << r.dump(1);
    EXPECT_EQ(r["repair"]["metadata"]["restored_per_backend"]["meta1@node7"], objects);
    EXPECT_EQ(r["repair"]["metadata"]["failed"], 0);
    EXPECT_EQ(r["after"]["status"], "healthy");
    auto [ccode, c] = Fs("check");
    EXPECT_EQ(ccode, 0) << c.dump(1);
    const nlohmann::json* m1 = FindBackend(c, "meta1@node7");
    ASSERT_NE(m1, nullptr);
    EXPECT_EQ((*m1)["metadata"]["ok"], objects) << m1->dump();
  }

  // --- The files come back through the restored backend: with meta0 down,
  // every metadata read quorum (2 of 3) includes meta1@node7.
  ASSERT_TRUE(net_.NodeAction(2, "down").ok());
  sfs::remove_all(cache_);
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  EXPECT_TRUE(ReadAll(mnt_ + "/a.bin") == a) << "a.bin differs when read from the grid";
  EXPECT_FALSE(sfs::exists(mnt_ + "/gone.bin"));
  CmdResult u = Qstor({"umount", mnt_, "--timeout", "10s"}, Home(home_));
  EXPECT_EQ(u.code, 0) << u.out;
}

// "" when equal; else the sizes, the first differing offset and whether
// what was read is all zeros.
std::string DescribeDiff(const std::string& got, const std::string& want) {
  if (got == want) return "";
  size_t n = std::min(got.size(), want.size());
  size_t i = 0;
  while (i < n && got[i] == want[i]) i++;
  std::string s = fmt::format("read {} bytes (want {}), first difference at offset {}", got.size(),
                              want.size(), i);
  if (!got.empty() && got.find_first_not_of('\0') == std::string::npos) {
    s += ", the data read is ALL ZEROS";
  }
  if (got.rfind("<cannot open", 0) == 0) s = got;
  return s;
}

// Every file compared byte for byte; one failure listing the wrong ones.
int CheckFiles(const std::string& mnt, const std::map<std::string, std::string>& files,
               const std::string& step) {
  std::string report;
  int bad = 0;
  for (const auto& [name, data] : files) {
    std::string diff = DescribeDiff(ReadAll(mnt + "/" + name), data);
    if (diff.empty()) continue;
    bad++;
    report += fmt::format("    {} ({} bytes): {}\n", name, data.size(), diff);
  }
  if (bad > 0) {
    ADD_FAILURE() << step << ": " << bad << " of " << files.size() << " files read wrong:\n"
                  << report;
  }
  return bad;
}

// `ls -l DIR`: readdir (READDIRPLUS), lstat of every entry; names and sizes.
void ListLong(const std::string& mnt, const std::string& dir,
              const std::map<std::string, std::string>& files, const std::string& step) {
  std::map<std::string, int64_t> want, got;
  for (const auto& [name, data] : files) {
    want[name.substr(dir.size() + 1)] = static_cast<int64_t>(data.size());
  }
  for (const auto& e : sfs::directory_iterator(mnt + "/" + dir)) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0) << step << ": " << e.path();
    got[e.path().filename().string()] = st.st_size;
  }
  EXPECT_EQ(got, want) << step << ": listing (name -> size)";
}

// Issue 13 item 1 over the grid: 30 files written and synced through the
// deployment's own mount path (`qstor mount MANIFEST`), then a fresh cache:
// `ls -l`, every file read; a remount of that cache, every file read again.
// The small files (at most 64 KiB) live in the slab.
TEST_F(MountGridTest, ThirtyFilesFreshCacheListRemount) {
  std::map<uint32_t, uint64_t> data_contract, meta_contract;
  ASSERT_NO_FATAL_FAILURE(Deploy(&data_contract, &meta_contract));
  std::vector<size_t> sizes = {4096, 4097, 32768, 65535, 65536, 65537, 262144, 1 << 20};
  std::mt19937_64 rng(31);
  for (int i = 0; sizes.size() < 30; i++) {
    sizes.push_back(i % 2 == 0 ? 4096 + rng() % (65536 - 4096 + 1)
                               : 65537 + rng() % ((512 << 10) - 65537 + 1));
  }
  std::map<std::string, std::string> files;
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  ASSERT_EQ(::mkdir((mnt_ + "/d").c_str(), 0755), 0);
  for (size_t i = 0; i < sizes.size(); i++) {
    std::string name = fmt::format("d/f{:02}", i);
    files[name] = RandomBytes(sizes[i], 3100 + i);
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/" + name, files[name])) << name;
  }
  ASSERT_EQ(CheckFiles(mnt_, files, "right after writing"), 0);
  {
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, Home(home_));
    ASSERT_EQ(s.code, 0) << s.out;
    CmdResult u = Qstor({"umount", mnt_}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
  }
  sfs::remove_all(cache_);
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  ASSERT_NO_FATAL_FAILURE(ListLong(mnt_, "d", files, "fresh cache, ls -l"));
  CheckFiles(mnt_, files, "fresh cache, read after ls -l");
  {
    CmdResult u = Qstor({"umount", mnt_}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
  }
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  CheckFiles(mnt_, files, "the same cache remounted, read by path");
  CmdResult u = Qstor({"umount", mnt_}, Home(home_));
  EXPECT_EQ(u.code, 0) << u.out;
}

// Issue 13 item 5: a data namespace gone for good (its contract cancelled,
// not replaced yet). `recover` on a new machine and `qstor mount` both work
// with the k left, say DEGRADED plainly, read everything and take writes.
TEST_F(MountGridTest, RecoverAndWriteWithDataNamespacesGone) {
  std::map<uint32_t, uint64_t> data_contract, meta_contract;
  ASSERT_NO_FATAL_FAILURE(Deploy(&data_contract, &meta_contract));
  const std::string a = RandomBytes((1 << 20) + 77, 51);
  ASSERT_NO_FATAL_FAILURE(MountBackground());
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/a.bin", a));
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/small.txt", "small before\n"));
  {
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, Home(home_));
    ASSERT_EQ(s.code, 0) << s.out;
    CmdResult u = Qstor({"umount", mnt_}, Home(home_));
    ASSERT_EQ(u.code, 0) << u.out;
  }
  // data[2] (node 5) is gone: its contract cancelled.
  ASSERT_TRUE(net_.Cancel(data_contract[2]).ok());

  const std::string home2 = root_ + "/home2", mnt2 = root_ + "/mnt2";
  Env fresh = Home(home2);
  fresh["QSTOR_MNEMONIC"] = net_.words();
  fresh["QSTOR_PASSPHRASE"] = "a new passphrase";
  const std::string b = RandomBytes(300000, 52);
  {
    CmdResult r = Qstor({"recover", "--name", "e2e", "--mount", mnt2}, fresh);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(IsFuse(mnt2));
    EXPECT_NE(r.out.find("DEGRADED"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 missing: data[2]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("repaired by the next `qstor apply`"), std::string::npos) << r.out;
    EXPECT_TRUE(ReadAll(mnt2 + "/a.bin") == a) << "a.bin differs, read from 2 of 3 shards";
    EXPECT_EQ(ReadAll(mnt2 + "/small.txt"), "small before\n");
    ASSERT_TRUE(WriteAndFsync(mnt2 + "/b.bin", b));
    ASSERT_TRUE(WriteAndFsync(mnt2 + "/small.txt", "small after\n"));
    CmdResult s = Qstor({"sync", mnt2, "--timeout", "60s"}, fresh);
    EXPECT_EQ(s.code, 0) << "writes reach the 2 namespaces left: " << s.out;
    CmdResult u = Qstor({"umount", mnt2}, fresh);
    ASSERT_EQ(u.code, 0) << u.out;
  }
  // The first machine, its state brought up to date from the grid: `qstor
  // mount MANIFEST` over a fresh cache says DEGRADED too and reads the
  // files the other machine wrote, from the grid.
  ASSERT_NO_FATAL_FAILURE(SaveStateFromGrid(home_));
  sfs::remove_all(cache_);
  {
    CmdResult r = Qstor({"mount", manifest_, "--passphrase-fd", "3"}, Home(home_),
                        std::string(kPass) + "\n");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("DEGRADED"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("data[2]"), std::string::npos) << r.out;
    EXPECT_TRUE(ReadAll(mnt_ + "/a.bin") == a);
    EXPECT_TRUE(ReadAll(mnt_ + "/b.bin") == b) << "b.bin, written degraded, differs";
    EXPECT_EQ(ReadAll(mnt_ + "/small.txt"), "small after\n");
    CmdResult u = Qstor({"umount", mnt_}, Home(home_));
    EXPECT_EQ(u.code, 0) << u.out;
  }
}

// Whether any regular file under `dir` contains `needle`.
bool AnyFileContains(const std::string& dir, const std::string& needle) {
  std::error_code ec;
  if (!sfs::exists(dir, ec)) return false;
  for (const auto& e : sfs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec) && ReadAll(e.path().string()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Issue 13 item 3: `qstor destroy` left the cache (plaintext file bytes, a
// 0644 meta.db) and a new apply of the same name showed the old files, whose
// segments were gone. Now destroy removes the cache, and a new deployment of
// that name starts empty.
TEST_F(MountGridTest, DestroyRemovesTheCacheAndANewDeploymentStartsEmpty) {
  reconciler::KeystoreKdf fast{1, 1 << 20};
  ASSERT_TRUE(reconciler::WriteKeystore(reconciler::KeystorePath(home_), net_.words(), kPass,
                                        false, fast)
                  .ok());
  {
    // No cacheDir: the default $QSTOR_HOME/mount-cache/devnet/e2e.
    std::ofstream f(manifest_);
    f << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: e2e\n"
         "spec:\n  network: devnet\n  capacity: 1GiB\n"
         "  redundancy: {dataShards: 2, parityShards: 1}\n  metadata: {backends: 3}\n"
         "  mount:\n    path: " << mnt_ << "\n    cacheSize: 64MiB\n    durability: local\n"
         "    uploadWithin: 10s\n";
  }
  Env env = Home(home_);
  env["QSTOR_PASSPHRASE"] = kPass;
  const std::string cache = home_ + "/mount-cache/devnet/e2e";
  const std::string secret = "GHOST-" + RandomBytes(8, 61) + "-plaintext marker of the old files";
  std::string secret_hex;
  for (unsigned char ch : secret) secret_hex += fmt::format("{:02x}", ch);
  const std::string marker = "ghost-marker-" + secret_hex;
  {
    CmdResult r = Qstor({"apply", manifest_, "--auto-approve"}, env);
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(IsFuse(mnt_)) << r.out;
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/old.txt", marker + "\n"));
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/old.bin", RandomBytes(200000, 62) + marker));
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, env);
    ASSERT_EQ(s.code, 0) << s.out;
    ASSERT_TRUE(AnyFileContains(cache, marker)) << "the test's premise: plaintext in the cache";
  }
  {
    CmdResult r = Qstor({"destroy", manifest_, "--auto-approve"}, env);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_FALSE(IsFuse(mnt_)) << r.out;
    EXPECT_NE(r.out.find("Removed the cache " + cache), std::string::npos) << r.out;
    EXPECT_FALSE(sfs::exists(cache)) << r.out;
    EXPECT_FALSE(AnyFileContains(home_ + "/mount-cache", marker))
        << "plaintext of the destroyed storage left under " << home_ << "/mount-cache";
  }
  {
    CmdResult r = Qstor({"apply", manifest_, "--auto-approve"}, env);
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(IsFuse(mnt_)) << r.out;
    std::vector<std::string> names;
    for (const auto& e : sfs::directory_iterator(mnt_)) names.push_back(e.path().filename());
    EXPECT_TRUE(names.empty()) << "ghost files in the new deployment: " << fmt::format("{}", fmt::join(names, ", "));
    EXPECT_FALSE(sfs::exists(mnt_ + "/old.txt"));
    CmdResult u = Qstor({"umount", mnt_}, env);
    EXPECT_EQ(u.code, 0) << u.out;
  }
}

uint64_t DfBytes(const std::string& path) {
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) return 0;
  return static_cast<uint64_t>(sf.f_blocks) * static_cast<uint64_t>(sf.f_frsize);
}

// Issue 19 item 3: growing 1 GiB -> 3 GiB said "mounted and up to date"
// while df still showed 1.0G, and `diff` said "No changes". The running
// mount now takes the new size (and cache size) live; diff shows the
// mount's drift, --no-mount leaves it out.
TEST_F(MountGridTest, GrowReachesDfOfTheRunningMountAndDiffShowsMountDrift) {
  Env env;
  ASSERT_NO_FATAL_FAILURE(ApplyMounted("1GiB", &env));
  EXPECT_EQ(DfBytes(mnt_), 1ull << 30);
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/before.bin", RandomBytes(300000, 71)));
  CmdResult same = Qstor({"diff", manifest_, "--detailed-exitcode"}, env);
  EXPECT_EQ(same.code, 0) << "mounted as asked: no drift\n" << same.out;

  WriteApplyManifest(manifest_, mnt_, "3GiB", "128MiB");
  CmdResult d = Qstor({"diff", manifest_, "--detailed-exitcode"}, env);
  EXPECT_EQ(d.code, 2) << d.out;
  EXPECT_NE(d.out.find("Mount " + mnt_ + ": size 1 GiB -> 3 GiB, cache size 64 MiB -> 128 MiB; "
                       "apply changes it live."),
            std::string::npos)
      << d.out;
  CmdResult dj = Qstor({"--json", "diff", manifest_}, env);
  EXPECT_NE(dj.out.find(R"("type":"mount_drift")"), std::string::npos) << dj.out;
  CmdResult g = Qstor({"apply", manifest_, "--auto-approve"}, env);
  ASSERT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("resized live (size 1 GiB -> 3 GiB"), std::string::npos) << g.out;
  EXPECT_EQ(DfBytes(mnt_), 3ull << 30) << "df of the running mount after the grow";
  CmdResult st = Qstor({"--json", "fs", "stats", mnt_}, env);
  nlohmann::json sj = LastJsonLine(st.out);
  ASSERT_TRUE(sj.is_object()) << st.out;
  EXPECT_EQ(sj["capacity_bytes"], 3ull << 30);
  EXPECT_EQ(sj["cache"]["limit_bytes"], 128ull << 20);
  EXPECT_EQ(ReadAll(mnt_ + "/before.bin"), RandomBytes(300000, 71)) << "same mount, same files";
  CmdResult after = Qstor({"diff", manifest_, "--detailed-exitcode"}, env);
  EXPECT_EQ(after.code, 0) << after.out;

  // Another durability cannot change live: apply remounts.
  {
    std::string text = ReadAll(manifest_);
    text.replace(text.find("durability: local"), 17, "durability: grid");
    std::ofstream(manifest_) << text;
  }
  CmdResult dd = Qstor({"diff", manifest_, "--detailed-exitcode"}, env);
  EXPECT_EQ(dd.code, 2) << dd.out;
  EXPECT_NE(dd.out.find("durability local -> grid; apply remounts it"), std::string::npos)
      << dd.out;
  CmdResult ra = Qstor({"apply", manifest_, "--auto-approve"}, env);
  ASSERT_EQ(ra.code, 0) << ra.out;
  CmdResult rs = Qstor({"--json", "fs", "stats", mnt_}, env);
  nlohmann::json rj = LastJsonLine(rs.out);
  ASSERT_TRUE(rj.is_object()) << rs.out;
  EXPECT_EQ(rj["durability"], "grid") << ra.out;
  EXPECT_EQ(ReadAll(mnt_ + "/before.bin"), RandomBytes(300000, 71)) << "remounted, same files";
  EXPECT_EQ(Qstor({"diff", manifest_, "--detailed-exitcode"}, env).code, 0);

  CmdResult u = Qstor({"umount", mnt_}, env);
  ASSERT_EQ(u.code, 0) << u.out;
  CmdResult nm = Qstor({"diff", manifest_, "--detailed-exitcode"}, env);
  EXPECT_EQ(nm.code, 2) << nm.out;
  EXPECT_NE(nm.out.find("Mount " + mnt_ + ": not mounted; apply mounts it."), std::string::npos)
      << nm.out;
  EXPECT_EQ(Qstor({"diff", manifest_, "--detailed-exitcode", "--no-mount"}, env).code, 0);
  CmdResult again = Qstor({"apply", manifest_, "--auto-approve"}, env);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(DfBytes(mnt_), 3ull << 30) << "a new mount takes the manifest's size";
  EXPECT_EQ(Qstor({"umount", mnt_}, env).code, 0);
}

// Issue 19 item 2: when the namespaces were full, uploads failed with "No
// space left on this namespace" while `qstor sync` blamed "backends slow or
// down" and `status` said healthy. Both now name the cause.
TEST_F(MountGridTest, FullNamespacesAreNamedBySyncAndStatus) {
  Env env;
  ASSERT_NO_FATAL_FAILURE(ApplyMounted("16MiB", &env));  // each data namespace is 9 MiB
  // 24 MiB that do not compress: 12 MiB of shards per data namespace.
  ASSERT_TRUE(WriteAndFsync(mnt_ + "/big.bin", RandomBytes(24u << 20, 72)));
  CmdResult s = Qstor({"sync", mnt_, "--timeout", "20s"}, env);
  EXPECT_NE(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("namespace full"), std::string::npos) << s.out;
  EXPECT_EQ(s.out.find("backends slow or down"), std::string::npos) << s.out;
  CmdResult st = Qstor({"status", manifest_}, env);
  EXPECT_EQ(st.code, 2) << st.out;
  EXPECT_NE(st.out.find("uploads failing"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(": namespace full: "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("only in the local cache"), std::string::npos) << st.out;
  CmdResult j = Qstor({"--json", "fs", "stats", mnt_}, env);
  nlohmann::json sj = LastJsonLine(j.out);
  ASSERT_TRUE(sj.is_object()) << j.out;
  ASSERT_TRUE(sj["upload_failing"].is_object()) << j.out;
  EXPECT_EQ(sj["upload_failing"]["cause"], "namespace full") << j.out;
  (void)Qstor({"umount", mnt_, "--no-sync"}, env);
}

// Issue 19 item 1 with a mount: after a node died, `qstor apply` replaces its
// slot, unmounts (the old mount's uploads flushed to the grid), rebuilds the
// slot's shards with the fs repair engine, and only then mounts on the new
// backends. fs check is healthy after, status can lose 1 node (2+1) again,
// and the files read back through the new mount.
TEST_F(MountGridTest, ApplyRebuildsAReplacedSlotBetweenTheUnmountAndTheNewMount) {
  Env env;
  ASSERT_NO_FATAL_FAILURE(ApplyMounted("1GiB", &env));
  const std::string a = RandomBytes(300000, 71), b = RandomBytes(5000, 72);
  {
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/a.bin", a));
    ASSERT_TRUE(WriteAndFsync(mnt_ + "/b.txt", b));
    CmdResult s = Qstor({"sync", mnt_, "--timeout", "120s"}, env);
    ASSERT_EQ(s.code, 0) << s.out;
  }
  auto state = reconciler::LoadState(reconciler::StatePath(home_, "devnet", "e2e"));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  const uint32_t dead = state->Find(reconciler::Role::kData, 0)->node_id;
  ASSERT_TRUE(net_.NodeAction(dead, "down").ok());
  {
    CmdResult r = Qstor({"apply", manifest_, "--auto-approve"}, env);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("1 replaced"), std::string::npos) << r.out;
    const size_t remount = r.out.find("Remounting " + mnt_);
    const size_t rebuilt = r.out.find("Rebuild complete!");
    const size_t mounted = r.out.rfind("is mounted.");
    ASSERT_NE(remount, std::string::npos) << r.out;
    ASSERT_NE(rebuilt, std::string::npos) << r.out;
    ASSERT_NE(mounted, std::string::npos) << r.out;
    EXPECT_LT(remount, rebuilt) << r.out;
    EXPECT_LT(rebuilt, mounted) << "the rebuild runs before the new mount: " << r.out;
    EXPECT_TRUE(IsFuse(mnt_)) << r.out;
  }
  auto after = reconciler::LoadState(reconciler::StatePath(home_, "devnet", "e2e"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_NE(after->Find(reconciler::Role::kData, 0)->node_id, dead);
  EXPECT_TRUE(after->rebuild_slots.empty());
  CmdResult check = Qstor({"fs", "check", manifest_}, env);
  EXPECT_EQ(check.code, 0) << check.out;
  CmdResult st = Qstor({"--json", "status", manifest_}, env);
  auto sj = nlohmann::json::parse(st.out, nullptr, false);
  ASSERT_FALSE(sj.is_discarded()) << st.out;
  EXPECT_EQ(sj["storages"][0]["health"], "healthy") << st.out;
  EXPECT_EQ(sj["storages"][0]["can_lose_nodes"], 1) << st.out;
  EXPECT_EQ(sj["storages"][0]["segments_degraded"], 0) << st.out;
  for (const auto& [name, want] : {std::pair{"/a.bin", a}, std::pair{"/b.txt", b}}) {
    std::ifstream in(mnt_ + name, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got.size(), want.size()) << name;
    EXPECT_TRUE(got == want) << name << " differs after the rebuild";
  }
  CmdResult u = Qstor({"umount", mnt_}, env);
  EXPECT_EQ(u.code, 0) << u.out;
}

}  // namespace
}  // namespace qstor::cli
