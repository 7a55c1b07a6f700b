// The CUDA implementation of slayer/ops/conv.h on Device::kCuda tensors,
// registered into Conv2dForwardDispatch() and Conv2dBackwardDispatch() when
// linked. Per chunk of samples (the column buffer stays under 256 MiB):
// im2col (conv_kernels.h), then per group one strided-batched SGEMM
//   Y[n, g] (Og x Ho*Wo*T) = W[g] (Og x Cg*KH*KW) * col[n, g]
// grad_w accumulates G[n, g] * col[n, g]^T over the samples; grad_x is
// col2im of W[g]^T * G[n, g]. A 1x1 kernel with stride 1 and no padding
// skips the unrolling (the input already is the column matrix).
//
//   SLAYER_RETURN_IF_ERROR(ops::Conv2dForward(x, w, params, &y));   // on the GPU
#ifndef SLAYER_CUDA_CONV_H_
#define SLAYER_CUDA_CONV_H_

#include <cstdint>

#include "absl/status/status.h"
#include "slayer/core/tensor.h"
#include "slayer/ops/conv.h"

namespace slayer {
namespace cuda {

absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const ops::Conv2dParams& p,
                           Tensor* y);
absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const ops::Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w);

// Caps the column buffer (default 256 MiB); tests shrink it to exercise the
// chunking. Returns the previous cap.
int64_t SetConvColumnBytesForTesting(int64_t bytes);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_CONV_H_
