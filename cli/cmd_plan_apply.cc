// qstor diff (alias plan) / apply / destroy / force-unlock: the reconciler's
// commands (docs/reconciler.md, docs/cli.md).
#include <dirent.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "common/dirs.h"
#include "common/units.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include "cli/mount_cache.h"
#include "cli/mount_control.h"
#include "cli/progress.h"
#include "cli/session.h"
#include "common/file_util.h"
#include "reconciler/apply.h"
#include "reconciler/connect.h"
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

using reconciler::Manifest;
using reconciler::Plan;
using reconciler::State;

std::atomic<bool> g_interrupted{false};

// First SIGINT/SIGTERM: finish the step in flight, save the state, exit 130.
// Second: exit now (the state on disk is consistent after every step).
void OnSigint(int) {
  if (g_interrupted.exchange(true)) {
    static const char kMsg[] =
        "\nqstor apply: interrupted again: exiting now; the state is safe and the lock released\n";
    UnlinkHeldLock();
    ssize_t w = ::write(2, kMsg, sizeof kMsg - 1);
    (void)w;
    ::_exit(130);
  }
}

struct PlanCli {
  std::vector<std::string> files;
  std::string name;
  bool detailed_exitcode = false;
  std::string out;
  std::optional<uint64_t> seed;
  bool auto_approve = false;
  std::string lock_timeout = "0s";
  bool no_mount = false;
  std::string id;  // force-unlock
  bool prune = false;    // apply/diff --prune
  std::string selector;  // apply/diff --selector key=value[,key=value]
};

int Fail(const std::string& cmd, const Status& st) { return ReportFailure(cmd, st); }

// Everything a command needs about one manifest on its network.
struct Session {
  Manifest manifest;
  std::string home;
  std::string state_path;
  std::optional<State> state;
  std::unique_ptr<grid::HttpGrid> grid;
  reconciler::KeystorePublic pub;
  std::optional<grid::Identity> identity;
  std::string passphrase;  // kept only to hand to the mount child; wiped
  ~Session() { sodium_memzero(passphrase.data(), passphrase.size()); }
};

Status OpenSession(Session& s, bool autostart, bool need_identity) {
  auto home = QstorHome();
  if (!home.ok()) return home.status();
  s.home = *home;
  s.state_path = reconciler::StatePath(s.home, s.manifest.network, s.manifest.name);
  auto pub = KeystorePublicOrHint(s.home);
  if (!pub.ok()) return pub.status();
  s.pub = *pub;
  auto st = reconciler::LoadState(s.state_path);
  if (st.ok()) {
    s.state = *st;
  } else if (st.status().code() != Status::Code::kNotFound) {
    return st.status();
  }
  auto ep = ConnectNetwork(s.manifest.network, autostart);
  if (!ep.ok()) return ep.status();
  if (ep->discovery_only) {
    return Status::NotImplemented(fmt::format(
        "network \"{}\": qstor talks to its TFChain, but deployments on its nodes need the RMB "
        "client, not built yet, and a contract without its deployment would be paid for "
        "nothing; use network: devnet",
        s.manifest.network));
  }
  s.grid = std::make_unique<grid::HttpGrid>(*ep);
  if (need_identity) {
    auto id = UnlockIdentity(s.home, &s.passphrase);
    if (!id.ok()) return id.status();
    s.identity.emplace(std::move(id).value());
    auto twin = s.grid->GetTwinByPublicKey(s.pub.public_key_hex);
    if (twin.ok()) s.grid->SetIdentity(twin->twin_id, s.identity->TwinKey());
  }
  return Status::OK();
}

// Without --seed: derived from the state on disk (lineage and serial; none
// before the first apply, the same for diff and apply) and the manifest, so
// an apply chooses the nodes the diff before it showed.
uint64_t SeedFor(const Session& s, std::optional<uint64_t> seed) {
  if (seed) return *seed;
  return reconciler::DefaultSeed(s.state ? s.state->lineage : "", s.state ? s.state->serial : 0,
                                 s.manifest);
}

void PrintPlan(const Context& ctx, const Plan& plan) {
  if (ctx.global.json) {
    std::cout << reconciler::RenderPlanEvents(plan) << std::flush;
  } else {
    std::cout << reconciler::RenderPlan(plan, !ctx.global.no_color && StdoutIsTerminal())
              << std::flush;
  }
}

// Observe for diff and apply: with the identity, each namespace's use too
// when the manifest may shrink one (a shrink below the data is refused).
Result<reconciler::Observation> ObserveFor(Session& s, const reconciler::ObserveOptions& oo) {
  auto obs = reconciler::Observe(*s.grid, s.manifest, s.pub.public_key_hex, s.state, oo);
  if (!obs.ok()) return obs.status();
  if (s.identity && reconciler::MayShrink(s.manifest, obs->state)) {
    ProbeUsedBytes(*obs, *s.identity, s.manifest);
  }
  return obs;
}

Result<Plan> MakePlanFor(Session& s, std::optional<uint64_t> seed) {
  reconciler::ObserveOptions oo;
  oo.check_deployments = s.identity.has_value();
  auto obs = ObserveFor(s, oo);
  if (!obs.ok()) return obs.status();
  reconciler::PlanOptions po;
  po.seed = SeedFor(s, seed);
  Plan p = reconciler::MakePlan(s.manifest, *obs, po);
  spdlog::info("diff {}: observed {} nodes, {} contracts in {} HTTP requests", s.manifest.name,
               obs->nodes.size(), obs->contracts.size(), s.grid->requests());
  if (!oo.check_deployments) {
    p.diagnostics.push_back({reconciler::PlanDiagnostic::Severity::kWarning,
                             "deployments were not checked",
                             "without the keystore passphrase (QSTOR_PASSPHRASE) the plan judges "
                             "contracts and node status only, not each namespace"});
  }
  return p;
}

// How the mount at spec.mount.path differs from what the manifest asks.
struct MountDrift {
  enum class Kind {
    kNone,        // mounted as asked, or the manifest has no mount
    kNotMounted,  // apply mounts it
    kDead,        // its process is gone: apply mounts it again
    kResize,      // capacity or cache size: apply changes them live
    kRemount,     // durability or cache directory: apply remounts
    kForeign,     // another storage's mount, or not a qstor mount: left alone
  } kind = Kind::kNone;
  std::vector<std::string> changes;  // "capacity 1 GiB -> 2 GiB", ...
  std::optional<uint64_t> capacity, cache_limit;  // kResize: the new values
  bool apply_fixes() const { return kind != Kind::kNone && kind != Kind::kForeign; }
};

const char* DriftName(MountDrift::Kind k) {
  switch (k) {
    case MountDrift::Kind::kNone: return "none";
    case MountDrift::Kind::kNotMounted: return "not mounted";
    case MountDrift::Kind::kDead: return "dead";
    case MountDrift::Kind::kResize: return "resize";
    case MountDrift::Kind::kRemount: return "remount";
    case MountDrift::Kind::kForeign: return "foreign";
  }
  return "none";
}

