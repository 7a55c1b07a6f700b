// GoogleTest assertions on absl::Status / absl::StatusOr (testonly).
//
//   SLAYER_ASSERT_OK(PspForward(x, eps, ts, &y));
//   SLAYER_EXPECT_OK(status);
#ifndef SLAYER_OPS_STATUS_TESTING_H_
#define SLAYER_OPS_STATUS_TESTING_H_

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "slayer/core/status.h"  // SLAYER_RETURN_IF_ERROR for test lambdas

namespace slayer {
namespace ops {
namespace testing {

inline const absl::Status& ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace testing
}  // namespace ops
}  // namespace slayer

#define SLAYER_ASSERT_OK(expr)                                              \
  do {                                                                      \
    const ::absl::Status slayer_s_ = ::slayer::ops::testing::ToStatus(expr); \
    ASSERT_TRUE(slayer_s_.ok()) << #expr << ": " << slayer_s_;              \
  } while (false)

#define SLAYER_EXPECT_OK(expr)                                              \
  do {                                                                      \
    const ::absl::Status slayer_s_ = ::slayer::ops::testing::ToStatus(expr); \
    EXPECT_TRUE(slayer_s_.ok()) << #expr << ": " << slayer_s_;              \
  } while (false)

#endif  // SLAYER_OPS_STATUS_TESTING_H_
