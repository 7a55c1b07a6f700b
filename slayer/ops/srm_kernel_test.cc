#include "slayer/ops/srm_kernel.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace ops {
namespace {

double Alpha(double t, double tau, double mult) { return mult * t / tau * std::exp(1 - t / tau); }

TEST(AlphaKernelTest, HandComputedValuesAndTruncation) {
  // tau 1, Ts 1: alpha(k) = k e^(1-k); 8 e^-7 = 0.0073 < 0.01 is the first
  // small value past tau, so taps k = 0..7 remain.
  std::vector<float> k = AlphaKernel(1.0f, 1.0f, 1.0f, 0.01f, 300);
  ASSERT_EQ(k.size(), 8u);
  EXPECT_EQ(k[0], 0.0f);
  EXPECT_FLOAT_EQ(k[1], 1.0f);
  EXPECT_FLOAT_EQ(k[2], static_cast<float>(2 * std::exp(-1.0)));
  EXPECT_FLOAT_EQ(k[7], static_cast<float>(7 * std::exp(-6.0)));
}

TEST(AlphaKernelTest, SmallValuesBeforeTauDoNotStop) {
  // epsilon 0.5, tau 4: alpha(0) = 0 < 0.5 but t = 0 <= tau, so it is kept;
  // the first value below 0.5 with t > tau is k = 11 (2.75 e^-1.75 = 0.478).
  std::vector<float> k = AlphaKernel(4.0f, 1.0f, 1.0f, 0.5f, 300);
  ASSERT_EQ(k.size(), 11u);
  EXPECT_EQ(k[0], 0.0f);
  EXPECT_FLOAT_EQ(k[4], 1.0f);  // the peak at t = tau
  EXPECT_GE(std::abs(k[10]), 0.5f);
}

TEST(AlphaKernelTest, NeverLongerThanMaxTaps) {
  EXPECT_EQ(AlphaKernel(10.0f, 1.0f, 1.0f, 0.01f, 5).size(), 5u);
  EXPECT_TRUE(AlphaKernel(10.0f, 1.0f, 1.0f, 0.01f, 0).empty());
}

TEST(AlphaKernelTest, MatchesTheRuleForFractionalTs) {
  const double tau = 1.0, eps = 0.01;
  std::vector<float> k = AlphaKernel(1.0f, 1.0f, 0.1f, 0.01f, 500);
  size_t expected = 0;
  for (int i = 0; i < 500; ++i) {
    const double t = i * static_cast<double>(0.1f);
    if (std::abs(Alpha(t, tau, 1)) < eps && t > tau) break;
    ++expected;
  }
  ASSERT_EQ(k.size(), expected);
  for (size_t i = 0; i < k.size(); ++i) {
    EXPECT_NEAR(k[i], Alpha(i * static_cast<double>(0.1f), tau, 1), 1e-6) << i;
  }
}

TEST(SrmKernelsTest, EpsAndNuFollowTheSpec) {
  SrmParams p;  // theta 10, tau_sr 10, tau_ref 1, scale_ref 2, eps 0.01 / 1e-4
  SrmKernels k = MakeSrmKernels(p, 1.0f, 300);
  ASSERT_FALSE(k.eps.empty());
  ASSERT_FALSE(k.nu.empty());
  EXPECT_EQ(k.eps[0], 0.0f);
  EXPECT_EQ(k.nu[0], 0.0f);
  EXPECT_FLOAT_EQ(k.eps[10], 1.0f);    // peak at tau_sr
  EXPECT_FLOAT_EQ(k.nu[1], -20.0f);    // -scale_ref * theta at tau_ref
  // Refractory truncation at 1e-4: 20 * 15 e^-14 = 2.5e-4 stays, 20 * 16 e^-15
  // = 9.8e-5 stops.
  EXPECT_EQ(k.nu.size(), 16u);
  // Spike response: the first k > 10 with k/10 e^(1-k/10) < 0.01.
  size_t expected = 0;
  while (!(Alpha(expected, 10, 1) < 0.01 && expected > 10)) ++expected;
  EXPECT_EQ(k.eps.size(), expected);
}

TEST(SrmKernelsTest, ShortSamplesCapTheTaps) {
  SrmParams p;
  SrmKernels k = MakeSrmKernels(p, 1.0f, 12);
  EXPECT_EQ(k.eps.size(), 12u);
  EXPECT_EQ(k.nu.size(), 12u);
}

}  // namespace
}  // namespace ops
}  // namespace slayer
