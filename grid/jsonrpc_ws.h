// JSON-RPC 2.0 over WebSocket (ws:// and wss://): the transport qstor uses
// to talk to a Substrate node (TFChain) and to the devnet's chain. Nothing
// here knows SCALE; params and results are JSON. See docs/jsonrpc.md.
//
// Contract:
//  - One JsonRpcWsClient owns one connection and one I/O thread. Any number
//    of threads may call Call()/Subscribe()/Unsubscribe() at once; requests
//    are pipelined on the one connection and replies matched by id.
//    JsonRpcWsClient::Shared() hands every caller of a process the same
//    client for a URL.
//  - The client connects lazily (first call) or with Connect(). Every step
//    has a deadline: resolve + TCP connect + TLS + WebSocket handshake within
//    connect_timeout, each request within its call timeout (kTimeout; the
//    connection stays usable and a late reply is dropped).
//  - When the connection drops, every call waiting for a reply fails at once
//    with kUnavailable ("connection lost"), every subscription gets a last
//    kClosed event (its server-side subscription is gone: re-query state),
//    and the client reconnects in the background with capped exponential
//    backoff with jitter. A call made while disconnected asks for an attempt
//    now (at most one per backoff_initial) and waits for it; if the attempt
//    fails, the call fails with kUnavailable and the attempt's error.
//  - A JSON-RPC error reply becomes a Status: "<method>: RPC error <code>:
//    <message>[: <data>]"; -32700/-32600 -> kProtocol, -32601 ->
//    kNotImplemented, -32602 -> kInvalidArgument, -32603 -> kInternal, any
//    other code (1010 "Invalid Transaction", ...) -> kFailedPrecondition.
//  - Frames over max_message_bytes (either way), frames that are not JSON-RPC
//    and nesting deeper than kMaxJsonDepth drop the connection with
//    kProtocol for the calls waiting; replies with unknown ids (late replies
//    of timed-out calls) are counted and dropped. Nothing is thrown across
//    this header.
//  - Subscription callbacks run on the client's I/O thread, one at a time and
//    in arrival order; they may run before Subscribe() returns. They must not
//    block and must not call Call()/Subscribe() (that fails with
//    kFailedPrecondition instead of deadlocking); Unsubscribe() from a
//    callback is fine. After Unsubscribe() returns, the callback is not
//    called again. Notifications that arrive before the subscribe reply names
//    their subscription id are kept (bounded) and delivered first.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::grid {

inline constexpr int kMaxJsonDepth = 128;

struct JsonRpcWsOptions {
  std::string url;  // ws://host[:port][/path] or wss://...
  std::chrono::milliseconds connect_timeout{10000};  // resolve + TCP + TLS + WS handshake
  std::chrono::milliseconds call_timeout{30000};     // default per request
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{10000};
  // Keep-alive: a ping after idle_timeout/2 of silence; no frame at all for
  // idle_timeout drops the connection (0 = never).
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_message_bytes = 32u << 20;  // state_getMetadata is ~170 KB of hex today
  size_t max_pending_calls = 4096;       // calls in flight; more -> kResourceExhausted
  size_t max_early_notifications = 256;  // kept before their subscribe reply
  // wss: the system CA store (set_default_verify_paths) and, if set, this
  // PEM file too; the server name is checked against the certificate
  // (host_name_verification) and sent as SNI unless it is an IP address.
  bool use_system_ca = true;
  std::string ca_file;
};

struct SubscriptionEvent {
  enum class Kind { kNotification, kClosed };
  Kind kind = Kind::kNotification;
  nlohmann::json result;  // kNotification: params.result of the notification
  Status status;          // kClosed: why (connection lost, client shut down)
};
using SubscriptionCallback = std::function<void(const SubscriptionEvent&)>;

struct Subscription {
  uint64_t handle = 0;     // the client's own id for Unsubscribe()
  nlohmann::json id;       // the server's subscription id
};

struct JsonRpcWsStats {
  uint64_t connects = 0;           // successful opens
  uint64_t failed_connects = 0;
  uint64_t unknown_replies = 0;    // replies whose id no call waits for
  uint64_t dropped_notifications = 0;
};

class JsonRpcWsClient {
 public:
  // Checks the URL and options; does not connect.
  static Result<std::shared_ptr<JsonRpcWsClient>> Create(JsonRpcWsOptions options);
  // The process-wide client for options.url (and ca_file): made on first use,
  // shared while anyone holds it. Later callers' other options are ignored.
  static Result<std::shared_ptr<JsonRpcWsClient>> Shared(const JsonRpcWsOptions& options);

  ~JsonRpcWsClient();  // Shutdown()s
  JsonRpcWsClient(const JsonRpcWsClient&) = delete;
  JsonRpcWsClient& operator=(const JsonRpcWsClient&) = delete;

  // Connects now if not connected; kUnavailable with the reason on failure.
  Status Connect();
  bool connected() const;

  // params: an array or object (null = []). timeout: 0 = options.call_timeout.
  Result<nlohmann::json> Call(const std::string& method, nlohmann::json params = nullptr,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // Sends `method` and, on its reply (the subscription id), routes every
  // `notification_method` notification with that id to callback until
  // Unsubscribe() or a terminal kClosed event.
  Result<Subscription> Subscribe(const std::string& method, nlohmann::json params,
                                 const std::string& notification_method,
                                 const std::string& unsubscribe_method,
                                 SubscriptionCallback callback,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Stops the callback and sends unsubscribe_method([id]); the server's
  // answer is not awaited from inside a callback. NotFound if already ended.
  Status Unsubscribe(const Subscription& subscription);

  // Fails waiting calls with kCancelled, ends subscriptions, closes the
  // socket and joins the I/O thread. Idempotent. Must not be called from a
  // subscription callback.
  void Shutdown();

  JsonRpcWsStats stats() const;
  const std::string& url() const;

  struct Impl;

 private:
  explicit JsonRpcWsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Pieces exposed for tests, the fuzz target and the devnet's server ----

struct WsUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;  // "/" when absent
};
Result<WsUrl> ParseWsUrl(std::string_view url);

// One frame received by a client, classified.
struct JsonRpcIncoming {
  enum class Kind { kReply, kNotification, kInvalid };
  Kind kind = Kind::kInvalid;
  // kReply
  uint64_t id = 0;
  bool is_error = false;
  nlohmann::json result;  // result, or the error object's data
  int64_t error_code = 0;
  std::string error_message;
  // kNotification: {"method": m, "params": {"subscription": s, "result": r}}
  std::string method;
  nlohmann::json subscription;
  // kInvalid: why
  std::string error;
};
JsonRpcIncoming ParseJsonRpcIncoming(std::string_view frame);

// Parses untrusted JSON text: refuses nesting deeper than max_depth before
// parsing (nlohmann's parser would recurse), never throws.
Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth = kMaxJsonDepth);
// dump() that never throws (invalid UTF-8 is replaced).
std::string DumpJson(const nlohmann::json& j);

// The Status of an error reply to `method` (see the contract above).
Status JsonRpcErrorStatus(const std::string& method, int64_t code, const std::string& message,
                          const nlohmann::json& data);

// The delay before reconnect attempt `attempt` (0-based): a uniformly random
// point in [d/2, d] where d = min(max, initial * 2^attempt). rand01 in [0,1).
std::chrono::milliseconds BackoffDelay(unsigned attempt, std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max, double rand01);

}  // namespace qstor::grid
