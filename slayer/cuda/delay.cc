#include "slayer/cuda/delay.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/delay_kernels.h"
#include "slayer/cuda/stream.h"
#include "slayer/ops/delay.h"

namespace slayer {
namespace cuda {
namespace {

// How the delays map onto x's time rows (as the CPU reference decides it).
absl::StatusOr<DelayShape> Layout(const char* op, const Tensor& x, const Tensor& d, float ts) {
  if (!(ts > 0.0f)) return absl::InvalidArgumentError(absl::StrCat(op, ": ts must be > 0"));
  if (x.rank() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": x has shape ", ShapeString(x.shape()),
                                                   ", expected [N, C, H, W, T]"));
  }
  DelayShape s;
  s.batch = x.dim(0);
  s.steps = x.dim(-1);
  s.neurons = 1;
  for (int i = 1; i + 1 < x.rank(); ++i) s.neurons *= x.dim(i);
  const int64_t channels = x.rank() >= 3 ? x.dim(1) : 1;
  if (d.numel() == s.neurons && d.numel() > 0) {
    s.group = 1;
  } else if (d.numel() == channels && channels > 0) {
    s.group = s.neurons / channels;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": d has shape ", ShapeString(d.shape()), ", expected one delay per neuron (",
        s.neurons, " values) or per channel ([", channels, "]) for x ", ShapeString(x.shape())));
  }
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"x", &x}, {"d", &d}}));
  return s;
}

// Runs `fill(out)` into `out`, through a fresh tensor when `out` shares
// storage with `in` (the kernels read neighbouring samples).
absl::Status Unaliased(const Tensor& in, Tensor* out,
                       const std::function<absl::Status(Tensor*)>& fill) {
  if (!out->empty() && out->SharesStorageWith(in)) {
    Tensor fresh;
    SLAYER_RETURN_IF_ERROR(fill(&fresh));
    return out->CopyFrom(fresh);
  }
  return fill(out);
}

absl::Status CheckShift(const char* op, const Tensor& in, float shift_ms, float ts,
                        const Tensor* out) {
  if (out == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": output is null"));
  if (!(ts > 0.0f) || !(shift_ms >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": need ts > 0 and shift >= 0, got ", ts, ", ", shift_ms));
  }
  if (in.rank() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": input has shape ",
                                                   ShapeString(in.shape()), ", expected [..., T]"));
  }
  return ops::CheckSameDevice(Device::kCuda, {{op, &in}});
}

// A whole tensor as rows of one shared scalar shift.
DelayShape ShiftShape(const Tensor& in) {
  DelayShape s;
  s.steps = in.dim(-1);
  s.batch = 1;
  s.neurons = s.steps == 0 ? 0 : in.numel() / s.steps;
  s.group = 1;
  return s;
}

}  // namespace

absl::Status DelayForward(const Tensor& x, const Tensor& d, float ts, Tensor* y) {
  if (y == nullptr) return absl::InvalidArgumentError("DelayForward: y is null");
  SLAYER_ASSIGN_OR_RETURN(DelayShape s, Layout("DelayForward", x, d, ts));
  return Unaliased(x, y, [&](Tensor* out) -> absl::Status {
    SLAYER_RETURN_IF_ERROR(EnsureShape(out, x.shape(), Device::kCuda));
    if (x.numel() == 0) return absl::OkStatus();
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    return LaunchDelayForward(x.data(), d.data(), 0.0f, ts, out->data(), s, stream);
  });
}

absl::Status DelayBackward(const Tensor& x, const Tensor& d, float ts, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_d) {
  SLAYER_ASSIGN_OR_RETURN(DelayShape s, Layout("DelayBackward", x, d, ts));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, x.shape(), "DelayBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"grad_y", &grad_y}}));
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  if (grad_d != nullptr) {
    // Before grad_x: grad_x may be written over grad_y's storage.
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_d, d.shape(), Device::kCuda));
    if (x.numel() == 0) {
      grad_d->SetZero();
    } else {
      SLAYER_RETURN_IF_ERROR(
          LaunchDelayBackwardDelay(x.data(), grad_y.data(), d.data(), ts, grad_d->data(), s,
                                   stream));
    }
  }
  if (grad_x != nullptr) {
    SLAYER_RETURN_IF_ERROR(Unaliased(grad_y, grad_x, [&](Tensor* out) -> absl::Status {
      SLAYER_RETURN_IF_ERROR(EnsureShape(out, x.shape(), Device::kCuda));
      if (x.numel() == 0) return absl::OkStatus();
      return LaunchDelayBackwardInput(grad_y.data(), d.data(), 0.0f, ts, out->data(), s,
                                      stream);
    }));
  }
  return absl::OkStatus();
}

absl::Status ClampDelays(Tensor* d, float max_delay_ms) {
  if (d == nullptr) return absl::InvalidArgumentError("ClampDelays: d is null");
  if (!(max_delay_ms >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ClampDelays: max_delay_ms must be >= 0, got ", max_delay_ms));
  }
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"ClampDelays: d", d}}));
  if (d->numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  return LaunchClampDelays(d->data(), d->numel(), max_delay_ms, stream);
}

absl::Status ShiftForward(const Tensor& x, float shift_ms, float ts, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(CheckShift("ShiftForward", x, shift_ms, ts, y));
  return Unaliased(x, y, [&](Tensor* out) -> absl::Status {
    SLAYER_RETURN_IF_ERROR(EnsureShape(out, x.shape(), Device::kCuda));
    if (x.numel() == 0) return absl::OkStatus();
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    return LaunchDelayForward(x.data(), nullptr, shift_ms, ts, out->data(), ShiftShape(x),
                              stream);
  });
}

absl::Status ShiftBackward(const Tensor& grad_y, float shift_ms, float ts, Tensor* grad_x) {
  SLAYER_RETURN_IF_ERROR(CheckShift("ShiftBackward", grad_y, shift_ms, ts, grad_x));
  return Unaliased(grad_y, grad_x, [&](Tensor* out) -> absl::Status {
    SLAYER_RETURN_IF_ERROR(EnsureShape(out, grad_y.shape(), Device::kCuda));
    if (grad_y.numel() == 0) return absl::OkStatus();
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    return LaunchDelayBackwardInput(grad_y.data(), nullptr, shift_ms, ts, out->data(),
                                    ShiftShape(grad_y), stream);
  });
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::DelayForwardDispatch().Register(Device::kCuda, &DelayForward);
  ops::DelayBackwardDispatch().Register(Device::kCuda, &DelayBackward);
  ops::ShiftForwardDispatch().Register(Device::kCuda, &ShiftForward);
  ops::ShiftBackwardDispatch().Register(Device::kCuda, &ShiftBackward);
  ops::ClampDelaysDispatch().Register(Device::kCuda, &ClampDelays);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
