#include "devnet/jsonrpc_ws_server.h"

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "devnet/loopback_listen.h"
#include "grid/jsonrpc_ws.h"

namespace qstor::devnet {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using grid::DumpJson;

// ---------------------------------------------------------------------------
// Dispatcher
// ---------------------------------------------------------------------------

struct JsonRpcDispatcher::Impl {
  mutable std::shared_mutex mu;
  std::map<std::string, std::shared_ptr<JsonRpcHandler>> handlers;
};

JsonRpcDispatcher::JsonRpcDispatcher() : impl_(std::make_unique<Impl>()) {}
JsonRpcDispatcher::~JsonRpcDispatcher() = default;

void JsonRpcDispatcher::Register(const std::string& method, JsonRpcHandler handler) {
  std::unique_lock<std::shared_mutex> lock(impl_->mu);
  impl_->handlers[method] = std::make_shared<JsonRpcHandler>(std::move(handler));
}

namespace {

json ErrorReply(const json& id, int code, const std::string& message,
                const json& data = nullptr) {
  json err = {{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

}  // namespace

namespace {

// One request object; nullopt for a notification (no id: no reply).
std::optional<json> DispatchOne(const json& req,
                                const std::map<std::string, std::shared_ptr<JsonRpcHandler>>& table,
                                const JsonRpcConnectionPtr& conn) {
  if (!req.is_object()) return ErrorReply(nullptr, -32600, "Invalid request: not an object");
  auto id_it = req.find("id");
  bool has_id = id_it != req.end();
  json id = has_id ? *id_it : json(nullptr);
  if (has_id && !id.is_null() && !id.is_string() && !id.is_number()) {
    return ErrorReply(nullptr, -32600, "Invalid request: id must be a string, number or null");
  }
  auto v = req.find("jsonrpc");
  if (v == req.end() || *v != "2.0") {
    return ErrorReply(id, -32600, "Invalid request: jsonrpc must be \"2.0\"");
  }
  auto m = req.find("method");
  if (m == req.end() || !m->is_string()) {
    return ErrorReply(id, -32600, "Invalid request: method must be a string");
  }
  json params = json::array();
  if (auto p = req.find("params"); p != req.end() && !p->is_null()) {
    if (!p->is_array() && !p->is_object()) {
      return has_id ? std::optional<json>(
                          ErrorReply(id, -32602, "Invalid params: must be an array or an object"))
                    : std::nullopt;
    }
    params = *p;
  }
  const std::string& method = m->get_ref<const std::string&>();
  auto h = table.find(method);
  if (h == table.end()) {
    if (!has_id) return std::nullopt;
    return ErrorReply(id, -32601, "Method not found");
  }
  JsonRpcResult result;
  try {
    result = (*h->second)(params, conn);
  } catch (const std::exception& e) {
    result = JsonRpcError::Internal(std::string("Internal error: ") + e.what());
  } catch (...) {
    result = JsonRpcError::Internal("Internal error");
  }
  if (!has_id) return std::nullopt;
  if (auto* err = std::get_if<JsonRpcError>(&result)) {
    return ErrorReply(id, err->code, err->message, err->data);
  }
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(std::get<json>(result))}};
}

}  // namespace

std::string JsonRpcDispatcher::Dispatch(std::string_view text,
                                        const JsonRpcConnectionPtr& conn) const {
  auto parsed = grid::ParseJsonBounded(text);
  if (!parsed.ok()) {
    return DumpJson(ErrorReply(nullptr, -32700, "Parse error: " + parsed.status().message()));
  }
  std::map<std::string, std::shared_ptr<JsonRpcHandler>> table;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->mu);
    table = impl_->handlers;  // handlers may (un)register while others run
  }
  if (!parsed->is_array()) {
    auto reply = DispatchOne(*parsed, table, conn);
    return reply ? DumpJson(*reply) : std::string();
  }
  if (parsed->empty()) return DumpJson(ErrorReply(nullptr, -32600, "Invalid request: empty batch"));
  json replies = json::array();
  for (const auto& req : *parsed) {
    if (auto reply = DispatchOne(req, table, conn)) replies.push_back(std::move(*reply));
  }
  return replies.empty() ? std::string() : DumpJson(replies);
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

namespace {

class Session;

// Lets a connection handle outlive the server: Notify() posts only while the
// server's io_context exists.
struct IoGuard {
  std::mutex mu;
  asio::io_context* io = nullptr;
  bool Post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    if (!io) return false;
    asio::post(*io, std::move(fn));
    return true;
  }
};

}  // namespace

