// Chain calls as the reconciler and the devnet name them, before they are
// encoded for TFChain. A Call is (name, JSON args); grid::Grid encodes it
// with the chain's own metadata (grid/tfchain_client.h builds the SCALE
// bytes by pallet and call name) and signs it in a real v4 extrinsic.
//
// Calls (name and JSON args), with the TFChain call each becomes:
//   create_twin            {relay}        TfgridModule.create_twin(relay, pk)
//   transfer               {dest (SS58 or hex pk), amount (units 1e-7 TFT)}
//                                         Balances.transfer_keep_alive
//   create_node_contract   {node_id, deployment_hash, deployment_data, public_ips}
//                                         SmartContractModule.create_node_contract
//   update_node_contract   {contract_id, deployment_hash, deployment_data}
//                                         SmartContractModule.update_node_contract
//   cancel_contract        {contract_id}  SmartContractModule.cancel_contract
// Several calls signed together go into one Utility.batch_all
// (all-or-nothing on the chain).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::grid {

struct Call {
  std::string name;
  nlohmann::json args = nlohmann::json::object();

  nlohmann::json ToJson() const;  // {"name":..., "args":{...}}
  static Result<Call> FromJson(const nlohmann::json& j);
};

Call CreateTwinCall(const std::string& relay);
Call TransferCall(const std::string& dest, uint64_t amount_units);
Call CreateNodeContractCall(uint32_t node_id, const std::string& deployment_hash,
                            const std::string& deployment_data, uint32_t public_ips = 0);
Call UpdateNodeContractCall(uint64_t contract_id, const std::string& deployment_hash,
                            const std::string& deployment_data);
Call CancelContractCall(uint64_t contract_id);
// What the chain reports for an accepted extrinsic.
struct ExtrinsicResult {
  std::string hash;    // 0x-hex blake2b-256 of the extrinsic's bytes
  std::string block_hash;  // 0x-hex: the block that holds it
  uint64_t nonce = 0;  // the nonce it consumed
  // Ids of the contracts created by create_node_contract calls, in call order.
  std::vector<uint64_t> created_contracts;
  std::optional<uint32_t> twin_id;  // set by create_twin

  nlohmann::json ToJson() const;
  static Result<ExtrinsicResult> FromJson(const nlohmann::json& j);
};

}  // namespace qstor::grid
