#include "zdb/async_client.h"

#include <algorithm>
#include <deque>

#include <boost/asio.hpp>

#include "zdb/sha1.h"

namespace qstor::zdb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

Status ServerErrorStatus(const std::string& backend, const std::string& cmd,
                         const std::string& m) {
  Status::Code code = Status::Code::kFailedPrecondition;
  if (m.find("Too many clients") != std::string::npos) {
    code = Status::Code::kUnavailable;  // the server is full now; later may work
  } else if (m.find("denied") != std::string::npos || m.find("protected") != std::string::npos ||
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
  return Status(code, backend + ": " + cmd + ": " + m);
}

namespace {

// A queued operation. Commands are one request and one reply; Select and
// Auth are short exchanges (challenge, then proof) that block the commands
// queued behind them until they finish.
struct Op {
  enum class Kind { kCommand, kSelect, kAuth, kConnected };  // kConnected: done once it reaches the wire
  Kind kind = Kind::kCommand;
  std::string name;                     // command name, for messages
  std::string wire;                     // kCommand: the encoded request
  AsyncClient::ReplyCallback on_reply;  // kCommand
  std::string arg, password;            // kSelect: ns, password; kAuth: -, password
  AsyncClient::StatusCallback on_done;  // kSelect, kAuth
  bool replay = false;                  // restores state after a reconnect
  Clock::time_point deadline;
};

// A request on the wire, waiting for its reply.
struct Sent {
  std::string name;
  AsyncClient::ReplyCallback done;
  Clock::time_point deadline;
};

}  // namespace

struct AsyncClient::Impl : std::enable_shared_from_this<Impl> {
  enum class State { kIdle, kConnecting, kReady };

  asio::io_context& io;
  std::string host;
  uint16_t port;
  ClientOptions opt;
  tcp::socket sock;
  tcp::resolver resolver;
  asio::steady_timer timer;          // earliest request deadline
  asio::steady_timer connect_timer;  // backoff wait, then connect deadline
  State state = State::kIdle;
  bool closed = false;
  bool writing = false;
  bool op_running = false;  // the Select/Auth at queue.front() is in progress
  uint64_t conn = 0;        // bumps on every drop: stale handlers see a new value
  std::deque<Op> queue;     // not yet sent
  std::deque<Sent> sent;    // on the wire, in order
  std::string wpending;     // encoded, not yet handed to async_write
  std::string rbuf;
  ParseLimits limits;
  // Session state replayed on reconnect.
  std::string ns = "default", ns_password, admin;
  std::chrono::milliseconds backoff{0};
  Clock::time_point next_attempt{};

  Impl(asio::io_context& i, std::string h, uint16_t p, ClientOptions o)
      : io(i),
        host(std::move(h)),
        port(p),
        opt(std::move(o)),
        sock(i),
        resolver(i),
        timer(i),
        connect_timer(i) {
    limits.max_elements = 1 << 20;
    admin = opt.admin_password;
  }

  std::string Backend() const { return "zdb " + host + ":" + std::to_string(port) + "/" + ns; }
  Status Fail(Status::Code code, const std::string& what) const {
    return Status(code, Backend() + ": " + what);
  }

  // Runs `fn` later on the io_context (callbacks never run inside the call
  // that queued them).
  template <class F>
  void Later(F fn) {
    asio::post(io, std::move(fn));
  }

  void Enqueue(Op op) {
    op.deadline = Clock::now() + opt.request_timeout;
    if (closed) {
      Status st = Fail(Status::Code::kCancelled, op.name + ": client closed");
      Later([op = std::move(op), st] { Complete(op, st); });
      return;
    }
    queue.push_back(std::move(op));
    Pump();
  }

  static void Complete(const Op& op, const Status& st) {
    if (op.kind == Op::Kind::kCommand) {
      if (op.on_reply) op.on_reply(st);
    } else if (op.on_done) {
      op.on_done(st);
    }
  }

  // Moves work forward: connect, send commands up to the next Select/Auth,
  // run that, re-arm the deadline timer.
  void Pump() {
    if (closed) return;
    if (state == State::kIdle && !queue.empty()) {
      StartConnect();
    } else if (state == State::kReady) {
      while (!op_running && !queue.empty()) {
        Op& front = queue.front();
        if (front.kind == Op::Kind::kCommand) {
          wpending += front.wire;
          sent.push_back({front.name, std::move(front.on_reply), front.deadline});
          queue.pop_front();
        } else if (front.kind == Op::Kind::kConnected) {
          // Connected, and the AUTH/SELECT replay ahead of it succeeded.
          if (front.on_done) Later([done = std::move(front.on_done)] { done(Status::OK()); });
          queue.pop_front();
        } else {
          op_running = true;
          RunSessionOp();
        }
      }
      StartWrite();
    }
    ArmTimer();
  }

  // Sends one internal request of a Select/Auth exchange.
  void SendInternal(const std::vector<std::string>& argv, ReplyCallback done) {
    AppendCommand(&wpending, argv);
    sent.push_back({argv[0], std::move(done), Clock::now() + opt.request_timeout});
    StartWrite();
    ArmTimer();
  }

  // Finishes the Select/Auth at the queue front.
  void FinishSessionOp(const Status& st) {
    Op op = std::move(queue.front());
    queue.pop_front();
    op_running = false;
    if (st.ok()) {
      if (op.kind == Op::Kind::kSelect) {
        ns = op.arg;
        ns_password = op.password;
      } else {
        admin = op.password;
      }
    }
    if (op.replay && !st.ok()) {
      // The connection cannot be put back in the caller's state: nothing
      // queued may run on it.
      Drop(st, /*connect_failed=*/true);
      return;
    }
    if (!op.replay) Later([op = std::move(op), st] { Complete(op, st); });
    Pump();
  }

  Status ExpectOk(const std::string& cmd, const Result<Reply>& r) const {
    if (!r.ok()) return r.status();
    if (r->is_error()) return ServerErrorStatus(Backend(), cmd, r->str);
    if (r->type != Reply::Type::kStatus) {
      return Fail(Status::Code::kProtocol, cmd + ": unexpected reply " + r->Debug());
    }
    return Status::OK();
  }

  // Challenge-response for the op at the queue front.
  void RunSessionOp() {
    const Op& op = queue.front();
    auto self = shared_from_this();
    uint64_t c = conn;
    bool select = op.kind == Op::Kind::kSelect;
    std::string name = op.arg, password = op.password;
    if (select && password.empty()) {
      SendInternal({"SELECT", name}, [self, c, name](Result<Reply> r) {
        if (c != self->conn) return;
        self->FinishSessionOp(self->SelectResult(name, r));
      });
      return;
    }
    SendInternal({"AUTH", "SECURE", "CHALLENGE"}, [self, c, select, name, password](
                                                      Result<Reply> r) {
      if (c != self->conn) return;
      if (!r.ok()) return self->FinishSessionOp(r.status());
      std::vector<std::string> argv;
      if (r->type == Reply::Type::kStatus) {
        std::string proof = SecureProof(r->str, password);
        if (select) argv = {"SELECT", name, "SECURE", proof};
        else argv = {"AUTH", "SECURE", proof};
      } else if (r->is_error() &&
                 ServerErrorStatus("", "", r->str).code() == Status::Code::kFailedPrecondition) {
        // No challenge offered: the password goes in plain.
        if (select) argv = {"SELECT", name, password};
        else argv = {"AUTH", password};
      } else {
        return self->FinishSessionOp(
            r->is_error() ? ServerErrorStatus(self->Backend(), "AUTH SECURE CHALLENGE", r->str)
                          : self->Fail(Status::Code::kProtocol,
                                       "AUTH SECURE CHALLENGE: unexpected reply " + r->Debug()));
      }
      self->SendInternal(argv, [self, c, select, name](Result<Reply> r2) {
        if (c != self->conn) return;
        self->FinishSessionOp(select ? self->SelectResult(name, r2)
                                     : self->ExpectOk("AUTH", r2));
      });
    });
  }

  // SELECT errors name the namespace that was tried.
  Status SelectResult(const std::string& name, const Result<Reply>& r) {
    std::string saved = ns;
    ns = name;
    Status st = ExpectOk("SELECT", r);
    ns = saved;
    return st;
  }

  void StartWrite() {
    if (writing || wpending.empty() || state != State::kReady) return;
    writing = true;
    auto buf = std::make_shared<std::string>(std::move(wpending));
    wpending.clear();
    auto self = shared_from_this();
    uint64_t c = conn;
    asio::async_write(sock, asio::buffer(*buf),
                      [self, c, buf](const boost::system::error_code& ec, size_t) {
                        if (c != self->conn) return;
                        self->writing = false;
                        if (ec) {
                          self->Drop(self->Fail(Status::Code::kUnavailable, "write: " + ec.message()),
                                     false);
                          return;
                        }
                        self->StartWrite();
                      });
  }

  void StartRead() {
    auto self = shared_from_this();
    uint64_t c = conn;
    auto chunk = std::make_shared<std::vector<char>>(256 * 1024);
    sock.async_read_some(asio::buffer(*chunk), [self, c, chunk](const boost::system::error_code& ec,
                                                               size_t n) {
      if (c != self->conn) return;
      if (ec) {
        self->Drop(self->Fail(Status::Code::kUnavailable, ec == asio::error::eof
                                                               ? "connection closed by server"
                                                               : "read: " + ec.message()),
                   false);
        return;
      }
      self->rbuf.append(chunk->data(), n);
      self->OnData();
    });
  }

  void OnData() {
    uint64_t c = conn;
    size_t pos = 0;
    while (pos < rbuf.size()) {
      Reply r;
      size_t used = 0;
      std::string err;
      auto pr = ParseReply(std::string_view(rbuf).substr(pos), limits, &r, &used, &err);
      if (sent.empty()) {
        if (pr == ParseResult::kOk && r.is_error()) {
          // An error nobody asked for: the server refusing this connection
          // ("Too many clients") before closing it. Its reason is the error
          // of everything queued, like a failed connect.
          Drop(Fail(Status::Code::kUnavailable, "the server refused the connection: " + r.str),
               true);
          return;
        }
        if (pr == ParseResult::kNeedMore) break;
        Drop(Fail(Status::Code::kProtocol, "reply without a request"), false);
        return;
      }
      if (pr == ParseResult::kNeedMore) break;
      if (pr == ParseResult::kError) {
        Drop(Fail(Status::Code::kProtocol, sent.front().name + ": " + err), false);
        return;
      }
      pos += used;
      Sent s = std::move(sent.front());
      sent.pop_front();
      if (s.done) s.done(std::move(r));
      if (c != conn || closed) return;  // the callback dropped or closed us
    }
    rbuf.erase(0, pos);
    ArmTimer();
    StartRead();
  }

  void StartConnect() {
    state = State::kConnecting;
    auto self = shared_from_this();
    uint64_t c = conn;
    auto now = Clock::now();
    if (now < next_attempt) {
      connect_timer.expires_at(next_attempt);
      connect_timer.async_wait([self, c](const boost::system::error_code& ec) {
        if (ec || c != self->conn || self->closed) return;
        self->Resolve();
      });
      return;
    }
    Resolve();
  }

  void Resolve() {
    auto self = shared_from_this();
    uint64_t c = conn;
    connect_timer.expires_after(opt.connect_timeout);
    connect_timer.async_wait([self, c](const boost::system::error_code& ec) {
      if (ec || c != self->conn || self->state != State::kConnecting) return;
      self->Drop(self->Fail(Status::Code::kTimeout, "connect: timed out"), true);
    });
    resolver.async_resolve(
        host, std::to_string(port),
        [self, c](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          if (c != self->conn) return;
          if (ec) {
            self->Drop(self->Fail(Status::Code::kUnavailable, "resolve: " + ec.message()), true);
            return;
          }
          asio::async_connect(self->sock, results,
                              [self, c](const boost::system::error_code& e, const tcp::endpoint&) {
                                if (c != self->conn) return;
                                if (e) {
                                  self->Drop(self->Fail(Status::Code::kUnavailable,
                                                        "connect: " + e.message()),
                                             true);
                                  return;
                                }
                                self->Connected();
                              });
        });
  }

  void Connected() {
    connect_timer.cancel();
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    state = State::kReady;
    backoff = std::chrono::milliseconds(0);
    // Replay the session state ahead of everything queued.
    if (ns != "default") {
      Op op;
      op.kind = Op::Kind::kSelect;
      op.name = "SELECT";
      op.arg = ns;
      op.password = ns_password;
      op.replay = true;
      op.deadline = Clock::now() + opt.request_timeout;
      queue.push_front(std::move(op));
    }
    if (!admin.empty()) {
      Op op;
      op.kind = Op::Kind::kAuth;
      op.name = "AUTH";
      op.password = admin;
      op.replay = true;
      op.deadline = Clock::now() + opt.request_timeout;
      queue.push_front(std::move(op));
    }
    StartRead();
    Pump();
  }

  // Drops the connection. Requests on the wire fail with `st` (kTimeout if
  // their own deadline passed). With connect_failed, everything queued fails
  // too; otherwise unsent commands wait for the next connection.
  void Drop(Status st, bool connect_failed) {
    ++conn;
    boost::system::error_code ig;
    sock.close(ig);
    resolver.cancel();
    connect_timer.cancel();
    bool was_connecting = state == State::kConnecting;
    state = State::kIdle;
    writing = false;
    wpending.clear();
    rbuf.clear();
    if (connect_failed || was_connecting) {
      backoff = std::clamp(backoff * 2, opt.min_backoff, opt.max_backoff);
      next_attempt = Clock::now() + backoff;
    }
    auto wire = std::move(sent);
    sent.clear();
    std::deque<Op> failed;
    if (op_running) {
      // The exchange of the front Select/Auth was cut: it failed.
      failed.push_back(std::move(queue.front()));
      queue.pop_front();
      op_running = false;
    }
    // Replay ops are rebuilt on the next connect.
    std::erase_if(queue, [](const Op& o) { return o.replay; });
    if (connect_failed || closed) {
      for (auto& o : queue) failed.push_back(std::move(o));
      queue.clear();
    }
    auto now = Clock::now();
    for (auto& s : wire) {
      Status one = now >= s.deadline ? Fail(Status::Code::kTimeout, s.name + ": timed out")
                                     : Status(st.code(), st.message());
      if (s.done) Later([done = std::move(s.done), one] { done(one); });
    }
    for (auto& o : failed) {
      if (o.replay) continue;
      Status one = now >= o.deadline ? Fail(Status::Code::kTimeout, o.name + ": timed out")
                                     : Status(st.code(), st.message());
      Later([o = std::move(o), one] { Complete(o, one); });
    }
    ArmTimer();
    // Unsent commands reconnect (after the backoff) by themselves.
    if (!closed && !queue.empty()) Pump();
  }

  // The earliest deadline of anything that can expire: the oldest request
  // on the wire, or the oldest unsent op (unless it is the running
  // Select/Auth, whose requests on the wire carry its deadline).
  void ArmTimer() {
    Clock::time_point first = Clock::time_point::max();
    if (!sent.empty()) first = std::min(first, sent.front().deadline);
    if (!queue.empty() && !op_running) first = std::min(first, queue.front().deadline);
    if (first == Clock::time_point::max()) {
      timer.cancel();
      return;
    }
    timer.expires_at(first);
    auto self = shared_from_this();
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->closed) return;
      self->OnDeadline();
    });
  }

  void OnDeadline() {
    auto now = Clock::now();
    if (!sent.empty() && now >= sent.front().deadline) {
      // A reply is late: the stream cannot be resynchronized.
      Drop(Fail(Status::Code::kTimeout, sent.front().name + ": timed out"), false);
      return;
    }
    // Unsent ops (waiting for a connection) expire here.
    std::deque<Op> expired;
    while (!op_running && !queue.empty() && now >= queue.front().deadline) {
      expired.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    for (auto& o : expired) {
      Status st = Fail(Status::Code::kTimeout,
                       o.name + (state == State::kConnecting ? ": timed out while connecting"
                                                             : ": timed out"));
      if (!o.replay) Later([o = std::move(o), st] { Complete(o, st); });
    }
    ArmTimer();
  }

  void Close() {
    if (closed) return;
    closed = true;
    timer.cancel();
    Drop(Fail(Status::Code::kCancelled, "client closed"), true);
  }
};

