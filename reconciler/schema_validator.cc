#include "reconciler/schema_validator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

namespace qstor::reconciler {

using nlohmann::json;

namespace {

enum class JType { kNull, kBool, kInteger, kNumber, kString, kArray, kObject };

struct Typed {
  JType type = JType::kNull;
  bool b = false;
  double num = 0;
  std::string str;
};

bool MatchesAll(const std::string& s, const std::regex& re) { return std::regex_match(s, re); }

const std::regex& NullRe() {
  static const std::regex re("~|null|Null|NULL|");
  return re;
}
const std::regex& TrueRe() {
  static const std::regex re("true|True|TRUE");
  return re;
}
const std::regex& FalseRe() {
  static const std::regex re("false|False|FALSE");
  return re;
}
const std::regex& IntRe() {
  static const std::regex re("[-+]?[0-9]+");
  return re;
}
const std::regex& OctRe() {
  static const std::regex re("0o[0-7]+");
  return re;
}
const std::regex& HexRe() {
  static const std::regex re("0x[0-9a-fA-F]+");
  return re;
}
const std::regex& FloatRe() {
  static const std::regex re("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  return re;
}
const std::regex& InfRe() {
  static const std::regex re("[-+]?\\.(inf|Inf|INF)");
  return re;
}
const std::regex& NanRe() {
  static const std::regex re("\\.(nan|NaN|NAN)");
  return re;
}

// Types a YAML node with the YAML 1.2 core schema.
Typed Classify(const YAML::Node& n) {
  Typed t;
  switch (n.Type()) {
    case YAML::NodeType::Map: t.type = JType::kObject; return t;
    case YAML::NodeType::Sequence: t.type = JType::kArray; return t;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: t.type = JType::kNull; return t;
    case YAML::NodeType::Scalar: break;
  }
  const std::string& s = n.Scalar();
  const std::string& tag = n.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") {
    t.type = JType::kString;
    t.str = s;
    return t;
  }
  // Long plain scalars can only be strings or huge numbers; keep regex work bounded.
  if (s.size() <= 64) {
    if (MatchesAll(s, NullRe())) { t.type = JType::kNull; return t; }
    if (MatchesAll(s, TrueRe())) { t.type = JType::kBool; t.b = true; return t; }
    if (MatchesAll(s, FalseRe())) { t.type = JType::kBool; t.b = false; return t; }
    if (MatchesAll(s, IntRe())) {
      t.type = JType::kInteger;
      t.num = std::strtod(s.c_str(), nullptr);
      return t;
    }
    if (MatchesAll(s, OctRe())) {
      t.type = JType::kInteger;
      t.num = static_cast<double>(std::strtoull(s.c_str() + 2, nullptr, 8));
      return t;
    }
    if (MatchesAll(s, HexRe())) {
      t.type = JType::kInteger;
      t.num = static_cast<double>(std::strtoull(s.c_str() + 2, nullptr, 16));
      return t;
    }
    if (MatchesAll(s, FloatRe())) {
      t.num = std::strtod(s.c_str(), nullptr);
      // JSON Schema: a number with a zero fractional part is an integer.
      t.type = (std::isfinite(t.num) && std::floor(t.num) == t.num) ? JType::kInteger
                                                                    : JType::kNumber;
      return t;
    }
    if (MatchesAll(s, InfRe())) {
      t.type = JType::kNumber;
      t.num = s[0] == '-' ? -INFINITY : INFINITY;
      return t;
    }
    if (MatchesAll(s, NanRe())) {
      t.type = JType::kNumber;
      t.num = NAN;
      return t;
    }
  }
  t.type = JType::kString;
  t.str = s;
  return t;
}

const char* TypeNoun(JType t) {
  switch (t) {
    case JType::kNull: return "null";
    case JType::kBool: return "a boolean";
    case JType::kInteger: return "an integer";
    case JType::kNumber: return "a number";
    case JType::kString: return "a string";
    case JType::kArray: return "a list";
    case JType::kObject: return "a mapping";
  }
  return "?";
}

const char* SchemaTypeNoun(const std::string& t) {
  if (t == "null") return "null";
  if (t == "boolean") return "a boolean (true or false)";
  if (t == "integer") return "an integer";
  if (t == "number") return "a number";
  if (t == "string") return "a string";
  if (t == "array") return "a list";
  if (t == "object") return "a mapping";
  return "?";
}

bool TypeMatches(const std::string& want, JType have) {
  if (want == "null") return have == JType::kNull;
  if (want == "boolean") return have == JType::kBool;
  if (want == "integer") return have == JType::kInteger;
  if (want == "number") return have == JType::kInteger || have == JType::kNumber;
  if (want == "string") return have == JType::kString;
  if (want == "array") return have == JType::kArray;
  if (want == "object") return have == JType::kObject;
  return false;
}

// Printable, bounded rendering of a user value for messages.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  size_t n = 0;
  for (char c : s) {
    if (++n > 48) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Render(const Typed& t, const YAML::Node& n) {
  switch (t.type) {
    case JType::kString: return Quote(t.str);
    case JType::kInteger:
    case JType::kNumber:
    case JType::kBool: return n.Scalar().size() > 48 ? Quote(n.Scalar()) : n.Scalar();
    case JType::kNull: return "nothing (null)";
    default: return TypeNoun(t.type);
  }
}

std::string FormatNumber(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return fmt::format("{}", static_cast<int64_t>(d));
  return fmt::format("{}", d);
}

std::string JsonLiteral(const json& j) {
  if (j.is_string()) return Quote(j.get<std::string>());
  return j.dump();
}

bool EqualsJson(const Typed& t, const json& j) {
  switch (t.type) {
    case JType::kNull: return j.is_null();
    case JType::kBool: return j.is_boolean() && j.get<bool>() == t.b;
    case JType::kInteger:
    case JType::kNumber: return j.is_number() && j.get<double>() == t.num;
    case JType::kString: return j.is_string() && j.get<std::string>() == t.str;
    default: return false;  // const/enum of containers are not used by our schemas
  }
}

// Code points, as JSON Schema counts string length.
size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

constexpr size_t kMaxPatternInput = 4096;

const std::set<std::string>& KeywordSet() {
  static const std::set<std::string> k = {
      "$schema", "$id", "$defs", "$ref", "title", "description", "default", "type",
      "const", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
      "exclusiveMinimum", "exclusiveMaximum", "properties", "required",
      "additionalProperties", "propertyNames", "minProperties", "maxProperties",
      "items", "minItems", "maxItems", "oneOf", "anyOf", "not"};
  return k;
}

}  // namespace

struct SchemaValidator::Impl {
  json root;
  std::map<const json*, std::regex> patterns;
  std::map<const json*, std::string> def_names;  // $defs entries by address

