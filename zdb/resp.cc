#include "zdb/resp.h"

#include <algorithm>
#include <charconv>

namespace qstor::zdb {
namespace {

// Finds "\r\n" starting at pos; returns npos if absent.
size_t FindCrlf(std::string_view d, size_t pos) {
  for (size_t i = pos; i + 1 < d.size(); ++i) {
    if (d[i] == '\r' && d[i + 1] == '\n') return i;
  }
  return std::string_view::npos;
}

bool ParseInt(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

// Reads a "<prefix><int>\r\n" line at pos. kNeedMore if no CRLF yet.
ParseResult ReadIntLine(std::string_view d, size_t pos, const ParseLimits& lim, int64_t* v,
                        size_t* next, std::string* error) {
  size_t e = FindCrlf(d, pos + 1);
  if (e == std::string_view::npos) {
    if (d.size() - pos > lim.max_inline) {
      *error = "Protocol error: line too long";
      return ParseResult::kError;
    }
    return ParseResult::kNeedMore;
  }
  if (!ParseInt(d.substr(pos + 1, e - pos - 1), v)) {
    *error = "Protocol error: invalid length";
    return ParseResult::kError;
  }
  *next = e + 2;
  return ParseResult::kOk;
}

ParseResult ReadBulkBody(std::string_view d, size_t pos, int64_t n, std::string* out,
                         size_t* next, std::string* error) {
  size_t need = static_cast<size_t>(n) + 2;
  if (d.size() - pos < need) return ParseResult::kNeedMore;
  if (d[pos + n] != '\r' || d[pos + n + 1] != '\n') {
    *error = "Protocol error: bulk string not terminated by CRLF";
    return ParseResult::kError;
  }
  out->assign(d.data() + pos, static_cast<size_t>(n));
  *next = pos + need;
  return ParseResult::kOk;
}

ParseResult ParseReplyAt(std::string_view d, size_t pos, const ParseLimits& lim, int depth,
                         Reply* out, size_t* next, std::string* error) {
  if (pos >= d.size()) return ParseResult::kNeedMore;
  char t = d[pos];
  switch (t) {
    case '+':
    case '-': {
      size_t e = FindCrlf(d, pos + 1);
      if (e == std::string_view::npos) {
        if (d.size() - pos > lim.max_inline) {
          *error = "Protocol error: line too long";
          return ParseResult::kError;
        }
        return ParseResult::kNeedMore;
      }
      out->type = t == '+' ? Reply::Type::kStatus : Reply::Type::kError;
      out->str.assign(d.data() + pos + 1, e - pos - 1);
      *next = e + 2;
      return ParseResult::kOk;
    }
    case ':': {
      int64_t v = 0;
      auto r = ReadIntLine(d, pos, lim, &v, next, error);
      if (r != ParseResult::kOk) return r;
      out->type = Reply::Type::kInteger;
      out->integer = v;
      return ParseResult::kOk;
    }
    case '$': {
      int64_t n = 0;
      size_t p = 0;
      auto r = ReadIntLine(d, pos, lim, &n, &p, error);
      if (r != ParseResult::kOk) return r;
      if (n == -1) {
        out->type = Reply::Type::kNil;
        *next = p;
        return ParseResult::kOk;
      }
      if (n < 0 || static_cast<uint64_t>(n) > lim.max_bulk) {
        *error = "Protocol error: invalid bulk length";
        return ParseResult::kError;
      }
      out->type = Reply::Type::kBulk;
      return ReadBulkBody(d, p, n, &out->str, next, error);
    }
    case '*': {
      int64_t n = 0;
      size_t p = 0;
      auto r = ReadIntLine(d, pos, lim, &n, &p, error);
      if (r != ParseResult::kOk) return r;
      if (n == -1) {
        out->type = Reply::Type::kNil;
        *next = p;
        return ParseResult::kOk;
      }
      if (n < 0 || static_cast<uint64_t>(n) > lim.max_elements || depth >= lim.max_depth) {
        *error = "Protocol error: invalid multibulk length";
        return ParseResult::kError;
      }
      out->type = Reply::Type::kArray;
      out->elements.clear();
      out->elements.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        r = ParseReplyAt(d, p, lim, depth + 1, &out->elements[i], &p, error);
        if (r != ParseResult::kOk) return r;
      }
      *next = p;
      return ParseResult::kOk;
    }
    default:
      *error = "Protocol error: unexpected reply type byte";
      return ParseResult::kError;
  }
}

}  // namespace

std::string Reply::Debug() const {
  switch (type) {
    case Type::kStatus: return str;
    case Type::kError: return "(error) " + str;
    case Type::kInteger: return "(integer) " + std::to_string(integer);
    case Type::kBulk: return "\"" + str + "\"";
    case Type::kNil: return "(nil)";
    case Type::kArray: {
      std::string s = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i) s += ", ";
        s += elements[i].Debug();
      }
      return s + "]";
    }
  }
  return "?";
}

