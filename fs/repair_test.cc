// Check and repair against real in-process 0-db servers on loopback.
#include "fs/repair.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

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

// The sealed copy of the record `key` on metadata backend `meta_index`.
std::string RawRecord(ObjectStore& store, size_t meta_index, const std::string& key) {
  auto v = store.ReadMetadataEntry(meta_index, key);
  return v.ok() && v->has_value() ? **v : std::string();
}

// The record key of a segment (from its authenticated record).
std::string SegmentRecordKey(ObjectStore& store, size_t meta_index, const std::string& id) {
  auto entries = store.ListMetadataEntries(meta_index);
  if (!entries.ok()) return "";
  for (const auto& e : *entries) {
    auto info = store.OpenMetadataRecord(e.key, e.value);
    if (info.ok() && info->kind == "seg" && info->name == id) return e.key;
  }
  return "";
}

TEST_F(RepairTest, MetadataBackendWipedIsReportedRestoredAndReadableFromItAlone) {
  PutMany(6, "m");
  const std::string table = RandomBytes(70000, 99);
  ASSERT_TRUE(store_->PutBlob("inode-table", table).ok());
  ASSERT_TRUE(store_->Delete("m5").ok());  // a tombstone is metadata too
  data_.erase("m5");
  {
    auto r = Check(*store_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->metadata_checked);
    EXPECT_TRUE(r->metadata.healthy());
    EXPECT_EQ(r->metadata.objects, 7u);  // 5 live segments, 1 tombstone, 1 blob
    for (const auto& b : r->metadata.backends) EXPECT_EQ(b.ok, 7) << b.backend;
  }
  // A stale copy on backend 10: m1's record before m1 is overwritten.
  const std::string m1_key = SegmentRecordKey(*store_, 2, "m1");
  ASSERT_FALSE(m1_key.empty());
  const std::string m1_old = RawRecord(*store_, 2, m1_key);
  data_["m1"] = RandomBytes(33333, 1234);
  ASSERT_TRUE(store_->Put("m1", data_["m1"]).ok());
  ASSERT_TRUE(store_->WriteMetadataEntry(2, m1_key, m1_old).ok());
  // A corrupt copy on backend 10: m2's record with a flipped byte.
  const std::string m2_key = SegmentRecordKey(*store_, 2, "m2");
  std::string m2_bad = RawRecord(*store_, 2, m2_key);
  ASSERT_FALSE(m2_bad.empty());
  m2_bad[m2_bad.size() / 2] ^= 0x40;
  ASSERT_TRUE(store_->WriteMetadataEntry(2, m2_key, m2_bad).ok());
  // Metadata backend 9 wiped: back empty, as a namespace redeployed in its slot.
  cluster_->Wipe(9);

  auto r = Check(*store_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->healthy, 5);  // the data itself is fine
  EXPECT_FALSE(r->metadata.healthy());
  EXPECT_FALSE(r->metadata.lost());
  ASSERT_EQ(r->metadata.backends.size(), 3u);
  EXPECT_TRUE(r->metadata.backends[0].healthy());
  EXPECT_EQ(r->metadata.backends[1].missing, 7);
  EXPECT_EQ(r->metadata.backends[1].ok, 0);
  EXPECT_EQ(r->metadata.backends[2].stale, 1);
  EXPECT_EQ(r->metadata.backends[2].corrupt, 1);
  EXPECT_EQ(r->metadata.backends[2].ok, 5);
  EXPECT_EQ(r->metadata.damaged.size(), 7u);

  // Interrupted before it starts: nothing written, all of it remains.
  std::atomic<bool> cancel{true};
  RepairOptions ro;
  ro.cancel = &cancel;
  auto rep = Repair(*store_, *r, ro);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->metadata_restored, 0);
  EXPECT_EQ(rep->metadata_remaining, 7);
  EXPECT_EQ(Check(*store_)->metadata.backends[1].missing, 7);

  // Meanwhile a writer stores a newer revision of m3's record everywhere:
  // the repair, working from the older report, must leave it alone.
  data_["m3"] = RandomBytes(12345, 77);
  ASSERT_TRUE(store_->Put("m3", data_["m3"]).ok());

  rep = Repair(*store_, *r);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->metadata_objects, 7);
  EXPECT_EQ(rep->metadata_newer, 1);  // m3 on backend 9
  EXPECT_EQ(rep->metadata_restored, 6 + 2);  // 6 onto backend 9, stale + corrupt onto 10
  EXPECT_EQ(rep->metadata_failed, 0) << (rep->errors.empty() ? "" : rep->errors[0]);
  EXPECT_EQ(rep->metadata_restored_per_backend[cluster_->backend(9).Name()], 6);
  EXPECT_EQ(rep->metadata_restored_per_backend[cluster_->backend(10).Name()], 2);
  auto after = Check(*store_);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->metadata.healthy());
  for (const auto& b : after->metadata.backends) EXPECT_EQ(b.ok, 7) << b.backend;
  EXPECT_EQ(after->healthy, 5);
  ExpectAllReadable();
  // Resumable: nothing left to do.
  rep = Repair(*store_, *after);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->metadata_restored, 0);

  // Everything is found again from the restored backend alone.
  auto alone = ObjectStore::Open(keys_, cluster_->backends(0, 8), {cluster_->backend(9)},
                                 FastOptions(4, 2));
  ASSERT_TRUE(alone.ok());
  auto list = (*alone)->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 5u);
  for (auto& [id, bytes] : data_) {
    auto got = (*alone)->Get(id);
    ASSERT_TRUE(got.ok()) << id << ": " << got.status().ToString();
    EXPECT_TRUE(*got == bytes) << id;
  }
  EXPECT_EQ((*alone)->Get("m5").status().code(), Status::Code::kNotFound);
  auto blob = (*alone)->GetBlob("inode-table");
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_TRUE(*blob == table);
}

