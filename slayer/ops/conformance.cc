#include "slayer/ops/conformance.h"

#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/random.h"
#include "slayer/core/status.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/dispatch.h"
#include "slayer/ops/dropout.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace conformance {
namespace {

using testing::CheckGradient;
using testing::Dot;
using testing::GradientCheckOptions;
using testing::RandomSpikes;
using testing::RandomUniform;

using LossFn = std::function<absl::StatusOr<double>(const Tensor&)>;
using ForwardFn = std::function<absl::Status(const Tensor&, Tensor*)>;

absl::Status Emit(Outputs* outputs, std::string name, const Tensor& t) {
  SLAYER_ASSIGN_OR_RETURN(Tensor host, t.To(Device::kCpu));
  outputs->push_back({std::move(name), std::move(host)});
  return absl::OkStatus();
}

Tensor Scalar(float value) { return Tensor::FromVector({1}, {value}); }

// L(v) = <g, f(v)>: its gradient is the op's backward applied to g.
LossFn Projected(const Tensor& g, ForwardFn forward) {
  return [g, forward](const Tensor& v) -> absl::StatusOr<double> {
    Tensor y;
    SLAYER_RETURN_IF_ERROR(forward(v, &y));
    return Dot(g, y);
  };
}

// For functions linear in the checked input: any step is exact up to
// rounding, so a large one keeps float noise small.
GradientCheckOptions LinearCheck(double atol) {
  GradientCheckOptions options;
  options.step = 1.0;
  options.atol = atol;
  options.rtol = 1e-3;
  return options;
}

// Delays d/Ts in [0, 4) at least 0.2 from an integer, so a finite-difference
// step of 0.05 Ts stays on one linear piece of the interpolation.
Tensor FractionalDelays(const Shape& shape, float ts, uint64_t seed) {
  Tensor d = RandomUniform(shape, seed, 0.0f, 4.0f);
  for (float& v : d.span()) v = (std::floor(v) + 0.2f + 0.6f * (v - std::floor(v))) * ts;
  return d;
}

// Slowly varying rows plus noise, for the delay's gradient wrt d.
Tensor SmoothSignal(const Shape& shape, uint64_t seed) {
  Tensor x = RandomUniform(shape, seed, -0.2f, 0.2f);
  const int64_t steps = shape.back();
  for (int64_t r = 0; r < x.numel() / steps; ++r) {
    for (int64_t t = 0; t < steps; ++t) x.data()[r * steps + t] += std::sin(0.3f * t + r);
  }
  return x;
}

// An op y = f(x) on one tensor, linear in x, with backward g_x = f^T(g_y):
// the device check runs both directions, the CPU check compares the backward
// with finite differences of <g, f(x)>.
ConformanceCase UnaryLinearCase(std::string name, std::vector<std::string> ops, Shape shape,
                                uint64_t seed, Tolerance tolerance, double fd_atol,
                                ForwardFn forward, ForwardFn backward) {
  ConformanceCase c;
  c.name = std::move(name);
  c.ops = std::move(ops);
  c.shape = shape;
  c.seed = seed;
  c.tolerance = tolerance;
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor x, RandomUniform(shape, seed).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, RandomUniform(shape, seed + 1).To(device));
    Tensor y, gx;
    SLAYER_RETURN_IF_ERROR(forward(x, &y));
    SLAYER_RETURN_IF_ERROR(backward(g, &gx));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    return out;
  };
  const std::string case_name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    Tensor x = RandomUniform(shape, seed);
    Tensor g = RandomUniform(shape, seed + 1);
    Tensor gx;
    SLAYER_RETURN_IF_ERROR(backward(g, &gx));
    return CheckGradient(case_name + " wrt x", x, Projected(g, forward), gx,
                         LinearCheck(fd_atol));
  };
  return c;
}

