#include "grid/jsonrpc_ws.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <variant>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

namespace qstor::grid {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

std::string DumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

// Printable, bounded text of untrusted bytes for error messages.
std::string Printable(std::string_view s, size_t max = 160) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? char(c) : '?';
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

Result<json> ParseJsonBounded(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return Status::Protocol("JSON nested deeper than " + std::to_string(max_depth) +
                                " levels at byte " + std::to_string(i));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return Status::Protocol(Printable(e.what(), 240));
  }
}

Result<WsUrl> ParseWsUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("websocket URL '" + Printable(url) + "': " + why);
  };
  WsUrl u;
  std::string lower;
  for (char c : url.substr(0, 6)) lower += char(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest;
  if (lower.rfind("wss://", 0) == 0) {
    u.tls = true;
    rest = url.substr(6);
  } else if (lower.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else {
    return bad("scheme must be ws:// or wss://");
  }
  for (unsigned char c : rest) {
    if (c <= 0x20 || c >= 0x7f) return bad("space or control character");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!u.target.empty() && u.target[0] != '/') u.target = "/" + u.target;
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after IPv6 address");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5) return bad("bad port");
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return bad("bad port");
      v = v * 10 + unsigned(c - '0');
    }
    if (v == 0 || v > 65535) return bad("port out of range");
    u.port = std::string(port);
  } else {
    u.port = u.tls ? "443" : "80";
  }
  return u;
}

JsonRpcIncoming ParseJsonRpcIncoming(std::string_view frame) {
  JsonRpcIncoming in;
  auto parsed = ParseJsonBounded(frame);
  if (!parsed.ok()) {
    in.error = "not JSON: " + parsed.status().message();
    return in;
  }
  const json& j = *parsed;
  if (!j.is_object()) {
    in.error = std::string("not a JSON-RPC object but a JSON ") + j.type_name();
    return in;
  }
  auto it = j.find("method");
  if (it != j.end() && j.find("id") == j.end()) {
    if (!it->is_string()) {
      in.error = "notification whose method is not a string";
      return in;
    }
    in.kind = JsonRpcIncoming::Kind::kNotification;
    in.method = it->get<std::string>();
    auto p = j.find("params");
    if (p != j.end() && p->is_object()) {
      if (auto s = p->find("subscription"); s != p->end()) in.subscription = *s;
      if (auto r = p->find("result"); r != p->end()) in.result = *r;
    }
    return in;
  }
  auto id = j.find("id");
  auto res = j.find("result");
  auto err = j.find("error");
  if (id == j.end() || (res == j.end() && err == j.end())) {
    in.error = "neither a reply (id and result or error) nor a notification";
    return in;
  }
  in.kind = JsonRpcIncoming::Kind::kReply;
  // Our ids are unsigned integers; anything else can match no call and is
  // reported as id 0 (never used).
  in.id = id->is_number_unsigned() ? id->get<uint64_t>() : 0;
  if (err != j.end()) {
    in.is_error = true;
    if (!err->is_object()) {
      in.error_code = -32603;
      in.error_message = "error reply whose error is not an object: " + Printable(DumpJson(*err));
      return in;
    }
    auto code = err->find("code");
    auto msg = err->find("message");
    in.error_code = code != err->end() && code->is_number_integer() ? code->get<int64_t>() : -32603;
    in.error_message = msg != err->end() && msg->is_string() ? msg->get<std::string>()
                                                             : "(no message)";
    if (auto d = err->find("data"); d != err->end()) in.result = *d;
  } else {
    in.result = *res;
  }
  return in;
}

Status JsonRpcErrorStatus(const std::string& method, int64_t code, const std::string& message,
                          const json& data) {
  std::string text = method + ": RPC error " + std::to_string(code) + ": " + Printable(message, 400);
  if (!data.is_null()) {
    text += ": " + Printable(data.is_string() ? data.get<std::string>() : DumpJson(data), 400);
  }
  switch (code) {
    case -32700:
    case -32600:
      return Status::Protocol(text);
    case -32601:
      return Status::NotImplemented(text);
    case -32602:
      return Status::InvalidArgument(text);
    case -32603:
      return Status::Internal(text);
    default:
      return Status::FailedPrecondition(text);
  }
}

