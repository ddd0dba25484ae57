// Server + client over loopback, raw-socket abuse, redis-cli compatibility,
// and the `qstor zdb serve` binary.
#include "zdb/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "zdb/async_client.h"
#include "zdb/client.h"
#include "zdb/test_util.h"

namespace qstor::zdb {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using namespace std::chrono_literals;

// Options for a test server: a free port picked by the kernel, so tests can
// run in parallel (ctest -j).
ServerOptions FreePort() {
  ServerOptions o;
  o.port = 0;
  return o;
}

class TestServer {
 public:
  explicit TestServer(ServerOptions o = FreePort(), std::string dir = "") {
    if (dir.empty()) {
      tmp_ = std::make_unique<TempDir>();
      dir = tmp_->path();
    }
    dir_ = dir;
    o.data_dir = dir;
    o.listen = "127.0.0.1";
    auto r = Server::Create(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    srv_ = std::move(r.value());
    port_ = srv_->port();
    th_ = std::thread([this] { run_status_ = srv_->Run(); });
  }
  ~TestServer() { Stop(); }
  void Stop() {
    if (th_.joinable()) {
      srv_->Stop();
      th_.join();
    }
    srv_.reset();
  }
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  std::unique_ptr<TempDir> tmp_;
  std::string dir_;
  std::unique_ptr<Server> srv_;
  std::thread th_;
  uint16_t port_ = 0;
  Status run_status_;
};

std::unique_ptr<Client> Connect(uint16_t port, ClientOptions o = {}) {
  auto c = Client::Connect("127.0.0.1", port, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c.value()) : nullptr;
}

// Raw TCP for protocol abuse.
// A TCP connection from `source` (any 127.x address is this host), so one
// test can be several peers.
int RawConnectFrom(uint16_t port, const char* source) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &src.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0) << source;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

int RawConnect(uint16_t port) { return RawConnectFrom(port, "127.0.0.1"); }

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early; that is allowed
    off += static_cast<size_t>(n);
  }
}

// Reads until EOF (or the 10 s receive timeout); returns what arrived and
// whether the peer closed.
std::string ReadUntilClose(int fd, bool* closed) {
  std::string out;
  char buf[65536];
  *closed = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      *closed = true;
      break;
    }
    if (n < 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(ZdbServer, ClientDataCommands) {
  TestServer s;
  auto c = Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Ping().ok());
  auto r = c->Set("key", "value");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(**r, "key");  // SET returns the key
  r = c->Set("key", "value");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());  // identical value -> nil
  EXPECT_EQ(**c->Get("key"), "value");
  EXPECT_FALSE(c->Get("nope")->has_value());
  auto mg = c->MGet({"key", "nope"});
  ASSERT_TRUE(mg.ok());
  EXPECT_EQ(*(*mg)[0], "value");
  EXPECT_FALSE((*mg)[1].has_value());
  EXPECT_TRUE(*c->Exists("key"));
  EXPECT_FALSE(*c->Exists("nope"));
  EXPECT_EQ(**c->Length("key"), 5u);
  EXPECT_GT(*c->KeyTime("key"), 1600000000u);
  EXPECT_TRUE(*c->Check("key"));
  EXPECT_EQ(c->Check("nope").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*c->DbSize(), 1u);
  EXPECT_GT(*c->Time(), 1600000000u);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->Set("k" + std::to_string(i), "v").ok());
  size_t seen = 0;
  std::optional<std::string> cur;
  for (;;) {
    auto p = c->Scan(cur);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (p->done) break;
    seen += p->entries.size();
    cur = p->next_cursor;
  }
  EXPECT_EQ(seen, 101u);
  auto rp = c->RScan();
  ASSERT_TRUE(rp.ok());
  ASSERT_FALSE(rp->entries.empty());
  EXPECT_EQ(rp->entries[0].key, "k99");
  auto kc = c->KeyCur("k98");
  ASSERT_TRUE(kc.ok());
  auto after = c->Scan(*kc);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->entries.size(), 1u);
  EXPECT_EQ(after->entries[0].key, "k99");
  ASSERT_TRUE(c->Del("key").ok());
  EXPECT_EQ(c->Del("key").code(), Status::Code::kNotFound);
  // Errors name the backend.
  EXPECT_NE(c->Del("key").message().find("127.0.0.1:" + std::to_string(s.port()) + "/default"),
            std::string::npos);
  // Client-side limits.
  EXPECT_EQ(c->Set(std::string(256, 'k'), "v").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(c->Set("k", std::string((8u << 20) + 1, 'v')).status().code(),
            Status::Code::kInvalidArgument);
  auto raw = c->Command({"SET", std::string(256, 'k'), "v"});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->str, "Key too large");
  // Exactly 8 MiB is accepted and read back.
  std::string big(8u << 20, 'b');
  ASSERT_TRUE(c->Set("big", big).ok());
  EXPECT_EQ(**c->Get("big"), big);
}

