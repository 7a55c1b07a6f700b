#include "slayer/data/aedat.h"

#include <string>

#include "gtest/gtest.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v));
  s->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PacketHeader(std::string* s, uint16_t type, uint32_t size, uint32_t ts_offset,
                  uint32_t overflow, uint32_t capacity, uint32_t number) {
  Put16(s, type);
  Put16(s, 1);
  Put32(s, size);
  Put32(s, ts_offset);
  Put32(s, overflow);
  Put32(s, capacity);
  Put32(s, number);
  Put32(s, number);
}
uint32_t Data(uint32_t x, uint32_t y, uint32_t p, bool valid) {
  return (x << 17) | (y << 2) | (p << 1) | (valid ? 1u : 0u);
}

std::string HandBuiltFile() {
  std::string s = "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n";
  // A special-event packet (type 0, 8-byte events) that must be skipped.
  PacketHeader(&s, 0, 8, 4, 0, 1, 1);
  Put32(&s, 0xFFFFFFFF);
  Put32(&s, 123);
  // Polarity: capacity 3, number 3, the middle one invalid.
  PacketHeader(&s, 1, 8, 4, 0, 3, 3);
  Put32(&s, Data(127, 5, 1, true));
  Put32(&s, 1000);
  Put32(&s, Data(1, 1, 0, false));
  Put32(&s, 1001);
  Put32(&s, Data(0, 127, 0, true));
  Put32(&s, 2000);
  // Polarity with overflow 1 and capacity 2 but one event (a padded slot).
  PacketHeader(&s, 1, 8, 4, 1, 2, 1);
  Put32(&s, Data(64, 64, 1, true));
  Put32(&s, 7);
  Put32(&s, 0);
  Put32(&s, 0);
  return s;
}

TEST(AedatTest, DecodesHandBuiltFile) {
  absl::StatusOr<EventStream> s = ParseAedat(HandBuiltFile(), "hand.aedat");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 3);
  EXPECT_EQ((*s)[0], (Event{127, 5, 1, 1000}));
  EXPECT_EQ((*s)[1], (Event{0, 127, 0, 2000}));
  EXPECT_EQ((*s)[2], (Event{64, 64, 1, (int64_t{1} << 31) | 7}));
}

TEST(AedatTest, RoundTripsThroughTheWriter) {
  EventStream s = RandomEvents(10000, 128, 128, 2, 500, 11);
  s.Add(3, 4, 1, (int64_t{2} << 31) + 5);  // needs an overflow packet
  absl::StatusOr<std::string> bytes = SerializeAedat(s, 1000);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<EventStream> back = ParseAedat(*bytes, "rt");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  const std::string path = TestPath("rt.aedat");
  ASSERT_TRUE(WriteAedat(path, s).ok());
  EXPECT_EQ(*ReadAedat(path), s);
}

TEST(AedatTest, WrongHeadersAreClearErrors) {
  absl::Status st = ParseAedat("hello", "a.aedat").status();
  EXPECT_NE(st.message().find("a.aedat: at byte offset 0"), std::string::npos) << st;
  EXPECT_NE(st.message().find("#!AER-DAT"), std::string::npos) << st;
  st = ParseAedat("#!AER-DAT2.0\r\n", "old.aedat").status();
  EXPECT_NE(st.message().find("unsupported AEDAT version '2.0'"), std::string::npos) << st;
  st = ParseAedat("#!AER-DAT3.1\r\n#no end", "h.aedat").status();
  EXPECT_NE(st.message().find("truncated AEDAT header"), std::string::npos) << st;

  std::string s = "#!AER-DAT3.1\n#!END-HEADER\n";
  const size_t packet_at = s.size();
  PacketHeader(&s, 1, 8, 4, 0, 1, 2);  // number > capacity
  Put32(&s, 0);
  Put32(&s, 0);
  st = ParseAedat(s, "n.aedat").status();
  EXPECT_NE(st.message().find("byte offset " + std::to_string(packet_at + 20)), std::string::npos)
      << st;
  std::string wrong_size = "#!AER-DAT3.1\n#!END-HEADER\n";
  PacketHeader(&wrong_size, 1, 16, 12, 0, 1, 1);
  wrong_size += std::string(16, '\0');
  EXPECT_NE(ParseAedat(wrong_size, "w").status().message().find("expected 8 and 4"),
            std::string::npos);
}

TEST(AedatTest, TruncationNeverCrashesAndYieldsAPrefixOrAnError) {
  const std::string bytes = HandBuiltFile();
  const EventStream full = *ParseAedat(bytes, "full");
  int errors = 0;
  ForEachTruncation(bytes, [&](absl::string_view cut) {
    absl::StatusOr<EventStream> s = ParseAedat(cut, "cut.aedat");
    if (!s.ok()) {
      ++errors;
      EXPECT_NE(s.status().message().find("cut.aedat"), std::string::npos);
      return;
    }
    // Only cuts at packet boundaries parse.
    ASSERT_LE(s->size(), full.size());
    for (int64_t i = 0; i < s->size(); ++i) EXPECT_EQ((*s)[i], full[i]);
  });
  EXPECT_GT(errors, static_cast<int>(bytes.size()) - 10);
}

TEST(AedatTest, RandomDamageNeverCrashes) {
  const std::string bytes = *SerializeAedat(RandomEvents(200, 128, 128, 2, 100, 3), 50);
  ForEachCorruption(bytes, [](absl::string_view b) { (void)ParseAedat(b, "x"); }, 1000);
  // Damage confined to the packet area, header intact.
  const size_t body = bytes.find("#!END-HEADER\r\n") + 14;
  ForEachCorruption(bytes.substr(body), [&](absl::string_view b) {
    (void)ParseAedat(bytes.substr(0, body) + std::string(b), "x");
  }, 1000, 2);
}

}  // namespace
}  // namespace data
}  // namespace slayer
