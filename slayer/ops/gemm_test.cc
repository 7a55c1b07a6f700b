#include "slayer/ops/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace ops {
namespace internal {
namespace {

struct Case {
  int64_t m, n, k;
  bool a_transposed;  // A stored as its transpose (k x m, row-major)
  bool b_transposed;  // B stored as its transpose (n x k, row-major)
  bool accumulate;
};

// Checks Gemm against a double-precision sum, element by element, within a
// bound proportional to sum_p |A(i,p) B(p,j)| (float rounding of k terms).
void Check(const Case& t) {
  std::mt19937 rng(static_cast<uint32_t>(t.m * 131 + t.n * 17 + t.k));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> a(t.m * t.k), b(t.k * t.n);
  for (float& v : a) v = uniform(rng);
  for (float& v : b) v = uniform(rng);
  const int64_t ldc = t.n + 3;  // a row stride wider than the row
  std::vector<float> c(t.m * ldc);
  for (float& v : c) v = uniform(rng);
  const std::vector<float> c0 = c;
  const MatrixView av = t.a_transposed ? MatrixView{a.data(), 1, t.m} : MatrixView{a.data(), t.k, 1};
  const MatrixView bv = t.b_transposed ? MatrixView{b.data(), 1, t.k} : MatrixView{b.data(), t.n, 1};
  Gemm(t.m, t.n, t.k, av, bv, c.data(), ldc, t.accumulate);
  for (int64_t i = 0; i < t.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= t.n) {  // past the row: untouched
        ASSERT_EQ(got, c0[i * ldc + j]) << "i " << i << " j " << j;
        continue;
      }
      double want = t.accumulate ? c0[i * ldc + j] : 0.0;
      double magnitude = std::fabs(want);
      for (int64_t p = 0; p < t.k; ++p) {
        const double x = av.data[i * av.row_stride + p * av.col_stride];
        const double y = bv.data[p * bv.row_stride + j * bv.col_stride];
        want += x * y;
        magnitude += std::fabs(x * y);
      }
      ASSERT_NEAR(got, want, 4e-6 * magnitude + 1e-30)
          << "m " << t.m << " n " << t.n << " k " << t.k << " at (" << i << ", " << j << ")";
    }
  }
}

class GemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FastGemmAvailable()) {
      GTEST_SKIP() << "no AVX-512 on this CPU (or $SLAYER_GEMM=eigen): the kernel is not used";
    }
  }
};

