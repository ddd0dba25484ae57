// TfchainClient: see tfchain_client.h.
#include "grid/tfchain_client.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <utility>

#include "grid/tfchain/scale.h"

namespace qstor::grid {

namespace tf = qstor::tfchain;

namespace {

// ---- process-wide metadata cache: (url, spec_version) -> decoded metadata ----
std::mutex g_meta_mu;
std::map<std::pair<std::string, uint32_t>, std::shared_ptr<const tf::Metadata>>& MetaCache() {
  static auto* cache = new std::map<std::pair<std::string, uint32_t>, std::shared_ptr<const tf::Metadata>>();
  return *cache;
}

std::string Bounded(const nlohmann::json& j) {
  std::string s = DumpJson(j);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

Result<std::string> HexField(const nlohmann::json& j, const std::string& what) {
  if (!j.is_string()) return Status::Protocol(what + ": expected a hex string, got " + Bounded(j));
  auto b = HexDecode(j.get<std::string>());
  if (!b.ok()) return Status::Protocol(what + ": " + b.status().message());
  return *b;
}

Result<tf::Hash256> Hash32(const nlohmann::json& j, const std::string& what) {
  auto b = HexField(j, what);
  if (!b.ok()) return b.status();
  if (b->size() != 32) return Status::Protocol(what + ": expected 32 bytes, got " + std::to_string(b->size()));
  tf::Hash256 h;
  std::memcpy(h.data(), b->data(), 32);
  return h;
}

Result<uint32_t> U32Field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned())
    return Status::Protocol(what + ": expected an unsigned \"" + key + "\", got " + Bounded(j));
  uint64_t v = j[key].get<uint64_t>();
  if (v > UINT32_MAX) return Status::Protocol(what + ": \"" + key + "\" over u32");
  return uint32_t(v);
}

// A block number as Substrate sends it in headers: "0x3e8" (or a number).
Result<uint64_t> BlockNumber(const nlohmann::json& j, const std::string& what) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (!j.is_string()) return Status::Protocol(what + ": expected a block number, got " + Bounded(j));
  std::string s = j.get<std::string>();
  if (s.rfind("0x", 0) != 0 || s.size() < 3 || s.size() > 18)
    return Status::Protocol(what + ": bad block number " + Bounded(j));
  uint64_t v = 0;
  for (size_t i = 2; i < s.size(); ++i) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return Status::Protocol(what + ": bad block number " + Bounded(j));
    v = v * 16 + uint64_t(d);
  }
  return v;
}

std::string Raw(const PublicKey& pk) { return std::string(reinterpret_cast<const char*>(pk.data()), pk.size()); }

std::string U32Le(uint32_t v) {
  tf::Encoder e;
  e.U32(v);
  return e.Take();
}
std::string U64Le(uint64_t v) {
  tf::Encoder e;
  e.U64(v);
  return e.Take();
}

tf::Value OptBytes(const std::optional<std::string>& s) {
  return s ? tf::Value::Some(tf::Value::Bytes(*s)) : tf::Value::None();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

TfchainContract ToContract(const tf::Contract& c) {
  TfchainContract o;
  o.contract_id = c.contract_id;
  o.twin_id = c.twin_id;
  o.state = c.state;
  o.deleted_cause = c.deleted_cause;
  o.grace_period_block = c.grace_period_block;
  o.type = c.type;
  o.node_id = c.node_id;
  o.deployment_hash = c.deployment_hash;
  o.deployment_data = c.deployment_data;
  o.public_ips = c.public_ips;
  for (const auto& ip : c.public_ips_list) o.public_ips_list.push_back({ip.ip, ip.gateway, ip.contract_id});
  o.name = c.name;
  return o;
}

TfchainTwin ToTwin(const tf::Twin& t) {
  TfchainTwin o;
  o.id = t.id;
  std::memcpy(o.account.data(), t.account_id.data(), 32);
  o.relay = t.relay;
  o.pk = t.pk;
  return o;
}

// What the watch callback hands to the waiting thread.
struct WatchQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SubscriptionEvent> events;
};

}  // namespace

// ---------------------------------------------------------------------------

Status CheckSignedExtensions(const tf::Metadata& m) {
  // BuildExtensions is the one place that knows each extension's bytes; any
  // extension it cannot build (unknown, not zero-size) is refused here too.
  auto ext = tf::BuildExtensions(m, tf::ExtrinsicExtra{}, tf::ChainInfo{});
  if (!ext.ok())
    return Status::FailedPrecondition("tfchain: the chain's runtime lists a signed extension qstor "
                                      "cannot build: " + ext.status().message());
  return Status::OK();
}

