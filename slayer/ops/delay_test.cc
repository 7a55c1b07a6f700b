#include "slayer/ops/delay.h"

#include <cmath>
#include <ostream>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Dot;
using testing::RandomUniform;

std::vector<float> Values(const Tensor& t) { return {t.span().begin(), t.span().end()}; }

TEST(DelayTest, IntegerAndFractionalShifts) {
  const float ts = 0.5f;
  // Two neurons: d = 1 ms = 2 steps and d = 0.25 ms = half a step.
  Tensor x = Tensor::FromVector({1, 2, 1, 1, 5}, {1, 2, 3, 4, 5, 1, 2, 3, 4, 5});
  Tensor d = Tensor::FromVector({2, 1, 1}, {1.0f, 0.25f});
  Tensor y;
  SLAYER_ASSERT_OK(DelayForward(x, d, ts, &y));
  EXPECT_THAT(Values(y), ElementsAre(0, 0, 1, 2, 3, 0.5f, 1.5f, 2.5f, 3.5f, 4.5f));

  Tensor g = Tensor::FromVector({1, 2, 1, 1, 5}, {0, 0, 1, 0, 0, 0, 0, 1, 0, 0});
  Tensor gx, gd;
  SLAYER_ASSERT_OK(DelayBackward(x, d, ts, g, &gx, &gd));
  EXPECT_THAT(Values(gx), ElementsAre(1, 0, 0, 0, 0, 0, 0.5f, 0.5f, 0, 0));
  // dL/dd = -sum_t g[t] (x[t-m] - x[t-m-1]) / Ts: neuron 0 reads x[0] - x[-1]
  // = 1 at t = 2; neuron 1 reads x[2] - x[1] = 1.
  EXPECT_THAT(Values(gd), ElementsAre(-2.0f, -2.0f));
}

TEST(DelayTest, PerChannelDelaysShareOneValueAcrossHW) {
  Tensor x = RandomUniform({2, 3, 2, 2, 12}, 1);
  Tensor d_channel = Tensor::FromVector({3}, {0.0f, 1.5f, 3.0f});
  Tensor d_neuron = Tensor::Empty({3, 2, 2});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 4; ++i) d_neuron.data()[c * 4 + i] = d_channel.data()[c];
  Tensor y1, y2;
  SLAYER_ASSERT_OK(DelayForward(x, d_channel, 1.0f, &y1));
  SLAYER_ASSERT_OK(DelayForward(x, d_neuron, 1.0f, &y2));
  SLAYER_EXPECT_OK(testing::ExpectClose(y1, y2, 0, 0, "per channel vs per neuron"));
  // The per-channel gradient is the per-neuron one summed over H, W.
  Tensor g = RandomUniform(x.shape(), 2);
  Tensor gd1, gd2, gx1, gx2;
  SLAYER_ASSERT_OK(DelayBackward(x, d_channel, 1.0f, g, &gx1, &gd1));
  SLAYER_ASSERT_OK(DelayBackward(x, d_neuron, 1.0f, g, &gx2, &gd2));
  SLAYER_EXPECT_OK(testing::ExpectClose(gx1, gx2, 0, 0, "grad_x"));
  ASSERT_EQ(gd1.shape(), Shape({3}));
  ASSERT_EQ(gd2.shape(), Shape({3, 2, 2}));
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < 4; ++i) sum += gd2.data()[c * 4 + i];
    EXPECT_NEAR(gd1.data()[c], sum, 1e-5 * (1 + std::abs(sum))) << c;
  }
}

struct DelayFdCase {
  const char* name;
  Shape x, d;
  float ts;
};

// Names the case in gtest messages.
std::ostream& operator<<(std::ostream& os, const DelayFdCase& c) { return os << c.name; }

class DelayGradientTest : public ::testing::TestWithParam<DelayFdCase> {};

