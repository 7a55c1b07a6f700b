// Spike encoders: images -> spike trains (integrate-and-fire, as in the
// SLAYER paper, or Poisson rate coding) and event streams -> dense spike
// tensors [C, H, W, T] (C = polarity/channel, time innermost).
//
// Spike tensors at the data boundary hold 0/1 (OR binning) or counts (SUM
// binning); the network applies the 1/Ts spike amplitude itself (SPEC §1).
//
//   ImageEncoderOptions img;                    // IF, 25 ms at Ts = 1 ms
//   SLAYER_RETURN_IF_ERROR(EncodeImage(pixels, img, &rng, out.span()));
//
//   EventTensorOptions ev;                      // 2 x 34 x 34 x 300 (NMNIST)
//   ev.max_jitter = 2;                          // augmentation when rng != null
//   SLAYER_RETURN_IF_ERROR(BinEvents(events, ev, &rng, out.span()));
#ifndef SLAYER_DATA_ENCODER_H_
#define SLAYER_DATA_ENCODER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

// Number of steps of a `sample_ms` sample at `ts_ms`: round(sample_ms / ts_ms).
int64_t NumSteps(double sample_ms, double ts_ms);

enum class ImageEncoding {
  // Each pixel drives a non-leaky integrate-and-fire neuron with a constant
  // input `if_gain * intensity` per step; it fires (and subtracts 1) each
  // time its integral reaches 1. With the default gain 1 a white pixel fires
  // at every step, intensity v fires floor(v * (t + 1)) times by step t (so
  // about v * T spikes, evenly spaced), black never fires. Deterministic.
  kIntegrateAndFire,
  // Independent Bernoulli spikes with probability `poisson_max_prob *
  // intensity` per step (rate coding). Needs an Rng.
  kPoisson,
};

struct ImageEncoderOptions {
  ImageEncoding encoding = ImageEncoding::kIntegrateAndFire;
  double ts_ms = 1.0;
  double sample_ms = 25.0;  // the paper's 25 ms window
  double if_gain = 1.0;     // in (0, 1]: integral added per step at intensity 1
  double poisson_max_prob = 1.0;  // in [0, 1]: spike probability per step at intensity 1

  int64_t num_steps() const { return NumSteps(sample_ms, ts_ms); }
  absl::Status Validate() const;
};

// Encodes `intensities` (P pixels, clamped to [0, 1]) into `out`, P x T
// values (pixel-major, time innermost: the [1, H, W, T] sample layout).
// `rng` is required for Poisson and unused for integrate-and-fire.
absl::Status EncodeImage(absl::Span<const float> intensities, const ImageEncoderOptions& options,
                         Rng* rng, absl::Span<float> out);

enum class Binning {
  kOr,   // a bin holds 1 when any event falls in it
  kSum,  // a bin holds the number of events in it
};

struct EventTensorOptions {
  int64_t channels = 2;  // polarity (or .bs3 channel) range [0, channels)
  int64_t height = 34;
  int64_t width = 34;
  double ts_ms = 1.0;
  int64_t num_steps = 300;
  // An event at t goes to bin round(t_ms / ts_ms) - t_start (round half to
  // even, like NumPy's np.round in slayerPytorch); bins outside
  // [0, num_steps) are dropped.
  int64_t t_start = 0;
  Binning binning = Binning::kOr;
  // An event outside the C x H x W sensor is an error (corrupt data) when
  // true, silently dropped when false.
  bool check_coordinates = true;
  // Augmentation, only when BinEvents gets an Rng: the whole sample moves by a
  // uniform integer shift in [-max_time_shift, max_time_shift] steps and
  // [-max_jitter, max_jitter] pixels in x and y (independently); what moves
  // out of the tensor is dropped.
  int64_t max_time_shift = 0;
  int64_t max_jitter = 0;

  Shape shape() const { return {channels, height, width, num_steps}; }
  absl::Status Validate() const;
};

// Fills `out` (C * H * W * T values, overwritten) with the binned events.
// Errors name the first event outside the sensor when check_coordinates.
absl::Status BinEvents(const EventStream& events, const EventTensorOptions& options, Rng* rng,
                       absl::Span<float> out);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_ENCODER_H_
