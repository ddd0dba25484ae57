#include "reconciler/batch.h"

#include <algorithm>
#include <numeric>


namespace qstor::reconciler {
namespace {

size_t CeilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

// Depth-first search for a packing into exactly `target` bins (or fewer).
class ExactSearch {
 public:
  ExactSearch(const std::vector<size_t>& weights, size_t capacity, uint64_t budget)
      : w_(weights),
        cap_(capacity),
        budget_(budget),
        suffix_(weights.size() + 1, 0),
        tried_(weights.size()) {
    for (size_t i = w_.size(); i-- > 0;) suffix_[i] = suffix_[i + 1] + w_[i];
  }

  // Returns true and fills `assign` (bin per item) when a packing into
  // `target` bins exists; false when none exists or the budget ran out
  // (exhausted() tells which).
  bool Run(size_t target, std::vector<size_t>& assign) {
    target_ = target;
    residual_.assign(target, 0);
    assign_.assign(w_.size(), 0);
    if (!Dfs(0, 0, 0)) return false;
    assign = assign_;
    return true;
  }
  bool exhausted() const { return nodes_ > budget_; }
  uint64_t nodes() const { return nodes_; }

 private:
  bool Dfs(size_t i, size_t used, size_t free_in_used) {
    if (++nodes_ > budget_) return false;
    if (i == w_.size()) return true;
    if (suffix_[i] > free_in_used + (target_ - used) * cap_) return false;
    size_t wi = w_[i];
    // Bins with the same residual are interchangeable: try one of them.
    // One scratch list per depth, reused (no allocation per node).
    std::vector<size_t>& tried = tried_[i];
    tried.clear();
    for (size_t b = 0; b < used; ++b) {
      size_t r = residual_[b];
      if (r < wi || std::find(tried.begin(), tried.end(), r) != tried.end()) continue;
      tried.push_back(r);
      residual_[b] = r - wi;
      assign_[i] = b;
      if (Dfs(i + 1, used, free_in_used - wi)) return true;
      residual_[b] = r;
      if (nodes_ > budget_) return false;
    }
    if (used < target_) {
      residual_[used] = cap_ - wi;
      assign_[i] = used;
      if (Dfs(i + 1, used + 1, free_in_used + cap_ - wi)) return true;
    }
    return false;
  }

