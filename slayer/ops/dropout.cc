#include "slayer/ops/dropout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

absl::Status CheckMaskArgs(const char* op, const Tensor& x, const char* x_name,
                           const Tensor& mask, const Tensor* out) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(out, op, "output"));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(x, 1, op, x_name, "[N, C, H, W, T]"));
  const Shape expected(x.shape().begin(), x.shape().end() - 1);
  SLAYER_RETURN_IF_ERROR(
      CheckShape(mask, expected, absl::StrCat(op, ": mask (", x_name, " without time)")));
  return CheckSameDevice(x.device(), {{"mask", &mask}});
}

}  // namespace

absl::Status MakeDropoutMask(const Shape& x_shape, float p, Rng& rng, Tensor* mask) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(mask, "MakeDropoutMask", "mask"));
  if (!(p >= 0.0f && p < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("MakeDropoutMask: drop probability p must be in [0, 1), got ", p));
  }
  if (x_shape.empty()) {
    return absl::InvalidArgumentError(
        "MakeDropoutMask: x_shape is empty, expected [N, C, H, W, T]");
  }
  const Shape shape(x_shape.begin(), x_shape.end() - 1);
  SLAYER_RETURN_IF_ERROR(EnsureShape(mask, shape, Device::kCpu));
  const float keep = 1.0f / (1.0f - p);
  float* values = mask->data();
  // Sequential draws in row-major order: the mask depends only on the seed.
  for (int64_t i = 0; i < mask->numel(); ++i) {
    values[i] = rng.Bernoulli(p) ? 0.0f : keep;
  }
  return absl::OkStatus();
}

OpDispatch<MaskFn>& DropoutForwardDispatch() {
  static auto* dispatch = new OpDispatch<MaskFn>("dropout_forward", &cpu::ApplyTimeMask);
  return *dispatch;
}

OpDispatch<MaskFn>& DropoutBackwardDispatch() {
  static auto* dispatch = new OpDispatch<MaskFn>("dropout_backward", &cpu::ApplyTimeMask);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered =
    (DropoutForwardDispatch(), DropoutBackwardDispatch(), true);
}  // namespace

absl::Status DropoutForward(const Tensor& x, const Tensor& mask, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(CheckMaskArgs("DropoutForward", x, "x", mask, y));
  return DropoutForwardDispatch()(x.device(), x, mask, y);
}

absl::Status DropoutBackward(const Tensor& grad_y, const Tensor& mask, Tensor* grad_x) {
  SLAYER_RETURN_IF_ERROR(CheckMaskArgs("DropoutBackward", grad_y, "grad_y", mask, grad_x));
  return DropoutBackwardDispatch()(grad_y.device(), grad_y, mask, grad_x);
}

namespace cpu {

absl::Status ApplyTimeMask(const Tensor& x, const Tensor& mask, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(CheckMaskArgs("ApplyTimeMask", x, "x", mask, y));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"ApplyTimeMask: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, x.shape(), Device::kCpu));
  if (x.numel() == 0) return absl::OkStatus();
  const int64_t steps = x.dim(-1);
  const float* xs = x.data();
  const float* ms = mask.data();
  float* ys = y->data();
  internal::ParallelFor(mask.numel(), std::max<int64_t>(1, 16384 / steps),
                        [&](int64_t begin, int64_t end) {
                          for (int64_t r = begin; r < end; ++r) {
                            internal::Scale(ms[r], xs + r * steps, ys + r * steps, steps);
                          }
                        });
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
