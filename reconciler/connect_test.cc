// payment: connect against an in-process devnet: the devnet's sign-and-pay
// relay and its app keystore (which plays the ThreeFold Connect app, paired
// with the twin's seed the way the phone holds the same mnemonic). The unit
// tests drive reconciler::ConnectSigner directly and through DestroyAll; the
// end-to-end tests run the real `qstor apply` (QSTOR_BIN) while this test
// approves each printed URI with `qstor devnet approve`.
#include "reconciler/connect.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "devnet/devnet.h"
#include "devnet/sqlite_db.h"
#include "grid/crypto.h"
#include "devnet/tfchain_node.h"
#include "grid/chain_call.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "grid/identity.h"
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

std::string Slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `command`, returns its exit code and stdout.
Cmd Shell(const std::string& command) {
  Cmd r;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class ConnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (sfs::temp_directory_path() /
             ("qstor-connect-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    sfs::remove_all(root_);
    sfs::create_directories(root_ + "/home");
    sfs::create_directories(root_ + "/devnet");
    const char* bin = std::getenv("QSTOR_BIN");
    ASSERT_NE(bin, nullptr) << "QSTOR_BIN must point at the qstor executable";
    bin_ = bin;
    devnet::DevnetOptions o;
    o.data_dir = root_ + "/devnet";
    o.block_ms = 100;  // blocks as the real chain makes them, faster (tests wait for each)
    o.qstor_bin = bin_;
    auto d = devnet::Devnet::Start(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    devnet_ = std::move(d).value();
    grid_ = std::make_unique<grid::HttpGrid>(
        grid::DevnetEndpoint(devnet_->base_url(), devnet_->chain_url()));
    auto id = grid::Identity::FromMnemonic(kMnemonic);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    identity_.emplace(std::move(id).value());
    pk_ = identity_->PublicKeyHex();
  }
  void TearDown() override {
    if (devnet_) devnet_->Stop();
    devnet_.reset();
    sfs::remove_all(root_);
  }

  // Registers the twin (local key) and pairs the devnet's app with its seed,
  // as a phone holding the same mnemonic.
  void RegisterAndPair() {
    auto twin = grid_->RegisterTwin(identity_->TwinKey(), "");
    ASSERT_TRUE(twin.ok()) << twin.status().ToString();
    twin_id_ = twin->twin_id;
    Pair();
  }
  void Pair() {
    auto r = Raw("POST", "/app/keys", json{{"seed", identity_->TwinKey().SeedHex()}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  grid::HttpResult Raw(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    grid::HttpClient c(std::chrono::seconds(20));
    auto r = c.Send(method, devnet_->base_url() + path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : grid::HttpResult{};
  }
  json Get(const std::string& path) {
    auto r = Raw("GET", path);
    return json::parse(r.body, nullptr, false);
  }
  ConnectOptions Options(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    ConnectOptions co;
    co.public_key_hex = pk_;
    co.timeout = timeout;
    co.poll_interval = std::chrono::milliseconds(50);
    co.qr_dir = root_ + "/home/connect/demo";
    co.out = &out_;
    return co;
  }
  // One live contract of the twin, made with the local key.
  uint64_t MakeContract() {
    auto nodes = Get("/nodes?status=up&size=1");
    EXPECT_TRUE(nodes.is_array() && !nodes.empty()) << nodes.dump();
    uint32_t node = nodes[0]["nodeId"].get<uint32_t>();
    auto res = grid::SignAndSubmit(
        *grid_, identity_->TwinKey(),
        {grid::CreateNodeContractCall(node, std::string(32, 'a'), R"({"type":"test"})")});
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->created_contracts.size(), 1u);
    return res->created_contracts.at(0);
  }
  State StateWith(uint64_t contract) {
    State st;
    st.name = "demo";
    st.network = "devnet";
    NamespaceState ns;
    ns.contract_id = contract;
    st.namespaces.push_back(ns);
    return st;
  }
  std::string ContractState(uint64_t id) {
    return Get("/contracts/" + std::to_string(id)).value("state", "");
  }
  // The phone: approves `uri` after a short delay (so the signer really waits).
  void ApproveLater(const std::string& uri) {
    approver_ = std::thread([this, uri] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      grid::HttpClient c(std::chrono::seconds(20));
      auto r = c.Send("POST", devnet_->base_url() + "/app/approve", json{{"request", uri}}.dump());
      approve_status_ = r.ok() ? r->status : -1;
    });
  }
  void JoinApprover() {
    if (approver_.joinable()) approver_.join();
  }
  std::string ZbarDecode(const std::string& png) {
    Cmd z = Shell("zbarimg --raw -q -Sbinary '" + png + "'");
    EXPECT_EQ(z.code, 0) << "zbarimg could not read " << png;
    return z.out;
  }
  // The devnet's ledger, opened beside the running devnet (WAL mode), to
  // play what its HTTP API cannot: an app holding another key, a rejection.
  std::unique_ptr<devnet::SqliteDb> Ledger() {
    auto db = devnet::SqliteDb::Open(root_ + "/devnet/ledger.sqlite");
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  std::string root_;
  std::string bin_;
  std::unique_ptr<devnet::Devnet> devnet_;
  std::unique_ptr<grid::HttpGrid> grid_;
  std::optional<grid::Identity> identity_;
  std::string pk_;
  uint32_t twin_id_ = 0;
  std::ostringstream out_;
  std::thread approver_;
  std::atomic<int> approve_status_{0};
};

TEST_F(ConnectTest, AppSignsTheChunkAndTheQrCodeCarriesTheUri) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  State st = StateWith(contract);
  ConnectRequest seen;
  json relay_view;
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) {
    seen = r;
    relay_view = Get("/api/" + r.uuid);
    // The PNG decodes to exactly the URI the terminal shows.
    EXPECT_EQ(ZbarDecode(r.png_path), r.uri);
    ApproveLater(r.uri);
  };
  auto flow = std::make_shared<ConnectSigner>(*grid_, opt);
  ApplyOptions ao;
  ao.signer = MakeConnectSigner(flow);
  uint64_t nonce_before = *grid_->GetNonce(pk_);
  auto n = DestroyAll(*grid_, st, *identity_, ao);
  JoinApprover();
  ASSERT_TRUE(n.ok()) << n.status().ToString() << "\n" << out_.str();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(approve_status_.load(), 200);
  EXPECT_EQ(ContractState(contract), "Deleted") << "the app-signed chunk was submitted";
  EXPECT_EQ(*grid_->GetNonce(pk_), nonce_before + 1);
  EXPECT_EQ(flow->requests(), 1u);

  // What the relay was asked: one string to sign, the extrinsic's canonical
  // payload for this twin, and no payment.
  ASSERT_TRUE(relay_view.is_object()) << relay_view.dump();
  EXPECT_EQ(relay_view["TwinId"], twin_id_);
  ASSERT_TRUE(relay_view["DataToSign"].is_array());
  ASSERT_EQ(relay_view["DataToSign"].size(), 1u);
  std::string to_sign = relay_view["DataToSign"][0].get<std::string>();
  EXPECT_EQ(to_sign.rfind("qstor-extrinsic-v1\n" + pk_ + "\n" + std::to_string(nonce_before) +
                              "\n",
                          0),
            0u)
      << to_sign;
  EXPECT_NE(to_sign.find("cancel_contract"), std::string::npos) << to_sign;
  EXPECT_EQ(relay_view["Payment"]["Amount"], 0);

  // What the user saw: chunk, purpose, the QR in half blocks, the plain URI
  // on its own line, both files.
  std::string out = out_.str();
  EXPECT_EQ(seen.uri, "threebot://signandpay/#" + devnet_->base_url() + "/api/" + seen.uuid);
  EXPECT_NE(out.find("This needs 1 scan with the ThreeFold Connect app"), std::string::npos) << out;
  EXPECT_NE(out.find("Scan 1 of 1: sign chunk 1 of 1 (cancel contracts)"), std::string::npos) << out;
  EXPECT_NE(out.find("\n" + seen.uri + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\u2580"), std::string::npos) << "half blocks: " << out;
  EXPECT_NE(out.find("\x1b["), std::string::npos) << "forced black on white";
  EXPECT_NE(out.find("Chunk 1 of 1 signed by the app."), std::string::npos) << out;
  EXPECT_EQ(seen.png_path, root_ + "/home/connect/demo/cancel-contracts-chunk-1.png");
  std::string svg = Slurp(seen.svg_path);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_EQ(sfs::status(seen.png_path).permissions() & sfs::perms::all,
            sfs::perms::owner_read | sfs::perms::owner_write);
  // Nothing secret went to the output.
  EXPECT_EQ(out.find(identity_->TwinKey().SeedHex()), std::string::npos);
}

TEST_F(ConnectTest, SignatureByAnotherKeyIsRefusedAndNothingSubmitted) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  // The app holds another mnemonic for this twin.
  auto other = grid::Ed25519Key::Generate();
  auto db = Ledger();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("UPDATE app_keys SET seed = ? WHERE twin_id = ?",
                       {other.SeedHex(), int64_t(twin_id_)})
                  .ok());
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) { ApproveLater(r.uri); };
  auto flow = std::make_shared<ConnectSigner>(*grid_, opt);
  ApplyOptions ao;
  ao.signer = MakeConnectSigner(flow);
  uint64_t nonce_before = *grid_->GetNonce(pk_);
  State st = StateWith(contract);
  auto n = DestroyAll(*grid_, st, *identity_, ao);
  JoinApprover();
  EXPECT_EQ(approve_status_.load(), 200) << "the app did sign, with the wrong key";
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kPermissionDenied);
  const std::string& msg = n.status().message();
  EXPECT_NE(msg.find("does not verify against the twin's key " + pk_), std::string::npos) << msg;
  EXPECT_NE(msg.find("signed with key " + other.PublicKeyHex()), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing of chunk 1 was submitted; run `qstor apply` again"),
            std::string::npos)
      << msg;
  EXPECT_EQ(ContractState(contract), "Created");
  EXPECT_EQ(*grid_->GetNonce(pk_), nonce_before) << "no extrinsic reached the chain";
}

TEST_F(ConnectTest, TimeoutSaysSoAndNothingIsSubmitted) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  ConnectOptions opt = Options(std::chrono::milliseconds(1500));
  std::string uuid;
  opt.on_request = [&](const ConnectRequest& r) { uuid = r.uuid; };
  auto flow = std::make_shared<ConnectSigner>(*grid_, opt);
  ApplyOptions ao;
  ao.signer = MakeConnectSigner(flow);
  uint64_t nonce_before = *grid_->GetNonce(pk_);
  State st = StateWith(contract);
  auto start = std::chrono::steady_clock::now();
  auto n = DestroyAll(*grid_, st, *identity_, ao);
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kTimeout);
  const std::string& msg = n.status().message();
  EXPECT_NE(msg.find("the app did not sign chunk 1 of 1 (cancel contracts) within 1500ms"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("nothing of chunk 1 was submitted; run `qstor apply` again"),
            std::string::npos)
      << msg;
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::seconds(20));
  EXPECT_EQ(ContractState(contract), "Created");
  EXPECT_EQ(*grid_->GetNonce(pk_), nonce_before);
  EXPECT_EQ(Get("/api/" + uuid)["State"], "pending");
}

