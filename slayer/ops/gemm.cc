#include "slayer/ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SLAYER_GEMM_AVX512 1
#if defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SLAYER_GEMM_AMX 1
#endif
#endif

#include "slayer/core/check.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace internal {
namespace {

// Register block: kRows rows of C by kCols columns (two 16-float vectors),
// 24 accumulators of the 32 AVX-512 registers. Blocks of the sum: kDepth
// steps of k (a packed B panel, kDepth x kCols, is 32 KiB: L1) and kWidth
// columns of C (the packed B block, kDepth x kWidth, is 512 KiB: L2).
constexpr int kRows = kGemmRowBlock;
constexpr int kCols = kGemmPanel;
constexpr int64_t kDepth = 256;
constexpr int64_t kWidth = 512;

// $SLAYER_GEMM, read once: "eigen" switches the AVX-512 GEMM off, "fp32"
// keeps GemmPanels in fp32 where the CPU has AMX.
enum class Choice { kDefault, kEigen, kFp32 };
Choice ReadChoice() {
  static const Choice choice = [] {
    const char* value = std::getenv("SLAYER_GEMM");
    if (value == nullptr || value[0] == '\0') return Choice::kDefault;
    if (std::strcmp(value, "eigen") == 0) return Choice::kEigen;
    if (std::strcmp(value, "fp32") == 0) return Choice::kFp32;
    std::fprintf(stderr,
                 "slayer: SLAYER_GEMM=%s is not a choice (\"eigen\" switches the AVX-512 GEMM "
                 "off, \"fp32\" its AMX bf16x3 path); ignored\n",
                 value);
    return Choice::kDefault;
  }();
  return choice;
}

bool Detect() {
#ifdef SLAYER_GEMM_AVX512
  return ReadChoice() != Choice::kEigen && CpuHasAvx512F();
#else
  return false;
#endif
}

// Whether the CPU and the OS run GemmPanels' AMX kernel: AMX-TILE, AMX-BF16
// and AVX512-BF16 (CPUID 7), palette 1 with 8 tiles of 16 rows x 64 bytes
// (CPUID 0x1d), the tile state enabled in XCR0 and granted to this process
// by Linux (arch_prctl ARCH_REQ_XCOMP_PERM, once).
bool CpuRunsAmx() {
#ifdef SLAYER_GEMM_AMX
  static const bool runs = [] {
    if (!CpuHasAvx512F() || __get_cpuid_max(0, nullptr) < 0x1d) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    const bool avx512_bf16 = (a >> 5) & 1;
    if (!amx_bf16 || !amx_tile || !avx512_bf16) return false;
    __cpuid_count(0x1d, 0, a, b, c, d);
    if (a < 1) return false;  // the highest palette
    __cpuid_count(0x1d, 1, a, b, c, d);
    if ((b & 0xffff) < 64 || (b >> 16) < 8 || (c & 0xffff) < 16) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x60000u) != 0x60000u) return false;  // XTILECFG, XTILEDATA
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return runs;
#else
  return false;
#endif
}

bool DetectAmx() { return Detect() && ReadChoice() != Choice::kFp32 && CpuRunsAmx(); }

std::atomic<bool>& Enabled() {
  static std::atomic<bool> enabled(Detect());
  return enabled;
}

std::atomic<bool>& AmxEnabled() {
  static std::atomic<bool> enabled(DetectAmx());
  return enabled;
}

// Per-thread packing memory of a fixed size, 64-byte aligned, allocated and
// touched in full by the thread's first call: later calls, whatever their
// sizes, neither allocate nor take page faults.
class PackBuffer {
 public:
  explicit PackBuffer(int64_t floats) : floats_(floats) {}
  ~PackBuffer() { std::free(data_); }
  float* Get() {
    if (data_ == nullptr) {
      const size_t bytes = static_cast<size_t>(floats_) * sizeof(float);  // a multiple of 64
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      SLAYER_CHECK(data_ != nullptr) << "Gemm: cannot allocate " << bytes << " bytes";
      std::memset(data_, 0, bytes);
    }
    return data_;
  }

 private:
  int64_t floats_;
  float* data_ = nullptr;
};

