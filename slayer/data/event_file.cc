#include "slayer/data/event_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"
#include "slayer/data/aedat.h"
#include "slayer/data/binary_events.h"

namespace slayer {
namespace data {

const char* EventFormatName(EventFormat format) {
  switch (format) {
    case EventFormat::kAuto: return "auto";
    case EventFormat::kBs1: return "bs1";
    case EventFormat::kBs2: return "bs2";
    case EventFormat::kBs3: return "bs3";
    case EventFormat::kAedat: return "aedat";
    case EventFormat::kNpy: return "npy";
  }
  return "?";
}

absl::StatusOr<EventFormat> ParseEventFormat(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "auto") return EventFormat::kAuto;
  if (n == "bs1") return EventFormat::kBs1;
  if (n == "bs2" || n == "bin") return EventFormat::kBs2;
  if (n == "bs3") return EventFormat::kBs3;
  if (n == "aedat") return EventFormat::kAedat;
  if (n == "npy") return EventFormat::kNpy;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown event format '", name, "', expected auto|bs1|bs2|bs3|aedat|npy"));
}

absl::StatusOr<EventFormat> DetectEventFormat(absl::string_view path) {
  const std::string p = absl::AsciiStrToLower(path);
  if (absl::EndsWith(p, ".bs1")) return EventFormat::kBs1;
  if (absl::EndsWith(p, ".bs2") || absl::EndsWith(p, ".bin")) return EventFormat::kBs2;
  if (absl::EndsWith(p, ".bs3")) return EventFormat::kBs3;
  if (absl::EndsWith(p, ".aedat")) return EventFormat::kAedat;
  if (absl::EndsWith(p, ".npy")) return EventFormat::kNpy;
  return absl::InvalidArgumentError(
      absl::StrCat("cannot tell the event format of '", path,
                   "' from its extension: expected .bs1, .bs2, .bin, .bs3, .aedat or .npy "
                   "(or name the format)"));
}

absl::StatusOr<EventStream> ReadEvents(const std::string& path, EventFormat format,
                                       const NpyEventOptions& npy) {
  if (format == EventFormat::kAuto) {
    SLAYER_ASSIGN_OR_RETURN(format, DetectEventFormat(path));
  }
  switch (format) {
    case EventFormat::kBs1: return ReadBs1(path);
    case EventFormat::kBs2: return ReadBs2(path);
    case EventFormat::kBs3: return ReadBs3(path);
    case EventFormat::kAedat: return ReadAedat(path);
    case EventFormat::kNpy: return ReadNpyEvents(path, npy);
    case EventFormat::kAuto: break;
  }
  return absl::InternalError("unreachable event format");
}

absl::Status WriteEvents(const std::string& path, const EventStream& stream,
                         EventFormat format) {
  if (format == EventFormat::kAuto) {
    SLAYER_ASSIGN_OR_RETURN(format, DetectEventFormat(path));
  }
  switch (format) {
    case EventFormat::kBs1: return WriteBs1(path, stream);
    case EventFormat::kBs2: return WriteBs2(path, stream);
    case EventFormat::kBs3: return WriteBs3(path, stream);
    case EventFormat::kAedat: return WriteAedat(path, stream);
    case EventFormat::kNpy: return WriteNpyEvents(path, stream);
    case EventFormat::kAuto: break;
  }
  return absl::InternalError("unreachable event format");
}

}  // namespace data
}  // namespace slayer
