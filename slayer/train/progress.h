// Training progress on the console. On a terminal: one live line redrawn
// with '\r' per batch (epoch e/E, batch b/B, samples/s, loss, accuracy,
// ETA). Otherwise (logs, CI): a plain line every few seconds. Always: one
// summary line per epoch. Clock and stream are injectable for tests.
//
//   ProgressReporter progress(ProgressOptions::ForStderr());
//   progress.StartEpoch(epoch, epochs, batches);
//   for (...) progress.Batch(samples_in_batch, mean_loss_so_far, accuracy_so_far);
//   progress.EndEpoch(row, &log.best());
//
// Output (plain mode; the summary is one line):
//   epoch 3/10 train batch 120/1875  812 samples/s  loss 0.4123  acc 87.21%  ETA 2m09s
//   epoch 3/10  train loss 0.4123 acc 87.21%  test loss 0.4502 acc 86.00%  812 samples/s
//       37.2s  best test acc 88.10% (epoch 2)
#ifndef SLAYER_TRAIN_PROGRESS_H_
#define SLAYER_TRAIN_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "slayer/train/metrics.h"

namespace slayer {

struct ProgressOptions {
  std::ostream* out = nullptr;  // null: std::cerr
  // Live '\r' line (a terminal) or plain lines (a file or pipe).
  bool terminal = false;
  // Plain mode: seconds between batch lines (<= 0: every batch).
  double plain_interval_s = 10.0;
  // Live mode: seconds between redraws (the last batch always draws).
  double live_interval_s = 0.1;
  // Seconds since an arbitrary origin, monotonic. Null: std::chrono::steady_clock.
  std::function<double()> clock;

  // std::cerr, live when stderr is a terminal (isatty).
  static ProgressOptions ForStderr();
};

// "2m09s", "1h03m", "12.5s".
std::string FormatDuration(double seconds);

class ProgressReporter {
 public:
  explicit ProgressReporter(ProgressOptions options);

  // `phase` names the pass ("train", "test"); a resumed pass starts after
  // `first_batch` batches (the ETA counts only the batches run here).
  void StartEpoch(int64_t epoch, int64_t epochs, int64_t batches,
                  absl::string_view phase = "train", int64_t first_batch = 0);
  // One more batch done; `loss` and `accuracy` (a fraction) are the running
  // means over the epoch so far.
  void Batch(int64_t samples, double loss, std::optional<double> accuracy = std::nullopt);
  // Ends the live line and prints the epoch summary; `best` adds the best so far.
  void EndEpoch(const MetricsRow& row, const BestMetrics* best = nullptr);
  // A line of its own (clears a live line first).
  void Message(absl::string_view text);

  // Seconds since StartEpoch; samples/s over the epoch so far.
  double epoch_seconds() const;
  double samples_per_second() const;

 private:
  double Now() const;
  std::string BatchLine() const;
  void ClearLive();

  ProgressOptions options_;
  std::ostream* out_;
  int64_t epoch_ = 0, epochs_ = 0, batches_ = 0, batch_ = 0, first_batch_ = 0, samples_ = 0;
  std::string phase_;
  double loss_ = 0;
  std::optional<double> accuracy_;
  double start_ = 0, last_print_ = 0;  // of the current phase
  double epoch_start_ = -1;             // first StartEpoch of this epoch
  bool printed_ = false;
  size_t live_width_ = 0;  // characters of the live line on screen
};

}  // namespace slayer

#endif  // SLAYER_TRAIN_PROGRESS_H_
