// The CUDA implementation of slayer/ops/pool.h (sum pooling) on
// Device::kCuda tensors, registered into PoolForwardDispatch() and
// PoolBackwardDispatch() when linked; kernels are pool_kernels.h.
//
//   SLAYER_RETURN_IF_ERROR(ops::PoolForward(x, params, &y));   // x on the GPU
#ifndef SLAYER_CUDA_POOL_H_
#define SLAYER_CUDA_POOL_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/pool.h"

namespace slayer {
namespace cuda {

absl::Status PoolForward(const Tensor& x, const ops::PoolParams& p, Tensor* y);
absl::Status PoolBackward(const Shape& x_shape, const ops::PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_POOL_H_
