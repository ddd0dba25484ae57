// Batching: payload limits, error on an oversize reservation, and packing
// quality proven against lower bounds on random plans of 1..500
// reservations and against the exact optimum (brute force) on small ones.
#include "reconciler/batch.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace qstor::reconciler {
namespace {

// A reservation-like compact JSON value of exactly `size` bytes (>= 40).
std::string Reservation(size_t index, size_t size) {
  std::string head = "{\"node\":" + std::to_string(index % 9973) + ",\"hash\":\"";
  std::string tail = "\"}";
  std::string out = head;
  size_t pad = size > head.size() + tail.size() ? size - head.size() - tail.size() : 0;
  static const std::string kHex = "0123456789abcdef";
  out.reserve(size);
  for (size_t i = 0; i < pad; i += 16) out.append(kHex, 0, std::min<size_t>(16, pad - i));
  if (pad > 0) out[head.size()] = kHex[index % 16];
  out += tail;
  return out;
}

std::vector<std::string> RandomPlan(std::mt19937_64& rng, size_t n, size_t lo, size_t hi) {
  std::uniform_int_distribution<size_t> size(lo, hi);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(Reservation(i, size(rng)));
  return out;
}

// Checks everything a batch plan promises about its payloads.
void CheckPlan(const std::vector<std::string>& in, const BatchPlan& plan, size_t max_payload) {
  std::vector<int> seen(in.size(), 0);
  for (size_t b = 0; b < plan.batches.size(); ++b) {
    const Batch& batch = plan.batches[b];
    ASSERT_LE(batch.payload.size(), max_payload);
    ASSERT_FALSE(batch.items.empty());
    ASSERT_TRUE(std::is_sorted(batch.items.begin(), batch.items.end()));
    if (b == 0 || b + 1 == plan.batches.size()) {  // parsing every one is slow under ASan
      auto j = nlohmann::json::parse(batch.payload);
      ASSERT_EQ(j["qstor"], "sign");
      ASSERT_EQ(j["v"], 1);
      ASSERT_EQ(j["batch"], b + 1);
      ASSERT_EQ(j["of"], plan.batches.size());
      ASSERT_EQ(j["items"].size(), batch.items.size());
    }
    std::vector<std::string> items;
    for (size_t i : batch.items) {
      ++seen[i];
      items.push_back(in[i]);
    }
    // The items are the reservations' bytes verbatim, in input order.
    ASSERT_EQ(batch.payload, EncodeBatchEnvelope(b + 1, plan.batches.size(), items));
  }
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(seen[i], 1) << "reservation " << i;
}

TEST(Batch, EmptyPlanHasNoBatches) {
  auto p = PackBatches({});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->batches.empty());
}

TEST(Batch, OneSmallReservationMakesOneExactPayload) {
  std::vector<std::string> in = {"{\"a\":1}"};
  auto p = PackBatches(in);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->batches.size(), 1u);
  EXPECT_EQ(p->batches[0].payload, "{\"qstor\":\"sign\",\"v\":1,\"batch\":1,\"of\":1,\"items\":[{\"a\":1}]}");
  EXPECT_TRUE(p->proven_minimal);
}

TEST(Batch, LargestReservationThatFitsFillsACodeExactly) {
  // One reservation: 1 digit for batch and of; the payload is exactly 2953.
  size_t room = kQrMaxPayloadBytes - BatchEnvelopeOverhead(1);
  auto p = PackBatches({Reservation(0, room)});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->batches.size(), 1u);
  EXPECT_EQ(p->batches[0].payload.size(), kQrMaxPayloadBytes);
}

TEST(Batch, TooLargeReservationIsAClearError) {
  size_t room = kQrMaxPayloadBytes - BatchEnvelopeOverhead(1);
  auto p = PackBatches({Reservation(0, 100), Reservation(1, room + 1)});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument);
  const std::string& m = p.status().message();
  EXPECT_NE(m.find("reservation #2"), std::string::npos) << m;
  EXPECT_NE(m.find(std::to_string(room + 1) + " bytes"), std::string::npos) << m;
  EXPECT_NE(m.find("does not split"), std::string::npos) << m;
}

TEST(Batch, RejectsReservationsThatAreNotJson) {
  EXPECT_FALSE(PackBatches({"{\"a\":1}", "not json"}).ok());
  EXPECT_FALSE(PackBatches({""}).ok());
}

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
    auto in = RandomPlan(rng, n, 200, 2200);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kQrMaxPayloadBytes);
    std::vector<size_t> w;
    for (const auto& r : in) w.push_back(r.size() + 1);
    size_t opt = BruteForceOptimum(w, p->capacity);
    EXPECT_EQ(p->batches.size(), opt) << "trial " << trial;
    EXPECT_TRUE(p->proven_minimal) << "trial " << trial;
  }
}

