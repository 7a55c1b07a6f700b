// The part of cuBLAS that slayer/cuda uses, on the host, for the emulated
// tests (emulation.h): handles and a column-major reference SGEMM that
// rejects arguments real cuBLAS rejects (leading dimensions too small), so
// that blas.cc's row-major mapping is checked, and that never reads C when
// beta is 0 (C may hold garbage).
#include <cublas_api.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace {

cublasHandle_t NewHandle() {
  static std::atomic<uintptr_t> next{0x20000};
  return reinterpret_cast<cublasHandle_t>(next.fetch_add(0x100));
}

cublasStatus_t Gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                    const float* alpha, const float* a, int64_t lda, long long stride_a,
                    const float* b, int64_t ldb, long long stride_b, const float* beta, float* c,
                    int64_t ldc, long long stride_c, int64_t batch) {
  if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool na = ta == CUBLAS_OP_N, nb = tb == CUBLAS_OP_N;
  if (lda < std::max<int64_t>(1, na ? m : k) || ldb < std::max<int64_t>(1, nb ? k : n) ||
      ldc < std::max<int64_t>(1, m)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  for (int64_t p = 0; p < batch; ++p) {
    const float* ap = a + p * stride_a;
    const float* bp = b + p * stride_b;
    float* cp = c + p * stride_c;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < m; ++i) {
        double sum = 0.0;
        for (int64_t l = 0; l < k; ++l) {
          const float av = na ? ap[i + l * lda] : ap[l + i * lda];
          const float bv = nb ? bp[l + j * ldb] : bp[j + l * ldb];
          sum += static_cast<double>(av) * bv;
        }
        float& out = cp[i + j * ldc];
        const float scaled = static_cast<float>(*alpha * sum);
        out = *beta == 0.0f ? scaled : scaled + *beta * out;
      }
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = NewHandle();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t /*handle*/) { return CUBLAS_STATUS_SUCCESS; }

cublasStatus_t cublasSetStream_v2(cublasHandle_t /*handle*/, cudaStream_t /*stream*/) {
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t /*handle*/, cublasMath_t /*mode*/) {
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2_64(cublasHandle_t /*handle*/, cublasOperation_t transa,
                                 cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                 const float* alpha, const float* A, int64_t lda, const float* B,
                                 int64_t ldb, const float* beta, float* C, int64_t ldc) {
  return Gemm(transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t /*handle*/, cublasOperation_t transa,
                                            cublasOperation_t transb, int64_t m, int64_t n,
                                            int64_t k, const float* alpha, const float* A,
                                            int64_t lda, long long int strideA, const float* B,
                                            int64_t ldb, long long int strideB,
                                            const float* beta, float* C, int64_t ldc,
                                            long long int strideC, int64_t batchCount) {
  return Gemm(transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
              strideC, batchCount);
}

}  // extern "C"