AsyncClient::AsyncClient(asio::io_context& io, std::string host, uint16_t port,
                         ClientOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(host), port, std::move(options))) {}

AsyncClient::~AsyncClient() { impl_->Close(); }

std::string AsyncClient::Backend() const { return impl_->Backend(); }

void AsyncClient::Connect(StatusCallback done) {
  if (impl_->state == Impl::State::kReady && !impl_->op_running) {
    impl_->Later([done = std::move(done)] { done(Status::OK()); });
    return;
  }
  // A marker rides the queue: it completes once the connection is up and
  // the AUTH/SELECT replay ahead of it has succeeded.
  Op op;
  op.kind = Op::Kind::kConnected;
  op.name = "connect";
  op.on_done = std::move(done);
  impl_->Enqueue(std::move(op));
}

void AsyncClient::Command(std::vector<std::string> argv, ReplyCallback done) {
  if (argv.empty()) {
    // "*0" gets no reply from a server: it would only time out.
    Status st = impl_->Fail(Status::Code::kInvalidArgument, "empty command");
    impl_->Later([done = std::move(done), st] { done(st); });
    return;
  }
  Op op;
  op.name = argv[0];
  AppendCommand(&op.wire, argv);
  op.on_reply = std::move(done);
  impl_->Enqueue(std::move(op));
}

void AsyncClient::Select(std::string ns, std::string password, StatusCallback done) {
  Op op;
  op.kind = Op::Kind::kSelect;
  op.name = "SELECT";
  op.arg = std::move(ns);
  op.password = std::move(password);
  op.on_done = std::move(done);
  impl_->Enqueue(std::move(op));
}

void AsyncClient::Auth(std::string admin_password, StatusCallback done) {
  Op op;
  op.kind = Op::Kind::kAuth;
  op.name = "AUTH";
  op.password = std::move(admin_password);
  op.on_done = std::move(done);
  impl_->Enqueue(std::move(op));
}

size_t AsyncClient::pending() const { return impl_->queue.size() + impl_->sent.size(); }

void AsyncClient::Close() { impl_->Close(); }

}  // namespace qstor::zdb
