// Planning as a pure function: manifests and observations in, actions out.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reconciler/plan.h"
#include "reconciler/state.h"

namespace qstor::reconciler {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kTB = 1000ull * 1000 * 1000 * 1000;

Manifest Load(const std::string& spec_extra, const std::string& capacity = "1GiB", int k = 4,
              int m = 2) {
  std::string yaml = "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: t\n"
                     "spec:\n  network: devnet\n  capacity: " +
                     capacity + "\n  redundancy:\n    dataShards: " + std::to_string(k) +
                     "\n    parityShards: " + std::to_string(m) + "\n" + spec_extra;
  auto r = LoadManifestText(yaml, "t.yaml");
  for (const auto& d : r.diagnostics) ADD_FAILURE() << d.ToString();
  EXPECT_TRUE(r.ok());
  return r.manifests.empty() ? Manifest{} : r.manifests.front();
}

// 12 nodes: farms 1..6 (two nodes each), countries by farm.
Observation Grid12() {
  Observation o;
  o.network = "devnet";
  o.twin_registered = true;
  o.twin_id = 7;
  o.pricing.su_usd_per_hour = 10.0 / 720.0;
  o.pricing.tft_usd = 0.01;
  const char* countries[] = {"Belgium", "Belgium", "Egypt", "Egypt", "Japan", "Brazil"};
  for (uint32_t id = 1; id <= 12; id++) {
    grid::Node n;
    n.node_id = id;
    n.farm_id = (id + 1) / 2;
    n.status = "up";
    n.location.country = countries[n.farm_id - 1];
    n.location.city = "C" + std::to_string(n.farm_id);
    n.location.region = n.farm_id <= 2 ? "Europe" : "Elsewhere";
    n.total.hru = 4 * kTB;
    o.nodes[id] = n;
  }
  return o;
}

// Turns a plan's creates into a deployed state (what a successful apply leaves).
Observation Applied(const Manifest& m, Observation o, const Plan& p) {
  uint64_t contract = 100;
  o.have_state = true;
  o.state.name = m.name;
  o.state.network = m.network;
  o.state.lineage = "L";
  o.state.serial = 3;
  o.state.data_shards = m.data_shards;
  o.state.parity_shards = m.parity_shards;
  for (const auto& a : p.actions) {
    NamespaceState ns;
    ns.role = a.role;
    ns.index = a.index;
    ns.node_id = a.node_id;
    ns.contract_id = ++contract;
    ns.size_bytes = a.size_bytes;
    ns.ns = "ns";
    ns.port = 9900;
    o.state.namespaces.push_back(ns);
    grid::Contract c;
    c.contract_id = contract;
    c.node_id = a.node_id;
    c.state = "Created";
    o.contracts[contract] = c;
    o.workload_status[contract] = "ok";
  }
  return o;
}

std::set<uint32_t> DataNodes(const Plan& p) {
  std::set<uint32_t> s;
  for (const auto& a : p.actions) {
    if (a.role == Role::kData) s.insert(a.node_id);
  }
  return s;
}

TEST(PlanSizes, HeadroomAndRounding) {
  EXPECT_EQ(DataNamespaceSize(1 * kGiB, 4), 282 * kMiB);  // 256 MiB + 10 %, up to a MiB
  EXPECT_EQ(DataNamespaceSize(1000, 3), kMiB);
  EXPECT_EQ(MetaNamespaceSize(1 * kGiB), 256 * kMiB);       // floor
  EXPECT_EQ(MetaNamespaceSize(100 * kGiB), 1024 * kMiB);    // 1 %
  EXPECT_EQ(MetaNamespaceSize(100000 * kGiB), 64 * kGiB);   // cap
}

TEST(Plan, FreshManifestCreatesEverythingOnDistinctNodes) {
  Manifest m = Load("");
  Observation o = Grid12();
  o.twin_registered = false;
  Plan p = MakePlan(m, o, {42, {}});
  ASSERT_FALSE(p.has_errors()) << RenderPlan(p, false);
  EXPECT_TRUE(p.register_twin);
  EXPECT_EQ(p.count(ActionKind::kCreate), 6 + 4);
  EXPECT_EQ(DataNodes(p).size(), 6u);
  std::set<uint32_t> meta;
  for (const auto& a : p.actions) {
    if (a.role == Role::kMeta) meta.insert(a.node_id);
    EXPECT_FALSE(a.node_why.empty());
    EXPECT_GT(a.monthly_cost_delta, 0);
  }
  EXPECT_EQ(meta.size(), 4u);
  EXPECT_EQ(p.monthly_before, 0u);
  EXPECT_GT(p.monthly_after, 0u);
  std::string text = RenderPlan(p, false);
  EXPECT_NE(text.find("+ data[0] will be created"), std::string::npos) << text;
  EXPECT_NE(text.find("Plan: 10 to add, 0 to change, 0 to replace, 0 to destroy."),
            std::string::npos);
}

TEST(Plan, SameSeedSameNodesAndTheSeedIsRecorded) {
  Manifest m = Load("");
  Plan a = MakePlan(m, Grid12(), {5, {}});
  Plan b = MakePlan(m, Grid12(), {5, {}});
  EXPECT_EQ(a.ToJson()["actions"], b.ToJson()["actions"]);
  EXPECT_EQ(a.seed, 5u);
  bool differs = false;
  for (uint64_t s = 6; s < 16 && !differs; s++) {
    differs = MakePlan(m, Grid12(), {s, {}}).ToJson()["actions"] != a.ToJson()["actions"];
  }
  EXPECT_TRUE(differs) << "ten seeds all chose the same nodes";
}

TEST(Plan, DefaultSeedIsDerivedFromStateAndManifest) {
  Manifest m = Load("");
  uint64_t s0 = DefaultSeed("", 0, m);
  EXPECT_EQ(s0, DefaultSeed("", 0, m)) << "same inputs, same seed";
  EXPECT_LT(s0, 1000000000u) << "short enough to retype";
  EXPECT_NE(s0, DefaultSeed("", 1, m)) << "the serial counts";
  EXPECT_NE(DefaultSeed("lineage-a", 3, m), DefaultSeed("lineage-b", 3, m)) << "the lineage counts";
  Manifest bigger = m;
  bigger.capacity_bytes += 1ull << 30;
  EXPECT_NE(s0, DefaultSeed("", 0, bigger)) << "the manifest counts";
  // Same seed, same observation: the same nodes.
  EXPECT_EQ(MakePlan(m, Grid12(), {s0, {}}).ToJson()["actions"],
            MakePlan(m, Grid12(), {DefaultSeed("", 0, m), {}}).ToJson()["actions"]);
}

TEST(Plan, SpreadRulesDistinctFarmsAndCountries) {
  Manifest farms = Load("", "1GiB", 4, 2);
  farms.distinct_farms = true;
  Plan p = MakePlan(farms, Grid12(), {1, {}});
  ASSERT_FALSE(p.has_errors());
  std::set<uint32_t> fs;
  for (const auto& a : p.actions) {
    if (a.role == Role::kData) fs.insert((a.node_id + 1) / 2);
  }
  EXPECT_EQ(fs.size(), 6u);

  // Only 4 countries exist: 6 shards in distinct countries cannot be placed.
  Manifest countries = farms;
  countries.distinct_countries = true;
  Plan q = MakePlan(countries, Grid12(), {1, {}});
  ASSERT_TRUE(q.has_errors());
  std::string text = RenderPlan(q, false);
  EXPECT_NE(text.find("cannot place data[4]"), std::string::npos) << text;
  EXPECT_NE(text.find("12 are up"), std::string::npos) << text;
  EXPECT_NE(text.find("distinct countries"), std::string::npos) << text;
}

TEST(Plan, LocationsCountsAndExclusions) {
  Manifest m = Load(
      "  locations:\n    select:\n      - country: Egypt\n        count: 2\n      - region: "
      "Elsewhere\n    exclude:\n      - node: 5\n");
  const Observation grid = Grid12();
  for (uint64_t seed = 0; seed < 20; seed++) {
    Plan p = MakePlan(m, grid, {seed, {}});
    ASSERT_FALSE(p.has_errors()) << RenderPlan(p, false);
    int egypt = 0;
    for (const auto& a : p.actions) {
      EXPECT_NE(a.node_id, 5u) << "excluded node chosen";
      const auto& n = grid.nodes.at(a.node_id);
      EXPECT_TRUE(n.location.country == "Egypt" || n.location.region == "Elsewhere") << a.node_id;
      if (a.role == Role::kData && n.location.country == "Egypt") egypt++;
    }
    EXPECT_EQ(egypt, 2) << "seed " << seed;
  }
}

TEST(Plan, AppliedStateHasNoChanges) {
  Manifest m = Load("");
  Observation o = Grid12();
  Plan first = MakePlan(m, o, {9, {}});
  Observation after = Applied(m, o, first);
  Plan again = MakePlan(m, after, {10, {}});
  EXPECT_TRUE(again.empty()) << RenderPlan(again, false);
  EXPECT_EQ(again.monthly_before, again.monthly_after);
  EXPECT_NE(RenderPlan(again, false).find("No changes."), std::string::npos);
}

TEST(Plan, DownNodeIsReplacedElsewhereAndNeverOnAnAvoidedNode) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  const NamespaceState& victim = *o.state.Find(Role::kData, 2);
  o.nodes[victim.node_id].status = "down";
  std::set<uint32_t> used;
  for (const auto& ns : o.state.namespaces) used.insert(ns.node_id);
  std::set<uint32_t> avoid;
  for (uint32_t id = 1; id <= 12; id++) {
    if (!used.count(id) && id % 2 == 0) avoid.insert(id);
  }
  Plan p = MakePlan(m, o, {4, avoid});
  ASSERT_EQ(p.actions.size(), 1u) << RenderPlan(p, false);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kReplace);
  EXPECT_EQ(a.Slot(), "data[2]");
  EXPECT_EQ(a.old_contract_id, victim.contract_id);
  EXPECT_NE(a.reason.find("is down"), std::string::npos) << a.reason;
  EXPECT_NE(a.node_id, victim.node_id);
  EXPECT_FALSE(avoid.count(a.node_id));
  for (const auto* ns : o.state.ByRole(Role::kData)) EXPECT_NE(a.node_id, ns->node_id);
  EXPECT_NE(RenderPlan(p, false).find("-/+ data[2] will be replaced"), std::string::npos);
}

