// Internal to cli/: talking to a running qstor mount through its control
// attributes on the mount's root (fs/mount/mount.h; root only):
//   trusted.qstor.stats   (get)  JSON statistics
//   trusted.qstor.resize  (set)  {"capacity_bytes": N, "cache_limit_bytes": N}
// No dependency on the storage engine: these are system calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::cli {

// The mount's statistics JSON text. kNotFound when `path` does not answer
// the attribute (not a qstor mount root), kIOError otherwise; *err (if
// given) is the errno of a failed read.
Result<std::string> ReadMountStats(const std::string& path, int* err = nullptr);

// Changes the size statfs/df reports and/or the cache limit of the live
// mount at `path` (at least one given), without remounting.
Status ResizeMount(const std::string& path, std::optional<uint64_t> capacity_bytes,
                   std::optional<uint64_t> cache_limit_bytes);

// A field of a stats JSON object that may be missing or of another type
// (whatever answers the attribute is parsed, never trusted): "" / 0 then.
std::string StatsString(const nlohmann::json& j, const char* key);
double StatsNumber(const nlohmann::json& j, const char* key);
uint64_t StatsBytes(const nlohmann::json& j, const char* key);  // unsigned integers only

// The running mount's upload_failing as one line ("uploads failing for 12 s:
// namespace full: <error>", with what to do for a full namespace); empty
// when uploads work (or `stats` is not a stats object).
std::string UploadFailingLine(const nlohmann::json& stats);

}  // namespace qstor::cli
