// The SRM spike function and its surrogate gradient (SPEC §2).
// Forward, per neuron, strictly in time order (a recurrence):
//   if u[t] >= theta: s[t] = 1/Ts and u[t+j] += nu[j] for j < len(nu), t+j < T
//   else:             s[t] = 0
// `u` is updated in place, so afterwards it holds the potential *after*
// refractory additions — what the backward pass needs.
// Backward: g_u[t] = g_s[t] * rho(u[t]),
//   rho(u) = scale_rho / (tau_rho*theta) * exp(-|u - theta| / (tau_rho*theta)).
// No gradient flows through the refractory term.
//
//   SLAYER_RETURN_IF_ERROR(SpikeForward(&u, kernels.nu, theta, ts, &s));
//   SLAYER_RETURN_IF_ERROR(SpikeBackward(grad_s, u, surrogate, &grad_u));
#ifndef SLAYER_OPS_SPIKE_H_
#define SLAYER_OPS_SPIKE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

struct SurrogateParams {
  float theta = 10.0f;
  float tau_rho = 1.0f;
  float scale_rho = 1.0f;
};

// u: [..., T], modified in place. s resized to u's shape.
absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s);
// grad_u resized to u's shape.
absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const SurrogateParams& params, Tensor* grad_u);

using SpikeForwardFn = absl::Status (*)(Tensor*, absl::Span<const float>, float, float,
                                        Tensor*);
using SpikeBackwardFn = absl::Status (*)(const Tensor&, const Tensor&,
                                         const SurrogateParams&, Tensor*);
OpDispatch<SpikeForwardFn>& SpikeForwardDispatch();
OpDispatch<SpikeBackwardFn>& SpikeBackwardDispatch();

namespace cpu {
absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s);
absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const SurrogateParams& params, Tensor* grad_u);
// A spiking stage's whole backward on the host in one pass:
//   grad_z = PspBackward(SpikeBackward(grad_s, u), kernel, ts)
// with the surrogate applied as rows enter the psp filter (grad_u is never
// stored). The same values as the two ops to float rounding.
absl::Status SurrogatePspBackward(const Tensor& grad_s, const Tensor& u,
                                  const SurrogateParams& params, absl::Span<const float> kernel,
                                  float ts, Tensor* grad_z);
// A spiking stage's whole forward on the host in one pass:
//   u = PspForward(z, kernel, ts), then SpikeForward(&u, nu, theta, ts, s)
// with the spike scan run on each block of 8 rows (16 with AVX-512) while the
// psp recursion holds it time-major (refractory responses added to all the
// lanes that spiked at a step at once). u and
// s equal the two ops' (the same operations per element in the same order);
// a kernel of no alpha form runs the two ops. u may be z; s may not share
// storage with either.
absl::Status PspSpikeForward(const Tensor& z, absl::Span<const float> kernel,
                             absl::Span<const float> nu, float theta, float ts, Tensor* u,
                             Tensor* s);
}  // namespace cpu

namespace internal {
// The spike scan of 8 rows held time-major, u[t * stride + lane], for the
// lanes set in `lanes`, as SpikeForward finds them row by row: at each step
// (in time order) the lanes at or above theta spike (spiked[t]: their bits)
// and get their refractory response nu added to u[t, t + taps); the other
// lanes keep their bits (a blend, not an addition of zero). Host only.
void SpikeLanes(float* u, int64_t steps, int64_t stride, absl::Span<const float> nu,
                float theta, unsigned lanes, uint16_t* spiked);
// Rows k < lanes of s (row k at s + k * steps): amplitude where bit k of
// spiked[t] is set, zero elsewhere.
void WriteSpikes(const uint16_t* spiked, int64_t steps, int64_t lanes, float amplitude,
                 float* s);
// The spike scan of a panel of 32 rows held time-major, u[t * 32 + k], for
// the rows k < width (<= 32), as SpikeLanes finds them (the same operations
// on u): masks[t] bit k when row k spikes at t (zero bits past width).
void SpikePanelMasks(float* u, int64_t steps, int64_t width, absl::Span<const float> nu,
                     float theta, uint32_t* masks);
// Rows k < width (<= 32) of s (row k at s + k * steps, contiguous):
// amplitude where bit k of masks[t] is set, zero elsewhere (masks[t] for t <
// steps only are read). With AVX-512 the rows are streamed (non-temporal
// stores, ordered by an sfence): for spike trains read later, if at all.
void WriteSpikesFromMasks(const uint32_t* masks, int64_t steps, int64_t width, float amplitude,
                          float* s);
// InvalidArgument naming `op` unless the surrogate is defined: tau_rho *
// theta > 0 and a finite scale_rho.
absl::Status CheckSurrogate(const char* op, const SurrogateParams& params);
// out[i] = g[i] * rho(u[i]) for i < n (SpikeBackward's surrogate; out may
// alias g): each element exactly as SpikeBackward and SurrogatePspBackward
// give it, however the rows are cut.
void SurrogateRows(const SurrogateParams& params, const float* g, const float* u, int64_t n,
                   float* out);
}  // namespace internal

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_SPIKE_H_
