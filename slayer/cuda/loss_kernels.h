// CUDA kernels of SLAYER's losses (SPEC §4) on raw device arrays of output
// spikes [rows = N*O, steps], time innermost. The psp filtering in between
// is psp_kernels.h; loss.cc strings the steps together:
//   spike_time:  diff = s - target                       (LaunchSubtract)
//   num_spikes:  count over R, error (a - d)/|R|,
//                diff = s outside R, 0 inside           (LaunchCountRows)
//   then e = psp(diff); e += count error inside R; row loss 1/2 Ts sum e^2
//                                                        (LaunchFinishRows)
//   spike_rate:  everything in one pass                  (LaunchSpikeRateRows)
// and the batch loss is the sum of the row losses (LaunchSumRows). Every
// reduction is one block per row in double, in a fixed order (no atomics).
// `labels` is a device array of N ints.
//
//   SLAYER_RETURN_IF_ERROR(LaunchCountRows(s, labels, rows, outputs, steps, region, ts,
//                                          diff, count_error, stream));
#ifndef SLAYER_CUDA_LOSS_KERNELS_H_
#define SLAYER_CUDA_LOSS_KERNELS_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace slayer {
namespace cuda {

struct CountRegion {
  int64_t start = 0, stop = 0;  // [start, stop), 0 <= start < stop <= steps
  float true_value = 0.0f, false_value = 0.0f;
};

// diff = a - b, n elements.
absl::Status LaunchSubtract(const float* a, const float* b, float* diff, int64_t n,
                            cudaStream_t stream);

// Per row r (sample r / outputs, class r % outputs): count = sum_{t in R} s,
// count_error[r] = (Ts * count - desired) / |R| with desired = true_value for
// the label's class and false_value otherwise; diff[r] = s[r] outside R, 0
// inside.
absl::Status LaunchCountRows(const float* spikes, const int* labels, int64_t rows,
                             int64_t outputs, int64_t steps, const CountRegion& region, float ts,
                             float* diff, float* count_error, cudaStream_t stream);

// e[r, t] += count_error[r] for t in [start, stop) (skipped when count_error
// is null), then row_loss[r] = 1/2 * Ts * sum_t e[r, t]^2.
absl::Status LaunchFinishRows(float* e, const float* count_error, int64_t rows, int64_t steps,
                              int64_t start, int64_t stop, float ts, double* row_loss,
                              cudaStream_t stream);

// rate = Ts * count / (|R| * Ts); row_loss = 1/2 (rate - desired)^2; when
// grad is set, grad[r, t] = (rate - desired) / |R| inside R, 0 outside.
absl::Status LaunchSpikeRateRows(const float* spikes, const int* labels, int64_t rows,
                                 int64_t outputs, int64_t steps, const CountRegion& region,
                                 float ts, double* row_loss, float* grad, cudaStream_t stream);

// *total = sum of row_loss[0..rows) (one block).
absl::Status LaunchSumRows(const double* row_loss, int64_t rows, double* total,
                           cudaStream_t stream);

}  // namespace cuda
}  // namespace slayer

#endif  // SLAYER_CUDA_LOSS_KERNELS_H_
