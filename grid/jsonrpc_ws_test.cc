// The JSON-RPC WebSocket client: its pure pieces, and the client against a
// scripted WebSocket server written here (plain and TLS) that sends what a
// broken or hostile node might. The client against the devnet's real server
// is in devnet/jsonrpc_ws_server_test.cc.
#include "grid/jsonrpc_ws.h"
#include "grid/jsonrpc_ws_test_util.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

namespace qstor::grid {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Pure pieces
// ---------------------------------------------------------------------------

TEST(JsonRpcWs, ParsesUrls) {
  auto u = ParseWsUrl("wss://tfchain.grid.tf/ws");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "tfchain.grid.tf");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/ws");
  u = ParseWsUrl("ws://127.0.0.1:9944");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, "9944");
  EXPECT_EQ(u->target, "/");
  u = ParseWsUrl("WS://[::1]:9944/x?y=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/x?y=1");
  for (const char* bad : {"http://x", "ws://", "ws://:80", "ws://h:0", "ws://h:65536", "ws://h:8a",
                          "ws://u@h", "ws://h h", "ws://[::1", "wss://[::1]x"}) {
    auto r = ParseWsUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    }
  }
}

TEST(JsonRpcWs, ClassifiesFrames) {
  auto r = ParseJsonRpcIncoming(R"({"jsonrpc":"2.0","id":7,"result":"0xabc"})");
  ASSERT_EQ(r.kind, JsonRpcIncoming::Kind::kReply);
  EXPECT_EQ(r.id, 7u);
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.result, "0xabc");

  r = ParseJsonRpcIncoming(
      R"({"jsonrpc":"2.0","id":8,"error":{"code":1010,"message":"Invalid Transaction","data":"Bad signature"}})");
  ASSERT_EQ(r.kind, JsonRpcIncoming::Kind::kReply);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.error_code, 1010);
  EXPECT_EQ(r.error_message, "Invalid Transaction");
  EXPECT_EQ(r.result, "Bad signature");

  r = ParseJsonRpcIncoming(
      R"({"jsonrpc":"2.0","method":"author_extrinsicUpdate","params":{"subscription":"s1","result":{"inBlock":"0x01"}}})");
  ASSERT_EQ(r.kind, JsonRpcIncoming::Kind::kNotification);
  EXPECT_EQ(r.method, "author_extrinsicUpdate");
  EXPECT_EQ(r.subscription, "s1");
  EXPECT_EQ(r.result["inBlock"], "0x01");

  // A reply with a string id is not one of ours (we send integers).
  r = ParseJsonRpcIncoming(R"({"jsonrpc":"2.0","id":"7","result":1})");
  EXPECT_EQ(r.kind, JsonRpcIncoming::Kind::kReply);
  EXPECT_EQ(r.id, 0u);

  for (std::string bad : {std::string("garbage"), std::string("[1,2]"), std::string("{}"),
                          std::string("\"x\""), std::string(R"({"id":1})"),
                          std::string(R"({"method":5})"), std::string(1000, '['),
                          std::string("{\"id\":1,\"result\":\"\xff\"}")}) {
    r = ParseJsonRpcIncoming(bad);
    EXPECT_EQ(r.kind, JsonRpcIncoming::Kind::kInvalid) << bad.substr(0, 40);
    EXPECT_FALSE(r.error.empty());
  }
  EXPECT_NE(ParseJsonRpcIncoming(std::string(1000, '[')).error.find("nested deeper than 128"),
            std::string::npos);
  // Brackets inside strings do not count as nesting.
  EXPECT_TRUE(ParseJsonBounded("[\"" + std::string(500, '[') + "\"]").ok());
}

TEST(JsonRpcWs, ErrorRepliesBecomeStatuses) {
  Status s = JsonRpcErrorStatus("chain_getBlockHash", -32601, "Method not found", nullptr);
  EXPECT_EQ(s.code(), Status::Code::kNotImplemented);
  EXPECT_EQ(s.message(), "chain_getBlockHash: RPC error -32601: Method not found");
  s = JsonRpcErrorStatus("author_submitExtrinsic", 1010, "Invalid Transaction",
                         "Transaction has a bad signature");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "author_submitExtrinsic: RPC error 1010: Invalid Transaction: Transaction has a bad "
            "signature");
  EXPECT_EQ(JsonRpcErrorStatus("m", -32602, "x", nullptr).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(JsonRpcErrorStatus("m", -32700, "x", nullptr).code(), Status::Code::kProtocol);
  EXPECT_EQ(JsonRpcErrorStatus("m", -32603, "x", nullptr).code(), Status::Code::kInternal);
}

