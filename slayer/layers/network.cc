#include "slayer/layers/network.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "slayer/core/check.h"
#include "slayer/core/status.h"
#include "slayer/core/thread_pool.h"
#include "slayer/ops/conv.h"
#include "slayer/ops/delay.h"
#include "slayer/ops/dense.h"
#include "slayer/ops/dropout.h"
#include "slayer/ops/pool.h"
#include "slayer/ops/psp.h"
#include "slayer/ops/spike.h"

namespace slayer {
namespace layers {
namespace {

Shape BatchShape(int64_t n, const Shape& chw, int64_t steps) {
  return {n, chw[0], chw[1], chw[2], steps};
}

// psp + spike after a synaptic op: z -> u = psp(z) -> s = spike(u).
class SpikingStage {
 public:
  SpikingStage(const Network* net, bool spiking) : net_(net), spiking_(spiking) {}

  absl::Status Forward(const Tensor& z, Tensor* out) {
    u_panels_ = Tensor();  // u_ holds the potentials
    u_rows_current_ = true;
    const ops::SrmParams& srm = Srm();
    const ops::PspFn psp_host = &ops::cpu::PspForward;
    const ops::SpikeForwardFn spike_host = &ops::cpu::SpikeForward;
    if (spiking_ && z.is_cpu() && ops::PspForwardDispatch().Lookup(Device::kCpu) == psp_host &&
        ops::SpikeForwardDispatch().Lookup(Device::kCpu) == spike_host) {  // one pass
      return ops::cpu::PspSpikeForward(z, net_->kernels().eps, net_->kernels().nu, srm.theta,
                                       net_->ts(), &u_, out);
    }
    SLAYER_RETURN_IF_ERROR(ops::PspForward(z, net_->kernels().eps, net_->ts(), &u_));
    if (!spiking_) {
      *out = u_;
      return absl::OkStatus();
    }
    return ops::SpikeForward(&u_, net_->kernels().nu, srm.theta, net_->ts(), out);
  }

  // Whether DenseForward below may run: x on the host, where the dense, psp
  // and spike ops are the host implementations (no other registered).
  static bool CanFuseDense(const Tensor& x) {
    const ops::DenseForwardFn dense_host = &ops::cpu::DenseForward;
    const ops::PspFn psp_host = &ops::cpu::PspForward;
    const ops::SpikeForwardFn spike_host = &ops::cpu::SpikeForward;
    return x.is_cpu() && ops::DenseForwardDispatch().Lookup(Device::kCpu) == dense_host &&
           ops::PspForwardDispatch().Lookup(Device::kCpu) == psp_host &&
           ops::SpikeForwardDispatch().Lookup(Device::kCpu) == spike_host;
  }

  // The dense op and this stage in one pass (ops::cpu::DenseSpikingForward);
  // z, W x, is only materialised (in `scratch`) when the op falls back.
  // With out_events, the events of the spikes are handed over there.
  absl::Status DenseForward(const Tensor& x, const Tensor& w, ops::DenseEvents* events,
                            Tensor* scratch, Tensor* out, ops::DenseEvents* out_events) {
    const ops::DenseNeuron neuron = Neuron();
    if (!spiking_) {
      u_panels_ = Tensor();
      u_rows_current_ = true;
      if (out_events != nullptr) out_events->DropHandOver();
      SLAYER_RETURN_IF_ERROR(
          ops::cpu::DenseSpikingForward(x, w, neuron, &u_, nullptr, events, scratch));
      *out = u_;
      return absl::OkStatus();
    }
    // The one pass may leave u in u_panels_ (time-major panels, streamed
    // out), which DenseBackward reads as they are; u_ is then rebuilt only
    // when asked for (potential()).
    // The spikes go to the next dense layer as events; `out` is only written
    // when some reader asks for it (Layer::output).
    SLAYER_RETURN_IF_ERROR(ops::cpu::DenseSpikingForward(x, w, neuron, &u_, out, events, scratch,
                                                         out_events, &u_panels_,
                                                         /*s_on_demand=*/out_events != nullptr));
    panel_outputs_ = w.dim(0);
    u_rows_current_ = u_panels_.empty();
    return absl::OkStatus();
  }

