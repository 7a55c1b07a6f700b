#include "slayer/ops/conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/events.h"
#include "slayer/ops/gemm.h"

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

// A block of output positions whose im2col columns (ho, wo, t) are
// contiguous in every output plane: whole rows [h0, h1), or a run of columns
// [w0, w1) of the single row h0.
struct Block {
  int64_t h0, h1, w0, w1;
  int64_t positions() const { return (h1 - h0) * (w1 - w0); }
};

// Splits the output plane into blocks of about 1 MiB of im2col columns, so
// that the columns stay in cache between im2col and the GEMM.
class Tiling {
 public:
  explicit Tiling(const ConvGeometry& g) : out_h_(g.out_h), out_w_(g.out_w) {
    const int64_t budget = int64_t{1} << 18;  // floats
    const int64_t per_position = std::max<int64_t>(1, g.patch * g.steps);
    const int64_t positions = std::max<int64_t>(1, budget / per_position);
    if (positions >= out_w_) {
      rows_ = std::min(out_h_, positions / out_w_);
      cols_ = out_w_;
      per_row_ = 1;
      count_ = (out_h_ + rows_ - 1) / rows_;
    } else {
      rows_ = 1;
      cols_ = positions;
      per_row_ = (out_w_ + cols_ - 1) / cols_;
      count_ = out_h_ * per_row_;
    }
  }
  int64_t count() const { return count_; }
  Block operator[](int64_t i) const {
    if (per_row_ == 1) {
      const int64_t h0 = i * rows_;
      return {h0, std::min(out_h_, h0 + rows_), 0, out_w_};
    }
    const int64_t h0 = i / per_row_;
    const int64_t w0 = (i % per_row_) * cols_;
    return {h0, h0 + 1, w0, std::min(out_w_, w0 + cols_)};
  }

 private:
  int64_t out_h_, out_w_;
  int64_t rows_ = 1, cols_ = 1, per_row_ = 1, count_ = 1;
};

// The valid output columns [lo, hi) within [w0, w1) for kernel column kw
// (those whose input column lies inside the image).
void ValidColumns(const ConvGeometry& g, int64_t kw, int64_t w0, int64_t w1, int64_t* lo,
                  int64_t* hi) {
  const int64_t offset = kw * g.dilation_w - g.pad_w;
  *lo = std::clamp<int64_t>(CeilDiv(-offset, g.stride_w), w0, w1);
  *hi = std::clamp<int64_t>(FloorDiv(g.width - 1 - offset, g.stride_w) + 1, *lo, w1);
}

// Gathers the patches of group `group` for the output block `b` of one
// sample into cols: rows (c, kh, kw), columns (ho, wo, t). The time axis is
// innermost on both sides, so every copy moves a run of T floats (or, for
// unit stride, of (valid columns) * T floats).
void Im2Col(const ConvGeometry& g, const float* x_sample, int64_t group, const Block& b,
            float* cols) {
  const int64_t T = g.steps;
  const int64_t ncols = b.positions() * T;
  const int64_t row_len = (b.w1 - b.w0) * T;
  for (int64_t c = 0; c < g.group_in; ++c) {
    const float* xc = x_sample + (group * g.group_in + c) * g.height * g.width * T;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        float* dst = cols + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ncols;
        int64_t lo, hi;
        ValidColumns(g, kw, b.w0, b.w1, &lo, &hi);
        const int64_t offset = kw * g.dilation_w - g.pad_w;
        for (int64_t ho = b.h0; ho < b.h1; ++ho, dst += row_len) {
          const int64_t in_h = ho * g.stride_h + kh * g.dilation_h - g.pad_h;
          if (in_h < 0 || in_h >= g.height || lo == hi) {
            std::memset(dst, 0, sizeof(float) * row_len);
            continue;
          }
          const float* src = xc + in_h * g.width * T;
          float* out = dst - b.w0 * T;  // indexed by absolute wo
          std::memset(dst, 0, sizeof(float) * (lo - b.w0) * T);
          if (g.stride_w == 1) {
            std::memcpy(out + lo * T, src + (lo + offset) * T, sizeof(float) * (hi - lo) * T);
          } else {
            for (int64_t wo = lo; wo < hi; ++wo) {
              std::memcpy(out + wo * T, src + (wo * g.stride_w + offset) * T, sizeof(float) * T);
            }
          }
          std::memset(out + hi * T, 0, sizeof(float) * (b.w1 - hi) * T);
        }
      }
    }
  }
}