TEST(ZdbServer, NamespacesAdminAndAccessRules) {
  ServerOptions o = FreePort();
  o.admin_password = "adminpw";
  TestServer s(o);
  auto admin = Connect(s.port());
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->NsNew("x").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(admin->Auth("wrong").code(), Status::Code::kPermissionDenied);
  ASSERT_TRUE(admin->Auth("adminpw").ok());  // SECURE challenge
  ASSERT_TRUE(admin->NsNew("priv").ok());
  EXPECT_FALSE(admin->NsNew("priv").ok());
  ASSERT_TRUE(admin->NsSet("priv", "password", "secret").ok());
  ASSERT_TRUE(admin->NsSet("priv", "public", "0").ok());
  ASSERT_TRUE(admin->NsNew("pub").ok());
  ASSERT_TRUE(admin->NsSet("pub", "password", "pubpw").ok());
  auto names = admin->NsList();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"default", "priv", "pub"}));

  auto user = Connect(s.port());
  EXPECT_EQ(user->Select("nothere").code(), Status::Code::kNotFound);
  Status st = user->Select("priv");
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(st.message().find("Namespace protected and private"), std::string::npos);
  EXPECT_EQ(user->Select("priv", "bad").code(), Status::Code::kPermissionDenied);
  ASSERT_TRUE(user->Select("priv", "secret").ok());  // SELECT ... SECURE
  ASSERT_TRUE(user->Set("a", "1").ok());
  // Plain-password SELECT works too (raw).
  auto plain = Connect(s.port());
  auto rep = plain->Command({"SELECT", "priv", "secret"});
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->Debug(), "OK");

  // Public with password: read-only without it.
  ASSERT_TRUE(admin->Select("pub", "pubpw").ok());
  ASSERT_TRUE(admin->Set("r", "readable").ok());
  auto reader = Connect(s.port());
  ASSERT_TRUE(reader->Select("pub").ok());
  EXPECT_EQ(**reader->Get("r"), "readable");
  EXPECT_EQ(reader->Set("w", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(reader->Del("r").code(), Status::Code::kPermissionDenied);

  auto info = admin->NsInfo("priv");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "priv");
  EXPECT_EQ(info->entries, 1u);
  EXPECT_TRUE(info->password);
  EXPECT_FALSE(info->is_public);
  EXPECT_EQ(info->data_size_bytes, 1u);
  EXPECT_EQ(info->mode, NsMode::kUser);
  EXPECT_FALSE(info->space_available.has_value());

  ASSERT_TRUE(admin->NsSet("priv", "maxsize", "10").ok());
  info = admin->NsInfo("priv");
  EXPECT_EQ(info->data_limits_bytes, 10u);
  EXPECT_EQ(info->space_available.value_or(0), 9u);
  EXPECT_EQ(user->Set("b", std::string(20, 'x')).status().code(),
            Status::Code::kResourceExhausted);
  EXPECT_EQ(admin->NsSet("priv", "color", "blue").code(), Status::Code::kInvalidArgument);

  // FLUSH: only private + password.
  EXPECT_FALSE(reader->Flush().ok());
  ASSERT_TRUE(user->Flush().ok());
  EXPECT_EQ(*user->DbSize(), 0u);

  // seq mode via NSSET
  ASSERT_TRUE(admin->NsNew("seq").ok());
  ASSERT_TRUE(admin->NsSet("seq", "mode", "seq").ok());
  EXPECT_EQ(admin->NsInfo("seq")->mode, NsMode::kSeq);
  // next_internal_id as 0-db v2.0.7 prints it ("0x%08" PRIx64 of the
  // byte-swapped id), and the client reads the id back from it.
  auto fresh = admin->NsInfo("seq");
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->fields["next_internal_id"], "0x00000000");
  EXPECT_EQ(fresh->next_internal_id, 0u);
  auto sc = Connect(s.port());
  ASSERT_TRUE(sc->Select("seq").ok());
  auto id = sc->Set("", "first");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(**id, std::string(8, '\0'));
  EXPECT_EQ(**sc->Get(std::string(8, '\0')), "first");
  auto used = admin->NsInfo("seq");
  ASSERT_TRUE(used.ok()) << used.status().ToString();
  EXPECT_EQ(used->fields["next_internal_id"], "0x100000000000000");
  EXPECT_EQ(used->next_internal_id, 1u);
  EXPECT_EQ(used->entries, 1u);
  std::string missing(8, '\0');
  missing[0] = 9;
  auto bad = sc->Set(missing, "x");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("Invalid key, only update authorized"), std::string::npos);
  EXPECT_EQ(admin->NsSet("seq", "mode", "user").code(), Status::Code::kFailedPrecondition);

  // NSDEL rules
  EXPECT_FALSE(admin->NsDel("default").ok());
  EXPECT_FALSE(admin->NsDel("pub").ok());  // admin is using it
  ASSERT_TRUE(admin->Select("default").ok());
  ASSERT_TRUE(admin->NsDel("pub").ok());
  EXPECT_EQ(reader->Get("r").status().code(), Status::Code::kFailedPrecondition);
}

TEST(ZdbServer, PipelineOfThousandCommands) {
  TestServer s;
  auto c = Connect(s.port());
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 1000; ++i) cmds.push_back({"SET", "p" + std::to_string(i), std::string(100, 'x')});
  for (int i = 0; i < 1000; ++i) cmds.push_back({"GET", "p" + std::to_string(i)});
  auto r = c->Pipeline(cmds);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ((*r)[i].str, "p" + std::to_string(i));
  for (int i = 1000; i < 2000; ++i) EXPECT_EQ((*r)[i].str, std::string(100, 'x'));
  EXPECT_EQ(*c->DbSize(), 1000u);
}

