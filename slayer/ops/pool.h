// Sum pooling (SPEC §3): every output neuron sums a k×k window of its input
// channel at each time step with one fixed weight (1.1*theta in SLAYER);
// no gradient to the weight. Any k and any input size:
//   Ho = (H + 2*pad - k) / stride + 1, stride defaults to k, windows that
// reach past the border see zeros.
// x [N, C, H, W, T] -> y [N, C, Ho, Wo, T].
//
//   PoolParams p;  p.kernel = 2;  p.weight = 1.1f * theta;
//   SLAYER_RETURN_IF_ERROR(PoolForward(x, p, &y));
#ifndef SLAYER_OPS_POOL_H_
#define SLAYER_OPS_POOL_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

struct PoolParams {
  int kernel = 2;
  int stride = 0;  // 0 means = kernel
  int pad = 0;
  float weight = 11.0f;
};

absl::StatusOr<Shape> PoolOutputShape(const Shape& x, const PoolParams& p);
absl::Status PoolForward(const Tensor& x, const PoolParams& p, Tensor* y);
absl::Status PoolBackward(const Shape& x_shape, const PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x);

using PoolForwardFn = absl::Status (*)(const Tensor&, const PoolParams&, Tensor*);
using PoolBackwardFn = absl::Status (*)(const Shape&, const PoolParams&, const Tensor&,
                                        Tensor*);
OpDispatch<PoolForwardFn>& PoolForwardDispatch();
OpDispatch<PoolBackwardFn>& PoolBackwardDispatch();

namespace cpu {
absl::Status PoolForward(const Tensor& x, const PoolParams& p, Tensor* y);
absl::Status PoolBackward(const Shape& x_shape, const PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_POOL_H_
