#include "slayer/ops/events.h"

#include <algorithm>
#include <atomic>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace internal {

void EventRows::Clear() {
  events_.clear();
  start_.assign(1, 0);
}

void EventRows::AddRow(const float* row, int64_t length) {
  ForEachNonzero(row, length, [&](int64_t i, float v) {
    events_.push_back({static_cast<int32_t>(i), v});
  });
  start_.push_back(static_cast<int64_t>(events_.size()));
}

bool RecordSampleRows(const float* x, int64_t samples, int64_t rows, int64_t length,
                      double budget, std::vector<EventRows>* out) {
  if (static_cast<int64_t>(out->size()) < samples) out->resize(samples);
  std::atomic<int64_t> total{0};
  // The count is shared about every 16K values scanned (and at the end of a
  // sample), whatever the row length.
  const int64_t check_rows =
      std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, length));
  ParallelFor(samples, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      if (static_cast<double>(total.load()) >= budget) return;
      EventRows& events = (*out)[n];
      events.Clear();
      const float* xn = x + n * rows * length;
      int64_t counted = 0;
      for (int64_t r = 0; r < rows; ++r) {
        events.AddRow(xn + r * length, length);
        if ((r + 1) % check_rows == 0 || r + 1 == rows) {
          const int64_t seen = total.fetch_add(events.size() - counted) + events.size() - counted;
          counted = events.size();
          if (static_cast<double>(seen) >= budget) return;
        }
      }
    }
  });
  return static_cast<double>(total.load()) < budget;
}

const Event* LowerBound(const Event* first, const Event* last, int64_t index) {
  return std::lower_bound(first, last, index,
                          [](const Event& e, int64_t i) { return e.index < i; });
}

double EventThreshold(int64_t outputs) {
  return 0.15 * static_cast<double>(outputs) / static_cast<double>(kPanel * NumPanels(outputs));
}

void PackPanels(const float* src, int64_t rows, int64_t cols, int64_t row_stride, float* dst) {
  const int64_t panels = NumPanels(rows);
  const int64_t tiles = (cols + kPanel - 1) / kPanel;
  // 32 x 32 tiles: both the rows read and the panel written stay in cache;
  // full 8 x 8 blocks move as register transposes.
  ParallelFor(panels * tiles, 8, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p = task / tiles;
      const int64_t c0 = (task % tiles) * kPanel;
      const int64_t c1 = std::min(cols, c0 + kPanel);
      float* panel = dst + p * cols * kPanel;
      int64_t c = c0;
      if (p * kPanel + kPanel <= rows) {
        for (; c + 8 <= c1; c += 8) {
          for (int64_t k = 0; k < kPanel; k += 8) {
            Transpose8x8(src + (p * kPanel + k) * row_stride + c, row_stride,
                         panel + c * kPanel + k, kPanel);
          }
        }
      }
      for (int64_t k = 0; k < kPanel; ++k) {
        const int64_t r = p * kPanel + k;
        if (r < rows) {
          const float* row = src + r * row_stride;
          for (int64_t cc = c; cc < c1; ++cc) panel[cc * kPanel + k] = row[cc];
        } else {
          for (int64_t cc = c; cc < c1; ++cc) panel[cc * kPanel + k] = 0.0f;
        }
      }
    }
  });
}

void StorePanelTransposed(const float* acc, int64_t rows, int64_t width, float* dst,
                          int64_t dst_stride) {
  constexpr int64_t kRows = 64;  // 8 KiB of accumulator rows
  for (int64_t j0 = 0; j0 < rows; j0 += kRows) {
    const int64_t j1 = std::min(rows, j0 + kRows);
    int64_t j = j0;
    if (width == kPanel) {
      for (; j + 8 <= j1; j += 8) {
        for (int64_t k = 0; k < kPanel; k += 8) {
          Transpose8x8(acc + j * kPanel + k, kPanel, dst + k * dst_stride + j, dst_stride);
        }
      }
    }
    for (int64_t k = 0; k < width; ++k) {
      float* d = dst + k * dst_stride;
      for (int64_t jj = j; jj < j1; ++jj) d[jj] = acc[jj * kPanel + k];
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#define SLAYER_EVENTS_AVX512 1
// ScatterRows with each panel row in two AVX-512 registers.
__attribute__((target("avx512f"))) void ScatterRows16(const EventRows& events, int64_t r0,
                                                       int64_t r1, const float* w, float* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const Event* first = events.begin(r);
    const Event* last = events.end(r);
    if (first == last) continue;
    const __m512 w0 = _mm512_loadu_ps(w + r * kPanel), w1 = _mm512_loadu_ps(w + r * kPanel + 16);
    for (const Event* e = first; e != last; ++e) {
      const __m512 v = _mm512_set1_ps(e->value);
      float* a = acc + static_cast<int64_t>(e->index) * kPanel;
      _mm512_storeu_ps(a, _mm512_fmadd_ps(v, w0, _mm512_loadu_ps(a)));
      _mm512_storeu_ps(a + 16, _mm512_fmadd_ps(v, w1, _mm512_loadu_ps(a + 16)));
    }
  }
}

// GatherRows with the accumulator of a row in two AVX-512 registers.
__attribute__((target("avx512f"))) void GatherRows16(const EventRows& events, int64_t r0,
                                                      int64_t r1, const float* g, float* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const Event* first = events.begin(r);
    const Event* last = events.end(r);
    if (first == last) continue;
    float* out = acc + (r - r0) * kPanel;
    __m512 a0 = _mm512_loadu_ps(out), a1 = _mm512_loadu_ps(out + 16);
    for (const Event* e = first; e != last; ++e) {
      const __m512 v = _mm512_set1_ps(e->value);
      const float* row = g + static_cast<int64_t>(e->index) * kPanel;
      a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row), a0);
      a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row + 16), a1);
    }
    _mm512_storeu_ps(out, a0);
    _mm512_storeu_ps(out + 16, a1);
  }
}
#endif

namespace {
bool UseWideEvents() {
#ifdef SLAYER_EVENTS_AVX512
  return CpuHasAvx512F() && WideKernelsEnabled();
#else
  return false;
#endif
}
}  // namespace

void ScatterRows(const EventRows& events, int64_t r0, int64_t r1, const float* w, float* acc) {
#ifdef SLAYER_EVENTS_AVX512
  if (UseWideEvents()) {
    ScatterRows16(events, r0, r1, w, acc);
    return;
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    ScatterPanel(events.begin(r), events.end(r), w + r * kPanel, acc, 0);
  }
}

void GatherRows(const EventRows& events, int64_t r0, int64_t r1, const float* g, float* acc) {
#ifdef SLAYER_EVENTS_AVX512
  if (UseWideEvents()) {
    GatherRows16(events, r0, r1, g, acc);
    return;
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    GatherPanel(events.begin(r), events.end(r), g, 0, acc + (r - r0) * kPanel);
  }
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer
