#include "zdb/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "zdb/test_util.h"

namespace qstor::zdb {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string Val(int i, size_t n = 100) {
  std::string v(n, 'a');
  for (size_t j = 0; j < n; ++j) v[j] = static_cast<char>('a' + (i * 7 + j) % 26);
  return v;
}

std::string SetOk(Namespace* ns, const std::string& k, const std::string& v) {
  std::string stored;
  bool unchanged = true;
  Status st = ns->Set(k, v, &stored, &unchanged);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(unchanged);
  return stored;
}

// Copies a live store directory: what a crash would leave on disk after Sync.
void CrashCopy(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    if (e.path().filename() == "index") fs::remove(e.path());
  }
}

TEST(ZdbStore, UserModeSetGetDelAndReopen) {
  TempDir dir;
  {
    auto s = Store::Open(dir.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Namespace* ns = (*s)->Get("default");
    ASSERT_NE(ns, nullptr);
    EXPECT_EQ(SetOk(ns, "k1", "v1"), "k1");
    EXPECT_EQ(SetOk(ns, "k2", "v2"), "k2");
    std::string stored;
    bool unchanged = false;
    ASSERT_TRUE(ns->Set("k1", "v1", &stored, &unchanged).ok());
    EXPECT_TRUE(unchanged);  // identical value: nothing written
    EXPECT_EQ(*ns->Get("k1"), "v1");
    ASSERT_TRUE(ns->Del("k2").ok());
    EXPECT_EQ(ns->Del("k2").code(), Status::Code::kNotFound);
    EXPECT_EQ(ns->Get("k2").status().code(), Status::Code::kNotFound);
    EXPECT_EQ(ns->entries(), 1u);
    EXPECT_EQ(ns->live_bytes(), 2u);
    EXPECT_EQ(ns->Set("", "x", &stored, &unchanged).code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(ns->Set(std::string(256, 'k'), "x", &stored, &unchanged).code(),
              Status::Code::kInvalidArgument);
    ASSERT_TRUE((*s)->Close().ok());
  }
  {
    auto s = Store::Open(dir.path());
    ASSERT_TRUE(s.ok());
    Namespace* ns = (*s)->Get("default");
    EXPECT_FALSE(ns->stats().index_rebuilt);  // snapshot used
    EXPECT_EQ(*ns->Get("k1"), "v1");
    EXPECT_FALSE(ns->Find("k2").valid());
    EXPECT_EQ(ns->entries(), 1u);
  }
  fs::remove(dir.path() + "/default/index");
  {
    auto s = Store::Open(dir.path());
    ASSERT_TRUE(s.ok());
    Namespace* ns = (*s)->Get("default");
    EXPECT_TRUE(ns->stats().index_rebuilt);
    EXPECT_EQ(*ns->Get("k1"), "v1");
    EXPECT_FALSE(ns->Find("k2").valid());
    EXPECT_EQ(ns->live_bytes(), 2u);
  }
}

TEST(ZdbStore, SeqModeIdsAndRebuildNeverReusesIds) {
  TempDir dir;
  std::string last;
  {
    auto s = Store::Open(dir.path());
    ASSERT_TRUE(s.ok());
    auto ns = (*s)->Create("seq");
    ASSERT_TRUE(ns.ok());
    NsProps p = (*ns)->props();
    p.mode = KeyMode::kSeq;
    ASSERT_TRUE((*ns)->SetProps(p).ok());
    for (int i = 0; i < 10; ++i) {
      std::string k = SetOk(*ns, "", Val(i));
      ASSERT_EQ(k.size(), 8u);
      EXPECT_EQ(static_cast<unsigned char>(k[0]), i);  // little-endian id
      last = k;
    }
    std::string stored;
    bool unchanged;
    // update an existing id
    ASSERT_TRUE((*ns)->Set(last, "new", &stored, &unchanged).ok());
    EXPECT_EQ(stored, last);
    // a key that was never issued
    std::string bogus(8, '\0');
    bogus[0] = 50;
    EXPECT_EQ((*ns)->Set(bogus, "x", &stored, &unchanged).code(), Status::Code::kInvalidArgument);
    ASSERT_TRUE((*ns)->Del(last).ok());
    // mode cannot change on a non-empty namespace
    p.mode = KeyMode::kUser;
    EXPECT_FALSE((*ns)->SetProps(p).ok());
    ASSERT_TRUE((*ns)->Sync().ok());
    CrashCopy(dir.path(), dir.path() + ".crash");
  }
  for (std::string d : {dir.path(), dir.path() + ".crash"}) {
    auto s = Store::Open(d);
    ASSERT_TRUE(s.ok());
    Namespace* ns = (*s)->Get("seq");
    ASSERT_NE(ns, nullptr);
    EXPECT_EQ(ns->props().mode, KeyMode::kSeq);
    EXPECT_EQ(ns->entries(), 9u);
    EXPECT_EQ(ns->next_id(), 10u) << d;
    EXPECT_EQ(SetOk(ns, "", "z")[0], 10);  // id 9 was deleted, never reused
  }
  fs::remove_all(dir.path() + ".crash");
}

TEST(ZdbStore, TruncatedTailIsCutToLastGoodEntry) {
  TempDir dir;
  std::vector<uint64_t> ends;  // file size after each entry
  {
    auto s = Store::Open(dir.path());
    Namespace* ns = (*s)->Get("default");
    for (int i = 0; i < 40; ++i) {
      SetOk(ns, "key" + std::to_string(i), Val(i, 50 + i));
      ends.push_back(ns->disk_bytes());
    }
    ASSERT_TRUE(ns->Sync().ok());
    CrashCopy(dir.path(), dir.path() + ".c");
  }
  std::mt19937 rng(42);
  const std::string data = dir.path() + ".c/default/d00000000";
  uint64_t full = fs::file_size(data);
  for (int round = 0; round < 25; ++round) {
    TempDir work;
    fs::remove(work.path());
    fs::copy(dir.path() + ".c", work.path(), fs::copy_options::recursive);
    uint64_t cut = std::uniform_int_distribution<uint64_t>(0, full)(rng);
    fs::resize_file(work.path() + "/default/d00000000", cut);
    auto s = Store::Open(work.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Namespace* ns = (*s)->Get("default");
    size_t expect = 0;
    while (expect < ends.size() && ends[expect] <= cut) ++expect;
    EXPECT_EQ(ns->entries(), expect) << "cut at " << cut;
    for (size_t i = 0; i < ends.size(); ++i) {
      auto g = ns->Get("key" + std::to_string(i));
      if (i < expect) {
        ASSERT_TRUE(g.ok()) << i << " cut " << cut;
        EXPECT_EQ(*g, Val(static_cast<int>(i), 50 + i));
      } else {
        EXPECT_EQ(g.status().code(), Status::Code::kNotFound);
      }
    }
    // Writable after repair, and the repair is durable.
    SetOk(ns, "after", "x");
    ASSERT_TRUE(ns->Sync().ok());
    s.value().reset();
    auto s2 = Store::Open(work.path());
    EXPECT_EQ(*(*s2)->Get("default")->Get("after"), "x");
  }
  fs::remove_all(dir.path() + ".c");
}

TEST(ZdbStore, FlippedBytesNeverReturnWrongData) {
  TempDir dir;
  std::map<std::string, std::string> truth;
  StoreOptions opt;
  opt.rotate_bytes = 4096;  // several files: corruption in sealed and head files
  {
    auto s = Store::Open(dir.path(), opt);
    Namespace* ns = (*s)->Get("default");
    for (int i = 0; i < 80; ++i) {
      std::string k = "k" + std::to_string(i % 60);
      truth[k] = Val(i, 120);
      SetOk(ns, k, truth[k]);
    }
    ASSERT_TRUE(ns->Sync().ok());
    CrashCopy(dir.path(), dir.path() + ".c");
  }
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir.path() + ".c/default")) {
    if (e.path().filename().string()[0] == 'd') files.push_back(e.path().filename());
  }
  ASSERT_GT(files.size(), 2u);
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    TempDir work;
    fs::remove(work.path());
    fs::copy(dir.path() + ".c", work.path(), fs::copy_options::recursive);
    fs::path victim = work.path() / ("default" / files[rng() % files.size()]);
    uint64_t size = fs::file_size(victim);
    int fd = ::open(victim.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    for (int flips = 0; flips < 3; ++flips) {
      off_t off = static_cast<off_t>(rng() % size);
      unsigned char b;
      ASSERT_EQ(::pread(fd, &b, 1, off), 1);
      b ^= static_cast<unsigned char>(1 + rng() % 255);
      ASSERT_EQ(::pwrite(fd, &b, 1, off), 1);
    }
    ::close(fd);
    auto s = Store::Open(work.path(), opt);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Namespace* ns = (*s)->Get("default");
    size_t good = 0;
    for (const auto& [k, v] : truth) {
      auto g = ns->Get(k);
      if (g.ok()) {
        // An older version may resurface when the newest copy is damaged, but
        // never bytes that were not written for this key.
        bool known = false;
        for (int i = 0; i < 80; ++i) known = known || (g.value() == Val(i, 120) && "k" + std::to_string(i % 60) == k);
        EXPECT_TRUE(known) << k;
        good += *g == v;
      } else {
        EXPECT_TRUE(g.status().code() == Status::Code::kNotFound ||
                    g.status().code() == Status::Code::kCorruption)
            << g.status().ToString();
      }
    }
    EXPECT_GT(good, 0u);
    EXPECT_GT(ns->stats().corrupt_entries + good, 0u);
    // The store keeps working.
    SetOk(ns, "fresh", "value");
    EXPECT_EQ(*ns->Get("fresh"), "value");
  }
  fs::remove_all(dir.path() + ".c");
}

TEST(ZdbStore, DamagedIndexSnapshotIsRebuilt) {
  TempDir dir;
  {
    auto s = Store::Open(dir.path());
    for (int i = 0; i < 100; ++i) SetOk((*s)->Get("default"), "k" + std::to_string(i), Val(i));
  }
  std::string idx = dir.path() + "/default/index";
  ASSERT_TRUE(fs::exists(idx));
  for (uint64_t off : {uint64_t(0), uint64_t(30), fs::file_size(idx) / 2, fs::file_size(idx) - 1}) {
    int fd = ::open(idx.c_str(), O_RDWR);
    unsigned char b;
    ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(off)), 1);
    b ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(off)), 1);
    ::close(fd);
    auto s = Store::Open(dir.path());
    Namespace* ns = (*s)->Get("default");
    EXPECT_TRUE(ns->stats().index_rebuilt) << off;
    ASSERT_EQ(ns->entries(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(*ns->Get("k" + std::to_string(i)), Val(i));
  }
  // Truncated snapshot too.
  fs::resize_file(idx, fs::file_size(idx) / 3);
  auto s = Store::Open(dir.path());
  EXPECT_TRUE((*s)->Get("default")->stats().index_rebuilt);
  EXPECT_EQ((*s)->Get("default")->entries(), 100u);
}

