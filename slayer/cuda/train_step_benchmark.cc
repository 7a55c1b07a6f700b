// GPU time of whole training steps of the NMNIST MLP (SPEC §7, here
// 34x34x2-512-512-10, T = 300, batch 32), composed from the ops exactly as a
// trainer runs them: per layer dense -> psp -> spike forward, the num_spikes
// loss (true 60, false 10 spikes over 0-300 ms), per layer surrogate -> psp
// backward -> dense backward, and an Adam step per weight on the device.
// Reports samples per second. Also the forward pass alone.
#include <cmath>
#include <vector>

#include "benchmark/benchmark.h"
#include "slayer/core/status.h"
#include "slayer/cuda/benchmark_util.h"
#include "slayer/cuda/optimizer_kernels.h"
#include "slayer/cuda/stream.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/loss.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"
#include "slayer/ops/srm_kernel.h"
#include "slayer/ops/test_util.h"

namespace slayer {
namespace cuda {
namespace {

constexpr float kTs = 1.0f;

// <side>x<side>x2-<hidden>-<hidden>-10, T = steps.
struct MlpShape {
  int64_t side = 34, hidden = 512, steps = 300, batch = 32;
};

class NmnistMlp {
 public:
  explicit NmnistMlp(const MlpShape& shape)
      : kernels_(ops::MakeSrmKernels(srm_, kTs, shape.steps)) {
    const int64_t batch = shape.batch, steps = shape.steps;
    const std::vector<int64_t> sizes = {shape.side * shape.side * 2, shape.hidden, shape.hidden,
                                        10};
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      // slayerPytorch's init: uniform +-1/sqrt(fan_in), times weight_scale 10.
      const float bound = 10.0f / std::sqrt(static_cast<float>(sizes[l]));
      w_.push_back(DeviceCopy(ops::testing::RandomUniform({sizes[l + 1], sizes[l]}, 10 + l,
                                                          -bound, bound)));
      m_.push_back(DeviceCopy(Tensor::Zeros(w_.back().shape())));
      v_.push_back(DeviceCopy(Tensor::Zeros(w_.back().shape())));
    }
    const size_t layers = w_.size();
    grad_w_.resize(layers);
    u_.resize(layers);
    a_.resize(layers);
    s_.resize(layers + 1);
    grad_s_.resize(layers + 1);
    s_[0] = DeviceCopy(
        ops::testing::RandomSpikes({batch, 2, shape.side, shape.side, steps}, 0.02f, kTs, 1));
    for (int64_t n = 0; n < batch; ++n) labels_.push_back(static_cast<int>(n % 10));
    region_.start_step = 0;
    region_.stop_step = steps;
    region_.true_value = 60.0f;
    region_.false_value = 10.0f;
    surrogate_.theta = srm_.theta;
    surrogate_.tau_rho = srm_.tau_rho;
    surrogate_.scale_rho = srm_.scale_rho;
  }

  absl::Status Forward() {
    for (size_t l = 0; l < w_.size(); ++l) {
      SLAYER_RETURN_IF_ERROR(ops::DenseForward(s_[l], w_[l], &u_[l]));
      SLAYER_RETURN_IF_ERROR(ops::PspForward(u_[l], kernels_.eps, kTs, &a_[l]));
      SLAYER_RETURN_IF_ERROR(ops::SpikeForward(&a_[l], kernels_.nu, srm_.theta, kTs, &s_[l + 1]));
    }
    return absl::OkStatus();
  }

  absl::Status TrainStep() {
    SLAYER_RETURN_IF_ERROR(Forward());
    const size_t layers = w_.size();
    SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(s_[layers], labels_, region_, kernels_.eps, kTs,
                                              &loss_, &grad_s_[layers]));
    for (size_t l = layers; l-- > 0;) {
      SLAYER_RETURN_IF_ERROR(ops::SpikeBackward(grad_s_[l + 1], a_[l], surrogate_, &grad_a_));
      SLAYER_RETURN_IF_ERROR(ops::PspBackward(grad_a_, kernels_.eps, kTs, &grad_u_));
      SLAYER_RETURN_IF_ERROR(ops::DenseBackward(s_[l], w_[l], grad_u_,
                                                l > 0 ? &grad_s_[l] : nullptr, &grad_w_[l]));
    }
    ++step_;
    SLAYER_ASSIGN_OR_RETURN(cudaStream_t stream, CurrentStream());
    for (size_t l = 0; l < layers; ++l) {
      AdamStepParams p;
      p.lr = 1e-3f;
      p.step = step_;
      SLAYER_RETURN_IF_ERROR(AdamStep(w_[l].data(), grad_w_[l].data(), m_[l].data(),
                                      v_[l].data(), nullptr, w_[l].numel(), p, stream));
    }
    return absl::OkStatus();
  }

  float loss() const { return loss_; }

 private:
  ops::SrmParams srm_;
  ops::SrmKernels kernels_;
  ops::SurrogateParams surrogate_;
  ops::CountTarget region_;
  std::vector<int> labels_;
  std::vector<Tensor> w_, m_, v_, grad_w_, u_, a_, s_, grad_s_;
  Tensor grad_a_, grad_u_;
  float loss_ = 0.0f;
  int64_t step_ = 0;
};

// Args: side, hidden, steps, batch.
MlpShape ShapeOf(const benchmark::State& state) {
  MlpShape s;
  s.side = state.range(0);
  s.hidden = state.range(1);
  s.steps = state.range(2);
  s.batch = state.range(3);
  return s;
}

void Rate(benchmark::State& state) {
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(state.range(3) * state.iterations()),
                         benchmark::Counter::kIsRate);
}

void BM_CudaNmnistMlpTrainStep(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  NmnistMlp mlp(ShapeOf(state));
  TimeIterations(state, [&] { return mlp.TrainStep(); });
  Rate(state);
  state.counters["loss"] = mlp.loss();
}

void BM_CudaNmnistMlpForward(benchmark::State& state) {
  if (!CudaBenchmarkReady(state)) return;
  NmnistMlp mlp(ShapeOf(state));
  TimeIterations(state, [&] { return mlp.Forward(); });
  Rate(state);
}

// 34x34x2-512-512-10, T = 300, batch 32.
BENCHMARK(BM_CudaNmnistMlpTrainStep)
    ->Args({34, 512, 300, 32})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaNmnistMlpForward)
    ->Args({34, 512, 300, 32})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cuda
}  // namespace slayer
