#include "reconciler/manifest.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "common/file_util.h"
#include "common/units.h"
#include "reconciler/schema_validator.h"

namespace qstor::reconciler {

extern const char* const kEmbeddedStorageSchemaV1;  // generated: schema_embed.cc

namespace {

using Severity = ManifestDiagnostic::Severity;

const SchemaValidator* Validator(std::string* error) {
  static const auto compiled = []() -> Result<std::shared_ptr<const SchemaValidator>> {
    nlohmann::json schema;
    try {
      schema = nlohmann::json::parse(EmbeddedSchemaText());
    } catch (const std::exception& e) {
      return Status::Internal(std::string("embedded schema is not JSON: ") + e.what());
    }
    return SchemaValidator::Compile(schema);
  }();
  if (!compiled.ok()) {
    *error = compiled.status().ToString();
    return nullptr;
  }
  return compiled.value().get();
}

// Byte offset -> 1-based line and column.
std::pair<int, int> LineCol(const std::string& text, size_t offset) {
  int line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

// Returns the offset of the first byte that makes `text` invalid UTF-8, or npos.
size_t FirstInvalidUtf8(const std::string& text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t j = 1; j < len; ++j) {
      unsigned char cc = static_cast<unsigned char>(text[i + j]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string::npos;
}

// yaml-cpp 0.7's LoadAll never returns on some inputs with text after a
// top-level flow collection ("{a: 1},"): the parser keeps starting an empty
// document at the same place. A pass with a no-op event handler finds that
// place first; LoadAll runs only when the stream makes progress.
class ProgressCheck final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& m) override {
    stuck_ = seen_ && m.pos == last_.pos;
    seen_ = true;
    last_ = m;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  bool stuck() const { return stuck_; }
  const YAML::Mark& where() const { return last_; }

 private:
  bool seen_ = false;
  bool stuck_ = false;
  YAML::Mark last_;
};

// Returns false (and the place) when LoadAll would not terminate. Parse
// errors are left for LoadAll to report.
bool StreamMakesProgress(const std::string& text, YAML::Mark* where) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ProgressCheck check;
  try {
    while (parser.HandleNextDocument(check)) {
      if (check.stuck()) {
        *where = check.where();
        return false;
      }
    }
  } catch (const std::exception&) {
  }
  return true;
}

struct DocContext {
  std::string file;
  std::vector<ManifestDiagnostic>* out;
  bool failed = false;

