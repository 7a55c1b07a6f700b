// Image classification data sets (MNIST, Fashion-MNIST) from IDX files,
// turned into spike trains on the fly by an image encoder (integrate-and-fire
// over 25 ms by default, or Poisson). Samples are [1, H, W, T].
//
//   ImageEncoderOptions enc;                     // IF, Ts = 1 ms, 25 steps
//   ImageFiles f = FashionMnistFiles(kFashionMnistDir, /*train=*/true);
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> train,
//                           MakeImageDataset(f.images, f.labels, enc));
//   // train->size() == 60000, train->sample_shape() == {1, 28, 28, 25}
#ifndef SLAYER_DATA_IMAGE_DATASET_H_
#define SLAYER_DATA_IMAGE_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "slayer/data/dataset.h"
#include "slayer/data/encoder.h"
#include "slayer/data/idx.h"

namespace slayer {
namespace data {

// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Training-time augmentation, drawn per sample from the rng that Get is
// given (none without one: evaluation reads the images as they are).
struct ImageAugmentation {
  // Shift by dx, dy uniform in [-max_jitter, max_jitter] pixels; pixels moved
  // in from outside the image are black. 0: no shift (and no draws).
  int max_jitter = 0;
  // Mirror left-right with probability 1/2 (before the shift).
  bool horizontal_flip = false;
  bool active() const { return max_jitter > 0 || horizontal_flip; }
};

struct ImageFiles {
  std::string images;
  std::string labels;
};
// "<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz": the layout of
// MNIST and Fashion-MNIST distributions.
ImageFiles FashionMnistFiles(absl::string_view dir, bool train);

class ImageDataset : public Dataset {
 public:
  // images: [N, H, W] bytes; labels: [N] bytes, each < num_classes. The names
  // (file paths) appear in errors, e.g. the offset of an out-of-range label.
  static absl::StatusOr<std::unique_ptr<ImageDataset>> Create(
      IdxArray images, IdxArray labels, const ImageEncoderOptions& encoder, int num_classes = 10,
      absl::string_view images_name = "images", absl::string_view labels_name = "labels");

  int64_t size() const override { return images_.shape[0]; }
  int num_classes() const override { return num_classes_; }
  Shape sample_shape() const override { return {1, height(), width(), encoder_.num_steps()}; }
  // Pixel / 255 -> EncodeImage. With an rng, the augmentation (if any) is
  // drawn first, then the Poisson spikes; without one, no augmentation and
  // Poisson uses Rng(0).Stream(index).
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override;
  absl::StatusOr<int> Label(int64_t index) const override;

  int64_t height() const { return images_.shape[1]; }
  int64_t width() const { return images_.shape[2]; }
  const ImageEncoderOptions& encoder() const { return encoder_; }
  // max_jitter must be in [0, min(H, W)) (0 for any image size).
  absl::Status SetAugmentation(const ImageAugmentation& augmentation);
  const ImageAugmentation& augmentation() const { return augmentation_; }
  // The raw pixels of image `index` (H * W bytes, row-major).
  absl::Span<const uint8_t> image(int64_t index) const {
    return absl::Span<const uint8_t>(images_.bytes() + index * height() * width(),
                                     height() * width());
  }

 private:
  ImageDataset(IdxArray images, IdxArray labels, const ImageEncoderOptions& encoder,
               int num_classes)
      : images_(std::move(images)),
        labels_(std::move(labels)),
        encoder_(encoder),
        num_classes_(num_classes) {}

  IdxArray images_;
  IdxArray labels_;
  ImageEncoderOptions encoder_;
  int num_classes_;
  ImageAugmentation augmentation_;
};

// Reads both IDX files (raw or gzipped) and builds an ImageDataset with 10
// classes.
absl::StatusOr<std::unique_ptr<ImageDataset>> MakeImageDataset(
    const std::string& images_path, const std::string& labels_path,
    const ImageEncoderOptions& encoder);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_IMAGE_DATASET_H_