milliseconds BackoffDelay(unsigned attempt, milliseconds initial, milliseconds max, double rand01) {
  double d = double(initial.count());
  for (unsigned i = 0; i < attempt && d < double(max.count()); ++i) d *= 2;
  d = std::min(d, double(max.count()));
  if (rand01 < 0) rand01 = 0;
  if (rand01 >= 1) rand01 = 0.999999;
  return milliseconds(int64_t(d / 2 + rand01 * d / 2));
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

namespace {

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

// One connection attempt's stream, kept alive by the handlers that use it.
struct Transport {
  std::variant<std::unique_ptr<PlainWs>, std::unique_ptr<TlsWs>> ws;
  std::string tls_note;  // why certificate verification failed, if it did
  template <class F>
  void Visit(F&& f) {
    std::visit([&](auto& p) { f(*p); }, ws);
  }
  void CloseSocket() {
    boost::system::error_code ec;
    Visit([&](auto& s) { beast::get_lowest_layer(s).socket().close(ec); });
  }
};

struct Slot {
  std::string method;
  bool done = false;
  bool abandoned = false;        // the caller gave up (subscribe timed out)
  bool fire_and_forget = false;  // nobody waits (unsubscribe from a callback)
  Result<json> result = Status::Internal("no reply yet");
  std::condition_variable cv;
  // Subscribe
  bool is_subscribe = false;
  std::string notification_method, unsubscribe_method;
  std::shared_ptr<SubscriptionCallback> callback;
  Subscription sub;
};

struct Sub {
  std::shared_ptr<SubscriptionCallback> callback;
  std::string unsubscribe_method;
  json id;
  uint64_t handle = 0;
};

struct Early {
  std::string key;
  Clock::time_point at;
  json result;
};

std::string SubKey(const std::string& method, const json& id) { return method + "\n" + DumpJson(id); }

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

struct JsonRpcWsClient::Impl {
  asio::io_context io;  // first member: destroyed last, after its handlers
  JsonRpcWsOptions opt;
  WsUrl url;
  ssl::context ssl_ctx{ssl::context::tls_client};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::thread::id io_thread_id;

  // I/O thread only.
  enum class State { kIdle, kConnecting, kOpen, kBackoff, kShutdown };
  State state = State::kIdle;
  uint64_t gen = 0;
  std::shared_ptr<Transport> transport;
  tcp::resolver resolver{io};
  asio::steady_timer connect_timer{io};
  asio::steady_timer backoff_timer{io};
  unsigned attempt = 0;
  Clock::time_point last_attempt{};
  std::deque<std::pair<uint64_t, std::shared_ptr<const std::string>>> outbox;  // waiting for open
  std::deque<std::shared_ptr<const std::string>> writes;
  size_t queued_bytes = 0;  // outbox + writes
  bool writing = false;
  beast::flat_buffer rbuf;
  std::map<std::string, Sub> subs;
  std::map<uint64_t, std::string> sub_keys;  // handle -> key
  std::deque<Early> early;
  std::vector<std::shared_ptr<Slot>> connect_waiters;
  std::mt19937_64 rng{std::random_device{}()};

  // Shared, under mu.
  mutable std::mutex mu;
  std::map<uint64_t, std::shared_ptr<Slot>> pending;
  uint64_t next_id = 0;
  uint64_t next_handle = 0;
  bool shut = false;
  JsonRpcWsStats stats;
  std::atomic<bool> open{false};

  std::string Where() const { return opt.url; }
  bool OnIoThread() const { return std::this_thread::get_id() == io_thread_id; }
  static size_t QueueLimit(const JsonRpcWsOptions& o) { return 2 * o.max_message_bytes; }

  Result<json> Request(const std::string& method, json params, milliseconds timeout,
                       const std::shared_ptr<Slot>& slot);
  void SendOnIo(uint64_t id, std::shared_ptr<const std::string> frame);
  void RequestConnect();
  void StartConnect();
  void WsHandshake(uint64_t g, std::shared_ptr<Transport> t);
  void Opened(uint64_t g, std::shared_ptr<Transport> t);
  void ConnectFailed(uint64_t g, const std::string& why);
  void ScheduleReconnect();
  void ConnectionLost(uint64_t g, const Status& reason);
  void FailAllPending(const Status& st);
  void EndAllSubs(const Status& st);
  void ReadLoop(uint64_t g, std::shared_ptr<Transport> t);
  void Write(std::shared_ptr<const std::string> frame);
  void DoWrite(uint64_t g, std::shared_ptr<Transport> t);
  void OnFrame(uint64_t g, std::string_view frame);
  void Deliver(const std::shared_ptr<SubscriptionCallback>& cb, const SubscriptionEvent& ev);
  Result<std::pair<std::string, json>> RemoveSub(uint64_t handle);
  void FireAndForget(const std::string& method, const json& params);
  void CompleteSlot(const std::shared_ptr<Slot>& slot, Result<json> r);
};

void JsonRpcWsClient::Impl::CompleteSlot(const std::shared_ptr<Slot>& slot, Result<json> r) {
  {
    std::lock_guard<std::mutex> lock(mu);
    slot->result = std::move(r);
    slot->done = true;
  }
  slot->cv.notify_all();
}

Result<json> JsonRpcWsClient::Impl::Request(const std::string& method, json params,
                                            milliseconds timeout,
                                            const std::shared_ptr<Slot>& slot) {
  if (OnIoThread()) {
    return Status::FailedPrecondition(Where() + ": " + method +
                                      ": called from a subscription callback (would deadlock)");
  }
  if (params.is_null()) params = json::array();
  if (!params.is_array() && !params.is_object()) {
    return Status::InvalidArgument(method + ": params must be an array or an object");
  }
  if (timeout.count() <= 0) timeout = opt.call_timeout;
  slot->method = method;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (shut) return Status::Cancelled(Where() + ": " + method + ": client shut down");
    if (pending.size() >= opt.max_pending_calls) {
      return Status::ResourceExhausted(Where() + ": " + method + ": over " +
                                       std::to_string(opt.max_pending_calls) + " calls in flight");
    }
    id = ++next_id;
    pending[id] = slot;
  }
  json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  auto frame = std::make_shared<const std::string>(DumpJson(req));
  if (frame->size() > opt.max_message_bytes) {
    std::lock_guard<std::mutex> lock(mu);
    pending.erase(id);
    return Status::InvalidArgument(method + ": request of " + std::to_string(frame->size()) +
                                   " bytes is over the " + std::to_string(opt.max_message_bytes) +
                                   "-byte limit");
  }
  asio::post(io, [this, id, frame] { SendOnIo(id, frame); });
  std::unique_lock<std::mutex> lock(mu);
  if (!slot->cv.wait_for(lock, timeout, [&] { return slot->done; })) {
    if (slot->is_subscribe) {
      slot->abandoned = true;  // a late reply gets an unsubscribe
    } else {
      pending.erase(id);
    }
    return Status::Timeout(Where() + ": " + method + ": no reply within " +
                           std::to_string(timeout.count()) + " ms");
  }
  return slot->result;
}

void JsonRpcWsClient::Impl::SendOnIo(uint64_t id, std::shared_ptr<const std::string> frame) {
  if (state == State::kShutdown) return;
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return;  // timed out or failed already
    slot = it->second;
    if (queued_bytes + frame->size() > QueueLimit(opt)) {
      pending.erase(it);
      slot->result = Status::ResourceExhausted(Where() + ": " + slot->method +
                                               ": send queue over " +
                                               std::to_string(QueueLimit(opt)) + " bytes");
      slot->done = true;
      slot->cv.notify_all();
      return;
    }
  }
  queued_bytes += frame->size();
  if (state == State::kOpen) {
    Write(std::move(frame));
  } else {
    outbox.emplace_back(id, std::move(frame));
    RequestConnect();
  }
}

