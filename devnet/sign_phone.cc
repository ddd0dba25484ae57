#include "devnet/sign_phone.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grid/connect_login.h"
#include "grid/tfchain/scale.h"

namespace qstor::devnet {

using nlohmann::json;

namespace {

Status Bad(const std::string& what) { return Status::InvalidArgument("sign request: " + what); }

std::string Hex(const tfchain::Hash256& h) {
  return "0x" + tfchain::ToHex(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

// An argument as a phone shows it: printable bytes as text, others as the
// value's own notation.
std::string ShowArg(const tfchain::Value& v) {
  if (v.kind == tfchain::Value::Kind::kBytes) {
    bool printable = !v.str.empty();
    for (char c : v.str) printable = printable && c >= 0x20 && c <= 0x7e;
    if (printable) return json(v.str).dump();
  }
  return v.ToString();
}

void AddLines(const tfchain::Value& call, std::vector<std::string>* out, int depth) {
  if (call.kind != tfchain::Value::Kind::kVariant || call.fields.size() != 1 ||
      call.fields[0].value.kind != tfchain::Value::Kind::kVariant || depth > 4) {
    out->push_back(call.ToString().substr(0, 200));
    return;
  }
  const std::string& pallet = call.name;
  const tfchain::Value& inner = call.fields[0].value;
  if (pallet == "Utility" &&
      (inner.name == "batch" || inner.name == "batch_all" || inner.name == "force_batch")) {
    const tfchain::Value* calls = inner.Get("calls");
    if (calls != nullptr && calls->kind == tfchain::Value::Kind::kSequence) {
      for (const auto& c : calls->items) AddLines(c, out, depth + 1);
      return;
    }
  }
  std::string line = pallet + "." + inner.name + "(";
  for (size_t i = 0; i < inner.fields.size(); i++) {
    if (i > 0) line += ", ";
    if (!inner.fields[i].name.empty()) line += inner.fields[i].name + ": ";
    line += ShowArg(inner.fields[i].value);
  }
  line += ")";
  if (line.size() > 200) line = line.substr(0, 197) + "...";
  out->push_back(line);
}

}  // namespace

std::string RelayDocument(const std::string& uuid, const std::string& callback_url, uint64_t amount,
                          const std::string& destination, const std::vector<std::string>& data_b64) {
  nlohmann::ordered_json d;
  d["uuid"] = uuid;
  d["CallbackUrl"] = callback_url;
  if (amount > 0) d["Payment"] = {{"Amount", amount}, {"Destination", destination}};
  d["DataToSign"] = data_b64;
  return d.dump();
}

Result<PhoneRequest> ParsePhoneRequest(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  PhoneRequest r;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "uuid") {
      if (!v.is_string() || v.get<std::string>().size() != 36) return Bad("uuid: expected a 36-character uuid");
      r.uuid = v.get<std::string>();
    } else if (k == "CallbackUrl") {
      if (!v.is_string()) return Bad("CallbackUrl: expected a string");
      r.callback_url = v.get<std::string>();
    } else if (k == "Payment") {
      if (!v.is_object() || !v.contains("Amount") || !v["Amount"].is_number_unsigned() ||
          !v.contains("Destination") || !v["Destination"].is_string()) {
        return Bad("Payment: expected {Amount: units, Destination: \"TFT:<bridge>?message=twin_<id>\"}");
      }
      r.amount = v["Amount"].get<uint64_t>();
      if (r.amount == 0) return Bad("Payment.Amount: 0");
      const std::string dest = v["Destination"].get<std::string>();
      const std::string marker = "?message=twin_";
      size_t q = dest.find(marker);
      if (dest.rfind("TFT:", 0) != 0 || q == std::string::npos) {
        return Bad("Payment.Destination: expected TFT:<bridge>?message=twin_<id>, got " + dest.substr(0, 80));
      }
      r.bridge = dest.substr(4, q - 4);
      std::string id = dest.substr(q + marker.size());
      if (id.empty() || id.size() > 10 || id.find_first_not_of("0123456789") != std::string::npos ||
          std::stoull(id) == 0 || std::stoull(id) > 0xffffffffull) {
        return Bad("Payment.Destination: no twin id in " + dest.substr(0, 80));
      }
      r.pay_twin = uint32_t(std::stoull(id));
    } else if (k == "DataToSign") {
      if (!v.is_array() || v.empty()) return Bad("DataToSign: expected a non-empty list of base64 payloads");
      for (size_t i = 0; i < v.size(); i++) {
        std::string what = fmt::format("DataToSign[{}]", i);
        if (!v[i].is_string()) return Bad(what + ": expected a base64 string");
        auto raw = grid::connect::Base64Decode(v[i].get<std::string>(), what);
        if (!raw.ok()) return Bad(raw.status().message());
        r.payloads.push_back(std::move(raw).value());
      }
    } else if (k == "State") {
      if (!v.is_string()) return Bad("State: expected a string");
      r.state = v.get<std::string>();
    } else if (k == "Response" || k == "Error") {
      // The relay's view of an answered request: nothing for the phone.
    } else {
      return Bad("unknown field \"" + k.substr(0, 40) + "\"");
    }
  }
  if (r.uuid.empty()) return Bad("no uuid");
  if (r.callback_url.empty()) return Bad("no CallbackUrl");
  if (r.payloads.empty()) return Bad("no DataToSign");
  return r;
}

Status CheckPayloads(const PhoneChain& chain, PhoneRequest* req) {
  req->calls.clear();
  for (size_t i = 0; i < req->payloads.size(); i++) {
    const std::string what = fmt::format("DataToSign[{}] ({} bytes)", i, req->payloads[i].size());
    auto d = tfchain::DecodeSigningPayload(*chain.metadata, req->payloads[i]);
    if (!d.ok()) {
      return Status::InvalidArgument(fmt::format(
          "the phone cannot read {} as a transaction of the devnet's chain: {}", what, d.status().message()));
    }
    if (d->chain.genesis != chain.genesis) {
      return Status::FailedPrecondition(fmt::format(
          "{} is for another chain: genesis {}, the devnet's chain is {}", what, Hex(d->chain.genesis),
          Hex(chain.genesis)));
    }
    if (d->chain.spec_version != chain.spec_version || d->chain.tx_version != chain.tx_version) {
      return Status::FailedPrecondition(fmt::format(
          "{} is for runtime spec {} (transaction version {}); the devnet's chain runs spec {} "
          "(transaction version {})",
          what, d->chain.spec_version, d->chain.tx_version, chain.spec_version, chain.tx_version));
    }
    AddLines(d->call, &req->calls, 0);
  }
  return Status::OK();
}

std::vector<std::string> CallLines(const tfchain::Value& call) {
  std::vector<std::string> out;
  AddLines(call, &out, 0);
  return out;
}

}  // namespace qstor::devnet
