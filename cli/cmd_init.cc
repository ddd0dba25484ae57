#include "cli/commands.h"

namespace qstor::cli {

void RegisterInit(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "init", "Create or import the 24-word mnemonic and the encrypted keystore",
              "issue 5, reconciler");
}

}  // namespace qstor::cli
