// cuBLAS for row-major tensors: one handle per thread and device (created on
// first use, bound to the stream of each call) and a strided-batched SGEMM
// written in row-major terms, so callers never juggle cuBLAS's column-major
// view. Plain FP32 math (no TF32), so results track the CPU reference.
//
//   // C[b] (M x N) = A[b] (M x K) * B[b] (K x N), b < batch, all row-major:
//   GemmArgs g;  g.m = M;  g.n = N;  g.k = K;
//   g.a = a;  g.lda = K;  g.stride_a = M * K;
//   g.b = b;  g.ldb = N;  g.stride_b = 0;        // one B shared by the batch
//   g.c = c;  g.ldc = N;  g.stride_c = M * N;  g.batch = batch;
//   SLAYER_RETURN_IF_ERROR(RowMajorGemm(g, stream));
#ifndef SLAYER_CUDA_BLAS_H_
#define SLAYER_CUDA_BLAS_H_

#include <cstdint>

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace slayer {
namespace cuda {

// This thread's cuBLAS handle for the current device, bound to `stream`.
absl::StatusOr<cublasHandle_t> CublasHandle(cudaStream_t stream);

// C = alpha * op(A) * op(B) + beta * C for `batch` matrices, row-major.
// op(A) is M x K (A is stored K x M when trans_a), op(B) is K x N (B is
// stored N x K when trans_b); ld* are row pitches in elements, stride_* the
// element distance between consecutive matrices of the batch (0 = shared).
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const float* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
};
absl::Status RowMajorGemm(const GemmArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_BLAS_H_