ParseResult ParseRequest(std::string_view d, const ParseLimits& lim,
                         std::vector<std::string_view>* argv, size_t* consumed,
                         std::string* error) {
  if (d.empty()) return ParseResult::kNeedMore;
  argv->clear();
  if (d[0] != '*') {
    // Inline command: words separated by spaces, ended by \n (or \r\n).
    size_t e = d.find('\n');
    if (e == std::string_view::npos) {
      if (d.size() > lim.max_inline) {
        *error = "Protocol error: too big inline request";
        return ParseResult::kError;
      }
      return ParseResult::kNeedMore;
    }
    std::string_view line = d.substr(0, e);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      if (j > i) argv->emplace_back(line.substr(i, j - i));
      i = j;
    }
    *consumed = e + 1;
    return ParseResult::kOk;
  }
  int64_t n = 0;
  size_t p = 0;
  auto r = ReadIntLine(d, 0, lim, &n, &p, error);
  if (r != ParseResult::kOk) return r;
  if (n < 0 || static_cast<uint64_t>(n) > lim.max_elements) {
    *error = "Protocol error: invalid multibulk length";
    return ParseResult::kError;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (p >= d.size()) return ParseResult::kNeedMore;
    if (d[p] != '$') {
      *error = "Protocol error: expected '$'";
      return ParseResult::kError;
    }
    int64_t len = 0;
    r = ReadIntLine(d, p, lim, &len, &p, error);
    if (r != ParseResult::kOk) return r;
    if (len < 0) {
      *error = "Protocol error: invalid bulk length";
      return ParseResult::kError;
    }
    if (static_cast<uint64_t>(len) > lim.max_bulk) {
      *error = "Payload too large";
      return ParseResult::kError;
    }
    // Arguments are views: a slowly arriving request costs O(size) per
    // attempt and nothing is copied.
    size_t need = static_cast<size_t>(len) + 2;
    if (d.size() - p < need) return ParseResult::kNeedMore;
    if (d[p + len] != '\r' || d[p + len + 1] != '\n') {
      *error = "Protocol error: bulk string not terminated by CRLF";
      return ParseResult::kError;
    }
    argv->push_back(d.substr(p, static_cast<size_t>(len)));
    p += need;
  }
  *consumed = p;
  return ParseResult::kOk;
}

ParseResult ParseReply(std::string_view d, const ParseLimits& lim, Reply* out,
                       size_t* consumed, std::string* error) {
  return ParseReplyAt(d, 0, lim, 0, out, consumed, error);
}

template <class Out>
void AppendStatus(Out* out, std::string_view s) {
  out->push_back('+');
  out->append(s);
  out->append("\r\n");
}
template <class Out>
void AppendError(Out* out, std::string_view s) {
  out->push_back('-');
  out->append(s);
  out->append("\r\n");
}
template <class Out>
void AppendInteger(Out* out, int64_t v) {
  char b[24];
  auto [p, ec] = std::to_chars(b, b + sizeof(b), v);
  (void)ec;  // 24 bytes hold any int64
  out->push_back(':');
  out->append(std::string_view(b, static_cast<size_t>(p - b)));
  out->append("\r\n");
}
template <class Out>
void AppendBulk(Out* out, std::string_view s) {
  char b[24];
  auto [p, ec] = std::to_chars(b, b + sizeof(b), s.size());
  (void)ec;
  out->push_back('$');
  out->append(std::string_view(b, static_cast<size_t>(p - b)));
  out->append("\r\n");
  out->append(s);
  out->append("\r\n");
}
template <class Out>
void AppendNil(Out* out) {
  out->append("$-1\r\n");
}
template <class Out>
void AppendArrayHeader(Out* out, size_t n) {
  char b[24];
  auto [p, ec] = std::to_chars(b, b + sizeof(b), n);
  (void)ec;
  out->push_back('*');
  out->append(std::string_view(b, static_cast<size_t>(p - b)));
  out->append("\r\n");
}

#define QSTOR_RESP_ENCODERS(Out)                                  \
  template void AppendStatus<Out>(Out*, std::string_view);        \
  template void AppendError<Out>(Out*, std::string_view);         \
  template void AppendInteger<Out>(Out*, int64_t);                \
  template void AppendBulk<Out>(Out*, std::string_view);          \
  template void AppendNil<Out>(Out*);                             \
  template void AppendArrayHeader<Out>(Out*, size_t);
QSTOR_RESP_ENCODERS(std::string)
QSTOR_RESP_ENCODERS(OutBuf)
#undef QSTOR_RESP_ENCODERS

void AppendCommand(std::string* out, const std::vector<std::string>& argv) {
  AppendArrayHeader(out, argv.size());
  for (const auto& a : argv) AppendBulk(out, a);
}

}  // namespace qstor::zdb
