#include "slayer/cuda/emulation.h"

#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace slayer {
namespace cuda {
namespace emulation {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kDefaultSharedLimit = 48 * 1024;
constexpr size_t kOptinSharedLimit = 227 * 1024;  // sm_90

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  bool done = false;
};

// The launch in progress on this thread.
struct Block {
  ucontext_t scheduler;
  std::vector<Fiber>* fibers = nullptr;
  int current = 0;
  const std::function<void()>* body = nullptr;
  std::vector<unsigned char> shared;
};
thread_local Block t_block;

std::mutex& LaunchMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

std::map<const void*, int>& SharedLimits() {
  static auto* limits = new std::map<const void*, int>;
  return *limits;
}

uint3 Index(unsigned x, unsigned y, unsigned z) {
  uint3 v;
  v.x = x;
  v.y = y;
  v.z = z;
  return v;
}

[[noreturn]] void Die(const char* message) {
  std::fprintf(stderr, "CUDA emulation: %s\n", message);
  std::abort();
}

void FiberMain() {
  (*t_block.body)();
  Fiber& self = (*t_block.fibers)[t_block.current];
  self.done = true;
  swapcontext(&self.context, &t_block.scheduler);
  Die("a finished thread was resumed");
}

// Kept out of line: getcontext returns twice, which must not touch the
// caller's locals.
__attribute__((noinline)) void StartFiber(Fiber& f) {
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = f.stack.get();
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = nullptr;
  makecontext(&f.context, FiberMain, 0);
  f.done = false;
}

void Yield() {
  if (t_block.fibers == nullptr) Die("__syncthreads() outside a kernel");
  swapcontext(&(*t_block.fibers)[t_block.current].context, &t_block.scheduler);
}

}  // namespace

void SyncThreads() { Yield(); }

void SyncWarp() {
  if (blockDim.x * blockDim.y * blockDim.z > 32) {
    Die("__syncwarp() in a block of more than one warp is not emulated");
  }
  Yield();
}

void* DynamicShared() { return t_block.shared.data(); }

void SetMaxDynamicShared(const void* kernel, int bytes) {
  std::lock_guard<std::mutex> lock(LaunchMutex());
  SharedLimits()[kernel] = bytes;
}

cudaError_t RunGrid(const void* kernel, dim3 grid, dim3 block, size_t smem,
                    const std::function<void()>& body) {
  const uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
  cudaError_t error = cudaSuccess;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    error = cudaErrorInvalidConfiguration;
  }
  std::unique_lock<std::mutex> lock(LaunchMutex());
  if (error == cudaSuccess && smem > kDefaultSharedLimit) {
    auto it = SharedLimits().find(kernel);
    const size_t limit = it == SharedLimits().end() ? kDefaultSharedLimit : it->second;
    if (smem > limit || smem > kOptinSharedLimit) error = cudaErrorInvalidValue;
  }
  if (error != cudaSuccess) {
    lock.unlock();
    RecordError(error);
    return error;
  }
  if (t_block.fibers != nullptr) Die("a kernel launched from inside a kernel");
  std::vector<Fiber> fibers(threads);
  for (Fiber& f : fibers) f.stack.reset(new char[kStackBytes]);
  t_block.fibers = &fibers;
  t_block.body = &body;
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz) {
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = Index(bx, by, bz);
        // Shared memory starts as garbage (NaN floats), as on a GPU.
        t_block.shared.assign(smem, 0xff);
        for (Fiber& f : fibers) StartFiber(f);
        // Round robin: each round runs every live thread up to its next
        // barrier (or its end), which is exactly a barrier's semantics.
        // Alternate directions, so that a missing barrier shows: some
        // thread then reads shared data before its writer ran.
        bool live = true;
        for (uint64_t round = 0; live; ++round) {
          live = false;
          for (uint64_t k = 0; k < threads; ++k) {
            const uint64_t i = (round + bx) % 2 == 0 ? k : threads - 1 - k;
            if (fibers[i].done) continue;
            t_block.current = static_cast<int>(i);
            threadIdx = Index(static_cast<unsigned>(i % block.x),
                              static_cast<unsigned>(i / block.x % block.y),
                              static_cast<unsigned>(i / (block.x * block.y)));
            swapcontext(&t_block.scheduler, &fibers[i].context);
            if (!fibers[i].done) live = true;
          }
        }
      }
    }
  }
  t_block.fibers = nullptr;
  t_block.body = nullptr;
  return cudaSuccess;
}

}  // namespace emulation
}  // namespace cuda
}  // namespace slayer
