#include "slayer/ops/psp.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

absl::Status CheckPspArgs(const char* op, const Tensor& x, const char* x_name, float ts,
                          const Tensor* out) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(out, op, "output"));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, op));
  return internal::CheckMinRank(x, 1, op, x_name, "[..., T] (time innermost)");
}

// Shared by forward and backward: TemporalFilter over blocks of rows.
absl::Status RunPsp(const char* op, const Tensor& x, absl::Span<const float> kernel, float ts,
                    bool backward, Tensor* out) {
  SLAYER_RETURN_IF_ERROR(CheckPspArgs(op, x, backward ? "grad_out" : "x", ts, out));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{op, &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(out, x.shape(), Device::kCpu));
  const int64_t steps = x.dim(-1);
  if (x.numel() == 0) return absl::OkStatus();
  const int64_t rows = x.numel() / steps;
  const internal::TemporalFilter filter(kernel, ts, steps);
  const float* in = x.data();
  float* result = out->data();
  // Tasks own blocks of eight rows (the recursion's lane count).
  const int64_t blocks = (rows + 7) / 8;
  const int64_t cost = filter.recursive() ? 8 : filter.taps() + 1;
  const int64_t grain = std::max<int64_t>(1, 16384 / (8 * steps * cost));
  internal::ParallelFor(blocks, grain, [&](int64_t begin, int64_t end) {
    const int64_t r0 = begin * 8;
    const int64_t n = std::min(rows, end * 8) - r0;
    if (backward) {
      filter.BackwardRows(in + r0 * steps, n, result + r0 * steps);
    } else {
      filter.ForwardRows(in + r0 * steps, n, result + r0 * steps);
    }
  });
  return absl::OkStatus();
}

}  // namespace

OpDispatch<PspFn>& PspForwardDispatch() {
  static auto* dispatch = new OpDispatch<PspFn>("psp_forward", &cpu::PspForward);
  return *dispatch;
}

OpDispatch<PspFn>& PspBackwardDispatch() {
  static auto* dispatch = new OpDispatch<PspFn>("psp_backward", &cpu::PspBackward);
  return *dispatch;
}

namespace {
// Creates the dispatchers at static initialisation, so that the registry
// lists them before any op runs (the conformance test walks it).
[[maybe_unused]] const bool kRegistered = (PspForwardDispatch(), PspBackwardDispatch(), true);
}  // namespace

absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts,
                        Tensor* out) {
  SLAYER_RETURN_IF_ERROR(CheckPspArgs("PspForward", x, "x", ts, out));
  return PspForwardDispatch()(x.device(), x, kernel, ts, out);
}

absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel, float ts,
                         Tensor* grad_in) {
  SLAYER_RETURN_IF_ERROR(CheckPspArgs("PspBackward", grad_out, "grad_out", ts, grad_in));
  return PspBackwardDispatch()(grad_out.device(), grad_out, kernel, ts, grad_in);
}

namespace cpu {

absl::Status PspForward(const Tensor& x, absl::Span<const float> kernel, float ts,
                        Tensor* out) {
  return RunPsp("PspForward", x, kernel, ts, /*backward=*/false, out);
}

absl::Status PspBackward(const Tensor& grad_out, absl::Span<const float> kernel, float ts,
                         Tensor* grad_in) {
  return RunPsp("PspBackward", grad_out, kernel, ts, /*backward=*/true, grad_in);
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
