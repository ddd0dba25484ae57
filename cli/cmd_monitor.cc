#include "cli/commands.h"

namespace qstor::cli {

void RegisterMonitor(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "monitor",
              "Watch nodes and wallet; redeploy dead nodes, repair shards, warn before funds run out",
              "issue 16");
}

}  // namespace qstor::cli
