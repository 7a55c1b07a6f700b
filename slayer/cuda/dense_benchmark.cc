// GPU time of the dense layer on cuBLAS, batch 32, T = 300 (the NMNIST MLP
// layers). BM_CudaDense*/<inputs>/<outputs>.
#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int64_t kBatch = 32, kSteps = 300;

void Flops(benchmark::State& state, int64_t gemms) {
  const double flops = 2.0 * kBatch * kSteps * state.range(0) * state.range(1) * gemms;
  state.counters["FLOP/s"] = benchmark::Counter(flops * state.iterations(),
                                                benchmark::Counter::kIsRate);
}

void BM_CudaDenseForward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t in = state.range(0), out = state.range(1);
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes({kBatch, in, 1, 1, kSteps}, 0.05f, 1.0f, 1));
  const Tensor w = DeviceCopy(ops::testing::RandomUniform({out, in}, 2));
  Tensor y;
  TimeIterations(state, [&] { return ops::DenseForward(x, w, &y); });
  Flops(state, 1);
}

void BM_CudaDenseBackward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t in = state.range(0), out = state.range(1);
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes({kBatch, in, 1, 1, kSteps}, 0.05f, 1.0f, 1));
  const Tensor w = DeviceCopy(ops::testing::RandomUniform({out, in}, 2));
  const Tensor gy = DeviceCopy(ops::testing::RandomUniform({kBatch, out, 1, 1, kSteps}, 3));
  Tensor gx, gw;
  TimeIterations(state, [&] { return ops::DenseBackward(x, w, gy, &gx, &gw); });
  Flops(state, 2);
}

#define DENSE_ARGS Args({34 * 34 * 2, 512})->Args({512, 512})->Args({512, 10})
BENCHMARK(BM_CudaDenseForward)->DENSE_ARGS->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseBackward)->DENSE_ARGS->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
