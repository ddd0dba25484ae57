#include "reconciler/state.h"

#include "common/dirs.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/file_util.h"
#include "common/json_fields.h"

namespace qstor::reconciler {

namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomId() {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string s;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

Status MkdirAll(const std::string& path, mode_t mode) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      cur = path.substr(0, i);
      if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
        return Status::IOError("mkdir " + cur + ": " + std::strerror(errno));
      }
    }
  }
  return Status::OK();
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Typed field access that reports the path of a bad field.
template <typename T>
Status Get(const nlohmann::json& j, const char* key, T* out, const std::string& where,
           bool required = true) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!required) return Status::OK();
    return Status::Corruption(where + "." + key + ": missing");
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // Exactly the integers T holds: no float casts, no wrap-around.
    if (!JsonInteger(*it, out)) {
      return Status::Corruption(where + "." + key + ": not an integer in the range of its field");
    }
    return Status::OK();
  } else {
    try {
      *out = it->get<T>();
    } catch (const std::exception&) {
      return Status::Corruption(where + "." + key + ": wrong type");
    }
    return Status::OK();
  }
}

}  // namespace

const char* RoleName(Role r) { return r == Role::kData ? "data" : "meta"; }

Result<Role> ParseRole(const std::string& s) {
  if (s == "data") return Role::kData;
  if (s == "meta") return Role::kMeta;
  return Status::InvalidArgument("role \"" + s + "\": expected data or meta");
}

std::string NamespaceState::Slot() const {
  return fmt::format("{}[{}]", RoleName(role), index);
}

NamespaceState* State::Find(Role role, uint32_t index) {
  for (auto& n : namespaces) {
    if (n.role == role && n.index == index) return &n;
  }
  return nullptr;
}

const NamespaceState* State::Find(Role role, uint32_t index) const {
  return const_cast<State*>(this)->Find(role, index);
}

std::vector<const NamespaceState*> State::ByRole(Role role) const {
  std::vector<const NamespaceState*> out;
  for (const auto& n : namespaces) {
    if (n.role == role) out.push_back(&n);
  }
  return out;
}

nlohmann::json NamespaceState::ToJson() const {
  return {{"role", RoleName(role)},
          {"index", index},
          {"node_id", node_id},
          {"farm_id", farm_id},
          {"country", country},
          {"city", city},
          {"contract_id", contract_id},
          {"deployment_version", deployment_version},
          {"workload", workload},
          {"size_bytes", size_bytes},
          {"mode", mode},
          {"namespace", ns},
          {"host", host},
          {"port", port},
          {"status", status}};
}

nlohmann::json State::ToJson() const {
  nlohmann::json ns = nlohmann::json::array();
  for (const auto& n : namespaces) ns.push_back(n.ToJson());
  nlohmann::json j = {{"format", format},
                      {"lineage", lineage},
                      {"serial", serial},
                      {"name", name},
                      {"network", network},
                      {"twin_id", twin_id},
                      {"data_shards", data_shards},
                      {"parity_shards", parity_shards},
                      {"capacity_bytes", capacity_bytes},
                      {"updated_at", updated_at},
                      {"namespaces", ns}};
  if (!rebuild_slots.empty()) j["rebuild_slots"] = rebuild_slots;
  return j;
}

Result<State> State::FromJson(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return Status::Corruption(what + ": not a JSON object");
  State s;
  QSTOR_RETURN_IF_ERROR(Get(j, "format", &s.format, what));
  if (s.format != kStateFormat) {
    return Status::Corruption(fmt::format(
        "{}: state format {} is not known to this qstor (it writes format {}); use a newer qstor",
        what, s.format, kStateFormat));
  }
  QSTOR_RETURN_IF_ERROR(Get(j, "lineage", &s.lineage, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "serial", &s.serial, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "name", &s.name, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "network", &s.network, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "twin_id", &s.twin_id, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "data_shards", &s.data_shards, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "parity_shards", &s.parity_shards, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "capacity_bytes", &s.capacity_bytes, what));
  QSTOR_RETURN_IF_ERROR(Get(j, "updated_at", &s.updated_at, what, false));
  QSTOR_RETURN_IF_ERROR(Get(j, "rebuild_slots", &s.rebuild_slots, what, false));
  auto it = j.find("namespaces");
  if (it == j.end() || !it->is_array()) return Status::Corruption(what + ".namespaces: missing");
  for (size_t i = 0; i < it->size(); i++) {
    const auto& e = (*it)[i];
    std::string w = fmt::format("{}.namespaces[{}]", what, i);
    if (!e.is_object()) return Status::Corruption(w + ": not an object");
    NamespaceState n;
    std::string role;
    QSTOR_RETURN_IF_ERROR(Get(e, "role", &role, w));
    auto r = ParseRole(role);
    if (!r.ok()) return Status::Corruption(w + ".role: " + r.status().message());
    n.role = *r;
    QSTOR_RETURN_IF_ERROR(Get(e, "index", &n.index, w));
    QSTOR_RETURN_IF_ERROR(Get(e, "node_id", &n.node_id, w));
    QSTOR_RETURN_IF_ERROR(Get(e, "farm_id", &n.farm_id, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "country", &n.country, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "city", &n.city, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "contract_id", &n.contract_id, w));
    QSTOR_RETURN_IF_ERROR(Get(e, "deployment_version", &n.deployment_version, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "workload", &n.workload, w));
    QSTOR_RETURN_IF_ERROR(Get(e, "size_bytes", &n.size_bytes, w));
    QSTOR_RETURN_IF_ERROR(Get(e, "mode", &n.mode, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "namespace", &n.ns, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "host", &n.host, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "port", &n.port, w, false));
    QSTOR_RETURN_IF_ERROR(Get(e, "status", &n.status, w, false));
    if (s.Find(n.role, n.index) != nullptr) {
      return Status::Corruption(w + ": slot " + n.Slot() + " appears twice");
    }
    s.namespaces.push_back(std::move(n));
  }
  return s;
}