void JsonRpcWsClient::Impl::RequestConnect() {
  switch (state) {
    case State::kIdle:
      StartConnect();
      break;
    case State::kBackoff: {
      // Demand: try now, but at most once per backoff_initial.
      auto at = std::max(Clock::now(), last_attempt + opt.backoff_initial);
      if (backoff_timer.expiry() > at) {
        backoff_timer.expires_at(at);
        backoff_timer.async_wait([this](boost::system::error_code ec) {
          if (!ec && state == State::kBackoff) StartConnect();
        });
      }
      break;
    }
    default:
      break;
  }
}

void JsonRpcWsClient::Impl::StartConnect() {
  state = State::kConnecting;
  uint64_t g = ++gen;
  last_attempt = Clock::now();
  connect_timer.expires_after(opt.connect_timeout);
  connect_timer.async_wait([this, g](boost::system::error_code ec) {
    if (ec || g != gen || state != State::kConnecting) return;
    ConnectFailed(g, "no connection within " + std::to_string(opt.connect_timeout.count()) + " ms");
  });
  resolver.async_resolve(url.host, url.port, [this, g](boost::system::error_code ec,
                                                       tcp::resolver::results_type results) {
    if (g != gen || state != State::kConnecting) return;
    if (ec) return ConnectFailed(g, "resolve " + url.host + ": " + ec.message());
    auto t = std::make_shared<Transport>();
    if (url.tls) {
      t->ws = std::make_unique<TlsWs>(io, ssl_ctx);
    } else {
      t->ws = std::make_unique<PlainWs>(io);
    }
    transport = t;
    t->Visit([&](auto& ws) {
      beast::get_lowest_layer(ws).async_connect(
          results, [this, g, t](boost::system::error_code cec, const tcp::endpoint&) {
            if (g != gen || state != State::kConnecting) return;
            if (cec) return ConnectFailed(g, "connect: " + cec.message());
            auto* tls = std::get_if<std::unique_ptr<TlsWs>>(&t->ws);
            if (!tls) return WsHandshake(g, t);
            auto& stream = (*tls)->next_layer();
            if (!IsIpLiteral(url.host)) {
              SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
            }
            stream.set_verify_mode(ssl::verify_peer);
            std::weak_ptr<Transport> wt = t;
            stream.set_verify_callback(
                [wt, check = ssl::host_name_verification(url.host), host = url.host](
                    bool preverified, ssl::verify_context& ctx) mutable {
                  bool ok = check(preverified, ctx);
                  auto tr = wt.lock();
                  if (!ok && tr && tr->tls_note.empty()) {
                    int err = X509_STORE_CTX_get_error(ctx.native_handle());
                    tr->tls_note = preverified ? "certificate does not match host name " + host
                                               : X509_verify_cert_error_string(err);
                  }
                  return ok;
                });
            stream.async_handshake(ssl::stream_base::client, [this, g, t](
                                                                 boost::system::error_code hec) {
              if (g != gen || state != State::kConnecting) return;
              if (hec) {
                std::string why = "TLS handshake: " + hec.message();
                if (!t->tls_note.empty()) why += " (" + t->tls_note + ")";
                return ConnectFailed(g, why);
              }
              WsHandshake(g, t);
            });
          });
    });
  });
}

