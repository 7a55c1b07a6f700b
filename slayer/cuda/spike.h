// The CUDA implementation of slayer/ops/spike.h (SRM spike function and its
// surrogate gradient) on Device::kCuda tensors, registered into
// SpikeForwardDispatch() and SpikeBackwardDispatch() when linked. Forward
// matches the CPU reference spike for spike (same order of refractory
// additions); kernels are spike_kernels.h.
//
//   SLAYER_RETURN_IF_ERROR(ops::SpikeForward(&u, kernels.nu, theta, ts, &s));  // u on the GPU
#ifndef SLAYER_CUDA_SPIKE_H_
#define SLAYER_CUDA_SPIKE_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/cuda/spike_kernels.h"
#include "slayer/ops/spike.h"

namespace slayer {
namespace cuda {

absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s);
absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const ops::SurrogateParams& params, Tensor* grad_u);

// SpikeForward with a chosen kernel (tests compare the tiled and the plain walk).
absl::Status SpikeForwardWithPath(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                                  SpikePath path, Tensor* s);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_SPIKE_H_
