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
#include "reconciler/keystore.h"
#endif

namespace qstor::cli {

#if defined(QSTOR_HAVE_RECONCILER) && defined(QSTOR_HAVE_GRID)
namespace {

struct InitOptions {
  std::string mnemonic_file;
  bool force = false;
};

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
              << "Address:    " << pub->address << "\n";
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
  cmd->callback([&ctx, opt]() { ctx.exit_code = RunInit(ctx, *opt); });
}

#else

void RegisterInit(CLI::App& app, Context& ctx) {
  AddNotBuilt(app, ctx, "init", "Create or import the 24-word mnemonic and the encrypted keystore",
              "issue 5, reconciler");
}

#endif

}  // namespace qstor::cli
