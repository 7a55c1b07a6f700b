// Helpers for the CUDA benchmarks (testonly): time one iteration with CUDA
// events on the thread's stream (Google Benchmark's manual time, so only
// GPU time counts), and skip a benchmark with a message when there is no
// device or when an op fails.
//
//   static void BM_CudaPsp(benchmark::State& state) {
//     if (!CudaBenchmarkReady(state)) return;          // "no CUDA device: ..."
//     ... set up device tensors ...
//     TimeIterations(state, [&] { return ops::PspForward(x, eps, 1.0f, &y); });
//   }
//   BENCHMARK(BM_CudaPsp)->Args({512, 300})->UseManualTime();
#ifndef SLAYER_CUDA_BENCHMARK_UTIL_H_
#define SLAYER_CUDA_BENCHMARK_UTIL_H_

#include <cuda_runtime_api.h>

#include <functional>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

// False (and the benchmark skipped with the reason) without a device.
bool CudaBenchmarkReady(benchmark::State& state);
// False (and the benchmark skipped with the status) when `status` failed.
bool BenchOk(benchmark::State& state, const absl::Status& status);

// A host tensor moved to the device (aborts on failure: benchmark set-up).
Tensor DeviceCopy(const Tensor& host);

// Two events on the calling thread's stream.
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  void Start();
  // Records the stop event, waits for it and returns the seconds between.
  double Seconds();

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Runs `op` once untimed (first-call allocations, tap uploads), then times
// every iteration of `op` with events. `reset`, when given, runs before each
// iteration outside the timed region (e.g. restoring an input that `op`
// modifies in place).
template <typename Op>
void TimeIterations(benchmark::State& state, Op&& op,
                    const std::function<absl::Status()>& reset = nullptr) {
  if (reset && !BenchOk(state, reset())) return;
  if (!BenchOk(state, op())) return;
  EventTimer timer;
  for (auto _ : state) {
    if (reset && !BenchOk(state, reset())) return;
    timer.Start();
    if (!BenchOk(state, op())) return;
    state.SetIterationTime(timer.Seconds());
  }
}

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_BENCHMARK_UTIL_H_
