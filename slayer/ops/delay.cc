#include "slayer/ops/delay.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

// How the delays map onto x's time rows.
struct DelayLayout {
  int64_t batch;    // N
  int64_t neurons;  // M = C*H*W, time rows per sample
  int64_t steps;    // T
  int64_t group;    // neurons per delay value: 1 (per neuron) or H*W (per channel)
  int64_t delays() const { return neurons / group; }
};

absl::StatusOr<DelayLayout> CheckDelayArgs(const char* op, const Tensor& x, const Tensor& d,
                                           float ts) {
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, op));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(x, 2, op, "x", "[N, C, H, W, T]"));
  DelayLayout layout;
  layout.batch = x.dim(0);
  layout.steps = x.dim(-1);
  layout.neurons = 1;
  for (int i = 1; i + 1 < x.rank(); ++i) layout.neurons *= x.dim(i);
  const int64_t channels = x.rank() >= 3 ? x.dim(1) : 1;
  if (d.numel() == layout.neurons && d.numel() > 0) {
    layout.group = 1;
  } else if (d.numel() == channels && channels > 0) {
    layout.group = layout.neurons / channels;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": d has shape ", ShapeString(d.shape()), ", expected one delay per neuron (",
        layout.neurons, " values, e.g. [C, H, W]) or per channel ([", channels, "]) for x ",
        ShapeString(x.shape())));
  }
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"d", &d}}));
  return layout;
}

absl::Status CheckMaxDelay(const char* op, float max_delay_ms) {
  if (!(max_delay_ms >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": max_delay_ms must be >= 0, got ", max_delay_ms));
  }
  return absl::OkStatus();
}

absl::Status CheckShift(const char* op, float shift_ms, float ts) {
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, op));
  if (!(shift_ms >= 0.0f) || !std::isfinite(shift_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": shift must be finite and >= 0 ms, got ", shift_ms));
  }
  return absl::OkStatus();
}

// A delay of `steps_delay` = d/Ts samples as whole steps plus a fraction:
// y[t] = (1-f) x[t-m] + f x[t-m-1].
struct Interp {
  int64_t m;
  float f;
};

Interp Split(float delay_steps, int64_t steps) {
  // Beyond +-(T+1) samples every tap falls outside the row; clamping keeps
  // the integer conversion defined (NaN included).
  const float limit = static_cast<float>(steps + 1);
  if (!(delay_steps > -limit)) delay_steps = -limit;
  if (delay_steps > limit) delay_steps = limit;
  const float whole = std::floor(delay_steps);
  return {static_cast<int64_t>(whole), delay_steps - whole};
}

inline float At(const float* row, int64_t steps, int64_t i) {
  return i >= 0 && i < steps ? row[i] : 0.0f;
}

// out[t] += a * in[t + offset] for every t in [0, steps) whose source index
// lies inside [0, steps).
void AddShifted(float a, const float* in, int64_t offset, int64_t steps, float* out) {
  const int64_t lo = std::max<int64_t>(0, -offset);
  const int64_t hi = std::min<int64_t>(steps, steps - offset);
  if (hi > lo && a != 0.0f) internal::AddScaled(a, in + lo + offset, out + lo, hi - lo);
}

// y[t] = (1-f) x[t-m] + f x[t-m-1]; y must not alias x.
void DelayRow(const float* x, int64_t steps, Interp s, float* y) {
  std::fill(y, y + steps, 0.0f);
  AddShifted(1.0f - s.f, x, -s.m, steps, y);
  AddShifted(s.f, x, -s.m - 1, steps, y);
}

// The transpose: gx[i] = (1-f) g[i+m] + f g[i+m+1]; gx must not alias g.
void DelayRowTranspose(const float* g, int64_t steps, Interp s, float* gx) {
  std::fill(gx, gx + steps, 0.0f);
  AddShifted(1.0f - s.f, g, s.m, steps, gx);
  AddShifted(s.f, g, s.m + 1, steps, gx);
}

// sum_t g[t] * (x[t-m] - x[t-m-1]): the slope of the interpolated signal
// between the two samples it reads, times Ts.
double SlopeDot(const float* x, const float* g, int64_t steps, Interp s) {
  double sum = 0.0;
  for (int64_t t = 0; t < steps; ++t) {
    const float diff = At(x, steps, t - s.m) - At(x, steps, t - s.m - 1);
    sum += static_cast<double>(g[t]) * diff;
  }
  return sum;
}

