// TfchainClient: qstor's client of TFChain (a Substrate chain) over JSON-RPC
// on a WebSocket. The same code talks to the real chain (wss://tfchain.<net>
// .grid.tf/ws) and to the devnet's chain. Wire formats come from grid/tfchain
// (SCALE, metadata, storage keys, extrinsics, events); the transport is
// grid/jsonrpc_ws.h (one shared connection per URL and process). See
// docs/tfchain-client.md.
//
// Contract:
//  - Chain facts are read from the chain, never assumed: on first use the
//    client reads the genesis hash (chain_getBlockHash [0]), the runtime
//    version (state_getRuntimeVersion: spec and tx versions) and the runtime
//    metadata (state_getMetadata). The decoded metadata is cached once per
//    process per URL and spec version; every extrinsic preparation re-reads
//    the runtime version and re-reads the metadata when spec_version changed.
//    Every signed extension the metadata lists must be known to
//    grid/tfchain or have zero-size types; otherwise kFailedPrecondition
//    naming it (before anything is signed).
//  - Calls, storage entries, events and errors are found BY NAME in the
//    metadata; no index or layout is a constant here.
//  - Reads: absent twins/contracts/pricing policies are kNotFound; bad bytes
//    are kCorruption naming the entry; transport problems are
//    kUnavailable/kTimeout.
//  - Writes come in three steps so a phone (ThreeFold Connect) can sign:
//      Prepare(signer pk, call)  -> PreparedExtrinsic (nonce from
//        system_accountNextIndex, era mortal 64 from the finalized head or
//        immortal by option) holding the exact signing payload bytes and the
//        bytes to sign (blake2b-256 of the payload when it exceeds 256 B);
//      Assemble(prepared, signature) -> the signed extrinsic, only after the
//        signature verifies against the bytes to sign (kUnauthenticated if not);
//      Submit(extrinsic) -> author_submitAndWatchExtrinsic, following
//        author_extrinsicUpdate until inBlock (or finalized, by option) within
//        submit_timeout, then reading the block (chain_getBlock: the
//        extrinsic's index by its blake2b-256 hash) and its System.Events.
//    SignAndSubmit() does all three with a local key.
//  - Submit outcomes (Status codes as grid/grid.h documents):
//      included and ExtrinsicSuccess     -> SubmitResult (contract ids of
//        ContractCreated in call order, the TwinStored twin id)
//      included and ExtrinsicFailed      -> the error's "Pallet.Name" from the
//        metadata in the message ("SmartContractModule.ContractIsNotUnique");
//        code: *NotExists -> kNotFound, *IsNotUnique/*Exists -> kAlreadyExists,
//        BadOrigin/*NotAuthorized*/*Unauthorized* -> kPermissionDenied,
//        anything else kFailedPrecondition. Nothing was applied.
//      RPC error 1010 (Invalid Transaction) and status "invalid"
//                                        -> kFailedPrecondition with the text,
//                                           kResourceExhausted when it is
//                                           "Inability to pay some fees"
//      "usurped" (another extrinsic took the nonce) -> kFailedPrecondition
//      "dropped" (the pool let it go; not included) -> kUnavailable
//      connection lost after the submit was sent -> kUnavailable with
//        "outcome unknown: re-read state" (kOutcomeUnknown in the message):
//        the extrinsic may or may not be on chain; the caller reads the chain
//      no inBlock/finalized within submit_timeout -> kTimeout, same words.
//  - Thread-safe: one TfchainClient may be used by several threads (the
//    connection is shared; the cached chain facts are guarded).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "grid/chain_pricing.h"
#include "grid/crypto.h"
#include "grid/jsonrpc_ws.h"
#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

