// `slayer bench`: throughput of a network given in the paper's shorthand, on
// seeded synthetic input — Poisson (Bernoulli per step) 0/1 spikes of a given
// density and random labels — so that it needs no data set. A training step
// is what `slayer train` does per batch minus loading: forward, the
// num_spikes loss (true 60, false 10 spikes per 300 ms, over the whole
// sample), the spike-count prediction, backward and an Adam step. The last
// lines are parseable; a per-phase and per-layer breakdown precedes them
// (peak RSS is read before the breakdown, whose buffers are its own).
// Nothing is timed before --settle training steps (default 20): the
// initial weights leave the hidden layers nearly silent, and event-driven
// layers would look cheaper than in training; the hidden layers' spike
// density is printed before and after the timed steps.
//
//   slayer bench --arch 34x34x2-512-512-10 --steps 300 --batch 32 --input-density 0.01 --threads 2
//   ...
//   forward_samples_per_s=106.2
//   train_samples_per_s=32.4
//   forward_cpu_s_per_batch=0.571      (all threads; wall time suffers more from other load)
//   train_cpu_s_per_batch=1.902
//   peak_rss_mb=605.7
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "slayer/core/random.h"
#include "slayer/core/status.h"
#include "slayer/core/tensor.h"
#include "slayer/core/thread_pool.h"
#include "slayer/cuda/device.h"
#include "slayer/layers/network.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/gemm.h"
#include "slayer/ops/loss.h"
#include "slayer/proto/config.h"
#include "slayer/train/optimizer.h"
#include "tools/command_flags.h"
#include "tools/commands.h"

namespace slayer {
namespace tools {
namespace {

struct BenchOptions {
  std::string arch = "34x34x2-512-512-10";
  int64_t steps = 300;
  int64_t batch = 32;
  double density = 0.01;
  double ts_ms = 1.0;
  int64_t threads = 0;  // 0: ThreadPool's default
  int64_t iters = 5;
  int64_t warmup = 1;
  int64_t settle = 20;
  int64_t seed = 1;
  Device device = Device::kCpu;
  bool breakdown = true;
  bool gemm = false;
  bool input_events = true;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ru_maxrss is in KiB on Linux.
double PeakRssMb() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// User + system CPU seconds of the process, all threads: on a shared
// machine less sensitive to other load than wall time.
double CpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// "mean 12.3 ms (median 12.1, min 11.9, max 13.0)" of per-batch seconds.
std::string Summary(const std::vector<double>& seconds) {
  return absl::StrFormat("mean %.1f ms (median %.1f, min %.1f, max %.1f)", 1e3 * Mean(seconds),
                         1e3 * Median(seconds),
                         1e3 * *std::min_element(seconds.begin(), seconds.end()),
                         1e3 * *std::max_element(seconds.begin(), seconds.end()));
}

double Density(const Tensor& t) {
  int64_t nonzero = 0;
  for (float v : t.span()) nonzero += v != 0.0f;
  return t.numel() > 0 ? static_cast<double>(nonzero) / t.numel() : 0.0;
}

absl::StatusOr<config::NetworkSpec> BuildSpec(const BenchOptions& o) {
  proto::Network net;
  net.mutable_simulation()->set_ts_ms(o.ts_ms);
  net.mutable_simulation()->set_sample_ms(static_cast<double>(o.steps) * o.ts_ms);
  net.set_arch(o.arch);
  SLAYER_ASSIGN_OR_RETURN(config::NetworkSpec spec, config::BuildNetworkSpec(net));
  if (spec.steps != o.steps) {
    return absl::InternalError(absl::StrCat("the network has ", spec.steps,
                                            " steps, expected --steps ", o.steps));
  }
  return spec;
}

// The training step of Trainer::RunBatch + ApplyUpdate, phase by phase.
class Bench {
 public:
  static absl::StatusOr<std::unique_ptr<Bench>> Create(const BenchOptions& o) {
    std::unique_ptr<Bench> b(new Bench());
    SLAYER_ASSIGN_OR_RETURN(b->spec_, BuildSpec(o));
    SLAYER_ASSIGN_OR_RETURN(b->net_, layers::Network::Create(b->spec_, o.seed));
    if (o.device != Device::kCpu) SLAYER_RETURN_IF_ERROR(b->net_->To(o.device));
    std::vector<NamedParameter> params;
    for (layers::Param* p : b->net_->params()) params.push_back({p->name, &p->value, &p->grad});
    SLAYER_ASSIGN_OR_RETURN(b->optimizer_, MakeOptimizer(OptimizerConfig(), std::move(params)));

    const Shape& in = b->spec_.input_shape;
    b->input_ = Tensor::Zeros({o.batch, in[0], in[1], in[2], o.steps});
    Rng spikes(static_cast<uint64_t>(o.seed), /*stream=*/1);
    for (float& v : b->input_.span()) v = spikes.UniformDouble() < o.density ? 1.0f : 0.0f;
    if (o.input_events && b->net_->TakesInputEvents()) {
      // As the trainer does while loading each sample: its nonzeros go to the
      // first dense layer with the batch.
      const int64_t steps = o.steps, rows = in[0] * in[1] * in[2];
      b->events_.resize(o.batch);
      for (int64_t n = 0; n < o.batch; ++n) {
        ops::RecordSampleEvents(b->input_.data() + n * rows * steps, rows, steps, &b->events_[n]);
      }
    }
    b->classes_ = NumElements(b->spec_.output_shape());
    Rng labels(static_cast<uint64_t>(o.seed), /*stream=*/2);
    for (int64_t n = 0; n < o.batch; ++n) {
      b->labels_.push_back(static_cast<int>(labels.UniformInt(b->classes_)));
    }
    // NMNIST's counts (SPEC §7) per 300 ms, scaled to the sample length.
    const double sample_ms = b->spec_.sample_ms;
    b->region_.start_step = 0;
    b->region_.stop_step = b->spec_.steps;
    b->region_.true_value = static_cast<float>(60.0 * sample_ms / 300.0);
    b->region_.false_value = static_cast<float>(10.0 * sample_ms / 300.0);
    return b;
  }