MountDrift CompareMount(const Manifest& m, const std::string& home) {
  MountDrift d;
  if (!m.mount.enabled) return d;
  const std::string& path = m.mount.path;
  using K = MountDrift::Kind;
  if (!IsMountPoint(path)) {
    d.kind = K::kNotMounted;
    d.changes.push_back("not mounted");
    return d;
  }
  if (IsDeadFuseMount(path)) {
    d.kind = K::kDead;
    d.changes.push_back("mounted, but its qstor process is gone");
    return d;
  }
  auto text = ReadMountStats(path);
  nlohmann::json j =
      text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json(nullptr);
  if (!j.is_object()) {
    d.kind = K::kForeign;
    d.changes.push_back("something that is not a qstor mount is mounted there" +
                        (text.ok() ? std::string() : " (" + text.status().message() + ")"));
    return d;
  }
  const std::string cache_dir = StatsString(j, "cache_dir");
  auto owner = ReadCacheOwner(cache_dir);
  if (!owner.ok() || !*owner || (*owner)->name != m.name || (*owner)->network != m.network) {
    d.kind = K::kForeign;
    d.changes.push_back(
        owner.ok() && *owner
            ? fmt::format("the storage \"{}\" on {} is mounted there", (*owner)->name,
                          (*owner)->network)
            : "a qstor mount that is not this storage's (its cache " + cache_dir +
                  " names no deployment) is mounted there");
    return d;
  }
  const std::string want_dur =
      m.mount.durability == Manifest::Mount::Durability::kGrid ? "grid" : "local";
  const std::string want_dir =
      m.mount.cache_dir.empty() ? DefaultCacheDirFor(home, m.network, m.name) : m.mount.cache_dir;
  const std::string have_dur = StatsString(j, "durability");
  if (have_dur != want_dur) {
    d.kind = K::kRemount;
    d.changes.push_back(fmt::format("durability {} -> {}", have_dur, want_dur));
  }
  if (!cache_dir.empty() && cache_dir != want_dir) {
    d.kind = K::kRemount;
    d.changes.push_back(fmt::format("cache directory {} -> {}", cache_dir, want_dir));
  }
  const uint64_t have_cap = StatsBytes(j, "capacity_bytes");
  const uint64_t have_cache = j.contains("cache") ? StatsBytes(j["cache"], "limit_bytes") : 0;
  if (have_cap != m.capacity_bytes) {
    d.capacity = m.capacity_bytes;
    d.changes.push_back(
        fmt::format("size {} -> {}", FormatSize(have_cap), FormatSize(m.capacity_bytes)));
  }
  if (have_cache != m.mount.cache_bytes) {
    d.cache_limit = m.mount.cache_bytes;
    d.changes.push_back(fmt::format("cache size {} -> {}", FormatSize(have_cache),
                                    FormatSize(m.mount.cache_bytes)));
  }
  if (d.kind == K::kNone && (d.capacity || d.cache_limit)) d.kind = K::kResize;
  return d;
}

// What the user reads about the mount in a diff ("Mount /mnt/x: ...").
std::string DriftLine(const Manifest& m, const MountDrift& d) {
  using K = MountDrift::Kind;
  std::string what = fmt::format("{}", fmt::join(d.changes, ", "));
  switch (d.kind) {
    case K::kNone: return "";
    case K::kNotMounted: return "Mount " + m.mount.path + ": not mounted; apply mounts it.";
    case K::kDead: return "Mount " + m.mount.path + ": " + what + "; apply mounts it again.";
    case K::kResize: return "Mount " + m.mount.path + ": " + what + "; apply changes it live.";
    case K::kRemount:
      return "Mount " + m.mount.path + ": " + what +
             "; apply remounts it (after a sync; open files must be closed).";
    case K::kForeign:
      return "Mount " + m.mount.path + ": " + what + "; apply leaves it alone and does not mount.";
  }
  return "";
}

// --- prune (apply --prune, diff --prune) --------------------------------------

using reconciler::Labels;
using reconciler::LabelsMatch;
using reconciler::ParseSelector;

// With --selector, only the documents whose metadata.labels match it are
// diffed or applied (as `kubectl apply -l`); the others are named on stderr.
Result<std::vector<Manifest>> SelectDocuments(std::vector<Manifest> docs, const Labels& selector,
                                              const std::string& text, const std::string& cmd) {
  if (selector.empty()) return docs;
  std::vector<Manifest> out;
  for (auto& m : docs) {
    if (LabelsMatch(m.labels, selector)) {
      out.push_back(std::move(m));
      continue;
    }
    std::cerr << fmt::format("qstor {}: skipping \"{}\" ({}): its labels {} do not match "
                             "--selector {}\n",
                             cmd, m.name, m.file, reconciler::LabelsText(m.labels), text);
  }
  if (out.empty()) {
    return Status::NotFound("no Storage document matches --selector " + text +
                            "; nothing was done");
  }
  return out;
}

// The live qstor mount of storage `name` on `network` on this machine, if
// any: found among the mounts (type fuse.qstor) through each mount's
// cache owner record, so it needs no manifest.
std::optional<std::pair<std::string, std::string>> FindLocalMount(const std::string& network,
                                                                  const std::string& name) {
  for (const auto& m : ListMounts()) {
    if (m.fstype != "fuse.qstor") continue;
    const std::string& target = m.mount_point;
    auto text = ReadMountStats(target);
    if (!text.ok()) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object()) continue;
    const std::string cache = StatsString(j, "cache_dir");
    auto owner = ReadCacheOwner(cache);
    if (owner.ok() && *owner && (*owner)->name == name && (*owner)->network == network) {
      return std::make_pair(target, cache);
    }
  }
  return std::nullopt;
}

// A storage that --prune destroys: this identity's, on a network of the given
// documents, named by none of them, every contract's labels matching the
// selector. `manifest` is made from what its contracts record (name,
// network, layout, labels), the payment method of the first document on its
// network, and its live mount on this machine, if any.
struct PruneTarget {
  Manifest manifest;
  std::vector<grid::Contract> contracts;
  std::vector<reconciler::DeploymentData> data;  // of each contract
  grid::Pricing pricing;
  std::string why;  // "prune: no given document names \"old\" (labels {...})"
};

Result<std::vector<PruneTarget>> FindPruneTargets(const std::vector<Manifest>& docs,
                                                  const Labels& selector) {
  auto home = QstorHome();
  if (!home.ok()) return home.status();
  auto pub = KeystorePublicOrHint(*home);
  if (!pub.ok()) return pub.status();
  std::map<std::string, std::vector<const Manifest*>> by_network;
  for (const auto& m : docs) by_network[m.network].push_back(&m);
  std::vector<PruneTarget> out;
  for (const auto& [network, ms] : by_network) {
    auto ep = ConnectNetwork(network, true);
    if (!ep.ok()) return ep.status();
    if (ep->discovery_only) {
      return Status::NotImplemented(fmt::format(
          "--prune on network \"{}\": deployments on its nodes need the RMB client, not built yet",
          network));
    }
    grid::HttpGrid g(*ep);
    auto twin = g.GetTwinByPublicKey(pub->public_key_hex);
    if (!twin.ok()) {
      if (twin.status().code() == Status::Code::kNotFound) continue;  // nothing of ours
      return twin.status().WithContext("--prune: looking up the twin on " + network);
    }
    auto all = reconciler::TwinLiveContracts(g, twin->twin_id);
    if (!all.ok()) return all.status().WithContext("--prune: listing the twin's contracts");
    auto pricing = g.GetPricing();
    if (!pricing.ok()) return pricing.status().WithContext("reading the network's pricing");
    std::map<std::string, PruneTarget> found;
    for (const auto& ct : *all) {
      auto d = reconciler::DeploymentData::Decode(ct.deployment_data);
      if (!d.ok()) {
        if (d.status().code() != Status::Code::kNotFound) {
          std::cerr << fmt::format("Note: contract {} on node {} says it is qstor's but its "
                                   "deployment_data does not parse ({}); --prune leaves it alone\n",
                                   ct.contract_id, ct.node_id, d.status().message());
        }
        continue;
      }
      if (d->network != network) continue;
      auto& t = found[d->name];
      t.contracts.push_back(ct);
      t.data.push_back(*d);
    }
    std::set<std::string> named;
    for (const auto* m : ms) named.insert(m->name);
    for (auto& [name, t] : found) {
      if (named.count(name)) continue;
      // Every contract must match: a label change that an interrupted apply
      // recorded on some contracts only does not make the storage prunable.
      bool match = std::all_of(t.data.begin(), t.data.end(), [&](const auto& d) {
        return LabelsMatch(d.labels, selector);
      });
      if (!match) continue;
      Manifest& pm = t.manifest;
      const auto& d0 = t.data.front();
      pm.name = name;
      pm.network = network;
      pm.labels = d0.labels;
      pm.data_shards = d0.k;
      pm.parity_shards = d0.m;
      pm.capacity_bytes = d0.capacity_bytes;
      pm.payment = ms.front()->payment;
      pm.file = "(no document: --prune)";
      pm.mount.enabled = false;
      if (auto lm = FindLocalMount(network, name)) {
        pm.mount.enabled = true;
        pm.mount.path = lm->first;
        pm.mount.cache_dir = lm->second;
      }
      t.pricing = *pricing;
      t.why = fmt::format("prune: no given document names \"{}\" on {}{}", name, network,
                          d0.labels.empty() ? "" : " (labels " + reconciler::LabelsText(d0.labels) + ")");
      out.push_back(std::move(t));
    }
  }
  return out;
}