  // Whether DenseBackward below may run: a spiking stage on the host after
  // DenseForward, where the dense, psp and spike backward ops are the host
  // implementations.
  bool CanFuseDenseBackward(const Tensor& x) const {
    const ops::DenseBackwardFn dense_host = &ops::cpu::DenseBackward;
    const ops::PspFn psp_host = &ops::cpu::PspBackward;
    const ops::SpikeBackwardFn spike_host = &ops::cpu::SpikeBackward;
    return spiking_ && x.is_cpu() && u_.is_cpu() &&
           ops::DenseBackwardDispatch().Lookup(Device::kCpu) == dense_host &&
           ops::PspBackwardDispatch().Lookup(Device::kCpu) == psp_host &&
           ops::SpikeBackwardDispatch().Lookup(Device::kCpu) == spike_host;
  }

  // This stage's backward and the dense op's in one pass where it can
  // (ops::cpu::DenseSpikingBackward): grad_z is scratch, stored only for
  // grad_x's GEMM.
  absl::Status DenseBackward(const Tensor& x, const Tensor& w, const Tensor& grad_s,
                             ops::DenseEvents* events, Tensor* grad_z, Tensor* grad_x,
                             Tensor* grad_w, const ops::DenseGradFactor* grad_s_factor = nullptr,
                             bool keep_grad_z = false, bool grad_x_panels = false) {
    return ops::cpu::DenseSpikingBackward(x, w, Neuron(), Surrogate(), u_, grad_s, grad_z, grad_x,
                                          grad_w, events, &u_panels_, grad_s_factor,
                                          keep_grad_z, grad_x_panels);
  }

  // Whether the last forward left u as panels (the dense one pass).
  bool HasUPanels() const { return !u_panels_.empty(); }

  // grad_s -> grad_z.
  absl::Status Backward(const Tensor& grad_s, Tensor* grad_z) {
    SLAYER_RETURN_IF_ERROR(RowsOfU());
    const Tensor* g = &grad_s;
    if (spiking_) {
      const ops::SurrogateParams sp = Surrogate();
      const ops::SpikeBackwardFn spike_host = &ops::cpu::SpikeBackward;
      const ops::PspFn psp_host = &ops::cpu::PspBackward;
      if (u_.is_cpu() && ops::SpikeBackwardDispatch().Lookup(Device::kCpu) == spike_host &&
          ops::PspBackwardDispatch().Lookup(Device::kCpu) == psp_host) {  // one pass
        return ops::cpu::SurrogatePspBackward(grad_s, u_, sp, net_->kernels().eps, net_->ts(),
                                              grad_z);
      }
      SLAYER_RETURN_IF_ERROR(ops::SpikeBackward(grad_s, u_, sp, &grad_u_));
      g = &grad_u_;
    }
    return ops::PspBackward(*g, net_->kernels().eps, net_->ts(), grad_z);
  }

  const Tensor* potential() const {
    if (!spiking_) return nullptr;
    const absl::Status s = const_cast<SpikingStage*>(this)->RowsOfU();
    SLAYER_CHECK(s.ok()) << s;  // the panels' own shape: cannot fail
    return &u_;
  }