TEST_F(RepairTest, MetadataBackendDownIsDegradedAndNothingIsWrittenToIt) {
  PutMany(2, "u");
  cluster_->Stop(8);
  auto r = Check(*store_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->healthy, 2);
  EXPECT_FALSE(r->metadata.healthy());
  EXPECT_FALSE(r->metadata.backends[0].reachable);
  EXPECT_FALSE(r->metadata.backends[0].error.empty());
  EXPECT_EQ(r->metadata.unreachable(), 1);
  EXPECT_TRUE(r->metadata.damaged.empty());  // only answering backends can be repaired
  auto rep = Repair(*store_, *r);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->metadata_restored, 0);
}

TEST_F(RepairTest, GcRemovesOrphansAndTombstonesNeverLiveData) {
  PutMany(4, "g");
  ASSERT_TRUE(store_->PutBlob("table", "small").ok());
  // 1. A shard no segment references (a Put that crashed before its commit).
  const std::string orphan = store_->ShardKey("nobody", 1, 0);
  ASSERT_TRUE(cluster_->Client(3)->Set(orphan, std::string(1000, 'x')).ok());
  // 2. A segment deleted while one of its backends was down.
  auto g0 = store_->Stat("g0");
  ASSERT_TRUE(g0.ok());
  const int down = cluster_->IndexOf(g0->shards[0].backend);
  const std::string left_key = store_->ShardKey("g0", g0->version, 0);
  cluster_->Stop(down);
  ASSERT_TRUE(store_->Delete("g0").ok());
  data_.erase("g0");
  for (int i = 0; i < 100 && store_->Garbage().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(store_->Garbage().size(), 1u);  // the delete on the down backend failed
  cluster_->Start(down);
  ASSERT_TRUE(*cluster_->Client(down)->Exists(left_key));
  const std::string down_name = cluster_->backend(down).Name();

  // Young garbage is kept: an upload in flight looks exactly like it.
  GcOptions o;
  o.dry_run = true;
  auto r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->items.empty());
  EXPECT_TRUE(r->complete()) << r->refused;
  EXPECT_EQ(r->live_segments, 3u);
  uint64_t young = 0;
  for (const auto& b : r->backends) young += b.young;
  EXPECT_EQ(young, 2u + 3u);  // two shards, the tombstone on 3 replicas
  EXPECT_EQ(r->kept_tombstones, 1u);

  // Dry run past the grace period: reported, nothing deleted.
  o.grace = std::chrono::seconds(0);
  r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->refused.empty()) << r->refused;
  ASSERT_EQ(r->items.size(), 2u + 3u);
  EXPECT_EQ(r->garbage(), 5u);
  EXPECT_EQ(r->deleted(), 0u);
  std::set<std::pair<std::string, std::string>> shards;
  int tombstones = 0;
  for (const auto& it : r->items) {
    if (it.role == "data") shards.insert({it.backend, it.key});
    if (it.role == "meta") ++tombstones;
    EXPECT_FALSE(it.deleted);
  }
  EXPECT_EQ(tombstones, 3);
  EXPECT_TRUE(shards.count({cluster_->backend(3).Name(), orphan}));
  EXPECT_TRUE(shards.count({down_name, left_key}));
  for (const auto& b : r->backends) {
    if (b.backend == cluster_->backend(3).Name() && b.role == "data") {
      EXPECT_GE(b.garbage_bytes, 1000u);
    }
  }
  EXPECT_TRUE(*cluster_->Client(3)->Exists(orphan));

  // A metadata backend down: nothing may be deleted (a record only it holds
  // could reference any key).
  cluster_->Stop(10);
  o.dry_run = false;
  r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->refused.empty());
  EXPECT_FALSE(r->complete());
  EXPECT_EQ(r->deleted(), 0u);
  EXPECT_TRUE(*cluster_->Client(3)->Exists(orphan));
  cluster_->Start(10);

  r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete()) << r->refused;
  EXPECT_EQ(r->deleted(), 5u);
  EXPECT_EQ(r->deleted_bytes(), r->garbage_bytes());
  EXPECT_FALSE(*cluster_->Client(3)->Exists(orphan));
  EXPECT_FALSE(*cluster_->Client(down)->Exists(left_key));
  for (size_t i = 0; i < 3; ++i) {
    auto entries = store_->ListMetadataEntries(i);
    ASSERT_TRUE(entries.ok());
    EXPECT_EQ(entries->size(), 4u);  // 3 live segments + the blob
  }
  // Live data is untouched, byte for byte, and fully healthy.
  ExpectAllReadable();
  EXPECT_EQ(store_->Get("g0").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*store_->GetBlob("table"), "small");
  auto c = Check(*store_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->healthy, 3);
  EXPECT_TRUE(c->metadata.healthy());
  // Nothing left.
  r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->garbage(), 0u);
}