// One contract a destroy (or a prune) cancels, as a plan action with the
// monthly cost that stops.
reconciler::Action DeleteAction(reconciler::Role role, uint32_t index, uint64_t contract,
                                uint32_t node, uint64_t size, const std::string& reason,
                                const grid::Pricing& pricing) {
  reconciler::Action a;
  a.kind = reconciler::ActionKind::kDelete;
  a.role = role;
  a.index = index;
  a.old_contract_id = contract;
  a.old_node_id = node;
  a.old_size_bytes = size;
  a.reason = reason;
  a.monthly_cost_delta =
      -static_cast<int64_t>(grid::CostUnits(pricing, size, 0, reconciler::kMonthSeconds));
  return a;
}

// diff --prune: what apply --prune would destroy, as `- destroy` lines (or
// planned_change delete events under --json).
void PrintPruneTarget(const Context& ctx, const PruneTarget& t) {
  const Manifest& m = t.manifest;
  int64_t monthly = 0;
  std::vector<reconciler::Action> actions;
  for (size_t i = 0; i < t.contracts.size(); i++) {
    const auto& d = t.data[i];
    uint64_t size = d.role == reconciler::Role::kData
                        ? reconciler::DataNamespaceSize(d.capacity_bytes, d.k)
                        : reconciler::MetaNamespaceSize(d.capacity_bytes);
    actions.push_back(DeleteAction(d.role, d.index, t.contracts[i].contract_id,
                                   t.contracts[i].node_id, size, t.why, t.pricing));
    monthly += actions.back().monthly_cost_delta;
  }
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "version"}, {"qstor_plan_events", 1},
                                {"name", m.name},    {"network", m.network}}
                     .dump()
              << "\n";
    for (const auto& a : actions) {
      std::cout << nlohmann::json{{"type", "planned_change"}, {"change", a.ToJson()}}.dump()
                << "\n";
    }
    std::cout << nlohmann::json{{"type", "change_summary"},
                                {"changes",
                                 {{"add", 0},
                                  {"change", 0},
                                  {"replace", 0},
                                  {"remove", actions.size()},
                                  {"register_twin", false}}}}
                     .dump()
              << "\n"
              << std::flush;
    return;
  }
  const bool color = !ctx.global.no_color && StdoutIsTerminal();
  std::cout << "\n"
            << (color ? "\033[31m  - destroy\033[0m" : "  - destroy")
            << fmt::format(" \"{}\" on {}: {}; apply --prune cancels its {} contract(s) and "
                           "deletes the data:\n",
                           m.name, m.network, t.why.substr(std::string("prune: ").size()),
                           actions.size());
  for (const auto& a : actions) {
    std::cout << fmt::format("      {} contract {} on node {} ({})\n", a.Slot(), a.old_contract_id,
                             a.old_node_id, FormatSize(a.old_size_bytes));
  }
  if (m.mount.enabled) std::cout << "      mounted at " << m.mount.path << ": unmounted first\n";
  std::cout << "      cost:   -" << grid::FormatTft(static_cast<uint64_t>(-monthly)) << "/month\n";
}

int DestroyOne(const Context& ctx, const PlanCli& c, const Manifest& m, const std::string& who,
               const std::string& why, std::chrono::milliseconds lock_timeout);

// --prune and --selector as apply and diff check them: bad combinations are
// usage errors (exit 64).
Result<Labels> PruneFlags(const PlanCli& c) {
  auto sel = ParseSelector(c.selector);
  if (!sel.ok()) return sel.status();
  if (c.prune && !c.name.empty()) {
    return Status::InvalidArgument(
        "--prune with --name: pruning needs every document of the repository (it destroys the "
        "storages none of them names); drop --name");
  }
  if (c.prune && !c.out.empty()) {
    return Status::InvalidArgument("--prune with -out: a saved plan holds one storage; run "
                                   "`qstor apply --prune` on the documents");
  }
  return sel;
}

int RunDiff(const Context& ctx, const PlanCli& c) {
  auto sel = PruneFlags(c);
  if (!sel.ok()) return ReportUsage("diff", sel.status().message());
  auto loaded = LoadManifestsFor(c.files, c.name, "diff");
  if (!loaded.ok()) return Fail("diff", loaded.status());
  auto ms = SelectDocuments(std::move(*loaded), *sel, c.selector, "diff");
  if (!ms.ok()) return Fail("diff", ms.status());
  if (!c.out.empty() && ms->size() != 1) {
    return Fail("diff", Status::InvalidArgument(
                            "-out writes one plan: pick one document with --name"));
  }
  bool changes = false, errors = false;
  if (!c.out.empty() && !PassphraseAvailable()) {
    return Fail("diff", Status::FailedPrecondition(
                            "-o needs the keystore passphrase (QSTOR_PASSPHRASE or a terminal): a "
                            "saved plan records every namespace's state so apply can refuse it "
                            "when the grid moved"));
  }
  for (auto& m : *ms) {
    Session s;
    s.manifest = m;
    Status st = OpenSession(s, true, PassphraseAvailable());
    if (!st.ok()) return Fail("diff", st.WithContext(m.name));
    auto plan = MakePlanFor(s, c.seed);
    if (!plan.ok()) return Fail("diff", plan.status().WithContext(m.name));
    PrintPlan(ctx, *plan);
    // A rebuild left by an earlier apply is a change: apply runs it.
    changes = changes || !plan->empty() || plan->rebuild_pending();
    errors = errors || plan->has_errors();
    if (!c.no_mount) {
      // The mount is part of what apply reconciles: a grow that did not
      // reach df, a mount that is not there, other options.
      const MountDrift drift = CompareMount(m, s.home);
      if (drift.kind != MountDrift::Kind::kNone) {
        if (ctx.global.json) {
          std::cout << nlohmann::json{{"type", "mount_drift"},
                                      {"path", m.mount.path},
                                      {"drift", DriftName(drift.kind)},
                                      {"changes", drift.changes},
                                      {"apply_fixes", drift.apply_fixes()}}
                           .dump()
                    << "\n";
        } else {
          std::cout << "\n" << DriftLine(m, drift) << "\n";
        }
        changes = changes || drift.apply_fixes();
      }
    }
    if (!c.out.empty() && !plan->has_errors()) {
      Status w = WriteFileAtomic(c.out, plan->ToJson().dump(2) + "\n", 0600);
      if (!w.ok()) return Fail("diff", w);
      if (!ctx.global.json) {
        std::cout << "\nSaved the plan to " << c.out << ". Apply exactly it with `qstor apply "
                  << c.out << "`.\n";
      }
    }
  }
  if (c.prune) {
    auto targets = FindPruneTargets(*ms, *sel);
    if (!targets.ok()) return Fail("diff", targets.status());
    for (const auto& t : *targets) PrintPruneTarget(ctx, t);
    if (!targets->empty()) changes = true;
    if (!ctx.global.json) {
      std::cout << fmt::format("\nPrune: {} storage(s) of this identity named by no given "
                               "document{}.\n",
                               targets->size(),
                               c.selector.empty() ? "" : " and labelled " + c.selector);
    }
  }
  if (errors) return kExitError;
  if (c.detailed_exitcode && changes) return kExitChanges;
  return kExitOk;
}

