#include "devnet/devnet.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>
#include "common/file_util.h"
#include "devnet/http_server.h"
#include "devnet/sign_phone.h"
#include "devnet/sqlite_db.h"
#include "devnet/tfchain_node.h"
#include "devnet/tfchain_runtime.h"
#include "devnet/zdb_process.h"
#include "grid/chain_pricing.h"
#include "grid/challenge.h"
#include "grid/connect_login.h"
#include "grid/crypto.h"
#include "grid/chain_call.h"
#include "grid/http_client.h"
#include "grid/network.h"

namespace qstor::devnet {

namespace fs = std::filesystem;
using grid::Contract;
using grid::Deployment;
using grid::Node;
using nlohmann::json;

namespace {

constexpr const char* kBridge = "GDEVNETBRIDGEQSTORLOCALGRID0000000000000000000000000000";
constexpr size_t kMaxDeploymentData = 4096;
constexpr int kAuthWindowSeconds = 300;
// What the activation service gives a new account: 1 TFT, enough for the
// fees of its first extrinsics (0.001 TFT each on the devnet).
constexpr uint64_t kActivationUnits = grid::kUnitsPerTft;

// The devnet's Terms and Conditions (GET /legal/terms): what a twin accepts
// with user_accept_tc on the devnet, as the real grid's document is on
// TFChain (grid/terms.h hashes these bytes).
constexpr std::string_view kTermsDocument =
    "qstor devnet: terms and conditions\n"
    "\n"
    "This is a local test grid run by `qstor devnet` on 127.0.0.1. Its TFT are not real,\n"
    "nothing it stores is guaranteed to survive, and it may be reset at any time.\n"
    "Accepting these terms (TfgridModule.user_accept_tc) lets an account create a twin\n"
    "here, as accepting ThreeFold's terms does on TFChain.\n";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomHex(size_t bytes) {
  std::string b(bytes, '\0');
  randombytes_buf(b.data(), b.size());
  return grid::HexEncode(b);
}

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump();
  return r;
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kPermissionDenied:
      return 403;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return 409;
    case Status::Code::kResourceExhausted:
      return 402;
    case Status::Code::kUnavailable:
      return 503;
    case Status::Code::kTimeout:
      return 504;
    default:
      return 500;
  }
}

HttpResponse Error(const Status& s) { return JsonError(HttpStatusOf(s), s.message()); }

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (true) {
    auto p = s.find(sep);
    out.emplace_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + 1);
  }
  return out;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses a whole unsigned decimal; refuses anything else.
bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t nv = v * 10 + uint64_t(c - '0');
    if (nv / 10 != v) return false;
    v = nv;
  }
  *out = v;
  return true;
}

Result<std::optional<uint64_t>> QueryU64(const HttpRequest& r, const std::string& name) {
  const std::string* v = r.Query(name);
  if (v == nullptr || v->empty()) return std::optional<uint64_t>();
  uint64_t x;
  if (!ParseU64(*v, &x)) {
    return Status::InvalidArgument("query parameter " + name + ": expected unsigned integer, got '" +
                                   *v + "'");
  }
  return std::optional<uint64_t>(x);
}

Result<std::optional<bool>> QueryBool(const HttpRequest& r, const std::string& name) {
  const std::string* v = r.Query(name);
  if (v == nullptr || v->empty()) return std::optional<bool>();
  std::string l = Lower(*v);
  if (l == "true" || l == "1") return std::optional<bool>(true);
  if (l == "false" || l == "0") return std::optional<bool>(false);
  return Status::InvalidArgument("query parameter " + name + ": expected true or false");
}

std::vector<std::string> QueryList(const HttpRequest& r, const std::string& name) {
  std::vector<std::string> out;
  auto range = r.query.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    for (auto& p : Split(it->second, ',')) {
      if (!p.empty()) out.push_back(p);
    }
  }
  return out;
}

Result<std::vector<uint64_t>> QueryIds(const HttpRequest& r, const std::string& name) {
  std::vector<uint64_t> out;
  for (const auto& s : QueryList(r, name)) {
    uint64_t x;
    if (!ParseU64(s, &x)) {
      return Status::InvalidArgument("query parameter " + name + ": '" + s + "' is not an id");
    }
    out.push_back(x);
  }
  return out;
}

struct Paging {
  uint64_t page = 1, size = 50;
  bool ret_count = false, randomize = false;
};

Result<Paging> ParsePaging(const HttpRequest& r) {
  Paging p;
  auto page = QueryU64(r, "page");
  if (!page.ok()) return page.status();
  auto size = QueryU64(r, "size");
  if (!size.ok()) return size.status();
  auto rc = QueryBool(r, "ret_count");
  if (!rc.ok()) return rc.status();
  auto rnd = QueryBool(r, "randomize");
  if (!rnd.ok()) return rnd.status();
  if (page.value()) p.page = **page;
  if (size.value()) p.size = **size;
  if (p.page == 0) return Status::InvalidArgument("query parameter page: must be >= 1");
  if (p.size == 0 || p.size > 20000) {
    return Status::InvalidArgument("query parameter size: must be 1..20000");
  }
  p.ret_count = rc->value_or(false);
  p.randomize = rnd->value_or(false);
  return p;
}

// Applies paging to a list; sets count headers when asked.
template <typename T>
HttpResponse PagedJson(std::vector<T> items, const Paging& p,
                       const std::function<json(const T&)>& enc) {
  if (p.randomize) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::shuffle(items.begin(), items.end(), rng);
  }
  json arr = json::array();
  uint64_t start = (p.page - 1) * p.size;
  for (uint64_t i = start; i < items.size() && i < start + p.size; ++i) arr.push_back(enc(items[i]));
  HttpResponse r = Json(200, arr);
  if (p.ret_count) {
    r.headers["count"] = std::to_string(items.size());
    r.headers["size"] = std::to_string(p.size);
    r.headers["pages"] = std::to_string((items.size() + p.size - 1) / p.size);
  }
  return r;
}

}  // namespace

Result<uint64_t> ParseTftAmount(const std::string& text) {
  auto dot = text.find('.');
  std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  uint64_t w = 0, f = 0;
  if ((whole.empty() && frac.empty()) || (!whole.empty() && !ParseU64(whole, &w)) ||
      frac.size() > 7 || (!frac.empty() && !ParseU64(frac, &f)) || w > 1'000'000'000'000ull) {
    return Status::InvalidArgument("'" + text + "' is not a decimal TFT amount (at most 7 decimals)");
  }
  for (size_t i = frac.size(); i < 7; ++i) f *= 10;
  return w * grid::kUnitsPerTft + f;
}

Result<std::pair<uint32_t, uint64_t>> ParseTopupUri(const std::string& uri,
                                                    const std::string& bridge_address) {
  if (uri.rfind("TFT:", 0) != 0) return Status::InvalidArgument("top-up: URI must start with TFT:");
  auto q = uri.find('?');
  std::string addr = uri.substr(4, q == std::string::npos ? std::string::npos : q - 4);
  if (!bridge_address.empty() && addr != bridge_address) {
    return Status::InvalidArgument("top-up: destination " + addr + " is not this network's bridge");
  }
  if (q == std::string::npos) return Status::InvalidArgument("top-up: missing ?message=&amount=");
  std::optional<uint32_t> twin;
  std::optional<uint64_t> amount;
  for (const auto& kv : Split(std::string_view(uri).substr(q + 1), '&')) {
    auto eq = kv.find('=');
    std::string k = kv.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
    if (k == "message") {
      uint64_t id;
      if (v.rfind("twin_", 0) != 0 || !ParseU64(v.substr(5), &id) || id == 0 || id > UINT32_MAX) {
        return Status::InvalidArgument("top-up: message must be twin_<id>");
      }
      twin = uint32_t(id);
    } else if (k == "amount") {
      auto units = ParseTftAmount(v);
      if (!units.ok()) return Status::InvalidArgument("top-up: amount must be a decimal TFT amount");
      amount = *units;
    }
  }
  if (!twin) return Status::InvalidArgument("top-up: missing message=twin_<id>");
  if (!amount || *amount == 0) return Status::InvalidArgument("top-up: missing or zero amount");
  return std::make_pair(*twin, *amount);
}

// ---------------------------------------------------------------------------

struct NodeRuntime {
  bool down = false;
  int64_t latency_ms = 0;
  uint16_t zdb_port = 0;
  std::string admin_pw;
  std::unique_ptr<ZdbProcess> zdb;
};

// How a call is applied: the old JSON route (devnet rules) or a TFChain
// extrinsic (TFChain's rules, error names and effects for events).
struct CallRules {
  bool tfchain = false;                 // T&C before create_twin, relay syntax
  std::string* module_error = nullptr;  // TFChain's "Pallet.Error" of a failure
  DispatchEffects* fx = nullptr;        // what the call did (for events)
};

struct Devnet::Impl : public ChainLedger {
  DevnetOptions opt;
  // What billing uses: the options in TFChain's units (chain_pricing, what
  // the chain serves) and back (pricing), so a client that reads the chain
  // computes the same costs (grid/chain_pricing.h).
  grid::ChainPricing chain_pricing;
  grid::Pricing pricing;
  std::unique_ptr<SqliteDb> db;
  Topology topo;
  std::vector<std::array<std::string, 3>> lower_loc;  // lower-case country, city, region
  const std::string kDown = "down";
  std::map<uint32_t, NodeRuntime> rt;         // only nodes touched
  std::map<uint32_t, uint64_t> used_hru;      // node -> reserved HRU bytes
  std::recursive_mutex mu;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<TfchainNode> chain;
  std::thread biller;
  std::mutex bill_mu;
  std::condition_variable bill_cv;
  bool stopping = false;

  // --- setup ---
  Status Open();
  Status LoadNodeState();
  Status RecomputeUsed();

  // --- helpers (mu held) ---
  const Node* FindNode(uint64_t id) const {
    if (id == 0 || id > topo.nodes.size()) return nullptr;
    return &topo.nodes[id - 1];
  }
  Node LiveNode(const Node& n) const {
    Node out = n;
    auto it = used_hru.find(n.node_id);
    if (it != used_hru.end()) out.used.hru = it->second;
    auto r = rt.find(n.node_id);
    if (r != rt.end() && r->second.down) {
      out.status = "down";
      out.healthy = false;
    }
    return out;
  }
  Status SaveNodeState(uint32_t id);
  Result<ZdbProcess*> EnsureZdb(uint32_t node_id);
  Result<std::optional<grid::Twin>> TwinByPk(const std::string& pk);
  Result<grid::Twin> TwinById(uint64_t id);
  Result<Contract> ContractById(uint64_t id);
  Contract ContractFromRow(const SqlRow& r);
  Result<std::optional<Deployment>> LoadDeployment(uint64_t contract_id);
  Status StoreDeployment(const Deployment& d, uint32_t node_id);
  uint64_t Balance(const std::string& pk);
  Status Credit(const std::string& pk, uint64_t amount);

  // Namespace operations on a node's 0-db (mu held).
  Status ApplyWorkloads(uint32_t node_id, const Deployment* old_d, Deployment& d, bool paused);
  Status RemoveNamespaces(uint32_t node_id, const Deployment& d);
  Status PauseNamespaces(const Contract& c, bool pause);
  Status RemoveContractWorkloads(const Contract& c);

  // --- chain ---
  Status ApplyCall(const std::string& signer, const grid::Call& call,
                   const CallRules& rules, grid::ExtrinsicResult& res,
                   std::vector<uint64_t>& cancelled);

  // --- ChainLedger (devnet/tfchain_node.h): the SCALE chain's view ---
  std::recursive_mutex& Mutex() override { return mu; }
  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status SetMeta(const std::string& key, const std::string& value) override;
  uint64_t Seed() override { return seed_; }
  Status Sql(const std::string& statement) override { return db->ExecScript(statement); }
  Result<LedgerAccount> Account(const AccountKey& pk) override;
  Status Withdraw(const AccountKey& pk, uint64_t amount) override;
  Status Deposit(const AccountKey& pk, uint64_t amount) override;
  Status IncrementNonce(const AccountKey& pk) override;
  Status Dispatch(const AccountKey& signer, const LedgerCall& call, DispatchEffects* fx,
                  std::string* module_error) override;
  void AfterBlock(const std::vector<uint64_t>& cancelled) override;
  Result<std::vector<LedgerAccount>> Accounts() override;
  Result<std::vector<LedgerTwin>> Twins() override;
  Result<std::vector<LedgerTerms>> Terms() override;
  Result<std::vector<LedgerContract>> Contracts() override;
  std::vector<LedgerNode> Nodes() override;
  grid::ChainPricing Pricing() override { return chain_pricing; }
  uint64_t seed_ = 0;
  Status SettleGrace(uint32_t twin_id);

  // --- billing ---
  Status BillOnce();
  void BillLoop();

  // --- HTTP ---
  HttpResponse Handle(const HttpRequest& r);
  HttpResponse HandleNodes(const HttpRequest& r, const std::vector<std::string>& parts);
  HttpResponse HandleNodeDeployments(const HttpRequest& r, const Node& n,
                                     const std::vector<std::string>& parts);
  HttpResponse ListNodes(const HttpRequest& r);
  HttpResponse ListFarms(const HttpRequest& r);
  HttpResponse ListTwins(const HttpRequest& r);
  HttpResponse ListContracts(const HttpRequest& r);
  HttpResponse Stats();
  HttpResponse Activate(const HttpRequest& r);
  HttpResponse HandleAdmin(const HttpRequest& r, const std::vector<std::string>& parts);
  HttpResponse HandlePayments(const HttpRequest& r, const std::vector<std::string>& parts);
  Status CheckNodeAuth(const HttpRequest& r, uint32_t owner_twin);
  Result<json> Deposit(uint32_t twin_id, uint64_t amount, const std::string& memo);
  Result<json> AppApprove(const std::string& uuid_or_uri);
  // ThreeFold Connect login (docs/devnet.md): the users API, the phone's
  // attempt, the KYC service's verify-sei.
  Result<grid::connect::PhoneUser> ConnectUser(const std::string& name);
  HttpResponse HandleConnect(const HttpRequest& r, const std::vector<std::string>& parts);
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(http->port()); }
};

