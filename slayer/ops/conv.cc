#include "slayer/ops/conv.h"

#include <algorithm>
#include <cstring>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using MutableMap = Eigen::Map<RowMatrix>;
// Rows of a [*, Ho, Wo, T] block: columns contiguous, rows Ho*Wo*T apart.
using ConstStrided = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using MutableStrided = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

// Floor and ceiling of a / b for b > 0 and any sign of a.
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

struct ConvGeometry {
  int64_t batch, channels, height, width, steps;
  int64_t out_channels, kernel_h, kernel_w, out_h, out_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t groups, group_in, group_out;
  int64_t patch;  // group_in * kernel_h * kernel_w: rows of the im2col matrix

  Shape y_shape() const { return {batch, out_channels, out_h, out_w, steps}; }
  int64_t x_sample() const { return channels * height * width * steps; }
  int64_t y_plane() const { return out_h * out_w * steps; }
};

absl::StatusOr<ConvGeometry> MakeGeometry(const char* op, const Shape& x, const Shape& w,
                                          const Conv2dParams& p) {
  if (x.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": x has shape ", ShapeString(x),
                                                   ", expected [N, C, H, W, T]"));
  }
  if (w.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": w has shape ", ShapeString(w),
                                                   ", expected [O, C/groups, KH, KW]"));
  }
  if (p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0 || p.dilation_h < 1 ||
      p.dilation_w < 1 || p.groups < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": invalid parameters stride ", p.stride_h, "x", p.stride_w, ", pad ", p.pad_h, "x",
        p.pad_w, ", dilation ", p.dilation_h, "x", p.dilation_w, ", groups ", p.groups,
        " (expected stride, dilation, groups >= 1 and pad >= 0)"));
  }
  ConvGeometry g;
  g.batch = x[0];
  g.channels = x[1];
  g.height = x[2];
  g.width = x[3];
  g.steps = x[4];
  g.out_channels = w[0];
  g.kernel_h = w[2];
  g.kernel_w = w[3];
  g.groups = p.groups;
  if (g.channels % g.groups != 0 || g.out_channels % g.groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": groups = ", g.groups, " must divide the input channels of x ", ShapeString(x),
        " and the output channels of w ", ShapeString(w)));
  }
  g.group_in = g.channels / g.groups;
  g.group_out = g.out_channels / g.groups;
  if (w[1] != g.group_in || g.kernel_h < 1 || g.kernel_w < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": w has shape ", ShapeString(w), ", expected [", g.out_channels, ", ",
                     g.group_in, ", KH >= 1, KW >= 1] for x ", ShapeString(x), " and groups ",
                     g.groups));
  }
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  const int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1;
  const int64_t span_w = g.dilation_w * (g.kernel_w - 1) + 1;
  if (g.height + 2 * g.pad_h < span_h || g.width + 2 * g.pad_w < span_w) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": the dilated kernel ", span_h, "x", span_w, " does not fit the padded input ",
        g.height + 2 * g.pad_h, "x", g.width + 2 * g.pad_w, " (x ", ShapeString(x), ")"));
  }
  g.out_h = (g.height + 2 * g.pad_h - span_h) / g.stride_h + 1;
  g.out_w = (g.width + 2 * g.pad_w - span_w) / g.stride_w + 1;
  g.patch = g.group_in * g.kernel_h * g.kernel_w;
  return g;
}

absl::StatusOr<ConvGeometry> CheckForwardArgs(const char* op, const Tensor& x, const Tensor& w,
                                              const Conv2dParams& p) {
  SLAYER_ASSIGN_OR_RETURN(ConvGeometry g, MakeGeometry(op, x.shape(), w.shape(), p));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"w", &w}}));
  return g;
}

absl::StatusOr<ConvGeometry> CheckBackwardArgs(const char* op, const Tensor& x,
                                               const Tensor& w, const Conv2dParams& p,
                                               const Tensor& grad_y) {
  SLAYER_ASSIGN_OR_RETURN(ConvGeometry g, CheckForwardArgs(op, x, w, p));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape(), absl::StrCat(op, ": grad_y")));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"grad_y", &grad_y}}));
  return g;
}

// Output rows per im2col block: about 1 MiB of columns, at least one row.
int64_t RowsPerBlock(const ConvGeometry& g) {
  const int64_t row_floats = std::max<int64_t>(1, g.patch * g.out_w * g.steps);
  return std::clamp<int64_t>((int64_t{1} << 18) / row_floats, 1, g.out_h);
}

// The valid output columns [lo, hi) for kernel column kw (input inside W).
void ValidColumns(const ConvGeometry& g, int64_t kw, int64_t* lo, int64_t* hi) {
  const int64_t offset = kw * g.dilation_w - g.pad_w;
  *lo = std::clamp<int64_t>(CeilDiv(-offset, g.stride_w), 0, g.out_w);
  *hi = std::clamp<int64_t>(FloorDiv(g.width - 1 - offset, g.stride_w) + 1, *lo, g.out_w);
}

