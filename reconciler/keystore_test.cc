// The keystore: round trip, permissions, wrong passphrase, tampering, and
// `qstor init` / `qstor wallet address` driven like a pipeline would.
#include "reconciler/keystore.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sodium.h>
#include <nlohmann/json.hpp>

#include "grid/bip39.h"
#include "grid/crypto.h"
#include "reconciler/connect_profile.h"

namespace qstor::reconciler {
namespace {

namespace fs = std::filesystem;

const char* kWords =
    "marble crisp cover huge yellow quick warm pudding spatial engage unfair million";
const char* kAddress = "5HJNEJ6KCG8PDzXC7ZeNDJetktYzpyPXi8GLVagP8fvC8tdH";  // subkey, ed25519
const KeystoreKdf kFast{1, 1 << 20};  // tests only; the default is INTERACTIVE

// GRID-V3 7.4 / grid/identity_test.cc: polkadot.js keyring 14's phrase, whose
// ed25519 (qstor's) and sr25519 (the TF dashboard's) addresses are known.
const char* kNeckWords = "neck stage box cup core magic produce exercise happy rely vocal then";
const char* kNeckEd25519 = "5EGtD8gtMcKPupQ187AY8VMx3SP6489nnFUv7b9cC2eRKiqw";
const char* kNeckSr25519 = "5EFsy5c74SbTa7yWs9TjRKEEfrHSYq4TDYXuPGThdKsonsFp";

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "qstor-ks-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Read(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(KeystoreTest, RoundTripWithPrivatePermissions) {
  std::string path = dir_ + "/home/sub/keystore.json";
  auto pub = WriteKeystore(path, kWords, "correct horse", false, kFast);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->address, kAddress);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/home/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // No word of the mnemonic is on disk in clear.
  std::string raw = Read(path);
  for (const char* w : {"marble", "crisp", "pudding", "million"}) {
    EXPECT_EQ(raw.find(w), std::string::npos) << w;
  }
  auto words = ReadMnemonic(path, "correct horse");
  ASSERT_TRUE(words.ok()) << words.status().ToString();
  EXPECT_EQ(*words, kWords);
  auto p = ReadKeystorePublic(path);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->address, kAddress);
  auto id = OpenIdentity(path, "correct horse");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->Address(), kAddress);
  EXPECT_FALSE(OpenIdentity(path, "wrong horse").ok());
}

TEST_F(KeystoreTest, WrongPassphraseIsRefused) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kWords, "correct horse", false, kFast).ok());
  auto w = ReadMnemonic(path, "correct horsf");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(w.status().message().find("correct"), std::string::npos);
}

TEST_F(KeystoreTest, TamperedPublicFieldsOrCiphertextAreDetected) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kWords, "correct horse", false, kFast).ok());
  auto j = nlohmann::json::parse(Read(path));
  // Swap in another (valid) address: the AEAD's additional data changes.
  auto forged = j;
  forged["address"] = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
  std::ofstream(path, std::ios::trunc) << forged.dump();
  EXPECT_EQ(ReadMnemonic(path, "correct horse").status().code(),
            Status::Code::kUnauthenticated);
  auto flipped = j;
  std::string c = flipped["cipher"]["ciphertext"];
  c[0] = c[0] == '0' ? '1' : '0';
  flipped["cipher"]["ciphertext"] = c;
  std::ofstream(path, std::ios::trunc) << flipped.dump();
  EXPECT_EQ(ReadMnemonic(path, "correct horse").status().code(),
            Status::Code::kUnauthenticated);
  std::ofstream(path, std::ios::trunc) << "{not json";
  EXPECT_EQ(ReadMnemonic(path, "correct horse").status().code(), Status::Code::kCorruption);
  auto huge = j;
  huge["kdf"]["memlimit"] = 1ull << 40;  // a crafted file must not make us allocate 1 TiB
  std::ofstream(path, std::ios::trunc) << huge.dump();
  EXPECT_FALSE(ReadMnemonic(path, "correct horse").ok());
}