// dst[p * width + j] = src[p * stride + j] for j < n, zero for n <= j <
// width (width <= 32), p < count: a block of contiguous rows, zero-padded.
#ifdef SLAYER_GEMM_AVX512
__attribute__((target("avx512f"))) void CopyRows(const float* src, int64_t stride,
                                                  int64_t count, int64_t n, int64_t width,
                                                  float* dst) {
  const uint32_t bits = n >= 32 ? 0xffffffffu : ((uint32_t{1} << n) - 1);
  const __mmask16 m0 = static_cast<__mmask16>(bits & 0xffff);
  const __mmask16 m1 = static_cast<__mmask16>(bits >> 16);
  // Stores of width floats: the second vector only where width > 16.
  const uint32_t keep = width >= 32 ? 0xffffffffu : ((uint32_t{1} << width) - 1);
  const __mmask16 w0 = static_cast<__mmask16>(keep & 0xffff);
  const __mmask16 w1 = static_cast<__mmask16>(keep >> 16);
  for (int64_t p = 0; p < count; ++p) {
    const float* row = src + p * stride;
    float* d = dst + p * width;
    _mm512_mask_storeu_ps(d, w0, _mm512_maskz_loadu_ps(m0, row));
    if (w1 != 0) _mm512_mask_storeu_ps(d + 16, w1, _mm512_maskz_loadu_ps(m1, row + 16));
  }
}
#else
void CopyRows(const float* src, int64_t stride, int64_t count, int64_t n, int64_t width,
              float* dst) {
  for (int64_t p = 0; p < count; ++p) {
    for (int64_t j = 0; j < width; ++j) dst[p * width + j] = j < n ? src[p * stride + j] : 0.0f;
  }
}
#endif

// dst[p * dst_stride + r] = src[r * src_stride + p] for r < count, p < depth
// (a transpose into packed rows), then zero for count <= r < lanes. Full
// 8 x 8 blocks, and a last 4 x 8 one, move as register transposes.
#if defined(__AVX2__)
// dst[j * dst_stride + i] = src[i * src_stride + j] for i < 4, j < 8.
inline void Transpose4x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const __m256 a0 = _mm256_loadu_ps(src), a1 = _mm256_loadu_ps(src + src_stride),
               a2 = _mm256_loadu_ps(src + 2 * src_stride),
               a3 = _mm256_loadu_ps(src + 3 * src_stride);
  const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1),
               t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
  const __m256 c04 = _mm256_shuffle_ps(t0, t2, 0x44), c15 = _mm256_shuffle_ps(t0, t2, 0xee),
               c26 = _mm256_shuffle_ps(t1, t3, 0x44), c37 = _mm256_shuffle_ps(t1, t3, 0xee);
  _mm_storeu_ps(dst, _mm256_castps256_ps128(c04));
  _mm_storeu_ps(dst + dst_stride, _mm256_castps256_ps128(c15));
  _mm_storeu_ps(dst + 2 * dst_stride, _mm256_castps256_ps128(c26));
  _mm_storeu_ps(dst + 3 * dst_stride, _mm256_castps256_ps128(c37));
  _mm_storeu_ps(dst + 4 * dst_stride, _mm256_extractf128_ps(c04, 1));
  _mm_storeu_ps(dst + 5 * dst_stride, _mm256_extractf128_ps(c15, 1));
  _mm_storeu_ps(dst + 6 * dst_stride, _mm256_extractf128_ps(c26, 1));
  _mm_storeu_ps(dst + 7 * dst_stride, _mm256_extractf128_ps(c37, 1));
}
#endif

void TransposeRows(const float* src, int64_t src_stride, int64_t count, int64_t depth,
                   int64_t lanes, float* dst, int64_t dst_stride) {
  int64_t r = 0;
  for (; r + 8 <= count; r += 8) {
    int64_t p = 0;
    for (; p + 8 <= depth; p += 8) {
      Transpose8x8(src + r * src_stride + p, src_stride, dst + p * dst_stride + r, dst_stride);
    }
    for (int64_t i = r; i < r + 8; ++i) {
      for (int64_t pp = p; pp < depth; ++pp) dst[pp * dst_stride + i] = src[i * src_stride + pp];
    }
  }
#if defined(__AVX2__)
  if (r + 4 <= count) {  // a strip's last four rows (12 = 8 + 4)
    int64_t p = 0;
    for (; p + 8 <= depth; p += 8) {
      Transpose4x8(src + r * src_stride + p, src_stride, dst + p * dst_stride + r, dst_stride);
    }
    for (int64_t i = r; i < r + 4; ++i) {
      for (int64_t pp = p; pp < depth; ++pp) dst[pp * dst_stride + i] = src[i * src_stride + pp];
    }
    r += 4;
  }
#endif
  for (; r < count; ++r) {
    for (int64_t p = 0; p < depth; ++p) dst[p * dst_stride + r] = src[r * src_stride + p];
  }
  for (r = count; r < lanes; ++r) {
    for (int64_t p = 0; p < depth; ++p) dst[p * dst_stride + r] = 0.0f;
  }
}

