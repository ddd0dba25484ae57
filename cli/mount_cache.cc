#include "cli/mount_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/dirs.h"
#include "common/file_util.h"

namespace qstor::cli {

std::string DefaultCacheDirFor(const std::string& home, const std::string& network,
                               const std::string& name) {
  return DirsFor(home).mount_cache + "/mount-cache/" + network + "/" + name;
}

namespace {

constexpr const char* kOwnerFile = "owner.json";

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

bool IsHexByteDir(const std::string& s) {
  return s.size() == 2 && std::isxdigit(static_cast<unsigned char>(s[0])) &&
         std::isxdigit(static_cast<unsigned char>(s[1])) &&
         !std::isupper(static_cast<unsigned char>(s[0])) &&
         !std::isupper(static_cast<unsigned char>(s[1]));
}

// Top-level files a mount (and this file) creates in its cache directory.
bool IsMountTopFile(const std::string& n) {
  static const char* kNames[] = {"lock",          "meta.db",          "meta.db-wal",
                                 "meta.db-shm",   "meta.db-journal",  "meta.db.restore",
                                 "mount.log",     "cache-id",         kOwnerFile};
  for (const char* k : kNames) {
    if (n == k) return true;
  }
  // WriteFileAtomic's temporary of owner.json or meta.db.
  return n.rfind(std::string(kOwnerFile) + ".tmp.", 0) == 0 || n.rfind("meta.db.tmp", 0) == 0 ||
         n.rfind("cache-id.tmp.", 0) == 0;
}

// Overwrites a regular file with zeros (fsynced), then unlinks it.
Status ZeroAndUnlink(const std::string& path, CacheRemoval* r) {
  int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      static const std::string zeros(1 << 20, '\0');
      uint64_t off = 0, size = static_cast<uint64_t>(st.st_size);
      while (off < size) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), size - off));
        ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
        if (w <= 0) {
          if (w < 0 && errno == EINTR) continue;
          break;  // best effort: unlink anyway
        }
        off += static_cast<uint64_t>(w);
      }
      ::fdatasync(fd);
      r->bytes_zeroed += off;
    }
    ::close(fd);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IOError(Errno("unlink", path));
  }
  r->files++;
  return Status::OK();
}

}  // namespace

Result<std::optional<CacheOwner>> ReadCacheOwner(const std::string& dir) {
  const std::string path = dir + "/" + kOwnerFile;
  auto read = ReadFileBounded(path, 1 << 20, "cache owner file");
  if (!read.ok()) {
    if (read.status().code() == Status::Code::kNotFound) return std::optional<CacheOwner>();
    return read.status();
  }
  const std::string& text = *read;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption(path + ": not a JSON object");
  }
  try {
    CacheOwner o;
    o.network = j.value("network", std::string());
    o.name = j.value("name", std::string());
    o.lineage = j.value("lineage", std::string());
    if (j.contains("contracts")) {
      for (const auto& c : j.at("contracts")) o.contracts.push_back(c.get<uint64_t>());
    }
    return std::optional<CacheOwner>(std::move(o));
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
}

Status WriteCacheOwner(const std::string& dir, const CacheOwner& owner) {
  std::vector<uint64_t> contracts;
  for (uint64_t c : owner.contracts) {
    if (c != 0) contracts.push_back(c);
  }
  std::sort(contracts.begin(), contracts.end());
  contracts.erase(std::unique(contracts.begin(), contracts.end()), contracts.end());
  nlohmann::json j{{"version", 1},
                   {"network", owner.network},
                   {"name", owner.name},
                   {"lineage", owner.lineage},
                   {"contracts", contracts}};
  return WriteFileAtomic(dir + "/" + kOwnerFile, j.dump(1) + "\n", 0600);
}

bool SameDeployment(const CacheOwner& a, const CacheOwner& b) {
  if (!a.lineage.empty() && a.lineage == b.lineage) return true;
  for (uint64_t c : a.contracts) {
    if (c != 0 && std::find(b.contracts.begin(), b.contracts.end(), c) != b.contracts.end()) {
      return true;
    }
  }
  return false;
}

bool CacheHasContent(const std::string& dir) {
  return Exists(dir + "/meta.db") || IsDir(dir + "/data");
}

bool CacheInUse(const std::string& dir) {
  int fd = ::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops our lock, if we got it
  return held;
}

