#include "grid/http_grid.h"

#include <fmt/format.h>

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
    : ep_(std::move(endpoint)), http_(timeout) {}

HttpGrid::~HttpGrid() = default;

void HttpGrid::SetIdentity(uint32_t twin_id, const Ed25519Key& key) {
  twin_id_ = twin_id;
  key_ = std::make_unique<Ed25519Key>(key);
}

std::string HttpGrid::Describe() const { return ep_.name + " (" + ep_.base_url + ")"; }

Status HttpGrid::NeedFullGrid(const char* what) const {
  if (ep_.discovery_only) {
    return Status::NotImplemented(std::string(what) + " on network '" + ep_.name +
                                  "': needs the TFChain/RMB client, not built (the grid proxy "
                                  "serves discovery only)");
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

Result<Twin> HttpGrid::GetTwin(uint32_t twin_id) {
  auto j = Call("GET", "/twins?twin_id=" + std::to_string(twin_id));
  if (!j.ok()) return j.status();
  auto list = DecodeList<Twin>(*j, &TwinFromJson, "twins");
  if (!list.ok()) return list.status();
  if (list->empty()) return Status::NotFound(fmt::format("grid {}: twin {} not found", ep_.name, twin_id));
  return list->front();
}

Result<Twin> HttpGrid::GetTwinByPublicKey(const std::string& public_key_hex) {
  auto pk = ParsePublicKeyHex(public_key_hex);
  if (!pk.ok()) return pk.status();
  // account_id (SS58) is the filter the grid proxy knows.
  auto j = Call("GET", "/twins?account_id=" + Ss58Address(*pk));
  if (!j.ok()) return j.status();
  auto list = DecodeList<Twin>(*j, &TwinFromJson, "twins");
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return Status::NotFound("grid " + ep_.name + ": no twin for account " + Ss58Address(*pk));
  }
  return list->front();
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
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("pricing"));
  auto j = Call("GET", "/chain/pricing");
  if (!j.ok()) return j.status();
  auto p = PricingFromJson(*j);
  if (!p.ok()) return Status::Protocol(p.status().message());
  return p;
}

Result<uint64_t> HttpGrid::GetNonce(const std::string& pk) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("nonce"));
  auto j = Call("GET", "/chain/accounts/" + Enc(pk));
  if (!j.ok()) return j.status();
  if (!j->contains("nonce") || !(*j)["nonce"].is_number_unsigned()) {
    return Status::Protocol("grid: account answer without nonce");
  }
  return (*j)["nonce"].get<uint64_t>();
}

Result<Balance> HttpGrid::GetBalance(const std::string& pk) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("balance"));
  auto j = Call("GET", "/chain/accounts/" + Enc(pk));
  if (!j.ok()) return j.status();
  if (!j->contains("free") || !(*j)["free"].is_number_unsigned()) {
    return Status::Protocol("grid: account answer without free balance");
  }
  Balance b;
  b.free = (*j)["free"].get<uint64_t>();
  if (j->contains("reserved") && (*j)["reserved"].is_number_unsigned()) {
    b.reserved = (*j)["reserved"].get<uint64_t>();
  }
  return b;
}

Result<ExtrinsicResult> HttpGrid::Submit(const Extrinsic& e) {
  QSTOR_RETURN_IF_ERROR(NeedFullGrid("extrinsics"));
  auto j = Call("POST", "/chain/extrinsics", e.ToJson().dump());
  if (!j.ok()) return j.status();
  auto r = ExtrinsicResult::FromJson(*j);
  if (!r.ok()) return Status::Protocol(r.status().message());
  return r;
}

Result<Twin> HttpGrid::RegisterTwin(const Ed25519Key& key, const std::string& relay) {
  auto twin = GetTwinByPublicKey(key.PublicKeyHex());
  if (!twin.ok()) {
    if (twin.status().code() != Status::Code::kNotFound) return twin.status();
    auto nonce = GetNonce(key.PublicKeyHex());
    if (!nonce.ok()) return nonce.status();
    auto res = Submit(MakeExtrinsic(key, *nonce, CreateTwinCall(relay)));
    if (!res.ok()) return res.status();
    if (!res->twin_id) return Status::Protocol("grid: create_twin answered without twin_id");
    twin = GetTwin(*res->twin_id);
    if (!twin.ok()) return twin.status();
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
