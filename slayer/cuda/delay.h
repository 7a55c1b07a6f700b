// The CUDA implementation of slayer/ops/delay.h (learnable axonal delays and
// the fixed shift) on Device::kCuda tensors, registered into the delay,
// shift and clamp dispatchers when linked; kernels are delay_kernels.h.
//
//   SLAYER_RETURN_IF_ERROR(ops::DelayForward(x, d, ts, &y));   // x, d on the GPU
//   SLAYER_RETURN_IF_ERROR(ops::ClampDelays(&d, max_delay_ms));
#ifndef SLAYER_CUDA_DELAY_H_
#define SLAYER_CUDA_DELAY_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y);
absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d);
absl::Status ClampDelays(Tensor* d, float max_delay_ms);
absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y);
absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DELAY_H_
