// Observing the grid: rebuilding a state from the twin's contracts, and the
// storage layout (backends with passwords and keys) the mount needs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "grid/grid.h"
#include "grid/identity.h"
#include "reconciler/state.h"

namespace qstor::reconciler {

// Every live contract of the twin (Created or GracePeriod), all pages.
Result<std::vector<grid::Contract>> TwinLiveContracts(grid::Grid& grid, uint32_t twin_id);

// Every qstor manifest name the twin has live contracts for on this grid
// (contracts in Created or GracePeriod whose deployment_data is qstor's and
// names `network`), sorted.
Result<std::vector<std::string>> ManifestNamesOnGrid(grid::Grid& grid, uint32_t twin_id,
                                                     const std::string& network);

// Rebuilds the state of manifest `name` from the grid: the twin's live
// contracts whose deployment_data names it, each one's node (farm, country,
// city) and deployment (workload, size, mode, and the 0-db address the node
// reports). kNotFound when the grid has no contract of that name. The
// lineage is new; serial 0 (SaveState makes it 1).
Result<State> RebuildStateFromGrid(grid::Grid& grid, uint32_t twin_id, const std::string& name,
                                   const std::string& network);

// One 0-db namespace as the storage engine sees it. `password` is secret.
struct BackendSpec {
  std::string name;      // stable id: "<role><index>@node<id>", e.g. "data2@node7"
  std::string host;
  uint16_t port = 0;
  std::string ns;
  std::string password;
  std::map<std::string, std::string> labels;  // farm, country, node
};

struct StorageLayout {
  int k = 0;
  int m = 0;
  uint64_t capacity_bytes = 0;
  std::vector<BackendSpec> data;
  std::vector<BackendSpec> meta;
};

// The backends of a state, with passwords derived from the identity. Only
// namespaces that are deployed (address known) are included; fails with
// kFailedPrecondition when fewer than k data or no metadata namespace is
// deployed (apply has not finished).
Result<StorageLayout> LayoutFromState(const State& state, const grid::Identity& identity);

}  // namespace qstor::reconciler
