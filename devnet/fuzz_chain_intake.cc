// libFuzzer target: the devnet chain's extrinsic intake (DecodeIntake in
// devnet/tfchain_node.h) over the devnet's own runtime metadata. Hostile
// bytes must give a Status, never a crash, hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "devnet/tfchain_node.h"
#include "devnet/tfchain_runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const qstor::tfchain::Metadata meta = qstor::devnet::BuildDevnetRuntimeMetadata();
  auto r = qstor::devnet::DecodeIntake(meta, std::string_view(reinterpret_cast<const char*>(data), size));
  (void)r;
  return 0;
}
