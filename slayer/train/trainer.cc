#include "slayer/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/loss.h"
#include "slayer/train/plot.h"

namespace slayer {
namespace train {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Stream ids of the run's random numbers (all derived from config.seed).
constexpr uint64_t kShuffleStream = 1000;
constexpr uint64_t kAugmentStream = 2000;

}  // namespace

OptimizerConfig ToOptimizerConfig(const proto::Optimizer& o) {
  OptimizerConfig c;
  c.weight_decay = o.weight_decay();
  switch (o.kind_case()) {
    case proto::Optimizer::kSgd:
      c.type = OptimizerType::kSgd;
      c.lr = o.sgd().lr();
      c.momentum = o.sgd().momentum();
      c.nesterov = o.sgd().nesterov();
      break;
    case proto::Optimizer::kNadam:
      c.type = OptimizerType::kNadam;
      c.lr = o.nadam().lr();
      c.beta1 = o.nadam().beta1();
      c.beta2 = o.nadam().beta2();
      c.eps = o.nadam().eps();
      break;
    case proto::Optimizer::kAdam:
    default: {
      const proto::Adam& a = o.adam();  // defaults when unset
      c.type = OptimizerType::kAdam;
      c.lr = a.lr();
      c.beta1 = a.beta1();
      c.beta2 = a.beta2();
      c.eps = a.eps();
      c.amsgrad = a.amsgrad();
      break;
    }
  }
  return c;
}

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const proto::Training& config,
                                                         const TrainerOptions& options) {
  std::unique_ptr<Trainer> t(new Trainer());
  t->config_ = config;
  t->options_ = options;
  if (!config.has_network()) {
    return absl::InvalidArgumentError("network: the config has no 'network { ... }' or 'model:'");
  }
  if (options.epochs < 0 || options.epochs == std::numeric_limits<int>::max() ||
      options.max_batches < 0 ||
      !(options.checkpoint_interval_s >= 0) || std::isinf(options.checkpoint_interval_s)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer options: epochs ", options.epochs, ", max_batches ", options.max_batches,
        ", checkpoint_interval_s ", options.checkpoint_interval_s,
        " (expected epochs in [0, INT_MAX), max_batches >= 0 and a finite "
        "checkpoint_interval_s >= 0)"));
  }
  absl::StatusOr<config::NetworkSpec> spec = config::BuildNetworkSpec(config.network());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("network.", spec.status().message()));
  }
  t->spec_ = *std::move(spec);
  SLAYER_RETURN_IF_ERROR(config::ValidateTraining(config, t->spec_));
  if (config.threads() > 0) ThreadPool::SetDefaultThreads(config.threads());
  SLAYER_ASSIGN_OR_RETURN(t->data_, MakeTrainingData(config, t->spec_));
  SLAYER_ASSIGN_OR_RETURN(t->network_, layers::Network::Create(t->spec_, config.seed()));
  if (options.comm != nullptr) t->comm_ = options.comm;
  if (t->comm_->size() > 1) {
    // Every rank starts from rank 0's parameters.
    for (layers::Param* p : t->network_->params()) {
      SLAYER_RETURN_IF_ERROR(t->comm_->Broadcast(p->value.span(), 0));
    }
  }
  if (options.device != Device::kCpu) SLAYER_RETURN_IF_ERROR(t->network_->To(options.device));
  std::vector<NamedParameter> params;
  for (layers::Param* p : t->network_->params()) params.push_back({p->name, &p->value, &p->grad});
  SLAYER_ASSIGN_OR_RETURN(t->optimizer_,
                          MakeOptimizer(ToOptimizerConfig(config.optimizer()), std::move(params)));
  t->base_lr_ = t->optimizer_->lr();
  if (!options.run_dir.empty() && t->is_root()) SLAYER_RETURN_IF_ERROR(MakeDirs(options.run_dir));
  return t;
}