  void At(const YAML::Node& n, Severity sev, const std::string& msg) {
    ManifestDiagnostic d;
    d.severity = sev;
    d.file = file;
    const YAML::Mark m = n.Mark();
    d.line = m.line >= 0 ? m.line + 1 : 0;
    d.column = m.column >= 0 ? m.column + 1 : 0;
    d.message = msg;
    if (sev == Severity::kError) failed = true;
    out->push_back(std::move(d));
  }
  void Error(const YAML::Node& n, const std::string& msg) { At(n, Severity::kError, msg); }
  void Warning(const YAML::Node& n, const std::string& msg) { At(n, Severity::kWarning, msg); }
};

// Schema has passed, so shapes and types are known to be right here.
Place ReadPlace(const YAML::Node& n) {
  Place p;
  p.line = n.Mark().line + 1;
  for (const char* key : {"country", "region", "city", "farm", "node"}) {
    if (!n[key]) continue;
    std::string k = key;
    if (k == "country") p.kind = PlaceKind::kCountry;
    if (k == "region") p.kind = PlaceKind::kRegion;
    if (k == "city") p.kind = PlaceKind::kCity;
    if (k == "farm") p.kind = PlaceKind::kFarm;
    if (k == "node") p.kind = PlaceKind::kNode;
    if (k == "farm" || k == "node") {
      p.id = static_cast<uint64_t>(std::stod(n[key].Scalar()));
    } else {
      p.name = n[key].Scalar();
    }
  }
  return p;
}

// Place names compare case-insensitively ("belgium" == "Belgium").
std::string Fold(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
bool SamePlace(const Place& a, const Place& b) {
  return a.kind == b.kind && a.id == b.id && Fold(a.name) == Fold(b.name);
}

void BuildManifest(const YAML::Node& doc, DocContext& ctx, Manifest& m) {
  m.line = doc.Mark().line + 1;
  const YAML::Node md = doc["metadata"];
  m.name = md["name"].Scalar();
  if (md["labels"]) {
    for (auto it = md["labels"].begin(); it != md["labels"].end(); ++it) {
      m.labels[it->first.Scalar()] = it->second.Scalar();
    }
    const size_t bytes = nlohmann::json(m.labels).dump().size();
    if (bytes > kMaxLabelBytes) {
      ctx.Error(md["labels"],
                fmt::format("metadata.labels: {} bytes as JSON, the limit is {} (qstor records "
                            "the labels in every contract's deployment_data, which the chain "
                            "limits to 512 bytes): use fewer or shorter labels",
                            bytes, kMaxLabelBytes));
    }
  }
  const YAML::Node spec = doc["spec"];
  m.network = spec["network"].Scalar();

  auto size = ParseSize(spec["capacity"].Scalar());
  if (!size.ok()) {
    ctx.Error(spec["capacity"], "spec.capacity: " + size.status().message());
  } else {
    m.capacity_bytes = *size;
  }

  const YAML::Node red = spec["redundancy"];
  m.data_shards = static_cast<int>(std::stod(red["dataShards"].Scalar()));
  m.parity_shards = static_cast<int>(std::stod(red["parityShards"].Scalar()));
  if (m.total_shards() > 255) {
    ctx.Error(red, fmt::format("spec.redundancy: dataShards + parityShards = {} + {} = {}; "
                               "Reed-Solomon over GF(2^8) allows at most 255 shards",
                               m.data_shards, m.parity_shards, m.total_shards()));
  }
  if (m.parity_shards == 0) {
    ctx.Warning(red["parityShards"],
                "spec.redundancy.parityShards is 0: losing any one node loses data");
  }
  if (red["spread"]) {
    if (red["spread"]["distinctFarms"]) m.distinct_farms = red["spread"]["distinctFarms"].as<bool>();
    if (red["spread"]["distinctCountries"]) {
      m.distinct_countries = red["spread"]["distinctCountries"].as<bool>();
    }
  }
  if (spec["metadata"] && spec["metadata"]["backends"]) {
    m.metadata_backends = static_cast<int>(std::stod(spec["metadata"]["backends"].Scalar()));
  }

  // Locations.
  const YAML::Node loc = spec["locations"];
  if (loc && loc.IsMap()) {
    if (loc["select"]) {
      for (const auto& s : loc["select"]) {
        Selector sel;
        sel.place = ReadPlace(s);
        if (s["weight"]) sel.weight = std::stod(s["weight"].Scalar());
        if (s["count"]) sel.count = static_cast<int>(std::stod(s["count"].Scalar()));
        for (const auto& prev : m.select) {
          if (SamePlace(prev.place, sel.place)) {
            ctx.Error(s, fmt::format("spec.locations.select: {} is listed twice (first at line {})",
                                     sel.place.ToString(), prev.place.line));
          }
        }
        if (sel.place.kind == PlaceKind::kNode && sel.count > 1) {
          ctx.Error(s["count"], fmt::format("spec.locations.select: node {} cannot hold {} shards: "
                                            "at most one shard per node",
                                            sel.place.id, sel.count));
        }
        if (m.distinct_countries && sel.place.kind == PlaceKind::kCountry && sel.count > 1) {
          ctx.Error(s["count"], fmt::format("spec.locations.select: count {} in {} conflicts with "
                                            "spread.distinctCountries (one shard per country)",
                                            sel.count, sel.place.ToString()));
        }
        if (m.distinct_farms && sel.place.kind == PlaceKind::kFarm && sel.count > 1) {
          ctx.Error(s["count"], fmt::format("spec.locations.select: count {} in {} conflicts with "
                                            "spread.distinctFarms (one shard per farm)",
                                            sel.count, sel.place.ToString()));
        }
        m.select.push_back(sel);
      }
    }
    if (loc["exclude"]) {
      for (const auto& e : loc["exclude"]) {
        Place p = ReadPlace(e);
        for (const auto& prev : m.exclude) {
          if (SamePlace(prev, p)) {
            ctx.Error(e, fmt::format("spec.locations.exclude: {} is listed twice (first at line {})",
                                     p.ToString(), prev.line));
          }
        }
        for (const auto& sel : m.select) {
          if (SamePlace(sel.place, p)) {
            ctx.Error(e, fmt::format("spec.locations: {} is both selected (line {}) and excluded",
                                     p.ToString(), sel.place.line));
          }
        }
        m.exclude.push_back(p);
      }
    }
    m.random_locations = m.select.empty();
  }
  if (!m.select.empty()) {
    int fixed = 0;
    for (const auto& s : m.select) fixed += s.count;
    if (fixed > m.total_shards()) {
      ctx.Error(loc["select"], fmt::format("spec.locations.select: counts add up to {}, more than "
                                           "the {} data namespaces (dataShards + parityShards)",
                                           fixed, m.total_shards()));
    }
    bool all_counted_short = fixed < m.total_shards() &&
                             std::all_of(m.select.begin(), m.select.end(),
                                         [](const Selector& s) { return s.count > 0; });
    if (all_counted_short) {
      ctx.Error(loc["select"], fmt::format("spec.locations.select: every entry has a count and they "
                                           "add up to {}, but {} data namespaces are needed; add an "
                                           "entry without count or raise the counts",
                                           fixed, m.total_shards()));
    }
    auto only = [&](PlaceKind k) {
      return std::all_of(m.select.begin(), m.select.end(),
                         [k](const Selector& s) { return s.place.kind == k; });
    };
    const int n = static_cast<int>(m.select.size());
    const int needed_nodes = std::max(m.total_shards(), m.metadata_backends);
    if (only(PlaceKind::kNode) && n < needed_nodes) {
      ctx.Error(loc["select"],
                fmt::format("spec.locations.select lists only {} node(s), but {} are needed "
                            "(one per shard: dataShards + parityShards = {}; metadata backends = {})",
                            n, needed_nodes, m.total_shards(), m.metadata_backends));
    }
    if (m.distinct_countries && only(PlaceKind::kCountry) && n < m.total_shards()) {
      ctx.Error(loc["select"],
                fmt::format("spec.redundancy.spread.distinctCountries needs {} countries, but "
                            "spec.locations.select allows only {}",
                            m.total_shards(), n));
    }
    if (m.distinct_farms && only(PlaceKind::kFarm) && n < m.total_shards()) {
      ctx.Error(loc["select"],
                fmt::format("spec.redundancy.spread.distinctFarms needs {} farms, but "
                            "spec.locations.select allows only {}",
                            m.total_shards(), n));
    }
  }

  if (const YAML::Node b = spec["budget"]) {
    if (b["maxMonthlyTFT"]) m.budget.max_monthly_tft = std::stod(b["maxMonthlyTFT"].Scalar());
    if (b["prepaidMonths"]) m.budget.prepaid_months = static_cast<int>(std::stod(b["prepaidMonths"].Scalar()));
    if (b["onExceed"] && b["onExceed"].Scalar() == "warn") {
      m.budget.on_exceed = Manifest::Budget::OnExceed::kWarn;
    }
  }

  if (const YAML::Node p = spec["payment"]) {
    m.payment.method = p["method"].Scalar() == "connect" ? Manifest::Payment::Method::kConnect
                                                         : Manifest::Payment::Method::kWallet;
    if (p["timeout"]) {
      auto d = ParseDuration(p["timeout"].Scalar());
      if (!d.ok()) {
        ctx.Error(p["timeout"], "spec.payment.timeout: " + d.status().message());
      } else {
        m.payment.timeout = *d;
      }
      if (m.payment.method == Manifest::Payment::Method::kWallet) {
        ctx.Warning(p["timeout"], "spec.payment.timeout only applies to method connect");
      }
    }
    if (p["qr"]) {
      m.payment.qr = p["qr"].Scalar() == "inline" ? Manifest::Payment::Qr::kInline
                                                  : Manifest::Payment::Qr::kUrl;
      if (m.payment.method == Manifest::Payment::Method::kWallet) {
        ctx.Warning(p["qr"], "spec.payment.qr only applies to method connect");
      }
    }
  }

  if (const YAML::Node mt = spec["mount"]) {
    m.mount.enabled = true;
    m.mount.path = mt["path"].Scalar();
    if (m.mount.path == "/" ) {
      ctx.Error(mt["path"], "spec.mount.path: refusing to mount over /");
    }
    if (mt["cacheSize"]) {
      auto s = ParseSize(mt["cacheSize"].Scalar());
      if (!s.ok()) ctx.Error(mt["cacheSize"], "spec.mount.cacheSize: " + s.status().message());
      else m.mount.cache_bytes = *s;
    }
    if (mt["cacheDir"]) {
      m.mount.cache_dir = mt["cacheDir"].Scalar();
      std::string mp = m.mount.path;
      if (!mp.empty() && mp.back() != '/') mp += '/';
      if (m.mount.cache_dir == m.mount.path || m.mount.cache_dir.rfind(mp, 0) == 0) {
        ctx.Error(mt["cacheDir"], "spec.mount.cacheDir must not be inside the mount itself (" +
                                      m.mount.path + ")");
      }
    }
    if (mt["durability"] && mt["durability"].Scalar() == "grid") {
      m.mount.durability = Manifest::Mount::Durability::kGrid;
    }
    if (mt["uploadWithin"]) {
      auto d = ParseDuration(mt["uploadWithin"].Scalar());
      if (!d.ok()) {
        ctx.Error(mt["uploadWithin"], "spec.mount.uploadWithin: " + d.status().message());
      } else if (d->count() < 1000) {
        ctx.Error(mt["uploadWithin"], "spec.mount.uploadWithin must be at least 1s");
      } else {
        m.mount.upload_within = *d;
      }
      if (m.mount.durability == Manifest::Mount::Durability::kGrid) {
        ctx.Warning(mt["uploadWithin"],
                    "spec.mount.uploadWithin has no effect with durability grid (fsync waits for the grid)");
      }
    }
    if (mt["compression"]) m.mount.compression = mt["compression"].as<bool>();
  }
}

void AddFileError(std::vector<ManifestDiagnostic>* out, const std::string& file, int line, int col,
                  const std::string& msg) {
  ManifestDiagnostic d;
  d.file = file;
  d.line = line;
  d.column = col;
  d.message = msg;
  out->push_back(std::move(d));
}

}  // namespace

const char* PlaceKindName(PlaceKind k) {
  switch (k) {
    case PlaceKind::kCountry: return "country";
    case PlaceKind::kRegion: return "region";
    case PlaceKind::kCity: return "city";
    case PlaceKind::kFarm: return "farm";
    case PlaceKind::kNode: return "node";
  }
  return "?";
}

std::string Place::ToString() const {
  if (kind == PlaceKind::kFarm || kind == PlaceKind::kNode) {
    return fmt::format("{} {}", PlaceKindName(kind), id);
  }
  return fmt::format("{} \"{}\"", PlaceKindName(kind), name);
}

std::string ManifestDiagnostic::ToString() const {
  std::string where = file;
  if (line > 0) {
    where += fmt::format(":{}", line);
    if (column > 0) where += fmt::format(":{}", column);
  }
  return where + (severity == Severity::kError ? ": error: " : ": warning: ") + message;
}

bool LoadResult::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(), [](const ManifestDiagnostic& d) {
    return d.severity == ManifestDiagnostic::Severity::kError;
  });
}

