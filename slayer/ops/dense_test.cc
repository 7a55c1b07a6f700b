#include "slayer/ops/dense.h"

#include <cmath>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Dot;
using testing::RandomUniform;

// An SRM neuron with its kernels for `steps` steps at Ts (held here: the
// neuron's spans point into them).
struct SrmNeuron {
  SrmNeuron(const SrmParams& srm, float ts, int64_t steps)
      : kernels(MakeSrmKernels(srm, ts, steps)) {
    neuron.eps = kernels.eps;
    neuron.nu = kernels.nu;
    neuron.theta = srm.theta;
    neuron.ts = ts;
  }
  SrmNeuron(const SrmNeuron&) = delete;
  SrmNeuron& operator=(const SrmNeuron&) = delete;
  SrmKernels kernels;
  DenseNeuron neuron;
};

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

TEST(DenseTest, GemmPathsAgree) {
  // Eigen's GEMM and the AVX-512 kernel (where the CPU has one) on the same
  // dense inputs, in all three products.
  if (!internal::FastGemmAvailable()) {
    GTEST_SKIP() << "no AVX-512 on this CPU: the dense ops use Eigen's GEMM only";
  }
  struct Restore {
    ~Restore() { internal::SetFastGemmEnabled(true); }
  } restore;
  // Three samples; one sample of 70 outputs (its rows split over tasks).
  for (const auto& [batch, outputs] : {std::pair<int64_t, int64_t>{3, 37}, {1, 70}}) {
    Tensor x = RandomUniform({batch, 70, 1, 1, 45}, 21);
    Tensor w = RandomUniform({outputs, 70}, 22);
    Tensor g = RandomUniform({batch, outputs, 1, 1, 45}, 23);
    Tensor y[2], gx[2], gw[2];
    for (int fast = 0; fast < 2; ++fast) {
      internal::SetFastGemmEnabled(fast == 1);
      SLAYER_ASSERT_OK(DenseForward(x, w, &y[fast]));
      SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx[fast], &gw[fast]));
    }
    SLAYER_EXPECT_OK(testing::ExpectClose(y[1], y[0], 1e-5, 1e-5, "forward"));
    SLAYER_EXPECT_OK(testing::ExpectClose(gx[1], gx[0], 1e-5, 1e-5, "grad_x"));
    SLAYER_EXPECT_OK(testing::ExpectClose(gw[1], gw[0], 1e-4, 1e-5, "grad_w"));
  }
}

// DenseForward, PspForward and SpikeForward in turn.
void ThreeOps(const Tensor& x, const Tensor& w, const DenseNeuron& neuron, bool spikes, Tensor* u,
              Tensor* s) {
  Tensor z;
  SLAYER_ASSERT_OK(DenseForward(x, w, &z));
  SLAYER_ASSERT_OK(PspForward(z, neuron.eps, neuron.ts, u));
  if (spikes) SLAYER_ASSERT_OK(SpikeForward(u, neuron.nu, neuron.theta, neuron.ts, s));
}

TEST(DenseTest, SpikingForwardEqualsTheThreeOps) {
  SrmParams srm;  // theta 10, tau_sr 10 ms, refractory scale 2
  const struct {
    Shape x_shape;
    int64_t outputs;
    float rate;  // 0: dense uniform input (the ops run in turn)
  } cases[] = {{{3, 70, 1, 1, 120}, 40, 0.05f},  // a partial second panel
               {{2, 300, 1, 1, 300}, 64, 0.02f},
               {{1, 9, 1, 1, 17}, 30, 0.1f},     // a short train: eps cut to 17 taps
               {{2, 40, 1, 1, 50}, 33, 0.05f},   // a panel of one output
               {{2, 30, 1, 1, 60}, 33, 0.0f}};
  for (const auto& c : cases) {
    for (float ts : {1.0f, 0.5f}) {
      const SrmKernels kernels = MakeSrmKernels(srm, ts, c.x_shape[4]);
      DenseNeuron neuron;
      neuron.eps = kernels.eps;
      neuron.nu = kernels.nu;
      neuron.theta = srm.theta;
      neuron.ts = ts;
      Tensor x = c.rate > 0 ? testing::RandomSpikes(c.x_shape, c.rate, ts, 31)
                            : RandomUniform(c.x_shape, 31, 0.0f, 0.05f);
      Tensor w = RandomUniform({c.outputs, c.x_shape[1]}, 32, -3.0f, 3.0f);
      for (bool spikes : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "x " << ShapeString(c.x_shape) << " outputs "
                                          << c.outputs << " ts " << ts << " spikes " << spikes);
        Tensor u1, s1, u2, s2, scratch, u3, s3, scratch3;
        ThreeOps(x, w, neuron, spikes, &u1, &s1);
        DenseEvents events;
        SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w, neuron, &u2, spikes ? &s2 : nullptr,
                                                  &events, &scratch));
        // Sparse input takes the one pass (z never written), dense the ops.
        EXPECT_EQ(scratch.empty(), c.rate > 0);
        SLAYER_EXPECT_OK(testing::ExpectClose(u2, u1, 0, 0, "u"));
        // Without events kept: the same.
        SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w, neuron, &u3, spikes ? &s3 : nullptr,
                                                  nullptr, &scratch3));
        SLAYER_EXPECT_OK(testing::ExpectClose(u3, u1, 0, 0, "u without events"));
        if (spikes) SLAYER_EXPECT_OK(testing::ExpectClose(s3, s1, 0, 0, "s without events"));
        if (!spikes) continue;
        SLAYER_EXPECT_OK(testing::ExpectClose(s2, s1, 0, 0, "s"));
        int64_t count = 0;
        for (float v : s2.span()) count += v != 0.0f;
        EXPECT_GT(count, 0) << "no spikes: the case tests nothing of the spike scan";
        EXPECT_LT(count, s2.numel() / 4);
        // The recorded events serve the backward pass as DenseForward's do.
        Tensor g = RandomUniform(u2.shape(), 33);
        Tensor gw1, gw2;
        SLAYER_ASSERT_OK(DenseBackward(x, w, g, nullptr, &gw1, &events));
        SLAYER_ASSERT_OK(DenseBackward(x, w, g, nullptr, &gw2));
        SLAYER_EXPECT_OK(testing::ExpectClose(gw1, gw2, 0, 0, "grad_w"));
      }
    }
  }
}

