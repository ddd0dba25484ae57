#include "reconciler/observe.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace qstor::reconciler {

// All live contracts of the twin (pages of 100).
Result<std::vector<grid::Contract>> TwinLiveContracts(grid::Grid& grid, uint32_t twin_id) {
  std::vector<grid::Contract> out;
  grid::ContractFilter f;
  f.twin_id = twin_id;
  f.states = {"Created", "GracePeriod"};
  for (uint32_t page = 1;; page++) {
    grid::PageRequest pr;
    pr.page = page;
    pr.size = 100;
    auto r = grid.ListContracts(f, pr);
    if (!r.ok()) return r.status().WithContext("listing the twin's contracts");
    for (auto& c : r->items) out.push_back(std::move(c));
    if (r->items.size() < pr.size) break;
    if (page > 10000) return Status::Internal("contract listing does not end");
  }
  return out;
}

Result<std::vector<std::string>> ManifestNamesOnGrid(grid::Grid& grid, uint32_t twin_id,
                                                     const std::string& network) {
  auto cs = TwinLiveContracts(grid, twin_id);
  if (!cs.ok()) return cs.status();
  std::set<std::string> names;
  for (const auto& c : *cs) {
    auto d = DeploymentData::Decode(c.deployment_data);
    if (d.ok() && d->network == network) names.insert(d->name);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<State> RebuildStateFromGrid(grid::Grid& grid, uint32_t twin_id, const std::string& name,
                                   const std::string& network) {
  auto cs = TwinLiveContracts(grid, twin_id);
  if (!cs.ok()) return cs.status();
  State s = NewState(name, network);
  s.twin_id = twin_id;
  for (const auto& c : *cs) {
    auto d = DeploymentData::Decode(c.deployment_data);
    if (!d.ok() || d->name != name || d->network != network) continue;
    NamespaceState n;
    n.role = d->role;
    n.index = d->index;
    n.node_id = c.node_id;
    n.farm_id = c.farm_id;
    n.contract_id = c.contract_id;
    if (s.data_shards == 0 || d->role == Role::kData) {
      s.data_shards = d->k;
      s.parity_shards = d->m;
      s.capacity_bytes = d->capacity_bytes;
    }
    auto node = grid.GetNode(c.node_id);
    if (node.ok()) {
      n.farm_id = node->farm_id;
      n.country = node->location.country;
      n.city = node->location.city;
    }
    auto dep = grid.GetDeployment(c.node_id, c.contract_id);
    if (dep.ok()) {
      n.deployment_version = dep->version;
      for (const auto& w : dep->workloads) {
        if (w.type != "zdb") continue;
        n.workload = w.name;
        n.size_bytes = w.data.size;
        n.mode = w.data.mode;
        n.status = w.result.state.empty() ? "pending" : w.result.state;
        if (w.result.state == "ok" && w.result.zdb) {
          n.ns = w.result.zdb->ns;
          n.host = w.result.zdb->ips.empty() ? "" : w.result.zdb->ips.front();
          n.port = w.result.zdb->port;
        } else if (!w.result.message.empty()) {
          n.status += ": " + w.result.message;
        }
        break;
      }
    } else {
      n.status = "unreachable: " + dep.status().message();
    }
    if (State* have = &s; have->Find(n.role, n.index) != nullptr) {
      // Two live contracts claim one slot (an apply interrupted between
      // creating a replacement and cancelling the old one): keep the newer,
      // the older one shows up as drift to clean up.
      NamespaceState* old = have->Find(n.role, n.index);
      if (old->contract_id > n.contract_id) continue;
      *old = n;
      continue;
    }
    s.namespaces.push_back(std::move(n));
  }
  if (s.namespaces.empty()) {
    return Status::NotFound(fmt::format("no live qstor contract of \"{}\" on {} for twin {}", name,
                                        network, twin_id));
  }
  std::sort(s.namespaces.begin(), s.namespaces.end(), [](const auto& a, const auto& b) {
    return std::tie(a.role, a.index) < std::tie(b.role, b.index);
  });
  return s;
}

Result<StorageLayout> LayoutFromState(const State& state, const grid::Identity& identity) {
  StorageLayout l;
  l.k = state.data_shards;
  l.m = state.parity_shards;
  l.capacity_bytes = state.capacity_bytes;
  for (const auto& n : state.namespaces) {
    if (!n.deployed()) continue;
    BackendSpec b;
    b.name = fmt::format("{}{}@node{}", RoleName(n.role), n.index, n.node_id);
    b.host = n.host;
    b.port = n.port;
    b.ns = n.ns;
    auto pw = identity.NamespacePassword(state.name, state.network, RoleName(n.role), n.index);
    if (!pw.ok()) return pw.status();
    b.password = *pw;
    b.labels = {{"farm", std::to_string(n.farm_id)},
                {"country", n.country},
                {"node", std::to_string(n.node_id)}};
    (n.role == Role::kData ? l.data : l.meta).push_back(std::move(b));
  }
  if (static_cast<int>(l.data.size()) < l.k) {
    return Status::FailedPrecondition(fmt::format(
        "\"{}\" has {} deployed data namespaces, fewer than the {} needed to read anything; run "
        "`qstor apply` first",
        state.name, l.data.size(), l.k));
  }
  if (l.meta.empty()) {
    return Status::FailedPrecondition(fmt::format(
        "\"{}\" has no deployed metadata namespace; run `qstor apply` first", state.name));
  }
  return l;
}

}  // namespace qstor::reconciler
