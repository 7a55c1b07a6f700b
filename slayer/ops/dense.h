// Dense (fully connected) synapses applied at every time step (SPEC §3):
//   y[n, o, t] = sum_i W[o, i] * x[n, i, t]
// x is [N, C, H, W, T] (or any [N, ..., T]), flattened to I = C*H*W inputs;
// W is [O, I]; y is [N, O, 1, 1, T].
//
//   SLAYER_RETURN_IF_ERROR(DenseForward(x, w, &y));
//   SLAYER_RETURN_IF_ERROR(DenseBackward(x, w, grad_y, &grad_x, &grad_w));
#ifndef SLAYER_OPS_DENSE_H_
#define SLAYER_OPS_DENSE_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y);
// grad_x (resized to x's shape) may be null to skip it; grad_w (resized to
// W's shape) is overwritten with the gradient summed over the batch, or
// skipped when null.
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w);

using DenseForwardFn = absl::Status (*)(const Tensor&, const Tensor&, Tensor*);
using DenseBackwardFn = absl::Status (*)(const Tensor&, const Tensor&, const Tensor&,
                                         Tensor*, Tensor*);
OpDispatch<DenseForwardFn>& DenseForwardDispatch();
OpDispatch<DenseBackwardFn>& DenseBackwardDispatch();

namespace cpu {
absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y);
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_DENSE_H_
