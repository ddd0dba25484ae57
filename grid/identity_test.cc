// The twin identity against Substrate's conventions, and qstor's own
// derivations (pinned so that a change cannot slip in unnoticed).
#include "grid/identity.h"

#include <sodium.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "grid/bip39.h"

namespace qstor::grid {
namespace {

std::string ToHex(std::span<const uint8_t> b) {
  std::string s(b.size() * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), b.data(), b.size());
  s.pop_back();
  return s;
}

PublicKey KeyFromHex(const std::string& hex) {
  PublicKey k{};
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(k.data(), k.size(), hex.data(), hex.size(), nullptr, &len, nullptr), 0);
  EXPECT_EQ(len, 32u);
  return k;
}

// `subkey inspect --scheme ed25519 "<phrase>"` output recorded in a public
// repository (ithaka-dev/unity-chain scripts/keys.md): the "Secret seed" is
// substrate-bip39's mini secret (identical for sr25519 and ed25519 there),
// the public key is the ed25519 key of that seed, and the SS58 address uses
// prefix 42.
struct SubkeyVector {
  const char* phrase;
  const char* mini_secret;
  const char* public_key;
  const char* address;
};
const SubkeyVector kSubkey[] = {
    {"marble crisp cover huge yellow quick warm pudding spatial engage unfair million",
     "fd72a60d6cd6d226c7dac996b9479bf5f4631434fd6b1bdec3e76e35a39e2be4",
     "e7988839e659db69ae9ad08c3ef2ccabba44236024a039ebad83bd8fc75dccfb",
     "5HJNEJ6KCG8PDzXC7ZeNDJetktYzpyPXi8GLVagP8fvC8tdH"},
    {"clean upper wool melt current summer pride fuel sudden enlist swarm cram",
     "ea9849a82002075b9613688c0ac5a08267ae349ff1d49052c3a7023de80890f5",
     "5a9b9bec588531188fb362aca065730ded3dcd1c9529d33d5b66f1710bfdec88",
     "5E7WPi4qsCp5EsqtXdP5GiUXJqCfyGr2QMbDb9v7E2nMzvkU"},
    {"fury fox devote mixed slush jar umbrella essence possible practice rookie average",
     "835e7b764dc86fc91374b695f2fb6f7632811dd32ff08061dc0dedb5a11bb52b",
     "2d4cba8d987d0fca5b7383a4c74605cfb6aa35321b95d03041de76aa5b928934",
     "5D66oepnPFCfmW3FVpztiFWHXd76RMpSwxoaAQdqP1rmVhDi"},
};

TEST(Identity, MatchesSubkeyEd25519Vectors) {
  for (const auto& v : kSubkey) {
    auto entropy = bip39::MnemonicToEntropy(v.phrase);
    ASSERT_TRUE(entropy.ok()) << entropy.status().ToString();
    auto mini = SubstrateMiniSecret(*entropy, "");
    ASSERT_TRUE(mini.ok());
    EXPECT_EQ(ToHex(*mini), v.mini_secret) << v.phrase;

    auto id = Identity::FromMnemonic(v.phrase);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(id->PublicKeyHex(), v.public_key) << v.phrase;
    EXPECT_EQ(id->Address(), v.address) << v.phrase;
  }
}

// sr25519 public keys of a phrase without derivation path, as polkadot.js's
// keyring and subkey compute them (schnorrkel, ExpansionMode::Ed25519):
// GRID-V3 section 7.4 (polkadot keyring 14) and Substrate's well-known
// development phrase (`subkey inspect "bottom drive ..."`).
TEST(Identity, Sr25519PublicKeyMatchesPolkadotKeyring) {
  struct V {
    const char* phrase;
    const char* sr25519_pk;
    const char* sr25519_address;
    const char* ed25519_address;
  };
  const V vectors[] = {
      {"neck stage box cup core magic produce exercise happy rely vocal then",
       "60fe3393cc329aa1044be6adaa37f9d0689327dd25c11475d4a86651d6727a48",
       "5EFsy5c74SbTa7yWs9TjRKEEfrHSYq4TDYXuPGThdKsonsFp",
       "5EGtD8gtMcKPupQ187AY8VMx3SP6489nnFUv7b9cC2eRKiqw"},
      {"bottom drive obey lake curtain smoke basket hold race lonely fit walk",
       "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
       "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", nullptr},
  };
  for (const auto& v : vectors) {
    auto entropy = bip39::MnemonicToEntropy(v.phrase);
    ASSERT_TRUE(entropy.ok()) << entropy.status().ToString();
    auto mini = SubstrateMiniSecret(*entropy, "");
    ASSERT_TRUE(mini.ok());
    EXPECT_EQ(ToHex(Sr25519PublicFromMini(*mini)), v.sr25519_pk) << v.phrase;
    auto id = Identity::FromMnemonic(v.phrase);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(id->Sr25519Address(), v.sr25519_address) << v.phrase;
    if (v.ed25519_address) {
      EXPECT_EQ(id->Address(), v.ed25519_address) << v.phrase;
    }
    EXPECT_NE(id->Sr25519Address(), id->Address()) << v.phrase;
  }
}