// The transpose of Im2Col: adds every column entry back onto its input.
void Col2ImAdd(const ConvGeometry& g, const float* cols, int64_t group, const Block& b,
               float* gx_sample) {
  const int64_t T = g.steps;
  const int64_t ncols = b.positions() * T;
  const int64_t row_len = (b.w1 - b.w0) * T;
  for (int64_t c = 0; c < g.group_in; ++c) {
    float* gc = gx_sample + (group * g.group_in + c) * g.height * g.width * T;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const float* src = cols + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ncols;
        int64_t lo, hi;
        ValidColumns(g, kw, b.w0, b.w1, &lo, &hi);
        const int64_t offset = kw * g.dilation_w - g.pad_w;
        for (int64_t ho = b.h0; ho < b.h1; ++ho, src += row_len) {
          const int64_t in_h = ho * g.stride_h + kh * g.dilation_h - g.pad_h;
          if (in_h < 0 || in_h >= g.height) continue;
          float* dst = gc + in_h * g.width * T;
          const float* in = src - b.w0 * T;  // indexed by absolute wo
          if (g.stride_w == 1) {
            internal::AddScaled(1.0f, in + lo * T, dst + (lo + offset) * T, (hi - lo) * T);
          } else {
            for (int64_t wo = lo; wo < hi; ++wo) {
              internal::AddScaled(1.0f, in + wo * T, dst + (wo * g.stride_w + offset) * T, T);
            }
          }
        }
      }
    }
  }
}

// Offset of block b's first column in a [*, Ho, Wo, T] plane.
int64_t PlaneOffset(const ConvGeometry& g, const Block& b) {
  return (b.h0 * g.out_w + b.w0) * g.steps;
}

// ------------------------------------------------------------------------
// Event-driven paths. Conv inputs are spike trains, mostly zeros: below
// EventThreshold every nonzero x[c, hi, wi, t] is visited once per kernel tap
// (kh, kw) that maps it onto an output position, updating 32 output channels
// at a time from a panel of weights (forward) or of gradients (grad_w).
// Work ~ nonzeros x KH x KW x O instead of the GEMM's Ho x Wo x T x patch x O.

int64_t PanelsPerGroup(const ConvGeometry& g) { return internal::NumPanels(g.group_out); }

// x's nonzeros per sample, one row per input row c * H + h (event index
// wi * T + t), recorded once per call for every output row and kernel row
// that reads them; false when too many for the event paths (then the
// recording is incomplete and unused). Per calling thread, reused.
bool RecordConvEvents(const ConvGeometry& g, const float* xs,
                      std::vector<internal::EventRows>** events) {
  thread_local std::vector<internal::EventRows> samples;
  *events = &samples;
  if (g.width * g.steps >= (int64_t{1} << 31)) return false;  // event index is int32
  const int64_t rows = g.channels * g.height, length = g.width * g.steps;
  const double budget = internal::EventThreshold(g.group_out) *
                        static_cast<double>(g.batch * rows * length);
  return internal::RecordSampleRows(xs, g.batch, rows, length, budget, &samples);
}

// The input row that kernel row kh reads for output row ho in channel c, or
// -1 in the padding.
int64_t InputRow(const ConvGeometry& g, int64_t c, int64_t ho, int64_t kh) {
  const int64_t in_h = ho * g.stride_h + kh * g.dilation_h - g.pad_h;
  return in_h < 0 || in_h >= g.height ? -1 : c * g.height + in_h;
}

// Calls fn(first, last, offset) for the events of one input row that kernel
// column kw maps onto output columns: each event's output position
// wo * T + t is its index + offset.
template <typename Fn>
void ForEachColumnRun(const ConvGeometry& g, const internal::Event* first,
                      const internal::Event* last, int64_t kw, Fn&& fn) {
  if (first == last) return;
  const int64_t T = g.steps;
  const int64_t shift = kw * g.dilation_w - g.pad_w;  // wi = wo * stride + shift
  int64_t lo, hi;
  ValidColumns(g, kw, 0, g.out_w, &lo, &hi);
  if (g.stride_w == 1) {
    // Input columns [lo + shift, hi + shift) map one-to-one: a single run.
    const internal::Event* a = internal::LowerBound(first, last, (lo + shift) * T);
    const internal::Event* b = internal::LowerBound(a, last, (hi + shift) * T);
    fn(a, b, -shift * T);
    return;
  }
  for (int64_t wo = lo; wo < hi; ++wo) {
    const int64_t wi = wo * g.stride_w + shift;
    const internal::Event* a = internal::LowerBound(first, last, wi * T);
    const internal::Event* b = internal::LowerBound(a, last, (wi + 1) * T);
    fn(a, b, (wo - wi) * T);
    first = b;
  }
}

// Packs W into panels per group: for group gr and panel p, kernel index j,
// packed[((gr * panels + p) * patch + j) * 32 + k] = w[gr*Og + p*32 + k][j].
void PackWeights(const ConvGeometry& g, const float* ws, float* packed) {
  const int64_t panels = PanelsPerGroup(g);
  for (int64_t group = 0; group < g.groups; ++group) {
    internal::PackPanels(ws + group * g.group_out * g.patch, g.group_out, g.patch, g.patch,
                         packed + group * panels * g.patch * internal::kPanel);
  }
}

