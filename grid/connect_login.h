// ThreeFold Connect login ("identify", GRID-V3 section 6): the login URL an
// app shows, the callback the browser brings back, and the app-side checks of
// the signed attempt. Also the phone's side (signing an attempt, the
// derivedSeed), used by the devnet to play the app, and the step from a
// derivedSeed to a qstor mnemonic. docs/identity.md documents every value.
//
// Contract:
//  - Pure functions and values; nothing here does network I/O except
//    CallbackListener (one socket on 127.0.0.1). Nothing logs.
//  - Every parser refuses malformed input with kInvalidArgument and a message
//    that names the field (and, for the verification, which check failed:
//    messages start with "<check>: ", e.g. "signature: ...", "state: ...").
//  - kAppId never changes: the phone derives the per-app derivedSeed from it,
//    so a new value would give every user a different qstor identity.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/status.h"
#include "grid/crypto.h"

namespace qstor::grid::connect {

// The appid qstor sends (the host of its callback: 127.0.0.1, port 47817).
// Pinned by ConnectLogin.AppIdIsPinned; see docs/identity.md before touching.
inline constexpr std::string_view kAppId = "127.0.0.1:47817";
inline constexpr uint16_t kCallbackPort = 47817;
inline constexpr std::string_view kRedirectPath = "/callback";
// The login service of the real grid (all of main/test/qa/dev use it).
inline constexpr std::string_view kMainLoginUrl = "https://login.threefold.me";
inline constexpr std::string_view kMainKycUrl = "https://openkyc.live";
// The context of the Connect -> qstor identity step (ConnectMnemonic).
inline constexpr std::string_view kIdentityContext = "qstor-identity-from-connect-v1";
// How long a login request may wait for its callback.
inline constexpr int64_t kMaxAttemptAgeSeconds = 600;
// Bounds of what the parsers accept.
inline constexpr size_t kMaxCallbackBytes = 64 * 1024;

// Standard base64 with padding (what the app and the SDK use). Decode
// accepts the URL-unsafe alphabet only; `what` names the field in errors.
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text, std::string_view what);
// %XX and '+' decoding / RFC 3986 unreserved-only encoding, for query values.
Result<std::string> UrlDecode(std::string_view s, std::string_view what);
std::string UrlEncode(std::string_view s);

// The app's session key (an ed25519 keypair; qstor makes a fresh one per
// login). Wipes its secret when destroyed.
class AppKey {
 public:
  static AppKey Generate();
  static AppKey FromSeed(const std::array<uint8_t, 32>& seed);
  ~AppKey();
  AppKey(const AppKey&) = default;
  AppKey& operator=(const AppKey&) = default;
  const PublicKey& ed_public_key() const { return pk_; }
  // base64(crypto_sign_ed25519_pk_to_curve25519(pk)): the URL's publickey.
  std::string CurvePublicKeyBase64() const;
  // crypto_box_open_easy(ciphertext, nonce, curve(user_pk), curve(app sk)).
  Result<std::string> Open(std::string_view ciphertext, std::string_view nonce,
                           const PublicKey& user_pk) const;

 private:
  AppKey() = default;
  PublicKey pk_{};
  std::array<uint8_t, 64> sk_{};
};

// What the login URL asks for.
struct Scope {
  bool double_name = true;
  bool email = true;
  bool derived_seed = true;
  bool wallet_address = false;
  std::string Json() const;  // {"doubleName":true,...}: compact, fixed key order
};

struct LoginRequest {
  std::string state;         // 32 alphanumeric characters (libsodium randomness)
  std::string appid;         // kAppId
  std::string redirect_url;  // kRedirectPath
  Scope scope;
  AppKey app_key;
  int64_t created_unix = 0;
};
Result<LoginRequest> NewLoginRequest(const Scope& scope = {}, std::string_view appid = kAppId,
                                     std::string_view redirect = kRedirectPath);
// <login_base>/?state=..&appid=..&publickey=..&redirecturl=..&scope=..
std::string LoginUrl(const LoginRequest& r, std::string_view login_base);

// A login URL read back (what the phone does with the QR it scanned).
struct LoginUrlParams {
  std::string base;  // scheme://host[:port] (no trailing slash)
  std::string state, appid, publickey_b64, redirect_url, scope_json;
};
Result<LoginUrlParams> ParseLoginUrl(std::string_view url);

// The callback: `//<appid><redirecturl>?signedAttempt=<urlencoded JSON
// {"signedAttempt": "<base64>", "doubleName": "<name>"}>`. Accepts a full URL,
// a request target ("/callback?..."), or just the query ("?signedAttempt=..").
// A callback carrying `error=` (the devnet's refusal, docs/identity.md) fails
// with kPermissionDenied "refused: ...".
struct CallbackAttempt {
  std::string signed_attempt;  // raw bytes (base64-decoded): crypto_sign attached form
  std::string double_name;
};
Result<CallbackAttempt> ParseCallbackUrl(std::string_view url);

