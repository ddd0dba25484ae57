// TFChain pricing units: see chain_pricing.h.
#include "grid/chain_pricing.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string_view>

namespace qstor::grid {

namespace {

// pallet_tfgrid::types::Unit, in variant order: 1024^k bytes.
constexpr std::string_view kUnits[] = {"Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terrabytes"};

Result<uint32_t> Rounded(double units, double max, const char* what) {
  if (!std::isfinite(units) || units < 0)
    return Status::InvalidArgument(std::string(what) + ": must be a finite price >= 0");
  if (units >= max + 0.5)
    return Status::InvalidArgument(std::string(what) + ": too large for TFChain's u32");
  return uint32_t(std::llround(units));
}

}  // namespace

uint32_t BillingTftPriceMusd(uint32_t average, uint32_t min, uint32_t max) {
  // As TFChain: max(average, min), then min(.., max) (max wins when min > max).
  return std::min(std::max(average, min), max);
}

Result<Pricing> PricingFromChain(const ChainPricing& c) {
  int k = -1;
  for (int i = 0; i < int(std::size(kUnits)); ++i)
    if (c.su_unit == kUnits[i]) k = i;
  if (k < 0) return Status::Corruption("tfchain pricing: su.unit \"" + c.su_unit + "\" is not a known Unit");
  if (c.tft_price_musd == 0)
    return Status::FailedPrecondition("tfchain pricing: the chain has no TFT price (0 mUSD)");
  Pricing p;
  // value is per su counted in 1024^k bytes; qstor counts su in GiB (1024^3):
  // scaling by a power of two is exact.
  p.su_usd_per_hour = std::ldexp(double(c.su_value) / kChainUnitsPerUsd, 30 - 10 * k);
  p.tft_usd = double(c.tft_price_musd) / 1000.0;
  return p;
}

Result<ChainPricing> ChainPricingFromUsd(double su_usd_per_hour, double tft_usd) {
  ChainPricing c;
  auto su = Rounded(su_usd_per_hour * kChainUnitsPerUsd, double(UINT32_MAX), "su_usd_per_hour");
  if (!su.ok()) return su.status();
  auto tft = Rounded(tft_usd * 1000.0, double(UINT32_MAX), "tft_usd");
  if (!tft.ok()) return tft.status();
  if (*tft == 0)
    return Status::InvalidArgument("tft_usd: TFChain prices TFT in mUSD; " + std::to_string(tft_usd) +
                                   " USD rounds to 0 mUSD");
  c.su_value = *su;
  c.su_unit = "Gigabytes";
  c.tft_price_musd = *tft;
  return c;
}

}  // namespace qstor::grid
