// qstor list / status: what a manifest has on the grid, and how healthy it is.
#include <algorithm>
#include <ctime>
#include <fstream>
#include <map>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/mount_control.h"
#include "common/file_util.h"
#include "common/units.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/session.h"
#include "reconciler/apply.h"
#include "reconciler/plan.h"
#include "reconciler/state.h"
#endif

#include "cli/mount_grid.h"
#if defined(QSTOR_CLI_GRID_MOUNT)
#include "fs/repair.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
namespace {

struct InspectCli {
  std::vector<std::string> files;
  std::string name;
};

int Fail(const std::string& cmd, const Status& st) { return ReportFailure(cmd, st); }

struct Seen {
  reconciler::Observation obs;
  std::string home;
  std::string state_path;
  // Unlocked when the passphrase is available (QSTOR_PASSPHRASE or a
  // terminal) and the twin exists: then the namespaces can be read.
  std::optional<grid::Identity> identity;
  bool deployments_checked = false;
  // Slots the grid shows ready whose address the state file lacks (an apply
  // killed before it wrote them): `qstor mount` refuses until an apply
  // records them.
  std::vector<std::string> unrecorded;
};

Result<Seen> See(const reconciler::Manifest& m) {
  auto home = QstorHome();
  if (!home.ok()) return home.status();
  auto pub = KeystorePublicOrHint(*home);
  if (!pub.ok()) return pub.status();
  Seen seen;
  seen.home = *home;
  seen.state_path = reconciler::StatePath(*home, m.network, m.name);
  std::optional<reconciler::State> state;
  auto st = reconciler::LoadState(seen.state_path);
  if (st.ok()) {
    state = *st;
  } else if (st.status().code() != Status::Code::kNotFound) {
    return st.status();
  }
  auto ep = ConnectNetwork(m.network, true);
  if (!ep.ok()) return ep.status();
  grid::HttpGrid g(*ep);
  reconciler::ObserveOptions oo;
  oo.check_deployments = false;
  std::optional<grid::Identity> identity;
  if (PassphraseAvailable()) {
    auto id = UnlockIdentity(*home);
    if (!id.ok()) return id.status();
    auto twin = g.GetTwinByPublicKey(pub->public_key_hex);
    if (twin.ok()) {
      g.SetIdentity(twin->twin_id, id->TwinKey());
      oo.check_deployments = true;
      identity.emplace(std::move(id).value());
    }
  }
  auto obs = reconciler::Observe(g, m, pub->public_key_hex, state, oo);
  if (!obs.ok()) return obs.status();
  seen.obs = std::move(obs).value();
  seen.deployments_checked = oo.check_deployments;
  for (const auto& ns : seen.obs.state.namespaces) {
    const reconciler::NamespaceState* rec = state ? state->Find(ns.role, ns.index) : nullptr;
    if (ns.deployed() && (rec == nullptr || !rec->deployed())) seen.unrecorded.push_back(ns.Slot());
  }
  if (identity) ProbeUsedBytes(seen.obs, *identity, m);
  seen.identity = std::move(identity);
  return seen;
}

// One slot's health as status reports it.
std::string SlotHealth(const Seen& s, const reconciler::NamespaceState& ns) {
  const auto& o = s.obs;
  if (ns.contract_id == 0 || !o.contracts.count(ns.contract_id)) return "contract gone";
  auto n = o.nodes.find(ns.node_id);
  if (n == o.nodes.end()) return "node unknown";
  if (n->second.status != "up") return "node " + n->second.status;
  if (o.contracts.at(ns.contract_id).state == "GracePeriod") return "grace period (unpaid)";
  auto ws = o.workload_status.find(ns.contract_id);
  if (ws != o.workload_status.end() && ws->second != "ok") return ws->second;
  return "ok";
}

uint64_t MonthlyUnits(const Seen& s, const reconciler::NamespaceState& ns) {
  return grid::CostUnits(s.obs.pricing, ns.size_bytes, 0, reconciler::kMonthSeconds);
}

int RunList(const Context& ctx, const InspectCli& c) {
  auto ms = LoadManifestsFor(c.files, c.name, "list");
  if (!ms.ok()) return Fail("list", ms.status());
  nlohmann::json all = nlohmann::json::array();
  for (const auto& m : *ms) {
    auto seen = See(m);
    if (!seen.ok()) return Fail("list", seen.status().WithContext(m.name));
    const auto& st = seen->obs.state;
    if (ctx.global.json) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& ns : st.namespaces) {
        nlohmann::json r = ns.ToJson();
        r["health"] = SlotHealth(*seen, ns);
        if (seen->obs.used_bytes.count(ns.contract_id)) r["used_bytes"] = seen->obs.used_bytes.at(ns.contract_id);
        r["monthly_cost_units"] = MonthlyUnits(*seen, ns);
        rows.push_back(r);
      }
      all.push_back({{"name", m.name}, {"network", m.network}, {"namespaces", rows}});
      continue;
    }
    std::cout << fmt::format("{} on {} ({}+{}, {} usable)\n", m.name, m.network, m.data_shards,
                             m.parity_shards, FormatSize(m.capacity_bytes));
    if (st.namespaces.empty()) {
      std::cout << "  nothing deployed: `qstor apply` creates it\n";
      continue;
    }
    const auto short_size = FormatSizeShort;
    std::cout << fmt::format("  {:<9} {:>5} {:>5} {:<24} {:>8} {:>10} {:>10} {:>14}  {}\n", "SLOT",
                             "NODE", "FARM", "LOCATION", "CONTRACT", "SIZE", "USED", "TFT/MONTH",
                             "HEALTH");
    for (const auto& ns : st.namespaces) {
      std::string loc = ns.city.empty() ? ns.country : ns.city + ", " + ns.country;
      auto u = seen->obs.used_bytes.find(ns.contract_id);
      std::string used = u == seen->obs.used_bytes.end() ? "-" : short_size(u->second);
      std::cout << fmt::format("  {:<9} {:>5} {:>5} {:<24} {:>8} {:>10} {:>10} {:>14}  {}\n",
                               ns.Slot(), ns.node_id, ns.farm_id, loc.substr(0, 24),
                               ns.contract_id, short_size(ns.size_bytes), used,
                               grid::FormatTft(MonthlyUnits(*seen, ns)), SlotHealth(*seen, ns));
    }
    if (!seen->deployments_checked) {
      std::cout << "  (namespaces not probed: set QSTOR_PASSPHRASE or run on a terminal)\n";
    }
  }
  if (ctx.global.json) std::cout << nlohmann::json{{"version", 1}, {"storages", all}}.dump() << "\n";
  return kExitOk;
}

