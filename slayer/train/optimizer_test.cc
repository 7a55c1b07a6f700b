#include "slayer/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/core/npy.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace {

// ---------------------------------------------------------------------------
// Trajectories recorded from torch.optim (the reference implementation of
// SGD and Adam whose formulas SPEC §5 names).

// Generated with PyTorch 1.13.0a0 (torch.optim, float32 parameters); hyperparameters
// passed as the float32-rounded values the C++ config holds.
// Gradient at step t (1-based), element i: sin(1.3 t + i) * (i + 1) * 0.1.
struct TorchCase { const char* name; OptimizerConfig config; float traj[6][5]; };
const float kTorchP0[5] = {5.000000000e-01f, -1.000000000e+00f, 2.000000000e+00f, 0.000000000e+00f, 3.000000000e-03f};
std::vector<TorchCase> TorchCases() {
  std::vector<TorchCase> cases;
  {
    TorchCase c{"sgd", {}, {}};
    c.config.type = OptimizerType::kSgd;
    c.config.lr = 1.000000010e-01f;
    { const float r[] = {4.903644320e-01f, -1.014914160e+00f, 2.004732370e+00f, 3.664663810e-02f, 4.461337250e-02f}; std::copy(r, r + 5, c.traj[0]); }
    { const float r[] = {4.852094050e-01f, -1.006063700e+00f, 2.034543040e+00f, 6.189730390e-02f, 2.903630400e-02f}; std::copy(r, r + 5, c.traj[1]); }
    { const float r[] = {4.920870660e-01f, -9.864146710e-01f, 2.045759440e+00f, 3.875971210e-02f, -2.091076410e-02f}; std::copy(r, r + 5, c.traj[2]); }
    { const float r[] = {5.009216070e-01f, -9.847528930e-01f, 2.021949290e+00f, 1.130488700e-03f, -3.205525880e-02f}; std::copy(r, r + 5, c.traj[3]); }
    { const float r[] = {4.987704160e-01f, -1.003512860e+00f, 1.997994660e+00f, 4.136533480e-03f, 1.192953070e-02f}; std::copy(r, r + 5, c.traj[4]); }
    { const float r[] = {4.887849690e-01f, -1.015211220e+00f, 2.008989100e+00f, 4.337398340e-02f, 4.660578440e-02f}; std::copy(r, r + 5, c.traj[5]); }
    cases.push_back(c);
  }
  {
    TorchCase c{"sgd_momentum_wd", {}, {}};
    c.config.type = OptimizerType::kSgd;
    c.config.lr = 1.000000010e-01f;
    c.config.momentum = 8.999999760e-01f;
    c.config.weight_decay = 9.999999780e-03f;
    { const float r[] = {4.898644090e-01f, -1.013914110e+00f, 2.002732280e+00f, 3.664663810e-02f, 4.461037370e-02f}; std::copy(r, r + 5, c.traj[0]); }
    { const float r[] = {4.750975070e-01f, -1.016572480e+00f, 2.032999520e+00f, 9.484262760e-02f, 6.643802670e-02f}; std::copy(r, r + 5, c.traj[1]); }
    { const float r[] = {4.682098630e-01f, -9.982993600e-01f, 2.069423200e+00f, 1.239865870e-01f, 3.606940810e-02f}; std::copy(r, r + 5, c.traj[2]); }
    { const float r[] = {4.703773260e-01f, -9.791935090e-01f, 2.076325180e+00f, 1.124629380e-01f, -2.442911730e-03f}; std::copy(r, r + 5, c.traj[3]); }
    { const float r[] = {4.697064460e-01f, -9.797790050e-01f, 2.056505920e+00f, 1.049852370e-01f, 6.883233320e-03f}; std::copy(r, r + 5, c.traj[4]); }
    { const float r[] = {4.586475190e-01f, -9.910245540e-01f, 2.047606470e+00f, 1.373877670e-01f, 4.994613680e-02f}; std::copy(r, r + 5, c.traj[5]); }
    cases.push_back(c);
  }
  {
    TorchCase c{"sgd_nesterov", {}, {}};
    c.config.type = OptimizerType::kSgd;
    c.config.lr = 5.000000070e-02f;
    c.config.momentum = 8.000000120e-01f;
    c.config.nesterov = true;
    { const float r[] = {4.913279710e-01f, -1.013422730e+00f, 2.004259110e+00f, 3.298197310e-02f, 4.045203700e-02f}; std::copy(r, r + 5, c.traj[0]); }
    { const float r[] = {4.836050870e-01f, -1.010229830e+00f, 2.032603030e+00f, 6.743449720e-02f, 3.974895550e-02f}; std::copy(r, r + 5, c.traj[1]); }
    { const float r[] = {4.856786730e-01f, -9.935315850e-01f, 2.053448680e+00f, 6.407241520e-02f, 4.649551410e-04f}; std::copy(r, r + 5, c.traj[2]); }
    { const float r[] = {4.925375580e-01f, -9.865369800e-01f, 2.044209480e+00f, 3.677148740e-02f, -2.101346480e-02f}; std::copy(r, r + 5, c.traj[3]); }
    { const float r[] = {4.925547840e-01f, -9.984900360e-01f, 2.024783130e+00f, 3.268787260e-02f, 5.847908090e-03f}; std::copy(r, r + 5, c.traj[4]); }
    { const float r[] = {4.844421450e-01f, -1.011076930e+00f, 2.028718710e+00f, 6.353227050e-02f, 4.095171760e-02f}; std::copy(r, r + 5, c.traj[5]); }
    cases.push_back(c);
  }
  {
    TorchCase c{"adam", {}, {}};
    c.config.type = OptimizerType::kAdam;
    c.config.lr = 1.000000050e-03f;
    { const float r[] = {4.990000130e-01f, -1.001000050e+00f, 2.000999930e+00f, 1.000000050e-03f, 4.000000190e-03f}; std::copy(r, r + 5, c.traj[0]); }
    { const float r[] = {4.980580810e-01f, -1.001196270e+00f, 2.001839880e+00f, 1.974027600e-03f, 4.366507290e-03f}; std::copy(r, r + 5, c.traj[1]); }
    { const float r[] = {4.977824990e-01f, -1.000817540e+00f, 2.002671000e+00f, 2.347073050e-03f, 4.077232440e-03f}; std::copy(r, r + 5, c.traj[2]); }
    { const float r[] = {4.979246560e-01f, -1.000471120e+00f, 2.002872470e+00f, 2.242412880e-03f, 3.747862760e-03f}; std::copy(r, r + 5, c.traj[3]); }
    { const float r[] = {4.979693000e-01f, -1.000550270e+00f, 2.002738480e+00f, 2.180205890e-03f, 3.811689330e-03f}; std::copy(r, r + 5, c.traj[4]); }
    { const float r[] = {4.977224170e-01f, -1.000792620e+00f, 2.002745870e+00f, 2.411842350e-03f, 4.068407700e-03f}; std::copy(r, r + 5, c.traj[5]); }
    cases.push_back(c);
  }
  {
    TorchCase c{"adam_amsgrad_wd", {}, {}};
    c.config.type = OptimizerType::kAdam;
    c.config.lr = 9.999999780e-03f;
    c.config.amsgrad = true;
    c.config.weight_decay = 1.000000010e-01f;
    { const float r[] = {4.900000100e-01f, -1.009999990e+00f, 1.990000010e+00f, 9.999999780e-03f, 1.300000030e-02f}; std::copy(r, r + 5, c.traj[0]); }
    { const float r[] = {4.802629050e-01f, -1.004477740e+00f, 1.988433600e+00f, 1.973595100e-02f, 1.663731410e-02f}; std::copy(r, r + 5, c.traj[1]); }
    { const float r[] = {4.735291300e-01f, -9.967948200e-01f, 1.984592080e+00f, 2.342674690e-02f, 1.372109540e-02f}; std::copy(r, r + 5, c.traj[2]); }
    { const float r[] = {4.694535430e-01f, -9.890062810e-01f, 1.977997060e+00f, 2.233745530e-02f, 1.039955770e-02f}; std::copy(r, r + 5, c.traj[3]); }
    { const float r[] = {4.643165170e-01f, -9.838605520e-01f, 1.970202920e+00f, 2.165912460e-02f, 1.100504580e-02f}; std::copy(r, r + 5, c.traj[4]); }
    { const float r[] = {4.576430620e-01f, -9.796833400e-01f, 1.962851170e+00f, 2.391707520e-02f, 1.353943720e-02f}; std::copy(r, r + 5, c.traj[5]); }
    cases.push_back(c);
  }
  return cases;
}