  struct Walk {
    int nodes = 0;
    bool aborted = false;
    std::vector<Diagnostic>* out = nullptr;
  };

  Status CompileNode(const json& s, const std::string& where);
  const json* Resolve(const std::string& ref) const;
  void Check(const YAML::Node& n, const json& s, const std::string& path, int depth,
             const YAML::Mark& parent_mark, Walk& w) const;
  void CheckObject(const YAML::Node& n, const json& s, const std::string& path, int depth,
                   const YAML::Mark& mark, Walk& w) const;
  void CheckOneOf(const YAML::Node& n, const Typed& t, const json& s, const std::string& path,
                  int depth, const YAML::Mark& mark, Walk& w) const;
  bool Passes(const YAML::Node& n, const json& s, const std::string& path, int depth,
              const YAML::Mark& mark, Walk& w, std::vector<Diagnostic>* errs) const;

  static void Add(Walk& w, const YAML::Mark& m, const std::string& path, std::string msg) {
    Diagnostic d;
    d.line = m.line >= 0 ? m.line + 1 : 0;
    d.column = m.column >= 0 ? m.column + 1 : 0;
    d.path = path;
    d.message = std::move(msg);
    w.out->push_back(std::move(d));
  }
};

const std::vector<std::string>& SchemaValidator::SupportedKeywords() {
  static const std::vector<std::string> v(KeywordSet().begin(), KeywordSet().end());
  return v;
}

SchemaValidator::SchemaValidator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaValidator::~SchemaValidator() = default;

const json* SchemaValidator::Impl::Resolve(const std::string& ref) const {
  if (ref.empty() || ref[0] != '#') return nullptr;
  try {
    const json& target = root.at(json::json_pointer(ref.substr(1)));
    return &target;
  } catch (const std::exception&) {
    return nullptr;
  }
}

Status SchemaValidator::Impl::CompileNode(const json& s, const std::string& where) {
  if (s.is_boolean()) return Status::OK();
  if (!s.is_object()) return Status::InvalidArgument(where + ": schema must be an object or boolean");
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (!KeywordSet().count(it.key())) {
      return Status::InvalidArgument(where + ": keyword \"" + it.key() +
                                     "\" is not supported by qstor's validator");
    }
  }
  if (s.contains("$ref")) {
    if (!s["$ref"].is_string() || Resolve(s["$ref"].get<std::string>()) == nullptr) {
      return Status::InvalidArgument(where + ": $ref " + s["$ref"].dump() + " does not resolve");
    }
  }
  if (s.contains("pattern")) {
    try {
      patterns.emplace(&s, std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript));
    } catch (const std::exception& e) {
      return Status::InvalidArgument(where + ": pattern does not compile: " + e.what());
    }
  }
  for (const char* key : {"properties", "$defs"}) {
    if (s.contains(key)) {
      for (auto it = s[key].begin(); it != s[key].end(); ++it) {
        QSTOR_RETURN_IF_ERROR(CompileNode(it.value(), where + "/" + key + "/" + it.key()));
      }
    }
  }
  for (const char* key : {"additionalProperties", "propertyNames", "items", "not"}) {
    if (s.contains(key)) QSTOR_RETURN_IF_ERROR(CompileNode(s[key], where + "/" + key));
  }
  for (const char* key : {"oneOf", "anyOf"}) {
    if (s.contains(key)) {
      for (size_t i = 0; i < s[key].size(); ++i) {
        QSTOR_RETURN_IF_ERROR(CompileNode(s[key][i], fmt::format("{}/{}/{}", where, key, i)));
      }
    }
  }
  return Status::OK();
}

