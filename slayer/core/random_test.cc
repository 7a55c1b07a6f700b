#include "slayer/core/random.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace {

TEST(RngTest, SameSeedSameSequence) {
  Rng a(123), b(123), c(124);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.NextU64();
    EXPECT_EQ(x, b.NextU64());
    differ += x != c.NextU64();
  }
  EXPECT_GT(differ, 95);
}

TEST(RngTest, StreamsAreIndependentOfParentState) {
  Rng a(7);
  Rng s1 = a.Stream(3);
  a.NextU64();
  a.NextU64();
  Rng s2 = a.Stream(3);
  EXPECT_EQ(s1.NextU64(), s2.NextU64());
  EXPECT_NE(a.Stream(3).NextU64(), a.Stream(4).NextU64());
}

TEST(RngTest, UniformMoments) {
  Rng r(1);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    float u = r.Uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sq / n - 0.25, 1.0 / 12, 0.002);
}

TEST(RngTest, UniformIntIsUnbiased) {
  Rng r(2);
  std::vector<int> counts(7);
  for (int i = 0; i < 70000; ++i) counts[r.UniformInt(7)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
}

TEST(RngTest, NormalMoments) {
  Rng r(3);
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    double x = r.Normal();
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
}

TEST(RngTest, StateRoundTrips) {
  Rng r(9);
  r.NextU64();
  Rng::State s = r.state();
  uint64_t next = r.NextU64();
  Rng q(0);
  q.set_state(s);
  EXPECT_EQ(q.NextU64(), next);
}

}  // namespace
}  // namespace slayer