// ---------------------------------------------------------------------------
// setup

Status Devnet::Impl::Open() {
  std::error_code ec;
  fs::create_directories(opt.data_dir, ec);
  if (ec) return Status::IOError("devnet: cannot create " + opt.data_dir + ": " + ec.message());
  // The ledger holds node admin and namespace passwords: the directory is
  // 0700 and the ledger files 0600, also in a directory made by an older
  // devnet. SQLite gives its -wal and -shm files the ledger's mode.
  if (::chmod(opt.data_dir.c_str(), 0700) != 0) {
    return Status::IOError("devnet: chmod 0700 " + opt.data_dir + ": " + std::strerror(errno));
  }
  const std::string ledger = opt.data_dir + "/ledger.sqlite";
  int lfd = ::open(ledger.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) return Status::IOError("devnet: create " + ledger + ": " + std::strerror(errno));
  int lrc = ::fchmod(lfd, 0600);
  ::close(lfd);
  if (lrc != 0) return Status::IOError("devnet: chmod 0600 " + ledger + ": " + std::strerror(errno));
  for (const char* suffix : {"-wal", "-shm", "-journal"}) ::chmod((ledger + suffix).c_str(), 0600);
  // Temporaries of a devnet that died mid-write (WriteFileAtomic's .tmp.PID).
  RemoveStaleTempFiles(opt.data_dir);
  auto d = SqliteDb::Open(ledger);
  if (!d.ok()) return d.status();
  db = std::move(d).value();
  QSTOR_RETURN_IF_ERROR(db->ExecScript(R"SQL(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS accounts(pk TEXT PRIMARY KEY, balance INTEGER NOT NULL DEFAULT 0,
  nonce INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS twins(twin_id INTEGER PRIMARY KEY AUTOINCREMENT, pk TEXT UNIQUE NOT NULL,
  relay TEXT, created_at INTEGER);
CREATE TABLE IF NOT EXISTS contracts(contract_id INTEGER PRIMARY KEY AUTOINCREMENT, twin_id INTEGER,
  node_id INTEGER, state TEXT, created_at INTEGER, deployment_hash TEXT, deployment_data TEXT,
  public_ips INTEGER DEFAULT 0, hru INTEGER DEFAULT 0, grace_since INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS contracts_twin ON contracts(twin_id);
CREATE TABLE IF NOT EXISTS deployments(contract_id INTEGER PRIMARY KEY, node_id INTEGER, body TEXT);
CREATE TABLE IF NOT EXISTS bills(id INTEGER PRIMARY KEY AUTOINCREMENT, contract_id INTEGER,
  amount INTEGER, discount INTEGER, timestamp INTEGER);
CREATE INDEX IF NOT EXISTS bills_contract ON bills(contract_id);
CREATE TABLE IF NOT EXISTS node_state(node_id INTEGER PRIMARY KEY, down INTEGER DEFAULT 0,
  latency_ms INTEGER DEFAULT 0, zdb_port INTEGER DEFAULT 0, admin_pw TEXT);
CREATE TABLE IF NOT EXISTS deposits(id INTEGER PRIMARY KEY AUTOINCREMENT, twin_id INTEGER,
  amount INTEGER, fee INTEGER, memo TEXT, at INTEGER);
CREATE TABLE IF NOT EXISTS sign_requests(uuid TEXT PRIMARY KEY, body TEXT, state TEXT,
  created_at INTEGER, response TEXT);
CREATE TABLE IF NOT EXISTS app_keys(twin_id INTEGER PRIMARY KEY, seed TEXT);
CREATE TABLE IF NOT EXISTS connect_users(name TEXT PRIMARY KEY, seed TEXT, email TEXT);
CREATE TABLE IF NOT EXISTS terms(id INTEGER PRIMARY KEY AUTOINCREMENT, pk TEXT NOT NULL,
  timestamp INTEGER, link TEXT, hash TEXT);
)SQL"));
  {
    // TFChain's twin has an RMB public key; ledgers made before it get the column.
    auto cols = db->Query("SELECT name FROM pragma_table_info('twins')");
    if (!cols.ok()) return cols.status();
    bool has_pk = false;
    for (auto& c : *cols) has_pk = has_pk || AsString(c[0]) == "rmb_pk";
    if (!has_pk) QSTOR_RETURN_IF_ERROR(db->ExecScript("ALTER TABLE twins ADD COLUMN rmb_pk TEXT"));
  }
  {
    // Sign requests name their twin beside the document (which carries it
    // only when paying); ledgers made before get the column.
    auto cols = db->Query("SELECT name FROM pragma_table_info('sign_requests')");
    if (!cols.ok()) return cols.status();
    bool has_twin = false;
    for (auto& c : *cols) has_twin = has_twin || AsString(c[0]) == "twin_id";
    if (!has_twin) {
      QSTOR_RETURN_IF_ERROR(db->ExecScript("ALTER TABLE sign_requests ADD COLUMN twin_id INTEGER"));
    }
  }
  auto meta = db->Query("SELECT key, value FROM meta");
  if (!meta.ok()) return meta.status();
  std::map<std::string, std::string> m;
  for (auto& row : *meta) m[AsString(row[0])] = AsString(row[1]);
  if (!m.count("seed")) {
    QSTOR_RETURN_IF_ERROR(db->Exec("INSERT INTO meta VALUES('seed', ?), ('nodes', ?), ('created', ?)",
                                   {std::to_string(opt.seed), std::to_string(opt.nodes),
                                    std::to_string(Now())}));
    m["seed"] = std::to_string(opt.seed);
    m["nodes"] = std::to_string(opt.nodes);
    m["created"] = std::to_string(Now());
  }
  uint64_t seed = std::stoull(m["seed"]);
  seed_ = seed;
  uint64_t nodes = std::stoull(m["nodes"]);
  topo = GenerateTopology(seed, uint32_t(nodes), std::stoll(m["created"]));
  lower_loc.clear();
  for (const auto& n : topo.nodes) {
    lower_loc.push_back({Lower(n.location.country), Lower(n.location.city), Lower(n.location.region)});
  }
  auto cp = grid::ChainPricingFromUsd(opt.su_usd_per_hour, opt.tft_usd);
  if (!cp.ok()) return cp.status().WithContext("devnet pricing");
  auto billed = grid::PricingFromChain(*cp);
  if (!billed.ok()) return billed.status().WithContext("devnet pricing");
  chain_pricing = *cp;
  pricing = *billed;
  pricing.bridge_address = kBridge;
  QSTOR_RETURN_IF_ERROR(LoadNodeState());
  return RecomputeUsed();
}

Status Devnet::Impl::LoadNodeState() {
  auto rows = db->Query("SELECT node_id, down, latency_ms, zdb_port, admin_pw FROM node_state");
  if (!rows.ok()) return rows.status();
  for (auto& r : *rows) {
    auto& n = rt[uint32_t(AsInt(r[0]))];
    n.down = AsInt(r[1]) != 0;
    n.latency_ms = AsInt(r[2]);
    n.zdb_port = uint16_t(AsInt(r[3]));
    n.admin_pw = AsString(r[4]);
  }
  return Status::OK();
}

Status Devnet::Impl::RecomputeUsed() {
  used_hru.clear();
  auto rows = db->Query(
      "SELECT node_id, SUM(hru) FROM contracts WHERE state != 'Deleted' GROUP BY node_id");
  if (!rows.ok()) return rows.status();
  for (auto& r : *rows) used_hru[uint32_t(AsInt(r[0]))] = uint64_t(AsInt(r[1]));
  return Status::OK();
}

Status Devnet::Impl::SaveNodeState(uint32_t id) {
  auto& n = rt[id];
  return db->Exec(
      "INSERT OR REPLACE INTO node_state(node_id, down, latency_ms, zdb_port, admin_pw) "
      "VALUES(?,?,?,?,?)",
      {int64_t(id), int64_t(n.down), n.latency_ms, int64_t(n.zdb_port), n.admin_pw});
}

Result<ZdbProcess*> Devnet::Impl::EnsureZdb(uint32_t node_id) {
  auto& n = rt[node_id];
  if (n.down) return Status::Unavailable(fmt::format("node {}: down", node_id));
  if (n.admin_pw.empty()) n.admin_pw = RandomHex(16);
  if (!n.zdb) {
    n.zdb = std::make_unique<ZdbProcess>(opt.qstor_bin,
                                         fmt::format("{}/nodes/{}", opt.data_dir, node_id),
                                         n.admin_pw);
  }
  if (!n.zdb->Running()) {
    Status st = n.zdb->Start(n.zdb_port);
    if (!st.ok() && n.zdb_port != 0) {
      // The old port is taken by someone else now: take a new one.
      st = n.zdb->Start(0);
    }
    if (!st.ok()) return st.WithContext(fmt::format("node {}", node_id));
    n.zdb_port = n.zdb->port();
    QSTOR_RETURN_IF_ERROR(SaveNodeState(node_id));
  }
  return n.zdb.get();
}

Result<std::optional<grid::Twin>> Devnet::Impl::TwinByPk(const std::string& pk) {
  auto rows = db->Query("SELECT twin_id, pk, relay FROM twins WHERE pk = ?", {Lower(pk)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<grid::Twin>();
  grid::Twin t;
  t.twin_id = uint32_t(AsInt((*rows)[0][0]));
  t.public_key = AsString((*rows)[0][1]);
  t.relay = AsString((*rows)[0][2]);
  auto p = grid::ParsePublicKeyHex(t.public_key);
  if (p.ok()) t.account_id = grid::Ss58Address(*p);
  return std::optional<grid::Twin>(t);
}

Result<grid::Twin> Devnet::Impl::TwinById(uint64_t id) {
  auto rows = db->Query("SELECT twin_id, pk, relay FROM twins WHERE twin_id = ?", {int64_t(id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound(fmt::format("twin {}: not found", id));
  grid::Twin t;
  t.twin_id = uint32_t(AsInt((*rows)[0][0]));
  t.public_key = AsString((*rows)[0][1]);
  t.relay = AsString((*rows)[0][2]);
  auto p = grid::ParsePublicKeyHex(t.public_key);
  if (p.ok()) t.account_id = grid::Ss58Address(*p);
  return t;
}

Contract Devnet::Impl::ContractFromRow(const SqlRow& r) {
  Contract c;
  c.contract_id = uint64_t(AsInt(r[0]));
  c.twin_id = uint32_t(AsInt(r[1]));
  c.node_id = uint32_t(AsInt(r[2]));
  c.state = AsString(r[3]);
  c.created_at = AsInt(r[4]);
  c.deployment_hash = AsString(r[5]);
  c.deployment_data = AsString(r[6]);
  c.number_of_public_ips = uint32_t(AsInt(r[7]));
  c.type = "node";
  if (const Node* n = FindNode(c.node_id)) {
    c.farm_id = n->farm_id;
    c.farm_name = n->farm_name;
  }
  return c;
}

constexpr const char* kContractCols =
    "contract_id, twin_id, node_id, state, created_at, deployment_hash, deployment_data, "
    "public_ips, hru, grace_since";

Result<Contract> Devnet::Impl::ContractById(uint64_t id) {
  auto rows = db->Query(std::string("SELECT ") + kContractCols +
                            " FROM contracts WHERE contract_id = ?",
                        {int64_t(id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound(fmt::format("contract {}: not found", id));
  return ContractFromRow((*rows)[0]);
}

Result<std::optional<Deployment>> Devnet::Impl::LoadDeployment(uint64_t contract_id) {
  auto rows = db->Query("SELECT body FROM deployments WHERE contract_id = ?",
                        {int64_t(contract_id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Deployment>();
  auto j = grid::ParseJson(AsString((*rows)[0][0]), "stored deployment");
  if (!j.ok()) return j.status();
  auto d = grid::DeploymentFromJson(*j);
  if (!d.ok()) return d.status();
  return std::optional<Deployment>(std::move(d).value());
}

Status Devnet::Impl::StoreDeployment(const Deployment& d, uint32_t node_id) {
  QSTOR_RETURN_IF_ERROR(
      db->Exec("INSERT OR REPLACE INTO deployments(contract_id, node_id, body) VALUES(?,?,?)",
               {int64_t(d.contract_id), int64_t(node_id), grid::ToJson(d).dump()}));
  uint64_t hru = 0;
  for (const auto& w : d.workloads) {
    if (w.result.state == "ok" || w.result.state == "paused") hru += w.data.size;
  }
  QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE contracts SET hru = ? WHERE contract_id = ?",
                                 {int64_t(hru), int64_t(d.contract_id)}));
  return RecomputeUsed();
}

uint64_t Devnet::Impl::Balance(const std::string& pk) {
  auto rows = db->Query("SELECT balance FROM accounts WHERE pk = ?", {Lower(pk)});
  if (!rows.ok() || rows->empty()) return 0;
  return uint64_t(AsInt((*rows)[0][0]));
}

Status Devnet::Impl::Credit(const std::string& pk, uint64_t amount) {
  // Balances are SQLite INTEGERs (int64). A sum past INT64_MAX would turn into
  // a REAL (a floating-point balance) and an amount past it into a negative
  // one: both are refused, the balance unchanged. Callers hold `mu`.
  constexpr uint64_t kMax = uint64_t(INT64_MAX);
  if (amount > kMax) {
    return Status::InvalidArgument(fmt::format(
        "credit: amount {} units is above the ledger's limit of {} units per balance", amount, kMax));
  }
  const uint64_t balance = Balance(pk);
  if (balance > kMax - amount) {
    return Status::ResourceExhausted(fmt::format(
        "credit: balance {} + amount {} units would overflow the ledger's limit of {} units; "
        "nothing was credited",
        balance, amount, kMax));
  }
  return db->Exec(
      "INSERT INTO accounts(pk, balance, nonce) VALUES(?, ?, 0) "
      "ON CONFLICT(pk) DO UPDATE SET balance = balance + excluded.balance",
      {Lower(pk), int64_t(amount)});
}

// ---------------------------------------------------------------------------
// namespaces on the node's 0-db

std::string NamespaceName(const Deployment& d, const grid::Workload& w) {
  return fmt::format("{}-{}-{}", d.twin_id, d.contract_id, w.name);
}

Status Devnet::Impl::ApplyWorkloads(uint32_t node_id, const Deployment* old_d, Deployment& d,
                                    bool paused) {
  auto z = EnsureZdb(node_id);
  if (!z.ok()) return z.status();
  auto client = (*z)->AdminClient();
  if (!client.ok()) return client.status().WithContext(fmt::format("node {}", node_id));
  auto& c = *client.value();
  std::map<std::string, const grid::Workload*> old;
  if (old_d) {
    for (const auto& w : old_d->workloads) old[w.name] = &w;
  }
  int64_t now = Now();
  for (auto& w : d.workloads) {
    std::string ns = NamespaceName(d, w);
    auto it = old.find(w.name);
    const grid::Workload* prev = it == old.end() ? nullptr : it->second;
    auto fail = [&](const Status& s) {
      w.result.state = "error";
      w.result.message = s.message();
      w.result.zdb.reset();
      w.result.created = now;
    };
    if (prev && prev->result.state == "ok" && prev->data.mode != w.data.mode) {
      fail(Status::InvalidArgument("zdb mode cannot change (" + prev->data.mode + " -> " +
                                   w.data.mode + ")"));
      continue;
    }
    Status st;
    bool exists = false;
    if (auto info = c.NsInfo(ns); info.ok()) exists = true;
    if (!exists) {
      st = c.NsNew(ns);
      if (st.ok()) st = c.NsSet(ns, "mode", w.data.mode);
    }
    if (st.ok()) st = c.NsSet(ns, "maxsize", std::to_string(w.data.size));
    if (st.ok()) {
      st = c.NsSet(ns, "password",
                   paused ? RandomHex(16) : (w.data.password.empty() ? "*" : w.data.password));
    }
    if (st.ok()) st = c.NsSet(ns, "public", (w.data.is_public && !paused) ? "1" : "0");
    if (!st.ok()) {
      fail(st);
      continue;
    }
    w.result.state = paused ? "paused" : "ok";
    w.result.message = "";
    w.result.created = prev ? prev->result.created : now;
    w.result.zdb = grid::ZdbResult{ns, {"127.0.0.1"}, rt[node_id].zdb_port};
    w.version = prev ? (prev->data.size != w.data.size || prev->data.password != w.data.password ||
                                prev->data.is_public != w.data.is_public
                            ? d.version
                            : prev->version)
                     : d.version;
  }
  // Workloads dropped by an update: remove their namespaces.
  if (old_d) {
    std::set<std::string> keep;
    for (const auto& w : d.workloads) keep.insert(w.name);
    for (const auto& w : old_d->workloads) {
      if (!keep.count(w.name)) (void)c.NsDel(NamespaceName(*old_d, w));
    }
  }
  return Status::OK();
}

Status Devnet::Impl::RemoveNamespaces(uint32_t node_id, const Deployment& d) {
  auto& n = rt[node_id];
  if (n.down || !n.zdb || !n.zdb->Running()) {
    // A down node forgets nothing now; its namespaces are removed when it is
    // up again (RemoveContractWorkloads is re-run on "up").
    if (n.down) return Status::OK();
  }
  auto z = EnsureZdb(node_id);
  if (!z.ok()) return z.status();
  auto client = (*z)->AdminClient();
  if (!client.ok()) return client.status();
  for (const auto& w : d.workloads) (void)(*client)->NsDel(NamespaceName(d, w));
  return Status::OK();
}

Status Devnet::Impl::RemoveContractWorkloads(const Contract& c) {
  auto d = LoadDeployment(c.contract_id);
  if (!d.ok()) return d.status();
  if (!d->has_value()) return Status::OK();
  Deployment dep = std::move(**d);
  QSTOR_RETURN_IF_ERROR(RemoveNamespaces(c.node_id, dep));
  if (rt[c.node_id].down) return Status::OK();  // retried when the node is up
  for (auto& w : dep.workloads) {
    w.result.state = "deleted";
    w.result.zdb.reset();
  }
  QSTOR_RETURN_IF_ERROR(StoreDeployment(dep, c.node_id));
  return db->Exec("UPDATE contracts SET hru = 0 WHERE contract_id = ?",
                  {int64_t(c.contract_id)});
}

Status Devnet::Impl::PauseNamespaces(const Contract& c, bool pause) {
  auto d = LoadDeployment(c.contract_id);
  if (!d.ok()) return d.status();
  if (!d->has_value()) return Status::OK();
  Deployment dep = std::move(**d);
  bool any = false;
  for (const auto& w : dep.workloads) {
    if (w.result.state == "ok" || w.result.state == "paused") any = true;
  }
  if (!any || rt[c.node_id].down) return Status::OK();
  Deployment before = dep;
  QSTOR_RETURN_IF_ERROR(ApplyWorkloads(c.node_id, &before, dep, pause));
  return StoreDeployment(dep, c.node_id);
}

// ---------------------------------------------------------------------------
// chain

// TFChain's relay rule (pallet-tfgrid validate_relay_address): [A-Za-z0-9_-]
// and dots, no leading, trailing or doubled dot.
bool ValidRelay(const std::string& r) {
  if (r.empty() || r.front() == '.' || r.back() == '.' || r.find("..") != std::string::npos) return false;
  for (char c : r) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

bool AllIn(const std::string& s, const char* extra) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr(extra, c) == nullptr) return false;
  }
  return true;
}

Status Devnet::Impl::ApplyCall(const std::string& signer, const grid::Call& call,
                               const CallRules& rules, grid::ExtrinsicResult& res,
                               std::vector<uint64_t>& cancelled) {
  const json& a = call.args;
  // A failure with TFChain's error name (for the SCALE path's events).
  auto fail = [&](const char* module_error, Status s) {
    if (rules.module_error) *rules.module_error = module_error;
    return s;
  };
  auto opt_str = [&](const char* k) -> std::optional<std::string> {
    if (a.contains(k) && a[k].is_string()) return a[k].get<std::string>();
    return std::nullopt;
  };
  auto u64 = [&](const char* k, uint64_t* out) -> Status {
    auto it = a.find(k);
    if (it == a.end() || !it->is_number_unsigned()) {
      return Status::InvalidArgument(call.name + "." + k + ": expected unsigned integer");
    }
    *out = it->get<uint64_t>();
    return Status::OK();
  };
  auto str = [&](const char* k, std::string* out) -> Status {
    auto it = a.find(k);
    if (it == a.end() || !it->is_string()) {
      return Status::InvalidArgument(call.name + "." + k + ": expected string");
    }
    *out = it->get<std::string>();
    return Status::OK();
  };
  auto twin = TwinByPk(signer);
  if (!twin.ok()) return twin.status();
  auto need_twin = [&]() -> Status {
    if (!twin->has_value()) {
      return fail("SmartContractModule.TwinNotExists",
                  Status::FailedPrecondition(call.name + ": the signer has no twin (create_twin first)"));
    }
    return Status::OK();
  };
  auto owned_contract = [&](uint64_t id, const char* unauthorized) -> Result<Contract> {
    auto c = ContractById(id);
    if (!c.ok()) return fail("SmartContractModule.ContractNotExists", c.status().WithContext(call.name));
    if (c->twin_id != (*twin)->twin_id) {
      return fail(unauthorized, Status::PermissionDenied(fmt::format(
                                    "{}: contract {} belongs to twin {}", call.name, id, c->twin_id)));
    }
    if (c->state == "Deleted") {
      return fail("SmartContractModule.ContractNotExists",
                  Status::FailedPrecondition(fmt::format("{}: contract {} is deleted", call.name, id)));
    }
    return c;
  };
  if (call.name == "user_accept_tc") {
    std::string link = opt_str("document_link").value_or("");
    std::string hash = opt_str("document_hash").value_or("");
    if (link.empty()) {
      return fail("TfgridModule.DocumentLinkInputTooShort",
                  Status::InvalidArgument("user_accept_tc.document_link: empty"));
    }
    if (!AllIn(link, "-._~:/?#[]@!$&'()*+,;=")) {
      return fail("TfgridModule.InvalidDocumentLinkInput",
                  Status::InvalidArgument("user_accept_tc.document_link: character outside the URL set"));
    }
    if (hash.empty()) {
      return fail("TfgridModule.DocumentHashInputTooShort",
                  Status::InvalidArgument("user_accept_tc.document_hash: empty"));
    }
    if (!AllIn(hash, "-_")) {
      return fail("TfgridModule.InvalidDocumentHashInput",
                  Status::InvalidArgument("user_accept_tc.document_hash: only [A-Za-z0-9_-]"));
    }
    QSTOR_RETURN_IF_ERROR(db->Exec("INSERT INTO terms(pk, timestamp, link, hash) VALUES(?,?,?,?)",
                                   {Lower(signer), Now(), link, hash}));
    if (rules.fx) rules.fx->terms_accepted = true;
    return Status::OK();
  }
  if (call.name == "create_twin" || call.name == "update_twin") {
    const bool create = call.name == "create_twin";
    if (create && twin->has_value()) {
      return fail("TfgridModule.TwinWithPubkeyExists",
                  Status::AlreadyExists(fmt::format("create_twin: the signer already has twin {}",
                                                    (*twin)->twin_id)));
    }
    if (!create && !twin->has_value()) {
      return fail("TfgridModule.TwinNotExists",
                  Status::NotFound("update_twin: the signer has no twin"));
    }
    if (create && rules.tfchain) {
      auto tc = db->Query("SELECT id FROM terms WHERE pk = ?", {Lower(signer)});
      if (!tc.ok()) return tc.status();
      if (tc->empty()) {
        return fail("TfgridModule.UserDidNotSignTermsAndConditions",
                    Status::FailedPrecondition("create_twin: accept the terms and conditions first "
                                               "(TfgridModule.user_accept_tc)"));
      }
    }
    std::string relay = opt_str("relay").value_or("");
    if (rules.tfchain && !relay.empty() && !ValidRelay(relay)) {
      return fail("TfgridModule.InvalidRelay",
                  Status::InvalidArgument(call.name + ".relay: only [A-Za-z0-9_-] and single inner dots"));
    }
    std::optional<std::string> pk = opt_str("pk");
    SqlValue pk_col = pk ? SqlValue(grid::HexEncode(*pk)) : SqlValue(nullptr);
    if (create) {
      QSTOR_RETURN_IF_ERROR(db->Exec("INSERT INTO twins(pk, relay, created_at, rmb_pk) VALUES(?,?,?,?)",
                                     {Lower(signer), relay, Now(), pk_col}));
      res.twin_id = uint32_t(db->LastInsertId());
      if (rules.fx) rules.fx->twin_created = *res.twin_id;
    } else {
      QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE twins SET relay = ?, rmb_pk = ? WHERE twin_id = ?",
                                     {relay, pk_col, int64_t((*twin)->twin_id)}));
      if (rules.fx) rules.fx->twin_updated = (*twin)->twin_id;
    }
    return Status::OK();
  }
  if (call.name == "transfer") {
    std::string dest;
    uint64_t amount;
    QSTOR_RETURN_IF_ERROR(str("dest", &dest));
    QSTOR_RETURN_IF_ERROR(u64("amount", &amount));
    std::string dest_pk;
    if (auto pk = grid::ParsePublicKeyHex(dest); pk.ok()) {
      dest_pk = Lower(dest);
    } else if (auto ss = grid::Ss58Decode(dest); ss.ok()) {
      dest_pk = grid::HexEncode(std::string(ss->begin(), ss->end()));
    } else {
      return Status::InvalidArgument("transfer.dest: not an SS58 address or hex public key");
    }
    if (amount == 0) return Status::InvalidArgument("transfer.amount: must be > 0");
    uint64_t bal = Balance(signer);
    if (bal < amount) {
      return fail("Balances.InsufficientBalance",
                  Status::ResourceExhausted(fmt::format("transfer: balance {} < amount {}",
                                                        grid::FormatTft(bal), grid::FormatTft(amount))));
    }
    QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE accounts SET balance = balance - ? WHERE pk = ?",
                                   {int64_t(amount), Lower(signer)}));
    QSTOR_RETURN_IF_ERROR(Credit(dest_pk, amount));
    if (rules.fx) {
      DispatchEffects::Transfer t;
      auto from = grid::HexDecode(signer);
      auto to = grid::HexDecode(dest_pk);
      if (from.ok() && to.ok() && from->size() == 32 && to->size() == 32) {
        std::copy(from->begin(), from->end(), t.from.begin());
        std::copy(to->begin(), to->end(), t.to.begin());
      }
      t.amount = amount;
      rules.fx->transfers.push_back(t);
    }
    return Status::OK();
  }
  if (call.name == "create_node_contract") {
    QSTOR_RETURN_IF_ERROR(need_twin());
    uint64_t node_id, ips = 0;
    std::string hash, data;
    QSTOR_RETURN_IF_ERROR(u64("node_id", &node_id));
    QSTOR_RETURN_IF_ERROR(str("deployment_hash", &hash));
    QSTOR_RETURN_IF_ERROR(str("deployment_data", &data));
    if (a.contains("public_ips")) QSTOR_RETURN_IF_ERROR(u64("public_ips", &ips));
    if (FindNode(node_id) == nullptr) {
      return fail("SmartContractModule.NodeNotExists",
                  Status::NotFound(fmt::format("create_node_contract: node {} not found", node_id)));
    }
    if (ips != 0) {
      return fail("SmartContractModule.FarmHasNotEnoughPublicIPs",
                  Status::InvalidArgument("create_node_contract: devnet nodes have no public IPs"));
    }
    auto raw = grid::HexDecode(hash);
    if (!raw.ok() || raw->size() != 16) {
      return Status::InvalidArgument("create_node_contract.deployment_hash: expected 32 hex chars");
    }
    if (data.size() > kMaxDeploymentData) {
      return Status::InvalidArgument("create_node_contract.deployment_data: over 4096 bytes");
    }
    auto dup = db->Query(
        "SELECT contract_id FROM contracts WHERE node_id = ? AND deployment_hash = ? AND "
        "state != 'Deleted'",
        {int64_t(node_id), Lower(hash)});
    if (!dup.ok()) return dup.status();
    if (!dup->empty()) {
      return fail("SmartContractModule.ContractIsNotUnique",
                  Status::AlreadyExists(fmt::format(
                      "create_node_contract: contract {} already has this hash on node {}",
                      AsInt((*dup)[0][0]), node_id)));
    }
    QSTOR_RETURN_IF_ERROR(db->Exec(
        "INSERT INTO contracts(twin_id, node_id, state, created_at, deployment_hash, "
        "deployment_data, public_ips) VALUES(?,?,'Created',?,?,?,0)",
        {int64_t((*twin)->twin_id), int64_t(node_id), Now(), Lower(hash), data}));
    res.created_contracts.push_back(uint64_t(db->LastInsertId()));
    if (rules.fx) rules.fx->contracts_created.push_back(res.created_contracts.back());
    return Status::OK();
  }
  if (call.name == "update_node_contract") {
    QSTOR_RETURN_IF_ERROR(need_twin());
    uint64_t id;
    std::string hash, data;
    QSTOR_RETURN_IF_ERROR(u64("contract_id", &id));
    QSTOR_RETURN_IF_ERROR(str("deployment_hash", &hash));
    QSTOR_RETURN_IF_ERROR(str("deployment_data", &data));
    auto raw = grid::HexDecode(hash);
    if (!raw.ok() || raw->size() != 16) {
      return Status::InvalidArgument("update_node_contract.deployment_hash: expected 32 hex chars");
    }
    if (data.size() > kMaxDeploymentData) {
      return Status::InvalidArgument("update_node_contract.deployment_data: over 4096 bytes");
    }
    auto c = owned_contract(id, "SmartContractModule.TwinNotAuthorizedToUpdateContract");
    if (!c.ok()) return c.status();
    if (c->state != "Created") {
      return fail("SmartContractModule.CannotUpdateContractInGraceState",
                  Status::FailedPrecondition(
                      fmt::format("update_node_contract: contract {} is in {}", id, c->state)));
    }
    QSTOR_RETURN_IF_ERROR(db->Exec(
        "UPDATE contracts SET deployment_hash = ?, deployment_data = ? WHERE contract_id = ?",
        {Lower(hash), data, int64_t(id)}));
    if (rules.fx) rules.fx->contracts_updated.push_back(id);
    return Status::OK();
  }
  if (call.name == "cancel_contract") {
    QSTOR_RETURN_IF_ERROR(need_twin());
    uint64_t id;
    QSTOR_RETURN_IF_ERROR(u64("contract_id", &id));
    auto c = owned_contract(id, "SmartContractModule.TwinNotAuthorizedToCancelContract");
    if (!c.ok()) return c.status();
    QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE contracts SET state = 'Deleted' WHERE contract_id = ?",
                                   {int64_t(id)}));
    cancelled.push_back(id);
    if (rules.fx) rules.fx->contracts_cancelled.push_back(id);
    return Status::OK();
  }
  return Status::InvalidArgument("unknown call '" + call.name + "'");
}

// ---------------------------------------------------------------------------
// the SCALE chain's view of the ledger (ChainLedger, devnet/tfchain_node.h)

namespace {
std::string KeyHex(const AccountKey& k) {
  return grid::HexEncode(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}
AccountKey KeyFromHex(const std::string& hex) {
  AccountKey k{};
  auto b = grid::HexDecode(hex);
  if (b.ok() && b->size() == 32) std::copy(b->begin(), b->end(), k.begin());
  return k;
}
bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

Result<std::optional<std::string>> Devnet::Impl::GetMeta(const std::string& key) {
  auto rows = db->Query("SELECT value FROM meta WHERE key = ?", {key});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>(AsString((*rows)[0][0]));
}

Status Devnet::Impl::SetMeta(const std::string& key, const std::string& value) {
  return db->Exec("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", {key, value});
}

Result<LedgerAccount> Devnet::Impl::Account(const AccountKey& pk) {
  LedgerAccount a;
  a.pk = pk;
  auto rows = db->Query("SELECT balance, nonce FROM accounts WHERE pk = ?", {KeyHex(pk)});
  if (!rows.ok()) return rows.status();
  if (!rows->empty()) {
    a.free = uint64_t(AsInt((*rows)[0][0]));
    a.nonce = uint32_t(AsInt((*rows)[0][1]));
  }
  return a;
}

Status Devnet::Impl::Withdraw(const AccountKey& pk, uint64_t amount) {
  if (Balance(KeyHex(pk)) < amount || amount > uint64_t(INT64_MAX)) {
    return Status::FailedPrecondition("withdraw: balance too low");
  }
  return db->Exec("UPDATE accounts SET balance = balance - ? WHERE pk = ?",
                  {int64_t(amount), KeyHex(pk)});
}

Status Devnet::Impl::Deposit(const AccountKey& pk, uint64_t amount) { return Credit(KeyHex(pk), amount); }

Status Devnet::Impl::IncrementNonce(const AccountKey& pk) {
  return db->Exec(
      "INSERT INTO accounts(pk, balance, nonce) VALUES(?, 0, 1) "
      "ON CONFLICT(pk) DO UPDATE SET nonce = nonce + 1",
      {KeyHex(pk)});
}

Status Devnet::Impl::Dispatch(const AccountKey& signer, const LedgerCall& lc, DispatchEffects* fx,
                              std::string* module_error) {
  grid::Call call;
  call.name = lc.name;
  call.args = lc.args;
  if (lc.name == "create_node_contract" || lc.name == "update_node_contract") {
    // TFChain's deployment_hash is the 32 ASCII bytes of the MD5 challenge in
    // lower-case hex; the ledger keeps it as that text.
    std::string hash = lc.args.value("deployment_hash", std::string());
    if (hash.size() != 32 || !IsLowerHex(hash)) {
      return Status::InvalidArgument(lc.name + ".deployment_hash: the devnet takes 32 lower-case hex "
                                     "ASCII bytes (the MD5 challenge), as TFChain's clients send");
    }
    if (!tfchain::IsValidUtf8(lc.args.value("deployment_data", std::string()))) {
      return Status::InvalidArgument(lc.name + ".deployment_data: the devnet keeps UTF-8 text only");
    }
  }
  if (lc.name == "transfer") {
    call.args["dest"] = grid::HexEncode(lc.args.value("dest", std::string()));
  }
  if (lc.name == "create_twin" || lc.name == "update_twin") {
    for (const char* k : {"relay"}) {
      if (call.args.contains(k) && call.args[k].is_string() &&
          !tfchain::IsValidUtf8(call.args[k].get<std::string>())) {
        if (module_error) *module_error = "TfgridModule.InvalidRelay";
        return Status::InvalidArgument(lc.name + ".relay: not text");
      }
    }
  }
  grid::ExtrinsicResult res;
  std::vector<uint64_t> cancelled;
  CallRules rules{true, module_error, fx};
  return ApplyCall(KeyHex(signer), call, rules, res, cancelled);
}

void Devnet::Impl::AfterBlock(const std::vector<uint64_t>& cancelled) {
  for (uint64_t id : cancelled) {
    auto c = ContractById(id);
    if (c.ok()) {
      Status rs = RemoveContractWorkloads(*c);
      if (!rs.ok()) spdlog::warn("devnet: contract {}: removing workloads: {}", id, rs.ToString());
    }
  }
  Status st = RecomputeUsed();
  if (!st.ok()) spdlog::warn("devnet: {}", st.ToString());
}

Result<std::vector<LedgerAccount>> Devnet::Impl::Accounts() {
  auto rows = db->Query("SELECT pk, balance, nonce FROM accounts ORDER BY pk");
  if (!rows.ok()) return rows.status();
  std::vector<LedgerAccount> out;
  for (auto& r : *rows) {
    auto b = grid::HexDecode(AsString(r[0]));
    if (!b.ok() || b->size() != 32) continue;
    LedgerAccount a;
    a.pk = KeyFromHex(AsString(r[0]));
    a.free = uint64_t(AsInt(r[1]));
    a.nonce = uint32_t(AsInt(r[2]));
    out.push_back(a);
  }
  return out;
}

Result<std::vector<LedgerTwin>> Devnet::Impl::Twins() {
  auto rows = db->Query("SELECT twin_id, pk, relay, rmb_pk FROM twins ORDER BY twin_id");
  if (!rows.ok()) return rows.status();
  std::vector<LedgerTwin> out;
  for (auto& r : *rows) {
    LedgerTwin t;
    t.id = uint32_t(AsInt(r[0]));
    t.account = KeyFromHex(AsString(r[1]));
    std::string relay = AsString(r[2]);
    if (!relay.empty()) t.relay = relay;
    if (!std::holds_alternative<std::nullptr_t>(r[3])) {
      auto pk = grid::HexDecode(AsString(r[3]));
      if (pk.ok()) t.pk = *pk;
    }
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<LedgerTerms>> Devnet::Impl::Terms() {
  auto rows = db->Query("SELECT pk, timestamp, link, hash FROM terms ORDER BY id");
  if (!rows.ok()) return rows.status();
  std::vector<LedgerTerms> out;
  for (auto& r : *rows) {
    LedgerTerms t;
    t.account = KeyFromHex(AsString(r[0]));
    t.timestamp = uint64_t(AsInt(r[1]));
    t.link = AsString(r[2]);
    t.hash = AsString(r[3]);
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<LedgerContract>> Devnet::Impl::Contracts() {
  auto rows = db->Query(std::string("SELECT ") + kContractCols + " FROM contracts ORDER BY contract_id");
  if (!rows.ok()) return rows.status();
  std::vector<LedgerContract> out;
  for (auto& r : *rows) {
    Contract c = ContractFromRow(r);
    LedgerContract l;
    l.id = c.contract_id;
    l.twin_id = c.twin_id;
    l.node_id = c.node_id;
    l.public_ips = c.number_of_public_ips;
    l.state = c.state;
    l.hash = c.deployment_hash;
    l.data = c.deployment_data;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<LedgerNode> Devnet::Impl::Nodes() {
  std::vector<LedgerNode> out;
  for (const auto& n : topo.nodes) {
    LedgerNode l;
    l.id = n.node_id;
    l.farm_id = n.farm_id;
    l.twin_id = n.twin_id;
    l.cru = n.total.cru;
    l.mru = n.total.mru;
    l.sru = n.total.sru;
    l.hru = n.total.hru;
    l.created = n.created > 0 ? uint64_t(n.created) : 0;
    out.push_back(l);
  }
  return out;
}

// ---------------------------------------------------------------------------
// billing

Status Devnet::Impl::BillOnce() {
  std::lock_guard<std::recursive_mutex> lock(mu);
  auto rows = db->Query(std::string("SELECT ") + kContractCols +
                        " FROM contracts WHERE state IN ('Created','GracePeriod')");
  if (!rows.ok()) return rows.status();
  int64_t now = Now();
  for (auto& row : *rows) {
    Contract c = ContractFromRow(row);
    uint64_t hru = uint64_t(AsInt(row[8]));
    int64_t grace_since = AsInt(row[9]);
    uint64_t amount = grid::CostUnits(pricing, hru, 0, 3600);
    auto tw = TwinById(c.twin_id);
    if (!tw.ok()) continue;
    uint64_t bal = Balance(tw->public_key);
    if (bal >= amount) {
      if (amount > 0) {
        QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE accounts SET balance = balance - ? WHERE pk = ?",
                                       {int64_t(amount), tw->public_key}));
        QSTOR_RETURN_IF_ERROR(db->Exec(
            "INSERT INTO bills(contract_id, amount, discount, timestamp) VALUES(?,?,0,?)",
            {int64_t(c.contract_id), int64_t(amount), now}));
      }
      if (c.state == "GracePeriod") {
        QSTOR_RETURN_IF_ERROR(db->Exec(
            "UPDATE contracts SET state = 'Created', grace_since = 0 WHERE contract_id = ?",
            {int64_t(c.contract_id)}));
        Status ps = PauseNamespaces(c, false);
        if (!ps.ok()) spdlog::warn("devnet: restore contract {}: {}", c.contract_id, ps.ToString());
      }
      continue;
    }
    if (c.state == "Created") {
      QSTOR_RETURN_IF_ERROR(db->Exec(
          "UPDATE contracts SET state = 'GracePeriod', grace_since = ? WHERE contract_id = ?",
          {now, int64_t(c.contract_id)}));
      Status ps = PauseNamespaces(c, true);
      if (!ps.ok()) spdlog::warn("devnet: pause contract {}: {}", c.contract_id, ps.ToString());
      continue;
    }
    double grace_s = opt.grace_hours * opt.hour_seconds;
    if (double(now - grace_since) >= grace_s) {
      QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE contracts SET state = 'Deleted' WHERE contract_id = ?",
                                     {int64_t(c.contract_id)}));
      c.state = "Deleted";
      Status rs = RemoveContractWorkloads(c);
      if (!rs.ok()) spdlog::warn("devnet: delete contract {}: {}", c.contract_id, rs.ToString());
    }
  }
  return RecomputeUsed();
}

// After a deposit: contracts of the twin in grace are paid for the current
// hour at once and restored (the chain would do it at its next billing).
Status Devnet::Impl::SettleGrace(uint32_t twin_id) {
  auto rows = db->Query(std::string("SELECT ") + kContractCols +
                            " FROM contracts WHERE twin_id = ? AND state = 'GracePeriod'",
                        {int64_t(twin_id)});
  if (!rows.ok()) return rows.status();
  auto tw = TwinById(twin_id);
  if (!tw.ok()) return tw.status();
  for (auto& row : *rows) {
    Contract c = ContractFromRow(row);
    uint64_t amount = grid::CostUnits(pricing, uint64_t(AsInt(row[8])), 0, 3600);
    if (Balance(tw->public_key) < amount) break;
    if (amount > 0) {
      QSTOR_RETURN_IF_ERROR(db->Exec("UPDATE accounts SET balance = balance - ? WHERE pk = ?",
                                     {int64_t(amount), tw->public_key}));
      QSTOR_RETURN_IF_ERROR(db->Exec(
          "INSERT INTO bills(contract_id, amount, discount, timestamp) VALUES(?,?,0,?)",
          {int64_t(c.contract_id), int64_t(amount), Now()}));
    }
    QSTOR_RETURN_IF_ERROR(db->Exec(
        "UPDATE contracts SET state = 'Created', grace_since = 0 WHERE contract_id = ?",
        {int64_t(c.contract_id)}));
    Status ps = PauseNamespaces(c, false);
    if (!ps.ok()) spdlog::warn("devnet: restore contract {}: {}", c.contract_id, ps.ToString());
  }
  return Status::OK();
}

void Devnet::Impl::BillLoop() {
  auto period = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(opt.hour_seconds));
  if (period.count() < 10) period = std::chrono::milliseconds(10);
  std::unique_lock<std::mutex> lock(bill_mu);
  while (!stopping) {
    if (bill_cv.wait_for(lock, period, [this] { return stopping; })) break;
    lock.unlock();
    Status st = BillOnce();
    if (!st.ok()) spdlog::warn("devnet: billing: {}", st.ToString());
    lock.lock();
  }
}

// ---------------------------------------------------------------------------
// payments

Result<json> Devnet::Impl::Deposit(uint32_t twin_id, uint64_t amount, const std::string& memo) {
  auto tw = TwinById(twin_id);
  if (!tw.ok()) return tw.status().WithContext("deposit");
  if (amount <= opt.bridge_fee_units) {
    return Status::InvalidArgument(fmt::format("deposit: amount {} does not cover the bridge fee {}",
                                               grid::FormatTft(amount),
                                               grid::FormatTft(opt.bridge_fee_units)));
  }
  if (amount > uint64_t(INT64_MAX)) {
    return Status::InvalidArgument(fmt::format(
        "deposit: amount {} units is above the ledger's limit of {} units", amount, INT64_MAX));
  }
  uint64_t credited = amount - opt.bridge_fee_units;
  QSTOR_RETURN_IF_ERROR(Credit(tw->public_key, credited).WithContext("deposit"));
  QSTOR_RETURN_IF_ERROR(db->Exec(
      "INSERT INTO deposits(twin_id, amount, fee, memo, at) VALUES(?,?,?,?,?)",
      {int64_t(twin_id), int64_t(amount), int64_t(opt.bridge_fee_units), memo, Now()}));
  QSTOR_RETURN_IF_ERROR(SettleGrace(twin_id));
  return json{{"twin_id", twin_id},
              {"amount", amount},
              {"fee", opt.bridge_fee_units},
              {"credited", credited},
              {"balance", Balance(tw->public_key)}};
}


// ---------------------------------------------------------------------------
// HTTP

HttpResponse Devnet::Impl::Handle(const HttpRequest& r) {
  auto parts = Split(r.path, '/');
  if (parts.empty() || !parts[0].empty()) return JsonError(404, "no route for " + r.path);
  parts.erase(parts.begin());
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.empty()) return JsonError(404, "no route for /");
  const std::string& root = parts[0];
  bool get = r.method == "GET" || r.method == "HEAD";
  if (root == "ping" && get) return Json(200, {{"ping", "pong"}});
  if (root == "version" && get) return Json(200, {{"version", "qstor-devnet-1"}});
  if (root == "legal" && parts.size() == 2 && parts[1] == "terms" && get) {
    HttpResponse t;
    t.body = std::string(kTermsDocument);
    t.content_type = "text/plain; charset=utf-8";
    return t;
  }
  if (root == "nodes") return HandleNodes(r, parts);
  if (root == "farms" && get && parts.size() == 1) return ListFarms(r);
  if (root == "twins" && get && parts.size() == 1) return ListTwins(r);
  if (root == "stats" && get) return Stats();
  if (root == "contracts" && get) {
    if (parts.size() == 1) return ListContracts(r);
    uint64_t id;
    if (!ParseU64(parts[1], &id)) return JsonError(400, "contract id: expected integer");
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto c = ContractById(id);
    if (!c.ok()) return Error(c.status());
    if (parts.size() == 2) return Json(200, grid::ToJson(*c));
    if (parts.size() == 3 && parts[2] == "bills") {
      auto rows = db->Query(
          "SELECT contract_id, amount, discount, timestamp FROM bills WHERE contract_id = ? "
          "ORDER BY id",
          {int64_t(id)});
      if (!rows.ok()) return Error(rows.status());
      json arr = json::array();
      for (auto& b : *rows) {
        arr.push_back(grid::ToJson(grid::Bill{uint64_t(AsInt(b[0])), uint64_t(AsInt(b[1])),
                                              uint64_t(AsInt(b[2])), AsInt(b[3])}));
      }
      return Json(200, arr);
    }
    return JsonError(404, "no route for " + r.path);
  }
  if (root == "activation" && parts.size() == 2 && parts[1] == "activate" && r.method == "POST") {
    return Activate(r);
  }
  if (root == "admin") return HandleAdmin(r, parts);
  if ((root == "api" && parts.size() >= 2 && parts[1] == "users") ||
      (root == "app" && parts.size() == 2 && parts[1] == "login") || root == "verification") {
    return HandleConnect(r, parts);
  }
  if (root == "bridge" || root == "api" || root == "app") return HandlePayments(r, parts);
  return JsonError(404, "no route for " + r.method + " " + r.path);
}

HttpResponse Devnet::Impl::ListNodes(const HttpRequest& r) {
  auto paging = ParsePaging(r);
  if (!paging.ok()) return Error(paging.status());
  auto free_hru = QueryU64(r, "free_hru");
  auto free_sru = QueryU64(r, "free_sru");
  auto twin_id = QueryU64(r, "twin_id");
  auto node_id = QueryU64(r, "node_id");
  auto healthy = QueryBool(r, "healthy");
  auto farm_ids = QueryIds(r, "farm_ids");
  auto node_ids = QueryIds(r, "node_ids");
  for (const Status* s : {&free_hru.status(), &free_sru.status(), &twin_id.status(),
                          &node_id.status(), &healthy.status(), &farm_ids.status(),
                          &node_ids.status()}) {
    if (!s->ok()) return Error(*s);
  }
  auto status = QueryList(r, "status");
  for (const auto& s : status) {
    if (s != "up" && s != "down" && s != "standby") {
      return JsonError(400, "query parameter status: expected up, down or standby");
    }
  }
  auto countries = QueryList(r, "country");
  auto cities = QueryList(r, "city");
  auto regions = QueryList(r, "region");
  std::string country_contains = r.Query("country_contains") ? Lower(*r.Query("country_contains")) : "";
  std::string city_contains = r.Query("city_contains") ? Lower(*r.Query("city_contains")) : "";
  std::set<uint64_t> farm_set(farm_ids->begin(), farm_ids->end());
  std::set<uint64_t> node_set(node_ids->begin(), node_ids->end());
  auto lower_set = [](const std::vector<std::string>& v) {
    std::set<std::string> out;
    for (const auto& x : v) out.insert(Lower(x));
    return out;
  };
  std::set<std::string> country_set = lower_set(countries), city_set = lower_set(cities),
                        region_set = lower_set(regions);
  // Scan indices (no copies); only the page is materialised.
  std::lock_guard<std::recursive_mutex> lock(mu);
  std::vector<uint32_t> match;
  for (size_t i = 0; i < topo.nodes.size(); ++i) {
    const Node& base = topo.nodes[i];
    const auto& low = lower_loc[i];
    if (!node_set.empty() && !node_set.count(base.node_id)) continue;
    if (node_id.value() && **node_id != base.node_id) continue;
    if (!farm_set.empty() && !farm_set.count(base.farm_id)) continue;
    if (twin_id.value() && **twin_id != base.twin_id) continue;
    if (!country_set.empty() && !country_set.count(low[0])) continue;
    if (!city_set.empty() && !city_set.count(low[1])) continue;
    if (!region_set.empty() && !region_set.count(low[2])) continue;
    if (!country_contains.empty() && low[0].find(country_contains) == std::string::npos) continue;
    if (!city_contains.empty() && low[1].find(city_contains) == std::string::npos) continue;
    bool down = false;
    if (!rt.empty()) {
      auto it = rt.find(base.node_id);
      down = it != rt.end() && it->second.down;
    }
    const std::string& st = down ? kDown : base.status;
    if (!status.empty() && std::find(status.begin(), status.end(), st) == status.end()) continue;
    if (healthy.value() && **healthy != (!down && base.healthy)) continue;
    uint64_t used = 0;
    if (!used_hru.empty()) {
      auto it = used_hru.find(base.node_id);
      if (it != used_hru.end()) used = it->second;
    }
    if (free_hru.value() && (base.total.hru > used ? base.total.hru - used : 0) < **free_hru) {
      continue;
    }
    if (free_sru.value() && base.FreeSru() < **free_sru) continue;
    match.push_back(uint32_t(i));
  }
  return PagedJson<uint32_t>(std::move(match), *paging,
                             [this](const uint32_t& i) { return grid::ToJson(LiveNode(topo.nodes[i])); });
}

HttpResponse Devnet::Impl::ListFarms(const HttpRequest& r) {
  auto paging = ParsePaging(r);
  if (!paging.ok()) return Error(paging.status());
  auto ids = QueryIds(r, "farm_id");
  if (!ids.ok()) return Error(ids.status());
  auto ids2 = QueryIds(r, "farm_ids");
  if (!ids2.ok()) return Error(ids2.status());
  std::set<uint64_t> want(ids->begin(), ids->end());
  want.insert(ids2->begin(), ids2->end());
  const std::string* name = r.Query("name");
  std::vector<grid::Farm> out;
  for (const auto& f : topo.farms) {
    if (!want.empty() && !want.count(f.farm_id)) continue;
    if (name && Lower(*name) != Lower(f.name)) continue;
    out.push_back(f);
  }
  return PagedJson<grid::Farm>(std::move(out), *paging,
                               [](const grid::Farm& f) { return grid::ToJson(f); });
}

HttpResponse Devnet::Impl::ListTwins(const HttpRequest& r) {
  auto paging = ParsePaging(r);
  if (!paging.ok()) return Error(paging.status());
  auto id = QueryU64(r, "twin_id");
  if (!id.ok()) return Error(id.status());
  std::string sql = "SELECT twin_id FROM twins WHERE 1=1";
  std::vector<SqlValue> args;
  if (id.value()) {
    sql += " AND twin_id = ?";
    args.push_back(int64_t(**id));
  }
  if (const std::string* pk = r.Query("public_key")) {
    sql += " AND pk = ?";
    args.push_back(Lower(*pk));
  }
  if (const std::string* acct = r.Query("account_id")) {
    auto pk = grid::Ss58Decode(*acct);
    if (!pk.ok()) return Error(pk.status());
    sql += " AND pk = ?";
    args.push_back(grid::HexEncode(std::string(pk->begin(), pk->end())));
  }
  sql += " ORDER BY twin_id";
  std::vector<grid::Twin> out;
  {
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto rows = db->Query(sql, args);
    if (!rows.ok()) return Error(rows.status());
    for (auto& row : *rows) {
      auto t = TwinById(uint64_t(AsInt(row[0])));
      if (t.ok()) out.push_back(*t);
    }
  }
  return PagedJson<grid::Twin>(std::move(out), *paging,
                               [](const grid::Twin& t) { return grid::ToJson(t); });
}

HttpResponse Devnet::Impl::ListContracts(const HttpRequest& r) {
  auto paging = ParsePaging(r);
  if (!paging.ok()) return Error(paging.status());
  auto twin = QueryU64(r, "twin_id");
  auto node = QueryU64(r, "node_id");
  auto cid = QueryU64(r, "contract_id");
  for (const Status* s : {&twin.status(), &node.status(), &cid.status()}) {
    if (!s->ok()) return Error(*s);
  }
  std::string sql = std::string("SELECT ") + kContractCols + " FROM contracts WHERE 1=1";
  std::vector<SqlValue> args;
  if (twin.value()) {
    sql += " AND twin_id = ?";
    args.push_back(int64_t(**twin));
  }
  if (node.value()) {
    sql += " AND node_id = ?";
    args.push_back(int64_t(**node));
  }
  if (cid.value()) {
    sql += " AND contract_id = ?";
    args.push_back(int64_t(**cid));
  }
  auto states = QueryList(r, "state");
  if (!states.empty()) {
    sql += " AND state IN (";
    for (size_t i = 0; i < states.size(); ++i) {
      // Accept the proxy's lower-case spellings too.
      std::string s = Lower(states[i]);
      std::string canon = s == "created" ? "Created" : s == "graceperiod" ? "GracePeriod"
                          : s == "deleted" ? "Deleted" : "";
      if (canon.empty()) return JsonError(400, "query parameter state: '" + states[i] + "' unknown");
      sql += i ? ",?" : "?";
      args.push_back(canon);
    }
    sql += ")";
  }
  if (const std::string* type = r.Query("type")) {
    if (*type != "node" && *type != "name" && *type != "rent") {
      return JsonError(400, "query parameter type: expected node, name or rent");
    }
    if (*type != "node") sql += " AND 0";
  }
  sql += " ORDER BY contract_id";
  std::vector<Contract> out;
  {
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto rows = db->Query(sql, args);
    if (!rows.ok()) return Error(rows.status());
    for (auto& row : *rows) out.push_back(ContractFromRow(row));
  }
  return PagedJson<Contract>(std::move(out), *paging,
                             [](const Contract& c) { return grid::ToJson(c); });
}

HttpResponse Devnet::Impl::Stats() {
  std::lock_guard<std::recursive_mutex> lock(mu);
  uint64_t hru = 0, sru = 0, cru = 0, mru = 0, up = 0;
  std::map<std::string, uint64_t> dist;
  for (const auto& b : topo.nodes) {
    Node n = LiveNode(b);
    hru += n.total.hru;
    sru += n.total.sru;
    cru += n.total.cru;
    mru += n.total.mru;
    if (n.status == "up") ++up;
    ++dist[n.location.country];
  }
  auto twins = db->Query("SELECT COUNT(*) FROM twins");
  auto contracts = db->Query("SELECT COUNT(*) FROM contracts WHERE state != 'Deleted'");
  return Json(200, {{"nodes", up},
                    {"farms", topo.farms.size()},
                    {"countries", dist.size()},
                    {"totalCru", cru},
                    {"totalSru", sru},
                    {"totalMru", mru},
                    {"totalHru", hru},
                    {"publicIps", 0},
                    {"accessNodes", 0},
                    {"gateways", 0},
                    {"twins", twins.ok() ? AsInt((*twins)[0][0]) : 0},
                    {"contracts", contracts.ok() ? AsInt((*contracts)[0][0]) : 0},
                    {"nodesDistribution", dist}});
}

Status Devnet::Impl::CheckNodeAuth(const HttpRequest& r, uint32_t owner_twin) {
  const std::string* twin = r.Header("x-qstor-twin");
  const std::string* ts = r.Header("x-qstor-timestamp");
  const std::string* sig = r.Header("x-qstor-signature");
  if (!twin || !ts || !sig) {
    return Status::PermissionDenied(
        "node call needs X-Qstor-Twin, X-Qstor-Timestamp and X-Qstor-Signature headers");
  }
  uint64_t tid, t;
  if (!ParseU64(*twin, &tid) || !ParseU64(*ts, &t)) {
    return Status::PermissionDenied("X-Qstor-Twin / X-Qstor-Timestamp: expected integers");
  }
  if (std::llabs(int64_t(t) - Now()) > kAuthWindowSeconds) {
    return Status::PermissionDenied("X-Qstor-Timestamp: outside the 5-minute window");
  }
  if (tid != owner_twin) {
    return Status::PermissionDenied(fmt::format("twin {} is not the owner", tid));
  }
  auto tw = TwinById(tid);
  if (!tw.ok()) return Status::PermissionDenied(fmt::format("twin {} unknown", tid));
  std::string msg = r.method + " " + r.path + " " + *ts;
  if (!grid::Ed25519VerifyHex(tw->public_key, msg, *sig)) {
    return Status::PermissionDenied("X-Qstor-Signature does not verify");
  }
  return Status::OK();
}

HttpResponse Devnet::Impl::HandleNodes(const HttpRequest& r, const std::vector<std::string>& parts) {
  bool get = r.method == "GET" || r.method == "HEAD";
  if (parts.size() == 1) {
    if (!get) return JsonError(405, "method not allowed");
    return ListNodes(r);
  }
  uint64_t id;
  if (!ParseU64(parts[1], &id)) return JsonError(400, "node id: expected integer");
  Node n;
  {
    std::lock_guard<std::recursive_mutex> lock(mu);
    const Node* base = FindNode(id);
    if (!base) return JsonError(404, fmt::format("node {}: not found", id));
    n = LiveNode(*base);
  }
  if (parts.size() == 2 && get) return Json(200, grid::ToJson(n));
  if (parts.size() == 3 && parts[2] == "status" && get) return Json(200, {{"status", n.status}});
  if (parts.size() >= 3 && parts[2] == "deployments") {
    int64_t latency = 0;
    {
      std::lock_guard<std::recursive_mutex> lock(mu);
      auto it = rt.find(n.node_id);
      if (it != rt.end()) latency = it->second.latency_ms;
    }
    if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
    if (n.status != "up") return JsonError(503, fmt::format("node {}: down", n.node_id));
    return HandleNodeDeployments(r, n, parts);
  }
  return JsonError(404, "no route for " + r.method + " " + r.path);
}

HttpResponse Devnet::Impl::HandleNodeDeployments(const HttpRequest& r, const Node& n,
                                                 const std::vector<std::string>& parts) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (parts.size() == 3 && r.method == "POST") {
    auto j = grid::ParseJson(r.body, "deployment");
    if (!j.ok()) return Error(j.status());
    auto d = grid::DeploymentFromJson(*j);
    if (!d.ok()) return Error(d.status());
    Status v = grid::ValidateDeployment(*d);
    if (!v.ok()) return Error(v);
    if (d->version != 0) return JsonError(400, "deployment.version: must be 0 on create");
    auto c = ContractById(d->contract_id);
    if (!c.ok()) return Error(c.status().WithContext("deployment.contract_id"));
    if (c->node_id != n.node_id) {
      return JsonError(409, fmt::format("contract {} is for node {}, not node {}", c->contract_id,
                                        c->node_id, n.node_id));
    }
    if (c->state != "Created") {
      return JsonError(409, fmt::format("contract {} is {}", c->contract_id, c->state));
    }
    if (c->twin_id != d->twin_id) return JsonError(403, "deployment.twin_id: not the contract owner");
    if (grid::ChallengeHex(*d) != c->deployment_hash) {
      return JsonError(409, "deployment hash does not match the contract's deployment_hash");
    }
    Status sig = grid::VerifyDeploymentSignatures(*d, [&](uint32_t t) -> Result<std::string> {
      auto tw = TwinById(t);
      if (!tw.ok()) return tw.status();
      return tw->public_key;
    });
    if (!sig.ok()) return Error(sig);
    auto existing = LoadDeployment(d->contract_id);
    if (!existing.ok()) return Error(existing.status());
    if (existing->has_value()) {
      return JsonError(409, fmt::format("contract {}: already deployed", d->contract_id));
    }
    if (n.FreeHru() < d->TotalHru()) {
      return JsonError(409, fmt::format("node {}: not enough free HRU ({} free, {} asked)",
                                        n.node_id, n.FreeHru(), d->TotalHru()));
    }
    Deployment dep = std::move(d).value();
    for (auto& w : dep.workloads) w.result = {};
    Status st = ApplyWorkloads(n.node_id, nullptr, dep, false);
    if (!st.ok()) return Error(st);
    st = StoreDeployment(dep, n.node_id);
    if (!st.ok()) return Error(st);
    return Json(202, {{"contract_id", dep.contract_id}});
  }
  if (parts.size() != 4) return JsonError(404, "no route for " + r.method + " " + r.path);
  uint64_t cid;
  if (!ParseU64(parts[3], &cid)) return JsonError(400, "contract id: expected integer");
  auto c = ContractById(cid);
  if (!c.ok()) return Error(c.status());
  if (c->node_id != n.node_id) return JsonError(404, "no such deployment on this node");
  if (r.method == "PUT") {
    auto j = grid::ParseJson(r.body, "deployment");
    if (!j.ok()) return Error(j.status());
    auto d = grid::DeploymentFromJson(*j);
    if (!d.ok()) return Error(d.status());
    Status v = grid::ValidateDeployment(*d);
    if (!v.ok()) return Error(v);
    if (d->contract_id != cid) return JsonError(400, "deployment.contract_id: does not match URL");
    if (c->state != "Created") return JsonError(409, fmt::format("contract {} is {}", cid, c->state));
    if (c->twin_id != d->twin_id) return JsonError(403, "deployment.twin_id: not the contract owner");
    auto old = LoadDeployment(cid);
    if (!old.ok()) return Error(old.status());
    if (!old->has_value()) return JsonError(404, fmt::format("contract {}: not deployed", cid));
    if (d->version <= (*old)->version) {
      return JsonError(409, fmt::format("deployment.version: must be above {}", (*old)->version));
    }
    if (grid::ChallengeHex(*d) != c->deployment_hash) {
      return JsonError(409,
                       "deployment hash does not match the contract (update_node_contract first)");
    }
    Status sig = grid::VerifyDeploymentSignatures(*d, [&](uint32_t t) -> Result<std::string> {
      auto tw = TwinById(t);
      if (!tw.ok()) return tw.status();
      return tw->public_key;
    });
    if (!sig.ok()) return Error(sig);
    uint64_t old_hru = 0;
    for (const auto& w : (*old)->workloads) {
      if (w.result.state == "ok") old_hru += w.data.size;
    }
    if (d->TotalHru() > old_hru && n.FreeHru() < d->TotalHru() - old_hru) {
      return JsonError(409, fmt::format("node {}: not enough free HRU for the update", n.node_id));
    }
    Deployment dep = std::move(d).value();
    for (auto& w : dep.workloads) {
      w.result = {};
      for (const auto& ow : (*old)->workloads) {
        if (ow.name == w.name) w.result = ow.result;
      }
    }
    Status st = ApplyWorkloads(n.node_id, &**old, dep, false);
    if (!st.ok()) return Error(st);
    st = StoreDeployment(dep, n.node_id);
    if (!st.ok()) return Error(st);
    return Json(202, {{"contract_id", cid}, {"version", dep.version}});
  }
  Status auth = CheckNodeAuth(r, c->twin_id);
  if (!auth.ok()) return Error(auth);
  auto dep = LoadDeployment(cid);
  if (!dep.ok()) return Error(dep.status());
  if (!dep->has_value()) return JsonError(404, fmt::format("contract {}: not deployed", cid));
  if (r.method == "GET") {
    Deployment d = std::move(**dep);
    // Live check: a namespace that vanished (wiped disk) is reported as error.
    auto& node_rt = rt[n.node_id];
    if (node_rt.zdb && node_rt.zdb->Running()) {
      auto client = node_rt.zdb->AdminClient();
      if (client.ok()) {
        for (auto& w : d.workloads) {
          if ((w.result.state == "ok" || w.result.state == "paused") && w.result.zdb) {
            auto info = (*client)->NsInfo(w.result.zdb->ns);
            if (!info.ok()) {
              w.result.state = "error";
              w.result.message = "namespace missing on the node: " + info.status().message();
            }
          }
        }
      }
    }
    return Json(200, grid::ToJson(d));
  }
  if (r.method == "DELETE") {
    Status st = RemoveContractWorkloads(*c);
    if (!st.ok()) return Error(st);
    return Json(200, {{"contract_id", cid}, {"deleted", true}});
  }
  return JsonError(405, "method not allowed");
}

// The activation service (GRID-V3 §1.7): funds a new account with
// kActivationUnits so it can pay the fees of user_accept_tc + create_twin.
// An account that holds TFT or has signed anything is already active: 409.
HttpResponse Devnet::Impl::Activate(const HttpRequest& r) {
  auto j = grid::ParseJson(r.body, "activation");
  if (!j.ok()) return Error(j.status());
  if (!j->is_object() || !j->contains("substrateAccountID") || !(*j)["substrateAccountID"].is_string()) {
    return JsonError(400, "activation: expected {\"substrateAccountID\": \"<SS58 address>\"}");
  }
  auto pk = grid::Ss58Decode((*j)["substrateAccountID"].get<std::string>());
  if (!pk.ok()) return JsonError(400, "activation.substrateAccountID: " + pk.status().message());
  const std::string hex = grid::HexEncode(std::string_view(reinterpret_cast<const char*>(pk->data()), 32));
  std::lock_guard<std::recursive_mutex> lock(mu);
  auto rows = db->Query("SELECT balance, nonce FROM accounts WHERE pk = ?", {hex});
  if (!rows.ok()) return Error(rows.status());
  if (!rows->empty() && (AsInt((*rows)[0][0]) > 0 || AsInt((*rows)[0][1]) > 0)) {
    return JsonError(409, "activation: account " + grid::Ss58Address(*pk) + " is already activated");
  }
  Status st = Credit(hex, kActivationUnits);
  if (!st.ok()) return Error(st);
  return Json(200, {{"activated", grid::Ss58Address(*pk)}, {"amount", kActivationUnits}});
}

HttpResponse Devnet::Impl::HandleAdmin(const HttpRequest& r, const std::vector<std::string>& parts) {
  if (r.method != "POST") return JsonError(405, "admin endpoints take POST");
  if (parts.size() == 2 && parts[1] == "bill") {
    Status st = BillOnce();
    if (!st.ok()) return Error(st);
    return Json(200, {{"billed", true}});
  }
  if (parts.size() == 2 && parts[1] == "fund") {
    // The faucet: {"address": SS58 or hex public key, "units": N}.
    auto j = grid::ParseJson(r.body, "fund");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object() || !j->contains("address") || !(*j)["address"].is_string() ||
        !j->contains("units") || !(*j)["units"].is_number_unsigned()) {
      return JsonError(400, "fund: expected {\"address\": SS58|hex, \"units\": N}");
    }
    std::string addr = (*j)["address"].get<std::string>();
    std::string pk;
    if (grid::ParsePublicKeyHex(addr).ok()) {
      pk = Lower(addr);
    } else if (auto ss = grid::Ss58Decode(addr); ss.ok()) {
      pk = grid::HexEncode(std::string(ss->begin(), ss->end()));
    } else {
      return JsonError(400, "fund: address is neither an SS58 address nor a hex public key");
    }
    uint64_t units = (*j)["units"].get<uint64_t>();
    if (units == 0) return JsonError(400, "fund: units must be > 0");
    std::lock_guard<std::recursive_mutex> lock(mu);
    Status st = Credit(pk, units);
    if (!st.ok()) return Error(st);
    auto p = grid::ParsePublicKeyHex(pk);
    return Json(200, {{"public_key", pk},
                      {"account_id", grid::Ss58Address(*p)},
                      {"credited", units},
                      {"free", Balance(pk)}});
  }
  if (parts.size() == 4 && parts[1] == "nodes") {
    uint64_t id;
    if (!ParseU64(parts[2], &id)) return JsonError(400, "node id: expected integer");
    std::lock_guard<std::recursive_mutex> lock(mu);
    if (!FindNode(id)) return JsonError(404, fmt::format("node {}: not found", id));
    auto& n = rt[uint32_t(id)];
    const std::string& action = parts[3];
    if (action == "down") {
      n.down = true;
      if (n.zdb) n.zdb->Stop();
    } else if (action == "up") {
      n.down = false;
      bool hosts = false;
      auto rows = db->Query(
          "SELECT contract_id FROM contracts WHERE node_id = ? AND hru > 0", {int64_t(id)});
      if (rows.ok()) hosts = !rows->empty();
      if (hosts || n.zdb_port) {
        auto z = EnsureZdb(uint32_t(id));
        if (!z.ok()) return Error(z.status());
      }
      // Contracts cancelled while the node was down: remove their workloads now.
      auto del = db->Query(std::string("SELECT ") + kContractCols +
                               " FROM contracts WHERE node_id = ? AND state = 'Deleted' AND hru > 0",
                           {int64_t(id)});
      if (del.ok()) {
        for (auto& row : *del) (void)RemoveContractWorkloads(ContractFromRow(row));
      }
      (void)RecomputeUsed();
    } else if (action == "wipe") {
      bool was_running = n.zdb && n.zdb->Running();
      if (n.zdb) n.zdb->Stop();
      std::error_code ec;
      fs::remove_all(fmt::format("{}/nodes/{}/data", opt.data_dir, id), ec);
      if (ec) return JsonError(500, "wipe: " + ec.message());
      if (was_running && !n.down) {
        auto z = EnsureZdb(uint32_t(id));
        if (!z.ok()) return Error(z.status());
      }
    } else if (action == "slow") {
      auto j = grid::ParseJson(r.body.empty() ? "{}" : r.body, "slow");
      if (!j.ok()) return Error(j.status());
      auto it = j->find("latency_ms");
      if (it == j->end() || !it->is_number_unsigned() || it->get<uint64_t>() > 60000) {
        return JsonError(400, "slow: body must be {\"latency_ms\": 0..60000}");
      }
      n.latency_ms = int64_t(it->get<uint64_t>());
    } else {
      return JsonError(404, "admin: unknown node action '" + action + "' (down, up, wipe, slow)");
    }
    Status st = SaveNodeState(uint32_t(id));
    if (!st.ok()) return Error(st);
    return Json(200, {{"node_id", id},
                      {"status", n.down ? "down" : "up"},
                      {"latency_ms", n.latency_ms}});
  }
  return JsonError(404, "no route for " + r.method + " " + r.path);
}

Result<json> Devnet::Impl::AppApprove(const std::string& what) {
  // The phone. Accepts a top-up URI "TFT:...", or a sign request: an inline
  // "threebot://signandpay/#{document}", a url-flow
  // "threebot://signandpay/#<url>", a URL ending in /api/<uuid>, or a uuid.
  if (what.rfind("TFT:", 0) == 0) {
    auto t = ParseTopupUri(what, kBridge);
    if (!t.ok()) return t.status();
    std::lock_guard<std::recursive_mutex> lock(mu);
    return Deposit(t->first, t->second, "app top-up");
  }
  std::string rest = what;
  if (rest.rfind(kSignAndPayPrefix, 0) == 0) rest = rest.substr(kSignAndPayPrefix.size());
  const bool is_inline = !rest.empty() && rest[0] == '{';
  std::string text;
  std::string url;
  if (is_inline) {
    text = rest;
  } else {
    // The url flow: fetch the document as the app does (loopback only).
    url = rest.find('/') == std::string::npos ? BaseUrl() + "/api/" + rest : rest;
    if (!url.starts_with("http://127.0.0.1:") && !url.starts_with("http://localhost:")) {
      return Status::InvalidArgument("app: the devnet's phone fetches sign requests from loopback "
                                     "URLs only, not " + url.substr(0, 100));
    }
    grid::HttpClient client(std::chrono::seconds(10));
    auto got = client.Send("GET", url);
    if (!got.ok()) return got.status().WithContext("app: fetching " + url);
    if (got->status == 404) return Status::NotFound("sign request " + url + ": not found");
    if (got->status != 200) {
      return Status::Unavailable(fmt::format("app: GET {} answered HTTP {}", url, got->status));
    }
    text = got->body;
  }
  auto req = ParsePhoneRequest(text);
  if (!req.ok()) return req.status().WithContext("app");
  const std::string& uuid = req->uuid;
  auto loopback = [](const std::string& u) {
    return u.rfind("http://127.0.0.1:", 0) == 0 || u.rfind("http://localhost:", 0) == 0;
  };
  if (!loopback(req->callback_url)) {
    return Status::InvalidArgument("app: the devnet's phone calls back loopback URLs only, not " +
                                   req->callback_url.substr(0, 100));
  }
  if (!req->state.empty() && req->state != "pending") {
    return Status::FailedPrecondition("sign request " + uuid + ": already " + req->state);
  }
  // Whose key: the devnet's phone holds the keys of every paired twin (a real
  // phone holds one); the relay's record of the uuid names the twin.
  uint32_t twin_id = 0;
  std::string seed;
  {
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto rows = db->Query("SELECT state, twin_id FROM sign_requests WHERE uuid = ?", {uuid});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound("sign request " + uuid + ": not found");
    if (AsString((*rows)[0][0]) != "pending") {
      return Status::FailedPrecondition("sign request " + uuid + ": already " +
                                        AsString((*rows)[0][0]));
    }
    twin_id = uint32_t(AsInt((*rows)[0][1]));
    auto k = db->Query("SELECT seed FROM app_keys WHERE twin_id = ?", {int64_t(twin_id)});
    if (!k.ok()) return k.status();
    if (k->empty()) {
      return Status::FailedPrecondition(fmt::format(
          "app: no key for twin {} in the devnet app keystore (POST /app/keys first)", twin_id));
    }
    seed = AsString((*k)[0][0]);
  }
  grid::HttpClient client(std::chrono::seconds(10));
  auto deliver = [&](const json& answer) -> Result<long> {
    const std::string& cb = req->callback_url;
    auto res = client.Send("POST", cb, answer.dump());
    if (!res.ok()) return res.status().WithContext("app: delivering the answer to " + cb);
    return res->status;
  };
  // What the phone shows and signs: each payload, decoded with the devnet
  // runtime's metadata, for the devnet's chain. Anything else is refused,
  // and the refusal goes to the CallbackUrl so the waiting CLI learns why.
  PhoneChain phone_chain;
  static const tfchain::Metadata kMeta = BuildDevnetRuntimeMetadata();
  phone_chain.metadata = &kMeta;
  phone_chain.spec_version = DevnetRuntimeVersion().spec_version;
  phone_chain.tx_version = DevnetRuntimeVersion().transaction_version;
  {
    if (!chain) return Status::Unavailable("app: the devnet's chain is not running");
    json reply = json::parse(
        chain->Call(R"({"jsonrpc":"2.0","id":1,"method":"chain_getBlockHash","params":[0]})"),
        nullptr, false);
    auto genesis = reply.is_object() && reply.contains("result") && reply["result"].is_string()
                       ? grid::HexDecode(reply["result"].get<std::string>())
                       : Result<std::string>(Status::Internal("app: the chain has no genesis hash"));
    if (!genesis.ok() || genesis->size() != 32) return Status::Internal("app: the chain's genesis hash");
    std::memcpy(phone_chain.genesis.data(), genesis->data(), 32);
  }
  Status checked = CheckPayloads(phone_chain, &*req);
  if (!checked.ok()) {
    auto told = deliver(json{{"Error", "the app refused: " + checked.message()}, {"uuid", uuid}});
    return checked.WithContext(fmt::format("app: refused sign request {} (not approved{})", uuid,
                                           told.ok() ? "; the relay was told" : ""));
  }
  auto key = grid::Ed25519Key::FromSeedHex(seed);
  if (!key.ok()) return key.status();
  json signed_data = json::array();
  for (const auto& p : req->payloads) {
    signed_data.push_back(grid::HexEncode(key->Sign(tfchain::PayloadToSign(p))));
  }
  // Pay: the app's wallet sends the amount to the bridge for the twin.
  json receipt = nullptr;
  if (req->amount > 0) {
    if (req->bridge != kBridge) {
      return Status::InvalidArgument(fmt::format(
          "app: the payment goes to {}, which is not the devnet's bridge {}", req->bridge, kBridge));
    }
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto dep = Deposit(req->pay_twin, req->amount, "sign-and-pay " + uuid);
    if (!dep.ok()) return dep.status();
    receipt = *dep;
  }
  json answer{{"SignedData", signed_data},
              {"Payment", receipt},
              {"PublicKey", key->PublicKeyHex()},
              {"uuid", uuid}};
  auto delivered = deliver(answer);
  if (!delivered.ok() || *delivered != 200) {
    return Status::Unavailable(fmt::format(
        "app: signed {} but the relay did not take the answer at {} ({}){}", uuid,
        req->callback_url,
        delivered.ok() ? "HTTP " + std::to_string(*delivered) : delivered.status().message(),
        req->amount > 0 ? "; the payment was made" : ""));
  }
  answer["flow"] = is_inline ? "inline" : "url";
  answer["calls"] = req->calls;
  answer["callback"] = {{"status", *delivered}};
  return answer;
}

// ---------------------------------------------------------------------------
// ThreeFold Connect login: the devnet plays the login service (the users
// API), the phone (POST /app/login signs an attempt for a login URL) and the
// KYC service (POST /verification/verify-sei). Users live in the ledger's
// connect_users table with a key made on first use, so the same devnet
// always gives the same user the same key (and so the same derivedSeed).

namespace {
constexpr const char* kKycRow = "@openkyc";  // not a valid doubleName: cannot collide
}  // namespace

Result<grid::connect::PhoneUser> Devnet::Impl::ConnectUser(const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  auto rows = db->Query("SELECT seed, email FROM connect_users WHERE name = ?", {name});
  if (!rows.ok()) return rows.status();
  std::string seed_hex, email;
  if (rows->empty()) {
    seed_hex = RandomHex(32);
    email = name == kKycRow ? "" : name.substr(0, name.find('.')) + "@devnet.local";
    QSTOR_RETURN_IF_ERROR(db->Exec("INSERT INTO connect_users(name, seed, email) VALUES(?,?,?)",
                                   {name, seed_hex, email}));
  } else {
    seed_hex = AsString((*rows)[0][0]);
    email = AsString((*rows)[0][1]);
  }
  auto seed = grid::HexDecode(seed_hex);
  if (!seed.ok() || seed->size() != 32) return Status::Corruption("connect_users: bad seed of " + name);
  grid::connect::PhoneUser u;
  u.double_name = name;
  u.email = email;
  std::memcpy(u.seed.data(), seed->data(), 32);
  return u;
}

HttpResponse Devnet::Impl::HandleConnect(const HttpRequest& r,
                                         const std::vector<std::string>& parts) {
  namespace cn = grid::connect;
  auto kyc_key = [&]() -> Result<grid::Ed25519Key> {
    auto k = ConnectUser(kKycRow);
    if (!k.ok()) return k.status();
    return grid::Ed25519Key::FromSeed(k->seed);
  };
  if (parts[0] == "api" && parts.size() == 3 && (r.method == "GET" || r.method == "HEAD")) {
    std::string name = UrlDecode(parts[2], false);
    Status st = cn::CheckDoubleName(name);
    if (!st.ok()) return JsonError(400, st.message());
    // Known users only; demo.3bot always exists.
    if (name != "demo.3bot") {
      std::lock_guard<std::recursive_mutex> lock(mu);
      auto rows = db->Query("SELECT 1 FROM connect_users WHERE name = ?", {name});
      if (!rows.ok()) return Error(rows.status());
      if (rows->empty()) return JsonError(404, "users: no user " + name);
    }
    auto u = ConnectUser(name);
    if (!u.ok()) return Error(u.status());
    auto key = grid::Ed25519Key::FromSeed(u->seed);
    const auto& pk = key.public_key();
    return Json(200, {{"doublename", name},
                      {"publicKey", cn::Base64Encode(std::string(
                                        reinterpret_cast<const char*>(pk.data()), pk.size()))}});
  }
  if (parts[0] == "app" && r.method == "POST") {
    auto j = grid::ParseJson(r.body, "app/login");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object() || !j->contains("url") || !(*j)["url"].is_string()) {
      return JsonError(400, "app/login: expected {url, user?, deny?, forge?}");
    }
    auto params = cn::ParseLoginUrl((*j)["url"].get<std::string>());
    if (!params.ok()) return Error(params.status());
    std::string name = j->value("user", std::string("demo.3bot"));
    Status st = cn::CheckDoubleName(name);
    if (!st.ok()) return JsonError(400, st.message());
    if (j->value("deny", false)) {
      return Json(200, {{"callback_url", cn::PhoneRefusalUrl(*params)},
                        {"doubleName", name},
                        {"approved", false}});
    }
    auto u = ConnectUser(name);
    if (!u.ok()) return Error(u.status());
    auto kyc = kyc_key();
    if (!kyc.ok()) return Error(kyc.status());
    // The signed email identifier: the KYC key's signature over
    // {"email","identifier"} (crypto_sign attached, base64).
    json ident{{"email", u->email}, {"identifier", name}};
    u->email_sei = cn::Base64Encode(kyc->Sign(ident.dump()) + ident.dump());
    std::array<uint8_t, 32> signer = u->seed;
    if (j->value("forge", false)) randombytes_buf(signer.data(), signer.size());
    auto url = cn::PhoneSignAttempt(*params, *u, signer);
    sodium_memzero(signer.data(), signer.size());
    if (!url.ok()) return Error(url.status());
    return Json(200, {{"callback_url", *url},
                      {"doubleName", name},
                      {"approved", true},
                      {"forged", j->value("forge", false)}});
  }
  if (parts[0] == "verification" && parts.size() == 2 && parts[1] == "verify-sei" &&
      r.method == "POST") {
    auto j = grid::ParseJson(r.body, "verify-sei");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object() || !j->contains("signedEmailIdentifier") ||
        !(*j)["signedEmailIdentifier"].is_string()) {
      return JsonError(400, "verify-sei: expected {signedEmailIdentifier}");
    }
    auto raw = cn::Base64Decode((*j)["signedEmailIdentifier"].get<std::string>(), "sei");
    if (!raw.ok() || raw->size() <= 64) return JsonError(400, "verify-sei: not a signed identifier");
    auto kyc = kyc_key();
    if (!kyc.ok()) return Error(kyc.status());
    std::string sig = raw->substr(0, 64), body = raw->substr(64);
    std::string pk(reinterpret_cast<const char*>(kyc->public_key().data()), 32);
    if (!grid::Ed25519Verify(pk, body, sig)) return JsonError(400, "verify-sei: bad signature");
    auto ident = json::parse(body, nullptr, false);
    if (ident.is_discarded() || !ident.is_object()) return JsonError(400, "verify-sei: bad body");
    return Json(200, ident);
  }
  return JsonError(404, "no route for " + r.method + " " + r.path);
}

HttpResponse Devnet::Impl::HandlePayments(const HttpRequest& r,
                                          const std::vector<std::string>& parts) {
  const std::string& root = parts[0];
  if (root == "bridge" && parts.size() == 2 && parts[1] == "address" && r.method == "GET") {
    return Json(200, {{"bridge_address", kBridge}, {"fee", opt.bridge_fee_units}});
  }
  if (root == "bridge" && parts.size() == 2 && parts[1] == "deposit" && r.method == "POST") {
    auto j = grid::ParseJson(r.body, "deposit");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object()) return JsonError(400, "deposit: expected object");
    uint32_t twin;
    uint64_t amount;
    if (j->contains("uri")) {
      if (!(*j)["uri"].is_string()) return JsonError(400, "deposit.uri: expected string");
      auto t = ParseTopupUri((*j)["uri"].get<std::string>(), kBridge);
      if (!t.ok()) return Error(t.status());
      twin = t->first;
      amount = t->second;
    } else {
      auto tw = j->find("twin_id");
      auto am = j->find("amount");
      if (tw == j->end() || !tw->is_number_unsigned() || tw->get<uint64_t>() > UINT32_MAX ||
          am == j->end() || !am->is_number_unsigned()) {
        return JsonError(400, "deposit: expected {uri} or {twin_id, amount (units of 1e-7 TFT)}");
      }
      twin = tw->get<uint32_t>();
      amount = am->get<uint64_t>();
    }
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto res = Deposit(twin, amount, "bridge deposit");
    if (!res.ok()) return Error(res.status());
    return Json(200, *res);
  }
  if (root == "api" && parts.size() == 2 && parts[1] == "signandpay" && r.method == "POST") {
    // The sign-and-pay relay: stores the request and serves its document
    // (devnet/sign_phone.h, reconciler/connect.h) at /api/<uuid>.
    auto j = grid::ParseJson(r.body, "sign request");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object()) return JsonError(400, "sign request: expected object");
    for (auto it = j->begin(); it != j->end(); ++it) {
      if (it.key() == "callback_url") {
        return JsonError(400, "sign request.callback_url: the app answers the relay (the document's "
                              "CallbackUrl is /api/<uuid>/answer); poll GET /api/<uuid>");
      }
      if (it.key() != "twin_id" && it.key() != "data_to_sign" && it.key() != "amount") {
        return JsonError(400, "sign request: unknown field \"" + it.key().substr(0, 40) +
                                  "\" (twin_id, data_to_sign, amount)");
      }
    }
    auto tw = j->find("twin_id");
    auto data = j->find("data_to_sign");
    if (tw == j->end() || !tw->is_number_unsigned() || tw->get<uint64_t>() == 0 ||
        tw->get<uint64_t>() > UINT32_MAX) {
      return JsonError(400, "sign request.twin_id: expected unsigned integer");
    }
    bool ok_data = data != j->end() && data->is_array() && !data->empty() && data->size() <= 16;
    if (ok_data) {
      for (const auto& d : *data) {
        if (!d.is_string()) {
          ok_data = false;
          break;
        }
        auto raw = grid::connect::Base64Decode(d.get<std::string>(), "data_to_sign");
        ok_data = raw.ok() && !raw->empty() &&
                  grid::connect::Base64Encode(*raw) == d.get<std::string>();
        if (!ok_data) break;
      }
    }
    if (!ok_data) {
      return JsonError(400, "sign request.data_to_sign: expected a list of 1 to 16 base64 SCALE "
                            "signing payloads");
    }
    uint64_t amount = 0;
    if (auto a = j->find("amount"); a != j->end()) {
      if (!a->is_number_unsigned()) return JsonError(400, "sign request.amount: expected units");
      amount = a->get<uint64_t>();
    }
    const uint32_t twin = tw->get<uint32_t>();
    std::string uuid = RandomHex(16);
    uuid = uuid.substr(0, 8) + "-" + uuid.substr(8, 4) + "-" + uuid.substr(12, 4) + "-" +
           uuid.substr(16, 4) + "-" + uuid.substr(20);
    const std::string url = BaseUrl() + "/api/" + uuid;
    std::string doc = RelayDocument(uuid, url + "/answer", amount,
                                    fmt::format("TFT:{}?message=twin_{}", kBridge, twin),
                                    data->get<std::vector<std::string>>());
    std::lock_guard<std::recursive_mutex> lock(mu);
    Status st = db->Exec(
        "INSERT INTO sign_requests(uuid, body, state, created_at, twin_id) VALUES(?,?,'pending',?,?)",
        {uuid, doc, Now(), int64_t(twin)});
    if (!st.ok()) return Error(st);
    return Json(200, {{"uuid", uuid}, {"url", url}, {"qr", std::string(kSignAndPayPrefix) + url}});
  }
  if (root == "api" && parts.size() == 2 && r.method == "GET") {
    // The document the app fetches (url flow) and the CLI polls: the stored
    // document, keys in order, then State, and Response or Error once answered.
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto rows = db->Query("SELECT body, state, response FROM sign_requests WHERE uuid = ?", {parts[1]});
    if (!rows.ok()) return Error(rows.status());
    if (rows->empty()) return JsonError(404, "sign request " + parts[1] + ": not found");
    auto body = nlohmann::ordered_json::parse(AsString((*rows)[0][0]), nullptr, false);
    if (body.is_discarded() || !body.is_object()) return JsonError(500, "sign request: corrupt");
    const std::string state = AsString((*rows)[0][1]);
    body["State"] = state;
    auto response = nlohmann::ordered_json::parse(AsString((*rows)[0][2]), nullptr, false);
    if (state == "approved" && !response.is_discarded()) body["Response"] = response;
    if (state == "rejected" && response.is_object() && response.contains("Error")) {
      body["Error"] = response["Error"];
    }
    HttpResponse out;
    out.body = body.dump();
    return out;
  }
  if (root == "api" && parts.size() == 3 && parts[2] == "answer" && r.method == "POST") {
    // The document's CallbackUrl: the app posts {SignedData: [hex...],
    // PublicKey, Payment} (approved) or {Error} (it refused).
    auto j = grid::ParseJson(r.body, "sign answer");
    if (!j.ok()) return Error(j.status());
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto rows = db->Query("SELECT body, state FROM sign_requests WHERE uuid = ?", {parts[1]});
    if (!rows.ok()) return Error(rows.status());
    if (rows->empty()) return JsonError(404, "sign request " + parts[1] + ": not found");
    if (AsString((*rows)[0][1]) != "pending") {
      return JsonError(409, "sign request " + parts[1] + ": already " + AsString((*rows)[0][1]));
    }
    if (!j->is_object()) return JsonError(400, "sign answer: expected object");
    if (j->contains("uuid") && (*j)["uuid"] != parts[1]) {
      return JsonError(400, "sign answer: uuid does not match the request's");
    }
    std::string state;
    if (j->contains("Error")) {
      if (!(*j)["Error"].is_string() || j->contains("SignedData")) {
        return JsonError(400, "sign answer: Error is a string, without SignedData");
      }
      state = "rejected";
    } else {
      auto doc = json::parse(AsString((*rows)[0][0]), nullptr, false);
      size_t want = doc.is_object() && doc.contains("DataToSign") && doc["DataToSign"].is_array()
                        ? doc["DataToSign"].size()
                        : 0;
      const json* sd = j->contains("SignedData") ? &(*j)["SignedData"] : nullptr;
      bool ok_sd = sd != nullptr && sd->is_array() && sd->size() == want;
      if (ok_sd) {
        for (const auto& x : *sd) {
          auto raw = x.is_string() ? grid::HexDecode(x.get<std::string>())
                                   : Result<std::string>(Status::InvalidArgument("not a string"));
          ok_sd = ok_sd && raw.ok() && raw->size() == 64;
        }
      }
      if (!ok_sd) {
        return JsonError(400, fmt::format("sign answer: SignedData must be {} hex ed25519 "
                                          "signatures, one per DataToSign",
                                          want));
      }
      state = "approved";
    }
    Status st = db->Exec("UPDATE sign_requests SET state = ?, response = ? WHERE uuid = ?",
                         {state, j->dump(), parts[1]});
    if (!st.ok()) return Error(st);
    return Json(200, {{"uuid", parts[1]}, {"State", state}});
  }
  if (root == "app" && parts.size() == 2 && parts[1] == "keys" && r.method == "POST") {
    // Pairs the emulated phone with a twin: {"seed": hex}. The twin must exist.
    auto j = grid::ParseJson(r.body, "app key");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object() || !j->contains("seed") || !(*j)["seed"].is_string()) {
      return JsonError(400, "app key: expected {\"seed\": \"<64 hex>\"}");
    }
    auto key = grid::Ed25519Key::FromSeedHex((*j)["seed"].get<std::string>());
    if (!key.ok()) return Error(key.status());
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto tw = TwinByPk(key->PublicKeyHex());
    if (!tw.ok()) return Error(tw.status());
    if (!tw->has_value()) return JsonError(404, "app key: no twin for this key (register it first)");
    Status st = db->Exec("INSERT OR REPLACE INTO app_keys(twin_id, seed) VALUES(?,?)",
                         {int64_t((*tw)->twin_id), key->SeedHex()});
    if (!st.ok()) return Error(st);
    return Json(200, {{"twin_id", (*tw)->twin_id}});
  }
  if (root == "app" && parts.size() == 2 && parts[1] == "approve" && r.method == "POST") {
    auto j = grid::ParseJson(r.body, "approve");
    if (!j.ok()) return Error(j.status());
    if (!j->is_object() || !j->contains("request") || !(*j)["request"].is_string()) {
      return JsonError(400, "approve: expected {\"request\": \"<uuid|uri>\"}");
    }
    auto res = AppApprove((*j)["request"].get<std::string>());
    if (!res.ok()) return Error(res.status());
    return Json(200, *res);
  }
  return JsonError(404, "no route for " + r.method + " " + r.path);
}

