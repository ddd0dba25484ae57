// Fuzzes the readers of the files and chain data qstor trusts least: state
// files (<home>/state/...), saved plans (`qstor diff -o`, also a GitOps
// artifact) and contracts' deployment_data (anyone's chain data). Any input
// gives a value or an error with a message: never a crash, an uncaught
// exception, or undefined behaviour (numbers out of their field's range).
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "reconciler/plan.h"
#include "reconciler/state.h"

using namespace qstor::reconciler;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto d = DeploymentData::Decode(text);
  if (!d.ok() && d.status().message().empty()) std::abort();
  if (d.ok()) (void)d->Encode();
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  auto s = State::FromJson(j, "fuzz.json");
  if (!s.ok() && s.status().message().empty()) std::abort();
  if (s.ok()) (void)s->ToJson().dump();
  auto p = Plan::FromJson(j, "fuzz.plan");
  if (!p.ok() && p.status().message().empty()) std::abort();
  if (p.ok()) (void)p->ToJson().dump();
  return 0;
}
