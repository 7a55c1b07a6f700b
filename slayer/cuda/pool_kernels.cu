#include "slayer/cuda/pool_kernels.h"

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t Max64(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

__global__ void PoolForwardKernel(const float* __restrict__ x, float* __restrict__ y,
                                  PoolShape s, float weight) {
  const int64_t total = s.planes * s.out_h * s.out_w * s.steps;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    const int64_t t = i % s.steps;
    int64_t rest = i / s.steps;
    const int64_t wo = rest % s.out_w;
    rest /= s.out_w;
    const int64_t ho = rest % s.out_h;
    const int64_t plane = rest / s.out_h;
    const int64_t h0 = ho * s.stride - s.pad, w0 = wo * s.stride - s.pad;
    const int64_t h_lo = Max64(h0, 0), h_hi = Min64(h0 + s.kernel, s.height);
    const int64_t w_lo = Max64(w0, 0), w_hi = Min64(w0 + s.kernel, s.width);
    const float* xp = x + plane * s.height * s.width * s.steps + t;
    float sum = 0.0f;
    for (int64_t h = h_lo; h < h_hi; ++h) {
      for (int64_t w = w_lo; w < w_hi; ++w) sum += xp[(h * s.width + w) * s.steps];
    }
    y[i] = sum * weight;
  }
}

__global__ void PoolBackwardKernel(const float* __restrict__ grad_y, float* __restrict__ grad_x,
                                   PoolShape s, float weight) {
  const int64_t total = s.planes * s.height * s.width * s.steps;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    const int64_t t = i % s.steps;
    int64_t rest = i / s.steps;
    const int64_t w = rest % s.width;
    rest /= s.width;
    const int64_t h = rest % s.height;
    const int64_t plane = rest / s.height;
    // Output rows whose window [ho*stride - pad, ho*stride - pad + kernel)
    // contains h: ho in [ceil((h + pad - kernel + 1) / stride), floor((h + pad) / stride)].
    const int64_t h_num = h + s.pad - s.kernel + 1, w_num = w + s.pad - s.kernel + 1;
    const int64_t ho_lo = h_num <= 0 ? 0 : (h_num + s.stride - 1) / s.stride;
    const int64_t wo_lo = w_num <= 0 ? 0 : (w_num + s.stride - 1) / s.stride;
    const int64_t ho_hi = Min64((h + s.pad) / s.stride, s.out_h - 1);
    const int64_t wo_hi = Min64((w + s.pad) / s.stride, s.out_w - 1);
    const float* gp = grad_y + plane * s.out_h * s.out_w * s.steps + t;
    float sum = 0.0f;
    for (int64_t ho = ho_lo; ho <= ho_hi; ++ho) {
      for (int64_t wo = wo_lo; wo <= wo_hi; ++wo) sum += gp[(ho * s.out_w + wo) * s.steps];
    }
    grad_x[i] = weight * sum;
  }
}

absl::Status CheckShape(const PoolShape& s) {
  if (s.planes < 0 || s.height < 0 || s.width < 0 || s.steps < 0 || s.out_h < 0 ||
      s.out_w < 0 || s.kernel < 1 || s.stride < 1 || s.pad < 0) {
    return absl::InvalidArgumentError("pool kernel: invalid shape");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchPoolForward(const float* x, float* y, const PoolShape& s, float weight,
                               cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.planes * s.out_h * s.out_w * s.steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(PoolForwardKernel, GridFor(total, kThreads), kThreads, 0, stream, x, y, s,
                     weight);
  return absl::OkStatus();
}

absl::Status LaunchPoolBackward(const float* grad_y, float* grad_x, const PoolShape& s,
                                float weight, cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.planes * s.height * s.width * s.steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(PoolBackwardKernel, GridFor(total, kThreads), kThreads, 0, stream, grad_y,
                     grad_x, s, weight);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