TEST_F(RepairTest, GcKeepsATombstoneWhileAReplicaStillHoldsTheLiveRecord) {
  PutMany(2, "t");
  const std::string key = SegmentRecordKey(*store_, 0, "t0");
  ASSERT_FALSE(key.empty());
  const std::string live_copy = RawRecord(*store_, 0, key);
  ASSERT_TRUE(store_->Delete("t0").ok());
  data_.erase("t0");
  // Backend 8 missed the delete (as if it had been down): it still holds the
  // live record. Dropping the tombstone now would let that copy resurrect t0.
  ASSERT_TRUE(store_->WriteMetadataEntry(0, key, live_copy).ok());
  GcOptions o;
  o.grace = std::chrono::seconds(0);
  auto r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kept_tombstones, 1u);
  for (const auto& it : r->items) EXPECT_NE(it.role, "meta") << it.key;
  for (size_t i = 1; i < 3; ++i) EXPECT_FALSE(RawRecord(*store_, i, key).empty()) << i;
  // fs repair brings the tombstone to backend 8; then gc may drop it everywhere.
  auto c = Check(*store_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->metadata.backends[0].stale, 1);
  auto rep = Repair(*store_, *c);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->metadata_restored, 1);
  EXPECT_EQ(store_->Get("t0").status().code(), Status::Code::kNotFound);
  r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kept_tombstones, 0u);
  int dropped = 0;
  for (const auto& it : r->items) dropped += it.role == "meta" && it.deleted ? 1 : 0;
  EXPECT_EQ(dropped, 3);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(RawRecord(*store_, i, key).empty()) << i;
  ExpectAllReadable();
}