TEST_F(GemmTest, MatchesDoubleSumOverEdgesAndLayouts) {
  // Sizes around the register block (12 x 32), the k block (256) and the
  // column block (512), in every storage order of A and B.
  const int64_t sizes[][3] = {{1, 1, 1},      {12, 32, 256}, {13, 33, 257},  {11, 31, 255},
                              {37, 300, 512}, {5, 600, 30},  {24, 1030, 3}, {2, 17, 600}};
  for (const auto& s : sizes) {
    for (int layout = 0; layout < 4; ++layout) {
      for (bool accumulate : {false, true}) {
        Check({s[0], s[1], s[2], (layout & 1) != 0, (layout & 2) != 0, accumulate});
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_F(GemmTest, PackedAEqualsGemmBitForBit) {
  // A packed once, then row ranges starting at row blocks multiplied by
  // several Bs: the same values as Gemm on those rows (the same sums in the
  // same order), for both storage orders of A and depths around the k block.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const int64_t k : {7, 256, 300, 513}) {
    const int64_t m = 61, n = 45;
    std::vector<float> a(m * k), b(k * n);
    for (float& v : a) v = uniform(rng);
    for (float& v : b) v = uniform(rng);
    for (bool transposed : {false, true}) {
      const MatrixView av = transposed ? MatrixView{a.data(), 1, m} : MatrixView{a.data(), k, 1};
      std::vector<float> packed(PackedGemmASize(m, k));
      PackGemmA(m, k, av, packed.data());
      for (const auto& [i0, rows] : {std::pair<int64_t, int64_t>{0, 61}, {12, 24}, {48, 13}}) {
        for (bool accumulate : {false, true}) {
          std::vector<float> want(rows * n, 0.5f), got = want;
          const MatrixView ai = transposed ? MatrixView{a.data() + i0, 1, m}
                                           : MatrixView{a.data() + i0 * k, k, 1};
          Gemm(rows, n, k, ai, {b.data(), n, 1}, want.data(), n, accumulate);
          GemmPackedA(rows, n, k, packed.data(), m, i0, {b.data(), n, 1}, got.data(), n,
                      accumulate);
          ASSERT_EQ(got, want) << "k " << k << " transposed " << transposed << " rows [" << i0
                               << ", " << i0 + rows << ") accumulate " << accumulate;
        }
      }
    }
  }
}

TEST_F(GemmTest, PanelsEqualGemmBitForBit) {
  // B packed for the fp32 kernel (the AMX one has its own test below).
  SetAmxGemmEnabled(false);
  struct Restore {
    ~Restore() { SetAmxGemmEnabled(true); }
  } restore;
  // A and C as panels of 32 columns (C aligned: the last block of the sum
  // streamed; shifted by a float: stored as usual), k of one to three blocks,
  // n of one to three column blocks, B packed once from either storage order:
  // Gemm's values, padding columns zero, nothing written past the panels.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const int64_t k : {7, 300, 512, 513}) {
    for (const int64_t n : {45, 512, 600, 1100}) {
      for (const int64_t m : {25, 300}) {
        std::vector<float> a(m * k), b(k * n);
        for (float& v : a) v = uniform(rng);
        for (float& v : b) v = uniform(rng);
        std::vector<float> want(m * n);
        Gemm(m, n, k, {a.data(), k, 1}, {b.data(), n, 1}, want.data(), n, false);
        const int64_t a_panels = (k + 31) / 32, c_panels = (n + 31) / 32;
        std::vector<float> ap(a_panels * m * 32, 0.0f);
        for (int64_t r = 0; r < m; ++r) {
          for (int64_t c = 0; c < k; ++c) ap[(c / 32) * m * 32 + r * 32 + c % 32] = a[r * k + c];
        }
        // b as rows, and its transpose bt read through a transposed view.
        std::vector<float> bt(n * k);
        for (int64_t p = 0; p < k; ++p) {
          for (int64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
        }
        for (int64_t shift : {0, 1}) {
          const bool transposed = shift == 1;
          std::vector<float> packed(PackedGemmBSize(k, n));
          PackGemmB(k, n, transposed ? MatrixView{bt.data(), 1, k} : MatrixView{b.data(), n, 1},
                    packed.data());
          std::vector<float> buffer(c_panels * m * 32 + 64, -7.0f);
          float* base = buffer.data();
          while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
          float* c = base + shift;
          GemmPanels(m, n, k, {ap.data(), m * 32}, packed.data(), c, m * 32);
          for (int64_t r = 0; r < m; ++r) {
            for (int64_t j = 0; j < c_panels * 32; ++j) {
              const float got = c[(j / 32) * m * 32 + r * 32 + j % 32];
              ASSERT_EQ(got, j < n ? want[r * n + j] : 0.0f)
                  << "k " << k << " n " << n << " m " << m << " shift/B transposed " << shift
                  << " (" << r
                  << ", " << j << ")";
            }
          }
          for (float* v = buffer.data(); v < c; ++v) ASSERT_EQ(*v, -7.0f) << "before C";
          for (float* v = c + c_panels * m * 32; v < buffer.data() + buffer.size(); ++v) {
            ASSERT_EQ(*v, -7.0f) << "after C";
          }
        }
      }
    }
  }
}

// A (m x k) as panels of 32 columns; the columns past k in the last panel
// hold `pad` (never read).
std::vector<float> ToPanels(const std::vector<float>& a, int64_t m, int64_t k, float pad) {
  std::vector<float> ap((k + 31) / 32 * m * 32, pad);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < k; ++c) ap[(c / 32) * m * 32 + r * 32 + c % 32] = a[r * k + c];
  }
  return ap;
}

class AmxGemmTest : public GemmTest {
 protected:
  void SetUp() override {
    GemmTest::SetUp();
    if (IsSkipped()) return;
    if (!AmxGemmAvailable()) {
      GTEST_SKIP() << "no AMX-BF16 on this CPU or OS (or $SLAYER_GEMM=fp32): GemmPanels "
                      "multiplies in fp32 (its test above)";
    }
  }
  void TearDown() override { SetAmxGemmEnabled(true); }
};

TEST_F(AmxGemmTest, PanelsWithinBf16x3BoundOfDoubleSum) {
  // Sizes around the tile block (32 x 32) and the chunk of the sum (32),
  // values over eight binades (bf16x3 keeps about 16 bits of each factor).
  EXPECT_EQ(GemmPanelsRowUnit(), 32);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const int64_t k : {7, 33, 513}) {  // 513: 17 chunks, the last of one step
    for (const int64_t n : {16, 45, 600}) {
      for (const int64_t m : {1, 25, 32, 33, 300}) {
        std::vector<float> a(m * k), b(k * n);
        for (float& v : a) v = uniform(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);
        for (float& v : b) v = uniform(rng);
        // NaN past k in A's last panel: never read.
        const std::vector<float> ap = ToPanels(a, m, k, std::nanf(""));
        const int64_t c_panels = (n + 31) / 32;
        std::vector<float> bt(n * k);
        for (int64_t p = 0; p < k; ++p) {
          for (int64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
        }
        for (const bool transposed : {false, true}) {
          std::vector<float> packed(PackedGemmBSize(k, n));
          PackGemmB(k, n, transposed ? MatrixView{bt.data(), 1, k} : MatrixView{b.data(), n, 1},
                    packed.data());
          // C's panels 40 rows apart: the rows between are not written.
          const int64_t stride = (m + 8) * 32;
          std::vector<float> c(c_panels * stride, -7.0f);
          GemmPanels(m, n, k, {ap.data(), m * 32}, packed.data(), c.data(), stride);
          for (int64_t q = 0; q < c_panels; ++q) {
            for (int64_t r = m; r < m + 8; ++r) {
              for (int64_t j = 0; j < 32; ++j) {
                ASSERT_EQ(c[q * stride + r * 32 + j], -7.0f) << "past row m: " << r;
              }
            }
          }
          for (int64_t r = 0; r < m; ++r) {
            for (int64_t j = 0; j < c_panels * 32; ++j) {
              const float got = c[(j / 32) * stride + r * 32 + j % 32];
              double want = 0, magnitude = 0;
              for (int64_t p = 0; j < n && p < k; ++p) {
                want += static_cast<double>(a[r * k + p]) * b[p * n + j];
                magnitude += std::fabs(static_cast<double>(a[r * k + p]) * b[p * n + j]);
              }
              // Each product within 3 x 2^-16 of |a b| (the halves' residues
              // 2^-16 each, the dropped al bl 2^-16), the fp32 sums (about
              // 3k/2 roundings) within 1.5 k 2^-24 of sum |a b|. A kernel that
              // lost the low halves (bf16 alone: 2^-8) or a term would be far
              // outside.
              ASSERT_NEAR(got, want,
                          (3 * std::ldexp(1.0, -16) + 1.5 * k * std::ldexp(1.0, -24)) * magnitude)
                  << "k " << k << " n " << n << " m " << m << " B transposed " << transposed
                  << " at (" << r << ", " << j << ")";
            }
          }
        }
      }
    }
  }
}

TEST_F(AmxGemmTest, BPackedForFp32StaysFp32AndNaNPropagates) {
  const int64_t m = 40, n = 64, k = 96;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(k * n);
  for (float& v : a) v = uniform(rng);
  for (float& v : b) v = uniform(rng);
  a[7 * k + 50] = std::nanf("");  // row 7
  const std::vector<float> ap = ToPanels(a, m, k, 0.0f);
  std::vector<float> fp32(PackedGemmBSize(k, n)), amx(PackedGemmBSize(k, n));
  SetAmxGemmEnabled(false);
  PackGemmB(k, n, {b.data(), n, 1}, fp32.data());
  SetAmxGemmEnabled(true);
  PackGemmB(k, n, {b.data(), n, 1}, amx.data());
  // Packed while AMX was off: Gemm's sums, bit for bit, with AMX on.
  std::vector<float> want(m * n), got(2 * m * 32), got_amx(2 * m * 32);
  Gemm(m, n, k, {a.data(), k, 1}, {b.data(), n, 1}, want.data(), n, false);
  GemmPanels(m, n, k, {ap.data(), m * 32}, fp32.data(), got.data(), m * 32);
  GemmPanels(m, n, k, {ap.data(), m * 32}, amx.data(), got_amx.data(), m * 32);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const float fp = got[(j / 32) * m * 32 + r * 32 + j % 32];
      const float bf = got_amx[(j / 32) * m * 32 + r * 32 + j % 32];
      if (r == 7) {
        ASSERT_TRUE(std::isnan(fp) && std::isnan(bf)) << "NaN in row 7 of A, column " << j;
        continue;
      }
      ASSERT_EQ(fp, want[r * n + j]) << "(" << r << ", " << j << ")";
      ASSERT_FALSE(std::isnan(bf)) << "(" << r << ", " << j << ")";
    }
  }
}

