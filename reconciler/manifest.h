// The Storage manifest (apiVersion qstor.threefold.io/v1): loading,
// validation and the typed value the planner works from.
//
// Validation has two layers, both reported together and each located at the
// YAML line and column it concerns:
//   1. the JSON Schema schema/storage.v1.schema.json (compiled into qstor),
//      the single source of truth for the shape of a manifest;
//   2. rules a JSON Schema cannot say: exact sizes, dataShards+parityShards
//      <= 255, location rules that contradict each other or the spread
//      rules, names unique within the files checked together.
// docs/manifest.md lists both.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace qstor::reconciler {

// A located problem in a manifest file.
struct ManifestDiagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;    // 1-based; 0 = whole file
  int column = 0;  // 1-based; 0 = unknown
  std::string message;
  // "file:line:col: error: message", as compilers print it.
  std::string ToString() const;
};

enum class PlaceKind { kCountry, kRegion, kCity, kFarm, kNode };
const char* PlaceKindName(PlaceKind k);  // "country", ...

struct Place {
  PlaceKind kind = PlaceKind::kCountry;
  std::string name;  // country, region, city
  uint64_t id = 0;   // farm, node
  int line = 0;
  bool operator==(const Place& o) const { return kind == o.kind && name == o.name && id == o.id; }
  std::string ToString() const;  // "country Belgium", "node 12"
};

struct Selector {
  Place place;
  double weight = 1.0;  // share of shards not placed by count
  int count = 0;        // 0 = no fixed count
};

struct Manifest {
  std::string file;
  int document = 0;  // 0-based index of the document in its file
  int line = 0;      // line of the document's first key

  std::string name;
  // metadata.labels: recorded in every contract's deployment_data (so a
  // fresh machine sees them), where `apply --prune --selector` reads them;
  // at most kMaxLabelBytes as compact JSON.
  std::map<std::string, std::string> labels;
  std::string network;  // devnet | main | test | qa | dev

  uint64_t capacity_bytes = 0;
  int data_shards = 0;    // k
  int parity_shards = 0;  // m
  bool distinct_farms = false;
  bool distinct_countries = false;
  int metadata_backends = 4;

  bool random_locations = true;  // no select rules
  std::vector<Selector> select;
  std::vector<Place> exclude;

  struct Budget {
    std::optional<double> max_monthly_tft;
    int prepaid_months = 1;
    enum class OnExceed { kRefuse, kWarn } on_exceed = OnExceed::kRefuse;
  } budget;

  struct Payment {
    enum class Method { kWallet, kConnect } method = Method::kWallet;
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    // connect: how the QR code carries a sign request (reconciler/connect.h):
    // url, the app fetches it from the relay; inline, it is in the code.
    enum class Qr { kUrl, kInline } qr = Qr::kUrl;
  } payment;

  struct Mount {
    bool enabled = false;
    std::string path;
    uint64_t cache_bytes = 1ULL << 30;
    std::string cache_dir;  // empty = default under the state directory
    enum class Durability { kLocal, kGrid } durability = Durability::kLocal;
    std::chrono::milliseconds upload_within{std::chrono::seconds(30)};
    bool compression = true;
  } mount;

  int total_shards() const { return data_shards + parity_shards; }
  // Normalised form, with defaults filled in and sizes in bytes; stable
  // across formatting changes of the YAML (used by plans and `validate --json`).
  nlohmann::json ToJson() const;
};

struct LoadResult {
  std::vector<Manifest> manifests;            // only when there are no errors
  std::vector<ManifestDiagnostic> diagnostics;  // errors and warnings, in file order
  bool ok() const;
};

// Largest manifest file accepted. Larger files get one clear error.
constexpr size_t kMaxManifestBytes = 1 << 20;
// metadata.labels as compact JSON ({"team":"a"}): the chain keeps at most
// 512 bytes of deployment_data per contract, and qstor's own fields take
// about 150 of them.
constexpr size_t kMaxLabelBytes = 256;

using Labels = std::map<std::string, std::string>;

// metadata.labels as people read them: {team=a, tier=cold}; {} when none.
std::string LabelsText(const Labels& labels);

// A label selector, as `kubectl -l`: "key=value[,key=value...]" (spaces
// around terms are ignored; "" selects everything). kInvalidArgument, with
// the selector and the bad term, for a term that is not key=value or a key
// asked to have two values.
Result<Labels> ParseSelector(const std::string& text);

// True when `labels` holds every pair of `selector`.
bool LabelsMatch(const Labels& labels, const Labels& selector);

// Loads every Storage document of one file. Never throws.
LoadResult LoadManifestFile(const std::string& path);
// Same, from text; `file` is the name used in diagnostics.
LoadResult LoadManifestText(const std::string& text, const std::string& file);
// Loads several files and also checks that (network, name) pairs are unique
// across all of them. A directory stands for the *.yaml and *.yml files
// directly in it, in name order (not recursive; hidden files skipped); a
// directory with none is an error that names it.
LoadResult LoadManifestFiles(const std::vector<std::string>& paths);

// The schema text compiled into the binary (schema/storage.v1.schema.json).
const std::string& EmbeddedSchemaText();

}  // namespace qstor::reconciler
