#include "fs/object_store.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "fs/thread_pool.h"
#include "zdb/client.h"

namespace qstor::fs {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBlobSize = 4u << 20;
constexpr char kRecordMagic[] = "QM1";  // + NUL
constexpr size_t kRecordHeader = sizeof(kRecordMagic) + kNonceSize;
constexpr size_t kMaxMget = 256;

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), p, n);
  s.pop_back();
  return s;
}

std::string KeyedHash(const SecretKey& key, std::string_view domain, std::string_view msg) {
  uint8_t out[16];
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), SecretKey::kSize, sizeof(out));
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(domain.data()), domain.size());
  uint8_t sep = 0;
  crypto_generichash_update(&st, &sep, 1);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  crypto_generichash_final(&st, out, sizeof(out));
  return Hex(out, sizeof(out));
}

std::vector<uint8_t> Bytes(const uint8_t* p, size_t n) { return std::vector<uint8_t>(p, p + n); }

json RefToJson(const SegmentRef& r) {
  json j;
  j["id"] = r.id;
  j["v"] = r.version;
  j["k"] = r.info.k;
  j["m"] = r.info.m;
  j["f"] = r.info.flags;
  j["ps"] = r.info.plain_size;
  j["pl"] = r.info.payload_size;
  j["cs"] = r.info.chunk_size;
  j["n"] = json::binary(Bytes(r.info.nonce.data(), r.info.nonce.size()));
  json checks = json::array();
  for (const auto& c : r.info.checks) checks.push_back(json::binary(Bytes(c.data(), c.size())));
  j["c"] = std::move(checks);
  json loc = json::array();
  for (const auto& s : r.shards) loc.push_back(s.backend);
  j["loc"] = std::move(loc);
  j["t"] = r.mtime_unix;
  return j;
}

template <size_t N>
bool CopyBin(const json& j, std::array<uint8_t, N>* out) {
  if (!j.is_binary() || j.get_binary().size() != N) return false;
  std::copy(j.get_binary().begin(), j.get_binary().end(), out->begin());
  return true;
}

Result<SegmentRef> RefFromJson(const json& j) {
  try {
    SegmentRef r;
    r.id = j.at("id").get<std::string>();
    r.version = j.at("v").get<uint64_t>();
    int k = j.at("k").get<int>(), m = j.at("m").get<int>();
    if (k < 1 || m < 0 || k + m > static_cast<int>(kMaxShards)) throw std::runtime_error("k/m");
    r.info.k = static_cast<uint8_t>(k);
    r.info.m = static_cast<uint8_t>(m);
    r.info.flags = j.at("f").get<uint8_t>();
    r.info.plain_size = j.at("ps").get<uint64_t>();
    r.info.payload_size = j.at("pl").get<uint64_t>();
    r.info.chunk_size = j.at("cs").get<uint32_t>();
    if (!CopyBin(j.at("n"), &r.info.nonce)) throw std::runtime_error("nonce");
    const json& c = j.at("c");
    const json& loc = j.at("loc");
    if (!c.is_array() || !loc.is_array() || c.size() != static_cast<size_t>(k + m) ||
        loc.size() != c.size()) {
      throw std::runtime_error("shard lists");
    }
    r.info.checks.resize(k + m);
    for (int i = 0; i < k + m; ++i) {
      if (!CopyBin(c[i], &r.info.checks[i])) throw std::runtime_error("check");
      r.shards.push_back(ShardLocation{i, loc[i].get<std::string>()});
    }
    r.mtime_unix = j.value("t", uint64_t{0});
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("segment metadata record is malformed: ") + e.what());
  }
}

// A decrypted metadata record.
struct Record {
  std::string kind;  // "seg" or "blob"
  std::string name;
  uint64_t version = 0;
  bool deleted = false;
  std::string body;
};

bool Transient(const Status& s) {
  return s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kTimeout ||
         s.code() == Status::Code::kIOError || s.code() == Status::Code::kProtocol;
}

}  // namespace

int SegmentRef::stored() const {
  return static_cast<int>(std::count_if(shards.begin(), shards.end(),
                                        [](const ShardLocation& s) { return !s.backend.empty(); }));
}

struct ObjectStore::Impl {
  FsKeys keys;
  std::vector<Backend> data;
  std::vector<Backend> meta;
  ObjectStoreOptions options;
  int min_durable = 0;
  HealthTracker health;
  std::map<std::string, size_t> data_index;  // name -> index in data
  std::vector<std::unique_ptr<zdb::ClientPool>> data_pools, meta_pools;

  std::mutex codec_mu;  // guards codecs and spare_segments
  std::vector<std::unique_ptr<Codec>> codecs;
  // Encode outputs kept for the next Put: reusing their shard buffers saves
  // allocating, zero-filling and page-faulting (k+m)/k of every segment
  // (5-14% of encode time for 4 MiB segments, docs/benchmarks.md). At most
  // kMaxSpareSegments are kept, so memory stays bounded when many Puts ran
  // at once.
  static constexpr size_t kMaxSpareSegments = 4;
  std::vector<std::unique_ptr<EncodedSegment>> spare_segments;

  mutable std::mutex mu;  // guards the members below
  std::map<std::string, SegmentRef> cache;         // id -> last known live ref
  std::map<std::string, uint64_t> last_version;    // id -> highest version seen
  std::map<std::string, RepairTask> repairs;
  std::vector<GarbageEntry> garbage;

  std::unique_ptr<ThreadPool> pool;  // last: joined first on destruction

  Impl(HealthOptions ho) : health(ho) {}

