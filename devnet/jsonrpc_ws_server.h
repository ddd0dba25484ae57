// A JSON-RPC 2.0 server over WebSocket (and plain HTTP POST on the same
// port) on Boost.Beast, for the devnet's chain: what a Substrate node serves
// to polkadot.js and to qstor's grid::JsonRpcWsClient. See docs/jsonrpc.md.
//
// Contract:
//  - Listens on 127.0.0.1 only; Start() binds (port 0 = a free port, read it
//    back with port()) and serves until Stop() or the destructor, which close
//    the listener and every connection and join every thread. Stop() waits
//    for handlers that are running; handlers must return.
//  - One I/O thread owns every socket (async, one outstanding write per
//    connection, a bounded write queue); handlers run on a small pool of
//    worker threads, so requests pipelined on one connection run
//    concurrently and their replies may come back in any order (JSON-RPC
//    allows it), and a slow handler never stalls other requests.
//  - Handlers are registered by method name (thread-safe, also while
//    serving). A handler gets the params (always an array or object) and the
//    connection, and returns a result or a JsonRpcError. An exception escaping
//    a handler becomes -32603. Malformed JSON -> -32700, not a request ->
//    -32600, unknown method -> -32601, params neither array nor object ->
//    -32602. Batches (arrays) are answered as arrays. Text and binary frames
//    are both read as JSON; replies are text frames.
//  - Frames and HTTP bodies over max_message_bytes close the connection
//    (WebSocket close code 1009 / HTTP 413).
//  - Server push: JsonRpcConnection::Notify() queues a subscription
//    notification {"jsonrpc":"2.0","method":M,"params":{"subscription":S,
//    "result":R}} from any thread. A connection whose write queue grows over
//    max_write_queue_bytes (a client that does not read) is closed. OnClose
//    callbacks run once when a connection ends (drop its subscriptions there).
//    HTTP POST connections cannot be pushed to (supports_push() is false).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::devnet {

struct JsonRpcError {
  int code = -32603;
  std::string message;
  nlohmann::json data = nullptr;  // omitted when null

  static JsonRpcError InvalidParams(std::string m) { return {-32602, std::move(m)}; }
  static JsonRpcError Internal(std::string m) { return {-32603, std::move(m)}; }
};

// A handler's answer: a result, or an error.
using JsonRpcResult = std::variant<nlohmann::json, JsonRpcError>;

class JsonRpcConnection {
 public:
  virtual ~JsonRpcConnection() = default;
  virtual uint64_t id() const = 0;  // unique per server
  virtual bool supports_push() const = 0;
  virtual bool open() const = 0;
  // Queues a notification; false when the connection is closed or cannot be
  // pushed to.
  virtual bool Notify(const std::string& method, const nlohmann::json& subscription,
                      const nlohmann::json& result) = 0;
  // fn runs once when the connection ends (at once if it already has).
  virtual void OnClose(std::function<void()> fn) = 0;
};
using JsonRpcConnectionPtr = std::shared_ptr<JsonRpcConnection>;

using JsonRpcHandler =
    std::function<JsonRpcResult(const nlohmann::json& params, const JsonRpcConnectionPtr& conn)>;

// Method table and the request side of the protocol, without sockets (the
// server uses it; so do the fuzz target and tests).
class JsonRpcDispatcher {
 public:
  JsonRpcDispatcher();
  ~JsonRpcDispatcher();
  void Register(const std::string& method, JsonRpcHandler handler);
  // The reply text for one received frame or HTTP body (a single request or
  // a batch); empty when nothing is to be sent (notifications only).
  std::string Dispatch(std::string_view text, const JsonRpcConnectionPtr& conn) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct JsonRpcWsServerOptions {
  uint16_t port = 0;
  size_t max_message_bytes = 16u << 20;     // per received frame / HTTP body
  size_t max_write_queue_bytes = 64u << 20;  // per connection
  size_t max_connections = 512;
  size_t max_batch = 1024;
  size_t handler_threads = 4;
  size_t max_inflight_per_connection = 256;  // more pipelined requests wait unread
};

class JsonRpcWsServer {
 public:
  static Result<std::unique_ptr<JsonRpcWsServer>> Start(JsonRpcWsServerOptions options);
  ~JsonRpcWsServer();  // Stop()s
  uint16_t port() const;
  std::string url() const;  // "ws://127.0.0.1:PORT"
  void Register(const std::string& method, JsonRpcHandler handler);
  void Stop();
  size_t connections() const;  // open now

  struct Impl;  // the connections in the .cc use it

 private:
  explicit JsonRpcWsServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace qstor::devnet