std::string Trainer::RunPath(const std::string& file) const {
  return options_.run_dir + "/" + file;
}

const data::Dataset& Trainer::eval_dataset() const {
  return data_.test ? *data_.test : *data_.train;
}

absl::Status Trainer::LoadBatch(const data::Dataset& ds, const std::vector<int64_t>& order,
                                int64_t begin, int64_t end, int epoch, bool augment) {
  const int64_t n = end - begin;
  const Shape& s = ds.sample_shape();
  SLAYER_RETURN_IF_ERROR(EnsureShape(&batch_, {n, s[0], s[1], s[2], s[3]}, Device::kCpu));
  labels_.assign(n, 0);
  indices_.assign(order.begin() + begin, order.begin() + end);
  std::vector<absl::Status> errors(n);
  const Rng augment_base = Rng(config_.seed()).Stream(kAugmentStream + epoch);
  // Each sample's nonzeros are recorded while it is in cache, so that the
  // first layer does not scan the batch again.
  const bool record = network_->TakesInputEvents();
  batch_events_.resize(record ? n : 0);
  const int64_t steps = s[3], rows = s[0] * s[1] * s[2];
  ThreadPool::Default().ParallelFor(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      Tensor row = batch_.Slice(i, i + 1);
      Rng rng = augment_base.Stream(indices_[i]);
      errors[i] = ds.Get(indices_[i], augment ? &rng : nullptr, &row, &labels_[i]);
      if (record && errors[i].ok()) {
        ops::RecordSampleEvents(row.data(), rows, steps, &batch_events_[i]);
      }
    }
  });
  for (const absl::Status& e : errors) SLAYER_RETURN_IF_ERROR(e);
  if (config_.loss().has_spike_time()) {
    const Tensor& t0 = data_.targets.at(0);
    SLAYER_RETURN_IF_ERROR(EnsureShape(&targets_, {n, t0.dim(0), t0.dim(1), t0.dim(2), t0.dim(3)},
                                       Device::kCpu));
    const float inv_ts = 1.0f / network_->ts();
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& src = data_.targets.at(indices_[i]);
      float* dst = targets_.Slice(i, i + 1).data();
      for (int64_t k = 0; k < src.numel(); ++k) dst[k] = src.data()[k] * inv_ts;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Trainer::BatchResult> Trainer::RunBatch(int64_t n, bool training, uint64_t step) {
  BatchResult r;
  SLAYER_RETURN_IF_ERROR(network_->Forward(batch_, training, step, batch_events_));
  const Tensor& out = network_->output();
  const float ts = network_->ts();
  const int64_t T = network_->steps();
  float loss = 0;
  const proto::Loss& l = config_.loss();
  ops::CountTarget region;
  if (l.has_spike_time()) {
    Tensor target = targets_;
    if (network_->device() != Device::kCpu) {
      SLAYER_ASSIGN_OR_RETURN(target, targets_.To(network_->device()));
    }
    SLAYER_RETURN_IF_ERROR(
        ops::SpikeTimeLoss(out, target, network_->kernels().eps, ts, &loss, &grad_));
    SLAYER_ASSIGN_OR_RETURN(Tensor host, out.To(Device::kCpu));
    for (int64_t i = 0; i < host.numel() && r.exact; ++i) {
      r.exact = (host.data()[i] > 0) == (targets_.data()[i] > 0);
    }
  } else {
    if (l.has_num_spikes()) {
      const proto::NumSpikesLoss& ns = l.num_spikes();
      region.start_step = std::llround(ns.start_ms() / spec_.ts_ms);
      region.stop_step = ns.has_stop_ms() ? std::llround(ns.stop_ms() / spec_.ts_ms) : T;
      region.true_value = ns.true_count();
      region.false_value = ns.false_count();
      SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(out, labels_, region, network_->kernels().eps,
                                                ts, &loss, &grad_));
    } else {
      const proto::SpikeRateLoss& sr = l.spike_rate();
      region.start_step = std::llround(sr.start_ms() / spec_.ts_ms);
      region.stop_step = sr.has_stop_ms() ? std::llround(sr.stop_ms() / spec_.ts_ms) : T;
      region.true_value = sr.true_rate();
      region.false_value = sr.false_rate();
      SLAYER_RETURN_IF_ERROR(ops::SpikeRateLoss(out, labels_, region, ts, &loss, &grad_));
    }
    SLAYER_ASSIGN_OR_RETURN(Tensor counts,
                            ops::SpikeCounts(out, region.start_step, region.stop_step, ts));
    r.predicted = ops::PredictClasses(counts, &r.tied);
    for (int64_t i = 0; i < n; ++i) r.correct += r.predicted[i] == labels_[i];
  }
  r.loss = loss;
  if (!std::isfinite(loss)) return r;  // the caller reports it with context
  if (training) SLAYER_RETURN_IF_ERROR(network_->Backward(grad_));
  return r;
}

