// Dense (fully connected) synapses applied at every time step (SPEC §3):
//   y[n, o, t] = sum_i W[o, i] * x[n, i, t]
// x is [N, C, H, W, T] (or any [N, ..., T]), flattened to I = C*H*W inputs;
// W is [O, I]; y is [N, O, 1, 1, T].
//
//   SLAYER_RETURN_IF_ERROR(DenseForward(x, w, &y));
//   SLAYER_RETURN_IF_ERROR(DenseBackward(x, w, grad_y, &grad_x, &grad_w));
//
// A layer that runs both passes on the same x passes a DenseEvents: the
// forward pass records x's nonzeros there and the backward pass reuses them
// instead of scanning x again (host tensors; ignored on a device).
#ifndef SLAYER_OPS_DENSE_H_
#define SLAYER_OPS_DENSE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"
#include "slayer/ops/events.h"
#include "slayer/ops/spike.h"

namespace slayer {
namespace ops {

// The nonzeros of one sample of a spike tensor [C, H, W, T], as a data
// loader records them while the sample is in cache: a row per input (C*H*W,
// in memory order) of (time step, value) in increasing time.
using SampleEvents = internal::EventRows;
// Records sample[rows x steps] into *out (cleared first).
void RecordSampleEvents(const float* sample, int64_t rows, int64_t steps, SampleEvents* out);

// The nonzeros of one x, per sample and input row, or a note that x was too
// dense for the event-driven kernels. Reused across calls: steady-state
// steps allocate nothing.
class DenseEvents {
 public:
  DenseEvents();
  ~DenseEvents();
  DenseEvents(const DenseEvents&) = delete;
  DenseEvents& operator=(const DenseEvents&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }
  // Forgets events handed over by DenseSpikingForward (the tensor they
  // describe is about to be written some other way; values it left
  // unwritten are dropped too).
  void DropHandOver();
  // Writes x's values if they are the ones DenseSpikingForward left
  // unwritten (s_on_demand) for these events; else does nothing. Host only;
  // not to be called from two threads at once.
  void WriteSource(const Tensor& x);
  // Hands over x's events recorded elsewhere, one SampleEvents per sample
  // (a loader's): the next DenseForward or DenseSpikingForward on x with
  // this as its `events` takes them instead of scanning x, once. x must not
  // change in between. InvalidArgument (nothing handed over) when their
  // count, rows or time steps do not fit x ([N, ..., T], host).
  absl::Status HandOver(const Tensor& x, absl::Span<const SampleEvents> samples);

 private:
  std::unique_ptr<Impl> impl_;
};

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y);
// The same, recording x's events in `events` for DenseBackward (`events`
// holds a reference to x's storage until the next record). x's values must
// not change until that DenseBackward.
absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y, DenseEvents* events);
// grad_x (resized to x's shape) may be null to skip it; grad_w (resized to
// W's shape) is overwritten with the gradient summed over the batch, or
// skipped when null.
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w);
// The same with the events recorded by DenseForward on this x (checked: the
// same storage, offset and shape, else x is scanned again; values changed in
// place in between are not detected).
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w, DenseEvents* events);

using DenseForwardFn = absl::Status (*)(const Tensor&, const Tensor&, Tensor*);
using DenseBackwardFn = absl::Status (*)(const Tensor&, const Tensor&, const Tensor&,
                                         Tensor*, Tensor*);
OpDispatch<DenseForwardFn>& DenseForwardDispatch();
OpDispatch<DenseBackwardFn>& DenseBackwardDispatch();

// An SRM neuron after the dense op (SPEC §3-4): its psp kernel eps and
// refractory kernel nu (as PspForward and SpikeForward take them), theta, Ts.
struct DenseNeuron {
  absl::Span<const float> eps;
  absl::Span<const float> nu;
  float theta = 0;
  float ts = 1;
};

// A dense layer's input gradient left as its factors, grad_x[n][i][t] =
// sum_c w[c][i] grad_z[n][c][t] (w [C, I], grad_z [N, C, 1, 1, T], host):
// for a narrow layer (a classifier's few outputs) the layer before computes
// the panels it needs from it instead of reading a stored [N, I, T] tensor.
struct DenseGradFactor {
  const Tensor* w = nullptr;
  const Tensor* grad_z = nullptr;
};

