// ThreeFold Connect login: the vectors computed by the published login SDK
// (tests/connect/vectors.json, made and re-checked by tests/connect/check.mjs
// with @threefoldjimber/threefold_login 1.4.0), and every refusal.
#include "grid/connect_login.h"

#include <sodium.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grid/bip39.h"

namespace qstor::grid::connect {
namespace {

std::array<uint8_t, 32> Fill(uint8_t b) {
  std::array<uint8_t, 32> a{};
  a.fill(b);
  return a;
}

nlohmann::json Vectors() {
  std::ifstream f(std::string(QSTOR_SOURCE_DIR) + "/tests/connect/vectors.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

PublicKey PkOf(const std::array<uint8_t, 32>& seed) {
  PublicKey pk{};
  std::array<uint8_t, 64> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  return pk;
}

std::array<uint8_t, 64> SkOf(const std::array<uint8_t, 32>& seed) {
  PublicKey pk{};
  std::array<uint8_t, 64> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  return sk;
}

LoginRequest Request(const std::array<uint8_t, 32>& app_seed, const std::string& state) {
  LoginRequest r{state, std::string(kAppId), std::string(kRedirectPath), Scope{},
                 AppKey::FromSeed(app_seed), 1000};
  return r;
}

VerifyOptions At(int64_t now, const std::set<std::string>* used = nullptr) {
  VerifyOptions o;
  o.now_unix = now;
  o.used_states = used;
  return o;
}

TEST(ConnectLogin, AppIdAndContextArePinned) {
  // derivedSeed = PBKDF2(.., salt = appid): a new value gives every user a
  // new qstor identity. Never change these (docs/identity.md).
  EXPECT_EQ(kAppId, "127.0.0.1:47817");
  EXPECT_EQ(kCallbackPort, 47817);
  EXPECT_EQ(kRedirectPath, "/callback");
  EXPECT_EQ(kIdentityContext, "qstor-identity-from-connect-v1");
}

TEST(ConnectLogin, MatchesTheVectorsOfThePublishedSdk) {
  auto v = Vectors();
  EXPECT_EQ(v["app_id"], std::string(kAppId));
  // publickey of the login URL: base64(ed25519 pk -> curve25519), as the SDK's getEdPkInCurve.
  AppKey app = AppKey::FromSeed(Fill(0x11));
  EXPECT_EQ(app.CurvePublicKeyBase64(), v["app_public_curve_b64"].get<std::string>());
  EXPECT_EQ(Scope{}.Json(), v["login_url_scope"].get<std::string>());
  // The user's key as the users API would give it.
  EXPECT_EQ(Base64Encode(std::string(reinterpret_cast<const char*>(PkOf(Fill(0x22)).data()), 32)),
            v["user_public_b64"].get<std::string>());
  // derivedSeed as the app computes it (the SDK-side script used Node's PBKDF2).
  auto ds = DerivedSeed(SkOf(Fill(0x22)), kAppId);
  EXPECT_EQ(Base64Encode(std::string(reinterpret_cast<const char*>(ds.data()), 32)),
            v["derived_seed_b64"].get<std::string>());
  // The SDK-made callback verifies here: signature, state, appId, crypto_box.
  auto cb = ParseCallbackUrl(v["callback_url"].get<std::string>());
  ASSERT_TRUE(cb.ok()) << cb.status().ToString();
  EXPECT_EQ(cb->double_name, "demo.3bot");
  LoginRequest req = Request(Fill(0x11), v["state"].get<std::string>());
  auto got = VerifyAttempt(req, *cb, PkOf(Fill(0x22)), At(1100));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->double_name, "demo.3bot");
  EXPECT_EQ(got->email.value_or(""), "demo@devnet.local");
  EXPECT_EQ(got->email_sei.value_or(""), "sei-of-the-vector");
  ASSERT_TRUE(got->derived_seed.has_value());
  EXPECT_EQ(*got->derived_seed, ds);
  // Connect -> qstor words.
  auto words = ConnectMnemonic(ds);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, v["connect_mnemonic"].get<std::string>());
  EXPECT_TRUE(bip39::ValidateMnemonic(*words).ok());
}

TEST(ConnectLogin, LoginUrlRoundTripsAndStateIsAlphanumeric) {
  auto r = NewLoginRequest();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state.size(), 32u);
  for (char c : r->state) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
  auto r2 = NewLoginRequest();
  EXPECT_NE(r->state, r2->state);
  std::string url = LoginUrl(*r, "https://login.threefold.me/");
  EXPECT_EQ(url.rfind("https://login.threefold.me/?state=" + r->state + "&appid=127.0.0.1%3A47817&", 0), 0u)
      << url;
  auto p = ParseLoginUrl(url);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->base, "https://login.threefold.me");
  EXPECT_EQ(p->state, r->state);
  EXPECT_EQ(p->appid, kAppId);
  EXPECT_EQ(p->redirect_url, "/callback");
  EXPECT_EQ(p->publickey_b64, r->app_key.CurvePublicKeyBase64());
  EXPECT_EQ(p->scope_json, R"({"doubleName":true,"email":true,"derivedSeed":true})");
  // The app reads '+' of the publickey back as a space and maps it back.
  std::string spaced = url;
  std::string enc = UrlEncode(r->app_key.CurvePublicKeyBase64());
  size_t at = spaced.find(enc);
  ASSERT_NE(at, std::string::npos);
  std::string alt = enc;
  for (size_t i; (i = alt.find("%2B")) != std::string::npos;) alt.replace(i, 3, "+");
  spaced.replace(at, enc.size(), alt);
  auto p2 = ParseLoginUrl(spaced);
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  EXPECT_EQ(p2->publickey_b64, p->publickey_b64);
}

