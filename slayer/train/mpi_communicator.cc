#include "slayer/train/mpi_communicator.h"

#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace slayer {
namespace train {
namespace {

// Set when a collective failed or timed out in this process: its request may
// still be pending and the other ranks may be stuck, so MPI_Finalize (which
// synchronises with them) could wait forever; the session aborts instead.
std::atomic<bool> collective_failed{false};
bool session_started = false;

// MPI counts are int: larger buffers go in chunks of this many elements.
constexpr int64_t kMaxChunk = int64_t{1} << 30;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string MpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return absl::StrCat("MPI error ", code);
  return std::string(text, length);
}

// Where a collective ran, for messages: "rank 1 of 4 on host h, collective #17".
struct Where {
  int rank;
  int size;
  const std::string& host;
  int64_t index;
  std::string Describe() const {
    return absl::StrCat("rank ", rank, " of ", size, " on host ", host, ", collective #", index);
  }
};

// Polls `request` until it completes, fails, or `timeout_s` passes. A
// collective progresses only inside MPI calls, so it spins for a moment; a
// longer wait (a slower rank) then sleeps between polls, backing off to 1 ms,
// so that it does not take a core from ranks on the same host.
absl::Status Wait(MPI_Request* request, const std::string& what, const Where& where,
                  double timeout_s) {
  const double start = Now();
  useconds_t pause_us = 20;
  for (;;) {
    int done = 0;
    const int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      collective_failed = true;
      return absl::UnavailableError(absl::StrCat(what, " failed (", where.Describe(),
                                                 "): ", MpiErrorString(rc)));
    }
    if (done) return absl::OkStatus();
    const double waited = Now() - start;
    if (waited >= timeout_s) {
      collective_failed = true;
      return absl::DeadlineExceededError(absl::StrFormat(
          "%s did not complete within %.4g s (%s): another rank died, hangs or is unreachable "
          "(the limit is SLAYER_MPI_TIMEOUT_S)",
          what, timeout_s, where.Describe()));
    }
    if (waited < 0.001) {
      sched_yield();
    } else {
      usleep(pause_us);
      pause_us = std::min<useconds_t>(1000, 2 * pause_us);
    }
  }
}

// Starts one non-blocking collective per chunk of at most kMaxChunk elements
// (`start(offset, count, request)`) and waits for each.
template <typename StartFn>
absl::Status Chunked(int64_t n, const std::string& what, const Where& where, double timeout_s,
                     StartFn start) {
  for (int64_t offset = 0; offset < n; offset += kMaxChunk) {
    const int count = static_cast<int>(std::min(kMaxChunk, n - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    const int rc = start(offset, count, &request);
    if (rc != MPI_SUCCESS) {
      collective_failed = true;
      return absl::UnavailableError(absl::StrCat(what, " could not start (", where.Describe(),
                                                 "): ", MpiErrorString(rc)));
    }
    absl::Status s = Wait(&request, what, where, timeout_s);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MpiOptions> MpiOptions::FromEnvironment() {
  MpiOptions o;
  if (const char* text = std::getenv("SLAYER_MPI_TIMEOUT_S"); text != nullptr && *text != 0) {
    double seconds = 0;
    if (!absl::SimpleAtod(text, &seconds) || !std::isfinite(seconds) || seconds <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SLAYER_MPI_TIMEOUT_S='", text, "': expected a number of seconds > 0, e.g. 120"));
    }
    o.timeout_s = seconds;
  }
  if (const char* text = std::getenv("SLAYER_MPI_TEST_FAULT"); text != nullptr && *text != 0) {
    std::vector<std::string> parts = absl::StrSplit(text, ':');
    int rank = -1;
    int64_t after = 0;
    if (parts.size() != 3 || (parts[0] != "exit" && parts[0] != "hang") ||
        !absl::SimpleAtoi(parts[1], &rank) || rank < 0 || !absl::SimpleAtoi(parts[2], &after) ||
        after < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("SLAYER_MPI_TEST_FAULT='", text,
                       "': expected exit:RANK:N or hang:RANK:N (RANK >= 0, N >= 1)"));
    }
    o.fault = parts[0] == "exit" ? Fault::kExit : Fault::kHang;
    o.fault_rank = rank;
    o.fault_after = after;
  }
  return o;
}

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Start() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized || session_started) {
    return absl::FailedPreconditionError(
        "MpiSession::Start: MPI was already initialised in this process (one session per "
        "process)");
  }
  int provided = 0;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("MPI_Init_thread failed: ", MpiErrorString(rc)));
  }
  session_started = true;
  std::unique_ptr<MpiSession> session(new MpiSession());
  if (provided < MPI_THREAD_FUNNELED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "MPI_Init_thread: the MPI library provides thread level ", provided,
        ", below MPI_THREAD_FUNNELED (", MPI_THREAD_FUNNELED, ") which the trainer needs"));
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &session->world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &session->world_size_);
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  if (MPI_Get_processor_name(name, &length) == MPI_SUCCESS) {
    session->host_.assign(name, length);
  } else {
    session->host_ = "?";
  }
  return session;
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (collective_failed) Abort(1);
  MPI_Finalize();
}