TEST(JsonRpcWs, BackoffIsExponentialJitteredAndCapped) {
  const milliseconds init(200), max(10000);
  EXPECT_EQ(BackoffDelay(0, init, max, 0.0), milliseconds(100));
  EXPECT_EQ(BackoffDelay(0, init, max, 0.999), milliseconds(199));
  EXPECT_EQ(BackoffDelay(3, init, max, 0.0), milliseconds(800));
  EXPECT_EQ(BackoffDelay(3, init, max, 0.5), milliseconds(1200));
  for (unsigned a : {6u, 10u, 63u, 1000u}) {
    EXPECT_GE(BackoffDelay(a, init, max, 0.0), milliseconds(5000));
    EXPECT_LE(BackoffDelay(a, init, max, 0.999), max);
  }
}

// ---------------------------------------------------------------------------
// A scripted WebSocket server (blocking Beast; one connection at a time)
// ---------------------------------------------------------------------------

struct Out {
  std::string data;
  bool binary = false;
};
using Script = std::function<std::vector<Out>(const std::string& request)>;

class ScriptedWsServer {
 public:
  explicit ScriptedWsServer(Script script, ssl::context* tls = nullptr)
      : script_(std::move(script)), tls_(tls) {
    tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Loop(); });
  }
  ~ScriptedWsServer() {
    stop_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    }
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& host = "127.0.0.1") const {
    return std::string(tls_ ? "wss://" : "ws://") + host + ":" + std::to_string(port_);
  }
  int connections() const { return connections_; }

 private:
  void Loop() {
    while (!stop_) {
      boost::system::error_code ec;
      tcp::socket sock(io_);
      acceptor_.accept(sock, ec);
      if (ec) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        conn_fd_ = sock.native_handle();
      }
      if (tls_) {
        websocket::stream<ssl::stream<tcp::socket>> ws(std::move(sock), *tls_);
        ws.next_layer().handshake(ssl::stream_base::server, ec);
        if (!ec) Serve(ws);
      } else {
        websocket::stream<tcp::socket> ws(std::move(sock));
        Serve(ws);
      }
      std::lock_guard<std::mutex> lock(mu_);
      conn_fd_ = -1;
    }
  }
  template <class Ws>
  void Serve(Ws& ws) {
    boost::system::error_code ec;
    ws.accept(ec);
    if (ec) return;
    ++connections_;
    for (;;) {
      beast::flat_buffer b;
      ws.read(b, ec);
      if (ec) return;
      for (auto& o : script_(beast::buffers_to_string(b.data()))) {
        if (o.data == "CLOSE") return;  // drop the connection
        ws.binary(o.binary);
        ws.write(asio::buffer(o.data), ec);
        if (ec) return;
      }
    }
  }

  Script script_;
  ssl::context* tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  int conn_fd_ = -1;
};

json Req(const std::string& s) { return json::parse(s); }
std::string Reply(const json& req, const json& result) {
  return json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", result}}.dump();
}

std::shared_ptr<JsonRpcWsClient> MakeClient(const std::string& url,
                                            std::function<void(JsonRpcWsOptions&)> tweak = {}) {
  JsonRpcWsOptions o;
  o.url = url;
  o.call_timeout = milliseconds(5000);
  o.connect_timeout = milliseconds(3000);
  o.backoff_initial = milliseconds(50);
  o.backoff_max = milliseconds(400);
  if (tweak) tweak(o);
  auto c = JsonRpcWsClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

TEST(JsonRpcWsClient, CallsAndMatchesIdsAndBinaryFrames) {
  ScriptedWsServer server([](const std::string& in) -> std::vector<Out> {
    json r = Req(in);
    if (r["method"] == "binary") return {{Reply(r, "b"), true}};
    // An unknown id first, then the answer.
    json stray = {{"jsonrpc", "2.0"}, {"id", 987654}, {"result", "stray"}};
    return {{stray.dump()}, {Reply(r, r["params"])}};
  });
  auto c = MakeClient(server.url());
  auto r = c->Call("echo", json::array({1, "two"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json::array({1, "two"}));
  r = c->Call("binary", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "b");
  EXPECT_EQ(c->stats().unknown_replies, 1u);
  EXPECT_EQ(c->stats().connects, 1u);
  auto bad = c->Call("x", json(5));
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
}

TEST(JsonRpcWsClient, ErrorObjectBecomesStatus) {
  ScriptedWsServer server([](const std::string& in) -> std::vector<Out> {
    json r = Req(in);
    json e = {{"jsonrpc", "2.0"},
              {"id", r["id"]},
              {"error", {{"code", -32601}, {"message", "Method not found"}}}};
    return {{e.dump()}};
  });
  auto c = MakeClient(server.url());
  auto r = c->Call("chain_getBlockHash", json::array({0}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotImplemented);
  EXPECT_EQ(r.status().message(), "chain_getBlockHash: RPC error -32601: Method not found");
}

TEST(JsonRpcWsClient, GarbageFrameFailsTheCallClearlyAndTheClientRecovers) {
  std::atomic<int> n{0};
  ScriptedWsServer server([&](const std::string& in) -> std::vector<Out> {
    if (n++ == 0) return {{"this is not json \x01\x02"}};
    return {{Reply(Req(in), "ok")}};
  });
  auto c = MakeClient(server.url());
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Call("m");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProtocol);
  EXPECT_NE(r.status().message().find("not JSON-RPC"), std::string::npos) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // The next call reconnects (a call while disconnected asks for an attempt).
  Result<json> again = Status::Internal("unset");
  for (int i = 0; i < 50; ++i) {
    again = c->Call("m");
    if (again.ok()) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, "ok");
  EXPECT_EQ(c->stats().connects, 2u);
}

TEST(JsonRpcWsClient, HugeFrameIsRefused) {
  ScriptedWsServer server([](const std::string& in) -> std::vector<Out> {
    return {{Reply(Req(in), std::string(200 * 1024, 'a'))}};
  });
  auto c = MakeClient(server.url(), [](JsonRpcWsOptions& o) { o.max_message_bytes = 64 * 1024; });
  auto r = c->Call("state_getMetadata");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProtocol);
  EXPECT_NE(r.status().message().find("over 65536 bytes"), std::string::npos)
      << r.status().message();
}

TEST(JsonRpcWsClient, NotificationsBeforeTheSubscribeReplyAreDelivered) {
  ScriptedWsServer server([](const std::string& in) -> std::vector<Out> {
    json r = Req(in);
    if (r["method"] == "author_unwatchExtrinsic") return {{Reply(r, true)}};
    auto note = [](const json& result) {
      return json{{"jsonrpc", "2.0"},
                  {"method", "author_extrinsicUpdate"},
                  {"params", {{"subscription", "sub-7"}, {"result", result}}}}
          .dump();
    };
    // ready before the reply, inBlock after; a notification of another
    // subscription in between must not reach this callback.
    json other = {{"jsonrpc", "2.0"},
                  {"method", "author_extrinsicUpdate"},
                  {"params", {{"subscription", "sub-8"}, {"result", "ready"}}}};
    return {{note("ready")}, {other.dump()}, {Reply(r, "sub-7")}, {note({{"inBlock", "0x01"}})}};
  });
  auto c = MakeClient(server.url());
  testing::EventLog log;
  auto sub = c->Subscribe("author_submitAndWatchExtrinsic", json::array({"0x00"}),
                          "author_extrinsicUpdate", "author_unwatchExtrinsic", log.Callback());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(sub->id, "sub-7");
  auto got = log.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "ready");
  EXPECT_EQ(got[1], json({{"inBlock", "0x01"}}));
  EXPECT_TRUE(c->Unsubscribe(*sub).ok());
  EXPECT_EQ(c->Unsubscribe(*sub).code(), Status::Code::kNotFound);
  EXPECT_EQ(log.events().size(), 2u);
}

TEST(JsonRpcWsClient, DropFailsPendingCallsAndEndsSubscriptions) {
  ScriptedWsServer server([](const std::string& in) -> std::vector<Out> {
    json r = Req(in);
    if (r["method"] == "sub") return {{Reply(r, 42)}};
    if (r["method"] == "drop") return {{"CLOSE"}};
    return {};  // never answers
  });
  auto c = MakeClient(server.url());
  std::atomic<int> closed{0};
  Status closed_status;
  std::mutex mu;
  auto sub = c->Subscribe("sub", nullptr, "note", "unsub", [&](const SubscriptionEvent& ev) {
    if (ev.kind == SubscriptionEvent::Kind::kClosed) {
      std::lock_guard<std::mutex> lock(mu);
      closed_status = ev.status;
      ++closed;
    }
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Result<json> pending = Status::Internal("unset");
  std::thread waiter([&] { pending = c->Call("silent", nullptr, milliseconds(20000)); });
  std::this_thread::sleep_for(milliseconds(100));
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Call("drop");
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable) << r.status().ToString();
  EXPECT_EQ(pending.status().code(), Status::Code::kUnavailable) << pending.status().ToString();
  EXPECT_NE(pending.status().message().find("connection lost"), std::string::npos);
  EXPECT_EQ(closed, 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(closed_status.code(), Status::Code::kUnavailable);
  EXPECT_NE(closed_status.message().find("re-query state"), std::string::npos);
}

TEST(JsonRpcWsClient, RefusedConnectionFailsFastAndCallTimeoutsAreKept) {
  uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto c = MakeClient("ws://127.0.0.1:" + std::to_string(port));
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Call("m");
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("connect"), std::string::npos) << r.status().message();
  r = c->Call("m");  // while in backoff: asks for an attempt, fails with it
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_GE(c->stats().failed_connects, 2u);

  ScriptedWsServer silent([](const std::string&) -> std::vector<Out> { return {}; });
  auto c2 = MakeClient(silent.url());
  t0 = std::chrono::steady_clock::now();
  r = c2->Call("m", nullptr, milliseconds(200));
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_NE(r.status().message().find("no reply within 200 ms"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1500));
}

TEST(JsonRpcWsClient, SharedIsOnePerUrl) {
  JsonRpcWsOptions o;
  o.url = "ws://127.0.0.1:1";
  auto a = JsonRpcWsClient::Shared(o);
  auto b = JsonRpcWsClient::Shared(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  o.url = "ws://127.0.0.1:2";
  auto d = JsonRpcWsClient::Shared(o);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(a->get(), d->get());
}

// ---------------------------------------------------------------------------
// wss: a self-signed certificate made here with OpenSSL
// ---------------------------------------------------------------------------

struct TestCert {
  std::string cert_pem, key_pem;
};

TestCert MakeSelfSigned(const std::string& dns_name) {
  TestCert out;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("qstor test CA"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::pair<int, std::string> extensions[] = {
      {NID_subject_alt_name, "DNS:" + dns_name},
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"}};
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(x, key, EVP_sha256()), 0);
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, size_t(n));
    BIO_free(bio);
    return s;
  };
  out.cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  out.key_pem = to_pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

class JsonRpcWssTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = MakeSelfSigned("localhost");
    ctx_.use_certificate_chain(asio::buffer(cert_.cert_pem));
    ctx_.use_private_key(asio::buffer(cert_.key_pem), ssl::context::pem);
    ca_file_ = (std::filesystem::temp_directory_path() /
                ("qstor-jsonrpc-ca-" + std::to_string(::getpid()) + ".pem"))
                   .string();
    std::ofstream(ca_file_) << cert_.cert_pem;
    server_ = std::make_unique<ScriptedWsServer>(
        [](const std::string& in) -> std::vector<Out> { return {{Reply(Req(in), "tls-ok")}}; },
        &ctx_);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove(ca_file_);
  }
  TestCert cert_;
  ssl::context ctx_{ssl::context::tls_server};
  std::string ca_file_;
  std::unique_ptr<ScriptedWsServer> server_;
};

TEST_F(JsonRpcWssTest, RefusesACertificateNoTrustedCaSigned) {
  auto c = MakeClient(server_->url("localhost"));
  auto r = c->Call("m");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("self-signed certificate"), std::string::npos)
      << r.status().message();
}

TEST_F(JsonRpcWssTest, AcceptsItWithTheCaFileAndTheRightName) {
  auto c = MakeClient(server_->url("localhost"),
                      [&](JsonRpcWsOptions& o) { o.ca_file = ca_file_; });
  auto r = c->Call("m");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "tls-ok");
}

TEST_F(JsonRpcWssTest, RefusesAWrongHostName) {
  // 127.0.0.1 reaches the same server, but the certificate names localhost.
  auto c = MakeClient(server_->url("127.0.0.1"),
                      [&](JsonRpcWsOptions& o) { o.ca_file = ca_file_; });
  auto r = c->Call("m");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("does not match host name 127.0.0.1"), std::string::npos)
      << r.status().message();
}

TEST(JsonRpcWss, MissingCaFileIsAClearError) {
  JsonRpcWsOptions o;
  o.url = "wss://localhost:1";
  o.ca_file = "/nonexistent/ca.pem";
  auto c = JsonRpcWsClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("/nonexistent/ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace qstor::grid
