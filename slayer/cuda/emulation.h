// A CUDA emulator for tests on machines without a GPU: the kernel sources
// (*_kernels.cu) compile as C++ with -DSLAYER_CUDA_EMULATION and this header
// force-included (-include), and run on the host. Every CUDA thread of a
// block is a fiber; __syncthreads() switches to the next fiber, so barrier
// semantics hold exactly, blocks run one after another, and __shared__
// variables become statics (one block at a time). A small fake of the CUDA
// runtime and cuBLAS (fake_cudart.cc, fake_cublas.cc: host memory, one
// device "sm_90", a column-major reference SGEMM that checks cuBLAS's
// argument rules) stands in for the libraries, so the host code of the
// backend and the ops runs unchanged. Not a performance model and not a race
// detector: it checks indexing, barriers, launch configurations and the
// glue, against the CPU reference. Launches are serialised process-wide.
//
//   // BUILD: cc_library(srcs = ["psp_kernels_emulated.cc"] (a copy of the .cu),
//   //                   copts = ["-DSLAYER_CUDA_EMULATION", "-include", "slayer/cuda/emulation.h"])
//   SLAYER_CUDA_LAUNCH(PspKernel<false>, blocks, 256, 0, stream, ...);   // runs on the host
#ifndef SLAYER_CUDA_EMULATION_H_
#define SLAYER_CUDA_EMULATION_H_

#if defined(SLAYER_CUDA_EMULATION) && !defined(__CUDACC__)

// Before the CUDA headers, which define these only when undefined.
#if defined(__HOST_DEFINES_H__)
#error "slayer/cuda/emulation.h must come before any CUDA header"
#endif
#define __shared__ static
#define __launch_bounds__(...)

#include <cuda_runtime_api.h>
#include <vector_types.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <utility>

// The built-in index variables of the fiber that runs.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;

namespace slayer {
namespace cuda {
namespace emulation {

// Switches to the next thread of the block (all reach the barrier first).
void SyncThreads();
// The launch's dynamic shared memory (fresh garbage for every block).
void* DynamicShared();
// Runs `body` once per thread of every block of the grid. Checks the launch
// configuration as the driver would (block size, grid size, dynamic shared
// memory against the kernel's limit) and returns the error it would.
cudaError_t RunGrid(const void* kernel, dim3 grid, dim3 block, size_t smem,
                    const std::function<void()>& body);

// Barrier of the block for __syncwarp; fails loudly in blocks of more than
// one warp, where the emulator cannot tell warps apart.
void SyncWarp();
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize).
void SetMaxDynamicShared(const void* kernel, int bytes);
// Makes `e` the runtime's last error (cudaGetLastError).
void RecordError(cudaError_t e);

// `kernel<<<grid, block, smem, stream>>>(args...)`: arguments are copied
// into the kernel's parameter types first, as CUDA does.
template <typename... Params, typename... Args>
cudaError_t Launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t /*stream*/, Args&&... args) {
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  return RunGrid(reinterpret_cast<const void*>(kernel), grid, block, smem,
                 [&] { std::apply(kernel, params); });
}

}  // namespace emulation
}  // namespace cuda
}  // namespace slayer

inline void __syncthreads() { ::slayer::cuda::emulation::SyncThreads(); }
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) { ::slayer::cuda::emulation::SyncWarp(); }

#endif  // SLAYER_CUDA_EMULATION && !__CUDACC__

#endif  // SLAYER_CUDA_EMULATION_H_
