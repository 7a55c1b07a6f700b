#include "slayer/ops/dense.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/events.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"

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

// Calls fn(n, r0, count) on the thread pool for every sample n and block
// [r0, r0 + count) of its `rows` rows, for per-(sample, block) GEMM tasks:
// about two tasks per thread over the batch, blocks of at least `min_rows`
// whose size is a multiple of `unit` (a packed operand's row block), the
// last one shorter (none empty).
template <typename Fn>
void ForEachSampleBlock(const DenseGeometry& g, int64_t rows, int64_t min_rows, int64_t unit,
                        Fn&& fn) {
  const int64_t parts = NumBlocks(rows, (2 * Threads() + g.batch - 1) / g.batch, min_rows);
  const int64_t size = std::max<int64_t>(1, ((rows + parts - 1) / parts + unit - 1) / unit * unit);
  const int64_t blocks = (rows + size - 1) / size;
  internal::ParallelFor(g.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t r0 = (task % blocks) * size;
      fn(task / blocks, r0, std::min(size, rows - r0));
    }
  });
}

}  // namespace

struct DenseEvents::Impl {
  // The x described (held, so that its storage cannot be freed and another
  // tensor take its place); empty for per-call instances.
  Tensor source;
  bool sparse = false;  // false: too dense, the events unused
  // Per sample, a row per input holding its events (time steps): recorded,
  // handed over by a loader, or made from by_time when first needed
  // (samples_stale).
  std::vector<internal::EventRows> samples;
  // When sparse: a row per time step holding the inputs that spiked then
  // (the forward gathers weights along it, the weight gradient scatters into
  // inputs along it): samples transposed, or made from a one pass's masks.
  std::vector<internal::EventRows> by_time;
  // Handed over by the fused forward that wrote `source` (all its events,
  // `total` of them): the next forward on it takes them instead of scanning,
  // once.
  bool handed = false;
  int64_t total = 0;
  // by_time holds the events and `samples` are not made from them yet: the
  // one pass hands over by_time, made from its spike masks (EnsureSamples).
  bool samples_stale = false;
  // The one pass's spike masks, [n][panel][t]: bit k of panel p when output
  // p * 32 + k spiked.
  std::vector<uint32_t> masks;
  // source's values are not written: the one pass left them in `masks`, with
  // spike amplitude `amplitude` (WriteUnwritten). Only while the events are
  // handed over or taken as sparse.
  bool unwritten = false;
  float amplitude = 0.0f;
};

namespace {

// Whether `source`, the tensor some events were recorded from, is x (the
// same storage, offset and shape).
bool Describes(const Tensor& source, const Tensor& x) {
  return source.SharesStorageWith(x) && source.data() == x.data() && source.shape() == x.shape();
}

// Writes the source's values from the masks when the one pass left them
// unwritten (its panels in parallel).
void WriteUnwritten(DenseEvents::Impl* e) {
  if (!e->unwritten) return;
  e->unwritten = false;
  Tensor& s = e->source;
  const int64_t batch = s.dim(0), steps = s.dim(-1);
  const int64_t outputs = s.numel() / (batch * steps);
  const int64_t panels = internal::NumPanels(outputs);
  float* out = s.data();
  internal::ParallelFor(batch * panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / panels, o0 = task % panels * internal::kPanel;
      internal::WriteSpikesFromMasks(e->masks.data() + task * steps, steps,
                                     std::min(internal::kPanel, outputs - o0), e->amplitude,
                                     out + (n * outputs + o0) * steps);
    }
  });
}

}  // namespace

DenseEvents::DenseEvents() : impl_(new Impl) {}
void DenseEvents::DropHandOver() {
  impl_->unwritten = false;  // its values too are about to be written
  if (!impl_->handed) return;
  // The events describe a tensor about to be written some other way, and
  // were never taken (no sparseness, no by_time): they describe nothing now.
  impl_->handed = false;
  impl_->source = Tensor();
}

void DenseEvents::WriteSource(const Tensor& x) {
  if (impl_->unwritten && Describes(impl_->source, x)) WriteUnwritten(impl_.get());
}

absl::Status DenseEvents::HandOver(const Tensor& x, absl::Span<const SampleEvents> samples) {
  Impl& e = *impl_;
  WriteUnwritten(&e);  // before the events describe another tensor
  e.handed = false;
  if (!x.is_cpu() || x.rank() < 2 || x.numel() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DenseEvents::HandOver: x must be a non-empty host tensor [N, ..., T], got ",
        ShapeString(x.shape())));
  }
  const int64_t batch = x.dim(0), steps = x.dim(-1);
  const int64_t rows = x.numel() / (batch * steps);
  if (static_cast<int64_t>(samples.size()) != batch) {
    return absl::InvalidArgumentError(absl::StrCat("DenseEvents::HandOver: x has ", batch,
                                                   " samples, the events ", samples.size()));
  }
  int64_t total = 0;
  for (int64_t n = 0; n < batch; ++n) {
    const SampleEvents& sample = samples[n];
    if (sample.rows() != rows) {
      return absl::InvalidArgumentError(absl::StrCat("DenseEvents::HandOver: sample ", n,
                                                     " has ", sample.rows(),
                                                     " rows of events, x has ", rows));
    }
    for (const internal::Event* ev = sample.begin(0); ev != sample.end(rows - 1); ++ev) {
      if (ev->index < 0 || ev->index >= steps) {
        return absl::InvalidArgumentError(
            absl::StrCat("DenseEvents::HandOver: sample ", n, " has an event at step ",
                         ev->index, ", x has ", steps, " steps"));
      }
    }
    total += sample.size();
  }
  e.source = x;
  e.samples.assign(samples.begin(), samples.end());
  e.samples_stale = false;
  e.total = total;
  e.handed = true;
  return absl::OkStatus();
}