// GET replies are read from the data files straight into the reply buffer,
// and requests are executed in place from the receive buffer. Checks the
// bytes of a pipelined stream that crosses the 8 MiB batch limit (so the
// server stops mid-buffer and resumes), values of 0 B .. 5 MiB, MGET, and a
// damaged entry in the middle: its GET is an error reply, and the replies
// around it are intact.
TEST(ZdbServer, PipelinedRepliesAreByteExactAcrossBatchesAndDamage) {
  TestServer s;
  std::mt19937 rng(7);
  auto random_bytes = [&](size_t n) {
    std::string v(n, '\0');
    for (auto& ch : v) ch = static_cast<char>(rng());
    return v;
  };
  std::vector<std::pair<std::string, std::string>> kv;
  for (size_t n : {size_t{0}, size_t{1}, size_t{4096}, size_t{5u << 20}, size_t{3u << 20},
                   size_t{777}, size_t{4u << 20}}) {
    kv.emplace_back("key-" + std::to_string(kv.size()) + "-with-a-long-name", random_bytes(n));
  }
  const std::string victim_value = "VICTIM:" + random_bytes(5000);
  {
    auto c = Connect(s.port());
    ASSERT_TRUE(c);
    for (auto& [k, v] : kv) ASSERT_TRUE(c->Set(k, v).ok());
    ASSERT_TRUE(c->Set("victim", victim_value).ok());
  }
  // Flip one byte of the victim's value in the data file, under the server.
  bool flipped = false;
  for (auto& e : fs::recursive_directory_iterator(s.dir())) {
    if (!e.is_regular_file()) continue;
    std::FILE* f = std::fopen(e.path().c_str(), "r+b");
    ASSERT_TRUE(f);
    std::string data(static_cast<size_t>(e.file_size()), '\0');
    ASSERT_EQ(std::fread(data.data(), 1, data.size(), f), data.size());
    size_t at = data.find(victim_value);
    if (at != std::string::npos) {
      std::fseek(f, static_cast<long>(at + 100), SEEK_SET);
      std::fputc(data[at + 100] ^ 0x40, f);
      flipped = true;
    }
    std::fclose(f);
  }
  ASSERT_TRUE(flipped);

  auto cmd = [](std::initializer_list<std::string> args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  };
  auto bulk = [](const std::string& v) { return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n"; };
  std::string req;
  for (int round = 0; round < 2; ++round) {
    for (auto& kvp : kv) req += cmd({"GET", kvp.first});
    req += cmd({"GET", "victim"});
    req += cmd({"GET", "absent"});
    req += cmd({"MGET", kv[2].first, "absent", kv[5].first});
    req += cmd({"PING"});
  }
  int fd = RawConnect(s.port());
  std::thread writer([&] {
    // Dribble the requests in uneven pieces so requests straddle reads.
    size_t off = 0, piece = 1;
    while (off < req.size()) {
      size_t n = std::min(req.size() - off, piece);
      SendAll(fd, req.substr(off, n));
      off += n;
      piece = piece * 3 % 70001 + 1;
    }
    ::shutdown(fd, SHUT_WR);
  });
  bool closed = false;
  std::string got = ReadUntilClose(fd, &closed);
  writer.join();
  ::close(fd);
  EXPECT_TRUE(closed);
  // Walk the reply stream.
  size_t pos = 0;
  auto expect_next = [&](const std::string& w) {
    ASSERT_LE(pos + w.size(), got.size()) << "reply stream ends early at " << pos;
    ASSERT_TRUE(got.compare(pos, w.size(), w) == 0) << "mismatch at byte " << pos;
    pos += w.size();
  };
  for (int round = 0; round < 2; ++round) {
    for (auto& kvp : kv) expect_next(bulk(kvp.second));
    size_t eol = got.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    std::string err = got.substr(pos, eol - pos);
    EXPECT_EQ(err.rfind("-Internal error: entry at ", 0), 0u) << err;
    EXPECT_NE(err.find("crc32"), std::string::npos) << err;
    pos = eol + 2;
    expect_next("$-1\r\n");
    expect_next("*3\r\n" + bulk(kv[2].second) + "$-1\r\n" + bulk(kv[5].second));
    expect_next("+PONG\r\n");
  }
  EXPECT_EQ(pos, got.size());
}

TEST(ZdbServer, MalformedInputGetsErrorOrCloseNeverCrash) {
  TestServer s;
  struct Case {
    std::string in, reply_prefix;
  } cases[] = {
      {"*abc\r\n", "-Protocol error"},
      {"*2\r\n$-5\r\n", "-Protocol error"},
      {"*99999999\r\n", "-Protocol error"},
      {"*2\r\n$3\r\nSET\r\n$999999999\r\n", "-Payload too large"},
      {"*2\r\n$3\r\nGETx\r\n", "-Protocol error"},
      {"*1\r\n:5\r\n", "-Protocol error"},
  };
  for (const auto& c : cases) {
    int fd = RawConnect(s.port());
    SendAll(fd, c.in);
    bool closed = false;
    std::string out = ReadUntilClose(fd, &closed);
    EXPECT_TRUE(closed) << c.in;
    EXPECT_EQ(out.rfind(c.reply_prefix, 0), 0u) << c.in << " -> " << out;
    ::close(fd);
  }
  // An oversized payload announced honestly: error reply, no 8 MiB buffered.
  {
    int fd = RawConnect(s.port());
    SendAll(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + std::to_string((8u << 20) + 1) + "\r\n");
    bool closed = false;
    std::string out = ReadUntilClose(fd, &closed);
    EXPECT_EQ(out, "-Payload too large\r\n");
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  // Many big arguments in one request: refused once it outgrows one maximal SET.
  {
    int fd = RawConnect(s.port());
    std::string arg(1u << 20, 'x');
    std::string req = "*20\r\n$4\r\nMGET\r\n";
    for (int i = 0; i < 10; ++i) req += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
    SendAll(fd, req);
    bool closed = false;
    std::string out = ReadUntilClose(fd, &closed);
    // The reply may be lost to a TCP reset (the server closes while we still send).
    EXPECT_TRUE(out.empty() || out == "-Request too large\r\n") << out.substr(0, 100);
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  // Random garbage: the server survives and keeps serving.
  std::mt19937 rng(1);
  for (int i = 0; i < 100; ++i) {
    int fd = RawConnect(s.port());
    std::string junk(1 + rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng() % 8 == 0 ? '\r' : rng() % 256);
    if (i % 2) junk = "*3\r\n$3\r\nSET\r\n" + junk;
    SendAll(fd, junk);
    ::shutdown(fd, SHUT_WR);
    bool closed = false;
    ReadUntilClose(fd, &closed);
    ::close(fd);
  }
  auto c = Connect(s.port());
  EXPECT_TRUE(c->Ping().ok());
}

TEST(ZdbServer, SlowLorisAndIdleClientsAreCut) {
  ServerOptions o = FreePort();
  o.idle_timeout = 300ms;
  TestServer s(o);
  int fd = RawConnect(s.port());
  SendAll(fd, "*1\r\n$4\r\nPI");  // never completes
  bool closed = false;
  std::string out = ReadUntilClose(fd, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(out, "");
  ::close(fd);
  int idle = RawConnect(s.port());
  ReadUntilClose(idle, &closed);
  EXPECT_TRUE(closed);
  ::close(idle);
}


// Issue 19 item 7: silent connections from one peer filled every slot, and
// PING from anyone else got "connection closed by server" for the idle
// timeout. The per-peer cap keeps slots for other peers.
TEST(ZdbServer, SilentConnectionsFromOnePeerLeaveRoomForOthers) {
  ServerOptions o = FreePort();
  o.max_clients = 16;
  o.max_clients_per_peer = 4;
  o.header_timeout = 60s;  // only the cap helps here
  TestServer s(o);
  std::vector<int> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(RawConnectFrom(s.port(), "127.0.0.2"));
  // Beyond the cap: the reason, then a close.
  bool closed = false;
  EXPECT_EQ(ReadUntilClose(flood.back(), &closed), "-Too many clients from this address\r\n");
  EXPECT_TRUE(closed);
  auto c = Connect(s.port());
  ASSERT_NE(c, nullptr);
  Status ping = c->Ping();
  EXPECT_TRUE(ping.ok()) << ping.ToString();
  for (int fd : flood) ::close(fd);
}

// Connections that never complete a first request are cut after the short
// header timeout, not the idle timeout; at the limit the client says why.
TEST(ZdbServer, HeaderTimeoutFreesSlotsAndTheClientSaysTooManyClients) {
  ServerOptions o = FreePort();
  o.max_clients = 8;
  o.max_clients_per_peer = 0;  // no cap: only the timeout helps
  o.header_timeout = 400ms;
  o.idle_timeout = 60s;
  TestServer s(o);
  // One that talks first is not cut by the header timeout.
  int talker = RawConnect(s.port());
  SendAll(talker, "PING\r\n");
  char buf[64];
  ASSERT_EQ(::recv(talker, buf, 7, MSG_WAITALL), 7);
  EXPECT_EQ(std::string(buf, 7), "+PONG\r\n");
  std::vector<int> silent;
  for (int i = 0; i < 7; ++i) silent.push_back(RawConnect(s.port()));
  auto full = Client::Connect("127.0.0.1", s.port(), {});
  Status refused = full.ok() ? (*full)->Ping() : full.status();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("Too many clients"), std::string::npos) << refused.ToString();
  EXPECT_EQ(refused.message().find("closed by server"), std::string::npos) << refused.ToString();
  EXPECT_EQ(refused.code(), Status::Code::kUnavailable) << "retryable: " << refused.ToString();
  auto t0 = std::chrono::steady_clock::now();
  for (int fd : silent) {
    bool closed = false;
    EXPECT_EQ(ReadUntilClose(fd, &closed), "");
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "cut by the header timeout";
  auto c = Connect(s.port());
  ASSERT_NE(c, nullptr);
  Status ping = c->Ping();
  EXPECT_TRUE(ping.ok()) << ping.ToString();
  std::this_thread::sleep_for(600ms);
  SendAll(talker, "PING\r\n");
  ASSERT_EQ(::recv(talker, buf, 7, MSG_WAITALL), 7) << "the talker was cut";
  EXPECT_EQ(std::string(buf, 7), "+PONG\r\n");
  ::close(talker);
}

// With an admin password the last slot is the admin's.
TEST(ZdbServer, LastSlotIsKeptForTheAdmin) {
  ServerOptions o = FreePort();
  o.admin_password = "root-secret";
  o.max_clients = 4;
  o.max_clients_per_peer = 0;
  o.header_timeout = 60s;
  TestServer s(o);
  std::vector<int> silent;
  for (int i = 0; i < 3; ++i) silent.push_back(RawConnect(s.port()));
  auto user = Client::Connect("127.0.0.1", s.port(), {});
  Status refused = user.ok() ? (*user)->Ping() : user.status();
  EXPECT_NE(refused.message().find("Too many clients"), std::string::npos) << refused.ToString();
  if (user.ok()) (*user).reset();
  std::this_thread::sleep_for(100ms);  // the server closed the reserved slot after its reply
  ClientOptions ao;
  ao.admin_password = "root-secret";
  auto admin = Connect(s.port(), ao);
  ASSERT_NE(admin, nullptr);
  Status ping = admin->Ping();
  EXPECT_TRUE(ping.ok()) << ping.ToString();
  // Now the server is full, the admin included.
  auto late = Client::Connect("127.0.0.1", s.port(), ao);
  Status late_st = late.ok() ? (*late)->Ping() : late.status();
  EXPECT_NE(late_st.message().find("Too many clients"), std::string::npos) << late_st.ToString();
  for (int fd : silent) ::close(fd);
}

TEST(ZdbServer, HalfClosedSocketStillGetsReplies) {
  TestServer s;
  int fd = RawConnect(s.port());
  SendAll(fd, "PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$6\r\nEXISTS\r\n$1\r\nx\r\n");
  ::shutdown(fd, SHUT_WR);
  bool closed = false;
  std::string out = ReadUntilClose(fd, &closed);
  EXPECT_EQ(out, "+PONG\r\n+PONG\r\n:0\r\n");
  EXPECT_TRUE(closed);
  ::close(fd);
}

TEST(ZdbServer, ClientReconnectsAndRestoresSelect) {
  TempDir dir;
  uint16_t port;
  ClientOptions co;
  co.min_backoff = 10ms;
  co.max_backoff = 50ms;
  co.connect_timeout = 1000ms;
  std::unique_ptr<Client> c;
  {
    TestServer s(FreePort(), dir.path());
    port = s.port();
    auto admin = Connect(port);
    ASSERT_TRUE(admin->NsNew("ns").ok());
    ASSERT_TRUE(admin->NsSet("ns", "password", "pw").ok());
    ASSERT_TRUE(admin->NsSet("ns", "public", "0").ok());
    c = Connect(port, co);
    ASSERT_TRUE(c->Select("ns", "pw").ok());
    ASSERT_TRUE(c->Set("k", "v").ok());
  }
  // Server gone: a clear, typed error naming the backend.
  Status st = c->Ping();
  EXPECT_EQ(st.code(), Status::Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("/ns"), std::string::npos);
  ServerOptions o = FreePort();
  o.port = port;
  TestServer again(o, dir.path());
  // Reconnect + SELECT replay: the namespace is private, so a bare
  // reconnect would not see the key.
  Result<std::optional<std::string>> g = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !g.ok(); ++i) g = c->Get("k");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(**g, "v");
}

// A listener on a free loopback port that accepts (kernel backlog) and never
// answers. Returns its fd (or -1) and sets *port.
int SilentListener(uint16_t* port) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(lfd, 4) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (lfd >= 0) ::close(lfd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return lfd;
}

TEST(ZdbServer, RequestTimeoutIsReported) {
  uint16_t port = 0;
  int lfd = SilentListener(&port);
  ASSERT_GE(lfd, 0);
  ClientOptions co;
  co.request_timeout = 200ms;
  auto c = Client::Connect("127.0.0.1", port, co);
  ASSERT_TRUE(c.ok());
  Status st = (*c)->Ping();
  EXPECT_EQ(st.code(), Status::Code::kTimeout) << st.ToString();
  ::close(lfd);
  // Nothing listens now: connect fails with kUnavailable.
  auto d = Client::Connect("127.0.0.1", port, co);
  EXPECT_EQ(d.status().code(), Status::Code::kUnavailable);
}

// A client that sat idle while the server closed its connection (idle
// timeout) notices the close before its next command and reconnects, so the
// command succeeds instead of failing on the dead connection. ClientPool
// keeps idle clients, so this is the common case, not a corner.
TEST(ZdbServer, IdleClientClosedByServerReconnectsOnNextCall) {
  ServerOptions o = FreePort();
  o.idle_timeout = 200ms;
  TestServer s(o);
  auto c = Connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Set("k", "v").ok());
  std::this_thread::sleep_for(800ms);  // the server has closed the connection by now
  auto g = c->Get("k");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(**g, "v");
}

TEST(ZdbServer, ClientPoolReusesConnections) {
  TestServer s;
  ClientPool pool("127.0.0.1", s.port(), "default", "");
  auto a = pool.Acquire();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Set("x", "1").ok());
  Client* raw = a->get();
  pool.Release(std::move(a.value()));
  auto b = pool.Acquire();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->get(), raw);
  EXPECT_EQ(**(*b)->Get("x"), "1");
}

