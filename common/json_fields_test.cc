#include "common/json_fields.h"

#include <gtest/gtest.h>

namespace qstor {
namespace {

using nlohmann::json;

TEST(JsonIntegerTest, AcceptsExactlyTheIntegersTheFieldHolds) {
  uint64_t u = 7;
  EXPECT_TRUE(JsonInteger(json::parse("18446744073709551615"), &u));
  EXPECT_EQ(u, UINT64_MAX);
  EXPECT_TRUE(JsonInteger(json(0), &u));
  EXPECT_EQ(u, 0u);
  u = 7;
  for (const char* bad : {"-1", "1e300", "1.5", "\"12\"", "true", "null", "[]", "{}"}) {
    EXPECT_FALSE(JsonInteger(json::parse(bad), &u)) << bad;
    EXPECT_EQ(u, 7u) << "untouched on " << bad;
  }
  uint32_t u32 = 0;
  EXPECT_TRUE(JsonInteger(json(4294967295ull), &u32));
  EXPECT_FALSE(JsonInteger(json(4294967296ull), &u32)) << "2^32 must not be cut to 0";
  int i = 0;
  EXPECT_TRUE(JsonInteger(json(-5), &i));
  EXPECT_EQ(i, -5);
  EXPECT_FALSE(JsonInteger(json(int64_t{1} << 40), &i));
  EXPECT_FALSE(JsonInteger(json(-(int64_t{1} << 40)), &i));
  int64_t i64 = 0;
  EXPECT_FALSE(JsonInteger(json(UINT64_MAX), &i64)) << "above INT64_MAX";
  EXPECT_TRUE(JsonInteger(json(INT64_MIN), &i64));
  EXPECT_EQ(i64, INT64_MIN);
}

TEST(JsonIntegerTest, OrThrowNamesTheField) {
  EXPECT_EQ(JsonIntegerOrThrow<uint32_t>(json(12), "index"), 12u);
  try {
    (void)JsonIntegerOrThrow<uint32_t>(json(-1), "index");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("index: -1 is not an integer"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace qstor
