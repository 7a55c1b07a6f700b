#include "slayer/ops/spike.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slayer/ops/cpu_util.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Values(const Tensor& t) { return {t.span().begin(), t.span().end()}; }

// u and s of PspForward then SpikeForward, and of PspSpikeForward with
// blocks of 16 rows (AVX-512, where the CPU has it) and of 8; NaN equals NaN.
void ExpectPspSpikeEqualsTwoOps(const Tensor& z, absl::Span<const float> eps,
                                absl::Span<const float> nu, float theta, float ts) {
  Tensor u1, s1;
  SLAYER_ASSERT_OK(PspForward(z, eps, ts, &u1));
  SLAYER_ASSERT_OK(SpikeForward(&u1, nu, theta, ts, &s1));
  struct Restore {
    ~Restore() { internal::SetWideKernelsEnabled(true); }
  } restore;
  for (bool wide : {true, false}) {
    internal::SetWideKernelsEnabled(wide);
    for (bool in_place : {false, true}) {
      Tensor u2 = in_place ? z.Clone() : Tensor(), s2;
      SLAYER_ASSERT_OK(cpu::PspSpikeForward(in_place ? u2 : z, eps, nu, theta, ts, &u2, &s2));
      ASSERT_EQ(u2.shape(), z.shape());
      ASSERT_EQ(s2.shape(), z.shape());
      for (int64_t i = 0; i < z.numel(); ++i) {
        const float a = u1.data()[i], b = u2.data()[i];
        ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b)))
            << "wide " << wide << " in place " << in_place << " u[" << i << "] " << a << " vs "
            << b;
        ASSERT_EQ(s1.data()[i], s2.data()[i])
            << "wide " << wide << " in place " << in_place << " s[" << i << "]";
      }
    }
  }
}

TEST(PspSpikeForwardTest, EqualsPspThenSpike) {
  if (!internal::CpuHasAvx512F()) {
    std::cout << "note: no AVX-512 on this CPU: only the 8-row blocks are checked\n";
  }
  // Rows not a multiple of 8 or 16 (partial blocks), sparse and dense
  // spiking, steps below and above the 8-step tiles and below the kernel's
  // length, Ts 1 and 0.5, and NaN inputs. The kernels are made for 300
  // steps: the recursion holds taps past the last step.
  const struct {
    Shape shape;
    float lo, hi;  // z uniform in [lo, hi) / Ts
  } cases[] = {{{3, 5, 2, 2, 25}, 0.0f, 4.0f},     // 60 rows: dense spiking
               {{2, 13, 1, 1, 300}, -0.5f, 1.0f},  // 26 rows: sparse spiking
               {{1, 8, 1, 1, 7}, 0.0f, 30.0f},     // fewer steps than a tile
               {{1, 21, 1, 1, 19}, 0.0f, 6.0f},    // 16 + 5 rows, 8 + 8 + 5
               {{4, 1}, 0.0f, 30.0f}};             // one step: eps[0] = 0, no spike
  for (const auto& c : cases) {
    for (float ts : {1.0f, 0.5f}) {
      SrmParams srm;
      const SrmKernels kernels = MakeSrmKernels(srm, ts, 300);
      Tensor z = testing::RandomUniform(c.shape, 61, c.lo / ts, c.hi / ts);
      if (z.numel() > 20) z.data()[17] = std::nanf("");
      SCOPED_TRACE(::testing::Message() << ShapeString(c.shape) << " ts " << ts);
      ExpectPspSpikeEqualsTwoOps(z, kernels.eps, kernels.nu, srm.theta, ts);
      if (HasFatalFailure()) return;
      Tensor u, s;
      SLAYER_ASSERT_OK(PspForward(z, kernels.eps, ts, &u));
      SLAYER_ASSERT_OK(SpikeForward(&u, kernels.nu, srm.theta, ts, &s));
      int64_t count = 0;
      for (float v : s.span()) count += v != 0.0f;
      if (c.shape.back() > 1) {
        EXPECT_GT(count, 0) << "no spikes: the case tests nothing of the spike scan";
      }
    }
  }
}

