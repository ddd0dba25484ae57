// qstor init [--mnemonic-file F] [--force]: create or import the 24-word
// mnemonic and write the encrypted keystore (docs/identity.md).
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
#include <sodium.h>

#include "grid/bip39.h"
#include "grid/connect_login.h"
#include "reconciler/connect_profile.h"
#include "reconciler/keystore.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
namespace {

struct InitOptions {
  std::string mnemonic_file;
  bool force = false;
  bool from_connect = false;
};

// qstor init --from-connect: the words from the derivedSeed of the
// ThreeFold Connect login (`qstor login`), docs/identity.md. The passphrase
// that sealed the login becomes the keystore's.
int RunInitFromConnect(const Context& ctx, const InitOptions& opt, const std::string& home,
                       const std::string& path) {
  auto fail = [](const Status& st) {
    std::cerr << "qstor init: " << st.message() << "\n";
    return kExitError;
  };
  if (!opt.mnemonic_file.empty()) {
    return fail(Status::InvalidArgument("--from-connect and --mnemonic-file exclude each other"));
  }
  auto pass = reconciler::ObtainPassphrase(
      "Passphrase of the ThreeFold Connect login (it becomes the keystore's): ", false);
  if (!pass.ok()) return fail(pass.status());
  auto profile = reconciler::LoadConnectProfile(home, *pass);
  if (!profile.ok()) return fail(profile.status());
  if (!profile->derived_seed) {
    return fail(Status::FailedPrecondition(
        "scope: the ThreeFold Connect login of " + profile->double_name +
        " has no derivedSeed (the app did not share it); run `qstor login` again and allow it"));
  }
  auto words = grid::connect::ConnectMnemonic(*profile->derived_seed);
  if (!words.ok()) return fail(words.status());
  auto pub = reconciler::WriteKeystore(path, *words, *pass, opt.force);
  sodium_memzero(words->data(), words->size());
  if (!pub.ok()) return fail(pub.status());
  profile->identity_from_connect = true;
  Status st = reconciler::AdoptConnectProfile(home, *pass, *profile);
  if (!st.ok()) return fail(st.WithContext("storing the login in the keystore"));
  if (ctx.global.json) {
    std::cout << nlohmann::json{{"version", 1},
                                {"keystore", path},
                                {"public_key", pub->public_key_hex},
                                {"address", pub->address},
                                {"sr25519_address", pub->sr25519_address},
                                {"created", true},
                                {"from_connect", profile->double_name}}
                     .dump()
              << "\n";
  } else {
    std::cout << "A new identity was derived from the ThreeFold Connect login of "
              << profile->double_name
              << ".\nLogging in again (`qstor login`, then `qstor recover --from-connect`) gets it "
                 "back on any machine; `qstor wallet export-mnemonic` shows its 24 words for a "
                 "paper copy.\n"
              << "Keystore:   " << path << " (encrypted, mode 0600)\n"
              << "Public key: " << pub->public_key_hex << "\n"
              << "Address:    " << pub->address << " (qstor's ed25519 twin account: fund this one)\n"
              << "Dashboard:  " << pub->sr25519_address
              << " (the TF dashboard's sr25519 account of the same words: another account; TFT "
                 "sent there does not reach qstor)\n";
  }
  return kExitOk;
}

int RunInit(const Context& ctx, const InitOptions& opt) {
  auto fail = [](const Status& st) {
    std::cerr << "qstor init: " << st.message() << "\n";
    return kExitError;
  };
  auto home = reconciler::DefaultQstorHome();
  if (!home.ok()) return fail(home.status());
  std::string path = reconciler::KeystorePath(*home);
  if (!opt.force) {
    auto existing = reconciler::ReadKeystorePublic(path);
    if (existing.ok()) {
      return fail(Status::AlreadyExists("a keystore already exists at " + path +
                                        " (twin address " + existing->address +
                                        "); pass --force to replace it (its words are lost "
                                        "unless written down)"));
    }
  }

  if (opt.from_connect) return RunInitFromConnect(ctx, opt, *home, path);

  // Where the words come from: a file, QSTOR_MNEMONIC, or fresh randomness.
  std::string words;
  bool fresh = false;
  if (!opt.mnemonic_file.empty()) {
    auto w = reconciler::ReadMnemonicFile(opt.mnemonic_file);
    if (!w.ok()) return fail(w.status());
    words = std::move(w).value();
  } else if (const char* env = std::getenv("QSTOR_MNEMONIC"); env != nullptr && *env != '\0') {
    words = env;
  } else {
    auto w = grid::bip39::GenerateMnemonic24();
    if (!w.ok()) return fail(w.status());
    words = std::move(w).value();
    fresh = true;
  }
  auto norm = grid::bip39::NormalizeMnemonic(words);
  sodium_memzero(words.data(), words.size());
  if (!norm.ok()) return fail(norm.status());

  auto pass = reconciler::ObtainPassphrase(
      "Passphrase for the keystore " + path + " (at least 8 characters): ", true);
  if (!pass.ok()) {
    sodium_memzero(norm->data(), norm->size());
    return fail(pass.status());
  }
  auto pub = reconciler::WriteKeystore(path, *norm, *pass, opt.force);
  sodium_memzero(pass->data(), pass->size());
  if (!pub.ok()) {
    sodium_memzero(norm->data(), norm->size());
    return fail(pub.status());
  }

  if (ctx.global.json) {
    nlohmann::json out{{"version", 1},
                       {"keystore", path},
                       {"public_key", pub->public_key_hex},
                       {"address", pub->address},
                       {"sr25519_address", pub->sr25519_address},
                       {"created", fresh}};
    if (fresh) {
      out["mnemonic"] = *norm;
      out["warning"] =
          "These 24 words are the only way to recover the storage and the wallet. They are shown "
          "once: write them down offline.";
    }
    std::cout << out.dump() << "\n";
  } else {
    if (fresh) {
      std::cout << "A new identity was created. Your 24 recovery words:\n\n";
      std::istringstream in(*norm);
      std::string w;
      for (int i = 1; in >> w; ++i) {
        std::cout << (i < 10 ? "   " : "  ") << i << ". " << w << (i % 4 == 0 ? "\n" : "\t");
      }
      std::cout << "\nWARNING: these words are shown ONCE and are the only way to recover your "
                   "storage and wallet.\nWrite them down on paper and keep them offline. Anyone "
                   "who has them controls your twin.\n\n";
    } else {
      std::cout << "Imported the mnemonic.\n";
    }
    std::cout << "Keystore:   " << path << " (encrypted, mode 0600)\n"
              << "Public key: " << pub->public_key_hex << "\n"
              << "Address:    " << pub->address << " (qstor's ed25519 twin account: fund this one)\n"
              << "Dashboard:  " << pub->sr25519_address
              << " (the TF dashboard's sr25519 account of the same words: another account; TFT "
                 "sent there does not reach qstor)\n";
  }
  sodium_memzero(norm->data(), norm->size());
  return kExitOk;
}

}  // namespace

void RegisterInit(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "init",
      "Create a 24-word mnemonic (or import one) and write the encrypted keystore to "
      "$QSTOR_HOME/keystore.json (default $XDG_CONFIG_HOME/qstor, ~/.config/qstor). Imports read --mnemonic-file or "
      "QSTOR_MNEMONIC; the passphrase comes from --passphrase-fd/-file/-command, "
      "QSTOR_PASSPHRASE_FILE/_COMMAND, QSTOR_PASSPHRASE or a prompt.");
  cmd->add_option("--mnemonic-file", opt->mnemonic_file,
                  "Import the words from this file ('-' = stdin) instead of creating new ones");
  cmd->add_flag("--force", opt->force, "Replace an existing keystore");
  cmd->add_flag("--from-connect", opt->from_connect,
                "Derive the identity from the ThreeFold Connect login's derivedSeed (`qstor "
                "login` first; docs/identity.md)");
  cmd->callback([&ctx, opt]() { ctx.exit_code = RunInit(ctx, *opt); });
}

#else

void RegisterInit(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "init", "Create or import the 24-word mnemonic and the encrypted keystore",
              "issue 5, reconciler");
}

#endif

}  // namespace qstor::cli
