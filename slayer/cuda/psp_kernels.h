// CUDA kernels of the PSP (SPEC §2) on raw device arrays, time innermost:
// x and out are [rows, steps] row-major, taps a device array. Time-parallel:
// one thread per output sample; each block stages its 256 inputs plus the
// kernel's reach (and the taps, in chunks of 1024) in shared memory.
//   forward   out[r, t] = scale * sum_{k <= t}          taps[k] * x[r, t - k]
//   backward  out[r, t] = scale * sum_{t + k < steps}   taps[k] * x[r, t + k]
// `x` and `out` must not overlap. ops::PspForward's CUDA path (psp.h) and the
// losses call these.
//
//   SLAYER_RETURN_IF_ERROR(LaunchPspForward(x, out, rows, steps, d_eps, eps.size(), ts, stream));
#ifndef SLAYER_CUDA_PSP_KERNELS_H_
#define SLAYER_CUDA_PSP_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

absl::Status LaunchPspForward(const float* x, float* out, int64_t rows, int64_t steps,
                              const float* taps, int64_t num_taps, float scale,
                              cudaStream_t stream);
absl::Status LaunchPspBackward(const float* grad_out, float* grad_in, int64_t rows,
                               int64_t steps, const float* taps, int64_t num_taps, float scale,
                               cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_PSP_KERNELS_H_