// Copies `row` into scratch when `out` shares storage with its source.
const float* Unaliased(const float* row, int64_t steps, bool aliased) {
  if (!aliased) return row;
  float* copy = internal::Scratch(internal::kScratchA, steps);
  std::memcpy(copy, row, sizeof(float) * steps);
  return copy;
}

absl::Status ShiftRows(const char* op, const Tensor& in, float shift_ms, float ts,
                       bool transpose, Tensor* out) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(out, op, "output"));
  SLAYER_RETURN_IF_ERROR(CheckShift(op, shift_ms, ts));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(in, 1, op, "input", "[..., T]"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{op, &in}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(out, in.shape(), Device::kCpu));
  if (in.numel() == 0) return absl::OkStatus();
  const int64_t steps = in.dim(-1);
  const Interp s = Split(shift_ms / ts, steps);
  const bool aliased = out->SharesStorageWith(in);
  const float* src = in.data();
  float* dst = out->data();
  internal::ParallelFor(in.numel() / steps, std::max<int64_t>(1, 4096 / steps),
                        [&](int64_t begin, int64_t end) {
                          for (int64_t r = begin; r < end; ++r) {
                            const float* row = Unaliased(src + r * steps, steps, aliased);
                            if (transpose) {
                              DelayRowTranspose(row, steps, s, dst + r * steps);
                            } else {
                              DelayRow(row, steps, s, dst + r * steps);
                            }
                          }
                        });
  return absl::OkStatus();
}

}  // namespace

OpDispatch<DelayForwardFn>& DelayForwardDispatch() {
  static auto* dispatch = new OpDispatch<DelayForwardFn>("delay_forward", &cpu::DelayForward);
  return *dispatch;
}

OpDispatch<DelayBackwardFn>& DelayBackwardDispatch() {
  static auto* dispatch =
      new OpDispatch<DelayBackwardFn>("delay_backward", &cpu::DelayBackward);
  return *dispatch;
}

OpDispatch<ShiftFn>& ShiftForwardDispatch() {
  static auto* dispatch = new OpDispatch<ShiftFn>("shift_forward", &cpu::ShiftForward);
  return *dispatch;
}

OpDispatch<ShiftFn>& ShiftBackwardDispatch() {
  static auto* dispatch = new OpDispatch<ShiftFn>("shift_backward", &cpu::ShiftBackward);
  return *dispatch;
}

OpDispatch<ClampFn>& ClampDelaysDispatch() {
  static auto* dispatch = new OpDispatch<ClampFn>("clamp_delays", &cpu::ClampDelays);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered =
    (DelayForwardDispatch(), DelayBackwardDispatch(), ShiftForwardDispatch(),
     ShiftBackwardDispatch(), ClampDelaysDispatch(), true);
}  // namespace

absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "DelayForward", "y"));
  SLAYER_RETURN_IF_ERROR(CheckDelayArgs("DelayForward", x, d, ts).status());
  return DelayForwardDispatch()(x.device(), x, d, ts, y);
}

absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d) {
  SLAYER_RETURN_IF_ERROR(CheckDelayArgs("DelayBackward", x, d, ts).status());
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, x.shape(), "DelayBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"grad_y", &grad_y}}));
  return DelayBackwardDispatch()(x.device(), x, d, ts, grad_y, grad_x, grad_d);
}

absl::Status ClampDelays(Tensor* d, float max_delay_ms) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(d, "ClampDelays", "d"));
  SLAYER_RETURN_IF_ERROR(CheckMaxDelay("ClampDelays", max_delay_ms));
  return ClampDelaysDispatch()(d->device(), d, max_delay_ms);
}

absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "ShiftForward", "y"));
  SLAYER_RETURN_IF_ERROR(CheckShift("ShiftForward", shift_ms, ts));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(x, 1, "ShiftForward", "x", "[..., T]"));
  return ShiftForwardDispatch()(x.device(), x, shift_ms, ts, y);
}

absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_x, "ShiftBackward", "grad_x"));
  SLAYER_RETURN_IF_ERROR(CheckShift("ShiftBackward", shift_ms, ts));
  SLAYER_RETURN_IF_ERROR(
      internal::CheckMinRank(grad_y, 1, "ShiftBackward", "grad_y", "[..., T]"));
  return ShiftBackwardDispatch()(grad_y.device(), grad_y, shift_ms, ts, grad_x);
}

