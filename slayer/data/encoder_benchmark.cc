// Encoder throughput: images -> spikes (28 x 28, 25 steps) and events ->
// NMNIST-sized tensors (4000 events -> 2 x 34 x 34 x 300), in samples per
// second (items_per_second).
//
//   bazel run -c opt //slayer/data:encoder_benchmark -- --benchmark_min_time=0.05
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/data/encoder.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

void BM_EncodeImage(benchmark::State& state) {
  ImageEncoderOptions o;
  o.encoding = state.range(0) == 0 ? ImageEncoding::kIntegrateAndFire : ImageEncoding::kPoisson;
  Rng rng(1);
  std::vector<float> pixels(28 * 28);
  for (float& p : pixels) p = rng.Uniform();
  std::vector<float> out(pixels.size() * o.num_steps());
  for (auto _ : state) {
    benchmark::DoNotOptimize(EncodeImage(pixels, o, &rng, absl::MakeSpan(out)).ok());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "integrate-and-fire" : "poisson");
}
BENCHMARK(BM_EncodeImage)->Arg(0)->Arg(1);

// range(0): events per sample; range(1): 0 OR, 1 SUM; range(2): augment.
void BM_BinEvents(benchmark::State& state) {
  EventTensorOptions o;  // 2 x 34 x 34 x 300
  o.binning = state.range(1) == 0 ? Binning::kOr : Binning::kSum;
  o.max_jitter = state.range(2) ? 2 : 0;
  o.max_time_shift = state.range(2) ? 5 : 0;
  const EventStream events = RandomEvents(state.range(0), 34, 34, 2, 150, 1);
  std::vector<float> out(NumElements(o.shape()));
  Rng rng(3);
  for (auto _ : state) {
    benchmark::DoNotOptimize(BinEvents(events, o, &rng, absl::MakeSpan(out)).ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BinEvents)->Args({4000, 0, 0})->Args({4000, 1, 0})->Args({4000, 0, 1});

}  // namespace
}  // namespace data
}  // namespace slayer
