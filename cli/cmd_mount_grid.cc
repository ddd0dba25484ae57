// The deployment side of the mount (issue 7): from a manifest's state (or,
// for `qstor recover`, from the grid) to the storage engine. Also `qstor fs
// check`, `qstor fs repair`, `qstor fs gc` and `qstor recover`. See
// cli/mount_grid.h.
#include "cli/mount_grid.h"

#if defined(QSTOR_CLI_GRID_MOUNT)

#include <sodium.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/mount_cache.h"
#include "cli/session.h"
#include "common/file_util.h"
#include "common/units.h"
#include "fs/mount/object_store_sink.h"
#include "fs/repair.h"
#include "grid/bip39.h"
#include "grid/connect_login.h"
#include "grid/http_grid.h"
#include "grid/network.h"
#include "reconciler/connect_profile.h"
#include "reconciler/keystore.h"

namespace qstor::cli {

std::string Deployed::Label() const {
  return fmt::format("\"{}\" on {}", state.name, state.network);
}

Result<std::string> ReadPassphraseFd(int fd) {
  auto line = reconciler::ReadPassphraseLine(fd, fmt::format("--passphrase-fd {}", fd));
  ::close(fd);
  return line;
}

Result<std::string> KeystorePassphrase(const std::string& keystore, int passphrase_fd,
                                       bool confirm) {
  if (passphrase_fd >= 0) return ReadPassphraseFd(passphrase_fd);
  return reconciler::ObtainPassphrase("Passphrase for the keystore " + keystore + ": ", confirm);
}

Result<grid::Identity> OpenKeystoreIdentity(const std::string& home, int passphrase_fd) {
  std::string path = reconciler::KeystorePath(home);
  auto mem = MnemonicIdentity(home);
  if (!mem.ok()) return mem.status();
  if (mem->has_value()) return std::move(**mem);
  auto pub = reconciler::ReadKeystorePublic(path);
  if (!pub.ok()) {
    if (pub.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no keystore at " + path +
                              ": run `qstor init` (or `qstor recover` on a new machine)");
    }
    return pub.status();
  }
  auto pass = KeystorePassphrase(path, passphrase_fd, false);
  if (!pass.ok()) return pass.status();
  auto id = reconciler::OpenIdentity(path, *pass);
  sodium_memzero(pass->data(), pass->size());
  return id;
}

Result<reconciler::Manifest> PickManifest(const std::string& path, const std::string& name) {
  auto r = reconciler::LoadManifestFile(path);
  if (!r.ok() || r.manifests.empty()) {
    std::string why;
    for (const auto& d : r.diagnostics) {
      if (d.severity == reconciler::ManifestDiagnostic::Severity::kError) {
        why += "\n  " + d.ToString();
      }
    }
    if (why.empty()) why = "\n  no Storage document in the file";
    return Status::InvalidArgument(path + " is not a valid manifest:" + why);
  }
  if (name.empty()) return r.manifests.front();
  std::vector<std::string> names;
  for (const auto& m : r.manifests) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  return Status::NotFound(fmt::format("{} has no Storage document named \"{}\" (it has: {})", path,
                                      name, fmt::join(names, ", ")));
}

Status ResolveLayout(Deployed& d, const grid::Identity& identity, const std::string& hint) {
  auto layout = reconciler::LayoutFromState(d.state, identity);
  if (!layout.ok()) {
    return Status(layout.status().code(),
                  fmt::format("{} ({}): {}{}", d.Label(), d.state_path, layout.status().message(),
                              hint.empty() ? "" : " " + hint));
  }
  d.layout = std::move(layout).value();
  d.keys.data_key = fs::SecretKey(identity.DataKey());
  d.keys.metadata_key = fs::SecretKey(identity.MetadataKey());
  return Status::OK();
}

Result<Deployed> LoadDeployed(const reconciler::Manifest& m, int passphrase_fd) {
  Deployed d;
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return home.status();
  d.home = *home;
  d.state_path = reconciler::StatePath(d.home, m.network, m.name);
  auto st = reconciler::LoadState(d.state_path);
  if (!st.ok()) {
    if (st.status().code() == Status::Code::kNotFound) {
      return Status::NotFound(fmt::format(
          "no state for \"{}\" on {} at {}: nothing is deployed from this machine yet; run "
          "`qstor apply {}` first (or `qstor recover --name {} --network {} --mount PATH` to "
          "find an existing deployment from the mnemonic)",
          m.name, m.network, d.state_path, m.file, m.name, m.network));
    }
    return st.status();
  }
  d.state = std::move(st).value();
  d.compress = m.mount.compression;
  // The identity last: no passphrase prompt when there is nothing to mount.
  bool any_deployed = false;
  for (const auto& n : d.state.namespaces) any_deployed = any_deployed || n.deployed();
  if (!any_deployed) {
    return Status::FailedPrecondition(fmt::format(
        "{} ({}): no namespace is deployed yet (apply did not finish); run `qstor apply {}`",
        d.Label(), d.state_path, m.file));
  }
  auto id = OpenKeystoreIdentity(d.home, passphrase_fd);
  if (!id.ok()) return id.status();
  QSTOR_RETURN_IF_ERROR(ResolveLayout(d, *id, "; run `qstor apply " + m.file + "`"));
  return d;
}

Result<Deployed> DeployedOf(const std::string& home, const std::string& state_path,
                            const reconciler::State& state, const reconciler::Manifest& m,
                            const grid::Identity& identity) {
  Deployed d;
  d.home = home;
  d.state_path = state_path;
  d.state = state;
  d.compress = m.mount.compression;
  QSTOR_RETURN_IF_ERROR(ResolveLayout(d, identity, ""));
  return d;
}

