#include "zdb/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <isa-l/crc.h>

#include <spdlog/spdlog.h>

namespace qstor::zdb {
namespace {

constexpr char kFileMagic[4] = {'Q', 'Z', 'D', 'B'};
constexpr uint32_t kFileVersion = 1;
constexpr uint32_t kFileHeaderSize = 12;
constexpr uint32_t kEntryHeaderSize = 22;
constexpr char kSnapMagic[4] = {'Q', 'Z', 'I', 'X'};
constexpr uint32_t kSnapVersion = 1;
constexpr uint8_t kFlagDeleted = 1;
constexpr size_t kMaxKey = 255;
constexpr size_t kMaxData = 8u << 20;
constexpr uint64_t kMaxSeqId = 1ull << 34;  // guards the slot vector against absurd ids

uint32_t Crc(uint32_t crc, const void* p, size_t n) {
  return crc32_gzip_refl(crc, static_cast<const unsigned char*>(p), n);
}

void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

bool PreadFull(int fd, char* buf, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t r = ::write(fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string DataName(uint32_t id) {
  char b[16];
  std::snprintf(b, sizeof(b), "d%08u", id);
  return b;
}

// The part of iov[0..n) past its first `done` bytes, into out[] (at most n
// entries); returns the entry count. Resumes a short preadv/pwritev.
int IovPast(const iovec* iov, int n, size_t done, iovec* out) {
  int k = 0;
  for (int i = 0; i < n; ++i) {
    if (done >= iov[i].iov_len) {
      done -= iov[i].iov_len;
      continue;
    }
    out[k].iov_base = static_cast<char*>(iov[i].iov_base) + done;
    out[k].iov_len = iov[i].iov_len - done;
    done = 0;
    ++k;
  }
  return k;
}

std::string SeqKey(uint64_t id) {
  std::string k(8, '\0');
  Put64(k.data(), id);
  return k;
}

std::string EncodeCursor(uint32_t file, uint32_t off) {
  std::string c(8, '\0');
  Put32(c.data(), file);
  Put32(c.data() + 4, off);
  return c;
}

// Atomically replaces `path` with `content` (tmp + fsync + rename + dir fsync).
Status WriteFileAtomic(const std::string& dir, const std::string& name, const std::string& content) {
  std::string tmp = dir + "/" + name + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(Errno("open " + tmp));
  bool ok = WriteFull(fd, content.data(), content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0) {
    return Status::IOError(Errno("write " + dir + "/" + name));
  }
  SyncDir(dir);
  return Status::OK();
}

}  // namespace

// Parsed entry header.
struct Namespace::Header {
  uint32_t crc = 0;
  uint8_t flags = 0;
  uint8_t klen = 0;
  uint32_t dlen = 0;
  uint32_t prev = 0;
  uint32_t ts = 0;
  uint32_t dcrc = 0;
  uint64_t total() const { return uint64_t(kEntryHeaderSize) + klen + dlen; }
  void Decode(const char* p) {
    crc = Get32(p);
    flags = static_cast<uint8_t>(p[4]);
    klen = static_cast<uint8_t>(p[5]);
    dlen = Get32(p + 6);
    prev = Get32(p + 10);
    ts = Get32(p + 14);
    dcrc = Get32(p + 18);
  }
  bool Sane() const { return flags <= kFlagDeleted && dlen <= kMaxData; }
};

Namespace::Namespace(std::string dir, std::string name, StoreOptions options)
    : dir_(std::move(dir)), name_(std::move(name)), options_(options) {
  options_.rotate_bytes = std::clamp<uint64_t>(options_.rotate_bytes, 4096, 0xfff00000ull);
}

Namespace::~Namespace() {
  for (auto& f : files_) {
    if (f.fd >= 0) ::close(f.fd);
  }
}

Status Namespace::Fail(Status::Code code, const std::string& what) const {
  return Status(code, "zdb namespace '" + name_ + "': " + what);
}

Result<std::unique_ptr<Namespace>> Namespace::Open(const std::string& dir, const std::string& name,
                                                   StoreOptions options, bool create) {
  std::unique_ptr<Namespace> ns(new Namespace(dir, name, options));
  if (create) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return ns->Fail(Status::Code::kIOError, Errno("mkdir " + dir));
    }
    SyncDir(std::filesystem::path(dir).parent_path().string());
  }
  QSTOR_RETURN_IF_ERROR(ns->LoadMeta());
  QSTOR_RETURN_IF_ERROR(ns->Load());
  return ns;
}

Status Namespace::LoadMeta() {
  std::string path = dir_ + "/meta";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return SaveMeta();  // new namespace: defaults
    return Fail(Status::Code::kIOError, Errno("open " + path));
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0 && text.size() < 65536) text.append(buf, n);
  ::close(fd);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(pos, e - pos);
    pos = e + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "mode") props_.mode = v == "seq" ? KeyMode::kSeq : KeyMode::kUser;
    else if (k == "password") props_.password = v;
    else if (k == "public") props_.is_public = v == "1";
    else if (k == "maxsize") props_.maxsize = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "worm") props_.worm = v == "1";
    else if (k == "lock") props_.lock = v == "1";
  }
  return Status::OK();
}

Status Namespace::SaveMeta() {
  std::string t;
  t += "mode=" + std::string(props_.mode == KeyMode::kSeq ? "seq" : "user") + "\n";
  t += "password=" + props_.password + "\n";
  t += "public=" + std::string(props_.is_public ? "1" : "0") + "\n";
  t += "maxsize=" + std::to_string(props_.maxsize) + "\n";
  t += "worm=" + std::string(props_.worm ? "1" : "0") + "\n";
  t += "lock=" + std::string(props_.lock ? "1" : "0") + "\n";
  Status st = WriteFileAtomic(dir_, "meta", t);
  return st.ok() ? st : Fail(st.code(), st.message());
}

