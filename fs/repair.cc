#include "fs/repair.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "fs/thread_pool.h"
#include "zdb/client.h"

namespace qstor::fs {

const char* ShardStateName(ShardState s) {
  switch (s) {
    case ShardState::kOk: return "ok";
    case ShardState::kMissing: return "missing";
    case ShardState::kCorrupt: return "corrupt";
    case ShardState::kUnreachable: return "unreachable";
    case ShardState::kUnplaced: return "unplaced";
  }
  return "?";
}

const char* SegmentHealthName(SegmentHealth h) {
  switch (h) {
    case SegmentHealth::kHealthy: return "healthy";
    case SegmentHealth::kDegraded: return "degraded";
    case SegmentHealth::kLost: return "lost";
  }
  return "?";
}

namespace {

// Reads the shards of `ref` in parallel; `bytes[i]` stays empty unless read.
void ReadShards(ObjectStore& store, ThreadPool& pool, const SegmentRef& ref,
                const std::vector<int>& which, std::vector<std::string>* bytes,
                std::vector<ShardCheck>* checks) {
  ParallelFor(pool, which.size(), [&](size_t j) {
    int i = which[j];
    ShardCheck& sc = (*checks)[i];
    const ShardLocation& loc = ref.shards[i];
    sc.index = i;
    sc.backend = loc.backend;
    if (loc.backend.empty()) {
      sc.state = ShardState::kUnplaced;
      return;
    }
    auto r = store.ReadShard(loc.backend, store.ShardKey(ref.id, ref.version, i));
    if (!r.ok()) {
      sc.state = r.status().code() == Status::Code::kNotFound ? ShardState::kUnplaced
                                                              : ShardState::kUnreachable;
      sc.detail = r.status().ToString();
    } else if (!r->has_value()) {
      sc.state = ShardState::kMissing;
    } else {
      (*bytes)[i] = std::move(**r);
      sc.state = ShardState::kOk;  // until verified
    }
  });
}

class Throttle {
 public:
  explicit Throttle(uint64_t bps) : bps_(bps), start_(std::chrono::steady_clock::now()) {}
  void Account(uint64_t bytes) {
    total_ += bytes;
    if (bps_ == 0) return;
    auto due = start_ + std::chrono::microseconds(total_ * 1000000 / bps_);
    std::this_thread::sleep_until(due);
  }

