// End-to-end tests of the devnet over real HTTP (HttpGrid and raw curl) with
// real `qstor zdb serve` node processes (QSTOR_BIN).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "devnet/devnet.h"
#include "devnet/tfchain_node.h"
#include "devnet/http_server.h"
#include "devnet/sign_phone.h"
#include "devnet/tfchain_runtime.h"
#include "devnet/zdb_process.h"
#include "grid/challenge.h"
#include "grid/connect_login.h"
#include "grid/crypto.h"
#include "grid/tfchain_client.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "grid/network.h"
#include "grid/tfchain_client.h"
#include "zdb/client.h"

namespace qstor::devnet {
namespace {

namespace fs = std::filesystem;
using grid::HttpGrid;
using nlohmann::json;

std::string TempDir(const std::string& name) {
  auto p = fs::temp_directory_path() /
           ("qstor-devnet-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

class DevnetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    StartDevnet();
  }
  void TearDown() override {
    grid_.reset();
    if (devnet_) devnet_->Stop();
    devnet_.reset();
    fs::remove_all(dir_);
  }
  void StartDevnet() {
    DevnetOptions o;
    o.data_dir = dir_;
    o.hour_seconds = hour_seconds_;
    o.grace_hours = grace_hours_;
    o.nodes = nodes_;
    o.block_ms = 100;  // blocks as the real chain makes them, faster (tests wait for each)
    o.su_usd_per_hour = su_usd_per_hour_;
    o.tft_usd = tft_usd_;
    const char* bin = std::getenv("QSTOR_BIN");
    ASSERT_NE(bin, nullptr) << "QSTOR_BIN must point at the qstor executable";
    o.qstor_bin = bin;
    auto d = Devnet::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    devnet_ = std::move(d).value();
    grid_ = std::make_unique<HttpGrid>(
        grid::DevnetEndpoint(devnet_->base_url(), devnet_->chain_url()));
  }
  void RestartDevnet() {
    grid_.reset();
    devnet_->Stop();
    devnet_.reset();
    StartDevnet();
  }

  // Raw HTTP.
  grid::HttpResult Raw(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    grid::HttpClient c(std::chrono::seconds(20));
    auto r = c.Send(method, devnet_->base_url() + path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : grid::HttpResult{};
  }

  // What a newly registered account holds: the activation service's 1 TFT
  // less the fee of its T&C + create_twin extrinsic.
  static constexpr uint64_t kAfterRegister = grid::kUnitsPerTft - devnet::kExtrinsicFeeUnits;

  grid::Twin Register(const grid::Ed25519Key& key) {
    auto t = grid_->RegisterTwin(key, "relay.devnet");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    grid_->SetIdentity(t->twin_id, key);
    return *t;
  }

  void Fund(uint32_t twin, uint64_t tft) {
    auto r = Raw("POST", "/bridge/deposit",
                 json{{"twin_id", twin}, {"amount", tft * grid::kUnitsPerTft}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  grid::Deployment MakeDeployment(uint32_t twin, uint64_t size, const std::string& pw,
                                  const std::string& name = "data0") {
    grid::Deployment d;
    d.twin_id = twin;
    d.metadata = R"({"type":"zdb","name":"t","projectName":"qstor"})";
    d.signature_requirement.requests.push_back({twin, true, 1});
    d.signature_requirement.weight_required = 1;
    grid::Workload w;
    w.name = name;
    w.data = {size, "user", pw, false};
    d.workloads.push_back(w);
    return d;
  }

  // Contract + deployment; returns the deployment with contract_id set.
  grid::Deployment Deploy(const grid::Ed25519Key& key, uint32_t twin, uint32_t node,
                          uint64_t size, const std::string& pw) {
    grid::Deployment d = MakeDeployment(twin, size, pw);
    auto res = grid::SignAndSubmit(
        *grid_, key, {grid::CreateNodeContractCall(node, grid::ChallengeHex(d), d.metadata)});
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok()) return d;
    d.contract_id = res->created_contracts.at(0);
    grid::SignDeployment(d, twin, key);
    Status st = grid_->Deploy(node, d);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return d;
  }

  std::unique_ptr<zdb::Client> ConnectNs(const grid::ZdbResult& r, const std::string& pw,
                                         Status* err = nullptr) {
    zdb::ClientOptions o;
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.request_timeout = std::chrono::milliseconds(2000);
    auto c = zdb::Client::Connect(r.ips.at(0), r.port, o);
    if (!c.ok()) {
      if (err) *err = c.status();
      return nullptr;
    }
    Status st = (*c)->Select(r.ns, pw);
    if (!st.ok()) {
      if (err) *err = st;
      return nullptr;
    }
    return std::move(c).value();
  }

  std::string dir_;
  double hour_seconds_ = 3600;
  double grace_hours_ = 336;
  uint32_t nodes_ = 12;
  double su_usd_per_hour_ = DevnetOptions{}.su_usd_per_hour;
  double tft_usd_ = DevnetOptions{}.tft_usd;
  std::unique_ptr<Devnet> devnet_;
  std::unique_ptr<HttpGrid> grid_;
};

TEST_F(DevnetTest, DiscoveryDefaultsFiltersAndPagination) {
  grid::PageRequest all;
  all.size = 100;
  all.ret_count = true;
  auto nodes = grid_->FindNodes({}, all);
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(nodes->items.size(), 12u);
  ASSERT_TRUE(nodes->count.has_value());
  EXPECT_EQ(*nodes->count, 12u);
  std::set<std::string> countries;
  for (const auto& n : nodes->items) {
    countries.insert(n.location.country);
    EXPECT_EQ(n.status, "up");
    EXPECT_GT(n.total.hru, 0u);
    EXPECT_NE(n.location.latitude, 0.0);
  }
  EXPECT_EQ(countries.size(), 6u);

  grid::NodeFilter f;
  f.countries = {"belgium"};
  auto be = grid_->FindNodes(f, all);
  ASSERT_TRUE(be.ok());
  ASSERT_EQ(be->items.size(), 2u);
  for (const auto& n : be->items) EXPECT_EQ(n.location.country, "Belgium");

  f = {};
  f.regions = {"Europe"};
  auto eu = grid_->FindNodes(f, all);
  ASSERT_TRUE(eu.ok());
  EXPECT_EQ(eu->items.size(), 4u);  // Belgium + Germany

  f = {};
  f.node_ids = {3, 5, 7};
  auto ids = grid_->FindNodes(f, all);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->items.size(), 3u);
  EXPECT_EQ(ids->items[1].node_id, 5u);

  f = {};
  f.free_hru = 1ull << 62;  // more than any node has
  auto none = grid_->FindNodes(f, all);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->items.empty());

  f = {};
  f.farm_ids = {nodes->items[0].farm_id};
  auto farm = grid_->FindNodes(f, all);
  ASSERT_TRUE(farm.ok());
  EXPECT_GE(farm->items.size(), 1u);
  for (const auto& n : farm->items) EXPECT_EQ(n.farm_id, nodes->items[0].farm_id);

  // Pagination: 5 per page, pages cover everything once.
  std::set<uint32_t> seen;
  for (uint32_t page = 1; page <= 3; ++page) {
    grid::PageRequest p;
    p.page = page;
    p.size = 5;
    auto r = grid_->FindNodes({}, p);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->items.size(), page < 3 ? 5u : 2u);
    for (const auto& n : r->items) seen.insert(n.node_id);
  }
  EXPECT_EQ(seen.size(), 12u);
  auto h = Raw("GET", "/nodes?size=5&ret_count=true");
  EXPECT_EQ(h.headers["count"], "12");
  EXPECT_EQ(h.headers["pages"], "3");
  // Randomized: same set.
  grid::PageRequest rnd = all;
  rnd.randomize = true;
  auto r = grid_->FindNodes({}, rnd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->items.size(), 12u);

  auto n5 = grid_->GetNode(5);
  ASSERT_TRUE(n5.ok());
  EXPECT_EQ(n5->node_id, 5u);
  EXPECT_EQ(grid_->GetNode(999).status().code(), Status::Code::kNotFound);
  auto farms = grid_->ListFarms(all);
  ASSERT_TRUE(farms.ok());
  EXPECT_GE(farms->size(), 6u);
  auto stats = Raw("GET", "/stats");
  EXPECT_EQ(json::parse(stats.body)["countries"], 6);
  EXPECT_EQ(json::parse(Raw("GET", "/ping").body)["ping"], "pong");
  auto city = Raw("GET", "/nodes?city=Ghent");
  EXPECT_EQ(json::parse(city.body).size(), 1u);
  EXPECT_EQ(json::parse(city.body)[0]["location"]["city"], "Ghent");
  EXPECT_EQ(json::parse(Raw("GET", "/nodes/2/status").body)["status"], "up");
}

TEST_F(DevnetTest, BadRequestsGetJsonErrors) {
  struct Case {
    const char* method;
    const char* path;
    std::string body;
    int status;
  } cases[] = {
      {"GET", "/nodes?size=abc", "", 400},
      {"GET", "/nodes?page=0", "", 400},
      {"GET", "/nodes?status=sideways", "", 400},
      {"GET", "/nodes?healthy=maybe", "", 400},
      {"GET", "/nodes?farm_ids=1,x", "", 400},
      {"GET", "/nodes/abc", "", 400},
      {"GET", "/nodes/0", "", 404},
      {"GET", "/nope", "", 404},
      {"DELETE", "/nodes", "", 405},
      {"POST", "/chain/extrinsics", "{}", 404},  // gone: the chain is TFChain's JSON-RPC
      {"GET", "/chain/accounts/5", "", 404},
      {"POST", "/activation/activate", "{}", 400},
      {"POST", "/activation/activate", R"({"substrateAccountID":"not-ss58"})", 400},
      {"POST", "/nodes/1/deployments", R"({"version":"zero"})", 400},
      {"POST", "/nodes/1/deployments", "null", 400},
      {"POST", "/bridge/deposit", R"({"twin_id":-3,"amount":1})", 400},
      {"POST", "/bridge/deposit", R"({"uri":"TFT:x?message=twin_1&amount=5"})", 400},
      {"POST", "/api/signandpay", R"({"twin_id":1,"data_to_sign":7})", 400},
      {"POST", "/api/signandpay", R"({"twin_id":1,"data_to_sign":["payload-1"]})", 400},
      {"POST", "/api/00000000-0000-0000-0000-000000000000/answer", "{}", 404},
      {"POST", "/admin/nodes/1/explode", "", 404},
      {"POST", "/admin/nodes/1/slow", R"({"latency_ms":"lots"})", 400},
      {"GET", "/contracts?state=Weird", "", 400},
      {"GET", "/contracts/99", "", 404},
  };
  for (const auto& c : cases) {
    auto r = Raw(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " -> " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j.contains("error")) << r.body;
  }
  // A body over the limit (1 MiB) gets 413.
  auto big = Raw("POST", "/bridge/deposit", std::string(2 << 20, 'x'));
  EXPECT_EQ(big.status, 413);
  // The server still answers.
  EXPECT_EQ(Raw("GET", "/ping").status, 200);
}

// The chain half of the seam (HttpGrid over the devnet's TFChain node):
// activation of a new account, twin registration with the T&C, signatures
// checked before sending, replays and failed batches refused with TFChain's
// words, batch_all all-or-nothing, ownership, transfers.
TEST_F(DevnetTest, ChainWritesForgeryReplayAndBatchAtomicity) {
  auto key = grid::Ed25519Key::Generate();
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, 0u);
  auto twin = Register(key);  // activation funds it, then T&C + create_twin
  EXPECT_GT(twin.twin_id, 0u);
  EXPECT_EQ(twin.relay, "relay.devnet");
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free,
            grid::kUnitsPerTft - devnet::kExtrinsicFeeUnits);
  // A second activation is refused: the account is active.
  auto again_act = Raw("POST", "/activation/activate",
                       json{{"substrateAccountID", grid::Ss58Address(key.public_key())}}.dump());
  EXPECT_EQ(again_act.status, 409) << again_act.body;
  // Registering again returns the same twin.
  auto again = grid_->RegisterTwin(key, "relay.devnet");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->twin_id, twin.twin_id);
  auto by_pk = grid_->GetTwinByPublicKey(key.PublicKeyHex());
  ASSERT_TRUE(by_pk.ok());
  EXPECT_EQ(by_pk->account_id, grid::Ss58Address(key.public_key()));
  EXPECT_EQ(by_pk->public_key, key.PublicKeyHex());
  Fund(twin.twin_id, 11);

  auto nonce = grid_->GetNonce(key.PublicKeyHex());
  ASSERT_TRUE(nonce.ok());
  EXPECT_EQ(*nonce, 1u);  // user_accept_tc + create_twin (one batch_all) consumed nonce 0
  auto p = grid_->Prepare(key.PublicKeyHex(), {grid::CreateNodeContractCall(1, std::string(32, 'a'), "{}")});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->nonce, 1u);
  ASSERT_EQ(p->calls.size(), 1u);
  EXPECT_EQ(p->calls[0], "SmartContractModule.create_node_contract node 1");
  // Forged: signed by another key. Refused before anything is sent.
  auto other = grid::Ed25519Key::Generate();
  auto forged = grid_->Submit(*p, other.SignHex(p->to_sign));
  EXPECT_EQ(forged.status().code(), Status::Code::kUnauthenticated) << forged.status().ToString();
  // Signed other bytes.
  EXPECT_EQ(grid_->Submit(*p, key.SignHex(p->to_sign + "x")).status().code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ(*grid_->GetNonce(key.PublicKeyHex()), 1u);
  // Genuine: accepted once, then refused as a replay (its nonce is stale).
  auto ok = grid_->Submit(*p, key.SignHex(p->to_sign));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->created_contracts.size(), 1u);
  EXPECT_EQ(ok->hash.rfind("0x", 0), 0u);
  EXPECT_EQ(ok->block_hash.rfind("0x", 0), 0u);
  auto replay = grid_->Submit(*p, key.SignHex(p->to_sign));
  EXPECT_EQ(replay.status().code(), Status::Code::kFailedPrecondition) << replay.status().ToString();
  EXPECT_NE(replay.status().message().find("outdated"), std::string::npos) << replay.status().ToString();

  // Batch: the second call is invalid (node 999): nothing of it applied; as
  // on TFChain the nonce and the fee are spent.
  uint64_t n2 = *grid_->GetNonce(key.PublicKeyHex());
  auto br = grid::SignAndSubmit(*grid_, key,
                                {grid::CreateNodeContractCall(2, std::string(32, 'b'), "{}"),
                                 grid::CreateNodeContractCall(999, std::string(32, 'c'), "{}")});
  EXPECT_EQ(br.status().code(), Status::Code::kNotFound) << br.status().ToString();
  EXPECT_NE(br.status().message().find("SmartContractModule.NodeNotExists"), std::string::npos)
      << br.status().ToString();
  EXPECT_EQ(*grid_->GetNonce(key.PublicKeyHex()), n2 + 1);
  grid::ContractFilter cf;
  cf.twin_id = twin.twin_id;
  auto cs = grid_->ListContracts(cf, {});
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(cs->items.size(), 1u);
  // A good batch creates both contracts, in order; cancel one.
  auto gr = grid::SignAndSubmit(*grid_, key,
                                {grid::CreateNodeContractCall(2, std::string(32, 'b'), "{}"),
                                 grid::CreateNodeContractCall(3, std::string(32, 'c'), "{}")});
  ASSERT_TRUE(gr.ok()) << gr.status().ToString();
  ASSERT_EQ(gr->created_contracts.size(), 2u);
  EXPECT_LT(gr->created_contracts[0], gr->created_contracts[1]);
  // The same node and hash again: TFChain's uniqueness rule.
  auto dup = grid::SignAndSubmit(*grid_, key, {grid::CreateNodeContractCall(2, std::string(32, 'b'), "{}")});
  EXPECT_EQ(dup.status().code(), Status::Code::kAlreadyExists) << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("SmartContractModule.ContractIsNotUnique"), std::string::npos);
  auto cancel = grid::SignAndSubmit(*grid_, key, {grid::CancelContractCall(gr->created_contracts[0])});
  ASSERT_TRUE(cancel.ok()) << cancel.status().ToString();
  EXPECT_EQ(grid_->GetContract(gr->created_contracts[0])->state, "Deleted");
  cf.states = {"Created"};
  EXPECT_EQ(grid_->ListContracts(cf, {})->items.size(), 2u);
  // Someone else cannot cancel my contract.
  auto mallory = grid::Ed25519Key::Generate();
  ASSERT_TRUE(grid_->RegisterTwin(mallory, "").ok());
  auto steal = grid::SignAndSubmit(*grid_, mallory, {grid::CancelContractCall(gr->created_contracts[1])});
  EXPECT_EQ(steal.status().code(), Status::Code::kPermissionDenied) << steal.status().ToString();
  EXPECT_NE(steal.status().message().find("SmartContractModule.TwinNotAuthorizedToCancelContract"),
            std::string::npos)
      << steal.status().ToString();
  // A transfer over the balance fails; with funds it moves the balance.
  auto poor = grid::SignAndSubmit(
      *grid_, mallory, {grid::TransferCall(grid::Ss58Address(key.public_key()), 5 * grid::kUnitsPerTft)});
  EXPECT_FALSE(poor.ok());
  const uint64_t mallory_before = grid_->GetBalance(mallory.PublicKeyHex())->free;
  auto tr = grid::SignAndSubmit(
      *grid_, key, {grid::TransferCall(grid::Ss58Address(mallory.public_key()), grid::kUnitsPerTft)});
  ASSERT_TRUE(tr.ok()) << tr.status().ToString();
  EXPECT_EQ(grid_->GetBalance(mallory.PublicKeyHex())->free, mallory_before + grid::kUnitsPerTft);
  // Unknown calls and bad arguments never reach the chain.
  EXPECT_EQ(grid_->Prepare(key.PublicKeyHex(), {grid::Call{"remark", {}}}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(grid_->Prepare(key.PublicKeyHex(), {grid::Call{"cancel_contract", {{"contract_id", "x"}}}})
                .status()
                .code(),
            Status::Code::kInvalidArgument);
}

TEST_F(DevnetTest, ContractDeploymentLifecycleOnRealZdb) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  Fund(twin.twin_id, 100);
  auto before = grid_->GetNode(4);
  ASSERT_TRUE(before.ok());
  grid::Deployment d = Deploy(key, twin.twin_id, 4, 1 << 20, "pw1");
  ASSERT_NE(d.contract_id, 0u);
  auto got = grid_->GetDeployment(4, d.contract_id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->workloads.size(), 1u);
  const auto& res = got->workloads[0].result;
  EXPECT_EQ(res.state, "ok") << res.message;
  ASSERT_TRUE(res.zdb.has_value());
  EXPECT_EQ(res.zdb->ns, std::to_string(twin.twin_id) + "-" + std::to_string(d.contract_id) + "-data0");
  // HRU accounting.
  EXPECT_EQ(grid_->GetNode(4)->used.hru, before->used.hru + (1 << 20));
  // The namespace is real: password-protected, maxsize enforced.
  auto c = ConnectNs(*res.zdb, "pw1");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Set("k", "v").ok());
  EXPECT_EQ(*c->Get("k").value(), "v");
  Status bad_pw;
  EXPECT_EQ(ConnectNs(*res.zdb, "wrong", &bad_pw), nullptr);
  auto big = c->Set("big", std::string(2 << 20, 'x'));
  EXPECT_FALSE(big.ok());

  // Refused deployments: wrong hash, forged signature, another node.
  grid::Deployment other = MakeDeployment(twin.twin_id, 1 << 20, "pw2", "other");
  auto cr = grid::SignAndSubmit(*grid_, key, {grid::CreateNodeContractCall(5, grid::ChallengeHex(other), "{}")});
  ASSERT_TRUE(cr.ok());
  other.contract_id = cr->created_contracts[0];
  grid::Deployment wrong_hash = other;
  wrong_hash.workloads[0].data.size *= 2;
  grid::SignDeployment(wrong_hash, twin.twin_id, key);
  EXPECT_EQ(grid_->Deploy(5, wrong_hash).code(), Status::Code::kFailedPrecondition);
  grid::Deployment forged = other;
  grid::SignDeployment(forged, twin.twin_id, grid::Ed25519Key::Generate());
  EXPECT_EQ(grid_->Deploy(5, forged).code(), Status::Code::kPermissionDenied);
  grid::Deployment good = other;
  grid::SignDeployment(good, twin.twin_id, key);
  EXPECT_EQ(grid_->Deploy(6, good).code(), Status::Code::kFailedPrecondition);  // wrong node
  EXPECT_TRUE(grid_->Deploy(5, good).ok());
  EXPECT_EQ(grid_->Deploy(5, good).code(), Status::Code::kAlreadyExists);
  // Reading a deployment needs the owner's signed request.
  HttpGrid anon(grid::DevnetEndpoint(devnet_->base_url(), devnet_->chain_url()));
  EXPECT_EQ(anon.GetDeployment(4, d.contract_id).status().code(),
            Status::Code::kFailedPrecondition);
  auto raw = Raw("GET", "/nodes/4/deployments/" + std::to_string(d.contract_id));
  EXPECT_EQ(raw.status, 403);

  // Update (resize to 4 MiB): contract first, then the deployment.
  grid::Deployment up = d;
  up.version = 1;
  up.workloads[0].data.size = 4 << 20;
  up.signature_requirement.signatures.clear();
  // The deployment before the contract update is refused.
  grid::SignDeployment(up, twin.twin_id, key);
  EXPECT_FALSE(grid_->UpdateDeployment(4, up).ok());
  ASSERT_TRUE(grid::SignAndSubmit(*grid_, key,
                                  {grid::UpdateNodeContractCall(d.contract_id, grid::ChallengeHex(up), "{}")})
                  .ok());
  Status us = grid_->UpdateDeployment(4, up);
  ASSERT_TRUE(us.ok()) << us.ToString();
  EXPECT_EQ(grid_->GetNode(4)->used.hru, before->used.hru + (4 << 20));
  EXPECT_TRUE(c->Set("big", std::string(2 << 20, 'x')).ok());
  auto got2 = grid_->GetDeployment(4, d.contract_id);
  ASSERT_TRUE(got2.ok());
  EXPECT_EQ(got2->version, 1u);
  EXPECT_EQ(got2->workloads[0].data.size, 4u << 20);

  // Cancel: the namespace disappears and HRU is released.
  ASSERT_TRUE(grid::SignAndSubmit(*grid_, key, {grid::CancelContractCall(d.contract_id)}).ok());
  EXPECT_EQ(grid_->GetNode(4)->used.hru, before->used.hru);
  EXPECT_EQ(ConnectNs(*res.zdb, "pw1"), nullptr);
  auto after = grid_->GetDeployment(4, d.contract_id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->workloads[0].result.state, "deleted");
}