// dst[p * kRows + r] = A(i0 + r, p0 + p) for p < depth; zero for r >= rows.
void PackA(MatrixView a, int64_t i0, int64_t rows, int64_t p0, int64_t depth, float* dst) {
  if (a.row_stride == 1) {  // columns of A contiguous (A is a transpose)
    CopyRows(a.data + i0 + p0 * a.col_stride, a.col_stride, depth, rows, kRows, dst);
  } else if (a.col_stride == 1) {  // rows of A contiguous
    TransposeRows(a.data + i0 * a.row_stride + p0, a.row_stride, rows, depth, kRows, dst, kRows);
  } else {
    for (int64_t r = 0; r < kRows; ++r) {
      const float* src = a.data + (i0 + r) * a.row_stride + p0 * a.col_stride;
      for (int64_t p = 0; p < depth; ++p) {
        dst[p * kRows + r] = r < rows ? src[p * a.col_stride] : 0.0f;
      }
    }
  }
}

// PackA for A stored as panels of kCols columns (PanelMatrix).
void PackAPanels(PanelMatrix a, int64_t i0, int64_t rows, int64_t p0, int64_t depth, float* dst) {
  for (int64_t c = p0; c < p0 + depth;) {
    const int64_t end = std::min(p0 + depth, (c / kCols + 1) * kCols);
    TransposeRows(a.data + (c / kCols) * a.panel_stride + i0 * kCols + c % kCols, kCols, rows,
                  end - c, kRows, dst + (c - p0) * kRows, kRows);
    c = end;
  }
}

// Panels of kCols columns: dst[(q * depth + p) * kCols + j] =
// B(p0 + p, j0 + q * kCols + j); zero past column j0 + width.
void PackB(MatrixView b, int64_t p0, int64_t depth, int64_t j0, int64_t width, float* dst) {
  const int64_t panels = (width + kCols - 1) / kCols;
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t c0 = j0 + q * kCols;
    const int64_t cols = std::min<int64_t>(kCols, j0 + width - c0);
    float* panel = dst + q * depth * kCols;
    if (b.col_stride == 1) {  // rows of B contiguous
      CopyRows(b.data + p0 * b.row_stride + c0, b.row_stride, depth, cols, kCols, panel);
    } else if (b.row_stride == 1) {  // columns of B contiguous (B is a transpose)
      TransposeRows(b.data + p0 + c0 * b.col_stride, b.col_stride, cols, depth, kCols, panel,
                    kCols);
    } else {
      for (int64_t j = 0; j < kCols; ++j) {
        const float* src = b.data + p0 * b.row_stride + (c0 + j) * b.col_stride;
        for (int64_t p = 0; p < depth; ++p) {
          panel[p * kCols + j] = j < cols ? src[p * b.row_stride] : 0.0f;
        }
      }
    }
  }
}

#ifdef SLAYER_GEMM_AVX512
// C[r, j] (+)= sum_p ap[p * kRows + r] * bp[p * kCols + j] for r < rows and
// the columns j whose bits are set in mask (low 16: the first vector). With
// kVectors 1 only the first 16 columns are computed (a last panel of at most
// 16 columns: the second vector's FMAs would all be masked out).
// With `stream` (kVectors 2, c and ldc 64-byte aligned) the rows are
// stored whole (all 32 columns) with non-temporal stores.
template <int kVectors>
__attribute__((target("avx512f"))) void MicroKernelN(int64_t depth, const float* ap,
                                                      const float* bp, float* c, int64_t ldc,
                                                      int64_t rows, uint32_t mask,
                                                      bool accumulate, bool stream) {
  __m512 acc[kRows][kVectors];
#pragma GCC unroll 12
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < depth; ++p) {
    __m512 b[kVectors];
    for (int v = 0; v < kVectors; ++v) b[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < kRows; ++r) {
      const __m512 a = _mm512_set1_ps(ap[r]);
      for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    ap += kRows;
    bp += kCols;
  }
  const __mmask16 m[2] = {static_cast<__mmask16>(mask & 0xffff),
                          static_cast<__mmask16>(mask >> 16)};
#pragma GCC unroll 12
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    float* row = c + r * ldc;
    for (int v = 0; v < kVectors; ++v) {
      __m512 x = acc[r][v];
      if (stream) {
        if (accumulate) x = _mm512_add_ps(_mm512_loadu_ps(row + 16 * v), x);
        _mm512_stream_ps(row + 16 * v, x);
        continue;
      }
      if (accumulate) x = _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], row + 16 * v), x);
      _mm512_mask_storeu_ps(row + 16 * v, m[v], x);
    }
  }
}

