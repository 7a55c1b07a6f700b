// The training loop: seeded shuffling and batching, forward, loss, backward,
// optimiser step and delay clamping; per-epoch test evaluation, metrics.csv,
// pictures (learning curve, spike raster), atomic checkpoints and a resume
// that continues a run bit for bit as if it had not stopped.
//
//   SLAYER_ASSIGN_OR_RETURN(proto::Training config, config::ReadTrainingFile(path));
//   TrainerOptions options;  options.run_dir = "runs/fmnist";
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, Trainer::Create(config, options));
//   SLAYER_ASSIGN_OR_RETURN(TrainResult result, trainer->Train());
//
// Run folder: metrics.csv, params.npz (final), best.npz (best test accuracy,
// or lowest training loss without a test set), checkpoint.npz (parameters +
// optimiser + trainer state, for --resume), config.pbtxt, learning_curve.png,
// raster.png.
#ifndef SLAYER_TRAIN_TRAINER_H_
#define SLAYER_TRAIN_TRAINER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"
#include "slayer/data/dataset.h"
#include "slayer/layers/network.h"
#include "slayer/proto/config.h"
#include "slayer/proto/train.pb.h"
#include "slayer/train/communicator.h"
#include "slayer/train/datasets.h"
#include "slayer/train/metrics.h"
#include "slayer/train/optimizer.h"
#include "slayer/train/progress.h"

namespace slayer {
namespace train {

struct TrainerOptions {
  std::string run_dir;  // where outputs go (created); empty: write nothing
  bool resume = false;  // continue from run_dir/checkpoint.npz
  Device device = Device::kCpu;
  // Per-batch progress and epoch summaries (default: stderr, a live line
  // on a terminal, a plain line every few seconds otherwise).
  ProgressOptions progress = ProgressOptions::ForStderr();
  int64_t max_batches = 0;  // per epoch (0: all); for quick runs
  int epochs = 0;  // overrides the config's epochs when > 0
  bool pictures = true;
  // checkpoint.npz (with metrics.csv and best.npz brought up to date first)
  // is written at most once per this many seconds: after a batch, or at the
  // end of an epoch with the learning curve (0: at the end of every epoch
  // only). The last epoch is always written. A resume continues from the
  // batch after the checkpoint and gives the same run as no interruption.
  double checkpoint_interval_s = 60.0;
  // Tests: after this many training batches (0: never), Train returns
  // kAborted as if the process had died there.
  int64_t stop_after_batches = 0;
  // Data-parallel training (not owned; null: one process). Every rank runs
  // the same config; config.batch_size is per rank, so the global batch is
  // batch_size * size(). Rank r takes rows [r*B, (r+1)*B) of each global
  // batch of the shared shuffled order; gradients and metrics are summed
  // across ranks before each step (the loss is a sum over samples, so this
  // equals one process with the global batch); parameters start from rank
  // 0's; only rank 0 writes files and progress.
  Communicator* comm = nullptr;
};

struct EvalResult {
  double loss = 0;  // mean per sample
  double accuracy = -1;
  int64_t samples = 0;
  double samples_per_s = 0;
  bool exact = true;  // spike_time: every output spike equals its target
  // Classification: confusion[label * classes + predicted] samples, and how
  // many predictions were ties of the largest spike count (decided by the
  // lowest index). Empty / 0 for spike_time.
  int64_t classes = 0;
  std::vector<int64_t> confusion;
  int64_t ties = 0;
};

struct TrainResult {
  std::vector<MetricsRow> history;  // as in metrics.csv (losses: mean per sample)
  bool converged = false;  // stop_when_exact or target_loss reached
  int converged_epoch = 0;
  double best_test_accuracy = -1;
  double wall_s = 0;
  // Seconds in training batches (load, forward, backward, sums, update) and,
  // of those, in the gradient all-reduce (with its copies) and in the
  // per-batch metrics sum, which also absorbs waiting for the slowest rank.
  // The sums are 0 for one process.
  double step_s = 0;
  double allreduce_s = 0;
  double sync_s = 0;
};

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const proto::Training& config,
                                                         const TrainerOptions& options);
  ~Trainer();

  absl::StatusOr<TrainResult> Train();
  // Loss and accuracy over `dataset` in eval mode (no augmentation).
  absl::StatusOr<EvalResult> Evaluate(const data::Dataset& dataset);
  // The test set, else the training set.
  const data::Dataset& eval_dataset() const;
  const data::Dataset& train_dataset() const { return *data_.train; }

  layers::Network& network() { return *network_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  const config::NetworkSpec& spec() const { return spec_; }

 private:
  Trainer() = default;
  struct BatchResult {
    double loss = 0;
    int64_t correct = 0;
    std::vector<int> predicted;  // classification: per sample
    std::vector<bool> tied;
    bool exact = true;  // every output spike equals the target (spike_time)
    std::string bad_param;  // a parameter that became non-finite
  };
  absl::Status LoadBatch(const data::Dataset& ds, const std::vector<int64_t>& order,
                         int64_t begin, int64_t end, int epoch, bool augment);
  // Forward, loss and (when training) backward of the loaded batch.
  absl::StatusOr<BatchResult> RunBatch(int64_t n, bool training, uint64_t step);
  // Sums gradients across ranks, steps the optimiser, clamps delays and
  // checks that every parameter stayed finite (else names it).
  absl::Status ApplyUpdate(std::string* bad_param);
  // Sums `values` across ranks (no-op for one process).
  absl::Status SumAcrossRanks(absl::Span<double> values);
  bool is_root() const { return comm_->rank() == 0; }
  // Where a checkpoint stands: `epochs` complete, then `batches` of the next
  // with their running sums (all zero at an epoch's end).
  struct Position {
    int epochs = 0;
    int64_t batches = 0;
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    // The batch geometry the batches were cut with (0: not recorded).
    int64_t samples = 0, global_batch = 0;
  };
  absl::Status SaveCheckpoint(const Position& at);
  absl::Status LoadCheckpoint(Position* at);
  absl::Status WriteRaster();
  std::string RunPath(const std::string& file) const;

  proto::Training config_;
  TrainerOptions options_;
  config::NetworkSpec spec_;
  TrainingData data_;
  std::unique_ptr<layers::Network> network_;
  std::unique_ptr<Optimizer> optimizer_;
  Tensor batch_;  // [B, C, H, W, T] host
  // batch_'s nonzeros per sample, recorded as each sample is loaded (when the
  // network takes them: its first layer is dense, on the host).
  std::vector<ops::SampleEvents> batch_events_;
  std::vector<int> labels_;
  std::vector<int64_t> indices_;  // data indices of the batch rows
  Tensor targets_;  // [B, O, 1, 1, T], amplitude 1/Ts (spike_time)
  Tensor grad_;
  double base_lr_ = 0;  // the config's lr, before the schedule
  SingleProcessCommunicator single_;
  Communicator* comm_ = &single_;
  Tensor grad_bucket_;  // all gradients, for one all-reduce (host or device)
  double allreduce_s_ = 0;  // time in ApplyUpdate's all-reduce, this Train()
  NpzMap best_params_;  // parameters of the best epoch so far
  bool best_dirty_ = false;  // best_params_ not yet written
};

// Maps the proto optimiser onto OptimizerConfig (Adam when unset).
OptimizerConfig ToOptimizerConfig(const proto::Optimizer& optimizer);

}  // namespace train
}  // namespace slayer

#endif  // SLAYER_TRAIN_TRAINER_H_