void JsonRpcWsClient::Impl::WsHandshake(uint64_t g, std::shared_ptr<Transport> t) {
  t->Visit([&](auto& ws) {
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout to{};
    to.handshake_timeout = opt.connect_timeout;
    to.idle_timeout = opt.idle_timeout.count() > 0
                          ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                opt.idle_timeout)
                          : websocket::stream_base::none();
    to.keep_alive_pings = opt.idle_timeout.count() > 0;
    ws.set_option(to);
    ws.read_message_max(opt.max_message_bytes);
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "qstor");
    }));
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    ws.async_handshake(host + ":" + url.port, url.target,
                       [this, g, t](boost::system::error_code ec) {
                         if (g != gen || state != State::kConnecting) return;
                         if (ec) return ConnectFailed(g, "websocket handshake: " + ec.message());
                         Opened(g, t);
                       });
  });
}

void JsonRpcWsClient::Impl::Opened(uint64_t g, std::shared_ptr<Transport> t) {
  connect_timer.cancel();
  state = State::kOpen;
  attempt = 0;
  open = true;
  {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.connects;
  }
  spdlog::debug("jsonrpc: connected to {}", Where());
  ReadLoop(g, t);
  auto queued = std::move(outbox);
  outbox.clear();
  queued_bytes = 0;
  for (auto& [id, frame] : queued) {
    bool live;
    {
      std::lock_guard<std::mutex> lock(mu);
      live = pending.count(id) != 0;
    }
    if (live) {
      queued_bytes += frame->size();
      Write(frame);
    }
  }
  for (auto& w : connect_waiters) CompleteSlot(w, json(true));
  connect_waiters.clear();
}

