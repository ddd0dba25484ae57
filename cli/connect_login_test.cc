// ThreeFold Connect login end to end, with real qstor processes (QSTOR_BIN)
// and an in-process devnet that plays the login service and the phone:
// login, whoami, init --from-connect, export-mnemonic, apply, a file written
// through the FUSE mount; then a brand-new home: login again, recover
// --from-connect, the file read back byte-exact. And every refusal: forged
// attempt, refusal on the phone, wrong state, wrong appid, replayed callback,
// truncated base64, a scope without derivedSeed for --from-connect.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/devnet_storage_test_util.h"
#include "grid/connect_login.h"
#include "grid/http_client.h"
#include "reconciler/connect_profile.h"
#include "reconciler/keystore.h"

namespace qstor::cli {
namespace {

namespace sfs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Env = std::map<std::string, std::string>;  // value "" = unset
constexpr const char* kPass = "connect passphrase 1";

// A running qstor: stdin (a pipe, or /dev/null), stdout+stderr in one pipe.
struct Proc {
  pid_t pid = -1;
  int in = -1, out = -1;
  std::string got;
  int code = -1;

  // Reads what is there within `ms`; false at EOF.
  bool Pump(int ms) {
    struct pollfd p {out, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return true;
    char buf[8192];
    ssize_t n = ::read(out, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
    return true;
  }
  // The first line holding `needle` (waits at most `timeout`).
  std::string WaitLine(const std::string& needle, std::chrono::seconds timeout) {
    auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      size_t at = got.find(needle);
      if (at != std::string::npos) {
        size_t s = got.rfind('\n', at);
        s = s == std::string::npos ? 0 : s + 1;
        size_t e = got.find('\n', at);
        if (e != std::string::npos) return got.substr(s, e - s);
      }
      if (!Pump(50)) break;
    }
    return "";
  }
  int Wait(std::chrono::seconds timeout) {
    if (in >= 0) ::close(in), in = -1;
    auto end = Clock::now() + timeout;
    int status = 0;
    for (;;) {
      bool open = Pump(20);
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      if (Clock::now() > end) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        got += "\n<killed after timeout>";
        break;
      }
      if (!open) ::usleep(20000);
    }
    while (Pump(10)) {
    }
    ::close(out);
    code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::getenv("QSTOR_TEST_VERBOSE") != nullptr) {
      std::fprintf(stderr, "%s\n[exit %d]\n", got.c_str(), code);
    }
    return code;
  }
};

Proc Start(const std::vector<std::string>& args, const Env& env, bool stdin_pipe) {
  int o[2], i[2] = {-1, -1};
  if (::pipe(o) != 0) return {};
  if (stdin_pipe && ::pipe(i) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) {
      if (v.empty()) {
        ::unsetenv(k.c_str());
      } else {
        ::setenv(k.c_str(), v.c_str(), 1);
      }
    }
    int src = stdin_pipe ? i[0] : ::open("/dev/null", O_RDONLY);
    ::dup2(src, 0);
    ::dup2(o[1], 1);
    ::dup2(o[1], 2);
    ::close_range(3, ~0U, 0);
    std::vector<std::string> a = {std::getenv("QSTOR_BIN")};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(o[1]);
  if (stdin_pipe) ::close(i[0]);
  Proc p;
  p.pid = pid;
  p.out = o[0];
  p.in = stdin_pipe ? i[1] : -1;
  return p;
}

struct Ran {
  int code;
  std::string out;
};
Ran Qstor(const std::vector<std::string>& args, const Env& env,
        std::chrono::seconds timeout = std::chrono::seconds(300)) {
  Proc p = Start(args, env, false);
  p.Wait(timeout);
  return {p.code, p.got};
}

nlohmann::json LastJson(const std::string& out) {
  size_t end = out.find_last_not_of('\n');
  if (end == std::string::npos) return {};
  size_t s = out.rfind('\n', end);
  s = s == std::string::npos ? 0 : s + 1;
  return nlohmann::json::parse(out.substr(s, end - s + 1), nullptr, false);
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool IsFuse(const std::string& path) {
  struct statfs sf {};
  return ::statfs(path.c_str(), &sf) == 0 && sf.f_type == 0x65735546;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

class ConnectLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = qstor::testing::FreshTempDir("connect-login");
    Status st = net_.Start(root_ + "/devnet");
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    for (const std::string& m : {root_ + "/mnt", root_ + "/mnt2"}) {
      if (IsFuse(m)) (void)!std::system(("fusermount3 -u -z '" + m + "' >/dev/null 2>&1").c_str());
    }
    net_.Stop();
    sfs::remove_all(root_);
  }
  Env Home(const std::string& home) const {
    return {{"QSTOR_HOME", home},        {"QSTOR_PASSPHRASE", kPass}, {"QSTOR_MNEMONIC", ""},
            {"QSTOR_DEVNET_DIR", net_.dir()}, {"QSTOR_ZDB_PASSWORD", ""},
            {"DISPLAY", ""},             {"WAYLAND_DISPLAY", ""}};
  }

  // `qstor login` with its listener on a free port; `qstor devnet approve`
  // (with `approve_flags`) delivers the callback there. Returns login's run.
  Ran LoginThroughListener(const Env& env, const std::vector<std::string>& approve_flags = {}) {
    uint16_t port = FreePort();
    Proc login = Start({"--json", "login", "--callback-port", std::to_string(port), "--timeout",
                        "60s"},
                       env, false);
    std::string line = login.WaitLine("\"login_url\"", std::chrono::seconds(60));
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << login.got;
    if (!j.is_object()) {
      login.Wait(std::chrono::seconds(5));
      return {-1, login.got};
    }
    EXPECT_EQ(j["appid"], "127.0.0.1:47817");
    EXPECT_EQ(j["callback_port"], port);
    std::vector<std::string> a = {"--json", "devnet", "approve", j["url"].get<std::string>(),
                                  "--deliver", "http://127.0.0.1:" + std::to_string(port)};
    a.insert(a.end(), approve_flags.begin(), approve_flags.end());
    Ran approve = Qstor(a, env);
    EXPECT_EQ(approve.code, 0) << approve.out;
    login.Wait(std::chrono::seconds(60));
    return {login.code, login.got};
  }

  // `qstor login --callback-port 0` (paste only): `make_callback` turns the
  // login URL into what is pasted on its stdin.
  template <typename F>
  Ran LoginByPaste(const Env& env, F make_callback) {
    Proc login = Start({"--json", "login", "--callback-port", "0", "--timeout", "60s"}, env, true);
    std::string line = login.WaitLine("\"login_url\"", std::chrono::seconds(60));
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << login.got;
    if (!j.is_object()) {
      login.Wait(std::chrono::seconds(5));
      return {-1, login.got};
    }
    std::string cb = make_callback(j["url"].get<std::string>()) + "\n";
    EXPECT_EQ(::write(login.in, cb.data(), cb.size()), static_cast<ssize_t>(cb.size()));
    login.Wait(std::chrono::seconds(60));
    return {login.code, login.got};
  }

  // The callback the devnet's phone makes for `login_url` (not delivered).
  std::string PhoneCallback(const Env& env, const std::string& login_url,
                            std::vector<std::string> flags = {}) {
    std::vector<std::string> a = {"--json", "devnet", "approve", login_url, "--print-callback"};
    a.insert(a.end(), flags.begin(), flags.end());
    Ran r = Qstor(a, env);
    EXPECT_EQ(r.code, 0) << r.out;
    auto j = LastJson(r.out);
    return j.is_object() ? j.value("callback_url", std::string()) : std::string();
  }

  std::string root_;
  qstor::testing::DevnetTwin net_;
};

TEST_F(ConnectLoginTest, LoginInitApplyWriteThenRecoverOnANewHomeByLoggingInAgain) {
  const bool fuse = ::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0;
  const std::string home = root_ + "/home", mnt = root_ + "/mnt";
  Env env = Home(home);

  // --- login, before there is a keystore: sealed in connect-login.json.
  Ran login = LoginThroughListener(env);
  ASSERT_EQ(login.code, 0) << login.out;
  auto lj = LastJson(login.out);
  EXPECT_EQ(lj["double_name"], "demo.3bot") << login.out;
  EXPECT_EQ(lj["derived_seed"], true);
  EXPECT_EQ(lj["stored"], reconciler::ConnectLoginPath(home));
  EXPECT_EQ(login.out.find("derived_seed\":\""), std::string::npos) << "the seed was printed";
  EXPECT_EQ(sfs::status(reconciler::ConnectLoginPath(home)).permissions() & sfs::perms::all,
            sfs::perms::owner_read | sfs::perms::owner_write);
  EXPECT_EQ(ReadAll(reconciler::ConnectLoginPath(home)).find("demo"), std::string::npos)
      << "the login file is not sealed";

  {
    Ran w = Qstor({"--json", "whoami"}, env);
    ASSERT_EQ(w.code, 0) << w.out;
    auto j = LastJson(w.out);
    EXPECT_EQ(j["connect"]["double_name"], "demo.3bot") << w.out;
    EXPECT_EQ(j["connect"]["email"], "demo@devnet.local");
    EXPECT_EQ(j["connect"]["email_verified"], true) << w.out;
    EXPECT_EQ(j["identity_source"], "none");
    EXPECT_FALSE(j.contains("derived_seed")) << w.out;
  }

  // --- init --from-connect: the words from the derivedSeed.
  Ran init = Qstor({"init", "--from-connect"}, env);
  ASSERT_EQ(init.code, 0) << init.out;
  EXPECT_FALSE(sfs::exists(reconciler::ConnectLoginPath(home))) << "moved into the keystore";
  auto profile = reconciler::LoadConnectProfile(home, kPass);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  ASSERT_TRUE(profile->derived_seed.has_value());
  EXPECT_TRUE(profile->identity_from_connect);
  auto words = grid::connect::ConnectMnemonic(*profile->derived_seed);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(init.out.find(words->substr(0, 15)), std::string::npos) << "words printed by init";
  auto id = reconciler::OpenIdentity(reconciler::KeystorePath(home), kPass);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_NE(init.out.find(id->Address()), std::string::npos) << init.out;
  {
    // export-mnemonic: to a terminal only, unless asked.
    Ran refused = Qstor({"wallet", "export-mnemonic"}, env);
    EXPECT_EQ(refused.code, 1) << refused.out;
    EXPECT_NE(refused.out.find("not a terminal"), std::string::npos) << refused.out;
    Ran shown = Qstor({"--json", "wallet", "export-mnemonic", "--allow-non-terminal"}, env);
    ASSERT_EQ(shown.code, 0) << shown.out;
    EXPECT_EQ(LastJson(shown.out)["mnemonic"], *words);
    Env wrong = env;
    wrong["QSTOR_PASSPHRASE"] = "not the passphrase";
    Ran bad = Qstor({"wallet", "export-mnemonic", "--allow-non-terminal"}, wrong);
    EXPECT_EQ(bad.code, 1);
    EXPECT_EQ(bad.out.find(words->substr(0, 15)), std::string::npos);
  }
  {
    Ran w = Qstor({"--json", "whoami"}, env);
    ASSERT_EQ(w.code, 0) << w.out;
    auto j = LastJson(w.out);
    EXPECT_EQ(j["identity_source"], "connect") << w.out;
    EXPECT_EQ(j["address"], id->Address());
    // And the TF dashboard's sr25519 account of the same words, named apart.
    EXPECT_EQ(j["sr25519_address"], id->Sr25519Address()) << w.out;
    EXPECT_NE(j["sr25519_address"], j["address"]);
  }
  {
    // Logging in again with a keystore: the profile goes into its sealed part
    // and the identity stays the Connect one.
    Ran again = LoginThroughListener(env);
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_EQ(LastJson(again.out)["stored"], reconciler::KeystorePath(home)) << again.out;
    EXPECT_FALSE(sfs::exists(reconciler::ConnectLoginPath(home)));
    Ran w = Qstor({"--json", "whoami"}, env);
    EXPECT_EQ(LastJson(w.out)["identity_source"], "connect") << w.out;
  }

  if (!fuse) GTEST_SKIP() << "the rest needs root and /dev/fuse (real FUSE mounts)";

  // --- fund the new twin (the devnet's bridge) and apply a small storage.
  grid::HttpGrid g(grid::DevnetEndpoint(net_.base_url(), net_.chain_url()));
  auto twin = g.RegisterTwin(id->TwinKey(), "relay.devnet");
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  g.SetIdentity(twin->twin_id, id->TwinKey());
  auto dep = g.Call("POST", "/bridge/deposit",
                    nlohmann::json{{"twin_id", twin->twin_id}, {"amount", 1000 * grid::kUnitsPerTft}}
                        .dump());
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  const std::string manifest = root_ + "/storage.yaml";
  {
    std::ofstream f(manifest);
    f << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: e2e\n"
         "spec:\n  network: devnet\n  capacity: 1GiB\n"
         "  redundancy: {dataShards: 2, parityShards: 1}\n  metadata: {backends: 3}\n"
         "  mount:\n    path: " << mnt << "\n    cacheSize: 64MiB\n    durability: local\n"
         "    uploadWithin: 10s\n";
  }
  Ran apply = Qstor({"apply", manifest, "--auto-approve"}, env);
  ASSERT_EQ(apply.code, 0) << apply.out;
  ASSERT_TRUE(IsFuse(mnt)) << apply.out;
  std::string data(300000, '\0');
  std::mt19937_64 rng(17);
  for (auto& ch : data) ch = static_cast<char>(rng());
  { std::ofstream(mnt + "/connect.bin", std::ios::binary) << data; }
  Ran sync = Qstor({"sync", mnt, "--timeout", "120s"}, env);
  ASSERT_EQ(sync.code, 0) << sync.out;
  Ran umount = Qstor({"umount", mnt}, env);
  ASSERT_EQ(umount.code, 0) << umount.out;
  {
    Ran w = Qstor({"--json", "whoami"}, env);
    auto j = LastJson(w.out);
    ASSERT_TRUE(j["networks"].is_array()) << w.out;
    EXPECT_EQ(j["networks"][0]["network"], "devnet");
    EXPECT_EQ(j["networks"][0]["twin_id"], twin->twin_id) << w.out;
  }

  // --- a brand-new machine: log in again, recover with no words typed.
  const std::string home2 = root_ + "/home2", mnt2 = root_ + "/mnt2";
  Env env2 = Home(home2);
  env2["QSTOR_PASSPHRASE"] = "a new machine's passphrase";
  Ran login2 = LoginThroughListener(env2);
  ASSERT_EQ(login2.code, 0) << login2.out;
  Ran rec = Qstor({"recover", "--from-connect", "--name", "e2e", "--mount", mnt2}, env2);
  ASSERT_EQ(rec.code, 0) << rec.out;
  EXPECT_NE(rec.out.find("twin " + std::to_string(twin->twin_id)), std::string::npos) << rec.out;
  ASSERT_TRUE(IsFuse(mnt2)) << rec.out;
  std::string back = ReadAll(mnt2 + "/connect.bin");
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "connect.bin differs after recover --from-connect";
  Ran u2 = Qstor({"umount", mnt2}, env2);
  EXPECT_EQ(u2.code, 0) << u2.out;
  auto pub2 = reconciler::ReadKeystorePublic(reconciler::KeystorePath(home2));
  ASSERT_TRUE(pub2.ok());
  EXPECT_EQ(pub2->address, id->Address());
  EXPECT_EQ(pub2->sr25519_address, id->Sr25519Address()) << "recover records both addresses";
  Ran w2 = Qstor({"--json", "whoami"}, env2);
  EXPECT_EQ(LastJson(w2.out)["identity_source"], "connect") << w2.out;
}

void ExpectRefusedBy(const Ran& r, const std::string& check) {
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("qstor login: " + check + ":"), std::string::npos)
      << "expected the " << check << " check to refuse:\n" << r.out;
  EXPECT_EQ(r.out.find("\"logged_in\""), std::string::npos) << r.out;
}

