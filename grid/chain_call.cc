#include "grid/chain_call.h"

#include <fmt/format.h>

namespace qstor::grid {

using nlohmann::json;

json Call::ToJson() const { return json{{"name", name}, {"args", args}}; }

Result<Call> Call::FromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("call: expected object");
  auto n = j.find("name");
  if (n == j.end() || !n->is_string()) return Status::InvalidArgument("call.name: expected string");
  Call c;
  c.name = n->get<std::string>();
  auto a = j.find("args");
  if (a != j.end()) {
    if (!a->is_object()) return Status::InvalidArgument("call.args: expected object");
    c.args = *a;
  }
  return c;
}

Call CreateTwinCall(const std::string& relay) { return Call{"create_twin", {{"relay", relay}}}; }

Call TransferCall(const std::string& dest, uint64_t amount_units) {
  return Call{"transfer", {{"dest", dest}, {"amount", amount_units}}};
}

Call CreateNodeContractCall(uint32_t node_id, const std::string& deployment_hash,
                            const std::string& deployment_data, uint32_t public_ips) {
  return Call{"create_node_contract",
              {{"node_id", node_id},
               {"deployment_hash", deployment_hash},
               {"deployment_data", deployment_data},
               {"public_ips", public_ips}}};
}

Call UpdateNodeContractCall(uint64_t contract_id, const std::string& deployment_hash,
                            const std::string& deployment_data) {
  return Call{"update_node_contract",
              {{"contract_id", contract_id},
               {"deployment_hash", deployment_hash},
               {"deployment_data", deployment_data}}};
}

Call CancelContractCall(uint64_t contract_id) {
  return Call{"cancel_contract", {{"contract_id", contract_id}}};
}

json ExtrinsicResult::ToJson() const {
  json j{{"hash", hash}, {"nonce", nonce}, {"created_contracts", created_contracts}};
  if (!block_hash.empty()) j["block_hash"] = block_hash;
  if (twin_id) j["twin_id"] = *twin_id;
  return j;
}

Result<ExtrinsicResult> ExtrinsicResult::FromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("extrinsic result: expected object");
  ExtrinsicResult r;
  try {
    r.hash = j.value("hash", "");
    r.block_hash = j.value("block_hash", "");
    r.nonce = j.value("nonce", uint64_t{0});
    if (j.contains("created_contracts")) {
      for (const auto& c : j.at("created_contracts")) r.created_contracts.push_back(c.get<uint64_t>());
    }
    if (j.contains("twin_id") && !j.at("twin_id").is_null()) {
      r.twin_id = j.at("twin_id").get<uint32_t>();
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("extrinsic result: ") + e.what());
  }
  return r;
}

}  // namespace qstor::grid
