#include "fs/mount/writer_lease.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <future>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/file_util.h"

namespace qstor::fs::mount {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

Result<nlohmann::json> ParseObject(std::string_view text, const char* what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption(std::string(what) + " record is not a JSON object");
  }
  return j;
}

// Integer fields, strictly. nlohmann's get<uint64_t>() converts whatever
// number it finds: a float out of range (`"gen": 7e26`, or 27 digits, which
// parse as a double) is undefined behaviour, and a negative one wraps.
// Throws (caught by the decoders) with the field named.
uint64_t U64Field(const nlohmann::json& j, const char* key, bool required, uint64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) throw std::runtime_error(std::string("no '") + key + "' field");
    return def;
  }
  if (!it->is_number_unsigned()) {
    throw std::runtime_error(std::string("'") + key + "' is not an integer from 0 to 2^64-1");
  }
  return it->get<uint64_t>();
}

int64_t I64Field(const nlohmann::json& j, const char* key, int64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) {
      throw std::runtime_error(std::string("'") + key + "' is out of range");
    }
    return static_cast<int64_t>(v);
  }
  if (!it->is_number_integer()) throw std::runtime_error(std::string("'") + key + "' is not an integer");
  return it->get<int64_t>();
}

std::string DescribeHolder(const LeaseRecord& l) {
  return fmt::format("host {} (pid {}, mount point {}, cache {})", l.host, l.pid,
                     l.mountpoint.empty() ? "?" : l.mountpoint, l.cache_id);
}

}  // namespace

std::string FormatUnixTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string EncodeHead(const HeadRecord& h) {
  return nlohmann::json{{"gen", h.gen},
                        {"cache_id", h.cache_id},
                        {"host", h.host},
                        {"pid", h.pid},
                        {"written_unix", h.written_unix}}
      .dump();
}

Result<HeadRecord> DecodeHead(std::string_view text) {
  auto j = ParseObject(text, kHeadRecord);
  if (!j.ok()) return j.status();
  HeadRecord h;
  try {
    h.gen = U64Field(*j, "gen", true);
    h.cache_id = j->value("cache_id", std::string());
    h.host = j->value("host", std::string());
    h.pid = I64Field(*j, "pid");
    h.written_unix = I64Field(*j, "written_unix");
  } catch (const std::exception& e) {
    return Status::Corruption(std::string(kHeadRecord) + " record: " + e.what());
  }
  return h;
}

std::string EncodeLease(const LeaseRecord& l) {
  return nlohmann::json{{"cache_id", l.cache_id},       {"host", l.host},
                        {"pid", l.pid},                 {"mountpoint", l.mountpoint},
                        {"seq", l.seq},                 {"released", l.released},
                        {"renewed_unix", l.renewed_unix}, {"duration_ms", l.duration_ms},
                        {"renew_ms", l.renew_ms}}
      .dump();
}

Result<LeaseRecord> DecodeLease(std::string_view text) {
  auto j = ParseObject(text, kLeaseRecord);
  if (!j.ok()) return j.status();
  LeaseRecord l;
  try {
    l.cache_id = j->at("cache_id").get<std::string>();
    l.seq = U64Field(*j, "seq", true);
    l.host = j->value("host", std::string());
    l.pid = I64Field(*j, "pid");
    l.mountpoint = j->value("mountpoint", std::string());
    l.released = j->value("released", false);
    l.renewed_unix = I64Field(*j, "renewed_unix");
    l.duration_ms = I64Field(*j, "duration_ms");
    l.renew_ms = I64Field(*j, "renew_ms");
  } catch (const std::exception& e) {
    return Status::Corruption(std::string(kLeaseRecord) + " record: " + e.what());
  }
  return l;
}

Result<std::optional<HeadRecord>> ReadHead(SegmentSink& sink) {
  auto r = sink.GetMeta(kHeadRecord);
  if (!r.ok()) {
    if (r.status().code() == Status::Code::kNotFound) return std::optional<HeadRecord>();
    return r.status().WithContext("reading " + std::string(kHeadRecord));
  }
  auto h = DecodeHead(*r);
  if (!h.ok()) return h.status();
  return std::optional<HeadRecord>(std::move(h).value());
}