struct JsonRpcWsServer::Impl {
  asio::io_context io;  // first member: destroyed last, with any handler it still holds
  JsonRpcWsServerOptions opt;
  JsonRpcDispatcher dispatcher;
  std::optional<asio::thread_pool> workers;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  uint16_t port = 0;
  std::thread io_thread;
  std::atomic<bool> stopping{false};
  std::shared_ptr<IoGuard> guard = std::make_shared<IoGuard>();
  mutable std::mutex mu;
  std::map<uint64_t, std::weak_ptr<Session>> sessions;  // open ones
  std::vector<std::weak_ptr<Session>> all;  // for Stop(): handles may outlive the server
  uint64_t next_id = 0;

  template <class S>
  std::shared_ptr<S> Add(tcp::socket sock) {  // under mu
    uint64_t id = ++next_id;
    auto s = std::make_shared<S>(this, id, std::move(sock));
    sessions[id] = s;
    std::erase_if(all, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    all.push_back(s);
    return s;
  }

  void Accept();
};

namespace {

// What the two kinds of connection share: identity, close callbacks, the
// server. All socket work happens on the server's I/O thread.
class Session : public JsonRpcConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(JsonRpcWsServer::Impl* srv, uint64_t id) : srv_(srv), guard_(srv->guard), id_(id) {}
  uint64_t id() const override { return id_; }
  bool open() const override { return open_; }
  void OnClose(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(close_mu_);
      if (!closed_) {
        on_close_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  // I/O thread: closes the socket, runs the close callbacks once.
  virtual void Close() = 0;
  // After the I/O thread has stopped: destroys the socket while its
  // io_context still exists (a handle may be held after the server is gone).
  virtual void Release() = 0;

 protected:
  void Closed() {
    open_ = false;
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard<std::mutex> lock(close_mu_);
      if (closed_) return;
      closed_ = true;
      fns.swap(on_close_);
    }
    {
      std::lock_guard<std::mutex> lock(srv_->mu);
      srv_->sessions.erase(id_);
    }
    for (auto& fn : fns) {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::warn("jsonrpc server: connection {}: close callback threw: {}", id_, e.what());
      }
    }
  }
  // Runs the dispatcher on a worker, then `done(reply)` on the I/O thread.
  void DispatchAsync(std::string text, std::function<void(std::string)> done) {
    auto self = shared_from_this();
    asio::post(*srv_->workers, [self, text = std::move(text), done = std::move(done)]() mutable {
      std::string reply = self->srv_->dispatcher.Dispatch(text, self);
      asio::post(self->srv_->io, [reply = std::move(reply), done = std::move(done)]() mutable {
        done(std::move(reply));
      });
    });
  }

  JsonRpcWsServer::Impl* srv_;  // only used on the server's threads
  std::shared_ptr<IoGuard> guard_;
  uint64_t id_;
  std::atomic<bool> open_{true};

 private:
  std::mutex close_mu_;
  bool closed_ = false;
  std::vector<std::function<void()>> on_close_;
};

class WsSession : public Session {
 public:
  WsSession(JsonRpcWsServer::Impl* srv, uint64_t id, tcp::socket sock)
      : Session(srv, id), ws_(std::in_place, std::move(sock)) {}

  bool supports_push() const override { return true; }

  bool Notify(const std::string& method, const json& subscription, const json& result) override {
    if (!open_) return false;
    json n = {{"jsonrpc", "2.0"},
              {"method", method},
              {"params", {{"subscription", subscription}, {"result", result}}}};
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    return guard_->Post([self, text = DumpJson(n)]() mutable { self->Send(std::move(text)); });
  }

