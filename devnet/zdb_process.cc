#include "devnet/zdb_process.h"

#include "common/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

namespace qstor::devnet {

namespace fs = std::filesystem;

namespace {

// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not
// the process. The devnet starts a node's 0-db lazily, from the HTTP worker
// thread of a deployment request; that thread ends with its connection (the
// client process exiting), and the node's 0-db got SIGTERM then: a storage
// deployed by `qstor apply` lost all its backends once apply exited. So every
// fork happens on this one thread, which lives as long as the process.
class Spawner {
 public:
  static Spawner& Get() {
    static Spawner* s = new Spawner();  // never destroyed: its thread runs to the end
    return *s;
  }
  pid_t Fork(std::function<pid_t()> fork_fn) {
    std::packaged_task<pid_t()> task(std::move(fork_fn));
    auto result = task.get_future();
    {
      std::lock_guard l(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return result.get();
  }

 private:
  Spawner() { std::thread([this] { Loop(); }).detach(); }
  void Loop() {
    for (;;) {
      std::packaged_task<pid_t()> task;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<pid_t()>> queue_;
};

}  // namespace

ZdbProcess::ZdbProcess(std::string qstor_bin, std::string data_dir, std::string admin_password)
    : bin_(std::move(qstor_bin)), dir_(std::move(data_dir)), admin_(std::move(admin_password)) {}

ZdbProcess::~ZdbProcess() { Stop(); }

bool ZdbProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

Status ZdbProcess::Start(uint16_t port) {
  if (Running()) return Status::OK();
  std::error_code ec;
  fs::create_directories(dir_ + "/data", ec);
  if (ec) return Status::IOError("zdb node " + dir_ + ": " + ec.message());
  // The node's data holds namespace passwords: private, like the ledger.
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (!ec) fs::permissions(dir_ + "/data", fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Status::IOError("zdb node " + dir_ + ": chmod 0700: " + ec.message());
  std::string log = dir_ + "/zdb.log";
  // Remember where this start's output begins, to find its "listening" line.
  std::error_code sec;
  auto offset = fs::exists(log, sec) ? fs::file_size(log, sec) : 0;
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("zdb node: cannot open " + log);
  std::string port_s = std::to_string(port);
  std::string data = dir_ + "/data";
  std::string env_admin = "QSTOR_ZDB_ADMIN=" + admin_;
  pid_t parent = ::getpid();
  pid_t pid = Spawner::Get().Fork([&]() -> pid_t {
    pid_t child = ::fork();
    if (child != 0) return child;
    // The devnet may block signals for sigwait(); the mask survives exec.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) ::dup2(devnull, 0);
    // Only 0, 1 and 2 reach the 0-db: no ledger, socket or pipe of the devnet.
    CloseDescriptorsFrom3();
    ::setenv("QSTOR_ZDB_ADMIN", admin_.c_str(), 1);
    ::execl(bin_.c_str(), bin_.c_str(), "zdb", "serve", "--data", data.c_str(), "--listen",
            "127.0.0.1", "--port", port_s.c_str(), "--sync", "100ms", static_cast<char*>(nullptr));
    _exit(127);
  });
  if (pid < 0) {
    ::close(fd);
    return Status::Internal("zdb node: fork failed");
  }
  ::close(fd);
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    in.seekg(std::streamoff(offset));
    std::string line;
    while (std::getline(in, line)) {
      auto p = line.find("listening on ");
      if (p != std::string::npos) {
        auto colon = line.rfind(':');
        if (colon != std::string::npos) {
          port_ = uint16_t(std::atoi(line.c_str() + colon + 1));
          if (port_ != 0) return Status::OK();
        }
      }
    }
    if (!Running()) {
      return Status::Unavailable("zdb node " + dir_ + ": `qstor zdb serve` exited at start (see " +
                                 log + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return Status::Timeout("zdb node " + dir_ + ": no 'listening on' line within 10 s");
}

void ZdbProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Result<std::unique_ptr<zdb::Client>> ZdbProcess::AdminClient() {
  zdb::ClientOptions o;
  o.admin_password = admin_;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(5000);
  return zdb::Client::Connect("127.0.0.1", port_, o);
}

}  // namespace qstor::devnet
