#include "slayer/ops/loss.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "slayer/core/check.h"
#include "slayer/core/status.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace {

// Spike outputs [N, O..., T] seen as N*O time rows.
struct LossLayout {
  int64_t batch, outputs, steps;
  int64_t rows() const { return batch * outputs; }
};

absl::StatusOr<LossLayout> CheckSpikes(const char* op, const Tensor& spikes, float ts) {
  SLAYER_RETURN_IF_ERROR(internal::CheckTs(ts, op));
  SLAYER_RETURN_IF_ERROR(internal::CheckMinRank(spikes, 2, op, "spikes", "[N, O, 1, 1, T]"));
  LossLayout layout;
  layout.batch = spikes.dim(0);
  layout.steps = spikes.dim(-1);
  layout.outputs = 1;
  for (int i = 1; i + 1 < spikes.rank(); ++i) layout.outputs *= spikes.dim(i);
  return layout;
}

absl::Status CheckRegion(const char* op, const CountTarget& region, int64_t steps) {
  if (!(0 <= region.start_step && region.start_step < region.stop_step &&
        region.stop_step <= steps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": target region [", region.start_step, ", ", region.stop_step,
        ") must be non-empty and inside [0, ", steps, ") time steps"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LossLayout> CheckCountArgs(const char* op, const Tensor& spikes,
                                          absl::Span<const int> labels,
                                          const CountTarget& region, float ts,
                                          const float* loss) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(loss, op, "loss"));
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout, CheckSpikes(op, spikes, ts));
  SLAYER_RETURN_IF_ERROR(CheckRegion(op, region, layout.steps));
  if (static_cast<int64_t>(labels.size()) != layout.batch) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", labels.size(),
                                                   " labels for a batch of ", layout.batch,
                                                   " (spikes ", ShapeString(spikes.shape()),
                                                   ")"));
  }
  for (size_t n = 0; n < labels.size(); ++n) {
    if (labels[n] < 0 || labels[n] >= layout.outputs) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": labels[", n, "] = ", labels[n],
                                                     ", expected a class in [0, ",
                                                     layout.outputs, ")"));
    }
  }
  return layout;
}

absl::StatusOr<LossLayout> CheckSpikeTimeArgs(const char* op, const Tensor& spikes,
                                              const Tensor& target, float ts,
                                              const float* loss) {
  SLAYER_RETURN_IF_ERROR(internal::CheckNotNull(loss, op, "loss"));
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout, CheckSpikes(op, spikes, ts));
  SLAYER_RETURN_IF_ERROR(
      CheckShape(target, spikes.shape(), absl::StrCat(op, ": target (like spikes)")));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(spikes.device(), {{"target", &target}}));
  return layout;
}

// Sums per-row losses in row order (deterministic for any thread count).
float SumRows(const std::vector<double>& row_loss) {
  double total = 0.0;
  for (double v : row_loss) total += v;
  return static_cast<float>(total);
}

std::vector<double>& RowLossBuffer(int64_t rows) {
  thread_local std::vector<double> buffer;
  buffer.assign(static_cast<size_t>(rows), 0.0);
  return buffer;
}

// Rows go through the filter in blocks of this many: its recursion runs over
// 8 rows at once (each row's values are those of filtering it alone).
constexpr int64_t kRowBlock = 8;

// Calls fn(r0, count, diff, e) for the blocks [r0, r0 + count) of up to
// kRowBlock of `rows` rows, in parallel; diff and e are per-thread scratch
// of kRowBlock rows of `steps`.
template <typename Fn>
void ForRowBlocks(int64_t rows, int64_t steps, Fn&& fn) {
  internal::ParallelFor((rows + kRowBlock - 1) / kRowBlock, 1, [&](int64_t begin, int64_t end) {
    float* diff = internal::Scratch(internal::kScratchA, kRowBlock * steps);
    float* e = internal::Scratch(internal::kScratchB, kRowBlock * steps);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t r0 = b * kRowBlock;
      fn(r0, std::min(kRowBlock, rows - r0), diff, e);
    }
  });
}

// For `count` rows given their errors e (rows of the filter's steps, in
// scratch): row_loss[i] = 1/2 Ts sum e^2 and, when `grad` is set, its rows
// dE/ds = psp_backward(Ts * e).
void FinishRows(const internal::TemporalFilter& filter, float ts, float* e, int64_t count,
                double* row_loss, float* grad) {
  const int64_t steps = filter.steps();
  for (int64_t i = 0; i < count; ++i) {
    float* er = e + i * steps;
    double squares = 0.0;
    for (int64_t t = 0; t < steps; ++t) squares += static_cast<double>(er[t]) * er[t];
    row_loss[i] = 0.5 * ts * squares;
    if (grad != nullptr) {
      for (int64_t t = 0; t < steps; ++t) er[t] *= ts;
    }
  }
  if (grad != nullptr) filter.BackwardRows(e, count, grad);
}

