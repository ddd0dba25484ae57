// qstor login / qstor whoami: log in with ThreeFold Connect (GRID-V3 section
// 6; docs/identity.md "ThreeFold Connect login"). The login URL (and its QR)
// goes to the phone; the browser brings the signed attempt back to a
// listener on 127.0.0.1 (or the user pastes the callback URL on stdin); the
// attempt is verified (users API key, signature, state, appId, crypto_box)
// and the profile is stored sealed (reconciler/connect_profile.h).
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/session.h"
#include "common/units.h"
#include "grid/connect_login.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "grid/network.h"
#include "reconciler/connect_profile.h"
#include "reconciler/keystore.h"
#include "reconciler/qr.h"
#include "reconciler/state.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
namespace {

namespace cn = grid::connect;
namespace sfs = std::filesystem;

struct LoginCli {
  std::string network = "devnet";
  int callback_port = cn::kCallbackPort;
  bool no_browser = false;
  bool no_qr = false;
  bool wallet_address = false;
  std::string timeout = "10m";
};

int Fail(const char* what, const Status& st) {
  std::cerr << "qstor " << what << ": " << st.message() << "\n";
  return kExitError;
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The login service (and KYC service) of a network: the devnet plays both;
// every real network uses ThreeFold's.
struct LoginService {
  std::string login_url, kyc_url;
};
Result<LoginService> ServiceFor(const std::string& network) {
  if (network == "devnet") {
    auto ep = ConnectNetwork("devnet", true);  // starts it when it is not running, as apply does
    if (!ep.ok()) return ep.status();
    return LoginService{ep->base_url, ep->base_url};
  }
  auto ep = grid::ResolveNetwork(network);  // validates the name
  if (!ep.ok()) return ep.status();
  return LoginService{std::string(cn::kMainLoginUrl), std::string(cn::kMainKycUrl)};
}

// Opens the URL in a browser when a desktop session is there (xdg-open),
// detached; quietly does nothing otherwise.
void MaybeOpenBrowser(const std::string& url) {
  if (std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr) return;
  if (::access("/usr/bin/xdg-open", X_OK) != 0) return;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::fork() == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl("/usr/bin/xdg-open", "xdg-open", url.c_str(), static_cast<char*>(nullptr));
    }
    ::_exit(0);
  }
  if (pid > 0) ::waitpid(pid, nullptr, 0);
}

// Waits for the callback: a GET on the listener, or a line pasted on stdin.
Result<std::string> WaitForCallback(cn::CallbackListener* listener, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool stdin_open = true;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Status::Timeout("no callback within the timeout; run `qstor login` again");
    }
    struct pollfd fds[2];
    int n = 0;
    if (listener) fds[n++] = {listener->fd(), POLLIN, 0};
    if (stdin_open) fds[n++] = {0, POLLIN, 0};
    if (n == 0) {
      return Status::Unavailable(
          "no callback: standard input ended and no listener runs (--callback-port 0)");
    }
    int r = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) return Status::IOError("poll: " + std::string(std::strerror(errno)));
    if (r <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (listener && fds[i].fd == listener->fd()) {
        auto target = listener->AcceptOne(
            cn::kRedirectPath,
            "<!doctype html><title>qstor</title><p>qstor received the ThreeFold Connect login. "
            "You can close this window and go back to the terminal.</p>\n");
        if (target.ok()) return target;
        continue;  // another path (favicon...) or a broken request: keep waiting
      }
      char buf[4096];
      ssize_t got = ::read(0, buf, sizeof buf);
      if (got <= 0) {
        stdin_open = false;
        continue;
      }
      line.append(buf, static_cast<size_t>(got));
      if (line.size() > cn::kMaxCallbackBytes) {
        return Status::InvalidArgument("pasted callback: longer than 64 KiB");
      }
      for (size_t nl; (nl = line.find('\n')) != std::string::npos;) {
        std::string one = line.substr(0, nl);
        line.erase(0, nl + 1);
        if (one.find("signedAttempt=") != std::string::npos ||
            one.find("error=") != std::string::npos) {
          return one;
        }
      }
    }
  }
}

