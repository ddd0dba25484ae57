// payment: connect against an in-process devnet: the devnet's sign-and-pay
// relay and its app keystore (which plays the ThreeFold Connect app, paired
// with the twin's seed the way the phone holds the same mnemonic). The unit
// tests drive reconciler::ConnectSigner with SignRequests made from real
// TFChain signing payloads (grid::TfchainClient::Prepare against the
// devnet's chain) and submit what the app signed to that chain; the
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
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "devnet/devnet.h"
#include "devnet/sqlite_db.h"
#include "devnet/tfchain_node.h"
#include "grid/connect_login.h"
#include "grid/crypto.h"
#include "grid/http_client.h"
#include "grid/http_grid.h"
#include "grid/identity.h"
#include "grid/tfchain_client.h"
#include "reconciler/batch.h"
#include "reconciler/qr.h"
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

// zbarimg (Debian zbar-tools, scripts/install-deps.sh) reads the PNGs: a QR
// decoder nobody here wrote. Missing, the test is skipped, except in CI.
bool HaveZbarimg() { return Shell("command -v zbarimg >/dev/null 2>&1").code == 0; }
#define REQUIRE_ZBARIMG()                                                                   \
  if (!HaveZbarimg()) {                                                                     \
    const char* ci = std::getenv("CI");                                                     \
    if (ci != nullptr && std::string(ci) == "true") {                                       \
      FAIL() << "zbarimg is missing and CI=true: install zbar-tools (scripts/install-deps.sh)"; \
    }                                                                                       \
    GTEST_SKIP() << "SKIPPED: zbarimg not found (Debian package zbar-tools, "               \
                    "scripts/install-deps.sh)";                                             \
  }

std::string ZbarDecode(const std::string& png) {
  Cmd z = Shell("zbarimg --raw -q -Sbinary '" + png + "'");
  EXPECT_EQ(z.code, 0) << "zbarimg could not read " << png;
  return z.out;
}

