// GPU time of 2x2 sum pooling on the NMNIST CNN's first conv output
// (batch 32, 12 channels, 30x30, T = 300). BM_CudaPool*/<channels>/<size>.
#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

void BM_CudaPoolForward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t c = state.range(0), size = state.range(1);
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes({32, c, size, size, 300}, 0.05f, 1.0f, 1));
  ops::PoolParams p;
  Tensor y;
  TimeIterations(state, [&] { return ops::PoolForward(x, p, &y); });
  state.SetBytesProcessed(state.iterations() * (x.numel() + y.numel()) * sizeof(float));
}

void BM_CudaPoolBackward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t c = state.range(0), size = state.range(1);
  const Shape x_shape = {32, c, size, size, 300};
  ops::PoolParams p;
  absl::StatusOr<Shape> y_shape = ops::PoolOutputShape(x_shape, p);
  if (!BenchOk(state, y_shape.status())) return;
  const Tensor gy = DeviceCopy(ops::testing::RandomUniform(*y_shape, 2));
  Tensor gx;
  TimeIterations(state, [&] { return ops::PoolBackward(x_shape, p, gy, &gx); });
  state.SetBytesProcessed(state.iterations() * (gx.numel() + gy.numel()) * sizeof(float));
}

BENCHMARK(BM_CudaPoolForward)->Args({12, 30})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaPoolBackward)->Args({12, 30})->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
