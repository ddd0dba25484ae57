// libFuzzer target: DecodeRuntimeVersion (the SCALE of sp_version's
// RuntimeVersion, as the System.Version constant holds it). Every input must
// give a value or a Status, never a crash; a decoded value re-encodes to the
// same bytes. Built only with -DQSTOR_FUZZ=ON (clang): devnet_fuzz_runtime_version.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "devnet/tfchain_runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto v = qstor::devnet::DecodeRuntimeVersion(bytes);
  if (!v.ok()) return 0;
  (void)qstor::devnet::RuntimeVersionJson(*v).dump();
  if (qstor::devnet::EncodeRuntimeVersion(*v) != bytes) std::abort();
  return 0;
}
