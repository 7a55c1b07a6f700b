// The CUDA implementation of slayer/ops/dropout.h's mask application on
// Device::kCuda tensors (the mask itself is drawn on the host and copied
// over), registered into DropoutForwardDispatch() and
// DropoutBackwardDispatch() when linked; the kernel is dropout_kernels.h.
//
//   SLAYER_ASSIGN_OR_RETURN(Tensor d_mask, mask.To(Device::kCuda));
//   SLAYER_RETURN_IF_ERROR(ops::DropoutForward(x, d_mask, &y));
#ifndef SLAYER_CUDA_DROPOUT_H_
#define SLAYER_CUDA_DROPOUT_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

// y[..., t] = x[..., t] * mask[...]; y may be x.
absl::Status ApplyTimeMask(const Tensor& x, const Tensor& mask, Tensor* y);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DROPOUT_H_
