#include "cli/commands.h"

namespace qstor::cli {

void RegisterDevnet(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "devnet", "Run the embedded local grid (start, stop, status, reset, ...)",
              "issue 4, devnet");
}

}  // namespace qstor::cli
