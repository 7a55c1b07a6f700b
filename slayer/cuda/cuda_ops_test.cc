// The CUDA paths that the shared conformance table does not reach on its
// own: the spike kernel's tiled and plain walks (and the shared-memory
// limits between them), the psp's tap chunking, in-place calls, the conv
// column-buffer chunking and 1x1 shortcut, optional outputs, and the
// optimiser kernels. Each compares with the CPU reference. Tagged
// requires-gpu; without a device every test skips with the reason.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/core/tensor.h"
#include "slayer/cuda/conv.h"
#include "slayer/cuda/optimizer_kernels.h"
#include "slayer/cuda/spike.h"
#include "slayer/cuda/stream.h"
#include "slayer/cuda/test_util.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/dropout.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

using ops::testing::ExpectClose;
using ops::testing::RandomSpikes;
using ops::testing::RandomUniform;

Tensor OnCuda(const Tensor& host) {
  absl::StatusOr<Tensor> t = host.To(Device::kCuda);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : Tensor();
}

std::vector<float> RandomTaps(int64_t n, uint64_t seed, float lo, float hi) {
  Tensor t = RandomUniform({n}, seed, lo, hi);
  return std::vector<float>(t.data(), t.data() + n);
}

// ---------------------------------------------------------------------------
// psp

struct PspCase {
  Shape shape;
  std::vector<float> taps;
};

TEST(CudaPsp, MatchesCpuForShortLongAndEmptyKernels) {
  SLAYER_SKIP_WITHOUT_CUDA();
  const std::vector<float> eps = ops::MakeSrmKernels(ops::SrmParams(), 1.0f, 300).eps;
  const std::vector<PspCase> cases = {
      {{1, 1, 1, 1, 1}, eps},
      {{2, 3, 1, 1, 7}, eps},         // many rows per block
      {{3, 5, 2, 1, 300}, eps},       // the NMNIST kernel
      {{1, 2, 1, 1, 1500}, RandomTaps(1200, 5, -1, 1)},  // taps in two chunks
      {{2, 2, 1, 1, 20}, {}},         // no taps: zeros
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const PspCase& c = cases[i];
    SCOPED_TRACE(ShapeString(c.shape) + " taps " + std::to_string(c.taps.size()));
    const float ts = 0.5f;
    Tensor x = RandomUniform(c.shape, 10 + i);
    Tensor cpu_fwd, cpu_bwd, gpu_fwd, gpu_bwd;
    SLAYER_ASSERT_OK(ops::PspForward(x, c.taps, ts, &cpu_fwd));
    SLAYER_ASSERT_OK(ops::PspBackward(x, c.taps, ts, &cpu_bwd));
    Tensor dx = OnCuda(x);
    SLAYER_ASSERT_OK(ops::PspForward(dx, c.taps, ts, &gpu_fwd));
    SLAYER_ASSERT_OK(ops::PspBackward(dx, c.taps, ts, &gpu_bwd));
    EXPECT_EQ(gpu_fwd.device(), Device::kCuda);
    SLAYER_EXPECT_OK(ExpectClose(gpu_fwd, cpu_fwd, 1e-4, 1e-4, "psp forward"));
    SLAYER_EXPECT_OK(ExpectClose(gpu_bwd, cpu_bwd, 1e-4, 1e-4, "psp backward"));
  }
}

TEST(CudaPsp, InPlace) {
  SLAYER_SKIP_WITHOUT_CUDA();
  const std::vector<float> eps = ops::MakeSrmKernels(ops::SrmParams(), 1.0f, 100).eps;
  Tensor x = RandomUniform({4, 3, 1, 1, 100}, 3);
  Tensor want;
  SLAYER_ASSERT_OK(ops::PspForward(x, eps, 1.0f, &want));
  Tensor dx = OnCuda(x);
  SLAYER_ASSERT_OK(ops::PspForward(dx, eps, 1.0f, &dx));
  SLAYER_EXPECT_OK(ExpectClose(dx, want, 1e-4, 1e-4, "in-place psp"));
}

// ---------------------------------------------------------------------------
// spike