// Where an apply's or a destroy's steps go: apply_progress events with
// --json, else the progress view (plain lines, or the bar on a terminal).
std::function<void(const reconciler::ApplyProgress&)> ProgressSink(const Context& ctx,
                                                                   ProgressView* view) {
  if (ctx.global.json) {
    return [](const reconciler::ApplyProgress& p) {
      nlohmann::json e{{"type", "apply_progress"}, {"step", p.step},  {"done", p.done},
                       {"total", p.total},         {"message", p.message}};
      if (!p.slot.empty()) e["slot"] = p.slot;
      if (p.node_id != 0) e["node_id"] = p.node_id;
      if (p.contract_id != 0) e["contract_id"] = p.contract_id;
      std::cout << e.dump() << "\n" << std::flush;
    };
  }
  return [view](const reconciler::ApplyProgress& p) { view->Step(p); };
}

// Mounts, remounts or resizes to match spec.mount after an apply
// (CompareMount); a mount that is not this storage's is left alone.
// `before_mount` runs once the old mount (if any) is gone and before the new
// one starts: the rebuild after a replaced slot (RebuildStep), so that the
// old mount's pending uploads are on the grid before it checks. Its exit code
// is returned when the mount itself succeeds.
int MountStep(const Context& ctx, Session& s, bool layout_changed,
              const std::function<int()>& before_mount) {
  const auto& mnt = s.manifest.mount;
  if (!mnt.enabled) return before_mount();
  const MountDrift drift = CompareMount(s.manifest, s.home);
  using K = MountDrift::Kind;
  if (drift.kind == K::kForeign) {
    (void)before_mount();
    std::cerr << "qstor apply: the grid is reconciled; the mount is not: "
              << DriftLine(s.manifest, drift) << "\n";
    return kExitError;
  }
  bool mounted = drift.kind != K::kNotMounted && drift.kind != K::kDead;
  if (drift.kind == K::kDead) {
    // A FUSE mount whose process died (crash, kill -9, reboot of the
    // daemon): still in the mount table, but every access fails. `qstor
    // mount` detaches it and mounts again; the cache directory resumes the
    // pending uploads.
    std::cerr << "The mount at " << mnt.path
              << " does not answer (its qstor process is gone); mounting it again.\n";
  }
  if (mounted && !layout_changed && drift.kind != K::kRemount) {
    // Capacity and cache size change live: df shows the new size at once.
    if (drift.kind == K::kResize) {
      Status rs = ResizeMount(mnt.path, drift.capacity, drift.cache_limit);
      if (!rs.ok()) {
        std::cerr << "qstor apply: the grid is reconciled, the mount is not: " << rs.message()
                  << "\n";
        return kExitError;
      }
    }
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"type", "mount"},
                                  {"path", mnt.path},
                                  {"changed", drift.kind == K::kResize},
                                  {"changes", drift.changes}}
                       .dump()
                << "\n";
    } else if (drift.kind == K::kResize) {
      std::cout << "Mount: " << mnt.path << " resized live ("
                << fmt::format("{}", fmt::join(drift.changes, ", ")) << ").\n";
    } else {
      std::cout << "Mount: " << mnt.path << " is mounted and up to date.\n";
    }
    return kExitOk;
  }
  if (mounted) {
    std::cerr << "Remounting " << mnt.path
              << (layout_changed ? " on the new backends"
                                 : " (" + fmt::format("{}", fmt::join(drift.changes, ", ")) + ")")
              << ".\n";
    int rc = RunSelf({"umount", mnt.path});
    if (rc != 0) {
      std::cerr << "qstor apply: `qstor umount " << mnt.path << "` failed (exit " << rc
                << "); the grid is reconciled, the mount is not\n";
      return kExitError;
    }
  }
  const int rebuilt = before_mount();
  std::string file = s.manifest.file;
  int rc = RunSelf({"mount", file, "--name", s.manifest.name, "--passphrase-fd", "3"},
                   s.passphrase);
  if (rc != 0) {
    std::cerr << "qstor apply: `qstor mount " << file << "` exited " << rc
              << "; the grid is reconciled, the mount is not (its message is above)\n";
    return rc == kExitNotBuilt ? kExitNotBuilt : kExitError;
  }
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "mount"}, {"path", mnt.path}, {"changed", true}}.dump()
              << "\n";
  } else {
    std::cout << "Mount: " << mnt.path << " is mounted.\n";
  }
  return rebuilt;
}

// After an apply that replaced (or added) slots of a deployed storage: their
// new namespaces are empty until the shards and metadata replicas that
// belong there are rebuilt. Runs the `fs repair` engine (probe, check,
// repair, check again) over the state just applied, with progress; clears
// State::rebuild_slots and saves the state only when the check after says
// every segment and metadata replica is whole. Nothing to do: kExitOk.
int RebuildStep(const Context& ctx, Session& s, State& state) {
  if (state.rebuild_slots.empty()) return kExitOk;
  const bool json = ctx.global.json;
#if defined(QSTOR_CLI_GRID_MOUNT)
  const std::string slots = fmt::format("{}", fmt::join(state.rebuild_slots, ", "));
  auto fail = [&](const std::string& why) {
    if (json) {
      std::cout << nlohmann::json{{"type", "apply_errored"}, {"error", "rebuild: " + why}}.dump()
                << "\n"
                << std::flush;
    }
    std::cerr << "qstor apply: rebuilding " << slots << ": " << why << "\nThe state ("
              << s.state_path << ") still records the pending rebuild; `qstor apply` again "
              << "continues (or `qstor fs repair " << s.manifest.file << "`).\n";
    return kExitError;
  };
  if (!json) {
    std::cout << "\nRebuilding the redundancy of " << slots
              << " (the fs repair engine: check every segment and metadata replica, rebuild "
                 "what is missing):\n"
              << std::flush;
  }
  auto d = DeployedOf(s.home, s.state_path, state, s.manifest, *s.identity);
  if (!d.ok()) return fail(d.status().message());
  auto store = OpenDeployedStore(*d);
  if (!store.ok()) return fail(store.status().message());
  (void)fs::ProbeBackends(**store);  // repair must not pick a backend that is down
  auto before = fs::Check(**store);
  if (!before.ok()) return fail(before.status().message());
  size_t meta_damaged = before->metadata_checked ? before->metadata.damaged.size() : 0;
  if (!json) {
    std::cout << fmt::format(
                     "  checked {} segment(s): {} healthy, {} degraded, {} lost; {} metadata "
                     "record(s), {} needing copies\n",
                     before->segments.size(), before->healthy, before->degraded, before->lost,
                     before->metadata.objects, meta_damaged)
              << std::flush;
  }
  fs::RepairReport rep;
  std::optional<fs::CheckReport> after;
  if (StorageWhole(*before)) {
    after = *before;
  } else {
    fs::RepairOptions ro;
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    ro.progress = [&](const fs::RepairProgress& p) {
      auto now = std::chrono::steady_clock::now();
      const bool edge = p.segments_done == 0 || p.segments_done == p.segments_total;
      if (!edge && now - last < std::chrono::seconds(1)) return;
      last = now;
      if (json) {
        std::cout << nlohmann::json{{"type", "rebuild_progress"},
                                    {"segments_done", p.segments_done},
                                    {"segments_total", p.segments_total},
                                    {"repaired", p.repaired},
                                    {"failed", p.failed},
                                    {"metadata_restored", p.metadata_restored},
                                    {"metadata_objects", p.metadata_objects},
                                    {"bytes_read", p.bytes_read},
                                    {"bytes_written", p.bytes_written}}
                         .dump()
                  << "\n"
                  << std::flush;
      } else {
        std::cout << fmt::format("  rebuild: {}/{} segment(s) done ({} repaired, {} failed), {} "
                                 "metadata cop(ies) restored; {} read, {} written\n",
                                 p.segments_done, p.segments_total, p.repaired, p.failed,
                                 p.metadata_restored, FormatSize(p.bytes_read),
                                 FormatSize(p.bytes_written))
                  << std::flush;
      }
    };
    auto r = fs::Repair(**store, *before, ro);
    if (!r.ok()) return fail(r.status().message());
    rep = *r;
    (void)fs::ProbeBackends(**store);
    auto again = fs::Check(**store);
    if (!again.ok()) return fail(again.status().message());
    after = std::move(again).value();
  }
  const bool healthy = StorageWhole(*after);
  if (healthy) {
    state.rebuild_slots.clear();
    Status w = reconciler::SaveState(s.state_path, state);
    if (!w.ok()) return fail("the storage is whole, but saving the state: " + w.message());
  }
  if (json) {
    std::cout << nlohmann::json{{"type", "rebuild_complete"},
                                {"healthy", healthy},
                                {"segments", after->segments.size()},
                                {"segments_repaired", rep.repaired},
                                {"segments_degraded", after->degraded},
                                {"segments_lost", after->lost},
                                {"metadata_restored", rep.metadata_restored},
                                {"metadata_healthy",
                                 !after->metadata_checked || after->metadata.healthy()},
                                {"bytes_read", rep.bytes_read},
                                {"bytes_written", rep.bytes_written}}
                     .dump()
              << "\n"
              << std::flush;
  }
  if (healthy) {
    if (!json) {
      std::cout << fmt::format(
          "Rebuild complete! {} segment(s) repaired, {} metadata cop(ies) restored ({} read, {} "
          "written); every segment and metadata replica of {} is whole.\n",
          rep.repaired, rep.metadata_restored, FormatSize(rep.bytes_read),
          FormatSize(rep.bytes_written), d->Label());
    }
    return kExitOk;
  }
  std::string why = fmt::format(
      "after the repair {} segment(s) are still degraded and {} lost (of {}){}{}",
      after->degraded, after->lost, after->segments.size(),
      after->metadata_checked && !after->metadata.healthy()
          ? fmt::format(", metadata: {} of {} replicas incomplete or unreachable",
                        std::count_if(after->metadata.backends.begin(),
                                      after->metadata.backends.end(),
                                      [](const fs::MetadataReplicaCheck& b) { return !b.healthy(); }),
                        after->metadata.backends.size())
          : "",
      rep.errors.empty() ? "" : "; first error: " + rep.errors.front());
  return fail(why);
#else
  (void)s;
  std::cerr << "qstor apply: " << state.rebuild_slots.size()
            << " replaced slot(s) need their shards rebuilt, but this qstor is built without the "
               "fs engine; the state keeps the pending rebuild\n";
  if (json) {
    std::cout << nlohmann::json{{"type", "apply_errored"},
                                {"error", "rebuild: the fs engine is not built"}}
                     .dump()
              << "\n";
  }
  return kExitNotBuilt;
#endif
}