void MicroKernel(int64_t depth, const float* ap, const float* bp, float* c, int64_t ldc,
                 int64_t rows, uint32_t mask, bool accumulate, bool stream = false) {
  if ((mask >> 16) == 0 && !stream) {
    MicroKernelN<1>(depth, ap, bp, c, ldc, rows, mask, accumulate, false);
  } else {
    MicroKernelN<2>(depth, ap, bp, c, ldc, rows, mask, accumulate, stream);
  }
}
#endif

#ifdef SLAYER_GEMM_AVX512
// Blocks of the sum of about equal depth (k = 300: 150 + 150, not 256 + 44).
int64_t DepthStep(int64_t k) {
  const int64_t blocks = (k + kDepth - 1) / kDepth;
  return (k + blocks - 1) / blocks;
}

// Strips of kRows rows of A.
int64_t Strips(int64_t m) { return (m + kRows - 1) / kRows; }

// Where PackGemmB's layout holds the block of B for columns from j0 (a
// multiple of kWidth) and depth from p0 (a multiple of DepthStep(k)): blocks
// of kWidth columns in order, each the blocks of its depth in order, each
// PackB's panels of that width (rounded up to kCols).
int64_t PackedBOffset(int64_t n, int64_t k, int64_t j0, int64_t p0) {
  const int64_t width = std::min(kWidth, n - j0);
  return j0 * k + p0 * ((width + kCols - 1) / kCols) * kCols;
}

// Gemm with A either packed per strip as it goes (packed_a null) or read
// from PackGemmA's layout, from strip first_strip on.
void GemmImpl(int64_t m, int64_t n, int64_t k, MatrixView a, const float* packed_a,
              int64_t packed_m, int64_t first_strip, MatrixView b, float* c, int64_t ldc,
              bool accumulate) {
  SLAYER_CHECK(FastGemmAvailable()) << "Gemm: no AVX-512 on this CPU (or $SLAYER_GEMM=eigen)";
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    return;
  }
  thread_local PackBuffer a_buffer(kDepth * kRows), b_buffer(kDepth * kWidth);
  float* ap = a_buffer.Get();
  float* bp = b_buffer.Get();
  const int64_t step = DepthStep(k);
  for (int64_t j0 = 0; j0 < n; j0 += kWidth) {
    const int64_t width = std::min(kWidth, n - j0);
    const int64_t panels = (width + kCols - 1) / kCols;
    for (int64_t p0 = 0; p0 < k; p0 += step) {
      const int64_t depth = std::min(step, k - p0);
      const bool add = accumulate || p0 > 0;
      PackB(b, p0, depth, j0, width, bp);
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, m - i0);
        const float* strip = ap;
        if (packed_a != nullptr) {
          strip = packed_a + p0 * Strips(packed_m) * kRows +
                  (first_strip + i0 / kRows) * depth * kRows;
        } else {
          PackA(a, i0, rows, p0, depth, ap);
        }
        for (int64_t q = 0; q < panels; ++q) {
          const int64_t cols = std::min<int64_t>(kCols, width - q * kCols);
          const uint32_t mask =
              cols == kCols ? 0xffffffffu : ((uint32_t{1} << cols) - 1);
          MicroKernel(depth, strip, bp + q * depth * kCols, c + i0 * ldc + j0 + q * kCols, ldc,
                      rows, mask, add);
        }
      }
    }
  }
}
#endif

// PackGemmB's buffer starts with a header of kHeaderFloats floats (64
// bytes): the kernel it was packed for, k and n. GemmPanels reads it, so a B
// packed before SetAmxGemmEnabled changes goes to the kernel it was packed
// for.
constexpr int64_t kHeaderFloats = 16;
enum class PackKind : int32_t { kFp32 = 0x32335046, kAmx = 0x33464258 };
struct PackHeader {
  PackKind kind;
  int32_t unused;
  int64_t k;
  int64_t n;
};
static_assert(sizeof(PackHeader) <= kHeaderFloats * sizeof(float), "header");

// The AMX kernel: rows of C in blocks of kAmxRows (two tiles of 16 rows),
// columns in blocks of 32 (two tiles of 16), the sum in chunks of 32 steps.
constexpr int64_t kAmxRows = 32;
constexpr int64_t kAmxChunk = 32;
static_assert(kAmxChunk == kGemmPanel, "a chunk of the sum is a panel of A");
// Floats of PackGemmB's AMX layout: per 16 columns and chunk of the sum, a
// tile of the high bf16 halves and one of the low (1 KiB each).
int64_t AmxPackedFloats(int64_t k, int64_t n) {
  return ((n + 31) / 32 * 2) * ((k + kAmxChunk - 1) / kAmxChunk) * 512;
}

