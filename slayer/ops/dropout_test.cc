#include "slayer/ops/dropout.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::HasSubstr;

TEST(DropoutTest, MaskHasNeuronShapeAndScaledValues) {
  Rng rng(42);
  Tensor mask;
  const float p = 0.25f;
  SLAYER_ASSERT_OK(MakeDropoutMask({8, 16, 10, 10, 30}, p, rng, &mask));
  EXPECT_EQ(mask.shape(), Shape({8, 16, 10, 10}));
  int64_t dropped = 0;
  for (float v : mask.span()) {
    ASSERT_TRUE(v == 0.0f || v == 1.0f / (1.0f - p)) << v;
    dropped += v == 0.0f;
  }
  const double fraction = static_cast<double>(dropped) / mask.numel();
  EXPECT_NEAR(fraction, p, 0.02);
}

TEST(DropoutTest, MaskIsReproducibleFromTheSeed) {
  Tensor a, b, c;
  Rng r1(7), r2(7), r3(8);
  SLAYER_ASSERT_OK(MakeDropoutMask({4, 50, 10}, 0.5f, r1, &a));
  SLAYER_ASSERT_OK(MakeDropoutMask({4, 50, 10}, 0.5f, r2, &b));
  SLAYER_ASSERT_OK(MakeDropoutMask({4, 50, 10}, 0.5f, r3, &c));
  SLAYER_EXPECT_OK(testing::ExpectClose(a, b, 0, 0, "same seed"));
  EXPECT_FALSE(testing::ExpectClose(a, c, 0, 0, "other seed").ok());
  Tensor ones;
  SLAYER_ASSERT_OK(MakeDropoutMask({4, 50, 10}, 0.0f, r1, &ones));
  for (float v : ones.span()) EXPECT_EQ(v, 1.0f);
}

TEST(DropoutTest, ForwardAndBackwardApplyTheMaskAtEveryStep) {
  Tensor x = testing::RandomUniform({2, 3, 1, 1, 7}, 1);
  Rng rng(3);
  Tensor mask;
  SLAYER_ASSERT_OK(MakeDropoutMask(x.shape(), 0.5f, rng, &mask));
  Tensor y;
  SLAYER_ASSERT_OK(DropoutForward(x, mask, &y));
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t t = 0; t < 7; ++t)
      ASSERT_EQ(y.data()[r * 7 + t], x.data()[r * 7 + t] * mask.data()[r]);
  Tensor g = testing::RandomUniform(x.shape(), 2);
  Tensor gx;
  SLAYER_ASSERT_OK(DropoutBackward(g, mask, &gx));
  testing::GradientCheckOptions options;
  options.step = 1.0;
  options.atol = 1e-5;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      "dropout wrt x", x,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(DropoutForward(v, mask, &out));
        return testing::Dot(g, out);
      },
      gx, options));
}

TEST(DropoutTest, BadArgumentsAreInvalidArgument) {
  Rng rng(1);
  Tensor mask;
  EXPECT_EQ(MakeDropoutMask({2, 3, 4}, 1.0f, rng, &mask).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeDropoutMask({2, 3, 4}, -0.1f, rng, &mask).code(),
            absl::StatusCode::kInvalidArgument);
  Tensor y;
  absl::Status s = DropoutForward(Tensor::Zeros({2, 3, 4}), Tensor::Zeros({2, 4}), &y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("mask (x without time): expected shape [2,3]"));
}

}  // namespace
}  // namespace ops
}  // namespace slayer