ExtrinsicStatus ParseExtrinsicStatus(const nlohmann::json& s) {
  using K = ExtrinsicStatus::Kind;
  ExtrinsicStatus out;
  out.text = Bounded(s);
  if (s.is_string()) {
    const std::string v = s.get<std::string>();
    if (v == "future") out.kind = K::kFuture;
    else if (v == "ready") out.kind = K::kReady;
    else if (v == "dropped") out.kind = K::kDropped;
    else if (v == "invalid") out.kind = K::kInvalid;
    return out;
  }
  if (!s.is_object() || s.size() != 1) return out;
  const std::string key = s.begin().key();
  const nlohmann::json& val = s.begin().value();
  static const std::pair<const char*, K> kWithHash[] = {
      {"inBlock", K::kInBlock},   {"retracted", K::kRetracted}, {"finalityTimeout", K::kFinalityTimeout},
      {"finalized", K::kFinalized}, {"usurped", K::kUsurped},
  };
  if (key == "broadcast") {
    out.kind = K::kBroadcast;
    return out;
  }
  for (const auto& [name, kind] : kWithHash) {
    if (key != name) continue;
    if (!val.is_string()) return out;  // kUnknown: a hash must be a string
    out.kind = kind;
    out.block_hash = val.get<std::string>();
    return out;
  }
  return out;
}

Result<uint32_t> FindExtrinsicInBlock(const nlohmann::json& block, std::string_view extrinsic) {
  if (!block.is_object() || !block.contains("block") || !block["block"].is_object() ||
      !block["block"].contains("extrinsics") || !block["block"]["extrinsics"].is_array())
    return Status::Protocol("chain_getBlock: no block.extrinsics in " + Bounded(block));
  const tf::Hash256 want = tf::ExtrinsicHash(extrinsic);
  const auto& xs = block["block"]["extrinsics"];
  for (size_t i = 0; i < xs.size() && i <= UINT32_MAX; ++i) {
    auto b = HexField(xs[i], "chain_getBlock extrinsic " + std::to_string(i));
    if (!b.ok()) return b.status();
    if (tf::ExtrinsicHash(*b) == want) return uint32_t(i);
  }
  return Status::NotFound("the block does not hold the extrinsic");
}

Result<std::map<std::string, std::optional<std::string>>> ParseStorageChanges(const nlohmann::json& r) {
  if (!r.is_array() || r.size() != 1 || !r[0].is_object() || !r[0].contains("changes") ||
      !r[0]["changes"].is_array())
    return Status::Protocol("state_queryStorageAt: unexpected reply " + Bounded(r));
  std::map<std::string, std::optional<std::string>> out;
  for (const auto& ch : r[0]["changes"]) {
    if (!ch.is_array() || ch.size() != 2 || !ch[0].is_string())
      return Status::Protocol("state_queryStorageAt: bad change " + Bounded(ch));
    auto key = HexField(ch[0], "state_queryStorageAt key");
    if (!key.ok()) return key.status();
    std::optional<std::string> bytes;
    if (!ch[1].is_null()) {
      auto b = HexField(ch[1], "state_queryStorageAt value");
      if (!b.ok()) return b.status();
      bytes = std::move(*b);
    }
    out["0x" + HexEncode(*key)] = std::move(bytes);
  }
  return out;
}

Status DispatchFailure(std::string_view name, std::string_view context) {
  std::string msg = std::string(context) + ": " + std::string(name);
  std::string_view err = name.substr(name.find('.') == std::string_view::npos ? 0 : name.find('.') + 1);
  if (EndsWith(err, "NotExists") || EndsWith(err, "NotExist")) return Status::NotFound(msg);
  if (EndsWith(err, "IsNotUnique") || EndsWith(err, "AlreadyExists") || EndsWith(err, "Exists"))
    return Status::AlreadyExists(msg);
  if (name == "BadOrigin" || err.find("NotAuthorized") != std::string_view::npos ||
      err.find("Unauthorized") != std::string_view::npos)
    return Status::PermissionDenied(msg);
  return Status::FailedPrecondition(msg);
}

void TfchainClient::ClearMetadataCacheForTesting() {
  std::lock_guard<std::mutex> l(g_meta_mu);
  MetaCache().clear();
}

Result<std::unique_ptr<TfchainClient>> TfchainClient::Create(TfchainClientOptions options) {
  if (options.url.empty()) return Status::InvalidArgument("tfchain: no chain URL");
  if (!options.immortal && (options.mortal_period < 4 || options.mortal_period > 65536))
    return Status::InvalidArgument("tfchain: mortal_period must be in [4, 65536]");
  JsonRpcWsOptions ws;
  ws.url = options.url;
  ws.connect_timeout = options.connect_timeout;
  ws.call_timeout = options.call_timeout;
  ws.ca_file = options.ca_file;
  auto rpc = JsonRpcWsClient::Shared(ws);
  if (!rpc.ok()) return rpc.status();
  return std::unique_ptr<TfchainClient>(new TfchainClient(std::move(options), std::move(*rpc)));
}

TfchainClient::TfchainClient(TfchainClientOptions options, std::shared_ptr<JsonRpcWsClient> rpc)
    : options_(std::move(options)), rpc_(std::move(rpc)) {}

