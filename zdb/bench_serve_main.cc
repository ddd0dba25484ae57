// zdb_bench_serve: the same zdb::Server that `qstor zdb serve` runs, without
// the rest of the CLI, so a Release benchmark build compiles only zdb/.
// Usage: zdb_bench_serve DIR PORT SYNC   (SYNC: always | N for N ms)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "zdb/server.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR PORT always|MS\n", argv[0]);
    return 64;
  }
  qstor::zdb::ServerOptions o;
  o.data_dir = argv[1];
  o.port = static_cast<uint16_t>(std::atoi(argv[2]));
  std::string sync = argv[3];
  o.sync_interval = std::chrono::milliseconds(sync == "always" ? 0 : std::atoi(sync.c_str()));
  o.handle_signals = true;
  auto s = qstor::zdb::Server::Create(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", unsigned((*s)->port()));
  std::fflush(stdout);
  return (*s)->Run().ok() ? 0 : 1;
}