// The document's pending form as the relay serves it: the document with
// "State":"pending" appended.
std::string PendingView(const std::string& document) {
  return document.substr(0, document.size() - 1) + ",\"State\":\"pending\"}";
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
    grid::TfchainClientOptions co;
    co.url = devnet_->chain_url();
    auto c = grid::TfchainClient::Create(co);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    chain_ = std::move(c).value();
    auto id = grid::Identity::FromMnemonic(kMnemonic);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    identity_.emplace(std::move(id).value());
    key_.emplace(identity_->TwinKey());
    pk_ = identity_->PublicKeyHex();
  }
  void TearDown() override {
    JoinApprover();
    chain_.reset();
    if (devnet_) devnet_->Stop();
    devnet_.reset();
    sfs::remove_all(root_);
  }

  const grid::Ed25519Key& Key() { return *key_; }
  // The devnet's faucet.
  void Fund(const std::string& pk_hex, uint64_t tft) {
    auto r = Raw("POST", "/admin/fund", json{{"address", pk_hex}, {"units", tft * grid::kUnitsPerTft}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Funds the account, registers the twin on the chain (T&C, create_twin)
  // and pairs the devnet's app with its seed, as a phone holding the same
  // mnemonic.
  void RegisterAndPair() {
    ASSERT_NO_FATAL_FAILURE(Fund(pk_, 100));
    auto twin = chain_->EnsureTwin(Key(), std::nullopt, std::nullopt, grid::kTermsAndConditionsLink,
                                   "0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(twin.ok()) << twin.status().ToString();
    twin_id_ = twin->twin.id;
    Pair();
  }
  void Pair() {
    auto r = Raw("POST", "/app/keys", json{{"seed", Key().SeedHex()}}.dump());
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
  uint32_t AnyNode() {
    auto nodes = Get("/nodes?status=up&size=1");
    EXPECT_TRUE(nodes.is_array() && !nodes.empty()) << nodes.dump();
    return nodes.is_array() && !nodes.empty() ? nodes[0]["nodeId"].get<uint32_t>() : 1;
  }
  // One live contract of the twin, made with the local key on the chain.
  uint64_t MakeContract(const std::string& hash = std::string(32, 'a')) {
    auto call = chain_->CreateNodeContract(AnyNode(), hash, R"({"type":"test"})", 0);
    EXPECT_TRUE(call.ok()) << call.status().ToString();
    auto res = chain_->SignAndSubmit(Key(), {*call});
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok() || res->contract_ids.size() != 1) return 0;
    return res->contract_ids[0];
  }
  // A real chunk: the calls prepared for the twin key against the chain.
  grid::PreparedExtrinsic Prepare(const std::vector<grid::EncodedCall>& calls) {
    auto p = chain_->Prepare(Key().public_key(), calls);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : grid::PreparedExtrinsic{};
  }
  SignRequest Request(const grid::PreparedExtrinsic& p, size_t chunk, size_t chunks,
                      const std::string& purpose, std::vector<std::string> lines) {
    SignRequest req;
    req.chunk = chunk;
    req.chunks = chunks;
    req.purpose = purpose;
    req.signer_hex = pk_;
    req.payload = p.payload;
    req.to_sign = p.to_sign;
    req.calls = std::move(lines);
    return req;
  }
  // Submits what the app signed; the chain checks the signature again.
  Result<grid::SubmitResult> SubmitSigned(const grid::PreparedExtrinsic& p, const std::string& sig_hex) {
    auto sig = grid::HexDecode(sig_hex);
    if (!sig.ok()) return sig.status();
    auto x = chain_->Assemble(p, *sig);
    if (!x.ok()) return x.status();
    return chain_->Submit(*x);
  }
  bool Live(uint64_t contract) {
    auto k = chain_->Contract(contract);
    return k.ok() && k->state == "Created";
  }
  uint32_t Nonce() {
    auto n = chain_->AccountNextIndex(Key().public_key());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }
  uint64_t Free() {
    auto a = chain_->Account(Key().public_key());
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? uint64_t(a->free) : 0;
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
  // The phone: approves `uri` after a short delay (so the signer really waits).
  void ApproveLater(const std::string& uri) {
    JoinApprover();
    approver_ = std::thread([this, uri] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      grid::HttpClient c(std::chrono::seconds(20));
      auto r = c.Send("POST", devnet_->base_url() + "/app/approve", json{{"request", uri}}.dump());
      approve_status_ = r.ok() ? r->status : -1;
      std::lock_guard<std::mutex> lock(approve_mu_);
      approve_body_ = r.ok() ? r->body : r.status().ToString();
    });
  }
  void JoinApprover() {
    if (approver_.joinable()) approver_.join();
  }
  std::string ApproveBody() {
    std::lock_guard<std::mutex> lock(approve_mu_);
    return approve_body_;
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
  std::unique_ptr<grid::TfchainClient> chain_;
  std::optional<grid::Identity> identity_;
  std::optional<grid::Ed25519Key> key_;
  std::string pk_;
  uint32_t twin_id_ = 0;
  std::ostringstream out_;
  std::thread approver_;
  std::atomic<int> approve_status_{0};
  std::mutex approve_mu_;
  std::string approve_body_;
};

// ---- the document: one format, and the worst case fits one QR code ----

TEST(SignRequestDocument, EncodesCompactlyAndDecodesStrictly) {
  SignRequestDocument d;
  d.uuid = "0123abcd-4567-89ef-0123-456789abcdef";
  d.callback_url = "http://127.0.0.1:8080/api/0123abcd-4567-89ef-0123-456789abcdef/answer";
  d.data_to_sign = {std::string("\x1a\x02\x2a\x00", 4)};
  EXPECT_EQ(EncodeSignRequestDocument(d),
            "{\"uuid\":\"0123abcd-4567-89ef-0123-456789abcdef\",\"CallbackUrl\":\"http://127.0.0.1:8080/"
            "api/0123abcd-4567-89ef-0123-456789abcdef/answer\",\"DataToSign\":[\"GgIqAA==\"]}");
  d.payment = SignRequestPayment{50'000'000, PaymentDestination("GBRIDGE", 7)};
  const std::string text = EncodeSignRequestDocument(d);
  EXPECT_NE(text.find(",\"Payment\":{\"Amount\":50000000,\"Destination\":\"TFT:GBRIDGE?message=twin_7\"},"
                      "\"DataToSign\""),
            std::string::npos)
      << text;
  auto back = DecodeSignRequestDocument(text, false);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->uuid, d.uuid);
  EXPECT_EQ(back->callback_url, d.callback_url);
  EXPECT_EQ(back->payment, d.payment);
  EXPECT_EQ(back->data_to_sign, d.data_to_sign);
  EXPECT_EQ(EncodeSignRequestDocument(*back), text);
  // The relay's fields only where the relay speaks.
  EXPECT_FALSE(DecodeSignRequestDocument(PendingView(text), false).ok());
  auto view = DecodeSignRequestDocument(PendingView(text), true);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->state, "pending");

  auto refused = [&](const std::string& from, const std::string& to, const std::string& needle) {
    std::string t = text;
    size_t at = t.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    auto r = DecodeSignRequestDocument(t, true);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  refused("0123abcd-4567", "0123ABCD-4567", "uuid");
  refused("http://127.0.0.1:8080", "ftp://127.0.0.1:8080", "CallbackUrl");
  refused("http://127.0.0.1:8080/", "http://127.0.0.1:8080/" + std::string(100, 'x'), "at most 160");
  refused("\"Amount\":50000000", "\"Amount\":0", "Payment.Amount");
  refused("\"Amount\":50000000", "\"Amount\":-5", "Payment.Amount");
  refused("twin_7", "twin_07", "Payment.Destination");
  refused("twin_7", "twin_4294967296", "Payment.Destination");
  refused("TFT:GBRIDGE", "TFT:gbridge", "Payment.Destination");
  refused("GgIqAA==", "GgIqAA", "DataToSign[0]");
  refused("GgIqAA==", "GgIqAB==", "DataToSign[0]");  // non-zero padding bits
  refused("[\"GgIqAA==\"]", "[]", "DataToSign");
  refused("\"uuid\"", "\"Uuid\"", "unknown field");
  EXPECT_FALSE(DecodeSignRequestDocument("[]", true).ok());
  EXPECT_FALSE(DecodeSignRequestDocument("{\"uuid\":", true).ok());
}

// The bound the chunks are packed to (kMaxSigningPayloadBytes) holds in the
// worst case: the longest payload, the longest CallbackUrl allowed, the
// largest amount and a 10-digit twin id. Inline: the QR text; url flow: the
// document GET <url> returns while pending.
TEST(SignRequestDocument, WorstCaseFitsOneQrCodeInBothFlows) {
  SignRequestDocument d;
  d.uuid = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  d.callback_url = "https://" + std::string(kMaxCallbackUrlBytes - 8, 'r');
  d.payment = SignRequestPayment{std::numeric_limits<uint64_t>::max(),
                                 PaymentDestination(std::string(kMaxBridgeAddressBytes, 'G'),
                                                    std::numeric_limits<uint32_t>::max())};
  d.data_to_sign = {std::string(kMaxSigningPayloadBytes, '\xff')};
  const std::string document = EncodeSignRequestDocument(d);
  ASSERT_TRUE(DecodeSignRequestDocument(document, false).ok()) << "every field at its bound is valid";
  const std::string inline_text = std::string(kSignAndPayUriPrefix) + document;
  EXPECT_EQ(inline_text.size(), 2944u);
  EXPECT_LE(inline_text.size(), kQrMaxPayloadBytes);
  EXPECT_EQ(PendingView(document).size(), 2939u);
  EXPECT_LE(PendingView(document).size(), kQrMaxPayloadBytes);
  // How much room is left: the longest payload that would still fit inline
  // with these bounds (a base64 quantum is 3 bytes for 4 characters).
  size_t fits = kMaxSigningPayloadBytes;
  while (true) {
    SignRequestDocument more = d;
    more.data_to_sign = {std::string(fits + 1, '\xff')};
    if (kSignAndPayUriPrefix.size() + EncodeSignRequestDocument(more).size() > kQrMaxPayloadBytes) break;
    fits++;
  }
  EXPECT_EQ(fits, 1908u) << "kMaxSigningPayloadBytes (1900) leaves 8 bytes of margin";
  // And a code that large is a real, readable QR code.
  auto qr = EncodeQr(inline_text);
  ASSERT_TRUE(qr.ok()) << qr.status().ToString();
  EXPECT_EQ(qr->version, 40);
  REQUIRE_ZBARIMG();
  auto png = RenderPng(*qr, 8);
  ASSERT_TRUE(png.ok());
  const std::string path = (sfs::temp_directory_path() / ("qstor-worst-case-" + std::to_string(::getpid()) + ".png")).string();
  ASSERT_TRUE(WriteFileAtomic(path, *png, 0600).ok());
  EXPECT_EQ(ZbarDecode(path), inline_text);
  sfs::remove(path);
}

// ---- ConnectSigner with real payloads ----

TEST_F(ConnectTest, UrlFlowShowsTheCallsAndTheChainTakesWhatTheAppSigned) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  ASSERT_NE(contract, 0u);
  auto cancel = chain_->CancelContract(contract);
  ASSERT_TRUE(cancel.ok());
  auto p = Prepare({*cancel});
  SignRequest req = Request(p, 1, 1, "cancel contracts",
                            {"SmartContractModule.cancel_contract contract " + std::to_string(contract)});
  ConnectRequest seen;
  std::string relay_body;
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) {
    seen = r;
    relay_body = Raw("GET", "/api/" + r.uuid).body;
    ApproveLater(r.uri);
  };
  auto flow = std::make_shared<ConnectSigner>(*grid_, opt);
  uint32_t nonce_before = Nonce();
  auto sig = flow->Sign(req);
  JoinApprover();
  ASSERT_TRUE(sig.ok()) << sig.status().ToString() << "\n" << out_.str();
  EXPECT_EQ(approve_status_.load(), 200) << ApproveBody();
  EXPECT_TRUE(grid::Ed25519VerifyHex(pk_, p.to_sign, *sig));
  // The chain takes it: the app signed the real signing payload.
  auto res = SubmitSigned(p, *sig);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_FALSE(Live(contract)) << "the app-signed cancel was applied";
  EXPECT_EQ(Nonce(), nonce_before + 1);

  // The QR holds the URL; the URL serves the document, which holds the
  // payload (base64) and no Payment.
  EXPECT_EQ(seen.flow, "url");
  EXPECT_EQ(seen.uri, "threebot://signandpay/#" + devnet_->base_url() + "/api/" + seen.uuid);
  EXPECT_EQ(seen.document, relay_body) << "the bytes the app fetches";
  auto doc = DecodeSignRequestDocument(relay_body, true);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString() << relay_body;
  EXPECT_EQ(doc->state, "pending");
  EXPECT_EQ(doc->data_to_sign, std::vector<std::string>{p.payload});
  EXPECT_FALSE(doc->payment.has_value());
  EXPECT_EQ(doc->callback_url, devnet_->base_url() + "/api/" + seen.uuid + "/answer");
  EXPECT_EQ(relay_body, PendingView(EncodeSignRequestDocument(*doc))) << "one format, byte for byte";
  // What the phone showed: the call it decoded from the payload.
  json answer = json::parse(ApproveBody(), nullptr, false);
  ASSERT_TRUE(answer.is_object()) << ApproveBody();
  EXPECT_EQ(answer["flow"], "url");
  EXPECT_EQ(answer["calls"],
            json::array({"SmartContractModule.cancel_contract(contract_id: " + std::to_string(contract) + ")"}));
  // The relay recorded the answer that came by the CallbackUrl.
  auto after = Get("/api/" + seen.uuid);
  EXPECT_EQ(after["State"], "approved");
  EXPECT_EQ(after["Response"]["SignedData"][0], *sig);

  // What the user saw: chunk, purpose, the calls, the QR in half blocks, the
  // plain URI on its own line, both files.
  std::string out = out_.str();
  EXPECT_NE(out.find("Sign chunk 1 of 1 (cancel contracts)"), std::string::npos) << out;
  EXPECT_NE(out.find("The app signs one transaction (" + std::to_string(p.payload.size()) +
                     " bytes) of 1 call; check that it shows the same:\n  "
                     "SmartContractModule.cancel_contract contract " + std::to_string(contract) + "\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\n" + seen.uri + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("(url flow, " + std::to_string(seen.uri.size()) + " bytes)"), std::string::npos) << out;
  EXPECT_NE(out.find("\u2580"), std::string::npos) << "half blocks: " << out;
  EXPECT_NE(out.find("\x1b["), std::string::npos) << "forced black on white";
  EXPECT_NE(out.find("Chunk 1 of 1 signed by the app."), std::string::npos) << out;
  EXPECT_EQ(seen.png_path, root_ + "/home/connect/demo/cancel-contracts-chunk-1.png");
  EXPECT_NE(Slurp(seen.svg_path).find("<svg"), std::string::npos);
  EXPECT_EQ(sfs::status(seen.png_path).permissions() & sfs::perms::all,
            sfs::perms::owner_read | sfs::perms::owner_write);
  EXPECT_EQ(out.find(Key().SeedHex()), std::string::npos) << "nothing secret in the output";
}

TEST_F(ConnectTest, InlineFlowCarriesTheWholeRequestAndTheAnswerComesByTheCallbackUrl) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  ASSERT_NE(contract, 0u);
  auto p = Prepare({chain_->CancelContract(contract).value()});
  SignRequest req = Request(p, 2, 3, "cancel contracts", {"cancel " + std::to_string(contract)});
  ConnectRequest seen;
  std::string relay_body;
  ConnectOptions opt = Options();
  opt.qr = Manifest::Payment::Qr::kInline;
  opt.json = true;
  opt.on_request = [&](const ConnectRequest& r) {
    seen = r;
    relay_body = Raw("GET", "/api/" + r.uuid).body;
    ApproveLater(r.uri);
  };
  ConnectSigner flow(*grid_, opt);
  auto sig = flow.Sign(req);
  JoinApprover();
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(approve_status_.load(), 200) << ApproveBody();
  ASSERT_TRUE(SubmitSigned(p, *sig).ok());
  EXPECT_FALSE(Live(contract));
  // The QR text is the prefix and the document itself; the relay serves the
  // same document (plus its State) at the request's URL.
  EXPECT_EQ(seen.flow, "inline");
  EXPECT_EQ(seen.uri, std::string(kSignAndPayUriPrefix) + seen.document);
  EXPECT_EQ(relay_body, PendingView(seen.document)) << "one format for both flows";
  auto doc = DecodeSignRequestDocument(seen.document, false);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->data_to_sign, std::vector<std::string>{p.payload});
  EXPECT_LE(seen.uri.size(), kQrMaxPayloadBytes);
  json answer = json::parse(ApproveBody(), nullptr, false);
  EXPECT_EQ(answer["flow"], "inline") << ApproveBody();
  EXPECT_EQ(Get("/api/" + seen.uuid)["State"], "approved");
  // --json: the event names the flow, the sizes and the calls.
  std::istringstream lines(out_.str());
  std::string line;
  int events = 0;
  while (std::getline(lines, line)) {
    auto e = json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << "not JSON: " << line;
    if (e["type"] != "sign_request") continue;
    events++;
    EXPECT_EQ(e["flow"], "inline");
    EXPECT_EQ(e["uri"], seen.uri);
    EXPECT_EQ(e["qr_bytes"], seen.uri.size());
    EXPECT_EQ(e["request_bytes"], seen.document.size());
    EXPECT_EQ(e["payload_bytes"], p.payload.size());
    EXPECT_EQ(e["calls"], json::array({"cancel " + std::to_string(contract)}));
    EXPECT_EQ(e["chunk"], 2);
    EXPECT_EQ(e["chunks"], 3);
  }
  EXPECT_EQ(events, 1);
}