struct SpikeCase {
  int64_t rows, steps;
  std::vector<float> nu;
  bool tiled_fits;
};

TEST(CudaSpike, TiledAndPlainWalksMatchTheCpuExactly) {
  SLAYER_SKIP_WITHOUT_CUDA();
  ops::SrmParams srm;
  const std::vector<float> nu = ops::MakeSrmKernels(srm, 1.0f, 300).nu;
  const std::vector<SpikeCase> cases = {
      {1, 1, nu, true},
      {70, 300, nu, true},                              // rows not a multiple of 32
      {33, 31, nu, true},                               // T below one tile
      {40, 500, RandomTaps(200, 8, -30, 0), true},      // ring of 256 (33 KiB)
      {9, 1500, RandomTaps(500, 9, -30, 0), true},      // ring of 1024: > 48 KiB opt-in
      {5, 100, {}, true},                               // no refractory kernel
      {3, 2000, RandomTaps(1100, 10, -30, 0), false},   // too big: plain walk
  };
  const float theta = 10.0f, ts = 1.0f;
  for (size_t i = 0; i < cases.size(); ++i) {
    const SpikeCase& c = cases[i];
    SCOPED_TRACE("rows " + std::to_string(c.rows) + " steps " + std::to_string(c.steps) +
                 " nu " + std::to_string(c.nu.size()));
    const Tensor u0 = RandomUniform({c.rows, c.steps}, 20 + i, 0.0f, 20.0f);
    Tensor u_cpu = u0.Clone(), s_cpu;
    SLAYER_ASSERT_OK(ops::SpikeForward(&u_cpu, c.nu, theta, ts, &s_cpu));
    for (SpikePath path : {SpikePath::kAuto, SpikePath::kTiled, SpikePath::kPerThread}) {
      SCOPED_TRACE("path " + std::to_string(static_cast<int>(path)));
      Tensor u = OnCuda(u0), s;
      absl::Status status = SpikeForwardWithPath(&u, c.nu, theta, ts, path, &s);
      if (path == SpikePath::kTiled && !c.tiled_fits) {
        EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
        continue;
      }
      SLAYER_ASSERT_OK(status);
      SLAYER_EXPECT_OK(ExpectClose(s, s_cpu, 0.0, 0.0, "spikes"));
      SLAYER_EXPECT_OK(ExpectClose(u, u_cpu, 0.0, 0.0, "potential after refractory"));
    }
  }
}

TEST(CudaSpike, BackwardInPlace) {
  SLAYER_SKIP_WITHOUT_CUDA();
  ops::SurrogateParams p;
  p.tau_rho = 0.5f;
  Tensor u = RandomUniform({6, 50}, 1, 0.0f, 20.0f);
  Tensor g = RandomUniform({6, 50}, 2);
  Tensor want;
  SLAYER_ASSERT_OK(ops::SpikeBackward(g, u, p, &want));
  Tensor du = OnCuda(u), dg = OnCuda(g);
  SLAYER_ASSERT_OK(ops::SpikeBackward(dg, du, p, &dg));
  SLAYER_EXPECT_OK(ExpectClose(dg, want, 1e-6, 1e-5, "surrogate gradient"));
}

// ---------------------------------------------------------------------------
// dense and conv (cuBLAS)

TEST(CudaDense, OptionalGradients) {
  SLAYER_SKIP_WITHOUT_CUDA();
  Tensor x = RandomSpikes({3, 2, 3, 5, 40}, 0.2f, 1.0f, 1);
  Tensor w = RandomUniform({17, 30}, 2);
  Tensor gy = RandomUniform({3, 17, 1, 1, 40}, 3);
  Tensor y, gx, gw;
  SLAYER_ASSERT_OK(ops::DenseForward(x, w, &y));
  SLAYER_ASSERT_OK(ops::DenseBackward(x, w, gy, &gx, &gw));
  Tensor dx = OnCuda(x), dw = OnCuda(w), dgy = OnCuda(gy);
  Tensor d_y, d_gx, d_gw;
  SLAYER_ASSERT_OK(ops::DenseForward(dx, dw, &d_y));
  SLAYER_ASSERT_OK(ops::DenseBackward(dx, dw, dgy, &d_gx, nullptr));
  SLAYER_ASSERT_OK(ops::DenseBackward(dx, dw, dgy, nullptr, &d_gw));
  SLAYER_EXPECT_OK(ExpectClose(d_y, y, 1e-4, 1e-4, "y"));
  SLAYER_EXPECT_OK(ExpectClose(d_gx, gx, 1e-4, 1e-4, "grad_x"));
  SLAYER_EXPECT_OK(ExpectClose(d_gw, gw, 1e-4, 1e-4, "grad_w"));
}

