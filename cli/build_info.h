// What `qstor version` prints: the project version (CMake's), the git commit
// it was built from (`git describe --always --dirty`, "unknown" outside a
// checkout) and the build date (UTC; SOURCE_DATE_EPOCH's when set).
#pragma once

#include <string>

namespace qstor::cli {

struct BuildInfo {
  std::string version;
  std::string commit;
  std::string build_date;
};

BuildInfo GetBuildInfo();

}  // namespace qstor::cli
