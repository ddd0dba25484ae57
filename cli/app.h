// The qstor command-line application: global flags, command registry, exit
// codes. Parsing and output only; all behaviour lives in the rooms below.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/status.h"

namespace qstor::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // any error (bad input, failed operation)
  kExitChanges = 2,      // diff --detailed-exitcode: changes present
  kExitNotBuilt = 3,     // the command exists but is not built yet
  // 4 and 5: fs check/repair (degraded, lost), set by those commands.
  kExitLocked = 6,           // the state is locked by another operation
  kExitWrongPassphrase = 7,  // the keystore's passphrase does not open it
  kExitUsage = 64,       // bad command line (CLI11 parse error)
  kExitInterrupted = 130,
};

struct GlobalOptions {
  std::string log_level = "warn";
  std::string log_format = "text";
  bool no_color = false;
  bool json = false;
  // Where the keystore passphrase comes from (at most one; before
  // QSTOR_PASSPHRASE and the prompt): --passphrase-fd/-file/-command, or the
  // environment's QSTOR_PASSPHRASE_FILE / QSTOR_PASSPHRASE_COMMAND.
  int passphrase_fd = -1;
  std::string passphrase_file;
  std::string passphrase_command;
};

// Shared by all commands while one invocation runs.
struct Context {
  GlobalOptions global;
  int exit_code = kExitOk;
};

// Runs qstor with argv; returns the process exit code. Never throws.
int Run(int argc, char** argv);

// The exit code of a command that failed with `st`: kNotImplemented 3,
// kAborted (state locked) 6, kUnauthenticated (wrong passphrase) 7, else 1.
int ExitCodeFor(const Status& st);

// Says why a command failed: "qstor <command>: <message>" on stderr and,
// under --json, a `diagnostic` event (severity error, with the status's code
// name and the exit code) on stdout. Returns ExitCodeFor(st).
int ReportFailure(const std::string& command, const Status& st);

// A bad command line found by a command itself (`--auto-approve` missing
// without a terminal): as ReportFailure, code "usage"; returns 64.
int ReportUsage(const std::string& command, const std::string& message);

// Under --json, one `diagnostic` event on stdout; otherwise nothing.
void EmitDiagnosticEvent(const std::string& severity, const std::string& summary,
                         const std::string& detail);

// The global options of the running invocation (defaults outside Run).
const GlobalOptions& CurrentGlobalOptions();

// Registers a command that exists in the CLI but is not built yet: it
// accepts any arguments, says so plainly, and exits 3. Its --help says the
// same.
CLI::App* AddNotBuilt(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& what, const std::string& issue);

}  // namespace qstor::cli