float TorchGrad(int t, int i) {
  return static_cast<float>(std::sin(1.3 * t + i) * (i + 1) * 0.1);
}

TEST(OptimizerTorchTest, MatchesTorchOptimTrajectories) {
  for (const TorchCase& c : TorchCases()) {
    SCOPED_TRACE(c.name);
    Tensor p = Tensor::FromVector({5}, std::vector<float>(kTorchP0, kTorchP0 + 5));
    Tensor g = Tensor::Zeros({5});
    absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(c.config, {{"p", &p, &g}});
    ASSERT_TRUE(opt.ok()) << opt.status();
    for (int t = 1; t <= 6; ++t) {
      for (int i = 0; i < 5; ++i) g.data()[i] = TorchGrad(t, i);
      ASSERT_TRUE((*opt)->Step().ok());
      for (int i = 0; i < 5; ++i) {
        const float want = c.traj[t - 1][i];
        EXPECT_NEAR(p.data()[i], want, 1e-7 + 1e-6 * std::fabs(want)) << "step " << t << " i " << i;
      }
    }
    EXPECT_EQ((*opt)->step(), 6);
  }
}

// ---------------------------------------------------------------------------
// An independent reference in double: the update formulas as written in the
// PyTorch documentation (SGD, Adam/AMSGrad) and SPEC §5 (Nadam).

