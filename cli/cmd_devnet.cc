// qstor devnet: run and operate the embedded local grid (docs/devnet.md).
//
//   devnet serve   foreground server (used by `start` and tests)
//   devnet start   daemon: pid file, log file, waits until it answers
//   devnet stop | status | reset
//   devnet approve <uuid|threebot://...|TFT:...|login URL>   play the phone app
//   devnet node down|up|wipe|slow ID [--latency-ms N]
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/session.h"
#include "grid/http_grid.h"
#endif
#include "common/file_util.h"

#if QSTOR_HAVE_DEVNET
#include "devnet/devnet.h"
#include "grid/http_client.h"
#include "grid/network.h"
#endif

namespace qstor::cli {

#if QSTOR_HAVE_DEVNET
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DevnetArgs {
  std::string data;
  int port = 0;
  uint32_t nodes = devnet::kDefaultNodes;
  uint64_t seed = 1;
  double hour_seconds = 3600;
  double grace_hours = 14 * 24;
  bool yes = false;
  std::string request;
  std::string action;
  uint32_t node_id = 0;
  uint32_t latency_ms = 0;
  // approve <login URL>
  bool deny = false;
  bool forge = false;
  bool print_callback = false;
  std::string user = "demo.3bot";
  std::string deliver;
  bool print = false;  // approve <sign request>: print the calls the phone decoded
  uint32_t block_ms = 1000;
  std::string address;
  std::string tft;
};

// The devnet's chain URL (chain.port beside devnet.port), if written.
std::optional<std::string> ChainUrl(const std::string& dir) {
  auto text = ReadFileBounded(grid::DevnetChainPortFile(dir), 64, "chain port file");
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  long port = 0;
  if (!(in >> port) || port <= 0 || port > 65535) return std::nullopt;
  return "ws://127.0.0.1:" + std::to_string(port);
}

std::string DataDir(const DevnetArgs& a) {
  return a.data.empty() ? grid::DefaultDevnetDir() : a.data;
}
std::string PidFile(const std::string& dir) { return dir + "/devnet.pid"; }
std::string LogFile(const std::string& dir) { return dir + "/devnet.log"; }

// The pid of a running devnet serving `dir`, or 0.
pid_t RunningPid(const std::string& dir) {
  auto text = ReadFileBounded(PidFile(dir), 64, "pid file");
  if (!text.ok()) return 0;
  std::istringstream in(*text);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  if (::kill(pid_t(pid), 0) != 0) return 0;
  return pid_t(pid);
}

// Base URL of the running devnet (port file) if it answers /ping.
std::optional<std::string> LiveUrl(const std::string& dir) {
  auto ep = grid::ResolveNetwork("devnet", dir);
  if (!ep.ok()) return std::nullopt;
  grid::HttpClient c(std::chrono::seconds(2));
  auto r = c.Send("GET", ep->base_url + "/ping");
  if (!r.ok() || r->status != 200) return std::nullopt;
  return ep->base_url;
}

std::string SelfExe() {
  if (const char* b = std::getenv("QSTOR_BIN"); b && *b) return b;
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).string();
}

void AddServeOptions(CLI::App* c, DevnetArgs* a) {
  c->add_option("--data", a->data, "Data directory (default: $QSTOR_HOME/devnet or "
                                   "~/.local/share/qstor/devnet)");
  c->add_option("--port", a->port, "HTTP port on 127.0.0.1 (0 = a free port)")
      ->check(CLI::Range(0, 65535));
  c->add_option("--nodes", a->nodes, "Number of nodes (fresh ledger only)")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  c->add_option("--seed", a->seed, "Topology seed (fresh ledger only)")->capture_default_str();
  c->add_option("--hour-seconds", a->hour_seconds, "Length of a devnet hour in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--grace-hours", a->grace_hours, "Grace period in devnet hours")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--block-ms", a->block_ms, "Block time of the devnet's chain in milliseconds")
      ->check(CLI::Range(10u, 600000u))
      ->capture_default_str();
}

