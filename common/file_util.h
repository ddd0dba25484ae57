// Small file helpers shared by the rooms.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace qstor {

// Replaces `path` with `bytes` atomically and durably: writes a temporary
// file beside it with `mode` (whatever the umask), fsyncs it, renames it over
// `path`, then fsyncs the directory. After a crash `path` holds either the
// old or the new content, never a mix. The directory must exist.
Status WriteFileAtomic(const std::string& path, std::string_view bytes, mode_t mode = 0644);

// Reads the whole of `path`, but never more than `max_bytes`: reading stops
// one byte past the limit, so /dev/zero, a FIFO or a huge file costs at most
// `max_bytes` of memory. `what` names the file's role in messages ("manifest",
// "saved plan"...). Errors: NotFound (no such file), ResourceExhausted ("PATH
// is larger than N bytes, the limit for a WHAT"; a regular file is judged by
// its size before reading), IOError (anything else), each naming the file.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                    std::string_view what);

// In a forked child, before exec: closes every descriptor from 3 up, so the
// child inherits only stdin, stdout and stderr whatever the parent (or a
// library in it: asio sockets, log files) opened without O_CLOEXEC.
// Async-signal-safe (close_range, else a close() loop).
void CloseDescriptorsFrom3();

// Removes the temporaries WriteFileAtomic leaves in `dir` when a process dies
// between create and rename (`NAME.tmp.PID`), but only those whose PID no
// longer runs. Returns how many were
// removed; a missing directory is 0.
int RemoveStaleTempFiles(const std::string& dir);

// The mounts of this process's namespace now (/proc/self/mountinfo): mount
// point (its octal escapes of spaces, tabs and newlines decoded) and file
// system type ("fuse.qstor", "ext4", ...).
struct MountEntry {
  std::string mount_point;
  std::string fstype;
};
std::vector<MountEntry> ListMounts();

// Whether `path` is a mount point now (ListMounts). `path` must be absolute
// and normalized as the kernel prints it.
bool IsMountPoint(const std::string& path);

// Whether `path` is a FUSE mount whose server is gone: statfs, then stat,
// answers ENOTCONN ("Transport endpoint is not connected") or ECONNABORTED
// (the connection was aborted while a request was in flight). Anything else
// (an answer, ENOENT, EACCES...) is not a dead mount.
bool IsDeadFuseMount(const std::string& path);

}  // namespace qstor
