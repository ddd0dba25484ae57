// zdb::Server: a 0-db compatible RESP2 server over a zdb::Store.
//
// One thread runs everything (Boost.Asio io_context): many concurrent
// clients, pipelined requests (all complete requests in a read are executed,
// then, with SyncPolicy always, the touched files are fdatasync'ed once and
// only then are the replies sent: group commit), bounded memory per client
// (one request of at most 8 MiB payload plus bounded replies), an idle
// timeout that also cuts slow-loris clients (a request must complete within
// it), and a graceful stop (STOP, SIGTERM/SIGINT, or Stop()) that flushes
// and closes every file and writes the index snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace qstor::zdb {

struct ServerOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1";
  uint16_t port = 9900;             // 0 = pick a free port (see Server::port())
  std::string admin_password;       // empty: every client is admin (like 0-db)
  // Sync policy: 0 = fdatasync before acknowledging every write batch;
  // N > 0 = fdatasync dirty files every N ms.
  std::chrono::milliseconds sync_interval{0};
  uint64_t rotate_bytes = 256ull << 20;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(300)};
  // A connection must complete its first request within this time (then
  // idle_timeout applies): half-open and silent connections cannot hold a
  // slot for the idle timeout.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // At most this many connections at once. With an admin password, the last
  // slot is reserved for the admin: a connection admitted into it may only
  // AUTH (plain or SECURE); any other command before a successful AUTH gets
  // `-Too many clients` and a close. Beyond max_clients: `-Too many
  // clients` and a close right after accept.
  size_t max_clients = 1024;
  // At most this many connections from one peer IP address (0 = no cap);
  // more get `-Too many clients from this address` and a close.
  size_t max_clients_per_peer = 64;
  // Online compaction: sealed files with at least this fraction of dead
  // bytes are compacted in small steps between requests. 0 disables.
  double compact_ratio = 0.5;
  bool handle_signals = false;      // stop on SIGTERM / SIGINT
};

class Server {
 public:
  // Opens the store and binds the listening socket (so port() is known
  // before Run()). kIOError / kUnavailable on failure.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();
  uint16_t port() const;
  // Serves until Stop(), STOP from an admin, or a signal (if enabled).
  // Returns the status of the final flush/close.
  Status Run();
  // Thread-safe; Run() returns soon after.
  void Stop();

 private:
  friend struct Session;
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qstor::zdb
