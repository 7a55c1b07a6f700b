#include "slayer/data/npy_events.h"

#include <cstring>

#include "gtest/gtest.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

template <typename T>
NpyArray Array(NpyDType dtype, Shape shape, std::vector<T> values) {
  NpyArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.data.resize(values.size() * sizeof(T));
  std::memcpy(&a.data[0], values.data(), a.data.size());
  return a;
}

TEST(NpyEventsTest, XyptInt64RoundTrip) {
  EventStream s = RandomEvents(100, 34, 34, 2, 1000, 1);
  NpyArray a = EventsToNpy(s);
  EXPECT_EQ(a.shape, (Shape{100, 4}));
  EXPECT_EQ(a.dtype, NpyDType::kInt64);
  absl::StatusOr<EventStream> back = EventsFromNpy(a, "a.npy");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  const std::string path = TestPath("events.npy");
  ASSERT_TRUE(WriteNpyEvents(path, s).ok());
  EXPECT_EQ(*ReadNpyEvents(path), s);
}

TEST(NpyEventsTest, XptFloatWithTimeUnit) {
  // slayerPytorch's layout for 1-D data: (x, p, t) with t in ms.
  NpyArray a = Array<double>(NpyDType::kFloat64, {2, 3}, {7, 1, 1.5, 300, 0, 2.25});
  NpyEventOptions ms;
  ms.time_unit_us = 1000;
  absl::StatusOr<EventStream> s = EventsFromNpy(a, "x.npy", ms);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0], (Event{7, 0, 1, 1500}));
  EXPECT_EQ((*s)[1], (Event{300, 0, 0, 2250}));
  NpyArray f32 = Array<float>(NpyDType::kFloat32, {1, 4}, {1, 2, 1, 0.001f});
  NpyEventOptions sec;
  sec.time_unit_us = 1e6;
  EXPECT_EQ(EventsFromNpy(f32, "s", sec)->events[0], (Event{1, 2, 1, 1000}));
  NpyArray u16 = Array<uint16_t>(NpyDType::kUInt16, {1, 4}, {3, 4, 1, 65535});
  EXPECT_EQ(EventsFromNpy(u16, "u", ms)->events[0].t_us, 65535000);
}

TEST(NpyEventsTest, BadArraysNameRowAndColumn) {
  absl::Status st = EventsFromNpy(Array<int64_t>(NpyDType::kInt64, {2, 5}, std::vector<int64_t>(10)),
                                  "w.npy").status();
  EXPECT_NE(st.message().find("w.npy: event array of shape [2,5]"), std::string::npos) << st;
  st = EventsFromNpy(Array<double>(NpyDType::kFloat64, {1, 4}, {1.5, 0, 0, 0}), "f.npy").status();
  EXPECT_NE(st.message().find("f.npy: row 0, column x = 1.5"), std::string::npos) << st;
  st = EventsFromNpy(Array<int32_t>(NpyDType::kInt32, {2, 3}, {0, 0, 0, 0, -1, 0}), "n.npy")
           .status();
  EXPECT_NE(st.message().find("row 1, column p = -1"), std::string::npos) << st;
  st = EventsFromNpy(Array<double>(NpyDType::kFloat64, {1, 3}, {0, 0, 1.0 / 0.0}), "i.npy")
           .status();
  EXPECT_NE(st.message().find("row 0, column t"), std::string::npos) << st;
  NpyArray short_data = Array<int64_t>(NpyDType::kInt64, {3, 4}, std::vector<int64_t>(4));
  EXPECT_FALSE(EventsFromNpy(short_data, "s").ok());
  EXPECT_FALSE(ReadNpyEvents(TestPath("nope.npy")).ok());
}

TEST(NpyEventsTest, DamagedFilesNeverCrash) {
  const std::string bytes = SerializeNpy(EventsToNpy(RandomEvents(20, 34, 34, 2, 10, 2)));
  ForEachTruncation(bytes, [](absl::string_view cut) {
    absl::StatusOr<NpyArray> a = ParseNpy(cut, "cut");
    if (a.ok()) (void)EventsFromNpy(*a, "cut");
  });
  ForEachCorruption(bytes, [](absl::string_view b) {
    absl::StatusOr<NpyArray> a = ParseNpy(b, "bad");
    if (a.ok()) (void)EventsFromNpy(*a, "bad");
  });
}

}  // namespace
}  // namespace data
}  // namespace slayer
