// Ctrl-C while a command holds the state lock but has changed nothing yet
// (planning, the passphrase prompt, the confirmation question, a top-up wait).
//
// Contract: while a LockInterruptGuard lives, SIGINT and SIGTERM restore the
// settings the controlling terminal (/dev/tty, where prompts read) had when
// the guard was made (a prompt may have turned echo off), remove the lock
// file it names, say so on stderr and exit 130 at once. Only
// async-signal-safe calls run in the handler. The guard restores the
// handlers it replaced when it goes. One guard at a time.
//
// UnlinkHeldLock: removes the lock file the live guard names, for a handler
// of its own (apply's second Ctrl-C) to call before _exit.
#pragma once

#include <csignal>
#include <string>

namespace qstor::cli {

class LockInterruptGuard {
 public:
  // `message` is what stderr gets before the exit ("qstor apply: interrupted
  // before any change; the state lock is released").
  LockInterruptGuard(const std::string& lock_path, const std::string& message);
  ~LockInterruptGuard();
  LockInterruptGuard(const LockInterruptGuard&) = delete;
  LockInterruptGuard& operator=(const LockInterruptGuard&) = delete;

  // Gives SIGINT/SIGTERM back to the handlers from before the guard (the
  // apply's own two-stage handler takes over); the lock path stays recorded.
  void Suspend();
  // Takes them again after Suspend.
  void Resume();
  // What the handler says from now on.
  static void SetMessage(const std::string& message);

 private:
  struct sigaction old_int_ {}, old_term_ {};
  bool installed_ = false;
};

// Removes the lock file of the live guard, if any; async-signal-safe.
void UnlinkHeldLock();

}  // namespace qstor::cli
