// Packing the chain calls of an apply into signing chunks.
//
// Every chunk becomes one TFChain extrinsic (a Utility.batch_all of its
// calls) whose signing payload a phone decodes from one QR code; so the
// SCALE-encoded calls of a chunk must total at most kMaxCallBytesPerChunk
// (below). Each call arrives as its encoded size (grid::Grid::CallSizes).
//
// Packing is a bin-packing problem on those sizes. PackBatches runs
// First-Fit-Decreasing and Best-Fit-Decreasing, keeps the better, and when
// that is above the proven lower bound searches exhaustively (depth-first,
// symmetry-pruned, bounded by a node budget) for a packing with fewer
// chunks. The result says which lower bound it proved and whether the count
// is proven minimal. The sign request format around a chunk's payload is in
// reconciler/connect.h and docs/identity.md ("Signing chunks").
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
  size_t max_bytes = kMaxCallBytesPerChunk;  // encoded call bytes per chunk
  uint64_t search_node_budget = 50000;      // exhaustive-search nodes; 0 = heuristics only
};

struct Batch {
  std::vector<size_t> items;  // indices into the input, ascending
  size_t bytes = 0;           // the sum of their sizes
};

struct BatchPlan {
  std::vector<Batch> batches;
  size_t capacity = 0;           // max_bytes
  size_t total_weight = 0;       // sum of the sizes
  size_t lower_bound_l1 = 0;     // ceil(total_weight / capacity)
  size_t lower_bound = 0;        // max(L1, Martello-Toth L2): no packing can use fewer
  bool proven_minimal = false;   // batches.size() is the minimum possible
  uint64_t search_nodes = 0;     // nodes the exhaustive search visited
};

// Packs items of the given encoded sizes into chunks of at most
// options.max_bytes each. Fails with kInvalidArgument when an item is empty
// or alone larger than a chunk (the message names it and its size; qstor
// never splits a call). An empty input gives no chunks. Chunks are ordered
// by their first item, so the plan's order is kept as far as packing allows.
Result<BatchPlan> PackBatches(const std::vector<size_t>& sizes, const BatchOptions& options = {});

// Martello-Toth lower bound L2 for bin packing of `weights` into bins of
// `capacity` (>= ceil(sum/capacity)); exposed for tests and the efficiency
// table. Weights must each be <= capacity.
size_t BinPackingLowerBound(const std::vector<size_t>& weights, size_t capacity);

}  // namespace qstor::reconciler
