#include "slayer/data/binary_events.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/file.h"
#include "slayer/core/status.h"
#include "slayer/data/byte_reader.h"

namespace slayer {
namespace data {
namespace {

// Checks that `bytes` holds whole records and returns how many.
absl::StatusOr<int64_t> CountRecords(absl::string_view bytes, absl::string_view name,
                                     int record_bytes, absl::string_view format) {
  const uint64_t n = bytes.size() / record_bytes;
  const uint64_t tail = bytes.size() % record_bytes;
  if (tail != 0) {
    return DataError(name, n * record_bytes,
                     absl::StrCat("truncated ", format, " record: expected ", record_bytes,
                                  " bytes, only ", tail, " left (file size ", bytes.size(),
                                  ")"));
  }
  return static_cast<int64_t>(n);
}

inline uint32_t B(absl::string_view bytes, uint64_t i) {
  return static_cast<uint8_t>(bytes[i]);
}

// A field check for the serialisers.
absl::Status FieldError(absl::string_view format, int64_t index, absl::string_view field,
                        int64_t value, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("cannot write event #", index, " as ", format,
                                                 ": ", field, " = ", value, ", expected ",
                                                 expected));
}

absl::StatusOr<EventStream> ReadWith(
    const std::string& path,
    absl::StatusOr<EventStream> (*parse)(absl::string_view, absl::string_view)) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return parse(bytes, path);
}

absl::Status WriteWith(const std::string& path, const EventStream& stream,
                       absl::StatusOr<std::string> (*serialize)(const EventStream&)) {
  absl::StatusOr<std::string> bytes = serialize(stream);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomic(path, *bytes);
}

constexpr int64_t kT23 = int64_t{1} << 23;
constexpr int64_t kT24 = int64_t{1} << 24;

}  // namespace

absl::StatusOr<EventStream> ParseBs1(absl::string_view bytes, absl::string_view name) {
  SLAYER_ASSIGN_OR_RETURN(int64_t n, CountRecords(bytes, name, kBs1RecordBytes, ".bs1"));
  EventStream out;
  out.events.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t o = static_cast<uint64_t>(i) * kBs1RecordBytes;
    Event& e = out.events[i];
    e.x = static_cast<int32_t>((B(bytes, o) << 8) | B(bytes, o + 1));
    e.y = 0;
    e.p = static_cast<int32_t>(B(bytes, o + 2) >> 7);
    e.t_us = ((B(bytes, o + 2) & 0x7F) << 16) | (B(bytes, o + 3) << 8) | B(bytes, o + 4);
  }
  return out;
}

absl::StatusOr<EventStream> ParseBs2(absl::string_view bytes, absl::string_view name) {
  SLAYER_ASSIGN_OR_RETURN(int64_t n, CountRecords(bytes, name, kBs2RecordBytes, ".bs2"));
  EventStream out;
  out.events.reserve(n);
  int64_t overflow = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t o = static_cast<uint64_t>(i) * kBs2RecordBytes;
    const uint32_t y = B(bytes, o + 1);
    if (y == kBs2OverflowY) {
      overflow += kBs2OverflowUs;
      continue;
    }
    const int64_t t =
        ((B(bytes, o + 2) & 0x7F) << 16) | (B(bytes, o + 3) << 8) | B(bytes, o + 4);
    out.events.push_back({static_cast<int32_t>(B(bytes, o)), static_cast<int32_t>(y),
                          static_cast<int32_t>(B(bytes, o + 2) >> 7), t + overflow});
  }
  return out;
}

absl::StatusOr<EventStream> ParseBs3(absl::string_view bytes, absl::string_view name) {
  SLAYER_ASSIGN_OR_RETURN(int64_t n, CountRecords(bytes, name, kBs3RecordBytes, ".bs3"));
  EventStream out;
  out.events.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t o = static_cast<uint64_t>(i) * kBs3RecordBytes;
    Event& e = out.events[i];
    e.x = static_cast<int32_t>((B(bytes, o) << 4) | (B(bytes, o + 1) >> 4));
    e.y = static_cast<int32_t>(((B(bytes, o + 1) & 0x0F) << 8) | B(bytes, o + 2));
    e.p = static_cast<int32_t>(B(bytes, o + 3));
    e.t_us = (B(bytes, o + 4) << 16) | (B(bytes, o + 5) << 8) | B(bytes, o + 6);
  }
  return out;
}

