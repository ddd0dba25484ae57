// zdb::Client: a synchronous client for 0-db servers (real 0-db on grid nodes
// and `qstor zdb serve`). RESP2 over TCP: a small wrapper that runs a
// zdb::AsyncClient (async_client.h, Boost.Asio) on a private io_context until
// each call completes, so both share one implementation of pipelining,
// timeouts, reconnects and the AUTH/SELECT replay.
//
// Contract:
//  - A Client owns one TCP connection to one backend. It is NOT thread-safe:
//    use one Client per thread, or a ClientPool (below), which hands out
//    Clients one at a time.
//  - Every call is bounded by ClientOptions::request_timeout; Connect by
//    ClientOptions::connect_timeout. A timeout or I/O error closes the
//    connection; the next call reconnects (with exponential backoff between
//    failed attempts, up to max_backoff) and replays AUTH and SELECT so the
//    connection is back in the state the caller put it in.
//  - Errors are Status values whose message starts with the backend
//    "host:port/namespace" and says what went wrong, e.g.
//    "zdb 10.0.0.2:9900/ns1: SET: No space left on this namespace".
//    Codes: kUnavailable (connect/IO failure), kTimeout, kPermissionDenied
//    (server refused access), kResourceExhausted (maxsize reached),
//    kNotFound, kProtocol (reply we do not understand), kInvalidArgument
//    (refused by us before sending: key > 255 bytes, payload > 8 MiB).
//  - Keys and values are raw bytes in std::string. Passwords are never logged
//    and never appear in Status messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "zdb/resp.h"

namespace qstor::zdb {

// Protocol limits shared with the server.
inline constexpr size_t kMaxKeySize = 255;
inline constexpr size_t kMaxPayloadSize = 8u << 20;  // 8 MiB
inline constexpr size_t kMaxNamespaceName = 128;
inline constexpr size_t kMaxMgetKeys = 1023;

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  // Reconnect backoff after failures: starts at min_backoff, doubles up to
  // max_backoff. A successful request resets it.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  // Admin password: if set, AUTH (SECURE when the server offers it) is sent
  // after every (re)connect, before SELECT.
  std::string admin_password;
};

enum class NsMode { kUser, kSeq };

// Parsed NSINFO reply, as 0-db and qstor's server write it. Numbers may be
// decimal or 0x-prefixed hex; fields the server did not send, or sent in a
// form that is not a number, keep their defaults (never an error); every
// "key: value" line is also kept verbatim in `fields`.
struct NamespaceInfo {
  std::string name;
  uint64_t entries = 0;
  bool is_public = true;
  bool password = false;   // a password is set
  bool worm = false;
  bool locked = false;
  uint64_t data_size_bytes = 0;   // live payload bytes
  uint64_t data_limits_bytes = 0; // maxsize, 0 = unlimited
  uint64_t index_size_bytes = 0;
  uint64_t next_internal_id = 0;  // next sequential id (0-db prints it byte-swapped, in hex)
  NsMode mode = NsMode::kUser;
  std::optional<uint64_t> space_available;  // only when maxsize > 0
  std::map<std::string, std::string> fields;  // "key: value" lines

  // Parses the text of an NSINFO reply ("# namespace\nname: x\n...").
  // Protocol error only when there is no "name: " line.
  static Result<NamespaceInfo> Parse(const std::string& text);
};

struct ScanEntry {
  std::string key;
  uint64_t size = 0;       // payload bytes
  uint64_t timestamp = 0;  // unix seconds of the write
};

// One SCAN/RSCAN page. `done` is true when the server answered
// "-No more data" (then `entries` is empty and next_cursor is unset).
struct ScanPage {
  bool done = false;
  std::string next_cursor;  // opaque; pass back to Scan/RScan
  std::vector<ScanEntry> entries;
};

class Client {
 public:
  // Connects to host:port (no namespace selected: "default"). Fails with
  // kUnavailable or kTimeout. With options.admin_password set, also AUTHs.
  static Result<std::unique_ptr<Client>> Connect(const std::string& host, uint16_t port,
                                                 ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // "host:port/namespace" as used in error messages.
  std::string Backend() const;

  Status Ping();
  // Admin authentication. Uses "AUTH SECURE" (sha1 challenge) so the password
  // never crosses the wire; falls back to plain AUTH if the server does not
  // offer a challenge. Remembered for reconnects.
  Status Auth(const std::string& admin_password);
  // SELECT ns [SECURE proof]; empty password = none. Remembered for reconnects.
  Status Select(const std::string& ns, const std::string& password = "");

  // SET: returns the key the server stored under (in seq mode pass an empty
  // key and get the 8-byte little-endian id back); std::nullopt when the
  // value was byte-identical to the stored one and nothing was written.
  Result<std::optional<std::string>> Set(const std::string& key, const std::string& value);
  // GET: std::nullopt when the key does not exist.
  Result<std::optional<std::string>> Get(const std::string& key);
  // MGET (<= 1023 keys): one optional per key, in order.
  Result<std::vector<std::optional<std::string>>> MGet(const std::vector<std::string>& keys);
  // DEL: kNotFound if the key does not exist.
  Status Del(const std::string& key);
  Result<bool> Exists(const std::string& key);
  // CHECK: true if the stored entry passes its CRC; kNotFound if absent.
  Result<bool> Check(const std::string& key);
  // LENGTH: payload size; std::nullopt when absent.
  Result<std::optional<uint64_t>> Length(const std::string& key);
  Result<uint64_t> KeyTime(const std::string& key);
  Result<std::string> KeyCur(const std::string& key);
  // SCAN / RSCAN from the start (no cursor) or after `cursor`.
  Result<ScanPage> Scan(const std::optional<std::string>& cursor = std::nullopt);
  Result<ScanPage> RScan(const std::optional<std::string>& cursor = std::nullopt);
  Result<uint64_t> DbSize();
  Result<uint64_t> Time();  // server time, unix seconds

  // Namespaces. NsNew/NsDel/NsSet need admin (Auth) on the server.
  Status NsNew(const std::string& ns);
  Status NsDel(const std::string& ns);
  // NSSET ns prop value: prop is one of maxsize (bytes), password ("*"
  // clears), public (0/1), worm (0/1), lock (0/1), mode (user|seq).
  Status NsSet(const std::string& ns, const std::string& prop, const std::string& value);
  Result<NamespaceInfo> NsInfo(const std::string& ns);
  Result<std::vector<std::string>> NsList();
  // FLUSH the selected namespace (private, password-protected only).
  Status Flush();

  // Raw command: sends argv, returns the reply (error replies are returned as
  // Reply::kError, not as a failed Status; Status fails only on I/O/protocol).
  Result<Reply> Command(const std::vector<std::string>& argv);
  // Pipelining: sends all commands in one write, reads all replies.
  Result<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A small pool of Clients to one backend (same namespace/password). Acquire
// returns a connected Client (reusing an idle one when possible); give it back
// with Release. Thread-safe. At most `max_idle` idle clients are kept.
class ClientPool {
 public:
  ClientPool(std::string host, uint16_t port, std::string ns, std::string ns_password,
             ClientOptions options = {}, size_t max_idle = 8);
  ~ClientPool();
  Result<std::unique_ptr<Client>> Acquire();
  void Release(std::unique_ptr<Client> client);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qstor::zdb
