#include "fs/health.h"

namespace qstor::fs {

const char* BackendStateName(BackendState s) {
  switch (s) {
    case BackendState::kUp: return "up";
    case BackendState::kSlow: return "slow";
    case BackendState::kDown: return "down";
    case BackendState::kFull: return "full";
  }
  return "?";
}

HealthTracker::HealthTracker(HealthOptions options) : options_(options) {}

HealthTracker::Entry& HealthTracker::EntryLocked(const std::string& backend) {
  auto& e = entries_[backend];
  e.h.backend = backend;
  return e;
}

void HealthTracker::RecordSuccess(const std::string& backend, std::chrono::microseconds latency) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = EntryLocked(backend);
  double ms = static_cast<double>(latency.count()) / 1000.0;
  e.h.latency_ms = e.h.latency_ms == 0 ? ms : 0.8 * e.h.latency_ms + 0.2 * ms;
  e.h.requests_ok++;
  e.h.consecutive_failures = 0;
}

void HealthTracker::RecordFailure(const std::string& backend, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = EntryLocked(backend);
  e.h.requests_failed++;
  e.h.last_error = status.ToString();
  switch (status.code()) {
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout:
    case Status::Code::kIOError:
      e.h.consecutive_failures++;
      e.last_failure = std::chrono::steady_clock::now();
      break;
    case Status::Code::kResourceExhausted:
      e.full_refused = true;
      break;
    default:
      break;
  }
}

void HealthTracker::RecordNsInfo(const std::string& backend, uint64_t used,
                                 std::optional<uint64_t> available) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = EntryLocked(backend);
  e.h.used_bytes = used;
  e.h.space_available = available;
  e.h.written_bytes = 0;  // now included in `used`
  e.full_refused = available.has_value() && *available < options_.full_margin;
}

void HealthTracker::AddWritten(const std::string& backend, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  EntryLocked(backend).h.written_bytes += bytes;
}

BackendState HealthTracker::StateLocked(const Entry& e) const {
  if (e.h.consecutive_failures >= options_.down_after) return BackendState::kDown;
  if (e.full_refused) return BackendState::kFull;
  if (e.h.latency_ms > static_cast<double>(options_.slow_latency.count())) {
    return BackendState::kSlow;
  }
  return BackendState::kUp;
}

BackendState HealthTracker::State(const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(backend);
  return it == entries_.end() ? BackendState::kUp : StateLocked(it->second);
}

bool HealthTracker::Usable(const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(backend);
  if (it == entries_.end()) return true;
  switch (StateLocked(it->second)) {
    case BackendState::kFull: return false;
    case BackendState::kDown:
      return std::chrono::steady_clock::now() - it->second.last_failure >= options_.cooldown;
    default: return true;
  }
}

double HealthTracker::LatencyMs(const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(backend);
  return it == entries_.end() ? 0 : it->second.h.latency_ms;
}

uint64_t HealthTracker::Fill(const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(backend);
  if (it == entries_.end()) return 0;
  return it->second.h.used_bytes.value_or(0) + it->second.h.written_bytes;
}

BackendHealth HealthTracker::Get(const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(backend);
  if (it == entries_.end()) {
    BackendHealth h;
    h.backend = backend;
    return h;
  }
  BackendHealth h = it->second.h;
  h.state = StateLocked(it->second);
  return h;
}

std::vector<BackendHealth> HealthTracker::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BackendHealth> out;
  for (const auto& [name, e] : entries_) {
    BackendHealth h = e.h;
    h.state = StateLocked(e);
    out.push_back(h);
  }
  return out;
}

}  // namespace qstor::fs
