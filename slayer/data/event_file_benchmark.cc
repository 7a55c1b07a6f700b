// Decoding speed of every event format, in events per second
// (items_per_second). NMNIST-like streams: 34 x 34 x 2, ~13 events per ms.
//
//   bazel run -c opt //slayer/data:event_file_benchmark -- --benchmark_min_time=0.05
#include <string>

#include "benchmark/benchmark.h"
#include "slayer/core/npy.h"
#include "slayer/data/aedat.h"
#include "slayer/data/binary_events.h"
#include "slayer/data/npy_events.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

EventStream Stream(int64_t n, int w = 34, int h = 34) { return RandomEvents(n, w, h, 2, 150, 1); }

template <absl::StatusOr<EventStream> (*Parse)(absl::string_view, absl::string_view)>
void RunParse(benchmark::State& state, const std::string& bytes, int64_t events) {
  for (auto _ : state) {
    absl::StatusOr<EventStream> s = Parse(bytes, "bench");
    benchmark::DoNotOptimize(s->events.data());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

void BM_ParseBs2(benchmark::State& state) {
  const int64_t n = state.range(0);
  RunParse<ParseBs2>(state, *SerializeBs2(Stream(n)), n);
}
BENCHMARK(BM_ParseBs2)->Arg(4000)->Arg(1 << 20);

void BM_ParseBs1(benchmark::State& state) {
  const int64_t n = state.range(0);
  RunParse<ParseBs1>(state, *SerializeBs1(RandomEvents(n, 1000, 1, 2, 7, 1)), n);
}
BENCHMARK(BM_ParseBs1)->Arg(4000)->Arg(1 << 20);

void BM_ParseBs3(benchmark::State& state) {
  const int64_t n = state.range(0);
  // .bs3 holds 24-bit times: keep 1M events within 16.7 s.
  RunParse<ParseBs3>(state, *SerializeBs3(RandomEvents(n, 34, 34, 2, 15, 1)), n);
}
BENCHMARK(BM_ParseBs3)->Arg(4000)->Arg(1 << 20);

void BM_ParseAedat(benchmark::State& state) {
  const int64_t n = state.range(0);
  RunParse<ParseAedat>(state, *SerializeAedat(Stream(n, 128, 128)), n);
}
BENCHMARK(BM_ParseAedat)->Arg(4000)->Arg(1 << 20);

void BM_ParseNpyEvents(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::string bytes = SerializeNpy(EventsToNpy(Stream(n)));
  for (auto _ : state) {
    absl::StatusOr<NpyArray> a = ParseNpy(bytes, "bench");
    absl::StatusOr<EventStream> s = EventsFromNpy(*a, "bench");
    benchmark::DoNotOptimize(s->events.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_ParseNpyEvents)->Arg(4000)->Arg(1 << 20);

}  // namespace
}  // namespace data
}  // namespace slayer
