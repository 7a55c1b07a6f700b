// Dense synapses on the CPU (Eigen GEMM per sample, threads over samples and
// rows). BM_DenseForward/<inputs>/<outputs>/<steps>/<batch>; the headline
// size is NMNIST's first layer, 34x34x2 = 2312 -> 512, T 300, batch 32.
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
  DenseProblem p;
  p.x = testing::RandomSpikes({batch, in, 1, 1, steps}, 0.05f, 1.0f, 1);
  p.w = testing::RandomUniform({out, in}, 2);
  p.g = testing::RandomUniform({batch, out, 1, 1, steps}, 3);
  p.flop = 2.0 * batch * out * in * steps;
  return p;
}

void BM_DenseForward(benchmark::State& state) {
  DenseProblem p = Make(state);
  Tensor y;
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
  for (auto _ : state) {
    absl::Status s = DenseBackward(p.x, p.w, p.g, &gx, &gw);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(gw.data());
  }
  state.counters["FLOP"] =
      benchmark::Counter(state.iterations() * 2 * p.flop, benchmark::Counter::kIsRate);
}

// {inputs, outputs, steps, batch}: NMNIST MLP layers 1 and 3, and one sample.
#define DENSE_SIZES                                                                 \
  Args({2312, 512, 300, 32})->Args({512, 10, 300, 32})->Args({2312, 512, 300, 1}) \
      ->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_DenseForward)->DENSE_SIZES;
BENCHMARK(BM_DenseBackward)->DENSE_SIZES;

}  // namespace
}  // namespace ops
}  // namespace slayer