// Each chunk's PNG, read by zbarimg, gives exactly the QR text, within 2953
// bytes, in both flows; the chunks are real payloads up to near the bound.
TEST_F(ConnectTest, EveryChunkPngDecodesToItsQrTextInBothFlows) {
  REQUIRE_ZBARIMG();
  RegisterAndPair();
  const uint32_t node = AnyNode();
  // 1: one call; 2: a batch_all of nine create_node_contract (about 1,850
  // bytes of payload, hashed before signing).
  std::vector<std::vector<grid::EncodedCall>> chunks;
  chunks.push_back({chain_->CancelContract(12345).value()});
  std::vector<grid::EncodedCall> creates;
  for (int i = 0; i < 9; i++) {
    creates.push_back(chain_->CreateNodeContract(node, std::string(32, char('a' + i)),
                                                 std::string(150, char('0' + i)), 0)
                          .value());
  }
  chunks.push_back(creates);
  for (auto qr : {Manifest::Payment::Qr::kUrl, Manifest::Payment::Qr::kInline}) {
    ConnectOptions opt = Options();
    opt.qr = qr;
    std::vector<ConnectRequest> seen;
    std::vector<std::string> decoded;
    opt.on_request = [&](const ConnectRequest& r) {
      seen.push_back(r);
      decoded.push_back(ZbarDecode(r.png_path));
      ApproveLater(r.uri);
    };
    ConnectSigner flow(*grid_, opt);
    for (size_t i = 0; i < chunks.size(); i++) {
      auto p = Prepare(chunks[i]);
      if (i == 1) {
        EXPECT_GT(p.payload.size(), 1700u);
        EXPECT_LE(p.payload.size(), kMaxSigningPayloadBytes);
        EXPECT_EQ(p.to_sign.size(), 32u) << "over 256 bytes: the hash is signed";
      }
      auto sig = flow.Sign(Request(p, i + 1, chunks.size(), "create contracts", {}));
      JoinApprover();
      ASSERT_TRUE(sig.ok()) << sig.status().ToString() << " " << ApproveBody();
      EXPECT_TRUE(grid::Ed25519VerifyHex(pk_, p.to_sign, *sig));
    }
    ASSERT_EQ(seen.size(), chunks.size());
    for (size_t i = 0; i < seen.size(); i++) {
      EXPECT_EQ(decoded[i], seen[i].uri) << "chunk " << i + 1 << " " << seen[i].flow;
      EXPECT_LE(decoded[i].size(), kQrMaxPayloadBytes);
      EXPECT_LE(seen[i].document.size(), kQrMaxPayloadBytes);
      if (qr == Manifest::Payment::Qr::kInline) {
        EXPECT_EQ(decoded[i], std::string(kSignAndPayUriPrefix) + seen[i].document)
            << "the request itself is in the code";
      } else {
        EXPECT_LT(decoded[i].size(), 120u) << "a short link";
      }
    }
  }
}

