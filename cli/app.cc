#include "cli/app.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/build_info.h"
#include "cli/commands.h"
#include "cli/docs_gen.h"
#include "common/log.h"
#if defined(QSTOR_HAVE_RECONCILER)
#include "reconciler/keystore.h"
#endif

namespace qstor::cli {

namespace {

const GlobalOptions kDefaultGlobals;
const GlobalOptions* g_globals = &kDefaultGlobals;

// The snake_case name of a status code, for the `code` of JSON diagnostics.
std::string CodeKey(Status::Code c) {
  std::string s = CodeName(c);
  if (c == Status::Code::kAborted) return "state_locked";
  if (c == Status::Code::kUnauthenticated) return "wrong_passphrase";
  for (char& ch : s) {
    if (ch == ' ' || ch == '/') ch = '_';
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return s;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cur = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return row[b.size()];
}

// The closest of `names` to `typed`, when it is close enough to be a typo
// (at most a third of its letters, at least 2) or `typed` is its prefix.
std::optional<std::string> Closest(const std::string& typed, const std::vector<std::string>& names) {
  std::optional<std::string> best;
  size_t best_d = SIZE_MAX;
  for (const auto& n : names) {
    size_t d = EditDistance(typed, n);
    if (n.rfind(typed, 0) == 0 && typed.size() >= 2) d = std::min<size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  size_t limit = std::max<size_t>(2, typed.size() / 3);
  if (!best || best_d > limit) return std::nullopt;
  return best;
}

std::vector<std::string> SubcommandNames(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
    for (const auto& a : sub->get_aliases()) out.push_back(a);
  }
  return out;
}

// The long flags of `app` and of every app above it (global flags fall
// through to the root).
std::vector<std::string> FlagNames(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* o : a->get_options([](const CLI::Option*) { return true; })) {
      for (const auto& l : o->get_lnames()) out.push_back("--" + l);
    }
  }
  return out;
}

// The subcommand (or alias) `name` of `app`, or nullptr.
CLI::App* FindSubcommand(const CLI::App* app, const std::string& name) {
  try {
    return const_cast<CLI::App*>(app)->get_subcommand(name);
  } catch (const CLI::OptionNotFound&) {
    return nullptr;
  }
}

std::string CommandPath(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    path = path.empty() ? a->get_name() : a->get_name() + " " + path;
  }
  return path;
}

// Does option `tok` (a "--name" or "-x" of `app` or an app above it) take
// a value from the next argument?
bool TakesValue(const CLI::App* app, const std::string& tok) {
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* o : a->get_options([](const CLI::Option*) { return true; })) {
      if (o->check_name(tok)) return o->get_type_size_max() > 0 && o->get_expected_max() > 0;
    }
  }
  return false;
}

// Walks argv the way the command tree reads it and names the first word
// that should have been a (sub)command and is not one: `unknown command
// "aply" for "qstor" (did you mean "apply"?)`. nullopt when every command
// word is known (CLI11 then reports whatever else is wrong).
std::optional<std::string> UnknownCommand(const CLI::App& root, const std::vector<std::string>& args) {
  const CLI::App* cur = &root;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& t = args[i];
    if (t == "--") return std::nullopt;
    if (t.size() > 1 && t[0] == '-') {
      if (t.find('=') == std::string::npos && TakesValue(cur, t)) ++i;
      continue;
    }
    auto subs = SubcommandNames(cur);
    if (subs.empty()) return std::nullopt;
    if (const CLI::App* sub = FindSubcommand(cur, t)) {
      cur = sub;
      continue;
    }
    if (!cur->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) {
      return std::nullopt;  // a positional argument of this command
    }
    std::string msg = "unknown command \"" + t + "\" for \"" + CommandPath(cur) + "\"";
    if (auto c = Closest(t, subs)) msg += " (did you mean \"" + *c + "\"?)";
    return msg + "; `" + CommandPath(cur) + " --help` lists the commands";
  }
  return std::nullopt;
}

