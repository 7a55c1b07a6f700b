#include "slayer/data/aedat.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/data/byte_reader.h"

namespace slayer {
namespace data {
namespace {

constexpr absl::string_view kVersionPrefix = "#!AER-DAT";
constexpr absl::string_view kEndHeader = "#!END-HEADER";

// Skips the text header; returns the offset of the first packet.
absl::StatusOr<uint64_t> SkipHeader(absl::string_view bytes, absl::string_view name) {
  if (!absl::StartsWith(bytes, kVersionPrefix)) {
    return DataError(name, 0,
                     absl::StrCat("not an AEDAT file: expected the version line '",
                                  kVersionPrefix, "3.1'"));
  }
  const size_t eol = bytes.find('\n');
  if (eol == absl::string_view::npos) {
    return DataError(name, 0, "truncated AEDAT header: the version line has no end");
  }
  absl::string_view version = bytes.substr(kVersionPrefix.size(), eol - kVersionPrefix.size());
  if (!absl::StartsWith(version, "3.")) {
    return DataError(name, kVersionPrefix.size(),
                     absl::StrCat("unsupported AEDAT version '",
                                  absl::StripTrailingAsciiWhitespace(version),
                                  "', expected 3.x (3.1)"));
  }
  uint64_t pos = eol + 1;
  while (pos < bytes.size() && bytes[pos] == '#') {
    const size_t end = bytes.find('\n', pos);
    if (end == absl::string_view::npos) {
      return DataError(name, pos, "truncated AEDAT header: a '#' line has no end");
    }
    const bool last = absl::StartsWith(bytes.substr(pos), kEndHeader);
    pos = end + 1;
    if (last) break;
  }
  return pos;
}

}  // namespace

absl::StatusOr<EventStream> ParseAedat(absl::string_view bytes, absl::string_view name) {
  SLAYER_ASSIGN_OR_RETURN(uint64_t start, SkipHeader(bytes, name));
  ByteReader r(bytes, name);
  r.Skip(start);
  EventStream out;
  // Upper bound on the events (8 bytes each); avoids regrowth per packet.
  out.events.reserve((bytes.size() - start) / 8);
  while (!r.done()) {
    const uint64_t packet_at = r.offset();
    SLAYER_RETURN_IF_ERROR(r.Need(kAedatPacketHeaderBytes, "an AEDAT packet header"));
    const uint16_t type = r.U16LE();
    r.U16LE();  // source
    const uint32_t event_size = r.U32LE();
    const uint32_t ts_offset = r.U32LE();
    const uint32_t ts_overflow = r.U32LE();
    const uint32_t capacity = r.U32LE();
    const uint32_t number = r.U32LE();
    r.U32LE();  // valid number
    if (number > capacity) {
      return DataError(name, packet_at + 20,
                       absl::StrCat("AEDAT packet event number ", number,
                                    " exceeds its capacity ", capacity));
    }
    const uint64_t payload = uint64_t{capacity} * event_size;
    SLAYER_RETURN_IF_ERROR(r.Need(
        payload, absl::StrCat("AEDAT packet payload (", capacity, " events of ", event_size,
                              " bytes, packet at byte ", packet_at, ")")));
    if (type != kAedatPolarityEvent) {
      r.Skip(payload);
      continue;
    }
    if (event_size != 8 || ts_offset != 4) {
      return DataError(name, packet_at + 4,
                       absl::StrCat("AEDAT polarity packet has event size ", event_size,
                                    " and timestamp offset ", ts_offset,
                                    ", expected 8 and 4"));
    }
    const uint64_t events_at = r.offset();
    for (uint32_t i = 0; i < number; ++i) {
      const uint32_t data = r.U32LE();
      const uint32_t ts = r.U32LE();
      if ((data & 1) == 0) continue;  // invalidated event
      if (ts >> 31) {
        return DataError(name, events_at + uint64_t{8} * i + 4,
                         absl::StrCat("negative AEDAT timestamp (", ts,
                                      " as u32), expected 0..2^31-1"));
      }
      Event e;
      e.x = static_cast<int32_t>((data >> 17) & 0x1FFF);
      e.y = static_cast<int32_t>((data >> 2) & 0x1FFF);
      e.p = static_cast<int32_t>((data >> 1) & 1);
      e.t_us = static_cast<int64_t>((uint64_t{ts_overflow} << 31) | ts);
      out.events.push_back(e);
    }
    r.Skip(payload - uint64_t{8} * number);
  }
  return out;
}

absl::StatusOr<EventStream> ReadAedat(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseAedat(bytes, path);
}

absl::StatusOr<std::string> SerializeAedat(const EventStream& stream, int events_per_packet) {
  if (events_per_packet < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("events_per_packet = ", events_per_packet, ", expected >= 1"));
  }
  std::string out =
      "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Written by slayer-cpp\r\n"
      "#!END-HEADER\r\n";
  auto put32 = [&out](uint32_t v) {
    const char le[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
                        static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
    out.append(le, 4);
  };
  const int64_t n = stream.size();
  for (int64_t i = 0; i < n; ++i) {
    const Event& e = stream.events[i];
    auto bad = [&](absl::string_view field, int64_t value, absl::string_view expected) {
      return absl::InvalidArgumentError(absl::StrCat("cannot write event #", i,
                                                     " as AEDAT: ", field, " = ", value,
                                                     ", expected ", expected));
    };
    if (e.x < 0 || e.x > 0x1FFF) return bad("x", e.x, "0..8191");
    if (e.y < 0 || e.y > 0x1FFF) return bad("y", e.y, "0..8191");
    if (e.p < 0 || e.p > 1) return bad("polarity", e.p, "0 or 1");
    if (e.t_us < 0) return bad("t_us", e.t_us, ">= 0");
  }
  int64_t i = 0;
  while (i < n) {
    const int64_t overflow = stream.events[i].t_us >> 31;
    int64_t end = i;
    while (end < n && end - i < events_per_packet && (stream.events[end].t_us >> 31) == overflow) {
      ++end;
    }
    const uint32_t count = static_cast<uint32_t>(end - i);
    out.push_back(static_cast<char>(kAedatPolarityEvent));
    out.push_back(0);
    out.push_back(1);  // source id 1
    out.push_back(0);
    put32(8);
    put32(4);
    put32(static_cast<uint32_t>(overflow));
    put32(count);
    put32(count);
    put32(count);
    for (; i < end; ++i) {
      const Event& e = stream.events[i];
      put32((static_cast<uint32_t>(e.x) << 17) | (static_cast<uint32_t>(e.y) << 2) |
            (static_cast<uint32_t>(e.p) << 1) | 1u);
      put32(static_cast<uint32_t>(e.t_us & 0x7FFFFFFF));
    }
  }
  return out;
}

absl::Status WriteAedat(const std::string& path, const EventStream& stream) {
  absl::StatusOr<std::string> bytes = SerializeAedat(stream);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomic(path, *bytes);
}

}  // namespace data
}  // namespace slayer
