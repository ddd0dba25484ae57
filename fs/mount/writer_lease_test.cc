// Unit tests of the one-writer records, the staleness rule and the lease
// (fs/mount/writer_lease.h), over the local directory sink.
#include "fs/mount/writer_lease.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace qstor::fs::mount {
namespace {

namespace sfs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class WriterLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/qstor-writer-lease-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto s = NewLocalDirSink(root_ + "/backend");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sink_ = std::shared_ptr<SegmentSink>(std::move(s).value());
  }
  void TearDown() override {
    std::error_code ec;
    sfs::remove_all(root_, ec);
  }
  LeaseOptions Opts(const std::string& id) {
    LeaseOptions o;
    o.duration = 600ms;
    o.renew = 150ms;
    o.cache_id = id;
    o.host = "host-" + id;
    o.pid = 4242;
    o.mountpoint = "/mnt/" + id;
    return o;
  }
  std::string root_;
  std::shared_ptr<SegmentSink> sink_;
};

TEST_F(WriterLeaseTest, RecordsRoundTrip) {
  HeadRecord h{7, "abc", "hostA", 12, 1700000000};
  auto hd = DecodeHead(EncodeHead(h));
  ASSERT_TRUE(hd.ok());
  EXPECT_EQ(hd->gen, 7u);
  EXPECT_EQ(hd->cache_id, "abc");
  EXPECT_EQ(hd->host, "hostA");
  EXPECT_EQ(hd->pid, 12);
  EXPECT_EQ(hd->written_unix, 1700000000);
  LeaseRecord l{"id", "h", 3, "/m", 9, true, 1700000001, 60000, 20000};
  auto ld = DecodeLease(EncodeLease(l));
  ASSERT_TRUE(ld.ok());
  EXPECT_EQ(ld->cache_id, "id");
  EXPECT_EQ(ld->seq, 9u);
  EXPECT_TRUE(ld->released);
  EXPECT_EQ(ld->mountpoint, "/m");
  EXPECT_EQ(ld->duration_ms, 60000);
  EXPECT_FALSE(DecodeHead("not json").ok());
  EXPECT_FALSE(DecodeLease("{}").ok());

  auto none = ReadHead(*sink_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(WriteHead(*sink_, h).ok());
  auto back = ReadHead(*sink_);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->gen, 7u);
}

// Found by fuzz_writer_records: 27 digits parse as a double, and
// nlohmann's get<uint64_t>() of it was undefined behaviour (UBSan:
// float-cast-overflow). Integer fields are integers, in range, or the record
// is refused with the field named.
TEST_F(WriterLeaseTest, NumbersThatAreNotIntegersInRangeAreRefused) {
  for (const char* bad : {R"({"gen":723422222222222222222222000})", R"({"gen":7e26})",
                          R"({"gen":1.5})", R"({"gen":-1})", R"({"gen":"7"})",
                          R"({"gen":7,"pid":18446744073709551615})",
                          R"({"gen":7,"written_unix":1e300})"}) {
    auto h = DecodeHead(bad);
    ASSERT_FALSE(h.ok()) << bad;
    EXPECT_EQ(h.status().code(), Status::Code::kCorruption) << bad;
    EXPECT_NE(h.status().message().find("fsmeta.head"), std::string::npos) << h.status().ToString();
  }
  auto h = DecodeHead(R"({"gen":18446744073709551615,"pid":-5})");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->gen, UINT64_MAX);
  EXPECT_EQ(h->pid, -5);
  for (const char* bad : {R"({"cache_id":"c","seq":1e30})", R"({"cache_id":"c","seq":-2})",
                          R"({"cache_id":"c","seq":1,"duration_ms":9.5})"}) {
    EXPECT_FALSE(DecodeLease(bad).ok()) << bad;
  }
}

