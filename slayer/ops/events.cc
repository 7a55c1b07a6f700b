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

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#define SLAYER_EVENTS_AVX512 1
// Writes the nonzeros of row[0, length) to out (which has room for length +
// 16 events) and returns their count, without branching on the data: each
// 16 values' nonzeros are compressed into the next slots (the slots past
// them are scratch, overwritten by the next 16). Nonzero as
// ForEachNonzero: -0 is zero, NaN is not.
__attribute__((target("avx512f"))) int64_t CompressNonzeros16(const float* row, int64_t length,
                                                               Event* out) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // (index, value) pairs: lanes 0-7 of the indices with lanes 0-7 of the
  // values (16 + lane), then lanes 8-15.
  const __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i high =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  int32_t* dst = reinterpret_cast<int32_t*>(out);
  int64_t count = 0;
  for (int64_t i = 0; i < length; i += 16) {
    const __mmask16 in =
        length - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (length - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(in, row + i);
    const __mmask16 nonzero = _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512i index = _mm512_maskz_compress_epi32(
        nonzero, _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int32_t>(i))));
    const __m512i value = _mm512_maskz_compress_epi32(nonzero, _mm512_castps_si512(v));
    _mm512_storeu_si512(dst + 2 * count, _mm512_permutex2var_epi32(index, low, value));
    _mm512_storeu_si512(dst + 2 * count + 16, _mm512_permutex2var_epi32(index, high, value));
    count += __builtin_popcount(nonzero);
  }
  return count;
}
#endif

void EventRows::AddRow(const float* row, int64_t length) {
#ifdef SLAYER_EVENTS_AVX512
  if (WideKernelsEnabled()) {
    const size_t used = events_.size();
    events_.resize(used + length + 16);  // Event(): no initialisation
    events_.resize(used + CompressNonzeros16(row, length, events_.data() + used));
    start_.push_back(static_cast<int64_t>(events_.size()));
    return;
  }
#endif
  ForEachNonzero(row, length, [&](int64_t i, float v) {
    events_.push_back({static_cast<int32_t>(i), v});
  });
  start_.push_back(static_cast<int64_t>(events_.size()));
}

void EventRows::ScaleValues(float factor) {
  for (Event& e : events_) e.value *= factor;
}

void EventRows::AssignTransposed(const EventRows& in, int64_t length) {
  start_.assign(length + 1, 0);
  for (const Event& e : in.events_) ++start_[e.index + 1];
  for (int64_t t = 0; t < length; ++t) start_[t + 1] += start_[t];
  events_.resize(in.events_.size());
  cursor_.assign(start_.begin(), start_.end() - 1);
  for (int64_t r = 0; r < in.rows(); ++r) {
    for (const Event* e = in.begin(r); e != in.end(r); ++e) {
      events_[cursor_[e->index]++] = {static_cast<int32_t>(r), e->value};
    }
  }
}

#ifdef SLAYER_EVENTS_AVX512
// AssignFromMasks's rows gathered (words <= 16): out[r * 16 + w] =
// masks[w * word_stride + r], zero for w >= words; nonzero[r] has bit w when
// that word is not zero; counts[r] = the row's set bits.
__attribute__((target("avx512f"))) void GatherMaskRows16(const uint32_t* masks, int64_t rows,
                                                          int64_t words, int64_t word_stride,
                                                          uint32_t* out, uint16_t* nonzero,
                                                          int64_t* counts) {
  const __m512i index = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int32_t>(word_stride)));
  const __mmask16 valid = static_cast<__mmask16>((1u << words) - 1);
  for (int64_t r = 0; r < rows; ++r) {
    const __m512i v =
        _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, index, masks + r, 4);
    _mm512_storeu_si512(out + r * 16, v);
    const unsigned nz = _mm512_test_epi32_mask(v, v);
    nonzero[r] = static_cast<uint16_t>(nz);
    int64_t count = 0;
    for (unsigned b = nz; b != 0; b &= b - 1) count += __builtin_popcount(out[r * 16 + __builtin_ctz(b)]);
    counts[r] = count;
  }
}
#endif

void EventRows::AssignFromMasks(const uint32_t* masks, int64_t rows, int64_t words,
                                int64_t word_stride, float value) {
#ifdef SLAYER_EVENTS_AVX512
  if (WideKernelsEnabled() && words <= 16 && words * word_stride < (int64_t{1} << 31)) {
    // One gather per row, then only its nonzero words are visited.
    thread_local std::vector<uint32_t> gathered;
    thread_local std::vector<uint16_t> nonzero;
    if (static_cast<int64_t>(gathered.size()) < rows * 16) gathered.resize(rows * 16);
    if (static_cast<int64_t>(nonzero.size()) < rows) nonzero.resize(rows);
    start_.resize(rows + 1);
    GatherMaskRows16(masks, rows, words, word_stride, gathered.data(), nonzero.data(),
                     start_.data() + 1);
    start_[0] = 0;
    for (int64_t r = 0; r < rows; ++r) start_[r + 1] += start_[r];
    events_.resize(start_[rows]);  // Event(): no initialisation
    Event* out = events_.data();
    for (int64_t r = 0; r < rows; ++r) {
      for (unsigned b = nonzero[r]; b != 0; b &= b - 1) {
        const int w = __builtin_ctz(b);
        const int32_t base = w * 32;
        for (uint32_t m = gathered[r * 16 + w]; m != 0; m &= m - 1) {
          *out++ = {base + __builtin_ctz(m), value};
        }
      }
    }
    return;
  }
#endif
  start_.resize(rows + 1);
  start_[0] = 0;
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < words; ++w) total += __builtin_popcount(masks[w * word_stride + r]);
    start_[r + 1] = total;
  }
  events_.resize(total);  // Event(): no initialisation
  Event* out = events_.data();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < words; ++w) {
      const int32_t base = static_cast<int32_t>(w * 32);
      for (uint32_t m = masks[w * word_stride + r]; m != 0; m &= m - 1) {
        *out++ = {base + __builtin_ctz(m), value};
      }
    }
  }
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