  // ---- codec pool -------------------------------------------------------
  std::unique_ptr<Codec> TakeCodec() {
    std::lock_guard<std::mutex> lock(codec_mu);
    if (codecs.empty()) {
      CodecOptions co;
      co.compress = options.compress;
      return std::make_unique<Codec>(co);
    }
    auto c = std::move(codecs.back());
    codecs.pop_back();
    return c;
  }
  void GiveCodec(std::unique_ptr<Codec> c) {
    std::lock_guard<std::mutex> lock(codec_mu);
    codecs.push_back(std::move(c));
  }
  std::unique_ptr<EncodedSegment> TakeSegment() {
    std::lock_guard<std::mutex> lock(codec_mu);
    if (spare_segments.empty()) return std::make_unique<EncodedSegment>();
    auto e = std::move(spare_segments.back());
    spare_segments.pop_back();
    return e;
  }
  void GiveSegment(std::unique_ptr<EncodedSegment> e) {
    std::lock_guard<std::mutex> lock(codec_mu);
    if (spare_segments.size() < kMaxSpareSegments) spare_segments.push_back(std::move(e));
  }

  // ---- backend access ---------------------------------------------------
  // Runs fn on a pooled connection to one backend, recording latency and
  // failures. A request that fails on an already-open connection (the
  // server restarted, an idle connection was cut) is retried once on a
  // fresh connection; a failed connect is not retried here.
  template <typename Fn>
  auto WithClient(zdb::ClientPool& pool_, const std::string& name, Fn fn)
      -> decltype(fn(std::declval<zdb::Client&>())) {
    for (int attempt = 0;; ++attempt) {
      auto start = Clock::now();
      auto c = pool_.Acquire();
      if (!c.ok()) {
        health.RecordFailure(name, c.status());
        return c.status();
      }
      auto r = fn(**c);
      Status st;
      if constexpr (std::is_same_v<decltype(r), Status>) {
        st = r;
      } else {
        st = r.status();
      }
      if (st.ok() || st.code() == Status::Code::kNotFound) {
        health.RecordSuccess(name, std::chrono::duration_cast<std::chrono::microseconds>(
                                       Clock::now() - start));
        pool_.Release(std::move(*c));
        return r;
      }
      if (!Transient(st)) {
        health.RecordFailure(name, st);
        pool_.Release(std::move(*c));
        return r;
      }
      // Transient: drop the connection; retry once on a new one.
      if (attempt >= 1) {
        health.RecordFailure(name, st);
        return r;
      }
    }
  }

  Result<size_t> DataIndex(const std::string& name) const {
    auto it = data_index.find(name);
    if (it == data_index.end()) {
      return Status::NotFound("object store: no data backend named '" + name + "'");
    }
    return it->second;
  }

  Status SetShard(size_t b, const std::string& key, const std::string& value) {
    const std::string& name = data[b].Name();
    Status st = WithClient(*data_pools[b], name, [&](zdb::Client& c) -> Status {
      auto r = c.Set(key, value);
      return r.status();
    });
    if (st.ok()) health.AddWritten(name, value.size());
    return st;
  }

  // ---- keys -------------------------------------------------------------
  std::string ShardKey(std::string_view id, uint64_t version, int index) const {
    return options.prefix + "/s/" + KeyedHash(keys.metadata_key, "qstor.shard-key.v1", id) + "/" +
           std::to_string(version) + "/" + std::to_string(index);
  }
  std::string RecordKey(std::string_view kind, std::string_view name) const {
    std::string msg(kind);
    msg.push_back('\0');
    msg.append(name);
    return options.prefix + "/m/" + KeyedHash(keys.metadata_key, "qstor.record-key.v1", msg);
  }
  std::string RecordPrefix() const { return options.prefix + "/m/"; }

  // ---- metadata records -------------------------------------------------
  std::string SealRecord(const std::string& rkey, const Record& rec) const {
    json j;
    j["kind"] = rec.kind;
    j["name"] = rec.name;
    j["v"] = rec.version;
    j["del"] = rec.deleted;
    j["body"] = json::binary(std::vector<uint8_t>(rec.body.begin(), rec.body.end()));
    std::vector<uint8_t> plain = json::to_cbor(j);
    std::string out(kRecordHeader + plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    auto* o = reinterpret_cast<uint8_t*>(out.data());
    std::memcpy(o, kRecordMagic, sizeof(kRecordMagic));
    uint8_t* nonce = o + sizeof(kRecordMagic);
    randombytes_buf(nonce, kNonceSize);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        o + kRecordHeader, nullptr, plain.data(), plain.size(),
        reinterpret_cast<const uint8_t*>(rkey.data()), rkey.size(), nullptr, nonce,
        keys.metadata_key.data());
    return out;
  }