// ---------------------------------------------------------------- psp
ConformanceCase PspCase(const std::string& variant, Shape shape, float tau, float ts,
                        uint64_t seed) {
  const std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, shape.back());
  return UnaryLinearCase(
      "psp/" + variant, {"psp_forward", "psp_backward"}, shape, seed, {1e-4, 1e-5}, 1e-3,
      [=](const Tensor& x, Tensor* y) { return PspForward(x, eps, ts, y); },
      [=](const Tensor& g, Tensor* gx) { return PspBackward(g, eps, ts, gx); });
}

ConformanceCase SpikeCase(const std::string& variant, Shape shape, float ts, float tau_rho,
                          uint64_t seed) {
  ConformanceCase c;
  c.name = "spike/" + variant;
  c.ops = {"spike_forward", "spike_backward"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {1e-5, 1e-5};
  SrmParams srm;
  srm.tau_rho = tau_rho;
  const std::vector<float> nu = MakeSrmKernels(srm, ts, shape.back()).nu;
  SurrogateParams surrogate;
  surrogate.theta = srm.theta;
  surrogate.tau_rho = srm.tau_rho;
  surrogate.scale_rho = srm.scale_rho;
  const float theta = srm.theta;
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor u, RandomUniform(shape, seed, 0.0f, 2.5f * theta).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor v,
                            RandomUniform(shape, seed + 1, -theta, 3.0f * theta).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor gs, RandomUniform(shape, seed + 2).To(device));
    Tensor s, gu;
    SLAYER_RETURN_IF_ERROR(SpikeForward(&u, nu, theta, ts, &s));
    SLAYER_RETURN_IF_ERROR(SpikeBackward(gs, v, surrogate, &gu));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "s", s));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "u_after_refractory", u));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_u", gu));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    // The spike function has no derivative; its backward is the surrogate,
    // checked against the formula in double.
    Tensor v = RandomUniform(shape, seed + 1, -theta, 3.0f * theta);
    Tensor gs = RandomUniform(shape, seed + 2);
    Tensor gu;
    SLAYER_RETURN_IF_ERROR(SpikeBackward(gs, v, surrogate, &gu));
    Tensor want = Tensor::Empty(shape);
    const double width = static_cast<double>(surrogate.tau_rho) * surrogate.theta;
    for (int64_t i = 0; i < v.numel(); ++i) {
      const double rho =
          surrogate.scale_rho / width * std::exp(-std::abs(v.data()[i] - theta) / width);
      want.data()[i] = static_cast<float>(gs.data()[i] * rho);
    }
    return testing::ExpectClose(gu, want, 1e-9, 1e-5, name + " surrogate");
  };
  return c;
}

// ---------------------------------------------------------------- dense
// `rate`: the input spike probability; below 0.15 the CPU takes its
// event-driven path, above it the GEMM.
ConformanceCase DenseCase(const std::string& variant, Shape x_shape, int64_t outputs,
                          float rate, uint64_t seed) {
  ConformanceCase c;
  c.name = "dense/" + variant;
  c.ops = {"dense_forward", "dense_backward"};
  c.shape = x_shape;
  c.seed = seed;
  c.tolerance = {1e-4, 1e-4};
  const int64_t inputs = NumElements(x_shape) / (x_shape.front() * x_shape.back());
  const Shape w_shape = {outputs, inputs};
  const Shape y_shape = {x_shape.front(), outputs, 1, 1, x_shape.back()};
  // Spike inputs (0 or 1/Ts) as in a network, random weights and gradients.
  auto make = [=]() {
    return std::make_tuple(RandomSpikes(x_shape, rate, 1.0f, seed),
                           RandomUniform(w_shape, seed + 1), RandomUniform(y_shape, seed + 2));
  };
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    auto [hx, hw, hg] = make();
    SLAYER_ASSIGN_OR_RETURN(Tensor x, hx.To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor w, hw.To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, hg.To(device));
    Tensor y, gx, gw;
    SLAYER_RETURN_IF_ERROR(DenseForward(x, w, &y));
    SLAYER_RETURN_IF_ERROR(DenseBackward(x, w, g, &gx, &gw));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_w", gw));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    auto [x, w, g] = make();
    Tensor gx, gw;
    SLAYER_RETURN_IF_ERROR(DenseBackward(x, w, g, &gx, &gw));
    SLAYER_RETURN_IF_ERROR(CheckGradient(
        name + " wrt x", x,
        Projected(g, [&](const Tensor& v, Tensor* y) { return DenseForward(v, w, y); }), gx,
        LinearCheck(1e-3)));
    return CheckGradient(
        name + " wrt w", w,
        Projected(g, [&](const Tensor& v, Tensor* y) { return DenseForward(x, v, y); }), gw,
        LinearCheck(1e-3));
  };
  return c;
}

