// fs::HealthTracker: what the storage engine knows about each backend.
//
// Fed by every request the object store makes (latency, success, error
// code) and by NSINFO probes (fs/repair.h ProbeBackends). States:
//   up    answers, latency below slow_latency;
//   slow  answers, but the latency EWMA is above slow_latency;
//   down  the last `down_after` requests in a row failed to reach it
//         (unavailable/timeout); re-tried after `cooldown` (it stays "down"
//         until a request succeeds);
//   full  it refused a write for lack of space, or NSINFO reports less than
//         `full_margin` bytes available.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace qstor::fs {

enum class BackendState { kUp, kSlow, kDown, kFull };
const char* BackendStateName(BackendState s);

struct HealthOptions {
  std::chrono::milliseconds slow_latency{500};
  int down_after = 1;
  std::chrono::milliseconds cooldown{10000};
  uint64_t full_margin = 16u << 20;
};

struct BackendHealth {
  std::string backend;
  BackendState state = BackendState::kUp;
  double latency_ms = 0;        // EWMA of successful requests, 0 = unknown
  uint64_t requests_ok = 0;
  uint64_t requests_failed = 0;
  int consecutive_failures = 0;
  std::string last_error;       // Status::ToString() of the last failure
  std::optional<uint64_t> used_bytes;       // from NSINFO
  std::optional<uint64_t> space_available;  // from NSINFO (when limited)
  uint64_t written_bytes = 0;   // bytes this process stored there
};

class HealthTracker {
 public:
  explicit HealthTracker(HealthOptions options = {});

  void RecordSuccess(const std::string& backend, std::chrono::microseconds latency);
  void RecordFailure(const std::string& backend, const Status& status);
  void RecordNsInfo(const std::string& backend, uint64_t used, std::optional<uint64_t> available);
  void AddWritten(const std::string& backend, uint64_t bytes);

  BackendState State(const std::string& backend) const;
  // Worth sending new work to: not full, and not down (or down but its
  // cooldown expired, so one request may test it).
  bool Usable(const std::string& backend) const;
  double LatencyMs(const std::string& backend) const;
  // Best estimate of bytes stored there (NSINFO used + written since).
  uint64_t Fill(const std::string& backend) const;
  BackendHealth Get(const std::string& backend) const;
  std::vector<BackendHealth> Snapshot() const;

 private:
  struct Entry {
    BackendHealth h;
    std::chrono::steady_clock::time_point last_failure{};
    bool full_refused = false;
  };
  BackendState StateLocked(const Entry& e) const;
  Entry& EntryLocked(const std::string& backend);

  HealthOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace qstor::fs