struct ConvCase {
  Shape x, w;
  ops::Conv2dParams p;
};

TEST(CudaConv, ChunkedDirectAndGrouped) {
  SLAYER_SKIP_WITHOUT_CUDA();
  ops::Conv2dParams strided;
  strided.stride_h = 2;
  strided.stride_w = 1;
  strided.pad_h = 1;
  strided.pad_w = 2;
  strided.groups = 2;
  ops::Conv2dParams dilated;
  dilated.dilation_h = 2;
  dilated.dilation_w = 2;
  dilated.pad_h = dilated.pad_w = 2;
  ops::Conv2dParams pointwise;
  pointwise.groups = 2;
  const std::vector<ConvCase> cases = {
      {{3, 4, 9, 8, 6}, {6, 2, 3, 3}, strided},
      {{2, 3, 7, 7, 5}, {4, 3, 3, 3}, dilated},
      {{3, 4, 5, 6, 7}, {6, 2, 1, 1}, pointwise},  // no im2col
  };
  for (int64_t column_bytes : {int64_t{256} << 20, int64_t{1}}) {  // 1: one sample per chunk
    const int64_t previous = SetConvColumnBytesForTesting(column_bytes);
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvCase& c = cases[i];
      SCOPED_TRACE("case " + std::to_string(i) + " column bytes " + std::to_string(column_bytes));
      Tensor x = RandomUniform(c.x, 30 + i), w = RandomUniform(c.w, 40 + i);
      Tensor y, gx, gw;
      SLAYER_ASSERT_OK(ops::Conv2dForward(x, w, c.p, &y));
      Tensor gy = RandomUniform(y.shape(), 50 + i);
      SLAYER_ASSERT_OK(ops::Conv2dBackward(x, w, c.p, gy, &gx, &gw));
      Tensor d_y, d_gx, d_gw, d_gw_only;
      Tensor dx = OnCuda(x), dw = OnCuda(w), dgy = OnCuda(gy);
      SLAYER_ASSERT_OK(ops::Conv2dForward(dx, dw, c.p, &d_y));
      SLAYER_ASSERT_OK(ops::Conv2dBackward(dx, dw, c.p, dgy, &d_gx, &d_gw));
      SLAYER_ASSERT_OK(ops::Conv2dBackward(dx, dw, c.p, dgy, nullptr, &d_gw_only));
      SLAYER_EXPECT_OK(ExpectClose(d_y, y, 1e-4, 1e-4, "y"));
      SLAYER_EXPECT_OK(ExpectClose(d_gx, gx, 1e-4, 1e-4, "grad_x"));
      SLAYER_EXPECT_OK(ExpectClose(d_gw, gw, 1e-4, 1e-4, "grad_w"));
      SLAYER_EXPECT_OK(ExpectClose(d_gw_only, gw, 1e-4, 1e-4, "grad_w alone"));
    }
    SetConvColumnBytesForTesting(previous);
  }
}

// ---------------------------------------------------------------------------
// pool, delay, dropout