TEST(DenseTest, SpikingBackwardEqualsTheTwoOps) {
  // DenseSpikingBackward against SurrogatePspBackward then DenseBackward,
  // bit for bit, with and without grad_x, both vector widths. Fewer than 32
  // inputs give grad_W's panels whole inputs on any thread count (the one
  // pass); 200 inputs with one panel, dense input, or a kernel of no alpha
  // form run the two ops.
  SrmParams srm;
  SurrogateParams sp;
  sp.theta = srm.theta;
  sp.tau_rho = 0.5f;
  sp.scale_rho = 2.0f;
  const struct {
    Shape x_shape;
    int64_t outputs;
    float rate;  // 0: dense uniform input
    bool alpha;  // false: eps of no alpha form
    bool fused;
  } cases[] = {{{3, 20, 1, 1, 120}, 70, 0.05f, true, true},  // a partial third panel
               {{2, 24, 1, 1, 300}, 64, 0.05f, true, true},
               {{2, 10, 1, 1, 17}, 33, 0.05f, true, true},   // a short train; 1-output panel
               {{2, 200, 1, 1, 50}, 20, 0.03f, true, false},  // one panel: blocks of inputs
               {{2, 20, 1, 1, 50}, 40, 0.0f, true, false},   // dense input
               {{2, 20, 1, 1, 50}, 40, 0.05f, false, false}};
  for (const auto& c : cases) {
    for (float ts : {1.0f, 0.5f}) {
      const SrmKernels kernels = MakeSrmKernels(srm, ts, c.x_shape[4]);
      std::vector<float> eps = kernels.eps;
      if (!c.alpha) eps = {0.0f, 0.5f, 0.25f, 0.125f};
      DenseNeuron neuron;
      neuron.eps = eps;
      neuron.nu = kernels.nu;
      neuron.theta = srm.theta;
      neuron.ts = ts;
      Tensor x = c.rate > 0 ? testing::RandomSpikes(c.x_shape, c.rate, ts, 41)
                            : RandomUniform(c.x_shape, 41, 0.0f, 0.05f);
      Tensor w = RandomUniform({c.outputs, c.x_shape[1]}, 42, -3.0f, 3.0f);
      const Shape y_shape = {c.x_shape[0], c.outputs, 1, 1, c.x_shape[4]};
      Tensor u = RandomUniform(y_shape, 43, -5.0f, 25.0f);
      Tensor gs = RandomUniform(y_shape, 44);
      for (bool wide : {true, false}) {
        internal::SetWideKernelsEnabled(wide);
        Tensor gz_ref, gx_ref, gw_ref;
        SLAYER_ASSERT_OK(cpu::SurrogatePspBackward(gs, u, sp, neuron.eps, ts, &gz_ref));
        SLAYER_ASSERT_OK(DenseBackward(x, w, gz_ref, &gx_ref, &gw_ref));
        for (bool with_grad_x : {true, false}) {
          SCOPED_TRACE(::testing::Message()
                       << "x " << ShapeString(c.x_shape) << " outputs " << c.outputs << " ts "
                       << ts << " wide " << wide << " grad_x " << with_grad_x);
          DenseEvents events;
          Tensor y, gz, gx, gw;
          SLAYER_ASSERT_OK(DenseForward(x, w, &y, &events));
          SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, u, gs, &gz,
                                                     with_grad_x ? &gx : nullptr, &gw, &events));
          SLAYER_EXPECT_OK(testing::ExpectClose(gw, gw_ref, 0, 0, "grad_w"));
          if (with_grad_x) {
            SLAYER_EXPECT_OK(testing::ExpectClose(gx, gx_ref, 0, 0, "grad_x"));
            SLAYER_EXPECT_OK(testing::ExpectClose(gz, gz_ref, 0, 0, "grad_z"));
          } else {
            // The one pass stores no grad_z; the two ops do.
            EXPECT_EQ(gz.empty(), c.fused);
          }
        }
      }
      internal::SetWideKernelsEnabled(true);
    }
  }
  // Shapes and aliasing are checked.
  Tensor x = testing::RandomSpikes({2, 20, 1, 1, 30}, 0.05f, 1.0f, 45);
  Tensor w = RandomUniform({40, 20}, 46);
  Tensor u = RandomUniform({2, 40, 1, 1, 30}, 47);
  Tensor gz, gw;
  DenseNeuron neuron;
  const SrmKernels kernels = MakeSrmKernels(srm, 1.0f, 30);
  neuron.eps = kernels.eps;
  absl::Status s = cpu::DenseSpikingBackward(x, w, neuron, sp, u, Tensor::Zeros({2, 40, 1, 1, 29}),
                                             &gz, nullptr, &gw, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("grad_y"));
  Tensor alias = u;
  s = cpu::DenseSpikingBackward(x, w, neuron, sp, u, u, &alias, nullptr, &gw, nullptr);
  EXPECT_THAT(std::string(s.message()), HasSubstr("grad_z must not share storage"));
  SurrogateParams undefined = sp;
  undefined.tau_rho = 0.0f;
  s = cpu::DenseSpikingBackward(x, w, neuron, undefined, u, u, &gz, nullptr, &gw, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("DenseSpikingBackward: surrogate needs tau_rho"));
}

