// Test support for ops (testonly): seeded random inputs, element-wise
// comparison with atol + rtol*|want|, and finite-difference gradient checks.
// Used by the op tests, the conformance suite and the CUDA tests.
//
//   Tensor x = RandomUniform({2, 3, 1, 1, 40}, /*seed=*/1);
//   Tensor g = RandomUniform(x.shape(), /*seed=*/2);
//   auto loss = [&](const Tensor& v) -> absl::StatusOr<double> {
//     Tensor y;  SLAYER_RETURN_IF_ERROR(PspForward(v, eps, ts, &y));
//     return Dot(g, y);
//   };
//   Tensor grad;  PspBackward(g, eps, ts, &grad);
//   EXPECT_TRUE(CheckGradient("psp x", x, loss, grad, {}).ok());
#ifndef SLAYER_OPS_TEST_UTIL_H_
#define SLAYER_OPS_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace ops {
namespace testing {

// Host tensor of values uniform in [lo, hi), reproducible from the seed.
Tensor RandomUniform(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
// Host spike tensor: each entry 1/ts with probability `rate`, else 0.
Tensor RandomSpikes(const Shape& shape, float rate, float ts, uint64_t seed);
// sum_i a[i] * b[i] in double (host tensors of equal numel).
double Dot(const Tensor& a, const Tensor& b);

// OK when every |got - want| <= atol + rtol * |want| (and the shapes match);
// otherwise names `what`, the number of bad elements and the worst one.
absl::Status ExpectClose(const Tensor& got, const Tensor& want, double atol, double rtol,
                         const std::string& what);

struct GradientCheckOptions {
  double step = 1e-2;    // central-difference step
  double atol = 1e-3;    // |fd - analytic| <= atol + rtol * |analytic|
  double rtol = 1e-3;
  int coordinates = 24;  // single coordinates probed (every one if fewer)
  int directions = 3;    // random directions probed
  uint64_t seed = 7;
};

// Checks `analytic` = dL/dx at `x` against central differences of the scalar
// `loss` (computed in double, e.g. <g, f(x)>), along single coordinates and
// random directions. `x` is not modified; the loss is evaluated on copies.
absl::Status CheckGradient(const std::string& what, const Tensor& x,
                           const std::function<absl::StatusOr<double>(const Tensor&)>& loss,
                           const Tensor& analytic, const GradientCheckOptions& options);

}  // namespace testing
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_TEST_UTIL_H_