Result<std::shared_ptr<const SchemaValidator>> SchemaValidator::Compile(const json& schema) {
  auto impl = std::make_unique<Impl>();
  impl->root = schema;
  Status st = impl->CompileNode(impl->root, "#");
  if (st.ok() && impl->root.is_object() && impl->root.contains("$defs")) {
    for (auto it = impl->root["$defs"].begin(); it != impl->root["$defs"].end(); ++it) {
      impl->def_names[&it.value()] = it.key();
    }
  }
  if (!st.ok()) return st;
  return std::shared_ptr<const SchemaValidator>(new SchemaValidator(std::move(impl)));
}

void SchemaValidator::Validate(const YAML::Node& doc, std::vector<Diagnostic>* out) const {
  Impl::Walk w;
  w.out = out;
  impl_->Check(doc, impl_->root, "", 0, doc.Mark(), w);
}

bool SchemaValidator::Impl::Passes(const YAML::Node& n, const json& s, const std::string& path,
                                   int depth, const YAML::Mark& mark, Walk& w,
                                   std::vector<Diagnostic>* errs) const {
  Walk sub;
  sub.nodes = w.nodes;
  sub.out = errs;
  Check(n, s, path, depth, mark, sub);
  w.nodes = sub.nodes;
  if (sub.aborted) {
    w.aborted = true;
  }
  return errs->empty();
}

