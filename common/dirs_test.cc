#include "common/dirs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace qstor {
namespace {

namespace sfs = std::filesystem;

// Sets (or unsets: nullopt) environment variables for one test, and puts
// the old values back after it.
class EnvGuard {
 public:
  explicit EnvGuard(const std::map<std::string, std::optional<std::string>>& vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      saved_[k] = old ? std::optional<std::string>(old) : std::nullopt;
      if (v) {
        ::setenv(k.c_str(), v->c_str(), 1);
      } else {
        ::unsetenv(k.c_str());
      }
    }
  }
  ~EnvGuard() {
    for (const auto& [k, v] : saved_) {
      if (v) {
        ::setenv(k.c_str(), v->c_str(), 1);
      } else {
        ::unsetenv(k.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

class DirsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (sfs::temp_directory_path() / ("qstor-dirs-test-" + std::to_string(::getpid())))
                .string();
    sfs::remove_all(root_);
    sfs::create_directories(root_ + "/home");
  }
  void TearDown() override { sfs::remove_all(root_); }
  std::string root_;
};

TEST_F(DirsTest, QstorHomeHoldsEverything) {
  EnvGuard env({{"QSTOR_HOME", root_ + "/q"}, {"HOME", root_ + "/home"},
                {"XDG_STATE_HOME", root_ + "/xs"}});
  auto h = DefaultHome();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, root_ + "/q");
  QstorDirs d = DirsFor(*h);
  EXPECT_EQ(d.config, root_ + "/q");
  EXPECT_EQ(d.state, root_ + "/q");
  EXPECT_EQ(d.mount_cache, root_ + "/q");
  EXPECT_EQ(d.cache, root_ + "/q");
}

TEST_F(DirsTest, XdgDefaultsAndVariables) {
  {
    EnvGuard env({{"QSTOR_HOME", std::nullopt}, {"HOME", root_ + "/home"},
                  {"XDG_CONFIG_HOME", std::nullopt}, {"XDG_STATE_HOME", std::nullopt},
                  {"XDG_CACHE_HOME", std::nullopt}});
    auto h = DefaultHome();
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, root_ + "/home/.config/qstor");
    QstorDirs d = DirsFor(*h);
    EXPECT_EQ(d.config, root_ + "/home/.config/qstor");
    EXPECT_EQ(d.state, root_ + "/home/.local/state/qstor");
    EXPECT_EQ(d.mount_cache, root_ + "/home/.local/state/qstor")
        << "the write-back cache can hold data not uploaded yet: state, not cache";
    EXPECT_EQ(d.cache, root_ + "/home/.cache/qstor");
  }
  {
    EnvGuard env({{"QSTOR_HOME", std::nullopt}, {"HOME", root_ + "/home"},
                  {"XDG_CONFIG_HOME", root_ + "/xc"}, {"XDG_STATE_HOME", root_ + "/xs"},
                  {"XDG_CACHE_HOME", "relative/ignored"}});
    auto h = DefaultHome();
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, root_ + "/xc/qstor");
    QstorDirs d = DirsFor(*h);
    EXPECT_EQ(d.state, root_ + "/xs/qstor");
    EXPECT_EQ(d.cache, root_ + "/home/.cache/qstor") << "a relative XDG path is ignored";
    // Another directory than the default home (a test's, a caller's): all under it.
    QstorDirs other = DirsFor(root_ + "/elsewhere");
    EXPECT_EQ(other.state, root_ + "/elsewhere");
    EXPECT_EQ(other.cache, root_ + "/elsewhere");
  }
  {
    EnvGuard env({{"QSTOR_HOME", std::nullopt}, {"HOME", std::nullopt},
                  {"XDG_CONFIG_HOME", std::nullopt}});
    auto h = DefaultHome();
    EXPECT_EQ(h.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_NE(h.status().message().find("set QSTOR_HOME"), std::string::npos);
  }
}

TEST_F(DirsTest, TheLayoutBeforeXdgIsStillRead) {
  EnvGuard env({{"QSTOR_HOME", std::nullopt}, {"HOME", root_ + "/home"},
                {"XDG_CONFIG_HOME", std::nullopt}, {"XDG_STATE_HOME", std::nullopt},
                {"XDG_CACHE_HOME", std::nullopt}});
  const std::string legacy = root_ + "/home/.config/qstor";
  sfs::create_directories(legacy + "/state/devnet");
  QstorDirs d = DirsFor(*DefaultHome());
  EXPECT_EQ(d.state, legacy) << "states written before XDG are where they were";
  EXPECT_EQ(d.mount_cache, root_ + "/home/.local/state/qstor") << "no old cache: the new place";
  sfs::create_directories(legacy + "/mount-cache");
  EXPECT_EQ(DirsFor(*DefaultHome()).mount_cache, legacy);
  // Once the XDG directory exists, it wins.
  sfs::create_directories(root_ + "/home/.local/state/qstor/state");
  EXPECT_EQ(DirsFor(*DefaultHome()).state, root_ + "/home/.local/state/qstor");
}

}  // namespace
}  // namespace qstor
