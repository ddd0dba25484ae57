// diff/plan: from a manifest (desired) and an observation of the grid
// (actual) to an ordered list of actions, each with its reason, the node
// chosen and why, and its cost. Planning is a pure function of its inputs
// (MakePlan), so it is tested without a grid; Observe() (reconciler/apply.h)
// does the I/O.
//
// Desired layout of a manifest with usable capacity C, k data and m parity
// shards, and B metadata backends (docs/reconciler.md):
//   data namespaces  k+m, slots data[0..k+m-1], each of size
//                    DataNamespaceSize(C, k) = ceil(C/k) * 1.10 (10 % headroom
//                    for segment packing, AEAD tags and padding), rounded up
//                    to a MiB
//   meta namespaces  B, slots meta[0..B-1], each MetaNamespaceSize(C) =
//                    clamp(C/100, 256 MiB, 64 GiB) rounded up to a MiB
// Data slots are on distinct nodes always (and distinct farms/countries when
// the spread rules ask); metadata slots are on distinct nodes among
// themselves and prefer nodes that hold no data slot.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/types.h"
#include "reconciler/manifest.h"
#include "reconciler/state.h"

namespace qstor::reconciler {

inline constexpr int kPlanFormat = 1;
inline constexpr uint64_t kMonthSeconds = 30ull * 24 * 3600;

uint64_t DataNamespaceSize(uint64_t capacity, int k);
uint64_t MetaNamespaceSize(uint64_t capacity);

// What Observe() saw on the grid for one manifest.
struct Observation {
  std::string network;
  bool twin_registered = false;
  uint32_t twin_id = 0;
  bool have_state = false;  // a state file existed (or was rebuilt)
  // The state, refreshed from the grid: slots whose contracts the grid has but
  // the state did not (an interrupted apply) are adopted.
  State state;
  // Live (Created/GracePeriod) qstor contracts of this manifest, by id.
  std::map<uint64_t, grid::Contract> contracts;
  // Per contract: the zdb workload's state on its node ("ok", "error: ...",
  // "missing", "unreachable: ...").
  std::map<uint64_t, std::string> workload_status;
  // Contracts the state did not record and Observe adopted into their slot,
  // described for the plan ("contract 12 (data[0]) on node 4").
  std::vector<std::string> adopted;
  // Live qstor contracts of this manifest that no slot owns (duplicates).
  std::vector<grid::Contract> orphans;
  // Every node known to the planner: the ones in use and the candidates.
  std::map<uint32_t, grid::Node> nodes;
  grid::Pricing pricing;
  std::optional<uint64_t> balance_units;  // free balance, when known
  // Bytes each deployed namespace holds (its 0-db NSINFO data_size_bytes),
  // by contract; filled by the caller, which can reach the namespaces (they
  // are password-protected), only when the plan may shrink one. A shrink
  // below what a namespace holds is a plan error; a shrink of a namespace
  // missing here (not probed, or it did not answer: used_errors says why)
  // is an error too.
  std::map<uint64_t, uint64_t> used_bytes;
  std::map<uint64_t, std::string> used_errors;
};

// Whether the plan for `manifest` would shrink a namespace of `state` (so
// the caller must fill Observation::used_bytes first).
bool MayShrink(const Manifest& manifest, const State& state);

struct PlanOptions {
  uint64_t seed = 0;                // node choice randomness (recorded in the plan)
  std::set<uint32_t> avoid_nodes;   // nodes just seen failing: never chosen
};

// kComplete: the slot's contract exists (an interrupted apply created it) but
// its deployment does not: deploy onto that contract instead of paying for a
// new one.
enum class ActionKind { kCreate, kComplete, kUpdate, kReplace, kDelete };
const char* ActionKindName(ActionKind k);  // "create" | "complete" | "update" | "replace" | "delete"

struct Action {
  ActionKind kind = ActionKind::kCreate;
  Role role = Role::kData;
  uint32_t index = 0;
  std::string reason;
  // create/replace: the node chosen and why; update: the current node.
  uint32_t node_id = 0;
  std::string node_why;
  uint64_t size_bytes = 0;       // desired size (create/update/replace)
  // update/replace/delete: what exists now.
  uint64_t old_contract_id = 0;
  uint32_t old_node_id = 0;
  uint64_t old_size_bytes = 0;
  int64_t monthly_cost_delta = 0;  // units of 1e-7 TFT per 30 days

