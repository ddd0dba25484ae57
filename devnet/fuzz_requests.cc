// libFuzzer target: the JSON decoding behind the devnet's request handlers
// (deployments, chain calls, top-up URIs, contracts, nodes). Every
// input must give a value or a Status, never a crash or an exception.
// Built only with -DQSTOR_FUZZ=ON (clang): devnet_fuzz_requests.
#include <cstddef>
#include <cstdint>
#include <string>

#include "devnet/devnet.h"
#include "grid/challenge.h"
#include "grid/chain_call.h"
#include "grid/types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  using namespace qstor;
  (void)devnet::ParseTopupUri(text, "BRIDGE");
  auto j = grid::ParseJson(text, "fuzz");
  if (!j.ok()) return 0;
  if (auto d = grid::DeploymentFromJson(*j); d.ok()) {
    (void)grid::ValidateDeployment(*d);
    (void)grid::ChallengeHex(*d);
    (void)grid::ToJson(*d).dump();
    (void)d->TotalHru();
  }
  (void)grid::Call::FromJson(*j);
  (void)grid::ContractFromJson(*j);
  (void)grid::NodeFromJson(*j);
  (void)grid::TwinFromJson(*j);
  (void)grid::BillFromJson(*j);
  (void)grid::PricingFromJson(*j);
  (void)grid::ExtrinsicResult::FromJson(*j);
  return 0;
}
