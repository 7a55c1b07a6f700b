#include "slayer/cuda/benchmark_util.h"

#include <string>

#include "slayer/core/check.h"
#include "slayer/cuda/device.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace cuda {

bool CudaBenchmarkReady(benchmark::State& state) {
  if (HasDevice()) return true;
  state.SkipWithError(("no CUDA device: " + NoDeviceReason()).c_str());
  return false;
}

bool BenchOk(benchmark::State& state, const absl::Status& status) {
  if (status.ok()) return true;
  state.SkipWithError(std::string(status.ToString()).c_str());
  return false;
}

Tensor DeviceCopy(const Tensor& host) {
  absl::StatusOr<Tensor> t = host.To(Device::kCuda);
  SLAYER_CHECK(t.ok()) << t.status();
  return *std::move(t);
}

EventTimer::EventTimer() {
  absl::StatusOr<cudaStream_t> stream = CurrentStream();
  SLAYER_CHECK(stream.ok()) << stream.status();
  stream_ = *stream;
  SLAYER_CHECK(cudaEventCreate(&start_) == cudaSuccess);
  SLAYER_CHECK(cudaEventCreate(&stop_) == cudaSuccess);
}

EventTimer::~EventTimer() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

void EventTimer::Start() { SLAYER_CHECK(cudaEventRecord(start_, stream_) == cudaSuccess); }

double EventTimer::Seconds() {
  SLAYER_CHECK(cudaEventRecord(stop_, stream_) == cudaSuccess);
  SLAYER_CHECK(cudaEventSynchronize(stop_) == cudaSuccess);
  float ms = 0.0f;
  SLAYER_CHECK(cudaEventElapsedTime(&ms, start_, stop_) == cudaSuccess);
  return ms * 1e-3;
}

}  // namespace cuda
}  // namespace slayer