// What status knows about redundancy per segment (fs::CheckAvailability:
// the segment records and a key listing of every data namespace, no shard
// bytes), when the identity is available and something is deployed.
struct SegmentView {
  bool checked = false;
  std::string why_not;  // when not checked
  int segments = 0, degraded = 0, lost = 0;
  int can_lose = 0;
  bool metadata_checked = false;
  int metadata_complete = 0, metadata_replicas = 0;
};

SegmentView CheckSegments(const Seen& seen, const reconciler::Manifest& m) {
  SegmentView v;
  const auto& st = seen.obs.state;
  bool any_deployed = std::any_of(st.namespaces.begin(), st.namespaces.end(),
                                  [](const reconciler::NamespaceState& n) { return n.deployed(); });
  if (!any_deployed) {
    v.why_not = "nothing deployed";
    return v;
  }
  if (!seen.identity) {
    v.why_not = "the namespaces are read with the keystore passphrase (set QSTOR_PASSPHRASE or run "
                "on a terminal)";
    return v;
  }
#if defined(QSTOR_CLI_GRID_MOUNT)
  auto d = DeployedOf(seen.home, seen.state_path, st, m, *seen.identity);
  if (!d.ok()) {
    v.why_not = d.status().message();
    return v;
  }
  auto store = OpenDeployedStore(*d);
  if (!store.ok()) {
    v.why_not = store.status().message();
    return v;
  }
  auto a = fs::CheckAvailability(**store);
  if (!a.ok()) {
    v.why_not = a.status().message();
    return v;
  }
  v.checked = true;
  v.segments = a->segments;
  v.degraded = a->degraded;
  v.lost = a->lost;
  v.can_lose = a->can_lose;
  v.metadata_checked = a->metadata_checked;
  v.metadata_replicas = static_cast<int>(a->metadata.backends.size());
  for (const auto& b : a->metadata.backends) v.metadata_complete += b.healthy() ? 1 : 0;
  return v;
#else
  (void)m;
  v.why_not = "this qstor is built without the fs engine";
  return v;
#endif
}

