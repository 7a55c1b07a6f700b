#include "slayer/data/dataset.h"

#include <numeric>

#include "gtest/gtest.h"

namespace slayer {
namespace data {
namespace {

TEST(InMemoryDatasetTest, GetCopiesTheSampleAndLabel) {
  Tensor samples = Tensor::Zeros({3, 1, 1, 2, 2});
  for (int64_t i = 0; i < samples.numel(); ++i) samples.data()[i] = static_cast<float>(i);
  absl::StatusOr<std::unique_ptr<InMemoryDataset>> ds =
      InMemoryDataset::Create(samples, {2, 0, 1}, 3);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 3);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{1, 1, 2, 2}));
  Tensor out;
  int label = -1;
  ASSERT_TRUE(ReadSample(**ds, 1, nullptr, &out, &label).ok());
  EXPECT_EQ(label, 0);
  EXPECT_EQ(out.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(out.data()[0], 4.0f);
  EXPECT_EQ(*(*ds)->Label(2), 1);
  EXPECT_EQ((*ds)->Get(3, nullptr, &out, &label).code(), absl::StatusCode::kOutOfRange);
  Tensor wrong = Tensor::Zeros({3});
  EXPECT_FALSE((*ds)->Get(0, nullptr, &wrong, &label).ok());
}

TEST(InMemoryDatasetTest, RejectsBadInput) {
  EXPECT_FALSE(InMemoryDataset::Create(Tensor::Zeros({2, 1, 1, 1}), {0, 0}, 1).ok());
  EXPECT_FALSE(InMemoryDataset::Create(Tensor::Zeros({2, 1, 1, 1, 1}), {0}, 1).ok());
  absl::Status st = InMemoryDataset::Create(Tensor::Zeros({2, 1, 1, 1, 1}), {0, 5}, 2).status();
  EXPECT_NE(st.message().find("label 5 of sample 1"), std::string::npos) << st;
}

TEST(SubsetDatasetTest, MapsIndices) {
  auto base = *MakeSyntheticDataset({});
  auto sub = SubsetDataset::Create(base.get(), {5, 2});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)->size(), 2);
  EXPECT_EQ(*(*sub)->Label(0), *base->Label(5));
  Tensor a, b;
  int la, lb;
  ASSERT_TRUE(ReadSample(**sub, 1, nullptr, &a, &la).ok());
  ASSERT_TRUE(ReadSample(*base, 2, nullptr, &b, &lb).ok());
  EXPECT_EQ(la, lb);
  EXPECT_EQ(std::vector<float>(a.data(), a.data() + a.numel()),
            std::vector<float>(b.data(), b.data() + b.numel()));
  EXPECT_FALSE(SubsetDataset::Create(base.get(), {64}).ok());
}

TEST(SyntheticDatasetTest, ReproducibleAndClassDependent) {
  SyntheticOptions o;
  o.num_samples = 8;
  auto a = *MakeSyntheticDataset(o);
  auto b = *MakeSyntheticDataset(o);
  EXPECT_EQ(a->num_classes(), 4);
  Tensor x, y;
  int lx, ly;
  ASSERT_TRUE(ReadSample(*a, 5, nullptr, &x, &lx).ok());
  ASSERT_TRUE(ReadSample(*b, 5, nullptr, &y, &ly).ok());
  EXPECT_EQ(lx, 1);
  EXPECT_EQ(std::vector<float>(x.data(), x.data() + x.numel()),
            std::vector<float>(y.data(), y.data() + y.numel()));
  // Neurons of the own class fire more.
  const int64_t T = 50;
  double on = 0, off = 0;
  for (int64_t n = 0; n < 2 * 8 * 8; ++n) {
    const double c = std::accumulate(x.data() + n * T, x.data() + (n + 1) * T, 0.0);
    (n % 4 == lx ? on : off) += c;
  }
  EXPECT_GT(on / 32, 3 * off / 96);
  o.sample_shape = {2, 3};
  EXPECT_FALSE(MakeSyntheticDataset(o).ok());
}

}  // namespace
}  // namespace data
}  // namespace slayer
