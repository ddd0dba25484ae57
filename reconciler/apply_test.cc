// The reconciler end to end: the real `qstor` binary (QSTOR_BIN) against an
// in-process devnet whose nodes are real 0-db servers. Each test gets its own
// QSTOR_HOME, devnet data dir and free port; the devnet stops with the test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "devnet/devnet.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "reconciler/state.h"

namespace qstor::reconciler {
namespace {

namespace sfs = std::filesystem;
using nlohmann::json;

// A fixed test mnemonic (BIP39 test vector words; never used for real money).
constexpr const char* kMnemonic =
    "legal winner thank year wave sausage worth useful legal winner thank year wave sausage "
    "worth useful legal winner thank year wave sausage worth title";

struct Cmd {
  int code = -1;
  std::string out;
  std::string err;
};

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (sfs::temp_directory_path() /
             ("qstor-apply-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    sfs::remove_all(root_);
    sfs::create_directories(root_ + "/home");
    sfs::create_directories(root_ + "/devnet");
    devnet::DevnetOptions o;
    o.data_dir = root_ + "/devnet";
    const char* bin = std::getenv("QSTOR_BIN");
    ASSERT_NE(bin, nullptr) << "QSTOR_BIN must point at the qstor executable";
    bin_ = bin;
    o.qstor_bin = bin_;
    auto d = devnet::Devnet::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    devnet_ = std::move(d).value();
    ASSERT_EQ(Q("init").code, 0);
    WriteManifest("storage.yaml", "demo", "1GiB", 4, 2, "");
  }
  void TearDown() override {
    if (devnet_) devnet_->Stop();
    devnet_.reset();
    sfs::remove_all(root_);
  }

  Cmd Q(const std::string& args, const std::string& extra_env = "") {
    std::string out = root_ + "/out.txt", err = root_ + "/err.txt";
    std::string cmd = "cd '" + root_ + "' && env QSTOR_HOME='" + root_ + "/home' QSTOR_DEVNET_DIR='" +
                      root_ + "/devnet' QSTOR_PASSPHRASE='correct horse battery' QSTOR_MNEMONIC='" +
                      kMnemonic + "' " + extra_env + " '" + bin_ + "' " + args + " >'" + out +
                      "' 2>'" + err + "' </dev/null";
    int status = std::system(cmd.c_str());
    Cmd r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }
  static std::string Slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteManifest(const std::string& file, const std::string& name, const std::string& cap,
                     int k, int m, const std::string& extra) {
    std::ofstream(root_ + "/" + file)
        << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: " << name
        << "\nspec:\n  network: devnet\n  capacity: " << cap
        << "\n  redundancy:\n    dataShards: " << k << "\n    parityShards: " << m << "\n"
        << extra;
  }
  grid::HttpResult Raw(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    grid::HttpClient c(std::chrono::seconds(20));
    auto r = c.Send(method, devnet_->base_url() + path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : grid::HttpResult{};
  }
  // Funds the twin through the top-up QR flow (`wallet topup` prints the
  // bridge URI, the devnet plays the phone).
  void Fund(int tft) {
    Cmd t = Q("wallet topup --no-wait --amount " + std::to_string(tft));
    ASSERT_EQ(t.code, 0) << t.err;
    size_t at = t.out.find("\nTFT:");  // the URI's own line, after the QR
    ASSERT_NE(at, std::string::npos) << t.out;
    at++;
    std::string uri = t.out.substr(at, t.out.find('\n', at) - at);
    auto r = Raw("POST", "/bridge/deposit", json{{"uri", uri}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  State LoadDemoState() {
    auto s = LoadState(StatePath(root_ + "/home", "devnet", "demo"));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : State{};
  }
  // Contracts of one manifest (by its deployment_data), live only or all.
  size_t ContractsOf(const std::string& name, bool live_only) {
    auto r = Raw("GET", std::string("/contracts?size=5000") + (live_only ? "&state=Created" : ""));
    auto j = json::parse(r.body, nullptr, false);
    size_t n = 0;
    if (!j.is_array()) return 0;
    for (auto& c : j) {
      auto contract = grid::ContractFromJson(c);
      if (!contract.ok()) continue;
      auto d = DeploymentData::Decode(contract->deployment_data);
      if (d.ok() && d->name == name) n++;
    }
    return n;
  }
  // Live contracts of the twin on the devnet.
  std::vector<json> LiveContracts() {
    auto r = Raw("GET", "/contracts?state=Created&size=1000");
    auto j = json::parse(r.body, nullptr, false);
    std::vector<json> out;
    if (j.is_array()) {
      for (auto& c : j) out.push_back(c);
    }
    return out;
  }

  std::string root_;
  std::string bin_;
  std::unique_ptr<devnet::Devnet> devnet_;
};

TEST_F(ApplyTest, ApplyDeploysEverythingThenNothingToDo) {
  Fund(100);
  Cmd d = Q("diff storage.yaml --seed 11 --detailed-exitcode");
  EXPECT_EQ(d.code, 2) << d.out << d.err;
  EXPECT_NE(d.out.find("Plan: 10 to add, 0 to change, 0 to replace, 0 to destroy."),
            std::string::npos)
      << d.out;
  EXPECT_EQ(d.out.find("+ twin"), std::string::npos) << "the top-up registered the twin: " << d.out;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount --seed 11");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_NE(a.out.find("Apply complete! 10 added"), std::string::npos) << a.out;
  State s = LoadDemoState();
  ASSERT_EQ(s.namespaces.size(), 10u);
  std::set<uint32_t> data_nodes;
  for (const auto& ns : s.namespaces) {
    EXPECT_TRUE(ns.deployed()) << ns.Slot() << " " << ns.status;
    if (ns.role == Role::kData) data_nodes.insert(ns.node_id);
  }
  EXPECT_EQ(data_nodes.size(), 6u);
  EXPECT_EQ(LiveContracts().size(), 10u);
  std::string state_text = Slurp(StatePath(root_ + "/home", "devnet", "demo"));
  EXPECT_EQ(state_text.find("password"), std::string::npos) << "no secret in the state";
  EXPECT_EQ(a.out.find("correct horse"), std::string::npos);

  Cmd again = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("No changes."), std::string::npos);
  Cmd a2 = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(a2.code, 0) << a2.err;
  EXPECT_EQ(LiveContracts().size(), 10u) << "a second apply must not create anything";

  Cmd list = Q("list storage.yaml");
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("data[5]"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("meta[3]"), std::string::npos) << list.out;
  Cmd st = Q("--json status storage.yaml");
  auto sj = json::parse(st.out, nullptr, false);
  ASSERT_FALSE(sj.is_discarded()) << st.out << st.err;
  EXPECT_EQ(sj["storages"][0]["health"], "healthy") << st.out;
  EXPECT_EQ(sj["storages"][0]["can_lose_nodes"], 2);
  EXPECT_GT(sj["storages"][0]["runway_days"].get<double>(), 30.0);
}

TEST_F(ApplyTest, DeadNodeIsReplacedAndItsContractCancelled) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount --seed 3").code, 0);
  State s = LoadDemoState();
  const NamespaceState* victim = s.Find(Role::kData, 1);
  ASSERT_NE(victim, nullptr);
  uint32_t dead = victim->node_id;
  uint64_t old_contract = victim->contract_id;
  ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(dead) + "/down").status, 200);
  Cmd d = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(d.code, 2) << d.out << d.err;
  EXPECT_NE(d.out.find("-/+ data[1] will be replaced"), std::string::npos) << d.out;
  Cmd st = Q("status storage.yaml");
  EXPECT_EQ(st.code, 2) << st.out;
  EXPECT_NE(st.out.find("degraded"), std::string::npos) << st.out;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_NE(a.out.find("1 replaced"), std::string::npos) << a.out;
  State after = LoadDemoState();
  EXPECT_NE(after.Find(Role::kData, 1)->node_id, dead);
  EXPECT_TRUE(after.Find(Role::kData, 1)->deployed());
  auto c = Raw("GET", "/contracts/" + std::to_string(old_contract));
  EXPECT_EQ(json::parse(c.body)["state"], "Deleted") << c.body;
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
}

// Every fault point of ApplyOptions::fault, each like a SIGKILL (_exit, no
// cleanup): the next apply completes the work, pays no contract twice and
// leaves none unrecorded.
TEST_F(ApplyTest, EveryKillPointIsCompletedByTheNextApply) {
  // Before anything: a kill right after the twin registration.
  Cmd t = Q("apply storage.yaml --auto-approve --no-mount", "QSTOR_TEST_FAULT=exit-after-twin");
  ASSERT_EQ(t.code, 97) << t.out << t.err;
  Fund(300);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
  EXPECT_EQ(ContractsOf("demo", true), 10u);

  int round = 0;
  for (const char* fault :
       {"exit-after-first-contracts", "exit-after-contracts-saved", "exit-after-first-deploy"}) {
    SCOPED_TRACE(fault);
    std::string name = "kill" + std::to_string(++round);
    WriteManifest(name + ".yaml", name, "512MiB", 2, 1, "  metadata:\n    backends: 3\n");
    Cmd crash = Q("apply " + name + ".yaml --auto-approve --no-mount",
                  std::string("QSTOR_TEST_FAULT=") + fault);
    ASSERT_EQ(crash.code, 97) << crash.out << crash.err;
    EXPECT_GT(ContractsOf(name, false), 0u) << "the contracts are on the chain";
    Cmd a = Q("apply " + name + ".yaml --auto-approve --no-mount");
    ASSERT_EQ(a.code, 0) << a.out << a.err;
    EXPECT_NE(a.err.find("took over a stale lock"), std::string::npos) << a.err;
    EXPECT_EQ(ContractsOf(name, true), 6u) << a.out;
    EXPECT_EQ(ContractsOf(name, false), 6u) << "no contract paid twice: " << a.out;
    auto st = LoadState(StatePath(root_ + "/home", "devnet", name));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->namespaces.size(), 6u);
    for (const auto& ns : st->namespaces) EXPECT_TRUE(ns.deployed()) << ns.Slot();
    EXPECT_EQ(Q("diff " + name + ".yaml --detailed-exitcode").code, 0);
  }

