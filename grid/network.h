// Network names -> grid endpoints.
//
//   devnet            http://127.0.0.1:<port>, the port read from the devnet
//                     data dir's "devnet.port" file (written by the running
//                     devnet); full Grid API.
//   main|test|qa|dev  the public grid proxies (https://gridproxy[.<net>].grid.tf).
//                     Discovery only (chain and node calls need TFChain and
//                     RMB, not built); not reachable from this build machine.
#pragma once

#include <string>

#include "common/status.h"

namespace qstor::grid {

// The devnet data directory: $QSTOR_DEVNET_DIR if set, else
// $QSTOR_HOME/devnet if QSTOR_HOME is set, else
// $XDG_DATA_HOME/qstor/devnet, else ~/.local/share/qstor/devnet.
std::string DefaultDevnetDir();

// The file in a devnet data dir holding the HTTP port of the running devnet.
std::string DevnetPortFile(const std::string& devnet_dir);
// <devnet_dir>/chain.port: the port of the devnet's TFChain JSON-RPC (WebSocket).
std::string DevnetChainPortFile(const std::string& devnet_dir);

struct NetworkEndpoint {
  std::string name;
  std::string base_url;     // no trailing slash
  bool discovery_only = false;
};

// Resolves a network name. For "devnet", reads the port file in `devnet_dir`
// (empty = DefaultDevnetDir()); kUnavailable if the devnet is not running
// (no port file). kInvalidArgument for an unknown name.
Result<NetworkEndpoint> ResolveNetwork(const std::string& name,
                                       const std::string& devnet_dir = "");

}  // namespace qstor::grid
