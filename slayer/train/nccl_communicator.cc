#include "slayer/train/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "slayer/core/status.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/device.h"
#include "slayer/cuda/stream.h"

namespace slayer {
namespace train {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "<where>: `expr` failed: <NCCL's name> (<NCCL's last message>)".
absl::Status NcclError(ncclResult_t result, const char* expr, const std::string& where) {
  const char* last = ncclGetLastError(nullptr);
  return absl::InternalError(absl::StrCat(where, ": `", expr, "` failed: ",
                                          ncclGetErrorString(result),
                                          last != nullptr && *last != 0
                                              ? absl::StrCat(" (", last, ")")
                                              : std::string()));
}

}  // namespace

#define SLAYER_NCCL_RETURN_IF_ERROR(expr, where)                                    \
  do {                                                                              \
    const ncclResult_t slayer_nccl_rc_ = (expr);                                    \
    if (slayer_nccl_rc_ != ncclSuccess) return NcclError(slayer_nccl_rc_, #expr, where); \
  } while (false)

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
};

NcclCommunicator::NcclCommunicator(MpiCommunicator* mpi, int device)
    : mpi_(mpi), device_(device), state_(std::make_unique<State>()) {}

NcclCommunicator::~NcclCommunicator() {
  if (state_->comm == nullptr) return;
  if (failed_) {
    ncclCommAbort(state_->comm);
  } else {
    ncclCommDestroy(state_->comm);
  }
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(MpiCommunicator* mpi) {
  if (mpi == nullptr) return absl::InvalidArgumentError("NcclCommunicator::Create: no MPI");
  const std::string where = absl::StrCat("NCCL on rank ", mpi->rank(), " of ", mpi->size());
  const int count = cuda::DeviceCount();
  if (count == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": no CUDA device (", cuda::NoDeviceReason(), ")"));
  }
  if (mpi->local_size() > count) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": this host runs ", mpi->local_size(), " ranks but has ", count,
        " CUDA device(s); NCCL needs a GPU per rank (start at most ", count,
        " ranks per host, e.g. mpirun --map-by ppr:", count, ":node)"));
  }
  const int device = mpi->local_rank();
  SLAYER_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (mpi->rank() == 0) SLAYER_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id), where);
  SLAYER_RETURN_IF_ERROR(mpi->BroadcastBytes(absl::MakeSpan(id.internal, sizeof(id.internal)), 0));
  std::unique_ptr<NcclCommunicator> c(new NcclCommunicator(mpi, device));
  SLAYER_NCCL_RETURN_IF_ERROR(ncclCommInitRank(&c->state_->comm, mpi->size(), id, mpi->rank()),
                              where);
  return c;
}

absl::Status NcclCommunicator::AllReduceSumOnDevice(float* data, int64_t n, Device device) {
  const std::string where = absl::StrCat("NCCL all-reduce of ", n, " floats on rank ", rank(),
                                         " of ", size(), " (GPU ", device_, ")");
  if (device != Device::kCuda) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the buffer is in ", DeviceName(device), " memory, expected cuda"));
  }
  if (failed_) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": an earlier NCCL collective failed; the job must end"));
  }
  if (n == 0) return absl::OkStatus();
  SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, cuda::CurrentStream());
  SLAYER_NCCL_RETURN_IF_ERROR(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat,
                                            ncclSum, state_->comm, stream),
                              where);
  // Wait with a deadline: a blocking synchronise would hang forever on a
  // peer that stalled. Spin first, then sleep between polls.
  const double start = Now(), timeout_s = mpi_->timeout_s();
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaSuccess) return absl::OkStatus();
    if (e != cudaErrorNotReady) {
      failed_ = true;
      return cuda::internal::ErrorStatus(e, "cudaStreamQuery after ncclAllReduce", __FILE__,
                                         __LINE__);
    }
    ncclResult_t async = ncclSuccess;
    SLAYER_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(state_->comm, &async), where);
    if (async != ncclSuccess && async != ncclInProgress) {
      failed_ = true;
      return NcclError(async, "ncclAllReduce (asynchronous error)", where);
    }
    const double waited = Now() - start;
    if (waited >= timeout_s) {
      failed_ = true;
      ncclCommAbort(state_->comm);
      state_->comm = nullptr;
      return absl::DeadlineExceededError(absl::StrFormat(
          "%s did not complete within %.4g s: another rank died, hangs or is unreachable "
          "(the limit is SLAYER_MPI_TIMEOUT_S)",
          where, timeout_s));
    }
    if (waited < 0.05) {
      sched_yield();
    } else {
      usleep(500);
    }
  }
}

}  // namespace train
}  // namespace slayer