  void Start(http::request<http::string_body> req) {
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "qstor-devnet");
    }));
    ws_->read_message_max(srv_->opt.max_message_bytes);
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    ws_->async_accept(req, [self](boost::system::error_code ec) {
      if (ec) return self->Close();
      self->Read();
    });
  }

  void Close() override {
    boost::system::error_code ec;
    if (ws_) beast::get_lowest_layer(*ws_).socket().close(ec);
    Closed();
  }
  void Release() override { ws_.reset(); }

 private:
  void Read() {
    if (!open_) return;
    if (inflight_ >= srv_->opt.max_inflight_per_connection) {
      read_paused_ = true;  // resumed when a reply is queued
      return;
    }
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    ws_->async_read(buf_, [self](boost::system::error_code ec, size_t) {
      if (ec) {
        if (ec != websocket::error::closed && ec != asio::error::eof &&
            ec != asio::error::operation_aborted) {
          spdlog::debug("jsonrpc server: connection {}: {}", self->id_, ec.message());
        }
        return self->Close();
      }
      std::string text = beast::buffers_to_string(self->buf_.data());
      self->buf_.consume(self->buf_.size());
      ++self->inflight_;
      self->DispatchAsync(std::move(text), [self](std::string reply) {
        --self->inflight_;
        if (!reply.empty()) self->Send(std::move(reply));
        if (self->read_paused_ && self->open_) {
          self->read_paused_ = false;
          self->Read();
        }
      });
      self->Read();
    });
  }

  void Send(std::string text) {
    if (!open_) return;
    if (queued_bytes_ + text.size() > srv_->opt.max_write_queue_bytes) {
      spdlog::warn("jsonrpc server: connection {}: write queue over {} bytes; closing", id_,
                   srv_->opt.max_write_queue_bytes);
      return Close();
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::make_shared<const std::string>(std::move(text)));
    if (!writing_) Write();
  }

  void Write() {
    writing_ = true;
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    auto frame = queue_.front();
    ws_->text(true);
    ws_->async_write(asio::buffer(*frame), [self, frame](boost::system::error_code ec, size_t) {
      self->queue_.pop_front();
      self->queued_bytes_ -= frame->size();
      if (ec) return self->Close();
      if (self->queue_.empty()) {
        self->writing_ = false;
      } else {
        self->Write();
      }
    });
  }

  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  beast::flat_buffer buf_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  size_t inflight_ = 0;
  bool read_paused_ = false;
};

// Plain HTTP: POST JSON-RPC (keep-alive), or the upgrade to a WsSession.
class HttpSession : public Session {
 public:
  HttpSession(JsonRpcWsServer::Impl* srv, uint64_t id, tcp::socket sock)
      : Session(srv, id), stream_(std::in_place, std::move(sock)) {}

  bool supports_push() const override { return false; }
  bool Notify(const std::string&, const json&, const json&) override { return false; }

  void Close() override {
    boost::system::error_code ec;
    if (stream_) stream_->socket().close(ec);
    Closed();
  }
  void Release() override { stream_.reset(); }

  void Read() {
    parser_.emplace();
    parser_->body_limit(srv_->opt.max_message_bytes);
    parser_->header_limit(16 * 1024);
    stream_->expires_after(std::chrono::seconds(60));
    auto self = std::static_pointer_cast<HttpSession>(shared_from_this());
    http::async_read(*stream_, buf_, *parser_, [self](boost::system::error_code ec, size_t) {
      self->OnRequest(ec);
    });
  }

 private:
  void OnRequest(boost::system::error_code ec) {
    if (ec == http::error::body_limit) {
      return Respond(http::status::payload_too_large,
                     DumpJson(ErrorReply(nullptr, -32600,
                                         "request body over " +
                                             std::to_string(srv_->opt.max_message_bytes) +
                                             " bytes")),
                     false, 11);
    }
    if (ec) return Close();
    auto& req = parser_->get();
    if (websocket::is_upgrade(req)) {
      stream_->expires_never();
      std::shared_ptr<WsSession> ws;
      {
        std::lock_guard<std::mutex> lock(srv_->mu);
        ws = srv_->Add<WsSession>(stream_->release_socket());
      }
      ws->Start(parser_->release());
      return Closed();  // this HTTP session ends; the socket lives on in ws
    }
    bool keep = req.keep_alive();
    unsigned version = req.version();
    if (req.method() != http::verb::post) {
      return Respond(http::status::method_not_allowed,
                     DumpJson(ErrorReply(nullptr, -32600,
                                         "JSON-RPC: use POST or a WebSocket upgrade")),
                     false, version);
    }
    auto self = std::static_pointer_cast<HttpSession>(shared_from_this());
    DispatchAsync(std::move(req.body()), [self, keep, version](std::string reply) {
      self->Respond(http::status::ok, std::move(reply), keep, version);
    });
  }