int Serve(const DevnetArgs& a) {
  // Block the stop signals in every thread; this thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  devnet::DevnetOptions o;
  o.data_dir = DataDir(a);
  o.port = uint16_t(a.port);
  o.nodes = a.nodes;
  o.seed = a.seed;
  o.hour_seconds = a.hour_seconds;
  o.grace_hours = a.grace_hours;
  o.block_ms = a.block_ms;
  o.qstor_bin = SelfExe();
  auto d = devnet::Devnet::Start(o);
  if (!d.ok()) {
    std::cerr << "qstor devnet serve: " << d.status().ToString() << "\n";
    return kExitError;
  }
  std::printf("devnet listening on %s, chain on %s (data %s)\n", (*d)->base_url().c_str(),
              (*d)->chain_url().c_str(), o.data_dir.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*d)->Stop();
  std::printf("devnet stopped (signal %d)\n", sig);
  return kExitOk;
}

int Start(const DevnetArgs& a) {
  std::string dir = DataDir(a);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) {
    std::cerr << "qstor devnet start: cannot create " << dir << " (0700): " << ec.message() << "\n";
    return kExitError;
  }
  if (pid_t pid = RunningPid(dir)) {
    auto url = LiveUrl(dir);
    std::cout << "devnet already running (pid " << pid << ") at "
              << (url ? *url : std::string("<not answering>")) << "\n";
    return url ? kExitOk : kExitError;
  }
  fs::remove(grid::DevnetPortFile(dir), ec);
  fs::remove(grid::DevnetChainPortFile(dir), ec);
  std::string exe = SelfExe();
  std::vector<std::string> args = {exe,
                                   "devnet",
                                   "serve",
                                   "--data",
                                   dir,
                                   "--port",
                                   std::to_string(a.port),
                                   "--nodes",
                                   std::to_string(a.nodes),
                                   "--seed",
                                   std::to_string(a.seed),
                                   "--hour-seconds",
                                   std::to_string(a.hour_seconds),
                                   "--grace-hours",
                                   std::to_string(a.grace_hours),
                                   "--block-ms",
                                   std::to_string(a.block_ms)};
  pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "qstor devnet start: fork failed\n";
    return kExitError;
  }
  if (pid == 0) {
    ::setsid();
    int log = ::open(LogFile(dir).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    if (devnull >= 0) ::dup2(devnull, 0);
    CloseDescriptorsFrom3();
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  if (Status w = WriteFileAtomic(PidFile(dir), std::to_string(pid) + "\n", 0600); !w.ok()) {
    std::cerr << "qstor devnet start: " << w.ToString() << "\n";
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto url = LiveUrl(dir)) {
      auto chain = ChainUrl(dir);
      std::cout << "devnet started (pid " << pid << ") at " << *url << "\n"
                << "  chain: " << chain.value_or("<none>") << "\n"
                << "  data: " << dir << "\n  log:  " << LogFile(dir) << "\n";
      return kExitOk;
    }
    if (::kill(pid, 0) != 0 || ::waitpid(pid, nullptr, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "qstor devnet start: the devnet did not become ready; see " << LogFile(dir)
            << "\n";
  ::kill(pid, SIGTERM);
  return kExitError;
}

int Stop(const DevnetArgs& a) {
  std::string dir = DataDir(a);
  pid_t pid = RunningPid(dir);
  if (pid == 0) {
    std::cout << "devnet not running (" << dir << ")\n";
    return kExitOk;
  }
  ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::kill(pid, 0) != 0) break;
    ::waitpid(pid, nullptr, WNOHANG);  // reaps it if we are its parent
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (::kill(pid, 0) == 0) {
    std::cerr << "qstor devnet stop: pid " << pid << " did not stop within 15 s\n";
    return kExitError;
  }
  std::error_code ec;
  fs::remove(PidFile(dir), ec);
  std::cout << "devnet stopped (pid " << pid << ")\n";
  return kExitOk;
}

int StatusCmd(const DevnetArgs& a, bool as_json) {
  std::string dir = DataDir(a);
  pid_t pid = RunningPid(dir);
  auto url = LiveUrl(dir);
  json out{{"data_dir", dir}, {"running", url.has_value()}, {"pid", pid}};
  if (url) {
    out["url"] = *url;
    out["proxy_url"] = *url;
    if (auto chain = ChainUrl(dir)) out["chain_url"] = *chain;
    grid::HttpClient c(std::chrono::seconds(5));
    auto s = c.Send("GET", *url + "/stats");
    if (s.ok() && s->status == 200) out["stats"] = json::parse(s->body, nullptr, false);
  }
  if (as_json) {
    std::cout << out.dump() << "\n";
  } else if (url) {
    std::cout << "devnet running (pid " << pid << ") at " << *url << "\n  chain: "
              << out.value("chain_url", std::string("<none>")) << "\n  data: " << dir << "\n";
    if (out.contains("stats") && out["stats"].is_object()) {
      const auto& st = out["stats"];
      std::cout << "  nodes up: " << st.value("nodes", 0) << " in " << st.value("countries", 0)
                << " countries, farms: " << st.value("farms", 0)
                << ", twins: " << st.value("twins", 0)
                << ", live contracts: " << st.value("contracts", 0) << "\n";
    }
  } else {
    std::cout << "devnet not running (" << dir << ")\n";
  }
  return url ? kExitOk : kExitError;
}

int Reset(const DevnetArgs& a) {
  std::string dir = DataDir(a);
  if (RunningPid(dir)) {
    int rc = Stop(a);
    if (rc != kExitOk) return rc;
  }
  if (!a.yes) {
    std::cerr << "qstor devnet reset: this deletes the devnet ledger and every namespace in "
              << dir << "; run again with --yes\n";
    return kExitError;
  }
  std::error_code ec;
  for (const char* f : {"ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "devnet.port",
                        "chain.port", "devnet.pid", "devnet.log"}) {
    fs::remove(dir + "/" + f, ec);
  }
  fs::remove_all(dir + "/nodes", ec);
  if (ec) {
    std::cerr << "qstor devnet reset: " << ec.message() << "\n";
    return kExitError;
  }
  std::cout << "devnet reset: " << dir << " is empty; `qstor devnet start` makes a fresh one\n";
  return kExitOk;
}

int Answer(const Result<grid::HttpResult>& r, bool as_json, const char* what);

int Post(const DevnetArgs& a, const std::string& path, const json& body, bool as_json,
         const char* what) {
  std::string dir = DataDir(a);
  auto url = LiveUrl(dir);
  if (!url) {
    std::cerr << "qstor devnet " << what << ": devnet not running (" << dir
              << "); start it with `qstor devnet start`\n";
    return kExitError;
  }
  grid::HttpClient c(std::chrono::seconds(60));
  return Answer(c.Send("POST", *url + path, body.dump()), as_json, what);
}

// The human line for a successful `devnet <what>` answer: a sentence where
// one is written (fund), else "<what>: <JSON>".
std::string HumanAnswer(const std::string& what, const json& j) {
  if (what == "fund" && j.is_object() && j.value("account_id", json()).is_string() &&
      j.value("credited", json()).is_number_unsigned() &&
      j.value("free", json()).is_number_unsigned()) {
    return fmt::format("Credited {} to {} on the devnet; its free balance is now {}.",
                       grid::FormatTft(j["credited"].get<uint64_t>()),
                       j["account_id"].get<std::string>(),
                       grid::FormatTft(j["free"].get<uint64_t>()));
  }
  return what + ": " + j.dump();
}

// Prints what the devnet answered a `devnet <what>` request (its JSON, or
// the error it gave); the exit code.
int Answer(const Result<grid::HttpResult>& r, bool as_json, const char* what) {
  if (!r.ok()) {
    std::cerr << "qstor devnet " << what << ": " << r.status().ToString() << "\n";
    return kExitError;
  }
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::cerr << "qstor devnet " << what << ": "
              << (j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r->body)
              << "\n";
    return kExitError;
  }
  if (as_json) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << HumanAnswer(what, j) << "\n";
  }
  return kExitOk;
}

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
// Gives the devnet's phone (POST /app/keys) this identity's twin key when
// this identity is twin `twin_id` on the devnet at `url`.
Status PairDevnetPhone(const std::string& dir, const std::string& url, uint32_t twin_id) {
  auto home = QstorHome();
  if (!home.ok()) return home.status();
  auto id = UnlockIdentity(*home);
  if (!id.ok()) return id.status();
  auto ep = grid::ResolveNetwork("devnet", dir);
  if (!ep.ok()) return ep.status();
  grid::HttpGrid g(*ep);
  auto twin = g.GetTwinByPublicKey(id->TwinKey().PublicKeyHex());
  if (!twin.ok() && twin.status().code() != Status::Code::kNotFound) return twin.status();
  const uint32_t mine = twin.ok() ? twin->twin_id : 0;
  if (mine != twin_id) {
    return Status::PermissionDenied(fmt::format(
        "the request is for twin {}, and this identity is {} on this devnet", twin_id,
        mine == 0 ? std::string("no twin") : "twin " + std::to_string(mine)));
  }
  grid::HttpClient c(std::chrono::seconds(30));
  auto r = c.Send("POST", url + "/app/keys", json{{"seed", id->TwinKey().SeedHex()}}.dump());
  if (!r.ok()) return r.status();
  if (r->status != 200) return Status::Unavailable("POST /app/keys: " + r->body);
  return Status::OK();
}
#endif

