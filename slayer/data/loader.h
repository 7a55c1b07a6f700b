// Loader: batches of a Dataset, built ahead of time by worker threads.
//
// - Order: a permutation of the data set seeded by (seed, epoch), or the
//   natural order without shuffling.
// - Determinism: sample i of epoch e is decoded with its own generator
//   SampleRng(seed, e, i), so a batch's content depends on the seed and epoch
//   only, never on the thread count or timing.
// - Bounded memory: at most `prefetch` batches are being built or waiting,
//   plus the one the caller holds; batch storage is recycled.
// - Shutdown: the destructor stops the workers after their current batch.
//
//   LoaderOptions opt;  opt.batch_size = 32;  opt.seed = 7;
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Loader> loader, Loader::Create(ds.get(), opt));
//   Batch batch;
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader->StartEpoch(epoch);
//     for (;;) {
//       SLAYER_ASSIGN_OR_RETURN(bool more, loader->Next(&batch));
//       if (!more) break;
//       Train(batch.spikes /* [n, C, H, W, T] */, batch.labels);
//     }
//   }
#ifndef SLAYER_DATA_LOADER_H_
#define SLAYER_DATA_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"
#include "slayer/data/dataset.h"

namespace slayer {
namespace data {

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  // Skip the last batch when it would be smaller than batch_size.
  bool drop_last = false;
  // Worker threads; 0 builds each batch on the caller's thread inside Next().
  int num_threads = 2;
  // Batches in flight (being built or ready), >= 1.
  int prefetch = 4;
  // Pass each sample its generator (augmentation, Poisson encoding); when
  // false, Get receives a null rng (evaluation).
  bool augment = true;
};

struct Batch {
  Tensor spikes;                 // [n, C, H, W, T] host; n = batch_size but for a last short batch
  std::vector<int> labels;       // n labels
  std::vector<int64_t> indices;  // n data-set indices
  int64_t epoch = 0;
  int64_t index = 0;  // batch number within the epoch

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// The generator that sample `index` gets in `epoch`.
Rng SampleRng(uint64_t seed, int64_t epoch, int64_t index);

class Loader {
 public:
  // `dataset` is not owned and must outlive the loader.
  static absl::StatusOr<std::unique_ptr<Loader>> Create(const Dataset* dataset,
                                                        const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  const LoaderOptions& options() const { return options_; }
  // The batch shape [batch_size, C, H, W, T].
  Shape batch_shape() const;

  // Starts `epoch` (abandoning what is left of the previous one); workers
  // begin filling batches at once.
  void StartEpoch(int64_t epoch);

  // Moves the next batch of the epoch into *batch and returns true, or
  // returns false once the epoch is done. Fails when a sample failed to
  // decode (the error names the sample); later calls continue with the next
  // batch. Storage already held in batch->spikes goes back to the loader for
  // reuse, so a view of it must not be kept across calls (Clone() to keep).
  absl::StatusOr<bool> Next(Batch* batch);

  // The sample order of `epoch` (identity without shuffling).
  std::vector<int64_t> EpochOrder(int64_t epoch) const;

 private:
  struct Job {
    uint64_t generation = 0;
    int64_t epoch = 0;
    int64_t index = 0;
    std::vector<int64_t> indices;
    Tensor buffer;  // a recycled full-size tensor, or empty
  };
  struct Ready {
    Batch batch;
    absl::Status status;
  };

  Loader(const Dataset* dataset, const LoaderOptions& options);
  void WorkerLoop();
  // Takes the next job (mu_ held).
  Job ClaimLocked();
  // Decodes a job's samples (no lock held).
  Ready Build(Job job) const;
  // Keeps `t` for reuse when it is a full batch and the pool has room.
  void RecycleLocked(Tensor t);

  const Dataset* dataset_;
  const LoaderOptions options_;
  const int64_t num_batches_;

  std::mutex mu_;
  std::condition_variable work_cv_;   // workers: a job may be claimable
  std::condition_variable ready_cv_;  // Next: a batch may be ready
  bool stop_ = false;
  bool started_ = false;
  uint64_t generation_ = 0;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t next_claim_ = 0;
  int64_t next_out_ = 0;
  int building_ = 0;
  std::map<int64_t, Ready> ready_;
  std::vector<Tensor> free_;
  std::vector<std::thread> workers_;
};

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_LOADER_H_