int64_t RowGrain(int64_t steps) { return std::max<int64_t>(1, 2048 / (steps + 1)); }

}  // namespace

OpDispatch<SpikeTimeLossFn>& SpikeTimeLossDispatch() {
  static auto* dispatch =
      new OpDispatch<SpikeTimeLossFn>("spike_time_loss", &cpu::SpikeTimeLoss);
  return *dispatch;
}

OpDispatch<NumSpikesLossFn>& NumSpikesLossDispatch() {
  static auto* dispatch =
      new OpDispatch<NumSpikesLossFn>("num_spikes_loss", &cpu::NumSpikesLoss);
  return *dispatch;
}

OpDispatch<SpikeRateLossFn>& SpikeRateLossDispatch() {
  static auto* dispatch =
      new OpDispatch<SpikeRateLossFn>("spike_rate_loss", &cpu::SpikeRateLoss);
  return *dispatch;
}

namespace {
[[maybe_unused]] const bool kRegistered =
    (SpikeTimeLossDispatch(), NumSpikesLossDispatch(), SpikeRateLossDispatch(), true);
}  // namespace

absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad) {
  SLAYER_RETURN_IF_ERROR(CheckSpikeTimeArgs("SpikeTimeLoss", spikes, target, ts, loss).status());
  return SpikeTimeLossDispatch()(spikes.device(), spikes, target, eps, ts, loss, grad);
}

absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, absl::Span<const float> eps, float ts,
                           float* loss, Tensor* grad) {
  SLAYER_RETURN_IF_ERROR(
      CheckCountArgs("NumSpikesLoss", spikes, labels, region, ts, loss).status());
  return NumSpikesLossDispatch()(spikes.device(), spikes, labels, region, eps, ts, loss, grad);
}

absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, float ts, float* loss, Tensor* grad) {
  SLAYER_RETURN_IF_ERROR(
      CheckCountArgs("SpikeRateLoss", spikes, labels, region, ts, loss).status());
  return SpikeRateLossDispatch()(spikes.device(), spikes, labels, region, ts, loss, grad);
}

absl::StatusOr<Tensor> SpikeCounts(const Tensor& spikes, int64_t start_step,
                                   int64_t stop_step, float ts) {
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout, CheckSpikes("SpikeCounts", spikes, ts));
  CountTarget region;
  region.start_step = start_step;
  region.stop_step = stop_step;
  SLAYER_RETURN_IF_ERROR(CheckRegion("SpikeCounts", region, layout.steps));
  SLAYER_ASSIGN_OR_RETURN(Tensor host, spikes.To(Device::kCpu));
  Tensor counts = Tensor::Zeros({layout.batch, layout.outputs});
  const float* s = host.data();
  float* c = counts.data();
  for (int64_t r = 0; r < layout.rows(); ++r) {
    double sum = 0.0;
    const float* row = s + r * layout.steps;
    for (int64_t t = start_step; t < stop_step; ++t) sum += row[t];
    c[r] = static_cast<float>(ts * sum);
  }
  return counts;
}

std::vector<int> PredictClasses(const Tensor& counts, std::vector<bool>* tied) {
  std::vector<int> predicted;
  if (tied != nullptr) tied->clear();
  if (counts.rank() == 0 || counts.dim(0) == 0) return predicted;
  Tensor host;
  if (counts.is_cpu()) {
    host = counts;
  } else {
    absl::StatusOr<Tensor> copy = counts.To(Device::kCpu);
    SLAYER_CHECK(copy.ok()) << copy.status();
    host = *std::move(copy);
  }
  const int64_t batch = host.dim(0);
  const int64_t classes = host.numel() / batch;
  predicted.resize(batch, 0);
  if (tied != nullptr) tied->assign(batch, false);
  for (int64_t n = 0; n < batch; ++n) {
    const float* row = host.data() + n * classes;
    int best = 0;
    bool tie = false;
    // Strictly greater: ties keep the lowest index.
    for (int64_t o = 1; o < classes; ++o) {
      if (row[o] > row[best]) {
        best = static_cast<int>(o);
        tie = false;
      } else if (row[o] == row[best]) {
        tie = true;
      }
    }
    predicted[n] = best;
    if (tied != nullptr) (*tied)[n] = tie;
  }
  return predicted;
}