// ---- AsyncClient -------------------------------------------------------------

// Runs `io` until `pred()` or 20 s.
template <class Pred>
bool RunUntil(boost::asio::io_context& io, Pred pred) {
  auto end = std::chrono::steady_clock::now() + 20s;
  io.restart();
  while (!pred() && std::chrono::steady_clock::now() < end) io.run_for(10ms);
  return pred();
}

TEST(ZdbAsyncClient, PipelinesManyCommandsToSeveralBackendsFromOneThread) {
  TestServer s1, s2, s3;
  boost::asio::io_context io;
  std::vector<std::unique_ptr<AsyncClient>> clients;
  for (auto* s : {&s1, &s2, &s3}) {
    clients.push_back(std::make_unique<AsyncClient>(io, "127.0.0.1", s->port()));
  }
  constexpr int kN = 400;
  // Everything is queued before the io_context runs once: one connection
  // per backend, every command pipelined, callbacks in queue order.
  std::vector<std::vector<int>> order(clients.size());
  int done = 0, bad = 0;
  for (size_t c = 0; c < clients.size(); ++c) {
    for (int i = 0; i < kN; ++i) {
      std::string key = "k" + std::to_string(i), value = std::to_string(c) + ":" + std::string(i, 'v');
      clients[c]->Command({"SET", key, value}, [&, c, i, key](Result<Reply> r) {
        if (!r.ok() || r->str != key) ++bad;
        order[c].push_back(i);
        ++done;
      });
      clients[c]->Command({"GET", key}, [&, c, i, value](Result<Reply> r) {
        if (!r.ok() || r->str != value) ++bad;
        order[c].push_back(kN + i);
        ++done;
      });
    }
    EXPECT_EQ(clients[c]->pending(), size_t{2 * kN});
  }
  ASSERT_TRUE(RunUntil(io, [&] { return done == 3 * 2 * kN; })) << done;
  EXPECT_EQ(bad, 0);
  for (auto& o : order) {
    ASSERT_EQ(o.size(), size_t{2 * kN});
    for (int i = 0; i < kN; ++i) {
      EXPECT_EQ(o[2 * i], i);
      EXPECT_EQ(o[2 * i + 1], kN + i);
    }
  }
  EXPECT_EQ(clients[0]->pending(), 0u);
  // Error replies are values, not failed Statuses; an empty command is refused.
  Result<Reply> err = Status::Internal("not run"), empty = Status::Internal("not run");
  clients[0]->Command({"NOSUCH"}, [&](Result<Reply> r) { err = std::move(r); });
  clients[0]->Command({}, [&](Result<Reply> r) { empty = std::move(r); });
  ASSERT_TRUE(RunUntil(io, [&] { return err.ok() && !empty.ok() && empty.status().code() != Status::Code::kInternal; }));
  EXPECT_TRUE(err->is_error());
  EXPECT_EQ(err->str, "Command not supported");
  EXPECT_EQ(empty.status().code(), Status::Code::kInvalidArgument);
}