TEST(DenseTest, PotentialsAsPanelsGiveTheSameStep) {
  // DenseSpikingForward may leave u time-major per panel (u_panels) when the
  // backward's one pass will read it: the rows rebuilt from the panels, s,
  // and the backward from the panels equal the row layout's bit for bit.
  // Fewer than 32 inputs: whole-input panels on any thread count.
  SrmParams srm;
  SurrogateParams sp;
  sp.theta = srm.theta;
  const SrmNeuron srm_neuron(srm, 1.0f, 150);
  const DenseNeuron& neuron = srm_neuron.neuron;
  Tensor x = testing::RandomSpikes({3, 24, 1, 1, 150}, 0.05f, 1.0f, 51);
  Tensor w = RandomUniform({70, 24}, 52, -4.0f, 4.0f);  // a partial third panel
  for (bool wide : {true, false}) {
    internal::SetWideKernelsEnabled(wide);
    SCOPED_TRACE(::testing::Message() << "wide " << wide);
    Tensor u1, s1, scratch1, u2, s2, scratch2, panels, rows;
    DenseEvents e1, e2;
    SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w, neuron, &u1, &s1, &e1, &scratch1));
    SLAYER_ASSERT_OK(
        cpu::DenseSpikingForward(x, w, neuron, &u2, &s2, &e2, &scratch2, nullptr, &panels));
    ASSERT_FALSE(panels.empty());
    EXPECT_EQ(panels.shape(), (Shape{3, 3, 150, 32}));
    EXPECT_TRUE(u2.empty());  // u left as it was
    SLAYER_ASSERT_OK(cpu::DensePanelsToRows(panels, 70, &rows));
    SLAYER_EXPECT_OK(testing::ExpectClose(rows, u1, 0, 0, "u from the panels"));
    SLAYER_EXPECT_OK(testing::ExpectClose(s2, s1, 0, 0, "s"));
    int64_t spikes = 0;
    for (float v : s1.span()) spikes += v != 0.0f;
    EXPECT_GT(spikes, 0);
    Tensor gs = RandomUniform(u1.shape(), 53);
    Tensor gz1, gx1, gw1, gz2, gx2, gw2;
    SLAYER_ASSERT_OK(
        cpu::DenseSpikingBackward(x, w, neuron, sp, u1, gs, &gz1, &gx1, &gw1, &e1));
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), gs, &gz2, &gx2, &gw2,
                                               &e2, &panels));
    SLAYER_EXPECT_OK(testing::ExpectClose(gw2, gw1, 0, 0, "grad_w from the panels"));
    SLAYER_EXPECT_OK(testing::ExpectClose(gx2, gx1, 0, 0, "grad_x from the panels"));
    // Without grad_w the two ops run, on the rows rebuilt from the panels.
    Tensor gz3, gx3;
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), gs, &gz3, &gx3,
                                               nullptr, &e2, &panels));
    SLAYER_EXPECT_OK(testing::ExpectClose(gx3, gx1, 0, 0, "grad_x, two ops, from the panels"));
    // Without s (no spikes wanted) u is written as rows.
    Tensor u4, scratch4, panels4;
    SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w, neuron, &u4, nullptr, nullptr, &scratch4,
                                              nullptr, &panels4));
    EXPECT_TRUE(panels4.empty());
    EXPECT_FALSE(u4.empty());
  }
  internal::SetWideKernelsEnabled(true);
  Tensor bad = Tensor::Zeros({3, 2, 150, 32}), rows;
  EXPECT_EQ(cpu::DensePanelsToRows(bad, 70, &rows).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DenseTest, SpikingBackwardTakesGradSAsFactors) {
  // grad_s given as the next layer's W^T grad_z (a 10-output classifier):
  // the one pass (u as panels) and the two ops (u as rows) equal the
  // backward of the stored product, which DenseBackward computes; bit for
  // bit where the AVX-512 GEMM runs, else to rounding.
  SrmParams srm;
  SurrogateParams sp;
  sp.theta = srm.theta;
  const SrmNeuron srm_neuron(srm, 1.0f, 120);
  const DenseNeuron& neuron = srm_neuron.neuron;
  Tensor x = testing::RandomSpikes({3, 24, 1, 1, 120}, 0.05f, 1.0f, 61);
  Tensor w = RandomUniform({70, 24}, 62, -4.0f, 4.0f);
  Tensor w_next = RandomUniform({10, 70}, 63);
  Tensor gz_next = RandomUniform({3, 10, 1, 1, 120}, 64);
  const double tolerance = internal::FastGemmAvailable() ? 0.0 : 1e-5;
  for (bool wide : {true, false}) {
    internal::SetWideKernelsEnabled(wide);
    SCOPED_TRACE(::testing::Message() << "wide " << wide);
    Tensor u, s, scratch, panels, s_next_input;
    DenseEvents events;
    SLAYER_ASSERT_OK(
        cpu::DenseSpikingForward(x, w, neuron, &u, &s, &events, &scratch, nullptr, &panels));
    ASSERT_FALSE(panels.empty());
    // The stored product: grad_s = w_next^T gz_next, as the next layer's
    // DenseBackward gives it.
    Tensor gs;
    SLAYER_ASSERT_OK(DenseBackward(s, w_next, gz_next, &gs, nullptr));
    Tensor gz1, gx1, gw1, gz2, gx2, gw2, gz3, gx3, gw3;
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), gs, &gz1, &gx1, &gw1,
                                               &events, &panels));
    const DenseGradFactor factor{&w_next, &gz_next};
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), Tensor(), &gz2, &gx2,
                                               &gw2, &events, &panels, &factor));
    SLAYER_EXPECT_OK(testing::ExpectClose(gw2, gw1, tolerance, tolerance, "grad_w, one pass"));
    SLAYER_EXPECT_OK(testing::ExpectClose(gx2, gx1, tolerance, tolerance, "grad_x, one pass"));
    // u as rows: the factor is multiplied out and the two ops run.
    Tensor rows;
    SLAYER_ASSERT_OK(cpu::DensePanelsToRows(panels, 70, &rows));
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, rows, Tensor(), &gz3, &gx3,
                                               &gw3, &events, nullptr, &factor));
    SLAYER_EXPECT_OK(testing::ExpectClose(gw3, gw1, 1e-5, 1e-5, "grad_w, two ops"));
    // keep_grad_z stores grad_z without grad_x.
    Tensor gz4, gw4;
    SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), Tensor(), &gz4,
                                               nullptr, &gw4, &events, &panels, &factor,
                                               /*keep_grad_z=*/true));
    SLAYER_EXPECT_OK(testing::ExpectClose(gz4, gz2, 0, 0, "kept grad_z"));
  }
  internal::SetWideKernelsEnabled(true);
  // A factor of the wrong shape is refused, naming it.
  Tensor u, s, scratch, panels, gz, gw;
  DenseEvents events;
  SLAYER_ASSERT_OK(
      cpu::DenseSpikingForward(x, w, neuron, &u, &s, &events, &scratch, nullptr, &panels));
  Tensor bad_w = RandomUniform({10, 69}, 65);
  const DenseGradFactor bad{&bad_w, &gz_next};
  absl::Status st = cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), Tensor(), &gz, nullptr,
                                              &gw, &events, &panels, &bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("grad_s factor w: expected [C, 70]"));
}

