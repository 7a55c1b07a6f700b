#include "slayer/ops/srm_kernel.h"

#include <cmath>

namespace slayer {
namespace ops {

std::vector<float> AlphaKernel(float tau_ms, float mult, float ts_ms, float epsilon,
                               int64_t max_taps) {
  std::vector<float> kernel;
  if (!(tau_ms > 0.0f) || !(ts_ms > 0.0f)) return kernel;
  // Double precision like the reference implementation (NumPy), so that the
  // truncation point matches it exactly.
  const double tau = tau_ms;
  const double ts = ts_ms;
  for (int64_t k = 0; k < max_taps; ++k) {
    const double t = static_cast<double>(k) * ts;
    const double value = static_cast<double>(mult) * (t / tau) * std::exp(1.0 - t / tau);
    if (std::abs(value) < static_cast<double>(epsilon) && t > tau) break;
    kernel.push_back(static_cast<float>(value));
  }
  return kernel;
}

SrmKernels MakeSrmKernels(const SrmParams& params, float ts_ms, int64_t steps) {
  SrmKernels kernels;
  kernels.eps = AlphaKernel(params.tau_sr_ms, 1.0f, ts_ms, params.epsilon_sr, steps);
  kernels.nu = AlphaKernel(params.tau_ref_ms, -params.scale_ref * params.theta, ts_ms,
                           params.epsilon_ref, steps);
  return kernels;
}

}  // namespace ops
}  // namespace slayer
