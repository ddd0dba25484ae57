// systemd's service notification protocol (sd_notify(3)) without libsystemd:
// one datagram on the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
// abstract name when it starts with '@').
//
// Contract: SdNotify returns true when the datagram was sent; false when
// NOTIFY_SOCKET is unset (not run by systemd with Type=notify), malformed, or
// the send failed. It never blocks for long and never throws.
#pragma once

#include <string>

namespace qstor::cli {

bool SdNotify(const std::string& state);

}  // namespace qstor::cli