TEST(ZdbAsyncClient, SelectIsOrderedWithTheCommandsAroundIt) {
  TestServer s;
  {
    auto admin = Connect(s.port());
    ASSERT_TRUE(admin->NsNew("ns2").ok());
    ASSERT_TRUE(admin->NsSet("ns2", "password", "pw").ok());
    ASSERT_TRUE(admin->NsSet("ns2", "public", "0").ok());
  }
  boost::asio::io_context io;
  AsyncClient c(io, "127.0.0.1", s.port());
  std::vector<std::string> log;
  auto note = [&](std::string what) { return [&log, what](Result<Reply> r) { log.push_back(what + "=" + (r.ok() ? r->Debug() : r.status().ToString())); }; };
  auto sel = [&](std::string what) { return [&log, what](Status st) { log.push_back(what + "=" + (st.ok() ? "OK" : st.ToString())); }; };
  c.Command({"SET", "a", "1"}, note("set a"));
  c.Select("ns2", "pw", sel("select ns2"));
  c.Command({"SET", "b", "2"}, note("set b"));
  c.Select("ns2", "pw-not-this-one", sel("select wrong"));
  c.Command({"SET", "c", "3"}, note("set c"));  // still in ns2: the failed SELECT changed nothing
  c.Select("nope", "", sel("select nope"));
  ASSERT_TRUE(RunUntil(io, [&] { return log.size() == 6; }));
  EXPECT_EQ(log[0], "set a=\"a\"");
  EXPECT_EQ(log[1], "select ns2=OK");
  EXPECT_EQ(log[2], "set b=\"b\"");
  EXPECT_EQ(log[3].rfind("select wrong=permission denied: ", 0), 0u) << log[3];
  EXPECT_NE(log[3].find("/ns2: SELECT: Access denied"), std::string::npos) << log[3];
  EXPECT_EQ(log[3].find("pw-not"), std::string::npos) << "password in a message: " << log[3];
  EXPECT_EQ(log[4], "set c=\"c\"");
  EXPECT_NE(log[5].find("/nope: SELECT: Namespace not found"), std::string::npos) << log[5];
  EXPECT_EQ(c.Backend(), "zdb 127.0.0.1:" + std::to_string(s.port()) + "/ns2");
  auto check = Connect(s.port());
  EXPECT_EQ(**check->Get("a"), "1");
  EXPECT_FALSE(check->Get("b")->has_value());
  ASSERT_TRUE(check->Select("ns2", "pw").ok());
  EXPECT_EQ(**check->Get("b"), "2");
  EXPECT_EQ(**check->Get("c"), "3");
}

