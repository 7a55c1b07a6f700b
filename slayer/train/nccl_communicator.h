// Gradients summed on the GPU with NCCL, for `slayer train --distributed
// --device cuda`: one process per GPU, the ranks on a host taking its
// devices in order (local rank r: GPU r of CUDA_VISIBLE_DEVICES). NCCL is
// bootstrapped over MPI (rank 0's ncclUniqueId is broadcast); host
// collectives (the per-batch metrics, the initial parameter broadcast) stay
// on the MPI communicator, while device buffers are summed in place by
// ncclAllReduce on the calling thread's stream (slayer/cuda/stream.h), after
// the backward kernels already queued there. The wait has MPI's deadline: a
// peer that stalls turns into DeadlineExceeded (and an aborted NCCL
// communicator), not a hang.
//
//   // before the trainer moves the model to this rank's GPU:
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
//                           NcclCommunicator::Create(mpi_comm.get()));
//   trainer_options.comm = nccl.get();
//   trainer_options.device = Device::kCuda;
#ifndef SLAYER_TRAIN_NCCL_COMMUNICATOR_H_
#define SLAYER_TRAIN_NCCL_COMMUNICATOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "slayer/train/communicator.h"
#include "slayer/train/mpi_communicator.h"

namespace slayer {
namespace train {

class NcclCommunicator : public Communicator {
 public:
  // Selects this rank's GPU (cudaSetDevice, for the calling thread) and
  // joins the NCCL communicator of all of `mpi`'s ranks (collective). Fails
  // with the reason when there is no CUDA device. `mpi` must outlive this.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(MpiCommunicator* mpi);
  ~NcclCommunicator() override;  // ncclCommDestroy (ncclCommAbort after a failure)

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  // Host buffers: MPI.
  absl::Status AllReduceSum(absl::Span<float> data) override { return mpi_->AllReduceSum(data); }
  absl::Status AllReduceSum(absl::Span<double> data) override { return mpi_->AllReduceSum(data); }
  absl::Status Broadcast(absl::Span<float> data, int root) override {
    return mpi_->Broadcast(data, root);
  }
  // Device buffers: NCCL.
  bool ReducesOnDevice(Device device) const override { return device == Device::kCuda; }
  absl::Status AllReduceSumOnDevice(float* data, int64_t n, Device device) override;

  int device_ordinal() const { return device_; }

 private:
  struct State;  // the ncclComm_t (keeps <nccl.h> out of this header)
  NcclCommunicator(MpiCommunicator* mpi, int device);

  MpiCommunicator* mpi_;
  int device_;
  std::unique_ptr<State> state_;
  bool failed_ = false;
};

}  // namespace train
}  // namespace slayer

#endif  // SLAYER_TRAIN_NCCL_COMMUNICATOR_H_