struct Reference {
  OptimizerConfig c;
  std::vector<double> m, v, v_max, buf;
  int64_t t = 0;

  void Step(std::vector<double>& p, const std::vector<double>& grad) {
    const size_t n = p.size();
    if (m.empty()) m = v = v_max = buf = std::vector<double>(n, 0.0);
    ++t;
    const double b1 = c.beta1, b2 = c.beta2;
    for (size_t i = 0; i < n; ++i) {
      double g = grad[i] + double{c.weight_decay} * p[i];
      switch (c.type) {
        case OptimizerType::kSgd:
          if (c.momentum != 0) {
            buf[i] = t == 1 ? g : c.momentum * buf[i] + g;
            g = c.nesterov ? g + c.momentum * buf[i] : buf[i];
          }
          p[i] -= c.lr * g;
          break;
        case OptimizerType::kAdam: {
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          const double m_hat = m[i] / (1 - std::pow(b1, t));
          v_max[i] = std::max(v_max[i], v[i]);
          const double v_hat = (c.amsgrad ? v_max[i] : v[i]) / (1 - std::pow(b2, t));
          p[i] -= c.lr * m_hat / (std::sqrt(v_hat) + c.eps);
          break;
        }
        case OptimizerType::kNadam: {
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          v_max[i] = std::max(v_max[i], v[i]);
          const double vv = c.amsgrad ? v_max[i] : v[i];
          p[i] -= c.lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) *
                  (b1 * m[i] + (1 - b1) * g) / (std::sqrt(vv) + c.eps);
          break;
        }
      }
    }
  }
};

// A loss whose gradient depends on the parameters: 0.5 (p - target)^2 + 0.3 sin(2p).
double LossGrad(double p, size_t i) {
  const double target = 0.3 * static_cast<double>(i % 7) - 1.0;
  return (p - target) + 0.6 * std::cos(2 * p);
}

