#include "slayer/cuda/spike.h"

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/stream.h"
#include "slayer/cuda/taps.h"

namespace slayer {
namespace cuda {

absl::Status SpikeForwardWithPath(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                                  SpikePath path, Tensor* s) {
  if (u == nullptr || s == nullptr) {
    return absl::InvalidArgumentError("SpikeForward: u and s must not be null");
  }
  if (u->rank() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SpikeForward: u has shape ", ShapeString(u->shape()), ", expected [..., T]"));
  }
  if (!(ts > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("SpikeForward: ts must be > 0, got ", ts));
  }
  if (s == u || (!s->empty() && s->SharesStorageWith(*u))) {
    return absl::InvalidArgumentError(
        "SpikeForward: s must not share storage with u (u is updated in place)");
  }
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"SpikeForward: u", u}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(s, u->shape(), Device::kCuda));
  if (u->numel() == 0) return absl::OkStatus();
  const int64_t steps = u->dim(-1);
  const int64_t rows = u->numel() / steps;
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  SLAYER_ASSIGN_OR_RETURN(const float* d_nu, DeviceTaps(nu, stream));
  return LaunchSpikeForward(u->data(), s->data(), rows, steps, d_nu,
                            static_cast<int64_t>(nu.size()), theta, 1.0f / ts, path, stream);
}

absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s) {
  return SpikeForwardWithPath(u, nu, theta, ts, SpikePath::kAuto, s);
}

absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const ops::SurrogateParams& params, Tensor* grad_u) {
  if (grad_u == nullptr) return absl::InvalidArgumentError("SpikeBackward: grad_u is null");
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_s, u.shape(), "SpikeBackward: grad_s"));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(
      Device::kCuda, {{"SpikeBackward: u", &u}, {"SpikeBackward: grad_s", &grad_s}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_u, u.shape(), Device::kCuda));
  if (u.numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  return LaunchSpikeBackward(grad_s.data(), u.data(), grad_u->data(), u.numel(), params.theta,
                             params.tau_rho, params.scale_rho, stream);
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::SpikeForwardDispatch().Register(Device::kCuda, &SpikeForward);
  ops::SpikeBackwardDispatch().Register(Device::kCuda, &SpikeBackward);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