void MpiSession::Abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return
}

struct MpiCommunicator::State {
  MPI_Comm comm = MPI_COMM_NULL;
};

MpiCommunicator::MpiCommunicator(const MpiOptions& options, std::string host)
    : options_(options), host_(std::move(host)), state_(std::make_unique<State>()) {}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (state_->comm != MPI_COMM_NULL && !finalized && !collective_failed) {
    MPI_Comm_free(&state_->comm);
  }
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(
    const MpiSession& session, const MpiOptions& options) {
  if (!(options.timeout_s > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("MpiCommunicator: timeout_s must be > 0, got ", options.timeout_s));
  }
  std::unique_ptr<MpiCommunicator> c(new MpiCommunicator(options, session.host()));
  c->rank_ = session.world_rank();
  c->size_ = session.world_size();
  const Where where{c->rank_, c->size_, c->host_, 0};
  // A private duplicate of the world: our collectives never match another
  // library's messages.
  MPI_Request request = MPI_REQUEST_NULL;
  int rc = MPI_Comm_idup(MPI_COMM_WORLD, &c->state_->comm, &request);
  if (rc != MPI_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("MPI_Comm_idup failed (", where.Describe(),
                                               "): ", MpiErrorString(rc)));
  }
  absl::Status s = Wait(&request, "MPI_Comm_idup", where, options.timeout_s);
  if (!s.ok()) return s;
  MPI_Comm_set_errhandler(c->state_->comm, MPI_ERRORS_RETURN);
  // Ranks on the same host (by name) share its GPUs: local rank = the number
  // of lower ranks on this host.
  std::vector<char> names(static_cast<size_t>(c->size_) * MPI_MAX_PROCESSOR_NAME, 0);
  char* mine = names.data() + static_cast<size_t>(c->rank_) * MPI_MAX_PROCESSOR_NAME;
  std::strncpy(mine, c->host_.c_str(), MPI_MAX_PROCESSOR_NAME - 1);
  rc = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, names.data(), MPI_MAX_PROCESSOR_NAME,
                      MPI_CHAR, c->state_->comm, &request);
  if (rc != MPI_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("MPI_Iallgather of host names failed (",
                                               where.Describe(), "): ", MpiErrorString(rc)));
  }
  s = Wait(&request, "MPI_Iallgather of host names", where, options.timeout_s);
  if (!s.ok()) return s;
  c->local_rank_ = 0;
  c->local_size_ = 0;
  for (int r = 0; r < c->size_; ++r) {
    if (std::strncmp(names.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME, mine,
                     MPI_MAX_PROCESSOR_NAME) == 0) {
      c->local_rank_ += r < c->rank_;
      ++c->local_size_;
    }
  }
  return c;
}