namespace {

std::vector<fs::Backend> ToBackends(const std::vector<reconciler::BackendSpec>& specs) {
  std::vector<fs::Backend> out;
  out.reserve(specs.size());
  for (const auto& s : specs) {
    fs::Backend b;
    b.name = s.name;
    b.host = s.host;
    b.port = s.port;
    b.ns = s.ns;
    b.password = s.password;
    b.labels = s.labels;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<fs::ObjectStore>> OpenDeployedStore(const Deployed& d) {
  fs::ObjectStoreOptions o;
  o.k = d.layout.k;
  o.m = d.layout.m;
  o.compress = d.compress;
  const int have = static_cast<int>(d.layout.data.size());
  if (have < o.k + o.m) {
    // Degraded layout (a data namespace gone, not replaced yet): k+1 shards
    // where that many namespaces are left, else k, so writes go on; the
    // shards without a namespace are rebuilt by `fs repair` once apply
    // replaced the slot.
    o.min_durable = std::max(o.k, std::min(o.k + 1, have));
  }
  auto store =
      fs::ObjectStore::Open(d.keys, ToBackends(d.layout.data), ToBackends(d.layout.meta), o);
  if (!store.ok()) return store.status().WithContext(d.Label());
  return store;
}

SinkFactory DeployedSinkFactory(std::shared_ptr<const Deployed> d) {
  return [d]() -> Result<std::shared_ptr<fs::mount::SegmentSink>> {
    auto store = OpenDeployedStore(*d);
    if (!store.ok()) return store.status();
    std::shared_ptr<fs::ObjectStore> shared(std::move(store).value());
    return std::shared_ptr<fs::mount::SegmentSink>(
        fs::mount::NewObjectStoreSink(std::move(shared)));
  };
}

std::string DeployedCacheDir(const Deployed& d) {
  return DefaultCacheDirFor(d.home, d.state.network, d.state.name);
}

std::vector<std::string> MissingDataSlots(const Deployed& d) {
  std::vector<std::string> out;
  const int n = d.state.data_shards + d.state.parity_shards;
  for (int i = 0; i < n; ++i) {
    bool have = false;
    for (const auto& ns : d.state.namespaces) {
      if (ns.role == reconciler::Role::kData && ns.index == static_cast<uint32_t>(i) &&
          ns.deployed()) {
        have = true;
      }
    }
    if (!have) out.push_back(fmt::format("data[{}]", i));
  }
  return out;
}

void NoteDegraded(const Deployed& d, std::ostream& out) {
  auto missing = MissingDataSlots(d);
  if (missing.empty()) return;
  const int k = d.state.data_shards, m = d.state.parity_shards;
  const int left = k + m - static_cast<int>(missing.size());
  out << fmt::format(
      "DEGRADED: {} has {} of its {} data namespaces ({} missing: {}); every file reads from "
      "any {} of them, new writes are stored on the {} left with less redundancy; repaired by "
      "the next `qstor apply` (a new namespace for each missing slot) or the monitor, then "
      "`qstor fs repair`.\n",
      d.Label(), left, k + m, missing.size(), fmt::join(missing, ", "), k, left);
  out.flush();
}

Status ClaimDeployedCache(const Deployed& d, const std::string& dir, bool user_given) {
  CacheOwner me;
  me.network = d.state.network;
  me.name = d.state.name;
  me.lineage = d.state.lineage;
  for (const auto& ns : d.state.namespaces) {
    if (ns.contract_id != 0) me.contracts.push_back(ns.contract_id);
  }
  std::error_code ec;
  const std::string parent = std::filesystem::path(dir).parent_path().string();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  auto claim = ClaimCache(dir, me, !user_given);
  if (!claim.ok()) return claim.status().WithContext(d.Label());
  if (claim->what == CacheClaim::What::kMovedAside) {
    const CacheOwner& o = *claim->previous;
    std::cerr << fmt::format(
        "qstor: the cache {} belonged to another deployment (\"{}\" on {}, lineage {}; no "
        "contract in common with {}); moved it aside to {} so its files do not show up in "
        "this storage. Remove it when you no longer need it.\n",
        dir, o.name, o.network, o.lineage.empty() ? "?" : o.lineage, d.Label(),
        claim->moved_to);
  }
  return Status::OK();
}

// --- fs check / fs repair ----------------------------------------------------

namespace {

struct CheckCli {
  std::string manifest;
  std::string name;
  int passphrase_fd = -1;
  bool decode = false;
};

int FailWith(const Status& st, const char* what) { return ReportFailure(what, st); }

// Metadata replicas count: a record no copy of which authenticates is lost;
// a metadata backend unreachable or lacking objects is degraded.
bool MetadataLost(const fs::CheckReport& r) { return r.metadata_checked && r.metadata.lost(); }
bool MetadataDegraded(const fs::CheckReport& r) {
  return r.metadata_checked && !r.metadata.healthy();
}

std::string HealthWord(const fs::CheckReport& r) {
  if (r.lost > 0 || MetadataLost(r)) return "lost";
  if (r.degraded > 0 || MetadataDegraded(r)) return "degraded";
  return "healthy";
}

int HealthExit(const fs::CheckReport& r) {
  if (r.lost > 0 || MetadataLost(r)) return kExitLost;
  if (r.degraded > 0 || MetadataDegraded(r)) return kExitDegraded;
  return kExitOk;
}

std::string MetadataHealthWord(const fs::CheckReport& r) {
  if (MetadataLost(r)) return "lost";
  if (MetadataDegraded(r)) return "degraded";
  return "healthy";
}

// "healthy", "missing 7 objects", "missing 2, stale 1 objects", "unreachable".
std::string ReplicaWord(const fs::MetadataReplicaCheck& b) {
  if (!b.reachable) return "unreachable";
  if (b.healthy()) return "healthy";
  std::vector<std::string> parts;
  if (b.missing) parts.push_back(fmt::format("missing {}", b.missing));
  if (b.stale) parts.push_back(fmt::format("stale {}", b.stale));
  if (b.corrupt) parts.push_back(fmt::format("corrupt {}", b.corrupt));
  return fmt::format("{} objects", fmt::join(parts, ", "));
}

// One probe of every backend (NSINFO), remembering which probes failed.
struct Probe {
  fs::BackendHealth health;
  bool failed = false;  // this probe got an error from the backend
};

std::vector<Probe> ProbeAll(fs::ObjectStore& store) {
  std::map<std::string, uint64_t> failed_before;
  for (const auto& h : store.health().Snapshot()) failed_before[h.backend] = h.requests_failed;
  std::vector<Probe> out;
  for (auto& h : fs::ProbeBackends(store)) {
    bool failed = h.requests_failed > failed_before[h.backend];
    out.push_back({std::move(h), failed});
  }
  return out;
}

// The fs health states (up, slow, down, full), plus "error" for a backend
// that answers but refused the probe (e.g. its namespace is gone after a
// wiped disk): the health tracker counts only unreachable ones as down.
std::string BackendStateWord(const Probe& p) {
  if (p.failed && p.health.state != fs::BackendState::kDown) return "error";
  return fs::BackendStateName(p.health.state);
}

struct BackendRow {
  const reconciler::BackendSpec* spec;
  const char* role;
  Probe probe;
  const fs::BackendCheck* shards = nullptr;
  const fs::MetadataReplicaCheck* records = nullptr;  // metadata backends
};

std::vector<BackendRow> BackendRows(const Deployed& d, const std::vector<Probe>& probe,
                                    const fs::CheckReport* report) {
  std::vector<BackendRow> rows;
  auto probe_of = [&](const std::string& name) {
    for (const auto& p : probe) {
      if (p.health.backend == name) return p;
    }
    Probe p;
    p.health.backend = name;
    return p;
  };
  for (const auto& b : d.layout.data) {
    BackendRow r{&b, "data", probe_of(b.name)};
    if (report) {
      for (const auto& bc : report->backends) {
        if (bc.backend == b.name) r.shards = &bc;
      }
    }
    rows.push_back(r);
  }
  for (const auto& b : d.layout.meta) {
    BackendRow r{&b, "meta", probe_of(b.name)};
    if (report && report->metadata_checked) {
      for (const auto& mc : report->metadata.backends) {
        if (mc.backend == b.name) r.records = &mc;
      }
    }
    rows.push_back(r);
  }
  return rows;
}

nlohmann::json BackendsJson(const std::vector<BackendRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json b{{"name", r.spec->name},
                     {"role", r.role},
                     {"host", r.spec->host},
                     {"port", r.spec->port},
                     {"namespace", r.spec->ns},
                     {"labels", r.spec->labels},
                     {"state", BackendStateWord(r.probe)},
                     {"latency_ms", std::round(r.probe.health.latency_ms * 1000) / 1000},
                     {"last_error", r.probe.health.last_error}};
    if (r.probe.health.used_bytes) b["used_bytes"] = *r.probe.health.used_bytes;
    if (r.shards) {
      b["shards"] = {{"ok", r.shards->ok},
                     {"missing", r.shards->missing},
                     {"corrupt", r.shards->corrupt},
                     {"unreachable", r.shards->unreachable}};
    }
    if (r.records) {
      b["metadata"] = {{"status", ReplicaWord(*r.records)},
                       {"reachable", r.records->reachable},
                       {"ok", r.records->ok},
                       {"missing", r.records->missing},
                       {"stale", r.records->stale},
                       {"corrupt", r.records->corrupt},
                       {"bytes", r.records->bytes}};
      if (!r.records->error.empty()) b["metadata"]["error"] = r.records->error;
    }
    out.push_back(std::move(b));
  }
  return out;
}

nlohmann::json CountsJson(const fs::CheckReport& r) {
  nlohmann::json j{{"segments", r.segments.size()},
                   {"healthy", r.healthy},
                   {"degraded", r.degraded},
                   {"lost", r.lost},
                   {"status", HealthWord(r)}};
  if (r.metadata_checked) {
    int complete = 0;
    for (const auto& b : r.metadata.backends) complete += b.healthy() ? 1 : 0;
    j["metadata"] = {{"objects", r.metadata.objects},
                     {"backends", r.metadata.backends.size()},
                     {"healthy_backends", complete},
                     {"unreachable_backends", r.metadata.unreachable()},
                     {"unreadable", r.metadata.unreadable.size()},
                     {"status", MetadataHealthWord(r)}};
  }
  return j;
}

// One line about the metadata replicas.
std::string MetadataLine(const fs::CheckReport& r) {
  if (!r.metadata_checked) return "";
  std::vector<std::string> bad;
  for (const auto& b : r.metadata.backends) {
    if (!b.healthy()) bad.push_back(fmt::format("{} {}", b.backend, ReplicaWord(b)));
  }
  std::string line = fmt::format("metadata: {} objects on {} backends: ", r.metadata.objects,
                                 r.metadata.backends.size());
  if (bad.empty() && !r.metadata.lost()) return line + "every replica complete\n";
  if (!bad.empty()) line += fmt::format("{}", fmt::join(bad, "; "));
  if (r.metadata.lost()) {
    line += fmt::format("{}{} record(s) authenticate on no backend", bad.empty() ? "" : "; ",
                        r.metadata.unreadable.size());
  }
  return line + "\n";
}

nlohmann::json SegmentsJson(const fs::CheckReport& r, bool decode) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : r.segments) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& sh : s.shards) {
      nlohmann::json x{{"index", sh.index},
                       {"backend", sh.backend},
                       {"state", fs::ShardStateName(sh.state)}};
      if (!sh.detail.empty()) x["detail"] = sh.detail;
      shards.push_back(std::move(x));
    }
    nlohmann::json j{{"id", s.id},          {"version", s.version},
                     {"k", s.k},            {"m", s.m},
                     {"good", s.good},      {"health", fs::SegmentHealthName(s.health)},
                     {"shards", shards}};
    if (decode) j["decoded"] = s.decoded;
    if (!s.error.empty()) j["error"] = s.error;
    out.push_back(std::move(j));
  }
  return out;
}

