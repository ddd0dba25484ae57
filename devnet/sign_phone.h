// The devnet's sign-and-pay relay documents, and how its phone (the
// emulated ThreeFold Connect app, `qstor devnet approve`) reads them.
//
// The format is reconciler/connect.h's sign request document (docs/identity.md,
// "Signing batches"). It is written again here, as an app written by others
// would read it: the devnet does not use the reconciler, and
// reconciler/connect_test checks the two agree byte for byte.
//
// Contract:
//  - RelayDocument() is the compact document the relay serves and the
//    inline QR carries: {"uuid","CallbackUrl","Payment"? {"Amount",
//    "Destination"},"DataToSign":[base64...]}, keys in that order.
//  - ParsePhoneRequest() reads a document (the url flow's GET body, which may
//    carry the relay's State/Response/Error, or the inline QR's JSON) and
//    refuses anything else with kInvalidArgument naming the field.
//  - CheckPayloads() decodes every DataToSign payload against the devnet
//    runtime's metadata (grid/tfchain/extrinsic.h DecodeSigningPayload) and
//    refuses one that does not decode (kInvalidArgument) or that was made
//    for another chain: genesis, spec or transaction version
//    (kFailedPrecondition). What it accepts is what the phone shows
//    (PhoneRequest::calls) and signs (PayloadToSign of each payload).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "grid/tfchain/extrinsic.h"
#include "grid/tfchain/metadata.h"
#include "grid/tfchain/value.h"

namespace qstor::devnet {

inline constexpr std::string_view kSignAndPayPrefix = "threebot://signandpay/#";

// The relay's document. `amount` 0: no Payment.
std::string RelayDocument(const std::string& uuid, const std::string& callback_url, uint64_t amount,
                          const std::string& destination, const std::vector<std::string>& data_b64);

// What the phone read from one sign request.
struct PhoneRequest {
  std::string uuid;
  std::string callback_url;
  uint64_t amount = 0;       // 0: no Payment
  std::string bridge;        // of Payment.Destination
  uint32_t pay_twin = 0;     // of Payment.Destination ("twin_<id>")
  std::vector<std::string> payloads;  // raw SCALE signing payloads
  std::string state;         // the relay's State (url flow); empty inline
  // Filled by CheckPayloads: one line per call ("SmartContractModule.
  // cancel_contract(contract_id: 42)"), the calls of every payload in order.
  std::vector<std::string> calls;
};

Result<PhoneRequest> ParsePhoneRequest(std::string_view text);

// The chain the phone signs for.
struct PhoneChain {
  const tfchain::Metadata* metadata = nullptr;
  tfchain::Hash256 genesis{};
  uint32_t spec_version = 0;
  uint32_t tx_version = 0;
};

Status CheckPayloads(const PhoneChain& chain, PhoneRequest* req);

// One line per call of a decoded RuntimeCall value; Utility.batch,
// batch_all and force_batch give one line per inner call. Lines are cut at
// 200 characters.
std::vector<std::string> CallLines(const tfchain::Value& call);

}  // namespace qstor::devnet
