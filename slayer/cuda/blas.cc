#include "slayer/cuda/blas.h"

#include <cublas_v2.h>

#include <vector>

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/device_memory.h"

namespace slayer {
namespace cuda {
namespace {

class ThreadHandles {
 public:
  ~ThreadHandles() {
    // The thread's stream may already be gone: rebind to the default stream
    // first. At process exit the library may be unloading: ignore errors.
    for (cublasHandle_t h : handles_) {
      if (h == nullptr) continue;
      cublasSetStream(h, nullptr);
      cublasDestroy(h);
    }
  }

  absl::StatusOr<cublasHandle_t> Get(int device) {
    if (static_cast<int>(handles_.size()) <= device) handles_.resize(device + 1, nullptr);
    if (handles_[device] == nullptr) {
      cublasHandle_t h = nullptr;
      SLAYER_CUDA_RETURN_IF_ERROR(cublasCreate(&h));
      // FP32 everywhere: TF32 would move results away from the CPU reference.
      SLAYER_CUDA_RETURN_IF_ERROR(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
      handles_[device] = h;
    }
    return handles_[device];
  }

 private:
  std::vector<cublasHandle_t> handles_;
};

thread_local ThreadHandles t_handles;

}  // namespace

absl::StatusOr<cublasHandle_t> CublasHandle(cudaStream_t stream) {
  absl::StatusOr<cublasHandle_t> h = t_handles.Get(CurrentDevice());
  if (!h.ok()) return h.status();
  SLAYER_CUDA_RETURN_IF_ERROR(cublasSetStream(*h, stream));
  return *h;
}

absl::Status RowMajorGemm(const GemmArgs& g, cudaStream_t stream) {
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0) {
    return absl::InvalidArgumentError("RowMajorGemm: negative dimension");
  }
  if (g.m == 0 || g.n == 0 || g.batch == 0) return absl::OkStatus();
  absl::StatusOr<cublasHandle_t> handle = CublasHandle(stream);
  if (!handle.ok()) return handle.status();
  // Row-major C (M x N) is column-major C^T (N x M) = op(B)^T * op(A)^T, and
  // a row-major matrix read column-major is its transpose, so cuBLAS gets
  // (B, A) with the same transpose flags and m, n swapped.
  // Leading dimensions must be >= 1 even where a dimension is 0.
  const int64_t lda = g.lda > 0 ? g.lda : 1, ldb = g.ldb > 0 ? g.ldb : 1,
                ldc = g.ldc > 0 ? g.ldc : 1;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.batch == 1) {
    SLAYER_CUDA_RETURN_IF_ERROR(cublasSgemm_64(*handle, op_b, op_a, g.n, g.m, g.k, &g.alpha,
                                               g.b, ldb, g.a, lda, &g.beta, g.c, ldc));
  } else {
    SLAYER_CUDA_RETURN_IF_ERROR(cublasSgemmStridedBatched_64(
        *handle, op_b, op_a, g.n, g.m, g.k, &g.alpha, g.b, ldb, g.stride_b, g.a, lda, g.stride_a,
        &g.beta, g.c, ldc, g.stride_c, g.batch));
  }
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
