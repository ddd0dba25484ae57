// Object store put/get throughput on loopback: 6 data + 3 metadata
// in-process zdb servers (zdb::Server, sync every 1 s), 4+2, 4 MiB random
// segments. Real TCP, real RESP, real files in a temp directory.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <cstring>
#include <random>
#include <thread>

#include "fs/object_store.h"
#include "zdb/client.h"
#include "zdb/server.h"

namespace {

struct Cluster {
  std::filesystem::path root;
  std::vector<std::unique_ptr<qstor::zdb::Server>> servers;
  std::vector<std::thread> threads;
  std::vector<qstor::fs::Backend> data, meta;

  explicit Cluster(int n_data, int n_meta) {
    root = std::filesystem::temp_directory_path() /
           ("qstor-objbench-" + std::to_string(::getpid()));
    for (int i = 0; i < n_data + n_meta; ++i) {
      qstor::zdb::ServerOptions o;
      o.data_dir = (root / std::to_string(i)).string();
      o.port = 0;
      o.sync_interval = std::chrono::milliseconds(1000);
      auto s = qstor::zdb::Server::Create(o);
      if (!s.ok()) std::abort();
      qstor::fs::Backend b;
      b.host = "127.0.0.1";
      b.port = (*s)->port();
      b.ns = "bench";
      b.password = "pw";
      servers.push_back(std::move(s.value()));
      threads.emplace_back([srv = servers.back().get()] { (void)srv->Run(); });
      auto c = qstor::zdb::Client::Connect(b.host, b.port);
      if (!c.ok() || !(*c)->NsNew("bench").ok() || !(*c)->NsSet("bench", "password", "pw").ok()) {
        std::abort();
      }
      (i < n_data ? data : meta).push_back(b);
    }
  }
  ~Cluster() {
    for (auto& s : servers) s->Stop();
    for (auto& t : threads) t.join();
    std::filesystem::remove_all(root);
  }
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

void BM_ObjectStore(benchmark::State& state) {
  const bool put = state.range(0) == 0;
  const size_t n = 4u << 20;
  Cluster cluster(6, 3);
  qstor::fs::FsKeys keys{qstor::fs::SecretKey::Random(), qstor::fs::SecretKey::Random()};
  qstor::fs::ObjectStoreOptions o;
  o.k = 4;
  o.m = 2;
  auto store = qstor::fs::ObjectStore::Open(keys, cluster.data, cluster.meta, o);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  std::string data = RandomBytes(n, 3);
  const int kIds = 8;
  if (!put) {
    for (int i = 0; i < kIds; ++i) (void)(*store)->Put("seg" + std::to_string(i), data);
  }
  int i = 0;
  for (auto _ : state) {
    std::string id = "seg" + std::to_string(i++ % kIds);
    if (put) {
      auto r = (*store)->Put(id, data);
      if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    } else {
      auto r = (*store)->Get(id);
      if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.SetLabel(put ? "put 4MiB 4+2" : "get 4MiB 4+2");
}
BENCHMARK(BM_ObjectStore)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
