// Builds the training and test data sets a training config names (images,
// NMNIST, DVS Gesture, the Poisson experiment, synthetic), shaped for the
// network: every sample is [C, H, W, T] with the network's input [C, H, W]
// and T time steps of Ts.
//
//   SLAYER_ASSIGN_OR_RETURN(TrainingData data, MakeTrainingData(config, spec));
//   data.train->Get(i, &rng, &row, &label);
//   // spike_time targets (Poisson): data.targets[i], 0/1 [O, 1, 1, T]
#ifndef SLAYER_TRAIN_DATASETS_H_
#define SLAYER_TRAIN_DATASETS_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"
#include "slayer/data/dataset.h"
#include "slayer/proto/config.h"
#include "slayer/proto/train.pb.h"

namespace slayer {
namespace train {

struct TrainingData {
  std::unique_ptr<data::Dataset> train;
  std::unique_ptr<data::Dataset> test;  // may be null (no test set)
  // For spike_time training: one 0/1 target [O, 1, 1, T] per train sample
  // (empty otherwise).
  std::vector<Tensor> targets;
  std::vector<std::unique_ptr<data::Dataset>> keep_alive;  // bases of subsets
  // Called before each training epoch (1-based) when set: switches the
  // training set's augmentation on and off by the config's epoch range.
  std::function<void(int epoch)> start_epoch;
};

// Errors name the config field and the file.
absl::StatusOr<TrainingData> MakeTrainingData(const proto::Training& config,
                                              const config::NetworkSpec& spec);

// The Poisson experiment's inputs and targets: `inputs` Poisson trains of
// `input_rate_hz`, one target train per output neuron of `target_rate_hz`,
// both seeded. Inputs [N, C, H, W, T], targets [N, O, 1, 1, T], 0/1.
struct PoissonProblem {
  Tensor inputs;
  Tensor targets;
};
PoissonProblem MakePoissonProblem(const proto::PoissonData& options,
                                  const config::NetworkSpec& spec);

}  // namespace train
}  // namespace slayer

#endif  // SLAYER_TRAIN_DATASETS_H_