void EventForward(const ConvGeometry& g, const std::vector<internal::EventRows>& samples,
                  const float* ws, float* ys) {
  using internal::kPanel;
  const int64_t panels = PanelsPerGroup(g);
  float* packed =
      internal::Scratch(internal::kScratchCaller, g.groups * panels * g.patch * kPanel);
  PackWeights(g, ws, packed);
  const int64_t row_len = g.out_w * g.steps;  // one output row of one channel
  internal::ParallelFor(g.batch * g.out_h, 1, [&](int64_t begin, int64_t end) {
    float* acc = internal::Scratch(internal::kScratchA, row_len * kPanel);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.out_h;
      const int64_t ho = task % g.out_h;
      const internal::EventRows& events = samples[n];
      for (int64_t group = 0; group < g.groups; ++group) {
        for (int64_t p = 0; p < panels; ++p) {
          std::fill(acc, acc + row_len * kPanel, 0.0f);
          const float* panel = packed + (group * panels + p) * g.patch * kPanel;
          for (int64_t c = 0; c < g.group_in; ++c) {
            for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
              const int64_t r = InputRow(g, group * g.group_in + c, ho, kh);
              if (r < 0) continue;
              for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
                const float* w = panel + ((c * g.kernel_h + kh) * g.kernel_w + kw) * kPanel;
                ForEachColumnRun(g, events.begin(r), events.end(r), kw,
                                 [&](const internal::Event* a, const internal::Event* b,
                                     int64_t offset) {
                                   internal::ScatterPanel(a, b, w, acc, offset);
                                 });
              }
            }
          }
          const int64_t o0 = group * g.group_out + p * kPanel;
          const int64_t width = std::min(kPanel, g.group_out - p * kPanel);
          internal::StorePanelTransposed(
              acc, row_len, width, ys + (n * g.out_channels + o0) * g.y_plane() + ho * row_len,
              g.y_plane());
        }
      }
    }
  });
}

