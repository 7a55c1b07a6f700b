#include "slayer/train/plot.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/core/file.h"
#include "slayer/core/tensor.h"
#include "slayer/train/image.h"
#include "slayer/train/metrics.h"

namespace slayer {
namespace {

// Where to leave sample images: Bazel's undeclared outputs (test.outputs/)
// when set, else the test's temporary directory.
std::string OutDir() {
  const char* d = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (d == nullptr) d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

struct Box {
  int count = 0, x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
};

// Pixels of colour `c` inside [x_begin, x_end).
Box Find(const Image& img, Rgb c, int x_begin = 0, int x_end = -1) {
  if (x_end < 0) x_end = img.width();
  Box b;
  for (int y = 0; y < img.height(); ++y) {
    for (int x = x_begin; x < x_end; ++x) {
      if (img.at(x, y) != c) continue;
      ++b.count;
      b.x0 = std::min(b.x0, x);
      b.y0 = std::min(b.y0, y);
      b.x1 = std::max(b.x1, x);
      b.y1 = std::max(b.y1, y);
    }
  }
  return b;
}

std::vector<MetricsRow> SampleRows(int epochs, bool with_test) {
  std::vector<MetricsRow> rows;
  for (int e = 1; e <= epochs; ++e) {
    MetricsRow r;
    r.epoch = e;
    r.train_loss = 2.0 * std::exp(-0.3 * e) + 0.1;
    r.train_accuracy = 1.0 - 0.9 * std::exp(-0.4 * e);
    if (with_test && e % 2 == 0) {  // evaluated every other epoch
      r.test_loss = 2.2 * std::exp(-0.25 * e) + 0.15;
      r.test_accuracy = 0.97 - 0.9 * std::exp(-0.35 * e);
    }
    r.samples_per_s = 800;
    rows.push_back(r);
  }
  return rows;
}

TEST(LearningCurveTest, BothSeriesInBothPanels) {
  Image img = RenderLearningCurve(SampleRows(20, true));
  ASSERT_TRUE(WritePng(OutDir() + "/learning_curve.png", img).ok());
  EXPECT_EQ(img.width(), 1200);
  EXPECT_EQ(img.height(), 520);
  const int half = img.width() / 2;
  for (Rgb c : {kTrainColor, kTestColor}) {
    EXPECT_GT(Find(img, c, 0, half).count, 200);
    EXPECT_GT(Find(img, c, half, img.width()).count, 200);
  }
  // Loss falls: the train curve starts high on the left of the loss panel
  // and ends low on the right. Accuracy rises.
  auto column_mean_y = [&](int x_from, int x_to) {
    Box b = Find(img, kTrainColor, x_from, x_to);
    return (b.y0 + b.y1) / 2;
  };
  EXPECT_LT(column_mean_y(112, 130), column_mean_y(430, 440));         // loss: high then low
  EXPECT_GT(column_mean_y(half + 112, half + 130), column_mean_y(half + 430, half + 440));
  // The corners stay background.
  EXPECT_EQ(img.at(0, 0), kWhite);
  EXPECT_EQ(img.at(img.width() - 1, img.height() - 1), kWhite);
}

TEST(LearningCurveTest, TrainOnlyAndEmpty) {
  std::vector<MetricsRow> rows = SampleRows(5, false);
  rows[2].train_loss = NAN;  // a diverged epoch is skipped, not drawn
  Image img = RenderLearningCurve(rows);
  ASSERT_TRUE(WritePng(OutDir() + "/learning_curve_train_only.png", img).ok());
  EXPECT_GT(Find(img, kTrainColor).count, 100);
  EXPECT_EQ(Find(img, kTestColor).count, 0);  // not even in a legend

  Image one = RenderLearningCurve(SampleRows(1, false));
  EXPECT_GT(Find(one, kTrainColor).count, 20);

  Image empty = RenderLearningCurve({});
  ASSERT_TRUE(WritePng(OutDir() + "/learning_curve_empty.png", empty).ok());
  EXPECT_EQ(Find(empty, kTrainColor).count, 0);

  const std::string path = OutDir() + "/curve_written.png";
  ASSERT_TRUE(WriteLearningCurvePng(path, rows).ok());
  EXPECT_EQ(*ReadFile(path), EncodePng(RenderLearningCurve(rows)));
}

TEST(LearningCurveTest, LongRunWithLargeLosses) {
  // The Poisson experiment: hundreds of epochs, a spike_time loss in the
  // thousands falling to zero, no accuracy.
  std::vector<MetricsRow> rows;
  for (int e = 1; e <= 800; ++e) {
    MetricsRow r;
    r.epoch = e;
    r.train_loss = 12000.0 * std::exp(-e / 120.0) * (1.1 + 0.1 * std::sin(e));
    rows.push_back(r);
  }
  Image img = RenderLearningCurve(rows);
  ASSERT_TRUE(WritePng(OutDir() + "/learning_curve_long.png", img).ok());
  EXPECT_GT(Find(img, kTrainColor, 0, img.width() / 2).count, 400);
}

TEST(SpikeRasterTest, DotsWhereTheSpikesAre) {
  // Two spikes: neuron 0 at step 0, neuron 9 at step 99.
  Tensor s = Tensor::Zeros({10, 100});
  s.at({0, 0}) = 1;
  s.at({9, 99}) = 1;
  absl::StatusOr<Image> img = RenderSpikeRaster({{"out", s}});
  ASSERT_TRUE(img.ok()) << img.status();
  Box all = Find(*img, kSpikeColor);
  ASSERT_GT(all.count, 0);
  const int mid_x = (all.x0 + all.x1) / 2;
  Box first = Find(*img, kSpikeColor, 0, mid_x);
  Box last = Find(*img, kSpikeColor, mid_x, img->width());
  EXPECT_EQ(first.count, last.count);
  // Time runs right; neuron 0 is at the bottom.
  EXPECT_LT(first.x1, last.x0);
  EXPECT_GT(first.y0, last.y1);
  EXPECT_LT(first.x0, 130);                 // near the left edge of the plot
  EXPECT_GT(last.x1, img->width() - 50);    // near the right edge

  Tensor none = Tensor::Zeros({4, 10});
  absl::StatusOr<Image> blank = RenderSpikeRaster({{"silent", none}});
  ASSERT_TRUE(blank.ok());
  EXPECT_EQ(Find(*blank, kSpikeColor).count, 0);
}

// Row 0 all correct (full blue), row 1 split evenly (half blue) between
// classes 1 and 2, row 2 empty (white).
TEST(ConfusionMatrixTest, CellsShadedByTheirShareOfTheLabel) {
  absl::StatusOr<Image> img = RenderConfusionMatrix({10, 0, 0, 0, 5, 5, 0, 0, 0}, 3);
  ASSERT_TRUE(img.ok()) << img.status();
  const Box full = Find(*img, kTrainColor);
  const Rgb half{143, 187, 218};  // 255 - 0.5 * (255 - kTrainColor)
  const Box halves = Find(*img, half);
  ASSERT_GT(full.count, 0);
  ASSERT_GT(halves.count, 0);
  // The full cell is one cell, above and left of the two half cells.
  const int cell = full.x1 - full.x0 + 1;
  EXPECT_EQ(full.y1 - full.y0 + 1, cell);
  EXPECT_EQ(halves.x0, full.x0 + cell);
  EXPECT_EQ(halves.x1, full.x0 + 3 * cell - 1);
  EXPECT_EQ(halves.y0, full.y0 + cell);
  EXPECT_EQ(halves.y1, full.y0 + 2 * cell - 1);
  // Nothing is shaded in row 2 or column 0 below row 0.
  for (int y = full.y0 + cell; y < full.y0 + 3 * cell; ++y) {
    for (int x = full.x0; x < full.x0 + 3 * cell; ++x) {
      if (y >= full.y0 + 2 * cell || x < full.x0 + cell) {
        ASSERT_EQ(img->at(x, y), kWhite) << x << "," << y;
      }
    }
  }

  std::vector<int64_t> ten(100, 3);
  for (int k = 0; k < 10; ++k) ten[k * 10 + k] = 900 - 10 * k;
  EXPECT_TRUE(WriteConfusionPng(OutDir() + "/confusion.png", ten, 10).ok());
  EXPECT_FALSE(RenderConfusionMatrix({1, 2, 3}, 2).ok());
  EXPECT_FALSE(RenderConfusionMatrix({1, -2, 3, 4}, 2).ok());
  EXPECT_FALSE(RenderConfusionMatrix({}, 0).ok());
}

TEST(SpikeRasterTest, SeveralLayersStackAndFlatten) {
  // An input [2, 8, 8, T] (flattened to 128 neurons), a hidden layer and an
  // output, spiking in patterns that are easy to recognise by eye.
  const int64_t T = 300;
  Tensor input = Tensor::Zeros({2, 8, 8, T});
  float* in = input.data();
  for (int64_t n = 0; n < 128; ++n) {
    for (int64_t t = (n * 7) % 23; t < T; t += 23 + n % 11) in[n * T + t] = 1;
  }
  Tensor hidden = Tensor::Zeros({50, T});
  for (int64_t n = 0; n < 50; ++n) {
    for (int64_t t = 20 + 2 * n; t < T; t += 40) hidden.at({n, t}) = 1;
  }
  Tensor out = Tensor::Zeros({10, T});
  for (int64_t t = 30; t < T; t += 9) out.at({3, t}) = 1;
  for (int64_t t = 100; t < 200; t += 25) out.at({7, t}) = 1;
  RasterOptions options;
  options.ts_ms = 1.0;
  absl::StatusOr<Image> img =
      RenderSpikeRaster({{"input", input}, {"fc1", hidden}, {"fc2 (output)", out}}, options);
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_TRUE(WritePng(OutDir() + "/spike_raster.png", *img).ok());
  EXPECT_EQ(img->width(), 1000);
  EXPECT_GT(Find(*img, kSpikeColor).count, 1000);

  const std::string path = OutDir() + "/raster_written.png";
  ASSERT_TRUE(WriteSpikeRasterPng(path, {{"out", out}}).ok());
  EXPECT_TRUE(FileExists(path));

  EXPECT_FALSE(RenderSpikeRaster({}).ok());
  Tensor scalar = Tensor::Zeros({});
  absl::StatusOr<Image> bad = RenderSpikeRaster({{"x", scalar}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer 'x' has a rank-0 tensor"), std::string::npos);
}

}  // namespace
}  // namespace slayer
