// One entry point for every event-file format, chosen by name or by the
// file extension: .bs1, .bs2/.bin (NMNIST), .bs3, .aedat (AEDAT 3.1) and .npy.
// This is what `slayer events` uses.
//
//   SLAYER_ASSIGN_OR_RETURN(EventFormat f, ParseEventFormat(flag));  // "auto", "bs2", ...
//   SLAYER_ASSIGN_OR_RETURN(EventStream s, ReadEvents(path, f));
//   SLAYER_RETURN_IF_ERROR(WriteEvents("copy.bs3", s));              // format from extension
#ifndef SLAYER_DATA_EVENT_FILE_H_
#define SLAYER_DATA_EVENT_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/event.h"
#include "slayer/data/npy_events.h"

namespace slayer {
namespace data {

enum class EventFormat { kAuto, kBs1, kBs2, kBs3, kAedat, kNpy };

const char* EventFormatName(EventFormat format);  // "auto", "bs1", ...
// "auto", "bs1", "bs2" (or "bin"), "bs3", "aedat", "npy".
absl::StatusOr<EventFormat> ParseEventFormat(absl::string_view name);
// By extension: .bs1, .bs2, .bin, .bs3, .aedat, .npy (case-insensitive).
absl::StatusOr<EventFormat> DetectEventFormat(absl::string_view path);

// kAuto detects the format from the extension. `npy` applies to .npy only.
absl::StatusOr<EventStream> ReadEvents(const std::string& path,
                                       EventFormat format = EventFormat::kAuto,
                                       const NpyEventOptions& npy = {});
// Atomic; .npy is written as N x 4 int64 with times in us.
absl::Status WriteEvents(const std::string& path, const EventStream& stream,
                         EventFormat format = EventFormat::kAuto);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_EVENT_FILE_H_
