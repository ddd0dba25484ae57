// Test helpers for tfchain_test: the recorded spec-152 metadata of the real
// chain (../shared/reference/tfchain/chainMeta-spec152.json; the path is set
// by CMake's QSTOR_SHARED_DIR, or the env QSTOR_TFCHAIN_METADATA).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "grid/tfchain/metadata.h"
#include "grid/tfchain/scale.h"

namespace qstor::tfchain::testing {

inline std::string MetadataPath() {
  if (const char* p = std::getenv("QSTOR_TFCHAIN_METADATA"); p != nullptr && *p) return p;
  return QSTOR_TFCHAIN_METADATA;
}

// The raw metadata bytes, or "" when the file is absent.
inline const std::string& RealMetadataBytes() {
  static const std::string bytes = [] {
    std::ifstream in(MetadataPath());
    if (!in) return std::string();
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.contains("result") || !j["result"].is_string()) return std::string();
    auto b = FromHex(j["result"].get<std::string>());
    return b.ok() ? *b : std::string();
  }();
  return bytes;
}

// The decoded metadata (or the decode error); nullptr-equivalent when absent.
inline const Result<Metadata>& RealMetadataResult() {
  static const Result<Metadata> m = []() -> Result<Metadata> {
    if (RealMetadataBytes().empty()) return Status::NotFound("absent");
    return DecodeMetadata(RealMetadataBytes());
  }();
  return m;
}

}  // namespace qstor::tfchain::testing

// Skips (loudly, with the path) when the recorded file is absent; FAILS when
// it is present but does not decode (never a silent pass).
#define REQUIRE_REAL_METADATA(m)                                                          \
  if (::qstor::tfchain::testing::RealMetadataBytes().empty()) {                           \
    GTEST_SKIP() << "SKIPPED: recorded TFChain metadata not found at "                    \
                 << ::qstor::tfchain::testing::MetadataPath()                             \
                 << " (set QSTOR_SHARED_DIR or QSTOR_TFCHAIN_METADATA)";                  \
  }                                                                                       \
  ASSERT_TRUE(::qstor::tfchain::testing::RealMetadataResult().ok())                       \
      << ::qstor::tfchain::testing::RealMetadataResult().status().ToString();             \
  const ::qstor::tfchain::Metadata* m = &::qstor::tfchain::testing::RealMetadataResult().value();
