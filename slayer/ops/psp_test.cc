#include "slayer/ops/psp.h"

#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::HasSubstr;
using testing::CheckGradient;
using testing::Dot;
using testing::RandomUniform;

TEST(PspTest, HandComputedForwardAndBackward) {
  const std::vector<float> eps = {0.0f, 1.0f, 0.5f};
  const float ts = 2.0f;
  Tensor x = Tensor::FromVector({1, 5}, {1, 0, 0, 2, 0});
  Tensor a;
  ASSERT_TRUE(PspForward(x, eps, ts, &a).ok());
  // a[t] = 2 * (x[t-1] + 0.5 x[t-2])
  EXPECT_THAT(std::vector<float>(a.span().begin(), a.span().end()),
              ::testing::ElementsAre(0, 2, 1, 0, 4));
  Tensor g = Tensor::FromVector({1, 5}, {1, 0, 0, 0, 1});
  Tensor gx;
  ASSERT_TRUE(PspBackward(g, eps, ts, &gx).ok());
  // gx[t] = 2 * (g[t+1] + 0.5 g[t+2])
  EXPECT_THAT(std::vector<float>(gx.span().begin(), gx.span().end()),
              ::testing::ElementsAre(0, 0, 1, 2, 0));
}

// Plain double loops, for rows long enough to take the blocked path.
std::vector<double> NaivePsp(const float* x, int64_t steps, const std::vector<float>& eps,
                             double ts, bool backward) {
  std::vector<double> out(steps, 0.0);
  for (int64_t t = 0; t < steps; ++t) {
    for (size_t k = 0; k < eps.size(); ++k) {
      const int64_t i = backward ? t + static_cast<int64_t>(k) : t - static_cast<int64_t>(k);
      if (i >= 0 && i < steps) out[t] += ts * eps[k] * x[i];
    }
  }
  return out;
}

class PspShapesTest : public ::testing::TestWithParam<std::tuple<int, float, float>> {};

TEST_P(PspShapesTest, MatchesNaiveLoops) {
  const auto [steps, tau, ts] = GetParam();
  const std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, steps);
  Tensor x = RandomUniform({2, 3, 1, 1, steps}, 11);
  Tensor a, gx;
  ASSERT_TRUE(PspForward(x, eps, ts, &a).ok());
  ASSERT_TRUE(PspBackward(x, eps, ts, &gx).ok());
  for (int64_t r = 0; r < 6; ++r) {
    std::vector<double> fwd = NaivePsp(x.data() + r * steps, steps, eps, ts, false);
    std::vector<double> bwd = NaivePsp(x.data() + r * steps, steps, eps, ts, true);
    for (int t = 0; t < steps; ++t) {
      ASSERT_NEAR(a.data()[r * steps + t], fwd[t], 1e-4 * (1 + std::abs(fwd[t]))) << r << "," << t;
      ASSERT_NEAR(gx.data()[r * steps + t], bwd[t], 1e-4 * (1 + std::abs(bwd[t]))) << r << "," << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PspShapesTest,
                         ::testing::Values(std::make_tuple(1, 1.0f, 1.0f),
                                           std::make_tuple(7, 10.0f, 1.0f),
                                           std::make_tuple(33, 2.0f, 0.5f),
                                           std::make_tuple(300, 10.0f, 1.0f),
                                           std::make_tuple(301, 1.0f, 0.1f)));

// SRM kernels run as a recursion over blocks of eight rows: full and partial
// blocks, steps not a multiple of eight, kernels cut by the sample length,
// against the direct double sum. Also against the tap-by-tap path, which a
// kernel one tap off the alpha form takes.
class PspRecursionTest : public ::testing::TestWithParam<std::tuple<int, int, float, float>> {};

TEST_P(PspRecursionTest, MatchesDirectSum) {
  const auto [rows, steps, tau, ts] = GetParam();
  const std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, 100000);
  std::vector<float> scaled(eps.size());
  for (size_t k = 0; k < eps.size(); ++k) scaled[k] = ts * eps[k];
  ASSERT_TRUE(internal::FitAlphaRecursion(scaled).has_value()) << eps.size() << " taps";
  Tensor x = RandomUniform({rows, steps}, 21);
  Tensor a, gx;
  ASSERT_TRUE(PspForward(x, eps, ts, &a).ok());
  ASSERT_TRUE(PspBackward(x, eps, ts, &gx).ok());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> fwd = NaivePsp(x.data() + r * steps, steps, eps, ts, false);
    std::vector<double> bwd = NaivePsp(x.data() + r * steps, steps, eps, ts, true);
    for (int t = 0; t < steps; ++t) {
      ASSERT_NEAR(a.data()[r * steps + t], fwd[t], 2e-5 * (1 + std::abs(fwd[t]))) << r << "," << t;
      ASSERT_NEAR(gx.data()[r * steps + t], bwd[t], 2e-5 * (1 + std::abs(bwd[t]))) << r << "," << t;
    }
  }
  // One tap nudged by 1e-4: no longer an alpha kernel, correlated tap by tap.
  std::vector<float> nudged = eps;
  nudged[eps.size() / 2] *= 1.0001f;
  std::vector<float> nudged_scaled(nudged.size());
  for (size_t k = 0; k < nudged.size(); ++k) nudged_scaled[k] = ts * nudged[k];
  ASSERT_FALSE(internal::FitAlphaRecursion(nudged_scaled).has_value());
  Tensor b;
  ASSERT_TRUE(PspForward(x, nudged, ts, &b).ok());
  EXPECT_TRUE(testing::ExpectClose(b, a, 1e-3, 1e-4, "tap by tap vs recursion").ok());
}

