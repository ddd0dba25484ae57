// Shell completions and the manual page, generated from the CLI definitions
// themselves (the CLI11 tree Run() builds), so they never drift from what
// the parser accepts: `qstor completion bash|zsh|fish` and `qstor man`.
//
// Contract: pure functions of the app tree; hidden commands (an empty
// group) are left out; every name and description is quoted for the target
// language (shell words, fish strings, roff), so no description can break
// the script or the page.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "cli/build_info.h"

namespace qstor::cli {

// A bash script defining _qstor and `complete -F _qstor qstor`: completes
// subcommands at every level, each level's flags plus the global ones after
// a '-', and file names for positional arguments.
std::string BashCompletion(const CLI::App& root);

// The zsh script: zsh's bashcompinit over the bash function (a `#compdef
// qstor` file for $fpath, or `source <(qstor completion zsh)`).
std::string ZshCompletion(const CLI::App& root);

// Fish `complete -c qstor ...` lines: subcommands with their descriptions,
// and each command's flags once its subcommand is on the line.
std::string FishCompletion(const CLI::App& root);

// qstor(1) in roff (man(7) macros): synopsis, global options, every command
// with its options, exit status, environment, files.
std::string ManPage(const CLI::App& root, const BuildInfo& build);

}  // namespace qstor::cli