// ---------------------------------------------------------------- conv2d
// `rate`: the input spike probability (the CPU takes its event-driven path
// below 0.15 * O_g / (32 * panels of O_g), else the im2col GEMM).
ConformanceCase ConvCase(const std::string& variant, Shape x_shape, Shape w_shape,
                         Conv2dParams p, float rate, uint64_t seed) {
  ConformanceCase c;
  c.name = "conv2d/" + variant;
  c.ops = {"conv2d_forward", "conv2d_backward"};
  c.shape = x_shape;
  c.seed = seed;
  c.tolerance = {1e-4, 1e-4};
  auto make = [=]() -> absl::StatusOr<std::tuple<Tensor, Tensor, Tensor>> {
    SLAYER_ASSIGN_OR_RETURN(Shape y_shape, Conv2dOutputShape(x_shape, w_shape, p));
    return std::make_tuple(RandomSpikes(x_shape, rate, 1.0f, seed),
                           RandomUniform(w_shape, seed + 1), RandomUniform(y_shape, seed + 2));
  };
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(auto host, make());
    SLAYER_ASSIGN_OR_RETURN(Tensor x, std::get<0>(host).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor w, std::get<1>(host).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, std::get<2>(host).To(device));
    Tensor y, gx, gw;
    SLAYER_RETURN_IF_ERROR(Conv2dForward(x, w, p, &y));
    SLAYER_RETURN_IF_ERROR(Conv2dBackward(x, w, p, g, &gx, &gw));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_w", gw));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    SLAYER_ASSIGN_OR_RETURN(auto host, make());
    auto& [x, w, g] = host;
    Tensor gx, gw;
    SLAYER_RETURN_IF_ERROR(Conv2dBackward(x, w, p, g, &gx, &gw));
    SLAYER_RETURN_IF_ERROR(CheckGradient(
        name + " wrt x", x,
        Projected(g, [&](const Tensor& v, Tensor* y) { return Conv2dForward(v, w, p, y); }), gx,
        LinearCheck(1e-3)));
    return CheckGradient(
        name + " wrt w", w,
        Projected(g, [&](const Tensor& v, Tensor* y) { return Conv2dForward(x, v, p, y); }), gw,
        LinearCheck(1e-3));
  };
  return c;
}

Conv2dParams ConvParams(int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h,
                        int dilation_w, int groups) {
  Conv2dParams p;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.pad_h = pad_h;
  p.pad_w = pad_w;
  p.dilation_h = dilation_h;
  p.dilation_w = dilation_w;
  p.groups = groups;
  return p;
}

