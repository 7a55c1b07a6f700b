#include "slayer/data/test_util.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "slayer/core/random.h"

namespace slayer {
namespace data {

std::string TestPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", name);
}

void WriteTestFile(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

void ForEachTruncation(absl::string_view bytes, const std::function<void(absl::string_view)>& fn,
                       int max_cuts) {
  const uint64_t n = bytes.size();
  const uint64_t step = n <= static_cast<uint64_t>(max_cuts) ? 1 : n / max_cuts + 1;
  for (uint64_t len = 0; len < n; len += step) {
    // A heap copy of exactly `len` bytes, so ASan sees any read past the end.
    std::string cut(bytes.substr(0, len));
    fn(cut);
  }
}

void ForEachCorruption(absl::string_view bytes, const std::function<void(absl::string_view)>& fn,
                       int rounds, uint64_t seed) {
  Rng rng(seed);
  for (int r = 0; r < rounds; ++r) {
    std::string damaged(bytes);
    if (!damaged.empty()) {
      const int flips = 1 + static_cast<int>(rng.UniformInt(8));
      for (int k = 0; k < flips; ++k) {
        damaged[rng.UniformInt(damaged.size())] = static_cast<char>(rng.NextU32());
      }
    }
    fn(damaged);
    std::string garbage(rng.UniformInt(200), '\0');
    for (char& c : garbage) c = static_cast<char>(rng.NextU32());
    fn(garbage);
  }
}

EventStream RandomEvents(int64_t n, int w, int h, int c, int64_t max_gap_us, uint64_t seed) {
  Rng rng(seed);
  EventStream s;
  int64_t t = 0;
  for (int64_t i = 0; i < n; ++i) {
    t += static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(max_gap_us) + 1));
    s.Add(static_cast<int32_t>(rng.UniformInt(w)), static_cast<int32_t>(rng.UniformInt(h)),
          static_cast<int32_t>(rng.UniformInt(c)), t);
  }
  return s;
}

}  // namespace data
}  // namespace slayer