TEST(Plan, GoneContractAndBrokenNamespaceAreReplaced) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  uint64_t gone = o.state.Find(Role::kMeta, 1)->contract_id;
  o.contracts.erase(gone);
  uint64_t broken = o.state.Find(Role::kData, 0)->contract_id;
  o.workload_status[broken] = "error: disk full";
  Plan p = MakePlan(m, o, {4, {}});
  ASSERT_EQ(p.actions.size(), 2u) << RenderPlan(p, false);
  for (const auto& a : p.actions) EXPECT_EQ(a.kind, ActionKind::kReplace);
  const Action& meta = p.actions[0].role == Role::kMeta ? p.actions[0] : p.actions[1];
  EXPECT_EQ(meta.old_contract_id, 0u) << "a gone contract needs no cancel";
  EXPECT_NE(meta.reason.find("gone from the grid"), std::string::npos);
}

TEST(Plan, GrowthIsInPlaceWhenTheNodeHasRoomElseAMove) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  Manifest bigger = Load("", "2GiB");
  const NamespaceState& d0 = *o.state.Find(Role::kData, 0);
  o.nodes[d0.node_id].used.hru = o.nodes[d0.node_id].total.hru - 10 * kMiB;  // full
  Plan p = MakePlan(bigger, o, {4, {}});
  ASSERT_FALSE(p.has_errors()) << RenderPlan(p, false);
  // Data namespaces grow 282 -> 564 MiB; metadata stays at its 256 MiB floor.
  EXPECT_EQ(p.count(ActionKind::kUpdate), 5) << RenderPlan(p, false);
  ASSERT_EQ(p.count(ActionKind::kReplace), 1) << RenderPlan(p, false);
  for (const auto& a : p.actions) {
    EXPECT_EQ(a.role, Role::kData);
    EXPECT_EQ(a.size_bytes, 564 * kMiB);
    if (a.kind == ActionKind::kReplace) {
      EXPECT_EQ(a.Slot(), "data[0]");
      EXPECT_NE(a.reason.find("free HRU"), std::string::npos) << a.reason;
    } else {
      EXPECT_EQ(a.old_size_bytes, 282 * kMiB);
      EXPECT_GT(a.monthly_cost_delta, 0);
    }
  }
}

