// mpi_communicator.h for builds with `--define mpi=off` (no Open MPI on the
// machine): the tool builds and trains in one process; --distributed fails
// with a message that says why.
#include <cstdio>
#include <cstdlib>

#include "slayer/train/mpi_communicator.h"

namespace slayer {
namespace train {
namespace {

absl::Status NoMpi() {
  return absl::UnimplementedError(
      "this binary was built with --define mpi=off and has no MPI; rebuild without it "
      "(Open MPI from tools/setup.sh) to train across processes");
}

}  // namespace

absl::StatusOr<MpiOptions> MpiOptions::FromEnvironment() { return MpiOptions(); }

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Start() { return NoMpi(); }
MpiSession::~MpiSession() = default;
void MpiSession::Abort(int exit_code) {
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

struct MpiCommunicator::State {};
MpiCommunicator::~MpiCommunicator() = default;
absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(const MpiSession&,
                                                                         const MpiOptions&) {
  return NoMpi();
}
absl::Status MpiCommunicator::AllReduceSum(absl::Span<float>) { return NoMpi(); }
absl::Status MpiCommunicator::AllReduceSum(absl::Span<double>) { return NoMpi(); }
absl::Status MpiCommunicator::Broadcast(absl::Span<float>, int) { return NoMpi(); }
absl::Status MpiCommunicator::BroadcastBytes(absl::Span<char>, int) { return NoMpi(); }

}  // namespace train
}  // namespace slayer
