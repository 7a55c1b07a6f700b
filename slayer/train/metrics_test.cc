#include "slayer/train/metrics.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "slayer/core/file.h"

namespace slayer {
namespace {

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

MetricsRow Row(int64_t epoch, std::optional<double> train_loss,
               std::optional<double> train_acc, std::optional<double> test_loss,
               std::optional<double> test_acc, std::optional<double> sps = std::nullopt) {
  MetricsRow r;
  r.epoch = epoch;
  r.train_loss = train_loss;
  r.train_accuracy = train_acc;
  r.test_loss = test_loss;
  r.test_accuracy = test_acc;
  r.samples_per_s = sps;
  return r;
}

TEST(MetricsCsvTest, ExactFormat) {
  std::vector<MetricsRow> rows = {Row(1, 0.5, 0.75, std::nullopt, std::nullopt, 812.25),
                                  Row(2, 0.25, 0.875, 0.3, 0.9, 1000)};
  EXPECT_EQ(FormatMetricsCsv(rows),
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s\n"
            "1,0.5,0.75,,,812.25\n"
            "2,0.25,0.875,0.3,0.9,1000\n");
  EXPECT_EQ(FormatMetricsCsv({}),
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_s\n");
}

TEST(MetricsCsvTest, RoundTrip) {
  std::vector<MetricsRow> rows = {Row(1, 1.0 / 3, 0.123456789, std::nullopt, 0.5),
                                  Row(3, NAN, std::nullopt, 2e-9, std::nullopt, 1.5)};
  absl::StatusOr<std::vector<MetricsRow>> back =
      ParseMetricsCsv(FormatMetricsCsv(rows), "m.csv");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].epoch, 1);
  EXPECT_NEAR(*(*back)[0].train_loss, 1.0 / 3, 1e-8);
  EXPECT_NEAR(*(*back)[0].train_accuracy, 0.123456789, 1e-8);
  EXPECT_FALSE((*back)[0].test_loss.has_value());
  EXPECT_EQ(*(*back)[0].test_accuracy, 0.5);
  EXPECT_TRUE(std::isnan(*(*back)[1].train_loss));
  EXPECT_EQ(*(*back)[1].test_loss, 2e-9);
  EXPECT_EQ(*(*back)[1].samples_per_s, 1.5);
  // Windows line ends are fine too.
  EXPECT_TRUE(ParseMetricsCsv(std::string(kMetricsCsvHeader) + "\r\n1,1,,,,\r\n", "w").ok());
}

TEST(MetricsCsvTest, ErrorsNameLineFieldAndExpectation) {
  const std::string h = std::string(kMetricsCsvHeader) + "\n";
  struct Case {
    std::string text, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"", "m.csv line 1: expected the header"},
           {"epoch,loss\n", "found 'epoch,loss'"},
           {h + "1,0.5,,,\n", "m.csv line 2: expected 6 comma-separated fields, found 5"},
           {h + "x,0.5,,,,\n", "m.csv line 2: field 'epoch': expected an integer"},
           {h + "1,0.5,,,,\n2,abc,,,,\n", "m.csv line 3: field 'train_loss': expected a number"},
           {h + "2,0.5,,,,\n2,0.4,,,,\n", "m.csv line 3: epoch 2 does not follow epoch 2"},
       }) {
    absl::StatusOr<std::vector<MetricsRow>> r = ParseMetricsCsv(c.text, "m.csv");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.expect)) << r.status();
  }
}

