#include "slayer/cuda/device.h"

#include "gtest/gtest.h"

namespace slayer {
namespace cuda {
namespace {

// Runs on every machine: without a GPU "no device" is an answer, not an error.
TEST(Device, QueryAgreesWithCount) {
  DeviceQuery q = QueryDevices();
  EXPECT_EQ(static_cast<int>(q.devices.size()), DeviceCount());
  if (q.devices.empty()) {
    EXPECT_FALSE(q.reason.empty());
    EXPECT_FALSE(NoDeviceReason().empty());
    std::printf("no CUDA device here: %s\n", q.reason.c_str());
  } else {
    EXPECT_TRUE(NoDeviceReason().empty());
    for (const DeviceInfo& d : q.devices) {
      EXPECT_FALSE(d.name.empty());
      EXPECT_GE(d.cc_major, 1);
      EXPECT_GT(d.total_memory, 0);
      EXPECT_GT(d.sm_count, 0);
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace slayer