Result<std::chrono::milliseconds> LockTimeout(const PlanCli& c) {
  auto d = ParseDuration(c.lock_timeout);
  if (!d.ok()) return d.status().WithContext("--lock-timeout");
  return *d;
}

// payment: connect: shows each signing chunk as a QR code for the ThreeFold
// Connect app and waits for its signature (reconciler/connect.h). The codes
// are also written to $QSTOR_HOME/connect/<name>/<purpose>-chunk-N.{png,svg}.
std::shared_ptr<reconciler::ConnectSigner> ConnectFlowFor(const Context& ctx, Session& s,
                                                          const std::string& rerun) {
  reconciler::ConnectOptions co;
  co.public_key_hex = s.pub.public_key_hex;
  co.timeout = s.manifest.payment.timeout;
  co.qr = s.manifest.payment.qr;
  co.qr_dir = DirsFor(s.home).cache + "/connect/" + s.manifest.name;
  co.out = &std::cout;
  co.json = ctx.global.json;
  co.ansi_colors = !ctx.global.no_color && StdoutIsTerminal();
  co.devnet_hint = s.manifest.network == "devnet";
  co.rerun = rerun;
  co.interrupted = [] { return g_interrupted.load(); };
  return std::make_shared<reconciler::ConnectSigner>(*s.grid, std::move(co));
}