TEST_F(RepairTest, GcRefusesWhileARecordIsUnreadable) {
  PutMany(1, "x");
  ASSERT_TRUE(cluster_->Client(2)->Set(store_->ShardKey("nobody", 1, 0), "leftover").ok());
  // A record under this store's prefix that authenticates nowhere: it could
  // name any shard, so nothing may be judged garbage.
  for (int i = 8; i < 11; ++i) {
    ASSERT_TRUE(cluster_->Client(i)->Set("qstor/m/00000000000000000000000000000000", "junk").ok());
  }
  GcOptions o;
  o.grace = std::chrono::seconds(0);
  auto r = CollectGarbage(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->refused.find("does not authenticate"), std::string::npos) << r->refused;
  EXPECT_TRUE(r->items.empty());
  EXPECT_TRUE(*cluster_->Client(2)->Exists(store_->ShardKey("nobody", 1, 0)));
  auto c = Check(*store_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->metadata.lost());
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

// Issue 19: a slot replaced by a new namespace (a new backend name, as
// `qstor apply` makes it) leaves every segment a shard short although every
// backend answers. The cheap availability check counts that from the
// records and key listings alone, agrees with Check, counts a down backend
// too, and says whole again once Repair rebuilt the shards (reporting its
// progress after the metadata and after every segment).
TEST_F(RepairTest, AvailabilityCountsReplacedAndDownSlotsFromRecordsAndListings) {
  auto named = [&](int i, const std::string& name) {
    Backend b = cluster_->backend(i);
    b.name = name;
    return b;
  };
  std::vector<Backend> data, meta;
  for (int i = 0; i < 6; ++i) {
    data.push_back(named(i, "data" + std::to_string(i) + "@node" + std::to_string(i)));
  }
  for (int i = 8; i < 11; ++i) {
    meta.push_back(named(i, "meta" + std::to_string(i - 8) + "@node" + std::to_string(i)));
  }
  auto open = [&] {
    store_.reset();
    auto s = ObjectStore::Open(keys_, data, meta, FastOptions(4, 2));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s.value());
  };
  open();
  PutMany(5, "v");
  auto a = CheckAvailability(*store_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->segments, 5);
  EXPECT_EQ(a->healthy, 5);
  EXPECT_EQ(a->can_lose, 2);
  EXPECT_EQ(a->data_backends_answering, 6);
  EXPECT_TRUE(a->metadata_checked);
  EXPECT_TRUE(a->whole());

  // A node down: every segment has a shard there.
  cluster_->Stop(3);
  a = CheckAvailability(*store_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->degraded, 5);
  EXPECT_EQ(a->can_lose, 1);
  ASSERT_EQ(a->unreachable.size(), 1u);
  EXPECT_NE(a->unreachable[0].find("data3@node3"), std::string::npos) << a->unreachable[0];
  EXPECT_FALSE(a->whole());
  cluster_->Start(3);

  // data[1] and meta[0] replaced by new namespaces: all answer, yet every
  // segment is a shard short and a metadata replica is empty.
  data[1] = named(6, "data1@node6");
  meta[0] = named(7, "meta0@node7");
  open();
  a = CheckAvailability(*store_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->data_backends_answering, 6);
  EXPECT_TRUE(a->unreachable.empty());
  EXPECT_EQ(a->degraded, 5);
  EXPECT_EQ(a->healthy, 0);
  EXPECT_EQ(a->can_lose, 1);
  EXPECT_FALSE(a->metadata.healthy());
  EXPECT_FALSE(a->whole());
  auto check = Check(*store_);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(check->degraded, a->degraded) << "the cheap check agrees with the one that reads";

  std::vector<RepairProgress> seen;
  RepairOptions ro;
  ro.progress = [&](const RepairProgress& p) { seen.push_back(p); };
  auto rep = Repair(*store_, *check, ro);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(rep->repaired, 5) << (rep->errors.empty() ? "" : rep->errors[0]);
  ASSERT_EQ(seen.size(), 6u) << "once after the metadata, once per segment";
  EXPECT_EQ(seen.front().segments_done, 0u);
  EXPECT_GT(seen.front().metadata_restored, 0);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].segments_done, i);
    EXPECT_EQ(seen[i].segments_total, 5u);
  }
  EXPECT_EQ(seen.back().repaired, 5);
  EXPECT_EQ(seen.back().bytes_written, rep->bytes_written);

  a = CheckAvailability(*store_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->healthy, 5);
  EXPECT_EQ(a->can_lose, 2);
  EXPECT_TRUE(a->whole());
  ExpectAllReadable();
}

}  // namespace
}  // namespace qstor::fs
