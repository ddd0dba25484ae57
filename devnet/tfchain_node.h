// The devnet's TFChain node: Substrate JSON-RPC over WebSocket on 127.0.0.1
// serving the devnet runtime (devnet/tfchain_runtime.h), with blocks, a
// transaction pool, signed v4 extrinsics checked as TFChain checks them,
// System.Events and storage read from the devnet's SQLite ledger.
// See docs/devnet.md ("The chain") and docs/grid-api.md.
//
// Contract:
//  - The ledger is the chain state. The node reads it and changes it only
//    through ChainLedger (implemented by the devnet), always holding
//    ChainLedger::Mutex(), so the old HTTP routes, billing and the chain
//    see one consistent state.
//  - Start() binds a free port (or options.port) on 127.0.0.1 and produces a
//    block every options.block_ms: the pool's extrinsics in arrival order,
//    header {parentHash, number, stateRoot, extrinsicsRoot, digest} SCALE
//    encoded, hash = blake2b-256 of it. A block is final when produced.
//    The last kBlockHashCount blocks (headers, extrinsics, System.Events)
//    are kept in memory; the block number and the last hash are persisted
//    in the ledger's meta table; the genesis hash is derived from the
//    ledger's seed, so it is the same across restarts.
//  - author_submitExtrinsic / author_submitAndWatchExtrinsic check, in
//    Substrate's order and with its error codes and texts: decoding against
//    the served metadata (deployment_data <= 512 B, relay <= 1024 B, ...),
//    mortality (birth block known), signature over the real signing payload
//    (ed25519 only), nonce (stale / future), and the fixed fee.
//  - Dispatch maps TFChain calls onto the devnet ledger's logic
//    (ChainLedger::Dispatch); failures become DispatchError::Module with
//    TFChain's error names from the metadata, in an ExtrinsicFailed event;
//    the nonce and fee are consumed either way.
//  - Stop() (and the destructor) stop block production and the server;
//    handlers return promptly. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/chain_pricing.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/value.h"
#include "grid/types.h"

namespace qstor::devnet {

constexpr uint32_t kBlockHashCount = 2400;
// The fee charged for every extrinsic, in units (1 TFT = 1e7 units), plus
// its tip: 0.001 TFT, the order of TFChain's fees for these calls.
constexpr uint64_t kExtrinsicFeeUnits = 10'000;

using AccountKey = std::array<uint8_t, 32>;

struct LedgerAccount {
  AccountKey pk{};
  uint64_t free = 0;
  uint32_t nonce = 0;
};
struct LedgerTwin {
  uint32_t id = 0;
  AccountKey account{};
  std::optional<std::string> relay;
  std::optional<std::string> pk;  // the RMB public key bytes
};
struct LedgerTerms {
  AccountKey account{};
  uint64_t timestamp = 0;
  std::string link, hash;
};
struct LedgerContract {
  uint64_t id = 0;
  uint32_t twin_id = 0, node_id = 0, public_ips = 0;
  std::string state;  // Created, GracePeriod, Deleted
  std::string hash;   // 32 ASCII bytes (lower-case hex MD5)
  std::string data;
};
struct LedgerNode {
  uint32_t id = 0, farm_id = 0, twin_id = 0;
  uint64_t cru = 0, mru = 0, sru = 0, hru = 0;
  uint64_t created = 0;
};

// What a dispatched call did (for its events).
struct DispatchEffects {
  std::optional<uint32_t> twin_created;
  std::optional<uint32_t> twin_updated;
  bool terms_accepted = false;
  std::vector<uint64_t> contracts_created, contracts_updated, contracts_cancelled;
  struct Transfer {
    AccountKey from{}, to{};
    uint64_t amount = 0;
  };
  std::vector<Transfer> transfers;
};

// One call the ledger understands, with TFChain's argument names; byte
// arguments are raw bytes.
struct LedgerCall {
  std::string name;  // user_accept_tc, create_twin, update_twin, create_node_contract,
                     // update_node_contract, cancel_contract, transfer
  nlohmann::json args;
};

class ChainLedger {
 public:
  virtual ~ChainLedger() = default;
  // Held by the node around every read and change of the ledger.
  virtual std::recursive_mutex& Mutex() = 0;
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;
  virtual uint64_t Seed() = 0;
  // BEGIN / COMMIT / ROLLBACK / SAVEPOINT x / RELEASE x / ROLLBACK TO x.
  virtual Status Sql(const std::string& statement) = 0;
  virtual Result<LedgerAccount> Account(const AccountKey& pk) = 0;
  // Takes `amount` from the account (FailedPrecondition when too low).
  virtual Status Withdraw(const AccountKey& pk, uint64_t amount) = 0;
  virtual Status Deposit(const AccountKey& pk, uint64_t amount) = 0;
  virtual Status IncrementNonce(const AccountKey& pk) = 0;
  // Applies one call for `signer` (the devnet's shared implementation of
  // the call, as the old JSON route uses it, with TFChain's rules: T&C
  // before create_twin). On failure, *module_error names TFChain's error
  // ("SmartContractModule.NodeNotExists") when there is one.
  virtual Status Dispatch(const AccountKey& signer, const LedgerCall& call, DispatchEffects* fx,
                          std::string* module_error) = 0;
  // After a block is committed: the nodes react to cancelled contracts.
  virtual void AfterBlock(const std::vector<uint64_t>& cancelled) = 0;
  // Storage reads.
  virtual Result<std::vector<LedgerAccount>> Accounts() = 0;
  virtual Result<std::vector<LedgerTwin>> Twins() = 0;
  virtual Result<std::vector<LedgerTerms>> Terms() = 0;
  virtual Result<std::vector<LedgerContract>> Contracts() = 0;
  virtual std::vector<LedgerNode> Nodes() = 0;
  // The network's pricing in TFChain's units, exactly what the devnet bills
  // with (served as TfgridModule.PricingPolicies(1) and TFTPriceModule).
  virtual grid::ChainPricing Pricing() = 0;
};

// The stateless half of the pool's intake: `bytes` (compact length ‖ body)
// decoded as a v4 extrinsic against `meta`, its call decoded as a
// RuntimeCall value and checked against TFChain's BoundedVec bounds.
// kProtocol: the length prefix promises more bytes than there are (an
// RPC-level codec error); any other failure: the runtime could not decode
// it. Never crashes on hostile bytes (fuzzed by devnet_fuzz_chain_intake).
struct DecodedIntake {
  tfchain::DecodedExtrinsic extrinsic;
  tfchain::Value call;
};
Result<DecodedIntake> DecodeIntake(const tfchain::Metadata& meta, std::string_view bytes);

struct TfchainNodeOptions {
  uint16_t port = 0;  // 0 = a free port
  uint32_t block_ms = 1000;
};

class TfchainNode {
 public:
  static Result<std::unique_ptr<TfchainNode>> Start(ChainLedger* ledger, TfchainNodeOptions options);
  ~TfchainNode();
  TfchainNode(const TfchainNode&) = delete;
  TfchainNode& operator=(const TfchainNode&) = delete;

  uint16_t port() const;
  std::string url() const;  // ws://127.0.0.1:PORT
  void Stop();

  // The JSON-RPC reply to one request text, as a WebSocket client gets it
  // (for tests and the fuzz target; no subscriptions).
  std::string Call(const std::string& request_text);
  // Produces one block now (tests).
  Status ProduceBlock();

  struct Impl;

 private:
  explicit TfchainNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qstor::devnet
