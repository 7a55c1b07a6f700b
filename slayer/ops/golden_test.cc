// End-to-end golden test: a two-layer SLAYER network
//   s_in -> dense W1 -> psp -> spike -> dense W2 -> psp -> spike -> spike_time loss
// run forward and backward with the ops, against an independent reference
// written here with plain nested loops in double precision (no op code
// reused: kernels, psp, refractory recurrence, surrogate and the chain rule
// are all spelled out from SPEC §2-4).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/status_testing.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace {

constexpr int kBatch = 3, kIn = 12, kHidden = 8, kOut = 3, kSteps = 80;
constexpr double kTs = 0.5, kTheta = 10, kTauSr = 2, kTauRef = 1, kScaleRef = 2;
constexpr double kTauRho = 1, kScaleRho = 1;

// [n][neuron][t]
using Signal = std::vector<std::vector<std::vector<double>>>;
using Matrix = std::vector<std::vector<double>>;

Signal Zeros(int neurons) {
  return Signal(kBatch, std::vector<std::vector<double>>(neurons, std::vector<double>(kSteps)));
}

std::vector<double> Alpha(double tau, double mult, double epsilon) {
  std::vector<double> k;
  for (int i = 0; i < kSteps; ++i) {
    const double t = i * kTs;
    const double v = mult * t / tau * std::exp(1 - t / tau);
    if (std::abs(v) < epsilon && t > tau) break;
    k.push_back(v);
  }
  return k;
}

struct Reference {
  std::vector<double> eps = Alpha(kTauSr, 1, 0.01);
  std::vector<double> nu = Alpha(kTauRef, -kScaleRef * kTheta, 1e-4);
  double margin = 1e30;  // smallest |u - theta| seen by a spike decision

