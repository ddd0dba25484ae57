// RESP2 (Redis serialization protocol) pieces shared by the zdb server and
// client: a reply value, incremental parsers for requests and replies with
// hard limits, and encoders.
//
// Parsers never allocate more than the limits allow: a bulk length above the
// limit, a negative or non-numeric length, too many array elements or too
// deep nesting is a kError result, never an allocation attempt.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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
// from data[0..len). On kOk fills *argv with views into `data` (valid while
// `data` is unchanged; nothing is copied) and *consumed. On kNeedMore nothing
// is consumed; the caller appends more bytes and retries (the parser is
// stateless; callers must bound the buffer themselves, which the limits make
// possible). On kError *error says what is malformed.
ParseResult ParseRequest(std::string_view data, const ParseLimits& limits,
                         std::vector<std::string_view>* argv, size_t* consumed,
                         std::string* error);

// Parses one reply (client side), same conventions.
ParseResult ParseReply(std::string_view data, const ParseLimits& limits, Reply* out,
                       size_t* consumed, std::string* error);

// An output byte buffer that, unlike std::string, can grow without
// zero-filling: the server reads GET values straight into it (Grow), so a
// 4 KiB reply costs no memset. Keeps its capacity across clear().
class OutBuf {
 public:
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  size_t capacity() const { return cap_; }
  const char* data() const { return p_.get(); }
  char* data() { return p_.get(); }
  std::string_view view() const { return {p_.get(), n_}; }
  void clear() { n_ = 0; }
  // Drops the memory too.
  void release() {
    p_.reset();
    n_ = cap_ = 0;
  }
  // Appends n uninitialized bytes and returns where they start.
  char* Grow(size_t n) {
    Reserve(n_ + n);
    char* at = p_.get() + n_;
    n_ += n;
    return at;
  }
  // Shrinks to n bytes (n <= size()).
  void Truncate(size_t n) { n_ = n < n_ ? n : n_; }
  void push_back(char c) { *Grow(1) = c; }
  void append(std::string_view s) {
    if (!s.empty()) std::memcpy(Grow(s.size()), s.data(), s.size());
  }
  void swap(OutBuf& o) noexcept {
    p_.swap(o.p_);
    std::swap(n_, o.n_);
    std::swap(cap_, o.cap_);
  }

 private:
  void Reserve(size_t want) {
    if (want <= cap_) return;
    size_t cap = cap_ ? cap_ : 4096;
    while (cap < want) cap *= 2;
    auto p = std::make_unique_for_overwrite<char[]>(cap);
    if (n_) std::memcpy(p.get(), p_.get(), n_);
    p_ = std::move(p);
    cap_ = cap;
  }
  std::unique_ptr<char[]> p_;
  size_t n_ = 0, cap_ = 0;
};

// Encoders: append to *out (a std::string or an OutBuf).
template <class Out> void AppendStatus(Out* out, std::string_view s);   // +s\r\n
template <class Out> void AppendError(Out* out, std::string_view s);    // -s\r\n
template <class Out> void AppendInteger(Out* out, int64_t v);           // :v\r\n
template <class Out> void AppendBulk(Out* out, std::string_view s);     // $n\r\ns\r\n
template <class Out> void AppendNil(Out* out);                          // $-1\r\n
template <class Out> void AppendArrayHeader(Out* out, size_t n);        // *n\r\n
void AppendCommand(std::string* out, const std::vector<std::string>& argv);

}  // namespace qstor::zdb
