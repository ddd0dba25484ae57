// Plain value types of the grid, with the JSON shapes of the grid proxy
// (discovery) and of zos (deployments). Field names in the JSON encodings are
// exactly the grid's, so a type decoded from the real grid proxy or from the
// devnet is the same value.
//
// Contract of the *FromJson functions: they never throw; any missing
// required field, wrong JSON type or out-of-range number gives
// kInvalidArgument with a message naming the field ("deployment.workloads[1].
// data.size: expected unsigned integer"). Unknown fields are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::grid {

// Balances and amounts: integer units of 1e-7 TFT (TFChain's precision).
inline constexpr uint64_t kUnitsPerTft = 10'000'000;

struct Resources {
  uint64_t cru = 0;  // cores
  uint64_t sru = 0;  // bytes of SSD
  uint64_t hru = 0;  // bytes of HDD
  uint64_t mru = 0;  // bytes of memory
  bool operator==(const Resources&) const = default;
};

struct Location {
  std::string country;
  std::string city;
  std::string region;  // continent-level region ("Europe", "Africa", ...)
  double latitude = 0;
  double longitude = 0;
};

struct Node {
  uint32_t node_id = 0;
  uint32_t farm_id = 0;
  std::string farm_name;
  uint32_t twin_id = 0;
  Location location;
  std::string status;             // "up" | "down" | "standby"
  bool healthy = false;
  std::string certification;      // "Diy" | "Certified"
  Resources total;
  Resources used;
  bool dedicated = false;
  bool rented = false;
  bool rentable = false;
  int64_t created = 0;            // unix seconds
  int64_t updated_at = 0;         // unix seconds of the last report
  int64_t uptime = 0;             // seconds
  double price_usd = 0;           // monthly price of the whole node (informative)

  // free_hru = total_hru - used_hru (saturating).
  uint64_t FreeHru() const { return total.hru > used.hru ? total.hru - used.hru : 0; }
  // free_sru = total_sru - used_sru - 20 GiB reserved for the system (saturating).
  uint64_t FreeSru() const;
};

struct Farm {
  uint32_t farm_id = 0;
  std::string name;
  uint32_t twin_id = 0;
  uint32_t pricing_policy_id = 1;
  std::string certification;  // "NotCertified" | "Gold"
  std::string stellar_address;
  bool dedicated = false;
};

struct Twin {
  uint32_t twin_id = 0;
  std::string account_id;  // SS58 address of the public key
  std::string relay;
  std::string public_key;  // 64 hex chars (ed25519)
};

struct Contract {
  uint64_t contract_id = 0;
  uint32_t twin_id = 0;
  std::string state;  // "Created" | "GracePeriod" | "Deleted"
  int64_t created_at = 0;
  std::string type;   // "node" (devnet knows only node contracts)
  uint32_t node_id = 0;
  std::string deployment_data;  // small JSON text written by the owner
  std::string deployment_hash;  // 32 hex chars: MD5 challenge of the deployment
  uint32_t number_of_public_ips = 0;
  std::string farm_name;
  uint32_t farm_id = 0;
};

struct Bill {
  uint64_t contract_id = 0;
  uint64_t amount_billed = 0;      // units of 1e-7 TFT
  uint64_t discount_received = 0;  // units of 1e-7 TFT (devnet: always 0)
  int64_t timestamp = 0;           // unix seconds
};

// --- zos deployments --------------------------------------------------------

struct ZdbData {
  uint64_t size = 0;     // bytes (namespace maxsize; HRU reserved on the node)
  std::string mode;      // "user" | "seq"
  std::string password;  // secret: never logged
  bool is_public = false;
};

struct ZdbResult {
  std::string ns;               // "Namespace"
  std::vector<std::string> ips; // "IPs"
  uint16_t port = 0;            // "Port"
};

struct WorkloadResult {
  int64_t created = 0;
  std::string state;    // "" (none yet) | "init" | "ok" | "error" | "deleted" | "paused"
  std::string message;
  std::optional<ZdbResult> zdb;  // data of an ok zdb workload
};

struct Workload {
  uint32_t version = 0;
  std::string name;   // ^[a-zA-Z0-9_]+$, at most 36 chars
  std::string type = "zdb";
  std::string metadata;
  std::string description;
  ZdbData data;
  WorkloadResult result;
};

struct SignatureRequest {
  uint32_t twin_id = 0;
  bool required = false;
  uint32_t weight = 1;
};

struct Signature {
  uint32_t twin_id = 0;
  std::string signature;  // hex of the 64-byte ed25519 signature
  std::string signature_type = "ed25519";
};

struct SignatureRequirement {
  std::vector<SignatureRequest> requests;
  uint32_t weight_required = 1;
  std::vector<Signature> signatures;
  std::string signature_style;
};

struct Deployment {
  uint32_t version = 0;
  uint32_t twin_id = 0;
  uint64_t contract_id = 0;
  std::string metadata;
  std::string description;
  int64_t expiration = 0;
  SignatureRequirement signature_requirement;
  std::vector<Workload> workloads;

  // Sum of the zdb workloads' sizes (the HRU the deployment reserves).
  uint64_t TotalHru() const;
};

// Checks a deployment's own shape (not its signature): workload names
// (pattern, length, unique), type "zdb", mode user|seq, size > 0, at least
// one signature request.
Status ValidateDeployment(const Deployment& d);

// --- pricing ----------------------------------------------------------------

// The network's pricing policy. Devnet defaults are documented in
// docs/grid-api.md.
struct Pricing {
  double su_usd_per_hour = 0;  // price of one storage unit (su) per hour, USD
  double tft_usd = 0;          // price of one TFT in USD
  std::string bridge_address;  // where top-ups are sent (the TFT:<bridge> of the QR)
};

// Storage units of a capacity: su = hru/1200 + sru/200, in GiB.
double StorageUnits(uint64_t hru_bytes, uint64_t sru_bytes);
// Cost of `seconds` of a capacity, in units of 1e-7 TFT, rounded up. 0 when
// the pricing has no TFT price.
uint64_t CostUnits(const Pricing& p, uint64_t hru_bytes, uint64_t sru_bytes, uint64_t seconds);
// "12.3456789 TFT" from units.
std::string FormatTft(uint64_t units);

// --- JSON -------------------------------------------------------------------

nlohmann::json ToJson(const Resources& r);
nlohmann::json ToJson(const Node& n);
nlohmann::json ToJson(const Farm& f);
nlohmann::json ToJson(const Twin& t);
nlohmann::json ToJson(const Contract& c);
nlohmann::json ToJson(const Bill& b);
nlohmann::json ToJson(const Workload& w);
nlohmann::json ToJson(const Deployment& d);
nlohmann::json ToJson(const Pricing& p);

Result<Node> NodeFromJson(const nlohmann::json& j);
Result<Farm> FarmFromJson(const nlohmann::json& j);
Result<Twin> TwinFromJson(const nlohmann::json& j);
Result<Contract> ContractFromJson(const nlohmann::json& j);
Result<Bill> BillFromJson(const nlohmann::json& j);
Result<Deployment> DeploymentFromJson(const nlohmann::json& j);
Result<Pricing> PricingFromJson(const nlohmann::json& j);

// Parses JSON text without throwing (kInvalidArgument "<what>: invalid JSON
// at byte N").
Result<nlohmann::json> ParseJson(std::string_view text, const std::string& what);

}  // namespace qstor::grid
