// Collective operations for data-parallel training. The trainer sums
// gradients and metrics across ranks through this interface before every
// optimiser step; implementations: a single process (nothing to do), threads
// in one process (tests), MPI across processes and machines
// (slayer/train/mpi_communicator.h) and NCCL for gradients on GPUs
// (slayer/train/nccl_communicator.h).
//
//   std::vector<std::unique_ptr<Communicator>> group = MakeThreadGroup(2);
//   // in thread r:  group[r]->AllReduceSum(absl::MakeSpan(grad, n));
#ifndef SLAYER_TRAIN_COMMUNICATOR_H_
#define SLAYER_TRAIN_COMMUNICATOR_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "slayer/core/tensor.h"

namespace slayer {
namespace train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank ends with the element-wise sum over ranks (host buffers of
  // equal length on every rank).
  virtual absl::Status AllReduceSum(absl::Span<float> data) = 0;
  virtual absl::Status AllReduceSum(absl::Span<double> data) = 0;
  // Every rank ends with `root`'s data.
  virtual absl::Status Broadcast(absl::Span<float> data, int root) = 0;

  // Whether AllReduceSumOnDevice takes buffers in `device` memory. The
  // trainer then sums gradients on a GPU in place (NcclCommunicator) instead
  // of copying them to the host for AllReduceSum.
  virtual bool ReducesOnDevice(Device device) const { return false; }
  // AllReduceSum of `n` floats at `data` in `device` memory, in place,
  // ordered after the device work already issued from the calling thread.
  virtual absl::Status AllReduceSumOnDevice(float* data, int64_t n, Device device) {
    return absl::UnimplementedError(
        absl::StrCat("this communicator cannot sum ", DeviceName(device), " buffers"));
  }
};

// size() == 1: every collective is the identity.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  absl::Status AllReduceSum(absl::Span<float>) override { return absl::OkStatus(); }
  absl::Status AllReduceSum(absl::Span<double>) override { return absl::OkStatus(); }
  absl::Status Broadcast(absl::Span<float>, int) override { return absl::OkStatus(); }
};

// `size` communicators whose ranks are threads of this process (each must
// be used by its own thread; collectives block until every rank joins). Sums
// are taken in rank order, so results are deterministic.
std::vector<std::unique_ptr<Communicator>> MakeThreadGroup(int size);

}  // namespace train
}  // namespace slayer

#endif  // SLAYER_TRAIN_COMMUNICATOR_H_
