// The devnet's directory of farms and nodes, generated from a seed.
//
// Contract: Generate(seed, n) is deterministic: the same (seed, n) always
// gives the same farms and nodes (ids, places, capacities). Nodes are spread
// round-robin over countries first (so the default 12 nodes cover 6
// countries, two cities each where the table has them), then over cities;
// farms group about 4 nodes of one country. Capacities: HRU 2..16 TB,
// SRU 0.5..2 TB; about one node in four is Certified.
#pragma once

#include <cstdint>
#include <vector>

#include "grid/types.h"

namespace qstor::devnet {

struct Topology {
  std::vector<grid::Farm> farms;
  std::vector<grid::Node> nodes;  // node i has node_id i+1
};

// Default directory size: 12 nodes in 6 countries.
inline constexpr uint32_t kDefaultNodes = 12;

Topology GenerateTopology(uint64_t seed, uint32_t node_count, int64_t now_unix);

}  // namespace qstor::devnet
