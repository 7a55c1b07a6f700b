// The CUDA stream that work issued from the calling thread runs on. Each
// thread gets its own non-blocking stream per device, created on first use
// and destroyed (after draining) when the thread ends, so threads never
// serialise on the legacy default stream. ScopedStream points the thread at
// another stream for a scope (a loader's copy stream, a benchmark's stream).
// Every kernel launch, copy and cuBLAS call in slayer/cuda takes the stream
// explicitly from here.
//
//   SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
//   SLAYER_RETURN_IF_ERROR(LaunchPspForward(..., stream));
//   SLAYER_RETURN_IF_ERROR(SynchronizeStream(stream));   // before reading on the host
#ifndef SLAYER_CUDA_STREAM_H_
#define SLAYER_CUDA_STREAM_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace slayer {
namespace cuda {

// The calling thread's stream on its current device.
absl::StatusOr<cudaStream_t> CurrentStream();

// Blocks the host until `stream` has finished all queued work.
absl::Status SynchronizeStream(cudaStream_t stream);

// Makes CurrentStream() return `stream` on this thread until destruction
// (nests; the caller owns `stream` and keeps it alive).
class ScopedStream {
 public:
  explicit ScopedStream(cudaStream_t stream);
  ~ScopedStream();
  ScopedStream(const ScopedStream&) = delete;
  ScopedStream& operator=(const ScopedStream&) = delete;

 private:
  cudaStream_t previous_;
  bool had_previous_;
};

// A stream as the caching allocator's key.
inline uintptr_t StreamKey(cudaStream_t stream) { return reinterpret_cast<uintptr_t>(stream); }

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_STREAM_H_
