// The process-wide caching allocators for device memory, one per CUDA
// device, over cudaMalloc/cudaFree. Tensors on Device::kCuda get their
// storage here (through backend.h); kernels' scratch space too.
//
//   int dev = 0;  cudaGetDevice(&dev);
//   SLAYER_ASSIGN_OR_RETURN(void* p, DeviceMemory(dev).Allocate(bytes, StreamKey(stream)));
//   DeviceMemory(dev).Free(p);
#ifndef SLAYER_CUDA_DEVICE_MEMORY_H_
#define SLAYER_CUDA_DEVICE_MEMORY_H_

#include "slayer/cuda/caching_allocator.h"

namespace slayer {
namespace cuda {

// The allocator of device `device` (0-based). Lives for the whole process.
CachingAllocator& DeviceMemory(int device);

// The current device of the calling thread (0 when it cannot be read).
int CurrentDevice();

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DEVICE_MEMORY_H_
