#include "grid/connect_login.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grid/bip39.h"

namespace qstor::grid::connect {
namespace {

using nlohmann::json;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// "k=v&k=v" -> map (decoded); duplicate keys: the first wins.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    auto k = UrlDecode(kv.substr(0, eq), "query parameter name");
    if (!k.ok()) return k.status();
    auto v = UrlDecode(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1),
                       "query parameter " + *k);
    if (!v.ok()) return v.status();
    out.emplace(std::move(*k), std::move(*v));
  }
  return out;
}

// The curve25519 secret of a 64-byte ed25519 secret key.
std::array<uint8_t, 32> CurveSecret(const std::array<uint8_t, 64>& ed_sk) {
  std::array<uint8_t, 32> x{};
  crypto_sign_ed25519_sk_to_curve25519(x.data(), ed_sk.data());
  return x;
}

std::string Str(const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

}  // namespace

// --- encodings ---------------------------------------------------------------

std::string Base64Encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), U(bytes), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<std::string> Base64Decode(std::string_view text, std::string_view what) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: not valid base64 ({} characters; truncated or not base64?)", what, text.size()));
  }
  out.resize(len);
  return out;
}

Result<std::string> UrlDecode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (i + 2 >= s.size()) {
        return Status::InvalidArgument(fmt::format("{}: truncated %-escape", what));
      }
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return Status::InvalidArgument(fmt::format("{}: bad %-escape", what));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (IsAlnum(static_cast<char>(c)) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// --- the app key -----------------------------------------------------------------

AppKey AppKey::FromSeed(const std::array<uint8_t, 32>& seed) {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all
  AppKey k;
  crypto_sign_seed_keypair(k.pk_.data(), k.sk_.data(), seed.data());
  return k;
}

AppKey AppKey::Generate() {
  if (sodium_init() < 0) std::abort();
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  AppKey k = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return k;
}

AppKey::~AppKey() { sodium_memzero(sk_.data(), sk_.size()); }

std::string AppKey::CurvePublicKeyBase64() const {
  uint8_t x[32] = {};
  // Fails only for a point not on the curve, which a key made here never is.
  if (crypto_sign_ed25519_pk_to_curve25519(x, pk_.data()) != 0) return std::string();
  return Base64Encode(Str(x, sizeof x));
}

Result<std::string> AppKey::Open(std::string_view ciphertext, std::string_view nonce,
                                 const PublicKey& user_pk) const {
  if (nonce.size() != crypto_box_NONCEBYTES) {
    return Status::InvalidArgument(
        fmt::format("data: nonce is {} bytes, expected {}", nonce.size(), crypto_box_NONCEBYTES));
  }
  if (ciphertext.size() < crypto_box_MACBYTES) {
    return Status::InvalidArgument("data: ciphertext shorter than its MAC");
  }
  uint8_t user_x[32];
  if (crypto_sign_ed25519_pk_to_curve25519(user_x, user_pk.data()) != 0) {
    return Status::InvalidArgument("data: the user's public key has no curve25519 form");
  }
  auto my_x = CurveSecret(sk_);
  std::string plain(ciphertext.size() - crypto_box_MACBYTES, '\0');
  int rc = crypto_box_open_easy(reinterpret_cast<unsigned char*>(plain.data()), U(ciphertext),
                                ciphertext.size(), U(nonce), user_x, my_x.data());
  sodium_memzero(my_x.data(), my_x.size());
  if (rc != 0) {
    return Status::Unauthenticated(
        "data: crypto_box_open_easy failed (not sealed by this user to this login's key)");
  }
  return plain;
}

// --- the request -------------------------------------------------------------------

std::string Scope::Json() const {
  // Fixed order, compact: the value is part of the URL the user sees.
  std::string s = "{";
  auto add = [&](const char* k, bool v) {
    if (!v) return;
    if (s.size() > 1) s += ",";
    s += fmt::format("\"{}\":true", k);
  };
  add("doubleName", double_name);
  add("email", email);
  add("derivedSeed", derived_seed);
  add("walletAddress", wallet_address);
  return s + "}";
}

Result<LoginRequest> NewLoginRequest(const Scope& scope, std::string_view appid,
                                     std::string_view redirect) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  LoginRequest r{std::string(), std::string(appid), std::string(redirect), scope,
                 AppKey::Generate(), 0};
  for (int i = 0; i < 32; ++i) r.state.push_back(kAlphabet[randombytes_uniform(62)]);
  if (r.redirect_url.empty() || r.redirect_url[0] != '/') r.redirect_url = "/" + r.redirect_url;
  r.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return r;
}

