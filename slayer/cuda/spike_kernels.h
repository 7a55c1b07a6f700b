// CUDA kernels of the SRM spike function (SPEC §2) on raw device arrays,
// time innermost: u and s are [rows, steps] row-major.
// Forward is a recurrence in time, so one thread owns one neuron (row) and
// walks it; a warp owns 32 rows and stages them in shared memory, 32 steps
// at a time, with coalesced loads and stores (a ring buffer holds the steps
// the refractory kernel can still reach). Refractory additions happen in the
// same order as on the CPU, so the spikes match it exactly. Kernels with
// more taps than shared memory holds fall back to a plain thread-per-row
// walk over global memory.
// Backward is element-wise: g_u = g_s * rho(u).
//
//   SLAYER_RETURN_IF_ERROR(LaunchSpikeForward(u, s, rows, steps, d_nu, nu.size(),
//                                             theta, 1.0f / ts, SpikePath::kAuto, stream));
#ifndef SLAYER_CUDA_SPIKE_KERNELS_H_
#define SLAYER_CUDA_SPIKE_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

enum class SpikePath {
  kAuto,       // tiled when the shared memory fits, else per-thread
  kTiled,      // fails with Unimplemented when the shared memory does not fit
  kPerThread,  // always the plain walk (tests compare the two)
};

// u is updated in place (after refractory additions); s gets 0 or
// `spike_value` (1/Ts). `nu` is a device array of `nu_len` taps.
absl::Status LaunchSpikeForward(float* u, float* s, int64_t rows, int64_t steps,
                                const float* nu, int64_t nu_len, float theta, float spike_value,
                                SpikePath path, cudaStream_t stream);

// grad_u[i] = grad_s[i] * scale_rho / (tau_rho * theta)
//             * exp(-|u[i] - theta| / (tau_rho * theta)),  i < n.
absl::Status LaunchSpikeBackward(const float* grad_s, const float* u, float* grad_u, int64_t n,
                                 float theta, float tau_rho, float scale_rho,
                                 cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_SPIKE_KERNELS_H_