TEST(ZdbStore, SnapshotPlusReplayOfLaterWrites) {
  TempDir dir;
  {
    auto s = Store::Open(dir.path());
    for (int i = 0; i < 20; ++i) SetOk((*s)->Get("default"), "k" + std::to_string(i), Val(i));
  }  // clean close: snapshot
  {
    auto s = Store::Open(dir.path());
    Namespace* ns = (*s)->Get("default");
    EXPECT_FALSE(ns->stats().index_rebuilt);
    SetOk(ns, "k0", "changed");
    ASSERT_TRUE(ns->Del("k1").ok());
    SetOk(ns, "k99", "new");
    ASSERT_TRUE(ns->Sync().ok());
    // crash copy keeps the old snapshot
    fs::copy(dir.path(), dir.path() + ".c", fs::copy_options::recursive);
  }
  auto s = Store::Open(dir.path() + ".c");
  Namespace* ns = (*s)->Get("default");
  EXPECT_FALSE(ns->stats().index_rebuilt);
  EXPECT_EQ(*ns->Get("k0"), "changed");
  EXPECT_FALSE(ns->Find("k1").valid());
  EXPECT_EQ(*ns->Get("k99"), "new");
  EXPECT_EQ(ns->entries(), 20u);
  s.value().reset();
  fs::remove_all(dir.path() + ".c");
}