std::string LoginUrl(const LoginRequest& r, std::string_view login_base) {
  std::string base(login_base);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/?state={}&appid={}&publickey={}&redirecturl={}&scope={}", base,
                     UrlEncode(r.state), UrlEncode(r.appid),
                     UrlEncode(r.app_key.CurvePublicKeyBase64()), UrlEncode(r.redirect_url),
                     UrlEncode(r.scope.Json()));
}

Result<LoginUrlParams> ParseLoginUrl(std::string_view url) {
  if (url.size() > kMaxCallbackBytes) return Status::InvalidArgument("login URL: too long");
  size_t q = url.find('?');
  if (q == std::string_view::npos) {
    return Status::InvalidArgument("login URL: no query (?state=..&appid=..)");
  }
  LoginUrlParams p;
  p.base = std::string(url.substr(0, q));
  while (!p.base.empty() && p.base.back() == '/') p.base.pop_back();
  if (p.base.rfind("http://", 0) != 0 && p.base.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("login URL: must start with http:// or https://");
  }
  std::string_view query = url.substr(q + 1);
  if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  auto m = ParseQuery(query);
  if (!m.ok()) return m.status().WithContext("login URL");
  auto get = [&](const char* k) -> std::string {
    auto it = m->find(k);
    return it == m->end() ? std::string() : it->second;
  };
  p.state = get("state");
  p.appid = get("appid");
  p.publickey_b64 = get("publickey");
  p.redirect_url = get("redirecturl");
  p.scope_json = get("scope");
  if (p.state.empty() || p.state.size() > 256) {
    return Status::InvalidArgument("login URL: state missing or too long");
  }
  for (char c : p.state) {
    if (!IsAlnum(c)) return Status::InvalidArgument("login URL: state must be alphanumeric");
  }
  if (p.appid.empty() || p.appid.size() > 253) {
    return Status::InvalidArgument("login URL: appid missing or too long");
  }
  for (char c : p.appid) {
    if (!IsAlnum(c) && c != '.' && c != '-' && c != ':') {
      return Status::InvalidArgument("login URL: appid must be a host[:port]");
    }
  }
  for (auto& c : p.publickey_b64) {
    if (c == ' ') c = '+';  // as the app does: '+' read back as a space
  }
  auto pk = Base64Decode(p.publickey_b64, "login URL: publickey");
  if (!pk.ok()) return pk.status();
  if (pk->size() != 32) return Status::InvalidArgument("login URL: publickey is not 32 bytes");
  if (p.redirect_url.empty() || p.redirect_url[0] != '/') p.redirect_url = "/" + p.redirect_url;
  if (p.redirect_url.size() > 1024) return Status::InvalidArgument("login URL: redirecturl too long");
  for (char c : p.redirect_url) {
    if (c == '?' || c == '#' || c == ' ' || static_cast<unsigned char>(c) < 0x21 ||
        static_cast<unsigned char>(c) > 0x7e) {
      return Status::InvalidArgument("login URL: redirecturl must be a plain path");
    }
  }
  if (!p.scope_json.empty()) {
    auto j = json::parse(p.scope_json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::InvalidArgument("login URL: scope is not a JSON object");
    }
  }
  return p;
}

// --- the callback ------------------------------------------------------------------

Status CheckDoubleName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return Status::InvalidArgument("doubleName: empty or longer than 128 characters");
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return Status::InvalidArgument("doubleName: only letters, digits, '.', '_' and '-' allowed");
    }
  }
  return Status::OK();
}

Result<CallbackAttempt> ParseCallbackUrl(std::string_view url) {
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r' || url.back() == ' ')) {
    url.remove_suffix(1);
  }
  while (!url.empty() && (url.front() == ' ' || url.front() == '\t')) url.remove_prefix(1);
  if (url.size() > kMaxCallbackBytes) {
    return Status::InvalidArgument(
        fmt::format("callback: longer than {} bytes", kMaxCallbackBytes));
  }
  size_t q = url.find('?');
  if (q == std::string_view::npos) {
    return Status::InvalidArgument("callback: no query (expected ?signedAttempt=...)");
  }
  std::string_view query = url.substr(q + 1);
  if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  auto m = ParseQuery(query);
  if (!m.ok()) return m.status().WithContext("callback");
  if (auto e = m->find("error"); e != m->end()) {
    std::string why = e->second.substr(0, 80);
    for (auto& c : why) {
      if (!IsAlnum(c)) c = '_';
    }
    return Status::PermissionDenied("refused: the login was refused on the phone (error=" + why +
                                    ")");
  }
  auto it = m->find("signedAttempt");
  if (it == m->end()) return Status::InvalidArgument("callback: no signedAttempt parameter");
  auto j = json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("callback: signedAttempt is not a JSON object");
  }
  auto sa = j.find("signedAttempt");
  auto dn = j.find("doubleName");
  if (sa == j.end() || !sa->is_string() || dn == j.end() || !dn->is_string()) {
    return Status::InvalidArgument(
        "callback: signedAttempt must hold the strings signedAttempt and doubleName");
  }
  CallbackAttempt a;
  a.double_name = dn->get<std::string>();
  QSTOR_RETURN_IF_ERROR(CheckDoubleName(a.double_name).WithContext("callback"));
  auto raw = Base64Decode(sa->get<std::string>(), "signedAttempt");
  if (!raw.ok()) return raw.status();
  if (raw->size() <= crypto_sign_BYTES) {
    return Status::InvalidArgument(fmt::format(
        "signedAttempt: {} bytes, shorter than a signature (truncated?)", raw->size()));
  }
  a.signed_attempt = std::move(raw).value();
  return a;
}

