// GPU time of the psp, forward and backward, on the NMNIST kernel (tau_sr
// 10 ms, Ts 1 ms, about 70 taps). BM_CudaPsp*/<neurons>/<steps>, neurons =
// batch * layer size.
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

template <bool kBackward>
void BM_CudaPsp(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t neurons = state.range(0), steps = state.range(1);
  const std::vector<float> eps = ops::MakeSrmKernels(ops::SrmParams(), 1.0f, steps).eps;
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes({neurons, steps}, 0.05f, 1.0f, 1));
  Tensor y;
  TimeIterations(state, [&] {
    return kBackward ? ops::PspBackward(x, eps, 1.0f, &y) : ops::PspForward(x, eps, 1.0f, &y);
  });
  state.SetItemsProcessed(state.iterations() * neurons * steps);
  state.SetBytesProcessed(state.iterations() * neurons * steps * 2 * sizeof(float));
  state.counters["taps"] = static_cast<double>(eps.size());
}

void BM_CudaPspForward(benchmark::State& state) { BM_CudaPsp<false>(state); }
void BM_CudaPspBackward(benchmark::State& state) { BM_CudaPsp<true>(state); }

// Output layer, hidden layer (batch 32 x 512) and a conv layer (32 x 12 x 30 x 30).
#define PSP_ARGS Args({32 * 10, 300})->Args({32 * 512, 300})->Args({32 * 12 * 30 * 30, 300})
BENCHMARK(BM_CudaPspForward)->PSP_ARGS->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaPspBackward)->PSP_ARGS->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
