#include "slayer/ops/cpu_util.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "slayer/core/thread_pool.h"

namespace slayer {
namespace ops {
namespace internal {

absl::Status CheckTs(float ts, const char* op) {
  if (!(ts > 0.0f) || !std::isfinite(ts)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": sampling time ts must be positive and finite, got ", ts));
  }
  return absl::OkStatus();
}

absl::Status CheckNotNull(const void* ptr, const char* op, const char* what) {
  if (ptr == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " must not be null"));
  }
  return absl::OkStatus();
}

absl::Status CheckMinRank(const Tensor& t, int min_rank, const char* op, const char* what,
                          const char* expected) {
  if (t.rank() < min_rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " has shape ",
                                                   ShapeString(t.shape()), ", expected ",
                                                   expected));
  }
  return absl::OkStatus();
}

void AddScaled(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 16 <= n; i += 16) {
    const __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
    const __m256 y1 =
        _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
    _mm256_storeu_ps(y + i, y0);
    _mm256_storeu_ps(y + i + 8, y1);
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
#endif
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

void Scale(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__)
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) y[i] = a * x[i];
}

int64_t CountNonzeros(const float* p, int64_t n) {
  int64_t count = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) count += __builtin_popcount(NonzeroMask8(p + i));
  for (; i < n; ++i) count += p[i] != 0.0f;
  return count;
}

float* Scratch(ScratchSlot slot, int64_t n) {
  // 64-byte aligned whatever the thread: Eigen peels scalar iterations until
  // a destination is aligned, and its scalar and vector exp differ in the
  // last bit, so an alignment that varied by thread would make results vary
  // with which thread ran a task.
  constexpr int64_t kAlignFloats = 16;
  thread_local std::vector<float> buffers[kNumScratchSlots];
  std::vector<float>& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < n + kAlignFloats) {
    buffer.resize(static_cast<size_t>(n + kAlignFloats));
  }
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer.data());
  const uintptr_t aligned = (address + 63) & ~uintptr_t{63};
  return buffer.data() + (aligned - address) / sizeof(float);
}

void Correlate(const float* p, const float* c, int64_t k, int64_t steps, float* out) {
  int64_t t = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // 64 outputs live in eight registers while the taps stream past: per tap
  // one broadcast and eight unaligned loads + FMAs, enough independent
  // chains to hide the FMA latency.
  for (; t + 64 <= steps; t += 64) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    const float* base = p + t;
    for (int64_t j = 0; j < k; ++j) {
      const __m256 cj = _mm256_broadcast_ss(c + j);
      const float* q = base + j;
      a0 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q), a0);
      a1 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 8), a1);
      a2 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 16), a2);
      a3 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 24), a3);
      a4 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 32), a4);
      a5 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 40), a5);
      a6 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 48), a6);
      a7 = _mm256_fmadd_ps(cj, _mm256_loadu_ps(q + 56), a7);
    }
    _mm256_storeu_ps(out + t, a0);
    _mm256_storeu_ps(out + t + 8, a1);
    _mm256_storeu_ps(out + t + 16, a2);
    _mm256_storeu_ps(out + t + 24, a3);
    _mm256_storeu_ps(out + t + 32, a4);
    _mm256_storeu_ps(out + t + 40, a5);
    _mm256_storeu_ps(out + t + 48, a6);
    _mm256_storeu_ps(out + t + 56, a7);
  }
  for (; t + 8 <= steps; t += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t j = 0; j < k; ++j) {
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(c + j), _mm256_loadu_ps(p + t + j), a0);
    }
    _mm256_storeu_ps(out + t, a0);
  }
#endif
  // The same sums in the same order (increasing j), one output at a time.
  for (; t < steps; ++t) {
    float acc = 0.0f;
    for (int64_t j = 0; j < k; ++j) acc = std::fma(c[j], p[t + j], acc);
    out[t] = acc;
  }
}