// The deepest command CLI11 got to before an error.
const CLI::App* DeepestParsed(const CLI::App& root) {
  const CLI::App* cur = &root;
  for (;;) {
    auto parsed = cur->get_subcommands();
    if (parsed.empty()) return cur;
    cur = parsed.back();
  }
}

// "unknown flag "--jsn" for "qstor apply" (did you mean "--json"?)" for the
// first unexpected flag; nullopt when the extras are not flags.
std::optional<std::string> UnknownFlag(const CLI::App& root, const std::vector<std::string>& args) {
  const CLI::App* cur = DeepestParsed(root);
  auto flags = FlagNames(cur);
  for (const auto& a : args) {
    if (a.size() < 2 || a[0] != '-' || a == "--") continue;
    std::string name = a.substr(0, a.find('='));
    bool known = false;
    for (const CLI::App* p = cur; p != nullptr && !known; p = p->get_parent()) {
      for (const CLI::Option* o : p->get_options([](const CLI::Option*) { return true; })) {
        if (o->check_name(name)) known = true;
      }
    }
    if (known) continue;
    std::string msg = "unknown flag \"" + name + "\" for \"" + CommandPath(cur) + "\"";
    if (name.rfind("--", 0) == 0) {
      if (auto c = Closest(name, flags)) msg += " (did you mean \"" + *c + "\"?)";
    }
    return msg + "; `" + CommandPath(cur) + " --help` lists its flags";
  }
  return std::nullopt;
}

// The `diagnostic` event of a failed command (severity error, with the
// failure's code and the exit code) on stdout.
void WriteErrorEvent(const std::string& summary, const std::string& detail,
                     const std::string& code, int exit_code) {
  std::cout << nlohmann::json{{"type", "diagnostic"},
                              {"diagnostic",
                               {{"severity", "error"},
                                {"summary", summary},
                                {"detail", detail},
                                {"code", code},
                                {"exit_code", exit_code}}}}
                   .dump()
            << "\n"
            << std::flush;
}

int UsageError(bool json, const std::string& msg, const std::string& who = "qstor") {
  std::cerr << who << ": " << msg << "\n";
  if (json) WriteErrorEvent(msg, "bad command line", "usage", kExitUsage);
  return kExitUsage;
}

void RegisterHelpAndVersion(CLI::App& app, Context& ctx) {
  auto topics = std::make_shared<std::vector<std::string>>();
  CLI::App* help = app.add_subcommand("help", "Help for qstor or for one command: qstor help [CMD...]");
  help->add_option("command", *topics, "The command (and subcommand), e.g. `fs repair`");
  help->callback([&app, &ctx, topics]() {
    CLI::App* target = &app;
    for (const auto& t : *topics) {
      CLI::App* next = FindSubcommand(target, t);
      if (next == nullptr) {
        std::string msg = "unknown command \"" + t + "\" for \"" + CommandPath(target) + "\"";
        if (auto c = Closest(t, SubcommandNames(target))) msg += " (did you mean \"" + *c + "\"?)";
        ctx.exit_code = UsageError(ctx.global.json, msg);
        return;
      }
      target = next;
    }
    std::cout << target->help();
  });

  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion",
      "Print the shell completion script: bash (source it, or put it in "
      "/usr/share/bash-completion/completions/qstor), zsh, fish");
  completion->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  completion->callback([&app, shell]() {
    if (*shell == "bash") std::cout << BashCompletion(app);
    if (*shell == "zsh") std::cout << ZshCompletion(app);
    if (*shell == "fish") std::cout << FishCompletion(app);
  });
  app.add_subcommand("man", "Print the qstor(1) manual page (roff): qstor man | man -l -")
      ->callback([&app]() { std::cout << ManPage(app, GetBuildInfo()); });

  CLI::App* version = app.add_subcommand("version", "Version, git commit and build date (--json)");
  version->callback([&ctx]() {
    BuildInfo b = GetBuildInfo();
    if (ctx.global.json) {
      std::cout << nlohmann::json{{"version", b.version},
                                  {"commit", b.commit},
                                  {"build_date", b.build_date}}
                       .dump()
                << "\n";
    } else {
      std::cout << "qstor " << b.version << " (commit " << b.commit << ", built " << b.build_date
                << ")\n";
    }
  });
}

}  // namespace

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kNotImplemented: return kExitNotBuilt;
    case Status::Code::kAborted: return kExitLocked;
    case Status::Code::kUnauthenticated: return kExitWrongPassphrase;
    default: return kExitError;
  }
}