std::vector<OptimizerConfig> AllConfigs() {
  std::vector<OptimizerConfig> out;
  for (OptimizerType type : {OptimizerType::kSgd, OptimizerType::kAdam, OptimizerType::kNadam}) {
    for (int variant = 0; variant < 4; ++variant) {
      OptimizerConfig c;
      c.type = type;
      c.weight_decay = variant % 2 == 1 ? 0.05f : 0.0f;
      if (type == OptimizerType::kSgd) {
        c.lr = 0.05f;
        c.momentum = variant >= 2 ? 0.9f : 0.0f;
        c.nesterov = variant == 3;
      } else {
        c.lr = 0.01f;
        c.amsgrad = variant >= 2;
      }
      out.push_back(c);
    }
  }
  return out;
}

std::string Describe(const OptimizerConfig& c) {
  return absl::StrCat(OptimizerTypeName(c.type), " wd=", c.weight_decay, " momentum=", c.momentum,
                      " nesterov=", c.nesterov, " amsgrad=", c.amsgrad);
}

TEST(OptimizerReferenceTest, EveryOptimizerFollowsTheDoubleReference) {
  for (const OptimizerConfig& c : AllConfigs()) {
    SCOPED_TRACE(Describe(c));
    const size_t n = 37;
    std::vector<double> ref_p(n);
    std::vector<float> init(n);
    for (size_t i = 0; i < n; ++i) init[i] = static_cast<float>(ref_p[i] = 0.1 * i - 1.5);
    Tensor w = Tensor::FromVector({1, static_cast<int64_t>(n)}, init);
    Tensor gw = Tensor::Zeros({1, static_cast<int64_t>(n)});
    Tensor b = Tensor::FromVector({2}, {0.25f, -0.5f});
    Tensor gb = Tensor::Zeros({2});
    std::vector<double> ref_b = {0.25, -0.5};
    absl::StatusOr<std::unique_ptr<Optimizer>> opt =
        MakeOptimizer(c, {{"fc1/weight", &w, &gw}, {"fc1/bias", &b, &gb}});
    ASSERT_TRUE(opt.ok()) << opt.status();
    Reference rw{c}, rb{c};
    for (int t = 1; t <= 12; ++t) {
      std::vector<double> grad_w(n), grad_b(2);
      // The float side uses its own parameters, so small differences do not
      // compound through the gradient.
      for (size_t i = 0; i < n; ++i) {
        gw.data()[i] = static_cast<float>(LossGrad(w.data()[i], i));
        grad_w[i] = LossGrad(ref_p[i], i);
      }
      for (size_t i = 0; i < 2; ++i) {
        gb.data()[i] = static_cast<float>(LossGrad(b.data()[i], i + 3));
        grad_b[i] = LossGrad(ref_b[i], i + 3);
      }
      ASSERT_TRUE((*opt)->Step().ok());
      rw.Step(ref_p, grad_w);
      rb.Step(ref_b, grad_b);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_NEAR(w.data()[i], ref_p[i], 2e-5 + 2e-5 * std::fabs(ref_p[i]))
            << "step " << t << " element " << i;
      }
      for (size_t i = 0; i < 2; ++i) ASSERT_NEAR(b.data()[i], ref_b[i], 2e-5);
    }
    // Each step moved the parameters (nothing silently skipped).
    EXPECT_GT(std::fabs(w.data()[0] - init[0]), 1e-3);
  }
}

TEST(OptimizerReferenceTest, AdamConvergesOnAQuadratic) {
  Tensor p = Tensor::FromVector({3}, {5, -5, 0});
  Tensor g = Tensor::Zeros({3});
  OptimizerConfig c;
  c.lr = 0.1f;
  auto opt = *MakeOptimizer(c, {{"p", &p, &g}});
  const float target[3] = {1, 2, 3};
  for (int t = 0; t < 500; ++t) {
    for (int i = 0; i < 3; ++i) g.data()[i] = p.data()[i] - target[i];
    ASSERT_TRUE(opt->Step().ok());
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p.data()[i], target[i], 1e-2);
}

// ---------------------------------------------------------------------------
// state export / import