Result<nlohmann::json> TfchainClient::Rpc(const std::string& method, nlohmann::json params) {
  auto r = rpc_->Call(method, std::move(params), options_.call_timeout);
  if (!r.ok()) return r.status().WithContext("tfchain " + options_.url);
  return r;
}

Result<ChainState> TfchainClient::Chain(bool refresh) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (chain_ && !refresh) return *chain_;
  }
  ChainState st;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (chain_) st.genesis_hex = chain_->genesis_hex;
  }
  if (st.genesis_hex.empty()) {
    auto g = Rpc("chain_getBlockHash", nlohmann::json::array({0}));
    if (!g.ok()) return g.status();
    auto h = Hash32(*g, "chain_getBlockHash [0]");
    if (!h.ok()) return h.status();
    st.genesis_hex = "0x" + HexEncode(std::string(reinterpret_cast<const char*>(h->data()), 32));
  }
  auto v = Rpc("state_getRuntimeVersion", nlohmann::json::array());
  if (!v.ok()) return v.status();
  auto spec = U32Field(*v, "specVersion", "state_getRuntimeVersion");
  if (!spec.ok()) return spec.status();
  auto tx = U32Field(*v, "transactionVersion", "state_getRuntimeVersion");
  if (!tx.ok()) return tx.status();
  st.spec_version = *spec;
  st.tx_version = *tx;

  const auto key = std::make_pair(options_.url, st.spec_version);
  {
    std::lock_guard<std::mutex> l(g_meta_mu);
    auto it = MetaCache().find(key);
    if (it != MetaCache().end()) st.metadata = it->second;
  }
  if (!st.metadata) {
    auto mj = Rpc("state_getMetadata", nlohmann::json::array());
    if (!mj.ok()) return mj.status();
    if (!mj->is_string()) return Status::Protocol("tfchain: state_getMetadata: expected a hex string");
    auto m = tf::DecodeMetadataHex(mj->get<std::string>());
    if (!m.ok()) return m.status().WithContext("tfchain " + options_.url + ": state_getMetadata");
    QSTOR_RETURN_IF_ERROR(CheckSignedExtensions(*m));
    auto shared = std::make_shared<const tf::Metadata>(std::move(*m));
    std::lock_guard<std::mutex> l(g_meta_mu);
    st.metadata = MetaCache().emplace(key, shared).first->second;
  } else {
    QSTOR_RETURN_IF_ERROR(CheckSignedExtensions(*st.metadata));
  }
  std::lock_guard<std::mutex> l(mu_);
  chain_ = st;
  return st;
}

Result<std::shared_ptr<const tf::Metadata>> TfchainClient::Meta() {
  auto c = Chain();
  if (!c.ok()) return c.status();
  return c->metadata;
}

// ---- reads ----------------------------------------------------------------

Result<std::optional<std::string>> TfchainClient::GetStorage(const std::string& key,
                                                             const std::string& at) {
  nlohmann::json params = nlohmann::json::array({"0x" + HexEncode(key)});
  if (!at.empty()) params.push_back(at);
  auto r = Rpc("state_getStorage", std::move(params));
  if (!r.ok()) return r.status();
  if (r->is_null()) return std::optional<std::string>();
  auto b = HexField(*r, "state_getStorage");
  if (!b.ok()) return b.status();
  return std::optional<std::string>(std::move(*b));
}

Result<uint32_t> TfchainClient::AccountNextIndex(const PublicKey& account) {
  auto r = Rpc("system_accountNextIndex", nlohmann::json::array({Ss58Address(account)}));
  if (!r.ok()) return r.status();
  if (!r->is_number_unsigned() || r->get<uint64_t>() > UINT32_MAX)
    return Status::Protocol("tfchain: system_accountNextIndex: expected a u32, got " + Bounded(*r));
  return uint32_t(r->get<uint64_t>());
}

Result<TfchainAccount> TfchainClient::Account(const PublicKey& account) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "System", "Account", {Raw(account)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto info = tf::DecodeAccountInfo(**m, *bytes);
  if (!info.ok()) return info.status().WithContext("System.Account " + Ss58Address(account));
  TfchainAccount a;
  a.nonce = info->nonce;
  a.free = info->free;
  a.reserved = info->reserved;
  a.frozen = info->frozen;
  return a;
}

Result<uint32_t> TfchainClient::TwinIdByAccountId(const PublicKey& account) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "TfgridModule", "TwinIdByAccountID", {Raw(account)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto id = tf::DecodeTwinIdByAccountId(**m, *bytes);
  if (!id.ok()) return id.status().WithContext("TfgridModule.TwinIdByAccountID");
  if (!*id) return Status::NotFound("tfchain: account " + Ss58Address(account) + " has no twin");
  return **id;
}

