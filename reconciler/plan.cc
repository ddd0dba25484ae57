#include "reconciler/plan.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/json_fields.h"
#include "common/units.h"

namespace qstor::reconciler {

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

uint64_t RoundUpMiB(uint64_t v) { return (v + kMiB - 1) / kMiB * kMiB; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool PlaceMatches(const Place& p, const grid::Node& n) {
  switch (p.kind) {
    case PlaceKind::kCountry:
      return Lower(p.name) == Lower(n.location.country);
    case PlaceKind::kRegion:
      return Lower(p.name) == Lower(n.location.region);
    case PlaceKind::kCity:
      return Lower(p.name) == Lower(n.location.city);
    case PlaceKind::kFarm:
      return p.id == n.farm_id;
    case PlaceKind::kNode:
      return p.id == n.node_id;
  }
  return false;
}

uint64_t MonthlyUnits(const grid::Pricing& p, uint64_t hru) {
  return grid::CostUnits(p, hru, 0, kMonthSeconds);
}

std::string Where(const grid::Node& n) {
  std::string s = fmt::format("node {} (farm {}", n.node_id, n.farm_id);
  if (!n.location.city.empty()) s += ", " + n.location.city;
  if (!n.location.country.empty()) s += ", " + n.location.country;
  return s + ")";
}

std::string SignedTft(int64_t units) {
  std::string s = grid::FormatTft(static_cast<uint64_t>(units < 0 ? -units : units));
  return (units < 0 ? "-" : "+") + s;
}

// The smallest spec.capacity (whole MiB) whose namespaces of `role` hold
// `used` bytes (the sizes grow with the capacity; a metadata namespace is
// capped, so past the cap the answer is that cap's capacity).
uint64_t MinCapacityHolding(uint64_t used, Role role, int k) {
  auto size = [&](uint64_t cap) {
    return role == Role::kData ? DataNamespaceSize(cap, k) : MetaNamespaceSize(cap);
  };
  uint64_t lo = 1, hi = uint64_t{1} << 30;  // MiB: up to 1 EiB
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (size(mid * kMiB) >= used) hi = mid;
    else lo = mid + 1;
  }
  return lo * kMiB;
}

}  // namespace

uint64_t DataNamespaceSize(uint64_t capacity, int k) {
  if (k <= 0) return 0;
  uint64_t per = (capacity + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
  return RoundUpMiB(per + per / 10);
}

uint64_t MetaNamespaceSize(uint64_t capacity) {
  return RoundUpMiB(std::clamp<uint64_t>(capacity / 100, 256 * kMiB, 64 * kGiB));
}


std::vector<PlanDiagnostic> ShrinkDiagnostics(const Manifest& manifest,
                                              const std::vector<Action>& actions,
                                              const Observation& obs) {
  std::vector<PlanDiagnostic> out;
  auto error = [&](std::string s, std::string d) {
    out.push_back({PlanDiagnostic::Severity::kError, std::move(s), std::move(d)});
  };
  for (const auto& a : actions) {
    if (a.kind != ActionKind::kUpdate || a.size_bytes >= a.old_size_bytes) continue;
    // A 0-db namespace keeps what it holds but refuses every write beyond
    // its new size: the mount's uploads would fail until it grew again.
    auto used = obs.used_bytes.find(a.old_contract_id);
    if (used == obs.used_bytes.end()) {
      auto why = obs.used_errors.find(a.old_contract_id);
      error(fmt::format("{} cannot shrink from {} to {}: how much it holds is unknown", a.Slot(),
                        FormatSize(a.old_size_bytes), FormatSize(a.size_bytes)),
            why != obs.used_errors.end()
                ? "its namespace did not answer: " + why->second
                : "a shrink reads each namespace's use first; give the keystore passphrase "
                  "(QSTOR_PASSPHRASE or a terminal)");
    } else if (used->second > a.size_bytes) {
      error(fmt::format("{} cannot shrink from {} to {}: it holds {}", a.Slot(),
                        FormatSize(a.old_size_bytes), FormatSize(a.size_bytes),
                        FormatSize(used->second)),
            fmt::format("spec.capacity {} is below the data stored; keep it at least {} (or "
                        "delete files and run `qstor fs gc`, then shrink)",
                        FormatSize(manifest.capacity_bytes),
                        FormatSize(MinCapacityHolding(used->second, a.role,
                                                      manifest.data_shards))));
    } else {
      out.push_back({PlanDiagnostic::Severity::kWarning,
                     fmt::format("{} shrinks from {} to {} (it holds {})", a.Slot(),
                                 FormatSize(a.old_size_bytes), FormatSize(a.size_bytes),
                                 FormatSize(used->second)),
                     "a 0-db namespace refuses writes beyond its new size"});
    }
  }
  return out;
}

bool MayShrink(const Manifest& manifest, const State& state) {
  const uint64_t data = DataNamespaceSize(manifest.capacity_bytes, manifest.data_shards);
  const uint64_t meta = MetaNamespaceSize(manifest.capacity_bytes);
  for (const auto& ns : state.namespaces) {
    if (ns.contract_id == 0) continue;
    if (ns.size_bytes > (ns.role == Role::kData ? data : meta)) return true;
  }
  return false;
}

const char* ActionKindName(ActionKind k) {
  switch (k) {
    case ActionKind::kCreate:
      return "create";
    case ActionKind::kComplete:
      return "complete";
    case ActionKind::kUpdate:
      return "update";
    case ActionKind::kReplace:
      return "replace";
    case ActionKind::kDelete:
      return "delete";
  }
  return "?";
}

std::string Action::Slot() const { return fmt::format("{}[{}]", RoleName(role), index); }

nlohmann::json Action::ToJson() const {
  return {{"action", ActionKindName(kind)},
          {"role", RoleName(role)},
          {"index", index},
          {"reason", reason},
          {"node_id", node_id},
          {"node_why", node_why},
          {"size_bytes", size_bytes},
          {"old_contract_id", old_contract_id},
          {"old_node_id", old_node_id},
          {"old_size_bytes", old_size_bytes},
          {"monthly_cost_delta_units", monthly_cost_delta}};
}

Result<Action> Action::FromJson(const nlohmann::json& j) {
  try {
    Action a;
    std::string k = j.at("action").get<std::string>();
    if (k == "create") a.kind = ActionKind::kCreate;
    else if (k == "complete") a.kind = ActionKind::kComplete;
    else if (k == "update") a.kind = ActionKind::kUpdate;
    else if (k == "replace") a.kind = ActionKind::kReplace;
    else if (k == "delete") a.kind = ActionKind::kDelete;
    else return Status::InvalidArgument("action \"" + k + "\" unknown");
    auto r = ParseRole(j.at("role").get<std::string>());
    if (!r.ok()) return r.status();
    a.role = *r;
    a.index = JsonIntegerOrThrow<uint32_t>(j.at("index"), "index");
    a.reason = j.at("reason").get<std::string>();
    a.node_id = JsonIntegerOrThrow<uint32_t>(j.at("node_id"), "node_id");
    a.node_why = j.at("node_why").get<std::string>();
    a.size_bytes = JsonIntegerOrThrow<uint64_t>(j.at("size_bytes"), "size_bytes");
    a.old_contract_id = JsonIntegerOrThrow<uint64_t>(j.at("old_contract_id"), "old_contract_id");
    a.old_node_id = JsonIntegerOrThrow<uint32_t>(j.at("old_node_id"), "old_node_id");
    a.old_size_bytes = JsonIntegerOrThrow<uint64_t>(j.at("old_size_bytes"), "old_size_bytes");
    a.monthly_cost_delta = JsonIntegerOrThrow<int64_t>(j.at("monthly_cost_delta_units"), "monthly_cost_delta_units");
    return a;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("action: ") + e.what());
  }
}

