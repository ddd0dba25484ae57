#include "zdb/client.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>

#include <boost/asio.hpp>

#include "zdb/async_client.h"

namespace qstor::zdb {

namespace asio = boost::asio;

namespace {

bool ParseU64(std::string_view s, uint64_t* v, int base = 10) {
  if (s.empty()) return false;
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  *v = out;
  return true;
}

// An NSINFO number as 0-db prints it: decimal ("%lu") or hex with a 0x
// prefix ("0x%08x"). Signs, blanks and anything else are not numbers.
bool ParseNsInfoNumber(std::string_view s, uint64_t* v, bool* hex) {
  *hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (*hex) s.remove_prefix(2);
  if (s.empty() || !std::isxdigit(static_cast<unsigned char>(s[0]))) return false;
  return ParseU64(s, v, *hex ? 16 : 10);
}

}  // namespace

Result<NamespaceInfo> NamespaceInfo::Parse(const std::string& text) {
  NamespaceInfo info;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(pos, e - pos);
    pos = e + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t c = line.find(": ");
    if (c == std::string::npos) continue;
    info.fields[line.substr(0, c)] = line.substr(c + 2);
  }
  if (!info.fields.count("name")) {
    return Status::Protocol("NSINFO reply has no 'name' line");
  }
  auto yes = [&](const char* k) {
    auto it = info.fields.find(k);
    return it != info.fields.end() && (it->second == "yes" || it->second == "1");
  };
  // A numeric field that is missing or not a number keeps its default: one
  // odd line (a newer server, a format we do not know) must not cost the
  // caller the whole reply. The text stays in `fields`.
  auto num = [&](const char* k, uint64_t* out, bool* hex = nullptr) {
    auto it = info.fields.find(k);
    if (it == info.fields.end()) return false;
    bool h = false;
    uint64_t v = 0;
    if (!ParseNsInfoNumber(it->second, &v, &h)) return false;
    *out = v;
    if (hex) *hex = h;
    return true;
  };
  info.name = info.fields["name"];
  info.is_public = yes("public");
  info.password = yes("password");
  info.worm = yes("worm");
  info.locked = yes("locked");
  num("entries", &info.entries);
  num("data_size_bytes", &info.data_size_bytes);
  num("data_limits_bytes", &info.data_limits_bytes);
  num("index_size_bytes", &info.index_size_bytes);
  // 0-db prints the next id byte-swapped, in hex: "0x%08x" of bswap_32(id)
  // (2.0 sources) or "0x%08" PRIx64 of bswap_64(id) (v2.0.7 on the grid), so
  // the digits are the little-endian key's bytes in order. A value above 32
  // bits can only be the 64-bit form; below, it is read as the 32-bit form
  // (the 64-bit form of an id that is a multiple of 2^32 reads wrong, and
  // 0 reads as 0 in both). Decimal is the id itself.
  uint64_t next = 0;
  bool next_hex = false;
  if (num("next_internal_id", &next, &next_hex)) {
    if (!next_hex) {
      info.next_internal_id = next;
    } else if (next > 0xffffffffu) {
      info.next_internal_id = __builtin_bswap64(next);
    } else {
      info.next_internal_id = __builtin_bswap32(static_cast<uint32_t>(next));
    }
  }
  uint64_t avail = 0;
  if (num("space_available", &avail)) {
    // 0-db computes maxsize - datasize unsigned: below a lowered maxsize it
    // wraps to ~2^64. Nothing above the limit can be available; that is 0.
    if (info.data_limits_bytes > 0 && avail > info.data_limits_bytes) avail = 0;
    info.space_available = avail;
  }
  auto m = info.fields.find("mode");
  if (m != info.fields.end()) {
    info.mode = (m->second == "sequential" || m->second == "seq") ? NsMode::kSeq : NsMode::kUser;
  }
  return info;
}

// The synchronous wrapper: a private io_context runs the AsyncClient until
// the one operation the caller waits for has completed. Timeouts, reconnects,
// backoff and the AUTH/SELECT replay all live in AsyncClient.
struct Client::Impl {
  asio::io_context io;
  std::unique_ptr<AsyncClient> ac;

  ~Impl() {
    if (ac) {
      ac->Close();
      ac.reset();
      io.restart();
      io.poll();  // completes the cancelled handlers while `io` is alive
    }
  }

  std::string Backend() const { return ac->Backend(); }
  Status Fail(Status::Code code, const std::string& what) const {
    return Status(code, Backend() + ": " + what);
  }

  // Handles what arrived while the client sat idle (typically the server
  // closing the connection after its idle timeout), so the next command
  // reconnects instead of being sent into a dead connection and failing.
  void Settle() {
    io.restart();
    io.poll();
  }

