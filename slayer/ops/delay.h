// Axonal delays (SPEC §3). Learnable: y(t) = x(t - d) with d >= 0 in ms, one
// per neuron (d shaped like x's neuron dims [C, H, W]) or per channel (d of
// shape [C]); fractional d/Ts by linear interpolation between samples,
// samples before t = 0 are zero. Gradients:
//   dL/dx(t) = sum over t' of the interpolation weights (the transpose),
//   dL/dd    = -sum_t g[t] * xdot(t - d),  xdot the backward difference / Ts
// (the derivative of the interpolated signal with respect to its argument).
// Fixed shift (delay_shift): the same with one scalar d and no parameter.
//
//   SLAYER_RETURN_IF_ERROR(DelayForward(x, d, ts, &y));
//   SLAYER_RETURN_IF_ERROR(DelayBackward(x, d, ts, grad_y, &grad_x, &grad_d));
//   ClampDelays(&d, max_delay_ms);   // after each optimiser step
#ifndef SLAYER_OPS_DELAY_H_
#define SLAYER_OPS_DELAY_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

// x [N, C, H, W, T] (or [N, ..., T]); d [C, H, W] (per neuron, any shape of
// numel C*H*W) or [C] (per channel). y resized to x's shape.
absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y);
// grad_x / grad_d may be null; grad_d (resized to d's shape) is overwritten,
// summed over the batch (and over H, W for per-channel delays).
absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d);
// Clamps every delay into [0, max_delay_ms].
absl::Status ClampDelays(Tensor* d, float max_delay_ms);

// Fixed shift by `shift_ms` >= 0 (no parameter): y(t) = x(t - shift).
absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y);
absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x);

using DelayForwardFn = absl::Status (*)(const Tensor&, const Tensor&, float, Tensor*);
using DelayBackwardFn = absl::Status (*)(const Tensor&, const Tensor&, float, const Tensor&,
                                         Tensor*, Tensor*);
using ShiftFn = absl::Status (*)(const Tensor&, float, float, Tensor*);
using ClampFn = absl::Status (*)(Tensor*, float);
OpDispatch<DelayForwardFn>& DelayForwardDispatch();
OpDispatch<DelayBackwardFn>& DelayBackwardDispatch();
OpDispatch<ShiftFn>& ShiftForwardDispatch();
OpDispatch<ShiftFn>& ShiftBackwardDispatch();
OpDispatch<ClampFn>& ClampDelaysDispatch();

namespace cpu {
absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y);
absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d);
absl::Status ClampDelays(Tensor* d, float max_delay_ms);
absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y);
absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_DELAY_H_
