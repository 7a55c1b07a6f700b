#include "slayer/ops/spike.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "slayer/core/check.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/psp.h"

namespace slayer {
namespace ops {
namespace {

absl::Status CheckForwardArgs(const char* op, const Tensor* u, float theta, float ts,
                              const Tensor* s) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(u, op, "u"));
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(s, op, "s"));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, op));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(*u, 1, op, "u", "[..., T] (time innermost)"));
  if (!std::isfinite(theta)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": theta must be finite, got ", theta));
  }
  if (s == u || (!s->empty() && s->SharesStorageWith(*u))) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": s must not share storage with u (u is updated in place)"));
  }
  return absl::OkStatus();
}

absl::Status CheckBackwardArgs(const char* op, const Tensor& grad_s, const Tensor& u,
                               const SurrogateParams& params, const Tensor* grad_u) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_u, op, "grad_u"));
  SLAYER_RETURN_IF_ERROR(CheckShape(grad_s, u.shape(), absl::StrCat(op, ": grad_s")));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(u.device(), {{"grad_s", &grad_s}}));
  return internal::CheckSurrogate(op, params);
}

// The first t in [begin, end) with u[t] >= theta, or end. NaN never crosses.
inline int64_t NextCrossing(const float* u, int64_t begin, int64_t end, float theta) {
  int64_t t = begin;
#if defined(__AVX2__)
  const __m256 threshold = _mm256_set1_ps(theta);
  for (; t + 8 <= end; t += 8) {
    const int mask =
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(u + t), threshold, _CMP_GE_OQ));
    if (mask != 0) return t + __builtin_ctz(static_cast<unsigned>(mask));
  }
#endif
  for (; t < end; ++t) {
    if (u[t] >= theta) return t;
  }
  return end;
}

// u[j] += nu[j] for j < n: the refractory response of one spike, added
// element by element as the plain loop does (the same sums).
inline void AddRefractory(const float* nu, int64_t n, float* u) {
  int64_t j = 0;
#if defined(__AVX2__)
  for (; j + 8 <= n; j += 8) {
    _mm256_storeu_ps(u + j, _mm256_add_ps(_mm256_loadu_ps(u + j), _mm256_loadu_ps(nu + j)));
  }
  if (j < n) {  // 1..7 left: masked lanes are neither read nor written
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - j)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(u + j, mask,
                        _mm256_add_ps(_mm256_maskload_ps(u + j, mask),
                                      _mm256_maskload_ps(nu + j, mask)));
  }
#else
  for (; j < n; ++j) u[j] += nu[j];
#endif
}

// exp(x) on vector lanes, Cephes' single-precision method (as Eigen's):
// x = n ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-7 polynomial, times 2^n.
// x is clamped to [-87.3, 88.3] first, where 2^n stays a normal float (below
// the range the result is at most 1.2e-38 instead of 0); NaN stays NaN.
// About 1 ulp from std::exp.
namespace expf_poly {
constexpr float kLo = -87.3f, kHi = 88.3f, kLog2e = 1.44269504088896341f;
constexpr float kC1 = 0.693359375f, kC2 = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
}  // namespace expf_poly

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 Exp8(__m256 x) {
  using namespace expf_poly;
  // max/min return their second operand when either is NaN: x stays NaN.
  x = _mm256_min_ps(_mm256_set1_ps(kHi), _mm256_max_ps(_mm256_set1_ps(kLo), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kC1), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kC2), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

// out[i] = g[i] * rho(u[i]) for i < n: the surrogate derivative of SPEC §4,
// rho(u) = scale_rho / (tau_rho theta) * exp(-|u - theta| / (tau_rho theta)).
// out may alias g. Each element gets the same value whatever n and its
// position (the vector lanes' exp everywhere, tails included), so that
// callers may cut the rows differently.
void SurrogateGeneric(const SurrogateParams& params, const float* g, const float* u, int64_t n,
                      float* out) {
  const float width = params.tau_rho * params.theta;
  const float height = params.scale_rho / width;
  const float inv_width = 1.0f / width;
  const float theta = params.theta;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vtheta = _mm256_set1_ps(theta), vheight = _mm256_set1_ps(height),
               vneg = _mm256_set1_ps(-inv_width),
               abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  auto eight = [&](const float* gi, const float* ui, float* oi) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_loadu_ps(ui), vtheta), abs_mask);
    const __m256 rho = _mm256_mul_ps(vheight, Exp8(_mm256_mul_ps(d, vneg)));
    _mm256_storeu_ps(oi, _mm256_mul_ps(_mm256_loadu_ps(gi), rho));
  };
  for (; i + 8 <= n; i += 8) eight(g + i, u + i, out + i);
  if (i < n) {  // the tail through the same lanes: every element as Exp8 gives it
    float gt[8] = {0}, ut[8] = {0}, ot[8];
    std::copy(g + i, g + n, gt);
    std::copy(u + i, u + n, ut);
    eight(gt, ut, ot);
    std::copy(ot, ot + (n - i), out + i);
  }
  return;
