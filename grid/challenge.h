// The zos deployment challenge and the owner's signature over it
// (GRID-FACTS section 4).
//
// ChallengeText() is the text concatenation zos hashes: version, twin_id,
// metadata, description, expiration (contract_id excluded); per workload:
// version, name, type, metadata, description, then the zdb data as size
// (decimal) + mode + password + "true"/"false" (public); per signature
// request: twin_id, required ("true"/"false"), weight; then weight_required
// and signature_style. Results and signatures are not part of it, so a
// deployment with results attached has the same challenge.
//
// The contract's deployment_hash is ChallengeHex() (32 lowercase hex chars);
// the owner signs the 16 raw MD5 bytes with ed25519, stored as hex.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "grid/crypto.h"
#include "grid/types.h"

namespace qstor::grid {

std::string ChallengeText(const Deployment& d);
std::array<uint8_t, 16> Challenge(const Deployment& d);
std::string ChallengeHex(const Deployment& d);

// Adds (or replaces) twin_id's signature over the challenge.
void SignDeployment(Deployment& d, uint32_t twin_id, const Ed25519Key& key);

// Checks the signatures: each one must verify against its twin's public key
// (hex, from `public_key_of`), every request marked required must be signed,
// and the signed requests' weights must reach weight_required. Signatures of
// twins not in the requests are refused. kPermissionDenied with the reason.
Status VerifyDeploymentSignatures(
    const Deployment& d, const std::function<Result<std::string>(uint32_t twin_id)>& public_key_of);

}  // namespace qstor::grid
