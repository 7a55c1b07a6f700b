#include "slayer/cuda/scratch.h"

#include <utility>

#include "slayer/cuda/device_memory.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace cuda {

absl::StatusOr<DeviceScratch> DeviceScratch::Allocate(size_t bytes, cudaStream_t stream) {
  DeviceScratch s;
  s.device_ = CurrentDevice();
  s.bytes_ = bytes;
  if (bytes == 0) return s;
  absl::StatusOr<void*> ptr = DeviceMemory(s.device_).Allocate(bytes, StreamKey(stream));
  if (!ptr.ok()) return ptr.status();
  s.data_ = *ptr;
  return s;
}

DeviceScratch::DeviceScratch(DeviceScratch&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_(other.device_) {}

DeviceScratch& DeviceScratch::operator=(DeviceScratch&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    device_ = other.device_;
  }
  return *this;
}

DeviceScratch::~DeviceScratch() { Release(); }

void DeviceScratch::Release() {
  if (data_ != nullptr) DeviceMemory(device_).Free(data_);
  data_ = nullptr;
}

}  // namespace cuda
}  // namespace slayer
