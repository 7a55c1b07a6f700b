#include "slayer/train/plot.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "slayer/core/status.h"

namespace slayer {
namespace {

constexpr Rgb kInk{30, 30, 30};
constexpr Rgb kFrame{90, 90, 90};
constexpr Rgb kGrid{228, 228, 228};
constexpr Rgb kLegendBorder{180, 180, 180};
constexpr int kFont = 2;  // text scale: 10x14-pixel glyphs

struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  std::vector<double> ticks;
};

// Ticks at 1, 2 or 5 times a power of ten, about `target` of them, with the
// range widened to whole steps.
Axis NiceAxis(double lo, double hi, int target, bool integer) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer) step = std::max(1.0, std::round(step));
  Axis a;
  a.step = step;
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  for (int i = 0;; ++i) {
    double v = a.lo + i * step;
    if (v > a.hi + step * 1e-6) break;
    if (std::fabs(v) < step * 1e-9) v = 0;
    a.ticks.push_back(v);
  }
  return a;
}

std::string TickLabel(double v, double step) {
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || step < 1e-4)) return absl::StrFormat("%.3g", v);
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return absl::StrFormat("%.*f", decimals, v);
}

struct Series {
  std::string name;
  Rgb color;
  std::vector<std::pair<double, double>> points;  // (x, y), finite
};

struct Rect {
  int x, y, w, h;
  int right() const { return x + w; }
  int bottom() const { return y + h; }
};

void DrawFrame(Image* img, const Rect& r, Rgb c) {
  img->FillRect(r.x, r.y, r.w + 1, 1, c);
  img->FillRect(r.x, r.bottom(), r.w + 1, 1, c);
  img->FillRect(r.x, r.y, 1, r.h + 1, c);
  img->FillRect(r.right(), r.y, 1, r.h + 1, c);
}

void CenteredText(Image* img, int cx, int y, const std::string& s, Rgb c) {
  img->Text(cx - Image::TextWidth(s, kFont) / 2, y, s, c, kFont);
}

