// A small HTTP/1.1 server on Boost.Beast for the devnet: one thread per
// connection (keep-alive), bounded body size, JSON error replies.
//
// Contract:
//  - Listens on 127.0.0.1 only. Start() binds (port 0 = a free port, read it
//    back with port()) and returns; connections are served on background
//    threads until Stop(), which closes the listener and every open
//    connection and joins all threads.
//  - The handler is called concurrently from many threads; it must be
//    thread-safe. An exception escaping it becomes a 500 JSON error.
//  - Requests with a body over max_body_bytes get 413, malformed HTTP gets
//    400, both as JSON {"error": "..."}; the connection is then closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace qstor::devnet {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw target "/nodes?size=5"
  std::string path;     // decoded path "/nodes"
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string> headers;     // lower-case names
  std::string body;

  // First value of a query parameter, if any.
  const std::string* Query(const std::string& name) const;
  const std::string* Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  uint16_t port = 0;
  size_t max_body_bytes = 1 << 20;
  size_t max_connections = 512;
  int idle_timeout_seconds = 60;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Stop()s
  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Percent-decoding ('+' as space in queries); invalid escapes kept verbatim.
std::string UrlDecode(std::string_view s, bool plus_is_space);
std::string UrlEncode(std::string_view s);

// {"error": message} with the status.
HttpResponse JsonError(int status, const std::string& message);

}  // namespace qstor::devnet
