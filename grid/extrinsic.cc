#include "grid/extrinsic.h"

#include <sodium.h>

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

Call BatchAllCall(std::vector<Call> calls) {
  json arr = json::array();
  for (const auto& c : calls) arr.push_back(c.ToJson());
  return Call{"batch_all", {{"calls", arr}}};
}

std::string Extrinsic::CanonicalPayload() const {
  return "qstor-extrinsic-v1\n" + signer + "\n" + std::to_string(nonce) + "\n" +
         call.ToJson().dump();
}

void Extrinsic::Sign(const Ed25519Key& key) {
  signer = key.PublicKeyHex();
  signature = key.SignHex(CanonicalPayload());
}

bool Extrinsic::VerifySignature() const {
  return Ed25519VerifyHex(signer, CanonicalPayload(), signature);
}

json Extrinsic::ToJson() const {
  return json{{"signer", signer}, {"nonce", nonce}, {"call", call.ToJson()},
              {"signature", signature}};
}

Result<Extrinsic> Extrinsic::FromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("extrinsic: expected object");
  Extrinsic e;
  auto s = j.find("signer");
  if (s == j.end() || !s->is_string()) {
    return Status::InvalidArgument("extrinsic.signer: expected hex string");
  }
  e.signer = s->get<std::string>();
  auto n = j.find("nonce");
  if (n == j.end() || !n->is_number_unsigned()) {
    return Status::InvalidArgument("extrinsic.nonce: expected unsigned integer");
  }
  e.nonce = n->get<uint64_t>();
  auto c = j.find("call");
  if (c == j.end()) return Status::InvalidArgument("extrinsic.call: missing");
  auto call = Call::FromJson(*c);
  if (!call.ok()) return call.status().WithContext("extrinsic");
  e.call = std::move(call).value();
  auto sig = j.find("signature");
  if (sig == j.end() || !sig->is_string()) {
    return Status::InvalidArgument("extrinsic.signature: expected hex string");
  }
  e.signature = sig->get<std::string>();
  return e;
}

Extrinsic MakeExtrinsic(const Ed25519Key& key, uint64_t nonce, Call call) {
  Extrinsic e;
  e.nonce = nonce;
  e.call = std::move(call);
  e.Sign(key);
  return e;
}

json ExtrinsicResult::ToJson() const {
  json j{{"hash", hash}, {"nonce", nonce}, {"created_contracts", created_contracts}};
  if (twin_id) j["twin_id"] = *twin_id;
  return j;
}

Result<ExtrinsicResult> ExtrinsicResult::FromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("extrinsic result: expected object");
  ExtrinsicResult r;
  try {
    r.hash = j.value("hash", "");
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