// Panels [N, P, T, 32] of a rows tensor [N, C, 1, 1, T] (zero past C).
Tensor Panels(const Tensor& rows) {
  const int64_t batch = rows.dim(0), channels = rows.dim(1), steps = rows.dim(-1);
  const int64_t panels = (channels + 31) / 32;
  Tensor out = Tensor::Zeros({batch, panels, steps, 32});
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t t = 0; t < steps; ++t) {
        out.data()[((n * panels + c / 32) * steps + t) * 32 + c % 32] =
            rows.data()[(n * channels + c) * steps + t];
      }
    }
  }
  return out;
}

TEST(DenseTest, SpikingBackwardPassesGradientsAsPanels) {
  // grad_x asked for as panels ([N, P, T, 32]) and grad_s given as panels,
  // through the one pass (u as panels, with and without a factor, and as
  // rows) and the two ops (events too dense): the rows layout's values, bit for
  // bit (with AMX, grad_x as panels within bf16x3's rounding), as panels where
  // the one pass and the AVX-512 GEMM run, else as rows (told apart by
  // rank). Fewer than 32 inputs: whole-input panels on any thread count; 24
  // inputs: a partial panel.
  SrmParams srm;
  SurrogateParams sp;
  sp.theta = srm.theta;
  const SrmNeuron srm_neuron(srm, 1.0f, 110);
  const DenseNeuron& neuron = srm_neuron.neuron;
  Tensor x = testing::RandomSpikes({3, 24, 1, 1, 110}, 0.05f, 1.0f, 161);
  Tensor w = RandomUniform({70, 24}, 162, -4.0f, 4.0f);
  Tensor w_next = RandomUniform({10, 70}, 163);
  Tensor gz_next = RandomUniform({3, 10, 1, 1, 110}, 164);
  Tensor u, s, scratch, panels, rows;
  DenseEvents events;
  SLAYER_ASSERT_OK(
      cpu::DenseSpikingForward(x, w, neuron, &u, &s, &events, &scratch, nullptr, &panels));
  ASSERT_FALSE(panels.empty());
  SLAYER_ASSERT_OK(cpu::DensePanelsToRows(panels, 70, &rows));
  const Tensor gs = RandomUniform(rows.shape(), 165);
  // grad_x as panels where they come straight out of the one pass's GEMM,
  // else as rows.
  // With AMX the GEMM of the panels multiplies in bf16x3 (ops/gemm.h):
  // within a few 2^-16 of the sums of |products| (here about 1e2; seen:
  // 1e-4), not bit for bit. bf16 alone would be off by about 0.2.
  const auto expect_grad_x = [](const Tensor& got, const Tensor& want_rows, bool as_panels,
                                const char* what) {
    EXPECT_EQ(got.rank(), as_panels ? 4 : 5) << what;
    const double tolerance = as_panels && internal::AmxGemmAvailable() ? 1e-3 : 0;
    SLAYER_EXPECT_OK(
        testing::ExpectClose(got, as_panels ? Panels(want_rows) : want_rows, tolerance, 0, what));
  };
  const Tensor gs_panels = Panels(gs);
  const DenseGradFactor factor{&w_next, &gz_next};
  struct Case {
    const char* what;
    const Tensor* u_panels;
    const DenseGradFactor* factor;
  };
  struct Restore {
    ~Restore() { internal::SetAmxGemmEnabled(true); }
  } restore;
  for (const bool amx : {false, true}) {
    internal::SetAmxGemmEnabled(amx);
    if (amx && !internal::AmxGemmAvailable()) break;
    SCOPED_TRACE(amx ? "AMX GEMM" : "fp32 GEMM");
    for (const Case& c :
         {Case{"one pass", &panels, nullptr}, Case{"one pass, factor", &panels, &factor},
          Case{"one pass, u as rows", nullptr, nullptr}}) {
      SCOPED_TRACE(c.what);
      const Tensor& u_arg = c.u_panels != nullptr ? Tensor() : rows;
      Tensor gz1, gx1, gw1;
      SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, u_arg, gs, &gz1, &gx1, &gw1,
                                                 &events, c.u_panels, c.factor));
      ASSERT_EQ(gx1.shape(), x.shape());
      const bool one_pass_gemm = internal::FastGemmAvailable();  // the events are sparse
      // grad_x as panels.
      Tensor gz2, gx2, gw2;
      SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, u_arg, gs, &gz2, &gx2, &gw2,
                                                 &events, c.u_panels, c.factor,
                                                 /*keep_grad_z=*/false, /*grad_x_panels=*/true));
      expect_grad_x(gx2, gx1, one_pass_gemm, "grad_x asked for as panels");
      if (one_pass_gemm) {
        EXPECT_EQ(gx2.shape(), (Shape{3, 1, 110, 32}));
      }
      SLAYER_EXPECT_OK(testing::ExpectClose(gw2, gw1, 0, 0, "grad_w, grad_x as panels"));
      // keep_grad_z keeps grad_z as rows, and grad_x comes as rows.
      Tensor gz3, gx3, gw3;
      SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, u_arg, gs, &gz3, &gx3, &gw3,
                                                 &events, c.u_panels, c.factor,
                                                 /*keep_grad_z=*/true, /*grad_x_panels=*/true));
      SLAYER_EXPECT_OK(testing::ExpectClose(gz3, gz1, 0, 0, "kept grad_z"));
      expect_grad_x(gx3, gx1, false, "grad_x, kept z");
      if (c.factor != nullptr) continue;
      // grad_s as panels: the same gradients as grad_s as rows.
      Tensor gz4, gx4, gw4;
      SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x, w, neuron, sp, u_arg, gs_panels, &gz4, &gx4,
                                                 &gw4, &events, c.u_panels));
      SLAYER_EXPECT_OK(testing::ExpectClose(gw4, gw1, 0, 0, "grad_w from grad_s as panels"));
      SLAYER_EXPECT_OK(testing::ExpectClose(gx4, gx1, 0, 0, "grad_x from grad_s as panels"));
    }
  }
  // Events too dense for the one pass: the two ops, panels both ways.
  Tensor x_dense = testing::RandomSpikes(x.shape(), 0.6f, 1.0f, 166);
  Tensor u5, s5, scratch5, panels5;
  DenseEvents events5;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x_dense, w, neuron, &u5, &s5, &events5, &scratch5,
                                            nullptr, &panels5));
  EXPECT_TRUE(panels5.empty());
  Tensor gz5, gx5, gw5, gz6, gx6, gw6;
  SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x_dense, w, neuron, sp, u5, gs, &gz5, &gx5, &gw5,
                                             &events5));
  SLAYER_ASSERT_OK(cpu::DenseSpikingBackward(x_dense, w, neuron, sp, u5, gs_panels, &gz6, &gx6,
                                             &gw6, &events5, nullptr, nullptr, false, true));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw6, gw5, 0, 0, "grad_w, dense x"));
  expect_grad_x(gx6, gx5, false, "grad_x, dense x");
  // Panels of the wrong shape are refused, naming them.
  Tensor bad = Tensor::Zeros({3, 3, 109, 32}), gz7, gw7;
  absl::Status st = cpu::DenseSpikingBackward(x, w, neuron, sp, Tensor(), bad, &gz7, nullptr,
                                              &gw7, &events, &panels);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("grad_s (panels)"));
}

