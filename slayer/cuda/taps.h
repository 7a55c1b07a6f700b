// Device copies of the small host-side kernels that ops take as spans (the
// SRM kernels eps and nu). Each thread keeps the last few kernels it used on
// the device, keyed by their values, so a training step uploads nothing: the
// same eps arrives on every call. The copy is queued on `stream` and the
// pointer stays valid for work queued on that stream afterwards (an evicted
// copy returns to the caching allocator of that stream, so later work on the
// stream cannot overtake earlier readers).
//
//   SLAYER_ASSIGN_OR_RETURN(const float* d_eps, DeviceTaps(eps, stream));
//   SLAYER_RETURN_IF_ERROR(LaunchPsp(..., d_eps, eps.size(), ..., stream));
#ifndef SLAYER_CUDA_TAPS_H_
#define SLAYER_CUDA_TAPS_H_

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace slayer {
namespace cuda {

// A device array holding `taps` (null for an empty span).
absl::StatusOr<const float*> DeviceTaps(absl::Span<const float> taps, cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_TAPS_H_
