// The AVX-512 GEMM (ops/gemm.h) on one thread, as the dense layers call it
// for an input gradient: per sample, C = A B with one operand packed once
// for all samples. BM_GemmPackedA/<m>/<n>/<k>: A (m x k, a transposed view,
// as W^T) packed once, B (k x n, rows) packed per call: grad_x (I x T) =
// W^T grad_z as rows. BM_GemmPanels/<m>/<n>/<k>: B (as W) packed once, A and
// C as panels of 32 columns, as the dense layers pass grad_x^T (T x I) =
// grad_z^T W between them; its last argument is the kernel: 0 fp32, 1 AMX
// in bf16x3 (where the CPU has it), side by side in one run. The headline
// sizes are NMNIST's second layer, 512 -> 512 at T 300.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace ops {
namespace internal {
namespace {

std::vector<float> Values(int64_t n, uint64_t seed) {
  const Tensor t = testing::RandomUniform({n}, seed);
  return {t.span().begin(), t.span().end()};
}

void BM_GemmPackedA(benchmark::State& state) {
  if (!FastGemmAvailable()) {
    state.SkipWithError("no AVX-512 on this CPU: the kernel is not used");
    return;
  }
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const std::vector<float> a = Values(m * k, 1), b = Values(k * n, 2);
  std::vector<float> packed(PackedGemmASize(m, k)), c(m * n);
  PackGemmA(m, k, {a.data(), 1, m}, packed.data());
  for (auto _ : state) {
    GemmPackedA(m, n, k, packed.data(), m, 0, {b.data(), n, 1}, c.data(), n, false);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

// BM_GemmPanels/<m>/<n>/<k>: A and C as panels of 32 columns, B packed
// once; A and C cycle through 32 samples' worth of memory (about 40 MB at
// the headline size), as a layer's batch does: C is written to memory.
void BM_GemmPanels(benchmark::State& state) {
  if (!FastGemmAvailable()) {
    state.SkipWithError("no AVX-512 on this CPU: the kernel is not used");
    return;
  }
  const bool amx = state.range(3) == 1;
  SetAmxGemmEnabled(amx);
  if (amx && !AmxGemmAvailable()) {
    state.SkipWithError("no AMX-BF16 on this CPU or OS (or $SLAYER_GEMM=fp32)");
    return;
  }
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  constexpr int64_t kSamples = 32;
  const int64_t a_size = (k + 31) / 32 * 32 * m, c_size = (n + 31) / 32 * 32 * m;
  const std::vector<float> a = Values(kSamples * a_size, 1), b = Values(k * n, 2);
  std::vector<float> packed(PackedGemmBSize(k, n));
  float* c = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kSamples * c_size));
  PackGemmB(k, n, {b.data(), n, 1}, packed.data());
  int64_t sample = 0;
  for (auto _ : state) {
    GemmPanels(m, n, k, {a.data() + sample * a_size, m * 32}, packed.data(), c + sample * c_size,
               m * 32);
    benchmark::DoNotOptimize(c);
    sample = (sample + 1) % kSamples;
  }
  std::free(c);
  SetAmxGemmEnabled(true);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

BENCHMARK(BM_GemmPanels)
    ->Args({300, 512, 512, 0})
    ->Args({300, 512, 512, 1})
    ->Args({300, 512, 256, 0})
    ->Args({300, 512, 256, 1});
BENCHMARK(BM_GemmPackedA)
    ->Args({512, 300, 512})
    ->Args({300, 512, 512})
    ->Args({516, 320, 512})
    ->Args({512, 320, 512})
    ->Args({516, 300, 512});

}  // namespace
}  // namespace internal
}  // namespace ops
}  // namespace slayer
