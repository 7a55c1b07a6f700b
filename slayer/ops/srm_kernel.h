// Sampled SRM kernels (SPEC §2): the spike response kernel eps and the
// refractory kernel nu, both alpha functions
//   alpha(t; tau, mult) = mult * (t/tau) * exp(1 - t/tau),  t = k*Ts,
// truncated at the first k with |alpha| < epsilon and t > tau, and never
// longer than T taps. eps[0] = nu[0] = 0.
//
//   SrmParams p;  p.theta = 10;  p.tau_sr_ms = 10;
//   SrmKernels k = MakeSrmKernels(p, /*ts_ms=*/1.0f, /*steps=*/300);
//   // k.eps feeds PspForward, k.nu feeds SpikeForward.
#ifndef SLAYER_OPS_SRM_KERNEL_H_
#define SLAYER_OPS_SRM_KERNEL_H_

#include <cstdint>
#include <vector>

namespace slayer {
namespace ops {

struct SrmParams {
  float theta = 10.0f;
  float tau_sr_ms = 10.0f;
  float tau_ref_ms = 1.0f;
  float scale_ref = 2.0f;
  float tau_rho = 1.0f;    // surrogate width, in units of theta
  float scale_rho = 1.0f;  // surrogate height
  float epsilon_sr = 0.01f;
  float epsilon_ref = 1e-4f;
};

// alpha(k*ts; tau, mult) for k = 0.. with the truncation rule above.
std::vector<float> AlphaKernel(float tau_ms, float mult, float ts_ms,
                               float epsilon, int64_t max_taps);

struct SrmKernels {
  std::vector<float> eps;  // spike response, multiplies Ts*s in the psp
  std::vector<float> nu;   // refractory, added to u after a spike
};

SrmKernels MakeSrmKernels(const SrmParams& params, float ts_ms, int64_t steps);

}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_SRM_KERNEL_H_
