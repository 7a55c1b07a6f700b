#include "slayer/data/npy_events.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slayer/core/status.h"

namespace slayer {
namespace data {
namespace {

// One element of a numeric array, kept exact for integer dtypes.
struct Value {
  bool is_int = true;
  int64_t i = 0;
  double d = 0;
  bool int_in_range = true;  // false for uint64 values above INT64_MAX
};

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

Value ElementAt(const NpyArray& a, int64_t k) {
  const char* p = a.data.data() + k * NpyDTypeSize(a.dtype);
  Value v;
  switch (a.dtype) {
    case NpyDType::kBool: v.i = Load<uint8_t>(p) != 0; break;
    case NpyDType::kInt8: v.i = Load<int8_t>(p); break;
    case NpyDType::kUInt8: v.i = Load<uint8_t>(p); break;
    case NpyDType::kInt16: v.i = Load<int16_t>(p); break;
    case NpyDType::kUInt16: v.i = Load<uint16_t>(p); break;
    case NpyDType::kInt32: v.i = Load<int32_t>(p); break;
    case NpyDType::kUInt32: v.i = Load<uint32_t>(p); break;
    case NpyDType::kInt64: v.i = Load<int64_t>(p); break;
    case NpyDType::kUInt64: {
      const uint64_t u = Load<uint64_t>(p);
      v.int_in_range = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      v.i = static_cast<int64_t>(u & 0x7FFFFFFFFFFFFFFFull);
      break;
    }
    case NpyDType::kFloat32: v.is_int = false; v.d = Load<float>(p); break;
    case NpyDType::kFloat64: v.is_int = false; v.d = Load<double>(p); break;
  }
  if (v.is_int) v.d = static_cast<double>(v.i);
  return v;
}

}  // namespace

absl::StatusOr<EventStream> EventsFromNpy(const NpyArray& a, const std::string& name,
                                          const NpyEventOptions& options) {
  if (a.shape.size() != 2 || (a.shape[1] != 4 && a.shape[1] != 3)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": event array of shape ",
                                                   ShapeString(a.shape),
                                                   ", expected N x 4 (x, y, p, t) or N x 3 "
                                                   "(x, p, t)"));
  }
  if (!(options.time_unit_us > 0) || !std::isfinite(options.time_unit_us)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_unit_us = ", options.time_unit_us, ", expected > 0"));
  }
  const int64_t n = a.shape[0], cols = a.shape[1];
  if (n < 0 || static_cast<uint64_t>(n) > a.data.size() ||
      a.data.size() != static_cast<uint64_t>(n) * cols * NpyDTypeSize(a.dtype)) {
    return absl::DataLossError(absl::StrCat(name, ": ", a.data.size(), " data bytes for shape ",
                                            ShapeString(a.shape), " of ", NpyDTypeName(a.dtype)));
  }
  static const char* const kXypt[] = {"x", "y", "p", "t"};
  static const char* const kXpt[] = {"x", "p", "t"};
  const char* const* col_names = cols == 4 ? kXypt : kXpt;
  const double unit = options.time_unit_us;
  const bool integral_unit = unit == std::floor(unit) && unit < 9.0e15;
  EventStream out;
  out.events.resize(n);
  if (a.dtype == NpyDType::kInt64 && cols == 4 && unit == 1.0) {
    // The layout WriteNpyEvents writes: no conversions needed.
    const char* p = a.data.data();
    int64_t r = 0;
    for (; r < n; ++r, p += 4 * sizeof(int64_t)) {
      int64_t v[4];
      std::memcpy(v, p, sizeof(v));
      if (v[0] < 0 || v[0] > INT32_MAX || v[1] < 0 || v[1] > INT32_MAX || v[2] < 0 ||
          v[2] > INT32_MAX) {
        break;  // the general loop below reports it
      }
      out.events[r] = {static_cast<int32_t>(v[0]), static_cast<int32_t>(v[1]),
                       static_cast<int32_t>(v[2]), v[3]};
    }
    if (r == n) return out;
  }
  for (int64_t r = 0; r < n; ++r) {
    int32_t coord[3] = {0, 0, 0};  // x, y, p
    for (int64_t c = 0; c + 1 < cols; ++c) {
      const Value v = ElementAt(a, r * cols + c);
      const bool ok = v.is_int ? (v.int_in_range && v.i >= 0 && v.i <= INT32_MAX)
                               : (v.d >= 0 && v.d <= INT32_MAX && v.d == std::floor(v.d));
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": row ", r, ", column ", col_names[c], " = ", v.is_int ? absl::StrCat(v.i) : absl::StrCat(v.d),
            v.int_in_range ? "" : " (beyond int64)", ", expected an integer in 0..2^31-1"));
      }
      const int32_t value = static_cast<int32_t>(v.is_int ? v.i : static_cast<int64_t>(v.d));
      coord[cols == 4 ? c : (c == 0 ? 0 : 2)] = value;
    }
    const Value t = ElementAt(a, r * cols + cols - 1);
    int64_t t_us = 0;
    constexpr double kMaxUs = 9.0e18;
    if (t.is_int && integral_unit && t.int_in_range &&
        std::fabs(static_cast<double>(t.i)) * unit < kMaxUs) {
      t_us = t.i * static_cast<int64_t>(unit);
    } else {
      const double us = t.d * unit;
      if (!t.int_in_range || !std::isfinite(us) || std::fabs(us) >= kMaxUs) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": row ", r, ", column t = ", t.d, " x ", unit,
                         " us, expected a finite time within +-9e18 us"));
      }
      t_us = std::llround(us);
    }
    out.events[r] = {coord[0], coord[1], coord[2], t_us};
  }
  return out;
}

absl::StatusOr<EventStream> ReadNpyEvents(const std::string& path,
                                          const NpyEventOptions& options) {
  SLAYER_ASSIGN_OR_RETURN(NpyArray a, ReadNpy(path));
  return EventsFromNpy(a, path, options);
}

NpyArray EventsToNpy(const EventStream& stream) {
  std::vector<int64_t> values;
  values.reserve(stream.events.size() * 4);
  for (const Event& e : stream.events) {
    values.push_back(e.x);
    values.push_back(e.y);
    values.push_back(e.p);
    values.push_back(e.t_us);
  }
  return NpyArray::FromInt64({stream.size(), 4}, values);
}

absl::Status WriteNpyEvents(const std::string& path, const EventStream& stream) {
  return WriteNpy(path, EventsToNpy(stream));
}

}  // namespace data
}  // namespace slayer
