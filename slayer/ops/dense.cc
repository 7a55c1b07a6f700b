#include "slayer/ops/dense.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

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
  int64_t batch;    // N
  int64_t inputs;   // I = product of x's dims between N and T
  int64_t outputs;  // O
  int64_t steps;    // T
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

// ------------------------------------------------------------------------
// Event-driven kernels. Dense-layer inputs are spike trains, mostly zeros:
// below a share of nonzeros the work ~ nonzeros x O of these kernels beats
// the GEMM's I x T x O. Both compute the same sums up to rounding.

// Outputs handled per pass: 32 floats are four AVX registers, and a T x 32
// accumulator stays in L1 for T up to ~350.
constexpr int64_t kPanel = 32;

int64_t NumPanels(int64_t outputs) { return (outputs + kPanel - 1) / kPanel; }

// The largest density at which the events win: measured ~15% for full
// panels; a partial panel costs as much as a full one.
double SparseThreshold(int64_t outputs) {
  return 0.15 * static_cast<double>(outputs) / static_cast<double>(kPanel * NumPanels(outputs));
}

bool UseSparse(const float* x, int64_t n, int64_t outputs) {
  // Counted in parallel chunks; the decision depends only on the data.
  const int64_t chunk = int64_t{1} << 16;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<int64_t> counts(chunks, 0);
  internal::ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      counts[c] = internal::CountNonzeros(x + c * chunk, std::min(chunk, n - c * chunk));
    }
  });
  int64_t nonzeros = 0;
  for (int64_t c : counts) nonzeros += c;
  return static_cast<double>(nonzeros) < SparseThreshold(outputs) * static_cast<double>(n);
}

// The nonzeros of a spike tensor's rows, grouped by row (CSR).
struct Event {
  int32_t t;
  float value;
};
struct Events {
  std::vector<Event> events;
  std::vector<int64_t> start;  // row r owns events [start[r], start[r + 1])
};

// Per-thread event lists, reused across calls (no steady-state allocation).
const Events& CollectEvents(const float* x, int64_t rows, int64_t steps) {
  thread_local Events e;
  e.events.clear();
  e.start.resize(rows + 1);
  for (int64_t r = 0; r < rows; ++r) {
    e.start[r] = static_cast<int64_t>(e.events.size());
    internal::ForEachNonzero(x + r * steps, steps, [&](int64_t t, float v) {
      e.events.push_back({static_cast<int32_t>(t), v});
    });
  }
  e.start[rows] = static_cast<int64_t>(e.events.size());
  return e;
}

// Packs src (rows x cols, row-major) into panels: panel p holds
// src[p*32 + k][c] at dst[(p * cols + c) * 32 + k], zero past the last row.
// Each panel is contiguous, so the event loops stream through it.
void PackPanels(const float* src, int64_t rows, int64_t cols, float* dst) {
  const int64_t panels = NumPanels(rows);
  const int64_t tiles = (cols + kPanel - 1) / kPanel;
  internal::ParallelFor(panels * tiles, 8, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p = task / tiles;
      const int64_t c0 = (task % tiles) * kPanel;
      const int64_t c1 = std::min(cols, c0 + kPanel);
      float* panel = dst + p * cols * kPanel;
      for (int64_t k = 0; k < kPanel; ++k) {
        const int64_t r = p * kPanel + k;
        if (r < rows) {
          const float* row = src + r * cols;
          for (int64_t c = c0; c < c1; ++c) panel[c * kPanel + k] = row[c];
        } else {
          for (int64_t c = c0; c < c1; ++c) panel[c * kPanel + k] = 0.0f;
        }
      }
    }
  });
}

// acc[e.t * 32 + k] += e.value * w[k] for k < 32 and every event in
// [first, last): w stays in registers across the events.
void ScatterEvents(const Event* first, const Event* last, const float* w, float* acc) {
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8),
               w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
  for (const Event* e = first; e != last; ++e) {
    const __m256 v = _mm256_set1_ps(e->value);
    float* a = acc + e->t * kPanel;
    _mm256_storeu_ps(a, _mm256_fmadd_ps(v, w0, _mm256_loadu_ps(a)));
    _mm256_storeu_ps(a + 8, _mm256_fmadd_ps(v, w1, _mm256_loadu_ps(a + 8)));
    _mm256_storeu_ps(a + 16, _mm256_fmadd_ps(v, w2, _mm256_loadu_ps(a + 16)));
    _mm256_storeu_ps(a + 24, _mm256_fmadd_ps(v, w3, _mm256_loadu_ps(a + 24)));
  }
#else
  for (const Event* e = first; e != last; ++e) {
    internal::AddScaled(e->value, w, acc + e->t * kPanel, kPanel);
  }
#endif
}

// acc[k] += sum over events in [first, last) of e.value * g[e.t * 32 + k] for
// k < 32: the accumulator stays in registers.
void GatherEvents(const Event* first, const Event* last, const float* g, float* acc) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 a0 = _mm256_loadu_ps(acc), a1 = _mm256_loadu_ps(acc + 8),
         a2 = _mm256_loadu_ps(acc + 16), a3 = _mm256_loadu_ps(acc + 24);
  for (const Event* e = first; e != last; ++e) {
    const __m256 v = _mm256_set1_ps(e->value);
    const float* row = g + e->t * kPanel;
    a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row), a0);
    a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row + 8), a1);
    a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row + 16), a2);
    a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(row + 24), a3);
  }
  _mm256_storeu_ps(acc, a0);
  _mm256_storeu_ps(acc + 8, a1);
  _mm256_storeu_ps(acc + 16, a2);
  _mm256_storeu_ps(acc + 24, a3);