absl::StatusOr<std::string> SerializeBs1(const EventStream& stream) {
  std::string out(stream.events.size() * kBs1RecordBytes, '\0');
  for (int64_t i = 0; i < stream.size(); ++i) {
    const Event& e = stream.events[i];
    if (e.x < 0 || e.x > 0xFFFF) return FieldError(".bs1", i, "neuron id (x)", e.x, "0..65535");
    if (e.y != 0) return FieldError(".bs1", i, "y", e.y, "0 (.bs1 holds 1-D events)");
    if (e.p < 0 || e.p > 1) return FieldError(".bs1", i, "polarity", e.p, "0 or 1");
    if (e.t_us < 0 || e.t_us >= kT23) return FieldError(".bs1", i, "t_us", e.t_us, "0..2^23-1");
    char* r = &out[i * kBs1RecordBytes];
    r[0] = static_cast<char>((e.x >> 8) & 0xFF);
    r[1] = static_cast<char>(e.x & 0xFF);
    r[2] = static_cast<char>((e.p << 7) | ((e.t_us >> 16) & 0x7F));
    r[3] = static_cast<char>((e.t_us >> 8) & 0xFF);
    r[4] = static_cast<char>(e.t_us & 0xFF);
  }
  return out;
}

absl::StatusOr<std::string> SerializeBs2(const EventStream& stream) {
  std::string out;
  out.reserve(stream.events.size() * kBs2RecordBytes);
  int64_t overflow = 0;
  for (int64_t i = 0; i < stream.size(); ++i) {
    const Event& e = stream.events[i];
    if (e.x < 0 || e.x > 255) return FieldError(".bs2", i, "x", e.x, "0..255");
    if (e.y < 0 || e.y > 255 || e.y == kBs2OverflowY) {
      return FieldError(".bs2", i, "y", e.y, "0..255 but not 240 (the overflow marker)");
    }
    if (e.p < 0 || e.p > 1) return FieldError(".bs2", i, "polarity", e.p, "0 or 1");
    if (e.t_us < overflow) {
      return FieldError(".bs2", i, "t_us", e.t_us,
                        absl::StrCat(">= ", overflow,
                                     " (earlier events needed overflow markers; sort the "
                                     "events by time)"));
    }
    while (e.t_us - overflow >= kT23) {
      const char marker[kBs2RecordBytes] = {0, static_cast<char>(kBs2OverflowY), 0, 0, 0};
      out.append(marker, kBs2RecordBytes);
      overflow += kBs2OverflowUs;
    }
    const int64_t t = e.t_us - overflow;
    const char r[kBs2RecordBytes] = {static_cast<char>(e.x), static_cast<char>(e.y),
                                     static_cast<char>((e.p << 7) | ((t >> 16) & 0x7F)),
                                     static_cast<char>((t >> 8) & 0xFF),
                                     static_cast<char>(t & 0xFF)};
    out.append(r, kBs2RecordBytes);
  }
  return out;
}

absl::StatusOr<std::string> SerializeBs3(const EventStream& stream) {
  std::string out(stream.events.size() * kBs3RecordBytes, '\0');
  for (int64_t i = 0; i < stream.size(); ++i) {
    const Event& e = stream.events[i];
    if (e.x < 0 || e.x > 0xFFF) return FieldError(".bs3", i, "x", e.x, "0..4095");
    if (e.y < 0 || e.y > 0xFFF) return FieldError(".bs3", i, "y", e.y, "0..4095");
    if (e.p < 0 || e.p > 0xFF) return FieldError(".bs3", i, "channel", e.p, "0..255");
    if (e.t_us < 0 || e.t_us >= kT24) return FieldError(".bs3", i, "t_us", e.t_us, "0..2^24-1");
    char* r = &out[i * kBs3RecordBytes];
    r[0] = static_cast<char>((e.x >> 4) & 0xFF);
    r[1] = static_cast<char>(((e.x & 0x0F) << 4) | ((e.y >> 8) & 0x0F));
    r[2] = static_cast<char>(e.y & 0xFF);
    r[3] = static_cast<char>(e.p);
    r[4] = static_cast<char>((e.t_us >> 16) & 0xFF);
    r[5] = static_cast<char>((e.t_us >> 8) & 0xFF);
    r[6] = static_cast<char>(e.t_us & 0xFF);
  }
  return out;
}