Status Namespace::SetProps(const NsProps& props) {
  if (props.mode != props_.mode && entries_ != 0) {
    return Fail(Status::Code::kFailedPrecondition, "mode can only change on an empty namespace");
  }
  for (char c : props.password) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Fail(Status::Code::kInvalidArgument, "password contains control characters");
    }
  }
  NsProps old = props_;
  props_ = props;
  if (old.mode != props.mode) {
    user_index_.clear();
    seq_index_.clear();
    next_id_ = 0;
  }
  Status st = SaveMeta();
  if (!st.ok()) props_ = old;
  return st;
}

Namespace::File* Namespace::FileById(uint32_t id) {
  auto it = std::lower_bound(files_.begin(), files_.end(), id,
                             [](const File& f, uint32_t v) { return f.id < v; });
  return it != files_.end() && it->id == id ? &*it : nullptr;
}

Status Namespace::NewFile() {
  uint32_t id = files_.empty() ? 0 : files_.back().id + 1;
  std::string path = dir_ + "/" + DataName(id);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(Status::Code::kIOError, Errno("create " + path));
  char h[kFileHeaderSize];
  std::memcpy(h, kFileMagic, 4);
  Put32(h + 4, kFileVersion);
  Put32(h + 8, id);
  if (!WriteFull(fd, h, sizeof(h)) || ::fsync(fd) != 0) {
    ::close(fd);
    return Fail(Status::Code::kIOError, Errno("write " + path));
  }
  SyncDir(dir_);
  File f;
  f.id = id;
  f.fd = fd;
  f.size = kFileHeaderSize;
  files_.push_back(std::move(f));
  return Status::OK();
}

bool Namespace::SeqId(std::string_view key, uint64_t* id) const {
  if (key.size() != 8) return false;
  *id = Get64(key.data());
  return true;
}

Loc Namespace::Find(std::string_view key) const {
  if (props_.mode == KeyMode::kSeq) {
    uint64_t id;
    if (!SeqId(key, &id) || id >= seq_index_.size()) return Loc();
    return seq_index_[id];
  }
  auto it = user_index_.find(key);
  return it == user_index_.end() ? Loc() : it->second;
}

// Applies one entry to the index. Returns false if the key is malformed for
// the mode (treated as corruption by Replay).
bool Namespace::IndexApply(uint8_t flags, std::string_view key, const Loc& loc,
                           uint64_t entry_bytes) {
  Loc* slot = nullptr;
  Loc dummy;
  if (props_.mode == KeyMode::kSeq) {
    uint64_t id;
    if (!SeqId(key, &id) || id >= kMaxSeqId) return false;
    if (id >= seq_index_.size()) {
      if (flags & kFlagDeleted) {
        next_id_ = std::max(next_id_, id + 1);
        return true;
      }
      seq_index_.resize(id + 1);
    }
    next_id_ = std::max(next_id_, id + 1);
    slot = &seq_index_[id];
  } else {
    if (key.empty()) return false;
    if (flags & kFlagDeleted) {
      auto it = user_index_.find(key);
      slot = it == user_index_.end() ? &dummy : &it->second;
    } else {
      slot = &user_index_[std::string(key)];
    }
  }
  if (slot->valid()) {
    File* of = FileById(slot->file);
    if (of) of->live -= std::min<uint64_t>(of->live, kEntryHeaderSize + key.size() + slot->size);
    live_bytes_ -= slot->size;
    --entries_;
  }
  if (flags & kFlagDeleted) {
    *slot = Loc();
    if (props_.mode == KeyMode::kUser && slot != &dummy) {
    auto it = user_index_.find(key);
    if (it != user_index_.end()) user_index_.erase(it);
  }
    return true;
  }
  *slot = loc;
  if (File* nf = FileById(loc.file)) nf->live += entry_bytes;
  live_bytes_ += loc.size;
  ++entries_;
  return true;
}