void JsonRpcWsClient::Impl::ConnectFailed(uint64_t g, const std::string& why) {
  if (g != gen || state != State::kConnecting) return;
  connect_timer.cancel();
  resolver.cancel();
  if (transport) transport->CloseSocket();
  transport.reset();
  std::string msg = Where() + ": " + why;
  {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.failed_connects;
  }
  spdlog::debug("jsonrpc: {}", msg);
  outbox.clear();
  queued_bytes = 0;
  Status st = Status::Unavailable(msg);
  FailAllPending(st);
  for (auto& w : connect_waiters) CompleteSlot(w, st);
  connect_waiters.clear();
  ScheduleReconnect();
}

void JsonRpcWsClient::Impl::ScheduleReconnect() {
  state = State::kBackoff;
  double r = std::uniform_real_distribution<double>(0, 1)(rng);
  auto delay = BackoffDelay(attempt, opt.backoff_initial, opt.backoff_max, r);
  if (attempt < 64) ++attempt;
  backoff_timer.expires_after(delay);
  backoff_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec && state == State::kBackoff) StartConnect();
  });
}

void JsonRpcWsClient::Impl::FailAllPending(const Status& st) {
  std::map<uint64_t, std::shared_ptr<Slot>> failed;
  {
    std::lock_guard<std::mutex> lock(mu);
    failed.swap(pending);
    for (auto& [id, slot] : failed) {
      slot->result = Status(st.code(), st.message() + " (" + slot->method + ")");
      slot->done = true;
    }
  }
  for (auto& [id, slot] : failed) slot->cv.notify_all();
}

void JsonRpcWsClient::Impl::EndAllSubs(const Status& st) {
  auto ended = std::move(subs);
  subs.clear();
  sub_keys.clear();
  early.clear();
  for (auto& [key, sub] : ended) {
    SubscriptionEvent ev;
    ev.kind = SubscriptionEvent::Kind::kClosed;
    ev.status = Status(st.code(), st.message() + " (subscription " + Printable(DumpJson(sub.id)) +
                                      " ended; re-query state)");
    Deliver(sub.callback, ev);
  }
}

void JsonRpcWsClient::Impl::ConnectionLost(uint64_t g, const Status& reason) {
  if (g != gen || state != State::kOpen) return;
  open = false;
  spdlog::debug("jsonrpc: {}", reason.message());
  if (transport) transport->CloseSocket();
  transport.reset();
  writes.clear();
  writing = false;
  queued_bytes = 0;
  rbuf.clear();
  // Subscriptions first: a caller whose call fails sees its subscriptions
  // already ended.
  EndAllSubs(Status::Unavailable(Where() + ": connection lost"));
  FailAllPending(reason);
  ScheduleReconnect();
}

void JsonRpcWsClient::Impl::ReadLoop(uint64_t g, std::shared_ptr<Transport> t) {
  t->Visit([&](auto& ws) {
    ws.async_read(rbuf, [this, g, t](boost::system::error_code ec, size_t) {
      if (g != gen || state != State::kOpen) return;
      if (ec) {
        Status why;
        if (ec == websocket::error::message_too_big) {
          why = Status::Protocol(Where() + ": server sent a frame over " +
                                 std::to_string(opt.max_message_bytes) + " bytes");
        } else if (ec == websocket::error::closed) {
          why = Status::Unavailable(Where() + ": connection lost: server closed the connection");
        } else {
          why = Status::Unavailable(Where() + ": connection lost: " + ec.message());
        }
        return ConnectionLost(g, why);
      }
      std::string frame = beast::buffers_to_string(rbuf.data());
      rbuf.consume(rbuf.size());
      OnFrame(g, frame);
      if (g == gen && state == State::kOpen) ReadLoop(g, t);
    });
  });
}

void JsonRpcWsClient::Impl::Write(std::shared_ptr<const std::string> frame) {
  writes.push_back(std::move(frame));
  if (!writing && transport) DoWrite(gen, transport);
}

void JsonRpcWsClient::Impl::DoWrite(uint64_t g, std::shared_ptr<Transport> t) {
  writing = true;
  auto frame = writes.front();
  t->Visit([&](auto& ws) {
    ws.text(true);
    ws.async_write(asio::buffer(*frame), [this, g, t, frame](boost::system::error_code ec, size_t) {
      if (g != gen || state != State::kOpen) return;
      writes.pop_front();
      queued_bytes -= std::min(queued_bytes, frame->size());
      if (ec) return ConnectionLost(g, Status::Unavailable(Where() + ": write: " + ec.message()));
      if (writes.empty()) {
        writing = false;
      } else {
        DoWrite(g, t);
      }
    });
  });
}