void RecordSampleEvents(const float* sample, int64_t rows, int64_t steps, SampleEvents* out) {
  out->Clear();
  for (int64_t r = 0; r < rows; ++r) out->AddRow(sample + r * steps, steps);
}
DenseEvents::~DenseEvents() = default;

namespace {

// Fills e->by_time from e->samples (samples in parallel).
void TransposeSamples(const DenseGeometry& g, DenseEvents::Impl* e) {
  if (static_cast<int64_t>(e->by_time.size()) < g.batch) e->by_time.resize(g.batch);
  internal::ParallelFor(g.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) e->by_time[n].AssignTransposed(e->samples[n], g.steps);
  });
}

// Dense-layer inputs are spike trains, mostly zeros: below EventThreshold
// the event-driven kernels (work ~ nonzeros x O) beat the GEMM (I x T x O).
// Both compute the same sums up to rounding. Records x's nonzeros per sample
// (samples in parallel) and returns whether they are few enough; a shared
// count stops the scan once the threshold is certainly passed, so the answer
// depends only on the total.

bool RecordEvents(const DenseGeometry& g, const Tensor& x, bool keep, DenseEvents::Impl* e) {
  WriteUnwritten(e);  // x may be the source; else the source stays described by nothing
  e->source = keep ? x : Tensor();
  e->samples_stale = false;
  const double budget = internal::EventThreshold(g.outputs) * static_cast<double>(x.numel());
  e->sparse =
      internal::RecordSampleRows(x.data(), g.batch, g.inputs, g.steps, budget, &e->samples);
  if (e->sparse) TransposeSamples(g, e);
  return e->sparse;
}

// Takes the events handed over for x into `e` (once), sparse by this op's
// threshold; false when none were handed over for x.
bool TakeHandedEvents(const DenseGeometry& g, const Tensor& x, DenseEvents::Impl* e) {
  if (!e->handed) return false;
  e->handed = false;
  const int64_t held =
      static_cast<int64_t>(e->samples_stale ? e->by_time.size() : e->samples.size());
  if (!Describes(e->source, x) || held < g.batch) {
    WriteUnwritten(e);
    e->source = Tensor();  // never taken: they describe nothing usable now
    return false;
  }
  const double budget = internal::EventThreshold(g.outputs) * static_cast<double>(x.numel());
  e->sparse = static_cast<double>(e->total) < budget;
  if (!e->sparse) WriteUnwritten(e);  // the dense kernels read x
  if (e->sparse && !e->samples_stale) TransposeSamples(g, e);
  return true;
}

// Makes e->samples from e->by_time when they are stale (samples in
// parallel).
void EnsureSamples(const DenseGeometry& g, DenseEvents::Impl* e) {
  if (!e->samples_stale) return;
  if (static_cast<int64_t>(e->samples.size()) < g.batch) e->samples.resize(g.batch);
  internal::ParallelFor(g.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) e->samples[n].AssignTransposed(e->by_time[n], g.inputs);
  });
  e->samples_stale = false;
}

// The events of x in `e`: those handed over for it, else recorded.
bool TakeOrRecordEvents(const DenseGeometry& g, const Tensor& x, bool keep,
                        DenseEvents::Impl* e) {
  if (keep && TakeHandedEvents(g, x, e)) return e->sparse;
  return RecordEvents(g, x, keep, e);
}

// Tasks of ScatterPanels per sample: runs of panels (more than one only when
// samples are few).
int64_t PanelRuns(const DenseGeometry& g) {
  return NumBlocks(internal::NumPanels(g.outputs), (2 * Threads() + g.batch - 1) / g.batch, 1);
}

// Events recorded for one call when the caller keeps none: one per thread,
// reused (steady-state calls allocate nothing).
DenseEvents::Impl& CallEvents() {
  thread_local DenseEvents local;
  return local.impl();
}

// The events of x: `cached` when it describes x, else recorded in
// CallEvents().
DenseEvents::Impl& EventsFor(const DenseGeometry& g, const Tensor& x, DenseEvents* cached) {
  if (cached != nullptr) {
    DenseEvents::Impl& c = cached->impl();
    if (c.handed) {
      // Handed over and not taken by a forward yet: taken now (their
      // sparseness and by_time are those of the events before).
      if (TakeHandedEvents(g, x, &c)) return c;
    } else if (Describes(c.source, x)) {
      return c;
    }
  }
  RecordEvents(g, x, /*keep=*/false, &CallEvents());
  return CallEvents();
}

// W X[n] for sparse X: column t sums x[i, t] W[:, i] over the inputs i that
// spiked at t (e.by_time).
// Per (sample, panel of 32 outputs) the column block accumulates as rows of
// a T x 32 buffer (in L1), handed to finish(n, o0, width, acc): the panel's
// first output and its number of outputs (<= 32). Tasks: (sample, run of
// panels); runs only split when samples are few.
template <typename Finish>
void ScatterPanels(const DenseGeometry& g, const DenseEvents::Impl& e, const float* ws,
                   Finish&& finish) {
  using internal::kPanel;
  const int64_t panels = internal::NumPanels(g.outputs);
  float* packed = internal::Scratch(internal::kScratchCaller, panels * g.inputs * kPanel);
  internal::PackPanels(ws, g.outputs, g.inputs, g.inputs, packed);
  const int64_t runs = PanelRuns(g);
  const int64_t per_run = (panels + runs - 1) / runs;
  // A chunk of tasks runs panel by panel, each panel for all the chunk's
  // samples while it is in L2 (the packed W is larger than L2); each sample
  // still gets its panels in increasing order. Chunks of at least four
  // samples' tasks (fewer when that would leave a thread none), so that each
  // panel is read once per four samples or more.
  const int64_t grain =
      std::max<int64_t>(1, std::min<int64_t>(4 * runs, g.batch * runs / Threads()));
  internal::ParallelFor(g.batch * runs, grain, [&](int64_t begin, int64_t end) {
    float* acc = internal::Scratch(internal::kScratchA, g.steps * kPanel);
    for (int64_t p = 0; p < panels; ++p) {
      const float* panel = packed + p * g.inputs * kPanel;
      const int64_t o0 = p * kPanel;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t p0 = (task % runs) * per_run;
        if (p < p0 || p >= std::min(panels, p0 + per_run)) continue;
        const int64_t n = task / runs;
        // Row t of acc sums the weights of the inputs that spiked at t, in
        // increasing input (with AVX-512 as interleaved chains of events).
        internal::GatherRows(e.by_time[n], 0, g.steps, panel, /*accumulate=*/false, acc);
        finish(n, o0, std::min(kPanel, g.outputs - o0), acc);
      }
    }
  });
}