TEST_F(KeystoreTest, RefusesToOverwriteWithoutForceAndBadInput) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kWords, "correct horse", false, kFast).ok());
  auto again = WriteKeystore(path, kWords, "correct horse", false, kFast);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find(kAddress), std::string::npos);
  EXPECT_TRUE(WriteKeystore(path, kWords, "correct horse", true, kFast).ok());
  EXPECT_FALSE(WriteKeystore(dir_ + "/b.json", kWords, "short", false, kFast).ok());
  EXPECT_FALSE(WriteKeystore(dir_ + "/c.json", "marble crisp", "correct horse", false, kFast).ok());
  EXPECT_EQ(ReadKeystorePublic(dir_ + "/none.json").status().code(), Status::Code::kNotFound);
}

// The dashboard's sr25519 address is recorded beside qstor's own at init.
TEST_F(KeystoreTest, RecordsBothAddressesOfTheWords) {
  std::string path = dir_ + "/keystore.json";
  auto pub = WriteKeystore(path, kNeckWords, "correct horse", false, kFast);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->address, kNeckEd25519);
  EXPECT_EQ(pub->sr25519_address, kNeckSr25519);
  EXPECT_EQ(nlohmann::json::parse(Read(path))["sr25519_address"], kNeckSr25519);
  auto back = ReadKeystorePublic(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->address, kNeckEd25519);
  EXPECT_EQ(back->sr25519_address, kNeckSr25519);
  auto unlocked = ReadKeystorePublicUnlocked(path, "correct horse");
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().ToString();
  EXPECT_EQ(unlocked->sr25519_address, kNeckSr25519);
  EXPECT_EQ(ReadKeystorePublicUnlocked(path, "wrong horse").status().code(),
            Status::Code::kUnauthenticated);
}

// A keystore written before the field: unknown without the passphrase, then
// recorded by the first unlock, in place (0600, every other field and the
// connect part kept).
TEST_F(KeystoreTest, OlderKeystoreGetsTheSr25519AddressWhenUnlocked) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kNeckWords, "correct horse", false, kFast).ok());
  ASSERT_TRUE(WriteKeystoreConnect(path, "correct horse", R"({"doubleName":"demo.3bot"})").ok());
  auto old = nlohmann::json::parse(Read(path));
  old.erase("sr25519_address");
  { std::ofstream(path, std::ios::trunc) << old.dump(2) << "\n"; }
  ::chmod(path.c_str(), 0644);  // the rewrite must make it private again

  auto pub = ReadKeystorePublic(path);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->address, kNeckEd25519);
  EXPECT_EQ(pub->sr25519_address, "") << "unknown, never guessed";

  // The wrong passphrase changes nothing.
  EXPECT_FALSE(ReadMnemonic(path, "wrong horse").ok());
  EXPECT_FALSE(nlohmann::json::parse(Read(path)).contains("sr25519_address"));

  auto words = ReadMnemonic(path, "correct horse");
  ASSERT_TRUE(words.ok()) << words.status().ToString();
  auto now = nlohmann::json::parse(Read(path));
  EXPECT_EQ(now["sr25519_address"], kNeckSr25519);
  auto rest = now;
  rest.erase("sr25519_address");
  EXPECT_EQ(rest, old) << "the upgrade changed more than the new field";
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(ReadKeystorePublic(path)->sr25519_address, kNeckSr25519);
  auto connect = ReadKeystoreConnect(path, "correct horse");
  ASSERT_TRUE(connect.ok() && connect->has_value()) << connect.status().ToString();
  EXPECT_EQ(**connect, R"({"doubleName":"demo.3bot"})");
  // No leftover temporary beside it.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);

  // Through the Connect part too (login/whoami open the keystore that way).
  now.erase("sr25519_address");
  { std::ofstream(path, std::ios::trunc) << now.dump(2) << "\n"; }
  ASSERT_TRUE(ReadKeystoreConnect(path, "correct horse").ok());
  EXPECT_EQ(nlohmann::json::parse(Read(path))["sr25519_address"], kNeckSr25519);
}

