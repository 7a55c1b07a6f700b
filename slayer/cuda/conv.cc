#include "slayer/cuda/conv.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/blas.h"
#include "slayer/cuda/conv_kernels.h"
#include "slayer/cuda/scratch.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace cuda {
namespace {

std::atomic<int64_t> g_column_bytes{int64_t{256} << 20};

struct Geometry {
  ConvShape shape;  // samples = the whole batch
  int64_t out_channels, groups, group_in, group_out;
  Shape y_shape;
  bool direct;  // 1x1, stride 1, no padding: x is already the column matrix

  int64_t patch() const { return group_in * shape.kernel_h * shape.kernel_w; }  // per group
  int64_t cols() const { return shape.col_cols(); }                             // Ho*Wo*T
  int64_t col_sample() const { return shape.col_rows() * cols(); }
  int64_t x_sample() const {
    return shape.channels * shape.height * shape.width * shape.steps;
  }
  int64_t y_sample() const { return out_channels * cols(); }
  // Samples per chunk so that the column buffer stays under the cap.
  int64_t chunk() const {
    const int64_t per = std::max<int64_t>(1, col_sample() * static_cast<int64_t>(sizeof(float)));
    return std::clamp<int64_t>(g_column_bytes.load() / per, 1,
                               std::max<int64_t>(1, shape.samples));
  }
};

absl::StatusOr<Geometry> MakeGeometry(const Tensor& x, const Tensor& w,
                                      const ops::Conv2dParams& p) {
  SLAYER_ASSIGN_OR_RETURN(Shape y_shape, ops::Conv2dOutputShape(x.shape(), w.shape(), p));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"x", &x}, {"w", &w}}));
  Geometry g;
  ConvShape& s = g.shape;
  s.samples = x.dim(0);
  s.channels = x.dim(1);
  s.height = x.dim(2);
  s.width = x.dim(3);
  s.steps = x.dim(4);
  s.kernel_h = w.dim(2);
  s.kernel_w = w.dim(3);
  s.out_h = y_shape[2];
  s.out_w = y_shape[3];
  s.stride_h = p.stride_h;
  s.stride_w = p.stride_w;
  s.pad_h = p.pad_h;
  s.pad_w = p.pad_w;
  s.dilation_h = p.dilation_h;
  s.dilation_w = p.dilation_w;
  g.out_channels = w.dim(0);
  g.groups = p.groups;
  g.group_in = s.channels / g.groups;
  g.group_out = g.out_channels / g.groups;
  g.y_shape = y_shape;
  g.direct = s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
             s.pad_h == 0 && s.pad_w == 0;
  return g;
}

// The columns of samples [n0, n0 + nb): x itself when direct, else im2col
// into `buffer`.
absl::StatusOr<const float*> Columns(const Geometry& g, const float* x, int64_t n0, int64_t nb,
                                     float* buffer, cudaStream_t stream) {
  const float* xs = x + n0 * g.x_sample();
  if (g.direct) return xs;
  ConvShape s = g.shape;
  s.samples = nb;
  SLAYER_RETURN_IF_ERROR(LaunchIm2Col(xs, buffer, s, stream));
  return static_cast<const float*>(buffer);
}

}  // namespace

absl::Status Conv2dForward(const Tensor& x, const Tensor& w, const ops::Conv2dParams& p,
                           Tensor* y) {
  if (y == nullptr) return absl::InvalidArgumentError("Conv2dForward: y is null");
  SLAYER_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x, w, p));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape, Device::kCuda));
  if (y->numel() == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  const int64_t chunk = g.chunk();
  DeviceScratch buffer;
  if (!g.direct) {
    SLAYER_ASSIGN_OR_RETURN(
        buffer, DeviceScratch::Allocate(chunk * g.col_sample() * sizeof(float), stream));
  }
  for (int64_t n0 = 0; n0 < g.shape.samples; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.shape.samples - n0);
    SLAYER_ASSIGN_OR_RETURN(const float* col,
                            Columns(g, x.data(), n0, nb, buffer.as<float>(), stream));
    for (int64_t group = 0; group < g.groups; ++group) {
      // Y[n, g] (Og x P) = W[g] (Og x patch) * col[n, g] (patch x P).
      GemmArgs a;
      a.m = g.group_out;
      a.n = g.cols();
      a.k = g.patch();
      a.a = w.data() + group * g.group_out * g.patch();
      a.lda = g.patch();
      a.stride_a = 0;
      a.b = col + group * g.patch() * g.cols();
      a.ldb = g.cols();
      a.stride_b = g.col_sample();
      a.c = y->data() + n0 * g.y_sample() + group * g.group_out * g.cols();
      a.ldc = g.cols();
      a.stride_c = g.y_sample();
      a.batch = nb;
      SLAYER_RETURN_IF_ERROR(RowMajorGemm(a, stream));
    }
  }
  return absl::OkStatus();
}