namespace qstor::grid {

// The words every "outcome unknown" Status message carries.
inline constexpr std::string_view kOutcomeUnknown = "outcome unknown: re-read state";

// The T&C document tfgrid-sdk-ts accepts (GRID-V3 §1.2). Its hash is the
// hex MD5 of the document as fetched; the caller supplies it.
inline constexpr std::string_view kTermsAndConditionsLink = "https://library.threefold.me/info/legal/#/";

struct TfchainClientOptions {
  std::string url;  // ws://... or wss://...
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds call_timeout{30000};
  // From submit until inBlock (or finalized when wait_finalized).
  std::chrono::milliseconds submit_timeout{60000};
  bool wait_finalized = false;
  bool immortal = false;       // default: mortal era, period 64, as polkadot.js
  uint64_t mortal_period = 64;
  std::string ca_file;         // extra CA for wss (tests)
};

// The chain facts a signature depends on.
struct ChainState {
  std::string genesis_hex;
  uint32_t spec_version = 0;
  uint32_t tx_version = 0;
  std::shared_ptr<const tfchain::Metadata> metadata;
};

struct TfchainAccount {  // System.Account; balances in units of 1e-7 TFT
  uint32_t nonce = 0;
  tfchain::u128 free = 0, reserved = 0, frozen = 0;
};

struct TfchainTwin {
  uint32_t id = 0;
  PublicKey account{};
  std::optional<std::string> relay;
  std::optional<std::string> pk;  // raw bytes (RMB e2e key)
};

struct PublicIpOnChain {
  std::string ip, gateway;
  uint64_t contract_id = 0;
};

struct TfchainContract {
  uint64_t contract_id = 0;
  uint32_t twin_id = 0;
  std::string state;               // "Created" | "Deleted" | "GracePeriod"
  std::string deleted_cause;       // Deleted: "CanceledByUser", "OutOfFunds", ...
  uint64_t grace_period_block = 0; // GracePeriod(block)
  std::string type;                // "NodeContract" | "NameContract" | "RentContract"
  uint32_t node_id = 0;
  std::string deployment_hash;     // 32 bytes (ASCII hex MD5)
  std::string deployment_data;
  uint32_t public_ips = 0;
  std::vector<PublicIpOnChain> public_ips_list;
  std::string name;                // NameContract
};

// A call ready for signing: the SCALE bytes pallet ‖ call ‖ args.
struct EncodedCall {
  std::string pallet, name;  // for messages ("SmartContractModule.create_node_contract")
  std::string bytes;
};

struct PreparedExtrinsic {
  PublicKey signer{};
  std::string call;             // SCALE call bytes (a batch_all when several calls)
  tfchain::ExtrinsicExtra extra;
  tfchain::ChainInfo chain;
  std::string payload;          // call ‖ extra ‖ additional: what a phone is shown
  std::string to_sign;          // payload, or blake2b-256(payload) when > 256 bytes
  uint32_t spec_version = 0;    // the metadata these bytes were built with
  std::shared_ptr<const tfchain::Metadata> metadata;
};

struct SubmitResult {
  std::string extrinsic_hash;   // 0x... blake2b-256 of the extrinsic bytes
  std::string block_hash;       // 0x... the block that holds it
  uint32_t extrinsic_index = 0; // its index in that block
  bool finalized = false;
  std::vector<uint64_t> contract_ids;  // ContractCreated, in call order
  std::optional<uint32_t> twin_id;     // TwinStored
  std::vector<tfchain::EventRecord> events;  // this extrinsic's events
};

struct EnsureTwinResult {
  TfchainTwin twin;
  bool accepted_tc = false;   // user_accept_tc was submitted
  bool created = false;       // create_twin was submitted
  bool updated = false;       // update_twin was submitted
};

class TfchainClient {
 public:
  // Uses JsonRpcWsClient::Shared for options.url (one connection per URL).
  static Result<std::unique_ptr<TfchainClient>> Create(TfchainClientOptions options);

  // Reads (or returns the cached) genesis, runtime version and metadata.
  // refresh: re-read the runtime version and, when its spec changed, the
  // metadata.
  Result<ChainState> Chain(bool refresh = false);

  // --- reads (latest block) ---
  Result<uint32_t> AccountNextIndex(const PublicKey& account);
  Result<TfchainAccount> Account(const PublicKey& account);
  // kNotFound when the account has no twin.
  Result<uint32_t> TwinIdByAccountId(const PublicKey& account);
  Result<TfchainTwin> Twin(uint32_t twin_id);
  Result<bool> AcceptedTermsAndConditions(const PublicKey& account);
  Result<TfchainContract> Contract(uint64_t contract_id);
  // Several contracts in one state_queryStorageAt; nullopt for absent ones.
  Result<std::vector<std::optional<TfchainContract>>> Contracts(const std::vector<uint64_t>& ids);
  // kNotFound when no live contract has this (node, hash).
  Result<uint64_t> ContractIdByNodeIdAndHash(uint32_t node_id, std::string_view deployment_hash);
  Result<std::vector<uint64_t>> ActiveNodeContracts(uint32_t node_id);
  // The network's pricing as TFChain bills it (docs/tfchain-client.md,
  // "Pricing"): the su price of TfgridModule.PricingPolicies(policy_id)
  // (TFChain bills every contract with policy 1) and the TFT price billing
  // uses (TFTPriceModule.AverageTftPrice raised to MinTftPrice, lowered to
  // MaxTftPrice), all four entries in one state_queryStorageAt.
  // kNotFound when the policy does not exist; kCorruption naming the entry
  // for bad bytes or an unknown su unit.
  Result<ChainPricing> ReadChainPricing(uint32_t policy_id = 1);
  // The same, converted by PricingFromChain (grid/chain_pricing.h);
  // bridge_address is left empty (the caller knows its bridge).
  // kFailedPrecondition when the chain has no TFT price.
  Result<grid::Pricing> Pricing(uint32_t policy_id = 1);