// Gathers the patches of group `group`, output rows [h0, h1), of one sample
// into cols: rows (c, kh, kw), columns (ho, wo, t). The time axis is
// innermost on both sides, so every copy moves a run of T floats (or, for
// unit stride, of (valid columns) * T floats).
void Im2Col(const ConvGeometry& g, const float* x_sample, int64_t group, int64_t h0,
            int64_t h1, float* cols) {
  const int64_t T = g.steps;
  const int64_t ncols = (h1 - h0) * g.out_w * T;
  const int64_t row_len = g.out_w * T;
  for (int64_t c = 0; c < g.group_in; ++c) {
    const float* xc = x_sample + (group * g.group_in + c) * g.height * g.width * T;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        float* dst = cols + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ncols;
        int64_t lo, hi;
        ValidColumns(g, kw, &lo, &hi);
        const int64_t offset = kw * g.dilation_w - g.pad_w;
        for (int64_t ho = h0; ho < h1; ++ho, dst += row_len) {
          const int64_t in_h = ho * g.stride_h + kh * g.dilation_h - g.pad_h;
          if (in_h < 0 || in_h >= g.height || lo == hi) {
            std::memset(dst, 0, sizeof(float) * row_len);
            continue;
          }
          const float* src = xc + in_h * g.width * T;
          std::memset(dst, 0, sizeof(float) * lo * T);
          if (g.stride_w == 1) {
            std::memcpy(dst + lo * T, src + (lo + offset) * T, sizeof(float) * (hi - lo) * T);
          } else {
            for (int64_t wo = lo; wo < hi; ++wo) {
              std::memcpy(dst + wo * T, src + (wo * g.stride_w + offset) * T, sizeof(float) * T);
            }
          }
          std::memset(dst + hi * T, 0, sizeof(float) * (g.out_w - hi) * T);
        }
      }
    }
  }
}

// The transpose of Im2Col: adds every column entry back onto its input.
void Col2ImAdd(const ConvGeometry& g, const float* cols, int64_t group, int64_t h0, int64_t h1,
               float* gx_sample) {
  const int64_t T = g.steps;
  const int64_t ncols = (h1 - h0) * g.out_w * T;
  const int64_t row_len = g.out_w * T;
  for (int64_t c = 0; c < g.group_in; ++c) {
    float* gc = gx_sample + (group * g.group_in + c) * g.height * g.width * T;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const float* src = cols + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ncols;
        int64_t lo, hi;
        ValidColumns(g, kw, &lo, &hi);
        const int64_t offset = kw * g.dilation_w - g.pad_w;
        for (int64_t ho = h0; ho < h1; ++ho, src += row_len) {
          const int64_t in_h = ho * g.stride_h + kh * g.dilation_h - g.pad_h;
          if (in_h < 0 || in_h >= g.height) continue;
          float* dst = gc + in_h * g.width * T;
          for (int64_t wo = lo; wo < hi; ++wo) {
            float* d = dst + (wo * g.stride_w + offset) * T;
            const float* s = src + wo * T;
            for (int64_t t = 0; t < T; ++t) d[t] += s[t];
          }
        }
      }
    }
  }
}

}  // namespace

absl::StatusOr<Shape> Conv2dOutputShape(const Shape& x, const Shape& w,
                                        const Conv2dParams& p) {
  SLAYER_ASSIGN_OR_RETURN(ConvGeometry g, MakeGeometry("Conv2dOutputShape", x, w, p));
  return g.y_shape();
}

OpDispatch<Conv2dForwardFn>& Conv2dForwardDispatch() {
  static auto* dispatch =
      new OpDispatch<Conv2dForwardFn>("conv2d_forward", &cpu::Conv2dForward);
  return *dispatch;
}

OpDispatch<Conv2dBackwardFn>& Conv2dBackwardDispatch() {
  static auto* dispatch =
      new OpDispatch<Conv2dBackwardFn>("conv2d_backward", &cpu::Conv2dBackward);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered =
    (Conv2dForwardDispatch(), Conv2dBackwardDispatch(), true);
}  // namespace

absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                           Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "Conv2dForward", "y"));
  SLAYER_RETURN_IF_ERROR(CheckForwardArgs("Conv2dForward", x, w, p).status());
  return Conv2dForwardDispatch()(x.device(), x, w, p, y);
}

absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w) {
  SLAYER_RETURN_IF_ERROR(CheckBackwardArgs("Conv2dBackward", x, w, p, grad_y).status());
  return Conv2dBackwardDispatch()(x.device(), x, w, p, grad_y, grad_x, grad_w);
}