int RunLogin(const Context& ctx, const LoginCli& c) {
  const char* what = "login";
  auto timeout = ParseDuration(c.timeout);
  if (!timeout.ok()) return Fail(what, timeout.status().WithContext("--timeout"));
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return Fail(what, home.status());
  auto service = ServiceFor(c.network);
  if (!service.ok()) return Fail(what, service.status());
  // The passphrase first, so a missing one fails before the phone is asked.
  const std::string keystore = reconciler::KeystorePath(*home);
  const bool have_keystore = ::access(keystore.c_str(), F_OK) == 0;
  auto pass = reconciler::ObtainPassphrase(
      have_keystore ? "Passphrase for the keystore " + keystore + ": "
                    : "Passphrase to seal the login in " + reconciler::ConnectLoginPath(*home) +
                          " (at least 8 characters; `qstor init --from-connect` keeps it): ",
      !have_keystore);
  if (!pass.ok()) return Fail(what, pass.status());
  if (have_keystore) {
    auto id = reconciler::OpenIdentity(keystore, *pass);
    if (!id.ok()) return Fail(what, id.status());
  } else if (pass->size() < 8) {
    return Fail(what, Status::InvalidArgument("the passphrase must be at least 8 characters"));
  }

  cn::Scope scope;
  scope.wallet_address = c.wallet_address;
  auto req = cn::NewLoginRequest(scope);
  if (!req.ok()) return Fail(what, req.status());
  const std::string url = cn::LoginUrl(*req, service->login_url);

  std::optional<cn::CallbackListener> listener;
  std::string listen_note;
  if (c.callback_port > 0) {
    auto l = cn::CallbackListener::Listen(static_cast<uint16_t>(c.callback_port));
    if (l.ok()) {
      listener.emplace(std::move(l).value());
    } else {
      listen_note = l.status().message();
    }
  }
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "login_url"},
                                {"url", url},
                                {"appid", req->appid},
                                {"callback_port", listener ? listener->port() : 0}}
                     .dump()
              << std::endl;
  } else {
    std::cout << "Log in with ThreeFold Connect: scan this code with the app, or open the URL "
                 "in a browser where you use it.\n\n";
    if (!c.no_qr) {
      auto qr = reconciler::EncodeQr(url);
      if (qr.ok()) std::cout << reconciler::RenderTerminal(*qr) << "\n";
    }
    std::cout << url << "\n\n";
    if (listener) {
      std::cout << "Waiting for the callback on http://127.0.0.1:" << listener->port()
                << cn::kRedirectPath << " (or paste the callback URL here).\n";
    } else {
      std::cout << "No local callback listener"
                << (listen_note.empty() ? std::string() : " (" + listen_note + ")")
                << ": after approving on the phone, paste the URL the browser was sent to "
                   "(http://"
                << req->appid << cn::kRedirectPath << "?signedAttempt=...) here.\n";
    }
    std::cout.flush();
  }
  if (!c.no_browser) MaybeOpenBrowser(url);

  auto target = WaitForCallback(listener ? &*listener : nullptr, *timeout);
  listener.reset();
  if (!target.ok()) return Fail(what, target.status());
  auto attempt = cn::ParseCallbackUrl(*target);
  if (!attempt.ok()) return Fail(what, attempt.status());

  // The user's key from the login service.
  grid::HttpClient http(std::chrono::seconds(30));
  const std::string users = cn::UsersApiUrl(service->login_url, attempt->double_name);
  auto ans = http.Send("GET", users);
  if (!ans.ok()) return Fail(what, ans.status().WithContext("users API " + users));
  if (ans->status != 200) {
    return Fail(what, Status::NotFound(fmt::format("users API: GET {} answered {}", users, ans->status)));
  }
  auto user_pk = cn::ParseUserPublicKey(ans->body, attempt->double_name);
  if (!user_pk.ok()) return Fail(what, user_pk.status());

  std::set<std::string> used = reconciler::LoadUsedConnectStates(*home);
  cn::VerifyOptions vo;
  vo.now_unix = NowUnix();
  vo.used_states = &used;
  auto data = cn::VerifyAttempt(*req, *attempt, *user_pk, vo);
  if (!data.ok()) return Fail(what, data.status());
  Status rst = reconciler::RecordUsedConnectState(*home, req->state, vo.now_unix);
  if (!rst.ok()) std::cerr << "qstor login: warning: " << rst.message() << "\n";

  reconciler::ConnectProfile p;
  p.double_name = data->double_name;
  p.email = data->email.value_or("");
  p.derived_seed = data->derived_seed;
  p.wallet_address = data->wallet_address.value_or("");
  p.network = c.network;
  p.login_url = service->login_url;
  p.appid = req->appid;
  p.logged_in_at = vo.now_unix;
  // The email: verified when the KYC service accepts its signed identifier.
  if (data->email_sei) {
    nlohmann::json body{{"signedEmailIdentifier", *data->email_sei}};
    auto v = http.Send("POST", service->kyc_url + "/verification/verify-sei", body.dump(),
                       {{"Content-Type", "application/json"}});
    if (v.ok() && v->status == 200) {
      p.email_verified = true;
      p.email_check = "verified by " + service->kyc_url;
    } else {
      p.email_check = v.ok() ? fmt::format("{} answered {}", service->kyc_url, v->status)
                             : "could not reach " + service->kyc_url;
    }
  } else if (!p.email.empty()) {
    p.email_check = "no signed email identifier";
  }
  // Keep what an earlier login of the same identity recorded.
  auto old = reconciler::LoadConnectProfile(*home, *pass);
  if (old.ok() && old->identity_from_connect) {
    p.identity_from_connect = old->derived_seed.has_value() && p.derived_seed.has_value() &&
                              *old->derived_seed == *p.derived_seed;
    if (!p.identity_from_connect) {
      std::cerr << "qstor login: warning: the keystore's identity came from another ThreeFold "
                   "Connect login (" << old->double_name << "); it is kept\n";
    }
  }
  auto where = reconciler::SaveConnectProfile(*home, *pass, p);
  if (!where.ok()) return Fail(what, where.status());
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "logged_in"},
                                {"double_name", p.double_name},
                                {"derived_seed", p.derived_seed.has_value()},
                                {"stored", *where}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Logged in as " << p.double_name
              << (p.email.empty() ? "" : " <" + p.email + ">")
              << (p.email.empty() ? "" : p.email_verified ? " (email verified)" : " (email not verified)")
              << ".\nStored sealed in " << *where << ".\n";
    if (!have_keystore) {
      std::cout << (p.derived_seed ? "Next: `qstor init --from-connect` (a new identity) or "
                                     "`qstor recover --from-connect` (on a new machine).\n"
                                   : "The app did not share a derivedSeed: `qstor init "
                                     "--from-connect` needs it.\n");
    }
  }
  return kExitOk;
}