TEST(OptimizerStateTest, ResumeContinuesBitForBit) {
  for (const OptimizerConfig& c : AllConfigs()) {
    SCOPED_TRACE(Describe(c));
    auto grad_at = [](int t, int64_t i) {
      return static_cast<float>(std::sin(0.7 * t + 0.3 * i) + 0.2 * std::cos(1.9 * t * i));
    };
    Tensor a = Tensor::FromVector({2, 3}, {1, 2, 3, -1, -2, -3});
    Tensor ga = Tensor::Zeros({2, 3});
    auto opt = *MakeOptimizer(c, {{"fc1/weight", &a, &ga}});
    for (int t = 1; t <= 3; ++t) {
      for (int64_t i = 0; i < 6; ++i) ga.data()[i] = grad_at(t, i);
      ASSERT_TRUE(opt->Step().ok());
    }
    // Checkpoint through real .npz bytes, alongside the parameters.
    NpzMap ckpt = opt->ExportState();
    EXPECT_EQ(*ckpt.at("optimizer/step").ToInt64(), std::vector<int64_t>{3});
    EXPECT_TRUE(ckpt.at("optimizer/step").shape.empty());
    ckpt["fc1/weight"] = NpyArray::FromTensor(a);
    absl::StatusOr<NpzMap> loaded = ParseNpz(SerializeNpz(ckpt, true), "ckpt.npz");
    ASSERT_TRUE(loaded.ok()) << loaded.status();

    Tensor b = *loaded->at("fc1/weight").ToTensor();
    Tensor gb = Tensor::Zeros({2, 3});
    auto resumed = *MakeOptimizer(c, {{"fc1/weight", &b, &gb}});
    ASSERT_TRUE(resumed->ImportState(*loaded).ok());
    EXPECT_EQ(resumed->step(), 3);
    for (int t = 4; t <= 9; ++t) {
      for (int64_t i = 0; i < 6; ++i) ga.data()[i] = gb.data()[i] = grad_at(t, i);
      ASSERT_TRUE(opt->Step().ok());
      ASSERT_TRUE(resumed->Step().ok());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0) << "diverged at step " << t;
    }
    // Exported state is identical too.
    NpzMap s1 = opt->ExportState(), s2 = resumed->ExportState();
    ASSERT_EQ(s1.size(), s2.size());
    for (const auto& [key, array] : s1) EXPECT_EQ(array.data, s2.at(key).data) << key;
  }
}

TEST(OptimizerStateTest, SlotNames) {
  Tensor p = Tensor::Zeros({2}), g = Tensor::Zeros({2});
  OptimizerConfig c;
  c.type = OptimizerType::kSgd;
  c.momentum = 0.5f;
  auto keys = [&](const OptimizerConfig& config) {
    std::vector<std::string> out;
    for (const auto& [k, v] : (*MakeOptimizer(config, {{"w", &p, &g}}))->ExportState()) {
      out.push_back(k);
    }
    return out;
  };
  EXPECT_EQ(keys(c), (std::vector<std::string>{"optimizer/step", "optimizer/w/momentum"}));
  c.type = OptimizerType::kAdam;
  EXPECT_EQ(keys(c),
            (std::vector<std::string>{"optimizer/step", "optimizer/w/m", "optimizer/w/v"}));
  c.amsgrad = true;
  c.type = OptimizerType::kNadam;
  EXPECT_EQ(keys(c), (std::vector<std::string>{"optimizer/step", "optimizer/w/m",
                                               "optimizer/w/v", "optimizer/w/v_max"}));
}

