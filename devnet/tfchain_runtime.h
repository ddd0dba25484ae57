// The devnet's TFChain runtime: the runtime metadata v14 and the runtime
// version the devnet serves (state_getMetadata, state_getRuntimeVersion,
// System.Version), built here in C++.
//
// Contract:
//  - BuildDevnetRuntimeMetadata() declares the part of TFChain spec 152 the
//    devnet implements, with TFChain's names, indices and type layouts:
//      System 0, Timestamp 1, Utility 3, Balances 20, TransactionPayment 21,
//      TfgridModule 25, SmartContractModule 26, TFTPriceModule 28 (storage
//      only: the TFT prices billing uses)
//    at their construct_runtime indices. Every call and event present has
//    TFChain's index, field names and field layouts; calls and events are
//    a subset of TFChain's (those a devnet client uses or the devnet emits).
//    Error enums are complete (every variant of TFChain's, at its index), so
//    a DispatchError::Module {index, error} names the same error as on the
//    real chain. Storage entries have TFChain's prefix, hashers, modifier,
//    key and value layouts and default bytes. The outer RuntimeCall and
//    RuntimeEvent enums hold only these pallets, at their real indices. The
//    extrinsic is v4 (UncheckedExtrinsic<MultiAddress, RuntimeCall,
//    MultiSignature, Extra>) with TFChain's nine signed extensions in its
//    order (CheckNonZeroSender ... ChargeTransactionPayment,
//    ContractIdProvides).
//  - Type paths and generic parameters are TFChain's too (independent
//    clients such as @polkadot/api recognise types by path); docs are left
//    out.
//  - The result always passes Metadata::Validate() and is deterministic:
//    the same bytes from EncodeMetadata() on every call.
//  - Nothing is read at run time: the recorded spec-152 metadata of the real
//    chain is used only by tfchain_runtime_test (TfchainRuntime.MatchesRealSpec152),
//    which checks every item declared here against it, by name.
//  - DevnetRuntimeVersion() is TFChain spec 152's RuntimeVersion (spec_name
//    "substrate-threefold", spec_version 152, transaction_version 2,
//    state_version 0, the runtime API list with ids and versions). It is
//    also the value of the System.Version constant (EncodeRuntimeVersion).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grid/tfchain/metadata.h"

namespace qstor::devnet {

// The devnet's runtime metadata (version 14). See the contract above.
tfchain::Metadata BuildDevnetRuntimeMetadata();

// A runtime API a runtime implements: blake2b-64 of its trait name, and the
// trait version.
struct RuntimeApiVersion {
  std::array<uint8_t, 8> id{};
  uint32_t version = 0;
  bool operator==(const RuntimeApiVersion&) const = default;
};

// sp_version::RuntimeVersion.
struct RuntimeVersion {
  std::string spec_name;
  std::string impl_name;
  uint32_t authoring_version = 0;
  uint32_t spec_version = 0;
  uint32_t impl_version = 0;
  std::vector<RuntimeApiVersion> apis;
  uint32_t transaction_version = 0;
  uint8_t state_version = 0;
  bool operator==(const RuntimeVersion&) const = default;
};

// TFChain spec 152 as the devnet runs it.
RuntimeVersion DevnetRuntimeVersion();

// The trait name of a runtime API id ("Core", "TaggedTransactionQueue"...),
// or "" for an id the devnet does not know.
std::string_view RuntimeApiName(const std::array<uint8_t, 8>& id);

// SCALE of a RuntimeVersion (the System.Version constant).
std::string EncodeRuntimeVersion(const RuntimeVersion& v);
// The inverse; truncated or trailing bytes give a Corruption status naming
// the offset and the field.
Result<RuntimeVersion> DecodeRuntimeVersion(std::string_view scale);

// The `state_getRuntimeVersion` result as a Substrate node sends it:
//   {"specName": "...", "implName": "...", "authoringVersion": 1,
//    "specVersion": 152, "implVersion": 1,
//    "apis": [["0xdf6acb689907609b", 4], ...],
//    "transactionVersion": 2, "stateVersion": 0}
nlohmann::json RuntimeVersionJson(const RuntimeVersion& v);

}  // namespace qstor::devnet
