#include "grid/network.h"

#include <cstdlib>
#include <fstream>

namespace qstor::grid {

std::string DefaultDevnetDir() {
  if (const char* d = std::getenv("QSTOR_DEVNET_DIR"); d && *d) return d;
  if (const char* h = std::getenv("QSTOR_HOME"); h && *h) return std::string(h) + "/devnet";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return std::string(x) + "/qstor/devnet";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/qstor/devnet";
}

std::string DevnetPortFile(const std::string& devnet_dir) { return devnet_dir + "/devnet.port"; }
std::string DevnetChainPortFile(const std::string& devnet_dir) { return devnet_dir + "/chain.port"; }

NetworkEndpoint DevnetEndpoint(const std::string& base_url, const std::string& chain_url) {
  return NetworkEndpoint{"devnet", base_url, false, chain_url, base_url + "/activation/activate"};
}

Result<NetworkEndpoint> ResolveNetwork(const std::string& name, const std::string& devnet_dir) {
  if (name == "devnet") {
    std::string dir = devnet_dir.empty() ? DefaultDevnetDir() : devnet_dir;
    std::ifstream in(DevnetPortFile(dir));
    unsigned port = 0;
    if (!(in >> port) || port == 0 || port > 65535) {
      return Status::Unavailable("devnet: not running (no port file in " + dir +
                                 "); start it with `qstor devnet start`");
    }
    std::ifstream chain_in(DevnetChainPortFile(dir));
    unsigned chain_port = 0;
    if (!(chain_in >> chain_port) || chain_port == 0 || chain_port > 65535) {
      return Status::Unavailable("devnet: its chain is not running (no chain.port in " + dir +
                                 "); restart it with `qstor devnet stop && qstor devnet start`");
    }
    return DevnetEndpoint("http://127.0.0.1:" + std::to_string(port),
                          "ws://127.0.0.1:" + std::to_string(chain_port));
  }
  if (name == "main") {
    return NetworkEndpoint{"main", "https://gridproxy.grid.tf", true, "wss://tfchain.grid.tf/ws",
                           "https://activation.grid.tf/activation/activate"};
  }
  if (name == "test" || name == "qa" || name == "dev") {
    return NetworkEndpoint{name, "https://gridproxy." + name + ".grid.tf", true,
                           "wss://tfchain." + name + ".grid.tf/ws",
                           "https://activation." + name + ".grid.tf/activation/activate"};
  }
  return Status::InvalidArgument("network '" + name +
                                 "': unknown (expected devnet, main, test, qa or dev)");
}

}  // namespace qstor::grid
