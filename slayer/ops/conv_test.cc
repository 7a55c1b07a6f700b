#include "slayer/ops/conv.h"

#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Dot;
using testing::RandomUniform;

// Direct 7-deep loops in double: the definition of the op.
Tensor NaiveConv(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const int64_t N = x.dim(0), H = x.dim(2), W = x.dim(3), T = x.dim(4);
  const int64_t O = w.dim(0), Cg = w.dim(1), KH = w.dim(2), KW = w.dim(3);
  const int64_t Og = O / p.groups;
  const int64_t Ho = (H + 2 * p.pad_h - p.dilation_h * (KH - 1) - 1) / p.stride_h + 1;
  const int64_t Wo = (W + 2 * p.pad_w - p.dilation_w * (KW - 1) - 1) / p.stride_w + 1;
  Tensor y = Tensor::Zeros({N, O, Ho, Wo, T});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t ho = 0; ho < Ho; ++ho)
        for (int64_t wo = 0; wo < Wo; ++wo)
          for (int64_t t = 0; t < T; ++t) {
            double sum = 0.0;
            const int64_t group = o / Og;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const int64_t hi = ho * p.stride_h + kh * p.dilation_h - p.pad_h;
                  const int64_t wi = wo * p.stride_w + kw * p.dilation_w - p.pad_w;
                  if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                  sum += static_cast<double>(w.at({o, c, kh, kw})) *
                         x.at({n, group * Cg + c, hi, wi, t});
                }
            y.at({n, o, ho, wo, t}) = static_cast<float>(sum);
          }
  return y;
}

TEST(ConvTest, HandComputedOnesWithPadding) {
  Tensor x = Tensor::Full({1, 1, 3, 3, 1}, 1.0f);
  Tensor w = Tensor::Full({1, 1, 2, 2}, 1.0f);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor y;
  SLAYER_ASSERT_OK(Conv2dForward(x, w, p, &y));
  EXPECT_EQ(y.shape(), Shape({1, 1, 4, 4, 1}));
  EXPECT_THAT(std::vector<float>(y.span().begin(), y.span().end()),
              ElementsAre(1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1));
}

struct ConvCase {
  std::string name;
  Shape x, w;
  Conv2dParams p;
  // 0: dense uniform inputs (the im2col GEMM); > 0: spike trains sparse
  // enough for the event-driven path.
  float rate = 0.0f;
};

// Names the case in gtest messages.
std::ostream& operator<<(std::ostream& os, const ConvCase& c) { return os << c.name; }

Conv2dParams Params(int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
  Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  p.groups = groups;
  return p;
}

class ConvCasesTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvCasesTest, ForwardMatchesLoopsAndBackwardMatchesFiniteDifferences) {
  const ConvCase& c = GetParam();
  Tensor x = c.rate > 0 ? testing::RandomSpikes(c.x, c.rate, 1.0f, 1) : RandomUniform(c.x, 1);
  Tensor w = RandomUniform(c.w, 2);
  Tensor y;
  SLAYER_ASSERT_OK(Conv2dForward(x, w, c.p, &y));
  SLAYER_EXPECT_OK(testing::ExpectClose(y, NaiveConv(x, w, c.p), 1e-5, 1e-5, c.name));
  absl::StatusOr<Shape> shape = Conv2dOutputShape(c.x, c.w, c.p);
  SLAYER_ASSERT_OK(shape);
  EXPECT_EQ(*shape, y.shape());