Result<Loc> Namespace::Append(uint8_t flags, std::string_view key, std::string_view value,
                              uint32_t ts, bool /*count_live*/) {
  uint64_t total = kEntryHeaderSize + key.size() + value.size();
  if (files_.empty() || (files_.back().size + total > options_.rotate_bytes &&
                         files_.back().size > kFileHeaderSize)) {
    QSTOR_RETURN_IF_ERROR(NewFile());
  }
  File& f = files_.back();
  char h[kEntryHeaderSize];
  h[4] = static_cast<char>(flags);
  h[5] = static_cast<char>(key.size());
  Put32(h + 6, static_cast<uint32_t>(value.size()));
  Put32(h + 10, f.last_off);
  Put32(h + 14, ts);
  Put32(h + 18, Crc(0, value.data(), value.size()));
  uint32_t crc = Crc(0, h + 4, kEntryHeaderSize - 4);
  crc = Crc(crc, key.data(), key.size());
  crc = Crc(crc, value.data(), value.size());
  Put32(h, crc);
  std::string head(h, kEntryHeaderSize);
  head.append(key);
  iovec iov[2] = {{head.data(), head.size()},
                  {const_cast<char*>(value.data()), value.size()}};
  uint64_t off = f.size;
  size_t done = 0;
  while (done < total) {
    iovec v[2];
    int n = IovPast(iov, 2, done, v);  // short writes are rare
    ssize_t w = ::pwritev(f.fd, v, n, static_cast<off_t>(off + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string err = Errno("append to " + DataName(f.id));
      if (::ftruncate(f.fd, static_cast<off_t>(off)) != 0) {
        spdlog::warn("zdb: could not roll back partial write in {}/{}", dir_, DataName(f.id));
      }
      return Fail(Status::Code::kIOError, err);
    }
    done += static_cast<size_t>(w);
  }
  f.size = off + total;
  f.last_off = static_cast<uint32_t>(off);
  if (dirty_files_.empty() || dirty_files_.back() != f.id) dirty_files_.push_back(f.id);
  Loc loc;
  loc.file = f.id;
  loc.offset = static_cast<uint32_t>(off);
  loc.size = static_cast<uint32_t>(value.size());
  loc.timestamp = ts;
  return loc;
}

Status Namespace::ReadEntry(const Loc& loc, std::string* key, std::string* value,
                            bool verify) const {
  auto it = std::lower_bound(files_.begin(), files_.end(), loc.file,
                             [](const File& f, uint32_t v) { return f.id < v; });
  if (it == files_.end() || it->id != loc.file) {
    return Fail(Status::Code::kInternal, "index points to missing data file " + DataName(loc.file));
  }
  char hb[kEntryHeaderSize + kMaxKey];
  size_t want = std::min<uint64_t>(sizeof(hb), it->size - loc.offset);
  if (want < kEntryHeaderSize || !PreadFull(it->fd, hb, want, loc.offset)) {
    return Fail(Status::Code::kIOError, Errno("read " + DataName(loc.file)));
  }
  Header h;
  h.Decode(hb);
  if (!h.Sane() || h.dlen != loc.size || kEntryHeaderSize + h.klen > want) {
    return Fail(Status::Code::kCorruption, "entry header at " + DataName(loc.file) + "+" +
                                               std::to_string(loc.offset) + " is damaged");
  }
  if (key) key->assign(hb + kEntryHeaderSize, h.klen);
  if (!value && !verify) return Status::OK();
  std::string local;
  std::string* v = value ? value : &local;
  v->resize(h.dlen);
  if (h.dlen && !PreadFull(it->fd, v->data(), h.dlen, loc.offset + kEntryHeaderSize + h.klen)) {
    return Fail(Status::Code::kIOError, Errno("read " + DataName(loc.file)));
  }
  if (verify) {
    uint32_t crc = Crc(0, hb + 4, kEntryHeaderSize - 4);
    crc = Crc(crc, hb + kEntryHeaderSize, h.klen);
    crc = Crc(crc, v->data(), v->size());
    if (crc != h.crc) {
      return Fail(Status::Code::kCorruption, "entry at " + DataName(loc.file) + "+" +
                                                 std::to_string(loc.offset) + " fails its crc32");
    }
  }
  return Status::OK();
}

Status Namespace::Set(std::string_view key, std::string_view value, std::string* stored_key,
                      bool* unchanged, std::optional<uint32_t> timestamp) {
  *unchanged = false;
  if (key.size() > kMaxKey) return Fail(Status::Code::kInvalidArgument, "Key too large");
  if (value.size() > kMaxData) return Fail(Status::Code::kInvalidArgument, "Payload too large");
  if (props_.lock) return Fail(Status::Code::kFailedPrecondition, "Namespace is temporarily locked");
  std::string k;
  Loc existing;
  if (props_.mode == KeyMode::kSeq) {
    if (key.empty()) {
      if (next_id_ >= kMaxSeqId) return Fail(Status::Code::kResourceExhausted, "sequence ids exhausted");
      k = SeqKey(next_id_);
    } else {
      existing = Find(key);
      if (!existing.valid()) {
        return Fail(Status::Code::kInvalidArgument, "Invalid key, only update authorized");
      }
      k.assign(key);
    }
  } else {
    if (key.empty()) return Fail(Status::Code::kInvalidArgument, "Invalid argument, key needed");
    k.assign(key);
    existing = Find(key);
  }
  if (existing.valid() && existing.size == value.size()) {
    std::string old;
    Status st = ReadEntry(existing, nullptr, &old, true);
    if (st.ok() && old == value) {
      *unchanged = true;
      *stored_key = k;
      return Status::OK();
    }
  }
  if (existing.valid() && props_.worm) {
    return Fail(Status::Code::kFailedPrecondition, "Namespace is in worm mode");
  }
  if (props_.maxsize) {
    uint64_t after = live_bytes_ - (existing.valid() ? existing.size : 0) + value.size();
    if (after > props_.maxsize) {
      return Fail(Status::Code::kResourceExhausted, "No space left on this namespace");
    }
  }
  uint32_t ts = timestamp ? *timestamp : static_cast<uint32_t>(std::time(nullptr));
  auto loc = Append(0, k, value, ts, true);
  if (!loc.ok()) return loc.status();
  IndexApply(0, k, *loc, kEntryHeaderSize + k.size() + value.size());
  ++stats_.writes;
  *stored_key = std::move(k);
  return Status::OK();
}

Result<std::string> Namespace::Get(std::string_view key) {
  Loc loc = Find(key);
  if (!loc.valid()) return Fail(Status::Code::kNotFound, "key not found");
  std::string v(loc.size, '\0');
  QSTOR_RETURN_IF_ERROR(ReadValue(loc, key, v.data()));
  return v;
}

Status Namespace::ReadValue(const Loc& loc, std::string_view key, char* dst) {
  auto it = std::lower_bound(files_.begin(), files_.end(), loc.file,
                             [](const File& f, uint32_t v) { return f.id < v; });
  if (it == files_.end() || it->id != loc.file) {
    return Fail(Status::Code::kInternal, "index points to missing data file " + DataName(loc.file));
  }
  if (key.size() > kMaxKey) return Fail(Status::Code::kInvalidArgument, "Key too large");
  char hb[kEntryHeaderSize + kMaxKey];
  size_t hlen = kEntryHeaderSize + key.size();
  uint64_t end = uint64_t(loc.offset) + hlen + loc.size;
  if (end > it->size) {
    return Fail(Status::Code::kCorruption, "entry at " + DataName(loc.file) + "+" +
                                               std::to_string(loc.offset) + " runs past the file end");
  }
  // Through the file's mapping when there is one: a memcpy from the page
  // cache instead of a preadv (zdb/mapped_file.h). The mapping reaches
  // rotate_bytes past the start, so the head file grows into it.
  File& f = *it;
  if (!f.map.Covers(loc.offset, hlen + loc.size) && f.map_failures < kMaxMapFailures) {
    if (!f.map.Map(f.fd, std::max<uint64_t>(options_.rotate_bytes, f.size))) ++f.map_failures;
  }
  if (f.map.Covers(loc.offset, hlen + loc.size)) {
    const char* src = f.map.data() + loc.offset;
    if (!CopyFromMapping(hb, src, hlen) || !CopyFromMapping(dst, src + hlen, loc.size)) {
      // A page could not be read: the file is shorter than the index says,
      // or the disk failed. Reads of this file go through preadv from now on,
      // which reports such errors as errors.
      f.map.Unmap();
      f.map_failures = kMaxMapFailures;
      return Fail(Status::Code::kIOError,
                  "read " + DataName(loc.file) + "+" + std::to_string(loc.offset) +
                      ": the mapped page cannot be read (file truncated or I/O error)");
    }
  } else {
    // One read for header, key and value.
    iovec iov[2] = {{hb, hlen}, {dst, loc.size}};
    size_t want = hlen + loc.size, done = 0;
    while (done < want) {
      iovec v[2];
      int n = IovPast(iov, 2, done, v);
      ssize_t r = ::preadv(it->fd, v, n, static_cast<off_t>(loc.offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return Fail(Status::Code::kIOError,
                    r == 0 ? "read " + DataName(loc.file) + ": unexpected end of file"
                           : Errno("read " + DataName(loc.file)));
      }
      done += static_cast<size_t>(r);
    }
  }
  Header h;
  h.Decode(hb);
  if (!h.Sane() || h.dlen != loc.size || h.klen != key.size() ||
      std::memcmp(hb + kEntryHeaderSize, key.data(), key.size()) != 0) {
    return Fail(Status::Code::kCorruption, "entry header at " + DataName(loc.file) + "+" +
                                               std::to_string(loc.offset) + " is damaged");
  }
  uint32_t crc = Crc(0, hb + 4, hlen - 4);
  crc = Crc(crc, dst, loc.size);
  if (crc != h.crc) {
    return Fail(Status::Code::kCorruption, "entry at " + DataName(loc.file) + "+" +
                                               std::to_string(loc.offset) + " fails its crc32");
  }
  ++stats_.reads;
  return Status::OK();
}

Status Namespace::Del(std::string_view key) {
  Loc loc = Find(key);
  if (!loc.valid()) return Fail(Status::Code::kNotFound, "Key not found");
  if (props_.lock) return Fail(Status::Code::kFailedPrecondition, "Namespace is temporarily locked");
  if (props_.worm) return Fail(Status::Code::kFailedPrecondition, "Namespace is in worm mode");
  auto r = Append(kFlagDeleted, key, {}, static_cast<uint32_t>(std::time(nullptr)), false);
  if (!r.ok()) return r.status();
  IndexApply(kFlagDeleted, key, *r, 0);
  ++stats_.deletes;
  return Status::OK();
}

Result<bool> Namespace::Check(std::string_view key) {
  Loc loc = Find(key);
  if (!loc.valid()) return Fail(Status::Code::kNotFound, "key not found");
  Status st = ReadEntry(loc, nullptr, nullptr, true);
  if (st.code() == Status::Code::kCorruption) return false;
  if (!st.ok()) return st;
  return true;
}

Result<std::string> Namespace::KeyCursor(std::string_view key) const {
  Loc loc = Find(key);
  if (!loc.valid()) return Fail(Status::Code::kNotFound, "Key not found");
  return EncodeCursor(loc.file, loc.offset);
}

Status Namespace::Scan(const std::optional<std::string>& cursor, bool reverse, size_t max_items,
                       std::vector<ScanItem>* items, std::string* next) {
  items->clear();
  // Position: index into files_ and offset; `skip_first` when starting after the cursor.
  size_t fi = 0;
  uint64_t off = 0;
  bool skip_first = false;
  char hb[kEntryHeaderSize + kMaxKey];
  Header h;
  auto read_header = [&](size_t i, uint64_t o) -> bool {
    const File& f = files_[i];
    if (o < kFileHeaderSize || o + kEntryHeaderSize > f.size) return false;
    size_t want = std::min<uint64_t>(sizeof(hb), f.size - o);
    if (!PreadFull(f.fd, hb, want, o)) return false;
    h.Decode(hb);
    return h.Sane() && o + h.total() <= f.size && kEntryHeaderSize + h.klen <= want &&
           h.prev < o;
  };
  if (cursor) {
    if (cursor->size() != 8) return Fail(Status::Code::kInvalidArgument, "Invalid key format");
    uint32_t fid = Get32(cursor->data());
    off = Get32(cursor->data() + 4);
    auto it = std::lower_bound(files_.begin(), files_.end(), fid,
                               [](const File& f, uint32_t v) { return f.id < v; });
    if (it == files_.end() || it->id != fid) {
      // The file was compacted away; continue at the next (or previous) file.
      if (reverse) {
        if (it == files_.begin()) return Fail(Status::Code::kNotFound, "No more data");
        fi = static_cast<size_t>(it - files_.begin()) - 1;
        off = files_[fi].last_off;
      } else {
        if (it == files_.end()) return Fail(Status::Code::kNotFound, "No more data");
        fi = static_cast<size_t>(it - files_.begin());
        off = kFileHeaderSize;
      }
    } else {
      fi = static_cast<size_t>(it - files_.begin());
      if (!read_header(fi, off)) return Fail(Status::Code::kInvalidArgument, "Invalid key format");
      skip_first = true;
    }
  } else if (reverse) {
    fi = files_.size() - 1;
    off = files_[fi].last_off;
  } else {
    fi = 0;
    off = kFileHeaderSize;
  }
  size_t examined = 0;
  bool any = false;
  uint32_t last_file = 0, last_off = 0;
  const size_t max_examined = max_items * 64 + 4096;
  while (items->size() < max_items && examined < max_examined) {
    // Normalize the position.
    if (!reverse) {
      if (fi >= files_.size()) break;
      if (off >= files_[fi].size) {
        ++fi;
        off = kFileHeaderSize;
        continue;
      }
    } else {
      if (off < kFileHeaderSize) {  // 0 = no previous entry in this file
        if (fi == 0) break;
        --fi;
        off = files_[fi].last_off;
        continue;
      }
    }
    if (!read_header(fi, off)) {
      // Unreadable position: leave this file.
      if (reverse) off = 0; else off = files_[fi].size;
      continue;
    }
    uint64_t here = off;
    uint64_t step_next = reverse ? h.prev : off + h.total();
    if (skip_first) {
      skip_first = false;
      off = step_next;
      continue;
    }
    ++examined;
    any = true;
    last_file = files_[fi].id;
    last_off = static_cast<uint32_t>(here);
    if (!(h.flags & kFlagDeleted)) {
      std::string_view key(hb + kEntryHeaderSize, h.klen);
      Loc loc = Find(key);
      if (loc.valid() && loc.file == files_[fi].id && loc.offset == here) {
        items->push_back(ScanItem{std::string(key), h.dlen, h.ts});
      }
    }
    off = step_next;
  }
  if (!any || (items->empty() && (reverse ? (fi == 0 && off < kFileHeaderSize) : fi >= files_.size()))) {
    return Fail(Status::Code::kNotFound, "No more data");
  }
  *next = EncodeCursor(last_file, last_off);
  return Status::OK();
}

Status Namespace::Sync() {
  for (uint32_t id : dirty_files_) {
    File* f = FileById(id);
    if (f && ::fdatasync(f->fd) != 0) return Fail(Status::Code::kIOError, Errno("fdatasync"));
  }
  dirty_files_.clear();
  return Status::OK();
}

Status Namespace::TakeDirty(std::vector<int>* fds) {
  for (uint32_t id : dirty_files_) {
    File* f = FileById(id);
    if (!f) continue;
    int d = ::fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (d >= 0) {
      fds->push_back(d);
    } else if (::fdatasync(f->fd) != 0) {
      return Fail(Status::Code::kIOError, Errno("fdatasync"));
    }
  }
  dirty_files_.clear();
  return Status::OK();
}

Status Namespace::Flush() {
  ::unlink((dir_ + "/index").c_str());
  SyncDir(dir_);
  for (auto& f : files_) {
    ::close(f.fd);
    ::unlink((dir_ + "/" + DataName(f.id)).c_str());
  }
  uint32_t next_file = files_.empty() ? 0 : files_.back().id + 1;
  files_.clear();
  dirty_files_.clear();
  user_index_.clear();
  seq_index_.clear();
  entries_ = live_bytes_ = next_id_ = 0;
  compact_file_ = Loc::kNone;
  // Keep file ids increasing so nothing stale can ever match a new file.
  File placeholder;
  placeholder.id = next_file - 1;
  if (next_file > 0) {
    files_.push_back(std::move(placeholder));
    Status st = NewFile();
    files_.erase(files_.begin());
    return st;
  }
  return NewFile();
}

uint64_t Namespace::disk_bytes() const {
  uint64_t s = 0;
  for (const auto& f : files_) s += f.size;
  return s;
}

uint64_t Namespace::index_bytes() const {
  if (props_.mode == KeyMode::kSeq) return seq_index_.capacity() * sizeof(Loc);
  // node: next ptr + hash + std::string + Loc, plus one bucket pointer.
  uint64_t per = sizeof(void*) * 2 + sizeof(std::string) + sizeof(Loc);
  uint64_t b = user_index_.size() * per + user_index_.bucket_count() * sizeof(void*);
  return b;
}

Result<bool> Namespace::CompactStep(double min_garbage_ratio, uint64_t budget_bytes) {
  if (compact_file_ == Loc::kNone) {
    if (files_.size() < 2) return false;
    double best = -1;
    for (size_t i = 0; i + 1 < files_.size(); ++i) {
      const File& f = files_[i];
      uint64_t payload = f.size - kFileHeaderSize;
      double g = payload == 0 ? 1.0 : 1.0 - double(f.live) / double(payload);
      if (f.live < payload && g >= min_garbage_ratio && g > best) {
        best = g;
        compact_file_ = f.id;
      }
    }
    if (compact_file_ == Loc::kNone) return false;
    compact_off_ = kFileHeaderSize;
  }
  uint64_t copied = 0;
  std::string key, value;
  while (copied < budget_bytes) {
    File* f = FileById(compact_file_);
    if (!f) {
      compact_file_ = Loc::kNone;
      return true;
    }
    if (compact_off_ >= f->size) break;
    char hb[kEntryHeaderSize];
    if (!PreadFull(f->fd, hb, kEntryHeaderSize, compact_off_)) {
      return Fail(Status::Code::kIOError, Errno("compaction read " + DataName(f->id)));
    }
    Header h;
    h.Decode(hb);
    Loc here;
    here.file = f->id;
    here.offset = static_cast<uint32_t>(compact_off_);
    here.size = h.dlen;
    here.timestamp = h.ts;
    uint64_t total = h.total();
    uint32_t fid = f->id;
    bool is_oldest = files_.front().id == fid;
    Status st = ReadEntry(here, &key, &value, true);
    if (!st.ok()) {
      // A damaged entry cannot be saved; skip it (it is not live-verified).
      ++stats_.corrupt_entries;
    } else if (!(h.flags & kFlagDeleted)) {
      Loc cur = Find(key);
      if (cur.valid() && cur.file == fid && cur.offset == here.offset) {
        auto loc = Append(0, key, value, h.ts, true);
        if (!loc.ok()) return loc.status();
        IndexApply(0, key, *loc, total);
        copied += total;
      }
    } else if ((props_.mode == KeyMode::kSeq || !is_oldest) && !Find(key).valid()) {
      // Tombstones must outlive older copies of the key (and, in seq mode,
      // keep the highest id known so ids are never reused).
      auto loc = Append(kFlagDeleted, key, {}, h.ts, false);
      if (!loc.ok()) return loc.status();
      copied += total;
    }
    compact_off_ += total;
  }
  File* f = FileById(compact_file_);
  if (f && compact_off_ >= f->size) {
    // Copies must be durable before the original goes away.
    QSTOR_RETURN_IF_ERROR(Sync());
    ::unlink((dir_ + "/index").c_str());
    ::close(f->fd);
    std::string path = dir_ + "/" + DataName(f->id);
    ::unlink(path.c_str());
    SyncDir(dir_);
    files_.erase(files_.begin() + (f - files_.data()));
    ++stats_.compacted_files;
    compact_file_ = Loc::kNone;
  }
  return true;
}

Status Namespace::CompactAll(double min_garbage_ratio) {
  // Bounded: every file present now is visited at most once.
  size_t rounds = files_.size() * 4096 + 16;
  while (rounds-- > 0) {
    auto r = CompactStep(min_garbage_ratio);
    if (!r.ok()) return r.status();
    if (!*r) return Status::OK();
  }
  return Status::OK();
}

// ---- open / replay / snapshot ---------------------------------------------

Status Namespace::Load() {
  std::vector<uint32_t> ids;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() == 9 && n[0] == 'd' &&
          std::all_of(n.begin() + 1, n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        ids.push_back(static_cast<uint32_t>(std::stoul(n.substr(1))));
      }
    }
    ::closedir(d);
  } else {
    return Fail(Status::Code::kIOError, Errno("opendir " + dir_));
  }
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string path = dir_ + "/" + DataName(ids[i]);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Fail(Status::Code::kIOError, Errno("open " + path));
    struct stat st;
    ::fstat(fd, &st);
    File f;
    f.id = ids[i];
    f.fd = fd;
    f.size = static_cast<uint64_t>(st.st_size);
    char h[kFileHeaderSize];
    bool good = f.size >= kFileHeaderSize && PreadFull(fd, h, kFileHeaderSize, 0) &&
                std::memcmp(h, kFileMagic, 4) == 0 && Get32(h + 8) == f.id;
    if (!good) {
      if (i + 1 == ids.size() && f.size >= kFileHeaderSize) {
        // Damaged header on the newest file: rewrite it; the entries are
        // checked one by one by Replay as usual.
        char nh[kFileHeaderSize];
        std::memcpy(nh, kFileMagic, 4);
        Put32(nh + 4, kFileVersion);
        Put32(nh + 8, f.id);
        if (::pwrite(fd, nh, sizeof(nh), 0) != static_cast<ssize_t>(sizeof(nh)) || ::fsync(fd) != 0) {
          ::close(fd);
          return Fail(Status::Code::kIOError, Errno("rewrite header of " + path));
        }
        ++stats_.corrupt_entries;
        spdlog::warn("zdb: namespace '{}': data file {} had a damaged header; rewritten", name_,
                     DataName(f.id));
        files_.push_back(std::move(f));
        continue;
      }
      if (i + 1 == ids.size()) {
        // Torn creation of the newest file: start it over.
        stats_.truncated_bytes += f.size;
        ::close(fd);
        ::unlink(path.c_str());
        spdlog::warn("zdb: namespace '{}': data file {} has no valid header; recreated", name_,
                  DataName(f.id));
        continue;
      }
      spdlog::warn("zdb: namespace '{}': data file {} has no valid header; ignored", name_,
                DataName(f.id));
      ++stats_.corrupt_entries;
      f.size = kFileHeaderSize;
      f.fd = fd;
      files_.push_back(std::move(f));
      continue;
    }
    files_.push_back(std::move(f));
  }
  // Real sizes on disk for replay bounds.
  std::vector<uint64_t> from(files_.size(), kFileHeaderSize);
  bool snap = LoadSnapshot(&from);
  if (!snap) {
    user_index_.clear();
    seq_index_.clear();
    entries_ = live_bytes_ = next_id_ = 0;
    for (auto& f : files_) {
      f.live = 0;
      f.last_off = 0;
    }
    std::fill(from.begin(), from.end(), kFileHeaderSize);
    stats_.index_rebuilt = !files_.empty();
  }
  for (size_t i = 0; i < files_.size(); ++i) {
    QSTOR_RETURN_IF_ERROR(Replay(files_[i], from[i], i + 1 == files_.size()));
  }
  if (files_.empty()) QSTOR_RETURN_IF_ERROR(NewFile());
  return Status::OK();
}

