#include "slayer/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "slayer/core/check.h"
#include "slayer/core/status.h"
#include "slayer/core/thread_pool.h"

namespace slayer {
namespace {

constexpr char kPrefix[] = "optimizer/";
constexpr char kStepKey[] = "optimizer/step";
// State tensors per parameter, at most (Adam with AMSGrad: m, v, v_max).
constexpr size_t kMaxSlots = 3;

std::string SlotKey(const std::string& param, const std::string& slot) {
  return absl::StrCat(kPrefix, param, "/", slot);
}

// The moment updates of Adam and Nadam over one chunk, with the step taken
// by step(g, m, v) -> the amount subtracted from the parameter. Separate
// loops with and without AMSGrad and unaliased pointers let the compiler
// vectorise them (BUILD: -fno-math-errno, so that sqrt is not a call, and
// the dynamic cost model, which allows a scalar tail); sqrt and division are
// exact in every lane.
template <bool kAmsgrad, typename Step>
void AdamMoments(float* __restrict param, const float* __restrict grad, float* __restrict m,
                 float* __restrict v, float* __restrict v_max, int64_t n, float b1, float b2,
                 float wd, Step step) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + wd * param[i];
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if constexpr (kAmsgrad) vv = v_max[i] = std::max(v_max[i], vi);
    param[i] -= step(g, mi, vv);
  }
}

template <typename Step>
void AdamMoments(bool amsgrad, float* param, const float* grad, absl::Span<float* const> state,
                 int64_t n, float b1, float b2, float wd, Step step) {
  if (amsgrad) {
    AdamMoments<true>(param, grad, state[0], state[1], state[2], n, b1, b2, wd, step);
  } else {
    AdamMoments<false>(param, grad, state[0], state[1], nullptr, n, b1, b2, wd, step);
  }
}

// SGD as torch.optim.SGD (dampening 0): the momentum buffer starts as the
// first gradient; Nesterov uses g + momentum * buffer.
class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, std::vector<NamedParameter> p)
      : Optimizer(c, std::move(p), {"momentum"}) {}

 protected:
  void Update(float* param, const float* grad, absl::Span<float* const> state, int64_t n,
              int64_t t) override {
    const float lr = config().lr, wd = config().weight_decay, mu = config().momentum;
    const bool nesterov = config().nesterov;
    float* buf = state[0];
    for (int64_t i = 0; i < n; ++i) {
      float g = grad[i] + wd * param[i];
      if (mu != 0.0f) {
        buf[i] = t == 1 ? g : mu * buf[i] + g;
        g = nesterov ? g + mu * buf[i] : buf[i];
      }
      param[i] -= lr * g;
    }
  }
};

// Adam as torch.optim.Adam: p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps),
// with v replaced by its running maximum under AMSGrad.
class Adam final : public Optimizer {
 public:
  Adam(const OptimizerConfig& c, std::vector<NamedParameter> p)
      : Optimizer(c, std::move(p), Slots(c)) {}
  static std::vector<std::string> Slots(const OptimizerConfig& c) {
    if (c.amsgrad) return {"m", "v", "v_max"};
    return {"m", "v"};
  }

 protected:
  void Update(float* param, const float* grad, absl::Span<float* const> state, int64_t n,
              int64_t t) override {
    const OptimizerConfig& c = config();
    const double bc1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(t));
    const float step_size = static_cast<float>(c.lr / bc1);
    const float sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
    const float eps = c.eps;
    AdamMoments(c.amsgrad, param, grad, state, n, c.beta1, c.beta2, c.weight_decay,
                [=](float, float m, float v) {
                  return step_size * (m / (std::sqrt(v) / sqrt_bc2 + eps));
                });
  }
};

// slayerPytorch's Nadam (SPEC §5), after updating m and v as Adam does:
// p -= lr·sqrt(1-β2^t)/(1-β1^t) · (β1·m + (1-β1)·g) / (sqrt(v) + eps).
class Nadam final : public Optimizer {
 public:
  Nadam(const OptimizerConfig& c, std::vector<NamedParameter> p)
      : Optimizer(c, std::move(p), Adam::Slots(c)) {}