// ---------------------------------------------------------------- pool
ConformanceCase PoolCase(const std::string& variant, Shape x_shape, int kernel, int stride,
                         int pad, uint64_t seed) {
  ConformanceCase c;
  c.name = "pool/" + variant;
  c.ops = {"pool_forward", "pool_backward"};
  c.shape = x_shape;
  c.seed = seed;
  c.tolerance = {1e-4, 1e-5};
  PoolParams p;
  p.kernel = kernel;
  p.stride = stride;
  p.pad = pad;
  p.weight = 11.0f;
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Shape y_shape, PoolOutputShape(x_shape, p));
    SLAYER_ASSIGN_OR_RETURN(Tensor x, RandomUniform(x_shape, seed).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, RandomUniform(y_shape, seed + 1).To(device));
    Tensor y, gx;
    SLAYER_RETURN_IF_ERROR(PoolForward(x, p, &y));
    SLAYER_RETURN_IF_ERROR(PoolBackward(x_shape, p, g, &gx));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    SLAYER_ASSIGN_OR_RETURN(Shape y_shape, PoolOutputShape(x_shape, p));
    Tensor x = RandomUniform(x_shape, seed);
    Tensor g = RandomUniform(y_shape, seed + 1);
    Tensor gx;
    SLAYER_RETURN_IF_ERROR(PoolBackward(x_shape, p, g, &gx));
    return CheckGradient(
        name + " wrt x", x,
        Projected(g, [&](const Tensor& v, Tensor* y) { return PoolForward(v, p, y); }), gx,
        LinearCheck(1e-3));
  };
  return c;
}

// ---------------------------------------------------------------- delay
ConformanceCase DelayCase(const std::string& variant, Shape x_shape, Shape d_shape, float ts,
                          uint64_t seed) {
  ConformanceCase c;
  c.name = "delay/" + variant;
  c.ops = {"delay_forward", "delay_backward"};
  c.shape = x_shape;
  c.seed = seed;
  c.tolerance = {1e-4, 1e-4};
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor x, SmoothSignal(x_shape, seed).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor d, FractionalDelays(d_shape, ts, seed + 1).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, RandomUniform(x_shape, seed + 2).To(device));
    Tensor y, gx, gd;
    SLAYER_RETURN_IF_ERROR(DelayForward(x, d, ts, &y));
    SLAYER_RETURN_IF_ERROR(DelayBackward(x, d, ts, g, &gx, &gd));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_d", gd));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    Tensor x = SmoothSignal(x_shape, seed);
    Tensor d = FractionalDelays(d_shape, ts, seed + 1);
    Tensor g = RandomUniform(x_shape, seed + 2);
    Tensor gx, gd;
    SLAYER_RETURN_IF_ERROR(DelayBackward(x, d, ts, g, &gx, &gd));
    SLAYER_RETURN_IF_ERROR(CheckGradient(
        name + " wrt x", x,
        Projected(g, [&](const Tensor& v, Tensor* y) { return DelayForward(v, d, ts, y); }), gx,
        LinearCheck(1e-3)));
    GradientCheckOptions options;
    options.step = 0.05 * ts;  // d +- step stays on one linear piece
    options.atol = 2e-3;
    options.rtol = 2e-3;
    return CheckGradient(
        name + " wrt d", d,
        Projected(g, [&](const Tensor& v, Tensor* y) { return DelayForward(x, v, ts, y); }), gd,
        options);
  };
  return c;
}

ConformanceCase ShiftCase(const std::string& variant, Shape shape, float shift_ms, float ts,
                          uint64_t seed) {
  return UnaryLinearCase(
      "shift/" + variant, {"shift_forward", "shift_backward"}, shape, seed, {1e-6, 1e-6}, 1e-4,
      [=](const Tensor& x, Tensor* y) { return ShiftForward(x, shift_ms, ts, y); },
      [=](const Tensor& g, Tensor* gx) { return ShiftBackward(g, shift_ms, ts, gx); });
}

ConformanceCase ClampCase(const std::string& variant, Shape shape, float max_delay_ms,
                          uint64_t seed) {
  ConformanceCase c;
  c.name = "clamp_delays/" + variant;
  c.ops = {"clamp_delays"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {0, 0};
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor d,
                            RandomUniform(shape, seed, -3.0f, max_delay_ms + 3.0f).To(device));
    SLAYER_RETURN_IF_ERROR(ClampDelays(&d, max_delay_ms));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "d", d));
    return out;
  };
  c.check_gradients = [] { return absl::OkStatus(); };  // no gradient
  return c;
}

