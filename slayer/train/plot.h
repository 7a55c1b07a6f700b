// Training figures as PNG, with no plotting library: the learning curve
// (loss and accuracy of train and test against epoch, two panels), spike
// rasters (one dot per spike: time on x, neuron on y, one panel per layer)
// and confusion matrices.
//
//   SLAYER_RETURN_IF_ERROR(WriteLearningCurvePng(run_dir + "/curve.png", log.rows()));
//   SLAYER_RETURN_IF_ERROR(WriteSpikeRasterPng(run_dir + "/raster.png",
//       {{"input", input_spikes}, {"fc1", fc1_spikes}, {"fc2", out_spikes}}));
#ifndef SLAYER_TRAIN_PLOT_H_
#define SLAYER_TRAIN_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slayer/core/tensor.h"
#include "slayer/train/image.h"
#include "slayer/train/metrics.h"

namespace slayer {

// Series colours (matplotlib's first two).
constexpr Rgb kTrainColor{31, 119, 180};
constexpr Rgb kTestColor{255, 127, 14};
// Spike dots.
constexpr Rgb kSpikeColor{20, 20, 110};

// Left panel: loss; right panel: accuracy in %. Missing values are skipped;
// a panel without any data says so.
Image RenderLearningCurve(const std::vector<MetricsRow>& rows, int width = 1200,
                          int height = 520);
absl::Status WriteLearningCurvePng(const std::string& path, const std::vector<MetricsRow>& rows);

struct RasterLayer {
  std::string title;  // "fc1"
  // [neurons, T], or [C, H, W, T] etc.: all but the last dimension are
  // flattened into neurons (row-major). Any nonzero value is a spike.
  Tensor spikes;
};

struct RasterOptions {
  double ts_ms = 1.0;  // time axis in ms = step * ts_ms
  int width = 1000;
};

// Fails on a rank-0 tensor, or one that cannot be copied to the host.
absl::StatusOr<Image> RenderSpikeRaster(const std::vector<RasterLayer>& layers,
                                        const RasterOptions& options = {});
absl::Status WriteSpikeRasterPng(const std::string& path, const std::vector<RasterLayer>& layers,
                                 const RasterOptions& options = {});

// The most classes a confusion matrix is kept and drawn for.
constexpr int64_t kMaxConfusionClasses = 1024;

// A confusion matrix (confusion[label * classes + predicted] samples) as a
// grid: each cell shaded by its share of its label's samples (white to
// blue), with the count written in it up to 20 classes. Fails unless
// confusion holds classes^2 counts >= 0 and classes <= kMaxConfusionClasses.
absl::StatusOr<Image> RenderConfusionMatrix(const std::vector<int64_t>& confusion,
                                            int64_t classes);
absl::Status WriteConfusionPng(const std::string& path, const std::vector<int64_t>& confusion,
                               int64_t classes);

}  // namespace slayer

#endif  // SLAYER_TRAIN_PLOT_H_
