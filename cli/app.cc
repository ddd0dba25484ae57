#include "cli/app.h"

#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "common/log.h"

#ifndef QSTOR_VERSION
#define QSTOR_VERSION "0.0.0"
#endif

namespace qstor::cli {

CLI::App* AddNotBuilt(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& what, const std::string& issue) {
  CLI::App* sub = app.add_subcommand(
      name, what + " [not built yet: " + issue + "; exits 3]");
  sub->allow_extras();
  sub->callback([&ctx, name, issue]() {
    std::cerr << "qstor " << name << ": not built yet (" << issue
              << "). Nothing was done.\n";
    ctx.exit_code = kExitNotBuilt;
  });
  return sub;
}

int Run(int argc, char** argv) {
  Context ctx;
  CLI::App app{"qstor: declarative, quantum-safe storage on the ThreeFold grid", "qstor"};
  app.set_version_flag("--version", std::string("qstor ") + QSTOR_VERSION);
  app.require_subcommand(1);
  app.add_option("--log-level", ctx.global.log_level,
                 "Log verbosity on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", ctx.global.log_format, "Log format on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--no-color", ctx.global.no_color, "Do not colour output");
  app.add_flag("--json", ctx.global.json,
               "Machine-readable output on stdout (format documented in docs/cli.md)");
  app.parse_complete_callback([&ctx]() {
    bool color = !ctx.global.no_color && ::isatty(2) && std::getenv("NO_COLOR") == nullptr;
    Status st = InitLogging(ctx.global.log_level,
                            ctx.global.log_format == "json" ? LogFormat::kJson : LogFormat::kText,
                            color);
    if (!st.ok()) throw CLI::ValidationError(st.message());
  });

  RegisterValidate(app, ctx);
  RegisterInit(app, ctx);
  RegisterPlanApply(app, ctx);
  RegisterInspect(app, ctx);
  RegisterWallet(app, ctx);
  RegisterMount(app, ctx);
  RegisterMonitor(app, ctx);
  RegisterDevnet(app, ctx);
  RegisterZdb(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "qstor: error: " << e.what() << "\n";
    return kExitError;
  }
  return ctx.exit_code;
}

}  // namespace qstor::cli