  // --- calls, built by name through the metadata ---
  Result<EncodedCall> UserAcceptTc(std::string_view link, std::string_view hash);
  Result<EncodedCall> CreateTwin(const std::optional<std::string>& relay,
                                 const std::optional<std::string>& pk);
  Result<EncodedCall> UpdateTwin(const std::optional<std::string>& relay,
                                 const std::optional<std::string>& pk);
  Result<EncodedCall> CreateNodeContract(uint32_t node_id, std::string_view deployment_hash,
                                         std::string_view deployment_data, uint32_t public_ips,
                                         std::optional<uint64_t> solution_provider_id = std::nullopt);
  Result<EncodedCall> UpdateNodeContract(uint64_t contract_id, std::string_view deployment_hash,
                                         std::string_view deployment_data);
  Result<EncodedCall> CancelContract(uint64_t contract_id);
  Result<EncodedCall> TransferKeepAlive(const PublicKey& dest, tfchain::u128 amount);
  Result<EncodedCall> BatchAll(const std::vector<EncodedCall>& calls);

  // --- signing and submitting ---
  // One call is signed as is; several are wrapped in one Utility.batch_all.
  Result<PreparedExtrinsic> Prepare(const PublicKey& signer, const std::vector<EncodedCall>& calls);
  // Verifies `signature` (64 bytes, ed25519) over prepared.to_sign, then
  // builds the signed extrinsic (length-prefixed SCALE).
  Result<std::string> Assemble(const PreparedExtrinsic& prepared, std::string_view signature);
  Result<SubmitResult> Submit(const std::string& extrinsic);
  Result<SubmitResult> SignAndSubmit(const Ed25519Key& key, const std::vector<EncodedCall>& calls);

  // Accepts the T&C (link, hash) unless already accepted, creates the twin
  // (relay, pk) if the account has none — both in one batch_all when both
  // are needed — and updates relay/pk when they differ from the chain's.
  Result<EnsureTwinResult> EnsureTwin(const Ed25519Key& key, const std::optional<std::string>& relay,
                                      const std::optional<std::string>& pk,
                                      std::string_view tc_link, std::string_view tc_hash);

  const TfchainClientOptions& options() const { return options_; }

  // Drops the process-wide metadata cache (tests).
  static void ClearMetadataCacheForTesting();

 private:
  TfchainClient(TfchainClientOptions options, std::shared_ptr<JsonRpcWsClient> rpc);
  Result<nlohmann::json> Rpc(const std::string& method, nlohmann::json params);
  Result<std::optional<std::string>> GetStorage(const std::string& key,
                                                const std::string& at_block_hex = "");
  Result<std::shared_ptr<const tfchain::Metadata>> Meta();
  Result<EncodedCall> BuildCall(std::string_view pallet, std::string_view call,
                                std::vector<tfchain::NamedValue> args);
  Status ExplainInBlock(const std::string& extrinsic, const std::string& block_hash,
                        SubmitResult* out);

  TfchainClientOptions options_;
  std::shared_ptr<JsonRpcWsClient> rpc_;
  std::mutex mu_;
  std::optional<ChainState> chain_;  // guarded by mu_
};

// Checks every signed extension the metadata lists: known to grid/tfchain,
// or both its types zero-size. kFailedPrecondition naming the first other.
Status CheckSignedExtensions(const tfchain::Metadata& m);

// One author_extrinsicUpdate status, parsed (exposed for tests and fuzzing).
struct ExtrinsicStatus {
  enum class Kind {
    kFuture, kReady, kBroadcast, kInBlock, kRetracted, kFinalityTimeout, kFinalized,
    kUsurped, kDropped, kInvalid, kUnknown,
  };
  Kind kind = Kind::kUnknown;
  std::string block_hash;  // inBlock, retracted, finalityTimeout, finalized; usurped: the other tx
  std::string text;        // the JSON as received, for messages (bounded)
};
ExtrinsicStatus ParseExtrinsicStatus(const nlohmann::json& status);

// The index of `extrinsic` (length-prefixed SCALE) in a chain_getBlock reply,
// matched by blake2b-256; kNotFound when the block does not hold it,
// kProtocol for a malformed reply.
Result<uint32_t> FindExtrinsicInBlock(const nlohmann::json& block_reply, std::string_view extrinsic);

// The changes of a state_queryStorageAt reply ([{"block", "changes": [[key,
// value|null]...]}]): lowercase hex key -> value bytes (nullopt = no value).
Result<std::map<std::string, std::optional<std::string>>> ParseStorageChanges(const nlohmann::json& reply);

// The Status of an ExtrinsicFailed error name (see the contract above).
Status DispatchFailure(std::string_view error_name, std::string_view context);

}  // namespace qstor::grid