// metadata.labels live in every contract's deployment_data: a manifest
// whose labels differ from what the contracts record updates the contracts
// only (same size, no cost), and a match plans nothing.
TEST(Plan, LabelChangeUpdatesTheContractsDataOnly) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  for (auto& [id, c] : o.contracts) {
    const NamespaceState* ns = nullptr;
    for (const auto& n : o.state.namespaces) {
      if (n.contract_id == id) ns = &n;
    }
    ASSERT_NE(ns, nullptr);
    c.deployment_data = DeploymentData{"t", "devnet", ns->role, ns->index, 4, 2, kGiB}.Encode();
  }
  EXPECT_TRUE(MakePlan(m, o, {4, {}}).empty()) << "no labels on either side";

  Manifest labelled = m;
  labelled.labels = {{"team", "media"}, {"env", "prod"}};
  Plan p = MakePlan(labelled, o, {4, {}});
  ASSERT_FALSE(p.has_errors()) << RenderPlan(p, false);
  EXPECT_EQ(p.count(ActionKind::kUpdate), 10) << RenderPlan(p, false);
  EXPECT_EQ(p.actions.size(), 10u);
  for (const auto& a : p.actions) {
    EXPECT_EQ(a.size_bytes, a.old_size_bytes) << a.Slot();
    EXPECT_EQ(a.monthly_cost_delta, 0) << a.Slot();
    EXPECT_EQ(a.reason, "labels {} -> {env=prod, team=media}") << a.Slot();
  }
  const std::string text = RenderPlan(p, false);
  EXPECT_EQ(text.find("size:"), std::string::npos) << "no size change is shown: " << text;
  EXPECT_EQ(p.monthly_before, p.monthly_after);

  // Once the contracts record them: nothing to do; a different value again updates.
  for (auto& [id, c] : o.contracts) {
    auto d = DeploymentData::Decode(c.deployment_data);
    ASSERT_TRUE(d.ok());
    d->labels = labelled.labels;
    c.deployment_data = d->Encode();
  }
  EXPECT_TRUE(MakePlan(labelled, o, {5, {}}).empty()) << RenderPlan(MakePlan(labelled, o, {5, {}}), false);
  Manifest other = labelled;
  other.labels["env"] = "staging";
  EXPECT_EQ(MakePlan(other, o, {5, {}}).count(ActionKind::kUpdate), 10);
}