// --- whoami -------------------------------------------------------------------

struct WhoamiCli {
  std::vector<std::string> networks;
};

// The networks this home uses: the login's, and each with state files.
std::vector<std::string> NetworksUsed(const std::string& home, const std::string& login_network) {
  std::vector<std::string> out;
  if (!login_network.empty()) out.push_back(login_network);
  std::error_code ec;
  sfs::path root = sfs::path(reconciler::StateDir(home, "x")).parent_path();
  for (const auto& e : sfs::directory_iterator(root, ec)) {
    if (!e.is_directory()) continue;
    bool any = false;
    for (const auto& f : sfs::directory_iterator(e.path(), ec)) {
      any = any || f.path().extension() == ".json";
    }
    std::string n = e.path().filename().string();
    if (any && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

int RunWhoami(const Context& ctx, const WhoamiCli& c) {
  const char* what = "whoami";
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return Fail(what, home.status());
  const std::string keystore = reconciler::KeystorePath(*home);
  auto pub = reconciler::ReadKeystorePublic(keystore);
  const bool have_login = ::access(reconciler::ConnectLoginPath(*home).c_str(), F_OK) == 0;
  if (!pub.ok() && !have_login) {
    return Fail(what, Status::NotFound("no identity here (" + *home +
                                       "): run `qstor login` and `qstor init --from-connect`, "
                                       "or `qstor init`"));
  }
  std::optional<reconciler::ConnectProfile> profile;
  {
    auto pass = reconciler::ObtainPassphrase("Passphrase for " + (pub.ok() ? keystore : reconciler::ConnectLoginPath(*home)) + ": ", false);
    if (!pass.ok()) return Fail(what, pass.status());
    auto p = reconciler::LoadConnectProfile(*home, *pass);
    if (p.ok()) {
      profile = std::move(p).value();
    } else if (p.status().code() != Status::Code::kNotFound) {
      return Fail(what, p.status());
    }
    // Opening the keystore above recorded the dashboard's sr25519 address
    // in it if it predated the field; unlock once more only when that could
    // not be written (a read-only home).
    if (pub.ok()) {
      pub = reconciler::ReadKeystorePublic(keystore);
      if (pub.ok() && pub->sr25519_address.empty()) {
        pub = reconciler::ReadKeystorePublicUnlocked(keystore, *pass);
      }
      if (!pub.ok()) return Fail(what, pub.status());
    }
  }
  std::vector<std::string> nets =
      c.networks.empty() ? NetworksUsed(*home, profile ? profile->network : "") : c.networks;
  nlohmann::json jnets = nlohmann::json::array();
  std::vector<std::string> lines;
  for (const auto& n : nets) {
    nlohmann::json e{{"network", n}, {"twin_id", nullptr}};
    std::string line = n + ": ";
    if (!pub.ok()) {
      line += "no identity yet";
    } else {
      auto ep = grid::ResolveNetwork(n);
      if (!ep.ok()) {
        e["error"] = ep.status().message();
        line += "twin unknown (" + ep.status().message() + ")";
      } else {
        grid::HttpGrid g(*ep);
        auto twin = g.GetTwinByPublicKey(pub->public_key_hex);
        if (twin.ok()) {
          e["twin_id"] = twin->twin_id;
          line += "twin " + std::to_string(twin->twin_id);
        } else if (twin.status().code() == Status::Code::kNotFound) {
          line += "no twin yet";
        } else {
          e["error"] = twin.status().message();
          line += "twin unknown (" + twin.status().message() + ")";
        }
      }
    }
    jnets.push_back(e);
    lines.push_back(line);
  }
  const std::string source = !pub.ok() ? "none"
                             : profile && profile->identity_from_connect ? "connect"
                                                                          : "mnemonic";
  if (ctx.global.json) {
    nlohmann::json j{{"version", 1},
                     {"connect", nullptr},
                     {"identity_source", source},
                     {"address", pub.ok() ? nlohmann::json(pub->address) : nlohmann::json(nullptr)},
                     {"sr25519_address",
                      pub.ok() ? nlohmann::json(pub->sr25519_address) : nlohmann::json(nullptr)},
                     {"public_key", pub.ok() ? nlohmann::json(pub->public_key_hex) : nlohmann::json(nullptr)},
                     {"networks", jnets}};
    if (profile) {
      j["connect"] = {{"double_name", profile->double_name},
                      {"email", profile->email},
                      {"email_verified", profile->email_verified},
                      {"network", profile->network},
                      {"logged_in_at", profile->logged_in_at}};
    }
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  if (profile) {
    std::cout << "ThreeFold Connect: " << profile->double_name << " (logged in on "
              << profile->network << ")\n";
    std::cout << "Email:             "
              << (profile->email.empty() ? std::string("not shared")
                                         : profile->email + (profile->email_verified
                                                                 ? " (verified)"
                                                                 : " (not verified: " + profile->email_check + ")"))
              << "\n";
  } else {
    std::cout << "ThreeFold Connect: not logged in (`qstor login`)\n";
  }
  if (pub.ok()) {
    std::cout << "Identity:          "
              << (source == "connect" ? "from ThreeFold Connect (`qstor wallet export-mnemonic` "
                                        "shows its 24 words)"
                                      : "from a 24-word mnemonic")
              << "\nAddress:           " << pub->address
              << " (qstor's ed25519 twin account: fund this one)"
              << "\nDashboard address: " << pub->sr25519_address
              << " (sr25519: the TF dashboard's account of the same words; TFT sent there does "
                 "not reach qstor)"
              << "\nPublic key:        " << pub->public_key_hex << "\n";
  } else {
    std::cout << "Identity:          none yet (`qstor init --from-connect`)\n";
  }
  std::cout << "Networks:          " << (lines.empty() ? std::string("none yet") : lines[0]) << "\n";
  for (size_t i = 1; i < lines.size(); ++i) std::cout << "                   " << lines[i] << "\n";
  return kExitOk;
}

}  // namespace

void RegisterLogin(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<LoginCli>();
  CLI::App* login = app.add_subcommand(
      "login",
      "Log in with ThreeFold Connect: print the login URL and its QR code (and open a browser\n"
      "when there is one), receive the phone's signed attempt on http://127.0.0.1:47817/callback\n"
      "(or read the pasted callback URL from stdin), verify it and store the profile sealed\n"
      "(in the keystore, or in connect-login.json before `qstor init --from-connect`).\n"
      "The appid is 127.0.0.1:47817 whatever the port (docs/identity.md).");
  login->add_option("--network", c->network, "Whose login service (devnet: the devnet's)")
      ->check(CLI::IsMember({"devnet", "main", "test", "qa", "dev"}))
      ->capture_default_str();
  login->add_option("--callback-port", c->callback_port,
                    "Port of the callback listener on 127.0.0.1 (0: no listener, paste only)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  login->add_flag("--no-browser", c->no_browser, "Do not try to open a browser");
  login->add_flag("--no-qr", c->no_qr, "Do not print the QR code");
  login->add_flag("--wallet-address", c->wallet_address, "Also ask for the wallet address");
  login->add_option("--timeout", c->timeout, "How long to wait for the callback")
      ->capture_default_str();
  login->callback([&ctx, c] { ctx.exit_code = RunLogin(ctx, *c); });

  auto w = std::make_shared<WhoamiCli>();
  CLI::App* whoami = app.add_subcommand(
      "whoami",
      "Who is logged in: the ThreeFold Connect name and email (verified or not), where the\n"
      "identity comes from, the SS58 addresses (qstor's ed25519 one, and the TF dashboard's\n"
      "sr25519 one of the same words), and the twin on each network used (the login's\n"
      "and those with state). Needs the passphrase (the profile is sealed).");
  whoami->add_option("--network", w->networks, "Only these networks (repeatable)")
      ->check(CLI::IsMember({"devnet", "main", "test", "qa", "dev"}));
  whoami->callback([&ctx, w] { ctx.exit_code = RunWhoami(ctx, *w); });
}

#else

void RegisterLogin(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "login", "Log in with ThreeFold Connect", "issue 17, reconciler");
  AddNotBuilt(app, ctx, "whoami", "Who is logged in", "issue 17, reconciler");
}

#endif

}  // namespace qstor::cli
