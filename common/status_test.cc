#include "common/status.h"

#include <gtest/gtest.h>

namespace qstor {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(StatusTest, CarriesCodeAndMessageWithContext) {
  Status s = Status::Timeout("no reply after 2s").WithContext("backend 127.0.0.1:9901");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kTimeout);
  EXPECT_EQ(s.ToString(), "timeout: backend 127.0.0.1:9901: no reply after 2s");
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = Status::NotFound("key k");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kNotFound);
}

Status Fails() { return Status::IOError("disk"); }
Status Chain() {
  QSTOR_RETURN_IF_ERROR(Status::OK());
  QSTOR_RETURN_IF_ERROR(Fails());
  return Status::Internal("not reached");
}

TEST(StatusTest, ReturnIfErrorPropagatesFirstError) {
  EXPECT_EQ(Chain().code(), Status::Code::kIOError);
}

}  // namespace
}  // namespace qstor
