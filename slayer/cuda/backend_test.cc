#include "slayer/cuda/backend.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/cuda/device_memory.h"
#include "slayer/cuda/pinned.h"
#include "slayer/cuda/stream.h"
#include "slayer/cuda/test_util.h"

namespace slayer {
namespace cuda {
namespace {

TEST(Backend, RegisteredExactlyWhenADeviceExists) {
  EXPECT_EQ(GetDeviceBackend(Device::kCuda) != nullptr, HasDevice());
  if (!HasDevice()) {
    absl::StatusOr<Tensor> t = Tensor::Allocate({4}, Device::kCuda);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(Backend, RoundTripAndZero) {
  SLAYER_SKIP_WITHOUT_CUDA();
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * static_cast<float>(i) - 7.0f;
  Tensor host = Tensor::FromVector({10, 100}, values);
  absl::StatusOr<Tensor> dev = host.To(Device::kCuda);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->device(), Device::kCuda);
  Tensor copy = dev->Clone();  // device to device
  absl::StatusOr<Tensor> back = copy.To(Device::kCpu);
  ASSERT_TRUE(back.ok()) << back.status();
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(back->data()[i], values[i]) << i;
  copy.SetZero();
  back = copy.To(Device::kCpu);
  ASSERT_TRUE(back.ok());
  for (int64_t i = 0; i < back->numel(); ++i) ASSERT_EQ(back->data()[i], 0.0f);
  // A slice copies from the right offset.
  back = dev->Slice(3, 5).To(Device::kCpu);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data()[0], values[300]);
}

TEST(Backend, FreedStorageIsReused) {
  SLAYER_SKIP_WITHOUT_CUDA();
  CachingAllocator& pool = DeviceMemory(CurrentDevice());
  const int64_t before = pool.stats().raw_allocations;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<Tensor> t = Tensor::Allocate({256, 1024}, Device::kCuda);
    ASSERT_TRUE(t.ok()) << t.status();
  }
  EXPECT_LE(pool.stats().raw_allocations - before, 1);
}

TEST(Stream, EachThreadHasItsOwnAndScopedStreamOverrides) {
  SLAYER_SKIP_WITHOUT_CUDA();
  absl::StatusOr<cudaStream_t> mine = CurrentStream();
  ASSERT_TRUE(mine.ok()) << mine.status();
  cudaStream_t other = nullptr;
  std::thread([&] { other = *CurrentStream(); }).join();
  EXPECT_NE(*mine, other);
  cudaStream_t extra = nullptr;
  ASSERT_EQ(cudaStreamCreate(&extra), cudaSuccess);
  {
    ScopedStream scope(extra);
    EXPECT_EQ(*CurrentStream(), extra);
  }
  EXPECT_EQ(*CurrentStream(), *mine);
  ASSERT_EQ(cudaStreamSynchronize(extra), cudaSuccess);
  DeviceMemory(CurrentDevice()).ReleaseStream(StreamKey(extra));
  cudaStreamDestroy(extra);
}

TEST(Pinned, FallsBackWithoutDeviceAndCopiesWithOne) {
  absl::StatusOr<PinnedBuffer> buf = PinnedBuffer::Allocate(64 * sizeof(float));
  ASSERT_TRUE(buf.ok()) << buf.status();
  EXPECT_EQ(buf->pinned(), HasDevice());
  for (int i = 0; i < 64; ++i) buf->floats()[i] = static_cast<float>(i);
  if (!HasDevice()) GTEST_SKIP() << "no CUDA device: " << NoDeviceReason();
  absl::StatusOr<Tensor> dev = Tensor::Allocate({64}, Device::kCuda);
  ASSERT_TRUE(dev.ok());
  cudaStream_t stream = *CurrentStream();
  ASSERT_TRUE(buf->CopyToDeviceAsync(dev->data(), 64 * sizeof(float), stream).ok());
  absl::StatusOr<PinnedBuffer> out = PinnedBuffer::Allocate(64 * sizeof(float));
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->CopyFromDeviceAsync(dev->data(), 64 * sizeof(float), stream).ok());
  ASSERT_TRUE(SynchronizeStream(stream).ok());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(out->floats()[i], static_cast<float>(i));
  EXPECT_FALSE(buf->CopyToDeviceAsync(dev->data(), 65 * sizeof(float), stream).ok());
}

}  // namespace
}  // namespace cuda
}  // namespace slayer