TEST_F(ConnectTest, RejectedRequestSaysSo) {
  RegisterAndPair();
  ConnectOptions opt = Options();
  opt.rerun = "qstor destroy";
  opt.on_request = [&](const ConnectRequest& r) {
    // The relay marks the request rejected (the devnet's app cannot say
    // no; its ledger can).
    auto db = Ledger();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Exec("UPDATE sign_requests SET state = 'rejected' WHERE uuid = ?", {r.uuid}).ok());
  };
  ConnectSigner flow(*grid_, opt);
  auto prepared = grid_->Prepare(pk_, {grid::CancelContractCall(1)});
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  SignRequest req{2, 3, "cancel contracts", pk_, prepared->payload, prepared->to_sign};
  auto sig = flow.Sign(req);
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(sig.status().message().find("the app did not sign chunk 2 of 3 (cancel contracts)"),
            std::string::npos)
      << sig.status().message();
  EXPECT_NE(sig.status().message().find("is rejected"), std::string::npos);
  EXPECT_NE(sig.status().message().find("nothing of chunk 2 was submitted; run `qstor destroy` "
                                        "again"),
            std::string::npos);
}

TEST_F(ConnectTest, FirstRequestCarriesTheTopUpAndTheChainAcceptsTheSignature) {
  RegisterAndPair();
  std::vector<json> relay_views;
  ConnectOptions opt = Options();
  opt.json = true;
  opt.on_request = [&](const ConnectRequest& r) {
    relay_views.push_back(Get("/api/" + r.uuid));
    ApproveLater(r.uri);
  };
  ConnectSigner flow(*grid_, opt);
  const uint64_t topup = 5 * grid::kUnitsPerTft, need = 3 * grid::kUnitsPerTft;
  ASSERT_TRUE(flow.FundWithFirstRequest(topup, need).ok());
  // The activation service gave the new account 1 TFT; registering its twin
  // cost one extrinsic fee.
  const uint64_t start = grid_->GetBalance(pk_)->free;
  EXPECT_EQ(start, grid::kUnitsPerTft - devnet::kExtrinsicFeeUnits);
  // Two chunks: transfers to a stranger, signed by the app, submitted here.
  std::string dest = grid::Ed25519Key::Generate().PublicKeyHex();
  for (size_t chunk = 1; chunk <= 2; chunk++) {
    auto prepared = grid_->Prepare(pk_, {grid::TransferCall(dest, grid::kUnitsPerTft)});
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    SignRequest req{chunk, 2, "transfer", pk_, prepared->payload, prepared->to_sign};
    auto sig = flow.Sign(req);
    JoinApprover();
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(*sig, identity_->TwinKey().SignHex(prepared->to_sign));
    if (chunk == 1) {
      EXPECT_GE(grid_->GetBalance(pk_)->free, need) << "paid while signing chunk 1";
    }
    auto res = grid_->Submit(*prepared, *sig);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
  }
  ASSERT_EQ(relay_views.size(), 2u);
  EXPECT_EQ(relay_views[0]["Payment"]["Amount"], topup) << "the first request pays";
  EXPECT_EQ(relay_views[1]["Payment"]["Amount"], 0) << "only the first";
  // 5 TFT sent, 1 kept by the bridge, 2 transferred.
  // Two extrinsic fees too.
  EXPECT_EQ(grid_->GetBalance(pk_)->free,
            start + 2 * grid::kUnitsPerTft - 2 * devnet::kExtrinsicFeeUnits);
  // --json: one event per line, no QR art.
  std::istringstream lines(out_.str());
  std::string line;
  int requests = 0, approved = 0;
  while (std::getline(lines, line)) {
    auto e = json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << "not JSON: " << line;
    if (e["type"] == "sign_request") {
      requests++;
      EXPECT_EQ(e["payment_units"], requests == 1 ? topup : 0);
      EXPECT_EQ(e["uri"].get<std::string>().rfind("threebot://signandpay/#", 0), 0u);
    }
    if (e["type"] == "sign_approved") approved++;
  }
  EXPECT_EQ(requests, 2);
  EXPECT_EQ(approved, 2);
}

