#include "slayer/ops/dense.h"

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

TEST(DenseTest, HandComputed) {
  Tensor x = Tensor::FromVector({1, 2, 1, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = Tensor::FromVector({2, 2}, {1, 0, 0.5f, -1});
  Tensor y;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y));
  EXPECT_EQ(y.shape(), Shape({1, 2, 1, 1, 3}));
  EXPECT_THAT(std::vector<float>(y.span().begin(), y.span().end()),
              ElementsAre(1, 2, 3, -3.5f, -4, -4.5f));
  Tensor gy = Tensor::FromVector({1, 2, 1, 1, 3}, {1, 0, 0, 0, 0, 2});
  Tensor gx, gw;
  SLAYER_ASSERT_OK(DenseBackward(x, w, gy, &gx, &gw));
  // gx[i, t] = sum_o w[o, i] gy[o, t];  gw[o, i] = sum_t gy[o, t] x[i, t].
  EXPECT_THAT(std::vector<float>(gx.span().begin(), gx.span().end()),
              ElementsAre(1, 0, 1, 0, 0, -2));
  EXPECT_THAT(std::vector<float>(gw.span().begin(), gw.span().end()), ElementsAre(1, 4, 6, 12));
}

// y[n, o, t] = sum_i w[o, i] x[n, i, t] in double.
Tensor NaiveDense(const Tensor& x, const Tensor& w) {
  const int64_t n_batch = x.dim(0), steps = x.dim(-1), in = w.dim(1), out = w.dim(0);
  Tensor y = Tensor::Zeros({n_batch, out, 1, 1, steps});
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = 0; t < steps; ++t) {
        double sum = 0.0;
        for (int64_t i = 0; i < in; ++i) {
          sum += static_cast<double>(w.data()[o * in + i]) * x.data()[(n * in + i) * steps + t];
        }
        y.data()[(n * out + o) * steps + t] = static_cast<float>(sum);
      }
  return y;
}

// (x shape, outputs, spike rate): rate 0 draws dense uniform inputs (the GEMM
// path), a small rate sparse spike trains (the event-driven path).
class DenseShapesTest
    : public ::testing::TestWithParam<std::tuple<Shape, int64_t, float>> {};

TEST_P(DenseShapesTest, ForwardMatchesLoopsAndBackwardMatchesFiniteDifferences) {
  const auto& [x_shape, outputs, rate] = GetParam();
  Tensor x = rate > 0 ? testing::RandomSpikes(x_shape, rate, 0.5f, 1) : RandomUniform(x_shape, 1);
  const int64_t inputs = x.numel() / (x.dim(0) * x.dim(-1));
  Tensor w = RandomUniform({outputs, inputs}, 2);
  Tensor y;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y));
  SLAYER_EXPECT_OK(testing::ExpectClose(y, NaiveDense(x, w), 1e-5, 1e-5, "dense forward"));

  Tensor g = RandomUniform(y.shape(), 3);
  Tensor gx, gw = Tensor::Full({outputs, inputs}, 123.0f);  // must be overwritten
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx, &gw));
  testing::GradientCheckOptions options;
  options.step = 1.0;  // bilinear: exact in each argument
  options.atol = 1e-4;
  SLAYER_EXPECT_OK(testing::CheckGradient(
      "dense wrt x", x,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(DenseForward(v, w, &out));
        return Dot(g, out);
      },
      gx, options));
  SLAYER_EXPECT_OK(testing::CheckGradient(
      "dense wrt w", w,
      [&](const Tensor& v) -> absl::StatusOr<double> {
        Tensor out;
        SLAYER_RETURN_IF_ERROR(DenseForward(x, v, &out));
        return Dot(g, out);
      },
      gw, options));

  // Each gradient alone gives the same values.
  Tensor gx_only, gw_only;
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx_only, nullptr));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, nullptr, &gw_only));
  SLAYER_EXPECT_OK(testing::ExpectClose(gx_only, gx, 0, 0, "grad_x alone"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw_only, gw, 0, 0, "grad_w alone"));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DenseShapesTest,
    ::testing::Values(std::make_tuple(Shape{3, 4, 2, 2, 20}, int64_t{7}, 0.0f),
                      std::make_tuple(Shape{1, 40, 1, 1, 33}, int64_t{130}, 0.0f),  // rows split
                      std::make_tuple(Shape{2, 5, 9}, int64_t{1}, 0.0f),
                      std::make_tuple(Shape{5, 1}, int64_t{3}, 0.0f),
                      // Sparse enough for the events at these widths:
                      std::make_tuple(Shape{3, 4, 2, 2, 20}, int64_t{40}, 0.05f),
                      std::make_tuple(Shape{1, 40, 1, 1, 33}, int64_t{130}, 0.05f),
                      std::make_tuple(Shape{4, 90, 1, 1, 61}, int64_t{37}, 0.05f),
                      std::make_tuple(Shape{2, 5, 9}, int64_t{33}, 0.03f)));

