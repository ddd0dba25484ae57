// RESP2 (Redis serialization protocol) pieces shared by the zdb server and
// client: a reply value, incremental parsers for requests and replies with
// hard limits, and encoders.
//
// Parsers never allocate more than the limits allow: a bulk length above the
// limit, a negative or non-numeric length, too many array elements or too
// deep nesting is a kError result, never an allocation attempt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qstor::zdb {

struct Reply {
  enum class Type { kStatus, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string str;         // kStatus, kError, kBulk
  int64_t integer = 0;     // kInteger
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  // Human/debug form, e.g. `"key"`, `(nil)`, `(error) X`, `[1, "a"]`.
  std::string Debug() const;
};

enum class ParseResult { kOk, kNeedMore, kError };

struct ParseLimits {
  size_t max_bulk = (8u << 20) + 4096;  // a little above the 8 MiB payload limit
  size_t max_elements = 4096;
  size_t max_inline = 64 * 1024;       // longest line (header or inline command)
  int max_depth = 4;
};

// Parses one request (an array of bulk strings, or an inline command line)
// from data[0..len). On kOk fills *argv and *consumed. On kNeedMore nothing
// is consumed; the caller appends more bytes and retries (the parser is
// stateless; callers must bound the buffer themselves, which the limits make
// possible). On kError *error says what is malformed.
ParseResult ParseRequest(std::string_view data, const ParseLimits& limits,
                         std::vector<std::string>* argv, size_t* consumed,
                         std::string* error);

// Parses one reply (client side), same conventions.
ParseResult ParseReply(std::string_view data, const ParseLimits& limits, Reply* out,
                       size_t* consumed, std::string* error);

// Encoders: append to *out.
void AppendStatus(std::string* out, std::string_view s);   // +s\r\n
void AppendError(std::string* out, std::string_view s);    // -s\r\n
void AppendInteger(std::string* out, int64_t v);           // :v\r\n
void AppendBulk(std::string* out, std::string_view s);     // $n\r\ns\r\n
void AppendNil(std::string* out);                          // $-1\r\n
void AppendArrayHeader(std::string* out, size_t n);        // *n\r\n
void AppendCommand(std::string* out, const std::vector<std::string>& argv);

}  // namespace qstor::zdb
