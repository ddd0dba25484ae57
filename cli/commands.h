// One registration function per command group (cli/cmd_*.cc).
#pragma once

#include "cli/app.h"

namespace qstor::cli {

void RegisterValidate(CLI::App& app, Context& ctx);   // validate
void RegisterInit(CLI::App& app, Context& ctx);       // init
void RegisterLogin(CLI::App& app, Context& ctx);      // login, whoami (ThreeFold Connect)
void RegisterPlanApply(CLI::App& app, Context& ctx);  // diff/plan, apply, destroy, force-unlock
void RegisterInspect(CLI::App& app, Context& ctx);    // list, status
void RegisterWallet(CLI::App& app, Context& ctx);     // wallet
void RegisterMount(CLI::App& app, Context& ctx);      // mount, umount, sync, fs, recover
void RegisterMonitor(CLI::App& app, Context& ctx);    // monitor
void RegisterDevnet(CLI::App& app, Context& ctx);     // devnet
void RegisterZdb(CLI::App& app, Context& ctx);        // zdb
void RegisterNodes(CLI::App& app, Context& ctx);      // nodes

}  // namespace qstor::cli
