#include "slayer/cuda/optimizer_kernels.h"

#include <cmath>

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void SgdKernel(float* __restrict__ param, const float* __restrict__ grad,
                          float* __restrict__ buf, int64_t n, float lr, float wd, float mu,
                          bool nesterov, bool first) {
  for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) {
    float g = grad[i] + wd * param[i];
    if (buf != nullptr) {
      const float b = first ? g : mu * buf[i] + g;
      buf[i] = b;
      g = nesterov ? g + mu * b : b;
    }
    param[i] -= lr * g;
  }
}

__global__ void AdamKernel(float* __restrict__ param, const float* __restrict__ grad,
                           float* __restrict__ m, float* __restrict__ v,
                           float* __restrict__ v_max, int64_t n, float step_size, float sqrt_bc2,
                           float b1, float b2, float eps, float wd, bool nadam) {
  for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) {
    const float g = grad[i] + wd * param[i];
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if (v_max != nullptr) {
      vv = fmaxf(v_max[i], vi);
      v_max[i] = vv;
    }
    if (nadam) {
      param[i] -= step_size * ((b1 * mi + (1.0f - b1) * g) / (sqrtf(vv) + eps));
    } else {
      param[i] -= step_size * (mi / (sqrtf(vv) / sqrt_bc2 + eps));
    }
  }
}

}  // namespace

absl::Status SgdStep(float* param, const float* grad, float* momentum_buf, int64_t n,
                     const SgdStepParams& p, cudaStream_t stream) {
  if (n < 0 || p.step < 1) return absl::InvalidArgumentError("SgdStep: n < 0 or step < 1");
  if (p.momentum != 0.0f && momentum_buf == nullptr) {
    return absl::InvalidArgumentError("SgdStep: momentum > 0 needs a momentum buffer");
  }
  if (n == 0) return absl::OkStatus();
  float* buf = p.momentum != 0.0f ? momentum_buf : nullptr;
  SLAYER_CUDA_LAUNCH(SgdKernel, GridFor(n, kThreads), kThreads, 0, stream, param, grad, buf, n,
                     p.lr, p.weight_decay, p.momentum, p.nesterov, p.step == 1);
  return absl::OkStatus();
}

absl::Status AdamStep(float* param, const float* grad, float* m, float* v, float* v_max,
                      int64_t n, const AdamStepParams& p, cudaStream_t stream) {
  if (n < 0 || p.step < 1) return absl::InvalidArgumentError("AdamStep: n < 0 or step < 1");
  if (p.amsgrad && v_max == nullptr) {
    return absl::InvalidArgumentError("AdamStep: amsgrad needs a v_max buffer");
  }
  if (n == 0) return absl::OkStatus();
  // Bias corrections in double on the host, as the host optimisers do.
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = p.nadam ? static_cast<float>(p.lr * std::sqrt(bc2) / bc1)
                                  : static_cast<float>(p.lr / bc1);
  const float sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
  SLAYER_CUDA_LAUNCH(AdamKernel, GridFor(n, kThreads), kThreads, 0, stream, param, grad, m, v,
                     p.amsgrad ? v_max : nullptr, n, step_size, sqrt_bc2, p.beta1, p.beta2,
                     p.eps, p.weight_decay, p.nadam);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