TEST(ZdbStore, RotationAndCompaction) {
  TempDir dir;
  StoreOptions opt;
  opt.rotate_bytes = 8192;
  std::map<std::string, std::string> truth;
  {
    auto s = Store::Open(dir.path(), opt);
    Namespace* ns = (*s)->Get("default");
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 50; ++i) {
        std::string k = "key" + std::to_string(i);
        truth[k] = Val(round * 100 + i, 200);
        SetOk(ns, k, truth[k]);
      }
    }
    for (int i = 0; i < 50; i += 5) {
      ASSERT_TRUE(ns->Del("key" + std::to_string(i)).ok());
      truth.erase("key" + std::to_string(i));
    }
    EXPECT_GT(ns->file_count(), 5u);
    uint64_t before = ns->disk_bytes();
    ASSERT_TRUE(ns->CompactAll(0.0).ok());
    EXPECT_LT(ns->disk_bytes(), before / 3) << before;
    EXPECT_GT(ns->stats().compacted_files, 0u);
    for (const auto& [k, v] : truth) EXPECT_EQ(*ns->Get(k), v);
    EXPECT_EQ(ns->entries(), truth.size());
    // Scan sees each live key exactly once after compaction.
    std::map<std::string, int> seen;
    std::optional<std::string> cur;
    std::vector<ScanItem> items;
    std::string next;
    while (ns->Scan(cur, false, 7, &items, &next).ok()) {
      for (auto& it : items) seen[it.key]++;
      cur = next;
    }
    EXPECT_EQ(seen.size(), truth.size());
    for (auto& [k, c] : seen) EXPECT_EQ(c, 1) << k;
    ASSERT_TRUE(ns->Sync().ok());
    CrashCopy(dir.path(), dir.path() + ".c");
  }
  for (std::string d : {dir.path(), dir.path() + ".c"}) {
    auto s = Store::Open(d, opt);
    Namespace* ns = (*s)->Get("default");
    EXPECT_EQ(ns->entries(), truth.size()) << d;
    for (const auto& [k, v] : truth) EXPECT_EQ(*ns->Get(k), v) << d;
    for (int i = 0; i < 50; i += 5) EXPECT_FALSE(ns->Find("key" + std::to_string(i)).valid()) << d;
  }
  fs::remove_all(dir.path() + ".c");
}

