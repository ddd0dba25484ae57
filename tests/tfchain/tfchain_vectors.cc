// Prints qstor's TFChain encodings as JSON for tests/tfchain/check_polkadot.js,
// which recomputes them with @polkadot/types from the same metadata.
// Usage: tfchain_vectors METADATA_JSON   (a state_getMetadata reply)
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "grid/crypto.h"
#include "grid/tfchain/events.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/storage.h"
#include "grid/tfchain/value.h"

using namespace qstor::tfchain;
using nlohmann::json;

namespace {

std::string Must(const qstor::Result<std::string>& r, const char* what) {
  if (!r.ok()) {
    std::cerr << "tfchain_vectors: " << what << ": " << r.status().ToString() << "\n";
    std::exit(1);
  }
  return "0x" + ToHex(*r);
}

Value Must(qstor::Result<Value> r, const char* what) {
  if (!r.ok()) {
    std::cerr << "tfchain_vectors: " << what << ": " << r.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(*r);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tfchain_vectors METADATA_JSON\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.contains("result")) {
    std::cerr << "tfchain_vectors: " << argv[1] << ": not a state_getMetadata reply\n";
    return 1;
  }
  auto md = DecodeMetadataHex(j["result"].get<std::string>());
  if (!md.ok()) {
    std::cerr << "tfchain_vectors: " << md.status().ToString() << "\n";
    return 1;
  }
  const Metadata& m = *md;
  const std::string hash = "0123456789abcdef0123456789abcdef";
  std::array<uint8_t, 32> seed;
  seed.fill(0x07);
  auto key = qstor::grid::Ed25519Key::FromSeed(seed);
  const std::string pk(reinterpret_cast<const char*>(key.public_key().data()), 32);

  auto cnc_args = [&](uint32_t node, std::string data) {
    return std::vector<NamedValue>{{"node_id", Value::U(node)}, {"deployment_hash", Value::Bytes(hash)},
                                   {"deployment_data", Value::Bytes(std::move(data))}, {"public_ips", Value::U(0)},
                                   {"solution_provider_id", Value::None()}};
  };
  json out;
  out["pk"] = "0x" + ToHex(pk);
  json& calls = out["calls"];
  calls["create_twin"] = Must(EncodeCall(m, "TfgridModule", "create_twin",
                                         {{"relay", Value::Some(Value::Bytes("relay.grid.tf"))}, {"pk", Value::None()}}),
                              "create_twin");
  calls["update_twin"] = Must(EncodeCall(m, "TfgridModule", "update_twin",
                                         {{"relay", Value::Some(Value::Bytes("relay.02.grid.tf"))},
                                          {"pk", Value::Some(Value::Bytes(std::string(33, '\x02')))}}),
                              "update_twin");
  calls["user_accept_tc"] = Must(EncodeCall(m, "TfgridModule", "user_accept_tc",
                                            {{"document_link", Value::Bytes("https://library.threefold.me/info/legal/#/")},
                                             {"document_hash", Value::Bytes("abc")}}),
                                 "user_accept_tc");
  calls["create_node_contract"] = Must(EncodeCall(m, "SmartContractModule", "create_node_contract", cnc_args(11, "{}")), "cnc");
  calls["update_node_contract"] = Must(EncodeCall(m, "SmartContractModule", "update_node_contract",
                                                  {{"contract_id", Value::U(42)}, {"deployment_hash", Value::Bytes(hash)},
                                                   {"deployment_data", Value::Bytes("{}")}}),
                                       "update");
  calls["cancel_contract"] = Must(EncodeCall(m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(42)}}), "cancel");
  Value cnc = Must(CallValue(m, "SmartContractModule", "create_node_contract", cnc_args(11, "{}")), "cnc value");
  Value cancel5 = Must(CallValue(m, "SmartContractModule", "cancel_contract", {{"contract_id", Value::U(5)}}), "cancel value");
  calls["batch_all"] = Must(EncodeCall(m, "Utility", "batch_all", {{"calls", Value::Sequence({cnc, cancel5})}}), "batch_all");
  calls["transfer_keep_alive"] = Must(EncodeCall(m, "Balances", "transfer_keep_alive",
                                                 {{"dest", Value::Enum("Id", {{"", Value::Bytes(pk)}})},
                                                  {"value", Value::U(10'000'000)}}),
                                      "transfer_keep_alive");

  // Signed extrinsics: immortal, mortal with nonce and tip, and one whose
  // payload is longer than 256 bytes (signed hashed).
  struct Case { const char* name; std::string call; Era era; uint64_t current; uint32_t nonce; u128 tip; };
  auto big = EncodeCall(m, "SmartContractModule", "create_node_contract", cnc_args(12, std::string(400, 'x')));
  const Case cases[] = {
      {"immortal_cnc", *FromHex(calls["create_node_contract"].get<std::string>()), Era::Immortal(), 0, 0, 0},
      {"mortal_batch", *FromHex(calls["batch_all"].get<std::string>()), Era::Mortal(1000, 64), 1000, 7, 12345},
      {"big_payload", *big, Era::Mortal(123456, 256), 123456, 300, u128(1) << 70},
  };
  ChainInfo c;
  c.spec_version = 152;
  c.tx_version = 2;
  c.genesis.fill(0x11);
  for (const auto& k : cases) {
    c.era_block_hash.fill(k.era.immortal ? 0x11 : 0x22);
    ExtrinsicExtra x{k.era, k.nonce, k.tip};
    json v;
    v["call"] = "0x" + ToHex(k.call);
    v["era_immortal"] = k.era.immortal;
    v["era_current"] = k.current;
    v["era_period"] = k.era.period;
    v["era_hex"] = "0x" + ToHex(k.era.Encode());
    v["nonce"] = k.nonce;
    v["tip"] = U128ToString(k.tip);
    v["spec"] = c.spec_version;
    v["tx"] = c.tx_version;
    v["genesis"] = "0x" + ToHex(std::string_view(reinterpret_cast<const char*>(c.genesis.data()), 32));
    v["block_hash"] = "0x" + ToHex(std::string_view(reinterpret_cast<const char*>(c.era_block_hash.data()), 32));
    v["payload"] = Must(SigningPayload(m, k.call, x, c), "payload");
    v["extrinsic"] = Must(BuildSignedExtrinsic(m, key.public_key(), [&](std::string_view s) { return key.Sign(s); },
                                               k.call, x, c),
                          "extrinsic");
    out["signed"][k.name] = v;
  }

  // Values for @polkadot/types to decode.
  TypeId contract_t = m.FindStorage("SmartContractModule", "Contracts")->entry->value;
  Value node = Value::Composite({{"node_id", Value::U(11)}, {"deployment_hash", Value::Bytes(hash)},
                                 {"deployment_data", Value::Bytes("{\"v\":3}")}, {"public_ips", Value::U(1)},
                                 {"public_ips_list", Value::Sequence({Value::Composite({{"ip", Value::Bytes("185.1.2.3/24")},
                                                                                       {"gateway", Value::Bytes("185.1.2.1")},
                                                                                       {"contract_id", Value::U(42)}})})}});
  Value contract = Value::Composite({{"version", Value::U(4)}, {"state", Value::Enum("GracePeriod", {{"", Value::U(777)}})},
                                     {"contract_id", Value::U(42)}, {"twin_id", Value::U(9)},
                                     {"contract_type", Value::Enum("NodeContract", {{"", node}})},
                                     {"solution_provider_id", Value::Some(Value::U(3))}});
  out["contract"] = Must(EncodeValueBytes(m.registry, contract_t, contract), "contract");
  const uint8_t scm = m.FindPallet("SmartContractModule")->index;
  const uint8_t not_unique = m.FindError("SmartContractModule", "ContractIsNotUnique").value()->index;
  Value info = Value::Composite({{"weight", Value::Composite({{"ref_time", Value::U(1000)}, {"proof_size", Value::U(0)}})},
                                 {"class", Value::Enum("Normal")}, {"pays_fee", Value::Enum("Yes")}});
  auto rec = [](uint32_t i, Value e) {
    return Value::Composite({{"phase", Value::Enum("ApplyExtrinsic", {{"", Value::U(i)}})}, {"event", std::move(e)},
                             {"topics", Value::Sequence({})}});
  };
  Value err = Value::Enum("Module", {{"", Value::Composite({{"index", Value::U(scm)},
                                                           {"error", Value::Bytes(std::string{char(not_unique), 0, 0, 0})}})}});
  Value events = Value::Sequence({
      rec(1, Value::Enum("SmartContractModule", {{"", Value::Enum("ContractCreated", {{"", contract}})}})),
      rec(1, Value::Enum("System", {{"", Value::Enum("ExtrinsicSuccess", {{"dispatch_info", info}})}})),
      rec(2, Value::Enum("System", {{"", Value::Enum("ExtrinsicFailed", {{"dispatch_error", err}, {"dispatch_info", info}})}})),
  });
  out["events"] = Must(EncodeValueBytes(m.registry, m.FindStorage("System", "Events")->entry->value, events), "events");
  auto err_name = DispatchErrorName(m, err);
  out["events_error"] = err_name.ok() ? *err_name : err_name.status().ToString();

  json& keys = out["keys"];
  keys["account"] = Must(StorageKey(m, "System", "Account", {Value::Bytes(pk)}), "key");
  keys["twin_id"] = Must(StorageKey(m, "TfgridModule", "TwinIdByAccountID", {Value::Bytes(pk)}), "key");
  keys["twins_7"] = Must(StorageKey(m, "TfgridModule", "Twins", {Value::U(7)}), "key");
  keys["contracts_42"] = Must(StorageKey(m, "SmartContractModule", "Contracts", {Value::U(42)}), "key");
  keys["contract_id_by_node_hash"] = Must(StorageKey(m, "SmartContractModule", "ContractIDByNodeIDAndHash",
                                                     {Value::U(11), Value::Bytes(hash)}), "key");
  keys["active_node_contracts_11"] = Must(StorageKey(m, "SmartContractModule", "ActiveNodeContracts", {Value::U(11)}), "key");
  keys["events"] = Must(StorageKey(m, "System", "Events"), "key");
  std::cout << out.dump(2) << "\n";
  return 0;
}