// What an older qstor does with a new keystore: it knows nothing of the
// field, reads the format of docs/identity.md and decrypts with that
// additional data. Done here by hand, as such a reader would.
TEST_F(KeystoreTest, OlderReadersStillOpenAKeystoreWithTheField) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kNeckWords, "correct horse", false, kFast).ok());
  auto j = nlohmann::json::parse(Read(path));
  ASSERT_TRUE(j.contains("sr25519_address"));
  uint64_t ops = j["kdf"]["opslimit"], mem = j["kdf"]["memlimit"];
  auto salt = grid::HexDecode(j["kdf"]["salt"].get<std::string>());
  auto nonce = grid::HexDecode(j["cipher"]["nonce"].get<std::string>());
  auto cipher = grid::HexDecode(j["cipher"]["ciphertext"].get<std::string>());
  ASSERT_TRUE(salt.ok() && nonce.ok() && cipher.ok());
  const std::string ad = "qstor-keystore/v1|" + j["public_key"].get<std::string>() + "|" +
                         j["address"].get<std::string>() + "|argon2id13|" + std::to_string(ops) +
                         "|" + std::to_string(mem) + "|xchacha20poly1305-ietf";
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  const std::string pass = "correct horse";
  ASSERT_EQ(crypto_pwhash(key, sizeof key, pass.data(), pass.size(),
                          reinterpret_cast<const uint8_t*>(salt->data()), ops, mem,
                          crypto_pwhash_ALG_ARGON2ID13),
            0);
  std::string plain(cipher->size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long plen = 0;
  EXPECT_EQ(crypto_aead_xchacha20poly1305_ietf_decrypt(
                reinterpret_cast<uint8_t*>(plain.data()), &plen, nullptr,
                reinterpret_cast<const uint8_t*>(cipher->data()), cipher->size(),
                reinterpret_cast<const uint8_t*>(ad.data()), ad.size(),
                reinterpret_cast<const uint8_t*>(nonce->data()), key),
            0);
  plain.resize(plen);
  EXPECT_EQ(plain, kNeckWords);
}

TEST_F(KeystoreTest, AWrongOrMalformedSr25519AddressIsCaught) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kNeckWords, "correct horse", false, kFast).ok());
  auto j = nlohmann::json::parse(Read(path));
  auto other = j;
  other["sr25519_address"] = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";  // Alice
  { std::ofstream(path, std::ios::trunc) << other.dump(); }
  EXPECT_EQ(ReadKeystorePublic(path)->sr25519_address,
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
      << "not authenticated before an unlock, as the other public fields";
  auto w = ReadMnemonic(path, "correct horse");
  EXPECT_EQ(w.status().code(), Status::Code::kCorruption);
  EXPECT_NE(w.status().message().find("sr25519_address"), std::string::npos)
      << w.status().ToString();
  EXPECT_EQ(nlohmann::json::parse(Read(path))["sr25519_address"],
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
      << "a wrong value is reported, not silently replaced";
  auto bad = j;
  bad["sr25519_address"] = "not-an-address";
  { std::ofstream(path, std::ios::trunc) << bad.dump(); }
  EXPECT_EQ(ReadKeystorePublic(path).status().code(), Status::Code::kCorruption);
  bad["sr25519_address"] = 42;
  { std::ofstream(path, std::ios::trunc) << bad.dump(); }
  EXPECT_EQ(ReadKeystorePublic(path).status().code(), Status::Code::kCorruption);
}

// When the upgrade cannot be written (a read-only directory), the unlock
// still works and the computed address is still given to the caller.
TEST_F(KeystoreTest, UpgradeThatCannotBeWrittenDoesNotFailTheUnlock) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into a read-only directory";
  std::string sub = dir_ + "/ro";
  std::string path = sub + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kNeckWords, "correct horse", false, kFast).ok());
  auto old = nlohmann::json::parse(Read(path));
  old.erase("sr25519_address");
  { std::ofstream(path, std::ios::trunc) << old.dump(); }
  ::chmod(sub.c_str(), 0500);
  auto pub = ReadKeystorePublicUnlocked(path, "correct horse");
  ::chmod(sub.c_str(), 0700);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->sr25519_address, kNeckSr25519);
  EXPECT_FALSE(nlohmann::json::parse(Read(path)).contains("sr25519_address"));
}

TEST_F(KeystoreTest, PassphraseComesFromTheEnvironmentInPipelines) {
  ::setenv("QSTOR_PASSPHRASE", "from env 123", 1);
  auto p = ObtainPassphrase("Passphrase: ", true);
  ::unsetenv("QSTOR_PASSPHRASE");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "from env 123");
}

