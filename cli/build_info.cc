#include "cli/build_info.h"

#include "qstor_build_info.h"

#ifndef QSTOR_VERSION
#define QSTOR_VERSION "0.0.0"
#endif

namespace qstor::cli {

BuildInfo GetBuildInfo() { return BuildInfo{QSTOR_VERSION, QSTOR_GIT_COMMIT, QSTOR_BUILD_DATE}; }

}  // namespace qstor::cli