// Reservation sizes: most are a few hundred bytes (a node id, a deployment
// hash, contract data); `large_share` of them are drawn from [big_lo, big_hi].
std::vector<std::string> MixedPlan(std::mt19937_64& rng, size_t n, size_t lo, size_t hi,
                                   double large_share, size_t big_lo, size_t big_hi) {
  std::uniform_int_distribution<size_t> small(lo, hi), big(big_lo, big_hi);
  std::bernoulli_distribution is_big(large_share);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(Reservation(i, is_big(rng) ? big(rng) : small(rng)));
  return out;
}

// The criterion, checked literally: the number of batches is the
// minimum possible (proven) or within one of ceil(total encoded / 2953).
void CheckRandomPlans(uint64_t seed, size_t lo, size_t hi, double large_share, size_t step) {
  std::mt19937_64 rng(seed);
  for (size_t n = 1; n <= 500; n += step) {
    auto in = MixedPlan(rng, n, lo, hi, large_share, 900, 2800);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kQrMaxPayloadBytes);
    size_t count = p->batches.size();
    ASSERT_GE(count, p->lower_bound);
    size_t naive = (p->total_encoded + kQrMaxPayloadBytes - 1) / kQrMaxPayloadBytes;
    EXPECT_TRUE(p->proven_minimal || count <= naive + 1)
        << "n=" << n << " batches=" << count << " ceil(total/2953)=" << naive
        << " proven lower bound=" << p->lower_bound;
  }
}

TEST(Batch, RandomPlansOfTypicalReservations) { CheckRandomPlans(1, 150, 900, 0.0, 5); }
TEST(Batch, RandomPlansOfSmallReservations) { CheckRandomPlans(2, 60, 300, 0.0, 5); }
TEST(Batch, RandomPlansWithSomeLargeReservations) { CheckRandomPlans(3, 100, 600, 0.1, 6); }

// Adversarial sizes (every reservation 600..2800 bytes, many over half a
// code): bin packing is NP-hard here and neither criterion can be promised.
// What is promised: correct payloads, never below the proven lower bound,
// and never worse than First-Fit-Decreasing's 11/9 OPT + 6/9 guarantee
// measured against that bound. docs/benchmarks.md records the gaps.
TEST(Batch, AdversarialLargeReservationsStayNearTheLowerBound) {
  std::mt19937_64 rng(5);
  for (size_t n = 1; n <= 500; n += 16) {
    auto in = RandomPlan(rng, n, 600, 2800);
    auto p = PackBatches(in);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    CheckPlan(in, *p, kQrMaxPayloadBytes);
    size_t count = p->batches.size();
    ASSERT_GE(count, p->lower_bound);
    EXPECT_LE(9 * count, 11 * p->lower_bound + 6) << "n=" << n;
  }
}

TEST(Batch, SmallerLimitIsHonoured) {
  std::mt19937_64 rng(7);
  auto in = RandomPlan(rng, 120, 80, 400);
  BatchOptions opt;
  opt.max_payload = 1000;
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
  const Dist dists[] = {{"typical 150-900 B", 150, 900, 0.0},
                        {"small 60-300 B", 60, 300, 0.0},
                        {"10% large 900-2800 B", 100, 600, 0.1},
                        {"adversarial 600-2800 B", 600, 2800, 0.0}};
  std::printf("| sizes | reservations | batches | ceil(total/2953) | proven lower bound | "
              "proven minimal | fill |\n|---|---:|---:|---:|---:|---|---:|\n");
  for (const Dist& d : dists) {
    std::mt19937_64 rng(99);
    for (size_t n : {1u, 5u, 10u, 25u, 50u, 100u, 200u, 300u, 400u, 500u}) {
      auto in = MixedPlan(rng, n, d.lo, d.hi, d.large, 900, 2800);
      auto p = PackBatches(in);
      ASSERT_TRUE(p.ok());
      size_t count = p->batches.size();
      size_t naive = (p->total_encoded + kQrMaxPayloadBytes - 1) / kQrMaxPayloadBytes;
      ASSERT_GE(count, p->lower_bound);
      if (d.lo < 600) {  // the adversarial row is reported, not promised
        EXPECT_TRUE(p->proven_minimal || count <= naive + 1);
      }
      std::printf("| %s | %zu | %zu | %zu | %zu | %s | %.1f%% |\n", d.name, n, count, naive,
                  p->lower_bound, p->proven_minimal ? "yes" : "no",
                  100.0 * static_cast<double>(p->total_encoded) /
                      static_cast<double>(count * kQrMaxPayloadBytes));
    }
  }
}

}  // namespace
}  // namespace qstor::reconciler
