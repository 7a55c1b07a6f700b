// Dense synapses on the CPU. BM_DenseForward/<inputs>/<outputs>/<steps>/
// <batch>/<spike rate in %>; the headline size is NMNIST's first layer,
// 34x34x2 = 2312 -> 512, T 300, batch 32. Inputs are spike trains: at a few
// percent the event-driven kernels run, at 100% (every entry nonzero) the
// GEMM (ops/gemm.h's AVX-512 kernel where the CPU has one, else Eigen's).
// FLOP counts the dense-equivalent work.
#include "benchmark/benchmark.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

struct DenseProblem {
  Tensor x, w, g;
  double flop;  // multiply-adds x 2 of one product
};

DenseProblem Make(const benchmark::State& state) {
  const int64_t in = state.range(0), out = state.range(1), steps = state.range(2),
                batch = state.range(3);
  const float rate = static_cast<float>(state.range(4)) / 100.0f;
  DenseProblem p;
  p.x = testing::RandomSpikes({batch, in, 1, 1, steps}, rate, 1.0f, 1);
  p.w = testing::RandomUniform({out, in}, 2);
  p.g = testing::RandomUniform({batch, out, 1, 1, steps}, 3);
  p.flop = 2.0 * batch * out * in * steps;
  return p;
}

void BM_DenseForward(benchmark::State& state) {
  DenseProblem p = Make(state);
  Tensor y;
  // Steady state: the output is allocated (and its pages touched) once.
  if (!DenseForward(p.x, p.w, &y).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = DenseForward(p.x, p.w, &y);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP"] =
      benchmark::Counter(state.iterations() * p.flop, benchmark::Counter::kIsRate);
}

// grad_x and grad_w: two products.
void BM_DenseBackward(benchmark::State& state) {
  DenseProblem p = Make(state);
  Tensor gx, gw;
  if (!DenseBackward(p.x, p.w, p.g, &gx, &gw).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = DenseBackward(p.x, p.w, p.g, &gx, &gw);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(gw.data());
  }
  state.counters["FLOP"] =
      benchmark::Counter(state.iterations() * 2 * p.flop, benchmark::Counter::kIsRate);
}

// {inputs, outputs, steps, batch, rate %}: NMNIST MLP layer 1 with sparse
// (1 %: `slayer bench`'s input density; 5 %) and with dense inputs, layer 3,
// and one sample.
#define DENSE_SIZES                                                            \
  Args({2312, 512, 300, 32, 1})->Args({2312, 512, 300, 32, 5})                 \
      ->Args({2312, 512, 300, 32, 100})                                        \
      ->Args({512, 10, 300, 32, 5})->Args({2312, 512, 300, 1, 5})              \
      ->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_DenseForward)->DENSE_SIZES;
BENCHMARK(BM_DenseBackward)->DENSE_SIZES;

}  // namespace
}  // namespace ops
}  // namespace slayer