#endif
  for (; i < n; ++i) out[i] = g[i] * (height * std::exp(-std::abs(u[i] - theta) * inv_width));
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
// Exp8 on 16 lanes.
__attribute__((target("avx512f"))) inline __m512 Exp16(__m512 x) {
  using namespace expf_poly;
  x = _mm512_maskz_min_ps(0xffff, _mm512_set1_ps(kHi),
                          _mm512_maskz_max_ps(0xffff, _mm512_set1_ps(kLo), x));
  // (The maskz forms: GCC 12 warns on the plain ones' undefined source.)
  const __m512 n = _mm512_maskz_roundscale_ps(0xffff, _mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kC1), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kC2), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  // p * 2^n in one instruction: exact, as Exp8's multiply by 2^n's bits.
  return _mm512_maskz_scalef_ps(0xffff, p, n);
}

// SurrogateGeneric on 16 lanes; the tail (< 16) with a masked load/store.
__attribute__((target("avx512f"))) void Surrogate16(const SurrogateParams& params,
                                                     const float* g, const float* u, int64_t n,
                                                     float* out) {
  const float width = params.tau_rho * params.theta;
  const __m512 vtheta = _mm512_set1_ps(params.theta),
               vheight = _mm512_set1_ps(params.scale_rho / width),
               vneg = _mm512_set1_ps(-1.0f / width);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m =
        n - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 d = _mm512_castsi512_ps(_mm512_and_epi32(
        _mm512_castps_si512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, u + i), vtheta)), abs_mask));
    const __m512 rho = _mm512_mul_ps(vheight, Exp16(_mm512_mul_ps(d, vneg)));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, g + i), rho));
  }
}
#define SLAYER_SURROGATE_AVX512 1
#endif