void PrintBackendTable(const std::vector<BackendRow>& rows) {
  std::cout << fmt::format("{:<18} {:<4} {:<7} {:>9}  {:<28} {}\n", "backend", "role", "state",
                           "latency", "address",
                           "shards ok/missing/corrupt/unreachable | metadata replica");
  for (const auto& r : rows) {
    std::string addr = fmt::format("{}:{}/{}", r.spec->host, r.spec->port, r.spec->ns);
    const fs::BackendHealth& h = r.probe.health;
    std::string lat = h.latency_ms > 0 ? fmt::format("{:.1f} ms", h.latency_ms) : "-";
    std::string shards = r.shards ? fmt::format("{}/{}/{}/{}", r.shards->ok, r.shards->missing,
                                                r.shards->corrupt, r.shards->unreachable)
                         : r.records ? "metadata " + ReplicaWord(*r.records)
                                     : "-";
    std::cout << fmt::format("{:<18} {:<4} {:<7} {:>9}  {:<28} {}\n", r.spec->name, r.role,
                             BackendStateWord(r.probe), lat, addr, shards);
    if (r.probe.failed && !h.last_error.empty()) {
      std::cout << "    " << h.last_error << "\n";
    }
  }
}

void PrintUnhealthySegments(const fs::CheckReport& r, size_t limit) {
  size_t shown = 0;
  for (const auto& s : r.segments) {
    if (s.health == fs::SegmentHealth::kHealthy) continue;
    if (shown++ == limit) {
      std::cout << "  ... (" << (r.degraded + r.lost - static_cast<int>(limit))
                << " more; --json lists every segment)\n";
      break;
    }
    std::vector<std::string> bad;
    for (const auto& sh : s.shards) {
      if (sh.state == fs::ShardState::kOk) continue;
      bad.push_back(fmt::format("shard {} on {}: {}", sh.index,
                                sh.backend.empty() ? "-" : sh.backend,
                                fs::ShardStateName(sh.state)));
    }
    std::cout << fmt::format("  {:<8} {} v{}: {} of {} shards good (k={}){}{}\n",
                             fs::SegmentHealthName(s.health), s.id, s.version, s.good, s.k + s.m,
                             s.k, bad.empty() ? "" : "; ", fmt::join(bad, ", "));
    if (!s.error.empty()) std::cout << "           " << s.error << "\n";
  }
}

