// Test helpers (header-only, tests only): a client with test timeouts, and a
// record of what a subscription's callback receives that a test can wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grid/jsonrpc_ws.h"

namespace qstor::grid::testing {

// A client with test-sized timeouts and backoff (5 s calls, 3 s connect,
// 50-400 ms backoff); tweak changes more.
inline std::shared_ptr<JsonRpcWsClient> MakeTestClient(
    const std::string& url, const std::function<void(JsonRpcWsOptions&)>& tweak = {}) {
  JsonRpcWsOptions o;
  o.url = url;
  o.call_timeout = std::chrono::milliseconds(5000);
  o.connect_timeout = std::chrono::milliseconds(3000);
  o.backoff_initial = std::chrono::milliseconds(50);
  o.backoff_max = std::chrono::milliseconds(400);
  if (tweak) tweak(o);
  auto c = JsonRpcWsClient::Create(o);
  return c.ok() ? *c : nullptr;
}

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
