// Codec throughput: raw libsodium AEAD, raw ISA-L encode, raw BLAKE2b, raw
// one-time MACs (Poly1305 from libsodium and as fs::Poly1305 computes it,
// GMAC = AES-256-GCM over associated data only), and the whole fs::Codec
// (encode / decode / decode with m shards lost), one
// thread, 1 MiB and 4 MiB segments, k+m = 4+2 and 10+4. Incompressible
// (random) data, so zstd's probe is included but no compression happens.
// bytes/s = segment bytes per second. See docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <isa-l/erasure_code.h>
#include <sodium.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fs/aead.h"
#include "fs/codec.h"
#include "fs/poly1305.h"

namespace {

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(1);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t size : {1 << 20, 4 << 20}) {
    b->Args({size, 4, 2});
    b->Args({size, 10, 4});
  }
}

void BM_RawAeadXChaCha20Poly1305(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init");
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  std::vector<unsigned char> out(n), key(32, 7), nonce(24, 1), tag(16);
  for (auto _ : state) {
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        out.data(), tag.data(), nullptr, reinterpret_cast<const unsigned char*>(in.data()), n,
        nullptr, 0, nullptr, nonce.data(), key.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawAeadXChaCha20Poly1305)->Arg(1 << 20)->Arg(4 << 20);

// The same AEAD as fs::XChaCha20Poly1305 computes it for the codec's data
// shards (libsodium's HChaCha20, then OpenSSL's ChaCha20-Poly1305 where it
// has one; the same bytes as the row above).
void BM_RawAeadXChaCha20Poly1305Fs(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  std::vector<unsigned char> out(n), key(32, 7), nonce(24, 1), tag(16);
  qstor::fs::XChaCha20Poly1305 aead;
  state.SetLabel(std::string(aead.Implementation()));
  for (auto _ : state) {
    aead.Seal(out.data(), tag.data(), reinterpret_cast<const unsigned char*>(in.data()), n,
              nullptr, 0, nonce.data(), key.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawAeadXChaCha20Poly1305Fs)->Arg(1 << 20)->Arg(4 << 20);

void BM_RawAeadAes256Gcm(benchmark::State& state) {
  if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
    state.SkipWithError("AES-256-GCM not available on this CPU");
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  std::vector<unsigned char> out(n), key(32, 7), nonce(12, 1), tag(16);
  for (auto _ : state) {
    crypto_aead_aes256gcm_encrypt_detached(out.data(), tag.data(), nullptr,
                                           reinterpret_cast<const unsigned char*>(in.data()), n,
                                           nullptr, 0, nullptr, nonce.data(), key.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawAeadAes256Gcm)->Arg(1 << 20)->Arg(4 << 20);

void BM_RawBlake2b(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init");
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  unsigned char h[16];
  for (auto _ : state) {
    crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(in.data()), n, nullptr,
                       0);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawBlake2b)->Arg(1 << 20)->Arg(4 << 20);

// One-time MACs over n bytes: candidates for the parity shards' check.
void BM_RawPoly1305Libsodium(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init");
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  unsigned char key[32] = {7}, tag[16];
  for (auto _ : state) {
    crypto_onetimeauth(tag, reinterpret_cast<const unsigned char*>(in.data()), n, key);
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawPoly1305Libsodium)->Arg(1 << 20)->Arg(4 << 20);

// fs::Poly1305: what the codec uses (OpenSSL when available; the label says).
void BM_RawPoly1305Fs(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  uint8_t key[32] = {7}, tag[16];
  for (auto _ : state) {
    qstor::fs::Poly1305(key, reinterpret_cast<const uint8_t*>(in.data()), n, tag);
    benchmark::DoNotOptimize(tag);
  }
  state.SetLabel(std::string(qstor::fs::Poly1305Implementation()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawPoly1305Fs)->Arg(1 << 20)->Arg(4 << 20);

void BM_RawGmacAes256Gcm(benchmark::State& state) {
  if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
    state.SkipWithError("AES-256-GCM not available on this CPU");
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  std::string in = RandomBytes(n);
  std::vector<unsigned char> key(32, 7), nonce(12, 1), tag(16);
  unsigned char empty[1] = {0};  // no message: c and m are 0 bytes (non-null for the API)
  for (auto _ : state) {
    crypto_aead_aes256gcm_encrypt_detached(empty, tag.data(), nullptr, empty, 0,
                                           reinterpret_cast<const unsigned char*>(in.data()), n,
                                           nullptr, nonce.data(), key.data());
    benchmark::DoNotOptimize(tag.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawGmacAes256Gcm)->Arg(1 << 20)->Arg(4 << 20);

void BM_RawIsalEncode(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  const size_t len = n / k;
  std::vector<unsigned char> a((k + m) * k), tables(32 * k * m);
  gf_gen_cauchy1_matrix(a.data(), k + m, k);
  ec_init_tables(k, m, a.data() + k * k, tables.data());
  std::string in = RandomBytes(n);
  std::vector<std::vector<unsigned char>> parity(m, std::vector<unsigned char>(len));
  std::vector<unsigned char*> dp(k), pp(m);
  for (int i = 0; i < k; ++i) dp[i] = reinterpret_cast<unsigned char*>(in.data()) + i * len;
  for (int i = 0; i < m; ++i) pp[i] = parity[i].data();
  for (auto _ : state) {
    ec_encode_data(static_cast<int>(len), k, m, tables.data(), dp.data(), pp.data());
    benchmark::DoNotOptimize(pp.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawIsalEncode)->Apply(Args);

void BM_CodecEncode(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  qstor::fs::Codec codec;
  auto key = qstor::fs::SecretKey::Random();
  std::string in = RandomBytes(n);
  qstor::fs::EncodedSegment enc;
  for (auto _ : state) {
    auto st = codec.Encode(key, "bench/segment", 1, k, m, in, &enc);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    benchmark::DoNotOptimize(enc.shards.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_CodecEncode)->Apply(Args);
// Two threads, one Codec each: scaling across both cores (real time; compare
// with the one-thread rows of the same arguments).
BENCHMARK(BM_CodecEncode)
    ->Args({1 << 20, 4, 2})
    ->Args({4 << 20, 4, 2})
    ->Args({4 << 20, 10, 4})
    ->Threads(2)
    ->UseRealTime();
// One thread in real time, the baseline for the two-thread rows above.
BENCHMARK(BM_CodecEncode)
    ->Args({1 << 20, 4, 2})
    ->Args({4 << 20, 4, 2})
    ->Args({4 << 20, 10, 4})
    ->UseRealTime();

// As the object store calls it: a new EncodedSegment per segment, so the
// shard buffers are allocated (and first touched) on every Encode.
void BM_CodecEncodeFreshOutput(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  qstor::fs::Codec codec;
  auto key = qstor::fs::SecretKey::Random();
  std::string in = RandomBytes(n);
  for (auto _ : state) {
    qstor::fs::EncodedSegment enc;
    auto st = codec.Encode(key, "bench/segment", 1, k, m, in, &enc);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    benchmark::DoNotOptimize(enc.shards.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_CodecEncodeFreshOutput)->Apply(Args);

void BM_CodecDecode(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int k = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  const bool lose = state.range(3) != 0;
  qstor::fs::Codec codec;
  auto key = qstor::fs::SecretKey::Random();
  std::string in = RandomBytes(n);
  qstor::fs::EncodedSegment enc;
  if (!codec.Encode(key, "bench/segment", 1, k, m, in, &enc).ok()) state.SkipWithError("encode");
  std::vector<std::string_view> views(enc.shards.begin(), enc.shards.end());
  if (lose) {
    for (int i = 0; i < m; ++i) views[i] = {};  // lose m data shards: full RS decode
  }
  for (auto _ : state) {
    auto out = codec.Decode(key, "bench/segment", 1, enc.info, views);
    if (!out.ok()) state.SkipWithError(out.status().ToString().c_str());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
void DecodeArgs(benchmark::internal::Benchmark* b) {
  for (int64_t size : {1 << 20, 4 << 20}) {
    for (int64_t lose : {0, 1}) {
      b->Args({size, 4, 2, lose});
      b->Args({size, 10, 4, lose});
    }
  }
}
BENCHMARK(BM_CodecDecode)->Apply(DecodeArgs);

}  // namespace

BENCHMARK_MAIN();
