// What CUDA devices this process can use. "No device" (no GPU, no driver, or
// CUDA_VISIBLE_DEVICES empty) is a normal answer with a reason, not an error,
// so that tools and tests can say why they fall back to the CPU or skip.
//
//   DeviceQuery q = QueryDevices();
//   if (q.devices.empty()) std::printf("no CUDA device: %s\n", q.reason.c_str());
//   for (const DeviceInfo& d : q.devices) std::printf("%s sm_%d%d\n", d.name.c_str(), d.cc_major, d.cc_minor);
#ifndef SLAYER_CUDA_DEVICE_H_
#define SLAYER_CUDA_DEVICE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace slayer {
namespace cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  int64_t total_memory = 0;        // bytes
  int64_t free_memory = -1;        // bytes, -1 when it could not be read
  int sm_count = 0;                // multiprocessors
  int64_t l2_cache_bytes = 0;
  int64_t shared_memory_per_block_optin = 0;  // bytes, the opt-in maximum
  int clock_khz = 0;
};

struct DeviceQuery {
  std::vector<DeviceInfo> devices;
  // Why `devices` is empty ("cudaGetDeviceCount: cudaErrorNoDevice (...)").
  std::string reason;
  int driver_version = 0;   // e.g. 13000 (0 when no driver)
  int runtime_version = 0;  // e.g. 13000
};

// Asks the runtime every time (cheap after the first call).
DeviceQuery QueryDevices();

// The number of usable devices; 0 when none (never an error). Cached after
// the first call.
int DeviceCount();
inline bool HasDevice() { return DeviceCount() > 0; }
// Why DeviceCount() is 0, or "" when there is a device. Cached.
const std::string& NoDeviceReason();

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_DEVICE_H_