const std::string& EmbeddedSchemaText() {
  static const std::string text(kEmbeddedStorageSchemaV1);
  return text;
}

nlohmann::json Manifest::ToJson() const {
  nlohmann::json j;
  j["apiVersion"] = "qstor.threefold.io/v1";
  j["kind"] = "Storage";
  j["metadata"]["name"] = name;
  if (!labels.empty()) j["metadata"]["labels"] = labels;
  auto& s = j["spec"];
  s["network"] = network;
  s["capacityBytes"] = capacity_bytes;
  s["capacity"] = FormatSize(capacity_bytes);
  s["redundancy"] = {{"dataShards", data_shards},
                     {"parityShards", parity_shards},
                     {"spread", {{"distinctFarms", distinct_farms},
                                 {"distinctCountries", distinct_countries}}}};
  s["metadata"]["backends"] = metadata_backends;
  if (random_locations && exclude.empty()) {
    s["locations"] = "random";
  } else {
    auto place_json = [](const Place& p) {
      nlohmann::json o;
      if (p.kind == PlaceKind::kFarm || p.kind == PlaceKind::kNode) o[PlaceKindName(p.kind)] = p.id;
      else o[PlaceKindName(p.kind)] = p.name;
      return o;
    };
    nlohmann::json sel = nlohmann::json::array();
    for (const auto& x : select) {
      auto o = place_json(x.place);
      if (x.count > 0) o["count"] = x.count;
      else o["weight"] = x.weight;
      sel.push_back(o);
    }
    nlohmann::json exc = nlohmann::json::array();
    for (const auto& p : exclude) exc.push_back(place_json(p));
    s["locations"] = {{"select", sel}, {"exclude", exc}};
  }
  if (budget.max_monthly_tft) s["budget"]["maxMonthlyTFT"] = *budget.max_monthly_tft;
  s["budget"]["prepaidMonths"] = budget.prepaid_months;
  s["budget"]["onExceed"] = budget.on_exceed == Budget::OnExceed::kWarn ? "warn" : "refuse";
  s["payment"]["method"] = payment.method == Payment::Method::kConnect ? "connect" : "wallet";
  s["payment"]["timeout"] = FormatDuration(payment.timeout);
  // Only when not the default: the canonical form seeds the node choice
  // (plan.h DefaultSeed), which a display option must not change.
  if (payment.qr == Payment::Qr::kInline) s["payment"]["qr"] = "inline";
  if (mount.enabled) {
    s["mount"] = {{"path", mount.path},
                  {"cacheSize", FormatSize(mount.cache_bytes)},
                  {"cacheBytes", mount.cache_bytes},
                  {"durability", mount.durability == Mount::Durability::kGrid ? "grid" : "local"},
                  {"uploadWithin", FormatDuration(mount.upload_within)},
                  {"compression", mount.compression}};
    if (!mount.cache_dir.empty()) s["mount"]["cacheDir"] = mount.cache_dir;
  }
  return j;
}

