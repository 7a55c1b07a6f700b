#include "slayer/data/encoder.h"

#include <cmath>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace data {
namespace {

std::vector<float> Encode(const std::vector<float>& pixels, const ImageEncoderOptions& o,
                          Rng* rng = nullptr) {
  std::vector<float> out(pixels.size() * o.num_steps(), -1.0f);
  absl::Status s = EncodeImage(pixels, o, rng, absl::MakeSpan(out));
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(ImageEncoderTest, IntegrateAndFireRates) {
  ImageEncoderOptions o;  // 25 steps
  ASSERT_EQ(o.num_steps(), 25);
  std::vector<float> out = Encode({1.0f, 0.5f, 0.0f, 0.2f}, o);
  auto count = [&](int p) {
    return std::accumulate(out.begin() + p * 25, out.begin() + (p + 1) * 25, 0.0f);
  };
  EXPECT_EQ(count(0), 25);  // white: every step
  EXPECT_EQ(count(1), 12);  // grey: every other step (t = 1, 3, ...)
  EXPECT_EQ(out[25 + 0], 0.0f);
  EXPECT_EQ(out[25 + 1], 1.0f);
  EXPECT_EQ(count(2), 0);
  EXPECT_EQ(count(3), 5);  // 0.2: t = 4, 9, 14, 19, 24
  EXPECT_EQ(out[3 * 25 + 4], 1.0f);
  EXPECT_EQ(out[3 * 25 + 24], 1.0f);
  for (float v : out) EXPECT_TRUE(v == 0.0f || v == 1.0f);

  std::vector<float> clamped = Encode({-3.0f, 2.0f, std::nanf("")}, o);
  EXPECT_EQ(std::accumulate(clamped.begin(), clamped.end(), 0.0f), 25.0f);
  o.if_gain = 0.5;
  std::vector<float> half = Encode({1.0f}, o);
  EXPECT_EQ(std::accumulate(half.begin(), half.end(), 0.0f), 12);
  o.ts_ms = 0.5;  // 50 steps for the same 25 ms
  EXPECT_EQ(Encode({1.0f}, o).size(), 50u);
}

TEST(ImageEncoderTest, PoissonIsSeededAndMatchesTheRate) {
  ImageEncoderOptions o;
  o.encoding = ImageEncoding::kPoisson;
  o.sample_ms = 2000;
  std::vector<float> px = {0.3f, 1.0f, 0.0f};
  Rng a(5), b(5), c(6);
  std::vector<float> x = Encode(px, o, &a), y = Encode(px, o, &b), z = Encode(px, o, &c);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  const float n03 = std::accumulate(x.begin(), x.begin() + 2000, 0.0f);
  EXPECT_NEAR(n03 / 2000, 0.3, 0.04);
  EXPECT_EQ(std::accumulate(x.begin() + 2000, x.begin() + 4000, 0.0f), 2000);
  EXPECT_EQ(std::accumulate(x.begin() + 4000, x.end(), 0.0f), 0);
  std::vector<float> out(3 * 2000);
  EXPECT_FALSE(EncodeImage(px, o, nullptr, absl::MakeSpan(out)).ok());  // needs an rng
}

TEST(ImageEncoderTest, BadOptionsAndSizes) {
  ImageEncoderOptions o;
  o.if_gain = 1.5;
  EXPECT_FALSE(o.Validate().ok());
  o = ImageEncoderOptions();
  o.ts_ms = 0;
  EXPECT_FALSE(o.Validate().ok());
  o = ImageEncoderOptions();
  std::vector<float> out(10);
  EXPECT_FALSE(EncodeImage(std::vector<float>{1.0f}, o, nullptr, absl::MakeSpan(out)).ok());
}

EventTensorOptions Small() {
  EventTensorOptions o;
  o.channels = 2;
  o.height = 3;
  o.width = 4;
  o.num_steps = 10;
  return o;
}

float At(const std::vector<float>& v, const EventTensorOptions& o, int p, int y, int x, int t) {
  return v[((p * o.height + y) * o.width + x) * o.num_steps + t];
}

TEST(BinEventsTest, OrAndSumBinning) {
  EventTensorOptions o = Small();
  EventStream s;
  s.Add(1, 2, 1, 3000);   // bin 3
  s.Add(1, 2, 1, 3400);   // bin 3 again
  s.Add(0, 0, 0, 2500);   // 2.5 -> 2 (half to even, like np.round)
  s.Add(0, 0, 0, 3500);   // 3.5 -> 4
  s.Add(3, 1, 0, 9600);   // 9.6 -> 10: out of range, dropped
  s.Add(3, 1, 0, -400);   // -0.4 -> 0
  std::vector<float> out(2 * 3 * 4 * 10, 7.0f);
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(out)).ok());
  EXPECT_EQ(At(out, o, 1, 2, 1, 3), 1.0f);
  EXPECT_EQ(At(out, o, 0, 0, 0, 2), 1.0f);
  EXPECT_EQ(At(out, o, 0, 0, 0, 4), 1.0f);
  EXPECT_EQ(At(out, o, 0, 1, 3, 0), 1.0f);
  EXPECT_EQ(std::accumulate(out.begin(), out.end(), 0.0f), 4.0f);