std::string Verdict(const fs::CheckReport& r, const std::string& manifest) {
  if (r.lost > 0) {
    return fmt::format(
        "LOST: {} segment(s) have fewer than k good shards and cannot be read (exit {}); "
        "bringing the unreachable backends back may still save them",
        r.lost, kExitLost);
  }
  if (MetadataLost(r)) {
    return fmt::format(
        "LOST: {} metadata record(s) authenticate on no metadata backend (exit {}); bringing "
        "the unreachable metadata backends back may still save them",
        r.metadata.unreadable.size(), kExitLost);
  }
  if (r.degraded > 0) {
    return fmt::format(
        "DEGRADED: every segment is readable, {} have lost redundancy{} (exit {}); run `qstor fs "
        "repair {}`",
        r.degraded, MetadataDegraded(r) ? ", and metadata replicas are incomplete" : "",
        kExitDegraded, manifest);
  }
  if (MetadataDegraded(r)) {
    return fmt::format(
        "DEGRADED: every segment is readable, but metadata replicas are incomplete (exit {}); "
        "run `qstor fs repair {}`{}",
        kExitDegraded, manifest,
        r.metadata.unreachable() > 0
            ? " (an unreachable metadata backend must answer again, or be replaced by `qstor "
              "apply`, before it can be restored)"
            : "");
  }
  return "HEALTHY: every shard of every segment and every metadata replica verified";
}

// The local cache, checked by the live mount of the deployment (the only
// process that may read and fix it): every cached clean block against its
// checksum, with `decode` also against its segment on the grid. A damaged
// copy is dropped there and read again from the grid. {"checked": false,
// "why": ...} when there is no mount to ask.
nlohmann::json CheckCacheThroughMount(const reconciler::Manifest& m, bool decode) {
  if (!m.mount.enabled || m.mount.path.empty()) {
    return {{"checked", false}, {"why", "the manifest mounts nothing"}};
  }
  if (!IsMountPoint(m.mount.path)) {
    return {{"checked", false},
            {"why", "not mounted at " + m.mount.path + " (the cache is checked through its mount)"}};
  }
  const char* attr = decode ? "trusted.qstor.check-cache-decode" : "trusted.qstor.check-cache";
  std::string buf(64 * 1024, '\0');
  ssize_t n = ::getxattr(m.mount.path.c_str(), attr, buf.data(), buf.size());
  if (n < 0) {
    int e = errno;
    std::string why = e == ENODATA || e == ENOTSUP
                          ? m.mount.path + " is not a qstor mount, or its qstor predates cache checks"
                          : m.mount.path + ": " + std::strerror(e);
    return {{"checked", false}, {"why", why}};
  }
  buf.resize(static_cast<size_t>(n));
  auto j = nlohmann::json::parse(buf, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return {{"checked", false}, {"why", "the mount at " + m.mount.path + " answered no JSON"}};
  }
  j["checked"] = true;
  j["mountpoint"] = m.mount.path;
  return j;
}

// One line (and the problems) for the text output of `fs check`.
void PrintCacheCheck(const nlohmann::json& j) {
  if (!j.value("checked", false)) {
    std::cout << "cache: not checked: " << j.value("why", std::string("?")) << "\n";
    return;
  }
  const uint64_t damaged = j.value("damaged", uint64_t{0}), differ = j.value("differ", uint64_t{0});
  const uint64_t failed = j.value("fetch_failed", uint64_t{0});
  std::string line = fmt::format(
      "cache (mount {}): {} cached block(s) checked ({}): {} damaged", j.value("mountpoint", ""),
      j.value("blocks_checked", uint64_t{0}), FormatSize(j.value("bytes_checked", uint64_t{0})),
      damaged);
  if (j.value("decode", false)) {
    line += fmt::format(", {} compared with the grid, {} differ, {} could not be fetched",
                        j.value("decoded", uint64_t{0}), differ, failed);
  }
  if (j.value("no_checksum", uint64_t{0}) > 0) {
    line += fmt::format(", {} without a checksum (from an older qstor{})",
                        j.value("no_checksum", uint64_t{0}),
                        j.value("decode", false) ? "" : "; --decode compares them with the grid");
  }
  std::cout << line << "\n";
  if (damaged + differ > 0) {
    std::cout << "  WARNING: " << damaged + differ
              << " cached cop(ies) were bad (the local disk?): dropped, and read again from the "
                 "grid when needed\n";
  }
  for (const auto& p : j.value("problems", std::vector<std::string>{})) {
    std::cout << "  " << p << "\n";
  }
}