Result<TfchainTwin> TfchainClient::Twin(uint32_t twin_id) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "TfgridModule", "Twins", {U32Le(twin_id)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto t = tf::DecodeTwin(**m, *bytes);
  if (!t.ok()) return t.status().WithContext("TfgridModule.Twins(" + std::to_string(twin_id) + ")");
  if (!*t) return Status::NotFound("tfchain: twin " + std::to_string(twin_id) + " does not exist");
  return ToTwin(**t);
}

Result<bool> TfchainClient::AcceptedTermsAndConditions(const PublicKey& account) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "TfgridModule", "UsersTermsAndConditions", {Raw(account)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto v = tf::DecodeStorageValue(**m, "TfgridModule", "UsersTermsAndConditions", *bytes);
  if (!v.ok()) return v.status().WithContext("TfgridModule.UsersTermsAndConditions");
  if (!*v) return false;
  // A Vec of acceptances: present and non-empty means accepted.
  return (*v)->kind != tf::Value::Kind::kSequence || !(*v)->items.empty();
}

Result<TfchainContract> TfchainClient::Contract(uint64_t contract_id) {
  auto all = Contracts({contract_id});
  if (!all.ok()) return all.status();
  if (!(*all)[0]) return Status::NotFound("tfchain: contract " + std::to_string(contract_id) + " does not exist");
  return std::move(*(*all)[0]);
}

Result<std::vector<std::optional<TfchainContract>>> TfchainClient::Contracts(
    const std::vector<uint64_t>& ids) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  std::vector<std::optional<TfchainContract>> out(ids.size());
  if (ids.empty()) return out;
  std::vector<std::string> keys;
  std::map<std::string, size_t> index;  // hex key -> position
  nlohmann::json hex_keys = nlohmann::json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto key = tf::StorageKeyEncoded(**m, "SmartContractModule", "Contracts", {U64Le(ids[i])});
    if (!key.ok()) return key.status();
    std::string hex = "0x" + HexEncode(*key);
    index[hex] = i;
    hex_keys.push_back(hex);
    keys.push_back(*key);
  }
  auto decode = [&](size_t i, const std::optional<std::string>& bytes) -> Status {
    auto c = tf::DecodeContract(**m, bytes);
    if (!c.ok()) return c.status().WithContext("SmartContractModule.Contracts(" + std::to_string(ids[i]) + ")");
    if (*c) out[i] = ToContract(**c);
    return Status::OK();
  };
  if (ids.size() == 1) {
    auto bytes = GetStorage(keys[0]);
    if (!bytes.ok()) return bytes.status();
    QSTOR_RETURN_IF_ERROR(decode(0, *bytes));
    return out;
  }
  auto r = Rpc("state_queryStorageAt", nlohmann::json::array({hex_keys}));
  if (!r.ok()) return r.status();
  auto changes = ParseStorageChanges(*r);
  if (!changes.ok()) return changes.status();
  for (const auto& [k, bytes] : *changes) {
    auto it = index.find(k);
    if (it == index.end()) return Status::Protocol("tfchain: state_queryStorageAt: a key not asked for: " + k);
    QSTOR_RETURN_IF_ERROR(decode(it->second, bytes));
  }
  // Keys without a change entry have no value (absent contracts).
  return out;
}

Result<uint64_t> TfchainClient::ContractIdByNodeIdAndHash(uint32_t node_id, std::string_view hash) {
  if (hash.size() != 32)
    return Status::InvalidArgument("tfchain: deployment_hash must be 32 bytes, got " + std::to_string(hash.size()));
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "SmartContractModule", "ContractIDByNodeIDAndHash",
                                   {U32Le(node_id), std::string(hash)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto id = tf::DecodeContractIdByNodeIdAndHash(**m, *bytes);
  if (!id.ok()) return id.status().WithContext("SmartContractModule.ContractIDByNodeIDAndHash");
  if (*id == 0)
    return Status::NotFound("tfchain: no contract on node " + std::to_string(node_id) + " with hash " +
                            std::string(hash));
  return *id;
}

Result<std::vector<uint64_t>> TfchainClient::ActiveNodeContracts(uint32_t node_id) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto key = tf::StorageKeyEncoded(**m, "SmartContractModule", "ActiveNodeContracts", {U32Le(node_id)});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key);
  if (!bytes.ok()) return bytes.status();
  auto ids = tf::DecodeActiveNodeContracts(**m, *bytes);
  if (!ids.ok()) return ids.status().WithContext("SmartContractModule.ActiveNodeContracts");
  return ids;
}