Status Namespace::Replay(File& f, uint64_t from, bool is_last) {
  struct stat st;
  if (::fstat(f.fd, &st) != 0) return Fail(Status::Code::kIOError, Errno("fstat"));
  uint64_t fsize = static_cast<uint64_t>(st.st_size);
  if (from >= fsize) {
    f.size = std::max<uint64_t>(from, kFileHeaderSize);
    return Status::OK();
  }
  std::string buf;
  uint64_t buf_off = 0;
  auto window = [&](uint64_t o, size_t n) -> const char* {
    if (o >= buf_off && o + n <= buf_off + buf.size()) return buf.data() + (o - buf_off);
    if (o + n > fsize) return nullptr;
    size_t want = std::max<size_t>(n, std::min<uint64_t>(4u << 20, fsize - o));
    buf.resize(want);
    if (!PreadFull(f.fd, buf.data(), want, o)) {
      buf.clear();
      return nullptr;
    }
    buf_off = o;
    return buf.data();
  };
  uint64_t off = from;
  std::string bad;
  while (off < fsize) {
    const char* p = window(off, kEntryHeaderSize);
    if (!p) {
      bad = "torn entry header";
      break;
    }
    Header h;
    h.Decode(p);
    if (!h.Sane() || off + h.total() > fsize || h.prev != f.last_off) {
      bad = off + h.total() > fsize ? "torn entry" : "damaged entry header";
      break;
    }
    p = window(off, h.total());
    if (!p) {
      bad = "unreadable entry";
      break;
    }
    uint32_t crc = Crc(0, p + 4, h.total() - 4);
    if (crc != h.crc) {
      bad = "crc mismatch";
      break;
    }
    std::string_view key(p + kEntryHeaderSize, h.klen);
    Loc loc;
    loc.file = f.id;
    loc.offset = static_cast<uint32_t>(off);
    loc.size = h.dlen;
    loc.timestamp = h.ts;
    if (!IndexApply(h.flags, key, loc, h.total())) {
      bad = "key invalid for the namespace mode";
      break;
    }
    f.last_off = static_cast<uint32_t>(off);
    off += h.total();
  }
  f.size = off;
  if (!bad.empty()) {
    ++stats_.corrupt_entries;
    if (is_last) {
      spdlog::warn("zdb: namespace '{}': {} at {}+{}; truncating {} bytes", name_, bad,
                DataName(f.id), off, fsize - off);
      if (::ftruncate(f.fd, static_cast<off_t>(off)) != 0 || ::fsync(f.fd) != 0) {
        return Fail(Status::Code::kIOError, Errno("truncate " + DataName(f.id)));
      }
      stats_.truncated_bytes += fsize - off;
    } else {
      spdlog::warn("zdb: namespace '{}': {} at {}+{}; the rest of this sealed file is ignored",
                name_, bad, DataName(f.id), off);
    }
  }
  return Status::OK();
}

