#include "slayer/train/trainer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/core/npy.h"

namespace slayer {
namespace train {
namespace {

std::string TempDir(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

proto::Training Config(const std::string& text) {
  absl::StatusOr<proto::Training> t = config::ParseTrainingText(text, "test");
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

const char kSynthetic[] = R"pb(
  network {
    simulation { ts_ms: 1 sample_ms: 40 }
    neuron { srm { theta: 10 tau_sr_ms: 4 } }
    arch: "4x4x2-16-4o"
  }
  data { synthetic { train_samples: 128 test_samples: 64 density: 0.05 seed: 3 } }
  loss { num_spikes { true_count: 12 false_count: 2 } }
  optimizer { adam { lr: 0.05 } }
  batch_size: 16
  epochs: 4
  seed: 5
)pb";

// The same with a dropout layer between the dense layers (its masks are
// drawn from the step counter).
proto::Training SyntheticWithDropout() {
  proto::Training c = Config(kSynthetic);
  proto::Network* net = c.mutable_network();
  net->clear_arch();
  for (int d : {2, 4, 4}) net->add_input_shape(d);
  net->add_layer()->mutable_dense()->set_units(16);
  net->add_layer()->mutable_dropout()->set_p(0.2f);
  net->add_layer()->mutable_dense()->set_units(4);
  return c;
}

TrainerOptions Quiet(const std::string& dir) {
  TrainerOptions o;
  o.run_dir = dir;
  static std::ostringstream* sink = new std::ostringstream();
  o.progress.out = sink;
  o.progress.terminal = false;
  o.pictures = true;
  o.checkpoint_interval_s = 0;
  return o;
}

// Resumes the run in `dir` and trains it to its last epoch.
void ResumeToTheEnd(const proto::Training& config, const std::string& dir, size_t epochs) {
  TrainerOptions o = Quiet(dir);
  o.resume = true;
  auto t = Trainer::Create(config, o);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<TrainResult> r = (*t)->Train();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->history.size(), epochs);
}

// Two run folders hold the same parameters, bit for bit, and the same
// losses and accuracies epoch by epoch (throughput differs).
void ExpectSameRun(const std::string& a_dir, const std::string& b_dir, size_t epochs) {
  absl::StatusOr<NpzMap> a = ReadNpz(a_dir + "/params.npz");
  absl::StatusOr<NpzMap> b = ReadNpz(b_dir + "/params.npz");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (const auto& [key, value] : *a) {
    EXPECT_EQ(value.data, b->at(key).data) << key << " differs after resume";
  }
  absl::StatusOr<std::vector<MetricsRow>> ma =
      ParseMetricsCsv(*ReadFile(a_dir + "/metrics.csv"), a_dir);
  absl::StatusOr<std::vector<MetricsRow>> mb =
      ParseMetricsCsv(*ReadFile(b_dir + "/metrics.csv"), b_dir);
  ASSERT_TRUE(ma.ok() && mb.ok());
  ASSERT_EQ(ma->size(), epochs);
  ASSERT_EQ(mb->size(), epochs);
  for (size_t i = 0; i < epochs; ++i) {
    EXPECT_EQ((*ma)[i].train_loss, (*mb)[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ((*ma)[i].train_accuracy, (*mb)[i].train_accuracy) << "epoch " << i + 1;
    EXPECT_EQ((*ma)[i].test_accuracy, (*mb)[i].test_accuracy) << "epoch " << i + 1;
  }
}

TEST(TrainerTest, LearnsSyntheticClassesAndWritesRunFolder) {
  const std::string dir = TempDir("synthetic");
  auto trainer = Trainer::Create(Config(kSynthetic), Quiet(dir));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<TrainResult> r = (*trainer)->Train();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->history.size(), 4u);
  EXPECT_LT(*r->history.back().train_loss, *r->history.front().train_loss);
  EXPECT_GT(r->best_test_accuracy, 0.5);  // 4 classes: chance is 0.25
  for (const char* f : {"metrics.csv", "params.npz", "best.npz", "checkpoint.npz", "config.pbtxt",
                        "learning_curve.png", "raster.png", "confusion.png"}) {
    EXPECT_TRUE(FileExists(dir + "/" + f)) << f;
  }
  absl::StatusOr<std::string> csv = ReadFile(dir + "/metrics.csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(csv->substr(0, csv->find('\n')),
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s");
  EXPECT_EQ(std::count(csv->begin(), csv->end(), '\n'), 5);
  absl::StatusOr<NpzMap> params = ReadNpz(dir + "/params.npz");
  ASSERT_TRUE(params.ok());
  EXPECT_TRUE(params->count("fc1/weight"));
  EXPECT_TRUE(params->count("fc2/weight"));

  // The confusion matrix: its rows hold each label's samples (counted from
  // the data set), its diagonal the correct ones.
  const data::Dataset& test = (*trainer)->eval_dataset();
  absl::StatusOr<EvalResult> ev = (*trainer)->Evaluate(test);
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->classes, 4);
  ASSERT_EQ(ev->confusion.size(), 16u);
  std::vector<int64_t> per_label(4, 0);
  for (int64_t i = 0; i < test.size(); ++i) per_label[*test.Label(i)]++;
  int64_t diagonal = 0;
  for (int64_t k = 0; k < 4; ++k) {
    int64_t row = 0;
    for (int64_t j = 0; j < 4; ++j) row += ev->confusion[k * 4 + j];
    EXPECT_EQ(row, per_label[k]) << "label " << k;
    diagonal += ev->confusion[k * 4 + k];
  }
  EXPECT_EQ(static_cast<double>(diagonal) / test.size(), ev->accuracy);
  // A silent network ties every output at 0 spikes: all taken for class 0.
  for (layers::Param* p : (*trainer)->network().params()) p->value.SetZero();
  ev = (*trainer)->Evaluate(test);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->ties, test.size());
  for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(ev->confusion[k * 4], per_label[k]) << k;
}

TEST(TrainerTest, ResumeAfterAnInterruptedEpochMatchesAnUninterruptedRun) {
  const std::string full = TempDir("full"), cut = TempDir("cut");
  {
    auto t = Trainer::Create(Config(kSynthetic), Quiet(full));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->Train().ok());
  }
  // Run two epochs, then put back the checkpoint of epoch 1: as if the
  // process had died during epoch 2, before its checkpoint.
  {
    TrainerOptions o = Quiet(cut);
    o.epochs = 1;
    auto t = Trainer::Create(Config(kSynthetic), o);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->Train().ok());
  }
  absl::StatusOr<std::string> epoch1 = ReadFile(cut + "/checkpoint.npz");
  ASSERT_TRUE(epoch1.ok());
  {
    TrainerOptions o = Quiet(cut);
    o.epochs = 2;
    o.resume = true;
    auto t = Trainer::Create(Config(kSynthetic), o);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->Train().ok());
  }
  ASSERT_TRUE(WriteFileAtomic(cut + "/checkpoint.npz", *epoch1).ok());
  ASSERT_NO_FATAL_FAILURE(ResumeToTheEnd(Config(kSynthetic), cut, 4));
  ExpectSameRun(full, cut, 4);
}