TEST_F(DevnetTest, StateSurvivesRestart) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  Fund(twin.twin_id, 50);
  grid::Deployment d = Deploy(key, twin.twin_id, 2, 1 << 20, "pw");
  auto res = grid_->GetDeployment(2, d.contract_id)->workloads[0].result.zdb;
  ASSERT_TRUE(res.has_value());
  {
    auto c = ConnectNs(*res, "pw");
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Set("k", "persist").ok());
  }
  RestartDevnet();
  auto t = grid_->GetTwinByPublicKey(key.PublicKeyHex());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->twin_id, twin.twin_id);
  // 50 TFT less the bridge's 1 TFT, the activation's TFT less one fee, one
  // more fee for the contract.
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free,
            49 * grid::kUnitsPerTft + kAfterRegister - devnet::kExtrinsicFeeUnits);
  grid_->SetIdentity(twin.twin_id, key);
  auto got = grid_->GetDeployment(2, d.contract_id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->workloads[0].result.zdb.has_value());
  auto c = ConnectNs(*got->workloads[0].result.zdb, "pw");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(*c->Get("k").value(), "persist");
}

TEST_F(DevnetTest, BillingGracePeriodRefillAndDeletion) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  // The account holds what the activation gave it (just under 1 TFT).
  // 1 TiB costs about 0.0119 USD/hour = 1.19 TFT/hour at the default prices.
  grid::Deployment d = Deploy(key, twin.twin_id, 3, 1ull << 40, "pw");
  auto zr = grid_->GetDeployment(3, d.contract_id)->workloads[0].result.zdb;
  ASSERT_TRUE(zr.has_value());
  auto pricing = grid_->GetPricing();
  ASSERT_TRUE(pricing.ok());
  uint64_t hourly = grid::CostUnits(*pricing, 1ull << 40, 0, 3600);
  const uint64_t before = grid_->GetBalance(key.PublicKeyHex())->free;
  ASSERT_GT(hourly, before);  // the balance cannot pay one hour
  ASSERT_TRUE(devnet_->BillOnce().ok());
  EXPECT_EQ(grid_->GetContract(d.contract_id)->state, "GracePeriod");
  EXPECT_TRUE(grid_->GetBills(d.contract_id)->empty());
  // Paused: the owner's password no longer opens the namespace.
  EXPECT_EQ(ConnectNs(*zr, "pw"), nullptr);
  auto paused = grid_->GetDeployment(3, d.contract_id);
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->workloads[0].result.state, "paused");
  grid::ContractFilter cf;
  cf.states = {"graceperiod"};
  EXPECT_EQ(grid_->ListContracts(cf, {})->items.size(), 1u);
  // Refill through the top-up URI: restored at once and billed one hour.
  auto topup = Raw("POST", "/bridge/deposit",
                   json{{"uri", "TFT:" + pricing->bridge_address + "?message=twin_" +
                                    std::to_string(twin.twin_id) + "&sender=me&amount=101"}}
                       .dump());
  ASSERT_EQ(topup.status, 200) << topup.body;
  EXPECT_EQ(grid_->GetContract(d.contract_id)->state, "Created");
  auto bills = grid_->GetBills(d.contract_id);
  ASSERT_TRUE(bills.ok());
  ASSERT_EQ(bills->size(), 1u);
  EXPECT_EQ((*bills)[0].amount_billed, hourly);
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, before + 100 * grid::kUnitsPerTft - hourly);
  EXPECT_NE(ConnectNs(*zr, "pw"), nullptr);
  // Regular billing takes another hour.
  ASSERT_TRUE(devnet_->BillOnce().ok());
  EXPECT_EQ(grid_->GetBills(d.contract_id)->size(), 2u);
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free,
            before + 100 * grid::kUnitsPerTft - 2 * hourly);
}

