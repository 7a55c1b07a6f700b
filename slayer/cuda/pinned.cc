#include "slayer/cuda/pinned.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/device.h"

namespace slayer {
namespace cuda {

absl::StatusOr<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer buf;
  buf.bytes_ = bytes;
  if (bytes == 0) return buf;
  if (HasDevice()) {
    SLAYER_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&buf.data_, bytes, cudaHostAllocPortable));
    buf.pinned_ = true;
    return buf;
  }
  constexpr size_t kAlignment = 64;
  buf.data_ = std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  if (buf.data_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("host allocation of ", bytes, " bytes for a staging buffer failed"));
  }
  return buf;
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      pinned_(std::exchange(other.pinned_, false)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    pinned_ = std::exchange(other.pinned_, false);
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() { Release(); }

void PinnedBuffer::Release() {
  if (data_ == nullptr) return;
  if (pinned_) {
    if (cudaFreeHost(data_) != cudaSuccess) cudaGetLastError();  // at exit: ignore
  } else {
    std::free(data_);
  }
  data_ = nullptr;
}

absl::Status PinnedBuffer::CopyToDeviceAsync(void* dst, size_t bytes,
                                             cudaStream_t stream) const {
  if (bytes > bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToDeviceAsync of ", bytes, " bytes from a ", bytes_, "-byte buffer"));
  }
  if (bytes == 0) return absl::OkStatus();
  SLAYER_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, data_, bytes, cudaMemcpyHostToDevice, stream));
  return absl::OkStatus();
}

absl::Status PinnedBuffer::CopyFromDeviceAsync(const void* src, size_t bytes,
                                               cudaStream_t stream) {
  if (bytes > bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyFromDeviceAsync of ", bytes, " bytes into a ", bytes_,
                     "-byte buffer"));
  }
  if (bytes == 0) return absl::OkStatus();
  SLAYER_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(data_, src, bytes, cudaMemcpyDeviceToHost, stream));
  if (!pinned_) SLAYER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
