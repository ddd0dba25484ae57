#include "grid/types.h"

#include <cmath>
#include <limits>
#include <regex>
#include <set>

#include <fmt/format.h>

namespace qstor::grid {

using nlohmann::json;

namespace {

constexpr uint64_t kGiB = 1ull << 30;

// Field reader: records the first error, never throws.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) Fail("", "expected object");
  }
  bool ok() const { return err_.ok(); }
  const Status& status() const { return err_; }
  std::string Path(const char* k) const { return path_ + "." + k; }

  const json* Get(const char* k, bool required) {
    if (!ok()) return nullptr;
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) {
      if (required) Fail(k, "missing");
      return nullptr;
    }
    return &*it;
  }
  template <typename T>
  void Uint(const char* k, T& out, bool required = true) {
    const json* v = Get(k, required);
    if (v == nullptr) return;
    uint64_t x = 0;
    if (v->is_number_unsigned()) {
      x = v->get<uint64_t>();
    } else if (v->is_number_integer() && v->get<int64_t>() >= 0) {
      x = uint64_t(v->get<int64_t>());
    } else {
      return Fail(k, "expected unsigned integer");
    }
    if (x > std::numeric_limits<T>::max()) return Fail(k, "out of range");
    out = T(x);
  }
  void Int(const char* k, int64_t& out, bool required = true) {
    const json* v = Get(k, required);
    if (v == nullptr) return;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) {
        return Fail(k, "out of range");
      }
      out = v->get<int64_t>();
    } else {
      Fail(k, "expected integer");
    }
  }
  void Dbl(const char* k, double& out, bool required = true) {
    const json* v = Get(k, required);
    if (v == nullptr) return;
    if (!v->is_number()) return Fail(k, "expected number");
    out = v->get<double>();
  }
  void Str(const char* k, std::string& out, bool required = true) {
    const json* v = Get(k, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail(k, "expected string");
    out = v->get<std::string>();
  }
  void Bool(const char* k, bool& out, bool required = true) {
    const json* v = Get(k, required);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail(k, "expected boolean");
    out = v->get<bool>();
  }
  void Fail(const char* k, const char* what) {
    if (!ok()) return;
    err_ = Status::InvalidArgument(fmt::format("{}{}{}: {}", path_, *k ? "." : "", k, what));
  }
  void FailStatus(Status s) {
    if (ok()) err_ = std::move(s);
  }

 private:
  const json& j_;
  std::string path_;
  Status err_;
};

Resources ResourcesFrom(Reader& parent, const json* v, const std::string& path) {
  Resources r;
  if (v == nullptr) return r;
  Reader rd(*v, path);
  rd.Uint("cru", r.cru, false);
  rd.Uint("sru", r.sru, false);
  rd.Uint("hru", r.hru, false);
  rd.Uint("mru", r.mru, false);
  if (!rd.ok()) parent.FailStatus(rd.status());
  return r;
}

}  // namespace

uint64_t Node::FreeSru() const {
  uint64_t reserved = used.sru + 20 * kGiB;
  return total.sru > reserved ? total.sru - reserved : 0;
}

uint64_t Deployment::TotalHru() const {
  uint64_t sum = 0;
  for (const auto& w : workloads) {
    if (w.type == "zdb") sum += w.data.size;
  }
  return sum;
}