// `GET <base>/api/users/<doubleName>` and its answer
// {"doublename": .., "publicKey": base64(ed25519 pk)}.
std::string UsersApiUrl(std::string_view login_base, std::string_view double_name);
Result<PublicKey> ParseUserPublicKey(std::string_view body, std::string_view double_name);
// A doubleName: 1..128 of [A-Za-z0-9._-] (it goes into a URL path).
Status CheckDoubleName(std::string_view name);

// What the phone shared, decrypted and checked.
struct ScopeData {
  std::string double_name;
  std::optional<std::string> email;
  std::optional<std::string> email_sei;     // signed email identifier (verify with KYC)
  std::optional<std::array<uint8_t, 32>> derived_seed;
  std::optional<std::string> wallet_address;
};

// The app-side verification, in this order (each failure names its check):
//   expiry     the request is older than max_age (or from the future);
//   signature  crypto_sign_open with `user_pk` (the users API's key);
//   attempt    the opened message is JSON with the expected fields;
//   doubleName the message's doubleName == the callback's;
//   replay     signedState was already consumed (`used_states`);
//   state      signedState == request.state;
//   appId      appId == request.appid;
//   data       present (not null), nonce 24 B, crypto_box_open succeeds;
//   scope      the decrypted JSON is an object; derivedSeed (when present)
//              is base64 of 32 bytes; email an object {email, sei}.
struct VerifyOptions {
  int64_t now_unix = 0;
  int64_t max_age_seconds = kMaxAttemptAgeSeconds;
  const std::set<std::string>* used_states = nullptr;
};
Result<ScopeData> VerifyAttempt(const LoginRequest& request, const CallbackAttempt& attempt,
                                const PublicKey& user_pk, const VerifyOptions& options);

// --- The phone's side (the devnet plays it; tests use it) -------------------

// derivedSeed = PBKDF2-HMAC-SHA256(password = base64(user_sk), salt = appid,
// 1000 iterations, 32 bytes) with user_sk the 64-byte libsodium ed25519
// secret key (seed || pk). GRID-V3 marks the key's byte form UNCONFIRMED:
// this is the one place to change it.
std::array<uint8_t, 32> DerivedSeed(const std::array<uint8_t, 64>& user_sk, std::string_view appid);

struct PhoneUser {
  std::string double_name;
  std::string email;
  std::string email_sei;
  std::array<uint8_t, 32> seed{};  // the user's ed25519 seed
};
// The callback query value of an attempt for `params`: the message
// {"signedState","data":{nonce,ciphertext},"selectedImageId","doubleName",
// "randomRoom","appId"} with the scope's fields sealed by crypto_box_easy to
// the app's curve key, crypto_sign (attached) with the user's key, wrapped in
// {"signedAttempt","doubleName"}. `signer_seed` signs (normally user.seed; a
// different one forges). Returns the full callback URL
// http://<appid><redirecturl>?signedAttempt=...
Result<std::string> PhoneSignAttempt(const LoginUrlParams& params, const PhoneUser& user,
                                     const std::array<uint8_t, 32>& signer_seed);
// The callback URL of a refusal (`?error=CancelledByUser`).
std::string PhoneRefusalUrl(const LoginUrlParams& params);

// --- Connect -> qstor identity ----------------------------------------------

// 32 bytes of BIP39 entropy = BLAKE2b-256(key = derivedSeed, message =
// kIdentityContext), as 24 words. The same derivedSeed always gives the same
// words; `qstor wallet export-mnemonic` shows them.
Result<std::string> ConnectMnemonic(const std::array<uint8_t, 32>& derived_seed);

// --- The local callback listener --------------------------------------------

// Listens on 127.0.0.1:`port` (0 = any free port) for the browser's GET of
// the callback; answers a small page and returns the request target.
class CallbackListener {
 public:
  static Result<CallbackListener> Listen(uint16_t port);
  ~CallbackListener();
  CallbackListener(CallbackListener&& o) noexcept;
  CallbackListener& operator=(CallbackListener&&) = delete;
  CallbackListener(const CallbackListener&) = delete;
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }
  // Accepts one connection (the listening socket must be readable), reads
  // one request (at most kMaxCallbackBytes, 5 s), answers `page` and returns
  // the request target. Requests other than GET of `path` get a 404 and
  // kNotFound so the caller can go on waiting.
  Result<std::string> AcceptOne(std::string_view path, std::string_view page);

 private:
  CallbackListener(int fd, uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace qstor::grid::connect