TEST(PspSpikeForwardTest, PaddedLanesNeverSpike) {
  // theta <= 0: the zero rows that pad a partial block would cross it.
  SrmParams srm;
  const SrmKernels kernels = MakeSrmKernels(srm, 1.0f, 300);
  Tensor z = testing::RandomUniform({1, 11, 1, 1, 30}, 63, -1.0f, 1.0f);
  ExpectPspSpikeEqualsTwoOps(z, kernels.eps, kernels.nu, -0.5f, 1.0f);
}

TEST(PspSpikeForwardTest, AnotherKernelAndBadArguments) {
  // A kernel of no alpha form: the two ops run (the equality checks the
  // hand-over), then bad arguments.
  Tensor z = testing::RandomUniform({2, 9, 1, 1, 30}, 62, 0.0f, 3.0f);
  const std::vector<float> eps = {0.0f, 2.0f, 1.0f}, nu = {-4.0f, -2.0f};
  Tensor u1, s1, u2, s2;
  SLAYER_ASSERT_OK(PspForward(z, eps, 1.0f, &u1));
  SLAYER_ASSERT_OK(SpikeForward(&u1, nu, 2.0f, 1.0f, &s1));
  SLAYER_ASSERT_OK(cpu::PspSpikeForward(z, eps, nu, 2.0f, 1.0f, &u2, &s2));
  EXPECT_EQ(Values(u2), Values(u1));
  EXPECT_EQ(Values(s2), Values(s1));
  absl::Status status = cpu::PspSpikeForward(z, eps, nu, std::nanf(""), 1.0f, &u2, &s2);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("theta must be finite"));
  status = cpu::PspSpikeForward(z, eps, nu, 2.0f, 1.0f, &u2, &u2);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  status = cpu::PspSpikeForward(z, eps, nu, 2.0f, 0.0f, &u2, &s2);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpikeForwardTest, HandComputedRecurrence) {
  // theta 10, nu = {0, -5, -1}, Ts 0.5 (spike amplitude 2).
  Tensor u = Tensor::FromVector({1, 6}, {0, 12, 5, 10, 9.9f, 20});
  Tensor s;
  SLAYER_ASSERT_OK(SpikeForward(&u, {0.0f, -5.0f, -1.0f}, 10.0f, 0.5f, &s));
  // t=1 fires (12 >= 10) and pushes u[2] to 0 and u[3] to 9: the 10 at t=3
  // no longer fires; 20 at t=5 does (its refractory falls outside T).
  EXPECT_THAT(Values(s), ElementsAre(0, 2, 0, 0, 0, 2));
  EXPECT_THAT(Values(u), ElementsAre(0, 12, 0, 9, 9.9f, 20));
}

TEST(SpikeForwardTest, ThresholdIsInclusive) {
  Tensor u = Tensor::FromVector({1, 2}, {10.0f, 9.999f});
  Tensor s;
  SLAYER_ASSERT_OK(SpikeForward(&u, {}, 10.0f, 1.0f, &s));
  EXPECT_THAT(Values(s), ElementsAre(1, 0));
}

TEST(SpikeForwardTest, RefractoryCanEnableLaterSpikesOnlyThroughU) {
  // A positive refractory term (unusual, but the contract allows it) is
  // added before later steps compare against theta.
  Tensor u = Tensor::FromVector({1, 3}, {10, 6, 0});
  Tensor s;
  SLAYER_ASSERT_OK(SpikeForward(&u, {0, 5, 1}, 10.0f, 1.0f, &s));
  EXPECT_THAT(Values(s), ElementsAre(1, 1, 0));
  EXPECT_THAT(Values(u), ElementsAre(10, 11, 6));  // 0 + 1 (from t=0) + 5 (from t=1)
}

