#include "slayer/train/image.h"

#include <zlib.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/core/file.h"

namespace slayer {
namespace {

uint32_t Be32(const std::string& s, size_t i) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[i + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[i + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[i + 3]));
}

struct Decoded {
  uint32_t width = 0, height = 0;
  std::vector<std::string> chunk_types;
  std::vector<uint8_t> rgb;
};

// An independent minimal PNG reader: checks the signature, every chunk CRC
// and the IHDR fields, inflates IDAT and undoes filter type 0.
Decoded DecodePng(const std::string& png) {
  Decoded d;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  size_t p = 8;
  while (p + 12 <= png.size()) {
    const uint32_t len = Be32(png, p);
    const std::string type = png.substr(p + 4, 4);
    EXPECT_LE(p + 12 + len, png.size());
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(png.data() + p + 4), len + 4));
    EXPECT_EQ(crc, Be32(png, p + 8 + len)) << "CRC of chunk " << type;
    const std::string data = png.substr(p + 8, len);
    d.chunk_types.push_back(type);
    if (type == "IHDR") {
      EXPECT_EQ(len, 13u);
      d.width = Be32(data, 0);
      d.height = Be32(data, 4);
      EXPECT_EQ(data[8], 8);   // bit depth
      EXPECT_EQ(data[9], 2);   // RGB
      EXPECT_EQ(data[10], 0);
      EXPECT_EQ(data[11], 0);
      EXPECT_EQ(data[12], 0);
    } else if (type == "IDAT") {
      idat += data;
    }
    p += 12 + len;
  }
  EXPECT_EQ(p, png.size());
  const size_t stride = 1 + 3 * static_cast<size_t>(d.width);
  std::vector<uint8_t> raw(stride * d.height + 1);
  uLongf raw_len = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()),
                       idat.size()),
            Z_OK);
  EXPECT_EQ(raw_len, stride * d.height);
  for (uint32_t y = 0; y < d.height; ++y) {
    EXPECT_EQ(raw[y * stride], 0) << "filter of row " << y;
    d.rgb.insert(d.rgb.end(), raw.begin() + y * stride + 1, raw.begin() + (y + 1) * stride);
  }
  return d;
}

TEST(PngTest, StructureCrcsAndPixelsSurviveEncoding) {
  Image img(37, 21, Rgb{10, 20, 30});
  img.Set(0, 0, Rgb{255, 0, 0});
  img.Set(36, 20, Rgb{0, 255, 0});
  img.Line(0, 20, 36, 0, Rgb{1, 2, 3});
  const std::string png = EncodePng(img);
  Decoded d = DecodePng(png);
  EXPECT_EQ(d.width, 37u);
  EXPECT_EQ(d.height, 21u);
  EXPECT_EQ(d.chunk_types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  EXPECT_EQ(d.rgb, img.pixels());
  EXPECT_EQ(img.at(36, 20), (Rgb{0, 255, 0}));
  EXPECT_EQ(img.at(5, 10), (Rgb{10, 20, 30}));

  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/img.png";
  ASSERT_TRUE(WritePng(path, img).ok());
  EXPECT_EQ(*ReadFile(path), png);
}

TEST(ImageTest, TextUsesTheBitmapFont) {
  Image img(40, 20);
  img.Text(1, 1, "A", kBlack);
  // 'A' = " ### ", "#   #", ... , "#   #": check both rows.
  EXPECT_EQ(img.at(1, 1), kWhite);
  EXPECT_EQ(img.at(2, 1), kBlack);
  EXPECT_EQ(img.at(4, 1), kBlack);
  EXPECT_EQ(img.at(5, 1), kWhite);
  EXPECT_EQ(img.at(1, 2), kBlack);
  EXPECT_EQ(img.at(5, 2), kBlack);
  EXPECT_EQ(img.at(3, 4), kBlack);   // the bar
  EXPECT_EQ(img.at(3, 7), kWhite);   // below the bar, middle column
  EXPECT_EQ(img.at(1, 7), kBlack);   // last row, left leg
  EXPECT_EQ(Image::TextWidth("AB", 1), 11);
  EXPECT_EQ(Image::TextWidth("AB", 2), 22);
  EXPECT_EQ(Image::TextHeight(3), 24);
  img.Text(20, 1, "p", kBlack);  // descender: the stem reaches row 7
  EXPECT_EQ(img.at(20, 8), kBlack);
  EXPECT_EQ(img.at(20, 9), kWhite);

  // Scale 2 doubles each pixel; '|' is the middle column.
  Image big(20, 20);
  big.Text(0, 0, "|", kBlack, 2);
  EXPECT_EQ(big.at(4, 0), kBlack);
  EXPECT_EQ(big.at(5, 13), kBlack);
  EXPECT_EQ(big.at(3, 0), kWhite);
  EXPECT_EQ(big.at(6, 0), kWhite);

  // Rotated: '-' (row 3, all columns) becomes a vertical bar at x = 3,
  // running up from y.
  Image up(20, 20);
  up.Text(5, 15, "-", kBlack, 1, /*up=*/true);
  for (int y = 10; y <= 14; ++y) EXPECT_EQ(up.at(8, y), kBlack) << y;
  EXPECT_EQ(up.at(8, 15), kWhite);
  EXPECT_EQ(up.at(8, 9), kWhite);
  EXPECT_EQ(up.at(7, 12), kWhite);

  // Unknown characters draw as '?'.
  Image q1(10, 10), q2(10, 10);
  q1.Text(0, 0, "\x01", kBlack);
  q2.Text(0, 0, "?", kBlack);
  EXPECT_EQ(q1.pixels(), q2.pixels());
}

TEST(ImageTest, ShapesClipAtTheEdges) {
  Image img(10, 10);
  img.FillRect(-5, -5, 8, 8, kBlack);
  EXPECT_EQ(img.at(2, 2), kBlack);
  EXPECT_EQ(img.at(3, 3), kWhite);
  img.Line(-100, 5, 100, 5, Rgb{9, 9, 9}, 3);
  for (int x = 0; x < 10; ++x) {
    EXPECT_EQ(img.at(x, 4), (Rgb{9, 9, 9}));
    EXPECT_EQ(img.at(x, 6), (Rgb{9, 9, 9}));
  }
  EXPECT_EQ(img.at(0, 7), kWhite);
  img.Line(0, 0, 1e300, NAN, kBlack);  // ignored, no crash
  img.Dot(9, 9, 2, Rgb{1, 1, 1});
  EXPECT_EQ(img.at(9, 9), (Rgb{1, 1, 1}));
  EXPECT_EQ(img.at(9, 7), (Rgb{1, 1, 1}));
  EXPECT_EQ(img.at(7, 7), kWhite);
  img.Text(8, 8, "long text off the edge", kBlack, 4);
}

}  // namespace
}  // namespace slayer