int RunCheck(const Context& ctx, const CheckCli& c) {
  auto m = PickManifest(c.manifest, c.name);
  if (!m.ok()) return FailWith(m.status(), "fs check");
  auto d = LoadDeployed(*m, c.passphrase_fd);
  if (!d.ok()) return FailWith(d.status(), "fs check");
  auto store = OpenDeployedStore(*d);
  if (!store.ok()) return FailWith(store.status(), "fs check");
  auto probe = ProbeAll(**store);
  fs::CheckOptions co;
  co.full_decode = c.decode;
  auto report = fs::Check(**store, co);
  if (!report.ok()) return FailWith(report.status().WithContext(d->Label()), "fs check");
  auto rows = BackendRows(*d, probe, &*report);
  const nlohmann::json cache = CheckCacheThroughMount(*m, c.decode);
  if (ctx.global.json) {
    nlohmann::json out{{"version", 1},
                       {"name", d->state.name},
                       {"network", d->state.network},
                       {"k", d->layout.k},
                       {"m", d->layout.m},
                       {"decode", c.decode},
                       {"summary", CountsJson(*report)},
                       {"backends", BackendsJson(rows)},
                       {"segments", SegmentsJson(*report, c.decode)},
                       {"cache", cache}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << fmt::format("check of {}: {} segments: {} healthy, {} degraded, {} lost "
                             "(k={}, m={}{})\n",
                             d->Label(), report->segments.size(), report->healthy,
                             report->degraded, report->lost, d->layout.k, d->layout.m,
                             c.decode ? ", every segment decoded" : "");
    std::cout << MetadataLine(*report);
    PrintBackendTable(rows);
    PrintUnhealthySegments(*report, 20);
    PrintCacheCheck(cache);
    std::cout << Verdict(*report, c.manifest) << "\n";
  }
  return HealthExit(*report);
}

// A rebuild an apply left pending (State::rebuild_slots) is done once the
// storage is whole: cleared under the state lock (best effort: a busy lock
// leaves it for the next `qstor apply`, which checks again and clears it).
void ClearRebuildWhenWhole(const Deployed& d, const fs::CheckReport& after) {
  if (d.state.rebuild_slots.empty() || !StorageWhole(after)) return;
  auto lock = reconciler::StateLock::Acquire(d.state_path, "fs repair", std::chrono::seconds(5));
  if (!lock.ok()) return;
  auto st = reconciler::LoadState(d.state_path);
  if (!st.ok() || st->lineage != d.state.lineage || st->rebuild_slots != d.state.rebuild_slots) {
    return;
  }
  // Only when the layout repaired is still the layout recorded.
  auto contracts = [](const reconciler::State& x) {
    std::set<uint64_t> ids;
    for (const auto& n : x.namespaces) ids.insert(n.contract_id);
    return ids;
  };
  if (contracts(*st) != contracts(d.state)) return;
  st->rebuild_slots.clear();
  (void)reconciler::SaveState(d.state_path, *st);
}

int RunRepair(const Context& ctx, const CheckCli& c) {
  auto m = PickManifest(c.manifest, c.name);
  if (!m.ok()) return FailWith(m.status(), "fs repair");
  auto d = LoadDeployed(*m, c.passphrase_fd);
  if (!d.ok()) return FailWith(d.status(), "fs repair");
  auto store = OpenDeployedStore(*d);
  if (!store.ok()) return FailWith(store.status(), "fs repair");
  // Probe first so that repair does not pick a backend that is down.
  (void)fs::ProbeBackends(**store);
  auto before = fs::Check(**store);
  if (!before.ok()) return FailWith(before.status().WithContext(d->Label()), "fs repair");
  auto rep = fs::Repair(**store, *before);
  if (!rep.ok()) return FailWith(rep.status().WithContext(d->Label()), "fs repair");
  auto probe = ProbeAll(**store);
  auto after = fs::Check(**store);
  if (!after.ok()) return FailWith(after.status().WithContext(d->Label()), "fs repair");
  auto rows = BackendRows(*d, probe, &*after);
  if (ctx.global.json) {
    nlohmann::json out{{"version", 1},
                       {"name", d->state.name},
                       {"network", d->state.network},
                       {"before", CountsJson(*before)},
                       {"repair",
                        {{"repaired", rep->repaired},
                         {"failed", rep->failed},
                         {"lost", rep->lost},
                         {"remaining", rep->remaining},
                         {"bytes_read", rep->bytes_read},
                         {"bytes_written", rep->bytes_written},
                         {"metadata",
                          {{"objects", rep->metadata_objects},
                           {"restored", rep->metadata_restored},
                           {"restored_per_backend", rep->metadata_restored_per_backend},
                           {"newer_left_alone", rep->metadata_newer},
                           {"failed", rep->metadata_failed},
                           {"remaining", rep->metadata_remaining}}},
                         {"errors", rep->errors}}},
                       {"after", CountsJson(*after)},
                       {"backends", BackendsJson(rows)},
                       {"segments", SegmentsJson(*after, false)}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << fmt::format("repair of {}: before: {} healthy, {} degraded, {} lost\n",
                             d->Label(), before->healthy, before->degraded, before->lost);
    std::vector<std::string> per;
    for (const auto& [b, n] : rep->metadata_restored_per_backend) {
      per.push_back(fmt::format("{} onto {}", n, b));
    }
    std::cout << fmt::format("metadata: {} record(s) needed copies; restored {} cop{}{}{}{}\n",
                             rep->metadata_objects, rep->metadata_restored,
                             rep->metadata_restored == 1 ? "y" : "ies",
                             per.empty() ? "" : fmt::format(" ({})", fmt::join(per, ", ")),
                             rep->metadata_failed
                                 ? fmt::format(", {} failed", rep->metadata_failed)
                                 : "",
                             rep->metadata_newer
                                 ? fmt::format(", {} newer cop{} left alone", rep->metadata_newer,
                                               rep->metadata_newer == 1 ? "y" : "ies")
                                 : "");
    std::cout << fmt::format("repaired {} segment(s), {} failed, {} lost; read {}, wrote {}\n",
                             rep->repaired, rep->failed, rep->lost, FormatSize(rep->bytes_read),
                             FormatSize(rep->bytes_written));
    for (const auto& e : rep->errors) std::cout << "  error: " << e << "\n";
    std::cout << fmt::format("after: {} healthy, {} degraded, {} lost\n", after->healthy,
                             after->degraded, after->lost);
    std::cout << MetadataLine(*after);
    PrintBackendTable(rows);
    PrintUnhealthySegments(*after, 20);
    std::cout << Verdict(*after, c.manifest) << "\n";
  }
  ClearRebuildWhenWhole(*d, *after);
  return HealthExit(*after);
}

// --- fs gc ---------------------------------------------------------------------

struct GcCli {
  std::string manifest;
  std::string name;
  int passphrase_fd = -1;
  bool dry_run = false;
  std::string grace = "1h";
};

// "3 (1.5 MiB)": a count and its bytes, short enough for a table cell.
std::string CountBytes(uint64_t n, uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} ({} B)", n, bytes);
  return fmt::format("{} ({:.1f} {})", n, v, kUnits[u]);
}

int RunGc(const Context& ctx, const GcCli& c) {
  const char* what = "fs gc";
  auto grace = ParseDuration(c.grace);
  if (!grace.ok()) return FailWith(grace.status().WithContext("--grace"), what);
  auto m = PickManifest(c.manifest, c.name);
  if (!m.ok()) return FailWith(m.status(), what);
  auto d = LoadDeployed(*m, c.passphrase_fd);
  if (!d.ok()) return FailWith(d.status(), what);
  auto store = OpenDeployedStore(*d);
  if (!store.ok()) return FailWith(store.status(), what);
  fs::GcOptions o;
  o.grace = std::chrono::duration_cast<std::chrono::seconds>(*grace);
  o.dry_run = c.dry_run;
  auto r = fs::CollectGarbage(**store, o);
  if (!r.ok()) return FailWith(r.status().WithContext(d->Label()), what);
  const int code = r->complete() ? kExitOk : kExitDegraded;
  if (ctx.global.json) {
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& b : r->backends) {
      nlohmann::json j{{"name", b.backend},         {"role", b.role},
                       {"scanned", b.scanned},      {"keys", b.keys},
                       {"garbage", b.garbage},      {"garbage_bytes", b.garbage_bytes},
                       {"deleted", b.deleted},      {"deleted_bytes", b.deleted_bytes},
                       {"young", b.young},          {"young_bytes", b.young_bytes}};
      if (!b.error.empty()) j["error"] = b.error;
      backends.push_back(std::move(j));
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& it : r->items) {
      nlohmann::json j{{"backend", it.backend}, {"role", it.role},
                       {"key", it.key},         {"bytes", it.bytes},
                       {"written_unix", it.written_unix}, {"reason", it.reason},
                       {"deleted", it.deleted}};
      if (!it.error.empty()) j["error"] = it.error;
      items.push_back(std::move(j));
    }
    nlohmann::json out{{"version", 1},
                       {"name", d->state.name},
                       {"network", d->state.network},
                       {"dry_run", c.dry_run},
                       {"grace_seconds", o.grace.count()},
                       {"live_segments", r->live_segments},
                       {"garbage", {{"keys", r->garbage()}, {"bytes", r->garbage_bytes()}}},
                       {"deleted", {{"keys", r->deleted()}, {"bytes", r->deleted_bytes()}}},
                       {"kept_tombstones", r->kept_tombstones},
                       {"refused", r->refused},
                       {"complete", r->complete()},
                       {"backends", backends},
                       {"items", items}};
    std::cout << out.dump() << "\n";
    return code;
  }
  std::cout << fmt::format(
      "gc of {}{}: {} live segments; unreferenced and older than {}: {} key(s), {}; deleted {} "
      "key(s), {}\n",
      d->Label(), c.dry_run ? " (dry run: nothing deleted)" : "", r->live_segments,
      FormatDuration(*grace), r->garbage(), FormatSize(r->garbage_bytes()), r->deleted(),
      FormatSize(r->deleted_bytes()));
  std::cout << fmt::format("{:<18} {:<4} {:>7} {:>18} {:>18} {:>18}\n", "backend", "role", "keys",
                           "garbage", "deleted", "younger (kept)");
  for (const auto& b : r->backends) {
    if (!b.scanned) {
      std::cout << fmt::format("{:<18} {:<4} not scanned: {}\n", b.backend, b.role, b.error);
      continue;
    }
    std::cout << fmt::format("{:<18} {:<4} {:>7} {:>18} {:>18} {:>18}\n", b.backend, b.role,
                             b.keys, CountBytes(b.garbage, b.garbage_bytes),
                             CountBytes(b.deleted, b.deleted_bytes),
                             CountBytes(b.young, b.young_bytes));
  }
  size_t shown = 0;
  for (const auto& it : r->items) {
    if (shown++ == 20) {
      std::cout << "  ... (" << (r->items.size() - 20) << " more; --json lists every key)\n";
      break;
    }
    std::cout << fmt::format("  {} {} on {} ({} B): {}{}\n",
                             it.deleted ? "deleted" : (it.error.empty() ? "garbage" : "FAILED"),
                             it.key, it.backend, it.bytes, it.reason,
                             it.error.empty() ? "" : ": " + it.error);
  }
  if (r->kept_tombstones) {
    std::cout << fmt::format(
        "kept {} tombstone(s): younger than the grace period, or a replica still holds an older "
        "live copy (`qstor fs repair {}` first)\n",
        r->kept_tombstones, c.manifest);
  }
  if (!r->refused.empty()) {
    std::cout << "NOTHING DELETED: " << r->refused << " (exit " << kExitDegraded << ")\n";
  } else if (!r->complete()) {
    std::cout << "INCOMPLETE: some backend could not be scanned or some deletions failed; run "
                 "`qstor fs gc` again when every backend answers (exit "
              << kExitDegraded << ")\n";
  } else if (c.dry_run) {
    std::cout << fmt::format("DRY RUN: `qstor fs gc {}` would delete {} key(s), {}\n",
                             c.manifest, r->garbage(), FormatSize(r->garbage_bytes()));
  } else {
    std::cout << fmt::format("DONE: deleted {} key(s), {}\n", r->deleted(),
                             FormatSize(r->deleted_bytes()));
  }
  return code;
}

