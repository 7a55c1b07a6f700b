// The CUDA implementation of slayer/ops/dense.h on Device::kCuda tensors,
// on cuBLAS (blas.h), registered into DenseForwardDispatch() and
// DenseBackwardDispatch() when linked:
//   forward  Y[n] (O x T) = W (O x I) X[n] (I x T)      one strided-batched SGEMM
//   grad_x   GX[n] (I x T) = W^T G[n]                   one strided-batched SGEMM
//   grad_w   GW (O x I) = sum_n G[n] X[n]^T             N SGEMMs accumulating (beta 1)
//
//   SLAYER_RETURN_IF_ERROR(ops::DenseForward(x, w, &y));   // x, w on the GPU
#ifndef SLAYER_CUDA_DENSE_H_
#define SLAYER_CUDA_DENSE_H_

#include "absl/status/status.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y);
absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DENSE_H_
