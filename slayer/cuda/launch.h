// Launch-shape helpers shared by the CUDA kernels: 64-bit grid sizing for
// element-wise kernels (a grid-stride loop covers anything the grid cannot)
// and the thread index as int64_t. Host code may include this header; the
// device helpers compile only under nvcc.
//
//   constexpr int kThreads = 256;
//   SLAYER_CUDA_LAUNCH(Scale, GridFor(n, kThreads), kThreads, 0, stream, x, n);
//   __global__ void Scale(float* x, int64_t n) {
//     for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) x[i] *= 2.0f;
//   }
#ifndef SLAYER_CUDA_LAUNCH_H_
#define SLAYER_CUDA_LAUNCH_H_

#include <cstdint>

namespace slayer {
namespace cuda {

// Blocks for an element-wise kernel over `n` items: enough to cover n, at
// most kMaxBlocks (grid-stride loops do the rest), at least 1.
inline unsigned int GridFor(int64_t n, int threads) {
  constexpr int64_t kMaxBlocks = int64_t{1} << 20;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  return static_cast<unsigned int>(blocks);
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

#if defined(__CUDACC__) || defined(SLAYER_CUDA_EMULATION)
__device__ __forceinline__ int64_t GlobalThreadIndex() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GridStride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}
#endif

// Dynamic shared memory of a kernel: `SLAYER_DYNAMIC_SHARED(float, smem);`
// declares `smem` (its size is the launch's smem argument).
#if defined(SLAYER_CUDA_EMULATION)
#define SLAYER_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::slayer::cuda::emulation::DynamicShared())
#else
#define SLAYER_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_LAUNCH_H_