int RunStatus(const Context& ctx, const InspectCli& c) {
  auto ms = LoadManifestsFor(c.files, c.name, "status");
  if (!ms.ok()) return Fail("status", ms.status());
  bool attention = false;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& m : *ms) {
    auto seen = See(m);
    if (!seen.ok()) return Fail("status", seen.status().WithContext(m.name));
    const auto& st = seen->obs.state;
    int data_ok = 0, meta_ok = 0, grace = 0;
    uint64_t monthly = 0;
    std::vector<std::string> problems;
    for (const auto& ns : st.namespaces) {
      std::string h = SlotHealth(*seen, ns);
      if (h == "ok") {
        (ns.role == reconciler::Role::kData ? data_ok : meta_ok)++;
      } else {
        problems.push_back(ns.Slot() + " on node " + std::to_string(ns.node_id) + ": " + h);
      }
      if (h.rfind("grace", 0) == 0) grace++;
      if (ns.contract_id != 0 && seen->obs.contracts.count(ns.contract_id)) {
        monthly += MonthlyUnits(*seen, ns);
      }
    }
    for (const auto& slot : seen->unrecorded) {
      problems.push_back(slot + ": ready on the grid but not recorded in the state (an apply was "
                         "interrupted); `qstor apply` records it");
    }
    const int want_data = m.data_shards + m.parity_shards;
    // Redundancy from the segments themselves when they can be read: a slot
    // replaced by an empty namespace serves, but holds none of the shards
    // that belong there until they are rebuilt.
    const SegmentView seg = CheckSegments(*seen, m);
    const int margin = seg.checked ? seg.can_lose : data_ok - m.data_shards;
    const bool rebuild_pending = !st.rebuild_slots.empty();
    const bool meta_incomplete =
        seg.checked && seg.metadata_checked && seg.metadata_complete < seg.metadata_replicas;
    const bool segments_short = seg.checked && (seg.degraded > 0 || seg.lost > 0);
    std::string health;
    if (st.namespaces.empty()) {
      health = "not deployed";
    } else if (data_ok < m.data_shards || meta_ok == 0 || (seg.checked && seg.lost > 0)) {
      health = "unavailable";
    } else if (data_ok < want_data || meta_ok < m.metadata_backends || segments_short ||
               meta_incomplete || rebuild_pending) {
      health = "degraded";
    } else {
      health = "healthy";
    }
    // What to run when redundancy is short on the segments or replicas.
    std::string next_step;
    if (segments_short || meta_incomplete || rebuild_pending) {
      next_step = fmt::format("qstor fs repair {}", m.file);
    }
    uint64_t hourly = (monthly + 719) / 720;
    std::optional<double> runway_days;
    if (seen->obs.balance_units && hourly > 0) {
      runway_days = static_cast<double>(*seen->obs.balance_units) / static_cast<double>(hourly) / 24.0;
    }
    bool mounted = m.mount.enabled && IsMountPoint(m.mount.path);
    nlohmann::json mount_stats;
    bool upload_failing = false;
    if (mounted) {
      if (auto text = ReadMountStats(m.mount.path); text.ok()) {
        mount_stats = nlohmann::json::parse(*text, nullptr, false);
        if (!mount_stats.is_object()) mount_stats = nullptr;
      }
    }
    // Bytes only in the local cache (not on any node yet).
    const bool pending_known = mount_stats.is_object() && mount_stats.contains("pending_upload");
    const uint64_t pending = pending_known ? StatsBytes(mount_stats["pending_upload"], "bytes") : 0;
    // Uploads that keep failing leave them there: say why (a full
    // namespace, an unreachable or refusing node).
    if (std::string line = UploadFailingLine(mount_stats); !line.empty()) {
      problems.push_back(fmt::format("{} ({} only in the local cache)", line, FormatSize(pending)));
      upload_failing = true;
    }
    bool low_runway = runway_days && *runway_days < 7.0;
    attention = attention || health != "healthy" || grace > 0 || low_runway ||
                !seen->unrecorded.empty() || upload_failing ||
                (m.mount.enabled && !mounted);
    if (ctx.global.json) {
      nlohmann::json j = {{"name", m.name},
                          {"network", m.network},
                          {"health", health},
                          {"data_namespaces_ok", data_ok},
                          {"data_namespaces_wanted", want_data},
                          {"can_lose_nodes", std::max(0, margin)},
                          {"availability_checked", seg.checked},
                          {"rebuild_pending", st.rebuild_slots},
                          {"meta_namespaces_ok", meta_ok},
                          {"meta_namespaces_wanted", m.metadata_backends},
                          {"problems", problems},
                          {"contracts_in_grace", grace},
                          {"monthly_cost_units", monthly},
                          {"hourly_cost_units", hourly},
                          {"deployments_checked", seen->deployments_checked},
                          {"mounted", mounted},
                          {"last_apply_unix", st.updated_at}};
      if (seg.checked) {
        j["segments_total"] = seg.segments;
        j["segments_degraded"] = seg.degraded;
        j["segments_lost"] = seg.lost;
        if (seg.metadata_checked) j["meta_replicas_complete"] = seg.metadata_complete;
      } else {
        j["availability_not_checked"] = seg.why_not;
      }
      if (!next_step.empty()) j["next_step"] = next_step;
      if (pending_known) j["pending_upload_bytes"] = pending;
      if (seen->obs.balance_units) j["balance_units"] = *seen->obs.balance_units;
      if (runway_days) j["runway_days"] = *runway_days;
      if (!mount_stats.is_null()) j["mount"] = mount_stats;
      all.push_back(j);
      continue;
    }
    std::cout << fmt::format("{} on {}: {}\n", m.name, m.network, health);
    std::cout << fmt::format(
        "  data       {}/{} namespaces serving ({}+{}): {}{}\n", data_ok, want_data,
        m.data_shards, m.parity_shards,
        margin >= 0 ? fmt::format("can lose {} more node(s)", margin)
                    : "some data cannot be read until nodes come back",
        seg.checked ? fmt::format(" (from the shards of {} segment(s))", seg.segments)
                    : " (counted from the serving namespaces, not checked per segment: " +
                          seg.why_not + ")");
    std::cout << fmt::format("  metadata   {}/{} replicas serving{}\n", meta_ok,
                             m.metadata_backends,
                             seg.checked && seg.metadata_checked
                                 ? fmt::format(", {} complete", seg.metadata_complete)
                                 : "");
    if (segments_short || meta_incomplete) {
      std::cout << fmt::format(
          "  redundancy {} of {} segment(s) degraded, {} lost{}: run `{}` (or `qstor apply {}`)\n",
          seg.degraded, seg.segments, seg.lost,
          meta_incomplete ? ", metadata replicas incomplete" : "", next_step, m.file);
    }
    if (rebuild_pending) {
      std::cout << fmt::format(
          "  rebuild    pending for {} (an apply replaced them and did not finish rebuilding): "
          "`qstor apply {}` finishes it\n",
          fmt::format("{}", fmt::join(st.rebuild_slots, ", ")), m.file);
    }
    for (const auto& p : problems) std::cout << "  problem    " << p << "\n";
    std::cout << fmt::format("  cost       {}/month ({}/hour)\n", grid::FormatTft(monthly),
                             grid::FormatTft(hourly));
    if (st.updated_at > 0) {
      std::time_t t = static_cast<std::time_t>(st.updated_at);
      char buf[64];
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
      std::cout << fmt::format("  last apply {} (state serial {})\n", buf, st.serial);
    }
    if (seen->obs.balance_units) {
      std::cout << fmt::format("  balance    {}", grid::FormatTft(*seen->obs.balance_units));
      if (runway_days) std::cout << fmt::format(", runway {:.1f} days", *runway_days);
      if (low_runway) std::cout << "  <- top up soon: `qstor wallet topup --amount N`";
      std::cout << "\n";
    }
    if (m.mount.enabled) {
      std::cout << "  mount      " << m.mount.path << (mounted ? ": mounted" : ": not mounted");
      if (pending_known) {
        std::cout << (pending == 0
                          ? std::string(", nothing pending upload")
                          : fmt::format(", {} pending upload (in the local cache only: not on any "
                                        "node yet, not counted above)",
                                        FormatSize(pending)));
      }
      std::cout << "\n";
    }
    if (!seen->deployments_checked) {
      std::cout << "  (namespaces not probed: set QSTOR_PASSPHRASE or run on a terminal)\n";
    }
  }
  if (ctx.global.json) std::cout << nlohmann::json{{"version", 1}, {"storages", all}}.dump() << "\n";
  return attention ? kExitChanges : kExitOk;
}

}  // namespace

void RegisterInspect(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<InspectCli>();
  CLI::App* list = app.add_subcommand(
      "list", "List the namespaces a manifest uses: role, node, location, contract, size, cost");
  list->add_option("files", c->files, "Manifest file(s)")->required();
  list->add_option("--name", c->name, "Only the Storage document with this name");
  list->callback([&ctx, c] { ctx.exit_code = RunList(ctx, *c); });
  CLI::App* status = app.add_subcommand(
      "status",
      "Health, balance, burn rate and runway of a manifest; exit 0 healthy, 2 needs attention");
  status->add_option("files", c->files, "Manifest file(s)")->required();
  status->add_option("--name", c->name, "Only the Storage document with this name");
  status->callback([&ctx, c] { ctx.exit_code = RunStatus(ctx, *c); });
}

#else

void RegisterInspect(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "list", "List the nodes a manifest uses, with role, location, size and cost",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "status", "Health, balance, burn rate and runway of a manifest",
              "issue 5, reconciler");
}

#endif

}  // namespace qstor::cli