  // Kills around the cancellation of a replaced namespace.
  for (const char* fault : {"exit-before-cancel", "exit-after-cancel"}) {
    SCOPED_TRACE(fault);
    State s = LoadDemoState();
    const NamespaceState* victim = s.Find(Role::kData, std::string(fault) == "exit-before-cancel" ? 0 : 1);
    ASSERT_NE(victim, nullptr);
    uint64_t old_contract = victim->contract_id;
    ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(victim->node_id) + "/down").status, 200);
    Cmd crash = Q("apply storage.yaml --auto-approve --no-mount",
                  std::string("QSTOR_TEST_FAULT=") + fault);
    ASSERT_EQ(crash.code, 97) << crash.out << crash.err;
    Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
    ASSERT_EQ(a.code, 0) << a.out << a.err;
    EXPECT_EQ(ContractsOf("demo", true), 10u) << a.out;
    auto c = Raw("GET", "/contracts/" + std::to_string(old_contract));
    EXPECT_EQ(json::parse(c.body)["state"], "Deleted") << c.body;
    EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
  }
}

TEST_F(ApplyTest, StalePlanFileIsRefused) {
  Fund(100);
  Cmd d = Q("diff storage.yaml -o plan.json --seed 8");
  ASSERT_EQ(d.code, 0) << d.err;
  ASSERT_TRUE(sfs::exists(root_ + "/plan.json"));
  std::string plan_text = Slurp(root_ + "/plan.json");
  EXPECT_EQ(plan_text.find("password"), std::string::npos);
  // A node the plan chose goes down: the plan no longer matches the grid.
  uint32_t chosen = json::parse(plan_text)["actions"][0]["node_id"].get<uint32_t>();
  ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(chosen) + "/down").status, 200);
  Cmd moved = Q("apply plan.json");
  EXPECT_EQ(moved.code, 1);
  EXPECT_NE(moved.err.find("the grid changed"), std::string::npos) << moved.err;
  EXPECT_EQ(LiveContracts().size(), 0u);
  ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(chosen) + "/up").status, 200);
  // Apply the same plan twice: the second one is stale (the state moved on).
  Cmd a = Q("apply plan.json");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  Cmd b = Q("apply plan.json");
  EXPECT_EQ(b.code, 1);
  EXPECT_NE(b.err.find("stale"), std::string::npos) << b.err;
  EXPECT_EQ(LiveContracts().size(), 10u);
}

