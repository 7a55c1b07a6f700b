// Post-synaptic potential (SPEC §2): a causal temporal convolution along the
// last (time) axis of a tensor of any leading shape,
//   forward   a[t] = Ts * sum_k eps[k] * x[t-k]        (zero initial state)
//   backward  g_x[t] = Ts * sum_k eps[k] * g_a[t+k]    (the correlation)
// The backward is exactly SLAYER's temporal credit assignment.
//
//   SLAYER_RETURN_IF_ERROR(PspForward(spikes, kernels.eps, ts, &psp));
//   SLAYER_RETURN_IF_ERROR(PspBackward(grad_psp, kernels.eps, ts, &grad_spikes));
#ifndef SLAYER_OPS_PSP_H_
#define SLAYER_OPS_PSP_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

// `out` is resized (EnsureShape) to x's shape on x's device.
absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts,
                        Tensor* out);
absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel,
                         float ts, Tensor* grad_in);

using PspFn = absl::Status (*)(const Tensor&, absl::Span<const float>, float, Tensor*);
OpDispatch<PspFn>& PspForwardDispatch();
OpDispatch<PspFn>& PspBackwardDispatch();

namespace cpu {
absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts, Tensor* out);
absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel, float ts,
                         Tensor* grad_in);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_PSP_H_
