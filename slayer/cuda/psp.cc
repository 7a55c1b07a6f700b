#include "slayer/cuda/psp.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/psp_kernels.h"
#include "slayer/cuda/stream.h"
#include "slayer/cuda/taps.h"
#include "slayer/ops/psp.h"

namespace slayer {
namespace cuda {
namespace {

absl::Status RunPsp(const char* op, const Tensor& x, absl::Span<const float> kernel, float ts,
                    bool backward, Tensor* out) {
  if (out == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": output is null"));
  if (x.rank() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": input has shape ",
                                                   ShapeString(x.shape()), ", expected [..., T]"));
  }
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{op, &x}}));
  // The kernel reads neighbouring samples of other threads: never in place.
  if (!out->empty() && out->SharesStorageWith(x)) {
    Tensor fresh;
    SLAYER_RETURN_IF_ERROR(RunPsp(op, x, kernel, ts, backward, &fresh));
    return out->CopyFrom(fresh);
  }
  SLAYER_RETURN_IF_ERROR(EnsureShape(out, x.shape(), Device::kCuda));
  if (x.numel() == 0) return absl::OkStatus();
  const int64_t steps = x.dim(-1);
  const int64_t rows = x.numel() / steps;
  // Taps at k >= steps reach no output.
  const int64_t taps = std::min<int64_t>(static_cast<int64_t>(kernel.size()), steps);
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  SLAYER_ASSIGN_OR_RETURN(const float* d_taps, DeviceTaps(kernel.first(taps), stream));
  if (backward) {
    return LaunchPspBackward(x.data(), out->data(), rows, steps, d_taps, taps, ts, stream);
  }
  return LaunchPspForward(x.data(), out->data(), rows, steps, d_taps, taps, ts, stream);
}

}  // namespace

absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts, Tensor* out) {
  return RunPsp("PspForward", x, kernel, ts, /*backward=*/false, out);
}

absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel, float ts,
                         Tensor* grad_in) {
  return RunPsp("PspBackward", grad_out, kernel, ts, /*backward=*/true, grad_in);
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::PspForwardDispatch().Register(Device::kCuda, &PspForward);
  ops::PspBackwardDispatch().Register(Device::kCuda, &PspBackward);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
