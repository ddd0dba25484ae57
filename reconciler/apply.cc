#include "reconciler/apply.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/units.h"
#include "grid/challenge.h"
#include "grid/chain_call.h"
#include "grid/crypto.h"
#include "reconciler/batch.h"
#include "reconciler/observe.h"

namespace qstor::reconciler {

namespace {

// Fills a slot's observed fields from its deployment; returns the workload
// status ("ok", "error: ...", "missing", "unreachable: ...").
std::string ReadDeployment(grid::Grid& grid, NamespaceState& ns) {
  auto dep = grid.GetDeployment(ns.node_id, ns.contract_id);
  if (!dep.ok()) {
    if (dep.status().code() == Status::Code::kNotFound) return "missing";
    return "unreachable: " + dep.status().message();
  }
  ns.deployment_version = dep->version;
  for (const auto& w : dep->workloads) {
    if (w.type != "zdb") continue;
    ns.workload = w.name;
    ns.size_bytes = w.data.size;
    ns.mode = w.data.mode;
    if (w.result.state == "ok" && w.result.zdb) {
      ns.ns = w.result.zdb->ns;
      ns.host = w.result.zdb->ips.empty() ? "" : w.result.zdb->ips.front();
      ns.port = w.result.zdb->port;
      ns.status = "ok";
      return "ok";
    }
    std::string s = w.result.state.empty() ? "pending" : w.result.state;
    if (!w.result.message.empty()) s += ": " + w.result.message;
    ns.status = s;
    return s;
  }
  return "missing";
}

std::string WorkloadName(Role role, uint32_t index) {
  return fmt::format("qstor_{}{}", RoleName(role), index);
}

void FillNode(NamespaceState& ns, const std::map<uint32_t, grid::Node>& nodes) {
  auto it = nodes.find(ns.node_id);
  if (it == nodes.end()) return;
  ns.farm_id = it->second.farm_id;
  ns.country = it->second.location.country;
  ns.city = it->second.location.city;
}

// Reports the steps of one apply (or destroy) to options.progress, counting
// the plan's actions as they finish.
class Reporter {
 public:
  Reporter(const ApplyOptions& options, size_t total) : options_(options), total_(total) {}
  // Signing chunks of the whole operation: planned before the first, and
  // shown so far (SignRequest::scan/scans).
  size_t scans_planned = 0;
  size_t scans_shown = 0;
  void operator()(const std::string& step, const std::string& message,
                  const std::string& slot = "", uint32_t node_id = 0, uint64_t contract_id = 0,
                  bool finishes_action = false) {
    if (finishes_action) done_++;
    if (!options_.progress) return;
    ApplyProgress p;
    p.step = step;
    p.slot = slot;
    p.node_id = node_id;
    p.contract_id = contract_id;
    p.done = done_;
    p.total = total_;
    p.message = message;
    options_.progress(p);
  }

