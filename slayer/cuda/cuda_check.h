// Error handling for CUDA runtime and cuBLAS calls: one macro turns a failed
// call into an absl::InternalError that names the file, the line and the
// expression, and one launches a kernel and checks cudaGetLastError() right
// after it. Host code may include this header (it declares no kernels).
//
//   absl::Status CopyIn(float* dst, const float* src, size_t bytes, cudaStream_t s) {
//     SLAYER_CUDA_RETURN_IF_ERROR(
//         cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
//     SLAYER_CUDA_LAUNCH(ScaleKernel, grid, block, /*smem=*/0, s, dst, n);   // .cu only
//     return absl::OkStatus();
//   }
#ifndef SLAYER_CUDA_CUDA_CHECK_H_
#define SLAYER_CUDA_CUDA_CHECK_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {
namespace internal {

inline bool IsSuccess(cudaError_t e) { return e == cudaSuccess; }
inline bool IsSuccess(cublasStatus_t e) { return e == CUBLAS_STATUS_SUCCESS; }

// "file:line: `expr` failed: cudaErrorX (message)". Clears nothing: a
// sticky error stays visible to the next call, as CUDA intends.
absl::Status ErrorStatus(cudaError_t e, const char* expr, const char* file, int line);
absl::Status ErrorStatus(cublasStatus_t e, const char* expr, const char* file, int line);

}  // namespace internal

// The symbolic name of a cuBLAS status ("CUBLAS_STATUS_NOT_INITIALIZED").
const char* CublasStatusName(cublasStatus_t status);

}  // namespace cuda
}  // namespace slayer

// Returns an InternalError from the enclosing function unless `expr` (a
// cudaError_t or cublasStatus_t) is success.
#define SLAYER_CUDA_RETURN_IF_ERROR(expr)                                           \
  do {                                                                              \
    auto slayer_cuda_rc_ = (expr);                                                  \
    if (!::slayer::cuda::internal::IsSuccess(slayer_cuda_rc_)) {                    \
      return ::slayer::cuda::internal::ErrorStatus(slayer_cuda_rc_, #expr, __FILE__, \
                                                   __LINE__);                       \
    }                                                                               \
  } while (false)

// Launches `kernel<<<grid, block, smem, stream>>>(args...)` and returns an
// InternalError naming the kernel if the launch failed. CUDA sources only
// (and their host build for tests, emulation.h).
#if defined(SLAYER_CUDA_EMULATION)
#define SLAYER_CUDA_KERNEL_CALL_(kernel, grid, block, smem, stream, ...) \
  ::slayer::cuda::emulation::Launch(kernel, (grid), (block), (smem), (stream), __VA_ARGS__)
#else
#define SLAYER_CUDA_KERNEL_CALL_(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#endif
#define SLAYER_CUDA_LAUNCH(kernel, grid, block, smem, stream, ...)                  \
  do {                                                                              \
    SLAYER_CUDA_KERNEL_CALL_(kernel, grid, block, smem, stream, __VA_ARGS__);       \
    cudaError_t slayer_launch_rc_ = cudaGetLastError();                             \
    if (slayer_launch_rc_ != cudaSuccess) {                                         \
      return ::slayer::cuda::internal::ErrorStatus(                                 \
          slayer_launch_rc_, "launch of " #kernel, __FILE__, __LINE__);             \
    }                                                                               \
  } while (false)

#endif  // SLAYER_CUDA_CUDA_CHECK_H_