std::string UsersApiUrl(std::string_view login_base, std::string_view double_name) {
  std::string base(login_base);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/api/users/" + UrlEncode(double_name);
}

Result<PublicKey> ParseUserPublicKey(std::string_view body, std::string_view double_name) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(
        fmt::format("users API: the answer for {} is not a JSON object", double_name));
  }
  auto pk = j.find("publicKey");
  if (pk == j.end() || !pk->is_string()) {
    return Status::InvalidArgument(fmt::format("users API: no publicKey for {}", double_name));
  }
  if (auto dn = j.find("doublename"); dn != j.end()) {
    if (!dn->is_string()) {
      return Status::InvalidArgument("users API: doublename is not a string");
    }
    std::string a = dn->get<std::string>(), b(double_name);
    for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : b) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (a != b) {
      return Status::InvalidArgument(fmt::format(
          "users API: asked for {} and got the key of {}", double_name, dn->get<std::string>()));
    }
  }
  auto raw = Base64Decode(pk->get<std::string>(), "users API: publicKey");
  if (!raw.ok()) return raw.status();
  if (raw->size() != 32) {
    return Status::InvalidArgument(
        fmt::format("users API: publicKey of {} is {} bytes, expected 32", double_name, raw->size()));
  }
  PublicKey out{};
  std::memcpy(out.data(), raw->data(), 32);
  return out;
}

