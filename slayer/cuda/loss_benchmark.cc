// GPU time of the num_spikes loss with its gradient (NMNIST output layer:
// batch 32, 10 classes, T = 300), including the copy of the loss value back
// to the host. BM_CudaNumSpikesLoss/<outputs>/<steps>.
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

void BM_CudaNumSpikesLoss(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const int64_t outputs = state.range(0), steps = state.range(1);
  const std::vector<float> eps = ops::MakeSrmKernels(ops::SrmParams(), 1.0f, steps).eps;
  const Tensor s = DeviceCopy(ops::testing::RandomSpikes({32, outputs, 1, 1, steps}, 0.1f, 1.0f, 1));
  std::vector<int> labels(32);
  for (int n = 0; n < 32; ++n) labels[n] = n % outputs;
  ops::CountTarget region;
  region.stop_step = steps;
  float loss = 0.0f;
  Tensor grad;
  TimeIterations(state, [&] {
    return ops::NumSpikesLoss(s, labels, region, eps, 1.0f, &loss, &grad);
  });
}

BENCHMARK(BM_CudaNumSpikesLoss)->Args({10, 300})->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
