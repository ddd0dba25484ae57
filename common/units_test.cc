#include "common/units.h"

#include <gtest/gtest.h>

namespace qstor {
namespace {

TEST(UnitsTest, ParsesBinaryAndDecimalSizes) {
  EXPECT_EQ(*ParseSize("500GiB"), 500ULL << 30);
  EXPECT_EQ(*ParseSize("2TB"), 2'000'000'000'000ULL);
  EXPECT_EQ(*ParseSize("1.5 TiB"), 3ULL << 39);
  EXPECT_EQ(*ParseSize("4096B"), 4096ULL);
  EXPECT_EQ(*ParseSize("1KB"), 1000ULL);
  EXPECT_EQ(*ParseSize("1KiB"), 1024ULL);
}

TEST(UnitsTest, RefusesBadSizesWithAReason) {
  struct Case { const char* in; const char* needle; };
  for (const Case& c : std::initializer_list<Case>{
           {"500", "has no unit"},
           {"GiB", "must start with a number"},
           {"0GiB", "greater than zero"},
           {"10gib", "did you mean \"GiB\""},
           {"10 parsecs", "unknown unit"},
           {"1.", "digits after '.'"},
           {"0.3B", "whole number of bytes"},
           {"99999999999999999999GiB", "too large"},
           {"20000000PiB", "too large"},
           {"-5GiB", "must start with a number"},
       }) {
    auto r = ParseSize(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos)
        << c.in << " -> " << r.status().message();
  }
}

TEST(UnitsTest, FormatsUnambiguously) {
  EXPECT_EQ(FormatSize(500ULL << 30), "500 GiB");
  EXPECT_EQ(FormatSize(1536ULL << 20), "1536 MiB");
  EXPECT_EQ(FormatSize(2'000'000'000'000ULL), "2 TB (1.82 TiB)");
  EXPECT_EQ(FormatSize(123'456'789'012ULL), "114.98 GiB (123456789012 bytes)");
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(1000), "1000 B");
}

TEST(UnitsTest, RoundTripsThroughFormat) {
  for (uint64_t v : {1ULL, 1024ULL, 5ULL << 30, 3ULL << 40, 7ULL << 20, 2'000'000'000'000ULL}) {
    std::string s = FormatSize(v);
    std::string compact;
    for (char ch : s) {
      if (ch == '(') break;
      if (ch != ' ') compact += ch;
    }
    EXPECT_EQ(*ParseSize(compact), v) << s;
  }
}

TEST(UnitsTest, Durations) {
  EXPECT_EQ(ParseDuration("30s")->count(), 30000);
  EXPECT_EQ(ParseDuration("15m")->count(), 900000);
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_FALSE(ParseDuration("5 minutes").ok());
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(900000)), "15m");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
}

}  // namespace
}  // namespace qstor