Status ValidateDeployment(const Deployment& d) {
  static const std::regex kName("^[a-zA-Z0-9_]+$");
  std::set<std::string> names;
  if (d.workloads.empty()) return Status::InvalidArgument("deployment: no workloads");
  for (size_t i = 0; i < d.workloads.size(); ++i) {
    const auto& w = d.workloads[i];
    std::string where = fmt::format("deployment.workloads[{}]", i);
    if (w.name.empty() || w.name.size() > 36 || !std::regex_match(w.name, kName)) {
      return Status::InvalidArgument(where + ".name: must match ^[a-zA-Z0-9_]+$, <= 36 chars");
    }
    if (!names.insert(w.name).second) {
      return Status::InvalidArgument(where + ".name: duplicate workload name '" + w.name + "'");
    }
    if (w.type != "zdb") {
      return Status::InvalidArgument(where + ".type: only \"zdb\" is supported, got '" + w.type +
                                     "'");
    }
    if (w.data.mode != "user" && w.data.mode != "seq") {
      return Status::InvalidArgument(where + ".data.mode: must be \"user\" or \"seq\"");
    }
    if (w.data.size == 0) return Status::InvalidArgument(where + ".data.size: must be > 0");
    if (w.data.password.find_first_of(" \r\n\t") != std::string::npos) {
      return Status::InvalidArgument(where + ".data.password: must not contain whitespace");
    }
  }
  if (d.signature_requirement.requests.empty()) {
    return Status::InvalidArgument("deployment.signature_requirement.requests: empty");
  }
  return Status::OK();
}

double StorageUnits(uint64_t hru_bytes, uint64_t sru_bytes) {
  return (double(hru_bytes) / 1200.0 + double(sru_bytes) / 200.0) / double(kGiB);
}

uint64_t CostUnits(const Pricing& p, uint64_t hru_bytes, uint64_t sru_bytes, uint64_t seconds) {
  if (p.tft_usd <= 0) return 0;
  long double su = (static_cast<long double>(hru_bytes) / 1200.0L +
                    static_cast<long double>(sru_bytes) / 200.0L) /
                   static_cast<long double>(kGiB);
  long double usd = su * p.su_usd_per_hour * static_cast<long double>(seconds) / 3600.0L;
  long double units = usd / p.tft_usd * static_cast<long double>(kUnitsPerTft);
  return static_cast<uint64_t>(std::ceil(units - 1e-9L));
}

std::string FormatTft(uint64_t units) {
  return fmt::format("{}.{:07d} TFT", units / kUnitsPerTft, units % kUnitsPerTft);
}

Result<json> ParseJson(std::string_view text, const std::string& what) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(what + ": invalid JSON");
  return j;
}

// --- encoders ---------------------------------------------------------------

json ToJson(const Resources& r) {
  return json{{"cru", r.cru}, {"sru", r.sru}, {"hru", r.hru}, {"mru", r.mru}};
}

json ToJson(const Node& n) {
  return json{
      {"id", fmt::format("0-{}", n.node_id)},
      {"nodeId", n.node_id},
      {"farmId", n.farm_id},
      {"farmName", n.farm_name},
      {"twinId", n.twin_id},
      {"country", n.location.country},
      {"city", n.location.city},
      {"region", n.location.region},
      {"gridVersion", 3},
      {"uptime", n.uptime},
      {"created", n.created},
      {"updatedAt", n.updated_at},
      {"farmingPolicyId", 1},
      {"total_resources", ToJson(n.total)},
      {"used_resources", ToJson(n.used)},
      {"location",
       {{"country", n.location.country},
        {"city", n.location.city},
        {"region", n.location.region},
        {"longitude", n.location.longitude},
        {"latitude", n.location.latitude}}},
      {"publicConfig", {{"domain", ""}, {"gw4", ""}, {"gw6", ""}, {"ipv4", ""}, {"ipv6", ""}}},
      {"status", n.status},
      {"healthy", n.healthy},
      {"certificationType", n.certification},
      {"dedicated", n.dedicated},
      {"rented", n.rented},
      {"rentable", n.rentable},
      {"rentContractId", 0},
      {"rentedByTwinId", 0},
      {"price_usd", n.price_usd},
      {"features", json::array({"zdb"})},
      {"num_gpu", 0},
      {"extraFee", 0},
  };
}