 protected:
  void Update(float* param, const float* grad, absl::Span<float* const> state, int64_t n,
              int64_t t) override {
    const OptimizerConfig& c = config();
    const double bc1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(t));
    const float step_size = static_cast<float>(c.lr * std::sqrt(bc2) / bc1);
    const float b1 = c.beta1, eps = c.eps;
    AdamMoments(c.amsgrad, param, grad, state, n, b1, c.beta2, c.weight_decay,
                [=](float g, float m, float v) {
                  return step_size * ((b1 * m + (1.0f - b1) * g) / (std::sqrt(v) + eps));
                });
  }
};

}  // namespace

const char* OptimizerTypeName(OptimizerType type) {
  switch (type) {
    case OptimizerType::kSgd: return "sgd";
    case OptimizerType::kAdam: return "adam";
    case OptimizerType::kNadam: return "nadam";
  }
  return "unknown";
}

absl::StatusOr<OptimizerType> ParseOptimizerType(absl::string_view name) {
  for (OptimizerType t : {OptimizerType::kSgd, OptimizerType::kAdam, OptimizerType::kNadam}) {
    if (name == OptimizerTypeName(t)) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimizer '", name, "', expected sgd, adam or nadam"));
}

absl::Status ValidateOptimizerConfig(const OptimizerConfig& c) {
  auto bad = [&](const char* field, float value, const char* expected) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer (", OptimizerTypeName(c.type),
                                                   "): ", field, " = ", value, ", expected ",
                                                   expected));
  };
  if (!(c.lr >= 0.0f) || !std::isfinite(c.lr)) return bad("lr", c.lr, "a finite value >= 0");
  if (!(c.weight_decay >= 0.0f) || !std::isfinite(c.weight_decay)) {
    return bad("weight_decay", c.weight_decay, "a finite value >= 0");
  }
  if (c.type == OptimizerType::kSgd) {
    if (!(c.momentum >= 0.0f) || !std::isfinite(c.momentum)) {
      return bad("momentum", c.momentum, "a finite value >= 0");
    }
    if (c.nesterov && c.momentum <= 0.0f) {
      return bad("momentum", c.momentum, "> 0 with nesterov");
    }
  } else {
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f)) return bad("beta1", c.beta1, "in [0, 1)");
    if (!(c.beta2 >= 0.0f && c.beta2 < 1.0f)) return bad("beta2", c.beta2, "in [0, 1)");
    if (!(c.eps >= 0.0f) || !std::isfinite(c.eps)) return bad("eps", c.eps, "a finite value >= 0");
  }
  return absl::OkStatus();
}

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<NamedParameter> params,
                     std::vector<std::string> slots)
    : config_(config), params_(std::move(params)), slots_(std::move(slots)) {
  state_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    for (size_t k = 0; k < slots_.size(); ++k) {
      state_[i].push_back(Tensor::Zeros(params_[i].param->shape()));
    }
  }
}

absl::Status Optimizer::Step() {
  // Check everything before touching anything, so a bad gradient leaves
  // every parameter as it was.
  for (const NamedParameter& p : params_) {
    if (p.grad->shape() != p.param->shape()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "optimizer step ", step_ + 1, ": gradient of '", p.name, "' has shape ",
          ShapeString(p.grad->shape()), ", expected the parameter's ",
          ShapeString(p.param->shape())));
    }
  }
  const int64_t t = step_ + 1;
  for (size_t i = 0; i < params_.size(); ++i) {
    NamedParameter& p = params_[i];
    std::vector<float*> state;
    for (Tensor& s : state_[i]) state.push_back(s.data());
    if (p.param->is_cpu() && p.grad->is_cpu()) {
      // Elementwise: chunks on the thread pool compute exactly what one
      // pass would.
      float* param = p.param->data();
      const float* grad = p.grad->data();
      ThreadPool::Default().ParallelFor(p.param->numel(), 1 << 15, [&](int64_t b, int64_t e) {
        float* chunk[kMaxSlots];
        SLAYER_CHECK(state.size() <= kMaxSlots) << "optimizer: " << state.size() << " slots";
        for (size_t k = 0; k < state.size(); ++k) chunk[k] = state[k] + b;
        Update(param + b, grad + b, absl::MakeConstSpan(chunk, state.size()), e - b, t);
      });
      continue;
    }
    // A device tensor: update a host copy (the CPU param, if any, in place).
    SLAYER_ASSIGN_OR_RETURN(Tensor host_param, p.param->To(Device::kCpu));
    SLAYER_ASSIGN_OR_RETURN(Tensor host_grad, p.grad->To(Device::kCpu));
    Update(host_param.data(), host_grad.data(), state, host_param.numel(), t);
    SLAYER_RETURN_IF_ERROR(p.param->CopyFrom(host_param));
  }
  step_ = t;
  return absl::OkStatus();
}

