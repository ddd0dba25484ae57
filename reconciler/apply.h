// Observe (grid -> Observation) and Apply (Plan -> grid changes + state).
//
// Apply executes a plan step by step and writes the state after every step
// that changed the grid, so an interrupted apply (SIGINT, a crash, a lost
// network) leaves a state that says exactly what exists; the next plan
// completes the work. Contracts created but not yet written to the state are
// found again by Observe (their deployment_data names the manifest and slot)
// and adopted, or cancelled when their slot is owned by another contract.
//
// Steps (wallet payment: the local twin key signs everything):
//   1. register the twin when it has none;
//   2. check the balance covers spec.budget.prepaidMonths of the new cost;
//   3. contracts for every create/replace, packed into signing chunks that
//      each fit one QR code (reconciler/batch.h), one batch_all extrinsic per
//      chunk (all-or-nothing on the chain);
//   4. deploy each signed deployment on its node and wait for the namespace;
//      a node that fails is cancelled, avoided, and the slot placed elsewhere
//      (up to ApplyOptions::max_node_retries times);
//   5. updates (resize): update_node_contract with the new hash, then the
//      deployment with version + 1;
//   6. cancel the contracts of replaced and deleted slots (chunked the same way).
// Before step 3 the slots of every replace (and every create into a storage
// that already has deployed namespaces) are added to State::rebuild_slots and
// the state saved: their new namespaces start empty, so the storage is not
// whole until their shards and metadata replicas are rebuilt. ApplyPlan does
// not rebuild; `qstor apply` does it after (cli/cmd_plan_apply.cc: fs check +
// fs repair), then clears the list. A kill anywhere in between leaves the
// list set and the next apply, even with nothing else to do, rebuilds.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "grid/grid.h"
#include "grid/identity.h"
#include "reconciler/manifest.h"
#include "reconciler/plan.h"
#include "reconciler/state.h"

