// libFuzzer target: the RESP2 request and reply parsers must never crash,
// never read out of bounds, and always make progress or stop. Every bulk
// reply also goes through the NSINFO parser (seed: a real 0-db reply).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "zdb/client.h"
#include "zdb/resp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  qstor::zdb::ParseLimits lim;
  lim.max_bulk = 1 << 16;
  lim.max_elements = 1024;
  // Requests, as the server consumes them.
  std::string_view rest = in;
  while (!rest.empty()) {
    std::vector<std::string_view> argv;
    size_t used = 0;
    std::string err;
    auto r = qstor::zdb::ParseRequest(rest, lim, &argv, &used, &err);
    if (r != qstor::zdb::ParseResult::kOk) break;
    if (used == 0 || used > rest.size()) __builtin_trap();
    // Arguments are views into the consumed bytes, never past them.
    for (auto a : argv) {
      if (a.data() < rest.data() || a.data() + a.size() > rest.data() + used) __builtin_trap();
    }
    rest.remove_prefix(used);
  }
  // Replies, as the client consumes them; a parsed bulk must be the bytes on the wire.
  rest = in;
  while (!rest.empty()) {
    qstor::zdb::Reply reply;
    size_t used = 0;
    std::string err;
    auto r = qstor::zdb::ParseReply(rest, lim, &reply, &used, &err);
    if (r != qstor::zdb::ParseResult::kOk) break;
    if (used == 0 || used > rest.size()) __builtin_trap();
    if (reply.type == qstor::zdb::Reply::Type::kBulk) {
      // The payload is exactly the bytes before the final CRLF (length
      // prefixes like "$03" are tolerated, so compare the body only).
      size_t n = reply.str.size();
      if (used < n + 2 || rest.substr(used - n - 2, n) != reply.str ||
          rest.substr(used - 2, 2) != "\r\n") {
        __builtin_trap();
      }
      // NSINFO text: an error only without a name line, and a parsed name is that line's.
      auto info = qstor::zdb::NamespaceInfo::Parse(reply.str);
      if (info.ok()) {
        auto it = info->fields.find("name");
        if (it == info->fields.end() || it->second != info->name) __builtin_trap();
      } else if (info.status().code() != qstor::Status::Code::kProtocol) {
        __builtin_trap();
      }
    }
    (void)reply.Debug();
    rest.remove_prefix(used);
  }
  return 0;
}
