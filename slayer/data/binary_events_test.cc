#include "slayer/data/binary_events.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

std::string Bytes(std::vector<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

TEST(Bs2Test, DecodesHandBuiltRecords) {
  // x=3 y=7 p=1 t=0x012345; x=33 y=0 p=0 t=0x7FFFFF (largest 23-bit time).
  std::string bytes = Bytes({3, 7, 0x81, 0x23, 0x45, 33, 0, 0x7F, 0xFF, 0xFF});
  absl::StatusOr<EventStream> s = ParseBs2(bytes, "hand.bs2");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2);
  EXPECT_EQ((*s)[0], (Event{3, 7, 1, 0x012345}));
  EXPECT_EQ((*s)[1], (Event{33, 0, 0, 0x7FFFFF}));
}

TEST(Bs2Test, OverflowMarkerAddsToEveryLaterTimestamp) {
  std::string bytes = Bytes({1, 2, 0, 0, 10,      // t = 10
                             0, 240, 0, 0, 0,     // overflow: +8192
                             1, 2, 0x80, 0, 5,    // t = 5 + 8192
                             0, 240, 0, 0, 0,     // overflow: +8192
                             4, 5, 0, 0, 1});     // t = 1 + 16384
  absl::StatusOr<EventStream> s = ParseBs2(bytes, "overflow.bs2");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 3);  // markers are not events
  EXPECT_EQ((*s)[0].t_us, 10);
  EXPECT_EQ((*s)[1], (Event{1, 2, 1, 5 + 8192}));
  EXPECT_EQ((*s)[2].t_us, 1 + 2 * 8192);
}

TEST(Bs2Test, RoundTripsIncludingTimesThatNeedOverflowMarkers) {
  EventStream s = RandomEvents(5000, 34, 34, 2, 4000, 3);  // spans ~10 s > 2^23 us
  ASSERT_GT(s.events.back().t_us, int64_t{1} << 23);
  absl::StatusOr<std::string> bytes = SerializeBs2(s);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_GT(bytes->size(), 5000u * 5);  // markers were needed
  absl::StatusOr<EventStream> back = ParseBs2(*bytes, "rt");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
}

TEST(Bs2Test, WriterRejectsWhatTheFormatCannotHold) {
  EventStream s;
  s.Add(256, 0, 0, 0);
  EXPECT_NE(SerializeBs2(s).status().message().find("x = 256"), std::string::npos);
  s.events = {{0, 240, 0, 0}};
  EXPECT_FALSE(SerializeBs2(s).ok());  // y 240 is the overflow marker
  s.events = {{0, 0, 2, 0}};
  EXPECT_FALSE(SerializeBs2(s).ok());
  s.events = {{0, 0, 0, -1}};
  EXPECT_FALSE(SerializeBs2(s).ok());
  // Unsorted times past 2^23 cannot be expressed with markers.
  s.events = {{0, 0, 0, int64_t{9} << 20}, {0, 0, 0, 0}};
  absl::Status st = SerializeBs2(s).status();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("event #1"), std::string::npos) << st;
}

TEST(Bs1Test, DecodesAndRoundTripsIdsAbove255) {
  std::string bytes = Bytes({0x12, 0x34, 0xFF, 0xFF, 0xFF, 0x00, 0x05, 0x00, 0x00, 0x07});
  absl::StatusOr<EventStream> s = ParseBs1(bytes, "hand.bs1");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2);
  EXPECT_EQ((*s)[0], (Event{0x1234, 0, 1, 0x7FFFFF}));
  EXPECT_EQ((*s)[1], (Event{5, 0, 0, 7}));

  EventStream ids;
  for (int id : {0, 1, 255, 256, 300, 4095, 65535}) ids.Add(id, 0, id & 1, id * 3);
  absl::StatusOr<std::string> enc = SerializeBs1(ids);
  ASSERT_TRUE(enc.ok()) << enc.status();
  // slayerPytorch's writer would emit 0 here; 300 = 0x012C.
  EXPECT_EQ(static_cast<uint8_t>((*enc)[4 * 5]), 0x01);
  EXPECT_EQ(static_cast<uint8_t>((*enc)[4 * 5 + 1]), 0x2C);
  absl::StatusOr<EventStream> back = ParseBs1(*enc, "rt");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ids);
}

TEST(Bs1Test, WriterRejectsBadFields) {
  EventStream s;
  s.Add(65536, 0, 0, 0);
  EXPECT_FALSE(SerializeBs1(s).ok());
  s.events = {{1, 1, 0, 0}};
  EXPECT_FALSE(SerializeBs1(s).ok());  // 1-D: y must be 0
  s.events = {{1, 0, 0, int64_t{1} << 23}};
  EXPECT_FALSE(SerializeBs1(s).ok());
}

