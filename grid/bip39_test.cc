// BIP39 and PBKDF2-HMAC-SHA512 against published vectors.
#include "grid/bip39.h"

#include <sodium.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace qstor::grid::bip39 {
namespace {

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr),
            0);
  out.resize(len);
  return out;
}

std::string ToHex(std::span<const uint8_t> b) {
  std::string s(b.size() * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), b.data(), b.size());
  s.pop_back();
  return s;
}

TEST(Bip39Wordlist, EmbeddedFileHasTheStandardSha256) {
  std::string_view bytes = EnglishWordlistBytes();
  ASSERT_EQ(bytes.size(), 13116u);
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  EXPECT_EQ(ToHex(digest), kEnglishWordlistSha256);
}

TEST(Bip39Wordlist, Has2048UniqueSortedWordsUniqueInFourLetters) {
  auto list = EnglishWordlist();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const auto& words = **list;
  ASSERT_EQ(words.size(), 2048u);
  EXPECT_EQ(words.front(), "abandon");
  EXPECT_EQ(words.back(), "zoo");
  std::set<std::string> prefixes;
  for (const auto& w : words) prefixes.insert(w.substr(0, 4));
  EXPECT_EQ(prefixes.size(), 2048u);
}

// RFC 8018 PBKDF2 with HMAC-SHA512. The "password"/"salt" values are the
// commonly published PBKDF2-HMAC-SHA512 vectors; all were cross-checked with
// Python's hashlib.pbkdf2_hmac (an independent implementation).
struct PbkdfVector {
  std::string password, salt;
  uint32_t iterations;
  size_t length;
  std::string hex;
};

TEST(Pbkdf2HmacSha512, KnownVectors) {
  const PbkdfVector vectors[] = {
      {"password", "salt", 1, 64,
       "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe9"
       "43c08f050235d7d68b1da55e63f73b60a57fce"},
      {"password", "salt", 2, 64,
       "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53cf76cab2868a39b9f7840edce4f"
       "ef5a82be67335c77a6068e04112754f27ccf4e"},
      {"password", "salt", 4096, 64,
       "d197b1b33db0143e018b12f3d1d1479e6cdebdcc97c5c0f87f6902e072f457b5143f30602641b3d55cd335988c"
       "b36b84376060ecd532e039b742a239434af2d5"},
      {"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 64,
       "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71115b59f9e60cd9532fa33e0f75"
       "aefe30225c583a186cd82bd4daea9724a3d3b8"},
      {std::string("pass\0word", 9), std::string("sa\0lt", 5), 4096, 16,
       "9d9e9c4cd21fe4be24d5b8244c759665"},
      // Key longer than the HMAC block (hashed first), output spanning 3 blocks.
      {std::string(200, 'k'), "x", 3, 150,
       "c3ab31dae00666293dd049d1c5ef9bcbf59461f000f8717bd9084f97a82091e19850717fa49c76926c4331bee6"
       "51117fad647f0b79c1f9109e2b314d869b43cd44946945011f198fd808982806b027d769d1b2894ab97ad41ff5"
       "1e3b2304cbf8dd97f3ca91a3201b1694c91a4a69ca4faae61dcfa99954ebf955d5ba598d48564d7e18d8c6152e"
       "296dfd640512f43cf40cfece394eeb"},
  };
  for (const auto& v : vectors) {
    std::vector<uint8_t> out(v.length);
    ASSERT_TRUE(Pbkdf2HmacSha512(v.password,
                                 std::span(reinterpret_cast<const uint8_t*>(v.salt.data()),
                                           v.salt.size()),
                                 v.iterations, out)
                    .ok());
    EXPECT_EQ(ToHex(out), v.hex) << "iterations " << v.iterations;
  }
}

TEST(Pbkdf2HmacSha512, RejectsZeroIterationsAndEmptyOutput) {
  std::vector<uint8_t> out(8);
  EXPECT_FALSE(Pbkdf2HmacSha512("p", {}, 0, out).ok());
  EXPECT_FALSE(Pbkdf2HmacSha512("p", {}, 1, std::span<uint8_t>()).ok());
}

