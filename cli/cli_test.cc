// Runs the real qstor binary (env QSTOR_BIN) and checks exit codes and output.
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/progress.h"
#endif

namespace {

struct CmdResult {
  int code;
  std::string out;  // stdout and stderr together
};

// Runs `sh -c script` and captures what it prints on stdout (the script
// redirects stderr as it needs).
CmdResult Shell(const std::string& script) {
  FILE* p = popen(script.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// with_stderr: capture stdout and stderr together, else stdout only.
// only_stderr: capture stderr only.
CmdResult Qstor(const std::string& args, bool with_stderr = true, bool only_stderr = false) {
  const char* bin = std::getenv("QSTOR_BIN");
  std::string cmd = std::string(bin ? bin : "qstor") + " " + args +
                    (only_stderr ? " 2>&1 >/dev/null" : with_stderr ? " 2>&1" : " 2>/dev/null");
  return Shell(cmd);
}

const std::string kSrc = QSTOR_SOURCE_DIR;

TEST(CliTest, VersionAndHelp) {
  CmdResult v = Qstor("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("qstor ", 0), 0u) << v.out;
  CmdResult h = Qstor("--help");
  EXPECT_EQ(h.code, 0);
  for (const char* cmd : {"init", "validate", "diff", "apply", "list", "status", "destroy",
                          "wallet", "mount", "umount", "recover", "monitor", "devnet", "zdb",
                          "login", "whoami"}) {
    EXPECT_NE(h.out.find(std::string("  ") + cmd), std::string::npos) << cmd;
  }
}

// Completions and the manual page come from the CLI definitions: bash
// really completes (the script is sourced and _qstor run on sample lines),
// fish lists every command, and groff reads the page without a warning.
TEST(CliTest, CompletionAndManPageFollowTheCommandDefinitions) {
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr);
  const std::string dir = ::testing::TempDir() + "/qstor-completion-" + std::to_string(::getpid());
  ASSERT_EQ(Shell("mkdir -p '" + dir + "' && '" + bin + "' completion bash > '" + dir +
                  "/qstor.bash' && '" + bin + "' completion zsh > '" + dir + "/_qstor' && '" +
                  bin + "' completion fish > '" + dir + "/qstor.fish' && '" + bin + "' man > '" +
                  dir + "/qstor.1'")
                .code,
            0);
  auto complete = [&](const std::string& words) {
    // COMP_WORDS as bash splits the line; the last word is the one completed.
    CmdResult r = Shell("cd '" + kSrc + "' && bash -c 'source \"" + dir +
                        "/qstor.bash\"; COMP_WORDS=(" + words +
                        "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _qstor; echo \"${COMPREPLY[*]}\"' "
                        "2>&1");
    EXPECT_EQ(r.code, 0) << words << ": " << r.out;
    return r.out.substr(0, r.out.find('\n'));
  };
  EXPECT_EQ(complete("qstor ap"), "apply");
  EXPECT_EQ(complete("qstor apply --au"), "--auto-approve");
  EXPECT_EQ(complete("qstor apply --pru"), "--prune");
  EXPECT_EQ(complete("qstor fs re"), "repair");
  EXPECT_EQ(complete("qstor fs repair --passphrase-f"), "--passphrase-fd --passphrase-file")
      << "the command's own flag once, and the global ones";
  EXPECT_EQ(complete("qstor devnet st"), "start stop status");
  EXPECT_EQ(complete("qstor who"), "whoami");
  EXPECT_EQ(complete("qstor wallet ex"), "export-mnemonic");
  EXPECT_EQ(complete("qstor init --from-c"), "--from-connect");
  EXPECT_EQ(complete("qstor devnet approve --fo"), "--forge");
  EXPECT_EQ(complete("qstor --js"), "--json");
  EXPECT_EQ(complete("qstor validate examples/stor"), "examples/storage.yaml");
  EXPECT_EQ(complete("qstor nosuch"), "") << "nothing is made up";

  CmdResult zsh = Shell("head -1 '" + dir + "/_qstor'");
  EXPECT_EQ(zsh.out, "#compdef qstor\n");
  EXPECT_EQ(Shell("bash -n '" + dir + "/qstor.bash'").code, 0);
  CmdResult fish = Shell("cat '" + dir + "/qstor.fish'");
  for (const char* cmd : {"apply", "diff", "destroy", "mount", "status", "recover", "version"}) {
    EXPECT_NE(fish.out.find(std::string("'__fish_use_subcommand' -a ") + cmd + " -d '"),
              std::string::npos)
        << cmd;
  }
  EXPECT_NE(fish.out.find("-n '__fish_seen_subcommand_from fs; and not __fish_seen_subcommand_from "
                          "stats check repair gc' -a repair"),
            std::string::npos)
      << fish.out.substr(0, 2000);
  EXPECT_NE(fish.out.find("-n '__fish_seen_subcommand_from apply' -l auto-approve -s y -d "),
            std::string::npos);

  CmdResult warn = Shell("groff -man -Tutf8 -ww -z '" + dir + "/qstor.1' 2>&1");
  EXPECT_EQ(warn.code, 0);
  EXPECT_EQ(warn.out, "") << "groff warnings about qstor(1)";
  CmdResult page = Shell("groff -man -Tascii -P-cbou '" + dir + "/qstor.1' 2>/dev/null");
  for (const char* want : {"NAME", "SYNOPSIS", "GLOBAL OPTIONS", "EXIT STATUS", "ENVIRONMENT",
                           "qstor apply [OPTIONS] [files...]", "--prune", "--passphrase-command",
                           "QSTOR_PASSPHRASE_FILE", "fs repair"}) {
    EXPECT_NE(page.out.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(page.out.find("--no-color VALUE"), std::string::npos) << "a flag takes no value";
  Shell("rm -rf '" + dir + "'");
}

TEST(CliTest, BadCommandLineIsAUsageError) {
  EXPECT_EQ(Qstor("").code, 64);
  EXPECT_EQ(Qstor("no-such-command").code, 64);
  EXPECT_EQ(Qstor("--log-level loud validate x").code, 64);
  EXPECT_EQ(Qstor("validate").code, 64);
}

TEST(CliTest, CommandsNotBuiltSaySoAndExit3) {
  // Whatever is still marked not built must say so plainly and exit 3; once a
  // command is built it stops appearing here.
  CmdResult h = Qstor("--help");
  int checked = 0;
  size_t pos = 0;
  while ((pos = h.out.find("[not built yet", pos)) != std::string::npos) {
    size_t line_start = h.out.rfind('\n', pos) + 1;
    std::string name = h.out.substr(line_start + 2, h.out.find(' ', line_start + 2) - line_start - 2);
    if (!name.empty() && name.back() == ',') name.pop_back();
    CmdResult r = Qstor(name + " some-argument --some-flag");
    EXPECT_EQ(r.code, 3) << name << ": " << r.out;
    EXPECT_NE(r.out.find("not built yet"), std::string::npos) << name;
    ++checked;
    ++pos;
  }
  SUCCEED() << checked << " commands still not built";
}

TEST(CliTest, ValidateExitCodes) {
  EXPECT_EQ(Qstor("validate " + kSrc + "/examples/storage.yaml " + kSrc +
                  "/examples/multi-location.yaml").code, 0);
  CmdResult bad = Qstor("validate " + kSrc + "/tests/manifests/bad/unknown-nested-key.yaml");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("unknown-nested-key.yaml:9:5: error: spec.redundancy.dataShard: unknown "
                         "key \"dataShard\" (did you mean \"dataShards\"?)"),
            std::string::npos) << bad.out;
  // Several files: every error of every file is reported.
  CmdResult many = Qstor("validate " + kSrc + "/tests/manifests/bad/k-zero.yaml " + kSrc +
                   "/tests/manifests/bad/wrong-kind.yaml " + kSrc + "/examples/storage.yaml");
  EXPECT_EQ(many.code, 1);
  EXPECT_NE(many.out.find("k-zero.yaml:9:17: error"), std::string::npos) << many.out;
  EXPECT_NE(many.out.find("wrong-kind.yaml:2:7: error"), std::string::npos) << many.out;
  EXPECT_NE(many.out.find("2 error(s)"), std::string::npos) << many.out;
  EXPECT_EQ(Qstor("validate /nonexistent.yaml").code, 1);
}

// Every command that reads a manifest or plan stops at the 1 MiB limit, also
// for files without an end: a FIFO whose writer never closes (apply used to
// wait for its end, then read it a second time), and /dev/zero (apply used to
// read it whole: gigabytes).
TEST(CliTest, InputFilesAreReadBoundedEvenWithoutAnEnd) {
  const char* bin_env = std::getenv("QSTOR_BIN");
  const std::string bin = bin_env ? bin_env : "qstor";
  const std::string dir = ::testing::TempDir() + "qstor-bounded-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir + "/home").c_str()), 0);
  for (const char* cmd : {"apply", "diff", "validate"}) {
    const std::string fifo = dir + "/" + cmd + ".fifo";
    ASSERT_EQ(std::system(("mkfifo " + fifo).c_str()), 0);
    // 1 MiB + 64 KiB, then the writer holds the FIFO open for 30 s: a reader
    // that waits for the end times out (124).
    CmdResult r = Shell("(head -c 1114112 /dev/zero; sleep 30) > " + fifo + " & QSTOR_HOME=" + dir +
                        "/home timeout 15 " + bin + " " + cmd + " " + fifo +
                        " </dev/null 2>&1; rc=$?; kill $! 2>/dev/null; exit $rc");
    EXPECT_NE(r.code, 0) << cmd << ": " << r.out;
    EXPECT_NE(r.code, 124) << cmd << " waited for the end of the FIFO: " << r.out;
    EXPECT_NE(r.out.find(fifo), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("than 1048576 bytes, the limit for a"), std::string::npos)
        << cmd << ": " << r.out;
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST(CliTest, ApplyOfDevZeroStopsAtTheLimit) {
  const std::string dir = ::testing::TempDir() + "qstor-zero-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  const char* bin_env = std::getenv("QSTOR_BIN");
  for (const char* cmd : {"apply", "diff", "validate"}) {
    CmdResult r = Shell("QSTOR_HOME=" + dir + " timeout 15 " + (bin_env ? bin_env : "qstor") +
                        " " + cmd + " /dev/zero </dev/null 2>&1");
    EXPECT_NE(r.code, 0) << cmd << ": " << r.out;
    EXPECT_NE(r.code, 124) << cmd << " kept reading /dev/zero: " << r.out;
    EXPECT_NE(r.out.find("/dev/zero gives more than 1048576 bytes"), std::string::npos)
        << cmd << ": " << r.out;
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST(CliTest, ValidateJsonIsMachineReadable) {
  CmdResult r = Qstor("--json validate " + kSrc + "/examples/storage.yaml " + kSrc +
                "/tests/manifests/bad/k-zero.yaml", /*with_stderr=*/false);
  EXPECT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["valid"], false);
  ASSERT_EQ(j["diagnostics"].size(), 1u);
  EXPECT_EQ(j["diagnostics"][0]["line"], 9);
  EXPECT_EQ(j["diagnostics"][0]["column"], 17);
  EXPECT_EQ(j["diagnostics"][0]["severity"], "error");

  CmdResult ok = Qstor("--json validate " + kSrc + "/examples/storage.yaml", false);
  EXPECT_EQ(ok.code, 0);
  auto k = nlohmann::json::parse(ok.out);
  ASSERT_EQ(k["manifests"].size(), 1u);
  EXPECT_EQ(k["manifests"][0]["spec"]["capacityBytes"], 1ULL << 30);
  EXPECT_EQ(k["manifests"][0]["spec"]["redundancy"]["dataShards"], 4);
}

TEST(CliTest, PrintSchemaIsTheSchemaFile) {
  CmdResult r = Qstor("validate --print-schema", false);
  EXPECT_EQ(r.code, 0);
  auto printed = nlohmann::json::parse(r.out);
  FILE* f = std::fopen((kSrc + "/schema/storage.v1.schema.json").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) text.append(buf.data(), n);
  std::fclose(f);
  EXPECT_EQ(printed, nlohmann::json::parse(text));
}

TEST(CliTest, JsonLogFormatEmitsJsonLines) {
  // stdout goes to /dev/null: what is left is the log on stderr.
  CmdResult r = Qstor("--log-level debug --log-format json validate " + kSrc +
                      "/examples/storage.yaml", /*with_stderr=*/false, /*only_stderr=*/true);
  EXPECT_EQ(r.code, 0) << r.out;
  ASSERT_FALSE(r.out.empty());
  size_t start = 0, lines = 0;
  while (start < r.out.size()) {
    size_t end = r.out.find('\n', start);
    std::string line = r.out.substr(start, end - start);
    auto j = nlohmann::json::parse(line);  // throws (test fails) if not JSON
    EXPECT_EQ(j["level"], "debug");
    EXPECT_TRUE(j["msg"].is_string());
    ++lines;
    start = end == std::string::npos ? r.out.size() : end + 1;
  }
  EXPECT_GE(lines, 1u);
}

}  // namespace

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
// Display columns of a UTF-8 string.
size_t Cols(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(ProgressViewTest, BarLineCountsAndFitsTheWidth) {
  using qstor::cli::ProgressView;
  std::string l = ProgressView::BarLine(3, 10, "waiting for the nodes", 0,
                                        std::chrono::seconds(65), false, 80);
  EXPECT_NE(l.find("[######--------------]"), std::string::npos) << l;
  EXPECT_NE(l.find("  3/10 1:05"), std::string::npos) << l;
  EXPECT_NE(l.find("waiting for the nodes"), std::string::npos) << l;
  std::string full = ProgressView::BarLine(10, 10, "", 3, std::chrono::seconds(0), true, 80);
  std::string blocks;
  for (int i = 0; i < 20; i++) blocks += "█";
  EXPECT_NE(full.find("[" + blocks + "]"), std::string::npos) << full;
  EXPECT_NE(full.find("10/10"), std::string::npos) << full;
  // A long status is cut (on a code point boundary) to leave the last column free.
  std::string longs(300, 'x');
  longs += "é";
  for (int width : {30, 40, 60, 120}) {
    std::string cut = ProgressView::BarLine(1, 2, longs + longs, 1, std::chrono::seconds(5), true,
                                            width);
    EXPECT_LT(Cols(cut), static_cast<size_t>(width)) << width << ": " << cut;
  }
  EXPECT_EQ(ProgressView::BarLine(0, 0, "", 0, std::chrono::seconds(0), false, 80).find("[-"),
            4u);
}

TEST(ProgressViewTest, PlainLinesOffATerminalAndRedrawsOnOne) {
  using qstor::cli::ProgressView;
  qstor::reconciler::ApplyProgress p;
  p.step = "ready";
  p.done = 1;
  p.total = 2;
  p.message = "data[0]: namespace x ready on node 7";
  {
    std::ostringstream plain;
    ProgressView v(plain, false, false, 80);
    v.Step(p);
    v.Finish();
    EXPECT_EQ(plain.str(), "  data[0]: namespace x ready on node 7\n");
  }
  std::ostringstream live;
  {
    ProgressView v(live, true, false, 80);
    v.Step(p);
    v.Suspend();
    std::string at_suspend = live.str();
    // Suspended: the bar is cleared and the ticker does not draw.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(live.str(), at_suspend);
    v.Resume();
    v.Finish();
  }
  std::string o = live.str();
  EXPECT_NE(o.find("  data[0]: namespace x ready on node 7\n"), std::string::npos) << o;
  EXPECT_NE(o.find("\r\033[K  "), std::string::npos) << o;
  EXPECT_NE(o.find("  1/2 "), std::string::npos) << o;
  // It ends with the bar cleared.
  EXPECT_EQ(o.substr(o.size() - 4), "\r\033[K") << o;
}
#endif

#if defined(QSTOR_HAVE_FS_MOUNT)
// `qstor mount` over the local development backend on real FUSE mounts:
// needs root and /dev/fuse (like fs/mount/mount_test.cc).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

namespace sfs = std::filesystem;

class MountCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/fuse (real FUSE mounts)";
    }
    root_ = (sfs::temp_directory_path() /
             ("qstor-mount-cli-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    sfs::remove_all(root_);
    sfs::create_directories(root_ + "/backend");
    mnt_ = root_ + "/mnt";
    cache_ = root_ + "/cache";
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (IsFuse(mnt_) || IsDead(mnt_)) {
      (void)!std::system(("fusermount3 -u -z '" + mnt_ + "' >/dev/null 2>&1").c_str());
    }
    for (int p : pids_) {
      if (p > 0) ::kill(p, SIGKILL);
    }
    sfs::remove_all(root_);
  }

  static bool IsFuse(const std::string& path) {
    struct statfs sf {};
    return ::statfs(path.c_str(), &sf) == 0 && sf.f_type == 0x65735546;
  }
  static bool IsDead(const std::string& path) {
    struct statfs sf {};
    return ::statfs(path.c_str(), &sf) != 0 && (errno == ENOTCONN || errno == ECONNABORTED);
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  static bool WriteSynced(const std::string& path, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return false;
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
              ::fsync(fd) == 0;
    return ::close(fd) == 0 && ok;
  }
  std::string MountArgs() const {
    return "--json mount --local-backend " + root_ + "/backend --mountpoint " + mnt_ +
           " --cache-dir " + cache_ + " --cache-size 64MiB";
  }
  // Background mount; returns the pid of the mount process (0 on failure).
  int Mount(CmdResult* out = nullptr) {
    CmdResult r = Qstor(MountArgs());
    if (out) *out = r;
    EXPECT_EQ(r.code, 0) << r.out;
    if (r.code != 0) return 0;
    size_t end = r.out.find_last_not_of('\n');
    size_t start = r.out.rfind('\n', end);
    auto j = nlohmann::json::parse(r.out.substr(start == std::string::npos ? 0 : start + 1),
                                   nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("pid")) << r.out;
    if (!j.is_object() || !j.contains("pid")) return 0;
    int pid = j["pid"].get<int>();
    pids_.push_back(pid);
    EXPECT_TRUE(IsFuse(mnt_)) << "qstor mount returned before the mount was live";
    return pid;
  }
  // kill -9 and wait (bounded) until the process is gone or a zombie.
  static void Kill9(int pid) {
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    for (int i = 0; i < 200; i++) {
      std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
      size_t rp = stat.rfind(')');
      if (stat.empty() || (rp != std::string::npos && rp + 2 < stat.size() &&
                           (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X'))) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string root_, mnt_, cache_;
  std::vector<int> pids_;
};

// Issue 13 item 4: the mount of a killed process is dead (ENOTCONN or
// ECONNABORTED, or its root still answers stat from the attribute cache);
// mounting again right away detaches it and mounts, never "busy".
TEST_F(MountCliTest, RemountRightAfterKill9IsNeverBusy) {
  int pid = Mount();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WriteSynced(mnt_ + "/kept.txt", "still here\n"));
  for (int round = 0; round < 6; round++) {
    struct stat st {};
    ASSERT_EQ(::stat(mnt_.c_str(), &st), 0);  // the root's attributes in the kernel's cache
    ASSERT_EQ(::stat((mnt_ + "/kept.txt").c_str(), &st), 0);
    ASSERT_NO_FATAL_FAILURE(Kill9(pid));
    CmdResult r;
    pid = Mount(&r);
    ASSERT_GT(pid, 0) << "round " << round << ": " << r.out;
    EXPECT_EQ(r.out.find("busy"), std::string::npos) << "round " << round << ": " << r.out;
    EXPECT_EQ(ReadAll(mnt_ + "/kept.txt"), "still here\n") << "round " << round;
  }
  // A live mount is busy, and says whose.
  CmdResult busy = Qstor(MountArgs());
  EXPECT_EQ(busy.code, 1) << busy.out;
  EXPECT_NE(busy.out.find("is busy: a qstor mount (pid " + std::to_string(pid)),
            std::string::npos)
      << busy.out;
  CmdResult u = Qstor("umount " + mnt_);
  EXPECT_EQ(u.code, 0) << u.out;
}

// Issue 13 item 6: `qstor sync` of a plain directory (e.g. a mount that
// died and was detached) set an xattr there and said "synced".
TEST_F(MountCliTest, SyncRefusesAnythingButAQstorMountRoot) {
  const std::string plain = root_ + "/plain";
  sfs::create_directories(plain);
  CmdResult r = Qstor("sync " + plain);
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("is not the root of a qstor mount"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("synced"), std::string::npos) << r.out;
  char buf[64];
  EXPECT_LT(::getxattr(plain.c_str(), "trusted.qstor.sync", buf, sizeof buf), 0)
      << "nothing set on the plain directory";

  r = Qstor("sync " + root_ + "/no-such-dir");
  EXPECT_NE(r.code, 0) << r.out;

  int pid = Mount();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::mkdir((mnt_ + "/sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteSynced(mnt_ + "/sub/f", "x"));
  r = Qstor("sync " + mnt_ + "/sub");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("is not the root of a qstor mount"), std::string::npos) << r.out;
  r = Qstor("sync " + mnt_);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("synced " + mnt_), std::string::npos) << r.out;

  // The mount killed: its directory is dead, not synced.
  ASSERT_NO_FATAL_FAILURE(Kill9(pid));
  r = Qstor("sync " + mnt_);
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("synced"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("process is gone"), std::string::npos) << r.out;
}

// Issue 13 item 3: the cache holds plaintext and the inode table: every
// directory in it 0700, every file 0600, including meta.db (SQLite creates
// it 0644 & ~umask) and a cache made private after the fact.
TEST_F(MountCliTest, CacheFilesArePrivate) {
  ASSERT_GT(Mount(), 0);
  ASSERT_TRUE(sfs::create_directories(mnt_ + "/d"));
  ASSERT_TRUE(WriteSynced(mnt_ + "/small.txt", "small"));
  ASSERT_TRUE(WriteSynced(mnt_ + "/d/big.bin", std::string(300000, 'b')));
  CmdResult s = Qstor("sync " + mnt_);
  ASSERT_EQ(s.code, 0) << s.out;
  CmdResult u = Qstor("umount " + mnt_);
  ASSERT_EQ(u.code, 0) << u.out;

  auto check = [&](const std::string& when) {
    int files = 0;
    struct stat st {};
    ASSERT_EQ(::stat(cache_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u) << when << ": " << cache_;
    for (const auto& e : sfs::recursive_directory_iterator(cache_)) {
      ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
      if (S_ISDIR(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 07777, 0700u) << when << ": " << e.path();
      } else {
        files++;
        EXPECT_EQ(st.st_mode & 077, 0u) << when << ": " << e.path() << " mode " << std::oct
                                         << (st.st_mode & 07777);
      }
    }
    EXPECT_GT(files, 2) << when;
    EXPECT_TRUE(sfs::exists(cache_ + "/meta.db")) << when;
  };
  ASSERT_NO_FATAL_FAILURE(check("after the first mount"));

  // A cache left open by an older version: made private by the next mount.
  ::chmod(cache_.c_str(), 0755);
  ::chmod((cache_ + "/meta.db").c_str(), 0644);
  ::chmod((cache_ + "/data").c_str(), 0755);
  ASSERT_GT(Mount(), 0);
  EXPECT_EQ(ReadAll(mnt_ + "/small.txt"), "small");
  u = Qstor("umount " + mnt_);
  ASSERT_EQ(u.code, 0) << u.out;
  ASSERT_NO_FATAL_FAILURE(check("after a remount of a 0755/0644 cache"));
}

}  // namespace
#endif  // QSTOR_HAVE_FS_MOUNT