  Result<Record> OpenRecord(const std::string& rkey, const std::string& value) const {
    if (value.size() < kRecordHeader + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        std::memcmp(value.data(), kRecordMagic, sizeof(kRecordMagic)) != 0) {
      return Status::Corruption("metadata record " + rkey + ": bad header");
    }
    const auto* v = reinterpret_cast<const uint8_t*>(value.data());
    std::vector<uint8_t> plain(value.size() - kRecordHeader -
                               crypto_aead_xchacha20poly1305_ietf_ABYTES);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain.data(), nullptr, nullptr, v + kRecordHeader, value.size() - kRecordHeader,
            reinterpret_cast<const uint8_t*>(rkey.data()), rkey.size(), v + sizeof(kRecordMagic),
            keys.metadata_key.data()) != 0) {
      return Status::Corruption("metadata record " + rkey +
                                ": does not authenticate (wrong metadata key or tampered)");
    }
    json j = json::from_cbor(plain, true, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::Corruption("metadata record " + rkey + ": not CBOR");
    }
    try {
      Record r;
      r.kind = j.at("kind").get<std::string>();
      r.name = j.at("name").get<std::string>();
      r.version = j.at("v").get<uint64_t>();
      r.deleted = j.at("del").get<bool>();
      const auto& b = j.at("body").get_binary();
      r.body.assign(b.begin(), b.end());
      return r;
    } catch (const std::exception& e) {
      return Status::Corruption("metadata record " + rkey + ": " + e.what());
    }
  }

  int WriteQuorum() const { return static_cast<int>(meta.size() / 2 + 1); }
  int ReadQuorum() const { return static_cast<int>(meta.size()) - WriteQuorum() + 1; }

  Status WriteRecord(const Record& rec) {
    std::string rkey = RecordKey(rec.kind, rec.name);
    std::string value = SealRecord(rkey, rec);
    std::vector<Status> st(meta.size());
    ParallelFor(*pool, meta.size(), [&](size_t i) {
      st[i] = WithClient(*meta_pools[i], meta[i].Name(), [&](zdb::Client& c) -> Status {
        return c.Set(rkey, value).status();
      });
    });
    int ok = 0;
    std::string errors;
    for (size_t i = 0; i < st.size(); ++i) {
      if (st[i].ok()) {
        ++ok;
      } else {
        errors += "; " + st[i].ToString();
      }
    }
    if (ok < WriteQuorum()) {
      return Status::Unavailable("metadata " + rec.kind + " '" + rec.name + "': stored on " +
                                 std::to_string(ok) + " of " + std::to_string(meta.size()) +
                                 " metadata backends, need " + std::to_string(WriteQuorum()) +
                                 errors);
    }
    return Status::OK();
  }

  // Newest record across a read quorum; nullopt when none exists.
  Result<std::optional<Record>> ReadRecord(std::string_view kind, std::string_view name) {
    std::string rkey = RecordKey(kind, name);
    std::vector<Result<std::optional<std::string>>> got(meta.size(), Status::Internal("unset"));
    ParallelFor(*pool, meta.size(), [&](size_t i) {
      got[i] = WithClient(*meta_pools[i], meta[i].Name(),
                          [&](zdb::Client& c) { return c.Get(rkey); });
    });
    int answered = 0;
    std::optional<Record> best;
    std::string errors;
    std::vector<bool> stale(meta.size(), false);
    std::vector<uint64_t> seen(meta.size(), 0);
    for (size_t i = 0; i < meta.size(); ++i) {
      if (!got[i].ok()) {
        errors += "; " + got[i].status().ToString();
        continue;
      }
      ++answered;
      if (!got[i]->has_value()) continue;
      auto rec = OpenRecord(rkey, **got[i]);
      if (!rec.ok()) {
        errors += "; " + meta[i].Name() + ": " + rec.status().message();
        continue;
      }
      seen[i] = rec->version;
      if (rec->kind != kind || rec->name != name) continue;  // hash collision: impossible
      if (!best || rec->version > best->version) best = std::move(rec.value());
    }
    if (answered < ReadQuorum()) {
      return Status::Unavailable("metadata " + std::string(kind) + " '" + std::string(name) +
                                 "': " + std::to_string(answered) + " of " +
                                 std::to_string(meta.size()) +
                                 " metadata backends answered, need " +
                                 std::to_string(ReadQuorum()) + errors);
    }
    if (best) {  // read repair: bring answering replicas that lag up to date
      std::string value;
      for (size_t i = 0; i < meta.size(); ++i) {
        if (got[i].ok() && seen[i] < best->version) {
          if (value.empty()) value = SealRecord(rkey, *best);
          WithClient(*meta_pools[i], meta[i].Name(), [&](zdb::Client& c) -> Status {
            return c.Set(rkey, value).status();
          });
        }
      }
    }
    return best;
  }

  // All newest records of `kind` across a read quorum of metadata backends.
  Result<std::vector<Record>> ListRecords(std::string_view kind) {
    std::string prefix = RecordPrefix();
    std::vector<Status> st(meta.size());
    std::vector<std::map<std::string, std::string>> found(meta.size());
    ParallelFor(*pool, meta.size(), [&](size_t i) {
      st[i] = WithClient(*meta_pools[i], meta[i].Name(), [&](zdb::Client& c) -> Status {
        std::optional<std::string> cursor;
        std::vector<std::string> rkeys;
        for (;;) {
          auto page = c.Scan(cursor);
          if (!page.ok()) {
            if (page.status().code() == Status::Code::kNotFound) break;
            return page.status();
          }
          if (page->done) break;
          for (auto& e : page->entries) {
            if (e.key.compare(0, prefix.size(), prefix) == 0) rkeys.push_back(e.key);
          }
          if (page->entries.empty()) break;
          cursor = page->next_cursor;
        }
        for (size_t off = 0; off < rkeys.size(); off += kMaxMget) {
          std::vector<std::string> batch(rkeys.begin() + off,
                                         rkeys.begin() + std::min(rkeys.size(), off + kMaxMget));
          auto vals = c.MGet(batch);
          if (!vals.ok()) return vals.status();
          for (size_t j = 0; j < batch.size(); ++j) {
            if ((*vals)[j]) found[i][batch[j]] = std::move(*(*vals)[j]);
          }
        }
        return Status::OK();
      });
    });
    int answered = 0;
    std::string errors;
    std::map<std::string, Record> best;
    for (size_t i = 0; i < meta.size(); ++i) {
      if (!st[i].ok()) {
        errors += "; " + st[i].ToString();
        continue;
      }
      ++answered;
      for (auto& [rkey, value] : found[i]) {
        auto rec = OpenRecord(rkey, value);
        if (!rec.ok() || rec->kind != kind) continue;
        auto it = best.find(rkey);
        if (it == best.end() || rec->version > it->second.version) best[rkey] = std::move(*rec);
      }
    }
    if (answered < ReadQuorum()) {
      return Status::Unavailable("metadata list: " + std::to_string(answered) + " of " +
                                 std::to_string(meta.size()) +
                                 " metadata backends answered, need " +
                                 std::to_string(ReadQuorum()) + errors);
    }
    std::vector<Record> out;
    for (auto& [k, r] : best) {
      if (!r.deleted) out.push_back(std::move(r));
    }
    return out;
  }

  // ---- segment refs -----------------------------------------------------
  // The live ref of `id` (nullopt if absent or deleted); *record_version is
  // the newest record revision (tombstones included), 0 if none.
  Result<std::optional<SegmentRef>> LoadRef(std::string_view id, uint64_t* record_version) {
    auto rec = ReadRecord("seg", id);
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) {
      *record_version = 0;
      return std::optional<SegmentRef>();
    }
    *record_version = (*rec)->version;
    if ((*rec)->deleted) return std::optional<SegmentRef>();
    json j = json::from_cbor((*rec)->body, true, false);
    if (j.is_discarded()) return Status::Corruption("segment metadata: body is not CBOR");
    auto ref = RefFromJson(j);
    if (!ref.ok()) return ref.status();
    return std::optional<SegmentRef>(std::move(ref.value()));
  }

  // Writes the record of `ref` at record revision `revision`.
  Status StoreRef(const SegmentRef& ref, uint64_t revision) {
    Record rec;
    rec.kind = "seg";
    rec.name = ref.id;
    rec.version = revision;
    auto body = json::to_cbor(RefToJson(ref));
    rec.body.assign(body.begin(), body.end());
    return WriteRecord(rec);
  }

  // ---- placement ----------------------------------------------------------
  // Picks a backend for one more shard given those already chosen.
  std::optional<size_t> PickBackend(const std::vector<size_t>& chosen,
                                    const std::set<size_t>& excluded, std::mt19937& rng) {
    std::optional<size_t> best;
    std::vector<uint64_t> best_score;
    for (size_t b = 0; b < data.size(); ++b) {
      if (excluded.count(b) || std::find(chosen.begin(), chosen.end(), b) != chosen.end()) {
        continue;
      }
      std::vector<uint64_t> score;
      score.push_back(health.Usable(data[b].Name()) ? 0 : 1);
      for (const auto& label : options.spread_labels) {
        auto it = data[b].labels.find(label);
        uint64_t same = 0;
        if (it != data[b].labels.end()) {
          for (size_t c : chosen) {
            auto jt = data[c].labels.find(label);
            if (jt != data[c].labels.end() && jt->second == it->second) ++same;
          }
        }
        score.push_back(same);
      }
      score.push_back(health.Fill(data[b].Name()) >> 20);  // MiB granularity
      score.push_back(rng());
      if (!best || score < best_score) {
        best = b;
        best_score = std::move(score);
      }
    }
    return best;
  }

  void QueueRepair(const std::string& id, const std::vector<int>& shards, const std::string& why) {
    if (shards.empty()) return;
    std::lock_guard<std::mutex> lock(mu);
    auto& t = repairs[id];
    t.segment_id = id;
    for (int s : shards) {
      if (std::find(t.shards.begin(), t.shards.end(), s) == t.shards.end()) t.shards.push_back(s);
    }
    t.reason = why;
  }

  void DeleteShardsAsync(const SegmentRef& ref) {
    for (const auto& loc : ref.shards) {
      if (loc.backend.empty()) continue;
      std::string key = ShardKey(ref.id, ref.version, loc.index);
      std::string backend = loc.backend;
      pool->Submit([this, key, backend] {
        auto b = DataIndex(backend);
        Status st = b.ok() ? WithClient(*data_pools[*b], backend,
                                        [&](zdb::Client& c) { return c.Del(key); })
                           : b.status();
        if (!st.ok() && st.code() != Status::Code::kNotFound) {
          std::lock_guard<std::mutex> lock(mu);
          garbage.push_back({backend, key, "delete failed: " + st.ToString()});
        }
      });
    }
  }

  // ---- hedged read ------------------------------------------------------
  Result<std::string> Read(const SegmentRef& ref) {
    const int n = ref.info.total(), k = ref.info.k;
    if (static_cast<int>(ref.shards.size()) != n) {
      return Status::Corruption("segment " + ref.id + ": metadata lists " +
                                std::to_string(ref.shards.size()) + " shards, expected " +
                                std::to_string(n));
    }
    struct Candidate {
      int index;
      size_t backend;
      bool usable;
      double latency;
    };
    std::vector<Candidate> cands;
    for (const auto& loc : ref.shards) {
      if (loc.backend.empty()) continue;
      auto b = DataIndex(loc.backend);
      if (!b.ok()) continue;
      cands.push_back({loc.index, *b, health.Usable(loc.backend), health.LatencyMs(loc.backend)});
    }
    std::stable_sort(cands.begin(), cands.end(), [&](const Candidate& a, const Candidate& b) {
      if (a.usable != b.usable) return a.usable;
      bool ad = a.index < k, bd = b.index < k;  // data shards avoid a decode
      if (std::abs(a.latency - b.latency) > 2.0) return a.latency < b.latency;
      return ad && !bd;
    });

    struct State {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<std::string> shards;
      std::vector<Status> errors;
      int outstanding = 0;
      int arrived = 0;
    };
    auto state = std::make_shared<State>();
    state->shards.resize(n);
    state->errors.resize(n);
    size_t next = 0;
    auto launch = [&] {
      const Candidate c = cands[next++];
      std::string key = ShardKey(ref.id, ref.version, c.index);
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->outstanding++;
      }
      pool->Submit([this, state, c, key] {
        const std::string& name = data[c.backend].Name();
        auto r = WithClient(*data_pools[c.backend], name,
                            [&](zdb::Client& cl) { return cl.Get(key); });
        std::lock_guard<std::mutex> lock(state->mu);
        state->outstanding--;
        if (r.ok() && r->has_value()) {
          state->shards[c.index] = std::move(**r);
          state->arrived++;
        } else {
          state->errors[c.index] =
              r.ok() ? Status::NotFound("zdb " + name + ": shard " + key + " missing") : r.status();
        }
        state->cv.notify_all();
      });
    };

    const int needed = k;
    std::vector<int> bad;
    auto codec = TakeCodec();
    Result<std::string> result = Status::Internal("unreached");
    while (next < cands.size() && static_cast<int>(next) < needed) launch();
    for (;;) {
      std::unique_lock<std::mutex> lock(state->mu);
      bool woke = state->cv.wait_for(lock, options.hedge_delay, [&] {
        return state->arrived >= needed || state->arrived + state->outstanding < needed;
      });
      if (state->arrived >= needed) {
        std::vector<std::string_view> views(n);
        for (int i = 0; i < n; ++i) views[i] = state->shards[i];
        lock.unlock();
        std::vector<int> bad_now;
        result = codec->Decode(keys.data_key, ref.id, ref.version, ref.info, views, &bad_now);
        lock.lock();
        bad.insert(bad.end(), bad_now.begin(), bad_now.end());
        if (result.ok() || bad_now.empty()) break;
        for (int b : bad_now) {  // drop corrupt shards, fetch replacements
          if (!state->shards[b].empty()) {
            state->shards[b].clear();
            state->arrived--;
          }
        }
      }
      int more = std::max(needed - (state->arrived + state->outstanding), woke ? 0 : 1);
      lock.unlock();
      for (int i = 0; i < more && next < cands.size(); ++i) launch();
      lock.lock();
      if (state->arrived < needed && state->outstanding == 0 && next >= cands.size()) {
        std::string errors;
        for (int i = 0; i < n; ++i) {
          if (!state->errors[i].ok()) errors += "; " + state->errors[i].ToString();
        }
        if (!bad.empty()) errors += "; " + std::to_string(bad.size()) + " shard(s) corrupt";
        result = Status::Unavailable("segment " + ref.id + " v" + std::to_string(ref.version) +
                                     ": only " + std::to_string(state->arrived) + " of " +
                                     std::to_string(k) + " needed shards could be read" + errors);
        break;
      }
    }
    GiveCodec(std::move(codec));
    // Queue repair for shards that were missing or corrupt.
    std::vector<int> broken = bad;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      for (int i = 0; i < n; ++i) {
        if (!state->errors[i].ok() && state->errors[i].code() == Status::Code::kNotFound) {
          broken.push_back(i);
        }
      }
    }
    for (const auto& loc : ref.shards) {
      if (loc.backend.empty()) broken.push_back(loc.index);
    }
    QueueRepair(ref.id, broken, "seen missing or corrupt on read");
    return result;
  }
};