nlohmann::json PlanDiagnostic::ToJson() const {
  return {{"severity", severity == Severity::kError ? "error" : "warning"},
          {"summary", summary},
          {"detail", detail}};
}

bool Plan::has_errors() const {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const PlanDiagnostic& d) { return d.severity == PlanDiagnostic::Severity::kError; });
}

int Plan::count(ActionKind k) const {
  return static_cast<int>(
      std::count_if(actions.begin(), actions.end(), [k](const Action& a) { return a.kind == k; }));
}

nlohmann::json Plan::ToJson() const {
  nlohmann::json acts = nlohmann::json::array();
  for (const auto& a : actions) acts.push_back(a.ToJson());
  nlohmann::json diags = nlohmann::json::array();
  for (const auto& d : diagnostics) diags.push_back(d.ToJson());
  nlohmann::json j = {{"format", format},
                      {"kind", "qstor-plan"},
                      {"name", name},
                      {"network", network},
                      {"manifest_file", manifest_file},
                      {"manifest", manifest},
                      {"manifest_digest", manifest_digest},
                      {"state_lineage", state_lineage},
                      {"state_serial", state_serial},
                      {"observed_digest", observed_digest},
                      {"seed", seed},
                      {"register_twin", register_twin},
                      {"actions", acts},
                      {"diagnostics", diags},
                      {"monthly_before_units", monthly_before},
                      {"monthly_after_units", monthly_after},
                      {"pricing", grid::ToJson(pricing)},
                      {"created_at", created_at}};
  if (!rebuild_slots.empty()) j["rebuild_slots"] = rebuild_slots;
  return j;
}