void Optimizer::ZeroGrad() {
  for (NamedParameter& p : params_) p.grad->SetZero();
}

NpzMap Optimizer::ExportState() const {
  NpzMap out;
  out[kStepKey] = NpyArray::FromInt64({}, {step_});
  for (size_t i = 0; i < params_.size(); ++i) {
    for (size_t k = 0; k < slots_.size(); ++k) {
      out[SlotKey(params_[i].name, slots_[k])] = NpyArray::FromTensor(state_[i][k]);
    }
  }
  return out;
}

absl::Status Optimizer::ImportState(const NpzMap& state) {
  const std::string what = absl::StrCat(OptimizerTypeName(config_.type), " optimizer state");
  auto step_it = state.find(kStepKey);
  if (step_it == state.end()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": missing '", kStepKey, "'"));
  }
  absl::StatusOr<std::vector<int64_t>> step = step_it->second.ToInt64();
  if (!step.ok() || step->size() != 1 || (*step)[0] < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": '", kStepKey, "' must be one integer >= 0, found ",
        NpyDTypeName(step_it->second.dtype), ShapeString(step_it->second.shape),
        step.ok() ? "" : absl::StrCat(" (", step.status().message(), ")")));
  }
  std::set<std::string> expected = {kStepKey};
  std::vector<std::vector<Tensor>> loaded(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    for (const std::string& slot : slots_) {
      const std::string key = SlotKey(params_[i].name, slot);
      expected.insert(key);
      auto it = state.find(key);
      if (it == state.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": missing '", key, "' (was the checkpoint written by another optimizer "
            "type or with other amsgrad setting?)"));
      }
      if (it->second.shape != params_[i].param->shape()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": '", key, "' has shape ", ShapeString(it->second.shape),
            ", expected the parameter's ", ShapeString(params_[i].param->shape())));
      }
      absl::StatusOr<Tensor> t = it->second.ToTensor();
      if (!t.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": '", key, "': ", t.status().message()));
      }
      loaded[i].push_back(*std::move(t));
    }
  }
  for (const auto& [key, array] : state) {
    if (absl::StartsWith(key, kPrefix) && expected.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": unexpected key '", key, "' (no such parameter or slot; slots are ",
          absl::StrJoin(slots_, ", "), ")"));
    }
  }
  state_ = std::move(loaded);
  step_ = (*step)[0];
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerConfig& config,
                                                         std::vector<NamedParameter> params) {
  SLAYER_RETURN_IF_ERROR(ValidateOptimizerConfig(config));
  std::set<std::string> names;
  for (const NamedParameter& p : params) {
    if (p.param == nullptr || p.grad == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer: parameter '", p.name, "' has a null tensor"));
    }
    if (p.name.empty() || !names.insert(p.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer: parameter names must be unique and non-empty, got '", p.name, "'"));
    }
    if (p.grad->shape() != p.param->shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer: gradient of '", p.name, "' has shape ", ShapeString(p.grad->shape()),
          ", expected ", ShapeString(p.param->shape())));
    }
  }
  switch (config.type) {
    case OptimizerType::kSgd: return std::unique_ptr<Optimizer>(new Sgd(config, std::move(params)));
    case OptimizerType::kAdam:
      return std::unique_ptr<Optimizer>(new Adam(config, std::move(params)));
    case OptimizerType::kNadam:
      return std::unique_ptr<Optimizer>(new Nadam(config, std::move(params)));
  }
  return absl::InvalidArgumentError("optimizer: unknown type");
}

}  // namespace slayer