void JsonRpcWsClient::Impl::Deliver(const std::shared_ptr<SubscriptionCallback>& cb,
                                    const SubscriptionEvent& ev) {
  try {
    (*cb)(ev);
  } catch (const std::exception& e) {
    spdlog::warn("jsonrpc: {}: a subscription callback threw: {}", Where(), e.what());
  } catch (...) {
    spdlog::warn("jsonrpc: {}: a subscription callback threw", Where());
  }
}

void JsonRpcWsClient::Impl::FireAndForget(const std::string& method, const json& params) {
  auto slot = std::make_shared<Slot>();
  slot->method = method;
  slot->fire_and_forget = true;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu);
    id = ++next_id;
    pending[id] = slot;
  }
  json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  SendOnIo(id, std::make_shared<const std::string>(DumpJson(req)));
}

void JsonRpcWsClient::Impl::OnFrame(uint64_t g, std::string_view frame) {
  JsonRpcIncoming in = ParseJsonRpcIncoming(frame);
  if (in.kind == JsonRpcIncoming::Kind::kInvalid) {
    return ConnectionLost(g, Status::Protocol(Where() + ": server sent a frame that is not " +
                                              "JSON-RPC (" + in.error + "): " + Printable(frame, 80)));
  }
  if (in.kind == JsonRpcIncoming::Kind::kNotification) {
    if (in.subscription.is_null()) {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.dropped_notifications;
      return;
    }
    std::string key = SubKey(in.method, in.subscription);
    auto it = subs.find(key);
    if (it == subs.end()) {
      // Possibly before the subscribe reply: keep for a while, bounded.
      auto now = Clock::now();
      size_t dropped = 0;
      while (!early.empty() && (early.size() >= opt.max_early_notifications ||
                                now - early.front().at > std::chrono::seconds(60))) {
        early.pop_front();
        ++dropped;
      }
      if (opt.max_early_notifications > 0) {
        early.push_back({std::move(key), now, std::move(in.result)});
      } else {
        ++dropped;
      }
      if (dropped) {
        std::lock_guard<std::mutex> lock(mu);
        stats.dropped_notifications += dropped;
      }
      return;
    }
    SubscriptionEvent ev;
    ev.result = std::move(in.result);
    auto cb = it->second.callback;  // the callback may Unsubscribe itself
    Deliver(cb, ev);
    return;
  }
  // A reply.
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(in.id);
    if (in.id == 0 || it == pending.end()) {
      ++stats.unknown_replies;
      if (in.is_error && in.id == 0) {
        spdlog::warn("jsonrpc: {}: error reply without a request id: {} {}", Where(), in.error_code,
                     Printable(in.error_message));
      }
      return;
    }
    slot = it->second;
    pending.erase(it);
  }
  if (slot->fire_and_forget) return;
  if (in.is_error) {
    return CompleteSlot(slot, JsonRpcErrorStatus(slot->method, in.error_code, in.error_message,
                                                 in.result));
  }
  if (!slot->is_subscribe) return CompleteSlot(slot, std::move(in.result));
  bool abandoned;
  {
    std::lock_guard<std::mutex> lock(mu);
    abandoned = slot->abandoned;
  }
  if (abandoned) {
    FireAndForget(slot->unsubscribe_method, json::array({in.result}));
    return;
  }
  if (!in.result.is_string() && !in.result.is_number_integer()) {
    return CompleteSlot(slot, Status::Protocol(Where() + ": " + slot->method +
                                               ": subscription id is not a string or integer: " +
                                               Printable(DumpJson(in.result))));
  }
  std::string key = SubKey(slot->notification_method, in.result);
  uint64_t handle;
  {
    std::lock_guard<std::mutex> lock(mu);
    handle = ++next_handle;
  }
  subs[key] = Sub{slot->callback, slot->unsubscribe_method, in.result, handle};
  sub_keys[handle] = key;
  {
    std::lock_guard<std::mutex> lock(mu);
    slot->sub = Subscription{handle, in.result};
  }
  CompleteSlot(slot, in.result);
  // Notifications that came before this reply, in order.
  std::vector<json> before;
  for (auto it = early.begin(); it != early.end();) {
    if (it->key == key) {
      before.push_back(std::move(it->result));
      it = early.erase(it);
    } else {
      ++it;
    }
  }
  auto cb = slot->callback;
  for (auto& r : before) {
    if (!sub_keys.count(handle)) break;  // a callback unsubscribed
    SubscriptionEvent ev;
    ev.result = std::move(r);
    Deliver(cb, ev);
  }
}