const GlobalOptions& CurrentGlobalOptions() { return *g_globals; }

void EmitDiagnosticEvent(const std::string& severity, const std::string& summary,
                         const std::string& detail) {
  if (!g_globals->json) return;
  std::cout << nlohmann::json{{"type", "diagnostic"},
                              {"diagnostic",
                               {{"severity", severity}, {"summary", summary}, {"detail", detail}}}}
                   .dump()
            << "\n"
            << std::flush;
}

int ReportFailure(const std::string& command, const Status& st) {
  int code = ExitCodeFor(st);
  std::cerr << "qstor " << command << ": " << st.message() << "\n";
  if (g_globals->json) {
    WriteErrorEvent(st.message(), "qstor " + command + " failed", CodeKey(st.code()), code);
  }
  return code;
}

int ReportUsage(const std::string& command, const std::string& message) {
  return UsageError(g_globals->json, message, "qstor " + command);
}

CLI::App* AddNotBuilt(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& what, const std::string& issue) {
  CLI::App* sub = app.add_subcommand(
      name, what + " [not built yet: " + issue + "; exits 3]");
  // It takes any arguments (and keeps them: no fallthrough to the global
  // flags, which would call the unknown ones a usage error).
  sub->allow_extras();
  sub->fallthrough(false);
  sub->callback([&ctx, name, issue]() {
    std::cerr << "qstor " << name << ": not built yet (" << issue
              << "). Nothing was done.\n";
    ctx.exit_code = kExitNotBuilt;
  });
  return sub;
}

// The passphrase source of this invocation: a flag, else the environment.
static Status ConfigurePassphraseSource(const GlobalOptions& g) {
#if defined(QSTOR_HAVE_RECONCILER)
  reconciler::PassphraseSource src;
  auto env = [](const char* k) -> std::string {
    const char* v = std::getenv(k);
    return v == nullptr ? "" : v;
  };
  if (g.passphrase_fd >= 0) {
    src.kind = reconciler::PassphraseSource::Kind::kFd;
    src.fd = g.passphrase_fd;
    src.origin = "--passphrase-fd";
  } else if (!g.passphrase_file.empty()) {
    src.kind = reconciler::PassphraseSource::Kind::kFile;
    src.path = g.passphrase_file;
    src.origin = "--passphrase-file";
  } else if (!g.passphrase_command.empty()) {
    src.kind = reconciler::PassphraseSource::Kind::kCommand;
    src.command = g.passphrase_command;
    src.origin = "--passphrase-command";
  } else if (!env("QSTOR_PASSPHRASE_FILE").empty() && !env("QSTOR_PASSPHRASE_COMMAND").empty()) {
    return Status::InvalidArgument(
        "QSTOR_PASSPHRASE_FILE and QSTOR_PASSPHRASE_COMMAND are both set: keep one");
  } else if (!env("QSTOR_PASSPHRASE_FILE").empty()) {
    src.kind = reconciler::PassphraseSource::Kind::kFile;
    src.path = env("QSTOR_PASSPHRASE_FILE");
    src.origin = "QSTOR_PASSPHRASE_FILE";
  } else if (!env("QSTOR_PASSPHRASE_COMMAND").empty()) {
    src.kind = reconciler::PassphraseSource::Kind::kCommand;
    src.command = env("QSTOR_PASSPHRASE_COMMAND");
    src.origin = "QSTOR_PASSPHRASE_COMMAND";
  }
  reconciler::ForgetPassphrase();
  reconciler::SetPassphraseSource(std::move(src));
#else
  (void)g;
#endif
  return Status::OK();
}