// Snapshot: "QZIX" u32 version, u8 mode, u64 next_id, u32 nfiles,
// nfiles x (u32 id, u64 size, u32 last_off, u64 live), u64 count,
// count x (user: u8 klen, key, loc | seq: u64 id, loc), u32 crc32 of all before.
// loc = u32 file, u32 offset, u32 size, u32 timestamp.
Status Namespace::WriteSnapshot() {
  QSTOR_RETURN_IF_ERROR(Sync());
  std::string tmp = dir_ + "/index.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(Status::Code::kIOError, Errno("open " + tmp));
  std::string b;
  uint32_t crc = 0;
  bool ok = true;
  auto flush = [&](bool force) {
    if (b.size() >= (1u << 20) || force) {
      crc = Crc(crc, b.data(), b.size());
      ok = ok && WriteFull(fd, b.data(), b.size());
      b.clear();
    }
  };
  char t[32];
  b.append(kSnapMagic, 4);
  Put32(t, kSnapVersion);
  b.append(t, 4);
  b.push_back(props_.mode == KeyMode::kSeq ? 1 : 0);
  Put64(t, next_id_);
  b.append(t, 8);
  Put32(t, static_cast<uint32_t>(files_.size()));
  b.append(t, 4);
  for (const auto& f : files_) {
    Put32(t, f.id);
    Put64(t + 4, f.size);
    Put32(t + 12, f.last_off);
    Put64(t + 16, f.live);
    b.append(t, 24);
  }
  Put64(t, entries_);
  b.append(t, 8);
  auto put_loc = [&](const Loc& l) {
    Put32(t, l.file);
    Put32(t + 4, l.offset);
    Put32(t + 8, l.size);
    Put32(t + 12, l.timestamp);
    b.append(t, 16);
  };
  if (props_.mode == KeyMode::kSeq) {
    for (uint64_t id = 0; id < seq_index_.size(); ++id) {
      if (!seq_index_[id].valid()) continue;
      Put64(t, id);
      b.append(t, 8);
      put_loc(seq_index_[id]);
      flush(false);
    }
  } else {
    for (const auto& [k, l] : user_index_) {
      b.push_back(static_cast<char>(k.size()));
      b.append(k);
      put_loc(l);
      flush(false);
    }
  }
  flush(true);
  Put32(t, crc);
  ok = ok && WriteFull(fd, t, 4) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), (dir_ + "/index").c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(Status::Code::kIOError, Errno("write index snapshot"));
  }
  SyncDir(dir_);
  return Status::OK();
}

