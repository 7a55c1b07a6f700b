#include "slayer/data/dvs_gesture.h"

#include <numeric>

#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/data/aedat.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

TEST(GestureLabelsTest, ParsesHeaderAndRows) {
  absl::StatusOr<std::vector<GestureLabel>> l = ParseGestureLabels(
      "class,startTime_usec,endTime_usec\r\n1,80000,150000\r\n11, 200000 ,300000\r\n\r\n",
      "u.csv");
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].label, 0);
  EXPECT_EQ((*l)[0].start_us, 80000);
  EXPECT_EQ((*l)[1].label, 10);
  EXPECT_EQ((*l)[1].end_us, 300000);
  absl::Status st = ParseGestureLabels("h\n12,0,10\n", "u.csv").status();
  EXPECT_NE(st.message().find("u.csv: line 2: class 12, expected 1..11"), std::string::npos) << st;
  st = ParseGestureLabels("h\n1,10,5\n", "u.csv").status();
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st;
  st = ParseGestureLabels("h\n1,10\n", "u.csv").status();
  EXPECT_NE(st.message().find("expected 'class,startTime_usec,endTime_usec'"), std::string::npos);
  EXPECT_EQ(GestureLabelsPath("/d/user01_led.aedat"), "/d/user01_led_labels.csv");
}

class DvsGestureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TestPath("DvsGesture");
    ASSERT_TRUE(MakeDirs(root_).ok());
    // user01: two gestures; events before, inside and after each.
    EventStream rec;
    rec.Add(1, 1, 0, 50);         // before any gesture
    rec.Add(10, 20, 1, 1000);     // gesture 1 starts at 1000: t 0
    rec.Add(127, 127, 0, 3500);   // t 2.5 ms -> bin 2
    rec.Add(5, 5, 1, 9000);       // gesture 2 (8000..): t 1 ms
    rec.Add(6, 6, 0, 20000);      // after gesture 2 ends
    ASSERT_TRUE(WriteAedat(root_ + "/user01_fluorescent.aedat", rec).ok());
    WriteTestFile(root_ + "/user01_fluorescent_labels.csv",
                  "class,startTime_usec,endTime_usec\n3,1000,5000\n7,8000,15000\n");
    ASSERT_TRUE(WriteAedat(root_ + "/user24_led.aedat", rec).ok());
    WriteTestFile(root_ + "/user24_led_labels.csv", "class,startTime_usec,endTime_usec\n1,0,100\n");
    WriteTestFile(root_ + "/trials_to_train.txt", "user01_fluorescent.aedat\n");
    WriteTestFile(root_ + "/trials_to_test.txt", "user24_led.aedat\n\n");
  }
  std::string root_;
};

TEST_F(DvsGestureTest, CutsLabelledSamples) {
  DvsGestureOptions o;
  o.tensor.num_steps = 10;
  absl::StatusOr<std::unique_ptr<EventSampleDataset>> ds = MakeDvsGestureSplit(root_, true, o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->num_classes(), 11);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{2, 128, 128, 10}));
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(**ds, 0, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 2);
  EXPECT_EQ(std::accumulate(x.data(), x.data() + x.numel(), 0.0f), 2.0f);
  EXPECT_EQ(x.at({1, 20, 10, 0}), 1.0f);
  EXPECT_EQ(x.at({0, 127, 127, 2}), 1.0f);
  ASSERT_TRUE(ReadSample(**ds, 1, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 6);
  EXPECT_EQ(x.at({1, 5, 5, 1}), 1.0f);
  EXPECT_EQ((*ds)->Events(1)->size(), 1);

  absl::StatusOr<std::unique_ptr<EventSampleDataset>> test = MakeDvsGestureSplit(root_, false, o);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ((*test)->size(), 1);
  EXPECT_EQ(*(*test)->Label(0), 0);
}

TEST_F(DvsGestureTest, KeepsOnlyWhatTheWindowCanSee) {
  DvsGestureOptions o;
  o.tensor.num_steps = 2;  // [0, 2) ms: the 2.5 ms event can never be binned
  auto ds = *MakeDvsGestureSplit(root_, true, o);
  EXPECT_EQ(ds->Events(0)->size(), 1);
  o.tensor.max_time_shift = 1;  // ... unless a shift of -1 moves it to bin 1
  ds = *MakeDvsGestureSplit(root_, true, o);
  EXPECT_EQ(ds->Events(0)->size(), 2);
}

TEST_F(DvsGestureTest, BadFilesAreErrors) {
  WriteTestFile(root_ + "/user01_fluorescent_labels.csv", "class,startTime_usec,endTime_usec\n0,1,2\n");
  absl::Status st = MakeDvsGestureSplit(root_, true, DvsGestureOptions()).status();
  EXPECT_NE(st.message().find("user01_fluorescent_labels.csv: line 2: class 0"), std::string::npos)
      << st;
  WriteTestFile(root_ + "/user01_fluorescent_labels.csv", "class,startTime_usec,endTime_usec\n1,0,9\n");
  std::string bytes = *ReadFile(root_ + "/user01_fluorescent.aedat");
  WriteTestFile(root_ + "/user01_fluorescent.aedat", bytes.substr(0, bytes.size() - 3));
  st = MakeDvsGestureSplit(root_, true, DvsGestureOptions()).status();
  EXPECT_NE(st.message().find("user01_fluorescent.aedat: at byte offset"), std::string::npos) << st;
  // An event beyond the 128 x 128 sensor.
  EventStream rec;
  rec.Add(200, 1, 0, 5);
  ASSERT_TRUE(WriteAedat(root_ + "/user01_fluorescent.aedat", rec).ok());
  st = MakeDvsGestureSplit(root_, true, DvsGestureOptions()).status();
  EXPECT_NE(st.message().find("user01_fluorescent.aedat#1: event #0 (x=200"), std::string::npos)
      << st;
  WriteTestFile(root_ + "/trials_to_test.txt", "\n");
  EXPECT_FALSE(MakeDvsGestureSplit(root_, false, DvsGestureOptions()).ok());
}

TEST(EventSampleDatasetTest, AugmentsPerRng) {
  EventTensorOptions o;
  o.max_jitter = 3;
  auto ds = *EventSampleDataset::Create(10, o);
  ASSERT_TRUE(ds->Add(RandomEvents(500, 34, 34, 2, 500, 1), 3, "s0").ok());
  EXPECT_FALSE(ds->Add(EventStream(), 10, "bad").ok());
  EventStream neg;
  neg.Add(0, 0, 0, -5000);  // bin -5: never visible, so dropped, not an error
  EXPECT_TRUE(ds->Add(neg, 1, "neg").ok());
  EXPECT_EQ(ds->Events(1)->size(), 0);
  Tensor a, b;
  int l;
  Rng r1(1), r2(1);
  ASSERT_TRUE(ReadSample(*ds, 0, &r1, &a, &l).ok());
  ASSERT_TRUE(ReadSample(*ds, 0, &r2, &b, &l).ok());
  EXPECT_EQ(std::vector<float>(a.data(), a.data() + a.numel()),
            std::vector<float>(b.data(), b.data() + b.numel()));
  EXPECT_EQ(l, 3);
  EXPECT_GT(ds->packed_bytes(), 0);
}

}  // namespace
}  // namespace data
}  // namespace slayer
