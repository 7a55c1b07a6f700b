// Event-driven building blocks for ops whose input is a spike train (internal
// to slayer/ops). Spike tensors are mostly zeros, so dense and conv visit
// only their nonzeros ("events"), and update 32 outputs at a time from a
// 32-wide panel of weights or gradients held in registers.
//
//   EventRows& rows = ThreadEventRows();
//   rows.Clear();
//   rows.AddRow(x_row, length);                      // row 0: its nonzeros
//   ScatterPanel(rows.begin(0), rows.end(0), w32, acc, /*offset=*/0);
//   // acc[(e.index + offset) * 32 + k] += e.value * w32[k] for every event e
#ifndef SLAYER_OPS_EVENTS_H_
#define SLAYER_OPS_EVENTS_H_

#include <cstdint>
#include <vector>

namespace slayer {
namespace ops {
namespace internal {

// One nonzero: its position within its row and its value.
struct Event {
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

 private:
  std::vector<Event> events_;
  std::vector<int64_t> start_ = {0};
};

// A per-thread instance, reused across calls (no steady-state allocation).
EventRows& ThreadEventRows();

// The first event in [first, last) with index >= `index`.
const Event* LowerBound(const Event* first, const Event* last, int64_t index);

// Outputs per panel: four AVX registers.
constexpr int64_t kPanel = 32;
inline int64_t NumPanels(int64_t outputs) { return (outputs + kPanel - 1) / kPanel; }

// Whether fewer than `threshold` * n of x[0, n) are nonzero (counted in
// parallel; the answer depends only on the data).
bool MostlyZeros(const float* x, int64_t n, double threshold);
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

// acc[(e.index + offset) * 32 + k] += e.value * w[k] for k < 32 and every
// event in [first, last).
void ScatterPanel(const Event* first, const Event* last, const float* w, float* acc,
                  int64_t offset);
// acc[k] += e.value * g[(e.index + offset) * 32 + k] for k < 32, summed over
// the events in [first, last).
void GatherPanel(const Event* first, const Event* last, const float* g, int64_t offset,
                 float* acc);

}  // namespace internal
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_EVENTS_H_