int ApplyOne(const Context& ctx, const PlanCli& c, Session& s, const std::optional<Plan>& saved) {
  auto lt = LockTimeout(c);
  if (!lt.ok()) return Fail("apply", lt.status());
  // payment: connect: the ThreeFold Connect app signs each chunk by QR, and
  // pays with the first one when the balance is short (reconciler/connect.h);
  // the signer is made below, once the session has its grid.
  const bool pay_by_connect = s.manifest.payment.method == Manifest::Payment::Method::kConnect;
  auto home = QstorHome();
  if (!home.ok()) return Fail("apply", home.status());
  const std::string state_path = reconciler::StatePath(*home, s.manifest.network, s.manifest.name);
  auto lock = reconciler::StateLock::Acquire(state_path, "apply", *lt);
  if (!lock.ok()) return Fail("apply", lock.status());
  if (!lock->info().took_over.empty()) {
    std::cerr << "Note: took over a stale " << lock->info().took_over << ".\n";
  }
  // Until ApplyPlan runs, nothing has changed: a Ctrl-C (at the passphrase
  // prompt, while planning, at the question) releases the lock and exits 130.
  LockInterruptGuard interrupt_guard(
      reconciler::LockPath(state_path),
      "qstor apply: interrupted before any change; the state lock is released");
  Status st = OpenSession(s, true, true);
  if (!st.ok()) return Fail("apply", st);

  reconciler::ObserveOptions oo;
  auto obs = ObserveFor(s, oo);
  if (!obs.ok()) return Fail("apply", obs.status());
  Plan plan;
  if (saved) {
    std::string lineage = s.state ? s.state->lineage : "";
    uint64_t serial = s.state ? s.state->serial : 0;
    if (saved->state_lineage != lineage || saved->state_serial != serial) {
      return Fail("apply", Status::FailedPrecondition(fmt::format(
                               "the saved plan is stale: it was made against state {} serial "
                               "{}, the state is now {} serial {}. Nothing was done; run `qstor "
                               "diff -out FILE` again",
                               saved->state_lineage.empty() ? "(none)" : saved->state_lineage,
                               saved->state_serial, lineage.empty() ? "(none)" : lineage, serial)));
    }
    if (reconciler::ObservationDigest(*obs, saved->actions) != saved->observed_digest) {
      return Fail("apply", Status::FailedPrecondition(
                               "the saved plan is stale: the grid changed since it was made (a "
                               "contract, a namespace or a chosen node is not as the plan saw "
                               "it). Nothing was done; run `qstor diff -o FILE` again"));
    }
    plan = *saved;
    // The data may have grown since the plan was made: its shrinks are
    // checked again against what each namespace holds now.
    for (auto& d : reconciler::ShrinkDiagnostics(s.manifest, plan.actions, *obs)) {
      if (d.severity == reconciler::PlanDiagnostic::Severity::kError) {
        plan.diagnostics.push_back(d);
      }
    }
  } else {
    reconciler::PlanOptions po;
    po.seed = SeedFor(s, c.seed);
    plan = reconciler::MakePlan(s.manifest, *obs, po);
  }
  PrintPlan(ctx, plan);
  if (plan.has_errors()) {
    std::cerr << "qstor apply: the plan has errors; nothing was done\n";
    return kExitError;
  }
  State state = obs->state;
  if (!plan.empty()) {
    if (!c.auto_approve && !saved) {
      if (!StdinIsTerminal()) {
        return ReportUsage("apply",
                           "not run from a terminal: pass --auto-approve to apply without "
                           "confirmation (or apply a saved plan: `qstor diff -out plan.json` then "
                           "`qstor apply plan.json`)");
      }
      if (!ConfirmOnTerminal("\nDo you want to perform these actions?")) {
        std::cout << "Apply cancelled; nothing was done.\n";
        return kExitError;
      }
    }
    // payment: wallet on a terminal: a short balance shows the top-up QR and
    // waits for the deposit (without a terminal, ApplyPlan refuses with the
    // amount and the QR payload in the message).
    bool spends = std::any_of(plan.actions.begin(), plan.actions.end(), [](const auto& a) {
      return a.kind != reconciler::ActionKind::kDelete;
    });
    if (s.manifest.payment.method == Manifest::Payment::Method::kWallet && spends &&
        StdinIsTerminal() && obs->balance_units) {
      uint64_t need = plan.monthly_after * static_cast<uint64_t>(s.manifest.budget.prepaid_months);
      if (*obs->balance_units < need) {
        uint64_t tft = (need - *obs->balance_units + grid::kUnitsPerTft - 1) / grid::kUnitsPerTft + 1;
        std::cout << fmt::format("\nThe wallet holds {}; this storage needs {} for {} month(s). "
                                 "Top up {} TFT (the bridge keeps 1 TFT):\n",
                                 grid::FormatTft(*obs->balance_units), grid::FormatTft(need),
                                 s.manifest.budget.prepaid_months, tft);
        int rc = RunSelf({"wallet", "topup", "--network", s.manifest.network, "--amount",
                          std::to_string(tft), "--timeout",
                          std::to_string(std::max<int64_t>(
                              1, s.manifest.payment.timeout.count() / 1000)) + "s"});
        if (rc != 0) {
          std::cerr << "qstor apply: no top-up arrived; nothing was changed\n";
          return kExitError;
        }
      }
    }
    g_interrupted = false;
    interrupt_guard.Suspend();
    struct sigaction sa {}, old_int {}, old_term {};
    sa.sa_handler = OnSigint;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    reconciler::ApplyOptions ao;
    std::unique_ptr<ProgressView> view;
    if (!ctx.global.json) view = ProgressView::ForStdout();
    if (pay_by_connect) {
      reconciler::UseConnectSigner(ConnectFlowFor(ctx, s, "qstor apply"), ao);
      if (view && view->live()) {
        // The QR codes and their prompts take the terminal; the bar waits.
        auto inner = ao.signer;
        ProgressView* v = view.get();
        ao.signer = [inner, v](const reconciler::SignRequest& req) {
          v->Suspend();
          auto sig = inner(req);
          v->Resume();
          return sig;
        };
      }
    }
    ao.state_path = s.state_path;
    ao.interrupted = [] { return g_interrupted.load(); };
    ao.progress = ProgressSink(ctx, view.get());
    if (const char* f = std::getenv("QSTOR_TEST_FAULT")) ao.fault = f;
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"type", "apply_start"},
                                  {"name", s.manifest.name},
                                  {"network", s.manifest.network},
                                  {"actions", plan.actions.size()}}
                       .dump()
                << "\n"
                << std::flush;
    } else {
      std::cout << "\nApplying (Ctrl-C stops after the step in flight; twice stops now):\n";
    }
    auto r = reconciler::ApplyPlan(*s.grid, s.manifest, plan, *obs, state, *s.identity, ao);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    // From here (the mount, the rebuild) every step saves the state it
    // reached; a Ctrl-C releases the lock and the next apply goes on.
    LockInterruptGuard::SetMessage(
        "qstor apply: interrupted; the state records what was done and the lock is released; "
        "`qstor apply` again continues");
    interrupt_guard.Resume();
    if (view) view->Finish();
    // A Ctrl-C while waiting (for the app's signature, for a node) ends the
    // wait with an error: it is still an interruption, and exits 130.
    if (!r.ok() && g_interrupted.load()) {
      std::cerr << "qstor apply: " << r.status().message() << "\n";
      reconciler::ApplyResult stopped;
      stopped.interrupted = true;
      r = stopped;
    }
    if (!r.ok()) {
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"type", "apply_errored"}, {"error", r.status().message()}}
                         .dump()
                  << "\n";
      }
      std::cerr << "qstor apply: " << r.status().message() << "\nThe state (" << s.state_path
                << ") records every step that was done; `qstor apply` again continues.\n";
      return kExitError;
    }
    if (r->interrupted) {
      if (ctx.global.json) {
        std::cout << nlohmann::json{{"type", "apply_errored"}, {"error", "interrupted"}}.dump()
                  << "\n";
      }
      std::cerr << "qstor apply: interrupted; the state records every step that was done. "
                   "`qstor apply` again continues.\n";
      return kExitInterrupted;
    }
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"type", "apply_complete"},
                                  {"added", r->created},
                                  {"completed", r->completed},
                                  {"changed", r->updated},
                                  {"replaced", r->replaced},
                                  {"destroyed", r->deleted},
                                  {"node_retries", r->retried_nodes},
                                  {"signing_chunks", r->signing_chunks},
                                  {"serial", state.serial}}
                       .dump()
                << "\n";
    } else {
      std::cout << fmt::format(
          "\nApply complete! {} added, {} changed, {} replaced, {} destroyed ({} signing "
          "chunk(s), {} node retries). State: {} (serial {}).\n",
          r->created, r->updated + r->completed, r->replaced, r->deleted, r->signing_chunks,
          r->retried_nodes, s.state_path, state.serial);
    }
  } else if (!s.state || s.state->ToJson() != state.ToJson()) {
    // Nothing to change on the grid, but the refresh learned something: a
    // contract adopted, or a namespace the grid shows ready whose address a
    // killed apply did not record (without it `qstor mount` refuses).
    Status w = reconciler::SaveState(s.state_path, state);
    if (!w.ok()) return Fail("apply", w);
  }
  // Replaced slots (of this apply or of one killed before its rebuild): the
  // storage is not whole until the rebuild ran. The lock stays held through
  // it (it saves the state); a mount does not take the lock.
  const bool rebuild = !state.rebuild_slots.empty();
  if (rebuild) {
    if (const char* f = std::getenv("QSTOR_TEST_FAULT");
        f != nullptr && std::string(f) == "exit-before-rebuild") {
      std::cout << std::flush;
      std::cerr << "qstor apply: test fault: exiting before the rebuild of the replaced slots"
                << std::endl;
      ::_exit(97);
    }
  }
  auto rebuild_step = [&] { return RebuildStep(ctx, s, state); };
  if (c.no_mount) return rebuild_step();
  bool layout_changed = plan.count(reconciler::ActionKind::kReplace) > 0 ||
                        plan.count(reconciler::ActionKind::kDelete) > 0 || rebuild;
  return MountStep(ctx, s, layout_changed, rebuild_step);
}

