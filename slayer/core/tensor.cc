#include "slayer/core/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "slayer/core/check.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slayer {
namespace {

DeviceBackend* g_backends[2] = {nullptr, nullptr};

}  // namespace

const char* DeviceName(Device device) {
  return device == Device::kCpu ? "cpu" : "cuda";
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void RegisterDeviceBackend(Device device, DeviceBackend* backend) {
  g_backends[static_cast<int>(device)] = backend;
}

DeviceBackend* GetDeviceBackend(Device device) {
  return g_backends[static_cast<int>(device)];
}

namespace {
std::atomic<int64_t> g_host_allocations{0};
}  // namespace

int64_t Storage::HostAllocations() { return g_host_allocations.load(std::memory_order_relaxed); }

absl::StatusOr<std::shared_ptr<Storage>> Storage::Allocate(size_t bytes,
                                                           Device device) {
  // Round up so that aligned_alloc's size contract holds and so that
  // vector loops may read a full register past the last element.
  size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (padded == 0) padded = kAlignment;
  void* data = nullptr;
  if (device == Device::kCpu) {
    g_host_allocations.fetch_add(1, std::memory_order_relaxed);
    data = std::aligned_alloc(kAlignment, padded);
    if (data == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("host allocation of ", bytes, " bytes failed"));
    }
  } else {
    DeviceBackend* backend = GetDeviceBackend(device);
    if (backend == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no backend for device '", DeviceName(device),
          "': link //slayer/cuda:backend and run on a machine with a GPU"));
    }
    absl::StatusOr<void*> ptr = backend->Allocate(padded);
    if (!ptr.ok()) return ptr.status();
    data = *ptr;
  }
  return std::shared_ptr<Storage>(new Storage(data, bytes, device));
}

Storage::~Storage() {
  if (device_ == Device::kCpu) {
    std::free(data_);
  } else if (DeviceBackend* backend = GetDeviceBackend(device_)) {
    backend->Free(data_);
  }
}

Tensor::Tensor(std::shared_ptr<Storage> storage, int64_t offset, Shape shape)
    : storage_(std::move(storage)),
      offset_(offset),
      shape_(std::move(shape)),
      numel_(NumElements(shape_)) {}

absl::StatusOr<Tensor> Tensor::Allocate(Shape shape, Device device, bool zero) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeString(shape)));
    }
  }
  int64_t n = NumElements(shape);
  absl::StatusOr<std::shared_ptr<Storage>> storage =
      Storage::Allocate(static_cast<size_t>(n) * sizeof(float), device);
  if (!storage.ok()) return storage.status();
  Tensor t(*std::move(storage), 0, std::move(shape));
  if (zero) t.SetZero();
  return t;
}

Tensor Tensor::Empty(Shape shape) {
  absl::StatusOr<Tensor> t = Allocate(std::move(shape), Device::kCpu, false);
  SLAYER_CHECK(t.ok()) << t.status();
  return *std::move(t);
}

Tensor Tensor::Zeros(Shape shape) {
  absl::StatusOr<Tensor> t = Allocate(std::move(shape), Device::kCpu, true);
  SLAYER_CHECK(t.ok()) << t.status();
  return *std::move(t);
}

Tensor Tensor::Full(Shape shape, float value) {
  Tensor t = Empty(std::move(shape));
  t.Fill(value);
  return t;
}

Tensor Tensor::FromVector(Shape shape, const std::vector<float>& values) {
  Tensor t = Empty(std::move(shape));
  SLAYER_CHECK_EQ(t.numel(), static_cast<int64_t>(values.size()))
      << "FromVector: shape " << ShapeString(t.shape()) << " vs "
      << values.size() << " values";
  if (!values.empty()) std::memcpy(t.data(), values.data(), t.bytes());
  return t;
}

