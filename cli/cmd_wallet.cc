// qstor wallet address|balance|topup. `address` reads the keystore's public
// part (no passphrase): qstor's ed25519 address and the TF dashboard's
// sr25519 address of the same words; balance asks the network; topup prints the bridge
// QR (TFT:<bridge>?message=twin_<id>&amount=N) and waits for the deposit.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include <sodium.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/session.h"
#include "common/dirs.h"
#include "common/file_util.h"
#include "common/units.h"
#include "reconciler/keystore.h"
#include "reconciler/qr.h"

namespace qstor::cli {
namespace {

struct WalletCli {
  std::string network = "devnet";
  double amount = 0;
  bool no_wait = false;
  std::string timeout = "10m";
};

int WalletFail(const std::string& what, const Status& st) {
  std::cerr << "qstor wallet " << what << ": " << st.message() << "\n";
  return st.code() == Status::Code::kNotImplemented ? kExitNotBuilt : kExitError;
}

// The network's grid. Balances come from its TFChain on every network;
// `topup` (chain_only false) also needs the network's bridge, known only on
// the devnet.
Result<std::unique_ptr<grid::HttpGrid>> WalletGrid(const std::string& network,
                                                   bool chain_only = false) {
  auto ep = ConnectNetwork(network, true);
  if (!ep.ok()) return ep.status();
  if (ep->discovery_only && !chain_only) {
    return Status::NotImplemented("network \"" + network +
                                  "\": top-ups go through the network's TFT bridge, whose "
                                  "address qstor does not know yet; send TFT to the qstor address "
                                  "(`qstor wallet address`) instead");
  }
  return std::make_unique<grid::HttpGrid>(*ep);
}

// qstor wallet address: both SS58 addresses of the words, never a guess.
// A keystore older than its sr25519_address field is unlocked only when a
// passphrase was given without a prompt (--passphrase-*, QSTOR_PASSPHRASE*).
int RunAddress(const Context& ctx) {
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return WalletFail("address", home.status());
  const std::string path = reconciler::KeystorePath(*home);
  auto pub = reconciler::ReadKeystorePublic(path);
  if (!pub.ok()) return WalletFail("address", pub.status());
  const char* env = std::getenv("QSTOR_PASSPHRASE");
  if (pub->sr25519_address.empty() &&
      (reconciler::PassphraseSourceSet() || (env != nullptr && *env != '\0'))) {
    auto pass = reconciler::ObtainPassphrase("Passphrase for " + path + ": ", false);
    if (!pass.ok()) return WalletFail("address", pass.status());
    pub = reconciler::ReadKeystorePublicUnlocked(path, *pass);
    sodium_memzero(pass->data(), pass->size());
    if (!pub.ok()) return WalletFail("address", pub.status());
  }
  const bool known = !pub->sr25519_address.empty();
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"version", 1},
                                {"address", pub->address},
                                {"public_key", pub->public_key_hex},
                                {"sr25519_address", known ? nlohmann::json(pub->sr25519_address)
                                                          : nlohmann::json(nullptr)}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "qstor (ed25519, your twin):  " << pub->address << "\n"
            << "TF dashboard (sr25519):      "
            << (known ? pub->sr25519_address
                      : std::string("unknown: this keystore predates it; the next qstor command "
                                    "that asks for the passphrase records it (or run `qstor "
                                    "--passphrase-file FILE wallet address`)"))
            << "\n"
            << "Send TFT to the qstor address, the account that pays for your storage; TFT sent "
               "to the TF dashboard's address of the same words does not reach qstor.\n";
  return kExitOk;
}

int RunBalance(const Context& ctx, const WalletCli& c) {
  auto home = QstorHome();
  if (!home.ok()) return WalletFail("balance", home.status());
  auto pub = KeystorePublicOrHint(*home);
  if (!pub.ok()) return WalletFail("balance", pub.status());
  auto g = WalletGrid(c.network, /*chain_only=*/true);
  if (!g.ok()) return WalletFail("balance", g.status());
  auto bal = (*g)->GetBalance(pub->public_key_hex);
  if (!bal.ok()) return WalletFail("balance", bal.status());
  auto twin = (*g)->GetTwinByPublicKey(pub->public_key_hex);
  if (ctx.global.json) {
    nlohmann::json j = {{"version", 1},          {"network", c.network},
                        {"address", pub->address}, {"free_units", bal->free},
                        {"reserved_units", bal->reserved}};
    if (twin.ok()) j["twin_id"] = twin->twin_id;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << fmt::format("{} on {}: {} free, {} reserved{}\n", pub->address, c.network,
                             grid::FormatTft(bal->free), grid::FormatTft(bal->reserved),
                             twin.ok() ? fmt::format(" (twin {})", twin->twin_id)
                                       : " (no twin yet: `qstor apply` or `wallet topup` registers it)");
  }
  return kExitOk;
}

int RunTopup(const Context& ctx, const WalletCli& c) {
  if (!(c.amount >= 2) || c.amount > 1e9) {
    return WalletFail("topup", Status::InvalidArgument(
                                   "--amount: give a number of TFT of at least 2 (the bridge keeps "
                                   "a 1 TFT fee)"));
  }
  auto timeout = ParseDuration(c.timeout);
  if (!timeout.ok()) return WalletFail("topup", timeout.status().WithContext("--timeout"));
  auto home = QstorHome();
  if (!home.ok()) return WalletFail("topup", home.status());
  auto pub = KeystorePublicOrHint(*home);
  if (!pub.ok()) return WalletFail("topup", pub.status());
  auto g = WalletGrid(c.network);
  if (!g.ok()) return WalletFail("topup", g.status());
  auto twin = (*g)->GetTwinByPublicKey(pub->public_key_hex);
  if (!twin.ok() && twin.status().code() == Status::Code::kNotFound) {
    // A deposit is addressed to a twin: register it first.
    auto id = UnlockIdentity(*home);
    if (!id.ok()) return WalletFail("topup", id.status());
    twin = (*g)->RegisterTwin(id->TwinKey(), "");
    if (twin.ok()) std::cerr << "Registered twin " << twin->twin_id << " on " << c.network << ".\n";
  }
  if (!twin.ok()) return WalletFail("topup", twin.status());
  auto pricing = (*g)->GetPricing();
  if (!pricing.ok()) return WalletFail("topup", pricing.status());
  auto before = (*g)->GetBalance(pub->public_key_hex);
  if (!before.ok()) return WalletFail("topup", before.status());
  std::string amount = fmt::format("{}", c.amount);
  std::string uri = fmt::format("TFT:{}?message=twin_{}&sender=me&amount={}",
                                pricing->bridge_address, twin->twin_id, amount);
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "topup_request"}, {"uri", uri}, {"twin_id", twin->twin_id}}
                     .dump()
              << "\n"
              << std::flush;
  } else {
    std::cout << fmt::format("Send {} TFT to the bridge for twin {}: scan this with the ThreeFold "
                             "Connect app (on the devnet: `qstor devnet approve '{}'`).\n\n",
                             amount, twin->twin_id, uri);
    auto qr = reconciler::EncodeQr(uri);
    if (qr.ok()) {
      // Colours only on a terminal that wants them; otherwise plain blocks
      // (drawn for a dark background) and the image files below.
      reconciler::TerminalStyle style;
      style.ansi_colors = !ctx.global.no_color && StdoutIsTerminal();
      std::cout << reconciler::RenderTerminal(*qr, style) << "\n";
    }
    std::cout << uri << "\n";
    if (qr.ok()) {
      // The same code as images, for a phone that scans a screen or a file.
      const std::string dir = DirsFor(*home).cache + "/connect/topup";
      const std::string base = fmt::format("{}/{}-twin-{}-{}tft", dir, c.network, twin->twin_id, amount);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (!ec) {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
      }
      Status w = ec ? Status::IOError("creating " + dir + ": " + ec.message()) : Status::OK();
      auto png = reconciler::RenderPng(*qr, 8);
      if (w.ok() && png.ok()) w = WriteFileAtomic(base + ".png", *png, 0600);
      if (w.ok()) w = WriteFileAtomic(base + ".svg", reconciler::RenderSvg(*qr, 8), 0600);
      if (w.ok()) {
        std::cout << "The code is also in " << base << ".png and " << base << ".svg.\n";
      } else {
        std::cerr << "Note: could not write the QR images: " << w.ToString() << "\n";
      }
    }
    std::cout << std::flush;
  }
  if (c.no_wait) return kExitOk;
  auto deadline = std::chrono::steady_clock::now() + *timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now = (*g)->GetBalance(pub->public_key_hex);
    if (now.ok() && now->free > before->free) {
      std::string got = grid::FormatTft(now->free - before->free);
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"type", "topup_received"},
                                    {"received_units", now->free - before->free},
                                    {"free_units", now->free}}
                         .dump()
                  << "\n";
      } else {
        std::cout << "Received " << got << "; balance " << grid::FormatTft(now->free) << ".\n";
      }
      return kExitOk;
    }
  }
  return WalletFail("topup", Status::Timeout("no deposit arrived within " + c.timeout +
                                             "; the QR stays valid: pay it and check with `qstor "
                                             "wallet balance`"));
}

}  // namespace
}  // namespace qstor::cli
#endif