namespace cpu {

absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "DelayForward", "y"));
  SLAYER_ASSIGN_OR_RETURN(DelayLayout layout, CheckDelayArgs("DelayForward", x, d, ts));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DelayForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, x.shape(), Device::kCpu));
  if (x.numel() == 0) return absl::OkStatus();
  const int64_t steps = layout.steps;
  const bool aliased = y->SharesStorageWith(x);
  const float* xs = x.data();
  const float* ds = d.data();
  float* ys = y->data();
  internal::ParallelFor(layout.batch * layout.neurons, std::max<int64_t>(1, 4096 / steps),
                        [&](int64_t begin, int64_t end) {
                          for (int64_t r = begin; r < end; ++r) {
                            const int64_t neuron = r % layout.neurons;
                            const Interp s = Split(ds[neuron / layout.group] / ts, steps);
                            const float* row = Unaliased(xs + r * steps, steps, aliased);
                            DelayRow(row, steps, s, ys + r * steps);
                          }
                        });
  return absl::OkStatus();
}

absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d) {
  SLAYER_ASSIGN_OR_RETURN(DelayLayout layout, CheckDelayArgs("DelayBackward", x, d, ts));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, x.shape(), "DelayBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DelayBackward: x", &x},
                                                        {"DelayBackward: grad_y", &grad_y}}));
  if (grad_x != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCpu));
  if (grad_d != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad_d, d.shape(), Device::kCpu));
  if (grad_d != nullptr && x.numel() == 0) grad_d->SetZero();
  if (x.numel() == 0 || (grad_x == nullptr && grad_d == nullptr)) return absl::OkStatus();
  const int64_t steps = layout.steps;
  const bool aliased = grad_x != nullptr && grad_x->SharesStorageWith(grad_y);
  const float* xs = x.data();
  const float* ds = d.data();
  const float* gys = grad_y.data();
  float* gxs = grad_x != nullptr ? grad_x->data() : nullptr;
  float* gds = grad_d != nullptr ? grad_d->data() : nullptr;
  // One task per delay value: it owns that value's gradient and the rows it
  // shifts, so the batch sum needs no reduction across threads.
  internal::ParallelFor(
      layout.delays(), std::max<int64_t>(1, 4096 / (steps * layout.batch * layout.group + 1)),
      [&](int64_t begin, int64_t end) {
        for (int64_t q = begin; q < end; ++q) {
          const Interp s = Split(ds[q] / ts, steps);
          double slope_dot = 0.0;
          for (int64_t n = 0; n < layout.batch; ++n) {
            for (int64_t j = q * layout.group; j < (q + 1) * layout.group; ++j) {
              const int64_t offset = (n * layout.neurons + j) * steps;
              if (gds != nullptr) slope_dot += SlopeDot(xs + offset, gys + offset, steps, s);
              if (gxs != nullptr) {
                const float* row = Unaliased(gys + offset, steps, aliased);
                DelayRowTranspose(row, steps, s, gxs + offset);
              }
            }
          }
          // dy/dd = -(x[t-m] - x[t-m-1]) / Ts: the backward difference of x.
          if (gds != nullptr) gds[q] = static_cast<float>(-slope_dot / ts);
        }
      });
  return absl::OkStatus();
}

absl::Status ClampDelays(Tensor* d, float max_delay_ms) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(d, "ClampDelays", "d"));
  SLAYER_RETURN_IF_ERROR(CheckMaxDelay("ClampDelays", max_delay_ms));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"ClampDelays: d", d}}));
  float* values = d->data();
  for (int64_t i = 0; i < d->numel(); ++i) {
    const float v = values[i];
    // NaN compares false both ways and becomes 0.
    values[i] = v > max_delay_ms ? max_delay_ms : (v > 0.0f ? v : 0.0f);
  }
  return absl::OkStatus();
}

absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y) {
  return ShiftRows("ShiftForward", x, shift_ms, ts, /*transpose=*/false, y);
}

absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x) {
  return ShiftRows("ShiftBackward", grad_y, shift_ms, ts, /*transpose=*/true, grad_x);
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