// GETs read through a mapping of each data file (zdb/mapped_file.h). The
// head file keeps growing into its mapping: reads must see every append and
// overwrite, across rotation, and mappings go away with their files
// (compaction, close).
TEST(ZdbStore, MappedReadsSeeAppendsOverwritesAndRotation) {
  TempDir dir;
  StoreOptions opt;
  opt.rotate_bytes = 64 * 1024;
  const uint64_t before = LiveMappings();
  {
    auto s = Store::Open(dir.path(), opt);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Namespace* ns = (*s)->Get("default");
    std::map<std::string, std::string> truth;
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 60; ++i) {
        std::string k = "key" + std::to_string(i);
        truth[k] = Val(round * 1000 + i, 1000 + static_cast<size_t>(i) * 37);
        SetOk(ns, k, truth[k]);
        // Read back at once: the entry was appended after the mapping of
        // the head file was made by the previous read.
        ASSERT_EQ(*ns->Get(k), truth[k]) << k << " round " << round;
      }
    }
    EXPECT_GT(ns->file_count(), 3u);
    EXPECT_GT(LiveMappings(), before);
    for (const auto& [k, v] : truth) ASSERT_EQ(*ns->Get(k), v) << k;
    const uint64_t mapped = LiveMappings();
    ASSERT_TRUE(ns->CompactAll(0.0).ok());
    EXPECT_LT(LiveMappings(), mapped);  // compacted files took their mappings along
    for (const auto& [k, v] : truth) ASSERT_EQ(*ns->Get(k), v) << k;
    ASSERT_TRUE((*s)->Close().ok());
  }
  EXPECT_EQ(LiveMappings(), before);
}