// The chain serves the devnet's pricing in TFChain's units
// (TfgridModule.PricingPolicies(1), TFTPriceModule), and a client that
// reads it computes exactly what the devnet bills.
std::unique_ptr<grid::TfchainClient> ChainClient(const Devnet& d) {
  grid::TfchainClientOptions o;
  o.url = d.chain_url();
  auto c = grid::TfchainClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : nullptr;
}

TEST_F(DevnetTest, ChainPricingIsWhatTheDevnetBills) {
  auto chain = ChainClient(*devnet_);
  ASSERT_NE(chain, nullptr);
  // The default 10/720 USD per su-hour and 0.01 USD per TFT, in chain units.
  auto cp = chain->ReadChainPricing();
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->su_value, 138889u);
  EXPECT_EQ(cp->su_unit, "Gigabytes");
  EXPECT_EQ(cp->tft_price_musd, 10u);
  EXPECT_EQ(*cp, grid::ChainPricingFromUsd(DevnetOptions{}.su_usd_per_hour, DevnetOptions{}.tft_usd).value());
  auto p = chain->Pricing();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->su_usd_per_hour, 0.0138889);
  EXPECT_NEAR(p->su_usd_per_hour, DevnetOptions{}.su_usd_per_hour, 0.5e-7);
  EXPECT_EQ(p->tft_usd, 0.01);
  EXPECT_TRUE(p->bridge_address.empty());
  EXPECT_EQ(chain->Pricing(2).status().code(), Status::Code::kNotFound);

  // One hour of a 1 TiB contract: the devnet bills what the chain's
  // pricing gives.
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  Fund(twin.twin_id, 100);
  grid::Deployment d = Deploy(key, twin.twin_id, 3, 1ull << 40, "pw");
  ASSERT_TRUE(devnet_->BillOnce().ok());
  auto bills = grid_->GetBills(d.contract_id);
  ASSERT_TRUE(bills.ok()) << bills.status().ToString();
  ASSERT_EQ(bills->size(), 1u);
  const uint64_t from_chain = grid::CostUnits(*p, 1ull << 40, 0, 3600);
  EXPECT_EQ((*bills)[0].amount_billed, from_chain);
  EXPECT_GT(from_chain, grid::kUnitsPerTft);  // 1.19 TFT: a real amount, not 0
}

