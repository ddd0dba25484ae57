#include "fs/repair.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
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

// Every metadata backend's record entries, listed in parallel.
struct MetaListing {
  std::vector<Result<std::vector<MetadataEntry>>> per_backend;
};

MetaListing ListAllMetadata(ObjectStore& store) {
  const size_t n = store.metadata_backends().size();
  MetaListing out;
  out.per_backend.assign(n, Status::Internal("not listed"));
  ThreadPool pool(std::max<size_t>(std::min<size_t>(n, 8), 1));
  ParallelFor(pool, n, [&](size_t i) { out.per_backend[i] = store.ListMetadataEntries(i); });
  return out;
}

// A record key as seen across the metadata backends.
struct KeyView {
  std::optional<MetadataRecordInfo> best;  // newest copy that authenticated
  std::string best_value;
  size_t best_backend = 0;
  std::map<size_t, uint64_t> version;      // backend -> revision of its good copy
  std::map<size_t, bool> live;             // backend -> its good copy is not a tombstone
  std::map<size_t, uint64_t> written;      // backend -> write time of its copy
  std::map<size_t, uint64_t> bytes;        // backend -> size of its copy
  std::set<size_t> corrupt;                // backends whose copy does not authenticate
};

std::map<std::string, KeyView> IndexMetadata(ObjectStore& store, MetaListing& listing) {
  std::map<std::string, KeyView> keys;
  for (size_t i = 0; i < listing.per_backend.size(); ++i) {
    if (!listing.per_backend[i].ok()) continue;
    for (auto& e : *listing.per_backend[i]) {
      KeyView& kv = keys[e.key];
      kv.written[i] = e.written_unix;
      kv.bytes[i] = e.value.size();
      auto info = store.OpenMetadataRecord(e.key, e.value);
      if (!info.ok()) {
        kv.corrupt.insert(i);
        continue;
      }
      kv.version[i] = info->version;
      kv.live[i] = !info->deleted;
      if (!kv.best || info->version > kv.best->version) {
        kv.best = std::move(info.value());
        kv.best_value = std::move(e.value);
        kv.best_backend = i;
      }
    }
  }
  return keys;
}

MetadataCheckReport MetadataReportFrom(ObjectStore& store, const MetaListing& listing,
                                       const std::map<std::string, KeyView>& keys) {
  MetadataCheckReport r;
  const auto& meta = store.metadata_backends();
  r.backends.resize(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    r.backends[i].backend = meta[i].Name();
    r.backends[i].reachable = listing.per_backend[i].ok();
    if (!r.backends[i].reachable) r.backends[i].error = listing.per_backend[i].status().ToString();
  }
  for (const auto& [key, kv] : keys) {
    for (const auto& [i, b] : kv.bytes) r.backends[i].bytes += b;
    if (!kv.best) {
      r.unreadable.push_back(key);
      for (size_t i : kv.corrupt) r.backends[i].corrupt++;
      continue;
    }
    r.objects++;
    MetadataObject obj;
    obj.key = key;
    obj.kind = kv.best->kind;
    obj.name = kv.best->name;
    obj.version = kv.best->version;
    obj.deleted = kv.best->deleted;
    for (size_t i = 0; i < meta.size(); ++i) {
      if (!r.backends[i].reachable) continue;
      MetadataReplicaCheck& b = r.backends[i];
      auto v = kv.version.find(i);
      if (v != kv.version.end() && v->second >= obj.version) {
        b.ok++;
        continue;
      }
      if (v != kv.version.end()) {
        b.stale++;
      } else if (kv.corrupt.count(i)) {
        b.corrupt++;
      } else {
        b.missing++;
      }
      obj.needs.push_back(i);
    }
    if (!obj.needs.empty()) {
      obj.value = kv.best_value;
      r.damaged.push_back(std::move(obj));
    }
  }
  return r;
}

}  // namespace

int MetadataCheckReport::answered() const {
  return static_cast<int>(std::count_if(backends.begin(), backends.end(),
                                        [](const MetadataReplicaCheck& b) { return b.reachable; }));
}

int MetadataCheckReport::unreachable() const {
  return static_cast<int>(backends.size()) - answered();
}

bool MetadataCheckReport::healthy() const {
  return unreadable.empty() &&
         std::all_of(backends.begin(), backends.end(),
                     [](const MetadataReplicaCheck& b) { return b.healthy(); });
}