TEST_F(ConnectLoginTest, EveryBadCallbackIsRefusedNamingItsCheck) {
  const std::string home = root_ + "/home";
  Env env = Home(home);
  // A forged attempt (signed by another key) and a refusal on the phone.
  ExpectRefusedBy(LoginThroughListener(env, {"--forge"}), "signature");
  ExpectRefusedBy(LoginThroughListener(env, {"--deny"}), "refused");
  EXPECT_FALSE(sfs::exists(reconciler::ConnectLoginPath(home)));

  // A wrong state: the callback of another login request.
  std::string other_cb;
  {
    Proc first = Start({"--json", "login", "--callback-port", "0", "--timeout", "5s"}, env, true);
    auto j = nlohmann::json::parse(first.WaitLine("\"login_url\"", std::chrono::seconds(60)),
                                   nullptr, false);
    ASSERT_TRUE(j.is_object()) << first.got;
    other_cb = PhoneCallback(env, j["url"]);
    first.Wait(std::chrono::seconds(30));  // times out: never given a callback
    EXPECT_EQ(first.code, 1);
    EXPECT_NE(first.got.find("no callback"), std::string::npos) << first.got;
  }
  ASSERT_FALSE(other_cb.empty());
  ExpectRefusedBy(LoginByPaste(env, [&](const std::string&) { return other_cb; }), "state");

  // A wrong appid: the phone was asked for another app.
  ExpectRefusedBy(LoginByPaste(env,
                               [&](const std::string& url) {
                                 std::string u = url;
                                 const std::string from = "appid=127.0.0.1%3A47817";
                                 u.replace(u.find(from), from.size(), "appid=evil.example");
                                 return PhoneCallback(env, u);
                               }),
                  "appId");

  // Truncated base64 in the signed attempt.
  ExpectRefusedBy(LoginByPaste(env,
                               [&](const std::string& url) {
                                 std::string cb = PhoneCallback(env, url);
                                 size_t q = cb.find("signedAttempt=") + 14;
                                 auto j = nlohmann::json::parse(
                                     *grid::connect::UrlDecode(cb.substr(q), "cb"));
                                 std::string sa = j["signedAttempt"];
                                 j["signedAttempt"] = sa.substr(0, sa.size() - 5);
                                 return cb.substr(0, q) + grid::connect::UrlEncode(j.dump());
                               }),
                  "signedAttempt");

  // A good login by paste, then the same callback again: a replay.
  std::string used_cb;
  Ran ok = LoginByPaste(env, [&](const std::string& url) {
    used_cb = PhoneCallback(env, url);
    return used_cb;
  });
  ASSERT_EQ(ok.code, 0) << ok.out;
  ExpectRefusedBy(LoginByPaste(env, [&](const std::string&) { return used_cb; }), "replay");

  // A scope without derivedSeed: the login works, init --from-connect refuses.
  Ran no_seed = LoginByPaste(env, [&](const std::string& url) {
    std::string u = url;
    size_t s = u.find("&scope=");
    u = u.substr(0, s) + "&scope=" +
        grid::connect::UrlEncode(R"({"doubleName":true,"email":true})");
    return PhoneCallback(env, u);
  });
  ASSERT_EQ(no_seed.code, 0) << no_seed.out;
  EXPECT_EQ(LastJson(no_seed.out)["derived_seed"], false);
  Ran init = Qstor({"init", "--from-connect"}, env);
  EXPECT_EQ(init.code, 1) << init.out;
  EXPECT_NE(init.out.find("scope: "), std::string::npos) << init.out;
  EXPECT_NE(init.out.find("no derivedSeed"), std::string::npos) << init.out;
  EXPECT_FALSE(sfs::exists(reconciler::KeystorePath(home)));
  Ran rec = Qstor({"recover", "--from-connect", "--mount", root_ + "/mnt"}, env);
  EXPECT_EQ(rec.code, 1) << rec.out;
  EXPECT_NE(rec.out.find("no derivedSeed"), std::string::npos) << rec.out;
}