TEST(Plan, SelectorsParseMatchAndSayWhatIsWrong) {
  auto all = ParseSelector("");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_TRUE(LabelsMatch({}, *all)) << "the empty selector selects everything";
  auto s = ParseSelector(" team = media ,env=prod");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (Labels{{"team", "media"}, {"env", "prod"}}));
  EXPECT_EQ(LabelsText(*s), "{env=prod, team=media}");
  EXPECT_TRUE(LabelsMatch({{"team", "media"}, {"env", "prod"}, {"x", "y"}}, *s));
  EXPECT_FALSE(LabelsMatch({{"team", "media"}}, *s)) << "every pair must be there";
  EXPECT_FALSE(LabelsMatch({{"team", "media"}, {"env", "dev"}}, *s));
  EXPECT_TRUE(ParseSelector("empty=").ok()) << "an empty value is a value";
  for (const char* bad : {"team", "=x", "a=b,,c=d", "a=b,", ","}) {
    auto r = ParseSelector(bad);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("is not key=value"), std::string::npos) << bad;
  }
  auto twice = ParseSelector("a=b,a=c");
  EXPECT_NE(twice.status().message().find("a is asked to be both \"b\" and \"c\""),
            std::string::npos)
      << twice.status().message();
}

TEST(Plan, LabelsBeyondWhatDeploymentDataHoldsAreAManifestError) {
  std::string yaml =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: t\n  labels:\n";
  for (int i = 0; i < 10; i++) {
    yaml += "    key" + std::to_string(i) + ": " + std::string(30, 'v') + "\n";
  }
  yaml += "spec:\n  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 4\n"
          "    parityShards: 2\n";
  auto r = LoadManifestText(yaml, "t.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_NE(r.diagnostics.front().ToString().find("metadata.labels: "), std::string::npos)
      << r.diagnostics.front().ToString();
  EXPECT_NE(r.diagnostics.front().ToString().find("the limit is 256"), std::string::npos)
      << r.diagnostics.front().ToString();
}

TEST(Plan, ShrinkingRedundancyDeletesWithAWarning) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  Manifest smaller = Load("", "1GiB", 4, 1);
  Plan p = MakePlan(smaller, o, {4, {}});
  EXPECT_EQ(p.count(ActionKind::kDelete), 1) << RenderPlan(p, false);
  EXPECT_EQ(p.actions.back().Slot(), "data[5]");
  std::string text = RenderPlan(p, false);
  EXPECT_NE(text.find("redundancy changes from 4+2 to 4+1"), std::string::npos) << text;
  EXPECT_NE(text.find("qstor fs repair"), std::string::npos) << text;
}

