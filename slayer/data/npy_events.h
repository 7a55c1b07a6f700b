// Event arrays in NumPy .npy files (slayerPytorch's readNpSpikes): an N x 4
// array of rows (x, y, p, t) or an N x 3 array of rows (x, p, t) (1-D data,
// y = 0), any integer or float dtype, with a configurable time unit. Written
// as N x 4 int64 rows (x, y, p, t in us), the `slayer events --to` format.
//
//   NpyEventOptions opt;  opt.time_unit_us = 1000;      // times stored in ms
//   SLAYER_ASSIGN_OR_RETURN(EventStream s, ReadNpyEvents("sample.npy", opt));
//   SLAYER_RETURN_IF_ERROR(WriteNpyEvents("out.npy", s));
#ifndef SLAYER_DATA_NPY_EVENTS_H_
#define SLAYER_DATA_NPY_EVENTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/npy.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

struct NpyEventOptions {
  // Microseconds per unit of the stored time column: 1 for us (what
  // WriteNpyEvents writes), 1000 for ms (slayerPytorch's default
  // timeUnit=1e-3 s), 1e6 for seconds. Times are rounded to whole us.
  double time_unit_us = 1.0;
};

// Errors name `name`, the row and column: wrong rank or width, a non-integral
// or out-of-range coordinate, a non-finite time.
absl::StatusOr<EventStream> EventsFromNpy(const NpyArray& array, const std::string& name,
                                          const NpyEventOptions& options = {});
absl::StatusOr<EventStream> ReadNpyEvents(const std::string& path,
                                          const NpyEventOptions& options = {});

// N x 4 int64 (x, y, p, t_us).
NpyArray EventsToNpy(const EventStream& stream);
absl::Status WriteNpyEvents(const std::string& path, const EventStream& stream);  // atomic

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_NPY_EVENTS_H_
