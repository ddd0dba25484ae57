// The qstor command-line application: global flags, command registry, exit
// codes. Parsing and output only; all behaviour lives in the rooms below.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qstor::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // any error (bad input, failed operation)
  kExitChanges = 2,      // diff --detailed-exitcode: changes present
  kExitNotBuilt = 3,     // the command exists but is not built yet
  kExitUsage = 64,       // bad command line (CLI11 parse error)
  kExitInterrupted = 130,
};

struct GlobalOptions {
  std::string log_level = "warn";
  std::string log_format = "text";
  bool no_color = false;
  bool json = false;
};

// Shared by all commands while one invocation runs.
struct Context {
  GlobalOptions global;
  int exit_code = kExitOk;
};

// Runs qstor with argv; returns the process exit code. Never throws.
int Run(int argc, char** argv);

// Registers a command that exists in the CLI but is not built yet: it
// accepts any arguments, says so plainly, and exits 3. Its --help says the
// same.
CLI::App* AddNotBuilt(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& what, const std::string& issue);

}  // namespace qstor::cli