class DecimalPricingTest : public DevnetTest {
 protected:
  void SetUp() override {
    su_usd_per_hour_ = 0.0123457;
    tft_usd_ = 0.037;
    DevnetTest::SetUp();
  }
};

TEST_F(DecimalPricingTest, ConfiguredPricesComeBackExactly) {
  auto chain = ChainClient(*devnet_);
  ASSERT_NE(chain, nullptr);
  auto cp = chain->ReadChainPricing();
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->su_value, 123457u);
  EXPECT_EQ(cp->tft_price_musd, 37u);
  auto p = chain->Pricing();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->su_usd_per_hour, su_usd_per_hour_);
  EXPECT_EQ(p->tft_usd, tft_usd_);
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  Fund(twin.twin_id, 100);
  grid::Deployment d = Deploy(key, twin.twin_id, 3, 5ull << 30, "pw");
  ASSERT_TRUE(devnet_->BillOnce().ok());
  auto bills = grid_->GetBills(d.contract_id);
  ASSERT_TRUE(bills.ok()) << bills.status().ToString();
  ASSERT_EQ(bills->size(), 1u);
  EXPECT_EQ((*bills)[0].amount_billed, grid::CostUnits(*p, 5ull << 30, 0, 3600));
}

TEST(DevnetPricing, PricesTheChainCannotHoldRefuseToStart) {
  DevnetOptions o;
  o.data_dir = TempDir("pricing-refused");
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr) << "QSTOR_BIN must point at the qstor executable";
  o.qstor_bin = bin;
  o.tft_usd = 0.0001;  // 0 mUSD
  auto d = Devnet::Start(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument) << d.status().ToString();
  EXPECT_NE(d.status().message().find("tft_usd"), std::string::npos) << d.status().ToString();
  fs::remove_all(o.data_dir);
}

