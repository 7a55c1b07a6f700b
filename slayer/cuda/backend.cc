#include "slayer/cuda/backend.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/device.h"
#include "slayer/cuda/device_memory.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace cuda {
namespace {

class Backend : public DeviceBackend {
 public:
  absl::StatusOr<void*> Allocate(size_t bytes) override {
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    return DeviceMemory(CurrentDevice()).Allocate(bytes, StreamKey(stream));
  }

  void Free(void* ptr) override {
    // With one device (the usual case) skip the driver's pointer lookup.
    int device = 0;
    if (DeviceCount() > 1) {
      cudaPointerAttributes attr;
      if (cudaPointerGetAttributes(&attr, ptr) == cudaSuccess) {
        device = attr.device;
      } else {
        cudaGetLastError();
        device = CurrentDevice();
      }
    }
    DeviceMemory(device).Free(ptr);
  }

  absl::Status Copy(void* dst, Device dst_device, const void* src, Device src_device,
                    size_t bytes) override {
    if (bytes == 0) return absl::OkStatus();
    const bool to_host = dst_device == Device::kCpu;
    const bool from_host = src_device == Device::kCpu;
    cudaMemcpyKind kind = to_host ? (from_host ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost)
                                  : (from_host ? cudaMemcpyHostToDevice
                                               : cudaMemcpyDeviceToDevice);
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    SLAYER_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, kind, stream));
    // Host memory takes part: the caller may read or free it on return.
    // Device-to-device copies stay ordered on the stream.
    if (to_host || from_host) SLAYER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    return absl::OkStatus();
  }

  absl::Status Zero(void* ptr, size_t bytes) override {
    if (bytes == 0) return absl::OkStatus();
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    SLAYER_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(ptr, 0, bytes, stream));
    return absl::OkStatus();
  }
};

Backend* g_backend = nullptr;

}  // namespace

DeviceBackend* CudaBackend() { return g_backend; }

bool RegisterCudaBackend() {
  static const bool registered = [] {
    if (!HasDevice()) return false;
    g_backend = new Backend;  // lives forever, as core expects
    RegisterDeviceBackend(Device::kCuda, g_backend);
    return true;
  }();
  return registered;
}

namespace {
const bool kRegisteredAtStartup = RegisterCudaBackend();
}  // namespace

}  // namespace cuda
}  // namespace slayer