TEST(Bs3Test, DecodesHandBuiltRecordAndRoundTrips) {
  std::string bytes = Bytes({0xAB, 0xC1, 0x23, 0x45, 0x67, 0x89, 0xAB});
  absl::StatusOr<EventStream> s = ParseBs3(bytes, "hand.bs3");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 1);
  EXPECT_EQ((*s)[0], (Event{0xABC, 0x123, 0x45, 0x6789AB}));
  absl::StatusOr<std::string> enc = SerializeBs3(*s);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(*enc, bytes);

  EventStream r = RandomEvents(3000, 4096, 4096, 256, 5000, 9);
  absl::StatusOr<EventStream> back = ParseBs3(*SerializeBs3(r), "rt");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  r.events[17].x = 4096;
  EXPECT_NE(SerializeBs3(r).status().message().find("event #17"), std::string::npos);
}

TEST(BsnTest, DecodesHandBuiltRowAndRoundTrips) {
  std::string bytes = Bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A});
  absl::StatusOr<std::vector<DesiredSpikes>> rows = ParseBsn(bytes, "hand.bsn");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0], (DesiredSpikes{0x0102, 0x030405, 0x060708, 0x090A}));
  EXPECT_EQ(*SerializeBsn(*rows), bytes);
  std::vector<DesiredSpikes> many = {{0, 0, 300000, 60}, {9, 0, 300000, 10}, {700, 5, 6, 65535}};
  absl::StatusOr<std::vector<DesiredSpikes>> back = ParseBsn(*SerializeBsn(many), "rt");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, many);
  many[1].count = 70000;
  EXPECT_FALSE(SerializeBsn(many).ok());
}

TEST(BinaryEventsTest, FilesRoundTrip) {
  EventStream s = RandomEvents(100, 34, 34, 2, 3000, 5);
  const std::string p2 = TestPath("rt.bs2"), p3 = TestPath("rt.bs3");
  ASSERT_TRUE(WriteBs2(p2, s).ok());
  ASSERT_TRUE(WriteBs3(p3, s).ok());
  EXPECT_EQ(*ReadBs2(p2), s);
  EXPECT_EQ(*ReadBs3(p3), s);
  EventStream one_d;
  one_d.Add(1000, 0, 1, 42);
  const std::string p1 = TestPath("rt.bs1");
  ASSERT_TRUE(WriteBs1(p1, one_d).ok());
  EXPECT_EQ(*ReadBs1(p1), one_d);
  const std::string pn = TestPath("rt.bsn");
  ASSERT_TRUE(WriteBsn(pn, {{3, 1, 2, 4}}).ok());
  EXPECT_EQ(ReadBsn(pn)->at(0), (DesiredSpikes{3, 1, 2, 4}));
  absl::Status bad = WriteBs1(TestPath("bad.bs1"), s);  // 2-D events
  EXPECT_NE(bad.message().find("bad.bs1"), std::string::npos) << bad;
  EXPECT_EQ(ReadBs2(TestPath("missing.bs2")).status().code(), absl::StatusCode::kNotFound);
}

TEST(BinaryEventsTest, TruncationIsAnErrorNamingFileAndOffset) {
  std::string bytes = *SerializeBs3(RandomEvents(20, 100, 100, 4, 100, 1));
  ForEachTruncation(bytes, [&](absl::string_view cut) {
    absl::StatusOr<EventStream> s = ParseBs3(cut, "cut.bs3");
    if (cut.size() % 7 == 0) {
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(s->size(), static_cast<int64_t>(cut.size() / 7));
    } else {
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
      const std::string want = "cut.bs3: at byte offset " + std::to_string(cut.size() / 7 * 7);
      EXPECT_NE(s.status().message().find(want), std::string::npos) << s.status();
    }
  });
  for (auto parse : {ParseBs1, ParseBs2}) {
    std::string five = *SerializeBs2(RandomEvents(20, 34, 34, 2, 100, 2));
    ForEachTruncation(five, [&](absl::string_view cut) {
      EXPECT_EQ(parse(cut, "cut").ok(), cut.size() % 5 == 0);
    });
  }
  ForEachTruncation(*SerializeBsn({{1, 2, 3, 4}, {5, 6, 7, 8}}), [&](absl::string_view cut) {
    EXPECT_EQ(ParseBsn(cut, "cut").ok(), cut.size() % 10 == 0);
  });
}

TEST(BinaryEventsTest, RandomBytesNeverCrash) {
  std::string valid = *SerializeBs2(RandomEvents(50, 34, 34, 2, 100, 4));
  ForEachCorruption(valid, [](absl::string_view bytes) {
    (void)ParseBs1(bytes, "x");
    (void)ParseBs2(bytes, "x");
    (void)ParseBs3(bytes, "x");
    (void)ParseBsn(bytes, "x");
  });
}

}  // namespace
}  // namespace data
}  // namespace slayer
