#include "slayer/cuda/pool.h"

#include "slayer/core/status.h"
#include "slayer/cuda/pool_kernels.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace cuda {
namespace {

absl::StatusOr<PoolShape> MakeShape(const Shape& x_shape, const ops::PoolParams& p) {
  SLAYER_ASSIGN_OR_RETURN(Shape y_shape, ops::PoolOutputShape(x_shape, p));
  PoolShape s;
  s.planes = x_shape[0] * x_shape[1];
  s.height = x_shape[2];
  s.width = x_shape[3];
  s.steps = x_shape[4];
  s.out_h = y_shape[2];
  s.out_w = y_shape[3];
  s.kernel = p.kernel;
  s.stride = p.stride == 0 ? p.kernel : p.stride;
  s.pad = p.pad;
  return s;
}

}  // namespace

absl::Status PoolForward(const Tensor& x, const ops::PoolParams& p, Tensor* y) {
  if (y == nullptr) return absl::InvalidArgumentError("PoolForward: y is null");
  SLAYER_ASSIGN_OR_RETURN(PoolShape s, MakeShape(x.shape(), p));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"PoolForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(
      EnsureShape(y, {x.dim(0), x.dim(1), s.out_h, s.out_w, s.steps}, Device::kCuda));
  if (y->numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  return LaunchPoolForward(x.data(), y->data(), s, p.weight, stream);
}

absl::Status PoolBackward(const Shape& x_shape, const ops::PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x) {
  if (grad_x == nullptr) return absl::InvalidArgumentError("PoolBackward: grad_x is null");
  SLAYER_ASSIGN_OR_RETURN(PoolShape s, MakeShape(x_shape, p));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, {x_shape[0], x_shape[1], s.out_h, s.out_w, s.steps},
                                    "PoolBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(
      ops::CheckSameDevice(Device::kCuda, {{"PoolBackward: grad_y", &grad_y}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x_shape, Device::kCuda));
  if (grad_x->numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  return LaunchPoolBackward(grad_y.data(), grad_x->data(), s, p.weight, stream);
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::PoolForwardDispatch().Register(Device::kCuda, &PoolForward);
  ops::PoolBackwardDispatch().Register(Device::kCuda, &PoolBackward);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