TEST(DenseTest, HandedOverEventsAreTakenOnceAndFollowTheTensor) {
  // Layer 1's one pass hands over the events of its spikes s1; layer 2's
  // forward on s1 takes them (the same u and s as scanning s1), its backward
  // reuses them, and a later forward on s1 changed in place scans it again.
  SrmParams srm;
  const SrmKernels kernels = MakeSrmKernels(srm, 1.0f, 200);
  DenseNeuron neuron;
  neuron.eps = kernels.eps;
  neuron.nu = kernels.nu;
  neuron.theta = srm.theta;
  Tensor x = testing::RandomSpikes({8, 120, 1, 1, 200}, 0.03f, 1.0f, 71);
  Tensor w1 = RandomUniform({70, 120}, 72, -1.5f, 1.5f);
  Tensor w2 = RandomUniform({33, 70}, 73, -3.0f, 3.0f);
  Tensor u1, s1, scratch1;
  DenseEvents events1, hand;
  SLAYER_ASSERT_OK(
      cpu::DenseSpikingForward(x, w1, neuron, &u1, &s1, &events1, &scratch1, &hand));
  int64_t spikes = 0;
  for (float v : s1.span()) spikes += v != 0.0f;
  ASSERT_GT(spikes, 0);
  ASSERT_LT(spikes, s1.numel() / 20);  // sparse enough for layer 2's events
  Tensor u2, s2, scratch2, u3, s3, scratch3;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u2, &s2, &hand, &scratch2));
  DenseEvents fresh;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u3, &s3, &fresh, &scratch3));
  SLAYER_EXPECT_OK(testing::ExpectClose(u2, u3, 0, 0, "u taking handed events"));
  SLAYER_EXPECT_OK(testing::ExpectClose(s2, s3, 0, 0, "s taking handed events"));
  Tensor g = RandomUniform(u2.shape(), 74);
  Tensor gx1, gw1, gx2, gw2;
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, &gx1, &gw1, &hand));
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, &gx2, &gw2, &fresh));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw1, gw2, 0, 0, "grad_w with handed events"));
  // s1 changed in place, not handed over again: scanned afresh.
  for (int64_t i = 0; i < s1.numel(); i += 97) s1.data()[i] = s1.data()[i] != 0.0f ? 0.0f : 1.0f;
  Tensor u4, s4, u5, s5;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u4, &s4, &hand, &scratch2));
  DenseEvents fresh2;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u5, &s5, &fresh2, &scratch3));
  SLAYER_EXPECT_OK(testing::ExpectClose(u4, u5, 0, 0, "u after s1 changed"));
  SLAYER_EXPECT_OK(testing::ExpectClose(s4, s5, 0, 0, "s after s1 changed"));
  // Handed over, then dropped (s1 about to be written another way).
  SLAYER_ASSERT_OK(
      cpu::DenseSpikingForward(x, w1, neuron, &u1, &s1, &events1, &scratch1, &hand));
  hand.DropHandOver();
  for (int64_t i = 0; i < s1.numel(); i += 89) s1.data()[i] = s1.data()[i] != 0.0f ? 0.0f : 1.0f;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u4, &s4, &hand, &scratch2));
  DenseEvents fresh3;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u5, &s5, &fresh3, &scratch3));
  SLAYER_EXPECT_OK(testing::ExpectClose(u4, u5, 0, 0, "u after a dropped hand-over"));
}