// Y[n] = W X[n] for sparse X, each panel transposed into Y.
void SparseForward(const DenseGeometry& g, const DenseEvents::Impl& e, const float* ws,
                   float* ys) {
  ScatterPanels(g, e, ws, [&](int64_t n, int64_t o0, int64_t width, const float* acc) {
    internal::StorePanelTransposed(acc, g.steps, width, ys + (n * g.outputs + o0) * g.steps,
                                   g.steps);
  });
}

// SparseForward followed by the psp recursion and the spikes on each panel
// while it is in L1: u = psp(W X[n]), then s = spike(u) when s is not null.
// With s_events, each panel's spike masks go to s_events->masks, and s is
// only written from them when write_s.
// With u_panels, u goes there time-major per panel (contiguous, streamed)
// instead of into us.
void SparseSpikingForward(const DenseGeometry& g, const DenseEvents::Impl& e, const float* ws,
                          const internal::AlphaRecursion& alpha, const DenseNeuron& neuron,
                          float* us, float* ss, bool write_s, DenseEvents::Impl* s_events,
                          float* u_panels) {
  const int64_t panels = internal::NumPanels(g.outputs);
  const float amplitude = 1.0f / neuron.ts;
  ScatterPanels(g, e, ws, [&](int64_t n, int64_t o0, int64_t width, float* acc) {
    float* hist = internal::Scratch(internal::kScratchB, g.steps * internal::kPanel);
    internal::AlphaPanel(alpha, g.steps, /*backward=*/false, acc, hist);
    const int64_t offset = (n * g.outputs + o0) * g.steps;
    if (ss != nullptr) {
      // The spike masks (steps of them): in s_events, else in hist (steps *
      // 32 floats), which the recursion is done with.
      uint32_t* masks =
          s_events != nullptr
              ? s_events->masks.data() + (n * panels + o0 / internal::kPanel) * g.steps
              : reinterpret_cast<uint32_t*>(hist);
      internal::SpikePanelMasks(acc, g.steps, width, neuron.nu, neuron.theta, masks);
      if (write_s) internal::WriteSpikesFromMasks(masks, g.steps, width, amplitude, ss + offset);
    }
    if (u_panels != nullptr) {
      internal::StreamCopy(acc, g.steps * internal::kPanel,
                           u_panels + (n * panels + o0 / internal::kPanel) * g.steps *
                                          internal::kPanel);
    } else {
      internal::StorePanelTransposed(acc, g.steps, width, us + offset, g.steps);
    }
  });
}

// The blocks SparseWeightGradient splits the inputs into, so that with its
// panels of 32 outputs the threads have about four tasks each: more than one
// only when the panels are too few.
int64_t WeightGradientInputBlocks(const DenseGeometry& g) {
  const int64_t panels = std::max<int64_t>(1, internal::NumPanels(g.outputs));
  return NumBlocks(g.inputs, (4 * Threads() + panels - 1) / panels, 16);
}

// grad_W = sum_n grad_Y[n] X[n]^T for sparse X: every nonzero x[n, i, t]
// adds x * grad_Y[n][:, t] to column i of grad_W. Tasks own disjoint parts
// of grad_W and sum the samples in order (no reduction across threads); per
// panel of 32 outputs the accumulator of one input stays in registers.
// With more than one block of inputs it reads e.samples (EnsureSamples).
void SparseWeightGradient(const DenseGeometry& g, const DenseEvents::Impl& e, const float* gys,
                          float* gws) {
  using internal::kPanel;
  const int64_t panels = internal::NumPanels(g.outputs);
  const int64_t panel_size = g.steps * kPanel;  // one panel of grad_Y[n]^T
  float* packed =
      internal::Scratch(internal::kScratchCaller2, g.batch * panels * panel_size);
  for (int64_t n = 0; n < g.batch; ++n) {
    internal::PackPanels(gys + n * g.outputs * g.steps, g.outputs, g.steps, g.steps,
                         packed + n * panels * panel_size);
  }
  // Tasks own (panel, block of inputs): per sample, the task reads its panel
  // of grad_Y[n]^T once (in cache while all its inputs' events gather from
  // it) into an accumulator that stays in L2.
  const int64_t blocks = WeightGradientInputBlocks(g);
  const int64_t per_block = (g.inputs + blocks - 1) / blocks;
  internal::ParallelFor(panels * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p = task / blocks;
      const int64_t i0 = (task % blocks) * per_block;
      const int64_t rows = std::min(per_block, g.inputs - i0);
      if (rows <= 0) continue;
      // acc[r][k] = grad_W[p*32 + k][i0 + r]
      float* acc = internal::Scratch(internal::kScratchA, rows * kPanel);
      std::fill(acc, acc + rows * kPanel, 0.0f);
      for (int64_t n = 0; n < g.batch; ++n) {
        const float* panel = packed + (n * panels + p) * panel_size;
        if (blocks == 1) {
          // All inputs: along time, each step's row of grad_Y^T added to the
          // inputs that spiked then (per input, the sums of the other path in
          // the same order: grad_W does not depend on the thread count).
          internal::ScatterRows(e.by_time[n], 0, g.steps, panel, acc);
        } else {
          internal::GatherRows(e.samples[n], i0, i0 + rows, panel, /*accumulate=*/true, acc);
        }
      }
      const int64_t o0 = p * kPanel;
      internal::StorePanelTransposed(acc, rows, std::min(kPanel, g.outputs - o0),
                                     gws + o0 * g.inputs + i0, g.inputs);
    }
  });
}

