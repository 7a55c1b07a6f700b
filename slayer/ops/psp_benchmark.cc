// PSP (temporal convolution with the spike response kernel) on the CPU.
// BM_PspForward/<neurons>/<steps>: neurons counts every time row (batch x
// neurons), tau_sr 10 ms at Ts 1 ms as in the NMNIST models.
#include "benchmark/benchmark.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

void RunPsp(benchmark::State& state, bool backward) {
  const int64_t neurons = state.range(0);
  const int64_t steps = state.range(1);
  const std::vector<float> eps = AlphaKernel(10.0f, 1.0f, 1.0f, 0.01f, steps);
  Tensor x = testing::RandomUniform({neurons, steps}, 1);
  Tensor y;
  // Steady state: the output is allocated (and its pages touched) once.
  if (!PspForward(x, eps, 1.0f, &y).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status s = backward ? PspBackward(x, eps, 1.0f, &y) : PspForward(x, eps, 1.0f, &y);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.bytes());
  state.counters["FLOP"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * neurons * steps * eps.size(),
      benchmark::Counter::kIsRate);
  state.counters["taps"] = static_cast<double>(eps.size());
}

void BM_PspForward(benchmark::State& state) { RunPsp(state, false); }
void BM_PspBackward(benchmark::State& state) { RunPsp(state, true); }

// 512 neurons of one sample; a batch of 32 x 512; a 12c5 NMNIST conv output.
BENCHMARK(BM_PspForward)->Args({512, 300})->Args({32 * 512, 300})->Args({32 * 12 * 30 * 30 / 8, 300})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PspBackward)->Args({512, 300})->Args({32 * 512, 300})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace ops
}  // namespace slayer
