// 2-D convolution applied independently at every time step (SPEC §3).
// x [N, C, H, W, T], weight [O, C/groups, KH, KW], y [N, O, Ho, Wo, T] with
//   Ho = (H + 2*pad_h - dilation_h*(KH-1) - 1) / stride_h + 1   (likewise Wo).
//
//   Conv2dParams p;  p.pad_h = p.pad_w = 2;
//   SLAYER_RETURN_IF_ERROR(Conv2dForward(x, w, p, &y));
#ifndef SLAYER_OPS_CONV_H_
#define SLAYER_OPS_CONV_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
};

// The output shape, or InvalidArgument naming the mismatch.
absl::StatusOr<Shape> Conv2dOutputShape(const Shape& x, const Shape& w,
                                        const Conv2dParams& p);

absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                           Tensor* y);
// grad_x / grad_w may be null; grad_w is overwritten (summed over the batch).
absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w);

using Conv2dForwardFn = absl::Status (*)(const Tensor&, const Tensor&, const Conv2dParams&,
                                         Tensor*);
using Conv2dBackwardFn = absl::Status (*)(const Tensor&, const Tensor&, const Conv2dParams&,
                                          const Tensor&, Tensor*, Tensor*);
OpDispatch<Conv2dForwardFn>& Conv2dForwardDispatch();
OpDispatch<Conv2dBackwardFn>& Conv2dBackwardDispatch();

namespace cpu {
absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                           Tensor* y);
absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_CONV_H_
