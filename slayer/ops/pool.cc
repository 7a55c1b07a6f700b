#include "slayer/ops/pool.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

struct PoolGeometry {
  int64_t batch, channels, height, width, steps;
  int64_t kernel, stride, pad, out_h, out_w;
  Shape y_shape() const { return {batch, channels, out_h, out_w, steps}; }
};

absl::StatusOr<PoolGeometry> MakeGeometry(const char* op, const Shape& x, const PoolParams& p) {
  if (x.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": x has shape ", ShapeString(x),
                                                   ", expected [N, C, H, W, T]"));
  }
  if (p.kernel < 1 || p.stride < 0 || p.pad < 0 || !std::isfinite(p.weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": invalid parameters kernel ", p.kernel, ", stride ", p.stride,
                     ", pad ", p.pad, ", weight ", p.weight,
                     " (expected kernel >= 1, stride >= 0, pad >= 0, finite weight)"));
  }
  PoolGeometry g;
  g.batch = x[0];
  g.channels = x[1];
  g.height = x[2];
  g.width = x[3];
  g.steps = x[4];
  g.kernel = p.kernel;
  g.stride = p.stride == 0 ? p.kernel : p.stride;
  g.pad = p.pad;
  if (g.height + 2 * g.pad < g.kernel || g.width + 2 * g.pad < g.kernel) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": pooling window ", g.kernel, "x", g.kernel,
                     " does not fit the padded input ", g.height + 2 * g.pad, "x",
                     g.width + 2 * g.pad, " (x ", ShapeString(x), ")"));
  }
  g.out_h = (g.height + 2 * g.pad - g.kernel) / g.stride + 1;
  g.out_w = (g.width + 2 * g.pad - g.kernel) / g.stride + 1;
  return g;
}

// The input rows [lo, hi) that output index `o` covers (clipped to [0, size)).
void Window(const PoolGeometry& g, int64_t o, int64_t size, int64_t* lo, int64_t* hi) {
  const int64_t start = o * g.stride - g.pad;
  *lo = std::max<int64_t>(start, 0);
  *hi = std::max(*lo, std::min<int64_t>(start + g.kernel, size));
}

}  // namespace

absl::StatusOr<Shape> PoolOutputShape(const Shape& x, const PoolParams& p) {
  SLAYER_ASSIGN_OR_RETURN(PoolGeometry g, MakeGeometry("PoolOutputShape", x, p));
  return g.y_shape();
}

OpDispatch<PoolForwardFn>& PoolForwardDispatch() {
  static auto* dispatch = new OpDispatch<PoolForwardFn>("pool_forward", &cpu::PoolForward);
  return *dispatch;
}

OpDispatch<PoolBackwardFn>& PoolBackwardDispatch() {
  static auto* dispatch = new OpDispatch<PoolBackwardFn>("pool_backward", &cpu::PoolBackward);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered = (PoolForwardDispatch(), PoolBackwardDispatch(), true);
}  // namespace

absl::Status PoolForward(const Tensor& x, const PoolParams& p, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "PoolForward", "y"));
  SLAYER_RETURN_IF_ERROR(MakeGeometry("PoolForward", x.shape(), p).status());
  return PoolForwardDispatch()(x.device(), x, p, y);
}

absl::Status PoolBackward(const Shape& x_shape, const PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_x, "PoolBackward", "grad_x"));
  SLAYER_ASSIGN_OR_RETURN(PoolGeometry g, MakeGeometry("PoolBackward", x_shape, p));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape(), "PoolBackward: grad_y"));
  return PoolBackwardDispatch()(grad_y.device(), x_shape, p, grad_y, grad_x);
}

namespace cpu {

absl::Status PoolForward(const Tensor& x, const PoolParams& p, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "PoolForward", "y"));
  SLAYER_ASSIGN_OR_RETURN(PoolGeometry g, MakeGeometry("PoolForward", x.shape(), p));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"PoolForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape(), Device::kCpu));
  if (y->numel() == 0) return absl::OkStatus();
  const int64_t T = g.steps;
  const float weight = p.weight;
  const float* xs = x.data();
  float* ys = y->data();
  // Planes (n, c) are independent; within a plane each output row of T
  // values sums whole input rows, which vectorises over t.
  internal::ParallelFor(g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* xp = xs + plane * g.height * g.width * T;
      float* yp = ys + plane * g.out_h * g.out_w * T;
      for (int64_t ho = 0; ho < g.out_h; ++ho) {
        int64_t h_lo, h_hi;
        Window(g, ho, g.height, &h_lo, &h_hi);
        for (int64_t wo = 0; wo < g.out_w; ++wo) {
          int64_t w_lo, w_hi;
          Window(g, wo, g.width, &w_lo, &w_hi);
          float* out = yp + (ho * g.out_w + wo) * T;
          std::fill(out, out + T, 0.0f);
          for (int64_t hi = h_lo; hi < h_hi; ++hi) {
            for (int64_t wi = w_lo; wi < w_hi; ++wi) {
              internal::AddScaled(1.0f, xp + (hi * g.width + wi) * T, out, T);
            }
          }
          internal::Scale(weight, out, out, T);
        }
      }
    }
  });
  return absl::OkStatus();
}

absl::Status PoolBackward(const Shape& x_shape, const PoolParams& p, const Tensor& grad_y,
                          Tensor* grad_x) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_x, "PoolBackward", "grad_x"));
  SLAYER_ASSIGN_OR_RETURN(PoolGeometry g, MakeGeometry("PoolBackward", x_shape, p));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape(), "PoolBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"PoolBackward: grad_y", &grad_y}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x_shape, Device::kCpu));
  grad_x->SetZero();
  if (grad_y.numel() == 0) return absl::OkStatus();
  const int64_t T = g.steps;
  const float weight = p.weight;
  const float* gys = grad_y.data();
  float* gxs = grad_x->data();
  internal::ParallelFor(g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* gxp = gxs + plane * g.height * g.width * T;
      const float* gyp = gys + plane * g.out_h * g.out_w * T;
      for (int64_t ho = 0; ho < g.out_h; ++ho) {
        int64_t h_lo, h_hi;
        Window(g, ho, g.height, &h_lo, &h_hi);
        for (int64_t wo = 0; wo < g.out_w; ++wo) {
          int64_t w_lo, w_hi;
          Window(g, wo, g.width, &w_lo, &w_hi);
          const float* gout = gyp + (ho * g.out_w + wo) * T;
          for (int64_t hi = h_lo; hi < h_hi; ++hi) {
            for (int64_t wi = w_lo; wi < w_hi; ++wi) {
              internal::AddScaled(weight, gout, gxp + (hi * g.width + wi) * T, T);
            }
          }
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