TEST_F(WriterLeaseTest, CacheIdIsStableAndPrivate) {
  std::string dir = root_ + "/cache";
  sfs::create_directories(dir);
  auto a = LoadOrCreateCacheId(dir);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 32u);
  auto b = LoadOrCreateCacheId(dir);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/cache-id").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string other = root_ + "/cache2";
  sfs::create_directories(other);
  auto c = LoadOrCreateCacheId(other);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);
  auto g = ReadCacheGen(dir);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->fresh);
}

TEST_F(WriterLeaseTest, StalenessRule) {
  CacheGen fresh{true, 0};
  CacheGen at5{false, 5};
  HeadRecord h5{5, "other", "hB", 1, 0};
  HeadRecord h6{6, "other", "hB", 1, 1700000000};
  HeadRecord h6mine{6, "me", "hA", 1, 0};
  EXPECT_FALSE(CacheIsStale(fresh, "me", h6));          // restores
  EXPECT_FALSE(CacheIsStale(at5, "me", std::nullopt));  // no head: generation 0
  EXPECT_FALSE(CacheIsStale(at5, "me", h5));     // restored 5 and stored nothing since
  EXPECT_TRUE(CacheIsStale(at5, "me", h6));      // another cache stored 6
  EXPECT_FALSE(CacheIsStale(at5, "me", h6mine)); // we stored 6 (crash before recording it)
  Status st = CheckCacheNotStale(at5, "me", h6, "/c");
  ASSERT_EQ(st.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("this cache is older than the storage on the grid (grid generation 6 "
                              "written by host hB at 2023-11-14 22:13:20 UTC; cache has 5)"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("rm -r /c"), std::string::npos);
  EXPECT_NE(st.message().find("--take-over"), std::string::npos);
}

TEST_F(WriterLeaseTest, FreeReleasedAndOwnLeasesAreTakenAtOnce) {
  auto t0 = Clock::now();
  auto a = WriterLease::Acquire(sink_, Opts("a"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->Current());
  ASSERT_TRUE((*a)->Release().ok());
  auto rec = ReadLease(*sink_);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE((*rec)->released);
  // Released: another cache takes it at once.
  auto b = WriterLease::Acquire(sink_, Opts("b"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT((*b)->record().seq, (*rec)->seq);
  b->reset();  // "killed": not released
  // Our own (a killed mount of this cache): taken at once.
  auto b2 = WriterLease::Acquire(sink_, Opts("b"));
  ASSERT_TRUE(b2.ok()) << b2.status().ToString();
  EXPECT_LT(Clock::now() - t0, 500ms);
}

TEST_F(WriterLeaseTest, LiveLeaseIsRefusedNamingTheHolder) {
  auto a = WriterLease::Acquire(sink_, Opts("a"));
  ASSERT_TRUE(a.ok());
  (*a)->StartRenewing();
  auto t0 = Clock::now();
  auto b = WriterLease::Acquire(sink_, Opts("b"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Status::Code::kFailedPrecondition);
  const std::string& m = b.status().message();
  EXPECT_NE(m.find("host host-a"), std::string::npos) << m;
  EXPECT_NE(m.find("pid 4242"), std::string::npos) << m;
  EXPECT_NE(m.find("mount point /mnt/a"), std::string::npos) << m;
  EXPECT_NE(m.find("ends 1 s after its last renewal"), std::string::npos) << m;
  EXPECT_NE(m.find("--read-only"), std::string::npos) << m;
  // Refused as soon as a renewal is seen, well before the lease could expire.
  EXPECT_LT(Clock::now() - t0, 600ms);
  EXPECT_FALSE((*a)->lost());
  EXPECT_TRUE((*a)->Check().ok());
  ASSERT_TRUE((*a)->Release().ok());
}

TEST_F(WriterLeaseTest, UnrenewedLeaseExpiresOnOurClock) {
  auto a = WriterLease::Acquire(sink_, Opts("a"));
  ASSERT_TRUE(a.ok());
  a->reset();  // the holder died without releasing
  // Its wall clock says it was renewed just now: irrelevant; what counts is
  // that the record does not change for duration + renew.
  auto t0 = Clock::now();
  auto b = WriterLease::Acquire(sink_, Opts("b"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 750ms);
  EXPECT_LT(waited, 3s);
  auto rec = ReadLease(*sink_);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->cache_id, "b");
}

TEST_F(WriterLeaseTest, TakeOverFencesTheHolder) {
  auto ga = std::make_shared<GridWriter>(sink_, GridWriter::State::kPending, 3, "a", "hA", 1);
  EXPECT_FALSE(ga->MayWrite());
  EXPECT_FALSE(ga->fenced());
  auto a = WriterLease::Acquire(sink_, Opts("a"));
  ASSERT_TRUE(a.ok());
  (*a)->StartRenewing();
  ga->SetHeld(std::move(a).value(), 3);
  ASSERT_TRUE(ga->MayWrite());
  auto g = ga->BeginSnapshot();
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, 4u);
  ASSERT_TRUE(ga->FinishSnapshot(*g).ok());
  auto head = ReadHead(*sink_);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->gen, 4u);
  EXPECT_EQ((*head)->cache_id, "a");

  // A head written behind our back (a writer we took over stored one more
  // snapshot): the next generation is past it.
  ASSERT_TRUE(WriteHead(*sink_, HeadRecord{9, "z", "hZ", 2, 0}).ok());
  auto g9 = ga->BeginSnapshot();
  ASSERT_TRUE(g9.ok()) << g9.status().ToString();
  EXPECT_EQ(*g9, 10u);

  auto ob = Opts("b");
  ob.take_over = true;
  auto t0 = Clock::now();
  auto b = WriterLease::Acquire(sink_, ob);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_LT(Clock::now() - t0, 300ms);  // take-over does not wait
  // The old holder's next snapshot finds the record names b: fenced.
  auto g2 = ga->BeginSnapshot();
  ASSERT_FALSE(g2.ok());
  EXPECT_TRUE(ga->fenced());
  EXPECT_FALSE(ga->MayWrite());
  EXPECT_NE(ga->WhyNot().find("taken over by host host-b"), std::string::npos) << ga->WhyNot();
  // Its release leaves b's lease alone.
  ASSERT_TRUE(ga->Release().ok());
  auto rec = ReadLease(*sink_);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->cache_id, "b");
  EXPECT_FALSE((*rec)->released);
}

TEST_F(WriterLeaseTest, RenewalNoticesATakeOver) {
  auto a = WriterLease::Acquire(sink_, Opts("a"));
  ASSERT_TRUE(a.ok());
  (*a)->StartRenewing();
  auto ob = Opts("b");
  ob.take_over = true;
  auto b = WriterLease::Acquire(sink_, ob);
  ASSERT_TRUE(b.ok());
  auto deadline = Clock::now() + 2s;
  while (!(*a)->lost() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE((*a)->lost());
  EXPECT_FALSE((*a)->Current());
}

TEST_F(WriterLeaseTest, ReadOnlyNeverWrites) {
  GridWriter ro(sink_, GridWriter::State::kReadOnly, 0, "r", "h", 1);
  EXPECT_TRUE(ro.read_only());
  EXPECT_TRUE(ro.fenced());
  EXPECT_FALSE(ro.MayWrite());
  EXPECT_FALSE(ro.BeginSnapshot().ok());
  EXPECT_TRUE(ro.Release().ok());
  auto rec = ReadLease(*sink_);
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  EXPECT_FALSE(sfs::exists(root_ + "/backend/meta/fsmeta.head"));
}

TEST_F(WriterLeaseTest, BadDurationsAreRefused) {
  auto o = Opts("a");
  o.renew = o.duration;
  EXPECT_EQ(WriterLease::Acquire(sink_, o).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace qstor::fs::mount
