#include "cli/session.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "grid/network.h"
#include "zdb/client.h"

namespace qstor::cli {

Result<std::string> QstorHome() { return reconciler::DefaultQstorHome(); }

Result<std::optional<grid::Identity>> MnemonicIdentity(const std::string& home) {
  const char* words = std::getenv("QSTOR_MNEMONIC");
  if (words == nullptr || *words == '\0') return std::optional<grid::Identity>{};
  std::string path = reconciler::KeystorePath(home);
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 || errno != ENOENT) return std::optional<grid::Identity>{};
  auto id = grid::Identity::FromMnemonic(words);
  if (!id.ok()) {
    return Status::InvalidArgument("QSTOR_MNEMONIC is not a valid mnemonic: " +
                                   id.status().message());
  }
  static bool said = false;
  if (!said) {
    said = true;
    std::cerr << "qstor: no keystore at " << path
              << ": using the identity of QSTOR_MNEMONIC in memory (no keystore is written)\n";
  }
  return std::optional<grid::Identity>(std::move(id).value());
}

Result<reconciler::KeystorePublic> KeystorePublicOrHint(const std::string& home) {
  std::string path = reconciler::KeystorePath(home);
  auto pub = reconciler::ReadKeystorePublic(path);
  if (!pub.ok() && pub.status().code() == Status::Code::kNotFound) {
    auto mem = MnemonicIdentity(home);
    if (!mem.ok()) return mem.status();
    if (mem->has_value()) {
      return reconciler::KeystorePublic{(*mem)->PublicKeyHex(), (*mem)->Address(),
                                        (*mem)->Sr25519Address()};
    }
    return Status::NotFound("no keystore at " + path +
                            ": create an identity with `qstor init` (or import your 24 words "
                            "with `qstor init --mnemonic-file FILE`)");
  }
  return pub;
}

Result<grid::NetworkEndpoint> ConnectNetwork(const std::string& network, bool autostart) {
  auto ep = grid::ResolveNetwork(network);
  if (ep.ok() || network != "devnet" || !autostart ||
      ep.status().code() != Status::Code::kUnavailable) {
    return ep;
  }
  std::cerr << "The devnet is not running: starting it (`qstor devnet start`, data in "
            << grid::DefaultDevnetDir() << ").\n";
  int rc = RunSelf({"devnet", "start"});
  if (rc != 0) {
    return Status::Unavailable("could not start the devnet (`qstor devnet start` exited " +
                               std::to_string(rc) + "); see its log in " +
                               grid::DefaultDevnetDir() + "/devnet.log");
  }
  return grid::ResolveNetwork(network);
}

bool StdinIsTerminal() { return ::isatty(0) == 1; }
bool StdoutIsTerminal() { return ::isatty(1) == 1; }


bool PassphraseAvailable() {
  const char* p = std::getenv("QSTOR_PASSPHRASE");
  return reconciler::PassphraseSourceSet() || (p != nullptr && *p != '\0') || StdinIsTerminal();
}

Result<grid::Identity> UnlockIdentity(const std::string& home, std::string* passphrase_out) {
  std::string path = reconciler::KeystorePath(home);
  auto mem = MnemonicIdentity(home);
  if (!mem.ok()) return mem.status();
  if (mem->has_value()) return std::move(**mem);
  auto pub = KeystorePublicOrHint(home);
  if (!pub.ok()) return pub.status();
  auto pass = reconciler::ObtainPassphrase("Passphrase for " + path + ": ", false);
  if (!pass.ok()) return pass.status();
  auto id = reconciler::OpenIdentity(path, *pass);
  if (id.ok() && passphrase_out != nullptr) *passphrase_out = *pass;
  sodium_memzero(pass->data(), pass->size());
  return id;
}

Result<std::vector<reconciler::Manifest>> LoadManifestsFor(const std::vector<std::string>& files,
                                                          const std::string& name,
                                                          const std::string& command) {
  if (files.empty()) return Status::InvalidArgument("give a manifest file (storage.yaml)");
  (void)command;
  return ManifestsFrom(reconciler::LoadManifestFiles(files), name);
}

Result<std::vector<reconciler::Manifest>> ManifestsFrom(reconciler::LoadResult r,
                                                       const std::string& name) {
  for (const auto& d : r.diagnostics) {
    std::cerr << d.ToString() << "\n";
    EmitDiagnosticEvent(
        d.severity == reconciler::ManifestDiagnostic::Severity::kError ? "error" : "warning",
        d.ToString(), "manifest");
  }
  if (!r.ok()) {
    return Status::InvalidArgument("the manifest is not valid; nothing was done (`qstor validate` "
                                   "explains every error)");
  }
  std::vector<reconciler::Manifest> out;
  for (auto& m : r.manifests) {
    if (name.empty() || m.name == name) out.push_back(std::move(m));
  }
  if (out.empty()) {
    return Status::NotFound(name.empty() ? "no Storage document in the given files"
                                         : "no Storage document named \"" + name + "\"");
  }
  return out;
}

std::string SelfExe() {
  const char* env = std::getenv("QSTOR_BIN");
  if (env != nullptr && *env != '\0') return env;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "qstor";
  buf[n] = '\0';
  return buf;
}

int RunSelf(const std::vector<std::string>& args,
            const std::optional<std::string>& secret_fd3_payload) {
  int fds[2] = {-1, -1};
  if (secret_fd3_payload) {
    if (::pipe2(fds, O_CLOEXEC) != 0) return 127;
    // Passphrases are far below the pipe buffer: write before forking.
    ssize_t w = ::write(fds[1], secret_fd3_payload->data(), secret_fd3_payload->size());
    ssize_t nl = ::write(fds[1], "\n", 1);
    ::close(fds[1]);
    if (w < 0 || nl < 0) {
      ::close(fds[0]);
      return 127;
    }
  }
  std::string exe = SelfExe();
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    if (fds[0] >= 0) {
      ::dup2(fds[0], 3);  // dup2 clears FD_CLOEXEC on the new fd
    }
    // The child's messages go to stderr: stdout stays the parent's (JSON
    // events of --json must not be mixed with them).
    ::dup2(2, 1);
    std::vector<std::string> all = {exe};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  if (fds[0] >= 0) ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

bool ConfirmOnTerminal(const std::string& question) {
  std::cout << question << "\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
            << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "yes";
}

void ProbeUsedBytes(reconciler::Observation& obs, const grid::Identity& identity,
                    const reconciler::Manifest& m) {
  zdb::ClientOptions co;
  co.connect_timeout = std::chrono::milliseconds(2000);
  co.request_timeout = std::chrono::milliseconds(2000);
  for (const auto& ns : obs.state.namespaces) {
    if (!ns.deployed()) continue;
    auto c = zdb::Client::Connect(ns.host, ns.port, co);
    if (!c.ok()) {
      obs.used_errors[ns.contract_id] = c.status().message();
      continue;
    }
    auto pw = identity.NamespacePassword(m.name, m.network, reconciler::RoleName(ns.role), ns.index);
    if (!pw.ok()) {
      obs.used_errors[ns.contract_id] = pw.status().message();
      continue;
    }
    Status sel = (*c)->Select(ns.ns, *pw);
    if (!sel.ok()) {
      obs.used_errors[ns.contract_id] = sel.message();
      continue;
    }
    auto info = (*c)->NsInfo(ns.ns);
    if (info.ok()) {
      obs.used_bytes[ns.contract_id] = info->data_size_bytes;
    } else {
      obs.used_errors[ns.contract_id] = info.status().message();
    }
  }
}

}  // namespace qstor::cli