Result<Plan> Plan::FromJson(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || j.value("kind", "") != "qstor-plan") {
    return Status::InvalidArgument(what + ": not a qstor plan file");
  }
  try {
    Plan p;
    p.format = JsonIntegerOrThrow<int>(j.at("format"), "format");
    if (p.format != kPlanFormat) {
      return Status::InvalidArgument(
          fmt::format("{}: plan format {} is not known to this qstor", what, p.format));
    }
    p.name = j.at("name").get<std::string>();
    p.network = j.at("network").get<std::string>();
    p.manifest_file = j.at("manifest_file").get<std::string>();
    p.manifest = j.at("manifest");
    p.manifest_digest = j.at("manifest_digest").get<std::string>();
    if (Sha256Hex(p.manifest.dump()) != p.manifest_digest) {
      return Status::InvalidArgument(what + ": the manifest inside the plan does not match its "
                                            "digest (the file was edited)");
    }
    p.state_lineage = j.at("state_lineage").get<std::string>();
    p.state_serial = JsonIntegerOrThrow<uint64_t>(j.at("state_serial"), "state_serial");
    p.observed_digest = j.at("observed_digest").get<std::string>();
    p.seed = JsonIntegerOrThrow<uint64_t>(j.at("seed"), "seed");
    p.register_twin = j.at("register_twin").get<bool>();
    for (const auto& a : j.at("actions")) {
      auto act = Action::FromJson(a);
      if (!act.ok()) return act.status().WithContext(what);
      p.actions.push_back(*act);
    }
    for (const auto& d : j.at("diagnostics")) {
      PlanDiagnostic dg;
      dg.severity = d.at("severity").get<std::string>() == "error" ? PlanDiagnostic::Severity::kError
                                                                    : PlanDiagnostic::Severity::kWarning;
      dg.summary = d.at("summary").get<std::string>();
      dg.detail = d.at("detail").get<std::string>();
      p.diagnostics.push_back(dg);
    }
    if (auto r = j.find("rebuild_slots"); r != j.end() && !r->is_null()) {
      p.rebuild_slots = r->get<std::vector<std::string>>();
    }
    p.monthly_before = JsonIntegerOrThrow<uint64_t>(j.at("monthly_before_units"), "monthly_before_units");
    p.monthly_after = JsonIntegerOrThrow<uint64_t>(j.at("monthly_after_units"), "monthly_after_units");
    auto pr = grid::PricingFromJson(j.at("pricing"));
    if (!pr.ok()) return pr.status().WithContext(what);
    p.pricing = *pr;
    p.created_at = JsonIntegerOrThrow<int64_t>(j.at("created_at"), "created_at");
    return p;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(what + ": " + e.what());
  }
}

std::string Sha256Hex(std::string_view data) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string s;
  for (unsigned char c : h) s += fmt::format("{:02x}", c);
  return s;
}

std::string ObservationDigest(const Observation& obs, const std::vector<Action>& actions) {
  std::string facts = "twin " + std::to_string(obs.twin_id) + "\n";
  for (const auto& [id, c] : obs.contracts) {  // std::map: sorted by id
    auto ws = obs.workload_status.find(id);
    facts += fmt::format("contract {} {} node {} {}\n", id, c.state, c.node_id,
                         ws == obs.workload_status.end() ? "-" : ws->second);
  }
  std::set<std::pair<uint32_t, uint64_t>> nodes;  // (node, size it must hold)
  for (const auto& a : actions) {
    if (a.kind != ActionKind::kDelete) nodes.insert({a.node_id, a.size_bytes});
  }
  for (const auto& [id, size] : nodes) {
    auto it = obs.nodes.find(id);
    facts += it == obs.nodes.end()
                 ? fmt::format("node {} unknown\n", id)
                 : fmt::format("node {} {} {}\n", id, it->second.status,
                               it->second.FreeHru() >= size ? "room" : "full");
  }
  return Sha256Hex(facts);
}

bool NodeMatchesLocations(const Manifest& manifest, const grid::Node& node, std::string* why) {
  for (const auto& ex : manifest.exclude) {
    if (PlaceMatches(ex, node)) {
      if (why) *why = "excluded by " + ex.ToString();
      return false;
    }
  }
  if (manifest.random_locations || manifest.select.empty()) {
    if (why) *why = "locations: random";
    return true;
  }
  for (const auto& s : manifest.select) {
    if (PlaceMatches(s.place, node)) {
      if (why) *why = s.place.ToString();
      return true;
    }
  }
  if (why) *why = "not in spec.locations";
  return false;
}

uint64_t DefaultSeed(const std::string& state_lineage, uint64_t state_serial,
                     const Manifest& manifest) {
  // Length-prefixed fields: no two different inputs hash the same bytes.
  std::string input = "qstor-plan-seed-v1\n";
  auto field = [&input](const std::string& v) {
    input += std::to_string(v.size());
    input += ':';
    input += v;
    input += '\n';
  };
  field(state_lineage);
  field(std::to_string(state_serial));
  field(manifest.ToJson().dump());
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size(), nullptr, 0);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | h[i];
  return v % 1000000000ull;  // as short as a RandomSeed() to retype
}