Result<ChainPricing> TfchainClient::ReadChainPricing(uint32_t policy_id) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  const std::string policy_what = "TfgridModule.PricingPolicies(" + std::to_string(policy_id) + ")";
  // What billing reads (pallet-smart-contract cost.rs): the policy, then
  // the average TFT price and its bounds.
  static constexpr const char* kPrices[] = {"AverageTftPrice", "MinTftPrice", "MaxTftPrice"};
  std::vector<std::string> keys;
  auto pk = tf::StorageKeyEncoded(**m, "TfgridModule", "PricingPolicies", {U32Le(policy_id)});
  if (!pk.ok()) return pk.status().WithContext("tfchain: " + policy_what);
  keys.push_back(*pk);
  for (const char* e : kPrices) {
    auto k = tf::StorageKeyEncoded(**m, "TFTPriceModule", e, {});
    if (!k.ok()) return k.status().WithContext(std::string("tfchain: TFTPriceModule.") + e);
    keys.push_back(*k);
  }
  std::map<std::string, size_t> index;  // hex key -> position
  nlohmann::json hex_keys = nlohmann::json::array();
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string hex = "0x" + HexEncode(keys[i]);
    index[hex] = i;
    hex_keys.push_back(hex);
  }
  auto r = Rpc("state_queryStorageAt", nlohmann::json::array({hex_keys}));
  if (!r.ok()) return r.status();
  auto changes = ParseStorageChanges(*r);
  if (!changes.ok()) return changes.status();
  // Keys without a change entry have no value.
  std::vector<std::optional<std::string>> values(keys.size());
  for (auto& [k, bytes] : *changes) {
    auto it = index.find(k);
    if (it == index.end()) return Status::Protocol("tfchain: state_queryStorageAt: a key not asked for: " + k);
    values[it->second] = std::move(bytes);
  }
  auto policy = tf::DecodePricingPolicy(**m, values[0]);
  if (!policy.ok()) return policy.status().WithContext("tfchain: " + policy_what);
  if (!*policy)
    return Status::NotFound("tfchain: pricing policy " + std::to_string(policy_id) + " does not exist (" +
                            policy_what + ")");
  uint32_t prices[3] = {0, 0, 0};
  for (size_t i = 0; i < 3; ++i) {
    auto p = tf::DecodeTftPrice(**m, kPrices[i], values[i + 1]);
    if (!p.ok()) return p.status().WithContext(std::string("tfchain: TFTPriceModule.") + kPrices[i]);
    prices[i] = *p;
  }
  ChainPricing c;
  c.su_value = (*policy)->su.value;
  c.su_unit = (*policy)->su.unit;
  c.tft_price_musd = BillingTftPriceMusd(prices[0], prices[1], prices[2]);
  return c;
}

Result<grid::Pricing> TfchainClient::Pricing(uint32_t policy_id) {
  auto c = ReadChainPricing(policy_id);
  if (!c.ok()) return c.status();
  auto p = PricingFromChain(*c);
  if (!p.ok()) {
    const bool policy = p.status().code() == Status::Code::kCorruption;
    return p.status().WithContext(policy ? "tfchain: TfgridModule.PricingPolicies(" + std::to_string(policy_id) + ")"
                                         : std::string("tfchain: TFTPriceModule"));
  }
  return p;
}

// ---- calls ----------------------------------------------------------------

Result<EncodedCall> TfchainClient::BuildCall(std::string_view pallet, std::string_view call,
                                             std::vector<tf::NamedValue> args) {
  auto m = Meta();
  if (!m.ok()) return m.status();
  auto b = tf::EncodeCall(**m, pallet, call, std::move(args));
  if (!b.ok()) return b.status().WithContext("tfchain: " + std::string(pallet) + "." + std::string(call));
  return EncodedCall{std::string(pallet), std::string(call), std::move(*b)};
}

Result<EncodedCall> TfchainClient::UserAcceptTc(std::string_view link, std::string_view hash) {
  return BuildCall("TfgridModule", "user_accept_tc",
                   {{"document_link", tf::Value::Bytes(std::string(link))},
                    {"document_hash", tf::Value::Bytes(std::string(hash))}});
}

Result<EncodedCall> TfchainClient::CreateTwin(const std::optional<std::string>& relay,
                                              const std::optional<std::string>& pk) {
  return BuildCall("TfgridModule", "create_twin", {{"relay", OptBytes(relay)}, {"pk", OptBytes(pk)}});
}

Result<EncodedCall> TfchainClient::UpdateTwin(const std::optional<std::string>& relay,
                                              const std::optional<std::string>& pk) {
  return BuildCall("TfgridModule", "update_twin", {{"relay", OptBytes(relay)}, {"pk", OptBytes(pk)}});
}

Result<EncodedCall> TfchainClient::CreateNodeContract(uint32_t node_id, std::string_view hash,
                                                      std::string_view data, uint32_t public_ips,
                                                      std::optional<uint64_t> solution_provider_id) {
  return BuildCall("SmartContractModule", "create_node_contract",
                   {{"node_id", tf::Value::U(node_id)},
                    {"deployment_hash", tf::Value::Bytes(std::string(hash))},
                    {"deployment_data", tf::Value::Bytes(std::string(data))},
                    {"public_ips", tf::Value::U(public_ips)},
                    {"solution_provider_id", solution_provider_id
                                                 ? tf::Value::Some(tf::Value::U(*solution_provider_id))
                                                 : tf::Value::None()}});
}

