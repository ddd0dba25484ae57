// QR codes: encode with libqrencode, render, and prove the renderings carry
// the exact bytes by decoding the PNGs with zbarimg (zbar-tools), a decoder
// nobody here wrote.
#include "reconciler/qr.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "reconciler/batch.h"

namespace qstor::reconciler {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "qstor-qr-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

bool HaveZbar() { return std::system("command -v zbarimg >/dev/null 2>&1") == 0; }

// Runs zbarimg in binary mode and returns exactly what it decoded.
std::string ZbarDecode(const std::string& png_path) {
  std::string out_path = png_path + ".out";
  std::string cmd = "zbarimg --raw -q -Sbinary '" + png_path + "' > '" + out_path + "' 2>/dev/null";
  int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd;
  std::ifstream f(out_path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Reads the terminal rendering back into a module matrix.
std::vector<std::vector<int>> ParseTerminal(const std::string& text, bool ansi) {
  std::vector<std::vector<int>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (ansi) {
      const std::string on = "\x1b[30;107m", off = "\x1b[0m";
      EXPECT_EQ(line.rfind(on, 0), 0u);
      EXPECT_EQ(line.substr(line.size() - off.size()), off);
      line = line.substr(on.size(), line.size() - on.size() - off.size());
    }
    std::vector<int> top, bottom;
    for (size_t i = 0; i < line.size();) {
      int t = 0, b = 0;
      if (line[i] == ' ') {
        i += 1;
      } else {
        std::string g = line.substr(i, 3);
        if (g == "\u2588") {
          t = b = 1;
        } else if (g == "\u2580") {
          t = 1;
        } else if (g == "\u2584") {
          b = 1;
        } else {
          ADD_FAILURE() << "unexpected glyph at " << i;
        }
        i += 3;
      }
      top.push_back(t);
      bottom.push_back(b);
    }
    rows.push_back(top);
    rows.push_back(bottom);
  }
  return rows;
}

TEST(Qr, CapacityIsVersion40AtLevelL) {
  auto big = EncodeQr(std::string(2953, 'x'));
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->version, 40);
  EXPECT_EQ(big->width, 177);
  auto small = EncodeQr("hello");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->version, 1);
  auto over = EncodeQr(std::string(2954, 'x'));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("2953"), std::string::npos);
  EXPECT_FALSE(EncodeQr("").ok());
}

TEST(Qr, TerminalRenderingHasEveryModuleAndTheQuietZone) {
  auto code = EncodeQr("threebot://signandpay/#https://127.0.0.1:1/api/x");
  ASSERT_TRUE(code.ok());
  for (bool ansi : {true, false}) {
    TerminalStyle style;
    style.ansi_colors = ansi;
    auto rows = ParseTerminal(RenderTerminal(*code, style), ansi);
    int size = code->width + 8;
    ASSERT_GE(static_cast<int>(rows.size()), size);
    for (int y = 0; y < size; ++y) {
      ASSERT_EQ(static_cast<int>(rows[y].size()), size);
      for (int x = 0; x < size; ++x) {
        int mx = x - 4, my = y - 4;
        bool d = mx >= 0 && my >= 0 && mx < code->width && my < code->width && code->dark(mx, my);
        // With colours glyphs are dark modules; without, light ones.
        EXPECT_EQ(rows[y][x], ansi ? d : !d) << x << "," << y << " ansi=" << ansi;
      }
    }
  }
}

TEST(Qr, SvgPathDrawsExactlyTheDarkModules) {
  auto code = EncodeQr("svg {\"node\":12}");
  ASSERT_TRUE(code.ok());
  std::string svg = RenderSvg(*code, 4, 4);
  EXPECT_NE(svg.find("viewBox=\"0 0 29 29\""), std::string::npos) << svg.substr(0, 300);
  EXPECT_NE(svg.find("width=\"116\""), std::string::npos);
  // Rasterize the path back: every "M<x> <y>h<run>v1h-<run>z" is one run.
  std::vector<int> grid(29 * 29, 0);
  size_t d = svg.find(" d=\"");
  ASSERT_NE(d, std::string::npos);
  std::string path = svg.substr(d + 4, svg.find('"', d + 4) - d - 4);
  int x = 0, y = 0, run = 0, back = 0, runs = 0;
  for (const char* p = path.c_str(); *p != '\0';) {
    int used = 0;
    ASSERT_EQ(std::sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &back, &used), 4) << p;
    ASSERT_EQ(run, back);
    for (int i = 0; i < run; ++i) grid[static_cast<size_t>(y * 29 + x + i)] = 1;
    p += used;
    ++runs;
  }
  EXPECT_GT(runs, 0);
  for (int yy = 0; yy < 29; ++yy) {
    for (int xx = 0; xx < 29; ++xx) {
      int mx = xx - 4, my = yy - 4;
      bool dark = mx >= 0 && my >= 0 && mx < code->width && my < code->width && code->dark(mx, my);
      EXPECT_EQ(grid[static_cast<size_t>(yy * 29 + xx)], dark ? 1 : 0) << xx << "," << yy;
    }
  }
}

TEST(Qr, PngsDecodeToTheExactBytesWithZbarimg) {
  if (!HaveZbar()) GTEST_SKIP() << "zbarimg (zbar-tools) is not installed";
  TempDir dir;
  std::mt19937_64 rng(42);
  // A sign-and-pay URI, text of several sizes, and random binary bytes
  // (all 256 values) up to the full 2953-byte capacity.
  std::vector<std::string> payloads;
  payloads.push_back("threebot://signandpay/#https://127.0.0.1:8080/api/6f1c");
  for (size_t n : {1u, 100u, 1000u, 2000u, 2953u}) {
    std::string text;
    for (size_t i = 0; i < n; ++i) text.push_back(static_cast<char>('!' + rng() % 94));
    payloads.push_back(text);
  }
  for (size_t n : {256u, 1500u, 2953u}) {
    std::string bin;
    for (size_t i = 0; i < n; ++i) bin.push_back(static_cast<char>(i < 256 ? i : rng() % 256));
    payloads.push_back(bin);
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    auto code = EncodeQr(payloads[i]);
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    auto png = RenderPng(*code, 3, 4);
    ASSERT_TRUE(png.ok());
    std::string path = dir.file("code" + std::to_string(i) + ".png");
    ASSERT_TRUE(WriteFileAtomic(path, *png).ok());
    std::string got = ZbarDecode(path);
    // In binary mode (-Sbinary) zbarimg writes the bytes with no newline.
    EXPECT_EQ(got.size(), payloads[i].size()) << "payload " << i;
    EXPECT_TRUE(got == payloads[i]) << "payload " << i << " differs";
  }
}

}  // namespace
}  // namespace qstor::reconciler