  Signal Psp(const Signal& s) const {
    Signal a = Zeros(static_cast<int>(s[0].size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t i = 0; i < s[n].size(); ++i)
        for (int t = 0; t < kSteps; ++t)
          for (size_t k = 0; k < eps.size() && k <= static_cast<size_t>(t); ++k)
            a[n][i][t] += kTs * eps[k] * s[n][i][t - k];
    return a;
  }
  // Transpose of Psp.
  Signal PspT(const Signal& g) const {
    Signal out = Zeros(static_cast<int>(g[0].size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t i = 0; i < g[n].size(); ++i)
        for (int t = 0; t < kSteps; ++t)
          for (size_t k = 0; k < eps.size() && t + k < static_cast<size_t>(kSteps); ++k)
            out[n][i][t] += kTs * eps[k] * g[n][i][t + k];
    return out;
  }
  static Signal Mul(const Matrix& w, const Signal& a) {
    Signal u = Zeros(static_cast<int>(w.size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t o = 0; o < w.size(); ++o)
        for (size_t i = 0; i < w[o].size(); ++i)
          for (int t = 0; t < kSteps; ++t) u[n][o][t] += w[o][i] * a[n][i][t];
    return u;
  }
  static Signal MulT(const Matrix& w, const Signal& g) {
    Signal out = Zeros(static_cast<int>(w[0].size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t o = 0; o < w.size(); ++o)
        for (size_t i = 0; i < w[o].size(); ++i)
          for (int t = 0; t < kSteps; ++t) out[n][i][t] += w[o][i] * g[n][o][t];
    return out;
  }
  // sum_n,t g[n][o][t] * a[n][i][t]
  static Matrix Outer(const Signal& g, const Signal& a) {
    Matrix dw(g[0].size(), std::vector<double>(a[0].size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t o = 0; o < g[n].size(); ++o)
        for (size_t i = 0; i < a[n].size(); ++i)
          for (int t = 0; t < kSteps; ++t) dw[o][i] += g[n][o][t] * a[n][i][t];
    return dw;
  }
  // Spikes, with u updated in place by the refractory response.
  Signal Spike(Signal* u) {
    Signal s = Zeros(static_cast<int>((*u)[0].size()));
    for (int n = 0; n < kBatch; ++n)
      for (size_t o = 0; o < s[n].size(); ++o) {
        std::vector<double>& v = (*u)[n][o];
        for (int t = 0; t < kSteps; ++t) {
          margin = std::min(margin, std::abs(v[t] - kTheta));
          if (v[t] >= kTheta) {
            s[n][o][t] = 1 / kTs;
            for (size_t j = 0; j < nu.size() && t + j < static_cast<size_t>(kSteps); ++j) {
              v[t + j] += nu[j];
            }
          }
        }
      }
    return s;
  }
  static Signal Surrogate(const Signal& g, const Signal& u) {
    Signal out = g;
    const double w = kTauRho * kTheta;
    for (int n = 0; n < kBatch; ++n)
      for (size_t o = 0; o < g[n].size(); ++o)
        for (int t = 0; t < kSteps; ++t)
          out[n][o][t] *= kScaleRho / w * std::exp(-std::abs(u[n][o][t] - kTheta) / w);
    return out;
  }
};

Signal FromTensor(const Tensor& t, int neurons) {
  Signal s = Zeros(neurons);
  for (int n = 0; n < kBatch; ++n)
    for (int i = 0; i < neurons; ++i)
      for (int k = 0; k < kSteps; ++k) s[n][i][k] = t.data()[(n * neurons + i) * kSteps + k];
  return s;
}

Matrix MatrixFrom(const Tensor& t) {
  Matrix m(t.dim(0), std::vector<double>(t.dim(1)));
  for (int64_t o = 0; o < t.dim(0); ++o)
    for (int64_t i = 0; i < t.dim(1); ++i) m[o][i] = t.data()[o * t.dim(1) + i];
  return m;
}

// |got - want| <= rtol |want| + stol * max|want|: float rounding of sums that
// cancel (potentials after refractory, gradients) scales with the largest
// magnitude, not with the element.
void ExpectSignalNear(const Tensor& got, const Signal& want, double rtol, double stol,
                      const char* what) {
  double scale = 0;
  for (const auto& a : want)
    for (const auto& b : a)
      for (double v : b) scale = std::max(scale, std::abs(v));
  const int neurons = static_cast<int>(want[0].size());
  for (int n = 0; n < kBatch; ++n)
    for (int i = 0; i < neurons; ++i)
      for (int t = 0; t < kSteps; ++t) {
        const double w = want[n][i][t];
        ASSERT_NEAR(got.data()[(n * neurons + i) * kSteps + t], w,
                    rtol * std::abs(w) + stol * scale)
            << what << " [" << n << "," << i << "," << t << "]";
      }
}

void ExpectMatrixNear(const Tensor& got, const Matrix& want, double rtol, double stol,
                      const char* what) {
  double scale = 0;
  for (const auto& row : want)
    for (double v : row) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0) << what << " is zero: the test exercises nothing";
  for (size_t o = 0; o < want.size(); ++o)
    for (size_t i = 0; i < want[o].size(); ++i)
      ASSERT_NEAR(got.data()[o * want[o].size() + i], want[o][i],
                  rtol * std::abs(want[o][i]) + stol * scale)
          << what << " [" << o << "," << i << "]";
}

int64_t CountSpikes(const Tensor& s) {
  int64_t count = 0;
  for (float v : s.span()) count += v != 0.0f;
  return count;
}

TEST(GoldenTest, TwoLayerNetworkMatchesPlainLoops) {
  const float ts = static_cast<float>(kTs);
  // Inputs, weights and target.
  Tensor s_in = testing::RandomSpikes({kBatch, kIn, 1, 1, kSteps}, 0.15f, ts, 11);
  Tensor w1 = testing::RandomUniform({kHidden, kIn}, 12, -1.0f, 3.0f);
  Tensor w2 = testing::RandomUniform({kOut, kHidden}, 13, -1.0f, 3.0f);
  Tensor target = testing::RandomSpikes({kBatch, kOut, 1, 1, kSteps}, 0.05f, ts, 14);

  // ---- The ops.
  SrmParams srm;
  srm.theta = static_cast<float>(kTheta);
  srm.tau_sr_ms = static_cast<float>(kTauSr);
  srm.tau_ref_ms = static_cast<float>(kTauRef);
  srm.scale_ref = static_cast<float>(kScaleRef);
  const SrmKernels kernels = MakeSrmKernels(srm, ts, kSteps);
  SurrogateParams surrogate;
  surrogate.theta = srm.theta;
  surrogate.tau_rho = static_cast<float>(kTauRho);
  surrogate.scale_rho = static_cast<float>(kScaleRho);

  Tensor z1, u1, s1, z2, u2, s2;
  SLAYER_ASSERT_OK(DenseForward(s_in, w1, &z1));
  SLAYER_ASSERT_OK(PspForward(z1, kernels.eps, ts, &u1));
  SLAYER_ASSERT_OK(SpikeForward(&u1, kernels.nu, srm.theta, ts, &s1));
  SLAYER_ASSERT_OK(DenseForward(s1, w2, &z2));
  SLAYER_ASSERT_OK(PspForward(z2, kernels.eps, ts, &u2));
  SLAYER_ASSERT_OK(SpikeForward(&u2, kernels.nu, srm.theta, ts, &s2));
  float loss = 0;
  Tensor g_s2, g_u2, g_z2, g_s1, g_u1, g_z1, dw1, dw2;
  SLAYER_ASSERT_OK(SpikeTimeLoss(s2, target, kernels.eps, ts, &loss, &g_s2));
  SLAYER_ASSERT_OK(SpikeBackward(g_s2, u2, surrogate, &g_u2));
  SLAYER_ASSERT_OK(PspBackward(g_u2, kernels.eps, ts, &g_z2));
  SLAYER_ASSERT_OK(DenseBackward(s1, w2, g_z2, &g_s1, &dw2));
  SLAYER_ASSERT_OK(SpikeBackward(g_s1, u1, surrogate, &g_u1));
  SLAYER_ASSERT_OK(PspBackward(g_u1, kernels.eps, ts, &g_z1));
  SLAYER_ASSERT_OK(DenseBackward(s_in, w1, g_z1, nullptr, &dw1));

  // ---- The reference: u = W psp(s) (the other side of the linear chain).
  Reference ref;
  const Matrix W1 = MatrixFrom(w1), W2 = MatrixFrom(w2);
  const Signal in = FromTensor(s_in, kIn), tgt = FromTensor(target, kOut);
  const Signal a0 = ref.Psp(in);
  Signal ru1 = Reference::Mul(W1, a0);
  const Signal rs1 = ref.Spike(&ru1);
  const Signal a1 = ref.Psp(rs1);
  Signal ru2 = Reference::Mul(W2, a1);
  const Signal rs2 = ref.Spike(&ru2);
  Signal diff = rs2;
  for (int n = 0; n < kBatch; ++n)
    for (int o = 0; o < kOut; ++o)
      for (int t = 0; t < kSteps; ++t) diff[n][o][t] -= tgt[n][o][t];
  const Signal e = ref.Psp(diff);
  double ref_loss = 0;
  Signal ts_e = e;
  for (int n = 0; n < kBatch; ++n)
    for (int o = 0; o < kOut; ++o)
      for (int t = 0; t < kSteps; ++t) {
        ref_loss += 0.5 * kTs * e[n][o][t] * e[n][o][t];
        ts_e[n][o][t] *= kTs;  // dE/de = Ts e
      }
  const Signal rg_s2 = ref.PspT(ts_e);
  const Signal rg_u2 = Reference::Surrogate(rg_s2, ru2);
  const Matrix rdw2 = Reference::Outer(rg_u2, a1);            // dE/dW2 = g_u2 a1^T
  const Signal rg_s1 = ref.PspT(Reference::MulT(W2, rg_u2));  // through u2 = W2 psp(s1)
  const Signal rg_u1 = Reference::Surrogate(rg_s1, ru1);
  const Matrix rdw1 = Reference::Outer(rg_u1, a0);

  // Float and double can only disagree on a spike when u lands within
  // rounding of theta; this seed keeps every decision well clear of it.
  ASSERT_GT(ref.margin, 1e-3) << "pick another seed";
  // The network is doing something: both layers spike, not saturated.
  EXPECT_GT(CountSpikes(s1), kBatch * kHidden);
  EXPECT_LT(CountSpikes(s1), kBatch * kHidden * kSteps / 2);
  EXPECT_GT(CountSpikes(s2), kBatch);

  ExpectSignalNear(s1, rs1, 0, 0, "hidden spikes");
  ExpectSignalNear(s2, rs2, 0, 0, "output spikes");
  ExpectSignalNear(u1, ru1, 1e-5, 1e-6, "hidden potential after refractory");
  ExpectSignalNear(u2, ru2, 1e-5, 1e-6, "output potential after refractory");
  EXPECT_NEAR(loss, ref_loss, 1e-5 * ref_loss);
  ExpectSignalNear(g_s1, rg_s1, 1e-4, 1e-6, "hidden spike gradient");
  ExpectMatrixNear(dw2, rdw2, 1e-4, 1e-6, "dE/dW2");
  ExpectMatrixNear(dw1, rdw1, 1e-4, 1e-6, "dE/dW1");
}

}  // namespace
}  // namespace ops
}  // namespace slayer
