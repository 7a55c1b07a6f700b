#include "slayer/ops/cpu_util.h"

#include <algorithm>
#include <cmath>
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
  thread_local std::vector<float> buffers[kNumScratchSlots];
  std::vector<float>& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
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

TemporalFilter::TemporalFilter(absl::Span<const float> eps, float ts, int64_t steps)
    : steps_(steps), taps_(std::min<int64_t>(static_cast<int64_t>(eps.size()), steps)) {
  reversed_.resize(taps_);
  forward_.resize(taps_);
  for (int64_t j = 0; j < taps_; ++j) {
    forward_[j] = ts * eps[j];
    reversed_[taps_ - 1 - j] = ts * eps[j];
  }
}

void TemporalFilter::Forward(const float* x, float* out) const {
  if (taps_ == 0) {
    std::fill(out, out + steps_, 0.0f);
    return;
  }
  float* padded = Scratch(kScratchFilter, steps_ + taps_ - 1);
  std::fill(padded, padded + taps_ - 1, 0.0f);
  std::memcpy(padded + taps_ - 1, x, sizeof(float) * steps_);
  Correlate(padded, reversed_.data(), taps_, steps_, out);
}

void TemporalFilter::Backward(const float* g, float* out) const {
  if (taps_ == 0) {
    std::fill(out, out + steps_, 0.0f);
    return;
  }
  float* padded = Scratch(kScratchFilter, steps_ + taps_ - 1);
  std::memcpy(padded, g, sizeof(float) * steps_);
  std::fill(padded + steps_, padded + steps_ + taps_ - 1, 0.0f);
  Correlate(padded, forward_.data(), taps_, steps_, out);
}

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::Default().ParallelFor(n, grain, fn);
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer
