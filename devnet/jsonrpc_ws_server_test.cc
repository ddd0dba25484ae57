// The devnet's JSON-RPC server with qstor's WebSocket client on 127.0.0.1,
// with raw WebSocket and HTTP clients (Beast, libcurl) for what a well-behaved
// client never sends, and Node's `ws` package as an independent judge.
#include "devnet/jsonrpc_ws_server.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include "grid/http_client.h"
#include "grid/jsonrpc_ws.h"
#include "grid/jsonrpc_ws_test_util.h"

namespace qstor::devnet {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using grid::JsonRpcWsClient;
using grid::JsonRpcWsOptions;
using grid::SubscriptionEvent;
using nlohmann::json;
using std::chrono::milliseconds;

// A latch a handler can wait on (bounded, so a failing test cannot hang Stop).
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool AwaitWaiters(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

// Threads a handler starts, joined when the server drops its handlers.
struct Background {
  std::mutex mu;
  std::vector<std::thread> threads;
  void Run(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    threads.emplace_back(std::move(fn));
  }
  ~Background() {
    for (auto& t : threads) t.join();
  }
};

// The methods every test server offers.
void RegisterTestMethods(JsonRpcWsServer& s, Gate* gate) {
  auto bg = std::make_shared<Background>();
  s.Register("echo", [](const json& params, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    return params;
  });
  s.Register("add", [](const json& params, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (!params.is_array() || params.size() != 2 || !params[0].is_number_integer() ||
        !params[1].is_number_integer()) {
      return JsonRpcError::InvalidParams("add: expected [int, int]");
    }
    return params[0].get<int64_t>() + params[1].get<int64_t>();
  });
  s.Register("throws", [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    throw std::runtime_error("boom");
  });
  s.Register("hang", [gate](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult {
    if (gate) gate->Wait();
    return "late";
  });
  // Like author_submitAndWatchExtrinsic: "ready" is pushed before the reply
  // (the handler runs before its reply is queued), the rest after it.
  s.Register("author_submitAndWatchExtrinsic",
             [bg](const json& params, const JsonRpcConnectionPtr& conn) -> JsonRpcResult {
               if (!conn->supports_push()) {
                 return JsonRpcError{-32601, "Method not found",
                                     "subscriptions need a WebSocket connection"};
               }
               bool named = params.is_array() && !params.empty() && params[0].is_string();
               std::string sub = "sub-" + std::to_string(conn->id()) + "-" +
                                 (named ? params[0].get<std::string>() : "x");
               conn->Notify("author_extrinsicUpdate", sub, "ready");
               bg->Run([conn, sub] {
                 std::this_thread::sleep_for(milliseconds(20));
                 conn->Notify("author_extrinsicUpdate", sub, {{"inBlock", "0x01"}});
                 conn->Notify("author_extrinsicUpdate", sub, {{"finalized", "0x01"}});
               });
               return sub;
             });
  s.Register("author_unwatchExtrinsic",
             [](const json&, const JsonRpcConnectionPtr&) -> JsonRpcResult { return true; });
}

std::unique_ptr<JsonRpcWsServer> StartServer(Gate* gate = nullptr, uint16_t port = 0,
                                             size_t max_message = 1 << 20) {
  JsonRpcWsServerOptions o;
  o.port = port;
  o.max_message_bytes = max_message;
  auto s = JsonRpcWsServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  RegisterTestMethods(**s, gate);
  return std::move(*s);
}

std::shared_ptr<JsonRpcWsClient> Client(const std::string& url) {
  JsonRpcWsOptions o;
  o.url = url;
  o.call_timeout = milliseconds(5000);
  o.connect_timeout = milliseconds(2000);
  o.backoff_initial = milliseconds(50);
  o.backoff_max = milliseconds(500);
  auto c = JsonRpcWsClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

TEST(JsonRpcWsServer, CallsAndErrors) {
  auto s = StartServer();
  auto c = Client(s->url());
  auto r = c->Call("echo", json::array({"a", 1, json::object({{"k", nullptr}})}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json::array({"a", 1, json::object({{"k", nullptr}})}));
  r = c->Call("add", json::array({2, 40}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);

  r = c->Call("chain_getBlockHash", json::array({0}));
  EXPECT_EQ(r.status().code(), Status::Code::kNotImplemented);
  EXPECT_EQ(r.status().message(), "chain_getBlockHash: RPC error -32601: Method not found");
  r = c->Call("add", json::array({"x"}));
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "add: RPC error -32602: add: expected [int, int]");
  r = c->Call("throws");
  EXPECT_EQ(r.status().code(), Status::Code::kInternal);
  EXPECT_EQ(r.status().message(), "throws: RPC error -32603: Internal error: boom");
  EXPECT_EQ(c->stats().connects, 1u);
}

TEST(JsonRpcWsServer, ConcurrentCallsFromEightThreadsShareOneConnection) {
  auto s = StartServer();
  auto c = Client(s->url());
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        auto r = c->Call("add", json::array({t * 1000, i}));
        (r.ok() && *r == t * 1000 + i) ? ++ok : ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 2000);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(c->stats().connects, 1u);
  EXPECT_EQ(s->connections(), 1u);
}

TEST(JsonRpcWsServer, TimedOutCallLeavesTheConnectionUsable) {
  Gate gate;
  auto s = StartServer(&gate);
  auto c = Client(s->url());
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Call("hang", nullptr, milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_NE(r.status().message().find("hang: no reply within 300 ms"), std::string::npos)
      << r.status().message();
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(2000));
  auto again = c->Call("add", json::array({1, 1}));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 2);
  gate.Open();  // the late reply arrives and is dropped as unknown
  for (int i = 0; i < 100 && c->stats().unknown_replies == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(c->stats().unknown_replies, 1u);
  EXPECT_EQ(c->stats().connects, 1u);
}

TEST(JsonRpcWsServer, SubscriptionWithANotificationBeforeTheReply) {
  auto s = StartServer();
  auto c = Client(s->url());
  grid::testing::EventLog log;
  auto sub = c->Subscribe("author_submitAndWatchExtrinsic", json::array({"0xabcd"}),
                          "author_extrinsicUpdate", "author_unwatchExtrinsic", log.Callback());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  auto events = log.WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "ready");
  EXPECT_EQ(events[1], json({{"inBlock", "0x01"}}));
  EXPECT_EQ(events[2], json({{"finalized", "0x01"}}));
  EXPECT_TRUE(c->Unsubscribe(*sub).ok());
}

TEST(JsonRpcWsServer, ServerRestartFailsPendingCallsThenReconnects) {
  Gate gate;
  auto s = StartServer(&gate);
  uint16_t port = s->port();
  auto c = Client(s->url());
  ASSERT_TRUE(c->Call("echo", json::array({1})).ok());
  std::atomic<int> closed{0};
  auto sub = c->Subscribe("author_submitAndWatchExtrinsic", json::array({"a"}),
                          "author_extrinsicUpdate", "author_unwatchExtrinsic",
                          [&](const SubscriptionEvent& ev) {
                            if (ev.kind == SubscriptionEvent::Kind::kClosed) ++closed;
                          });
  ASSERT_TRUE(sub.ok());
  Result<json> pending = Status::Internal("unset");
  std::chrono::steady_clock::time_point failed_at;
  std::thread caller([&] {
    pending = c->Call("hang", nullptr, milliseconds(20000));
    failed_at = std::chrono::steady_clock::now();
  });
  ASSERT_TRUE(gate.AwaitWaiters(1));
  auto dropped_at = std::chrono::steady_clock::now();
  std::thread stopper([&] { s->Stop(); });  // closes sockets, then waits for "hang"
  caller.join();
  EXPECT_EQ(pending.status().code(), Status::Code::kUnavailable) << pending.status().ToString();
  EXPECT_NE(pending.status().message().find("connection lost"), std::string::npos);
  EXPECT_LT(failed_at - dropped_at, milliseconds(1000));
  gate.Open();
  stopper.join();
  s.reset();
  EXPECT_EQ(closed, 1);

  // Down: calls fail fast with kUnavailable, never hang.
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Call("echo", json::array({2}));
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1500));

  // Back on the same port: the client reconnects (backoff, or on demand).
  s = StartServer(nullptr, port);
  ASSERT_NE(s, nullptr);
  Result<json> back = Status::Internal("unset");
  for (int i = 0; i < 100; ++i) {
    back = c->Call("echo", json::array({3}));
    if (back.ok()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, json::array({3}));
  EXPECT_EQ(c->stats().connects, 2u);
}

TEST(JsonRpcWsServer, ManyConnections) {
  auto s = StartServer();
  std::vector<std::shared_ptr<JsonRpcWsClient>> clients;
  for (int i = 0; i < 24; ++i) clients.push_back(Client(s->url()));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k) {
        auto r = clients[i]->Call("add", json::array({i, k}));
        if (r.ok() && *r == i + k) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 24 * 20);
  EXPECT_EQ(s->connections(), 24u);
  clients.clear();  // each closes politely
  for (int i = 0; i < 100 && s->connections() > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(s->connections(), 0u);
}

// A raw WebSocket client: sends exactly the given frames.
class RawWs {
 public:
  explicit RawWs(uint16_t port) {
    ws_.next_layer().connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    ws_.handshake("127.0.0.1", "/");
  }
  void Send(const std::string& data, bool binary = false) {
    ws_.binary(binary);
    ws_.write(asio::buffer(data));
  }
  // The next frame as JSON, or the read error's text.
  Result<json> Next() {
    beast::flat_buffer b;
    boost::system::error_code ec;
    ws_.read(b, ec);
    if (ec) return Status::IOError(ec.message());
    return json::parse(beast::buffers_to_string(b.data()));
  }
  websocket::close_reason reason() const { return ws_.reason(); }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
};

TEST(JsonRpcWsServer, MalformedRequestsGetJsonRpcErrors) {
  auto s = StartServer(nullptr, 0, 4096);
  RawWs ws(s->port());
  auto code_of = [](const Result<json>& r) {
    return r.ok() ? r->value("/error/code"_json_pointer, 0) : -1;
  };
  ws.Send("{not json");
  auto r = ws.Next();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(code_of(r), -32700);
  EXPECT_TRUE((*r)["id"].is_null());
  ws.Send(std::string(500, '['));
  EXPECT_EQ(code_of(ws.Next()), -32700);
  ws.Send(R"({"jsonrpc":"2.0","id":1,"method":"nope"})");
  EXPECT_EQ(code_of(ws.Next()), -32601);
  ws.Send(R"({"jsonrpc":"2.0","id":2,"method":"echo","params":5})");
  EXPECT_EQ(code_of(ws.Next()), -32602);
  ws.Send(R"({"jsonrpc":"1.0","id":3,"method":"echo"})");
  EXPECT_EQ(code_of(ws.Next()), -32600);
  ws.Send(R"({"jsonrpc":"2.0","id":[1],"method":"echo"})");
  EXPECT_EQ(code_of(ws.Next()), -32600);
  ws.Send("[]");
  EXPECT_EQ(code_of(ws.Next()), -32600);
  // A binary frame is read as JSON too; a batch is answered as an array, a
  // notification (no id) gets no answer.
  ws.Send(R"([{"jsonrpc":"2.0","id":4,"method":"add","params":[1,2]},)"
          R"({"jsonrpc":"2.0","method":"add","params":[1,2]},)"
          R"({"jsonrpc":"2.0","id":5,"method":"echo","params":{"a":1}}])",
          true);
  r = ws.Next();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->is_array());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0]["result"], 3);
  EXPECT_EQ((*r)[1]["result"], json({{"a", 1}}));
  ws.Send(R"({"jsonrpc":"2.0","id":"s","method":"echo","params":["after all that"]})");
  r = ws.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["id"], "s");
  EXPECT_EQ((*r)["result"], json::array({"after all that"}));
  // A frame over the limit closes the connection with 1009.
  ws.Send(R"({"jsonrpc":"2.0","id":6,"method":"echo","params":[")" + std::string(8000, 'x') +
          "\"]}");
  r = ws.Next();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(ws.reason().code, websocket::close_code::too_big);
  // The server is still fine.
  auto c = Client(s->url());
  EXPECT_TRUE(c->Call("echo", json::array({1})).ok());
}

