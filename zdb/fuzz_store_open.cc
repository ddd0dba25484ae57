// libFuzzer target: opening a namespace whose newest data file and index
// snapshot are arbitrary bytes must never crash; whatever survives must be
// readable (or reported as corrupt), and the namespace must accept writes.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "zdb/store.h"

namespace {

void WriteFile(const std::string& path, const uint8_t* data, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  if (n > 0 && ::write(fd, data, n) < 0) {
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char tmpl[] = "/tmp/zdb_fuzz.XXXXXX";
  if (!::mkdtemp(tmpl)) return 0;
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/default");
  // First byte picks the mode; the rest is split between data file and index.
  bool seq = size > 0 && (data[0] & 1);
  const uint8_t* p = size > 0 ? data + 1 : data;
  size_t n = size > 0 ? size - 1 : 0;
  size_t cut = n > 0 ? (size_t(data[0]) * n) / 255 : 0;
  std::string meta = seq ? "mode=seq\n" : "mode=user\n";
  WriteFile(dir + "/default/meta", reinterpret_cast<const uint8_t*>(meta.data()), meta.size());
  // A valid file header so the entry parser is reached most of the time.
  std::string d = std::string("QZDB\x01\x00\x00\x00\x00\x00\x00\x00", 12);
  d.append(reinterpret_cast<const char*>(p), cut);
  WriteFile(dir + "/default/d00000000", reinterpret_cast<const uint8_t*>(d.data()), d.size());
  WriteFile(dir + "/default/index", p + cut, n - cut);
  {
    auto store = qstor::zdb::Store::Open(dir);
    if (store.ok()) {
      qstor::zdb::Namespace* ns = (*store)->Get("default");
      std::vector<qstor::zdb::ScanItem> items;
      std::string next;
      std::optional<std::string> cur;
      int pages = 0;
      while (pages++ < 1000 && ns->Scan(cur, false, 16, &items, &next).ok()) {
        for (const auto& it : items) (void)ns->Get(it.key);
        cur = next;
      }
      std::string key;
      bool unchanged;
      (void)ns->Set(seq ? "" : "fuzz", "value", &key, &unchanged);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
