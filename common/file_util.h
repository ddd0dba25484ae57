// Small file helpers shared by the rooms.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor {

// Replaces `path` with `bytes` atomically and durably: writes a temporary
// file beside it with `mode` (whatever the umask), fsyncs it, renames it over
// `path`, then fsyncs the directory. After a crash `path` holds either the
// old or the new content, never a mix. The directory must exist.
Status WriteFileAtomic(const std::string& path, std::string_view bytes, mode_t mode = 0644);

// Whether `path` is a mount point now (/proc/self/mountinfo; its octal
// escapes of spaces and tabs are decoded). `path` must be absolute and
// normalized as the kernel prints it.
bool IsMountPoint(const std::string& path);

// Whether `path` is a FUSE mount whose server is gone: statfs, then stat,
// answers ENOTCONN ("Transport endpoint is not connected") or ECONNABORTED
// (the connection was aborted while a request was in flight). Anything else
// (an answer, ENOENT, EACCES...) is not a dead mount.
bool IsDeadFuseMount(const std::string& path);

}  // namespace qstor
