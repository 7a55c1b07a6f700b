// EventSampleDataset: labelled event streams held in memory and binned into
// [C, H, W, T] spike tensors on each Get (so that random time shifts and
// spatial jitter differ per epoch). Streams are stored packed in the .bs3
// record layout, 7 bytes per event, and only the events that the tensor
// window can ever see are kept: a DVS Gesture split fits in memory this way.
//
//   EventTensorOptions opt;  opt.height = opt.width = 128;  opt.num_steps = 1450;
//   SLAYER_ASSIGN_OR_RETURN(auto ds, EventSampleDataset::Create(/*num_classes=*/11, opt));
//   SLAYER_RETURN_IF_ERROR(ds->Add(gesture_events, label, "user01_led.aedat#3"));
#ifndef SLAYER_DATA_EVENT_DATASET_H_
#define SLAYER_DATA_EVENT_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/dataset.h"
#include "slayer/data/encoder.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

class EventSampleDataset : public Dataset {
 public:
  static absl::StatusOr<std::unique_ptr<EventSampleDataset>> Create(
      int num_classes, const EventTensorOptions& options);

  // Appends a sample (not thread-safe; finish adding before the first Get).
  // Fails, naming `source` and the event, when the label is out of range, an
  // event lies outside the sensor (with options.check_coordinates) or a kept
  // event does not fit the packed layout (x, y < 4096, p < 256,
  // 0 <= t < 2^24 us).
  absl::Status Add(const EventStream& events, int label, absl::string_view source = "sample");

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int num_classes() const override { return num_classes_; }
  Shape sample_shape() const override { return options_.shape(); }
  absl::Status Get(int64_t index, Rng* rng, Tensor* out, int* label) const override;
  absl::StatusOr<int> Label(int64_t index) const override;

  // The kept events of sample `index`.
  absl::StatusOr<EventStream> Events(int64_t index) const;
  const EventTensorOptions& options() const { return options_; }
  // Bytes held by the packed events.
  int64_t packed_bytes() const { return packed_bytes_; }

 private:
  EventSampleDataset(int num_classes, const EventTensorOptions& options)
      : num_classes_(num_classes), options_(options) {}

  int num_classes_;
  EventTensorOptions options_;
  std::vector<std::string> packed_;
  std::vector<int> labels_;
  std::vector<std::string> sources_;
  int64_t packed_bytes_ = 0;
};

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_EVENT_DATASET_H_