class ShortHourTest : public DevnetTest {
 protected:
  void SetUp() override {
    hour_seconds_ = 0.2;
    grace_hours_ = 3;
    DevnetTest::SetUp();
  }
};

TEST_F(ShortHourTest, UnpaidContractIsDeletedAfterGrace) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  grid::Deployment d = Deploy(key, twin.twin_id, 6, 1ull << 40, "pw");
  ASSERT_NE(d.contract_id, 0u);
  // Grace after the first short hour, deletion 3 short hours later.
  std::string state;
  for (int i = 0; i < 200; ++i) {
    state = grid_->GetContract(d.contract_id)->state;
    if (state == "Deleted") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(state, "Deleted");
  EXPECT_EQ(grid_->GetNode(6)->used.hru, 0u);
}

// The sign-and-pay relay and the phone, with real TFChain signing payloads
// built for the devnet's chain (docs/identity.md "Signing batches").
class SignAndPayTest : public DevnetTest {
 protected:
  void SetUp() override {
    DevnetTest::SetUp();
    grid::TfchainClientOptions o;
    o.url = devnet_->chain_url();
    auto c = grid::TfchainClient::Create(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto chain = (*c)->Chain();
    ASSERT_TRUE(chain.ok()) << chain.status().ToString();
    auto g = grid::HexDecode(chain->genesis_hex);
    ASSERT_TRUE(g.ok() && g->size() == 32);
    std::memcpy(genesis_.data(), g->data(), 32);
  }
  // cancel_contract(contract) as the devnet's chain would sign it, or for
  // another genesis / spec.
  std::string Payload(uint64_t contract, std::optional<tfchain::Hash256> genesis = std::nullopt,
                      uint32_t spec = 152) {
    tfchain::ChainInfo c;
    c.spec_version = spec;
    c.tx_version = 2;
    c.genesis = genesis.value_or(genesis_);
    c.era_block_hash = c.genesis;
    auto call = tfchain::EncodeCall(meta_, "SmartContractModule", "cancel_contract",
                                    {{"contract_id", tfchain::Value::U(contract)}});
    EXPECT_TRUE(call.ok());
    auto p = tfchain::SigningPayload(meta_, *call, tfchain::ExtrinsicExtra{}, c);
    EXPECT_TRUE(p.ok());
    return *p;
  }
  static std::string B64(const std::string& raw) { return grid::connect::Base64Encode(raw); }
  // POST /api/signandpay; returns {uuid, url, qr}.
  json Create(uint32_t twin, const std::vector<std::string>& payloads, uint64_t amount = 0) {
    json data = json::array();
    for (const auto& p : payloads) data.push_back(B64(p));
    json req{{"twin_id", twin}, {"data_to_sign", data}};
    if (amount > 0) req["amount"] = amount;
    auto r = Raw("POST", "/api/signandpay", req.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  json Approve(const std::string& request, int want_status) {
    auto r = Raw("POST", "/app/approve", json{{"request", request}}.dump());
    EXPECT_EQ(r.status, want_status) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  tfchain::Metadata meta_ = BuildDevnetRuntimeMetadata();
  tfchain::Hash256 genesis_{};
};

TEST_F(SignAndPayTest, RelayServesTheDocumentAndThePhoneSignsThePayloads) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  const std::string p1 = Payload(1), p2 = Payload(2);
  const uint64_t amount = 5 * grid::kUnitsPerTft;
  json cj = Create(twin.twin_id, {p1, p2}, amount);
  std::string uuid = cj["uuid"];
  std::string url = cj["url"];
  EXPECT_EQ(url, devnet_->base_url() + "/api/" + uuid);
  EXPECT_EQ(cj["qr"], "threebot://signandpay/#" + url);
  // The document, byte for byte, then the relay's State.
  const std::string doc = RelayDocument(
      uuid, url + "/answer", amount,
      "TFT:" + grid_->GetPricing()->bridge_address + "?message=twin_" + std::to_string(twin.twin_id),
      {B64(p1), B64(p2)});
  EXPECT_EQ(doc.rfind("{\"uuid\":\"" + uuid + "\",\"CallbackUrl\":\"" + url + "/answer\",\"Payment\":{\"Amount\":50000000,", 0), 0u) << doc;
  EXPECT_EQ(Raw("GET", "/api/" + uuid).body, doc.substr(0, doc.size() - 1) + ",\"State\":\"pending\"}");
  // Without the phone paired, approval fails clearly.
  json unpaired = Approve(uuid, 409);
  EXPECT_NE(unpaired.value("error", "").find("no key for twin " + std::to_string(twin.twin_id)), std::string::npos);
  ASSERT_EQ(Raw("POST", "/app/keys", json{{"seed", key.SeedHex()}}.dump()).status, 200);
  // The url flow: the phone fetches the document, shows the calls it decoded,
  // signs each payload's bytes to sign, pays, answers at the CallbackUrl.
  json answer = Approve(cj["qr"], 200);
  EXPECT_EQ(answer["flow"], "url");
  EXPECT_EQ(answer["calls"], json::array({"SmartContractModule.cancel_contract(contract_id: 1)",
                                          "SmartContractModule.cancel_contract(contract_id: 2)"}));
  ASSERT_EQ(answer["SignedData"].size(), 2u);
  EXPECT_TRUE(grid::Ed25519VerifyHex(key.PublicKeyHex(), tfchain::PayloadToSign(p1), answer["SignedData"][0].get<std::string>()));
  EXPECT_TRUE(grid::Ed25519VerifyHex(key.PublicKeyHex(), tfchain::PayloadToSign(p2), answer["SignedData"][1].get<std::string>()));
  EXPECT_EQ(answer["callback"]["status"], 200);
  auto view = json::parse(Raw("GET", "/api/" + uuid).body);
  EXPECT_EQ(view["State"], "approved");
  EXPECT_EQ(view["Response"]["SignedData"], answer["SignedData"]);
  EXPECT_EQ(view["Response"]["PublicKey"], key.PublicKeyHex());
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, kAfterRegister + 4 * grid::kUnitsPerTft);
  // Answered once: a second approval (no double payment) and a second answer are refused.
  Approve(uuid, 409);
  EXPECT_EQ(Raw("POST", "/api/" + uuid + "/answer", json{{"Error", "late"}}.dump()).status, 409);
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, kAfterRegister + 4 * grid::kUnitsPerTft);
  // The app also pays top-up QR codes.
  Approve("TFT:" + grid_->GetPricing()->bridge_address + "?message=twin_" +
                        std::to_string(twin.twin_id) + "&amount=3",
                    200);
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, kAfterRegister + 6 * grid::kUnitsPerTft);
}

