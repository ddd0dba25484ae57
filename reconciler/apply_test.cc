// The reconciler end to end: the real `qstor` binary (QSTOR_BIN) against an
// in-process devnet whose nodes are real 0-db servers. Each test gets its own
// QSTOR_HOME, devnet data dir and free port; the devnet stops with the test.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "devnet/devnet.h"
#include "devnet/tfchain_node.h"
#include "fs/object_store.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "grid/identity.h"
#include "reconciler/observe.h"
#include "reconciler/plan.h"
#include "reconciler/schema_validator.h"
#include "reconciler/state.h"
#include "zdb/client.h"

extern char** environ;

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

// The documented schema of the --json event stream.
const SchemaValidator& EventSchema() {
  static std::shared_ptr<const SchemaValidator> v = [] {
    std::ifstream in(std::string(QSTOR_SOURCE_DIR) + "/schema/events.v1.schema.json");
    auto j = json::parse(in, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "schema/events.v1.schema.json is not JSON";
    auto c = SchemaValidator::Compile(j);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }();
  return *v;
}

// The schema's verdict on one line: empty when valid, else every problem.
std::string EventProblems(const std::string& line) {
  std::vector<Diagnostic> diags;
  EventSchema().Validate(YAML::Load(line), &diags);
  std::string out;
  for (const auto& d : diags) out += (d.path.empty() ? "(root)" : d.path) + ": " + d.message + "; ";
  return out;
}

// Every line of a --json output: JSON, and valid against the schema.
std::vector<json> Events(const std::string& out) {
  std::vector<json> events;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto e = json::parse(line, nullptr, false);
    EXPECT_FALSE(e.is_discarded()) << "not JSON: " << line;
    if (e.is_discarded()) continue;
    EXPECT_EQ(EventProblems(line), "") << line;
    events.push_back(e);
  }
  return events;
}

size_t CountType(const std::vector<json>& events, const std::string& type) {
  return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](const json& e) {
    return e.value("type", "") == type;
  }));
}

