#include "slayer/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <vector>

#include "slayer/cuda/cuda_check.h"

namespace slayer {
namespace cuda {
namespace {

// cudaMalloc/cudaFree on one device (switching to it for the call).
class CudaRawMemory : public RawMemory {
 public:
  explicit CudaRawMemory(int device) : device_(device) {}

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    int previous = CurrentDevice();
    if (previous != device_) SLAYER_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    void* ptr = nullptr;
    cudaError_t e = cudaMalloc(&ptr, bytes);
    if (previous != device_) cudaSetDevice(previous);
    if (e != cudaSuccess) {
      cudaGetLastError();  // out of memory is not sticky; clear it for the retry
      return internal::ErrorStatus(e, "cudaMalloc", __FILE__, __LINE__);
    }
    return ptr;
  }

  void Free(void* ptr) override {
    // Errors here come from a dying context at process exit; nothing to do.
    if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();
  }

 private:
  int device_;
};

struct Pool {
  explicit Pool(int device) : raw(device), allocator(&raw) {}
  CudaRawMemory raw;
  CachingAllocator allocator;
};

}  // namespace

int CurrentDevice() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return device;
}

CachingAllocator& DeviceMemory(int device) {
  // Never destroyed: blocks may be freed by static destructors at exit.
  static std::mutex* mu = new std::mutex;
  static auto* pools = new std::vector<std::unique_ptr<Pool>>;
  std::lock_guard<std::mutex> lock(*mu);
  if (static_cast<int>(pools->size()) <= device) pools->resize(device + 1);
  if ((*pools)[device] == nullptr) (*pools)[device] = std::make_unique<Pool>(device);
  return (*pools)[device]->allocator;
}

}  // namespace cuda
}  // namespace slayer