TEST_F(SignAndPayTest, PhoneSignsInlineRequestsAndRefusesWhatItCannotTrust) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  ASSERT_EQ(Raw("POST", "/app/keys", json{{"seed", key.SeedHex()}}.dump()).status, 200);
  const std::string prefix(kSignAndPayPrefix);
  auto inline_text = [&](const json& created, const std::vector<std::string>& payloads) {
    std::vector<std::string> b64;
    for (const auto& p : payloads) b64.push_back(B64(p));
    return prefix + RelayDocument(created["uuid"], created["url"].get<std::string>() + "/answer", 0, "", b64);
  };
  auto state = [&](const json& created) {
    return json::parse(Raw("GET", "/api/" + created["uuid"].get<std::string>()).body);
  };

  // Inline: the phone signs what the QR text holds, and answers the relay.
  const std::string p = Payload(7);
  json ok = Create(twin.twin_id, {p});
  json answer = Approve(inline_text(ok, {p}), 200);
  EXPECT_EQ(answer["flow"], "inline");
  EXPECT_EQ(answer["calls"], json::array({"SmartContractModule.cancel_contract(contract_id: 7)"}));
  EXPECT_TRUE(grid::Ed25519VerifyHex(key.PublicKeyHex(), tfchain::PayloadToSign(p), answer["SignedData"][0].get<std::string>()));
  EXPECT_EQ(state(ok)["State"], "approved");

  // It signs what it decoded from the code, not what the relay holds: a
  // code carrying another payload gets that payload signed (qstor then
  // refuses the signature: reconciler/connect_test).
  json swapped = Create(twin.twin_id, {Payload(8)});
  json other = Approve(inline_text(swapped, {Payload(9)}), 200);
  EXPECT_TRUE(grid::Ed25519VerifyHex(key.PublicKeyHex(), tfchain::PayloadToSign(Payload(9)),
                                     other["SignedData"][0].get<std::string>()));

  // A payload for another chain: refused, not signed, and the relay is told.
  tfchain::Hash256 elsewhere;
  elsewhere.fill(0x11);
  json foreign = Create(twin.twin_id, {Payload(1, elsewhere)});
  json refused = Approve(foreign["qr"], 409);
  EXPECT_NE(refused.value("error", "").find("DataToSign[0] (85 bytes) is for another chain: genesis 0x1111"),
            std::string::npos)
      << refused.dump();
  auto fv = state(foreign);
  EXPECT_EQ(fv["State"], "rejected");
  EXPECT_NE(fv.value("Error", "").find("the app refused: DataToSign[0]"), std::string::npos) << fv.dump();
  EXPECT_FALSE(fv.contains("Response"));
  // Another runtime (spec 151), inline this time.
  json old_spec = Create(twin.twin_id, {Payload(1, std::nullopt, 151)});
  json refused_spec = Approve(inline_text(old_spec, {Payload(1, std::nullopt, 151)}), 409);
  EXPECT_NE(refused_spec.value("error", "").find("is for runtime spec 151 (transaction version 2); "
                                                 "the devnet's chain runs spec 152"),
            std::string::npos)
      << refused_spec.dump();
  EXPECT_EQ(state(old_spec)["State"], "rejected");
  // Bytes that are not a signing payload: refused (400) where they stop making sense.
  json junk = Create(twin.twin_id, {"hello, phone"});
  json refused_junk = Approve(junk["qr"], 400);
  EXPECT_NE(refused_junk.value("error", "").find("the phone cannot read DataToSign[0] (12 bytes) as a "
                                                 "transaction of the devnet's chain: signing payload"),
            std::string::npos)
      << refused_junk.dump();
  EXPECT_EQ(state(junk)["State"], "rejected");
  json trailing = Create(twin.twin_id, {Payload(3) + "x"});
  json refused_trailing = Approve(trailing["qr"], 400);
  EXPECT_NE(refused_trailing.value("error", "").find("trailing bytes"), std::string::npos) << refused_trailing.dump();

  // A document the phone cannot read, or that calls back elsewhere.
  json pending = Create(twin.twin_id, {Payload(4)});
  Approve(prefix + "{\"uuid\":1}", 400);
  std::string elsewhere_cb = prefix + RelayDocument(pending["uuid"], "http://example.com/answer", 0, "", {B64(Payload(4))});
  json refused_cb = Approve(elsewhere_cb, 400);
  EXPECT_NE(refused_cb.value("error", "").find("loopback URLs only"), std::string::npos) << refused_cb.dump();
  EXPECT_EQ(state(pending)["State"], "pending") << "nothing reached the relay";
  Approve(prefix + "http://example.com/api/x", 400);

  // The relay's own checks.
  auto post = [&](const json& body) { return Raw("POST", "/api/signandpay", body.dump()); };
  EXPECT_EQ(post({{"twin_id", twin.twin_id}, {"data_to_sign", json::array({"not base64!"})}}).status, 400);
  EXPECT_EQ(post({{"twin_id", twin.twin_id}, {"data_to_sign", B64(p)}}).status, 400) << "a list";
  EXPECT_EQ(post({{"twin_id", twin.twin_id}, {"data_to_sign", json::array()}}).status, 400);
  EXPECT_EQ(post({{"twin_id", twin.twin_id}, {"data_to_sign", json::array({B64(p)})}, {"callback_url", "http://127.0.0.1:1/x"}}).status, 400);
  const std::string answer_path = "/api/" + pending["uuid"].get<std::string>() + "/answer";
  EXPECT_EQ(Raw("POST", answer_path, json{{"SignedData", json::array({"00", "11"})}}.dump()).status, 400);
  EXPECT_EQ(Raw("POST", answer_path, json{{"SignedData", json::array({std::string(128, 'z')})}}.dump()).status, 400);
  EXPECT_EQ(Raw("POST", answer_path, json{{"Error", 5}}.dump()).status, 400);
  EXPECT_EQ(Raw("POST", "/api/00000000-0000-0000-0000-000000000000/answer", "{}").status, 404);
  EXPECT_EQ(state(pending)["State"], "pending");
}

