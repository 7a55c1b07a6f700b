#include "slayer/cuda/psp_kernels.h"

#include "absl/strings/str_cat.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;    // outputs per block
constexpr int kTapChunk = 1024;  // taps staged in shared memory at a time

__device__ __forceinline__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Each block computes the outputs at flat indices [base, base + kThreads)
// (one thread each; a block may span rows). For every chunk of taps it
// stages the inputs those outputs can reach; the per-thread limits
// (k <= t forward, t + k < steps backward) keep every read inside the row.
template <bool kBackward>
__global__ void __launch_bounds__(kThreads)
    PspKernel(const float* __restrict__ x, float* __restrict__ out, int64_t total,
              int64_t steps, const float* __restrict__ taps, int64_t num_taps, float scale) {
  __shared__ float s_taps[kTapChunk];
  __shared__ float s_x[kThreads + kTapChunk - 1];
  const int local = threadIdx.x;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kThreads;
  const int64_t i = base + local;
  const bool active = i < total;
  const int64_t t = active ? i % steps : 0;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < num_taps; k0 += kTapChunk) {
    const int kc = static_cast<int>(Min64(kTapChunk, num_taps - k0));
    __syncthreads();  // the previous chunk's readers are done
    for (int j = local; j < kc; j += kThreads) s_taps[j] = taps[k0 + j];
    // Forward reads x[i - k], k in [k0, k0 + kc): flat [base - k0 - kc + 1, base + kThreads - k0).
    // Backward reads x[i + k]:                     flat [base + k0, base + kThreads + k0 + kc - 1).
    const int64_t first = kBackward ? base + k0 : base - k0 - (kc - 1);
    const int window = kThreads + kc - 1;
    for (int j = local; j < window; j += kThreads) {
      const int64_t g = first + j;
      s_x[j] = (g >= 0 && g < total) ? x[g] : 0.0f;
    }
    __syncthreads();
    if (active) {
      if (!kBackward) {
        const int64_t last = Min64(kc - 1, t - k0);  // k - k0 <= t - k0
        for (int kk = 0; kk <= last; ++kk) acc += s_taps[kk] * s_x[local + kc - 1 - kk];
      } else {
        const int64_t last = Min64(kc - 1, steps - 1 - t - k0);  // t + k <= steps - 1
        for (int kk = 0; kk <= last; ++kk) acc += s_taps[kk] * s_x[local + kk];
      }
    }
  }
  if (active) out[i] = scale * acc;
}

template <bool kBackward>
absl::Status Launch(const float* x, float* out, int64_t rows, int64_t steps, const float* taps,
                    int64_t num_taps, float scale, cudaStream_t stream) {
  if (rows < 0 || steps < 0 || num_taps < 0) {
    return absl::InvalidArgumentError("psp kernel: negative size");
  }
  const int64_t total = rows * steps;
  if (total == 0) return absl::OkStatus();
  const int64_t blocks = CeilDiv(total, kThreads);
  if (blocks > 0x7fffffffLL) {
    return absl::InvalidArgumentError(absl::StrCat("psp kernel: ", total, " elements is too many"));
  }
  if (num_taps > 0 && taps == nullptr) {
    return absl::InvalidArgumentError("psp kernel: taps not on the device");
  }
  SLAYER_CUDA_LAUNCH(PspKernel<kBackward>, static_cast<unsigned int>(blocks), kThreads, 0,
                     stream, x, out, total, steps, taps, num_taps, scale);
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchPspForward(const float* x, float* out, int64_t rows, int64_t steps,
                              const float* taps, int64_t num_taps, float scale,
                              cudaStream_t stream) {
  return Launch<false>(x, out, rows, steps, taps, num_taps, scale, stream);
}

absl::Status LaunchPspBackward(const float* grad_out, float* grad_in, int64_t rows,
                               int64_t steps, const float* taps, int64_t num_taps, float scale,
                               cudaStream_t stream) {
  return Launch<true>(grad_out, grad_in, rows, steps, taps, num_taps, scale, stream);
}

}  // namespace cuda
}  // namespace slayer