// ---------------------------------------------------------------- dropout
ConformanceCase DropoutCase(const std::string& variant, Shape shape, float p, uint64_t seed) {
  ConformanceCase c;
  c.name = "dropout/" + variant;
  c.ops = {"dropout_forward", "dropout_backward"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {1e-6, 1e-6};
  auto make_mask = [=]() -> absl::StatusOr<Tensor> {
    Rng rng(seed + 1);
    Tensor mask;
    SLAYER_RETURN_IF_ERROR(MakeDropoutMask(shape, p, rng, &mask));
    return mask;
  };
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor host_mask, make_mask());
    SLAYER_ASSIGN_OR_RETURN(Tensor mask, host_mask.To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor x, RandomUniform(shape, seed).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor g, RandomUniform(shape, seed + 2).To(device));
    Tensor y, gx;
    SLAYER_RETURN_IF_ERROR(DropoutForward(x, mask, &y));
    SLAYER_RETURN_IF_ERROR(DropoutBackward(g, mask, &gx));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "y", y));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad_x", gx));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    SLAYER_ASSIGN_OR_RETURN(Tensor mask, make_mask());
    Tensor x = RandomUniform(shape, seed);
    Tensor g = RandomUniform(shape, seed + 2);
    Tensor gx;
    SLAYER_RETURN_IF_ERROR(DropoutBackward(g, mask, &gx));
    return CheckGradient(
        name + " wrt x", x,
        Projected(g, [&](const Tensor& v, Tensor* y) { return DropoutForward(v, mask, y); }),
        gx, LinearCheck(1e-4));
  };
  return c;
}

// ---------------------------------------------------------------- losses
// Losses are quadratic in the spikes, so central differences are exact up
// to rounding for any step.
GradientCheckOptions QuadraticCheck() {
  GradientCheckOptions options;
  options.step = 0.5;
  options.atol = 2e-3;
  options.rtol = 1e-3;
  return options;
}

ConformanceCase SpikeTimeLossCase(const std::string& variant, Shape shape, float tau, float ts,
                                  uint64_t seed) {
  ConformanceCase c;
  c.name = "spike_time_loss/" + variant;
  c.ops = {"spike_time_loss"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {1e-5, 1e-4};
  const std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, shape.back());
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor s, RandomSpikes(shape, 0.1f, ts, seed).To(device));
    SLAYER_ASSIGN_OR_RETURN(Tensor target, RandomSpikes(shape, 0.1f, ts, seed + 1).To(device));
    float loss = 0;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(SpikeTimeLoss(s, target, eps, ts, &loss, &grad));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "loss", Scalar(loss)));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad", grad));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    Tensor s = RandomSpikes(shape, 0.1f, ts, seed);
    Tensor target = RandomSpikes(shape, 0.1f, ts, seed + 1);
    float loss;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(SpikeTimeLoss(s, target, eps, ts, &loss, &grad));
    LossFn fn = [&](const Tensor& v) -> absl::StatusOr<double> {
      float l;
      SLAYER_RETURN_IF_ERROR(SpikeTimeLoss(v, target, eps, ts, &l, nullptr));
      return l;
    };
    return CheckGradient(name + " wrt spikes", s, fn, grad, QuadraticCheck());
  };
  return c;
}

std::vector<int> Labels(int64_t batch, int64_t classes, uint64_t seed) {
  Rng rng(seed);
  std::vector<int> labels(batch);
  for (int& l : labels) l = static_cast<int>(rng.UniformInt(static_cast<uint64_t>(classes)));
  return labels;
}