// The BIP39 English vectors of trezor/python-mnemonic (vectors.json):
// entropy -> mnemonic -> seed with passphrase "TREZOR". The first twelve
// seeds are the published ones; every seed was also recomputed with Python's
// hashlib.pbkdf2_hmac("sha512", words, "mnemonicTREZOR", 2048).
struct Bip39Vector {
  const char* entropy;
  const char* mnemonic;
  const char* seed;
};
const Bip39Vector kVectors[] = {
    {"00000000000000000000000000000000",
     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
     "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank yellow",
     "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607"},
    {"80808080808080808080808080808080",
     "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
     "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8"},
    {"ffffffffffffffffffffffffffffffff",
     "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
     "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069"},
    {"000000000000000000000000000000000000000000000000",
     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon agent",
     "035895f2f481b1b0f01fcf8c289c794660b289981a78f8106447707fdd9666ca06da5a9a565181599b79f53b844d8a71dd9f439c52a3d7b3e8a79c906ac845fa"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal will",
     "f2b94508732bcbacbcc020faefecfc89feafa6649a5491b8c952cede496c214a0c7b3c392d168748f2d4a612bada0753b52a1c7ac53c1e93abd5c6320b9e95dd"},
    {"808080808080808080808080808080808080808080808080",
     "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter always",
     "107d7c02a5aa6f38c58083ff74f04c607c2d2c0ecc55501dadd72d025b751bc27fe913ffb796f841c49b1d33b610cf0e91d3aa239027f5e99fe4ce9e5088cd65"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffff",
     "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo when",
     "0cd6e5d827bb62eb8fc1e262254223817fd068a74b5b449cc2f667c3f1f985a76379b43348d952e2265b4cd129090758b3e3c2c49103b5051aac2eaeb890a528"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
     "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title",
     "bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a4021b146ad717fbb7e451ce9eb835f43620bf5c514db0f8add49f5d121449d3e87"},
    {"8080808080808080808080808080808080808080808080808080808080808080",
     "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless",
     "c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
     "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad"},
    {"7dce4ed2284c9134d026608ab684c05c",
     "lava include region explain simple omit dog slot melt reflect copy reward",
     "dbc357660c90637d17704ff8d876e6992368bdf03e298fd1e20b2897e35abe92f0bf6ffe6ebc3063394b76a9edeba2f6d1da707ecf8a5f77b5579fe5efbac369"},
    {"0ce452419635c1a5faf44d60f2029f73fdc43419b4de1f03",
     "artefact card motor cluster foster spray type meadow genius mosquito pond tree sword borrow grocery orange business burger",
     "378b20cc763e0c535514cd2dda75dfd3edfb3c3a09f2a2b096bce82d14ea61837249797dc74b5dc0a5ec24f9c8fb244631447856b4a4a01322ca84d1574dfeb5"},
    {"00ac97c48106f0aeb8ba061e0250a559b3251dc35854e694780ba51d53a50120",
     "absent gorilla van acoustic humor firm title dolphin bulk barely citizen recall crane moment aspect appear track phrase actual enforce steel spoon afraid benefit",
     "2e3c58340e28b1e70f1bec7393459fd4c16058aacd6c87d99439616742daf02f9d18d919fe7c74a34a2a9d2b417e9a9021fcc8f820e257e355762cbbece5eea2"},
    {"5baf069620eff15c71dd97c9a6ee328f",
     "forum join pitch dove yellow purchase shuffle real situate danger million bunker",
     "eed313b15e2b092e3ffd91f3b7d4a0f2168657db0f9824fe723b574f994c9bf292e1518ea6c492ac7e5942eaffde5b70d8553cb3ebc36975e600da2537f881c5"},
    {"977f8287f9ed670b8489838ab0476a63b65d4df12f406e68",
     "number winter peanut video stool magic banana corn melt lion surround shuffle grape plunge seven trend hover dwarf",
     "cea1b18f030507fa368ee1bdad8142a1e877cd0f91149fe2f8d7a2a3f58b21afe43bf35426275d5042dffc03ca70354a735f58cb232d101b495378b81246e3fc"},
    {"3edc83b60740d77af3afa2fcb82c2f1bc541ee4e2518ddef4996d32453f54a3c",
     "disagree tomato unique attend aspect runway solid violin witness scrap armed daring favorite warm decade perfect target kid grant play early wide cigar night",
     "4cded2a55162f5243e54f1d36e2e7b748205db85f71f4d0b7fa4450628db50e96a55f285ca7c40cb46d52a384e68c603e12d51686608c3f8e2d13bac6effdd50"},
    {"63deb1e7f0c3de56f4ab43c9d2ae6c86",
     "glow void ketchup thunder digital clock sport half six nice open artefact",
     "13427e168b3da8627cfafea664a727883c92334e8d1ccffc74bdd886d6fa78565510fc46c93f03f0495823222b6e439ed7e72000b133cf50f9589a42464d1391"},
    {"e77c6500b49072aefdf0a8aa787cf557d1920e94103e0597",
     "trash tobacco dizzy hard already first water bench price sentence diary quick bomb also expect amazing airport royal",
     "36e9a58a142b210aacc05c870f34eb38fd663c67b66a41838d1baa7bd763310fe4a517c168b2a44b12ec0b7daf7fc5f7078cf1a2f148189801f78bba37dbdd65"},
    {"89bb4bc5555992cdaf3444c5e7ca5a6e9f27efab894f1990bae41be8b2a26ea4",
     "meadow surge vanish primary odor grocery rubber mass shine dinner notable tag venue water purchase clarify book magic ribbon daughter menu eye ritual orchard",
     "edfc11f0974c6402afca74031166da1b5d5b3622e391b2ea163e32df77125f06392fc7f437cb62527eb9818e4cb3af5e918729d91f4f239b387343a88acc1267"},
    {"00641669f095b433a304ed0f953f28eb",
     "about camera omit thrive forget border metal oval auto prepare sketch stomach",
     "a3077650807d60f836b25b9696687af1e6c60aaf8195c001481a42bfb166d0bc9107399b6e327e136ebb5de8693bbaed3d137c9a8383232c55bad4b4e95628d6"},
    {"b8b0ff94389d3ec591c7d2fb72d8d3666e4e52b8cdf5471d",
     "reward margin topic illness stadium glare either where window nothing crumble smoke top citizen tobacco salt either truth",
     "d2f8405fb3d03c281d1a55c0206857884207822dc7ecaeca7c0e57ddb9173be0091feda6d8352683624126b34cf691c633343c9352617bcecaf4c376982ddef9"},
    {"911fec0fbd88029f6fa99164896c18d898c9232af18bdcca3e42d53b86493104",
     "much youth advance kitchen lens exile salt cram goose enter alert raise milk muscle profit cousin system faint mouse price reveal cause series long",
     "31967e467505da9f485d216245cdeb3682e116e4fa744bb20468cda6e3e3f18a7875661f84a900437416dfd83937d43513302a0d335a12fbde52f32fd1c12446"},
};