void Surrogate(const SurrogateParams& params, const float* g, const float* u, int64_t n,
               float* out) {
#ifdef SLAYER_SURROGATE_AVX512
  if (internal::WideKernelsEnabled()) {
    Surrogate16(params, g, u, n, out);
    return;
  }
#endif
  SurrogateGeneric(params, g, u, n, out);
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#define SLAYER_SPIKE_AVX512 1
// SpikeLanes over 16 rows, u[t * 16 + lane], with AVX-512's masked adds: the
// lanes that did not spike are not written (run only where the CPU has it).
__attribute__((target("avx512f"))) void SpikeLanes16(float* u, int64_t steps,
                                                      absl::Span<const float> nu, float theta,
                                                      unsigned lanes, uint16_t* spiked) {
  const int64_t taps = static_cast<int64_t>(nu.size());
  const __m512 threshold = _mm512_set1_ps(theta);
  for (int64_t t = 0; t < steps; ++t) {
    float* ut = u + t * 16;
    const __mmask16 mask = static_cast<__mmask16>(
        _mm512_cmp_ps_mask(_mm512_loadu_ps(ut), threshold, _CMP_GE_OQ) & lanes);
    spiked[t] = static_cast<uint16_t>(mask);
    if (mask == 0) continue;
    const int64_t n = std::min(taps, steps - t);
    for (int64_t j = 0; j < n; ++j) {
      const __m512 v = _mm512_loadu_ps(ut + j * 16);
      _mm512_storeu_ps(ut + j * 16, _mm512_mask_add_ps(v, mask, v, _mm512_set1_ps(nu[j])));
    }
  }
}
#endif

// PspSpikeForward on one block of kLanes rows (row k of z at zr + k * steps,
// `lanes` of them): in, through the recursion and the spike scan
// time-major in buf (with hist, steps * kLanes floats each), and out to u's
// and s's rows.
template <int kLanes>
void PspSpikeBlock(const internal::AlphaRecursion& alpha, const float* zr, int64_t lanes,
                   int64_t steps, absl::Span<const float> nu, float theta, float amplitude,
                   float* buf, float* hist, uint16_t* spiked, float* ur, float* sr) {
  for (int64_t g = 0; g < kLanes; g += 8) {  // groups of 8 rows: register transposes
    int64_t t = 0;
    if (g + 8 <= lanes) {
      for (; t + 8 <= steps; t += 8) {
        internal::Transpose8x8(zr + g * steps + t, steps, buf + t * kLanes + g, kLanes);
      }
    }
    for (int64_t k = g; k < g + 8; ++k) {
      for (int64_t tt = t; tt < steps; ++tt) {
        buf[tt * kLanes + k] = k < lanes ? zr[k * steps + tt] : 0.0f;
      }
    }
  }
  const unsigned mask = (1u << lanes) - 1;
  if constexpr (kLanes == 16) {
    internal::AlphaLanes16(alpha, steps, /*backward=*/false, buf, hist);
#ifdef SLAYER_SPIKE_AVX512
    SpikeLanes16(buf, steps, nu, theta, mask, spiked);
#else
    SLAYER_CHECK(false) << "PspSpikeForward: 16-row blocks need the AVX-512 build";
#endif
  } else {
    internal::AlphaLanes8(alpha, steps, /*backward=*/false, buf, hist);
    internal::SpikeLanes(buf, steps, 8, nu, theta, mask, spiked);
  }
  for (int64_t g = 0; g < kLanes; g += 8) {
    int64_t t = 0;
    if (g + 8 <= lanes) {
      for (; t + 8 <= steps; t += 8) {
        internal::Transpose8x8(buf + t * kLanes + g, kLanes, ur + g * steps + t, steps);
      }
    }
    for (int64_t k = g; k < std::min<int64_t>(g + 8, lanes); ++k) {
      for (int64_t tt = t; tt < steps; ++tt) ur[k * steps + tt] = buf[tt * kLanes + k];
    }
  }
  internal::WriteSpikes(spiked, steps, lanes, amplitude, sr);
}

// Whether PspSpikeForward takes blocks of 16 rows (AVX-512).
bool PspSpike16Lanes() {
#ifdef SLAYER_SPIKE_AVX512
  return internal::WideKernelsEnabled();
#else
  return false;
#endif
}

}  // namespace

namespace internal {

absl::Status CheckSurrogate(const char* op, const SurrogateParams& params) {
  const float width = params.tau_rho * params.theta;
  if (!(width > 0.0f) || !std::isfinite(width) || !std::isfinite(params.scale_rho)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": surrogate needs tau_rho * theta > 0 and a finite scale_rho, got tau_rho ",
        params.tau_rho, ", theta ", params.theta, ", scale_rho ", params.scale_rho));
  }
  return absl::OkStatus();
}

void SurrogateRows(const SurrogateParams& params, const float* g, const float* u, int64_t n,
                   float* out) {
  Surrogate(params, g, u, n, out);
}


namespace {

constexpr int64_t kPanelLanes = 32;  // events.h's kPanel

// SpikeLanes's scan, handing each step's mask of spiking lanes to
// emit(t, mask).
template <typename Emit>
void SpikeLanesTo(float* u, int64_t steps, int64_t stride, absl::Span<const float> nu,
                  float theta, unsigned lanes, Emit&& emit) {
  const int64_t taps = static_cast<int64_t>(nu.size());
#if defined(__AVX2__)
  const __m256 threshold = _mm256_set1_ps(theta);
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (int64_t t = 0; t < steps; ++t) {
    float* ut = u + t * stride;
    const unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(
                              _mm256_cmp_ps(_mm256_loadu_ps(ut), threshold, _CMP_GE_OQ))) &
                          lanes;
    emit(t, mask);
    if (mask == 0) continue;
    const __m256 select = _mm256_castsi256_ps(_mm256_cmpeq_epi32(
        _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(mask)), bits), bits));
    const int64_t n = std::min(taps, steps - t);
    for (int64_t j = 0; j < n; ++j) {
      const __m256 v = _mm256_loadu_ps(ut + j * stride);
      _mm256_storeu_ps(ut + j * stride,
                       _mm256_blendv_ps(v, _mm256_add_ps(v, _mm256_set1_ps(nu[j])), select));
    }
  }