TEST(CudaPool, KernelsStridesAndPadding) {
  SLAYER_SKIP_WITHOUT_CUDA();
  std::vector<ops::PoolParams> params(4);
  params[0].kernel = 2;
  params[1].kernel = 3;  // 7x5 input: windows cut at the border
  params[2].kernel = 3;
  params[2].stride = 2;
  params[2].pad = 1;
  params[3].kernel = 2;
  params[3].stride = 3;  // gaps: some inputs get no gradient
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE("params " + std::to_string(i));
    Tensor x = RandomUniform({2, 3, 7, 5, 9}, 60 + i);
    Tensor y, gx;
    SLAYER_ASSERT_OK(ops::PoolForward(x, params[i], &y));
    Tensor gy = RandomUniform(y.shape(), 70 + i);
    SLAYER_ASSERT_OK(ops::PoolBackward(x.shape(), params[i], gy, &gx));
    Tensor d_y, d_gx;
    SLAYER_ASSERT_OK(ops::PoolForward(OnCuda(x), params[i], &d_y));
    SLAYER_ASSERT_OK(ops::PoolBackward(x.shape(), params[i], OnCuda(gy), &d_gx));
    SLAYER_EXPECT_OK(ExpectClose(d_y, y, 1e-4, 1e-5, "y"));
    SLAYER_EXPECT_OK(ExpectClose(d_gx, gx, 1e-4, 1e-5, "grad_x"));
  }
}

TEST(CudaDelay, PerNeuronPerChannelShiftAndClamp) {
  SLAYER_SKIP_WITHOUT_CUDA();
  const float ts = 0.5f;
  Tensor x = RandomUniform({3, 4, 2, 3, 30}, 80);
  Tensor gy = RandomUniform(x.shape(), 81);
  // Fractional, whole, zero, beyond the row and negative delays.
  Tensor per_neuron = RandomUniform({4, 2, 3}, 82, 0.0f, 6.0f);
  per_neuron.data()[0] = 1.0f;
  per_neuron.data()[1] = 0.0f;
  per_neuron.data()[2] = 40.0f;
  per_neuron.data()[3] = -1.25f;
  Tensor per_channel = Tensor::FromVector({4}, {0.25f, 1.5f, 3.0f, 7.75f});
  for (const Tensor* d : {&per_neuron, &per_channel}) {
    SCOPED_TRACE("delays " + ShapeString(d->shape()));
    Tensor y, gx, gd;
    SLAYER_ASSERT_OK(ops::DelayForward(x, *d, ts, &y));
    SLAYER_ASSERT_OK(ops::DelayBackward(x, *d, ts, gy, &gx, &gd));
    Tensor dx = OnCuda(x), dd = OnCuda(*d), dgy = OnCuda(gy);
    Tensor d_y, d_gx, d_gd;
    SLAYER_ASSERT_OK(ops::DelayForward(dx, dd, ts, &d_y));
    SLAYER_ASSERT_OK(ops::DelayBackward(dx, dd, ts, dgy, &d_gx, &d_gd));
    SLAYER_EXPECT_OK(ExpectClose(d_y, y, 1e-5, 1e-5, "y"));
    SLAYER_EXPECT_OK(ExpectClose(d_gx, gx, 1e-5, 1e-5, "grad_x"));
    SLAYER_EXPECT_OK(ExpectClose(d_gd, gd, 1e-3, 1e-4, "grad_d"));
    // grad_x written over grad_y's storage.
    SLAYER_ASSERT_OK(ops::DelayBackward(dx, dd, ts, dgy, &dgy, nullptr));
    SLAYER_EXPECT_OK(ExpectClose(dgy, gx, 1e-5, 1e-5, "grad_x in place"));
  }
  for (float shift : {0.0f, 1.0f, 2.75f}) {
    SCOPED_TRACE("shift " + std::to_string(shift));
    Tensor y, gx, d_y, d_gx;
    SLAYER_ASSERT_OK(ops::ShiftForward(x, shift, ts, &y));
    SLAYER_ASSERT_OK(ops::ShiftBackward(gy, shift, ts, &gx));
    SLAYER_ASSERT_OK(ops::ShiftForward(OnCuda(x), shift, ts, &d_y));
    SLAYER_ASSERT_OK(ops::ShiftBackward(OnCuda(gy), shift, ts, &d_gx));
    SLAYER_EXPECT_OK(ExpectClose(d_y, y, 1e-6, 1e-6, "shifted"));
    SLAYER_EXPECT_OK(ExpectClose(d_gx, gx, 1e-6, 1e-6, "shift grad"));
  }
  Tensor d = Tensor::FromVector({5}, {-1.0f, 0.5f, 3.0f, 9.0f, std::nanf("")});
  Tensor dd = OnCuda(d);
  SLAYER_ASSERT_OK(ops::ClampDelays(&d, 4.0f));
  SLAYER_ASSERT_OK(ops::ClampDelays(&dd, 4.0f));
  SLAYER_EXPECT_OK(ExpectClose(dd, d, 0.0, 0.0, "clamped"));
}

