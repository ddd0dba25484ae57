// Test helper: a set of real in-process 0-db servers (zdb::Server) on
// 127.0.0.1 with free ports, each with one password-protected namespace.
// Servers can be stopped (backend down), restarted and wiped.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fs/object_store.h"
#include "zdb/client.h"
#include "zdb/server.h"

namespace qstor::fs::testing {

// Deterministic pseudo-random bytes (incompressible test payloads).
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Fresh random data and metadata keys.
inline FsKeys Keys() {
  FsKeys k;
  k.data_key = SecretKey::Random();
  k.metadata_key = SecretKey::Random();
  return k;
}

class ZdbCluster {
 public:
  explicit ZdbCluster(int n, const std::string& tag = "fs") {
    root_ = std::filesystem::temp_directory_path() /
            ("qstor-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(root_);
    nodes_.resize(n);
    for (int i = 0; i < n; ++i) {
      nodes_[i].dir = (root_ / ("zdb" + std::to_string(i))).string();
      Start(i);
      MakeNamespace(i);
    }
  }
  ~ZdbCluster() {
    for (size_t i = 0; i < nodes_.size(); ++i) Stop(static_cast<int>(i));
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void Start(int i) {
    Node& n = nodes_[i];
    if (n.server) return;
    zdb::ServerOptions o;
    o.data_dir = n.dir;
    o.port = n.port;  // 0 the first time, then the same port again
    o.sync_interval = std::chrono::milliseconds(1000);
    std::unique_ptr<zdb::Server> srv;
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto s = zdb::Server::Create(o);
      if (s.ok()) {
        srv = std::move(s.value());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(srv) << "cannot start zdb server " << i;
    n.port = srv->port();
    n.server = std::move(srv);
    n.thread = std::thread([s = n.server.get()] { (void)s->Run(); });
  }
  void Stop(int i) {
    Node& n = nodes_[i];
    if (!n.server) return;
    n.server->Stop();
    n.thread.join();
    n.server.reset();
  }
  // Stops, deletes every file, restarts empty (namespace recreated).
  void Wipe(int i) {
    Stop(i);
    std::filesystem::remove_all(nodes_[i].dir);
    Start(i);
    MakeNamespace(i);
  }
  void MakeNamespace(int i) {
    auto c = zdb::Client::Connect("127.0.0.1", nodes_[i].port);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    Status st = (*c)->NsNew("fs");
    ASSERT_TRUE(st.ok() || st.code() == Status::Code::kAlreadyExists) << st.ToString();
    ASSERT_TRUE((*c)->NsSet("fs", "password", Password(i)).ok());
  }
  static std::string Password(int i) { return "pw-" + std::to_string(i); }

  Backend backend(int i, std::map<std::string, std::string> labels = {}) const {
    Backend b;
    b.host = "127.0.0.1";
    b.port = nodes_[i].port;
    b.ns = "fs";
    b.password = Password(i);
    b.labels = std::move(labels);
    return b;
  }
  std::vector<Backend> backends(int from, int to) const {
    std::vector<Backend> v;
    for (int i = from; i < to; ++i) v.push_back(backend(i));
    return v;
  }
  int IndexOf(const std::string& backend_name) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (backend(static_cast<int>(i)).Name() == backend_name) return static_cast<int>(i);
    }
    return -1;
  }
  // A client selected into node i's namespace.
  std::unique_ptr<zdb::Client> Client(int i) const {
    auto c = zdb::Client::Connect("127.0.0.1", nodes_[i].port);
    if (!c.ok()) return nullptr;
    if (!(*c)->Select("fs", Password(i)).ok()) return nullptr;
    return std::move(c.value());
  }

 private:
  struct Node {
    std::string dir;
    uint16_t port = 0;
    std::unique_ptr<zdb::Server> server;
    std::thread thread;
  };
  static inline int counter_ = 0;
  std::filesystem::path root_;
  std::vector<Node> nodes_;
};

inline ObjectStoreOptions FastOptions(int k, int m) {
  ObjectStoreOptions o;
  o.k = k;
  o.m = m;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.retries = 1;
  o.hedge_delay = std::chrono::milliseconds(100);
  o.threads = 8;
  return o;
}

}  // namespace qstor::fs::testing