// A data file truncated behind the server's back: a read through the mapping
// touches pages past the end of the file, which raises SIGBUS. That must come
// back as an error for that read, never kill the process, and later reads of
// the file (now through preadv) must fail cleanly too.
TEST(ZdbStore, MappedReadOfATruncatedFileIsAnErrorNotACrash) {
  TempDir dir;
  auto s = Store::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Namespace* ns = (*s)->Get("default");
  const std::string a = Val(1, 64 * 1024), b = Val(2, 64 * 1024);
  SetOk(ns, "a", a);
  SetOk(ns, "b", b);
  ASSERT_EQ(*ns->Get("a"), a);  // maps the file
  ASSERT_EQ(*ns->Get("b"), b);
  const std::string path = dir.path() + "/default/d00000000";
  ASSERT_TRUE(fs::exists(path));
  // Cut the file to 4 KiB: all of b and most of a are now past its end.
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  auto rb = ns->Get("b");
  ASSERT_FALSE(rb.ok());
  EXPECT_EQ(rb.status().code(), Status::Code::kIOError) << rb.status().ToString();
  EXPECT_NE(rb.status().ToString().find("d00000000+"), std::string::npos)
      << rb.status().ToString();
  EXPECT_NE(rb.status().ToString().find("mapped page"), std::string::npos)
      << "the read did not go through the mapping: " << rb.status().ToString();
  auto ra = ns->Get("a");
  ASSERT_FALSE(ra.ok());
  EXPECT_EQ(ra.status().code(), Status::Code::kIOError) << ra.status().ToString();
  // The namespace still works for new data.
  SetOk(ns, "c", "still here");
  EXPECT_EQ(*ns->Get("c"), "still here");
}

TEST(ZdbStore, ScanForwardReverseAndCursor) {
  TempDir dir;
  StoreOptions opt;
  opt.rotate_bytes = 2048;
  auto s = Store::Open(dir.path(), opt);
  Namespace* ns = (*s)->Get("default");
  for (int i = 0; i < 30; ++i) SetOk(ns, "k" + std::to_string(i), Val(i, 100));
  SetOk(ns, "k3", "over");  // k3 moves to the end
  ASSERT_TRUE(ns->Del("k4").ok());
  auto collect = [&](bool rev, std::optional<std::string> cur) {
    std::vector<std::string> keys;
    std::vector<ScanItem> items;
    std::string next;
    while (ns->Scan(cur, rev, 4, &items, &next).ok()) {
      for (auto& it : items) keys.push_back(it.key);
      cur = next;
    }
    return keys;
  };
  auto fwd = collect(false, std::nullopt);
  ASSERT_EQ(fwd.size(), 29u);
  EXPECT_EQ(fwd.front(), "k0");
  EXPECT_EQ(fwd.back(), "k3");
  auto rev = collect(true, std::nullopt);
  std::reverse(rev.begin(), rev.end());
  EXPECT_EQ(rev, fwd);
  auto cur = ns->KeyCursor("k10");
  ASSERT_TRUE(cur.ok());
  auto after = collect(false, *cur);
  EXPECT_EQ(after.front(), "k11");
  std::vector<ScanItem> items;
  std::string next;
  EXPECT_EQ(ns->Scan(std::string("bad"), false, 4, &items, &next).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ns->Scan(std::string(8, '\x7f'), false, 4, &items, &next).code(),
            Status::Code::kNotFound);
}