// ---------------------------------------------------------------------------

ObjectStore::ObjectStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ObjectStore::~ObjectStore() = default;

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(FsKeys keys, std::vector<Backend> data,
                                                       std::vector<Backend> metadata,
                                                       ObjectStoreOptions options) {
  if (sodium_init() < 0) return Status::Internal("object store: libsodium failed to initialise");
  const int k = options.k, m = options.m;
  if (k < 1 || m < 0 || k + m > static_cast<int>(kMaxShards)) {
    return Status::InvalidArgument("object store: bad k/m " + std::to_string(k) + "+" +
                                   std::to_string(m));
  }
  // Fewer than k+m data backends is a degraded layout (a namespace lost,
  // not yet replaced): every segment can still be read from k shards, and
  // a Put stores what it can place (it succeeds while min_durable holds).
  if (data.size() < static_cast<size_t>(k)) {
    return Status::InvalidArgument("object store: " + std::to_string(k) + "+" + std::to_string(m) +
                                   " needs at least " + std::to_string(k) +
                                   " data backends (k) to read, got " +
                                   std::to_string(data.size()));
  }
  if (metadata.empty()) {
    return Status::InvalidArgument("object store: at least one metadata backend is needed");
  }
  HealthOptions ho;
  ho.cooldown = options.down_cooldown;
  auto impl = std::make_unique<Impl>(ho);
  impl->min_durable = options.min_durable > 0 ? std::min(options.min_durable, k + m)
                                              : std::min(k + 1, k + m);
  if (impl->min_durable < k) {
    return Status::InvalidArgument("object store: min_durable must be >= k");
  }
  zdb::ClientOptions co;
  co.connect_timeout = options.connect_timeout;
  co.request_timeout = options.request_timeout;
  std::set<std::string> names;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!names.insert(data[i].Name()).second) {
      return Status::InvalidArgument("object store: duplicate data backend " + data[i].Name());
    }
    impl->data_index[data[i].Name()] = i;
    impl->data_pools.push_back(std::make_unique<zdb::ClientPool>(
        data[i].host, data[i].port, data[i].ns, data[i].password, co));
  }
  for (auto& b : metadata) {
    impl->meta_pools.push_back(
        std::make_unique<zdb::ClientPool>(b.host, b.port, b.ns, b.password, co));
  }
  impl->keys = std::move(keys);
  impl->data = std::move(data);
  impl->meta = std::move(metadata);
  impl->options = std::move(options);
  impl->pool = std::make_unique<ThreadPool>(std::max<size_t>(impl->options.threads, 2));
  return std::unique_ptr<ObjectStore>(new ObjectStore(std::move(impl)));
}

