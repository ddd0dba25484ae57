// The manifest corpus (tests/manifests/expected.tsv) and the typed manifest.
#include "reconciler/manifest.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace qstor::reconciler {
namespace {

namespace fs = std::filesystem;
const fs::path kCorpus = fs::path(QSTOR_SOURCE_DIR) / "tests" / "manifests";

struct Row {
  std::string file, verdict, at, contains;
};

std::vector<Row> ReadExpectations() {
  std::vector<Row> rows;
  std::ifstream in(kCorpus / "expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    Row r;
    std::getline(ss, r.file, '\t');
    std::getline(ss, r.verdict, '\t');
    std::getline(ss, r.at, '\t');
    std::getline(ss, r.contains, '\t');
    rows.push_back(r);
  }
  return rows;
}

std::string Dump(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += d.ToString() + "\n";
  return s;
}

TEST(ManifestCorpusTest, EveryFileIsListedAndThereAreAtLeast30BadCases) {
  std::set<std::string> listed;
  int bad = 0;
  for (const auto& r : ReadExpectations()) {
    listed.insert(r.file);
    if (r.verdict != "valid") ++bad;
  }
  for (const char* dir : {"good", "bad", "semantic"}) {
    for (const auto& e : fs::directory_iterator(kCorpus / dir)) {
      std::string rel = std::string(dir) + "/" + e.path().filename().string();
      EXPECT_TRUE(listed.count(rel)) << rel << " is not in expected.tsv";
    }
  }
  EXPECT_GE(bad, 30);
}

TEST(ManifestCorpusTest, EachCaseGivesItsVerdictAndLocatedMessage) {
  auto rows = ReadExpectations();
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    SCOPED_TRACE(row.file);
    LoadResult r = LoadManifestFile((kCorpus / row.file).string());
    if (row.verdict == "valid") {
      EXPECT_TRUE(r.ok()) << Dump(r);
      EXPECT_FALSE(r.manifests.empty());
      continue;
    }
    ASSERT_FALSE(r.ok()) << "expected errors";
    EXPECT_TRUE(r.manifests.empty());
    int line = 0, col = 0;
    ASSERT_EQ(std::sscanf(row.at.c_str(), "%d:%d", &line, &col), 2) << row.at;
    bool found = false;
    for (const auto& d : r.diagnostics) {
      if (d.severity == ManifestDiagnostic::Severity::kError && d.line == line &&
          d.column == col && d.message.find(row.contains) != std::string::npos) {
        found = true;
      }
      // Every diagnostic names the file and, but for whole-file problems, a line.
      EXPECT_EQ(d.file, (kCorpus / row.file).string());
    }
    EXPECT_TRUE(found) << "no error at " << row.at << " containing \"" << row.contains
                       << "\"; got:\n" << Dump(r);
  }
}

TEST(ManifestTest, ExamplesAreValid) {
  for (const char* f : {"storage.yaml", "multi-location.yaml"}) {
    LoadResult r = LoadManifestFile((fs::path(QSTOR_SOURCE_DIR) / "examples" / f).string());
    EXPECT_TRUE(r.ok()) << f << "\n" << Dump(r);
  }
}

