// Internal to cli/: the glue between the reconciler's record of a deployment
// and the storage engine / FUSE mount (issue 7). Shared by cmd_mount.cc
// (`qstor mount MANIFEST`) and cmd_mount_grid.cc (`qstor fs check|repair|gc`,
// `qstor recover`).
//
// The path from a manifest to a mounted filesystem:
//   manifest (first Storage document, or --name)
//     -> state  <home>/state/<network>/<name>.json (reconciler::LoadState)
//     -> identity from the keystore (passphrase: --passphrase-fd N, else
//        QSTOR_PASSPHRASE, else a terminal prompt)
//     -> reconciler::LayoutFromState: data + metadata 0-db backends with
//        their derived passwords, k, m, capacity
//     -> fs::ObjectStore::Open(keys from the identity, backends, k/m)
//     -> fs/mount RunMount over an ObjectStore sink.
// No secret (mnemonic, passphrase, keys, namespace passwords) is printed.
#pragma once

#if defined(QSTOR_HAVE_FS_MOUNT)
#include <functional>
#include <memory>
#include <string>

#include "cli/app.h"
#include "common/status.h"
#include "fs/mount/mount.h"
#include "fs/mount/segment_sink.h"

namespace qstor::cli {

using SinkFactory = std::function<Result<std::shared_ptr<fs::mount::SegmentSink>>()>;

// Mounts: checks the mount point is not busy, creates it and the cache dir,
// then either serves in this process (options.foreground) or starts a child
// in its own session and returns once the mount is live (the child's stdout
// and stderr then go to <cache_dir>/mount.log). The sink is made by
// `make_sink` in the process that serves, after any fork. `what` names the
// storage in messages. Returns an exit code; prints errors on stderr.
int StartMount(const Context& ctx, fs::mount::MountOptions options, const SinkFactory& make_sink,
               const std::string& what);

}  // namespace qstor::cli
#endif

#if defined(QSTOR_HAVE_FS_MOUNT) && defined(QSTOR_MOUNT_HAVE_OBJECT_STORE) && \
    defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#define QSTOR_CLI_GRID_MOUNT 1

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "common/status.h"
#include "fs/mount/mount.h"
#include "fs/mount/segment_sink.h"
#include "fs/object_store.h"
#include "fs/repair.h"
#include "grid/identity.h"
#include "reconciler/manifest.h"
#include "reconciler/observe.h"
#include "reconciler/state.h"

namespace qstor::cli {

// Exit codes of `qstor fs check` / `qstor fs repair` beyond 0 and 1
// (docs/cli.md).
inline constexpr int kExitDegraded = 4;  // every segment readable, some shards missing
inline constexpr int kExitLost = 5;      // some segment has fewer than k good shards

// A deployment resolved from a manifest (or from the grid by `recover`).
struct Deployed {
  std::string home;        // QSTOR_HOME
  std::string state_path;
  reconciler::State state;
  reconciler::StorageLayout layout;  // holds namespace passwords: never print
  fs::FsKeys keys;
  bool compress = true;
  std::string Label() const;  // "\"demo\" on devnet"
};

// Reads one line from file descriptor `fd` and closes it (--passphrase-fd).
Result<std::string> ReadPassphraseFd(int fd);

// The passphrase for the keystore at `keystore`: from `passphrase_fd` when
// >= 0, else reconciler::ObtainPassphrase (QSTOR_PASSPHRASE or a prompt).
Result<std::string> KeystorePassphrase(const std::string& keystore, int passphrase_fd,
                                       bool confirm);

// Opens the identity from the keystore of `home`: kNotFound "no keystore at
// ..." when there is none, kPermissionDenied "wrong passphrase ..." when
// decryption fails.
Result<grid::Identity> OpenKeystoreIdentity(const std::string& home, int passphrase_fd);

// The manifest named `name` in `path` (empty: the first Storage document).
Result<reconciler::Manifest> PickManifest(const std::string& path, const std::string& name);

// Fills `d` (layout, keys) from its state and an identity. Errors say what to
// run: apply not finished -> `qstor apply MANIFEST`.
Status ResolveLayout(Deployed& d, const grid::Identity& identity, const std::string& hint);

// manifest -> state -> identity -> layout.
Result<Deployed> LoadDeployed(const reconciler::Manifest& m, int passphrase_fd);

// The deployment of a state already in hand (apply's, status's) with the
// identity already unlocked: the same as LoadDeployed after its reads.
Result<Deployed> DeployedOf(const std::string& home, const std::string& state_path,
                            const reconciler::State& state, const reconciler::Manifest& m,
                            const grid::Identity& identity);

// Whether a check found every segment and every metadata replica whole
// (`fs check` exit 0).
bool StorageWhole(const fs::CheckReport& r);

// Object store over the layout (k, m, compression from `d`).
Result<std::unique_ptr<fs::ObjectStore>> OpenDeployedStore(const Deployed& d);

// Makes the mount's sink (an ObjectStore sink over `d`) when called: in the
// process that serves the mount, after any fork.
SinkFactory DeployedSinkFactory(std::shared_ptr<const Deployed> d);

// The mount's default cache directory for a deployment:
// <home>/mount-cache/<network>/<name>.
std::string DeployedCacheDir(const Deployed& d);

// The slots ("data[1]") of data namespaces the state has no deployed
// namespace for: the layout is degraded (cli reads from any k; see
// fs::ObjectStore::Open).
std::vector<std::string> MissingDataSlots(const Deployed& d);

// Prints (to `out`) one DEGRADED line when data namespaces are missing:
// which, that reads work from the k+m-n left, where new writes go, and that
// the next `qstor apply` or the monitor repairs it. Nothing when complete.
void NoteDegraded(const Deployed& d, std::ostream& out);

// Before a mount: makes `dir` the cache of `d` (cli/mount_cache.h: owner.json
// with network, name, lineage, contracts). Another deployment's cache is
// moved aside and said on stderr when `user_given` is false (the default
// path), refused (kFailedPrecondition) when the user chose the directory.
Status ClaimDeployedCache(const Deployed& d, const std::string& dir, bool user_given);

// Registers `qstor fs check`, `qstor fs repair`, `qstor fs gc` under `fs` and `qstor recover`.
void RegisterFsCheckRepair(CLI::App& fs_group, Context& ctx);
void RegisterRecover(CLI::App& app, Context& ctx);

}  // namespace qstor::cli

#endif