TEST(DenseTest, EventsRecordedByALoaderAreTakenOnceAndChecked) {
  // A loader records each sample's events (RecordSampleEvents) and hands
  // them over with the batch: forward and backward equal scanning x.
  Tensor x = testing::RandomSpikes({3, 2, 5, 7, 60}, 0.03f, 1.0f, 81);
  Tensor w = RandomUniform({45, 70}, 82);
  Tensor g = RandomUniform({3, 45, 1, 1, 60}, 83);
  std::vector<SampleEvents> samples(3);
  for (int64_t n = 0; n < 3; ++n) {
    RecordSampleEvents(x.data() + n * 70 * 60, 70, 60, &samples[n]);
  }
  Tensor y1, y2, gw1, gw2, gx1, gx2;
  DenseEvents handed, fresh;
  SLAYER_ASSERT_OK(handed.HandOver(x, samples));
  SLAYER_ASSERT_OK(DenseForward(x, w, &y1, &handed));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx1, &gw1, &handed));
  SLAYER_ASSERT_OK(DenseForward(x, w, &y2, &fresh));
  SLAYER_ASSERT_OK(DenseBackward(x, w, g, &gx2, &gw2, &fresh));
  SLAYER_EXPECT_OK(testing::ExpectClose(y1, y2, 0, 0, "forward"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw1, gw2, 0, 0, "grad_w"));
  SLAYER_EXPECT_OK(testing::ExpectClose(gx1, gx2, 0, 0, "grad_x"));
  // Events that do not describe x are taken as they are (the caller's
  // promise), once: handing over a single event shows it was used, and the
  // next forward scans x again.
  std::vector<SampleEvents> one(3);
  std::vector<float> row(60, 0.0f);
  row[5] = 1.0f;
  for (int64_t n = 0; n < 3; ++n) {
    one[n].Clear();
    for (int64_t r = 0; r < 70; ++r) one[n].AddRow(row.data(), r == 4 ? 60 : 0);
  }
  SLAYER_ASSERT_OK(handed.HandOver(x, one));
  Tensor y3, y4;
  SLAYER_ASSERT_OK(DenseForward(x, w, &y3, &handed));
  EXPECT_FLOAT_EQ(y3.data()[5], w.data()[4]);  // sample 0, output 0, step 5: W[0][4]
  EXPECT_EQ(y3.data()[6], 0.0f);
  SLAYER_ASSERT_OK(DenseForward(x, w, &y4, &handed));
  SLAYER_EXPECT_OK(testing::ExpectClose(y4, y2, 0, 0, "forward after the events were taken"));
  // Events that do not fit x's shape are refused, naming what differs.
  absl::Status s = handed.HandOver(x, absl::MakeConstSpan(samples).subspan(0, 2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("x has 3 samples, the events 2"));
  std::vector<SampleEvents> short_rows(3);
  s = handed.HandOver(x, short_rows);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sample 0 has 0 rows of events, x has 70"));
  std::vector<SampleEvents> late = samples;
  std::vector<float> long_row(61, 0.0f);
  long_row[60] = 1.0f;
  late[1].Clear();
  for (int64_t r = 0; r < 70; ++r) late[1].AddRow(long_row.data(), 61);
  s = handed.HandOver(x, late);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sample 1 has an event at step 60, x has 60"));
  SLAYER_ASSERT_OK(DenseForward(x, w, &y4, &handed));  // nothing was handed over
  SLAYER_EXPECT_OK(testing::ExpectClose(y4, y2, 0, 0, "forward after refused events"));
}

TEST(DenseTest, EventsHandedOverButNotTakenServeTheBackwardAsTheyAre) {
  // A forward hands over the events of s1, then s1 changes (a new step)
  // and is handed over again without a forward taking it: the backward on
  // s1 takes the new events (their time-major copy rebuilt), as scanning.
  // And a hand-over dropped leaves nothing that describes s1.
  SrmParams srm;
  const SrmNeuron srm_neuron(srm, 1.0f, 120);
  const DenseNeuron& neuron = srm_neuron.neuron;
  Tensor x = testing::RandomSpikes({2, 24, 1, 1, 120}, 0.05f, 1.0f, 91);
  Tensor w1 = RandomUniform({24, 24}, 92, -1.2f, 1.2f);
  Tensor w2 = RandomUniform({40, 24}, 93);
  Tensor u1, s1, scratch1, u2, s2, scratch2;
  DenseEvents events1, hand;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w1, neuron, &u1, &s1, &events1, &scratch1, &hand));
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u2, &s2, &hand, &scratch2));
  Tensor x2 = testing::RandomSpikes(x.shape(), 0.05f, 1.0f, 94);
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x2, w1, neuron, &u1, &s1, &events1, &scratch1, &hand));
  int64_t spikes = 0;
  for (float v : s1.span()) spikes += v != 0.0f;
  ASSERT_GT(spikes, 0);
  ASSERT_LT(spikes, s1.numel() / 20);  // sparse enough for layer 2's events
  Tensor g = RandomUniform(u2.shape(), 95);
  Tensor gw_handed, gw_fresh;
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, nullptr, &gw_handed, &hand));
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, nullptr, &gw_fresh));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw_handed, gw_fresh, 0, 0, "grad_w, events not taken"));
  // Handed over, dropped, s1 rewritten in place: scanned afresh.
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w1, neuron, &u1, &s1, &events1, &scratch1, &hand));
  hand.DropHandOver();
  for (int64_t i = 0; i < s1.numel(); i += 7) s1.data()[i] = s1.data()[i] != 0.0f ? 0.0f : 1.0f;
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, nullptr, &gw_handed, &hand));
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, nullptr, &gw_fresh));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw_handed, gw_fresh, 0, 0, "grad_w after a drop"));
}

