// CUDA kernels of sum pooling (SPEC §3) on raw device arrays: x is
// [planes, H, W, T], y [planes, Ho, Wo, T] (planes = N*C), time innermost so
// that consecutive threads read consecutive time steps. Forward is one thread
// per output sample summing its window; backward is one thread per input
// sample gathering from every window that covers it (no atomics, so the sum
// order is fixed). Windows past the border see zeros.
//
//   PoolShape s{planes, H, W, T, Ho, Wo, kernel, stride, pad};
//   SLAYER_RETURN_IF_ERROR(LaunchPoolForward(x, y, s, weight, stream));
#ifndef SLAYER_CUDA_POOL_KERNELS_H_
#define SLAYER_CUDA_POOL_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

struct PoolShape {
  int64_t planes = 0, height = 0, width = 0, steps = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t kernel = 1, stride = 1, pad = 0;
};

// y = weight * window sum of x.
absl::Status LaunchPoolForward(const float* x, float* y, const PoolShape& s, float weight,
                               cudaStream_t stream);
// grad_x = weight * sum of grad_y over the windows containing each input.
absl::Status LaunchPoolBackward(const float* grad_y, float* grad_x, const PoolShape& s,
                                float weight, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_POOL_KERNELS_H_
