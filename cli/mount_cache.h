// Internal to cli/: which deployment a mount's cache directory belongs to,
// and its removal (issue 13, item 3).
//
// A cache directory (default <home>/mount-cache/<network>/<name>) holds the
// plaintext of cached file blocks and the inode table (meta.db) of ONE
// deployment. A new deployment of the same name (after `qstor destroy`, or
// created elsewhere) must not pick it up: its files would show up as ghosts
// whose segments are gone. So the cache records its owner in owner.json:
//   {"version": 1, "network": ..., "name": ..., "lineage": <state lineage>,
//    "contracts": [<contract ids of the deployment's namespaces>]}
// A deployment owns a cache when the lineage is the same or the two share a
// contract (`recover` rebuilds the state with a new lineage from the same
// contracts; an apply that replaces slots keeps the lineage).
//
// Everything a mount writes in the cache is private: directories 0700,
// files 0600.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace qstor::cli {

// The default cache directory of a deployment: <home>/mount-cache/<network>/<name>.
std::string DefaultCacheDirFor(const std::string& home, const std::string& network,
                               const std::string& name);

struct CacheOwner {
  std::string network;
  std::string name;
  std::string lineage;
  std::vector<uint64_t> contracts;  // the deployment's contract ids (0s dropped)
};

// The owner recorded in `dir` (nullopt when there is no owner.json).
// kCorruption when owner.json is unreadable JSON.
Result<std::optional<CacheOwner>> ReadCacheOwner(const std::string& dir);

// Writes owner.json (0600, atomically).
Status WriteCacheOwner(const std::string& dir, const CacheOwner& owner);

// Whether `a` and `b` are the same deployment: same lineage (non-empty), or
// a contract in common.
bool SameDeployment(const CacheOwner& a, const CacheOwner& b);

// Whether `dir` holds anything a mount wrote (meta.db or data/).
bool CacheHasContent(const std::string& dir);

// Whether a running mount holds `dir` (its flock on <dir>/lock).
bool CacheInUse(const std::string& dir);

struct CacheClaim {
  enum class What {
    kNew,        // empty or missing: now owned by `me`
    kOurs,       // recorded owner is the same deployment (owner.json refreshed)
    kAdopted,    // content but no owner.json (a cache from before owners): adopted
    kMovedAside  // another deployment's cache, renamed to moved_to; `dir` starts empty
  };
  What what = What::kNew;
  std::string moved_to;
  std::optional<CacheOwner> previous;  // the owner found, if any
};

// Makes `dir` the cache of `me` before a mount. A cache of another
// deployment is renamed aside (<dir>.other-<lineage prefix>-<unix time>)
// when `may_move` (the default path, chosen by qstor), and refused with
// kFailedPrecondition otherwise (a cacheDir the user gave: qstor does not
// move the user's directories). Another deployment's cache that a running
// mount holds is refused either way. Creates `dir` (0700) and records the
// owner.
Result<CacheClaim> ClaimCache(const std::string& dir, const CacheOwner& me, bool may_move);

// Directories 0700, files 0600, for what a mount creates in `dir` (caches
// made by older versions were 0755 / 0644).
Status MakeCachePrivate(const std::string& dir);

struct CacheRemoval {
  uint64_t files = 0;        // removed
  uint64_t bytes_zeroed = 0; // overwritten with zeros before the unlink
  std::vector<std::string> left;  // entries not made by a mount, left in place
};

// Removes a cache directory a mount made: each file it knows a mount
// creates (meta.db*, lock, mount.log, cache-id, owner.json, data/slab, data/XX/<ino>)
// is overwritten with zeros and fsynced, then unlinked; then the emptied
// directories. Anything else is left (and listed): no `rm -rf` of a
// directory the user may have put other things in. Zeroing is best effort:
// on copy-on-write or journalled-data file systems, and on SSDs, old blocks
// may survive (docs/mount.md). A missing `dir` is OK; one a running mount
// holds (CacheInUse) is refused with kFailedPrecondition.
Result<CacheRemoval> RemoveCache(const std::string& dir);

}  // namespace qstor::cli
