// Tensor: a float32 n-d array over reference-counted, 64-byte-aligned storage
// on the host or (when the CUDA backend is linked and a device exists) on a
// GPU. SLAYER signals use the shape [N, C, H, W, T], time innermost.
//
//   Tensor x = Tensor::Zeros({32, 2, 34, 34, 300});   // host, zero-filled
//   Tensor first = x.Slice(0, 8);                        // no copy
//   x.data()[x.Offset({0, 1, 3, 4, 10})] = 1.0f;
//   SLAYER_ASSIGN_OR_RETURN(Tensor d, x.To(Device::kCuda));
#ifndef SLAYER_CORE_TENSOR_H_
#define SLAYER_CORE_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace slayer {

enum class Device { kCpu = 0, kCuda = 1 };
const char* DeviceName(Device device);

using Shape = std::vector<int64_t>;
std::string ShapeString(absl::Span<const int64_t> shape);
int64_t NumElements(absl::Span<const int64_t> shape);

// Memory services of a non-host device. The CUDA package registers one at
// static initialisation; core itself knows nothing about CUDA.
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
  // Copies `bytes` between any two of host/device.
  virtual absl::Status Copy(void* dst, Device dst_device, const void* src,
                            Device src_device, size_t bytes) = 0;
  virtual absl::Status Zero(void* ptr, size_t bytes) = 0;
};
// Registers the backend for `device` (takes no ownership; lives forever).
void RegisterDeviceBackend(Device device, DeviceBackend* backend);
// Null when nothing was registered for `device`.
DeviceBackend* GetDeviceBackend(Device device);

// A contiguous, aligned allocation. Shared by tensors that view it.
class Storage {
 public:
  static constexpr size_t kAlignment = 64;
  static absl::StatusOr<std::shared_ptr<Storage>> Allocate(size_t bytes,
                                                           Device device);
  // Host storages allocated so far by this process (a steady-state training
  // step allocates none; tests and benchmarks check the difference).
  static int64_t HostAllocations();
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device)
      : data_(data), bytes_(bytes), device_(device) {}
  void* data_;
  size_t bytes_;
  Device device_;
};

class Tensor {
 public:
  // An empty tensor: rank 0, no storage, numel() == 0.
  Tensor() = default;

  // Host tensors (allocation failure on the host is fatal).
  static Tensor Empty(Shape shape);
  static Tensor Zeros(Shape shape);
  static Tensor Full(Shape shape, float value);
  static Tensor FromVector(Shape shape, const std::vector<float>& values);
  // Any device; fails when the device has no backend or is out of memory.
  static absl::StatusOr<Tensor> Allocate(Shape shape, Device device,
                                         bool zero = true);

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * sizeof(float); }
  bool empty() const { return numel_ == 0; }
  Device device() const { return storage_ ? storage_->device() : Device::kCpu; }
  bool is_cpu() const { return device() == Device::kCpu; }

  float* data() { return storage_ ? static_cast<float*>(storage_->data()) + offset_ : nullptr; }
  const float* data() const {
    return storage_ ? static_cast<const float*>(storage_->data()) + offset_ : nullptr;
  }
  absl::Span<float> span() { return absl::Span<float>(data(), numel_); }
  absl::Span<const float> span() const { return absl::Span<const float>(data(), numel_); }

  // Row-major linear offset of an index (debug-checked).
  int64_t Offset(std::initializer_list<int64_t> index) const;
  // Host element access (row-major index).
  float& at(std::initializer_list<int64_t> index) { return data()[Offset(index)]; }
  float at(std::initializer_list<int64_t> index) const { return data()[Offset(index)]; }

  // Rows [begin, end) of dimension 0, sharing storage (no copy).
  Tensor Slice(int64_t begin, int64_t end) const;
  // The same elements under another shape of equal size (no copy).
  Tensor Reshape(Shape shape) const;
  // A deep copy on the same device.
  Tensor Clone() const;
  // A copy on `device` (a no-copy share when already there).
  absl::StatusOr<Tensor> To(Device device) const;
  // Copies `other` (same numel, any device) into this tensor's elements.
  absl::Status CopyFrom(const Tensor& other);

  void Fill(float value);  // host only
  void SetZero();          // any device

  // True if both share storage (views of one allocation).
  bool SharesStorageWith(const Tensor& other) const {
    return storage_ && storage_ == other.storage_;
  }

  std::string DebugString() const;  // "Tensor[2,3] cpu"

 private:
  Tensor(std::shared_ptr<Storage> storage, int64_t offset, Shape shape);

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  int64_t numel_ = 0;
};

// Fails with InvalidArgument naming `what` unless t has `shape`.
absl::Status CheckShape(const Tensor& t, absl::Span<const int64_t> shape,
                        const std::string& what);

// Makes `t` a tensor of `shape` on `device`: reuses its storage when shape
// and device already match (contents kept), else allocates (zero-filled).
// Ops call this on their outputs, so a steady-state step allocates nothing.
absl::Status EnsureShape(Tensor* t, absl::Span<const int64_t> shape, Device device);

}  // namespace slayer

#endif  // SLAYER_CORE_TENSOR_H_