absl::Status MpiCommunicator::BeginCollective(const char* what) {
  ++collectives_;
  if (options_.fault != MpiOptions::Fault::kNone && rank_ == options_.fault_rank &&
      collectives_ == options_.fault_after) {
    const bool exit = options_.fault == MpiOptions::Fault::kExit;
    std::fprintf(stderr,
                 "slayer: rank %d: SLAYER_MPI_TEST_FAULT: %s instead of collective #%lld (%s)\n",
                 rank_, exit ? "exiting with status 3" : "hanging",
                 static_cast<long long>(collectives_), what);
    std::fflush(stderr);
    if (exit) std::_Exit(3);
    for (;;) pause();
  }
  if (collective_failed) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " (rank ", rank_, " of ", size_,
        "): an earlier collective failed; the job must end (MpiSession::Abort)"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllReduceSum(absl::Span<float> data) {
  absl::Status s = BeginCollective("all-reduce");
  if (!s.ok()) return s;
  const Where where{rank_, size_, host_, collectives_};
  const std::string what = absl::StrCat("MPI_Iallreduce (sum) of ", data.size(), " floats");
  MPI_Comm comm = state_->comm;
  return Chunked(static_cast<int64_t>(data.size()), what, where, options_.timeout_s,
                 [&](int64_t offset, int count, MPI_Request* request) {
                   return MPI_Iallreduce(MPI_IN_PLACE, data.data() + offset, count, MPI_FLOAT,
                                         MPI_SUM, comm, request);
                 });
}

absl::Status MpiCommunicator::AllReduceSum(absl::Span<double> data) {
  absl::Status s = BeginCollective("all-reduce");
  if (!s.ok()) return s;
  const Where where{rank_, size_, host_, collectives_};
  const std::string what = absl::StrCat("MPI_Iallreduce (sum) of ", data.size(), " doubles");
  MPI_Comm comm = state_->comm;
  return Chunked(static_cast<int64_t>(data.size()), what, where, options_.timeout_s,
                 [&](int64_t offset, int count, MPI_Request* request) {
                   return MPI_Iallreduce(MPI_IN_PLACE, data.data() + offset, count, MPI_DOUBLE,
                                         MPI_SUM, comm, request);
                 });
}

absl::Status MpiCommunicator::Broadcast(absl::Span<float> data, int root) {
  absl::Status s = BeginCollective("broadcast");
  if (!s.ok()) return s;
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: root ", root, " is not a rank of a job of size ", size_));
  }
  const Where where{rank_, size_, host_, collectives_};
  const std::string what =
      absl::StrCat("MPI_Ibcast of ", data.size(), " floats from rank ", root);
  MPI_Comm comm = state_->comm;
  return Chunked(static_cast<int64_t>(data.size()), what, where, options_.timeout_s,
                 [&](int64_t offset, int count, MPI_Request* request) {
                   return MPI_Ibcast(data.data() + offset, count, MPI_FLOAT, root, comm, request);
                 });
}

absl::Status MpiCommunicator::BroadcastBytes(absl::Span<char> data, int root) {
  absl::Status s = BeginCollective("broadcast");
  if (!s.ok()) return s;
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("BroadcastBytes: root ", root, " is not a rank of a job of size ", size_));
  }
  const Where where{rank_, size_, host_, collectives_};
  const std::string what = absl::StrCat("MPI_Ibcast of ", data.size(), " bytes from rank ", root);
  MPI_Comm comm = state_->comm;
  return Chunked(static_cast<int64_t>(data.size()), what, where, options_.timeout_s,
                 [&](int64_t offset, int count, MPI_Request* request) {
                   return MPI_Ibcast(data.data() + offset, count, MPI_CHAR, root, comm, request);
                 });
}

}  // namespace train
}  // namespace slayer
