// The CUDA implementation of slayer/ops/loss.h (spike_time, num_spikes and
// spike_rate losses) on Device::kCuda output spikes, registered into the
// loss dispatchers when linked. The gradient stays on the device; the loss
// value comes back to the host (one small copy and a stream sync per call).
// Kernels are loss_kernels.h and psp_kernels.h.
//
//   float loss;
//   SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(out, labels, region, eps, ts, &loss, &grad));
#ifndef SLAYER_CUDA_LOSS_H_
#define SLAYER_CUDA_LOSS_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/loss.h"

namespace slayer {
namespace cuda {

absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad);
absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const ops::CountTarget& region, absl::Span<const float> eps, float ts,
                           float* loss, Tensor* grad);
absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const ops::CountTarget& region, float ts, float* loss, Tensor* grad);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_LOSS_H_
