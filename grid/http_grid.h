// HttpGrid: grid::Grid over the grid proxy's HTTP/JSON API (libcurl) and
// TFChain's JSON-RPC (grid/tfchain_client.h, on NetworkEndpoint.chain_url).
//
// Discovery (nodes, farms, contracts, bills) goes to the grid proxy. Twins,
// nonces, balances, pricing and every chain write go to TFChain: on the
// devnet its own chain, on main/test/qa/dev the real one. Node calls
// (/nodes/{id}/deployments...) go to the devnet; on a real network
// (discovery_only) they return kNotImplemented (RMB is not built).
//
// Node calls other than Deploy/UpdateDeployment are signed as the owner twin
// with the identity set by SetIdentity(): headers X-Qstor-Twin,
// X-Qstor-Timestamp (unix seconds) and X-Qstor-Signature = hex ed25519 over
// "<METHOD> <path> <timestamp>". Without an identity they fail with
// kFailedPrecondition.
//
// HTTP errors map to Status codes: 400 kInvalidArgument, 402
// kResourceExhausted, 403/401 kPermissionDenied, 404 kNotFound, 409
// kFailedPrecondition (kAlreadyExists when the server says "already"), 503
// kUnavailable, 504 kTimeout, others kInternal; the message carries the
// server's {"error"} text and the route.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "grid/crypto.h"
#include "grid/grid.h"
#include "grid/http_client.h"
#include "grid/network.h"
#include "grid/tfchain_client.h"

namespace qstor::grid {

class HttpGrid : public Grid {
 public:
  explicit HttpGrid(NetworkEndpoint endpoint,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpGrid() override;

  // The owner identity used to sign node calls.
  void SetIdentity(uint32_t twin_id, const Ed25519Key& key);
  // Number of HTTP requests made so far (for benchmarks and tests).
  uint64_t requests() const { return requests_; }

  std::string Describe() const override;
  Result<Page<Node>> FindNodes(const NodeFilter& filter, const PageRequest& page) override;
  Result<Node> GetNode(uint32_t node_id) override;
  Result<std::vector<Farm>> ListFarms(const PageRequest& page) override;
  Result<Twin> GetTwin(uint32_t twin_id) override;
  Result<Twin> GetTwinByPublicKey(const std::string& public_key_hex) override;
  Result<Page<Contract>> ListContracts(const ContractFilter& filter,
                                       const PageRequest& page) override;
  Result<Contract> GetContract(uint64_t contract_id) override;
  Result<std::vector<Bill>> GetBills(uint64_t contract_id) override;
  Result<Pricing> GetPricing() override;
  Result<uint64_t> GetNonce(const std::string& public_key_hex) override;
  Result<Balance> GetBalance(const std::string& public_key_hex) override;
  Result<std::vector<size_t>> CallSizes(const std::vector<grid::Call>& calls) override;
  Result<PreparedCalls> Prepare(const std::string& signer_public_key_hex,
                                const std::vector<grid::Call>& calls) override;
  Result<ExtrinsicResult> Submit(const PreparedCalls& prepared,
                                 const std::string& signature_hex) override;
  // Also sets the identity for signed node calls (SetIdentity) when none is
  // set yet, so an apply that registers the twin can read its deployments.
  // The terms and conditions accepted are the network's document
  // (grid/terms.h: link and MD5 of its bytes).
  Result<Twin> RegisterTwin(const Ed25519Key& key, const std::string& relay) override;
  Status Deploy(uint32_t node_id, const Deployment& deployment) override;
  Status UpdateDeployment(uint32_t node_id, const Deployment& deployment) override;
  Result<Deployment> GetDeployment(uint32_t node_id, uint64_t contract_id) override;
  Status DeleteDeployment(uint32_t node_id, uint64_t contract_id) override;

  // Raw call: returns the parsed JSON body of a 2xx answer, else the mapped
  // Status. `headers_out` receives the response headers when non-null.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path_and_query,
                              const std::string& body = "",
                              std::map<std::string, std::string>* headers_out = nullptr,
                              bool sign = false);

 private:
  Status NeedFullGrid(const char* what) const;
  // The chain client, made on first use (kNotImplemented without a chain URL).
  Result<TfchainClient*> Chain();
  Result<EncodedCall> Encode(const grid::Call& call);
  // Asks the network's activation service to fund `pk` (an account with no
  // TFT cannot pay the fees of its twin's registration) and waits for it.
  Status Activate(const PublicKey& pk);
  NetworkEndpoint ep_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<TfchainClient> chain_;
  HttpClient http_;
  std::optional<uint32_t> twin_id_;
  std::unique_ptr<Ed25519Key> key_;
  uint64_t requests_ = 0;
};

}  // namespace qstor::grid
