#include "slayer/data/dataset.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"

namespace slayer {
namespace data {

absl::Status CheckIndex(const Dataset& dataset, int64_t index) {
  if (index < 0 || index >= dataset.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("sample index ", index, " outside the data set [0, ", dataset.size(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckGetArgs(const Dataset& dataset, int64_t index, const Tensor* out,
                          const int* label) {
  SLAYER_RETURN_IF_ERROR(CheckIndex(dataset, index));
  if (out == nullptr || label == nullptr) {
    return absl::InvalidArgumentError("Dataset::Get: out and label must not be null");
  }
  if (!out->is_cpu() || out->numel() != dataset.sample_numel() ||
      (out->numel() > 0 && out->data() == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Dataset::Get: output is ", out->DebugString(), ", expected a host tensor of ",
                     dataset.sample_numel(), " elements (sample shape ",
                     ShapeString(dataset.sample_shape()), ")"));
  }
  return absl::OkStatus();
}

absl::Status ReadSample(const Dataset& dataset, int64_t index, Rng* rng, Tensor* out,
                        int* label) {
  SLAYER_RETURN_IF_ERROR(EnsureShape(out, dataset.sample_shape(), Device::kCpu));
  return dataset.Get(index, rng, out, label);
}

absl::StatusOr<std::unique_ptr<InMemoryDataset>> InMemoryDataset::Create(
    Tensor samples, std::vector<int> labels, int num_classes) {
  if (samples.rank() != 5 || !samples.is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat("InMemoryDataset: samples are ",
                                                   samples.DebugString(),
                                                   ", expected a host [N, C, H, W, T] tensor"));
  }
  if (static_cast<int64_t>(labels.size()) != samples.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("InMemoryDataset: ", labels.size(),
                                                   " labels for ", samples.dim(0), " samples"));
  }
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("InMemoryDataset: num_classes = ", num_classes, ", expected >= 1"));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("InMemoryDataset: label ", labels[i],
                                                     " of sample ", i, ", expected 0..",
                                                     num_classes - 1));
    }
  }
  return std::unique_ptr<InMemoryDataset>(
      new InMemoryDataset(std::move(samples), std::move(labels), num_classes));
}

Shape InMemoryDataset::sample_shape() const {
  return Shape(samples_.shape().begin() + 1, samples_.shape().end());
}

absl::Status InMemoryDataset::Get(int64_t index, Rng* rng, Tensor* out, int* label) const {
  SLAYER_RETURN_IF_ERROR(CheckGetArgs(*this, index, out, label));
  const int64_t n = sample_numel();
  std::memcpy(out->data(), samples_.data() + index * n, n * sizeof(float));
  *label = labels_[index];
  return absl::OkStatus();
}

absl::StatusOr<int> InMemoryDataset::Label(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return labels_[index];
}

absl::StatusOr<std::unique_ptr<SubsetDataset>> SubsetDataset::Create(
    const Dataset* base, std::vector<int64_t> indices) {
  if (base == nullptr) return absl::InvalidArgumentError("SubsetDataset: base is null");
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= base->size()) {
      return absl::OutOfRangeError(absl::StrCat("SubsetDataset: index #", i, " = ", indices[i],
                                                " outside the base data set [0, ",
                                                base->size(), ")"));
    }
  }
  return std::unique_ptr<SubsetDataset>(new SubsetDataset(base, std::move(indices)));
}

absl::Status SubsetDataset::Get(int64_t index, Rng* rng, Tensor* out, int* label) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return base_->Get(indices_[index], rng, out, label);
}

absl::StatusOr<int> SubsetDataset::Label(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return base_->Label(indices_[index]);
}

absl::StatusOr<std::unique_ptr<InMemoryDataset>> MakeSyntheticDataset(
    const SyntheticOptions& options) {
  if (options.sample_shape.size() != 4 || NumElements(options.sample_shape) < 1 ||
      *std::min_element(options.sample_shape.begin(), options.sample_shape.end()) < 1) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic sample shape ",
                                                   ShapeString(options.sample_shape),
                                                   ", expected [C, H, W, T] all >= 1"));
  }
  if (options.num_samples < 0 || options.num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic data set of ", options.num_samples, " samples and ",
                     options.num_classes, " classes, expected >= 0 and >= 1"));
  }
  Shape shape = {options.num_samples};
  shape.insert(shape.end(), options.sample_shape.begin(), options.sample_shape.end());
  Tensor samples = Tensor::Zeros(shape);
  const int64_t T = options.sample_shape[3];
  const int64_t neurons = NumElements(options.sample_shape) / T;
  std::vector<int> labels(options.num_samples);
  for (int64_t i = 0; i < options.num_samples; ++i) {
    labels[i] = static_cast<int>(i % options.num_classes);
    Rng rng = Rng(options.seed).Stream(static_cast<uint64_t>(i));
    float* row = samples.data() + i * neurons * T;
    for (int64_t n = 0; n < neurons; ++n) {
      const double p = (n % options.num_classes == labels[i]) ? options.rate_on : options.rate_off;
      for (int64_t t = 0; t < T; ++t) row[n * T + t] = rng.Bernoulli(p) ? 1.0f : 0.0f;
    }
  }
  SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<InMemoryDataset> ds,
                          InMemoryDataset::Create(std::move(samples), std::move(labels),
                                                  options.num_classes));
  return ds;
}

}  // namespace data
}  // namespace slayer
