// Spike pooling on the CPU. BM_Pool{Forward,Backward}/<channels>/<size>/
// <steps>/<batch>: 2x2 windows, stride 2, as in the Fashion-MNIST CNNs
// (32 channels of 24x24 after the first conv, 64 of 8x8 after the second,
// T 25, batch 32).
#include "benchmark/benchmark.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

Shape InputShape(const benchmark::State& state) {
  return {state.range(3), state.range(0), state.range(1), state.range(1), state.range(2)};
}

PoolParams Params() {
  PoolParams p;
  p.kernel = 2;
  p.weight = 11.0f;
  return p;
}

void BM_PoolForward(benchmark::State& state) {
  const Tensor x = testing::RandomSpikes(InputShape(state), 0.05f, 1.0f, 1);
  Tensor y;
  if (!PoolForward(x, Params(), &y).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = PoolForward(x, Params(), &y);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * (x.numel() + y.numel()) * 4);
}

void BM_PoolBackward(benchmark::State& state) {
  const Shape shape = InputShape(state);
  absl::StatusOr<Shape> y_shape = PoolOutputShape(shape, Params());
  if (!y_shape.ok()) {
    state.SkipWithError(y_shape.status().ToString().c_str());
    return;
  }
  const Tensor g = testing::RandomUniform(*y_shape, 2);
  Tensor gx;
  if (!PoolBackward(shape, Params(), g, &gx).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = PoolBackward(shape, Params(), g, &gx);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(gx.data());
  }
  state.SetBytesProcessed(state.iterations() * (g.numel() + gx.numel()) * 4);
}

#define POOL_SIZES \
  Args({32, 24, 25, 32})->Args({64, 8, 25, 32})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_PoolForward)->POOL_SIZES;
BENCHMARK(BM_PoolBackward)->POOL_SIZES;

}  // namespace
}  // namespace ops
}  // namespace slayer