Status WriteHead(SegmentSink& sink, const HeadRecord& h) {
  return sink.PutMeta(kHeadRecord, EncodeHead(h));
}

Result<std::optional<LeaseRecord>> ReadLease(SegmentSink& sink) {
  auto r = sink.GetMeta(kLeaseRecord);
  if (!r.ok()) {
    if (r.status().code() == Status::Code::kNotFound) return std::optional<LeaseRecord>();
    return r.status().WithContext("reading " + std::string(kLeaseRecord));
  }
  auto l = DecodeLease(*r);
  if (!l.ok()) return l.status();
  return std::optional<LeaseRecord>(std::move(l).value());
}

Status WriteLease(SegmentSink& sink, const LeaseRecord& l) {
  return sink.PutMeta(kLeaseRecord, EncodeLease(l));
}

Result<std::string> LoadOrCreateCacheId(const std::string& cache_dir) {
  const std::string path = cache_dir + "/cache-id";
  auto text = ReadFileBounded(path, 128, "cache id");
  if (text.ok()) {
    std::string id = std::move(*text);
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (!id.empty()) return id;
  } else if (text.status().code() != Status::Code::kNotFound) {
    return text.status();
  }
  unsigned char raw[16];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  std::string id;
  for (unsigned char c : raw) id += fmt::format("{:02x}", c);
  QSTOR_RETURN_IF_ERROR(WriteFileAtomic(path, id + "\n", 0600));
  return id;
}

Result<CacheGen> ReadCacheGen(const std::string& cache_dir) {
  CacheGen c;
  std::string db = cache_dir + "/meta.db";
  if (::access(db.c_str(), F_OK) != 0) return c;
  c.fresh = false;
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string err = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    sqlite3_close(h);
    return Status::IOError("open " + db + ": " + err);
  }
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(h, "SELECT v FROM meta WHERE k='gen'", -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) c.gen = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  }
  // No meta table: a meta.db that never finished its first open; gen 0.
  sqlite3_finalize(st);
  sqlite3_close(h);
  return c;
}

bool CacheIsStale(const CacheGen& cache, const std::string& cache_id,
                  const std::optional<HeadRecord>& head) {
  if (cache.fresh || !head) return false;
  return head->gen > cache.gen && head->cache_id != cache_id;
}

Status CheckCacheNotStale(const CacheGen& cache, const std::string& cache_id,
                          const std::optional<HeadRecord>& head, const std::string& cache_dir) {
  if (!CacheIsStale(cache, cache_id, head)) return Status::OK();
  return Status::FailedPrecondition(fmt::format(
      "this cache is older than the storage on the grid (grid generation {} written by host {} "
      "at {}; cache has {}): drop the cache (rm -r {}) or mount with --take-over",
      head->gen, head->host.empty() ? "?" : head->host, FormatUnixTime(head->written_unix),
      cache.gen, cache_dir));
}

// ---------------------------------------------------------------------------
// WriterLease
// ---------------------------------------------------------------------------

struct WriterLease::State {
  std::shared_ptr<SegmentSink> sink;
  LeaseOptions opt;
  mutable std::mutex mu;  // guards everything below; serializes record writes
  LeaseRecord rec;
  std::string lost_reason;
  Clock::time_point last_ok;
  bool lost = false;
  bool stop = false;      // no renewal may write after this
  bool released = false;
  std::condition_variable cv;

  void MarkLost(const LeaseRecord& other) {  // mu held
    if (lost) return;
    lost = true;
    lost_reason = "the writer lease was taken over by " + DescribeHolder(other) +
                  "; this mount no longer writes to the grid (read-only from now on)";
    spdlog::error("mount: {}", lost_reason);
  }

  Status RenewOnce() {
    std::lock_guard l(mu);
    if (lost) return Status::FailedPrecondition(lost_reason);
    if (stop) return Status::OK();
    auto cur = ReadLease(*sink);
    if (!cur.ok()) return cur.status();
    if (*cur && (*cur)->cache_id != rec.cache_id) {
      MarkLost(**cur);
      return Status::FailedPrecondition(lost_reason);
    }
    LeaseRecord next = rec;
    next.seq = std::max(rec.seq, *cur ? (*cur)->seq : 0) + 1;
    next.released = false;
    next.renewed_unix = NowUnix();
    auto before = Clock::now();
    QSTOR_RETURN_IF_ERROR(WriteLease(*sink, next));
    rec = next;
    last_ok = before;
    return Status::OK();
  }
};

