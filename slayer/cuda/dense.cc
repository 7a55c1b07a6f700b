#include "slayer/cuda/dense.h"

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/blas.h"
#include "slayer/cuda/stream.h"
#include "slayer/ops/dense.h"

namespace slayer {
namespace cuda {
namespace {

struct Geometry {
  int64_t batch, inputs, outputs, steps;
  Shape y_shape() const { return {batch, outputs, 1, 1, steps}; }
};

absl::StatusOr<Geometry> CheckArgs(const char* op, const Tensor& x, const Tensor& w) {
  if (x.rank() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": x has shape ", ShapeString(x.shape()),
                                                   ", expected [N, ..., T]"));
  }
  Geometry g;
  g.batch = x.dim(0);
  g.steps = x.dim(-1);
  g.inputs = 1;
  for (int i = 1; i + 1 < x.rank(); ++i) g.inputs *= x.dim(i);
  if (w.rank() != 2 || w.dim(1) != g.inputs) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": w has shape ", ShapeString(w.shape()),
                                                   ", expected [O, ", g.inputs, "]"));
  }
  g.outputs = w.dim(0);
  SLAYER_RETURN_IF_ERROR(
      ops::CheckSameDevice(Device::kCuda, {{"x", &x}, {"w", &w}}));
  return g;
}

}  // namespace

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y) {
  if (y == nullptr) return absl::InvalidArgumentError("DenseForward: y is null");
  SLAYER_ASSIGN_OR_RETURN(Geometry g, CheckArgs("DenseForward", x, w));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape(), Device::kCuda));
  if (y->numel() == 0) return absl::OkStatus();
  if (g.inputs == 0) {
    y->SetZero();
    return absl::OkStatus();
  }
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  // Y[n] (O x T) = W (O x I) * X[n] (I x T), W shared by the batch.
  GemmArgs a;
  a.m = g.outputs;
  a.n = g.steps;
  a.k = g.inputs;
  a.a = w.data();
  a.lda = g.inputs;
  a.stride_a = 0;
  a.b = x.data();
  a.ldb = g.steps;
  a.stride_b = g.inputs * g.steps;
  a.c = y->data();
  a.ldc = g.steps;
  a.stride_c = g.outputs * g.steps;
  a.batch = g.batch;
  return RowMajorGemm(a, stream);
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w) {
  SLAYER_ASSIGN_OR_RETURN(Geometry g, CheckArgs("DenseBackward", x, w));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape(), "DenseBackward: grad_y"));
  SLAYER_RETURN_IF_ERROR(ops::CheckSameDevice(Device::kCuda, {{"grad_y", &grad_y}}));
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
  if (grad_x != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCuda));
    if (g.outputs == 0) {
      grad_x->SetZero();
    } else if (grad_x->numel() > 0) {
      // GX[n] (I x T) = W^T (I x O) * G[n] (O x T); W is stored O x I.
      GemmArgs a;
      a.trans_a = true;
      a.m = g.inputs;
      a.n = g.steps;
      a.k = g.outputs;
      a.a = w.data();
      a.lda = g.inputs;
      a.stride_a = 0;
      a.b = grad_y.data();
      a.ldb = g.steps;
      a.stride_b = g.outputs * g.steps;
      a.c = grad_x->data();
      a.ldc = g.steps;
      a.stride_c = g.inputs * g.steps;
      a.batch = g.batch;
      SLAYER_RETURN_IF_ERROR(RowMajorGemm(a, stream));
    }
  }
  if (grad_w != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCuda));
    if (g.batch == 0 || g.steps == 0) {
      grad_w->SetZero();
    } else if (grad_w->numel() > 0) {
      // GW (O x I) = sum_n G[n] (O x T) * X[n]^T (T x I); X[n] is stored I x T.
      for (int64_t n = 0; n < g.batch; ++n) {
        GemmArgs a;
        a.trans_b = true;
        a.m = g.outputs;
        a.n = g.inputs;
        a.k = g.steps;
        a.beta = n == 0 ? 0.0f : 1.0f;
        a.a = grad_y.data() + n * g.outputs * g.steps;
        a.lda = g.steps;
        a.b = x.data() + n * g.inputs * g.steps;
        a.ldb = g.steps;
        a.c = grad_w->data();
        a.ldc = g.inputs;
        SLAYER_RETURN_IF_ERROR(RowMajorGemm(a, stream));
      }
    }
  }
  return absl::OkStatus();
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  ops::DenseForwardDispatch().Register(Device::kCuda, &DenseForward);
  ops::DenseBackwardDispatch().Register(Device::kCuda, &DenseBackward);
  return true;
}();
}  // namespace

}  // namespace cuda
}  // namespace slayer