TEST(ZdbAsyncClient, TimeoutsConnectFailuresBackoffAndClose) {
  uint16_t port = 0;
  int lfd = SilentListener(&port);
  ASSERT_GE(lfd, 0);
  ClientOptions co;
  co.request_timeout = 300ms;
  co.min_backoff = 200ms;
  co.max_backoff = 400ms;
  boost::asio::io_context io;
  auto c = std::make_unique<AsyncClient>(io, "127.0.0.1", port, co);
  std::vector<Status> got;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    c->Command({"PING"}, [&](Result<Reply> r) { got.push_back(r.status()); });
  }
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 3; }));
  auto waited = std::chrono::steady_clock::now() - t0;
  for (auto& st : got) EXPECT_EQ(st.code(), Status::Code::kTimeout) << st.ToString();
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 5s);
  ::close(lfd);
  // Nothing listens: connect fails at once with kUnavailable ...
  got.clear();
  c->Command({"PING"}, [&](Result<Reply> r) { got.push_back(r.status()); });
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 1; }));
  EXPECT_EQ(got[0].code(), Status::Code::kUnavailable) << got[0].ToString();
  EXPECT_NE(got[0].message().find("127.0.0.1:" + std::to_string(port) + "/default: connect"),
            std::string::npos) << got[0].ToString();
  // ... and the next attempt waits for the backoff first; a server that
  // appears meanwhile is used. The backoff runs from the failure, so the
  // clock starts here, before the server's start-up (which can take longer
  // than the backoff on a loaded machine).
  auto t1 = std::chrono::steady_clock::now();
  ServerOptions o = FreePort();
  o.port = port;
  TestServer s(o);
  Status connected = Status::Internal("not run");
  bool fired = false;
  c->Connect([&](Status st) {
    connected = st;
    fired = true;
  });
  ASSERT_TRUE(RunUntil(io, [&] { return fired; }));
  EXPECT_TRUE(connected.ok()) << connected.ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - t1, 150ms);  // min_backoff 200 ms, less timer slack
  // Close fails what is queued, with kCancelled, and later commands too.
  got.clear();
  c->Command({"PING"}, [&](Result<Reply> r) { got.push_back(r.status()); });
  c->Close();
  c->Command({"PING"}, [&](Result<Reply> r) { got.push_back(r.status()); });
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[0].code(), Status::Code::kCancelled);
  EXPECT_EQ(got[1].code(), Status::Code::kCancelled);
  c.reset();
  io.restart();
  io.poll();
}

