#include "cli/commands.h"

namespace qstor::cli {

void RegisterPlanApply(CLI::App& app, Context& ctx) {
  CLI::App* diff = AddNotBuilt(app, ctx, "diff",
                               "Plan: show what apply would change on the grid and what it costs",
                               "issue 5, reconciler");
  diff->alias("plan");
  AddNotBuilt(app, ctx, "apply", "Reconcile the grid and the mount with the manifest",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "destroy", "Cancel every contract of a manifest (unmounts first)",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "force-unlock", "Remove a stale state lock by its id",
              "issue 5, reconciler");
}

}  // namespace qstor::cli