Result<NodeChoice> ChooseNode(const Manifest& manifest, const std::map<uint32_t, grid::Node>& nodes,
                              Role role, uint64_t size, const std::vector<uint32_t>& taken_same_role,
                              const std::set<uint32_t>& other_role_nodes,
                              const std::set<uint32_t>& avoid, uint64_t seed, uint32_t salt) {
  std::set<uint32_t> taken(taken_same_role.begin(), taken_same_role.end());
  std::set<uint32_t> taken_farms;
  std::set<std::string> taken_countries;
  for (uint32_t id : taken_same_role) {
    auto it = nodes.find(id);
    if (it == nodes.end()) continue;
    taken_farms.insert(it->second.farm_id);
    taken_countries.insert(Lower(it->second.location.country));
  }
  // Selectors with a fixed count that still need nodes, in manifest order.
  const Selector* hungry = nullptr;
  std::vector<const Selector*> weighted;
  std::vector<const Selector*> full;  // fixed counts already reached: take no more there
  if (role == Role::kData && !manifest.random_locations) {
    for (const auto& s : manifest.select) {
      if (s.count > 0) {
        int have = 0;
        for (uint32_t id : taken_same_role) {
          auto it = nodes.find(id);
          if (it != nodes.end() && PlaceMatches(s.place, it->second)) have++;
        }
        if (have < s.count && hungry == nullptr) hungry = &s;
        if (have >= s.count) full.push_back(&s);
      } else {
        weighted.push_back(&s);
      }
    }
  }
  size_t n_up = 0, n_free = 0, n_loc = 0, n_avoid = 0, n_spread = 0;
  std::vector<const grid::Node*> eligible;
  for (const auto& entry : nodes) {
    // Not a structured binding: clang 14 cannot capture those in the lambda below.
    const uint32_t id = entry.first;
    const grid::Node& n = entry.second;
    if (n.status != "up") continue;
    n_up++;
    if (n.FreeHru() < size) continue;
    n_free++;
    if (!NodeMatchesLocations(manifest, n, nullptr)) continue;
    n_loc++;
    if (avoid.count(id)) {
      n_avoid++;
      continue;
    }
    if (taken.count(id)) continue;
    if (std::any_of(full.begin(), full.end(),
                    [&](const Selector* f) { return PlaceMatches(f->place, n); })) {
      continue;
    }
    if (role == Role::kData) {
      if (manifest.distinct_farms && taken_farms.count(n.farm_id)) continue;
      if (manifest.distinct_countries && taken_countries.count(Lower(n.location.country))) continue;
    }
    n_spread++;
    eligible.push_back(&n);
  }
  std::string rule;
  if (hungry != nullptr) {
    std::vector<const grid::Node*> sub;
    for (const auto* n : eligible) {
      if (PlaceMatches(hungry->place, *n)) sub.push_back(n);
    }
    eligible.swap(sub);
    rule = fmt::format("{} (count {})", hungry->place.ToString(), hungry->count);
  } else if (!weighted.empty()) {
    // Pick a selector by weight among those that still have an eligible node.
    std::vector<const Selector*> live;
    std::vector<double> w;
    for (const auto* s : weighted) {
      bool any = std::any_of(eligible.begin(), eligible.end(),
                             [&](const grid::Node* n) { return PlaceMatches(s->place, *n); });
      if (any) {
        live.push_back(s);
        w.push_back(s->weight);
      }
    }
    if (!live.empty()) {
      std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + salt * 2 + 1);
      std::discrete_distribution<size_t> pick(w.begin(), w.end());
      const Selector* s = live[pick(rng)];
      std::vector<const grid::Node*> sub;
      for (const auto* n : eligible) {
        if (PlaceMatches(s->place, *n)) sub.push_back(n);
      }
      eligible.swap(sub);
      rule = fmt::format("{} (weight {})", s->place.ToString(), s->weight);
    }
  }
  if (eligible.empty()) {
    std::string spread = "distinct nodes";
    if (role == Role::kData && manifest.distinct_farms) spread += ", distinct farms";
    if (role == Role::kData && manifest.distinct_countries) spread += ", distinct countries";
    return Status::ResourceExhausted(fmt::format(
        "no node can host {}[...] of {}: of {} nodes known, {} are up, {} have {} free HRU, {} "
        "match spec.locations{}, {} were avoided after failing, {} remain after the spread rules "
        "({}; {} nodes already used){}",
        RoleName(role), FormatSize(size), nodes.size(), n_up, n_free, FormatSize(size), n_loc,
        manifest.random_locations ? "" : "/exclude", n_avoid, n_spread, spread, taken.size(),
        hungry ? ", none of them in " + hungry->place.ToString() : ""));
  }
  // Prefer nodes that hold no slot of the other role.
  std::vector<const grid::Node*> preferred;
  for (const auto* n : eligible) {
    if (!other_role_nodes.count(n->node_id)) preferred.push_back(n);
  }
  const auto& pool = preferred.empty() ? eligible : preferred;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + salt * 2);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  const grid::Node* n = pool[pick(rng)];
  std::string why;
  NodeMatchesLocations(manifest, *n, &why);
  NodeChoice c;
  c.node_id = n->node_id;
  c.why = fmt::format("{}: random pick (seed {}) among {} eligible nodes: up, {} free HRU, {}{}",
                      Where(*n), seed, pool.size(), FormatSize(n->FreeHru()),
                      rule.empty() ? why : rule,
                      role == Role::kData && (manifest.distinct_farms || manifest.distinct_countries)
                          ? ", spread rules kept"
                          : "");
  return c;
}

