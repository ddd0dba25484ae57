// qstor validate FILE...: check manifests against the schema and the rules
// beyond it; print every problem as file:line:col: error: message.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "common/units.h"
#include "reconciler/manifest.h"

namespace qstor::cli {

namespace {

struct ValidateOptions {
  std::vector<std::string> files;
  bool print_schema = false;
};

int RunValidate(const Context& ctx, const ValidateOptions& opt) {
  using reconciler::ManifestDiagnostic;
  if (opt.print_schema) {
    std::cout << reconciler::EmbeddedSchemaText();
    return kExitOk;
  }
  spdlog::debug("validate: checking {} file(s) against the embedded schema", opt.files.size());
  reconciler::LoadResult r = reconciler::LoadManifestFiles(opt.files);
  int errors = 0, warnings = 0;
  for (const auto& d : r.diagnostics) {
    (d.severity == ManifestDiagnostic::Severity::kError ? errors : warnings)++;
  }
  if (ctx.global.json) {
    nlohmann::json out;
    out["version"] = 1;
    out["valid"] = errors == 0;
    out["diagnostics"] = nlohmann::json::array();
    for (const auto& d : r.diagnostics) {
      out["diagnostics"].push_back(
          {{"severity", d.severity == ManifestDiagnostic::Severity::kError ? "error" : "warning"},
           {"file", d.file},
           {"line", d.line},
           {"column", d.column},
           {"message", d.message}});
    }
    out["manifests"] = nlohmann::json::array();
    for (const auto& m : r.manifests) {
      auto j = m.ToJson();
      j["file"] = m.file;
      j["line"] = m.line;
      out["manifests"].push_back(j);
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return errors ? kExitError : kExitOk;
  }
  for (const auto& d : r.diagnostics) std::cerr << d.ToString() << "\n";
  for (const auto& m : r.manifests) {
    std::cout << fmt::format(
        "{}:{}: ok: Storage \"{}\" on {}: {} usable, {}+{} shards (any {} of {} nodes can be lost), "
        "{} metadata backends, locations {}, payment {}{}\n",
        m.file, m.line, m.name, m.network, FormatSize(m.capacity_bytes), m.data_shards,
        m.parity_shards, m.parity_shards, m.total_shards(), m.metadata_backends,
        m.random_locations ? "random" : fmt::format("{} rule(s)", m.select.size()),
        m.payment.method == reconciler::Manifest::Payment::Method::kConnect ? "connect" : "wallet",
        m.mount.enabled ? ", mount " + m.mount.path : "");
  }
  if (errors) {
    std::cerr << fmt::format("{} error(s), {} warning(s) in {} file(s)\n", errors, warnings,
                             opt.files.size());
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

void RegisterValidate(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<ValidateOptions>();
  CLI::App* sub = app.add_subcommand(
      "validate",
      "Check manifests against schema/storage.v1.schema.json and qstor's rules; report every "
      "error as file:line:col. Exit 0 when all are valid, 1 otherwise.");
  sub->add_option("files", opt->files, "Manifest files (YAML; several documents per file allowed)");
  sub->add_flag("--print-schema", opt->print_schema,
                "Print the JSON Schema compiled into this qstor and exit");
  sub->callback([&ctx, opt, sub]() {
    if (opt->files.empty() && !opt->print_schema) {
      throw CLI::RequiredError("files (at least one manifest)");
    }
    (void)sub;
    ctx.exit_code = RunValidate(ctx, *opt);
  });
}

}  // namespace qstor::cli