TEST_F(ConnectLoginTest, DevnetUsersApiAndVerifySei) {
  grid::HttpClient c(std::chrono::seconds(10));
  auto r = c.Send("GET", net_.base_url() + "/api/users/demo.3bot");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  auto pk = grid::connect::ParseUserPublicKey(r->body, "demo.3bot");
  ASSERT_TRUE(pk.ok()) << pk.status().ToString();
  // Asked again: the same key (kept in the ledger; devnet_test checks a restart).
  auto again = c.Send("GET", net_.base_url() + "/api/users/demo.3bot");
  EXPECT_EQ(again->body, r->body);
  EXPECT_EQ(c.Send("GET", net_.base_url() + "/api/users/nobody.3bot")->status, 404);
  EXPECT_NE(c.Send("GET", net_.base_url() + "/api/users/a%2Fb")->status, 200);
  auto bad = c.Send("POST", net_.base_url() + "/verification/verify-sei",
                    R"({"signedEmailIdentifier":"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
}

// `qstor devnet fund` (the devnet's faucet, beside the login service this
// file drives): a sentence for people, the devnet's JSON under --json.
TEST_F(ConnectLoginTest, DevnetFundSaysWhatItDidAndGivesJsonOnRequest) {
  Env env = Home(root_ + "/home");
  const std::string alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
  Ran j = Qstor({"--json", "devnet", "fund", alice, "1"}, env);
  ASSERT_EQ(j.code, 0) << j.out;
  auto jj = LastJson(j.out);
  EXPECT_EQ(jj["account_id"], alice) << j.out;
  EXPECT_EQ(jj["credited"], grid::kUnitsPerTft) << j.out;
  ASSERT_TRUE(jj["free"].is_number_unsigned()) << j.out;
  const uint64_t free = jj["free"].get<uint64_t>();

  Ran h = Qstor({"devnet", "fund", alice, "12.5"}, env);
  ASSERT_EQ(h.code, 0) << h.out;
  EXPECT_EQ(h.out, "Credited 12.5000000 TFT to " + alice +
                       " on the devnet; its free balance is now " +
                       grid::FormatTft(free + 125 * grid::kUnitsPerTft / 10) + ".\n");

  Ran bad = Qstor({"devnet", "fund", alice, "lots"}, env);
  EXPECT_EQ(bad.code, 1) << bad.out;
}

}  // namespace
}  // namespace qstor::cli
