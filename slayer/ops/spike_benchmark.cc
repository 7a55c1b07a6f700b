// The SRM spike function (a per-neuron recurrence) and its surrogate
// gradient on the CPU. BM_SpikeForward/<neurons>/<steps>: neurons counts every
// time row (batch x neurons); the refractory kernel is SLAYER's default
// (tau_ref 1 ms, scale_ref 2, epsilon 1e-4 at Ts 1 ms).
#include "benchmark/benchmark.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

void BM_SpikeForward(benchmark::State& state) {
  const int64_t neurons = state.range(0);
  const int64_t steps = state.range(1);
  SrmParams p;
  const std::vector<float> nu = MakeSrmKernels(p, 1.0f, steps).nu;
  // Potentials around theta, so that a realistic share of steps spike.
  const Tensor initial = testing::RandomUniform({neurons, steps}, 1, 0.0f, 12.0f);
  Tensor u = initial.Clone();
  Tensor s;
  // Steady state: the output is allocated (and its pages touched) once.
  if (!SpikeForward(&u, nu, p.theta, 1.0f, &s).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    state.PauseTiming();
    absl::Status copied = u.CopyFrom(initial);  // the op updates u in place
    if (!copied.ok()) state.SkipWithError(copied.ToString().c_str());
    state.ResumeTiming();
    absl::Status status = SpikeForward(&u, nu, p.theta, 1.0f, &s);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(state.iterations() * 3 * initial.bytes());
}
// The last size: the first conv layer of the Fashion-MNIST CNN (32 x 12c24x24, T 25).
BENCHMARK(BM_SpikeForward)->Args({512, 300})->Args({32 * 512, 300})->Args({32 * 12 * 24 * 24, 25})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SpikeBackward(benchmark::State& state) {
  const int64_t neurons = state.range(0);
  const int64_t steps = state.range(1);
  const Tensor u = testing::RandomUniform({neurons, steps}, 1, 0.0f, 20.0f);
  const Tensor gs = testing::RandomUniform({neurons, steps}, 2);
  Tensor gu;
  SurrogateParams p;
  if (!SpikeBackward(gs, u, p, &gu).ok()) state.SkipWithError("warm-up failed");
  for (auto _ : state) {
    absl::Status status = SpikeBackward(gs, u, p, &gu);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(gu.data());
  }
  state.SetBytesProcessed(state.iterations() * 3 * u.bytes());
}
BENCHMARK(BM_SpikeBackward)->Args({512, 300})->Args({32 * 512, 300})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace ops
}  // namespace slayer
