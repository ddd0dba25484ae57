// Fuzzes the manifest loader: YAML parsing, schema validation and qstor's
// own rules. Any input must give diagnostics or manifests, never a crash, a
// hang or an uncaught exception; an invalid result must say where.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "reconciler/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  qstor::reconciler::LoadResult r = qstor::reconciler::LoadManifestText(text, "fuzz.yaml");
  if (!r.ok() && r.diagnostics.empty()) std::abort();  // an error with no message
  for (const auto& d : r.diagnostics) {
    if (d.message.empty()) std::abort();
  }
  if (r.ok() && r.manifests.empty()) std::abort();  // "valid" but nothing loaded
  for (const auto& m : r.manifests) {
    if (m.capacity_bytes == 0 || m.data_shards < 1 || m.total_shards() > 255) std::abort();
    (void)m.ToJson().dump();
  }
  // The same bytes as a --selector: a selector or a message; a selector
  // selects itself, and its text names every pair.
  auto sel = qstor::reconciler::ParseSelector(text);
  if (!sel.ok() && sel.status().message().empty()) std::abort();
  if (sel.ok()) {
    if (!qstor::reconciler::LabelsMatch(*sel, *sel)) std::abort();
    (void)qstor::reconciler::LabelsText(*sel);
  }
  return 0;
}
