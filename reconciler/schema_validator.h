// Validates YAML documents against a JSON Schema (draft 2020-12 subset),
// reporting every error with the YAML position it was found at.
//
// The manifest's schema (schema/storage.v1.schema.json) is the single source
// of truth: qstor compiles it into the binary and checks manifests with this
// validator, and the tests check the same files with ajv to prove the two
// agree. Supported keywords are listed in kSupportedKeywords; Compile()
// refuses a schema that uses any other keyword, so a keyword can never be
// silently ignored.
//
// YAML values are typed with the YAML 1.2 core schema (what JSON tools see
// after converting YAML to JSON): quoted scalars are strings; plain scalars
// are null (~, null, empty), booleans (true/false in three spellings),
// integers (decimal, 0o, 0x), floats, or else strings. `yes`/`on` are strings.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/status.h"

namespace qstor::reconciler {

// One problem in a document. line/column are 1-based; 0 means unknown.
struct Diagnostic {
  int line = 0;
  int column = 0;
  std::string path;     // "spec.redundancy.dataShards", "" for the document root
  std::string message;  // "must be at least 1, got 0"
  // For a string that fails a `pattern` inside a named $defs entry: that
  // entry's name ("size") and the string, so callers can explain further.
  std::string def;
  std::string value;
};

class SchemaValidator {
 public:
  // Compiles `schema`. Fails if it uses a keyword this validator does not
  // implement, has a $ref that does not resolve, or a pattern that does not
  // compile.
  static Result<std::shared_ptr<const SchemaValidator>> Compile(const nlohmann::json& schema);

  // Appends every violation found in `doc` to `out`. Never throws. Work is
  // bounded: documents whose alias expansion visits more than kMaxNodes
  // nodes, or nest deeper than kMaxDepth, get one diagnostic and no more.
  void Validate(const YAML::Node& doc, std::vector<Diagnostic>* out) const;

  static constexpr int kMaxNodes = 100000;
  static constexpr int kMaxDepth = 64;
  static const std::vector<std::string>& SupportedKeywords();

  struct Impl;
  explicit SchemaValidator(std::unique_ptr<Impl> impl);
  ~SchemaValidator();

 private:
  std::unique_ptr<Impl> impl_;
};

// Edit distance, used for "did you mean" suggestions.
size_t EditDistance(const std::string& a, const std::string& b);

// The closest of `candidates` to `word`, or "" when none is close enough.
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace qstor::reconciler