TEST(CudaDropout, ForwardBackwardAndInPlace) {
  SLAYER_SKIP_WITHOUT_CUDA();
  Tensor x = RandomSpikes({4, 3, 2, 2, 25}, 0.3f, 1.0f, 90);
  Rng rng(5);
  Tensor mask;
  SLAYER_ASSERT_OK(ops::MakeDropoutMask(x.shape(), 0.4f, rng, &mask));
  Tensor y;
  SLAYER_ASSERT_OK(ops::DropoutForward(x, mask, &y));
  Tensor dx = OnCuda(x), dmask = OnCuda(mask), d_y;
  SLAYER_ASSERT_OK(ops::DropoutForward(dx, dmask, &d_y));
  SLAYER_EXPECT_OK(ExpectClose(d_y, y, 0.0, 0.0, "y"));
  SLAYER_ASSERT_OK(ops::DropoutBackward(dx, dmask, &dx));
  SLAYER_EXPECT_OK(ExpectClose(dx, y, 0.0, 0.0, "in place"));
}

// ---------------------------------------------------------------------------
// losses

TEST(CudaLoss, ValuesAndGradients) {
  SLAYER_SKIP_WITHOUT_CUDA();
  const float ts = 1.0f;
  const std::vector<float> eps = ops::MakeSrmKernels(ops::SrmParams(), ts, 120).eps;
  Tensor s = RandomSpikes({5, 10, 1, 1, 120}, 0.1f, ts, 100);
  Tensor target = RandomSpikes(s.shape(), 0.1f, ts, 101);
  const std::vector<int> labels = {0, 3, 9, 3, 7};
  ops::CountTarget region;
  region.start_step = 10;
  region.stop_step = 100;
  region.true_value = 20.0f;
  region.false_value = 3.0f;
  Tensor ds = OnCuda(s), dtarget = OnCuda(target);

  float loss = 0, d_loss = 0;
  Tensor grad, d_grad;
  SLAYER_ASSERT_OK(ops::SpikeTimeLoss(s, target, eps, ts, &loss, &grad));
  SLAYER_ASSERT_OK(ops::SpikeTimeLoss(ds, dtarget, eps, ts, &d_loss, &d_grad));
  EXPECT_NEAR(d_loss, loss, 1e-4 * std::abs(loss));
  SLAYER_EXPECT_OK(ExpectClose(d_grad, grad, 1e-4, 1e-4, "spike_time grad"));
  SLAYER_ASSERT_OK(ops::SpikeTimeLoss(ds, dtarget, eps, ts, &d_loss, nullptr));
  EXPECT_NEAR(d_loss, loss, 1e-4 * std::abs(loss));

  SLAYER_ASSERT_OK(ops::NumSpikesLoss(s, labels, region, eps, ts, &loss, &grad));
  SLAYER_ASSERT_OK(ops::NumSpikesLoss(ds, labels, region, eps, ts, &d_loss, &d_grad));
  EXPECT_NEAR(d_loss, loss, 1e-4 * std::abs(loss));
  SLAYER_EXPECT_OK(ExpectClose(d_grad, grad, 1e-4, 1e-4, "num_spikes grad"));

  SLAYER_ASSERT_OK(ops::SpikeRateLoss(s, labels, region, ts, &loss, &grad));
  SLAYER_ASSERT_OK(ops::SpikeRateLoss(ds, labels, region, ts, &d_loss, &d_grad));
  EXPECT_NEAR(d_loss, loss, 1e-5 * std::abs(loss) + 1e-7);
  SLAYER_EXPECT_OK(ExpectClose(d_grad, grad, 1e-6, 1e-5, "spike_rate grad"));
}

// ---------------------------------------------------------------------------
// optimiser kernels, against the formulas of slayer/train's host optimisers

