// Helpers for the slayer/data tests: a scratch directory, file writing, and
// corruption drivers that feed a parser every truncation and random damage
// of a valid input (the parser must return, never crash: run under
// --config=asan).
//
//   std::string path = TestPath("sample.bs2");
//   ForEachTruncation(bytes, [&](absl::string_view cut) { (void)ParseBs2(cut, "cut"); });
#ifndef SLAYER_DATA_TEST_UTIL_H_
#define SLAYER_DATA_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "slayer/data/event.h"

namespace slayer {
namespace data {

// $TEST_TMPDIR/<name> (or /tmp/<name>).
std::string TestPath(absl::string_view name);
// Writes the file or fails the test.
void WriteTestFile(const std::string& path, absl::string_view bytes);

// Calls fn with every prefix of `bytes` shorter than the whole (up to
// `max_cuts` evenly spread lengths).
void ForEachTruncation(absl::string_view bytes, const std::function<void(absl::string_view)>& fn,
                       int max_cuts = 4000);
// Calls fn `rounds` times with a copy of `bytes` where 1..8 random bytes were
// replaced (seeded), and `rounds` times with random garbage of random length.
void ForEachCorruption(absl::string_view bytes, const std::function<void(absl::string_view)>& fn,
                       int rounds = 300, uint64_t seed = 1);

// A reproducible stream of `n` events within x < w, y < h, p < c, times
// increasing from 0 with gaps up to max_gap_us.
EventStream RandomEvents(int64_t n, int w, int h, int c, int64_t max_gap_us, uint64_t seed);

}  // namespace data
}  // namespace slayer

#endif  // SLAYER_DATA_TEST_UTIL_H_
