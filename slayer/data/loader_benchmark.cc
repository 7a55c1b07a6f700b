// Loader throughput in samples per second (items_per_second) for
// NMNIST-sized samples: 2 x 34 x 34 x 300 at Ts = 1 ms, ~4000 events each,
// batch 32, from memory (EventSampleDataset) and from .bs2 files
// (NmnistDataset), with 0 (inline), 1 and 2 worker threads.
//
//   bazel run -c opt //slayer/data:loader_benchmark -- --benchmark_min_time=0.05
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "slayer/core/check.h"
#include "slayer/core/file.h"
#include "slayer/data/binary_events.h"
#include "slayer/data/event_dataset.h"
#include "slayer/data/loader.h"
#include "slayer/data/nmnist.h"
#include "slayer/data/test_util.h"

namespace slayer {
namespace data {
namespace {

constexpr int kSamples = 256;
constexpr int kEvents = 4000;

const Dataset& MemoryDataset() {
  static const Dataset* ds = [] {
    EventTensorOptions o;
    o.max_jitter = 1;
    auto d = *EventSampleDataset::Create(10, o);
    for (int i = 0; i < kSamples; ++i) {
      SLAYER_CHECK_OK(d->Add(RandomEvents(kEvents, 34, 34, 2, 150, i), i % 10));
    }
    return d.release();
  }();
  return *ds;
}

const Dataset& FileDataset() {
  static const Dataset* ds = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/slayer_loader_benchmark");
    SLAYER_CHECK_OK(MakeDirs(dir));
    std::string list = "#sample #class\n";
    for (int i = 0; i < kSamples; ++i) {
      SLAYER_CHECK_OK(WriteBs2(absl::StrCat(dir, "/", i, ".bs2"),
                               RandomEvents(kEvents, 34, 34, 2, 150, i)));
      absl::StrAppend(&list, i, " ", i % 10, "\n");
    }
    SLAYER_CHECK_OK(WriteFileAtomic(dir + "/list.txt", list));
    NmnistOptions o;
    o.tensor.max_jitter = 1;
    return NmnistDataset::Open(dir, dir + "/list.txt", o)->release();
  }();
  return *ds;
}

void RunLoader(benchmark::State& state, const Dataset& ds) {
  LoaderOptions o;
  o.batch_size = 32;
  o.num_threads = static_cast<int>(state.range(0));
  o.prefetch = 4;
  auto loader = *Loader::Create(&ds, o);
  int64_t epoch = 0;
  loader->StartEpoch(epoch);
  Batch b;
  // Process CPU time (all threads): comparable across thread counts even on a
  // busy machine, where wall time is not.
  const std::clock_t cpu0 = std::clock();
  for (auto _ : state) {
    absl::StatusOr<bool> more = loader->Next(&b);
    if (!*more) {
      loader->StartEpoch(++epoch);
      more = loader->Next(&b);
    }
    benchmark::DoNotOptimize(b.spikes.data());
  }
  state.SetItemsProcessed(state.iterations() * o.batch_size);
  const double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  state.counters["cpu_ms_per_sample"] =
      1000.0 * cpu_s / static_cast<double>(state.iterations() * o.batch_size);
}

void BM_LoaderNmnistMemory(benchmark::State& state) { RunLoader(state, MemoryDataset()); }
BENCHMARK(BM_LoaderNmnistMemory)->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

void BM_LoaderNmnistFiles(benchmark::State& state) { RunLoader(state, FileDataset()); }
BENCHMARK(BM_LoaderNmnistFiles)->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace data
}  // namespace slayer
