#include "slayer/train/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace slayer {
namespace {

std::string Percent(double fraction) { return absl::StrFormat("%.2f%%", 100.0 * fraction); }
std::string Loss(double loss) { return absl::StrFormat("%.4g", loss); }

}  // namespace

ProgressOptions ProgressOptions::ForStderr() {
  ProgressOptions o;
  o.out = &std::cerr;
  o.terminal = ::isatty(STDERR_FILENO) == 1;
  return o;
}

std::string FormatDuration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  if (s < 60) return absl::StrFormat("%.1fs", s);
  const int64_t total = static_cast<int64_t>(std::llround(s));
  if (total < 3600) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  return absl::StrFormat("%dh%02dm", total / 3600, (total % 3600) / 60);
}

ProgressReporter::ProgressReporter(ProgressOptions options)
    : options_(std::move(options)), out_(options_.out ? options_.out : &std::cerr) {}

double ProgressReporter::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ProgressReporter::StartEpoch(int64_t epoch, int64_t epochs, int64_t batches,
                                  absl::string_view phase, int64_t first_batch) {
  ClearLive();
  const double now = Now();
  // The epoch's clock starts with its first phase; each phase has its own rate.
  if (epoch != epoch_ || epoch_start_ < 0) epoch_start_ = now;
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  batch_ = first_batch_ = first_batch;
  samples_ = 0;
  phase_ = std::string(phase);
  loss_ = 0;
  accuracy_.reset();
  start_ = last_print_ = now;
  printed_ = false;
}

double ProgressReporter::epoch_seconds() const { return Now() - epoch_start_; }

double ProgressReporter::samples_per_second() const {
  const double dt = Now() - start_;
  return dt > 0 ? static_cast<double>(samples_) / dt : 0.0;
}

std::string ProgressReporter::BatchLine() const {
  std::string line = absl::StrCat("epoch ", epoch_);
  if (epochs_ > 0) absl::StrAppend(&line, "/", epochs_);
  absl::StrAppend(&line, " ", phase_, " batch ", batch_);
  if (batches_ > 0) absl::StrAppend(&line, "/", batches_);
  const double elapsed = Now() - start_;
  if (elapsed > 0) {
    absl::StrAppend(&line, absl::StrFormat("  %.0f samples/s", samples_ / elapsed));
  }
  absl::StrAppend(&line, "  loss ", Loss(loss_));
  if (accuracy_.has_value()) absl::StrAppend(&line, "  acc ", Percent(*accuracy_));
  if (batch_ > first_batch_ && batches_ >= batch_ && elapsed > 0) {
    const double eta = elapsed / static_cast<double>(batch_ - first_batch_) *
                       static_cast<double>(batches_ - batch_);
    absl::StrAppend(&line, "  ETA ", FormatDuration(eta));
  }
  return line;
}

void ProgressReporter::Batch(int64_t samples, double loss, std::optional<double> accuracy) {
  ++batch_;
  samples_ += samples;
  loss_ = loss;
  accuracy_ = accuracy;
  const double now = Now();
  if (options_.terminal) {
    const bool last = batches_ > 0 && batch_ >= batches_;
    if (printed_ && !last && now - last_print_ < options_.live_interval_s) return;
    std::string line = BatchLine();
    const size_t width = line.size();
    if (width < live_width_) line.append(live_width_ - width, ' ');
    *out_ << '\r' << line << std::flush;
    live_width_ = width;
  } else {
    if (options_.plain_interval_s > 0 && now - last_print_ < options_.plain_interval_s) return;
    *out_ << BatchLine() << '\n' << std::flush;
  }
  last_print_ = now;
  printed_ = true;
}

void ProgressReporter::ClearLive() {
  if (live_width_ == 0) return;
  *out_ << '\r' << std::string(live_width_, ' ') << '\r';
  live_width_ = 0;
}

void ProgressReporter::EndEpoch(const MetricsRow& row, const BestMetrics* best) {
  ClearLive();
  std::string line = absl::StrCat("epoch ", row.epoch);
  if (epochs_ > 0) absl::StrAppend(&line, "/", epochs_);
  auto part = [&line](const char* name, const std::optional<double>& loss,
                      const std::optional<double>& acc) {
    if (!loss.has_value() && !acc.has_value()) return;
    absl::StrAppend(&line, "  ", name);
    if (loss.has_value()) absl::StrAppend(&line, " loss ", Loss(*loss));
    if (acc.has_value()) absl::StrAppend(&line, " acc ", Percent(*acc));
  };
  part("train", row.train_loss, row.train_accuracy);
  part("test", row.test_loss, row.test_accuracy);
  if (row.samples_per_s.has_value()) {
    absl::StrAppend(&line, absl::StrFormat("  %.0f samples/s", *row.samples_per_s));
  }
  absl::StrAppend(&line, "  ", FormatDuration(epoch_seconds()));
  if (best != nullptr) {
    struct Headline {
      const std::optional<MetricBest>* best;
      const char* name;
      bool accuracy;
    };
    for (const Headline& h : {Headline{&best->test_accuracy, "test acc", true},
                              Headline{&best->test_loss, "test loss", false},
                              Headline{&best->train_accuracy, "train acc", true},
                              Headline{&best->train_loss, "train loss", false}}) {
      if (!h.best->has_value()) continue;
      const MetricBest& b = **h.best;
      absl::StrAppend(&line, "  best ", h.name, " ",
                      h.accuracy ? Percent(b.value) : Loss(b.value), " (epoch ", b.epoch, ")");
      break;
    }
  }
  *out_ << line << '\n' << std::flush;
  epoch_start_ = -1;
}

void ProgressReporter::Message(absl::string_view text) {
  ClearLive();
  *out_ << text << '\n' << std::flush;
}

}  // namespace slayer