INSTANTIATE_TEST_SUITE_P(Blocks, PspRecursionTest,
                         ::testing::Values(std::make_tuple(1, 300, 10.0f, 1.0f),
                                           std::make_tuple(8, 64, 10.0f, 1.0f),
                                           std::make_tuple(19, 301, 10.0f, 1.0f),
                                           std::make_tuple(9, 37, 10.0f, 1.0f),  // cut at 37
                                           std::make_tuple(16, 250, 1.0f, 0.1f),
                                           std::make_tuple(5, 130, 2.0f, 0.25f)));

TEST(PspTest, AlphaFitAcceptsSrmKernelsOnly) {
  for (const auto& [tau, ts] : std::vector<std::pair<float, float>>{
           {10.0f, 1.0f}, {2.0f, 0.1f}, {1.0f, 0.05f}, {5.0f, 0.3f}}) {
    std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, 100000);
    for (float& v : eps) v *= ts;
    std::optional<internal::AlphaRecursion> fit = internal::FitAlphaRecursion(eps);
    ASSERT_TRUE(fit.has_value()) << "tau " << tau << " ts " << ts;
    EXPECT_NEAR(fit->r, std::exp(-ts / tau), 1e-6);
    EXPECT_NEAR(fit->c, ts * ts / tau * std::exp(1.0f), 1e-5);
    EXPECT_EQ(fit->taps, static_cast<int64_t>(eps.size()));
  }
  std::vector<float> eps = AlphaKernel(10.0f, 1.0f, 1.0f, 0.01f, 1000);
  std::vector<float> bad = eps;
  bad[30] *= 1.00005f;
  EXPECT_FALSE(internal::FitAlphaRecursion(bad).has_value());  // one tap off
  bad = eps;
  bad[0] = 0.1f;
  EXPECT_FALSE(internal::FitAlphaRecursion(bad).has_value());  // f[0] != 0
  EXPECT_FALSE(internal::FitAlphaRecursion(absl::MakeSpan(eps).subspan(0, 15)).has_value());
  std::vector<float> decay(50);
  for (size_t k = 0; k < decay.size(); ++k) decay[k] = k == 0 ? 0.0f : std::exp(-0.1f * k);
  EXPECT_FALSE(internal::FitAlphaRecursion(decay).has_value());  // not k r^k
  std::vector<float> slow = AlphaKernel(1000.0f, 1.0f, 1.0f, 0.01f, 3000);
  EXPECT_FALSE(internal::FitAlphaRecursion(slow).has_value());  // r > 0.995
}

