// libFuzzer target: the one-writer records (fsmeta.head, fsmeta.lease) come
// from metadata backends anyone with the namespace password can write; their
// decoders must never crash, and whatever they accept must survive an
// encode/decode round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fs/mount/writer_lease.h"

using qstor::fs::mount::DecodeHead;
using qstor::fs::mount::DecodeLease;
using qstor::fs::mount::EncodeHead;
using qstor::fs::mount::EncodeLease;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto h = DecodeHead(in); h.ok()) {
    auto again = DecodeHead(EncodeHead(*h));
    if (!again.ok() || again->gen != h->gen || again->cache_id != h->cache_id ||
        again->host != h->host || again->pid != h->pid || again->written_unix != h->written_unix) {
      __builtin_trap();
    }
  }
  if (auto l = DecodeLease(in); l.ok()) {
    auto again = DecodeLease(EncodeLease(*l));
    if (!again.ok() || again->cache_id != l->cache_id || again->host != l->host ||
        again->pid != l->pid || again->mountpoint != l->mountpoint || again->seq != l->seq ||
        again->released != l->released || again->renewed_unix != l->renewed_unix ||
        again->duration_ms != l->duration_ms || again->renew_ms != l->renew_ms) {
      __builtin_trap();
    }
  }
  return 0;
}