namespace qstor::cli {

void RegisterWallet(CLI::App& app, Context& ctx) {
#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
  CLI::App* wallet = app.add_subcommand("wallet", "Wallet address, balance and top-up by QR");
  wallet->require_subcommand(1);
  CLI::App* address = wallet->add_subcommand(
      "address",
      "Print qstor's SS58 address (the twin's ed25519 account: fund this one) and the TF\n"
      "dashboard's sr25519 address of the same words (another account), from the keystore;\n"
      "no passphrase needed");
  address->callback([&ctx]() { ctx.exit_code = RunAddress(ctx); });
  auto allow_pipe = std::make_shared<bool>(false);
  CLI::App* exportm = wallet->add_subcommand(
      "export-mnemonic",
      "Show the keystore's 24 words (after the passphrase) for a paper copy, e.g. of an\n"
      "identity derived from ThreeFold Connect. Only to a terminal unless --allow-non-terminal.");
  exportm->add_flag("--allow-non-terminal", *allow_pipe,
                    "Also print when stdout is not a terminal (a pipe or a file: keep it safe)");
  exportm->callback([&ctx, allow_pipe]() {
    auto fail = [&ctx](const Status& st) {
      std::cerr << "qstor wallet export-mnemonic: " << st.message() << "\n";
      ctx.exit_code = kExitError;
    };
    auto home = reconciler::DefaultQstorHome();
    if (!home.ok()) return fail(home.status());
    const std::string path = reconciler::KeystorePath(*home);
    auto pub = reconciler::ReadKeystorePublic(path);
    if (!pub.ok()) return fail(pub.status());
    if (!StdoutIsTerminal() && !*allow_pipe) {
      return fail(Status::FailedPrecondition(
          "stdout is not a terminal: the words are printed only to a terminal (pass "
          "--allow-non-terminal to print them anyway)"));
    }
    auto pass = reconciler::ObtainPassphrase("Passphrase for " + path + ": ", false);
    if (!pass.ok()) return fail(pass.status());
    auto words = reconciler::ReadMnemonic(path, *pass);
    sodium_memzero(pass->data(), pass->size());
    if (!words.ok()) return fail(words.status());
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"version", 1}, {"address", pub->address}, {"mnemonic", *words}}
                       .dump()
                << "\n";
    } else {
      std::cout << "The 24 recovery words of " << pub->address << ":\n\n";
      std::istringstream in(*words);
      std::string w;
      for (int i = 1; in >> w; ++i) {
        std::cout << (i < 10 ? "   " : "  ") << i << ". " << w << (i % 4 == 0 ? "\n" : "\t");
      }
      sodium_memzero(w.data(), w.size());
      std::cout << "\nWrite them down on paper and keep them offline: anyone who has them "
                   "controls your twin and your storage.\n";
    }
    sodium_memzero(words->data(), words->size());
  });
  auto c = std::make_shared<WalletCli>();
  CLI::App* balance = wallet->add_subcommand("balance", "The twin's balance on the network");
  balance->add_option("--network", c->network, "Network (default devnet)");
  balance->callback([&ctx, c] { ctx.exit_code = RunBalance(ctx, *c); });
  CLI::App* topup = wallet->add_subcommand(
      "topup", "Top up the wallet: print the top-up QR and wait for the deposit");
  topup->add_option("--network", c->network, "Network (default devnet)");
  topup->add_option("--amount", c->amount, "TFT to deposit (the bridge keeps 1 TFT)")->required();
  topup->add_flag("--no-wait", c->no_wait, "Print the QR and URI and exit");
  topup->add_option("--timeout", c->timeout, "How long to wait for the deposit (default 10m)");
  topup->callback([&ctx, c] { ctx.exit_code = RunTopup(ctx, *c); });
#else
  AddNotBuilt(app, ctx, "wallet", "Wallet balance, address and top-up by QR",
              "issue 5, reconciler");
#endif
}

}  // namespace qstor::cli