int RunApply(const Context& ctx, const PlanCli& c) {
  auto sel = PruneFlags(c);
  if (!sel.ok()) return ReportUsage("apply", sel.status().message());
  std::optional<reconciler::LoadResult> loaded;  // the one file, read once
  std::error_code dir_ec;
  if (c.files.size() == 1 && !std::filesystem::is_directory(c.files.front(), dir_ec)) {
    // A saved plan? The file is read once, bounded (a FIFO cannot be read
    // twice; /dev/zero must stop at the limit), and parsed as a manifest
    // when it is not a plan.
    const std::string& file = c.files.front();
    auto text = ReadFileBounded(file, reconciler::kMaxManifestBytes, "manifest or saved plan");
    if (!text.ok() && text.status().code() != Status::Code::kNotFound) {
      return Fail("apply", text.status());
    }
    nlohmann::json j;
    if (text.ok()) j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "qstor-plan") {
      if (c.prune || !c.selector.empty()) {
        return ReportUsage("apply", "--prune and --selector take manifests, not a saved plan");
      }
      auto plan = Plan::FromJson(j, c.files.front());
      if (!plan.ok()) return Fail("apply", plan.status());
      auto ms = LoadManifestsFor({plan->manifest_file}, plan->name, "apply");
      if (!ms.ok()) return Fail("apply", ms.status());
      Session s;
      s.manifest = ms->front();
      if (reconciler::Sha256Hex(s.manifest.ToJson().dump()) != plan->manifest_digest) {
        return Fail("apply", Status::FailedPrecondition(
                                 plan->manifest_file +
                                 " changed since the plan was made; nothing was done. Run `qstor "
                                 "diff -out FILE` again"));
      }
      return ApplyOne(ctx, c, s, *plan);
    }
    if (text.ok()) loaded = reconciler::LoadManifestText(*text, file);
  }
  auto all = loaded ? ManifestsFrom(std::move(*loaded), c.name)
                    : LoadManifestsFor(c.files, c.name, "apply");
  if (!all.ok()) return Fail("apply", all.status());
  auto ms = SelectDocuments(std::move(*all), *sel, c.selector, "apply");
  if (!ms.ok()) return Fail("apply", ms.status());
  int rc = kExitOk;
  for (auto& m : *ms) {
    Session s;
    s.manifest = m;
    rc = ApplyOne(ctx, c, s, std::nullopt);
    if (rc != kExitOk) return rc;
  }
  if (!c.prune) return rc;
  // Only once every document is applied: a failed apply prunes nothing.
  auto targets = FindPruneTargets(*ms, *sel);
  if (!targets.ok()) return Fail("apply", targets.status());
  auto lt = LockTimeout(c);
  if (!lt.ok()) return Fail("apply", lt.status());
  for (const auto& t : *targets) {
    rc = DestroyOne(ctx, c, t.manifest, "apply --prune", t.why, *lt);
    if (rc != kExitOk) return rc;
  }
  if (!ctx.global.json) {
    std::cout << fmt::format("\nPrune complete: {} storage(s) destroyed.\n", targets->size());
  }
  return rc;
}

// After a destroy: the storage's cache holds file contents in plaintext and
// an inode table whose segments are gone; a new deployment of the same name
// must not see them. Removes what a mount made there (zeroed before the
// unlink, best effort; cli/mount_cache.h), unless the cache is recorded as
// another deployment's or something still has it mounted.
void RemoveDestroyedCache(const Context& ctx, const Manifest& m, const std::string& home,
                          const State& state) {
  const std::string dir = m.mount.cache_dir.empty()
                              ? DefaultCacheDirFor(home, m.network, m.name)
                              : m.mount.cache_dir;
  CacheOwner me{m.network, m.name, state.lineage, {}};
  for (const auto& ns : state.namespaces) {
    if (ns.contract_id != 0) me.contracts.push_back(ns.contract_id);
  }
  auto owner = ReadCacheOwner(dir);
  if (owner.ok() && owner->has_value() && !SameDeployment(**owner, me)) {
    std::cerr << "Note: the cache " << dir << " belongs to another deployment (lineage "
              << (*owner)->lineage << "); left in place.\n";
    return;
  }
  if (m.mount.enabled && IsMountPoint(m.mount.path) && !IsDeadFuseMount(m.mount.path)) {
    std::cerr << "Note: " << m.mount.path << " is still mounted; the cache " << dir
              << " was not removed.\n";
    return;
  }
  auto r = RemoveCache(dir);
  if (!r.ok()) {
    std::cerr << "Note: removing the cache " << dir << ": " << r.status().ToString() << "\n";
    return;
  }
  if (r->files == 0 && r->left.empty()) return;
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"type", "cache_removed"},
                                {"cache_dir", dir},
                                {"files", r->files},
                                {"bytes_zeroed", r->bytes_zeroed},
                                {"left", r->left}}
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format("Removed the cache {} ({} files, {} overwritten with zeros first).\n",
                             dir, r->files, FormatSize(r->bytes_zeroed));
    if (!r->left.empty()) {
      std::cout << fmt::format("  left {} entries a mount did not make, e.g. {}\n",
                               r->left.size(), r->left.front());
    }
  }
}

// Destroys one storage (a manifest, or one `apply --prune` found no document
// for): lists its contracts, asks (or --auto-approve), unmounts, cancels,
// removes the state and the cache. `who` names the command in messages
// ("destroy", "apply --prune"); `why` (may be empty) is said before the list.
int DestroyOne(const Context& ctx, const PlanCli& c, const Manifest& m, const std::string& who,
               const std::string& why, std::chrono::milliseconds lock_timeout) {
  Session s;
  s.manifest = m;
  const std::string cmd = "qstor " + who;
  auto home = QstorHome();
  if (!home.ok()) return Fail(who, home.status());
  const std::string state_path = reconciler::StatePath(*home, m.network, m.name);
  auto lock = reconciler::StateLock::Acquire(state_path, who, lock_timeout);
  if (!lock.ok()) return Fail(who, lock.status());
  if (!lock->info().took_over.empty()) {
    std::cerr << "Note: took over a stale " << lock->info().took_over << ".\n";
  }
  LockInterruptGuard interrupt_guard(
      reconciler::LockPath(state_path),
      cmd + ": interrupted before any change; the state lock is released");
  Status st = OpenSession(s, true, true);
  if (!st.ok()) return Fail(who, st);
  auto obs = reconciler::Observe(*s.grid, m, s.pub.public_key_hex, s.state, {});
  if (!obs.ok()) return Fail(who, obs.status());
  State state = obs->state;
  std::vector<const reconciler::NamespaceState*> live;
  for (const auto& ns : state.namespaces) {
    if (ns.contract_id != 0 && obs->contracts.count(ns.contract_id)) live.push_back(&ns);
  }
  const bool json = ctx.global.json;
  auto planned = [&](reconciler::Role role, uint32_t index, uint64_t contract, uint32_t node,
                     uint64_t size, const std::string& reason) {
    const reconciler::Action a =
        DeleteAction(role, index, contract, node, size, reason, obs->pricing);
    std::cout << nlohmann::json{{"type", "planned_change"}, {"change", a.ToJson()}}.dump()
              << "\n";
  };
  if (json) {
    std::cout << nlohmann::json{{"type", "version"}, {"qstor_plan_events", 1},
                                {"name", m.name},    {"network", m.network}}
                     .dump()
              << "\n";
  }
  if (live.empty() && obs->orphans.empty()) {
    if (json) {
      std::cout << nlohmann::json{{"type", "destroy_complete"}, {"cancelled", 0}}.dump() << "\n";
    } else {
      std::cout << "Nothing to destroy for \"" << m.name << "\" on " << m.network << ".\n";
    }
    if (m.mount.enabled && IsMountPoint(m.mount.path)) (void)RunSelf({"umount", m.mount.path});
    RemoveDestroyedCache(ctx, m, *home, state);
    (void)reconciler::RemoveState(s.state_path);
    return kExitOk;
  }
  if (!json) {
    if (!why.empty()) std::cout << "\n" << why << "\n";
    std::cout << fmt::format(
        "{} \"{}\" on {}: these contracts will be cancelled and their data deleted:\n", cmd,
        m.name, m.network);
  }
  for (const auto* ns : live) {
    if (json) {
      planned(ns->role, ns->index, ns->contract_id, ns->node_id, ns->size_bytes,
              why.empty() ? cmd : why);
      continue;
    }
    std::cout << fmt::format("  - {} contract {} on node {} ({})\n", ns->Slot(), ns->contract_id,
                             ns->node_id, FormatSize(ns->size_bytes));
  }
  for (const auto& o : obs->orphans) {
    if (json) {
      planned(reconciler::Role::kData, 0, o.contract_id, o.node_id, 0,
              fmt::format("leftover contract {} on node {}", o.contract_id, o.node_id));
    } else {
      std::cout << fmt::format("  - leftover contract {} on node {}\n", o.contract_id,
                               o.node_id);
    }
    reconciler::NamespaceState extra;
    extra.contract_id = o.contract_id;
    extra.node_id = o.node_id;
    extra.index = 100000 + static_cast<uint32_t>(o.contract_id % 100000);
    state.namespaces.push_back(extra);
  }
  if (!c.auto_approve) {
    if (!StdinIsTerminal()) {
      return ReportUsage(who, "not run from a terminal: pass --auto-approve");
    }
    if (!ConfirmOnTerminal("\nDestroy all of it? The data cannot be recovered.")) {
      std::cout << "Destroy cancelled; nothing was done.\n";
      return kExitError;
    }
  }
  LockInterruptGuard::SetMessage(
      cmd + ": interrupted; what was cancelled is gone from the grid, the lock is released; `" +
      cmd + "` again finishes");
  if (m.mount.enabled && IsMountPoint(m.mount.path)) {
    std::cerr << "Unmounting " << m.mount.path << " first.\n";
    int rc = RunSelf({"umount", m.mount.path});
    if (rc != 0) {
      return Fail(who, Status::FailedPrecondition(
                                 "`qstor umount " + m.mount.path + "` failed; nothing was "
                                 "cancelled (close the files open on it and retry)"));
    }
  }
  reconciler::ApplyOptions ao;
  if (m.payment.method == Manifest::Payment::Method::kConnect) {
    ao.signer = reconciler::MakeConnectSigner(ConnectFlowFor(ctx, s, cmd));
  }
  ao.state_path = s.state_path;
  std::unique_ptr<ProgressView> view;
  if (!json) view = ProgressView::ForStdout();
  ao.progress = ProgressSink(ctx, view.get());
  auto n = reconciler::DestroyAll(*s.grid, state, *s.identity, ao);
  if (view) view->Finish();
  if (!n.ok()) {
    (void)reconciler::SaveState(s.state_path, state);
    if (json) {
      std::cout << nlohmann::json{{"type", "apply_errored"}, {"error", n.status().message()}}
                       .dump()
                << "\n";
    }
    return Fail(who, n.status());
  }
  Status rm = reconciler::RemoveState(s.state_path);
  if (!rm.ok()) return Fail(who, rm);
  RemoveDestroyedCache(ctx, m, *home, obs->state);
  if (json) {
    std::cout << nlohmann::json{{"type", "destroy_complete"}, {"cancelled", *n}}.dump() << "\n";
  } else {
    std::cout << fmt::format("Destroy complete! {} contract(s) cancelled.\n", *n);
  }
  return kExitOk;
}

