#include "slayer/core/status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slayer {
namespace {

absl::StatusOr<int> Parse(int v) {
  if (v < 0) return absl::InvalidArgumentError(absl::StrCat("negative: ", v));
  return v * 2;
}

absl::Status Check(int v) {
  if (v > 10) return absl::OutOfRangeError("too big");
  return absl::OkStatus();
}

absl::StatusOr<int> Chain(int v) {
  SLAYER_RETURN_IF_ERROR(Check(v));
  SLAYER_ASSIGN_OR_RETURN(int doubled, Parse(v));
  SLAYER_ASSIGN_OR_RETURN(const int again, Parse(doubled));
  return again + 1;
}

TEST(StatusMacrosTest, PassesValuesThrough) {
  absl::StatusOr<int> r = Chain(3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 13);
}

TEST(StatusMacrosTest, ReturnsFirstError) {
  EXPECT_EQ(Chain(11).status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<int> r = Chain(-2);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "negative: -2");
}

}  // namespace
}  // namespace slayer