#ifdef SLAYER_GEMM_AMX
// Palette 1, tiles 0-7 of 16 rows x 64 bytes. Static: GCC 12 drops stores
// to a local array that only ldtilecfg reads.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
const TileConfig kTileConfig;

#define SLAYER_AMX_TARGET target("avx512f,avx512bf16,amx-tile,amx-bf16")
// All 16 lanes (the maskz forms: GCC 12 warns that the plain ones read an
// undefined vector).
constexpr __mmask16 kAll = 0xffff;

// x = hi + lo + r with hi = bf16(x) and lo = bf16(x - hi) (both rounded to
// nearest even; |r| <= 2^-16 |x|), each in the low half of a 32-bit lane.
__attribute__((SLAYER_AMX_TARGET)) static inline void SplitBf16(__m512 x, __m512i* hi,
                                                                __m512i* lo) {
  const __m512i h =
      _mm512_maskz_cvtepu16_epi32(kAll, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)));
  const __m512 rest = _mm512_sub_ps(x, _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, h, 16)));
  *hi = h;
  *lo = _mm512_maskz_cvtepu16_epi32(kAll, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(rest)));
}

// dst[hl][r][j] for r < kAmxRows, j < 32: rows [0, kAmxRows) of one panel
// of A (32 floats a row, from panel_rows) split into high (hl 0) and low
// (hl 1) bf16 halves, zero past `rows` rows and `cols` columns (neither is
// read there).
__attribute__((SLAYER_AMX_TARGET)) void SplitChunk(const float* panel_rows, int64_t rows,
                                                   int64_t cols, uint16_t* dst) {
  const uint32_t bits = cols >= 32 ? 0xffffffffu : ((uint32_t{1} << cols) - 1);
  const __mmask16 m0 = static_cast<__mmask16>(bits & 0xffff);
  const __mmask16 m1 = static_cast<__mmask16>(bits >> 16);
  for (int64_t r = 0; r < kAmxRows; ++r) {
    __m512i h0 = _mm512_setzero_si512(), l0 = h0, h1 = h0, l1 = h0;
    if (r < rows) {
      SplitBf16(_mm512_maskz_loadu_ps(m0, panel_rows + r * kCols), &h0, &l0);
      SplitBf16(_mm512_maskz_loadu_ps(m1, panel_rows + r * kCols + 16), &h1, &l1);
    }
    // 32 halves of 16 bits: the low halves of two vectors of 32-bit lanes.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + r * 32),
                        _mm512_maskz_cvtepi32_epi16(kAll, h0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + r * 32 + 16),
                        _mm512_maskz_cvtepi32_epi16(kAll, h1));
    uint16_t* low = dst + (kAmxRows + r) * 32;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(low), _mm512_maskz_cvtepi32_epi16(kAll, l0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(low + 16),
                        _mm512_maskz_cvtepi32_epi16(kAll, l1));
  }
}

// PackGemmB's AMX layout for the 16 columns from c0 (a multiple of 16) and
// the chunk of the sum from p0: the high tile then the low tile, each 16
// rows of pairs of steps, [pair][column][2] (the VNNI order TDPBF16PS reads).
__attribute__((SLAYER_AMX_TARGET)) void PackBTile(MatrixView b, int64_t k, int64_t n, int64_t p0,
                                                  int64_t c0, uint16_t* dst) {
  const int64_t cols = std::min<int64_t>(16, n - c0);
  const __mmask16 mask = static_cast<__mmask16>((uint32_t{1} << cols) - 1);
  alignas(64) float row[2][16];
  for (int64_t pair = 0; pair < 16; ++pair) {
    __m512i hi[2], lo[2];
    for (int e = 0; e < 2; ++e) {
      const int64_t p = p0 + 2 * pair + e;
      __m512 x = _mm512_setzero_ps();
      if (p < k) {
        const float* src = b.data + p * b.row_stride + c0 * b.col_stride;
        if (b.col_stride == 1) {
          x = _mm512_maskz_loadu_ps(mask, src);
        } else {
          for (int64_t j = 0; j < 16; ++j) row[e][j] = j < cols ? src[j * b.col_stride] : 0.0f;
          x = _mm512_load_ps(row[e]);
        }
      }
      SplitBf16(x, &hi[e], &lo[e]);
    }
    _mm512_storeu_si512(dst + pair * 32,
                        _mm512_or_si512(hi[0], _mm512_maskz_slli_epi32(kAll, hi[1], 16)));
    _mm512_storeu_si512(dst + 512 + pair * 32,
                        _mm512_or_si512(lo[0], _mm512_maskz_slli_epi32(kAll, lo[1], 16)));
  }
}