#ifdef SLAYER_EVENTS_AVX512
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

// GatherRows with the accumulator of a row in AVX-512 registers.
__attribute__((target("avx512f"))) void GatherRows16(const EventRows& events, int64_t r0,
                                                      int64_t r1, const float* g, bool accumulate,
                                                      float* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const Event* first = events.begin(r);
    const Event* last = events.end(r);
    float* out = acc + (r - r0) * kPanel;
    if (first == last) {
      if (!accumulate) {
        _mm512_storeu_ps(out, _mm512_setzero_ps());
        _mm512_storeu_ps(out + 16, _mm512_setzero_ps());
      }
      continue;
    }
    if (accumulate) {  // one chain, in event order: GatherPanel's sums
      __m512 a0 = _mm512_loadu_ps(out), a1 = _mm512_loadu_ps(out + 16);
      for (const Event* e = first; e != last; ++e) {
        const __m512 v = _mm512_set1_ps(e->value);
        const float* row = g + static_cast<int64_t>(e->index) * kPanel;
        a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row), a0);
        a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row + 16), a1);
      }
      _mm512_storeu_ps(out, a0);
      _mm512_storeu_ps(out + 16, a1);
      continue;
    }
    // Four chains of FMAs (events 4k, 4k+1, ...), then two, so that a long
    // row is not bound by the FMA latency; summed at the end.
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    const Event* e = first;
    {  // four chains while four events are left (a step of an input layer has dozens)
      __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
      __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
      for (; e + 4 <= last; e += 4) {
        const float* r0p = g + static_cast<int64_t>(e[0].index) * kPanel;
        const float* r1p = g + static_cast<int64_t>(e[1].index) * kPanel;
        const float* r2p = g + static_cast<int64_t>(e[2].index) * kPanel;
        const float* r3p = g + static_cast<int64_t>(e[3].index) * kPanel;
        const __m512 v0 = _mm512_set1_ps(e[0].value), v1 = _mm512_set1_ps(e[1].value),
                     v2 = _mm512_set1_ps(e[2].value), v3 = _mm512_set1_ps(e[3].value);
        a0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(r0p), a0);
        a1 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(r0p + 16), a1);
        b0 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(r1p), b0);
        b1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(r1p + 16), b1);
        c0 = _mm512_fmadd_ps(v2, _mm512_loadu_ps(r2p), c0);
        c1 = _mm512_fmadd_ps(v2, _mm512_loadu_ps(r2p + 16), c1);
        d0 = _mm512_fmadd_ps(v3, _mm512_loadu_ps(r3p), d0);
        d1 = _mm512_fmadd_ps(v3, _mm512_loadu_ps(r3p + 16), d1);
      }
      a0 = _mm512_add_ps(a0, c0);
      a1 = _mm512_add_ps(a1, c1);
      b0 = _mm512_add_ps(b0, d0);
      b1 = _mm512_add_ps(b1, d1);
    }
    for (; e + 2 <= last; e += 2) {
      const __m512 v = _mm512_set1_ps(e[0].value), u = _mm512_set1_ps(e[1].value);
      const float* row = g + static_cast<int64_t>(e[0].index) * kPanel;
      const float* next = g + static_cast<int64_t>(e[1].index) * kPanel;
      a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row), a0);
      a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row + 16), a1);
      b0 = _mm512_fmadd_ps(u, _mm512_loadu_ps(next), b0);
      b1 = _mm512_fmadd_ps(u, _mm512_loadu_ps(next + 16), b1);
    }
    if (e != last) {
      const __m512 v = _mm512_set1_ps(e->value);
      const float* row = g + static_cast<int64_t>(e->index) * kPanel;
      a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row), a0);
      a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(row + 16), a1);
    }
    _mm512_storeu_ps(out, _mm512_add_ps(a0, b0));
    _mm512_storeu_ps(out + 16, _mm512_add_ps(a1, b1));
  }
}
#endif

void ScatterRows(const EventRows& events, int64_t r0, int64_t r1, const float* w, float* acc) {
#ifdef SLAYER_EVENTS_AVX512
  if (WideKernelsEnabled()) {
    ScatterRows16(events, r0, r1, w, acc);
    return;
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    ScatterPanel(events.begin(r), events.end(r), w + r * kPanel, acc, 0);
  }
}

void GatherRows(const EventRows& events, int64_t r0, int64_t r1, const float* g, bool accumulate,
                float* acc) {
#ifdef SLAYER_EVENTS_AVX512
  if (WideKernelsEnabled()) {
    GatherRows16(events, r0, r1, g, accumulate, acc);
    return;
  }
#endif
  if (!accumulate) std::fill(acc, acc + (r1 - r0) * kPanel, 0.0f);
  for (int64_t r = r0; r < r1; ++r) {
    GatherPanel(events.begin(r), events.end(r), g, 0, acc + (r - r0) * kPanel);
  }
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer
