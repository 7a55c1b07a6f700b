// Every config in examples/ trained end to end on a tiny generated data set
// in its real file format (IDX images, NMNIST .bs2 folders, DVS Gesture
// AEDAT recordings with label CSVs; the Poisson experiment makes its own
// data). The network of each example is used exactly as shipped; only the
// data paths, epochs and (for the heavy nets) batch_size and eval_every
// change. Each case checks that training runs, that the training loss of
// the last epoch is below the first's, and that the run folder is complete.
//
// The patterns are class-dependent (class k lights its own region), so the
// loss can fall within a few steps.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/core/npy.h"
#include "slayer/core/random.h"
#include "slayer/core/status.h"
#include "slayer/data/aedat.h"
#include "slayer/data/binary_events.h"
#include "slayer/data/event.h"
#include "slayer/data/idx.h"
#include "slayer/data/image_dataset.h"
#include "slayer/proto/config.h"
#include "slayer/train/metrics.h"
#include "slayer/train/trainer.h"

namespace slayer {
namespace train {
namespace {

std::string TempDir(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(d ? d : "/tmp") + "/examples_e2e/" + name;
  EXPECT_TRUE(MakeDirs(dir).ok()) << dir;
  return dir;
}

void Write(const std::string& path, const std::string& bytes) {
  absl::Status s = WriteFileAtomic(path, bytes);
  ASSERT_TRUE(s.ok()) << s;
}

// ---- IDX images (MNIST / Fashion-MNIST) ----------------------------------

// n 28x28 images; image i has class i % 10 and lights a 7x7 block in cell
// (k % 4, k / 4) of a 4x4 grid of 7-pixel cells, plus sparse noise.
void WriteIdxImages(const std::string& images_path, const std::string& labels_path, int n,
                    uint64_t seed) {
  constexpr int kSide = 28;
  data::IdxArray images, labels;
  images.shape = {n, kSide, kSide};
  labels.shape = {n};
  images.data.assign(static_cast<size_t>(n) * kSide * kSide, '\0');
  labels.data.assign(n, '\0');
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int k = i % 10;
    labels.data[i] = static_cast<char>(k);
    uint8_t* img = reinterpret_cast<uint8_t*>(&images.data[static_cast<size_t>(i) * kSide * kSide]);
    const int y0 = (k / 4) * 7, x0 = (k % 4) * 7;
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        const bool on = y >= y0 && y < y0 + 7 && x >= x0 && x < x0 + 7;
        if (on) {
          img[y * kSide + x] = static_cast<uint8_t>(180 + rng.UniformInt(76));
        } else if (rng.Bernoulli(0.05)) {
          img[y * kSide + x] = static_cast<uint8_t>(rng.UniformInt(120));
        }
      }
    }
  }
  Write(images_path, data::SerializeIdx(images));
  Write(labels_path, data::SerializeIdx(labels));
}

void PointAtGeneratedImages(proto::Training* config, const std::string& dir, int train_n,
                            int test_n, uint64_t seed) {
  proto::ImageData* im = config->mutable_data()->mutable_image();
  im->set_train_images(dir + "/train-images-idx3-ubyte");
  im->set_train_labels(dir + "/train-labels-idx1-ubyte");
  im->set_test_images(dir + "/t10k-images-idx3-ubyte");
  im->set_test_labels(dir + "/t10k-labels-idx1-ubyte");
  WriteIdxImages(im->train_images(), im->train_labels(), train_n, seed);
  WriteIdxImages(im->test_images(), im->test_labels(), test_n, seed + 1);
}

// ---- NMNIST (.bs2 folders + "#sample #class" lists) ----------------------