int64_t Tensor::Offset(std::initializer_list<int64_t> index) const {
  SLAYER_DCHECK(static_cast<int>(index.size()) == rank());
  int64_t offset = 0;
  int i = 0;
  for (int64_t v : index) {
    SLAYER_DCHECK(v >= 0 && v < shape_[i]) << "index " << v << " out of range in dim " << i;
    offset = offset * shape_[i] + v;
    ++i;
  }
  return offset;
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  SLAYER_CHECK_GE(rank(), 1);
  SLAYER_CHECK(0 <= begin && begin <= end && end <= shape_[0])
      << "Slice [" << begin << "," << end << ") of " << ShapeString(shape_);
  Shape shape = shape_;
  shape[0] = end - begin;
  int64_t row = shape_[0] == 0 ? 0 : numel_ / shape_[0];
  return Tensor(storage_, offset_ + begin * row, std::move(shape));
}

Tensor Tensor::Reshape(Shape shape) const {
  SLAYER_CHECK_EQ(NumElements(shape), numel_)
      << "Reshape " << ShapeString(shape_) << " -> " << ShapeString(shape);
  return Tensor(storage_, offset_, std::move(shape));
}

Tensor Tensor::Clone() const {
  absl::StatusOr<Tensor> t = Allocate(shape_, device(), false);
  SLAYER_CHECK(t.ok()) << t.status();
  SLAYER_CHECK_OK(t->CopyFrom(*this));
  return *std::move(t);
}

absl::StatusOr<Tensor> Tensor::To(Device target) const {
  if (target == device()) return *this;
  absl::StatusOr<Tensor> t = Allocate(shape_, target, false);
  if (!t.ok()) return t.status();
  absl::Status s = t->CopyFrom(*this);
  if (!s.ok()) return s;
  return t;
}

absl::Status Tensor::CopyFrom(const Tensor& other) {
  if (other.numel() != numel_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyFrom: ", ShapeString(other.shape()), " into ",
                     ShapeString(shape_)));
  }
  if (numel_ == 0) return absl::OkStatus();
  if (device() == Device::kCpu && other.device() == Device::kCpu) {
    std::memmove(data(), other.data(), bytes());
    return absl::OkStatus();
  }
  Device via = device() != Device::kCpu ? device() : other.device();
  DeviceBackend* backend = GetDeviceBackend(via);
  if (backend == nullptr) {
    return absl::FailedPreconditionError("CopyFrom: no device backend");
  }
  return backend->Copy(data(), device(), other.data(), other.device(), bytes());
}

void Tensor::Fill(float value) {
  SLAYER_CHECK(is_cpu()) << "Fill is host-only";
  float* p = data();
  for (int64_t i = 0; i < numel_; ++i) p[i] = value;
}

void Tensor::SetZero() {
  if (numel_ == 0) return;
  if (is_cpu()) {
    std::memset(data(), 0, bytes());
  } else {
    SLAYER_CHECK_OK(GetDeviceBackend(device())->Zero(data(), bytes()));
  }
}

std::string Tensor::DebugString() const {
  return absl::StrCat("Tensor", ShapeString(shape_), " ", DeviceName(device()));
}

absl::Status CheckShape(const Tensor& t, absl::Span<const int64_t> shape,
                        const std::string& what) {
  if (absl::Span<const int64_t>(t.shape()) != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected shape ", ShapeString(shape), ", got ",
                     ShapeString(t.shape())));
  }
  return absl::OkStatus();
}

absl::Status EnsureShape(Tensor* t, absl::Span<const int64_t> shape, Device device) {
  if (absl::Span<const int64_t>(t->shape()) == shape && t->device() == device &&
      (t->numel() == 0 || t->data() != nullptr)) {
    return absl::OkStatus();
  }
  absl::StatusOr<Tensor> fresh = Tensor::Allocate(Shape(shape.begin(), shape.end()), device);
  if (!fresh.ok()) return fresh.status();
  *t = *std::move(fresh);
  return absl::OkStatus();
}

}  // namespace slayer