 private:
  // u_ from u_panels_ when the last forward left u there (once).
  absl::Status RowsOfU() {
    if (u_rows_current_) return absl::OkStatus();
    SLAYER_RETURN_IF_ERROR(ops::cpu::DensePanelsToRows(u_panels_, panel_outputs_, &u_));
    u_rows_current_ = true;
    return absl::OkStatus();
  }
  ops::DenseNeuron Neuron() const {
    ops::DenseNeuron neuron;
    neuron.eps = net_->kernels().eps;
    neuron.nu = net_->kernels().nu;
    neuron.theta = Srm().theta;
    neuron.ts = net_->ts();
    return neuron;
  }
  ops::SurrogateParams Surrogate() const {
    const ops::SrmParams srm = Srm();
    ops::SurrogateParams sp;
    sp.theta = srm.theta;
    sp.tau_rho = srm.tau_rho;
    sp.scale_rho = srm.scale_rho;
    return sp;
  }
  ops::SrmParams Srm() const {
    const proto::SrmNeuron& n = net_->spec().srm;
    ops::SrmParams p;
    p.theta = n.theta();
    p.tau_rho = n.tau_rho();
    p.scale_rho = n.scale_rho();
    return p;
  }
  const Network* net_;
  bool spiking_;
  Tensor u_;
  Tensor u_panels_;             // u time-major per panel, from the dense one pass
  int64_t panel_outputs_ = 0;   // outputs of u_panels_
  bool u_rows_current_ = true;  // u_ holds the last forward's potentials
  Tensor grad_u_;
};

// Dense layers of at most this many outputs hand their input gradient to a
// dense layer before them as factors (Network::Backward).
constexpr int64_t kFactorMaxOutputs = 32;

void InitUniform(Tensor* t, float bound, Rng& rng) {
  for (float& v : t->span()) v = rng.Uniform(-bound, bound);
}

class DenseLayer : public Layer {
 public:
  DenseLayer(const Network* net, const config::LayerSpec& ls, Rng& rng)
      : Layer(ls.layer.name()), stage_(net, ls.spiking) {
    const int64_t in = NumElements(ls.in_shape);
    const int64_t out = ls.layer.dense().units();
    weight_.name = name_ + "/weight";
    weight_.value = Tensor::Zeros({out, in});
    InitUniform(&weight_.value, ls.layer.dense().weight_scale() / std::sqrt(float(in)), rng);
    weight_.grad = Tensor::Zeros({out, in});
  }
  absl::Status Forward(const Tensor& in, bool) override {
    input_ = in;
    if (SpikingStage::CanFuseDense(in)) {
      return stage_.DenseForward(in, weight_.value, &events_, &z_, &output_, output_events_);
    }
    if (output_events_ != nullptr) output_events_->DropHandOver();
    events_.WriteSource(in);  // spikes the layer before left to events_: the op may read them
    SLAYER_RETURN_IF_ERROR(ops::DenseForward(in, weight_.value, &z_, &events_));
    return stage_.Forward(z_, &output_);
  }
  ops::DenseEvents* input_events() override { return &events_; }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    const bool panels = std::exchange(panel_grad_in_, false);
    if (stage_.CanFuseDenseBackward(input_)) {
      return stage_.DenseBackward(input_, weight_.value, grad_out, &events_, &grad_z_, grad_in,
                                  &weight_.grad, nullptr, false, panels);
    }
    events_.WriteSource(input_);  // an op not on the host's events may read input_
    SLAYER_RETURN_IF_ERROR(stage_.Backward(grad_out, &grad_z_));
    return ops::DenseBackward(input_, weight_.value, grad_z_, grad_in, &weight_.grad, &events_);
  }
  const Tensor* potential() const override { return stage_.potential(); }
  std::vector<Param*> params() override { return {&weight_}; }

  // The input gradient left as its factors (Network::Backward, for a narrow
  // layer): Backward without grad_in, keeping grad_z; then grad_factor().
  int64_t outputs() const { return weight_.value.dim(0); }
  absl::Status BackwardKeepingGradZ(const Tensor& grad_out) {
    if (stage_.CanFuseDenseBackward(input_)) {
      return stage_.DenseBackward(input_, weight_.value, grad_out, &events_, &grad_z_, nullptr,
                                  &weight_.grad, nullptr, /*keep_grad_z=*/true);
    }
    events_.WriteSource(input_);
    SLAYER_RETURN_IF_ERROR(stage_.Backward(grad_out, &grad_z_));
    return ops::DenseBackward(input_, weight_.value, grad_z_, nullptr, &weight_.grad, &events_);
  }
  ops::DenseGradFactor grad_factor() const { return {&weight_.value, &grad_z_}; }
  // Whether Backward can take its grad_out as factors in its one pass (the
  // forward left u as panels, so that pass will run).
  bool TakesGradFactor() const {
    return stage_.CanFuseDenseBackward(input_) && stage_.HasUPanels();
  }
  absl::Status BackwardFromFactor(const ops::DenseGradFactor& grad_out, Tensor* grad_in) {
    return stage_.DenseBackward(input_, weight_.value, Tensor(), &events_, &grad_z_, grad_in,
                                &weight_.grad, &grad_out, false,
                                std::exchange(panel_grad_in_, false));
  }
  // Whether Backward and BackwardKeepingGradZ had better be handed grad_out
  // as panels, [N, P, T, 32] (ops::cpu::DenseSpikingBackward): its one pass
  // reads them as they are (the forward left u as panels), and the layer
  // after writes them straight out of its GEMM.
  bool TakesPanelGrad() const {
    return stage_.CanFuseDenseBackward(input_) && stage_.HasUPanels() &&
           ops::cpu::DenseGradPanelsDirect();
  }
  // Asks the next Backward or BackwardFromFactor (only) for grad_in as
  // panels, [N, P, T, 32], where its one op runs (else it comes as rows,
  // [N, I, 1, 1, T]): Network::Backward, for a layer before that
  // TakesPanelGrad.
  void AskPanelGradIn() { panel_grad_in_ = true; }