// ~`events` events of 34x34x2 over 0..300 ms; class k fires in an 8x8 patch
// at cell (k % 4, k / 4) of a grid of 8-pixel cells, plus a little noise.
data::EventStream NmnistLikeSample(int k, int events, Rng* rng) {
  data::EventStream s;
  const int y0 = 1 + (k / 4) * 8, x0 = 1 + (k % 4) * 8;
  std::vector<int64_t> times(events);
  for (int64_t& t : times) t = static_cast<int64_t>(rng->UniformInt(300000));
  std::sort(times.begin(), times.end());
  for (int64_t t : times) {
    if (rng->Bernoulli(0.1)) {
      s.Add(static_cast<int32_t>(rng->UniformInt(34)), static_cast<int32_t>(rng->UniformInt(34)),
            static_cast<int32_t>(rng->UniformInt(2)), t);
    } else {
      s.Add(x0 + static_cast<int32_t>(rng->UniformInt(8)),
            y0 + static_cast<int32_t>(rng->UniformInt(8)), static_cast<int32_t>(rng->UniformInt(2)),
            t);
    }
  }
  return s;
}

void WriteNmnistSplit(const std::string& dir, const std::string& list_path, int n, int first_id,
                      uint64_t seed) {
  ASSERT_TRUE(MakeDirs(dir).ok()) << dir;
  Rng rng(seed);
  std::string list = "#sample #class\n";
  for (int i = 0; i < n; ++i) {
    const int id = first_id + i, k = i % 10;
    absl::Status s =
        data::WriteBs2(absl::StrCat(dir, "/", id, ".bs2"), NmnistLikeSample(k, 8000, &rng));
    ASSERT_TRUE(s.ok()) << s;
    absl::StrAppend(&list, id, " ", k, "\n");
  }
  Write(list_path, list);
}

void PointAtGeneratedNmnist(proto::Training* config, const std::string& dir, int train_n,
                            int test_n) {
  proto::NmnistData* nm = config->mutable_data()->mutable_nmnist();
  nm->set_train_dir(dir + "/Train");
  nm->set_train_list(dir + "/train.txt");
  nm->set_test_dir(dir + "/Test");
  nm->set_test_list(dir + "/test.txt");
  WriteNmnistSplit(nm->train_dir(), nm->train_list(), train_n, 0, 3);
  WriteNmnistSplit(nm->test_dir(), nm->test_list(), test_n, 0, 4);
}

// ---- DVS Gesture (AEDAT 3.1 + labels CSV + trials lists) ----------------

// One recording of `gestures` consecutive 1.5 s gestures (classes cycle
// through 1..11 from `first_class`); class k (0-based) fires in a 32x32
// patch at cell (k % 4, k / 4) of the 128x128 sensor, plus a little noise.
void WriteGestureRecording(const std::string& root, const std::string& name, int gestures,
                           int first_class, uint64_t seed) {
  constexpr int64_t kGestureUs = 1500000;
  constexpr int kEvents = 12000;
  Rng rng(seed);
  data::EventStream rec;
  std::string csv = "class,startTime_usec,endTime_usec\n";
  for (int g = 0; g < gestures; ++g) {
    const int k = (first_class + g) % 11;
    const int64_t start = 100000 + g * (kGestureUs + 50000);
    absl::StrAppend(&csv, k + 1, ",", start, ",", start + kGestureUs, "\n");
    std::vector<int64_t> times(kEvents);
    for (int64_t& t : times) t = start + static_cast<int64_t>(rng.UniformInt(kGestureUs));
    std::sort(times.begin(), times.end());
    const int y0 = (k / 4) * 32, x0 = (k % 4) * 32;
    for (int64_t t : times) {
      if (rng.Bernoulli(0.1)) {
        rec.Add(static_cast<int32_t>(rng.UniformInt(128)),
                static_cast<int32_t>(rng.UniformInt(128)), static_cast<int32_t>(rng.UniformInt(2)),
                t);
      } else {
        rec.Add(x0 + static_cast<int32_t>(rng.UniformInt(32)),
                y0 + static_cast<int32_t>(rng.UniformInt(32)),
                static_cast<int32_t>(rng.UniformInt(2)), t);
      }
    }
  }
  absl::Status s = data::WriteAedat(root + "/" + name + ".aedat", rec);
  ASSERT_TRUE(s.ok()) << s;
  Write(root + "/" + name + "_labels.csv", csv);
}