TEST(Plan, MovingForNewLocationsNeverTakesMoreThanParityAtOnce) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  // Now exclude every node in use: all 6 data slots are misplaced.
  std::string ex = "  locations:\n    exclude:\n";
  for (const auto* ns : o.state.ByRole(Role::kData)) ex += "      - node: " + std::to_string(ns->node_id) + "\n";
  Manifest moved = Load(ex);
  // Not enough free nodes for all of them anyway; the limit is what matters.
  Plan p = MakePlan(moved, o, {4, {}});
  int data_moves = 0;
  for (const auto& a : p.actions) {
    if (a.role == Role::kData && a.kind == ActionKind::kReplace) data_moves++;
  }
  EXPECT_EQ(data_moves, 2) << RenderPlan(p, false);
  EXPECT_NE(RenderPlan(p, false).find("stays where it is for now"), std::string::npos);
}

TEST(Plan, BudgetRefusesOrWarns) {
  Manifest m = Load("  budget:\n    maxMonthlyTFT: 0.5\n");
  Plan p = MakePlan(m, Grid12(), {1, {}});
  EXPECT_TRUE(p.has_errors());
  EXPECT_NE(RenderPlan(p, false).find("over spec.budget.maxMonthlyTFT"), std::string::npos)
      << RenderPlan(p, false);
  Manifest w = Load("  budget:\n    maxMonthlyTFT: 0.5\n    onExceed: warn\n");
  Plan q = MakePlan(w, Grid12(), {1, {}});
  EXPECT_FALSE(q.has_errors());
  EXPECT_FALSE(q.diagnostics.empty());
}

TEST(Plan, LowBalanceIsAWarningBeforeApply) {
  Manifest m = Load("");
  Observation o = Grid12();
  o.balance_units = 1;
  Plan p = MakePlan(m, o, {1, {}});
  EXPECT_NE(RenderPlan(p, false).find("qstor wallet topup"), std::string::npos);
}

// Issue 19 item 2: a shrink below what a namespace holds was a warning.
TEST(Plan, ShrinkBelowWhatANamespaceHoldsIsAnErrorWithTheNumbers) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  Manifest smaller = Load("", "256MiB");  // data namespaces 282 -> 71 MiB
  EXPECT_TRUE(MayShrink(smaller, o.state));
  EXPECT_FALSE(MayShrink(m, o.state));
  EXPECT_FALSE(MayShrink(Load("", "2GiB"), o.state));
  // Unknown use: refused, and says how to let qstor read it.
  Plan unknown = MakePlan(smaller, o, {4, {}});
  EXPECT_TRUE(unknown.has_errors());
  EXPECT_NE(RenderPlan(unknown, false).find("how much it holds is unknown"), std::string::npos);
  for (const auto& ns : o.state.namespaces) o.used_bytes[ns.contract_id] = 10 * kMiB;
  Plan fits = MakePlan(smaller, o, {4, {}});
  EXPECT_FALSE(fits.has_errors()) << RenderPlan(fits, false);
  EXPECT_NE(RenderPlan(fits, false).find("data[0] shrinks from 282 MiB to 71 MiB (it holds 10 MiB)"),
            std::string::npos)
      << RenderPlan(fits, false);
  const uint64_t d3 = o.state.Find(Role::kData, 3)->contract_id;
  o.used_bytes[d3] = 80 * kMiB;
  Plan over = MakePlan(smaller, o, {4, {}});
  ASSERT_TRUE(over.has_errors());
  std::string text = RenderPlan(over, false);
  EXPECT_NE(text.find("data[3] cannot shrink from 282 MiB to 71 MiB: it holds 80 MiB"),
            std::string::npos)
      << text;
  // The smallest capacity whose data namespaces hold 80 MiB: 288 MiB gives
  // 72 MiB + 10 % = 79.2 -> 80 MiB; 287 MiB gives 78.9 -> 79 MiB.
  EXPECT_NE(text.find("keep it at least 288 MiB"), std::string::npos) << text;
  o.used_errors[d3] = "connection refused";
  o.used_bytes.erase(d3);
  EXPECT_NE(RenderPlan(MakePlan(smaller, o, {4, {}}), false)
                .find("its namespace did not answer: connection refused"),
            std::string::npos);
}