absl::Status Trainer::SumAcrossRanks(absl::Span<double> values) {
  if (comm_->size() == 1) return absl::OkStatus();
  return comm_->AllReduceSum(values);
}

absl::Status Trainer::ApplyUpdate(std::string* bad_param) {
  std::vector<layers::Param*> params = network_->params();
  const double reduce_start = Now();
  const Device device = network_->device();
  if (comm_->size() > 1) {
    // One fused all-reduce of every gradient: on the device when the
    // communicator can (NCCL), else through a host buffer.
    const Device where =
        device != Device::kCpu && comm_->ReducesOnDevice(device) ? device : Device::kCpu;
    int64_t total = 0;
    for (layers::Param* p : params) total += p->grad.numel();
    SLAYER_RETURN_IF_ERROR(EnsureShape(&grad_bucket_, {total}, where));
    int64_t offset = 0;
    for (layers::Param* p : params) {
      const int64_t n = p->grad.numel();
      SLAYER_RETURN_IF_ERROR(grad_bucket_.Slice(offset, offset + n).CopyFrom(p->grad));
      offset += n;
    }
    SLAYER_RETURN_IF_ERROR(where == Device::kCpu
                               ? comm_->AllReduceSum(grad_bucket_.span())
                               : comm_->AllReduceSumOnDevice(grad_bucket_.data(), total, where));
    offset = 0;
    for (layers::Param* p : params) {
      const int64_t n = p->grad.numel();
      SLAYER_RETURN_IF_ERROR(p->grad.CopyFrom(grad_bucket_.Slice(offset, offset + n)));
      offset += n;
    }
    allreduce_s_ += Now() - reduce_start;
  }
  SLAYER_RETURN_IF_ERROR(optimizer_->Step());
  for (layers::Param* p : params) {
    if (p->is_delay) SLAYER_RETURN_IF_ERROR(ops::ClampDelays(&p->value, p->max_delay_ms));
    if (p->value.is_cpu()) {
      for (float v : p->value.span()) {
        if (!std::isfinite(v)) {
          *bad_param = p->name;
          return absl::OkStatus();
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Trainer::Evaluate(const data::Dataset& ds) {
  EvalResult result;
  const int64_t n = ds.size();
  const int64_t bs = config_.batch_size();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const double start = Now();
  // Each rank evaluates its contiguous shard; the sums are then combined.
  const int64_t shard = (n + comm_->size() - 1) / comm_->size();
  const int64_t lo = std::min(n, shard * comm_->rank()), hi = std::min(n, lo + shard);
  const bool classify = !config_.loss().has_spike_time();
  // The confusion matrix (outputs x outputs, summed across ranks), kept as
  // far as it can be drawn.
  const int64_t outputs = NumElements(spec_.output_shape());
  const int64_t classes = classify && outputs <= kMaxConfusionClasses ? outputs : 0;
  // {loss, correct, inexact batches, non-finite batches, ties, confusion...}
  std::vector<double> sums(5 + classes * classes, 0.0);
  for (int64_t b = lo; b < hi; b += bs) {
    const int64_t e = std::min(hi, b + bs);
    SLAYER_RETURN_IF_ERROR(LoadBatch(ds, order, b, e, /*epoch=*/0, /*augment=*/false));
    SLAYER_ASSIGN_OR_RETURN(BatchResult r, RunBatch(e - b, /*training=*/false, 0));
    if (!std::isfinite(r.loss)) {
      sums[3] += 1;
      continue;
    }
    sums[0] += r.loss;
    sums[1] += static_cast<double>(r.correct);
    sums[2] += r.exact ? 0 : 1;
    for (size_t i = 0; classes > 0 && i < r.predicted.size(); ++i) {
      sums[4] += r.tied[i] ? 1 : 0;
      if (labels_[i] >= 0 && labels_[i] < classes) {  // else the loss refused it
        sums[5 + labels_[i] * classes + r.predicted[i]] += 1;
      }
    }
  }
  SLAYER_RETURN_IF_ERROR(SumAcrossRanks(absl::MakeSpan(sums)));
  if (sums[3] > 0) {
    return absl::DataLossError(absl::StrCat("evaluation loss is not finite in ", sums[3],
                                            " batch(es) of ", n, " samples"));
  }
  const double loss = sums[0];
  const int64_t correct = static_cast<int64_t>(sums[1]);
  result.exact = sums[2] == 0;
  result.samples = n;
  result.loss = n > 0 ? loss / n : 0;
  if (classify && n > 0) result.accuracy = double(correct) / n;
  if (classes > 0) {
    result.classes = classes;
    result.ties = static_cast<int64_t>(sums[4]);
    for (int64_t i = 0; i < classes * classes; ++i) {
      result.confusion.push_back(static_cast<int64_t>(sums[5 + i]));
    }
  }
  result.samples_per_s = n / std::max(1e-9, Now() - start);
  return result;
}

absl::StatusOr<TrainResult> Trainer::Train() {
  TrainResult result;
  const double start = Now();
  const int epochs = options_.epochs > 0 ? options_.epochs : config_.epochs();
  // Only rank 0 reports; the others write their progress nowhere.
  std::ostringstream discard;
  ProgressOptions progress_options = options_.progress;
  if (!is_root()) progress_options.out = &discard;
  ProgressReporter progress(progress_options);
  Position resume_at;
  const bool write = !options_.run_dir.empty() && is_root();
  MetricsLog log(options_.run_dir.empty() || !is_root() ? std::string() : RunPath("metrics.csv"));
  if (options_.resume) {
    SLAYER_RETURN_IF_ERROR(LoadCheckpoint(&resume_at));
    // A checkpoint past this run's last epoch holds parameters that no run of
    // `epochs` epochs ends with.
    const int needed = resume_at.epochs + (resume_at.batches > 0 ? 1 : 0);
    if (epochs < needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--resume: ", RunPath("checkpoint.npz"), " was taken ",
          resume_at.batches > 0 ? absl::StrCat(resume_at.batches, " batches into epoch ",
                                               resume_at.epochs + 1)
                                : absl::StrCat("after epoch ", resume_at.epochs),
          ", past the end of a run of ", epochs, " epochs (expected epochs >= ", needed,
          "; set --epochs)"));
    }
    if (is_root()) {
      SLAYER_ASSIGN_OR_RETURN(log, MetricsLog::Open(RunPath("metrics.csv")));
    }
    log.TruncateAfter(resume_at.epochs);
    progress.Message(absl::StrCat(
        "resuming ", RunPath("checkpoint.npz"), " after epoch ", resume_at.epochs,
        resume_at.batches > 0 ? absl::StrCat(" and ", resume_at.batches, " batches of epoch ",
                                             resume_at.epochs + 1)
                              : ""));
  }
  if (write) {
    // The config as run: with the epochs of --epochs.
    proto::Training as_run = config_;
    as_run.set_epochs(epochs);
    std::string text;
    google::protobuf::TextFormat::PrintToString(as_run, &text);
    SLAYER_RETURN_IF_ERROR(WriteFileAtomic(RunPath("config.pbtxt"), text));
  }
  const data::Dataset& train = *data_.train;
  const int64_t n = train.size();
  const int64_t bs = config_.batch_size();
  const int64_t global_bs = bs * comm_->size();
  int64_t batches = (n + global_bs - 1) / global_bs;
  if (options_.max_batches > 0) batches = std::min(batches, options_.max_batches);
  const bool classify = !config_.loss().has_spike_time();
  if (config_.data().has_image() && config_.data().image().augment_from_epoch() > epochs) {
    progress.Message(absl::StrCat("note: data.image.augment_from_epoch is ",
                                  config_.data().image().augment_from_epoch(), ", after the ",
                                  epochs, " epochs of this run: no epoch is augmented"));
  }
  double last_write = Now();
  allreduce_s_ = 0;
  // Metrics and best first, so that a checkpoint never runs ahead of them
  // (within an epoch, the previous epoch's row may still be pending).
  auto checkpoint = [&](const Position& at) -> absl::Status {
    SLAYER_RETURN_IF_ERROR(log.Flush());
    if (best_dirty_) SLAYER_RETURN_IF_ERROR(WriteNpz(RunPath("best.npz"), best_params_));
    best_dirty_ = false;
    return SaveCheckpoint(at);
  };
  int64_t batches_run = 0;  // by this process, for stop_after_batches
  EvalResult last_test;      // the latest test-set evaluation (confusion.png)
  // A checkpoint without the geometry (the 4-value form) continues when its
  // count of samples fits this run's batches.
  const bool recorded = resume_at.global_batch > 0;
  if (resume_at.batches > 0 &&
      (recorded ? resume_at.samples != n || resume_at.global_batch != global_bs
                : resume_at.batches > n ||  // (no overflow below)
                      resume_at.seen != std::min(n, resume_at.batches * global_bs))) {
    // Batch b no longer holds the same samples: the interrupted epoch starts
    // over (its first batches' updates are already in the parameters).
    progress.Message(absl::StrCat(
        "note: the checkpoint was cut from ",
        recorded ? absl::StrCat(resume_at.samples, " samples in batches of ",
                                resume_at.global_batch)
                 : absl::StrCat(resume_at.seen, " samples in ", resume_at.batches, " batches"),
        ", this run has ", n, " in batches of ", global_bs, "; epoch ", resume_at.epochs + 1,
        " starts over"));
    resume_at = Position{resume_at.epochs};
  }
  // A run with fewer batches per epoch (--max_batches) ends the epoch there.
  if (resume_at.batches > batches) {
    progress.Message(absl::StrCat("note: the checkpoint is ", resume_at.batches,
                                  " batches into epoch ", resume_at.epochs + 1,
                                  ", this run's epochs have ", batches, "; the epoch ends there"));
    resume_at.batches = batches;
  }

  for (int epoch = resume_at.epochs + 1; epoch <= epochs; ++epoch) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (config_.shuffle()) {
      Rng rng = Rng(config_.seed()).Stream(kShuffleStream + epoch);
      for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.UniformInt(i + 1)]);
    }
    if (data_.start_epoch) data_.start_epoch(epoch);
    // A resumed epoch continues after the checkpoint's batches.
    const bool resumed = epoch == resume_at.epochs + 1;
    const int64_t first_batch = resumed ? resume_at.batches : 0;
    double loss_sum = resumed ? resume_at.loss_sum : 0;
    int64_t correct = resumed ? resume_at.correct : 0, seen = resumed ? resume_at.seen : 0;
    // The schedule is a function of the epoch, so a resumed run matches.
    optimizer_->set_lr(static_cast<float>(base_lr_ * std::pow(config_.lr_decay(), epoch - 1)));
    progress.StartEpoch(epoch, epochs, batches, "train", first_batch);
    for (int64_t b = first_batch; b < batches; ++b) {
      // This rank's rows of global batch b.
      const int64_t begin = std::min(n, b * global_bs + comm_->rank() * bs);
      const int64_t end = std::min(n, begin + bs);
      const uint64_t step = static_cast<uint64_t>(epoch - 1) * batches + b;
      const double step_start = Now();
      BatchResult r;
      if (end > begin) {
        SLAYER_RETURN_IF_ERROR(LoadBatch(train, order, begin, end, epoch, /*augment=*/true));
        SLAYER_ASSIGN_OR_RETURN(r, RunBatch(end - begin, /*training=*/true, step));
      } else {
        for (layers::Param* p : network_->params()) p->grad.SetZero();  // a short last batch
      }
      // {loss, correct, samples, non-finite}: every rank decides alike.
      double sums[4] = {std::isfinite(r.loss) ? r.loss : 0.0, static_cast<double>(r.correct),
                        static_cast<double>(end - begin), std::isfinite(r.loss) ? 0.0 : 1.0};
      const double sync_start = Now();
      SLAYER_RETURN_IF_ERROR(SumAcrossRanks(absl::MakeSpan(sums)));
      if (comm_->size() > 1) result.sync_s += Now() - sync_start;
      std::string bad_param;
      if (sums[3] == 0) SLAYER_RETURN_IF_ERROR(ApplyUpdate(&bad_param));
      result.step_s += Now() - step_start;
      if (sums[3] > 0 || !bad_param.empty()) {
        return absl::DataLossError(absl::StrCat(
            bad_param.empty() ? absl::StrCat("the loss became ", r.loss)
                              : "parameter '" + bad_param + "' became non-finite",
            " at epoch ", epoch, ", batch ", b + 1, "/", batches, "; stopped without saving",
            options_.run_dir.empty()
                ? ""
                : "; the last good checkpoint is " + RunPath("checkpoint.npz"),
            " (try a smaller learning rate)"));
      }
      loss_sum += sums[0];
      correct += static_cast<int64_t>(sums[1]);
      seen += static_cast<int64_t>(sums[2]);
      progress.Batch(static_cast<int64_t>(sums[2]), loss_sum / std::max<int64_t>(1, seen),
                     classify ? std::optional<double>(double(correct) / std::max<int64_t>(1, seen))
                              : std::nullopt);
      if (write && b + 1 < batches && options_.checkpoint_interval_s > 0 &&
          Now() - last_write >= options_.checkpoint_interval_s) {
        SLAYER_RETURN_IF_ERROR(
            checkpoint({epoch - 1, b + 1, loss_sum, correct, seen, n, global_bs}));
        last_write = Now();
      }
      if (options_.stop_after_batches > 0 && ++batches_run >= options_.stop_after_batches) {
        return absl::AbortedError(
            absl::StrCat("stopped after ", batches_run, " batches (stop_after_batches)"));
      }
    }
    MetricsRow row;
    row.epoch = epoch;
    row.train_loss = loss_sum / std::max<int64_t>(1, seen);
    if (classify) row.train_accuracy = double(correct) / std::max<int64_t>(1, seen);
    row.samples_per_s = progress.samples_per_second();
    if (data_.test && epoch % config_.eval_every() == 0) {
      SLAYER_ASSIGN_OR_RETURN(EvalResult ev, Evaluate(*data_.test));
      row.test_loss = ev.loss;
      if (ev.accuracy >= 0) row.test_accuracy = ev.accuracy;
      last_test = std::move(ev);
    }
    SLAYER_RETURN_IF_ERROR(log.AppendDeferred(row));
    progress.EndEpoch(row, &log.best());
    if (log.last_is_best() && write) {
      SLAYER_ASSIGN_OR_RETURN(best_params_, network_->ExportParams());
      best_dirty_ = true;
    }
    bool exact = false;
    if (config_.stop_when_exact()) {
      // Judged with the parameters after this epoch's updates.
      SLAYER_ASSIGN_OR_RETURN(EvalResult check, Evaluate(train));
      exact = check.exact;
    }
    const bool last_epoch = epoch == epochs || exact ||
                            (config_.target_loss() > 0 && *row.train_loss <= config_.target_loss());
    if (write && (last_epoch || Now() - last_write >= options_.checkpoint_interval_s)) {
      SLAYER_RETURN_IF_ERROR(checkpoint({epoch}));
      if (options_.pictures) {
        SLAYER_RETURN_IF_ERROR(WriteLearningCurvePng(RunPath("learning_curve.png"), log.rows()));
      }
      last_write = Now();
    }
    if (exact) {
      result.converged = true;
      result.converged_epoch = epoch;
      progress.Message(absl::StrCat("converged: the output equals the target spike for spike "
                                    "after ", epoch, " epochs"));
      break;
    }
    if (config_.target_loss() > 0 && *row.train_loss <= config_.target_loss()) {
      result.converged = true;
      result.converged_epoch = epoch;
      progress.Message(absl::StrFormat("converged: train loss %.6g <= target %.6g after %d epochs",
                                       *row.train_loss, config_.target_loss(), epoch));
      break;
    }
  }
  result.history = log.rows();
  if (log.best().test_accuracy) result.best_test_accuracy = log.best().test_accuracy->value;
  if (write) {
    SLAYER_ASSIGN_OR_RETURN(NpzMap params, network_->ExportParams());
    SLAYER_RETURN_IF_ERROR(WriteNpz(RunPath("params.npz"), params));
    if (options_.pictures) SLAYER_RETURN_IF_ERROR(WriteRaster());
    if (options_.pictures && last_test.classes > 0) {
      SLAYER_RETURN_IF_ERROR(WriteConfusionPng(RunPath("confusion.png"), last_test.confusion,
                                               last_test.classes));
    }
  }
  result.allreduce_s = allreduce_s_;
  result.wall_s = Now() - start;
  return result;
}

