// `slayer devices`: lists the CUDA devices this process can use, or says
// plainly that there is none (and why). Exit 0 either way: "no GPU" is an
// answer, not a failure.
#include <cstdio>
#include <string>

#include "slayer/cuda/device.h"
#include "tools/command_flags.h"
#include "tools/commands.h"

namespace slayer {
namespace tools {
namespace {

std::string Version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

double GiB(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

int RunDevicesCommand(const std::vector<std::string>& args) {
  CommandFlags flags("devices", "[--help]",
                     "Lists the CUDA devices slayer can use (or says there is none).");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (!flags.positional().empty()) return flags.Fail("takes no arguments");

  const cuda::DeviceQuery q = cuda::QueryDevices();
  std::printf("CUDA runtime %s, %s\n", Version(q.runtime_version).c_str(),
              q.driver_version > 0 ? ("driver " + Version(q.driver_version)).c_str()
                                   : "no driver");
  if (q.devices.empty()) {
    std::printf("no CUDA device: %s\n", q.reason.c_str());
    std::printf("slayer runs on the CPU.\n");
    return 0;
  }
  for (const cuda::DeviceInfo& d : q.devices) {
    std::printf("GPU %d: %s, compute capability %d.%d (sm_%d%d), %d SMs, %.1f GiB", d.index,
                d.name.c_str(), d.cc_major, d.cc_minor, d.cc_major, d.cc_minor, d.sm_count,
                GiB(d.total_memory));
    if (d.free_memory >= 0) std::printf(" (%.1f GiB free)", GiB(d.free_memory));
    std::printf(", L2 %lld MiB, shared memory per block up to %lld KiB\n",
                static_cast<long long>(d.l2_cache_bytes >> 20),
                static_cast<long long>(d.shared_memory_per_block_optin >> 10));
  }
  if (!q.reason.empty()) std::printf("note: %s\n", q.reason.c_str());
  return 0;
}

}  // namespace tools
}  // namespace slayer