TEST(Plan, NumbersOutOfTheirFieldsRangeAreRefusedNotCast) {
  Manifest m = Load("");
  nlohmann::json good = MakePlan(m, Grid12(), {77, {}}).ToJson();
  for (const char* bad : {"-1", "1e300", "1.5", "\"7\""}) {
    nlohmann::json j = good;
    j["seed"] = nlohmann::json::parse(bad);
    auto p = Plan::FromJson(j, "plan.json");
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("seed"), std::string::npos) << p.status().message();
    j = good;
    ASSERT_FALSE(j["actions"].empty());
    j["actions"][0]["index"] = int64_t{1} << 40;
    EXPECT_FALSE(Plan::FromJson(j, "plan.json").ok()) << "index must fit 32 bits";
  }
  State s = NewState("demo", "devnet");
  nlohmann::json sj = s.ToJson();
  sj["serial"] = 1e300;
  auto st = State::FromJson(sj, "state.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("state.json.serial: not an integer"), std::string::npos)
      << st.status().message();
  EXPECT_FALSE(DeploymentData::Decode(
                   R"({"type":"qstor","v":1,"name":"x","network":"devnet","role":"data","index":-1,"k":1,"m":0,"capacity":1})")
                   .ok());
}

TEST(Plan, JsonRoundTripAndTamperDetection) {
  Manifest m = Load("");
  Plan p = MakePlan(m, Grid12(), {77, {}});
  auto back = Plan::FromJson(p.ToJson(), "plan.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), p.ToJson());
  nlohmann::json j = p.ToJson();
  j["manifest"]["spec"] = "edited";
  auto bad = Plan::FromJson(j, "plan.json");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("digest"), std::string::npos);
  EXPECT_FALSE(Plan::FromJson(nlohmann::json::array(), "x").ok());
  // Events: one JSON object per line, typed.
  std::string ev = RenderPlanEvents(p);
  std::istringstream in(ev);
  std::string line;
  std::set<std::string> types;
  while (std::getline(in, line)) {
    auto e = nlohmann::json::parse(line);
    types.insert(e.at("type").get<std::string>());
  }
  EXPECT_EQ(types, (std::set<std::string>{"version", "planned_change", "change_summary", "cost"}));
}

// Issue 19: a rebuild an earlier apply left pending (State::rebuild_slots) is
// in the plan: not an action (empty() stays true), but shown, in the events,
// and kept by a saved plan file; a replace says apply rebuilds after it.
TEST(Plan, PendingRebuildIsShownAndSaved) {
  Manifest m = Load("");
  Observation o = Applied(m, Grid12(), MakePlan(m, Grid12(), {3, {}}));
  EXPECT_FALSE(MakePlan(m, o, {4, {}}).rebuild_pending());
  o.state.rebuild_slots = {"data[2]"};
  Plan p = MakePlan(m, o, {4, {}});
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.rebuild_pending());
  std::string text = RenderPlan(p, false);
  EXPECT_NE(text.find("~ rebuild: data[2] was replaced and not rebuilt yet"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("No changes."), std::string::npos) << text;
  EXPECT_NE(text.find("1 rebuild to finish"), std::string::npos) << text;
  std::istringstream in(RenderPlanEvents(p));
  std::string line;
  int pending = 0;
  while (std::getline(in, line)) {
    auto e = nlohmann::json::parse(line);
    if (e.at("type") == "rebuild_pending") {
      pending++;
      EXPECT_EQ(e.at("slots"), nlohmann::json::array({"data[2]"}));
    }
  }
  EXPECT_EQ(pending, 1);
  auto back = Plan::FromJson(p.ToJson(), "plan.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rebuild_slots, p.rebuild_slots);
  // A plan file written before the key existed still loads.
  nlohmann::json old = p.ToJson();
  old.erase("rebuild_slots");
  auto older = Plan::FromJson(old, "plan.json");
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  EXPECT_FALSE(older->rebuild_pending());

  // A replace: the plan says the rebuild follows.
  o.state.rebuild_slots.clear();
  o.nodes[o.state.Find(Role::kData, 2)->node_id].status = "down";
  std::string rtext = RenderPlan(MakePlan(m, o, {4, {}}), false);
  EXPECT_NE(rtext.find("apply rebuilds the shards and metadata replicas"), std::string::npos)
      << rtext;
}

// --- state -------------------------------------------------------------------

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qstor-state-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    path_ = StatePath(dir_.string(), "devnet", "demo");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StateTest, SaveLoadSerialLineageAndMode) {
  State s = NewState("demo", "devnet");
  EXPECT_EQ(s.lineage.size(), 36u);
  NamespaceState ns;
  ns.role = Role::kMeta;
  ns.index = 3;
  ns.node_id = 9;
  ns.contract_id = 44;
  ns.workload = "qstor_meta3";
  ns.size_bytes = 256 * kMiB;
  s.namespaces.push_back(ns);
  ASSERT_TRUE(SaveState(path_, s).ok());
  ASSERT_TRUE(SaveState(path_, s).ok());
  EXPECT_EQ(s.serial, 2u);
  auto back = LoadState(path_);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), s.ToJson());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(LoadState(path_ + ".nope").status().code(), Status::Code::kNotFound);
}