Result<SegmentRef> ObjectStore::Put(std::string_view segment_id, std::string_view bytes) {
  Impl& s = *impl_;
  const std::string id(segment_id);
  const int k = s.options.k, m = s.options.m, n = k + m;
  // Version: one above anything seen for this id (cache, else metadata).
  uint64_t version = 0;
  std::optional<SegmentRef> old;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.last_version.find(id);
    if (it != s.last_version.end()) {
      version = it->second + 1;
      auto c = s.cache.find(id);
      if (c != s.cache.end()) old = c->second;
    }
  }
  if (version == 0) {
    uint64_t rv = 0;
    auto cur = s.LoadRef(id, &rv);
    if (!cur.ok()) return cur.status().WithContext("put " + id);
    old = std::move(cur.value());
    version = rv + 1;
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    uint64_t& lv = s.last_version[id];
    lv = std::max(lv, version);
  }

  auto codec = s.TakeCodec();
  // A pooled output: its shard buffers are reused (see spare_segments); it
  // goes back to the pool on every return path.
  std::unique_ptr<EncodedSegment> enc_buf = s.TakeSegment();
  struct SegmentReturn {
    Impl& s;
    std::unique_ptr<EncodedSegment>& e;
    ~SegmentReturn() { s.GiveSegment(std::move(e)); }
  } enc_return{s, enc_buf};
  EncodedSegment& enc = *enc_buf;
  Status est = codec->Encode(s.keys.data_key, id, version, k, m, bytes, &enc);
  s.GiveCodec(std::move(codec));
  QSTOR_RETURN_IF_ERROR(est);

  // Placement.
  std::mt19937 rng(std::random_device{}());
  // With fewer data backends than shards (a degraded layout) the shards
  // beyond the backend count have nowhere to go: they stay unplaced and are
  // queued for repair, like a shard whose backend failed.
  std::vector<size_t> chosen;
  std::vector<std::optional<size_t>> initial(n);
  std::set<size_t> none;
  for (int i = 0; i < n; ++i) {
    auto b = s.PickBackend(chosen, none, rng);
    if (!b) break;
    chosen.push_back(*b);
    initial[i] = *b;
  }

  std::mutex place_mu;                          // guards chosen, failed_backends, rng
  std::set<size_t> failed_backends;
  std::vector<std::optional<size_t>> where(n);
  std::vector<Status> errors(n);
  ParallelFor(*s.pool, n, [&](size_t i) {
    if (!initial[i]) {
      errors[i] = Status::Unavailable("no data backend for this shard (" +
                                      std::to_string(s.data.size()) + " data backends for " +
                                      std::to_string(n) + " shards)");
      return;
    }
    const std::string key = s.ShardKey(id, version, static_cast<int>(i));
    size_t b = *initial[i];
    for (size_t relocation = 0; relocation <= s.data.size(); ++relocation) {
      Status st;
      for (int attempt = 0; attempt <= s.options.retries; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
        st = s.SetShard(b, key, enc.shards[i]);
        if (st.ok() || !Transient(st)) break;
      }
      if (st.ok()) {
        where[i] = b;
        return;
      }
      errors[i] = st;
      // Relocate to a spare backend not used by this segment.
      std::lock_guard<std::mutex> lock(place_mu);
      failed_backends.insert(b);
      std::set<size_t> excl = failed_backends;
      auto spare = s.PickBackend(chosen, excl, rng);
      if (!spare || !s.health.Usable(s.data[*spare].Name())) return;
      chosen.push_back(*spare);  // reserve it
      b = *spare;
    }
  });

  SegmentRef ref;
  ref.id = id;
  ref.version = version;
  ref.info = enc.info;
  ref.mtime_unix = static_cast<uint64_t>(std::time(nullptr));
  std::vector<int> missing;
  std::string errs;
  for (int i = 0; i < n; ++i) {
    ShardLocation loc{i, ""};
    if (where[i]) {
      loc.backend = s.data[*where[i]].Name();
    } else {
      missing.push_back(i);
      errs += "; shard " + std::to_string(i) + ": " + errors[i].ToString();
    }
    ref.shards.push_back(loc);
  }
  if (ref.stored() < s.min_durable) {
    s.DeleteShardsAsync(ref);
    return Status::Unavailable("put " + id + ": only " + std::to_string(ref.stored()) + " of " +
                               std::to_string(n) + " shards stored, need " +
                               std::to_string(s.min_durable) + errs);
  }
  Status mst = s.StoreRef(ref, version);
  if (!mst.ok()) {
    s.DeleteShardsAsync(ref);
    return mst.WithContext("put " + id);
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.cache[id] = ref;
    s.repairs.erase(id);
  }
  s.QueueRepair(id, missing, "write did not reach every backend");
  if (old) s.DeleteShardsAsync(*old);
  return ref;
}