 private:
  SpikingStage stage_;
  Param weight_;
  Tensor input_, z_, grad_z_;
  ops::DenseEvents events_;  // input_'s nonzeros, from Forward for Backward
  bool panel_grad_in_ = false;
};

class ConvLayer : public Layer {
 public:
  ConvLayer(const Network* net, const config::LayerSpec& ls, Rng& rng)
      : Layer(ls.layer.name()), stage_(net, ls.spiking) {
    const proto::ConvLayer& c = ls.layer.conv();
    p_.stride_h = p_.stride_w = c.stride();
    p_.pad_h = p_.pad_w = c.padding();
    p_.dilation_h = p_.dilation_w = c.dilation();
    p_.groups = c.groups();
    const int64_t in_c = ls.in_shape[0] / c.groups();
    weight_.name = name_ + "/weight";
    weight_.value = Tensor::Zeros({c.filters(), in_c, c.kernel_h(), c.kernel_w()});
    const float fan_in = float(in_c * c.kernel_h() * c.kernel_w());
    InitUniform(&weight_.value, c.weight_scale() / std::sqrt(fan_in), rng);
    weight_.grad = Tensor::Zeros(weight_.value.shape());
  }
  absl::Status Forward(const Tensor& in, bool) override {
    input_ = in;
    SLAYER_RETURN_IF_ERROR(ops::Conv2dForward(in, weight_.value, p_, &z_));
    return stage_.Forward(z_, &output_);
  }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    SLAYER_RETURN_IF_ERROR(stage_.Backward(grad_out, &grad_z_));
    return ops::Conv2dBackward(input_, weight_.value, p_, grad_z_, grad_in, &weight_.grad);
  }
  const Tensor* potential() const override { return stage_.potential(); }
  std::vector<Param*> params() override { return {&weight_}; }

 private:
  SpikingStage stage_;
  ops::Conv2dParams p_;
  Param weight_;
  Tensor input_, z_, grad_z_;
};

class PoolLayer : public Layer {
 public:
  PoolLayer(const Network* net, const config::LayerSpec& ls)
      : Layer(ls.layer.name()), stage_(net, ls.spiking) {
    const proto::PoolLayer& p = ls.layer.pool();
    p_.kernel = p.kernel();
    p_.stride = p.stride();
    p_.pad = p.padding();
    p_.weight = p.weight();
  }
  absl::Status Forward(const Tensor& in, bool) override {
    in_shape_ = in.shape();
    SLAYER_RETURN_IF_ERROR(ops::PoolForward(in, p_, &z_));
    return stage_.Forward(z_, &output_);
  }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    SLAYER_RETURN_IF_ERROR(stage_.Backward(grad_out, &grad_z_));
    if (grad_in == nullptr) return absl::OkStatus();
    return ops::PoolBackward(in_shape_, p_, grad_z_, grad_in);
  }
  const Tensor* potential() const override { return stage_.potential(); }

 private:
  SpikingStage stage_;
  ops::PoolParams p_;
  Shape in_shape_;
  Tensor z_, grad_z_;
};