// `devnet approve`: plays the phone. The devnet's phone signs with the
// twin's key, as the real app holds the user's mnemonic; the first time it
// lacks the key of the request's twin, it is paired from this machine's
// identity (keystore or QSTOR_MNEMONIC), after checking that the request's
// twin is this identity's. Only ever sent to the devnet on 127.0.0.1.
// A ThreeFold Connect login URL (http[s]://...?state=..&appid=..): the
// devnet's phone signs an attempt as `a.user` (POST /app/login), then this
// command plays the browser and delivers the callback to
// http://<appid><redirecturl> (or to --deliver's host and port), or prints
// it (--print-callback) for pasting into `qstor login`.
int ApproveLogin(const DevnetArgs& a, const std::string& url, bool as_json) {
  grid::HttpClient c(std::chrono::seconds(60));
  json body{{"url", a.request}, {"user", a.user}, {"deny", a.deny}, {"forge", a.forge}};
  auto r = c.Send("POST", url + "/app/login", body.dump());
  if (!r.ok() || r->status != 200) return Answer(r, as_json, "approve");
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("callback_url") || !j["callback_url"].is_string()) {
    std::cerr << "qstor devnet approve: the devnet answered no callback_url: " << r->body << "\n";
    return kExitError;
  }
  std::string cb = j["callback_url"].get<std::string>();
  if (a.print_callback) {
    if (as_json) {
      std::cout << json{{"callback_url", cb}, {"approved", j.value("approved", false)}}.dump() << "\n";
    } else {
      std::cout << cb << "\n";
    }
    return kExitOk;
  }
  std::string target = cb;
  if (!a.deliver.empty()) {
    // http://<appid>/path?q -> <deliver>/path?q
    size_t path = cb.find('/', std::string("http://").size());
    std::string base = a.deliver;
    while (!base.empty() && base.back() == '/') base.pop_back();
    target = base + (path == std::string::npos ? std::string("/") : cb.substr(path));
  }
  grid::HttpClient browser(std::chrono::seconds(30));
  auto d = browser.Send("GET", target);
  if (!d.ok()) {
    std::string why = d.status().message();
    if (size_t at = why.rfind(": "); at != std::string::npos) why = why.substr(at + 2);
    std::cerr << "qstor devnet approve: could not deliver the callback to "
              << target.substr(0, target.find('?')) << " (" << why
              << "); paste this URL into `qstor login`:\n" << cb << "\n";
    return kExitError;
  }
  if (as_json) {
    std::cout << json{{"delivered", true},
                      {"status", d->status},
                      {"approved", j.value("approved", false)},
                      {"forged", j.value("forged", false)},
                      {"user", a.user}}
                     .dump()
              << "\n";
  } else {
    std::cout << (j.value("approved", false) ? "Approved" : "Refused") << " the login as "
              << a.user << (j.value("forged", false) ? " (forged signature)" : "")
              << "; callback delivered (HTTP " << d->status << ").\n";
  }
  return d->status == 200 ? kExitOk : kExitError;
}

