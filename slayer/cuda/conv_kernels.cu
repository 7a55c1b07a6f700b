#include "slayer/cuda/conv_kernels.h"

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void Im2ColKernel(const float* __restrict__ x, float* __restrict__ col, ConvShape s) {
  const int64_t cols = s.col_cols();
  const int64_t rows = s.col_rows();
  const int64_t total = s.samples * rows * cols;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    const int64_t p = i % cols;
    const int64_t row_b = i / cols;
    const int64_t row = row_b % rows;
    const int64_t b = row_b / rows;
    const int64_t t = p % s.steps;
    const int64_t q = p / s.steps;
    const int64_t wo = q % s.out_w;
    const int64_t ho = q / s.out_w;
    const int64_t kw = row % s.kernel_w;
    const int64_t kh = (row / s.kernel_w) % s.kernel_h;
    const int64_t c = row / (s.kernel_w * s.kernel_h);
    const int64_t h = ho * s.stride_h - s.pad_h + kh * s.dilation_h;
    const int64_t w = wo * s.stride_w - s.pad_w + kw * s.dilation_w;
    float v = 0.0f;
    if (h >= 0 && h < s.height && w >= 0 && w < s.width) {
      v = x[(((b * s.channels + c) * s.height + h) * s.width + w) * s.steps + t];
    }
    col[i] = v;
  }
}

__global__ void Col2ImKernel(const float* __restrict__ col, float* __restrict__ x, ConvShape s) {
  const int64_t cols = s.col_cols();
  const int64_t rows = s.col_rows();
  const int64_t total = s.samples * s.channels * s.height * s.width * s.steps;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    const int64_t t = i % s.steps;
    int64_t rest = i / s.steps;
    const int64_t w = rest % s.width;
    rest /= s.width;
    const int64_t h = rest % s.height;
    rest /= s.height;
    const int64_t c = rest % s.channels;
    const int64_t b = rest / s.channels;
    const float* cb = col + (b * rows + c * s.kernel_h * s.kernel_w) * cols + t;
    float sum = 0.0f;
    for (int64_t kh = 0; kh < s.kernel_h; ++kh) {
      const int64_t h_num = h + s.pad_h - kh * s.dilation_h;  // = ho * stride_h
      if (h_num < 0 || h_num % s.stride_h != 0) continue;
      const int64_t ho = h_num / s.stride_h;
      if (ho >= s.out_h) continue;
      for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
        const int64_t w_num = w + s.pad_w - kw * s.dilation_w;
        if (w_num < 0 || w_num % s.stride_w != 0) continue;
        const int64_t wo = w_num / s.stride_w;
        if (wo >= s.out_w) continue;
        sum += cb[(kh * s.kernel_w + kw) * cols + (ho * s.out_w + wo) * s.steps];
      }
    }
    x[i] = sum;
  }
}

absl::Status CheckShape(const ConvShape& s) {
  if (s.samples < 0 || s.channels < 0 || s.height < 0 || s.width < 0 || s.steps < 0 ||
      s.kernel_h < 1 || s.kernel_w < 1 || s.out_h < 0 || s.out_w < 0 || s.stride_h < 1 ||
      s.stride_w < 1 || s.pad_h < 0 || s.pad_w < 0 || s.dilation_h < 1 || s.dilation_w < 1) {
    return absl::InvalidArgumentError("conv kernel: invalid shape");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchIm2Col(const float* x, float* col, const ConvShape& s, cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.samples * s.col_rows() * s.col_cols();
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(Im2ColKernel, GridFor(total, kThreads), kThreads, 0, stream, x, col, s);
  return absl::OkStatus();
}

absl::Status LaunchCol2Im(const float* col, float* x, const ConvShape& s, cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.samples * s.channels * s.height * s.width * s.steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(Col2ImKernel, GridFor(total, kThreads), kThreads, 0, stream, col, x, s);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
