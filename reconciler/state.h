// The reconciler's state: what qstor deployed for one manifest on one
// network. A cache of the grid, never the truth: every contract qstor creates
// carries a small deployment_data JSON (DeploymentData below) from which the
// state can be rebuilt (RebuildStateFromGrid in reconciler/observe.h).
//
// File: <QSTOR_HOME>/state/<network>/<name>.json, written atomically (temp
// file, fsync, rename, fsync dir) after every step of an apply, mode 0600.
// Like Terraform's state it has a `lineage` (a random id fixed when the state
// is first created) and a `serial` (incremented by every write), so a plan
// made against one state is refused against another. It holds no secret:
// namespace passwords are derived from the mnemonic (grid::Identity::
// NamespacePassword(name, network, role, index)).
//
// Lock: <name>.lock beside it, created with O_EXCL, holding
// {id, owner, pid, host, created}. A lock whose pid is gone on this host is
// stale and taken over by the next Acquire (LockInfo::took_over says so); a
// lock held from another host is never broken automatically: `qstor
// force-unlock ID` removes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <cstddef>

#include "common/status.h"

namespace qstor::reconciler {

inline constexpr int kStateFormat = 1;
// Largest state file read (a state of thousands of namespaces is far smaller).
inline constexpr size_t kMaxStateBytes = 16u << 20;
// Largest lock file read (a few hundred bytes when qstor wrote it).
inline constexpr size_t kMaxLockBytes = 64u << 10;

// A namespace's role: data shards or metadata replicas.
enum class Role { kData, kMeta };
const char* RoleName(Role r);  // "data" | "meta"
Result<Role> ParseRole(const std::string& s);

// One deployed 0-db namespace (one node contract with one zdb workload).
struct NamespaceState {
  Role role = Role::kData;
  uint32_t index = 0;         // slot: 0..k+m-1 for data, 0..metadata-1 for meta
  uint32_t node_id = 0;
  uint32_t farm_id = 0;
  std::string country;
  std::string city;
  uint64_t contract_id = 0;   // 0 = contract not created yet
  uint32_t deployment_version = 0;
  std::string workload;       // workload name in the deployment
  uint64_t size_bytes = 0;    // namespace maxsize (HRU reserved)
  std::string mode = "user";
  // Filled once the node reports the workload ok.
  std::string ns;             // 0-db namespace name
  std::string host;           // an address of the node's 0-db
  uint16_t port = 0;
  std::string status;         // last observed: "ok" | "pending" | "error: ..." | ...

  bool deployed() const { return contract_id != 0 && !ns.empty() && port != 0; }
  std::string Slot() const;   // "data[2]", "meta[0]"
  nlohmann::json ToJson() const;
};

struct State {
  int format = kStateFormat;
  std::string lineage;
  uint64_t serial = 0;
  std::string name;
  std::string network;
  uint32_t twin_id = 0;
  int data_shards = 0;
  int parity_shards = 0;
  uint64_t capacity_bytes = 0;
  int64_t updated_at = 0;     // unix seconds of the last write
  std::vector<NamespaceState> namespaces;
  // Slots ("data[1]", "meta[0]") that an apply replaced by a new namespace
  // (or added to a deployed storage) whose shards and metadata replicas are
  // not rebuilt yet: until they are, the storage has less redundancy than
  // its layout says. Recorded by ApplyPlan before the grid changes, cleared
  // by `qstor apply` once its rebuild (fs check + fs repair) found the
  // storage whole; a crash in between leaves it set, and the next apply
  // finishes the rebuild. Key "rebuild_slots", absent when empty.
  std::vector<std::string> rebuild_slots;

  NamespaceState* Find(Role role, uint32_t index);
  const NamespaceState* Find(Role role, uint32_t index) const;
  std::vector<const NamespaceState*> ByRole(Role role) const;
  nlohmann::json ToJson() const;
  static Result<State> FromJson(const nlohmann::json& j, const std::string& what);
};

// What every qstor contract carries in deployment_data (compact JSON, well
// under the chain's limit): enough to rebuild the state from the grid.
//   {"type":"qstor","v":1,"name":..,"network":..,"role":"data","index":2,
//    "k":4,"m":2,"capacity":<bytes>,"labels":{"team":"a"}}
// "labels" (the manifest's metadata.labels) is absent when there are none.
struct DeploymentData {
  std::string name;
  std::string network;
  Role role = Role::kData;
  uint32_t index = 0;
  int k = 0;
  int m = 0;
  uint64_t capacity_bytes = 0;
  std::map<std::string, std::string> labels;
  std::string Encode() const;
  // kNotFound when the text is not a qstor deployment_data (another tool's
  // contract); kInvalidArgument when it claims to be one but is malformed.
  static Result<DeploymentData> Decode(const std::string& text);
};

// <home>/state/<network>
std::string StateDir(const std::string& home, const std::string& network);
std::string StatePath(const std::string& home, const std::string& network, const std::string& name);

// Loads the state; kNotFound when there is none. A malformed file is
// kCorruption with the path and what is wrong.
Result<State> LoadState(const std::string& path);
// Increments state.serial, stamps updated_at, and writes atomically (0600).
Status SaveState(const std::string& path, State& state);
// Removes the state file (after a complete destroy).
Status RemoveState(const std::string& path);
// A fresh, empty state with a new random lineage.
State NewState(const std::string& name, const std::string& network);

struct LockInfo {
  std::string id;
  std::string owner;    // user@host
  std::string host;
  int64_t pid = 0;
  int64_t created = 0;  // unix seconds
  std::string operation;
  // Set on a lock just acquired by taking over a stale one: who held it.
  std::string took_over;
  bool Stale() const;   // same host and the pid is gone
  std::string Describe() const;
};

// An acquired lock; releases (removes the file) when destroyed.
class StateLock {
 public:
  // Takes the lock beside `state_path`, waiting up to `timeout` for a holder
  // to release it. kAborted (after the timeout) says who holds it and,
  // when it is stale, how to remove it.
  static Result<StateLock> Acquire(const std::string& state_path, const std::string& operation,
                                   std::chrono::milliseconds timeout);
  StateLock(StateLock&& o) noexcept;
  StateLock& operator=(StateLock&& o) noexcept;
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  ~StateLock();
  const LockInfo& info() const { return info_; }
  void Release();

 private:
  StateLock() = default;
  std::string path_;
  LockInfo info_;
};

std::string LockPath(const std::string& state_path);
// Reads the lock beside a state, if any.
Result<std::optional<LockInfo>> ReadLock(const std::string& state_path);
// Removes the lock beside `state_path` if its id is `id`
// (kFailedPrecondition otherwise, kNotFound when there is no lock).
Status ForceUnlock(const std::string& state_path, const std::string& id);

}  // namespace qstor::reconciler
