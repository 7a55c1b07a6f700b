#include "slayer/cuda/loss_kernels.h"

#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kThreads = 256;     // element-wise kernels
constexpr int kRowThreads = 128;  // one block per row

// Sums `value` over the block in double; the result is valid in thread 0.
__device__ double BlockSum(double value, double* scratch) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (int width = kRowThreads / 2; width > 0; width /= 2) {
    if (static_cast<int>(threadIdx.x) < width) scratch[threadIdx.x] += scratch[threadIdx.x + width];
    __syncthreads();
  }
  return scratch[0];
}

__global__ void SubtractKernel(const float* a, const float* b, float* diff, int64_t n) {
  for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) diff[i] = a[i] - b[i];
}

__global__ void __launch_bounds__(kRowThreads)
    CountRowsKernel(const float* __restrict__ spikes, const int* __restrict__ labels,
                    int64_t outputs, int64_t steps, CountRegion region, float ts,
                    float* __restrict__ diff, float* __restrict__ count_error) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  const float* s = spikes + r * steps;
  float* d = diff + r * steps;
  double count = 0.0;
  for (int64_t t = threadIdx.x; t < steps; t += kRowThreads) {
    const bool inside = t >= region.start && t < region.stop;
    if (inside) count += s[t];
    d[t] = inside ? 0.0f : s[t];
  }
  count = BlockSum(count, scratch);
  if (threadIdx.x == 0) {
    const int64_t n = r / outputs, o = r % outputs;
    const double desired = o == labels[n] ? region.true_value : region.false_value;
    const double actual = ts * count;
    count_error[r] = static_cast<float>((actual - desired) / (region.stop - region.start));
  }
}

__global__ void __launch_bounds__(kRowThreads)
    FinishRowsKernel(float* __restrict__ e, const float* __restrict__ count_error,
                     int64_t steps, int64_t start, int64_t stop, float ts,
                     double* __restrict__ row_loss) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  float* er = e + r * steps;
  const float add = count_error != nullptr ? count_error[r] : 0.0f;
  double squares = 0.0;
  for (int64_t t = threadIdx.x; t < steps; t += kRowThreads) {
    float v = er[t];
    if (count_error != nullptr && t >= start && t < stop) {
      v += add;
      er[t] = v;
    }
    squares += static_cast<double>(v) * v;
  }
  squares = BlockSum(squares, scratch);
  if (threadIdx.x == 0) row_loss[r] = 0.5 * ts * squares;
}

__global__ void __launch_bounds__(kRowThreads)
    SpikeRateRowsKernel(const float* __restrict__ spikes, const int* __restrict__ labels,
                        int64_t outputs, int64_t steps, CountRegion region, float ts,
                        double* __restrict__ row_loss, float* __restrict__ grad) {
  __shared__ double scratch[kRowThreads];
  __shared__ float s_inside;
  const int64_t r = blockIdx.x;
  const float* s = spikes + r * steps;
  double count = 0.0;
  for (int64_t t = region.start + threadIdx.x; t < region.stop; t += kRowThreads) count += s[t];
  count = BlockSum(count, scratch);
  const int64_t width = region.stop - region.start;
  if (threadIdx.x == 0) {
    const int64_t n = r / outputs, o = r % outputs;
    const double rate = ts * count / (static_cast<double>(width) * ts);
    const double desired = o == labels[n] ? region.true_value : region.false_value;
    const double error = rate - desired;
    row_loss[r] = 0.5 * error * error;
    s_inside = static_cast<float>(error / width);
  }
  __syncthreads();
  if (grad != nullptr) {
    const float inside = s_inside;
    float* g = grad + r * steps;
    for (int64_t t = threadIdx.x; t < steps; t += kRowThreads) {
      g[t] = (t >= region.start && t < region.stop) ? inside : 0.0f;
    }
  }
}

__global__ void __launch_bounds__(kRowThreads)
    SumRowsKernel(const double* __restrict__ row_loss, int64_t rows, double* __restrict__ total) {
  __shared__ double scratch[kRowThreads];
  double sum = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kRowThreads) sum += row_loss[r];
  sum = BlockSum(sum, scratch);
  if (threadIdx.x == 0) *total = sum;
}

absl::Status CheckRows(int64_t rows, int64_t steps, const CountRegion* region) {
  if (rows < 0 || steps < 0) return absl::InvalidArgumentError("loss kernel: negative size");
  if (rows > 0x7fffffffLL) return absl::InvalidArgumentError("loss kernel: too many rows");
  if (region != nullptr &&
      !(0 <= region->start && region->start < region->stop && region->stop <= steps)) {
    return absl::InvalidArgumentError("loss kernel: bad target region");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchSubtract(const float* a, const float* b, float* diff, int64_t n,
                            cudaStream_t stream) {
  if (n <= 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(SubtractKernel, GridFor(n, kThreads), kThreads, 0, stream, a, b, diff, n);
  return absl::OkStatus();
}

absl::Status LaunchCountRows(const float* spikes, const int* labels, int64_t rows,
                             int64_t outputs, int64_t steps, const CountRegion& region, float ts,
                             float* diff, float* count_error, cudaStream_t stream) {
  absl::Status valid = CheckRows(rows, steps, &region);
  if (!valid.ok()) return valid;
  if (rows == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(CountRowsKernel, static_cast<unsigned int>(rows), kRowThreads, 0, stream,
                     spikes, labels, outputs, steps, region, ts, diff, count_error);
  return absl::OkStatus();
}

absl::Status LaunchFinishRows(float* e, const float* count_error, int64_t rows, int64_t steps,
                              int64_t start, int64_t stop, float ts, double* row_loss,
                              cudaStream_t stream) {
  absl::Status valid = CheckRows(rows, steps, nullptr);
  if (!valid.ok()) return valid;
  if (rows == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(FinishRowsKernel, static_cast<unsigned int>(rows), kRowThreads, 0, stream,
                     e, count_error, steps, start, stop, ts, row_loss);
  return absl::OkStatus();
}

absl::Status LaunchSpikeRateRows(const float* spikes, const int* labels, int64_t rows,
                                 int64_t outputs, int64_t steps, const CountRegion& region,
                                 float ts, double* row_loss, float* grad, cudaStream_t stream) {
  absl::Status valid = CheckRows(rows, steps, &region);
  if (!valid.ok()) return valid;
  if (rows == 0) return absl::OkStatus();
  SLAYER_CUDA_LAUNCH(SpikeRateRowsKernel, static_cast<unsigned int>(rows), kRowThreads, 0,
                     stream, spikes, labels, outputs, steps, region, ts, row_loss, grad);
  return absl::OkStatus();
}

absl::Status LaunchSumRows(const double* row_loss, int64_t rows, double* total,
                           cudaStream_t stream) {
  if (rows < 0) return absl::InvalidArgumentError("loss kernel: negative size");
  SLAYER_CUDA_LAUNCH(SumRowsKernel, 1, kRowThreads, 0, stream, row_loss, rows, total);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
