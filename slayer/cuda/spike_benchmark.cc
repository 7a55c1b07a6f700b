// GPU time of the spike function: forward (the recurrence in time) by kernel
// path, and the surrogate backward. BM_CudaSpikeForward/<neurons>/<steps>/
// <path: 0 auto (tiled), 2 plain per-thread walk>.
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/cuda/spike.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

void BM_CudaSpikeForward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t neurons = state.range(0), steps = state.range(1);
  const SpikePath path = static_cast<SpikePath>(state.range(2));
  const std::vector<float> nu = ops::MakeSrmKernels(ops::SrmParams(), 1.0f, steps).nu;
  // Potentials around theta = 10: plenty of spikes and refractory work.
  const Tensor u0 = DeviceCopy(ops::testing::RandomUniform({neurons, steps}, 1, 0.0f, 20.0f));
  Tensor u = u0.Clone(), s;
  TimeIterations(
      state, [&] { return SpikeForwardWithPath(&u, nu, 10.0f, 1.0f, path, &s); },
      [&] { return u.CopyFrom(u0); });
  state.SetItemsProcessed(state.iterations() * neurons * steps);
  state.SetBytesProcessed(state.iterations() * neurons * steps * 3 * sizeof(float));
}

void BM_CudaSpikeBackward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t neurons = state.range(0), steps = state.range(1);
  const Tensor u = DeviceCopy(ops::testing::RandomUniform({neurons, steps}, 1, 0.0f, 20.0f));
  const Tensor g = DeviceCopy(ops::testing::RandomUniform({neurons, steps}, 2));
  Tensor gu;
  ops::SurrogateParams p;
  TimeIterations(state, [&] { return ops::SpikeBackward(g, u, p, &gu); });
  state.SetItemsProcessed(state.iterations() * neurons * steps);
  state.SetBytesProcessed(state.iterations() * neurons * steps * 3 * sizeof(float));
}

BENCHMARK(BM_CudaSpikeForward)
    ->Args({32 * 10, 300, 0})
    ->Args({32 * 512, 300, 0})
    ->Args({32 * 512, 300, 2})
    ->Args({32 * 12 * 30 * 30, 300, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSpikeBackward)
    ->Args({32 * 512, 300})
    ->Args({32 * 12 * 30 * 30, 300})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