TEST_F(ConnectTest, SignatureByAnotherKeyIsRefusedAndNothingSubmitted) {
  RegisterAndPair();
  // The app holds another mnemonic for this twin.
  auto other = grid::Ed25519Key::Generate();
  auto db = Ledger();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("UPDATE app_keys SET seed = ? WHERE twin_id = ?",
                       {other.SeedHex(), int64_t(twin_id_)})
                  .ok());
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) { ApproveLater(r.uri); };
  ConnectSigner flow(*grid_, opt);
  auto p = Prepare({chain_->CancelContract(1).value()});
  auto sig = flow.Sign(Request(p, 1, 1, "cancel contracts", {}));
  JoinApprover();
  EXPECT_EQ(approve_status_.load(), 200) << "the app did sign, with the wrong key";
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), Status::Code::kPermissionDenied);
  const std::string& msg = sig.status().message();
  EXPECT_NE(msg.find("does not verify against the twin's key " + pk_), std::string::npos) << msg;
  EXPECT_NE(msg.find("signed with key " + other.PublicKeyHex()), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing of chunk 1 was submitted; run `qstor apply` again"),
            std::string::npos)
      << msg;
}

// The app (here, the relay's copy of its answer) signs other bytes than the
// chunk's: refused, whatever the app decoded.
TEST_F(ConnectTest, SignatureOverOtherBytesIsRefused) {
  RegisterAndPair();
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) {
    std::string forged = Key().SignHex("other bytes");
    auto a = Raw("POST", "/api/" + r.uuid + "/answer",
                 json{{"SignedData", json::array({forged})}, {"PublicKey", pk_}}.dump());
    EXPECT_EQ(a.status, 200) << a.body;
  };
  ConnectSigner flow(*grid_, opt);
  auto p = Prepare({chain_->CancelContract(1).value()});
  auto sig = flow.Sign(Request(p, 1, 1, "cancel contracts", {}));
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(sig.status().message().find("The app signed other bytes than this chunk's payload"),
            std::string::npos)
      << sig.status().message();
}