LoadResult LoadManifestText(const std::string& text, const std::string& file) {
  LoadResult r;
  auto* out = &r.diagnostics;
  if (text.size() > kMaxManifestBytes) {
    AddFileError(out, file, 0, 0,
                 fmt::format("file is {} bytes; manifests are limited to {} bytes", text.size(),
                             kMaxManifestBytes));
    return r;
  }
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    auto [l, c] = LineCol(text, nul);
    AddFileError(out, file, l, c, "binary data (a NUL byte): a manifest is YAML text");
    return r;
  }
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string::npos) {
    auto [l, c] = LineCol(text, bad);
    AddFileError(out, file, l, c, "invalid UTF-8: a manifest is YAML text in UTF-8");
    return r;
  }
  std::string error;
  const SchemaValidator* validator = Validator(&error);
  if (validator == nullptr) {
    AddFileError(out, file, 0, 0, "internal: " + error);
    return r;
  }

  std::vector<YAML::Node> docs;
  if (YAML::Mark stuck; !StreamMakesProgress(text, &stuck)) {
    AddFileError(out, file, stuck.line + 1, stuck.column + 1,
                 "YAML syntax: unexpected text after the end of a document "
                 "(a ',' or more text after a closing '}' or ']'?)");
    return r;
  }
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    int col = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    // yaml-cpp says only "bad file" when its recursion guard trips.
    std::string msg = e.msg == "bad file"
                          ? "nested too deeply or malformed here (the parser gives up)"
                          : e.msg;
    AddFileError(out, file, line, col, "YAML syntax: " + msg);
    return r;
  } catch (const std::exception& e) {
    AddFileError(out, file, 0, 0, std::string("YAML syntax: ") + e.what());
    return r;
  }
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    AddFileError(out, file, 1, 1, "file is empty: expected a Storage manifest "
                                  "(apiVersion: qstor.threefold.io/v1, kind: Storage)");
    return r;
  }

  std::vector<Manifest> manifests;
  std::map<std::pair<std::string, std::string>, int> names;  // (network, name) -> line
  for (size_t i = 0; i < docs.size(); ++i) {
    const YAML::Node& doc = docs[i];
    DocContext ctx{file, out};
    if (!doc.IsDefined() || doc.IsNull()) {
      AddFileError(out, file, 0, 0, fmt::format("document {} is empty", i + 1));
      continue;
    }
    std::vector<Diagnostic> schema_errors;
    validator->Validate(doc, &schema_errors);
    for (const auto& d : schema_errors) {
      ManifestDiagnostic md;
      md.file = file;
      md.line = d.line;
      md.column = d.column;
      std::string message = d.message;
      // A size or duration that fails the schema's pattern: the unit parser
      // says more precisely what is wrong ("did you mean GiB?").
      if (d.def == "size") {
        if (auto sz = ParseSize(d.value); !sz.ok()) message = sz.status().message();
      } else if (d.def == "duration") {
        if (auto du = ParseDuration(d.value); !du.ok()) message = du.status().message();
      }
      md.message = d.path.empty() ? message : d.path + ": " + message;
      out->push_back(std::move(md));
    }
    if (!schema_errors.empty()) continue;
    Manifest m;
    m.file = file;
    m.document = static_cast<int>(i);
    try {
      BuildManifest(doc, ctx, m);
    } catch (const std::exception& e) {
      // The schema guarantees shapes; reaching here is a bug, reported as an
      // error rather than a crash.
      ctx.Error(doc, std::string("internal: manifest passed the schema but could not be read: ") +
                         e.what());
    }
    if (ctx.failed) continue;
    auto key = std::make_pair(m.network, m.name);
    if (auto it = names.find(key); it != names.end()) {
      ctx.Error(doc["metadata"]["name"],
                fmt::format("metadata.name \"{}\" is used twice on network {} (first at line {})",
                            m.name, m.network, it->second));
      continue;
    }
    names[key] = doc["metadata"]["name"].Mark().line + 1;
    manifests.push_back(std::move(m));
  }
  // Diagnostics in file order, stable for equal positions.
  std::stable_sort(out->begin(), out->end(), [](const ManifestDiagnostic& a,
                                                const ManifestDiagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (r.ok()) r.manifests = std::move(manifests);
  return r;
}

std::string LabelsText(const Labels& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) out += (out.size() > 1 ? ", " : "") + k + "=" + v;
  return out + "}";
}

