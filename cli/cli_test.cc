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

// with_stderr: capture stdout and stderr together, else stdout only.
// only_stderr: capture stderr only.
CmdResult Qstor(const std::string& args, bool with_stderr = true, bool only_stderr = false) {
  const char* bin = std::getenv("QSTOR_BIN");
  std::string cmd = std::string(bin ? bin : "qstor") + " " + args +
                    (only_stderr ? " 2>&1 >/dev/null" : with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string kSrc = QSTOR_SOURCE_DIR;

TEST(CliTest, VersionAndHelp) {
  CmdResult v = Qstor("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("qstor ", 0), 0u) << v.out;
  CmdResult h = Qstor("--help");
  EXPECT_EQ(h.code, 0);
  for (const char* cmd : {"init", "validate", "diff", "apply", "list", "status", "destroy",
                          "wallet", "mount", "umount", "recover", "monitor", "devnet", "zdb"}) {
    EXPECT_NE(h.out.find(std::string("  ") + cmd), std::string::npos) << cmd;
  }
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