TEST_P(DelayGradientTest, MatchesFiniteDifferences) {
  const DelayFdCase& c = GetParam();
  const float ts = c.ts;
  // Smooth-ish inputs (a sine per row plus noise) and delays whose d/Ts is
  // at least 0.2 away from an integer, so d +- step stays on one linear
  // piece of the interpolation.
  Tensor x = RandomUniform(c.x, 1, -0.2f, 0.2f);
  const int64_t steps = c.x.back();
  for (int64_t r = 0; r < x.numel() / steps; ++r)
    for (int64_t t = 0; t < steps; ++t) x.data()[r * steps + t] += std::sin(0.3f * t + r);
  Tensor d = RandomUniform(c.d, 2, 0.0f, 4.0f);
  for (float& v : d.span()) v = (std::floor(v) + 0.2f + 0.6f * (v - std::floor(v))) * ts;
  Tensor g = RandomUniform(c.x, 3);
  Tensor gx, gd;
  SLAYER_ASSERT_OK(DelayBackward(x, d, ts, g, &gx, &gd));
  testing::GradientCheckOptions options;
  options.step = 1.0;  // linear in x
  options.atol = 1e-4;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      std::string(c.name) + " wrt x", x,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor y;
        SLAYER_RETURN_IF_ERROR(DelayForward(v, d, ts, &y));
        return Dot(g, y);
      },
      gx, options));
  options.step = 0.05 * ts;  // stays on the linear piece
  options.atol = 2e-3;
  options.rtol = 2e-3;
  options.directions = 2;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      std::string(c.name) + " wrt d", d,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor y;
        SLAYER_RETURN_IF_ERROR(DelayForward(x, v, ts, &y));
        return Dot(g, y);
      },
      gd, options));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DelayGradientTest,
    ::testing::Values(DelayFdCase{"per_neuron", {2, 3, 2, 1, 30}, {3, 2, 1}, 1.0f},
                      DelayFdCase{"per_neuron_flat", {3, 4, 1, 1, 25}, {4}, 0.5f},
                      DelayFdCase{"per_channel", {2, 2, 3, 2, 20}, {2}, 0.25f}),
    [](const ::testing::TestParamInfo<DelayFdCase>& info) { return info.param.name; });

TEST(DelayTest, ClampDelays) {
  Tensor d = Tensor::FromVector({4}, {-1.0f, 0.5f, 7.0f, std::nanf("")});
  SLAYER_ASSERT_OK(ClampDelays(&d, 5.0f));
  EXPECT_THAT(Values(d), ElementsAre(0.0f, 0.5f, 5.0f, 0.0f));
  EXPECT_EQ(ClampDelays(&d, -1.0f).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShiftTest, ForwardBackwardAndFiniteDifferences) {
  Tensor x = Tensor::FromVector({1, 4}, {1, 2, 3, 4});
  Tensor y;
  SLAYER_ASSERT_OK(ShiftForward(x, 2.0f, 1.0f, &y));
  EXPECT_THAT(Values(y), ElementsAre(0, 0, 1, 2));
  SLAYER_ASSERT_OK(ShiftForward(x, 0.5f, 1.0f, &y));
  EXPECT_THAT(Values(y), ElementsAre(0.5f, 1.5f, 2.5f, 3.5f));
  Tensor big = RandomUniform({2, 3, 2, 2, 17}, 4);
  Tensor g = RandomUniform(big.shape(), 5);
  for (float shift : {0.0f, 3.0f, 1.7f, 40.0f}) {
    Tensor gx;
    SLAYER_ASSERT_OK(ShiftBackward(g, shift, 0.5f, &gx));
    testing::GradientCheckOptions options;
    options.step = 1.0;
    options.atol = 1e-4;
    SLAYER_EXPECT_OK(testing::CheckGradient(
        "shift wrt x", big,
        [&](const Tensor& v) -> absl::StatusOr<double> {
          Tensor out;
          SLAYER_RETURN_IF_ERROR(ShiftForward(v, shift, 0.5f, &out));
          return Dot(g, out);
        },
        gx, options));
  }
  // In place.
  Tensor z = x.Clone();
  SLAYER_ASSERT_OK(ShiftForward(z, 1.0f, 1.0f, &z));
  EXPECT_THAT(Values(z), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(ShiftForward(x, -1.0f, 1.0f, &y).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DelayTest, BadShapesAreInvalidArgument) {
  Tensor x = Tensor::Zeros({2, 3, 2, 2, 10});
  Tensor y;
  absl::Status s = DelayForward(x, Tensor::Zeros({5}), 1.0f, &y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("d has shape [5], expected one delay per neuron (12 values"));
  s = DelayForward(x, Tensor::Zeros({3}), 0.0f, &y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  Tensor gx, gd;
  s = DelayBackward(x, Tensor::Zeros({3}), 1.0f, Tensor::Zeros({2, 3, 2, 2, 9}), &gx, &gd);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("grad_y: expected shape [2,3,2,2,10]"));
}

}  // namespace
}  // namespace ops
}  // namespace slayer
