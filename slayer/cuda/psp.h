// The CUDA implementation of slayer/ops/psp.h: the same contract on
// Device::kCuda tensors, registered into PspForwardDispatch() and
// PspBackwardDispatch() when this library is linked, so callers just use
// ops::PspForward. Work runs on the calling thread's stream (stream.h);
// kernels are psp_kernels.h.
//
//   SLAYER_ASSIGN_OR_RETURN(Tensor x, spikes.To(Device::kCuda));
//   SLAYER_RETURN_IF_ERROR(ops::PspForward(x, kernels.eps, ts, &a));   // runs here
#ifndef SLAYER_CUDA_PSP_H_
#define SLAYER_CUDA_PSP_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts, Tensor* out);
absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel, float ts,
                         Tensor* grad_in);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_PSP_H_
