// Temporary device memory for one op call, from the caching allocator of the
// current device and tied to the stream the op runs on: freed (back to the
// cache) when the object dies, which is safe as soon as every kernel that
// uses it has been queued on that stream.
//
//   SLAYER_ASSIGN_OR_RETURN(DeviceScratch col, DeviceScratch::Allocate(bytes, stream));
//   SLAYER_RETURN_IF_ERROR(LaunchIm2Col(x, col.as<float>(), shape, stream));
#ifndef SLAYER_CUDA_SCRATCH_H_
#define SLAYER_CUDA_SCRATCH_H_

#include <cstddef>

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace slayer {
namespace cuda {

class DeviceScratch {
 public:
  DeviceScratch() = default;
  static absl::StatusOr<DeviceScratch> Allocate(size_t bytes, cudaStream_t stream);
  DeviceScratch(DeviceScratch&& other) noexcept;
  DeviceScratch& operator=(DeviceScratch&& other) noexcept;
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch();

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void Release();

  void* data_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_SCRATCH_H_