Result<ScopeData> VerifyAttempt(const LoginRequest& request, const CallbackAttempt& attempt,
                                const PublicKey& user_pk, const VerifyOptions& options) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  // expiry
  int64_t age = options.now_unix - request.created_unix;
  if (age > options.max_age_seconds) {
    return Status::Timeout(fmt::format(
        "expiry: the login request is {} s old (at most {} s): a stale callback; run `qstor "
        "login` again",
        age, options.max_age_seconds));
  }
  if (age < -60) {
    return Status::InvalidArgument("expiry: the login request is from the future (clock?)");
  }
  // signature
  const std::string& sm = attempt.signed_attempt;
  if (sm.size() <= crypto_sign_BYTES) {
    return Status::InvalidArgument("signature: the signed attempt is too short");
  }
  std::string msg(sm.size() - crypto_sign_BYTES, '\0');
  unsigned long long mlen = 0;
  if (crypto_sign_open(reinterpret_cast<unsigned char*>(msg.data()), &mlen, U(sm), sm.size(),
                       user_pk.data()) != 0) {
    return Status::Unauthenticated(fmt::format(
        "signature: the attempt is not signed by the key the login service gives for {} "
        "(forged or altered)",
        attempt.double_name));
  }
  msg.resize(mlen);
  // attempt
  auto j = json::parse(msg, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("attempt: the signed message is not a JSON object");
  }
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto signed_state = str("signedState");
  auto name = str("doubleName");
  auto app_id = str("appId");
  if (!signed_state || !name || !app_id) {
    return Status::InvalidArgument(
        "attempt: the signed message lacks signedState, doubleName or appId");
  }
  // doubleName
  if (*name != attempt.double_name) {
    return Status::InvalidArgument(fmt::format(
        "doubleName: the attempt is signed for {} but the callback names {}", *name,
        attempt.double_name));
  }
  // replay
  if (options.used_states != nullptr && options.used_states->count(*signed_state)) {
    return Status::AlreadyExists(
        "replay: this attempt's state was already used by a completed login (a replayed "
        "callback)");
  }
  // state
  if (*signed_state != request.state) {
    return Status::InvalidArgument(
        "state: the attempt answers another login request (signedState does not match this "
        "login's state)");
  }
  // appId
  if (*app_id != request.appid) {
    return Status::InvalidArgument(fmt::format(
        "appId: the attempt was made for app \"{}\", not for qstor ({})",
        app_id->substr(0, 80), request.appid));
  }
  // data
  auto data = j.find("data");
  if (data == j.end() || data->is_null()) {
    return Status::InvalidArgument("data: the attempt shares nothing (data is null)");
  }
  if (!data->is_object() || !data->contains("nonce") || !(*data)["nonce"].is_string() ||
      !data->contains("ciphertext") || !(*data)["ciphertext"].is_string()) {
    return Status::InvalidArgument("data: expected {nonce, ciphertext} strings");
  }
  auto nonce = Base64Decode((*data)["nonce"].get<std::string>(), "data: nonce");
  if (!nonce.ok()) return nonce.status();
  auto cipher = Base64Decode((*data)["ciphertext"].get<std::string>(), "data: ciphertext");
  if (!cipher.ok()) return cipher.status();
  auto plain = request.app_key.Open(*cipher, *nonce, user_pk);
  if (!plain.ok()) return plain.status();
  // scope
  auto s = json::parse(*plain, nullptr, false);
  sodium_memzero(plain->data(), plain->size());
  if (s.is_discarded() || !s.is_object()) {
    return Status::InvalidArgument("scope: the decrypted data is not a JSON object");
  }
  ScopeData out;
  out.double_name = *name;
  if (auto e = s.find("email"); e != s.end() && !e->is_null()) {
    if (e->is_string()) {
      out.email = e->get<std::string>();
    } else if (e->is_object() && e->contains("email") && (*e)["email"].is_string()) {
      out.email = (*e)["email"].get<std::string>();
      if (e->contains("sei") && (*e)["sei"].is_string()) out.email_sei = (*e)["sei"].get<std::string>();
    } else {
      return Status::InvalidArgument("scope: email must be {email, sei}");
    }
    if (out.email->size() > 320) return Status::InvalidArgument("scope: email too long");
  }
  if (auto d = s.find("derivedSeed"); d != s.end() && !d->is_null()) {
    if (!d->is_string()) return Status::InvalidArgument("scope: derivedSeed must be a string");
    auto raw = Base64Decode(d->get<std::string>(), "scope: derivedSeed");
    if (!raw.ok()) return raw.status();
    if (raw->size() != 32) {
      sodium_memzero(raw->data(), raw->size());
      return Status::InvalidArgument(
          fmt::format("scope: derivedSeed is {} bytes, expected 32", raw->size()));
    }
    std::array<uint8_t, 32> seed{};
    std::memcpy(seed.data(), raw->data(), 32);
    sodium_memzero(raw->data(), raw->size());
    out.derived_seed = seed;
    sodium_memzero(seed.data(), seed.size());
  }
  if (auto w = s.find("walletAddressData"); w != s.end() && w->is_object()) {
    if (w->contains("address") && (*w)["address"].is_string()) {
      out.wallet_address = (*w)["address"].get<std::string>().substr(0, 128);
    }
  }
  return out;
}

// --- the phone -----------------------------------------------------------------------

std::array<uint8_t, 32> DerivedSeed(const std::array<uint8_t, 64>& user_sk, std::string_view appid) {
  std::string password = Base64Encode(Str(user_sk.data(), user_sk.size()));
  std::array<uint8_t, 32> out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), U(appid),
                    static_cast<int>(appid.size()), 1000, EVP_sha256(),
                    static_cast<int>(out.size()), out.data());
  sodium_memzero(password.data(), password.size());
  return out;
}

