// zdb::AsyncClient: an asynchronous 0-db client on the caller's Boost.Asio
// io_context. One TCP connection to one backend; any number of commands in
// flight (pipelined), completed in order. zdb::Client (client.h) is the
// synchronous wrapper around it.
//
// Contract:
//  - Not thread-safe: call it only from the thread that runs the
//    io_context (or asio::post to it). Callbacks run on that thread, never
//    inside the call that queued them.
//  - Commands are queued; the connection is opened on first use. Every
//    queued command is bounded by ClientOptions::request_timeout from the
//    moment it is queued; connecting by connect_timeout.
//  - A reply timeout, an I/O error or a reply we cannot parse drops the
//    connection: every command already sent fails (kTimeout for an expired
//    deadline, else kUnavailable / kProtocol), because nobody can say which
//    of them the server executed. Commands not yet sent stay queued and go
//    out on the next connection. A failed connect fails every queued
//    command; the next command reconnects, after an exponential backoff
//    (min_backoff doubling to max_backoff; a successful connect resets it).
//  - After every (re)connect, AUTH (admin password) and SELECT (namespace,
//    password) are replayed before any queued command, so the connection is
//    in the state the caller put it in. Select/Auth are ordered with the
//    commands around them: commands queued after a Select run in the new
//    namespace, or fail if the Select fails.
//  - Errors are Status values whose message starts with
//    "zdb host:port/namespace: COMMAND: ...". Error replies from the server
//    are Reply::kError results of Command (not failed Statuses); Select and
//    Auth map them to codes like Client does. Passwords never appear in
//    messages.
//  - Close() (and destruction) fails everything queued or in flight with
//    kCancelled.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "zdb/client.h"
#include "zdb/resp.h"

namespace boost::asio {
class io_context;
}

namespace qstor::zdb {

class AsyncClient {
 public:
  using ReplyCallback = std::function<void(Result<Reply>)>;
  using StatusCallback = std::function<void(Status)>;

  AsyncClient(boost::asio::io_context& io, std::string host, uint16_t port,
              ClientOptions options = {});
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // "zdb host:port/namespace" as used in error messages.
  std::string Backend() const;

  // Opens the connection now (with AUTH/SELECT replay) instead of on the
  // first command; OK at once if it is open.
  void Connect(StatusCallback done);
  // Queues one command (argv[0] is its name).
  void Command(std::vector<std::string> argv, ReplyCallback done);
  // SELECT ns [SECURE proof]; empty password = none. Remembered for
  // reconnects once it succeeds.
  void Select(std::string ns, std::string password, StatusCallback done);
  // AUTH SECURE (plain AUTH if the server offers no challenge). Remembered.
  void Auth(std::string admin_password, StatusCallback done);
  // Commands queued or in flight.
  size_t pending() const;
  void Close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Maps an error reply of `cmd` to a Status code (denied -> kPermissionDenied,
// no space -> kResourceExhausted, not found -> kNotFound, too large / invalid
// -> kInvalidArgument, else kFailedPrecondition); message
// "<backend>: <cmd>: <reply text>".
Status ServerErrorStatus(const std::string& backend, const std::string& cmd,
                         const std::string& reply_text);

}  // namespace qstor::zdb