TEST(DenseTest, SparseAndDenseInputsGiveTheSameSums) {
  // The same spikes, once sparse enough for the event-driven kernels and
  // once with every other entry made a tiny nonzero (forcing the GEMM): the
  // results differ only by those tiny entries' contributions.
  Tensor sparse = testing::RandomSpikes({2, 64, 1, 1, 50}, 0.05f, 1.0f, 7);
  Tensor dense = sparse.Clone();
  for (int64_t i = 0; i < dense.numel(); i += 2) {
    if (dense.data()[i] == 0.0f) dense.data()[i] = 1e-30f;
  }
  Tensor w = RandomUniform({20, 64}, 8);
  Tensor g = RandomUniform({2, 20, 1, 1, 50}, 9);
  Tensor y1, y2, gw1, gw2;
  SLAYER_ASSERT_OK(DenseForward(sparse, w, &y1));
  SLAYER_ASSERT_OK(DenseForward(dense, w, &y2));
  SLAYER_ASSERT_OK(DenseBackward(sparse, w, g, nullptr, &gw1));
  SLAYER_ASSERT_OK(DenseBackward(dense, w, g, nullptr, &gw2));
  SLAYER_EXPECT_OK(testing::ExpectClose(y1, y2, 1e-5, 1e-5, "forward"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw1, gw2, 1e-5, 1e-5, "grad_w"));
}

TEST(DenseTest, RecordedEventsGiveTheSameResultsAndFollowTheInput) {
  Tensor x = testing::RandomSpikes({3, 70, 1, 1, 41}, 0.04f, 1.0f, 11);
  Tensor w = RandomUniform({40, 70}, 12);
  Tensor g = RandomUniform({3, 40, 1, 1, 41}, 13);
  Tensor y1, y2, gx1, gx2, gw1, gw2;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y1));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx1, &gw1));
  DenseEvents events;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y2, &events));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx2, &gw2, &events));
  SLAYER_EXPECT_OK(testing::ExpectClose(y2, y1, 0, 0, "forward"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw2, gw1, 0, 0, "grad_w"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gx2, gx1, 0, 0, "grad_x"));
  // Events recorded for another tensor are not used: x2 is scanned afresh.
  Tensor x2 = testing::RandomSpikes(x.shape(), 0.04f, 1.0f, 14);
  Tensor gw3, gw4;
  SLAYER_ASSERT_OK(DenseBackward(x2, w, g, nullptr, &gw3, &events));
  SLAYER_ASSERT_OK(DenseBackward(x2, w, g, nullptr, &gw4));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw3, gw4, 0, 0, "grad_w of another x"));
  // A dense x recorded as such takes the GEMM in both passes.
  Tensor d = RandomUniform(x.shape(), 15);
  Tensor y5, y6, gw5, gw6;
  SLAYER_ASSERT_OK(DenseForward(d, w, &y5, &events));
  SLAYER_ASSERT_OK(DenseBackward(d, w, g, nullptr, &gw5, &events));
  SLAYER_ASSERT_OK(DenseForward(d, w, &y6));
  SLAYER_ASSERT_OK(DenseBackward(d, w, g, nullptr, &gw6));
  SLAYER_EXPECT_OK(testing::ExpectClose(y5, y6, 0, 0, "dense forward"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw5, gw6, 0, 0, "dense grad_w"));
}

TEST(DenseTest, SteadyStateReusesOutputs) {
  Tensor x = RandomUniform({2, 8, 1, 1, 10}, 1);
  Tensor w = RandomUniform({4, 8}, 2);
  Tensor y, gx, gw;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y));
  Tensor g = RandomUniform(y.shape(), 3);
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx, &gw));
  const float* py = y.data();
  const float* pgx = gx.data();
  const float* pgw = gw.data();
  SLAYER_ASSERT_OK(DenseForward(x, w, &y));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx, &gw));
  EXPECT_EQ(y.data(), py);
  EXPECT_EQ(gx.data(), pgx);
  EXPECT_EQ(gw.data(), pgw);
}

TEST(DenseTest, BadShapesAreInvalidArgument) {
  Tensor x = Tensor::Zeros({2, 4, 2, 2, 10});
  Tensor y;
  absl::Status s = DenseForward(x, Tensor::Zeros({3, 15}), &y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("w has shape [3,15], expected [O, 16]"));
  s = DenseForward(Tensor::Zeros({7}), Tensor::Zeros({3, 1}), &y);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("x has shape [7]"));
  Tensor gx, gw;
  s = DenseBackward(x, Tensor::Zeros({3, 16}), Tensor::Zeros({2, 3, 10}), &gx, &gw);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("grad_y: expected shape [2,3,1,1,10]"));
  s = DenseForward(x, Tensor::Zeros({3, 16}), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ops
}  // namespace slayer