ConformanceCase NumSpikesLossCase(const std::string& variant, Shape shape, CountTarget region,
                                  float tau, float ts, uint64_t seed) {
  ConformanceCase c;
  c.name = "num_spikes_loss/" + variant;
  c.ops = {"num_spikes_loss"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {1e-5, 1e-4};
  const std::vector<float> eps = AlphaKernel(tau, 1.0f, ts, 0.01f, shape.back());
  const int64_t batch = shape.front();
  const int64_t steps = shape.back();
  const int64_t classes = NumElements(shape) / (batch * steps);
  const std::vector<int> labels = Labels(batch, classes, seed + 1);
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor s, RandomSpikes(shape, 0.15f, ts, seed).To(device));
    float loss = 0;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(NumSpikesLoss(s, labels, region, eps, ts, &loss, &grad));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "loss", Scalar(loss)));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad", grad));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    Tensor s = RandomSpikes(shape, 0.15f, ts, seed);
    float loss;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(NumSpikesLoss(s, labels, region, eps, ts, &loss, &grad));
    // SLAYER detaches s_des = s*1_R and the count error: the gradient is that
    // of E(v) = 1/2 Ts sum (psp(v - s_des) + e_c 1_R)^2 with both frozen at s.
    const int64_t rows = batch * classes;
    Tensor s_des = Tensor::Zeros(shape);
    std::vector<double> count_error(rows);
    for (int64_t r = 0; r < rows; ++r) {
      double count = 0.0;
      for (int64_t t = region.start_step; t < region.stop_step; ++t) {
        s_des.data()[r * steps + t] = s.data()[r * steps + t];
        count += ts * s.data()[r * steps + t];
      }
      const double desired =
          r % classes == labels[r / classes] ? region.true_value : region.false_value;
      count_error[r] = (count - desired) / (region.stop_step - region.start_step);
    }
    LossFn frozen = [&](const Tensor& v) -> absl::StatusOr<double> {
      Tensor diff = v.Clone();
      for (int64_t i = 0; i < diff.numel(); ++i) diff.data()[i] -= s_des.data()[i];
      Tensor e;
      SLAYER_RETURN_IF_ERROR(PspForward(diff, eps, ts, &e));
      double total = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t t = 0; t < steps; ++t) {
          const bool inside = t >= region.start_step && t < region.stop_step;
          const double et = e.data()[r * steps + t] + (inside ? count_error[r] : 0.0);
          total += 0.5 * ts * et * et;
        }
      }
      return total;
    };
    SLAYER_ASSIGN_OR_RETURN(double at_s, frozen(s));
    if (std::abs(at_s - loss) > 1e-5 * std::abs(at_s) + 1e-4) {
      return absl::InternalError(absl::StrCat(name, ": loss ", loss,
                                              " differs from the detached reference ", at_s));
    }
    return CheckGradient(name + " wrt spikes", s, frozen, grad, QuadraticCheck());
  };
  return c;
}

ConformanceCase SpikeRateLossCase(const std::string& variant, Shape shape, CountTarget region,
                                  float ts, uint64_t seed) {
  ConformanceCase c;
  c.name = "spike_rate_loss/" + variant;
  c.ops = {"spike_rate_loss"};
  c.shape = shape;
  c.seed = seed;
  c.tolerance = {1e-6, 1e-4};
  const int64_t batch = shape.front();
  const int64_t classes = NumElements(shape) / (batch * shape.back());
  const std::vector<int> labels = Labels(batch, classes, seed + 1);
  c.run = [=](Device device) -> absl::StatusOr<Outputs> {
    SLAYER_ASSIGN_OR_RETURN(Tensor s, RandomSpikes(shape, 0.15f, ts, seed).To(device));
    float loss = 0;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(SpikeRateLoss(s, labels, region, ts, &loss, &grad));
    Outputs out;
    SLAYER_RETURN_IF_ERROR(Emit(&out, "loss", Scalar(loss)));
    SLAYER_RETURN_IF_ERROR(Emit(&out, "grad", grad));
    return out;
  };
  const std::string name = c.name;
  c.check_gradients = [=]() -> absl::Status {
    Tensor s = RandomSpikes(shape, 0.15f, ts, seed);
    float loss;
    Tensor grad;
    SLAYER_RETURN_IF_ERROR(SpikeRateLoss(s, labels, region, ts, &loss, &grad));
    LossFn fn = [&](const Tensor& v) -> absl::StatusOr<double> {
      float l;
      SLAYER_RETURN_IF_ERROR(SpikeRateLoss(v, labels, region, ts, &l, nullptr));
      return l;
    };
    GradientCheckOptions options = QuadraticCheck();
    options.atol = 1e-5;
    return CheckGradient(name + " wrt spikes", s, fn, grad, options);
  };
  return c;
}