// --- end to end: the qstor binary ------------------------------------------

class ConnectCliTest : public ConnectTest {
 protected:
  std::string Env() {
    return "cd '" + root_ + "' && env QSTOR_HOME='" + root_ + "/home' QSTOR_DEVNET_DIR='" + root_ +
           "/devnet' QSTOR_PASSPHRASE='correct horse battery' QSTOR_MNEMONIC='" + kMnemonic +
           "' '" + bin_ + "' ";
  }
  Cmd Q(const std::string& args) {
    std::string err = root_ + "/err.txt";
    Cmd r = Shell(Env() + args + " 2>'" + err + "' </dev/null");
    r.err = Slurp(err);
    return r;
  }
  void WriteManifest() {
    std::ofstream(root_ + "/storage.yaml")
        << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: demo\n"
           "spec:\n  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 4\n"
           "    parityShards: 2\n  payment: {method: connect, timeout: 60s}\n";
  }
  // Runs `qstor <args>` and, like the phone, approves every URI it prints
  // with `qstor devnet approve` (pairing first when `pair_on_first`: the
  // twin is registered by the apply itself).
  Cmd RunApproving(const std::string& args, bool pair_on_first, std::vector<std::string>* uris) {
    std::string err = root_ + "/run-err.txt";
    FILE* p = ::popen((Env() + args + " 2>'" + err + "' </dev/null").c_str(), "r");
    Cmd r;
    if (p == nullptr) return r;
    char buf[8192];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
      std::string line = buf;
      r.out += line;
      if (line.rfind("threebot://signandpay/#", 0) != 0) continue;
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      uris->push_back(line);
      if (pair_on_first && uris->size() == 1) Pair();
      Cmd a = Q("devnet approve '" + line + "'");
      EXPECT_EQ(a.code, 0) << a.out << a.err;
    }
    int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = Slurp(err);
    return r;
  }
  // Registers and funds the twin through the top-up QR flow: `wallet topup`
  // prints the bridge URI, `qstor devnet approve` pays it like the phone.
  void FundByTopUp(int tft) {
    Cmd t = Q("wallet topup --no-wait --amount " + std::to_string(tft));
    ASSERT_EQ(t.code, 0) << t.err;
    size_t at = t.out.find("\nTFT:");
    ASSERT_NE(at, std::string::npos) << t.out;
    std::string uri = t.out.substr(at + 1, t.out.find('\n', at + 1) - at - 1);
    Cmd a = Q("devnet approve '" + uri + "'");
    ASSERT_EQ(a.code, 0) << a.out << a.err;
  }
  size_t LiveContracts() {
    auto j = Get("/contracts?state=Created&size=1000");
    return j.is_array() ? j.size() : 0;
  }
  void ExpectDeployed() {
    auto s = LoadState(StatePath(root_ + "/home", "devnet", "demo"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(s->namespaces.size(), 10u);
    std::set<uint32_t> data_nodes;
    for (const auto& ns : s->namespaces) {
      EXPECT_TRUE(ns.deployed()) << ns.Slot() << " " << ns.status;
      if (ns.role == Role::kData) data_nodes.insert(ns.node_id);
    }
    EXPECT_EQ(data_nodes.size(), 6u);
    EXPECT_EQ(LiveContracts(), 10u);
    Cmd again = Q("diff storage.yaml --detailed-exitcode");
    EXPECT_EQ(again.code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("No changes."), std::string::npos) << again.out;
  }
};

// The devnet's phone is paired from this machine's identity the first time
// `qstor devnet approve` meets a request of its twin: nothing is POSTed by
// hand, the printed hint works as printed.
TEST_F(ConnectCliTest, DevnetApprovePairsThePhoneFromTheKeystore) {
  ASSERT_EQ(Q("init").code, 0);
  WriteManifest();
  ASSERT_NO_FATAL_FAILURE(FundByTopUp(100));
  std::string err = root_ + "/run-err.txt";
  FILE* p = ::popen((Env() + "apply storage.yaml --auto-approve --no-mount 2>'" + err +
                     "' </dev/null").c_str(),
                    "r");
  ASSERT_NE(p, nullptr);
  char buf[8192];
  std::vector<Cmd> approvals;
  std::string out;
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    std::string line = buf;
    out += line;
    if (line.rfind("threebot://signandpay/#", 0) != 0) continue;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    approvals.push_back(Q("devnet approve '" + line + "'"));
  }
  int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out << Slurp(err);
  ASSERT_FALSE(approvals.empty()) << out;
  for (const auto& a : approvals) EXPECT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_NE(approvals.front().err.find("Paired the devnet's phone with twin "), std::string::npos)
      << approvals.front().err;
  for (size_t i = 1; i < approvals.size(); i++) {
    EXPECT_EQ(approvals[i].err.find("Paired"), std::string::npos) << "paired once";
  }
  ExpectDeployed();
}