void PointAtGeneratedGestures(proto::Training* config, const std::string& root, int train_n,
                              int test_n) {
  config->mutable_data()->mutable_gesture()->set_root(root);
  WriteGestureRecording(root, "user01_fluorescent", train_n, 0, 5);
  WriteGestureRecording(root, "user24_fluorescent", test_n, 0, 6);
  Write(root + "/trials_to_train.txt", "user01_fluorescent.aedat\n");
  Write(root + "/trials_to_test.txt", "user24_fluorescent.aedat\n");
}

// ---- the run -------------------------------------------------------------

proto::Training LoadExample(const std::string& name) {
  const std::string path = "examples/" + name + ".pbtxt";
  absl::StatusOr<proto::Training> config = config::ReadTrainingFile(path);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : proto::Training();
}

// Trains `config` for `epochs` (0: the config's) into a fresh run folder and
// checks the loss and the folder.
void TrainAndCheck(const std::string& name, const proto::Training& config, int epochs,
                   TrainResult* result = nullptr) {
  const std::string dir = TempDir(name + "/run");
  TrainerOptions o;
  o.run_dir = dir;
  static std::ostringstream* sink = new std::ostringstream();
  o.progress.out = sink;
  o.progress.terminal = false;
  o.epochs = epochs;
  if (epochs == 0) epochs = config.epochs();
  const double start = static_cast<double>(std::clock());
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(config, o);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<TrainResult> r = (*trainer)->Train();
  ASSERT_TRUE(r.ok()) << r.status();
  // Fewer epochs only when the run converged (the Poisson experiment stops
  // once its output equals the target).
  ASSERT_GE(r->history.size(), 2u);
  if (!r->converged) {
    ASSERT_EQ(r->history.size(), static_cast<size_t>(epochs));
  }
  const double first = *r->history.front().train_loss, last = *r->history.back().train_loss;
  std::string losses;
  for (size_t i = 0; i < r->history.size(); ++i) {
    if (r->history.size() > 6 && i == 3) absl::StrAppend(&losses, " ...");
    if (r->history.size() > 6 && i >= 3 && i + 3 < r->history.size()) continue;
    absl::StrAppend(&losses, " ", *r->history[i].train_loss);
  }
  std::printf(
      "[%s] %lld train samples, %zu epochs, train loss per epoch:%s; %.1f s wall "
      "(%.1f s cpu)\n",
      name.c_str(), static_cast<long long>((*trainer)->train_dataset().size()), r->history.size(),
      losses.c_str(), r->wall_s, (std::clock() - start) / CLOCKS_PER_SEC);
  EXPECT_LT(last, first) << name << ": the training loss did not fall:" << losses;

  for (const char* f : {"metrics.csv", "params.npz", "best.npz", "checkpoint.npz", "config.pbtxt",
                        "learning_curve.png", "raster.png"}) {
    EXPECT_TRUE(FileExists(dir + "/" + f)) << name << ": missing " << f;
  }
  absl::StatusOr<std::string> csv = ReadFile(dir + "/metrics.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(csv->substr(0, csv->find('\n')), kMetricsCsvHeader);
  absl::StatusOr<std::vector<MetricsRow>> rows = ParseMetricsCsv(*csv, dir + "/metrics.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), r->history.size());
  // The written config is the one that ran (same network as the example).
  absl::StatusOr<proto::Training> written = config::ReadTrainingFile(dir + "/config.pbtxt");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->network().SerializeAsString(), config.network().SerializeAsString());
  absl::StatusOr<NpzMap> params = ReadNpz(dir + "/params.npz");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_FALSE(params->empty());
  absl::StatusOr<NpzMap> best = ReadNpz(dir + "/best.npz");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->size(), params->size());
  if (result != nullptr) *result = *std::move(r);
}

