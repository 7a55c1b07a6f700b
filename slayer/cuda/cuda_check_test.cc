#include "slayer/cuda/cuda_check.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slayer {
namespace cuda {
namespace {

absl::Status Passes() {
  SLAYER_CUDA_RETURN_IF_ERROR(cudaSuccess);
  SLAYER_CUDA_RETURN_IF_ERROR(CUBLAS_STATUS_SUCCESS);
  return absl::OkStatus();
}

int cuda_line = 0, cublas_line = 0;

absl::Status FailsWithCuda() {
  cuda_line = __LINE__ + 1;
  SLAYER_CUDA_RETURN_IF_ERROR(cudaErrorInvalidValue);
  return absl::OkStatus();
}

absl::Status FailsWithCublas() {
  cublas_line = __LINE__ + 1;
  SLAYER_CUDA_RETURN_IF_ERROR(CUBLAS_STATUS_NOT_INITIALIZED);
  return absl::OkStatus();
}

TEST(CudaCheck, SuccessPassesThrough) { EXPECT_TRUE(Passes().ok()); }

TEST(CudaCheck, CudaErrorBecomesInternalWithFileLineAndExpression) {
  absl::Status s = FailsWithCuda();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  const std::string m(s.message());
  EXPECT_NE(m.find(absl::StrCat("cuda_check_test.cc:", cuda_line, ": ")), std::string::npos) << m;
  EXPECT_NE(m.find("`cudaErrorInvalidValue`"), std::string::npos) << m;
  EXPECT_NE(m.find("failed: cudaErrorInvalidValue"), std::string::npos) << m;
}

TEST(CudaCheck, CublasErrorNamesTheStatus) {
  absl::Status s = FailsWithCublas();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  const std::string m(s.message());
  EXPECT_NE(m.find(absl::StrCat("cuda_check_test.cc:", cublas_line, ": ")), std::string::npos) << m;
  EXPECT_NE(m.find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << m;
}

TEST(CudaCheck, CublasStatusNames) {
  EXPECT_STREQ(CublasStatusName(CUBLAS_STATUS_ALLOC_FAILED), "CUBLAS_STATUS_ALLOC_FAILED");
  EXPECT_STREQ(CublasStatusName(static_cast<cublasStatus_t>(12345)), "CUBLAS_STATUS_(unknown)");
}

}  // namespace
}  // namespace cuda
}  // namespace slayer