// ---- redis-cli: a client nobody here wrote ---------------------------------

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "<popen failed>";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

bool HaveRedisCli() { return std::system("command -v redis-cli >/dev/null 2>&1") == 0; }

TEST(ZdbRedisCli, RepliesAreByteExact) {
  if (!HaveRedisCli()) GTEST_SKIP() << "redis-cli not installed (Debian package redis-tools)";
  TestServer s;
  std::string cli = "redis-cli -h 127.0.0.1 -p " + std::to_string(s.port()) + " ";
  EXPECT_EQ(Sh(cli + "PING"), "PONG\n");
  // 4th argument = timestamp (admin only; no admin password = everyone is admin)
  EXPECT_EQ(Sh(cli + "SET mykey hello 1700000000"), "mykey\n");
  EXPECT_EQ(Sh(cli + "--no-raw SET mykey hello 1700000000"), "(nil)\n");
  EXPECT_EQ(Sh(cli + "--no-raw SET other world 1700000001"), "\"other\"\n");
  EXPECT_EQ(Sh(cli + "GET mykey"), "hello\n");
  EXPECT_EQ(Sh(cli + "--no-raw GET mykey"), "\"hello\"\n");
  EXPECT_EQ(Sh(cli + "--no-raw GET nokey"), "(nil)\n");
  EXPECT_EQ(Sh(cli + "--no-raw DEL nokey"), "(error) Key not found\n");
  EXPECT_EQ(Sh(cli + "--no-raw DBSIZE"), "(integer) 2\n");
  EXPECT_EQ(Sh(cli + "--no-raw SCAN"),
            "1) \"\\x00\\x00\\x00\\x00,\\x00\\x00\\x00\"\n"  // cursor: file 0, offset 44
            "2) 1) 1) \"mykey\"\n"
            "      2) (integer) 5\n"
            "      3) (integer) 1700000000\n"
            "   2) 1) \"other\"\n"
            "      2) (integer) 5\n"
            "      3) (integer) 1700000001\n");
  // Binary cursors go through stdin, where redis-cli understands \x escapes.
  EXPECT_EQ(Sh("printf 'SCAN \"\\\\x00\\\\x00\\\\x00\\\\x00\\\\x0c\\\\x00\\\\x00\\\\x00\"\\n' | " + cli + "--no-raw"),
            "1) \"\\x00\\x00\\x00\\x00,\\x00\\x00\\x00\"\n"
            "2) 1) 1) \"other\"\n"
            "      2) (integer) 5\n"
            "      3) (integer) 1700000001\n");
  EXPECT_EQ(Sh("printf 'SCAN \"\\\\x00\\\\x00\\\\x00\\\\x00,\\\\x00\\\\x00\\\\x00\"\\n' | " + cli + "--no-raw"),
            "(error) No more data\n");
  EXPECT_EQ(Sh(cli + "--no-raw KEYCUR mykey"), "\"\\x00\\x00\\x00\\x00\\x0c\\x00\\x00\\x00\"\n");
  EXPECT_EQ(Sh(cli + "NSNEW space"), "OK\n");
  EXPECT_EQ(Sh(cli + "--no-raw NSNEW space"), "(error) This namespace is not available\n");
  EXPECT_EQ(Sh(cli + "--no-raw NSLIST"), "1) \"default\"\n2) \"space\"\n");
  EXPECT_EQ(Sh(cli + "NSSET space password pw"), "OK\n");
  EXPECT_EQ(Sh(cli + "NSSET space public 0"), "OK\n");
  EXPECT_EQ(Sh(cli + "--no-raw SELECT space"), "(error) Namespace protected and private\n");
  EXPECT_EQ(Sh(cli + "--no-raw SELECT space bad"), "(error) Access denied\n");
  // Several commands on one connection (stdin mode).
  EXPECT_EQ(Sh("printf 'SELECT space pw\\nSET a b 1700000002\\nGET a\\nDBSIZE\\n' | " + cli),
            "OK\na\nb\n1\n");
  std::string info = Sh(cli + "NSINFO space");
  EXPECT_EQ(info.substr(0, info.find("index_size_bytes: ") + 18),
            "# namespace\n"
            "name: space\n"
            "entries: 1\n"
            "public: no\n"
            "worm: no\n"
            "locked: no\n"
            "password: yes\n"
            "data_size_bytes: 1\n"
            "data_size_mb: 0.00\n"
            "data_limits_bytes: 0\n"
            "index_size_bytes: ");
  EXPECT_NE(info.find("\nmode: userkey\n"), std::string::npos);
  // 0-db's order and formats: index_size_kb, then the hex next_internal_id, then mode.
  size_t kb = info.find("\nindex_size_kb: ");
  size_t next = info.find("\nnext_internal_id: 0x");
  ASSERT_NE(kb, std::string::npos);
  ASSERT_NE(next, std::string::npos);
  EXPECT_EQ(info.find('\n', kb + 1), next);
  EXPECT_EQ(info.find('\n', next + 1), info.find("\nmode: "));
  auto parsed = NamespaceInfo::Parse(info);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->name, "space");
  EXPECT_EQ(parsed->entries, 1u);
  EXPECT_EQ(Sh(cli + "--no-raw NSINFO nothere"), "(error) Namespace not found\n");
}

