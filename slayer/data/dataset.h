// Dataset: the interface between data sources and training. A data set is a
// fixed, indexable list of labelled samples; each sample is a spike tensor of
// shape [C, H, W, T] (0/1 or counts, see encoder.h). Implementations decode on
// demand, so Get() must be thread-safe: the Loader calls it from several
// threads at once.
//
//   std::unique_ptr<Dataset> ds = ...;                   // e.g. MakeImageDataset
//   Tensor x;  int label;
//   Rng rng = Rng(seed).Stream(index);                  // augmentation, Poisson
//   SLAYER_RETURN_IF_ERROR(ReadSample(*ds, index, &rng, &x, &label));
//
// This file also has the small implementations: InMemoryDataset (a tensor of
// samples plus labels), SubsetDataset (a view of chosen indices) and
// MakeSyntheticDataset (class-dependent random spikes, for tests and demos).
#ifndef SLAYER_DATA_DATASET_H_
#define SLAYER_DATA_DATASET_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace data {

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual int num_classes() const = 0;
  // [C, H, W, T] of every sample.
  virtual Shape sample_shape() const = 0;

  // Writes sample `index` into `out`, a host tensor with exactly
  // NumElements(sample_shape()) elements in any shape (typically the batch
  // row `batch.Slice(i, i + 1)`); every element is overwritten. `rng` drives
  // augmentation and stochastic encoding; null means no augmentation, and a
  // stochastic encoder then uses a fixed stream of the index (reproducible
  // evaluation). Thread-safe. Errors name the file and offset of bad data.
  virtual absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const = 0;

  // The label alone, without decoding the sample.
  virtual absl::StatusOr<int> Label(int64_t index) const = 0;

  int64_t sample_numel() const { return NumElements(sample_shape()); }
};

// For implementations: InvalidArgument unless 0 <= index < size(), `out` is a
// host tensor of sample_numel() elements and `label` is not null.
absl::Status CheckGetArgs(const Dataset& dataset, int64_t index, const Tensor* out,
                          const int* label);
absl::Status CheckIndex(const Dataset& dataset, int64_t index);

// Get() into `out`, first made a [C, H, W, T] host tensor (reused when it
// already is one).
absl::Status ReadSample(const Dataset& dataset, int64_t index, Rng* rng, Tensor* out,
                        int* label);

// Samples held in one [N, C, H, W, T] host tensor.
class InMemoryDataset : public Dataset {
 public:
  // Fails unless samples is rank 5 on the host, labels has N entries and
  // every label is in [0, num_classes).
  static absl::StatusOr<std::unique_ptr<InMemoryDataset>> Create(Tensor samples,
                                                                 std::vector<int> labels,
                                                                 int num_classes);

  int64_t size() const override { return samples_.dim(0); }
  int num_classes() const override { return num_classes_; }
  Shape sample_shape() const override;
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override;
  absl::StatusOr<int> Label(int64_t index) const override;

 private:
  InMemoryDataset(Tensor samples, std::vector<int> labels, int num_classes)
      : samples_(std::move(samples)), labels_(std::move(labels)), num_classes_(num_classes) {}
  Tensor samples_;
  std::vector<int> labels_;
  int num_classes_;
};

// The samples `indices` of `base` (not owned; must outlive the subset), e.g. a
// validation split or the first 1000 samples for a quick run.
class SubsetDataset : public Dataset {
 public:
  // Fails when an index is out of range.
  static absl::StatusOr<std::unique_ptr<SubsetDataset>> Create(const Dataset* base,
                                                               std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int num_classes() const override { return base_->num_classes(); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override;
  absl::StatusOr<int> Label(int64_t index) const override;

 private:
  SubsetDataset(const Dataset* base, std::vector<int64_t> indices)
      : base_(base), indices_(std::move(indices)) {}
  const Dataset* base_;
  std::vector<int64_t> indices_;
};

// Random 0/1 spikes whose rate depends on the class: neuron n (flattened
// C*H*W index) fires with probability `rate_on` per step when n % num_classes
// == label, else `rate_off`. Labels cycle 0, 1, ..., num_classes - 1. The same
// options give the same data on every machine.
struct SyntheticOptions {
  int64_t num_samples = 64;
  Shape sample_shape = {2, 8, 8, 50};  // [C, H, W, T]
  int num_classes = 4;
  uint64_t seed = 1;
  double rate_on = 0.2;
  double rate_off = 0.02;
};
absl::StatusOr<std::unique_ptr<InMemoryDataset>> MakeSyntheticDataset(
    const SyntheticOptions& options);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_DATASET_H_
