// libFuzzer target: the RESP2 request and reply parsers must never crash,
// never read out of bounds, and always make progress or stop.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "zdb/resp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  qstor::zdb::ParseLimits lim;
  lim.max_bulk = 1 << 16;
  lim.max_elements = 1024;
  // Requests, as the server consumes them.
  std::string_view rest = in;
  while (!rest.empty()) {
    std::vector<std::string> argv;
    size_t used = 0;
    std::string err;
    auto r = qstor::zdb::ParseRequest(rest, lim, &argv, &used, &err);
    if (r != qstor::zdb::ParseResult::kOk) break;
    if (used == 0 || used > rest.size()) __builtin_trap();
    rest.remove_prefix(used);
  }
  // Replies, as the client consumes them; re-encoding a parsed bulk must round-trip.
  rest = in;
  while (!rest.empty()) {
    qstor::zdb::Reply reply;
    size_t used = 0;
    std::string err;
    auto r = qstor::zdb::ParseReply(rest, lim, &reply, &used, &err);
    if (r != qstor::zdb::ParseResult::kOk) break;
    if (used == 0 || used > rest.size()) __builtin_trap();
    if (reply.type == qstor::zdb::Reply::Type::kBulk) {
      std::string enc;
      qstor::zdb::AppendBulk(&enc, reply.str);
      if (enc != rest.substr(0, used)) __builtin_trap();
    }
    (void)reply.Debug();
    rest.remove_prefix(used);
  }
  return 0;
}