  const config::NetworkSpec& spec() const { return spec_; }
  layers::Network& net() { return *net_; }
  const Tensor& input() const { return input_; }
  // "fc1 0.0095, fc2 0.0064": the spike density of each hidden layer's
  // output in the last forward (host only; empty for one layer).
  std::string HiddenDensities() const {
    std::vector<std::string> parts;
    const auto& layers = net_->layers();
    for (size_t l = 0; l + 1 < layers.size(); ++l) {
      if (!layers[l]->output().is_cpu()) return "(device)";
      parts.push_back(absl::StrFormat("%s %.4f", layers[l]->name(), Density(layers[l]->output())));
    }
    return parts.empty() ? "(none)" : absl::StrJoin(parts, ", ");
  }
  bool input_events() const { return !events_.empty(); }
  int64_t classes() const { return classes_; }
  const ops::CountTarget& region() const { return region_; }
  const std::vector<int>& labels() const { return labels_; }

  // Eval-mode forward; waits for the device.
  absl::Status Forward() {
    SLAYER_RETURN_IF_ERROR(net_->Forward(input_, /*training=*/false, 0, events_));
    if (net_->device() != Device::kCpu) return net_->output().To(Device::kCpu).status();
    return absl::OkStatus();
  }

  // Seconds of forward, loss (with prediction), backward, optimiser update.
  struct Phases {
    std::vector<double> forward, loss, backward, update, total;
  };

  absl::Status TrainStep(uint64_t step, Phases* phases) {
    const double t0 = Now();
    SLAYER_RETURN_IF_ERROR(net_->Forward(input_, /*training=*/true, step, events_));
    const double t1 = Now();
    float loss = 0;
    SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(net_->output(), labels_, region_,
                                              net_->kernels().eps, net_->ts(), &loss, &grad_));
    SLAYER_ASSIGN_OR_RETURN(Tensor counts, ops::SpikeCounts(net_->output(), region_.start_step,
                                                            region_.stop_step, net_->ts()));
    correct_ = 0;
    const std::vector<int> predicted = ops::PredictClasses(counts);
    for (size_t n = 0; n < labels_.size(); ++n) correct_ += predicted[n] == labels_[n];
    if (!std::isfinite(loss)) {
      return absl::DataLossError(absl::StrCat("the loss became ", loss, " at step ", step));
    }
    const double t2 = Now();
    SLAYER_RETURN_IF_ERROR(net_->Backward(grad_));
    const double t3 = Now();
    SLAYER_RETURN_IF_ERROR(optimizer_->Step());
    for (layers::Param* p : net_->params()) {
      if (p->is_delay) SLAYER_RETURN_IF_ERROR(ops::ClampDelays(&p->value, p->max_delay_ms));
    }
    const double t4 = Now();
    loss_ = loss;
    if (phases != nullptr) {
      phases->forward.push_back(t1 - t0);
      phases->loss.push_back(t2 - t1);
      phases->backward.push_back(t3 - t2);
      phases->update.push_back(t4 - t3);
      phases->total.push_back(t4 - t0);
    }
    return absl::OkStatus();
  }

