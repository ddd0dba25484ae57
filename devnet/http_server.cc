#include "devnet/http_server.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <list>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "devnet/loopback_listen.h"

namespace qstor::devnet {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const std::string* HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? nullptr : &it->second;
}

const std::string* HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? nullptr : &it->second;
}

std::string UrlDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out += char(h * 16 + l);
        i += 2;
        continue;
      }
    }
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}

HttpResponse JsonError(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::thread accept_thread;
  std::mutex mu;
  std::map<std::thread::id, std::thread> threads;
  std::vector<std::thread::id> done;  // finished Serve threads, joined by AcceptLoop
  std::set<int> open_fds;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> active{0};

  void AcceptLoop();
  void Serve(tcp::socket sock);
};

void HttpServer::Impl::AcceptLoop() {
  while (!stopping) {
    boost::system::error_code ec;
    tcp::socket sock(io);
    acceptor.accept(sock, ec);
    if (ec) {
      if (stopping) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (active.load() >= options.max_connections) {
      sock.close(ec);
      continue;
    }
    std::vector<std::thread> finished;
    {
      std::lock_guard<std::mutex> lock(mu);
      // Join threads whose Serve() has returned (they are exiting).
      for (auto id : done) {
        auto it = threads.find(id);
        if (it != threads.end()) {
          finished.push_back(std::move(it->second));
          threads.erase(it);
        }
      }
      done.clear();
      ++active;
      open_fds.insert(sock.native_handle());
      std::thread t([this, s = std::move(sock)]() mutable { Serve(std::move(s)); });
      auto id = t.get_id();
      threads.emplace(id, std::move(t));
    }
    for (auto& t : finished) t.join();
  }
}

namespace {

// After an early error reply the client may still be sending its request
// body. Closing with unread bytes makes the kernel send a reset, and the
// client can lose the reply (curl: "Failed sending data to the peer").
// So: stop sending, then read and drop what comes until the client closes,
// for at most 2 s and 64 MiB.
void LingeringClose(tcp::socket& sock) {
  boost::system::error_code ec;
  sock.shutdown(tcp::socket::shutdown_send, ec);
  timeval tv{2, 0};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[64 * 1024];
  size_t total = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (total < (64u << 20) && std::chrono::steady_clock::now() < until) {
    size_t n = sock.read_some(asio::buffer(buf), ec);
    if (ec) break;
    total += n;
  }
}

}  // namespace

void HttpServer::Impl::Serve(tcp::socket sock) {
  int fd = sock.native_handle();
  timeval tv{options.idle_timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  beast::flat_buffer buffer;
  auto send = [&](const HttpResponse& r, bool keep_alive, unsigned version) -> bool {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "qstor-devnet");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
    return !ec;
  };
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(16 * 1024);
    boost::system::error_code ec;
    http::read(sock, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::error::bad_descriptor) {
      break;
    }
    if (ec == http::error::body_limit) {
      send(JsonError(413, "request body over " + std::to_string(options.max_body_bytes) +
                              " bytes"),
           false, 11);
      LingeringClose(sock);
      break;
    }
    if (ec) {
      if (ec != asio::error::would_block && ec != asio::error::try_again &&
          ec != asio::error::timed_out) {
        send(JsonError(400, "bad HTTP request: " + ec.message()), false, 11);
        LingeringClose(sock);
      }
      break;
    }
    auto& req = parser.get();
    HttpRequest hr;
    hr.method = std::string(req.method_string());
    hr.target = std::string(req.target());
    auto q = hr.target.find('?');
    hr.path = UrlDecode(std::string_view(hr.target).substr(0, q), false);
    if (q != std::string::npos) {
      std::string_view qs = std::string_view(hr.target).substr(q + 1);
      while (!qs.empty()) {
        auto amp = qs.find('&');
        std::string_view kv = qs.substr(0, amp);
        auto eq = kv.find('=');
        std::string k = UrlDecode(kv.substr(0, eq), true);
        std::string v = eq == std::string::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
        if (!k.empty()) hr.query.emplace(std::move(k), std::move(v));
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
    }
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
      hr.headers[name] = std::string(f.value());
    }
    hr.body = std::move(req.body());
    HttpResponse resp;
    try {
      resp = handler(hr);
    } catch (const std::exception& e) {
      resp = JsonError(500, std::string("internal error: ") + e.what());
    } catch (...) {
      resp = JsonError(500, "internal error");
    }
    bool keep = req.keep_alive() && !stopping;
    if (!send(resp, keep, req.version()) || !keep) break;
  }
  boost::system::error_code ec;
  sock.shutdown(tcp::socket::shutdown_both, ec);
  {
    std::lock_guard<std::mutex> lock(mu);
    open_fds.erase(fd);
    sock.close(ec);
    done.push_back(std::this_thread::get_id());
    --active;
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  boost::system::error_code ec = ListenOnLoopback(impl->acceptor, options.port);
  if (ec) {
    return Status::Unavailable("http server: cannot listen on 127.0.0.1:" +
                               std::to_string(options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  // Closing the acceptor from another thread does not always wake accept();
  // shutdown() on the fd does.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  impl_->acceptor.close(ec);
  std::map<std::thread::id, std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
    threads.swap(impl_->threads);
  }
  for (auto& [id, t] : threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace qstor::devnet
