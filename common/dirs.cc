#include "common/dirs.h"

#include <sys/stat.h>

#include <cstdlib>

namespace qstor {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

bool IsDir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// $VAR/qstor when VAR is an absolute path (the spec ignores relative ones),
// else $HOME/<fallback>/qstor; empty without HOME.
std::string XdgDir(const char* var, const char* fallback) {
  std::string v = Env(var);
  if (!v.empty() && v[0] == '/') return v + "/qstor";
  std::string home = Env("HOME");
  if (home.empty()) return "";
  return home + "/" + fallback + "/qstor";
}

}  // namespace

Result<std::string> DefaultHome() {
  std::string q = Env("QSTOR_HOME");
  if (!q.empty()) return q;
  std::string c = XdgDir("XDG_CONFIG_HOME", ".config");
  if (!c.empty()) return c;
  return Status::FailedPrecondition(
      "neither QSTOR_HOME, XDG_CONFIG_HOME nor HOME is set; set QSTOR_HOME");
}

QstorDirs DirsFor(const std::string& home) {
  QstorDirs d{home, home, home, home};
  if (!Env("QSTOR_HOME").empty()) return d;
  if (home != XdgDir("XDG_CONFIG_HOME", ".config")) return d;
  const std::string state = XdgDir("XDG_STATE_HOME", ".local/state");
  const std::string cache = XdgDir("XDG_CACHE_HOME", ".cache");
  // The layout before XDG kept everything in ~/.config/qstor: read it there
  // for as long as the new place does not exist.
  const std::string legacy = Env("HOME").empty() ? "" : Env("HOME") + "/.config/qstor";
  auto pick = [&](const std::string& sub) {
    if (!legacy.empty() && IsDir(legacy + "/" + sub) && !IsDir(state + "/" + sub)) return legacy;
    return state;
  };
  if (!state.empty()) {
    d.state = pick("state");
    d.mount_cache = pick("mount-cache");
  }
  if (!cache.empty()) d.cache = cache;
  return d;
}

}  // namespace qstor
