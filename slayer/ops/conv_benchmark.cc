// 2-D convolution per time step on the CPU. BM_Conv2dForward/<batch>/<in_c>/
// <size>/<out_c>/<kernel>/<steps>/<spike rate in %> with padding kernel/2; the
// headline size is NMNIST's 12c5 on 34x34x2, T 300. Sparse spike inputs take
// the event-driven path, dense ones (100%) the im2col GEMM with time folded
// into the columns. FLOP counts the dense-equivalent work.
#include "benchmark/benchmark.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

struct ConvProblem {
  Tensor x, w, g;
  Conv2dParams p;
  double flop;
};

ConvProblem Make(const benchmark::State& state) {
  const int64_t batch = state.range(0), in_c = state.range(1), size = state.range(2),
                out_c = state.range(3), k = state.range(4), steps = state.range(5);
  const float rate = static_cast<float>(state.range(6)) / 100.0f;
  ConvProblem c;
  c.p.pad_h = c.p.pad_w = static_cast<int>(k / 2);
  c.x = testing::RandomSpikes({batch, in_c, size, size, steps}, rate, 1.0f, 1);
  c.w = testing::RandomUniform({out_c, in_c, k, k}, 2);
  const Shape y = *Conv2dOutputShape(c.x.shape(), c.w.shape(), c.p);
  c.g = testing::RandomUniform(y, 3);
  c.flop = 2.0 * batch * out_c * y[2] * y[3] * steps * in_c * k * k;
  return c;
}

void BM_Conv2dForward(benchmark::State& state) {
  ConvProblem c = Make(state);
  Tensor y;
  // Steady state: the output is allocated (and its pages touched) once.
  if (!Conv2dForward(c.x, c.w, c.p, &y).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = Conv2dForward(c.x, c.w, c.p, &y);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP"] =
      benchmark::Counter(state.iterations() * c.flop, benchmark::Counter::kIsRate);
}

// grad_x and grad_w: two products of the forward's size.
void BM_Conv2dBackward(benchmark::State& state) {
  ConvProblem c = Make(state);
  Tensor gx, gw;
  if (!Conv2dBackward(c.x, c.w, c.p, c.g, &gx, &gw).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = Conv2dBackward(c.x, c.w, c.p, c.g, &gx, &gw);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(gw.data());
  }
  state.counters["FLOP"] =
      benchmark::Counter(state.iterations() * 2 * c.flop, benchmark::Counter::kIsRate);
}

// {batch, in_c, size, out_c, kernel, steps, rate %}: NMNIST CNN conv1 (12c5
// on 34x34x2) with 2% and 100% input spikes, conv2 (64c5 on 17x17x12, 5%;
// smaller batches to keep runs short).
#define CONV_SIZES                                                                       \
  Args({32, 2, 34, 12, 5, 300, 2})->Args({8, 2, 34, 12, 5, 300, 100})                    \
      ->Args({8, 12, 17, 64, 5, 300, 5})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_Conv2dForward)->CONV_SIZES;
BENCHMARK(BM_Conv2dBackward)->CONV_SIZES;

}  // namespace
}  // namespace ops
}  // namespace slayer
