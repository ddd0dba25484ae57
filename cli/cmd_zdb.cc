#include "cli/commands.h"

namespace qstor::cli {

void RegisterZdb(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "zdb", "Run a 0-db compatible server (zdb serve)", "issue 3, zdb");
}

}  // namespace qstor::cli