TEST_F(ApplyTest, NotEnoughMoneyChangesNothingAndSaysHowToTopUp) {
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(a.code, 1) << a.out << a.err;
  EXPECT_NE(a.err.find("qstor wallet topup --amount"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("QR payload with the ThreeFold Connect app: TFT:"), std::string::npos)
      << a.err;
  EXPECT_EQ(LiveContracts().size(), 0u);
}

TEST_F(ApplyTest, LockedStateIsRefusedUntilForceUnlock) {
  Fund(100);
  std::string sp = StatePath(root_ + "/home", "devnet", "demo");
  auto lock = StateLock::Acquire(sp, "test", std::chrono::milliseconds(0));
  ASSERT_TRUE(lock.ok());
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount --lock-timeout 1s");
  EXPECT_EQ(a.code, 1);
  EXPECT_NE(a.err.find("locked"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find(lock->info().id), std::string::npos) << a.err;
  Cmd u = Q("force-unlock " + lock->info().id);
  EXPECT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
}

TEST_F(ApplyTest, JsonEventsAndUnattendedRules) {
  Fund(100);
  Cmd noyes = Q("apply storage.yaml --no-mount");
  EXPECT_EQ(noyes.code, 64) << "no terminal and no --auto-approve: " << noyes.err;
  EXPECT_NE(noyes.err.find("--auto-approve"), std::string::npos);
  Cmd d = Q("--json diff storage.yaml");
  ASSERT_EQ(d.code, 0) << d.err;
  std::istringstream in(d.out);
  std::string line;
  int changes = 0;
  bool summary = false, cost = false;
  while (std::getline(in, line)) {
    auto e = json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << "not JSON: " << line;
    if (e["type"] == "planned_change") changes++;
    if (e["type"] == "change_summary") summary = e["changes"]["add"] == 10;
    if (e["type"] == "cost") cost = e["monthly_after_units"].get<uint64_t>() > 0;
  }
  EXPECT_EQ(changes, 10);
  EXPECT_TRUE(summary && cost) << d.out;
  Cmd bal = Q("--json wallet balance");
  auto bj = json::parse(bal.out, nullptr, false);
  ASSERT_FALSE(bj.is_discarded()) << bal.out << bal.err;
  EXPECT_EQ(bj["free_units"].get<uint64_t>(), 99 * grid::kUnitsPerTft) << "100 TFT minus the fee";
}

TEST_F(ApplyTest, GrowShrinkAndDestroy) {
  Fund(200);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
  WriteManifest("storage.yaml", "demo", "2GiB", 4, 1, "");
  Cmd d = Q("diff storage.yaml");
  EXPECT_NE(d.out.find("~ data[0] will be updated in-place"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("- data[5] will be destroyed"), std::string::npos) << d.out;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  State s = LoadDemoState();
  EXPECT_EQ(s.ByRole(Role::kData).size(), 5u);
  for (const auto* ns : s.ByRole(Role::kData)) EXPECT_EQ(ns->size_bytes, 564ull << 20);
  EXPECT_EQ(LiveContracts().size(), 9u);
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
  Cmd x = Q("destroy storage.yaml --auto-approve");
  ASSERT_EQ(x.code, 0) << x.out << x.err;
  EXPECT_EQ(LiveContracts().size(), 0u);
  EXPECT_FALSE(sfs::exists(StatePath(root_ + "/home", "devnet", "demo")));
}

TEST_F(ApplyTest, NewLocationsMoveNamespacesAtMostParityAtATime) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount --seed 21").code, 0);
  State s = LoadDemoState();
  // Exclude the nodes of three data slots: with m = 2 only two move now.
  std::string ex = "  locations:\n    exclude:\n";
  std::set<uint32_t> excluded;
  for (uint32_t i = 0; i < 3; i++) {
    excluded.insert(s.Find(Role::kData, i)->node_id);
    ex += "      - node: " + std::to_string(s.Find(Role::kData, i)->node_id) + "\n";
  }
  WriteManifest("storage.yaml", "demo", "1GiB", 4, 2, ex);
  Cmd d = Q("diff storage.yaml");
  EXPECT_NE(d.out.find("0 to add, 0 to change, 2 to replace"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("excluded by node"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("stays where it is for now"), std::string::npos) << d.out;
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
  // The next apply moves the last one; then nothing is left on an excluded node.
  Cmd again = Q("apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("1 replaced"), std::string::npos) << again.out;
  State after = LoadDemoState();
  for (const auto& ns : after.namespaces) {
    EXPECT_FALSE(excluded.count(ns.node_id)) << ns.Slot() << " still on node " << ns.node_id;
  }
  EXPECT_EQ(ContractsOf("demo", true), 10u);
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
}

TEST_F(ApplyTest, LostStateIsRebuiltFromTheGrid) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
  State before = LoadDemoState();
  sfs::remove(StatePath(root_ + "/home", "devnet", "demo"));
  Cmd d = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(d.code, 0) << "every contract adopted from the grid: " << d.out << d.err;
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
  State after = LoadDemoState();
  ASSERT_EQ(after.namespaces.size(), before.namespaces.size());
  for (size_t i = 0; i < after.namespaces.size(); i++) {
    EXPECT_EQ(after.namespaces[i].contract_id, before.namespaces[i].contract_id);
    EXPECT_EQ(after.namespaces[i].ns, before.namespaces[i].ns);
    EXPECT_EQ(after.namespaces[i].port, before.namespaces[i].port);
  }
}

}  // namespace
}  // namespace qstor::reconciler
