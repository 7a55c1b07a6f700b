// The IBM DVS Gesture data set: AEDAT 3.1 recordings `userXX_lighting.aedat`,
// each with `userXX_lighting_labels.csv` (a header row, then rows
// `class,startTime_usec,endTime_usec`, classes 1..11). Every labelled
// interval becomes one sample, its events re-based to the interval start and
// binned into [2, 128, 128, T]; classes become 0..10. The split files
// `trials_to_train.txt` / `trials_to_test.txt` list the recordings (users
// 1-23 train, 24-29 test).
//
//   DvsGestureOptions opt;                       // 2 x 128 x 128 x 1450 @ 1 ms
//   SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<EventSampleDataset> train,
//                           MakeDvsGestureSplit("/data/DvsGesture", /*train=*/true, opt));
#ifndef SLAYER_DATA_DVS_GESTURE_H_
#define SLAYER_DATA_DVS_GESTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/encoder.h"
#include "slayer/data/event.h"
#include "slayer/data/event_dataset.h"

namespace slayer {
namespace data {

inline constexpr int kDvsGestureClasses = 11;

struct GestureLabel {
  int label = 0;  // 0-based
  int64_t start_us = 0;
  int64_t end_us = 0;
};
// Parses a labels CSV. The first row is a header when it is not numeric;
// blank lines are skipped. Errors name `name` and the line: wrong field
// count, a class outside 1..num_classes, end <= start.
absl::StatusOr<std::vector<GestureLabel>> ParseGestureLabels(absl::string_view text,
                                                             absl::string_view name,
                                                             int num_classes = kDvsGestureClasses);

// `dir/userXX_lighting.aedat` -> `dir/userXX_lighting_labels.csv`.
std::string GestureLabelsPath(absl::string_view aedat_path);

struct DvsGestureOptions {
  DvsGestureOptions() {
    tensor.height = tensor.width = 128;
    tensor.num_steps = 1450;  // the first 1.45 s of each gesture
  }
  EventTensorOptions tensor;
  int num_classes = kDvsGestureClasses;
};

// Cuts one recording into labelled samples (events with start <= t < end,
// re-based) and adds them to `dataset`; sources read "<aedat>#<row>".
absl::Status AddGestureSamples(const EventStream& recording,
                               const std::vector<GestureLabel>& labels,
                               absl::string_view aedat_path, EventSampleDataset* dataset);

// Loads the listed recordings and their label files.
absl::StatusOr<std::unique_ptr<EventSampleDataset>> MakeDvsGestureDataset(
    const std::vector<std::string>& aedat_paths, const DvsGestureOptions& options);

// Reads `root/trials_to_train.txt` (or `trials_to_test.txt`), one recording
// file name per line, relative to `root`, and loads them.
absl::StatusOr<std::unique_ptr<EventSampleDataset>> MakeDvsGestureSplit(
    const std::string& root, bool train, const DvsGestureOptions& options);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_DVS_GESTURE_H_