// --- recover -----------------------------------------------------------------

struct RecoverCli {
  std::string name;
  std::string network = "devnet";
  std::string mountpoint;
  std::string mnemonic_file;
  int passphrase_fd = -1;
  std::string cache_dir;
  std::string cache_size = "1GiB";
  std::string durability = "local";
  bool read_only = false;
  bool take_over = false;
  std::string lease = "60s";
  std::string lease_renew = "20s";
  bool foreground = false;
  bool from_connect = false;
};

int RunRecover(const Context& ctx, const RecoverCli& c) {
  const char* what = "recover";
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return FailWith(home.status(), what);
  const std::string keystore = reconciler::KeystorePath(*home);
  auto durability = fs::mount::ParseDurability(c.durability);
  if (!durability.ok()) return FailWith(durability.status(), what);
  auto cache_size = ParseSize(c.cache_size);
  if (!cache_size.ok()) return FailWith(cache_size.status().WithContext("--cache-size"), what);
  auto lease = ParseDuration(c.lease);
  if (!lease.ok()) return FailWith(lease.status().WithContext("--lease"), what);
  auto lease_renew = ParseDuration(c.lease_renew);
  if (!lease_renew.ok()) return FailWith(lease_renew.status().WithContext("--lease-renew"), what);
  if (lease_renew->count() <= 0 || *lease_renew >= *lease) {
    return FailWith(Status::InvalidArgument("--lease-renew must be shorter than --lease"), what);
  }

  // 1. The identity: the keystore, or the words (then imported into a new
  //    keystore once the grid confirmed there is something to recover).
  std::optional<grid::Identity> identity;
  std::optional<reconciler::ConnectProfile> connect_profile;
  std::string import_words, import_pass;
  auto wipe = [&]() {
    sodium_memzero(import_words.data(), import_words.size());
    sodium_memzero(import_pass.data(), import_pass.size());
  };
  auto pub = reconciler::ReadKeystorePublic(keystore);
  if (pub.ok()) {
    if (!c.mnemonic_file.empty()) {
      std::cerr << "qstor recover: note: using the keystore " << keystore
                << "; --mnemonic-file is ignored\n";
    }
    auto id = OpenKeystoreIdentity(*home, c.passphrase_fd);
    if (!id.ok()) return FailWith(id.status(), what);
    identity.emplace(std::move(id).value());
  } else if (pub.status().code() == Status::Code::kNotFound && c.from_connect) {
    // The words from the ThreeFold Connect login's derivedSeed; the login's
    // passphrase becomes the new keystore's.
    auto pass = KeystorePassphrase(keystore, c.passphrase_fd, false);
    if (!pass.ok()) return FailWith(pass.status(), what);
    import_pass = std::move(pass).value();
    auto profile = reconciler::LoadConnectProfile(*home, import_pass);
    if (!profile.ok()) {
      wipe();
      return FailWith(profile.status(), what);
    }
    if (!profile->derived_seed) {
      wipe();
      return FailWith(Status::FailedPrecondition(
                          "scope: the ThreeFold Connect login of " + profile->double_name +
                          " has no derivedSeed; run `qstor login` again and allow it"),
                      what);
    }
    auto w = grid::connect::ConnectMnemonic(*profile->derived_seed);
    if (!w.ok()) {
      wipe();
      return FailWith(w.status(), what);
    }
    import_words = std::move(w).value();
    auto id = grid::Identity::FromMnemonic(import_words);
    if (!id.ok()) {
      wipe();
      return FailWith(id.status(), what);
    }
    identity.emplace(std::move(id).value());
    profile->identity_from_connect = true;
    connect_profile = std::move(profile).value();
    if (!ctx.global.json) {
      std::cout << "identity from the ThreeFold Connect login of " << connect_profile->double_name
                << "\n";
    }
  } else if (pub.status().code() == Status::Code::kNotFound) {
    std::string words;
    if (!c.mnemonic_file.empty()) {
      auto w = reconciler::ReadMnemonicFile(c.mnemonic_file);
      if (!w.ok()) return FailWith(w.status(), what);
      words = std::move(w).value();
    } else if (const char* env = std::getenv("QSTOR_MNEMONIC"); env != nullptr && *env) {
      words = env;
    } else {
      return FailWith(Status::NotFound("no keystore at " + keystore +
                                       " and no mnemonic: set QSTOR_MNEMONIC or pass "
                                       "--mnemonic-file FILE ('-' = stdin)"),
                      what);
    }
    auto norm = grid::bip39::NormalizeMnemonic(words);
    sodium_memzero(words.data(), words.size());
    if (!norm.ok()) return FailWith(norm.status(), what);
    import_words = std::move(norm).value();
    auto id = grid::Identity::FromMnemonic(import_words);
    if (!id.ok()) {
      wipe();
      return FailWith(id.status(), what);
    }
    identity.emplace(std::move(id).value());
    // Ask now, before any network traffic, so a missing passphrase fails early.
    auto pass = KeystorePassphrase(keystore, c.passphrase_fd, true);
    if (!pass.ok()) {
      wipe();
      return FailWith(pass.status().WithContext("a passphrase for the new keystore " + keystore),
                      what);
    }
    import_pass = std::move(pass).value();
  } else {
    return FailWith(pub.status(), what);
  }

  // 2. The grid: twin, manifests, state.
  auto ep = grid::ResolveNetwork(c.network);
  if (!ep.ok()) {
    wipe();
    return FailWith(ep.status(), what);
  }
  if (ep->discovery_only) {
    wipe();
    std::cerr << "qstor recover: not built yet for " << c.network
              << ": reading the deployments on its nodes needs the RMB client (not built yet; "
                 "the TFChain client is). Nothing was done.\n";
    return kExitNotBuilt;
  }
  grid::HttpGrid g(*ep);
  auto twin = g.GetTwinByPublicKey(identity->PublicKeyHex());
  if (!twin.ok()) {
    wipe();
    if (twin.status().code() == Status::Code::kNotFound) {
      return FailWith(Status::NotFound(fmt::format(
                          "no twin on {} ({}) for this mnemonic (address {}): nothing to recover",
                          c.network, ep->base_url, identity->Address())),
                      what);
    }
    return FailWith(twin.status(), what);
  }
  g.SetIdentity(twin->twin_id, identity->TwinKey());
  auto names = reconciler::ManifestNamesOnGrid(g, twin->twin_id, c.network);
  if (!names.ok()) {
    wipe();
    return FailWith(names.status(), what);
  }
  if (!ctx.global.json) {
    std::cout << fmt::format("twin {} ({}) on {} ({})\n", twin->twin_id, identity->Address(),
                             c.network, ep->base_url);
    std::cout << fmt::format("qstor storage found: {}\n",
                             names->empty() ? "none" : fmt::format("{}", fmt::join(*names, ", ")));
  }
  std::string name = c.name;
  if (name.empty()) {
    if (names->empty()) {
      wipe();
      return FailWith(Status::NotFound(fmt::format(
                          "twin {} has no live qstor contract on {}: nothing to recover",
                          twin->twin_id, c.network)),
                      what);
    }
    if (names->size() > 1) {
      wipe();
      return FailWith(Status::InvalidArgument(fmt::format(
                          "twin {} has {} qstor storages on {} ({}); pick one with --name",
                          twin->twin_id, names->size(), c.network, fmt::join(*names, ", "))),
                      what);
    }
    name = names->front();
  } else if (std::find(names->begin(), names->end(), name) == names->end()) {
    wipe();
    return FailWith(Status::NotFound(fmt::format(
                        "twin {} has no live qstor contract named \"{}\" on {} (found: {})",
                        twin->twin_id, name, c.network,
                        names->empty() ? "none" : fmt::format("{}", fmt::join(*names, ", ")))),
                    what);
  }
  auto rebuilt = reconciler::RebuildStateFromGrid(g, twin->twin_id, name, c.network);
  if (!rebuilt.ok()) {
    wipe();
    return FailWith(rebuilt.status(), what);
  }

  // 3. The keystore (when the words were given) and the state.
  if (!import_words.empty()) {
    auto w = reconciler::WriteKeystore(keystore, import_words, import_pass, false);
    if (w.ok() && connect_profile) {
      Status ast = reconciler::AdoptConnectProfile(*home, import_pass, *connect_profile);
      if (!ast.ok()) {
        std::cerr << "qstor recover: warning: the login was not stored in the keystore: "
                  << ast.message() << "\n";
      }
    }
    wipe();
    if (!w.ok()) return FailWith(w.status().WithContext("writing the keystore"), what);
    if (!ctx.global.json) std::cout << "keystore written: " << keystore << " (mode 0600)\n";
  }
  Deployed d;
  d.home = *home;
  d.state_path = reconciler::StatePath(*home, c.network, name);
  d.state = std::move(rebuilt).value();
  {
    auto lock = reconciler::StateLock::Acquire(d.state_path, "recover", std::chrono::seconds(5));
    if (!lock.ok()) return FailWith(lock.status(), what);
    auto old = reconciler::LoadState(d.state_path);
    if (old.ok()) {
      // Same storage seen again (a contract in common): keep its lineage,
      // the serial moves on. A state of another deployment of the same name
      // (destroyed since, or made elsewhere) is replaced by a new lineage,
      // so its cache is not taken for this one's.
      bool shared = false;
      for (const auto& a : old->namespaces) {
        for (const auto& b : d.state.namespaces) {
          shared = shared || (a.contract_id != 0 && a.contract_id == b.contract_id);
        }
      }
      if (shared) d.state.lineage = old->lineage;
      d.state.serial = old->serial;
    }
    Status st = reconciler::SaveState(d.state_path, d.state);
    if (!st.ok()) return FailWith(st, what);
  }
  if (ctx.global.json) {
    nlohmann::json ns = nlohmann::json::array();
    for (const auto& n : d.state.namespaces) {
      ns.push_back({{"slot", n.Slot()},
                    {"node_id", n.node_id},
                    {"farm_id", n.farm_id},
                    {"country", n.country},
                    {"contract_id", n.contract_id},
                    {"status", n.status},
                    {"address", n.deployed() ? fmt::format("{}:{}/{}", n.host, n.port, n.ns)
                                             : ""}});
    }
    std::cout << nlohmann::json{{"version", 1},
                                {"network", c.network},
                                {"twin_id", twin->twin_id},
                                {"names", *names},
                                {"name", name},
                                {"k", d.state.data_shards},
                                {"m", d.state.parity_shards},
                                {"capacity_bytes", d.state.capacity_bytes},
                                {"state", d.state_path},
                                {"namespaces", ns},
                                {"mountpoint", c.mountpoint}}
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format("\"{}\": {}+{} shards, {} usable, {} namespaces:\n", name,
                             d.state.data_shards, d.state.parity_shards,
                             FormatSize(d.state.capacity_bytes), d.state.namespaces.size());
    for (const auto& n : d.state.namespaces) {
      std::cout << fmt::format("  {:<8} node {:<5} farm {:<4} {:<14} contract {:<6} {:<10} {}\n",
                               n.Slot(), n.node_id, n.farm_id, n.country, n.contract_id, n.status,
                               n.deployed() ? fmt::format("{}:{}/{}", n.host, n.port, n.ns) : "-");
    }
    std::cout << "state written: " << d.state_path << "\n";
  }
  std::cout.flush();

  // 4. Mount.
  Status st = ResolveLayout(d, *identity, "; the grid does not have enough of it deployed");
  identity.reset();
  if (!st.ok()) return FailWith(st, what);
  NoteDegraded(d, std::cerr);
  fs::mount::MountOptions o;
  o.mountpoint = c.mountpoint;
  o.cache_dir = c.cache_dir.empty() ? DeployedCacheDir(d) : c.cache_dir;
  st = ClaimDeployedCache(d, o.cache_dir, !c.cache_dir.empty());
  if (!st.ok()) return FailWith(st, what);
  o.cache_size = *cache_size;
  o.capacity = d.state.capacity_bytes ? d.state.capacity_bytes : o.capacity;
  o.durability = *durability;
  o.foreground = c.foreground;
  o.read_only = c.read_only;
  o.take_over = c.take_over;
  o.lease = *lease;
  o.lease_renew = *lease_renew;
  std::string label = d.Label();
  return StartMount(ctx, o, DeployedSinkFactory(std::make_shared<Deployed>(std::move(d))), label);
}

}  // namespace