void SchemaValidator::Impl::Check(const YAML::Node& n, const json& s, const std::string& path,
                                  int depth, const YAML::Mark& parent_mark, Walk& w) const {
  if (w.aborted) return;
  if (++w.nodes > kMaxNodes) {
    w.aborted = true;
    Add(w, parent_mark, path,
        fmt::format("document too large: more than {} values to check (aliases of aliases?)",
                    kMaxNodes));
    return;
  }
  YAML::Mark mark = n.Mark();
  if (mark.line < 0) mark = parent_mark;
  if (depth > kMaxDepth) {
    w.aborted = true;
    Add(w, mark, path, fmt::format("nested deeper than {} levels", kMaxDepth));
    return;
  }
  if (s.is_boolean()) {
    if (!s.get<bool>()) Add(w, mark, path, "is not allowed here");
    return;
  }
  const Typed t = Classify(n);

  if (s.contains("$ref")) {
    const json* target = Resolve(s["$ref"].get<std::string>());
    if (target != nullptr) Check(n, *target, path, depth + 1, mark, w);
  }

  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_string()) types.push_back(s["type"].get<std::string>());
    else for (const auto& x : s["type"]) types.push_back(x.get<std::string>());
    bool ok = std::any_of(types.begin(), types.end(),
                          [&](const std::string& x) { return TypeMatches(x, t.type); });
    if (!ok) {
      std::string want;
      for (size_t i = 0; i < types.size(); ++i) {
        if (i) want += " or ";
        want += SchemaTypeNoun(types[i]);
      }
      std::string got = Render(t, n);
      if (t.type == JType::kString || t.type == JType::kInteger || t.type == JType::kNumber ||
          t.type == JType::kBool) {
        got += fmt::format(" ({})", TypeNoun(t.type));
      }
      Add(w, mark, path, "must be " + want + ", got " + got);
      return;  // the remaining keywords would only repeat the type error
    }
  }

  if (s.contains("const") && !EqualsJson(t, s["const"])) {
    Add(w, mark, path, "must be " + JsonLiteral(s["const"]) + ", got " + Render(t, n));
  }

  if (s.contains("enum")) {
    bool ok = false;
    std::vector<std::string> names;
    for (const auto& e : s["enum"]) {
      if (EqualsJson(t, e)) ok = true;
      names.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
    if (!ok) {
      std::string list;
      for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
      std::string msg = "must be one of " + list + "; got " + Render(t, n);
      if (t.type == JType::kString) {
        std::string best = ClosestMatch(t.str, names);
        if (!best.empty()) msg += " (did you mean \"" + best + "\"?)";
      }
      Add(w, mark, path, msg);
    }
  }

  if (t.type == JType::kString) {
    size_t len = Utf8Length(t.str);
    if (s.contains("minLength") && len < s["minLength"].get<size_t>()) {
      Add(w, mark, path, fmt::format("must be at least {} characters long, got {}",
                                     s["minLength"].get<size_t>(), Quote(t.str)));
    }
    if (s.contains("maxLength") && len > s["maxLength"].get<size_t>()) {
      Add(w, mark, path, fmt::format("must be at most {} characters long, has {}",
                                     s["maxLength"].get<size_t>(), len));
    }
    auto pat = patterns.find(&s);
    if (pat != patterns.end()) {
      if (t.str.size() > kMaxPatternInput) {
        Add(w, mark, path, fmt::format("is too long ({} bytes) to be valid here", t.str.size()));
      } else if (!std::regex_search(t.str, pat->second)) {
        std::string what = s.contains("description") ? s["description"].get<std::string>() : "";
        Add(w, mark, path,
            fmt::format("{} is not valid here{}{}", Quote(t.str), what.empty() ? "" : ": ", what));
        if (auto def = def_names.find(&s); def != def_names.end()) {
          w.out->back().def = def->second;
          w.out->back().value = t.str;
        }
      }
    }
  }

  if (t.type == JType::kInteger || t.type == JType::kNumber) {
    if (std::isnan(t.num)) {
      Add(w, mark, path, "must be a number, got .nan");
    } else {
      if (s.contains("minimum") && t.num < s["minimum"].get<double>()) {
        Add(w, mark, path, fmt::format("must be at least {}, got {}",
                                       FormatNumber(s["minimum"].get<double>()), Render(t, n)));
      }
      if (s.contains("maximum") && t.num > s["maximum"].get<double>()) {
        Add(w, mark, path, fmt::format("must be at most {}, got {}",
                                       FormatNumber(s["maximum"].get<double>()), Render(t, n)));
      }
      if (s.contains("exclusiveMinimum") && t.num <= s["exclusiveMinimum"].get<double>()) {
        Add(w, mark, path,
            fmt::format("must be greater than {}, got {}",
                        FormatNumber(s["exclusiveMinimum"].get<double>()), Render(t, n)));
      }
      if (s.contains("exclusiveMaximum") && t.num >= s["exclusiveMaximum"].get<double>()) {
        Add(w, mark, path,
            fmt::format("must be less than {}, got {}",
                        FormatNumber(s["exclusiveMaximum"].get<double>()), Render(t, n)));
      }
    }
  }

  if (t.type == JType::kObject) CheckObject(n, s, path, depth, mark, w);

  if (t.type == JType::kArray) {
    size_t count = n.size();
    if (s.contains("minItems") && count < s["minItems"].get<size_t>()) {
      Add(w, mark, path, fmt::format("must have at least {} entries, has {}",
                                     s["minItems"].get<size_t>(), count));
    }
    if (s.contains("maxItems") && count > s["maxItems"].get<size_t>()) {
      Add(w, mark, path, fmt::format("must have at most {} entries, has {}",
                                     s["maxItems"].get<size_t>(), count));
    }
    if (s.contains("items")) {
      size_t i = 0;
      for (const auto& item : n) {
        Check(item, s["items"], fmt::format("{}[{}]", path, i), depth + 1, mark, w);
        if (w.aborted) return;
        ++i;
      }
    }
  }

  if (s.contains("oneOf")) CheckOneOf(n, t, s, path, depth, mark, w);

  if (s.contains("anyOf")) {
    bool any = false;
    for (const auto& branch : s["anyOf"]) {
      std::vector<Diagnostic> errs;
      if (Passes(n, branch, path, depth + 1, mark, w, &errs)) any = true;
    }
    if (!any && !w.aborted) Add(w, mark, path, "matches none of the allowed forms");
  }

  if (s.contains("not")) {
    std::vector<Diagnostic> errs;
    if (Passes(n, s["not"], path, depth + 1, mark, w, &errs) && !w.aborted) {
      std::string what = s["not"].contains("description")
                             ? s["not"]["description"].get<std::string>()
                             : "this form";
      Add(w, mark, path, "must not have " + what);
    }
  }
}