TEST_F(ConnectTest, TimeoutSaysSoAndNothingIsSubmitted) {
  RegisterAndPair();
  ConnectOptions opt = Options(std::chrono::milliseconds(1500));
  std::string uuid;
  opt.on_request = [&](const ConnectRequest& r) { uuid = r.uuid; };
  ConnectSigner flow(*grid_, opt);
  auto p = Prepare({chain_->CancelContract(1).value()});
  auto start = std::chrono::steady_clock::now();
  auto sig = flow.Sign(Request(p, 1, 1, "cancel contracts", {}));
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), Status::Code::kTimeout);
  const std::string& msg = sig.status().message();
  EXPECT_NE(msg.find("the app did not sign chunk 1 of 1 (cancel contracts) within 1500ms"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("nothing of chunk 1 was submitted; run `qstor apply` again"),
            std::string::npos)
      << msg;
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::seconds(20));
  EXPECT_EQ(Get("/api/" + uuid)["State"], "pending");
}

TEST_F(ConnectTest, RejectedRequestSaysSo) {
  RegisterAndPair();
  ConnectOptions opt = Options();
  opt.rerun = "qstor destroy";
  opt.on_request = [&](const ConnectRequest& r) {
    // The relay marks the request rejected (as a relay may, e.g. expired).
    auto db = Ledger();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Exec("UPDATE sign_requests SET state = 'rejected' WHERE uuid = ?", {r.uuid}).ok());
  };
  ConnectSigner flow(*grid_, opt);
  auto p = Prepare({chain_->CancelContract(1).value()});
  auto sig = flow.Sign(Request(p, 2, 3, "cancel contracts", {}));
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