std::string DeploymentData::Encode() const {
  nlohmann::json j = {{"type", "qstor"},  {"v", 1},          {"name", name},
                      {"network", network}, {"role", RoleName(role)}, {"index", index},
                      {"k", k},             {"m", m},          {"capacity", capacity_bytes}};
  if (!labels.empty()) j["labels"] = labels;
  return j.dump();
}

Result<DeploymentData> DeploymentData::Decode(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::NotFound("not qstor deployment data");
  auto t = j.find("type");
  if (t == j.end() || !t->is_string() || t->get<std::string>() != "qstor") {
    return Status::NotFound("not qstor deployment data");
  }
  DeploymentData d;
  const std::string w = "deployment_data";
  int v = 0;
  std::string role;
  auto bad = [&](const Status& st) { return Status::InvalidArgument(st.message()); };
  Status st = Get(j, "v", &v, w);
  if (st.ok() && v != 1) st = Status::Corruption(fmt::format("{}.v: version {} unknown", w, v));
  if (st.ok()) st = Get(j, "name", &d.name, w);
  if (st.ok()) st = Get(j, "network", &d.network, w);
  if (st.ok()) st = Get(j, "role", &role, w);
  if (st.ok()) st = Get(j, "index", &d.index, w);
  if (st.ok()) st = Get(j, "k", &d.k, w);
  if (st.ok()) st = Get(j, "m", &d.m, w);
  if (st.ok()) st = Get(j, "capacity", &d.capacity_bytes, w);
  if (!st.ok()) return bad(st);
  if (auto l = j.find("labels"); l != j.end()) {
    if (!l->is_object()) return Status::InvalidArgument(w + ".labels: not an object");
    for (auto it = l->begin(); it != l->end(); ++it) {
      if (!it.value().is_string()) {
        return Status::InvalidArgument(w + ".labels." + it.key() + ": not a string");
      }
      d.labels[it.key()] = it.value().get<std::string>();
    }
  }
  auto r = ParseRole(role);
  if (!r.ok()) return r.status();
  d.role = *r;
  return d;
}

std::string StateDir(const std::string& home, const std::string& network) {
  return DirsFor(home).state + "/state/" + network;
}

std::string StatePath(const std::string& home, const std::string& network,
                      const std::string& name) {
  return StateDir(home, network) + "/" + name + ".json";
}

Result<State> LoadState(const std::string& path) {
  // Temporaries of a qstor that died between write and rename.
  RemoveStaleTempFiles(DirOf(path));
  auto text = ReadFileBounded(path, kMaxStateBytes, "state file");
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound) return Status::NotFound("no state at " + path);
    return text.status();
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    return Status::Corruption(path + ": not valid JSON (restore it from the grid with "
                                     "`qstor refresh --rebuild`)");
  }
  return State::FromJson(j, path);
}

Status SaveState(const std::string& path, State& state) {
  QSTOR_RETURN_IF_ERROR(MkdirAll(DirOf(path), 0700));
  state.serial++;
  state.updated_at = NowSeconds();
  return WriteFileAtomic(path, state.ToJson().dump(2) + "\n", 0600);
}

Status RemoveState(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IOError("remove " + path + ": " + std::strerror(errno));
  }
  return Status::OK();
}

State NewState(const std::string& name, const std::string& network) {
  State s;
  s.lineage = RandomId();
  s.name = name;
  s.network = network;
  return s;
}

bool LockInfo::Stale() const {
  if (host != HostName() || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

std::string LockInfo::Describe() const {
  return fmt::format("lock {} held by {} (pid {}{}) for `{}` since unix time {}", id, owner, pid,
                     Stale() ? ", no longer running" : "", operation, created);
}

std::string LockPath(const std::string& state_path) {
  std::string p = state_path;
  if (p.size() > 5 && p.compare(p.size() - 5, 5, ".json") == 0) p.resize(p.size() - 5);
  return p + ".lock";
}

Result<std::optional<LockInfo>> ReadLock(const std::string& state_path) {
  std::string path = LockPath(state_path);
  auto text = ReadFileBounded(path, kMaxLockBytes, "lock file");
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound) return std::optional<LockInfo>();
    if (text.status().code() != Status::Code::kResourceExhausted) return text.status();
  }
  // Too large: damaged, still a lock (below).
  auto j = text.ok() ? nlohmann::json::parse(*text, nullptr, false)
                     : nlohmann::json(nlohmann::json::value_t::discarded);
  LockInfo li;
  if (j.is_discarded() || !j.is_object()) {
    // A lock being written right now, or a damaged one: still a lock.
    li.id = "unreadable";
    li.owner = "unknown";
    return std::optional<LockInfo>(li);
  }
  // Fields of another type (a hand-edited or damaged lock) read as empty.
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    int64_t v = 0;
    auto it = j.find(k);
    if (it != j.end()) (void)JsonInteger(*it, &v);
    return v;
  };
  li.id = str("id");
  li.owner = str("owner");
  li.host = str("host");
  li.pid = num("pid");
  li.created = num("created");
  li.operation = str("operation");
  return std::optional<LockInfo>(li);
}