bool IsLoginUrl(const std::string& s) {
  return (s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0) &&
         s.find("appid=") != std::string::npos && s.find("state=") != std::string::npos;
}

int Approve(const DevnetArgs& a, bool as_json) {
  std::string dir = DataDir(a);
  auto url = LiveUrl(dir);
  if (!url) {
    std::cerr << "qstor devnet approve: devnet not running (" << dir
              << "); start it with `qstor devnet start`\n";
    return kExitError;
  }
  if (IsLoginUrl(a.request)) {
    if (a.print) {
      std::cerr << "qstor devnet approve: --print is for sign requests (threebot://signandpay/#...)\n";
      return kExitError;
    }
    return ApproveLogin(a, *url, as_json);
  }
  if (a.deny || a.forge || a.print_callback || !a.deliver.empty()) {
    std::cerr << "qstor devnet approve: --deny, --forge, --print-callback and --deliver are for "
                 "ThreeFold Connect login URLs\n";
    return kExitError;
  }
  grid::HttpClient c(std::chrono::seconds(60));
  const std::string body = json{{"request", a.request}}.dump();
  auto first = c.Send("POST", *url + "/app/approve", body);
#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
  if (first.ok() && first->status != 200) {
    json j = json::parse(first->body, nullptr, false);
    std::string err = j.is_object() ? j.value("error", std::string()) : std::string();
    const std::string marker = "no key for twin ";
    if (size_t at = err.find(marker); at != std::string::npos) {
      uint32_t want =
          static_cast<uint32_t>(std::strtoul(err.c_str() + at + marker.size(), nullptr, 10));
      Status pst = PairDevnetPhone(dir, *url, want);
      if (!pst.ok()) {
        std::cerr << "qstor devnet approve: the devnet's phone has no key for twin " << want
                  << " and could not be paired from this machine: " << pst.message() << "\n";
        return kExitError;
      }
      std::cerr << "Paired the devnet's phone with twin " << want
                << " (this identity's key, as your phone holds your mnemonic).\n";
      first = c.Send("POST", *url + "/app/approve", body);
    }
  }
#endif
  if (a.print && first.ok() && first->status == 200) {
    // What the phone showed before signing: one line per call it decoded.
    json j = json::parse(first->body, nullptr, false);
    if (j.is_object() && j.contains("calls") && j["calls"].is_array()) {
      std::cout << "The phone showed (" << j.value("flow", std::string("?")) << " flow):\n";
      for (const auto& call : j["calls"]) {
        std::cout << "  " << (call.is_string() ? call.get<std::string>() : call.dump()) << "\n";
      }
    }
  }
  return Answer(first, as_json, "approve");
}

}  // namespace

