// Per-epoch metrics of a training run, kept in `metrics.csv` with the header
//   epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s
// (accuracy as a fraction, empty fields where not measured). The whole file
// is rewritten atomically after each epoch, so it is always complete; a
// resumed run reads it back and continues it. Best-so-far values are tracked.
//
//   SLAYER_ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::Open(run_dir + "/metrics.csv"));
//   log.TruncateAfter(checkpoint_epoch);           // when resuming
//   MetricsRow row;  row.epoch = 4;  row.train_loss = 0.31;  row.test_accuracy = 0.97;
//   SLAYER_RETURN_IF_ERROR(log.Append(row));
//   if (log.last_is_best()) { ... save the best parameters ... }
#ifndef SLAYER_TRAIN_METRICS_H_
#define SLAYER_TRAIN_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slayer {

struct MetricsRow {
  int64_t epoch = 0;  // 1-based
  std::optional<double> train_loss;
  std::optional<double> train_accuracy;  // fraction in [0, 1]
  std::optional<double> test_loss;
  std::optional<double> test_accuracy;
  std::optional<double> samples_per_s;  // training throughput
};

// The exact header line (without newline).
extern const char kMetricsCsvHeader[];

// CSV text (header and one line per row, '\n' line ends).
std::string FormatMetricsCsv(const std::vector<MetricsRow>& rows);
// Parses what FormatMetricsCsv writes (also accepts "\r\n" line ends). Errors
// name `name`, the line and the field, and what was expected.
absl::StatusOr<std::vector<MetricsRow>> ParseMetricsCsv(absl::string_view text,
                                                        const std::string& name);

// The best value of one metric and the epoch that reached it first.
struct MetricBest {
  double value = 0;
  int64_t epoch = 0;
};
struct BestMetrics {
  std::optional<MetricBest> train_loss;      // lowest
  std::optional<MetricBest> train_accuracy;  // highest
  std::optional<MetricBest> test_loss;       // lowest
  std::optional<MetricBest> test_accuracy;   // highest
};

class MetricsLog {
 public:
  // An empty log that will write to `path` (nothing is written until Append;
  // an empty path keeps the rows in memory only).
  explicit MetricsLog(std::string path);
  // Reads `path` when it exists (a run being resumed), else starts empty.
  static absl::StatusOr<MetricsLog> Open(std::string path);

  // Adds a row (its epoch must exceed the last one) and rewrites the file
  // atomically. The log keeps the values as the file holds them (8
  // significant digits), so that a resumed run, which reads the earlier rows
  // back, judges the best epoch as an uninterrupted one does.
  absl::Status Append(const MetricsRow& row);
  // Adds a row in memory only; Flush() writes the file. For runs of many
  // short epochs that checkpoint every few seconds rather than every epoch.
  absl::Status AppendDeferred(const MetricsRow& row);
  absl::Status Flush() const;
  // Drops rows after `epoch` (in memory; written by the next Append). A run
  // resumed from an older checkpoint repeats those epochs.
  void TruncateAfter(int64_t epoch);

  const std::string& path() const { return path_; }
  const std::vector<MetricsRow>& rows() const { return rows_; }
  const BestMetrics& best() const { return best_; }
  // Whether the last row set a new best (strictly better) of the run's
  // headline metric: test accuracy when the run measures it, else test
  // loss, else train accuracy, else train loss.
  bool last_is_best() const;

 private:
  void Recompute();

  std::string path_;
  std::vector<MetricsRow> rows_;
  BestMetrics best_;
};

}  // namespace slayer

#endif  // SLAYER_TRAIN_METRICS_H_
