// A small RGB canvas for training plots: pixels, lines, dots, rectangles and
// text in an embedded 5x7 bitmap font (plus descenders), encoded as PNG with zlib. No
// graphics library is needed, so plots render on any headless machine.
//
//   Image img(400, 300);                                   // white
//   img.Line(10, 290, 390, 10, kBlue, /*thickness=*/2);
//   img.Text(12, 12, "loss 0.25", kBlack, /*scale=*/2);
//   SLAYER_RETURN_IF_ERROR(WritePng(run_dir + "/curve.png", img));   // atomic
#ifndef SLAYER_TRAIN_IMAGE_H_
#define SLAYER_TRAIN_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace slayer {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};

class Image {
 public:
  // Glyph cell of the built-in font at scale 1: 5x7 glyphs (capitals and
  // digits fill rows 0-6) with one descender row, and a column of spacing.
  static constexpr int kGlyphWidth = 5, kGlyphHeight = 8, kAdvance = 6;

  Image(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  // Row-major RGB bytes, 3 per pixel, top row first.
  const std::vector<uint8_t>& pixels() const { return pixels_; }
  Rgb at(int x, int y) const;

  // Every drawing call clips to the canvas.
  void Set(int x, int y, Rgb c);
  void FillRect(int x, int y, int w, int h, Rgb c);
  // A line between pixel centres, `thickness` pixels wide.
  void Line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
  // A filled disc.
  void Dot(double x, double y, double radius, Rgb c);
  // Text with its top-left corner at (x, y); characters outside printable
  // ASCII draw as '?'. `up` rotates it 90 degrees counter-clockwise (for a
  // y-axis label), reading bottom to top from (x, y) = its bottom-left.
  void Text(int x, int y, absl::string_view text, Rgb c, int scale = 1, bool up = false);
  static int TextWidth(absl::string_view text, int scale = 1);
  static int TextHeight(int scale = 1) { return kGlyphHeight * scale; }

 private:
  int width_, height_;
  std::vector<uint8_t> pixels_;
};

// PNG bytes: 8-bit RGB, one zlib-compressed IDAT chunk, CRC on each chunk.
std::string EncodePng(const Image& image);
// EncodePng, written atomically.
absl::Status WritePng(const std::string& path, const Image& image);

}  // namespace slayer

#endif  // SLAYER_TRAIN_IMAGE_H_