#else
  for (int64_t t = 0; t < steps; ++t) {
    float* ut = u + t * stride;
    unsigned mask = 0;
    for (int k = 0; k < 8; ++k) mask |= static_cast<unsigned>(ut[k] >= theta) << k;
    mask &= lanes;
    emit(t, mask);
    const int64_t n = std::min(taps, steps - t);
    for (int k = 0; k < 8; ++k) {
      if ((mask >> k & 1u) == 0) continue;
      for (int64_t j = 0; j < n; ++j) ut[j * stride + k] += nu[j];
    }
  }
#endif
}

#ifdef SLAYER_SPIKE_AVX512
// The lanes of the panel row ut at or above theta, among `lanes`.
__attribute__((target("avx512f"))) inline uint32_t PanelSpikes(const float* ut, __m512 threshold,
                                                                uint32_t lanes) {
  const uint32_t lo = _mm512_mask_cmp_ps_mask(static_cast<__mmask16>(lanes & 0xffff),
                                              _mm512_loadu_ps(ut), threshold, _CMP_GE_OQ);
  const uint32_t hi = _mm512_mask_cmp_ps_mask(static_cast<__mmask16>(lanes >> 16),
                                              _mm512_loadu_ps(ut + 16), threshold, _CMP_GE_OQ);
  return lo | hi << 16;
}

// Adds nu[j] to the lanes in `mask` of panel row ut + j, j < n.
__attribute__((target("avx512f"))) inline void PanelRefractory(float* ut, int64_t n,
                                                                const float* nu, uint32_t mask) {
  const __mmask16 lo = static_cast<__mmask16>(mask & 0xffff);
  const __mmask16 hi = static_cast<__mmask16>(mask >> 16);
  for (int64_t j = 0; j < n; ++j) {
    const __m512 r = _mm512_set1_ps(nu[j]);
    float* row = ut + j * kPanelLanes;
    const __m512 v0 = _mm512_loadu_ps(row), v1 = _mm512_loadu_ps(row + 16);
    _mm512_storeu_ps(row, _mm512_mask_add_ps(v0, lo, v0, r));
    _mm512_storeu_ps(row + 16, _mm512_mask_add_ps(v1, hi, v1, r));
  }
}

// SpikePanelMasks with AVX-512: the panel's 32 lanes at once (two registers,
// masked adds). When no refractory tap is positive a spike only lowers later
// potentials, so the steps where some lane is at or above theta before any
// response is added are the only ones that can spike: they are found first
// without a branch per step, and only they are scanned (in time order, each
// against the potentials as the earlier spikes left them).
__attribute__((target("avx512f"))) void SpikePanelMasks16(float* u, int64_t steps,
                                                           int64_t width,
                                                           absl::Span<const float> nu,
                                                           float theta, uint32_t* masks) {
  const int64_t taps = static_cast<int64_t>(nu.size());
  const uint32_t lanes = width >= 32 ? 0xffffffffu : ((uint32_t{1} << width) - 1);
  const __m512 threshold = _mm512_set1_ps(theta);
  bool lowering = true;
  for (const float r : nu) lowering = lowering && !(r > 0.0f);
  if (!lowering) {
    for (int64_t t = 0; t < steps; ++t) {
      float* ut = u + t * kPanelLanes;
      const uint32_t mask = PanelSpikes(ut, threshold, lanes);
      masks[t] = mask;
      if (mask != 0) PanelRefractory(ut, std::min(taps, steps - t), nu.data(), mask);
    }
    return;
  }
  // Per 256 steps: the candidates, with a bit per step that has any; then
  // the steps with candidates, in order.
  for (int64_t t0 = 0; t0 < steps; t0 += 256) {
    const int64_t t1 = std::min(steps, t0 + 256);
    uint64_t any[4] = {0, 0, 0, 0};
    for (int64_t t = t0; t < t1; ++t) {
      const uint32_t mask = PanelSpikes(u + t * kPanelLanes, threshold, lanes);
      masks[t] = mask;
      any[(t - t0) >> 6] |= static_cast<uint64_t>(mask != 0) << ((t - t0) & 63);
    }
    for (int64_t w = 0; w < 4; ++w) {
      for (uint64_t b = any[w]; b != 0; b &= b - 1) {
        const int64_t t = t0 + w * 64 + __builtin_ctzll(b);
        float* ut = u + t * kPanelLanes;
        const uint32_t mask = PanelSpikes(ut, threshold, lanes);
        masks[t] = mask;
        if (mask != 0) PanelRefractory(ut, std::min(taps, steps - t), nu.data(), mask);
      }
    }
  }
}
#endif

}  // namespace

