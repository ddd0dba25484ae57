// Read-only mappings of zdb data files, for GET without a read syscall.
//
// A GET served with preadv spent about half of the server's time in the
// kernel (syscall entry, page-cache lookup, the copy); reading the same
// page-cache pages through a mapping costs one memcpy. The catch with
// mappings is SIGBUS: touching a mapped page past the end of the file (the
// file was truncated behind the server's back) or one the disk cannot read
// kills the process. CopyFromMapping turns that SIGBUS into a false return
// for the copy that hit it, so the server answers that one request with an
// error and goes on, as preadv would have.
//
// The SIGBUS handler is process-wide, installed on the first Map; a SIGBUS
// outside CopyFromMapping goes to the handler that was there before (or kills
// the process as it would have without this file).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qstor::zdb {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile() { Unmap(); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept : base_(o.base_), len_(o.len_) { o.base_ = nullptr; o.len_ = 0; }
  MappedFile& operator=(MappedFile&& o) noexcept;

  // Maps fd read-only and shared, `len` bytes from offset 0 (may reach past
  // the end of the file, so an append-only file can grow into it). False if
  // mmap fails or too many mappings exist already (callers then use pread).
  bool Map(int fd, uint64_t len);
  void Unmap();

  bool mapped() const { return base_ != nullptr; }
  // True if [off, off + n) lies inside the mapping.
  bool Covers(uint64_t off, uint64_t n) const { return base_ != nullptr && off + n <= len_; }
  const char* data() const { return base_; }

 private:
  char* base_ = nullptr;
  uint64_t len_ = 0;
};

// memcpy(dst, src, n) from a file mapping; false if a page of src could not
// be read (SIGBUS). dst then holds unspecified bytes.
bool CopyFromMapping(void* dst, const void* src, size_t n);

// Mappings alive in this process (all MappedFiles), for tests and the cap
// that keeps clear of vm.max_map_count.
uint64_t LiveMappings();

}  // namespace qstor::zdb