Result<std::pair<std::string, json>> JsonRpcWsClient::Impl::RemoveSub(uint64_t handle) {
  auto k = sub_keys.find(handle);
  if (k == sub_keys.end()) {
    return Status::NotFound(Where() + ": subscription " + std::to_string(handle) +
                            " already ended");
  }
  auto s = subs.find(k->second);
  std::pair<std::string, json> out{s->second.unsubscribe_method, s->second.id};
  subs.erase(s);
  sub_keys.erase(k);
  return out;
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

JsonRpcWsClient::JsonRpcWsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JsonRpcWsClient::~JsonRpcWsClient() {
  if (!impl_) return;
  if (impl_->OnIoThread()) {
    // Dropped from inside a callback: the I/O thread cannot join itself.
    spdlog::error("jsonrpc: {}: last reference dropped on its own I/O thread; leaking it",
                  impl_->Where());
    (void)impl_.release();
    return;
  }
  Shutdown();
}

Result<std::shared_ptr<JsonRpcWsClient>> JsonRpcWsClient::Create(JsonRpcWsOptions options) {
  auto u = ParseWsUrl(options.url);
  if (!u.ok()) return u.status();
  if (options.max_message_bytes < 1024) {
    return Status::InvalidArgument("jsonrpc: max_message_bytes under 1024");
  }
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial) {
    return Status::InvalidArgument("jsonrpc: backoff_initial must be > 0 and <= backoff_max");
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->url = *u;
  if (impl->url.tls) {
    boost::system::error_code ec;
    impl->ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                  ssl::context::no_tlsv1_1,
                              ec);
    impl->ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
    if (impl->opt.use_system_ca) {
      impl->ssl_ctx.set_default_verify_paths(ec);
      if (ec) spdlog::warn("jsonrpc: system CA store: {}", ec.message());
    }
    if (!impl->opt.ca_file.empty()) {
      impl->ssl_ctx.load_verify_file(impl->opt.ca_file, ec);
      if (ec) {
        return Status::InvalidArgument("jsonrpc: CA file " + impl->opt.ca_file + ": " +
                                       ec.message());
      }
    }
  }
  impl->work.emplace(impl->io.get_executor());
  Impl* raw = impl.get();
  std::promise<void> started;
  auto ready = started.get_future();
  impl->thread = std::thread([raw, &started] {
    raw->io_thread_id = std::this_thread::get_id();
    started.set_value();
    raw->io.run();
  });
  ready.wait();
  return std::shared_ptr<JsonRpcWsClient>(new JsonRpcWsClient(std::move(impl)));
}

Result<std::shared_ptr<JsonRpcWsClient>> JsonRpcWsClient::Shared(const JsonRpcWsOptions& options) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<JsonRpcWsClient>> clients;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = options.url + "\n" + options.ca_file;
  if (auto c = clients[key].lock()) return c;
  auto made = Create(options);
  if (made.ok()) clients[key] = *made;
  return made;
}

Status JsonRpcWsClient::Connect() {
  if (impl_->open) return Status::OK();
  if (impl_->OnIoThread()) {
    return Status::FailedPrecondition(impl_->Where() + ": Connect from a subscription callback");
  }
  auto slot = std::make_shared<Slot>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->shut) return Status::Cancelled(impl_->Where() + ": client shut down");
  }
  Impl* im = impl_.get();
  asio::post(im->io, [im, slot] {
    if (im->state == Impl::State::kShutdown) return;
    if (im->state == Impl::State::kOpen) return im->CompleteSlot(slot, json(true));
    im->connect_waiters.push_back(slot);
    im->RequestConnect();
  });
  std::unique_lock<std::mutex> lock(im->mu);
  auto limit = im->opt.connect_timeout + im->opt.backoff_initial + milliseconds(1000);
  if (!slot->cv.wait_for(lock, limit, [&] { return slot->done || im->shut; })) {
    return Status::Timeout(im->Where() + ": no connection within " +
                           std::to_string(limit.count()) + " ms");
  }
  if (!slot->done) return Status::Cancelled(im->Where() + ": client shut down");
  return slot->result.status();
}