// A checkpoint written within an epoch: the process dies 3 batches into
// epoch 2 (8 batches an epoch, a checkpoint after every batch); the resumed
// run continues from that batch and ends exactly where an uninterrupted run
// does, with the same metrics (dropout masks included).
TEST(TrainerTest, ResumeWithinAnEpochMatchesAnUninterruptedRun) {
  const std::string full = TempDir("mid_full"), cut = TempDir("mid_cut");
  {
    auto t = Trainer::Create(SyntheticWithDropout(), Quiet(full));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Train().ok());
  }
  {
    TrainerOptions o = Quiet(cut);
    o.checkpoint_interval_s = 1e-9;
    o.stop_after_batches = 11;
    auto t = Trainer::Create(SyntheticWithDropout(), o);
    ASSERT_TRUE(t.ok());
    const absl::Status died = (*t)->Train().status();
    ASSERT_EQ(died.code(), absl::StatusCode::kAborted) << died;
  }
  absl::StatusOr<NpzMap> ckpt = ReadNpz(cut + "/checkpoint.npz");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(*ckpt->at("trainer/epoch").ToInt64(), std::vector<int64_t>{1});
  EXPECT_EQ((*ckpt->at("trainer/partial_epoch").ToInt64())[0], 3);  // batches of epoch 2
  // metrics.csv never lags the checkpoint: epoch 1's row is there.
  absl::StatusOr<std::vector<MetricsRow>> before =
      ParseMetricsCsv(*ReadFile(cut + "/metrics.csv"), "cut");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->size(), 1u);
  ASSERT_NO_FATAL_FAILURE(ResumeToTheEnd(SyntheticWithDropout(), cut, 4));
  ExpectSameRun(full, cut, 4);
}