void PackGemmBAmx(int64_t k, int64_t n, MatrixView b, uint16_t* packed) {
  const int64_t chunks = (k + kAmxChunk - 1) / kAmxChunk;
  const int64_t tiles = (n + 31) / 32 * 2;  // of 16 columns
  ParallelFor(tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t q = 0; q < chunks; ++q) {
        uint16_t* dst = packed + (t * chunks + q) * 1024;
        if (t * 16 >= n) {
          std::memset(dst, 0, 1024 * sizeof(uint16_t));
        } else {
          PackBTile(b, k, n, q * kAmxChunk, t * 16, dst);
        }
      }
    }
  });
}

// Tiles 0-3 (C's 2 x 2 tiles) += the products of tiles 4 and 5 (A's rows)
// with tiles 6 and 7 (B's columns).
__attribute__((SLAYER_AMX_TARGET, always_inline)) static inline void Products2x2() {
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// C (+)= Ah Bh + Ah Bl + Al Bh for the 32 rows in `a` (SplitChunk's layout,
// chunk after chunk) and the 32 columns of tiles 2 cb and 2 cb + 1: the sum
// in tiles 0-3, operands in 4-7.
__attribute__((SLAYER_AMX_TARGET)) void AmxBlock(const uint16_t* a, const uint16_t* b0,
                                                 const uint16_t* b1, int64_t chunks) {
  // GCC 12's tile loads do not tell the compiler that they read memory: the
  // stores of A's halves (SplitChunk) must not move past them.
  __asm__ volatile("" ::: "memory");
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t q = 0; q < chunks; ++q) {
    const uint16_t* ah = a + q * 2048;
    const uint16_t* al = ah + 1024;
    const uint16_t* bh0 = b0 + q * 1024;
    const uint16_t* bh1 = b1 + q * 1024;
    _tile_loadd(4, ah, 64);
    _tile_loadd(5, ah + 512, 64);
    _tile_loadd(6, bh0, 64);
    _tile_loadd(7, bh1, 64);
    Products2x2();
    _tile_loadd(6, bh0 + 512, 64);  // the low halves of B
    _tile_loadd(7, bh1 + 512, 64);
    Products2x2();
    _tile_loadd(4, al, 64);  // the low halves of A
    _tile_loadd(5, al + 512, 64);
    _tile_loadd(6, bh0, 64);
    _tile_loadd(7, bh1, 64);
    Products2x2();
  }
}

// Stores tiles 0-3 as rows [0, 32) of a panel (32 floats a row).
__attribute__((SLAYER_AMX_TARGET)) void StoreBlock(float* panel_rows) {
  _tile_stored(0, panel_rows, 128);
  _tile_stored(1, panel_rows + 16, 128);
  _tile_stored(2, panel_rows + 16 * kCols, 128);
  _tile_stored(3, panel_rows + 16 * kCols + 16, 128);
}

__attribute__((SLAYER_AMX_TARGET)) void GemmPanelsAmx(int64_t m, int64_t n, int64_t k,
                                                      PanelMatrix a, const uint16_t* packed_b,
                                                      float* c, int64_t c_panel_stride) {
  const int64_t chunks = (k + kAmxChunk - 1) / kAmxChunk;
  const int64_t col_blocks = (n + 31) / 32;
  // A's rows split, chunk after chunk (4 KiB a chunk: a float holds two
  // halves), in the thread's buffer for 16 chunks (k <= 512), else in one
  // that grows to the largest k the thread has seen; 64-byte aligned, so
  // that each row of a tile is one cache line.
  thread_local PackBuffer a_buffer(16 * kAmxRows * 32), last_rows(kAmxRows * kCols);
  thread_local std::unique_ptr<PackBuffer> a_wide;
  thread_local int64_t a_wide_chunks = 0;
  float* a_floats = a_buffer.Get();
  if (chunks > 16) {
    if (chunks > a_wide_chunks) {
      a_wide = std::make_unique<PackBuffer>(chunks * kAmxRows * 32);
      a_wide_chunks = chunks;
    }
    a_floats = a_wide->Get();
  }
  uint16_t* ab = reinterpret_cast<uint16_t*>(a_floats);
  _tile_loadconfig(&kTileConfig);
  for (int64_t i0 = 0; i0 < m; i0 += kAmxRows) {
    const int64_t rows = std::min(kAmxRows, m - i0);
    for (int64_t q = 0; q < chunks; ++q) {
      SplitChunk(a.data + q * a.panel_stride + i0 * kCols, rows,
                 std::min<int64_t>(kAmxChunk, k - q * kAmxChunk), ab + q * 2 * kAmxRows * 32);
    }
    for (int64_t cb = 0; cb < col_blocks; ++cb) {
      AmxBlock(ab, packed_b + (2 * cb) * chunks * 1024, packed_b + (2 * cb + 1) * chunks * 1024,
               chunks);
      float* out = c + cb * c_panel_stride + i0 * kCols;
      if (rows == kAmxRows) {
        StoreBlock(out);
      } else {
        float* tmp = last_rows.Get();
        StoreBlock(tmp);
        std::memcpy(out, tmp, rows * kCols * sizeof(float));
      }
    }
  }
  _tile_release();
}
#endif  // SLAYER_GEMM_AMX

}  // namespace