// Panels of grad_W per SparseWeightGradient task when they alone give the
// threads enough tasks (one block of inputs); else 0.
int64_t WholeInputPanels(const DenseGeometry& g) {
  return g.outputs > 0 && WeightGradientInputBlocks(g) == 1 ? internal::NumPanels(g.outputs)
                                                            : 0;
}

// panel[t * 32 + k] = sum_c wn[c * outputs + o0 + k] * gz[c * steps + t] for
// k < width (zero past it), c < classes in increasing order with one FMA
// each from zero: what Gemm gives grad_s = Wn^T grad_z element by element.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#define SLAYER_DENSE_AVX512 1
__attribute__((target("avx512f"))) void FactorPanel16(const float* wn, int64_t classes,
                                                       int64_t outputs, int64_t o0,
                                                       int64_t width, const float* gz,
                                                       int64_t steps, float* panel) {
  const uint32_t bits = width >= 32 ? 0xffffffffu : ((uint32_t{1} << width) - 1);
  const __mmask16 m0 = static_cast<__mmask16>(bits & 0xffff);
  const __mmask16 m1 = static_cast<__mmask16>(bits >> 16);
  // Four steps at a time: eight independent chains of FMAs (one chain per
  // step would wait on each FMA's latency); each sum still runs over c in
  // order from zero.
  int64_t t = 0;
  for (; t + 4 <= steps; t += 4) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
           a30 = a00, a31 = a00;
    for (int64_t c = 0; c < classes; ++c) {
      const float* row = wn + c * outputs + o0;
      const __m512 w0 = _mm512_maskz_loadu_ps(m0, row), w1 = _mm512_maskz_loadu_ps(m1, row + 16);
      const float* g = gz + c * steps + t;
      const __m512 v0 = _mm512_set1_ps(g[0]), v1 = _mm512_set1_ps(g[1]),
                   v2 = _mm512_set1_ps(g[2]), v3 = _mm512_set1_ps(g[3]);
      a00 = _mm512_fmadd_ps(v0, w0, a00);
      a01 = _mm512_fmadd_ps(v0, w1, a01);
      a10 = _mm512_fmadd_ps(v1, w0, a10);
      a11 = _mm512_fmadd_ps(v1, w1, a11);
      a20 = _mm512_fmadd_ps(v2, w0, a20);
      a21 = _mm512_fmadd_ps(v2, w1, a21);
      a30 = _mm512_fmadd_ps(v3, w0, a30);
      a31 = _mm512_fmadd_ps(v3, w1, a31);
    }
    float* out = panel + t * internal::kPanel;
    _mm512_storeu_ps(out, a00);
    _mm512_storeu_ps(out + 16, a01);
    _mm512_storeu_ps(out + 32, a10);
    _mm512_storeu_ps(out + 48, a11);
    _mm512_storeu_ps(out + 64, a20);
    _mm512_storeu_ps(out + 80, a21);
    _mm512_storeu_ps(out + 96, a30);
    _mm512_storeu_ps(out + 112, a31);
  }
  for (; t < steps; ++t) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (int64_t c = 0; c < classes; ++c) {
      const float* row = wn + c * outputs + o0;
      const __m512 v = _mm512_set1_ps(gz[c * steps + t]);
      a0 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m0, row), a0);
      a1 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m1, row + 16), a1);
    }
    _mm512_storeu_ps(panel + t * internal::kPanel, a0);
    _mm512_storeu_ps(panel + t * internal::kPanel + 16, a1);
  }
}
#endif

void FactorPanel(const float* wn, int64_t classes, int64_t outputs, int64_t o0, int64_t width,
                 const float* gz, int64_t steps, float* panel) {
#ifdef SLAYER_DENSE_AVX512
  if (internal::FastGemmAvailable()) {  // the GEMM's kernel: its sums
    FactorPanel16(wn, classes, outputs, o0, width, gz, steps, panel);
    return;
  }
#endif
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t k = 0; k < internal::kPanel; ++k) {
      float acc = 0.0f;
      if (k < width) {
        for (int64_t c = 0; c < classes; ++c) {
          acc = std::fma(gz[c * steps + t], wn[c * outputs + o0 + k], acc);
        }
      }
      panel[t * internal::kPanel + k] = acc;
    }
  }
}