struct HostState {
  std::vector<float> p, m, v, v_max;
};

void HostAdam(HostState& s, const std::vector<float>& g, const AdamStepParams& c) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(c.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(c.step));
  const float step_size = c.nadam ? static_cast<float>(c.lr * std::sqrt(bc2) / bc1)
                                  : static_cast<float>(c.lr / bc1);
  const float sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
  for (size_t i = 0; i < s.p.size(); ++i) {
    const float gi = g[i] + c.weight_decay * s.p[i];
    s.m[i] = c.beta1 * s.m[i] + (1.0f - c.beta1) * gi;
    s.v[i] = c.beta2 * s.v[i] + (1.0f - c.beta2) * gi * gi;
    float vv = s.v[i];
    if (c.amsgrad) vv = s.v_max[i] = std::max(s.v_max[i], s.v[i]);
    if (c.nadam) {
      s.p[i] -= step_size * ((c.beta1 * s.m[i] + (1.0f - c.beta1) * gi) / (std::sqrt(vv) + c.eps));
    } else {
      s.p[i] -= step_size * (s.m[i] / (std::sqrt(vv) / sqrt_bc2 + c.eps));
    }
  }
}

void HostSgd(HostState& s, const std::vector<float>& g, const SgdStepParams& c) {
  for (size_t i = 0; i < s.p.size(); ++i) {
    float gi = g[i] + c.weight_decay * s.p[i];
    if (c.momentum != 0.0f) {
      s.m[i] = c.step == 1 ? gi : c.momentum * s.m[i] + gi;
      gi = c.nesterov ? gi + c.momentum * s.m[i] : s.m[i];
    }
    s.p[i] -= c.lr * gi;
  }
}

std::vector<float> ToVector(const Tensor& t) {
  absl::StatusOr<Tensor> host = t.To(Device::kCpu);
  EXPECT_TRUE(host.ok());
  return std::vector<float>(host->data(), host->data() + host->numel());
}

TEST(CudaOptimizer, AdamNadamAmsgradAndSgdMatchTheHostFormulas) {
  SLAYER_SKIP_WITHOUT_CUDA();
  constexpr int64_t n = 1000;
  const Tensor p0 = RandomUniform({n}, 110);
  cudaStream_t stream = *CurrentStream();
  for (int variant = 0; variant < 5; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    HostState host;
    host.p = std::vector<float>(p0.data(), p0.data() + n);
    host.m.assign(n, 0.0f);
    host.v.assign(n, 0.0f);
    host.v_max.assign(n, 0.0f);
    Tensor p = OnCuda(p0);
    absl::StatusOr<Tensor> m = Tensor::Allocate({n}, Device::kCuda);
    absl::StatusOr<Tensor> v = Tensor::Allocate({n}, Device::kCuda);
    absl::StatusOr<Tensor> v_max = Tensor::Allocate({n}, Device::kCuda);
    ASSERT_TRUE(m.ok() && v.ok() && v_max.ok());
    for (int64_t step = 1; step <= 3; ++step) {
      const Tensor g = RandomUniform({n}, 120 + step);
      const std::vector<float> gv(g.data(), g.data() + n);
      Tensor dg = OnCuda(g);
      if (variant < 3) {
        AdamStepParams c;
        c.lr = 0.01f;
        c.weight_decay = 0.1f;
        c.amsgrad = variant == 1;
        c.nadam = variant == 2;
        c.step = step;
        HostAdam(host, gv, c);
        SLAYER_ASSERT_OK(AdamStep(p.data(), dg.data(), m->data(), v->data(), v_max->data(), n, c,
                                  stream));
      } else {
        SgdStepParams c;
        c.lr = 0.05f;
        c.momentum = 0.9f;
        c.nesterov = variant == 4;
        c.weight_decay = 0.01f;
        c.step = step;
        HostSgd(host, gv, c);
        SLAYER_ASSERT_OK(SgdStep(p.data(), dg.data(), m->data(), n, c, stream));
      }
    }
    const std::vector<float> got = ToVector(p);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], host.p[i], 1e-5 + 1e-5 * std::abs(host.p[i])) << "element " << i;
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace slayer
