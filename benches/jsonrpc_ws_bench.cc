// Round trip of a trivial JSON-RPC call over loopback: qstor's WebSocket
// client (grid/jsonrpc_ws.h) against the devnet's server
// (devnet/jsonrpc_ws_server.h), one shared connection, 1 and 8 calling
// threads. Prints p50/p99/max per call and calls per second.
// Usage: jsonrpc_ws_bench [CALLS]   (default 10000 per run)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "devnet/jsonrpc_ws_server.h"
#include "grid/jsonrpc_ws.h"

using namespace qstor;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  size_t calls = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  auto server = devnet::JsonRpcWsServer::Start({});
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  (*server)->Register("system_health", [](const json&, const devnet::JsonRpcConnectionPtr&)
                                           -> devnet::JsonRpcResult {
    return json{{"peers", 0}, {"isSyncing", false}, {"shouldHavePeers", false}};
  });
  grid::JsonRpcWsOptions o;
  o.url = (*server)->url();
  auto client = grid::JsonRpcWsClient::Create(o);
  if (!client.ok() || !(*client)->Connect().ok()) {
    std::fprintf(stderr, "cannot connect\n");
    return 1;
  }
  for (int i = 0; i < 200; ++i) (void)(*client)->Call("system_health");  // warm up
  for (int threads : {1, 8}) {
    std::vector<std::vector<double>> lat(threads);
    std::vector<std::thread> pool;
    size_t per = calls / threads;
    auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        lat[t].reserve(per);
        for (size_t i = 0; i < per; ++i) {
          auto a = Clock::now();
          auto r = (*client)->Call("system_health");
          if (!r.ok()) {
            std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          lat[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
        }
      });
    }
    for (auto& th : pool) th.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all[std::min(all.size() - 1, size_t(p * all.size()))]; };
    std::printf("threads=%d calls=%zu p50=%.0fus p99=%.0fus max=%.0fus rate=%.0f calls/s\n",
                threads, all.size(), pct(0.50), pct(0.99), all.back(), all.size() / secs);
  }
  return 0;
}
