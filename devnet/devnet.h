// The devnet: qstor's embedded local grid. One process serves the grid API
// over HTTP on 127.0.0.1 (discovery compatible with the grid proxy, a
// chain-like ledger of signed extrinsics in SQLite, zos-like node endpoints
// whose namespaces live on real `qstor zdb serve` processes, hourly billing
// with grace period, top-up and sign-and-pay payments, fault injection).
// The HTTP API is documented in docs/grid-api.md; operation in docs/devnet.md.
//
// Contract:
//  - Start() opens (or creates) the ledger in data_dir/ledger.sqlite, builds
//    the node directory from the ledger's seed and node count (fixed when the
//    ledger is created: options.seed/nodes only matter for a fresh ledger),
//    restarts the 0-db of every node that hosts live namespaces, listens,
//    and writes data_dir/devnet.port. It is ready when Start() returns.
//  - Beside the HTTP server, Start() runs the chain (devnet/tfchain_node.h):
//    TFChain's JSON-RPC over WebSocket on 127.0.0.1 (chain_url(), port in
//    data_dir/chain.port), producing a block every options.block_ms over the
//    same ledger. It is the only way to change the chain's state.
//  - Stop() (and the destructor) stops billing, the chain, the HTTP server
//    and every 0-db child, and removes devnet.port and chain.port.
//  - All state changes are serialised; the HTTP handler is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "devnet/topology.h"
#include "grid/types.h"

namespace qstor::devnet {

struct DevnetOptions {
  std::string data_dir;
  uint16_t port = 0;                 // 0 = a free port
  uint32_t nodes = kDefaultNodes;    // fresh ledger only
  uint64_t seed = 1;                 // fresh ledger only
  double hour_seconds = 3600;        // length of a devnet hour (billing period)
  double grace_hours = 14 * 24;      // grace period, in devnet hours
  std::string qstor_bin;             // executable for `qstor zdb serve`
  // Pricing policy (docs/grid-api.md): about 10 USD per su per 30-day month.
  double su_usd_per_hour = 10.0 / 720.0;
  double tft_usd = 0.01;
  uint64_t bridge_fee_units = grid::kUnitsPerTft;  // 1 TFT per top-up, as the real bridge
  // The chain (devnet/tfchain_node.h): Substrate JSON-RPC over WebSocket on
  // 127.0.0.1; its port is written to data_dir/chain.port.
  uint16_t chain_port = 0;           // 0 = a free port
  uint32_t block_ms = 1000;          // block time
};

class Devnet {
 public:
  static Result<std::unique_ptr<Devnet>> Start(DevnetOptions options);
  ~Devnet();
  Devnet(const Devnet&) = delete;
  Devnet& operator=(const Devnet&) = delete;

  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  std::string chain_url() const;  // "ws://127.0.0.1:PORT" (TFChain JSON-RPC)
  void Stop();

  // Runs one billing cycle now (what the hourly timer does). For tests and
  // the admin endpoint POST /admin/bill.
  Status BillOnce();

 private:
  struct Impl;
  explicit Devnet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A decimal TFT amount ("12", "0.5", "3.1234567": at most 7 decimals, at
// most 10^12 TFT) in units of 1e-7 TFT; kInvalidArgument otherwise. Zero is
// accepted: callers that need a positive amount check it.
Result<uint64_t> ParseTftAmount(const std::string& text);

// Parses "TFT:<bridge>?message=twin_<id>&amount=N[&sender=me]" (N in TFT,
// decimals allowed). Returns (twin_id, amount in units).
Result<std::pair<uint32_t, uint64_t>> ParseTopupUri(const std::string& uri,
                                                    const std::string& bridge_address);

}  // namespace qstor::devnet
