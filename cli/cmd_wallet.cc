#include "cli/commands.h"

namespace qstor::cli {

void RegisterWallet(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "wallet", "Wallet balance, address and top-up by QR",
              "issue 5, reconciler");
}

}  // namespace qstor::cli
