#include "grid/http_grid.h"

#include <limits>
#include <thread>

#include <fmt/format.h>

#include "grid/terms.h"

namespace qstor::grid {

using nlohmann::json;

namespace {

std::string Enc(const std::string& s) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += char(c);
    } else {
      out += '%';
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}

template <typename T>
std::string JoinIds(const std::vector<T>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string JoinStr(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

void AddPaging(std::string& q, const PageRequest& p) {
  q += fmt::format("page={}&size={}", p.page, p.size);
  if (p.ret_count) q += "&ret_count=true";
  if (p.randomize) q += "&randomize=true";
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename T>
Result<std::vector<T>> DecodeList(const json& j, Result<T> (*dec)(const json&), const char* what) {
  if (!j.is_array()) return Status::Protocol(std::string(what) + ": expected JSON array");
  std::vector<T> out;
  for (const auto& e : j) {
    auto v = dec(e);
    if (!v.ok()) return Status::Protocol(v.status().message());
    out.push_back(std::move(v).value());
  }
  return out;
}

}  // namespace

HttpGrid::HttpGrid(NetworkEndpoint endpoint, std::chrono::milliseconds timeout)
    : ep_(std::move(endpoint)), timeout_(timeout), http_(timeout) {}

HttpGrid::~HttpGrid() = default;

void HttpGrid::SetIdentity(uint32_t twin_id, const Ed25519Key& key) {
  twin_id_ = twin_id;
  key_ = std::make_unique<Ed25519Key>(key);
}

std::string HttpGrid::Describe() const { return ep_.name + " (" + ep_.base_url + ")"; }

Status HttpGrid::NeedFullGrid(const char* what) const {
  if (ep_.discovery_only) {
    return Status::NotImplemented(std::string(what) + " on network '" + ep_.name +
                                  "': node calls need the RMB client, not built yet");
  }
  return Status::OK();
}

Result<json> HttpGrid::Call(const std::string& method, const std::string& path_and_query,
                            const std::string& body, std::map<std::string, std::string>* headers_out,
                            bool sign) {
  std::map<std::string, std::string> headers;
  if (sign) {
    if (!twin_id_ || !key_) {
      return Status::FailedPrecondition("grid: node call " + path_and_query +
                                        " needs an identity (HttpGrid::SetIdentity)");
    }
    std::string path = path_and_query.substr(0, path_and_query.find('?'));
    std::string ts = std::to_string(NowUnix());
    headers["X-Qstor-Twin"] = std::to_string(*twin_id_);
    headers["X-Qstor-Timestamp"] = ts;
    headers["X-Qstor-Signature"] = key_->SignHex(method + " " + path + " " + ts);
  }
  ++requests_;
  auto res = http_.Send(method, ep_.base_url + path_and_query, body, headers);
  if (!res.ok()) return res.status().WithContext("grid " + ep_.name);
  std::string where = fmt::format("grid {}: {} {}", ep_.name, method, path_and_query);
  json j = json::parse(res->body, nullptr, false);
  if (res->status < 200 || res->status >= 300) {
    std::string msg = j.is_object() && j.contains("error") && j["error"].is_string()
                          ? j["error"].get<std::string>()
                          : res->body.substr(0, 200);
    std::string m = where + ": " + std::to_string(res->status) + ": " + msg;
    switch (res->status) {
      case 400:
        return Status::InvalidArgument(m);
      case 401:
      case 403:
        return Status::PermissionDenied(m);
      case 402:
        return Status::ResourceExhausted(m);
      case 404:
        return Status::NotFound(m);
      case 409:
        if (msg.find("already") != std::string::npos) return Status::AlreadyExists(m);
        return Status::FailedPrecondition(m);
      case 503:
        return Status::Unavailable(m);
      case 504:
        return Status::Timeout(m);
      default:
        return Status::Internal(m);
    }
  }
  if (j.is_discarded()) return Status::Protocol(where + ": answer is not JSON");
  if (headers_out) *headers_out = res->headers;
  return j;
}

Result<Page<Node>> HttpGrid::FindNodes(const NodeFilter& f, const PageRequest& page) {
  std::string q = "/nodes?";
  AddPaging(q, page);
  if (f.status) q += "&status=" + Enc(*f.status);
  if (f.healthy) q += std::string("&healthy=") + (*f.healthy ? "true" : "false");
  if (f.free_hru) q += "&free_hru=" + std::to_string(*f.free_hru);
  if (f.free_sru) q += "&free_sru=" + std::to_string(*f.free_sru);
  if (!f.countries.empty()) q += "&country=" + Enc(JoinStr(f.countries));
  if (!f.cities.empty()) q += "&city=" + Enc(JoinStr(f.cities));
  if (!f.regions.empty()) q += "&region=" + Enc(JoinStr(f.regions));
  if (!f.farm_ids.empty()) q += "&farm_ids=" + JoinIds(f.farm_ids);
  if (!f.node_ids.empty()) q += "&node_ids=" + JoinIds(f.node_ids);
  if (f.twin_id) q += "&twin_id=" + std::to_string(*f.twin_id);
  std::map<std::string, std::string> h;
  auto j = Call("GET", q, "", &h);
  if (!j.ok()) return j.status();
  auto nodes = DecodeList<Node>(*j, &NodeFromJson, "nodes");
  if (!nodes.ok()) return nodes.status();
  Page<Node> p;
  p.items = std::move(nodes).value();
  if (page.ret_count && h.count("count")) p.count = std::strtoull(h["count"].c_str(), nullptr, 10);
  return p;
}

Result<Node> HttpGrid::GetNode(uint32_t node_id) {
  auto j = Call("GET", "/nodes/" + std::to_string(node_id));
  if (!j.ok()) return j.status();
  auto n = NodeFromJson(*j);
  if (!n.ok()) return Status::Protocol(n.status().message());
  return n;
}

Result<std::vector<Farm>> HttpGrid::ListFarms(const PageRequest& page) {
  std::string q = "/farms?";
  AddPaging(q, page);
  auto j = Call("GET", q);
  if (!j.ok()) return j.status();
  return DecodeList<Farm>(*j, &FarmFromJson, "farms");
}

namespace {
Twin TwinOf(const TfchainTwin& t) {
  Twin out;
  out.twin_id = t.id;
  out.account_id = Ss58Address(t.account);
  out.relay = t.relay.value_or("");
  out.public_key = HexEncode(std::string_view(reinterpret_cast<const char*>(t.account.data()), 32));
  return out;
}
}  // namespace

Result<Twin> HttpGrid::GetTwin(uint32_t twin_id) {
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto t = (*chain)->Twin(twin_id);
  if (!t.ok()) return t.status().WithContext("grid " + ep_.name);
  return TwinOf(*t);
}

Result<Twin> HttpGrid::GetTwinByPublicKey(const std::string& public_key_hex) {
  auto pk = ParsePublicKeyHex(public_key_hex);
  if (!pk.ok()) return pk.status();
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto id = (*chain)->TwinIdByAccountId(*pk);
  if (!id.ok()) {
    if (id.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("grid " + ep_.name + ": no twin for account " + Ss58Address(*pk));
    }
    return id.status().WithContext("grid " + ep_.name);
  }
  return GetTwin(*id);
}

Result<Page<Contract>> HttpGrid::ListContracts(const ContractFilter& f, const PageRequest& page) {
  std::string q = "/contracts?";
  AddPaging(q, page);
  if (f.twin_id) q += "&twin_id=" + std::to_string(*f.twin_id);
  if (f.node_id) q += "&node_id=" + std::to_string(*f.node_id);
  if (!f.states.empty()) q += "&state=" + Enc(JoinStr(f.states));
  if (f.type) q += "&type=" + Enc(*f.type);
  std::map<std::string, std::string> h;
  auto j = Call("GET", q, "", &h);
  if (!j.ok()) return j.status();
  auto list = DecodeList<Contract>(*j, &ContractFromJson, "contracts");
  if (!list.ok()) return list.status();
  Page<Contract> p;
  p.items = std::move(list).value();
  if (page.ret_count && h.count("count")) p.count = std::strtoull(h["count"].c_str(), nullptr, 10);
  return p;
}

Result<Contract> HttpGrid::GetContract(uint64_t contract_id) {
  auto j = Call("GET", "/contracts/" + std::to_string(contract_id));
  if (!j.ok()) return j.status();
  auto c = ContractFromJson(*j);
  if (!c.ok()) return Status::Protocol(c.status().message());
  return c;
}

Result<std::vector<Bill>> HttpGrid::GetBills(uint64_t contract_id) {
  auto j = Call("GET", "/contracts/" + std::to_string(contract_id) + "/bills");
  if (!j.ok()) return j.status();
  return DecodeList<Bill>(*j, &BillFromJson, "bills");
}

Result<Pricing> HttpGrid::GetPricing() {
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto p = (*chain)->Pricing();
  if (!p.ok()) return p.status().WithContext("grid " + ep_.name + ": pricing");
  // Where top-ups go: the devnet's bridge answers at /bridge/address; the
  // real networks' Stellar bridge addresses are not recorded here.
  if (!ep_.discovery_only) {
    auto b = Call("GET", "/bridge/address");
    if (!b.ok()) return b.status().WithContext("the bridge address");
    if (!b->is_object() || !b->contains("bridge_address") || !(*b)["bridge_address"].is_string()) {
      return Status::Protocol("grid " + ep_.name + ": /bridge/address: no bridge_address");
    }
    p->bridge_address = (*b)["bridge_address"].get<std::string>();
  }
  return p;
}

Result<TfchainClient*> HttpGrid::Chain() {
  if (chain_) return chain_.get();
  if (ep_.chain_url.empty()) {
    return Status::NotImplemented("network '" + ep_.name + "' has no TFChain URL");
  }
  TfchainClientOptions o;
  o.url = ep_.chain_url;
  o.connect_timeout = std::min(timeout_, std::chrono::milliseconds(10000));
  o.call_timeout = timeout_;
  auto c = TfchainClient::Create(o);
  if (!c.ok()) return c.status().WithContext("grid " + ep_.name);
  chain_ = std::move(*c);
  return chain_.get();
}

Result<uint64_t> HttpGrid::GetNonce(const std::string& pk) {
  auto key = ParsePublicKeyHex(pk);
  if (!key.ok()) return key.status();
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto n = (*chain)->AccountNextIndex(*key);
  if (!n.ok()) return n.status().WithContext("grid " + ep_.name + ": nonce");
  return uint64_t{*n};
}

Result<Balance> HttpGrid::GetBalance(const std::string& pk) {
  auto key = ParsePublicKeyHex(pk);
  if (!key.ok()) return key.status();
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto a = (*chain)->Account(*key);
  if (!a.ok()) return a.status().WithContext("grid " + ep_.name + ": balance");
  constexpr tfchain::u128 kMax = std::numeric_limits<uint64_t>::max();
  if (a->free > kMax || a->reserved > kMax) {
    return Status::Protocol("grid " + ep_.name + ": the balance of " + Ss58Address(*key) +
                            " does not fit 64 bits of 1e-7 TFT");
  }
  Balance b;
  b.free = static_cast<uint64_t>(a->free);
  b.reserved = static_cast<uint64_t>(a->reserved);
  return b;
}

namespace {

// JSON argument accessors with messages that name the call and argument.
Result<uint64_t> ArgU64(const grid::Call& c, const char* name, uint64_t max) {
  auto it = c.args.find(name);
  if (it == c.args.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return Status::InvalidArgument(fmt::format("call {}: argument {}: expected an integer <= {}",
                                               c.name, name, max));
  }
  return it->get<uint64_t>();
}
Result<std::string> ArgStr(const grid::Call& c, const char* name) {
  auto it = c.args.find(name);
  if (it == c.args.end() || !it->is_string()) {
    return Status::InvalidArgument(fmt::format("call {}: argument {}: expected a string", c.name, name));
  }
  return it->get<std::string>();
}

// "SmartContractModule.create_node_contract node 7": one line per call.
std::string DescribeCall(const grid::Call& c, const EncodedCall& e) {
  std::string line = e.pallet + "." + e.name;
  auto u = [&](const char* k) -> std::string {
    auto it = c.args.find(k);
    return it != c.args.end() && it->is_number_unsigned() ? std::to_string(it->get<uint64_t>()) : "?";
  };
  if (c.name == "create_node_contract") return line + " node " + u("node_id");
  if (c.name == "update_node_contract" || c.name == "cancel_contract") {
    return line + " contract " + u("contract_id");
  }
  if (c.name == "transfer") {
    auto it = c.args.find("amount");
    std::string amount = it != c.args.end() && it->is_number_unsigned()
                             ? FormatTft(it->get<uint64_t>())
                             : "?";
    return line + " " + amount + " to " + c.args.value("dest", std::string("?"));
  }
  return line;
}

}  // namespace

Result<EncodedCall> HttpGrid::Encode(const grid::Call& c) {
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  TfchainClient& t = **chain;
  if (c.name == "create_twin") {
    std::optional<std::string> relay;
    if (c.args.contains("relay")) {
      auto r = ArgStr(c, "relay");
      if (!r.ok()) return r.status();
      if (!r->empty()) relay = *r;
    }
    return t.CreateTwin(relay, std::nullopt);
  }
  if (c.name == "transfer") {
    auto dest = ArgStr(c, "dest");
    if (!dest.ok()) return dest.status();
    auto pk = ParsePublicKeyHex(*dest);
    if (!pk.ok()) pk = Ss58Decode(*dest);
    if (!pk.ok()) {
      return Status::InvalidArgument("call transfer: dest \"" + *dest +
                                     "\": expected an SS58 address or a hex public key");
    }
    auto amount = ArgU64(c, "amount", std::numeric_limits<uint64_t>::max());
    if (!amount.ok()) return amount.status();
    return t.TransferKeepAlive(*pk, *amount);
  }
  if (c.name == "create_node_contract") {
    auto node = ArgU64(c, "node_id", UINT32_MAX);
    auto hash = ArgStr(c, "deployment_hash");
    auto data = ArgStr(c, "deployment_data");
    uint64_t ips = 0;
    if (c.args.contains("public_ips")) {
      auto i = ArgU64(c, "public_ips", UINT32_MAX);
      if (!i.ok()) return i.status();
      ips = *i;
    }
    if (!node.ok()) return node.status();
    if (!hash.ok()) return hash.status();
    if (!data.ok()) return data.status();
    return t.CreateNodeContract(static_cast<uint32_t>(*node), *hash, *data, static_cast<uint32_t>(ips));
  }
  if (c.name == "update_node_contract") {
    auto id = ArgU64(c, "contract_id", std::numeric_limits<uint64_t>::max());
    auto hash = ArgStr(c, "deployment_hash");
    auto data = ArgStr(c, "deployment_data");
    if (!id.ok()) return id.status();
    if (!hash.ok()) return hash.status();
    if (!data.ok()) return data.status();
    return t.UpdateNodeContract(*id, *hash, *data);
  }
  if (c.name == "cancel_contract") {
    auto id = ArgU64(c, "contract_id", std::numeric_limits<uint64_t>::max());
    if (!id.ok()) return id.status();
    return t.CancelContract(*id);
  }
  return Status::InvalidArgument("call \"" + c.name + "\": not a chain call qstor makes");
}

Result<std::vector<size_t>> HttpGrid::CallSizes(const std::vector<grid::Call>& calls) {
  std::vector<size_t> out;
  out.reserve(calls.size());
  for (const auto& c : calls) {
    auto e = Encode(c);
    if (!e.ok()) return e.status();
    out.push_back(e->bytes.size());
  }
  return out;
}

Result<PreparedCalls> HttpGrid::Prepare(const std::string& signer_hex,
                                        const std::vector<grid::Call>& calls) {
  if (calls.empty()) return Status::InvalidArgument("prepare: no calls");
  auto signer = ParsePublicKeyHex(signer_hex);
  if (!signer.ok()) return signer.status();
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  PreparedCalls out;
  std::vector<EncodedCall> encoded;
  for (const auto& c : calls) {
    auto e = Encode(c);
    if (!e.ok()) return e.status();
    out.calls.push_back(DescribeCall(c, *e));
    encoded.push_back(std::move(*e));
  }
  auto p = (*chain)->Prepare(*signer, encoded);
  if (!p.ok()) return p.status().WithContext("grid " + ep_.name);
  out.signer_hex = signer_hex;
  out.nonce = p->extra.nonce;
  out.payload = p->payload;
  out.to_sign = p->to_sign;
  out.extrinsic = std::make_shared<const PreparedExtrinsic>(std::move(*p));
  return out;
}

Result<ExtrinsicResult> HttpGrid::Submit(const PreparedCalls& prepared,
                                         const std::string& signature_hex) {
  if (!prepared.extrinsic) return Status::InvalidArgument("submit: nothing prepared");
  auto sig = HexDecode(signature_hex);
  if (!sig.ok() || sig->size() != 64) {
    return Status::InvalidArgument("submit: the signature is not 64 bytes of hex");
  }
  auto chain = Chain();
  if (!chain.ok()) return chain.status();
  auto x = (*chain)->Assemble(*prepared.extrinsic, *sig);
  if (!x.ok()) return x.status();
  auto r = (*chain)->Submit(*x);
  if (!r.ok()) return r.status().WithContext("grid " + ep_.name);
  ExtrinsicResult out;
  out.hash = r->extrinsic_hash;
  out.block_hash = r->block_hash;
  out.nonce = prepared.nonce;
  out.created_contracts = r->contract_ids;
  out.twin_id = r->twin_id;
  return out;
}

Status HttpGrid::Activate(const PublicKey& pk) {
  const std::string address = Ss58Address(pk);
  if (ep_.activation_url.empty()) {
    return Status::FailedPrecondition("account " + address + " on " + ep_.name +
                                      " holds no TFT to pay the fees of its twin's registration; "
                                      "send it some TFT first");
  }
  ++requests_;
  auto res = http_.Send("POST", ep_.activation_url,
                        json{{"substrateAccountID", address}}.dump(),
                        {{"Content-Type", "application/json"}});
  if (!res.ok()) return res.status().WithContext("the activation service " + ep_.activation_url);
  // 409: activated before (the Go client accepts it too).
  if (res->status != 200 && res->status != 201 && res->status != 409) {
    return Status::Unavailable(fmt::format(
        "the activation service {} answered {} for account {}: {}; send the account some TFT "
        "and try again",
        ep_.activation_url, res->status, address, res->body.substr(0, 200)));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto b = GetBalance(HexEncode(std::string_view(reinterpret_cast<const char*>(pk.data()), 32)));
    if (b.ok() && b->free > 0) return Status::OK();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout("the activation service " + ep_.activation_url + " accepted " + address +
                             " but no TFT arrived within 60 s; try again later");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

Result<Twin> HttpGrid::RegisterTwin(const Ed25519Key& key, const std::string& relay) {
  auto twin = GetTwinByPublicKey(key.PublicKeyHex());
  if (!twin.ok()) {
    if (twin.status().code() != Status::Code::kNotFound) return twin.status();
    auto chain = Chain();
    if (!chain.ok()) return chain.status();
    auto balance = GetBalance(key.PublicKeyHex());
    if (!balance.ok()) return balance.status();
    if (balance->free == 0) QSTOR_RETURN_IF_ERROR(Activate(key.public_key()));
    auto tc = FetchTermsAndConditions(ep_.name, ep_.base_url);
    if (!tc.ok()) return tc.status().WithContext("the terms and conditions the twin accepts");
    auto res = (*chain)->EnsureTwin(key, relay.empty() ? std::nullopt : std::optional<std::string>(relay),
                                    std::nullopt, tc->link, tc->md5_hex);
    if (!res.ok()) return res.status().WithContext("grid " + ep_.name + ": registering the twin");
    twin = TwinOf(res->twin);
  }
  // A client that had no identity (its twin did not exist yet) signs its
  // node calls as the twin it just registered.
  if (!twin_id_) SetIdentity(twin->twin_id, key);
  return twin;
}

Status HttpGrid::Deploy(uint32_t node_id, const Deployment& d) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("deploy"));
  auto j = Call("POST", fmt::format("/nodes/{}/deployments", node_id), ToJson(d).dump());
  return j.ok() ? Status::OK() : j.status();
}

Status HttpGrid::UpdateDeployment(uint32_t node_id, const Deployment& d) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("deployment update"));
  auto j = Call("PUT", fmt::format("/nodes/{}/deployments/{}", node_id, d.contract_id),
                ToJson(d).dump());
  return j.ok() ? Status::OK() : j.status();
}

Result<Deployment> HttpGrid::GetDeployment(uint32_t node_id, uint64_t contract_id) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("get deployment"));
  auto j = Call("GET", fmt::format("/nodes/{}/deployments/{}", node_id, contract_id), "", nullptr,
                true);
  if (!j.ok()) return j.status();
  auto d = DeploymentFromJson(*j);
  if (!d.ok()) return Status::Protocol(d.status().message());
  return d;
}

Status HttpGrid::DeleteDeployment(uint32_t node_id, uint64_t contract_id) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("delete deployment"));
  auto j = Call("DELETE", fmt::format("/nodes/{}/deployments/{}", node_id, contract_id), "",
                nullptr, true);
  return j.ok() ? Status::OK() : j.status();
}

}  // namespace qstor::grid