Plan MakePlan(const Manifest& manifest, const Observation& obs, const PlanOptions& options) {
  Plan plan;
  plan.name = manifest.name;
  plan.network = manifest.network;
  plan.manifest_file = manifest.file;
  plan.manifest = manifest.ToJson();
  plan.manifest_digest = Sha256Hex(plan.manifest.dump());
  plan.state_lineage = obs.have_state ? obs.state.lineage : "";
  plan.state_serial = obs.have_state ? obs.state.serial : 0;
  plan.seed = options.seed;
  plan.register_twin = !obs.twin_registered;
  plan.rebuild_slots = obs.state.rebuild_slots;
  plan.pricing = obs.pricing;
  plan.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  auto error = [&](std::string s, std::string d) {
    plan.diagnostics.push_back({PlanDiagnostic::Severity::kError, std::move(s), std::move(d)});
  };
  auto warn = [&](std::string s, std::string d) {
    plan.diagnostics.push_back({PlanDiagnostic::Severity::kWarning, std::move(s), std::move(d)});
  };

  const int k = manifest.data_shards, m = manifest.parity_shards;
  const uint32_t n_data = static_cast<uint32_t>(k + m);
  const uint32_t n_meta = static_cast<uint32_t>(manifest.metadata_backends);
  const uint64_t data_size = DataNamespaceSize(manifest.capacity_bytes, k);
  const uint64_t meta_size = MetaNamespaceSize(manifest.capacity_bytes);
  const State& st = obs.state;

  if (!obs.adopted.empty()) {
    std::string list;
    for (const auto& a : obs.adopted) list += (list.empty() ? "" : ", ") + a;
    warn(fmt::format("adopted {} contract(s) from the grid that the state did not record",
                     obs.adopted.size()),
         list + " (an interrupted apply or a lost state file; the grid is the truth)");
  }
  if (obs.have_state && st.data_shards != 0 &&
      (st.data_shards != k || st.parity_shards != m)) {
    warn(fmt::format("redundancy changes from {}+{} to {}+{}", st.data_shards, st.parity_shards,
                     k, m),
         "segments already written keep their own k+m; new writes use the new one. `qstor fs "
         "repair` rebuilds missing shards of old segments onto the namespaces that remain.");
  }

  // Pass 1: judge every existing slot.
  struct Judged {
    const NamespaceState* ns = nullptr;
    bool keep = false;
    bool misplaced = false;
    bool complete = false;  // contract live, deployment missing
    std::string reason;
  };
  std::vector<Action> creates, completes, replaces, updates, deletes;
  std::map<std::pair<Role, uint32_t>, Judged> judged;
  for (const auto& ns : st.namespaces) {
    uint32_t want = ns.role == Role::kData ? n_data : n_meta;
    bool live = ns.contract_id != 0 && obs.contracts.count(ns.contract_id);
    if (ns.index >= want) {
      if (live) {
        Action a;
        a.kind = ActionKind::kDelete;
        a.role = ns.role;
        a.index = ns.index;
        a.old_contract_id = ns.contract_id;
        a.old_node_id = ns.node_id;
        a.old_size_bytes = ns.size_bytes;
        a.reason = fmt::format("the manifest now asks for {} {} namespaces", want, RoleName(ns.role));
        a.monthly_cost_delta = -static_cast<int64_t>(MonthlyUnits(obs.pricing, ns.size_bytes));
        deletes.push_back(a);
        if (ns.role == Role::kData) {
          warn(fmt::format("{} is deleted: segments written with {}+{} lose a shard there",
                           ns.Slot(), st.data_shards, st.parity_shards),
               "run `qstor fs repair` after this apply so every segment has all its shards "
               "again");
        }
      }
      continue;
    }
    Judged j;
    j.ns = &ns;
    auto node_it = obs.nodes.find(ns.node_id);
    auto ws = obs.workload_status.find(ns.contract_id);
    std::string where;
    if (!live) {
      j.reason = ns.contract_id == 0
                     ? "the previous apply stopped before its contract was created"
                     : fmt::format("contract {} is gone from the grid (cancelled or deleted)",
                                   ns.contract_id);
    } else if (node_it == obs.nodes.end()) {
      j.reason = fmt::format("node {} is not in the grid's directory any more", ns.node_id);
    } else if (node_it->second.status != "up") {
      j.reason = fmt::format("node {} is {}", ns.node_id, node_it->second.status);
    } else if (ws != obs.workload_status.end() && ws->second == "missing") {
      j.complete = true;
      j.reason = fmt::format("contract {} exists but has no deployment (an interrupted apply): "
                             "deploy onto it, no new contract",
                             ns.contract_id);
    } else if (ws != obs.workload_status.end() && ws->second != "ok" &&
               ws->second.rfind("paused", 0) != 0) {
      j.reason = fmt::format("its namespace on node {} is not serving: {}", ns.node_id, ws->second);
    } else if (!NodeMatchesLocations(manifest, node_it->second, &where)) {
      j.misplaced = true;
      j.reason = fmt::format("{} is {}", Where(node_it->second), where);
    } else {
      j.keep = true;
      if (obs.contracts.at(ns.contract_id).state == "GracePeriod") {
        warn(fmt::format("contract {} ({}) is in its grace period", ns.contract_id, ns.Slot()),
             "the wallet could not pay for it; its namespace does not answer until the balance "
             "is topped up (`qstor wallet topup`)");
      }
    }
    judged[{ns.role, ns.index}] = j;
  }
  // Spread rules on the data slots that are kept: a later slot on a farm or
  // country already used by an earlier kept slot is misplaced.
  {
    std::set<uint32_t> farms, nodes_seen;
    std::set<std::string> countries;
    for (auto& [key, j] : judged) {
      if (key.first != Role::kData || !j.keep) continue;
      const grid::Node& n = obs.nodes.at(j.ns->node_id);
      std::string c = Lower(n.location.country);
      if ((manifest.distinct_farms && farms.count(n.farm_id)) ||
          (manifest.distinct_countries && countries.count(c)) || nodes_seen.count(n.node_id)) {
        j.keep = false;
        j.misplaced = true;
        j.reason = fmt::format("{} breaks the spread rules (another data slot shares its {})",
                               Where(n),
                               nodes_seen.count(n.node_id)
                                   ? "node"
                                   : (manifest.distinct_farms && farms.count(n.farm_id) ? "farm"
                                                                                        : "country"));
        continue;
      }
      farms.insert(n.farm_id);
      countries.insert(c);
      nodes_seen.insert(n.node_id);
    }
  }
  // Misplaced but healthy slots hold data: replacing too many at once would
  // lose it. Allow at most m - (dead data slots) per apply for data, and keep
  // a majority of the metadata replicas.
  {
    int dead_data = 0, dead_meta = 0;
    for (auto& [key, j] : judged) {
      if (!j.keep && !j.misplaced) (key.first == Role::kData ? dead_data : dead_meta)++;
    }
    int allow_data = std::max(0, m - dead_data);
    int allow_meta = std::max(0, static_cast<int>(n_meta - 1) / 2 - dead_meta);
    for (auto& [key, j] : judged) {
      if (!j.misplaced) continue;
      int& allow = key.first == Role::kData ? allow_data : allow_meta;
      if (allow > 0) {
        allow--;
      } else {
        j.keep = true;
        j.misplaced = false;
        warn(fmt::format("{} stays where it is for now: {}", j.ns->Slot(), j.reason),
             "moving more namespaces in one apply could lose data; run `qstor fs repair`, then "
             "`qstor apply` again to move the rest");
      }
    }
  }

  // Pass 2: desired slots -> actions, choosing nodes.
  std::map<Role, std::vector<uint32_t>> taken;  // nodes of kept/planned slots per role
  for (auto& [key, j] : judged) {
    if (j.keep || j.complete) taken[key.first].push_back(j.ns->node_id);
  }
  auto other_nodes = [&](Role r) {
    Role o = r == Role::kData ? Role::kMeta : Role::kData;
    return std::set<uint32_t>(taken[o].begin(), taken[o].end());
  };
  for (Role role : {Role::kData, Role::kMeta}) {
    uint32_t want = role == Role::kData ? n_data : n_meta;
    uint64_t size = role == Role::kData ? data_size : meta_size;
    for (uint32_t i = 0; i < want; i++) {
      auto it = judged.find({role, i});
      Action a;
      a.role = role;
      a.index = i;
      a.size_bytes = size;
      if (it != judged.end() && it->second.complete) {
        const NamespaceState& ns = *it->second.ns;
        a.kind = ActionKind::kComplete;
        a.node_id = ns.node_id;
        a.node_why = "its contract's node, " + Where(obs.nodes.at(ns.node_id));
        a.old_contract_id = ns.contract_id;
        a.old_node_id = ns.node_id;
        a.reason = it->second.reason;
        a.monthly_cost_delta = 0;  // the contract is already billed
        completes.push_back(a);
        continue;
      }
      if (it != judged.end() && it->second.keep) {
        const NamespaceState& ns = *it->second.ns;
        if (ns.size_bytes == size) {
          // The size is right; the labels the contract records may not be
          // (metadata.labels changed, or the contract predates them).
          auto c = obs.contracts.find(ns.contract_id);
          if (c == obs.contracts.end()) continue;
          auto dd = DeploymentData::Decode(c->second.deployment_data);
          if (!dd.ok() || dd->labels == manifest.labels) continue;
          a.kind = ActionKind::kUpdate;
          a.node_id = ns.node_id;
          a.node_why = "the contract's deployment_data only";
          a.old_contract_id = ns.contract_id;
          a.old_node_id = ns.node_id;
          a.old_size_bytes = ns.size_bytes;
          a.reason = fmt::format("labels {} -> {}", LabelsText(dd->labels),
                                 LabelsText(manifest.labels));
          a.monthly_cost_delta = 0;
          updates.push_back(a);
          continue;
        }
        const grid::Node& n = obs.nodes.at(ns.node_id);
        if (size < ns.size_bytes || n.FreeHru() >= size - ns.size_bytes) {
          a.kind = ActionKind::kUpdate;
          a.node_id = ns.node_id;
          a.node_why = "in place on " + Where(n);
          a.old_contract_id = ns.contract_id;
          a.old_node_id = ns.node_id;
          a.old_size_bytes = ns.size_bytes;
          a.reason = fmt::format("size {} -> {}", FormatSize(ns.size_bytes), FormatSize(size));
          a.monthly_cost_delta = static_cast<int64_t>(MonthlyUnits(obs.pricing, size)) -
                                 static_cast<int64_t>(MonthlyUnits(obs.pricing, ns.size_bytes));
          updates.push_back(a);
          continue;
        }
        // Not enough room on its node: move it.
        it->second.keep = false;
        it->second.reason = fmt::format("node {} has {} free HRU, not the {} more it needs",
                                        ns.node_id, FormatSize(n.FreeHru()),
                                        FormatSize(size - ns.size_bytes));
        auto& t = taken[role];
        t.erase(std::find(t.begin(), t.end(), ns.node_id));
      }
      uint32_t salt = (role == Role::kData ? 0u : 1000u) + i;
      auto choice = ChooseNode(manifest, obs.nodes, role, size, taken[role], other_nodes(role),
                               options.avoid_nodes, options.seed, salt);
      if (!choice.ok()) {
        error(fmt::format("cannot place {}[{}]", RoleName(role), i), choice.status().message());
        continue;
      }
      a.node_id = choice->node_id;
      a.node_why = choice->why;
      a.monthly_cost_delta = static_cast<int64_t>(MonthlyUnits(obs.pricing, size));
      taken[role].push_back(choice->node_id);
      if (it == judged.end()) {
        a.kind = ActionKind::kCreate;
        a.reason = "new";
        creates.push_back(a);
      } else {
        const NamespaceState& ns = *it->second.ns;
        a.kind = ActionKind::kReplace;
        a.reason = it->second.reason;
        a.old_contract_id = obs.contracts.count(ns.contract_id) ? ns.contract_id : 0;
        a.old_node_id = ns.node_id;
        a.old_size_bytes = ns.size_bytes;
        if (a.old_contract_id != 0) {
          a.monthly_cost_delta -= static_cast<int64_t>(MonthlyUnits(obs.pricing, ns.size_bytes));
        }
        replaces.push_back(a);
      }
    }
  }
  for (const auto& c : obs.orphans) {
    auto d = DeploymentData::Decode(c.deployment_data);
    Action a;
    a.kind = ActionKind::kDelete;
    a.role = d.ok() ? d->role : Role::kData;
    a.index = d.ok() ? d->index : 0;
    a.old_contract_id = c.contract_id;
    a.old_node_id = c.node_id;
    a.reason = fmt::format("contract {} on node {} is a leftover of an interrupted apply (its "
                           "slot is owned by another contract)",
                           c.contract_id, c.node_id);
    deletes.push_back(a);
  }
  for (auto& d : ShrinkDiagnostics(manifest, updates, obs)) plan.diagnostics.push_back(d);
  // Order: new capacity first, then in-place changes, then removals, so the
  // data always has somewhere to live.
  for (auto* v : {&creates, &completes, &replaces, &updates, &deletes}) {
    plan.actions.insert(plan.actions.end(), v->begin(), v->end());
  }
  plan.observed_digest = ObservationDigest(obs, plan.actions);

  // Cost before (what runs now) and after (what the manifest asks).
  for (const auto& ns : st.namespaces) {
    if (ns.contract_id != 0 && obs.contracts.count(ns.contract_id)) {
      plan.monthly_before += MonthlyUnits(obs.pricing, ns.size_bytes);
    }
  }
  for (const auto& c : obs.orphans) {
    (void)c;  // orphans' sizes are unknown without their deployment; not counted
  }
  plan.monthly_after = MonthlyUnits(obs.pricing, data_size) * n_data +
                       MonthlyUnits(obs.pricing, meta_size) * n_meta;
  if (manifest.budget.max_monthly_tft) {
    auto limit = static_cast<uint64_t>(std::llround(*manifest.budget.max_monthly_tft *
                                                    static_cast<double>(grid::kUnitsPerTft)));
    if (plan.monthly_after > limit) {
      std::string s = fmt::format("the plan costs {} per month, over spec.budget.maxMonthlyTFT {}",
                                  grid::FormatTft(plan.monthly_after), grid::FormatTft(limit));
      std::string d = fmt::format(
          "{} data namespaces of {} and {} metadata namespaces of {}; lower spec.capacity or "
          "the redundancy, or raise the budget",
          n_data, FormatSize(data_size), n_meta, FormatSize(meta_size));
      if (manifest.budget.on_exceed == Manifest::Budget::OnExceed::kRefuse) {
        error(s, d);
      } else {
        warn(s, d);
      }
    }
  }
  if (obs.balance_units && !plan.actions.empty()) {
    uint64_t need = plan.monthly_after * static_cast<uint64_t>(manifest.budget.prepaid_months);
    if (*obs.balance_units < need) {
      warn(fmt::format("the wallet holds {}, less than the {} that {} prepaid month(s) need",
                       grid::FormatTft(*obs.balance_units), grid::FormatTft(need),
                       manifest.budget.prepaid_months),
           "apply refuses to start until the balance covers spec.budget.prepaidMonths; top up "
           "with `qstor wallet topup --amount N`");
    }
  }
  return plan;
}

