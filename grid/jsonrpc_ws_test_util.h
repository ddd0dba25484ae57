// Test helper (header-only, tests only): records what a subscription's
// callback receives and lets a test wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "grid/jsonrpc_ws.h"

namespace qstor::grid::testing {

class EventLog {
 public:
  // The callback to give Subscribe(); a kClosed event is recorded as
  // {"closed": <status text>}.
  SubscriptionCallback Callback() {
    return [this](const SubscriptionEvent& ev) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(ev.kind == SubscriptionEvent::Kind::kNotification
                            ? ev.result
                            : nlohmann::json{{"closed", ev.status.ToString()}});
      cv_.notify_all();
    };
  }
  // Waits up to 5 s for n events; returns what was received by then.
  std::vector<nlohmann::json> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return events_.size() >= n; });
    return events_;
  }
  std::vector<nlohmann::json> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nlohmann::json> events_;
};

}  // namespace qstor::grid::testing