  const std::vector<size_t>& w_;
  size_t cap_;
  uint64_t budget_;
  std::vector<size_t> suffix_;
  std::vector<std::vector<size_t>> tried_;
  size_t target_ = 0;
  std::vector<size_t> residual_;
  std::vector<size_t> assign_;
  uint64_t nodes_ = 0;
};

// First-Fit-Decreasing (best_fit = false) or Best-Fit-Decreasing on weights
// already sorted in decreasing order. Returns the bin of every item.
std::vector<size_t> FitDecreasing(const std::vector<size_t>& w, size_t cap, bool best_fit,
                                  size_t* bins_used) {
  std::vector<size_t> residual;
  std::vector<size_t> assign(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    size_t chosen = residual.size();
    for (size_t b = 0; b < residual.size(); ++b) {
      if (residual[b] < w[i]) continue;
      if (!best_fit) {
        chosen = b;
        break;
      }
      if (chosen == residual.size() || residual[b] < residual[chosen]) chosen = b;
    }
    if (chosen == residual.size()) residual.push_back(cap);
    residual[chosen] -= w[i];
    assign[i] = chosen;
  }
  *bins_used = residual.size();
  return assign;
}

}  // namespace

size_t BinPackingLowerBound(const std::vector<size_t>& weights, size_t capacity) {
  if (weights.empty() || capacity == 0) return 0;
  size_t total = std::accumulate(weights.begin(), weights.end(), size_t{0});
  size_t best = CeilDiv(total, capacity);
  // Martello & Toth (1990) L2: for each threshold a <= C/2, items above
  // C - a each need their own bin, items in (C/2, C - a] too, and items in
  // [a, C/2] must fit in what those leave free or open new bins.
  std::vector<size_t> alphas = {0};
  for (size_t w : weights) {
    if (2 * w <= capacity) alphas.push_back(w);
  }
  std::sort(alphas.begin(), alphas.end());
  alphas.erase(std::unique(alphas.begin(), alphas.end()), alphas.end());
  for (size_t a : alphas) {
    size_t j1 = 0, j2 = 0, sum_j2 = 0, sum_j3 = 0;
    for (size_t w : weights) {
      if (w > capacity - a) {
        ++j1;
      } else if (2 * w > capacity) {
        ++j2;
        sum_j2 += w;
      } else if (w >= a) {
        sum_j3 += w;
      }
    }
    size_t room = j2 * capacity - sum_j2;
    size_t extra = sum_j3 > room ? CeilDiv(sum_j3 - room, capacity) : 0;
    best = std::max(best, j1 + j2 + extra);
  }
  return best;
}

Result<BatchPlan> PackBatches(const std::vector<size_t>& sizes, const BatchOptions& options) {
  BatchPlan plan;
  const size_t n = sizes.size();
  if (n == 0) {
    plan.proven_minimal = true;
    return plan;
  }
  if (options.max_bytes == 0) return Status::InvalidArgument("batching: a chunk limit of 0 bytes");
  const size_t cap = options.max_bytes;
  plan.capacity = cap;
  const std::vector<size_t>& weight = sizes;
  for (size_t i = 0; i < n; ++i) {
    if (weight[i] == 0) {
      return Status::InvalidArgument("batching: call #" + std::to_string(i + 1) + " is empty");
    }
    if (weight[i] > cap) {
      return Status::InvalidArgument(
          "batching: call #" + std::to_string(i + 1) + " encodes to " + std::to_string(weight[i]) +
          " bytes, but one signing chunk carries at most " + std::to_string(cap) +
          " bytes of calls (its sign request must fit one QR code of " +
          std::to_string(kQrMaxPayloadBytes) +
          " bytes). qstor does not split a call across codes; make its deployment data smaller "
          "(fewer or shorter labels).");
    }
    plan.total_weight += weight[i];
  }

  // Items in decreasing weight; ties by index so the result is deterministic.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return weight[a] > weight[b]; });
  std::vector<size_t> w(n);
  for (size_t k = 0; k < n; ++k) w[k] = weight[order[k]];

  plan.lower_bound_l1 = CeilDiv(plan.total_weight, cap);
  plan.lower_bound = std::max(plan.lower_bound_l1, BinPackingLowerBound(w, cap));

  size_t ffd_bins = 0, bfd_bins = 0;
  std::vector<size_t> assign = FitDecreasing(w, cap, false, &ffd_bins);
  std::vector<size_t> bfd = FitDecreasing(w, cap, true, &bfd_bins);
  size_t bins = ffd_bins;
  if (bfd_bins < bins) {
    bins = bfd_bins;
    assign = std::move(bfd);
  }
  if (bins == plan.lower_bound) {
    plan.proven_minimal = true;
  } else if (options.search_node_budget > 0) {
    ExactSearch search(w, cap, options.search_node_budget);
    while (bins > plan.lower_bound) {
      std::vector<size_t> better;
      if (search.Run(bins - 1, better)) {
        assign = std::move(better);
        --bins;
        if (bins == plan.lower_bound) plan.proven_minimal = true;
        continue;
      }
      // No packing into bins - 1 exists unless the budget cut the search.
      plan.proven_minimal = !search.exhausted();
      break;
    }
    plan.search_nodes = search.nodes();
  }

  // Group by bin; number the batches by their first reservation so that the
  // plan's order is kept as far as packing allows.
  std::vector<std::vector<size_t>> groups(bins);
  for (size_t k = 0; k < n; ++k) groups[assign[k]].push_back(order[k]);
  for (auto& g : groups) std::sort(g.begin(), g.end());
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const std::vector<size_t>& g) { return g.empty(); }),
               groups.end());
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  for (auto& g : groups) {
    Batch batch;
    batch.items = std::move(g);
    for (size_t i : batch.items) batch.bytes += sizes[i];
    if (batch.bytes > cap) {
      return Status::Internal("batching: a chunk of " + std::to_string(batch.bytes) +
                              " bytes, over the limit " + std::to_string(cap));
    }
    plan.batches.push_back(std::move(batch));
  }
  return plan;
}

}  // namespace qstor::reconciler
