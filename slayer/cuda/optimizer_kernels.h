// Optimiser updates on device arrays (SPEC §5), one thread per element, with
// the formulas of slayer/train's host optimisers (torch.optim.SGD and Adam,
// slayerPytorch's Nadam), so that a trainer keeping its parameters on the
// GPU can step them without a host round trip. Plain functions on raw
// pointers: the trainer owns the state arrays (zero-initialised, same length
// as the parameter) and the step count. `step` is the number of this update,
// starting at 1. Host code may include this header.
//
//   AdamStepParams p;  p.lr = 1e-3f;  p.step = ++t;
//   SLAYER_RETURN_IF_ERROR(AdamStep(w, grad_w, m, v, /*v_max=*/nullptr, n, p, stream));
#ifndef SLAYER_CUDA_OPTIMIZER_KERNELS_H_
#define SLAYER_CUDA_OPTIMIZER_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

// g = grad + weight_decay * p; with momentum: buf = (step == 1 ? g :
// momentum * buf + g), g = nesterov ? g + momentum * buf : buf; p -= lr * g.
struct SgdStepParams {
  float lr = 1e-3f;
  float weight_decay = 0.0f;
  float momentum = 0.0f;
  bool nesterov = false;
  int64_t step = 1;
};
// `momentum_buf` may be null when momentum is 0.
absl::Status SgdStep(float* param, const float* grad, float* momentum_buf, int64_t n,
                     const SgdStepParams& params, cudaStream_t stream);

// g = grad + weight_decay * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// vv = amsgrad ? (v_max = max(v_max, v)) : v; with bc_i = 1 - b_i^step:
//   Adam:  p -= lr / bc1 * m / (sqrt(vv) / sqrt(bc2) + eps)
//   Nadam: p -= lr * sqrt(bc2) / bc1 * (b1 m + (1-b1) g) / (sqrt(vv) + eps)
struct AdamStepParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool amsgrad = false;  // needs v_max
  bool nadam = false;
  int64_t step = 1;
};
absl::Status AdamStep(float* param, const float* grad, float* m, float* v, float* v_max,
                      int64_t n, const AdamStepParams& params, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_OPTIMIZER_KERNELS_H_