bool FastGemmAvailable() { return Enabled().load(std::memory_order_relaxed); }

void SetFastGemmEnabled(bool enabled) {
  Enabled().store(enabled && Detect(), std::memory_order_relaxed);
}

bool AmxGemmAvailable() {
  return FastGemmAvailable() && AmxEnabled().load(std::memory_order_relaxed);
}

void SetAmxGemmEnabled(bool enabled) {
  AmxEnabled().store(enabled && DetectAmx(), std::memory_order_relaxed);
}

const char* GemmPathDescription() {
  if (!FastGemmAvailable()) return "Eigen (no AVX-512, or $SLAYER_GEMM=eigen)";
  if (!AmxGemmAvailable()) return "AVX-512 fp32";
  return "AVX-512 fp32; grad_x between dense layers on AMX in bf16x3 ($SLAYER_GEMM=fp32: fp32 "
         "throughout)";
}

int64_t GemmPanelsRowUnit() { return AmxGemmAvailable() ? kAmxRows : kRows; }

void Gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t ldc,
          bool accumulate) {
#ifdef SLAYER_GEMM_AVX512
  GemmImpl(m, n, k, a, nullptr, 0, 0, b, c, ldc, accumulate);
#else
  SLAYER_CHECK(false) << "Gemm: built without the AVX-512 kernel";
#endif
}

int64_t PackedGemmASize(int64_t m, int64_t k) {
#ifdef SLAYER_GEMM_AVX512
  return Strips(m) * kRows * std::max<int64_t>(k, 0);
#else
  return 0;
#endif
}

void PackGemmA(int64_t m, int64_t k, MatrixView a, float* packed) {
#ifdef SLAYER_GEMM_AVX512
  if (m <= 0 || k <= 0) return;
  const int64_t step = DepthStep(k);
  const int64_t strips = Strips(m);
  ParallelFor(strips, 4, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const int64_t i0 = s * kRows;
      const int64_t rows = std::min<int64_t>(kRows, m - i0);
      for (int64_t p0 = 0; p0 < k; p0 += step) {
        const int64_t depth = std::min(step, k - p0);
        PackA(a, i0, rows, p0, depth, packed + p0 * strips * kRows + s * depth * kRows);
      }
    }
  });
#else
  SLAYER_CHECK(false) << "PackGemmA: built without the AVX-512 kernel";
#endif
}

void GemmPackedA(int64_t m, int64_t n, int64_t k, const float* packed_a, int64_t packed_m,
                 int64_t i0, MatrixView b, float* c, int64_t ldc, bool accumulate) {
#ifdef SLAYER_GEMM_AVX512
  SLAYER_CHECK(i0 % kRows == 0 && i0 >= 0 && i0 + m <= packed_m)
      << "GemmPackedA: rows [" << i0 << ", " << i0 + m << ") of a packed A of " << packed_m
      << " rows must start at a multiple of " << kRows;
  GemmImpl(m, n, k, MatrixView{nullptr, 0, 0}, packed_a, packed_m, i0 / kRows, b, c, ldc,
           accumulate);
#else
  SLAYER_CHECK(false) << "GemmPackedA: built without the AVX-512 kernel";
#endif
}

