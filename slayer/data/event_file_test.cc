#include "slayer/data/event_file.h"

#include "gtest/gtest.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

TEST(EventFileTest, FormatNamesAndDetection) {
  EXPECT_EQ(*ParseEventFormat("BS2"), EventFormat::kBs2);
  EXPECT_EQ(*ParseEventFormat("bin"), EventFormat::kBs2);
  EXPECT_EQ(*ParseEventFormat("auto"), EventFormat::kAuto);
  EXPECT_FALSE(ParseEventFormat("csv").ok());
  EXPECT_EQ(*DetectEventFormat("a/00002.bin"), EventFormat::kBs2);
  EXPECT_EQ(*DetectEventFormat("x.BS1"), EventFormat::kBs1);
  EXPECT_EQ(*DetectEventFormat("x.bs3"), EventFormat::kBs3);
  EXPECT_EQ(*DetectEventFormat("user01_led.aedat"), EventFormat::kAedat);
  EXPECT_EQ(*DetectEventFormat("e.npy"), EventFormat::kNpy);
  absl::Status st = DetectEventFormat("e.txt").status();
  EXPECT_NE(st.message().find("e.txt"), std::string::npos);
  EXPECT_STREQ(EventFormatName(EventFormat::kAedat), "aedat");
}

TEST(EventFileTest, EveryWritableFormatRoundTrips) {
  EventStream s = RandomEvents(500, 34, 34, 2, 1000, 8);
  for (const char* ext : {".bs2", ".bin", ".bs3", ".aedat", ".npy"}) {
    const std::string path = TestPath(std::string("rt") + ext);
    ASSERT_TRUE(WriteEvents(path, s).ok()) << ext;
    absl::StatusOr<EventStream> back = ReadEvents(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, s) << ext;
  }
  EventStream one_d = RandomEvents(50, 1000, 1, 2, 100, 9);
  const std::string p1 = TestPath("rt.bs1");
  ASSERT_TRUE(WriteEvents(p1, one_d).ok());
  EXPECT_EQ(*ReadEvents(p1), one_d);
  // Explicit format beats the extension.
  const std::string odd = TestPath("events.dat");
  ASSERT_TRUE(WriteEvents(odd, s, EventFormat::kBs3).ok());
  EXPECT_EQ(*ReadEvents(odd, EventFormat::kBs3), s);
  EXPECT_FALSE(ReadEvents(odd).ok());
}

}  // namespace
}  // namespace data
}  // namespace slayer