TEST(MetricsLogTest, AppendsAtomicallyTracksBestAndResumes) {
  const std::string path = TempDir() + "/run1/metrics.csv";
  ASSERT_TRUE(MakeDirs(TempDir() + "/run1").ok());
  absl::StatusOr<MetricsLog> log = MetricsLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(log->rows().empty());
  EXPECT_FALSE(log->last_is_best());

  ASSERT_TRUE(log->Append(Row(1, 0.9, 0.6, 1.0, 0.55)).ok());
  EXPECT_TRUE(log->last_is_best());
  ASSERT_TRUE(log->Append(Row(2, 0.7, 0.7, 0.8, 0.65)).ok());
  EXPECT_TRUE(log->last_is_best());
  ASSERT_TRUE(log->Append(Row(3, 0.6, 0.8, 0.85, 0.65)).ok());  // tie: not a new best
  EXPECT_FALSE(log->last_is_best());
  ASSERT_TRUE(log->Append(Row(4, 0.5, 0.85, std::nullopt, std::nullopt)).ok());  // no eval
  EXPECT_FALSE(log->last_is_best());
  EXPECT_EQ(log->best().test_accuracy->value, 0.65);
  EXPECT_EQ(log->best().test_accuracy->epoch, 2);
  EXPECT_EQ(log->best().test_loss->epoch, 2);
  EXPECT_EQ(log->best().train_loss->value, 0.5);
  EXPECT_EQ(log->best().train_accuracy->epoch, 4);

  // The file always holds every row.
  EXPECT_EQ(*ReadFile(path), FormatMetricsCsv(log->rows()));
  absl::Status bad = log->Append(Row(4, 0.1, 0.9, 0.1, 0.9));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.message(), "cannot append epoch 4 after epoch 4")) << bad;
  EXPECT_EQ(log->rows().size(), 4u);

  // Resume from a checkpoint of epoch 2: epochs 3.. are repeated.
  absl::StatusOr<MetricsLog> resumed = MetricsLog::Open(path);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->rows().size(), 4u);
  EXPECT_EQ(resumed->best().train_accuracy->epoch, 4);
  resumed->TruncateAfter(2);
  EXPECT_EQ(resumed->rows().size(), 2u);
  EXPECT_EQ(resumed->best().train_accuracy->epoch, 2);
  ASSERT_TRUE(resumed->Append(Row(3, 0.4, 0.9, 0.5, 0.7)).ok());
  EXPECT_TRUE(resumed->last_is_best());
  EXPECT_EQ(MetricsLog::Open(path)->rows().size(), 3u);
}

// 245/264 = 0.928030303... is written as 0.9280303: a resumed run reads that
// back, and the same accuracy later must tie with it there as it does in the
// uninterrupted run, not beat it.
TEST(MetricsLogTest, BestIsJudgedOnTheValuesTheFileHolds) {
  const std::string path = TempDir() + "/rounding/metrics.csv";
  ASSERT_TRUE(MakeDirs(TempDir() + "/rounding").ok());
  const double accuracy = 245.0 / 264.0;
  MetricsLog log(path);
  ASSERT_TRUE(log.Append(Row(1, 0.5, 0.9, 0.4, accuracy)).ok());
  ASSERT_TRUE(log.AppendDeferred(Row(2, 0.4, 0.9, 0.5, 0.5)).ok());
  ASSERT_TRUE(log.Flush().ok());
  EXPECT_EQ(log.rows()[0].test_accuracy, MetricsLog::Open(path)->rows()[0].test_accuracy);
  ASSERT_TRUE(log.Append(Row(3, 0.3, 0.9, 0.4, accuracy)).ok());
  EXPECT_FALSE(log.last_is_best());

  absl::StatusOr<MetricsLog> resumed = MetricsLog::Open(path);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  resumed->TruncateAfter(2);
  ASSERT_TRUE(resumed->Append(Row(3, 0.3, 0.9, 0.4, accuracy)).ok());
  EXPECT_FALSE(resumed->last_is_best());
  EXPECT_EQ(resumed->best().test_accuracy->epoch, 1);
}

TEST(MetricsLogTest, HeadlineFallsBackWithoutTestSet) {
  MetricsLog log(TempDir() + "/m2.csv");
  ASSERT_TRUE(log.Append(Row(1, 2.0, std::nullopt, std::nullopt, std::nullopt)).ok());
  ASSERT_TRUE(log.Append(Row(2, 1.0, std::nullopt, std::nullopt, std::nullopt)).ok());
  EXPECT_TRUE(log.last_is_best());  // train loss fell
  ASSERT_TRUE(log.Append(Row(3, 1.5, std::nullopt, std::nullopt, std::nullopt)).ok());
  EXPECT_FALSE(log.last_is_best());
}

TEST(MetricsLogTest, OpenRejectsACorruptFile) {
  const std::string path = TempDir() + "/bad_metrics.csv";
  ASSERT_TRUE(WriteFileAtomic(path, "not,a,metrics,file\n").ok());
  absl::StatusOr<MetricsLog> log = MetricsLog::Open(path);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(absl::StrContains(log.status().message(), "bad_metrics.csv line 1"));
}

}  // namespace
}  // namespace slayer
