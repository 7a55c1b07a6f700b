// The DeviceBackend for Device::kCuda (slayer/core/tensor.h): storage from
// the caching allocator of the current device, host<->device copies and
// zero-fill on the calling thread's stream (stream.h). Linking this library
// registers the backend at static initialisation when a device exists; on a
// machine without one, Device::kCuda tensors fail to allocate with a clear
// message from core.
//
//   // BUILD: deps = ["//slayer/cuda:backend"]
//   SLAYER_ASSIGN_OR_RETURN(Tensor d, host.To(Device::kCuda));
//   SLAYER_ASSIGN_OR_RETURN(Tensor back, d.To(Device::kCpu));
#ifndef SLAYER_CUDA_BACKEND_H_
#define SLAYER_CUDA_BACKEND_H_

#include "slayer/core/tensor.h"

namespace slayer {
namespace cuda {

// The registered backend, or null when there is no device.
DeviceBackend* CudaBackend();

// Registers the backend if a device exists and it is not registered yet;
// returns whether Device::kCuda now has a backend. Called at static
// initialisation; idempotent.
bool RegisterCudaBackend();

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_BACKEND_H_
