#include "slayer/data/loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/data/dataset.h"

namespace slayer {
namespace data {
namespace {

// Sample i is filled with i + (rng ? a random fraction : 0); label i % 3.
// Tracks how many Get calls run at once, and can fail one index.
class ProbeDataset : public Dataset {
 public:
  explicit ProbeDataset(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  int64_t size() const override { return n_; }
  int num_classes() const override { return 3; }
  Shape sample_shape() const override { return {1, 2, 2, 3}; }
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override {
    if (absl::Status s = CheckGetArgs(*this, index, out, label); !s.ok()) return s;
    const int now = ++active_;
    int seen = max_active_.load();
    while (now > seen && !max_active_.compare_exchange_weak(seen, now)) {
    }
    --active_;
    ++calls_;
    if (index == fail_at_) return absl::DataLossError(absl::StrCat("bad.bs2: sample ", index));
    const float noise = rng ? rng->Uniform() : 0.0f;
    out->Fill(static_cast<float>(index) + noise);
    *label = static_cast<int>(index % 3);
    return absl::OkStatus();
  }
  absl::StatusOr<int> Label(int64_t index) const override { return static_cast<int>(index % 3); }
  int calls() const { return calls_.load(); }

 private:
  int64_t n_, fail_at_;
  mutable std::atomic<int> active_{0}, max_active_{0}, calls_{0};
};

struct Epoch {
  std::vector<std::vector<float>> batches;
  std::vector<std::vector<int64_t>> indices;
};

Epoch RunEpoch(Loader* loader, int64_t epoch) {
  Epoch out;
  loader->StartEpoch(epoch);
  Batch b;
  for (;;) {
    absl::StatusOr<bool> more = loader->Next(&b);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    EXPECT_EQ(b.epoch, epoch);
    EXPECT_EQ(b.index, static_cast<int64_t>(out.batches.size()));
    EXPECT_EQ(b.spikes.dim(0), b.size());
    for (int64_t j = 0; j < b.size(); ++j) EXPECT_EQ(b.labels[j], b.indices[j] % 3);
    out.batches.emplace_back(b.spikes.data(), b.spikes.data() + b.spikes.numel());
    out.indices.push_back(b.indices);
  }
  return out;
}

TEST(LoaderTest, CoversEverySampleOnceWithAShortLastBatch) {
  ProbeDataset ds(10);
  LoaderOptions o;
  o.batch_size = 4;
  auto loader = *Loader::Create(&ds, o);
  EXPECT_EQ(loader->num_batches(), 3);
  EXPECT_EQ(loader->batch_shape(), (Shape{4, 1, 2, 2, 3}));
  Epoch e = RunEpoch(loader.get(), 0);
  ASSERT_EQ(e.indices.size(), 3u);
  EXPECT_EQ(e.indices[2].size(), 2u);
  std::set<int64_t> seen;
  for (auto& b : e.indices) seen.insert(b.begin(), b.end());
  EXPECT_EQ(seen.size(), 10u);
  // Sample content matches its index.
  EXPECT_EQ(static_cast<int64_t>(e.batches[0][0]), e.indices[0][0]);
  EXPECT_EQ(static_cast<int64_t>(e.batches[0][12]), e.indices[0][1]);
  // Drop last.
  o.drop_last = true;
  auto dropping = *Loader::Create(&ds, o);
  EXPECT_EQ(dropping->num_batches(), 2);
  EXPECT_EQ(RunEpoch(dropping.get(), 0).indices.size(), 2u);
}

TEST(LoaderTest, DeterministicForASeedWhateverTheThreadCount) {
  ProbeDataset ds(37);
  std::vector<Epoch> runs;
  for (int threads : {0, 1, 2, 4}) {
    LoaderOptions o;
    o.batch_size = 5;
    o.seed = 42;
    o.num_threads = threads;
    o.prefetch = 1 + threads;
    auto loader = *Loader::Create(&ds, o);
    for (int64_t epoch : {0, 1}) runs.push_back(RunEpoch(loader.get(), epoch));
  }
  for (size_t r = 2; r < runs.size(); ++r) {
    EXPECT_EQ(runs[r].batches, runs[r % 2].batches) << "run " << r;
    EXPECT_EQ(runs[r].indices, runs[r % 2].indices);
  }
  EXPECT_NE(runs[0].indices, runs[1].indices);  // epochs are shuffled differently
  // A different seed gives a different order.
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 43;
  EXPECT_NE(RunEpoch(Loader::Create(&ds, o)->get(), 0).indices, runs[0].indices);
}

TEST(LoaderTest, NoShuffleAndNoAugment) {
  ProbeDataset ds(6);
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  o.augment = false;
  auto loader = *Loader::Create(&ds, o);
  Epoch e = RunEpoch(loader.get(), 5);
  EXPECT_EQ(e.indices[1], (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(e.batches[1][12], 4.0f);  // no random fraction
}

TEST(LoaderTest, BoundedPrefetch) {
  ProbeDataset ds(100);
  LoaderOptions o;
  o.batch_size = 2;
  o.num_threads = 3;
  o.prefetch = 2;
  auto loader = *Loader::Create(&ds, o);
  loader->StartEpoch(0);
  Batch b;
  ASSERT_TRUE(*loader->Next(&b));
  // Give the workers time to run ahead: they must stop at `prefetch` batches.
  for (int i = 0; i < 50; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_LE(ds.calls(), (1 + 2) * 2);
  EXPECT_GE(ds.calls(), 2);
}

TEST(LoaderTest, ErrorsNameTheSampleAndTheEpochContinues) {
  ProbeDataset ds(9, /*fail_at=*/4);
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  auto loader = *Loader::Create(&ds, o);
  loader->StartEpoch(0);
  Batch b;
  ASSERT_TRUE(*loader->Next(&b));
  absl::StatusOr<bool> r = loader->Next(&b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sample 4 (epoch 0, batch 1): bad.bs2"), std::string::npos)
      << r.status();
  r = loader->Next(&b);
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(b.index, 2);
  EXPECT_FALSE(*loader->Next(&b));
}

TEST(LoaderTest, RestartAndShutdownMidEpoch) {
  ProbeDataset ds(200);
  LoaderOptions o;
  o.batch_size = 4;
  o.num_threads = 2;
  for (int rep = 0; rep < 20; ++rep) {
    auto loader = *Loader::Create(&ds, o);
    loader->StartEpoch(0);
    Batch b;
    ASSERT_TRUE(*loader->Next(&b));
    loader->StartEpoch(1);  // abandon epoch 0
    ASSERT_TRUE(*loader->Next(&b));
    EXPECT_EQ(b.epoch, 1);
    EXPECT_EQ(b.index, 0);
    // Destroyed with workers busy.
  }
}

TEST(LoaderTest, NextBeforeStartEpochAndBadOptions) {
  ProbeDataset ds(4);
  auto loader = *Loader::Create(&ds, LoaderOptions());
  Batch b;
  EXPECT_EQ(loader->Next(&b).status().code(), absl::StatusCode::kFailedPrecondition);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_FALSE(Loader::Create(&ds, o).ok());
  EXPECT_FALSE(Loader::Create(nullptr, LoaderOptions()).ok());
}

TEST(LoaderTest, RecyclesBatchStorage) {
  ProbeDataset ds(64);
  LoaderOptions o;
  o.batch_size = 8;
  o.num_threads = 1;
  o.prefetch = 1;
  auto loader = *Loader::Create(&ds, o);
  loader->StartEpoch(0);
  Batch b;
  std::set<const float*> buffers;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(*loader->Next(&b));
    buffers.insert(b.spikes.data());
  }
  EXPECT_LE(buffers.size(), 3u);  // the caller's, one in flight, one spare
}

}  // namespace
}  // namespace data
}  // namespace slayer
