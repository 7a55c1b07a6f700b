#include "slayer/cuda/device.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"

namespace slayer {
namespace cuda {
namespace {

std::string ErrorText(const char* call, cudaError_t e) {
  return absl::StrCat(call, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

struct CountResult {
  int count = 0;
  std::string reason;
};

const CountResult& CachedCount() {
  static const CountResult* result = [] {
    auto* r = new CountResult;
    cudaError_t e = cudaGetDeviceCount(&r->count);
    if (e != cudaSuccess) {
      r->count = 0;
      r->reason = ErrorText("cudaGetDeviceCount", e);
      cudaGetLastError();  // the failure is an answer, not a sticky error
    } else if (r->count == 0) {
      r->reason = "cudaGetDeviceCount reports 0 devices";
    }
    return r;
  }();
  return *result;
}

}  // namespace

DeviceQuery QueryDevices() {
  DeviceQuery q;
  cudaDriverGetVersion(&q.driver_version);
  cudaRuntimeGetVersion(&q.runtime_version);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    q.reason = ErrorText("cudaGetDeviceCount", e);
    cudaGetLastError();
    return q;
  }
  if (count == 0) {
    q.reason = "cudaGetDeviceCount reports 0 devices";
    return q;
  }
  int current = 0;
  cudaGetDevice(&current);
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, i);
    if (e != cudaSuccess) {
      q.reason = ErrorText("cudaGetDeviceProperties", e);
      cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
    d.sm_count = prop.multiProcessorCount;
    d.l2_cache_bytes = prop.l2CacheSize;
    d.shared_memory_per_block_optin = static_cast<int64_t>(prop.sharedMemPerBlockOptin);
    int clock = 0;
    if (cudaDeviceGetAttribute(&clock, cudaDevAttrClockRate, i) == cudaSuccess) {
      d.clock_khz = clock;
    }
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(i) == cudaSuccess &&
        cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      d.free_memory = static_cast<int64_t>(free_bytes);
    }
    cudaGetLastError();
    q.devices.push_back(std::move(d));
  }
  cudaSetDevice(current);
  return q;
}

int DeviceCount() { return CachedCount().count; }

const std::string& NoDeviceReason() { return CachedCount().reason; }

}  // namespace cuda
}  // namespace slayer