class DropoutLayer : public Layer {
 public:
  DropoutLayer(const config::LayerSpec& ls, uint64_t seed)
      : Layer(ls.layer.name()), p_(ls.layer.dropout().p()), seed_(seed) {}
  void set_step(uint64_t step) { step_ = step; }
  absl::Status Forward(const Tensor& in, bool training) override {
    active_ = training && p_ > 0;
    if (!active_) {
      output_ = in;
      return absl::OkStatus();
    }
    // The output must be the layer's own: after an inactive step it was the
    // input itself (with Ts = 1 possibly the caller's tensor).
    if (output_.SharesStorageWith(in)) output_ = Tensor();
    Rng rng = Rng(seed_).Stream(step_);
    Tensor host_mask;
    SLAYER_RETURN_IF_ERROR(ops::MakeDropoutMask(in.shape(), p_, rng, &host_mask));
    SLAYER_ASSIGN_OR_RETURN(mask_, host_mask.To(in.device()));
    return ops::DropoutForward(in, mask_, &output_);
  }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    if (grad_in == nullptr) return absl::OkStatus();
    if (!active_) {
      SLAYER_RETURN_IF_ERROR(EnsureShape(grad_in, grad_out.shape(), grad_out.device()));
      return grad_in->CopyFrom(grad_out);
    }
    return ops::DropoutBackward(grad_out, mask_, grad_in);
  }

 private:
  float p_;
  uint64_t seed_;
  uint64_t step_ = 0;
  bool active_ = false;
  Tensor mask_;
};

class DelayLayer : public Layer {
 public:
  DelayLayer(const Network* net, const config::LayerSpec& ls, Rng& rng)
      : Layer(ls.layer.name()), net_(net) {
    const proto::DelayLayer& d = ls.layer.delay();
    delay_.name = name_ + "/delay";
    delay_.is_delay = true;
    delay_.max_delay_ms = d.max_delay_ms();
    Shape shape = d.per_channel() ? Shape{ls.in_shape[0]} : ls.in_shape;
    delay_.value = Tensor::Full(shape, d.init_ms());
    if (d.init_max_ms() > 0) {
      for (float& v : delay_.value.span()) v = rng.Uniform(0.0f, d.init_max_ms());
    }
    delay_.grad = Tensor::Zeros(shape);
  }
  absl::Status Forward(const Tensor& in, bool) override {
    input_ = in;
    return ops::DelayForward(in, delay_.value, net_->ts(), &output_);
  }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    return ops::DelayBackward(input_, delay_.value, net_->ts(), grad_out, grad_in,
                              &delay_.grad);
  }
  std::vector<Param*> params() override { return {&delay_}; }

 private:
  const Network* net_;
  Param delay_;
  Tensor input_;
};

class ShiftLayer : public Layer {
 public:
  ShiftLayer(const Network* net, const config::LayerSpec& ls)
      : Layer(ls.layer.name()), net_(net), shift_ms_(ls.layer.delay_shift().shift_ms()) {}
  absl::Status Forward(const Tensor& in, bool) override {
    return ops::ShiftForward(in, shift_ms_, net_->ts(), &output_);
  }
  absl::Status Backward(const Tensor& grad_out, Tensor* grad_in) override {
    if (grad_in == nullptr) return absl::OkStatus();
    return ops::ShiftBackward(grad_out, shift_ms_, net_->ts(), grad_in);
  }

 private:
  const Network* net_;
  float shift_ms_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Network>> Network::Create(const config::NetworkSpec& spec,
                                                         uint64_t seed) {
  ops::SrmParams srm;
  srm.theta = spec.srm.theta();
  srm.tau_sr_ms = spec.srm.tau_sr_ms();
  srm.tau_ref_ms = spec.srm.tau_ref_ms();
  srm.scale_ref = spec.srm.scale_ref();
  srm.tau_rho = spec.srm.tau_rho();
  srm.scale_rho = spec.srm.scale_rho();
  srm.epsilon_sr = spec.srm.epsilon_sr();
  srm.epsilon_ref = spec.srm.epsilon_ref();
  ops::SrmKernels kernels =
      ops::MakeSrmKernels(srm, static_cast<float>(spec.ts_ms), spec.steps);
  std::unique_ptr<Network> net(new Network(spec, std::move(kernels)));
  net->seed_ = seed;
  Rng init(seed, /*stream=*/0);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const config::LayerSpec& ls = spec.layers[i];
    std::unique_ptr<Layer> layer;
    switch (ls.layer.kind_case()) {
      case proto::Layer::kDense:
        layer = std::make_unique<DenseLayer>(net.get(), ls, init);
        break;
      case proto::Layer::kConv:
        layer = std::make_unique<ConvLayer>(net.get(), ls, init);
        break;
      case proto::Layer::kPool:
        layer = std::make_unique<PoolLayer>(net.get(), ls);
        break;
      case proto::Layer::kDropout:
        layer = std::make_unique<DropoutLayer>(ls, SplitMix64(seed + 1000 + i));
        break;
      case proto::Layer::kDelay:
        layer = std::make_unique<DelayLayer>(net.get(), ls, init);
        break;
      case proto::Layer::kDelayShift:
        layer = std::make_unique<ShiftLayer>(net.get(), ls);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("layer[", i, "] '", ls.layer.name(), "': unknown kind"));
    }
    net->layers_.push_back(std::move(layer));
  }
  // A dense layer's events of its input come from the layer before when that
  // one can hand them over (a dense layer's one pass).
  for (size_t i = 0; i + 1 < net->layers_.size(); ++i) {
    net->layers_[i]->set_output_events(net->layers_[i + 1]->input_events());
  }
  net->grads_.resize(net->layers_.size());
  return net;
}