CountTarget Region(int64_t start, int64_t stop, float true_value, float false_value) {
  CountTarget region;
  region.start_step = start;
  region.stop_step = stop;
  region.true_value = true_value;
  region.false_value = false_value;
  return region;
}

std::vector<ConformanceCase> BuildCases() {
  std::vector<ConformanceCase> cases;
  cases.push_back(PspCase("tau10_T300", {2, 3, 4, 1, 300}, 10.0f, 1.0f, 101));
  cases.push_back(PspCase("tau2_ts0.25", {3, 5, 1, 1, 77}, 2.0f, 0.25f, 102));
  cases.push_back(PspCase("T1", {4, 2, 1, 1, 1}, 1.0f, 1.0f, 103));

  cases.push_back(SpikeCase("nmnist", {2, 8, 3, 1, 120}, 1.0f, 1.0f, 201));
  cases.push_back(SpikeCase("poisson_ts0.1", {3, 5, 1, 1, 400}, 0.1f, 0.1f, 202));

  cases.push_back(DenseCase("small", {3, 4, 2, 2, 20}, 7, 0.3f, 301));
  cases.push_back(DenseCase("mlp_sparse", {2, 200, 1, 1, 50}, 30, 0.05f, 302));
  cases.push_back(DenseCase("batch1_wide", {1, 12, 1, 1, 9}, 70, 0.5f, 303));

  cases.push_back(ConvCase("5x5_pad2", {2, 2, 10, 9, 6}, {4, 2, 5, 5},
                           ConvParams(1, 1, 2, 2, 1, 1, 1), 0.2f, 401));
  cases.push_back(ConvCase("stride2_dilation2_groups2", {2, 4, 11, 10, 5}, {6, 2, 3, 3},
                           ConvParams(2, 2, 1, 1, 2, 2, 2), 0.2f, 402));
  cases.push_back(ConvCase("stride1x3_pad0x1", {1, 3, 7, 12, 4}, {2, 3, 2, 3},
                           ConvParams(1, 3, 0, 1, 1, 1, 1), 0.2f, 403));
  cases.push_back(ConvCase("events_12c5", {2, 2, 12, 12, 30}, {12, 2, 5, 5},
                           ConvParams(1, 1, 2, 2, 1, 1, 1), 0.02f, 404));
  cases.push_back(ConvCase("events_strided_groups", {2, 4, 9, 8, 10}, {64, 2, 3, 3},
                           ConvParams(2, 2, 1, 1, 2, 2, 2), 0.05f, 405));

  cases.push_back(PoolCase("k2", {2, 3, 8, 7, 10}, 2, 0, 0, 501));
  cases.push_back(PoolCase("k3_stride2_pad1", {2, 2, 9, 9, 6}, 3, 2, 1, 502));
  cases.push_back(PoolCase("k4_odd_input", {1, 2, 9, 11, 3}, 4, 0, 0, 503));

  cases.push_back(DelayCase("per_neuron", {2, 3, 2, 2, 40}, {3, 2, 2}, 1.0f, 601));
  cases.push_back(DelayCase("per_channel", {2, 4, 3, 3, 30}, {4}, 0.5f, 602));
  cases.push_back(ShiftCase("fractional", {2, 3, 1, 1, 50}, 2.3f, 1.0f, 603));
  cases.push_back(ShiftCase("integer", {2, 3, 2, 2, 20}, 2.0f, 0.5f, 604));
  cases.push_back(ClampCase("mixed", {5, 4}, 5.0f, 605));

  cases.push_back(DropoutCase("p0.3", {3, 4, 2, 2, 25}, 0.3f, 701));

  cases.push_back(SpikeTimeLossCase("tau2_ts0.5", {3, 4, 1, 1, 60}, 2.0f, 0.5f, 801));
  cases.push_back(NumSpikesLossCase("nmnist", {4, 10, 1, 1, 300}, Region(0, 300, 60, 10),
                                    10.0f, 1.0f, 802));
  cases.push_back(NumSpikesLossCase("partial_region", {2, 3, 1, 1, 50}, Region(10, 40, 8, 2),
                                    3.0f, 1.0f, 803));
  cases.push_back(SpikeRateLossCase("rates", {4, 10, 1, 1, 100}, Region(20, 90, 0.2f, 0.02f),
                                    1.0f, 804));
  return cases;
}

}  // namespace

