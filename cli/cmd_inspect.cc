#include "cli/commands.h"

namespace qstor::cli {

void RegisterInspect(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "list", "List the nodes a manifest uses, with role, location, size and cost",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "status", "Health, balance, burn rate and runway of a manifest",
              "issue 5, reconciler");
}

}  // namespace qstor::cli