// The phone side signs; the app side verifies. `mutate` breaks one thing.
struct Flow {
  LoginRequest req = std::move(NewLoginRequest()).value();
  PhoneUser user{"demo.3bot", "demo@devnet.local", "sei", Fill(0x44)};
  LoginUrlParams params() const {
    return std::move(ParseLoginUrl(LoginUrl(req, "http://127.0.0.1:1"))).value();
  }
  Result<ScopeData> Run(const LoginUrlParams& p, const std::array<uint8_t, 32>& signer,
                        const std::set<std::string>* used = nullptr) {
    auto url = PhoneSignAttempt(p, user, signer);
    if (!url.ok()) return url.status();
    EXPECT_EQ(url->rfind("http://127.0.0.1:47817/callback?signedAttempt=", 0), 0u) << *url;
    auto cb = ParseCallbackUrl(*url);
    if (!cb.ok()) return cb.status();
    return VerifyAttempt(req, *cb, PkOf(user.seed), At(req.created_unix + 5, used));
  }
};

TEST(ConnectLogin, PhoneAndAppAgree) {
  Flow f;
  auto got = f.Run(f.params(), f.user.seed);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->double_name, "demo.3bot");
  EXPECT_EQ(*got->email, "demo@devnet.local");
  EXPECT_EQ(*got->derived_seed, DerivedSeed(SkOf(Fill(0x44)), kAppId));
}

void ExpectRefused(const Result<ScopeData>& r, const std::string& check) {
  ASSERT_FALSE(r.ok()) << "accepted; expected the " << check << " check to refuse";
  EXPECT_EQ(r.status().message().rfind(check + ":", 0), 0u) << r.status().ToString();
}

TEST(ConnectLogin, ForgedAttemptIsRefusedBySignature) {
  Flow f;
  ExpectRefused(f.Run(f.params(), Fill(0x55)), "signature");
}

TEST(ConnectLogin, WrongStateIsRefused) {
  Flow f;
  auto p = f.params();
  p.state = "AnotherLoginsState";
  ExpectRefused(f.Run(p, f.user.seed), "state");
}

TEST(ConnectLogin, WrongAppIdIsRefused) {
  Flow f;
  auto p = f.params();
  p.appid = "evil.example";
  // Delivered (by hand) to qstor anyway: its appId check refuses it.
  auto url = PhoneSignAttempt(p, f.user, f.user.seed);
  ASSERT_TRUE(url.ok());
  auto cb = ParseCallbackUrl(*url);
  ASSERT_TRUE(cb.ok());
  ExpectRefused(VerifyAttempt(f.req, *cb, PkOf(f.user.seed), At(f.req.created_unix + 1)), "appId");
}

TEST(ConnectLogin, ReplayedStateIsRefused) {
  Flow f;
  std::set<std::string> used{f.req.state};
  ExpectRefused(f.Run(f.params(), f.user.seed, &used), "replay");
}