void SchemaValidator::Impl::CheckObject(const YAML::Node& n, const json& s,
                                        const std::string& path, int depth,
                                        const YAML::Mark& mark, Walk& w) const {
  std::map<std::string, YAML::Mark> seen;
  std::vector<std::string> allowed;
  if (s.contains("properties")) {
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
      allowed.push_back(it.key());
    }
  }
  size_t count = 0;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (w.aborted) return;
    ++count;
    // Copies: the iterator's pair is a temporary; Nodes are cheap handles.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    YAML::Mark key_mark = key_node.Mark().line >= 0 ? key_node.Mark() : mark;
    if (!key_node.IsScalar()) {
      Add(w, key_mark, path, "keys must be plain words, not " +
                                 std::string(TypeNoun(Classify(key_node).type)));
      continue;
    }
    const std::string key = key_node.Scalar();
    const std::string child = path.empty() ? key : path + "." + key;
    auto [pos, inserted] = seen.emplace(key, key_mark);
    if (!inserted) {
      Add(w, key_mark, path,
          fmt::format("duplicate key {} (first written at line {})", Quote(key),
                      pos->second.line + 1));
      continue;
    }
    if (s.contains("propertyNames")) {
      YAML::Node as_string(key);
      std::vector<Diagnostic> errs;
      if (!Passes(as_string, s["propertyNames"], child, depth + 1, key_mark, w, &errs)) {
        Add(w, key_mark, child, "key " + Quote(key) + " is not a valid name here");
      }
    }
    if (s.contains("properties") && s["properties"].contains(key)) {
      Check(value, s["properties"][key], child, depth + 1, key_mark, w);
    } else if (s.contains("additionalProperties")) {
      const json& ap = s["additionalProperties"];
      if (ap.is_boolean() && !ap.get<bool>()) {
        std::string msg = "unknown key " + Quote(key);
        std::string best = ClosestMatch(key, allowed);
        if (!best.empty()) msg += " (did you mean \"" + best + "\"?)";
        if (!allowed.empty()) {
          msg += "; allowed here: ";
          for (size_t i = 0; i < allowed.size(); ++i) msg += (i ? ", " : "") + allowed[i];
        }
        Add(w, key_mark, child, msg);
      } else {
        Check(value, ap, child, depth + 1, key_mark, w);
      }
    }
  }
  if (s.contains("required")) {
    for (const auto& r : s["required"]) {
      const std::string key = r.get<std::string>();
      if (!seen.count(key)) {
        Add(w, mark, path,
            "missing required key " + Quote(key));
      }
    }
  }
  if (s.contains("minProperties") && count < s["minProperties"].get<size_t>()) {
    Add(w, mark, path, fmt::format("must have at least {} key(s), has {}",
                                   s["minProperties"].get<size_t>(), count));
  }
  if (s.contains("maxProperties") && count > s["maxProperties"].get<size_t>()) {
    std::string keys;
    for (const auto& [k, m] : seen) keys += (keys.empty() ? "" : ", ") + k;
    Add(w, mark, path, fmt::format("must have at most {} key(s), has {}: {}",
                                   s["maxProperties"].get<size_t>(), count, keys));
  }
}