json ToJson(const Farm& f) {
  return json{{"farmId", f.farm_id},
              {"name", f.name},
              {"twinId", f.twin_id},
              {"pricingPolicyId", f.pricing_policy_id},
              {"certificationType", f.certification},
              {"stellarAddress", f.stellar_address},
              {"dedicated", f.dedicated},
              {"publicIps", json::array()}};
}

json ToJson(const Twin& t) {
  return json{{"twinId", t.twin_id},
              {"accountId", t.account_id},
              {"relay", t.relay},
              {"publicKey", t.public_key}};
}

json ToJson(const Contract& c) {
  return json{{"contract_id", c.contract_id},
              {"twin_id", c.twin_id},
              {"state", c.state},
              {"created_at", c.created_at},
              {"type", c.type},
              {"details",
               {{"nodeId", c.node_id},
                {"deployment_data", c.deployment_data},
                {"deployment_hash", c.deployment_hash},
                {"number_of_public_ips", c.number_of_public_ips},
                {"farm_name", c.farm_name},
                {"farm_id", c.farm_id}}}};
}

json ToJson(const Bill& b) {
  return json{{"amountBilled", b.amount_billed},
              {"discountReceived", b.discount_received},
              {"timestamp", b.timestamp},
              {"contract_id", b.contract_id}};
}

json ToJson(const Workload& w) {
  json result{{"created", w.result.created},
              {"state", w.result.state},
              {"message", w.result.message},
              {"data", nullptr}};
  if (w.result.zdb) {
    result["data"] = {{"Namespace", w.result.zdb->ns},
                      {"IPs", w.result.zdb->ips},
                      {"Port", w.result.zdb->port}};
  }
  return json{{"version", w.version},
              {"name", w.name},
              {"type", w.type},
              {"metadata", w.metadata},
              {"description", w.description},
              {"data",
               {{"size", w.data.size},
                {"mode", w.data.mode},
                {"password", w.data.password},
                {"public", w.data.is_public}}},
              {"result", result}};
}

json ToJson(const Deployment& d) {
  json reqs = json::array();
  for (const auto& r : d.signature_requirement.requests) {
    reqs.push_back({{"twin_id", r.twin_id}, {"required", r.required}, {"weight", r.weight}});
  }
  json sigs = json::array();
  for (const auto& s : d.signature_requirement.signatures) {
    sigs.push_back(
        {{"twin_id", s.twin_id}, {"signature", s.signature}, {"signature_type", s.signature_type}});
  }
  json wls = json::array();
  for (const auto& w : d.workloads) wls.push_back(ToJson(w));
  return json{{"version", d.version},
              {"twin_id", d.twin_id},
              {"contract_id", d.contract_id},
              {"metadata", d.metadata},
              {"description", d.description},
              {"expiration", d.expiration},
              {"signature_requirement",
               {{"requests", reqs},
                {"weight_required", d.signature_requirement.weight_required},
                {"signatures", sigs},
                {"signature_style", d.signature_requirement.signature_style}}},
              {"workloads", wls}};
}

json ToJson(const Pricing& p) {
  return json{{"su_usd_per_hour", p.su_usd_per_hour},
              {"tft_usd", p.tft_usd},
              {"bridge_address", p.bridge_address}};
}

// --- decoders ---------------------------------------------------------------