absl::Status Trainer::SaveCheckpoint(const Position& at) {
  SLAYER_ASSIGN_OR_RETURN(NpzMap ckpt, network_->ExportParams());
  for (auto& [key, value] : optimizer_->ExportState()) ckpt[key] = value;
  ckpt["trainer/epoch"] = NpyArray::FromInt64({}, {at.epochs});
  // Within an epoch: batches done, correct, seen, the loss sum's bits (exact,
  // so that the resumed epoch reports what an uninterrupted one would), and
  // the samples and global batch size the batches were cut with.
  int64_t loss_bits;
  std::memcpy(&loss_bits, &at.loss_sum, sizeof(loss_bits));
  ckpt["trainer/partial_epoch"] = NpyArray::FromInt64(
      {6}, {at.batches, at.correct, at.seen, loss_bits, at.samples, at.global_batch});
  return WriteNpz(RunPath("checkpoint.npz"), ckpt);
}

absl::Status Trainer::LoadCheckpoint(Position* at) {
  const std::string path = RunPath("checkpoint.npz");
  if (options_.run_dir.empty() || !FileExists(path)) {
    return absl::NotFoundError(absl::StrCat("--resume: no checkpoint at '", path, "'"));
  }
  SLAYER_ASSIGN_OR_RETURN(NpzMap ckpt, ReadNpz(path));
  SLAYER_RETURN_IF_ERROR(network_->ImportParams(ckpt, path));
  SLAYER_RETURN_IF_ERROR(optimizer_->ImportState(ckpt));
  auto it = ckpt.find("trainer/epoch");
  if (it == ckpt.end()) {
    return absl::NotFoundError(absl::StrCat(path, ": missing key 'trainer/epoch'"));
  }
  absl::StatusOr<std::vector<int64_t>> epoch = it->second.ToInt64();
  if (!epoch.ok() || epoch->size() != 1 || it->second.shape.size() > 1 || (*epoch)[0] < 0 ||
      (*epoch)[0] >= std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": 'trainer/epoch' must be one integer in [0, ", std::numeric_limits<int>::max(),
        ")", epoch.ok() ? "" : absl::StrCat(": ", epoch.status().message())));
  }
  *at = Position{static_cast<int>((*epoch)[0])};
  it = ckpt.find("trainer/partial_epoch");
  if (it == ckpt.end()) return absl::OkStatus();  // written at an epoch's end
  absl::StatusOr<std::vector<int64_t>> values = it->second.ToInt64();
  const std::string what = absl::StrCat(
      path, ": 'trainer/partial_epoch' must be a vector of 6 integers [batches, correct, "
            "seen, loss bits, samples, global batch] (or the first 4) with counts >= 0, "
            "correct <= seen, a finite loss sum >= 0, all zero when batches is 0, and seen "
            "matching the batches done");
  if (!values.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", values.status().message()));
  }
  // The first 4 alone: written before the geometry was recorded (not checked).
  std::vector<int64_t> partial = *values;
  const bool vector = it->second.shape.size() == 1;
  if (partial.size() == 4) partial.insert(partial.end(), {0, 0});
  double loss_sum = 0;
  if (partial.size() == 6) std::memcpy(&loss_sum, &partial[3], sizeof(loss_sum));
  if (!vector || partial.size() != 6 || partial[0] < 0 || partial[1] < 0 || partial[2] < 0 ||
      partial[1] > partial[2] || partial[4] < 0 || partial[5] < 0 ||
      !std::isfinite(loss_sum) || loss_sum < 0) {
    return absl::InvalidArgumentError(what);
  }
  const int64_t batches = partial[0], seen = partial[2], samples = partial[4],
                global_batch = partial[5];
  // No batches: nothing summed. With the geometry: the batches fall inside
  // the epoch and the samples seen are theirs.
  const bool empty_ok = batches > 0 || (partial[1] == 0 && seen == 0 && loss_sum == 0);
  const bool geometry_ok =
      global_batch == 0 ||
      (samples > 0 && batches < (samples + global_batch - 1) / global_batch &&
       seen == std::min(samples, batches * global_batch));
  if (!empty_ok || !geometry_ok) return absl::InvalidArgumentError(what);
  at->batches = partial[0];
  at->correct = partial[1];
  at->seen = partial[2];
  at->loss_sum = loss_sum;
  at->samples = partial[4];
  at->global_batch = partial[5];
  return absl::OkStatus();
}

absl::Status Trainer::WriteRaster() {
  // One test sample through the trained network: input and every layer.
  const data::Dataset& ds = eval_dataset();
  std::vector<int64_t> order = {0};
  SLAYER_RETURN_IF_ERROR(LoadBatch(ds, order, 0, 1, 0, /*augment=*/false));
  SLAYER_RETURN_IF_ERROR(network_->Forward(batch_, /*training=*/false));
  std::vector<RasterLayer> layers;
  layers.push_back({absl::StrCat("input (sample 0, label ", labels_[0], ")"), batch_.Clone()});
  for (const auto& layer : network_->layers()) {
    SLAYER_ASSIGN_OR_RETURN(Tensor host, layer->output().To(Device::kCpu));
    layers.push_back({layer->name(), host.Clone()});
  }
  if (config_.loss().has_spike_time()) {
    Tensor target = targets_.Clone();  // amplitude 1/Ts; any nonzero is a spike
    layers.push_back({"target", target});
  }
  RasterOptions options;
  options.ts_ms = spec_.ts_ms;
  return WriteSpikeRasterPng(RunPath("raster.png"), layers, options);
}

}  // namespace train
}  // namespace slayer
