// The ThreeFold Connect profile `qstor login` records (docs/identity.md
// "ThreeFold Connect login"): who logged in, their email and whether the KYC
// service verified it, the derivedSeed the phone shared for qstor, where and
// when. It is secret (the derivedSeed gives the qstor identity) and is only
// ever stored sealed: in the keystore's "connect" part, or in
// <home>/connect-login.json before there is a keystore (keystore.h). It never
// goes into state files, plans or logs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace qstor::reconciler {

struct ConnectProfile {
  std::string double_name;
  std::string email;             // empty: not shared
  bool email_verified = false;   // the KYC service accepted the signed email identifier
  std::string email_check;       // how that was decided (for whoami)
  std::optional<std::array<uint8_t, 32>> derived_seed;
  std::string wallet_address;    // when shared
  std::string network;           // the network whose login service was used
  std::string login_url;         // that login service
  std::string appid;
  int64_t logged_in_at = 0;      // unix seconds
  bool identity_from_connect = false;  // the keystore's words came from derived_seed

  std::string ToJson() const;  // holds the derivedSeed: seal it, never print it
  static Result<ConnectProfile> FromJson(const std::string& text);
};

// Stores `p`: in the keystore of `home` when there is one (the passphrase
// must open it), else in the sealed <home>/connect-login.json. Returns the
// path written.
Result<std::string> SaveConnectProfile(const std::string& home, const std::string& passphrase,
                                       const ConnectProfile& p);
// The keystore's profile, else the sealed login file's; kNotFound "not
// logged in with ThreeFold Connect" when neither exists.
Result<ConnectProfile> LoadConnectProfile(const std::string& home, const std::string& passphrase);
// After a keystore was written for `p` (init/recover --from-connect): puts
// `p` into it and removes <home>/connect-login.json.
Status AdoptConnectProfile(const std::string& home, const std::string& passphrase,
                           const ConnectProfile& p);

// The states of completed logins (<home>/connect-used-states, one
// "<unix> <state>" per line, the newest 1000 within 30 days), so that a
// replayed callback is refused as such. States are not secret (they were in
// the login URL).
std::set<std::string> LoadUsedConnectStates(const std::string& home);
Status RecordUsedConnectState(const std::string& home, const std::string& state, int64_t now);

}  // namespace qstor::reconciler
