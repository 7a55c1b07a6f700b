#include "slayer/data/event.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace slayer {
namespace data {

EventStats ComputeStats(const EventStream& stream) {
  EventStats st;
  st.count = stream.size();
  if (stream.empty()) return st;
  const Event& first = stream.events.front();
  st.t_min_us = st.t_max_us = first.t_us;
  st.x_min = st.x_max = first.x;
  st.y_min = st.y_max = first.y;
  st.p_min = st.p_max = first.p;
  int64_t prev_t = first.t_us;
  for (const Event& e : stream.events) {
    st.t_min_us = std::min(st.t_min_us, e.t_us);
    st.t_max_us = std::max(st.t_max_us, e.t_us);
    st.x_min = std::min(st.x_min, e.x);
    st.x_max = std::max(st.x_max, e.x);
    st.y_min = std::min(st.y_min, e.y);
    st.y_max = std::max(st.y_max, e.y);
    st.p_min = std::min(st.p_min, e.p);
    st.p_max = std::max(st.p_max, e.p);
    if (e.t_us < prev_t) st.time_sorted = false;
    prev_t = e.t_us;
  }
  const double span_ms = static_cast<double>(st.t_max_us - st.t_min_us) / 1000.0;
  if (span_ms > 0) st.events_per_ms = static_cast<double>(st.count) / span_ms;
  return st;
}

std::string FormatStats(const EventStats& st) {
  std::string out = absl::StrFormat("events:        %d\n", st.count);
  if (st.count == 0) return out;
  absl::StrAppendFormat(&out, "time:          %d .. %d us (span %.3f ms)%s\n", st.t_min_us,
                        st.t_max_us, static_cast<double>(st.t_max_us - st.t_min_us) / 1000.0,
                        st.time_sorted ? "" : ", not sorted by time");
  absl::StrAppendFormat(&out, "x:             %d .. %d\n", st.x_min, st.x_max);
  absl::StrAppendFormat(&out, "y:             %d .. %d\n", st.y_min, st.y_max);
  absl::StrAppendFormat(&out, "p:             %d .. %d\n", st.p_min, st.p_max);
  absl::StrAppendFormat(&out, "events per ms: %.3f\n", st.events_per_ms);
  return out;
}

EventStream CutWindow(const EventStream& stream, int64_t t_begin_us, int64_t t_end_us,
                      bool rebase) {
  EventStream out;
  for (const Event& e : stream.events) {
    if (e.t_us < t_begin_us || e.t_us >= t_end_us) continue;
    Event k = e;
    if (rebase) k.t_us -= t_begin_us;
    out.events.push_back(k);
  }
  return out;
}

void SortByTime(EventStream* stream) {
  std::stable_sort(stream->events.begin(), stream->events.end(),
                   [](const Event& a, const Event& b) { return a.t_us < b.t_us; });
}

}  // namespace data
}  // namespace slayer