// ThreeFold Connect: the login service's users API keeps a user's key across
// restarts (it is in the ledger), so the same devnet gives the same derivedSeed;
// the phone refuses a malformed login URL.
TEST_F(DevnetTest, ConnectUsersApiKeepsKeysAcrossRestarts) {
  grid::HttpClient c(std::chrono::seconds(10));
  auto first = c.Send("GET", devnet_->base_url() + "/api/users/demo.3bot");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_NE(first->body.find("\"publicKey\""), std::string::npos) << first->body;
  RestartDevnet();
  auto second = c.Send("GET", devnet_->base_url() + "/api/users/demo.3bot");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->body, first->body);
  auto bad = c.Send("POST", devnet_->base_url() + "/app/login", R"({"url":"http://x/?state=a&appid=b"})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto none = c.Send("POST", devnet_->base_url() + "/app/login", "{}");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 400) << none->body;
}

TEST_F(DevnetTest, FaultsDownUpWipeSlow) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  Fund(twin.twin_id, 100);
  grid::Deployment d = Deploy(key, twin.twin_id, 7, 1 << 20, "pw");
  auto zr = grid_->GetDeployment(7, d.contract_id)->workloads[0].result.zdb;
  ASSERT_TRUE(zr.has_value());
  ASSERT_EQ(Raw("POST", "/admin/nodes/7/down").status, 200);
  EXPECT_EQ(grid_->GetNode(7)->status, "down");
  grid::NodeFilter up;
  up.status = "up";
  grid::PageRequest all;
  all.size = 100;
  EXPECT_EQ(grid_->FindNodes(up, all)->items.size(), 11u);
  Status err;
  EXPECT_EQ(ConnectNs(*zr, "pw", &err), nullptr);
  EXPECT_EQ(grid_->GetDeployment(7, d.contract_id).status().code(), Status::Code::kUnavailable);
  ASSERT_EQ(Raw("POST", "/admin/nodes/7/up").status, 200);
  EXPECT_EQ(grid_->GetNode(7)->status, "up");
  {
    auto c = ConnectNs(*zr, "pw", &err);
    ASSERT_NE(c, nullptr) << err.ToString();
    ASSERT_TRUE(c->Set("k", "v").ok());
  }
  // Wipe: the namespace is gone and the deployment says so.
  ASSERT_EQ(Raw("POST", "/admin/nodes/7/wipe").status, 200);
  auto wiped = grid_->GetDeployment(7, d.contract_id);
  ASSERT_TRUE(wiped.ok()) << wiped.status().ToString();
  EXPECT_EQ(wiped->workloads[0].result.state, "error");
  EXPECT_EQ(ConnectNs(*zr, "pw"), nullptr);
  // Slow: node calls take at least the latency.
  ASSERT_EQ(Raw("POST", "/admin/nodes/7/slow", R"({"latency_ms":300})").status, 200);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(grid_->GetDeployment(7, d.contract_id).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
}

TEST(DevnetCli, StartStatusStopReset) {
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr);
  std::string dir = TempDir("cli");
  std::string q = std::string(bin) + " ";
  auto run = [&](const std::string& args) {
    int rc = std::system((q + args + " --data " + dir + " > " + dir + ".out 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  ASSERT_EQ(run("devnet start --nodes 20 --hour-seconds 3600"), 0);
  EXPECT_EQ(run("devnet start"), 0);  // already running: says so
  EXPECT_EQ(run("devnet status"), 0);
  auto ep = grid::ResolveNetwork("devnet", dir);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  HttpGrid g(*ep);
  grid::PageRequest p;
  p.size = 100;
  auto nodes = g.FindNodes({}, p);
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(nodes->items.size(), 20u);
  EXPECT_EQ(run("devnet node down 4"), 0);
  EXPECT_EQ(g.GetNode(4)->status, "down");
  EXPECT_NE(run("devnet node explode 4"), 0);
  EXPECT_EQ(run("devnet stop"), 0);
  EXPECT_EQ(run("devnet status"), 1);
  EXPECT_EQ(grid::ResolveNetwork("devnet", dir).status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(run("devnet reset --yes"), 0);
  EXPECT_FALSE(fs::exists(dir + "/ledger.sqlite"));
  fs::remove_all(dir);
  fs::remove(dir + ".out");
}

// A node's 0-db is started from whatever thread handles the deployment (an
// HTTP worker that ends with its connection). It must outlive that thread:
// PR_SET_PDEATHSIG, which stops it when the devnet dies, is tied to the
// forking thread, and nodes used to get SIGTERM when the client that
// deployed on them hung up.
TEST(ZdbProcess, OutlivesTheThreadThatStartedIt) {
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr);
  std::string dir = TempDir("zdbproc");
  ZdbProcess z(bin, dir, "admin-secret-for-test");
  Status st;
  std::thread([&] { st = z.Start(0); }).join();
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(z.Running()) << "the 0-db died with the thread that started it";
  auto c = z.AdminClient();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  z.Stop();
  EXPECT_FALSE(z.Running());
  fs::remove_all(dir);
}

// The ledger holds node admin and namespace passwords: private files in a
// private directory, also after a devnet of an older version left them open.
TEST_F(DevnetTest, LedgerFilesArePrivate) {
  auto mode = [](const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  };
  auto check = [&] {
    EXPECT_EQ(mode(dir_), 0700u);
    for (const char* f : {"/ledger.sqlite", "/ledger.sqlite-wal", "/ledger.sqlite-shm"}) {
      if (fs::exists(dir_ + f)) {
        EXPECT_EQ(mode(dir_ + f), 0600u) << f;
      }
    }
    EXPECT_EQ(mode(grid::DevnetPortFile(dir_)), 0600u);
  };
  check();
  // World-readable leftovers are made private at the next start.
  RestartDevnet();
  ::chmod(dir_.c_str(), 0755);
  for (const char* f : {"/ledger.sqlite", "/ledger.sqlite-wal", "/ledger.sqlite-shm"}) {
    ::chmod((dir_ + f).c_str(), 0644);
  }
  RestartDevnet();
  check();
}

// Balances are integers: a deposit that would carry a balance past INT64_MAX
// (where SQLite turns the sum into a floating-point value) is refused with a
// clear error, the balance unchanged; non-integer amounts are refused.
TEST_F(DevnetTest, DepositOverflowIsRefused) {
  auto key = grid::Ed25519Key::Generate();
  auto twin = Register(key);
  const uint64_t big = uint64_t(INT64_MAX);  // credited less the bridge fee: just below the limit
  auto first = Raw("POST", "/bridge/deposit", json{{"twin_id", twin.twin_id}, {"amount", big}}.dump());
  ASSERT_EQ(first.status, 200) << first.body;
  auto before = grid_->GetBalance(key.PublicKeyHex());
  ASSERT_TRUE(before.ok());
  auto second = Raw("POST", "/bridge/deposit",
                    json{{"twin_id", twin.twin_id}, {"amount", 100 * grid::kUnitsPerTft}}.dump());
  EXPECT_GE(second.status, 400) << second.body;
  EXPECT_LT(second.status, 500) << second.body;
  EXPECT_NE(second.body.find("overflow"), std::string::npos) << second.body;
  auto after = grid_->GetBalance(key.PublicKeyHex());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->free, before->free);
  // The chain still reads the balance (System.Account decodes).
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, after->free);
  // Above INT64_MAX, above UINT64_MAX, fractional, negative: 400.
  for (const char* amount : {"9223372036854775808", "18446744073709551616", "1.5", "1e30", "-1"}) {
    auto r = Raw("POST", "/bridge/deposit",
                 "{\"twin_id\":" + std::to_string(twin.twin_id) + ",\"amount\":" + amount + "}");
    EXPECT_EQ(r.status, 400) << amount << ": " << r.body;
  }
  EXPECT_EQ(grid_->GetBalance(key.PublicKeyHex())->free, before->free);
}