TEST(ExamplesE2eTest, FashionMnistMlp) {
  proto::Training c = LoadExample("fashion_mnist_mlp");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedImages(&c, TempDir("fashion_mnist_mlp/data"), 32, 10, 1));
  c.set_batch_size(8);
  TrainAndCheck("fashion_mnist_mlp", c, 3);
}

TEST(ExamplesE2eTest, FashionMnistCnn) {
  proto::Training c = LoadExample("fashion_mnist_cnn");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedImages(&c, TempDir("fashion_mnist_cnn/data"), 16, 4, 1));
  c.set_batch_size(4);
  TrainAndCheck("fashion_mnist_cnn", c, 3);
}

TEST(ExamplesE2eTest, FashionMnistCnnWide) {
  proto::Training c = LoadExample("fashion_mnist_cnn_wide");
  ASSERT_NO_FATAL_FAILURE(
      PointAtGeneratedImages(&c, TempDir("fashion_mnist_cnn_wide/data"), 16, 4, 2));
  c.set_batch_size(4);
  TrainAndCheck("fashion_mnist_cnn_wide", c, 3);
}

// Augmentation reaches the training set only; a shift too large for the
// network's input is refused by name.
TEST(ExamplesE2eTest, ImageAugmentationOnlyOnTheTrainingSet) {
  proto::Training c = LoadExample("fashion_mnist_mlp");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedImages(&c, TempDir("augment/data"), 8, 4, 5));
  c.mutable_data()->mutable_image()->set_spatial_jitter(2);
  c.mutable_data()->mutable_image()->set_horizontal_flip(true);
  TrainerOptions o;
  o.run_dir = TempDir("augment/run");
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(c, o);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const auto* train = dynamic_cast<const data::ImageDataset*>(&(*trainer)->train_dataset());
  const auto* test = dynamic_cast<const data::ImageDataset*>(&(*trainer)->eval_dataset());
  ASSERT_NE(train, nullptr);
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(train->augmentation().max_jitter, 2);
  EXPECT_TRUE(train->augmentation().horizontal_flip);
  EXPECT_FALSE(test->augmentation().active());

  c.mutable_data()->mutable_image()->set_spatial_jitter(28);
  const absl::Status bad = Trainer::Create(c, o).status();
  EXPECT_NE(bad.message().find("data.image.spatial_jitter"), std::string::npos) << bad;
}

