// CUDA kernel of the dropout mask (SPEC §3) on raw device arrays: one mask
// value per neuron and sample, shared by every time step,
//   y[r, t] = x[r, t] * mask[r],   x and y [rows, steps].
// The same kernel serves forward and backward. y may be x (in place).
//
//   SLAYER_RETURN_IF_ERROR(LaunchApplyTimeMask(x, mask, y, rows, steps, stream));
#ifndef SLAYER_CUDA_DROPOUT_KERNELS_H_
#define SLAYER_CUDA_DROPOUT_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

absl::Status LaunchApplyTimeMask(const float* x, const float* mask, float* y, int64_t rows,
                                 int64_t steps, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DROPOUT_KERNELS_H_
