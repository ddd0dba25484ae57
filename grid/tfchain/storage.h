// Storage keys and typed storage values of TFChain.
//
// Contract:
//  - Key = twox128(pallet prefix) ‖ twox128(entry) ‖ hasher_i(SCALE(key_i))…
//    with the hashers the metadata lists for the entry (never assumed).
//    twox uses libxxhash (XXH64, seeds 0,1,2,3, little-endian), blake2 uses
//    libsodium's crypto_generichash.
//  - StorageKey() encodes each key part with the entry's key type (a tuple
//    type gives one part per hasher) and refuses a wrong number of parts.
//  - Typed decoders (AccountInfo, Twin, Contract, ...) decode the value
//    with the entry's value type from the metadata, then read the fields by
//    name; a missing field or a wrong shape is a Corruption naming it.
//    An absent Optional entry is the caller's `null`: pass no bytes to the
//    Decode*Storage functions that take std::optional.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {

std::string Twox64(std::string_view data, uint64_t seed);  // 8 bytes LE
std::string Twox128(std::string_view data);
std::string Twox256(std::string_view data);
std::string Blake2_128(std::string_view data);
std::string Blake2_256(std::string_view data);
// The hasher's output for already SCALE-encoded key bytes (Concat variants
// append the key; Identity is the key itself).
std::string HashKey(StorageHasher h, std::string_view encoded_key);

// twox128(prefix) ‖ twox128(entry): the key of a plain entry, the prefix of a map.
std::string StoragePrefix(std::string_view pallet_prefix, std::string_view entry);

// The full key of `pallet.entry` with the key parts given as Values (one per
// hasher; none for a plain entry).
Result<std::string> StorageKey(const Metadata& m, std::string_view pallet, std::string_view entry,
                               const std::vector<Value>& keys = {});
// Same with each key part already SCALE-encoded.
Result<std::string> StorageKeyEncoded(const Metadata& m, std::string_view pallet,
                                      std::string_view entry,
                                      const std::vector<std::string>& encoded_keys);

// Decodes a storage value of `pallet.entry`. `bytes` absent means the key has
// no value: a Default entry gives its default, an Optional entry gives nullopt.
Result<std::optional<Value>> DecodeStorageValue(const Metadata& m, std::string_view pallet,
                                                std::string_view entry,
                                                const std::optional<std::string>& bytes);

using AccountId = std::array<uint8_t, 32>;

struct AccountInfo {  // System.Account
  uint32_t nonce = 0, consumers = 0, providers = 0, sufficients = 0;
  u128 free = 0, reserved = 0, frozen = 0, flags = 0;  // data.*; Go: misc_frozen, fee_frozen
};

struct TwinEntity {
  uint32_t entity_id = 0;
  std::string signature;
};
struct Twin {  // TfgridModule.Twins
  uint32_t id = 0;
  AccountId account_id{};
  std::optional<std::string> relay;
  std::vector<TwinEntity> entities;
  std::optional<std::string> pk;
};

struct PublicIpInfo {
  std::string ip, gateway;
  uint64_t contract_id = 0;
};
struct Contract {  // SmartContractModule.Contracts
  uint32_t version = 0;
  std::string state;                 // "Created", "Deleted", "GracePeriod"
  std::string deleted_cause;         // Deleted(cause): "CanceledByUser", ...
  uint64_t grace_period_block = 0;   // GracePeriod(block)
  uint64_t contract_id = 0;
  uint32_t twin_id = 0;
  std::string type;                  // "NodeContract", "NameContract", "RentContract"
  // NodeContract
  uint32_t node_id = 0;              // also RentContract
  std::string deployment_hash;       // 32 bytes (ASCII hex MD5 on TFChain)
  std::string deployment_data;
  uint32_t public_ips = 0;
  std::vector<PublicIpInfo> public_ips_list;
  // NameContract
  std::string name;
  std::optional<uint64_t> solution_provider_id;
};

Result<AccountInfo> DecodeAccountInfo(const Metadata& m, const std::optional<std::string>& bytes);
Result<std::optional<uint32_t>> DecodeTwinIdByAccountId(const Metadata& m,
                                                        const std::optional<std::string>& bytes);
Result<std::optional<Twin>> DecodeTwin(const Metadata& m, const std::optional<std::string>& bytes);
Result<std::optional<Contract>> DecodeContract(const Metadata& m,
                                               const std::optional<std::string>& bytes);
// 0 means none (a Default entry).
Result<uint64_t> DecodeContractIdByNodeIdAndHash(const Metadata& m,
                                                 const std::optional<std::string>& bytes);
Result<std::vector<uint64_t>> DecodeActiveNodeContracts(const Metadata& m,
                                                        const std::optional<std::string>& bytes);

// One price of a pricing policy (pallet_tfgrid::types::Policy): `value` in
// units of 1e-7 USD (su, cu: per unit per hour), `unit` the Unit variant's
// name ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terrabytes": the
// size one unit of the resource is counted in, base 1024).
struct Policy {
  uint32_t value = 0;
  std::string unit;
};
struct PricingPolicy {  // TfgridModule.PricingPolicies
  uint32_t version = 0, id = 0;
  std::string name;
  Policy su, cu, nu, ipu, unique_name, domain_name;
  AccountId foundation_account{}, certified_sales_account{};
  uint8_t discount_for_dedication_nodes = 0;
};
// nullopt when the policy does not exist.
Result<std::optional<PricingPolicy>> DecodePricingPolicy(const Metadata& m,
                                                         const std::optional<std::string>& bytes);
// A TFT price entry of TFTPriceModule ("TftPrice", "AverageTftPrice",
// "MinTftPrice", "MaxTftPrice"; u32 in mUSD). Absent is the entry's default
// (0 on TFChain).
Result<uint32_t> DecodeTftPrice(const Metadata& m, std::string_view entry,
                                const std::optional<std::string>& bytes);

// From a decoded Value (for values found elsewhere, e.g. ContractCreated).
Result<Contract> ContractFromValue(const Value& v);
Result<Twin> TwinFromValue(const Value& v);

}  // namespace qstor::tfchain
