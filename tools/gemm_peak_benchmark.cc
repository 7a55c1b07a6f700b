// The machine's practical fp32 GEMM peak, measured with Eigen and with
// slayer's AVX-512 kernel (ops/gemm.h, where the CPU has AVX-512F): the
// yardstick for the dense op's GEMM path (target: at least half of it). C (M x N) =
// A (M x K) * B (K x N), row-major as the dense op maps its tensors;
// GFLOP/s counts 2*M*N*K per product over wall time; GFLOP/cpu_s over the
// process's CPU time (all threads), which other load on a shared machine
// disturbs less (OpenMP's spin-waiting counts as CPU time: a lower bound).
//   BM_EigenSgemm/M/N/K/threads          Eigen's own parallel GEMM (OpenMP,
//                                        Eigen::setNbThreads)
//   BM_EigenSgemmRowSplit/M/N/K/threads  C's rows split over slayer's thread
//                                        pool, single-threaded Eigen in each
//                                        part: how the dense op parallelises
//   BM_FastSgemmRowSplit/M/N/K/threads   the same split with the AVX-512
//                                        kernel: the dense op's GEMM on such
//                                        CPUs (skipped without AVX-512F)
// Sizes: 2048^3 and 1024x1024x4096 (large, the peak), and 512x300x2312, one
// sample of NMNIST's first dense layer (O x T x I).
//
//   bazel run -c opt //tools:gemm_peak_benchmark                   # AVX2+FMA, as the build
//   bazel run -c opt --config=native //tools:gemm_peak_benchmark   # -march=native
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>

#include "Eigen/Core"
#include "benchmark/benchmark.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/gemm.h"

namespace slayer {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Gemm {
  RowMatrix a, b, c;
  double flop;
  explicit Gemm(const benchmark::State& state)
      : a(RowMatrix::Random(state.range(0), state.range(2))),
        b(RowMatrix::Random(state.range(2), state.range(1))),
        c(RowMatrix::Zero(state.range(0), state.range(1))),
        flop(2.0 * state.range(0) * state.range(1) * state.range(2)) {}
};

// User + system CPU seconds of the process, all threads.
double CpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

void Report(benchmark::State& state, double flop, double cpu_s) {
  const double gflop = state.iterations() * flop / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.counters["GFLOP/cpu_s"] = gflop / std::max(1e-9, cpu_s);
}

void BM_EigenSgemm(benchmark::State& state) {
  Gemm g(state);
  Eigen::setNbThreads(static_cast<int>(state.range(3)));
  if (Eigen::nbThreads() != state.range(3)) {
    state.SkipWithError("Eigen was built without OpenMP: setNbThreads has no effect");
    return;
  }
  const double cpu_start = CpuSeconds();
  for (auto _ : state) {
    g.c.noalias() = g.a * g.b;
    benchmark::DoNotOptimize(g.c.data());
    benchmark::ClobberMemory();
  }
  Report(state, g.flop, CpuSeconds() - cpu_start);
  Eigen::setNbThreads(1);
}

// Times product(r0, n) over C's rows split into one part per thread of a
// pool of state.range(3) threads: rows [r0, r0 + n) of C = A * B.
template <typename Product>
void RowSplit(benchmark::State& state, const Gemm& g, Product&& product) {
  ThreadPool pool(static_cast<int>(state.range(3)));
  const int64_t rows = g.c.rows();
  const int64_t parts = pool.num_threads();
  const int64_t per_part = (rows + parts - 1) / parts;
  const double cpu_start = CpuSeconds();
  for (auto _ : state) {
    pool.ParallelFor(parts, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t r0 = p * per_part;
        const int64_t n = std::min(per_part, rows - r0);
        if (n > 0) product(r0, n);
      }
    });
    benchmark::DoNotOptimize(g.c.data());
    benchmark::ClobberMemory();
  }
  Report(state, g.flop, CpuSeconds() - cpu_start);
}

void BM_EigenSgemmRowSplit(benchmark::State& state) {
  Gemm g(state);
  Eigen::setNbThreads(1);
  RowSplit(state, g, [&](int64_t r0, int64_t n) {
    g.c.middleRows(r0, n).noalias() = g.a.middleRows(r0, n) * g.b;
  });
}

// The same split with slayer's AVX-512 kernel (ops/gemm.h) in each part: the
// dense ops' GEMM path on CPUs with AVX-512F, in the portable build too.
void BM_FastSgemmRowSplit(benchmark::State& state) {
  if (!ops::internal::FastGemmAvailable()) {
    state.SkipWithError("no AVX-512 on this CPU (or $SLAYER_GEMM=eigen)");
    return;
  }
  Gemm g(state);
  const int64_t cols = g.c.cols(), depth = g.a.cols();
  RowSplit(state, g, [&](int64_t r0, int64_t n) {
    ops::internal::Gemm(n, cols, depth, {g.a.data() + r0 * depth, depth, 1},
                        {g.b.data(), cols, 1}, g.c.data() + r0 * cols, cols,
                        /*accumulate=*/false);
  });
}

// {M, N, K, threads}
#define GEMM_SIZES(threads)                                                  \
  Args({2048, 2048, 2048, threads})->Args({1024, 1024, 4096, threads})       \
      ->Args({512, 300, 2312, threads})
BENCHMARK(BM_EigenSgemm)->GEMM_SIZES(1)->GEMM_SIZES(2)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_EigenSgemmRowSplit)->GEMM_SIZES(1)->GEMM_SIZES(2)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_FastSgemmRowSplit)->GEMM_SIZES(1)->GEMM_SIZES(2)->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace slayer
