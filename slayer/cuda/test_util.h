// Test helpers for the CUDA package: skip (visibly, with the runtime's
// reason) when the machine has no CUDA device, and move tensors between the
// host and a device for comparisons.
//
//   TEST(Psp, MatchesCpu) {
//     SLAYER_SKIP_WITHOUT_CUDA();
//     ...
//   }
#ifndef SLAYER_CUDA_TEST_UTIL_H_
#define SLAYER_CUDA_TEST_UTIL_H_

#include "gtest/gtest.h"
#include "slayer/cuda/device.h"

// GTEST_SKIP()s the current test with "no CUDA device: <reason>".
#define SLAYER_SKIP_WITHOUT_CUDA()                                           \
  do {                                                                       \
    if (!::slayer::cuda::HasDevice()) {                                      \
      GTEST_SKIP() << "no CUDA device: " << ::slayer::cuda::NoDeviceReason(); \
    }                                                                        \
  } while (false)

#endif  // SLAYER_CUDA_TEST_UTIL_H_