Result<Labels> ParseSelector(const std::string& text) {
  Labels out;
  if (text.empty()) return out;
  auto trim = [](const std::string& v) {
    size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string term = trim(text.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start));
    size_t eq = term.find('=');
    if (term.empty() || eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(fmt::format(
          "--selector \"{}\": \"{}\" is not key=value (e.g. --selector team=media,env=prod)",
          text, term));
    }
    std::string k = trim(term.substr(0, eq)), v = trim(term.substr(eq + 1));
    if (auto it = out.find(k); it != out.end() && it->second != v) {
      return Status::InvalidArgument(fmt::format(
          "--selector \"{}\": {} is asked to be both \"{}\" and \"{}\"", text, k, it->second, v));
    }
    out[k] = v;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool LabelsMatch(const Labels& labels, const Labels& selector) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

LoadResult LoadManifestFile(const std::string& path) {
  LoadResult r;
  // Bounded: /dev/zero or a FIFO stops at the limit instead of being read whole.
  auto text = ReadFileBounded(path, kMaxManifestBytes, "manifest");
  if (!text.ok()) {
    AddFileError(&r.diagnostics, path, 0, 0, text.status().message());
    return r;
  }
  return LoadManifestText(*text, path);
}

LoadResult LoadManifestFiles(const std::vector<std::string>& paths) {
  LoadResult all;
  std::map<std::pair<std::string, std::string>, std::string> seen;  // -> "file:line"
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> in_dir;
    for (std::filesystem::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const std::string ext = it->path().extension().string();
      std::error_code fe;
      if (name.empty() || name[0] == '.' || (ext != ".yaml" && ext != ".yml")) continue;
      if (!it->is_regular_file(fe)) continue;
      in_dir.push_back(it->path().string());
    }
    if (ec) {
      AddFileError(&all.diagnostics, p, 0, 0, "reading the directory: " + ec.message());
      continue;
    }
    if (in_dir.empty()) {
      AddFileError(&all.diagnostics, p, 0, 0, "no .yaml or .yml file in this directory");
      continue;
    }
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  for (const auto& p : files) {
    LoadResult r = LoadManifestFile(p);
    for (auto& d : r.diagnostics) all.diagnostics.push_back(d);
    for (auto& m : r.manifests) {
      auto key = std::make_pair(m.network, m.name);
      if (auto it = seen.find(key); it != seen.end()) {
        AddFileError(&all.diagnostics, m.file, m.line, 1,
                     fmt::format("metadata.name \"{}\" on network {} is also used at {}", m.name,
                                 m.network, it->second));
        continue;
      }
      seen[key] = fmt::format("{}:{}", m.file, m.line);
      all.manifests.push_back(std::move(m));
    }
  }
  if (!all.ok()) all.manifests.clear();
  return all;
}

}  // namespace qstor::reconciler