TEST(OptimizerStateTest, ImportRejectsMismatchedState) {
  Tensor p = Tensor::Zeros({2, 2}), g = Tensor::Zeros({2, 2});
  OptimizerConfig c;
  auto opt = *MakeOptimizer(c, {{"fc1/weight", &p, &g}});
  const NpzMap good = opt->ExportState();
  struct Case {
    std::string what;
    NpzMap state;
    std::string expect;
  };
  std::vector<Case> cases;
  {
    NpzMap s = good;
    s.erase("optimizer/step");
    cases.push_back({"no step", s, "missing 'optimizer/step'"});
  }
  {
    NpzMap s = good;
    s["optimizer/step"] = NpyArray::FromInt64({}, {-1});
    cases.push_back({"negative step", s, "must be one integer >= 0"});
  }
  {
    NpzMap s = good;
    s.erase("optimizer/fc1/weight/v");
    cases.push_back({"missing slot", s, "missing 'optimizer/fc1/weight/v'"});
  }
  {
    NpzMap s = good;
    s["optimizer/fc1/weight/m"] = NpyArray::FromTensor(Tensor::Zeros({4}));
    cases.push_back({"shape", s, "has shape [4], expected the parameter's [2,2]"});
  }
  {
    NpzMap s = good;
    s["optimizer/fc2/weight/m"] = NpyArray::FromTensor(Tensor::Zeros({4}));
    cases.push_back({"stray", s, "unexpected key 'optimizer/fc2/weight/m'"});
  }
  for (const Case& k : cases) {
    absl::Status s = opt->ImportState(k.state);
    EXPECT_FALSE(s.ok()) << k.what;
    EXPECT_TRUE(absl::StrContains(s.message(), k.expect)) << k.what << ": " << s;
  }
  // Keys outside "optimizer/" are ignored; a failed import changed nothing.
  NpzMap with_params = good;
  with_params["fc1/weight"] = NpyArray::FromTensor(p);
  EXPECT_TRUE(opt->ImportState(with_params).ok());
  EXPECT_EQ(opt->step(), 0);
}

// ---------------------------------------------------------------------------
// validation

TEST(OptimizerConfigTest, RejectsBadSettings) {
  Tensor p = Tensor::Zeros({2}), g = Tensor::Zeros({2}), g3 = Tensor::Zeros({3});
  OptimizerConfig c;
  c.type = OptimizerType::kSgd;
  c.nesterov = true;
  EXPECT_TRUE(absl::StrContains(ValidateOptimizerConfig(c).message(), "with nesterov"));
  c = OptimizerConfig();
  c.beta2 = 1.0f;
  EXPECT_TRUE(absl::StrContains(ValidateOptimizerConfig(c).message(),
                                "optimizer (adam): beta2 = 1, expected in [0, 1)"));
  c = OptimizerConfig();
  c.lr = -1;
  EXPECT_FALSE(MakeOptimizer(c, {}).ok());
  c = OptimizerConfig();
  EXPECT_TRUE(ValidateOptimizerConfig(c).ok());
  EXPECT_FALSE(MakeOptimizer(c, {{"a", &p, &g}, {"a", &p, &g}}).ok());
  EXPECT_FALSE(MakeOptimizer(c, {{"a", &p, nullptr}}).ok());
  EXPECT_FALSE(MakeOptimizer(c, {{"a", &p, &g3}}).ok());

  EXPECT_EQ(*ParseOptimizerType("nadam"), OptimizerType::kNadam);
  EXPECT_FALSE(ParseOptimizerType("rmsprop").ok());
}

TEST(OptimizerTest, BadGradientLeavesParametersUnchanged) {
  Tensor a = Tensor::Full({2}, 1.0f), ga = Tensor::Full({2}, 1.0f);
  Tensor b = Tensor::Full({2}, 1.0f), gb = Tensor::Full({2}, 1.0f);
  OptimizerConfig c;
  auto opt = *MakeOptimizer(c, {{"a", &a, &ga}, {"b", &b, &gb}});
  gb = Tensor::Zeros({3});  // the backward pass produced the wrong shape
  absl::Status s = opt->Step();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "gradient of 'b' has shape [3]")) << s;
  EXPECT_EQ(a.data()[0], 1.0f);
  EXPECT_EQ(opt->step(), 0);
  gb = Tensor::Full({2}, 1.0f);
  ASSERT_TRUE(opt->Step().ok());
  EXPECT_LT(a.data()[0], 1.0f);
  opt->ZeroGrad();
  EXPECT_EQ(ga.data()[1], 0.0f);
  EXPECT_EQ(gb.data()[0], 0.0f);
  opt->set_lr(0.5f);
  EXPECT_EQ(opt->lr(), 0.5f);
}

}  // namespace
}  // namespace slayer