TEST(DenseTest, SpikesLeftOnDemandAreWrittenWhenNeeded) {
  // With s_on_demand the one pass leaves s1's storage as it was (NaN here)
  // and its hand-over holds the values: layer 2's forward and backward on
  // them equal those on s1 written; asking (WriteSource) writes exactly s1;
  // so does a forward whose events are too dense for its event kernels, or
  // recording another tensor into the events; dropping the hand-over drops
  // the values.
  SrmParams srm;
  const SrmNeuron srm_neuron(srm, 0.5f, 90);
  const DenseNeuron& neuron = srm_neuron.neuron;
  Tensor x = testing::RandomSpikes({3, 40, 1, 1, 90}, 0.04f, 2.0f, 111);
  Tensor w1 = RandomUniform({45, 40}, 112, -1.0f, 1.5f);
  Tensor w2 = RandomUniform({20, 45}, 113);
  const auto nan_filled = [](const Shape& shape) {
    Tensor t = Tensor::Zeros(shape);
    for (float& v : t.span()) v = std::nanf("");
    return t;
  };
  const auto expect_nan = [](const Tensor& t, const char* what) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      ASSERT_TRUE(std::isnan(t.data()[i])) << what << " [" << i << "]";
    }
  };
  Tensor u_ref, s_ref, scratch_ref;
  DenseEvents events_ref;
  SLAYER_ASSERT_OK(
      cpu::DenseSpikingForward(x, w1, neuron, &u_ref, &s_ref, &events_ref, &scratch_ref));
  int64_t spikes = 0;
  for (float v : s_ref.span()) spikes += v != 0.0f;
  ASSERT_GT(spikes, 0);
  ASSERT_LT(spikes, s_ref.numel() / 20);  // sparse enough for layer 2's events
  const Shape y_shape = s_ref.shape();
  Tensor u2_ref, s2_ref, scratch2;
  DenseEvents fresh;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s_ref, w2, neuron, &u2_ref, &s2_ref, &fresh,
                                            &scratch2));
  Tensor g = RandomUniform(u2_ref.shape(), 114);
  Tensor gw_ref;
  SLAYER_ASSERT_OK(DenseBackward(s_ref, w2, g, nullptr, &gw_ref, &fresh));

  Tensor u1, scratch1, s1 = nan_filled(y_shape);
  DenseEvents events1, hand;
  const auto forward1 = [&] {
    SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w1, neuron, &u1, &s1, &events1, &scratch1, &hand,
                                              nullptr, /*s_on_demand=*/true));
  };
  forward1();
  expect_nan(s1, "s1 left on demand");
  Tensor u2, s2;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w2, neuron, &u2, &s2, &hand, &scratch2));
  SLAYER_EXPECT_OK(testing::ExpectClose(u2, u2_ref, 0, 0, "u2 from s1's events"));
  SLAYER_EXPECT_OK(testing::ExpectClose(s2, s2_ref, 0, 0, "s2 from s1's events"));
  Tensor gw;
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g, nullptr, &gw, &hand));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw, gw_ref, 0, 0, "grad_w from s1's events"));
  expect_nan(s1, "s1 still on demand");
  hand.WriteSource(x);  // another tensor: nothing written
  expect_nan(s1, "s1 after WriteSource of another tensor");
  hand.WriteSource(s1);
  SLAYER_EXPECT_OK(testing::ExpectClose(s1, s_ref, 0, 0, "s1 written when asked"));

  // Too dense for a 1-output layer's event kernels (threshold 0.15 / 32),
  // with a layer 1 that spikes more: that forward writes s1 before reading
  // it.
  Tensor w_hot = w1.Clone();
  for (float& v : w_hot.span()) v = std::abs(v) * 4.0f;
  Tensor u_hot, s_hot, scratch_hot;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w_hot, neuron, &u_hot, &s_hot, nullptr,
                                            &scratch_hot));
  spikes = 0;
  for (float v : s_hot.span()) spikes += v != 0.0f;
  ASSERT_GT(spikes, s_hot.numel() * 0.15 / 32);
  s1 = nan_filled(y_shape);
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w_hot, neuron, &u1, &s1, &events1, &scratch1, &hand,
                                            nullptr, /*s_on_demand=*/true));
  expect_nan(s1, "s1 (hot) left on demand");
  Tensor w_one = RandomUniform({1, 45}, 115);
  Tensor u3, s3, scratch3, u3_ref, s3_ref, scratch3_ref;
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s1, w_one, neuron, &u3, &s3, &hand, &scratch3));
  SLAYER_EXPECT_OK(testing::ExpectClose(s1, s_hot, 0, 0, "s1 written for dense kernels"));
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(s_hot, w_one, neuron, &u3_ref, &s3_ref, nullptr,
                                            &scratch3_ref));
  SLAYER_EXPECT_OK(testing::ExpectClose(u3, u3_ref, 0, 0, "u of the dense kernels"));
  // The same events taken by a backward first (no forward on them).
  s1 = nan_filled(y_shape);
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w_hot, neuron, &u1, &s1, &events1, &scratch1, &hand,
                                            nullptr, /*s_on_demand=*/true));
  Tensor g_one = RandomUniform(u3.shape(), 116);
  Tensor gw_one, gw_one_ref;
  SLAYER_ASSERT_OK(DenseBackward(s1, w_one, g_one, nullptr, &gw_one, &hand));
  SLAYER_ASSERT_OK(DenseBackward(s_hot, w_one, g_one, nullptr, &gw_one_ref));
  SLAYER_EXPECT_OK(testing::ExpectClose(gw_one, gw_one_ref, 0, 0, "grad_w of the dense kernels"));

  // Recording another tensor into the events first writes the one they held.
  s1 = nan_filled(y_shape);
  forward1();
  Tensor y_other;
  SLAYER_ASSERT_OK(DenseForward(s_ref, w2, &y_other, &hand));
  SLAYER_EXPECT_OK(testing::ExpectClose(s1, s_ref, 0, 0, "s1 written before its events went"));

  // Dropped: s1 is about to be written another way.
  s1 = nan_filled(y_shape);
  forward1();
  hand.DropHandOver();
  hand.WriteSource(s1);
  expect_nan(s1, "s1 after the hand-over was dropped");
}