  o.binning = Binning::kSum;
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(out)).ok());
  EXPECT_EQ(At(out, o, 1, 2, 1, 3), 2.0f);
  EXPECT_EQ(std::accumulate(out.begin(), out.end(), 0.0f), 5.0f);

  o.binning = Binning::kOr;
  o.t_start = 3;  // bin 3 -> 0
  o.ts_ms = 0.5;  // 3000 us -> bin 6 - 3 = 3
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(out)).ok());
  EXPECT_EQ(At(out, o, 1, 2, 1, 3), 1.0f);
}

TEST(BinEventsTest, CoordinatesOutsideTheSensor) {
  EventTensorOptions o = Small();
  EventStream s;
  s.Add(0, 0, 0, 0);
  s.Add(4, 0, 0, 0);  // x == width
  std::vector<float> out(2 * 3 * 4 * 10);
  absl::Status st = BinEvents(s, o, nullptr, absl::MakeSpan(out));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("event #1 (x=4"), std::string::npos) << st;
  o.check_coordinates = false;
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(out)).ok());
  EXPECT_EQ(std::accumulate(out.begin(), out.end(), 0.0f), 1.0f);
  s.Add(0, 0, 2, 0);
  s.Add(0, -1, 0, 0);
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(out)).ok());
  EXPECT_EQ(std::accumulate(out.begin(), out.end(), 0.0f), 1.0f);
  std::vector<float> wrong(5);
  EXPECT_FALSE(BinEvents(s, o, nullptr, absl::MakeSpan(wrong)).ok());
}

TEST(BinEventsTest, AugmentationIsSeededAndShiftsTheWholeSample) {
  EventTensorOptions o = Small();
  o.width = o.height = 20;
  o.num_steps = 50;
  o.max_time_shift = 3;
  o.max_jitter = 2;
  EventStream s;
  s.Add(10, 10, 0, 20000);
  s.Add(12, 11, 1, 25000);
  const size_t n = 2 * 20 * 20 * 50;
  std::vector<float> plain(n), a(n), b(n);
  ASSERT_TRUE(BinEvents(s, o, nullptr, absl::MakeSpan(plain)).ok());  // no rng: no shift
  EXPECT_EQ(At(plain, o, 0, 10, 10, 20), 1.0f);
  bool moved = false;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng r1(seed), r2(seed);
    ASSERT_TRUE(BinEvents(s, o, &r1, absl::MakeSpan(a)).ok());
    ASSERT_TRUE(BinEvents(s, o, &r2, absl::MakeSpan(b)).ok());
    EXPECT_EQ(a, b);
    EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0.0f), 2.0f);
    // Find the first event and check the second moved by the same offsets.
    for (int y = 0; y < 20; ++y)
      for (int x = 0; x < 20; ++x)
        for (int t = 0; t < 50; ++t)
          if (At(a, o, 0, y, x, t) == 1.0f) {
            EXPECT_LE(std::abs(x - 10), 2);
            EXPECT_LE(std::abs(y - 10), 2);
            EXPECT_LE(std::abs(t - 20), 3);
            EXPECT_EQ(At(a, o, 1, y + 1, x + 2, t + 5), 1.0f);
            if (x != 10 || y != 10 || t != 20) moved = true;
          }
  }
  EXPECT_TRUE(moved);
}

}  // namespace
}  // namespace data
}  // namespace slayer
