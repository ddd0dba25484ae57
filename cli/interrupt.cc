#include "cli/interrupt.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace qstor::cli {
namespace {

char g_lock_path[4096];
char g_message[256];
size_t g_message_len = 0;
struct termios g_tty {};
int g_tty_fd = -1;  // the controlling terminal prompts use (/dev/tty)
volatile sig_atomic_t g_have_tty = 0;

// The held lock file (empty: none) in a fixed buffer a signal handler can
// read; paths longer than the buffer are not recorded.
void SetHeldLockPath(const std::string& path) {
  g_lock_path[0] = '\0';
  if (path.size() + 1 > sizeof g_lock_path) return;
  std::memcpy(g_lock_path, path.c_str(), path.size() + 1);
}

void OnInterruptHoldingLock(int) {
  if (g_have_tty) ::tcsetattr(g_tty_fd, TCSANOW, &g_tty);
  UnlinkHeldLock();
  ssize_t w = ::write(2, g_message, g_message_len);
  (void)w;
  ::_exit(130);
}

}  // namespace

void UnlinkHeldLock() {
  if (g_lock_path[0] != '\0') ::unlink(g_lock_path);
}

void LockInterruptGuard::SetMessage(const std::string& message) {
  std::string msg = "\n" + message + "\n";
  if (msg.size() > sizeof g_message) msg.resize(sizeof g_message);
  g_message_len = 0;
  std::memcpy(g_message, msg.data(), msg.size());
  g_message_len = msg.size();
}

LockInterruptGuard::LockInterruptGuard(const std::string& lock_path, const std::string& message) {
  SetHeldLockPath(lock_path);
  SetMessage(message);
  g_have_tty = 0;
  if (g_tty_fd < 0) g_tty_fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (g_tty_fd >= 0 && ::tcgetattr(g_tty_fd, &g_tty) == 0) g_have_tty = 1;
  Resume();
}

LockInterruptGuard::~LockInterruptGuard() {
  Suspend();
  SetHeldLockPath("");
}

void LockInterruptGuard::Resume() {
  if (installed_) return;
  struct sigaction sa {};
  sa.sa_handler = OnInterruptHoldingLock;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
  installed_ = true;
}

void LockInterruptGuard::Suspend() {
  if (!installed_) return;
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  installed_ = false;
}

}  // namespace qstor::cli