TEST(SpikeForwardTest, ManyRowsMatchSequentialLoop) {
  const float ts = 1.0f, theta = 10.0f;
  SrmParams p;
  const std::vector<float> nu = MakeSrmKernels(p, ts, 200).nu;
  Tensor u = testing::RandomUniform({3, 7, 2, 2, 200}, 3, 0.0f, 25.0f);
  Tensor expected_u = u.Clone();
  Tensor expected_s = Tensor::Zeros(u.shape());
  const int64_t steps = 200;
  for (int64_t r = 0; r < u.numel() / steps; ++r) {
    float* ur = expected_u.data() + r * steps;
    for (int64_t t = 0; t < steps; ++t) {
      if (ur[t] >= theta) {
        expected_s.data()[r * steps + t] = 1.0f / ts;
        for (size_t j = 0; j < nu.size() && t + static_cast<int64_t>(j) < steps; ++j) {
          ur[t + j] += nu[j];
        }
      }
    }
  }
  Tensor s;
  SLAYER_ASSERT_OK(SpikeForward(&u, nu, theta, ts, &s));
  SLAYER_EXPECT_OK(testing::ExpectClose(s, expected_s, 0, 0, "spikes"));
  SLAYER_EXPECT_OK(testing::ExpectClose(u, expected_u, 0, 0, "potential after refractory"));
}

// A panel of `width` rows (<= 32) held time-major, u[t * 32 + k]: the
// masks and potentials SpikePanelMasks gives equal SpikeForward's row-by-row
// loop, with and without AVX-512, for a refractory kernel that only lowers
// the potential (the candidate scan) and for one that raises it.
TEST(SpikePanelMasksTest, EqualsTheRowByRowScan) {
  struct Restore {
    ~Restore() { internal::SetWideKernelsEnabled(true); }
  } restore;
  const float theta = 10.0f;
  SrmParams p;
  const std::vector<float> srm_nu = MakeSrmKernels(p, 1.0f, 400).nu;
  const std::vector<float> raising = {0.0f, 5.0f, 1.0f};
  for (const std::vector<float>* nu : {&srm_nu, &raising}) {
    for (int64_t width : {32, 19, 1}) {
      for (int64_t steps : {300, 37, 5, 600}) {
        for (float high : {25.0f, 11.0f}) {  // many spikes; a few
          const Tensor random = testing::RandomUniform({steps, 32}, 7 + steps, -5.0f, high);
          std::vector<float> u0(random.span().begin(), random.span().end());
          if (steps > 20) u0[20 * 32 + 0] = std::nanf("");  // NaN never spikes
          // The reference: each row as SpikeForward scans it.
          std::vector<float> expected_u = u0;
          std::vector<uint32_t> expected(steps, 0);
          for (int64_t k = 0; k < width; ++k) {
            for (int64_t t = 0; t < steps; ++t) {
              if (!(expected_u[t * 32 + k] >= theta)) continue;
              expected[t] |= 1u << k;
              for (int64_t j = 0; j < static_cast<int64_t>(nu->size()) && t + j < steps; ++j) {
                expected_u[(t + j) * 32 + k] += (*nu)[j];
              }
            }
          }
          for (bool wide : {true, false}) {
            internal::SetWideKernelsEnabled(wide);
            std::vector<float> u = u0;
            std::vector<uint32_t> masks(steps + 16, 0xdeadbeef);
            internal::SpikePanelMasks(u.data(), steps, width, *nu, theta, masks.data());
            const std::string where = ::testing::PrintToString(
                std::vector<int64_t>{wide, width, steps, static_cast<int64_t>(nu->size())});
            for (int64_t t = 0; t < steps; ++t) {
              ASSERT_EQ(masks[t], expected[t]) << where << " step " << t;
            }
            for (int64_t i = 0; i < steps * 32; ++i) {
              const float a = expected_u[i], b = u[i];
              ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b)))
                  << where << " u[" << i << "] " << a << " vs " << b;
            }
          }
        }
      }
    }
  }
}

