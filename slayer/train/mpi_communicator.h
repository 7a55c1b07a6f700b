// Data-parallel training across processes and machines over MPI. MpiSession
// owns MPI's lifetime in the process (MPI_Init_thread .. MPI_Finalize);
// MpiCommunicator is the trainer's Communicator on a duplicate of
// MPI_COMM_WORLD. Every collective runs non-blocking underneath and waits
// with a deadline, so a rank that died, hangs or became unreachable turns
// into DeadlineExceeded naming the collective and the rank instead of a job
// that hangs forever. After any failure the caller ends the job with
// MpiSession::Abort (the other ranks may wait in a collective that can never
// finish; only MPI_Abort reaches them). Launch one process per rank:
//
//   mpirun -np 4 --hostfile hosts slayer train --config C.pbtxt --distributed
//
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<MpiSession> mpi, MpiSession::Start());
//   SLAYER_ASSIGN_OR_RETURN(MpiOptions mpi_options, MpiOptions::FromEnvironment());
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm,
//                           MpiCommunicator::Create(*mpi, mpi_options));
//   trainer_options.comm = comm.get();
//   absl::Status s = Train(trainer_options);
//   if (!s.ok() && comm->size() > 1) mpi->Abort(1);   // does not return
//
// A process started without mpirun is a singleton job of size 1. A build with
// `--define mpi=off` has no MPI: Start() then fails with a message saying so.
#ifndef SLAYER_TRAIN_MPI_COMMUNICATOR_H_
#define SLAYER_TRAIN_MPI_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "slayer/train/communicator.h"

namespace slayer {
namespace train {

struct MpiOptions {
  // Seconds a collective waits for the other ranks before it fails. It also
  // bounds the work one rank does alone between two collectives (rank 0
  // writing checkpoints and pictures), so keep it far above that.
  double timeout_s = 120;

  // Fault injection for tests: rank `fault_rank`, instead of entering its
  // `fault_after`-th collective, exits with status 3 without finalising
  // (kExit) or stops responding (kHang: sleeps until killed).
  enum class Fault { kNone, kExit, kHang };
  Fault fault = Fault::kNone;
  int fault_rank = -1;
  int64_t fault_after = 0;

  // Defaults overridden by the environment: SLAYER_MPI_TIMEOUT_S (seconds,
  // > 0) and SLAYER_MPI_TEST_FAULT ("exit:RANK:N" or "hang:RANK:N"). Fails
  // on malformed values, naming the variable and what it expects.
  static absl::StatusOr<MpiOptions> FromEnvironment();
};

// MPI for this process: initialised by Start(), finalised by the destructor.
// At most one per process (MPI cannot be initialised twice).
class MpiSession {
 public:
  // MPI_Init_thread with MPI_THREAD_FUNNELED: collectives come from the
  // thread that started the session (the trainer's thread pool never calls
  // MPI). MPI errors are returned, not fatal (MPI_ERRORS_RETURN).
  static absl::StatusOr<std::unique_ptr<MpiSession>> Start();
  // MPI_Finalize; MPI_Abort instead when a collective failed in this process
  // (finalising would wait for ranks that never come).
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  // This host's name as MPI knows it (for messages).
  const std::string& host() const { return host_; }

  // Ends every rank of the job with `exit_code` (MPI_Abort on
  // MPI_COMM_WORLD; mpirun stops the others).
  [[noreturn]] void Abort(int exit_code);

 private:
  MpiSession() = default;
  int world_rank_ = 0;
  int world_size_ = 1;
  std::string host_;
};

class MpiCommunicator : public Communicator {
 public:
  // A communicator over all ranks of the session's job (collective: every
  // rank must call it).
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(const MpiSession& session,
                                                                 const MpiOptions& options);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Rank among the processes on this host, and their number (one GPU each).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  absl::Status AllReduceSum(absl::Span<float> data) override;
  absl::Status AllReduceSum(absl::Span<double> data) override;
  absl::Status Broadcast(absl::Span<float> data, int root) override;
  // Raw bytes from `root` to every rank (the NCCL bootstrap id).
  absl::Status BroadcastBytes(absl::Span<char> data, int root);

  // Collectives called so far (including a failed one).
  int64_t collectives() const { return collectives_; }
  double timeout_s() const { return options_.timeout_s; }

 private:
  struct State;  // MPI handles (keeps <mpi.h> out of this header)
  MpiCommunicator(const MpiOptions& options, std::string host);
  absl::Status BeginCollective(const char* what);

  MpiOptions options_;
  std::string host_;
  std::unique_ptr<State> state_;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int64_t collectives_ = 0;
};

}  // namespace train
}  // namespace slayer

#endif  // SLAYER_TRAIN_MPI_COMMUNICATOR_H_
