#include "slayer/data/image_dataset.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/data/byte_reader.h"

namespace slayer {
namespace data {

ImageFiles FashionMnistFiles(absl::string_view dir, bool train) {
  const char* prefix = train ? "train" : "t10k";
  return {absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz"),
          absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz")};
}

absl::StatusOr<std::unique_ptr<ImageDataset>> ImageDataset::Create(
    IdxArray images, IdxArray labels, const ImageEncoderOptions& encoder, int num_classes,
    absl::string_view images_name, absl::string_view labels_name) {
  SLAYER_RETURN_IF_ERROR(encoder.Validate());
  if (images.shape.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(images_name, ": images have shape ",
                                                   ShapeString(images.shape),
                                                   ", expected [N, H, W]"));
  }
  if (labels.shape.size() != 1 || labels.shape[0] != images.shape[0]) {
    return absl::InvalidArgumentError(absl::StrCat(labels_name, ": labels have shape ",
                                                   ShapeString(labels.shape), ", expected [",
                                                   images.shape[0], "] to match ",
                                                   images_name));
  }
  if (num_classes < 1 || num_classes > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes = ", num_classes, ", expected 1..256"));
  }
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (labels.bytes()[i] >= num_classes) {
      // Offset in the (decompressed) IDX file: 4 magic + 4 dimension bytes.
      return DataError(labels_name, 8 + i,
                       absl::StrCat("label ", int{labels.bytes()[i]}, " of sample ", i,
                                    ", expected 0..", num_classes - 1));
    }
  }
  return std::unique_ptr<ImageDataset>(
      new ImageDataset(std::move(images), std::move(labels), encoder, num_classes));
}

absl::Status ImageDataset::SetAugmentation(const ImageAugmentation& augmentation) {
  const int64_t limit = std::min(height(), width());
  const int jitter = augmentation.max_jitter;
  if (jitter < 0 || (jitter > 0 && jitter >= limit)) {
    return absl::InvalidArgumentError(absl::StrCat("augmentation: max_jitter = ",
                                                   augmentation.max_jitter, ", expected 0..",
                                                   limit - 1, " for ", height(), "x", width(),
                                                   " images"));
  }
  augmentation_ = augmentation;
  return absl::OkStatus();
}

absl::Status ImageDataset::Get(int64_t index, Rng* rng, Tensor* out, int* label) const {
  SLAYER_RETURN_IF_ERROR(CheckGetArgs(*this, index, out, label));
  absl::Span<const uint8_t> pixels = image(index);
  const int64_t h = height(), w = width();
  // Output pixel (y, x) shows source pixel (y - dy, x - dx) of the image,
  // mirrored when `flip`; outside the source it stays black. The shift and
  // the mirror are drawn only for an augmented read.
  int64_t dx = 0, dy = 0;
  bool flip = false;
  if (rng != nullptr && augmentation_.active()) {
    const int64_t jitter = augmentation_.max_jitter;
    if (jitter > 0) {
      dx = static_cast<int64_t>(rng->UniformInt(2 * jitter + 1)) - jitter;
      dy = static_cast<int64_t>(rng->UniformInt(2 * jitter + 1)) - jitter;
    }
    flip = augmentation_.horizontal_flip && rng->Bernoulli(0.5);
  }
  std::vector<float> intensities(pixels.size(), 0.0f);
  for (int64_t y = 0; y < h; ++y) {
    const int64_t sy = y - dy;
    if (sy < 0 || sy >= h) continue;
    for (int64_t x = 0; x < w; ++x) {
      int64_t sx = x - dx;
      if (sx < 0 || sx >= w) continue;
      if (flip) sx = w - 1 - sx;
      intensities[y * w + x] = pixels[sy * w + sx] * (1.0f / 255.0f);
    }
  }
  Rng fixed = Rng(0).Stream(static_cast<uint64_t>(index));
  SLAYER_RETURN_IF_ERROR(EncodeImage(intensities, encoder_, rng ? rng : &fixed, out->span()));
  *label = labels_.bytes()[index];
  return absl::OkStatus();
}

absl::StatusOr<int> ImageDataset::Label(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return int{labels_.bytes()[index]};
}

absl::StatusOr<std::unique_ptr<ImageDataset>> MakeImageDataset(
    const std::string& images_path, const std::string& labels_path,
    const ImageEncoderOptions& encoder) {
  SLAYER_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path));
  SLAYER_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path));
  return ImageDataset::Create(std::move(images), std::move(labels), encoder, 10, images_path,
                              labels_path);
}

}  // namespace data
}  // namespace slayer