std::string RenderPlan(const Plan& plan, bool color) {
  auto paint = [&](const char* code, const std::string& s) {
    return color ? fmt::format("\033[{}m{}\033[0m", code, s) : s;
  };
  std::ostringstream o;
  o << fmt::format("qstor plan for \"{}\" on {} (seed {})\n", plan.name, plan.network, plan.seed);
  if (plan.register_twin) o << paint("32", "  + twin") << ": register this key's twin on the network\n";
  for (const auto& a : plan.actions) {
    std::string head;
    switch (a.kind) {
      case ActionKind::kCreate:
        head = paint("32", "  + " + a.Slot()) + " will be created";
        break;
      case ActionKind::kComplete:
        head = paint("33", "  ~ " + a.Slot()) + " will be completed";
        break;
      case ActionKind::kUpdate:
        head = paint("33", "  ~ " + a.Slot()) + " will be updated in-place";
        break;
      case ActionKind::kReplace:
        head = paint("35", "-/+ " + a.Slot()) + " will be replaced";
        break;
      case ActionKind::kDelete:
        head = paint("31", "  - " + a.Slot()) + " will be destroyed";
        break;
    }
    o << head << "\n";
    o << "      reason: " << a.reason << "\n";
    if (a.kind == ActionKind::kCreate || a.kind == ActionKind::kReplace ||
        a.kind == ActionKind::kComplete) {
      o << "      node:   " << a.node_why << "\n";
      o << "      size:   " << FormatSize(a.size_bytes) << "\n";
    }
    if (a.kind == ActionKind::kUpdate && a.size_bytes != a.old_size_bytes) {
      o << fmt::format("      size:   {} -> {} ({})\n", FormatSize(a.old_size_bytes),
                       FormatSize(a.size_bytes), a.node_why);
    }
    if (a.old_contract_id != 0 && a.kind != ActionKind::kComplete) {
      o << fmt::format("      was:    contract {} on node {}\n", a.old_contract_id, a.old_node_id);
    }
    o << fmt::format("      cost:   {}/month\n", SignedTft(a.monthly_cost_delta));
  }
  for (const auto& d : plan.diagnostics) {
    bool err = d.severity == PlanDiagnostic::Severity::kError;
    o << "\n" << paint(err ? "31" : "33", err ? "Error: " : "Warning: ") << d.summary << "\n";
    if (!d.detail.empty()) o << "  " << d.detail << "\n";
  }
  if (plan.rebuild_pending()) {
    o << "\n"
      << paint("33", "  ~ rebuild") << ": " << fmt::format("{}", fmt::join(plan.rebuild_slots, ", "))
      << (plan.rebuild_slots.size() == 1 ? " was" : " were")
      << " replaced and not rebuilt yet: the storage has less redundancy than its layout.\n"
      << "      apply rebuilds the shards and metadata replicas there (fs check + fs repair)\n"
      << "      before it reports done; `qstor fs repair " << plan.manifest_file
      << "` does the same.\n";
  }
  if (plan.count(ActionKind::kReplace) > 0) {
    o << "\nAfter the replacements, apply rebuilds the shards and metadata replicas of the new\n"
         "namespaces (fs repair) and only then reports done.\n";
  }
  o << "\n";
  if (plan.empty() && plan.rebuild_pending()) {
    o << "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy; 1 rebuild to finish.\n";
  } else if (plan.empty()) {
    o << "No changes. The grid matches the manifest.\n";
  } else {
    o << fmt::format("Plan: {} to add, {} to change, {} to replace, {} to destroy.\n",
                     plan.count(ActionKind::kCreate),
                     plan.count(ActionKind::kUpdate) + plan.count(ActionKind::kComplete),
                     plan.count(ActionKind::kReplace), plan.count(ActionKind::kDelete));
  }
  int64_t delta = static_cast<int64_t>(plan.monthly_after) - static_cast<int64_t>(plan.monthly_before);
  double usd = plan.pricing.tft_usd * static_cast<double>(plan.monthly_after) /
               static_cast<double>(grid::kUnitsPerTft);
  o << fmt::format("Cost: {}/month now, {}/month after ({} ; about {:.2f} USD/month, {}/hour)\n",
                   grid::FormatTft(plan.monthly_before), grid::FormatTft(plan.monthly_after),
                   SignedTft(delta), usd,
                   grid::FormatTft((plan.monthly_after + kMonthSeconds / 3600 - 1) /
                                   (kMonthSeconds / 3600)));
  return o.str();
}