Result<CacheClaim> ClaimCache(const std::string& dir, const CacheOwner& me, bool may_move) {
  CacheClaim claim;
  if (IsDir(dir)) {
    auto found = ReadCacheOwner(dir);
    if (!found.ok()) return found.status();
    claim.previous = *found;
    if (*found) {
      claim.what = SameDeployment(**found, me) ? CacheClaim::What::kOurs
                                                 : CacheClaim::What::kMovedAside;
    } else {
      claim.what = CacheHasContent(dir) ? CacheClaim::What::kAdopted : CacheClaim::What::kNew;
    }
    if (claim.what == CacheClaim::What::kMovedAside) {
      const CacheOwner& other = **found;
      std::string who = "\"" + other.name + "\" on " + other.network +
                        (other.lineage.empty() ? "" : " (lineage " + other.lineage + ")");
      if (CacheInUse(dir)) {
        return Status::FailedPrecondition("cache dir " + dir + " belongs to another deployment, " +
                                          who + ", and a running mount uses it; unmount that "
                                          "first");
      }
      if (!may_move) {
        return Status::FailedPrecondition(
            "cache dir " + dir + " belongs to another deployment, " + who +
            ", not this one (lineage " + me.lineage +
            ", no contract in common); its files are not this storage's. Give another "
            "cacheDir, or remove that directory if the other deployment is gone");
      }
      std::string tag = other.lineage.substr(0, std::min<size_t>(8, other.lineage.size()));
      claim.moved_to = dir + ".other-" + (tag.empty() ? "unknown" : tag) + "-" +
                       std::to_string(static_cast<long long>(std::time(nullptr)));
      if (::rename(dir.c_str(), claim.moved_to.c_str()) != 0) {
        return Status::IOError(Errno("rename " + dir + " to", claim.moved_to));
      }
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError(Errno("mkdir", dir));
  }
  QSTOR_RETURN_IF_ERROR(MakeCachePrivate(dir));
  QSTOR_RETURN_IF_ERROR(WriteCacheOwner(dir, me));
  return claim;
}

Status MakeCachePrivate(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Status::OK();
  // Never a shared directory given as the cache (/tmp: sticky).
  if ((st.st_mode & S_ISVTX) == 0 && (st.st_mode & 07777) != 0700 &&
      ::chmod(dir.c_str(), 0700) != 0) {
    return Status::IOError(Errno("chmod", dir));
  }
  for (const auto& n : List(dir)) {
    const std::string p = dir + "/" + n;
    if (IsMountTopFile(n) && !IsDir(p)) {
      ::chmod(p.c_str(), 0600);
    } else if (n == "data" && IsDir(p)) {
      ::chmod(p.c_str(), 0700);
      for (const auto& sub : List(p)) {
        const std::string sp = p + "/" + sub;
        if (IsHexByteDir(sub) && IsDir(sp)) {
          ::chmod(sp.c_str(), 0700);
        } else if (sub == "slab" && !IsDir(sp)) {
          ::chmod(sp.c_str(), 0600);
        }
      }
    }
  }
  return Status::OK();
}

Result<CacheRemoval> RemoveCache(const std::string& dir) {
  CacheRemoval r;
  if (!IsDir(dir)) return r;
  if (CacheInUse(dir)) {
    return Status::FailedPrecondition("cache dir " + dir +
                                      " is in use by a running mount; unmount it first");
  }
  for (const auto& n : List(dir)) {
    const std::string p = dir + "/" + n;
    if (n == "data" && IsDir(p)) {
      for (const auto& sub : List(p)) {
        const std::string sp = p + "/" + sub;
        if (IsHexByteDir(sub) && IsDir(sp)) {
          for (const auto& f : List(sp)) {
            const std::string fp = sp + "/" + f;
            if (AllDigits(f) && !IsDir(fp)) {
              QSTOR_RETURN_IF_ERROR(ZeroAndUnlink(fp, &r));
            } else {
              r.left.push_back(fp);
            }
          }
          if (::rmdir(sp.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST) {
            return Status::IOError(Errno("rmdir", sp));
          }
        } else if ((sub == "slab" || sub == ".maxsize-probe") && !IsDir(sp)) {
          QSTOR_RETURN_IF_ERROR(ZeroAndUnlink(sp, &r));
        } else {
          r.left.push_back(sp);
        }
      }
      ::rmdir(p.c_str());
    } else if (IsMountTopFile(n) && !IsDir(p)) {
      QSTOR_RETURN_IF_ERROR(ZeroAndUnlink(p, &r));
    } else {
      r.left.push_back(p);
    }
  }
  if (r.left.empty() && ::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return Status::IOError(Errno("rmdir", dir));
  }
  return r;
}

}  // namespace qstor::cli