// Temporaries of a devnet that died between write and rename are removed at
// the next start; those of a live process are not.
TEST_F(DevnetTest, StaleTempFilesAreRemovedAtStart) {
  pid_t dead = ::fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = grid::DevnetPortFile(dir_) + ".tmp." + std::to_string(dead);
  const std::string live = dir_ + "/other.json.tmp." + std::to_string(::getpid());
  std::ofstream(stale) << "x";
  std::ofstream(live) << "x";
  RestartDevnet();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  fs::remove(live);
}

// The pids of this process's children running `exe_name`.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream ls(line.substr(close + 2));
    char state;
    long ppid = 0;
    ls >> state >> ppid;
    if (ppid == parent) out.push_back(pid_t(std::stol(name)));
  }
  return out;
}

std::map<int, std::string> FdTargets(const std::string& proc_fd) {
  std::map<int, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(proc_fd, ec)) {
    std::error_code lec;
    auto t = fs::read_symlink(e.path(), lec);
    if (!lec) out[std::stoi(e.path().filename().string())] = t.string();
  }
  return out;
}

// A node's 0-db inherits stdin, stdout and stderr only: not a descriptor the
// devnet (or a library in it) opened, even one opened without O_CLOEXEC.
TEST(ZdbProcess, ChildHoldsNoDescriptorOfTheDevnet) {
  const char* bin = std::getenv("QSTOR_BIN");
  ASSERT_NE(bin, nullptr);
  std::string dir = TempDir("zdbfds");
  const std::string canary = dir + "/canary";
  int leak = ::open(canary.c_str(), O_RDWR | O_CREAT, 0600);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leak, 0);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);  // no O_CLOEXEC either
  ZdbProcess z(bin, dir + "/node", "admin-secret-for-test");
  Status st = z.Start(0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::set<std::string> parent_targets;
  for (const auto& [fd, t] : FdTargets("/proc/self/fd")) {
    if (fd > 2 && t.rfind("anon_inode:", 0) != 0) parent_targets.insert(t);
  }
  auto kids = ChildrenOf(::getpid());
  ASSERT_FALSE(kids.empty());
  for (pid_t kid : kids) {
    for (const auto& [fd, t] : FdTargets("/proc/" + std::to_string(kid) + "/fd")) {
      if (fd <= 2) continue;
      EXPECT_NE(t, canary) << "0-db pid " << kid << " fd " << fd;
      EXPECT_EQ(parent_targets.count(t), 0u) << "0-db pid " << kid << " fd " << fd << " -> " << t;
    }
  }
  z.Stop();
  ::close(leak);
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  fs::remove_all(dir);
}

TEST(TopupUri, Parse) {
  auto r = ParseTopupUri("TFT:BR?message=twin_7&sender=me&amount=12.5", "BR");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, 7u);
  EXPECT_EQ(r->second, 125'000'000u);
  EXPECT_FALSE(ParseTopupUri("TFT:OTHER?message=twin_7&amount=1", "BR").ok());
  EXPECT_FALSE(ParseTopupUri("TFT:BR?message=twin_x&amount=1", "BR").ok());
  EXPECT_FALSE(ParseTopupUri("TFT:BR?message=twin_7&amount=1.123456789", "BR").ok());
  EXPECT_FALSE(ParseTopupUri("BTC:BR?message=twin_7&amount=1", "BR").ok());
}

// The one decimal-TFT parser, shared by top-up URIs and `qstor devnet fund`.
TEST(TftAmount, Parse) {
  EXPECT_EQ(*ParseTftAmount("12"), 120'000'000u);
  EXPECT_EQ(*ParseTftAmount("0.5"), 5'000'000u);
  EXPECT_EQ(*ParseTftAmount("3.1234567"), 31'234'567u);
  EXPECT_EQ(*ParseTftAmount(".25"), 2'500'000u);
  EXPECT_EQ(*ParseTftAmount("0"), 0u);
  for (const char* bad : {"", ".", "1.12345678", "-1", "1e3", "abc", "1.2.3", "2000000000000"}) {
    EXPECT_FALSE(ParseTftAmount(bad).ok()) << bad;
  }
}

TEST(Topology, DeterministicAndLarge) {
  auto a = GenerateTopology(5, 10000, 1700000000);
  auto b = GenerateTopology(5, 10000, 1700000000);
  ASSERT_EQ(a.nodes.size(), 10000u);
  EXPECT_EQ(grid::ToJson(a.nodes[1234]), grid::ToJson(b.nodes[1234]));
  std::set<std::string> countries;
  for (const auto& n : a.nodes) countries.insert(n.location.country);
  EXPECT_GE(countries.size(), 15u);
}

}  // namespace
}  // namespace qstor::devnet
