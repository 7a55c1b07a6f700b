#include "slayer/data/event_dataset.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/data/binary_events.h"

namespace slayer {
namespace data {

absl::StatusOr<std::unique_ptr<EventSampleDataset>> EventSampleDataset::Create(
    int num_classes, const EventTensorOptions& options) {
  SLAYER_RETURN_IF_ERROR(options.Validate());
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("EventSampleDataset: num_classes = ", num_classes, ", expected >= 1"));
  }
  return std::unique_ptr<EventSampleDataset>(new EventSampleDataset(num_classes, options));
}

absl::Status EventSampleDataset::Add(const EventStream& events, int label,
                                     absl::string_view source) {
  if (label < 0 || label >= num_classes_) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": label ", label, ", expected 0..",
                                                   num_classes_ - 1));
  }
  const EventTensorOptions& o = options_;
  // Keep what some time shift in [-max_time_shift, max_time_shift] can bin.
  const int64_t lo = o.t_start - o.max_time_shift;
  const int64_t hi = o.t_start + o.num_steps + o.max_time_shift;
  EventStream kept;
  kept.events.reserve(events.events.size());
  for (int64_t i = 0; i < events.size(); ++i) {
    const Event& e = events.events[i];
    if (e.x < 0 || e.x >= o.width || e.y < 0 || e.y >= o.height || e.p < 0 || e.p >= o.channels) {
      if (!o.check_coordinates) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": event #", i, " (x=", e.x, ", y=", e.y, ", p=", e.p, ", t=", e.t_us,
          " us) lies outside the sensor: expected x < ", o.width, ", y < ", o.height,
          ", p < ", o.channels));
    }
    const double b = std::nearbyint((static_cast<double>(e.t_us) / 1000.0) / o.ts_ms);
    if (!(b >= static_cast<double>(lo) && b < static_cast<double>(hi))) continue;
    kept.events.push_back(e);
  }
  absl::StatusOr<std::string> packed = SerializeBs3(kept);
  if (!packed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", packed.status().message()));
  }
  packed_bytes_ += static_cast<int64_t>(packed->size());
  packed_.push_back(*std::move(packed));
  labels_.push_back(label);
  sources_.emplace_back(source);
  return absl::OkStatus();
}

absl::StatusOr<EventStream> EventSampleDataset::Events(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return ParseBs3(packed_[index], sources_[index]);
}

absl::Status EventSampleDataset::Get(int64_t index, Rng* rng, Tensor* out, int* label) const {
  SLAYER_RETURN_IF_ERROR(CheckGetArgs(*this, index, out, label));
  SLAYER_ASSIGN_OR_RETURN(EventStream events, ParseBs3(packed_[index], sources_[index]));
  absl::Status s = BinEvents(events, options_, rng, out->span());
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(sources_[index], ": ", s.message()));
  *label = labels_[index];
  return absl::OkStatus();
}

absl::StatusOr<int> EventSampleDataset::Label(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return labels_[index];
}

}  // namespace data
}  // namespace slayer