const std::vector<ConformanceCase>& ConformanceCases() {
  static const auto* cases = new std::vector<ConformanceCase>(BuildCases());
  return *cases;
}

const ConformanceCase* FindCase(const std::string& name) {
  for (const ConformanceCase& c : ConformanceCases()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

absl::StatusOr<Outputs> RunConformance(const ConformanceCase& c, Device device) {
  absl::StatusOr<Outputs> outputs = c.run(device);
  if (!outputs.ok()) {
    return absl::Status(outputs.status().code(),
                        absl::StrCat(c.name, " on ", DeviceName(device), ": ",
                                     outputs.status().message()));
  }
  return outputs;
}

absl::Status CompareOutputs(const Outputs& got, const Outputs& want, const Tolerance& tolerance,
                            const std::string& what) {
  if (got.size() != want.size()) {
    return absl::InternalError(absl::StrCat(what, ": ", got.size(), " outputs, expected ",
                                            want.size()));
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].name != want[i].name) {
      return absl::InternalError(absl::StrCat(what, ": output ", i, " is '", got[i].name,
                                              "', expected '", want[i].name, "'"));
    }
    SLAYER_RETURN_IF_ERROR(testing::ExpectClose(got[i].value, want[i].value, tolerance.atol,
                                                tolerance.rtol,
                                                absl::StrCat(what, " output '", got[i].name,
                                                             "'")));
  }
  return absl::OkStatus();
}

absl::Status CompareWithCpu(const ConformanceCase& c, Device device) {
  SLAYER_ASSIGN_OR_RETURN(Outputs got, RunConformance(c, device));
  SLAYER_ASSIGN_OR_RETURN(Outputs want, RunConformance(c, Device::kCpu));
  return CompareOutputs(got, want, c.tolerance,
                        absl::StrCat(c.name, " (", DeviceName(device), " vs cpu, shape ",
                                     ShapeString(c.shape), ", seed ", c.seed, ")"));
}

absl::Status CheckCpuGradients(const ConformanceCase& c) {
  if (!c.check_gradients) {
    return absl::InternalError(absl::StrCat(c.name, ": no gradient check"));
  }
  return c.check_gradients();
}

std::vector<std::string> OpsWithoutCase() {
  std::set<std::string> covered;
  for (const ConformanceCase& c : ConformanceCases()) covered.insert(c.ops.begin(), c.ops.end());
  std::vector<std::string> missing;
  for (const std::string& op : RegisteredOpNames()) {
    if (covered.count(op) == 0) missing.push_back(op);
  }
  return missing;
}

}  // namespace conformance
}  // namespace ops
}  // namespace slayer
