#include "slayer/data/dvs_gesture.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/data/aedat.h"

namespace slayer {
namespace data {

absl::StatusOr<std::vector<GestureLabel>> ParseGestureLabels(absl::string_view text,
                                                             absl::string_view name,
                                                             int num_classes) {
  std::vector<GestureLabel> out;
  int line_no = 0;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    int cls = 0;
    int64_t start = 0, end = 0;
    const bool numeric = f.size() == 3 &&
                         absl::SimpleAtoi(absl::StripAsciiWhitespace(f[0]), &cls) &&
                         absl::SimpleAtoi(absl::StripAsciiWhitespace(f[1]), &start) &&
                         absl::SimpleAtoi(absl::StripAsciiWhitespace(f[2]), &end);
    if (first && !numeric) {  // the header row
      first = false;
      continue;
    }
    first = false;
    if (!numeric) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": line ", line_no, ": '", line,
                       "', expected 'class,startTime_usec,endTime_usec'"));
    }
    if (cls < 1 || cls > num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": line ", line_no, ": class ", cls,
                                                     ", expected 1..", num_classes));
    }
    if (start < 0 || end <= start) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": line ", line_no, ": interval [",
                                                     start, ", ", end,
                                                     ") us, expected 0 <= start < end"));
    }
    out.push_back({cls - 1, start, end});
  }
  return out;
}

std::string GestureLabelsPath(absl::string_view aedat_path) {
  absl::string_view stem = aedat_path;
  if (absl::EndsWith(stem, ".aedat")) stem.remove_suffix(6);
  return absl::StrCat(stem, "_labels.csv");
}

absl::Status AddGestureSamples(const EventStream& recording,
                               const std::vector<GestureLabel>& labels,
                               absl::string_view aedat_path, EventSampleDataset* dataset) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const GestureLabel& g = labels[i];
    EventStream sample = CutWindow(recording, g.start_us, g.end_us, /*rebase=*/true);
    SLAYER_RETURN_IF_ERROR(dataset->Add(sample, g.label, absl::StrCat(aedat_path, "#", i + 1)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EventSampleDataset>> MakeDvsGestureDataset(
    const std::vector<std::string>& aedat_paths, const DvsGestureOptions& options) {
  SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<EventSampleDataset> ds,
                          EventSampleDataset::Create(options.num_classes, options.tensor));
  for (const std::string& path : aedat_paths) {
    const std::string labels_path = GestureLabelsPath(path);
    SLAYER_ASSIGN_OR_RETURN(std::string csv, ReadFile(labels_path));
    SLAYER_ASSIGN_OR_RETURN(std::vector<GestureLabel> labels,
                            ParseGestureLabels(csv, labels_path, options.num_classes));
    SLAYER_ASSIGN_OR_RETURN(EventStream recording, ReadAedat(path));
    SLAYER_RETURN_IF_ERROR(AddGestureSamples(recording, labels, path, ds.get()));
  }
  return ds;
}

absl::StatusOr<std::unique_ptr<EventSampleDataset>> MakeDvsGestureSplit(
    const std::string& root, bool train, const DvsGestureOptions& options) {
  const std::string list =
      absl::StrCat(root, "/", train ? "trials_to_train.txt" : "trials_to_test.txt");
  SLAYER_ASSIGN_OR_RETURN(std::string text, ReadFile(list));
  std::vector<std::string> paths;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    paths.push_back(absl::StrCat(root, "/", line));
  }
  if (paths.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(list, ": no recordings listed, expected one .aedat name per line"));
  }
  return MakeDvsGestureDataset(paths, options);
}

}  // namespace data
}  // namespace slayer
