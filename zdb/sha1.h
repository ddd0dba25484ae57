// SHA-1, only for 0-db's "AUTH SECURE" / "SELECT ns SECURE" challenge
// (sha1("challenge:password") as 40 lowercase hex chars). Not for anything
// that needs collision resistance.
#pragma once

#include <string>
#include <string_view>

namespace qstor::zdb {

std::string Sha1Hex(std::string_view data);

// The proof a client sends for a challenge: Sha1Hex(challenge + ":" + password).
inline std::string SecureProof(std::string_view challenge, std::string_view password) {
  std::string s(challenge);
  s += ':';
  s += password;
  return Sha1Hex(s);
}

}  // namespace qstor::zdb