// ---------------------------------------------------------------------------

Devnet::Devnet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Devnet::~Devnet() { Stop(); }

Result<std::unique_ptr<Devnet>> Devnet::Start(DevnetOptions options) {
  if (sodium_init() < 0) return Status::Internal("devnet: libsodium init failed");
  if (options.data_dir.empty()) return Status::InvalidArgument("devnet: data dir is empty");
  if (options.hour_seconds <= 0) return Status::InvalidArgument("devnet: hour_seconds must be > 0");
  if (options.qstor_bin.empty()) {
    if (const char* b = std::getenv("QSTOR_BIN"); b && *b) {
      options.qstor_bin = b;
    } else {
      std::error_code ec;
      options.qstor_bin = fs::read_symlink("/proc/self/exe", ec).string();
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  QSTOR_RETURN_IF_ERROR(impl->Open());
  // Nodes hosting live namespaces get their 0-db back.
  {
    auto rows = impl->db->Query(
        "SELECT DISTINCT node_id FROM contracts WHERE state != 'Deleted' AND hru > 0");
    if (!rows.ok()) return rows.status();
    for (auto& row : *rows) {
      uint32_t id = uint32_t(AsInt(row[0]));
      if (impl->rt[id].down) continue;
      auto z = impl->EnsureZdb(id);
      if (!z.ok()) spdlog::warn("devnet: node {}: {}", id, z.status().ToString());
    }
  }
  Impl* raw = impl.get();
  HttpServerOptions ho;
  ho.port = options.port;
  auto http = HttpServer::Start(ho, [raw](const HttpRequest& r) { return raw->Handle(r); });
  if (!http.ok()) return http.status();
  impl->http = std::move(http).value();
  {
    std::string pf = grid::DevnetPortFile(options.data_dir);
    Status w = WriteFileAtomic(pf, std::to_string(impl->http->port()) + "\n", 0600);
    if (!w.ok()) return w.WithContext("devnet: port file");
  }
  // The chain: Substrate JSON-RPC over WebSocket beside the HTTP API.
  {
    TfchainNodeOptions co;
    co.port = options.chain_port;
    co.block_ms = options.block_ms;
    auto chain = TfchainNode::Start(raw, co);
    if (!chain.ok()) return chain.status();
    impl->chain = std::move(chain).value();
    std::string cf = grid::DevnetChainPortFile(options.data_dir);
    Status w = WriteFileAtomic(cf, std::to_string(impl->chain->port()) + "\n", 0600);
    if (!w.ok()) return w.WithContext("devnet: chain port file");
  }
  impl->biller = std::thread([raw] { raw->BillLoop(); });
  return std::unique_ptr<Devnet>(new Devnet(std::move(impl)));
}

uint16_t Devnet::port() const { return impl_->http->port(); }

std::string Devnet::base_url() const { return impl_->BaseUrl(); }

std::string Devnet::chain_url() const { return impl_->chain ? impl_->chain->url() : std::string(); }

Status Devnet::BillOnce() { return impl_->BillOnce(); }

void Devnet::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->bill_mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->bill_cv.notify_all();
  if (impl_->biller.joinable()) impl_->biller.join();
  if (impl_->chain) impl_->chain->Stop();
  if (impl_->http) impl_->http->Stop();
  std::lock_guard<std::recursive_mutex> lock(impl_->mu);
  for (auto& [id, n] : impl_->rt) {
    if (n.zdb) n.zdb->Stop();
  }
  std::error_code ec;
  fs::remove(grid::DevnetPortFile(impl_->opt.data_dir), ec);
  fs::remove(grid::DevnetChainPortFile(impl_->opt.data_dir), ec);
}

}  // namespace qstor::devnet