TEST(ConnectLogin, StaleRequestIsRefused) {
  Flow f;
  auto url = PhoneSignAttempt(f.params(), f.user, f.user.seed);
  auto cb = ParseCallbackUrl(*url);
  ASSERT_TRUE(cb.ok());
  ExpectRefused(VerifyAttempt(f.req, *cb, PkOf(f.user.seed),
                              At(f.req.created_unix + kMaxAttemptAgeSeconds + 1)),
                "expiry");
}

TEST(ConnectLogin, NameMismatchIsRefused) {
  Flow f;
  auto url = PhoneSignAttempt(f.params(), f.user, f.user.seed);
  auto cb = ParseCallbackUrl(*url);
  ASSERT_TRUE(cb.ok());
  cb->double_name = "other.3bot";
  ExpectRefused(VerifyAttempt(f.req, *cb, PkOf(f.user.seed), At(f.req.created_unix)),
                "doubleName");
}

TEST(ConnectLogin, DataSealedToAnotherAppKeyIsRefused) {
  Flow f;
  auto p = f.params();
  p.publickey_b64 = AppKey::FromSeed(Fill(0x66)).CurvePublicKeyBase64();
  ExpectRefused(f.Run(p, f.user.seed), "data");
}

TEST(ConnectLogin, ScopeWithoutDerivedSeedHasNone) {
  Flow f;
  auto p = f.params();
  p.scope_json = R"({"doubleName":true,"email":true})";
  auto got = f.Run(p, f.user.seed);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->derived_seed.has_value());
}

TEST(ConnectLogin, TruncatedOrBrokenCallbacksAreRefusedWithTheirField) {
  Flow f;
  auto url = *PhoneSignAttempt(f.params(), f.user, f.user.seed);
  // Truncated base64 inside the (re-encoded) JSON.
  auto j = nlohmann::json::parse(*UrlDecode(url.substr(url.find('=') + 1), "t"));
  std::string sa = j["signedAttempt"];
  j["signedAttempt"] = sa.substr(0, sa.size() - 3);
  auto r = ParseCallbackUrl("/callback?signedAttempt=" + UrlEncode(j.dump()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("signedAttempt: not valid base64"), std::string::npos)
      << r.status().ToString();
  // Truncated URL (the JSON cut).
  r = ParseCallbackUrl(url.substr(0, url.size() / 2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("callback"), std::string::npos) << r.status().ToString();
  for (const char* bad : {"", "/callback", "/callback?x=1", "/callback?signedAttempt=%ZZ",
                          "/callback?signedAttempt=%7B%7D", "/callback?signedAttempt=1",
                          "/callback?signedAttempt=%7B%22signedAttempt%22%3A%22QUFB%22%2C%22doubleName%22%3A%22a%2Fb%22%7D"}) {
    auto x = ParseCallbackUrl(bad);
    EXPECT_FALSE(x.ok()) << bad;
  }
  auto deny = ParseCallbackUrl(PhoneRefusalUrl(f.params()));
  ASSERT_FALSE(deny.ok());
  EXPECT_EQ(deny.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(deny.status().message().rfind("refused:", 0), 0u);
}

TEST(ConnectLogin, UsersApiAnswer) {
  std::string pk_b64 = Base64Encode(std::string(32, 'k'));
  auto ok = ParseUserPublicKey(R"({"doublename":"demo.3bot","publicKey":")" + pk_b64 + "\"}",
                               "demo.3bot");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0], 'k');
  EXPECT_FALSE(ParseUserPublicKey(R"({"doublename":"x.3bot","publicKey":")" + pk_b64 + "\"}",
                                  "demo.3bot").ok());
  EXPECT_FALSE(ParseUserPublicKey(R"({"publicKey":"QUFB"})", "demo.3bot").ok());
  EXPECT_FALSE(ParseUserPublicKey("not json", "demo.3bot").ok());
  EXPECT_EQ(UsersApiUrl("http://h:1/", "demo.3bot"), "http://h:1/api/users/demo.3bot");
  EXPECT_FALSE(CheckDoubleName("../x").ok());
}

TEST(ConnectLogin, ConnectMnemonicIsAFunctionOfTheDerivedSeed) {
  auto a = ConnectMnemonic(Fill(1)), b = ConnectMnemonic(Fill(1)), c = ConnectMnemonic(Fill(2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  int n = 0;
  std::istringstream in(*a);
  for (std::string w; in >> w;) ++n;
  EXPECT_EQ(n, 24);
}

}  // namespace
}  // namespace qstor::grid::connect