Result<SegmentRef> ObjectStore::Stat(std::string_view segment_id) {
  Impl& s = *impl_;
  std::string id(segment_id);
  uint64_t rv = 0;
  auto cur = s.LoadRef(id, &rv);
  if (!cur.ok()) return cur.status().WithContext("stat " + id);
  std::lock_guard<std::mutex> lock(s.mu);
  uint64_t& lv = s.last_version[id];
  lv = std::max(lv, rv);
  if (!cur->has_value()) {
    s.cache.erase(id);
    return Status::NotFound("segment " + id + " does not exist");
  }
  s.cache[id] = **cur;
  return **cur;
}

Result<std::string> ObjectStore::Get(std::string_view segment_id) {
  Impl& s = *impl_;
  std::optional<SegmentRef> cached;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.cache.find(std::string(segment_id));
    if (it != s.cache.end()) cached = it->second;
  }
  if (cached) {
    auto r = s.Read(*cached);
    if (r.ok()) return r;
  }
  // Not cached, or the cached locations failed: read the metadata again
  // (a repair may have moved shards).
  auto ref = Stat(segment_id);
  if (!ref.ok()) return ref.status();
  return s.Read(*ref);
}

Result<std::string> ObjectStore::Get(const SegmentRef& ref) { return impl_->Read(ref); }

Status ObjectStore::Delete(std::string_view segment_id) {
  Impl& s = *impl_;
  std::string id(segment_id);
  uint64_t rv = 0;
  auto cur = s.LoadRef(id, &rv);
  if (!cur.ok()) return cur.status().WithContext("delete " + id);
  if (!cur->has_value()) return Status::NotFound("delete: segment " + id + " does not exist");
  uint64_t v;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    uint64_t& lv = s.last_version[id];
    lv = std::max(lv, rv) + 1;
    v = lv;
  }
  Record tomb;
  tomb.kind = "seg";
  tomb.name = id;
  tomb.version = v;
  tomb.deleted = true;
  QSTOR_RETURN_IF_ERROR(s.WriteRecord(tomb));
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.cache.erase(id);
    s.repairs.erase(id);
  }
  s.DeleteShardsAsync(**cur);
  return Status::OK();
}