TEST(DenseTest, SparseWeightGradientDoesNotDependOnTheThreadCount) {
  // 8 panels: one thread gives whole-input panels (the scatter along time),
  // four split the inputs into blocks (the gather input by input): the same
  // sums in the same order.
  Tensor x = testing::RandomSpikes({3, 200, 1, 1, 90}, 0.03f, 1.0f, 96);
  Tensor w = RandomUniform({256, 200}, 97);
  Tensor g = RandomUniform({3, 256, 1, 1, 90}, 98);
  std::vector<Tensor> grads;
  for (int threads : {1, 4}) {
    ThreadPool::SetDefaultThreads(threads);
    if (ThreadPool::Default().num_threads() != threads) {
      GTEST_SKIP() << "SLAYER_THREADS fixes the thread count: cannot compare counts";
    }
    Tensor gw;
    SLAYER_ASSERT_OK(DenseBackward(x, w, g, nullptr, &gw));
    grads.push_back(gw);
  }
  SLAYER_EXPECT_OK(testing::ExpectClose(grads[1], grads[0], 0, 0, "grad_w, 4 threads vs 1"));
  // Zero outputs: nothing to do, no division by zero.
  Tensor u0 = Tensor::Zeros({3, 0, 1, 1, 90}), gz0, gw0;
  SrmParams srm;
  const SrmNeuron srm_neuron(srm, 1.0f, 90);
  SLAYER_EXPECT_OK(cpu::DenseSpikingBackward(x, Tensor::Zeros({0, 200}), srm_neuron.neuron,
                                             SurrogateParams(), u0, u0, &gz0, nullptr, &gw0,
                                             nullptr));
}

TEST(DenseTest, SpikingForwardWithAnotherKernelRunsTheThreeOps) {
  // A kernel of no alpha form: psp tap by tap.
  const std::vector<float> eps = {0.0f, 4.0f, 2.0f, 1.0f}, nu = {-20.0f, -10.0f};
  DenseNeuron neuron;
  neuron.eps = eps;
  neuron.nu = nu;
  neuron.theta = 1.0f;
  Tensor x = testing::RandomSpikes({2, 50, 1, 1, 40}, 0.05f, 1.0f, 41);
  Tensor w = RandomUniform({20, 50}, 42);
  Tensor u1, s1, u2, s2, scratch;
  ThreeOps(x, w, neuron, true, &u1, &s1);
  SLAYER_ASSERT_OK(cpu::DenseSpikingForward(x, w, neuron, &u2, &s2, nullptr, &scratch));
  SLAYER_EXPECT_OK(testing::ExpectClose(u2, u1, 0, 0, "u"));
  SLAYER_EXPECT_OK(testing::ExpectClose(s2, s1, 0, 0, "s"));
}

TEST(DenseTest, SpikingForwardRejectsBadNeurons) {
  Tensor x = Tensor::Zeros({1, 4, 1, 1, 10}), w = Tensor::Zeros({3, 4});
  const SrmKernels kernels = MakeSrmKernels(SrmParams(), 1.0f, 10);
  DenseNeuron neuron;
  neuron.eps = kernels.eps;
  neuron.nu = kernels.nu;
  neuron.theta = std::nanf("");
  Tensor u, s, scratch;
  absl::Status status = cpu::DenseSpikingForward(x, w, neuron, &u, &s, nullptr, &scratch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("theta must be finite"));
  neuron.theta = 10.0f;
  neuron.ts = 0.0f;
  status = cpu::DenseSpikingForward(x, w, neuron, &u, &s, nullptr, &scratch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  neuron.ts = 1.0f;
  status = cpu::DenseSpikingForward(x, w, neuron, &u, &u, nullptr, &scratch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("different tensors"));
  Tensor shared = Tensor::Zeros({1, 3, 1, 1, 10});
  Tensor alias = shared;  // another Tensor, the same storage
  status = cpu::DenseSpikingForward(x, w, neuron, &shared, &alias, nullptr, &scratch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not sharing storage"));
  status = cpu::DenseSpikingForward(x, Tensor::Zeros({3, 5}), neuron, &u, &s, nullptr, &scratch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
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
