// Network names -> grid endpoints.
//
//   devnet            http://127.0.0.1:<port>, the port read from the devnet
//                     data dir's "devnet.port" file (written by the running
//                     devnet); its chain ws://127.0.0.1:<chain port> from
//                     "chain.port"; full Grid API.
//   main|test|qa|dev  the public grid proxies (https://gridproxy[.<net>].grid.tf)
//                     and TFChain (wss://tfchain[.<net>].grid.tf/ws, GRID-V3
//                     §4). Node calls need RMB (not built): discovery_only.
//                     Not reachable from this build machine.
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
  bool discovery_only = false;  // node calls are not available (no RMB yet)
  std::string chain_url;    // TFChain JSON-RPC (ws:// or wss://); empty: no chain
  // The activation service that funds a new account so it can pay the fees
  // of its twin's registration (GRID-V3 §1.7): POST {"substrateAccountID"}.
  std::string activation_url;
};

// The endpoint of a devnet whose HTTP API is at base_url ("http://127.0.0.1:
// PORT") and whose chain is at chain_url ("ws://127.0.0.1:PORT").
NetworkEndpoint DevnetEndpoint(const std::string& base_url, const std::string& chain_url);

// Resolves a network name. For "devnet", reads the port file in `devnet_dir`
// (empty = DefaultDevnetDir()); kUnavailable if the devnet is not running
// (no port file, or no chain.port). kInvalidArgument for an unknown name.
Result<NetworkEndpoint> ResolveNetwork(const std::string& name,
                                       const std::string& devnet_dir = "");

}  // namespace qstor::grid
