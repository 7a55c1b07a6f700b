// CUDA kernels that turn 2-D convolution per time step (SPEC §3) into GEMMs:
// im2col unrolls a chunk of samples x [nb, C, H, W, T] into columns
//   col[b][(c*KH + kh)*KW + kw][(ho*Wo + wo)*T + t]
//     = x[b, c, ho*sh - ph + kh*dh, wo*sw - pw + kw*dw, t]   (0 outside)
// and col2im is its transpose as a gather (one thread per input sample,
// summing the columns that read it; no atomics). Time is innermost on both
// sides, so consecutive threads touch consecutive addresses. conv.cc does
// the GEMMs on cuBLAS.
//
//   ConvShape s = ...;   // one chunk of `samples` samples
//   SLAYER_RETURN_IF_ERROR(LaunchIm2Col(x_chunk, col, s, stream));
#ifndef SLAYER_CUDA_CONV_KERNELS_H_
#define SLAYER_CUDA_CONV_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

struct ConvShape {
  int64_t samples = 0;  // nb, samples in this chunk
  int64_t channels = 0, height = 0, width = 0, steps = 0;
  int64_t kernel_h = 1, kernel_w = 1, out_h = 0, out_w = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;

  __host__ __device__ int64_t col_rows() const { return channels * kernel_h * kernel_w; }
  __host__ __device__ int64_t col_cols() const { return out_h * out_w * steps; }
};

// col [samples, col_rows, col_cols] from x [samples, C, H, W, T].
absl::Status LaunchIm2Col(const float* x, float* col, const ConvShape& s, cudaStream_t stream);
// x [samples, C, H, W, T] = the sum of the columns that read each element.
absl::Status LaunchCol2Im(const float* col, float* x, const ConvShape& s, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_CONV_KERNELS_H_
