#include "common/file_util.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace qstor {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FileUtilTest, WritesReplacesAndSetsMode) {
  fs::path dir = fs::temp_directory_path() / ("qstor-file-util-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path p = dir / "f";
  ASSERT_TRUE(WriteFileAtomic(p.string(), "first", 0600).ok());
  EXPECT_EQ(Read(p), "first");
  struct stat st{};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileAtomic(p.string(), std::string(100000, 'x')).ok());
  EXPECT_EQ(Read(p).size(), 100000u);
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // No temporary file is left behind.
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  fs::remove_all(dir);
}

TEST(FileUtilTest, MissingDirectoryIsAnError) {
  Status s = WriteFileAtomic("/nonexistent-dir-qstor/f", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("/nonexistent-dir-qstor/f.tmp."), std::string::npos) << s.message();
}

// A live directory, a missing path or a file is not a dead FUSE mount (the
// dead case, a killed mount's ENOTCONN/ECONNABORTED, is
// MountCliTest.RemountRightAfterKill9IsNeverBusy in cli/cli_test.cc).
TEST(FileUtilTest, ReadFileBoundedStopsAtTheLimit) {
  fs::path dir = fs::temp_directory_path() / ("qstor-bounded-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string small = (dir / "small").string();
  ASSERT_TRUE(WriteFileAtomic(small, std::string(100, 'x')).ok());
  auto ok = ReadFileBounded(small, 100, "manifest");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 100u);

  auto big = ReadFileBounded(small, 99, "manifest");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(big.status().message().find(small), std::string::npos) << big.status().ToString();
  EXPECT_NE(big.status().message().find("99 bytes, the limit for a manifest"), std::string::npos)
      << big.status().ToString();

  // An endless character device stops one byte past the limit.
  auto zero = ReadFileBounded("/dev/zero", 1 << 20, "saved plan");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(zero.status().message().find("/dev/zero gives more than 1048576 bytes"),
            std::string::npos) << zero.status().ToString();

  auto missing = ReadFileBounded((dir / "missing").string(), 10, "manifest");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos);
  auto d = ReadFileBounded(dir.string(), 10, "manifest");
  EXPECT_FALSE(d.ok());
  fs::remove_all(dir);
}

TEST(FileUtilTest, IsDeadFuseMountOnlyForADeadConnection) {
  EXPECT_FALSE(IsDeadFuseMount(fs::temp_directory_path().string()));
  EXPECT_FALSE(IsDeadFuseMount("/nonexistent-dir-qstor"));
  EXPECT_FALSE(IsDeadFuseMount("/proc/self/status"));
}

}  // namespace
}  // namespace qstor
