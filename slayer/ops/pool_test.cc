#include "slayer/ops/pool.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
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

Tensor NaivePool(const Tensor& x, const PoolParams& p) {
  const int64_t stride = p.stride == 0 ? p.kernel : p.stride;
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), T = x.dim(4);
  const int64_t Ho = (H + 2 * p.pad - p.kernel) / stride + 1;
  const int64_t Wo = (W + 2 * p.pad - p.kernel) / stride + 1;
  Tensor y = Tensor::Zeros({N, C, Ho, Wo, T});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ho = 0; ho < Ho; ++ho)
        for (int64_t wo = 0; wo < Wo; ++wo)
          for (int64_t t = 0; t < T; ++t) {
            double sum = 0.0;
            for (int64_t kh = 0; kh < p.kernel; ++kh)
              for (int64_t kw = 0; kw < p.kernel; ++kw) {
                const int64_t hi = ho * stride + kh - p.pad, wi = wo * stride + kw - p.pad;
                if (hi >= 0 && hi < H && wi >= 0 && wi < W) sum += x.at({n, c, hi, wi, t});
              }
            y.at({n, c, ho, wo, t}) = static_cast<float>(p.weight * sum);
          }
  return y;
}

TEST(PoolTest, HandComputed2x2) {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::FromVector({1, 1, 4, 4, 1}, v);
  PoolParams p;
  p.kernel = 2;
  p.weight = 2.0f;
  Tensor y;
  SLAYER_ASSERT_OK(PoolForward(x, p, &y));
  EXPECT_EQ(y.shape(), Shape({1, 1, 2, 2, 1}));
  // 0+1+4+5 = 10, 2+3+6+7 = 18, 8+9+12+13 = 42, 10+11+14+15 = 50; times 2.
  EXPECT_THAT(std::vector<float>(y.span().begin(), y.span().end()), ElementsAre(20, 36, 84, 100));
  Tensor g = Tensor::FromVector({1, 1, 2, 2, 1}, {1, 0, 0, 3});
  Tensor gx;
  SLAYER_ASSERT_OK(PoolBackward(x.shape(), p, g, &gx));
  EXPECT_THAT(std::vector<float>(gx.span().begin(), gx.span().end()),
              ElementsAre(2, 2, 0, 0, 2, 2, 0, 0, 0, 0, 6, 6, 0, 0, 6, 6));
}

struct PoolCase {
  std::string name;
  Shape x;
  int kernel, stride, pad;
};

// Names the case in gtest messages.
std::ostream& operator<<(std::ostream& os, const PoolCase& c) { return os << c.name; }

class PoolCasesTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolCasesTest, ForwardMatchesLoopsAndBackwardMatchesFiniteDifferences) {
  const PoolCase& c = GetParam();
  PoolParams p;
  p.kernel = c.kernel;
  p.stride = c.stride;
  p.pad = c.pad;
  p.weight = 1.1f * 10.0f;
  Tensor x = RandomUniform(c.x, 1);
  Tensor y;
  SLAYER_ASSERT_OK(PoolForward(x, p, &y));
  // Float sums of kernel^2 terms against double ones.
  const double atol = 1e-5 * std::max(1, c.kernel * c.kernel / 8);
  SLAYER_EXPECT_OK(testing::ExpectClose(y, NaivePool(x, p), atol, 1e-5, c.name));
  absl::StatusOr<Shape> shape = PoolOutputShape(c.x, p);
  SLAYER_ASSERT_OK(shape);
  EXPECT_EQ(*shape, y.shape());
  Tensor g = RandomUniform(y.shape(), 2);
  Tensor gx = Tensor::Full(c.x, 5.0f);  // overwritten
  SLAYER_ASSERT_OK(PoolBackward(c.x, p, g, &gx));
  testing::GradientCheckOptions options;
  options.step = 1.0;
  options.atol = 1e-3;
  options.coordinates = 64;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      c.name + " wrt x", x,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(PoolForward(v, p, &out));
        return Dot(g, out);
      },
      gx, options));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PoolCasesTest,
    ::testing::Values(PoolCase{"k2", {2, 3, 6, 6, 5}, 2, 0, 0},
                      PoolCase{"k2_odd_input", {1, 2, 5, 7, 4}, 2, 0, 0},
                      PoolCase{"k3", {2, 2, 9, 7, 3}, 3, 0, 0},
                      PoolCase{"k3_stride2_pad1", {1, 2, 7, 5, 3}, 3, 2, 1},
                      PoolCase{"k4_stride1", {1, 1, 6, 6, 2}, 4, 1, 0},
                      PoolCase{"k2_pad1", {2, 1, 5, 5, 3}, 2, 2, 1},
                      PoolCase{"k3_stride2_pad1_t9", {1, 2, 7, 5, 9}, 3, 2, 1},
                      PoolCase{"k9_pad4", {1, 1, 10, 10, 9}, 9, 1, 4}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return info.param.name; });

// The sums in window order, then scaled, and each tiled input's gradient as
// one fma into zero: exactly, for every t (T 21: vector body and tail), with
// the row and column no window covers left zero.
TEST(PoolTest, ExactSumsAndTiledGradient) {
  const Shape shape = {2, 3, 5, 7, 21};
  Tensor x = RandomUniform(shape, 4);
  PoolParams p;
  p.kernel = 2;
  p.weight = 11.0f;
  Tensor y;
  SLAYER_ASSERT_OK(PoolForward(x, p, &y));
  ASSERT_EQ(y.shape(), Shape({2, 3, 2, 3, 21}));
  Tensor g = RandomUniform(y.shape(), 5);
  for (int64_t i = 0; i < g.numel(); i += 7) g.data()[i] = -0.0f;  // fma(w, -0, +0) = +0
  Tensor gx = Tensor::Full(shape, 5.0f);
  SLAYER_ASSERT_OK(PoolBackward(shape, p, g, &gx));
  int64_t mismatches = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 0; t < 21; ++t) {
        for (int64_t ho = 0; ho < 2; ++ho)
          for (int64_t wo = 0; wo < 3; ++wo) {
            float sum = 0.0f;
            for (int64_t kh = 0; kh < 2; ++kh)
              for (int64_t kw = 0; kw < 2; ++kw) sum += x.at({n, c, 2 * ho + kh, 2 * wo + kw, t});
            mismatches += y.at({n, c, ho, wo, t}) != 11.0f * sum;
          }
        for (int64_t h = 0; h < 5; ++h)
          for (int64_t w = 0; w < 7; ++w) {
            const float expected =
                h < 4 && w < 6 ? std::fma(11.0f, g.at({n, c, h / 2, w / 2, t}), 0.0f) : 0.0f;
            const float got = gx.at({n, c, h, w, t});
            mismatches += got != expected || std::signbit(got) != std::signbit(expected);
          }
      }
  EXPECT_EQ(mismatches, 0);
}

TEST(PoolTest, BadArgumentsAreInvalidArgument) {
  PoolParams p;
  p.kernel = 4;
  absl::StatusOr<Shape> s = PoolOutputShape({1, 1, 3, 8, 2}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("does not fit"));
  p.kernel = 0;
  s = PoolOutputShape({1, 1, 3, 8, 2}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  p.kernel = 2;
  s = PoolOutputShape({1, 3, 8, 2}, p);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("expected [N, C, H, W, T]"));
  Tensor gx;
  absl::Status st = PoolBackward({1, 1, 4, 4, 2}, p, Tensor::Zeros({1, 1, 3, 2, 2}), &gx);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("grad_y: expected shape [1,1,2,2,2]"));
}

}  // namespace
}  // namespace ops
}  // namespace slayer