// SurrogatePspBackward and SparseWeightGradient in one pass (the events'
// by_time; WholeInputPanels(g) > 0): per (panel of 32 outputs, sample), the
// surrogate of the panel's rows of grad_s and u, transposed time-major, goes
// through the psp recursion and is scattered into grad_W's panel while in
// cache. grad_z (gzs, when not null) is stored from the panel. The same
// operations per element in the same order as the two.
// u is read from us (rows) or, when not null, from u_panels (time-major
// panels, as DenseSpikingForward writes them); then grad_s's panel is made
// first (transposed from gss, or computed from `factor`, which needs
// u_panels) and the surrogate taken there (the same values: the surrogate of
// an element does not depend on where it sits).
// With gs_panels, gss is panels [N, P, T, 32] as u_panels (read as they
// are; needs u_panels); with gz_panels, grad_z is stored so (streamed).
void SpikingWeightGradient(const DenseGeometry& g, const DenseEvents::Impl& e,
                           const float* gss, bool gs_panels, const DenseGradFactor* factor,
                           const float* us, const float* u_panels,
                           const SurrogateParams& surrogate, const internal::AlphaRecursion& alpha,
                           float* gzs, bool gz_panels, float* gws) {
  const int64_t classes = factor != nullptr ? factor->w->dim(0) : 0;
  using internal::kPanel;
  const int64_t panels = internal::NumPanels(g.outputs);
  internal::ParallelFor(panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t o0 = p * kPanel;
      const int64_t width = std::min(kPanel, g.outputs - o0);
      // acc[i][k] = grad_W[o0 + k][i]
      float* acc = internal::Scratch(internal::kScratchA, g.inputs * kPanel);
      std::fill(acc, acc + g.inputs * kPanel, 0.0f);
      float* rows = internal::Scratch(internal::kScratchB, 2 * g.steps * kPanel);
      float* panel = rows + g.steps * kPanel;  // hist of the recursion after the transpose
      for (int64_t n = 0; n < g.batch; ++n) {
        const int64_t offset = (n * g.outputs + o0) * g.steps;
        if (u_panels != nullptr) {
          const float* gs = panel;
          if (factor != nullptr) {
            FactorPanel(factor->w->data(), classes, g.outputs, o0, width,
                        factor->grad_z->data() + n * classes * g.steps, g.steps, panel);
          } else if (gs_panels) {
            gs = gss + (n * panels + p) * g.steps * kPanel;
          } else {
            internal::PackPanels(gss + offset, width, g.steps, g.steps, panel);  // inline
          }
          internal::SurrogateRows(surrogate, gs, u_panels + (n * panels + p) * g.steps * kPanel,
                                  g.steps * kPanel, panel);
        } else {
          internal::SurrogateRows(surrogate, gss + offset, us + offset, width * g.steps, rows);
          internal::PackPanels(rows, width, g.steps, g.steps, panel);  // inline in a task
        }
        internal::AlphaPanel(alpha, g.steps, /*backward=*/true, panel, rows);
        internal::ScatterRows(e.by_time[n], 0, g.steps, panel, acc);
        if (gzs != nullptr && gz_panels) {
          internal::StreamCopy(panel, g.steps * kPanel, gzs + (n * panels + p) * g.steps * kPanel);
        } else if (gzs != nullptr) {
          internal::StorePanelTransposed(panel, g.steps, width, gzs + offset, g.steps);
        }
      }
      internal::StorePanelTransposed(acc, g.inputs, width, gws + o0 * g.inputs, g.inputs);
    }
  });
}

// The factor of grad_s for geometry g: w [C, O], grad_z [N, C, 1, 1, T]
// (host).
absl::Status CheckGradFactor(const char* op, const DenseGradFactor& f, const DenseGeometry& g) {
  if (f.w == nullptr || f.grad_z == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": grad_s factor without w or grad_z"));
  }
  if (f.w->rank() != 2 || f.w->dim(1) != g.outputs || f.w->dim(0) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": grad_s factor w: expected [C, ",
                                                   g.outputs, "], got ",
                                                   ShapeString(f.w->shape())));
  }
  SLAYER_RETURN_IF_ERROR(CheckShape(*f.grad_z, {g.batch, f.w->dim(0), 1, 1, g.steps},
                                    absl::StrCat(op, ": grad_s factor grad_z")));
  return CheckSameDevice(Device::kCpu, {{"grad_s factor w", f.w}, {"grad_s factor grad_z",
                                                                   f.grad_z}});
}

// grad_s = w^T grad_z per sample, as DenseBackward computes an input
// gradient.
absl::Status GradFactorToRows(const DenseGradFactor& f, const DenseGeometry& g, Tensor* out) {
  SLAYER_RETURN_IF_ERROR(EnsureShape(out, g.y_shape(), Device::kCpu));
  const int64_t classes = f.w->dim(0);
  const bool fast_gemm = internal::FastGemmAvailable();
  const float* packed = nullptr;
  if (fast_gemm) {
    float* buffer = internal::Scratch(internal::kScratchCaller,
                                      internal::PackedGemmASize(g.outputs, classes));
    internal::PackGemmA(g.outputs, classes, {f.w->data(), 1, g.outputs}, buffer);
    packed = buffer;
  }
  internal::ParallelFor(g.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* gz = f.grad_z->data() + n * classes * g.steps;
      float* gs = out->data() + n * g.outputs * g.steps;
      if (fast_gemm) {
        internal::GemmPackedA(g.outputs, g.steps, classes, packed, g.outputs, 0,
                              {gz, g.steps, 1}, gs, g.steps, /*accumulate=*/false);
      } else {
        MutableMap(gs, g.outputs, g.steps).noalias() =
            ConstMap(f.w->data(), classes, g.outputs).transpose() *
            ConstMap(gz, classes, g.steps);
      }
    }
  });
  return absl::OkStatus();
}