  void Respond(http::status status, std::string body, bool keep, unsigned version) {
    if (!open_) return;
    auto res = std::make_shared<http::response<http::string_body>>(status, version);
    res->set(http::field::server, "qstor-devnet");
    res->set(http::field::content_type, "application/json; charset=utf-8");
    res->keep_alive(keep && !srv_->stopping);
    res->body() = std::move(body);
    res->prepare_payload();
    auto self = std::static_pointer_cast<HttpSession>(shared_from_this());
    http::async_write(*stream_, *res, [self, res](boost::system::error_code ec, size_t) {
      if (ec || !res->keep_alive()) {
        boost::system::error_code ignored;
        self->stream_->socket().shutdown(tcp::socket::shutdown_send, ignored);
        return self->Close();
      }
      self->Read();
    });
  }

  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void JsonRpcWsServer::Impl::Accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket sock) {
    if (stopping) return;
    if (ec) {
      // EMFILE and friends: wait a little instead of spinning.
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](boost::system::error_code) {
        if (!stopping) Accept();
      });
      return;
    }
    std::shared_ptr<HttpSession> s;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (sessions.size() < opt.max_connections) s = Add<HttpSession>(std::move(sock));
    }
    if (s) {
      s->Read();
    } else {
      boost::system::error_code ignored;
      sock.close(ignored);
    }
    Accept();
  });
}

JsonRpcWsServer::JsonRpcWsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

JsonRpcWsServer::~JsonRpcWsServer() { Stop(); }

Result<std::unique_ptr<JsonRpcWsServer>> JsonRpcWsServer::Start(JsonRpcWsServerOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->opt = options;
  impl->workers.emplace(std::max<size_t>(1, options.handler_threads));
  impl->guard->io = &impl->io;
  boost::system::error_code ec = ListenOnLoopback(impl->acceptor, options.port);
  if (ec) {
    impl->workers->join();
    return Status::Unavailable("jsonrpc server: cannot listen on 127.0.0.1:" +
                               std::to_string(options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->io_thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<JsonRpcWsServer>(new JsonRpcWsServer(std::move(impl)));
}

uint16_t JsonRpcWsServer::port() const { return impl_->port; }

std::string JsonRpcWsServer::url() const {
  return "ws://127.0.0.1:" + std::to_string(impl_->port);
}

void JsonRpcWsServer::Register(const std::string& method, JsonRpcHandler handler) {
  impl_->dispatcher.Register(method, std::move(handler));
}

size_t JsonRpcWsServer::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->sessions.size();
}

void JsonRpcWsServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  Impl* im = impl_.get();
  // On the I/O thread: stop accepting and close every connection (their
  // close callbacks run there).
  std::promise<void> closed;
  asio::post(im->io, [im, &closed] {
    boost::system::error_code ec;
    im->acceptor.close(ec);
    im->accept_retry.cancel();
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard<std::mutex> lock(im->mu);
      for (auto& [id, w] : im->sessions) {
        if (auto s = w.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) s->Close();
    closed.set_value();
  });
  closed.get_future().wait();
  im->workers->join();  // handlers that are running finish
  im->io.stop();
  if (im->io_thread.joinable()) im->io_thread.join();
  {
    std::lock_guard<std::mutex> lock(im->guard->mu);
    im->guard->io = nullptr;
  }
  std::lock_guard<std::mutex> lock(im->mu);
  for (auto& w : im->all) {
    if (auto s = w.lock()) s->Release();
  }
}

}  // namespace qstor::devnet