  float loss() const { return loss_; }
  int64_t correct() const { return correct_; }

  // Per layer, the training-mode forward and the backward of the network's
  // own layers, one after the other (host only: device work would need a
  // synchronisation per layer). Not quite the network's step: each layer's
  // Backward runs alone (no factor or panel hand-over between layers), and
  // each hidden layer's output is written (outside the timed calls).
  absl::Status LayerBreakdown(int64_t iters) {
    const auto& layers = net_->layers();
    const size_t count = layers.size();
    std::vector<double> forward(count, 0.0), backward(count, 0.0);
    Tensor scaled = Tensor::Empty(input_.shape());
    const float inv_ts = 1.0f / net_->ts();
    for (int64_t i = 0; i < input_.numel(); ++i) scaled.data()[i] = input_.data()[i] * inv_ts;
    std::vector<ops::SampleEvents> scaled_events = events_;
    for (ops::SampleEvents& e : scaled_events) e.ScaleValues(inv_ts);
    std::vector<Tensor> grads(count);
    Tensor grad_out;
    for (int64_t it = 0; it < iters; ++it) {
      const Tensor* x = &scaled;
      for (size_t l = 0; l < count; ++l) {
        const double t = Now();
        if (l == 0 && !scaled_events.empty()) {
          SLAYER_RETURN_IF_ERROR(layers[0]->input_events()->HandOver(scaled, scaled_events));
        }
        SLAYER_RETURN_IF_ERROR(layers[l]->Forward(*x, /*training=*/true));
        forward[l] += Now() - t;
        x = &layers[l]->output();
      }
      float loss = 0;
      SLAYER_RETURN_IF_ERROR(ops::NumSpikesLoss(*x, labels_, region_, net_->kernels().eps,
                                                net_->ts(), &loss, &grad_out));
      const Tensor* g = &grad_out;
      for (size_t l = count; l-- > 0;) {
        Tensor* grad_in = l > 0 ? &grads[l] : nullptr;
        const double t = Now();
        SLAYER_RETURN_IF_ERROR(layers[l]->Backward(*g, grad_in));
        backward[l] += Now() - t;
        g = grad_in;
      }
    }
    std::printf("per layer, training mode (ms per batch, mean of %lld):\n",
                static_cast<long long>(iters));
    std::printf("  %-10s %-22s %-14s %10s %10s %12s\n", "layer", "kind", "output", "forward",
                "backward", "out density");
    for (size_t l = 0; l < count; ++l) {
      const config::LayerSpec& ls = spec_.layers[l];
      std::printf("  %-10s %-22s %-14s %10.2f %10.2f %12.6f\n", ls.layer.name().c_str(),
                  LayerKind(ls).c_str(), ShapeString(ls.out_shape).c_str(),
                  1e3 * forward[l] / iters, 1e3 * backward[l] / iters,
                  Density(layers[l]->output()));
    }
    // The dense op alone, on each dense layer's real input. FLOP counts the
    // dense-equivalent work, 2*N*T*O*I per product, whatever path ran.
    std::printf("dense op alone (ms per batch; GFLOP of the dense-equivalent work per wall\n"
                "second and per CPU second of all threads):\n");
    for (size_t l = 0; l < count; ++l) {
      const config::LayerSpec& ls = spec_.layers[l];
      if (ls.layer.kind_case() != proto::Layer::kDense) continue;
      const Tensor& x = l == 0 ? scaled : layers[l - 1]->output();
      const Tensor& w = layers[l]->params()[0]->value;
      SLAYER_RETURN_IF_ERROR(DenseOpTimes(ls.layer.name(), x, w, /*first=*/l == 0, iters));
    }
    return absl::OkStatus();
  }

  // The dense op's GEMM path: forward and backward on fully dense input of
  // each dense layer's shape (every entry nonzero).
  absl::Status GemmPath(int64_t iters) {
    const auto& layers = net_->layers();
    std::printf("dense op on fully dense input (the GEMM path):\n");
    for (size_t l = 0; l < layers.size(); ++l) {
      const config::LayerSpec& ls = spec_.layers[l];
      if (ls.layer.kind_case() != proto::Layer::kDense) continue;
      const Shape& in = ls.in_shape;
      Tensor x = Tensor::Empty({input_.dim(0), in[0], in[1], in[2], spec_.steps});
      Rng rng(7, l);
      for (float& v : x.span()) v = rng.Uniform(0.5f, 1.5f);
      const Tensor& w = layers[l]->params()[0]->value;
      SLAYER_RETURN_IF_ERROR(DenseOpTimes(ls.layer.name(), x, w, /*first=*/false, iters));
    }
    return absl::OkStatus();
  }

