// A `qstor zdb serve` child process: one per devnet node that hosts
// namespaces, on its own loopback port, with an admin password the devnet
// generated (passed through the environment, never on the command line).
//
// Contract: Start() spawns the process with stdout/stderr appended to
// <data_dir>/zdb.log and waits (up to 10 s) for its "listening on
// 127.0.0.1:PORT" line. port 0 picks a free port; a non-zero port is reused
// so namespaces keep their address across restarts. The child gets SIGTERM
// if the devnet process dies (not when the thread that called Start() ends). Stop() sends SIGTERM, waits up to 5 s, then SIGKILLs.
// Not thread-safe (the devnet calls it under its lock).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "zdb/client.h"

namespace qstor::devnet {

class ZdbProcess {
 public:
  ZdbProcess(std::string qstor_bin, std::string data_dir, std::string admin_password);
  ~ZdbProcess();  // Stop()s

  Status Start(uint16_t port);
  void Stop();
  bool Running();  // reaps the child if it exited
  uint16_t port() const { return port_; }
  // A fresh admin-authenticated client.
  Result<std::unique_ptr<zdb::Client>> AdminClient();

 private:
  std::string bin_, dir_, admin_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace qstor::devnet