TEST(Ss58, EncodesTheWellKnownAliceAccountId) {
  // Alice's sr25519 account id on every Substrate dev chain, prefix 42.
  PublicKey alice =
      KeyFromHex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
  std::string a = Ss58Address(alice);
  EXPECT_EQ(a, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
  auto back = Ss58Decode(a);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, alice);
}

TEST(Identity, SignaturesVerifyWithThePublicKeyOnly) {
  auto id = Identity::FromMnemonic(kSubkey[0].phrase);
  ASSERT_TRUE(id.ok());
  std::string msg = "deployment challenge";
  std::string sig = id->TwinKey().Sign(msg);
  std::string pk(reinterpret_cast<const char*>(id->public_key().data()), 32);
  EXPECT_TRUE(Ed25519Verify(pk, msg, sig));
  sig[0] = static_cast<char>(sig[0] ^ 1);
  EXPECT_FALSE(Ed25519Verify(pk, msg, sig));
  EXPECT_EQ(id->TwinKey().public_key(), id->public_key());
}

TEST(Identity, PasswordGivesAnotherIdentity) {
  auto a = Identity::FromMnemonic(kSubkey[0].phrase);
  auto b = Identity::FromMnemonic(kSubkey[0].phrase, "extra");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key(), b->public_key());
  EXPECT_NE(a->DataKey(), b->DataKey());
}

TEST(Identity, RejectsInvalidMnemonics) {
  EXPECT_FALSE(Identity::FromMnemonic("marble crisp cover").ok());
  EXPECT_FALSE(Identity::FromMnemonic(
                   "marble crisp cover huge yellow quick warm pudding spatial engage unfair unfair")
                   .ok());
}

TEST(Identity, DerivedKeysAreDistinctAndDeterministic) {
  const char* words =
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
      "abandon art";
  auto a = Identity::FromMnemonic(words);
  auto b = Identity::FromMnemonic(words);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->public_key(), b->public_key());
  EXPECT_EQ(a->DataKey(), b->DataKey());
  EXPECT_EQ(a->MetadataKey(), b->MetadataKey());
  EXPECT_NE(a->DataKey(), a->MetadataKey());

  std::set<std::string> seen;
  for (const char* role : {"data", "meta"}) {
    for (uint32_t i = 0; i < 20; ++i) {
      auto p = a->NamespacePassword("photos", "devnet", role, i);
      ASSERT_TRUE(p.ok());
      EXPECT_EQ(p->size(), 32u);
      EXPECT_EQ(p->find_first_not_of("0123456789abcdef"), std::string::npos);
      EXPECT_EQ(*p, *b->NamespacePassword("photos", "devnet", role, i));
      seen.insert(*p);
    }
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_NE(*a->NamespacePassword("photos", "devnet", "data", 0),
            *a->NamespacePassword("photos", "mainnet", "data", 0));
  EXPECT_NE(*a->NamespacePassword("photos", "devnet", "data", 0),
            *a->NamespacePassword("photo", "sdevnet", "data", 0));  // length-prefixed fields
  EXPECT_FALSE(a->NamespacePassword("", "devnet", "data", 0).ok());
}

// Golden values of qstor's own derivations for one mnemonic. They pin the
// documented scheme (docs/identity.md): if any of these changes, every
// existing user's data key and namespace passwords change with it. The data
// key, metadata key and namespace password were recomputed independently
// with Python's hashlib (pbkdf2_hmac + blake2b with key/salt/person, which is
// what crypto_kdf_derive_from_key is); the public key and address follow
// from the subkey vectors above.
TEST(Identity, PinnedDerivations) {
  const char* words =
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
      "abandon art";
  auto id = Identity::FromMnemonic(words);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->PublicKeyHex(), "9125f505bdef2cb5825b9931769316d3e2f22150786489a04f39b434ec9fb294");
  EXPECT_EQ(id->Address(), "5FM25N8HGtacre9TnWQGRK32d1kUp1Gs6Dd7YiYpSPZLjmj6");
  EXPECT_EQ(ToHex(id->DataKey()), "e01293be26434dbc99e62a804cf9abea1b6c9abfb8c732447cd4859b175014cd");
  EXPECT_EQ(ToHex(id->MetadataKey()), "15416ebd30ac2c18596425ed2ddfaec2ef771afd78cf213c768c0da919cdf5dc");
  EXPECT_EQ(*id->NamespacePassword("photos", "devnet", "data", 3), "399e5c225ef7d5d568d048e56875aa7e");
}

TEST(Identity, MoveLeavesTheSourceWiped) {
  auto a = Identity::FromMnemonic(kSubkey[1].phrase);
  ASSERT_TRUE(a.ok());
  PublicKey pk = a->public_key();
  Identity b = std::move(a).value();
  EXPECT_EQ(b.public_key(), pk);
  EXPECT_EQ(b.Address(), kSubkey[1].address);
}

}  // namespace
}  // namespace qstor::grid
