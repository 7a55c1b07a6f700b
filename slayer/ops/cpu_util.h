// Helpers shared by the CPU implementations of the ops (internal to
// slayer/ops, not part of any contract): uniform argument checks, per-thread
// scratch memory, and the temporal filter behind psp and the losses.
//
//   SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, "PspForward"));
//   internal::TemporalFilter filter(eps, ts, steps);
//   filter.Forward(x_row, out_row);   // out[t] = ts * sum_k eps[k] x[t-k]
#ifndef SLAYER_OPS_CPU_UTIL_H_
#define SLAYER_OPS_CPU_UTIL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace ops {
namespace internal {

// InvalidArgument unless ts is positive and finite.
absl::Status CheckTs(float ts, const char* op);
// InvalidArgument naming `what` when `ptr` is null.
absl::Status CheckNotNull(const void* ptr, const char* op, const char* what);
// InvalidArgument unless `t` has at least `min_rank` dimensions; `expected`
// describes the layout, e.g. "[N, ..., T]".
absl::Status CheckMinRank(const Tensor& t, int min_rank, const char* op, const char* what,
                          const char* expected);

// Vector loops with a scalar tail (the same rounding: fused multiply-add).
// y[i] += a * x[i] for i < n; x and y may be the same array.
void AddScaled(float a, const float* x, float* y, int64_t n);
// y[i] = a * x[i] for i < n; x and y may be the same array.
void Scale(float a, const float* x, float* y, int64_t n);
// The number of entries of p[0, n) that are not +0 or -0 (NaN counts).
int64_t CountNonzeros(const float* p, int64_t n);

// Calls fn(i, p[i]) for every nonzero entry of p[0, n) in increasing i.
// Spike trains are mostly zeros; the scan skips 32 zeros at a time (AVX2).
template <typename Fn>
void ForEachNonzero(const float* p, int64_t n, Fn&& fn);

// Per-thread scratch memory that grows and is then reused, so steady-state
// calls allocate nothing. Users on one thread must not hold the same slot at
// the same time; the slots in use:
enum ScratchSlot {
  kScratchFilter = 0,  // TemporalFilter
  kScratchA = 1,       // per-task buffers inside ParallelFor
  kScratchB = 2,
  kScratchCaller = 3,  // held by the calling thread around a ParallelFor
  kScratchCaller2 = 4,
  kNumScratchSlots = 5
};
// At least `n` floats, 64-byte aligned (contents unspecified), valid until
// the next call for the same slot on this thread.
float* Scratch(ScratchSlot slot, int64_t n);

// out[t] = sum_{j<k} c[j] * p[t+j] for t in [0, steps); p holds steps+k-1
// values. Vectorised over t; the sum over j runs in increasing j.
void Correlate(const float* p, const float* c, int64_t k, int64_t steps, float* out);

// A kernel of the SRM alpha form f[k] = c * k * r^k for k < taps (zero
// beyond): the psp then follows a second-order recursion and costs O(1) per
// step instead of O(taps). With A[t] = sum_{j>=0} r^j x[t-j] and
// B[t] = sum_{j>=1} j r^j x[t-j]:
//   A[t] = r A[t-1] + x[t],   B[t] = r (B[t-1] + A[t-1]),
//   out[t] = c (B[t] - r^taps (B[t-taps] + taps A[t-taps]))   (the truncation).
struct AlphaRecursion {
  float r = 0;
  float c = 0;
  float r_taps = 0;  // r^taps
  int64_t taps = 0;
};
// The recursion that reproduces f[0, taps) within 2e-6 of max |f| at every
// tap, when f has that form (f[0] = 0, at least 16 taps, r <= 0.995); else
// nullopt and the caller correlates tap by tap.
std::optional<AlphaRecursion> FitAlphaRecursion(absl::Span<const float> f);

// The recursion over 32 rows held time-major, buf[t * 32 + lane] for
// t < steps, in place (forward, or the transpose when `backward`); `hist`
// holds steps * 32 floats. Each lane gets exactly what TemporalFilter gives
// its row (the same operations in the same order).
void AlphaPanel(const AlphaRecursion& a, int64_t steps, bool backward, float* buf, float* hist);
// The same over 8 rows, buf[t * 8 + lane] (TemporalFilter's own layout),
// and over 16 rows, buf[t * 16 + lane].
void AlphaLanes8(const AlphaRecursion& a, int64_t steps, bool backward, float* buf, float* hist);
void AlphaLanes16(const AlphaRecursion& a, int64_t steps, bool backward, float* buf,
                  float* hist);

// dst[0, n) = src[0, n), with non-temporal (streaming) stores where the CPU
// has AVX-512 and dst is 64-byte aligned: for outputs written once and read
// much later, which then neither evict the cache nor are read before being
// written. Ordered before later stores of this thread (sfence).
void StreamCopy(const float* src, int64_t n, float* dst);

// Whether the CPU has AVX-512F and the OS saves its registers (read once).
bool CpuHasAvx512F();
// Whether kernels take their AVX-512 variants: the CPU has them
// (CpuHasAvx512F) and they are not switched off (SetWideKernelsEnabled,
// default on; tests switch them off to check the AVX2 variants too).
bool WideKernelsEnabled();
void SetWideKernelsEnabled(bool enabled);

// The psp of time rows (length `steps`) and its transpose, with the taps
// pre-scaled by ts. Taps at k >= steps cannot reach any output and are
// dropped. Input and output rows may alias. An alpha-form kernel (every SRM
// kernel) runs as a recursion over eight rows at a time; other kernels are
// correlated tap by tap. Both agree with the direct sum to float rounding.
class TemporalFilter {
 public:
  TemporalFilter(absl::Span<const float> eps, float ts, int64_t steps);
  // out[t] = ts * sum_k eps[k] * x[t-k]   (x[t<0] = 0)
  void Forward(const float* x, float* out) const { Rows(x, 1, out, false); }
  // out[t] = ts * sum_k eps[k] * g[t+k]   (g[t>=steps] = 0)
  void Backward(const float* g, float* out) const { Rows(g, 1, out, true); }
  // The same for `rows` consecutive rows (row r at x + r * steps).
  void ForwardRows(const float* x, int64_t rows, float* out) const {
    Rows(x, rows, out, false);
  }
  void BackwardRows(const float* g, int64_t rows, float* out) const {
    Rows(g, rows, out, true);
  }
  int64_t steps() const { return steps_; }
  int64_t taps() const { return taps_; }
  bool recursive() const { return alpha_.has_value(); }
  // The recursion when recursive(), else null.
  const AlphaRecursion* alpha() const { return alpha_ ? &*alpha_ : nullptr; }

