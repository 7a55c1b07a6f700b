#include "slayer/ops/pool.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

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
namespace {

// out[t] = weight * (((0 + rows[0][t]) + rows[1][t]) + ...) for t < T: the
// window summed in order, then scaled.
void SumScaled(const float* const* rows, int64_t count, float weight, int64_t T, float* out) {
  int64_t t = 0;
#if defined(__AVX2__)
  const __m256 w = _mm256_set1_ps(weight);
  for (; t + 8 <= T; t += 8) {
    __m256 sum = _mm256_setzero_ps();
    for (int64_t c = 0; c < count; ++c) sum = _mm256_add_ps(sum, _mm256_loadu_ps(rows[c] + t));
    _mm256_storeu_ps(out + t, _mm256_mul_ps(w, sum));
  }
#endif
  for (; t < T; ++t) {
    float sum = 0.0f;
    for (int64_t c = 0; c < count; ++c) sum += rows[c][t];
    out[t] = weight * sum;
  }
}

// out[t] = fma(weight, g[t], 0) for t < T: the one contribution of a window
// that overlaps no other, as the general path's accumulation into zeros.
void ScaledCopy(float weight, const float* g, int64_t T, float* out) {
  int64_t t = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 w = _mm256_set1_ps(weight), zero = _mm256_setzero_ps();
  for (; t + 8 <= T; t += 8) {
    _mm256_storeu_ps(out + t, _mm256_fmadd_ps(w, _mm256_loadu_ps(g + t), zero));
  }
#endif
  for (; t < T; ++t) out[t] = std::fma(weight, g[t], 0.0f);
}

}  // namespace

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
  // Planes (n, c) are independent; each output row of T values sums the
  // window's input rows, vectorised over t.
  internal::ParallelFor(g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    // The window's input rows (clipped to the input; on the stack up to 64).
    const int64_t most = std::min(g.kernel, g.height) * std::min(g.kernel, g.width);
    std::array<const float*, 64> small;
    std::vector<const float*> large(most > 64 ? most : 0);
    const float** rows = large.empty() ? small.data() : large.data();
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* xp = xs + plane * g.height * g.width * T;
      float* yp = ys + plane * g.out_h * g.out_w * T;
      for (int64_t ho = 0; ho < g.out_h; ++ho) {
        int64_t h_lo, h_hi;
        Window(g, ho, g.height, &h_lo, &h_hi);
        for (int64_t wo = 0; wo < g.out_w; ++wo) {
          int64_t w_lo, w_hi;
          Window(g, wo, g.width, &w_lo, &w_hi);
          int64_t count = 0;
          for (int64_t hi = h_lo; hi < h_hi; ++hi) {
            for (int64_t wi = w_lo; wi < w_hi; ++wi) rows[count++] = xp + (hi * g.width + wi) * T;
          }
          SumScaled(rows, count, weight, T, yp + (ho * g.out_w + wo) * T);
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
  if (grad_y.numel() == 0) {
    grad_x->SetZero();
    return absl::OkStatus();
  }
  const int64_t T = g.steps;
  const float weight = p.weight;
  const float* gys = grad_y.data();
  float* gxs = grad_x->data();
  // Windows that tile the input without overlap or padding (the usual
  // kernel == stride) write each input row once and zero the rest.
  const bool tiles = g.stride == g.kernel && g.pad == 0;
  const int64_t plane_size = g.height * g.width * T;
  internal::ParallelFor(g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* gxp = gxs + plane * plane_size;
      const float* gyp = gys + plane * g.out_h * g.out_w * T;
      if (tiles) {
        const int64_t covered_w = g.out_w * g.kernel;
        for (int64_t hi = 0; hi < g.height; ++hi) {
          float* row = gxp + hi * g.width * T;
          if (hi >= g.out_h * g.kernel) {
            std::fill(row, row + g.width * T, 0.0f);
            continue;
          }
          const float* gout = gyp + (hi / g.kernel) * g.out_w * T;
          for (int64_t wi = 0; wi < covered_w; ++wi) {
            ScaledCopy(weight, gout + (wi / g.kernel) * T, T, row + wi * T);
          }
          std::fill(row + covered_w * T, row + g.width * T, 0.0f);
        }
        continue;
      }
      std::fill(gxp, gxp + plane_size, 0.0f);
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
