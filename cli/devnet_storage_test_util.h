// Test helper (header only): an in-process devnet with one funded twin that
// deploys qstor namespaces the way `qstor apply` records them — a node
// contract whose deployment_data is reconciler::DeploymentData, then a signed
// zdb deployment whose password is the identity's NamespacePassword. Used by
// reconciler/observe_test.cc and cli/mount_grid_test.cc. Needs QSTOR_BIN (the
// devnet runs `qstor zdb serve` for its nodes).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "devnet/devnet.h"
#include "grid/bip39.h"
#include "grid/challenge.h"
#include "grid/chain_call.h"
#include "grid/http_grid.h"
#include "grid/identity.h"
#include "reconciler/state.h"

namespace qstor::testing {

inline std::string FreshTempDir(const std::string& tag) {
  auto p = std::filesystem::temp_directory_path() /
           fmt::format("qstor-{}-{}", tag, static_cast<long>(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

class DevnetTwin {
 public:
  ~DevnetTwin() { Stop(); }

  // Starts a devnet in `dir` (fresh ledger, `nodes` nodes), makes a new
  // 24-word identity, registers its twin and deposits `tft` TFT.
  Status Start(const std::string& dir, uint32_t nodes = 12, uint64_t tft = 1000) {
    dir_ = dir;
    devnet::DevnetOptions o;
    o.data_dir = dir;
    o.nodes = nodes;
    o.block_ms = 100;  // blocks as the real chain makes them, faster (tests wait for each)
    const char* bin = std::getenv("QSTOR_BIN");
    if (bin == nullptr) return Status::FailedPrecondition("QSTOR_BIN must point at qstor");
    o.qstor_bin = bin;
    auto d = devnet::Devnet::Start(o);
    if (!d.ok()) return d.status();
    devnet_ = std::move(d).value();
    grid_ = std::make_unique<grid::HttpGrid>(
        grid::DevnetEndpoint(devnet_->base_url(), devnet_->chain_url()));
    auto w = grid::bip39::GenerateMnemonic24();
    if (!w.ok()) return w.status();
    words_ = *w;
    auto id = grid::Identity::FromMnemonic(words_);
    if (!id.ok()) return id.status();
    identity_.emplace(std::move(id).value());
    auto t = grid_->RegisterTwin(identity_->TwinKey(), "relay.devnet");
    if (!t.ok()) return t.status();
    twin_id_ = t->twin_id;
    grid_->SetIdentity(twin_id_, identity_->TwinKey());
    nlohmann::json deposit{{"twin_id", twin_id_}, {"amount", tft * grid::kUnitsPerTft}};
    auto dep = grid_->Call("POST", "/bridge/deposit", deposit.dump());
    return dep.status();
  }

  void Stop() {
    grid_.reset();
    if (devnet_) devnet_->Stop();
    devnet_.reset();
  }

  // One qstor namespace: contract (deployment_data names manifest, role,
  // slot, k, m, capacity) + zdb workload "<role><index>" on `node`.
  // Returns the contract id.
  Result<uint64_t> DeployNamespace(const std::string& name, reconciler::Role role, uint32_t index,
                                   int k, int m, uint64_t capacity, uint32_t node,
                                   uint64_t size = 256ull << 20,
                                   const std::string& network = "devnet") {
    auto pw = identity_->NamespacePassword(name, network, reconciler::RoleName(role), index);
    if (!pw.ok()) return pw.status();
    grid::Deployment d;
    d.twin_id = twin_id_;
    d.metadata = R"({"type":"zdb","projectName":"qstor"})";
    d.signature_requirement.requests.push_back({twin_id_, true, 1});
    d.signature_requirement.weight_required = 1;
    grid::Workload wl;
    wl.name = fmt::format("{}{}", reconciler::RoleName(role), index);
    wl.data = {size, "user", *pw, false};
    d.workloads.push_back(wl);
    reconciler::DeploymentData dd;
    dd.name = name;
    dd.network = network;
    dd.role = role;
    dd.index = index;
    dd.k = k;
    dd.m = m;
    dd.capacity_bytes = capacity;
    auto res = Submit(grid::CreateNodeContractCall(node, grid::ChallengeHex(d), dd.Encode()));
    if (!res.ok()) return res.status();
    if (res->created_contracts.size() != 1) return Status::Internal("no contract created");
    d.contract_id = res->created_contracts[0];
    grid::SignDeployment(d, twin_id_, identity_->TwinKey());
    Status st = grid_->Deploy(node, d);
    if (!st.ok()) return st;
    return d.contract_id;
  }

  // A contract of another tool (deployment_data not qstor's).
  Result<uint64_t> DeployForeign(uint32_t node) {
    grid::Deployment d;
    d.twin_id = twin_id_;
    d.signature_requirement.requests.push_back({twin_id_, true, 1});
    d.signature_requirement.weight_required = 1;
    grid::Workload wl;
    wl.name = "foreign";
    wl.data = {64ull << 20, "user", "pw-of-another-tool", false};
    d.workloads.push_back(wl);
    auto res = Submit(grid::CreateNodeContractCall(node, grid::ChallengeHex(d),
                                                   R"({"projectName":"vm"})"));
    if (!res.ok()) return res.status();
    d.contract_id = res->created_contracts.at(0);
    grid::SignDeployment(d, twin_id_, identity_->TwinKey());
    Status st = grid_->Deploy(node, d);
    if (!st.ok()) return st;
    return d.contract_id;
  }

  Status Cancel(uint64_t contract_id) {
    return Submit(grid::CancelContractCall(contract_id)).status();
  }

  // POST /admin/nodes/{id}/{down|up|wipe}.
  Status NodeAction(uint32_t node, const std::string& action) {
    return grid_->Call("POST", fmt::format("/admin/nodes/{}/{}", node, action)).status();
  }

  grid::HttpGrid& grid() { return *grid_; }
  const grid::Identity& identity() const { return *identity_; }
  const std::string& words() const { return words_; }
  uint32_t twin_id() const { return twin_id_; }
  const std::string& dir() const { return dir_; }
  std::string base_url() const { return devnet_->base_url(); }
  std::string chain_url() const { return devnet_->chain_url(); }

 private:
  Result<grid::ExtrinsicResult> Submit(grid::Call call) {
    return grid::SignAndSubmit(*grid_, identity_->TwinKey(), {std::move(call)});
  }

  std::string dir_;
  std::unique_ptr<devnet::Devnet> devnet_;
  std::unique_ptr<grid::HttpGrid> grid_;
  std::string words_;
  std::optional<grid::Identity> identity_;
  uint32_t twin_id_ = 0;
};

}  // namespace qstor::testing
