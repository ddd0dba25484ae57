#include "cli/mount_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace qstor::cli {
namespace {

namespace sfs = std::filesystem;

class MountCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (sfs::temp_directory_path() /
             ("qstor-mount-cache-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    sfs::remove_all(root_);
    sfs::create_directories(root_);
    dir_ = root_ + "/demo";
  }
  void TearDown() override { sfs::remove_all(root_); }

  static void Write(const std::string& path, const std::string& bytes, mode_t mode = 0644) {
    std::ofstream(path, std::ios::binary) << bytes;
    ::chmod(path.c_str(), mode);
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  static mode_t Mode(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
  }
  // A cache as a mount leaves it (old versions: 0755 / 0644).
  void FakeMountFiles(const std::string& dir) {
    sfs::create_directories(dir + "/data/0a");
    ::chmod(dir.c_str(), 0755);
    ::chmod((dir + "/data").c_str(), 0755);
    ::chmod((dir + "/data/0a").c_str(), 0755);
    Write(dir + "/meta.db", "SQLite format 3 secret names");
    Write(dir + "/meta.db-wal", "wal");
    Write(dir + "/lock", "");
    Write(dir + "/mount.log", "log");
    Write(dir + "/cache-id", "0123456789abcdef");
    Write(dir + "/data/slab", "plaintext slab");
    Write(dir + "/data/0a/10", "plaintext file");
  }

  static CacheOwner Owner(const std::string& lineage, std::vector<uint64_t> contracts) {
    return CacheOwner{"devnet", "demo", lineage, std::move(contracts)};
  }

  std::string root_, dir_;
};

TEST_F(MountCacheTest, OwnerRoundTripsAndSameDeploymentNeedsLineageOrAContract) {
  sfs::create_directories(dir_);
  auto none = ReadCacheOwner(dir_);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(WriteCacheOwner(dir_, Owner("L1", {7, 0, 3, 7})).ok());
  EXPECT_EQ(Mode(dir_ + "/owner.json"), 0600u);
  auto got = ReadCacheOwner(dir_);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->network, "devnet");
  EXPECT_EQ((*got)->name, "demo");
  EXPECT_EQ((*got)->lineage, "L1");
  EXPECT_EQ((*got)->contracts, (std::vector<uint64_t>{3, 7}));

  EXPECT_TRUE(SameDeployment(Owner("L1", {1}), Owner("L1", {2})));
  EXPECT_TRUE(SameDeployment(Owner("L1", {1, 2}), Owner("L2", {2, 9})));  // recover: new lineage
  EXPECT_FALSE(SameDeployment(Owner("L1", {1, 2}), Owner("L2", {3, 4})));
  EXPECT_FALSE(SameDeployment(Owner("", {}), Owner("", {})));

  Write(dir_ + "/owner.json", "{not json");
  EXPECT_EQ(ReadCacheOwner(dir_).status().code(), Status::Code::kCorruption);
}

TEST_F(MountCacheTest, ClaimKeepsOursMovesAnotherDeploymentsAsideAtTheDefaultPath) {
  // New: created 0700 with its owner.
  auto c = ClaimCache(dir_, Owner("L1", {1, 2}), true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->what, CacheClaim::What::kNew);
  EXPECT_EQ(Mode(dir_), 0700u);
  FakeMountFiles(dir_);

  // The same deployment after `recover` (new lineage, same contracts).
  c = ClaimCache(dir_, Owner("L9", {2, 5}), true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->what, CacheClaim::What::kOurs);
  EXPECT_EQ(Read(dir_ + "/data/0a/10"), "plaintext file");
  EXPECT_EQ(Mode(dir_), 0700u) << "made private";
  EXPECT_EQ(Mode(dir_ + "/meta.db"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/data/0a"), 0700u);
  EXPECT_EQ((*ReadCacheOwner(dir_))->lineage, "L9");

  // Another deployment of the same name: moved aside, the new one starts empty.
  c = ClaimCache(dir_, Owner("NEW", {30, 31}), true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->what, CacheClaim::What::kMovedAside);
  ASSERT_FALSE(c->moved_to.empty());
  EXPECT_EQ(c->moved_to.rfind(dir_ + ".other-L9-", 0), 0u) << c->moved_to;
  EXPECT_EQ(Read(c->moved_to + "/data/0a/10"), "plaintext file");
  EXPECT_FALSE(sfs::exists(dir_ + "/meta.db"));
  EXPECT_EQ((*ReadCacheOwner(dir_))->lineage, "NEW");
}

TEST_F(MountCacheTest, ClaimRefusesAnotherDeploymentsCacheTheUserGave) {
  ASSERT_TRUE(ClaimCache(dir_, Owner("L1", {1}), false).ok());
  FakeMountFiles(dir_);
  auto c = ClaimCache(dir_, Owner("L2", {2}), false);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("belongs to another deployment"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(Read(dir_ + "/data/0a/10"), "plaintext file") << "nothing moved or removed";
  EXPECT_EQ((*ReadCacheOwner(dir_))->lineage, "L1");
}

TEST_F(MountCacheTest, ClaimAdoptsACacheWithoutOwner) {
  FakeMountFiles(dir_);
  auto c = ClaimCache(dir_, Owner("L1", {1}), true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->what, CacheClaim::What::kAdopted);
  EXPECT_EQ(Read(dir_ + "/data/slab"), "plaintext slab");
  EXPECT_EQ(Mode(dir_ + "/data/slab"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/mount.log"), 0600u);
}

TEST_F(MountCacheTest, RemoveZeroesAndUnlinksOnlyWhatAMountMakes) {
  ASSERT_TRUE(ClaimCache(dir_, Owner("L1", {1}), true).ok());
  FakeMountFiles(dir_);
  // Hard links keep the inodes readable after the unlink: the bytes there
  // must be zeros.
  ASSERT_EQ(::link((dir_ + "/data/0a/10").c_str(), (root_ + "/peek-file").c_str()), 0);
  ASSERT_EQ(::link((dir_ + "/meta.db").c_str(), (root_ + "/peek-db").c_str()), 0);
  auto r = RemoveCache(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(sfs::exists(dir_));
  // owner.json, meta.db, meta.db-wal, lock, mount.log, cache-id, slab, 0a/10
  EXPECT_EQ(r->files, 8u);
  EXPECT_TRUE(r->left.empty());
  EXPECT_EQ(Read(root_ + "/peek-file"), std::string(14, '\0'));
  EXPECT_EQ(Read(root_ + "/peek-db"), std::string(28, '\0'));

  // Something of the user's in the directory: left there, with the directory.
  ASSERT_TRUE(ClaimCache(dir_, Owner("L1", {1}), true).ok());
  FakeMountFiles(dir_);
  Write(dir_ + "/my-notes.txt", "mine");
  Write(dir_ + "/data/0a/not-an-inode", "mine too");
  r = RemoveCache(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Read(dir_ + "/my-notes.txt"), "mine");
  EXPECT_EQ(Read(dir_ + "/data/0a/not-an-inode"), "mine too");
  EXPECT_FALSE(sfs::exists(dir_ + "/meta.db"));
  EXPECT_FALSE(sfs::exists(dir_ + "/data/0a/10"));
  EXPECT_EQ(r->left.size(), 2u);

  // Nothing there: fine.
  EXPECT_TRUE(RemoveCache(root_ + "/never").ok());
}

TEST_F(MountCacheTest, ACacheARunningMountHoldsIsNeitherRemovedNorMoved) {
  ASSERT_TRUE(ClaimCache(dir_, Owner("L1", {1}), true).ok());
  FakeMountFiles(dir_);
  EXPECT_FALSE(CacheInUse(dir_));
  int fd = ::open((dir_ + "/lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // what a mount holds while it runs
  // flock locks belong to the open file description: a second open is refused.
  EXPECT_TRUE(CacheInUse(dir_));
  auto r = RemoveCache(dir_);
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  auto c = ClaimCache(dir_, Owner("L2", {2}), true);
  EXPECT_EQ(c.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("a running mount uses it"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(Read(dir_ + "/data/0a/10"), "plaintext file");
  ::close(fd);
  EXPECT_FALSE(CacheInUse(dir_));
  EXPECT_TRUE(RemoveCache(dir_).ok());
  EXPECT_FALSE(sfs::exists(dir_));
}

}  // namespace
}  // namespace qstor::cli
