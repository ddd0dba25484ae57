#include "cli/commands.h"

namespace qstor::cli {

void RegisterValidate(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "validate", "Check manifests against schema/storage.v1.schema.json",
              "issue 2");
}

}  // namespace qstor::cli