Result<std::string> PhoneSignAttempt(const LoginUrlParams& params, const PhoneUser& user,
                                     const std::array<uint8_t, 32>& signer_seed) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::array<uint8_t, 32> user_pk{};
  std::array<uint8_t, 64> user_sk{};
  crypto_sign_seed_keypair(user_pk.data(), user_sk.data(), user.seed.data());
  json scope = json::object();
  if (!params.scope_json.empty()) {
    scope = json::parse(params.scope_json, nullptr, false);
    if (scope.is_discarded() || !scope.is_object()) {
      return Status::InvalidArgument("login URL: scope is not a JSON object");
    }
  }
  auto wants = [&](const char* k) { return scope.contains(k) && scope[k] == true; };
  json shared = json::object();
  if (wants("doubleName")) shared["doubleName"] = user.double_name;
  if (wants("email")) shared["email"] = {{"email", user.email}, {"sei", user.email_sei}};
  if (wants("derivedSeed")) {
    auto ds = DerivedSeed(user_sk, params.appid);
    shared["derivedSeed"] = Base64Encode(Str(ds.data(), ds.size()));
    sodium_memzero(ds.data(), ds.size());
  }
  auto app_x = Base64Decode(params.publickey_b64, "login URL: publickey");
  if (!app_x.ok() || app_x->size() != 32) {
    return Status::InvalidArgument("login URL: publickey is not base64 of 32 bytes");
  }
  std::string plain = shared.dump();
  uint8_t nonce[crypto_box_NONCEBYTES];
  randombytes_buf(nonce, sizeof nonce);
  auto user_x = CurveSecret(user_sk);
  std::string cipher(plain.size() + crypto_box_MACBYTES, '\0');
  int boxed = crypto_box_easy(reinterpret_cast<unsigned char*>(cipher.data()), U(plain),
                              plain.size(), nonce, U(*app_x), user_x.data());
  sodium_memzero(user_x.data(), user_x.size());
  if (boxed != 0) return Status::InvalidArgument("login URL: publickey is not a usable curve25519 key");
  sodium_memzero(plain.data(), plain.size());
  sodium_memzero(user_sk.data(), user_sk.size());
  json msg{{"signedState", params.state},
           {"data", {{"nonce", Base64Encode(Str(nonce, sizeof nonce))},
                     {"ciphertext", Base64Encode(cipher)}}},
           {"selectedImageId", 1},
           {"doubleName", user.double_name},
           {"randomRoom", "devnet-room"},
           {"appId", params.appid}};
  std::string m = msg.dump();
  std::array<uint8_t, 32> spk{};
  std::array<uint8_t, 64> ssk{};
  crypto_sign_seed_keypair(spk.data(), ssk.data(), signer_seed.data());
  std::string sm(m.size() + crypto_sign_BYTES, '\0');
  unsigned long long smlen = 0;
  crypto_sign(reinterpret_cast<unsigned char*>(sm.data()), &smlen, U(m), m.size(), ssk.data());
  sodium_memzero(ssk.data(), ssk.size());
  sm.resize(smlen);
  json wrap{{"signedAttempt", Base64Encode(sm)}, {"doubleName", user.double_name}};
  return fmt::format("http://{}{}?signedAttempt={}", params.appid, params.redirect_url,
                     UrlEncode(wrap.dump()));
}

std::string PhoneRefusalUrl(const LoginUrlParams& params) {
  return fmt::format("http://{}{}?error=CancelledByUser", params.appid, params.redirect_url);
}

// --- Connect -> qstor ------------------------------------------------------------------

Result<std::string> ConnectMnemonic(const std::array<uint8_t, 32>& derived_seed) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::array<uint8_t, 32> entropy{};
  crypto_generichash(entropy.data(), entropy.size(), U(kIdentityContext), kIdentityContext.size(),
                     derived_seed.data(), derived_seed.size());
  auto words = bip39::EntropyToMnemonic(entropy);
  sodium_memzero(entropy.data(), entropy.size());
  return words;
}

// --- the listener ------------------------------------------------------------------------

Result<CallbackListener> CallbackListener::Listen(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Unavailable(
        fmt::format("cannot listen on 127.0.0.1:{}: {}", port, std::strerror(e)));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return CallbackListener(fd, ntohs(a.sin_port));
}

CallbackListener::~CallbackListener() {
  if (fd_ >= 0) ::close(fd_);
}

CallbackListener::CallbackListener(CallbackListener&& o) noexcept : fd_(o.fd_), port_(o.port_) {
  o.fd_ = -1;
}

Result<std::string> CallbackListener::AcceptOne(std::string_view path, std::string_view page) {
  int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return Status::IOError(std::string("accept: ") + std::strerror(errno));
  timeval tv{5, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxCallbackBytes) {
    ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  auto reply = [&](int code, std::string_view reason, std::string_view body) {
    std::string r = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n{}",
        code, reason, body.size(), body);
    (void)!::send(c, r.data(), r.size(), MSG_NOSIGNAL);
    ::close(c);
  };
  size_t eol = req.find("\r\n");
  std::string line = req.substr(0, eol == std::string::npos ? req.size() : eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos || line.substr(0, sp1) != "GET") {
    reply(400, "Bad Request", "qstor: expected GET\n");
    return Status::NotFound("callback listener: not a GET request");
  }
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (std::string_view(target).substr(0, target.find('?')) != path) {
    reply(404, "Not Found", "qstor: not the login callback\n");
    return Status::NotFound("callback listener: request for another path");
  }
  reply(200, "OK", page);
  return target;
}

}  // namespace qstor::grid::connect
