// Where qstor keeps its files (the XDG base directory spec, with QSTOR_HOME
// as the one-directory override).
//
// Contract:
//   DefaultHome(): $QSTOR_HOME when set, else $XDG_CONFIG_HOME/qstor, else
//     $HOME/.config/qstor; kFailedPrecondition when none of them is set.
//     This is the "home" every command starts from; the keystore lives there.
//   DirsFor(home): the directories for each kind of file.
//     - When QSTOR_HOME is set, or `home` is not the XDG default (a test's
//       directory, `--home`-like callers): everything under `home`.
//     - Otherwise: config = home (keystore.json); state = $XDG_STATE_HOME/qstor
//       (default ~/.local/state/qstor) for state/ (deployments, locks) and
//       mount-cache/ (the write-back cache: it can hold fsync'ed data not
//       uploaded yet, so it is state, never a disposable cache); cache =
//       $XDG_CACHE_HOME/qstor (default ~/.cache/qstor) for what can be
//       remade (the QR images under connect/).
//     - Files of the layout before XDG are still read: when
//       ~/.config/qstor/state (or /mount-cache) exists and the XDG one does
//       not, that kind stays under ~/.config/qstor.
//   Never creates anything.
#pragma once

#include <string>

#include "common/status.h"

namespace qstor {

Result<std::string> DefaultHome();

struct QstorDirs {
  std::string config;       // keystore.json
  std::string state;        // state/<network>/<name>.json and .lock
  std::string mount_cache;  // mount-cache/<network>/<name>/
  std::string cache;        // connect/ QR images
};

QstorDirs DirsFor(const std::string& home);

}  // namespace qstor