bool JsonRpcWsClient::connected() const { return impl_->open; }

Result<json> JsonRpcWsClient::Call(const std::string& method, json params,
                                   std::chrono::milliseconds timeout) {
  return impl_->Request(method, std::move(params), timeout, std::make_shared<Slot>());
}

Result<Subscription> JsonRpcWsClient::Subscribe(const std::string& method, json params,
                                                const std::string& notification_method,
                                                const std::string& unsubscribe_method,
                                                SubscriptionCallback callback,
                                                std::chrono::milliseconds timeout) {
  if (!callback) return Status::InvalidArgument(method + ": no callback");
  auto slot = std::make_shared<Slot>();
  slot->is_subscribe = true;
  slot->notification_method = notification_method;
  slot->unsubscribe_method = unsubscribe_method;
  slot->callback = std::make_shared<SubscriptionCallback>(std::move(callback));
  auto r = impl_->Request(method, std::move(params), timeout, slot);
  if (!r.ok()) return r.status();
  std::lock_guard<std::mutex> lock(impl_->mu);
  return slot->sub;
}

Status JsonRpcWsClient::Unsubscribe(const Subscription& subscription) {
  Impl* im = impl_.get();
  if (im->OnIoThread()) {
    auto removed = im->RemoveSub(subscription.handle);
    if (!removed.ok()) return removed.status();
    im->FireAndForget(removed->first, json::array({removed->second}));
    return Status::OK();
  }
  {
    std::lock_guard<std::mutex> lock(im->mu);
    if (im->shut) return Status::Cancelled(im->Where() + ": client shut down");
  }
  auto done = std::make_shared<std::promise<Result<std::pair<std::string, json>>>>();
  auto fut = done->get_future();
  asio::post(im->io, [im, done, h = subscription.handle] { done->set_value(im->RemoveSub(h)); });
  if (fut.wait_for(im->opt.call_timeout) != std::future_status::ready) {
    return Status::Timeout(im->Where() + ": unsubscribe: the I/O thread did not answer");
  }
  auto removed = fut.get();
  if (!removed.ok()) return removed.status();
  auto r = Call(removed->first, json::array({removed->second}));
  if (!r.ok()) return r.status();
  if (*r != json(true)) {
    return Status::FailedPrecondition(removed->first + ": server answered " +
                                      Printable(DumpJson(*r)));
  }
  return Status::OK();
}

void JsonRpcWsClient::Shutdown() {
  Impl* im = impl_.get();
  if (!im) return;
  {
    std::lock_guard<std::mutex> lock(im->mu);
    if (!im->shut) {
      im->shut = true;
      Status st = Status::Cancelled(im->Where() + ": client shut down");
      for (auto& [id, slot] : im->pending) {
        slot->result = st;
        slot->done = true;
        slot->cv.notify_all();
      }
      im->pending.clear();
      asio::post(im->io, [im] {
        Status cancelled = Status::Cancelled(im->Where() + ": client shut down");
        bool was_open = im->state == Impl::State::kOpen;
        im->state = Impl::State::kShutdown;
        ++im->gen;
        im->open = false;
        im->connect_timer.cancel();
        im->backoff_timer.cancel();
        im->resolver.cancel();
        for (auto& w : im->connect_waiters) im->CompleteSlot(w, cancelled);
        im->connect_waiters.clear();
        im->EndAllSubs(cancelled);
        auto t = std::move(im->transport);
        if (t && was_open && !im->writing) {
          // A polite close, bounded by a second.
          auto timer = std::make_shared<asio::steady_timer>(im->io, std::chrono::seconds(1));
          timer->async_wait([t](boost::system::error_code ec) {
            if (!ec) t->CloseSocket();
          });
          t->Visit([&](auto& ws) {
            ws.async_close(websocket::close_code::normal,
                           [t, timer](boost::system::error_code) {
                             timer->cancel();
                             t->CloseSocket();
                           });
          });
        } else if (t) {
          t->CloseSocket();
        }
        im->work.reset();
      });
    }
  }
  if (im->thread.joinable() && !im->OnIoThread()) im->thread.join();
}

JsonRpcWsStats JsonRpcWsClient::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

const std::string& JsonRpcWsClient::url() const { return impl_->opt.url; }

}  // namespace qstor::grid