Result<EncodedCall> TfchainClient::UpdateNodeContract(uint64_t contract_id, std::string_view hash,
                                                      std::string_view data) {
  return BuildCall("SmartContractModule", "update_node_contract",
                   {{"contract_id", tf::Value::U(contract_id)},
                    {"deployment_hash", tf::Value::Bytes(std::string(hash))},
                    {"deployment_data", tf::Value::Bytes(std::string(data))}});
}

Result<EncodedCall> TfchainClient::CancelContract(uint64_t contract_id) {
  return BuildCall("SmartContractModule", "cancel_contract", {{"contract_id", tf::Value::U(contract_id)}});
}

Result<EncodedCall> TfchainClient::TransferKeepAlive(const PublicKey& dest, tf::u128 amount) {
  // MultiAddress::Id(AccountId32): AccountId32 is a one-field tuple struct.
  tf::Value id = tf::Value::Composite({{"", tf::Value::Bytes(Raw(dest))}});
  return BuildCall("Balances", "transfer_keep_alive",
                   {{"dest", tf::Value::Enum("Id", {{"", id}})}, {"value", tf::Value::U(amount)}});
}

Result<EncodedCall> TfchainClient::BatchAll(const std::vector<EncodedCall>& calls) {
  std::vector<tf::Value> items;
  items.reserve(calls.size());
  for (const auto& c : calls) items.push_back(tf::Value::Raw(c.bytes));
  return BuildCall("Utility", "batch_all", {{"calls", tf::Value::Sequence(std::move(items))}});
}

// ---- signing and submitting -------------------------------------------------

Result<PreparedExtrinsic> TfchainClient::Prepare(const PublicKey& signer,
                                                 const std::vector<EncodedCall>& calls) {
  if (calls.empty()) return Status::InvalidArgument("tfchain: nothing to sign (no calls)");
  // The runtime may have been upgraded since the last extrinsic: the spec and
  // tx versions are part of what is signed.
  auto chain = Chain(/*refresh=*/true);
  if (!chain.ok()) return chain.status();
  PreparedExtrinsic p;
  p.signer = signer;
  p.metadata = chain->metadata;
  p.spec_version = chain->spec_version;
  if (calls.size() == 1) {
    p.call = calls[0].bytes;
  } else {
    auto b = BatchAll(calls);
    if (!b.ok()) return b.status();
    p.call = b->bytes;
  }
  auto genesis = Hash32(nlohmann::json(chain->genesis_hex), "genesis");
  if (!genesis.ok()) return genesis.status();
  p.chain.spec_version = chain->spec_version;
  p.chain.tx_version = chain->tx_version;
  p.chain.genesis = *genesis;
  p.chain.era_block_hash = *genesis;
  if (options_.immortal) {
    p.extra.era = tf::Era::Immortal();
  } else {
    // As polkadot.js: mortal from the latest finalized header.
    auto head = Rpc("chain_getFinalizedHead", nlohmann::json::array());
    if (!head.ok()) return head.status();
    auto head_hash = Hash32(*head, "chain_getFinalizedHead");
    if (!head_hash.ok()) return head_hash.status();
    auto header = Rpc("chain_getHeader", nlohmann::json::array({*head}));
    if (!header.ok()) return header.status();
    if (!header->is_object() || !header->contains("number"))
      return Status::Protocol("tfchain: chain_getHeader: no number in " + Bounded(*header));
    auto number = BlockNumber((*header)["number"], "chain_getHeader number");
    if (!number.ok()) return number.status();
    p.extra.era = tf::Era::Mortal(*number, options_.mortal_period);
    uint64_t birth = p.extra.era.Birth(*number);
    if (birth == *number) {
      p.chain.era_block_hash = *head_hash;
    } else {
      auto bh = Rpc("chain_getBlockHash", nlohmann::json::array({birth}));
      if (!bh.ok()) return bh.status();
      auto h = Hash32(*bh, "chain_getBlockHash [" + std::to_string(birth) + "]");
      if (!h.ok()) return h.status();
      p.chain.era_block_hash = *h;
    }
  }
  auto nonce = AccountNextIndex(signer);
  if (!nonce.ok()) return nonce.status();
  p.extra.nonce = *nonce;
  p.extra.tip = 0;
  auto payload = tf::SigningPayload(*p.metadata, p.call, p.extra, p.chain);
  if (!payload.ok()) return payload.status().WithContext("tfchain: signing payload");
  p.payload = std::move(*payload);
  p.to_sign = tf::PayloadToSign(p.payload);
  return p;
}