int RunDestroy(const Context& ctx, const PlanCli& c) {
  auto lt = LockTimeout(c);
  if (!lt.ok()) return Fail("destroy", lt.status());
  auto ms = LoadManifestsFor(c.files, c.name, "destroy");
  if (!ms.ok()) return Fail("destroy", ms.status());
  for (auto& m : *ms) {
    int rc = DestroyOne(ctx, c, m, "destroy", "", *lt);
    if (rc != kExitOk) return rc;
  }
  return kExitOk;
}

int RunForceUnlock(const PlanCli& c) {
  auto home = QstorHome();
  if (!home.ok()) return Fail("force-unlock", home.status());
  // Find the lock with this id under <home>/state/<network>/*.lock.
  std::string root = DirsFor(*home).state + "/state";
  DIR* nets = ::opendir(root.c_str());
  if (nets != nullptr) {
    while (dirent* n = ::readdir(nets)) {
      std::string net = n->d_name;
      if (net == "." || net == "..") continue;
      DIR* d = ::opendir((root + "/" + net).c_str());
      if (d == nullptr) continue;
      while (dirent* e = ::readdir(d)) {
        std::string f = e->d_name;
        if (f.size() < 6 || f.compare(f.size() - 5, 5, ".lock") != 0) continue;
        std::string state_path = root + "/" + net + "/" + f.substr(0, f.size() - 5) + ".json";
        auto li = reconciler::ReadLock(state_path);
        if (li.ok() && li->has_value() && (*li)->id == c.id) {
          ::closedir(d);
          ::closedir(nets);
          Status st = reconciler::ForceUnlock(state_path, c.id);
          if (!st.ok()) return Fail("force-unlock", st);
          std::cout << "Removed " << (*li)->Describe() << "\n";
          return kExitOk;
        }
      }
      ::closedir(d);
    }
    ::closedir(nets);
  }
  return Fail("force-unlock", Status::NotFound("no state lock with id " + c.id + " under " + root));
}

void AddPlanOptions(CLI::App* cmd, PlanCli* c) {
  cmd->add_option("files", c->files, "Manifest file(s) (storage.yaml)");
  cmd->add_option("--name", c->name, "Only the Storage document with this metadata.name");
  cmd->add_option("--seed", c->seed,
                  "Seed of the node choice (recorded in the plan; default: derived from the state's "
                  "lineage and serial and the manifest, so diff and apply agree)");
}

void AddPruneOptions(CLI::App* cmd, PlanCli* c) {
  cmd->add_flag("--prune", c->prune,
                "Also destroy this identity's storages (on the documents' networks) that no given "
                "document names any more, after the same confirmation as destroy; diff shows them "
                "as '- destroy'");
  cmd->add_option("-l,--selector", c->selector,
                  "Only documents whose metadata.labels match key=value[,key=value]; with --prune, "
                  "only storages whose recorded labels match are destroyed");
}

}  // namespace

void RegisterPlanApply(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<PlanCli>();
  CLI::App* diff = app.add_subcommand(
      "diff", "Plan: show what apply would change on the grid and what it costs");
  diff->alias("plan");
  AddPlanOptions(diff, c.get());
  diff->add_flag("--detailed-exitcode", c->detailed_exitcode,
                 "Exit 0 when there are no changes, 2 when there are, 1 on error");
  diff->add_option("-o,--out", c->out, "Write the plan to FILE for `qstor apply FILE`");
  diff->add_flag("--no-mount", c->no_mount,
                 "Plan the grid only; leave out how the mount differs (apply --no-mount)");
  AddPruneOptions(diff, c.get());
  diff->callback([&ctx, c] { ctx.exit_code = RunDiff(ctx, *c); });

  CLI::App* apply = app.add_subcommand(
      "apply", "Reconcile the grid and the mount with the manifest (or apply a saved plan)");
  AddPlanOptions(apply, c.get());
  apply->add_flag("--auto-approve,-y", c->auto_approve, "Apply without asking for confirmation");
  apply->add_option("--lock-timeout", c->lock_timeout,
                    "Wait this long for the state lock (e.g. 30s; default 0s)");
  apply->add_flag("--no-mount", c->no_mount, "Reconcile the grid only; leave the mount alone");
  AddPruneOptions(apply, c.get());
  apply->callback([&ctx, c] { ctx.exit_code = RunApply(ctx, *c); });

  CLI::App* destroy = app.add_subcommand(
      "destroy", "Cancel every contract of a manifest (unmounts first); the data is deleted");
  AddPlanOptions(destroy, c.get());
  destroy->add_flag("--auto-approve,-y", c->auto_approve, "Destroy without asking");
  destroy->add_option("--lock-timeout", c->lock_timeout, "Wait this long for the state lock");
  destroy->callback([&ctx, c] { ctx.exit_code = RunDestroy(ctx, *c); });

  CLI::App* unlock = app.add_subcommand("force-unlock", "Remove a stale state lock by its id");
  unlock->add_option("id", c->id, "The lock id (printed by the command that found it)")
      ->required();
  unlock->callback([&ctx, c] { ctx.exit_code = RunForceUnlock(*c); });
}

#else

void RegisterPlanApply(CLI::App& app, Context& ctx) {
  CLI::App* diff = AddNotBuilt(app, ctx, "diff",
                               "Plan: show what apply would change on the grid and what it costs",
                               "issue 5, reconciler");
  diff->alias("plan");
  AddNotBuilt(app, ctx, "apply", "Reconcile the grid and the mount with the manifest",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "destroy", "Cancel every contract of a manifest (unmounts first)",
              "issue 5, reconciler");
  AddNotBuilt(app, ctx, "force-unlock", "Remove a stale state lock by its id",
              "issue 5, reconciler");
}

#endif

}  // namespace qstor::cli