// The phone refuses a payload made for another chain; its refusal reaches
// the relay by the CallbackUrl, so qstor stops waiting and says why.
TEST_F(ConnectTest, PhoneRefusingAPayloadForAnotherChainEndsTheWait) {
  RegisterAndPair();
  auto p = Prepare({chain_->CancelContract(1).value()});
  // The same call, signed for a chain whose genesis is 0x11...
  auto meta = chain_->Chain();
  ASSERT_TRUE(meta.ok());
  tfchain::ChainInfo other = p.chain;
  other.genesis.fill(0x11);
  if (p.extra.era.immortal) other.era_block_hash = other.genesis;
  auto payload = tfchain::SigningPayload(*meta->metadata, p.call, p.extra, other);
  ASSERT_TRUE(payload.ok());
  grid::PreparedExtrinsic forged = p;
  forged.payload = *payload;
  forged.to_sign = tfchain::PayloadToSign(*payload);
  ConnectOptions opt = Options(std::chrono::seconds(20));
  opt.qr = Manifest::Payment::Qr::kInline;
  opt.on_request = [&](const ConnectRequest& r) { ApproveLater(r.uri); };
  ConnectSigner flow(*grid_, opt);
  auto start = std::chrono::steady_clock::now();
  auto sig = flow.Sign(Request(forged, 1, 1, "cancel contracts", {}));
  JoinApprover();
  ASSERT_FALSE(sig.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << "not a timeout";
  EXPECT_EQ(approve_status_.load(), 409) << ApproveBody();
  EXPECT_NE(ApproveBody().find("is for another chain: genesis 0x1111"), std::string::npos) << ApproveBody();
  EXPECT_EQ(sig.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(sig.status().message().find("is rejected: the app refused: DataToSign[0]"), std::string::npos)
      << sig.status().message();
}

// What ConnectSigner refuses before asking anything.
TEST_F(ConnectTest, RequestsThatAreNotSigningPayloadsAreRefusedUpFront) {
  RegisterAndPair();
  ConnectOptions opt = Options();
  int shown = 0;
  opt.on_request = [&](const ConnectRequest&) { shown++; };
  ConnectSigner flow(*grid_, opt);
  auto p = Prepare({chain_->CancelContract(1).value()});
  SignRequest empty = Request(p, 1, 1, "x", {});
  empty.payload.clear();
  EXPECT_EQ(flow.Sign(empty).status().code(), Status::Code::kInvalidArgument);
  SignRequest mismatch = Request(p, 1, 1, "x", {});
  mismatch.to_sign = "other";
  auto m = flow.Sign(mismatch);
  EXPECT_EQ(m.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(m.status().message().find("the bytes to sign are not those of its"), std::string::npos)
      << m.status().message();
  EXPECT_NE(m.status().message().find("nothing of chunk 1 was submitted"), std::string::npos)
      << m.status().message();
  SignRequest stranger = Request(p, 1, 1, "x", {});
  stranger.signer_hex = grid::Ed25519Key::Generate().PublicKeyHex();
  EXPECT_EQ(flow.Sign(stranger).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(shown, 0);
  EXPECT_EQ(flow.requests(), 0u);
}

TEST_F(ConnectTest, FirstRequestCarriesTheTopUpAndTheChainAcceptsTheSignature) {
  // A twin with nothing to spend: register it, then move its TFT away.
  RegisterAndPair();
  const uint64_t topup = 5 * grid::kUnitsPerTft, need = 3 * grid::kUnitsPerTft;
  const auto stranger = grid::Ed25519Key::Generate();
  {
    auto all = Free();
    auto out = chain_->SignAndSubmit(Key(), {chain_->TransferKeepAlive(stranger.public_key(),
                                                                       all - grid::kUnitsPerTft / 10)
                                                 .value()});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
  }
  const uint64_t start_balance = Free();
  ASSERT_LT(start_balance, need);
  std::vector<json> relay_views;
  ConnectOptions opt = Options();
  opt.json = true;
  opt.on_request = [&](const ConnectRequest& r) {
    relay_views.push_back(Get("/api/" + r.uuid));
    ApproveLater(r.uri);
  };
  ConnectSigner flow(*grid_, opt);
  ASSERT_TRUE(flow.FundWithFirstRequest(topup, need).ok());
  // Two chunks: transfers to a stranger, signed by the app, submitted here.
  for (size_t chunk = 1; chunk <= 2; chunk++) {
    auto p = Prepare({chain_->TransferKeepAlive(stranger.public_key(), grid::kUnitsPerTft).value()});
    auto sig = flow.Sign(Request(p, chunk, 2, "transfer", {}));
    JoinApprover();
    ASSERT_TRUE(sig.ok()) << sig.status().ToString() << " " << ApproveBody();
    if (chunk == 1) {
      EXPECT_GE(Free(), need) << "paid while signing chunk 1";
    }
    auto res = SubmitSigned(p, *sig);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
  }
  ASSERT_EQ(relay_views.size(), 2u);
  EXPECT_EQ(relay_views[0]["Payment"]["Amount"], topup) << "the first request pays";
  auto pricing = grid_->GetPricing();
  ASSERT_TRUE(pricing.ok());
  EXPECT_EQ(relay_views[0]["Payment"]["Destination"],
            "TFT:" + pricing->bridge_address + "?message=twin_" + std::to_string(twin_id_));
  EXPECT_FALSE(relay_views[1].contains("Payment")) << "only the first";
  // 5 TFT sent, 1 kept by the bridge, 2 transferred, two fees.
  EXPECT_EQ(Free(), start_balance + 4 * grid::kUnitsPerTft - 2 * grid::kUnitsPerTft -
                        2 * devnet::kExtrinsicFeeUnits);
  std::istringstream lines(out_.str());
  std::string line;
  int requests = 0, approved = 0;
  while (std::getline(lines, line)) {
    auto e = json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << "not JSON: " << line;
    if (e["type"] == "sign_request") {
      requests++;
      EXPECT_EQ(e["payment_units"], requests == 1 ? topup : 0);
      EXPECT_EQ(e["flow"], "url");
      EXPECT_EQ(e["uri"].get<std::string>().rfind("threebot://signandpay/#", 0), 0u);
    }
    if (e["type"] == "sign_approved") approved++;
  }
  EXPECT_EQ(requests, 2);
  EXPECT_EQ(approved, 2);
}

// DestroyAll through the app: the chunk the app signs is the real
// cancel_contract payload. (Passes once apply hands TFChain payloads to the
// signer: reconciler/apply.cc.)
TEST_F(ConnectTest, DestroyThroughTheAppSignsTheCancelPayload) {
  RegisterAndPair();
  uint64_t contract = MakeContract();
  ASSERT_NE(contract, 0u);
  State st = StateWith(contract);
  json relay_view;
  ConnectOptions opt = Options();
  opt.on_request = [&](const ConnectRequest& r) {
    relay_view = Get("/api/" + r.uuid);
    ApproveLater(r.uri);
  };
  auto flow = std::make_shared<ConnectSigner>(*grid_, opt);
  ApplyOptions ao;
  ao.signer = MakeConnectSigner(flow);
  auto n = DestroyAll(*grid_, st, *identity_, ao);
  JoinApprover();
  ASSERT_TRUE(n.ok()) << n.status().ToString() << "\n" << out_.str() << "\n" << ApproveBody();
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(Live(contract));
  json answer = json::parse(ApproveBody(), nullptr, false);
  EXPECT_EQ(answer["calls"],
            json::array({"SmartContractModule.cancel_contract(contract_id: " + std::to_string(contract) + ")"}))
      << ApproveBody();
  EXPECT_NE(out_.str().find("Scan 1 of 1: sign chunk 1 of 1 (cancel contracts)"), std::string::npos)
      << out_.str();
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

// `qstor devnet approve` takes the QR text of either flow as printed (the
// inline one is the whole request), and --print shows what the phone decoded.
TEST_F(ConnectCliTest, DevnetApprovePrintsWhatThePhoneDecodedInBothFlows) {
  RegisterAndPair();
  for (auto qr : {Manifest::Payment::Qr::kUrl, Manifest::Payment::Qr::kInline}) {
    const uint64_t contract = MakeContract(std::string(32, qr == Manifest::Payment::Qr::kUrl ? 'b' : 'c'));
    ASSERT_NE(contract, 0u);
    auto p = Prepare({chain_->CancelContract(contract).value()});
    ConnectOptions opt = Options();
    opt.qr = qr;
    Cmd approved;
    opt.on_request = [&](const ConnectRequest& r) {
      JoinApprover();
      approver_ = std::thread([&, uri = r.uri] { approved = Q("devnet approve --print '" + uri + "'"); });
    };
    ConnectSigner flow(*grid_, opt);
    auto sig = flow.Sign(Request(p, 1, 1, "cancel contracts", {}));
    JoinApprover();
    ASSERT_TRUE(sig.ok()) << sig.status().ToString() << approved.out << approved.err;
    EXPECT_EQ(approved.code, 0) << approved.err;
    const std::string flow_name = qr == Manifest::Payment::Qr::kUrl ? "url" : "inline";
    EXPECT_NE(approved.out.find("The phone showed (" + flow_name + " flow):\n  "
                                "SmartContractModule.cancel_contract(contract_id: " +
                                std::to_string(contract) + ")\n"),
              std::string::npos)
        << approved.out;
    ASSERT_TRUE(SubmitSigned(p, *sig).ok());
    EXPECT_FALSE(Live(contract));
  }
  // A text that is not a sign request is refused, and says why.
  Cmd bad = Q("devnet approve 'threebot://signandpay/#{\"uuid\":1}'");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("sign request: uuid"), std::string::npos) << bad.err;
}

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
    EXPECT_FALSE(v.contains("Payment")) << "the wallet held enough";
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

// spec.payment.qr: inline through the real apply: every QR text is the whole
// sign request (the app fetches nothing), each PNG reads back (zbarimg) as
// exactly that text, within one code, and the phone signs what it decoded.
TEST_F(ConnectCliTest, ApplyWithInlineQrCodesCarriesEachRequestInItsCode) {
  REQUIRE_ZBARIMG();
  ASSERT_EQ(Q("init").code, 0);
  std::ofstream(root_ + "/storage.yaml")
      << "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: demo\n"
         "spec:\n  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 4\n"
         "    parityShards: 2\n  payment: {method: connect, timeout: 60s, qr: inline}\n";
  ASSERT_NO_FATAL_FAILURE(FundByTopUp(100));
  Pair();
  std::vector<std::string> uris;
  Cmd a = RunApproving("apply storage.yaml --auto-approve --no-mount --seed 11", false, &uris);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  ASSERT_GE(uris.size(), 1u);
  std::set<std::string> printed;
  for (const auto& u : uris) {
    ASSERT_EQ(u.rfind("threebot://signandpay/#{\"uuid\":\"", 0), 0u) << u.substr(0, 80);
    EXPECT_LE(u.size(), kQrMaxPayloadBytes);
    auto doc = DecodeSignRequestDocument(u.substr(kSignAndPayUriPrefix.size()), false);
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    ASSERT_EQ(doc->data_to_sign.size(), 1u);
    EXPECT_LE(doc->data_to_sign[0].size(), kMaxSigningPayloadBytes);
    EXPECT_EQ(Get("/api/" + doc->uuid)["State"], "approved");
    printed.insert(u);
  }
  EXPECT_NE(a.out.find("(inline flow, "), std::string::npos) << a.out;
  // Every PNG written reads back as one of the printed QR texts.
  size_t pngs = 0;
  for (const auto& e : sfs::directory_iterator(root_ + "/home/connect/demo")) {
    if (e.path().extension() != ".png") continue;
    pngs++;
    std::string text = ZbarDecode(e.path().string());
    EXPECT_TRUE(printed.count(text)) << e.path() << " reads as " << text.substr(0, 120);
    EXPECT_LE(text.size(), kQrMaxPayloadBytes);
  }
  EXPECT_GE(pngs, 1u);
  ExpectDeployed();
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
    EXPECT_FALSE(Get("/api/" + uris[i].substr(uris[i].rfind('/') + 1)).contains("Payment"));
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