TEST(PspTest, AlphaPanelGivesEachLaneItsRowsFilter) {
  // 32 rows held time-major through AlphaPanel (both vector widths), forward
  // and backward, equal bit for bit to TemporalFilter on each row; with
  // fewer steps than taps and more.
  const std::vector<float> eps = AlphaKernel(10.0f, 1.0f, 1.0f, 0.01f, 1000);
  for (int64_t steps : {40, 300}) {
    const internal::TemporalFilter filter(eps, 1.0f, steps);
    ASSERT_NE(filter.alpha(), nullptr);
    Tensor rows = RandomUniform({32, steps}, 5);
    for (bool backward : {false, true}) {
      Tensor want = Tensor::Zeros({32, steps});
      for (int64_t k = 0; k < 32; ++k) {
        if (backward) {
          filter.Backward(rows.data() + k * steps, want.data() + k * steps);
        } else {
          filter.Forward(rows.data() + k * steps, want.data() + k * steps);
        }
      }
      for (bool wide : {false, true}) {
        internal::SetWideKernelsEnabled(wide);
        std::vector<float> panel(steps * 32), hist(steps * 32);
        for (int64_t t = 0; t < steps; ++t) {
          for (int64_t k = 0; k < 32; ++k) panel[t * 32 + k] = rows.data()[k * steps + t];
        }
        internal::AlphaPanel(*filter.alpha(), steps, backward, panel.data(), hist.data());
        for (int64_t t = 0; t < steps; ++t) {
          for (int64_t k = 0; k < 32; ++k) {
            ASSERT_EQ(panel[t * 32 + k], want.data()[k * steps + t])
                << "steps " << steps << " backward " << backward << " wide " << wide << " t " << t
                << " lane " << k;
          }
        }
      }
      internal::SetWideKernelsEnabled(true);
    }
  }
}

TEST(PspTest, KernelLongerThanTimeIsCut) {
  std::vector<float> eps(50, 1.0f);
  Tensor x = Tensor::FromVector({1, 4}, {1, 2, 3, 4});
  Tensor a;
  ASSERT_TRUE(PspForward(x, eps, 1.0f, &a).ok());
  EXPECT_THAT(std::vector<float>(a.span().begin(), a.span().end()),
              ::testing::ElementsAre(1, 3, 6, 10));
}

TEST(PspTest, EmptyKernelGivesZeros) {
  Tensor x = RandomUniform({2, 5}, 1);
  Tensor a = Tensor::Full({2, 5}, 3.0f);
  ASSERT_TRUE(PspForward(x, {}, 1.0f, &a).ok());
  for (float v : a.span()) EXPECT_EQ(v, 0.0f);
}

TEST(PspTest, GradientMatchesFiniteDifferences) {
  const float ts = 0.5f;
  const std::vector<float> eps = AlphaKernel(3.0f, 1.0f, ts, 0.01f, 64);
  Tensor x = RandomUniform({2, 3, 2, 1, 45}, 3);
  Tensor g = RandomUniform(x.shape(), 4);
  auto loss = [&](const Tensor& v) -> absl::StatusOr<double> {
    Tensor y;
    absl::Status s = PspForward(v, eps, ts, &y);
    if (!s.ok()) return s;
    return Dot(g, y);
  };
  Tensor grad;
  ASSERT_TRUE(PspBackward(g, eps, ts, &grad).ok());
  testing::GradientCheckOptions options;
  options.step = 1.0;  // linear: any step is exact up to rounding
  absl::Status s = CheckGradient("psp wrt x", x, loss, grad, options);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(PspTest, InPlaceAndNoReallocation) {
  const std::vector<float> eps = AlphaKernel(5.0f, 1.0f, 1.0f, 0.01f, 100);
  Tensor x = RandomUniform({3, 100}, 5);
  Tensor expected;
  ASSERT_TRUE(PspForward(x, eps, 1.0f, &expected).ok());
  Tensor out;
  ASSERT_TRUE(PspForward(x, eps, 1.0f, &out).ok());
  const float* storage = out.data();
  ASSERT_TRUE(PspForward(x, eps, 1.0f, &out).ok());
  EXPECT_EQ(out.data(), storage);  // steady state reuses the output
  Tensor in_place = x.Clone();
  ASSERT_TRUE(PspForward(in_place, eps, 1.0f, &in_place).ok());
  EXPECT_TRUE(testing::ExpectClose(in_place, expected, 0, 0, "in place").ok());
}

TEST(PspTest, BadArgumentsAreInvalidArgument) {
  const std::vector<float> eps = {0, 1};
  Tensor x = Tensor::Zeros({2, 4});
  Tensor out;
  absl::Status s = PspForward(x, eps, 0.0f, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ts"));
  s = PspForward(Tensor(), eps, 1.0f, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected [..., T]"));
  s = PspBackward(x, eps, 1.0f, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(PspTest, DispatchersAreRegistered) {
  const std::vector<std::string>& names = RegisteredOpNames();
  EXPECT_THAT(names, ::testing::Contains("psp_forward"));
  EXPECT_THAT(names, ::testing::Contains("psp_backward"));
}

}  // namespace
}  // namespace ops
}  // namespace slayer