Result<Node> NodeFromJson(const json& j) {
  Reader r(j, "node");
  Node n;
  r.Uint("nodeId", n.node_id);
  r.Uint("farmId", n.farm_id, false);
  r.Str("farmName", n.farm_name, false);
  r.Uint("twinId", n.twin_id, false);
  r.Str("country", n.location.country, false);
  r.Str("city", n.location.city, false);
  r.Str("region", n.location.region, false);
  r.Int("uptime", n.uptime, false);
  r.Int("created", n.created, false);
  r.Int("updatedAt", n.updated_at, false);
  r.Str("status", n.status, false);
  r.Bool("healthy", n.healthy, false);
  r.Str("certificationType", n.certification, false);
  r.Bool("dedicated", n.dedicated, false);
  r.Bool("rented", n.rented, false);
  r.Bool("rentable", n.rentable, false);
  r.Dbl("price_usd", n.price_usd, false);
  n.total = ResourcesFrom(r, r.Get("total_resources", false), "node.total_resources");
  n.used = ResourcesFrom(r, r.Get("used_resources", false), "node.used_resources");
  if (const json* loc = r.Get("location", false)) {
    Reader lr(*loc, "node.location");
    lr.Str("country", n.location.country, false);
    lr.Str("city", n.location.city, false);
    lr.Str("region", n.location.region, false);
    lr.Dbl("latitude", n.location.latitude, false);
    lr.Dbl("longitude", n.location.longitude, false);
    if (!lr.ok()) r.FailStatus(lr.status());
  }
  if (!r.ok()) return r.status();
  return n;
}

Result<Farm> FarmFromJson(const json& j) {
  Reader r(j, "farm");
  Farm f;
  r.Uint("farmId", f.farm_id);
  r.Str("name", f.name, false);
  r.Uint("twinId", f.twin_id, false);
  r.Uint("pricingPolicyId", f.pricing_policy_id, false);
  r.Str("certificationType", f.certification, false);
  r.Str("stellarAddress", f.stellar_address, false);
  r.Bool("dedicated", f.dedicated, false);
  if (!r.ok()) return r.status();
  return f;
}

Result<Twin> TwinFromJson(const json& j) {
  Reader r(j, "twin");
  Twin t;
  r.Uint("twinId", t.twin_id);
  r.Str("accountId", t.account_id, false);
  r.Str("relay", t.relay, false);
  r.Str("publicKey", t.public_key, false);
  if (!r.ok()) return r.status();
  return t;
}

Result<Contract> ContractFromJson(const json& j) {
  Reader r(j, "contract");
  Contract c;
  r.Uint("contract_id", c.contract_id);
  r.Uint("twin_id", c.twin_id);
  r.Str("state", c.state);
  r.Int("created_at", c.created_at, false);
  r.Str("type", c.type, false);
  if (const json* d = r.Get("details", false)) {
    Reader dr(*d, "contract.details");
    dr.Uint("nodeId", c.node_id, false);
    dr.Str("deployment_data", c.deployment_data, false);
    dr.Str("deployment_hash", c.deployment_hash, false);
    dr.Uint("number_of_public_ips", c.number_of_public_ips, false);
    dr.Str("farm_name", c.farm_name, false);
    dr.Uint("farm_id", c.farm_id, false);
    if (!dr.ok()) r.FailStatus(dr.status());
  }
  if (!r.ok()) return r.status();
  return c;
}

Result<Bill> BillFromJson(const json& j) {
  Reader r(j, "bill");
  Bill b;
  r.Uint("amountBilled", b.amount_billed);
  r.Uint("discountReceived", b.discount_received, false);
  r.Int("timestamp", b.timestamp, false);
  r.Uint("contract_id", b.contract_id, false);
  if (!r.ok()) return r.status();
  return b;
}

