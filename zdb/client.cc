#include "zdb/client.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>

#include "zdb/sha1.h"

namespace qstor::zdb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool ParseU64(std::string_view s, uint64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
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
  auto num = [&](const char* k, uint64_t* out) -> Status {
    auto it = info.fields.find(k);
    if (it == info.fields.end()) return Status::OK();
    if (!ParseU64(it->second, out)) {
      return Status::Protocol(std::string("NSINFO field '") + k + "' is not a number: " +
                              it->second);
    }
    return Status::OK();
  };
  info.name = info.fields["name"];
  info.is_public = yes("public");
  info.password = yes("password");
  info.worm = yes("worm");
  info.locked = yes("locked");
  QSTOR_RETURN_IF_ERROR(num("entries", &info.entries));
  QSTOR_RETURN_IF_ERROR(num("data_size_bytes", &info.data_size_bytes));
  QSTOR_RETURN_IF_ERROR(num("data_limits_bytes", &info.data_limits_bytes));
  QSTOR_RETURN_IF_ERROR(num("index_size_bytes", &info.index_size_bytes));
  QSTOR_RETURN_IF_ERROR(num("next_internal_id", &info.next_internal_id));
  if (info.fields.count("space_available")) {
    uint64_t v = 0;
    QSTOR_RETURN_IF_ERROR(num("space_available", &v));
    info.space_available = v;
  }
  auto m = info.fields.find("mode");
  if (m != info.fields.end()) {
    info.mode = (m->second == "sequential" || m->second == "seq") ? NsMode::kSeq : NsMode::kUser;
  }
  return info;
}

struct Client::Impl {
  std::string host;
  uint16_t port = 0;
  ClientOptions opt;
  asio::io_context io;
  tcp::socket sock{io};
  bool connected = false;
  std::string rbuf;
  std::vector<char> tmp = std::vector<char>(256 * 1024);
  std::string ns = "default";
  std::string ns_password;
  std::string admin;
  std::chrono::milliseconds backoff{0};
  Clock::time_point next_attempt{};
  ParseLimits limits;

  Impl() { limits.max_elements = 1 << 20; }

  std::string Backend() const {
    return "zdb " + host + ":" + std::to_string(port) + "/" + ns;
  }
  Status Fail(Status::Code code, const std::string& what) const {
    return Status(code, Backend() + ": " + what);
  }

  void Drop() {
    boost::system::error_code ig;
    sock.close(ig);
    connected = false;
    rbuf.clear();
  }

  // Runs the io_context until all queued operations finish or the deadline.
  Status Wait(Clock::time_point deadline, const std::string& what) {
    io.restart();
    auto now = Clock::now();
    if (deadline > now) io.run_for(deadline - now);
    if (!io.stopped()) {
      Drop();
      io.restart();
      io.run();  // let the cancelled handlers complete
      return Fail(Status::Code::kTimeout, what + ": timed out");
    }
    return Status::OK();
  }

