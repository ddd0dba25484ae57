#include "reconciler/schema_validator.h"

#include <gtest/gtest.h>

#include "reconciler/manifest.h"

namespace qstor::reconciler {
namespace {

using nlohmann::json;

std::vector<Diagnostic> Check(const json& schema, const std::string& yaml) {
  auto v = SchemaValidator::Compile(schema);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  std::vector<Diagnostic> out;
  (*v)->Validate(YAML::Load(yaml), &out);
  return out;
}

TEST(SchemaValidatorTest, EmbeddedSchemaCompilesAndUsesOnlySupportedKeywords) {
  auto v = SchemaValidator::Compile(json::parse(EmbeddedSchemaText()));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
}

TEST(SchemaValidatorTest, RefusesUnsupportedKeywordsAndBadRefs) {
  auto a = SchemaValidator::Compile(json::parse(R"({"type":"object","if":{"type":"string"}})"));
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("\"if\" is not supported"), std::string::npos);
  auto b = SchemaValidator::Compile(json::parse(R"({"$ref":"#/$defs/missing"})"));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("does not resolve"), std::string::npos);
  auto c = SchemaValidator::Compile(json::parse(R"({"type":"string","pattern":"(("})"));
  EXPECT_FALSE(c.ok());
}

TEST(SchemaValidatorTest, TypesScalarsWithTheYaml12CoreSchema) {
  const json int_schema = {{"type", "integer"}};
  EXPECT_TRUE(Check(int_schema, "42").empty());
  EXPECT_TRUE(Check(int_schema, "0x2A").empty());
  EXPECT_TRUE(Check(int_schema, "0o52").empty());
  EXPECT_TRUE(Check(int_schema, "4.0").empty());  // JSON Schema: 4.0 is an integer
  EXPECT_EQ(Check(int_schema, "\"42\"").size(), 1u);  // quoted: a string
  EXPECT_EQ(Check(int_schema, "4.5").size(), 1u);
  const json bool_schema = {{"type", "boolean"}};
  EXPECT_TRUE(Check(bool_schema, "true").empty());
  EXPECT_TRUE(Check(bool_schema, "FALSE").empty());
  EXPECT_EQ(Check(bool_schema, "yes").size(), 1u);  // YAML 1.1 only: a string in 1.2
  EXPECT_EQ(Check(bool_schema, "on").size(), 1u);
  const json null_schema = {{"type", "null"}};
  EXPECT_TRUE(Check(null_schema, "~").empty());
  EXPECT_TRUE(Check(null_schema, "null").empty());
  const json str_schema = {{"type", "string"}};
  EXPECT_TRUE(Check(str_schema, "hello").empty());
  EXPECT_TRUE(Check(str_schema, "'123'").empty());
  EXPECT_EQ(Check(str_schema, "123").size(), 1u);
}

TEST(SchemaValidatorTest, LocatesErrorsAndSuggestsKeys) {
  const json schema = json::parse(R"({
    "type":"object","additionalProperties":false,"required":["alpha"],
    "properties":{"alpha":{"type":"integer","minimum":1},"beta":{"enum":["one","two"]}}})");
  auto d = Check(schema, "alpha: 0\nbeta: tow\nalpah: 3\n");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].line, 1);
  EXPECT_EQ(d[0].column, 8);
  EXPECT_EQ(d[0].path, "alpha");
  EXPECT_EQ(d[0].message, "must be at least 1, got 0");
  EXPECT_EQ(d[1].line, 2);
  EXPECT_NE(d[1].message.find("did you mean \"two\""), std::string::npos);
  EXPECT_EQ(d[2].line, 3);
  EXPECT_EQ(d[2].column, 1);
  EXPECT_NE(d[2].message.find("did you mean \"alpha\""), std::string::npos);
}

TEST(SchemaValidatorTest, OneOfPicksTheBranchOfTheRightKind) {
  const json schema = json::parse(R"({"oneOf":[{"const":"random"},
      {"type":"object","additionalProperties":false,"properties":{"a":{"type":"integer"}}}]})");
  EXPECT_TRUE(Check(schema, "random").empty());
  EXPECT_TRUE(Check(schema, "a: 1").empty());
  auto s = Check(schema, "rnadom");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].message, "must be \"random\", got \"rnadom\"");
  auto o = Check(schema, "a: x");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].path, "a");
  auto l = Check(schema, "[1, 2]");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].message, "must be \"random\" or a mapping, got a list");
}

TEST(SchemaValidatorTest, WorkIsBounded) {
  const json schema = json::parse(R"({"type":"array","items":{"type":"array","items":
      {"type":"array","items":{"type":"array","items":{"type":"array","items":{"type":"array",
      "items":{"type":"integer"}}}}}}})");
  std::string yaml = "- &a [1,1,1,1,1,1,1,1,1,1]\n";
  for (char c = 'b'; c <= 'f'; ++c) {
    yaml += std::string("- &") + c + " [";
    for (int i = 0; i < 10; ++i) yaml += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    yaml += "]\n";
  }
  auto d = Check(schema, yaml);
  ASSERT_FALSE(d.empty());
  EXPECT_NE(d.back().message.find("document too large"), std::string::npos) << d.back().message;
}

TEST(SchemaValidatorTest, EditDistanceAndClosestMatch) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(ClosestMatch("dataShard", {"dataShards", "parityShards"}), "dataShards");
  EXPECT_EQ(ClosestMatch("zzzzzz", {"dataShards", "parityShards"}), "");
}

}  // namespace
}  // namespace qstor::reconciler