Result<std::string> TfchainClient::Assemble(const PreparedExtrinsic& p, std::string_view signature) {
  if (!p.metadata) return Status::InvalidArgument("tfchain: Assemble: the prepared extrinsic has no metadata");
  if (signature.size() != 64)
    return Status::InvalidArgument("tfchain: an ed25519 signature is 64 bytes, got " +
                                   std::to_string(signature.size()));
  if (!Ed25519Verify(Raw(p.signer), p.to_sign, signature))
    return Status::Unauthenticated("tfchain: the signature does not verify against the signing payload of " +
                                   Ss58Address(p.signer) + " (signed other bytes, or with another key)");
  std::string sig(signature);
  tf::Signer signer = [&sig](std::string_view) { return sig; };
  auto x = tf::BuildSignedExtrinsic(*p.metadata, p.signer, signer, p.call, p.extra, p.chain);
  if (!x.ok()) return x.status().WithContext("tfchain: assemble extrinsic");
  return x;
}

Result<SubmitResult> TfchainClient::SignAndSubmit(const Ed25519Key& key, const std::vector<EncodedCall>& calls) {
  auto p = Prepare(key.public_key(), calls);
  if (!p.ok()) return p.status();
  auto x = Assemble(*p, key.Sign(p->to_sign));
  if (!x.ok()) return x.status();
  return Submit(*x);
}

Result<SubmitResult> TfchainClient::Submit(const std::string& extrinsic) {
  using K = ExtrinsicStatus::Kind;
  const tf::Hash256 xh = tf::ExtrinsicHash(extrinsic);
  SubmitResult out;
  out.extrinsic_hash = "0x" + HexEncode(std::string(reinterpret_cast<const char*>(xh.data()), 32));
  const std::string what = "tfchain: extrinsic " + out.extrinsic_hash;

  auto q = std::make_shared<WatchQueue>();
  auto sub = rpc_->Subscribe(
      "author_submitAndWatchExtrinsic", nlohmann::json::array({"0x" + HexEncode(extrinsic)}),
      "author_extrinsicUpdate", "author_unwatchExtrinsic",
      [q](const SubscriptionEvent& ev) {
        std::lock_guard<std::mutex> l(q->mu);
        q->events.push_back(ev);
        q->cv.notify_all();
      },
      options_.call_timeout);
  if (!sub.ok()) {
    const Status& s = sub.status();
    // The request may have reached the node before the connection went.
    if (s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kTimeout)
      return Status(s.code(), what + ": submit failed (" + s.message() + "); " + std::string(kOutcomeUnknown));
    // The pool's payment check (Substrate's InvalidTransaction::Payment): the
    // account cannot pay the fee. Nothing was applied.
    if (s.message().find("Inability to pay some fees") != std::string::npos)
      return Status::ResourceExhausted(what + ": " + s.message() + " (top the account up); not applied");
    return s.WithContext(what);
  }
  auto unwatch = [&] { (void)rpc_->Unsubscribe(*sub); };

  const auto deadline = std::chrono::steady_clock::now() + options_.submit_timeout;
  std::string in_block;
  Status failure;
  bool done = false;
  while (!done) {
    SubscriptionEvent ev;
    {
      std::unique_lock<std::mutex> l(q->mu);
      if (!q->cv.wait_until(l, deadline, [&] { return !q->events.empty(); })) {
        l.unlock();
        unwatch();
        return Status::Timeout(what + ": no " + (options_.wait_finalized ? "finalized" : "inBlock") +
                               " within " + std::to_string(options_.submit_timeout.count()) + " ms" +
                               (in_block.empty() ? "" : " (was in block " + in_block + ")") + "; " +
                               std::string(kOutcomeUnknown));
      }
      ev = std::move(q->events.front());
      q->events.pop_front();
    }
    if (ev.kind == SubscriptionEvent::Kind::kClosed) {
      return Status::Unavailable(what + ": the watch ended (" + ev.status.message() + ")" +
                                 (in_block.empty() ? "" : " after inBlock " + in_block) + "; " +
                                 std::string(kOutcomeUnknown));
    }
    ExtrinsicStatus st = ParseExtrinsicStatus(ev.result);
    switch (st.kind) {
      case K::kFuture:
      case K::kReady:
      case K::kBroadcast:
        break;
      case K::kInBlock:
        in_block = st.block_hash;
        if (!options_.wait_finalized) done = true;
        break;
      case K::kRetracted:
        in_block.clear();  // its block left the best chain; wait for another
        break;
      case K::kFinalized:
        in_block = st.block_hash;
        out.finalized = true;
        done = true;
        break;
      case K::kFinalityTimeout:
        failure = Status::Timeout(what + ": finalityTimeout in block " + st.block_hash + "; " +
                                  std::string(kOutcomeUnknown));
        done = true;
        break;
      case K::kUsurped:
        failure = Status::FailedPrecondition(what + ": usurped by " + st.block_hash +
                                             " (another extrinsic took its nonce); not applied");
        done = true;
        break;
      case K::kDropped:
        failure = Status::Unavailable(what + ": dropped by the node's transaction pool; not included");
        done = true;
        break;
      case K::kInvalid:
        failure = Status::FailedPrecondition(what + ": invalid (the node's pool refused it)");
        done = true;
        break;
      case K::kUnknown:
        failure = Status::Protocol(what + ": unknown author_extrinsicUpdate status " + st.text);
        done = true;
        break;
    }
  }
  unwatch();
  if (!failure.ok()) return failure;
  out.block_hash = in_block;
  QSTOR_RETURN_IF_ERROR(ExplainInBlock(extrinsic, in_block, &out));
  return out;
}

