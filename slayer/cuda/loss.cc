#include "slayer/cuda/loss.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/loss_kernels.h"
#include "slayer/cuda/psp_kernels.h"
#include "slayer/cuda/scratch.h"
#include "slayer/cuda/stream.h"
#include "slayer/cuda/taps.h"

namespace slayer {
namespace cuda {
namespace {

// Output spikes [N, O..., T] as N*O time rows.
struct Rows {
  int64_t batch, outputs, steps;
  int64_t rows() const { return batch * outputs; }
};

absl::StatusOr<Rows> CheckSpikes(const char* op, const Tensor& spikes, float ts,
                                 const float* loss, Tensor* grad) {
  if (loss == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": loss is null"));
  if (!(ts > 0.0f)) return absl::InvalidArgumentError(absl::StrCat(op, ": ts must be > 0"));
  if (spikes.rank() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": spikes have shape ", ShapeString(spikes.shape()), ", expected [N, O, 1, 1, T]"));
  }
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{op, &spikes}}));
  Rows r;
  r.batch = spikes.dim(0);
  r.steps = spikes.dim(-1);
  r.outputs = 1;
  for (int i = 1; i + 1 < spikes.rank(); ++i) r.outputs *= spikes.dim(i);
  if (grad != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad, spikes.shape(), Device::kCuda));
  return r;
}

absl::StatusOr<CountRegion> CheckCounts(const char* op, const Rows& r,
                                        absl::Span<const int> labels,
                                        const ops::CountTarget& target) {
  if (!(0 <= target.start_step && target.start_step < target.stop_step &&
        target.stop_step <= r.steps)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": target region [", target.start_step,
                                                   ", ", target.stop_step, ") outside [0, ",
                                                   r.steps, ")"));
  }
  if (static_cast<int64_t>(labels.size()) != r.batch) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", labels.size(), " labels for a batch of ", r.batch));
  }
  for (size_t n = 0; n < labels.size(); ++n) {
    if (labels[n] < 0 || labels[n] >= r.outputs) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": labels[", n, "] = ", labels[n],
                                                     ", expected a class in [0, ", r.outputs,
                                                     ")"));
    }
  }
  CountRegion region;
  region.start = target.start_step;
  region.stop = target.stop_step;
  region.true_value = target.true_value;
  region.false_value = target.false_value;
  return region;
}

// Device copy of the labels (the host span may go away after the call).
absl::StatusOr<DeviceScratch> UploadLabels(absl::Span<const int> labels, cudaStream_t stream) {
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch d,
                          DeviceScratch::Allocate(labels.size() * sizeof(int), stream));
  if (!labels.empty()) {
    SLAYER_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d.data(), labels.data(),
                                                labels.size() * sizeof(int),
                                                cudaMemcpyHostToDevice, stream));
  }
  return d;
}

// Sums the row losses on the device and brings the total to the host.
absl::Status FinishLoss(const DeviceScratch& row_loss, int64_t rows, cudaStream_t stream,
                        float* loss) {
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch total, DeviceScratch::Allocate(sizeof(double), stream));
  SLAYER_RETURN_IF_ERROR(LaunchSumRows(row_loss.as<double>(), rows, total.as<double>(), stream));
  double host = 0.0;
  SLAYER_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&host, total.data(), sizeof(double), cudaMemcpyDeviceToHost, stream));
  SLAYER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  *loss = static_cast<float>(host);
  return absl::OkStatus();
}

