// AEDAT 3.1 (jAER / cAER), the format of the DVS Gesture recordings: text
// header lines that start with '#' (the first is "#!AER-DAT3.1", the last
// "#!END-HEADER"), then packets. A packet is a 28-byte little-endian header
//
//   u16 event type   u16 source      u32 event size   u32 ts offset
//   u32 ts overflow  u32 capacity    u32 event number u32 valid number
//
// followed by capacity x event-size bytes. Polarity events (type 1, 8 bytes)
// are `u32 data, u32 timestamp`: x = (data>>17)&0x1FFF, y = (data>>2)&0x1FFF,
// p = (data>>1)&1, bit 0 = valid; the full time is overflow<<31 | timestamp.
// Other packet types and invalid events are skipped.
//
//   SLAYER_ASSIGN_OR_RETURN(EventStream s, ReadAedat("user01_fluorescent.aedat"));
#ifndef SLAYER_DATA_AEDAT_H_
#define SLAYER_DATA_AEDAT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

inline constexpr int kAedatPacketHeaderBytes = 28;
inline constexpr int kAedatPolarityEvent = 1;

// Polarity events of every packet, in file order. Errors name `name`, the
// byte offset and the expectation (version line, header field, truncation).
absl::StatusOr<EventStream> ParseAedat(absl::string_view bytes, absl::string_view name);
absl::StatusOr<EventStream> ReadAedat(const std::string& path);

// An AEDAT 3.1 file of polarity packets (at most `events_per_packet` each; a
// new packet starts where t>>31 changes). Needs 0 <= x, y < 8192, p in {0,1},
// t >= 0.
absl::StatusOr<std::string> SerializeAedat(const EventStream& stream,
                                           int events_per_packet = 4096);
absl::Status WriteAedat(const std::string& path, const EventStream& stream);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_AEDAT_H_
