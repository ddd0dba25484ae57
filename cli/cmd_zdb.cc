// qstor zdb: run a 0-db compatible server (`zdb serve`) and offline
// maintenance of its data directory (`zdb compact`).
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"

#if QSTOR_HAVE_ZDB
#include "zdb/server.h"
#include "zdb/store.h"
#endif

namespace qstor::cli {

#if QSTOR_HAVE_ZDB
namespace {

struct ServeArgs {
  std::string data;
  std::string listen = "127.0.0.1";
  int port = 9900;
  std::string admin;
  std::string sync = "always";
  uint64_t rotate = 256ull << 20;
  int idle_timeout = 300;
  int header_timeout = 10;
  size_t max_clients = 1024;
  size_t max_clients_per_peer = 64;
  double compact_ratio = 0.5;
};

// "always" -> 0 ms; "100ms" / "100" -> 100 ms.
bool ParseSync(const std::string& s, std::chrono::milliseconds* out) {
  if (s == "always") {
    *out = std::chrono::milliseconds(0);
    return true;
  }
  std::string n = s;
  if (n.size() > 2 && n.substr(n.size() - 2) == "ms") n.resize(n.size() - 2);
  if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) return false;
  long v = std::strtol(n.c_str(), nullptr, 10);
  if (v <= 0 || v > 60000) return false;
  *out = std::chrono::milliseconds(v);
  return true;
}

}  // namespace
#endif

void RegisterZdb(CLI::App& app, Context& ctx) {
#if QSTOR_HAVE_ZDB
  CLI::App* zdb = app.add_subcommand("zdb", "0-db compatible namespace store: server and tools");
  zdb->require_subcommand(1);

  auto args = std::make_shared<ServeArgs>();
  CLI::App* serve = zdb->add_subcommand(
      "serve", "Serve a data directory over the 0-db protocol (RESP2). With --port 0 a free port "
               "is picked; the first stdout line is always 'listening on HOST:PORT'.");
  serve->add_option("--data", args->data, "Data directory (one sub-directory per namespace)")
      ->required();
  serve->add_option("--listen", args->listen, "Address to listen on")->capture_default_str();
  serve->add_option("--port", args->port, "TCP port (0 = pick a free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--admin", args->admin,
                    "Admin password (or env QSTOR_ZDB_ADMIN); without one every client is admin");
  serve->add_option("--sync", args->sync,
                    "Sync policy: 'always' (fdatasync before each reply batch) or 'Nms' (every N ms)")
      ->capture_default_str();
  serve->add_option("--rotate-bytes", args->rotate, "Rotate data files at this size")
      ->capture_default_str();
  serve->add_option("--idle-timeout", args->idle_timeout,
                    "Seconds a client may stay idle or take to send one request")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve->add_option("--header-timeout", args->header_timeout,
                    "Seconds a new connection has to complete its first request")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve->add_option("--max-clients", args->max_clients,
                    "Connections at once; with --admin the last one is kept for the admin")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  serve->add_option("--max-clients-per-peer", args->max_clients_per_peer,
                    "Connections at once from one IP address (0 = no cap)")
      ->capture_default_str();
  serve->add_option("--compact-ratio", args->compact_ratio,
                    "Online compaction of files with at least this dead fraction (0 = off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  serve->callback([&ctx, args]() {
    zdb::ServerOptions o;
    o.data_dir = args->data;
    o.listen = args->listen;
    o.port = static_cast<uint16_t>(args->port);
    o.admin_password = args->admin;
    if (o.admin_password.empty()) {
      if (const char* env = std::getenv("QSTOR_ZDB_ADMIN")) o.admin_password = env;
    }
    if (!ParseSync(args->sync, &o.sync_interval)) {
      std::cerr << "qstor zdb serve: --sync must be 'always' or 'Nms' (1..60000), got '"
                << args->sync << "'\n";
      ctx.exit_code = kExitUsage;
      return;
    }
    o.rotate_bytes = args->rotate;
    o.idle_timeout = std::chrono::seconds(args->idle_timeout);
    o.header_timeout = std::chrono::seconds(args->header_timeout);
    o.max_clients = args->max_clients;
    o.max_clients_per_peer = args->max_clients_per_peer;
    o.compact_ratio = args->compact_ratio;
    o.handle_signals = true;
    auto server = zdb::Server::Create(o);
    if (!server.ok()) {
      std::cerr << "qstor zdb serve: " << server.status().ToString() << "\n";
      ctx.exit_code = kExitError;
      return;
    }
    std::printf("listening on %s:%u\n", o.listen.c_str(), unsigned((*server)->port()));
    std::fflush(stdout);
    Status st = (*server)->Run();
    if (!st.ok()) {
      std::cerr << "qstor zdb serve: shutdown: " << st.ToString() << "\n";
      ctx.exit_code = kExitError;
    }
  });

  auto cdata = std::make_shared<std::string>();
  auto cratio = std::make_shared<double>(0.0);
  CLI::App* compact = zdb->add_subcommand(
      "compact", "Offline compaction of a data directory (the server must not be running on it)");
  compact->add_option("--data", *cdata, "Data directory")->required();
  compact->add_option("--min-garbage", *cratio, "Only files with at least this dead fraction")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  compact->callback([&ctx, cdata, cratio]() {
    auto store = zdb::Store::Open(*cdata);
    if (!store.ok()) {
      std::cerr << "qstor zdb compact: " << store.status().ToString() << "\n";
      ctx.exit_code = kExitError;
      return;
    }
    for (const auto& name : (*store)->List()) {
      zdb::Namespace* ns = (*store)->Get(name);
      uint64_t before = ns->disk_bytes();
      Status st = ns->CompactAll(*cratio);
      if (!st.ok()) {
        std::cerr << "qstor zdb compact: " << st.ToString() << "\n";
        ctx.exit_code = kExitError;
        return;
      }
      std::printf("%s: %llu -> %llu bytes on disk\n", name.c_str(),
                  static_cast<unsigned long long>(before),
                  static_cast<unsigned long long>(ns->disk_bytes()));
    }
    Status st = (*store)->Close();
    if (!st.ok()) {
      std::cerr << "qstor zdb compact: " << st.ToString() << "\n";
      ctx.exit_code = kExitError;
    }
  });
#else
  AddNotBuilt(app, ctx, "zdb", "Run a 0-db compatible server (zdb serve)", "issue 3, zdb");
#endif
}

}  // namespace qstor::cli