void SpikeLanes(float* u, int64_t steps, int64_t stride, absl::Span<const float> nu,
                float theta, unsigned lanes, uint16_t* spiked) {
  SpikeLanesTo(u, steps, stride, nu, theta, lanes,
               [&](int64_t t, unsigned mask) { spiked[t] = static_cast<uint16_t>(mask); });
}

void SpikePanelMasks(float* u, int64_t steps, int64_t width, absl::Span<const float> nu,
                     float theta, uint32_t* masks) {
#ifdef SLAYER_SPIKE_AVX512
  if (WideKernelsEnabled()) {
    SpikePanelMasks16(u, steps, width, nu, theta, masks);
    return;
  }
#endif
  std::fill(masks, masks + steps, 0u);
  for (int64_t g = 0; g < width; g += 8) {
    const unsigned lanes = (1u << std::min<int64_t>(8, width - g)) - 1;
    SpikeLanesTo(u + g, steps, kPanelLanes, nu, theta, lanes,
                 [&](int64_t t, unsigned mask) { masks[t] |= mask << g; });
  }
}

void WriteSpikes(const uint16_t* spiked, int64_t steps, int64_t lanes, float amplitude,
                 float* s) {
  std::fill(s, s + lanes * steps, 0.0f);
  for (int64_t t = 0; t < steps; ++t) {
    for (unsigned m = spiked[t]; m != 0; m &= m - 1) s[__builtin_ctz(m) * steps + t] = amplitude;
  }
}

#ifdef SLAYER_SPIKE_AVX512
namespace {
// Values [f, f + 16) of WriteSpikesFromMasks16's rows, f = k * steps + t
// (t < steps): from row k's masks, and row k + 1's where they cross into it.
__attribute__((target("avx512f"))) inline __m512 SpikesChunk(const uint32_t* masks,
                                                              int64_t steps, int64_t width,
                                                              int64_t k, int64_t t,
                                                              __m512 value) {
  const int64_t left = steps - t;  // lanes in row k
  const __mmask16 first =
      left >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << left) - 1);
  // Only masks[t, steps) and masks[0, 16 - left) are read.
  __mmask16 m = _mm512_test_epi32_mask(_mm512_maskz_loadu_epi32(first, masks + t),
                                       _mm512_set1_epi32(static_cast<int32_t>(1u << k)));
  if (left < 16) {
    const __mmask16 rest = static_cast<__mmask16>(~first);
    if (k + 1 < width) {  // lane left + i: row k + 1, step i
      const __m512i next = _mm512_maskz_expandloadu_epi32(rest, masks);
      m |= _mm512_mask_test_epi32_mask(rest, next,
                                       _mm512_set1_epi32(static_cast<int32_t>(1u << (k + 1))));
    }
  }
  return _mm512_maskz_mov_ps(m, value);
}

// WriteSpikesFromMasks with AVX-512 (steps >= 16): the block of rows is
// written front to back 16 values at a time, streamed where aligned.
__attribute__((target("avx512f"))) void WriteSpikesFromMasks16(const uint32_t* masks,
                                                                int64_t steps, int64_t width,
                                                                float amplitude, float* s) {
  const int64_t total = width * steps;
  const __m512 value = _mm512_set1_ps(amplitude);
  int64_t f = 0, k = 0, t = 0;  // f = k * steps + t
  const int64_t head = std::min<int64_t>(
      total, static_cast<int64_t>((64 - reinterpret_cast<uintptr_t>(s) % 64) % 64 / sizeof(float)));
  if (head > 0) {
    _mm512_mask_storeu_ps(s, static_cast<__mmask16>((1u << head) - 1),
                          SpikesChunk(masks, steps, width, 0, 0, value));
    f = t = head;
  }
  const bool aligned = reinterpret_cast<uintptr_t>(s + f) % 64 == 0;
  for (; f + 16 <= total; f += 16) {
    const __m512 v = SpikesChunk(masks, steps, width, k, t, value);
    if (aligned) {
      _mm512_stream_ps(s + f, v);
    } else {  // s not even float-aligned
      _mm512_storeu_ps(s + f, v);
    }
    t += 16;
    if (t >= steps) {
      t -= steps;
      ++k;
    }
  }
  if (f < total) {
    _mm512_mask_storeu_ps(s + f, static_cast<__mmask16>((1u << (total - f)) - 1),
                          SpikesChunk(masks, steps, width, k, t, value));
  }
  _mm_sfence();
}
}  // namespace
#endif

