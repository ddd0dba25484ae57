// System.Events of a block, decoded through the metadata.
//
// Contract:
//  - DecodeEvents() decodes Vec<EventRecord> with the System.Events value
//    type of the metadata; every event is named by the metadata
//    ("SmartContractModule", "ContractCreated"). Bad bytes give a Status.
//  - Module errors (DispatchError::Module {index, error[4]}) are named from
//    the metadata's error enums: "SmartContractModule.ContractIsNotUnique".
//    Other dispatch errors give their variant path ("BadOrigin",
//    "Token.FundsUnavailable", "Arithmetic.Overflow").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/value.h"

namespace qstor::tfchain {

struct EventRecord {
  std::string phase;                      // "ApplyExtrinsic", "Finalization", "Initialization"
  std::optional<uint32_t> extrinsic_index;  // ApplyExtrinsic(i)
  std::string pallet;                     // "System"
  std::string name;                       // "ExtrinsicFailed"
  uint8_t pallet_index = 0;
  uint8_t event_index = 0;
  std::vector<NamedValue> fields;         // the event's fields
  std::vector<std::string> topics;        // 32-byte hashes
  const Value* Get(std::string_view field) const;
};

Result<std::vector<EventRecord>> DecodeEvents(const Metadata& m, std::string_view bytes);

// "Pallet.Error" for a DispatchError value.
Result<std::string> DispatchErrorName(const Metadata& m, const Value& dispatch_error);

// The outcome of extrinsic `index` in a block's events: nullopt-free error
// text when it failed (ExtrinsicFailed, or Utility.BatchInterrupted: then
// "batch item N: <error>"), OK when ExtrinsicSuccess was seen, NotFound
// when neither event names it.
struct ExtrinsicOutcome {
  bool success = false;
  std::string error;  // when !success: "SmartContractModule.ContractIsNotUnique"
};
Result<ExtrinsicOutcome> OutcomeOf(const Metadata& m, const std::vector<EventRecord>& events,
                                   uint32_t extrinsic_index);

// Contract ids of SmartContractModule.ContractCreated events of extrinsic
// `index`, in order.
Result<std::vector<uint64_t>> CreatedContractIds(const std::vector<EventRecord>& events,
                                                 uint32_t extrinsic_index);

}  // namespace qstor::tfchain
