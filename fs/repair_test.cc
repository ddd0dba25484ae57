// Check and repair against real in-process 0-db servers on loopback.
#include "fs/repair.h"

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

const SegmentCheck* Find(const CheckReport& r, const std::string& id) {
  for (const auto& s : r.segments) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

// 8 data backends (0..7), 3 metadata backends (8..10).
class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ZdbCluster>(11, "repair");
    keys_ = Keys();
    Reopen(FastOptions(4, 2));
  }
  void Reopen(ObjectStoreOptions o) {
    store_.reset();
    auto s = ObjectStore::Open(keys_, cluster_->backends(0, 8), cluster_->backends(8, 11), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s.value());
  }
  void PutMany(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      std::string id = prefix + std::to_string(i);
      data_[id] = RandomBytes(20000 + 3000 * i, i + 1);
      auto r = store_->Put(id, data_[id]);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }
  void ExpectAllReadable() {
    for (auto& [id, bytes] : data_) {
      auto got = store_->Get(id);
      ASSERT_TRUE(got.ok()) << id << ": " << got.status().ToString();
      EXPECT_EQ(*got, bytes) << id;
    }
  }
  std::unique_ptr<ZdbCluster> cluster_;
  FsKeys keys_;
  std::unique_ptr<ObjectStore> store_;
  std::map<std::string, std::string> data_;
};

TEST_F(RepairTest, HealthyCheckWithFullDecode) {
  PutMany(5, "h");
  CheckOptions o;
  o.full_decode = true;
  auto r = Check(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->healthy, 5);
  EXPECT_EQ(r->degraded + r->lost, 0);
  for (auto& s : r->segments) {
    EXPECT_TRUE(s.decoded);
    EXPECT_EQ(s.good, 6);
  }
  int total_ok = 0;
  for (auto& b : r->backends) total_ok += b.ok;
  EXPECT_EQ(total_ok, 30);
  EXPECT_EQ(r->backends.size(), 8u);
}

TEST_F(RepairTest, RepairAfterBackendWiped) {
  PutMany(10, "w");
  // Pick the backend holding shards of the first segment and wipe it.
  auto ref = store_->Stat("w0");
  ASSERT_TRUE(ref.ok());
  int victim = cluster_->IndexOf(ref->shards[0].backend);
  cluster_->Wipe(victim);
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->degraded, 1);
  EXPECT_EQ(r->lost, 0);
  const SegmentCheck* w0 = Find(*r, "w0");
  ASSERT_TRUE(w0);
  EXPECT_EQ(w0->health, SegmentHealth::kDegraded);
  EXPECT_EQ(w0->good, 5);
  EXPECT_EQ(w0->shards[0].state, ShardState::kMissing);
  for (auto& b : r->backends) {
    if (b.backend == ref->shards[0].backend) {
      EXPECT_GT(b.missing, 0);
    }
  }
  auto rep = Repair(*store_, *r);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->repaired, r->degraded);
  EXPECT_EQ(rep->failed, 0) << (rep->errors.empty() ? "" : rep->errors[0]);
  EXPECT_GT(rep->bytes_written, 0u);
  auto again = Check(*store_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->healthy, 10);
  EXPECT_EQ(again->degraded, 0);
  // The wiped backend was up again, so it got its shards back.
  auto ref2 = store_->Stat("w0");
  ASSERT_TRUE(ref2.ok());
  EXPECT_EQ(ref2->shards[0].backend, ref->shards[0].backend);
  EXPECT_EQ(ref2->version, ref->version);
  ExpectAllReadable();
}

TEST_F(RepairTest, RepairMovesShardsOffDeadBackendClosestToLossFirst) {
  PutMany(6, "d");
  auto ref = store_->Stat("d3");
  ASSERT_TRUE(ref.ok());
  int dead = cluster_->IndexOf(ref->shards[1].backend);
  // Corrupt another shard of d3 so it is the closest to loss.
  std::string corrupt_backend = ref->shards[2].backend;
  {
    auto cl = cluster_->Client(cluster_->IndexOf(corrupt_backend));
    std::string key = store_->ShardKey("d3", ref->version, 2);
    auto v = cl->Get(key);
    ASSERT_TRUE(v.ok() && v->has_value());
    std::string bad = **v;
    bad[bad.size() / 2] ^= 0x10;
    ASSERT_TRUE(cl->Set(key, bad).ok());
  }
  cluster_->Stop(dead);
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok());
  const SegmentCheck* d3 = Find(*r, "d3");
  ASSERT_TRUE(d3);
  EXPECT_EQ(d3->good, 4);
  EXPECT_EQ(d3->shards[1].state, ShardState::kUnreachable);
  EXPECT_EQ(d3->shards[2].state, ShardState::kCorrupt);
  // Only one segment per run: it must be d3 (2 shards from loss).
  RepairOptions once;
  once.max_segments = 1;
  auto rep = Repair(*store_, *r, once);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->repaired, 1);
  EXPECT_EQ(rep->remaining, r->degraded - 1);
  auto mid = Check(*store_);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(Find(*mid, "d3")->health, SegmentHealth::kHealthy);
  // Resume: the next run finishes the rest.
  auto rep2 = Repair(*store_, *mid);
  ASSERT_TRUE(rep2.ok());
  EXPECT_EQ(rep2->repaired, mid->degraded);
  EXPECT_EQ(rep2->remaining, 0);
  auto fin = Check(*store_);
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(fin->healthy, 6);
  for (auto& s : fin->segments) {
    std::set<std::string> distinct;
    for (auto& sh : s.shards) {
      EXPECT_NE(cluster_->IndexOf(sh.backend), dead) << "nothing left on the dead backend";
      distinct.insert(sh.backend);
    }
    EXPECT_EQ(distinct.size(), 6u);
  }
  ExpectAllReadable();
}