// The schema says no to broken events (so the checks above can fail), and
// the sample streams kept in tests/events agree with ajv's verdicts
// (tests/schema/check.mjs checks the same files).
TEST(EventSchemaTest, SamplesAndBrokenEvents) {
  for (const char* file : {"good.jsonl", "bad.jsonl"}) {
    std::ifstream in(std::string(QSTOR_SOURCE_DIR) + "/tests/events/" + file);
    ASSERT_TRUE(in.good()) << file;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      n++;
      if (std::string(file) == "good.jsonl") {
        EXPECT_EQ(EventProblems(line), "") << line;
      } else {
        EXPECT_NE(EventProblems(line), "") << "accepted: " << line;
      }
    }
    EXPECT_GE(n, 10) << file;
  }
}

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
    o.block_ms = 100;  // blocks as the real chain makes them, faster (tests wait for each)
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
  // The object store over the deployment the state of "demo" records, with
  // the identity of kMnemonic: what `qstor mount` writes through.
  std::unique_ptr<fs::ObjectStore> OpenDemoStore() {
    auto id = grid::Identity::FromMnemonic(kMnemonic);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return nullptr;
    auto layout = LayoutFromState(LoadDemoState(), *id);
    EXPECT_TRUE(layout.ok()) << layout.status().ToString();
    if (!layout.ok()) return nullptr;
    auto backends = [](const std::vector<BackendSpec>& specs) {
      std::vector<fs::Backend> out;
      for (const auto& b : specs) {
        fs::Backend x;
        x.name = b.name;
        x.host = b.host;
        x.port = b.port;
        x.ns = b.ns;
        x.password = b.password;
        x.labels = b.labels;
        out.push_back(std::move(x));
      }
      return out;
    };
    fs::FsKeys keys;
    keys.data_key = fs::SecretKey(id->DataKey());
    keys.metadata_key = fs::SecretKey(id->MetadataKey());
    fs::ObjectStoreOptions o;
    o.k = layout->k;
    o.m = layout->m;
    auto store = fs::ObjectStore::Open(keys, backends(layout->data), backends(layout->meta), o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  // Writes `n` segments of pseudo-random bytes into "demo"; returns them.
  std::map<std::string, std::string> PutDemoSegments(int n) {
    std::map<std::string, std::string> out;
    auto store = OpenDemoStore();
    if (!store) return out;
    for (int i = 0; i < n; i++) {
      std::string id = "seg-" + std::to_string(i);
      std::string bytes(40000 + 7000 * i, '\0');
      uint32_t x = 2463534242u + static_cast<uint32_t>(i);
      for (auto& c : bytes) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
      }
      auto r = store->Put(id, bytes);
      EXPECT_TRUE(r.ok()) << id << ": " << r.status().ToString();
      out[id] = bytes;
    }
    return out;
  }
  // Reads every segment back through the deployment the state records now.
  void ExpectDemoSegments(const std::map<std::string, std::string>& want) {
    auto store = OpenDemoStore();
    ASSERT_TRUE(store);
    for (const auto& [id, bytes] : want) {
      auto got = store->Get(id);
      ASSERT_TRUE(got.ok()) << id << ": " << got.status().ToString();
      EXPECT_EQ(*got, bytes) << id;
    }
  }
  json StatusJson(const Cmd& c) {
    auto j = json::parse(c.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << c.out << c.err;
    if (j.is_discarded() || !j.contains("storages") || j["storages"].empty()) return json::object();
    return j["storages"][0];
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

  // Runs `qstor <args>` on a pseudo-terminal (its stdin, stdout and stderr,
  // 120 columns, UTF-8 locale) like a person at a terminal. `react` sees the
  // output so far after every read and may type into the terminal through
  // the fd it gets. Kills the process after `timeout`.
  Cmd QOnTerminal(const std::vector<std::string>& args,
                  const std::function<void(const std::string& out, int fd)>& react,
                  std::chrono::seconds timeout) {
    // Everything the child needs is built before fork(): the devnet's
    // threads run in this process, so the child only makes system calls.
    std::vector<std::string> env_strings = {
        "QSTOR_HOME=" + root_ + "/home", "QSTOR_DEVNET_DIR=" + root_ + "/devnet",
        "QSTOR_PASSPHRASE=correct horse battery", std::string("QSTOR_MNEMONIC=") + kMnemonic,
        "TERM=xterm-256color", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
    for (char** e = environ; *e != nullptr; e++) {
      std::string kv = *e;
      std::string key = kv.substr(0, kv.find('='));
      if (key == "QSTOR_HOME" || key == "QSTOR_DEVNET_DIR" || key == "QSTOR_PASSPHRASE" ||
          key == "QSTOR_MNEMONIC" || key == "TERM" || key == "LANG" || key == "LC_ALL") {
        continue;
      }
      env_strings.push_back(kv);
    }
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = {bin_};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    winsize ws{};
    ws.ws_row = 50;
    ws.ws_col = 120;
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
    Cmd r;
    if (pid < 0) {
      ADD_FAILURE() << "forkpty: " << std::strerror(errno);
      return r;
    }
    if (pid == 0) {
      if (::chdir(root_.c_str()) != 0) ::_exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (true) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "qstor " << argv_strings[1] << " on a terminal did not finish within "
                      << timeout.count() << " s; output so far:\n" << r.out;
        ::kill(pid, SIGKILL);
        break;
      }
      pollfd p{master, POLLIN, 0};
      int n = ::poll(&p, 1, 200);
      if (n <= 0) continue;
      ssize_t got = ::read(master, buf, sizeof buf);
      if (got <= 0) break;  // EIO: the terminal's last writer closed it
      r.out.append(buf, static_cast<size_t>(got));
      react(r.out, master);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(master);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
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

// Issue 19 item 4: without --seed two diffs of one manifest chose different
// nodes, so the reviewed plan was not the one apply made. The default seed
// now derives from the state (lineage, serial) and the manifest.
TEST_F(ApplyTest, DefaultNodeChoiceIsTheSameForDiffAndApply) {
  Fund(100);
  auto choice = [](const Cmd& c, uint64_t* seed) {
    std::map<std::string, uint32_t> nodes;  // "data[3]" -> node
    for (const auto& e : Events(c.out)) {
      if (e["type"] == "version" && seed != nullptr) *seed = e["seed"].get<uint64_t>();
      if (e["type"] != "planned_change" || !e["change"].contains("node_id")) continue;
      const auto& a = e["change"];
      nodes[a["role"].get<std::string>() + "[" + std::to_string(a["index"].get<uint32_t>()) + "]"] =
          a["node_id"].get<uint32_t>();
    }
    return nodes;
  };
  Cmd d1 = Q("--json diff storage.yaml");
  ASSERT_EQ(d1.code, 0) << d1.out << d1.err;
  Cmd d2 = Q("--json diff storage.yaml");
  ASSERT_EQ(d2.code, 0) << d2.out << d2.err;
  uint64_t seed1 = 0, seed2 = 1;
  auto n1 = choice(d1, &seed1);
  auto n2 = choice(d2, &seed2);
  ASSERT_EQ(n1.size(), 10u) << d1.out;
  EXPECT_EQ(seed1, seed2) << "two diffs of one manifest and state: one seed";
  EXPECT_EQ(n1, n2) << "two diffs chose different nodes:\n" << d1.out << "\n" << d2.out;

  // --seed still overrides the derived seed.
  uint64_t forced = 0;
  Cmd ds = Q("--json diff storage.yaml --seed 424242");
  ASSERT_EQ(ds.code, 0) << ds.err;
  choice(ds, &forced);
  EXPECT_EQ(forced, 424242u);

  // apply without --seed makes the plan the diffs showed.
  Cmd a = Q("--json apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  uint64_t applied_seed = 0;
  EXPECT_EQ(choice(a, &applied_seed), n1) << a.out;
  EXPECT_EQ(applied_seed, seed1);
  State s = LoadDemoState();
  ASSERT_EQ(s.namespaces.size(), 10u);
  for (const auto& ns : s.namespaces) {
    EXPECT_EQ(ns.node_id, n1[ns.Slot()]) << ns.Slot() << " is not where the diff put it";
  }
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
       {"exit-after-first-contracts", "exit-after-contracts-saved", "exit-after-first-deploy",
        "exit-before-last-ready-saved"}) {
    SCOPED_TRACE(fault);
    std::string name = "kill" + std::to_string(++round);
    WriteManifest(name + ".yaml", name, "512MiB", 2, 1, "  metadata:\n    backends: 3\n");
    Cmd crash = Q("apply " + name + ".yaml --auto-approve --no-mount",
                  std::string("QSTOR_TEST_FAULT=") + fault);
    ASSERT_EQ(crash.code, 97) << crash.out << crash.err;
    EXPECT_GT(ContractsOf(name, false), 0u) << "the contracts are on the chain";
    if (std::string(fault) == "exit-before-last-ready-saved") {
      Cmd st = Q("status " + name + ".yaml");
      EXPECT_EQ(st.code, 2) << "status must not call it healthy: " << st.out << st.err;
      EXPECT_NE(st.out.find("not recorded in the state"), std::string::npos) << st.out;
    }
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
    if (std::string(fault) == "exit-before-last-ready-saved") {
      // Issue 19 item 5: the grid had everything, so the plan was empty;
      // the refresh alone had to reach the state file (checked above: every
      // slot deployed() there, which is what `qstor mount` needs).
      EXPECT_NE(a.out.find("No changes."), std::string::npos) << a.out;
    }
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
    const std::string slot = victim->Slot();
    auto pending = LoadDemoState().rebuild_slots;
    EXPECT_NE(std::find(pending.begin(), pending.end(), slot), pending.end())
        << "the rebuild of " << slot << " is recorded before the grid changes";
    Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
    ASSERT_EQ(a.code, 0) << a.out << a.err;
    EXPECT_NE(a.out.find("Rebuild complete!"), std::string::npos) << a.out;
    EXPECT_TRUE(LoadDemoState().rebuild_slots.empty());
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

TEST_F(ApplyTest, OverBudgetIsRefusedByDiffAndApply) {
  Fund(100);
  WriteManifest("storage.yaml", "demo", "1GiB", 4, 2, "  budget:\n    maxMonthlyTFT: 0.5\n");
  Cmd d = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(d.code, 1) << d.out << d.err;
  EXPECT_NE((d.out + d.err).find("over spec.budget.maxMonthlyTFT"), std::string::npos)
      << d.out << d.err;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(a.code, 1) << a.out << a.err;
  EXPECT_NE(a.err.find("the plan has errors; nothing was done"), std::string::npos) << a.err;
  EXPECT_EQ(LiveContracts().size(), 0u);
  // onExceed: warn lets it through, with the warning.
  WriteManifest("storage.yaml", "demo", "1GiB", 4, 2,
                "  budget:\n    maxMonthlyTFT: 0.5\n    onExceed: warn\n");
  Cmd w = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_NE(w.out.find("over spec.budget.maxMonthlyTFT"), std::string::npos) << w.out;
  EXPECT_EQ(LiveContracts().size(), 10u);
}

TEST_F(ApplyTest, LockedStateIsRefusedUntilForceUnlock) {
  Fund(100);
  std::string sp = StatePath(root_ + "/home", "devnet", "demo");
  auto lock = StateLock::Acquire(sp, "test", std::chrono::milliseconds(0));
  ASSERT_TRUE(lock.ok());
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount --lock-timeout 1s");
  EXPECT_EQ(a.code, 6) << "6: the state is locked";
  EXPECT_NE(a.err.find("locked"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find(lock->info().id), std::string::npos) << a.err;
  Cmd u = Q("force-unlock " + lock->info().id);
  EXPECT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Q("apply storage.yaml --auto-approve --no-mount").code, 0);
}

// Ctrl-C at the confirmation question (the lock is held, nothing changed):
// exit 130 at once, the lock file is gone, nothing was created, and the next
// apply takes the lock without "took over a stale" and without waiting.
TEST_F(ApplyTest, CtrlCBeforeAnyChangeReleasesTheLock) {
  Fund(100);
  const std::string lock_path = LockPath(StatePath(root_ + "/home", "devnet", "demo"));
  bool sent = false, lock_seen = false;
  Cmd a = QOnTerminal(
      {"apply", "storage.yaml", "--no-mount"},
      [&](const std::string& out, int fd) {
        if (!sent && out.find("Enter a value:") != std::string::npos) {
          lock_seen = ::access(lock_path.c_str(), F_OK) == 0;
          sent = true;
          ASSERT_EQ(::write(fd, "\x03", 1), 1);  // the terminal's Ctrl-C: SIGINT
        }
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(sent) << a.out;
  EXPECT_TRUE(lock_seen) << "apply holds the lock while it asks";
  EXPECT_EQ(a.code, 130) << a.out;
  EXPECT_NE(a.out.find("the state lock is released"), std::string::npos) << a.out;
  EXPECT_NE(::access(lock_path.c_str(), F_OK), 0) << "the lock file is gone";
  EXPECT_TRUE(LiveContracts().empty());
  Cmd b = Q("apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(b.err.find("stale"), std::string::npos) << b.err;

  // destroy's question: the same.
  sent = false;
  Cmd d = QOnTerminal(
      {"destroy", "storage.yaml"},
      [&](const std::string& out, int fd) {
        if (!sent && out.find("Destroy all of it?") != std::string::npos &&
            out.find("Enter a value:") != std::string::npos) {
          sent = true;
          ASSERT_EQ(::write(fd, "\x03", 1), 1);
        }
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(sent) << d.out;
  EXPECT_EQ(d.code, 130) << d.out;
  EXPECT_NE(::access(lock_path.c_str(), F_OK), 0);
  EXPECT_EQ(LiveContracts().size(), 10u) << "nothing was cancelled";
}

// GitOps prune: storages whose documents left the repository are destroyed
// by `apply --prune DIR` (diff shows them first), only within --selector,
// only with the destroy's confirmation rules; a runner with a fresh HOME
// sees them (and their labels) from the grid alone.
TEST_F(ApplyTest, PruneDestroysWhatNoDocumentNamesWithinTheSelector) {
  Fund(300);
  sfs::create_directories(root_ + "/repo");
  auto doc = [&](const std::string& name, const std::string& team) {
    std::ofstream(root_ + "/repo/" + name + ".yaml")
        << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: " << name
        << "\n  labels:\n    team: " << team
        << "\nspec:\n  network: devnet\n  capacity: 256MiB\n  redundancy:\n    dataShards: 2\n"
           "    parityShards: 1\n";
  };
  doc("a", "media");
  doc("b", "media");
  doc("c", "ops");
  std::ofstream(root_ + "/repo/README.md") << "not a manifest\n";
  Cmd first = Q("apply --auto-approve --no-mount repo");
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  const size_t per_storage = ContractsOf("a", true);
  ASSERT_GT(per_storage, 0u);
  ASSERT_EQ(ContractsOf("b", true), per_storage);
  ASSERT_EQ(ContractsOf("c", true), per_storage);
  // A runner: no keystore, the identity from QSTOR_MNEMONIC.
  const std::string fresh = "QSTOR_HOME='" + root_ + "/fresh'";

  sfs::remove(root_ + "/repo/b.yaml");
  Cmd d = Q("diff --prune --detailed-exitcode --no-mount repo", fresh);
  EXPECT_EQ(d.code, 2) << d.out << d.err;
  EXPECT_NE(d.out.find("- destroy \"b\" on devnet: no given document names \"b\" on devnet "
                       "(labels {team=media})"),
            std::string::npos)
      << d.out;
  EXPECT_EQ(d.out.find("destroy \"a\""), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("destroy \"c\""), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Prune: 1 storage(s)"), std::string::npos) << d.out;
  Cmd dj = Q("--json diff --prune --no-mount repo", fresh);
  ASSERT_EQ(dj.code, 0) << dj.err;
  size_t pruned_events = 0;
  for (const auto& e : Events(dj.out)) {
    if (e["type"] == "planned_change" &&
        e["change"].value("reason", "").rfind("prune: ", 0) == 0) {
      pruned_events++;
      EXPECT_EQ(e["change"]["action"], "delete") << e.dump();
    }
  }
  EXPECT_EQ(pruned_events, per_storage) << dj.out;

  // The selector scopes both sides: only c is applied, and b (team=media) is
  // out of scope, so nothing is pruned.
  Cmd scoped = Q("apply --prune --auto-approve --no-mount -l team=ops repo", fresh);
  ASSERT_EQ(scoped.code, 0) << scoped.out << scoped.err;
  EXPECT_NE(scoped.err.find("skipping \"a\""), std::string::npos) << scoped.err;
  EXPECT_NE(scoped.out.find("Prune complete: 0 storage(s) destroyed."), std::string::npos)
      << scoped.out;
  EXPECT_EQ(ContractsOf("b", true), per_storage);

  Cmd pruned = Q("apply --prune --auto-approve --no-mount repo", fresh);
  ASSERT_EQ(pruned.code, 0) << pruned.out << pruned.err;
  EXPECT_NE(pruned.out.find("Prune complete: 1 storage(s) destroyed."), std::string::npos)
      << pruned.out;
  EXPECT_EQ(ContractsOf("b", true), 0u);
  EXPECT_EQ(ContractsOf("a", true), per_storage);
  EXPECT_EQ(ContractsOf("c", true), per_storage);
  EXPECT_FALSE(sfs::exists(root_ + "/fresh/keystore.json")) << "no keystore written";

  // The destroy's confirmation rules: without a terminal, --auto-approve.
  sfs::remove(root_ + "/repo/c.yaml");
  Cmd ask = Q("apply --prune --no-mount repo", fresh);
  EXPECT_EQ(ask.code, 64) << ask.out << ask.err;
  EXPECT_NE(ask.err.find("--auto-approve"), std::string::npos) << ask.err;
  EXPECT_EQ(ContractsOf("c", true), per_storage);

  // Bad combinations are usage errors; nothing runs.
  EXPECT_EQ(Q("apply --prune --name a --auto-approve repo").code, 64);
  Cmd badsel = Q("diff --prune -l team repo");
  EXPECT_EQ(badsel.code, 64) << badsel.err;
  EXPECT_NE(badsel.err.find("is not key=value"), std::string::npos) << badsel.err;
  Cmd none = Q("diff -l team=nobody repo");
  EXPECT_EQ(none.code, 1) << none.err;
  EXPECT_NE(none.err.find("no Storage document matches --selector team=nobody"),
            std::string::npos)
      << none.err;
  sfs::create_directories(root_ + "/empty");
  Cmd empty = Q("diff empty");
  EXPECT_EQ(empty.code, 1);
  EXPECT_NE(empty.err.find("no .yaml or .yml file in this directory"), std::string::npos)
      << empty.err;

  // A label change reaches the grid: every contract of "a" records the new
  // labels (what the selector of a later prune reads), at no cost.
  doc("a", "video");
  Cmd relabel_plan = Q("diff --no-mount repo/a.yaml");
  EXPECT_NE(relabel_plan.out.find("labels {team=media} -> {team=video}"), std::string::npos)
      << relabel_plan.out;
  Cmd relabel = Q("apply --auto-approve --no-mount repo/a.yaml");
  ASSERT_EQ(relabel.code, 0) << relabel.out << relabel.err;
  auto r = Raw("GET", "/contracts?size=5000&state=Created");
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_array());
  size_t video = 0;
  for (auto& c : j) {
    auto contract = grid::ContractFromJson(c);
    if (!contract.ok()) continue;
    auto dd = DeploymentData::Decode(contract->deployment_data);
    if (dd.ok() && dd->name == "a") {
      EXPECT_EQ(dd->labels, (std::map<std::string, std::string>{{"team", "video"}}));
      video++;
    }
  }
  EXPECT_EQ(video, per_storage);
  EXPECT_EQ(Q("diff --detailed-exitcode --no-mount repo/a.yaml").code, 0);
}

// restic's model: --passphrase-file / --passphrase-command / --passphrase-fd
// (before or after the subcommand) and QSTOR_PASSPHRASE_FILE/_COMMAND come
// before QSTOR_PASSPHRASE; the passphrase is obtained once per command, and
// a source that fails says which and what.
TEST_F(ApplyTest, PassphraseFromFileCommandOrFdOncePerCommand) {
  Fund(100);
  WriteManifest("two.yaml", "second", "256MiB", 2, 1, "");
  std::ofstream(root_ + "/pf") << "correct horse battery\n";
  std::ofstream(root_ + "/wrong") << "not it\n";
  const std::string bad_env = "QSTOR_PASSPHRASE='wrong'";
  auto checked = [](const Cmd& c) {
    return c.code == 0 && c.out.find("deployments were not checked") == std::string::npos;
  };
  Cmd f = Q("diff storage.yaml --passphrase-file pf", bad_env);
  EXPECT_TRUE(checked(f)) << f.code << f.out << f.err;
  Cmd fe = Q("diff storage.yaml", bad_env + " QSTOR_PASSPHRASE_FILE='" + root_ + "/pf'");
  EXPECT_TRUE(checked(fe)) << fe.code << fe.out << fe.err;
  Cmd fd = Q("--passphrase-fd 5 diff storage.yaml 5<pf", bad_env);
  EXPECT_TRUE(checked(fd)) << fd.code << fd.out << fd.err;

  // Two documents, one command: the command runs once.
  Cmd c = Q("diff storage.yaml two.yaml --passphrase-command "
            "'echo ran >> count; printf \"correct horse battery\\n\"'",
            bad_env);
  EXPECT_TRUE(checked(c)) << c.code << c.out << c.err;
  EXPECT_EQ(Slurp(root_ + "/count"), "ran\n") << "the passphrase is obtained once per command";
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount --passphrase-command 'cat pf'",
            bad_env);
  EXPECT_EQ(a.code, 0) << a.out << a.err;

  Cmd failing = Q("apply storage.yaml --auto-approve --no-mount --passphrase-command 'exit 3'",
                  bad_env);
  EXPECT_EQ(failing.code, 1) << failing.err;
  EXPECT_NE(failing.err.find("--passphrase-command (`exit 3`) exited 3"), std::string::npos)
      << failing.err;
  Cmd missing = Q("apply storage.yaml --auto-approve --no-mount --passphrase-file nope", bad_env);
  EXPECT_EQ(missing.code, 1) << missing.err;
  EXPECT_NE(missing.err.find("--passphrase-file nope: No such file"), std::string::npos)
      << missing.err;
  Cmd wrong = Q("apply storage.yaml --auto-approve --no-mount --passphrase-file wrong");
  EXPECT_EQ(wrong.code, 7) << "7: wrong passphrase; " << wrong.err;
  Cmd both = Q("diff storage.yaml --passphrase-file pf --passphrase-command 'cat pf'");
  EXPECT_EQ(both.code, 64) << both.err;
  EXPECT_EQ(a.out.find("correct horse"), std::string::npos);
  EXPECT_EQ(a.err.find("correct horse"), std::string::npos);
}

// `qstor nodes` reads the network's node directory (no identity needed):
// per node or grouped, filtered, as a table or JSON that agrees with /nodes.
TEST_F(ApplyTest, NodesListsAndGroupsFreeCapacity) {
  auto r = Raw("GET", "/nodes?status=up&size=5000");
  auto all = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(all.is_array()) << r.body;
  ASSERT_GT(all.size(), 3u);
  Cmd j = Q("--json nodes --limit 5000");
  ASSERT_EQ(j.code, 0) << j.err;
  auto nj = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(nj.is_object()) << j.out;
  EXPECT_EQ(nj["matching"].get<size_t>(), all.size());
  ASSERT_EQ(nj["nodes"].size(), all.size());
  uint64_t last = UINT64_MAX;
  std::map<std::string, size_t> per_country;
  for (const auto& n : nj["nodes"]) {
    EXPECT_LE(n["free_hru_bytes"].get<uint64_t>(), last) << "most free first";
    last = n["free_hru_bytes"].get<uint64_t>();
    per_country[n["country"].get<std::string>()]++;
  }
  const std::string country = per_country.begin()->first;

  Cmd t = Q("nodes --limit 2");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("NODE  FARM  COUNTRY"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(std::to_string(all.size()) + " node(s) match; the 2 with the most free space"),
            std::string::npos)
      << t.out;
  Cmd c = Q("--json nodes --country '" + country + "'");
  ASSERT_EQ(c.code, 0) << c.err;
  auto cj = json::parse(c.out, nullptr, false);
  EXPECT_EQ(cj["matching"].get<size_t>(), per_country[country]);
  for (const auto& n : cj["nodes"]) EXPECT_EQ(n["country"], country);

  Cmd g = Q("--json nodes --by country");
  ASSERT_EQ(g.code, 0) << g.err;
  auto gj = json::parse(g.out, nullptr, false);
  ASSERT_EQ(gj["groups"].size(), per_country.size()) << g.out;
  for (const auto& row : gj["groups"]) {
    EXPECT_EQ(row["nodes"].get<size_t>(), per_country[row["country"].get<std::string>()]);
  }
  Cmd h = Q("nodes --by city");
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("In a manifest: spec.locations.select: [{city: ...}]"), std::string::npos)
      << h.out;
  Cmd none = Q("--json nodes --free 1PiB");
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(json::parse(none.out, nullptr, false)["matching"], 0);
  Cmd bad = Q("nodes --free lots");
  EXPECT_EQ(bad.code, 64) << bad.err;
  EXPECT_NE(bad.err.find("--free"), std::string::npos) << bad.err;
}

// The top-up QR off a terminal: plain characters (no ANSI), and the same
// code as PNG and SVG files whose PNG decodes (zbarimg) to the printed URI.
TEST_F(ApplyTest, TopUpQrIsPlainOffATerminalAndAlsoAnImage) {
  Cmd t = Q("wallet topup --no-wait --amount 7");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.out.find("\x1b["), std::string::npos) << "no ANSI when stdout is not a terminal";
  size_t at = t.out.find("\nTFT:");
  ASSERT_NE(at, std::string::npos) << t.out;
  const std::string uri = t.out.substr(at + 1, t.out.find('\n', at + 1) - at - 1);
  size_t p = t.out.find("The code is also in ");
  ASSERT_NE(p, std::string::npos) << t.out;
  p += std::string("The code is also in ").size();
  const std::string png = t.out.substr(p, t.out.find(" and ", p) - p);
  ASSERT_EQ(png.substr(png.size() - 4), ".png") << png;
  EXPECT_TRUE(sfs::exists(png.substr(0, png.size() - 4) + ".svg"));
  EXPECT_EQ(sfs::status(png).permissions() & sfs::perms::all, sfs::perms::owner_read | sfs::perms::owner_write);
  std::string out = root_ + "/zbar.txt";
  int rc = std::system(("zbarimg --raw -q '" + png + "' > '" + out + "'").c_str());
  ASSERT_EQ(rc, 0) << "zbarimg could not read " << png;
  std::string decoded = Slurp(out);
  while (!decoded.empty() && decoded.back() == '\n') decoded.pop_back();
  EXPECT_EQ(decoded, uri);
}

// Without QSTOR_HOME, the XDG base directories: the keystore in
// $XDG_CONFIG_HOME/qstor (~/.config/qstor), states and mount caches in
// ~/.local/state/qstor, the QR images in ~/.cache/qstor.
TEST_F(ApplyTest, WithoutQstorHomeFilesGoWhereXdgSays) {
  const std::string user = root_ + "/user";
  sfs::create_directories(user);
  const std::string env = "QSTOR_HOME= HOME='" + user + "' XDG_CONFIG_HOME= XDG_STATE_HOME= XDG_CACHE_HOME=";
  Cmd init = Q("init", env);  // imports QSTOR_MNEMONIC
  ASSERT_EQ(init.code, 0) << init.out << init.err;
  EXPECT_TRUE(sfs::exists(user + "/.config/qstor/keystore.json"));
  Cmd t = Q("wallet topup --no-wait --amount 100", env);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find(user + "/.cache/qstor/connect/topup/"), std::string::npos) << t.out;
  size_t at = t.out.find("\nTFT:");
  ASSERT_NE(at, std::string::npos);
  std::string uri = t.out.substr(at + 1, t.out.find('\n', at + 1) - at - 1);
  ASSERT_EQ(Raw("POST", "/bridge/deposit", json{{"uri", uri}}.dump()).status, 200);
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount", env);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_TRUE(sfs::exists(user + "/.local/state/qstor/state/devnet/demo.json"));
  EXPECT_FALSE(sfs::exists(user + "/.config/qstor/state")) << "no state in the config directory";
  Cmd d = Q("diff storage.yaml --detailed-exitcode", env);
  EXPECT_EQ(d.code, 0) << "the state is found again: " << d.out << d.err;
  EXPECT_EQ(Q("destroy storage.yaml --auto-approve", env).code, 0);
}

TEST_F(ApplyTest, JsonEventsAndUnattendedRules) {
  Fund(100);
  Cmd noyes = Q("apply storage.yaml --no-mount");
  EXPECT_EQ(noyes.code, 64) << "no terminal and no --auto-approve: " << noyes.err;
  EXPECT_NE(noyes.err.find("--auto-approve"), std::string::npos);
  Cmd d = Q("--json diff storage.yaml");
  ASSERT_EQ(d.code, 0) << d.err;
  int changes = 0;
  bool summary = false, cost = false;
  auto plan_events = Events(d.out);
  ASSERT_FALSE(plan_events.empty());
  EXPECT_EQ(plan_events.front()["type"], "version");
  for (const auto& e : plan_events) {
    if (e["type"] == "planned_change") changes++;
    if (e["type"] == "change_summary") summary = e["changes"]["add"] == 10;
    if (e["type"] == "cost") cost = e["monthly_after_units"].get<uint64_t>() > 0;
  }
  EXPECT_EQ(changes, 10);
  EXPECT_TRUE(summary && cost) << d.out;

  Cmd bal = Q("--json wallet balance");
  auto bj = json::parse(bal.out, nullptr, false);
  ASSERT_FALSE(bj.is_discarded()) << bal.out << bal.err;
  // 100 TFT less the bridge's 1 TFT fee, plus the activation's 1 TFT less the
  // fee of the twin's registration.
  EXPECT_EQ(bj["free_units"].get<uint64_t>(),
            100 * grid::kUnitsPerTft - devnet::kExtrinsicFeeUnits)
      << "100 TFT minus the bridge fee, plus the activation less one extrinsic fee";

  // apply --json: the plan's events, then apply_start, one apply_progress
  // per step (done counts up to total), apply_complete; all in the schema.
  Cmd a = Q("--json apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  auto ev = Events(a.out);
  EXPECT_EQ(CountType(ev, "apply_start"), 1u);
  EXPECT_EQ(CountType(ev, "apply_complete"), 1u);
  EXPECT_EQ(CountType(ev, "apply_errored"), 0u);
  size_t last_done = 0, ready = 0, signed_chunks = 0;
  for (const auto& e : ev) {
    if (e["type"] != "apply_progress") continue;
    size_t done = e["done"].get<size_t>();
    EXPECT_GE(done, last_done) << e.dump();
    EXPECT_EQ(e["total"], 10) << e.dump();
    last_done = done;
    if (e["step"] == "ready") {
      ready++;
      EXPECT_TRUE(e.contains("slot") && e.contains("node_id") && e.contains("contract_id"))
          << e.dump();
    }
    if (e["step"] == "signed") signed_chunks++;
  }
  EXPECT_EQ(last_done, 10u);
  EXPECT_EQ(ready, 10u);
  EXPECT_GE(signed_chunks, 1u);
  EXPECT_EQ(ev.back()["type"], "apply_complete") << a.out;
  EXPECT_EQ(ev.back()["added"], 10);

  // destroy --json: planned deletes, progress, destroy_complete.
  Cmd x = Q("--json destroy storage.yaml --auto-approve");
  ASSERT_EQ(x.code, 0) << x.out << x.err;
  auto xe = Events(x.out);
  EXPECT_EQ(CountType(xe, "planned_change"), 10u);
  EXPECT_EQ(CountType(xe, "destroy_complete"), 1u);
  ASSERT_FALSE(xe.empty());
  EXPECT_EQ(xe.back()["cancelled"], 10) << x.out;
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

  // A grow of every data namespace is one signing chunk (one QR scan with
  // Connect), not one per namespace: the updates are packed like creates.
  WriteManifest("storage.yaml", "demo", "3GiB", 4, 1, "");
  Cmd g = Q("--json apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(g.code, 0) << g.out << g.err;
  auto ge = Events(g.out);
  ASSERT_FALSE(ge.empty());
  EXPECT_EQ(ge.back()["type"], "apply_complete") << g.out;
  EXPECT_EQ(ge.back()["changed"], 5) << g.out;
  EXPECT_EQ(ge.back()["signing_chunks"], 1) << "five resizes, one chunk: " << g.out;
  State grown = LoadDemoState();
  for (const auto* ns : grown.ByRole(Role::kData)) {
    EXPECT_EQ(ns->size_bytes, DataNamespaceSize(3ull << 30, 4));
  }
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0) << "the nodes have the new size";

  Cmd x = Q("destroy storage.yaml --auto-approve");
  ASSERT_EQ(x.code, 0) << x.out << x.err;
  EXPECT_EQ(LiveContracts().size(), 0u);
  EXPECT_FALSE(sfs::exists(StatePath(root_ + "/home", "devnet", "demo")));
}

// Issue 19 item 2: a shrink below the bytes stored was applied with a
// warning; the namespaces then refused every upload ("No space left").
// diff and apply now refuse it with the numbers; a saved plan made before
// the data grew is refused too.
TEST_F(ApplyTest, ShrinkBelowTheDataStoredIsRefused) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount --seed 5").code, 0);
  // Shrinking 1 GiB -> 256 MiB makes each data namespace 71 MiB; with a few
  // MiB in data[2] that is still fine, so save that plan.
  WriteManifest("storage.yaml", "demo", "256MiB", 4, 2, "");
  State s = LoadDemoState();
  const NamespaceState* d2 = s.Find(Role::kData, 2);
  ASSERT_NE(d2, nullptr);
  auto id = grid::Identity::FromMnemonic(kMnemonic);
  ASSERT_TRUE(id.ok());
  auto pw = id->NamespacePassword("demo", "devnet", "data", 2);
  ASSERT_TRUE(pw.ok());
  auto c = zdb::Client::Connect(d2->host, d2->port);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Select(d2->ns, *pw).ok());
  const std::string chunk(4u << 20, 'q');
  ASSERT_TRUE((*c)->Set("k0", chunk).ok());
  Cmd small = Q("diff storage.yaml -o shrink.plan");
  ASSERT_EQ(small.code, 0) << small.out << small.err;
  EXPECT_NE(small.out.find("data[2] shrinks from 282 MiB"), std::string::npos) << small.out;

  // Now 80 MiB more than the new size allows.
  for (int i = 1; i <= 20; i++) {
    ASSERT_TRUE((*c)->Set("k" + std::to_string(i), chunk).ok()) << i;
  }
  Cmd d = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(d.code, 1) << d.out << d.err;
  EXPECT_NE(d.out.find("data[2] cannot shrink from 282 MiB"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("it holds 84"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("keep it at least"), std::string::npos) << d.out;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(a.code, 1) << a.out << a.err;
  EXPECT_NE(a.out.find("data[2] cannot shrink"), std::string::npos) << a.out;
  Cmd saved = Q("apply shrink.plan --no-mount");
  EXPECT_EQ(saved.code, 1) << saved.out << saved.err;
  EXPECT_NE(saved.out.find("data[2] cannot shrink"), std::string::npos) << saved.out;
  for (const auto& ns : LoadDemoState().namespaces) {
    if (ns.role == Role::kData) {
      EXPECT_EQ(ns.size_bytes, 282ull << 20) << ns.Slot();
    }
  }
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

// Issue 19 item 1: after apply replaced a data slot, `status` said "healthy,
// can lose 1 more node(s)" (exit 0) while `fs check` said DEGRADED: the new
// namespace serves but holds none of the shards that belong there, and
// nothing rebuilt them. Now status counts per segment, apply records the
// rebuild before it touches the grid, and an apply killed before its
// rebuild leaves it pending: diff shows it, status says degraded, and the
// next apply (with nothing else to do) rebuilds it.
TEST_F(ApplyTest, ReplacedSlotIsRebuiltEvenAfterAKillAndStatusCountsSegments) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount --seed 3").code, 0);
  auto segments = PutDemoSegments(3);
  ASSERT_EQ(segments.size(), 3u);
  json healthy = StatusJson(Q("--json status storage.yaml"));
  EXPECT_EQ(healthy["health"], "healthy") << healthy.dump();
  EXPECT_EQ(healthy["availability_checked"], true) << healthy.dump();
  EXPECT_EQ(healthy["segments_total"], 3) << healthy.dump();
  EXPECT_EQ(healthy["can_lose_nodes"], 2) << healthy.dump();

  State s = LoadDemoState();
  const uint32_t dead = s.Find(Role::kData, 1)->node_id;
  ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(dead) + "/down").status, 200);
  Cmd down = Q("--json status storage.yaml");
  EXPECT_EQ(down.code, 2) << down.out;
  json dj = StatusJson(down);
  EXPECT_EQ(dj["health"], "degraded") << dj.dump();
  EXPECT_EQ(dj["segments_degraded"], 3) << dj.dump();
  EXPECT_EQ(dj["can_lose_nodes"], 1) << dj.dump();

  // apply replaces data[1], then dies before rebuilding it.
  Cmd crash = Q("apply storage.yaml --auto-approve --no-mount",
                "QSTOR_TEST_FAULT=exit-before-rebuild");
  ASSERT_EQ(crash.code, 97) << crash.out << crash.err;
  EXPECT_NE(crash.out.find("1 replaced"), std::string::npos) << crash.out;
  State mid = LoadDemoState();
  EXPECT_NE(mid.Find(Role::kData, 1)->node_id, dead);
  EXPECT_TRUE(mid.Find(Role::kData, 1)->deployed());
  EXPECT_EQ(mid.rebuild_slots, std::vector<std::string>{"data[1]"});

  // The finding: every slot serves again, yet every segment is a shard short.
  Cmd st = Q("status storage.yaml");
  EXPECT_EQ(st.code, 2) << st.out << st.err;
  EXPECT_NE(st.out.find(": degraded"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("6/6 namespaces serving"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("can lose 1 more node(s) (from the shards of 3 segment(s))"),
            std::string::npos)
      << st.out;
  EXPECT_NE(st.out.find("3 of 3 segment(s) degraded"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("qstor fs repair storage.yaml"), std::string::npos) << st.out;
  json mj = StatusJson(Q("--json status storage.yaml"));
  EXPECT_EQ(mj["health"], "degraded") << mj.dump();
  EXPECT_EQ(mj["data_namespaces_ok"], 6) << mj.dump();
  EXPECT_EQ(mj["can_lose_nodes"], 1) << mj.dump();
  EXPECT_EQ(mj["segments_degraded"], 3) << mj.dump();
  EXPECT_EQ(mj["segments_lost"], 0) << mj.dump();
  EXPECT_EQ(mj["rebuild_pending"], json::array({"data[1]"})) << mj.dump();
  EXPECT_EQ(mj["next_step"], "qstor fs repair storage.yaml") << mj.dump();
  Cmd check = Q("fs check storage.yaml");
  EXPECT_EQ(check.code, 4) << "fs check agrees: " << check.out << check.err;

  // diff shows the pending rebuild and counts it as a change.
  Cmd d = Q("diff storage.yaml --detailed-exitcode");
  EXPECT_EQ(d.code, 2) << d.out << d.err;
  EXPECT_NE(d.out.find("~ rebuild: data[1] was replaced and not rebuilt yet"), std::string::npos)
      << d.out;
  EXPECT_EQ(d.out.find("No changes."), std::string::npos) << d.out;
  Cmd djson = Q("--json diff storage.yaml");
  ASSERT_EQ(djson.code, 0) << djson.err;
  auto dev = Events(djson.out);
  ASSERT_EQ(CountType(dev, "rebuild_pending"), 1u) << djson.out;
  EXPECT_EQ(CountType(dev, "planned_change"), 0u) << djson.out;

  // The next apply has no action, and finishes the rebuild with progress.
  Cmd a = Q("--json apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  auto ev = Events(a.out);
  EXPECT_EQ(CountType(ev, "apply_start"), 0u) << "nothing to change on the grid: " << a.out;
  EXPECT_GE(CountType(ev, "rebuild_progress"), 2u) << a.out;
  ASSERT_EQ(CountType(ev, "rebuild_complete"), 1u) << a.out;
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back()["type"], "rebuild_complete") << a.out;
  EXPECT_EQ(ev.back()["healthy"], true) << a.out;
  EXPECT_EQ(ev.back()["segments_repaired"], 3) << a.out;
  EXPECT_GT(ev.back()["bytes_written"].get<uint64_t>(), 0u) << a.out;
  EXPECT_TRUE(LoadDemoState().rebuild_slots.empty());

  Cmd check2 = Q("fs check storage.yaml");
  EXPECT_EQ(check2.code, 0) << check2.out << check2.err;
  Cmd fin = Q("--json status storage.yaml");
  EXPECT_EQ(fin.code, 0) << fin.out << fin.err;
  json fj = StatusJson(fin);
  EXPECT_EQ(fj["health"], "healthy") << fj.dump();
  EXPECT_EQ(fj["can_lose_nodes"], 2) << fj.dump();
  EXPECT_EQ(fj["segments_degraded"], 0) << fj.dump();
  EXPECT_EQ(fj["rebuild_pending"], json::array()) << fj.dump();
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
  ExpectDemoSegments(segments);

  // `qstor fs repair` (what status says to run) also finishes a pending
  // rebuild, and clears it from the state once the storage is whole.
  const uint32_t dead2 = LoadDemoState().Find(Role::kData, 3)->node_id;
  ASSERT_EQ(Raw("POST", "/admin/nodes/" + std::to_string(dead2) + "/down").status, 200);
  Cmd crash2 = Q("apply storage.yaml --auto-approve --no-mount",
                 "QSTOR_TEST_FAULT=exit-before-rebuild");
  ASSERT_EQ(crash2.code, 97) << crash2.out << crash2.err;
  EXPECT_EQ(LoadDemoState().rebuild_slots, std::vector<std::string>{"data[3]"});
  Cmd repair = Q("fs repair storage.yaml");
  EXPECT_EQ(repair.code, 0) << repair.out << repair.err;
  EXPECT_TRUE(LoadDemoState().rebuild_slots.empty());
  EXPECT_EQ(Q("status storage.yaml").code, 0);
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
  ExpectDemoSegments(segments);
}

// A location change moves two data slots at once (m = 2): the same apply
// rebuilds their shards before it reports done, and nothing is left to do.
TEST_F(ApplyTest, NewLocationsMoveSlotsAndTheSameApplyRebuildsThem) {
  Fund(100);
  ASSERT_EQ(Q("apply storage.yaml --auto-approve --no-mount --seed 21").code, 0);
  auto segments = PutDemoSegments(2);
  ASSERT_EQ(segments.size(), 2u);
  State s = LoadDemoState();
  std::string ex = "  locations:\n    exclude:\n";
  for (uint32_t i = 0; i < 2; i++) {
    ex += "      - node: " + std::to_string(s.Find(Role::kData, i)->node_id) + "\n";
  }
  WriteManifest("storage.yaml", "demo", "1GiB", 4, 2, ex);
  Cmd d = Q("diff storage.yaml");
  EXPECT_NE(d.out.find("apply rebuilds the shards and metadata replicas of the new"),
            std::string::npos)
      << d.out;
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_NE(a.out.find("2 replaced"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Rebuilding the redundancy of data[0], data[1]"), std::string::npos)
      << a.out;
  EXPECT_NE(a.out.find("Rebuild complete! 2 segment(s) repaired"), std::string::npos) << a.out;
  EXPECT_LT(a.out.find("Apply complete!"), a.out.find("Rebuild complete!")) << a.out;
  EXPECT_TRUE(LoadDemoState().rebuild_slots.empty());
  Cmd check = Q("fs check storage.yaml");
  EXPECT_EQ(check.code, 0) << check.out << check.err;
  Cmd st = Q("--json status storage.yaml");
  EXPECT_EQ(st.code, 0) << st.out << st.err;
  EXPECT_EQ(StatusJson(st)["can_lose_nodes"], 2) << st.out;
  EXPECT_EQ(Q("diff storage.yaml --detailed-exitcode").code, 0);
  ExpectDemoSegments(segments);
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

// A person at a terminal: apply asks for confirmation, finds the wallet
// short, shows the top-up QR and waits for the deposit, then shows a progress
// bar (redrawn in place) while it deploys.
TEST_F(ApplyTest, OnATerminalConfirmTopUpAndProgressBar) {
  // Register the twin with nothing on it (a top-up request nobody pays).
  ASSERT_EQ(Q("wallet topup --no-wait --amount 2").code, 0);
  bool answered = false, paid = false;
  std::string paid_uri;
  Cmd a = QOnTerminal(
      {"apply", "storage.yaml", "--no-mount", "--seed", "5"},
      [&](const std::string& out, int fd) {
        if (!answered && out.find("Enter a value:") != std::string::npos) {
          answered = true;
          ASSERT_EQ(::write(fd, "yes\n", 4), 4);
        }
        if (answered && !paid) {
          // The top-up URI on a line of its own (the terminal turns \n into \r\n).
          size_t at = out.find("\nTFT:", out.find("Top up"));
          if (at == std::string::npos || out.find('\r', at + 1) == std::string::npos) return;
          paid_uri = out.substr(at + 1, out.find('\r', at + 1) - at - 1);
          auto r = Raw("POST", "/bridge/deposit", json{{"uri", paid_uri}}.dump());
          ASSERT_EQ(r.status, 200) << r.body;
          paid = true;
        }
      },
      std::chrono::seconds(240));
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_TRUE(answered);
  ASSERT_TRUE(paid) << a.out;
  EXPECT_NE(paid_uri.find("amount="), std::string::npos) << paid_uri;
  EXPECT_NE(a.out.find("Do you want to perform these actions?"), std::string::npos);
  EXPECT_NE(a.out.find("Apply complete! 10 added"), std::string::npos) << a.out;
  // The bar: drawn and cleared in place, UTF-8 blocks, counting to 10/10.
  EXPECT_NE(a.out.find("\r\033[K"), std::string::npos) << "no in-place redraw";
  EXPECT_NE(a.out.find("█"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find(" 10/10 "), std::string::npos) << a.out;
  // The step lines are still there for the scrollback.
  EXPECT_NE(a.out.find("ready on node"), std::string::npos);
  EXPECT_EQ(a.out.find("correct horse"), std::string::npos);
  EXPECT_EQ(LiveContracts().size(), 10u);
}

// examples/gitops/qstor.yml as written: each `run:` step of its jobs, in a
// checkout holding storage/*.yaml, on a "runner" with a fresh HOME and only
// the job's and step's env (secrets, variables, RUNNER_TEMP, GITHUB_PATH).
// Each job installs the release tarball itself (no qstor on PATH before;
// $GITHUB_PATH extends it for later steps, as on Actions). The pull-request job plans
// (exit 2 inside the script is not a failure), the push job applies with
// --json after the subcommand, the plan job then finds nothing to do. No
// keystore is written on the runner.
TEST_F(ApplyTest, GitopsExampleWorkflowPassesAsWrittenOnAFreshRunner) {
  Fund(100);
  const std::string repo = root_ + "/repo", runner_home = root_ + "/runner-home";
  sfs::create_directories(repo + "/storage");
  sfs::create_directories(runner_home);
  std::ofstream(repo + "/storage/demo.yaml")
      << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: demo\nspec:\n"
         "  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 4\n"
         "    parityShards: 2\n";
  YAML::Node wf = YAML::LoadFile(std::string(QSTOR_SOURCE_DIR) + "/examples/gitops/qstor.yml");
  ASSERT_TRUE(wf["jobs"]["plan"] && wf["jobs"]["apply"]) << "the example has a plan and an apply job";
  // The workflow installs the release tarball (scripts/package.sh) from the
  // URL in a repository variable: here a file:// URL to the one just built.
  const char* pkg_env = std::getenv("QSTOR_PACKAGE_DIR");
  const std::string pkg_dir =
      pkg_env ? pkg_env : std::string(QSTOR_SOURCE_DIR) + "/build/packages";
  std::string tarball;
  std::error_code ec;
  for (sfs::directory_iterator it(pkg_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string f = it->path().filename().string();
    if (f.rfind("qstor-", 0) == 0 && f.size() > 7 && f.substr(f.size() - 7) == ".tar.gz") {
      tarball = it->path().string();
    }
  }
  if (tarball.empty()) {
    if (std::getenv("QSTOR_REQUIRE_PACKAGES") != nullptr) {
      FAIL() << "no release tarball in " << pkg_dir << ": run scripts/package.sh";
    }
    GTEST_SKIP() << "no release tarball in " << pkg_dir << " (scripts/package.sh builds it)";
  }
  const std::map<std::string, std::string> secrets = {
      {"QSTOR_MNEMONIC", kMnemonic}, {"QSTOR_PASSPHRASE", "not needed without a keystore"}};
  const std::map<std::string, std::string> vars = {{"QSTOR_TARBALL_URL", "file://" + tarball}};

  struct StepRun {
    std::string name;
    Cmd r;
  };
  auto run_job = [&](const std::string& job) {
    std::vector<StepRun> out;
    YAML::Node j = wf["jobs"][job];
    // A fresh runner per job: its temp directory and $GITHUB_PATH file, and
    // no qstor on PATH until the job installs it.
    const std::string temp = root_ + "/runner-temp-" + job, github_path = temp + ".path";
    sfs::remove_all(temp);
    sfs::create_directories(temp);
    std::ofstream(github_path, std::ios::trunc).flush();
    // ${{ secrets.NAME }} / ${{ vars.NAME }}: the repository's secret or variable.
    auto expand = [&](std::string value) {
      for (const auto& [kind, table] :
           {std::pair{std::string("secrets."), &secrets}, std::pair{std::string("vars."), &vars}}) {
        auto open = value.find(kind);
        if (open == std::string::npos) continue;
        std::string name = value.substr(open + kind.size());
        name = name.substr(0, name.find_first_of(" }"));
        EXPECT_TRUE(table->count(name)) << "unknown " << kind << name;
        value = table->count(name) ? table->at(name) : "";
      }
      return value;
    };
    std::string job_env = " RUNNER_TEMP='" + temp + "' GITHUB_PATH='" + github_path +
                          "' QSTOR_DEVNET_DIR='" + root_ + "/devnet'";
    for (const auto& kv : j["env"]) {
      job_env += " " + kv.first.as<std::string>() + "='" + expand(kv.second.as<std::string>()) + "'";
    }
    for (const auto& step : j["steps"]) {
      if (!step["run"]) continue;  // actions/checkout: the repo directory is the checkout
      std::string path = "/usr/local/bin:/usr/bin:/bin";
      {
        std::ifstream gp(github_path);
        std::string dir;
        while (std::getline(gp, dir)) {
          if (!dir.empty()) path = dir + ":" + path;  // later lines first, as Actions does
        }
      }
      std::string env = "env -i HOME='" + runner_home + "' PATH='" + path + "'" + job_env;
      for (const auto& kv : step["env"]) {
        env += " " + kv.first.as<std::string>() + "='" + expand(kv.second.as<std::string>()) + "'";
      }
      std::string script = repo + "/step.sh";
      std::ofstream(script, std::ios::trunc) << step["run"].as<std::string>();
      std::string o = root_ + "/step.out", e = root_ + "/step.err";
      // GitHub Actions runs `run:` with `bash -e {0}`.
      std::string cmd = "cd '" + repo + "' && " + env + " bash -e '" + script + "' >'" + o +
                        "' 2>'" + e + "' </dev/null";
      int status = std::system(cmd.c_str());
      StepRun sr;
      sr.name = job + "/" + (step["name"] ? step["name"].as<std::string>() : "run");
      sr.r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      sr.r.out = Slurp(o);
      sr.r.err = Slurp(e);
      out.push_back(sr);
    }
    return out;
  };

  auto plan = run_job("plan");
  ASSERT_GE(plan.size(), 3u) << "install, validate, plan";
  EXPECT_EQ(plan[0].r.code, 0) << plan[0].r.out << plan[0].r.err;
  {
    // The qstor the later steps ran is the one the job installed.
    std::ifstream gp(root_ + "/runner-temp-plan.path");
    std::string dir;
    std::getline(gp, dir);
    EXPECT_EQ(dir.rfind(root_ + "/runner-temp-plan/qstor-", 0), 0u) << dir;
    EXPECT_TRUE(sfs::exists(dir + "/qstor")) << dir;
  }
  for (const auto& s : plan) EXPECT_EQ(s.r.code, 0) << s.name << "\n" << s.r.out << s.r.err;
  EXPECT_NE(plan.back().r.out.find("storage changes planned"), std::string::npos)
      << plan.back().r.out << plan.back().r.err;
  EXPECT_NE(plan.back().r.err.find("using the identity of QSTOR_MNEMONIC in memory"),
            std::string::npos)
      << plan.back().r.err;
  EXPECT_EQ(LiveContracts().size(), 0u) << "a plan changes nothing";

  auto apply = run_job("apply");
  ASSERT_EQ(apply.size(), 2u) << "install, apply";
  EXPECT_EQ(apply[0].r.code, 0) << apply[0].r.out << apply[0].r.err;
  const Cmd& a = apply[1].r;
  EXPECT_EQ(a.code, 0) << a.out << a.err;
  // Nothing but events on stdout, each valid against the events schema.
  std::istringstream lines(a.out);
  std::string line;
  size_t events = 0, complete = 0;
  while (std::getline(lines, line)) {
    events++;
    EXPECT_EQ(EventProblems(line), "") << line;
    auto ev = json::parse(line, nullptr, false);
    if (ev.is_object() && ev.value("type", "") == "apply_complete") complete++;
  }
  EXPECT_GE(events, 5u) << a.out;
  EXPECT_EQ(complete, 1u) << a.out;
  EXPECT_EQ(LiveContracts().size(), 10u);

  auto again = run_job("plan");
  for (const auto& s : again) EXPECT_EQ(s.r.code, 0) << s.name << "\n" << s.r.out << s.r.err;
  EXPECT_EQ(again.back().r.out.find("storage changes planned"), std::string::npos)
      << "nothing left to do after the apply:\n" << again.back().r.out;

  // A commit that adds storage/logs.yml and removes storage/demo.yaml: the
  // pull request's plan shows demo's destruction, the merge prunes it.
  std::ofstream(repo + "/storage/logs.yml")
      << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: logs\nspec:\n"
         "  network: devnet\n  capacity: 256MiB\n  redundancy:\n    dataShards: 2\n"
         "    parityShards: 1\n";
  sfs::remove(repo + "/storage/demo.yaml");
  auto moved = run_job("plan");
  for (const auto& s : moved) EXPECT_EQ(s.r.code, 0) << s.name << "\n" << s.r.out << s.r.err;
  EXPECT_NE(moved.back().r.out.find("- destroy \"demo\" on devnet"), std::string::npos)
      << moved.back().r.out;
  EXPECT_EQ(LiveContracts().size(), 10u) << "a plan changes nothing";
  auto merged = run_job("apply");
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[1].r.code, 0) << merged[1].r.out << merged[1].r.err;
  size_t destroyed = 0;
  std::istringstream merged_lines(merged[1].r.out);
  while (std::getline(merged_lines, line)) {
    EXPECT_EQ(EventProblems(line), "") << line;
    auto ev = json::parse(line, nullptr, false);
    if (ev.is_object() && ev.value("type", "") == "destroy_complete") {
      destroyed += ev["cancelled"].get<size_t>();
    }
  }
  EXPECT_EQ(destroyed, 10u) << merged[1].r.out;
  EXPECT_EQ(ContractsOf("demo", true), 0u);
  EXPECT_GT(ContractsOf("logs", true), 0u);
  EXPECT_EQ(LiveContracts().size(), ContractsOf("logs", true));

  EXPECT_FALSE(sfs::exists(runner_home + "/.config/qstor/keystore.json"))
      << "QSTOR_MNEMONIC is used in memory; no keystore is written on the runner";
}

// Pipelines branch on the exit code and read failures as events: a held
// state lock is 6, a wrong passphrase 7, and under --json (before or after
// the subcommand) each failure is one `diagnostic` event with its code.
TEST_F(ApplyTest, LockedAndWrongPassphraseHaveTheirOwnExitCodesAndEvents) {
  Fund(100);
  std::string sp = StatePath(root_ + "/home", "devnet", "demo");
  {
    auto lock = StateLock::Acquire(sp, "test", std::chrono::milliseconds(0));
    ASSERT_TRUE(lock.ok());
    Cmd a = Q("apply storage.yaml --auto-approve --no-mount --json --lock-timeout 0s");
    EXPECT_EQ(a.code, 6) << a.out << a.err;
    std::istringstream lines(a.out);
    std::string line, last;
    while (std::getline(lines, line)) {
      EXPECT_EQ(EventProblems(line), "") << line;
      last = line;
    }
    auto j = json::parse(last, nullptr, false);
    ASSERT_TRUE(j.is_object()) << a.out;
    EXPECT_EQ(j["type"], "diagnostic") << last;
    EXPECT_EQ(j["diagnostic"]["code"], "state_locked") << last;
    EXPECT_EQ(j["diagnostic"]["exit_code"], 6) << last;
    EXPECT_NE(j["diagnostic"]["summary"].get<std::string>().find(lock->info().id),
              std::string::npos)
        << last;
  }
  Cmd w = Q("--json diff storage.yaml", "QSTOR_PASSPHRASE='not the passphrase'");
  EXPECT_EQ(w.code, 7) << w.out << w.err;
  EXPECT_NE(w.err.find("wrong passphrase"), std::string::npos) << w.err;
  EXPECT_NE(w.out.find("\"code\":\"wrong_passphrase\""), std::string::npos) << w.out;
  Cmd bad = Q("diff --json nope.yaml");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  std::istringstream blines(bad.out);
  std::string bl;
  size_t diagnostics = 0;
  while (std::getline(blines, bl)) {
    EXPECT_EQ(EventProblems(bl), "") << bl;
    diagnostics++;
  }
  EXPECT_GE(diagnostics, 1u) << "an unreadable manifest is an event too: " << bad.out << bad.err;
}

}  // namespace
}  // namespace qstor::reconciler