Result<Deployment> DeploymentFromJson(const json& j) {
  Reader r(j, "deployment");
  Deployment d;
  r.Uint("version", d.version);
  r.Uint("twin_id", d.twin_id);
  r.Uint("contract_id", d.contract_id, false);
  r.Str("metadata", d.metadata, false);
  r.Str("description", d.description, false);
  r.Int("expiration", d.expiration, false);
  if (const json* sr = r.Get("signature_requirement", true)) {
    Reader sreader(*sr, "deployment.signature_requirement");
    sreader.Uint("weight_required", d.signature_requirement.weight_required, false);
    sreader.Str("signature_style", d.signature_requirement.signature_style, false);
    if (const json* reqs = sreader.Get("requests", false)) {
      if (!reqs->is_array()) {
        sreader.Fail("requests", "expected array");
      } else {
        for (size_t i = 0; i < reqs->size() && sreader.ok(); ++i) {
          Reader q((*reqs)[i], fmt::format("deployment.signature_requirement.requests[{}]", i));
          SignatureRequest req;
          q.Uint("twin_id", req.twin_id);
          q.Bool("required", req.required, false);
          q.Uint("weight", req.weight, false);
          if (!q.ok()) sreader.FailStatus(q.status());
          d.signature_requirement.requests.push_back(req);
        }
      }
    }
    if (const json* sigs = sreader.Get("signatures", false)) {
      if (!sigs->is_array()) {
        sreader.Fail("signatures", "expected array");
      } else {
        for (size_t i = 0; i < sigs->size() && sreader.ok(); ++i) {
          Reader q((*sigs)[i], fmt::format("deployment.signature_requirement.signatures[{}]", i));
          Signature s;
          q.Uint("twin_id", s.twin_id);
          q.Str("signature", s.signature);
          q.Str("signature_type", s.signature_type, false);
          if (!q.ok()) sreader.FailStatus(q.status());
          d.signature_requirement.signatures.push_back(s);
        }
      }
    }
    if (!sreader.ok()) r.FailStatus(sreader.status());
  }
  if (const json* wls = r.Get("workloads", true)) {
    if (!wls->is_array()) {
      r.Fail("workloads", "expected array");
    } else {
      for (size_t i = 0; i < wls->size() && r.ok(); ++i) {
        std::string wp = fmt::format("deployment.workloads[{}]", i);
        Reader w((*wls)[i], wp);
        Workload wl;
        w.Uint("version", wl.version, false);
        w.Str("name", wl.name);
        w.Str("type", wl.type);
        w.Str("metadata", wl.metadata, false);
        w.Str("description", wl.description, false);
        if (const json* data = w.Get("data", true)) {
          Reader dr(*data, wp + ".data");
          dr.Uint("size", wl.data.size);
          dr.Str("mode", wl.data.mode);
          dr.Str("password", wl.data.password, false);
          dr.Bool("public", wl.data.is_public, false);
          if (!dr.ok()) w.FailStatus(dr.status());
        }
        if (const json* res = w.Get("result", false)) {
          Reader rr(*res, wp + ".result");
          rr.Int("created", wl.result.created, false);
          rr.Str("state", wl.result.state, false);
          rr.Str("message", wl.result.message, false);
          if (const json* rd = rr.Get("data", false)) {
            if (rd->is_object() && rd->contains("Namespace")) {
              Reader z(*rd, wp + ".result.data");
              ZdbResult zr;
              z.Str("Namespace", zr.ns);
              z.Uint("Port", zr.port, false);
              if (const json* ips = z.Get("IPs", false)) {
                if (!ips->is_array()) {
                  z.Fail("IPs", "expected array");
                } else {
                  for (const auto& ip : *ips) {
                    if (!ip.is_string()) {
                      z.Fail("IPs", "expected array of strings");
                      break;
                    }
                    zr.ips.push_back(ip.get<std::string>());
                  }
                }
              }
              if (!z.ok()) rr.FailStatus(z.status());
              wl.result.zdb = zr;
            }
          }
          if (!rr.ok()) w.FailStatus(rr.status());
        }
        if (!w.ok()) r.FailStatus(w.status());
        d.workloads.push_back(std::move(wl));
      }
    }
  }
  if (!r.ok()) return r.status();
  return d;
}

Result<Pricing> PricingFromJson(const json& j) {
  Reader r(j, "pricing");
  Pricing p;
  r.Dbl("su_usd_per_hour", p.su_usd_per_hour);
  r.Dbl("tft_usd", p.tft_usd);
  r.Str("bridge_address", p.bridge_address, false);
  if (!r.ok()) return r.status();
  return p;
}

}  // namespace qstor::grid