absl::Status Network::Forward(const Tensor& input, bool training, uint64_t step) {
  return Forward(input, training, step, {});
}

bool Network::TakesInputEvents() const {
  return device_ == Device::kCpu && !layers_.empty() &&
         layers_.front()->input_events() != nullptr;
}

absl::Status Network::Forward(const Tensor& input, bool training, uint64_t step,
                              absl::Span<const ops::SampleEvents> input_events) {
  const Shape want = BatchShape(input.rank() > 0 ? input.dim(0) : 0, spec_.input_shape, steps());
  if (input.rank() != 5 || input.shape() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "network input: expected [N, C, H, W, T] = [N,", spec_.input_shape[0], ",",
        spec_.input_shape[1], ",", spec_.input_shape[2], ",", steps(), "], got ",
        ShapeString(input.shape())));
  }
  // Data arrive as 0/1 spikes; inside the network a spike has amplitude
  // 1/Ts so that it integrates to 1 whatever the sampling time.
  if (!input.is_cpu()) {
    return absl::InvalidArgumentError(
        "network input must be a host tensor (it is scaled and copied to the device)");
  }
  Tensor* host = device_ == Device::kCpu ? &scaled_input_ : &host_scaled_input_;
  const float inv_ts = 1.0f / ts();
  if (inv_ts == 1.0f && device_ == Device::kCpu) {
    scaled_input_ = input;  // Ts = 1: the input as it is (shared, not copied)
  } else {
    if (host->SharesStorageWith(input)) *host = Tensor();
    SLAYER_RETURN_IF_ERROR(EnsureShape(host, input.shape(), Device::kCpu));
    const float* src = input.data();
    float* dst = host->data();
    ThreadPool::Default().ParallelFor(input.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = src[i] * inv_ts;
    });
  }
  if (device_ != Device::kCpu) {
    SLAYER_RETURN_IF_ERROR(EnsureShape(&scaled_input_, input.shape(), device_));
    SLAYER_RETURN_IF_ERROR(scaled_input_.CopyFrom(*host));
  }
  if (!input_events.empty() && TakesInputEvents()) {
    absl::Span<const ops::SampleEvents> events = input_events;
    if (inv_ts != 1.0f) {  // the events of the scaled input
      scaled_events_.resize(input_events.size());
      for (size_t n = 0; n < input_events.size(); ++n) {
        scaled_events_[n] = input_events[n];
        scaled_events_[n].ScaleValues(inv_ts);
      }
      events = scaled_events_;
    }
    absl::Status s = layers_.front()->input_events()->HandOver(scaled_input_, events);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("input events: ", s.message()));
  }
  const Tensor* x = &scaled_input_;
  for (auto& layer : layers_) {
    if (auto* dropout = dynamic_cast<DropoutLayer*>(layer.get())) dropout->set_step(step);
    SLAYER_RETURN_IF_ERROR(layer->Forward(*x, training));
    x = &layer->output_;  // as it is: spikes held as the next layer's events stay so
  }
  return absl::OkStatus();
}