// grad_x as panels [N, P, T, 32] of the inputs (P = NumPanels(I);
// gx[n][p][t][k] = sum_o W[o][32p + k] grad_z[n][o][t], zero past I) from
// grad_z as panels of the outputs: per sample (and block of steps when
// samples are few) C (T x I) = grad_z^T (T x O) W (O x I), A and C as panels,
// W packed once. Each element is the sum DenseBackward's grad_x has (the
// same products in the same order), or with AMX (internal::AmxGemmAvailable())
// that sum in bf16x3. Requires FastGemmAvailable().
void InputGradPanels(const DenseGeometry& g, const float* ws, const float* gz_panels,
                     float* gx_panels) {
  using internal::kPanel;
  float* packed = internal::Scratch(internal::kScratchCaller,
                                    internal::PackedGemmBSize(g.outputs, g.inputs));
  internal::PackGemmB(g.outputs, g.inputs, {ws, g.inputs, 1}, packed);
  const int64_t in_size = internal::NumPanels(g.outputs) * g.steps * kPanel;
  const int64_t out_size = internal::NumPanels(g.inputs) * g.steps * kPanel;
  ForEachSampleBlock(
      g, g.steps, 32, internal::GemmPanelsRowUnit(), [&](int64_t n, int64_t t0, int64_t rows) {
        internal::GemmPanels(rows, g.inputs, g.outputs,
                             {gz_panels + n * in_size + t0 * kPanel, g.steps * kPanel}, packed,
                             gx_panels + n * out_size + t0 * kPanel, g.steps * kPanel);
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

// The events are a host-side shortcut: the host implementation takes them
// when it is the one registered for the host; other devices dispatch as usual.
absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y, DenseEvents* events) {
  const DenseForwardFn host = &cpu::DenseForward;
  if (events == nullptr || !x.is_cpu() || DenseForwardDispatch().Lookup(Device::kCpu) != host) {
    return DenseForward(x, w, y);
  }
  return cpu::DenseForward(x, w, y, events);
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w, DenseEvents* events) {
  const DenseBackwardFn host = &cpu::DenseBackward;
  if (events == nullptr || !x.is_cpu() || DenseBackwardDispatch().Lookup(Device::kCpu) != host) {
    return DenseBackward(x, w, grad_y, grad_x, grad_w);
  }
  return cpu::DenseBackward(x, w, grad_y, grad_x, grad_w, events);
}

namespace cpu {

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y) {
  return DenseForward(x, w, y, nullptr);
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w) {
  return DenseBackward(x, w, grad_y, grad_x, grad_w, nullptr);
}

absl::Status DenseForward(const Tensor& x, const Tensor& w, Tensor* y, DenseEvents* events) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(y, "DenseForward", "y"));
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckDenseArgs("DenseForward", x, w));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(y, g.y_shape(), Device::kCpu));
  if (y->numel() == 0) return absl::OkStatus();
  if (g.inputs == 0) {
    y->SetZero();
    return absl::OkStatus();
  }
  DenseEvents::Impl& e = events != nullptr ? events->impl() : CallEvents();
  if (TakeOrRecordEvents(g, x, /*keep=*/events != nullptr, &e)) {
    SparseForward(g, e, w.data(), y->data());
    return absl::OkStatus();
  }
  // One GEMM per task, Y[n] (O x T) = W (O x I) * X[n] (I x T); with fewer
  // samples than threads the rows of W are split too.
  const ConstMap weight(w.data(), g.outputs, g.inputs);
  const float* xs = x.data();
  float* ys = y->data();
  const bool fast_gemm = internal::FastGemmAvailable();
  ForEachSampleBlock(g, g.outputs, 32, 1, [&](int64_t n, int64_t o0, int64_t rows) {
    const float* xn = xs + n * g.inputs * g.steps;
    float* yn = ys + n * g.outputs * g.steps;
    if (fast_gemm) {
      internal::Gemm(rows, g.steps, g.inputs, {w.data() + o0 * g.inputs, g.inputs, 1},
                     {xn, g.steps, 1}, yn + o0 * g.steps, g.steps, /*accumulate=*/false);
      return;
    }
    const ConstMap input(xn, g.inputs, g.steps);
    MutableMap output(yn, g.outputs, g.steps);
    output.middleRows(o0, rows).noalias() = weight.middleRows(o0, rows) * input;
  });
  return absl::OkStatus();
}

absl::Status DenseSpikingForward(const Tensor& x, const Tensor& w, const DenseNeuron& neuron,
                                 Tensor* u, Tensor* s, DenseEvents* events, Tensor* scratch,
                                 DenseEvents* s_events, Tensor* u_panels, bool s_on_demand) {
  constexpr char kOp[] = "DenseSpikingForward";
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(u, kOp, "u"));
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(scratch, kOp, "scratch"));
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckDenseArgs(kOp, x, w));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseSpikingForward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(neuron.ts, kOp));
  if (s != nullptr) {
    if (!std::isfinite(neuron.theta)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": theta must be finite, got ", neuron.theta));
    }
    const auto shared = [](const Tensor* a, const Tensor* b) {
      return a == b || (!a->empty() && !b->empty() && a->SharesStorageWith(*b));
    };
    if (shared(s, u) || shared(s, scratch) || shared(u, scratch)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": u, s and scratch must be different tensors (not sharing storage)"));
    }
  }
  // s is about to be written (or left to s_events again): what s_events
  // held of it goes.
  if (s_events != nullptr) s_events->DropHandOver();
  const internal::TemporalFilter filter(neuron.eps, neuron.ts, g.steps);
  DenseEvents::Impl& e = events != nullptr ? events->impl() : CallEvents();
  const bool fused = g.inputs > 0 && g.outputs > 0 && g.steps > 0 && filter.alpha() != nullptr &&
                     TakeOrRecordEvents(g, x, /*keep=*/events != nullptr, &e);
  if (!fused) {  // the three ops in turn (the events, if any, stay recorded)
    if (u_panels != nullptr) *u_panels = Tensor();
    SLAYER_RETURN_IF_ERROR(cpu::DenseForward(x, w, scratch, events));
    SLAYER_RETURN_IF_ERROR(cpu::PspForward(*scratch, neuron.eps, neuron.ts, u));
    if (s == nullptr) return absl::OkStatus();
    return cpu::SpikeForward(u, neuron.nu, neuron.theta, neuron.ts, s);
  }
  float* panels_out = nullptr;
  if (u_panels != nullptr && s != nullptr && WholeInputPanels(g) > 0) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(
        u_panels, {g.batch, internal::NumPanels(g.outputs), g.steps, internal::kPanel},
        Device::kCpu));
    panels_out = u_panels->data();
  } else {
    if (u_panels != nullptr) *u_panels = Tensor();
    SLAYER_RETURN_IF_ERROR(EnsureShape(u, g.y_shape(), Device::kCpu));
  }
  if (s != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(s, g.y_shape(), Device::kCpu));
  DenseEvents::Impl* hand = nullptr;
  const int64_t panels = internal::NumPanels(g.outputs);
  if (s != nullptr && s_events != nullptr) {
    hand = &s_events->impl();
    hand->masks.resize(g.batch * panels * g.steps);
  }
  const bool on_demand = s_on_demand && hand != nullptr;
  SparseSpikingForward(g, e, w.data(), *filter.alpha(), neuron,
                       panels_out != nullptr ? nullptr : u->data(),
                       s != nullptr ? s->data() : nullptr, !on_demand, hand, panels_out);
  if (hand != nullptr) {
    // The events of s, by time from the masks (samples in parallel).
    if (static_cast<int64_t>(hand->by_time.size()) < g.batch) hand->by_time.resize(g.batch);
    const float amplitude = 1.0f / neuron.ts;
    internal::ParallelFor(g.batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        hand->by_time[n].AssignFromMasks(hand->masks.data() + n * panels * g.steps, g.steps,
                                         panels, g.steps, amplitude);
      }
    });
    hand->source = *s;
    hand->total = 0;
    for (int64_t n = 0; n < g.batch; ++n) hand->total += hand->by_time[n].size();
    hand->samples_stale = true;
    hand->unwritten = on_demand;
    hand->amplitude = amplitude;
    hand->handed = true;
  }
  return absl::OkStatus();
}

absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_y,
                           Tensor* grad_x, Tensor* grad_w, DenseEvents* events) {
  SLAYER_ASSIGN_OR_RETURN(DenseGeometry g, CheckBackwardArgs("DenseBackward", x, w, grad_y));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseBackward: x", &x}}));
  const ConstMap weight(w.data(), g.outputs, g.inputs);
  const float* xs = x.data();
  const float* gys = grad_y.data();
  const bool fast_gemm = internal::FastGemmAvailable();
  if (grad_x != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_x, x.shape(), Device::kCpu));
    if (g.outputs == 0) {
      grad_x->SetZero();
    } else if (grad_x->numel() > 0) {
      // grad_X[n] (I x T) = W^T (I x O) * grad_Y[n] (O x T): grad_Y is dense.
      // Blocks of rows start at the packing's row blocks.
      float* gxs = grad_x->data();
      // W^T packed once for all samples (A(i, o) = W[o, i]).
      const float* packed_wt = nullptr;
      if (fast_gemm) {
        float* packed = internal::Scratch(internal::kScratchCaller,
                                          internal::PackedGemmASize(g.inputs, g.outputs));
        internal::PackGemmA(g.inputs, g.outputs, {w.data(), 1, g.inputs}, packed);
        packed_wt = packed;
      }
      ForEachSampleBlock(g, g.inputs, 32, fast_gemm ? internal::kGemmRowBlock : 1,
                         [&](int64_t n, int64_t i0, int64_t rows) {
                           const float* gyn = gys + n * g.outputs * g.steps;
                           float* gxn = gxs + n * g.inputs * g.steps;
                           if (fast_gemm) {
                             internal::GemmPackedA(rows, g.steps, g.outputs, packed_wt, g.inputs,
                                                   i0, {gyn, g.steps, 1}, gxn + i0 * g.steps,
                                                   g.steps, /*accumulate=*/false);
                             return;
                           }
                           const ConstMap gy(gyn, g.outputs, g.steps);
                           MutableMap gx(gxn, g.inputs, g.steps);
                           gx.middleRows(i0, rows).noalias() =
                               weight.middleCols(i0, rows).transpose() * gy;
                         });
    }
  }
  if (grad_w != nullptr) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCpu));
    if (g.batch == 0 || g.steps == 0) {
      grad_w->SetZero();
    } else if (DenseEvents::Impl* e = grad_w->numel() > 0 ? &EventsFor(g, x, events) : nullptr;
               e != nullptr && e->sparse) {
      if (WeightGradientInputBlocks(g) > 1) EnsureSamples(g, e);  // read by input
      SparseWeightGradient(g, *e, gys, grad_w->data());
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
          if (fast_gemm) {  // X[n]^T read in place: B(t, i) = X[n][i, t]
            for (int64_t n = 0; n < g.batch; ++n) {
              internal::Gemm(rows, g.inputs, g.steps,
                             {gys + (n * g.outputs + o0) * g.steps, g.steps, 1},
                             {xs + n * g.inputs * g.steps, 1, g.steps},
                             grad_w->data() + o0 * g.inputs, g.inputs, /*accumulate=*/n > 0);
            }
            continue;
          }
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

absl::Status DensePanelsToRows(const Tensor& u_panels, int64_t outputs, Tensor* u) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(u, "DensePanelsToRows", "u"));
  using internal::kPanel;
  if (u_panels.rank() != 4 || u_panels.dim(3) != kPanel || outputs < 0 ||
      u_panels.dim(1) != internal::NumPanels(outputs) || !u_panels.is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DensePanelsToRows: expected host panels [N, ", internal::NumPanels(outputs), ", T, ",
        kPanel, "] of ", outputs, " outputs, got ", ShapeString(u_panels.shape())));
  }
  const int64_t batch = u_panels.dim(0), panels = u_panels.dim(1), steps = u_panels.dim(2);
  SLAYER_RETURN_IF_ERROR(EnsureShape(u, {batch, outputs, 1, 1, steps}, Device::kCpu));
  const float* src = u_panels.data();
  float* dst = u->data();
  internal::ParallelFor(batch * panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / panels, p = task % panels;
      const int64_t o0 = p * kPanel;
      internal::StorePanelTransposed(src + task * steps * kPanel, steps,
                                     std::min(kPanel, outputs - o0),
                                     dst + (n * outputs + o0) * steps, steps);
    }
  });
  return absl::OkStatus();
}