void WriteSpikesFromMasks(const uint32_t* masks, int64_t steps, int64_t width, float amplitude,
                          float* s) {
#ifdef SLAYER_SPIKE_AVX512
  if (WideKernelsEnabled() && steps >= 16) {
    WriteSpikesFromMasks16(masks, steps, width, amplitude, s);
    return;
  }
#endif
  std::fill(s, s + width * steps, 0.0f);
  for (int64_t t = 0; t < steps; ++t) {
    for (uint32_t m = masks[t]; m != 0; m &= m - 1) s[__builtin_ctz(m) * steps + t] = amplitude;
  }
}

}  // namespace internal

OpDispatch<SpikeForwardFn>& SpikeForwardDispatch() {
  static auto* dispatch = new OpDispatch<SpikeForwardFn>("spike_forward", &cpu::SpikeForward);
  return *dispatch;
}

OpDispatch<SpikeBackwardFn>& SpikeBackwardDispatch() {
  static auto* dispatch =
      new OpDispatch<SpikeBackwardFn>("spike_backward", &cpu::SpikeBackward);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered = (SpikeForwardDispatch(), SpikeBackwardDispatch(), true);
}  // namespace

absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s) {
  SLAYER_RETURN_IF_ERROR(CheckForwardArgs("SpikeForward", u, theta, ts, s));
  return SpikeForwardDispatch()(u->device(), u, nu, theta, ts, s);
}

absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const SurrogateParams& params, Tensor* grad_u) {
  SLAYER_RETURN_IF_ERROR(CheckBackwardArgs("SpikeBackward", grad_s, u, params, grad_u));
  return SpikeBackwardDispatch()(u.device(), grad_s, u, params, grad_u);
}

namespace cpu {

absl::Status SpikeForward(Tensor* u, absl::Span<const float> nu, float theta, float ts,
                          Tensor* s) {
  SLAYER_RETURN_IF_ERROR(CheckForwardArgs("SpikeForward", u, theta, ts, s));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"SpikeForward: u", u}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(s, u->shape(), Device::kCpu));
  const int64_t steps = u->dim(-1);
  if (u->numel() == 0) return absl::OkStatus();
  const int64_t rows = u->numel() / steps;
  const int64_t taps = static_cast<int64_t>(nu.size());
  const float amplitude = 1.0f / ts;
  float* potential = u->data();
  float* spikes = s->data();
  internal::ParallelFor(rows, std::max<int64_t>(1, 4096 / steps), [&](int64_t begin,
                                                                     int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* ur = potential + r * steps;
      float* sr = spikes + r * steps;
      // A recurrence in time: a spike's refractory response changes the
      // potential that later steps compare against theta, so the scan for the
      // next crossing resumes after each update.
      std::fill(sr, sr + steps, 0.0f);
      for (int64_t t = NextCrossing(ur, 0, steps, theta); t < steps;
           t = NextCrossing(ur, t + 1, steps, theta)) {
        sr[t] = amplitude;
        AddRefractory(nu.data(), std::min(taps, steps - t), ur + t);
      }
    }
  });
  return absl::OkStatus();
}

absl::Status SpikeBackward(const Tensor& grad_s, const Tensor& u,
                           const SurrogateParams& params, Tensor* grad_u) {
  SLAYER_RETURN_IF_ERROR(CheckBackwardArgs("SpikeBackward", grad_s, u, params, grad_u));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"SpikeBackward: u", &u}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_u, u.shape(), Device::kCpu));
  const int64_t n = u.numel();
  if (n == 0) return absl::OkStatus();
  const float* gs = grad_s.data();
  const float* pot = u.data();
  float* gu = grad_u->data();
  internal::ParallelFor(n, 1 << 14, [&](int64_t begin, int64_t end) {
    // grad_u may alias grad_s: every element is read before it is written.
    Surrogate(params, gs + begin, pot + begin, end - begin, gu + begin);
  });
  return absl::OkStatus();
}