Status TfchainClient::ExplainInBlock(const std::string& extrinsic, const std::string& block_hash,
                                     SubmitResult* out) {
  const std::string what = "tfchain: extrinsic " + out->extrinsic_hash + " in block " + block_hash;
  auto m = Meta();
  if (!m.ok()) return m.status();
  // Its index in the block, by hash.
  auto block = Rpc("chain_getBlock", nlohmann::json::array({block_hash}));
  if (!block.ok()) return Status(block.status().code(), block.status().message() + "; " + std::string(kOutcomeUnknown));
  auto index = FindExtrinsicInBlock(*block, extrinsic);
  if (!index.ok()) return Status(index.status().code() == Status::Code::kNotFound ? Status::Code::kProtocol
                                                                                  : index.status().code(),
                                 what + ": " + index.status().message());
  out->extrinsic_index = *index;

  auto key = tf::StorageKeyEncoded(**m, "System", "Events", {});
  if (!key.ok()) return key.status();
  auto bytes = GetStorage(*key, block_hash);
  if (!bytes.ok()) return Status(bytes.status().code(), bytes.status().message() + "; " + std::string(kOutcomeUnknown));
  if (!*bytes) return Status::Protocol(what + ": the block has no System.Events");
  auto events = tf::DecodeEvents(**m, **bytes);
  if (!events.ok()) return events.status().WithContext(what + ": System.Events");
  auto outcome = tf::OutcomeOf(**m, *events, *index);
  if (!outcome.ok()) return outcome.status().WithContext(what);
  for (const auto& e : *events)
    if (e.extrinsic_index == *index) out->events.push_back(e);
  if (!outcome->success) return DispatchFailure(outcome->error, what);
  auto ids = tf::CreatedContractIds(*events, *index);
  if (!ids.ok()) return ids.status().WithContext(what);
  out->contract_ids = std::move(*ids);
  for (const auto& e : out->events) {
    if (e.pallet != "TfgridModule" || e.name != "TwinStored" || e.fields.empty()) continue;
    auto t = tf::TwinFromValue(e.fields[0].value);
    if (!t.ok()) return t.status().WithContext(what + ": TfgridModule.TwinStored");
    out->twin_id = t->id;
  }
  return Status::OK();
}

// ---- T&C and twin -----------------------------------------------------------

Result<EnsureTwinResult> TfchainClient::EnsureTwin(const Ed25519Key& key, const std::optional<std::string>& relay,
                                                   const std::optional<std::string>& pk,
                                                   std::string_view tc_link, std::string_view tc_hash) {
  EnsureTwinResult res;
  const PublicKey& account = key.public_key();
  auto twin_id = TwinIdByAccountId(account);
  if (!twin_id.ok() && twin_id.status().code() != Status::Code::kNotFound) return twin_id.status();
  if (twin_id.ok()) {
    auto twin = Twin(*twin_id);
    if (!twin.ok()) return twin.status();
    res.twin = *twin;
    if (twin->relay == relay && twin->pk == pk) return res;
    auto call = UpdateTwin(relay, pk);
    if (!call.ok()) return call.status();
    auto sub = SignAndSubmit(key, {*call});
    if (!sub.ok()) return sub.status().WithContext("update_twin");
    res.updated = true;
    auto again = Twin(*twin_id);
    if (!again.ok()) return again.status();
    res.twin = *again;
    return res;
  }
  std::vector<EncodedCall> calls;
  auto accepted = AcceptedTermsAndConditions(account);
  if (!accepted.ok()) return accepted.status();
  if (!*accepted) {
    auto tc = UserAcceptTc(tc_link, tc_hash);
    if (!tc.ok()) return tc.status();
    calls.push_back(*tc);
    res.accepted_tc = true;
  }
  auto create = CreateTwin(relay, pk);
  if (!create.ok()) return create.status();
  calls.push_back(*create);
  auto sub = SignAndSubmit(key, calls);
  if (!sub.ok()) return sub.status().WithContext(calls.size() > 1 ? "user_accept_tc + create_twin" : "create_twin");
  res.created = true;
  uint32_t id = 0;
  if (sub->twin_id) {
    id = *sub->twin_id;
  } else {
    auto read = TwinIdByAccountId(account);
    if (!read.ok()) return read.status().WithContext("after create_twin");
    id = *read;
  }
  auto twin = Twin(id);
  if (!twin.ok()) return twin.status();
  res.twin = *twin;
  return res;
}

}  // namespace qstor::grid
