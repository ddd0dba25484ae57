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
#include <nlohmann/json.hpp>

#include "grid/bip39.h"
#include "reconciler/connect_profile.h"

namespace qstor::reconciler {
namespace {

namespace fs = std::filesystem;

const char* kWords =
    "marble crisp cover huge yellow quick warm pudding spatial engage unfair million";
const char* kAddress = "5HJNEJ6KCG8PDzXC7ZeNDJetktYzpyPXi8GLVagP8fvC8tdH";  // subkey, ed25519
const KeystoreKdf kFast{1, 1 << 20};  // tests only; the default is INTERACTIVE

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
  EXPECT_EQ(r.out, std::string(kAddress) + "\n");
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
