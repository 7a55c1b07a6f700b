// Dropout for spike tensors (SPEC §3): one Bernoulli mask per neuron per
// sample, shared by all time steps, scaled by 1/(1-p); identity in eval.
// x [N, C, H, W, T]; mask [N, C, H, W] holds 0 or 1/(1-p).
//
//   Rng rng(seed);
//   SLAYER_RETURN_IF_ERROR(MakeDropoutMask(x.shape(), p, rng, &mask));  // host
//   SLAYER_RETURN_IF_ERROR(DropoutForward(x, mask, &y));
//   SLAYER_RETURN_IF_ERROR(DropoutBackward(grad_y, mask, &grad_x));
#ifndef SLAYER_OPS_DROPOUT_H_
#define SLAYER_OPS_DROPOUT_H_

#include "absl/status/status.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

// Draws a host mask of shape x_shape without its last (time) dimension.
absl::Status MakeDropoutMask(const Shape& x_shape, float p, Rng& rng, Tensor* mask);
// y[..., t] = x[..., t] * mask[...]; works for the backward too.
absl::Status DropoutForward(const Tensor& x, const Tensor& mask, Tensor* y);
absl::Status DropoutBackward(const Tensor& grad_y, const Tensor& mask, Tensor* grad_x);

using MaskFn = absl::Status (*)(const Tensor&, const Tensor&, Tensor*);
OpDispatch<MaskFn>& DropoutForwardDispatch();
OpDispatch<MaskFn>& DropoutBackwardDispatch();

namespace cpu {
absl::Status ApplyTimeMask(const Tensor& x, const Tensor& mask, Tensor* y);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_DROPOUT_H_