// augment_from_epoch / augment_until_epoch: a run augmented in epoch 2 of 3
// equals, bit for bit, one trained without augmentation for epoch 1, resumed
// with it for epoch 2 and without it for epoch 3 (the draws depend only on
// seed, epoch and sample), and differs from one never augmented.
TEST(ExamplesE2eTest, AugmentationFollowsItsEpochRange) {
  proto::Training c = LoadExample("fashion_mnist_mlp");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedImages(&c, TempDir("augment_range/data"), 8, 4, 6));
  c.set_batch_size(4);
  const proto::Training plain = c;
  c.mutable_data()->mutable_image()->set_spatial_jitter(2);
  c.mutable_data()->mutable_image()->set_horizontal_flip(true);
  const proto::Training always = c;
  c.mutable_data()->mutable_image()->set_augment_from_epoch(2);
  c.mutable_data()->mutable_image()->set_augment_until_epoch(2);
  const proto::Training ranged = c;
  auto train = [](const proto::Training& config, const std::string& dir, int epochs,
                  bool resume, std::string* log = nullptr) -> absl::StatusOr<NpzMap> {
    TrainerOptions o;
    o.run_dir = dir;
    o.epochs = epochs;
    o.resume = resume;
    o.pictures = false;
    std::ostringstream sink;
    o.progress.out = &sink;
    o.progress.terminal = false;
    SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> t, Trainer::Create(config, o));
    SLAYER_RETURN_IF_ERROR(t->Train().status());
    if (log != nullptr) *log = sink.str();
    return ReadNpz(dir + "/params.npz");
  };
  const std::string pieces = TempDir("augment_range/pieces");
  ASSERT_TRUE(train(plain, pieces, 1, false).ok());
  ASSERT_TRUE(train(always, pieces, 2, true).ok());
  absl::StatusOr<NpzMap> by_pieces = train(plain, pieces, 3, true);
  absl::StatusOr<NpzMap> by_range = train(ranged, TempDir("augment_range/ranged"), 3, false);
  absl::StatusOr<NpzMap> never = train(plain, TempDir("augment_range/plain"), 3, false);
  ASSERT_TRUE(by_pieces.ok()) << by_pieces.status();
  ASSERT_TRUE(by_range.ok()) << by_range.status();
  ASSERT_TRUE(never.ok()) << never.status();
  bool differs = false;
  for (const auto& [key, value] : *by_range) {
    EXPECT_EQ(value.data, by_pieces->at(key).data) << key;
    differs = differs || value.data != never->at(key).data;
  }
  EXPECT_TRUE(differs) << "augmenting epoch 2 changed nothing";
  // A run that ends before the range says so.
  std::string log;
  ASSERT_TRUE(train(ranged, TempDir("augment_range/short"), 1, false, &log).ok());
  EXPECT_NE(log.find("augment_from_epoch is 2, after the 1 epochs of this run"),
            std::string::npos)
      << log;

  // Ranges are checked by name.
  c.mutable_data()->mutable_image()->set_augment_until_epoch(1);
  absl::Status bad = Trainer::Create(c, TrainerOptions()).status();
  EXPECT_NE(bad.message().find("data.image.augment_until_epoch"), std::string::npos) << bad;
  proto::Training unaugmented = plain;
  unaugmented.mutable_data()->mutable_image()->set_augment_from_epoch(3);
  bad = Trainer::Create(unaugmented, TrainerOptions()).status();
  EXPECT_NE(bad.message().find("data.image.augment_from_epoch"), std::string::npos) << bad;
}

TEST(ExamplesE2eTest, MnistCnn) {
  proto::Training c = LoadExample("mnist_cnn");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedImages(&c, TempDir("mnist_cnn/data"), 16, 4, 3));
  c.set_batch_size(4);
  TrainAndCheck("mnist_cnn", c, 3);
}

TEST(ExamplesE2eTest, NmnistMlp) {
  proto::Training c = LoadExample("nmnist_mlp");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedNmnist(&c, TempDir("nmnist_mlp/data"), 24, 6));
  TrainAndCheck("nmnist_mlp", c, 3);
}

TEST(ExamplesE2eTest, NmnistCnn) {
  proto::Training c = LoadExample("nmnist_cnn");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedNmnist(&c, TempDir("nmnist_cnn/data"), 8, 2));
  c.set_batch_size(4);
  TrainAndCheck("nmnist_cnn", c, 3);
}

TEST(ExamplesE2eTest, DvsGesture) {
  proto::Training c = LoadExample("dvs_gesture");
  ASSERT_NO_FATAL_FAILURE(PointAtGeneratedGestures(&c, TempDir("dvs_gesture/data"), 8, 2));
  TrainAndCheck("dvs_gesture", c, 3);
}

TEST(ExamplesE2eTest, Poisson) {
  // The data set is generated from the config's seed (no files).
  // As shipped: up to 5000 epochs, stopping once the output equals the
  // target spike for spike (about 1100 epochs, a second or two).
  proto::Training c = LoadExample("poisson");
  TrainResult r;
  TrainAndCheck("poisson", c, 0, &r);
  EXPECT_TRUE(r.converged);
}

}  // namespace
}  // namespace train
}  // namespace slayer
