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

Result<NetworkEndpoint> ResolveNetwork(const std::string& name, const std::string& devnet_dir) {
  if (name == "devnet") {
    std::string dir = devnet_dir.empty() ? DefaultDevnetDir() : devnet_dir;
    std::ifstream in(DevnetPortFile(dir));
    unsigned port = 0;
    if (!(in >> port) || port == 0 || port > 65535) {
      return Status::Unavailable("devnet: not running (no port file in " + dir +
                                 "); start it with `qstor devnet start`");
    }
    return NetworkEndpoint{"devnet", "http://127.0.0.1:" + std::to_string(port), false};
  }
  if (name == "main") return NetworkEndpoint{"main", "https://gridproxy.grid.tf", true};
  if (name == "test" || name == "qa" || name == "dev") {
    return NetworkEndpoint{name, "https://gridproxy." + name + ".grid.tf", true};
  }
  return Status::InvalidArgument("network '" + name +
                                 "': unknown (expected devnet, main, test, qa or dev)");
}

}  // namespace qstor::grid
