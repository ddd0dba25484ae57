#include "zdb/mapped_file.h"

#include <sys/mman.h>

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace qstor::zdb {
namespace {

// vm.max_map_count is 65530 by default and shared with malloc, threads and
// libraries; beyond this many data-file mappings, reads use pread.
constexpr uint64_t kMaxMappings = 16384;
std::atomic<uint64_t> g_mappings{0};

// Where the SIGBUS handler jumps to while a CopyFromMapping runs on this
// thread; nullptr otherwise. volatile: the handler reads it asynchronously.
thread_local sigjmp_buf* volatile t_jump = nullptr;
struct sigaction g_previous;

void OnSigbus(int sig, siginfo_t* info, void* uctx) {
  if (sigjmp_buf* j = t_jump; j != nullptr) {
    t_jump = nullptr;
    siglongjmp(*j, 1);
  }
  // Not a guarded copy: behave as if this handler were not there.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: the faulting access repeats on return and kills the
  // process with SIGBUS, as without this handler.
  ::signal(SIGBUS, SIG_DFL);
}

void InstallHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigbus;
    // SA_NODEFER: SIGBUS stays unblocked in the handler, so the siglongjmp
    // (which does not restore the signal mask, to keep CopyFromMapping free
    // of syscalls) leaves the thread able to catch the next one.
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

}  // namespace

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    Unmap();
    base_ = o.base_;
    len_ = o.len_;
    o.base_ = nullptr;
    o.len_ = 0;
  }
  return *this;
}

bool MappedFile::Map(int fd, uint64_t len) {
  Unmap();
  if (len == 0 || g_mappings.load(std::memory_order_relaxed) >= kMaxMappings) return false;
  InstallHandler();
  void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return false;
  base_ = static_cast<char*>(p);
  len_ = len;
  g_mappings.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void MappedFile::Unmap() {
  if (base_ == nullptr) return;
  ::munmap(base_, len_);
  base_ = nullptr;
  len_ = 0;
  g_mappings.fetch_sub(1, std::memory_order_relaxed);
}

bool CopyFromMapping(void* dst, const void* src, size_t n) {
  sigjmp_buf jump;
  if (sigsetjmp(jump, 0) != 0) return false;  // from OnSigbus, which cleared t_jump
  t_jump = &jump;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(dst, src, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_jump = nullptr;
  return true;
}

uint64_t LiveMappings() { return g_mappings.load(std::memory_order_relaxed); }

}  // namespace qstor::zdb
