// Batching: chunk limits, error on an oversize call, and packing quality
// proven against lower bounds on random plans of 1..500 calls and against
// the exact optimum (brute force) on small ones.
#include "reconciler/batch.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace qstor::reconciler {
namespace {

std::vector<size_t> RandomPlan(std::mt19937_64& rng, size_t n, size_t lo, size_t hi) {
  std::uniform_int_distribution<size_t> size(lo, hi);
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(size(rng));
  return out;
}

// Checks everything a batch plan promises: every call in exactly one chunk,
// chunks within the limit, items ascending, bytes = the sum of the sizes.
void CheckPlan(const std::vector<size_t>& in, const BatchPlan& plan, size_t max_bytes) {
  std::vector<int> seen(in.size(), 0);
  for (size_t b = 0; b < plan.batches.size(); ++b) {
    const Batch& batch = plan.batches[b];
    ASSERT_LE(batch.bytes, max_bytes);
    ASSERT_FALSE(batch.items.empty());
    ASSERT_TRUE(std::is_sorted(batch.items.begin(), batch.items.end()));
    if (b > 0) {
      ASSERT_LT(plan.batches[b - 1].items.front(), batch.items.front());
    }
    size_t sum = 0;
    for (size_t i : batch.items) {
      ++seen[i];
      sum += in[i];
    }
    ASSERT_EQ(batch.bytes, sum);
  }
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(seen[i], 1) << "call " << i;
}

TEST(Batch, EmptyPlanHasNoBatches) {
  auto p = PackBatches({});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->batches.empty());
}

TEST(Batch, OneSmallCallMakesOneChunk) {
  auto p = PackBatches({120});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->batches.size(), 1u);
  EXPECT_EQ(p->batches[0].bytes, 120u);
  EXPECT_TRUE(p->proven_minimal);
}

TEST(Batch, LargestCallThatFitsFillsAChunkExactly) {
  auto p = PackBatches({kMaxCallBytesPerChunk});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->batches.size(), 1u);
  EXPECT_EQ(p->batches[0].bytes, kMaxCallBytesPerChunk);
  // Two that together exceed the limit by one byte take two chunks.
  auto two = PackBatches({kMaxCallBytesPerChunk / 2 + 1, kMaxCallBytesPerChunk / 2});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->batches.size(), kMaxCallBytesPerChunk % 2 == 0 ? 2u : 1u);
}

TEST(Batch, TheChunkLimitLeavesRoomForTheExtrinsic) {
  // A chunk's payload: its calls plus at most kSigningPayloadOverhead bytes.
  EXPECT_EQ(kMaxCallBytesPerChunk + kSigningPayloadOverhead, kMaxSigningPayloadBytes);
  EXPECT_LT(kMaxSigningPayloadBytes, kQrMaxPayloadBytes);
}

TEST(Batch, TooLargeCallIsAClearError) {
  auto p = PackBatches({100, kMaxCallBytesPerChunk + 1});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument);
  const std::string& m = p.status().message();
  EXPECT_NE(m.find("call #2"), std::string::npos) << m;
  EXPECT_NE(m.find(std::to_string(kMaxCallBytesPerChunk + 1) + " bytes"), std::string::npos) << m;
  EXPECT_NE(m.find("does not split"), std::string::npos) << m;
}

TEST(Batch, RejectsEmptyCalls) { EXPECT_FALSE(PackBatches({10, 0}).ok()); }

TEST(Batch, LowerBoundL2SeesBigItems) {
  // Three items over half a bin: L1 says 2, L2 proves 3.
  std::vector<size_t> w = {60, 60, 60};
  EXPECT_EQ(BinPackingLowerBound(w, 100), 3u);
  // Four items just over half: L1 = ceil(204 / 100) = 3, L2 = 4.
  EXPECT_EQ(BinPackingLowerBound({51, 51, 51, 51}, 100), 4u);
  // Nothing over half: L2 falls back to L1.
  EXPECT_EQ(BinPackingLowerBound({50, 50, 30, 30, 40}, 100), 2u);
}

// Exact optimum by enumerating every partition (restricted growth strings).
size_t BruteForceOptimum(const std::vector<size_t>& w, size_t cap) {
  size_t n = w.size(), best = n;
  std::vector<size_t> load(n, 0);
  std::function<void(size_t, size_t)> rec = [&](size_t i, size_t used) {
    if (used >= best) return;
    if (i == n) {
      best = used;
      return;
    }
    for (size_t b = 0; b <= used && b < n; ++b) {
      if (load[b] + w[i] > cap) continue;
      load[b] += w[i];
      rec(i + 1, std::max(used, b + 1));
      load[b] -= w[i];
    }
  };
  rec(0, 0);
  return best;
}

TEST(Batch, MatchesTheExactOptimumOnSmallPlans) {
  std::mt19937_64 rng(20261124);
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = 1 + trial % 10;
    // Sizes from small to nearly a whole code, where heuristics go wrong.
    auto in = RandomPlan(rng, n, 120, 1500);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kMaxCallBytesPerChunk);
    size_t opt = BruteForceOptimum(in, p->capacity);
    EXPECT_EQ(p->batches.size(), opt) << "trial " << trial;
    EXPECT_TRUE(p->proven_minimal) << "trial " << trial;
  }
}

