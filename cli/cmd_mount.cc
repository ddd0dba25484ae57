#include "cli/commands.h"

namespace qstor::cli {

void RegisterMount(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "mount", "Mount the storage as a FUSE filesystem", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "umount", "Unmount the storage (flushes first)", "issue 7, fs mount");
  AddNotBuilt(app, ctx, "recover", "Find everything again from the mnemonic alone and mount it",
              "issue 7, fs mount");
}

}  // namespace qstor::cli
