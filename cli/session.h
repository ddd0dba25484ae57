// What the reconciler commands (diff, apply, destroy, list, status, wallet)
// share: the qstor home, the keystore, the network connection (starting the
// devnet when it is the network and is not running), the identity, and
// running this same binary as a child (devnet start, mount, umount).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/app.h"
#include "common/status.h"
#include "grid/http_grid.h"
#include "grid/identity.h"
#include "reconciler/keystore.h"
#include "reconciler/manifest.h"
#include "reconciler/plan.h"

namespace qstor::cli {

// $QSTOR_HOME or ~/.config/qstor.
Result<std::string> QstorHome();

// The keystore's public part; kNotFound says to run `qstor init`. With no
// keystore and QSTOR_MNEMONIC set, the public part of that mnemonic's
// identity instead (MnemonicIdentity).
Result<reconciler::KeystorePublic> KeystorePublicOrHint(const std::string& home);

// For pipelines: when the keystore at `home` does not exist and
// QSTOR_MNEMONIC is set, the identity of those words, derived in memory; no
// keystore is written and no passphrase is needed. Says so once per process
// on stderr. nullopt when there is a keystore or no QSTOR_MNEMONIC; an error
// when the words are not a valid mnemonic.
Result<std::optional<grid::Identity>> MnemonicIdentity(const std::string& home);

// The endpoint of `network`. For devnet, when it is not running and
// `autostart`, runs `qstor devnet start` (saying so on stderr) first.
Result<grid::NetworkEndpoint> ConnectNetwork(const std::string& network, bool autostart);

// The passphrase (QSTOR_PASSPHRASE, else a prompt on the terminal) and the
// identity it unlocks; MnemonicIdentity first (then *passphrase_out stays
// empty). A wrong passphrase is kUnauthenticated.
Result<grid::Identity> UnlockIdentity(const std::string& home, std::string* passphrase_out = nullptr);

// True when a passphrase can be had without failing: a --passphrase-* flag
// or QSTOR_PASSPHRASE_FILE/_COMMAND is set, QSTOR_PASSPHRASE is set
// or stdin is a terminal.
bool PassphraseAvailable();

bool StdinIsTerminal();
bool StdoutIsTerminal();

// Loads the manifests of `files` (each may hold several documents); when
// `name` is set only that one. Prints located diagnostics to stderr.
Result<std::vector<reconciler::Manifest>> LoadManifestsFor(const std::vector<std::string>& files,
                                                          const std::string& name,
                                                          const std::string& command);

// The same for manifests already loaded (LoadManifestText of a file read once).
Result<std::vector<reconciler::Manifest>> ManifestsFrom(reconciler::LoadResult r,
                                                       const std::string& name);

// The path of this executable (QSTOR_BIN if set, else /proc/self/exe).
std::string SelfExe();

// Runs `qstor args...` and waits. When `secret_stdin_fd_payload` is set, it
// is written to a pipe the child reads as fd 3 (for --passphrase-fd 3).
// Returns the exit code (128+signal when killed).
int RunSelf(const std::vector<std::string>& args,
            const std::optional<std::string>& secret_fd3_payload = std::nullopt);

// NSINFO of every deployed namespace of obs.state (2 s each at most, with
// the namespace password derived from `identity`): the bytes each holds go
// to obs.used_bytes by contract, why one could not be read to
// obs.used_errors.
void ProbeUsedBytes(reconciler::Observation& obs, const grid::Identity& identity,
                    const reconciler::Manifest& m);

// Asks "Enter a value:" style confirmation on the terminal; true for "yes".
bool ConfirmOnTerminal(const std::string& question);

}  // namespace qstor::cli