namespace cpu {

absl::Status SpikeTimeLoss(const Tensor& spikes, const Tensor& target,
                           absl::Span<const float> eps, float ts, float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout,
                          CheckSpikeTimeArgs("SpikeTimeLoss", spikes, target, ts, loss));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"SpikeTimeLoss: spikes", &spikes}}));
  if (grad != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad, spikes.shape(), Device::kCpu));
  std::vector<double>& row_loss = RowLossBuffer(layout.rows());
  const int64_t steps = layout.steps;
  if (steps > 0) {
    const internal::TemporalFilter filter(eps, ts, steps);
    const float* s = spikes.data();
    const float* tgt = target.data();
    float* g = grad != nullptr ? grad->data() : nullptr;
    ForRowBlocks(layout.rows(), steps, [&](int64_t r0, int64_t count, float* diff, float* e) {
      for (int64_t i = 0; i < count * steps; ++i) {
        diff[i] = s[r0 * steps + i] - tgt[r0 * steps + i];
      }
      filter.ForwardRows(diff, count, e);
      FinishRows(filter, ts, e, count, row_loss.data() + r0,
                 g != nullptr ? g + r0 * steps : nullptr);
    });
  }
  *loss = SumRows(row_loss);
  return absl::OkStatus();
}

absl::Status NumSpikesLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, absl::Span<const float> eps, float ts,
                           float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout,
                          CheckCountArgs("NumSpikesLoss", spikes, labels, region, ts, loss));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"NumSpikesLoss: spikes", &spikes}}));
  if (grad != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad, spikes.shape(), Device::kCpu));
  std::vector<double>& row_loss = RowLossBuffer(layout.rows());
  const int64_t steps = layout.steps;
  const int64_t start = region.start_step;
  const int64_t stop = region.stop_step;
  const internal::TemporalFilter filter(eps, ts, steps);
  const float* s = spikes.data();
  float* g = grad != nullptr ? grad->data() : nullptr;
  ForRowBlocks(layout.rows(), steps, [&](int64_t r0, int64_t count_rows, float* diff, float* e) {
    float count_error[kRowBlock];
    for (int64_t i = 0; i < count_rows; ++i) {
      const int64_t r = r0 + i;
      const int64_t n = r / layout.outputs;
      const int64_t o = r % layout.outputs;
      const float* sr = s + r * steps;
      double count = 0.0;
      for (int64_t t = start; t < stop; ++t) count += sr[t];
      const double actual = ts * count;
      const double desired = o == labels[n] ? region.true_value : region.false_value;
      count_error[i] = static_cast<float>((actual - desired) / (stop - start));
      // s - s_des: spikes outside R are errors; inside R only the count is.
      float* d = diff + i * steps;
      for (int64_t t = 0; t < steps; ++t) d[t] = (t >= start && t < stop) ? 0.0f : sr[t];
    }
    filter.ForwardRows(diff, count_rows, e);
    for (int64_t i = 0; i < count_rows; ++i) {
      for (int64_t t = start; t < stop; ++t) e[i * steps + t] += count_error[i];
    }
    FinishRows(filter, ts, e, count_rows, row_loss.data() + r0,
               g != nullptr ? g + r0 * steps : nullptr);
  });
  *loss = SumRows(row_loss);
  return absl::OkStatus();
}

absl::Status SpikeRateLoss(const Tensor& spikes, absl::Span<const int> labels,
                           const CountTarget& region, float ts, float* loss, Tensor* grad) {
  SLAYER_ASSIGN_OR_RETURN(LossLayout layout,
                          CheckCountArgs("SpikeRateLoss", spikes, labels, region, ts, loss));
  SLAYER_RETURN_IF_ERROR(CheckSameDevice(Device::kCpu, {{"SpikeRateLoss: spikes", &spikes}}));
  if (grad != nullptr) SLAYER_RETURN_IF_ERROR(EnsureShape(grad, spikes.shape(), Device::kCpu));
  std::vector<double>& row_loss = RowLossBuffer(layout.rows());
  const int64_t steps = layout.steps;
  const int64_t start = region.start_step;
  const int64_t stop = region.stop_step;
  const int64_t width = stop - start;
  const float* s = spikes.data();
  float* g = grad != nullptr ? grad->data() : nullptr;
  internal::ParallelFor(layout.rows(), RowGrain(steps), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / layout.outputs;
      const int64_t o = r % layout.outputs;
      const float* sr = s + r * steps;
      double count = 0.0;
      for (int64_t t = start; t < stop; ++t) count += sr[t];
      // Spikes per ms over R: (Ts * sum s) / (|R| * Ts).
      const double rate = ts * count / (static_cast<double>(width) * ts);
      const double desired = o == labels[n] ? region.true_value : region.false_value;
      const double error = rate - desired;
      row_loss[r] = 0.5 * error * error;
      if (g != nullptr) {
        // d rate / d s[t] = 1/|R| inside R.
        float* gr = g + r * steps;
        const float inside = static_cast<float>(error / width);
        for (int64_t t = 0; t < steps; ++t) gr[t] = (t >= start && t < stop) ? inside : 0.0f;
      }
    }
  });
  *loss = SumRows(row_loss);
  return absl::OkStatus();
}

}  // namespace cpu
}  // namespace ops
}  // namespace slayer