absl::Status Conv2dBackward(const Tensor& x, const Tensor& w, const ops::Conv2dParams& p,
                            const Tensor& grad_y, Tensor* grad_x, Tensor* grad_w) {
  SLAYER_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x, w, p));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape, "Conv2dBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"grad_y", &grad_y}}));
  if (grad_x != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCuda));
  if (grad_w != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCuda));
  if (g.shape.samples == 0 || g.cols() == 0 || g.out_channels == 0) {
    // Nothing flows back: both gradients are zero.
    if (grad_x != nullptr) grad_x->SetZero();
    if (grad_w != nullptr) grad_w->SetZero();
    return absl::OkStatus();
  }
  if (grad_x == nullptr && grad_w == nullptr) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  const int64_t chunk = g.chunk();
  // The columns of x (for grad_w), then the columns of grad_x in the same buffer.
  DeviceScratch buffer;
  if (!g.direct) {
    SLAYER_ASSIGN_OR_RETURN(
        buffer, DeviceScratch::Allocate(chunk * g.col_sample() * sizeof(float), stream));
  }
  for (int64_t n0 = 0; n0 < g.shape.samples; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.shape.samples - n0);
    const float* gy = grad_y.data() + n0 * g.y_sample();
    if (grad_w != nullptr) {
      SLAYER_ASSIGN_OR_RETURN(const float* col,
                              Columns(g, x.data(), n0, nb, buffer.as<float>(), stream));
      for (int64_t b = 0; b < nb; ++b) {
        // GW[g] (Og x patch) += G[n, g] (Og x P) * col[n, g]^T (P x patch),
        // all groups in one batched call.
        GemmArgs a;
        a.trans_b = true;
        a.m = g.group_out;
        a.n = g.patch();
        a.k = g.cols();
        a.beta = (n0 + b == 0) ? 0.0f : 1.0f;
        a.a = gy + b * g.y_sample();
        a.lda = g.cols();
        a.stride_a = g.group_out * g.cols();
        a.b = col + b * g.col_sample();
        a.ldb = g.cols();
        a.stride_b = g.patch() * g.cols();
        a.c = grad_w->data();
        a.ldc = g.patch();
        a.stride_c = g.group_out * g.patch();
        a.batch = g.groups;
        SLAYER_RETURN_IF_ERROR(RowMajorGemm(a, stream));
      }
    }
    if (grad_x != nullptr) {
      float* gx = grad_x->data() + n0 * g.x_sample();
      float* gcol = g.direct ? gx : buffer.as<float>();
      for (int64_t group = 0; group < g.groups; ++group) {
        // gcol[n, g] (patch x P) = W[g]^T (patch x Og) * G[n, g] (Og x P).
        GemmArgs a;
        a.trans_a = true;
        a.m = g.patch();
        a.n = g.cols();
        a.k = g.group_out;
        a.a = w.data() + group * g.group_out * g.patch();
        a.lda = g.patch();
        a.stride_a = 0;
        a.b = gy + group * g.group_out * g.cols();
        a.ldb = g.cols();
        a.stride_b = g.y_sample();
        a.c = gcol + group * g.patch() * g.cols();
        a.ldc = g.cols();
        a.stride_c = g.col_sample();
        a.batch = nb;
        SLAYER_RETURN_IF_ERROR(RowMajorGemm(a, stream));
      }
      if (!g.direct) {
        ConvShape s = g.shape;
        s.samples = nb;
        SLAYER_RETURN_IF_ERROR(LaunchCol2Im(gcol, gx, s, stream));
      }
    }
  }
  return absl::OkStatus();
}

int64_t SetConvColumnBytesForTesting(int64_t bytes) { return g_column_bytes.exchange(bytes); }

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::Conv2dForwardDispatch().Register(Device::kCuda, &Conv2dForward);
  ops::Conv2dBackwardDispatch().Register(Device::kCuda, &Conv2dBackward);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