  // Runs the io_context until `*done` (set by the operation's callback).
  void Until(const bool* done) {
    io.restart();
    while (!*done) {
      if (io.run_one() == 0) io.restart();
    }
  }

  Status WaitStatus(void (AsyncClient::*start)(std::string, std::string, AsyncClient::StatusCallback),
                    std::string a, std::string b) {
    Settle();
    bool done = false;
    Status out;
    (ac.get()->*start)(std::move(a), std::move(b), [&](Status st) {
      out = std::move(st);
      done = true;
    });
    Until(&done);
    return out;
  }

  Status DoSelect(const std::string& name, const std::string& password) {
    return WaitStatus(&AsyncClient::Select, name, password);
  }
  Status DoAuth(const std::string& password) {
    Settle();
    bool done = false;
    Status out;
    ac->Auth(password, [&](Status st) {
      out = std::move(st);
      done = true;
    });
    Until(&done);
    return out;
  }
  Status Ensure() {
    Settle();
    bool done = false;
    Status out;
    ac->Connect([&](Status st) {
      out = std::move(st);
      done = true;
    });
    Until(&done);
    return out;
  }

  // Sends the commands pipelined and waits for all replies. The first
  // failure is returned (the rest of the pipeline failed with it).
  Result<std::vector<Reply>> Exchange(const std::vector<std::vector<std::string>>& commands) {
    Settle();
    std::vector<Reply> replies(commands.size());
    size_t left = commands.size();
    Status first;
    bool done = left == 0;
    for (size_t i = 0; i < commands.size(); ++i) {
      ac->Command(commands[i], [&, i](Result<Reply> r) {
        if (r.ok()) {
          replies[i] = std::move(r.value());
        } else if (first.ok()) {
          first = r.status();
        }
        done = --left == 0;
      });
    }
    Until(&done);
    if (!first.ok()) return first;
    return replies;
  }

  Result<Reply> Raw(const std::vector<std::string>& argv) {
    Settle();
    bool done = false;
    Result<Reply> out = Status::Internal("no reply");
    ac->Command(argv, [&](Result<Reply> r) {
      out = std::move(r);
      done = true;
    });
    Until(&done);
    return out;
  }
  Result<Reply> Call(const std::vector<std::string>& argv) { return Raw(argv); }

  Status ServerError(const std::string& cmd, const Reply& r) const {
    return ServerErrorStatus(Backend(), cmd, r.str);
  }

  Status ExpectOk(const std::string& cmd, const Result<Reply>& r) const {
    if (!r.ok()) return r.status();
    if (r->is_error()) return ServerError(cmd, *r);
    if (r->type != Reply::Type::kStatus) return Fail(Status::Code::kProtocol, cmd + ": unexpected reply " + r->Debug());
    return Status::OK();
  }

  Result<ScanPage> ParseScan(const std::string& cmd, Result<Reply> r);

