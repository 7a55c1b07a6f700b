#include "slayer/train/metrics.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"

namespace slayer {

const char kMetricsCsvHeader[] =
    "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s";

namespace {

constexpr const char* kFields[] = {"epoch",     "train_loss",    "train_accuracy",
                                   "test_loss", "test_accuracy", "samples_per_s"};

std::optional<double> MetricsRow::*const kValues[] = {
    &MetricsRow::train_loss, &MetricsRow::train_accuracy, &MetricsRow::test_loss,
    &MetricsRow::test_accuracy, &MetricsRow::samples_per_s};

std::string FormatValue(const std::optional<double>& v) {
  return v.has_value() ? absl::StrFormat("%.8g", *v) : std::string();
}

// The row as the file holds it: a resumed run reads the earlier epochs back
// from the file, so the log keeps every run's values at the file's precision
// (a tie with a best read back rounded is then a tie in both).
MetricsRow AsWritten(MetricsRow row) {
  for (auto field : kValues) {
    std::optional<double>& v = row.*field;
    double parsed;
    if (v.has_value() && absl::SimpleAtod(FormatValue(v), &parsed)) v = parsed;
  }
  return row;
}

void Improve(std::optional<MetricBest>* best, const std::optional<double>& v, int64_t epoch,
             bool lower_is_better) {
  if (!v.has_value() || *v != *v) return;  // absent or NaN
  if (!best->has_value() || (lower_is_better ? *v < (*best)->value : *v > (*best)->value)) {
    *best = MetricBest{*v, epoch};
  }
}

}  // namespace

std::string FormatMetricsCsv(const std::vector<MetricsRow>& rows) {
  std::string out = absl::StrCat(kMetricsCsvHeader, "\n");
  for (const MetricsRow& r : rows) {
    absl::StrAppend(&out, r.epoch);
    for (auto field : kValues) absl::StrAppend(&out, ",", FormatValue(r.*field));
    out += '\n';
  }
  return out;
}

absl::StatusOr<std::vector<MetricsRow>> ParseMetricsCsv(absl::string_view text,
                                                        const std::string& name) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (absl::string_view& line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  if (lines.empty() || lines[0] != kMetricsCsvHeader) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " line 1: expected the header '", kMetricsCsvHeader, "', found '",
        lines.empty() ? "" : lines[0], "'"));
  }
  std::vector<MetricsRow> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string where = absl::StrCat(name, " line ", i + 1);
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], ',');
    if (fields.size() != 6) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected 6 comma-separated fields, found ", fields.size(), " in '",
          lines[i], "'"));
    }
    MetricsRow row;
    if (!absl::SimpleAtoi(fields[0], &row.epoch) || row.epoch < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": field 'epoch': expected an integer >= 0, found '", fields[0], "'"));
    }
    if (!rows.empty() && row.epoch <= rows.back().epoch) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": epoch ", row.epoch, " does not follow epoch ", rows.back().epoch,
          " (expected increasing epochs)"));
    }
    for (int k = 0; k < 5; ++k) {
      absl::string_view f = fields[k + 1];
      if (f.empty()) continue;
      double v;
      if (!absl::SimpleAtod(f, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": field '", kFields[k + 1], "': expected a number or nothing, found '", f,
            "'"));
      }
      row.*kValues[k] = v;
    }
    rows.push_back(row);
  }
  return rows;
}

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {}

absl::StatusOr<MetricsLog> MetricsLog::Open(std::string path) {
  MetricsLog log(std::move(path));
  if (FileExists(log.path_)) {
    SLAYER_ASSIGN_OR_RETURN(std::string text, ReadFile(log.path_));
    SLAYER_ASSIGN_OR_RETURN(log.rows_, ParseMetricsCsv(text, log.path_));
    log.Recompute();
  }
  return log;
}

absl::Status MetricsLog::AppendDeferred(const MetricsRow& row) {
  if (!rows_.empty() && row.epoch <= rows_.back().epoch) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": cannot append epoch ", row.epoch, " after epoch ", rows_.back().epoch,
        " (expected increasing epochs; TruncateAfter() when resuming)"));
  }
  rows_.push_back(AsWritten(row));
  Recompute();
  return absl::OkStatus();
}

absl::Status MetricsLog::Flush() const {
  if (path_.empty()) return absl::OkStatus();
  return WriteFileAtomic(path_, FormatMetricsCsv(rows_));
}

absl::Status MetricsLog::Append(const MetricsRow& row) {
  if (!rows_.empty() && row.epoch <= rows_.back().epoch) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": cannot append epoch ", row.epoch, " after epoch ", rows_.back().epoch,
        " (expected increasing epochs; TruncateAfter() when resuming)"));
  }
  rows_.push_back(AsWritten(row));
  absl::Status s =
      path_.empty() ? absl::OkStatus() : WriteFileAtomic(path_, FormatMetricsCsv(rows_));
  if (!s.ok()) {
    rows_.pop_back();
    return s;
  }
  Recompute();
  return absl::OkStatus();
}

void MetricsLog::TruncateAfter(int64_t epoch) {
  while (!rows_.empty() && rows_.back().epoch > epoch) rows_.pop_back();
  Recompute();
}

void MetricsLog::Recompute() {
  best_ = BestMetrics();
  for (const MetricsRow& r : rows_) {
    Improve(&best_.train_loss, r.train_loss, r.epoch, true);
    Improve(&best_.train_accuracy, r.train_accuracy, r.epoch, false);
    Improve(&best_.test_loss, r.test_loss, r.epoch, true);
    Improve(&best_.test_accuracy, r.test_accuracy, r.epoch, false);
  }
}

bool MetricsLog::last_is_best() const {
  if (rows_.empty()) return false;
  const int64_t last = rows_.back().epoch;
  for (const std::optional<MetricBest>* b :
       {&best_.test_accuracy, &best_.test_loss, &best_.train_accuracy, &best_.train_loss}) {
    if (b->has_value()) return (*b)->epoch == last;
  }
  return false;
}

}  // namespace slayer