 private:
  Bench() = default;

  static std::string LayerKind(const config::LayerSpec& ls) {
    switch (ls.layer.kind_case()) {
      case proto::Layer::kDense:
        return absl::StrCat("dense ", NumElements(ls.in_shape), "->", ls.layer.dense().units());
      case proto::Layer::kConv:
        return absl::StrCat("conv ", ls.layer.conv().filters(), "c", ls.layer.conv().kernel());
      case proto::Layer::kPool:
        return absl::StrCat("pool ", ls.layer.pool().kernel());
      case proto::Layer::kDropout:
        return "dropout";
      case proto::Layer::kDelay:
        return "delay";
      case proto::Layer::kDelayShift:
        return "delay_shift";
      default:
        return "?";
    }
  }

  absl::Status DenseOpTimes(const std::string& name, const Tensor& x, const Tensor& w,
                            bool first, int64_t iters) {
    const int64_t n = x.dim(0), t = x.dim(-1), o = w.dim(0), i = w.dim(1);
    const double flop = 2.0 * n * t * o * i;
    Tensor y, gx, gw;
    Tensor gy = Tensor::Empty({n, o, 1, 1, t});
    Rng rng(11, 0);
    for (float& v : gy.span()) v = rng.Uniform(-1.0f, 1.0f);
    // Wall and CPU seconds of forward, grad_w only, grad_x only.
    double wall[3] = {0, 0, 0}, cpu[3] = {0, 0, 0};
    for (int64_t it = 0; it <= iters; ++it) {  // the first round warms up
      for (int k = 0; k < 3; ++k) {
        const double t = Now(), c = CpuSeconds();
        if (k == 0) SLAYER_RETURN_IF_ERROR(ops::DenseForward(x, w, &y));
        if (k == 1) SLAYER_RETURN_IF_ERROR(ops::DenseBackward(x, w, gy, nullptr, &gw));
        if (k == 2) SLAYER_RETURN_IF_ERROR(ops::DenseBackward(x, w, gy, &gx, nullptr));
        if (it == 0) continue;
        wall[k] += Now() - t;
        cpu[k] += CpuSeconds() - c;
      }
    }
    auto line = [&](int k, const char* what, const char* note) {
      std::printf("  %-6s %-8s %9.2f ms %9.1f GFLOP/s %9.1f GFLOP/cpu_s%s\n", name.c_str(),
                  what, 1e3 * wall[k] / iters, flop * iters / std::max(1e-12, wall[k]) / 1e9,
                  flop * iters / std::max(1e-12, cpu[k]) / 1e9, note);
    };
    std::printf("  %-6s input [%lld, %lld, T %lld] density %.6f -> %lld outputs\n", name.c_str(),
                static_cast<long long>(n), static_cast<long long>(i), static_cast<long long>(t),
                Density(x), static_cast<long long>(o));
    line(0, "forward", "");
    line(1, "grad_w", "");
    line(2, "grad_x", first ? "  (not computed in training: first layer)" : "  (a GEMM)");
    return absl::OkStatus();
  }

