// Optimisers over named parameters: SGD (momentum, Nesterov), Adam (AMSGrad)
// and slayerPytorch's Nadam (SPEC §5), with optional L2 weight decay. State
// (moments, step count) exports to and imports from an NpzMap, so a training
// run resumed from a checkpoint continues bit for bit.
//
//   OptimizerConfig config;               // Adam, lr 1e-3, betas (0.9, 0.999)
//   config.type = OptimizerType::kNadam;
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
//                           MakeOptimizer(config, {{"fc1/weight", &w, &grad_w}}));
//   ... backward fills grad_w ...
//   SLAYER_RETURN_IF_ERROR(opt->Step());
//   NpzMap checkpoint = opt->ExportState();   // "optimizer/step", "optimizer/fc1/weight/m", ...
#ifndef SLAYER_TRAIN_OPTIMIZER_H_
#define SLAYER_TRAIN_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "slayer/core/npy.h"
#include "slayer/core/tensor.h"

namespace slayer {

enum class OptimizerType { kSgd, kAdam, kNadam };
const char* OptimizerTypeName(OptimizerType type);  // "sgd", "adam", "nadam"
absl::StatusOr<OptimizerType> ParseOptimizerType(absl::string_view name);

// Plain settings; the proto layer maps slayer.Optimizer onto this.
struct OptimizerConfig {
  OptimizerType type = OptimizerType::kAdam;
  float lr = 1e-3f;
  // L2 penalty: weight_decay * param is added to the gradient (PyTorch's
  // `weight_decay`, not decoupled AdamW decay).
  float weight_decay = 0.0f;
  // SGD.
  float momentum = 0.0f;
  bool nesterov = false;  // needs momentum > 0
  // Adam and Nadam.
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  bool amsgrad = false;  // use the running maximum of v
};

// Checks ranges: lr, weight_decay, momentum >= 0; 0 <= beta < 1; eps >= 0.
absl::Status ValidateOptimizerConfig(const OptimizerConfig& config);

// A trainable tensor and its gradient (same shape), by name ("fc1/weight").
// The optimiser does not own them; they must outlive it.
struct NamedParameter {
  std::string name;
  Tensor* param = nullptr;
  Tensor* grad = nullptr;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its gradient. Host tensors are
  // updated in place; device tensors go through a host copy.
  absl::Status Step();
  // Sets every gradient to zero.
  void ZeroGrad();

  int64_t step() const { return step_; }  // updates done so far
  float lr() const { return config_.lr; }
  void set_lr(float lr) { config_.lr = lr; }  // for schedules
  const OptimizerConfig& config() const { return config_; }
  const std::vector<NamedParameter>& parameters() const { return params_; }

  // "optimizer/step" (int64 scalar) and, per parameter and state slot,
  // "optimizer/<name>/<slot>" (float32, the parameter's shape). Slots:
  // SGD "momentum"; Adam and Nadam "m", "v" and, with AMSGrad, "v_max".
  NpzMap ExportState() const;
  // Restores what ExportState wrote. Keys outside "optimizer/" are ignored,
  // so one checkpoint map may hold parameters too; a missing slot, a shape
  // mismatch or a state key for an unknown parameter is an error.
  absl::Status ImportState(const NpzMap& state);

 protected:
  Optimizer(const OptimizerConfig& config, std::vector<NamedParameter> params,
            std::vector<std::string> slots);

  // Updates `n` elements of one parameter; `state[k]` is slot k of it, and
  // `t` (>= 1) is the number of this step.
  virtual void Update(float* param, const float* grad, absl::Span<float* const> state,
                      int64_t n, int64_t t) = 0;

 private:
  OptimizerConfig config_;
  std::vector<NamedParameter> params_;
  std::vector<std::string> slots_;
  std::vector<std::vector<Tensor>> state_;  // [param][slot], host
  int64_t step_ = 0;
};

// Validates the config and the parameters (non-null, equal shapes, unique
// names) and builds the optimiser of `config.type`.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerConfig& config,
                                                         std::vector<NamedParameter> params);

}  // namespace slayer

#endif  // SLAYER_TRAIN_OPTIMIZER_H_