void GemmPanels(int64_t m, int64_t n, int64_t k, PanelMatrix a, const float* packed, float* c,
                int64_t c_panel_stride) {
#ifdef SLAYER_GEMM_AVX512
  SLAYER_CHECK(FastGemmAvailable()) << "GemmPanels: no AVX-512 on this CPU (or $SLAYER_GEMM=eigen)";
  if (m <= 0 || n <= 0) return;
  PackHeader header;
  std::memcpy(&header, packed, sizeof(header));
  SLAYER_CHECK(header.k == std::max<int64_t>(k, 0) && header.n == n &&
               (header.kind == PackKind::kFp32 || header.kind == PackKind::kAmx))
      << "GemmPanels: B was not packed by PackGemmB(" << k << ", " << n << ", ...)";
  const float* packed_b = packed + kHeaderFloats;
  if (k <= 0) {
    for (int64_t q = 0; q < (n + kCols - 1) / kCols; ++q) {
      std::fill(c + q * c_panel_stride, c + q * c_panel_stride + m * kCols, 0.0f);
    }
    return;
  }
#ifdef SLAYER_GEMM_AMX
  if (header.kind == PackKind::kAmx) {
    GemmPanelsAmx(m, n, k, a, reinterpret_cast<const uint16_t*>(packed_b), c, c_panel_stride);
    return;
  }
#endif
  SLAYER_CHECK(header.kind == PackKind::kFp32) << "GemmPanels: B packed for AMX, built without it";
  const int64_t step = DepthStep(k);
  // A strip of C through all the blocks of the sum while it is in cache, its
  // last block streamed out (C 64-byte aligned): each row of a panel goes to
  // memory once, whole.
  const bool stream = reinterpret_cast<uintptr_t>(c) % 64 == 0 && c_panel_stride % 16 == 0;
  thread_local PackBuffer a_buffer(kDepth * kRows);
  float* ap = a_buffer.Get();
  for (int64_t j0 = 0; j0 < n; j0 += kWidth) {
    const int64_t width = std::min(kWidth, n - j0);
    const int64_t panels = (width + kCols - 1) / kCols;
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - i0);
      for (int64_t p0 = 0; p0 < k; p0 += step) {
        const int64_t depth = std::min(step, k - p0);
        const float* bp = packed_b + PackedBOffset(n, k, j0, p0);
        PackAPanels(a, i0, rows, p0, depth, ap);
        for (int64_t q = 0; q < panels; ++q) {  // whole panel rows (B's padding is zero)
          MicroKernel(depth, ap, bp + q * depth * kCols,
                      c + (j0 / kCols + q) * c_panel_stride + i0 * kCols, kCols, rows,
                      0xffffffffu, /*accumulate=*/p0 > 0, stream && p0 + depth >= k);
        }
      }
    }
  }
  if (stream) _mm_sfence();
#else
  SLAYER_CHECK(false) << "GemmPanels: built without the AVX-512 kernel";
#endif
}

int64_t PackedGemmBSize(int64_t k, int64_t n) {
  k = std::max<int64_t>(k, 0);
  n = std::max<int64_t>(n, 0);
  // Room for either layout: which one PackGemmB writes depends on
  // AmxGemmAvailable() at the time.
  return kHeaderFloats + std::max(k * ((n + kCols - 1) / kCols) * kCols, AmxPackedFloats(k, n));
}

void PackGemmB(int64_t k, int64_t n, MatrixView b, float* packed) {
#ifdef SLAYER_GEMM_AVX512
  SLAYER_CHECK(FastGemmAvailable()) << "PackGemmB: no AVX-512 on this CPU (or $SLAYER_GEMM=eigen)";
  PackHeader header{PackKind::kFp32, 0, std::max<int64_t>(k, 0), n};
  if (AmxGemmAvailable()) header.kind = PackKind::kAmx;
  std::memset(packed, 0, kHeaderFloats * sizeof(float));
  std::memcpy(packed, &header, sizeof(header));
  packed += kHeaderFloats;
  if (n <= 0 || k <= 0) return;
#ifdef SLAYER_GEMM_AMX
  if (header.kind == PackKind::kAmx) {
    PackGemmBAmx(k, n, b, reinterpret_cast<uint16_t*>(packed));
    return;
  }
#endif
  const int64_t step = DepthStep(k);
  const int64_t depth_blocks = (k + step - 1) / step;
  const int64_t width_blocks = (n + kWidth - 1) / kWidth;
  ParallelFor(width_blocks * depth_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t j0 = task / depth_blocks * kWidth, p0 = task % depth_blocks * step;
      PackB(b, p0, std::min(step, k - p0), j0, std::min(kWidth, n - j0),
            packed + PackedBOffset(n, k, j0, p0));
    }
  });
#else
  SLAYER_CHECK(false) << "PackGemmB: built without the AVX-512 kernel";
#endif
}

}  // namespace internal
}  // namespace ops
}  // namespace slayer
