// A minimal blocking HTTP client (libcurl) for JSON APIs: one request at a
// time per HttpClient. Used by HttpGrid and by the devnet's phone-app
// emulation (callbacks).
//
// Contract: Send() returns the response (any status code) or kUnavailable
// (cannot connect) / kTimeout (no answer within the timeout) / kIOError.
// Bodies are capped (64 MiB unless set_max_body_bytes): a longer one fails
// with kResourceExhausted. Redirects are not followed unless
// set_follow_redirects. Not thread-safe; make one per thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace qstor::grid {

struct HttpResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

class HttpClient {
 public:
  explicit HttpClient(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResult> Send(const std::string& method, const std::string& url,
                          const std::string& body = "",
                          const std::map<std::string, std::string>& headers = {});

  // Bodies longer than this fail the request (kResourceExhausted).
  void set_max_body_bytes(size_t max) { max_body_ = max; }
  // Follow at most `max` redirects (http and https only); 0, the default,
  // returns a 3xx as it is.
  void set_follow_redirects(long max) { max_redirects_ = max; }

 private:
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
  size_t max_body_ = 64u << 20;
  long max_redirects_ = 0;
};

}  // namespace qstor::grid