std::string RenderPlanEvents(const Plan& plan) {
  std::ostringstream o;
  auto line = [&](nlohmann::json j) { o << j.dump() << "\n"; };
  line({{"type", "version"}, {"qstor_plan_events", 1}, {"name", plan.name}, {"network", plan.network},
        {"seed", plan.seed}});
  if (plan.register_twin) line({{"type", "planned_change"}, {"change", {{"action", "register_twin"}}}});
  for (const auto& a : plan.actions) line({{"type", "planned_change"}, {"change", a.ToJson()}});
  for (const auto& d : plan.diagnostics) line({{"type", "diagnostic"}, {"diagnostic", d.ToJson()}});
  if (plan.rebuild_pending()) {
    line({{"type", "rebuild_pending"}, {"slots", plan.rebuild_slots}});
  }
  line({{"type", "change_summary"},
        {"changes",
         {{"add", plan.count(ActionKind::kCreate)},
          {"change", plan.count(ActionKind::kUpdate) + plan.count(ActionKind::kComplete)},
          {"replace", plan.count(ActionKind::kReplace)},
          {"remove", plan.count(ActionKind::kDelete)},
          {"register_twin", plan.register_twin}}}});
  line({{"type", "cost"},
        {"monthly_before_units", plan.monthly_before},
        {"monthly_after_units", plan.monthly_after},
        {"monthly_before_tft", static_cast<double>(plan.monthly_before) / grid::kUnitsPerTft},
        {"monthly_after_tft", static_cast<double>(plan.monthly_after) / grid::kUnitsPerTft},
        {"tft_usd", plan.pricing.tft_usd}});
  return o.str();
}

}  // namespace qstor::reconciler