bool DenseGradPanelsDirect() { return internal::FastGemmAvailable(); }

absl::Status DenseSpikingBackward(const Tensor& x, const Tensor& w, const DenseNeuron& neuron,
                                  const SurrogateParams& surrogate, const Tensor& u,
                                  const Tensor& grad_s, Tensor* grad_z, Tensor* grad_x,
                                  Tensor* grad_w, DenseEvents* events, const Tensor* u_panels,
                                  const DenseGradFactor* grad_s_factor, bool keep_grad_z,
                                  bool grad_x_panels) {
  constexpr char kOp[] = "DenseSpikingBackward";
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_z, kOp, "grad_z"));
  DenseGeometry g;
  const bool gs_panels = grad_s_factor == nullptr && grad_s.rank() == 4;
  if (gs_panels) {
    SLAYER_ASSIGN_OR_RETURN(g, CheckDenseArgs(kOp, x, w));
    SLAYER_RETURN_IF_ERROR(CheckShape(
        grad_s, {g.batch, internal::NumPanels(g.outputs), g.steps, internal::kPanel},
        absl::StrCat(kOp, ": grad_s (panels)")));
    SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseSpikingBackward: grad_s",
                                                           &grad_s}}));
  } else if (grad_s_factor == nullptr) {
    SLAYER_ASSIGN_OR_RETURN(g, CheckBackwardArgs(kOp, x, w, grad_s));
  } else {
    SLAYER_ASSIGN_OR_RETURN(g, CheckDenseArgs(kOp, x, w));
    SLAYER_RETURN_IF_ERROR(CheckGradFactor(kOp, *grad_s_factor, g));
  }
  if (u_panels != nullptr && u_panels->empty()) u_panels = nullptr;
  if (u_panels != nullptr) {
    SLAYER_RETURN_IF_ERROR(CheckShape(
        *u_panels, {g.batch, internal::NumPanels(g.outputs), g.steps, internal::kPanel},
        absl::StrCat(kOp, ": u_panels")));
    SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseSpikingBackward: u_panels",
                                                           u_panels}}));
  } else {
    SLAYER_RETURN_IF_ERROR(CheckShape(u, g.y_shape(), absl::StrCat(kOp, ": u")));
    SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseSpikingBackward: u", &u}}));
  }
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"DenseSpikingBackward: x", &x}}));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(neuron.ts, kOp));
  if (grad_z == &u || grad_z == &grad_s || grad_z == grad_x || grad_z == grad_w ||
      (!grad_z->empty() && (grad_z->SharesStorageWith(u) || grad_z->SharesStorageWith(grad_s)))) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": grad_z must not share storage with u, grad_s or the gradients"));
  }
  const internal::TemporalFilter filter(neuron.eps, neuron.ts, g.steps);
  const DenseEvents::Impl* e = nullptr;
  if (grad_w != nullptr && filter.alpha() != nullptr && g.batch > 0 && g.inputs > 0 &&
      g.outputs > 0 && g.steps > 0 && WholeInputPanels(g) > 0) {
    e = &EventsFor(g, x, events);
    if (!e->sparse) e = nullptr;
  }
  if (e == nullptr || ((grad_s_factor != nullptr || gs_panels) && u_panels == nullptr)) {
    // The two ops in turn (u and grad_s as rows).
    Tensor rows, gs_rows;
    if (u_panels != nullptr) SLAYER_RETURN_IF_ERROR(DensePanelsToRows(*u_panels, g.outputs, &rows));
    if (grad_s_factor != nullptr) {
      SLAYER_RETURN_IF_ERROR(GradFactorToRows(*grad_s_factor, g, &gs_rows));
    } else if (gs_panels) {
      SLAYER_RETURN_IF_ERROR(DensePanelsToRows(grad_s, g.outputs, &gs_rows));
    }
    SLAYER_RETURN_IF_ERROR(cpu::SurrogatePspBackward(
        grad_s_factor != nullptr || gs_panels ? gs_rows : grad_s, u_panels != nullptr ? rows : u,
        surrogate, neuron.eps, neuron.ts, grad_z));
    return cpu::DenseBackward(x, w, *grad_z, grad_x, grad_w, events);  // grad_x as rows
  }
  SLAYER_RETURN_IF_ERROR(internal::CheckSurrogate(kOp, surrogate));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_w, w.shape(), Device::kCpu));
  const bool store_z = grad_x != nullptr || keep_grad_z;
  // grad_z kept as rows; else, for grad_x as panels (with the AVX-512 GEMM,
  // which reads them), stored as panels.
  const bool z_panels =
      store_z && !keep_grad_z && grad_x_panels && internal::FastGemmAvailable();
  if (store_z) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(
        grad_z,
        z_panels ? Shape{g.batch, internal::NumPanels(g.outputs), g.steps, internal::kPanel}
                 : g.y_shape(),
        Device::kCpu));
  }
  SpikingWeightGradient(g, *e, grad_s_factor != nullptr ? nullptr : grad_s.data(), gs_panels,
                        grad_s_factor, u_panels != nullptr ? nullptr : u.data(),
                        u_panels != nullptr ? u_panels->data() : nullptr, surrogate,
                        *filter.alpha(), store_z ? grad_z->data() : nullptr, z_panels,
                        grad_w->data());
  if (grad_x == nullptr) return absl::OkStatus();
  if (!z_panels) return cpu::DenseBackward(x, w, *grad_z, grad_x, nullptr, events);  // rows
  SLAYER_RETURN_IF_ERROR(EnsureShape(
      grad_x, {g.batch, internal::NumPanels(g.inputs), g.steps, internal::kPanel}, Device::kCpu));
  InputGradPanels(g, w.data(), grad_z->data(), grad_x->data());
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