TEST(ZdbStore, PropertiesMaxsizeWormLock) {
  TempDir dir;
  auto s = Store::Open(dir.path());
  auto ns = (*s)->Create("p");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*s)->Create("p").status().code(), Status::Code::kAlreadyExists);
  EXPECT_FALSE((*s)->Create("../x").ok());
  EXPECT_FALSE((*s)->Create(std::string(129, 'n')).ok());
  NsProps p;
  p.maxsize = 100;
  ASSERT_TRUE((*ns)->SetProps(p).ok());
  std::string st;
  bool unch;
  ASSERT_TRUE((*ns)->Set("a", std::string(60, 'x'), &st, &unch).ok());
  EXPECT_EQ((*ns)->Set("b", std::string(60, 'x'), &st, &unch).code(),
            Status::Code::kResourceExhausted);
  ASSERT_TRUE((*ns)->Set("a", std::string(90, 'y'), &st, &unch).ok());  // replace fits
  p.worm = true;
  ASSERT_TRUE((*ns)->SetProps(p).ok());
  EXPECT_EQ((*ns)->Set("a", "z", &st, &unch).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*ns)->Del("a").code(), Status::Code::kFailedPrecondition);
  p.worm = false;
  p.lock = true;
  ASSERT_TRUE((*ns)->SetProps(p).ok());
  EXPECT_EQ((*ns)->Set("c", "z", &st, &unch).code(), Status::Code::kFailedPrecondition);
  s.value().reset();
  // properties persist
  auto s2 = Store::Open(dir.path());
  EXPECT_TRUE((*s2)->Get("p")->props().lock);
  EXPECT_EQ((*s2)->Get("p")->props().maxsize, 100u);
  ASSERT_TRUE((*s2)->Delete("p").ok());
  EXPECT_EQ((*s2)->Delete("default").code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.path() + "/p"));
}

TEST(ZdbStore, FlushRemovesEverything) {
  TempDir dir;
  auto s = Store::Open(dir.path());
  Namespace* ns = (*s)->Get("default");
  for (int i = 0; i < 10; ++i) SetOk(ns, "k" + std::to_string(i), "v");
  ASSERT_TRUE(ns->Flush().ok());
  EXPECT_EQ(ns->entries(), 0u);
  EXPECT_FALSE(ns->Find("k1").valid());
  SetOk(ns, "n", "v");
  s.value().reset();
  auto s2 = Store::Open(dir.path());
  EXPECT_EQ((*s2)->Get("default")->entries(), 1u);
  EXPECT_FALSE((*s2)->Get("default")->Find("k1").valid());
}

TEST(ZdbStore, SeqIndexCostsSixteenBytesPerKey) {
  TempDir dir;
  auto s = Store::Open(dir.path());
  auto ns = (*s)->Create("seq");
  NsProps p;
  p.mode = KeyMode::kSeq;
  ASSERT_TRUE((*ns)->SetProps(p).ok());
  const int n = 50000;
  std::string st;
  bool unch;
  for (int i = 0; i < n; ++i) ASSERT_TRUE((*ns)->Set("", "v", &st, &unch).ok());
  s.value().reset();
  fs::remove(dir.path() + "/seq/index");
  auto s2 = Store::Open(dir.path());
  Namespace* r = (*s2)->Get("seq");
  EXPECT_EQ(r->entries(), static_cast<uint64_t>(n));
  EXPECT_LE(r->index_bytes(), uint64_t(n) * sizeof(Loc) * 2);  // vector growth slack
  EXPECT_EQ(sizeof(Loc), 16u);
}

}  // namespace
}  // namespace qstor::zdb