// The psp-based losses after their error signal `diff` is ready: e =
// psp(diff) (+ count errors inside R), row losses, and the gradient
// psp_backward(Ts * e) = Ts^2 * correlation of e with eps.
absl::Status PspLoss(const Rows& r, const DeviceScratch& diff, const float* count_error,
                     int64_t start, int64_t stop, absl::Span<const float> eps, float ts,
                     cudaStream_t stream, float* loss, Tensor* grad) {
  const int64_t n = r.rows() * r.steps;
  const int64_t taps = std::min<int64_t>(static_cast<int64_t>(eps.size()), r.steps);
  SLAYER_ASSIGN_OR_RETURN(const float* d_eps, DeviceTaps(eps.first(taps), stream));
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch e, DeviceScratch::Allocate(n * sizeof(float), stream));
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch row_loss,
                          DeviceScratch::Allocate(r.rows() * sizeof(double), stream));
  SLAYER_RETURN_IF_ERROR(
      LaunchPspForward(diff.as<float>(), e.as<float>(), r.rows(), r.steps, d_eps, taps, ts, stream));
  SLAYER_RETURN_IF_ERROR(LaunchFinishRows(e.as<float>(), count_error, r.rows(), r.steps, start,
                                          stop, ts, row_loss.as<double>(), stream));
  if (grad != nullptr) {
    SLAYER_RETURN_IF_ERROR(LaunchPspBackward(e.as<float>(), grad->data(), r.rows(), r.steps,
                                             d_eps, taps, ts * ts, stream));
  }
  return FinishLoss(row_loss, r.rows(), stream, loss);
}

}  // namespace

absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(Rows r, CheckSpikes("SpikeTimeLoss", spikes, ts, loss, grad));
  SLAYER_RETURN_IF_ERROR(CheckShape(target, spikes.shape(), "SpikeTimeLoss: target"));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"target", &target}}));
  if (r.rows() == 0 || r.steps == 0) {
    *loss = 0.0f;
    return absl::OkStatus();
  }
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  const int64_t n = r.rows() * r.steps;
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch diff, DeviceScratch::Allocate(n * sizeof(float), stream));
  SLAYER_RETURN_IF_ERROR(
      LaunchSubtract(spikes.data(), target.data(), diff.as<float>(), n, stream));
  return PspLoss(r, diff, /*count_error=*/nullptr, 0, 0, eps, ts, stream, loss, grad);
}

absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const ops::CountTarget& target, absl::Span<const float> eps,
                           float ts, float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(Rows r, CheckSpikes("NumSpikesLoss", spikes, ts, loss, grad));
  SLAYER_ASSIGN_OR_RETURN(CountRegion region, CheckCounts("NumSpikesLoss", r, labels, target));
  if (r.rows() == 0) {
    *loss = 0.0f;
    return absl::OkStatus();
  }
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  const int64_t n = r.rows() * r.steps;
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch d_labels, UploadLabels(labels, stream));
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch diff, DeviceScratch::Allocate(n * sizeof(float), stream));
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch count_error,
                          DeviceScratch::Allocate(r.rows() * sizeof(float), stream));
  SLAYER_RETURN_IF_ERROR(LaunchCountRows(spikes.data(), d_labels.as<int>(), r.rows(), r.outputs,
                                         r.steps, region, ts, diff.as<float>(),
                                         count_error.as<float>(), stream));
  return PspLoss(r, diff, count_error.as<float>(), region.start, region.stop, eps, ts, stream,
                 loss, grad);
}

absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const ops::CountTarget& target, float ts, float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(Rows r, CheckSpikes("SpikeRateLoss", spikes, ts, loss, grad));
  SLAYER_ASSIGN_OR_RETURN(CountRegion region, CheckCounts("SpikeRateLoss", r, labels, target));
  if (r.rows() == 0) {
    *loss = 0.0f;
    return absl::OkStatus();
  }
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch d_labels, UploadLabels(labels, stream));
  SLAYER_ASSIGN_OR_RETURN(DeviceScratch row_loss,
                          DeviceScratch::Allocate(r.rows() * sizeof(double), stream));
  SLAYER_RETURN_IF_ERROR(LaunchSpikeRateRows(spikes.data(), d_labels.as<int>(), r.rows(),
                                             r.outputs, r.steps, region, ts,
                                             row_loss.as<double>(),
                                             grad != nullptr ? grad->data() : nullptr, stream));
  return FinishLoss(row_loss, r.rows(), stream, loss);
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::SpikeTimeLossDispatch().Register(Device::kCuda, &SpikeTimeLoss);
  ops::NumSpikesLossDispatch().Register(Device::kCuda, &NumSpikesLoss);
  ops::SpikeRateLossDispatch().Register(Device::kCuda, &SpikeRateLoss);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
