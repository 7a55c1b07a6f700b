#include "slayer/data/nmnist.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/data/binary_events.h"
#include "slayer/data/byte_reader.h"

namespace slayer {
namespace data {

absl::StatusOr<std::vector<SampleEntry>> ParseSampleList(absl::string_view text,
                                                         absl::string_view name,
                                                         int num_classes) {
  std::vector<SampleEntry> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t,"), absl::SkipEmpty());
    SampleEntry e;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &e.id) ||
        !absl::SimpleAtoi(fields[1], &e.label)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": line ", line_no, ": '", line,
                                                     "', expected '<sample id> <class>'"));
    }
    if (e.id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": line ", line_no, ": sample id ", e.id, ", expected >= 0"));
    }
    if (e.label < 0 || e.label >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": line ", line_no, ": class ",
                                                     e.label, ", expected 0..",
                                                     num_classes - 1));
    }
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<NmnistDataset>> NmnistDataset::Open(const std::string& folder,
                                                                   const std::string& list_path,
                                                                   const NmnistOptions& options) {
  SLAYER_RETURN_IF_ERROR(options.tensor.Validate());
  Format format;
  if (options.extension == ".bs2" || options.extension == ".bin") format = Format::kBs2;
  else if (options.extension == ".bs1") format = Format::kBs1;
  else if (options.extension == ".bs3") format = Format::kBs3;
  else {
    return absl::InvalidArgumentError(absl::StrCat("NMNIST sample extension '",
                                                   options.extension,
                                                   "', expected .bs2, .bin, .bs1 or .bs3"));
  }
  if (options.num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes = ", options.num_classes, ", expected >= 1"));
  }
  SLAYER_ASSIGN_OR_RETURN(std::string text, ReadFile(list_path));
  SLAYER_ASSIGN_OR_RETURN(std::vector<SampleEntry> entries,
                          ParseSampleList(text, list_path, options.num_classes));
  std::unique_ptr<NmnistDataset> ds(
      new NmnistDataset(folder, std::move(entries), options, format));
  if (options.check_files) {
    for (int64_t i = 0; i < ds->size(); ++i) {
      const std::string path = ds->SamplePath(i);
      if (!FileExists(path)) {
        return absl::NotFoundError(absl::StrCat(list_path, ": sample ", ds->entries_[i].id,
                                                " has no file '", path, "'"));
      }
    }
  }
  return ds;
}

std::string NmnistDataset::SamplePath(int64_t index) const {
  return absl::StrCat(folder_, folder_.empty() || folder_.back() == '/' ? "" : "/",
                      entries_[index].id, options_.extension);
}

absl::StatusOr<EventStream> NmnistDataset::Events(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  const std::string path = SamplePath(index);
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  switch (format_) {
    case Format::kBs1: return ParseBs1(bytes, path);
    case Format::kBs3: return ParseBs3(bytes, path);
    case Format::kBs2: break;
  }
  return ParseBs2(bytes, path);
}

absl::Status NmnistDataset::Get(int64_t index, Rng* rng, Tensor* out, int* label) const {
  SLAYER_RETURN_IF_ERROR(CheckGetArgs(*this, index, out, label));
  SLAYER_ASSIGN_OR_RETURN(EventStream events, Events(index));
  absl::Status s = BinEvents(events, options_.tensor, rng, out->span());
  if (!s.ok()) {
    // Only coordinate errors get here: locate the record of the bad event.
    int64_t bad = -1;
    for (int64_t i = 0; i < events.size() && bad < 0; ++i) {
      const Event& e = events.events[i];
      if (e.x < 0 || e.x >= options_.tensor.width || e.y < 0 || e.y >= options_.tensor.height ||
          e.p < 0 || e.p >= options_.tensor.channels) {
        bad = i;
      }
    }
    const std::string path = SamplePath(index);
    if (bad < 0) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
    uint64_t offset = 0;
    if (format_ == Format::kBs2) {
      // Overflow markers are records too: count them back in.
      SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
      int64_t seen = -1;
      for (uint64_t o = 0; o + kBs2RecordBytes <= bytes.size(); o += kBs2RecordBytes) {
        if (static_cast<uint8_t>(bytes[o + 1]) == kBs2OverflowY) continue;
        if (++seen == bad) {
          offset = o;
          break;
        }
      }
    } else {
      offset = static_cast<uint64_t>(bad) *
               (format_ == Format::kBs1 ? kBs1RecordBytes : kBs3RecordBytes);
    }
    return DataError(path, offset, s.message());
  }
  *label = entries_[index].label;
  return absl::OkStatus();
}

absl::StatusOr<int> NmnistDataset::Label(int64_t index) const {
  SLAYER_RETURN_IF_ERROR(CheckIndex(*this, index));
  return entries_[index].label;
}

}  // namespace data
}  // namespace slayer