TEST_F(GemmTest, EmptySumClearsOrKeeps) {
  std::vector<float> c = {1, 2, 3, 4};
  const float one = 1.0f;
  Gemm(2, 2, 0, {&one, 0, 1}, {&one, 1, 0}, c.data(), 2, /*accumulate=*/true);
  EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4}));
  Gemm(2, 2, 0, {&one, 0, 1}, {&one, 1, 0}, c.data(), 2, /*accumulate=*/false);
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
}

TEST_F(GemmTest, CanBeSwitchedOff) {
  const bool amx = AmxGemmAvailable();
  SetFastGemmEnabled(false);
  EXPECT_FALSE(FastGemmAvailable());
  EXPECT_FALSE(AmxGemmAvailable());  // AMX is a path of the fast GEMM
  SetFastGemmEnabled(true);
  EXPECT_TRUE(FastGemmAvailable());
  EXPECT_EQ(AmxGemmAvailable(), amx);
  SetAmxGemmEnabled(false);
  EXPECT_FALSE(AmxGemmAvailable());
  EXPECT_EQ(GemmPanelsRowUnit(), kGemmRowBlock);
  SetAmxGemmEnabled(true);
  EXPECT_EQ(AmxGemmAvailable(), amx);
}

}  // namespace
}  // namespace internal
}  // namespace ops
}  // namespace slayer