// WriteSpikesFromMasks writes exactly the block of rows (whatever its
// alignment, across row ends inside a vector), and nothing around it.
TEST(SpikePanelMasksTest, WriteSpikesFromMasksWritesTheRows) {
  struct Restore {
    ~Restore() { internal::SetWideKernelsEnabled(true); }
  } restore;
  const float amplitude = 2.5f;
  for (int64_t steps : {300, 16, 17, 31, 5, 1}) {
    for (int64_t width : {32, 7, 1}) {
      std::vector<uint32_t> masks(steps);  // exactly: nothing past it is read
      uint32_t state = 12345u + static_cast<uint32_t>(steps * 33 + width);
      for (uint32_t& m : masks) {
        state = state * 1664525u + 1013904223u;
        m = state & (state >> 7) & (state >> 13);  // about one bit in eight
        m &= width >= 32 ? 0xffffffffu : ((1u << width) - 1);
      }
      for (bool wide : {true, false}) {
        internal::SetWideKernelsEnabled(wide);
        for (int64_t offset : {0, 1, 5, 15, 16}) {
          std::vector<float> buffer(width * steps + 64, -1.0f);
          float* base = buffer.data();
          while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
          float* s = base + offset;
          std::fill(buffer.begin(), buffer.end(), -1.0f);
          internal::WriteSpikesFromMasks(masks.data(), steps, width, amplitude, s);
          for (float* v = buffer.data(); v < buffer.data() + buffer.size(); ++v) {
            const int64_t i = v - s;
            float expected = -1.0f;  // untouched
            if (i >= 0 && i < width * steps) {
              expected = (masks[i % steps] >> (i / steps) & 1u) != 0 ? amplitude : 0.0f;
            }
            ASSERT_EQ(*v, expected) << "wide " << wide << " steps " << steps << " width "
                                    << width << " offset " << offset << " at " << i;
          }
        }
      }
    }
  }
}

TEST(SpikeBackwardTest, EqualsSurrogateFormula) {
  SurrogateParams p;
  p.theta = 10.0f;
  p.tau_rho = 0.5f;
  p.scale_rho = 2.0f;
  // 300 values (neither 8 nor 16 divides it: vector tails) near theta, then
  // far from it, where exp underflows: |u - theta| / (tau_rho theta) up to
  // 200.
  Tensor u = testing::RandomUniform({2, 3, 1, 1, 50}, 1, -5.0f, 25.0f);
  Tensor far = testing::RandomUniform({2, 3, 1, 1, 50}, 3, -990.0f, 1010.0f);
  Tensor gs = testing::RandomUniform(u.shape(), 2);
  for (const Tensor* input : {&u, &far}) {
    for (bool wide : {false, true}) {
      internal::SetWideKernelsEnabled(wide);
      Tensor gu;
      SLAYER_ASSERT_OK(SpikeBackward(gs, *input, p, &gu));
      ASSERT_EQ(gu.shape(), u.shape());
      for (int64_t i = 0; i < u.numel(); ++i) {
        const double width = static_cast<double>(p.tau_rho) * p.theta;
        const double x = -std::abs(input->data()[i] - p.theta) / width;
        const double want = gs.data()[i] * p.scale_rho / width * std::exp(x);
        // The float argument x is off by up to ~|x| 2^-24: exp by as much,
        // relatively.
        ASSERT_NEAR(gu.data()[i], want, (1e-6 + 1.2e-7 * std::abs(x)) * std::abs(want) + 1e-30)
            << "wide " << wide << " u " << input->data()[i] << " at " << i;
      }
      // At u == theta the surrogate peaks at scale_rho / (tau_rho * theta);
      // NaN stays NaN.
      Tensor at_theta = Tensor::Full({1, 1}, 10.0f);
      Tensor one = Tensor::Full({1, 1}, 1.0f);
      SLAYER_ASSERT_OK(SpikeBackward(one, at_theta, p, &gu));
      EXPECT_FLOAT_EQ(gu.data()[0], 2.0f / 5.0f);
      Tensor nan = Tensor::Full({2, 17}, std::nanf(""));
      SLAYER_ASSERT_OK(SpikeBackward(Tensor::Full({2, 17}, 1.0f), nan, p, &gu));
      for (int64_t i = 0; i < gu.numel(); ++i) EXPECT_TRUE(std::isnan(gu.data()[i])) << i;
    }
  }
  internal::SetWideKernelsEnabled(true);
}