 private:
  const ApplyOptions& options_;
  size_t total_;
  size_t done_ = 0;
};

// Submits `calls` packed into signing chunks that each fit one QR code, one
// TFChain extrinsic per chunk (a Utility.batch_all when it holds several
// calls: all-or-nothing on the chain). Each chunk is prepared right before it
// is signed (nonce, era and chain facts read then). `on_chunk` gets the
// indices of the calls of each chunk that is in a block and the chain's
// result.
Status SubmitChunked(grid::Grid& grid, const grid::Ed25519Key& key, const std::string& pk,
                     const ChunkSigner& signer, const std::string& purpose,
                     const std::vector<grid::Call>& calls, size_t* chunks, Reporter& report,
                     const std::function<Status(const std::vector<size_t>&,
                                                const grid::ExtrinsicResult&)>& on_chunk) {
  if (calls.empty()) return Status::OK();
  auto sizes = grid.CallSizes(calls);
  if (!sizes.ok()) return sizes.status().WithContext(purpose + ": encoding the calls");
  auto packed = PackBatches(*sizes);
  if (!packed.ok()) return packed.status().WithContext(purpose);
  for (size_t bi = 0; bi < packed->batches.size(); bi++) {
    const Batch& b = packed->batches[bi];
    std::vector<grid::Call> chunk;
    for (size_t i : b.items) chunk.push_back(calls[i]);
    auto prepared = grid.Prepare(pk, chunk);
    if (!prepared.ok()) {
      return prepared.status().WithContext(
          fmt::format("{}: preparing signing chunk {} of {}", purpose, bi + 1, packed->batches.size()));
    }
    if (prepared->payload.size() > kMaxSigningPayloadBytes) {
      return Status::Internal(fmt::format(
          "{}: signing chunk {} of {} has a {}-byte signing payload, over the {} bytes one QR "
          "code allows (the chain's signed extensions add more than qstor expects); nothing of "
          "it was submitted",
          purpose, bi + 1, packed->batches.size(), prepared->payload.size(),
          kMaxSigningPayloadBytes));
    }
    std::string signature;
    if (signer) {
      SignRequest req;
      req.chunk = bi + 1;
      req.chunks = packed->batches.size();
      // One purpose on its own (a destroy) plans its own chunks.
      if (report.scans_planned == 0) report.scans_planned = packed->batches.size();
      req.scan = ++report.scans_shown;
      req.scans = report.scans_planned;
      req.purpose = purpose;
      req.signer_hex = pk;
      req.payload = prepared->payload;
      req.to_sign = prepared->to_sign;
      req.calls = prepared->calls;
      auto sig = signer(req);
      if (!sig.ok()) return sig.status().WithContext(fmt::format("signing chunk {} of {}", req.chunk, req.chunks));
      if (!grid::Ed25519VerifyHex(pk, prepared->to_sign, *sig)) {
        return Status::PermissionDenied(fmt::format(
            "the signature of chunk {} of {} does not verify against the twin's key {}; nothing "
            "of it was submitted",
            req.chunk, req.chunks, pk));
      }
      signature = *sig;
    } else {
      signature = key.SignHex(prepared->to_sign);
    }
    auto res = grid.Submit(*prepared, signature);
    if (!res.ok()) {
      return res.status().WithContext(
          fmt::format("{}: submitting signing chunk {} of {}", purpose, bi + 1, packed->batches.size()));
    }
    if (chunks) (*chunks)++;
    report("signed",
           fmt::format("{}: signing chunk {} of {} signed and in block {} ({} call(s), a "
                       "{}-byte signing payload)",
                       purpose, bi + 1, packed->batches.size(), res->block_hash, b.items.size(),
                       prepared->payload.size()));
    QSTOR_RETURN_IF_ERROR(on_chunk(b.items, *res));
  }
  return Status::OK();
}

// What a contract of `manifest`'s slot (role, index) records on the chain.
DeploymentData DataOf(const Manifest& manifest, Role role, uint32_t index) {
  return DeploymentData{manifest.name,         manifest.network,       role,
                        index,                 manifest.data_shards,   manifest.parity_shards,
                        manifest.capacity_bytes, manifest.labels};
}

// How many signing chunks ApplyPlan will ask for when every node deploys:
// the calls it will make, with their real encoded sizes (a placeholder hash
// has the length of a real one), packed the way SubmitChunked packs them.
size_t PlannedScans(grid::Grid& grid, const Manifest& manifest, const Plan& plan) {
  const std::string hash(32, '0');
  std::vector<grid::Call> creates, updates, cancels;
  for (const auto& a : plan.actions) {
    const DeploymentData dd = DataOf(manifest, a.role, a.index);
    switch (a.kind) {
      case ActionKind::kCreate:
      case ActionKind::kReplace:
        creates.push_back(grid::CreateNodeContractCall(a.node_id, hash, dd.Encode()));
        if (a.kind == ActionKind::kReplace && a.old_contract_id != 0) {
          cancels.push_back(grid::CancelContractCall(a.old_contract_id));
        }
        break;
      case ActionKind::kUpdate:
        updates.push_back(grid::UpdateNodeContractCall(a.old_contract_id, hash, dd.Encode()));
        break;
      case ActionKind::kDelete:
        if (a.old_contract_id != 0) cancels.push_back(grid::CancelContractCall(a.old_contract_id));
        break;
      case ActionKind::kComplete:
        break;
    }
  }
  size_t n = 0;
  for (const auto* calls : {&creates, &updates, &cancels}) {
    if (calls->empty()) continue;
    auto sizes = grid.CallSizes(*calls);
    if (!sizes.ok()) continue;  // the apply itself reports it
    auto packed = PackBatches(*sizes);
    if (packed.ok()) n += packed->batches.size();
  }
  return n;
}

}  // namespace

Result<Observation> Observe(grid::Grid& grid, const Manifest& manifest,
                            const std::string& public_key_hex, const std::optional<State>& state,
                            const ObserveOptions& options) {
  Observation o;
  o.network = manifest.network;
  auto pricing = grid.GetPricing();
  if (!pricing.ok()) return pricing.status().WithContext("reading the network's pricing");
  o.pricing = *pricing;
  o.have_state = state.has_value();
  o.state = state ? *state : NewState(manifest.name, manifest.network);
  auto twin = grid.GetTwinByPublicKey(public_key_hex);
  if (twin.ok()) {
    o.twin_registered = true;
    o.twin_id = twin->twin_id;
    if (o.state.twin_id != 0 && o.state.twin_id != twin->twin_id) {
      return Status::FailedPrecondition(fmt::format(
          "the state of \"{}\" belongs to twin {}, but this keystore's key is twin {}: wrong "
          "keystore (QSTOR_HOME) or wrong network",
          manifest.name, o.state.twin_id, twin->twin_id));
    }
    o.state.twin_id = twin->twin_id;
  } else if (twin.status().code() != Status::Code::kNotFound) {
    return twin.status().WithContext("looking up the twin");
  }
  auto bal = grid.GetBalance(public_key_hex);
  if (bal.ok()) o.balance_units = bal->free;

  if (o.twin_registered) {
    auto all = TwinLiveContracts(grid, o.twin_id);
    if (!all.ok()) return all.status();
    std::vector<grid::Contract> mine;
    for (auto& c : *all) {
      auto d = DeploymentData::Decode(c.deployment_data);
      if (d.ok() && d->name == manifest.name && d->network == manifest.network) {
        o.contracts[c.contract_id] = c;
        mine.push_back(c);
      }
    }
    // Refresh: adopt contracts the state does not know.
    std::set<uint64_t> known;
    for (const auto& ns : o.state.namespaces) known.insert(ns.contract_id);
    std::sort(mine.begin(), mine.end(),
              [](const auto& a, const auto& b) { return a.contract_id < b.contract_id; });
    for (const auto& c : mine) {
      if (known.count(c.contract_id)) continue;
      auto d = DeploymentData::Decode(c.deployment_data);
      NamespaceState* slot = o.state.Find(d->role, d->index);
      if (slot != nullptr && slot->contract_id != 0 && o.contracts.count(slot->contract_id)) {
        o.orphans.push_back(c);
        continue;
      }
      NamespaceState ns;
      ns.role = d->role;
      ns.index = d->index;
      ns.node_id = c.node_id;
      ns.contract_id = c.contract_id;
      ns.workload = WorkloadName(d->role, d->index);
      ns.status = "adopted from the grid";
      o.adopted.push_back(fmt::format("contract {} ({}[{}]) on node {}", c.contract_id,
                                      RoleName(d->role), d->index, c.node_id));
      if (slot != nullptr) {
        *slot = ns;
      } else {
        o.state.namespaces.push_back(ns);
      }
      if (o.state.data_shards == 0) {
        o.state.data_shards = d->k;
        o.state.parity_shards = d->m;
        o.state.capacity_bytes = d->capacity_bytes;
      }
    }
    if (options.check_deployments) {
      for (auto& ns : o.state.namespaces) {
        if (ns.contract_id == 0 || !o.contracts.count(ns.contract_id)) continue;
        o.workload_status[ns.contract_id] = ReadDeployment(grid, ns);
      }
    }
  }

  // Candidate nodes: up, with room for the smaller namespace kind.
  uint64_t min_size = std::min(DataNamespaceSize(manifest.capacity_bytes, manifest.data_shards),
                               MetaNamespaceSize(manifest.capacity_bytes));
  grid::NodeFilter nf;
  nf.status = "up";
  nf.free_hru = min_size;
  for (uint32_t page = 1; page < 100000; page++) {
    grid::PageRequest pr;
    pr.page = page;
    pr.size = 500;
    auto r = grid.FindNodes(nf, pr);
    if (!r.ok()) return r.status().WithContext("listing candidate nodes");
    for (auto& n : r->items) o.nodes[n.node_id] = std::move(n);
    if (r->items.size() < pr.size) break;
  }
  for (auto& ns : o.state.namespaces) {
    if (!o.nodes.count(ns.node_id)) {
      auto n = grid.GetNode(ns.node_id);
      if (n.ok()) {
        o.nodes[ns.node_id] = *n;
      } else if (n.status().code() != Status::Code::kNotFound) {
        return n.status().WithContext(fmt::format("reading node {}", ns.node_id));
      }
    }
    FillNode(ns, o.nodes);
  }
  return o;
}

Result<ApplyResult> ApplyPlan(grid::Grid& grid, const Manifest& manifest, const Plan& plan,
                              const Observation& obs, State& state,
                              const grid::Identity& identity, const ApplyOptions& options) {
  ApplyResult result;
  const grid::Ed25519Key key = identity.TwinKey();
  const std::string pk = identity.PublicKeyHex();
  Reporter say(options, plan.actions.size());
  auto stop = [&]() { return options.interrupted && options.interrupted(); };
  auto save = [&]() -> Status {
    return SaveState(options.state_path, state).WithContext("writing the state");
  };

  state.name = manifest.name;
  state.network = manifest.network;
  if (plan.register_twin) {
    auto twin = grid.RegisterTwin(key, "");
    if (!twin.ok()) return twin.status().WithContext("registering the twin");
    state.twin_id = twin->twin_id;
    say("twin", fmt::format("twin {} registered for {}", twin->twin_id, identity.Address()));
    if (options.fault == "exit-after-twin") {
      QSTOR_RETURN_IF_ERROR(save());
      say("fault", "test fault: exiting after the twin registration");
      ::_exit(97);
    }
  } else {
    state.twin_id = obs.twin_id;
  }
  state.data_shards = manifest.data_shards;
  state.parity_shards = manifest.parity_shards;
  state.capacity_bytes = manifest.capacity_bytes;
  // Slots whose content must be rebuilt once they have a new namespace:
  // recorded before any contract is made, so a kill anywhere after leaves
  // them in the state and the next apply finishes the rebuild.
  const bool deployed_before = std::any_of(state.namespaces.begin(), state.namespaces.end(),
                                           [](const NamespaceState& n) { return n.deployed(); });
  for (const auto& a : plan.actions) {
    if (a.kind == ActionKind::kReplace || (a.kind == ActionKind::kCreate && deployed_before)) {
      if (std::find(state.rebuild_slots.begin(), state.rebuild_slots.end(), a.Slot()) ==
          state.rebuild_slots.end()) {
        state.rebuild_slots.push_back(a.Slot());
      }
    }
  }
  QSTOR_RETURN_IF_ERROR(save());
  if (state.twin_id == 0) return Status::Internal("no twin after registration");

  bool spends = std::any_of(plan.actions.begin(), plan.actions.end(), [](const Action& a) {
    return a.kind != ActionKind::kDelete;
  });
  if (spends) {
    auto bal = grid.GetBalance(pk);
    if (!bal.ok()) return bal.status().WithContext("reading the balance");
    uint64_t need = plan.monthly_after * static_cast<uint64_t>(manifest.budget.prepaid_months);
    if (bal->free < need) {
      uint64_t missing = need - bal->free;
      // Whole TFT, plus the bridge's 1 TFT fee.
      uint64_t tft = (missing + grid::kUnitsPerTft - 1) / grid::kUnitsPerTft + 1;
      if (!options.fund_with_first_chunk) {
        auto pricing = grid.GetPricing();
        std::string uri =
            pricing.ok() ? fmt::format("TFT:{}?message=twin_{}&sender=me&amount={}",
                                       pricing->bridge_address, state.twin_id, tft)
                         : "";
        return Status::FailedPrecondition(fmt::format(
            "the wallet {} holds {}; {} month(s) of this storage (spec.budget.prepaidMonths) "
            "need {}. Nothing was changed. Top up at least {} TFT (the bridge keeps 1 TFT): "
            "`qstor wallet topup --amount {}`{}",
            identity.Address(), grid::FormatTft(bal->free), manifest.budget.prepaid_months,
            grid::FormatTft(need), tft, tft,
            uri.empty() ? "" : ", or pay this top-up QR payload with the ThreeFold Connect app: " + uri));
      }
      // payment: connect: the app pays with the first chunk it signs.
      QSTOR_RETURN_IF_ERROR(options.fund_with_first_chunk(tft * grid::kUnitsPerTft, need));
      say("funding", fmt::format("the wallet holds {}; {} month(s) of this storage need {}: the first "
                      "signing request asks the app to pay {} TFT (the bridge keeps 1 TFT)",
                      grid::FormatTft(bal->free), manifest.budget.prepaid_months,
                      grid::FormatTft(need), tft));
    }
  }

  // --- creates and replaces ------------------------------------------------
  struct Want {
    Action action;
    uint32_t node_id = 0;
    grid::Deployment deployment;
    uint64_t contract_id = 0;
  };
  std::vector<Want> wants;
  std::vector<uint64_t> cancel_after;  // old contracts of replaced slots
  for (const auto& a : plan.actions) {
    if (a.kind != ActionKind::kCreate && a.kind != ActionKind::kReplace &&
        a.kind != ActionKind::kComplete) {
      continue;
    }
    Want w;
    w.action = a;
    w.node_id = a.node_id;
    if (a.kind == ActionKind::kComplete) w.contract_id = a.old_contract_id;
    wants.push_back(w);
    if (a.kind == ActionKind::kReplace && a.old_contract_id != 0) {
      cancel_after.push_back(a.old_contract_id);
    }
  }
  if (options.signer) say.scans_planned = PlannedScans(grid, manifest, plan);
  std::set<uint32_t> avoid;
  for (int round = 0; !wants.empty(); round++) {
    if (stop()) {
      result.interrupted = true;
      return result;
    }
    if (round > options.max_node_retries) {
      std::string slots;
      for (const auto& w : wants) slots += (slots.empty() ? "" : ", ") + w.action.Slot();
      return Status::Unavailable(fmt::format(
          "could not deploy {} after {} attempts on different nodes; the state records what "
          "exists, `qstor apply` again retries",
          slots, round));
    }
    // Build and sign the deployments; one create_node_contract call for each
    // slot that has no contract yet.
    std::vector<grid::Call> calls;
    std::vector<size_t> call_owner;  // calls[i] belongs to wants[call_owner[i]]
    for (size_t wi = 0; wi < wants.size(); wi++) {
      Want& w = wants[wi];
      auto pw = identity.NamespacePassword(manifest.name, manifest.network,
                                           RoleName(w.action.role), w.action.index);
      if (!pw.ok()) return pw.status();
      grid::Deployment d;
      d.version = 0;
      d.twin_id = state.twin_id;
      d.description = fmt::format("qstor {} {}", manifest.name, w.action.Slot());
      d.signature_requirement.requests.push_back({state.twin_id, true, 1});
      d.signature_requirement.weight_required = 1;
      grid::Workload wl;
      wl.version = 0;
      wl.name = WorkloadName(w.action.role, w.action.index);
      wl.type = "zdb";
      wl.description = d.description;
      wl.data.size = w.action.size_bytes;
      wl.data.mode = "user";
      wl.data.password = *pw;
      wl.data.is_public = false;
      d.workloads.push_back(wl);
      grid::SignDeployment(d, state.twin_id, key);
      w.deployment = d;
      const DeploymentData dd = DataOf(manifest, w.action.role, w.action.index);
      if (w.contract_id != 0) continue;  // complete: the contract exists
      calls.push_back(
          grid::CreateNodeContractCall(w.node_id, grid::ChallengeHex(d), dd.Encode()));
      call_owner.push_back(wi);
    }
    Status st = SubmitChunked(
        grid, key, pk, options.signer, "create contracts", calls, &result.signing_chunks, say,
        [&](const std::vector<size_t>& idx, const grid::ExtrinsicResult& res) -> Status {
          if (res.created_contracts.size() != idx.size()) {
            return Status::Protocol(fmt::format(
                "the chain created {} contracts for a chunk of {} calls",
                res.created_contracts.size(), idx.size()));
          }
          if (options.fault == "exit-after-first-contracts") {
            say("fault", "test fault: exiting after the first contracts, before the state records them");
            ::_exit(97);
          }
          for (size_t j = 0; j < idx.size(); j++) {
            Want& w = wants[call_owner[idx[j]]];
            w.contract_id = res.created_contracts[j];
            NamespaceState* slot = state.Find(w.action.role, w.action.index);
            if (slot == nullptr) {
              state.namespaces.push_back({});
              slot = &state.namespaces.back();
            }
            NamespaceState ns;
            ns.role = w.action.role;
            ns.index = w.action.index;
            ns.node_id = w.node_id;
            ns.contract_id = w.contract_id;
            ns.workload = WorkloadName(w.action.role, w.action.index);
            ns.size_bytes = w.action.size_bytes;
            ns.status = "contract created";
            FillNode(ns, obs.nodes);
            *slot = ns;
            say("contract",
                fmt::format("{}: contract {} on node {}", w.action.Slot(), w.contract_id,
                            w.node_id),
                w.action.Slot(), w.node_id, w.contract_id);
          }
          QSTOR_RETURN_IF_ERROR(save());
          if (options.fault == "exit-after-contracts-saved") {
            say("fault", "test fault: exiting after the state recorded the contracts, before deploying");
            ::_exit(97);
          }
          return Status::OK();
        });
    if (!st.ok()) return st;

    // Deploy, then wait for every namespace.
    std::vector<size_t> failed;
    std::map<size_t, std::string> why_failed;
    for (size_t i = 0; i < wants.size(); i++) {
      Want& w = wants[i];
      w.deployment.contract_id = w.contract_id;
      Status ds = grid.Deploy(w.node_id, w.deployment);
      if (!ds.ok() && ds.code() == Status::Code::kAlreadyExists) ds = Status::OK();
      if (!ds.ok()) {
        failed.push_back(i);
        why_failed[i] = ds.message();
      }
      if (i == 0 && options.fault == "exit-after-first-deploy") {
        say("fault", "test fault: exiting after the first deployment was sent");
        ::_exit(97);
      }
    }
    auto deadline = std::chrono::steady_clock::now() + options.deploy_timeout;
    std::set<size_t> waiting;
    for (size_t i = 0; i < wants.size(); i++) {
      if (!why_failed.count(i)) waiting.insert(i);
    }
    if (!waiting.empty()) {
      say("deploying", fmt::format("{} deployment(s) sent; waiting for the nodes (at most {} s)",
                                   waiting.size(), options.deploy_timeout.count() / 1000));
    }
    while (!waiting.empty()) {
      for (auto it = waiting.begin(); it != waiting.end();) {
        Want& w = wants[*it];
        NamespaceState* slot = state.Find(w.action.role, w.action.index);
        std::string s = ReadDeployment(grid, *slot);
        if (s == "ok") {
          say("ready",
              fmt::format("{}: namespace {} ready on node {} ({}:{}, {})", w.action.Slot(),
                          slot->ns, w.node_id, slot->host, slot->port,
                          FormatSize(slot->size_bytes)),
              w.action.Slot(), w.node_id, w.contract_id, true);
          if (options.fault == "exit-before-last-ready-saved" && waiting.size() == 1) {
            say("fault", "test fault: exiting after the last namespace is ready, before the "
                         "state records its address");
            ::_exit(97);
          }
          QSTOR_RETURN_IF_ERROR(save());
          if (w.action.kind == ActionKind::kCreate) result.created++;
          else if (w.action.kind == ActionKind::kComplete) result.completed++;
          else result.replaced++;
          it = waiting.erase(it);
        } else if (s.rfind("error", 0) == 0) {
          failed.push_back(*it);
          why_failed[*it] = s;
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
      if (waiting.empty()) break;
      if (std::chrono::steady_clock::now() > deadline) {
        for (size_t i : waiting) {
          failed.push_back(i);
          why_failed[i] = fmt::format("not ready within {} ms", options.deploy_timeout.count());
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (failed.empty()) break;

    // Cancel what failed, avoid those nodes, and place the slots elsewhere.
    std::vector<grid::Call> cancels;
    for (size_t i : failed) cancels.push_back(grid::CancelContractCall(wants[i].contract_id));
    st = SubmitChunked(grid, key, pk, options.signer, "cancel failed contracts", cancels,
                       &result.signing_chunks, say,
                       [](const std::vector<size_t>&, const grid::ExtrinsicResult&) {
                         return Status::OK();
                       });
    if (!st.ok()) return st.WithContext("cancelling contracts of failed deployments");
    std::vector<Want> again;
    for (size_t i : failed) {
      Want w = wants[i];
      avoid.insert(w.node_id);
      NamespaceState* slot = state.Find(w.action.role, w.action.index);
      slot->contract_id = 0;
      slot->status = "failed on node " + std::to_string(w.node_id) + ": " + why_failed[i];
      say("retry",
          fmt::format("{}: node {} failed ({}); contract {} cancelled, choosing another node",
                      w.action.Slot(), w.node_id, why_failed[i], w.contract_id),
          w.action.Slot(), w.node_id, w.contract_id);
      std::vector<uint32_t> taken;
      std::set<uint32_t> other;
      for (const auto& ns : state.namespaces) {
        if (ns.role == w.action.role && ns.index != w.action.index && ns.contract_id != 0) {
          taken.push_back(ns.node_id);
        } else if (ns.role != w.action.role && ns.contract_id != 0) {
          other.insert(ns.node_id);
        }
      }
      for (const auto& o : again) {
        if (o.action.role == w.action.role) taken.push_back(o.node_id);
      }
      auto choice = ChooseNode(manifest, obs.nodes, w.action.role, w.action.size_bytes, taken,
                               other, avoid, plan.seed, 7919u * (static_cast<uint32_t>(round) + 1) +
                                                            w.action.index);
      if (!choice.ok()) {
        QSTOR_RETURN_IF_ERROR(save());
        return choice.status().WithContext("placing " + w.action.Slot() + " again");
      }
      w.node_id = choice->node_id;
      w.contract_id = 0;
      result.retried_nodes++;
      again.push_back(w);
    }
    QSTOR_RETURN_IF_ERROR(save());
    wants = std::move(again);
  }

  // --- updates (resize in place; labels) ---------------------------------------
  // Every update is one update_node_contract, and all of them are packed
  // into QR-sized signing chunks together (a grow of 4+2 is one scan, not
  // six). A resize also sends the node its new deployment, right after the
  // chunk holding its contract update is accepted; an update that keeps the
  // size changes only the contract's deployment_data (metadata.labels), with
  // the hash the chain already records (no node call). Killed between the two, the next apply
  // plans the resize again and sends the same version.
  struct Update {
    const Action* action = nullptr;
    std::optional<grid::Deployment> deployment;  // resizes: what the node gets
  };
  std::vector<grid::Call> update_calls;
  std::vector<Update> updates;
  for (const auto& a : plan.actions) {
    if (a.kind != ActionKind::kUpdate) continue;
    if (stop()) {
      result.interrupted = true;
      return result;
    }
    NamespaceState* slot = state.Find(a.role, a.index);
    if (slot == nullptr || slot->contract_id != a.old_contract_id) {
      return Status::FailedPrecondition(a.Slot() + " changed since the plan; plan again");
    }
    const DeploymentData dd = DataOf(manifest, a.role, a.index);
    Update u;
    u.action = &a;
    if (a.size_bytes == a.old_size_bytes) {
      // The deployment stays as it is: its hash as the chain records it.
      auto c = obs.contracts.find(slot->contract_id);
      if (c == obs.contracts.end() || c->second.deployment_hash.empty()) {
        return Status::FailedPrecondition(a.Slot() + ": its contract was not observed; plan again");
      }
      update_calls.push_back(grid::UpdateNodeContractCall(
          slot->contract_id, c->second.deployment_hash, dd.Encode()));
      updates.push_back(std::move(u));
      continue;
    }
    auto dep = grid.GetDeployment(slot->node_id, slot->contract_id);
    if (!dep.ok()) return dep.status().WithContext("reading the deployment of " + a.Slot());
    grid::Deployment d = *dep;
    d.version++;
    d.signature_requirement.signatures.clear();
    for (auto& w : d.workloads) {
      if (w.type != "zdb") continue;
      w.version = d.version;
      w.data.size = a.size_bytes;
      w.result = {};
      // The password is not returned by nodes: derive it again.
      auto pw = identity.NamespacePassword(manifest.name, manifest.network, RoleName(a.role),
                                           a.index);
      if (!pw.ok()) return pw.status();
      w.data.password = *pw;
    }
    grid::SignDeployment(d, state.twin_id, key);
    update_calls.push_back(
        grid::UpdateNodeContractCall(slot->contract_id, grid::ChallengeHex(d), dd.Encode()));
    u.deployment = std::move(d);
    updates.push_back(std::move(u));
  }
  Status updated = SubmitChunked(
      grid, key, pk, options.signer, "update contracts", update_calls, &result.signing_chunks, say,
      [&](const std::vector<size_t>& idx, const grid::ExtrinsicResult&) -> Status {
        for (size_t i : idx) {
          const Update& u = updates[i];
          const Action& a = *u.action;
          NamespaceState* slot = state.Find(a.role, a.index);
          if (slot == nullptr) return Status::Internal(a.Slot() + " left the state");
          if (!u.deployment) {
            say("relabeled",
                fmt::format("{}: labels recorded on contract {}", a.Slot(), slot->contract_id),
                a.Slot(), slot->node_id, slot->contract_id, true);
            result.updated++;
            continue;
          }
          Status us = grid.UpdateDeployment(slot->node_id, *u.deployment);
          if (!us.ok()) return us.WithContext("updating the deployment of " + a.Slot());
          slot->size_bytes = a.size_bytes;
          slot->deployment_version = u.deployment->version;
          QSTOR_RETURN_IF_ERROR(save());
          say("resized",
              fmt::format("{}: resized to {} on node {}", a.Slot(), FormatSize(a.size_bytes),
                          slot->node_id),
              a.Slot(), slot->node_id, slot->contract_id, true);
          result.updated++;
        }
        return Status::OK();
      });
  if (!updated.ok()) return updated;

  // --- cancellations -----------------------------------------------------------
  if (stop()) {
    result.interrupted = true;
    return result;
  }
  std::vector<grid::Call> cancels;
  std::vector<const Action*> deletes;
  for (uint64_t c : cancel_after) cancels.push_back(grid::CancelContractCall(c));
  for (const auto& a : plan.actions) {
    if (a.kind != ActionKind::kDelete) continue;
    deletes.push_back(&a);
    if (a.old_contract_id != 0) cancels.push_back(grid::CancelContractCall(a.old_contract_id));
  }
  if (!cancels.empty() && options.fault == "exit-before-cancel") {
    say("fault", "test fault: exiting before cancelling replaced and deleted contracts");
    ::_exit(97);
  }
  QSTOR_RETURN_IF_ERROR(SubmitChunked(
      grid, key, pk, options.signer, "cancel contracts", cancels, &result.signing_chunks, say,
      [](const std::vector<size_t>&, const grid::ExtrinsicResult&) { return Status::OK(); }));
  if (!cancels.empty() && options.fault == "exit-after-cancel") {
    say("fault", "test fault: exiting after the cancellations, before the state records them");
    ::_exit(97);
  }
  for (uint64_t c : cancel_after) {
    say("cancelled", fmt::format("contract {} cancelled (replaced)", c), "", 0, c);
  }
  for (const Action* a : deletes) {
    auto& v = state.namespaces;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const NamespaceState& ns) {
                             return ns.role == a->role && ns.index == a->index &&
                                    ns.contract_id == a->old_contract_id;
                           }),
            v.end());
    say("cancelled", fmt::format("{}: contract {} cancelled", a->Slot(), a->old_contract_id),
        a->Slot(), a->old_node_id, a->old_contract_id, true);
    result.deleted++;
  }
  std::sort(state.namespaces.begin(), state.namespaces.end(), [](const auto& a, const auto& b) {
    return std::tie(a.role, a.index) < std::tie(b.role, b.index);
  });
  QSTOR_RETURN_IF_ERROR(save());
  return result;
}

Result<int> DestroyAll(grid::Grid& grid, State& state, const grid::Identity& identity,
                       const ApplyOptions& options) {
  const grid::Ed25519Key key = identity.TwinKey();
  std::vector<grid::Call> cancels;
  std::vector<uint64_t> ids;
  for (const auto& ns : state.namespaces) {
    if (ns.contract_id == 0) continue;
    auto c = grid.GetContract(ns.contract_id);
    if (!c.ok() && c.status().code() != Status::Code::kNotFound) {
      return c.status().WithContext("reading contract " + std::to_string(ns.contract_id));
    }
    if (c.ok() && c->state != "Deleted") {
      cancels.push_back(grid::CancelContractCall(ns.contract_id));
      ids.push_back(ns.contract_id);
    }
  }
  size_t chunks = 0;
  Reporter say(options, ids.size());
  QSTOR_RETURN_IF_ERROR(SubmitChunked(
      grid, key, identity.PublicKeyHex(), options.signer, "cancel contracts", cancels, &chunks,
      say,
      [](const std::vector<size_t>&, const grid::ExtrinsicResult&) { return Status::OK(); }));
  for (uint64_t id : ids) say("cancelled", fmt::format("contract {} cancelled", id), "", 0, id, true);
  state.namespaces.clear();
  return static_cast<int>(ids.size());
}

}  // namespace qstor::reconciler