TEST(JsonRpcWsServer, HttpPostOnTheSamePort) {
  auto s = StartServer();
  grid::HttpClient http(std::chrono::seconds(5));
  std::string url = "http://127.0.0.1:" + std::to_string(s->port()) + "/";
  auto r = http.Send("POST", url, R"({"jsonrpc":"2.0","id":1,"method":"add","params":[20,22]})",
                     {{"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["result"], 42);
  // Keep-alive: a second request on the same client.
  r = http.Send("POST", url, "garbage", {{"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["error"]["code"], -32700);
  // No pushes over HTTP: the subscription handler refuses.
  r = http.Send("POST", url,
                R"({"jsonrpc":"2.0","id":2,"method":"author_submitAndWatchExtrinsic","params":["x"]})",
                {{"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["error"]["code"], -32601);
  r = http.Send("GET", url);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
}

TEST(JsonRpcWsServer, CloseCallbacksRunOnceWhenAConnectionEnds) {
  auto s = StartServer();
  std::atomic<int> closes{0};
  s->Register("watch", [&](const json&, const JsonRpcConnectionPtr& conn) -> JsonRpcResult {
    conn->OnClose([&] { ++closes; });
    return 1;
  });
  auto c = Client(s->url());
  ASSERT_TRUE(c->Call("watch").ok());
  EXPECT_EQ(closes, 0);
  c->Shutdown();
  for (int i = 0; i < 200 && closes == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(closes, 1);
  s->Stop();
  EXPECT_EQ(closes, 1);
}

// Node's `ws` package (written by others) as the judge: a call and a
// subscription against this server. Skips when node/npm are absent, unless
// CI=true.
TEST(JsonRpcWsServer, NodeWsClientAgrees) {
  const char* ci = std::getenv("CI");
  bool required = ci && std::string(ci) == "true";
  if (std::system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1") != 0) {
    if (required) FAIL() << "CI=true but node/npm are not installed";
    GTEST_SKIP() << "node or npm not found: the independent ws client check is skipped";
  }
  namespace fs = std::filesystem;
  fs::path src = fs::path(QSTOR_SOURCE_DIR) / "tests" / "jsonrpc";
  fs::path dir = fs::path(QSTOR_BINARY_DIR) / "npm-ws";
  fs::create_directories(dir);
  auto read = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  // Installed once per build tree; again only when the lock file changes.
  if (!fs::exists(dir / "node_modules" / "ws" / "package.json") ||
      read(dir / "package-lock.json") != read(src / "package-lock.json")) {
    fs::copy_file(src / "package.json", dir / "package.json", fs::copy_options::overwrite_existing);
    fs::copy_file(src / "package-lock.json", dir / "package-lock.json",
                  fs::copy_options::overwrite_existing);
    std::string cmd = "cd '" + dir.string() +
                      "' && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::string log = read(dir / "npm.log");
      if (required) FAIL() << "npm ci failed:\n" << log;
      GTEST_SKIP() << "npm ci failed (offline?): " << log;
    }
  }
  auto s = StartServer();
  std::string out = (dir / ("judge-" + std::to_string(::getpid()) + ".txt")).string();
  std::string cmd = "NODE_PATH='" + (dir / "node_modules").string() + "' node '" +
                    (src / "ws_judge.cjs").string() + "' " + s->url() + " >'" + out + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::string log = read(out);
  fs::remove(out);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("ws judge: ok"), std::string::npos) << log;
}

}  // namespace
}  // namespace qstor::devnet
