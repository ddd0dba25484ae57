#include "common/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace qstor {

Status WriteFileAtomic(const std::string& path, std::string_view bytes, mode_t mode) {
  size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const char* what) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return Status::IOError(std::string(what) + " " + tmp + ": " + std::strerror(e));
  };
  if (::fchmod(fd, mode) != 0) return fail("chmod");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) return fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(("rename to " + path + ":").c_str());
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                    std::string_view what) {
  const std::string role(what);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string m = "cannot read " + role + " " + path + ": " + std::strerror(e);
    if (e == ENOENT) return Status::NotFound(std::move(m));
    return Status::IOError(std::move(m));
  }
  auto too_big = [&](const char* how) {
    return Status::ResourceExhausted(fmt::format("{} {} {} than {} bytes, the limit for a {}", role,
                                                 path, how, max_bytes, role));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) st.st_mode = 0;
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return too_big("is larger");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::IOError("cannot read " + role + " " + path + ": is a directory");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    // Ask for no more than one byte past the limit.
    const size_t want = std::min(sizeof buf, max_bytes + 1 - out.size());
    ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return Status::IOError("cannot read " + role + " " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return too_big(S_ISREG(st.st_mode) ? "is larger" : "gives more");
    }
  }
  ::close(fd);
  return out;
}

void CloseDescriptorsFrom3() {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 1 << 20) max = 1 << 20;
  for (long fd = 3; fd < max; ++fd) ::close(static_cast<int>(fd));
}

int RemoveStaleTempFiles(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    size_t at = name.rfind(".tmp.");
    bool stale = false;
    if (at != std::string_view::npos && at > 0) {
      std::string_view digits = name.substr(at + 5);
      long pid = 0;
      bool ok = !digits.empty() && digits.size() <= 9;
      for (char ch : digits) {
        if (ch < '0' || ch > '9') ok = false;
        else pid = pid * 10 + (ch - '0');
      }
      stale = ok && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
    }
    if (stale && ::unlinkat(::dirfd(d), e->d_name, 0) == 0) removed++;
  }
  ::closedir(d);
  return removed;
}

std::vector<MountEntry> ListMounts() {
  // id parent major:minor root mount_point options [optional...] - fstype source super_options
  auto decode = [](const std::string& f) {
    std::string out;
    for (size_t i = 0; i < f.size(); i++) {
      if (f[i] == '\\' && i + 3 < f.size() && std::isdigit(static_cast<unsigned char>(f[i + 1])) &&
          std::isdigit(static_cast<unsigned char>(f[i + 2])) &&
          std::isdigit(static_cast<unsigned char>(f[i + 3]))) {
        out += static_cast<char>((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0'));
        i += 3;
      } else {
        out += f[i];
      }
    }
    return out;
  };
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt, field;
    if (!(ls >> id >> parent >> devno >> root >> mnt)) continue;
    MountEntry e;
    e.mount_point = decode(mnt);
    while (ls >> field && field != "-") {
    }
    ls >> e.fstype;
    out.push_back(std::move(e));
  }
  return out;
}

bool IsMountPoint(const std::string& path) {
  for (const auto& m : ListMounts()) {
    if (m.mount_point == path) return true;
  }
  return false;
}

bool IsDeadFuseMount(const std::string& path) {
  auto dead = [](int e) { return e == ENOTCONN || e == ECONNABORTED; };
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) return dead(errno);
  // statfs may be answered without the server (the kernel's own answer for
  // an aborted connection); stat of the root asks for its attributes.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return dead(errno);
  return false;
}

}  // namespace qstor
