// A minimal blocking HTTP client (libcurl) for JSON APIs: one request at a
// time per HttpClient. Used by HttpGrid and by the devnet's phone-app
// emulation (callbacks).
//
// Contract: Send() returns the response (any status code) or kUnavailable
// (cannot connect) / kTimeout (no answer within the timeout) / kIOError.
// Bodies are capped at 64 MiB. Not thread-safe; make one per thread.
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

 private:
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
};

}  // namespace qstor::grid
