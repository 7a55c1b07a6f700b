// The part of the CUDA runtime API that slayer/cuda uses, on host memory,
// for the emulated tests (emulation.h): one device, streams that are plain
// handles (everything runs at once, so every stream is always drained),
// memory from the host heap filled with NaN garbage like a fresh cudaMalloc.
#include "slayer/cuda/emulation.h"  // first: it defines __shared__ before the CUDA headers

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

std::mutex& Mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
// Live device allocations and their sizes.
std::unordered_map<void*, size_t>& Allocations() {
  static auto* a = new std::unordered_map<void*, size_t>;
  return *a;
}

std::unordered_map<cudaEvent_t, std::chrono::steady_clock::time_point>& EventTimes() {
  static auto* t = new std::unordered_map<cudaEvent_t, std::chrono::steady_clock::time_point>;
  return *t;
}

constexpr size_t kMemory = size_t{16} << 30;  // what the device claims to have

cudaError_t Fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

void* NewHandle() {
  static std::atomic<uintptr_t> next{0x10000};
  return reinterpret_cast<void*>(next.fetch_add(0x100));
}

bool IsDevicePointer(const void* p) {
  std::lock_guard<std::mutex> lock(Mutex());
  auto& a = Allocations();
  for (const auto& [base, size] : a) {
    const char* b = static_cast<const char*>(base);
    if (p >= b && p < b + size) return true;
  }
  return false;
}

}  // namespace

namespace slayer {
namespace cuda {
namespace emulation {
void RecordError(cudaError_t e) { t_last_error = e; }
}  // namespace emulation
}  // namespace cuda
}  // namespace slayer

extern "C" {

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaError(emulated)";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated error";
  }
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_last_error; }

cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, "slayer CUDA emulator (host)", sizeof(prop->name) - 1);
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = kMemory;
  prop->multiProcessorCount = 4;
  prop->l2CacheSize = 1 << 20;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
    case cudaDevAttrMultiProcessorCount: *value = 4; break;
    case cudaDevAttrClockRate: *value = 1000000; break;
    default: *value = 0; break;
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  size_t used = 0;
  {
    std::lock_guard<std::mutex> lock(Mutex());
    for (const auto& [p, size] : Allocations()) used += size;
  }
  *total = kMemory;
  *free_bytes = kMemory - used;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
  void* p = std::aligned_alloc(256, (size + 255) / 256 * 256);
  if (p == nullptr) return Fail(cudaErrorMemoryAllocation);
  std::memset(p, 0xff, size);  // garbage: NaN as floats
  std::lock_guard<std::mutex> lock(Mutex());
  Allocations()[p] = size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(Mutex());
  if (Allocations().erase(ptr) == 0) return Fail(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int /*flags*/) {
  *ptr = std::aligned_alloc(256, (size + 255) / 256 * 256);
  return *ptr == nullptr ? Fail(cudaErrorMemoryAllocation) : cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t /*stream*/) {
  // The direction must match where the pointers live.
  const bool dst_dev = IsDevicePointer(dst), src_dev = IsDevicePointer(src);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = dst_dev && !src_dev; break;
    case cudaMemcpyDeviceToHost: ok = !dst_dev && src_dev; break;
    case cudaMemcpyDeviceToDevice: ok = dst_dev && src_dev; break;
    case cudaMemcpyHostToHost: ok = !dst_dev && !src_dev; break;
    default: break;
  }
  if (!ok && count > 0) return Fail(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, count, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t /*stream*/) {
  if (count > 0 && !IsDevicePointer(ptr)) return Fail(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = static_cast<cudaStream_t>(NewHandle());
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int /*flags*/) {
  return cudaStreamCreate(stream);
}

cudaError_t cudaStreamSynchronize(cudaStream_t /*stream*/) { return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t /*stream*/) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* ptr) {
  std::memset(attr, 0, sizeof(*attr));
  attr->type = IsDevicePointer(ptr) ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
  attr->device = 0;
  return cudaSuccess;
}

// Events: work runs when it is issued, so an event's time is the host clock
// when it is recorded.
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = static_cast<cudaEvent_t>(NewHandle());
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(Mutex());
  EventTimes().erase(event);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t /*stream*/) {
  std::lock_guard<std::mutex> lock(Mutex());
  EventTimes()[event] = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t /*event*/) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  std::lock_guard<std::mutex> lock(Mutex());
  auto a = EventTimes().find(start), b = EventTimes().find(end);
  if (a == EventTimes().end() || b == EventTimes().end()) return Fail(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(b->second - a->second).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024) return Fail(cudaErrorInvalidValue);
    slayer::cuda::emulation::SetMaxDynamicShared(func, value);
  }
  return cudaSuccess;
}

}  // extern "C"