TEST_F(RepairTest, KeepsEachSegmentsOwnKM) {
  PutMany(2, "a");  // 4+2
  Reopen(FastOptions(2, 1));
  data_["b0"] = RandomBytes(12345, 99);
  ASSERT_TRUE(store_->Put("b0", data_["b0"]).ok());
  auto b0 = store_->Stat("b0");
  auto a0 = store_->Stat("a0");
  ASSERT_TRUE(b0.ok() && a0.ok());
  std::set<std::string> b0_backends;
  for (auto& sh : b0->shards) b0_backends.insert(sh.backend);
  // One backend with a shard of b0 (2+1 survives one loss) and one with a
  // shard of a0 but none of b0.
  cluster_->Wipe(cluster_->IndexOf(b0->shards[0].backend));
  for (auto& sh : a0->shards) {
    if (!b0_backends.count(sh.backend)) {
      cluster_->Wipe(cluster_->IndexOf(sh.backend));
      break;
    }
  }
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok());
  auto rep = Repair(*store_, *r);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->failed, 0);
  auto fin = Check(*store_);
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(fin->healthy, 3);
  EXPECT_EQ(Find(*fin, "a0")->k, 4);
  EXPECT_EQ(Find(*fin, "a0")->m, 2);
  EXPECT_EQ(Find(*fin, "b0")->k, 2);
  EXPECT_EQ(Find(*fin, "b0")->m, 1);
  ExpectAllReadable();
}

TEST_F(RepairTest, LostSegmentsAreReportedNotRepaired) {
  PutMany(1, "l");
  auto ref = store_->Stat("l0");
  for (int i : {0, 1, 2}) cluster_->Wipe(cluster_->IndexOf(ref->shards[i].backend));
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lost, 1);
  EXPECT_EQ(Find(*r, "l0")->good, 3);
  auto rep = Repair(*store_, *r);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->lost, 1);
  EXPECT_EQ(rep->repaired, 0);
  EXPECT_FALSE(store_->Get("l0").ok());
}

TEST_F(RepairTest, BandwidthBound) {
  PutMany(4, "bw");
  auto ref = store_->Stat("bw0");
  cluster_->Wipe(cluster_->IndexOf(ref->shards[0].backend));
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok());
  RepairOptions o;
  o.max_bytes_per_second = 200000;
  auto start = std::chrono::steady_clock::now();
  auto rep = Repair(*store_, *r, o);
  ASSERT_TRUE(rep.ok());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t bytes = rep->bytes_read + rep->bytes_written;
  ASSERT_GT(bytes, 0u);
  // The throttle sleeps so that bytes / elapsed never exceeds the bound.
  EXPECT_GE(secs, 0.9 * static_cast<double>(bytes) / 200000.0);
}

TEST_F(RepairTest, GarbageIsFoundAndCollected) {
  PutMany(2, "g");
  auto cl = cluster_->Client(3);
  std::string orphan = store_->ShardKey("nobody", 1, 0);
  ASSERT_TRUE(cl->Set(orphan, "leftover").ok());
  CheckOptions o;
  o.scan_garbage = true;
  o.garbage_grace = std::chrono::seconds(0);
  auto r = Check(*store_, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->garbage.size(), 1u);
  EXPECT_EQ(r->garbage[0].key, orphan);
  // Young keys are protected by the grace period.
  o.garbage_grace = std::chrono::seconds(3600);
  EXPECT_TRUE(Check(*store_, o)->garbage.empty());
  auto n = CollectGarbage(*store_, *r);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(*cl->Exists(orphan));
  ExpectAllReadable();
}

TEST_F(RepairTest, ProbeReportsStates) {
  PutMany(2, "p");
  cluster_->Stop(6);
  auto health = ProbeBackends(*store_);
  ASSERT_EQ(health.size(), 11u);
  EXPECT_EQ(health[6].state, BackendState::kDown);
  EXPECT_FALSE(health[6].last_error.empty());
  for (int i : {0, 1, 2, 3, 4, 5, 7, 8, 9, 10}) {
    EXPECT_EQ(health[i].state, BackendState::kUp) << i << " " << health[i].last_error;
    EXPECT_GT(health[i].latency_ms, 0.0);
    EXPECT_TRUE(health[i].used_bytes.has_value());
  }
  // A backend at its size limit is "full" and gets no new shards.
  {
    auto admin = zdb::Client::Connect("127.0.0.1", cluster_->backend(2).port);
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE((*admin)->NsSet("fs", "maxsize", "1000").ok());
  }
  health = ProbeBackends(*store_);
  EXPECT_EQ(health[2].state, BackendState::kFull);
  auto ref = store_->Put("after-full", RandomBytes(5000, 5));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  for (auto& s : ref->shards) {
    EXPECT_NE(cluster_->IndexOf(s.backend), 2);
    EXPECT_NE(cluster_->IndexOf(s.backend), 6);
  }
}

}  // namespace
}  // namespace qstor::fs
