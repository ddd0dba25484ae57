#include "grid/chain_pricing.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace qstor::grid {
namespace {

ChainPricing Chain(uint32_t su, const char* unit, uint32_t musd) {
  ChainPricing c;
  c.su_value = su;
  c.su_unit = unit;
  c.tft_price_musd = musd;
  return c;
}

TEST(ChainPricing, BillingTftPriceIsTheAverageWithinItsBounds) {
  // pallet-smart-contract cost.rs: max(average, min), then min(.., max).
  EXPECT_EQ(BillingTftPriceMusd(15, 10, 20), 15u);
  EXPECT_EQ(BillingTftPriceMusd(5, 10, 20), 10u);
  EXPECT_EQ(BillingTftPriceMusd(25, 10, 20), 20u);
  EXPECT_EQ(BillingTftPriceMusd(0, 10, 20), 10u);
  EXPECT_EQ(BillingTftPriceMusd(15, 30, 20), 20u);  // max wins over a min above it
  EXPECT_EQ(BillingTftPriceMusd(15, 0, 0), 0u);     // a fresh chain: bounds 0
}

TEST(ChainPricing, FromChainUnits) {
  // 50000 units of 1e-7 USD per GB-su per hour = 0.005 USD; 17 mUSD per TFT.
  auto p = PricingFromChain(Chain(50000, "Gigabytes", 17));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->su_usd_per_hour, 0.005);
  EXPECT_EQ(p->tft_usd, 0.017);
  EXPECT_TRUE(p->bridge_address.empty());
  // A price per TB-su is 1024 times the price of qstor's GiB-su; per MB-su
  // 1024 times less.
  auto tb = PricingFromChain(Chain(1024 * 50000, "Terrabytes", 17));
  ASSERT_TRUE(tb.ok());
  EXPECT_EQ(tb->su_usd_per_hour, 0.005);
  auto mb = PricingFromChain(Chain(50000, "Megabytes", 17));
  ASSERT_TRUE(mb.ok());
  EXPECT_EQ(mb->su_usd_per_hour, 0.005 * 1024);
  EXPECT_EQ(PricingFromChain(Chain(1, "Bytes", 1))->su_usd_per_hour, std::ldexp(1e-7, 30));
  EXPECT_EQ(PricingFromChain(Chain(1, "Kilobytes", 1))->su_usd_per_hour, std::ldexp(1e-7, 20));

  auto bad_unit = PricingFromChain(Chain(1, "Petabytes", 17));
  EXPECT_EQ(bad_unit.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad_unit.status().message().find("Petabytes"), std::string::npos) << bad_unit.status().ToString();
  auto no_price = PricingFromChain(Chain(50000, "Gigabytes", 0));
  EXPECT_EQ(no_price.status().code(), Status::Code::kFailedPrecondition);
}

TEST(ChainPricing, DecimalPricesRoundTripExactly) {
  // Prices with at most 7 (su) and 3 (TFT) decimals come back bit for bit.
  const double sus[] = {0.0, 1e-7, 0.005, 0.0138889, 0.02, 0.1234567, 1.0, 3.5, 429.4967295};
  const double tfts[] = {0.001, 0.01, 0.017, 0.037, 0.5, 1.0, 12.345, 4294967.295};
  for (double su : sus) {
    for (double tft : tfts) {
      auto c = ChainPricingFromUsd(su, tft);
      ASSERT_TRUE(c.ok()) << su << " " << tft << ": " << c.status().ToString();
      EXPECT_EQ(c->su_unit, "Gigabytes");
      auto p = PricingFromChain(*c);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_EQ(p->su_usd_per_hour, su);
      EXPECT_EQ(p->tft_usd, tft);
    }
  }
  auto c = ChainPricingFromUsd(0.0138889, 0.01);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Chain(138889, "Gigabytes", 10));
}

TEST(ChainPricing, OtherPricesAreRoundedToTheChainsUnits) {
  // The devnet's default 10/720 USD per su-hour: 138888.9 units, billed as 138889.
  auto c = ChainPricingFromUsd(10.0 / 720.0, 0.01);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->su_value, 138889u);
  EXPECT_EQ(c->tft_price_musd, 10u);
  auto p = PricingFromChain(*c);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->su_usd_per_hour, 0.0138889);
  EXPECT_NEAR(p->su_usd_per_hour, 10.0 / 720.0, 0.5e-7);
  EXPECT_EQ(ChainPricingFromUsd(0.01, 0.0106)->tft_price_musd, 11u);  // to the nearest mUSD
  EXPECT_EQ(ChainPricingFromUsd(0.01, 0.0104)->tft_price_musd, 10u);
  // Whoever converts the same chain numbers computes the same cost.
  Pricing a = *PricingFromChain(*c), b = *PricingFromChain(*c);
  EXPECT_EQ(CostUnits(a, 1ull << 40, 0, 3600), CostUnits(b, 1ull << 40, 0, 3600));
}

TEST(ChainPricing, RefusesPricesTheChainCannotHold) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto [su, tft] : std::vector<std::pair<double, double>>{
           {-0.01, 0.01}, {nan, 0.01}, {inf, 0.01}, {430.0, 0.01},  // su over u32 units
           {0.01, 0.0}, {0.01, 0.0004}, {0.01, -1.0}, {0.01, nan}, {0.01, 5e6}}) {
    auto c = ChainPricingFromUsd(su, tft);
    EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument) << su << " " << tft;
  }
  EXPECT_NE(ChainPricingFromUsd(0.01, 0.0004).status().message().find("mUSD"), std::string::npos);
  EXPECT_TRUE(ChainPricingFromUsd(0.01, 0.0005).ok());  // rounds to 1 mUSD
}

}  // namespace
}  // namespace qstor::grid
