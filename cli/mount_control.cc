#include "cli/mount_control.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace qstor::cli {

Result<std::string> ReadMountStats(const std::string& path, int* err) {
  std::string buf(64 * 1024, '\0');
  ssize_t n = ::getxattr(path.c_str(), "trusted.qstor.stats", buf.data(), buf.size());
  if (n < 0) {
    int e = errno;
    if (err) *err = e;
    if (e == ENODATA || e == ENOTSUP) {
      return Status::NotFound(path + " is not the root of a qstor mount");
    }
    return Status::IOError(path + ": " + std::strerror(e));
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status ResizeMount(const std::string& path, std::optional<uint64_t> capacity_bytes,
                   std::optional<uint64_t> cache_limit_bytes) {
  nlohmann::json j = nlohmann::json::object();
  if (capacity_bytes) j["capacity_bytes"] = *capacity_bytes;
  if (cache_limit_bytes) j["cache_limit_bytes"] = *cache_limit_bytes;
  if (j.empty()) return Status::InvalidArgument("resize of " + path + ": nothing to change");
  const std::string v = j.dump();
  if (::setxattr(path.c_str(), "trusted.qstor.resize", v.data(), v.size(), 0) != 0) {
    int e = errno;
    if (e == ENODATA || e == ENOTSUP || e == EINVAL) {
      return Status::FailedPrecondition(
          "resize of " + path + ": the mount does not take a live resize (" +
          std::strerror(e) + "; a qstor older than this one?): remount it");
    }
    return Status::IOError("resize of " + path + ": " + std::strerror(e));
  }
  return Status::OK();
}

std::string StatsString(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

double StatsNumber(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<double>();
}

uint64_t StatsBytes(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) return 0;
  return j[key].get<uint64_t>();
}

std::string UploadFailingLine(const nlohmann::json& stats) {
  if (!stats.is_object() || !stats.contains("upload_failing")) return "";
  const auto& f = stats["upload_failing"];
  if (!f.is_object()) return "";
  const std::string cause = StatsString(f, "cause");
  std::string line = fmt::format("uploads failing for {:.0f} s: {}: {}", StatsNumber(f, "seconds"),
                                 cause.empty() ? "error" : cause, StatsString(f, "error"));
  if (cause == "namespace full") {
    line += "; grow spec.capacity and `qstor apply`, or delete files and `qstor fs gc`";
  }
  return line;
}

}  // namespace qstor::cli