TEST_F(ConnectCliTest, ApplyWithConnectDeploysEverythingThenNothingToDo) {
  ASSERT_EQ(Q("init").code, 0);
  WriteManifest();
  // Fund and register the twin through the top-up QR flow, then pair the app.
  ASSERT_NO_FATAL_FAILURE(FundByTopUp(100));
  Pair();

  std::vector<std::string> uris;
  Cmd a = RunApproving("apply storage.yaml --auto-approve --no-mount --seed 11", false, &uris);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_NE(a.out.find("Apply complete! 10 added"), std::string::npos) << a.out;
  ASSERT_GE(uris.size(), 1u);
  // The scans are counted before the first, and each one says which it is.
  const std::string n = std::to_string(uris.size());
  EXPECT_NE(a.out.find("This needs " + n + " scan"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Scan 1 of " + n + ": sign chunk 1 of "), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("Scan " + n + " of " + n + ": "), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("(create contracts)"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("qstor devnet approve '" + uris[0] + "'"), std::string::npos)
      << "the devnet hint";
  // Every request had its PNG, and it decodes to the URI printed.
  EXPECT_EQ(ZbarDecode(root_ + "/home/connect/demo/create-contracts-chunk-1.png"), uris[0]);
  for (const auto& u : uris) {
    auto v = Get("/api/" + u.substr(u.rfind('/') + 1));
    EXPECT_EQ(v["State"], "approved") << v.dump();
    EXPECT_EQ(v["Payment"]["Amount"], 0) << "the wallet held enough";
  }
  EXPECT_EQ(a.out.find("correct horse"), std::string::npos);
  ExpectDeployed();

  // A second apply has nothing to sign.
  std::vector<std::string> none;
  Cmd a2 = RunApproving("apply storage.yaml --auto-approve --no-mount", false, &none);
  EXPECT_EQ(a2.code, 0) << a2.out << a2.err;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(LiveContracts(), 10u);

  // destroy with payment: connect is signed by the app too.
  std::vector<std::string> cancel;
  Cmd x = RunApproving("destroy storage.yaml --auto-approve", false, &cancel);
  ASSERT_EQ(x.code, 0) << x.out << x.err;
  EXPECT_EQ(cancel.size(), 1u) << x.out;
  EXPECT_NE(x.out.find("(cancel contracts)"), std::string::npos) << x.out;
  EXPECT_EQ(LiveContracts(), 0u);
}

TEST_F(ConnectCliTest, ShortBalanceIsPaidByTheAppWithTheFirstChunk) {
  ASSERT_EQ(Q("init").code, 0);
  WriteManifest();
  std::vector<std::string> uris;
  Cmd a = RunApproving("apply storage.yaml --auto-approve --no-mount --seed 4", true, &uris);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  ASSERT_GE(uris.size(), 1u);
  EXPECT_NE(a.out.find("the app also pays"), std::string::npos) << a.out;
  auto first = Get("/api/" + uris[0].substr(uris[0].rfind('/') + 1));
  uint64_t paid = first["Payment"]["Amount"].get<uint64_t>();
  EXPECT_GT(paid, grid::kUnitsPerTft) << first.dump();
  EXPECT_EQ(paid % grid::kUnitsPerTft, 0u) << "whole TFT";
  for (size_t i = 1; i < uris.size(); i++) {
    EXPECT_EQ(Get("/api/" + uris[i].substr(uris[i].rfind('/') + 1))["Payment"]["Amount"], 0);
  }
  ExpectDeployed();
}

TEST_F(ConnectCliTest, NobodySigningTimesOutWithNothingSubmitted) {
  ASSERT_EQ(Q("init").code, 0);
  std::ofstream(root_ + "/storage.yaml")
      << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: demo\n"
         "spec:\n  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 4\n"
         "    parityShards: 2\n  payment: {method: connect, timeout: 2s}\n";
  ASSERT_NO_FATAL_FAILURE(FundByTopUp(100));
  Cmd a = Q("apply storage.yaml --auto-approve --no-mount");
  EXPECT_EQ(a.code, 1) << a.out << a.err;
  EXPECT_NE(a.err.find("within 2s"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("nothing of chunk 1 was submitted; run `qstor apply` again"),
            std::string::npos)
      << a.err;
  EXPECT_EQ(LiveContracts(), 0u);
}

// Ctrl-C while apply waits for the app: exit 130 (interrupted, not an
// error), nothing of the unsigned chunk submitted, and the next apply (signed
// this time) completes.
TEST_F(ConnectCliTest, CtrlCWhileWaitingForTheAppExits130) {
  ASSERT_EQ(Q("init").code, 0);
  WriteManifest();
  ASSERT_NO_FATAL_FAILURE(FundByTopUp(100));
  Pair();
  // `sh` prints the apply's pid, waits for it, then prints its exit code.
  std::string out = root_ + "/ctrlc-out.txt", err = root_ + "/ctrlc-err.txt";
  FILE* p = ::popen((Env() + "--json apply storage.yaml --auto-approve --no-mount >'" + out +
                     "' 2>'" + err + "' </dev/null & echo $!; wait $!; echo \"rc=$?\"")
                        .c_str(),
                    "r");
  ASSERT_NE(p, nullptr);
  char buf[256];
  ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
  pid_t pid = static_cast<pid_t>(std::atol(buf));
  ASSERT_GT(pid, 0) << buf;
  // Wait for the first signing request, then press Ctrl-C.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (Slurp(out).find("\"sign_request\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(Slurp(out).find("\"sign_request\""), std::string::npos) << Slurp(out) << Slurp(err);
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
  ::pclose(p);
  EXPECT_EQ(std::string(buf), "rc=130\n") << Slurp(out) << Slurp(err);
  EXPECT_NE(Slurp(err).find("interrupted"), std::string::npos) << Slurp(err);
  EXPECT_NE(Slurp(out).find("{\"error\":\"interrupted\",\"type\":\"apply_errored\"}"),
            std::string::npos)
      << Slurp(out);
  EXPECT_EQ(LiveContracts(), 0u) << "the chunk was not signed: nothing submitted";
  std::vector<std::string> uris;
  Cmd a = RunApproving("apply storage.yaml --auto-approve --no-mount", false, &uris);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  ExpectDeployed();
}

}  // namespace
}  // namespace qstor::reconciler