// The pending rebuild survives a save and a load; a state file written
// before the key existed loads with none.
TEST_F(StateTest, RebuildSlotsRoundTripAndOldStatesLoad) {
  State s = NewState("demo", "devnet");
  ASSERT_TRUE(SaveState(path_, s).ok());
  std::string text;
  {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  EXPECT_EQ(text.find("rebuild_slots"), std::string::npos) << "absent when empty: " << text;
  auto plain = LoadState(path_);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->rebuild_slots.empty());
  s.rebuild_slots = {"data[1]", "meta[0]"};
  ASSERT_TRUE(SaveState(path_, s).ok());
  auto back = LoadState(path_);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rebuild_slots, (std::vector<std::string>{"data[1]", "meta[0]"}));
  nlohmann::json bad = s.ToJson();
  bad["rebuild_slots"] = 7;
  auto wrong = State::FromJson(bad, "x.json");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("x.json.rebuild_slots: wrong type"), std::string::npos)
      << wrong.status().message();
}

// A qstor killed between WriteFileAtomic's write and rename leaves
// NAME.json.tmp.PID; the next load removes those of dead pids, not of live ones.
TEST_F(StateTest, LoadRemovesTemporariesOfDeadWriters) {
  State s = NewState("demo", "devnet");
  ASSERT_TRUE(SaveState(path_, s).ok());
  pid_t dead = ::fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = path_ + ".tmp." + std::to_string(dead);
  const std::string live = path_ + ".tmp." + std::to_string(::getppid());
  std::ofstream(stale) << "{";
  std::ofstream(live) << "{";
  ASSERT_TRUE(LoadState(path_).ok());
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
}

// A state file is read with a bound: a FIFO or /dev/zero in its place stops
// at the limit with an error naming the file.
TEST_F(StateTest, OversizedStateIsRefusedNamingTheFile) {
  State s = NewState("demo", "devnet");
  ASSERT_TRUE(SaveState(path_, s).ok());
  std::filesystem::remove(path_);
  std::filesystem::create_symlink("/dev/zero", path_);
  auto r = LoadState(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path_), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the limit for a state file"), std::string::npos)
      << r.status().ToString();
}

TEST_F(StateTest, DamagedStateSaysWhereAndWhat) {
  State s = NewState("demo", "devnet");
  ASSERT_TRUE(SaveState(path_, s).ok());
  {
    std::ofstream(path_) << "{\"format\":1,\"lineage\":\"x\",\"serial\":\"two\"}";
  }
  auto r = LoadState(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_NE(r.status().message().find(path_ + ".serial"), std::string::npos) << r.status().message();
  {
    std::ofstream(path_) << "{truncated";
  }
  EXPECT_EQ(LoadState(path_).status().code(), Status::Code::kCorruption);
}

// A hand-edited or damaged lock with fields of other types reads as a lock
// of an unknown holder (nlohmann's value() threw, ending the process).
TEST_F(StateTest, LockWithFieldsOfOtherTypesIsStillALock) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  std::ofstream(LockPath(path_)) << R"({"id": 5, "owner": ["x"], "pid": "12", "created": 1e300})";
  auto held = ReadLock(path_);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->id, "");
  EXPECT_EQ((*held)->pid, 0);
  EXPECT_EQ((*held)->created, 0);
  auto b = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(0));
  EXPECT_FALSE(b.ok()) << "someone's lock, even damaged, is not taken";
}

