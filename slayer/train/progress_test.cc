#include "slayer/train/progress.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "slayer/train/metrics.h"

namespace slayer {
namespace {

struct Fixture {
  std::ostringstream out;
  double now = 100.0;
  ProgressOptions Options(bool terminal) {
    ProgressOptions o;
    o.out = &out;
    o.terminal = terminal;
    o.plain_interval_s = 5.0;
    o.clock = [this] { return now; };
    return o;
  }
};

TEST(ProgressTest, FormatDuration) {
  EXPECT_EQ(FormatDuration(12.54), "12.5s");
  EXPECT_EQ(FormatDuration(129), "2m09s");
  EXPECT_EQ(FormatDuration(3780), "1h03m");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressTest, PlainModePrintsEveryFewSecondsAndASummary) {
  Fixture f;
  ProgressReporter p(f.Options(false));
  p.StartEpoch(3, 10, 100);
  for (int b = 1; b <= 100; ++b) {
    f.now += 0.25;  // 4 batches of 32 per second
    p.Batch(32, 0.5, 0.8125);
  }
  MetricsRow row;
  row.epoch = 3;
  row.train_loss = 0.5;
  row.train_accuracy = 0.8125;
  row.test_loss = 0.625;
  row.test_accuracy = 0.75;
  row.samples_per_s = 128;
  BestMetrics best;
  best.test_accuracy = MetricBest{0.881, 2};
  p.EndEpoch(row, &best);

  const std::string text = f.out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  // 25 s of batches, a line every 5 s, then the summary.
  ASSERT_EQ(lines.size(), 6u) << text;
  EXPECT_EQ(lines[0], "epoch 3/10 train batch 20/100  128 samples/s  loss 0.5  acc 81.25%  ETA 20.0s");
  EXPECT_EQ(lines[4], "epoch 3/10 train batch 100/100  128 samples/s  loss 0.5  acc 81.25%  ETA 0.0s");
  EXPECT_EQ(lines[5],
            "epoch 3/10  train loss 0.5 acc 81.25%  test loss 0.625 acc 75.00%  128 samples/s"
            "  25.0s  best test acc 88.10% (epoch 2)");
}

TEST(ProgressTest, LiveModeRedrawsOneLine) {
  Fixture f;
  ProgressReporter p(f.Options(true));
  p.StartEpoch(1, 2, 4);
  f.now += 1;
  p.Batch(10, 123.456);
  f.now += 0.01;  // too soon to redraw
  p.Batch(10, 100.0);
  f.now += 1;
  p.Batch(10, 12.0, 0.5);
  f.now += 0.01;
  p.Batch(10, 10.0, 0.5);  // the last batch always draws
  const std::string live = f.out.str();
  EXPECT_EQ(live.find('\n'), std::string::npos);
  std::vector<std::string> frames = absl::StrSplit(live, '\r', absl::SkipEmpty());
  ASSERT_EQ(frames.size(), 3u) << live;
  EXPECT_EQ(frames[0], "epoch 1/2 train batch 1/4  10 samples/s  loss 123.5  ETA 3.0s");
  EXPECT_TRUE(absl::StartsWith(frames[2], "epoch 1/2 train batch 4/4  20 samples/s  loss 10  acc 50.00%  ETA 0.0s"))
      << frames[2];

  MetricsRow row;
  row.epoch = 1;
  row.train_loss = 10;
  p.EndEpoch(row);
  const std::string all = f.out.str();
  // The live line is blanked before the summary, which ends with a newline.
  const std::string tail = all.substr(live.size());
  EXPECT_EQ(tail.substr(0, 1), "\r");
  EXPECT_TRUE(absl::EndsWith(tail, "\repoch 1/2  train loss 10  2.0s\n")) << tail;
}

TEST(ProgressTest, ShorterLiveLineOverwritesTheLongerOne) {
  Fixture f;
  ProgressReporter p(f.Options(true));
  p.StartEpoch(1, 1, 0);  // unknown batch count: no ETA
  f.now += 1;
  p.Batch(1, 1234567.0, 0.123);
  f.now += 1;
  p.Batch(1, 1.0);
  std::vector<std::string> frames = absl::StrSplit(f.out.str(), '\r', absl::SkipEmpty());
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].size(), frames[1].size());  // padded with spaces
  EXPECT_EQ(frames[1].find("ETA"), std::string::npos);
  p.Message("checkpoint saved");
  EXPECT_TRUE(absl::EndsWith(f.out.str(), "\rcheckpoint saved\n"));
}

TEST(ProgressTest, TestPhaseKeepsTheEpochClock) {
  Fixture f;
  ProgressOptions o = f.Options(false);
  o.plain_interval_s = 0;  // every batch
  ProgressReporter p(o);
  p.StartEpoch(2, 5, 1);
  f.now += 10;
  p.Batch(5, 1.0);
  p.StartEpoch(2, 5, 1, "test");
  f.now += 2;
  p.Batch(4, 2.0, 0.25);
  EXPECT_EQ(p.samples_per_second(), 2.0);
  EXPECT_EQ(p.epoch_seconds(), 12.0);
  std::vector<std::string> lines = absl::StrSplit(f.out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(absl::StartsWith(lines[1], "epoch 2/5 test batch 1/1  2 samples/s  loss 2  acc 25.00%"))
      << lines[1];
}

}  // namespace
}  // namespace slayer
