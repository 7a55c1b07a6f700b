#include "slayer/cuda/dropout.h"

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/dropout_kernels.h"
#include "slayer/cuda/stream.h"
#include "slayer/ops/dropout.h"

namespace slayer {
namespace cuda {

absl::Status ApplyTimeMask(const Tensor& x, const Tensor& mask, Tensor* y) {
  if (y == nullptr) return absl::InvalidArgumentError("ApplyTimeMask: output is null");
  if (x.rank() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ApplyTimeMask: x has shape ", ShapeString(x.shape()), ", expected [N, C, H, W, T]"));
  }
  const Shape expected(x.shape().begin(), x.shape().end() - 1);
  SLAYER_RETURN_IF_ERROR(CheckShape(mask, expected, "ApplyTimeMask: mask (x without time)"));
  SLAYER_RETURN_IF_ERROR(
      ops::CheckSameDevice(Device::kCuda, {{"ApplyTimeMask: x", &x}, {"mask", &mask}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, x.shape(), Device::kCuda));
  if (x.numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  return LaunchApplyTimeMask(x.data(), mask.data(), y->data(), mask.numel(), x.dim(-1), stream);
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::DropoutForwardDispatch().Register(Device::kCuda, &ApplyTimeMask);
  ops::DropoutBackwardDispatch().Register(Device::kCuda, &ApplyTimeMask);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