namespace cpu {

absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                           Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "Conv2dForward", "y"));
  SLAYER_ASSIGN_OR_RETURN(ConvGeometry g, CheckForwardArgs("Conv2dForward", x, w, p));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"Conv2dForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape(), Device::kCpu));
  if (y->numel() == 0) return absl::OkStatus();
  // Implicit GEMM with time folded into the columns: per sample, group and
  // block of output rows, Y (O_g x rows*Wo*T) = W_g (O_g x patch) * cols.
  const int64_t rows_per_block = RowsPerBlock(g);
  const int64_t blocks = (g.out_h + rows_per_block - 1) / rows_per_block;
  const float* xs = x.data();
  const float* ws = w.data();
  float* ys = y->data();
  internal::ParallelFor(g.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks;
      const int64_t h0 = (task % blocks) * rows_per_block;
      const int64_t h1 = std::min(g.out_h, h0 + rows_per_block);
      const int64_t ncols = (h1 - h0) * g.out_w * g.steps;
      float* cols = internal::Scratch(internal::kScratchA, g.patch * ncols);
      for (int64_t group = 0; group < g.groups; ++group) {
        Im2Col(g, xs + n * g.x_sample(), group, h0, h1, cols);
        const ConstMap weight(ws + group * g.group_out * g.patch, g.group_out, g.patch);
        const ConstMap patches(cols, g.patch, ncols);
        MutableStrided out(ys + ((n * g.out_channels + group * g.group_out) * g.out_h + h0) *
                                    g.out_w * g.steps,
                           g.group_out, ncols, Eigen::OuterStride<>(g.y_plane()));
        out.noalias() = weight * patches;
      }
    }
  });
  return absl::OkStatus();
}

absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w) {
  SLAYER_ASSIGN_OR_RETURN(ConvGeometry g,
                          CheckBackwardArgs("Conv2dBackward", x, w, p, grad_y));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"Conv2dBackward: x", &x}}));
  if (grad_x != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCpu));
    grad_x->SetZero();
  }
  if (grad_w != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCpu));
    grad_w->SetZero();
  }
  if ((grad_x == nullptr && grad_w == nullptr) || grad_y.numel() == 0) return absl::OkStatus();
  const int64_t rows_per_block = RowsPerBlock(g);
  const int64_t w_numel = w.numel();
  // Per-sample weight gradients, summed afterwards in sample order: the
  // result does not depend on the thread count.
  float* partial =
      grad_w != nullptr ? internal::Scratch(internal::kScratchCaller, g.batch * w_numel)
                        : nullptr;
  const float* xs = x.data();
  const float* ws = w.data();
  const float* gys = grad_y.data();
  float* gxs = grad_x != nullptr ? grad_x->data() : nullptr;
  // Tasks (sample, group) touch disjoint parts of grad_x and of the partials.
  internal::ParallelFor(g.batch * g.groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.groups;
      const int64_t group = task % g.groups;
      const ConstMap weight(ws + group * g.group_out * g.patch, g.group_out, g.patch);
      float* dw = partial != nullptr ? partial + n * w_numel + group * g.group_out * g.patch
                                     : nullptr;
      if (dw != nullptr) std::fill(dw, dw + g.group_out * g.patch, 0.0f);
      for (int64_t h0 = 0; h0 < g.out_h; h0 += rows_per_block) {
        const int64_t h1 = std::min(g.out_h, h0 + rows_per_block);
        const int64_t ncols = (h1 - h0) * g.out_w * g.steps;
        const ConstStrided gy(
            gys + ((n * g.out_channels + group * g.group_out) * g.out_h + h0) * g.out_w *
                      g.steps,
            g.group_out, ncols, Eigen::OuterStride<>(g.y_plane()));
        if (dw != nullptr) {
          float* cols = internal::Scratch(internal::kScratchA, g.patch * ncols);
          Im2Col(g, xs + n * g.x_sample(), group, h0, h1, cols);
          const ConstMap patches(cols, g.patch, ncols);
          MutableMap dw_map(dw, g.group_out, g.patch);
          dw_map.noalias() += gy * patches.transpose();
        }
        if (gxs != nullptr) {
          float* gcols = internal::Scratch(internal::kScratchB, g.patch * ncols);
          MutableMap gpatches(gcols, g.patch, ncols);
          gpatches.noalias() = weight.transpose() * gy;
          Col2ImAdd(g, gcols, group, h0, h1, gxs + n * g.x_sample());
        }
      }
    }
  });
  if (partial != nullptr) {
    float* gw = grad_w->data();
    internal::ParallelFor(w_numel, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float sum = 0.0f;
        for (int64_t n = 0; n < g.batch; ++n) sum += partial[n * w_numel + i];
        gw[i] = sum;
      }
    });
  }
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