Result<StateLock> StateLock::Acquire(const std::string& state_path, const std::string& operation,
                                     std::chrono::milliseconds timeout) {
  QSTOR_RETURN_IF_ERROR(MkdirAll(DirOf(state_path), 0700));
  std::string path = LockPath(state_path);
  LockInfo li;
  li.id = RandomId();
  li.host = HostName();
  const char* user = std::getenv("USER");
  li.owner = std::string(user ? user : (::getuid() == 0 ? "root" : "uid" + std::to_string(::getuid()))) +
             "@" + li.host;
  li.pid = ::getpid();
  li.created = NowSeconds();
  li.operation = operation;
  std::string body = nlohmann::json{{"id", li.id},
                                    {"owner", li.owner},
                                    {"host", li.host},
                                    {"pid", li.pid},
                                    {"created", li.created},
                                    {"operation", li.operation}}
                         .dump() +
                     "\n";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      bool ok = ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()) &&
                ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) {
        ::unlink(path.c_str());
        return Status::IOError("write " + path + ": " + std::strerror(errno));
      }
      StateLock l;
      l.path_ = path;
      l.info_ = li;
      return l;
    }
    if (errno != EEXIST) return Status::IOError("create " + path + ": " + std::strerror(errno));
    // A lock left by a qstor that died on this host (its pid is gone) is
    // taken over: nobody can be holding it. The rename is atomic, so of two
    // processes racing for it only one moves the stale file; the loser, if
    // it moved a fresh lock instead, puts it back.
    if (auto held = ReadLock(state_path); held.ok() && held->has_value() && (*held)->Stale()) {
      std::string aside = path + ".stale-" + li.id;
      if (::rename(path.c_str(), aside.c_str()) == 0) {
        auto moved = ReadFileBounded(aside, kMaxLockBytes, "lock file");
        auto j = moved.ok() ? nlohmann::json::parse(*moved, nullptr, false)
                            : nlohmann::json(nlohmann::json::value_t::discarded);
        std::string moved_id = j.is_object() && j.contains("id") && j["id"].is_string()
                                   ? j["id"].get<std::string>()
                                   : "";
        if (moved_id == (*held)->id) {
          ::unlink(aside.c_str());
          li.took_over = (*held)->Describe();
        } else if (::link(aside.c_str(), path.c_str()) == 0 || errno == EEXIST) {
          ::unlink(aside.c_str());
        }
        continue;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      auto held = ReadLock(state_path);
      std::string who = held.ok() && held->has_value() ? (*held)->Describe() : "an unknown holder";
      std::string hint = held.ok() && held->has_value()
                             ? fmt::format("; if no other qstor runs for this manifest, remove it "
                                           "with `qstor force-unlock {}`",
                                           (*held)->id)
                             : "";
      return Status::Aborted(fmt::format("the state {} is locked: {}{} (waited {} ms; "
                                             "--lock-timeout waits longer)",
                                             state_path, who, hint, timeout.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

StateLock::StateLock(StateLock&& o) noexcept : path_(std::move(o.path_)), info_(std::move(o.info_)) {
  o.path_.clear();
}

StateLock& StateLock::operator=(StateLock&& o) noexcept {
  if (this != &o) {
    Release();
    path_ = std::move(o.path_);
    info_ = std::move(o.info_);
    o.path_.clear();
  }
  return *this;
}

StateLock::~StateLock() { Release(); }

void StateLock::Release() {
  if (path_.empty()) return;
  // Only remove our own lock (force-unlock may have replaced it).
  auto held = ReadLock(path_.substr(0, path_.size() - 5) + ".json");
  if (held.ok() && held->has_value() && (*held)->id == info_.id) ::unlink(path_.c_str());
  path_.clear();
}

Status ForceUnlock(const std::string& state_path, const std::string& id) {
  auto held = ReadLock(state_path);
  if (!held.ok()) return held.status();
  if (!held->has_value()) return Status::NotFound("no lock on " + state_path);
  if ((*held)->id != id) {
    return Status::FailedPrecondition(fmt::format(
        "the lock on {} has id {}, not {}: nothing removed", state_path, (*held)->id, id));
  }
  if (::unlink(LockPath(state_path).c_str()) != 0) {
    return Status::IOError("remove " + LockPath(state_path) + ": " + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace qstor::reconciler
