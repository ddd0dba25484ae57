// TFChain's pricing in the chain's own units, and grid::Pricing from it.
// See docs/tfchain-client.md ("Pricing") for the sources.
//
// Contract:
//  - ChainPricing holds what TFChain bills with: the su price of a pricing
//    policy (TfgridModule.PricingPolicies(id).su: `value` in units of 1e-7
//    USD per su per hour, `unit` the Unit whose base-1024 size one GB of a
//    su is counted in) and the TFT price in mUSD that billing uses
//    (BillingTftPriceMusd).
//  - PricingFromChain() is the one conversion to grid::Pricing:
//      su_usd_per_hour = value / 1e7 * 2^30 / factor_base_1024(unit)
//      tft_usd         = tft_price_musd / 1000
//    (qstor counts su in GiB; for unit Gigabytes the factor is 1). The same
//    ChainPricing always gives the same doubles (bit for bit), so whoever
//    converts the same chain numbers computes the same grid::CostUnits.
//    An unknown unit is kCorruption naming it; a zero TFT price is
//    kFailedPrecondition (the chain cannot bill without one). bridge_address
//    is left empty.
//  - ChainPricingFromUsd() is the inverse for whoever sets prices (the
//    devnet): value = round(su_usd_per_hour * 1e7) with unit Gigabytes,
//    tft_price_musd = round(tft_usd * 1000), each to the nearest unit.
//    Prices written with at most 7 (su) and 3 (TFT) decimals come back
//    unchanged from PricingFromChain(); others (10/720) come back rounded.
//    Negative, non-finite, over-u32 prices, and a TFT price that rounds to
//    0 mUSD, are kInvalidArgument.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "grid/types.h"

namespace qstor::grid {

// Units of 1e-7 USD per USD (TFChain's "units USD"; pallet-smart-contract cost.rs).
inline constexpr double kChainUnitsPerUsd = 1e7;

struct ChainPricing {
  uint32_t su_value = 0;             // 1e-7 USD per su per hour
  std::string su_unit = "Gigabytes"; // pallet_tfgrid::types::Unit variant name
  uint32_t tft_price_musd = 0;       // the TFT price billing uses, mUSD
  bool operator==(const ChainPricing&) const = default;
};

// The TFT price TFChain bills with (pallet-smart-contract cost.rs,
// calculate_cost_in_tft_from_musd): AverageTftPrice, raised to MinTftPrice,
// then lowered to MaxTftPrice.
uint32_t BillingTftPriceMusd(uint32_t average, uint32_t min, uint32_t max);

Result<Pricing> PricingFromChain(const ChainPricing& chain);
Result<ChainPricing> ChainPricingFromUsd(double su_usd_per_hour, double tft_usd);

}  // namespace qstor::grid