// grad_W for sparse x: per sample (partials summed in sample order), per
// output row, the gradient rows of a panel are packed (Wo*T x 32) and every
// event gathers the gradient at the output position it feeds.
void EventWeightGradient(const ConvGeometry& g, const std::vector<internal::EventRows>& samples,
                         const float* gys, float* gws) {
  using internal::kPanel;
  const int64_t panels = PanelsPerGroup(g);
  const int64_t packed_size = g.groups * panels * g.patch * kPanel;  // per sample
  float* partial = internal::Scratch(internal::kScratchCaller2, g.batch * packed_size);
  const int64_t row_len = g.out_w * g.steps;
  internal::ParallelFor(g.batch, 1, [&](int64_t begin, int64_t end) {
    float* gp = internal::Scratch(internal::kScratchB, row_len * kPanel);
    for (int64_t n = begin; n < end; ++n) {
      const internal::EventRows& events = samples[n];
      float* dw = partial + n * packed_size;
      std::fill(dw, dw + packed_size, 0.0f);
      for (int64_t ho = 0; ho < g.out_h; ++ho) {
        for (int64_t group = 0; group < g.groups; ++group) {
          for (int64_t p = 0; p < panels; ++p) {
            const int64_t o0 = group * g.group_out + p * kPanel;
            const int64_t width = std::min(kPanel, g.group_out - p * kPanel);
            internal::PackPanels(gys + (n * g.out_channels + o0) * g.y_plane() + ho * row_len,
                                 width, row_len, g.y_plane(), gp);
            float* panel = dw + (group * panels + p) * g.patch * kPanel;
            for (int64_t c = 0; c < g.group_in; ++c) {
              for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
                const int64_t r = InputRow(g, group * g.group_in + c, ho, kh);
                if (r < 0) continue;
                for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
                  float* acc = panel + ((c * g.kernel_h + kh) * g.kernel_w + kw) * kPanel;
                  ForEachColumnRun(g, events.begin(r), events.end(r), kw,
                                   [&](const internal::Event* a, const internal::Event* b,
                                       int64_t offset) {
                                     internal::GatherPanel(a, b, gp, offset, acc);
                                   });
                }
              }
            }
          }
        }
      }
    }
  });
  // grad_W[o][j] = sum_n partial[n][(group, panel)][j][k], o = group*Og + p*32 + k.
  const int64_t w_numel = g.out_channels * g.patch;
  internal::ParallelFor(w_numel, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t o = i / g.patch, j = i % g.patch;
      const int64_t group = o / g.group_out, local = o % g.group_out;
      const int64_t at = ((group * panels + local / kPanel) * g.patch + j) * kPanel +
                         local % kPanel;
      float sum = 0.0f;
      for (int64_t n = 0; n < g.batch; ++n) sum += partial[n * packed_size + at];
      gws[i] = sum;
    }
  });
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
  std::vector<internal::EventRows>* events = nullptr;
  if (RecordConvEvents(g, x.data(), &events)) {
    EventForward(g, *events, w.data(), y->data());
    return absl::OkStatus();
  }
  // Implicit GEMM with time folded into the columns: per sample, group and
  // block of output positions, Y (O_g x positions*T) = W_g (O_g x patch) * cols.
  const Tiling tiling(g);
  const float* xs = x.data();
  const float* ws = w.data();
  float* ys = y->data();
  const bool fast_gemm = internal::FastGemmAvailable();
  internal::ParallelFor(g.batch * tiling.count(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / tiling.count();
      const Block b = tiling[task % tiling.count()];
      const int64_t ncols = b.positions() * g.steps;
      float* cols = internal::Scratch(internal::kScratchA, g.patch * ncols);
      for (int64_t group = 0; group < g.groups; ++group) {
        Im2Col(g, xs + n * g.x_sample(), group, b, cols);
        const float* wg = ws + group * g.group_out * g.patch;
        float* yb =
            ys + (n * g.out_channels + group * g.group_out) * g.y_plane() + PlaneOffset(g, b);
        if (fast_gemm) {
          internal::Gemm(g.group_out, ncols, g.patch, {wg, g.patch, 1}, {cols, ncols, 1}, yb,
                         g.y_plane(), /*accumulate=*/false);
          continue;
        }
        const ConstMap weight(wg, g.group_out, g.patch);
        const ConstMap patches(cols, g.patch, ncols);
        MutableStrided out(yb, g.group_out, ncols, Eigen::OuterStride<>(g.y_plane()));
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
  const float* xs = x.data();
  std::vector<internal::EventRows>* samples = nullptr;
  const bool events = grad_w != nullptr && RecordConvEvents(g, xs, &samples);
  if (events) EventWeightGradient(g, *samples, grad_y.data(), grad_w->data());
  if (grad_x == nullptr && events) return absl::OkStatus();
  const Tiling tiling(g);
  const int64_t w_numel = w.numel();
  // Per-sample weight gradients, summed afterwards in sample order: the
  // result does not depend on the thread count.
  float* partial = grad_w != nullptr && !events
                       ? internal::Scratch(internal::kScratchCaller, g.batch * w_numel)
                       : nullptr;
  const float* ws = w.data();
  const float* gys = grad_y.data();
  float* gxs = grad_x != nullptr ? grad_x->data() : nullptr;
  const bool fast_gemm = internal::FastGemmAvailable();
  // Tasks (sample, group) touch disjoint parts of grad_x and of the partials.
  internal::ParallelFor(g.batch * g.groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.groups;
      const int64_t group = task % g.groups;
      const ConstMap weight(ws + group * g.group_out * g.patch, g.group_out, g.patch);
      float* dw = partial != nullptr ? partial + n * w_numel + group * g.group_out * g.patch
                                     : nullptr;
      if (dw != nullptr) std::fill(dw, dw + g.group_out * g.patch, 0.0f);
      for (int64_t i = 0; i < tiling.count(); ++i) {
        const Block b = tiling[i];
        const int64_t ncols = b.positions() * g.steps;
        const float* gyb =
            gys + (n * g.out_channels + group * g.group_out) * g.y_plane() + PlaneOffset(g, b);
        const ConstStrided gy(gyb, g.group_out, ncols, Eigen::OuterStride<>(g.y_plane()));
        if (dw != nullptr) {
          float* cols = internal::Scratch(internal::kScratchA, g.patch * ncols);
          Im2Col(g, xs + n * g.x_sample(), group, b, cols);
          if (fast_gemm) {  // dW += gy (O_g x cols) * patches^T, read in place
            internal::Gemm(g.group_out, g.patch, ncols, {gyb, g.y_plane(), 1}, {cols, 1, ncols},
                           dw, g.patch, /*accumulate=*/true);
          } else {
            const ConstMap patches(cols, g.patch, ncols);
            MutableMap dw_map(dw, g.group_out, g.patch);
            dw_map.noalias() += gy * patches.transpose();
          }
        }
        if (gxs != nullptr) {
          float* gcols = internal::Scratch(internal::kScratchB, g.patch * ncols);
          if (fast_gemm) {  // W_g^T read in place
            internal::Gemm(g.patch, ncols, g.group_out,
                           {ws + group * g.group_out * g.patch, 1, g.patch},
                           {gyb, g.y_plane(), 1}, gcols, ncols, /*accumulate=*/false);
          } else {
            MutableMap gpatches(gcols, g.patch, ncols);
            gpatches.noalias() = weight.transpose() * gy;
          }
          Col2ImAdd(g, gcols, group, b, gxs + n * g.x_sample());
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