bool Namespace::LoadSnapshot(std::vector<uint64_t>* replay_from) {
  std::string path = dir_ + "/index";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  ::fstat(fd, &st);
  uint64_t fsize = static_cast<uint64_t>(st.st_size);
  // Streamed: entries are applied while the crc accumulates; on any mismatch
  // the caller clears the index and rebuilds from data.
  std::string buf;
  uint64_t pos = 0;       // file position of buf[0]
  size_t bpos = 0;        // read position in buf
  uint32_t crc = 0;
  uint64_t body_end = fsize >= 4 ? fsize - 4 : 0;
  auto need = [&](size_t n) -> const char* {
    if (bpos + n <= buf.size()) {
      const char* p = buf.data() + bpos;
      bpos += n;
      return p;
    }
    // crc the consumed part, refill
    crc = Crc(crc, buf.data(), bpos);
    pos += bpos;
    buf.erase(0, bpos);
    bpos = 0;
    uint64_t have_end = pos + buf.size();
    uint64_t want = std::min<uint64_t>(body_end - std::min(body_end, have_end),
                                       std::max<size_t>(n, 1u << 20));
    size_t old = buf.size();
    buf.resize(old + want);
    if (want && !PreadFull(fd, buf.data() + old, want, have_end)) return nullptr;
    if (bpos + n > buf.size()) return nullptr;
    const char* p = buf.data() + bpos;
    bpos += n;
    return p;
  };
  auto fail = [&](const char* why) {
    spdlog::warn("zdb: namespace '{}': index snapshot unusable ({}); rebuilding from data", name_, why);
    ::close(fd);
    return false;
  };
  const char* p = need(4 + 4 + 1 + 8 + 4);
  if (!p || std::memcmp(p, kSnapMagic, 4) != 0 || Get32(p + 4) != kSnapVersion) return fail("header");
  if ((p[8] == 1) != (props_.mode == KeyMode::kSeq)) return fail("mode differs");
  next_id_ = Get64(p + 9);
  uint32_t nfiles = Get32(p + 17);
  if (nfiles > 1000000) return fail("file count");
  // One allocation for the seq slots when the snapshot is plausibly that big
  // (every live id takes 24 bytes in it), instead of growth copies.
  if (props_.mode == KeyMode::kSeq && next_id_ <= fsize / 24 + 1024) seq_index_.reserve(next_id_);
  std::vector<File> snap(nfiles);
  for (uint32_t i = 0; i < nfiles; ++i) {
    p = need(24);
    if (!p) return fail("truncated");
    snap[i].id = Get32(p);
    snap[i].size = Get64(p + 4);
    snap[i].last_off = Get32(p + 12);
    snap[i].live = Get64(p + 16);
  }
  // The files on disk must be the snapshot's files (each at least as long),
  // plus possibly newer ones.
  if (files_.size() < nfiles) return fail("data files missing");
  for (uint32_t i = 0; i < nfiles; ++i) {
    if (files_[i].id != snap[i].id) return fail("data file set differs");
    struct stat fs;
    ::fstat(files_[i].fd, &fs);
    if (static_cast<uint64_t>(fs.st_size) < snap[i].size) return fail("data file shorter");
  }
  p = need(8);
  if (!p) return fail("truncated");
  uint64_t count = Get64(p);
  for (uint64_t i = 0; i < count; ++i) {
    Loc l;
    if (props_.mode == KeyMode::kSeq) {
      p = need(8 + 16);
      if (!p) return fail("truncated");
      uint64_t id = Get64(p);
      if (id >= kMaxSeqId || id >= next_id_) return fail("bad id");
      if (id >= seq_index_.size()) {
        seq_index_.resize(seq_index_.capacity() > id ? seq_index_.capacity()
                                                     : std::max<uint64_t>(id + 1, seq_index_.size() * 3 / 2));
      }
      p += 8;
      l = Loc{Get32(p), Get32(p + 4), Get32(p + 8), Get32(p + 12)};
      if (seq_index_[id].valid()) return fail("duplicate id");
      seq_index_[id] = l;
    } else {
      p = need(1);
      if (!p) return fail("truncated");
      size_t kl = static_cast<unsigned char>(*p);
      p = need(kl + 16);
      if (!p || kl == 0) return fail("truncated");
      std::string k(p, kl);
      p += kl;
      l = Loc{Get32(p), Get32(p + 4), Get32(p + 8), Get32(p + 12)};
      if (!user_index_.emplace(std::move(k), l).second) return fail("duplicate key");
    }
    bool known = false;
    for (const auto& f : snap) known = known || f.id == l.file;
    if (!known && !snap.empty() && (l.file < snap.front().id || l.file > snap.back().id)) return fail("bad file");
    ++entries_;
    live_bytes_ += l.size;
  }
  // Everything read must be exactly the body; then the crc.
  crc = Crc(crc, buf.data(), bpos);
  uint64_t consumed = pos + bpos;
  if (consumed != body_end) return fail("trailing bytes");
  char c[4];
  if (!PreadFull(fd, c, 4, body_end) || Get32(c) != crc) return fail("crc mismatch");
  ::close(fd);
  for (uint32_t i = 0; i < nfiles; ++i) {
    files_[i].last_off = snap[i].last_off;
    files_[i].live = snap[i].live;
    (*replay_from)[i] = snap[i].size;
  }
  if (props_.mode == KeyMode::kSeq && seq_index_.size() > next_id_) seq_index_.resize(next_id_);
  return true;
}

