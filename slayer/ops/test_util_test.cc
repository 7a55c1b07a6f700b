#include "slayer/ops/test_util.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/status_testing.h"

namespace slayer {
namespace ops {
namespace testing {
namespace {

// L(x) = sum_i c_i x_i^2 / 2 has gradient c_i x_i.
absl::StatusOr<double> Quadratic(const Tensor& x) {
  double sum = 0;
  for (int64_t i = 0; i < x.numel(); ++i) sum += 0.5 * (i + 1) * x.data()[i] * x.data()[i];
  return sum;
}

TEST(CheckGradientTest, AcceptsTheGradientAndRejectsAWrongOne) {
  Tensor x = RandomUniform({3, 7}, 1);
  Tensor grad = Tensor::Empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) grad.data()[i] = (i + 1) * x.data()[i];
  GradientCheckOptions options;
  options.step = 0.5;
  SLAYER_EXPECT_OK(CheckGradient("quadratic", x, Quadratic, grad, options));
  grad.data()[5] *= 1.01f;  // a 1% error in one element
  absl::Status s = CheckGradient("quadratic", x, Quadratic, grad, options);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("flat index 5"));
}

TEST(CheckGradientTest, RandomDirectionsCatchErrorsOutsideProbedCoordinates) {
  Tensor x = RandomUniform({2000}, 2);
  Tensor grad = Tensor::Empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) grad.data()[i] = (i + 1) * x.data()[i];
  for (int64_t i = 0; i < x.numel(); ++i) grad.data()[i] *= 1.05f;  // 5% everywhere
  GradientCheckOptions options;
  options.step = 0.5;
  options.coordinates = 0;
  EXPECT_FALSE(CheckGradient("scaled", x, Quadratic, grad, options).ok());
}

TEST(ExpectCloseTest, NamesTheWorstElement) {
  Tensor a = Tensor::FromVector({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::FromVector({2, 2}, {1, 2.5f, 3, 4.001f});
  absl::Status s = ExpectClose(a, b, 1e-2, 0, "pair");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("1 of 4 elements differ"));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("worst at flat index 1"));
  EXPECT_FALSE(ExpectClose(a, Tensor::Zeros({4}), 1, 1, "shape").ok());
  Tensor nan = Tensor::FromVector({1}, {std::nanf("")});
  EXPECT_FALSE(ExpectClose(nan, nan, 1, 1, "nan").ok());
}

TEST(RandomTest, SpikesAreZeroOrOneOverTs) {
  Tensor s = RandomSpikes({1000}, 0.3f, 0.25f, 3);
  int ones = 0;
  for (float v : s.span()) {
    ASSERT_TRUE(v == 0.0f || v == 4.0f);
    ones += v != 0.0f;
  }
  EXPECT_NEAR(ones, 300, 60);
  SLAYER_EXPECT_OK(ExpectClose(RandomUniform({5}, 9), RandomUniform({5}, 9), 0, 0, "seeded"));
}

}  // namespace
}  // namespace testing
}  // namespace ops
}  // namespace slayer
