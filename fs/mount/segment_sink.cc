#include "fs/mount/segment_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace qstor::fs::mount {
namespace {

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool ValidName(const std::string& id) {
  if (id.empty() || id.size() > 200 || id == "." || id == "..") return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError(Errno("mkdir", path));
  }
  return Status::OK();
}

Status WriteAtomic(const std::string& dir, const std::string& name, std::string_view data) {
  // Unique per writer: two processes may write one record at once (the
  // writer lease), and must not share a temporary file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = dir + "/." + name + "." + std::to_string(::getpid()) + "." +
                    std::to_string(counter++) + ".tmp";
  std::string path = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(Errno("open", tmp));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = Status::IOError(Errno("write", tmp));
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status st = Status::IOError(Errno("fsync", tmp));
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError(Errno("rename", tmp));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

Result<std::string> ReadAll(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("local sink: no " + path);
    return Status::IOError(Errno("open", path));
  }
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::IOError(Errno("read", path));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class LocalDirSink final : public SegmentSink {
 public:
  explicit LocalDirSink(std::string dir) : dir_(std::move(dir)) {}

  Status Put(const std::string& id, std::string_view data) override {
    QSTOR_RETURN_IF_ERROR(CheckUp());
    if (!ValidName(id)) return Status::InvalidArgument("local sink: bad segment id \"" + id + "\"");
    return WriteAtomic(dir_ + "/seg", id, data);
  }
  Result<std::string> Get(const std::string& id) override {
    QSTOR_RETURN_IF_ERROR(CheckUp());
    if (!ValidName(id)) return Status::InvalidArgument("local sink: bad segment id \"" + id + "\"");
    return ReadAll(dir_ + "/seg/" + id);
  }
  Status Delete(const std::string& id) override {
    QSTOR_RETURN_IF_ERROR(CheckUp());
    if (!ValidName(id)) return Status::InvalidArgument("local sink: bad segment id \"" + id + "\"");
    std::string path = dir_ + "/seg/" + id;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::IOError(Errno("unlink", path));
    }
    return Status::OK();
  }
  Status PutMeta(const std::string& name, std::string_view data) override {
    QSTOR_RETURN_IF_ERROR(CheckUp());
    if (!ValidName(name)) return Status::InvalidArgument("local sink: bad meta name \"" + name + "\"");
    return WriteAtomic(dir_ + "/meta", name, data);
  }
  Result<std::string> GetMeta(const std::string& name) override {
    QSTOR_RETURN_IF_ERROR(CheckUp());
    if (!ValidName(name)) return Status::InvalidArgument("local sink: bad meta name \"" + name + "\"");
    return ReadAll(dir_ + "/meta/" + name);
  }
  std::string Describe() const override { return "local:" + dir_; }

 private:
  // The "down" file simulates an unreachable backend: calls hang, then fail.
  Status CheckUp() const {
    std::string down = dir_ + "/down";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    bool was_down = false;
    while (::access(down.c_str(), F_OK) == 0) {
      was_down = true;
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (was_down) return Status::Unavailable("local sink " + dir_ + ": backend was down");
    return Status::OK();
  }

  std::string dir_;
};

}  // namespace

Result<std::unique_ptr<SegmentSink>> NewLocalDirSink(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("local sink: empty directory");
  QSTOR_RETURN_IF_ERROR(MakeDir(dir));
  QSTOR_RETURN_IF_ERROR(MakeDir(dir + "/seg"));
  QSTOR_RETURN_IF_ERROR(MakeDir(dir + "/meta"));
  return std::unique_ptr<SegmentSink>(new LocalDirSink(dir));
}

}  // namespace qstor::fs::mount
