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
