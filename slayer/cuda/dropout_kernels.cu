#include "slayer/cuda/dropout_kernels.h"

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// No __restrict__ on x and y: the op may run in place.
__global__ void ApplyTimeMaskKernel(const float* x, const float* __restrict__ mask, float* y,
                                    int64_t total, int64_t steps) {
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    y[i] = x[i] * mask[i / steps];
  }
}

}  // namespace

absl::Status LaunchApplyTimeMask(const float* x, const float* mask, float* y, int64_t rows,
                                 int64_t steps, cudaStream_t stream) {
  if (rows < 0 || steps < 0) return absl::InvalidArgumentError("mask kernel: negative size");
  const int64_t total = rows * steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(ApplyTimeMaskKernel, GridFor(total, kThreads), kThreads, 0, stream, x, mask,
                     y, total, steps);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