// A mid-epoch checkpoint resumed by a run cut differently: fewer batches an
// epoch ends the epoch there; another batch size starts the epoch over;
// corrupt counts are refused by name.
TEST(TrainerTest, ResumeWithinAnEpochUnderOtherSettings) {
  const std::string dir = TempDir("mid_other");
  {
    TrainerOptions o = Quiet(dir);
    o.checkpoint_interval_s = 1e-9;
    o.stop_after_batches = 11;
    auto t = Trainer::Create(Config(kSynthetic), o);
    ASSERT_TRUE(t.ok());
    ASSERT_EQ((*t)->Train().status().code(), absl::StatusCode::kAborted);
  }
  const absl::StatusOr<std::string> saved = ReadFile(dir + "/checkpoint.npz");
  ASSERT_TRUE(saved.ok());
  // Resumes the run in `dir`; `epochs` 0 keeps the config's, and
  // `stop_after_batches` > 0 checkpoints after every batch and dies there.
  auto resume = [&](const proto::Training& config, int64_t max_batches, int epochs = 0,
                    int64_t stop_after_batches = 0) {
    TrainerOptions o = Quiet(dir);
    o.resume = true;
    o.max_batches = max_batches;
    o.epochs = epochs;
    if (stop_after_batches > 0) {
      o.checkpoint_interval_s = 1e-9;
      o.stop_after_batches = stop_after_batches;
    }
    auto t = Trainer::Create(config, o);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? (*t)->Train() : absl::StatusOr<TrainResult>(t.status());
  };
  absl::StatusOr<TrainResult> r = resume(Config(kSynthetic), /*max_batches=*/2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->history.size(), 4u);  // epoch 2 ended at once; 3 and 4 of 2 batches
  ASSERT_TRUE(WriteFileAtomic(dir + "/checkpoint.npz", *saved).ok());
  proto::Training other = Config(kSynthetic);
  other.set_batch_size(8);
  r = resume(other, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->history.size(), 4u);

  // The checkpoint is 3 batches into epoch 2: a run of 1 epoch cannot end
  // with its parameters.
  ASSERT_TRUE(WriteFileAtomic(dir + "/checkpoint.npz", *saved).ok());
  absl::Status s = resume(Config(kSynthetic), 0, /*epochs=*/1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("3 batches into epoch 2, past the end of a run of 1 epochs"),
            std::string::npos)
      << s;

  // Corrupt positions, each refused by its key. 128 samples in batches of
  // 16: 8 batches an epoch, and `seen` is 16 per batch done.
  double three = 3.0;
  int64_t three_bits;
  std::memcpy(&three_bits, &three, sizeof(three_bits));
  auto refused = [&](const std::string& key, const NpyArray& value) {
    ASSERT_TRUE(WriteFileAtomic(dir + "/checkpoint.npz", *saved).ok());
    absl::StatusOr<NpzMap> ckpt = ReadNpz(dir + "/checkpoint.npz");
    ASSERT_TRUE(ckpt.ok());
    (*ckpt)[key] = value;
    ASSERT_TRUE(WriteNpz(dir + "/checkpoint.npz", *ckpt).ok());
    const absl::Status bad = resume(Config(kSynthetic), 0).status();
    EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(bad.message().find("'" + key + "' must be"), std::string::npos) << bad;
  };
  for (const std::vector<int64_t>& bad : std::vector<std::vector<int64_t>>{
           {-1, 0, 0, 0, 128, 16},
           {3, 49, 48, 0, 128, 16},
           {3, 0, 48, 0x7ff8000000000000, 128, 16},  // NaN loss
           {3, 0},
           {0, 5, 10, three_bits, 128, 16},  // nothing done, yet sums
           {0, 5, 10, three_bits},
           {8, 0, 128, three_bits, 128, 16},  // past the epoch's 8 batches
           {3, 0, 40, three_bits, 128, 16},   // 3 batches are 48 samples
           {3, 0, 48, three_bits, 0, 16}}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    refused("trainer/partial_epoch", NpyArray::FromInt64({static_cast<int64_t>(bad.size())}, bad));
  }
  refused("trainer/partial_epoch", NpyArray::FromInt64({2, 3}, {3, 0, 48, three_bits, 128, 16}));
  refused("trainer/epoch", NpyArray::FromInt64({}, {int64_t{1} << 31}));
  refused("trainer/epoch", NpyArray::FromInt64({}, {-1}));
  refused("trainer/epoch", NpyArray::Scalar(1.5f));
  // The 4-value form (no geometry) written before the geometry was recorded.
  ASSERT_TRUE(WriteFileAtomic(dir + "/checkpoint.npz", *saved).ok());
  {
    absl::StatusOr<NpzMap> ckpt = ReadNpz(dir + "/checkpoint.npz");
    ASSERT_TRUE(ckpt.ok());
    std::vector<int64_t> four = *ckpt->at("trainer/partial_epoch").ToInt64();
    four.resize(4);
    (*ckpt)["trainer/partial_epoch"] = NpyArray::FromInt64({4}, four);
    ASSERT_TRUE(WriteNpz(dir + "/checkpoint.npz", *ckpt).ok());
    r = resume(Config(kSynthetic), 0);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->history.size(), 4u);
    // Resumed in batches of 8, its 48 samples are not 3 batches: the epoch
    // starts over, so the checkpoint this run leaves is consistent and
    // resumes in turn.
    ASSERT_TRUE(WriteNpz(dir + "/checkpoint.npz", *ckpt).ok());
    ASSERT_EQ(resume(other, 0, 0, /*stop_after_batches=*/2).status().code(),
              absl::StatusCode::kAborted);
    r = resume(other, 0);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->history.size(), 4u);
  }
}