// One chart: title above, y label rotated on the left, x label below.
void DrawChart(Image* img, const Rect& panel, const std::string& title,
               const std::string& xlabel, const std::string& ylabel,
               const std::vector<Series>& series, double y_min, double y_max) {
  const Rect plot{panel.x + 110, panel.y + 44, panel.w - 140, panel.h - 110};
  CenteredText(img, plot.x + plot.w / 2, panel.y + 12, title, kInk);
  CenteredText(img, plot.x + plot.w / 2, plot.bottom() + 40, xlabel, kInk);
  img->Text(panel.x + 12, plot.y + plot.h / 2 + Image::TextWidth(ylabel, kFont) / 2, ylabel,
            kInk, kFont, /*up=*/true);

  double x_lo = 1e300, x_hi = -1e300, y_lo = 1e300, y_hi = -1e300;
  for (const Series& s : series) {
    for (const auto& [x, y] : s.points) {
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  if (x_lo > x_hi) {  // nothing to draw
    DrawFrame(img, plot, kFrame);
    CenteredText(img, plot.x + plot.w / 2, plot.y + plot.h / 2 - 7, "no data", kFrame);
    return;
  }
  if (x_hi - x_lo < 1) {
    x_lo -= 1;
    x_hi += 1;
  }
  const double pad = (y_hi - y_lo) * 0.05;
  Axis xa = NiceAxis(x_lo, x_hi, 8, /*integer=*/true);
  Axis ya = NiceAxis(std::max(y_lo - pad, y_min), std::min(y_hi + pad, y_max), 6, false);
  ya.lo = std::max(ya.lo, y_min);
  ya.hi = std::min(ya.hi, y_max);
  if (!(ya.hi > ya.lo)) ya = NiceAxis(ya.lo, ya.lo + 1, 6, false);
  xa.lo = std::max(xa.lo, x_lo);  // epochs: start at the first one
  xa.hi = x_hi;
  auto px = [&](double x) { return plot.x + (x - xa.lo) / (xa.hi - xa.lo) * plot.w; };
  auto py = [&](double y) { return plot.bottom() - (y - ya.lo) / (ya.hi - ya.lo) * plot.h; };

  for (double t : ya.ticks) {
    if (t < ya.lo - 1e-9 || t > ya.hi + 1e-9) continue;
    const int y = static_cast<int>(std::lround(py(t)));
    img->FillRect(plot.x, y, plot.w, 1, kGrid);
    img->FillRect(plot.x - 6, y, 6, 1, kFrame);
    const std::string label = TickLabel(t, ya.step);
    img->Text(plot.x - 10 - Image::TextWidth(label, kFont), y - 7, label, kInk, kFont);
  }
  for (double t : xa.ticks) {
    if (t < xa.lo - 1e-9 || t > xa.hi + 1e-9) continue;
    const int x = static_cast<int>(std::lround(px(t)));
    img->FillRect(x, plot.y, 1, plot.h, kGrid);
    img->FillRect(x, plot.bottom(), 1, 6, kFrame);
    CenteredText(img, x, plot.bottom() + 12, TickLabel(t, xa.step), kInk);
  }
  DrawFrame(img, plot, kFrame);

  // Markers only while they stay apart (long runs draw just the line).
  auto markers = [&](const Series& s) { return static_cast<int>(s.points.size()) * 8 <= plot.w; };
  for (const Series& s : series) {
    for (size_t i = 1; i < s.points.size(); ++i) {
      img->Line(px(s.points[i - 1].first), py(s.points[i - 1].second), px(s.points[i].first),
                py(s.points[i].second), s.color, 2);
    }
    if (markers(s)) {
      for (const auto& [x, y] : s.points) img->Dot(px(x), py(y), 3.5, s.color);
    }
  }

  // Legend: in the corner of the plot that covers the fewest data.
  std::vector<const Series*> shown;
  int text_w = 0;
  for (const Series& s : series) {
    if (s.points.empty()) continue;
    shown.push_back(&s);
    text_w = std::max(text_w, Image::TextWidth(s.name, kFont));
  }
  if (shown.empty()) return;
  const int row_h = 22, box_w = 16 + 28 + 8 + text_w + 12;
  const int box_h = static_cast<int>(shown.size()) * row_h + 10;
  const Rect corners[] = {
      {plot.right() - box_w - 10, plot.y + 10, box_w, box_h},
      {plot.right() - box_w - 10, plot.bottom() - box_h - 10, box_w, box_h},
      {plot.x + 10, plot.y + 10, box_w, box_h},
      {plot.x + 10, plot.bottom() - box_h - 10, box_w, box_h},
  };
  auto covered = [&](const Rect& r) {
    int n = 0;
    auto hit = [&](double x, double y) {
      n += x >= r.x - 6 && x <= r.right() + 6 && y >= r.y - 6 && y <= r.bottom() + 6;
    };
    for (const Series& s : series) {
      for (size_t i = 0; i < s.points.size(); ++i) {
        const double x1 = px(s.points[i].first), y1 = py(s.points[i].second);
        hit(x1, y1);
        if (i == 0) continue;
        const double x0 = px(s.points[i - 1].first), y0 = py(s.points[i - 1].second);
        const int steps = static_cast<int>(std::hypot(x1 - x0, y1 - y0) / 2) + 1;
        for (int k = 1; k < steps; ++k) {
          hit(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps);
        }
      }
    }
    return n;
  };
  Rect box = corners[0];
  int best = covered(box);
  for (const Rect& r : corners) {
    const int c = covered(r);
    if (c < best) {
      best = c;
      box = r;
    }
  }
  img->FillRect(box.x, box.y, box.w, box.h, kWhite);
  DrawFrame(img, box, kLegendBorder);
  for (size_t i = 0; i < shown.size(); ++i) {
    const int cy = box.y + 5 + static_cast<int>(i) * row_h + row_h / 2;
    img->Line(box.x + 12, cy, box.x + 12 + 28, cy, shown[i]->color, 2);
    if (markers(*shown[i])) img->Dot(box.x + 12 + 14, cy, 3.5, shown[i]->color);
    img->Text(box.x + 12 + 28 + 10, cy - 7, shown[i]->name, kInk, kFont);
  }
}

void AddPoint(Series* s, int64_t epoch, const std::optional<double>& v, double scale) {
  if (v.has_value() && std::isfinite(*v)) {
    s->points.emplace_back(static_cast<double>(epoch), *v * scale);
  }
}

}  // namespace

Image RenderLearningCurve(const std::vector<MetricsRow>& rows, int width, int height) {
  Image img(width, height);
  Series train_loss{"train", kTrainColor, {}}, test_loss{"test", kTestColor, {}};
  Series train_acc{"train", kTrainColor, {}}, test_acc{"test", kTestColor, {}};
  for (const MetricsRow& r : rows) {
    AddPoint(&train_loss, r.epoch, r.train_loss, 1.0);
    AddPoint(&test_loss, r.epoch, r.test_loss, 1.0);
    AddPoint(&train_acc, r.epoch, r.train_accuracy, 100.0);
    AddPoint(&test_acc, r.epoch, r.test_accuracy, 100.0);
  }
  double loss_min = 0;
  for (const Series* s : {&train_loss, &test_loss}) {
    for (const auto& p : s->points) loss_min = std::min(loss_min, p.second);
  }
  const int half = width / 2;
  DrawChart(&img, Rect{0, 0, half, height}, "Loss", "epoch", "loss", {train_loss, test_loss},
            loss_min, 1e300);
  DrawChart(&img, Rect{half, 0, width - half, height}, "Accuracy", "epoch", "accuracy (%)",
            {train_acc, test_acc}, 0.0, 100.0);
  return img;
}

absl::Status WriteLearningCurvePng(const std::string& path, const std::vector<MetricsRow>& rows) {
  return WritePng(path, RenderLearningCurve(rows));
}

absl::StatusOr<Image> RenderSpikeRaster(const std::vector<RasterLayer>& layers,
                                        const RasterOptions& options) {
  if (layers.empty()) return absl::InvalidArgumentError("spike raster: no layers to plot");
  struct Panel {
    Tensor host;
    int64_t neurons = 0, steps = 0, spikes = 0;
    int plot_h = 0;
  };
  std::vector<Panel> panels;
  for (const RasterLayer& layer : layers) {
    if (layer.spikes.rank() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spike raster: layer '", layer.title, "' has a rank-0 tensor, expected [neurons, T]"));
    }
    Panel p;
    SLAYER_ASSIGN_OR_RETURN(p.host, layer.spikes.To(Device::kCpu));
    p.steps = layer.spikes.dim(-1);
    p.neurons = p.steps == 0 ? 0 : layer.spikes.numel() / p.steps;
    if (layer.spikes.rank() == 1) p.neurons = 1;
    const float* d = p.host.data();
    for (int64_t i = 0; i < p.host.numel(); ++i) p.spikes += d[i] != 0.0f;
    p.plot_h = static_cast<int>(std::clamp<int64_t>(p.neurons * 14, 100, 320));
    panels.push_back(std::move(p));
  }
  const int title_h = 40, axis_h = 44, gap = 16, label_h = 30;
  int height = gap + label_h;
  for (const Panel& p : panels) height += title_h + p.plot_h + axis_h + gap;
  const int width = std::max(options.width, 300);
  Image img(width, height);
  const int left = 110, right = 30;
  const int plot_w = width - left - right;

  int y = gap;
  for (size_t k = 0; k < panels.size(); ++k) {
    const Panel& p = panels[k];
    const std::string title = absl::StrCat(layers[k].title, "  (", p.neurons, " neurons, ",
                                           p.spikes, " spikes)");
    img.Text(left, y + 12, title, kInk, kFont);
    const Rect plot{left, y + title_h, plot_w, p.plot_h};

    // Time axis in ms, neuron axis with 0 at the bottom.
    const double t_end = static_cast<double>(p.steps) * options.ts_ms;
    Axis xa = NiceAxis(0, t_end > 0 ? t_end : 1, 10, false);
    xa.lo = 0;
    xa.hi = t_end > 0 ? t_end : 1;
    for (double t : xa.ticks) {
      if (t > xa.hi + 1e-9) continue;
      const int x = static_cast<int>(std::lround(plot.x + t / xa.hi * plot.w));
      img.FillRect(x, plot.y, 1, plot.h, kGrid);
      img.FillRect(x, plot.bottom(), 1, 6, kFrame);
      CenteredText(&img, x, plot.bottom() + 12, TickLabel(t, xa.step), kInk);
    }
    const double n_hi = static_cast<double>(std::max<int64_t>(p.neurons - 1, 1));
    Axis ya = NiceAxis(0, n_hi, std::max(2, plot.h / 32), true);
    auto neuron_y = [&](double i) {
      return plot.bottom() - (i + 0.5) / static_cast<double>(std::max<int64_t>(p.neurons, 1)) *
                                 plot.h;
    };
    for (double t : ya.ticks) {
      if (t > static_cast<double>(p.neurons - 1) + 1e-9) continue;
      const int ty = static_cast<int>(std::lround(neuron_y(t)));
      img.FillRect(plot.x - 6, ty, 6, 1, kFrame);
      const std::string label = TickLabel(t, 1);
      img.Text(plot.x - 10 - Image::TextWidth(label, kFont), ty - 7, label, kInk, kFont);
    }
    DrawFrame(&img, plot, kFrame);
    img.Text(12, plot.y + plot.h / 2 + Image::TextWidth("neuron", kFont) / 2, "neuron", kInk,
             kFont, /*up=*/true);

    if (p.steps > 0 && p.neurons > 0) {
      const double cell_w = static_cast<double>(plot.w) / static_cast<double>(p.steps);
      const double cell_h = static_cast<double>(plot.h) / static_cast<double>(p.neurons);
      const int dot =
          static_cast<int>(std::clamp(std::floor(std::min(cell_w, cell_h) + 0.5), 2.0, 6.0));
      const float* d = p.host.data();
      for (int64_t n = 0; n < p.neurons; ++n) {
        const double cy = neuron_y(static_cast<double>(n));
        for (int64_t t = 0; t < p.steps; ++t) {
          if (d[n * p.steps + t] == 0.0f) continue;
          const double cx = plot.x + (static_cast<double>(t) + 0.5) * cell_w;
          if (dot >= 3) {
            img.Dot(cx, cy, dot / 2.0, kSpikeColor);
          } else {
            img.FillRect(static_cast<int>(cx) - dot / 2, static_cast<int>(cy) - dot / 2, dot, dot,
                         kSpikeColor);
          }
        }
      }
    }
    y += title_h + p.plot_h + axis_h + gap;
  }
  CenteredText(&img, left + plot_w / 2, y - 6, "time (ms)", kInk);
  return img;
}

absl::Status WriteSpikeRasterPng(const std::string& path, const std::vector<RasterLayer>& layers,
                                 const RasterOptions& options) {
  SLAYER_ASSIGN_OR_RETURN(Image img, RenderSpikeRaster(layers, options));
  return WritePng(path, img);
}

absl::StatusOr<Image> RenderConfusionMatrix(const std::vector<int64_t>& confusion,
                                            int64_t classes) {
  if (classes < 1 || classes > kMaxConfusionClasses ||
      static_cast<int64_t>(confusion.size()) != classes * classes ||
      std::any_of(confusion.begin(), confusion.end(), [](int64_t v) { return v < 0; })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "confusion matrix: expected classes in [1, ", kMaxConfusionClasses,
        "] and classes^2 counts >= 0, got ", classes, " classes and ", confusion.size(),
        " counts"));
  }
  // Each label's samples, and the totals.
  std::vector<int64_t> per_label(classes, 0);
  int64_t total = 0, correct = 0;
  for (int64_t k = 0; k < classes; ++k) {
    for (int64_t j = 0; j < classes; ++j) per_label[k] += confusion[k * classes + j];
    total += per_label[k];
    correct += confusion[k * classes + k];
  }
  const int cell = static_cast<int>(std::clamp<int64_t>(640 / classes, 4, 64));
  const int grid = cell * static_cast<int>(classes);
  const int left = 110, top = 70, right = 30, bottom = 90;
  Image img(left + grid + right, top + grid + bottom);
  CenteredText(&img, left + grid / 2, 20,
               absl::StrFormat("confusion: %d samples, %.2f%% correct", total,
                               total > 0 ? 100.0 * correct / total : 0.0),
               kInk);
  const bool counts = classes <= 20;
  for (int64_t k = 0; k < classes; ++k) {
    for (int64_t j = 0; j < classes; ++j) {
      const int64_t v = confusion[k * classes + j];
      const double share = per_label[k] > 0 ? static_cast<double>(v) / per_label[k] : 0.0;
      // White to kTrainColor's blue.
      auto mix = [share](int to) {
        return static_cast<uint8_t>(std::lround(255 - share * (255 - to)));
      };
      const Rgb c{mix(kTrainColor.r), mix(kTrainColor.g), mix(kTrainColor.b)};
      const int x = left + static_cast<int>(j) * cell, y = top + static_cast<int>(k) * cell;
      img.FillRect(x, y, cell, cell, c);
      if (counts && v > 0) {
        const std::string s = absl::StrCat(v);
        const int scale = Image::TextWidth(s, kFont) + 4 <= cell ? kFont : 1;
        img.Text(x + (cell - Image::TextWidth(s, scale)) / 2,
                 y + (cell - Image::TextHeight(scale)) / 2, s, share > 0.5 ? kWhite : kInk,
                 scale);
      }
    }
  }
  DrawFrame(&img, Rect{left - 1, top - 1, grid + 1, grid + 1}, kFrame);  // around the cells
  // Class indices along both axes (every one up to 20 classes).
  const int64_t every = counts ? 1 : (classes + 19) / 20;
  for (int64_t k = 0; k < classes; k += every) {
    const std::string s = absl::StrCat(k);
    const int mid = static_cast<int>(k) * cell + cell / 2;
    img.Text(left - 8 - Image::TextWidth(s, kFont), top + mid - Image::TextHeight(kFont) / 2, s,
             kInk, kFont);
    CenteredText(&img, left + mid, top + grid + 8, s, kInk);
  }
  CenteredText(&img, left + grid / 2, top + grid + 44, "predicted", kInk);
  img.Text(24, top + grid / 2 + Image::TextWidth("label", kFont) / 2, "label", kInk, kFont,
           /*up=*/true);
  return img;
}

absl::Status WriteConfusionPng(const std::string& path, const std::vector<int64_t>& confusion,
                               int64_t classes) {
  SLAYER_ASSIGN_OR_RETURN(Image img, RenderConfusionMatrix(confusion, classes));
  return WritePng(path, img);
}

}  // namespace slayer
