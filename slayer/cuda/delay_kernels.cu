#include "slayer/cuda/delay_kernels.h"

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct Interp {
  int64_t m;
  float f;
};

// As the CPU reference: clamp to +-(steps + 1) samples (every tap then
// falls outside the row; NaN included), then split into floor and fraction.
__device__ __forceinline__ Interp Split(float delay_steps, int64_t steps) {
  const float limit = static_cast<float>(steps + 1);
  if (!(delay_steps > -limit)) delay_steps = -limit;
  if (delay_steps > limit) delay_steps = limit;
  const float whole = floorf(delay_steps);
  return {static_cast<int64_t>(whole), delay_steps - whole};
}

__device__ __forceinline__ float At(const float* row, int64_t steps, int64_t i) {
  return i >= 0 && i < steps ? row[i] : 0.0f;
}

__device__ __forceinline__ float DelayOf(const float* delays, float shift_ms, int64_t row,
                                         const DelayShape& s) {
  return delays == nullptr ? shift_ms : delays[(row % s.neurons) / s.group];
}

template <bool kTranspose>
__global__ void DelayRowsKernel(const float* __restrict__ in, const float* __restrict__ delays,
                                float shift_ms, float ts, float* __restrict__ out,
                                DelayShape s) {
  const int64_t total = s.batch * s.neurons * s.steps;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GridStride()) {
    const int64_t row = i / s.steps;
    const int64_t t = i - row * s.steps;
    const Interp d = Split(DelayOf(delays, shift_ms, row, s) / ts, s.steps);
    const float* r = in + row * s.steps;
    const float a = 1.0f - d.f;
    if (!kTranspose) {
      out[i] = a * At(r, s.steps, t - d.m) + d.f * At(r, s.steps, t - d.m - 1);
    } else {
      out[i] = a * At(r, s.steps, t + d.m) + d.f * At(r, s.steps, t + d.m + 1);
    }
  }
}

constexpr int kReduceThreads = 256;

// One block per delay value q: its rows are, for every sample n, the
// neurons [q * group, (q + 1) * group).
__global__ void __launch_bounds__(kReduceThreads)
    DelayGradKernel(const float* __restrict__ x, const float* __restrict__ grad_y,
                    const float* __restrict__ delays, float ts, float* __restrict__ grad_d,
                    DelayShape s) {
  __shared__ double partial[kReduceThreads];
  const int64_t q = blockIdx.x;
  const Interp d = Split(delays[q] / ts, s.steps);
  const int64_t per_sample = s.group * s.steps;
  const int64_t count = s.batch * per_sample;
  double sum = 0.0;
  for (int64_t k = threadIdx.x; k < count; k += kReduceThreads) {
    const int64_t n = k / per_sample;
    const int64_t within = k - n * per_sample;
    const int64_t j = within / s.steps;
    const int64_t t = within - j * s.steps;
    const int64_t offset = (n * s.neurons + q * s.group + j) * s.steps;
    const float* xr = x + offset;
    const float diff = At(xr, s.steps, t - d.m) - At(xr, s.steps, t - d.m - 1);
    sum += static_cast<double>(grad_y[offset + t]) * diff;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kReduceThreads / 2; width > 0; width /= 2) {
    if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) grad_d[q] = static_cast<float>(-partial[0] / ts);
}

__global__ void ClampKernel(float* d, int64_t n, float max_delay_ms) {
  for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) {
    const float v = d[i];
    d[i] = v > max_delay_ms ? max_delay_ms : (v > 0.0f ? v : 0.0f);
  }
}

absl::Status CheckShape(const DelayShape& s) {
  if (s.batch < 0 || s.neurons < 0 || s.steps < 0 || s.group < 1 ||
      (s.neurons > 0 && s.neurons % s.group != 0)) {
    return absl::InvalidArgumentError("delay kernel: invalid shape");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchDelayForward(const float* x, const float* delays, float shift_ms, float ts,
                                float* y, const DelayShape& s, cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.batch * s.neurons * s.steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(DelayRowsKernel<false>, GridFor(total, kThreads), kThreads, 0, stream, x,
                     delays, shift_ms, ts, y, s);
  return absl::OkStatus();
}

absl::Status LaunchDelayBackwardInput(const float* grad_y, const float* delays, float shift_ms,
                                      float ts, float* grad_x, const DelayShape& s,
                                      cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t total = s.batch * s.neurons * s.steps;
  if (total == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(DelayRowsKernel<true>, GridFor(total, kThreads), kThreads, 0, stream,
                     grad_y, delays, shift_ms, ts, grad_x, s);
  return absl::OkStatus();
}

absl::Status LaunchDelayBackwardDelay(const float* x, const float* grad_y, const float* delays,
                                      float ts, float* grad_d, const DelayShape& s,
                                      cudaStream_t stream) {
  absl::Status valid = CheckShape(s);
  if (!valid.ok()) return valid;
  const int64_t values = s.neurons / s.group;
  if (values == 0) return absl::OkStatus();
  if (values > 0x7fffffffLL) return absl::InvalidArgumentError("delay kernel: too many delays");
  SLAYER_CUDA_LAUNCH(DelayGradKernel, static_cast<unsigned int>(values), kReduceThreads, 0,
                     stream, x, grad_y, delays, ts, grad_d, s);
  return absl::OkStatus();
}

absl::Status LaunchClampDelays(float* d, int64_t n, float max_delay_ms, cudaStream_t stream) {
  if (n <= 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(ClampKernel, GridFor(n, kThreads), kThreads, 0, stream, d, n,
                     max_delay_ms);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