// ---- the binary the devnet runs ---------------------------------------------

TEST(ZdbServeBinary, PrintsPortServesAndStopsOnSigterm) {
  const char* bin = std::getenv("QSTOR_BIN");
  if (!bin || !fs::exists(bin)) GTEST_SKIP() << "QSTOR_BIN not set";
  TempDir dir;
  auto start = [&](pid_t* pid) -> uint16_t {
    int pipefd[2];
    EXPECT_EQ(::pipe(pipefd), 0);
    *pid = ::fork();
    if (*pid == 0) {
      ::dup2(pipefd[1], 1);
      ::close(pipefd[0]);
      ::execl(bin, bin, "zdb", "serve", "--data", dir.path().c_str(), "--port", "0", "--sync",
              "50ms", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string line;
    char ch;
    while (::read(pipefd[0], &ch, 1) == 1 && ch != '\n') line += ch;
    ::close(pipefd[0]);
    EXPECT_EQ(line.rfind("listening on 127.0.0.1:", 0), 0u) << line;
    return static_cast<uint16_t>(std::atoi(line.c_str() + line.rfind(':') + 1));
  };
  pid_t pid;
  uint16_t port = start(&pid);
  ASSERT_GT(port, 0);
  {
    auto c = Connect(port);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Set("persist", "me").ok());
  }
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(fs::exists(dir.path() + "/default/index"));  // graceful: snapshot written
  port = start(&pid);
  {
    auto c = Connect(port);
    ASSERT_TRUE(c);
    EXPECT_EQ(**c->Get("persist"), "me");
    // STOP (admin; no admin password configured) ends the process too.
    auto r = c->Command({"STOP"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->Debug(), "OK");
  }
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace qstor::zdb
