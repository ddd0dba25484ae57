#include "grid/grid.h"

namespace qstor::grid {

Result<ExtrinsicResult> SignAndSubmit(Grid& grid, const Ed25519Key& key,
                                      const std::vector<Call>& calls) {
  auto prepared = grid.Prepare(key.PublicKeyHex(), calls);
  if (!prepared.ok()) return prepared.status();
  return grid.Submit(*prepared, key.SignHex(prepared->to_sign));
}

}  // namespace qstor::grid
