#include "reconciler/connect_profile.h"

#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "grid/connect_login.h"
#include "reconciler/keystore.h"

namespace qstor::reconciler {

namespace {
constexpr char kLoginLabel[] = "connect-login";
std::string UsedStatesPath(const std::string& home) { return home + "/connect-used-states"; }
}  // namespace

std::string ConnectProfile::ToJson() const {
  nlohmann::json j{{"version", 1},
                   {"double_name", double_name},
                   {"email", email},
                   {"email_verified", email_verified},
                   {"email_check", email_check},
                   {"wallet_address", wallet_address},
                   {"network", network},
                   {"login_url", login_url},
                   {"appid", appid},
                   {"logged_in_at", logged_in_at},
                   {"identity_from_connect", identity_from_connect}};
  if (derived_seed) {
    j["derived_seed"] = grid::connect::Base64Encode(
        std::string(reinterpret_cast<const char*>(derived_seed->data()), derived_seed->size()));
  }
  return j.dump();
}

Result<ConnectProfile> ConnectProfile::FromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 ||
      !j.contains("double_name") || !j["double_name"].is_string()) {
    return Status::Corruption("the ThreeFold Connect profile is malformed");
  }
  ConnectProfile p;
  try {
    p.double_name = j["double_name"].get<std::string>();
    p.email = j.value("email", std::string());
    p.email_verified = j.value("email_verified", false);
    p.email_check = j.value("email_check", std::string());
    p.wallet_address = j.value("wallet_address", std::string());
    p.network = j.value("network", std::string());
    p.login_url = j.value("login_url", std::string());
    p.appid = j.value("appid", std::string());
    p.logged_in_at = j.value("logged_in_at", int64_t{0});
    p.identity_from_connect = j.value("identity_from_connect", false);
    if (j.contains("derived_seed")) {
      auto raw = grid::connect::Base64Decode(j["derived_seed"].get<std::string>(), "derived_seed");
      if (!raw.ok() || raw->size() != 32) {
        return Status::Corruption("the ThreeFold Connect profile's derivedSeed is malformed");
      }
      std::array<uint8_t, 32> s{};
      std::memcpy(s.data(), raw->data(), 32);
      sodium_memzero(raw->data(), raw->size());
      p.derived_seed = s;
      sodium_memzero(s.data(), s.size());
    }
  } catch (const nlohmann::json::exception&) {
    return Status::Corruption("the ThreeFold Connect profile has a field of the wrong type");
  }
  return p;
}

Result<std::string> SaveConnectProfile(const std::string& home, const std::string& passphrase,
                                       const ConnectProfile& p) {
  std::string text = p.ToJson();
  const std::string ks = KeystorePath(home);
  Status st;
  std::string where;
  if (::access(ks.c_str(), F_OK) == 0) {
    st = WriteKeystoreConnect(ks, passphrase, text);
    where = ks;
  } else {
    st = WriteSealedFile(ConnectLoginPath(home), kLoginLabel, text, passphrase);
    where = ConnectLoginPath(home);
  }
  sodium_memzero(text.data(), text.size());
  if (!st.ok()) return st;
  return where;
}

Result<ConnectProfile> LoadConnectProfile(const std::string& home, const std::string& passphrase) {
  const std::string ks = KeystorePath(home);
  if (::access(ks.c_str(), F_OK) == 0) {
    auto c = ReadKeystoreConnect(ks, passphrase);
    if (!c.ok()) return c.status();
    if (c->has_value()) {
      auto p = ConnectProfile::FromJson(**c);
      sodium_memzero((*c)->data(), (*c)->size());
      return p;
    }
  }
  auto text = ReadSealedFile(ConnectLoginPath(home), kLoginLabel, passphrase);
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("not logged in with ThreeFold Connect (run `qstor login`)");
    }
    return text.status();
  }
  auto p = ConnectProfile::FromJson(*text);
  sodium_memzero(text->data(), text->size());
  return p;
}

Status AdoptConnectProfile(const std::string& home, const std::string& passphrase,
                           const ConnectProfile& p) {
  std::string text = p.ToJson();
  Status st = WriteKeystoreConnect(KeystorePath(home), passphrase, text);
  sodium_memzero(text.data(), text.size());
  if (!st.ok()) return st;
  ::unlink(ConnectLoginPath(home).c_str());
  return Status::OK();
}

std::set<std::string> LoadUsedConnectStates(const std::string& home) {
  std::set<std::string> out;
  auto text = ReadFileBounded(UsedStatesPath(home), 1 << 20, "used login states");
  if (!text.ok()) return out;
  std::istringstream in(*text);
  int64_t at;
  std::string state;
  while (in >> at >> state) out.insert(state);
  return out;
}

Status RecordUsedConnectState(const std::string& home, const std::string& state, int64_t now) {
  std::deque<std::pair<int64_t, std::string>> keep;
  auto text = ReadFileBounded(UsedStatesPath(home), 1 << 20, "used login states");
  if (text.ok()) {
    std::istringstream in(*text);
    int64_t at;
    std::string s;
    while (in >> at >> s) {
      if (now - at <= 30 * 86400) keep.emplace_back(at, s);
    }
  }
  keep.emplace_back(now, state);
  while (keep.size() > 1000) keep.pop_front();
  std::string out;
  for (const auto& [at, s] : keep) out += std::to_string(at) + " " + s + "\n";
  std::error_code ec;
  if (!std::filesystem::exists(home, ec)) {
    std::filesystem::create_directories(home, ec);
    if (ec) return Status::IOError("cannot create " + home + ": " + ec.message());
    std::filesystem::permissions(home, std::filesystem::perms::owner_all, ec);
  }
  return WriteFileAtomic(UsedStatesPath(home), out, 0600);
}

}  // namespace qstor::reconciler