TEST_F(StateTest, LockIsExclusiveSaysWhoAndForceUnlockNeedsTheId) {
  auto a = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(0));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(300));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Status::Code::kAborted);
  EXPECT_NE(b.status().message().find(a->info().id), std::string::npos);
  EXPECT_NE(b.status().message().find("force-unlock"), std::string::npos);
  EXPECT_FALSE(a->info().Stale());
  EXPECT_EQ(ForceUnlock(path_, "wrong").code(), Status::Code::kFailedPrecondition);
  std::string id = a->info().id;
  ASSERT_TRUE(ForceUnlock(path_, id).ok());
  auto c = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(0));
  ASSERT_TRUE(c.ok());
  a->Release();  // must not remove c's lock
  auto held = ReadLock(path_);
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ((*held)->id, c->info().id);
  c->Release();
  held = ReadLock(path_);
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(held->has_value());
}

TEST_F(StateTest, LockOfADeadProcessIsStale) {
  pid_t child = ::fork();
  if (child == 0) {
    auto l = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(0));
    ::_exit(l.ok() ? 0 : 1);  // exits without releasing (the destructor does not run)
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto held = ReadLock(path_);
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_TRUE((*held)->Stale());
  EXPECT_NE((*held)->Describe().find("no longer running"), std::string::npos);
  // Nobody can hold it: the next Acquire takes it over and says whose it was.
  auto b = StateLock::Acquire(path_, "apply", std::chrono::milliseconds(0));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NE(b->info().took_over.find((*held)->id), std::string::npos) << b->info().took_over;
  auto now = ReadLock(path_);
  ASSERT_TRUE(now.ok() && now->has_value());
  EXPECT_EQ((*now)->id, b->info().id);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "state" / "devnet"),
                          std::filesystem::directory_iterator()),
            1) << "only the new lock file, no leftovers";
}

TEST(DeploymentDataTest, RoundTripAndForeignContracts) {
  DeploymentData d{"demo", "devnet", Role::kMeta, 3, 4, 2, 5 * kGiB};
  auto back = DeploymentData::Decode(d.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Encode(), d.Encode());
  EXPECT_LT(d.Encode().size(), 200u);
  EXPECT_EQ(DeploymentData::Decode("").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(DeploymentData::Decode(R"({"type":"vm","name":"x"})").status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(DeploymentData::Decode(R"({"type":"qstor","v":1,"name":"x"})").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(DeploymentData::Decode(
                   R"({"type":"qstor","v":1,"name":"x","network":"devnet","role":"root","index":0,"k":1,"m":0,"capacity":1})")
                   .ok());
}

TEST(DeploymentDataTest, LabelsRoundTripAndFitTheChainsLimit) {
  DeploymentData d{"a-forty-character-name-of-a-storage-abcd", "devnet", Role::kData, 99, 16, 8,
                   1000 * kGiB};
  EXPECT_EQ(d.Encode().find("labels"), std::string::npos) << "absent when there are none";
  // The largest labels a manifest may carry (kMaxLabelBytes as JSON).
  std::string v(kMaxLabelBytes - 12, 'x');  // {"k":"...."} is the value plus 8 bytes
  d.labels = {{"k", v}};
  ASSERT_LE(nlohmann::json(d.labels).dump().size(), kMaxLabelBytes);
  auto back = DeploymentData::Decode(d.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->labels, d.labels);
  EXPECT_LE(d.Encode().size(), 512u) << "the chain keeps at most 512 bytes of deployment_data";
  const std::string base =
      R"({"type":"qstor","v":1,"name":"x","network":"devnet","role":"data","index":0,"k":1,"m":0,"capacity":1,)";
  EXPECT_EQ(DeploymentData::Decode(base + R"("labels":[1]})").status().code(),
            Status::Code::kInvalidArgument);
  auto bad = DeploymentData::Decode(base + R"("labels":{"team":7}})");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("labels.team"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace qstor::reconciler