  Tensor g = RandomUniform(y.shape(), 3);
  Tensor gx = Tensor::Full(c.x, 9.0f), gw = Tensor::Full(c.w, 9.0f);  // overwritten
  SLAYER_ASSERT_OK(Conv2dBackward(x, w, c.p, g, &gx, &gw));
  testing::GradientCheckOptions options;
  options.step = 1.0;  // bilinear
  options.atol = 1e-4;
  options.coordinates = 40;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      c.name + " wrt x", x,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(Conv2dForward(v, w, c.p, &out));
        return Dot(g, out);
      },
      gx, options));
  SLAYER_EXPECT_OK(testing::CheckGradient(
      c.name + " wrt w", w,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(Conv2dForward(x, v, c.p, &out));
        return Dot(g, out);
      },
      gw, options));

  Tensor gx_only, gw_only;
  SLAYER_ASSERT_OK(Conv2dBackward(x, w, c.p, g, &gx_only, nullptr));
  SLAYER_ASSERT_OK(Conv2dBackward(x, w, c.p, g, nullptr, &gw_only));
  SLAYER_EXPECT_OK(testing::ExpectClose(gx_only, gx, 0, 0, "grad_x alone"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw_only, gw, 0, 0, "grad_w alone"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConvCasesTest,
    ::testing::Values(
        ConvCase{"plain3x3", {2, 3, 6, 5, 4}, {4, 3, 3, 3}, Params(1, 1, 0, 0, 1, 1, 1)},
        ConvCase{"stride2_pad1", {2, 2, 7, 6, 3}, {3, 2, 3, 3}, Params(2, 2, 1, 1, 1, 1, 1)},
        ConvCase{"stride2x1_pad0x2", {1, 2, 7, 5, 5}, {2, 2, 3, 2}, Params(2, 1, 0, 2, 1, 1, 1)},
        ConvCase{"dilation2", {2, 2, 8, 7, 3}, {3, 2, 3, 2}, Params(1, 1, 1, 0, 2, 2, 1)},
        ConvCase{"groups2", {2, 4, 5, 5, 3}, {6, 2, 3, 3}, Params(1, 1, 1, 1, 1, 1, 2)},
        ConvCase{"depthwise", {1, 3, 5, 4, 2}, {3, 1, 2, 2}, Params(1, 2, 0, 1, 1, 1, 3)},
        ConvCase{"all_at_once", {2, 4, 9, 8, 3}, {4, 2, 3, 3}, Params(2, 3, 2, 1, 2, 1, 2)},
        ConvCase{"kernel1x1", {2, 5, 3, 3, 4}, {2, 5, 1, 1}, Params(1, 1, 0, 0, 1, 1, 1)},
        ConvCase{"t1", {3, 2, 6, 6, 1}, {4, 2, 5, 5}, Params(1, 1, 2, 2, 1, 1, 1)}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

// Spike inputs below the event threshold (0.15 * O_g / (32 * panels)).
INSTANTIATE_TEST_SUITE_P(
    Events, ConvCasesTest,
    ::testing::Values(
        ConvCase{"nmnist_12c5", {2, 2, 12, 11, 30}, {12, 2, 5, 5}, Params(1, 1, 2, 2, 1, 1, 1),
                 0.02f},
        ConvCase{"wide_partial_panel", {2, 3, 7, 6, 20}, {40, 3, 3, 3},
                 Params(1, 1, 1, 1, 1, 1, 1), 0.05f},
        ConvCase{"strided_dilated_groups", {1, 4, 9, 8, 10}, {64, 2, 3, 3},
                 Params(2, 2, 1, 1, 2, 2, 2), 0.05f},
        ConvCase{"stride3x1_pad0x2", {2, 2, 10, 7, 12}, {33, 2, 3, 2},
                 Params(3, 1, 0, 2, 1, 1, 1), 0.05f},
        ConvCase{"few_outputs", {2, 3, 6, 5, 40}, {4, 3, 3, 3}, Params(1, 2, 1, 1, 1, 1, 1),
                 0.01f}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

TEST(ConvTest, TiledBlocksMatchLoops) {
  // Long time axes make the im2col columns exceed one block (2^18 floats):
  // blocks of several whole rows, and runs of columns within one row (with
  // unit and non-unit stride).
  struct Tiled {
    Shape x, w;
    Conv2dParams p;
  };
  const Tiled cases[] = {
      {{1, 3, 30, 20, 100}, {2, 3, 3, 3}, Params(1, 1, 1, 1, 1, 1, 1)},   // 4-row blocks
      {{2, 4, 9, 30, 100}, {3, 4, 5, 5}, Params(1, 1, 2, 2, 1, 1, 1)},    // 26 + 4 columns
      {{1, 4, 7, 61, 110}, {2, 4, 5, 5}, Params(1, 2, 2, 2, 1, 1, 1)},    // strided runs
      {{1, 4, 6, 40, 120}, {4, 2, 3, 3}, Params(1, 1, 1, 0, 1, 2, 2)}};   // groups, dilation
  for (const Tiled& c : cases) {
    Tensor x = RandomUniform(c.x, 1);
    Tensor w = RandomUniform(c.w, 2);
    Tensor y;
    SLAYER_ASSERT_OK(Conv2dForward(x, w, c.p, &y));
    SLAYER_EXPECT_OK(testing::ExpectClose(y, NaiveConv(x, w, c.p), 1e-4, 1e-4,
                                          "tiled forward " + ShapeString(c.x)));
    Tensor g = RandomUniform(y.shape(), 3);
    Tensor gx, gw;
    SLAYER_ASSERT_OK(Conv2dBackward(x, w, c.p, g, &gx, &gw));
    // The adjoint identity <g, conv(x)> = <conv^T(g), x> = <grad_w, w>.
    const double lhs = Dot(g, y);
    EXPECT_NEAR(Dot(gx, x), lhs, 1e-4 * std::abs(lhs) + 1e-2) << ShapeString(c.x);
    EXPECT_NEAR(Dot(gw, w), lhs, 1e-4 * std::abs(lhs) + 1e-2) << ShapeString(c.x);
    testing::GradientCheckOptions options;
    options.step = 1.0;
    options.atol = 1e-3;
    options.coordinates = 16;
    options.directions = 1;
    SLAYER_EXPECT_OK(testing::CheckGradient(
        "tiled wrt x " + ShapeString(c.x), x,
        [&](const Tensor& v) -> absl::StatusOr<double> {
          Tensor out;
          SLAYER_RETURN_IF_ERROR(Conv2dForward(v, w, c.p, &out));
          return Dot(g, out);
        },
        gx, options));
  }
}

TEST(ConvTest, GemmPathsAgree) {
  // Eigen's GEMM and the AVX-512 kernel (where the CPU has one) on dense
  // input, in the three products: more filters than one 12-row register
  // block, groups, and a tiled time axis.
  if (!internal::FastGemmAvailable()) {
    GTEST_SKIP() << "no AVX-512 on this CPU: the conv ops use Eigen's GEMM only";
  }
  struct Restore {
    ~Restore() { internal::SetFastGemmEnabled(true); }
  } restore;
  struct Case {
    Shape x, w;
    Conv2dParams p;
  };
  const Case cases[] = {{{2, 3, 9, 8, 20}, {20, 3, 3, 3}, Params(1, 1, 1, 1, 1, 1, 1)},
                        {{1, 4, 6, 7, 30}, {26, 2, 3, 3}, Params(1, 1, 0, 0, 1, 2, 2)},
                        {{1, 3, 30, 20, 100}, {14, 3, 3, 3}, Params(1, 1, 1, 1, 1, 1, 1)}};
  for (const Case& c : cases) {
    Tensor x = RandomUniform(c.x, 11);
    Tensor w = RandomUniform(c.w, 12);
    Tensor y[2], gx[2], gw[2];
    for (int fast = 0; fast < 2; ++fast) {
      internal::SetFastGemmEnabled(fast == 1);
      SLAYER_ASSERT_OK(Conv2dForward(x, w, c.p, &y[fast]));
      const Tensor g = RandomUniform(y[fast].shape(), 13);
      SLAYER_ASSERT_OK(Conv2dBackward(x, w, c.p, g, &gx[fast], &gw[fast]));
    }
    const std::string what = ShapeString(c.x) + " w " + ShapeString(c.w);
    SLAYER_EXPECT_OK(testing::ExpectClose(y[1], y[0], 1e-5, 1e-5, "forward " + what));
    SLAYER_EXPECT_OK(testing::ExpectClose(gx[1], gx[0], 1e-5, 1e-5, "grad_x " + what));
    SLAYER_EXPECT_OK(testing::ExpectClose(gw[1], gw[0], 1e-4, 1e-5, "grad_w " + what));
  }
}

TEST(ConvTest, BadShapesAreInvalidArgument) {
  Conv2dParams p;
  absl::StatusOr<Shape> s = Conv2dOutputShape({1, 4, 8, 8, 2}, {3, 3, 3, 3}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("expected [3, 4, KH >= 1"));
  p.groups = 3;
  s = Conv2dOutputShape({1, 4, 8, 8, 2}, {3, 1, 3, 3}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("groups = 3 must divide"));
  p.groups = 1;
  s = Conv2dOutputShape({1, 4, 2, 8, 2}, {3, 4, 3, 3}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("does not fit"));
  s = Conv2dOutputShape({4, 8, 8, 2}, {3, 4, 3, 3}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("expected [N, C, H, W, T]"));
  p.stride_h = 0;
  s = Conv2dOutputShape({1, 4, 8, 8, 2}, {3, 4, 3, 3}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  p.stride_h = 1;
  Tensor x = Tensor::Zeros({1, 4, 8, 8, 2});
  Tensor w = Tensor::Zeros({3, 4, 3, 3});
  Tensor gx, gw;
  absl::Status st = Conv2dBackward(x, w, p, Tensor::Zeros({1, 3, 6, 6, 3}), &gx, &gw);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("grad_y: expected shape [1,3,6,6,2]"));
}

}  // namespace
}  // namespace ops
}  // namespace slayer