  Status CheckKey(const std::string& key) const {
    if (key.size() > kMaxKeySize) {
      return Fail(Status::Code::kInvalidArgument,
                  "key of " + std::to_string(key.size()) + " bytes exceeds 255");
    }
    return Status::OK();
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(const std::string& host, uint16_t port,
                                                ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->ac = std::make_unique<AsyncClient>(impl->io, host, port, std::move(options));
  QSTOR_RETURN_IF_ERROR(impl->Ensure());  // connects, and AUTHs with options.admin_password
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

std::string Client::Backend() const { return impl_->Backend(); }

Status Client::Ping() {
  auto r = impl_->Call({"PING"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("PING", *r);
  return Status::OK();
}

Status Client::Auth(const std::string& admin_password) { return impl_->DoAuth(admin_password); }

Status Client::Select(const std::string& ns, const std::string& password) {
  return impl_->DoSelect(ns, password);
}

Result<std::optional<std::string>> Client::Set(const std::string& key, const std::string& value) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  if (value.size() > kMaxPayloadSize) {
    return impl_->Fail(Status::Code::kInvalidArgument,
                       "SET: payload of " + std::to_string(value.size()) + " bytes exceeds 8 MiB");
  }
  auto r = impl_->Call({"SET", key, value});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("SET", *r);
  if (r->type == Reply::Type::kNil) return std::optional<std::string>();
  if (r->type != Reply::Type::kBulk) {
    return impl_->Fail(Status::Code::kProtocol, "SET: unexpected reply " + r->Debug());
  }
  return std::optional<std::string>(std::move(r->str));
}

Result<std::optional<std::string>> Client::Get(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"GET", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("GET", *r);
  if (r->type == Reply::Type::kNil) return std::optional<std::string>();
  if (r->type != Reply::Type::kBulk) {
    return impl_->Fail(Status::Code::kProtocol, "GET: unexpected reply " + r->Debug());
  }
  return std::optional<std::string>(std::move(r->str));
}

Result<std::vector<std::optional<std::string>>> Client::MGet(const std::vector<std::string>& keys) {
  if (keys.empty() || keys.size() > kMaxMgetKeys) {
    return impl_->Fail(Status::Code::kInvalidArgument, "MGET: needs 1..1023 keys");
  }
  std::vector<std::string> argv{"MGET"};
  for (const auto& k : keys) {
    QSTOR_RETURN_IF_ERROR(impl_->CheckKey(k));
    argv.push_back(k);
  }
  auto r = impl_->Call(argv);
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("MGET", *r);
  if (r->type != Reply::Type::kArray || r->elements.size() != keys.size()) {
    return impl_->Fail(Status::Code::kProtocol, "MGET: unexpected reply");
  }
  std::vector<std::optional<std::string>> out;
  for (auto& e : r->elements) {
    if (e.type == Reply::Type::kBulk) {
      out.emplace_back(std::move(e.str));
    } else {
      out.emplace_back();
    }
  }
  return out;
}

Status Client::Del(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  return impl_->ExpectOk("DEL", impl_->Call({"DEL", key}));
}

Result<bool> Client::Exists(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"EXISTS", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("EXISTS", *r);
  if (r->type != Reply::Type::kInteger) {
    return impl_->Fail(Status::Code::kProtocol, "EXISTS: unexpected reply " + r->Debug());
  }
  return r->integer != 0;
}

Result<bool> Client::Check(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"CHECK", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("CHECK", *r);
  if (r->type == Reply::Type::kNil) return impl_->Fail(Status::Code::kNotFound, "CHECK: key not found");
  if (r->type != Reply::Type::kInteger) {
    return impl_->Fail(Status::Code::kProtocol, "CHECK: unexpected reply " + r->Debug());
  }
  return r->integer == 1;
}

Result<std::optional<uint64_t>> Client::Length(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"LENGTH", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("LENGTH", *r);
  if (r->type == Reply::Type::kNil) return std::optional<uint64_t>();
  if (r->type != Reply::Type::kInteger) {
    return impl_->Fail(Status::Code::kProtocol, "LENGTH: unexpected reply " + r->Debug());
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(r->integer));
}

Result<uint64_t> Client::KeyTime(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"KEYTIME", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("KEYTIME", *r);
  if (r->type == Reply::Type::kNil) return impl_->Fail(Status::Code::kNotFound, "KEYTIME: key not found");
  if (r->type != Reply::Type::kInteger) {
    return impl_->Fail(Status::Code::kProtocol, "KEYTIME: unexpected reply " + r->Debug());
  }
  return static_cast<uint64_t>(r->integer);
}

Result<std::string> Client::KeyCur(const std::string& key) {
  QSTOR_RETURN_IF_ERROR(impl_->CheckKey(key));
  auto r = impl_->Call({"KEYCUR", key});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("KEYCUR", *r);
  if (r->type != Reply::Type::kBulk) {
    return impl_->Fail(Status::Code::kProtocol, "KEYCUR: unexpected reply " + r->Debug());
  }
  return std::move(r->str);
}

Result<ScanPage> Client::Impl::ParseScan(const std::string& cmd, Result<Reply> r) {
  Impl* impl = this;
  if (!r.ok()) return r.status();
  ScanPage page;
  if (r->is_error()) {
    if (r->str == "No more data") {
      page.done = true;
      return page;
    }
    return impl->ServerError(cmd, *r);
  }
  if (r->type != Reply::Type::kArray || r->elements.size() != 2 ||
      r->elements[0].type != Reply::Type::kBulk || r->elements[1].type != Reply::Type::kArray) {
    return impl->Fail(Status::Code::kProtocol, cmd + ": unexpected reply shape");
  }
  page.next_cursor = r->elements[0].str;
  for (auto& e : r->elements[1].elements) {
    if (e.type != Reply::Type::kArray || e.elements.size() != 3 ||
        e.elements[0].type != Reply::Type::kBulk || e.elements[1].type != Reply::Type::kInteger ||
        e.elements[2].type != Reply::Type::kInteger) {
      return impl->Fail(Status::Code::kProtocol, cmd + ": unexpected entry shape");
    }
    page.entries.push_back(ScanEntry{std::move(e.elements[0].str),
                                     static_cast<uint64_t>(e.elements[1].integer),
                                     static_cast<uint64_t>(e.elements[2].integer)});
  }
  return page;
}

Result<ScanPage> Client::Scan(const std::optional<std::string>& cursor) {
  std::vector<std::string> argv{"SCAN"};
  if (cursor) argv.push_back(*cursor);
  return impl_->ParseScan("SCAN", impl_->Call(argv));
}

Result<ScanPage> Client::RScan(const std::optional<std::string>& cursor) {
  std::vector<std::string> argv{"RSCAN"};
  if (cursor) argv.push_back(*cursor);
  return impl_->ParseScan("RSCAN", impl_->Call(argv));
}

Result<uint64_t> Client::DbSize() {
  auto r = impl_->Call({"DBSIZE"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("DBSIZE", *r);
  if (r->type != Reply::Type::kInteger) {
    return impl_->Fail(Status::Code::kProtocol, "DBSIZE: unexpected reply " + r->Debug());
  }
  return static_cast<uint64_t>(r->integer);
}

Result<uint64_t> Client::Time() {
  auto r = impl_->Call({"TIME"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("TIME", *r);
  uint64_t v = 0;
  if (r->type != Reply::Type::kArray || r->elements.empty() ||
      r->elements[0].type != Reply::Type::kBulk || !ParseU64(r->elements[0].str, &v)) {
    return impl_->Fail(Status::Code::kProtocol, "TIME: unexpected reply " + r->Debug());
  }
  return v;
}

Status Client::NsNew(const std::string& ns) {
  return impl_->ExpectOk("NSNEW " + ns, impl_->Call({"NSNEW", ns}));
}
Status Client::NsDel(const std::string& ns) {
  return impl_->ExpectOk("NSDEL " + ns, impl_->Call({"NSDEL", ns}));
}
Status Client::NsSet(const std::string& ns, const std::string& prop, const std::string& value) {
  // The value is not echoed in errors: it may be a password.
  return impl_->ExpectOk("NSSET " + ns + " " + prop, impl_->Call({"NSSET", ns, prop, value}));
}

Result<NamespaceInfo> Client::NsInfo(const std::string& ns) {
  auto r = impl_->Call({"NSINFO", ns});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("NSINFO " + ns, *r);
  if (r->type != Reply::Type::kBulk) {
    return impl_->Fail(Status::Code::kProtocol, "NSINFO: unexpected reply " + r->Debug());
  }
  auto info = NamespaceInfo::Parse(r->str);
  if (!info.ok()) return impl_->Fail(info.status().code(), info.status().message());
  return info;
}

Result<std::vector<std::string>> Client::NsList() {
  auto r = impl_->Call({"NSLIST"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("NSLIST", *r);
  if (r->type != Reply::Type::kArray) {
    return impl_->Fail(Status::Code::kProtocol, "NSLIST: unexpected reply " + r->Debug());
  }
  std::vector<std::string> out;
  for (auto& e : r->elements) out.push_back(std::move(e.str));
  return out;
}

Status Client::Flush() { return impl_->ExpectOk("FLUSH", impl_->Call({"FLUSH"})); }

Result<Reply> Client::Command(const std::vector<std::string>& argv) { return impl_->Call(argv); }

Result<std::vector<Reply>> Client::Pipeline(const std::vector<std::vector<std::string>>& commands) {
  return impl_->Exchange(commands);
}

// ---------------------------------------------------------------------------

struct ClientPool::Impl {
  std::string host;
  uint16_t port;
  std::string ns, ns_password;
  ClientOptions opt;
  size_t max_idle;
  std::mutex mu;
  std::vector<std::unique_ptr<Client>> idle;
};

ClientPool::ClientPool(std::string host, uint16_t port, std::string ns, std::string ns_password,
                       ClientOptions options, size_t max_idle)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->ns = std::move(ns);
  impl_->ns_password = std::move(ns_password);
  impl_->opt = std::move(options);
  impl_->max_idle = max_idle;
}

ClientPool::~ClientPool() = default;

Result<std::unique_ptr<Client>> ClientPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->idle.empty()) {
      auto c = std::move(impl_->idle.back());
      impl_->idle.pop_back();
      return c;
    }
  }
  auto c = Client::Connect(impl_->host, impl_->port, impl_->opt);
  if (!c.ok()) return c.status();
  if (impl_->ns != "default" && !impl_->ns.empty()) {
    QSTOR_RETURN_IF_ERROR((*c)->Select(impl_->ns, impl_->ns_password));
  }
  return std::move(c.value());
}

void ClientPool::Release(std::unique_ptr<Client> client) {
  if (!client) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->idle.size() < impl_->max_idle) impl_->idle.push_back(std::move(client));
}

}  // namespace qstor::zdb