void RegisterDevnet(CLI::App& app, Context& ctx) {
  CLI::App* dn = app.add_subcommand(
      "devnet", "Run the embedded local grid: a grid-proxy compatible API, a chain-like ledger "
                "and real 0-db nodes on 127.0.0.1 (docs/devnet.md)");
  dn->require_subcommand(1);
  auto a = std::make_shared<DevnetArgs>();

  CLI::App* serve = dn->add_subcommand("serve", "Run the devnet in the foreground until SIGTERM/SIGINT");
  AddServeOptions(serve, a.get());
  serve->callback([&ctx, a] { ctx.exit_code = Serve(*a); });

  CLI::App* start = dn->add_subcommand("start", "Start the devnet daemon (pid file, log file) and "
                                                "wait until it answers");
  AddServeOptions(start, a.get());
  start->callback([&ctx, a] { ctx.exit_code = Start(*a); });

  CLI::App* stop = dn->add_subcommand("stop", "Stop the devnet daemon");
  stop->add_option("--data", a->data, "Data directory");
  stop->callback([&ctx, a] { ctx.exit_code = Stop(*a); });

  CLI::App* status = dn->add_subcommand("status", "Is the devnet running; where; what it holds "
                                                  "(exit 0 running, 1 not)");
  status->add_option("--data", a->data, "Data directory");
  status->callback([&ctx, a] { ctx.exit_code = StatusCmd(*a, ctx.global.json); });

  CLI::App* reset = dn->add_subcommand("reset", "Stop the devnet and delete its ledger and nodes");
  reset->add_option("--data", a->data, "Data directory");
  reset->add_flag("--yes", a->yes, "Really delete");
  reset->callback([&ctx, a] { ctx.exit_code = Reset(*a); });

  CLI::App* approve = dn->add_subcommand(
      "approve", "Play the phone app: sign and pay a sign-and-pay request (uuid, "
                 "threebot://signandpay/#URL or the inline threebot://signandpay/#{...}), pay a "
                 "top-up URI (TFT:...), or approve a "
                 "ThreeFold Connect login (its login URL)");
  approve->add_option("request", a->request,
                      "uuid, threebot:// URI, TFT: URI, or a ThreeFold Connect login URL")
      ->required();
  approve->add_option("--data", a->data, "Data directory");
  approve->add_flag("--deny", a->deny, "Login URL: refuse the login on the phone");
  approve->add_flag("--forge", a->forge,
                    "Login URL: sign the attempt with another key than the user's (tests)");
  approve->add_option("--user", a->user, "Login URL: the devnet user who logs in")
      ->capture_default_str();
  approve->add_flag("--print-callback", a->print_callback,
                    "Login URL: print the callback URL (to paste into `qstor login`) instead of "
                    "delivering it");
  approve->add_flag("--print", a->print,
                    "Sign request: print the calls the phone decoded from the payloads (what it "
                    "shows before signing)");
  approve->add_option("--deliver", a->deliver,
                      "Login URL: deliver the callback to this base URL (e.g. "
                      "http://127.0.0.1:PORT, for `qstor login --callback-port PORT`) instead of "
                      "http://<appid>");
  approve->callback([&ctx, a] { ctx.exit_code = Approve(*a, ctx.global.json); });

  CLI::App* fund = dn->add_subcommand(
      "fund", "The devnet's faucet: credit TFT to any account (SS58 address or hex public key)");
  fund->add_option("address", a->address, "SS58 address or 0x/hex public key")->required();
  fund->add_option("tft", a->tft, "Amount in TFT (up to 7 decimals)")->required();
  fund->add_option("--data", a->data, "Data directory");
  fund->callback([&ctx, a] {
    auto units = devnet::ParseTftAmount(a->tft);
    if (!units.ok() || *units == 0) {
      std::cerr << "qstor devnet fund: '" << a->tft << "' is not a positive TFT amount\n";
      ctx.exit_code = kExitError;
      return;
    }
    std::string addr = a->address;
    if (addr.rfind("0x", 0) == 0) addr = addr.substr(2);
    ctx.exit_code = Post(*a, "/admin/fund", json{{"address", addr}, {"units", *units}},
                         ctx.global.json, "fund");
  });

  CLI::App* node = dn->add_subcommand("node", "Faults: take a node down, bring it up, wipe its "
                                              "disk, or add latency to its calls");
  node->add_option("action", a->action, "down | up | wipe | slow")
      ->required()
      ->check(CLI::IsMember({"down", "up", "wipe", "slow"}));
  node->add_option("id", a->node_id, "Node id")->required();
  node->add_option("--latency-ms", a->latency_ms, "Latency for `slow` (0 clears)")
      ->check(CLI::Range(0u, 60000u));
  node->add_option("--data", a->data, "Data directory");
  node->callback([&ctx, a] {
    json body = a->action == "slow" ? json{{"latency_ms", a->latency_ms}} : json::object();
    ctx.exit_code = Post(*a, "/admin/nodes/" + std::to_string(a->node_id) + "/" + a->action, body,
                         ctx.global.json, "node");
  });
}

#else

void RegisterDevnet(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "devnet", "Run the embedded local grid (start, stop, status, reset, ...)",
              "issue 4, devnet");
}

#endif

}  // namespace qstor::cli
