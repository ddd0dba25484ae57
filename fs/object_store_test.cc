// Object store against real in-process 0-db servers on loopback.
#include "fs/object_store.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "fs/zdb_cluster_test_util.h"

namespace qstor::fs {
namespace {

using testing::FastOptions;
using testing::ZdbCluster;

using testing::Keys;
using testing::RandomBytes;

std::unique_ptr<ObjectStore> OpenStore(const ZdbCluster& c, int data_from, int data_to,
                                       int meta_from, int meta_to, const FsKeys& keys,
                                       ObjectStoreOptions o) {
  auto s = ObjectStore::Open(keys, c.backends(data_from, data_to), c.backends(meta_from, meta_to),
                             o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

// Waits (bounded) for asynchronous shard deletions.
bool EventuallyAbsent(const ZdbCluster& c, int node, const std::string& key) {
  for (int i = 0; i < 100; ++i) {
    auto cl = c.Client(node);
    if (cl) {
      auto e = cl->Exists(key);
      if (e.ok() && !*e) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ObjectStore, OpenValidates) {
  ZdbCluster c(3);
  FsKeys keys = Keys();
  // Fewer than k data backends cannot read anything (k..k+m is a degraded
  // layout, DegradedLayoutReadsAndWritesWhileMinDurableHolds).
  EXPECT_EQ(ObjectStore::Open(keys, c.backends(0, 1), c.backends(2, 3), FastOptions(2, 1))
                .status()
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ObjectStore::Open(keys, c.backends(0, 3), {}, FastOptions(2, 1)).status().code(),
            Status::Code::kInvalidArgument);
  auto dup = c.backends(0, 3);
  dup[2] = dup[0];
  EXPECT_EQ(ObjectStore::Open(keys, dup, c.backends(0, 1), FastOptions(2, 1)).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(ObjectStore, PutGetOverwriteDelete) {
  ZdbCluster c(9);  // 0..5 data, 6..8 metadata
  FsKeys keys = Keys();
  auto store = OpenStore(c, 0, 6, 6, 9, keys, FastOptions(4, 2));
  ASSERT_TRUE(store);
  for (size_t n : {size_t{0}, size_t{1}, size_t{4097}, size_t{1} << 20}) {
    std::string id = "file/" + std::to_string(n);
    std::string data = RandomBytes(n, static_cast<uint32_t>(n));
    auto ref = store->Put(id, data);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    EXPECT_EQ(ref->stored(), 6);
    std::set<std::string> distinct;
    for (auto& s : ref->shards) distinct.insert(s.backend);
    EXPECT_EQ(distinct.size(), 6u) << "every shard on its own backend";
    auto got = store->Get(id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data);
  }
  // Overwrite: new version, old shards go away.
  auto v1 = store->Stat("file/4097");
  ASSERT_TRUE(v1.ok());
  auto v2 = store->Put("file/4097", "new contents");
  ASSERT_TRUE(v2.ok());
  EXPECT_GT(v2->version, v1->version);
  EXPECT_EQ(*store->Get("file/4097"), "new contents");
  for (auto& s : v1->shards) {
    EXPECT_TRUE(EventuallyAbsent(c, c.IndexOf(s.backend),
                                 store->ShardKey("file/4097", v1->version, s.index)));
  }
  // The old version cannot be passed off as the new one.
  EXPECT_FALSE(store->Get(*v1).ok());
  // Delete.
  ASSERT_TRUE(store->Delete("file/4097").ok());
  EXPECT_EQ(store->Get("file/4097").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store->Delete("file/4097").code(), Status::Code::kNotFound);
  for (auto& s : v2->shards) {
    EXPECT_TRUE(EventuallyAbsent(c, c.IndexOf(s.backend),
                                 store->ShardKey("file/4097", v2->version, s.index)));
  }
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_TRUE(store->Garbage().empty());
  // Re-creating a deleted id gets a version above the tombstone.
  auto v3 = store->Put("file/4097", "again");
  ASSERT_TRUE(v3.ok());
  EXPECT_GT(v3->version, v2->version + 1);
}

TEST(ObjectStore, BackendsNeverSeeNamesOrPlaintext) {
  ZdbCluster c(4);
  FsKeys keys = Keys();
  auto store = OpenStore(c, 0, 3, 3, 4, keys, FastOptions(2, 1));
  ASSERT_TRUE(store);
  std::string secret = "very-secret-file-name";
  std::string data(10000, 'Z');
  ASSERT_TRUE(store->Put(secret, data).ok());
  ASSERT_TRUE(store->PutBlob("inode-table", "blob-plaintext-marker").ok());
  for (int i = 0; i < 4; ++i) {
    auto cl = c.Client(i);
    ASSERT_TRUE(cl);
    auto page = cl->Scan();
    ASSERT_TRUE(page.ok());
    for (auto& e : page->entries) {
      EXPECT_EQ(e.key.find(secret), std::string::npos);
      auto v = cl->Get(e.key);
      ASSERT_TRUE(v.ok() && v->has_value());
      EXPECT_EQ((*v)->find(secret), std::string::npos);
      EXPECT_EQ((*v)->find("ZZZZZZZZ"), std::string::npos);
      EXPECT_EQ((*v)->find("blob-plaintext-marker"), std::string::npos);
      EXPECT_EQ((*v)->find(ZdbCluster::Password(0)), std::string::npos);
    }
  }
}

TEST(ObjectStore, WriteWithMBackendsDownRelocatesToSpares) {
  ZdbCluster c(11);  // 0..7 data, 8..10 metadata
  FsKeys keys = Keys();
  auto store = OpenStore(c, 0, 8, 8, 11, keys, FastOptions(4, 2));
  ASSERT_TRUE(store);
  c.Stop(1);
  c.Stop(5);
  std::string data = RandomBytes(300000, 5);
  for (int j = 0; j < 4; ++j) {
    auto ref = store->Put("seg" + std::to_string(j), data);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    EXPECT_EQ(ref->stored(), 6);
    for (auto& s : ref->shards) {
      EXPECT_NE(c.IndexOf(s.backend), 1);
      EXPECT_NE(c.IndexOf(s.backend), 5);
    }
  }
  EXPECT_TRUE(store->PendingRepairs().empty());
  auto h = store->health().Get(c.backend(1).Name());
  EXPECT_EQ(h.state, BackendState::kDown);
  EXPECT_GT(h.requests_failed, 0u);
  EXPECT_EQ(*store->Get("seg3"), data);
}

TEST(ObjectStore, WriteWithMDownNoSparesIsDurableAtK) {
  ZdbCluster c(7);  // 0..5 data, 6 metadata
  FsKeys keys = Keys();
  c.Stop(0);
  c.Stop(3);
  std::string data = RandomBytes(100000, 6);
  {
    // Default policy needs k+1 = 5 shards: 4 reachable backends are not enough.
    auto store = OpenStore(c, 0, 6, 6, 7, keys, FastOptions(4, 2));
    auto ref = store->Put("x", data);
    ASSERT_FALSE(ref.ok());
    EXPECT_EQ(ref.status().code(), Status::Code::kUnavailable);
    EXPECT_NE(ref.status().message().find("only 4 of 6 shards stored, need 5"), std::string::npos)
        << ref.status().message();
    EXPECT_EQ(store->Get("x").status().code(), Status::Code::kNotFound);
  }
  {
    auto o = FastOptions(4, 2);
    o.min_durable = 4;
    auto store = OpenStore(c, 0, 6, 6, 7, keys, o);
    auto ref = store->Put("x", data);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    EXPECT_EQ(ref->stored(), 4);
    auto pending = store->PendingRepairs();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].segment_id, "x");
    EXPECT_EQ(pending[0].shards.size(), 2u);
    EXPECT_EQ(*store->Get("x"), data);
  }
}

TEST(ObjectStore, ReadWithMDownAndCorruptShard) {
  ZdbCluster c(7);
  FsKeys keys = Keys();
  auto store = OpenStore(c, 0, 6, 6, 7, keys, FastOptions(3, 3));
  ASSERT_TRUE(store);
  std::string data = RandomBytes(500000, 7);
  auto ref = store->Put("r", data);
  ASSERT_TRUE(ref.ok());
  // Corrupt one shard in place, take two backends down: 3 good shards left.
  int corrupt_node = c.IndexOf(ref->shards[0].backend);
  std::string key0 = store->ShardKey("r", ref->version, 0);
  {
    auto cl = c.Client(corrupt_node);
    auto v = cl->Get(key0);
    ASSERT_TRUE(v.ok() && v->has_value());
    std::string bad = **v;
    bad[100] ^= 1;
    ASSERT_TRUE(cl->Set(key0, bad).ok());
  }
  c.Stop(c.IndexOf(ref->shards[1].backend));
  c.Stop(c.IndexOf(ref->shards[4].backend));
  auto got = store->Get("r");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  // Whether the read touched the corrupt shard depends on which backends
  // answered first; if it did, that shard (and only it) is queued.
  for (const auto& t : store->PendingRepairs()) {
    EXPECT_EQ(t.segment_id, "r");
    for (int i : t.shards) EXPECT_EQ(i, 0) << "only the corrupt shard is reported";
  }
  // One more loss is too many: an error, never garbage.
  c.Stop(c.IndexOf(ref->shards[2].backend));
  auto fail = store->Get("r");
  ASSERT_FALSE(fail.ok());
}

TEST(ObjectStore, MetadataRecoveredFromKeysAlone) {
  ZdbCluster c(9);  // 0..5 data, 6..8 metadata
  FsKeys keys = Keys();
  std::map<std::string, std::string> written;
  {
    auto store = OpenStore(c, 0, 6, 6, 9, keys, FastOptions(4, 2));
    for (int i = 0; i < 12; ++i) {
      std::string id = "dir/file" + std::to_string(i);
      written[id] = RandomBytes(1000 + i * 777, i);
      ASSERT_TRUE(store->Put(id, written[id]).ok());
    }
    ASSERT_TRUE(store->PutBlob("inodes", "table v1").ok());
    ASSERT_TRUE(store->PutBlob("inodes", "table v2").ok());
    ASSERT_TRUE(store->PutBlob("other", "x").ok());
    ASSERT_TRUE(store->DeleteBlob("other").ok());
  }
  // A different machine: only the keys and the backend lists; one metadata
  // backend down (reads need 2 of 3).
  c.Stop(7);
  FsKeys again;
  again.data_key = *SecretKey::FromBytes(std::string(reinterpret_cast<const char*>(keys.data_key.data()), 32));
  again.metadata_key = *SecretKey::FromBytes(std::string(reinterpret_cast<const char*>(keys.metadata_key.data()), 32));
  auto store = OpenStore(c, 0, 6, 6, 9, again, FastOptions(4, 2));
  auto list = store->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), written.size());
  for (auto& ref : *list) {
    auto got = store->Get(ref);
    ASSERT_TRUE(got.ok()) << ref.id << ": " << got.status().ToString();
    EXPECT_EQ(*got, written[ref.id]);
  }
  EXPECT_EQ(*store->GetBlob("inodes"), "table v2");
  EXPECT_EQ(store->GetBlob("other").status().code(), Status::Code::kNotFound);
  auto blobs = store->ListBlobs();
  ASSERT_TRUE(blobs.ok());
  EXPECT_EQ(*blobs, std::vector<std::string>{"inodes"});
  // Writes still reach a majority (2 of 3) with one metadata backend down.
  ASSERT_TRUE(store->Put("dir/new", "fresh").ok());
  // Two metadata backends down: below quorum, refused rather than guessed.
  c.Stop(8);
  EXPECT_EQ(store->Stat("dir/new").status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(store->Put("dir/newer", "x").ok());
  c.Start(7);
  c.Start(8);
  // A lagging replica is brought up to date by reads (read repair).
  auto st = store->Stat("dir/new");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  // Wrong metadata key: nothing readable, no garbage returned.
  FsKeys wrong = Keys();
  auto other = OpenStore(c, 0, 6, 6, 9, wrong, FastOptions(4, 2));
  auto none = other->List();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(other->Get("dir/file1").status().code(), Status::Code::kNotFound);
  // Wrong data key, right metadata key: decode fails, no wrong bytes.
  FsKeys half;
  half.data_key = SecretKey::Random();
  half.metadata_key = again.metadata_key;
  auto h = OpenStore(c, 0, 6, 6, 9, half, FastOptions(4, 2));
  auto bad = h->Get("dir/file1");
  ASSERT_FALSE(bad.ok());
}

TEST(ObjectStore, PlacementSpreadsFarms) {
  ZdbCluster c(7);
  FsKeys keys = Keys();
  std::vector<Backend> data;
  for (int i = 0; i < 6; ++i) data.push_back(c.backend(i, {{"farm", std::to_string(i / 2)}}));
  auto s = ObjectStore::Open(keys, data, c.backends(6, 7), FastOptions(2, 1));
  ASSERT_TRUE(s.ok());
  std::map<std::string, int> per_backend;
  for (int j = 0; j < 12; ++j) {
    auto ref = (*s)->Put("p" + std::to_string(j), RandomBytes(20000, j));
    ASSERT_TRUE(ref.ok());
    std::set<int> farms;
    for (auto& sh : ref->shards) {
      farms.insert(c.IndexOf(sh.backend) / 2);
      per_backend[sh.backend]++;
    }
    EXPECT_EQ(farms.size(), 3u) << "3 shards in 3 different farms";
  }
  // Fill balancing: every backend got work.
  EXPECT_EQ(per_backend.size(), 6u);
}

TEST(ObjectStore, ConcurrentPutsAndGets) {
  ZdbCluster c(7);
  FsKeys keys = Keys();
  auto store = OpenStore(c, 0, 6, 6, 7, keys, FastOptions(4, 2));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < 5; ++j) {
        std::string id = "t" + std::to_string(t) + "/" + std::to_string(j);
        std::string data = RandomBytes(50000, t * 100 + j);
        if (!store->Put(id, data).ok()) failures++;
        auto got = store->Get(id);
        if (!got.ok() || *got != data) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// Issue 13 item 5: a layout with data namespaces gone (k..k+m-1 backends)
// opens; everything reads from any k shards; Put succeeds while min_durable
// shards can be stored, and queues the unplaced shards for repair.
TEST(ObjectStore, DegradedLayoutReadsAndWritesWhileMinDurableHolds) {
  ZdbCluster c(7);  // 0..5 data, 6 metadata
  FsKeys keys = Keys();
  const std::string a = RandomBytes(200000, 71);
  {
    auto full = OpenStore(c, 0, 6, 6, 7, keys, FastOptions(4, 2));
    ASSERT_TRUE(full->Put("a", a).ok());
  }
  auto without = [&](std::set<int> gone) {
    std::vector<Backend> out;
    for (int i = 0; i < 6; ++i) {
      if (!gone.count(i)) out.push_back(c.backend(i));
    }
    return out;
  };
  {
    // One namespace gone: 5 backends, default min_durable k+1 = 5 holds.
    auto s = ObjectStore::Open(keys, without({2}), c.backends(6, 7), FastOptions(4, 2));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto got = (*s)->Get("a");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == a);
    const std::string b = RandomBytes(150000, 72);
    auto ref = (*s)->Put("b", b);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    EXPECT_EQ(ref->stored(), 5);
    bool queued = false;
    for (const auto& t : (*s)->PendingRepairs()) {
      if (t.segment_id == "b") queued = t.shards.size() == 1;
    }
    EXPECT_TRUE(queued) << "the unplaced shard of b is queued for repair";
    auto gb = (*s)->Get("b");
    ASSERT_TRUE(gb.ok()) << gb.status().ToString();
    EXPECT_TRUE(*gb == b);
  }
  {
    // Two gone: 4 = k backends. Reads still work; the default policy
    // (5 shards) refuses a Put, min_durable = k accepts it.
    auto s = ObjectStore::Open(keys, without({0, 4}), c.backends(6, 7), FastOptions(4, 2));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto got = (*s)->Get("a");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == a);
    auto ref = (*s)->Put("c", "ccc");
    ASSERT_FALSE(ref.ok());
    EXPECT_EQ(ref.status().code(), Status::Code::kUnavailable);
    EXPECT_NE(ref.status().message().find("only 4 of 6 shards stored, need 5"), std::string::npos)
        << ref.status().message();
    auto o = FastOptions(4, 2);
    o.min_durable = 4;
    auto s4 = ObjectStore::Open(keys, without({0, 4}), c.backends(6, 7), o);
    ASSERT_TRUE(s4.ok()) << s4.status().ToString();
    auto r4 = (*s4)->Put("c", "ccc");
    ASSERT_TRUE(r4.ok()) << r4.status().ToString();
    EXPECT_EQ(r4->stored(), 4);
    EXPECT_EQ(*(*s4)->Get("c"), "ccc");
  }
  // Fewer than k: refused, saying why.
  auto s3 = ObjectStore::Open(keys, without({0, 1, 2}), c.backends(6, 7), FastOptions(4, 2));
  ASSERT_FALSE(s3.ok());
  EXPECT_NE(s3.status().message().find("needs at least 4 data backends"), std::string::npos)
      << s3.status().message();
}

}  // namespace
}  // namespace qstor::fs