#else
  for (const Event* e = first; e != last; ++e) {
    internal::AddScaled(e->value, g + e->t * kPanel, acc, kPanel);
  }
#endif
}

// Y[n] = W X[n] for sparse X: every nonzero x[i, t] adds x * W[:, i] to
// column t of Y. Per (sample, panel of 32 outputs) the column block of Y
// accumulates as rows of a T x 32 buffer (in L1), transposed into Y at the end.
void SparseForward(const DenseGeometry& g, const float* xs, const float* ws, float* ys) {
  const int64_t panels = NumPanels(g.outputs);
  float* packed = internal::Scratch(internal::kScratchCaller, panels * g.inputs * kPanel);
  PackPanels(ws, g.outputs, g.inputs, packed);
  // Tasks: (sample, run of panels); runs only split when samples are few.
  const int64_t runs = NumBlocks(panels, (2 * Threads() + g.batch - 1) / g.batch, 1);
  const int64_t per_run = (panels + runs - 1) / runs;
  internal::ParallelFor(g.batch * runs, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / runs;
      const int64_t p0 = (task % runs) * per_run;
      const int64_t p1 = std::min(panels, p0 + per_run);
      if (p1 <= p0) continue;
      const Events& e = CollectEvents(xs + n * g.inputs * g.steps, g.inputs, g.steps);
      const Event* events = e.events.data();
      MutableMap y(ys + n * g.outputs * g.steps, g.outputs, g.steps);
      float* acc = internal::Scratch(internal::kScratchA, g.steps * kPanel);
      for (int64_t p = p0; p < p1; ++p) {
        std::fill(acc, acc + g.steps * kPanel, 0.0f);
        const float* panel = packed + p * g.inputs * kPanel;
        for (int64_t i = 0; i < g.inputs; ++i) {
          ScatterEvents(events + e.start[i], events + e.start[i + 1], panel + i * kPanel, acc);
        }
        const int64_t o0 = p * kPanel;
        const int64_t width = std::min(kPanel, g.outputs - o0);
        y.middleRows(o0, width) = ConstMap(acc, g.steps, kPanel).leftCols(width).transpose();
      }
    }
  });
}

// grad_W = sum_n grad_Y[n] X[n]^T for sparse X: every nonzero x[n, i, t]
// adds x * grad_Y[n][:, t] to column i of grad_W. Tasks own blocks of inputs
// and sum the samples in order (no reduction across threads); per panel of
// 32 outputs the accumulator of one input stays in registers.
void SparseWeightGradient(const DenseGeometry& g, const float* xs, const float* gys,
                          float* gws) {
  const int64_t panels = NumPanels(g.outputs);
  const int64_t panel_size = g.steps * kPanel;  // one panel of grad_Y[n]^T
  float* packed =
      internal::Scratch(internal::kScratchCaller2, g.batch * panels * panel_size);
  for (int64_t n = 0; n < g.batch; ++n) {
    PackPanels(gys + n * g.outputs * g.steps, g.outputs, g.steps,
               packed + n * panels * panel_size);
  }
  const int64_t blocks = NumBlocks(g.inputs, 4 * Threads(), 16);
  const int64_t per_block = (g.inputs + blocks - 1) / blocks;
  MutableMap gw(gws, g.outputs, g.inputs);
  internal::ParallelFor(blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t i0 = b * per_block;
      const int64_t rows = std::min(per_block, g.inputs - i0);
      if (rows <= 0) continue;
      // acc[p][r][k] = grad_W[p*32 + k][i0 + r]
      float* acc = internal::Scratch(internal::kScratchA, panels * rows * kPanel);
      std::fill(acc, acc + panels * rows * kPanel, 0.0f);
      for (int64_t n = 0; n < g.batch; ++n) {
        const Events& e = CollectEvents(xs + (n * g.inputs + i0) * g.steps, rows, g.steps);
        const Event* events = e.events.data();
        for (int64_t p = 0; p < panels; ++p) {
          const float* panel = packed + (n * panels + p) * panel_size;
          for (int64_t r = 0; r < rows; ++r) {
            GatherEvents(events + e.start[r], events + e.start[r + 1], panel,
                         acc + (p * rows + r) * kPanel);
          }
        }
      }
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t o0 = p * kPanel;
        const int64_t width = std::min(kPanel, g.outputs - o0);
        gw.block(o0, i0, width, rows) =
            ConstMap(acc + p * rows * kPanel, rows, kPanel).leftCols(width).transpose();
      }
    }
  });
}

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
  if (UseSparse(x.data(), x.numel(), g.outputs)) {
    SparseForward(g, x.data(), w.data(), y->data());
    return absl::OkStatus();
  }
  // One GEMM per task, Y[n] (O x T) = W (O x I) * X[n] (I x T); with fewer
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
      // grad_X[n] (I x T) = W^T (I x O) * grad_Y[n] (O x T): grad_Y is dense.
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
          gx.middleRows(i0, rows).noalias() = weight.middleCols(i0, rows).transpose() * gy;
        }
      });
    }
  }
  if (grad_w != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCpu));
    if (g.batch == 0 || g.steps == 0) {
      grad_w->SetZero();
    } else if (grad_w->numel() > 0 && UseSparse(xs, x.numel(), g.outputs)) {
      SparseWeightGradient(g, xs, gys, grad_w->data());
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
