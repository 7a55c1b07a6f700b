// A training step in steady state (forward, num_spikes loss, backward, Adam)
// allocates no host tensors and takes no page faults: every buffer is sized
// by the first steps and reused after. Dense layers (on sparse input spikes),
// a conv and a pool layer, on 2 threads.
#include <sys/resource.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "slayer/core/random.h"
#include "slayer/core/tensor.h"
#include "slayer/core/thread_pool.h"
#include "slayer/layers/network.h"
#include "slayer/ops/loss.h"
#include "slayer/proto/config.h"
#include "slayer/train/optimizer.h"

namespace slayer {
namespace {

int64_t MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

class SteadyStateTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SteadyStateTest, NoAllocationAfterWarmUp) {
  ThreadPool::SetDefaultThreads(2);
  absl::StatusOr<proto::Network> text = config::ParseNetworkText(
      "simulation { ts_ms: 1 sample_ms: 120 } arch: \"" + GetParam() + "\"", "test");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<config::NetworkSpec> spec = config::BuildNetworkSpec(*text);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<std::unique_ptr<layers::Network>> net = layers::Network::Create(*spec, 3);
  ASSERT_TRUE(net.ok()) << net.status();
  std::vector<NamedParameter> params;
  for (layers::Param* p : (*net)->params()) params.push_back({p->name, &p->value, &p->grad});
  absl::StatusOr<std::unique_ptr<Optimizer>> adam = MakeOptimizer(OptimizerConfig(), params);
  ASSERT_TRUE(adam.ok()) << adam.status();

  const int64_t batch = 8;
  const Shape& in = spec->input_shape;
  Tensor input = Tensor::Zeros({batch, in[0], in[1], in[2], spec->steps});
  Rng rng(5);
  for (float& v : input.span()) v = rng.Uniform() < 0.05f ? 1.0f : 0.0f;
  std::vector<int> labels;
  for (int64_t n = 0; n < batch; ++n) labels.push_back(static_cast<int>(n % 4));
  ops::CountTarget region;
  region.stop_step = spec->steps;
  region.true_value = 20;
  region.false_value = 4;
  Tensor grad;
  auto step = [&](uint64_t k) {
    ASSERT_TRUE((*net)->Forward(input, /*training=*/true, k).ok());
    float loss = 0;
    ASSERT_TRUE(ops::NumSpikesLoss((*net)->output(), labels, region, (*net)->kernels().eps,
                                   (*net)->ts(), &loss, &grad)
                    .ok());
    ASSERT_TRUE((*net)->Backward(grad).ok());
    ASSERT_TRUE((*adam)->Step().ok());
  };
  for (uint64_t k = 0; k < 5; ++k) step(k);
  // Windows of three steps. Event lists (per sample in dense layers, per
  // thread in conv layers) may still grow now and then, when a sample has
  // more spikes than any before, and a per-thread scratch buffer first grows
  // when that thread first gets the largest task of an op — which thread
  // takes which chunk depends on scheduling, so on a loaded machine that can
  // fall after the warm-up. A buffer the size of a layer's output reallocated
  // every step would fault thousands of times (4 KiB pages) in every window:
  // one of four windows must be quiet.
  int64_t allocations = 0, faults = 0;
  uint64_t k = 5;
  for (int window = 0; window < 4; ++window) {
    const int64_t tensors_before = Storage::HostAllocations();
    const int64_t faults_before = MinorFaults();
    for (int i = 0; i < 3; ++i) step(k++);
    allocations = Storage::HostAllocations() - tensors_before;
    faults = MinorFaults() - faults_before;
    if (allocations == 0 && faults <= 64) break;
  }
  EXPECT_EQ(allocations, 0) << "host tensors allocated per step";
  EXPECT_LE(faults, 64) << "page faults in three steady-state steps";
}

INSTANTIATE_TEST_SUITE_P(Networks, SteadyStateTest,
                         ::testing::Values("34x34x2-128-64-4", "16x16x2-8c3-2a-32-4"));

}  // namespace
}  // namespace slayer