// ---- the CLI, run as a pipeline would (no terminal) ----------------------

struct CliRun {
  int code;
  std::string out, err;
};

CliRun Qstor(const std::string& env, const std::string& args, const std::string& dir) {
  const char* bin = std::getenv("QSTOR_BIN");
  std::string out = dir + "/out.txt", err = dir + "/err.txt";
  std::string cmd = "env -u QSTOR_PASSPHRASE -u QSTOR_MNEMONIC " + env + " '" + bin + "' " +
                    args + " >'" + out + "' 2>'" + err + "' </dev/null";
  int rc = std::system(("setsid " + cmd).c_str());
  CliRun r{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, {}, {}};
  std::ifstream fo(out), fe(err);
  std::stringstream so, se;
  so << fo.rdbuf();
  se << fe.rdbuf();
  r.out = so.str();
  r.err = se.str();
  return r;
}

TEST_F(KeystoreTest, InitImportsFromEnvAndFileAndNeverPrintsTheWords) {
  if (std::getenv("QSTOR_BIN") == nullptr) GTEST_SKIP() << "QSTOR_BIN not set";
  std::string home = "QSTOR_HOME='" + dir_ + "/h1'";
  CliRun r = Qstor(home + " QSTOR_PASSPHRASE='pipeline pass' QSTOR_MNEMONIC='" + kWords + "'",
                "init", dir_);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(kAddress), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("marble"), std::string::npos) << "imported words were printed";
  EXPECT_EQ(r.err.find("marble"), std::string::npos);

  // Again without --force: refused, names the existing twin.
  r = Qstor(home + " QSTOR_PASSPHRASE='pipeline pass' QSTOR_MNEMONIC='" + kWords + "'", "init",
            dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;

  // wallet address needs no passphrase.
  r = Qstor(home, "wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(kAddress), std::string::npos) << r.out;
  r = Qstor(home, "--json wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["address"], kAddress);

  // From a file, with a typo: a did-you-mean, nothing written.
  std::string f = dir_ + "/words.txt";
  std::string typo = kWords;
  typo.replace(typo.find("pudding"), 7, "puding");
  std::ofstream(f) << typo << "\n";
  r = Qstor("QSTOR_HOME='" + dir_ + "/h2' QSTOR_PASSPHRASE='pipeline pass'",
            "init --mnemonic-file '" + f + "'", dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("did you mean \"pudding\""), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/h2/keystore.json"));

  // No passphrase and no terminal: a clear error.
  r = Qstor("QSTOR_HOME='" + dir_ + "/h3' QSTOR_MNEMONIC='" + kWords + "'", "init", dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("QSTOR_PASSPHRASE"), std::string::npos) << r.err;
}

// `qstor wallet address`: both addresses, labelled, and which one to fund;
// for a keystore older than the field, "unknown" until an unlock.
TEST_F(KeystoreTest, WalletAddressShowsQstorsAndTheDashboardsAddress) {
  if (std::getenv("QSTOR_BIN") == nullptr) GTEST_SKIP() << "QSTOR_BIN not set";
  const std::string home = "QSTOR_HOME='" + dir_ + "/h'";
  const std::string path = dir_ + "/h/keystore.json";
  CliRun r = Qstor(home + " QSTOR_PASSPHRASE='pipeline pass' QSTOR_MNEMONIC='" + kNeckWords + "'",
                   "--json init", dir_);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto ij = nlohmann::json::parse(r.out);
  EXPECT_EQ(ij["address"], kNeckEd25519);
  EXPECT_EQ(ij["sr25519_address"], kNeckSr25519);

  r = Qstor(home, "wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string l1, l2, l3, extra;
  std::getline(lines, l1);
  std::getline(lines, l2);
  std::getline(lines, l3);
  EXPECT_FALSE(std::getline(lines, extra)) << r.out;
  EXPECT_NE(l1.find("qstor"), std::string::npos) << r.out;
  EXPECT_NE(l1.find("ed25519"), std::string::npos) << r.out;
  EXPECT_NE(l1.find(kNeckEd25519), std::string::npos) << r.out;
  EXPECT_NE(l2.find("dashboard"), std::string::npos) << r.out;
  EXPECT_NE(l2.find("sr25519"), std::string::npos) << r.out;
  EXPECT_NE(l2.find(kNeckSr25519), std::string::npos) << r.out;
  EXPECT_NE(l3.find("Send TFT to the qstor address"), std::string::npos) << r.out;
  EXPECT_NE(l3.find("does not reach qstor"), std::string::npos) << r.out;
  r = Qstor(home, "--json wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["address"], kNeckEd25519);
  EXPECT_EQ(j["sr25519_address"], kNeckSr25519);

  // A keystore from before the field, no passphrase: unknown, and how to fix it.
  auto old = nlohmann::json::parse(Read(path));
  old.erase("sr25519_address");
  { std::ofstream(path, std::ios::trunc) << old.dump(2) << "\n"; }
  r = Qstor(home, "wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(kNeckEd25519), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kNeckSr25519), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--passphrase-file"), std::string::npos) << r.out;
  r = Qstor(home, "--json wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["sr25519_address"].is_null()) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(Read(path)).contains("sr25519_address"));

  // A wrong passphrase given: an error, nothing written.
  std::string pf = dir_ + "/pass.txt";
  { std::ofstream(pf) << "not the passphrase\n"; }
  r = Qstor(home, "--passphrase-file '" + pf + "' wallet address", dir_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(Read(path)).contains("sr25519_address"));
  // With --passphrase-file: known, and recorded in the keystore.
  { std::ofstream(pf, std::ios::trunc) << "pipeline pass\n"; }
  r = Qstor(home, "--passphrase-file '" + pf + "' --json wallet address", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["sr25519_address"], kNeckSr25519);
  EXPECT_EQ(nlohmann::json::parse(Read(path))["sr25519_address"], kNeckSr25519);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  r = Qstor(home, "--json wallet address", dir_);
  EXPECT_EQ(nlohmann::json::parse(r.out)["sr25519_address"], kNeckSr25519) << r.out;
}

TEST_F(KeystoreTest, InitCreatesAFreshMnemonicShownOnce) {
  if (std::getenv("QSTOR_BIN") == nullptr) GTEST_SKIP() << "QSTOR_BIN not set";
  std::string env = "QSTOR_HOME='" + dir_ + "/h' QSTOR_PASSPHRASE='pipeline pass'";
  CliRun r = Qstor(env, "--json init", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::string words = j["mnemonic"];
  EXPECT_TRUE(grid::bip39::ValidateMnemonic(words).ok());
  EXPECT_EQ(std::count(words.begin(), words.end(), ' '), 23);
  auto back = ReadMnemonic(dir_ + "/h/keystore.json", "pipeline pass");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, words);
  EXPECT_EQ(j["address"], ReadKeystorePublic(dir_ + "/h/keystore.json")->address);
}

// The Connect profile: the keystore's second sealed part, and the sealed
// file of a login made before `qstor init`.
TEST_F(KeystoreTest, ConnectPartIsSealedAndBoundToTheKeystore) {
  std::string path = dir_ + "/keystore.json";
  ASSERT_TRUE(WriteKeystore(path, kWords, "passphrase-1", false, kFast).ok());
  auto none = ReadKeystoreConnect(path, "passphrase-1");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  const std::string profile = R"({"doubleName":"demo.3bot","email":"secret-mail@x"})";
  ASSERT_TRUE(WriteKeystoreConnect(path, "passphrase-1", profile).ok());
  EXPECT_EQ(Read(path).find("secret-mail"), std::string::npos) << "the profile is in clear";
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto got = ReadKeystoreConnect(path, "passphrase-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, profile);
  // The words still open, and a wrong passphrase opens nothing.
  EXPECT_TRUE(ReadMnemonic(path, "passphrase-1").ok());
  EXPECT_EQ(ReadKeystoreConnect(path, "wrong passphrase").status().code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ(WriteKeystoreConnect(path, "wrong passphrase", "{}").code(),
            Status::Code::kUnauthenticated);
  // Moving the connect part onto another keystore (same passphrase) fails:
  // its additional data names the keystore's public key.
  std::string other = dir_ + "/other.json";
  ASSERT_TRUE(WriteKeystore(other, "clean upper fan mesh trial thank hold stairs faith lunar "
                                   "cart abandon", "passphrase-1", false, kFast).ok());
  auto a = nlohmann::json::parse(Read(path));
  auto b = nlohmann::json::parse(Read(other));
  b["connect"] = a["connect"];
  { std::ofstream(other) << b.dump(); }
  EXPECT_FALSE(ReadKeystoreConnect(other, "passphrase-1").ok());
}

TEST_F(KeystoreTest, SealedFileRoundTripAndLabels) {
  std::string path = ConnectLoginPath(dir_);
  EXPECT_EQ(path, dir_ + "/connect-login.json");
  EXPECT_EQ(ReadSealedFile(path, "connect-login", "passphrase-1").status().code(),
            Status::Code::kNotFound);
  ASSERT_TRUE(WriteSealedFile(path, "connect-login", "derived-secret", "passphrase-1", kFast).ok());
  EXPECT_EQ(Read(path).find("derived-secret"), std::string::npos);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto got = ReadSealedFile(path, "connect-login", "passphrase-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "derived-secret");
  EXPECT_EQ(ReadSealedFile(path, "connect-login", "passphrase-2").status().code(),
            Status::Code::kUnauthenticated);
  EXPECT_FALSE(ReadSealedFile(path, "other-kind", "passphrase-1").ok());
  EXPECT_FALSE(WriteSealedFile(path, "connect-login", "x", "short", kFast).ok());
}

TEST_F(KeystoreTest, ConnectProfileGoesToTheLoginFileThenIntoTheKeystore) {
  ConnectProfile p;
  p.double_name = "demo.3bot";
  p.email = "demo@devnet.local";
  p.email_verified = true;
  p.network = "devnet";
  std::array<uint8_t, 32> seed{};
  seed.fill(7);
  p.derived_seed = seed;
  EXPECT_EQ(LoadConnectProfile(dir_, "passphrase-1").status().code(), Status::Code::kNotFound);
  // No keystore: the sealed login file.
  auto where = SaveConnectProfile(dir_, "passphrase-1", p);
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  EXPECT_EQ(*where, ConnectLoginPath(dir_));
  auto back = LoadConnectProfile(dir_, "passphrase-1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->double_name, "demo.3bot");
  EXPECT_TRUE(back->email_verified);
  ASSERT_TRUE(back->derived_seed.has_value());
  EXPECT_EQ(*back->derived_seed, seed);
  EXPECT_EQ(LoadConnectProfile(dir_, "passphrase-2").status().code(), Status::Code::kUnauthenticated);
  // A keystore appears: the profile moves into it and the file goes.
  ASSERT_TRUE(WriteKeystore(KeystorePath(dir_), kWords, "passphrase-1", false, kFast).ok());
  back->identity_from_connect = true;
  ASSERT_TRUE(AdoptConnectProfile(dir_, "passphrase-1", *back).ok());
  EXPECT_FALSE(fs::exists(ConnectLoginPath(dir_)));
  auto in_ks = LoadConnectProfile(dir_, "passphrase-1");
  ASSERT_TRUE(in_ks.ok()) << in_ks.status().ToString();
  EXPECT_TRUE(in_ks->identity_from_connect);
  EXPECT_EQ(Read(KeystorePath(dir_)).find("demo.3bot"), std::string::npos);
  EXPECT_FALSE(ConnectProfile::FromJson("{}").ok());
  EXPECT_FALSE(ConnectProfile::FromJson(R"({"version":1,"double_name":"x","derived_seed":"QUFB"})").ok());
}

TEST_F(KeystoreTest, UsedLoginStatesAreRemembered) {
  std::string home = dir_ + "/fresh-home";
  EXPECT_TRUE(LoadUsedConnectStates(home).empty());
  ASSERT_TRUE(RecordUsedConnectState(home, "StateOne", 1000).ok());
  ASSERT_TRUE(RecordUsedConnectState(home, "StateTwo", 1000 + 31 * 86400).ok());
  auto used = LoadUsedConnectStates(home);
  EXPECT_EQ(used.count("StateTwo"), 1u);
  EXPECT_EQ(used.count("StateOne"), 0u) << "older than 30 days";
}

}  // namespace
}  // namespace qstor::reconciler
