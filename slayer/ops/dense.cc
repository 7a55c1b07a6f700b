#include "slayer/ops/dense.h"

#include <algorithm>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using MutableMap = Eigen::Map<RowMatrix>;

struct DenseGeometry {
  int64_t batch;   // N
  int64_t inputs;  // I = product of x's dims between N and T
  int64_t outputs; // O
  int64_t steps;   // T
  Shape y_shape() const { return {batch, outputs, 1, 1, steps}; }
};

absl::StatusOr<DenseGeometry> CheckDenseArgs(const char* op, const Tensor& x, const Tensor& w) {
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(x, 2, op, "x", "[N, ..., T]"));
  DenseGeometry g;
  g.batch = x.dim(0);
  g.steps = x.dim(-1);
  g.inputs = 1;
  for (int i = 1; i + 1 < x.rank(); ++i) g.inputs *= x.dim(i);
  if (w.rank() != 2 || w.dim(1) != g.inputs) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": w has shape ", ShapeString(w.shape()), ", expected [O, ", g.inputs,
                     "] (x ", ShapeString(x.shape()), " has ", g.inputs, " inputs per step)"));
  }
  g.outputs = w.dim(0);
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"w", &w}}));
  return g;
}

absl::StatusOr<DenseGeometry> CheckBackwardArgs(const char* op, const Tensor& x,
                                                const Tensor& w, const Tensor& grad_y) {
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckDenseArgs(op, x, w));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_y, g.y_shape(), absl::StrCat(op, ": grad_y")));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(x.device(), {{"grad_y", &grad_y}}));
  return g;
}

// Splits `rows` into about `parts` blocks of at least `min_rows`.
int64_t NumBlocks(int64_t rows, int64_t parts, int64_t min_rows) {
  return std::max<int64_t>(1, std::min(parts, rows / std::max<int64_t>(1, min_rows)));
}

int Threads() { return ThreadPool::Default().num_threads(); }

}  // namespace

OpDispatch<DenseForwardFn>& DenseForwardDispatch() {
  static auto* dispatch = new OpDispatch<DenseForwardFn>("dense_forward", &cpu::DenseForward);
  return *dispatch;
}

OpDispatch<DenseBackwardFn>& DenseBackwardDispatch() {
  static auto* dispatch =
      new OpDispatch<DenseBackwardFn>("dense_backward", &cpu::DenseBackward);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered = (DenseForwardDispatch(), DenseBackwardDispatch(), true);
}  // namespace

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "DenseForward", "y"));
  SLAYER_RETURN_IF_ERROR(CheckDenseArgs("DenseForward", x, w).status());
  return DenseForwardDispatch()(x.device(), x, w, y);
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w) {
  SLAYER_RETURN_IF_ERROR(CheckBackwardArgs("DenseBackward", x, w, grad_y).status());
  return DenseBackwardDispatch()(x.device(), x, w, grad_y, grad_x, grad_w);
}

namespace cpu {

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "DenseForward", "y"));
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckDenseArgs("DenseForward", x, w));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape(), Device::kCpu));
  if (y->numel() == 0) return absl::OkStatus();
  if (g.inputs == 0) {
    y->SetZero();
    return absl::OkStatus();
  }
  // One GEMM per sample, Y[n] (O x T) = W (O x I) * X[n] (I x T); with fewer
  // samples than threads the rows of W are split too.
  const int64_t blocks = NumBlocks(g.outputs, (2 * Threads() + g.batch - 1) / g.batch, 32);
  const int64_t rows_per_block = (g.outputs + blocks - 1) / blocks;
  const ConstMap weight(w.data(), g.outputs, g.inputs);
  const float* xs = x.data();
  float* ys = y->data();
  internal::ParallelFor(g.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks;
      const int64_t o0 = (task % blocks) * rows_per_block;
      const int64_t rows = std::min(rows_per_block, g.outputs - o0);
      if (rows <= 0) continue;
      const ConstMap input(xs + n * g.inputs * g.steps, g.inputs, g.steps);
      MutableMap output(ys + n * g.outputs * g.steps, g.outputs, g.steps);
      output.middleRows(o0, rows).noalias() = weight.middleRows(o0, rows) * input;
    }
  });
  return absl::OkStatus();
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w) {
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckBackwardArgs("DenseBackward", x, w, grad_y));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseBackward: x", &x}}));
  const ConstMap weight(w.data(), g.outputs, g.inputs);
  const float* xs = x.data();
  const float* gys = grad_y.data();
  if (grad_x != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCpu));
    if (g.outputs == 0) {
      grad_x->SetZero();
    } else if (grad_x->numel() > 0) {
      // grad_X[n] (I x T) = W^T (I x O) * grad_Y[n] (O x T).
      const int64_t blocks = NumBlocks(g.inputs, (2 * Threads() + g.batch - 1) / g.batch, 32);
      const int64_t rows_per_block = (g.inputs + blocks - 1) / blocks;
      float* gxs = grad_x->data();
      internal::ParallelFor(g.batch * blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
          const int64_t n = task / blocks;
          const int64_t i0 = (task % blocks) * rows_per_block;
          const int64_t rows = std::min(rows_per_block, g.inputs - i0);
          if (rows <= 0) continue;
          const ConstMap gy(gys + n * g.outputs * g.steps, g.outputs, g.steps);
          MutableMap gx(gxs + n * g.inputs * g.steps, g.inputs, g.steps);
          gx.middleRows(i0, rows).noalias() =
              weight.middleCols(i0, rows).transpose() * gy;
        }
      });
    }
  }
  if (grad_w != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCpu));
    if (g.batch == 0 || g.steps == 0) {
      grad_w->SetZero();
    } else if (grad_w->numel() > 0) {
      // grad_W = sum_n grad_Y[n] (O x T) * X[n]^T (T x I); threads own
      // disjoint row blocks of grad_W, so the sum needs no reduction and is
      // taken in sample order.
      const int64_t blocks = NumBlocks(g.outputs, 4 * Threads(), 16);
      const int64_t rows_per_block = (g.outputs + blocks - 1) / blocks;
      MutableMap gw(grad_w->data(), g.outputs, g.inputs);
      internal::ParallelFor(blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const int64_t o0 = b * rows_per_block;
          const int64_t rows = std::min(rows_per_block, g.outputs - o0);
          if (rows <= 0) continue;
          auto block = gw.middleRows(o0, rows);
          for (int64_t n = 0; n < g.batch; ++n) {
            const ConstMap input(xs + n * g.inputs * g.steps, g.inputs, g.steps);
            const ConstMap gy(gys + n * g.outputs * g.steps, g.outputs, g.steps);
            if (n == 0) {
              block.noalias() = gy.middleRows(o0, rows) * input.transpose();
            } else {
              block.noalias() += gy.middleRows(o0, rows) * input.transpose();
            }
          }
        }
      });
    }
  }
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