std::optional<AlphaRecursion> FitAlphaRecursion(absl::Span<const float> f) {
  const int64_t taps = static_cast<int64_t>(f.size());
  if (taps < 16 || f[0] != 0.0f) return std::nullopt;
  // r from the first and the last tap (both far from rounding trouble), c by
  // least squares, then every tap is checked.
  const double first = f[1];
  const double last = f[taps - 1] / static_cast<double>(taps - 1);
  if (!(first != 0.0) || !(last / first > 0.0)) return std::nullopt;
  const double r = std::pow(last / first, 1.0 / static_cast<double>(taps - 2));
  if (!(r > 0.0) || !(r <= 0.995)) return std::nullopt;
  double num = 0.0, den = 0.0, largest = 0.0, rk = 1.0;
  for (int64_t k = 0; k < taps; ++k, rk *= r) {
    const double g = static_cast<double>(k) * rk;
    num += static_cast<double>(f[k]) * g;
    den += g * g;
    largest = std::max(largest, std::abs(static_cast<double>(f[k])));
  }
  // The recursion runs with float r and c: check the kernel those give.
  AlphaRecursion a;
  a.r = static_cast<float>(r);
  a.c = static_cast<float>(num / den);
  a.r_taps = static_cast<float>(std::pow(static_cast<double>(a.r), static_cast<double>(taps)));
  a.taps = taps;
  rk = 1.0;
  for (int64_t k = 0; k < taps; ++k, rk *= a.r) {
    if (!(std::abs(f[k] - static_cast<double>(a.c) * static_cast<double>(k) * rk) <=
          2e-6 * largest)) {
      return std::nullopt;
    }
  }
  return a;
}

