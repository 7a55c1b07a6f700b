#include "slayer/core/tensor.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace slayer {
namespace {

TEST(TensorTest, ZerosHasShapeAndAlignment) {
  Tensor t = Tensor::Zeros({2, 3, 4, 5, 7});
  EXPECT_EQ(t.rank(), 5);
  EXPECT_EQ(t.numel(), 2 * 3 * 4 * 5 * 7);
  EXPECT_EQ(t.dim(-1), 7);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % Storage::kAlignment, 0u);
  for (float v : t.span()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(ShapeString(t.shape()), "[2,3,4,5,7]");
}

TEST(TensorTest, OffsetIsRowMajor) {
  Tensor t = Tensor::Zeros({2, 3, 4});
  EXPECT_EQ(t.Offset({1, 2, 3}), 1 * 12 + 2 * 4 + 3);
  t.at({1, 2, 3}) = 5.0f;
  EXPECT_EQ(t.data()[23], 5.0f);
}

TEST(TensorTest, SliceSharesStorage) {
  Tensor t = Tensor::FromVector({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor s = t.Slice(1, 3);
  EXPECT_EQ(s.shape(), Shape({2, 2}));
  EXPECT_TRUE(s.SharesStorageWith(t));
  EXPECT_EQ(s.data()[0], 2.0f);
  s.data()[0] = 42.0f;
  EXPECT_EQ(t.data()[2], 42.0f);
  Tensor empty = t.Slice(4, 4);
  EXPECT_EQ(empty.numel(), 0);
}

TEST(TensorTest, CloneIsDeep) {
  Tensor t = Tensor::Full({3}, 1.5f);
  Tensor c = t.Clone();
  EXPECT_FALSE(c.SharesStorageWith(t));
  c.data()[0] = 0.0f;
  EXPECT_EQ(t.data()[0], 1.5f);
}

TEST(TensorTest, ReshapeKeepsElements) {
  Tensor t = Tensor::FromVector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.Reshape({3, 2});
  EXPECT_TRUE(r.SharesStorageWith(t));
  EXPECT_EQ(r.at({2, 1}), 6.0f);
}

TEST(TensorTest, CopyFromChecksSize) {
  Tensor a = Tensor::Zeros({4});
  Tensor b = Tensor::Full({2, 2}, 3.0f);
  EXPECT_TRUE(a.CopyFrom(b).ok());
  EXPECT_EQ(a.data()[3], 3.0f);
  Tensor c = Tensor::Zeros({5});
  absl::Status s = a.CopyFrom(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, DeviceWithoutBackendIsAnError) {
  if (GetDeviceBackend(Device::kCuda) != nullptr) GTEST_SKIP() << "backend linked";
  absl::StatusOr<Tensor> t = Tensor::Allocate({4}, Device::kCuda);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Tensor::Zeros({2}).To(Device::kCpu).ok());
  EXPECT_FALSE(Tensor::Zeros({2}).To(Device::kCuda).ok());
}

TEST(TensorTest, CheckShapeNamesWhat) {
  Tensor t = Tensor::Zeros({2, 3});
  EXPECT_TRUE(CheckShape(t, {2, 3}, "x").ok());
  absl::Status s = CheckShape(t, {3, 2}, "fc1/weight");
  EXPECT_NE(s.message().find("fc1/weight"), absl::string_view::npos);
  EXPECT_NE(s.message().find("[3,2]"), absl::string_view::npos);
}

TEST(TensorTest, NegativeShapeIsRejected) {
  EXPECT_FALSE(Tensor::Allocate({2, -1}, Device::kCpu).ok());
}

TEST(TensorDeathTest, BadSliceIsAProgrammerError) {
  Tensor t = Tensor::Zeros({2});
  EXPECT_DEATH(t.Slice(1, 3), "Slice");
}

}  // namespace
}  // namespace slayer

namespace slayer {
namespace {

TEST(EnsureShapeTest, ReusesMatchingStorage) {
  Tensor t;
  ASSERT_TRUE(EnsureShape(&t, {2, 3}, Device::kCpu).ok());
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  const float* before = t.data();
  t.data()[0] = 7.0f;
  ASSERT_TRUE(EnsureShape(&t, {2, 3}, Device::kCpu).ok());
  EXPECT_EQ(t.data(), before);
  EXPECT_EQ(t.data()[0], 7.0f);
  ASSERT_TRUE(EnsureShape(&t, {3, 3}, Device::kCpu).ok());
  EXPECT_EQ(t.numel(), 9);
  EXPECT_EQ(t.data()[0], 0.0f);
}

}  // namespace
}  // namespace slayer