void SchemaValidator::Impl::CheckOneOf(const YAML::Node& n, const Typed& t, const json& s,
                                       const std::string& path, int depth,
                                       const YAML::Mark& mark, Walk& w) const {
  const json& branches = s["oneOf"];
  std::vector<std::vector<Diagnostic>> errs(branches.size());
  std::vector<size_t> matched;
  for (size_t i = 0; i < branches.size(); ++i) {
    if (Passes(n, branches[i], path, depth + 1, mark, w, &errs[i])) matched.push_back(i);
    if (w.aborted) return;
  }
  if (matched.size() == 1) return;

  // Branches that only require one key ("exactly one of country, city, ...").
  bool key_choice = true;
  std::vector<std::string> keys;
  for (const auto& b : branches) {
    if (!b.is_object() || !b.contains("required") || b["required"].size() != 1) {
      key_choice = false;
      break;
    }
    keys.push_back(b["required"][0].get<std::string>());
  }
  auto join = [](const std::vector<std::string>& v, const char* last) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += (i + 1 == v.size()) ? last : ", ";
      out += v[i];
    }
    return out;
  };
  if (key_choice) {
    std::vector<std::string> found;
    for (size_t i : matched) found.push_back(keys[i]);
    Add(w, mark, path,
        "needs exactly one of " + join(keys, " or ") + "; " +
            (found.empty() ? std::string("found none") : "found " + join(found, " and ")));
    return;
  }

  if (matched.size() > 1) {
    Add(w, mark, path, "is ambiguous: it matches more than one allowed form");
    return;
  }
  // None matched: if exactly one branch accepts this kind of value, its
  // errors are the useful ones.
  std::vector<size_t> compatible;
  std::vector<std::string> forms;
  for (size_t i = 0; i < branches.size(); ++i) {
    const json& b = branches[i];
    bool ok = true;
    if (b.contains("const")) {
      forms.push_back(JsonLiteral(b["const"]));
      const json& c = b["const"];
      ok = (c.is_string() && t.type == JType::kString) || (c.is_number() && (t.type == JType::kInteger || t.type == JType::kNumber)) ||
           (c.is_boolean() && t.type == JType::kBool);
    } else if (b.contains("type") && b["type"].is_string()) {
      forms.push_back(SchemaTypeNoun(b["type"].get<std::string>()));
      ok = TypeMatches(b["type"].get<std::string>(), t.type);
    } else {
      forms.push_back(b.contains("description") ? b["description"].get<std::string>() : "a form");
    }
    if (ok) compatible.push_back(i);
  }
  if (compatible.size() == 1 && !errs[compatible[0]].empty()) {
    for (auto& d : errs[compatible[0]]) w.out->push_back(d);
    return;
  }
  std::string got = Render(t, n);
  Add(w, mark, path, "must be " + join(forms, " or ") + ", got " + got);
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                          std::tolower(static_cast<unsigned char>(b[j - 1]))
                                      ? 0
                                      : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  if (word.size() > 64) return "";
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace qstor::reconciler