TEST(Bip39, OfficialVectorsEntropyToMnemonicToSeed) {
  for (const auto& v : kVectors) {
    std::vector<uint8_t> entropy = FromHex(v.entropy);
    auto m = EntropyToMnemonic(entropy);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(*m, v.mnemonic);
    auto back = MnemonicToEntropy(v.mnemonic);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(ToHex(*back), v.entropy);
    auto seed = MnemonicToSeed(v.mnemonic, "TREZOR");
    ASSERT_TRUE(seed.ok()) << seed.status().ToString();
    EXPECT_EQ(ToHex(*seed), v.seed) << v.mnemonic;
  }
}

TEST(Bip39, GeneratesValid24WordMnemonicsThatDiffer) {
  auto a = GenerateMnemonic24();
  auto b = GenerateMnemonic24();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(ValidateMnemonic(*a).ok());
  EXPECT_EQ(std::count(a->begin(), a->end(), ' '), 23);
  auto e = MnemonicToEntropy(*a);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->size(), 32u);
}

TEST(Bip39, AcceptsMixedCaseAndExtraWhitespace) {
  auto n = NormalizeMnemonic("  Legal  winner\tthank year wave sausage worth useful legal\nwinner "
                             "THANK yellow ");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, "legal winner thank year wave sausage worth useful legal winner thank yellow");
}

TEST(Bip39, RejectsWrongWordCount) {
  Status st = ValidateMnemonic("legal winner thank year wave sausage worth useful legal winner thank");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("got 11"), std::string::npos) << st.message();
  EXPECT_FALSE(ValidateMnemonic("").ok());
}

TEST(Bip39, UnknownWordGetsADidYouMean) {
  Status st = ValidateMnemonic(
      "legal winner thank year wave sausage worth useful legal winner thank yelow");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("word 12 \"yelow\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("did you mean \"yellow\"?"), std::string::npos) << st.message();
  // A typo after the unique 4-letter prefix is corrected by the prefix.
  EXPECT_EQ(SuggestWord("sausaeg"), "sausage");
  EXPECT_EQ(SuggestWord("zo"), "zoo");
  EXPECT_EQ(SuggestWord("abandn"), "abandon");
}

TEST(Bip39, BadChecksumIsRejected) {
  // Last word swapped for another valid word: the checksum no longer matches.
  Status st = ValidateMnemonic(
      "legal winner thank year wave sausage worth useful legal winner thank zoo");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.message();
  // Two words swapped.
  EXPECT_FALSE(ValidateMnemonic(
                   "winner legal thank year wave sausage worth useful legal winner thank yellow")
                   .ok());
}

TEST(Bip39, RejectsBadEntropyLengths) {
  std::vector<uint8_t> e(17, 0);
  EXPECT_FALSE(EntropyToMnemonic(e).ok());
  e.resize(36);
  EXPECT_FALSE(EntropyToMnemonic(e).ok());
  e.resize(12);
  EXPECT_FALSE(EntropyToMnemonic(e).ok());
}

}  // namespace
}  // namespace qstor::grid::bip39