  config::NetworkSpec spec_;
  std::unique_ptr<layers::Network> net_;
  std::unique_ptr<Optimizer> optimizer_;
  Tensor input_;
  std::vector<int> labels_;
  int64_t classes_ = 0;
  ops::CountTarget region_;
  Tensor grad_;
  std::vector<ops::SampleEvents> events_;  // input_'s, per sample (empty: none)
  float loss_ = 0;
  int64_t correct_ = 0;
};

absl::Status RunBench(const BenchOptions& o) {
  if (o.threads > 0) ThreadPool::SetDefaultThreads(static_cast<int>(o.threads));
  if (o.device == Device::kCuda) {
    if (!cuda::HasDevice()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--device cuda: no CUDA device: ", cuda::NoDeviceReason()));
    }
    if (GetDeviceBackend(Device::kCuda) == nullptr) {
      return absl::FailedPreconditionError(
          "--device cuda: this binary has no CUDA tensor backend registered");
    }
  }
  const double setup_start = Now();
  SLAYER_ASSIGN_OR_RETURN(std::unique_ptr<Bench> bench, Bench::Create(o));
  const config::NetworkSpec& spec = bench->spec();
  int64_t params = 0;
  for (layers::Param* p : bench->net().params()) params += p->value.numel();
  const int threads = ThreadPool::Default().num_threads();
  std::printf("slayer bench: arch %s, input %s, %zu layers, %.3f M parameters\n", o.arch.c_str(),
              ShapeString(spec.input_shape).c_str(), spec.layers.size(), params / 1e6);
  std::printf("  T %lld steps (Ts %g ms), batch %lld, input density %g (measured %.5f), "
              "%lld classes, num_spikes loss (true %g, false %g), Adam\n",
              static_cast<long long>(spec.steps), spec.ts_ms, static_cast<long long>(o.batch),
              o.density, Density(bench->input()), static_cast<long long>(bench->classes()),
              bench->region().true_value, bench->region().false_value);
  std::printf("  input events: %s\n",
              bench->input_events()
                  ? "recorded once, as the trainer records them while loading a batch"
                  : "none: the first layer scans its dense input every step");
  std::printf("  device %s, %d thread(s) of %u hardware, %lld warm-up + %lld timed iterations, "
              "set-up %.2f s\n",
              DeviceName(o.device), threads, std::thread::hardware_concurrency(),
              static_cast<long long>(o.warmup), static_cast<long long>(o.iters),
              Now() - setup_start);
  if (o.device == Device::kCpu) {
    std::printf("  CPU GEMM: %s\n", ops::internal::GemmPathDescription());
  }
  // The initial weights leave the hidden layers nearly silent, and the
  // event-driven layers' cost grows with their spikes: everything is timed
  // after a few training steps, at the activity of a network in training.
  const double settle_start = Now();
  for (int64_t it = 0; it < o.settle; ++it) {
    SLAYER_RETURN_IF_ERROR(bench->TrainStep(static_cast<uint64_t>(it), nullptr));
  }
  std::printf("  %lld untimed training steps first (%.2f s); hidden spike density then: %s\n",
              static_cast<long long>(o.settle), Now() - settle_start,
              bench->HiddenDensities().c_str());
  std::fflush(stdout);

  std::vector<double> forward;
  double forward_cpu = 0;
  for (int64_t it = 0; it < o.warmup + o.iters; ++it) {
    const double t = Now(), c = CpuSeconds();
    SLAYER_RETURN_IF_ERROR(bench->Forward());
    if (it >= o.warmup) {
      forward.push_back(Now() - t);
      forward_cpu += CpuSeconds() - c;
    }
  }
  std::printf("forward (eval): %s per batch\n", Summary(forward).c_str());
  std::fflush(stdout);

  Bench::Phases phases;
  double train_cpu = 0;
  for (int64_t it = 0; it < o.warmup + o.iters; ++it) {
    const double c = CpuSeconds();
    SLAYER_RETURN_IF_ERROR(bench->TrainStep(static_cast<uint64_t>(o.settle + it),
                                            it >= o.warmup ? &phases : nullptr));
    if (it >= o.warmup) train_cpu += CpuSeconds() - c;
  }
  // Read after the timing: a dense layer writes its output only when asked.
  const std::string densities_after = bench->HiddenDensities();
  std::printf("train step: %s per batch\n", Summary(phases.total).c_str());
  std::printf("  forward %.1f ms, loss %.1f ms, backward %.1f ms, update %.1f ms (means); "
              "last loss %.4g, %lld/%lld correct\n",
              1e3 * Mean(phases.forward), 1e3 * Mean(phases.loss), 1e3 * Mean(phases.backward),
              1e3 * Mean(phases.update), bench->loss(), static_cast<long long>(bench->correct()),
              static_cast<long long>(o.batch));
  std::printf("  hidden spike density after the last step: %s\n", densities_after.c_str());
  // Before the breakdown, whose extra buffers are not the network's.
  const double rss_mb = PeakRssMb();
  std::fflush(stdout);

  if (o.breakdown) {
    if (o.device == Device::kCpu) {
      SLAYER_RETURN_IF_ERROR(bench->LayerBreakdown(o.iters));
    } else {
      std::printf("(per-layer breakdown: host only)\n");
    }
  }
  if (o.gemm && o.device == Device::kCpu) SLAYER_RETURN_IF_ERROR(bench->GemmPath(o.iters));

  std::printf("forward_samples_per_s=%.2f\n", o.batch / Mean(forward));
  std::printf("train_samples_per_s=%.2f\n", o.batch / Mean(phases.total));
  std::printf("forward_cpu_s_per_batch=%.3f\n", forward_cpu / o.iters);
  std::printf("train_cpu_s_per_batch=%.3f\n", train_cpu / o.iters);
  std::printf("peak_rss_mb=%.1f\n", rss_mb);
  return absl::OkStatus();
}

}  // namespace

int RunBenchCommand(const std::vector<std::string>& args) {
  CommandFlags flags(
      "bench",
      "[--arch A] [--steps T] [--batch B] [--input-density D] [--threads N] "
      "[--device cpu|cuda] [--iters K] [--warmup W] [--settle S] [--ts_ms Ts]",
      "Forward (eval) and training-step throughput of a network on seeded synthetic\n"
      "Poisson input with random labels (num_spikes loss, Adam). Ends with the lines\n"
      "forward_samples_per_s=, train_samples_per_s=, forward_cpu_s_per_batch=,\n"
      "train_cpu_s_per_batch= and peak_rss_mb=.");
  BenchOptions o;
  std::string device_name = "cpu";
  flags.String("arch", &o.arch, "network in the paper's shorthand");
  flags.Int("steps", &o.steps, "time steps T per sample");
  flags.Int("batch", &o.batch, "samples per batch");
  flags.Double("input-density", &o.density, "probability of an input spike per step, in [0, 1]");
  flags.Int("threads", &o.threads, "worker threads (0: $SLAYER_THREADS, else all cores)");
  flags.String("device", &device_name, "cpu or cuda");
  flags.Int("iters", &o.iters, "timed iterations of each measurement");
  flags.Int("warmup", &o.warmup, "untimed iterations before each measurement");
  flags.Int("settle", &o.settle,
            "untimed training steps before any measurement (the initial weights leave the "
            "hidden layers nearly silent)");
  flags.Double("ts_ms", &o.ts_ms, "sampling time Ts in ms (a sample lasts T*Ts ms)");
  flags.Int("seed", &o.seed, "seed of the parameters, the input and the labels");
  flags.Bool("breakdown", &o.breakdown, "per-layer and dense-op timings (host only)");
  flags.Bool("gemm", &o.gemm, "also time the dense op on fully dense input (its GEMM path)");
  flags.Bool("input-events", &o.input_events,
             "hand the input's nonzeros to a first dense layer with the batch, recorded "
             "once as the trainer does while loading (false: it scans the input every step)");
  int exit_code;
  if (!flags.Parse(args, &exit_code)) return exit_code;
  if (!flags.positional().empty()) {
    return flags.Fail("unexpected argument '" + flags.positional()[0] + "'");
  }
  if (o.arch.empty()) return flags.Fail("--arch must not be empty");
  if (o.steps <= 0) return flags.Fail(absl::StrCat("--steps must be positive, got ", o.steps));
  if (o.batch <= 0) return flags.Fail(absl::StrCat("--batch must be positive, got ", o.batch));
  if (!(o.density >= 0.0 && o.density <= 1.0)) {
    return flags.Fail(absl::StrCat("--input-density must be in [0, 1], got ", o.density));
  }
  if (o.threads < 0 || o.threads > 4096) {
    return flags.Fail(absl::StrCat("--threads must be in [0, 4096] (0: default), got ", o.threads));
  }
  if (o.iters <= 0) return flags.Fail(absl::StrCat("--iters must be positive, got ", o.iters));
  if (o.warmup < 0) return flags.Fail(absl::StrCat("--warmup must be >= 0, got ", o.warmup));
  if (o.settle < 0) return flags.Fail(absl::StrCat("--settle must be >= 0, got ", o.settle));
  if (!(o.ts_ms > 0.0)) return flags.Fail(absl::StrCat("--ts_ms must be positive, got ", o.ts_ms));
  if (absl::StatusOr<config::NetworkSpec> spec = BuildSpec(o); !spec.ok()) {
    return flags.Fail(absl::StrCat("--arch '", o.arch, "': ", spec.status().message()));
  }
  if (device_name == "cpu") {
    o.device = Device::kCpu;
  } else if (device_name == "cuda") {
    o.device = Device::kCuda;
  } else {
    return flags.Fail("--device must be cpu or cuda, got '" + device_name + "'");
  }
  const absl::Status status = RunBench(o);
  if (!status.ok()) {
    std::fprintf(stderr, "slayer bench: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace tools
}  // namespace slayer
