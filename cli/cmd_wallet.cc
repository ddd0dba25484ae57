// qstor wallet address|balance|topup. `address` reads the keystore's public
// part (no passphrase); balance and top-up need the grid client and are not
// built yet.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "reconciler/keystore.h"
#endif

namespace qstor::cli {

void RegisterWallet(CLI::App& app, Context& ctx) {
#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
  CLI::App* wallet = app.add_subcommand("wallet", "Wallet address, balance and top-up by QR");
  wallet->require_subcommand(1);
  CLI::App* address = wallet->add_subcommand(
      "address", "Print the twin's SS58 address (from the keystore; no passphrase needed)");
  address->callback([&ctx]() {
    auto home = reconciler::DefaultQstorHome();
    if (!home.ok()) {
      std::cerr << "qstor wallet address: " << home.status().message() << "\n";
      ctx.exit_code = kExitError;
      return;
    }
    auto pub = reconciler::ReadKeystorePublic(reconciler::KeystorePath(*home));
    if (!pub.ok()) {
      std::cerr << "qstor wallet address: " << pub.status().message() << "\n";
      ctx.exit_code = kExitError;
      return;
    }
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"version", 1},
                                  {"address", pub->address},
                                  {"public_key", pub->public_key_hex}}
                       .dump()
                << "\n";
    } else {
      std::cout << pub->address << "\n";
    }
  });
  AddNotBuilt(*wallet, ctx, "balance", "The twin's balance on the network", "issue 5, reconciler");
  AddNotBuilt(*wallet, ctx, "topup",
              "Top up the wallet: print the top-up QR and wait for the deposit",
              "issue 5, reconciler");
#else
  AddNotBuilt(app, ctx, "wallet", "Wallet balance, address and top-up by QR",
              "issue 5, reconciler");
#endif
}

}  // namespace qstor::cli
