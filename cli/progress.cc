#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <fmt/format.h>

namespace qstor::cli {

namespace {

constexpr const char* kBraille[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr const char* kAscii[] = {"|", "/", "-", "\\"};

bool LocaleIsUtf8() {
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(var);
    if (v == nullptr || *v == '\0') continue;
    std::string s(v);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s.find("utf-8") != std::string::npos || s.find("utf8") != std::string::npos;
  }
  return false;
}

// Display columns of a UTF-8 string (every code point counts as one).
size_t Columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) n++;
  }
  return n;
}

// The longest prefix of `s` (whole code points) of at most `cols` columns.
std::string TruncateColumns(const std::string& s, size_t cols) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (n == cols) return s.substr(0, i);
      n++;
    }
  }
  return s;
}

}  // namespace

ProgressView::ProgressView(std::ostream& out, bool live, bool utf8, int width)
    : out_(out), live_(live), utf8_(utf8), width_(width < 20 ? 20 : width) {
  start_ = std::chrono::steady_clock::now();
  if (live_) ticker_ = std::thread([this] { Ticker(); });
}

ProgressView::~ProgressView() {
  Finish();
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

std::unique_ptr<ProgressView> ProgressView::ForStdout() {
  bool tty = ::isatty(1) == 1;
  const char* term = std::getenv("TERM");
  bool live = tty && term != nullptr && std::string(term) != "dumb" && *term != '\0';
  int width = 80;
  winsize ws{};
  if (tty && ::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width = ws.ws_col;
  return std::make_unique<ProgressView>(std::cout, live, LocaleIsUtf8(), width);
}

std::string ProgressView::BarLine(size_t done, size_t total, const std::string& status, int tick,
                                  std::chrono::seconds elapsed, bool utf8, int width) {
  const char* spin = utf8 ? kBraille[static_cast<size_t>(tick) % 10] : kAscii[static_cast<size_t>(tick) % 4];
  long secs = static_cast<long>(elapsed.count());
  std::string count = fmt::format("{:>3}/{} {}:{:02}", done, total, secs / 60, secs % 60);
  // One column stays free: writing the last column makes some terminals
  // wrap, and the next "\r" would then redraw on the wrong row.
  const size_t cols = static_cast<size_t>(std::max(width, 2)) - 1;
  // "  S [bar] count": the bar gets up to 20 columns of what is left, none
  // when fewer than 5 are left.
  size_t fixed = 2 + 1 + 1 + Columns(count);
  size_t bar_len = cols > fixed + 3 ? std::min<size_t>(20, cols - fixed - 3) : 0;
  if (bar_len < 5) bar_len = 0;
  std::string line = fmt::format("  {} ", spin);
  if (bar_len > 0) {
    size_t filled = total == 0 ? 0 : std::min(bar_len, done * bar_len / total);
    line += "[";
    for (size_t i = 0; i < bar_len; i++) {
      if (utf8) line += i < filled ? "█" : "░";
      else line += i < filled ? '#' : '-';
    }
    line += "] ";
  }
  line += count;
  size_t used = Columns(line);
  if (!status.empty() && cols > used + 2) line += "  " + TruncateColumns(status, cols - used - 2);
  return TruncateColumns(line, cols);
}

void ProgressView::Step(const reconciler::ApplyProgress& p) {
  std::lock_guard<std::mutex> l(mu_);
  started_ = true;
  done_ = p.done;
  total_ = p.total;
  status_ = p.message;
  if (!live_) {
    out_ << "  " << p.message << "\n" << std::flush;
    return;
  }
  ClearLocked();
  out_ << "  " << p.message << "\n";
  if (p.step == "deploying") {
    status_ = "waiting for the nodes";
  } else if (p.step == "signed" || p.step == "contract") {
    status_ = "deploying";
  }
  if (!suspended_) DrawLocked();
  out_ << std::flush;
}

void ProgressView::Suspend() {
  std::lock_guard<std::mutex> l(mu_);
  ClearLocked();
  out_ << std::flush;
  suspended_ = true;
}

void ProgressView::Resume() {
  std::lock_guard<std::mutex> l(mu_);
  suspended_ = false;
  if (live_ && started_) {
    DrawLocked();
    out_ << std::flush;
  }
}

void ProgressView::Finish() {
  std::lock_guard<std::mutex> l(mu_);
  ClearLocked();
  out_ << std::flush;
  suspended_ = true;
}

void ProgressView::DrawLocked() {
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - start_);
  out_ << "\r\033[K" << BarLine(done_, total_, status_, tick_, elapsed, utf8_, width_);
  drawn_ = true;
}

void ProgressView::ClearLocked() {
  if (!drawn_) return;
  out_ << "\r\033[K";
  drawn_ = false;
}

void ProgressView::Ticker() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, std::chrono::milliseconds(120));
    if (stop_) break;
    if (suspended_ || !started_) continue;
    tick_++;
    DrawLocked();
    out_ << std::flush;
  }
}

}  // namespace qstor::cli