namespace {
// The options every deployment command takes: the manifest, which Storage
// document of it, and where the keystore passphrase comes from.
void AddDeploymentOptions(CLI::App* cmd, std::string& manifest, std::string& name,
                          int& passphrase_fd) {
  cmd->add_option("manifest", manifest, "The manifest of the deployment")->required();
  cmd->add_option("--name", name, "Which Storage document of the file (default: the first)");
  cmd->add_option("--passphrase-fd", passphrase_fd,
                  "Read the keystore passphrase from this file descriptor (one line)");
}
}  // namespace

void RegisterFsCheckRepair(CLI::App& fsg, Context& ctx) {
  auto c = std::make_shared<CheckCli>();
  CLI::App* chk = fsg.add_subcommand(
      "check",
      "Read and verify every shard of every segment of a deployment (from its manifest and\n"
      "state, keys from the keystore) and probe every backend; through a live mount also\n"
      "check its cache (every cached block against its checksum; with --decode against the\n"
      "grid; bad copies are dropped and read again). Exit 0 healthy, 4 degraded\n"
      "(all readable, redundancy lost: run `qstor fs repair`), 5 lost, 1 error.");
  AddDeploymentOptions(chk, c->manifest, c->name, c->passphrase_fd);
  chk->add_flag("--decode", c->decode, "Also decode and authenticate every whole segment");
  chk->callback([&ctx, c]() { ctx.exit_code = RunCheck(ctx, *c); });

  auto r = std::make_shared<CheckCli>();
  CLI::App* rep = fsg.add_subcommand(
      "repair",
      "Check, rebuild missing or corrupt shards of degraded segments from k good ones onto\n"
      "healthy backends, then check again. Exit codes as `fs check`, for the state after.");
  AddDeploymentOptions(rep, r->manifest, r->name, r->passphrase_fd);
  rep->callback([&ctx, r]() { ctx.exit_code = RunRepair(ctx, *r); });

  auto g = std::make_shared<GcCli>();
  CLI::App* gc = fsg.add_subcommand(
      "gc",
      "Find shards and metadata tombstones on the backends that no live segment references\n"
      "(left by crashes, deletes while a backend was down, overwrites, repairs), report count\n"
      "and bytes per backend, and delete them unless --dry-run. Only keys older than --grace\n"
      "(by the backend's clock) are touched, so uploads in flight are safe; nothing is deleted\n"
      "unless every metadata backend answers. Do not run it while `qstor fs repair` runs.\n"
      "Exit 0 done, 4 incomplete (a backend unreachable, deletion refused or failed), 1 error.");
  AddDeploymentOptions(gc, g->manifest, g->name, g->passphrase_fd);
  gc->add_flag("--dry-run", g->dry_run, "Report what would be deleted; delete nothing");
  gc->add_option("--grace", g->grace,
                 "Keep unreferenced keys younger than this (an upload in flight looks like "
                 "garbage until it commits)")
      ->capture_default_str();
  gc->callback([&ctx, g]() { ctx.exit_code = RunGc(ctx, *g); });
}