Result<std::vector<SegmentRef>> ObjectStore::List() {
  Impl& s = *impl_;
  auto recs = s.ListRecords("seg");
  if (!recs.ok()) return recs.status();
  std::vector<SegmentRef> out;
  for (auto& r : *recs) {
    json j = json::from_cbor(r.body, true, false);
    if (j.is_discarded()) continue;
    auto ref = RefFromJson(j);
    if (!ref.ok()) continue;
    std::lock_guard<std::mutex> lock(s.mu);
    uint64_t& lv = s.last_version[ref->id];
    lv = std::max(lv, r.version);
    out.push_back(std::move(ref.value()));
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentRef& a, const SegmentRef& b) { return a.id < b.id; });
  return out;
}

Status ObjectStore::PutBlob(std::string_view name, std::string_view bytes) {
  Impl& s = *impl_;
  if (name.empty() || name.size() > kMaxSegmentIdSize) {
    return Status::InvalidArgument("blob name must be 1.." + std::to_string(kMaxSegmentIdSize) +
                                   " bytes");
  }
  if (bytes.size() > kMaxBlobSize) {
    return Status::InvalidArgument("blob '" + std::string(name) + "': " +
                                   std::to_string(bytes.size()) + " bytes exceeds 4 MiB");
  }
  auto cur = s.ReadRecord("blob", name);
  if (!cur.ok()) return cur.status();
  Record rec;
  rec.kind = "blob";
  rec.name = std::string(name);
  rec.version = (*cur ? (*cur)->version : 0) + 1;
  rec.body = std::string(bytes);
  return s.WriteRecord(rec);
}

Result<std::string> ObjectStore::GetBlob(std::string_view name) {
  auto cur = impl_->ReadRecord("blob", name);
  if (!cur.ok()) return cur.status();
  if (!*cur || (*cur)->deleted) return Status::NotFound("blob '" + std::string(name) + "'");
  return std::move((*cur)->body);
}

Status ObjectStore::DeleteBlob(std::string_view name) {
  Impl& s = *impl_;
  auto cur = s.ReadRecord("blob", name);
  if (!cur.ok()) return cur.status();
  if (!*cur || (*cur)->deleted) return Status::NotFound("blob '" + std::string(name) + "'");
  Record rec;
  rec.kind = "blob";
  rec.name = std::string(name);
  rec.version = (*cur)->version + 1;
  rec.deleted = true;
  return s.WriteRecord(rec);
}