TEST(TrainerTest, PoissonExampleConvergesExactly) {
  // The paper's experiment as shipped in examples/: 250 Poisson inputs, 25
  // hidden, one output that must reproduce the target spike for spike.
  absl::StatusOr<proto::Training> config = config::ReadTrainingFile("examples/poisson.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  auto trainer = Trainer::Create(*config, Quiet(""));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<TrainResult> r = (*trainer)->Train();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->converged) << "final loss " << *r->history.back().train_loss;
  EXPECT_GT(r->converged_epoch, 1);  // the target is not trivially met
}

TEST(TrainerTest, DivergenceStopsWithAClearErrorAndKeepsTheCheckpoint) {
  const std::string dir = TempDir("diverge");
  proto::Training c = Config(kSynthetic);
  // First a good epoch (a checkpoint), then an absurd learning rate.
  {
    TrainerOptions o = Quiet(dir);
    o.epochs = 1;
    auto t = Trainer::Create(c, o);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->Train().ok());
  }
  absl::StatusOr<std::string> good = ReadFile(dir + "/checkpoint.npz");
  ASSERT_TRUE(good.ok());
  // Adam moves each weight by about lr per step: past FLT_MAX within an epoch.
  c.mutable_optimizer()->mutable_adam()->set_lr(1e38f);
  TrainerOptions o = Quiet(dir);
  o.resume = true;
  auto t = Trainer::Create(c, o);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<TrainResult> r = (*t)->Train();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("became"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("checkpoint.npz"), std::string::npos) << r.status();
  EXPECT_EQ(*ReadFile(dir + "/checkpoint.npz"), *good);
}

TEST(TrainerTest, LearningRateDecaysPerEpoch) {
  proto::Training c = Config(kSynthetic);
  c.set_epochs(3);
  c.set_lr_decay(0.5f);
  auto t = Trainer::Create(c, Quiet(""));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->Train().ok());
  EXPECT_FLOAT_EQ((*t)->optimizer().lr(), 0.05f * 0.25f);  // epoch 3 ran at lr * 0.5^2
}

TEST(TrainerTest, ConfigErrorsNameTheField) {
  proto::Training c = Config(kSynthetic);
  c.set_batch_size(-3);
  auto t = Trainer::Create(c, Quiet(""));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("batch_size"), std::string::npos);

  proto::Training img = Config(kSynthetic);
  img.mutable_data()->mutable_image()->set_train_images("/nonexistent/images.gz");
  img.mutable_data()->mutable_image()->set_train_labels("/nonexistent/labels.gz");
  img.mutable_data()->mutable_image()->set_test_images("/nonexistent/t.gz");
  img.mutable_data()->mutable_image()->set_test_labels("/nonexistent/tl.gz");
  t = Trainer::Create(img, Quiet(""));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("/nonexistent/images.gz"), std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace train
}  // namespace slayer

namespace slayer {
namespace train {
namespace {

// Two ranks with batch B each take the same steps as one process with batch
// 2B: the loss is a sum over samples, so summed gradients are identical up
// to float rounding.
TEST(TrainerTest, TwoRanksMatchOneProcessWithTheGlobalBatch) {
  proto::Training single = Config(kSynthetic);
  single.set_batch_size(32);
  single.set_epochs(2);
  auto one = Trainer::Create(single, Quiet(""));
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE((*one)->Train().ok());

  proto::Training per_rank = single;
  per_rank.set_batch_size(16);
  std::vector<std::unique_ptr<Communicator>> group = MakeThreadGroup(2);
  std::vector<std::unique_ptr<Trainer>> trainers(2);
  std::vector<absl::Status> status(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      TrainerOptions o = Quiet("");
      o.comm = group[r].get();
      absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(per_rank, o);
      if (!t.ok()) {
        status[r] = t.status();
        return;
      }
      trainers[r] = *std::move(t);
      status[r] = trainers[r]->Train().status();
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(status[0].ok()) << status[0];
  ASSERT_TRUE(status[1].ok()) << status[1];
  for (layers::Param* p : (*one)->network().params()) {
    for (int r = 0; r < 2; ++r) {
      const Tensor& v = trainers[r]->network().FindParam(p->name)->value;
      ASSERT_EQ(v.numel(), p->value.numel());
      for (int64_t i = 0; i < v.numel(); ++i) {
        ASSERT_NEAR(v.data()[i], p->value.data()[i], 1e-3f + 1e-3f * std::fabs(p->value.data()[i]))
            << p->name << "[" << i << "] rank " << r;
      }
    }
  }
}

}  // namespace
}  // namespace train
}  // namespace slayer