absl::Status SurrogatePspBackward(const Tensor& grad_s, const Tensor& u,
                                  const SurrogateParams& params, absl::Span<const float> kernel,
                                  float ts, Tensor* grad_z) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(grad_z, "SurrogatePspBackward", "grad_z"));
  SLAYER_RETURN_IF_ERROR(
      CheckBackwardArgs("SurrogatePspBackward", grad_s, u, params, grad_z));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, "SurrogatePspBackward"));
  SLAYER_RETURN_IF_ERROR(
      internal::CheckMinRank(u, 1, "SurrogatePspBackward", "u", "[..., T] (time innermost)"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"SurrogatePspBackward: u", &u}}));
  SLAYER_RETURN_IF_ERROR(EnsureShape(grad_z, u.shape(), Device::kCpu));
  if (u.numel() == 0) return absl::OkStatus();
  const int64_t steps = u.dim(-1);
  const int64_t rows = u.numel() / steps;
  const internal::TemporalFilter filter(kernel, ts, steps);
  const float* gs = grad_s.data();
  const float* pot = u.data();
  float* gz = grad_z->data();
  // Tasks own blocks of eight rows (the psp recursion's lane count); the
  // surrogate of a block goes to per-thread scratch, then through the filter.
  const int64_t blocks = (rows + 7) / 8;
  internal::ParallelFor(blocks, std::max<int64_t>(1, 2048 / steps), [&](int64_t b0, int64_t b1) {
    float* g = internal::Scratch(internal::kScratchB, 8 * steps);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * 8;
      const int64_t n = std::min<int64_t>(8, rows - r0);
      Surrogate(params, gs + r0 * steps, pot + r0 * steps, n * steps, g);
      filter.BackwardRows(g, n, gz + r0 * steps);
    }
  });
  return absl::OkStatus();
}

absl::Status PspSpikeForward(const Tensor& z, absl::Span<const float> kernel,
                             absl::Span<const float> nu, float theta, float ts, Tensor* u,
                             Tensor* s) {
  constexpr char kOp[] = "PspSpikeForward";
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(u, kOp, "u"));
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(s, kOp, "s"));
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, kOp));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(z, 1, kOp, "z", "[..., T] (time innermost)"));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"PspSpikeForward: z", &z}}));
  if (!std::isfinite(theta)) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": theta must be finite, got ", theta));
  }
  if (s == u || s == &z || s->SharesStorageWith(*u) || s->SharesStorageWith(z)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": s must not share storage with z or u"));
  }
  const int64_t steps = z.dim(-1);
  const internal::TemporalFilter filter(kernel, ts, steps);
  if (filter.alpha() == nullptr || steps == 0) {  // the two ops in turn
    SLAYER_RETURN_IF_ERROR(cpu::PspForward(z, kernel, ts, u));
    return cpu::SpikeForward(u, nu, theta, ts, s);
  }
  if (u != &z) SLAYER_RETURN_IF_ERROR(EnsureShape(u, z.shape(), Device::kCpu));
  SLAYER_RETURN_IF_ERROR(EnsureShape(s, z.shape(), Device::kCpu));
  if (z.numel() == 0) return absl::OkStatus();
  const int64_t rows = z.numel() / steps;
  const float amplitude = 1.0f / ts;
  const internal::AlphaRecursion& alpha = *filter.alpha();
  const float* zs = z.data();
  float* us = u->data();
  float* ss = s->data();
  // Blocks of 16 rows with AVX-512, else 8.
  const int64_t width = PspSpike16Lanes() ? 16 : 8;
  const int64_t blocks = (rows + width - 1) / width;
  internal::ParallelFor(blocks, std::max<int64_t>(1, 2048 / (steps * width / 8)),
                        [&](int64_t b0, int64_t b1) {
    // The filter's own slot (TemporalFilter::Rows takes the same), so that
    // the slots the synaptic ops size stay as they were.
    float* buf = internal::Scratch(internal::kScratchFilter, (2 * width + 1) * steps);
    float* hist = buf + steps * width;
    uint16_t* spiked = reinterpret_cast<uint16_t*>(hist + steps * width);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * width;
      const int64_t lanes = std::min<int64_t>(width, rows - r0);
      const int64_t offset = r0 * steps;
      if (width == 16) {
        PspSpikeBlock<16>(alpha, zs + offset, lanes, steps, nu, theta, amplitude, buf, hist,
                          spiked, us + offset, ss + offset);
      } else {
        PspSpikeBlock<8>(alpha, zs + offset, lanes, steps, nu, theta, amplitude, buf, hist,
                         spiked, us + offset, ss + offset);
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
