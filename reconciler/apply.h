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
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

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

struct ApplyOptions {
  std::string state_path;
  // Called with one human line per step ("data[2]: contract 41 on node 7").
  std::function<void(const std::string&)> progress;
  // Polled between steps; true stops the apply cleanly (state saved).
  std::function<bool()> interrupted;
  int max_node_retries = 3;
  std::chrono::milliseconds deploy_timeout{std::chrono::seconds(60)};
  // Test-only fault injection (QSTOR_TEST_FAULT): "exit-after-first-contracts"
  // exits the process right after the first contract chunk is on the chain
  // and before the state records it.
  std::string fault;
};

struct ApplyResult {
  int created = 0;
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