Result<MetadataCheckReport> CheckMetadata(ObjectStore& store) {
  MetaListing listing = ListAllMetadata(store);
  auto keys = IndexMetadata(store, listing);
  return MetadataReportFrom(store, listing, keys);
}

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
  if (options.check_metadata) {
    auto meta = CheckMetadata(store);
    if (!meta.ok()) return meta.status().WithContext("check of the metadata replicas");
    report.metadata = std::move(meta.value());
    report.metadata_checked = true;
  }
  return report;
}


bool AvailabilityReport::whole() const {
  return degraded == 0 && lost == 0 && (!metadata_checked || metadata.healthy());
}

Result<AvailabilityReport> CheckAvailability(ObjectStore& store,
                                             const AvailabilityOptions& options) {
  AvailabilityReport r;
  // The records first, then the listings: a segment written in between is
  // not counted (its shards precede its record). One rewritten in between
  // (a running mount) may count as degraded: its old shards are gone.
  auto refs = store.List();
  if (!refs.ok()) return refs.status().WithContext("availability check");
  const auto& data = store.data_backends();
  r.data_backends = static_cast<int>(data.size());
  std::vector<Result<std::vector<std::pair<std::string, uint64_t>>>> listed(
      data.size(), Status::Internal("not listed"));
  {
    ThreadPool pool(std::max<size_t>(std::min<size_t>(data.size(), 8), 1));
    ParallelFor(pool, data.size(), [&](size_t i) { listed[i] = store.ListShardKeys(data[i].Name()); });
  }
  std::map<std::string, std::set<std::string>> held;  // answering backend -> its shard keys
  for (size_t i = 0; i < data.size(); ++i) {
    if (!listed[i].ok()) {
      r.unreachable.push_back(data[i].Name() + ": " + listed[i].status().ToString());
      continue;
    }
    r.data_backends_answering++;
    auto& keys = held[data[i].Name()];
    for (auto& entry : *listed[i]) keys.insert(std::move(entry.first));
  }
  std::optional<int> margin;
  for (const SegmentRef& ref : *refs) {
    r.segments++;
    const int n = ref.info.total();
    const int k = ref.info.k;
    std::map<std::string, int> per_backend;  // available shards by backend
    int available = 0;
    for (size_t i = 0; i < ref.shards.size() && static_cast<int>(i) < n; ++i) {
      const std::string& b = ref.shards[i].backend;
      if (b.empty()) continue;
      auto h = held.find(b);
      if (h == held.end() || !h->second.count(store.ShardKey(ref.id, ref.version, static_cast<int>(i)))) {
        continue;
      }
      per_backend[b]++;
      available++;
    }
    // Lose the backends holding the most shards first.
    std::vector<int> groups;
    for (const auto& [b, c] : per_backend) groups.push_back(c);
    std::sort(groups.rbegin(), groups.rend());
    int seg_margin = 0;
    if (static_cast<int>(ref.shards.size()) != n) {
      seg_margin = -1;  // a malformed record: Check calls it lost
    } else if (available < k) {
      seg_margin = available - k;
    } else {
      int left = available;
      for (int c : groups) {
        if (left - c < k) break;
        left -= c;
        seg_margin++;
      }
    }
    margin = margin ? std::min(*margin, seg_margin) : seg_margin;
    if (available < k || static_cast<int>(ref.shards.size()) != n) {
      r.lost++;
    } else if (available < n) {
      r.degraded++;
    } else {
      r.healthy++;
    }
  }
  const int k = store.options().k;
  r.can_lose = margin ? *margin : r.data_backends_answering - k;
  if (options.check_metadata) {
    auto meta = CheckMetadata(store);
    if (!meta.ok()) return meta.status().WithContext("availability check of the metadata replicas");
    r.metadata = std::move(meta.value());
    r.metadata_checked = true;
  }
  return r;
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

namespace {

// The revision of the copy of `key` on metadata backend i: nullopt when it
// has none, 0 when its copy does not authenticate.
Result<std::optional<uint64_t>> ReplicaVersion(ObjectStore& store, size_t i,
                                               const std::string& key, std::string* value) {
  auto cur = store.ReadMetadataEntry(i, key);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) return std::optional<uint64_t>();
  auto info = store.OpenMetadataRecord(key, **cur);
  if (!info.ok()) return std::optional<uint64_t>(0);
  if (value) *value = std::move(**cur);
  return std::optional<uint64_t>(info->version);
}

// Copies the newest revision of one record onto the backends that need it,
// never over a newer copy (see fs/repair.h).
void RestoreObject(ObjectStore& store, const MetadataObject& obj, Throttle& throttle,
                   RepairReport* out) {
  const auto& meta = store.metadata_backends();
  std::vector<size_t> written;
  for (size_t i : obj.needs) {
    const std::string& name = meta[i].Name();
    auto v = ReplicaVersion(store, i, obj.key, nullptr);
    if (!v.ok()) {
      out->metadata_failed++;
      out->errors.push_back("metadata " + obj.kind + " '" + obj.name + "' onto " + name + ": " +
                            v.status().ToString());
      continue;
    }
    if (v->has_value() && **v >= obj.version) {
      out->metadata_newer++;  // written meanwhile (a running mount): leave it
      continue;
    }
    Status st = store.WriteMetadataEntry(i, obj.key, obj.value);
    if (!st.ok()) {
      out->metadata_failed++;
      out->errors.push_back("metadata " + obj.kind + " '" + obj.name + "' onto " + name + ": " +
                            st.ToString());
      continue;
    }
    throttle.Account(obj.value.size());
    out->bytes_written += obj.value.size();
    out->metadata_restored++;
    out->metadata_restored_per_backend[name]++;
    written.push_back(i);
  }
  if (written.empty()) return;
  // A writer may have stored a newer revision on some replicas between our
  // read of a target and our write to it: carry the newest forward.
  uint64_t newest = obj.version;
  std::string newest_value;
  for (size_t i = 0; i < meta.size(); ++i) {
    std::string value;
    auto v = ReplicaVersion(store, i, obj.key, &value);
    if (v.ok() && v->has_value() && **v > newest) {
      newest = **v;
      newest_value = std::move(value);
    }
  }
  if (newest == obj.version) return;
  for (size_t i : written) {
    auto v = ReplicaVersion(store, i, obj.key, nullptr);
    if (v.ok() && v->has_value() && **v >= newest) continue;
    Status st = store.WriteMetadataEntry(i, obj.key, newest_value);
    if (!st.ok()) {
      out->errors.push_back("metadata " + obj.kind + " '" + obj.name + "' onto " +
                            meta[i].Name() + " (carrying revision " + std::to_string(newest) +
                            " forward): " + st.ToString());
    }
  }
}

}  // namespace