TEST(ManifestTest, TypedValuesAndDefaults) {
  LoadResult r = LoadManifestFile((kCorpus / "good/full.yaml").string());
  ASSERT_TRUE(r.ok()) << Dump(r);
  ASSERT_EQ(r.manifests.size(), 1u);
  const Manifest& m = r.manifests[0];
  EXPECT_EQ(m.name, "full-example-1");
  EXPECT_EQ(m.labels.at("cost-center/eu"), "42");
  EXPECT_EQ(m.network, "main");
  EXPECT_EQ(m.capacity_bytes, 3ULL << 39);
  EXPECT_EQ(m.data_shards, 10);
  EXPECT_EQ(m.parity_shards, 4);
  EXPECT_TRUE(m.distinct_farms);
  EXPECT_FALSE(m.distinct_countries);
  EXPECT_EQ(m.metadata_backends, 5);
  EXPECT_FALSE(m.random_locations);
  ASSERT_EQ(m.select.size(), 5u);
  EXPECT_EQ(m.select[0].place.kind, PlaceKind::kCountry);
  EXPECT_EQ(m.select[0].count, 2);
  EXPECT_EQ(m.select[1].weight, 3.0);
  EXPECT_EQ(m.select[4].place.kind, PlaceKind::kNode);
  EXPECT_EQ(m.select[4].place.id, 7u);
  ASSERT_EQ(m.exclude.size(), 2u);
  EXPECT_EQ(m.exclude[1].id, 99u);
  EXPECT_EQ(*m.budget.max_monthly_tft, 120.5);
  EXPECT_EQ(m.budget.prepaid_months, 6);
  EXPECT_EQ(m.budget.on_exceed, Manifest::Budget::OnExceed::kWarn);
  EXPECT_EQ(m.payment.method, Manifest::Payment::Method::kConnect);
  EXPECT_EQ(m.payment.timeout, std::chrono::minutes(20));
  EXPECT_TRUE(m.mount.enabled);
  EXPECT_EQ(m.mount.cache_bytes, 4'000'000'000ULL);
  EXPECT_EQ(m.mount.durability, Manifest::Mount::Durability::kGrid);
  EXPECT_FALSE(m.mount.compression);

  LoadResult minimal = LoadManifestFile((kCorpus / "good/minimal.yaml").string());
  ASSERT_TRUE(minimal.ok());
  const Manifest& d = minimal.manifests[0];
  EXPECT_TRUE(d.random_locations);
  EXPECT_EQ(d.metadata_backends, 4);
  EXPECT_EQ(d.payment.method, Manifest::Payment::Method::kWallet);
  EXPECT_FALSE(d.mount.enabled);
  EXPECT_EQ(d.budget.prepaid_months, 1);
}

TEST(ManifestTest, PaymentQrFlow) {
  const std::string head =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: qr\n"
      "spec:\n  network: devnet\n  capacity: 1GiB\n  redundancy:\n    dataShards: 2\n"
      "    parityShards: 1\n";
  LoadResult def = LoadManifestText(head + "  payment: {method: connect}\n", "d.yaml");
  ASSERT_TRUE(def.ok()) << Dump(def);
  EXPECT_EQ(def.manifests[0].payment.qr, Manifest::Payment::Qr::kUrl);
  EXPECT_FALSE(def.manifests[0].ToJson()["spec"]["payment"].contains("qr"))
      << "the default leaves the canonical form (and so the default seed) as it was";
  LoadResult in = LoadManifestText(head + "  payment: {method: connect, qr: inline}\n", "i.yaml");
  ASSERT_TRUE(in.ok()) << Dump(in);
  EXPECT_EQ(in.manifests[0].payment.qr, Manifest::Payment::Qr::kInline);
  EXPECT_EQ(in.manifests[0].ToJson()["spec"]["payment"]["qr"], "inline");
  EXPECT_TRUE(in.diagnostics.empty()) << Dump(in);
  LoadResult url = LoadManifestText(head + "  payment: {method: connect, qr: url}\n", "u.yaml");
  ASSERT_TRUE(url.ok()) << Dump(url);
  EXPECT_EQ(url.manifests[0].payment.qr, Manifest::Payment::Qr::kUrl);
  LoadResult bad = LoadManifestText(head + "  payment: {method: connect, qr: carrier-pigeon}\n", "b.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Dump(bad).find("spec.payment.qr: must be one of url, inline"), std::string::npos) << Dump(bad);
  LoadResult wallet = LoadManifestText(head + "  payment: {method: wallet, qr: inline}\n", "w.yaml");
  ASSERT_TRUE(wallet.ok()) << Dump(wallet);
  EXPECT_NE(Dump(wallet).find("spec.payment.qr only applies to method connect"), std::string::npos)
      << Dump(wallet);
}

TEST(ManifestTest, NormalisedJsonIsStableAcrossSpellings) {
  // The same manifest in block style and in JSON syntax normalises the same.
  const std::string block =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: same\n"
      "spec:\n  network: devnet\n  capacity: 1024MiB\n  redundancy:\n    dataShards: 2\n"
      "    parityShards: 1\n";
  const std::string flow =
      R"({"apiVersion":"qstor.threefold.io/v1","kind":"Storage","metadata":{"name":"same"},)"
      R"("spec":{"network":"devnet","capacity":"1GiB","redundancy":{"dataShards":2,"parityShards":1}}})";
  LoadResult a = LoadManifestText(block, "a.yaml");
  LoadResult b = LoadManifestText(flow, "b.yaml");
  ASSERT_TRUE(a.ok()) << Dump(a);
  ASSERT_TRUE(b.ok()) << Dump(b);
  EXPECT_EQ(a.manifests[0].ToJson(), b.manifests[0].ToJson());
  EXPECT_EQ(a.manifests[0].ToJson()["spec"]["capacity"], "1 GiB");
}

TEST(ManifestTest, ReportsAllErrorsNotJustTheFirst) {
  const std::string text =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: Bad_Name\n"
      "spec:\n  network: moon\n  capacity: 5 bananas\n  redundancy:\n    dataShards: 0\n"
      "    parityShards: 1\n  colour: blue\n";
  LoadResult r = LoadManifestText(text, "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics.size(), 5u) << Dump(r);
  // In file order.
  for (size_t i = 1; i < r.diagnostics.size(); ++i) {
    EXPECT_LE(r.diagnostics[i - 1].line, r.diagnostics[i].line);
  }
}

TEST(ManifestTest, HugeFileIsRefusedWithOneMessage) {
  std::string text = "apiVersion: qstor.threefold.io/v1\n# ";
  text.append(kMaxManifestBytes, 'x');
  LoadResult r = LoadManifestText(text, "huge.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("limited to"), std::string::npos);

  fs::path p = fs::temp_directory_path() / "qstor-huge-manifest.yaml";
  {
    std::ofstream out(p, std::ios::binary);
    out << text;
  }
  LoadResult f = LoadManifestFile(p.string());
  fs::remove(p);
  ASSERT_EQ(f.diagnostics.size(), 1u);
  EXPECT_NE(f.diagnostics[0].message.find("larger than"), std::string::npos);
}

TEST(ManifestTest, DeepNestingAndAliasFloodsAreBounded) {
  std::string deep = "a: " + std::string(50000, '[') + std::string(50000, ']') + "\n";
  LoadResult r = LoadManifestText(deep, "deep.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_GT(r.diagnostics[0].line, 0);

  // 10 levels of 10 aliases each: 10^10 nodes if expanded.
  std::string bomb =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata:\n  name: x\n  labels:\n"
      "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    bomb += "    a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += (j ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  LoadResult b = LoadManifestText(bomb, "bomb.yaml");
  EXPECT_FALSE(b.ok());
  EXPECT_LT(b.diagnostics.size(), 64u);
}

TEST(ManifestTest, InvalidUtf8IsLocated) {
  LoadResult r = LoadManifestText("apiVersion: v1\nkind: \xc3\x28\n", "u.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].line, 2);
  EXPECT_EQ(r.diagnostics[0].column, 7);
  EXPECT_NE(r.diagnostics[0].message.find("UTF-8"), std::string::npos);
}

TEST(ManifestTest, NamesMustBeUniqueAcrossFiles) {
  fs::path dir = fs::temp_directory_path() / "qstor-manifest-names";
  fs::create_directories(dir);
  const std::string text =
      "apiVersion: qstor.threefold.io/v1\nkind: Storage\nmetadata: {name: dup}\n"
      "spec: {network: devnet, capacity: 1GiB, redundancy: {dataShards: 1, parityShards: 1}}\n";
  for (const char* f : {"a.yaml", "b.yaml"}) std::ofstream(dir / f) << text;
  LoadResult r = LoadManifestFiles({(dir / "a.yaml").string(), (dir / "b.yaml").string()});
  fs::remove_all(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Dump(r).find("also used at"), std::string::npos) << Dump(r);
}

TEST(ManifestTest, MissingFileIsAnErrorNotACrash) {
  LoadResult r = LoadManifestFile("/nonexistent/storage.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace qstor::reconciler