 private:
  void Rows(const float* x, int64_t rows, float* out, bool backward) const;
  void CorrelateRow(const float* x, float* out, bool backward) const;
  int64_t steps_;
  int64_t taps_;
  std::vector<float> reversed_;  // ts * eps[taps-1-j]
  std::vector<float> forward_;   // ts * eps[j]
  std::optional<AlphaRecursion> alpha_;
};

// Calls fn(begin, end) over [0, n) on the default thread pool, with chunks
// of at least `grain` items.
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

#if defined(__AVX2__)
// dst[j * dst_stride + i] = src[i * src_stride + j] for i, j < 8.
inline void Transpose8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + src_stride),
               r2 = _mm256_loadu_ps(src + 2 * src_stride),
               r3 = _mm256_loadu_ps(src + 3 * src_stride),
               r4 = _mm256_loadu_ps(src + 4 * src_stride),
               r5 = _mm256_loadu_ps(src + 5 * src_stride),
               r6 = _mm256_loadu_ps(src + 6 * src_stride),
               r7 = _mm256_loadu_ps(src + 7 * src_stride);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
               t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
               t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
               s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
               s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
               s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
               s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
               s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
               s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
               s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + dst_stride, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * dst_stride, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * dst_stride, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * dst_stride, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * dst_stride, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * dst_stride, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * dst_stride, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#else
inline void Transpose8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t j = 0; j < 8; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
  }
}
#endif

// Bit k set when p[k] (k < 8) is nonzero; NaN counts as nonzero.
inline unsigned NonzeroMask8(const float* p) {
#if defined(__AVX2__)
  return static_cast<unsigned>(_mm256_movemask_ps(
      _mm256_cmp_ps(_mm256_loadu_ps(p), _mm256_setzero_ps(), _CMP_NEQ_UQ)));
#else
  unsigned mask = 0;
  for (int k = 0; k < 8; ++k) mask |= static_cast<unsigned>(p[k] != 0.0f) << k;
  return mask;
#endif
}

template <typename Fn>
void ForEachNonzero(const float* p, int64_t n, Fn&& fn) {
  int64_t i = 0;
#if defined(__AVX2__)
  // Spike trains are mostly zeros: 32 entries are tested at once (the bits of
  // a +0/-0 mix OR to +0/-0; anything else ORs to a nonzero pattern).
  for (; i + 32 <= n; i += 32) {
    const __m256 any = _mm256_or_ps(
        _mm256_or_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(p + i + 8)),
        _mm256_or_ps(_mm256_loadu_ps(p + i + 16), _mm256_loadu_ps(p + i + 24)));
    if (_mm256_movemask_ps(_mm256_cmp_ps(any, _mm256_setzero_ps(), _CMP_NEQ_UQ)) == 0) continue;
    for (int64_t j = i; j < i + 32; j += 8) {
      for (unsigned mask = NonzeroMask8(p + j); mask != 0; mask &= mask - 1) {
        const int64_t k = j + __builtin_ctz(mask);
        fn(k, p[k]);
      }
    }
  }
#endif
  for (; i + 8 <= n; i += 8) {
    for (unsigned mask = NonzeroMask8(p + i); mask != 0; mask &= mask - 1) {
      const int64_t k = i + __builtin_ctz(mask);
      fn(k, p[k]);
    }
  }
  for (; i < n; ++i) {
    if (p[i] != 0.0f) fn(i, p[i]);
  }
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_CPU_UTIL_H_
