#include "slayer/cuda/cuda_check.h"

#include "absl/strings/str_cat.h"

namespace slayer {
namespace cuda {

const char* CublasStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_(unknown)";
}

namespace internal {

absl::Status ErrorStatus(cudaError_t e, const char* expr, const char* file, int line) {
  return absl::InternalError(absl::StrCat(file, ":", line, ": `", expr, "` failed: ",
                                          cudaGetErrorName(e), " (", cudaGetErrorString(e),
                                          ")"));
}

absl::Status ErrorStatus(cublasStatus_t e, const char* expr, const char* file, int line) {
  return absl::InternalError(absl::StrCat(file, ":", line, ": `", expr, "` failed: ",
                                          CublasStatusName(e), " (", static_cast<int>(e),
                                          ")"));
}

}  // namespace internal
}  // namespace cuda
}  // namespace slayer