// ---- Store ------------------------------------------------------------------

bool Store::ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c < 0x21 || c == '/' || c == 0x7f) return false;
  }
  return true;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, StoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("zdb store " + dir + ": mkdir: " + ec.message());
  std::unique_ptr<Store> s(new Store(dir, options));
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_directory() && ValidName(e.path().filename().string())) {
      names.push_back(e.path().filename().string());
    }
  }
  if (ec) return Status::IOError("zdb store " + dir + ": list: " + ec.message());
  std::sort(names.begin(), names.end());
  if (!std::binary_search(names.begin(), names.end(), "default")) {
    names.insert(std::lower_bound(names.begin(), names.end(), "default"), "default");
  }
  for (const auto& n : names) {
    auto ns = Namespace::Open(dir + "/" + n, n, options, true);
    if (!ns.ok()) return ns.status().WithContext("zdb store " + dir);
    s->ns_.push_back(std::move(ns.value()));
  }
  return s;
}

Store::~Store() {
  Status st = Close();
  if (!st.ok()) spdlog::warn("zdb store {}: close: {}", dir_, st.ToString());
}

Namespace* Store::Get(const std::string& name) {
  for (auto& n : ns_) {
    if (n->name() == name) return n.get();
  }
  return nullptr;
}

Result<Namespace*> Store::Create(const std::string& name) {
  if (!ValidName(name)) return Status::InvalidArgument("zdb: namespace name not allowed");
  if (Get(name)) return Status::AlreadyExists("zdb: namespace '" + name + "' exists");
  auto ns = Namespace::Open(dir_ + "/" + name, name, options_, true);
  if (!ns.ok()) return ns.status();
  ns_.push_back(std::move(ns.value()));
  return ns_.back().get();
}

