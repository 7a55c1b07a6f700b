// NcclCommunicator in a singleton job (no mpirun): without a GPU, Create
// fails with the runtime's reason; with one, device buffers are reduced in
// place on the thread's stream. Several GPUs need mpirun on a GPU host:
//   mpirun -np 2 bazel-bin/tools/slayer train --config C --device cuda --distributed
#include "slayer/train/nccl_communicator.h"

#include <cuda_runtime_api.h>

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/cuda/device.h"

namespace slayer {
namespace train {
namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  static MpiCommunicator* comm() { return comm_.get(); }
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MpiSession>> s = MpiSession::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    session_ = *std::move(s);
    absl::StatusOr<std::unique_ptr<MpiCommunicator>> c =
        MpiCommunicator::Create(*session_, MpiOptions());
    ASSERT_TRUE(c.ok()) << c.status();
    comm_ = *std::move(c);
  }
  void TearDown() override {
    comm_.reset();
    session_.reset();
  }

 private:
  std::unique_ptr<MpiSession> session_;
  static std::unique_ptr<MpiCommunicator> comm_;
};
std::unique_ptr<MpiCommunicator> MpiEnvironment::comm_;

const ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

TEST(NcclCommunicatorTest, WithoutAGpuCreateSaysWhy) {
  if (cuda::HasDevice()) GTEST_SKIP() << "this machine has a CUDA device";
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> c =
      NcclCommunicator::Create(MpiEnvironment::comm());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("no CUDA device"), std::string::npos) << c.status();
}

TEST(NcclCommunicatorTest, OneRankReducesADeviceBufferInPlace) {
  if (!cuda::HasDevice()) GTEST_SKIP() << "no CUDA device: " << cuda::NoDeviceReason();
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> c =
      NcclCommunicator::Create(MpiEnvironment::comm());
  ASSERT_TRUE(c.ok()) << c.status();
  NcclCommunicator& nccl = **c;
  EXPECT_EQ(nccl.rank(), 0);
  EXPECT_EQ(nccl.size(), 1);
  EXPECT_EQ(nccl.device_ordinal(), 0);
  EXPECT_TRUE(nccl.ReducesOnDevice(Device::kCuda));
  EXPECT_FALSE(nccl.ReducesOnDevice(Device::kCpu));

  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = 0.5f * static_cast<float>(i) - 7;
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&device), host.size() * sizeof(float)),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  absl::Status s = nccl.AllReduceSumOnDevice(device, static_cast<int64_t>(host.size()),
                                             Device::kCuda);
  EXPECT_TRUE(s.ok()) << s;
  std::vector<float> back(host.size());
  ASSERT_EQ(cudaMemcpy(back.data(), device, back.size() * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(back, host);  // the sum over one rank
  s = nccl.AllReduceSumOnDevice(device, 10, Device::kCpu);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  cudaFree(device);

  // Host collectives go through MPI.
  std::vector<double> metrics = {1.0, 2.0};
  EXPECT_TRUE(nccl.AllReduceSum(absl::MakeSpan(metrics)).ok());
  EXPECT_EQ(metrics[1], 2.0);
}

}  // namespace
}  // namespace train
}  // namespace slayer