absl::StatusOr<EventStream> ReadBs1(const std::string& path) { return ReadWith(path, ParseBs1); }
absl::StatusOr<EventStream> ReadBs2(const std::string& path) { return ReadWith(path, ParseBs2); }
absl::StatusOr<EventStream> ReadBs3(const std::string& path) { return ReadWith(path, ParseBs3); }

absl::Status WriteBs1(const std::string& path, const EventStream& stream) {
  return WriteWith(path, stream, SerializeBs1);
}
absl::Status WriteBs2(const std::string& path, const EventStream& stream) {
  return WriteWith(path, stream, SerializeBs2);
}
absl::Status WriteBs3(const std::string& path, const EventStream& stream) {
  return WriteWith(path, stream, SerializeBs3);
}

absl::StatusOr<std::vector<DesiredSpikes>> ParseBsn(absl::string_view bytes,
                                                    absl::string_view name) {
  SLAYER_ASSIGN_OR_RETURN(int64_t n, CountRecords(bytes, name, kBsnRecordBytes, ".bsn"));
  std::vector<DesiredSpikes> rows(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t o = static_cast<uint64_t>(i) * kBsnRecordBytes;
    DesiredSpikes& d = rows[i];
    d.id = static_cast<int32_t>((B(bytes, o) << 8) | B(bytes, o + 1));
    d.t_start_us = (B(bytes, o + 2) << 16) | (B(bytes, o + 3) << 8) | B(bytes, o + 4);
    d.t_end_us = (B(bytes, o + 5) << 16) | (B(bytes, o + 6) << 8) | B(bytes, o + 7);
    d.count = static_cast<int32_t>((B(bytes, o + 8) << 8) | B(bytes, o + 9));
  }
  return rows;
}

absl::StatusOr<std::string> SerializeBsn(const std::vector<DesiredSpikes>& rows) {
  std::string out(rows.size() * kBsnRecordBytes, '\0');
  for (size_t i = 0; i < rows.size(); ++i) {
    const DesiredSpikes& d = rows[i];
    const int64_t index = static_cast<int64_t>(i);
    if (d.id < 0 || d.id > 0xFFFF) return FieldError(".bsn", index, "id", d.id, "0..65535");
    if (d.t_start_us < 0 || d.t_start_us >= kT24) {
      return FieldError(".bsn", index, "t_start_us", d.t_start_us, "0..2^24-1");
    }
    if (d.t_end_us < 0 || d.t_end_us >= kT24) {
      return FieldError(".bsn", index, "t_end_us", d.t_end_us, "0..2^24-1");
    }
    if (d.count < 0 || d.count > 0xFFFF) {
      return FieldError(".bsn", index, "count", d.count, "0..65535");
    }
    char* r = &out[i * kBsnRecordBytes];
    r[0] = static_cast<char>((d.id >> 8) & 0xFF);
    r[1] = static_cast<char>(d.id & 0xFF);
    r[2] = static_cast<char>((d.t_start_us >> 16) & 0xFF);
    r[3] = static_cast<char>((d.t_start_us >> 8) & 0xFF);
    r[4] = static_cast<char>(d.t_start_us & 0xFF);
    r[5] = static_cast<char>((d.t_end_us >> 16) & 0xFF);
    r[6] = static_cast<char>((d.t_end_us >> 8) & 0xFF);
    r[7] = static_cast<char>(d.t_end_us & 0xFF);
    r[8] = static_cast<char>((d.count >> 8) & 0xFF);
    r[9] = static_cast<char>(d.count & 0xFF);
  }
  return out;
}

absl::StatusOr<std::vector<DesiredSpikes>> ReadBsn(const std::string& path) {
  SLAYER_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseBsn(bytes, path);
}

absl::Status WriteBsn(const std::string& path, const std::vector<DesiredSpikes>& rows) {
  absl::StatusOr<std::string> bytes = SerializeBsn(rows);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomic(path, *bytes);
}

}  // namespace data
}  // namespace slayer