namespace {

// Eight lanes of floats: one AVX register, or an array with the same
// operations lane by lane (fused multiply-adds where AVX fuses), so both
// builds compute the same values.
#if defined(__AVX2__) && defined(__FMA__)
struct Lanes {
  __m256 v;
};
inline Lanes Load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void Store(float* p, Lanes a) { _mm256_storeu_ps(p, a.v); }
inline Lanes Splat(float x) { return {_mm256_set1_ps(x)}; }
inline Lanes Mul(Lanes a, Lanes b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Lanes Fma(Lanes a, Lanes b, Lanes c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Lanes Fnma(Lanes a, Lanes b, Lanes c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }

// rows[i][t0, t0+8) for i < 8 -> tile[t * 8 + i], and back.
inline void TransposeIn(const float* x, int64_t stride, float* tile) {
  Transpose8x8(x, stride, tile, 8);
}
inline void TransposeOut(const float* tile, float* x, int64_t stride) {
  Transpose8x8(tile, 8, x, stride);
}
constexpr bool kTiles = true;
#else
struct Lanes {
  float v[8];
};
inline Lanes Load(const float* p) {
  Lanes a;
  for (int i = 0; i < 8; ++i) a.v[i] = p[i];
  return a;
}
inline void Store(float* p, Lanes a) {
  for (int i = 0; i < 8; ++i) p[i] = a.v[i];
}
inline Lanes Splat(float x) {
  Lanes a;
  for (float& v : a.v) v = x;
  return a;
}
inline Lanes Mul(Lanes a, Lanes b) {
  for (int i = 0; i < 8; ++i) a.v[i] *= b.v[i];
  return a;
}
inline Lanes Fma(Lanes a, Lanes b, Lanes c) {
  for (int i = 0; i < 8; ++i) c.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
  return c;
}
inline Lanes Fnma(Lanes a, Lanes b, Lanes c) {
  for (int i = 0; i < 8; ++i) c.v[i] = std::fma(-a.v[i], b.v[i], c.v[i]);
  return c;
}
inline void TransposeIn(const float*, int64_t, float*) {}
inline void TransposeOut(const float*, float*, int64_t) {}
constexpr bool kTiles = false;
#endif

// The recursion over 8 * kGroups rows held as buf[t * 8 * kGroups + lane],
// in place, each group of 8 lanes a separate chain; `hist` holds as many
// floats as buf (h = B + taps * A per step, for the truncation).
// Backward runs the same recursion from the last step to the first (the
// correlation is the time-reversed convolution). B's update is written
// r B + (r A) so that each of A and B carries a single FMA from step to step.
template <int kGroups>
void AlphaLanesGrouped(const AlphaRecursion& a, int64_t steps, bool backward, float* buf,
                       float* hist) {
  constexpr int64_t kWidth = 8 * kGroups;  // lanes per step
  const Lanes r = Splat(a.r), c = Splat(a.c), r_taps = Splat(a.r_taps),
              taps = Splat(static_cast<float>(a.taps));
  Lanes acc_a[kGroups], acc_b[kGroups];
  for (int g = 0; g < kGroups; ++g) acc_a[g] = acc_b[g] = Splat(0.0f);
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = backward ? steps - 1 - i : i;
    for (int g = 0; g < kGroups; ++g) {
      float* b = buf + t * kWidth + 8 * g;
      float* h = hist + i * kWidth + 8 * g;
      acc_b[g] = Fma(r, acc_b[g], Mul(r, acc_a[g]));
      acc_a[g] = Fma(r, acc_a[g], Load(b));
      Store(h, Fma(taps, acc_a[g], acc_b[g]));
      Lanes y = acc_b[g];
      if (i >= a.taps) y = Fnma(r_taps, Load(h - a.taps * kWidth), acc_b[g]);
      Store(b, Mul(c, y));
    }
  }
}

}  // namespace

TemporalFilter::TemporalFilter(absl::Span<const float> eps, float ts, int64_t steps)
    : steps_(steps), taps_(std::min<int64_t>(static_cast<int64_t>(eps.size()), steps)) {
  reversed_.resize(taps_);
  forward_.resize(taps_);
  for (int64_t j = 0; j < taps_; ++j) {
    forward_[j] = ts * eps[j];
    reversed_[taps_ - 1 - j] = ts * eps[j];
  }
  // Taps dropped for reaching past the last step never matter, so the
  // recursion may keep them: fit the whole kernel.
  std::vector<float> all(eps.size());
  for (size_t j = 0; j < eps.size(); ++j) all[j] = ts * eps[j];
  alpha_ = FitAlphaRecursion(all);
}

void TemporalFilter::CorrelateRow(const float* x, float* out, bool backward) const {
  if (taps_ == 0) {
    std::fill(out, out + steps_, 0.0f);
    return;
  }
  float* padded = Scratch(kScratchFilter, steps_ + taps_ - 1);
  if (backward) {
    std::memcpy(padded, x, sizeof(float) * steps_);
    std::fill(padded + steps_, padded + steps_ + taps_ - 1, 0.0f);
    Correlate(padded, forward_.data(), taps_, steps_, out);
  } else {
    std::fill(padded, padded + taps_ - 1, 0.0f);
    std::memcpy(padded + taps_ - 1, x, sizeof(float) * steps_);
    Correlate(padded, reversed_.data(), taps_, steps_, out);
  }
}

void TemporalFilter::Rows(const float* x, int64_t rows, float* out, bool backward) const {
  if (!alpha_.has_value()) {
    for (int64_t r = 0; r < rows; ++r) CorrelateRow(x + r * steps_, out + r * steps_, backward);
    return;
  }
  const int64_t steps = steps_;
  float* buf = Scratch(kScratchFilter, 2 * steps * 8);
  float* hist = buf + steps * 8;
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const int64_t lanes = std::min<int64_t>(8, rows - r0);
    const float* xr = x + r0 * steps;
    float* outr = out + r0 * steps;
    int64_t t = 0;
    if (kTiles && lanes == 8) {
      for (; t + 8 <= steps; t += 8) TransposeIn(xr + t, steps, buf + t * 8);
    }
    for (int64_t i = 0; i < 8; ++i) {
      for (int64_t u = t; u < steps; ++u) buf[u * 8 + i] = i < lanes ? xr[i * steps + u] : 0.0f;
    }
    AlphaLanes8(*alpha_, steps, backward, buf, hist);
    t = 0;
    if (kTiles && lanes == 8) {
      for (; t + 8 <= steps; t += 8) TransposeOut(buf + t * 8, outr + t, steps);
    }
    for (int64_t i = 0; i < lanes; ++i) {
      for (int64_t u = t; u < steps; ++u) outr[i * steps + u] = buf[u * 8 + i];
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#define SLAYER_UTIL_AVX512 1
namespace {
// AlphaLanesGrouped<4> with its 32 lanes as two AVX-512 groups: the same
// operations lane by lane.
__attribute__((target("avx512f"))) void AlphaPanel16(const AlphaRecursion& a, int64_t steps,
                                                      bool backward, float* buf, float* hist) {
  constexpr int64_t kWidth = 32;
  const __m512 r = _mm512_set1_ps(a.r), c = _mm512_set1_ps(a.c),
               r_taps = _mm512_set1_ps(a.r_taps),
               taps = _mm512_set1_ps(static_cast<float>(a.taps));
  __m512 acc_a[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  __m512 acc_b[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = backward ? steps - 1 - i : i;
    for (int g = 0; g < 2; ++g) {
      float* b = buf + t * kWidth + 16 * g;
      float* h = hist + i * kWidth + 16 * g;
      acc_b[g] = _mm512_fmadd_ps(r, acc_b[g], _mm512_mul_ps(r, acc_a[g]));
      acc_a[g] = _mm512_fmadd_ps(r, acc_a[g], _mm512_loadu_ps(b));
      _mm512_storeu_ps(h, _mm512_fmadd_ps(taps, acc_a[g], acc_b[g]));
      __m512 y = acc_b[g];
      if (i >= a.taps) y = _mm512_fnmadd_ps(r_taps, _mm512_loadu_ps(h - a.taps * kWidth), acc_b[g]);
      _mm512_storeu_ps(b, _mm512_mul_ps(c, y));
    }
  }
}
}  // namespace
#endif

void AlphaPanel(const AlphaRecursion& a, int64_t steps, bool backward, float* buf,
                float* hist) {
#ifdef SLAYER_UTIL_AVX512
  if (WideKernelsEnabled()) {
    AlphaPanel16(a, steps, backward, buf, hist);
    return;
  }
#endif
  AlphaLanesGrouped<4>(a, steps, backward, buf, hist);
}

void AlphaLanes8(const AlphaRecursion& a, int64_t steps, bool backward, float* buf,
                 float* hist) {
  AlphaLanesGrouped<1>(a, steps, backward, buf, hist);
}

void AlphaLanes16(const AlphaRecursion& a, int64_t steps, bool backward, float* buf,
                  float* hist) {
  AlphaLanesGrouped<2>(a, steps, backward, buf, hist);
}

#ifdef SLAYER_UTIL_AVX512
namespace {
__attribute__((target("avx512f"))) void StreamCopy16(const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  _mm_sfence();
  for (; i < n; ++i) dst[i] = src[i];
}
}  // namespace
#endif

void StreamCopy(const float* src, int64_t n, float* dst) {
#ifdef SLAYER_UTIL_AVX512
  if (WideKernelsEnabled() && reinterpret_cast<uintptr_t>(dst) % 64 == 0) {
    StreamCopy16(src, n, dst);
    return;
  }
#endif
  std::memcpy(dst, src, sizeof(float) * std::max<int64_t>(n, 0));
}

bool CpuHasAvx512F() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;  // includes the OS (XCR0) check
  }();
  return has;
#else
  return false;
#endif
}

namespace {
std::atomic<bool> wide_kernels{true};
}  // namespace

bool WideKernelsEnabled() {
  return CpuHasAvx512F() && wide_kernels.load(std::memory_order_relaxed);
}
void SetWideKernelsEnabled(bool enabled) {
  wide_kernels.store(enabled, std::memory_order_relaxed);
}

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::Default().ParallelFor(n, grain, fn);
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer
