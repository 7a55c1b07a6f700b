// Host tensor allocation/copy and thread-pool dispatch costs.
#include "benchmark/benchmark.h"
#include "slayer/core/tensor.h"
#include "slayer/core/thread_pool.h"

namespace slayer {
namespace {

void BM_TensorZeros(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    Tensor t = Tensor::Zeros({n});
    benchmark::DoNotOptimize(t.data());
  }
  state.SetBytesProcessed(state.iterations() * n * sizeof(float));
}
BENCHMARK(BM_TensorZeros)->Arg(1 << 10)->Arg(1 << 20)->Arg(32 * 2312 * 300);

void BM_TensorClone(benchmark::State& state) {
  Tensor t = Tensor::Full({state.range(0)}, 1.0f);
  for (auto _ : state) {
    Tensor c = t.Clone();
    benchmark::DoNotOptimize(c.data());
  }
  state.SetBytesProcessed(state.iterations() * t.bytes());
}
BENCHMARK(BM_TensorClone)->Arg(1 << 20)->Arg(32 * 2312 * 300);

void BM_ParallelForDispatch(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    pool.ParallelFor(64, 1, [](int64_t b, int64_t e) { benchmark::DoNotOptimize(b + e); });
  }
}
BENCHMARK(BM_ParallelForDispatch)->Arg(1)->Arg(2)->Arg(4);

}  // namespace
}  // namespace slayer