  std::string Slot() const;
  nlohmann::json ToJson() const;
  static Result<Action> FromJson(const nlohmann::json& j);
};

struct PlanDiagnostic {
  enum class Severity { kError, kWarning } severity = Severity::kWarning;
  std::string summary;
  std::string detail;
  nlohmann::json ToJson() const;
};

struct Plan {
  int format = kPlanFormat;
  std::string name;
  std::string network;
  std::string manifest_file;
  nlohmann::json manifest;        // Manifest::ToJson(), the desired state applied
  std::string manifest_digest;    // hex SHA-256 of manifest.dump()
  std::string state_lineage;      // "" when there was no state
  uint64_t state_serial = 0;
  std::string observed_digest;    // ObservationDigest() of what the plan was made from
  uint64_t seed = 0;
  bool register_twin = false;
  std::vector<Action> actions;    // in execution order
  std::vector<PlanDiagnostic> diagnostics;
  // Slots an earlier apply replaced whose shards are not rebuilt yet
  // (State::rebuild_slots): apply rebuilds them (fs check + fs repair) even
  // when there is no action. Not an action: empty() ignores it;
  // rebuild_pending() says it. Plan file key "rebuild_slots" (optional).
  std::vector<std::string> rebuild_slots;
  uint64_t monthly_before = 0;    // units of 1e-7 TFT per 30 days
  uint64_t monthly_after = 0;
  grid::Pricing pricing;
  int64_t created_at = 0;

  bool has_errors() const;
  bool empty() const { return actions.empty() && !register_twin; }
  bool rebuild_pending() const { return !rebuild_slots.empty(); }
  int count(ActionKind k) const;
  nlohmann::json ToJson() const;
  static Result<Plan> FromJson(const nlohmann::json& j, const std::string& what);
};

// The plan that turns `obs` into `manifest`. Never fails for a grid that
// cannot host the manifest: that is an error diagnostic in the plan (so
// `diff` can show everything it found).
Plan MakePlan(const Manifest& manifest, const Observation& obs, const PlanOptions& options);

// Errors for the shrinks (kUpdate to a smaller size) among `actions` below
// what their namespace holds, or whose use is unknown (obs.used_bytes);
// warnings for the others. MakePlan adds them; apply checks a saved plan's
// shrinks again against the grid it sees.
std::vector<PlanDiagnostic> ShrinkDiagnostics(const Manifest& manifest,
                                              const std::vector<Action>& actions,
                                              const Observation& obs);

// Chooses a node for one slot (exposed for apply's retries): honours the
// manifest's locations and exclusions, status up, free HRU >= size, the spread
// against `taken` (the nodes of the other slots of the same role), and never
// a node in `avoid`. kResourceExhausted with a reason that counts what each
// The seed of the node choice when none is given (--seed): a BLAKE2b hash
// of the state's lineage and serial ("" and 0 before the first apply) and the
// manifest's canonical form (Manifest::ToJson), reduced to 9 decimal digits
// like a typed seed. So `diff` and `apply` of one manifest against one state
// choose the same nodes; a changed manifest or a new serial may choose others.
uint64_t DefaultSeed(const std::string& state_lineage, uint64_t state_serial,
                     const Manifest& manifest);

// filter removed.
struct NodeChoice {
  uint32_t node_id = 0;
  std::string why;
};
Result<NodeChoice> ChooseNode(const Manifest& manifest, const std::map<uint32_t, grid::Node>& nodes,
                              Role role, uint64_t size, const std::vector<uint32_t>& taken_same_role,
                              const std::set<uint32_t>& other_role_nodes,
                              const std::set<uint32_t>& avoid, uint64_t seed, uint32_t salt);

// Whether a node satisfies the manifest's location rules (select and
// exclude); `why` says which rule matched or failed.
bool NodeMatchesLocations(const Manifest& manifest, const grid::Node& node, std::string* why);

// Human rendering, Terraform's style: "+ create", "~ update in-place",
// "-/+ replace", "- destroy", a summary line and the cost delta.
std::string RenderPlan(const Plan& plan, bool color);
// Line-delimited JSON events: version, planned_change..., diagnostic...,
// rebuild_pending (when a rebuild is pending), change_summary, cost; each
// line one JSON object with "type".
std::string RenderPlanEvents(const Plan& plan);

std::string Sha256Hex(std::string_view data);

// A digest of the grid facts a plan depends on: the manifest's live
// contracts (id, state, node) and their workloads' status, and for every node
// an action uses, its status and whether it still has room. Applying a saved
// plan recomputes it and refuses when the grid moved.
std::string ObservationDigest(const Observation& obs, const std::vector<Action>& actions);

}  // namespace qstor::reconciler
