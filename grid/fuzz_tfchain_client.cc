// libFuzzer target over the chain replies TfchainClient parses itself (the
// SCALE inside them is fuzzed by grid/tfchain's fuzz_tfchain_decode):
// author_extrinsicUpdate statuses, chain_getBlock replies and
// state_queryStorageAt replies. Any input must give a value or a Status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "grid/jsonrpc_ws.h"
#include "grid/tfchain_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = qstor::grid::ParseJsonBounded(text);
  if (!j.ok()) return 0;
  (void)qstor::grid::ParseExtrinsicStatus(*j);
  (void)qstor::grid::FindExtrinsicInBlock(*j, std::string("\x10\x04\x01\x02\x03", 5));
  (void)qstor::grid::ParseStorageChanges(*j);
  return 0;
}
