// Packing the reservations of an apply into QR-sized signing batches.
//
// Each reservation arrives already serialized as one compact JSON value (the
// bytes that go into the sign request). A batch is the envelope
//
//   {"qstor":"sign","v":1,"batch":B,"of":N,"items":[R1,R2,...]}
//
// written exactly so, without spaces: B is 1-based, N the number of batches,
// and every Ri is a reservation's bytes copied verbatim (they are never
// re-serialized, so a signer hashes what qstor hashed). The payload is
// ASCII/UTF-8 text and goes into the QR code in byte (8-bit) mode; at level L
// a version-40 code holds at most 2953 bytes (kQrMaxPayloadBytes). Format
// documented in docs/identity.md ("Signing batches").
//
// Packing is a bin-packing problem on the encoded sizes: an item weighs
// len(Ri) + 1 (its comma) and a batch holds max_payload - overhead + 1, where
// overhead is the envelope with B and N at their widest (the digits of the
// reservation count). PackBatches runs First-Fit-Decreasing and
// Best-Fit-Decreasing, keeps the better, and when that is above the proven
// lower bound searches exhaustively (depth-first, symmetry-pruned, bounded by
// a node budget) for a packing with fewer batches. The result says which
// lower bound it proved and whether the count is proven minimal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace qstor::reconciler {

// Byte-mode capacity of a version-40 QR code at error-correction level L.
inline constexpr size_t kQrMaxPayloadBytes = 2953;

// The longest SCALE signing payload (call ‖ extra ‖ additional) of one
// signing chunk. A chunk's sign request, as the app receives it (the relay's
// document in the URL flow, the whole QR text in the inline flow: base64 of
// the payload plus its JSON fields), then fits one QR code of
// kQrMaxPayloadBytes; reconciler/connect_test proves the worst case.
inline constexpr size_t kMaxSigningPayloadBytes = 1900;
// What the extrinsic adds around its calls in the payload, at most: the
// signed extensions' extra (era 2, compact nonce <= 5, compact tip 1) and
// additional bytes (spec 4, tx 4, genesis 32, era block 32), and a
// Utility.batch_all's pallet, call and compact count (<= 4).
inline constexpr size_t kSigningPayloadOverhead = 8 + 72 + 4;
// The bytes of SCALE-encoded calls one chunk may carry.
inline constexpr size_t kMaxCallBytesPerChunk = kMaxSigningPayloadBytes - kSigningPayloadOverhead;

struct BatchOptions {
  size_t max_payload = kQrMaxPayloadBytes;  // bytes per QR payload, envelope included
  uint64_t search_node_budget = 50000;      // exhaustive-search nodes; 0 = heuristics only
};

struct Batch {
  std::vector<size_t> items;  // indices into the input, ascending
  std::string payload;        // the exact bytes that go into the QR code
};

struct BatchPlan {
  std::vector<Batch> batches;
  size_t capacity = 0;           // per-batch capacity in item weights (see above)
  size_t total_weight = 0;       // sum of item weights (len + 1)
  size_t total_encoded = 0;      // sum of the payload sizes actually produced
  size_t lower_bound_l1 = 0;     // ceil(total_weight / capacity)
  size_t lower_bound = 0;        // max(L1, Martello-Toth L2): no packing can use fewer
  bool proven_minimal = false;   // batches.size() is the minimum possible
  uint64_t search_nodes = 0;     // nodes the exhaustive search visited
};

// Packs `reservations` (each one compact JSON value) into batches whose
// payload is at most options.max_payload bytes. Fails with kInvalidArgument
// when a reservation is not a JSON value, or when one reservation alone does
// not fit a code together with the envelope (the message names it and its
// size; qstor never splits a reservation). An empty input gives no batches.
Result<BatchPlan> PackBatches(const std::vector<std::string>& reservations,
                              const BatchOptions& options = {});

// The envelope bytes of batch `b` (1-based) of `n` around the given items.
std::string EncodeBatchEnvelope(size_t b, size_t n, const std::vector<std::string>& items);

// Envelope overhead in bytes for batch/of numbers of at most `digits`
// decimal digits each, with no items.
size_t BatchEnvelopeOverhead(size_t digits);

// Martello-Toth lower bound L2 for bin packing of `weights` into bins of
// `capacity` (>= ceil(sum/capacity)); exposed for tests and the efficiency
// table. Weights must each be <= capacity.
size_t BinPackingLowerBound(const std::vector<size_t>& weights, size_t capacity);

}  // namespace qstor::reconciler
