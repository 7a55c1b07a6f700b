#include "slayer/data/image_dataset.h"

#include <numeric>

#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/data/gzip.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

IdxArray Images(int n) {
  IdxArray a;
  a.shape = {n, 2, 3};
  for (int i = 0; i < n * 6; ++i) a.data.push_back(static_cast<char>(i % 2 ? 255 : 0));
  return a;
}
IdxArray Labels(std::string values) {
  IdxArray a;
  a.shape = {static_cast<int64_t>(values.size())};
  a.data = values;
  return a;
}

TEST(ImageDatasetTest, EncodesImagesFromFiles) {
  const std::string img = TestPath("tiny-images-idx3-ubyte.gz");
  const std::string lab = TestPath("tiny-labels-idx1-ubyte");
  WriteTestFile(img, Gzip(SerializeIdx(Images(2))));
  WriteTestFile(lab, SerializeIdx(Labels({7, 3})));
  ImageEncoderOptions enc;
  absl::StatusOr<std::unique_ptr<Dataset>> ds = MakeImageDataset(img, lab, enc);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->num_classes(), 10);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{1, 2, 3, 25}));
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(**ds, 1, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 3);
  // Pixel 0 is black (no spikes), pixel 1 white (25 spikes).
  EXPECT_EQ(std::accumulate(x.data(), x.data() + 25, 0.0f), 0.0f);
  EXPECT_EQ(std::accumulate(x.data() + 25, x.data() + 50, 0.0f), 25.0f);
}

TEST(ImageDatasetTest, ErrorsNameTheFile) {
  ImageEncoderOptions enc;
  absl::Status st =
      ImageDataset::Create(Images(2), Labels({1, 12}), enc, 10, "i", "lab.idx").status();
  EXPECT_NE(st.message().find("lab.idx: at byte offset 9: label 12 of sample 1"),
            std::string::npos)
      << st;
  st = ImageDataset::Create(Images(2), Labels({1}), enc, 10, "i", "lab.idx").status();
  EXPECT_NE(st.message().find("lab.idx"), std::string::npos) << st;
  EXPECT_EQ(MakeImageDataset(TestPath("none"), TestPath("none"), enc).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ImageDatasetTest, PoissonWithoutRngIsReproducible) {
  ImageEncoderOptions enc;
  enc.encoding = ImageEncoding::kPoisson;
  auto ds = *ImageDataset::Create(Images(1), Labels({0}), enc);
  Tensor a, b, c;
  int l;
  ASSERT_TRUE(ReadSample(*ds, 0, nullptr, &a, &l).ok());
  ASSERT_TRUE(ReadSample(*ds, 0, nullptr, &b, &l).ok());
  EXPECT_EQ(std::vector<float>(a.data(), a.data() + a.numel()),
            std::vector<float>(b.data(), b.data() + b.numel()));
}

// The training-time augmentation: every draw is the image shifted by some
// (dx, dy) within the range, mirrored or not, with black fill; all of them
// occur; the same rng gives the same draw; without an rng nothing changes.
TEST(ImageDatasetTest, AugmentationShiftsAndMirrors) {
  const int h = 4, w = 5, shift = 1;
  IdxArray images;
  images.shape = {1, h, w};
  // Values at least one spike apart (25 steps of integrate-and-fire).
  for (int i = 0; i < h * w; ++i) images.data.push_back(static_cast<char>(20 + 11 * i));
  ImageEncoderOptions enc;  // integrate-and-fire: no randomness in the encoding
  auto ds = *ImageDataset::Create(images, Labels({4}), enc);
  ImageAugmentation aug;
  aug.max_jitter = shift;
  aug.horizontal_flip = true;
  ASSERT_TRUE(ds->SetAugmentation(aug).ok());
  // The encoding of every candidate, written out independently of Get.
  std::vector<std::vector<float>> candidates;
  for (int flip = 0; flip < 2; ++flip) {
    for (int dy = -shift; dy <= shift; ++dy) {
      for (int dx = -shift; dx <= shift; ++dx) {
        std::vector<float> px(h * w, 0.0f);
        for (int y = 0; y < h; ++y) {
          for (int x = 0; x < w; ++x) {
            const int sy = y - dy, sx = x - dx;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const int col = flip ? w - 1 - sx : sx;
            px[y * w + x] = static_cast<uint8_t>(20 + 11 * (sy * w + col)) / 255.0f;
          }
        }
        std::vector<float> spikes(h * w * enc.num_steps());
        ASSERT_TRUE(EncodeImage(px, enc, nullptr, absl::MakeSpan(spikes)).ok());
        candidates.push_back(spikes);
      }
    }
  }
  std::vector<int> seen(candidates.size(), 0);
  Tensor x;
  int label;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Rng rng(seed);
    ASSERT_TRUE(ReadSample(*ds, 0, &rng, &x, &label).ok());
    const std::vector<float> got(x.data(), x.data() + x.numel());
    int match = -1;
    for (size_t c = 0; c < candidates.size() && match < 0; ++c) {
      if (candidates[c] == got) match = static_cast<int>(c);
    }
    ASSERT_GE(match, 0) << "seed " << seed << ": not a shifted/mirrored image";
    ++seen[match];
    Rng again(seed);
    Tensor y;
    ASSERT_TRUE(ReadSample(*ds, 0, &again, &y, &label).ok());
    EXPECT_EQ(got, std::vector<float>(y.data(), y.data() + y.numel())) << seed;
  }
  for (size_t c = 0; c < seen.size(); ++c) EXPECT_GT(seen[c], 0) << "candidate " << c;
  // Without an rng (evaluation): the image as it is, candidate (no flip, 0, 0).
  ASSERT_TRUE(ReadSample(*ds, 0, nullptr, &x, &label).ok());
  EXPECT_EQ(std::vector<float>(x.data(), x.data() + x.numel()), candidates[4]);
  EXPECT_EQ(label, 4);

  aug.max_jitter = 4;  // >= min(H, W)
  const absl::Status bad = ds->SetAugmentation(aug);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("max_jitter = 4, expected 0..3"), std::string::npos) << bad;
}