int Run(int argc, char** argv) {
  Context ctx;
  g_globals = &ctx.global;
  struct Restore {
    ~Restore() { g_globals = &kDefaultGlobals; }
  } restore;
  CLI::App app{"qstor: declarative, quantum-safe storage on the ThreeFold grid", "qstor"};
  app.set_version_flag("--version", std::string("qstor ") + GetBuildInfo().version);
  app.require_subcommand(1);
  // Global flags may come before or after the subcommand (`qstor apply
  // --json FILE`, as in Terraform and kubectl): every subcommand created
  // below inherits fallthrough and hands the flags it does not know up to
  // this app.
  app.fallthrough();
  app.add_option("--log-level", ctx.global.log_level,
                 "Log verbosity on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", ctx.global.log_format, "Log format on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--no-color", ctx.global.no_color, "Do not colour output (NO_COLOR does the same)");
  app.add_flag("--json", ctx.global.json,
               "Machine-readable output on stdout (format documented in docs/cli.md)");
  auto* pfd = app.add_option("--passphrase-fd", ctx.global.passphrase_fd,
                              "Read the keystore passphrase from this file descriptor (one line)");
  auto* pfile = app.add_option("--passphrase-file", ctx.global.passphrase_file,
                               "Read the keystore passphrase from the first line of this file "
                               "(also QSTOR_PASSPHRASE_FILE)");
  auto* pcmd = app.add_option("--passphrase-command", ctx.global.passphrase_command,
                              "Run this shell command; the first line it prints is the keystore "
                              "passphrase (also QSTOR_PASSPHRASE_COMMAND)");
  pfd->excludes(pfile)->excludes(pcmd);
  pfile->excludes(pcmd);
  app.parse_complete_callback([&ctx]() {
    if (std::getenv("NO_COLOR") != nullptr && *std::getenv("NO_COLOR") != '\0') {
      ctx.global.no_color = true;
    }
    Status ps = ConfigurePassphraseSource(ctx.global);
    if (!ps.ok()) throw CLI::ValidationError(ps.message());
    bool color = !ctx.global.no_color && ::isatty(2);
    Status st = InitLogging(ctx.global.log_level,
                            ctx.global.log_format == "json" ? LogFormat::kJson : LogFormat::kText,
                            color);
    if (!st.ok()) throw CLI::ValidationError(st.message());
  });

  RegisterValidate(app, ctx);
  RegisterInit(app, ctx);
  RegisterLogin(app, ctx);
  RegisterPlanApply(app, ctx);
  RegisterInspect(app, ctx);
  RegisterNodes(app, ctx);
  RegisterWallet(app, ctx);
  RegisterMount(app, ctx);
  RegisterMonitor(app, ctx);
  RegisterDevnet(app, ctx);
  RegisterZdb(app, ctx);
  RegisterHelpAndVersion(app, ctx);

  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + std::max(argc, 1));
  // --json anywhere makes usage errors events too (the parse may stop
  // before it reaches the flag).
  bool json_asked = std::find(args.begin(), args.end(), "--json") != args.end();
  if (auto msg = UnknownCommand(app, args)) return UsageError(json_asked, *msg);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    if (auto msg = UnknownFlag(app, args)) return UsageError(json_asked, *msg);
    return UsageError(json_asked, std::string(e.what()) + "; `" +
                                      CommandPath(DeepestParsed(app)) + " --help` shows usage");
  } catch (const CLI::ParseError& e) {
    if (json_asked) return UsageError(true, e.what());
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "qstor: error: " << e.what() << "\n";
    return kExitError;
  }
  return ctx.exit_code;
}

}  // namespace qstor::cli
