// Event-driven building blocks for ops whose input is a spike train (internal
// to slayer/ops). Spike tensors are mostly zeros, so dense and conv visit
// only their nonzeros ("events"), and update 32 outputs at a time from a
// 32-wide panel of weights or gradients held in registers.
//
//   EventRows rows;
//   rows.AddRow(x_row, length);                      // row 0: its nonzeros
//   ScatterPanel(rows.begin(0), rows.end(0), w32, acc, /*offset=*/0);
//   // acc[(e.index + offset) * 32 + k] += e.value * w32[k] for every event e
#ifndef SLAYER_OPS_EVENTS_H_
#define SLAYER_OPS_EVENTS_H_

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace slayer {
namespace ops {
namespace internal {

// One nonzero: its position within its row and its value.
struct Event {
  Event() {}  // left uninitialised: EventRows grows its buffer before writing
  Event(int32_t i, float v) : index(i), value(v) {}
  int32_t index;
  float value;
};

// The nonzeros of a list of rows (CSR), in increasing index within a row.
class EventRows {
 public:
  void Clear();
  // Appends the nonzeros of row[0, length) as the next row (length < 2^31).
  void AddRow(const float* row, int64_t length);
  int64_t rows() const { return static_cast<int64_t>(start_.size()) - 1; }
  int64_t size() const { return static_cast<int64_t>(events_.size()); }
  const Event* begin(int64_t r) const { return events_.data() + start_[r]; }
  const Event* end(int64_t r) const { return events_.data() + start_[r + 1]; }
  // value *= factor for every event.
  void ScaleValues(float factor);
  // Becomes the transpose of `in`, whose indices are < `length`: `length`
  // rows, row t holding in's events with index t, each with the row it came
  // from as its index (increasing). Allocates nothing once grown.
  void AssignTransposed(const EventRows& in, int64_t length);
  // Becomes `rows` rows of events of the bits of masks: row r holds index
  // w * 32 + b, with `value`, for every bit b of masks[w * word_stride + r]
  // (w < words), in increasing index. Allocates nothing once grown.
  void AssignFromMasks(const uint32_t* masks, int64_t rows, int64_t words, int64_t word_stride,
                       float value);

 private:
  std::vector<Event> events_;
  std::vector<int64_t> start_ = {0};
  std::vector<int64_t> cursor_;  // AssignTransposed's
};

// Records the nonzeros of x, `samples` blocks of `rows` rows of `length`
// (contiguous), into (*out)[n] per sample (samples in parallel; out grows to
// `samples`) and returns whether they total fewer than `budget`. A shared
// count stops the scan once they certainly do not, so the answer depends
// only on the data (and `out` is then incomplete).
bool RecordSampleRows(const float* x, int64_t samples, int64_t rows, int64_t length,
                      double budget, std::vector<EventRows>* out);

// The first event in [first, last) with index >= `index`.
const Event* LowerBound(const Event* first, const Event* last, int64_t index);

// Outputs per panel: four AVX registers.
constexpr int64_t kPanel = 32;
inline int64_t NumPanels(int64_t outputs) { return (outputs + kPanel - 1) / kPanel; }

// The density below which events beat a GEMM over `outputs` outputs: ~15%
// measured for full panels; a partial panel costs as much as a full one.
double EventThreshold(int64_t outputs);

// Packs rows [0, rows) of src (row r at src + r * row_stride, `cols` long)
// into panels: dst[(p * cols + c) * 32 + k] = src row p*32 + k, column c;
// zero past the last row. Runs on the thread pool (inline inside a task).
void PackPanels(const float* src, int64_t rows, int64_t cols, int64_t row_stride, float* dst);

// The transpose of a panel accumulator: dst[k * dst_stride + j] =
// acc[j * 32 + k] for k < width (<= 32), j < rows; blocked so that the rows
// read stay in L1.
void StorePanelTransposed(const float* acc, int64_t rows, int64_t width, float* dst,
                          int64_t dst_stride);

// y[k] += a * x[k] for k < 32 (the builds without AVX2).
inline void AddScaledPanel(float a, const float* x, float* y, int64_t n) {
  for (int64_t k = 0; k < n; ++k) y[k] = std::fma(a, x[k], y[k]);
}

// acc[(e.index + offset) * 32 + k] += e.value * w[k] for k < 32 and every
// event in [first, last). Inline: called once per (panel, input row).
inline void ScatterPanel(const Event* first, const Event* last, const float* w, float* acc,
                         int64_t offset) {
  if (first == last) return;  // hidden layers: most rows have no event
#if defined(__AVX2__) && defined(__FMA__)
  // The panel stays in registers across the events.
  const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8),
               w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
  for (const Event* e = first; e != last; ++e) {
    const __m256 v = _mm256_set1_ps(e->value);
    float* a = acc + (e->index + offset) * kPanel;
    _mm256_storeu_ps(a, _mm256_fmadd_ps(v, w0, _mm256_loadu_ps(a)));
    _mm256_storeu_ps(a + 8, _mm256_fmadd_ps(v, w1, _mm256_loadu_ps(a + 8)));
    _mm256_storeu_ps(a + 16, _mm256_fmadd_ps(v, w2, _mm256_loadu_ps(a + 16)));
    _mm256_storeu_ps(a + 24, _mm256_fmadd_ps(v, w3, _mm256_loadu_ps(a + 24)));
  }
#else
  for (const Event* e = first; e != last; ++e) {
    AddScaledPanel(e->value, w, acc + (e->index + offset) * kPanel, kPanel);
  }
#endif
}

// acc[k] += e.value * g[(e.index + offset) * 32 + k] for k < 32, summed over
// the events in [first, last).
inline void GatherPanel(const Event* first, const Event* last, const float* g, int64_t offset,
                        float* acc) {
  if (first == last) return;
#if defined(__AVX2__) && defined(__FMA__)
  // The accumulator stays in registers across the events.
  __m256 a0 = _mm256_loadu_ps(acc), a1 = _mm256_loadu_ps(acc + 8),
         a2 = _mm256_loadu_ps(acc + 16), a3 = _mm256_loadu_ps(acc + 24);
  for (const Event* e = first; e != last; ++e) {
    const __m256 v = _mm256_set1_ps(e->value);
    const float* row = g + (e->index + offset) * kPanel;
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
    AddScaledPanel(e->value, g + (e->index + offset) * kPanel, acc, kPanel);
  }
#endif
}

// ScatterPanel for the rows [r0, r1) of `events`, row r with the weights
// w + r * 32 (a packed panel): acc[e.index * 32 + k] += e.value * w[r * 32 + k].
// AVX-512 where WideKernelsEnabled(); the same sums, in
// the same order, as ScatterPanel row by row.
void ScatterRows(const EventRows& events, int64_t r0, int64_t r1, const float* w, float* acc);

// GatherPanel for the rows [r0, r1) of `events` into acc + (r - r0) * 32:
// acc[(r - r0) * 32 + k] += sum over row r's events of
// e.value * g[e.index * 32 + k]. AVX-512 as ScatterRows. With `accumulate`
// the same sums in the same order as GatherPanel row by row; without it,
// acc's rows are overwritten (as if zeroed first) and the AVX-512 variant
// sums the events in four (then two) interleaved chains (deterministic,
// equal up to rounding).
void GatherRows(const EventRows& events, int64_t r0, int64_t r1, const float* g, bool accumulate,
                float* acc);

}  // namespace internal
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_EVENTS_H_
