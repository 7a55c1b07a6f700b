#include "slayer/ops/events.h"

#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/ops/cpu_util.h"

namespace slayer {
namespace ops {
namespace internal {
namespace {

// Rows of `length` values, a fraction `density` nonzero, some rows empty.
std::vector<float> SparseRows(int64_t rows, int64_t length, double density, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> x(rows * length, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 5 == 3) continue;  // an empty row
    for (int64_t t = 0; t < length; ++t) {
      if (unit(rng) < density) x[r * length + t] = unit(rng) * 4.0f - 2.0f;
    }
  }
  return x;
}

std::vector<float> Uniform(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

class EventRowsTest : public ::testing::Test {
 protected:
  void TearDown() override { SetWideKernelsEnabled(true); }
};

TEST_F(EventRowsTest, RecordsNonzerosInOrder) {
  // Rows of 45 (two vectors of 16 and a tail), -0 (zero) and NaN (nonzero).
  std::vector<float> x = SparseRows(7, 45, 0.2, 1);
  x[2 * 45 + 4] = -0.0f;
  x[2 * 45 + 40] = std::nanf("");
  x[6 * 45 + 44] = 1.0f;
  for (bool wide : {false, true}) {
    SetWideKernelsEnabled(wide);
    EventRows rows;
    rows.AddRow(x.data(), 0);  // an empty row first
    for (int64_t r = 0; r < 7; ++r) rows.AddRow(x.data() + r * 45, 45);
    ASSERT_EQ(rows.rows(), 8);
    EXPECT_EQ(rows.begin(0), rows.end(0));
    int64_t total = 0;
    for (int64_t r = 0; r < 7; ++r) {
      std::vector<Event> want;
      for (int64_t t = 0; t < 45; ++t) {
        if (x[r * 45 + t] != 0.0f || std::isnan(x[r * 45 + t])) {
          want.push_back({static_cast<int32_t>(t), x[r * 45 + t]});
        }
      }
      const Event* got = rows.begin(r + 1);
      ASSERT_EQ(rows.end(r + 1) - got, static_cast<int64_t>(want.size())) << r;
      for (size_t k = 0; k < want.size(); ++k) {
        EXPECT_EQ(got[k].index, want[k].index) << "wide " << wide << " row " << r;
        if (std::isnan(want[k].value)) {
          EXPECT_TRUE(std::isnan(got[k].value));
        } else {
          EXPECT_EQ(got[k].value, want[k].value) << "wide " << wide << " row " << r;
        }
      }
      total += static_cast<int64_t>(want.size());
    }
    EXPECT_EQ(rows.size(), total);
    // The transpose: a row per index, holding the rows that had it.
    EventRows by_index;
    by_index.AssignTransposed(rows, 45);
    ASSERT_EQ(by_index.rows(), 45);
    ASSERT_EQ(by_index.size(), total);
    for (int64_t t = 0; t < 45; ++t) {
      std::vector<int32_t> want;
      for (int64_t r = 0; r < 7; ++r) {
        const float v = x[r * 45 + t];
        if (v != 0.0f || std::isnan(v)) want.push_back(static_cast<int32_t>(r + 1));
      }
      ASSERT_EQ(by_index.end(t) - by_index.begin(t), static_cast<int64_t>(want.size())) << t;
      for (size_t k = 0; k < want.size(); ++k) {
        EXPECT_EQ(by_index.begin(t)[k].index, want[k]) << t;
      }
    }
  }
}

// AssignFromMasks: a row per mask row, the set bits as increasing indices
// (word w's bit b as w * 32 + b, words strided), all with the value; the buffers regrow
// and shrink as asked.
TEST_F(EventRowsTest, AssignFromMasksListsTheBitsInOrder) {
  for (bool wide : {true, false}) {
    SetWideKernelsEnabled(wide);
    const int64_t rows = 9, words = 3, stride = 11;  // word w of row r at w * 11 + r
    std::vector<uint32_t> masks(words * stride, 0);
    masks[0 * stride + 0] = 0x80000001u;  // indices 0 and 31
    masks[2 * stride + 0] = 0x4u;         // 66
    masks[1 * stride + 3] = 0xffffffffu;  // 32 .. 63
    masks[2 * stride + 8] = 0x80000000u;  // 95
    masks[0 * stride + 9] = 0xffu;        // past the rows: not read
    EventRows by_time;
    by_time.AssignFromMasks(masks.data(), rows, words, stride, 0.5f);
    ASSERT_EQ(by_time.rows(), rows);
    ASSERT_EQ(by_time.size(), 3 + 32 + 1);
    std::vector<int32_t> row0;
    for (const Event* e = by_time.begin(0); e != by_time.end(0); ++e) {
      row0.push_back(e->index);
      EXPECT_EQ(e->value, 0.5f);
    }
    EXPECT_EQ(row0, (std::vector<int32_t>{0, 31, 66})) << "wide " << wide;
    ASSERT_EQ(by_time.end(3) - by_time.begin(3), 32);
    for (int32_t k = 0; k < 32; ++k) EXPECT_EQ(by_time.begin(3)[k].index, 32 + k);
    ASSERT_EQ(by_time.end(8) - by_time.begin(8), 1);
    EXPECT_EQ(by_time.begin(8)->index, 95);
    for (int64_t r : {1, 2, 4, 5, 6, 7}) EXPECT_EQ(by_time.begin(r), by_time.end(r)) << r;
    // Reused for fewer rows: nothing of the old events is left.
    by_time.AssignFromMasks(masks.data() + 3, 1, words, stride, 2.0f);
    ASSERT_EQ(by_time.rows(), 1);
    ASSERT_EQ(by_time.size(), 32);
    EXPECT_EQ(by_time.begin(0)->value, 2.0f);
    // Random masks of 16 and 20 words (the AVX-512 variant takes at most
    // 16 at once): the bits in order, as a plain loop lists them.
    for (int64_t many : {16, 20}) {
      const int64_t steps = 37;
      std::vector<uint32_t> random(many * steps);
      uint32_t state = 99u + static_cast<uint32_t>(many);
      for (uint32_t& m : random) {
        state = state * 1664525u + 1013904223u;
        m = state & (state >> 5) & (state >> 11);
      }
      EventRows got;
      got.AssignFromMasks(random.data(), steps, many, steps, 1.0f);
      ASSERT_EQ(got.rows(), steps);
      for (int64_t r = 0; r < steps; ++r) {
        std::vector<int32_t> want, have;
        for (int64_t w = 0; w < many; ++w) {
          for (int b = 0; b < 32; ++b) {
            if (random[w * steps + r] >> b & 1u) want.push_back(static_cast<int32_t>(w * 32 + b));
          }
        }
        for (const Event* e = got.begin(r); e != got.end(r); ++e) have.push_back(e->index);
        ASSERT_EQ(have, want) << "wide " << wide << " words " << many << " row " << r;
      }
    }
  }
}

// ScatterRows and GatherRows, both widths, against a double-precision sum and
// bit for bit against ScatterPanel / GatherPanel row by row where they sum in
// the same order (all but the AVX-512 gather that overwrites).
TEST_F(EventRowsTest, RowKernelsEqualThePanelKernels) {
  if (!CpuHasAvx512F()) std::cout << "note: no AVX-512 on this CPU: one width checked\n";
  const int64_t inputs = 37, steps = 61;
  const std::vector<float> x = SparseRows(inputs, steps, 0.1, 2);
  EventRows events;
  for (int64_t r = 0; r < inputs; ++r) events.AddRow(x.data() + r * steps, steps);
  const std::vector<float> w = Uniform(inputs * kPanel, 3);  // a packed panel
  const std::vector<float> g = Uniform(steps * kPanel, 4);   // T x 32
  const int64_t r0 = 3, r1 = 31;
  for (bool wide : {false, true}) {
    SetWideKernelsEnabled(wide);
    // Scatter: acc[t][k] = sum over r in [r0, r1), x[r, t] != 0 of x[r, t] w[r][k].
    std::vector<float> acc(steps * kPanel, 0.5f), ref = acc;
    ScatterRows(events, r0, r1, w.data(), acc.data());
    for (int64_t r = r0; r < r1; ++r) {
      ScatterPanel(events.begin(r), events.end(r), w.data() + r * kPanel, ref.data(), 0);
    }
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t k = 0; k < kPanel; ++k) {
        double want = 0.5;
        for (int64_t r = r0; r < r1; ++r) {
          want += static_cast<double>(x[r * steps + t]) * w[r * kPanel + k];
        }
        ASSERT_EQ(acc[t * kPanel + k], ref[t * kPanel + k]) << "wide " << wide;
        ASSERT_NEAR(acc[t * kPanel + k], want, 1e-5) << "wide " << wide << " t " << t;
      }
    }
    // Gather: out[r - r0][k] = sum over t of x[r, t] g[t][k].
    std::vector<float> out((r1 - r0) * kPanel, -0.25f), out_ref = out;
    GatherRows(events, r0, r1, g.data(), /*accumulate=*/true, out.data());
    // Overwriting: the same sums from zero, empty rows zero.
    std::vector<float> fresh((r1 - r0) * kPanel, 99.0f);
    GatherRows(events, r0, r1, g.data(), /*accumulate=*/false, fresh.data());
    for (int64_t i = 0; i < (r1 - r0) * kPanel; ++i) {
      ASSERT_NEAR(fresh[i], out[i] + 0.25f, 1e-5) << "wide " << wide << " at " << i;
    }
    for (int64_t r = r0; r < r1; ++r) {
      GatherPanel(events.begin(r), events.end(r), g.data(), 0,
                  out_ref.data() + (r - r0) * kPanel);
    }
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t k = 0; k < kPanel; ++k) {
        double want = -0.25;
        for (int64_t t = 0; t < steps; ++t) {
          want += static_cast<double>(x[r * steps + t]) * g[t * kPanel + k];
        }
        ASSERT_EQ(out[(r - r0) * kPanel + k], out_ref[(r - r0) * kPanel + k]) << "wide " << wide;
        ASSERT_NEAR(out[(r - r0) * kPanel + k], want, 1e-5) << "wide " << wide << " r " << r;
      }
    }
  }
}

}  // namespace
}  // namespace internal
}  // namespace ops
}  // namespace slayer