Result<std::vector<std::string>> ObjectStore::ListBlobs(std::string_view name_prefix) {
  auto recs = impl_->ListRecords("blob");
  if (!recs.ok()) return recs.status();
  std::vector<std::string> out;
  for (auto& r : *recs) {
    if (r.name.compare(0, name_prefix.size(), name_prefix) == 0) out.push_back(r.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<RepairTask> ObjectStore::PendingRepairs() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<RepairTask> out;
  for (const auto& [id, t] : impl_->repairs) out.push_back(t);
  return out;
}

std::vector<GarbageEntry> ObjectStore::Garbage() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->garbage;
}

const ObjectStoreOptions& ObjectStore::options() const { return impl_->options; }
const std::vector<Backend>& ObjectStore::data_backends() const { return impl_->data; }
const std::vector<Backend>& ObjectStore::metadata_backends() const { return impl_->meta; }

std::string ObjectStore::ShardKey(std::string_view segment_id, uint64_t version, int index) const {
  return impl_->ShardKey(segment_id, version, index);
}

Result<std::optional<std::string>> ObjectStore::ReadShard(const std::string& backend,
                                                          const std::string& key) {
  auto b = impl_->DataIndex(backend);
  if (!b.ok()) return b.status();
  return impl_->WithClient(*impl_->data_pools[*b], backend,
                           [&](zdb::Client& c) { return c.Get(key); });
}

Status ObjectStore::WriteShard(const std::string& backend, const std::string& key,
                               const std::string& value) {
  auto b = impl_->DataIndex(backend);
  if (!b.ok()) return b.status();
  return impl_->SetShard(*b, key, value);
}

Status ObjectStore::DeleteShard(const std::string& backend, const std::string& key) {
  auto b = impl_->DataIndex(backend);
  if (!b.ok()) return b.status();
  return impl_->WithClient(*impl_->data_pools[*b], backend,
                           [&](zdb::Client& c) { return c.Del(key); });
}

Result<std::vector<std::pair<std::string, uint64_t>>> ObjectStore::ListShardKeys(
    const std::string& backend) {
  auto entries = ListShardEntries(backend);
  if (!entries.ok()) return entries.status();
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(entries->size());
  for (auto& e : *entries) out.emplace_back(std::move(e.key), e.written_unix);
  return out;
}

Result<std::vector<StoredKey>> ObjectStore::ListShardEntries(const std::string& backend) {
  auto b = impl_->DataIndex(backend);
  if (!b.ok()) return b.status();
  const std::string prefix = impl_->options.prefix + "/s/";
  std::vector<StoredKey> out;
  Status st = impl_->WithClient(*impl_->data_pools[*b], backend, [&](zdb::Client& c) -> Status {
    out.clear();  // a retry on a fresh connection starts over
    std::optional<std::string> cursor;
    for (;;) {
      auto page = c.Scan(cursor);
      if (!page.ok()) {
        return page.status().code() == Status::Code::kNotFound ? Status::OK() : page.status();
      }
      if (page->done || page->entries.empty()) return Status::OK();
      for (auto& e : page->entries) {
        if (e.key.compare(0, prefix.size(), prefix) == 0) {
          out.push_back({e.key, e.size, e.timestamp});
        }
      }
      cursor = page->next_cursor;
    }
  });
  if (!st.ok()) return st;
  return out;
}

Result<uint64_t> ObjectStore::DataBackendTime(const std::string& backend) {
  auto b = impl_->DataIndex(backend);
  if (!b.ok()) return b.status();
  return impl_->WithClient(*impl_->data_pools[*b], backend,
                           [&](zdb::Client& c) { return c.Time(); });
}

namespace {
Status MetaIndexCheck(size_t i, size_t n) {
  if (i >= n) {
    return Status::InvalidArgument("object store: metadata backend index " + std::to_string(i) +
                                   " out of range (" + std::to_string(n) + " backends)");
  }
  return Status::OK();
}
}  // namespace

Result<uint64_t> ObjectStore::MetadataBackendTime(size_t i) {
  QSTOR_RETURN_IF_ERROR(MetaIndexCheck(i, impl_->meta.size()));
  return impl_->WithClient(*impl_->meta_pools[i], impl_->meta[i].Name(),
                           [&](zdb::Client& c) { return c.Time(); });
}

Result<std::vector<MetadataEntry>> ObjectStore::ListMetadataEntries(size_t i) {
  QSTOR_RETURN_IF_ERROR(MetaIndexCheck(i, impl_->meta.size()));
  const std::string prefix = impl_->RecordPrefix();
  std::vector<MetadataEntry> out;
  Status st = impl_->WithClient(
      *impl_->meta_pools[i], impl_->meta[i].Name(), [&](zdb::Client& c) -> Status {
        out.clear();  // a retry on a fresh connection starts over
        std::vector<MetadataEntry> keys;
        std::optional<std::string> cursor;
        for (;;) {
          auto page = c.Scan(cursor);
          if (!page.ok()) {
            if (page.status().code() == Status::Code::kNotFound) break;
            return page.status();
          }
          if (page->done || page->entries.empty()) break;
          for (auto& e : page->entries) {
            if (e.key.compare(0, prefix.size(), prefix) == 0) {
              keys.push_back({e.key, "", e.timestamp});
            }
          }
          cursor = page->next_cursor;
        }
        for (size_t off = 0; off < keys.size(); off += kMaxMget) {
          const size_t end = std::min(keys.size(), off + kMaxMget);
          std::vector<std::string> batch;
          for (size_t j = off; j < end; ++j) batch.push_back(keys[j].key);
          auto vals = c.MGet(batch);
          if (!vals.ok()) return vals.status();
          for (size_t j = off; j < end; ++j) {
            auto& v = (*vals)[j - off];
            if (!v) continue;  // deleted between SCAN and MGET
            keys[j].value = std::move(*v);
            out.push_back(std::move(keys[j]));
          }
        }
        return Status::OK();
      });
  if (!st.ok()) return st;
  return out;
}

Result<std::optional<std::string>> ObjectStore::ReadMetadataEntry(size_t i,
                                                                  const std::string& key) {
  QSTOR_RETURN_IF_ERROR(MetaIndexCheck(i, impl_->meta.size()));
  return impl_->WithClient(*impl_->meta_pools[i], impl_->meta[i].Name(),
                           [&](zdb::Client& c) { return c.Get(key); });
}

Status ObjectStore::WriteMetadataEntry(size_t i, const std::string& key,
                                       const std::string& value) {
  QSTOR_RETURN_IF_ERROR(MetaIndexCheck(i, impl_->meta.size()));
  return impl_->WithClient(*impl_->meta_pools[i], impl_->meta[i].Name(),
                           [&](zdb::Client& c) -> Status { return c.Set(key, value).status(); });
}

Status ObjectStore::DeleteMetadataEntry(size_t i, const std::string& key) {
  QSTOR_RETURN_IF_ERROR(MetaIndexCheck(i, impl_->meta.size()));
  return impl_->WithClient(*impl_->meta_pools[i], impl_->meta[i].Name(),
                           [&](zdb::Client& c) { return c.Del(key); });
}

Result<MetadataRecordInfo> ObjectStore::OpenMetadataRecord(const std::string& key,
                                                           const std::string& value) const {
  auto rec = impl_->OpenRecord(key, value);
  if (!rec.ok()) return rec.status();
  MetadataRecordInfo info;
  info.kind = rec->kind;
  info.name = rec->name;
  info.version = rec->version;
  info.deleted = rec->deleted;
  if (impl_->RecordKey(rec->kind, rec->name) != key) {
    // Authenticated under another key name: impossible unless the record
    // was written by a store with another prefix. Not ours to judge.
    return Status::Corruption("metadata record " + key + ": names " + rec->kind + " '" +
                              rec->name + "', which is stored under another key");
  }
  if (rec->kind == "seg" && !rec->deleted) {
    json j = json::from_cbor(rec->body, true, false);
    if (j.is_discarded()) {
      return Status::Corruption("metadata record " + key + ": segment body is not CBOR");
    }
    auto ref = RefFromJson(j);
    if (!ref.ok()) return ref.status().WithContext("metadata record " + key);
    info.ref = std::move(ref.value());
  }
  return info;
}

Status ObjectStore::UpdateRef(const SegmentRef& ref) {
  Impl& s = *impl_;
  uint64_t rv = 0;
  auto cur = s.LoadRef(ref.id, &rv);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (*cur)->version != ref.version) {
    return Status::FailedPrecondition(
        "segment " + ref.id + ": version " + std::to_string(ref.version) +
        " is no longer current" +
        (cur->has_value() ? " (metadata has " + std::to_string((*cur)->version) + ")" : ""));
  }
  // New locations for the same segment version: the record revision grows
  // so readers prefer it; the segment version (bound into the shards) stays.
  QSTOR_RETURN_IF_ERROR(s.StoreRef(ref, rv + 1));
  std::lock_guard<std::mutex> lock(s.mu);
  uint64_t& lv = s.last_version[ref.id];
  lv = std::max(lv, rv + 1);
  s.cache[ref.id] = ref;
  return Status::OK();
}

const SecretKey& ObjectStore::data_key() const { return impl_->keys.data_key; }

void ObjectStore::ClearRepair(std::string_view segment_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->repairs.erase(std::string(segment_id));
}

HealthTracker& ObjectStore::health() { return impl_->health; }

}  // namespace qstor::fs
