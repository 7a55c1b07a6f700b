// A single-threaded fp32 GEMM over strided views, with an AVX-512 kernel
// chosen at run time (internal to slayer/ops). The build targets x86-64-v3
// (AVX2 + FMA), where Eigen's GEMM is the dense ops' path; on a CPU with
// AVX-512F the dense ops call this one instead, which uses the full vector
// width without giving up the portable binary (Eigen's own AVX-512 code
// needs -mavx512f for the whole program). On a CPU with AMX-BF16 the input
// gradient passed between dense layers (GemmPanels) runs on the tile unit
// in bf16x3, about 3x faster than fp32 (AmxGemmAvailable() below).
//
//   // C (m x n) = A (m x k) * B (k x n), A read through its transpose W^T:
//   Gemm(m, n, k, {w, 1, m}, {b, n, 1}, c, /*ldc=*/n, /*accumulate=*/false);
//
// Callers split the work across threads themselves (each call packs into
// per-thread buffers, reused: steady-state calls allocate nothing).
#ifndef SLAYER_OPS_GEMM_H_
#define SLAYER_OPS_GEMM_H_

#include <cstdint>

namespace slayer {
namespace ops {
namespace internal {

// Element (r, c) of a matrix at data[r * row_stride + c * col_stride].
struct MatrixView {
  const float* data;
  int64_t row_stride;
  int64_t col_stride;
};

// Columns per panel of PanelMatrix (and of the kernel's register block).
constexpr int64_t kGemmPanel = 32;
// A matrix stored as panels of 32 columns, each row-major: element (r, c)
// at data[(c / 32) * panel_stride + r * 32 + c % 32] (with panel_stride =
// rows * 32, the layout [C / 32][R][32] of ops/events.h's panels).
struct PanelMatrix {
  const float* data;
  int64_t panel_stride;
};

// Whether Gemm runs (the CPU has AVX-512F and the OS saves its registers,
// and $SLAYER_GEMM is not "eigen"), read once. Without it, callers keep
// their Eigen path.
bool FastGemmAvailable();
// Overrides FastGemmAvailable() for tests and benchmarks (false: off; true:
// back to what the CPU supports). Not to be called while a GEMM runs.
void SetFastGemmEnabled(bool enabled);

// Whether PackGemmB packs B for GemmPanels' AMX kernel: FastGemmAvailable(),
// the CPU has AMX-BF16 (Intel Sapphire Rapids and later), Linux grants this
// process the tile state, and $SLAYER_GEMM is not "fp32". That kernel
// multiplies in bf16x3: with a = ah + al and b = bh + bl (each half a
// bfloat16 rounded to nearest, a - ah - al within 2^-16 |a|), a*b is taken
// as ah bh + ah bl + al bh (within 3 x 2^-16 |a b| at worst), summed in fp32
// by the tile unit (about 3k/2 roundings). Each element of C is then within
// (3 x 2^-16 + 1.5 k 2^-24) of sum_p |a_p b_p| of the exact sum at worst,
// about 1.5e-6 of it in practice (k = 512; fp32's own GEMM: 3e-7), and comes
// several times faster. The tile unit flushes subnormals: factors below
// about 2^-118 in magnitude lose their low half. An infinite or NaN element
// of A or B, or a finite one of magnitude 3.39e38 or more (its high half
// rounds to infinity), makes its row or column of C NaN.
bool AmxGemmAvailable();
// Overrides AmxGemmAvailable() as SetFastGemmEnabled does FastGemmAvailable().
void SetAmxGemmEnabled(bool enabled);
// The GEMM path in words, for the tools' headers: "Eigen (...)", "AVX-512
// fp32" or, with AMX, "AVX-512 fp32; grad_x between dense layers on AMX in
// bf16x3 (...)".
const char* GemmPathDescription();
// The row block GemmPanels works in for a B packed now: callers that split m
// between threads give each a multiple of it (12, or 32 with AMX).
int64_t GemmPanelsRowUnit();

// C (m x n, row-major with row stride ldc) = A (m x k) * B (k x n), or
// C += A * B with `accumulate`. Sums over k in blocks of at most 256 (of
// about equal depth), in increasing k. Requires FastGemmAvailable().
void Gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t ldc,
          bool accumulate);

// A packed once for many Gemm calls with the same A (m x k) and other Bs:
// PackGemmA writes PackedGemmASize(m, k) floats (on the thread pool, inline
// inside a task); GemmPackedA then multiplies rows [i0, i0 + rows) of that A
// (i0 a multiple of kGemmRowBlock) by B, with Gemm's sums in Gemm's order.
// Require FastGemmAvailable().
constexpr int64_t kGemmRowBlock = 12;
int64_t PackedGemmASize(int64_t m, int64_t k);
void PackGemmA(int64_t m, int64_t k, MatrixView a, float* packed);
void GemmPackedA(int64_t rows, int64_t n, int64_t k, const float* packed_a, int64_t m,
                 int64_t i0, MatrixView b, float* c, int64_t ldc, bool accumulate);

// B packed once for many GemmPanels calls with the same B (k x n) and other
// As: PackGemmB writes PackedGemmBSize(k, n) floats (on the thread pool,
// inline inside a task), for the AMX kernel where AmxGemmAvailable() (the
// buffer records which, and k and n). Require FastGemmAvailable().
int64_t PackedGemmBSize(int64_t k, int64_t n);
void PackGemmB(int64_t k, int64_t n, MatrixView b, float* packed);
// C (m x n) = A (m x k) * B, A and C stored as panels of 32 columns (C's
// panels c_panel_stride apart; each row of a panel, all 32 columns, is
// written, those past n with zero), B from PackGemmB(k, n, ...). B packed
// for fp32 gives Gemm's sums in Gemm's order: each strip of rows goes
// through all blocks of the sum at once, and when C is 64-byte aligned with
// c_panel_stride a multiple of 16 its final values are written with
// non-temporal stores (for an output read much later). B packed for AMX
// gives bf16x3 sums (AmxGemmAvailable()), 32 rows at a time. Requires
// FastGemmAvailable().
void GemmPanels(int64_t m, int64_t n, int64_t k, PanelMatrix a, const float* packed, float* c,
                int64_t c_panel_stride);

}  // namespace internal
}  // namespace ops
}  // namespace slayer

#endif  // SLAYER_OPS_GEMM_H_
