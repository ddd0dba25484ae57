// Signed extrinsics: the chain calls qstor makes (the devnet's ledger checks
// them; on the real grid they map to TFChain calls of the same names).
//
// An Extrinsic is (signer, nonce, call, signature). The signer is the
// account's ed25519 public key (64 hex chars); the nonce is the account's
// next nonce (0 for a fresh account; each accepted extrinsic increments it,
// so a replay is refused); the signature is ed25519 over CanonicalPayload():
//
//   "qstor-extrinsic-v1\n" + signer_hex + "\n" + decimal nonce + "\n" +
//   call JSON (nlohmann dump(): keys sorted, no spaces)
//
// Calls (name and JSON args):
//   create_twin            {relay}                       registers the signer's twin
//   transfer               {dest (SS58 or hex pk), amount (units 1e-7 TFT)}
//   create_node_contract   {node_id, deployment_hash, deployment_data, public_ips}
//   update_node_contract   {contract_id, deployment_hash, deployment_data}
//   cancel_contract        {contract_id}
//   batch_all              {calls: [call, ...]}  all-or-nothing, not nested
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/crypto.h"

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
Call BatchAllCall(std::vector<Call> calls);

struct Extrinsic {
  std::string signer;  // public key hex
  uint64_t nonce = 0;
  Call call;
  std::string signature;  // hex, 128 chars

  std::string CanonicalPayload() const;
  // Sets signer to key's public key and signs.
  void Sign(const Ed25519Key& key);
  // True if the signature verifies for signer over CanonicalPayload().
  bool VerifySignature() const;

  nlohmann::json ToJson() const;  // {"signer","nonce","call","signature"}
  static Result<Extrinsic> FromJson(const nlohmann::json& j);
};

// Builds and signs an extrinsic in one go.
Extrinsic MakeExtrinsic(const Ed25519Key& key, uint64_t nonce, Call call);

// What the chain reports for an accepted extrinsic.
struct ExtrinsicResult {
  std::string hash;    // hex blake2b-256 of the canonical payload + signature
  uint64_t nonce = 0;  // the nonce it consumed
  // Ids of the contracts created by create_node_contract calls, in call order.
  std::vector<uint64_t> created_contracts;
  std::optional<uint32_t> twin_id;  // set by create_twin

  nlohmann::json ToJson() const;
  static Result<ExtrinsicResult> FromJson(const nlohmann::json& j);
};

}  // namespace qstor::grid
