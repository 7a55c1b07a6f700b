#include "slayer/data/nmnist.h"

#include <numeric>

#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/data/binary_events.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

TEST(SampleListTest, ParsesCommentsAndRows) {
  absl::StatusOr<std::vector<SampleEntry>> e =
      ParseSampleList("#sample #class\n0\t5\n\n 12 3 \n7,9\n# trailing\n", "list.txt", 10);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[1].id, 12);
  EXPECT_EQ((*e)[1].label, 3);
  EXPECT_EQ((*e)[2].label, 9);
  absl::Status st = ParseSampleList("#h\n1 2\n3 x\n", "l.txt", 10).status();
  EXPECT_NE(st.message().find("l.txt: line 3"), std::string::npos) << st;
  st = ParseSampleList("1 10\n", "l.txt", 10).status();
  EXPECT_NE(st.message().find("class 10, expected 0..9"), std::string::npos) << st;
}

class NmnistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestPath("nmnist");
    ASSERT_TRUE(MakeDirs(dir_).ok());
    EventStream a;
    a.Add(0, 0, 0, 1000);    // bin 1
    a.Add(33, 33, 1, 299000);  // bin 299
    a.Add(5, 6, 1, 301000);  // bin 301: dropped
    ASSERT_TRUE(WriteBs2(dir_ + "/0.bs2", a).ok());
    ASSERT_TRUE(WriteBs2(dir_ + "/1.bs2", RandomEvents(2000, 34, 34, 2, 150, 1)).ok());
    WriteTestFile(dir_ + "/train.txt", "#sample\t#class\n0\t4\n1\t7\n");
  }
  std::string dir_;
};

TEST_F(NmnistTest, BinsSampleFiles) {
  absl::StatusOr<std::unique_ptr<NmnistDataset>> ds =
      NmnistDataset::Open(dir_, dir_ + "/train.txt", NmnistOptions());
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{2, 34, 34, 300}));
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(**ds, 0, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 4);
  EXPECT_EQ(std::accumulate(x.data(), x.data() + x.numel(), 0.0f), 2.0f);
  EXPECT_EQ(x.at({0, 0, 0, 1}), 1.0f);
  EXPECT_EQ(x.at({1, 33, 33, 299}), 1.0f);
  ASSERT_TRUE(ReadSample(**ds, 1, nullptr, &x, &label).ok());
  EXPECT_EQ(label, 7);
  EXPECT_GT(std::accumulate(x.data(), x.data() + x.numel(), 0.0f), 1000.0f);
}

TEST_F(NmnistTest, BadFilesAreErrorsWithFileAndOffset) {
  EXPECT_EQ(NmnistDataset::Open(dir_, dir_ + "/none.txt", NmnistOptions()).status().code(),
            absl::StatusCode::kNotFound);
  WriteTestFile(dir_ + "/missing.txt", "0 1\n5 1\n");
  absl::Status st = NmnistDataset::Open(dir_, dir_ + "/missing.txt", NmnistOptions()).status();
  EXPECT_NE(st.message().find("5.bs2"), std::string::npos) << st;

  auto ds = *NmnistDataset::Open(dir_, dir_ + "/train.txt", NmnistOptions());
  Tensor x;
  int label;
  // Truncated file.
  std::string bytes = *ReadFile(dir_ + "/1.bs2");
  WriteTestFile(dir_ + "/1.bs2", bytes.substr(0, 5 * 17 + 2));
  st = ReadSample(*ds, 1, nullptr, &x, &label);
  EXPECT_NE(st.message().find("1.bs2: at byte offset 85"), std::string::npos) << st;
  // A coordinate outside 34 x 34, after an overflow marker.
  std::string bad = {1, 1, 0, 0, 1, 0, static_cast<char>(240), 0, 0, 0, 40, 2, 0, 0, 3};
  WriteTestFile(dir_ + "/1.bs2", bad);
  st = ReadSample(*ds, 1, nullptr, &x, &label);
  EXPECT_NE(st.message().find("1.bs2: at byte offset 10: event #1 (x=40"), std::string::npos)
      << st;
  // Every truncation of a valid file: an error or fewer events, never a crash.
  ForEachTruncation(bytes, [&](absl::string_view cut) {
    WriteTestFile(dir_ + "/1.bs2", cut);
    absl::Status s = ReadSample(*ds, 1, nullptr, &x, &label);
    EXPECT_EQ(s.ok(), cut.size() % 5 == 0);
  }, 300);
  ForEachCorruption(bytes, [&](absl::string_view b) {
    WriteTestFile(dir_ + "/1.bs2", b);
    (void)ReadSample(*ds, 1, nullptr, &x, &label);
  }, 100);
}

TEST_F(NmnistTest, OtherExtensions) {
  EventStream s;
  s.Add(300, 0, 1, 5000);
  ASSERT_TRUE(WriteBs1(dir_ + "/0.bs1", s).ok());
  WriteTestFile(dir_ + "/one.txt", "0 2\n");
  NmnistOptions o;
  o.extension = ".bs1";
  o.tensor.height = 1;
  o.tensor.width = 500;
  o.tensor.num_steps = 10;
  auto ds = NmnistDataset::Open(dir_, dir_ + "/one.txt", o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  Tensor x;
  int label;
  ASSERT_TRUE(ReadSample(**ds, 0, nullptr, &x, &label).ok());
  EXPECT_EQ(x.at({1, 0, 300, 5}), 1.0f);
  o.extension = ".txt";
  EXPECT_FALSE(NmnistDataset::Open(dir_, dir_ + "/one.txt", o).ok());
}

}  // namespace
}  // namespace data
}  // namespace slayer
