// CUDA kernels of the axonal delay and the fixed shift (SPEC §3) on raw
// device arrays, time innermost: x is [batch * neurons, steps]. A delay of
// D = d/Ts samples reads y[t] = (1-f) x[t-m] + f x[t-m-1] with m = floor(D),
// f = D - m (samples outside [0, steps) are zero), exactly as the CPU
// reference splits it. Delays come per neuron (group = 1) or per channel
// (group = H*W neurons share one value); a null `delays` means the scalar
// `shift_ms` for every row. Element-wise kernels use one thread per sample;
// the delay gradient uses one block per delay value, which sums over the
// batch and its neurons in double and owns its output (no atomics).
//
//   DelayShape s{batch, neurons, steps, group};
//   SLAYER_RETURN_IF_ERROR(LaunchDelayForward(x, d, 0.0f, ts, y, s, stream));
#ifndef SLAYER_CUDA_DELAY_KERNELS_H_
#define SLAYER_CUDA_DELAY_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

struct DelayShape {
  int64_t batch = 0;    // N
  int64_t neurons = 0;  // time rows per sample
  int64_t steps = 0;    // T
  int64_t group = 1;    // neurons per delay value
};

// y = x delayed; `delays` (neurons / group values, ms) or, when null, the
// scalar `shift_ms`. y must not overlap x.
absl::Status LaunchDelayForward(const float* x, const float* delays, float shift_ms, float ts,
                                float* y, const DelayShape& s, cudaStream_t stream);
// grad_x = the transpose: gx[i] = (1-f) g[i+m] + f g[i+m+1]. grad_x must not
// overlap grad_y.
absl::Status LaunchDelayBackwardInput(const float* grad_y, const float* delays, float shift_ms,
                                      float ts, float* grad_x, const DelayShape& s,
                                      cudaStream_t stream);
// grad_d[q] = -(1/Ts) sum over the rows of q and t of g[t] (x[t-m] - x[t-m-1]).
absl::Status LaunchDelayBackwardDelay(const float* x, const float* grad_y, const float* delays,
                                      float ts, float* grad_d, const DelayShape& s,
                                      cudaStream_t stream);
// d = clamp(d, 0, max_delay_ms); NaN becomes 0.
absl::Status LaunchClampDelays(float* d, int64_t n, float max_delay_ms, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DELAY_KERNELS_H_