// Call sizes: most are a few hundred bytes (a node id, a deployment hash,
// contract data); `large_share` of them are drawn from [big_lo, big_hi].
std::vector<size_t> MixedPlan(std::mt19937_64& rng, size_t n, size_t lo, size_t hi,
                                   double large_share, size_t big_lo, size_t big_hi) {
  std::uniform_int_distribution<size_t> small(lo, hi), big(big_lo, big_hi);
  std::bernoulli_distribution is_big(large_share);
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(is_big(rng) ? big(rng) : small(rng));
  return out;
}

// The number of chunks is the minimum possible (proven) or within one of
// ceil(total bytes / chunk limit).
void CheckRandomPlans(uint64_t seed, size_t lo, size_t hi, double large_share, size_t step) {
  std::mt19937_64 rng(seed);
  for (size_t n = 1; n <= 500; n += step) {
    auto in = MixedPlan(rng, n, lo, hi, large_share, 600, 1800);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kMaxCallBytesPerChunk);
    size_t count = p->batches.size();
    ASSERT_GE(count, p->lower_bound);
    size_t naive = (p->total_weight + kMaxCallBytesPerChunk - 1) / kMaxCallBytesPerChunk;
    EXPECT_TRUE(p->proven_minimal || count <= naive + 1)
        << "n=" << n << " batches=" << count << " ceil(total/limit)=" << naive
        << " proven lower bound=" << p->lower_bound;
  }
}

TEST(Batch, RandomPlansOfTypicalCalls) { CheckRandomPlans(1, 100, 600, 0.0, 5); }
TEST(Batch, RandomPlansOfSmallCalls) { CheckRandomPlans(2, 40, 200, 0.0, 5); }
TEST(Batch, RandomPlansWithSomeLargeCalls) { CheckRandomPlans(3, 80, 400, 0.1, 6); }

// Adversarial sizes (every call 400..1800 bytes, many over half a chunk): bin packing is NP-hard here and neither criterion can be promised.
// What is promised: correct payloads, never below the proven lower bound,
// and never worse than First-Fit-Decreasing's 11/9 OPT + 6/9 guarantee
// measured against that bound. docs/benchmarks.md records the gaps.
TEST(Batch, AdversarialLargeReservationsStayNearTheLowerBound) {
  std::mt19937_64 rng(5);
  for (size_t n = 1; n <= 500; n += 16) {
    auto in = RandomPlan(rng, n, 400, 1800);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kMaxCallBytesPerChunk);
    size_t count = p->batches.size();
    ASSERT_GE(count, p->lower_bound);
    EXPECT_LE(9 * count, 11 * p->lower_bound + 6) << "n=" << n;
  }
}

TEST(Batch, SmallerLimitIsHonoured) {
  std::mt19937_64 rng(7);
  auto in = RandomPlan(rng, 120, 80, 400);
  BatchOptions opt;
  opt.max_bytes = 1000;
  auto p = PackBatches(in, opt);
  ASSERT_TRUE(p.ok());
  CheckPlan(in, *p, 1000);
  EXPECT_TRUE(p->proven_minimal || p->batches.size() <= p->lower_bound + 1);
}

}  // namespace
}  // namespace qstor::reconciler

namespace qstor::reconciler {
namespace {

// The batching efficiency table of docs/benchmarks.md: prints markdown rows
// (reservations -> batches vs the bounds) and checks what each row claims.
TEST(Batch, EfficiencyTable) {
  struct Dist {
    const char* name;
    size_t lo, hi;
    double large;
  };
  const Dist dists[] = {{"typical 100-600 B", 100, 600, 0.0},
                        {"small 40-200 B", 40, 200, 0.0},
                        {"10% large 600-1800 B", 80, 400, 0.1},
                        {"adversarial 400-1800 B", 400, 1800, 0.0}};
  std::printf("| sizes | calls | chunks | ceil(total/limit) | proven lower bound | "
              "proven minimal | fill |\n|---|---:|---:|---:|---:|---|---:|\n");
  for (const Dist& d : dists) {
    std::mt19937_64 rng(99);
    for (size_t n : {1u, 5u, 10u, 25u, 50u, 100u, 200u, 300u, 400u, 500u}) {
      auto in = MixedPlan(rng, n, d.lo, d.hi, d.large, 600, 1800);
      auto p = PackBatches(in);
      ASSERT_TRUE(p.ok());
      size_t count = p->batches.size();
      size_t naive = (p->total_weight + kMaxCallBytesPerChunk - 1) / kMaxCallBytesPerChunk;
      ASSERT_GE(count, p->lower_bound);
      if (d.lo < 400) {  // the adversarial row is reported, not promised
        EXPECT_TRUE(p->proven_minimal || count <= naive + 1);
      }
      std::printf("| %s | %zu | %zu | %zu | %zu | %s | %.1f%% |\n", d.name, n, count, naive,
                  p->lower_bound, p->proven_minimal ? "yes" : "no",
                  100.0 * static_cast<double>(p->total_weight) /
                      static_cast<double>(count * kMaxCallBytesPerChunk));
    }
  }
}

}  // namespace
}  // namespace qstor::reconciler