void RegisterRecover(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<RecoverCli>();
  CLI::App* cmd = app.add_subcommand(
      "recover",
      "Find your storage again from the mnemonic alone and mount it: the identity from the\n"
      "keystore (or, when there is none, from QSTOR_MNEMONIC / --mnemonic-file, then saved to a\n"
      "new keystore), the twin and its qstor contracts on the grid, the state rebuilt from\n"
      "them and saved, then the filesystem mounted at --mount.\n"
      "Built for the devnet; on main/test/qa/dev it exits 3 (reading deployments needs the RMB client).");
  cmd->add_option("--name", c->name, "Which storage (default: the only one the twin has)");
  cmd->add_option("--network", c->network, "Grid network")
      ->check(CLI::IsMember({"devnet", "main", "test", "qa", "dev"}))
      ->capture_default_str();
  cmd->add_option("--mount", c->mountpoint, "Where to mount it (created if missing)")
      ->required();
  cmd->add_option("--mnemonic-file", c->mnemonic_file,
                  "Without a keystore: read the 24 words from this file ('-' = stdin)");
  cmd->add_option("--passphrase-fd", c->passphrase_fd,
                  "Read the keystore passphrase from this file descriptor (one line)");
  cmd->add_flag("--from-connect", c->from_connect,
                "Without a keystore: the identity from the ThreeFold Connect login (`qstor login` "
                "first), no words typed");
  cmd->add_option("--cache-dir", c->cache_dir,
                  "Cache directory (default mount-cache/NETWORK/NAME under $QSTOR_HOME or $XDG_STATE_HOME/qstor)");
  cmd->add_option("--cache-size", c->cache_size, "Cache size limit")->capture_default_str();
  cmd->add_option("--durability", c->durability, "local or grid (see docs/mount.md)")
      ->check(CLI::IsMember({"local", "grid"}))
      ->capture_default_str();
  cmd->add_flag("--read-only", c->read_only,
                "Mount read-only (allowed next to a writer; see docs/mount.md \"One writer\")");
  cmd->add_flag("--take-over", c->take_over,
                "Mount even a cache older than the grid, or while another mount holds the "
                "writer lease (see docs/mount.md \"One writer\")");
  cmd->add_option("--lease", c->lease, "Writer lease duration")->capture_default_str();
  cmd->add_option("--lease-renew", c->lease_renew, "Writer lease renewal interval")
      ->capture_default_str();
  cmd->add_flag("--foreground,-f", c->foreground, "Serve the mount in this process");
  cmd->callback([&ctx, c]() { ctx.exit_code = RunRecover(ctx, *c); });
}

bool StorageWhole(const fs::CheckReport& r) { return HealthExit(r) == kExitOk; }

}  // namespace qstor::cli

#endif  // QSTOR_CLI_GRID_MOUNT