namespace qstor::reconciler {

struct ObserveOptions {
  // Ask each node for its deployment (a signed node call: needs the identity
  // set on the Grid). Without it, only contracts and node status are judged.
  bool check_deployments = true;
};

// Reads the grid for `manifest`: the twin (by public key), its live qstor
// contracts for this manifest, the deployments behind them, the nodes in use
// and every node that could host a namespace, the pricing and the balance.
// `state` is the state file's content when there is one; it is refreshed
// (contracts the state does not know are adopted).
Result<Observation> Observe(grid::Grid& grid, const Manifest& manifest,
                            const std::string& public_key_hex, const std::optional<State>& state,
                            const ObserveOptions& options = {});

// One signing chunk: one TFChain extrinsic (a Utility.batch_all when it
// holds several calls) waiting for the twin key's signature.
struct SignRequest {
  size_t chunk = 0;         // 1-based
  size_t chunks = 0;        // in this submission
  std::string purpose;      // "create contracts", "cancel contracts", ...
  std::string signer_hex;   // the twin's ed25519 public key (hex)
  // The extrinsic's SCALE signing payload (call ‖ extra ‖ additional, see
  // grid/tfchain/extrinsic.h): what a signing app decodes and shows. At most
  // kMaxSigningPayloadBytes (reconciler/batch.h).
  std::string payload;
  // The bytes the signature covers: `payload`, or blake2b-256(payload) when
  // the payload is longer than 256 bytes (Substrate's rule).
  std::string to_sign;
  // One line per call, for display ("SmartContractModule.create_node_contract
  // node 7").
  std::vector<std::string> calls;
  // Across the whole apply (or destroy): this is scan `scan` of the `scans`
  // planned before the first one was shown (counted from the plan: creates,
  // updates, cancellations, each packed as they will be). A node that fails
  // adds scans for its new contract; then scan > scans, and says so.
  size_t scan = 0;
  size_t scans = 0;
};
// Returns the hex ed25519 signature of req.to_sign by the twin's key. Apply
// verifies it against the twin's public key before submitting anything.
using ChunkSigner = std::function<Result<std::string>(const SignRequest&)>;

// One step of an apply or a destroy, for the terminal's progress display and
// the `--json` apply_progress events (schema/events.v1.schema.json).
struct ApplyProgress {
  // What happened: "twin" (registered), "funding" (the first signing request
  // pays a top-up), "signed" (a signing chunk was signed and submitted),
  // "contract" (a contract is on the chain), "deploying" (deployments sent,
  // waiting for the nodes), "ready" (a namespace answers), "retry" (a node
  // failed; its contract is cancelled and the slot placed elsewhere),
  // "resized", "cancelled", "fault" (a test fault point).
  std::string step;
  std::string slot;          // "data[2]"; empty when the step is not about one namespace
  uint32_t node_id = 0;      // 0: none
  uint64_t contract_id = 0;  // 0: none
  size_t done = 0;           // actions of the plan finished so far
  size_t total = 0;          // actions of the plan
  std::string message;       // the human line ("data[2]: contract 41 on node 7")
};

struct ApplyOptions {
  // Who signs each chunk. Empty: the identity's key, locally (payment:
  // wallet). `payment: connect` passes the ThreeFold Connect flow.
  ChunkSigner signer;
  // Called instead of refusing when the balance is short of what the plan
  // needs, before anything is signed: `topup_units` is what to send to the
  // bridge (whole TFT, its 1 TFT fee included), `need_units` the balance the
  // plan needs. OK means the signer's first request brings the money
  // (payment: connect: the app tops up while it signs) and that the signer
  // returns no signature before the balance reached `need_units`. Empty: a
  // short balance refuses the apply, nothing changed.
  std::function<Status(uint64_t topup_units, uint64_t need_units)> fund_with_first_chunk;
  std::string state_path;
  // Called once per step, in order, from the applying thread.
  std::function<void(const ApplyProgress&)> progress;
  // Polled between steps; true stops the apply cleanly (state saved).
  std::function<bool()> interrupted;
  int max_node_retries = 3;
  std::chrono::milliseconds deploy_timeout{std::chrono::seconds(60)};
  // Test-only fault injection (QSTOR_TEST_FAULT): the process exits (_exit
  // 97, like a SIGKILL: no cleanup) at one point of the apply:
  //   exit-after-twin             twin registered, nothing else
  //   exit-after-first-contracts  first chunk on the chain, state not written
  //   exit-after-contracts-saved  state records the contracts, nothing deployed
  //   exit-after-first-deploy     first deployment sent, not waited for
  //   exit-before-last-ready-saved  every namespace ready, the last one's
  //                               address not yet in the state (the next
  //                               plan is empty: Observe's refresh alone
  //                               must reach the state file)
  //   exit-before-cancel          new namespaces ready, old contracts live
  //   exit-after-cancel           cancellations on the chain, state not written
  //   exit-before-rebuild         (cli) grid reconciled, state saved, nothing rebuilt
  // apply_test runs every one and checks the next apply completes the work
  // with no contract paid twice and none left unrecorded.
  std::string fault;
};

struct ApplyResult {
  int created = 0;
  int completed = 0;  // deployed onto a contract an interrupted apply left
  int updated = 0;
  int replaced = 0;
  int deleted = 0;
  int retried_nodes = 0;
  bool interrupted = false;
  size_t signing_chunks = 0;
};

// Executes `plan`; `state` is updated and saved at options.state_path after
// each step. The identity signs (wallet payment).
Result<ApplyResult> ApplyPlan(grid::Grid& grid, const Manifest& manifest, const Plan& plan,
                              const Observation& obs, State& state,
                              const grid::Identity& identity, const ApplyOptions& options);

// Cancels every contract of the state (chunked batch_all), then removes the
// slots from the state. Used by `destroy`.
Result<int> DestroyAll(grid::Grid& grid, State& state, const grid::Identity& identity,
                       const ApplyOptions& options);

}  // namespace qstor::reconciler
