// Process-wide logging setup (spdlog). Logs go to stderr so that stdout
// stays clean for human and JSON output. Never log secrets: mnemonic words,
// keys, passwords and signatures are not passed to the logger anywhere.
#pragma once

#include <string>

#include "common/status.h"

namespace qstor {

enum class LogFormat { kText, kJson };

// level: trace|debug|info|warn|error|off.
Status InitLogging(const std::string& level, LogFormat format, bool color);

// Turns colours off in the default logger from now on: for a process whose
// stderr stopped being a terminal (a background mount now writing to its
// mount.log). spdlog decides on colours once, when the sink is made.
void DisableLogColors();

}  // namespace qstor