 private:
  uint64_t bps_;
  uint64_t total_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

Result<CheckReport> Check(ObjectStore& store, const CheckOptions& options) {
  auto refs = store.List();
  if (!refs.ok()) return refs.status().WithContext("check");
  CheckReport report;
  ThreadPool pool(std::max<size_t>(options.threads, 1));
  Codec codec;
  std::map<std::string, BackendCheck> per_backend;
  for (const auto& b : store.data_backends()) per_backend[b.Name()].backend = b.Name();
  std::set<std::pair<std::string, std::string>> expected;

  for (const SegmentRef& ref : *refs) {
    SegmentCheck sc;
    sc.id = ref.id;
    sc.version = ref.version;
    sc.k = ref.info.k;
    sc.m = ref.info.m;
    sc.ref = ref;
    const int n = ref.info.total();
    if (static_cast<int>(ref.shards.size()) != n) {
      sc.health = SegmentHealth::kLost;
      sc.error = "metadata lists a wrong number of shards";
      report.lost++;
      report.segments.push_back(std::move(sc));
      continue;
    }
    std::vector<std::string> bytes(n);
    sc.shards.resize(n);
    std::vector<int> all(n);
    for (int i = 0; i < n; ++i) all[i] = i;
    ReadShards(store, pool, ref, all, &bytes, &sc.shards);
    for (int i = 0; i < n; ++i) {
      ShardCheck& s = sc.shards[i];
      if (!s.backend.empty()) expected.insert({s.backend, store.ShardKey(ref.id, ref.version, i)});
      if (s.state == ShardState::kOk &&
          !codec.VerifyShard(store.data_key(), ref.id, ref.version, ref.info, i, bytes[i])) {
        s.state = ShardState::kCorrupt;
      }
      if (s.state == ShardState::kOk) sc.good++;
      if (!s.backend.empty()) {
        BackendCheck& bc = per_backend[s.backend];
        bc.backend = s.backend;
        switch (s.state) {
          case ShardState::kOk: bc.ok++; break;
          case ShardState::kMissing: bc.missing++; break;
          case ShardState::kCorrupt: bc.corrupt++; break;
          default: bc.unreachable++; break;
        }
      }
    }
    if (sc.good >= sc.k && options.full_decode) {
      std::vector<std::string_view> views(n);
      for (int i = 0; i < n; ++i) {
        if (sc.shards[i].state == ShardState::kOk) views[i] = bytes[i];
      }
      auto dec = codec.Decode(store.data_key(), ref.id, ref.version, ref.info, views);
      sc.decoded = dec.ok();
      if (!dec.ok()) sc.error = dec.status().ToString();
    }
    if (sc.good < sc.k || (options.full_decode && !sc.decoded)) {
      sc.health = SegmentHealth::kLost;
      report.lost++;
    } else if (sc.good < n) {
      sc.health = SegmentHealth::kDegraded;
      report.degraded++;
    } else {
      report.healthy++;
    }
    report.segments.push_back(std::move(sc));
  }

  if (options.scan_garbage) {
    const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    for (const auto& b : store.data_backends()) {
      auto keys = store.ListShardKeys(b.Name());
      if (!keys.ok()) continue;  // unreachable: reported per backend already
      for (const auto& [key, ts] : *keys) {
        if (expected.count({b.Name(), key})) continue;
        if (ts + static_cast<uint64_t>(options.garbage_grace.count()) > now) continue;
        report.garbage.push_back({b.Name(), key, "no live segment references it"});
      }
    }
  }
  for (auto& [name, bc] : per_backend) {
    bc.health = store.health().Get(name);
    report.backends.push_back(bc);
  }
  return report;
}

namespace {

// Chooses a backend for a rebuilt shard: not used by the segment, usable,
// fewest shared spread labels, least filled.
std::optional<std::string> PickTarget(ObjectStore& store, const std::set<std::string>& used,
                                      const std::set<std::string>& excluded) {
  const auto& data = store.data_backends();
  std::map<std::string, const Backend*> by_name;
  for (const auto& b : data) by_name[b.Name()] = &b;
  std::optional<std::string> best;
  std::vector<uint64_t> best_score;
  for (const auto& b : data) {
    const std::string name = b.Name();
    if (used.count(name) || excluded.count(name) || !store.health().Usable(name)) continue;
    std::vector<uint64_t> score;
    for (const auto& label : store.options().spread_labels) {
      uint64_t same = 0;
      auto it = b.labels.find(label);
      if (it != b.labels.end()) {
        for (const auto& u : used) {
          auto ub = by_name.find(u);
          if (ub == by_name.end()) continue;
          auto jt = ub->second->labels.find(label);
          if (jt != ub->second->labels.end() && jt->second == it->second) ++same;
        }
      }
      score.push_back(same);
    }
    score.push_back(store.health().Fill(name));
    if (!best || score < best_score) {
      best = name;
      best_score = std::move(score);
    }
  }
  return best;
}

}  // namespace

Result<RepairReport> Repair(ObjectStore& store, const CheckReport& report,
                            const RepairOptions& options) {
  RepairReport out;
  std::vector<const SegmentCheck*> todo;
  for (const auto& sc : report.segments) {
    if (sc.health == SegmentHealth::kLost) {
      out.lost++;
    } else if (sc.health == SegmentHealth::kDegraded) {
      todo.push_back(&sc);
    }
  }
  // Closest to loss first: fewest spare shards (good - k).
  std::stable_sort(todo.begin(), todo.end(), [](const SegmentCheck* a, const SegmentCheck* b) {
    return a->good - a->k < b->good - b->k;
  });
  ThreadPool pool(8);
  Codec codec;
  Throttle throttle(options.max_bytes_per_second);
  size_t done = 0;
  for (size_t t = 0; t < todo.size(); ++t) {
    if ((options.max_segments && done >= options.max_segments) ||
        (options.cancel && options.cancel->load())) {
      out.remaining = static_cast<int>(todo.size() - t);
      break;
    }
    ++done;
    const SegmentCheck& sc = *todo[t];
    SegmentRef ref = sc.ref;
    const int n = ref.info.total();
    // Read k good shards (data shards first: cheapest to rebuild from).
    std::vector<int> good, wanted;
    for (const auto& s : sc.shards) {
      (s.state == ShardState::kOk ? good : wanted).push_back(s.index);
    }
    good.resize(std::min<size_t>(good.size(), ref.info.k));
    std::vector<std::string> bytes(n);
    std::vector<ShardCheck> reads(n);
    ReadShards(store, pool, ref, good, &bytes, &reads);
    std::vector<std::string_view> views(n);
    uint64_t read_bytes = 0;
    for (int i : good) {
      views[i] = bytes[i];
      read_bytes += bytes[i].size();
    }
    out.bytes_read += read_bytes;
    throttle.Account(read_bytes);
    auto rebuilt = codec.Rebuild(store.data_key(), ref.id, ref.version, ref.info, views, wanted);
    if (!rebuilt.ok()) {
      out.failed++;
      out.errors.push_back("segment " + ref.id + ": " + rebuilt.status().ToString());
      continue;
    }
    std::set<std::string> used;
    for (int i : good) used.insert(ref.shards[i].backend);
    for (const auto& s : sc.shards) {
      if (s.state == ShardState::kOk) used.insert(s.backend);
    }
    bool all_placed = true;
    std::vector<std::pair<std::string, std::string>> moved_from;  // old copies to delete
    for (size_t j = 0; j < wanted.size(); ++j) {
      const int i = wanted[j];
      const std::string key = store.ShardKey(ref.id, ref.version, i);
      const ShardCheck& old = sc.shards[i];
      std::set<std::string> excluded;
      bool placed = false;
      // Same backend again if it answers (a wiped or bit-rotted backend).
      if (!old.backend.empty() &&
          (old.state == ShardState::kMissing || old.state == ShardState::kCorrupt) &&
          store.health().Usable(old.backend) && !used.count(old.backend)) {
        Status st = store.WriteShard(old.backend, key, (*rebuilt)[j]);
        if (st.ok()) {
          placed = true;
          used.insert(old.backend);
        } else {
          excluded.insert(old.backend);
        }
      }
      for (int attempt = 0; !placed && attempt < 3; ++attempt) {
        auto target = PickTarget(store, used, excluded);
        if (!target) break;
        Status st = store.WriteShard(*target, key, (*rebuilt)[j]);
        if (st.ok()) {
          placed = true;
          used.insert(*target);
          if (!old.backend.empty() && old.backend != *target) {
            moved_from.emplace_back(old.backend, key);
          }
          ref.shards[i].backend = *target;
        } else {
          excluded.insert(*target);
        }
      }
      if (placed) {
        out.bytes_written += (*rebuilt)[j].size();
        throttle.Account((*rebuilt)[j].size());
      } else {
        all_placed = false;
        ref.shards[i].backend.clear();
      }
    }
    Status st = store.UpdateRef(ref);
    if (!st.ok()) {
      out.failed++;
      out.errors.push_back("segment " + ref.id + ": " + st.ToString());
      continue;
    }
    for (const auto& [b, key] : moved_from) (void)store.DeleteShard(b, key);  // best effort
    if (all_placed) {
      out.repaired++;
      store.ClearRepair(ref.id);
    } else {
      out.failed++;
      out.errors.push_back("segment " + ref.id + ": no healthy backend left for some shards");
    }
  }
  return out;
}

Result<size_t> CollectGarbage(ObjectStore& store, const CheckReport& report) {
  size_t deleted = 0;
  for (const auto& g : report.garbage) {
    Status st = store.DeleteShard(g.backend, g.key);
    if (st.ok() || st.code() == Status::Code::kNotFound) ++deleted;
  }
  return deleted;
}

std::vector<BackendHealth> ProbeBackends(ObjectStore& store) {
  std::vector<const Backend*> all;
  for (const auto& b : store.data_backends()) all.push_back(&b);
  for (const auto& b : store.metadata_backends()) all.push_back(&b);
  std::vector<BackendHealth> out(all.size());
  ThreadPool pool(std::min<size_t>(all.size(), 8));
  zdb::ClientOptions co;
  co.connect_timeout = store.options().connect_timeout;
  co.request_timeout = store.options().request_timeout;
  ParallelFor(pool, all.size(), [&](size_t i) {
    const Backend& b = *all[i];
    const std::string name = b.Name();
    auto start = std::chrono::steady_clock::now();
    Status st;
    auto c = zdb::Client::Connect(b.host, b.port, co);
    if (!c.ok()) {
      st = c.status();
    } else {
      st = (*c)->Select(b.ns, b.password);
      if (st.ok()) {
        auto info = (*c)->NsInfo(b.ns);
        if (info.ok()) {
          store.health().RecordNsInfo(name, info->data_size_bytes, info->space_available);
        } else {
          st = info.status();
        }
      }
    }
    if (st.ok()) {
      store.health().RecordSuccess(name, std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::steady_clock::now() - start));
    } else {
      store.health().RecordFailure(name, st);
    }
    out[i] = store.health().Get(name);
  });
  return out;
}

}  // namespace qstor::fs
