#include "slayer/ops/test_util.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slayer/core/random.h"
#include "slayer/core/status.h"

namespace slayer {
namespace ops {
namespace testing {

Tensor RandomUniform(const Shape& shape, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  Tensor t = Tensor::Empty(shape);
  for (float& v : t.span()) v = rng.Uniform(lo, hi);
  return t;
}

Tensor RandomSpikes(const Shape& shape, float rate, float ts, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::Empty(shape);
  for (float& v : t.span()) v = rng.Bernoulli(rate) ? 1.0f / ts : 0.0f;
  return t;
}

double Dot(const Tensor& a, const Tensor& b) {
  double sum = 0.0;
  const int64_t n = std::min(a.numel(), b.numel());
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a.data()[i]) * b.data()[i];
  return sum;
}

absl::Status ExpectClose(const Tensor& got_in, const Tensor& want_in, double atol, double rtol,
                         const std::string& what) {
  if (got_in.shape() != want_in.shape()) {
    return absl::InternalError(absl::StrCat(what, ": shape ", ShapeString(got_in.shape()),
                                            ", expected ", ShapeString(want_in.shape())));
  }
  SLAYER_ASSIGN_OR_RETURN(Tensor got, got_in.To(Device::kCpu));
  SLAYER_ASSIGN_OR_RETURN(Tensor want, want_in.To(Device::kCpu));
  int64_t bad = 0;
  int64_t worst = -1;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.data()[i];
    const double w = want.data()[i];
    const double tol = atol + rtol * std::abs(w);
    const double err = std::abs(g - w);
    if (!(err <= tol)) {  // NaN fails too
      ++bad;
      const double excess = std::isnan(err) ? INFINITY : err / tol;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      what, ": ", bad, " of ", got.numel(), " elements differ (atol ", atol, ", rtol ", rtol,
      "); worst at flat index ", worst, " of ", ShapeString(got.shape()), ": got ",
      got.data()[worst], ", expected ", want.data()[worst]));
}

absl::Status CheckGradient(const std::string& what, const Tensor& x,
                           const std::function<absl::StatusOr<double>(const Tensor&)>& loss,
                           const Tensor& analytic, const GradientCheckOptions& options) {
  if (analytic.shape() != x.shape()) {
    return absl::InternalError(absl::StrCat(what, ": gradient shape ",
                                            ShapeString(analytic.shape()), ", expected ",
                                            ShapeString(x.shape())));
  }
  SLAYER_ASSIGN_OR_RETURN(Tensor base, x.To(Device::kCpu));
  SLAYER_ASSIGN_OR_RETURN(Tensor grad, analytic.To(Device::kCpu));
  const int64_t n = base.numel();
  const double h = options.step;
  Rng rng(options.seed);

  // Central difference of the loss along `direction`.
  auto directional = [&](const std::vector<float>& direction) -> absl::StatusOr<double> {
    Tensor plus = base.Clone();
    Tensor minus = base.Clone();
    for (int64_t i = 0; i < n; ++i) {
      plus.data()[i] += static_cast<float>(h * direction[i]);
      minus.data()[i] -= static_cast<float>(h * direction[i]);
    }
    SLAYER_ASSIGN_OR_RETURN(double lp, loss(plus));
    SLAYER_ASSIGN_OR_RETURN(double lm, loss(minus));
    return (lp - lm) / (2.0 * h);
  };

  std::vector<int64_t> coords;
  if (n <= options.coordinates) {
    for (int64_t i = 0; i < n; ++i) coords.push_back(i);
  } else {
    for (int k = 0; k < options.coordinates; ++k) {
      coords.push_back(static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(n))));
    }
  }
  std::vector<float> direction(n, 0.0f);
  for (int64_t i : coords) {
    direction[i] = 1.0f;
    SLAYER_ASSIGN_OR_RETURN(double fd, directional(direction));
    direction[i] = 0.0f;
    const double an = grad.data()[i];
    if (!(std::abs(fd - an) <= options.atol + options.rtol * std::abs(an))) {
      return absl::InternalError(absl::StrCat(what, ": the derivative at flat index ", i,
                                              " of ", ShapeString(base.shape()), " is ", an,
                                              " analytically but ", fd,
                                              " by finite differences (step ", h, ")"));
    }
  }
  for (int k = 0; k < options.directions; ++k) {
    double an = 0.0, abs_sum = 0.0, norm2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      direction[i] = rng.Uniform(-1.0f, 1.0f);
      an += static_cast<double>(grad.data()[i]) * direction[i];
      abs_sum += std::abs(static_cast<double>(grad.data()[i]) * direction[i]);
      norm2 += static_cast<double>(direction[i]) * direction[i];
    }
    SLAYER_ASSIGN_OR_RETURN(double fd, directional(direction));
    const double tol = options.atol * std::sqrt(norm2) + options.rtol * abs_sum;
    if (!(std::abs(fd - an) <= tol)) {
      return absl::InternalError(absl::StrCat(
          what, ": directional derivative ", k, " over ", ShapeString(base.shape()), " is ", an,
          " analytically but ", fd, " by finite differences (step ", h, ", tolerance ", tol,
          ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace ops
}  // namespace slayer