// Augmentation off: Get draws nothing of its own from the rng, so the
// Poisson spikes are those of the rng as given.
TEST(ImageDatasetTest, NoAugmentationTakesNoDraws) {
  ImageEncoderOptions enc;
  enc.encoding = ImageEncoding::kPoisson;
  auto ds = *ImageDataset::Create(Images(1), Labels({0}), enc);
  std::vector<float> px;
  for (uint8_t p : ds->image(0)) px.push_back(p / 255.0f);
  std::vector<float> expected(px.size() * enc.num_steps());
  Rng rng(7), copy(7);
  ASSERT_TRUE(EncodeImage(px, enc, &copy, absl::MakeSpan(expected)).ok());
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(*ds, 0, &rng, &x, &label).ok());
  EXPECT_EQ(std::vector<float>(x.data(), x.data() + x.numel()), expected);
}

TEST(ImageDatasetTest, RealFashionMnist) {
  const ImageFiles train = FashionMnistFiles(kFashionMnistDir, true);
  const ImageFiles test = FashionMnistFiles(kFashionMnistDir, false);
  if (!FileExists(train.images) || !FileExists(test.labels)) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionMnistDir
                 << " (Debian package dataset-fashion-mnist); skipping";
  }
  ImageEncoderOptions enc;
  absl::StatusOr<std::unique_ptr<Dataset>> tr = MakeImageDataset(train.images, train.labels, enc);
  ASSERT_TRUE(tr.ok()) << tr.status();
  absl::StatusOr<std::unique_ptr<Dataset>> te = MakeImageDataset(test.images, test.labels, enc);
  ASSERT_TRUE(te.ok()) << te.status();
  EXPECT_EQ((*tr)->size(), 60000);
  EXPECT_EQ((*te)->size(), 10000);
  EXPECT_EQ((*tr)->sample_shape(), (Shape{1, 28, 28, 25}));
  std::vector<int> per_class(10);
  for (int64_t i = 0; i < (*te)->size(); ++i) per_class[*(*te)->Label(i)]++;
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << c;
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(**tr, 0, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 9);  // the first training item of Fashion-MNIST is an ankle boot
  const float spikes = std::accumulate(x.data(), x.data() + x.numel(), 0.0f);
  EXPECT_GT(spikes, 1000.0f);
}

}  // namespace
}  // namespace data
}  // namespace slayer
