#include "slayer/cuda/stream.h"

#include <vector>

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/device_memory.h"

namespace slayer {
namespace cuda {
namespace {

// This thread's own streams, one per device, drained and destroyed when the
// thread ends; their cached memory then becomes available to other streams.
class ThreadStreams {
 public:
  ~ThreadStreams() {
    for (size_t device = 0; device < streams_.size(); ++device) {
      cudaStream_t s = streams_[device];
      if (s == nullptr) continue;
      // At process exit the runtime may already be shutting down: ignore errors.
      if (cudaStreamSynchronize(s) == cudaSuccess) {
        DeviceMemory(static_cast<int>(device)).ReleaseStream(StreamKey(s));
        cudaStreamDestroy(s);
      }
      cudaGetLastError();
    }
  }

  absl::StatusOr<cudaStream_t> Get(int device) {
    if (static_cast<int>(streams_.size()) <= device) streams_.resize(device + 1, nullptr);
    if (streams_[device] == nullptr) {
      cudaStream_t s = nullptr;
      SLAYER_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams_[device] = s;
    }
    return streams_[device];
  }

 private:
  std::vector<cudaStream_t> streams_;
};

thread_local ThreadStreams t_streams;
thread_local cudaStream_t t_override = nullptr;
thread_local bool t_has_override = false;

}  // namespace

absl::StatusOr<cudaStream_t> CurrentStream() {
  if (t_has_override) return t_override;
  return t_streams.Get(CurrentDevice());
}

absl::Status SynchronizeStream(cudaStream_t stream) {
  SLAYER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

ScopedStream::ScopedStream(cudaStream_t stream)
    : previous_(t_override), had_previous_(t_has_override) {
  t_override = stream;
  t_has_override = true;
}

ScopedStream::~ScopedStream() {
  t_override = previous_;
  t_has_override = had_previous_;
}

}  // namespace cuda
}  // namespace slayer
