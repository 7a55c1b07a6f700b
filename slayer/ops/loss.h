// SLAYER's losses and the spike-count classifier (SPEC §4). Spikes have
// amplitude 1/Ts; output tensors are [N, O, 1, 1, T] (any [N, O..., T]).
// Every loss is the sum over the batch, E = 1/2 * Ts * sum e^2, and writes
// dE/d(spikes) into `grad` (resized to the spikes' shape; null skips it).
// num_spikes treats s_out*1_R and the count error as constants (detached, as
// in SLAYER), so its gradient is psp's backward of Ts*e.
//
//   spike_time:  e = psp(s_out - s_target)
//   num_spikes:  a = Ts * sum_{t in R} s_out[t], d = true/false count by label,
//                e(t) = psp(s_out - s_out*1_R)(t) + (a - d)/|R| * 1_R(t)
//   spike_rate:  r = a / (|R|*Ts), spikes per ms over the region,
//                E = 1/2 * sum (r - r_des)^2
//
//   float loss;
//   SLAYER_RETURN_IF_ERROR(NumSpikesLoss(out, labels, region, kernels.eps, ts, &loss, &grad));
//   SLAYER_ASSIGN_OR_RETURN(Tensor counts,
//                           SpikeCounts(out, region.start_step, region.stop_step, ts));
//   std::vector<int> predicted = PredictClasses(counts);
#ifndef SLAYER_OPS_LOSS_H_
#define SLAYER_OPS_LOSS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/dispatch.h"

namespace slayer {
namespace ops {

// The target region R = [start_step, stop_step) and the desired values.
struct CountTarget {
  int64_t start_step = 0;
  int64_t stop_step = 0;  // exclusive; <= T
  float true_value = 60.0f;   // count (num_spikes) or rate (spike_rate)
  float false_value = 10.0f;
};

absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad);
// labels[n] in [0, O).
absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, absl::Span<const float> eps, float ts,
                           float* loss, Tensor* grad);
// Rate = count / (|R| * Ts) in spikes per ms; E = 1/2 * sum_n,o (rate - desired)^2.
absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, float ts, float* loss, Tensor* grad);

// Spike counts per sample and output neuron over R: [N, O] (host).
absl::StatusOr<Tensor> SpikeCounts(const Tensor& spikes, int64_t start_step,
                                   int64_t stop_step, float ts);
// argmax of the counts per sample; ties go to the lowest index. With `tied`,
// (*tied)[n] says whether another class had the same (largest) count.
std::vector<int> PredictClasses(const Tensor& counts, std::vector<bool>* tied = nullptr);

using SpikeTimeLossFn = absl::Status (*)(const Tensor&, const Tensor&, absl::Span<const float>,
                                         float, float*, Tensor*);
using NumSpikesLossFn = absl::Status (*)(const Tensor&, absl::Span<const int>,
                                         const CountTarget&, absl::Span<const float>, float,
                                         float*, Tensor*);
using SpikeRateLossFn = absl::Status (*)(const Tensor&, absl::Span<const int>,
                                         const CountTarget&, float, float*, Tensor*);
OpDispatch<SpikeTimeLossFn>& SpikeTimeLossDispatch();
OpDispatch<NumSpikesLossFn>& NumSpikesLossDispatch();
OpDispatch<SpikeRateLossFn>& SpikeRateLossDispatch();

namespace cpu {
absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad);
absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, absl::Span<const float> eps, float ts,
                           float* loss, Tensor* grad);
absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, float ts, float* loss, Tensor* grad);
}  // namespace cpu

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_LOSS_H_
