#include "slayer/data/idx.h"

#include <string>

#include "gtest/gtest.h"
#include "slayer/data/gzip.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

IdxArray SmallImages() {
  IdxArray a;
  a.shape = {3, 2, 4};
  for (int i = 0; i < 24; ++i) a.data.push_back(static_cast<char>(i * 10));
  return a;
}

TEST(IdxTest, DecodesHandBuiltFile) {
  std::string bytes = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
  absl::StatusOr<IdxArray> a = ParseIdx(bytes, "labels.idx");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->shape, (Shape{3}));
  EXPECT_EQ(a->data, std::string({7, 8, 9}));
}

TEST(IdxTest, RawAndGzippedRoundTrip) {
  const IdxArray a = SmallImages();
  const std::string raw = SerializeIdx(a);
  EXPECT_EQ(raw.size(), 4u + 12u + 24u);
  for (const std::string& bytes : {raw, Gzip(raw)}) {
    absl::StatusOr<IdxArray> b = ParseIdx(bytes, "x");
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->shape, a.shape);
    EXPECT_EQ(b->data, a.data);
  }
  const std::string path = TestPath("images-idx3-ubyte.gz");
  WriteTestFile(path, Gzip(raw));
  absl::StatusOr<IdxArray> c = ReadIdx(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data, a.data);
}

TEST(IdxTest, WrongHeadersAreClearErrors) {
  absl::Status st = ParseIdx(std::string({1, 0, 8, 1}), "m.idx").status();
  EXPECT_NE(st.message().find("m.idx: at byte offset 0: not an IDX file"), std::string::npos) << st;
  st = ParseIdx(std::string({0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}), "f.idx").status();
  EXPECT_NE(st.message().find("unsupported IDX element type 0xd"), std::string::npos) << st;
  st = ParseIdx(std::string({0, 0, 8, 1, 0, 0, 0, 4, 1, 2}), "t.idx").status();
  EXPECT_NE(st.message().find("t.idx: at byte offset 8: truncated IDX data"), std::string::npos)
      << st;
  st = ParseIdx(std::string({0, 0, 8, 1, 0, 0, 0, 1, 1, 2}), "l.idx").status();
  EXPECT_NE(st.message().find("byte offset 9: 1 bytes after the end"), std::string::npos) << st;
  // Dimensions whose product overflows 64 bits.
  std::string huge = {0, 0, 8, 4};
  huge += std::string(16, static_cast<char>(0xFF));
  EXPECT_FALSE(ParseIdx(huge, "h").ok());
}

TEST(IdxTest, TruncationAndDamageNeverCrash) {
  const std::string raw = SerializeIdx(SmallImages());
  const std::string gz = Gzip(raw);
  ForEachTruncation(raw, [](absl::string_view cut) {
    absl::StatusOr<IdxArray> a = ParseIdx(cut, "cut");
    EXPECT_FALSE(a.ok());
  });
  ForEachTruncation(gz, [](absl::string_view cut) {
    absl::StatusOr<IdxArray> a = ParseIdx(cut, "cut.gz");
    EXPECT_FALSE(a.ok());
    if (!a.ok()) {
      EXPECT_NE(a.status().message().find("cut.gz"), std::string::npos);
    }
  });
  ForEachCorruption(raw, [](absl::string_view b) { (void)ParseIdx(b, "x"); });
  ForEachCorruption(gz, [](absl::string_view b) { (void)ParseIdx(b, "x"); });
}

TEST(GzipTest, LimitAndConcatenatedMembers) {
  const std::string text(100000, 'a');
  const std::string gz = Gzip(text);
  EXPECT_LT(gz.size(), 1000u);
  EXPECT_EQ(*Gunzip(gz + Gzip("bc"), "two"), text + "bc");
  absl::Status st = Gunzip(gz, "bomb", 1000).status();
  EXPECT_NE(st.message().find("past the limit"), std::string::npos) << st;
  EXPECT_FALSE(Gunzip("plain", "p").ok());
}

}  // namespace
}  // namespace data
}  // namespace slayer
