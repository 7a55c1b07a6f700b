#include "slayer/data/event.h"

#include "gtest/gtest.h"

namespace slayer {
namespace data {
namespace {

TEST(EventTest, StatsOfAStream) {
  EventStream s;
  EXPECT_EQ(ComputeStats(s).count, 0);
  EXPECT_NE(FormatStats(ComputeStats(s)).find("events:        0"), std::string::npos);
  s.Add(5, 1, 0, 1000);
  s.Add(2, 9, 1, 3000);
  s.Add(7, 4, 1, 2000);
  EventStats st = ComputeStats(s);
  EXPECT_EQ(st.count, 3);
  EXPECT_EQ(st.t_min_us, 1000);
  EXPECT_EQ(st.t_max_us, 3000);
  EXPECT_EQ(st.x_min, 2);
  EXPECT_EQ(st.x_max, 7);
  EXPECT_EQ(st.y_min, 1);
  EXPECT_EQ(st.y_max, 9);
  EXPECT_EQ(st.p_max, 1);
  EXPECT_FALSE(st.time_sorted);
  EXPECT_DOUBLE_EQ(st.events_per_ms, 1.5);
  EXPECT_NE(FormatStats(st).find("not sorted"), std::string::npos);
  SortByTime(&s);
  EXPECT_TRUE(ComputeStats(s).time_sorted);
  EXPECT_EQ(s[1].x, 7);
}

TEST(EventTest, CutWindow) {
  EventStream s;
  for (int t = 0; t < 10; ++t) s.Add(t, 0, 0, t * 100);
  EventStream w = CutWindow(s, 200, 500, /*rebase=*/true);
  ASSERT_EQ(w.size(), 3);
  EXPECT_EQ(w[0], (Event{2, 0, 0, 0}));
  EXPECT_EQ(w[2], (Event{4, 0, 0, 200}));
  EXPECT_EQ(CutWindow(s, 200, 500, false)[0].t_us, 200);
}

}  // namespace
}  // namespace data
}  // namespace slayer