Result<RepairReport> Repair(ObjectStore& store, const CheckReport& report,
                            const RepairOptions& options) {
  RepairReport out;
  Throttle throttle(options.max_bytes_per_second);
  // Metadata first: a segment whose record a backend lacks is one failure
  // away from unreadable, and restoring records is cheap.
  if (report.metadata_checked) {
    const MetadataCheckReport& mr = report.metadata;
    const int quorum = static_cast<int>(mr.backends.size() / 2 + 1);
    const int read_quorum = static_cast<int>(mr.backends.size()) - quorum + 1;
    if (!mr.damaged.empty() && mr.answered() < read_quorum) {
      // Without a read quorum the "newest" revision may not be the newest.
      out.metadata_objects = static_cast<int>(mr.damaged.size());
      out.metadata_remaining = out.metadata_objects;
      out.errors.push_back("metadata replicas not restored: only " +
                           std::to_string(mr.answered()) + " of " +
                           std::to_string(mr.backends.size()) +
                           " metadata backends answered, need " + std::to_string(read_quorum));
    } else {
      out.metadata_objects = static_cast<int>(mr.damaged.size());
      for (size_t t = 0; t < mr.damaged.size(); ++t) {
        if (options.cancel && options.cancel->load()) {
          out.metadata_remaining = static_cast<int>(mr.damaged.size() - t);
          break;
        }
        RestoreObject(store, mr.damaged[t], throttle, &out);
      }
    }
  }
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
  auto emit = [&](size_t segments_done) {
    if (!options.progress) return;
    RepairProgress p;
    p.segments_done = segments_done;
    p.segments_total = todo.size();
    p.repaired = out.repaired;
    p.failed = out.failed;
    p.metadata_restored = out.metadata_restored;
    p.metadata_objects = out.metadata_objects;
    p.bytes_read = out.bytes_read;
    p.bytes_written = out.bytes_written;
    options.progress(p);
  };
  emit(0);  // the metadata phase is done
  // Reports a segment as done however its attempt ends.
  struct AtEnd {
    std::function<void()> f;
    ~AtEnd() { f(); }
  };
  ThreadPool pool(8);
  Codec codec;
  size_t done = 0;
  for (size_t t = 0; t < todo.size(); ++t) {
    if ((options.max_segments && done >= options.max_segments) ||
        (options.cancel && options.cancel->load())) {
      out.remaining = static_cast<int>(todo.size() - t);
      break;
    }
    ++done;
    AtEnd reported{[&emit, t] { emit(t + 1); }};
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

bool GcReport::complete() const {
  if (!refused.empty()) return false;
  for (const auto& b : backends) {
    if (!b.scanned) return false;
  }
  for (const auto& it : items) {
    if (!it.error.empty()) return false;
  }
  return true;
}

namespace {
// The sum of one counter over the backends of a report.
uint64_t SumOver(const std::vector<GcBackendReport>& backends,
                 uint64_t GcBackendReport::*field) {
  uint64_t n = 0;
  for (const auto& b : backends) n += b.*field;
  return n;
}
}  // namespace

uint64_t GcReport::garbage() const { return SumOver(backends, &GcBackendReport::garbage); }
uint64_t GcReport::garbage_bytes() const {
  return SumOver(backends, &GcBackendReport::garbage_bytes);
}
uint64_t GcReport::deleted() const { return SumOver(backends, &GcBackendReport::deleted); }
uint64_t GcReport::deleted_bytes() const {
  return SumOver(backends, &GcBackendReport::deleted_bytes);
}

namespace {

using ShardSet = std::set<std::pair<std::string, std::string>>;  // (backend, shard key)

// The shards the newest revision of every live segment record names, or an
// error saying why the metadata cannot be trusted to name them all.
Result<ShardSet> ReferencedShards(ObjectStore& store, const MetaListing& listing,
                                  const std::map<std::string, KeyView>& keys, size_t* live) {
  const auto& meta = store.metadata_backends();
  for (size_t i = 0; i < meta.size(); ++i) {
    if (!listing.per_backend[i].ok()) {
      return Status::Unavailable("metadata backend " + meta[i].Name() +
                                 " did not answer (" + listing.per_backend[i].status().ToString() +
                                 "): a record only it holds could reference any key");
    }
  }
  ShardSet out;
  *live = 0;
  for (const auto& [key, kv] : keys) {
    if (!kv.best) {
      return Status::Corruption("metadata record " + key +
                                " does not authenticate on any backend: what it references is "
                                "unknown");
    }
    if (kv.best->kind != "seg" || kv.best->deleted) continue;
    if (!kv.best->ref) {
      return Status::Corruption("segment record " + key + " has no segment reference");
    }
    const SegmentRef& ref = *kv.best->ref;
    ++*live;
    for (const auto& loc : ref.shards) {
      if (!loc.backend.empty()) {
        out.insert({loc.backend, store.ShardKey(ref.id, ref.version, loc.index)});
      }
    }
  }
  return out;
}

uint64_t NowOn(Result<uint64_t> backend_time) {
  // The backend's clock when it answers TIME, this machine's otherwise.
  return backend_time.ok() ? *backend_time : static_cast<uint64_t>(std::time(nullptr));
}

}  // namespace

Result<GcReport> CollectGarbage(ObjectStore& store, const GcOptions& options) {
  GcReport report;
  const auto& data = store.data_backends();
  const auto& meta = store.metadata_backends();
  const uint64_t grace = static_cast<uint64_t>(std::max<int64_t>(options.grace.count(), 0));

  // 1. Shard keys on the data backends, BEFORE the metadata (rule 1).
  struct DataScan {
    Result<std::vector<StoredKey>> keys = Status::Internal("not scanned");
    uint64_t now = 0;
  };
  std::vector<DataScan> scans(data.size());
  {
    ThreadPool pool(std::max<size_t>(std::min<size_t>(data.size(), 8), 1));
    ParallelFor(pool, data.size(), [&](size_t i) {
      scans[i].now = NowOn(store.DataBackendTime(data[i].Name()));
      scans[i].keys = store.ListShardEntries(data[i].Name());
    });
  }
  // 2. Then every metadata record on every metadata backend.
  std::vector<uint64_t> meta_now(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) meta_now[i] = NowOn(store.MetadataBackendTime(i));
  MetaListing listing = ListAllMetadata(store);
  auto keys = IndexMetadata(store, listing);
  size_t live = 0;
  auto referenced = ReferencedShards(store, listing, keys, &live);
  report.live_segments = live;
  if (!referenced.ok()) {
    // Nothing can be judged garbage; still say what each backend holds.
    report.refused = referenced.status().message();
  }

  for (size_t i = 0; i < data.size(); ++i) {
    GcBackendReport b;
    b.backend = data[i].Name();
    b.role = "data";
    if (!scans[i].keys.ok()) {
      b.error = scans[i].keys.status().ToString();
      report.backends.push_back(std::move(b));
      continue;
    }
    b.scanned = true;
    for (const StoredKey& k : *scans[i].keys) {
      b.keys++;
      if (!referenced.ok() || referenced->count({b.backend, k.key})) continue;
      if (k.written_unix + grace > scans[i].now) {
        b.young++;
        b.young_bytes += k.size;
        continue;
      }
      b.garbage++;
      b.garbage_bytes += k.size;
      report.items.push_back({b.backend, "data", k.key, k.size, k.written_unix,
                              "no live segment references this shard", false, ""});
    }
    report.backends.push_back(std::move(b));
  }

  // Tombstones every replica agrees on.
  std::vector<GcBackendReport> meta_rows(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    meta_rows[i].backend = meta[i].Name();
    meta_rows[i].role = "meta";
    meta_rows[i].scanned = listing.per_backend[i].ok();
    if (!meta_rows[i].scanned) meta_rows[i].error = listing.per_backend[i].status().ToString();
  }
  for (const auto& [key, kv] : keys) {
    for (const auto& [i, n] : kv.bytes) {
      (void)n;
      meta_rows[i].keys++;
    }
    if (!kv.best || !kv.best->deleted) continue;
    bool live_copy = false, young = false;
    for (const auto& [i, l] : kv.live) live_copy = live_copy || l;
    for (const auto& [i, w] : kv.written) young = young || w + grace > meta_now[i];
    if (live_copy || !kv.corrupt.empty() || young || !referenced.ok()) {
      report.kept_tombstones++;
      if (young) {
        for (const auto& [i, n] : kv.bytes) {
          meta_rows[i].young++;
          meta_rows[i].young_bytes += n;
        }
      }
      continue;
    }
    for (const auto& [i, n] : kv.bytes) {
      meta_rows[i].garbage++;
      meta_rows[i].garbage_bytes += n;
      report.items.push_back({meta[i].Name(), "meta", key, n, kv.written.at(i),
                              "tombstone of deleted " + kv.best->kind + " '" + kv.best->name +
                                  "' (revision " + std::to_string(kv.best->version) +
                                  "), on every replica that holds it",
                              false, ""});
    }
  }
  for (auto& r : meta_rows) report.backends.push_back(std::move(r));
  if (options.dry_run || report.items.empty() || !report.refused.empty()) return report;

  // 3. Read the metadata again right before deleting (rule 2).
  {
    MetaListing again = ListAllMetadata(store);
    auto keys2 = IndexMetadata(store, again);
    size_t live2 = 0;
    auto referenced2 = ReferencedShards(store, again, keys2, &live2);
    if (!referenced2.ok()) {
      report.refused = referenced2.status().message();
      return report;
    }
    std::vector<GcItem> keep;
    for (auto& it : report.items) {
      bool still = true;
      if (it.role == "data") {
        still = !referenced2->count({it.backend, it.key});
      } else {
        auto k2 = keys2.find(it.key);
        // Still a tombstone at the same revision, with no live copy anywhere.
        still = k2 == keys2.end() ||
                (k2->second.best && k2->second.best->deleted &&
                 std::none_of(k2->second.live.begin(), k2->second.live.end(),
                              [](const auto& p) { return p.second; }) &&
                 k2->second.corrupt.empty());
      }
      if (still) keep.push_back(std::move(it));
    }
    report.items = std::move(keep);
  }

  std::map<std::pair<std::string, std::string>, GcBackendReport*> rows;
  for (auto& b : report.backends) rows[{b.backend, b.role}] = &b;
  std::map<std::string, size_t> meta_index;
  for (size_t i = 0; i < meta.size(); ++i) meta_index[meta[i].Name()] = i;
  for (auto& it : report.items) {
    Status st = it.role == "data" ? store.DeleteShard(it.backend, it.key)
                                  : store.DeleteMetadataEntry(meta_index.at(it.backend), it.key);
    if (st.ok() || st.code() == Status::Code::kNotFound) {
      it.deleted = true;
      GcBackendReport* b = rows[{it.backend, it.role}];
      b->deleted++;
      b->deleted_bytes += it.bytes;
    } else {
      it.error = st.ToString();
    }
  }
  return report;
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