WriterLease::~WriterLease() {
  {
    std::lock_guard l(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
}

Result<std::unique_ptr<WriterLease>> WriterLease::Acquire(std::shared_ptr<SegmentSink> sink,
                                                          const LeaseOptions& opt) {
  if (opt.duration.count() <= 0 || opt.renew.count() <= 0 || opt.renew >= opt.duration) {
    return Status::InvalidArgument(fmt::format(
        "lease {} ms, renewed every {} ms: the renewal interval must be shorter than the lease",
        opt.duration.count(), opt.renew.count()));
  }
  auto cur = ReadLease(*sink);
  if (!cur.ok()) return cur.status().WithContext("writer lease");
  uint64_t seq = 0;
  if (*cur) {
    const LeaseRecord& other = **cur;
    seq = other.seq;
    bool foreign = !other.released && other.cache_id != opt.cache_id;
    if (foreign && opt.take_over) {
      spdlog::warn("mount: taking the writer lease over from {} (--take-over); it stops writing "
                   "to the grid at its next renewal or snapshot",
                   DescribeHolder(other));
    } else if (foreign) {
      // Watch it on our clock: a live holder rewrites it every renew_ms.
      auto window = opt.duration + opt.renew;
      auto poll = opt.poll.count() > 0 ? opt.poll
                                       : std::min(std::chrono::milliseconds(250),
                                                  opt.renew / 4 + std::chrono::milliseconds(1));
      spdlog::warn("mount: the writer lease is held by {}; watching it for up to {} ms to see "
                   "whether it is still renewed",
                   DescribeHolder(other), window.count());
      auto start = Clock::now();
      for (;;) {
        std::this_thread::sleep_for(poll);
        auto again = ReadLease(*sink);
        if (!again.ok()) return again.status().WithContext("writer lease");
        if (!*again) break;  // deleted: free
        const LeaseRecord& now = **again;
        seq = std::max(seq, now.seq);
        if (now.released || now.cache_id == opt.cache_id) break;
        if (now.seq != other.seq || now.cache_id != other.cache_id) {
          int64_t dur = now.duration_ms > 0 ? now.duration_ms : opt.duration.count();
          int64_t renew = now.renew_ms > 0 ? now.renew_ms : opt.renew.count();
          return Status::FailedPrecondition(fmt::format(
              "the storage is mounted for writing by {}: its lease was just renewed (at {} by "
              "its clock) and ends {} s after its last renewal, at about {} by our clock, unless "
              "renewed again (every {} s while that mount runs); unmount it there, mount here "
              "with --read-only, or take over with --take-over",
              DescribeHolder(now), FormatUnixTime(now.renewed_unix), (dur + 999) / 1000,
              FormatUnixTime(NowUnix() + (dur + 999) / 1000), (renew + 999) / 1000));
        }
        if (Clock::now() - start >= window) {
          spdlog::warn("mount: the writer lease of {} was not renewed for {} ms: expired; taking "
                       "it",
                       DescribeHolder(now), window.count());
          break;
        }
      }
    }
  }
  LeaseRecord mine;
  mine.cache_id = opt.cache_id;
  mine.host = opt.host;
  mine.pid = opt.pid;
  mine.mountpoint = opt.mountpoint;
  mine.seq = seq + 1;
  mine.released = false;
  mine.renewed_unix = NowUnix();
  mine.duration_ms = opt.duration.count();
  mine.renew_ms = opt.renew.count();
  auto taken_at = Clock::now();
  QSTOR_RETURN_IF_ERROR(WriteLease(*sink, mine).WithContext("writing the writer lease"));
  // Read it back: of two mounts taking a free lease at the same moment, the
  // one whose record is not there lost the race.
  auto back = ReadLease(*sink);
  if (!back.ok()) return back.status().WithContext("writer lease");
  if (!*back || (*back)->cache_id != opt.cache_id || (*back)->seq != mine.seq) {
    LeaseRecord other = *back ? **back : LeaseRecord{};
    return Status::FailedPrecondition("the writer lease was taken by " + DescribeHolder(other) +
                                      " at the same moment; try again");
  }
  auto st = std::make_shared<State>();
  st->sink = std::move(sink);
  st->opt = opt;
  st->rec = mine;
  st->last_ok = taken_at;
  return std::unique_ptr<WriterLease>(new WriterLease(std::move(st)));
}

void WriterLease::StartRenewing() {
  // Detached, owning the state: a renewal stuck in a backend call does not
  // hold up the unmount.
  std::thread([s = s_] {
    std::unique_lock l(s->mu);
    for (;;) {
      if (s->cv.wait_for(l, s->opt.renew, [&] { return s->stop; })) break;
      l.unlock();
      Status st = s->RenewOnce();
      l.lock();
      if (s->lost || s->stop) break;
      if (!st.ok()) spdlog::warn("mount: renewing the writer lease: {}", st.ToString());
    }
  }).detach();
}

Status WriterLease::Check() {
  std::lock_guard l(s_->mu);
  if (s_->lost) return Status::FailedPrecondition(s_->lost_reason);
  auto cur = ReadLease(*s_->sink);
  if (!cur.ok()) return cur.status().WithContext("checking the writer lease");
  if (!*cur || (*cur)->cache_id != s_->rec.cache_id) {
    LeaseRecord other = *cur ? **cur : LeaseRecord{};
    if (!*cur) other.host = "nobody (the record is gone)";
    s_->MarkLost(other);
    return Status::FailedPrecondition(s_->lost_reason);
  }
  return Status::OK();
}

bool WriterLease::lost() const {
  std::lock_guard l(s_->mu);
  return s_->lost;
}

bool WriterLease::Current() const {
  std::lock_guard l(s_->mu);
  return !s_->lost && !s_->released && Clock::now() - s_->last_ok < s_->opt.duration;
}

std::string WriterLease::LostReason() const {
  std::lock_guard l(s_->mu);
  if (s_->lost) return s_->lost_reason;
  if (s_->released) return "the writer lease was released (unmounting)";
  return fmt::format("the writer lease was not renewed for {} ms (backend unreachable?); grid "
                     "writes wait until it is",
                     s_->opt.duration.count());
}

LeaseRecord WriterLease::record() const {
  std::lock_guard l(s_->mu);
  return s_->rec;
}

Status WriterLease::Release(std::chrono::milliseconds wait) {
  {
    std::lock_guard l(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  auto prom = std::make_shared<std::promise<Status>>();
  auto fut = prom->get_future();
  std::thread([s = s_, prom] {
    std::lock_guard l(s->mu);
    if (s->lost || s->released) {
      prom->set_value(Status::OK());
      return;
    }
    auto cur = ReadLease(*s->sink);
    if (!cur.ok()) {
      prom->set_value(cur.status().WithContext("releasing the writer lease"));
      return;
    }
    if (*cur && (*cur)->cache_id != s->rec.cache_id) {  // not ours any more
      prom->set_value(Status::OK());
      return;
    }
    LeaseRecord next = s->rec;
    next.seq = std::max(s->rec.seq, *cur ? (*cur)->seq : 0) + 1;
    next.released = true;
    next.renewed_unix = NowUnix();
    Status st = WriteLease(*s->sink, next);
    if (st.ok()) {
      s->rec = next;
      s->released = true;
    }
    prom->set_value(st.WithContext("releasing the writer lease"));
  }).detach();
  if (fut.wait_for(wait) != std::future_status::ready) {
    return Status::Timeout("releasing the writer lease: the backend did not answer; the lease "
                           "expires by itself");
  }
  return fut.get();
}

// ---------------------------------------------------------------------------
// GridWriter
// ---------------------------------------------------------------------------

GridWriter::GridWriter(std::shared_ptr<SegmentSink> sink, State state, uint64_t gen,
                       std::string cache_id, std::string host, int64_t pid)
    : sink_(std::move(sink)),
      state_(state),
      gen_(gen),
      cache_id_(std::move(cache_id)),
      host_(std::move(host)),
      pid_(pid) {}

void GridWriter::SetHeld(std::unique_ptr<WriterLease> lease, uint64_t gen) {
  std::lock_guard l(mu_);
  if (state_ == State::kFenced) return;
  lease_ = std::move(lease);
  state_ = State::kHeld;
  uint64_t cur = gen_.load();
  while (cur < gen && !gen_.compare_exchange_weak(cur, gen)) {
  }
}

void GridWriter::Fence(const std::string& reason) {
  std::lock_guard l(mu_);
  if (state_ == State::kFenced) return;
  state_ = State::kFenced;
  fence_reason_ = reason;
  spdlog::error("mount: {}; this mount no longer writes to the grid (read-only from now on)",
                reason);
}

std::shared_ptr<WriterLease> GridWriter::lease() const {
  std::lock_guard l(mu_);
  return lease_;
}

bool GridWriter::read_only() const {
  std::lock_guard l(mu_);
  return state_ == State::kReadOnly;
}

bool GridWriter::fenced() const {
  std::shared_ptr<WriterLease> ls;
  {
    std::lock_guard l(mu_);
    if (state_ == State::kReadOnly || state_ == State::kFenced) return true;
    ls = lease_;
  }
  return ls && ls->lost();
}

bool GridWriter::MayWrite() const {
  std::shared_ptr<WriterLease> ls;
  {
    std::lock_guard l(mu_);
    if (state_ != State::kHeld) return false;
    ls = lease_;
  }
  return ls && ls->Current();
}

std::string GridWriter::WhyNot() const {
  std::shared_ptr<WriterLease> ls;
  {
    std::lock_guard l(mu_);
    switch (state_) {
      case State::kReadOnly: return "the mount is read-only (--read-only)";
      case State::kPending:
        return "the generation check and writer lease are not done yet (backend unreachable at "
               "mount time); grid writes wait for them";
      case State::kFenced: return fence_reason_;
      case State::kHeld: break;
    }
    ls = lease_;
  }
  return ls ? ls->LostReason() : "no writer lease";
}

Result<uint64_t> GridWriter::BeginSnapshot() {
  auto ls = lease();
  if (!ls || !MayWrite()) return Status::FailedPrecondition(WhyNot());
  QSTOR_RETURN_IF_ERROR(ls->Check());
  // Past whatever the grid says: a writer we took the lease from may have
  // stored one more snapshot between its last check and our take-over; our
  // generation must still be the newer one, so that its cache is stale.
  auto head = ReadHead(*sink_);
  if (!head.ok()) return head.status();
  if (*head && (*head)->gen > gen_.load()) {
    if ((*head)->cache_id != cache_id_) {
      spdlog::warn("mount: the grid's generation {} was written by host {} (cache {}) after this "
                   "mount took the lease; this mount's next snapshot replaces it",
                   (*head)->gen, (*head)->host, (*head)->cache_id);
    }
    uint64_t cur = gen_.load();
    while (cur < (*head)->gen && !gen_.compare_exchange_weak(cur, (*head)->gen)) {
    }
  }
  return gen_.load() + 1;
}

Status GridWriter::FinishSnapshot(uint64_t gen) {
  HeadRecord h;
  h.gen = gen;
  h.cache_id = cache_id_;
  h.host = host_;
  h.pid = pid_;
  h.written_unix = NowUnix();
  QSTOR_RETURN_IF_ERROR(WriteHead(*sink_, h).WithContext("writing " + std::string(kHeadRecord)));
  uint64_t cur = gen_.load();
  while (cur < gen && !gen_.compare_exchange_weak(cur, gen)) {
  }
  return Status::OK();
}

Status GridWriter::Release() {
  std::shared_ptr<WriterLease> ls;
  {
    std::lock_guard l(mu_);
    if (state_ == State::kPending) {  // stops the late checks
      state_ = State::kFenced;
      fence_reason_ = "unmounted";
    }
    ls = lease_;
  }
  if (!ls) return Status::OK();
  return ls->Release();
}

}  // namespace qstor::fs::mount