absl::Status Network::Backward(const Tensor& grad_output) {
  if (grad_output.shape() != output().shape()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Backward: gradient shape ", ShapeString(grad_output.shape()),
                     " differs from the output's ", ShapeString(output().shape())));
  }
  const auto named = [this](int i, const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("layer '", layers_[i]->name(), "': ", s.message()));
  };
  // A dense layer hands its input gradient to a dense layer before it as
  // panels when that one reads them so (neither transposes it).
  const auto ask_panels = [this](int i) {
    auto* producer = dynamic_cast<DenseLayer*>(layers_[i].get());
    if (producer == nullptr) return;
    auto* consumer = i > 0 ? dynamic_cast<DenseLayer*>(layers_[i - 1].get()) : nullptr;
    if (consumer != nullptr && consumer->TakesPanelGrad()) producer->AskPanelGradIn();
  };
  const Tensor* g = &grad_output;
  for (int i = static_cast<int>(layers_.size()) - 1; i >= 0; --i) {
    // A narrow dense layer (a classifier's outputs) after a dense layer
    // that can take it: its input gradient stays as W^T grad_z, and the
    // layer before computes the panels it needs from that (the [N, I, T]
    // tensor is never stored).
    auto* narrow = dynamic_cast<DenseLayer*>(layers_[i].get());
    auto* before = i > 0 ? dynamic_cast<DenseLayer*>(layers_[i - 1].get()) : nullptr;
    if (narrow != nullptr && before != nullptr && narrow->outputs() <= kFactorMaxOutputs &&
        before->TakesGradFactor()) {
      absl::Status s = narrow->BackwardKeepingGradZ(*g);
      if (!s.ok()) return named(i, s);
      Tensor* grad_in = i > 1 ? &grads_[i - 1] : nullptr;
      ask_panels(i - 1);
      s = before->BackwardFromFactor(narrow->grad_factor(), grad_in);
      if (!s.ok()) return named(i - 1, s);
      g = grad_in;
      --i;
      continue;
    }
    Tensor* grad_in = i > 0 ? &grads_[i] : nullptr;
    ask_panels(i);
    absl::Status s = layers_[i]->Backward(*g, grad_in);
    if (!s.ok()) return named(i, s);
    g = grad_in;
  }
  return absl::OkStatus();
}

std::vector<Param*> Network::params() {
  std::vector<Param*> out;
  for (auto& layer : layers_) {
    for (Param* p : layer->params()) out.push_back(p);
  }
  return out;
}

Param* Network::FindParam(const std::string& name) {
  for (Param* p : params()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

absl::StatusOr<NpzMap> Network::ExportParams() const {
  NpzMap out;
  for (const auto& layer : layers_) {
    for (Param* p : layer->params()) {
      SLAYER_ASSIGN_OR_RETURN(Tensor host, p->value.To(Device::kCpu));
      out[p->name] = NpyArray::FromTensor(host);
    }
  }
  return out;
}

absl::Status Network::ImportParams(const NpzMap& arrays, const std::string& source,
                                   bool strict) {
  std::vector<Param*> ps = params();
  for (Param* p : ps) {
    auto it = arrays.find(p->name);
    if (it == arrays.end()) {
      return absl::NotFoundError(absl::StrCat(source, ": missing key '", p->name, "' (shape ",
                                              ShapeString(p->value.shape()), ")"));
    }
    absl::StatusOr<Tensor> t = it->second.ToTensor();
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key '", p->name, "': ", t.status().message()));
    }
    if (t->shape() != p->value.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": key '", p->name, "': expected shape ", ShapeString(p->value.shape()),
          ", got ", ShapeString(t->shape())));
    }
    for (int64_t i = 0; i < t->numel(); ++i) {
      if (!std::isfinite(t->data()[i])) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": key '", p->name,
                                                       "': non-finite value at flat index ", i));
      }
    }
    SLAYER_RETURN_IF_ERROR(p->value.CopyFrom(*t));
  }
  if (strict) {
    for (const auto& [key, value] : arrays) {
      bool known = false;
      for (Param* p : ps) known |= p->name == key;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": unexpected key '", key, "' (the network has no such parameter)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Network::To(Device device) {
  for (Param* p : params()) {
    SLAYER_ASSIGN_OR_RETURN(p->value, p->value.To(device));
    SLAYER_ASSIGN_OR_RETURN(p->grad, p->grad.To(device));
  }
  device_ = device;
  return absl::OkStatus();
}

}  // namespace layers
}  // namespace slayer
