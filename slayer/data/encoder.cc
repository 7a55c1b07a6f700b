#include "slayer/data/encoder.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace slayer {
namespace data {

int64_t NumSteps(double sample_ms, double ts_ms) {
  if (!(ts_ms > 0) || !(sample_ms >= 0)) return 0;
  return static_cast<int64_t>(std::llround(sample_ms / ts_ms));
}

absl::Status ImageEncoderOptions::Validate() const {
  if (!(ts_ms > 0)) return absl::InvalidArgumentError(absl::StrCat("ts_ms = ", ts_ms, ", expected > 0"));
  if (!(sample_ms > 0) || num_steps() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample_ms = ", sample_ms, " gives ", num_steps(),
                     " steps at ts_ms = ", ts_ms, ", expected at least 1"));
  }
  if (!(if_gain > 0 && if_gain <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("if_gain = ", if_gain, ", expected in (0, 1] so that spikes stay 0/1"));
  }
  if (!(poisson_max_prob >= 0 && poisson_max_prob <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("poisson_max_prob = ", poisson_max_prob, ", expected in [0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status EncodeImage(absl::Span<const float> intensities, const ImageEncoderOptions& options,
                         Rng* rng, absl::Span<float> out) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const int64_t steps = options.num_steps();
  const int64_t pixels = static_cast<int64_t>(intensities.size());
  if (static_cast<int64_t>(out.size()) != pixels * steps) {
    return absl::InvalidArgumentError(absl::StrCat("EncodeImage: output holds ", out.size(),
                                                   " values, expected ", pixels, " pixels x ",
                                                   steps, " steps"));
  }
  if (options.encoding == ImageEncoding::kPoisson && rng == nullptr) {
    return absl::InvalidArgumentError("EncodeImage: Poisson encoding needs an Rng");
  }
  for (int64_t i = 0; i < pixels; ++i) {
    double v = intensities[i];
    if (!(v > 0.0)) v = 0.0;  // also NaN
    if (v > 1.0) v = 1.0;
    float* row = out.data() + i * steps;
    if (options.encoding == ImageEncoding::kIntegrateAndFire) {
      // Closed form of the IF recurrence (u += g*v; fire and u -= 1 when
      // u >= 1): spikes up to step t = floor(g*v*(t+1)). No drift from
      // repeated float addition; the epsilon keeps exact crossings exact.
      const double drive = options.if_gain * v;
      if (drive == 0.0) {
        std::fill(row, row + steps, 0.0f);
        continue;
      }
      int64_t fired = 0;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t total = static_cast<int64_t>(drive * static_cast<double>(t + 1) + 1e-9);
        row[t] = static_cast<float>(total - fired);
        fired = total;
      }
    } else {
      const double p = options.poisson_max_prob * v;
      if (p <= 0.0 || p >= 1.0) {
        std::fill(row, row + steps, p <= 0.0 ? 0.0f : 1.0f);
        continue;
      }
      // P(u < p) for u uniform on 64 bits; p < 1 so the product fits.
      const uint64_t threshold = static_cast<uint64_t>(p * 18446744073709551616.0);
      for (int64_t t = 0; t < steps; ++t) row[t] = rng->NextU64() < threshold ? 1.0f : 0.0f;
    }
  }
  return absl::OkStatus();
}

absl::Status EventTensorOptions::Validate() const {
  if (channels < 1 || height < 1 || width < 1 || num_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event tensor shape ", ShapeString(shape()), " (C, H, W, T), expected all >= 1"));
  }
  if (!(ts_ms > 0)) return absl::InvalidArgumentError(absl::StrCat("ts_ms = ", ts_ms, ", expected > 0"));
  if (max_time_shift < 0 || max_jitter < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_time_shift = ", max_time_shift,
                                                   ", max_jitter = ", max_jitter,
                                                   ", expected >= 0"));
  }
  return absl::OkStatus();
}

absl::Status BinEvents(const EventStream& events, const EventTensorOptions& o, Rng* rng,
                       absl::Span<float> out) {
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  const int64_t C = o.channels, H = o.height, W = o.width, T = o.num_steps;
  if (static_cast<int64_t>(out.size()) != C * H * W * T) {
    return absl::InvalidArgumentError(absl::StrCat("BinEvents: output holds ", out.size(),
                                                   " values, expected ",
                                                   ShapeString(o.shape()), " = ", C * H * W * T));
  }
  int64_t dt = 0, dx = 0, dy = 0;
  if (rng != nullptr) {
    if (o.max_time_shift > 0) {
      dt = static_cast<int64_t>(rng->UniformInt(2 * o.max_time_shift + 1)) - o.max_time_shift;
    }
    if (o.max_jitter > 0) {
      dx = static_cast<int64_t>(rng->UniformInt(2 * o.max_jitter + 1)) - o.max_jitter;
      dy = static_cast<int64_t>(rng->UniformInt(2 * o.max_jitter + 1)) - o.max_jitter;
    }
  }
  std::fill(out.begin(), out.end(), 0.0f);
  constexpr double kLimit = 4.0e18;
  for (int64_t i = 0; i < events.size(); ++i) {
    const Event& e = events.events[i];
    if (e.x < 0 || e.x >= W || e.y < 0 || e.y >= H || e.p < 0 || e.p >= C) {
      if (!o.check_coordinates) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "event #", i, " (x=", e.x, ", y=", e.y, ", p=", e.p, ", t=", e.t_us,
          " us) lies outside the sensor: expected x < ", W, ", y < ", H, ", p < ", C));
    }
    // The same arithmetic as slayerPytorch: t in ms, then / Ts, then round.
    const double b = std::nearbyint((static_cast<double>(e.t_us) / 1000.0) / o.ts_ms);
    if (!(b > -kLimit && b < kLimit)) continue;
    const int64_t t = static_cast<int64_t>(b) - o.t_start + dt;
    const int64_t x = e.x + dx, y = e.y + dy;
    if (t < 0 || t >= T || x < 0 || x >= W || y < 0 || y >= H) continue;
    float& cell = out[((e.p * H + y) * W + x) * T + t];
    if (o.binning == Binning::kOr) cell = 1.0f;
    else cell += 1.0f;
  }
  return absl::OkStatus();
}

}  // namespace data
}  // namespace slayer