  Status ConnectOnce() {
    Drop();
    auto deadline = Clock::now() + opt.connect_timeout;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    tcp::resolver::results_type results;
    resolver.async_resolve(host, std::to_string(port),
                           [&](const boost::system::error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             results = std::move(r);
                           });
    QSTOR_RETURN_IF_ERROR(Wait(deadline, "resolve"));
    if (ec) return Fail(Status::Code::kUnavailable, "resolve: " + ec.message());
    asio::async_connect(sock, results,
                        [&](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
    QSTOR_RETURN_IF_ERROR(Wait(deadline, "connect"));
    if (ec) {
      Drop();
      return Fail(Status::Code::kUnavailable, "connect: " + ec.message());
    }
    sock.set_option(tcp::no_delay(true), ec);
    connected = true;
    return Status::OK();
  }

  // Connects if needed (respecting backoff) and restores AUTH/SELECT.
  Status Ensure() {
    if (connected) return Status::OK();
    auto now = Clock::now();
    if (now < next_attempt) std::this_thread::sleep_for(next_attempt - now);
    Status st = ConnectOnce();
    if (st.ok() && !admin.empty()) st = DoAuth(admin);
    if (st.ok() && ns != "default") st = DoSelect(ns, ns_password);
    if (!st.ok()) {
      backoff = std::clamp(backoff * 2, opt.min_backoff, opt.max_backoff);
      next_attempt = Clock::now() + backoff;
      Drop();
      return st;
    }
    backoff = std::chrono::milliseconds(0);
    return Status::OK();
  }

  // Sends `out` (already encoded) and reads n replies.
  Result<std::vector<Reply>> Exchange(const std::string& out, size_t n) {
    auto deadline = Clock::now() + opt.request_timeout;
    boost::system::error_code ec;
    asio::async_write(sock, asio::buffer(out),
                      [&](const boost::system::error_code& e, size_t) { ec = e; });
    QSTOR_RETURN_IF_ERROR(Wait(deadline, "write"));
    if (ec) {
      Drop();
      return Fail(Status::Code::kUnavailable, "write: " + ec.message());
    }
    std::vector<Reply> replies;
    replies.reserve(n);
    size_t pos = 0;
    while (replies.size() < n) {
      Reply r;
      size_t used = 0;
      std::string err;
      auto pr = ParseReply(std::string_view(rbuf).substr(pos), limits, &r, &used, &err);
      if (pr == ParseResult::kOk) {
        replies.push_back(std::move(r));
        pos += used;
        continue;
      }
      if (pr == ParseResult::kError) {
        Drop();
        return Fail(Status::Code::kProtocol, err);
      }
      if (pos > 0) {
        rbuf.erase(0, pos);
        pos = 0;
      }
      size_t got = 0;
      sock.async_read_some(asio::buffer(tmp), [&](const boost::system::error_code& e, size_t k) {
        ec = e;
        got = k;
      });
      QSTOR_RETURN_IF_ERROR(Wait(deadline, "read"));
      if (ec) {
        Drop();
        return Fail(Status::Code::kUnavailable,
                    ec == asio::error::eof ? "connection closed by server" : "read: " + ec.message());
      }
      rbuf.append(tmp.data(), got);
    }
    rbuf.erase(0, pos);
    return replies;
  }

  Result<Reply> Raw(const std::vector<std::string>& argv) {
    std::string out;
    AppendCommand(&out, argv);
    auto r = Exchange(out, 1);
    if (!r.ok()) return r.status();
    return std::move(r.value()[0]);
  }

  Status ServerError(const std::string& cmd, const Reply& r) const {
    const std::string& m = r.str;
    Status::Code code = Status::Code::kFailedPrecondition;
    if (m.find("denied") != std::string::npos || m.find("protected") != std::string::npos ||
        m.find("read-only") != std::string::npos || m.find("Permission") != std::string::npos) {
      code = Status::Code::kPermissionDenied;
    } else if (m.find("No space left") != std::string::npos) {
      code = Status::Code::kResourceExhausted;
    } else if (m.find("not found") != std::string::npos ||
               m.find("doesn't exist") != std::string::npos) {
      code = Status::Code::kNotFound;
    } else if (m.find("too large") != std::string::npos || m.find("too long") != std::string::npos ||
               m.find("Invalid") != std::string::npos) {
      code = Status::Code::kInvalidArgument;
    }
    return Fail(code, cmd + ": " + m);
  }

  Status ExpectOk(const std::string& cmd, const Result<Reply>& r) const {
    if (!r.ok()) return r.status();
    if (r->is_error()) return ServerError(cmd, *r);
    if (r->type != Reply::Type::kStatus) return Fail(Status::Code::kProtocol, cmd + ": unexpected reply " + r->Debug());
    return Status::OK();
  }

  Result<std::string> Challenge() {
    auto r = Raw({"AUTH", "SECURE", "CHALLENGE"});
    if (!r.ok()) return r.status();
    if (r->type != Reply::Type::kStatus) return ServerError("AUTH SECURE CHALLENGE", *r);
    return r->str;
  }

  Status DoAuth(const std::string& password) {
    auto ch = Challenge();
    if (!ch.ok() && ch.status().code() != Status::Code::kFailedPrecondition) return ch.status();
    if (ch.ok()) {
      return ExpectOk("AUTH SECURE", Raw({"AUTH", "SECURE", SecureProof(*ch, password)}));
    }
    return ExpectOk("AUTH", Raw({"AUTH", password}));
  }

  Status DoSelect(const std::string& name, const std::string& password) {
    std::string saved = ns;
    ns = name;  // error messages name the namespace we tried
    Status st;
    if (password.empty()) {
      st = ExpectOk("SELECT", Raw({"SELECT", name}));
    } else {
      auto ch = Challenge();
      if (ch.ok()) {
        st = ExpectOk("SELECT", Raw({"SELECT", name, "SECURE", SecureProof(*ch, password)}));
      } else if (ch.status().code() == Status::Code::kFailedPrecondition) {
        st = ExpectOk("SELECT", Raw({"SELECT", name, password}));
      } else {
        st = ch.status();
      }
    }
    if (!st.ok()) ns = saved;
    return st;
  }

  // Ensure + one command.
  Result<Reply> Call(const std::vector<std::string>& argv) {
    QSTOR_RETURN_IF_ERROR(Ensure());
    return Raw(argv);
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
  impl->host = host;
  impl->port = port;
  impl->opt = options;
  QSTOR_RETURN_IF_ERROR(impl->ConnectOnce());
  if (!options.admin_password.empty()) {
    QSTOR_RETURN_IF_ERROR(impl->DoAuth(options.admin_password));
    impl->admin = options.admin_password;
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

std::string Client::Backend() const { return impl_->Backend(); }

Status Client::Ping() {
  auto r = impl_->Call({"PING"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return impl_->ServerError("PING", *r);
  return Status::OK();
}

Status Client::Auth(const std::string& admin_password) {
  QSTOR_RETURN_IF_ERROR(impl_->Ensure());
  QSTOR_RETURN_IF_ERROR(impl_->DoAuth(admin_password));
  impl_->admin = admin_password;
  return Status::OK();
}

Status Client::Select(const std::string& ns, const std::string& password) {
  QSTOR_RETURN_IF_ERROR(impl_->Ensure());
  QSTOR_RETURN_IF_ERROR(impl_->DoSelect(ns, password));
  impl_->ns_password = password;
  return Status::OK();
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
  QSTOR_RETURN_IF_ERROR(impl_->Ensure());
  std::string out;
  for (const auto& c : commands) AppendCommand(&out, c);
  return impl_->Exchange(out, commands.size());
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
