// Page-locked (pinned) host buffers for the data loader: copies from pinned
// memory to the device run asynchronously and at full bus speed, so the next
// batch can be assembled while the current one trains. Without a device the
// buffer falls back to ordinary aligned host memory (pinned() is false), so a
// loader can use it unconditionally.
//
//   SLAYER_ASSIGN_OR_RETURN(PinnedBuffer buf, PinnedBuffer::Allocate(bytes));
//   FillBatch(buf.floats(), ...);
//   SLAYER_RETURN_IF_ERROR(buf.CopyToDeviceAsync(device_ptr, bytes, stream));
//   // buf must stay alive (and unmodified) until the stream passes the copy.
#ifndef SLAYER_CUDA_PINNED_H_
#define SLAYER_CUDA_PINNED_H_

#include <cstddef>

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace slayer {
namespace cuda {

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  // Pinned memory when a device exists, else 64-byte-aligned host memory.
  static absl::StatusOr<PinnedBuffer> Allocate(size_t bytes);

  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  void* data() const { return data_; }
  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }
  bool pinned() const { return pinned_; }

  // Queues a copy of the first `bytes` to device memory `dst` on `stream`
  // (asynchronous when pinned; synchronous otherwise).
  absl::Status CopyToDeviceAsync(void* dst, size_t bytes, cudaStream_t stream) const;
  // Queues a copy of `bytes` from device memory `src` into the buffer.
  absl::Status CopyFromDeviceAsync(const void* src, size_t bytes, cudaStream_t stream);

 private:
  void Release();

  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool pinned_ = false;
};

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_PINNED_H_
