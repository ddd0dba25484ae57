// How `qstor apply` and `qstor destroy` show their steps: one plain line per
// step, or, on a terminal, the same lines with a progress bar and a spinner
// on the last line, redrawn in place while the apply waits (for nodes, for
// the chain). `--json` prints apply_progress events instead (see
// schema/events.v1.schema.json); that is done by the caller.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include "reconciler/apply.h"

namespace qstor::cli {

class ProgressView {
 public:
  // `live`: draw the bar (stdout is a terminal that understands "\r\033[K").
  // `utf8`: block and braille characters; else ASCII.
  ProgressView(std::ostream& out, bool live, bool utf8, int width);
  ~ProgressView();
  ProgressView(const ProgressView&) = delete;
  ProgressView& operator=(const ProgressView&) = delete;

  // A view for stdout: live when stdout is a terminal and TERM is not
  // "dumb", UTF-8 when the locale variables say so, width from the terminal.
  static std::unique_ptr<ProgressView> ForStdout();

  bool live() const { return live_; }
  void Step(const reconciler::ApplyProgress& p);
  // Clears the bar while someone else writes to the terminal (the QR codes
  // of payment: connect); Resume draws it again.
  void Suspend();
  void Resume();
  // Clears the bar for good (the summary follows).
  void Finish();

  // The bar line, without "\r\033[K": "  ⠹ [█████░░░░░]  4/10  0:07  <status>",
  // at most `width` columns. Pure, for tests.
  static std::string BarLine(size_t done, size_t total, const std::string& status, int tick,
                             std::chrono::seconds elapsed, bool utf8, int width);

 private:
  void DrawLocked();
  void ClearLocked();
  void Ticker();

  std::ostream& out_;
  const bool live_;
  const bool utf8_;
  const int width_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool suspended_ = false;
  bool drawn_ = false;
  bool started_ = false;
  size_t done_ = 0;
  size_t total_ = 0;
  std::string status_;
  int tick_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::thread ticker_;
};

}  // namespace qstor::cli
