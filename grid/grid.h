// grid::Grid: the seam between qstor's reconciler and a ThreeFold grid
// (ninja's DiskInterface idea). The reconciler talks only to this interface;
// HttpGrid (grid/http_grid.h) implements it: discovery over the grid proxy's
// HTTP API, the chain over TFChain's JSON-RPC (grid/tfchain_client.h: the
// devnet's chain or the real TFChain), node calls over the devnet's HTTP
// routes; tests of one room may use a double.
//
// Contract for every method:
//  - Returns a value or a Status; never throws.
//  - kNotFound when the thing asked for does not exist (node, twin, contract,
//    deployment); kUnavailable/kTimeout when the grid cannot be reached
//    (retry may help); kInvalidArgument/kPermissionDenied/kFailedPrecondition
//    when the grid refused the request (do not retry unchanged);
//    kAlreadyExists when the chain says the thing exists (e.g.
//    "SmartContractModule.ContractIsNotUnique"); kNotImplemented when this
//    grid cannot do it (e.g. node calls on a real network: RMB is not built).
//  - A Grid is safe to use from one thread at a time; make one per thread.
//
// Deployment flow the grid enforces (as on the real grid): create the node
// contract with the deployment's ChallengeHex() first, then Deploy() the
// signed deployment (contract_id set) on that node; the node checks the hash
// against the contract and the owner's signature. Update: submit
// update_node_contract with the new hash, then UpdateDeployment() with
// version+1. Delete: cancel the contract (the node removes the workloads);
// DeleteDeployment() is optional.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "grid/chain_call.h"
#include "grid/crypto.h"
#include "grid/types.h"

namespace qstor::grid {

// Node discovery filters (grid proxy names). Empty/unset = no filter.
struct NodeFilter {
  std::optional<std::string> status;     // "up" | "down" | "standby"
  std::optional<bool> healthy;
  std::optional<uint64_t> free_hru;      // minimum free HRU, bytes
  std::optional<uint64_t> free_sru;      // minimum free SRU, bytes
  std::vector<std::string> countries;    // any of (exact, case-insensitive)
  std::vector<std::string> cities;
  std::vector<std::string> regions;
  std::vector<uint32_t> farm_ids;
  std::vector<uint32_t> node_ids;
  std::optional<uint32_t> twin_id;       // the node's own twin
};

struct ContractFilter {
  std::optional<uint32_t> twin_id;
  std::optional<uint32_t> node_id;
  std::vector<std::string> states;       // Created, GracePeriod, Deleted
  std::optional<std::string> type;       // "node"
};

// Pagination, as the grid proxy: page is 1-based.
struct PageRequest {
  uint32_t page = 1;
  uint32_t size = 50;
  bool ret_count = false;   // ask for the total count
  bool randomize = false;   // random order (the reconciler records its own seed)
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<uint64_t> count;  // total matching items, when ret_count
};

struct Balance {
  uint64_t free = 0;      // units of 1e-7 TFT
  uint64_t reserved = 0;  // units of 1e-7 TFT
};

struct PreparedExtrinsic;  // grid/tfchain_client.h

// A chain write waiting for its signature (Grid::Prepare): one extrinsic
// carrying the calls (one call as is, several in one Utility.batch_all).
struct PreparedCalls {
  std::string signer_hex;  // the signer's ed25519 public key
  uint64_t nonce = 0;
  // The SCALE signing payload (call ‖ extra ‖ additional): what a signing
  // app decodes and shows.
  std::string payload;
  // What the signature covers: payload, or blake2b-256(payload) when the
  // payload is longer than 256 bytes.
  std::string to_sign;
  // One line per call ("SmartContractModule.create_node_contract node 7").
  std::vector<std::string> calls;
  // The implementation's own form (Submit needs it).
  std::shared_ptr<const PreparedExtrinsic> extrinsic;
};

class Grid {
 public:
  virtual ~Grid() = default;

  // The network name ("devnet", "main", ...) and base URL, for messages.
  virtual std::string Describe() const = 0;

  // --- discovery ---
  virtual Result<Page<Node>> FindNodes(const NodeFilter& filter, const PageRequest& page) = 0;
  virtual Result<Node> GetNode(uint32_t node_id) = 0;
  virtual Result<std::vector<Farm>> ListFarms(const PageRequest& page) = 0;
  virtual Result<Twin> GetTwin(uint32_t twin_id) = 0;
  // The twin of an account, by ed25519 public key (hex); kNotFound if none.
  virtual Result<Twin> GetTwinByPublicKey(const std::string& public_key_hex) = 0;
  virtual Result<Page<Contract>> ListContracts(const ContractFilter& filter,
                                               const PageRequest& page) = 0;
  virtual Result<Contract> GetContract(uint64_t contract_id) = 0;
  virtual Result<std::vector<Bill>> GetBills(uint64_t contract_id) = 0;
  virtual Result<Pricing> GetPricing() = 0;

  // --- chain (TFChain) ---
  // Next nonce of an account (public key hex); 0 for an unknown account.
  virtual Result<uint64_t> GetNonce(const std::string& public_key_hex) = 0;
  virtual Result<Balance> GetBalance(const std::string& public_key_hex) = 0;
  // The SCALE-encoded size of each call, as the chain's metadata encodes it
  // (signing chunks are packed on these sizes).
  virtual Result<std::vector<size_t>> CallSizes(const std::vector<Call>& calls) = 0;
  // Builds the extrinsic of `calls` for the signer (nonce, era and chain
  // facts read from the chain now). kInvalidArgument for an unknown call or
  // bad arguments; nothing is sent.
  virtual Result<PreparedCalls> Prepare(const std::string& signer_public_key_hex,
                                        const std::vector<Call>& calls) = 0;
  // Checks `signature_hex` (ed25519 over prepared.to_sign by the signer:
  // kUnauthenticated when it does not verify, nothing sent), submits the
  // extrinsic and waits until it is in a block; applied atomically (a
  // batch_all is all-or-nothing). A refused extrinsic changes nothing.
  // Failures of the calls name TFChain's error ("SmartContractModule.
  // NodeNotExists"); a lost connection after the send is kUnavailable or
  // kTimeout with "outcome unknown: re-read state" in the message: the
  // extrinsic may be on the chain, the caller reads the chain again.
  virtual Result<ExtrinsicResult> Submit(const PreparedCalls& prepared,
                                         const std::string& signature_hex) = 0;
  // Registers the key's twin (accepting the terms and conditions first when
  // the account has not, both in one batch_all) and returns it; if the
  // account already has a twin, returns it unchanged.
  virtual Result<Twin> RegisterTwin(const Ed25519Key& key, const std::string& relay) = 0;

  // --- nodes (zos) ---
  // Node calls other than Deploy/UpdateDeployment are authenticated as the
  // owner twin: the implementation signs them with the key given to it (see
  // HttpGrid::SetIdentity).
  virtual Status Deploy(uint32_t node_id, const Deployment& deployment) = 0;
  virtual Status UpdateDeployment(uint32_t node_id, const Deployment& deployment) = 0;
  virtual Result<Deployment> GetDeployment(uint32_t node_id, uint64_t contract_id) = 0;
  virtual Status DeleteDeployment(uint32_t node_id, uint64_t contract_id) = 0;
};

// Prepare, sign with `key`, Submit: a chain write signed locally.
Result<ExtrinsicResult> SignAndSubmit(Grid& grid, const Ed25519Key& key,
                                      const std::vector<Call>& calls);

}  // namespace qstor::grid