Status Store::Delete(const std::string& name) {
  if (name == "default") return Status::InvalidArgument("zdb: cannot remove default namespace");
  for (size_t i = 0; i < ns_.size(); ++i) {
    if (ns_[i]->name() != name) continue;
    std::string d = ns_[i]->dir();
    ns_.erase(ns_.begin() + static_cast<long>(i));
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
    if (ec) return Status::IOError("zdb: remove " + d + ": " + ec.message());
    SyncDir(dir_);
    return Status::OK();
  }
  return Status::NotFound("zdb: namespace '" + name + "' not found");
}

std::vector<std::string> Store::List() const {
  std::vector<std::string> out;
  for (const auto& n : ns_) out.push_back(n->name());
  std::sort(out.begin(), out.end());
  return out;
}

Status Store::SyncAll() {
  for (auto& n : ns_) QSTOR_RETURN_IF_ERROR(n->Sync());
  return Status::OK();
}

Status Store::TakeDirtyAll(std::vector<int>* fds) {
  for (auto& n : ns_) QSTOR_RETURN_IF_ERROR(n->TakeDirty(fds));
  return Status::OK();
}

Status Store::SyncAndClose(const std::vector<int>& fds) {
  Status first;
  for (int fd : fds) {
    if (::fdatasync(fd) != 0 && first.ok()) {
      first = Status::IOError(std::string("zdb: fdatasync: ") + std::strerror(errno));
    }
    ::close(fd);
  }
  return first;
}

bool Store::AnyDirty() const {
  for (const auto& n : ns_) {
    if (n->dirty()) return true;
  }
  return false;
}

Status Store::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status first;
  for (auto& n : ns_) {
    Status st = n->WriteSnapshot();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace qstor::zdb
