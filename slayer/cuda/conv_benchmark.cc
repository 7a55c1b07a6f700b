// GPU time of conv2d (im2col + SGEMM) on the NMNIST CNN layers, batch 32,
// T = 300. BM_CudaConv*/<layer>: 0 = 2->12 channels 5x5 on 34x34,
// 1 = 12->64 channels 5x5 on 15x15.
#include "benchmark/benchmark.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

struct Layer {
  Shape x, w;
};

Layer NmnistLayer(int64_t i) {
  if (i == 0) return {{32, 2, 34, 34, 300}, {12, 2, 5, 5}};
  return {{32, 12, 15, 15, 300}, {64, 12, 5, 5}};
}

void Flops(benchmark::State& state, const Layer& l, const Shape& y, int64_t passes) {
  const double macs = static_cast<double>(NumElements(y)) * l.w[1] * l.w[2] * l.w[3];
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * macs * passes * state.iterations(),
                                                benchmark::Counter::kIsRate);
}

void BM_CudaConvForward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const Layer l = NmnistLayer(state.range(0));
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes(l.x, 0.05f, 1.0f, 1));
  const Tensor w = DeviceCopy(ops::testing::RandomUniform(l.w, 2));
  const ops::Conv2dParams p;
  Tensor y;
  TimeIterations(state, [&] { return ops::Conv2dForward(x, w, p, &y); });
  Flops(state, l, y.shape(), 1);
}

void BM_CudaConvBackward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  const Layer l = NmnistLayer(state.range(0));
  const Tensor x = DeviceCopy(ops::testing::RandomSpikes(l.x, 0.05f, 1.0f, 1));
  const Tensor w = DeviceCopy(ops::testing::RandomUniform(l.w, 2));
  const ops::Conv2dParams p;
  absl::StatusOr<Shape> y_shape = ops::Conv2dOutputShape(l.x, l.w, p);
  if (!BenchOk(state, y_shape.status())) return;
  const Tensor gy = DeviceCopy(ops::testing::RandomUniform(*y_shape, 3));
  Tensor gx, gw;
  TimeIterations(state, [&] { return ops::Conv2dBackward(x, w, p, gy, &gx, &gw); });
  Flops(state, l, *y_shape, 2);
}

BENCHMARK(BM_CudaConvForward)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaConvBackward)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
