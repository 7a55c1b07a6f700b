// Address-event data: one Event per spike of a sensor or neuron, with an
// integer timestamp in microseconds, and EventStream, the ordered list that
// every reader in slayer/data returns and every encoder consumes.
//
//   SLAYER_ASSIGN_OR_RETURN(EventStream s, ReadEvents("sample.bs2"));
//   EventStats st = ComputeStats(s);          // count, ranges, events per ms
//   EventStream gesture = CutWindow(s, t0_us, t1_us, /*rebase=*/true);
#ifndef SLAYER_DATA_EVENT_H_
#define SLAYER_DATA_EVENT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace slayer {
namespace data {

// One event. For 2-D sensors (x, y) is the pixel and p the polarity (or, in
// .bs3, an arbitrary channel); 1-D data (.bs1) puts the neuron id in x and
// y = 0.
struct Event {
  int32_t x = 0;
  int32_t y = 0;
  int32_t p = 0;
  int64_t t_us = 0;

  bool operator==(const Event& o) const {
    return x == o.x && y == o.y && p == o.p && t_us == o.t_us;
  }
  bool operator!=(const Event& o) const { return !(*this == o); }
};

// Events in file order (readers do not sort; most sensors emit them sorted).
struct EventStream {
  std::vector<Event> events;

  int64_t size() const { return static_cast<int64_t>(events.size()); }
  bool empty() const { return events.empty(); }
  const Event& operator[](int64_t i) const { return events[i]; }
  void Add(int32_t x, int32_t y, int32_t p, int64_t t_us) { events.push_back({x, y, p, t_us}); }
  bool operator==(const EventStream& o) const { return events == o.events; }
};

// Summary of a stream; all ranges are 0 when it is empty.
struct EventStats {
  int64_t count = 0;
  int64_t t_min_us = 0, t_max_us = 0;
  int32_t x_min = 0, x_max = 0;
  int32_t y_min = 0, y_max = 0;
  int32_t p_min = 0, p_max = 0;
  bool time_sorted = true;
  // count / (t_max - t_min) in ms (0 when the span is 0).
  double events_per_ms = 0.0;
};
EventStats ComputeStats(const EventStream& stream);
// Multi-line human-readable summary (the `slayer events` output).
std::string FormatStats(const EventStats& stats);

// Events with t_begin <= t < t_end, in their order; `rebase` subtracts t_begin
// from the kept timestamps.
EventStream CutWindow(const EventStream& stream, int64_t t_begin_us, int64_t t_end_us,
                      bool rebase);

// Stable sort by timestamp.
void SortByTime(EventStream* stream);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_EVENT_H_
