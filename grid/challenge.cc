#include "grid/challenge.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "grid/md5.h"

namespace qstor::grid {

std::string ChallengeText(const Deployment& d) {
  std::string s;
  auto b = [](bool v) { return v ? "true" : "false"; };
  s += std::to_string(d.version);
  s += std::to_string(d.twin_id);
  s += d.metadata;
  s += d.description;
  s += std::to_string(d.expiration);
  for (const auto& w : d.workloads) {
    s += std::to_string(w.version);
    s += w.name;
    s += w.type;
    s += w.metadata;
    s += w.description;
    s += std::to_string(w.data.size);
    s += w.data.mode;
    s += w.data.password;
    s += b(w.data.is_public);
  }
  for (const auto& r : d.signature_requirement.requests) {
    s += std::to_string(r.twin_id);
    s += b(r.required);
    s += std::to_string(r.weight);
  }
  s += std::to_string(d.signature_requirement.weight_required);
  s += d.signature_requirement.signature_style;
  return s;
}

std::array<uint8_t, 16> Challenge(const Deployment& d) { return Md5::Digest(ChallengeText(d)); }

std::string ChallengeHex(const Deployment& d) { return Md5::HexDigest(ChallengeText(d)); }

void SignDeployment(Deployment& d, uint32_t twin_id, const Ed25519Key& key) {
  auto c = Challenge(d);
  std::string sig =
      key.SignHex(std::string_view(reinterpret_cast<const char*>(c.data()), c.size()));
  auto& sigs = d.signature_requirement.signatures;
  for (auto& s : sigs) {
    if (s.twin_id == twin_id) {
      s.signature = sig;
      s.signature_type = "ed25519";
      return;
    }
  }
  sigs.push_back(Signature{twin_id, sig, "ed25519"});
}

Status VerifyDeploymentSignatures(
    const Deployment& d,
    const std::function<Result<std::string>(uint32_t twin_id)>& public_key_of) {
  auto c = Challenge(d);
  std::string_view msg(reinterpret_cast<const char*>(c.data()), c.size());
  std::map<uint32_t, const SignatureRequest*> requests;
  for (const auto& r : d.signature_requirement.requests) requests[r.twin_id] = &r;
  std::set<uint32_t> signed_by;
  uint64_t weight = 0;
  for (const auto& s : d.signature_requirement.signatures) {
    auto it = requests.find(s.twin_id);
    if (it == requests.end()) {
      return Status::PermissionDenied(
          fmt::format("deployment: signature of twin {} which is not requested", s.twin_id));
    }
    if (s.signature_type != "ed25519") {
      return Status::PermissionDenied(fmt::format(
          "deployment: twin {}: signature type '{}' not supported (ed25519 only)", s.twin_id,
          s.signature_type));
    }
    if (!signed_by.insert(s.twin_id).second) {
      return Status::PermissionDenied(
          fmt::format("deployment: twin {} signed twice", s.twin_id));
    }
    auto pk = public_key_of(s.twin_id);
    if (!pk.ok()) return pk.status().WithContext(fmt::format("deployment: twin {}", s.twin_id));
    if (!Ed25519VerifyHex(*pk, msg, s.signature)) {
      return Status::PermissionDenied(
          fmt::format("deployment: signature of twin {} does not verify", s.twin_id));
    }
    weight += it->second->weight;
  }
  for (const auto& [twin, req] : requests) {
    if (req->required && !signed_by.count(twin)) {
      return Status::PermissionDenied(
          fmt::format("deployment: required signature of twin {} missing", twin));
    }
  }
  if (weight < d.signature_requirement.weight_required) {
    return Status::PermissionDenied(
        fmt::format("deployment: signature weight {} below weight_required {}", weight,
                    d.signature_requirement.weight_required));
  }
  return Status::OK();
}

}  // namespace qstor::grid
