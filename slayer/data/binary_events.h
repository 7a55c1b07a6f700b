// The binary spike-file formats of SLAYER (slayerPytorch's spikeFileIO):
// fixed-size big-endian records, read and written here.
//
//   .bs1  5 bytes  bits 39..24 neuron id, bit 23 polarity, bits 22..0 t (us)
//   .bs2  5 bytes  byte 0 x, byte 1 y, bit 23 polarity, bits 22..0 t (us);
//                  the NMNIST `.bin` format. A record with y == 240 is an
//                  overflow marker that adds 2^13 us to every later timestamp
//                  (slayerPytorch ignores it; we apply it, and the writer
//                  emits markers for timestamps >= 2^23 us).
//   .bs3  7 bytes  x 12 bits, y 12 bits, channel 8 bits, t 24 bits (us)
//   .bsn 10 bytes  desired spike counts: id 16, t_start 24, t_end 24 (us),
//                  count 16 bits
//
// 1-D events (.bs1) carry the neuron id in Event::x and y = 0. Unlike
// slayerPytorch's encode1Dspikes, ids >= 256 are written correctly.
//
//   SLAYER_ASSIGN_OR_RETURN(EventStream s, ReadBs2("NMNIST/Train/1.bs2"));
//   SLAYER_RETURN_IF_ERROR(WriteBs3("copy.bs3", s));
//   SLAYER_ASSIGN_OR_RETURN(EventStream t, ParseBs1(bytes, "in-memory"));
#ifndef SLAYER_DATA_BINARY_EVENTS_H_
#define SLAYER_DATA_BINARY_EVENTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

inline constexpr int kBs1RecordBytes = 5;
inline constexpr int kBs2RecordBytes = 5;
inline constexpr int kBs3RecordBytes = 7;
inline constexpr int kBsnRecordBytes = 10;
// .bs2 overflow marker: y value and the time it adds.
inline constexpr int kBs2OverflowY = 240;
inline constexpr int64_t kBs2OverflowUs = int64_t{1} << 13;

// Parsers: `name` (a path, usually) appears in error messages, which give the
// byte offset of the offending record. A trailing partial record is an error.
absl::StatusOr<EventStream> ParseBs1(absl::string_view bytes, absl::string_view name);
absl::StatusOr<EventStream> ParseBs2(absl::string_view bytes, absl::string_view name);
absl::StatusOr<EventStream> ParseBs3(absl::string_view bytes, absl::string_view name);

// Serialisers: fail (naming the event index and field) when an event does not
// fit its format's fields, e.g. a negative time or x >= 256 in .bs2.
absl::StatusOr<std::string> SerializeBs1(const EventStream& stream);
// Timestamps >= 2^23 us need overflow markers, which only work when the
// events are sorted by time; an event that would need to go back in time
// fails with a message saying so.
absl::StatusOr<std::string> SerializeBs2(const EventStream& stream);
absl::StatusOr<std::string> SerializeBs3(const EventStream& stream);

// Whole files (writes are atomic).
absl::StatusOr<EventStream> ReadBs1(const std::string& path);
absl::StatusOr<EventStream> ReadBs2(const std::string& path);
absl::StatusOr<EventStream> ReadBs3(const std::string& path);
absl::Status WriteBs1(const std::string& path, const EventStream& stream);
absl::Status WriteBs2(const std::string& path, const EventStream& stream);
absl::Status WriteBs3(const std::string& path, const EventStream& stream);

// One row of a .bsn file: neuron `id` should fire `count` spikes in
// [t_start_us, t_end_us).
struct DesiredSpikes {
  int32_t id = 0;
  int64_t t_start_us = 0;
  int64_t t_end_us = 0;
  int32_t count = 0;
  bool operator==(const DesiredSpikes& o) const {
    return id == o.id && t_start_us == o.t_start_us && t_end_us == o.t_end_us &&
           count == o.count;
  }
};
absl::StatusOr<std::vector<DesiredSpikes>> ParseBsn(absl::string_view bytes,
                                                    absl::string_view name);
absl::StatusOr<std::string> SerializeBsn(const std::vector<DesiredSpikes>& rows);
absl::StatusOr<std::vector<DesiredSpikes>> ReadBsn(const std::string& path);
absl::Status WriteBsn(const std::string& path, const std::vector<DesiredSpikes>& rows);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_BINARY_EVENTS_H_