namespace cpu {
// DenseForward, PspForward and SpikeForward in turn, host tensors:
//   u = psp(W x), updated in place by the refractory responses; s = spike(u)
// (s null: u only, no spikes). When x is sparse and eps has the SRM alpha
// form (ops/cpu_util.h), in one pass: each panel of 32 outputs of a sample
// goes through the psp recursion and the spike scan while it is in L1, and
// u and s come out equal to the three ops' (the same operations per element
// in the same order). Else the three ops run, z = W x in `scratch`.
// `events` as for DenseForward. With `s_events`, the one pass also hands
// over the events of s (made from each panel's spike masks): the next
// DenseForward or DenseSpikingForward on s with s_events as its `events`
// takes them instead of scanning s, once; s must not change in between.
// Without the one pass nothing is handed over. With s_on_demand as well, the
// one pass leaves s's storage unwritten: s_events hold its values (as spike
// masks) and write them when a dense op given s_events needs them (s too
// dense for its event kernels), when asked (DenseEvents::WriteSource), or
// before they describe another tensor; DropHandOver (s about to be written
// another way) drops them. Until then s must be read through those only.
//
// With u_panels, the one pass (with s, and grad_W's panels enough tasks for
// the threads, as DenseSpikingBackward's one pass needs) writes u there
// instead, time-major per panel of 32 outputs: u_panels [N, P, T, 32] with
// u_panels[n][p][t][k] = u[n][32p + k][t] (outputs past O: unspecified),
// written as contiguous streams, and leaves u as it was. Otherwise u is
// written and u_panels left empty: callers tell the two apart by that.
absl::Status DenseSpikingForward(const Tensor& x, const Tensor& w, const DenseNeuron& neuron,
                                 Tensor* u, Tensor* s, DenseEvents* events, Tensor* scratch,
                                 DenseEvents* s_events = nullptr, Tensor* u_panels = nullptr,
                                 bool s_on_demand = false);
// u [N, O, 1, 1, T] from DenseSpikingForward's u_panels.
absl::Status DensePanelsToRows(const Tensor& u_panels, int64_t outputs, Tensor* u);

// The backward of DenseSpikingForward (with s), host tensors: the
// surrogate and psp backward of the stage, then the dense op's:
//   grad_z = SurrogatePspBackward(grad_s, u), then
//   DenseBackward(x, w, grad_z, grad_x, grad_w, events).
// When x's events are sparse, eps has the SRM alpha form and grad_W's
// panels of 32 outputs are enough tasks for the threads, in one pass: each
// panel of a sample goes from the surrogate through the psp recursion into
// grad_w's event scatter while in cache, and grad_z is only stored (for
// grad_x's GEMM) when grad_x is wanted. The same values as the two ops (the
// same operations per element in the same order). grad_z is scratch: its
// contents are unspecified after the one pass without grad_x, unless
// keep_grad_z. With a non-empty u_panels (DenseSpikingForward's), u is read
// from there and the `u` argument is not used. With grad_s_factor, grad_s is
// that factor's product (the next dense layer's input gradient, never
// stored: the one pass computes each panel of it in cache) and the `grad_s`
// argument is not used; the same values as DenseBackward's grad_x would
// give where the AVX-512 GEMM runs.
//
// Gradients may also pass between dense layers as panels, time-major per
// 32 channels as u_panels: [N, P, T, 32] with [n][p][t][k] = the rows'
// [n][32p + k][t] (zero past the channels), which the one passes read and
// write without transposing: grad_s of rank 4 is taken as panels, and with
// grad_x_panels grad_x comes as panels, [N, NumPanels(I), T, 32], where the
// one pass and the AVX-512 GEMM run (grad_z stored as panels for it) and not
// keep_grad_z, else as rows: the same values either way (bit for bit; where
// the CPU has AMX, grad_x as panels is multiplied in bf16x3, within about
// 2^-16 of the sums of |products|: ops/gemm.h), and callers tell the
// layouts apart by rank.
// Whether grad_x as panels comes straight out of the GEMM (the AVX-512
// GEMM runs), rather than packed from rows: only then is handing gradients
// between layers as panels worth it.
bool DenseGradPanelsDirect();
absl::Status DenseSpikingBackward(const Tensor& x, const Tensor& w, const DenseNeuron& neuron,
                                  const SurrogateParams& surrogate, const Tensor& u,
                                  const Tensor& grad_s, Tensor* grad_z, Tensor* grad_x,
                                  Tensor* grad_w, DenseEvents* events,
                                  const Tensor* u_panels = nullptr,
                                  const DenseGradFactor* grad_s_factor = nullptr,
                                  bool keep_grad_z = false, bool grad_x_panels = false);

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y);
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w);
absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y, DenseEvents* events);
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w, DenseEvents* events);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_DENSE_H_