TEST(SpikeBackwardTest, WideAndNarrowSurrogatesAgreeBitForBit) {
  // The AVX-512 and AVX2 exp differ only in how they scale by 2^n (both
  // exact): the same values everywhere, the clamped ends included.
  SurrogateParams p;
  p.theta = 10.0f;
  p.tau_rho = 0.1f;
  p.scale_rho = 1.0f;
  std::vector<float> u, g;
  for (int i = 0; i < 4001; ++i) u.push_back(-190.0f + 0.1f * i);  // x down to -200
  g.assign(u.size(), 1.5f);
  std::vector<float> wide(u.size()), narrow(u.size());
  internal::SetWideKernelsEnabled(true);
  internal::SurrogateRows(p, g.data(), u.data(), static_cast<int64_t>(u.size()), wide.data());
  internal::SetWideKernelsEnabled(false);
  internal::SurrogateRows(p, g.data(), u.data(), static_cast<int64_t>(u.size()), narrow.data());
  internal::SetWideKernelsEnabled(true);
  for (size_t i = 0; i < u.size(); ++i) ASSERT_EQ(wide[i], narrow[i]) << "u " << u[i];
}

TEST(SpikeBackwardTest, MayWriteIntoGradS) {
  SurrogateParams p;
  Tensor u = testing::RandomUniform({4, 33}, 1, 0.0f, 20.0f);
  Tensor gs = testing::RandomUniform(u.shape(), 2);
  Tensor expected;
  SLAYER_ASSERT_OK(SpikeBackward(gs, u, p, &expected));
  SLAYER_ASSERT_OK(SpikeBackward(gs, u, p, &gs));
  SLAYER_EXPECT_OK(testing::ExpectClose(gs, expected, 0, 0, "in place"));
}

TEST(SpikeTest, BadArgumentsAreInvalidArgument) {
  Tensor u = Tensor::Zeros({2, 5});
  absl::Status s = SpikeForward(&u, {}, 10.0f, 1.0f, &u);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("share storage"));
  Tensor out;
  s = SpikeForward(&u, {}, 10.0f, -1.0f, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = SpikeBackward(Tensor::Zeros({2, 4}), u, SurrogateParams(), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("grad_s: expected shape [2,5], got [2,4]"));
  SurrogateParams bad;
  bad.tau_rho = 0.0f;
  s = SpikeBackward(u, u, bad, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("tau_rho"));
}

TEST(SpikeTest, FusedSurrogatePspBackwardEqualsTheTwoOps) {
  // Rows in full and partial blocks of eight, an SRM kernel (the recursion)
  // and a short arbitrary one (tap by tap).
  SurrogateParams sp;
  sp.theta = 10.0f;
  sp.tau_rho = 0.5f;
  sp.scale_rho = 1.5f;
  const std::vector<std::vector<float>> kernels = {AlphaKernel(5.0f, 1.0f, 1.0f, 0.01f, 1000),
                                                   {0.0f, 0.5f, 0.25f}};
  for (const std::vector<float>& eps : kernels) {
    Tensor u = testing::RandomUniform({3, 7, 1, 1, 53}, 31);
    for (float& v : u.span()) v = 30.0f * v - 5.0f;
    Tensor gs = testing::RandomUniform(u.shape(), 32);
    Tensor gu, expected, fused;
    SLAYER_ASSERT_OK(cpu::SpikeBackward(gs, u, sp, &gu));
    SLAYER_ASSERT_OK(cpu::PspBackward(gu, eps, 1.0f, &expected));
    SLAYER_ASSERT_OK(cpu::SurrogatePspBackward(gs, u, sp, eps, 1.0f, &fused));
    SLAYER_EXPECT_OK(testing::ExpectClose(fused, expected, 1e-6, 1e-6, "fused"));
  }
  Tensor u = Tensor::Zeros({2, 5});
  Tensor out;
  EXPECT_EQ(cpu::SurrogatePspBackward(Tensor::Zeros({2, 4}), u, sp, {0, 1}, 1.0f, &out).code(),
            absl::StatusCode::kInvalidArgument);  // grad_s shape
  EXPECT_EQ(cpu::SurrogatePspBackward(u, u, sp, {0, 1}, 0.0f, &out).code(),
            absl::StatusCode::kInvalidArgument);  // ts
}

}  // namespace
}  // namespace ops
}  // namespace slayer
