#include "slayer/data/loader.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slayer {
namespace data {
namespace {

// Stream ids that keep the shuffling and augmentation generators apart.
constexpr uint64_t kShuffleStream = 0x5348554646ull;   // "SHUFF"
constexpr uint64_t kSampleStream = 0x53414d504cull;    // "SAMPL"

}  // namespace

Rng SampleRng(uint64_t seed, int64_t epoch, int64_t index) {
  return Rng(seed, kSampleStream)
      .Stream(static_cast<uint64_t>(epoch))
      .Stream(static_cast<uint64_t>(index));
}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(const Dataset* dataset,
                                                       const LoaderOptions& options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("Loader: dataset is null");
  if (options.batch_size < 1 || options.num_threads < 0 || options.prefetch < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Loader: batch_size = ", options.batch_size, ", num_threads = ", options.num_threads,
        ", prefetch = ", options.prefetch, ", expected >= 1, >= 0 and >= 1"));
  }
  if (dataset->sample_shape().size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("Loader: sample shape ",
                                                   ShapeString(dataset->sample_shape()),
                                                   ", expected [C, H, W, T]"));
  }
  return std::unique_ptr<Loader>(new Loader(dataset, options));
}

Loader::Loader(const Dataset* dataset, const LoaderOptions& options)
    : dataset_(dataset),
      options_(options),
      num_batches_(options.drop_last
                       ? dataset->size() / options.batch_size
                       : (dataset->size() + options.batch_size - 1) / options.batch_size) {
  for (int i = 0; i < options_.num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  ready_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

Shape Loader::batch_shape() const {
  Shape shape = {options_.batch_size};
  const Shape sample = dataset_->sample_shape();
  shape.insert(shape.end(), sample.begin(), sample.end());
  return shape;
}

std::vector<int64_t> Loader::EpochOrder(int64_t epoch) const {
  std::vector<int64_t> order(dataset_->size());
  std::iota(order.begin(), order.end(), int64_t{0});
  if (options_.shuffle) {
    Rng rng = Rng(options_.seed, kShuffleStream).Stream(static_cast<uint64_t>(epoch));
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(i) + 1));
      std::swap(order[i], order[j]);
    }
  }
  return order;
}

void Loader::StartEpoch(int64_t epoch) {
  std::vector<int64_t> order = EpochOrder(epoch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    epoch_ = epoch;
    order_ = std::move(order);
    next_claim_ = 0;
    next_out_ = 0;
    for (auto& [index, ready] : ready_) RecycleLocked(std::move(ready.batch.spikes));
    ready_.clear();
    started_ = true;
  }
  work_cv_.notify_all();
}

// Keeps up to prefetch + 1 spare buffers: every buffer of the steady state
// (prefetch built or being built, plus the caller's). Fewer would drop one
// when Next returns the caller's buffer before a worker has claimed the one
// returned before it, and the next claim would allocate again.
void Loader::RecycleLocked(Tensor t) {
  if (t.empty() || t.shape() != batch_shape()) return;
  if (static_cast<int>(free_.size()) < options_.prefetch + 1) free_.push_back(std::move(t));
}

Loader::Job Loader::ClaimLocked() {
  Job job;
  job.generation = generation_;
  job.epoch = epoch_;
  job.index = next_claim_++;
  const int64_t begin = job.index * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, dataset_->size());
  job.indices.assign(order_.begin() + begin, order_.begin() + end);
  if (!free_.empty()) {
    job.buffer = std::move(free_.back());
    free_.pop_back();
  }
  return job;
}

Loader::Ready Loader::Build(Job job) const {
  Ready out;
  const int64_t n = static_cast<int64_t>(job.indices.size());
  Batch& b = out.batch;
  b.epoch = job.epoch;
  b.index = job.index;
  b.indices = std::move(job.indices);
  b.labels.assign(n, 0);
  Shape shape = batch_shape();
  if (n == options_.batch_size && !job.buffer.empty()) {
    b.spikes = std::move(job.buffer);
  } else {
    shape[0] = n;
    b.spikes = Tensor::Empty(shape);
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t index = b.indices[j];
    Rng rng = SampleRng(options_.seed, job.epoch, index);
    Tensor row = b.spikes.Slice(j, j + 1);
    absl::Status s = dataset_->Get(index, options_.augment ? &rng : nullptr, &row, &b.labels[j]);
    if (!s.ok()) {
      out.status = absl::Status(s.code(), absl::StrCat("sample ", index, " (epoch ", job.epoch,
                                                       ", batch ", job.index,
                                                       "): ", s.message()));
      break;
    }
  }
  return out;
}

void Loader::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] {
      return stop_ ||
             (started_ && next_claim_ < num_batches_ &&
              building_ + static_cast<int64_t>(ready_.size()) < options_.prefetch);
    });
    if (stop_) return;
    Job job = ClaimLocked();
    const uint64_t generation = job.generation;
    const int64_t index = job.index;
    ++building_;
    lock.unlock();
    Ready ready = Build(std::move(job));
    lock.lock();
    --building_;
    if (generation == generation_ && !stop_) {
      ready_.emplace(index, std::move(ready));
      ready_cv_.notify_all();
    } else {
      RecycleLocked(std::move(ready.batch.spikes));
      work_cv_.notify_all();  // a slot of the bound is free again
    }
  }
}

absl::StatusOr<bool> Loader::Next(Batch* batch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) {
    return absl::FailedPreconditionError("Loader::Next called before StartEpoch");
  }
  if (next_out_ >= num_batches_) return false;
  RecycleLocked(std::move(batch->spikes));
  batch->spikes = Tensor();
  Ready ready;
  if (options_.num_threads == 0) {
    Job job = ClaimLocked();
    next_out_ = next_claim_;
    lock.unlock();
    ready = Build(std::move(job));
  } else {
    const int64_t want = next_out_;
    ready_cv_.wait(lock, [&] { return stop_ || ready_.count(want) > 0; });
    if (stop_) return absl::CancelledError("Loader is shutting down");
    auto it = ready_.find(want);
    ready = std::move(it->second);
    ready_.erase(it);
    ++next_out_;
    lock.unlock();
    work_cv_.notify_all();
  }
  if (!ready.status.ok()) {
    std::lock_guard<std::mutex> relock(mu_);
    RecycleLocked(std::move(ready.batch.spikes));
    return ready.status;
  }
  *batch = std::move(ready.batch);
  return true;
}

}  // namespace data
}  // namespace slayer
